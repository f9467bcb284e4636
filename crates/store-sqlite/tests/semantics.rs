//! Every store operation of `SqliteStore` against the in-memory stores of
//! `captoken-core-types`: targeted cases, then long pseudo-random sequences
//! run on both and compared answer by answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use captoken_core_types::possession::Reservation;
use captoken_core_types::{
    Format, HolderKeyRecord, HolderKeys, KeyState, LineageEntry, LineageHash, LineageIndex,
    MemoryHolderKeys, MemoryLineageIndex, MemoryNonceStore, MemoryRevocationList, NonceStore,
    ParentRef, RevocationList, RevocationWriter, StoreError, TokenId,
};
use captoken_store_sqlite::{SqliteOptions, SqliteStore};
use common::{Rng, TempDb, account, holder};

const FORMAT: Format = Format::new("hmac-v2");

fn entry(id: u8, parent: Option<u8>) -> LineageEntry {
    LineageEntry::new(
        TokenId([id; 16]),
        LineageHash([id.wrapping_add(100); 32]),
        parent.map(|p| {
            ParentRef::new(
                FORMAT,
                TokenId([p; 16]),
                LineageHash([p.wrapping_add(100); 32]),
            )
        }),
        vec![id, 1, 2, 3],
    )
}

fn store(tag: &str) -> (TempDb, SqliteStore) {
    let db = TempDb::new(tag);
    let s = db.create(SqliteOptions::default());
    (db, s)
}

#[test]
fn revocations_are_remembered_and_asked_in_batches() {
    let (_db, s) = store("revoke");
    let h = LineageHash([7; 32]);
    assert!(!s.is_revoked(&h).unwrap());
    assert!(!s.any_revoked(&[]).unwrap());
    s.revoke(h).unwrap();
    s.revoke(h).unwrap(); // twice is a no-op
    assert!(s.is_revoked(&h).unwrap());
    assert!(!s.is_revoked(&LineageHash([8; 32])).unwrap());
    assert!(s.any_revoked(&[LineageHash([1; 32]), h]).unwrap());
    assert!(
        !s.any_revoked(&[LineageHash([1; 32]), LineageHash([2; 32])])
            .unwrap()
    );
    // Longer than one query's chunk, the revoked hash in the last chunk.
    let mut many: Vec<LineageHash> = (0..1200u32)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_be_bytes());
            b[31] = 0xee;
            LineageHash(b)
        })
        .collect();
    assert!(!s.any_revoked(&many).unwrap());
    many[1100] = h;
    assert!(s.any_revoked(&many).unwrap());
    many[1100] = LineageHash([9; 32]);
    many[0] = h;
    assert!(s.any_revoked(&many).unwrap());
}

#[test]
fn lineage_records_once_and_refuses_conflicts() {
    let (_db, s) = store("lineage");
    let e = entry(1, None);
    s.record(e.clone()).unwrap();
    s.record(e.clone()).unwrap();
    for other in [
        LineageEntry::new(e.token_id, LineageHash([3; 32]), None, e.seal.clone()),
        LineageEntry::new(e.token_id, e.hash, None, vec![9]),
        LineageEntry::new(
            e.token_id,
            e.hash,
            Some(ParentRef::new(
                FORMAT,
                TokenId([2; 16]),
                LineageHash([2; 32]),
            )),
            e.seal.clone(),
        ),
    ] {
        assert_eq!(s.record(other), Err(StoreError::Conflict(e.token_id)));
    }
    assert_eq!(LineageIndex::get(&s, &e.token_id).unwrap(), Some(e));
    assert_eq!(LineageIndex::get(&s, &TokenId([9; 16])).unwrap(), None);
    // A parent of another format round-trips.
    let child = LineageEntry::new(
        TokenId([2; 16]),
        LineageHash([2; 32]),
        Some(ParentRef::new(
            Format::new("paseto-v4"),
            TokenId([1; 16]),
            LineageHash([101; 32]),
        )),
        Vec::new(),
    );
    s.record(child.clone()).unwrap();
    assert_eq!(LineageIndex::get(&s, &child.token_id).unwrap(), Some(child));
}

