//! The HMAC provider: sealing and opening HMAC tokens; issue, re-issue, verify and lineage come from `core-types`' re-issuing core.

use captoken_core_types::{
    AttenuationMode, Capability, DenyReason, Error, Format, KeyId, Marker, Properties, Reissuer,
    RowCache, Token, check_format, decode_text, encode_text,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key::{HmacKey, HmacKeyring};
use crate::wire::{self, MAX_TOKEN_LEN, WireError};

/// The format tag, also the lineage-hash domain tag of this format.
pub const FORMAT: Format = Format::new("hmac-v2");
/// The text form's prefix, followed by the URL-safe base64 of the binary form.
pub const TEXT_PREFIX: &str = "cth1.";
/// The longest chain of ancestors a verifier walks; longer (or cyclic) lineage is denied.
pub const MAX_CHAIN: usize = captoken_core_types::reissue::MAX_CHAIN;

/// Shared-secret HMAC-SHA256 tokens, attenuated by re-issuance.
///
/// Whoever holds the keyring can issue, attenuate and verify: issuer and
/// verifiers share the secret. Canonical credential bytes for the lineage hash
/// are the token's binary form (ADR 0002).
#[derive(Debug)]
pub struct HmacProvider {
    keys: HmacKeyring,
    rows: RowCache,
}

impl HmacProvider {
    /// A provider signing and verifying with these keys.
    #[must_use]
    pub fn new(keys: HmacKeyring) -> Self {
        Self {
            keys,
            rows: RowCache::default(),
        }
    }

    /// The same provider keeping at most `capacity` authenticated ancestors in
    /// its cache ([`RowCache`]; 0 disables it, so that cold verification
    /// re-opens every lineage-index row).
    #[must_use]
    pub fn with_row_cache(mut self, capacity: usize) -> Self {
        self.rows = RowCache::new(capacity);
        self
    }

    fn mac(key: &HmacKey, signed: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; HmacKey enforces 32 to 64 bytes.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(signed);
        mac
    }
}

fn wire_error(e: WireError) -> Error {
    Error::Malformed(e.describe())
}

impl Reissuer for HmacProvider {
    fn format(&self) -> Format {
        FORMAT
    }

    fn properties(&self) -> Properties {
        Properties {
            attenuation: AttenuationMode::Reissue,
            public_key_verification: false,
            deterministic_encoding: true,
            third_party_caveats: false,
            revocation: "lineage-hash revocation list; cold verification of a re-issued chain also needs the issuer's lineage index",
        }
    }

    fn marker(&self) -> Marker {
        Marker::Prefix(TEXT_PREFIX)
    }

    fn seal(&self, capability: &Capability) -> Result<Token, Error> {
        let key = self
            .keys
            .for_signing(&capability.issuer)
            .map_err(Error::from)?;
        let mut bytes = wire::encode_signed(capability).map_err(wire_error)?;
        let tag = Self::mac(key, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        Ok(Token::new(FORMAT, bytes))
    }

    fn open(&self, token: &Token) -> Result<Capability, DenyReason> {
        check_format(token, FORMAT)
            .map_err(|_| DenyReason::Malformed("token of another format"))?;
        let framed =
            wire::frame(token.as_bytes()).map_err(|e| DenyReason::Malformed(e.describe()))?;
        let key = self
            .keys
            .for_verifying(&framed.key_id)
            .map_err(DenyReason::from)?;
        Self::mac(key.verifier(), framed.signed)
            .verify_slice(framed.tag)
            .map_err(|_| DenyReason::BadSignature)?;
        let cap = wire::decode(&framed).map_err(|e| DenyReason::Malformed(e.describe()))?;
        // The signed issue time, under the key's lifecycle state.
        key.admit(cap.issued_at).map_err(DenyReason::from)?;
        Ok(cap)
    }

    fn unknown_key_error(&self, token: &Token) -> Error {
        match wire::frame(token.as_bytes()) {
            Ok(framed) => Error::UnknownKey(framed.key_id),
            Err(e) => wire_error(e),
        }
    }

    fn peek(&self, token: &Token) -> Result<Capability, Error> {
        check_format(token, FORMAT)?;
        let framed = wire::frame(token.as_bytes()).map_err(wire_error)?;
        wire::decode(&framed).map_err(wire_error)
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        wire::frame(bytes).map_err(wire_error)?;
        Ok(Token::new(FORMAT, bytes.to_vec()))
    }

    fn to_text(&self, token: &Token) -> String {
        encode_text(TEXT_PREFIX, token.as_bytes())
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        Reissuer::parse_bytes(self, Reissuer::wrap_text(self, text)?.as_bytes())
    }

    fn wrap_text(&self, text: &str) -> Result<Token, Error> {
        let max = TEXT_PREFIX.len() + MAX_TOKEN_LEN.div_ceil(3) * 4;
        Ok(Token::new(FORMAT, decode_text(TEXT_PREFIX, text, max)?))
    }

    fn signing_key_id(&self) -> Option<&KeyId> {
        self.keys.signing_id()
    }

    /// `len(key id) || key id || HMAC-SHA256(key, message)`.
    fn seal_row(&self, issuer: &KeyId, message: &[u8]) -> Result<Vec<u8>, Error> {
        let key = self.keys.for_signing(issuer).map_err(Error::from)?;
        let kid = issuer.as_str().as_bytes();
        let mut seal = Vec::with_capacity(1 + kid.len() + 32);
        seal.push(u8::try_from(kid.len()).map_err(|_| Error::Malformed("key id too long"))?);
        seal.extend_from_slice(kid);
        seal.extend_from_slice(&Self::mac(key, message).finalize().into_bytes());
        Ok(seal)
    }

    fn open_row(&self, message: &[u8], seal: &[u8]) -> Result<(), DenyReason> {
        let (&n, rest) = seal
            .split_first()
            .ok_or(DenyReason::Malformed("empty row seal"))?;
        let (kid, tag) = rest
            .split_at_checked(usize::from(n))
            .ok_or(DenyReason::Malformed("truncated row seal"))?;
        if tag.len() != wire::TAG_LEN {
            return Err(DenyReason::Malformed("row seal of the wrong length"));
        }
        let kid = std::str::from_utf8(kid)
            .ok()
            .and_then(|k| KeyId::new(k).ok())
            .ok_or(DenyReason::Malformed("row seal names no key id"))?;
        let key = self.keys.for_verifying(&kid).map_err(DenyReason::from)?;
        // A row carries no date: a retired key's rows were sealed before it
        // retired (it never signs again); a compromised key's are refused.
        Self::mac(key.verifier(), message)
            .verify_slice(tag)
            .map_err(|_| DenyReason::BadSignature)
    }

    fn row_cache(&self) -> &RowCache {
        &self.rows
    }
}
