//! The capability model of DESIGN.md §3: token ids, key ids, subjects, grants and capabilities.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::constraint::Constraint;
use crate::error::{Error, ModelError};
use crate::lineage::LineageHash;
use crate::provider::Format;

/// A 128-bit random token identifier. Lower-case hex in text and JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(pub [u8; 16]);

impl TokenId {
    /// A fresh identifier from the operating system's random number generator.
    ///
    /// # Errors
    /// [`Error::Random`] when the operating system cannot supply randomness.
    pub fn random() -> Result<Self, Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Parses 32 lower-case hex digits.
    ///
    /// # Errors
    /// [`ModelError::InvalidHex`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, ModelError> {
        crate::hex::decode(text).map(Self)
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

crate::hex::serde_bytes_as_hex!(TokenId, 16);

/// The identifier of a key in a keyring: 1 to [`KeyId::MAX_LEN`] printable
/// ASCII bytes (`!` to `~`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct KeyId(String);

impl KeyId {
    /// The longest key id accepted, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks and wraps a key id.
    ///
    /// # Errors
    /// [`ModelError::InvalidKeyId`] when the id is empty, too long or not printable ASCII.
    pub fn new(id: impl Into<String>) -> Result<Self, ModelError> {
        let id = id.into();
        let ok =
            !id.is_empty() && id.len() <= Self::MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(id))
        } else {
            Err(ModelError::InvalidKeyId)
        }
    }

    /// The key id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A holder public key a subject may be bound to (DESIGN.md §8).
///
/// In text and JSON: `ed25519:` followed by the key in lower-case hex, or (with
/// the `p256` feature) `p256:` followed by the compressed SEC1 point in
/// lower-case hex.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HolderKey {
    /// An Ed25519 public key.
    Ed25519([u8; 32]),
    /// An ECDSA P-256 public key, compressed SEC1 (`02` or `03`, then x); always
    /// a valid curve point.
    #[cfg(feature = "p256")]
    P256([u8; 33]),
}

impl HolderKey {
    const ED25519_PREFIX: &'static str = "ed25519:";
    #[cfg(feature = "p256")]
    const P256_PREFIX: &'static str = "p256:";

    /// Parses the text form `ed25519:<64 hex digits>` (or, with the `p256`
    /// feature, `p256:<66 hex digits>` of a valid compressed point).
    ///
    /// # Errors
    /// [`ModelError::InvalidHolderKey`] for anything else.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        if let Some(hex) = text.strip_prefix(Self::ED25519_PREFIX) {
            return crate::hex::decode(hex)
                .map(Self::Ed25519)
                .map_err(|_| ModelError::InvalidHolderKey);
        }
        #[cfg(feature = "p256")]
        if let Some(hex) = text.strip_prefix(Self::P256_PREFIX) {
            let bytes = crate::hex::decode(hex).map_err(|_| ModelError::InvalidHolderKey)?;
            return Self::p256(bytes);
        }
        Err(ModelError::InvalidHolderKey)
    }

    /// A P-256 holder key from its compressed SEC1 form.
    ///
    /// # Errors
    /// [`ModelError::InvalidHolderKey`] unless `bytes` is a compressed point on the curve.
    #[cfg(feature = "p256")]
    pub fn p256(bytes: [u8; 33]) -> Result<Self, ModelError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let point =
            p256::PublicKey::from_sec1_bytes(&bytes).map_err(|_| ModelError::InvalidHolderKey)?;
        // Exactly the compressed form: one key, one encoding.
        if point.to_encoded_point(true).as_bytes() != bytes {
            return Err(ModelError::InvalidHolderKey);
        }
        Ok(Self::P256(bytes))
    }

    /// The key as it is written in proofs and delegation requests.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Ed25519(k) => k,
            #[cfg(feature = "p256")]
            Self::P256(k) => k,
        }
    }
}

impl fmt::Display for HolderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ed25519(k) => write!(f, "{}{}", Self::ED25519_PREFIX, crate::hex::encode(k)),
            #[cfg(feature = "p256")]
            Self::P256(k) => write!(f, "{}{}", Self::P256_PREFIX, crate::hex::encode(k)),
        }
    }
}

/// The binary (non-human-readable) serde shape of [`HolderKey`].
#[derive(Serialize, Deserialize)]
enum HolderKeyRepr {
    Ed25519([u8; 32]),
    /// The SEC1 tag byte and x (serde has no 33-byte arrays).
    #[cfg(feature = "p256")]
    P256(u8, [u8; 32]),
}

