//! Four verifier replicas on one PostgreSQL server, each with its own store connections and its own revocation snapshot, verifying real tokens with proofs of possession (DESIGN.md §10): one proof presented to all of them is accepted exactly once, over 1000 proofs; a revocation made through one replica denies on every replica (propagation measured); the server stopped mid-run makes every replica deny, and they recover when it comes back with no acknowledged revocation or nonce lost.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use captoken_core_types::possession::{HolderSigningKey, Possession, Proof};
use captoken_core_types::testing::{KEY_ID, workload};
use captoken_core_types::{
    DenyReason, KeyId, LineageIndex, NonceStore, RevocationList, RevocationWriter, Subject, Token,
    TokenId, TokenProvider, VerifyContext,
};
use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider};
use captoken_store_postgres::{PostgresOptions, PostgresStore, RevocationSnapshot};

const REPLICAS: usize = 4;
const PROOFS: usize = 1000;
const STALENESS: Duration = Duration::from_millis(300);
/// Revocations timed from the revoking replica to every replica's snapshot.
const PROPAGATION_SAMPLES: u8 = 50;

fn provider() -> HmacProvider {
    HmacProvider::new(HmacKeyring::single(
        HmacKey::new(KeyId::new(KEY_ID).unwrap(), &[1; 32]).unwrap(),
    ))
}

/// A replica: its own store (nonces, lineage) and its own revocation snapshot.
struct Replica {
    store: PostgresStore,
    snapshot: RevocationSnapshot,
}

impl Replica {
    /// Verifies `token` at depth 1 with `proof`, if any, through this replica.
    fn verify(
        &self,
        p: &HmacProvider,
        token: &Token,
        proof: Option<&Proof>,
    ) -> Result<(), DenyReason> {
        let mut possession = Possession::new(&self.store);
        if let Some(proof) = proof {
            possession = possession.with_proof(proof);
        }
        let ctx = VerifyContext::new(&self.snapshot, &self.store).with_possession(possession);
        p.verify(token, &workload::request(1), &ctx)
            .map(|_| ())
            .map_err(|d| d.reason().clone())
    }
}

/// A depth-1 workload chain with its root bound to `holder` (or a bearer
/// chain), recorded in the lineage index.
fn chain(
    p: &HmacProvider,
    issuer: &PostgresStore,
    holder: Option<&HolderSigningKey>,
) -> (Token, Token) {
    let mut cap = workload::capability(KeyId::new(KEY_ID).unwrap());
    cap.id = TokenId::random().unwrap();
    if let Some(h) = holder {
        cap.subject = Subject::bound_to_key(workload::SUBJECT, h.public().clone());
    }
    let root = p.issue(&cap).unwrap();
    let leaf = p.attenuate(&root, &workload::step(1)).unwrap();
    for t in [&root, &leaf] {
        issuer.record(p.index_entry(t).unwrap().unwrap()).unwrap();
    }
    (root, leaf)
}

fn proof(p: &HmacProvider, token: &Token, holder: &HolderSigningKey, n: usize) -> Proof {
    let mut nonce = [0x42; 16];
    nonce[..8].copy_from_slice(&(n as u64).to_be_bytes());
    let request = workload::request(1);
    Proof::sign(
        p.lineage_hash(token).unwrap(),
        &request,
        nonce,
        request.now,
        holder,
    )
    .unwrap()
}

