//! The providers under fuzzing: how to build each with a fixed key, and what each format offers beyond the `TokenProvider` contract.

use std::sync::OnceLock;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use biscuit_auth::UnverifiedBiscuit;
use biscuit_auth::builder::BlockBuilder;
use captoken_biscuit_provider::{
    BiscuitKeyring, BiscuitProvider, Limits, RootPublicKey, RootSigningKey,
};
use captoken_core_types::{Capability, KeyId, Token, TokenProvider};
use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider, wire as hmac_wire};
use captoken_macaroon_provider::caveat::{Claim, Identifier};
use captoken_macaroon_provider::wire::{Caveat, Macaroon};
use captoken_macaroon_provider::{
    MacaroonKey, MacaroonKeyring, MacaroonProvider, ThirdPartyCaveat, bind_discharge,
    mint_discharge,
};
use captoken_paseto_provider::{
    LocalKey, LocalKeyring, PasetoLocalProvider, PasetoPublicProvider, PublicKeyring, SigningKey,
    VerifyingKey,
};
use hmac::Mac as _;

/// The key id every provider issues and verifies under.
pub const KEY_ID: &str = captoken_core_types::testing::KEY_ID;

/// Which key a provider holds. Two roles give two unrelated keys under the same key id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The key of the seed corpora (seed 0, as `eval`'s `Candidate::provider(0)`):
    /// the decode, attenuate and differential targets use it.
    Corpus,
    /// The key of the verify target's genuine tokens, which no corpus file was
    /// issued with: every token it accepts must be one it issued in-process.
    Verifier,
    /// Another issuer under the same key id: it must never be able to verify the others' tokens.
    Stranger,
}

impl Role {
    const ALL: [Self; 3] = [Self::Corpus, Self::Verifier, Self::Stranger];

    /// The 32-byte key material of this role.
    fn secret(self) -> [u8; 32] {
        let seed: u8 = match self {
            Self::Corpus => 0,
            Self::Verifier => 0x5e,
            Self::Stranger => 1,
        };
        // The derivation of `eval`'s candidates: 32 bytes of `seed + 1`.
        [seed.wrapping_add(1); 32]
    }

    fn index(self) -> usize {
        match self {
            Self::Corpus => 0,
            Self::Verifier => 1,
            Self::Stranger => 2,
        }
    }
}

/// A provider the fuzz targets drive: the contract, plus the format's own extras.
pub trait Fuzzable: TokenProvider + Send + Sync {
    /// Short name, used in corpus file names and messages.
    fn name(&self) -> &'static str;

    /// Runs the format's decoders that are not part of the contract (JSON forms,
    /// caveat languages, key encodings) on arbitrary bytes, asserting their
    /// round trips. Panics on a violation.
    fn decode_extra(&self, _data: &[u8]) {}

    /// What a holder can append to `token` without any key, built from
    /// arbitrary `payload`: `None` for formats without offline attenuation, or
    /// when the payload does not make an appendable piece.
    fn holder_append(&self, _token: &Token, _payload: &[u8]) -> Option<Token> {
        None
    }

    /// A genuine token for `capability` that needs discharges, with its bound
    /// discharges: `None` for formats without third-party caveats.
    fn with_discharges(&self, _capability: &Capability) -> Option<(Token, Vec<Token>)> {
        None
    }
}

/// How to build one provider for a role.
type Maker = fn(Role) -> Box<dyn Fuzzable>;

fn boxed<P: Keyed + Fuzzable + 'static>(role: Role) -> Box<dyn Fuzzable> {
    Box::new(P::with_key(role))
}

/// Every provider under fuzzing, in selector order: a target reads its first
/// input byte modulo this list's length. Adding a provider is one line here
/// and a [`Keyed`] + [`Fuzzable`] implementation below.
const MAKERS: &[Maker] = &[
    boxed::<HmacProvider>,
    boxed::<MacaroonProvider>,
    boxed::<PasetoPublicProvider>,
    boxed::<PasetoLocalProvider>,
    boxed::<BiscuitProvider>,
];

