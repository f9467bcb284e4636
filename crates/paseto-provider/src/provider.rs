//! The PASETO v4 `TokenProvider`, generic over the purpose (`v4.public` or `v4.local`): issue, re-issue, verify live or cold, hash lineage.
//!
//! One [`PasetoProvider`] implements [`TokenProvider`] once for both purposes;
//! what a purpose does differently (parse, authenticate, seal, its keyring and
//! format tag) is the sealed [`Purpose`] trait, implemented by the markers
//! [`Public`] and [`Local`]. [`PasetoPublicProvider`] and [`PasetoLocalProvider`]
//! name the two instances.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::{
    AttenuationMode, Capability, DenyReason, Error, Format, KeyId, KeyState, Properties, Reissuer,
    RowCache, Token, check_format,
};
use pasetors::token::UntrustedToken;
use pasetors::version4::{LocalToken, PublicToken, V4};

use crate::claims::{self, Claims};
use crate::key::{LocalKeyring, PublicKeyring};

/// The format tag of `v4.public` tokens (wire version 2), also their lineage-hash domain tag.
pub const FORMAT_PUBLIC: Format = Format::new("paseto-v4-public.cap2");
/// The format tag of `v4.local` tokens (wire version 2), also their lineage-hash domain tag.
pub const FORMAT_LOCAL: Format = Format::new("paseto-v4-local.cap2");
/// The PASETO implicit assertion of every captoken token, the version marker
/// of the wire: authenticated, never transmitted.
///
/// It binds a token to captoken's claims schema, version 2 (`claims` module).
/// A PASETO key may sign other things too (session tokens, another service's
/// grants); without this binding any `v4` token that key ever made whose JSON
/// happened to fit the schema would be accepted as a capability. With it, a
/// token verifies as a captoken capability only if its signer meant it as one
/// of this version, at no cost in size. Version 1 tokens were sealed under
/// `captoken/paseto/claims/v1`: they fail authentication here
/// ([`DenyReason::BadSignature`], [`Error::BadSignature`]) and are never read
/// under version 2's rules, even where their JSON fits them.
pub const IMPLICIT_ASSERTION: &[u8] = b"captoken/paseto/v2";
/// The implicit assertion of a lineage-index row seal: a row seal is a PASETO
/// of the provider's purpose, whose payload is the row's sealed bytes
/// (`LineageEntry::sealed_bytes`).
pub const ROW_ASSERTION: &[u8] = b"captoken/paseto/lineage-row/v2";
/// The longest token accepted, in bytes of its text form (which is also its binary form).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The longest chain of ancestors a verifier walks; longer (or cyclic) lineage is denied.
pub const MAX_CHAIN: usize = captoken_core_types::reissue::MAX_CHAIN;

/// The revocation sentence of both PASETO formats' [`Properties`].
const REVOCATION: &str = "lineage-hash revocation list; cold verification of a re-issued chain also needs the issuer's lineage index";

/// An error of pasetors, which does not implement `std::error::Error` without its `std` feature.
#[derive(Debug, thiserror::Error)]
#[error("pasetors: {0:?}")]
struct LibraryError(pasetors::errors::Error);

fn library(e: pasetors::errors::Error) -> Error {
    Error::Format(Box::new(LibraryError(e)))
}

mod sealed {
    use super::{DenyReason, Error, Format, KeyId, fmt};

    /// A token split by pasetors, its text checked canonical, with the PASERK id
    /// its footer names. Nothing here is authenticated yet.
    pub struct Framed<U> {
        pub(super) untrusted: U,
        pub(super) kid: String,
    }

    /// What one PASETO purpose does differently: parse, authenticate, seal.
    /// Sealed: implemented by [`super::Public`] and [`super::Local`] only.
    pub trait Scheme: Sized + 'static {
        /// The keys a provider of this purpose holds.
        type Keyring: fmt::Debug + Send + Sync;
        /// pasetors' parsed, unauthenticated token.
        type Untrusted;
        /// The format tag.
        const FORMAT: Format;
        /// `v4.public.` or `v4.local.`.
        const HEADER: &'static str;
        /// What the format can do.
        const PROPERTIES: captoken_core_types::Properties;

