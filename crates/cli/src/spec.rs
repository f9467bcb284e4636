//! Capability and attenuation-step files (JSON or TOML) and their documented schema, read into the library's model.
//!
//! A capability file (`examples/capability.toml`, `examples/capability.json`):
//!
//! ```toml
//! subject = "agent:planner"          # the principal that may use it
//! holder = "ed25519:<64 hex>"        # optional: bind to a holder key ("key-set": the principal's key set)
//! not_before = "2026-01-01T00:00:00Z" # RFC 3339, or Unix seconds (an integer)
//! expires_at = "2026-01-01T01:00:00Z" # or `valid_for = 3600` (seconds from not_before)
//! max_depth = 4                      # delegation steps allowed below it (default 0)
//! # issuer = "k1"                    # default: the keyring's signing key
//! # issued_at = 1767225600           # default: not_before
//! # id = "00112233445566778899aabbccddeeff"  # default: 128 random bits
//!
//! [[grants]]
//! server = "fs"
//! tool = "read_file"
//! args.path = { path = "/srv/" }                    # under this directory, by whole segments
//! args.mode = { exact = "ro" }                      # exactly this value (string, integer or boolean)
//! args.limit = { range = { min = 0, max = 1000 } }  # an integer in min..=max
//! # args.name = { prefix = "report-" }  args.kind = { one_of = ["a", "b"] }  args.x = "any"
//! ```
//!
//! An attenuation step file (`examples/step.toml`): every field optional.
//!
//! ```toml
//! expires_at = "2026-01-01T00:30:00Z" # earlier end (RFC 3339 or Unix seconds)
//! not_before = 1767225600            # later start
//! max_depth = 2                      # lower remaining depth
//! keep = [{ server = "fs", tool = "read_file" }]   # keep only these tools
//! [[constrain]]                      # add or tighten an argument constraint
//! server = "fs"
//! tool = "read_file"
//! arg = "path"
//! constraint = { path = "/srv/data/" }
//! [delegate]                         # hand over to another subject
//! subject = "agent:worker"
//! holder = "ed25519:<64 hex>"        # optional; or --bind-holder <holder key file>
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use captoken::core::ToolRef;
use captoken::{
    Attenuation, Capability, Constraint, Grant, HolderKey, KeyId, Subject, TokenId, Value,
};
use serde::Deserialize;

use crate::error::{CliError, Result};
use crate::io::{parse_time, read_text};

/// A time: Unix seconds or RFC 3339 text.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum TimeSpec {
    /// Unix seconds.
    Unix(u64),
    /// RFC 3339 (or decimal Unix seconds as text).
    Text(String),
}

impl TimeSpec {
    fn resolve(&self) -> std::result::Result<u64, String> {
        match self {
            Self::Unix(t) => Ok(*t),
            Self::Text(s) => parse_time(s),
        }
    }
}

/// An argument value: string, integer or boolean.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ValueSpec {
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

impl From<ValueSpec> for Value {
    fn from(v: ValueSpec) -> Self {
        match v {
            ValueSpec::Int(i) => Self::Int(i),
            ValueSpec::Bool(b) => Self::Bool(b),
            ValueSpec::Str(s) => Self::Str(s),
        }
    }
}

/// A constraint: `"any"`, `{ exact = v }`, `{ prefix = "s" }`, `{ path = "/dir/" }`,
/// `{ one_of = [v, …] }`, `{ range = { min = i, max = j } }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ConstraintSpec {
    /// Any value, but present.
    Any,
    /// Exactly this value.
    Exact(ValueSpec),
    /// A string with this prefix.
    Prefix(String),
    /// A path under this directory.
    Path(String),
    /// One of these values.
    OneOf(Vec<ValueSpec>),
    /// An integer in `min..=max`.
    Range {
        /// Smallest.
        min: i64,
        /// Largest.
        max: i64,
    },
}

impl From<ConstraintSpec> for Constraint {
    fn from(c: ConstraintSpec) -> Self {
        match c {
            ConstraintSpec::Any => Self::Any,
            ConstraintSpec::Exact(v) => Self::Exact(v.into()),
            ConstraintSpec::Prefix(p) => Self::Prefix(p),
            ConstraintSpec::Path(p) => Self::Path(p),
            ConstraintSpec::OneOf(vs) => Self::OneOf(vs.into_iter().map(Value::from).collect()),
            ConstraintSpec::Range { min, max } => Self::Range { min, max },
        }
    }
}

/// One grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantSpec {
    /// Tool server.
    pub(crate) server: String,
    /// Tool name.
    pub(crate) tool: String,
    /// Argument constraints.
    #[serde(default)]
    pub(crate) args: BTreeMap<String, ConstraintSpec>,
}

