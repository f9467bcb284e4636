//! Test support shared by every provider: proptest strategies for capabilities, chains and requests, and the DESIGN.md §7 reference workload.
//!
//! Enabled by the `testing` feature; not part of the production API.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use crate::attenuation::{ArgConstraint, Attenuation};
use crate::capability::{Capability, Grant, KeyId, Subject, TokenId, ToolRef};
use crate::constraint::{Constraint, Value};
use crate::error::StoreError;
use crate::lineage::{
    LineageEntry, LineageHash, LineageIndex, MemoryLineageIndex, MemoryRevocationList,
    RevocationList,
};
use crate::provider::{Denied, DenyReason, Token, TokenProvider, Verified, VerifyContext};
use crate::request::{FixedClock, Request};

pub mod conformance;

/// The DESIGN.md §7 benchmark workload, fixed so that sizes compare honestly.
pub mod workload {
    use super::*;

    /// Chain depths measured.
    pub const DEPTHS: [usize; 6] = [0, 1, 2, 4, 8, 16];
    /// Start of validity of the root (Unix seconds).
    pub const NOT_BEFORE: u64 = 1_767_225_600;
    /// Validity of the root in seconds.
    pub const VALIDITY: u64 = 3600;
    /// The time every workload request is made.
    pub const NOW: u64 = NOT_BEFORE + 60;
    /// The subject.
    pub const SUBJECT: &str = "agent:planner-7";
    /// The tool server.
    pub const SERVER: &str = "fs.internal";
    /// The granted tools.
    pub const TOOLS: [&str; 2] = ["read_file", "list_dir"];
    /// The root's `path` directory (a [`Constraint::Path`]).
    pub const ROOT_PREFIX: &str = "/srv/data/";
    /// The root's delegation depth.
    pub const MAX_DEPTH: u32 = 16;

    /// The root capability, issued by `issuer`, with a fixed token id.
    #[must_use]
    pub fn capability(issuer: KeyId) -> Capability {
        let grant = |tool: &str| {
            Grant::new(SERVER, tool)
                .with_arg("path", Constraint::Path(ROOT_PREFIX.into()))
                .with_arg("mode", Constraint::Exact("ro".into()))
                .with_arg("limit", Constraint::Range { min: 0, max: 1000 })
        };
        Capability {
            id: TokenId([0x5a; 16]),
            issuer,
            issued_at: NOT_BEFORE,
            subject: Subject::new(SUBJECT),
            grants: TOOLS.iter().map(|t| grant(t)).collect(),
            not_before: NOT_BEFORE,
            expires_at: NOT_BEFORE + VALIDITY,
            max_depth: MAX_DEPTH,
            parent: None,
        }
    }

    /// The path directory after `depth` steps: `/srv/data/p1/p2/…/p<depth>/`.
    #[must_use]
    pub fn prefix(depth: usize) -> String {
        let mut p = String::from(ROOT_PREFIX);
        for i in 1..=depth {
            p.push_str(&format!("p{i}/"));
        }
        p
    }

    /// Step `i` (1-based): append `p<i>/` to the path prefix and lower the
    /// upper bound of `limit` by one, on both tools; expire one second earlier.
    #[must_use]
    pub fn step(i: usize) -> Attenuation {
        let i64_i = i64::try_from(i).unwrap_or(i64::MAX);
        let u64_i = u64::try_from(i).unwrap_or(u64::MAX);
        let mut step = Attenuation::new().expires_at(NOT_BEFORE + VALIDITY - u64_i);
        for tool in TOOLS {
            step = step
                .constrain(
                    ToolRef::new(SERVER, tool),
                    "path",
                    Constraint::Path(prefix(i)),
                )
                .constrain(
                    ToolRef::new(SERVER, tool),
                    "limit",
                    Constraint::Range {
                        min: 0,
                        max: 1000 - i64_i,
                    },
                );
        }
        step
    }