        /// pasetors' parse of the text (header, base64, length).
        fn untrusted(text: &str) -> Result<Self::Untrusted, &'static str>;
        /// The decoded message (payload and signature, or nonce, ciphertext and tag) and footer.
        fn parts(untrusted: &Self::Untrusted) -> (&[u8], &[u8]);
        /// Authenticates (and decrypts) under the implicit assertion with the
        /// key the footer names, no other: the key's captoken key id and the payload.
        fn open(
            keys: &Self::Keyring,
            framed: &Framed<Self::Untrusted>,
            assertion: &[u8],
        ) -> Result<(KeyId, captoken_core_types::KeyState, Vec<u8>), DenyReason>;
        /// The payload for unverified inspection; `v4.local` must decrypt (and so authenticate).
        fn peek(keys: &Self::Keyring, framed: &Framed<Self::Untrusted>) -> Result<Vec<u8>, Error>;
        /// Signs or encrypts a payload under the implicit assertion with the
        /// key of `issuer`, footer naming that key.
        fn seal(
            keys: &Self::Keyring,
            issuer: &KeyId,
            payload: &[u8],
            assertion: &[u8],
        ) -> Result<String, Error>;
        /// The keyring's signing key id.
        fn signing_id(keys: &Self::Keyring) -> Option<&KeyId>;
    }
}

use sealed::{Framed, Scheme};

/// A PASETO purpose: [`Public`] (`v4.public`) or [`Local`] (`v4.local`).
///
/// Sealed: this crate implements it for those two markers only.
pub trait Purpose: sealed::Scheme {}

/// The `v4.public` purpose: Ed25519 signatures, verifiable with a public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Public {}

/// The `v4.local` purpose: authenticated encryption under a shared key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {}

impl Purpose for Public {}
impl Purpose for Local {}

/// The PASETO v4 provider of purpose `P`: captoken's claims (the `claims`
/// module) sealed under [`IMPLICIT_ASSERTION`], attenuated by re-issuance
/// through the issuer, which authenticates the parent, narrows it strictly
/// ([`Capability::attenuate`]) and seals a child whose `parent` claim records
/// the parent's format, id and lineage hash. Canonical credential bytes for
/// the lineage hash are the token's text (DESIGN.md §5).
///
/// Use the aliases [`PasetoPublicProvider`] and [`PasetoLocalProvider`].
pub struct PasetoProvider<P: Purpose> {
    keys: P::Keyring,
    rows: RowCache,
}

/// `v4.public` tokens: Ed25519 signatures over captoken's claims, verifiable
/// with a public key, attenuated by re-issuance through the issuer.
///
/// The issuer's keyring holds [`crate::SigningKey`]s; a verifier's holds only
/// [`crate::VerifyingKey`]s.
pub type PasetoPublicProvider = PasetoProvider<Public>;

/// `v4.local` tokens: captoken's claims encrypted and authenticated
/// (XChaCha20, BLAKE2b-MAC) under a shared key, the comparison point for
/// shared-secret formats. Whoever holds the key can issue, attenuate, verify
/// and read tokens: [`TokenProvider::inspect`] and
/// [`TokenProvider::index_entry`] decrypt, and so need the key. Encryption
/// uses a random nonce, so issuing the same capability twice gives different
/// bytes (and different lineage hashes).
pub type PasetoLocalProvider = PasetoProvider<Local>;

impl PasetoProvider<Public> {
    /// A provider signing and verifying with these keys.
    #[must_use]
    pub fn new(keys: PublicKeyring) -> Self {
        Self {
            keys,
            rows: RowCache::default(),
        }
    }

    /// The keyring.
    #[must_use]
    pub fn keys(&self) -> &PublicKeyring {
        &self.keys
    }
}

impl PasetoProvider<Local> {
    /// A provider encrypting and decrypting with these keys.
    #[must_use]
    pub fn new(keys: LocalKeyring) -> Self {
        Self {
            keys,
            rows: RowCache::default(),
        }
    }

    /// The keyring.
    #[must_use]
    pub fn keys(&self) -> &LocalKeyring {
        &self.keys
    }
}

impl<P: Purpose> PasetoProvider<P> {
    /// The same provider keeping at most `capacity` authenticated ancestors in
    /// its cache ([`RowCache`]; 0 disables it, so that cold verification
    /// re-opens every lineage-index row).
    #[must_use]
    pub fn with_row_cache(mut self, capacity: usize) -> Self {
        self.rows = RowCache::new(capacity);
        self
    }
}

impl<P: Purpose> fmt::Debug for PasetoProvider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasetoProvider")
            .field("format", &P::FORMAT)
            .field("keys", &self.keys)
            .finish()
    }
}

/// Splits a token and checks its framing: length, UTF-8, header, base64, and
/// that the text is the one canonical encoding of its parts, so that no two
/// texts (and so no two lineage hashes) carry the same signed token.
fn frame<P: Purpose>(bytes: &[u8]) -> Result<Framed<P::Untrusted>, &'static str> {
    if bytes.len() > MAX_TOKEN_LEN {
        return Err("token too long");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "token is not UTF-8")?;
    let untrusted = P::untrusted(text)?;
    let (message, footer) = P::parts(&untrusted);
    let (m, f) = text
        .strip_prefix(P::HEADER)
        .and_then(|rest| rest.split_once('.'))
        .ok_or("footer missing")?;
    if m != Base64UrlUnpadded::encode_string(message)
        || f != Base64UrlUnpadded::encode_string(footer)
    {
        return Err("token text is not canonical");
    }
    let kid = claims::footer_kid(footer)?.to_owned();
    Ok(Framed { untrusted, kid })
}

