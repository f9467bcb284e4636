//! Test support shared by every provider: proptest strategies for capabilities, chains and requests, and the DESIGN.md §7 reference workload.
//!
//! Enabled by the `testing` feature; not part of the production API.

use proptest::prelude::*;

use crate::attenuation::Attenuation;
use crate::capability::{Capability, Grant, KeyId, Subject, TokenId, ToolRef};
use crate::constraint::{Constraint, Value};
use crate::error::StoreError;
use crate::lineage::{LineageEntry, LineageHash, LineageIndex, RevocationList};
use crate::provider::{Denied, DenyReason, Token, TokenProvider, Verified};
use crate::request::{FixedClock, Request};

pub mod conformance;
pub mod generate;
pub mod key_sets;
pub mod stores;

use generate::Bytes;

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
            stores.record_index(p, t).expect("record the index row");
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

/// A revocation list and a lineage index for one test: the public
/// One key of a [`KeyPlan`]: its id, the seed its material is derived from
/// (each provider's test derives its own kind of key from it), and its state.
#[derive(Clone, Debug)]
pub struct PlannedKey {
    /// The key id.
    pub id: KeyId,
    /// The seed of the key material.
    pub seed: u8,
    /// The state it is put in.
    pub state: crate::keyring::KeyState,
}

/// A keyring described independently of the format, so that the conformance
/// suite can drive a rotation through any provider (its [`conformance::Setup::keyed`]).
#[derive(Clone, Debug, Default)]
pub struct KeyPlan {
    /// The keys, in insertion order.
    pub keys: Vec<PlannedKey>,
    /// The signing key, if any.
    pub signing: Option<KeyId>,
}

impl KeyPlan {
    /// Builds the keyring: inserts every key active, switches signing, then
    /// applies the states.
    ///
    /// # Errors
    /// The keyring's refusal (duplicate ids, a retired signing key, ...).
    pub fn build<K: crate::keyring::KeyMaterial>(
        &self,
        make: impl Fn(&KeyId, u8) -> Result<K, crate::error::KeyError>,
    ) -> Result<crate::keyring::Keyring<K>, crate::error::KeyError> {
        let mut ring = crate::keyring::Keyring::new();
        for k in &self.keys {
            ring.insert(make(&k.id, k.seed)?)?;
        }
        if let Some(id) = &self.signing {
            ring.switch_signing(id)?;
        }
        for k in &self.keys {
            if k.state != crate::keyring::KeyState::Active {
                ring.set_state(&k.id, k.state)?;
            }
        }
        Ok(ring)
    }
}

/// [`MemoryStores`](crate::MemoryStores), under the name the suites use.
pub use crate::lineage::MemoryStores as Stores;

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

impl crate::lineage::RevocationWriter for FailingStore {
    fn revoke(&self, _: LineageHash) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }
}

impl RevocationList for FailingStore {
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

impl crate::possession::NonceStore for FailingStore {
    fn reserve(
        &self,
        _: &crate::HolderKey,
        _: &[u8; 16],
        _: u64,
        _: u64,
        _: &crate::possession::Account,
    ) -> Result<crate::possession::Reservation, StoreError> {
        Err(StoreError::Backend("down".into()))
    }
}

impl crate::holder_keys::HolderKeys for FailingStore {
    fn get(
        &self,
        _: &str,
        _: &crate::HolderKey,
    ) -> Result<Option<crate::HolderKeyRecord>, StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    fn insert(&self, _: &str, _: crate::HolderKeyRecord) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    fn set_state(
        &self,
        _: &str,
        _: &crate::HolderKey,
        _: crate::KeyState,
    ) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    fn keys(&self, _: &str) -> Result<Vec<crate::HolderKeyRecord>, StoreError> {
        Err(StoreError::Backend("down".into()))
    }
}

pub use generate::{KEY_ID, T0};

/// The byte strings proptest draws for one generated value; shrinking them
/// shrinks the value towards the first choice of every pool.
fn seed_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..96)
}

/// A value from the pools ([`generate::value`]).
pub fn value() -> impl Strategy<Value = Value> {
    seed_bytes().prop_map(|b| generate::value(&mut Bytes::new(&b)))
}

/// A constraint of any kind over the pools ([`generate::constraint`]).
pub fn constraint() -> impl Strategy<Value = Constraint> {
    seed_bytes().prop_map(|b| generate::constraint(&mut Bytes::new(&b)))
}

/// A grant on a pooled tool ([`generate::grant`]).
pub fn grant() -> impl Strategy<Value = Grant> {
    seed_bytes().prop_map(|b| generate::grant(&mut Bytes::new(&b)))
}

/// A root capability issued under [`KEY_ID`] with times around [`T0`] ([`generate::capability`]).
pub fn capability() -> impl Strategy<Value = Capability> {
    prop::collection::vec(any::<u8>(), 16..160)
        .prop_map(|b| generate::capability(&mut Bytes::new(&b)))
}

/// An arbitrary step over the pools: it may ask for anything, including more
/// than its parent has (a hostile step; [`generate::hostile_step`]).
pub fn hostile_step() -> impl Strategy<Value = Attenuation> {
    seed_bytes().prop_map(|b| generate::hostile_step(&mut Bytes::new(&b)))
}

/// Random choices from which [`narrowing_step`] derives a step that narrows a given capability.
#[derive(Clone, Debug)]
pub struct StepSeed(Vec<u8>);

/// Seeds for [`narrowing_step`].
pub fn step_seed() -> impl Strategy<Value = StepSeed> {
    seed_bytes().prop_map(StepSeed)
}

/// A step derived from `seed` that every re-issuing issuer accepts for `cap`
/// (when `cap.max_depth > 0`; [`generate::narrowing_step`]).
#[must_use]
pub fn narrowing_step(cap: &Capability, seed: &StepSeed) -> Attenuation {
    generate::narrowing_step(&mut Bytes::new(&seed.0), cap)
}

/// Random choices from which [`request_for`] derives a request near a chain's authorized set.
#[derive(Clone, Debug)]
pub struct RequestSeed(Vec<u8>);

/// Seeds for [`request_for`].
pub fn request_seed() -> impl Strategy<Value = RequestSeed> {
    seed_bytes().prop_map(RequestSeed)
}

/// A request derived from `seed` near the authorized set of `root` attenuated
/// by `steps` ([`generate::request_near`]).
#[must_use]
pub fn request_for(root: &Capability, steps: &[Attenuation], seed: &RequestSeed) -> Request {
    generate::request_near(&mut Bytes::new(&seed.0), root, steps)
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
