//! The suites catch broken providers: each wrapper below breaks one rule, and a suite must fail with a shrunk counterexample; the shared conformance suite must fail on them too.
#![allow(clippy::expect_used, clippy::panic, reason = "tests fail by panicking")]

use captoken_core_types::StoreError;
use captoken_core_types::possession::{Account, NonceStore, Reservation};
use captoken_core_types::testing::KeyPlan;
use captoken_core_types::testing::conformance::{self, Setup};
use captoken_core_types::{
    Attenuation, Capability, Constraint, Denied, Error, Format, HolderKey, HolderSigningKey,
    Inspection, LineageEntry, LineageHash, MemoryRevocationList, Properties, Request, Token,
    TokenProvider, Verified, VerifyContext,
};
use captoken_eval::candidate::{Candidate, Hmac};
use captoken_eval::suites::{Suite, run};
use captoken_hmac_provider::{HmacKey, HmacProvider};

/// How a wrapper breaks the HMAC provider.
trait Fault {
    /// Rewrites a capability before it is signed.
    fn issue(cap: &Capability) -> Capability {
        cap.clone()
    }
    /// Whether verification consults the revocation list.
    const CHECKS_REVOCATION: bool = true;
    /// Whether verification keeps the nonces of accepted proofs (Chio's first
    /// nonce cache, which evicted live nonces under load, is the anti-model).
    const KEEPS_NONCES: bool = true;
}

/// A nonce store that forgets every nonce: every proof looks fresh.
struct Forgetful;

impl NonceStore for Forgetful {
    fn reserve(
        &self,
        _scope: &HolderKey,
        _nonce: &[u8; 16],
        _keep_until: u64,
        _now: u64,
        _account: &Account,
    ) -> Result<Reservation, StoreError> {
        Ok(Reservation::Reserved)
    }
}

/// An HMAC provider with one fault.
struct Broken<F> {
    inner: HmacProvider,
    fault: std::marker::PhantomData<F>,
}

impl<F: Fault> TokenProvider for Broken<F> {
    fn format(&self) -> Format {
        self.inner.format()
    }
    fn properties(&self) -> Properties {
        self.inner.properties()
    }
    fn marker(&self) -> captoken_core_types::Marker {
        self.inner.marker()
    }
    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        self.inner.issue(&F::issue(capability))
    }
    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
        self.inner.attenuate(parent, step)
    }
    fn attenuate_signed(
        &self,
        parent: &Token,
        step: &Attenuation,
        holder: &HolderSigningKey,
    ) -> Result<Token, Error> {
        self.inner.attenuate_signed(parent, step, holder)
    }
    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        if !F::KEEPS_NONCES
            && let Some(checking) = ctx.possession
        {
            // The same check, with only the nonce store swapped.
            let mut forgetful = checking;
            forgetful.nonces = &Forgetful;
            self.inner
                .verify(token, request, &ctx.with_possession(forgetful))
        } else if F::CHECKS_REVOCATION {
            self.inner.verify(token, request, ctx)
        } else {
            let nothing_revoked = MemoryRevocationList::new();
            let mut blind =
                VerifyContext::new(&nothing_revoked, ctx.lineage).with_ancestors(ctx.ancestors);
            if let Some(possession) = ctx.possession {
                blind = blind.with_possession(possession);
            }
            self.inner.verify(token, request, &blind)
        }
    }
    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        self.inner.lineage_hash(token)
    }
    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        self.inner.index_entry(token)
    }
    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        self.inner.inspect(token)
    }
    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        self.inner.parse_bytes(bytes)
    }
    fn to_text(&self, token: &Token) -> String {
        self.inner.to_text(token)
    }
    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        self.inner.parse_text(text)
    }
}

impl<F: Fault> Candidate for Broken<F> {
    type Provider = Self;
    const NAME: &'static str = "broken";
    const CRATE: &'static str = "captoken-hmac-provider";

    fn provider_among(key_seed: u8, others: usize) -> Self {
        Self {
            inner: Hmac::provider_among(key_seed, others),
            fault: std::marker::PhantomData,
        }
    }

