//! Shared test support: unique database paths under the temporary directory,
//! removed with SQLite's side files when dropped, and a deterministic
//! pseudo-random sequence.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use captoken_core_types::HolderKey;
use captoken_core_types::possession::Account;
use captoken_core_types::{Format, KeyId, TokenId};
use captoken_store_sqlite::{SqliteOptions, SqliteStore};

/// A database path unique to this process and call; the file and its `-wal`,
/// `-shm` and `-journal` are removed on drop.
pub(crate) struct TempDb {
    pub(crate) path: PathBuf,
}

impl TempDb {
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "captoken-store-sqlite-{}-{n}-{tag}.db",
            std::process::id()
        ));
        let db = Self { path };
        db.remove();
        db
    }

    /// A new store at this path.
    pub(crate) fn create(&self, options: SqliteOptions) -> SqliteStore {
        SqliteStore::create(&self.path, options).expect("create the store")
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sibling(&self.path, suffix));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// xorshift64*: a fixed sequence, so a failure repeats.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

pub(crate) fn holder(seed: u8) -> HolderKey {
    HolderKey::Ed25519([seed; 32])
}

pub(crate) fn account(seed: u8) -> Account {
    Account::of(
        Format::new("hmac-v2"),
        &KeyId::new("k1").unwrap(),
        &TokenId([seed; 16]),
    )
}
