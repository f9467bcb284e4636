//! The `TokenProvider` contract of DESIGN.md §4: tokens, verification context, verdicts and properties.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

use crate::attenuation::Attenuation;
use crate::capability::{Capability, KeyId, ParentRef, Subject, TokenId};
use crate::error::{Error, ModelError};
use crate::lineage::{LineageEntry, LineageHash, LineageIndex, RevocationList};
use crate::possession::{HolderSigningKey, Possession};
use crate::request::Request;

/// A token format, named by a short tag that also separates lineage hashes of
/// different formats (DESIGN.md §5): 1 to [`Format::MAX_LEN`] bytes of lower-case
/// ASCII letters, digits, `-` and `.`. Held inline, so a format read from a
/// token (a parent's format) is as cheap to copy as a constant one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Format {
    len: u8,
    tag: [u8; Format::MAX_LEN],
}

impl Format {
    /// The longest tag, in bytes.
    pub const MAX_LEN: usize = 32;

    /// A format with this tag, for constants: `const F: Format = Format::new("hmac-v2");`
    /// fails to compile when the tag is empty, too long or has other characters.
    ///
    /// # Panics
    /// On such a tag, which in a `const` is a compile-time error.
    #[must_use]
    #[allow(
        clippy::panic,
        reason = "a const assertion: the panic is a compile error"
    )]
    pub const fn new(tag: &'static str) -> Self {
        match Self::from_bytes(tag.as_bytes()) {
            Some(f) => f,
            None => panic!("a format tag is 1 to 32 bytes of [a-z0-9.-]"),
        }
    }

    /// Parses a tag read from a token.
    ///
    /// # Errors
    /// [`ModelError::InvalidFormatTag`] for an empty, too long or ill-formed tag.
    pub fn parse(tag: &str) -> Result<Self, ModelError> {
        Self::from_bytes(tag.as_bytes()).ok_or(ModelError::InvalidFormatTag)
    }

    #[allow(
        clippy::indexing_slicing,
        reason = "const fn; both indices are bounded by the checks above"
    )]
    const fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return None;
        }
        let mut tag = [0u8; Self::MAX_LEN];
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
                return None;
            }
            tag[i] = b;
            i += 1;
        }
        #[allow(clippy::cast_possible_truncation, reason = "at most MAX_LEN = 32")]
        Some(Self {
            len: bytes.len() as u8,
            tag,
        })
    }

    /// The format's tag, for example `hmac-v2`.
    #[must_use]
    pub fn tag(&self) -> &str {
        let bytes = self.tag.get(..usize::from(self.len)).unwrap_or_default();
        // Only ASCII is ever stored.
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Format({:?})", self.tag())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.tag())
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tag = String::deserialize(d)?;
        Self::parse(&tag).map_err(serde::de::Error::custom)
    }
}

