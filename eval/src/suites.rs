//! The three invariant suites of DESIGN.md §6, written once and generic over every `Candidate`.
//!
//! Each suite is a proptest property run by a deterministic [`TestRunner`], so
//! that its case count is configurable, its result reproducible, and a failure
//! comes back shrunk to a minimal counterexample.

use captoken_core_types::possession::{MemoryNonceStore, Possession, PossessionSettings, Proof};
use captoken_core_types::reference::{authorize, authorize_chain};
use captoken_core_types::testing::{
    self, RequestSeed, StepSeed, generate, hostile_step, narrowing_step, request_for, request_seed,
    step_seed,
};
use captoken_core_types::{
    Attenuation, AttenuationMode, Capability, Constraint, Denied, DenyReason, Error, Grant,
    HolderSigningKey, LineageHash, LineageIndex, MemoryLineageIndex, MemoryRevocationList, Request,
    RevocationWriter, Subject, Token, TokenProvider, ToolRef, Value, Verified, VerifyContext,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::{Deserialize, Serialize};

use crate::candidate::Candidate;

/// One of the four suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// A token verifies only inside its authorized set; tampering and other keys deny.
    Binding,
    /// Verdicts along random and hostile chains equal the reference; children never widen.
    Attenuation,
    /// Ancestor hashes recovered from descendants; cold equals live; forgery and revocation deny.
    Lineage,
    /// `Path` constraints along random chains: verdicts equal the reference,
    /// and no path that leaves a granted directory is ever allowed.
    Path,
    /// Holder-bound chains (DESIGN.md §8): without the holder's key a token is
    /// useless; every wrong proof and every replay denies; a thief cannot
    /// re-delegate; verdicts equal the reference.
    Possession,
}

impl Suite {
    /// Every suite, in report order.
    pub const ALL: [Self; 5] = [
        Self::Binding,
        Self::Attenuation,
        Self::Lineage,
        Self::Path,
        Self::Possession,
    ];

    /// Lower-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Binding => "binding",
            Self::Attenuation => "attenuation",
            Self::Lineage => "lineage",
            Self::Path => "path",
            Self::Possession => "possession",
        }
    }
}

/// The result of running one suite against one candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The suite.
    pub suite: Suite,
    /// Cases run (all of them pass when `failure` is `None`).
    pub cases: u32,
    /// The shrunk counterexample and its message, when a case failed.
    pub failure: Option<String>,
}

/// Runs one suite for `cases` cases with a fixed seed: the same build gives the same result.
#[must_use]
pub fn run<C: Candidate>(suite: Suite, cases: u32) -> Outcome {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let failure = match suite {
        Suite::Binding => describe(runner.run(
            &(testing::capability(), request_seed(), any::<u32>()),
            |(root, rs, bit)| binding::<C>(&root, &rs, bit),
        )),
        Suite::Attenuation => describe(runner.run(
            &(testing::capability(), chain_ops(), request_seed()),
            |(root, ops, rs)| attenuation::<C>(&root, &ops, &rs),
        )),
        Suite::Lineage => describe(runner.run(
            &(
                testing::capability(),
                chain_ops(),
                request_seed(),
                any::<u8>(),
                any::<[u8; 32]>(),
            ),
            |(root, ops, rs, pick, forged)| {
                lineage::<C>(&root, &ops, &rs, pick, LineageHash(forged))
            },
        )),
        Suite::Path => describe(runner.run(
            &(
                testing::capability(),
                any::<u8>(),
                chain_ops(),
                prop::collection::vec(any::<u8>(), 0..4),
                request_seed(),
                any::<u8>(),
            ),
            |(root, dir, ops, step_dirs, rs, value)| {
                path::<C>(&root, dir, &ops, &step_dirs, &rs, value)
            },
        )),
        Suite::Possession => describe(runner.run(
            &(
                testing::capability(),
                chain_ops(),
                request_seed(),
                any::<bool>(),
            ),
            |(root, ops, rs, signed)| possession::<C>(&root, &ops, &rs, signed),
        )),
    };
    Outcome {
        suite,
        cases,
        failure,
    }
}

