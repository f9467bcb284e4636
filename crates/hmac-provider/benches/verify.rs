//! Criterion benchmarks of the HMAC provider on the DESIGN.md §7 workload, next to its cryptographic floor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]
//!
//! The floor is one bare HMAC-SHA256 (key setup, update, finalize, constant-time
//! compare) over the same bytes the token's tag covers, measured in the same run.

use std::hint::black_box;

use captoken_core_types::testing::workload;
use captoken_core_types::{
    KeyId, MemoryLineageIndex, MemoryRevocationList, TokenProvider, VerifyContext,
};
use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider, wire};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: [u8; 32] = [7; 32];

fn benches(c: &mut Criterion) {
    let kid = KeyId::new("k1").expect("valid key id");
    let provider = HmacProvider::new(HmacKeyring::from_keys([
        HmacKey::new(kid.clone(), &SECRET).expect("32-byte key")
    ]));
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let ctx = VerifyContext::new(&revoked, &index);
    let cap = workload::capability(kid);
    let token = provider.issue(&cap).expect("issue");
    let request = workload::request(0);
    assert!(
        provider.verify(&token, &request, &ctx).is_ok(),
        "the workload request must be allowed"
    );

    let mut group = c.benchmark_group("hmac");
    group.bench_function("verify/depth-0", |b| {
        b.iter(|| provider.verify(black_box(&token), black_box(&request), &ctx))
    });
    group.bench_function("issue/depth-0", |b| {
        b.iter(|| provider.issue(black_box(&cap)))
    });
    let step = workload::step(1);
    group.bench_function("attenuate/depth-1", |b| {
        b.iter(|| provider.attenuate(black_box(&token), black_box(&step)))
    });
    group.finish();

    let framed = wire::frame(token.as_bytes()).expect("framed");
    let (signed, tag) = (framed.signed.to_vec(), framed.tag.to_vec());
    c.bench_function("floor/hmac-sha256/depth-0", |b| {
        b.iter(|| {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(black_box(&SECRET)).expect("any key length");
            mac.update(black_box(&signed));
            mac.verify_slice(black_box(&tag))
        })
    });
}

criterion_group!(verify, benches);
criterion_main!(verify);