/// Checks that `token` claims `expected` before a provider reads it.
///
/// # Errors
/// [`Error::WrongFormat`] naming both formats.
pub fn check_format(token: &Token, expected: Format) -> Result<(), Error> {
    if token.format() == expected {
        Ok(())
    } else {
        Err(Error::WrongFormat {
            expected,
            found: token.format(),
        })
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
    /// For live verification: the ancestors, parent first. Re-issued chains
    /// authenticate them instead of looking the ancestors up in `lineage`;
    /// offline formats, whose tokens carry their chain, can only confirm them.
    /// In every format a supplied ancestor that is not the chain's ancestor at
    /// its level (or one more than the chain has) denies the token.
    pub ancestors: &'a [Token],
    /// Discharge tokens for third-party caveats, in formats that have them.
    pub discharges: &'a [Token],
    /// Proof-of-possession checking (DESIGN.md §8): the proof presented, the
    /// nonce store and the settings. Without it, a capability bound to a holder
    /// key is denied ([`DenyReason::PossessionRequired`]).
    pub possession: Option<Possession<'a>>,
    /// Verifies ancestors of other formats, for a chain that crosses a format
    /// migration (DESIGN.md §9). Without it, an ancestor of another format
    /// denies ([`DenyReason::LineageMismatch`]).
    pub foreign: Option<&'a dyn ForeignLineage>,
}

/// Verifies the ancestry of a chain from an ancestor of another format than
/// the verifying provider's (DESIGN.md §9 bridge): the ancestor and every one
/// above it unrevoked and authenticated, from the context's supplied
/// ancestors (live) or its lineage index (cold). A multi-format verifier
/// implements it by handing the ancestor to the provider of its format.
pub trait ForeignLineage: Send + Sync {
    /// Walks the chain from `declared` up, at most `budget` ancestors; returns
    /// how many it walked.
    ///
    /// # Errors
    /// The first [`DenyReason`]: [`DenyReason::LineageMismatch`] for a format it
    /// does not read.
    fn verify_ancestry(
        &self,
        declared: &ParentRef,
        ctx: &VerifyContext<'_>,
        budget: usize,
    ) -> Result<usize, DenyReason>;
}

/// How a format's text form is recognised, without parsing it (DESIGN.md §9):
/// a multi-format verifier dispatches on it, never by trying formats in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Marker {
    /// The text starts with this prefix (`v4.public.`).
    Prefix(&'static str),
    /// Unpadded base64url text whose first decoded byte is this (a binary
    /// framing's version or field tag).
    FirstByte(u8),
}

impl Marker {
    /// Does `text` carry this marker?
    #[must_use]
    pub fn matches(&self, text: &str) -> bool {
        match *self {
            Self::Prefix(p) => text.starts_with(p),
            Self::FirstByte(b) => first_byte(text) == Some(b),
        }
    }

    /// Could one text carry both markers? Prefixes overlap when one starts
    /// the other; a prefix and a first byte when the prefix's first two
    /// characters decode to that byte.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Self::Prefix(a), Self::Prefix(b)) => a.starts_with(b) || b.starts_with(a),
            (Self::FirstByte(a), Self::FirstByte(b)) => a == b,
            (Self::Prefix(p), Self::FirstByte(b)) | (Self::FirstByte(b), Self::Prefix(p)) => {
                // A prefix shorter than two characters leaves the first byte open.
                p.len() < 2 || first_byte(p) == Some(b)
            }
        }
    }
}

/// The first byte of unpadded base64url `text`, from its first two characters.
fn first_byte(text: &str) -> Option<u8> {
    fn sextet(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        }
    }
    let mut chars = text.bytes();
    let (hi, lo) = (sextet(chars.next()?)?, sextet(chars.next()?)?);
    Some((hi << 2) | (lo >> 4))
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
            possession: None,
            foreign: None,
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

    /// Checks proofs of possession with this proof (if any), nonce store and settings.
    #[must_use]
    pub fn with_possession(mut self, possession: Possession<'a>) -> Self {
        self.possession = Some(possession);
        self
    }

    /// Verifies ancestors of other formats with `foreign` (DESIGN.md §9).
    #[must_use]
    pub fn with_foreign(mut self, foreign: &'a dyn ForeignLineage) -> Self {
        self.foreign = Some(foreign);
        self
    }
}

impl fmt::Debug for VerifyContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyContext")
            .field("ancestors", &self.ancestors.len())
            .field("discharges", &self.discharges.len())
            .field("possession", &self.possession)
            .field("foreign", &self.foreign.is_some())
            .finish_non_exhaustive()
    }
}

/// What a successful verification established, for the operator's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verified {
    /// The format that verified the token.
    pub format: Format,
    /// The token id.
    pub token_id: TokenId,
    /// The key that made the root of the chain.
    pub key_id: KeyId,
    /// The signed issue time the token carries: the root's, which re-issuance
    /// (having no clock of its own) keeps in every child.
    pub issued_at: u64,
    /// The token's own lineage hash.
    pub lineage_hash: LineageHash,
    /// Number of delegation steps between the root and this token.
    pub chain_len: usize,
    /// The effective holder: the subject after the last delegation.
    pub holder: Subject,
}

