//! The revocation snapshot against a real server: the load at start, the
//! propagation of a revocation written through another handle, several
//! snapshots on one server, the isolation of stores in other schemas, the
//! staleness bound when the server goes away, and the reload on its return.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::time::{Duration, Instant};

use captoken_core_types::{LineageHash, RevocationList, RevocationWriter, StoreError};
use captoken_store_postgres::{PostgresOptions, PostgresStore, RevocationSnapshot, SCHEMA_VERSION};

const BOUND: Duration = Duration::from_millis(200);

/// Polls `f` every millisecond for up to five seconds; how long it took, or
/// `None` when it never held.
fn within_5s(mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn revoked(s: &RevocationSnapshot, seed: u8) -> bool {
    s.is_revoked(&LineageHash([seed; 32])).unwrap()
}

#[test]
fn the_load_at_start_sees_existing_revocations() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    let store = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    store.revoke(LineageHash([1; 32])).unwrap();
    store.revoke(LineageHash([2; 32])).unwrap();
    let snapshot = RevocationSnapshot::start(&params, BOUND).unwrap();
    assert_eq!(snapshot.staleness(), None);
    assert_eq!(snapshot.len().unwrap(), 2);
    assert!(revoked(&snapshot, 1));
    assert!(revoked(&snapshot, 2));
    assert!(!revoked(&snapshot, 3));
    let some = [LineageHash([3; 32]), LineageHash([2; 32])];
    assert!(snapshot.any_revoked(&some).unwrap());
    assert!(!snapshot.any_revoked(&some[..1]).unwrap());
    assert!(!snapshot.any_revoked(&[]).unwrap());
}

#[test]
fn a_revocation_through_another_handle_propagates_and_other_schemas_are_ignored() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    let other = server.fresh_schema();
    let store = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    let other_store = PostgresStore::connect(&other, PostgresOptions::default()).unwrap();
    let snapshot = RevocationSnapshot::start(&params, BOUND).unwrap();
    assert!(!revoked(&snapshot, 9));
    // Revoked in another store of the same database first: notifications of
    // committed transactions arrive in commit order, so once 10 has arrived,
    // 9 would have too had the snapshot not kept to its own schema.
    other_store.revoke(LineageHash([9; 32])).unwrap();
    let written = Instant::now();
    store.revoke(LineageHash([10; 32])).unwrap();
    let took = within_5s(|| revoked(&snapshot, 10));
    let total = written.elapsed();
    eprintln!(
        "revocation propagation: visible in the snapshot {took:?} after the revoke returned \
         ({total:?} after it was called)"
    );
    assert!(took.is_some(), "the revocation never reached the snapshot");
    assert!(!revoked(&snapshot, 9));
    assert_eq!(snapshot.staleness(), None);
}

#[test]
fn four_snapshots_on_one_server_all_see_one_revocation() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    let store = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    let snapshots: Vec<RevocationSnapshot> = (0..4)
        .map(|_| RevocationSnapshot::start(&params, BOUND).unwrap())
        .collect();
    for s in &snapshots {
        assert!(!revoked(s, 20));
    }
    store.revoke(LineageHash([20; 32])).unwrap();
    for (i, s) in snapshots.iter().enumerate() {
        let took = within_5s(|| revoked(s, 20));
        eprintln!("snapshot {i}: revocation visible after {took:?}");
        assert!(took.is_some(), "snapshot {i} never saw the revocation");
    }
}

#[test]
fn a_database_without_the_schema_is_refused() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    let got = RevocationSnapshot::start(&params, BOUND);
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    let got = RevocationSnapshot::start("not a = valid ' string", BOUND);
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
}

#[test]
fn drop_stops_the_background_thread_and_closes_its_connection() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    drop(PostgresStore::connect(&params, PostgresOptions::default()).unwrap());
    let named = format!("{params} application_name=snapshot_drop_test");
    let snapshot = RevocationSnapshot::start(&named, BOUND).unwrap();
    let mut admin = postgres::Client::connect(&params, postgres::NoTls).unwrap();
    let mut listeners = || -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'snapshot_drop_test'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(listeners(), 1);
    let dropping = Instant::now();
    drop(snapshot);
    eprintln!("drop took {:?}", dropping.elapsed());
    assert!(
        within_5s(|| listeners() == 0).is_some(),
        "the snapshot's connection outlived it"
    );
}