/// A capability file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CapabilitySpec {
    /// Token id, 32 hex digits (default random).
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// Issuer key id (default: the signing key).
    #[serde(default)]
    pub(crate) issuer: Option<String>,
    /// Principal.
    pub(crate) subject: String,
    /// Holder binding: `ed25519:<hex>` or `key-set`.
    #[serde(default)]
    pub(crate) holder: Option<String>,
    /// Start of validity.
    pub(crate) not_before: TimeSpec,
    /// End of validity (exclusive).
    #[serde(default)]
    pub(crate) expires_at: Option<TimeSpec>,
    /// Lifetime in seconds, instead of `expires_at`.
    #[serde(default)]
    pub(crate) valid_for: Option<u64>,
    /// Issue time (default `not_before`).
    #[serde(default)]
    pub(crate) issued_at: Option<TimeSpec>,
    /// Remaining delegation depth.
    #[serde(default)]
    pub(crate) max_depth: u32,
    /// Grants.
    #[serde(default)]
    pub(crate) grants: Vec<GrantSpec>,
}

/// A tool to keep.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolSpec {
    /// Tool server.
    pub(crate) server: String,
    /// Tool name.
    pub(crate) tool: String,
}

/// A constraint to add.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConstrainSpec {
    /// Tool server.
    pub(crate) server: String,
    /// Tool name.
    pub(crate) tool: String,
    /// Argument.
    pub(crate) arg: String,
    /// Constraint.
    pub(crate) constraint: ConstraintSpec,
}

/// A hand-over.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelegateSpec {
    /// The new principal.
    pub(crate) subject: String,
    /// Its holder binding.
    #[serde(default)]
    pub(crate) holder: Option<String>,
}

/// An attenuation step file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepSpec {
    /// Later start.
    #[serde(default)]
    pub(crate) not_before: Option<TimeSpec>,
    /// Earlier end.
    #[serde(default)]
    pub(crate) expires_at: Option<TimeSpec>,
    /// Lower depth.
    #[serde(default)]
    pub(crate) max_depth: Option<u32>,
    /// Tools to keep.
    #[serde(default)]
    pub(crate) keep: Option<Vec<ToolSpec>>,
    /// Constraints to add.
    #[serde(default)]
    pub(crate) constrain: Vec<ConstrainSpec>,
    /// Hand-over.
    #[serde(default)]
    pub(crate) delegate: Option<DelegateSpec>,
}

/// Reads a JSON or TOML file into `T`: `.json` is JSON, `.toml` is TOML,
/// anything else (standard input) is JSON when it starts with `{`.
fn read_spec<T: for<'de> Deserialize<'de>>(what: &'static str, path: &Path) -> Result<T> {
    let text = read_text("read file", path)?;
    let schema = |detail: String| CliError::Schema {
        what,
        path: path.to_owned(),
        detail,
    };
    let json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    if json {
        serde_json::from_str(&text).map_err(|e| schema(e.to_string()))
    } else {
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text.get(..s.start).map_or(0, |t| t.matches('\n').count()) + 1);
            let msg = e.message().replace('\n', " ");
            schema(match line {
                Some(l) => format!("{} at line {l}", msg.trim_end()),
                None => msg.trim_end().to_owned(),
            })
        })
    }
}

/// A holder binding from its text.
fn binding(principal: String, holder: Option<&str>) -> std::result::Result<Subject, String> {
    Ok(match holder {
        None => Subject::new(principal),
        Some("key-set") => Subject::bound_to_key_set(principal),
        Some(key) => Subject::bound_to_key(
            principal,
            HolderKey::parse(key)
                .map_err(|_| format!("holder {key:?} is not ed25519:<64 hex digits> or key-set"))?,
        ),
    })
}

/// Reads a capability file; `issuer` is the default issuer key id, `bind`
/// overrides the holder binding with a holder key.
pub(crate) fn read_capability(
    path: &Path,
    issuer: Option<KeyId>,
    bind: Option<HolderKey>,
) -> Result<Capability> {
    let spec: CapabilitySpec = read_spec("capability file", path)?;
    let schema = |detail: String| CliError::Schema {
        what: "capability file",
        path: path.to_owned(),
        detail,
    };
    let issuer = match (&spec.issuer, issuer) {
        (Some(id), _) => KeyId::new(id.as_str()).map_err(|e| schema(format!("issuer: {e}")))?,
        (None, Some(id)) => id,
        (None, None) => {
            return Err(schema(
                "no issuer, and the keyring has no signing key".into(),
            ));
        }
    };
    let subject = match bind {
        Some(key) => Subject::bound_to_key(spec.subject, key),
        None => binding(spec.subject, spec.holder.as_deref()).map_err(schema)?,
    };
    let not_before = spec
        .not_before
        .resolve()
        .map_err(|e| schema(format!("not_before: {e}")))?;
    let mut b = Capability::builder(issuer)
        .subject(subject)
        .valid_from(not_before)
        .depth(spec.max_depth);
    b = match (spec.expires_at, spec.valid_for) {
        (Some(t), None) => b.valid_until(
            t.resolve()
                .map_err(|e| schema(format!("expires_at: {e}")))?,
        ),
        (None, Some(secs)) => b.for_secs(secs),
        _ => {
            return Err(schema(
                "exactly one of expires_at and valid_for is required".into(),
            ));
        }
    };
    if let Some(t) = spec.issued_at {
        b = b.issued_at(t.resolve().map_err(|e| schema(format!("issued_at: {e}")))?);
    }
    if let Some(id) = spec.id {
        b = b.id(TokenId::from_hex(&id).map_err(|e| schema(format!("id: {e}")))?);
    }
    if spec.grants.is_empty() {
        return Err(schema(
            "no grants: the capability would allow nothing".into(),
        ));
    }
    for g in spec.grants {
        let mut grant = Grant::new(g.server, g.tool);
        for (name, c) in g.args {
            grant = grant.with_arg(name, c.into());
        }
        b = b.grant(grant);
    }
    b.build().map_err(|e| schema(e.to_string()))
}

