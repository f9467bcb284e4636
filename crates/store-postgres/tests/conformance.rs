//! The store conformance suite of `captoken-core-types` mounted for the
//! PostgreSQL store: one throw-away server per test binary, a fresh schema
//! per store, each handle its own `PostgresStore` with its own connections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use captoken_core_types::testing::stores::{StoreBackend, StoreHandle, StoreSetup};
use captoken_core_types::{HolderKeys, LineageIndex, NonceStore, RevocationWriter};
use captoken_store_postgres::{PostgresOptions, PostgresStore};
use common::Server;

/// One store handle; keeps its (stopped) server alive while it is the
/// suite's failed store.
struct Handle {
    store: PostgresStore,
    _server: Option<Server>,
}

impl StoreHandle for Handle {
    fn revocations(&self) -> &dyn RevocationWriter {
        &self.store
    }
    fn lineage(&self) -> &dyn LineageIndex {
        &self.store
    }
    fn nonces(&self) -> &dyn NonceStore {
        &self.store
    }
    fn holder_keys(&self) -> &dyn HolderKeys {
        &self.store
    }
}

/// A schema on the shared server; every handle connects to it anew.
struct Backend {
    params: String,
    options: PostgresOptions,
}

impl StoreBackend for Backend {
    fn handle(&self) -> Box<dyn StoreHandle> {
        let store = PostgresStore::connect(&self.params, self.options.clone()).unwrap();
        Box::new(Handle {
            store,
            _server: None,
        })
    }
}

fn fresh(capacity: usize, quota: usize) -> Box<dyn StoreBackend> {
    let server = common::shared().expect("the shared server (skipped before this)");
    let params = server.fresh_schema();
    let options = PostgresOptions::default().with_nonce_bounds(capacity, quota);
    // Create the schema with these bounds once; handles then read them.
    drop(PostgresStore::connect(&params, options.clone()).unwrap());
    Box::new(Backend { params, options })
}

/// A handle onto a server that was stopped under it: every operation fails.
fn failed() -> Box<dyn StoreHandle> {
    let server = Server::start("failed", true).expect("server binaries (checked before)");
    let store = PostgresStore::connect(&server.params(None), PostgresOptions::default()).unwrap();
    server.stop();
    Box::new(Handle {
        store,
        _server: Some(server),
    })
}

captoken_core_types::store_conformance_tests!({
    // Missing server binaries: a loud skip, or a failure when CI is set.
    if common::shared().is_none() {
        return;
    }
    StoreSetup { fresh, failed }
});