/// The providers of one role, built once per process.
#[must_use]
pub fn providers(role: Role) -> &'static [Box<dyn Fuzzable>] {
    static ALL: OnceLock<[Vec<Box<dyn Fuzzable>>; 3]> = OnceLock::new();
    let all = ALL.get_or_init(|| Role::ALL.map(|r| MAKERS.iter().map(|make| make(r)).collect()));
    all.get(role.index()).map_or(&[], Vec::as_slice)
}

/// The provider a selector byte picks, for one role.
#[must_use]
pub fn select(role: Role, selector: u8) -> (usize, &'static dyn Fuzzable) {
    let all = providers(role);
    let index = usize::from(selector) % all.len().max(1);
    match all.get(index) {
        Some(p) => (index, p.as_ref()),
        None => unreachable!("MAKERS is not empty"),
    }
}

/// The number of providers under fuzzing.
#[must_use]
pub fn count() -> usize {
    MAKERS.len()
}

/// Construction with the key material of a role.
pub trait Keyed {
    /// The provider holding `role`'s key under [`KEY_ID`].
    fn with_key(role: Role) -> Self;
}

/// The key id, checked.
#[must_use]
pub fn key_id() -> KeyId {
    KeyId::new(KEY_ID).unwrap_or_else(|_| unreachable!("the testing key id is valid"))
}

impl Keyed for HmacProvider {
    fn with_key(role: Role) -> Self {
        let key = HmacKey::new(key_id(), &role.secret())
            .unwrap_or_else(|_| unreachable!("a 32-byte secret is accepted"));
        Self::new(HmacKeyring::single(key))
            // No cache of authenticated ancestors: every index row is
            // re-authenticated on every input, and a verdict never depends
            // on what an earlier input left behind.
            .with_row_cache(0)
    }
}

impl Fuzzable for HmacProvider {
    fn name(&self) -> &'static str {
        "hmac"
    }

    /// The framing and the postcard body, and the canonical encoding: a body
    /// that decodes re-encodes to the same bytes.
    fn decode_extra(&self, data: &[u8]) {
        let Ok(framed) = hmac_wire::frame(data) else {
            return;
        };
        let Ok(cap) = hmac_wire::decode(&framed) else {
            return;
        };
        assert_eq!(
            cap.issuer, framed.key_id,
            "hmac: issuer is the header's key id"
        );
        let signed = hmac_wire::encode_signed(&cap);
        assert_eq!(
            signed.as_deref().ok(),
            Some(framed.signed),
            "hmac: a decoded body re-encodes to other bytes (non-canonical encoding accepted)"
        );
    }
}

impl Keyed for MacaroonProvider {
    fn with_key(role: Role) -> Self {
        let key = MacaroonKey::new(key_id(), &role.secret())
            .unwrap_or_else(|_| unreachable!("a 32-byte secret is accepted"));
        Self::new(MacaroonKeyring::single(key))
    }
}

/// The secret shared with the third party of the macaroon samples.
const THIRD_PARTY_SECRET: [u8; 32] = [0x3c; 32];

/// The placeholder a holder-append payload uses for the parent's lineage hash.
pub const PARENT_PLACEHOLDER: &[u8] = b"{parent}";

/// Replaces every [`PARENT_PLACEHOLDER`] in `text` by `hex`.
fn fill_parent(text: &[u8], hex: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + hex.len());
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with(PARENT_PLACEHOLDER) {
            out.extend_from_slice(hex.as_bytes());
            rest = rest.get(PARENT_PLACEHOLDER.len()..).unwrap_or_default();
        } else if let Some((first, tail)) = rest.split_first() {
            out.push(*first);
            rest = tail;
        }
    }
    out
}

