//! The store conformance suite of `captoken-core-types` mounted for the SQLite
//! store: each handle is its own connection to one database file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::time::Duration;

use captoken_core_types::testing::stores::{StoreBackend, StoreHandle, StoreSetup};
use captoken_core_types::{
    HolderKeys, LineageHash, LineageIndex, NonceStore, RevocationWriter, TokenId,
};
use captoken_store_sqlite::{SqliteOptions, SqliteStore};
use common::TempDb;

/// One connection; keeps the file alive while it is the suite's failed store.
struct Handle {
    store: SqliteStore,
    _db: Option<TempDb>,
}

impl StoreHandle for Handle {
    fn revocations(&self) -> &dyn RevocationWriter {
        &self.store
    }
    fn lineage(&self) -> &dyn LineageIndex {
        &self.store
    }
    fn nonces(&self) -> &dyn NonceStore {
        &self.store
    }
    fn holder_keys(&self) -> &dyn HolderKeys {
        &self.store
    }
}

/// A database file; every handle opens a new connection to it.
struct Backend(TempDb);

impl StoreBackend for Backend {
    fn handle(&self) -> Box<dyn StoreHandle> {
        let store = SqliteStore::open(&self.0.path).unwrap();
        // The suite's threads race on one file: wait for each other generously.
        store.set_busy_timeout(Duration::from_secs(60)).unwrap();
        Box::new(Handle { store, _db: None })
    }
}

fn fresh(capacity: usize, quota: usize) -> Box<dyn StoreBackend> {
    let db = TempDb::new("conformance");
    drop(db.create(SqliteOptions::default().with_nonce_bounds(capacity, quota)));
    Box::new(Backend(db))
}

/// A handle whose file is damaged under it (the revocation list's and lineage
/// index's pages flipped, then another connection writes so the handle's cache
/// is stale): its first read finds the damage and every operation fails.
fn failed() -> Box<dyn StoreHandle> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let db = TempDb::new("conformance-failed");
    let s = db.create(SqliteOptions::default());
    s.revoke(LineageHash([1; 32])).unwrap();
    s.record(captoken_core_types::LineageEntry::new(
        TokenId([1; 16]),
        LineageHash([1; 32]),
        None,
        vec![1],
    ))
    .unwrap();
    drop(s);
    let store = SqliteStore::open(&db.path).unwrap();
    let c = rusqlite::Connection::open(&db.path).unwrap();
    let roots: Vec<u64> = c
        .prepare("SELECT rootpage FROM sqlite_schema WHERE name IN ('revoked', 'lineage')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db.path)
        .unwrap();
    for root in roots {
        let at = (root - 1) * 4096;
        let mut page = vec![0u8; 4096];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut page).unwrap();
        page.iter_mut().for_each(|b| *b ^= 0xff);
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&page).unwrap();
    }
    f.sync_all().unwrap();
    c.execute("INSERT INTO meta (name, value) VALUES ('touched', 1)", [])
        .unwrap();
    drop(c);
    // The suite's first operation may be a nonce or holder-key one, on pages
    // that are intact: this read finds the damage and marks the handle.
    assert!(store.quick_check().is_err());
    Box::new(Handle {
        store,
        _db: Some(db),
    })
}

captoken_core_types::store_conformance_tests!(StoreSetup { fresh, failed });
