//! Size bounds on capabilities, attenuation steps and requests, defined once and checked before any format work.
//!
//! Every provider and the reference authorizer refuse a capability or a step
//! beyond these bounds at issue or attenuation ([`crate::ModelError::TooLarge`]),
//! and deny a request beyond them ([`crate::DenyReason::RequestTooLarge`])
//! before parsing or authenticating a token, so that the cost of a verification
//! is bounded by these numbers and not by what a caller sends.
//!
//! | bound | value |
//! | --- | --- |
//! | grants per capability | [`MAX_GRANTS`] |
//! | constrained arguments per grant | [`MAX_ARGS_PER_GRANT`] |
//! | constraints added by one step, tools kept by one step | [`MAX_STEP_ITEMS`] |
//! | members of a `OneOf` set | [`MAX_SET_LEN`] |
//! | bytes of a name (principal, server, tool, argument) | [`MAX_NAME_LEN`] |
//! | bytes of a string value, prefix or path directory in a capability | [`MAX_VALUE_LEN`] |
//! | arguments of a request | [`MAX_REQUEST_ARGS`] |
//! | bytes of a string argument value in a request | [`MAX_REQUEST_VALUE_LEN`] |
//! | bytes of a request in all (names and values, server, tool, subject) | [`MAX_REQUEST_LEN`] |
//! | bytes of a capability in all (every name, string value, prefix and directory) | [`MAX_CAPABILITY_LEN`] |
//! | bytes of one step in all | [`MAX_STEP_LEN`] |

use crate::attenuation::Attenuation;
use crate::capability::{Capability, Grant, Subject};
use crate::constraint::{Constraint, Value};
use crate::error::ModelError;
use crate::provider::DenyReason;
use crate::request::Request;

/// Grants per capability.
pub const MAX_GRANTS: usize = 64;
/// Constrained arguments per grant.
pub const MAX_ARGS_PER_GRANT: usize = 32;
/// Constraints one attenuation step adds, and tools it keeps.
pub const MAX_STEP_ITEMS: usize = 64;
/// Members of a `OneOf` set.
pub const MAX_SET_LEN: usize = 64;
/// Bytes of a principal, server, tool or argument name.
pub const MAX_NAME_LEN: usize = 128;
/// Bytes of a string value, prefix or path directory inside a capability or step.
pub const MAX_VALUE_LEN: usize = 1024;
/// Bytes of a capability in all: every name, string value, prefix and
/// directory, so that the per-item bounds cannot multiply into megabytes.
pub const MAX_CAPABILITY_LEN: usize = 64 * 1024;
/// Bytes of one attenuation step in all.
pub const MAX_STEP_LEN: usize = 16 * 1024;
/// Arguments of one request.
pub const MAX_REQUEST_ARGS: usize = 64;
/// Bytes of one string argument value of a request.
pub const MAX_REQUEST_VALUE_LEN: usize = 4096;
/// Bytes of a whole request: subject, server, tool, every argument name and string value.
pub const MAX_REQUEST_LEN: usize = 16 * 1024;

fn name(n: &str, what: &'static str) -> Result<(), ModelError> {
    if n.len() > MAX_NAME_LEN {
        return Err(ModelError::TooLarge(what));
    }
    Ok(())
}

fn value(v: &Value) -> Result<usize, ModelError> {
    match v {
        Value::Str(s) if s.len() > MAX_VALUE_LEN => Err(ModelError::TooLarge("string value")),
        Value::Str(s) => Ok(s.len()),
        Value::Int(_) | Value::Bool(_) => Ok(8),
    }
}

/// Checks one constraint; returns the bytes it holds.
fn constraint(c: &Constraint) -> Result<usize, ModelError> {
    match c {
        Constraint::Any | Constraint::Range { .. } => Ok(16),
        Constraint::Exact(v) => value(v),
        Constraint::Prefix(s) | Constraint::Path(s) => {
            if s.len() > MAX_VALUE_LEN {
                Err(ModelError::TooLarge("prefix or path directory"))
            } else {
                Ok(s.len())
            }
        }
        Constraint::OneOf(set) => {
            if set.len() > MAX_SET_LEN {
                return Err(ModelError::TooLarge("OneOf set"));
            }
            set.iter()
                .try_fold(0usize, |n, v| Ok(n.saturating_add(value(v)?)))
        }
    }
}

fn subject(s: &Subject) -> Result<(), ModelError> {
    name(&s.principal, "principal")
}

/// Checks one grant; returns the bytes it holds.
fn grant(g: &Grant) -> Result<usize, ModelError> {
    name(&g.server, "server name")?;
    name(&g.tool, "tool name")?;
    if g.args.len() > MAX_ARGS_PER_GRANT {
        return Err(ModelError::TooLarge("arguments per grant"));
    }
    g.args
        .iter()
        .try_fold(g.server.len() + g.tool.len(), |n, (a, c)| {
            name(a, "argument name")?;
            Ok(n.saturating_add(a.len()).saturating_add(constraint(c)?))
        })
}