impl Serialize for HolderKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            match self {
                Self::Ed25519(k) => HolderKeyRepr::Ed25519(*k).serialize(s),
                #[cfg(feature = "p256")]
                Self::P256(k) => {
                    let [tag, x @ ..] = *k;
                    HolderKeyRepr::P256(tag, x).serialize(s)
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for HolderKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            Self::parse(&text).map_err(serde::de::Error::custom)
        } else {
            match HolderKeyRepr::deserialize(d)? {
                HolderKeyRepr::Ed25519(k) => Ok(Self::Ed25519(k)),
                #[cfg(feature = "p256")]
                HolderKeyRepr::P256(tag, x) => {
                    let mut k = [tag; 33];
                    for (to, from) in k.iter_mut().skip(1).zip(x) {
                        *to = from;
                    }
                    Self::p256(k).map_err(serde::de::Error::custom)
                }
            }
        }
    }
}

/// What a subject is bound to, beyond its principal name (DESIGN.md §8–§9).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HolderBinding {
    /// Exactly this holder key.
    Key(HolderKey),
    /// Any active key of the principal's key set, resolved at verification time.
    KeySet,
}

/// The principal allowed to use a capability, optionally bound to a holder key
/// or to the principal's key set.
///
/// A bound subject needs a proof of possession at every verification, which
/// every provider's `verify` checks (DESIGN.md §8), and is delegated on only
/// with its holder's signature. A subject bound to its principal's key set
/// accepts proofs from any key of the set that the verifier's holder-key
/// directory ([`crate::holder_keys`], DESIGN.md §9) admits at the proof's time;
/// it can be narrowed, but not handed over to another subject.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Subject {
    /// The principal name, for example `agent:planner`. Requests must name it exactly.
    pub principal: String,
    /// The holder binding, `None` for a bearer capability.
    pub binding: Option<HolderBinding>,
}

impl Subject {
    /// A subject with no holder binding (a bearer capability).
    #[must_use]
    pub fn new(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            binding: None,
        }
    }

    /// A subject bound to one holder key.
    #[must_use]
    pub fn bound_to_key(principal: impl Into<String>, key: HolderKey) -> Self {
        Self {
            principal: principal.into(),
            binding: Some(HolderBinding::Key(key)),
        }
    }

    /// A subject bound to the principal's key set.
    #[must_use]
    pub fn bound_to_key_set(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            binding: Some(HolderBinding::KeySet),
        }
    }

    /// Is this subject bound to a key or a key set?
    #[must_use]
    pub fn is_bound(&self) -> bool {
        self.binding.is_some()
    }

    /// The one holder key this subject is bound to, if it is bound to one.
    #[must_use]
    pub fn holder_key(&self) -> Option<&HolderKey> {
        match &self.binding {
            Some(HolderBinding::Key(k)) => Some(k),
            Some(HolderBinding::KeySet) | None => None,
        }
    }
}

impl From<&str> for Subject {
    fn from(principal: &str) -> Self {
        Self::new(principal)
    }
}

impl From<String> for Subject {
    fn from(principal: String) -> Self {
        Self::new(principal)
    }
}

/// A (tool server, tool name) pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ToolRef {
    /// Tool server id.
    pub server: String,
    /// Tool name on that server.
    pub tool: String,
}

impl ToolRef {
    /// A tool reference.
    #[must_use]
    pub fn new(server: impl Into<String>, tool: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            tool: tool.into(),
        }
    }
}

impl fmt::Display for ToolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.server, self.tool)
    }
}

/// Permission to call one tool, with constraints on its arguments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// Tool server id.
    pub server: String,
    /// Tool name.
    pub tool: String,
    /// Constrained arguments. Arguments not named here are unconstrained and may be absent.
    pub args: BTreeMap<String, Constraint>,
}

impl Grant {
    /// A grant with no argument constraints.
    #[must_use]
    pub fn new(server: impl Into<String>, tool: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            tool: tool.into(),
            args: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the constraint on one argument.
    #[must_use]
    pub fn with_arg(mut self, name: impl Into<String>, constraint: Constraint) -> Self {
        self.args.insert(name.into(), constraint);
        self
    }

    /// The (server, tool) pair this grant is for.
    #[must_use]
    pub fn tool_ref(&self) -> ToolRef {
        ToolRef::new(self.server.clone(), self.tool.clone())
    }

    /// Is this grant for that (server, tool) pair?
    #[must_use]
    pub fn is_for(&self, server: &str, tool: &str) -> bool {
        self.server == server && self.tool == tool
    }
}

/// The lineage of a derived credential: which credential it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParentRef {
    /// The parent's format (a chain may change format, DESIGN.md §9).
    pub format: Format,
    /// The parent's token id.
    pub id: TokenId,
    /// The parent's lineage hash (DESIGN.md §5), in the parent's format.
    pub hash: LineageHash,
}

impl ParentRef {
    /// A reference to a parent credential.
    #[must_use]
    pub fn new(format: Format, id: TokenId, hash: LineageHash) -> Self {
        Self { format, id, hash }
    }
}

