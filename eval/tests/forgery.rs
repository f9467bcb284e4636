//! Each candidate's forgery helper really forges: the lineage suite's forged-parent check is not vacuous.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use captoken_core_types::testing::workload;
use captoken_core_types::{
    Attenuation, DenyReason, LineageHash, LineageIndex, MemoryLineageIndex, MemoryRevocationList,
    TokenProvider, VerifyContext,
};
use captoken_eval::candidate::{Biscuit, Candidate, Hmac, Macaroon, PasetoLocal, PasetoPublic};
use captoken_eval::measure::workload_chain;

fn forged_parent_is_denied<C: Candidate>() {
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let chain = workload_chain(&p, 2).expect("chain");
    let leaf = chain.last().expect("leaf");
    let forged =
        C::forge_parent(&p, leaf, &Attenuation::new(), LineageHash([9; 32])).expect("forged child");
    let genuine = p
        .attenuate(leaf, &Attenuation::new())
        .expect("genuine child");
    for t in chain.iter().chain([&forged, &genuine]) {
        if let Some(entry) = p.index_entry(t).expect("entry") {
            index.record(entry).expect("record");
        }
    }
    let ctx = VerifyContext::new(&revoked, &index);
    let request = workload::request(2);
    assert!(
        p.verify(&genuine, &request, &ctx).is_ok(),
        "{}: the genuine child verifies",
        C::NAME
    );
    let denied = p
        .verify(&forged, &request, &ctx)
        .expect_err("the forged child must be denied");
    assert_eq!(denied.reason(), &DenyReason::LineageMismatch, "{}", C::NAME);
}

#[test]
fn every_candidate_forges_a_parent_hash_that_verification_catches() {
    forged_parent_is_denied::<Hmac>();
    forged_parent_is_denied::<Macaroon>();
    forged_parent_is_denied::<PasetoPublic>();
    forged_parent_is_denied::<PasetoLocal>();
    forged_parent_is_denied::<Biscuit>();
}