    /// Steps 1 to `depth`.
    #[must_use]
    pub fn steps(depth: usize) -> Vec<Attenuation> {
        (1..=depth).map(step).collect()
    }

    /// Issues `root` with `p` and applies steps 1 to `depth`; every token's
    /// lineage index row, where the format has one, is recorded in `stores`.
    /// Root first.
    ///
    /// # Panics
    /// When `p` refuses the workload: this is test support.
    #[allow(clippy::expect_used, reason = "test support fails by panicking")]
    pub fn chain_from(
        p: &dyn TokenProvider,
        stores: &Stores,
        root: &Capability,
        depth: usize,
    ) -> Vec<Token> {
        let mut tokens = vec![p.issue(root).expect("issue the workload root")];
        for step in steps(depth) {
            let parent = tokens.last().expect("a root");
            let child = p.attenuate(parent, &step).expect("attenuate the workload");
            tokens.push(child);
        }
        for t in &tokens {
            if let Some(entry) = p.index_entry(t).expect("index entry") {
                stores.index.record(entry).expect("record the index row");
            }
        }
        tokens
    }

    /// [`chain_from`] the workload capability issued under [`KEY_ID`](super::KEY_ID).
    ///
    /// # Panics
    /// When `p` refuses the workload.
    #[must_use]
    #[allow(clippy::expect_used, reason = "test support fails by panicking")]
    pub fn chain(p: &dyn TokenProvider, stores: &Stores, depth: usize) -> Vec<Token> {
        let issuer = KeyId::new(super::KEY_ID).expect("a valid key id");
        chain_from(p, stores, &capability(issuer), depth)
    }

    /// The request, allowed at every depth up to `depth`.
    #[must_use]
    pub fn request(depth: usize) -> Request {
        Request::new(SUBJECT, SERVER, "read_file", &FixedClock(NOW))
            .with_arg("path", format!("{}report.txt", prefix(depth)))
            .with_arg("mode", "ro")
            .with_arg("limit", 10)
    }
}

/// A revocation list and a lineage index for one test, and the cold
/// verification context over them.
#[derive(Debug, Default)]
pub struct Stores {
    /// Revoked lineage hashes.
    pub revoked: MemoryRevocationList,
    /// Lineage index rows.
    pub index: MemoryLineageIndex,
}

impl Stores {
    /// Empty stores.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A context for cold verification over these stores.
    #[must_use]
    pub fn cold(&self) -> VerifyContext<'_> {
        VerifyContext::new(&self.revoked, &self.index)
    }
}

/// The ancestors of the last token of a root-first chain, parent first, as
/// [`VerifyContext::with_ancestors`] takes them.
#[must_use]
pub fn ancestors_of(tokens: &[Token]) -> Vec<Token> {
    let parents = tokens.len().saturating_sub(1);
    tokens.iter().take(parents).rev().cloned().collect()
}

/// The reason of a denial.
///
/// # Panics
/// When `verdict` is an allow: this is test support.
#[allow(clippy::expect_used, reason = "test support fails by panicking")]
pub fn deny_reason(verdict: Result<Verified, Denied>) -> DenyReason {
    verdict.expect_err("expected a denial").reason().clone()
}

/// A store that fails every call, for tests that verification fails closed.
#[derive(Clone, Copy, Debug, Default)]
pub struct FailingStore;

impl RevocationList for FailingStore {
    fn revoke(&self, _: LineageHash) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    fn is_revoked(&self, _: &LineageHash) -> Result<bool, StoreError> {
        Err(StoreError::Backend("down".into()))
    }
}

impl LineageIndex for FailingStore {
    fn record(&self, _: LineageEntry) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    fn get(&self, _: &TokenId) -> Result<Option<LineageEntry>, StoreError> {
        Err(StoreError::Backend("down".into()))
    }
}

/// The key id every generated capability is issued under.
pub const KEY_ID: &str = "k1";
/// The epoch around which generated times fall.
pub const T0: u64 = 1_000;

