//! The attenuate target: structure-aware capabilities and hostile attenuation steps through every provider's issue, attenuate and inspect.
//!
//! Input: byte 0 picks the provider; the rest is read by [`crate::input`] as a
//! root capability, up to six steps (half hostile: asking for tools, looser
//! constraints, a longer window or more depth than the parent has; half
//! narrowing), and a request near the chain's authorized set.
//!
//! Asserts, besides "no panic": everything [`Chain::issue`] and
//! [`Chain::attenuate`] check (re-issuing providers refuse exactly when
//! `Capability::attenuate` refuses and sign exactly what it computes; offline
//! providers refuse only at exhausted depth and read the steps back as given);
//! the leaf's verdict equals the reference authorizer's; and a child never
//! allows what its parent (as held by the parent's subject) denies.

use arbitrary::Unstructured;
use captoken_core_types::reference::authorize;
use captoken_core_types::{MemoryRevocationList, Request, VerifyContext};

use crate::chain::Chain;
use crate::input::{self, final_subject};
use crate::providers::{Role, select};

/// Most steps in one input.
const MAX_STEPS: usize = 6;

/// Runs one input; the verdict compared with the reference, when the input got that far.
pub fn run(data: &[u8]) -> Option<bool> {
    let (selector, rest) = data.split_first()?;
    let (_, p) = select(Role::Corpus, *selector);
    let mut u = Unstructured::new(rest);
    let root = input::capability(&mut u).ok()?;
    let mut chain = Chain::issue(p, &root)?;
    let steps = u.int_in_range(0..=MAX_STEPS).unwrap_or(0);
    for _ in 0..steps {
        let step = if u.arbitrary::<bool>().unwrap_or(false) {
            input::hostile_step(&mut u)
        } else {
            input::narrowing_step(&mut u, &chain.current)
        };
        let Ok(step) = step else { break };
        chain.attenuate(p, &step);
    }
    let request = input::request_near(&mut u, &root, &chain.steps).ok()?;
    let index = chain.index(p);
    let revoked = MemoryRevocationList::new();
    let ctx = VerifyContext::new(&revoked, &index);
    let verdict = p.verify(chain.leaf(), &request, &ctx);
    let want = authorize(&root, &chain.steps, &request);
    assert_eq!(
        verdict.is_ok(),
        want.is_ok(),
        "{}: verdict {verdict:?} but the reference says {want:?} for {request:?} after {:?}",
        p.name(),
        chain.steps
    );
    // Monotonicity: what the child allows, its parent allows to the parent's holder.
    if verdict.is_ok()
        && let [.., parent, _] = chain.tokens.as_slice()
    {
        let before = chain.steps.len().saturating_sub(1);
        let as_parent = Request {
            subject: final_subject(&root, chain.steps.get(..before).unwrap_or_default()),
            ..request.clone()
        };
        let by_parent = p.verify(parent, &as_parent, &ctx);
        assert!(
            by_parent.is_ok(),
            "{}: the child allows {request:?} but its parent denies {by_parent:?}",
            p.name()
        );
    }
    Some(verdict.is_ok())
}