/// `Error::UnknownKey` naming a PASERK id (PASERK ids are valid key ids).
fn unknown_paserk_id(kid: &str) -> Error {
    KeyId::new(kid).map_or(
        Error::Malformed("footer names no usable key id"),
        Error::UnknownKey,
    )
}

impl<P: Purpose> Reissuer for PasetoProvider<P> {
    fn format(&self) -> Format {
        P::FORMAT
    }

    fn properties(&self) -> Properties {
        P::PROPERTIES
    }

    fn marker(&self) -> captoken_core_types::Marker {
        captoken_core_types::Marker::Prefix(P::HEADER)
    }

    fn seal(&self, capability: &Capability) -> Result<Token, Error> {
        let payload = Claims::from_capability(capability)?.to_json()?;
        let text = P::seal(&self.keys, &capability.issuer, &payload, IMPLICIT_ASSERTION)?;
        if text.len() > MAX_TOKEN_LEN {
            return Err(Error::Unsupported("capability too large for a token"));
        }
        Ok(Token::new(P::FORMAT, text.into_bytes()))
    }

    fn open(&self, token: &Token) -> Result<Capability, DenyReason> {
        check_format(token, P::FORMAT)
            .map_err(|_| DenyReason::Malformed("token of another format"))?;
        let framed = frame::<P>(token.as_bytes()).map_err(DenyReason::Malformed)?;
        let (key_id, state, payload) = P::open(&self.keys, &framed, IMPLICIT_ASSERTION)?;
        let cap = Claims::from_json(&payload)
            .and_then(Claims::into_capability)
            .map_err(DenyReason::Malformed)?;
        if cap.issuer != key_id {
            // Signed by a key this verifier knows under another key id.
            return Err(DenyReason::UnknownKey);
        }
        // The signed `iat`, under the key's lifecycle state.
        state
            .admit(&key_id, cap.issued_at)
            .map_err(DenyReason::from)?;
        Ok(cap)
    }

    fn unknown_key_error(&self, token: &Token) -> Error {
        match frame::<P>(token.as_bytes()) {
            Ok(framed) => unknown_paserk_id(&framed.kid),
            Err(m) => Error::Malformed(m),
        }
    }

    fn peek(&self, token: &Token) -> Result<Capability, Error> {
        check_format(token, P::FORMAT)?;
        let framed = frame::<P>(token.as_bytes()).map_err(Error::Malformed)?;
        let payload = P::peek(&self.keys, &framed)?;
        Claims::from_json(&payload)
            .and_then(Claims::into_capability)
            .map_err(Error::Malformed)
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        frame::<P>(bytes).map_err(Error::Malformed)?;
        Ok(Token::new(P::FORMAT, bytes.to_vec()))
    }

    fn to_text(&self, token: &Token) -> String {
        String::from_utf8_lossy(token.as_bytes()).into_owned()
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        Reissuer::parse_bytes(self, text.as_bytes())
    }

    fn wrap_text(&self, text: &str) -> Result<Token, Error> {
        if text.len() > MAX_TOKEN_LEN {
            return Err(Error::Malformed("token too long"));
        }
        Ok(Token::new(P::FORMAT, text.as_bytes().to_vec()))
    }

    /// A PASETO of this purpose whose payload is `message` in lower-case hex
    /// (a PASETO payload is text), under the row assertion [`ROW_ASSERTION`] (so
    /// a row seal never opens as a token, nor a token as a row seal), with the
    /// issuer key's PASERK id in the footer.
    fn signing_key_id(&self) -> Option<&KeyId> {
        P::signing_id(&self.keys)
    }

    fn seal_row(&self, issuer: &KeyId, message: &[u8]) -> Result<Vec<u8>, Error> {
        let payload = captoken_core_types::hex::encode(message);
        P::seal(&self.keys, issuer, payload.as_bytes(), ROW_ASSERTION).map(String::into_bytes)
    }

    fn open_row(&self, message: &[u8], seal: &[u8]) -> Result<(), DenyReason> {
        let framed = frame::<P>(seal).map_err(DenyReason::Malformed)?;
        // A row carries no date: a retired key's rows were sealed before it
        // retired (it never signs again); a compromised key's are refused.
        let (_, _, payload) = P::open(&self.keys, &framed, ROW_ASSERTION)?;
        if payload == captoken_core_types::hex::encode(message).as_bytes() {
            Ok(())
        } else {
            Err(DenyReason::LineageMismatch)
        }
    }

