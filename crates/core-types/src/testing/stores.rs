//! The store conformance suite every store backend mounts with [`store_conformance_tests!`](crate::store_conformance_tests): revocation, lineage, nonces and holder keys, seen through several handles, under concurrency, and against the in-memory stores as a model (DESIGN.md §10).
//!
//! A backend is a [`StoreBackend`]: a store that hands out any number of
//! [`StoreHandle`]s onto the same data (in memory: shared references; on
//! SQLite: connections to one file; on PostgreSQL: connections to one
//! database). Each check is a function over a [`StoreSetup`], which makes fresh
//! stores, so that checks do not see each other's data.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "conformance checks are tests and fail by panicking"
)]

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::capability::{HolderKey, ParentRef, TokenId};
use crate::error::StoreError;
use crate::holder_keys::{HolderKeyRecord, HolderKeys, MemoryHolderKeys};
use crate::keyring::KeyState;
use crate::lineage::{
    LineageEntry, LineageHash, LineageIndex, MemoryLineageIndex, MemoryRevocationList,
    RevocationWriter,
};
use crate::possession::{Account, MemoryNonceStore, NonceStore, Reservation};
use crate::provider::Format;

/// One handle onto a store: the four store traits over the same data.
pub trait StoreHandle: Send + Sync {
    /// The revocation list, reading and writing.
    fn revocations(&self) -> &dyn RevocationWriter;
    /// The lineage index.
    fn lineage(&self) -> &dyn LineageIndex;
    /// The nonce store.
    fn nonces(&self) -> &dyn NonceStore;
    /// The holder-key directory.
    fn holder_keys(&self) -> &dyn HolderKeys;
}

/// A store under test, handing out handles onto the same data.
pub trait StoreBackend: Send + Sync {
    /// A new handle onto this store (a new connection, where there are connections).
    fn handle(&self) -> Box<dyn StoreHandle>;
}

/// How a backend's tests make stores.
#[derive(Clone, Copy, Debug)]
pub struct StoreSetup {
    /// A fresh, empty store whose nonce store holds at most `capacity` live
    /// nonces, and at most `quota` per account.
    pub fresh: fn(capacity: usize, quota: usize) -> Box<dyn StoreBackend>,
    /// A handle onto a store that has failed (a damaged file, a server gone):
    /// every operation must be an error.
    pub failed: fn() -> Box<dyn StoreHandle>,
}

impl StoreHandle for super::FailingStore {
    fn revocations(&self) -> &dyn RevocationWriter {
        self
    }
    fn lineage(&self) -> &dyn LineageIndex {
        self
    }
    fn nonces(&self) -> &dyn NonceStore {
        self
    }
    fn holder_keys(&self) -> &dyn HolderKeys {
        self
    }
}

/// Room enough for every check but the capacity ones.
const ROOMY: usize = 1 << 16;

/// The in-memory stores as a backend: every handle shares one set of stores.
#[derive(Clone, Debug)]
pub struct MemoryBackend(Arc<MemoryHandle>);

/// A handle onto a [`MemoryBackend`].
#[derive(Debug)]
pub struct MemoryHandle {
    revoked: MemoryRevocationList,
    index: MemoryLineageIndex,
    nonces: MemoryNonceStore,
    holder_keys: MemoryHolderKeys,
}

impl MemoryBackend {
    /// Fresh in-memory stores with this nonce capacity and quota.
    #[must_use]
    pub fn new(capacity: usize, quota: usize) -> Self {
        Self(Arc::new(MemoryHandle {
            revoked: MemoryRevocationList::new(),
            index: MemoryLineageIndex::new(),
            nonces: MemoryNonceStore::new(capacity, quota),
            holder_keys: MemoryHolderKeys::new(),
        }))
    }

