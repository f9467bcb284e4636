//! Error types of the capability model, attenuation, stores and providers.

use crate::capability::{KeyId, TokenId, ToolRef};
use crate::provider::Format;

/// An invalid value of the capability model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A key id is empty, longer than 64 bytes, or not printable ASCII.
    #[error("key id must be 1 to 64 printable ASCII bytes")]
    InvalidKeyId,
    /// Hexadecimal text is not exactly the expected number of lower-case digits.
    #[error("expected lower-case hexadecimal of the right length")]
    InvalidHex,
    /// A holder key is not `ed25519:` followed by 64 lower-case hex digits.
    #[error(
        "holder key must be ed25519: followed by 64 lower-case hex digits (or, with the p256 feature, p256: and a compressed point in 66)"
    )]
    InvalidHolderKey,
    /// A format tag is empty, too long, or not `[a-z0-9.-]`.
    #[error("format tag must be 1 to 32 bytes of [a-z0-9.-]")]
    InvalidFormatTag,
    /// A builder lacks a required field.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The validity window is empty (it ends at or before its start) or overflows.
    #[error("validity window is empty or overflows")]
    EmptyWindow,
    /// A size bound of `bounds` is exceeded.
    #[error("too large: {0}")]
    TooLarge(&'static str),
    /// A step delegates away from a key-bound holder without that holder's
    /// signature (DESIGN.md §8): use `attenuate_signed` with the holder's key.
    #[error("delegating away from a key-bound holder needs the holder's signature")]
    DelegationUnsigned,
    /// A holder signature on a delegation is not the current holder's, does not
    /// cover this parent and step, or does not verify.
    #[error("the delegation is not signed by the current holder's key")]
    DelegationSignature,
    /// A delegation request is stale, dated in the future or already used,
    /// or the issuer's nonce store cannot take it (the reason says which).
    #[error("delegation request refused: {0}")]
    DelegationRequestRefused(crate::DenyReason),
    /// A step's `signed_by` is set by signing it, never by hand.
    #[error("a step's signer is set by signing the step, not by hand")]
    SignerSetByHand,
}

/// Why a re-issuing issuer refuses an attenuation step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttenuationError {
    /// The parent's `max_depth` is zero.
    #[error("delegation depth exhausted")]
    DepthExhausted,
    /// The step asks for a higher depth than the parent leaves.
    #[error("requested depth {requested} exceeds the {allowed} left")]
    DepthIncrease {
        /// The depth the step asked for.
        requested: u32,
        /// The most the parent allows.
        allowed: u32,
    },
    /// The step moves `not_before` earlier.
    #[error("not_before may only move later")]
    EarlierNotBefore,
    /// The step moves `expires_at` later.
    #[error("expires_at may only move earlier")]
    LaterExpiry,
    /// The step names a tool the parent does not grant.
    #[error("tool {0} is not granted by the parent")]
    ToolNotGranted(ToolRef),
    /// The step's constraint is not at least as narrow as the parent's.
    #[error("constraint on {tool} argument {arg:?} is looser than the parent's")]
    LooserConstraint {
        /// The tool.
        tool: ToolRef,
        /// The argument.
        arg: String,
    },
}

/// A failure of a revocation list, lineage index or other store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A lock was poisoned by a panicking writer.
    #[error("store lock poisoned")]
    Poisoned,
    /// A different entry is already recorded under this token id.
    #[error("conflicting lineage entry for token {0}")]
    Conflict(TokenId),
    /// The store is full: it refuses new entries rather than evict any.
    #[error("store full")]
    Full,
    /// A different record is already enrolled for this principal and holder
    /// key: a holder-key directory never overwrites a record.
    #[error("holder key already enrolled with other terms")]
    HolderKeyExists,
    /// No record of this holder key is enrolled for this principal.
    #[error("holder key not enrolled")]
    HolderKeyUnknown,
    /// A lifecycle move that would give a key back power it lost
    /// ([`KeyState::then`](crate::KeyState::then)).
    #[error("a key cannot move from {from:?} to {to:?}")]
    StateRegression {
        /// The key's state.
        from: crate::keyring::KeyState,
        /// The state refused.
        to: crate::keyring::KeyState,
    },
    /// The backing store failed.
    #[error("store backend: {0}")]
    Backend(String),
}

