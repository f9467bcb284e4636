//! The lineage hash domain of DESIGN.md §5, and the revocation list and lineage index keyed by it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::capability::{ParentRef, TokenId};
use crate::error::StoreError;
use crate::provider::{Format, VerifyContext};

/// The domain separator of lineage-row seals ([`LineageEntry::sealed_bytes`]).
pub const ROW_DOMAIN: &[u8] = b"captoken/lineage-row/v1";

/// The domain separator of every lineage hash.
pub const LINEAGE_DOMAIN: &[u8] = b"captoken/lineage/v1";

/// SHA-256 identifying one credential (a token, or a prefix of an offline-attenuated token).
///
/// Equality is constant-time. Lower-case hex in text and JSON.
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct LineageHash(pub [u8; 32]);

crate::hex::serde_bytes_as_hex!(LineageHash, 32);

impl LineageHash {
    /// `SHA-256("captoken/lineage/v1" || len(tag) || tag || canonical)` where
    /// `tag` is the format tag ([`Format::tag`]) and `len(tag)` one byte.
    ///
    /// Each provider defines its `canonical` credential bytes (DESIGN.md §5, ADR 0002).
    #[must_use]
    pub fn compute(format: Format, canonical: &[u8]) -> Self {
        let mut h = LineageHasher::new(format);
        h.update(canonical);
        h.finish()
    }

    /// Parses 64 lower-case hex digits.
    ///
    /// # Errors
    /// [`crate::ModelError::InvalidHex`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, crate::ModelError> {
        crate::hex::decode(text).map(Self)
    }

    /// Lower-case hexadecimal.
    #[must_use]
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

/// The lineage hash of canonical bytes fed in pieces; cloning it hashes every
/// prefix of a chain in one pass. [`LineageHash::compute`] is the one-shot form.
#[derive(Clone, Debug)]
pub struct LineageHasher(Sha256);

impl LineageHasher {
    /// A hasher for credentials of `format`, with the domain and tag already absorbed.
    #[must_use]
    pub fn new(format: Format) -> Self {
        let tag = format.tag().as_bytes();
        let mut h = Sha256::new();
        h.update(LINEAGE_DOMAIN);
        // A tag is at most Format::MAX_LEN = 32 bytes.
        h.update([u8::try_from(tag.len()).unwrap_or(u8::MAX)]);
        h.update(tag);
        Self(h)
    }

    /// Absorbs more canonical bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash of everything absorbed.
    #[must_use]
    pub fn finish(self) -> LineageHash {
        LineageHash(self.0.finalize().into())
    }
}

impl PartialEq for LineageHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for LineageHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for LineageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LineageHash({})", self.to_hex())
    }
}

impl fmt::Display for LineageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// One row of the lineage index: a re-issued credential's id, lineage hash
/// and parent, sealed by its issuer.
///
/// A row holds no credential: a credential is a bearer token, and the index
/// is copied to every verifier host. A verifier believes a row only when its
/// `seal`, the issuer's authenticator over [`LineageEntry::sealed_bytes`] (a
/// MAC, a signature or an encrypted PASETO, by format), checks under its own
/// keys (see `reissue`): the index is trusted for availability only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LineageEntry {
    /// The credential's token id.
    pub token_id: TokenId,
    /// The credential's lineage hash.
    pub hash: LineageHash,
    /// Its parent, `None` for a root.
    pub parent: Option<ParentRef>,
    /// The issuer's seal over the row.
    pub seal: Vec<u8>,
}

impl LineageEntry {
    /// A row of the lineage index.
    #[must_use]
    pub fn new(
        token_id: TokenId,
        hash: LineageHash,
        parent: Option<ParentRef>,
        seal: Vec<u8>,
    ) -> Self {
        Self {
            token_id,
            hash,
            parent,
            seal,
        }
    }

