//! One generator of model values (capabilities, steps, requests) over a source of random choices, shared by the proptest strategies and the fuzz harness.
//!
//! Values come from small pools (two servers, two tools, two argument names,
//! a few strings and path values, two subjects, times around [`T0`]) so that
//! generated requests hit generated constraints and both verdicts occur often.
//! A [`Choices`] source that allows wild values (a fuzzer) now and then leaves
//! the pools for an arbitrary string, integer, time or holder binding, so that
//! every encoder also meets quotes, separators, non-ASCII text and extreme
//! numbers; the property tests stay inside the pools. An exhausted source gives
//! the first choice of every pool.

use std::collections::{BTreeMap, BTreeSet};

use crate::attenuation::{ArgConstraint, Attenuation};
use crate::capability::{Capability, Grant, HolderKey, KeyId, Subject, TokenId, ToolRef};
use crate::constraint::{Constraint, Value};
use crate::request::Request;

/// The epoch around which generated times fall.
pub const T0: u64 = 1_000;
/// The key id every generated capability is issued under.
pub const KEY_ID: &str = "k1";

const SERVERS: [&str; 2] = ["s1", "s2"];
const TOOLS: [&str; 2] = ["t1", "t2"];
const ARGS: [&str; 2] = ["a", "b"];
const STRINGS: [&str; 5] = ["", "x", "xy", "xyz", "y"];
const PREFIXES: [&str; 4] = ["", "x", "xy", "/x/"];
const SUBJECTS: [&str; 2] = ["agent:a", "agent:b"];
/// Directories of generated `Path` constraints.
const DIRS: [&str; 3] = ["/", "/x/", "/x/y/"];
/// Path values: safe ones under the directories, and hostile ones that try to
/// escape them (dot segments, empty segments, encoded dots, backslash, NUL,
/// a sibling sharing the directory's bytes).
const PATHS: [&str; 13] = [
    "/x/f",
    "/x/y/f",
    "/f",
    "/x/../f",
    "/x/y/../../f",
    "/x//f",
    "/x/%2e%2e/f",
    "/x/y\\..\\f",
    "/x/f\0",
    "/xy/f",
    "/x/..%2f..%2ff",
    "/x/%252e%252e/f",
    "/x/.../f",
];
/// Extreme times: the epoch, the edges of RFC 3339's year 9999, the end of u64.
const WILD_TIMES: [u64; 6] = [
    0,
    1,
    253_402_300_799,
    253_402_300_800,
    u64::MAX - 1,
    u64::MAX,
];
const WILD_INTS: [i64; 6] = [
    i64::MIN,
    i64::MIN + 1,
    -1_000_000,
    1_000_000,
    i64::MAX - 1,
    i64::MAX,
];

/// A source of random choices.
pub trait Choices {
    /// A number in `0..n` for `n >= 1` (0 for `n == 0`); 0 once the source is exhausted.
    fn below(&mut self, n: usize) -> usize;

    /// Whether the source leaves the pools now and then (fuzzers do, property tests do not).
    fn wild_values(&self) -> bool {
        false
    }

    /// An arbitrary string, for a source with wild values.
    fn arbitrary_string(&mut self) -> String {
        String::new()
    }
}

/// Choices read from the front of a byte string, one byte per choice among at
/// most 256 (two for more); exhausted bytes read as zero. Shrinking the bytes
/// (shorter, smaller) shrinks the generated value towards the first choices.
#[derive(Clone, Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// Choices from `data`.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn byte(&mut self) -> usize {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                usize::from(*b)
            }
            None => 0,
        }
    }
}

impl Choices for Bytes<'_> {
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let raw = if n <= 256 {
            self.byte()
        } else {
            self.byte() << 8 | self.byte()
        };
        raw % n
    }
}

/// True with probability `num / den`; false on an exhausted source (choice 0),
/// so that running out of input (or shrinking towards zeros) turns every
/// optional part off.
fn chance(c: &mut impl Choices, num: usize, den: usize) -> bool {
    c.below(den) >= den.saturating_sub(num)
}

