//! Checks of the harness itself: the seeds pass their targets, and the oracles are reachable (tokens get accepted, verdicts land on both sides).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::collections::BTreeMap;

use captoken_core_types::testing::workload;
use captoken_core_types::{MemoryRevocationList, VerifyContext};
use captoken_fuzz::providers::{Role, count, providers};
use captoken_fuzz::seeds::{self, DEPTHS};
use captoken_fuzz::{attenuate, decode, differential, pool, verify};

/// Every seed runs through its target without violating a property, and the
/// verify seeds reach acceptance for every provider: untampered genuine
/// tokens, and (offline formats) tokens a holder extended.
#[test]
fn every_seed_passes_its_target() {
    let mut accepted: BTreeMap<(u8, u8), usize> = BTreeMap::new();
    for s in seeds::all() {
        match s.target {
            "decode" => decode::run(&s.data),
            "verify" => {
                if verify::run(&s.data) {
                    *accepted.entry((s.data[0], s.data[1])).or_default() += 1;
                }
            }
            "attenuate" => {
                let _ = attenuate::run(&s.data);
            }
            "differential" => {
                let _ = differential::run(&s.data);
            }
            other => panic!("seed for an unknown target {other}"),
        }
    }
    for (i, p) in providers(Role::Verifier).iter().enumerate() {
        let sel = u8::try_from(i).unwrap();
        assert!(
            accepted.get(&(sel, 2)).copied().unwrap_or(0) > 0,
            "{}: no genuine seed accepted",
            p.name()
        );
        if matches!(p.name(), "macaroon" | "biscuit") {
            assert!(
                accepted.get(&(sel, 3)).copied().unwrap_or(0) > 0,
                "{}: no extended seed accepted",
                p.name()
            );
        }
    }
}

/// Untampered pool tokens verify for the workload request.
#[test]
fn genuine_pool_tokens_are_accepted() {
    for (i, p) in providers(Role::Verifier).iter().enumerate() {
        let pool = pool::pool(i);
        let revoked = MemoryRevocationList::new();
        let ctx = VerifyContext::new(&revoked, &pool.index);
        for depth in DEPTHS {
            let g = &pool.entries[depth];
            assert!(
                p.verify(&g.token, &workload::request(depth), &ctx).is_ok(),
                "{} depth {depth}",
                p.name()
            );
        }
    }
}

/// A fixed pseudo-random input (xorshift32), not a source of randomness.
fn input(selector: u8, state: &mut u32, len: usize) -> Vec<u8> {
    let mut v = vec![selector];
    for _ in 0..len {
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
        v.push(state.to_le_bytes()[0]);
    }
    v
}

/// On uniform input bytes the structure-aware targets reach the reference
/// comparison for every provider, with both verdicts: the pools are small
/// enough for requests to be allowed.
#[test]
fn structured_targets_reach_both_verdicts() {
    const INPUTS: usize = 150;
    let mut report = Vec::new();
    for (target, run) in [
        ("attenuate", attenuate::run as fn(&[u8]) -> Option<bool>),
        ("differential", differential::run),
    ] {
        for i in 0..count() {
            let sel = u8::try_from(i).unwrap();
            let mut state = 0x9e37_79b9;
            let (mut allowed, mut denied) = (0, 0);
            for _ in 0..INPUTS {
                match run(&input(sel, &mut state, 200)) {
                    Some(true) => allowed += 1,
                    Some(false) => denied += 1,
                    None => {}
                }
            }
            let name = providers(Role::Corpus)[i].name();
            report.push(format!(
                "{target} {name}: allowed {allowed}, denied {denied} of {INPUTS}"
            ));
            // Hostile steps narrow offline chains (half the attenuate target's
            // steps), so allowed verdicts are rarer there.
            let floor = INPUTS / 20;
            if allowed < floor || denied < floor {
                panic!("{}", report.join("\n"));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
}