/// An error from a [`crate::TokenProvider`] operation other than verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token does not parse as this format.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token is of another format.
    #[error("token of format {found}, expected {expected}")]
    WrongFormat {
        /// The provider's format.
        expected: Format,
        /// The token's format.
        found: Format,
    },
    /// No key of this id is held (for signing, or for authenticating a parent).
    #[error("unknown key id {0}")]
    UnknownKey(KeyId),
    /// A parent token's MAC or signature does not verify.
    #[error("parent token fails authentication")]
    BadSignature,
    /// A key cannot be used: not the signing key, retired, compromised, only
    /// a public half.
    #[error(transparent)]
    Key(KeyError),
    /// The attenuation step is refused.
    #[error(transparent)]
    Attenuation(#[from] AttenuationError),
    /// The capability cannot be expressed in this format.
    #[error("cannot be expressed in this format: {0}")]
    Unsupported(&'static str),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// A model value is invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An error of the format's own library.
    #[error("format library: {0}")]
    Format(Box<dyn std::error::Error + Send + Sync>),
}

impl From<KeyError> for Error {
    /// An unknown key id stays [`Error::UnknownKey`]; every other key error is [`Error::Key`].
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::UnknownId(id) => Self::UnknownKey(id),
            e => Self::Key(e),
        }
    }
}

/// Why a key cannot be made, added to a keyring, or selected from one: the
/// one key error of every provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The keyring already holds a key of this key id.
    #[error("key id {0} is already in the keyring")]
    DuplicateId(KeyId),
    /// Tokens would name two keys alike: the same PASETO key under two key ids,
    /// or two key ids deriving the same Biscuit root key id.
    #[error("keys {existing} and {new} would be named alike in tokens")]
    Collision {
        /// The key id already in the keyring.
        existing: KeyId,
        /// The key id refused.
        new: KeyId,
    },
    /// No key of this key id is held.
    #[error("no key of id {0}")]
    UnknownId(KeyId),
    /// No key matches what the token names.
    #[error("no key matches the key the token names")]
    NotFound,
    /// The keyring holds only the public half of this key: it verifies, never signs.
    #[error("key {0} only verifies: no secret to sign with")]
    VerifyOnly(KeyId),
    /// The secret is not of an accepted length.
    #[error("key must be {min} to {max} bytes")]
    BadLength {
        /// The shortest accepted, in bytes.
        min: usize,
        /// The longest accepted, in bytes.
        max: usize,
    },
    /// The bytes are not a usable key: not a curve point, an all-zero seed or
    /// key, a scalar out of range, a public half that does not match its secret.
    #[error("invalid key: {0}")]
    Invalid(&'static str),
    /// The text is not the expected key encoding (a PASERK of the expected type).
    #[error("invalid key encoding: {0}")]
    Encoding(&'static str),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// The key is compromised: it verifies and signs nothing.
    #[error("key {0} is compromised")]
    Compromised(KeyId),
    /// The key retired at `at`: it verifies only what was signed before.
    #[error("key {id} retired at {at}: it verifies only tokens issued before")]
    Retired {
        /// The key.
        id: KeyId,
        /// Its retirement time, Unix seconds.
        at: u64,
    },
    /// The key is retired or compromised: it signs nothing.
    #[error("key {0} is retired or compromised: it no longer signs")]
    CannotSign(KeyId),
    /// Another key is the keyring's signing key (exactly one signs at a time).
    #[error("key {id} is not the signing key (signing: {signing:?})")]
    NotSigningKey {
        /// The key asked for.
        id: KeyId,
        /// The signing key, if any.
        signing: Option<KeyId>,
    },
    /// The keyring has no signing key (none added, or it was compromised).
    #[error("the keyring has no signing key")]
    NoSigningKey,
    /// The signing key cannot be retired or dropped: switch signing first.
    #[error("key {0} is the signing key: switch signing to another key first")]
    SigningKey(KeyId),
    /// A lifecycle move that would give a key back power it lost.
    #[error("a key cannot move from {from:?} to {to:?}")]
    StateRegression {
        /// The key's state.
        from: crate::keyring::KeyState,
        /// The state refused.
        to: crate::keyring::KeyState,
    },
}
