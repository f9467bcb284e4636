//! How the suites and benchmarks obtain each provider: one `Candidate` per token format.

use captoken_biscuit_provider::{BiscuitProvider, RootKey, RootSigningKey};
use captoken_core_types::{
    Attenuation, Capability, Error, KeyId, KeyMaterial, Keyring, LineageHash, ParentRef, Token,
    TokenProvider,
};
use captoken_hmac_provider::{HmacKey, HmacProvider};
use captoken_macaroon_provider::caveat::Claim;
use captoken_macaroon_provider::wire::{Caveat, Macaroon as WireMacaroon};
use captoken_macaroon_provider::{MacaroonKey, MacaroonProvider};
use captoken_paseto_provider::{
    LocalKey, PasetoLocalProvider, PasetoPublicProvider, PublicEntry, SigningKey,
};
use hmac::Mac as _;

/// The key id every candidate issues under (the suites' and the workload's).
pub const KEY_ID: &str = captoken_core_types::testing::KEY_ID;

/// A token format under evaluation: how to build its provider, and how a holder
/// or a faulty issuer forges a declared parent hash in it.
pub trait Candidate {
    /// The provider type.
    type Provider: TokenProvider;

    /// The name in reports and test names, for example `hmac`.
    const NAME: &'static str;

    /// The crate that provides it, for the dependency table.
    const CRATE: &'static str;

    /// A provider that issues and verifies under [`KEY_ID`] with key material
    /// derived from `key_seed`: two seeds give two unrelated keys of the same id.
    fn provider(key_seed: u8) -> Self::Provider {
        Self::provider_among(key_seed, 0)
    }

    /// [`Candidate::provider`], its keyring also holding `others` published
    /// (verify-only) keys of other ids: key selection must cost the same for
    /// 1 key and 1000 (DESIGN.md §9).
    fn provider_among(key_seed: u8, others: usize) -> Self::Provider;

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
    child.parent = Some(ParentRef::new(provider.format(), parent_cap.id, forged));
    provider.issue(&child)
}

/// Shared-secret HMAC tokens.
#[derive(Debug)]
pub struct Hmac;

impl Candidate for Hmac {
    type Provider = HmacProvider;
    const NAME: &'static str = "hmac";
    const CRATE: &'static str = "captoken-hmac-provider";

