//! One database file, several handles: what one writes the others see, bounds
//! survive reopening, a read-only handle writes nothing, racing handles reserve
//! each nonce exactly once, and opening never creates or rewrites a file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use captoken_core_types::possession::Reservation;
use captoken_core_types::{
    HolderKeyRecord, HolderKeys, KeyState, LineageEntry, LineageHash, LineageIndex, NonceStore,
    RevocationList, RevocationWriter, StoreError, TokenId,
};
use captoken_store_sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore};
use common::{TempDb, account, holder};

fn row(id: u8, parent: Option<u8>) -> LineageEntry {
    LineageEntry::new(
        TokenId([id; 16]),
        LineageHash([id; 32]),
        parent.map(|p| {
            captoken_core_types::ParentRef::new(
                captoken_core_types::Format::new("hmac-v2"),
                TokenId([p; 16]),
                LineageHash([p; 32]),
            )
        }),
        vec![id; 8],
    )
}

/// Writes one of everything through `w`.
fn write_everything(w: &SqliteStore) {
    w.revoke(LineageHash([7; 32])).unwrap();
    w.record(row(1, None)).unwrap();
    w.record(row(2, Some(1))).unwrap();
    assert_eq!(
        w.reserve(&holder(1), &[1; 16], 100, 10, &account(1)),
        Ok(Reservation::Reserved)
    );
    w.insert("agent:a", HolderKeyRecord::new(holder(1), 0, 50))
        .unwrap();
    w.set_state("agent:a", &holder(1), KeyState::Retired { at: 40 })
        .unwrap();
}

/// Asserts that `r` sees what [`write_everything`] wrote.
fn sees_everything(r: &SqliteStore) {
    assert!(r.is_revoked(&LineageHash([7; 32])).unwrap());
    assert!(!r.is_revoked(&LineageHash([8; 32])).unwrap());
    assert_eq!(
        r.ancestry(&TokenId([2; 16]), 8).unwrap(),
        [row(2, Some(1)), row(1, None)]
    );
    let mut record = HolderKeyRecord::new(holder(1), 0, 50);
    record.state = KeyState::Retired { at: 40 };
    assert_eq!(r.keys("agent:a").unwrap(), [record]);
}

#[test]
fn a_second_handle_sees_what_the_first_wrote() {
    let db = TempDb::new("second");
    let w = db.create(SqliteOptions::default());
    let r = SqliteStore::open(&db.path).unwrap();
    write_everything(&w);
    sees_everything(&r);
    // The nonce reserved through the first is a replay through the second.
    assert_eq!(
        r.reserve(&holder(1), &[1; 16], 100, 20, &account(1)),
        Ok(Reservation::Replayed)
    );
    // And the other way round.
    r.revoke(LineageHash([9; 32])).unwrap();
    assert!(w.is_revoked(&LineageHash([9; 32])).unwrap());
    // A read-only handle sees all of it too, while the writers are open...
    let ro = SqliteStore::open_read_only(&db.path).unwrap();
    sees_everything(&ro);
    drop((w, r, ro));
    // ...and after every handle closed, a new one does.
    let again = SqliteStore::open(&db.path).unwrap();
    sees_everything(&again);
    assert_eq!(
        again.reserve(&holder(1), &[1; 16], 100, 30, &account(1)),
        Ok(Reservation::Replayed)
    );
}

#[test]
fn bounds_persist_and_reopening_cannot_reset_them() {
    let db = TempDb::new("bounds");
    let s = db.create(
        SqliteOptions::default()
            .with_nonce_bounds(3, 2)
            .with_holder_key_capacity(1),
    );
    assert_eq!(
        (s.nonce_capacity(), s.nonce_quota(), s.holder_key_capacity()),
        (3, 2, 1)
    );
    for i in 0..3u8 {
        assert_eq!(
            s.reserve(&holder(1), &[i; 16], 100, 10, &account(i)),
            Ok(Reservation::Reserved)
        );
    }
    s.insert("agent:a", HolderKeyRecord::new(holder(1), 0, 5))
        .unwrap();
    drop(s);
    let s = SqliteStore::open(&db.path).unwrap();
    assert_eq!(
        (s.nonce_capacity(), s.nonce_quota(), s.holder_key_capacity()),
        (3, 2, 1)
    );
    // Still full: the live nonces and the count survived the restart.
    assert_eq!(
        s.reserve(&holder(1), &[9; 16], 100, 10, &account(9)),
        Ok(Reservation::Full)
    );
    assert_eq!(
        s.insert("agent:b", HolderKeyRecord::new(holder(2), 0, 5)),
        Err(StoreError::Full)
    );
    drop(s);
    let s = SqliteStore::open_read_only(&db.path).unwrap();
    assert_eq!(
        (s.nonce_capacity(), s.nonce_quota(), s.holder_key_capacity()),
        (3, 2, 1)
    );
    // Creating over the file is refused, and leaves it as it was.
    assert!(SqliteStore::create(&db.path, SqliteOptions::default()).is_err());
    let s = SqliteStore::open(&db.path).unwrap();
    assert_eq!(s.nonce_capacity(), 3);
    assert_eq!(
        s.reserve(&holder(1), &[0; 16], 100, 10, &account(0)),
        Ok(Reservation::Replayed)
    );
}

