//! Criterion benchmarks of the DESIGN.md §7 workload for every provider, its cryptographic floor and its peers.
//!
//! Groups are operations (`verify`, `issue`, `attenuate`), function ids are
//! series (the names in `captoken_eval::report::COMPARISONS`), parameters are
//! chain depths; `captoken-eval timings` reads the medians back by those names.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark with a broken setup must stop"
)]

use std::hint::black_box;

use captoken_core_types::testing::workload;
use captoken_core_types::{
    LineageIndex, MemoryLineageIndex, MemoryRevocationList, Token, TokenProvider, VerifyContext,
};
use captoken_eval::candidate::{Candidate, Hmac};
use captoken_eval::measure::workload_chain;
use captoken_eval::peers::jwt::JwtPeer;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hmac::Mac as _;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A chain of the workload up to depth 16, recorded in a lineage index.
fn chain<P: TokenProvider>(p: &P, index: &MemoryLineageIndex) -> Vec<Token> {
    let tokens = workload_chain(p, 16).expect("workload chain");
    for t in &tokens {
        if let Some(entry) = p.index_entry(t).expect("index entry") {
            index.record(entry).expect("record");
        }
    }
    tokens
}

/// Issue, attenuate and verify of one candidate at every depth.
fn provider<C: Candidate>(c: &mut Criterion) {
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let tokens = chain(&p, &index);
    let ctx = VerifyContext::new(&revoked, &index);
    let root = workload::capability(captoken_eval::candidate::key_id());
    c.benchmark_group("issue")
        .bench_function(BenchmarkId::new(C::NAME, 0), |b| {
            b.iter(|| p.issue(black_box(&root)))
        });
    let mut group = c.benchmark_group("attenuate");
    for depth in workload::DEPTHS.iter().copied().filter(|d| *d > 0) {
        let parent = &tokens[depth - 1];
        let step = workload::step(depth);
        group.bench_function(BenchmarkId::new(C::NAME, depth), |b| {
            b.iter(|| p.attenuate(black_box(parent), black_box(&step)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let token = &tokens[depth];
        let request = workload::request(depth);
        assert!(
            p.verify(token, &request, &ctx).is_ok(),
            "{} denies the workload at depth {depth}",
            C::NAME
        );
        group.bench_function(BenchmarkId::new(C::NAME, depth), |b| {
            b.iter(|| p.verify(black_box(token), black_box(&request), &ctx))
        });
    }
    group.finish();
}

/// One HMAC-SHA256 over the bytes each HMAC token's tag covers.
fn hmac_floor(c: &mut Criterion) {
    let p = Hmac::provider(0);
    let tokens = chain(&p, &MemoryLineageIndex::new());
    let key = [1u8; 32];
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let framed = captoken_hmac_provider::wire::frame(tokens[depth].as_bytes()).expect("framed");
        let (signed, tag) = (framed.signed.to_vec(), framed.tag.to_vec());
        group.bench_function(BenchmarkId::new("floor-hmac-sha256", depth), |b| {
            b.iter(|| {
                let mut mac = HmacSha256::new_from_slice(black_box(&key)).expect("any key length");
                mac.update(black_box(&signed));
                mac.verify_slice(black_box(&tag))
            })
        });
    }
    group.finish();
}

/// jsonwebtoken HS256 with the same claims, depth 0 (JWT has no attenuation).
fn jwt_peer(c: &mut Criterion) {
    let peer = JwtPeer::new(&[1; 32]);
    let token = peer
        .issue(&workload::capability(captoken_eval::candidate::key_id()))
        .expect("jwt");
    let request = workload::request(0);
    assert!(
        peer.verify(&token, &request).is_ok(),
        "the JWT peer denies the workload"
    );
    c.benchmark_group("verify")
        .bench_function(BenchmarkId::new("peer-jsonwebtoken-hs256", 0), |b| {
            b.iter(|| peer.verify(black_box(&token), black_box(&request)))
        });
}

fn benches(c: &mut Criterion) {
    provider::<Hmac>(c);
    hmac_floor(c);
    jwt_peer(c);
}

criterion_group!(workload_benches, benches);
criterion_main!(workload_benches);