    fn forge_parent(
        p: &Self,
        parent: &Token,
        step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error> {
        Hmac::forge_parent(&p.inner, parent, step, forged)
    }
}

/// Signs every `Range` constraint as `Any`: the token allows out-of-range integers.
struct IgnoresRanges;

impl Fault for IgnoresRanges {
    fn issue(cap: &Capability) -> Capability {
        let mut cap = cap.clone();
        cap.grants = cap
            .grants
            .into_iter()
            .map(|mut g| {
                for c in g.args.values_mut() {
                    if matches!(c, Constraint::Range { .. }) {
                        *c = Constraint::Any;
                    }
                }
                g
            })
            .collect();
        cap
    }
}

/// Never looks at the revocation list.
struct IgnoresRevocation;

impl Fault for IgnoresRevocation {
    const CHECKS_REVOCATION: bool = false;
}

/// Accepts a replayed proof of possession.
struct ForgetsNonces;

impl Fault for ForgetsNonces {
    const KEEPS_NONCES: bool = false;
}

fn expect_failure<C: Candidate>(suite: Suite) -> String {
    let outcome = run::<C>(suite, 1024);
    let failure = outcome
        .failure
        .unwrap_or_else(|| panic!("the {} suite missed the fault", suite.name()));
    assert!(failure.contains("minimal failing input"), "{failure}");
    failure
}

#[test]
fn binding_catches_an_ignored_constraint() {
    let failure = expect_failure::<Broken<IgnoresRanges>>(Suite::Binding);
    // Shrinking leaves a single grant whose one constraint is the range.
    assert!(failure.contains("Range"), "{failure}");
}

#[test]
fn lineage_catches_ignored_revocation() {
    let failure = expect_failure::<Broken<IgnoresRevocation>>(Suite::Lineage);
    assert!(failure.contains("revoked"), "{failure}");
}

#[test]
fn possession_catches_a_forgetful_nonce_store() {
    let failure = expect_failure::<Broken<ForgetsNonces>>(Suite::Possession);
    assert!(failure.contains("ProofReplay"), "{failure}");
}

#[test]
fn the_same_suites_pass_for_the_sound_provider() {
    for suite in Suite::ALL {
        assert_eq!(run::<Hmac>(suite, 256).failure, None, "{}", suite.name());
    }
}

/// A broken provider over the keyring `plan` describes.
fn keyed<F: Fault + 'static>(
    plan: &KeyPlan,
) -> Result<Box<dyn TokenProvider>, captoken_core_types::KeyError> {
    let ring = plan.build(|id, seed| HmacKey::new(id.clone(), &[seed; 32]))?;
    Ok(Box::new(Broken::<F> {
        inner: HmacProvider::new(ring),
        fault: std::marker::PhantomData,
    }))
}

/// The sound HMAC provider over the keyring `plan` describes.
fn sound_keyed(plan: &KeyPlan) -> Result<Box<dyn TokenProvider>, captoken_core_types::KeyError> {
    let ring = plan.build(|id, seed| HmacKey::new(id.clone(), &[seed; 32]))?;
    Ok(Box::new(HmacProvider::new(ring)))
}

/// The shared conformance suite over a broken provider.
fn conformance_setup<F: Fault + 'static>() -> Setup {
    Setup {
        provider: Box::new(Broken::<F>::provider(0)),
        wrong_key: Box::new(Broken::<F>::provider(1)),
        keyed: keyed::<F>,
    }
}

/// The panic message of `check` on `setup`, if it fails.
fn failure(check: fn(&Setup), setup: &Setup) -> Option<String> {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(setup))).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    )
}

/// The conformance checks that fail on `setup`, with their messages.
fn failing(setup: &Setup) -> Vec<(&'static str, String)> {
    conformance::CHECKS
        .iter()
        .filter_map(|(name, check)| failure(*check, setup).map(|m| (*name, m)))
        .collect()
}

#[test]
fn the_conformance_suite_catches_the_same_faults() {
    // Out-of-range limits are allowed: the request-field check names the request.
    let ranges = failing(&conformance_setup::<IgnoresRanges>());
    let (_, message) = ranges
        .iter()
        .find(|(name, _)| *name == "each_request_field_follows_the_reference")
        .expect("the request-field check catches ignored ranges");
    assert!(message.contains("\"limit\": Int(1001)"), "{message}");
    // Revoked tokens verify, and a failing revocation list goes unnoticed:
    // exactly the three checks about the revocation list fail.
    let revocation = failing(&conformance_setup::<IgnoresRevocation>());
    assert_eq!(
        revocation.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        [
            "revoking_an_ancestor_denies_descendants_only",
            "store_failure_fails_closed",
            "a_lying_lineage_index_never_allows"
        ],
    );
    assert!(
        revocation[0].1.contains("is below revoked token"),
        "{}",
        revocation[0].1
    );
    // A replayed proof is accepted: the possession check catches it.
    let replay = failing(&conformance_setup::<ForgetsNonces>());
    assert_eq!(
        replay.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        ["holder_binding_needs_possession"],
    );
    // The sound provider passes every check.
    let sound = Setup {
        provider: Box::new(Hmac::provider(0)),
        wrong_key: Box::new(Hmac::provider(1)),
        keyed: sound_keyed,
    };
    assert_eq!(failing(&sound), Vec::new());
}
