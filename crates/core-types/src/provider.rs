//! The `TokenProvider` contract of DESIGN.md §4: tokens, verification context, verdicts and properties.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

use crate::attenuation::Attenuation;
use crate::capability::{Capability, KeyId, TokenId};
use crate::error::Error;
use crate::lineage::{LineageEntry, LineageHash, LineageIndex, RevocationList};
use crate::request::Request;

/// A token format, named by a short ASCII tag that also separates lineage hashes
/// of different formats (DESIGN.md §5). At most 255 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Format(&'static str);

impl Format {
    /// A format with this tag.
    #[must_use]
    pub const fn new(tag: &'static str) -> Self {
        Self(tag)
    }

    /// The format's tag, for example `hmac-v1`.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A token in its binary form, labelled with its format.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token {
    format: Format,
    bytes: Vec<u8>,
}

impl Token {
    /// Wraps binary token bytes. Providers check the bytes when they use them.
    #[must_use]
    pub fn new(format: Format, bytes: Vec<u8>) -> Self {
        Self { format, bytes }
    }

    /// The format this token claims to be.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The binary form.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The binary form, by value.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bearer tokens are credentials: never print them whole.
        write!(f, "Token({}, {} bytes)", self.format, self.bytes.len())
    }
}

/// The text form `prefix || base64url(bytes)` (no padding), used by formats whose
/// text form is their binary form in URL-safe base64.
#[must_use]
pub fn encode_text(prefix: &str, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(prefix.len() + Base64UrlUnpadded::encoded_len(bytes));
    out.push_str(prefix);
    out.push_str(&Base64UrlUnpadded::encode_string(bytes));
    out
}

/// Parses the text form written by [`encode_text`], refusing inputs longer than
/// `max_text_len` before decoding anything.
///
/// # Errors
/// [`Error::Malformed`] when the prefix is missing, the input is too long, or the base64 is invalid.
pub fn decode_text(prefix: &str, text: &str, max_text_len: usize) -> Result<Vec<u8>, Error> {
    if text.len() > max_text_len {
        return Err(Error::Malformed("token text too long"));
    }
    let body = text
        .strip_prefix(prefix)
        .ok_or(Error::Malformed("token text lacks its format prefix"))?;
    Base64UrlUnpadded::decode_vec(body)
        .map_err(|_| Error::Malformed("token text is not URL-safe base64"))
}

/// How a format attenuates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttenuationMode {
    /// Any holder appends restrictions without a key.
    Offline,
    /// The issuer re-issues a narrowed token; the holder cannot attenuate alone.
    Reissue,
}

/// What a format can do, for the capability matrix of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Properties {
    /// Offline attenuation, or re-issuance by the issuer.
    pub attenuation: AttenuationMode,
    /// Verification needs only a public key.
    pub public_key_verification: bool,
    /// Issuing the same capability twice gives the same bytes.
    pub deterministic_encoding: bool,
    /// Third-party caveats (discharges from another service) are supported.
    pub third_party_caveats: bool,
    /// What revocation needs, in a sentence.
    pub revocation: &'static str,
}

/// Everything a verifier supplies besides the token and the request.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct VerifyContext<'a> {
    /// Revoked lineage hashes; revoking an ancestor denies its descendants.
    pub revocations: &'a dyn RevocationList,
    /// Lineage index for cold verification of re-issued chains.
    pub lineage: &'a dyn LineageIndex,
    /// For live verification of re-issued chains: the ancestors, parent first.
    /// Ancestors not supplied are looked up in `lineage`.
    pub ancestors: &'a [Token],
    /// Discharge tokens for third-party caveats, in formats that have them.
    pub discharges: &'a [Token],
}

impl<'a> VerifyContext<'a> {
    /// A context for cold verification: no ancestors, no discharges.
    #[must_use]
    pub fn new(revocations: &'a dyn RevocationList, lineage: &'a dyn LineageIndex) -> Self {
        Self {
            revocations,
            lineage,
            ancestors: &[],
            discharges: &[],
        }
    }

    /// Supplies the ancestors, parent first, for live verification.
    #[must_use]
    pub fn with_ancestors(mut self, ancestors: &'a [Token]) -> Self {
        self.ancestors = ancestors;
        self
    }

    /// Supplies discharge tokens for third-party caveats.
    #[must_use]
    pub fn with_discharges(mut self, discharges: &'a [Token]) -> Self {
        self.discharges = discharges;
        self
    }
}

impl fmt::Debug for VerifyContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyContext")
            .field("ancestors", &self.ancestors.len())
            .field("discharges", &self.discharges.len())
            .finish_non_exhaustive()
    }
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The token id.
    pub token_id: TokenId,
    /// The key that made the root of the chain.
    pub key_id: KeyId,
    /// The token's own lineage hash.
    pub lineage_hash: LineageHash,
    /// Number of delegation steps between the root and this token.
    pub chain_len: usize,
}

