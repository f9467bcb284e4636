//! The HMAC `TokenProvider`: issue, re-issue, verify live or cold, hash lineage.

use captoken_core_types::{
    AttenuationMode, Capability, Denied, DenyReason, Error, Format, Inspection, LineageEntry,
    LineageHash, ParentRef, Properties, Request, Token, TokenId, TokenProvider, Verified,
    VerifyContext, check_format, check_reissued_lineage, decode_text, encode_text,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key::{HmacKey, HmacKeyring};
use crate::wire::{self, Framed, MAX_TOKEN_LEN, WireError};

/// The format tag, also the lineage-hash domain tag of this format.
pub const FORMAT: Format = Format::new("hmac-v2");
/// The text form's prefix, followed by the URL-safe base64 of the binary form.
pub const TEXT_PREFIX: &str = "cth1.";
/// The longest chain of ancestors a verifier walks; longer (or cyclic) lineage is denied.
pub const MAX_CHAIN: usize = 256;

/// Shared-secret HMAC-SHA256 tokens, attenuated by re-issuance.
///
/// Whoever holds the keyring can issue, attenuate and verify: issuer and
/// verifiers share the secret. Canonical credential bytes for the lineage hash
/// are the token's binary form (ADR 0002).
#[derive(Debug)]
pub struct HmacProvider {
    keys: HmacKeyring,
}

impl HmacProvider {
    /// A provider signing and verifying with these keys.
    #[must_use]
    pub fn new(keys: HmacKeyring) -> Self {
        Self { keys }
    }

    fn mac(key: &HmacKey, signed: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; HmacKey enforces 32 to 64 bytes.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(signed);
        mac
    }

    /// Authenticates a token and decodes its capability: framing, key lookup by
    /// id (no other key is tried), constant-time tag check, then the body.
    fn open(&self, token: &Token) -> Result<Capability, DenyReason> {
        check_format(token, FORMAT)
            .map_err(|_| DenyReason::Malformed("token of another format"))?;
        let framed =
            wire::frame(token.as_bytes()).map_err(|e| DenyReason::Malformed(e.describe()))?;
        let key = self
            .keys
            .get(&framed.key_id)
            .ok_or(DenyReason::UnknownKey)?;
        Self::mac(key, framed.signed)
            .verify_slice(framed.tag)
            .map_err(|_| DenyReason::BadSignature)?;
        wire::decode(&framed).map_err(|e| DenyReason::Malformed(e.describe()))
    }

    /// The caller-facing error for a token [`Self::open`] refused.
    fn open_error(token: &Token, reason: DenyReason) -> Error {
        match reason {
            DenyReason::UnknownKey => match wire::frame(token.as_bytes()) {
                Ok(framed) => Error::UnknownKey(framed.key_id),
                Err(e) => wire_error(e),
            },
            DenyReason::BadSignature => Error::BadSignature,
            DenyReason::Malformed(m) => Error::Malformed(m),
            _ => Error::Malformed("token does not authenticate"),
        }
    }

    fn unverified(token: &Token) -> Result<(Framed<'_>, Capability), Error> {
        check_format(token, FORMAT)?;
        let framed = wire::frame(token.as_bytes()).map_err(wire_error)?;
        let cap = wire::decode(&framed).map_err(wire_error)?;
        Ok((framed, cap))
    }
}

fn wire_error(e: WireError) -> Error {
    Error::Malformed(e.describe())
}

impl TokenProvider for HmacProvider {
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

    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        capability.check_issuable()?;
        let key = self
            .keys
            .get(&capability.issuer)
            .ok_or_else(|| Error::UnknownKey(capability.issuer.clone()))?;
        let mut bytes = wire::encode_signed(capability).map_err(wire_error)?;
        let tag = Self::mac(key, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        Ok(Token::new(FORMAT, bytes))
    }

    fn attenuate(
        &self,
        parent: &Token,
        step: &captoken_core_types::Attenuation,
    ) -> Result<Token, Error> {
        let parent_cap = self
            .open(parent)
            .map_err(|reason| Self::open_error(parent, reason))?;
        let mut child = parent_cap.attenuate(step)?;
        child.id = TokenId::random()?;
        child.parent = Some(ParentRef::new(
            FORMAT,
            parent_cap.id,
            LineageHash::compute(FORMAT, parent.as_bytes()),
        ));
        self.issue(&child)
    }

    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        request.check_bounds()?;
        let cap = self.open(token)?;
        let holder = cap.authorizes(request)?;
        let lineage_hash = LineageHash::compute(FORMAT, token.as_bytes());
        let chain_len =
            check_reissued_lineage(FORMAT, &lineage_hash, cap.parent, ctx, MAX_CHAIN, |t| {
                self.open(t).map(|a| (a.id, a.parent))
            })?;
        Ok(Verified::new(
            FORMAT,
            cap.id,
            cap.issuer,
            cap.issued_at,
            lineage_hash,
            chain_len,
            holder,
        ))
    }

    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        Self::unverified(token)?;
        Ok(LineageHash::compute(FORMAT, token.as_bytes()))
    }

    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        // Authenticated: an index fed with forged rows would vouch for forged lineage.
        let cap = self
            .open(token)
            .map_err(|reason| Self::open_error(token, reason))?;
        Ok(Some(LineageEntry::new(
            cap.id,
            LineageHash::compute(FORMAT, token.as_bytes()),
            cap.parent,
        )))
    }

    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        let (_, capability) = Self::unverified(token)?;
        let declared = capability.parent.iter().map(|p| p.hash).collect();
        Ok(Inspection::new(FORMAT, capability, Vec::new(), declared))
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        wire::frame(bytes).map_err(wire_error)?;
        Ok(Token::new(FORMAT, bytes.to_vec()))
    }

    fn to_text(&self, token: &Token) -> String {
        encode_text(TEXT_PREFIX, token.as_bytes())
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        let max = TEXT_PREFIX.len() + MAX_TOKEN_LEN.div_ceil(3) * 4;
        self.parse_bytes(&decode_text(TEXT_PREFIX, text, max)?)
    }
}
