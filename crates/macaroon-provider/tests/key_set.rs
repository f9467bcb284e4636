//! Key-set documents of macaroon root keys (DESIGN.md §9): a root secret is exported as its id and state only, and a document marking a held key retired or compromised denies its macaroons accordingly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use captoken_core_types::testing::key_sets;
use captoken_macaroon_provider::{FORMAT, MacaroonKey, MacaroonProvider};

#[test]
fn key_set_documents() {
    key_sets::shared_key_set(
        FORMAT,
        |id, seed| MacaroonKey::new(id.clone(), &[seed; 32]),
        |ring| Box::new(MacaroonProvider::new(ring)),
    );
}
