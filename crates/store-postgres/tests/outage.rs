//! The server stopped mid-run (`pg_ctl stop -m immediate`, as in a crash):
//! every operation fails while it is down, and once it is back every
//! acknowledged revocation and nonce is there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::time::Duration;

use captoken_core_types::possession::Reservation;
use captoken_core_types::{
    HolderKeyRecord, HolderKeys, KeyState, LineageEntry, LineageHash, LineageIndex, NonceStore,
    RevocationList, RevocationWriter, TokenId,
};
use captoken_store_postgres::{PostgresOptions, PostgresStore};
use common::{Server, account, holder};

const NOW: u64 = 1_000;

fn nonce(i: u8) -> [u8; 16] {
    [i; 16]
}

/// Every operation of the five traits, each as `Ok`/`Err` and the value.
fn every_operation(s: &PostgresStore) -> Vec<(&'static str, String)> {
    vec![
        ("revoke", format!("{:?}", s.revoke(LineageHash([200; 32])))),
        (
            "is_revoked",
            format!("{:?}", s.is_revoked(&LineageHash([1; 32]))),
        ),
        (
            "any_revoked",
            format!(
                "{:?}",
                s.any_revoked(&[LineageHash([1; 32]), LineageHash([201; 32])])
            ),
        ),
        (
            "record",
            format!(
                "{:?}",
                s.record(LineageEntry::new(
                    TokenId([200; 16]),
                    LineageHash([200; 32]),
                    None,
                    vec![1]
                ))
            ),
        ),
        (
            "get",
            format!("{:?}", LineageIndex::get(s, &TokenId([1; 16]))),
        ),
        (
            "ancestry",
            format!("{:?}", s.ancestry(&TokenId([1; 16]), 4)),
        ),
        (
            "reserve",
            format!(
                "{:?}",
                s.reserve(&holder(1), &nonce(200), NOW + 60, NOW, &account(1))
            ),
        ),
        (
            "insert",
            format!(
                "{:?}",
                s.insert("agent:x", HolderKeyRecord::new(holder(200), 0, 5_000))
            ),
        ),
        (
            "set_state",
            format!(
                "{:?}",
                s.set_state("agent:a", &holder(1), KeyState::Retired { at: NOW })
            ),
        ),
        ("keys", format!("{:?}", s.keys("agent:a"))),
    ]
}

#[test]
fn a_stopped_server_fails_every_operation_and_keeps_every_acknowledged_write() {
    let Some(server) = Server::start("outage", false) else {
        return;
    };
    let params = server.params(None);
    let options = PostgresOptions::default().with_connect_timeout(Duration::from_secs(2));
    let store = PostgresStore::connect(&params, options.clone()).unwrap();

    // Acknowledged writes, from two threads so that the pool holds several
    // connections when the server goes.
    std::thread::scope(|s| {
        for half in 0..2u8 {
            let store = &store;
            s.spawn(move || {
                for i in (1..=100u8).filter(|i| i % 2 == half) {
                    store.revoke(LineageHash([i; 32])).unwrap();
                    assert_eq!(
                        store
                            .reserve(&holder(1), &nonce(i), NOW + 60, NOW, &account(1))
                            .unwrap(),
                        Reservation::Reserved
                    );
                }
            });
        }
    });
    store
        .record(LineageEntry::new(
            TokenId([1; 16]),
            LineageHash([1; 32]),
            None,
            vec![7],
        ))
        .unwrap();
    store
        .insert("agent:a", HolderKeyRecord::new(holder(1), 0, 5_000))
        .unwrap();

    server.stop();
    for round in 0..2 {
        for (op, got) in every_operation(&store) {
            assert!(
                got.starts_with("Err(Backend("),
                "round {round}: {op} with the server down: {got}"
            );
        }
    }
    // A new handle cannot even connect.
    let refused = PostgresStore::connect(&params, options.clone());
    assert!(refused.is_err(), "{refused:?}");

    server.resume();
    let fresh = PostgresStore::connect(&params, options).unwrap();
    // The old handle recovers too: its broken connections were not kept.
    for s in [&fresh, &store] {
        for i in 1..=100u8 {
            assert!(
                s.is_revoked(&LineageHash([i; 32])).unwrap(),
                "revocation {i}"
            );
            assert_eq!(
                s.reserve(&holder(1), &nonce(i), NOW + 60, NOW, &account(1))
                    .unwrap(),
                Reservation::Replayed,
                "nonce {i}"
            );
        }
        assert!(!s.is_revoked(&LineageHash([200; 32])).unwrap());
        assert!(LineageIndex::get(s, &TokenId([1; 16])).unwrap().is_some());
        assert_eq!(s.keys("agent:a").unwrap().len(), 1);
    }
}
