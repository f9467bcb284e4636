//! Key-set documents of Biscuit root keys (DESIGN.md §9): root public keys travel in biscuit-auth's text form (`ed25519/<hex>`) with their states, and a verifier built from the document denies as they say.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use captoken_biscuit_provider::{BiscuitProvider, FORMAT, RootKey, RootSigningKey};
use captoken_core_types::testing::key_sets;

#[test]
fn key_set_documents() {
    key_sets::public_key_set(
        FORMAT,
        |id, seed| {
            Ok(RootKey::from(RootSigningKey::ed25519_from_seed(
                id.clone(),
                &[seed; 32],
            )))
        },
        |ring| Box::new(BiscuitProvider::new(ring)),
    );
}

#[cfg(feature = "p256")]
#[test]
fn p256_key_set_documents() {
    key_sets::public_key_set(
        FORMAT,
        |id, seed| RootSigningKey::p256_from_scalar(id.clone(), &[seed; 32]).map(RootKey::from),
        |ring| Box::new(BiscuitProvider::new(ring)),
    );
}