/// One in sixteen, for a source with wild values.
fn wild(c: &mut impl Choices) -> bool {
    c.wild_values() && chance(c, 1, 16)
}

fn pick<T: Copy + Default>(c: &mut impl Choices, pool: &[T]) -> T {
    pool.get(c.below(pool.len())).copied().unwrap_or_default()
}

fn string(c: &mut impl Choices, pool: &[&str]) -> String {
    if wild(c) {
        c.arbitrary_string()
    } else {
        pick(c, pool).to_owned()
    }
}

fn int(c: &mut impl Choices) -> i64 {
    if wild(c) {
        pick(c, &WILD_INTS)
    } else {
        i64::try_from(c.below(6)).unwrap_or(0) - 2
    }
}

fn small(c: &mut impl Choices, max: usize) -> u64 {
    u64::try_from(c.below(max + 1)).unwrap_or(0)
}

fn bytes<const N: usize>(c: &mut impl Choices) -> [u8; N] {
    let mut out = [0u8; N];
    for b in &mut out {
        *b = u8::try_from(c.below(256)).unwrap_or(0);
    }
    out
}

/// A time `around + 0..=spread`, or now and then an extreme one.
fn time(c: &mut impl Choices, around: u64, spread: usize) -> u64 {
    if wild(c) {
        pick(c, &WILD_TIMES)
    } else {
        around.saturating_add(small(c, spread))
    }
}

/// A value from the pools: a string, a path, an integer or a boolean.
pub fn value(c: &mut impl Choices) -> Value {
    match c.below(4) {
        0 => Value::Str(string(c, &STRINGS)),
        1 => Value::Str(string(c, &PATHS)),
        2 => Value::Int(int(c)),
        _ => Value::Bool(c.below(2) == 1),
    }
}

/// A constraint of any kind over the pools.
pub fn constraint(c: &mut impl Choices) -> Constraint {
    match c.below(6) {
        0 => Constraint::Any,
        1 => Constraint::Exact(value(c)),
        2 => Constraint::Prefix(string(c, &PREFIXES)),
        3 => Constraint::Path(string(c, &DIRS)),
        4 => {
            let mut set = BTreeSet::new();
            for _ in 0..c.below(3) {
                set.insert(value(c));
            }
            Constraint::OneOf(set)
        }
        _ => Constraint::Range {
            min: int(c),
            max: int(c),
        },
    }
}

/// A (server, tool) pair from the pools.
pub fn tool_ref(c: &mut impl Choices) -> ToolRef {
    ToolRef::new(string(c, &SERVERS), string(c, &TOOLS))
}

fn arg_name(c: &mut impl Choices) -> String {
    string(c, &ARGS)
}

/// A grant on a pooled tool with up to two constrained arguments.
pub fn grant(c: &mut impl Choices) -> Grant {
    let tool = tool_ref(c);
    let mut grant = Grant::new(tool.server, tool.tool);
    for _ in 0..c.below(3) {
        grant.args.insert(arg_name(c), constraint(c));
    }
    grant
}

/// A subject from the pools; with wild values, now and then bound to a
/// holder key or key set.
pub fn subject(c: &mut impl Choices) -> Subject {
    let principal = string(c, &SUBJECTS);
    if wild(c) {
        if c.below(2) == 0 {
            Subject::bound_to_key(principal, HolderKey::Ed25519(bytes(c)))
        } else {
            Subject::bound_to_key_set(principal)
        }
    } else {
        Subject::new(principal)
    }
}

