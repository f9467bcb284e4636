//! The schema's version stamp and persisted bounds: a newer schema is refused
//! by every connect and by every new connection of an open handle, and a
//! reconnect cannot change the bounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use captoken_core_types::{RevocationList, StoreError};
use captoken_store_postgres::{PostgresOptions, PostgresStore, SCHEMA_VERSION};

#[test]
fn a_newer_schema_is_refused() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    // Named, so that its connections can be told from other tests'.
    let named = format!("{params} application_name=newer_schema_test");
    let store = PostgresStore::connect(&named, PostgresOptions::default()).unwrap();
    assert!(
        !store
            .is_revoked(&captoken_core_types::LineageHash([1; 32]))
            .unwrap()
    );
    let mut admin = postgres::Client::connect(&params, postgres::NoTls).unwrap();
    let version: i32 = admin
        .query_one("SELECT version FROM captoken_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(u32::try_from(version).unwrap(), SCHEMA_VERSION);
    admin
        .batch_execute("UPDATE captoken_schema SET version = version + 1")
        .unwrap();
    match PostgresStore::connect(&params, PostgresOptions::default()) {
        Err(StoreError::Backend(m)) => assert!(m.contains("newer"), "{m}"),
        other => panic!("a newer schema accepted: {other:?}"),
    }
    // The open handle's next new connection checks the version too: kill its
    // idle connection so that it has to open one.
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'newer_schema_test'",
        )
        .unwrap();
    let got = store.is_revoked(&captoken_core_types::LineageHash([1; 32]));
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    let got = store.is_revoked(&captoken_core_types::LineageHash([1; 32]));
    match got {
        Err(StoreError::Backend(m)) => assert!(m.contains("newer"), "{m}"),
        other => panic!("a newer schema read: {other:?}"),
    }
}

#[test]
fn a_database_that_is_not_a_store_is_refused_and_bad_params_are_errors() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    drop(PostgresStore::connect(&params, PostgresOptions::default()).unwrap());
    let mut admin = postgres::Client::connect(&params, postgres::NoTls).unwrap();
    admin.batch_execute("DELETE FROM captoken_schema").unwrap();
    let got = PostgresStore::connect(&params, PostgresOptions::default());
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    let got = PostgresStore::connect("host=", PostgresOptions::default());
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    let got = PostgresStore::connect("not a = valid ' string", PostgresOptions::default());
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
}

#[test]
fn bounds_are_written_once_and_read_back() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    let first = PostgresStore::connect(
        &params,
        PostgresOptions::default()
            .with_nonce_bounds(7, 3)
            .with_holder_key_capacity(5),
    )
    .unwrap();
    let second = PostgresStore::connect(
        &params,
        PostgresOptions::default()
            .with_nonce_bounds(1, 1)
            .with_holder_key_capacity(1),
    )
    .unwrap();
    for s in [&first, &second] {
        assert_eq!(
            (s.nonce_capacity(), s.nonce_quota(), s.holder_key_capacity()),
            (7, 3, 5)
        );
    }
}

#[test]
fn connection_strings_come_from_the_environment_and_never_reach_errors() {
    let var = "CAPTOKEN_TEST_UNSET_DATABASE_URL";
    match PostgresStore::connect_env(var, PostgresOptions::default()) {
        Err(StoreError::Backend(m)) => assert!(m.contains(var), "{m}"),
        other => panic!("an unset variable must be an error, got {other:?}"),
    }
    let Some(server) = common::shared() else {
        return;
    };
    // A password in the string is not echoed by a failed connect.
    let secret = "hunter2-do-not-print";
    let params = format!("{} password={secret} sslmode=require", server.params(None));
    match PostgresStore::connect(&params, PostgresOptions::default()) {
        // No TLS: `sslmode=require` fails rather than falling back to plain text.
        Err(StoreError::Backend(m)) => assert!(!m.contains(secret), "{m}"),
        other => panic!("sslmode=require must fail without TLS, got {other:?}"),
    }
}