impl Verified {
    /// What a provider reports after a successful verification.
    #[must_use]
    pub fn new(
        format: Format,
        token_id: TokenId,
        key_id: KeyId,
        issued_at: u64,
        lineage_hash: LineageHash,
        chain_len: usize,
        holder: Subject,
    ) -> Self {
        Self {
            format,
            token_id,
            key_id,
            issued_at,
            lineage_hash,
            chain_len,
            holder,
        }
    }
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
    /// The token's key retired before the token's signed `issued_at`
    /// (DESIGN.md §9): it verifies only what it signed before.
    #[error("issuer key retired")]
    KeyRetired,
    /// The token's key is compromised: it verifies nothing (DESIGN.md §9).
    #[error("issuer key compromised")]
    KeyCompromised,
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
    /// The capability is bound to a holder key or key set, and this verifier
    /// has no proof of possession for it (DESIGN.md §8): a bound capability
    /// never verifies as a bearer token.
    #[error("proof of possession required")]
    PossessionRequired,
    /// The proof's key is not in the holder principal's key set (DESIGN.md §9),
    /// or there is no holder-key directory to ask.
    #[error("proof key not in the holder's key set")]
    HolderKeyUnknown,
    /// The proof's key is in the holder's key set but not active at the
    /// proof's time: outside its validity window, or retired before.
    #[error("proof key not active at the proof's time")]
    HolderKeyInactive,
    /// The proof's key is marked compromised in the holder's key set.
    #[error("proof key compromised")]
    HolderKeyCompromised,
    /// A proof of possession does not decode within its size bounds.
    #[error("proof of possession malformed")]
    ProofMalformed,
    /// A proof of possession of another schema or version.
    #[error("proof of possession of an unsupported version")]
    ProofSchema,
    /// A proof signed by a key that is not the current holder's.
    #[error("proof of possession from another key than the holder's")]
    ProofSender,
    /// A proof made for another token, server, tool or action.
    #[error("proof of possession for another token or request")]
    ProofBinding,
    /// A proof older than its time to live.
    #[error("proof of possession stale")]
    ProofStale,
    /// A proof dated beyond the allowed clock skew.
    #[error("proof of possession dated in the future")]
    ProofFutureDated,
    /// A proof whose signature does not verify.
    #[error("proof of possession signature invalid")]
    ProofSignature,
    /// A proof whose nonce was already used.
    #[error("proof of possession replayed")]
    ProofReplay,
    /// The nonce store is full of live nonces: new proofs are refused.
    #[error("nonce store full")]
    NonceStoreFull,
    /// A step delegates away from a key-bound holder without a valid signature
    /// of that holder's key (DESIGN.md §8): a thief's re-delegation.
    #[error("delegation not signed by the key-bound holder")]
    UnsignedDelegation,
    /// The request exceeds the size bounds of [`crate::bounds`].
    #[error("request too large")]
    RequestTooLarge,
    /// The format's own authorizer refused or exceeded its limits.
    #[error("format authorizer: {0}")]
    Format(String),
}

impl DenyReason {
    /// A stable, snake_case name of the reason, for structured logs (the
    /// text of [`DenyReason::Format`] and [`DenyReason::Malformed`] is left out).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::KeyRetired => "key_retired",
            Self::KeyCompromised => "key_compromised",
            Self::BadSignature => "bad_signature",
            Self::WrongSubject => "wrong_subject",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::NoMatchingGrant => "no_matching_grant",
            Self::ConstraintViolated => "constraint_violated",
            Self::DepthExceeded => "depth_exceeded",
            Self::Revoked => "revoked",
            Self::LineageMismatch => "lineage_mismatch",
            Self::LineageUnknown => "lineage_unknown",
            Self::UnknownCaveat => "unknown_caveat",
            Self::Discharge => "discharge",
            Self::Store => "store",
            Self::PossessionRequired => "possession_required",
            Self::HolderKeyUnknown => "holder_key_unknown",
            Self::HolderKeyInactive => "holder_key_inactive",
            Self::HolderKeyCompromised => "holder_key_compromised",
            Self::ProofMalformed => "proof_malformed",
            Self::ProofSchema => "proof_schema",
            Self::ProofSender => "proof_sender",
            Self::ProofBinding => "proof_binding",
            Self::ProofStale => "proof_stale",
            Self::ProofFutureDated => "proof_future_dated",
            Self::ProofSignature => "proof_signature",
            Self::ProofReplay => "proof_replay",
            Self::NonceStoreFull => "nonce_store_full",
            Self::UnsignedDelegation => "unsigned_delegation",
            Self::RequestTooLarge => "request_too_large",
            Self::Format(_) => "format",
        }
    }
}

