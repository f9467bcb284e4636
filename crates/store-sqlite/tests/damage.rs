//! Fail closed: a file of random bytes, a truncated store, a store with a page
//! of bytes flipped, a missing file and a store of a newer schema version each
//! fail at open or on every operation, never with a panic or an answer; and a
//! verification over a store damaged under a running verifier denies with
//! `DenyReason::Store`, while over the healthy store it verifies cold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::path::Path;

use captoken_core_types::testing::{self, Stores, workload};
use captoken_core_types::{
    DenyReason, HolderKeyRecord, HolderKeys, KeyId, KeyState, LineageHash, LineageIndex,
    NonceStore, RevocationList, RevocationWriter, StoreError, TokenId, TokenProvider,
    VerifyContext,
};
use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider};
use captoken_store_sqlite::{SqliteOptions, SqliteStore};
use common::{Rng, TempDb, account, holder};

const PAGE: usize = 4096;

/// A store holding enough rows to span many pages; the handle is closed, so
/// the write-ahead log has been folded into the file.
fn filled(tag: &str) -> TempDb {
    let db = TempDb::new(tag);
    let s = db.create(SqliteOptions::default());
    for i in 0..3000u32 {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        s.revoke(LineageHash(b)).unwrap();
    }
    for i in 0..300u32 {
        let mut n = [0u8; 16];
        n[..4].copy_from_slice(&i.to_be_bytes());
        s.reserve(&holder(1), &n, 1_000, 10, &account(1)).unwrap();
        s.insert(
            &format!("agent:{i}"),
            HolderKeyRecord::new(holder(2), 0, 10),
        )
        .unwrap();
    }
    drop(s);
    assert!(
        !common::sibling(&db.path, "-wal").exists(),
        "checkpointed on close"
    );
    db
}