#[test]
fn ancestry_follows_parents_child_first_within_max() {
    let (_db, s) = store("ancestry");
    let mem = MemoryLineageIndex::new();
    // 1 <- 2 <- 3 <- 4 <- 5, and 7 whose parent 6 is not recorded, and 8 its own parent.
    let rows = [
        entry(1, None),
        entry(2, Some(1)),
        entry(3, Some(2)),
        entry(4, Some(3)),
        entry(5, Some(4)),
        entry(7, Some(6)),
        entry(8, Some(8)),
    ];
    for r in &rows {
        s.record(r.clone()).unwrap();
        mem.record(r.clone()).unwrap();
    }
    let ids = |v: Vec<LineageEntry>| v.iter().map(|e| e.token_id.0[0]).collect::<Vec<_>>();
    assert_eq!(
        ids(s.ancestry(&TokenId([5; 16]), 16).unwrap()),
        [5, 4, 3, 2, 1]
    );
    assert_eq!(ids(s.ancestry(&TokenId([5; 16]), 2).unwrap()), [5, 4]);
    assert_eq!(ids(s.ancestry(&TokenId([3; 16]), 3).unwrap()), [3, 2, 1]);
    assert_eq!(ids(s.ancestry(&TokenId([7; 16]), 16).unwrap()), [7]);
    assert_eq!(ids(s.ancestry(&TokenId([8; 16]), 4).unwrap()), [8, 8, 8, 8]);
    assert!(s.ancestry(&TokenId([5; 16]), 0).unwrap().is_empty());
    assert!(s.ancestry(&TokenId([6; 16]), 16).unwrap().is_empty());
    for id in 0..10u8 {
        // A cycle is followed until `max`: no unbounded `max` for id 8.
        let unbounded = if id == 8 { 100 } else { usize::MAX };
        for max in [0, 1, 2, 3, 5, 6, 100, unbounded] {
            assert_eq!(
                s.ancestry(&TokenId([id; 16]), max).unwrap(),
                mem.ancestry(&TokenId([id; 16]), max).unwrap(),
                "id {id}, max {max}"
            );
        }
    }
}

#[test]
fn lineage_matches_memory_on_random_operations() {
    let (_db, s) = store("lineage-diff");
    let mem = MemoryLineageIndex::new();
    let mut rng = Rng::new(11);
    for step in 0..600 {
        let id = rng.below(24) as u8;
        match rng.below(3) {
            0 => {
                let parent = match rng.below(3) {
                    0 => None,
                    _ => Some(rng.below(24) as u8),
                };
                let mut e = entry(id, parent);
                if rng.below(4) == 0 {
                    e.seal.push(rng.below(2) as u8);
                }
                assert_eq!(s.record(e.clone()), mem.record(e), "step {step}");
            }
            1 => assert_eq!(
                LineageIndex::get(&s, &TokenId([id; 16])).unwrap(),
                mem.get(&TokenId([id; 16])).unwrap(),
                "step {step}"
            ),
            _ => {
                let max = rng.below(30) as usize;
                assert_eq!(
                    s.ancestry(&TokenId([id; 16]), max).unwrap(),
                    mem.ancestry(&TokenId([id; 16]), max).unwrap(),
                    "step {step}"
                );
            }
        }
    }
}

#[test]
fn revocations_match_memory_on_random_operations() {
    let (_db, s) = store("revoke-diff");
    let mem = MemoryRevocationList::new();
    let mut rng = Rng::new(5);
    for step in 0..400 {
        let h = LineageHash([rng.below(40) as u8; 32]);
        match rng.below(3) {
            0 => assert_eq!(s.revoke(h), mem.revoke(h)),
            1 => assert_eq!(s.is_revoked(&h), mem.is_revoked(&h), "step {step}"),
            _ => {
                let batch: Vec<_> = (0..rng.below(6))
                    .map(|_| LineageHash([rng.below(40) as u8; 32]))
                    .collect();
                assert_eq!(
                    s.any_revoked(&batch),
                    mem.any_revoked(&batch),
                    "step {step}"
                );
            }
        }
    }
}

#[test]
fn a_nonce_is_reserved_once_until_it_expires() {
    let (_db, s) = store("nonce");
    let (k, a) = (holder(1), account(1));
    assert_eq!(
        s.reserve(&k, &[1; 16], 100, 10, &a),
        Ok(Reservation::Reserved)
    );
    assert_eq!(
        s.reserve(&k, &[1; 16], 100, 10, &a),
        Ok(Reservation::Replayed)
    );
    // Another account does not make it new; the same moment as keep_until is still live.
    assert_eq!(
        s.reserve(&k, &[1; 16], 200, 100, &account(2)),
        Ok(Reservation::Replayed)
    );
    // Another scope is another nonce.
    assert_eq!(
        s.reserve(&holder(2), &[1; 16], 100, 10, &a),
        Ok(Reservation::Reserved)
    );
    // Expired: it may be reserved again, and is then live again.
    assert_eq!(
        s.reserve(&k, &[1; 16], 300, 101, &a),
        Ok(Reservation::Reserved)
    );
    assert_eq!(
        s.reserve(&k, &[1; 16], 300, 250, &a),
        Ok(Reservation::Replayed)
    );
}