/// A capability: who may call which tools, with which arguments, when, and how
/// much further it may be delegated. Build one with [`Capability::builder`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capability {
    /// Random 128-bit token id.
    pub id: TokenId,
    /// Key id of the issuing key.
    pub issuer: KeyId,
    /// When the issuer made it (Unix seconds), signed in every format; key
    /// lifecycle judges it (DESIGN.md §9).
    pub issued_at: u64,
    /// Who may use it.
    pub subject: Subject,
    /// What it allows. Empty means nothing.
    pub grants: BTreeSet<Grant>,
    /// Valid from this Unix time (seconds), inclusive.
    pub not_before: u64,
    /// Valid until this Unix time (seconds), exclusive.
    pub expires_at: u64,
    /// How many more delegation steps are allowed.
    pub max_depth: u32,
    /// The parent credential, `None` for a root.
    pub parent: Option<ParentRef>,
}

impl Capability {
    /// A builder for a root capability issued by `issuer`:
    /// `Capability::builder(issuer).subject("agent:a").valid_from(t).for_secs(3600).depth(4).grant(g).build()`.
    pub fn builder(issuer: KeyId) -> CapabilityBuilder {
        CapabilityBuilder {
            issuer,
            id: None,
            issued_at: None,
            subject: None,
            grants: BTreeSet::new(),
            not_before: None,
            expires_at: None,
            lifetime: None,
            max_depth: 0,
        }
    }

    /// Adds a grant.
    #[must_use]
    pub fn with_grant(mut self, grant: Grant) -> Self {
        self.grants.insert(grant);
        self
    }

    /// Is `now` inside `not_before <= now < expires_at`?
    #[must_use]
    pub fn is_valid_at(&self, now: u64) -> bool {
        self.not_before <= now && now < self.expires_at
    }
}

/// Builds a root [`Capability`]; see [`Capability::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct CapabilityBuilder {
    issuer: KeyId,
    id: Option<TokenId>,
    issued_at: Option<u64>,
    subject: Option<Subject>,
    grants: BTreeSet<Grant>,
    not_before: Option<u64>,
    expires_at: Option<u64>,
    lifetime: Option<u64>,
    max_depth: u32,
}

impl CapabilityBuilder {
    /// Who may use it (a principal name, or a [`Subject`] with a holder binding).
    pub fn subject(mut self, subject: impl Into<Subject>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// A chosen token id (default: 128 random bits).
    pub fn id(mut self, id: TokenId) -> Self {
        self.id = Some(id);
        self
    }

    /// When it is issued (default: the start of validity).
    pub fn issued_at(mut self, t: u64) -> Self {
        self.issued_at = Some(t);
        self
    }

    /// The start of validity, inclusive (Unix seconds). Required.
    pub fn valid_from(mut self, t: u64) -> Self {
        self.not_before = Some(t);
        self
    }

    /// The end of validity, exclusive (Unix seconds). This or [`Self::for_secs`] is required.
    pub fn valid_until(mut self, t: u64) -> Self {
        self.expires_at = Some(t);
        self.lifetime = None;
        self
    }

    /// Valid for `secs` seconds from the start of validity.
    pub fn for_secs(mut self, secs: u64) -> Self {
        self.lifetime = Some(secs);
        self.expires_at = None;
        self
    }

    /// How many delegation steps are allowed below it (default 0).
    pub fn depth(mut self, max_depth: u32) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Adds a grant.
    pub fn grant(mut self, grant: Grant) -> Self {
        self.grants.insert(grant);
        self
    }

    /// The capability.
    ///
    /// # Errors
    /// [`ModelError::Missing`] without a subject, a start or an end of validity;
    /// [`ModelError::EmptyWindow`] when it would end before it starts (or the
    /// lifetime overflows); [`ModelError::TooLarge`] beyond the size bounds of
    /// [`crate::bounds`]; [`Error::Random`] when no random id can be drawn.
    pub fn build(self) -> Result<Capability, Error> {
        let subject = self.subject.ok_or(ModelError::Missing("subject"))?;
        let not_before = self.not_before.ok_or(ModelError::Missing("valid_from"))?;
        let expires_at = match (self.expires_at, self.lifetime) {
            (Some(t), _) => t,
            (None, Some(secs)) => not_before
                .checked_add(secs)
                .ok_or(ModelError::EmptyWindow)?,
            (None, None) => return Err(ModelError::Missing("valid_until or for_secs").into()),
        };
        if expires_at <= not_before {
            return Err(ModelError::EmptyWindow.into());
        }
        let id = match self.id {
            Some(id) => id,
            None => TokenId::random()?,
        };
        let cap = Capability {
            id,
            issuer: self.issuer,
            issued_at: self.issued_at.unwrap_or(not_before),
            subject,
            grants: self.grants,
            not_before,
            expires_at,
            max_depth: self.max_depth,
            parent: None,
        };
        cap.check_bounds()?;
        Ok(cap)
    }
}