/// A root capability issued under [`KEY_ID`], with times around [`T0`]. Its
/// window may be empty or inverted with wild values (the builder would refuse
/// one; a decoder must still handle it).
pub fn capability(c: &mut impl Choices) -> Capability {
    let id = TokenId(bytes(c));
    let subject = subject(c);
    let mut grants = BTreeSet::new();
    for _ in 0..c.below(4) {
        grants.insert(grant(c));
    }
    let not_before = time(c, T0, 5);
    let expires_at = if wild(c) {
        time(c, T0, 5)
    } else {
        not_before.saturating_add(4 + small(c, 8))
    };
    let max_depth = if wild(c) {
        u32::try_from(c.below(usize::MAX)).unwrap_or(u32::MAX)
    } else {
        u32::try_from(c.below(5)).unwrap_or(0)
    };
    let issued_at = if wild(c) { time(c, T0, 5) } else { not_before };
    Capability {
        id,
        issuer: KeyId::new(KEY_ID).unwrap_or_else(|_| unreachable!("KEY_ID is valid")),
        issued_at,
        subject,
        grants,
        not_before,
        expires_at,
        max_depth,
        parent: None,
    }
}

/// `Some(f(c))` with probability `tenths / 10`.
fn optional<C: Choices, T>(c: &mut C, tenths: usize, f: impl FnOnce(&mut C) -> T) -> Option<T> {
    chance(c, tenths, 10).then(|| f(c))
}

/// An arbitrary step over the pools: it may ask for anything, including more
/// than its parent has (a hostile step).
pub fn hostile_step(c: &mut impl Choices) -> Attenuation {
    let keep = optional(c, 3, |c| {
        let mut set = BTreeSet::new();
        for _ in 0..c.below(3) {
            set.insert(tool_ref(c));
        }
        set
    });
    let mut constraints = Vec::new();
    for _ in 0..c.below(3) {
        constraints.push(ArgConstraint {
            tool: tool_ref(c),
            arg: arg_name(c),
            constraint: constraint(c),
        });
    }
    Attenuation {
        keep,
        constraints,
        not_before: optional(c, 3, |c| time(c, T0, 19)),
        expires_at: optional(c, 3, |c| time(c, T0, 19)),
        max_depth: optional(c, 3, |c| u32::try_from(c.below(6)).unwrap_or(0)),
        delegate: optional(c, 2, subject),
        signed_by: None,
    }
}