#[test]
fn a_full_nonce_store_refuses_without_evicting_and_expiry_frees_room() {
    let db = TempDb::new("nonce-full");
    let s = db.create(SqliteOptions::default().with_nonce_bounds(4, 100));
    let k = holder(1);
    for i in 0..4u8 {
        let a = account(i);
        assert_eq!(
            s.reserve(&k, &[i; 16], 100 + u64::from(i), 10, &a),
            Ok(Reservation::Reserved)
        );
    }
    assert_eq!(
        s.reserve(&k, &[9; 16], 500, 10, &account(9)),
        Ok(Reservation::Full)
    );
    // Nothing was evicted: every live nonce is still a replay.
    for i in 0..4u8 {
        assert_eq!(
            s.reserve(&k, &[i; 16], 500, 50, &account(i)),
            Ok(Reservation::Replayed)
        );
    }
    assert_eq!(
        s.reserve(&k, &[9; 16], 500, 100, &account(9)),
        Ok(Reservation::Full)
    );
    // At 101 the first nonce (kept until 100) has expired: room for one.
    assert_eq!(
        s.reserve(&k, &[9; 16], 500, 101, &account(9)),
        Ok(Reservation::Reserved)
    );
    assert_eq!(
        s.reserve(&k, &[10; 16], 500, 101, &account(9)),
        Ok(Reservation::Full)
    );
    for i in 1..4u8 {
        assert_eq!(
            s.reserve(&k, &[i; 16], 500, 101, &account(i)),
            Ok(Reservation::Replayed)
        );
    }
    // Much later everything but [9] has expired.
    for n in 20..23u8 {
        assert_eq!(
            s.reserve(&k, &[n; 16], 900, 400, &account(n)),
            Ok(Reservation::Reserved)
        );
    }
    assert_eq!(
        s.reserve(&k, &[30; 16], 900, 400, &account(1)),
        Ok(Reservation::Full)
    );
}

#[test]
fn the_per_credential_quota_binds_one_account_only() {
    let db = TempDb::new("nonce-quota");
    let s = db.create(SqliteOptions::default().with_nonce_bounds(1000, 2));
    let (k, a, b) = (holder(1), account(1), account(2));
    assert_eq!(
        s.reserve(&k, &[1; 16], 50, 10, &a),
        Ok(Reservation::Reserved)
    );
    assert_eq!(
        s.reserve(&k, &[2; 16], 100, 10, &a),
        Ok(Reservation::Reserved)
    );
    assert_eq!(s.reserve(&k, &[3; 16], 100, 10, &a), Ok(Reservation::Full));
    assert_eq!(
        s.reserve(&k, &[3; 16], 100, 10, &b),
        Ok(Reservation::Reserved)
    );
    // Once the account's first nonce expired it has room again.
    assert_eq!(
        s.reserve(&k, &[4; 16], 100, 51, &a),
        Ok(Reservation::Reserved)
    );
    assert_eq!(s.reserve(&k, &[5; 16], 100, 51, &a), Ok(Reservation::Full));
    assert_eq!(
        s.reserve(&k, &[2; 16], 100, 51, &a),
        Ok(Reservation::Replayed)
    );
}

#[test]
fn nonces_match_memory_on_random_operations() {
    let mut seen = [0usize; 3];
    for (seed, capacity, quota) in [(1, 8, 3), (2, 5, 5), (3, 20, 2), (4, 1, 1), (5, 0, 4)] {
        let db = TempDb::new("nonce-diff");
        let s = db.create(SqliteOptions::default().with_nonce_bounds(capacity, quota));
        let mem = MemoryNonceStore::new(capacity, quota);
        let mut rng = Rng::new(seed);
        let mut now = 1_000u64;
        for step in 0..1500 {
            now += rng.below(3);
            let scope = holder(rng.below(3) as u8);
            let nonce = [rng.below(6) as u8; 16];
            let acct = account(rng.below(3) as u8);
            let keep_until = now + rng.below(8);
            let got = s.reserve(&scope, &nonce, keep_until, now, &acct);
            assert_eq!(
                got,
                mem.reserve(&scope, &nonce, keep_until, now, &acct),
                "seed {seed}, step {step}"
            );
            seen[match got.unwrap() {
                Reservation::Reserved => 0,
                Reservation::Replayed => 1,
                _ => 2,
            }] += 1;
        }
    }
    // The sequences reach every answer.
    assert!(
        seen.iter().all(|n| *n > 50),
        "reserved, replayed, full: {seen:?}"
    );
}