    fn row_cache(&self) -> &RowCache {
        &self.rows
    }
}

impl Scheme for Public {
    type Keyring = PublicKeyring;
    type Untrusted = UntrustedToken<pasetors::Public, V4>;
    const FORMAT: Format = FORMAT_PUBLIC;
    const HEADER: &'static str = PublicToken::HEADER;
    const PROPERTIES: Properties = Properties {
        attenuation: AttenuationMode::Reissue,
        public_key_verification: true,
        // Ed25519 signatures are deterministic and the claims have one encoding.
        deterministic_encoding: true,
        third_party_caveats: false,
        revocation: REVOCATION,
    };

    fn untrusted(text: &str) -> Result<Self::Untrusted, &'static str> {
        UntrustedToken::try_from(text).map_err(|_| "not a v4.public token")
    }

    fn parts(untrusted: &Self::Untrusted) -> (&[u8], &[u8]) {
        (untrusted.untrusted_message(), untrusted.untrusted_footer())
    }

    fn open(
        keys: &PublicKeyring,
        framed: &Framed<Self::Untrusted>,
        assertion: &[u8],
    ) -> Result<(KeyId, KeyState, Vec<u8>), DenyReason> {
        let key = keys.for_verifying(&framed.kid).map_err(DenyReason::from)?;
        let trusted = PublicToken::verify(
            key.verifier().key(),
            &framed.untrusted,
            None,
            Some(assertion),
        )
        .map_err(|_| DenyReason::BadSignature)?;
        Ok((
            key.id().clone(),
            key.state(),
            trusted.payload().as_bytes().to_vec(),
        ))
    }

    fn signing_id(keys: &PublicKeyring) -> Option<&KeyId> {
        keys.signing_id()
    }

    fn peek(_: &PublicKeyring, framed: &Framed<Self::Untrusted>) -> Result<Vec<u8>, Error> {
        Ok(framed.untrusted.untrusted_payload().to_vec())
    }

    fn seal(
        keys: &PublicKeyring,
        issuer: &KeyId,
        payload: &[u8],
        assertion: &[u8],
    ) -> Result<String, Error> {
        let key = keys.for_signing(issuer).map_err(Error::from)?;
        let footer = claims::footer(key.verifying_key().paserk_id())?;
        PublicToken::sign(key.secret(), payload, Some(&footer), Some(assertion)).map_err(library)
    }
}

impl Scheme for Local {
    type Keyring = LocalKeyring;
    type Untrusted = UntrustedToken<pasetors::Local, V4>;
    const FORMAT: Format = FORMAT_LOCAL;
    const HEADER: &'static str = LocalToken::HEADER;
    const PROPERTIES: Properties = Properties {
        attenuation: AttenuationMode::Reissue,
        public_key_verification: false,
        deterministic_encoding: false,
        third_party_caveats: false,
        revocation: REVOCATION,
    };

    fn untrusted(text: &str) -> Result<Self::Untrusted, &'static str> {
        UntrustedToken::try_from(text).map_err(|_| "not a v4.local token")
    }

    fn parts(untrusted: &Self::Untrusted) -> (&[u8], &[u8]) {
        (untrusted.untrusted_message(), untrusted.untrusted_footer())
    }

    fn open(
        keys: &LocalKeyring,
        framed: &Framed<Self::Untrusted>,
        assertion: &[u8],
    ) -> Result<(KeyId, KeyState, Vec<u8>), DenyReason> {
        let key = keys.for_verifying(&framed.kid).map_err(DenyReason::from)?;
        let trusted = LocalToken::decrypt(
            key.verifier().key(),
            &framed.untrusted,
            None,
            Some(assertion),
        )
        .map_err(|_| DenyReason::BadSignature)?;
        Ok((
            key.id().clone(),
            key.state(),
            trusted.payload().as_bytes().to_vec(),
        ))
    }

    fn signing_id(keys: &LocalKeyring) -> Option<&KeyId> {
        keys.signing_id()
    }

    fn peek(keys: &LocalKeyring, framed: &Framed<Self::Untrusted>) -> Result<Vec<u8>, Error> {
        Self::open(keys, framed, IMPLICIT_ASSERTION)
            .map(|(_, _, payload)| payload)
            .map_err(|reason| match reason {
                DenyReason::UnknownKey => unknown_paserk_id(&framed.kid),
                _ => Error::BadSignature,
            })
    }

    fn seal(
        keys: &LocalKeyring,
        issuer: &KeyId,
        payload: &[u8],
        assertion: &[u8],
    ) -> Result<String, Error> {
        let key = keys.for_signing(issuer).map_err(Error::from)?;
        let footer = claims::footer(key.paserk_id())?;
        LocalToken::encrypt(key.key(), payload, Some(&footer), Some(assertion)).map_err(library)
    }
}
