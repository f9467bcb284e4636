//! Capabilities, attenuation steps and requests built from fuzzer bytes, over small value pools so that verdicts land on both sides.
//!
//! The pools are those of `captoken_core_types::testing` (two servers, two
//! tools, two argument names, five strings, two subjects, times around
//! [`T0`]), so that generated requests hit generated constraints. One value in
//! sixteen leaves the pools for an arbitrary string, integer or time, so that
//! every encoder also meets quotes, separators, non-ASCII text and extreme
//! numbers. Everything reads from the front of the input
//! ([`Unstructured::int_in_range`] and friends), and an exhausted input gives
//! the first choice of every pool rather than an error.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Result, Unstructured};
use captoken_core_types::{
    ArgConstraint, Attenuation, Capability, Constraint, Grant, HolderKey, Request, Subject,
    TokenId, ToolRef, Value,
};

use crate::providers::key_id;

/// The epoch around which generated times fall (as in `core-types`' testing pools).
pub const T0: u64 = captoken_core_types::testing::T0;

const SERVERS: [&str; 2] = ["s1", "s2"];
const TOOLS: [&str; 2] = ["t1", "t2"];
const ARGS: [&str; 2] = ["a", "b"];
const STRINGS: [&str; 5] = ["", "x", "xy", "xyz", "y"];
const SUBJECTS: [&str; 2] = ["agent:a", "agent:b"];
/// Directories of `Path` constraints, and path values that stay under them or try to escape.
const DIRS: [&str; 3] = ["/", "/x/", "/x/y/"];
const PATHS: [&str; 8] = [
    "/x/f",
    "/x/y/f",
    "/x/../f",
    "/x//f",
    "/x/%2e%2e/f",
    "/x/y\\..\\f",
    "/x/f\0",
    "/xy/f",
];
/// Longest arbitrary string drawn outside the pools, in characters.
const MAX_WILD_CHARS: usize = 24;

/// True with probability `num / den` over uniform input bytes; false once the
/// input is exhausted (unlike [`Unstructured::ratio`], which then says true).
fn chance(u: &mut Unstructured<'_>, num: u8, den: u8) -> Result<bool> {
    Ok(u.int_in_range(1..=den)? > den.saturating_sub(num))
}

/// One in sixteen: leave the pools.
fn wild(u: &mut Unstructured<'_>) -> Result<bool> {
    chance(u, 1, 16)
}

fn pick<'a>(u: &mut Unstructured<'_>, pool: &[&'a str]) -> Result<&'a str> {
    Ok(*u.choose(pool)?)
}

/// A short arbitrary string: any Unicode scalar values, at most [`MAX_WILD_CHARS`].
fn wild_string(u: &mut Unstructured<'_>) -> Result<String> {
    let len = u.int_in_range(0..=MAX_WILD_CHARS)?;
    let mut s = String::new();
    for _ in 0..len {
        // Mostly ASCII (where the separators of every text encoding live).
        let c = if chance(u, 3, 4)? {
            char::from(u.int_in_range(0u8..=0x7f)?)
        } else {
            u.arbitrary::<char>()?
        };
        s.push(c);
    }
    Ok(s)
}

/// A string from `pool`, or now and then an arbitrary one.
fn string(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    if wild(u)? {
        wild_string(u)
    } else {
        Ok(pick(u, pool)?.to_owned())
    }
}

fn int(u: &mut Unstructured<'_>) -> Result<i64> {
    if wild(u)? {
        Ok(*u.choose(&[
            i64::MIN,
            i64::MIN + 1,
            -1_000_000,
            1_000_000,
            i64::MAX - 1,
            i64::MAX,
        ])?)
    } else {
        u.int_in_range(-2i64..=3)
    }
}

/// A value from the pools.
pub fn value(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => Value::Str(string(u, &STRINGS)?),
        3 => Value::Str(string(u, &PATHS)?),
        1 => Value::Int(int(u)?),
        _ => Value::Bool(u.arbitrary()?),
    })
}