/// Every `u64` time round-trips and keeps its order, `u64::MAX` ("never")
/// and times beyond `i64::MAX` included.
#[test]
fn every_u64_time_round_trips_in_order() {
    let (_db, s) = store("times");
    let big = u64::try_from(i64::MAX).unwrap() + 1;
    // A nonce kept until `big` is live at `big - 1`, and expired at `u64::MAX`.
    assert_eq!(
        s.reserve(&holder(1), &[1; 16], big, big - 1, &account(1)),
        Ok(Reservation::Reserved)
    );
    assert_eq!(
        s.reserve(&holder(1), &[1; 16], u64::MAX, big - 1, &account(1)),
        Ok(Reservation::Replayed)
    );
    let forever = HolderKeyRecord::new(holder(1), 0, u64::MAX);
    s.insert("agent:a", forever.clone()).unwrap();
    assert_eq!(
        HolderKeys::get(&s, "agent:a", &holder(1)).unwrap(),
        Some(forever.clone())
    );
    let mut r = HolderKeyRecord::new(holder(2), big, u64::MAX);
    s.insert("agent:a", r.clone()).unwrap();
    r.state = KeyState::Retired { at: u64::MAX };
    s.set_state("agent:a", &holder(2), r.state).unwrap();
    r.state = KeyState::Retired { at: big };
    s.set_state("agent:a", &holder(2), r.state).unwrap();
    assert_eq!(HolderKeys::get(&s, "agent:a", &holder(2)).unwrap(), Some(r));
    // Order survives the mapping: a later retirement is a regression.
    assert!(matches!(
        s.set_state("agent:a", &holder(2), KeyState::Retired { at: big + 1 }),
        Err(StoreError::StateRegression { .. })
    ));
    assert_eq!(
        s.keys("agent:a")
            .unwrap()
            .into_iter()
            .map(|r| r.not_after)
            .collect::<Vec<_>>(),
        vec![u64::MAX, u64::MAX]
    );
}

#[test]
fn holder_keys_enrol_once_and_move_forward_only() {
    let (_db, s) = store("holder");
    const P: &str = "agent:a";
    let r = HolderKeyRecord::new(holder(1), 10, 20);
    assert_eq!(HolderKeys::get(&s, P, &holder(1)).unwrap(), None);
    s.insert(P, r.clone()).unwrap();
    s.insert(P, r.clone()).unwrap();
    assert_eq!(
        s.insert(P, HolderKeyRecord::new(holder(1), 10, 21)),
        Err(StoreError::HolderKeyExists)
    );
    assert_eq!(HolderKeys::get(&s, P, &holder(1)).unwrap(), Some(r.clone()));
    // Another principal's set is separate.
    assert_eq!(HolderKeys::get(&s, "agent:b", &holder(1)).unwrap(), None);
    s.insert("agent:b", HolderKeyRecord::new(holder(1), 0, 5))
        .unwrap();
    assert_eq!(
        s.set_state(P, &holder(9), KeyState::Active),
        Err(StoreError::HolderKeyUnknown)
    );
    s.set_state(P, &holder(1), KeyState::Retired { at: 15 })
        .unwrap();
    s.set_state(P, &holder(1), KeyState::Retired { at: 12 })
        .unwrap();
    assert_eq!(
        s.set_state(P, &holder(1), KeyState::Retired { at: 13 }),
        Err(StoreError::StateRegression {
            from: KeyState::Retired { at: 12 },
            to: KeyState::Retired { at: 13 }
        })
    );
    assert_eq!(
        s.set_state(P, &holder(1), KeyState::Active),
        Err(StoreError::StateRegression {
            from: KeyState::Retired { at: 12 },
            to: KeyState::Active
        })
    );
    s.set_state(P, &holder(1), KeyState::Compromised { at: 11 })
        .unwrap();
    s.set_state(P, &holder(1), KeyState::Compromised { at: 99 })
        .unwrap();
    assert_eq!(
        HolderKeys::get(&s, P, &holder(1)).unwrap().unwrap().state,
        KeyState::Compromised { at: 11 }
    );
    // A changed state makes the enrolled record differ from the original.
    assert_eq!(s.insert(P, r), Err(StoreError::HolderKeyExists));
    assert_eq!(
        HolderKeys::get(&s, "agent:b", &holder(1))
            .unwrap()
            .unwrap()
            .state,
        KeyState::Active
    );
}