impl Fuzzable for MacaroonProvider {
    fn name(&self) -> &'static str {
        "macaroon"
    }

    /// The v2 JSON reader, the v2 binary reader, and the `ct2` caveat and
    /// identifier parsers, each with its round trip.
    fn decode_extra(&self, data: &[u8]) {
        if let Ok(m) = Macaroon::decode(data) {
            let again = m.encode().map(|bytes| Macaroon::decode(&bytes));
            assert!(
                matches!(&again, Ok(Ok(back)) if *back == m),
                "macaroon: v2 binary does not round-trip"
            );
        }
        let text = String::from_utf8_lossy(data);
        if let Ok(m) = Macaroon::from_json(&text) {
            let json = m
                .to_json()
                .unwrap_or_else(|e| panic!("macaroon: a parsed JSON macaroon does not print: {e}"));
            assert_eq!(
                Macaroon::from_json(&json).ok().as_ref(),
                Some(&m),
                "macaroon: v2 JSON does not round-trip"
            );
            // The JSON form of a token must agree with its binary form.
            if let Ok(token) = self.parse_json(&text) {
                assert_eq!(Macaroon::decode(token.as_bytes()).ok().as_ref(), Some(&m));
            }
        }
        if let Ok(claim) = Claim::parse(data) {
            assert_eq!(
                Claim::parse(claim.encode().as_bytes()).ok().as_ref(),
                Some(&claim),
                "macaroon: a ct2 caveat does not round-trip"
            );
        }
        if let Ok(id) = Identifier::parse(data) {
            let back = Identifier::parse(id.encode().as_bytes());
            assert!(
                matches!(&back, Ok(b) if b.key_id == id.key_id && b.token_id == id.token_id),
                "macaroon: a ct2 identifier does not round-trip"
            );
        }
    }

    /// Appends first-party caveats, one per line of the payload (with
    /// `{parent}` replaced by the token's lineage hash), chaining the signature
    /// as any holder can.
    fn holder_append(&self, token: &Token, payload: &[u8]) -> Option<Token> {
        let mut m = Macaroon::decode(token.as_bytes()).ok()?;
        let hex = self.lineage_hash(token).ok()?.to_hex();
        let filled = fill_parent(payload, &hex);
        for line in filled.split(|b| *b == b'\n') {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&m.signature)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(line);
            m.signature = mac.finalize().into_bytes().into();
            m.caveats.push(Caveat::first_party(line.to_vec()));
        }
        Some(Token::new(self.format(), m.encode().ok()?))
    }

    /// The capability issued with a third-party caveat in its root section, and
    /// the discharge the third party mints for it, bound to the token.
    fn with_discharges(&self, capability: &Capability) -> Option<(Token, Vec<Token>)> {
        let caveat =
            ThirdPartyCaveat::new("https://third.example", &THIRD_PARTY_SECRET, "tp-1").ok()?;
        let token = self.issue_with_third_party(capability, [caveat]).ok()?;
        let discharge = mint_discharge(
            &THIRD_PARTY_SECRET,
            b"tp-1",
            "https://third.example",
            Some(capability.not_before),
            Some(capability.expires_at),
        )
        .ok()?;
        let bound = bind_discharge(&token, &discharge).ok()?;
        Some((token, vec![bound]))
    }
}

impl Keyed for PasetoPublicProvider {
    fn with_key(role: Role) -> Self {
        let key = SigningKey::from_seed(key_id(), &role.secret())
            .unwrap_or_else(|_| unreachable!("a non-zero seed is accepted"));
        Self::new(PublicKeyring::single(key))
            // No cache of authenticated ancestors: every index row is
            // re-authenticated on every input, and a verdict never depends
            // on what an earlier input left behind.
            .with_row_cache(0)
    }
}

impl Fuzzable for PasetoPublicProvider {
    fn name(&self) -> &'static str {
        "paseto-public"
    }

    /// The PASERK readers of public keys (`k4.public.…`) and secret keys (`k4.secret.…`).
    fn decode_extra(&self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if let Ok(key) = VerifyingKey::from_paserk(key_id(), &text) {
            assert_eq!(
                key.to_paserk(),
                text,
                "paseto: a PASERK public key does not round-trip"
            );
        }
        if let Ok(key) = SigningKey::from_paserk(key_id(), &text) {
            // Accepted only when the public half is the seed's own public key.
            let seed = text
                .strip_prefix("k4.secret.")
                .and_then(|body| Base64UrlUnpadded::decode_vec(body).ok())
                .and_then(|bytes| bytes.get(..32).and_then(|s| <[u8; 32]>::try_from(s).ok()));
            let derived = seed.and_then(|s| SigningKey::from_seed(key_id(), &s).ok());
            assert_eq!(
                derived.map(|k| k.verifying_key().to_bytes()),
                Some(key.verifying_key().to_bytes()),
                "paseto: a PASERK secret key whose public half is not its seed's"
            );
        }
    }
}

