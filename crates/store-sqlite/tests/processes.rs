//! Several processes, one SQLite file (DESIGN.md §10): an issuer process records chains of every format, a verifier process verifies them cold through a read-only handle, and a revocation written by a third process is seen by the verifier's next verification.
//!
//! The processes are this test binary itself, run again with a role in its
//! environment (`child_role` does nothing without one), so no extra binary
//! is built or shipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use captoken_biscuit_provider::{BiscuitKeyring, BiscuitProvider, RootSigningKey};
use captoken_core_types::testing::{KEY_ID, workload};
use captoken_core_types::{
    KeyId, LineageIndex, RevocationWriter, Token, TokenId, TokenProvider, VerifyContext,
};
use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider};
use captoken_macaroon_provider::{MacaroonKey, MacaroonKeyring, MacaroonProvider};
use captoken_paseto_provider::{
    LocalKey, LocalKeyring, PasetoLocalProvider, PasetoPublicProvider, PublicKeyring, SigningKey,
};
use captoken_store_sqlite::{SqliteOptions, SqliteStore};

const ROLE: &str = "CAPTOKEN_TEST_ROLE";
const DB: &str = "CAPTOKEN_TEST_DB";
const TOKENS: &str = "CAPTOKEN_TEST_TOKENS";
const DEPTH: usize = 3;

/// Every provider, under the same key id and fixed key material in every process.
fn providers() -> Vec<Box<dyn TokenProvider>> {
    let kid = || KeyId::new(KEY_ID).unwrap();
    vec![
        Box::new(HmacProvider::new(HmacKeyring::single(
            HmacKey::new(kid(), &[1; 32]).unwrap(),
        ))),
        Box::new(MacaroonProvider::new(MacaroonKeyring::single(
            MacaroonKey::new(kid(), &[2; 32]).unwrap(),
        ))),
        Box::new(BiscuitProvider::new(BiscuitKeyring::single(
            RootSigningKey::ed25519_from_seed(kid(), &[3; 32]),
        ))),
        Box::new(PasetoPublicProvider::new(PublicKeyring::single(
            SigningKey::from_seed(kid(), &[4; 32]).unwrap(),
        ))),
        Box::new(PasetoLocalProvider::new(LocalKeyring::single(
            LocalKey::from_bytes(kid(), &[5; 32]).unwrap(),
        ))),
    ]
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap())
}

/// Issues a workload chain in every format, records every token's lineage
/// row in the store, and writes each chain's root and leaf as text.
fn issuer() {
    let store = SqliteStore::open(env_path(DB)).unwrap();
    let mut out = String::new();
    for p in providers() {
        // Token ids are the index's keys: each chain its own.
        let mut cap = workload::capability(KeyId::new(KEY_ID).unwrap());
        cap.id = TokenId::random().unwrap();
        let mut tokens = vec![p.issue(&cap).unwrap()];
        for step in workload::steps(DEPTH) {
            let child = p.attenuate(tokens.last().unwrap(), &step).unwrap();
            tokens.push(child);
        }
        for t in &tokens {
            if let Some(row) = p.index_entry(t).unwrap() {
                store.record(row).unwrap();
            }
        }
        out.push_str(&format!(
            "{} {} {}\n",
            p.format(),
            p.to_text(&tokens[0]),
            p.to_text(tokens.last().unwrap())
        ));
    }
    std::fs::write(env_path(TOKENS), out).unwrap();
}

/// The chains the issuer wrote: (format tag, root, leaf) per provider, in order.
fn chains(providers: &[Box<dyn TokenProvider>]) -> Vec<(Token, Token)> {
    let text = std::fs::read_to_string(env_path(TOKENS)).unwrap();
    text.lines()
        .zip(providers)
        .map(|(line, p)| {
            let mut parts = line.split(' ');
            assert_eq!(parts.next(), Some(p.format().tag()));
            let root = p.parse_text(parts.next().unwrap()).unwrap();
            let leaf = p.parse_text(parts.next().unwrap()).unwrap();
            (root, leaf)
        })
        .collect()
}