#[test]
fn a_lost_server_makes_the_snapshot_stale_then_denying_and_its_return_reloads_it() {
    let Some(server) = common::Server::start("snapshot-outage", true) else {
        return;
    };
    let params = server.params(None);
    let store = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    store.revoke(LineageHash([30; 32])).unwrap();
    // The snapshot logs in as a role of its own, so that the test can keep it
    // out after the restart until a revocation has been written.
    let mut admin = postgres::Client::connect(&params, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE ROLE snapper LOGIN; \
             GRANT SELECT ON captoken_schema, captoken_revoked TO snapper;",
        )
        .unwrap();
    let snapper = params.replace("user=captoken", "user=snapper");
    assert_ne!(snapper, params);
    let snapshot = RevocationSnapshot::start(&snapper, BOUND).unwrap();
    assert_eq!(snapshot.max_staleness(), BOUND);
    assert_eq!(snapshot.staleness(), None);
    assert!(revoked(&snapshot, 30));
    // Existing sessions keep running; new logins of the role are refused.
    admin.batch_execute("ALTER ROLE snapper NOLOGIN").unwrap();
    drop(admin);
    drop(store);

    server.stop();
    let lost = within_5s(|| snapshot.staleness().is_some());
    assert!(lost.is_some(), "the loss was never reported");
    eprintln!("loss reported {lost:?} after the server stopped");
    // Within the bound, the snapshot still answers from memory.
    let staleness = snapshot.staleness().unwrap();
    let answer = snapshot.is_revoked(&LineageHash([30; 32]));
    if staleness + Duration::from_millis(50) < BOUND {
        assert!(matches!(answer, Ok(true)), "{answer:?}");
    }
    // Beyond it, every call fails.
    std::thread::sleep(BOUND + Duration::from_millis(50));
    assert!(snapshot.staleness().unwrap() > BOUND);
    for seed in [30, 31] {
        let got = snapshot.is_revoked(&LineageHash([seed; 32]));
        assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    }
    let got = snapshot.any_revoked(&[LineageHash([30; 32])]);
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");

    // The server returns, but the snapshot cannot log in yet: a revocation
    // is written while it is away, and it keeps denying.
    server.resume();
    let store = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    store.revoke(LineageHash([31; 32])).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let got = snapshot.is_revoked(&LineageHash([31; 32]));
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    assert!(snapshot.staleness().is_some());

    // Let it in: it reconnects, reloads the whole table, and is fresh again,
    // with the revocation made while it was away.
    let mut admin = postgres::Client::connect(&params, postgres::NoTls).unwrap();
    admin.batch_execute("ALTER ROLE snapper LOGIN").unwrap();
    let back = within_5s(|| snapshot.is_revoked(&LineageHash([31; 32])).is_ok());
    eprintln!("fresh again {back:?} after logins were allowed");
    assert!(back.is_some(), "the snapshot never came back");
    assert_eq!(snapshot.staleness(), None);
    assert!(revoked(&snapshot, 30));
    assert!(revoked(&snapshot, 31));
    // And it follows notifications again.
    store.revoke(LineageHash([32; 32])).unwrap();
    assert!(within_5s(|| revoked(&snapshot, 32)).is_some());
}

#[test]
fn a_version_1_store_is_refused_until_migrated_and_then_announces_revocations() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    drop(PostgresStore::connect(&params, PostgresOptions::default()).unwrap());
    // Back to version 1: the tables without the announcing trigger.
    let mut admin = postgres::Client::connect(&params, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "DROP TRIGGER captoken_revoked_notified ON captoken_revoked; \
             DROP FUNCTION captoken_notify_revoked(); \
             UPDATE captoken_schema SET version = 1;",
        )
        .unwrap();
    match RevocationSnapshot::start(&params, BOUND) {
        Err(StoreError::Backend(m)) => assert!(m.contains("needs migrating"), "{m}"),
        other => panic!("a version 1 store accepted: {other:?}"),
    }
    // A connect migrates it forward, trigger included.
    let store = PostgresStore::connect(&params, PostgresOptions::default()).unwrap();
    let version: i32 = admin
        .query_one("SELECT version FROM captoken_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(u32::try_from(version).unwrap(), SCHEMA_VERSION);
    let snapshot = RevocationSnapshot::start(&params, BOUND).unwrap();
    store.revoke(LineageHash([40; 32])).unwrap();
    assert!(within_5s(|| revoked(&snapshot, 40)).is_some());
}