/// A constraint inside `existing` (or equal where nothing narrower is natural).
fn narrower(c: &mut impl Choices, existing: &Constraint) -> Constraint {
    match existing {
        Constraint::Any => Constraint::Exact(Value::from(pick(c, &STRINGS))),
        Constraint::Prefix(p) => Constraint::Prefix(format!("{p}{}", pick(c, &["x", "y"]))),
        Constraint::Path(d) => Constraint::Path(format!(
            "{}/{}/",
            crate::path::base(d),
            pick(c, &["x", "y"])
        )),
        Constraint::OneOf(set) => {
            let skip = c.below(set.len() + 1);
            Constraint::OneOf(set.iter().skip(skip).cloned().collect())
        }
        Constraint::Range { min, max } => {
            if c.below(2) == 0 {
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
        Constraint::Exact(v) => Constraint::Exact(v.clone()),
    }
}

/// A step that every re-issuing issuer accepts for `cap` (when
/// `cap.max_depth > 0`): it keeps a subset of the granted tools, narrows one
/// constraint on every grant of one tool, and shortens the window and depth.
pub fn narrowing_step(c: &mut impl Choices, cap: &Capability) -> Attenuation {
    let mut tools: Vec<ToolRef> = cap
        .grants
        .iter()
        .map(Grant::tool_ref)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut step = Attenuation::new();
    if chance(c, 1, 4) {
        tools.retain(|_| c.below(2) == 1);
        step.keep = Some(tools.iter().cloned().collect());
    }
    if !tools.is_empty()
        && chance(c, 6, 10)
        && let Some(tool) = tools.get(c.below(tools.len())).cloned()
    {
        let arg = pick(c, &ARGS);
        // Inside the narrowest existing constraint among this tool's grants.
        let existing: Vec<&Constraint> = cap
            .grants
            .iter()
            .filter(|g| g.is_for(&tool.server, &tool.tool))
            .filter_map(|g| g.args.get(arg))
            .collect();
        let new = match existing.as_slice() {
            [] => Constraint::Exact(Value::from(pick(c, &STRINGS))),
            [one] => narrower(c, one),
            _ => Constraint::OneOf(BTreeSet::new()),
        };
        step = step.constrain(tool, arg, new);
    }
    if chance(c, 2, 10) {
        step.not_before = Some(cap.not_before.saturating_add(small(c, 2)));
    }
    if chance(c, 3, 10) {
        step.expires_at = Some(cap.expires_at.saturating_sub(small(c, 2)));
    }
    if chance(c, 2, 10) {
        step.max_depth = Some(
            cap.max_depth
                .saturating_sub(1)
                .saturating_sub(u32::try_from(c.below(2)).unwrap_or(0)),
        );
    }
    if chance(c, 2, 10) {
        step.delegate = Some(Subject::new(pick(c, &SUBJECTS)));
    }
    step
}

/// A value `constraint` permits, when there is one.
fn satisfying(c: &mut impl Choices, constraint: &Constraint) -> Option<Value> {
    match constraint {
        Constraint::Any => Some(Value::from(pick(c, &STRINGS))),
        Constraint::Exact(v) => Some(v.clone()),
        Constraint::Prefix(p) => Some(Value::Str(format!("{p}{}", pick(c, &["", "z"])))),
        // Mostly inside, now and then a traversal that only looks inside.
        Constraint::Path(d) => Some(Value::Str(format!(
            "{}/{}",
            crate::path::base(d),
            pick(c, &["z", "z/w", "z", "../z"])
        ))),
        Constraint::OneOf(set) => set.iter().nth(c.below(set.len())).cloned(),
        Constraint::Range { min, max } => {
            (min <= max).then(|| Value::Int(if c.below(2) == 0 { *min } else { *max }))
        }
    }
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
/// can, at a time around the window, then perhaps changes one field (subject,
/// server, tool, an argument) so that both verdicts occur often.
pub fn request_near(c: &mut impl Choices, root: &Capability, steps: &[Attenuation]) -> Request {
    let grants: Vec<&Grant> = root.grants.iter().collect();
    let mut args = BTreeMap::new();
    let (server, tool) = match grants.get(c.below(grants.len())) {
        Some(g) => {
            for (name, constraint) in &g.args {
                if let Some(v) = satisfying(c, constraint) {
                    args.insert(name.clone(), v);
                }
            }
            for added in steps.iter().flat_map(|s| &s.constraints) {
                if g.is_for(&added.tool.server, &added.tool.tool)
                    && let Some(v) = satisfying(c, &added.constraint)
                {
                    args.insert(added.arg.clone(), v);
                }
            }
            (g.server.clone(), g.tool.clone())
        }
        None => (pick(c, &SERVERS).to_owned(), pick(c, &TOOLS).to_owned()),
    };
    let now = if wild(c) {
        time(c, root.not_before, 5)
    } else if chance(c, 1, 8) {
        // The edges of the window.
        pick(
            c,
            &[
                root.not_before.saturating_sub(1),
                root.expires_at.saturating_sub(1),
                root.expires_at,
            ],
        )
    } else {
        root.not_before.saturating_add(small(c, 13))
    };
    let mut req = Request {
        subject: final_subject(root, steps),
        server,
        tool,
        args,
        now,
    };
    if chance(c, 1, 2) {
        match c.below(5) {
            0 => req.subject = string(c, &SUBJECTS),
            1 => req.server = string(c, &SERVERS),
            2 => req.tool = string(c, &TOOLS),
            3 => {
                let arg = arg_name(c);
                if chance(c, 1, 3) {
                    req.args.remove(&arg);
                } else {
                    req.args.insert(arg, value(c));
                }
            }
            _ => {
                req.args.insert(arg_name(c), Value::Int(int(c)));
            }
        }
    }
    req
}

/// A request over the pools, unrelated to any capability.
pub fn request(c: &mut impl Choices) -> Request {
    let mut args = BTreeMap::new();
    for _ in 0..c.below(4) {
        args.insert(arg_name(c), value(c));
    }
    Request {
        subject: string(c, &SUBJECTS),
        server: string(c, &SERVERS),
        tool: string(c, &TOOLS),
        args,
        now: time(c, T0, 5),
    }
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