const SERVERS: [&str; 2] = ["s1", "s2"];
const TOOLS: [&str; 2] = ["t1", "t2"];
const ARGS: [&str; 2] = ["a", "b"];
const STRINGS: [&str; 5] = ["", "x", "xy", "xyz", "y"];
const SUBJECTS: [&str; 2] = ["agent:a", "agent:b"];
/// Directories of generated `Path` constraints.
const DIRS: [&str; 3] = ["/", "/x/", "/x/y/"];
/// Path values: safe ones under the directories, and hostile ones that try to
/// escape them (dot segments, empty segments, encoded dots, backslash, NUL,
/// a sibling sharing the directory's bytes).
const PATHS: [&str; 10] = [
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
];

fn pick<'a>(pool: &[&'a str], i: usize) -> &'a str {
    pool.get(i % pool.len()).copied().unwrap_or_default()
}

/// A value from a small pool, so that generated requests hit generated constraints.
pub fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(STRINGS.to_vec()).prop_map(Value::from),
        prop::sample::select(PATHS.to_vec()).prop_map(Value::from),
        (-2i64..=3).prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
    ]
}

/// A constraint of any kind over the value pool.
pub fn constraint() -> impl Strategy<Value = Constraint> {
    prop_oneof![
        Just(Constraint::Any),
        value().prop_map(Constraint::Exact),
        prop::sample::select(vec!["", "x", "xy", "/x/"]).prop_map(|p| Constraint::Prefix(p.into())),
        prop::sample::select(DIRS.to_vec()).prop_map(|d| Constraint::Path(d.into())),
        prop::collection::btree_set(value(), 0..3).prop_map(Constraint::OneOf),
        (-2i64..=3, -2i64..=3).prop_map(|(min, max)| Constraint::Range { min, max }),
    ]
}

fn tool_ref() -> impl Strategy<Value = ToolRef> {
    (0..SERVERS.len(), 0..TOOLS.len())
        .prop_map(|(s, t)| ToolRef::new(pick(&SERVERS, s), pick(&TOOLS, t)))
}