/// A constraint of any kind over the pools.
pub fn constraint(u: &mut Unstructured<'_>) -> Result<Constraint> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => Constraint::Any,
        1 => Constraint::Exact(value(u)?),
        2 => Constraint::Prefix(string(u, &["", "x", "xy"])?),
        5 => Constraint::Path(string(u, &DIRS)?),
        3 => {
            let n = u.int_in_range(0usize..=2)?;
            let mut set = BTreeSet::new();
            for _ in 0..n {
                set.insert(value(u)?);
            }
            Constraint::OneOf(set)
        }
        _ => Constraint::Range {
            min: int(u)?,
            max: int(u)?,
        },
    })
}

/// A (server, tool) pair from the pools.
pub fn tool_ref(u: &mut Unstructured<'_>) -> Result<ToolRef> {
    Ok(ToolRef::new(string(u, &SERVERS)?, string(u, &TOOLS)?))
}

fn arg_name(u: &mut Unstructured<'_>) -> Result<String> {
    string(u, &ARGS)
}

/// A grant on a pooled tool with up to two constrained arguments.
pub fn grant(u: &mut Unstructured<'_>) -> Result<Grant> {
    let tool = tool_ref(u)?;
    let mut args = BTreeMap::new();
    for _ in 0..u.int_in_range(0usize..=2)? {
        args.insert(arg_name(u)?, constraint(u)?);
    }
    Ok(Grant {
        server: tool.server,
        tool: tool.tool,
        args,
    })
}

/// A subject from the pools, now and then bound to a holder key.
pub fn subject(u: &mut Unstructured<'_>) -> Result<Subject> {
    let principal = string(u, &SUBJECTS)?;
    Ok(if wild(u)? {
        if u.arbitrary()? {
            Subject::bound_to_key(principal, HolderKey::Ed25519(u.arbitrary()?))
        } else {
            Subject::bound_to_key_set(principal)
        }
    } else {
        Subject::new(principal)
    })
}

/// A time around [`T0`], or now and then an extreme one.
fn time(u: &mut Unstructured<'_>, around: u64) -> Result<u64> {
    if wild(u)? {
        // The epoch, the edges of RFC 3339's year 9999, and the end of u64.
        Ok(*u.choose(&[
            0,
            1,
            253_402_300_799,
            253_402_300_800,
            u64::MAX - 1,
            u64::MAX,
        ])?)
    } else {
        Ok(around.saturating_add(u.int_in_range(0u64..=5)?))
    }
}

/// A root capability issued under the fuzzed providers' key id.
pub fn capability(u: &mut Unstructured<'_>) -> Result<Capability> {
    let id = TokenId(u.arbitrary()?);
    let subject = subject(u)?;
    let mut grants = BTreeSet::new();
    for _ in 0..u.int_in_range(0usize..=3)? {
        grants.insert(grant(u)?);
    }
    let not_before = time(u, T0)?;
    let expires_at = if wild(u)? {
        time(u, T0)?
    } else {
        not_before.saturating_add(u.int_in_range(4u64..=12)?)
    };
    let max_depth = if wild(u)? {
        u.arbitrary()?
    } else {
        u.int_in_range(0u32..=4)?
    };
    let issued_at = time(u, T0)?;
    // Built, then the generated window set as is: an empty or inverted window
    // (which the builder refuses) is a case worth fuzzing.
    let mut cap = Capability::builder(key_id())
        .id(id)
        .subject(subject)
        .valid_from(0)
        .valid_until(1)
        .build()
        .map_err(|_| arbitrary::Error::IncorrectFormat)?;
    cap.issued_at = issued_at;
    cap.grants = grants;
    cap.not_before = not_before;
    cap.expires_at = expires_at;
    cap.max_depth = max_depth;
    Ok(cap)
}

/// An arbitrary step over the pools: it may ask for anything, including more
/// than its parent has (a hostile step).
pub fn hostile_step(u: &mut Unstructured<'_>) -> Result<Attenuation> {
    let keep = if chance(u, 3, 10)? {
        let mut set = BTreeSet::new();
        for _ in 0..u.int_in_range(0usize..=2)? {
            set.insert(tool_ref(u)?);
        }
        Some(set)
    } else {
        None
    };
    let mut constraints = Vec::new();
    for _ in 0..u.int_in_range(0usize..=2)? {
        constraints.push(ArgConstraint {
            tool: tool_ref(u)?,
            arg: arg_name(u)?,
            constraint: constraint(u)?,
        });
    }
    let not_before = optional(u, 3, |u| time(u, T0))?;
    let expires_at = optional(u, 3, |u| time(u, T0 + 6))?;
    let max_depth = optional(u, 3, |u| {
        if wild(u)? {
            u.arbitrary()
        } else {
            u.int_in_range(0u32..=5)
        }
    })?;
    let delegate = optional(u, 2, subject)?;
    Ok(Attenuation {
        keep,
        constraints,
        not_before,
        expires_at,
        max_depth,
        delegate,
    })
}