fn describe<T: std::fmt::Debug>(result: Result<(), TestError<T>>) -> Option<String> {
    match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, input)) => {
            Some(format!("{reason}\nminimal failing input: {input:#?}"))
        }
        Err(TestError::Abort(reason)) => Some(format!("aborted: {reason}")),
    }
}

/// One operation of a generated chain.
#[derive(Clone, Debug)]
pub enum Op {
    /// A step derived to narrow the current capability.
    Narrow(StepSeed),
    /// An arbitrary step that may ask for more than the parent has.
    Hostile(Attenuation),
    /// An earlier step again (duplicated or re-ordered).
    Repeat(u8),
}

fn chain_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => step_seed().prop_map(Op::Narrow),
            2 => hostile_step().prop_map(Op::Hostile),
            1 => any::<u8>().prop_map(Op::Repeat),
        ],
        0..6,
    )
}

/// Stores for one case: a revocation list and a lineage index holding every token issued.
struct Stores {
    revoked: MemoryRevocationList,
    index: MemoryLineageIndex,
}

impl Stores {
    fn new() -> Self {
        Self {
            revoked: MemoryRevocationList::new(),
            index: MemoryLineageIndex::new(),
        }
    }

    fn cold(&self) -> VerifyContext<'_> {
        VerifyContext::new(&self.revoked, &self.index)
    }

    fn record<P: TokenProvider>(&self, p: &P, token: &Token) -> Result<(), TestCaseError> {
        if let Some(entry) = p.index_entry(token).map_err(fail)? {
            self.index.record(entry).map_err(fail)?;
        }
        Ok(())
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// A chain as the provider built it: the steps it accepted and the tokens, root first.
struct Chain {
    steps: Vec<Attenuation>,
    tokens: Vec<Token>,
}

impl Chain {
    /// The ancestors of token `i`, parent first.
    fn ancestors(&self, i: usize) -> Vec<Token> {
        self.tokens.iter().take(i).rev().cloned().collect()
    }
}

/// Does appending `step` exhaust the delegation depth (so that the chain authorizes nothing)?
fn exhausts_depth(root: &Capability, steps: &[Attenuation], step: &Attenuation) -> bool {
    let mut all = steps.to_vec();
    all.push(step.clone());
    let any = Request {
        subject: String::new(),
        server: String::new(),
        tool: String::new(),
        args: Default::default(),
        now: 0,
    };
    authorize(root, &all, &any).err() == Some(DenyReason::DepthExceeded)
}

/// Builds a chain from `ops`. A provider may refuse a step only where strict
/// re-issuance refuses it or where it exhausts the depth; a re-issuing provider
/// must refuse every step strict re-issuance refuses.
fn build_chain<P: TokenProvider>(
    p: &P,
    stores: &Stores,
    root: &Capability,
    ops: &[Op],
) -> Result<Chain, TestCaseError> {
    let reissue = p.properties().attenuation == AttenuationMode::Reissue;
    let first = p.issue(root).map_err(fail)?;
    stores.record(p, &first)?;
    let mut chain = Chain {
        steps: Vec::new(),
        tokens: vec![first],
    };
    let mut current = root.clone();
    for op in ops {
        let step = match op {
            Op::Narrow(seed) => narrowing_step(&current, seed),
            Op::Hostile(step) => step.clone(),
            Op::Repeat(i) if !chain.steps.is_empty() => chain
                .steps
                .get(usize::from(*i) % chain.steps.len())
                .cloned()
                .unwrap_or_default(),
            Op::Repeat(_) => continue,
        };
        let strict = current.attenuate(&step);
        // An unsigned delegation away from a key-bound holder is refused by
        // every format (DESIGN.md §8).
        let unsigned = step.check_unsigned_from(&current.subject).is_err();
        let parent = chain.tokens.last().ok_or_else(|| fail("empty chain"))?;
        match p.attenuate(parent, &step) {
            Ok(token) => {
                prop_assert!(
                    !(reissue && strict.is_err()),
                    "a re-issuing provider accepted a step strict re-issuance refuses: {step:?}"
                );
                prop_assert!(
                    !unsigned,
                    "accepted an unsigned delegation away from a key-bound holder: {step:?}"
                );
                stores.record(p, &token)?;
                chain.tokens.push(token);
                current = match strict {
                    Ok(next) => next,
                    // An offline format accepted a step that asks for more: it only
                    // consumes depth (and may delegate); the rest is an intersection.
                    Err(_) => {
                        let mut next = current.clone();
                        next.max_depth = current
                            .max_depth
                            .saturating_sub(1)
                            .min(step.max_depth.unwrap_or(u32::MAX));
                        if let Some(to) = &step.delegate {
                            next.subject = to.clone();
                        }
                        next
                    }
                };
                chain.steps.push(step);
            }
            Err(e) => {
                prop_assert!(
                    strict.is_err() || exhausts_depth(root, &chain.steps, &step) || unsigned,
                    "refused a step strict re-issuance accepts: {e}: {step:?}"
                );
            }
        }
    }
    Ok(chain)
}

fn binding<C: Candidate>(
    root: &Capability,
    rs: &RequestSeed,
    bit: u32,
) -> Result<(), TestCaseError> {
    let p = C::provider(0);
    let stores = Stores::new();
    let token = p.issue(root).map_err(fail)?;
    let req = request_for(root, &[], rs);
    let want = authorize(root, &[], &req).is_ok();
    prop_assert_eq!(
        p.verify(&token, &req, &stores.cold()).is_ok(),
        want,
        "verdict differs from the reference for {:?}",
        req
    );
    // The same token in its text form.
    let text = p.parse_text(&p.to_text(&token)).map_err(fail)?;
    prop_assert_eq!(
        p.verify(&text, &req, &stores.cold()).is_ok(),
        want,
        "text form verdict differs"
    );
    // Any single bit flipped denies, whatever the request.
    let mut bytes = token.as_bytes().to_vec();
    let bits = u32::try_from(bytes.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(8)
        .max(1);
    let k = bit % bits;
    if let Some(byte) = bytes.get_mut(usize::try_from(k / 8).unwrap_or(usize::MAX)) {
        *byte ^= 1 << (k % 8);
    }
    let flipped = Token::new(p.format(), bytes);
    prop_assert!(
        p.verify(&flipped, &req, &stores.cold()).is_err(),
        "bit {} flipped still verifies",
        k
    );
    // Another issuer key of the same id denies.
    let other = C::provider(1);
    prop_assert!(
        other.verify(&token, &req, &stores.cold()).is_err(),
        "verified under another issuer key"
    );
    Ok(())
}

fn attenuation<C: Candidate>(
    root: &Capability,
    ops: &[Op],
    rs: &RequestSeed,
) -> Result<(), TestCaseError> {
    let p = C::provider(0);
    let stores = Stores::new();
    let chain = build_chain(&p, &stores, root, ops)?;
    let req = request_for(root, &chain.steps, rs);
    for (i, token) in chain.tokens.iter().enumerate() {
        let steps = chain.steps.get(..i).unwrap_or_default();
        let want = authorize(root, steps, &req).is_ok();
        let got = p.verify(token, &req, &stores.cold());
        prop_assert_eq!(
            got.is_ok(),
            want,
            "token {} of the chain: provider says {:?}",
            i,
            got.err()
        );
        if i > 0 && want {
            // The action is inside the parent's authority, for the parent's subject.
            let parent_steps = chain.steps.get(..i - 1).unwrap_or_default();
            let as_parent = Request {
                subject: generate::final_subject(root, parent_steps),
                ..req.clone()
            };
            let parent = chain
                .tokens
                .get(i - 1)
                .ok_or_else(|| fail("missing parent"))?;
            prop_assert!(
                p.verify(parent, &as_parent, &stores.cold()).is_ok(),
                "token {} authorizes an action its parent does not",
                i
            );
        }
    }
    Ok(())
}

/// The ancestor hashes recovered from a token, parent first: declared in the
/// token for offline formats, walked through the lineage index for re-issued ones.
fn recovered_ancestors<P: TokenProvider>(
    p: &P,
    token: &Token,
    index: &dyn LineageIndex,
) -> Result<Vec<LineageHash>, TestCaseError> {
    let inspection = p.inspect(token).map_err(fail)?;
    if p.properties().attenuation == AttenuationMode::Offline {
        return Ok(inspection.declared_parents);
    }
    let mut out = Vec::new();
    let mut next = inspection.capability.parent;
    while let Some(parent) = next {
        out.push(parent.hash);
        next = index.get(&parent.id).map_err(fail)?.and_then(|e| e.parent);
    }
    Ok(out)
}

fn lineage<C: Candidate>(
    root: &Capability,
    ops: &[Op],
    rs: &RequestSeed,
    pick: u8,
    forged: LineageHash,
) -> Result<(), TestCaseError> {
    let p = C::provider(0);
    let stores = Stores::new();
    let chain = build_chain(&p, &stores, root, ops)?;
    let hashes: Vec<LineageHash> = chain
        .tokens
        .iter()
        .map(|t| p.lineage_hash(t))
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    for (j, token) in chain.tokens.iter().enumerate() {
        let expected: Vec<LineageHash> = hashes.iter().take(j).rev().copied().collect();
        prop_assert_eq!(
            recovered_ancestors(&p, token, &stores.index)?,
            expected,
            "ancestors recovered from token {}",
            j
        );
    }
    let req = request_for(root, &chain.steps, rs);
    let leaf_at = chain.tokens.len() - 1;
    let leaf = chain.tokens.last().ok_or_else(|| fail("empty chain"))?;
    let ancestors = chain.ancestors(leaf_at);
    let cold = p
        .verify(leaf, &req, &stores.cold())
        .map_err(|d| d.reason().clone());
    let live = p
        .verify(leaf, &req, &stores.cold().with_ancestors(&ancestors))
        .map_err(|d| d.reason().clone());
    prop_assert_eq!(&cold, &live, "cold and live verification differ");
    prop_assert_eq!(cold.is_ok(), authorize(root, &chain.steps, &req).is_ok());

    // A child declaring a forged parent hash is denied, cold and live.
    // The forged child's own step only consumes depth, so only its lineage is wrong.
    if let Ok(child) = C::forge_parent(&p, leaf, &Attenuation::new(), forged) {
        stores.record(&p, &child)?;
        let mut with_leaf = vec![leaf.clone()];
        with_leaf.extend(ancestors.iter().cloned());
        let child_req = Request {
            subject: generate::final_subject(root, &chain.steps),
            ..req.clone()
        };
        prop_assert!(
            p.verify(&child, &child_req, &stores.cold()).is_err(),
            "forged parent hash accepted cold"
        );
        prop_assert!(
            p.verify(
                &child,
                &child_req,
                &stores.cold().with_ancestors(&with_leaf)
            )
            .is_err(),
            "forged parent hash accepted live"
        );
    }

    // Revoking one credential denies it and its descendants only.
    let k = usize::from(pick) % chain.tokens.len();
    let mut unrelated_root = root.clone();
    unrelated_root.id = captoken_core_types::TokenId([0xee; 16]);
    let unrelated = p.issue(&unrelated_root).map_err(fail)?;
    let unrelated_req = request_for(root, &[], rs);
    let unrelated_before = p.verify(&unrelated, &unrelated_req, &stores.cold()).is_ok();
    stores
        .revoked
        .revoke(*hashes.get(k).ok_or_else(|| fail("no hash"))?)
        .map_err(fail)?;
    for (j, token) in chain.tokens.iter().enumerate() {
        let steps = chain.steps.get(..j).unwrap_or_default();
        let r = request_for(root, steps, rs);
        let got = p
            .verify(token, &r, &stores.cold())
            .map_err(|d| d.reason().clone());
        if j >= k {
            prop_assert!(
                got.is_err(),
                "token {} descends from revoked token {} yet verifies",
                j,
                k
            );
        } else {
            prop_assert_eq!(
                got.is_ok(),
                authorize(root, steps, &r).is_ok(),
                "token {} is above the revoked one",
                j
            );
        }
    }
    prop_assert_eq!(
        p.verify(&unrelated, &unrelated_req, &stores.cold()).is_ok(),
        unrelated_before,
        "revocation touched an unrelated token"
    );
    Ok(())
}

/// Directories of the path suite's `Path` constraints.
const PATH_DIRS: [&str; 5] = ["/", "/srv/", "/srv/a/", "/srv/a/b", "/srv/a/b/"];
/// Values a request offers for the constrained path: inside the directories,
/// and every way out of them a tool's path resolution could take (dot and
/// empty segments, encoded dots in either case, backslashes, NUL, a trailing
/// slash, a sibling that shares the directory's bytes, a relative path).
const PATH_VALUES: [&str; 22] = [
    "/srv/a/..%2f..%2fetc/passwd",
    "/srv/a/%252e%252e/f",
    "/srv/a/.../f",
    "/srv/a/.. /f",
    "/srv/a/f",
    "/srv/a/b/f",
    "/srv/a/b/c/f",
    "/srv/f",
    "/srv/a/../f",
    "/srv/a/b/../../../etc/passwd",
    "/srv/a/./f",
    "/srv/a//f",
    "/srv/a/%2e%2e/f",
    "/srv/a/%2E%2e/f",
    "/srv/a/.%2e/f",
    "/srv/a\\..\\f",
    "/srv/a/f\0",
    "/srv/a/f/",
    "/srv/ab/f",
    "/srv/a",
    "/etc/passwd",
    "srv/a/f",
];

fn pick_str(pool: &[&'static str], i: u8) -> &'static str {
    pool.get(usize::from(i) % pool.len())
        .copied()
        .unwrap_or_default()
}

/// The path suite: every grant of `root` constrains the argument `p` to a
/// directory; random (narrowing and hostile) steps, and steps that constrain
/// `p` to other directories, build a chain; a request offers one of
/// [`PATH_VALUES`] for `p`. At every link the provider's verdict equals the
/// reference authorizer's, and an allowed request's path is a safe path
/// strictly under the root's directory and under every directory a step added.
fn path<C: Candidate>(
    root: &Capability,
    dir: u8,
    ops: &[Op],
    step_dirs: &[u8],
    rs: &RequestSeed,
    value: u8,
) -> Result<(), TestCaseError> {
    const ARG: &str = "p";
    let dir = pick_str(&PATH_DIRS, dir);
    let mut root = root.clone();
    root.grants = std::mem::take(&mut root.grants)
        .into_iter()
        .map(|g| g.with_arg(ARG, Constraint::Path(dir.into())))
        .collect();
    let tools: Vec<ToolRef> = root.grants.iter().map(Grant::tool_ref).collect();
    let mut all_ops = ops.to_vec();
    for (k, d) in step_dirs.iter().enumerate() {
        let mut step = Attenuation::new();
        for t in &tools {
            step = step.constrain(
                t.clone(),
                ARG,
                Constraint::Path(pick_str(&PATH_DIRS, *d).into()),
            );
        }
        all_ops.insert(k.min(all_ops.len()), Op::Hostile(step));
    }
    let p = C::provider(0);
    let stores = Stores::new();
    let chain = build_chain(&p, &stores, &root, &all_ops)?;
    let mut req = request_for(&root, &chain.steps, rs);
    // Now and then keep the generated (inside) value; mostly try one of the pool.
    if !value.is_multiple_of(4) {
        req.args
            .insert(ARG.into(), Value::from(pick_str(&PATH_VALUES, value / 4)));
    }
    for (i, token) in chain.tokens.iter().enumerate() {
        let steps = chain.steps.get(..i).unwrap_or_default();
        let want = authorize(&root, steps, &req).is_ok();
        let got = p.verify(token, &req, &stores.cold()).is_ok();
        prop_assert_eq!(
            got,
            want,
            "link {} verdict differs from the reference for {:?}",
            i,
            req
        );
        if got {
            let Some(Value::Str(v)) = req.args.get(ARG) else {
                return Err(fail("allowed without a string path"));
            };
            prop_assert!(
                resolves_under(v, dir),
                "link {} allows {:?} outside {:?}",
                i,
                v,
                dir
            );
            for step in steps {
                for c in &step.constraints {
                    if c.arg == ARG
                        && c.tool.server == req.server
                        && c.tool.tool == req.tool
                        && let Constraint::Path(d) = &c.constraint
                    {
                        prop_assert!(
                            resolves_under(v, d),
                            "link {} allows {:?} outside the step's {:?}",
                            i,
                            v,
                            d
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// An oracle independent of `core-types::path`: how a permissive tool might
/// resolve `value` (percent-decoding until nothing changes, backslashes as
/// separators, Windows trimming trailing dots and spaces, then `.` and `..`
/// resolved), and whether the result lies strictly under `dir`. A value it
/// cannot resolve (control characters, `..` above the root, relative) does not.
fn resolves_under(value: &str, dir: &str) -> bool {
    fn decode(s: &str) -> Option<String> {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            if c == b'%'
                && let Some(hex) = b.get(i + 1..i + 3)
                && let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16)
            {
                out.push(v);
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        }
        // Overlong UTF-8 (`%c0%ae`) is what some decoders turn into `.`.
        let lossy = String::from_utf8_lossy(&out).into_owned();
        Some(lossy.replace("\u{fffd}\u{fffd}", "."))
    }
    fn resolve(path: &str) -> Option<Vec<String>> {
        let mut s = path.to_owned();
        for _ in 0..4 {
            let next = decode(&s)?;
            if next == s {
                break;
            }
            s = next;
        }
        if s.chars().any(char::is_control) {
            return None;
        }
        let s = s.replace('\\', "/");
        let rest = s.strip_prefix('/')?;
        let mut out: Vec<String> = Vec::new();
        for seg in rest.split('/') {
            // Dots and spaces only: read, conservatively, as the dot segment
            // its dots make once trailing spaces and dots are trimmed.
            let seg = if seg.chars().all(|c| c == '.' || c == ' ') {
                match seg.chars().filter(|c| *c == '.').count() {
                    0 => "",
                    1 => ".",
                    _ => "..",
                }
            } else {
                seg
            };
            match seg {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                other => out.push(other.to_owned()),
            }
        }
        Some(out)
    }
    let (Some(v), Some(d)) = (resolve(value), resolve(dir)) else {
        return false;
    };
    v.len() > d.len() && v.starts_with(&d)
}

/// The verdict of `verify` against the reference's: for an offline format the
/// same verdict and reason; for a re-issued token (a capability of its own,
/// whose reasons are those of the flattened capability) the same verdict.
fn same_verdict(
    reissue: bool,
    got: &Result<Verified, Denied>,
    want: &Result<(), DenyReason>,
) -> bool {
    let got = got.as_ref().map(|_| ()).map_err(|d| d.reason().clone());
    if reissue {
        got.is_ok() == want.is_ok()
    } else {
        got == *want
    }
}

fn possession<C: Candidate>(
    root: &Capability,
    ops: &[Op],
    rs: &RequestSeed,
    signed: bool,
) -> Result<(), TestCaseError> {
    let p = C::provider(0);
    let reissue = p.properties().attenuation == AttenuationMode::Reissue;
    let stores = Stores::new();
    let holder = HolderSigningKey::from_seed(&[0x11; 32]);
    let sub = HolderSigningKey::from_seed(&[0x22; 32]);
    let thief = HolderSigningKey::from_seed(&[0x33; 32]);
    let mut root = root.clone();
    root.subject = Subject::bound_to_key(root.subject.principal.clone(), holder.public().clone());
    let mut chain = build_chain(&p, &stores, &root, ops)?;
    let mut key = &holder;
    let last = chain
        .tokens
        .last()
        .ok_or_else(|| fail("empty chain"))?
        .clone();
    // A thief holding the token but not the key cannot re-delegate it.
    let to_thief = Attenuation::new().delegate(Subject::new("agent:thief"));
    prop_assert!(
        p.attenuate(&last, &to_thief).is_err(),
        "unsigned re-delegation"
    );
    prop_assert!(
        p.attenuate_signed(&last, &to_thief, &thief).is_err(),
        "re-delegation signed by a thief"
    );
    if signed {
        // The holder hands the chain on to a sub-agent bound to its own key.
        let step =
            Attenuation::new().delegate(Subject::bound_to_key("agent:sub", sub.public().clone()));
        match p.attenuate_signed(&last, &step, &holder) {
            Ok(token) => {
                stores.record(&p, &token)?;
                chain.tokens.push(token);
                let mut read = step;
                read.signed_by = Some(holder.public().clone());
                chain.steps.push(read);
                key = &sub;
            }
            // Strict re-issuance at depth 0, or a format that cannot sign a step.
            Err(Error::Attenuation(_) | Error::Unsupported(_)) => {}
            Err(e) => return Err(fail(format!("signed delegation refused: {e}"))),
        }
    }
    let token = chain.tokens.last().ok_or_else(|| fail("empty chain"))?;
    let req = request_for(&root, &chain.steps, rs);
    let bearer = authorize(&root, &chain.steps, &req).map(|_| ());
    let settings = PossessionSettings::default();
    let with_proof = authorize_chain(&root, &chain.steps, &req).and_then(|_| {
        // A proof dated `now` so late that its nonce could never expire.
        req.now
            .checked_add(settings.ttl + settings.skew)
            .map(|_| ())
            .ok_or(DenyReason::ProofFutureDated)
    });
    // Without a proof: a stolen token is useless.
    let got = p.verify(token, &req, &stores.cold());
    prop_assert!(
        same_verdict(reissue, &got, &bearer),
        "without a proof: {:?}, reference {:?}",
        got,
        bearer
    );
    let hash = p.lineage_hash(token).map_err(fail)?;
    let nonces = MemoryNonceStore::default();
    let check = |proof: &Proof| {
        let ctx = stores
            .cold()
            .with_possession(Possession::new(&nonces).with_proof(proof));
        p.verify(token, &req, &ctx)
    };
    let sign = |nonce: u8, token: LineageHash, req: &Request, at: u64, key: &HolderSigningKey| {
        Proof::sign(token, req, [nonce; 16], at, key).map_err(fail)
    };
    let good = sign(0, hash, &req, req.now, key)?;
    let got = check(&good);
    prop_assert!(
        same_verdict(reissue, &got, &with_proof),
        "with the holder's proof: {:?}, reference {:?}",
        got,
        with_proof
    );
    if with_proof.is_err() {
        return Ok(());
    }
    let deny = |got: Result<Verified, Denied>| got.err().map(|d| d.reason().clone());
    prop_assert_eq!(deny(check(&good)), Some(DenyReason::ProofReplay));
    let mut other_tool = req.clone();
    other_tool.tool.push('x');
    let mut other_arg = req.clone();
    other_arg.args.insert("x-extra".into(), Value::Int(1));
    // Each wrong proof uses its own nonce (1, 2, …) in the holder's scope.
    let mut wrong = vec![
        (
            sign(1, hash, &req, req.now, &thief)?,
            DenyReason::ProofSender,
        ),
        (
            sign(2, LineageHash([0; 32]), &req, req.now, key)?,
            DenyReason::ProofBinding,
        ),
        (
            sign(3, hash, &other_tool, req.now, key)?,
            DenyReason::ProofBinding,
        ),
        (
            sign(4, hash, &other_arg, req.now, key)?,
            DenyReason::ProofBinding,
        ),
        (
            sign(5, hash, &req, req.now + settings.skew + 1, key)?,
            DenyReason::ProofFutureDated,
        ),
    ];
    if let Some(stale) = req.now.checked_sub(settings.ttl + 1) {
        wrong.push((sign(6, hash, &req, stale, key)?, DenyReason::ProofStale));
    }
    // A proof for another token of the same chain.
    if let Some(parent) = chain.tokens.iter().rev().nth(1) {
        let parent_hash = p.lineage_hash(parent).map_err(fail)?;
        wrong.push((
            sign(7, parent_hash, &req, req.now, key)?,
            DenyReason::ProofBinding,
        ));
    }
    for (proof, reason) in &wrong {
        prop_assert_eq!(deny(check(proof)), Some(reason.clone()), "{:?}", proof);
    }
    // None of them consumed its nonce: a right proof with it passes, once.
    for nonce in 1..=7 {
        let right = sign(nonce, hash, &req, req.now, key)?;
        prop_assert!(check(&right).is_ok(), "nonce {} was consumed", nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_oracle_resolves_escapes() {
        for (v, d, under) in [
            ("/srv/a/f", "/srv/a/", true),
            ("/srv/a/b/f", "/srv/a", true),
            ("/srv/a", "/srv/a/", false),
            ("/srv/ab/f", "/srv/a/", false),
            ("/srv/a/../f", "/srv/a/", false),
            ("/srv/a/..%2f..%2fetc/passwd", "/srv/a/", false),
            ("/srv/a/%252e%252e/f", "/srv/a/", false),
            ("/srv/a/%c0%ae%c0%ae/f", "/srv/a/", false),
            ("/srv/a/.. /f", "/srv/a/", false),
            ("/srv/a\\..\\f", "/srv/a/", false),
            ("srv/a/f", "/srv/a/", false),
            ("/srv/a/f\0", "/srv/a/", false),
        ] {
            assert_eq!(resolves_under(v, d), under, "{v:?} under {d:?}");
        }
    }

    /// Not vacuous: on generated cases the path suite allows some requests.
    #[test]
    fn the_path_suite_allows_some_requests() {
        use captoken_core_types::{Capability, KeyId, Request, TokenProvider};
        let p = crate::candidate::Hmac::provider(0);
        let cap = Capability::builder(KeyId::new(captoken_core_types::testing::KEY_ID).unwrap())
            .subject("agent:a")
            .valid_from(10)
            .for_secs(10)
            .grant(Grant::new("s", "t").with_arg("p", Constraint::Path("/srv/a/".into())))
            .build()
            .unwrap();
        let token = p.issue(&cap).unwrap();
        let stores = Stores::new();
        let allowed = PATH_VALUES
            .iter()
            .filter(|v| {
                let req = Request::new("agent:a", "s", "t", &captoken_core_types::FixedClock(12))
                    .with_arg("p", **v);
                let got = p.verify(&token, &req, &stores.cold()).is_ok();
                assert!(!got || resolves_under(v, "/srv/a/"), "{v:?}");
                got
            })
            .count();
        assert_eq!(allowed, 3, "the values strictly under /srv/a/");
    }
}