    fn provider_among(key_seed: u8, others: usize) -> HmacProvider {
        HmacProvider::new(ring_among(
            key_seed,
            others,
            |id: KeyId, secret: [u8; 32]| {
                HmacKey::new(id, &secret)
                    .unwrap_or_else(|_| unreachable!("a 32-byte secret is accepted"))
            },
        ))
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

/// The 32 bytes of key material for a seed.
fn secret(key_seed: u8) -> [u8; 32] {
    [key_seed.wrapping_add(1); 32]
}

/// The keyring of [`Candidate::provider_among`]: the key [`KEY_ID`] from
/// `key_seed`, then `others` extra keys; `make` builds one key of the format
/// from an id and 32 bytes of material.
fn ring_among<K: KeyMaterial>(
    key_seed: u8,
    others: usize,
    make: impl Fn(KeyId, [u8; 32]) -> K,
) -> Keyring<K> {
    let mut ring = Keyring::single(make(key_id(), secret(key_seed)));
    for i in 0..others {
        // A collision of derived selectors only drops that extra key.
        let _ = ring.insert(make(other_id(i), other_secret(i)));
    }
    ring
}

/// The id of the `i`-th extra key of [`Candidate::provider_among`].
fn other_id(i: usize) -> KeyId {
    KeyId::new(format!("extra-{i}")).unwrap_or_else(|_| unreachable!("a short printable id"))
}

/// The material of the `i`-th extra key: distinct from every other and from
/// every [`secret`] (its last byte is 0xee).
fn other_secret(i: usize) -> [u8; 32] {
    let mut s = [0xee; 32];
    if let Some(head) = s.get_mut(..8) {
        head.copy_from_slice(&(i as u64).to_be_bytes());
    }
    s
}

/// Macaroons in the libmacaroons v2 format, attenuated offline.
#[derive(Debug)]
pub struct Macaroon;

impl Candidate for Macaroon {
    type Provider = MacaroonProvider;
    const NAME: &'static str = "macaroon";
    const CRATE: &'static str = "captoken-macaroon-provider";

    fn provider_among(key_seed: u8, others: usize) -> MacaroonProvider {
        MacaroonProvider::new(ring_among(
            key_seed,
            others,
            |id: KeyId, secret: [u8; 32]| {
                MacaroonKey::new(id, &secret)
                    .unwrap_or_else(|_| unreachable!("a 32-byte secret is accepted"))
            },
        ))
    }

    /// The holder appends the step as `attenuate` would, but declares `forged`
    /// in its boundary caveat and re-chains the signature from the parent's, as
    /// any holder can.
    fn forge_parent(
        provider: &MacaroonProvider,
        parent: &Token,
        step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error> {
        let malformed = |_| Error::Malformed("macaroon");
        let genuine = provider.attenuate(parent, step)?;
        let mut m = WireMacaroon::decode(parent.as_bytes()).map_err(malformed)?;
        let child = WireMacaroon::decode(genuine.as_bytes()).map_err(malformed)?;
        let mut added: Vec<Caveat> = child
            .caveats
            .get(m.caveats.len()..)
            .unwrap_or_default()
            .to_vec();
        let boundary = added.first_mut().ok_or(Error::Malformed("no boundary"))?;
        let Ok(Claim::Step { count, .. }) = Claim::parse(&boundary.id) else {
            return Err(Error::Malformed("no boundary"));
        };
        boundary.id = Claim::Step {
            parent: forged,
            count,
        }
        .encode()
        .into_bytes();
        for caveat in added {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&m.signature)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(&caveat.id);
            m.signature = mac.finalize().into_bytes().into();
            m.caveats.push(caveat);
        }
        Ok(Token::new(
            captoken_macaroon_provider::FORMAT,
            m.encode().map_err(malformed)?,
        ))
    }
}

/// PASETO `v4.public`: Ed25519-signed, re-issued to attenuate.
#[derive(Debug)]
pub struct PasetoPublic;

impl Candidate for PasetoPublic {
    type Provider = PasetoPublicProvider;
    const NAME: &'static str = "paseto-public";
    const CRATE: &'static str = "captoken-paseto-provider";

    fn provider_among(key_seed: u8, others: usize) -> PasetoPublicProvider {
        PasetoPublicProvider::new(ring_among(key_seed, others, |id: KeyId, seed: [u8; 32]| {
            PublicEntry::from(
                SigningKey::from_seed(id, &seed)
                    .unwrap_or_else(|_| unreachable!("a non-zero seed is accepted")),
            )
        }))
    }

    fn forge_parent(
        provider: &PasetoPublicProvider,
        parent: &Token,
        step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error> {
        reissue_with_forged_parent(provider, parent, step, forged)
    }
}

/// PASETO `v4.local`: the shared-secret variant, for comparison.
#[derive(Debug)]
pub struct PasetoLocal;

impl Candidate for PasetoLocal {
    type Provider = PasetoLocalProvider;
    const NAME: &'static str = "paseto-local";
    const CRATE: &'static str = "captoken-paseto-provider";

    fn provider_among(key_seed: u8, others: usize) -> PasetoLocalProvider {
        PasetoLocalProvider::new(ring_among(
            key_seed,
            others,
            |id: KeyId, secret: [u8; 32]| {
                LocalKey::from_bytes(id, &secret)
                    .unwrap_or_else(|_| unreachable!("32 bytes are a local key"))
            },
        ))
    }

    fn forge_parent(
        provider: &PasetoLocalProvider,
        parent: &Token,
        step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error> {
        reissue_with_forged_parent(provider, parent, step, forged)
    }
}

/// Biscuit on biscuit-auth 6: Datalog, attenuated offline, verified with the root public key.
#[derive(Debug)]
pub struct Biscuit;

impl Candidate for Biscuit {
    type Provider = BiscuitProvider;
    const NAME: &'static str = "biscuit";
    const CRATE: &'static str = "captoken-biscuit-provider";

    fn provider_among(key_seed: u8, others: usize) -> BiscuitProvider {
        BiscuitProvider::new(ring_among(key_seed, others, |id, seed: [u8; 32]| {
            RootKey::from(RootSigningKey::ed25519_from_seed(id, &seed))
        }))
    }

    /// The holder appends, with biscuit-auth's own API, a block that declares
    /// `forged` as its parent's lineage hash (and nothing else).
    fn forge_parent(
        _provider: &BiscuitProvider,
        parent: &Token,
        _step: &Attenuation,
        forged: LineageHash,
    ) -> Result<Token, Error> {
        let library = |e: biscuit_auth::error::Token| Error::Format(Box::new(e));
        let block = biscuit_auth::builder::BlockBuilder::new()
            .fact(biscuit_auth::builder::fact(
                "parent",
                &[biscuit_auth::builder::Term::Bytes(forged.0.to_vec())],
            ))
            .map_err(library)?;
        let child = biscuit_auth::UnverifiedBiscuit::from(parent.as_bytes())
            .and_then(|t| t.append(block))
            .and_then(|t| t.to_vec())
            .map_err(library)?;
        Ok(Token::new(captoken_biscuit_provider::FORMAT, child))
    }
}