/// `Some(f(u))` with probability `tenths / 10`.
fn optional<T>(
    u: &mut Unstructured<'_>,
    tenths: u8,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if chance(u, tenths, 10)? {
        f(u).map(Some)
    } else {
        Ok(None)
    }
}

/// A constraint inside `c` (or equal where nothing narrower is natural).
fn narrower(u: &mut Unstructured<'_>, c: &Constraint) -> Result<Constraint> {
    Ok(match c {
        Constraint::Any => Constraint::Exact(Value::Str(pick(u, &STRINGS)?.to_owned())),
        Constraint::Prefix(p) => Constraint::Prefix(format!("{p}{}", pick(u, &["x", "y"])?)),
        Constraint::OneOf(set) => {
            let skip = u.int_in_range(0..=set.len())?;
            Constraint::OneOf(set.iter().skip(skip).cloned().collect())
        }
        Constraint::Range { min, max } => {
            if u.arbitrary()? {
                Constraint::Range {
                    min: min.saturating_add(1),
                    max: *max,
                }
            } else {
                Constraint::Range {
                    min: *min,
                    max: max.saturating_sub(1),
                }
            }
        }
        Constraint::Path(d) => Constraint::Path(format!(
            "{}/{}/",
            captoken_core_types::path::base(d),
            pick(u, &["x", "y"])?
        )),
        Constraint::Exact(v) => Constraint::Exact(v.clone()),
    })
}

/// A step that a re-issuing issuer accepts for `cap` (when `cap.max_depth > 0`):
/// it keeps a subset of the granted tools, narrows one constraint on every
/// grant of one tool, and shortens the window and the depth. The port of
/// `captoken_core_types::testing::narrowing_step` to fuzzer bytes.
pub fn narrowing_step(u: &mut Unstructured<'_>, cap: &Capability) -> Result<Attenuation> {
    let mut tools: Vec<ToolRef> = cap
        .grants
        .iter()
        .map(Grant::tool_ref)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut step = Attenuation::new();
    if chance(u, 1, 4)? {
        let mut kept = Vec::new();
        for t in tools {
            if u.arbitrary()? {
                kept.push(t);
            }
        }
        tools = kept;
        step.keep = Some(tools.iter().cloned().collect());
    }
    if !tools.is_empty() && chance(u, 6, 10)? {
        let tool = u.choose(&tools)?.clone();
        let arg = pick(u, &ARGS)?;
        // Inside the narrowest existing constraint among this tool's grants.
        let existing: Vec<&Constraint> = cap
            .grants
            .iter()
            .filter(|g| g.is_for(&tool.server, &tool.tool))
            .filter_map(|g| g.args.get(arg))
            .collect();
        let new = match existing.as_slice() {
            [] => Constraint::Exact(Value::Str(pick(u, &STRINGS)?.to_owned())),
            [one] => narrower(u, one)?,
            _ => Constraint::OneOf(BTreeSet::new()),
        };
        step = step.constrain(tool, arg, new);
    }
    if chance(u, 1, 5)? {
        step.not_before = Some(cap.not_before.saturating_add(u.int_in_range(0u64..=2)?));
    }
    if chance(u, 3, 10)? {
        step.expires_at = Some(cap.expires_at.saturating_sub(u.int_in_range(0u64..=2)?));
    }
    if chance(u, 1, 5)? {
        step.max_depth = Some(
            cap.max_depth
                .saturating_sub(1)
                .saturating_sub(u.int_in_range(0u32..=1)?),
        );
    }
    if chance(u, 1, 5)? {
        step.delegate = Some(Subject::new(pick(u, &SUBJECTS)?));
    }
    Ok(step)
}

