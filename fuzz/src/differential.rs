//! The differential target: a provider's verdict on a well-formed random chain equals the reference authorizer's, cold and live, with revocation.
//!
//! Input: byte 0 picks the provider; the rest is read by [`crate::input`] as a
//! root capability, up to five steps that narrow it (one in six hostile), a
//! revocation choice and a request near the chain's authorized set.
//!
//! Asserts, besides "no panic": cold verification (lineage index) and live
//! verification (ancestors supplied) both equal
//! `reference::authorize(root, steps, request)`, except that revoking any
//! credential of the chain denies it, and revoking an unrelated hash changes
//! nothing; no other issuer's key (same key id) and no other format verifies
//! the token.

use arbitrary::Unstructured;
use captoken_core_types::reference::authorize;
use captoken_core_types::{
    LineageHash, MemoryRevocationList, RevocationWriter, Token, VerifyContext,
};

use crate::chain::Chain;
use crate::input;
use crate::providers::{Role, count, select};

/// Most steps in one input.
const MAX_STEPS: usize = 5;

/// Runs one input; the verdict compared with the reference, when the input got that far.
pub fn run(data: &[u8]) -> Option<bool> {
    let (selector, rest) = data.split_first()?;
    let (index, p) = select(Role::Corpus, *selector);
    let mut u = Unstructured::new(rest);
    let root = input::capability(&mut u).ok()?;
    let mut chain = Chain::issue(p, &root)?;
    for _ in 0..u.int_in_range(0..=MAX_STEPS).unwrap_or(0) {
        let step = if u.int_in_range(0u8..=5).unwrap_or(1) == 0 {
            input::hostile_step(&mut u)
        } else {
            input::narrowing_step(&mut u, &chain.current)
        };
        let Ok(step) = step else { break };
        chain.attenuate(p, &step);
    }
    let hashes: Vec<LineageHash> = chain
        .tokens
        .iter()
        .map(|t| match p.lineage_hash(t) {
            Ok(h) => h,
            Err(e) => panic!("{}: no lineage hash for a chain token: {e}", p.name()),
        })
        .collect();
    let revoked = MemoryRevocationList::new();
    let mut chain_revoked = false;
    match u.int_in_range(0u8..=7).unwrap_or(0) {
        0 => {
            // Any credential of the chain: it and every descendant are denied.
            let k = u.choose_index(hashes.len()).unwrap_or(0);
            if let Some(h) = hashes.get(k) {
                chain_revoked = true;
                let _ = revoked.revoke(*h);
            }
        }
        1 => {
            let _ = revoked.revoke(LineageHash(u.arbitrary().unwrap_or([0; 32])));
        }
        _ => {}
    }
    let request = input::request_near(&mut u, &root, &chain.steps).ok()?;
    let want = authorize(&root, &chain.steps, &request);
    let expected = want.is_ok() && !chain_revoked;
    let lineage = chain.index(p);
    let ancestors = chain.ancestors();
    let cold = VerifyContext::new(&revoked, &lineage);
    let live = cold.with_ancestors(&ancestors);
    let leaf = chain.leaf();
    for (how, ctx) in [("cold", &cold), ("live", &live)] {
        let verdict = p.verify(leaf, &request, ctx);
        assert_eq!(
            verdict.is_ok(),
            expected,
            "{}: {how} verdict {verdict:?}, reference {want:?}, chain revoked: {chain_revoked}, \
             for {request:?} on {root:?} after {:?}",
            p.name(),
            chain.steps
        );
    }
    let (_, stranger) = select(Role::Stranger, u8::try_from(index).unwrap_or(0));
    assert!(
        stranger.verify(leaf, &request, &live).is_err(),
        "{}: another issuer's key verifies the token",
        p.name()
    );
    // Another format, reading the token as its own and under its own tag.
    let other_index = (index
        + 1
        + u.choose_index(count().saturating_sub(1).max(1))
            .unwrap_or(0))
        % count();
    let (_, other) = select(Role::Corpus, u8::try_from(other_index).unwrap_or(0));
    if other.format() != p.format() {
        let relabelled = Token::new(other.format(), leaf.as_bytes().to_vec());
        for token in [leaf, &relabelled] {
            assert!(
                other.verify(token, &request, &live).is_err(),
                "{} verifies a {} token",
                other.name(),
                p.name()
            );
        }
    }
    Some(expected)
}
