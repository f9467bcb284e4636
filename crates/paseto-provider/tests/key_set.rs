//! Key-set documents of PASETO keys (DESIGN.md §9): `v4.public` keys travel as `k4.public` PASERKs with their states and a verifier built from the document denies as they say; `v4.local` keys are exported as id and state only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use captoken_core_types::testing::key_sets;
use captoken_paseto_provider::{
    FORMAT_LOCAL, FORMAT_PUBLIC, LocalKey, PasetoLocalProvider, PasetoPublicProvider, PublicEntry,
    SigningKey,
};

#[test]
fn public_key_set_documents() {
    key_sets::public_key_set(
        FORMAT_PUBLIC,
        |id, seed| SigningKey::from_seed(id.clone(), &[seed; 32]).map(PublicEntry::from),
        |ring| Box::new(PasetoPublicProvider::new(ring)),
    );
}

#[test]
fn local_key_set_documents() {
    key_sets::shared_key_set(
        FORMAT_LOCAL,
        |id, seed| LocalKey::from_bytes(id.clone(), &[seed; 32]),
        |ring| Box::new(PasetoLocalProvider::new(ring)),
    );
}