/// A value `c` permits, when there is one.
fn satisfying(u: &mut Unstructured<'_>, c: &Constraint) -> Result<Option<Value>> {
    Ok(match c {
        Constraint::Any => Some(Value::Str(pick(u, &STRINGS)?.to_owned())),
        Constraint::Exact(v) => Some(v.clone()),
        Constraint::Prefix(p) => Some(Value::Str(format!("{p}{}", pick(u, &["", "z"])?))),
        Constraint::Path(d) => Some(Value::Str(format!(
            "{}/{}",
            captoken_core_types::path::base(d),
            pick(u, &["z", "z/w", "../z"])?
        ))),
        Constraint::OneOf(set) => {
            let members: Vec<&Value> = set.iter().collect();
            if members.is_empty() {
                None
            } else {
                Some((*u.choose(&members)?).clone())
            }
        }
        Constraint::Range { min, max } => {
            (min <= max).then_some(Value::Int(if u.arbitrary()? { *min } else { *max }))
        }
    })
}

/// The principal that `root` attenuated by `steps` authorizes: the last delegate, or the root's subject.
#[must_use]
pub fn final_subject(root: &Capability, steps: &[Attenuation]) -> String {
    steps
        .iter()
        .rev()
        .find_map(|s| s.delegate.as_ref())
        .unwrap_or(&root.subject)
        .principal
        .clone()
}

/// A request near the authorized set of `root` attenuated by `steps`: it
/// satisfies one root grant and the steps' constraints on that tool where it
/// can, at a time around the window, then perhaps changes one field so that
/// both verdicts occur often. The port of `testing::request_for`.
pub fn request_near(
    u: &mut Unstructured<'_>,
    root: &Capability,
    steps: &[Attenuation],
) -> Result<Request> {
    let grants: Vec<&Grant> = root.grants.iter().collect();
    let mut args = BTreeMap::new();
    let (server, tool) = if grants.is_empty() {
        (pick(u, &SERVERS)?.to_owned(), pick(u, &TOOLS)?.to_owned())
    } else {
        let g = *u.choose(&grants)?;
        for (name, c) in &g.args {
            if let Some(v) = satisfying(u, c)? {
                args.insert(name.clone(), v);
            }
        }
        for c in steps.iter().flat_map(|s| &s.constraints) {
            if g.is_for(&c.tool.server, &c.tool.tool)
                && let Some(v) = satisfying(u, &c.constraint)?
            {
                args.insert(c.arg.clone(), v);
            }
        }
        (g.server.clone(), g.tool.clone())
    };
    let now = if wild(u)? {
        time(u, root.not_before)?
    } else if chance(u, 1, 8)? {
        // The edges of the window.
        *u.choose(&[
            root.not_before.saturating_sub(1),
            root.expires_at.saturating_sub(1),
            root.expires_at,
        ])?
    } else {
        root.not_before.saturating_add(u.int_in_range(0u64..=13)?)
    };
    let mut req = Request {
        subject: final_subject(root, steps),
        server,
        tool,
        args,
        now,
    };
    if chance(u, 1, 2)? {
        match u.int_in_range(0u8..=4)? {
            0 => req.subject = string(u, &SUBJECTS)?,
            1 => req.server = string(u, &SERVERS)?,
            2 => req.tool = string(u, &TOOLS)?,
            3 => {
                let arg = arg_name(u)?;
                if chance(u, 1, 3)? {
                    req.args.remove(&arg);
                } else {
                    req.args.insert(arg, value(u)?);
                }
            }
            _ => {
                req.args.insert(arg_name(u)?, Value::Int(int(u)?));
            }
        }
    }
    Ok(req)
}

/// A request over the pools, unrelated to any capability.
pub fn request(u: &mut Unstructured<'_>) -> Result<Request> {
    let mut args = BTreeMap::new();
    for _ in 0..u.int_in_range(0usize..=3)? {
        args.insert(arg_name(u)?, value(u)?);
    }
    Ok(Request {
        subject: string(u, &SUBJECTS)?,
        server: string(u, &SERVERS)?,
        tool: string(u, &TOOLS)?,
        args,
        now: time(u, T0)?,
    })
}

/// How many delegation steps `root` attenuated by `steps` still allows, as the
/// reference authorizer counts them; `None` when a step was already taken at depth zero.
#[must_use]
pub fn remaining_depth(root: &Capability, steps: &[Attenuation]) -> Option<u32> {
    let mut depth = root.max_depth;
    for step in steps {
        depth = depth.checked_sub(1)?;
        depth = step.max_depth.map_or(depth, |d| d.min(depth));
    }
    Some(depth)
}
