//! Key-set documents of HMAC keys (DESIGN.md §9): a shared secret is exported as its id and state only, and a document marking a held key retired or compromised denies its tokens accordingly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use captoken_core_types::testing::key_sets;
use captoken_hmac_provider::{FORMAT, HmacKey, HmacProvider};

#[test]
fn key_set_documents() {
    key_sets::shared_key_set(
        FORMAT,
        |id, seed| HmacKey::new(id.clone(), &[seed; 32]),
        |ring| Box::new(HmacProvider::new(ring)),
    );
}