    /// The bytes a row's seal covers, for a credential of `format`:
    /// [`ROW_DOMAIN`], then the format tag, the token id, the lineage hash, and
    /// the parent (`0`, or `1` and its format tag, id and hash), each tag
    /// preceded by its length in one byte. The domain keeps a row seal from
    /// ever passing as a token's MAC or signature, and the reverse.
    #[must_use]
    pub fn sealed_bytes(&self, format: Format) -> Vec<u8> {
        fn tag(out: &mut Vec<u8>, f: Format) {
            // A tag is at most Format::MAX_LEN = 32 bytes.
            out.push(u8::try_from(f.tag().len()).unwrap_or(u8::MAX));
            out.extend_from_slice(f.tag().as_bytes());
        }
        let mut out = Vec::with_capacity(ROW_DOMAIN.len() + 2 * (1 + 32 + 16 + 32) + 1);
        out.extend_from_slice(ROW_DOMAIN);
        tag(&mut out, format);
        out.extend_from_slice(&self.token_id.0);
        out.extend_from_slice(&self.hash.0);
        match &self.parent {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                tag(&mut out, p.format);
                out.extend_from_slice(&p.id.0);
                out.extend_from_slice(&p.hash.0);
            }
        }
        out
    }
}

/// Revoked lineage hashes, the reading side: what a verifier holds (a
/// read-only handle is enough). A revoked hash denies that credential and
/// every descendant; [`RevocationWriter`] revokes.
///
/// Implementations report storage failures as errors; verifiers deny on error (fail closed).
pub trait RevocationList: Send + Sync {
    /// Has this credential been revoked?
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn is_revoked(&self, hash: &LineageHash) -> Result<bool, StoreError>;

    /// Has any of these credentials been revoked? What a verification asks
    /// once for a whole chain; a store over a database answers it in one
    /// query. The default asks [`RevocationList::is_revoked`] for each.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn any_revoked(&self, hashes: &[LineageHash]) -> Result<bool, StoreError> {
        for hash in hashes {
            if self.is_revoked(hash)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The writing side of a revocation list: an issuer's or an operator's.
pub trait RevocationWriter: RevocationList {
    /// Revokes a credential and all its descendants. Revoking twice is a no-op.
    ///
    /// # Errors
    /// [`StoreError`] when the revocation could not be recorded.
    fn revoke(&self, hash: LineageHash) -> Result<(), StoreError>;
}

/// Token id -> (lineage hash, parent, issuer's seal), written by issuers of
/// re-issued credentials, read by verifiers that do not hold the parent token
/// (cold verification). Verifiers check every row's seal before believing it:
/// an index is trusted for availability, not integrity.
pub trait LineageIndex: Send + Sync {
    /// Records a credential. Recording the same entry again is a no-op; a
    /// different entry under a recorded token id is refused.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a different entry under the same id, or a storage failure.
    fn record(&self, entry: LineageEntry) -> Result<(), StoreError>;

    /// The entry recorded for a token id.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn get(&self, id: &TokenId) -> Result<Option<LineageEntry>, StoreError>;

    /// The entries of `id` and of its recorded ancestors, following each
    /// entry's parent id, child first, at most `max`: what a cold verification
    /// asks once for a whole chain; a store over a database answers it in one
    /// query. It stops at a root or a missing entry. Nothing here is believed: the
    /// verifier checks each entry against what its child declares and its seal.
    /// The default asks [`LineageIndex::get`] for each.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn ancestry(&self, id: &TokenId, max: usize) -> Result<Vec<LineageEntry>, StoreError> {
        let mut rows: Vec<LineageEntry> = Vec::new();
        let mut next = Some(*id);
        while let Some(id) = next {
            if rows.len() >= max {
                break;
            }
            let Some(row) = self.get(&id)? else { break };
            next = row.parent.map(|p| p.id);
            rows.push(row);
        }
        Ok(rows)
    }
}

/// An in-memory revocation list and lineage index together, for a
/// single-process verifier or a test: [`MemoryStores::cold`] is the cold
/// verification context over both.
#[derive(Debug, Default)]
pub struct MemoryStores {
    /// Revoked lineage hashes.
    pub revoked: MemoryRevocationList,
    /// Lineage index rows.
    pub index: MemoryLineageIndex,
}

impl MemoryStores {
    /// Empty stores.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A context for cold verification over these stores (no ancestors, no discharges).
    #[must_use]
    pub fn cold(&self) -> VerifyContext<'_> {
        VerifyContext::new(&self.revoked, &self.index)
    }