/// Every operation of the handle fails with a store error.
fn every_operation_fails(s: &SqliteStore) {
    let h = LineageHash([0; 32]);
    assert!(matches!(s.is_revoked(&h), Err(StoreError::Backend(_))));
    assert!(matches!(
        s.any_revoked(&[h, h]),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(s.revoke(h), Err(StoreError::Backend(_))));
    assert!(matches!(
        LineageIndex::get(s, &TokenId([1; 16])),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        s.ancestry(&TokenId([1; 16]), 4),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        s.reserve(&holder(1), &[9; 16], 100, 10, &account(1)),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        HolderKeys::get(s, "agent:1", &holder(2)),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(s.keys("agent:1"), Err(StoreError::Backend(_))));
    assert!(matches!(
        s.insert("agent:x", HolderKeyRecord::new(holder(3), 0, 1)),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        s.set_state("agent:1", &holder(2), KeyState::Active),
        Err(StoreError::Backend(_))
    ));
}

/// Opening `path` fails, read-write and read-only, or the handle fails every
/// operation; the file is left as it was.
fn fails_closed(path: &Path) {
    let before = std::fs::read(path).ok();
    for read_only in [false, true] {
        let opened = if read_only {
            SqliteStore::open_read_only(path)
        } else {
            SqliteStore::open(path)
        };
        match opened {
            Err(StoreError::Backend(_)) => {}
            Err(other) => panic!("unexpected error kind {other:?}"),
            Ok(s) => every_operation_fails(&s),
        }
    }
    assert_eq!(
        std::fs::read(path).ok(),
        before,
        "the file was not rewritten"
    );
}

#[test]
fn a_file_of_random_bytes_fails_closed() {
    let db = TempDb::new("random");
    for len in [1, 100, 512, PAGE, 8 * PAGE] {
        std::fs::write(&db.path, Rng::new(len as u64).bytes(len)).unwrap();
        fails_closed(&db.path);
        assert!(SqliteStore::open(&db.path).is_err(), "{len} bytes");
    }
}

#[test]
fn a_truncated_store_fails_closed() {
    let db = filled("truncated");
    let full = std::fs::read(&db.path).unwrap();
    assert!(full.len() > 16 * PAGE, "{} bytes", full.len());
    for len in [full.len() / 2, full.len() - PAGE, PAGE + 100, 50] {
        std::fs::write(&db.path, &full[..len]).unwrap();
        fails_closed(&db.path);
        assert!(SqliteStore::open(&db.path).is_err(), "truncated to {len}");
    }
    // The intact file opens: the damage was what failed.
    std::fs::write(&db.path, &full).unwrap();
    SqliteStore::open(&db.path).unwrap();
}

#[test]
fn a_store_with_bytes_flipped_in_the_middle_fails_closed() {
    let db = filled("flipped");
    let full = std::fs::read(&db.path).unwrap();
    let pages = full.len() / PAGE;
    for page in [pages / 2, pages / 3, pages - 1, 1] {
        let mut damaged = full.clone();
        for b in &mut damaged[page * PAGE..(page + 1) * PAGE] {
            *b ^= 0xff;
        }
        std::fs::write(&db.path, &damaged).unwrap();
        fails_closed(&db.path);
        assert!(SqliteStore::open(&db.path).is_err(), "page {page} flipped");
    }
    // A few bytes of a page header in the middle.
    let mut damaged = full.clone();
    let at = (pages / 2) * PAGE;
    for b in &mut damaged[at..at + 8] {
        *b ^= 0x5a;
    }
    std::fs::write(&db.path, &damaged).unwrap();
    fails_closed(&db.path);
    std::fs::write(&db.path, &full).unwrap();
    SqliteStore::open(&db.path).unwrap();
}

#[test]
fn a_missing_file_fails_closed_and_is_not_created() {
    let db = TempDb::new("missing");
    assert!(matches!(
        SqliteStore::open(&db.path),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        SqliteStore::open_read_only(&db.path),
        Err(StoreError::Backend(_))
    ));
    assert!(!db.path.exists());
}

#[test]
fn a_newer_schema_version_is_refused_and_left_alone() {
    let db = TempDb::new("newer");
    let s = db.create(SqliteOptions::default());
    s.revoke(LineageHash([1; 32])).unwrap();
    drop(s);
    {
        let c = rusqlite::Connection::open(&db.path).unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
    }
    let e = SqliteStore::open(&db.path).unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
    fails_closed(&db.path);
    let c = rusqlite::Connection::open(&db.path).unwrap();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 2);
    // A version this build has no steps for, below 1, is no store either.
    c.pragma_update(None, "user_version", 0).unwrap();
    drop(c);
    fails_closed(&db.path);
}

/// The HMAC provider without its row cache, so that every cold verification
/// reads the lineage index.
fn provider() -> HmacProvider {
    HmacProvider::new(HmacKeyring::single(
        HmacKey::new(KeyId::new(testing::KEY_ID).unwrap(), &[1; 32]).unwrap(),
    ))
    .with_row_cache(0)
}

/// A depth-3 workload chain whose index rows are in a new store at `db`;
/// returns the chain.
fn chain_in(db: &TempDb) -> Vec<captoken_core_types::Token> {
    let p = provider();
    let tokens = workload::chain(&p, &Stores::new(), 3);
    let s = db.create(SqliteOptions::default());
    for t in &tokens {
        s.record(
            p.index_entry(t)
                .unwrap()
                .expect("HMAC tokens have index rows"),
        )
        .unwrap();
    }
    tokens
}

#[test]
fn verification_over_the_healthy_store_verifies_cold_and_sees_revocations() {
    let db = TempDb::new("verify");
    let tokens = chain_in(&db);
    let p = provider();
    let leaf = tokens.last().unwrap();
    let store = SqliteStore::open_read_only(&db.path).unwrap();
    let req = workload::request(3);
    p.verify(leaf, &req, &VerifyContext::new(&store, &store))
        .expect("cold verification over the store");
    // Without the index rows the same leaf cannot be verified cold.
    let empty = TempDb::new("verify-empty");
    let bare = empty.create(SqliteOptions::default());
    assert_ne!(
        testing::deny_reason(p.verify(leaf, &req, &VerifyContext::new(&bare, &bare))),
        DenyReason::Store
    );
    assert!(
        p.verify(leaf, &req, &VerifyContext::new(&bare, &bare))
            .is_err()
    );
    // An issuer revokes the root in another process; the verifier's handle sees it.
    let issuer = SqliteStore::open(&db.path).unwrap();
    issuer.revoke(p.lineage_hash(&tokens[0]).unwrap()).unwrap();
    assert_eq!(
        testing::deny_reason(p.verify(leaf, &req, &VerifyContext::new(&store, &store))),
        DenyReason::Revoked
    );
}

#[test]
fn verification_over_a_store_damaged_under_the_verifier_denies() {
    let db = TempDb::new("verify-damaged");
    let tokens = chain_in(&db);
    let p = provider();
    let leaf = tokens.last().unwrap();
    let req = workload::request(3);
    let verifier = SqliteStore::open(&db.path).unwrap();
    p.verify(leaf, &req, &VerifyContext::new(&verifier, &verifier))
        .expect("healthy first");
    // The root pages of the revocation list and the lineage index (each holds
    // its whole table here) are damaged on disk while the verifier runs.
    let roots: Vec<i64> = {
        let c = rusqlite::Connection::open_with_flags(
            &db.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        c.prepare("SELECT rootpage FROM sqlite_schema WHERE name IN ('revoked', 'lineage')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(roots.len(), 2);
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&db.path)
            .unwrap();
        for root in &roots {
            let at = (u64::try_from(*root).unwrap() - 1) * PAGE as u64;
            let mut page = vec![0u8; PAGE];
            f.seek(SeekFrom::Start(at)).unwrap();
            f.read_exact(&mut page).unwrap();
            for b in &mut page {
                *b ^= 0xff;
            }
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&page).unwrap();
        }
        f.sync_all().unwrap();
    }
    // Another process writes elsewhere, so the verifier's cached pages are stale
    // and it reads the damaged pages from the file.
    {
        let c = rusqlite::Connection::open(&db.path).unwrap();
        // A real change: SQLite skips writing a row rewritten with the same bytes.
        c.execute("INSERT INTO meta (name, value) VALUES ('touched', 1)", [])
            .unwrap();
    }
    assert_eq!(
        testing::deny_reason(p.verify(leaf, &req, &VerifyContext::new(&verifier, &verifier))),
        DenyReason::Store
    );
    // Every later operation of that handle fails too, even on undamaged tables.
    every_operation_fails(&verifier);
    assert!(verifier.quick_check().is_err());
    // A verifier starting now cannot open the file at all.
    fails_closed(&db.path);
}