/// Verifies every leaf cold through a read-only handle, prints one verdict
/// line per format, then waits for a line on stdin and does it again, until
/// stdin closes.
fn verifier() {
    let store = SqliteStore::open_read_only(env_path(DB)).unwrap();
    let providers = providers();
    let chains = chains(&providers);
    let request = workload::request(DEPTH);
    let mut stdin = BufReader::new(std::io::stdin());
    loop {
        let mut out = std::io::stdout().lock();
        for (p, (_, leaf)) in providers.iter().zip(&chains) {
            let verdict = match p.verify(leaf, &request, &VerifyContext::new(&store, &store)) {
                Ok(v) => format!("allowed {}", v.chain_len),
                Err(d) => format!("denied {:?}", d.reason()),
            };
            writeln!(out, "{} {verdict}", p.format()).unwrap();
        }
        writeln!(out, "round").unwrap();
        out.flush().unwrap();
        drop(out);
        let mut line = String::new();
        if stdin.read_line(&mut line).unwrap() == 0 {
            return;
        }
    }
}

/// Revokes every chain at its root.
fn revoker() {
    let store = SqliteStore::open(env_path(DB)).unwrap();
    let providers = providers();
    for (p, (root, _)) in providers.iter().zip(chains(&providers)) {
        store.revoke(p.lineage_hash(&root).unwrap()).unwrap();
    }
}

/// The child's entry point: runs the role its parent asked for; without one,
/// nothing.
#[test]
fn child_role() {
    match std::env::var(ROLE).as_deref() {
        Ok("issuer") => issuer(),
        Ok("verifier") => verifier(),
        Ok("revoker") => revoker(),
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => {}
    }
}

fn child(role: &str, db: &Path, tokens: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "child_role",
        "--nocapture",
        "--test-threads",
        "1",
        "--quiet",
    ])
    .env(ROLE, role)
    .env(DB, db)
    .env(TOKENS, tokens);
    c
}

fn run(role: &str, db: &Path, tokens: &Path) {
    let status = child(role, db, tokens).status().unwrap();
    assert!(status.success(), "{role} failed");
}

/// Reads one round of verdicts: format tag -> verdict.
fn round(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Vec<(String, String)> {
    let mut verdicts = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "round" {
            return verdicts;
        }
        // The test harness may print its own lines; verdicts start with a format tag.
        if let Some((tag, verdict)) = line.split_once(' ')
            && (verdict.starts_with("allowed") || verdict.starts_with("denied"))
        {
            verdicts.push((tag.to_owned(), verdict.to_owned()));
        }
    }
    panic!("the verifier stopped mid-round: {verdicts:?}")
}

#[test]
fn several_processes_share_one_file() {
    let dir = std::env::temp_dir().join(format!("captoken-processes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (db, tokens) = (dir.join("store.db"), dir.join("tokens.txt"));
    drop(SqliteStore::create(&db, SqliteOptions::default()).unwrap());
    run("issuer", &db, &tokens);
    let mut verifier = child("verifier", &db, &tokens)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(verifier.stdout.take().unwrap()).lines();
    let formats: Vec<String> = providers().iter().map(|p| p.format().to_string()).collect();
    let first = round(&mut lines);
    let allowed: Vec<(String, String)> = formats
        .iter()
        .map(|f| (f.clone(), format!("allowed {DEPTH}")))
        .collect();
    assert_eq!(first, allowed);
    // A third process revokes every root; the verifier's next round sees it.
    run("revoker", &db, &tokens);
    let mut stdin = verifier.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    stdin.flush().unwrap();
    let second = round(&mut lines);
    let revoked: Vec<(String, String)> = formats
        .iter()
        .map(|f| (f.clone(), "denied Revoked".to_owned()))
        .collect();
    assert_eq!(second, revoked);
    drop(stdin);
    assert!(verifier.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}