impl From<crate::error::KeyError> for DenyReason {
    /// How a verifier reports a key it could not use: retired and compromised
    /// keys by their state, anything else as an unknown key.
    fn from(e: crate::error::KeyError) -> Self {
        use crate::error::KeyError;
        match e {
            KeyError::Retired { .. } => Self::KeyRetired,
            KeyError::Compromised(_) => Self::KeyCompromised,
            _ => Self::UnknownKey,
        }
    }
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
/// Serializes to readable JSON (ids and hashes in hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
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

impl Inspection {
    /// What a provider read from a token.
    #[must_use]
    pub fn new(
        format: Format,
        capability: Capability,
        steps: Vec<Attenuation>,
        declared_parents: Vec<LineageHash>,
    ) -> Self {
        Self {
            format,
            capability,
            steps,
            declared_parents,
        }
    }
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

    /// How this format's text form is recognised (DESIGN.md §9).
    fn marker(&self) -> Marker;

    /// Walks the chain from `declared`, an ancestor in this format of a token
    /// of another format (DESIGN.md §9 bridge), at most `budget` ancestors;
    /// see [`ForeignLineage`]. Formats whose tokens carry their own chain
    /// cannot be walked from a reference: the default denies.
    ///
    /// # Errors
    /// The first [`DenyReason`].
    fn verify_ancestry(
        &self,
        declared: &ParentRef,
        ctx: &VerifyContext<'_>,
        budget: usize,
    ) -> Result<usize, DenyReason> {
        let _ = (declared, ctx, budget);
        Err(DenyReason::LineageMismatch)
    }

    /// This provider as a re-issuing format, which a bridge can read a parent
    /// from and write a child to (DESIGN.md §9); `None` for offline formats.
    fn as_reissuer(&self) -> Option<&dyn crate::reissue::Reissuer> {
        None
    }

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
    /// the depth is exhausted, [`Error::Malformed`] for a bad parent,
    /// [`Error::Model`] for a step beyond the size bounds, delegating to a
    /// key-set binding, or delegating away from a bound holder
    /// ([`crate::ModelError::DelegationUnsigned`]: use
    /// [`TokenProvider::attenuate_signed`]).
    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error>;

    /// Takes `step` from `parent` as its current holder, signing the step with
    /// the holder's key (DESIGN.md §8): the only way to delegate away from a
    /// holder bound to a key. Offline formats append the signed step (a caveat
    /// or a third-party block); re-issuing formats check a
    /// [`crate::DelegationRequest`] signed with `holder` and re-issue.
    ///
    /// # Errors
    /// As [`TokenProvider::attenuate`], and [`crate::ModelError::DelegationSignature`]
    /// when `holder` is not the key the parent's current holder is bound to.
    fn attenuate_signed(
        &self,
        parent: &Token,
        step: &Attenuation,
        holder: &HolderSigningKey,
    ) -> Result<Token, Error>;

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

    /// Verifies a token given in text form: the verdict of
    /// [`TokenProvider::parse_text`] followed by [`TokenProvider::verify`],
    /// text that does not parse being [`DenyReason::Malformed`]. A provider
    /// whose `verify` makes every check its parse makes may skip the parse's
    /// (one framing instead of two); the verdict is the same.
    ///
    /// # Errors
    /// One opaque [`Denied`].
    fn verify_text(
        &self,
        text: &str,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        let token = self
            .parse_text(text)
            .map_err(|_| DenyReason::Malformed("not this format's text form"))?;
        self.verify(&token, request, ctx)
    }

    /// The token's own lineage hash (DESIGN.md §5).
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token does not parse.
    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error>;

    /// The lineage-index row an issuer records for this token, for formats
    /// whose chains are verified cold through the index; `None` for formats
    /// whose tokens carry their whole chain. The token is authenticated first
    /// (the index must only ever vouch for genuine tokens), and the row is
    /// sealed with the token's issuer key, which this provider must hold.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Grant, HolderKey, ParentRef};
    use crate::constraint::Constraint;
    use crate::lineage::LineageHash;

