//! The capability model of DESIGN.md §3: token ids, key ids, subjects, grants and capabilities.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::constraint::Constraint;
use crate::error::{Error, ModelError};
use crate::lineage::LineageHash;

/// A 128-bit random token identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

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

/// A holder public key a subject may be bound to (used by proof of possession).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HolderKey {
    /// An Ed25519 public key.
    Ed25519([u8; 32]),
}

/// The principal allowed to use a capability, optionally bound to a holder key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subject {
    /// The principal name, for example `agent:planner`. Requests must name it exactly.
    pub principal: String,
    /// The holder's public key, when the capability is bound to one.
    pub holder_key: Option<HolderKey>,
}

impl Subject {
    /// A subject with no holder key.
    #[must_use]
    pub fn new(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            holder_key: None,
        }
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

/// The lineage of a re-issued credential: which credential it was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ParentRef {
    /// The parent's token id.
    pub id: TokenId,
    /// The parent's lineage hash (DESIGN.md §5).
    pub hash: LineageHash,
}

/// A capability: who may call which tools, with which arguments, when, and how
/// much further it may be delegated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capability {
    /// Random 128-bit token id.
    pub id: TokenId,
    /// Key id of the issuing key.
    pub issuer: KeyId,
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
    /// A root capability with a fresh random id and no grants.
    ///
    /// # Errors
    /// [`Error::Random`] when no randomness is available.
    pub fn root(
        issuer: KeyId,
        subject: Subject,
        not_before: u64,
        expires_at: u64,
        max_depth: u32,
    ) -> Result<Self, Error> {
        Ok(Self {
            id: TokenId::random()?,
            issuer,
            subject,
            grants: BTreeSet::new(),
            not_before,
            expires_at,
            max_depth,
            parent: None,
        })
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
