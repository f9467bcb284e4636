//! How long the Biscuit authorizer takes on a holder-appended block at the edge of the static work bound: the measurement behind the run time limit in `limits.rs`.
//!
//! The workload benchmarks of this provider, its floor and raw biscuit-auth are
//! in `eval/benches/workload.rs`, measured in one run with every other format.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

use std::collections::HashMap;
use std::hint::black_box;

use biscuit_auth::UnverifiedBiscuit;
use biscuit_auth::builder::{BlockBuilder, Term};
use captoken_biscuit_provider::{BiscuitKeyring, BiscuitProvider, FORMAT, RootSigningKey};
use captoken_core_types::testing::workload;
use captoken_core_types::{
    KeyId, MemoryLineageIndex, MemoryRevocationList, Token, TokenProvider, VerifyContext,
};
use criterion::{Criterion, criterion_group, criterion_main};

const SEED: [u8; 32] = [7; 32];

/// A block near the static work bound (about 85% of it): 63 facts joined
/// pairwise by two checks whose expressions are false for every pair, so that
/// every combination is evaluated.
fn hostile_near_budget(p: &BiscuitProvider, parent: &Token) -> Token {
    let mut code = String::from("parent({parent});\n");
    for i in 0..63 {
        code.push_str(&format!("f({i});\n"));
    }
    for k in [3, 2] {
        let tests: Vec<String> = (1..=k).map(|k| format!("$a < -{k}")).collect();
        code.push_str(&format!("check if f($a), f($b), {};\n", tests.join(" || ")));
    }
    let mut params = HashMap::new();
    params.insert(
        "parent".to_owned(),
        Term::Bytes(p.lineage_hash(parent).unwrap().0.to_vec()),
    );
    let block = BlockBuilder::new()
        .code_with_params(&code, params, HashMap::new())
        .unwrap();
    let child = UnverifiedBiscuit::from(parent.as_bytes())
        .unwrap()
        .append(block)
        .unwrap();
    Token::new(FORMAT, child.to_vec().unwrap())
}

fn benches(c: &mut Criterion) {
    let kid = KeyId::new("k1").expect("valid key id");
    let mut ring = BiscuitKeyring::new();
    ring.insert(RootSigningKey::ed25519_from_seed(kid.clone(), &SEED))
        .unwrap();
    let provider = BiscuitProvider::new(ring);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let ctx = VerifyContext::new(&revoked, &index);
    let root = provider.issue(&workload::capability(kid)).unwrap();
    let parent = provider.attenuate(&root, &workload::step(1)).unwrap();
    let hostile = hostile_near_budget(&provider, &parent);
    let verdict = provider.verify(&hostile, &workload::request(1), &ctx);
    assert_eq!(
        verdict.unwrap_err().reason(),
        &captoken_core_types::DenyReason::ConstraintViolated,
        "screened in, then evaluated in full"
    );
    c.bench_function("biscuit/verify/hostile-near-budget", |b| {
        b.iter(|| provider.verify(black_box(&hostile), black_box(&workload::request(1)), &ctx))
    });
}

criterion_group!(limits, benches);
criterion_main!(limits);