/// A grant on a pooled tool with up to two constrained arguments.
pub fn grant() -> impl Strategy<Value = Grant> {
    (
        tool_ref(),
        prop::collection::btree_map(prop::sample::select(ARGS.to_vec()), constraint(), 0..=2),
    )
        .prop_map(|(t, args)| Grant {
            server: t.server,
            tool: t.tool,
            args: args.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
}

/// A root capability issued under [`KEY_ID`] with times around [`T0`].
pub fn capability() -> impl Strategy<Value = Capability> {
    (
        any::<[u8; 16]>(),
        0..SUBJECTS.len(),
        prop::collection::btree_set(grant(), 0..=3),
        0u64..6,
        4u64..12,
        0u32..=4,
    )
        .prop_map(|(id, s, grants, nbf, len, max_depth)| Capability {
            id: TokenId(id),
            issuer: KeyId::new(KEY_ID).unwrap_or_else(|_| unreachable!("KEY_ID is valid")),
            issued_at: T0 + nbf,
            subject: Subject::new(pick(&SUBJECTS, s)),
            grants,
            not_before: T0 + nbf,
            expires_at: T0 + nbf + len,
            max_depth,
            parent: None,
        })
}

/// An arbitrary step over the pools: it may ask for anything, including more
/// than its parent has (a hostile step).
pub fn hostile_step() -> impl Strategy<Value = Attenuation> {
    (
        prop::option::weighted(0.3, prop::collection::btree_set(tool_ref(), 0..=2)),
        prop::collection::vec(
            (
                tool_ref(),
                prop::sample::select(ARGS.to_vec()),
                constraint(),
            )
                .prop_map(|(tool, arg, constraint)| ArgConstraint {
                    tool,
                    arg: arg.into(),
                    constraint,
                }),
            0..=2,
        ),
        prop::option::weighted(0.3, T0..T0 + 20),
        prop::option::weighted(0.3, T0..T0 + 20),
        prop::option::weighted(0.3, 0u32..=5),
        prop::option::weighted(
            0.2,
            (0..SUBJECTS.len()).prop_map(|s| Subject::new(pick(&SUBJECTS, s))),
        ),
    )
        .prop_map(
            |(keep, constraints, not_before, expires_at, max_depth, delegate)| Attenuation {
                keep,
                constraints,
                not_before,
                expires_at,
                max_depth,
                delegate,
            },
        )
}

/// Random choices from which [`narrowing_step`] derives a step that narrows a given capability.
#[derive(Clone, Debug)]
pub struct StepSeed {
    keep: Option<u8>,
    constrain: Option<(u8, u8)>,
    not_before: Option<u8>,
    expires_at: Option<u8>,
    max_depth: Option<u8>,
    delegate: Option<u8>,
}

/// Seeds for [`narrowing_step`].
pub fn step_seed() -> impl Strategy<Value = StepSeed> {
    (
        prop::option::weighted(0.25, any::<u8>()),
        prop::option::weighted(0.6, any::<(u8, u8)>()),
        prop::option::weighted(0.2, any::<u8>()),
        prop::option::weighted(0.3, any::<u8>()),
        prop::option::weighted(0.2, any::<u8>()),
        prop::option::weighted(0.2, any::<u8>()),
    )
        .prop_map(
            |(keep, constrain, not_before, expires_at, max_depth, delegate)| StepSeed {
                keep,
                constrain,
                not_before,
                expires_at,
                max_depth,
                delegate,
            },
        )
}

/// A constraint strictly inside `c` (or equal where nothing narrower is natural).
fn narrower(c: &Constraint, choice: u8) -> Constraint {
    match c {
        Constraint::Any => Constraint::Exact(Value::from(pick(&STRINGS, usize::from(choice)))),
        Constraint::Prefix(p) => {
            Constraint::Prefix(format!("{p}{}", pick(&["x", "y"], usize::from(choice))))
        }
        Constraint::OneOf(set) => Constraint::OneOf(
            set.iter()
                .skip(usize::from(choice) % (set.len() + 1))
                .cloned()
                .collect(),
        ),
        Constraint::Range { min, max } => {
            if choice.is_multiple_of(2) {
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
            crate::path::base(d),
            pick(&["x", "y"], usize::from(choice))
        )),
        Constraint::Exact(v) => Constraint::Exact(v.clone()),
    }
}

/// A step derived from `seed` that every re-issuing issuer accepts for `cap`
/// (when `cap.max_depth > 0`): it keeps a subset of the granted tools, narrows one
/// constraint on every grant of one tool, and shortens the window and depth.
#[must_use]
pub fn narrowing_step(cap: &Capability, seed: &StepSeed) -> Attenuation {
    let mut tools: Vec<ToolRef> = cap
        .grants
        .iter()
        .map(Grant::tool_ref)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut step = Attenuation::new();
    if let Some(mask) = seed.keep {
        let mut i = 0usize;
        tools.retain(|_| {
            let kept = mask & (1u8 << (i % 8)) != 0;
            i = i.wrapping_add(1);
            kept
        });
        step.keep = Some(tools.iter().cloned().collect());
    }
    if let (Some((which, choice)), false) = (seed.constrain, tools.is_empty())
        && let Some(tool) = tools.get(usize::from(which) % tools.len())
    {
        let arg = pick(&ARGS, usize::from(choice));
        // The narrowest existing constraint among this tool's grants, so that the
        // new one is inside all of them.
        let existing: Vec<&Constraint> = cap
            .grants
            .iter()
            .filter(|g| g.is_for(&tool.server, &tool.tool))
            .filter_map(|g| g.args.get(arg))
            .collect();
        let new = match existing.as_slice() {
            [] => Constraint::Exact(Value::from(pick(&STRINGS, usize::from(choice)))),
            [one] => narrower(one, choice),
            _ => Constraint::OneOf(BTreeSet::new()),
        };
        step = step.constrain(tool.clone(), arg, new);
    }
    if let Some(d) = seed.not_before {
        step.not_before = Some(cap.not_before.saturating_add(u64::from(d % 3)));
    }
    if let Some(d) = seed.expires_at {
        step.expires_at = Some(cap.expires_at.saturating_sub(u64::from(d % 3)));
    }
    if let Some(d) = seed.max_depth {
        step.max_depth = Some(
            cap.max_depth
                .saturating_sub(1)
                .saturating_sub(u32::from(d % 2)),
        );
    }
    if let Some(s) = seed.delegate {
        step.delegate = Some(Subject::new(pick(&SUBJECTS, usize::from(s))));
    }
    step
}

/// Random choices from which [`request_for`] derives a request near a chain's authorized set.
#[derive(Clone, Debug)]
pub struct RequestSeed {
    grant: u8,
    mutation: Option<(u8, u8)>,
    time: u8,
}

/// Seeds for [`request_for`].
pub fn request_seed() -> impl Strategy<Value = RequestSeed> {
    (
        any::<u8>(),
        prop::option::weighted(0.5, any::<(u8, u8)>()),
        any::<u8>(),
    )
        .prop_map(|(grant, mutation, time)| RequestSeed {
            grant,
            mutation,
            time,
        })
}

fn satisfying(c: &Constraint, choice: u8) -> Option<Value> {
    match c {
        Constraint::Any => Some(Value::from(pick(&STRINGS, usize::from(choice)))),
        Constraint::Exact(v) => Some(v.clone()),
        Constraint::Prefix(p) => Some(Value::from(format!("{p}z"))),
        Constraint::Path(d) => Some(Value::from(format!("{}/z", crate::path::base(d)))),
        Constraint::OneOf(set) => set
            .iter()
            .nth(usize::from(choice) % set.len().max(1))
            .cloned(),
        Constraint::Range { min, max } => {
            (min <= max).then_some(Value::Int(if choice.is_multiple_of(2) {
                *min
            } else {
                *max
            }))
        }
    }
}

/// A request derived from `seed` near the authorized set of `root` attenuated by
/// `steps`: it satisfies one root grant and the steps' constraints on that tool
/// where it can, then perhaps changes one field (subject, server, tool, an
/// argument) so that both verdicts occur often.
#[must_use]
pub fn request_for(root: &Capability, steps: &[Attenuation], seed: &RequestSeed) -> Request {
    let subject = steps
        .iter()
        .rev()
        .find_map(|s| s.delegate.as_ref())
        .unwrap_or(&root.subject)
        .principal
        .clone();
    let grants: Vec<&Grant> = root.grants.iter().collect();
    let (server, tool, mut args) = match grants.get(usize::from(seed.grant) % grants.len().max(1)) {
        Some(g) => {
            let mut args = BTreeMap::new();
            for (name, c) in &g.args {
                if let Some(v) = satisfying(c, seed.grant) {
                    args.insert(name.clone(), v);
                }
            }
            for c in steps.iter().flat_map(|s| &s.constraints) {
                if g.is_for(&c.tool.server, &c.tool.tool)
                    && let Some(v) = satisfying(&c.constraint, seed.time)
                {
                    args.insert(c.arg.clone(), v);
                }
            }
            (g.server.clone(), g.tool.clone(), args)
        }
        None => (
            pick(&SERVERS, 0).to_owned(),
            pick(&TOOLS, 0).to_owned(),
            BTreeMap::new(),
        ),
    };
    let now = T0 + u64::from(seed.time % 24);
    let mut req = Request {
        subject,
        server,
        tool,
        args: BTreeMap::new(),
        now,
    };
    if let Some((field, choice)) = seed.mutation {
        let c = usize::from(choice);
        match field % 5 {
            0 => req.subject = pick(&SUBJECTS, c).to_owned(),
            1 => req.server = pick(&SERVERS, c).to_owned(),
            2 => req.tool = pick(&TOOLS, c).to_owned(),
            3 => {
                let arg = pick(&ARGS, c);
                if choice.is_multiple_of(3) {
                    args.remove(arg);
                } else if choice.is_multiple_of(5) {
                    args.insert(arg.to_owned(), Value::from(pick(&PATHS, c / 5)));
                } else {
                    args.insert(arg.to_owned(), Value::from(pick(&STRINGS, c / 2)));
                }
            }
            _ => {
                args.insert(
                    pick(&ARGS, c).to_owned(),
                    Value::Int(i64::from(choice % 6) - 2),
                );
            }
        }
    }
    req.args = args;
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::authorize;
    use proptest::strategy::ValueTree;

    #[test]
    fn workload_request_is_allowed_at_every_depth() {
        let root = workload::capability(KeyId::new("k").unwrap());
        for depth in 0..=16 {
            let steps = workload::steps(depth);
            assert!(
                authorize(&root, &steps, &workload::request(depth)).is_ok(),
                "depth {depth}"
            );
            let reissued = steps
                .iter()
                .try_fold(root.clone(), |c, s| c.attenuate(s))
                .unwrap();
            assert!(reissued.authorizes(&workload::request(depth)).is_ok());
        }
        assert_eq!(workload::prefix(3), "/srv/data/p1/p2/p3/");
        // One step too shallow for the request's path.
        assert!(authorize(&root, &workload::steps(4), &workload::request(3)).is_err());
    }

    proptest! {
        /// Derived steps are accepted by strict re-issuance, so chains reach their depth.
        #[test]
        fn narrowing_steps_are_accepted(cap in capability(), seeds in prop::collection::vec(step_seed(), 0..4)) {
            let mut cur = cap;
            for seed in &seeds {
                if cur.max_depth == 0 { break; }
                let step = narrowing_step(&cur, seed);
                cur = cur.attenuate(&step).map_err(|e| TestCaseError::fail(format!("{e}: {step:?}")))?;
            }
        }
    }

    proptest! {
        /// Strict re-issuance and the reference authorizer agree on every chain
        /// that re-issuance accepts, hostile steps included; and no accepted
        /// child authorizes a request its parent denies.
        #[test]
        fn reissue_equals_chain_semantics(
            cap in capability(),
            seeds in prop::collection::vec((step_seed(), prop::option::weighted(0.3, hostile_step())), 0..4),
            rs in request_seed(),
        ) {
            let mut steps = Vec::new();
            let mut cur = cap.clone();
            for (seed, hostile) in &seeds {
                let step = hostile.clone().unwrap_or_else(|| narrowing_step(&cur, seed));
                let Ok(next) = cur.attenuate(&step) else { break };
                steps.push(step);
                let req = request_for(&cap, &steps, &rs);
                let chain = authorize(&cap, &steps, &req).is_ok();
                prop_assert_eq!(chain, next.authorizes(&req).is_ok());
                if chain {
                    // Delegation moves who may act; the action must stay inside the parent's.
                    let as_parent = Request { subject: cur.subject.principal.clone(), ..req };
                    prop_assert!(cur.authorizes(&as_parent).is_ok(), "child widened its parent");
                }
                cur = next;
            }
        }
    }

    /// Generated requests land on both sides of the reference authorizer.
    #[test]
    fn requests_hit_both_verdicts() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = (capability(), request_seed());
        let (mut allowed, mut denied) = (0, 0);
        for _ in 0..500 {
            let (cap, seed) = strategy.new_tree(&mut runner).unwrap().current();
            if authorize(&cap, &[], &request_for(&cap, &[], &seed)).is_ok() {
                allowed += 1;
            } else {
                denied += 1;
            }
        }
        assert!(
            allowed > 50 && denied > 50,
            "allowed {allowed}, denied {denied}"
        );
    }
}