    /// The [`StoreSetup`] of the in-memory stores.
    #[must_use]
    pub fn setup() -> StoreSetup {
        StoreSetup {
            fresh: |capacity, quota| Box::new(Self::new(capacity, quota)),
            // Memory cannot fail but by a poisoned lock: the failing stand-in.
            failed: || Box::new(super::FailingStore),
        }
    }
}

impl StoreHandle for Arc<MemoryHandle> {
    fn revocations(&self) -> &dyn RevocationWriter {
        &self.revoked
    }
    fn lineage(&self) -> &dyn LineageIndex {
        &self.index
    }
    fn nonces(&self) -> &dyn NonceStore {
        &self.nonces
    }
    fn holder_keys(&self) -> &dyn HolderKeys {
        &self.holder_keys
    }
}

impl StoreBackend for MemoryBackend {
    fn handle(&self) -> Box<dyn StoreHandle> {
        Box::new(Arc::clone(&self.0))
    }
}

fn hash(n: u64) -> LineageHash {
    let mut h = [0x11; 32];
    h[..8].copy_from_slice(&n.to_be_bytes());
    LineageHash(h)
}

fn token_id(n: u64) -> TokenId {
    let mut id = [0x22; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    TokenId(id)
}

fn nonce(n: u64) -> [u8; 16] {
    let mut b = [0x33; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b
}

fn scope(n: u8) -> HolderKey {
    HolderKey::Ed25519([n; 32])
}

fn account(n: u8) -> Account {
    Account::of(
        Format::new("hmac-v2"),
        &crate::KeyId::new("k1").unwrap(),
        &TokenId([n; 16]),
    )
}

const FORMAT: Format = Format::new("test-v1");

/// A chain of `len` lineage entries, root first: entry i has parent i - 1.
fn chain_entries(first: u64, len: u64) -> Vec<LineageEntry> {
    (first..first + len)
        .map(|i| {
            let parent = (i > first).then(|| ParentRef::new(FORMAT, token_id(i - 1), hash(i - 1)));
            LineageEntry::new(token_id(i), hash(i), parent, vec![i as u8; 40])
        })
        .collect()
}

/// Revocation: revoking is idempotent, `is_revoked` and `any_revoked` agree,
/// and a second handle sees a revocation at once.
pub fn revocations_are_shared_and_batched(s: &StoreSetup) {
    let store = (s.fresh)(ROOMY, ROOMY);
    let (a, b) = (store.handle(), store.handle());
    assert!(!a.revocations().is_revoked(&hash(1)).unwrap());
    assert!(!a.revocations().any_revoked(&[]).unwrap());
    a.revocations().revoke(hash(1)).unwrap();
    a.revocations().revoke(hash(1)).unwrap();
    for h in [&a, &b] {
        assert!(h.revocations().is_revoked(&hash(1)).unwrap());
        assert!(!h.revocations().is_revoked(&hash(2)).unwrap());
        assert!(
            h.revocations()
                .any_revoked(&[hash(2), hash(3), hash(1)])
                .unwrap()
        );
        assert!(!h.revocations().any_revoked(&[hash(2), hash(3)]).unwrap());
    }
    // A long chain's question: 600 hashes, the revoked one last.
    let mut many: Vec<LineageHash> = (100..700).map(hash).collect();
    assert!(!b.revocations().any_revoked(&many).unwrap());
    many.push(hash(1));
    assert!(b.revocations().any_revoked(&many).unwrap());
}

/// Lineage: a recorded entry reads back through any handle; recording it again
/// is a no-op; a different entry under its id is a conflict and changes
/// nothing; `ancestry` follows parents child first, up to `max`, and stops at
/// a root or a missing entry.
pub fn lineage_records_are_idempotent_and_walkable(s: &StoreSetup) {
    let store = (s.fresh)(ROOMY, ROOMY);
    let (a, b) = (store.handle(), store.handle());
    let chain = chain_entries(10, 6);
    for e in &chain {
        a.lineage().record(e.clone()).unwrap();
        a.lineage().record(e.clone()).unwrap();
    }
    let mut other = chain[2].clone();
    other.seal = vec![0xff; 3];
    assert!(matches!(
        a.lineage().record(other),
        Err(StoreError::Conflict(id)) if id == chain[2].token_id
    ));
    for h in [&a, &b] {
        for e in &chain {
            assert_eq!(h.lineage().get(&e.token_id).unwrap().as_ref(), Some(e));
        }
        assert_eq!(h.lineage().get(&token_id(999)).unwrap(), None);
        let leaf = chain.last().unwrap().token_id;
        let up: Vec<LineageEntry> = chain.iter().rev().cloned().collect();
        assert_eq!(h.lineage().ancestry(&leaf, 100).unwrap(), up);
        assert_eq!(h.lineage().ancestry(&leaf, 3).unwrap(), up[..3].to_vec());
        assert_eq!(h.lineage().ancestry(&leaf, 0).unwrap(), Vec::new());
        assert_eq!(
            h.lineage().ancestry(&token_id(999), 10).unwrap(),
            Vec::new()
        );
    }
    // A missing ancestor ends the walk there.
    let gap = chain_entries(50, 4);
    for e in gap.iter().skip(2) {
        a.lineage().record(e.clone()).unwrap();
    }
    assert_eq!(
        b.lineage().ancestry(&gap[3].token_id, 10).unwrap(),
        vec![gap[3].clone(), gap[2].clone()]
    );
}

/// Nonces: reserved once per scope, a replay through another handle is
/// refused, other scopes are independent, and an expired nonce is forgotten
/// only once the store needs its room.
pub fn nonces_are_reserved_once_across_handles(s: &StoreSetup) {
    let store = (s.fresh)(ROOMY, ROOMY);
    let (a, b) = (store.handle(), store.handle());
    let now = 1_000;
    let r = |h: &dyn StoreHandle, sc: u8, n: u64, keep: u64| {
        h.nonces()
            .reserve(&scope(sc), &nonce(n), keep, now, &account(1))
            .unwrap()
    };
    assert_eq!(r(&*a, 1, 1, now + 60), Reservation::Reserved);
    assert_eq!(r(&*a, 1, 1, now + 60), Reservation::Replayed);
    assert_eq!(r(&*b, 1, 1, now + 60), Reservation::Replayed);
    assert_eq!(r(&*b, 2, 1, now + 60), Reservation::Reserved);
    assert_eq!(r(&*a, 2, 1, now + 60), Reservation::Replayed);
    assert_eq!(r(&*b, 1, 2, now + 60), Reservation::Reserved);
}

/// Capacity: a full store refuses new nonces and evicts none of its live ones
/// (each still replays); once some have expired, their room is reused. The
/// per-account quota refuses one account without touching the others.
pub fn full_nonce_stores_refuse_without_evicting(s: &StoreSetup) {
    let capacity = 50;
    let store = (s.fresh)(capacity, capacity);
    let h = store.handle();
    let now = 1_000;
    for n in 0..capacity as u64 {
        // Half of them expire at now + 10, half at now + 1000.
        let keep = if n % 2 == 0 { now + 10 } else { now + 1000 };
        let got = h
            .nonces()
            .reserve(&scope(1), &nonce(n), keep, now, &account(n as u8 % 5));
        assert_eq!(got.unwrap(), Reservation::Reserved, "nonce {n}");
    }
    let extra = h
        .nonces()
        .reserve(&scope(1), &nonce(10_000), now + 60, now, &account(9));
    assert_eq!(extra.unwrap(), Reservation::Full);
    for n in 0..capacity as u64 {
        let again = h
            .nonces()
            .reserve(&scope(1), &nonce(n), now + 60, now, &account(9));
        assert_eq!(
            again.unwrap(),
            Reservation::Replayed,
            "live nonce {n} evicted"
        );
    }
    // Later, the short-lived half has expired: there is room again, and the
    // long-lived half still replays.
    let later = now + 11;
    let reused = h
        .nonces()
        .reserve(&scope(1), &nonce(10_000), later + 60, later, &account(9));
    assert_eq!(reused.unwrap(), Reservation::Reserved);
    for n in (1..capacity as u64).step_by(2) {
        let again = h
            .nonces()
            .reserve(&scope(1), &nonce(n), later + 60, later, &account(9));
        assert_eq!(
            again.unwrap(),
            Reservation::Replayed,
            "live nonce {n} evicted"
        );
    }
    // Quota: 3 per account.
    let store = (s.fresh)(ROOMY, 3);
    let h = store.handle();
    for n in 0..3 {
        let got = h
            .nonces()
            .reserve(&scope(1), &nonce(n), now + 60, now, &account(1));
        assert_eq!(got.unwrap(), Reservation::Reserved);
    }
    let over = h
        .nonces()
        .reserve(&scope(1), &nonce(3), now + 60, now, &account(1));
    assert_eq!(over.unwrap(), Reservation::Full);
    let other = h
        .nonces()
        .reserve(&scope(1), &nonce(3), now + 60, now, &account(2));
    assert_eq!(other.unwrap(), Reservation::Reserved);
}

/// Concurrency: threads with their own handles race to reserve the same
/// nonces; each is reserved exactly once.
pub fn nonce_reservation_is_exactly_once_under_threads(s: &StoreSetup) {
    const THREADS: usize = 4;
    const NONCES: u64 = 300;
    let store = (s.fresh)(ROOMY, ROOMY);
    let handles: Vec<Box<dyn StoreHandle>> = (0..THREADS).map(|_| store.handle()).collect();
    let reserved: Vec<u64> = std::thread::scope(|sc| {
        let workers: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(t, h)| {
                sc.spawn(move || {
                    let mut won = 0u64;
                    for i in 0..NONCES {
                        // Each thread walks the nonces from its own offset.
                        let n = (i + t as u64 * 37) % NONCES;
                        let r = h
                            .nonces()
                            .reserve(&scope(7), &nonce(n), 5_000, 1_000, &account(1));
                        if r.expect("a healthy store answers") == Reservation::Reserved {
                            won += 1;
                        }
                    }
                    won
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(reserved.iter().sum::<u64>(), NONCES, "{reserved:?}");
}

/// Holder keys: enrolled records read back through any handle; an identical
/// insert is a no-op, a different one is refused; states move forward only;
/// an unknown key cannot change state; a principal's keys list in key order.
pub fn holder_key_records_move_forward_only(s: &StoreSetup) {
    let store = (s.fresh)(ROOMY, ROOMY);
    let (a, b) = (store.handle(), store.handle());
    let laptop = HolderKeyRecord::new(scope(9), 100, 10_000);
    let phone = HolderKeyRecord::new(scope(3), 200, 20_000);
    a.holder_keys().insert("agent:a", laptop.clone()).unwrap();
    a.holder_keys().insert("agent:a", laptop.clone()).unwrap();
    a.holder_keys().insert("agent:a", phone.clone()).unwrap();
    a.holder_keys().insert("agent:b", phone.clone()).unwrap();
    let mut longer = laptop.clone();
    longer.not_after = 99_999;
    assert_eq!(
        a.holder_keys().insert("agent:a", longer),
        Err(StoreError::HolderKeyExists)
    );
    assert_eq!(
        b.holder_keys().get("agent:a", &scope(9)).unwrap(),
        Some(laptop.clone())
    );
    assert_eq!(b.holder_keys().get("agent:c", &scope(9)).unwrap(), None);
    assert_eq!(
        b.holder_keys().keys("agent:a").unwrap(),
        vec![phone.clone(), laptop.clone()]
    );
    b.holder_keys()
        .set_state("agent:a", &scope(9), KeyState::Retired { at: 5_000 })
        .unwrap();
    b.holder_keys()
        .set_state("agent:a", &scope(9), KeyState::Retired { at: 4_000 })
        .unwrap();
    assert!(matches!(
        a.holder_keys()
            .set_state("agent:a", &scope(9), KeyState::Retired { at: 6_000 }),
        Err(StoreError::StateRegression { .. })
    ));
    a.holder_keys()
        .set_state("agent:a", &scope(9), KeyState::Compromised { at: 4_500 })
        .unwrap();
    assert!(matches!(
        b.holder_keys()
            .set_state("agent:a", &scope(9), KeyState::Active),
        Err(StoreError::StateRegression { .. })
    ));
    assert_eq!(
        b.holder_keys()
            .get("agent:a", &scope(9))
            .unwrap()
            .unwrap()
            .state,
        KeyState::Compromised { at: 4_500 }
    );
    // The same key of another principal is another record.
    assert_eq!(
        b.holder_keys()
            .get("agent:b", &scope(3))
            .unwrap()
            .unwrap()
            .state,
        KeyState::Active
    );
    assert_eq!(
        a.holder_keys()
            .set_state("agent:z", &scope(9), KeyState::Compromised { at: 1 }),
        Err(StoreError::HolderKeyUnknown)
    );
    // A compromised record is never revived by inserting it again.
    assert_eq!(
        a.holder_keys().insert("agent:a", laptop),
        Err(StoreError::HolderKeyExists)
    );
}

/// A failed store answers every operation with an error: never an allow,
/// never "not revoked", never "reserved".
pub fn a_failed_store_fails_every_operation(s: &StoreSetup) {
    let h = (s.failed)();
    for op in [
        Op::Revoke(1),
        Op::IsRevoked(1),
        Op::AnyRevoked(vec![1, 2]),
        Op::Record(1, None, 0),
        Op::Get(1),
        Op::Ancestry(1, 3),
        Op::Reserve(0, 1, 0, 0),
        Op::Insert(0, 1, 0),
        Op::SetState(0, 1, 2, 0),
        Op::Keys(0),
    ] {
        let got = apply(&*h, &op);
        assert!(got.starts_with("Err("), "{op:?} on a failed store: {got}");
    }
}

/// One operation of the model-based property test.
#[derive(Clone, Debug)]
enum Op {
    Revoke(u8),
    IsRevoked(u8),
    AnyRevoked(Vec<u8>),
    Record(u8, Option<u8>, u8),
    Get(u8),
    Ancestry(u8, u8),
    Reserve(u8, u8, u8, u8),
    Insert(u8, u8, u8),
    SetState(u8, u8, u8, u8),
    Keys(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let small = 0u8..8;
    prop_oneof![
        small.clone().prop_map(Op::Revoke),
        small.clone().prop_map(Op::IsRevoked),
        prop::collection::vec(small.clone(), 0..5).prop_map(Op::AnyRevoked),
        (small.clone(), prop::option::of(small.clone()), 0u8..2)
            .prop_map(|(i, p, s)| Op::Record(i, p, s)),
        small.clone().prop_map(Op::Get),
        (small.clone(), 0u8..6).prop_map(|(i, m)| Op::Ancestry(i, m)),
        (0u8..2, small.clone(), 0u8..3, 0u8..4).prop_map(|(s, n, a, t)| Op::Reserve(s, n, a, t)),
        (0u8..2, 0u8..4, 0u8..2).prop_map(|(p, k, w)| Op::Insert(p, k, w)),
        (0u8..2, 0u8..4, 0u8..3, 0u8..3).prop_map(|(p, k, st, at)| Op::SetState(p, k, st, at)),
        (0u8..2).prop_map(Op::Keys),
    ]
}

/// Applies `op` to one handle; the observable outcome, as text.
fn apply(h: &dyn StoreHandle, op: &Op) -> String {
    let entry = |i: u8, parent: Option<u8>, seal: u8| {
        let parent = parent.map(|p| ParentRef::new(FORMAT, token_id(p.into()), hash(p.into())));
        LineageEntry::new(token_id(i.into()), hash(i.into()), parent, vec![seal; 8])
    };
    let principal = |p: u8| format!("agent:{p}");
    let state = |st: u8, at: u8| match st {
        0 => KeyState::Active,
        1 => KeyState::Retired {
            at: u64::from(at) * 100,
        },
        _ => KeyState::Compromised {
            at: u64::from(at) * 100,
        },
    };
    match op {
        Op::Revoke(i) => format!("{:?}", h.revocations().revoke(hash((*i).into()))),
        Op::IsRevoked(i) => format!("{:?}", h.revocations().is_revoked(&hash((*i).into()))),
        Op::AnyRevoked(is) => {
            let hs: Vec<LineageHash> = is.iter().map(|i| hash((*i).into())).collect();
            format!("{:?}", h.revocations().any_revoked(&hs))
        }
        Op::Record(i, p, seal) => format!("{:?}", h.lineage().record(entry(*i, *p, *seal))),
        Op::Get(i) => format!("{:?}", h.lineage().get(&token_id((*i).into()))),
        Op::Ancestry(i, max) => format!(
            "{:?}",
            h.lineage().ancestry(&token_id((*i).into()), (*max).into())
        ),
        Op::Reserve(sc, n, acc, t) => format!(
            "{:?}",
            h.nonces().reserve(
                &scope(*sc),
                &nonce((*n).into()),
                1_000 + u64::from(*t) * 10 + 15,
                1_000 + u64::from(*t) * 10,
                &account(*acc)
            )
        ),
        Op::Insert(p, k, w) => format!(
            "{:?}",
            h.holder_keys().insert(
                &principal(*p),
                HolderKeyRecord::new(scope(*k), 0, 1_000 + u64::from(*w))
            )
        ),
        Op::SetState(p, k, st, at) => format!(
            "{:?}",
            h.holder_keys()
                .set_state(&principal(*p), &scope(*k), state(*st, *at))
        ),
        Op::Keys(p) => format!("{:?}", h.holder_keys().keys(&principal(*p))),
    }
}

/// Random sequences of every operation, spread over two handles, give the
/// same outcomes as the in-memory stores (the model), with a small nonce
/// capacity and quota so that refusals happen too. Lineage loops (an entry
/// recorded as its own ancestor) are avoided: the model's walk and a
/// database's recursive query both stop at `max`, but only the latter would
/// be asked to.
pub fn behaves_like_the_memory_model(s: &StoreSetup) {
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let ops = prop::collection::vec((op(), any::<bool>()), 1..40);
    runner
        .run(&ops, |ops| {
            let store = (s.fresh)(6, 3);
            let handles = [store.handle(), store.handle()];
            let model = MemoryBackend::new(6, 3).handle();
            for (op, second) in &ops {
                let got = apply(&*handles[usize::from(*second)], op);
                let want = apply(&*model, op);
                prop_assert_eq!(&got, &want, "{:?}", op);
            }
            Ok(())
        })
        .unwrap();
}

/// Mounts every store check as a `#[test]` for a backend:
/// `captoken_core_types::store_conformance_tests!(captoken_core_types::testing::stores::MemoryBackend::setup());`
#[macro_export]
macro_rules! store_conformance_tests {
    ($setup:expr) => {
        $crate::store_conformance_tests!(@mount [$setup]
            revocations_are_shared_and_batched,
            lineage_records_are_idempotent_and_walkable,
            nonces_are_reserved_once_across_handles,
            full_nonce_stores_refuse_without_evicting,
            nonce_reservation_is_exactly_once_under_threads,
            holder_key_records_move_forward_only,
            behaves_like_the_memory_model,
            a_failed_store_fails_every_operation,
        );
    };
    (@mount [$setup:expr] $($check:ident,)*) => {
        $(
            #[test]
            fn $check() {
                $crate::testing::stores::$check(&$setup);
            }
        )*
    };
}