    /// Records `token`'s lineage-index row, when its format has one, as an
    /// issuer does for every token it mints.
    ///
    /// # Errors
    /// When the provider cannot make the row or the index refuses it.
    pub fn record_index(
        &self,
        provider: &dyn crate::TokenProvider,
        token: &crate::Token,
    ) -> Result<(), crate::Error> {
        if let Some(entry) = provider.index_entry(token)? {
            self.index.record(entry)?;
        }
        Ok(())
    }
}

/// An in-memory [`RevocationList`].
#[derive(Debug, Default)]
pub struct MemoryRevocationList {
    revoked: RwLock<HashSet<LineageHash>>,
}

impl MemoryRevocationList {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl RevocationWriter for MemoryRevocationList {
    fn revoke(&self, hash: LineageHash) -> Result<(), StoreError> {
        self.revoked
            .write()
            .map_err(|_| StoreError::Poisoned)?
            .insert(hash);
        Ok(())
    }
}

impl RevocationList for MemoryRevocationList {
    fn any_revoked(&self, hashes: &[LineageHash]) -> Result<bool, StoreError> {
        let revoked = self.revoked.read().map_err(|_| StoreError::Poisoned)?;
        Ok(hashes.iter().any(|h| revoked.contains(h)))
    }

    fn is_revoked(&self, hash: &LineageHash) -> Result<bool, StoreError> {
        Ok(self
            .revoked
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .contains(hash))
    }
}

/// An in-memory [`LineageIndex`].
#[derive(Debug, Default)]
pub struct MemoryLineageIndex {
    entries: RwLock<HashMap<TokenId, LineageEntry>>,
}

impl MemoryLineageIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl LineageIndex for MemoryLineageIndex {
    fn record(&self, entry: LineageEntry) -> Result<(), StoreError> {
        let mut map = self.entries.write().map_err(|_| StoreError::Poisoned)?;
        match map.get(&entry.token_id) {
            Some(existing) if *existing != entry => Err(StoreError::Conflict(entry.token_id)),
            Some(_) => Ok(()),
            None => {
                map.insert(entry.token_id, entry);
                Ok(())
            }
        }
    }

    fn get(&self, id: &TokenId) -> Result<Option<LineageEntry>, StoreError> {
        Ok(self
            .entries
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .get(id)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_separates_formats_and_bytes() {
        let a = LineageHash::compute(Format::new("hmac-v1"), b"x");
        assert_ne!(a, LineageHash::compute(Format::new("paseto-v4"), b"x"));
        assert_ne!(a, LineageHash::compute(Format::new("hmac-v1"), b"y"));
        // The tag's length prefix keeps (tag "ab", bytes "c") apart from (tag "a", bytes "bc").
        assert_ne!(
            LineageHash::compute(Format::new("ab"), b"c"),
            LineageHash::compute(Format::new("a"), b"bc")
        );
    }

    #[test]
    fn domain_is_pinned() {
        // SHA-256("captoken/lineage/v1" || 0x07 || "hmac-v1" || "abc"), computed independently.
        let h = LineageHash::compute(Format::new("hmac-v1"), b"abc");
        assert_eq!(h.to_hex(), LINEAGE_OF_ABC);
    }

    const LINEAGE_OF_ABC: &str = "b296a8d6729751e5efe381e1a656d806c5fddd3a435245d6803e5cb271444184";

    #[test]
    fn revocation_list_remembers() {
        let list = MemoryRevocationList::new();
        let h = LineageHash([7; 32]);
        assert!(!list.is_revoked(&h).unwrap());
        list.revoke(h).unwrap();
        assert!(list.is_revoked(&h).unwrap());
        assert!(!list.is_revoked(&LineageHash([8; 32])).unwrap());
    }

    #[test]
    fn index_refuses_conflicting_entries() {
        let idx = MemoryLineageIndex::new();
        let e = LineageEntry {
            token_id: TokenId([1; 16]),
            hash: LineageHash([2; 32]),
            parent: None,
            seal: vec![1, 2, 3],
        };
        idx.record(e.clone()).unwrap();
        idx.record(e.clone()).unwrap();
        let other = LineageEntry {
            hash: LineageHash([3; 32]),
            ..e.clone()
        };
        assert!(matches!(idx.record(other), Err(StoreError::Conflict(_))));
        assert_eq!(idx.get(&e.token_id).unwrap(), Some(e));
        assert_eq!(idx.get(&TokenId([9; 16])).unwrap(), None);
    }
}
