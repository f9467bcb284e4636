//! Heap allocations per verification (issue 19), per provider at depth 0 and 16, counted by dhat's heap profiler in testing mode and written where `captoken-eval timings` reads criterion's estimates (group `allocations`), so that the report shows them next to the timings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark with a broken setup must stop"
)]

use std::path::PathBuf;

use captoken_core_types::testing::workload;
use captoken_core_types::{
    MemoryLineageIndex, MemoryRevocationList, Token, TokenProvider, VerifyContext,
};
use captoken_eval::candidate::{Biscuit, Candidate, Hmac, Macaroon, PasetoLocal, PasetoPublic};
use captoken_eval::measure::workload_chain;
use captoken_eval::report::ALLOCATION_DEPTHS;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Verifications counted per measurement (the count per call is their mean).
const CALLS: u64 = 100;

/// Where criterion writes its estimates: `$CARGO_TARGET_DIR/criterion`, else
/// the workspace's `target/criterion`.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}

/// Allocations per cold verification of the workload chain at each depth.
fn count<C: Candidate>() {
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let tokens: Vec<Token> = workload_chain(&p, 16).expect("workload chain");
    for t in &tokens {
        if let Some(entry) = p.index_entry(t).expect("index entry") {
            captoken_core_types::LineageIndex::record(&index, entry).expect("record");
        }
    }
    let ctx = VerifyContext::new(&revoked, &index);
    for depth in ALLOCATION_DEPTHS {
        let (token, request) = (&tokens[depth], workload::request(depth));
        // Once first: caches (authenticated rows) filled as in steady state.
        assert!(p.verify(token, &request, &ctx).is_ok(), "{}", C::NAME);
        let before = dhat::HeapStats::get().total_blocks;
        for _ in 0..CALLS {
            let verified = p.verify(std::hint::black_box(token), &request, &ctx);
            std::hint::black_box(verified).expect("verify");
        }
        let per_call = (dhat::HeapStats::get().total_blocks - before) as f64 / CALLS as f64;
        eprintln!("allocations/{}/{depth}: {per_call}", C::NAME);
        let dir = criterion_dir()
            .join("allocations")
            .join(C::NAME)
            .join(depth.to_string())
            .join("new");
        std::fs::create_dir_all(&dir).expect("estimates directory");
        let estimates = serde_json::json!({ "median": { "point_estimate": per_call } });
        std::fs::write(dir.join("estimates.json"), estimates.to_string()).expect("estimates");
    }
}

fn main() {
    // Criterion's arguments (`--bench`, filters) are accepted and ignored.
    let _profiler = dhat::Profiler::builder().testing().build();
    count::<Hmac>();
    count::<Macaroon>();
    count::<PasetoPublic>();
    count::<PasetoLocal>();
    count::<Biscuit>();
}