#[test]
fn holder_keys_are_listed_sorted_by_key() {
    let (_db, s) = store("holder-keys");
    for seed in [9u8, 3, 200, 1, 77] {
        s.insert("agent:a", HolderKeyRecord::new(holder(seed), 0, 10))
            .unwrap();
    }
    s.insert("agent:b", HolderKeyRecord::new(holder(5), 0, 10))
        .unwrap();
    let keys: Vec<_> = s
        .keys("agent:a")
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, [1u8, 3, 9, 77, 200].map(holder));
    assert_eq!(s.keys("agent:c").unwrap(), []);
}

#[test]
fn a_full_directory_refuses_without_evicting() {
    let db = TempDb::new("holder-full");
    let s = db.create(SqliteOptions::default().with_holder_key_capacity(2));
    s.insert("agent:a", HolderKeyRecord::new(holder(1), 0, 10))
        .unwrap();
    s.insert("agent:b", HolderKeyRecord::new(holder(2), 0, 10))
        .unwrap();
    assert_eq!(
        s.insert("agent:a", HolderKeyRecord::new(holder(3), 0, 10)),
        Err(StoreError::Full)
    );
    // The identical record again takes no room; a different one is still "exists".
    s.insert("agent:a", HolderKeyRecord::new(holder(1), 0, 10))
        .unwrap();
    assert_eq!(
        s.insert("agent:a", HolderKeyRecord::new(holder(1), 0, 11)),
        Err(StoreError::HolderKeyExists)
    );
    assert_eq!(s.keys("agent:a").unwrap().len(), 1);
    assert_eq!(s.keys("agent:b").unwrap().len(), 1);
    assert_eq!(HolderKeys::get(&s, "agent:a", &holder(3)).unwrap(), None);
}

#[test]
fn holder_keys_match_memory_on_random_operations() {
    let db = TempDb::new("holder-diff");
    let s = db.create(SqliteOptions::default().with_holder_key_capacity(12));
    let mem = MemoryHolderKeys::with_capacity(12);
    let principals = ["agent:a", "agent:b", "agent:c"];
    let mut rng = Rng::new(21);
    let state = |rng: &mut Rng| match rng.below(3) {
        0 => KeyState::Active,
        1 => KeyState::Retired { at: rng.below(50) },
        _ => KeyState::Compromised { at: rng.below(50) },
    };
    let mut errors = std::collections::HashSet::new();
    for step in 0..1500 {
        let p = principals[rng.below(3) as usize];
        let key = holder(rng.below(8) as u8);
        match rng.below(4) {
            0 => {
                let mut r = HolderKeyRecord::new(key, rng.below(3), 10 + rng.below(2));
                if rng.below(4) == 0 {
                    r.state = state(&mut rng);
                }
                let got = s.insert(p, r.clone());
                assert_eq!(got, mem.insert(p, r), "step {step}");
                errors.insert(format!("{:?}", got.err()));
            }
            1 => {
                let st = state(&mut rng);
                let got = s.set_state(p, &key, st);
                assert_eq!(got, mem.set_state(p, &key, st), "step {step}");
                if let Err(e) = got {
                    errors.insert(
                        format!("{e:?}")
                            .split([' ', '(', '{'])
                            .next()
                            .unwrap()
                            .to_owned(),
                    );
                }
            }
            2 => assert_eq!(
                HolderKeys::get(&s, p, &key),
                mem.get(p, &key),
                "step {step}"
            ),
            _ => assert_eq!(s.keys(p), mem.keys(p), "step {step}"),
        }
    }
    // The sequence reaches every refusal.
    for want in [
        "Some(HolderKeyExists)",
        "Some(Full)",
        "StateRegression",
        "HolderKeyUnknown",
    ] {
        assert!(errors.contains(want), "{want}: {errors:?}");
    }
}