impl Keyed for PasetoLocalProvider {
    fn with_key(role: Role) -> Self {
        let key = LocalKey::from_bytes(key_id(), &role.secret())
            .unwrap_or_else(|_| unreachable!("32 bytes are a local key"));
        Self::new(LocalKeyring::single(key))
            // No cache of authenticated ancestors: every index row is
            // re-authenticated on every input, and a verdict never depends
            // on what an earlier input left behind.
            .with_row_cache(0)
    }
}

impl Fuzzable for PasetoLocalProvider {
    fn name(&self) -> &'static str {
        "paseto-local"
    }
}

/// The time backstop of the fuzzed Biscuit provider (see its [`Keyed`] implementation).
pub const BISCUIT_MAX_TIME: Duration = Duration::from_secs(2);

impl Keyed for BiscuitProvider {
    fn with_key(role: Role) -> Self {
        let keys =
            BiscuitKeyring::single(RootSigningKey::ed25519_from_seed(key_id(), &role.secret()));
        // Every bound of the provider's default limits, except its time
        // backstop: 100 ms of wall clock, which a genuine root token once
        // exceeded on a loaded fuzzing machine (ASan, both cores busy), making
        // a verdict depend on the load. With a backstop of seconds the
        // verdicts are reproducible; an evaluation slower than that still
        // fails, and libFuzzer's `-timeout` reports a hang.
        let limits = Limits::builder()
            .run_max_time(BISCUIT_MAX_TIME)
            .build()
            .unwrap_or_else(|e| unreachable!("a backstop of seconds is in range: {e}"));
        Self::with_limits(keys, limits)
    }
}

impl Fuzzable for BiscuitProvider {
    fn name(&self) -> &'static str {
        "biscuit"
    }

    /// The lineage of every prefix and Biscuit's revocation ids, against the
    /// contract's lineage hash; and the root public key readers.
    fn decode_extra(&self, data: &[u8]) {
        let token = Token::new(self.format(), data.to_vec());
        let lineage = self.lineage(&token);
        let ids = self.revocation_ids(&token);
        let own = self.lineage_hash(&token);
        match (&lineage, &ids, &own) {
            (Ok(lineage), Ok(ids), Ok(own)) => {
                assert_eq!(lineage.last(), Some(own), "biscuit: own hash is the last");
                let hashes: Vec<_> = ids.iter().map(|(h, _)| *h).collect();
                assert_eq!(
                    &hashes, lineage,
                    "biscuit: revocation ids pair with the lineage"
                );
            }
            (Err(_), Err(_), Err(_)) => {}
            _ => panic!("biscuit: lineage, revocation ids and lineage hash disagree on parsing"),
        }
        if let Ok(key) = RootPublicKey::p256(key_id(), data) {
            assert_eq!(
                RootPublicKey::p256(key_id(), &key.to_bytes())
                    .ok()
                    .map(|k| k.to_bytes()),
                Some(key.to_bytes()),
                "biscuit: a P-256 root key does not round-trip"
            );
        }
        if let Ok(bytes) = <&[u8; 32]>::try_from(data) {
            let _ = RootPublicKey::ed25519(key_id(), bytes);
        }
    }

    /// Appends a block written in Datalog by a holder with biscuit-auth's own
    /// API; `{parent}` in the code is the token's lineage hash (as a hex term).
    fn holder_append(&self, token: &Token, payload: &[u8]) -> Option<Token> {
        let hex = self.lineage_hash(token).ok()?.to_hex();
        let code = String::from_utf8(fill_parent(payload, &format!("hex:{hex}"))).ok()?;
        let block = BlockBuilder::new().code(&code).ok()?;
        let child = UnverifiedBiscuit::from(token.as_bytes())
            .ok()?
            .append(block)
            .ok()?;
        Some(Token::new(self.format(), child.to_vec().ok()?))
    }
}
