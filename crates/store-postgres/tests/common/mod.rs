//! Shared test helpers: the throw-away server of `captoken_store_postgres::test_server`
//! and the holders and accounts the tests reserve nonces for.
#![allow(dead_code, unused_imports, reason = "each test binary uses part of it")]

pub(crate) use captoken_store_postgres::test_server::{Server, shared};

use captoken_core_types::HolderKey;
use captoken_core_types::possession::Account;
use captoken_core_types::{Format, KeyId, TokenId};

pub(crate) fn holder(seed: u8) -> HolderKey {
    HolderKey::Ed25519([seed; 32])
}

pub(crate) fn account(seed: u8) -> Account {
    Account::of(
        Format::new("hmac-v2"),
        &KeyId::new("k1").unwrap(),
        &TokenId([seed; 16]),
    )
}