/// Polls `check` every millisecond until it holds, at most `limit`; the time it took.
fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn four_replicas_accept_once_see_revocations_and_fail_closed_while_the_server_is_down() {
    let Some(server) = common::Server::start("replicas", false) else {
        return;
    };
    let params = server.fresh_schema();
    let p = provider();
    let issuer = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    let holder = HolderSigningKey::from_seed(&[7; 32]);
    let (bound_root, bound) = chain(&p, &issuer, Some(&holder));
    // A bound chain nobody revokes, and a bearer one.
    let (_, bound_live) = chain(&p, &issuer, Some(&holder));
    let (_, bearer) = chain(&p, &issuer, None);
    let replicas: Vec<Replica> = (0..REPLICAS)
        .map(|_| Replica {
            store: PostgresStore::connect(&params, PostgresOptions::default()).unwrap(),
            snapshot: RevocationSnapshot::start(&params, STALENESS).unwrap(),
        })
        .collect();

    // 1. Every proof presented to all four replicas at once: accepted once.
    let proofs: Vec<Proof> = (0..PROOFS).map(|n| proof(&p, &bound, &holder, n)).collect();
    let start = Barrier::new(REPLICAS);
    let outcomes: Vec<Vec<Result<(), DenyReason>>> = std::thread::scope(|s| {
        let workers: Vec<_> = replicas
            .iter()
            .map(|r| {
                let (start, proofs, p, bound) = (&start, &proofs, &p, &bound);
                s.spawn(move || {
                    start.wait();
                    proofs
                        .iter()
                        .map(|pr| r.verify(p, bound, Some(pr)))
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for n in 0..PROOFS {
        let allowed = outcomes.iter().filter(|o| o[n].is_ok()).count();
        assert_eq!(allowed, 1, "proof {n} accepted {allowed} times");
        for o in &outcomes {
            if let Err(reason) = &o[n] {
                assert_eq!(reason, &DenyReason::ProofReplay, "proof {n}");
            }
        }
    }
    eprintln!(
        "{PROOFS} proofs x {REPLICAS} replicas: {PROOFS} accepted, {} replays refused",
        PROOFS * (REPLICAS - 1)
    );

    // 2. A revocation through replica 0 reaches every replica's snapshot:
    //    first timed over many revocations (each replica polled in turn, so
    //    a time is an upper bound), then for the chain in use.
    let mut times = Vec::new();
    for k in 0..PROPAGATION_SAMPLES {
        let hash = captoken_core_types::LineageHash([k; 32]);
        let start = Instant::now();
        replicas[usize::from(k) % REPLICAS]
            .store
            .revoke(hash)
            .unwrap();
        let mut seen = [false; REPLICAS];
        while seen.iter().any(|s| !s) {
            for (i, r) in replicas.iter().enumerate() {
                if !seen[i] && r.snapshot.is_revoked(&hash) == Ok(true) {
                    seen[i] = true;
                    times.push(start.elapsed());
                }
            }
            assert!(
                start.elapsed() < STALENESS,
                "revocation {k} not seen within the bound"
            );
        }
    }
    times.sort();
    eprintln!(
        "revocation propagation over {} (revocation, replica) pairs: median {:?}, max {:?} (bound {STALENESS:?})",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    for r in &replicas {
        assert_eq!(r.verify(&p, &bearer, None), Ok(()));
    }
    let root_hash = p.lineage_hash(&bound_root).unwrap();
    let revoked_at = Instant::now();
    replicas[0].store.revoke(root_hash).unwrap();
    let acknowledged = revoked_at.elapsed();
    let mut fresh = PROOFS;
    for (i, r) in replicas.iter().enumerate() {
        until(Duration::from_secs(5), || {
            r.snapshot.is_revoked(&root_hash) == Ok(true)
        })
        .unwrap_or_else(|| panic!("replica {i} never saw the revocation"));
        // An upper bound: replicas are polled one after the other.
        eprintln!(
            "replica {i}: revocation visible {:?} after revoke was called (acknowledged after {acknowledged:?})",
            revoked_at.elapsed()
        );
        fresh += 1;
        assert_eq!(
            r.verify(&p, &bound, Some(&proof(&p, &bound, &holder, fresh))),
            Err(DenyReason::Revoked),
            "replica {i}"
        );
    }

    // 3. The server goes away: every replica denies, at once for proofs
    //    (no nonce can be reserved), and for bearer tokens once its snapshot
    //    has been out of touch longer than its bound.
    server.stop();
    for (i, r) in replicas.iter().enumerate() {
        fresh += 1;
        let with_proof = r.verify(
            &p,
            &bound_live,
            Some(&proof(&p, &bound_live, &holder, fresh)),
        );
        assert_eq!(with_proof, Err(DenyReason::Store), "replica {i}");
    }
    std::thread::sleep(STALENESS + Duration::from_millis(200));
    for (i, r) in replicas.iter().enumerate() {
        fresh += 1;
        let with_proof = r.verify(
            &p,
            &bound_live,
            Some(&proof(&p, &bound_live, &holder, fresh)),
        );
        assert_eq!(with_proof, Err(DenyReason::Store), "replica {i}");
        assert_eq!(
            r.verify(&p, &bearer, None),
            Err(DenyReason::Store),
            "replica {i}"
        );
        assert!(r.snapshot.staleness().is_some(), "replica {i}");
    }

    // 4. The server comes back: every replica recovers, and nothing that was
    //    acknowledged is lost: the revocation holds, every accepted nonce replays.
    server.resume();
    for (i, r) in replicas.iter().enumerate() {
        let back = until(Duration::from_secs(20), || {
            r.verify(&p, &bearer, None).is_ok()
        });
        assert!(back.is_some(), "replica {i} did not recover");
        fresh += 1;
        assert_eq!(
            r.verify(&p, &bound, Some(&proof(&p, &bound, &holder, fresh))),
            Err(DenyReason::Revoked),
            "replica {i}"
        );
        fresh += 1;
        assert_eq!(
            r.verify(
                &p,
                &bound_live,
                Some(&proof(&p, &bound_live, &holder, fresh))
            ),
            Ok(()),
            "replica {i}"
        );
    }
    // Every nonce accepted before the outage is still held: presented again
    // to any replica's store, a replay.
    let account = captoken_core_types::possession::Account::of(
        p.format(),
        &KeyId::new(KEY_ID).unwrap(),
        &TokenId([0; 16]),
    );
    let now = workload::request(1).now;
    for (n, pr) in proofs.iter().enumerate() {
        let store = &replicas[n % REPLICAS].store;
        let mut nonce = [0x42; 16];
        nonce[..8].copy_from_slice(&(n as u64).to_be_bytes());
        assert_eq!(
            store.reserve(pr.signer(), &nonce, now + 600, now, &account),
            Ok(captoken_core_types::possession::Reservation::Replayed),
            "nonce {n} lost"
        );
    }
}