/// Why a verification failed: for the operator's logs, never for the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenyReason {
    /// The bytes do not parse as this format.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token names a key the verifier does not hold.
    #[error("unknown key id")]
    UnknownKey,
    /// A MAC or signature does not verify.
    #[error("bad signature or MAC")]
    BadSignature,
    /// The request's subject is not the token's subject.
    #[error("wrong subject")]
    WrongSubject,
    /// `now` is before `not_before`.
    #[error("not yet valid")]
    NotYetValid,
    /// `now` is at or after `expires_at`.
    #[error("expired")]
    Expired,
    /// No grant covers the request's tool and arguments.
    #[error("no grant matches the request")]
    NoMatchingGrant,
    /// An attenuation caveat is not satisfied.
    #[error("a constraint is not satisfied")]
    ConstraintViolated,
    /// More delegation steps than `max_depth` allowed.
    #[error("delegation depth exceeded")]
    DepthExceeded,
    /// The token or one of its ancestors is revoked.
    #[error("revoked")]
    Revoked,
    /// A declared parent hash does not match the parent.
    #[error("lineage mismatch")]
    LineageMismatch,
    /// An ancestor is neither supplied nor in the lineage index.
    #[error("lineage unknown")]
    LineageUnknown,
    /// A caveat or block the verifier does not understand.
    #[error("unknown or malformed caveat")]
    UnknownCaveat,
    /// A third-party caveat lacks a valid, bound discharge, or a discharge is unused.
    #[error("discharge missing, unbound or unused")]
    Discharge,
    /// A store (revocation list, lineage index) failed; verification fails closed.
    #[error("store failure")]
    Store,
    /// The format's own authorizer refused or exceeded its limits.
    #[error("format authorizer: {0}")]
    Format(String),
}

/// The one opaque denial a caller sees. [`Denied::reason`] is for operators' logs.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("capability denied")]
pub struct Denied(DenyReason);

impl Denied {
    /// Wraps a reason.
    #[must_use]
    pub fn new(reason: DenyReason) -> Self {
        Self(reason)
    }

    /// The structured reason, for the operator's logs only.
    #[must_use]
    pub fn reason(&self) -> &DenyReason {
        &self.0
    }
}

impl From<DenyReason> for Denied {
    fn from(reason: DenyReason) -> Self {
        Self(reason)
    }
}

impl fmt::Debug for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug is for developers and logs; Display stays opaque.
        write!(f, "Denied({:?})", self.0)
    }
}

/// An unverified look inside a token, for tooling. Nothing here is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// The format.
    pub format: Format,
    /// The capability as issued: the root for offline formats, the re-issued one otherwise.
    pub capability: Capability,
    /// Attenuation steps appended offline (empty for re-issuance formats).
    pub steps: Vec<Attenuation>,
    /// The parent lineage hashes the token declares, nearest first.
    pub declared_parents: Vec<LineageHash>,
}

/// A capability-token format: issue, attenuate, verify, hash lineage, inspect.
///
/// Every provider implements it identically, so that one conformance suite and
/// one benchmark set can drive them all.
pub trait TokenProvider {
    /// The format this provider reads and writes.
    fn format(&self) -> Format;

    /// What the format can do.
    fn properties(&self) -> Properties;

    /// Issues a token for `capability` with the key named by `capability.issuer`.
    ///
    /// # Errors
    /// [`Error::UnknownKey`] when this provider holds no signing key of that id, or a
    /// provider error.
    fn issue(&self, capability: &Capability) -> Result<Token, Error>;

    /// Derives a token for one more delegation step. Offline formats append to
    /// `parent` without a key; re-issuance formats authenticate `parent`, apply the
    /// step strictly ([`Capability::attenuate`]) and sign the narrowed child.
    ///
    /// # Errors
    /// [`Error::Attenuation`] when the step would widen (re-issuance formats) or
    /// the depth is exhausted, [`Error::Malformed`] for a bad parent.
    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error>;

    /// Verifies `token` for `request`: signature or MAC chain, time window,
    /// subject, grants, every caveat, revocation of the token and every ancestor,
    /// lineage consistency.
    ///
    /// # Errors
    /// One opaque [`Denied`], whose reason is for logs.
    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied>;

    /// The token's own lineage hash (DESIGN.md §5).
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token does not parse.
    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error>;

    /// The lineage-index row an issuer records for this token, for formats
    /// whose chains are verified cold through the index; `None` for formats
    /// whose tokens carry their whole chain. The token is authenticated first:
    /// the index must only ever vouch for genuine tokens.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token does not parse, [`Error::BadSignature`]
    /// or [`Error::UnknownKey`] when it does not authenticate.
    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error>;

    /// Reads a token without verifying it.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token does not parse.
    fn inspect(&self, token: &Token) -> Result<Inspection, Error>;

    /// Wraps binary bytes as a token of this format, checking their framing.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the bytes are not framed as this format.
    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error>;

    /// The text form.
    fn to_text(&self, token: &Token) -> String;

    /// Parses the text form.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the text is not this format's text form.
    fn parse_text(&self, text: &str) -> Result<Token, Error>;
}
