//! Crash safety (DESIGN.md §10): a writer process commits revocations, lineage rows and nonce reservations in a loop and acknowledges each after its commit returns; it is killed with SIGKILL at random moments, and after every kill the reopened store holds every acknowledged entry, whole, passes its integrity check, and refuses a replay of every acknowledged nonce.
//!
//! `CAPTOKEN_KILLS` sets the number of kills (default 100).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use captoken_core_types::possession::{Account, NonceStore, Reservation};
use captoken_core_types::{
    Format, HolderKey, KeyId, LineageEntry, LineageHash, LineageIndex, ParentRef, RevocationList,
    RevocationWriter, TokenId,
};
use captoken_store_sqlite::{SqliteOptions, SqliteStore};

const ROLE: &str = "CAPTOKEN_TEST_ROLE";
const DB: &str = "CAPTOKEN_TEST_DB";
const FIRST: &str = "CAPTOKEN_TEST_FIRST";
const FORMAT: Format = Format::new("crash-v1");

fn hash(i: u64) -> LineageHash {
    let mut h = [0xab; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    LineageHash(h)
}

fn entry(i: u64) -> LineageEntry {
    let mut id = [0xcd; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    let parent = (i > 0).then(|| {
        let mut pid = [0xcd; 16];
        pid[..8].copy_from_slice(&(i - 1).to_be_bytes());
        ParentRef::new(FORMAT, TokenId(pid), hash(i - 1))
    });
    // A seal long enough to span pages now and then.
    LineageEntry::new(
        TokenId(id),
        hash(i),
        parent,
        vec![(i % 251) as u8; 64 + (i % 512) as usize],
    )
}

fn nonce(i: u64) -> [u8; 16] {
    let mut n = [0xef; 16];
    n[..8].copy_from_slice(&i.to_be_bytes());
    n
}

const SCOPE: HolderKey = HolderKey::Ed25519([7; 32]);

fn account() -> Account {
    Account::of(FORMAT, &KeyId::new("k1").unwrap(), &TokenId([1; 16]))
}

/// Far in the future: no acknowledged nonce may expire during the test.
const KEEP: u64 = 4_000_000_000;
const NOW: u64 = 1_000;

/// Writes entry i, i+1, ... forever, acknowledging each once all three of its
/// commits have returned.
fn writer() {
    let db = PathBuf::from(std::env::var(DB).unwrap());
    let first: u64 = std::env::var(FIRST).unwrap().parse().unwrap();
    let store = SqliteStore::open(db).unwrap();
    let mut out = std::io::stdout().lock();
    for i in first.. {
        store.revoke(hash(i)).unwrap();
        store.record(entry(i)).unwrap();
        let r = store
            .reserve(&SCOPE, &nonce(i), KEEP, NOW, &account())
            .unwrap();
        assert_eq!(r, Reservation::Reserved);
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn child_role() {
    if std::env::var(ROLE).as_deref() == Ok("writer") {
        writer();
    }
}

/// A small xorshift, seeded from the clock: random kill moments, reproducible
/// from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_writers_lose_no_acknowledged_entry() {
    let kills: u64 = std::env::var("CAPTOKEN_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(100);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ u64::from(std::process::id());
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let dir = std::env::temp_dir().join(format!("captoken-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("store.db");
    drop(
        SqliteStore::create(
            &db,
            SqliteOptions::default().with_nonce_bounds(1 << 24, 1 << 24),
        )
        .unwrap(),
    );
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut next = 0u64;
    for kill in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_role",
                "--nocapture",
                "--test-threads",
                "1",
                "--quiet",
            ])
            .env(ROLE, "writer")
            .env(DB, &db)
            .env(FIRST, next.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it write a random number of entries, then kill it at a random
        // moment after the last acknowledgement read: mid-transaction or between.
        let wanted = rng.next() % 40;
        let mut acked_now = 0;
        while acked_now < wanted {
            let Some(line) = lines.next() else { break };
            let line = line.unwrap();
            if let Some(i) = line.strip_prefix("ack ") {
                acknowledged.push(i.parse().unwrap());
                acked_now += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 3_000));
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements already in the pipe were committed too.
        for line in lines {
            if let Some(i) = line.unwrap().strip_prefix("ack ") {
                acknowledged.push(i.parse().unwrap());
            }
        }
        next = acknowledged.last().map_or(next, |i| i + 1).max(next) + 1_000;
        // Reopen: integrity check on open, every acknowledged entry whole.
        let store = SqliteStore::open(&db)
            .unwrap_or_else(|e| panic!("kill {kill} (seed {seed}): reopen failed: {e}"));
        for &i in &acknowledged {
            assert!(
                store.is_revoked(&hash(i)).unwrap(),
                "kill {kill} seed {seed}: revocation {i} lost"
            );
            assert_eq!(
                store.get(&entry(i).token_id).unwrap(),
                Some(entry(i)),
                "kill {kill} seed {seed}: row {i}"
            );
            assert_eq!(
                store
                    .reserve(&SCOPE, &nonce(i), KEEP, NOW, &account())
                    .unwrap(),
                Reservation::Replayed,
                "kill {kill} seed {seed}: nonce {i} accepted again"
            );
        }
    }
    eprintln!(
        "{kills} kills, {} entries acknowledged, 0 lost, 0 replays accepted (seed {seed})",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() as u64 >= kills / 2,
        "the writer barely ran"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
