//! How the suites and benchmarks obtain each provider: one `Candidate` per token format.

use captoken_core_types::{
    Attenuation, Capability, Error, KeyId, LineageHash, ParentRef, Token, TokenProvider,
};
use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider};

/// The key id every candidate issues under (the suites' and the workload's).
pub const KEY_ID: &str = captoken_core_types::testing::KEY_ID;

/// A token format under evaluation: how to build its provider, and how a holder
/// or a faulty issuer forges a declared parent hash in it.
pub trait Candidate {
    /// The provider type.
    type Provider: TokenProvider;

    /// The name in reports and test names, for example `hmac`.
    const NAME: &'static str;

    /// A provider that issues and verifies under [`KEY_ID`] with key material
    /// derived from `key_seed`: two seeds give two unrelated keys of the same id.
    fn provider(key_seed: u8) -> Self::Provider;

    /// A child of `parent` for `step` whose declared parent lineage hash is
    /// `forged` instead of the real one, made with only what the party who
    /// extends a chain holds in this format (the holder for offline formats, the
    /// issuer for re-issuance). A verifier must deny it.
    ///
    /// # Errors
    /// When the child cannot be made (for example a step the issuer refuses).
    fn forge_parent(
        provider: &Self::Provider,
        parent: &Token,
        step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error>;
}

/// The key id, checked.
#[must_use]
pub fn key_id() -> KeyId {
    KeyId::new(KEY_ID).unwrap_or_else(|_| unreachable!("the testing key id is valid"))
}

/// A re-issuing issuer that records a wrong parent hash: it authenticates and
/// narrows `parent` as usual, then signs the child with `forged` as its parent's hash.
///
/// # Errors
/// When `parent` does not parse or the step is refused.
pub fn reissue_with_forged_parent<P: TokenProvider>(
    provider: &P,
    parent: &Token,
    step: &Attenuation,
    forged: LineageHash,
) -> Result<Token, Error> {
    let parent_cap: Capability = provider.inspect(parent)?.capability;
    let mut child = parent_cap.attenuate(step)?;
    child.id = captoken_core_types::TokenId::random()?;
    child.parent = Some(ParentRef {
        id: parent_cap.id,
        hash: forged,
    });
    provider.issue(&child)
}

/// Shared-secret HMAC tokens.
#[derive(Debug)]
pub struct Hmac;

impl Candidate for Hmac {
    type Provider = HmacProvider;
    const NAME: &'static str = "hmac";

    fn provider(key_seed: u8) -> HmacProvider {
        let secret = [key_seed.wrapping_add(1); 32];
        let key = HmacKey::new(key_id(), &secret)
            .unwrap_or_else(|_| unreachable!("a 32-byte secret is accepted"));
        HmacProvider::new(HmacKeyring::from_keys([key]))
    }

    fn forge_parent(
        provider: &HmacProvider,
        parent: &Token,
        step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error> {
        reissue_with_forged_parent(provider, parent, step, forged)
    }
}