impl Capability {
    /// Checks this capability against the size bounds of [`crate::bounds`].
    ///
    /// # Errors
    /// [`ModelError::TooLarge`] naming the first bound exceeded.
    pub fn check_bounds(&self) -> Result<(), ModelError> {
        subject(&self.subject)?;
        if self.grants.len() > MAX_GRANTS {
            return Err(ModelError::TooLarge("grants"));
        }
        let total = self
            .grants
            .iter()
            .try_fold(self.subject.principal.len(), |n, g| {
                Ok(n.saturating_add(grant(g)?))
            })?;
        if total > MAX_CAPABILITY_LEN {
            return Err(ModelError::TooLarge("capability in all"));
        }
        Ok(())
    }
}

impl Attenuation {
    /// Checks this step against the size bounds of [`crate::bounds`].
    ///
    /// # Errors
    /// [`ModelError::TooLarge`] naming the first bound exceeded.
    pub fn check_bounds(&self) -> Result<(), ModelError> {
        if let Some(keep) = &self.keep {
            if keep.len() > MAX_STEP_ITEMS {
                return Err(ModelError::TooLarge("tools kept by a step"));
            }
            keep.iter().try_for_each(|t| {
                name(&t.server, "server name")?;
                name(&t.tool, "tool name")
            })?;
        }
        if self.constraints.len() > MAX_STEP_ITEMS {
            return Err(ModelError::TooLarge("constraints added by a step"));
        }
        let total = self.constraints.iter().try_fold(0usize, |n, c| {
            name(&c.tool.server, "server name")?;
            name(&c.tool.tool, "tool name")?;
            name(&c.arg, "argument name")?;
            let len = c.tool.server.len() + c.tool.tool.len() + c.arg.len();
            Ok(n.saturating_add(len)
                .saturating_add(constraint(&c.constraint)?))
        })?;
        if total > MAX_STEP_LEN {
            return Err(ModelError::TooLarge("step in all"));
        }
        self.delegate.as_ref().map_or(Ok(()), subject)
    }
}

impl Request {
    /// Checks this request against the size bounds of [`crate::bounds`], in
    /// time linear in its size and before anything else looks at it.
    ///
    /// # Errors
    /// [`DenyReason::RequestTooLarge`] when a bound is exceeded.
    pub fn check_bounds(&self) -> Result<(), DenyReason> {
        if self.args.len() > MAX_REQUEST_ARGS
            || self.subject.len() > MAX_NAME_LEN
            || self.server.len() > MAX_NAME_LEN
            || self.tool.len() > MAX_NAME_LEN
        {
            return Err(DenyReason::RequestTooLarge);
        }
        let mut total = self.subject.len() + self.server.len() + self.tool.len();
        for (n, v) in &self.args {
            if n.len() > MAX_NAME_LEN {
                return Err(DenyReason::RequestTooLarge);
            }
            total += n.len();
            if let Value::Str(s) = v {
                if s.len() > MAX_REQUEST_VALUE_LEN {
                    return Err(DenyReason::RequestTooLarge);
                }
                total += s.len();
            }
        }
        if total > MAX_REQUEST_LEN {
            return Err(DenyReason::RequestTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Grant, KeyId};
    use crate::request::FixedClock;

    fn cap() -> Capability {
        Capability::builder(KeyId::new("k").unwrap())
            .subject("agent:a")
            .valid_from(10)
            .for_secs(10)
            .build()
            .unwrap()
    }

    #[test]
    fn capability_bounds() {
        let mut c = cap();
        for i in 0..MAX_GRANTS {
            c.grants.insert(Grant::new("s", format!("t{i}")));
        }
        assert_eq!(c.check_bounds(), Ok(()));
        c.grants.insert(Grant::new("s", "one-too-many"));
        assert_eq!(c.check_bounds(), Err(ModelError::TooLarge("grants")));
        let mut c = cap();
        c.grants
            .insert(Grant::new("s", "t").with_arg("p", Constraint::Path("/".repeat(2000))));
        assert!(c.check_bounds().is_err());
        let mut c = cap();
        let big: std::collections::BTreeSet<Value> = (0..=64).map(Value::Int).collect();
        c.grants
            .insert(Grant::new("s", "t").with_arg("n", Constraint::OneOf(big)));
        assert_eq!(c.check_bounds(), Err(ModelError::TooLarge("OneOf set")));
    }

    #[test]
    fn request_bounds() {
        let base = Request::new("agent:a", "s", "t", &FixedClock(1));
        let mut r = base.clone();
        for i in 0..MAX_REQUEST_ARGS {
            r = r.with_arg(format!("a{i}"), 1);
        }
        assert_eq!(r.check_bounds(), Ok(()));
        assert_eq!(
            r.with_arg("extra", 1).check_bounds(),
            Err(DenyReason::RequestTooLarge)
        );
        let long = "x".repeat(MAX_REQUEST_VALUE_LEN + 1);
        assert_eq!(
            base.clone().with_arg("a", long).check_bounds(),
            Err(DenyReason::RequestTooLarge)
        );
        let mut r = base.clone();
        for i in 0..5 {
            r = r.with_arg(format!("a{i}"), "x".repeat(MAX_REQUEST_VALUE_LEN));
        }
        assert_eq!(r.check_bounds(), Err(DenyReason::RequestTooLarge), "total");
        assert_eq!(
            base.with_arg("n".repeat(MAX_NAME_LEN + 1), 1)
                .check_bounds(),
            Err(DenyReason::RequestTooLarge)
        );
    }
}