/// Reads a step file; `bind` binds the delegated subject to a holder key.
pub(crate) fn read_step(path: &Path, bind: Option<HolderKey>) -> Result<Attenuation> {
    let spec: StepSpec = read_spec("step file", path)?;
    let schema = |detail: String| CliError::Schema {
        what: "step file",
        path: path.to_owned(),
        detail,
    };
    let mut step = Attenuation::new();
    if let Some(t) = spec.not_before {
        step = step.not_before(
            t.resolve()
                .map_err(|e| schema(format!("not_before: {e}")))?,
        );
    }
    if let Some(t) = spec.expires_at {
        step = step.expires_at(
            t.resolve()
                .map_err(|e| schema(format!("expires_at: {e}")))?,
        );
    }
    if let Some(d) = spec.max_depth {
        step = step.max_depth(d);
    }
    if let Some(keep) = spec.keep {
        let tools: BTreeSet<ToolRef> = keep
            .into_iter()
            .map(|t| ToolRef::new(t.server, t.tool))
            .collect();
        step = step.keep_only(tools);
    }
    for c in spec.constrain {
        step = step.constrain(ToolRef::new(c.server, c.tool), c.arg, c.constraint.into());
    }
    match (spec.delegate, bind) {
        (Some(d), Some(key)) => step = step.delegate(Subject::bound_to_key(d.subject, key)),
        (Some(d), None) => {
            step = step.delegate(binding(d.subject, d.holder.as_deref()).map_err(schema)?)
        }
        (None, Some(_)) => return Err(schema("--bind-holder needs a [delegate] section".into())),
        (None, None) => {}
    }
    Ok(step)
}

/// Parses `--arg name=value`: an integer, `true`/`false`, or else a string.
pub(crate) fn parse_arg(text: &str) -> std::result::Result<(String, Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    if name.is_empty() {
        return Err(format!("{text:?} has an empty name"));
    }
    let value = if let Ok(i) = value.parse::<i64>() {
        Value::Int(i)
    } else if value == "true" || value == "false" {
        Value::Bool(value == "true")
    } else {
        Value::Str(value.to_owned())
    };
    Ok((name.to_owned(), value))
}

/// Parses `--arg-str name=value`: always a string.
pub(crate) fn parse_arg_str(text: &str) -> std::result::Result<(String, Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not name=value"))?;
    if name.is_empty() {
        return Err(format!("{text:?} has an empty argument name"));
    }
    Ok((name.to_owned(), Value::Str(value.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_typed_by_their_text() {
        assert_eq!(parse_arg("limit=10"), Ok(("limit".into(), Value::Int(10))));
        assert_eq!(parse_arg("ro=true"), Ok(("ro".into(), Value::Bool(true))));
        assert_eq!(
            parse_arg("path=/a=b"),
            Ok(("path".into(), Value::Str("/a=b".into())))
        );
        assert_eq!(
            parse_arg_str("n=10"),
            Ok(("n".into(), Value::Str("10".into())))
        );
        assert!(parse_arg("novalue").is_err());
        assert!(parse_arg("=x").is_err());
    }

    #[test]
    fn constraints_read_from_toml_and_json_alike() {
        let toml: BTreeMap<String, ConstraintSpec> = toml::from_str(
            "a = \"any\"\nb = { exact = 3 }\nc = { path = \"/srv/\" }\nd = { one_of = [\"x\", true] }\ne = { range = { min = 1, max = 2 } }\nf = { prefix = \"p\" }\n",
        )
        .unwrap();
        let json: BTreeMap<String, ConstraintSpec> = serde_json::from_str(
            r#"{"a":"any","b":{"exact":3},"c":{"path":"/srv/"},"d":{"one_of":["x",true]},"e":{"range":{"min":1,"max":2}},"f":{"prefix":"p"}}"#,
        )
        .unwrap();
        let convert = |m: BTreeMap<String, ConstraintSpec>| -> Vec<Constraint> {
            m.into_values().map(Constraint::from).collect()
        };
        let expected = vec![
            Constraint::Any,
            Constraint::Exact(Value::Int(3)),
            Constraint::Path("/srv/".into()),
            Constraint::OneOf([Value::Str("x".into()), Value::Bool(true)].into()),
            Constraint::Range { min: 1, max: 2 },
            Constraint::Prefix("p".into()),
        ];
        assert_eq!(convert(toml), expected);
        assert_eq!(convert(json), expected);
        assert!(serde_json::from_str::<ConstraintSpec>(r#"{"regex":"."}"#).is_err());
    }
}