    /// Inspection is for tooling: its JSON is readable (ids, hashes and keys
    /// in hex, not byte arrays), and pinned so that a change is deliberate.
    #[test]
    fn inspection_serializes_to_readable_json() {
        let mut cap = Capability::builder(KeyId::new("k1").unwrap())
            .id(TokenId([0xab; 16]))
            .subject(Subject::bound_to_key(
                "agent:a",
                HolderKey::Ed25519([1; 32]),
            ))
            .issued_at(5)
            .valid_from(10)
            .valid_until(20)
            .depth(2)
            .grant(Grant::new("fs", "read").with_arg("path", Constraint::Path("/srv/".into())))
            .build()
            .unwrap();
        let parent = LineageHash([0xcd; 32]);
        cap.parent = Some(ParentRef::new(
            Format::new("hmac-v2"),
            TokenId([0xef; 16]),
            parent,
        ));
        let inspection = Inspection::new(Format::new("hmac-v2"), cap, Vec::new(), vec![parent]);
        let json = serde_json::to_value(&inspection).unwrap();
        let ab = "ab".repeat(16);
        let cd = "cd".repeat(32);
        let expected = serde_json::json!({
            "format": "hmac-v2",
            "capability": {
                "id": ab,
                "issuer": "k1",
                "issued_at": 5,
                "subject": {
                    "principal": "agent:a",
                    "binding": {"key": format!("ed25519:{}", "01".repeat(32))}
                },
                "grants": [{"server": "fs", "tool": "read", "args": {"path": {"Path": "/srv/"}}}],
                "not_before": 10,
                "expires_at": 20,
                "max_depth": 2,
                "parent": {"format": "hmac-v2", "id": "ef".repeat(16), "hash": cd}
            },
            "steps": [],
            "declared_parents": [cd]
        });
        assert_eq!(json, expected);
        // Ids, hashes and keys read back from their hex.
        let back: Capability = serde_json::from_value(json["capability"].clone()).unwrap();
        assert_eq!(back, inspection.capability);
        assert!(
            serde_json::from_str::<TokenId>("\"AB\"").is_err(),
            "upper-case hex"
        );
        assert!(
            serde_json::from_str::<LineageHash>("\"cdcd\"").is_err(),
            "short hash"
        );
    }

    #[test]
    fn markers_match_and_overlap_as_documented() {
        let hmac = Marker::Prefix("cth1.");
        let public = Marker::Prefix("v4.public.");
        let local = Marker::Prefix("v4.local.");
        let macaroon = Marker::FirstByte(0x02);
        let biscuit = Marker::FirstByte(0x08);
        let all = [hmac, public, local, macaroon, biscuit];
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                assert_eq!(a.overlaps(b), i == j, "{a:?} {b:?}");
            }
        }
        assert!(Marker::Prefix("v4.").overlaps(&public));
        assert!(Marker::Prefix("c").overlaps(&macaroon));
        // "cth1." starts with the base64url of 0x72.
        assert!(Marker::Prefix("cth1.").overlaps(&Marker::FirstByte(0x72)));
        assert!(hmac.matches("cth1.AAAA") && !hmac.matches("cth2.AAAA"));
        let encoded = |bytes: &[u8]| Base64UrlUnpadded::encode_string(bytes);
        assert!(macaroon.matches(&encoded(&[0x02, 0xff, 0x00])));
        assert!(biscuit.matches(&encoded(&[0x08, 0x01])));
        assert!(!biscuit.matches(&encoded(&[0x12, 0x01])));
        assert!(!biscuit.matches("C") && !biscuit.matches("C!") && !biscuit.matches(""));
    }

    #[test]
    fn format_tags_are_checked() {
        assert_eq!(Format::new("hmac-v2").tag(), "hmac-v2");
        assert_eq!(
            Format::parse("paseto-v4-public.cap2").unwrap().tag(),
            "paseto-v4-public.cap2"
        );
        for bad in ["", "HMAC", "a b", "ünï", &"x".repeat(33)] {
            assert_eq!(
                Format::parse(bad),
                Err(ModelError::InvalidFormatTag),
                "{bad:?}"
            );
        }
        assert!(Format::parse(&"x".repeat(32)).is_ok());
    }
}