#[test]
fn a_read_only_handle_refuses_every_write() {
    let db = TempDb::new("read-only");
    let w = db.create(SqliteOptions::default());
    write_everything(&w);
    let ro = SqliteStore::open_read_only(&db.path).unwrap();
    assert!(ro.is_read_only() && !w.is_read_only());
    assert!(matches!(
        ro.revoke(LineageHash([8; 32])),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        ro.record(row(3, Some(2))),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        ro.reserve(&holder(2), &[2; 16], 100, 10, &account(2)),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        ro.insert("agent:b", HolderKeyRecord::new(holder(2), 0, 5)),
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        ro.set_state("agent:a", &holder(1), KeyState::Compromised { at: 1 }),
        Err(StoreError::Backend(_))
    ));
    // It still reads, and nothing was written.
    sees_everything(&ro);
    assert!(!w.is_revoked(&LineageHash([8; 32])).unwrap());
    assert_eq!(LineageIndex::get(&w, &TokenId([3; 16])).unwrap(), None);
    assert_eq!(
        w.reserve(&holder(2), &[2; 16], 100, 10, &account(2)),
        Ok(Reservation::Reserved)
    );
    assert_eq!(HolderKeys::get(&w, "agent:b", &holder(2)).unwrap(), None);
    sees_everything(&w);
}

#[test]
fn racing_handles_reserve_each_nonce_exactly_once() {
    const THREADS: usize = 4;
    const NONCES: usize = 500;
    let db = TempDb::new("race");
    drop(db.create(SqliteOptions::default()));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = db.path.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let s = SqliteStore::open(&path).unwrap();
                s.set_busy_timeout(Duration::from_secs(60)).unwrap();
                barrier.wait();
                let mut won = Vec::new();
                // Each thread walks the nonces from a different start.
                for i in 0..NONCES {
                    let n = (i + t * NONCES / THREADS) % NONCES;
                    let nonce: [u8; 16] = u128::try_from(n).unwrap().to_be_bytes();
                    match s.reserve(&holder(1), &nonce, 1_000, 10, &account(t as u8)) {
                        Ok(Reservation::Reserved) => won.push(n),
                        Ok(Reservation::Replayed) => {}
                        other => panic!("thread {t}, nonce {n}: {other:?}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut won: Vec<usize> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    won.sort_unstable();
    assert_eq!(
        won,
        (0..NONCES).collect::<Vec<_>>(),
        "each nonce reserved exactly once"
    );
}

#[test]
fn opening_never_creates_or_initialises_a_file() {
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
    // An empty file is an empty SQLite database, not a captoken store.
    std::fs::write(&db.path, b"").unwrap();
    assert!(SqliteStore::open(&db.path).is_err());
    assert!(SqliteStore::open_read_only(&db.path).is_err());
    assert_eq!(std::fs::metadata(&db.path).unwrap().len(), 0);
    // Create refuses the existing (empty) file and leaves it.
    assert!(SqliteStore::create(&db.path, SqliteOptions::default()).is_err());
    assert_eq!(std::fs::metadata(&db.path).unwrap().len(), 0);
}

#[test]
fn a_foreign_database_is_not_a_store() {
    let db = TempDb::new("foreign");
    {
        let c = rusqlite::Connection::open(&db.path).unwrap();
        c.execute_batch("CREATE TABLE revoked (hash BLOB PRIMARY KEY); PRAGMA user_version = 1;")
            .unwrap();
    }
    let before = std::fs::read(&db.path).unwrap();
    let e = SqliteStore::open(&db.path).unwrap_err();
    assert!(e.to_string().contains("not a captoken store"), "{e}");
    assert!(SqliteStore::open_read_only(&db.path).is_err());
    assert_eq!(std::fs::read(&db.path).unwrap(), before);
}

#[test]
fn a_new_store_is_stamped_with_the_schema_version() {
    let db = TempDb::new("stamp");
    drop(db.create(SqliteOptions::default()));
    let c =
        rusqlite::Connection::open_with_flags(&db.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let version: u32 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(mode, "wal");
    // Every table is WITHOUT ROWID.
    let tables: Vec<(String, String)> = c
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut names: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "holder_keys",
            "lineage",
            "meta",
            "nonce_accounts",
            "nonces",
            "revoked"
        ]
    );
    for (name, sql) in &tables {
        assert!(sql.contains("WITHOUT ROWID"), "{name}: {sql}");
    }
}
