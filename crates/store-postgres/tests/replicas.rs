//! Verifier replicas sharing one database: each its own `PostgresStore` with
//! its own connections, racing on the same nonces and bounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::sync::Barrier;

use captoken_core_types::NonceStore;
use captoken_core_types::possession::Reservation;
use captoken_store_postgres::{PostgresOptions, PostgresStore};

const REPLICAS: usize = 4;
const NONCES: u16 = 1000;

/// Counts the answers of `REPLICAS` stores presenting `nonces` at once, each
/// in its own order; in one scope for all, or (`distinct`) a scope each, so
/// that no two replicas present the same nonce.
fn race(
    params: &str,
    options: &PostgresOptions,
    nonces: &[[u8; 16]],
    distinct: bool,
) -> (usize, usize, usize) {
    let replicas: Vec<PostgresStore> = (0..REPLICAS)
        .map(|_| PostgresStore::connect(params, options.clone()).unwrap())
        .collect();
    let start = Barrier::new(REPLICAS);
    let answers: Vec<Vec<Reservation>> = std::thread::scope(|s| {
        let workers: Vec<_> = replicas
            .iter()
            .enumerate()
            .map(|(r, store)| {
                let start = &start;
                s.spawn(move || {
                    let mut order: Vec<&[u8; 16]> = nonces.iter().collect();
                    if r % 2 == 1 {
                        order.reverse();
                    }
                    let scope = common::holder(if distinct { 1 + r as u8 } else { 1 });
                    start.wait();
                    order
                        .into_iter()
                        .map(|n| {
                            store
                                .reserve(&scope, n, 2_000, 1_000, &common::account(1))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let all = answers.iter().flatten();
    let count = |want: Reservation| all.clone().filter(|a| **a == want).count();
    (
        count(Reservation::Reserved),
        count(Reservation::Replayed),
        count(Reservation::Full),
    )
}

fn nonces(n: u16) -> Vec<[u8; 16]> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..2].copy_from_slice(&i.to_be_bytes());
            b
        })
        .collect()
}

#[test]
fn four_replicas_accept_each_of_a_thousand_nonces_exactly_once() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    let options = PostgresOptions::default().with_nonce_bounds(10_000, 10_000);
    let (reserved, replayed, full) = race(&params, &options, &nonces(NONCES), false);
    assert_eq!(reserved, usize::from(NONCES));
    assert_eq!(replayed, (REPLICAS - 1) * usize::from(NONCES));
    assert_eq!(full, 0);
}

#[test]
fn replicas_racing_for_the_last_places_cannot_all_pass_the_bound() {
    let Some(server) = common::shared() else {
        return;
    };
    let params = server.fresh_schema();
    // Room for 100 nonces; each replica presents 300 nonces no other replica
    // presents: only 100 may be accepted in all, the rest refused as full.
    let options = PostgresOptions::default().with_nonce_bounds(100, 1_000);
    let (reserved, replayed, full) = race(&params, &options, &nonces(300), true);
    assert_eq!(reserved, 100);
    assert_eq!(replayed, 0);
    assert_eq!(full, REPLICAS * 300 - 100);
    // A reconnect sees the same bounds, whatever it asks for.
    let again = PostgresStore::connect(
        &params,
        PostgresOptions::default().with_nonce_bounds(1_000_000, 1_000_000),
    )
    .unwrap();
    assert_eq!((again.nonce_capacity(), again.nonce_quota()), (100, 1_000));
    assert_eq!(
        again
            .reserve(
                &common::holder(9),
                &[9; 16],
                2_000,
                1_000,
                &common::account(9)
            )
            .unwrap(),
        Reservation::Full
    );
}
