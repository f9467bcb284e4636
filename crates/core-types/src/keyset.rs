//! Issuer key-set documents: a keyring's public keys and their lifecycle states as one JSON document, to export from an issuer and import on verifiers (DESIGN.md §9).
//!
//! A [`KeySetDocument`] lists every key of a [`Keyring`] with its [`KeyState`]
//! and, for public-key formats, its public half in the format's own text
//! convention ([`PublicKeyText`]: a PASERK `k4.public.…` for PASETO,
//! `ed25519/<hex>` for Biscuit). Shared secrets (HMAC, macaroons, PASETO
//! local keys) are never exported: their records carry the id and the state
//! only, so that a document can still tell every holder of the secret that a
//! key retired or was compromised.
//!
//! ```json
//! {
//!   "version": 1,
//!   "format": "paseto-v4-public",
//!   "signing": "k2",
//!   "keys": [
//!     { "id": "k0", "status": "compromised", "at": 1700000000, "public": "k4.public.…" },
//!     { "id": "k1", "status": "retired", "at": 1700003600, "public": "k4.public.…" },
//!     { "id": "k2", "status": "active", "public": "k4.public.…" }
//!   ]
//! }
//! ```
//!
//! `at` (Unix seconds) is required for a retired or compromised key and absent
//! for an active one; `public` is absent for a shared secret; `signing` names
//! the key the exporter signs with, if any, and is informational (applying a
//! document never switches signing). Unknown fields are refused at every level.
//!
//! [`Keyring::to_document`] exports; [`Keyring::apply_document`] imports onto a
//! keyring, only ever moving states forward ([`KeyState::then`]), and refuses
//! the whole document, leaving the keyring unchanged, when any record is
//! refused; [`Keyring::from_document`] builds a verifier's keyring.
#![cfg_attr(
    not(feature = "json"),
    allow(
        dead_code,
        reason = "the JSON forms are read and written with the json feature"
    )
)]

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::capability::KeyId;
use crate::error::KeyError;
use crate::keyring::{KeyMaterial, KeyState, Keyring};
use crate::provider::Format;

/// What [`PublicKeyText::from_public_text`] of a shared-secret key returns:
/// a shared secret has no public half and is never exported.
pub const NO_PUBLIC_HALF: KeyError = KeyError::Encoding("a shared secret has no public half");

/// A key whose public half can be written in a key-set document and read back
/// as a verify-only key. Implemented by every provider's key type.
pub trait PublicKeyText: KeyMaterial + Sized {
    /// The public half in the format's text convention, or `None` for a shared
    /// secret, which is never exported.
    fn public_text(&self) -> Option<String>;

    /// A verify-only key of id `id` from its public text.
    ///
    /// # Errors
    /// [`KeyError::Encoding`] when the text is not the format's public-key
    /// encoding (always, [`NO_PUBLIC_HALF`], for a shared secret),
    /// [`KeyError::Invalid`] when it encodes no usable key.
    fn from_public_text(id: &KeyId, text: &str) -> Result<Self, KeyError>;
}

/// Why a key-set document is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// The text is longer than [`KeySetDocument::MAX_LEN`].
    #[error("key-set document of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The length of the text, in bytes.
        len: usize,
        /// The longest accepted.
        max: usize,
    },
    /// The text is not JSON of the document's shape (malformed JSON, an
    /// unknown or missing field, a value of the wrong type): serde_json's
    /// message, with its line and column.
    #[error("key-set document: {0}")]
    Json(String),
    /// The document's version is not [`KeySetDocument::VERSION`].
    #[error("key-set document version {0} is not supported (expected 1)")]
    Version(u32),
    /// The document lists more than [`KeySetDocument::MAX_KEYS`] keys.
    #[error("key-set document lists {count} keys, more than the limit of {max}")]
    TooManyKeys {
        /// The number of keys listed.
        count: usize,
        /// The most accepted.
        max: usize,
    },
    /// Two records have one key id.
    #[error("key id {0} is listed twice")]
    DuplicateId(KeyId),
    /// A retired or compromised key has no `at`.
    #[error("key {0} is retired or compromised but has no `at` time")]
    MissingTime(KeyId),
    /// An active key has an `at`.
    #[error("key {0} is active but has an `at` time")]
    UnexpectedTime(KeyId),
    /// The signing key is not listed.
    #[error("signing key {0} is not listed")]
    SigningNotListed(KeyId),
    /// The signing key is listed as retired or compromised.
    #[error("signing key {0} is not active")]
    SigningNotActive(KeyId),
    /// The document is of another format than the keyring's.
    #[error("key-set document of format {found}, expected {expected}")]
    WrongFormat {
        /// The keyring's format.
        expected: Format,
        /// The document's format.
        found: Format,
    },
    /// A record cannot be applied: its public text is not a key of the
    /// format, its state would move the held key backwards
    /// ([`KeyError::StateRegression`]), it would retire the signing key
    /// ([`KeyError::SigningKey`]), its key would be named in tokens like a
    /// held key ([`KeyError::Collision`]).
    #[error("key {id}: {source}")]
    Key {
        /// The record's key id.
        id: KeyId,
        /// Why.
        source: KeyError,
    },
    /// A record imports a public key already held, or already imported by
    /// the document, under another key id: one key under two ids would let
    /// a state of one id be sidestepped through the other.
    #[error("key {new} is the same public key as key {existing}")]
    SameKey {
        /// The key id the key is held or imported under first.
        existing: KeyId,
        /// The key id refused.
        new: KeyId,
    },
    /// A record's public key differs from the key held under its id.
    #[error("key {0} is held with another public key than the document's")]
    Mismatch(KeyId),
    /// [`Keyring::from_document`]: a record has no public key to import.
    #[error("key {0} has no public key in the document: nothing to verify with")]
    NoPublicKey(KeyId),
}

/// One key of a [`KeySetDocument`]: its id, its state and, for a public-key
/// format, its public half in the format's text convention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id.
    pub id: KeyId,
    /// The key's lifecycle state.
    pub state: KeyState,
    /// The public half ([`PublicKeyText::public_text`]); `None` for a shared secret.
    pub public: Option<String>,
}

/// A keyring's keys, their states and its signing key id, for one format: the
/// document issuers publish and verifiers apply. See the
/// [module documentation](crate::keyset) for the JSON shape.
///
/// A document is always valid: [`KeySetDocument::new`] and
/// [`KeySetDocument::from_json`] refuse duplicate ids, too many keys, and a
/// signing key that is not listed as active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySetDocument {
    format: Format,
    signing: Option<KeyId>,
    keys: Vec<KeyRecord>,
}

impl KeySetDocument {
    /// The only version of the document.
    pub const VERSION: u32 = 1;
    /// The longest text [`KeySetDocument::from_json`] reads: 1 MiB.
    pub const MAX_LEN: usize = 1 << 20;
    /// The most keys a document lists. (A document within
    /// [`KeySetDocument::MAX_LEN`] lists fewer anyway.)
    pub const MAX_KEYS: usize = 100_000;

    /// A document of these records.
    ///
    /// # Errors
    /// [`KeySetError::TooManyKeys`], [`KeySetError::DuplicateId`],
    /// [`KeySetError::SigningNotListed`], [`KeySetError::SigningNotActive`].
    pub fn new(
        format: Format,
        signing: Option<KeyId>,
        keys: Vec<KeyRecord>,
    ) -> Result<Self, KeySetError> {
        if keys.len() > Self::MAX_KEYS {
            return Err(KeySetError::TooManyKeys {
                count: keys.len(),
                max: Self::MAX_KEYS,
            });
        }
        let mut states: HashMap<&KeyId, KeyState> = HashMap::with_capacity(keys.len());
        for record in &keys {
            if states.insert(&record.id, record.state).is_some() {
                return Err(KeySetError::DuplicateId(record.id.clone()));
            }
        }
        if let Some(id) = &signing {
            match states.get(id) {
                None => return Err(KeySetError::SigningNotListed(id.clone())),
                Some(state) if !state.signs() => {
                    return Err(KeySetError::SigningNotActive(id.clone()));
                }
                Some(_) => {}
            }
        }
        Ok(Self {
            format,
            signing,
            keys,
        })
    }

    /// The document's version, always [`KeySetDocument::VERSION`].
    #[must_use]
    pub fn version(&self) -> u32 {
        Self::VERSION
    }

    /// The format whose keys the document lists.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The key the exporter signs with, if any.
    #[must_use]
    pub fn signing(&self) -> Option<&KeyId> {
        self.signing.as_ref()
    }

    /// The keys, in the document's order.
    #[must_use]
    pub fn keys(&self) -> &[KeyRecord] {
        &self.keys
    }

    /// The record of key `id`.
    #[must_use]
    pub fn get(&self, id: &KeyId) -> Option<&KeyRecord> {
        self.keys.iter().find(|r| &r.id == id)
    }

    /// The document as pretty-printed JSON.
    #[cfg(feature = "json")]
    #[must_use]
    pub fn to_json(&self) -> String {
        let repr = DocumentRepr {
            version: Self::VERSION,
            format: self.format,
            signing: self.signing.clone(),
            keys: self.keys.iter().map(RecordRepr::from).collect(),
        };
        // Serializing these plain structs to a String cannot fail.
        serde_json::to_string_pretty(&repr).unwrap_or_default()
    }

    /// Reads a document from JSON.
    ///
    /// # Errors
    /// [`KeySetError::TooLarge`] beyond [`KeySetDocument::MAX_LEN`] bytes;
    /// [`KeySetError::Version`] for a version other than 1 (checked before
    /// the rest, so that a later version is named as such);
    /// [`KeySetError::Json`] for malformed JSON, an unknown or missing field,
    /// or an unknown status; [`KeySetError::MissingTime`],
    /// [`KeySetError::UnexpectedTime`], and the errors of [`KeySetDocument::new`].
    #[cfg(feature = "json")]
    pub fn from_json(text: &str) -> Result<Self, KeySetError> {
        if text.len() > Self::MAX_LEN {
            return Err(KeySetError::TooLarge {
                len: text.len(),
                max: Self::MAX_LEN,
            });
        }
        // The version first, ignoring everything else; a document without a
        // readable version gets the full parse's error below.
        if let Ok(VersionRepr { version }) = serde_json::from_str::<VersionRepr>(text)
            && version != Self::VERSION
        {
            return Err(KeySetError::Version(version));
        }
        let repr: DocumentRepr =
            serde_json::from_str(text).map_err(|e| KeySetError::Json(e.to_string()))?;
        if repr.version != Self::VERSION {
            return Err(KeySetError::Version(repr.version));
        }
        let keys = repr
            .keys
            .into_iter()
            .map(KeyRecord::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(repr.format, repr.signing, keys)
    }
}

/// The document as JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentRepr {
    version: u32,
    format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing: Option<KeyId>,
    keys: Vec<RecordRepr>,
}

/// Only the version of a document, whatever else it holds.
#[derive(Deserialize)]
struct VersionRepr {
    version: u32,
}

/// A record's `status`.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Retired,
    Compromised,
}

/// A record as JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordRepr {
    id: KeyId,
    status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public: Option<String>,
}

impl From<&KeyRecord> for RecordRepr {
    fn from(record: &KeyRecord) -> Self {
        let (status, at) = match record.state {
            KeyState::Active => (Status::Active, None),
            KeyState::Retired { at } => (Status::Retired, Some(at)),
            KeyState::Compromised { at } => (Status::Compromised, Some(at)),
        };
        Self {
            id: record.id.clone(),
            status,
            at,
            public: record.public.clone(),
        }
    }
}

impl TryFrom<RecordRepr> for KeyRecord {
    type Error = KeySetError;

    fn try_from(repr: RecordRepr) -> Result<Self, KeySetError> {
        let state = match (repr.status, repr.at) {
            (Status::Active, None) => KeyState::Active,
            (Status::Active, Some(_)) => return Err(KeySetError::UnexpectedTime(repr.id)),
            (Status::Retired | Status::Compromised, None) => {
                return Err(KeySetError::MissingTime(repr.id));
            }
            (Status::Retired, Some(at)) => KeyState::Retired { at },
            (Status::Compromised, Some(at)) => KeyState::Compromised { at },
        };
        Ok(Self {
            id: repr.id,
            state,
            public: repr.public,
        })
    }
}

impl<K: KeyMaterial> Keyring<K> {
    /// The key-set document of this keyring, for `format`: every key with its
    /// state and public text (none for a shared secret), in key-id order, and
    /// the signing key id. Never a secret. (A keyring of more than
    /// [`KeySetDocument::MAX_KEYS`] keys gives a document that
    /// [`KeySetDocument::from_json`] refuses.)
    #[must_use]
    pub fn to_document(&self, format: Format) -> KeySetDocument
    where
        K: PublicKeyText,
    {
        let keys = self
            .entries()
            .into_iter()
            .map(|(key, state)| KeyRecord {
                id: key.id().clone(),
                state,
                public: key.public_text(),
            })
            .collect();
        KeySetDocument {
            format,
            signing: self.signing_id().cloned(),
            keys,
        }
    }

    /// Applies a key-set document of `format` to this keyring: each held key
    /// listed moves forward to the listed state ([`Keyring::set_state`]; the
    /// same state is a no-op), each key not held that has public text is
    /// imported verify-only in its listed state. Returns the ids of the keys
    /// not held and without public text (shared secrets this host does not
    /// have), which are not applied. Applying a document never switches signing.
    ///
    /// Everything is checked before anything changes: a refused document
    /// leaves the keyring as it was.
    ///
    /// # Errors
    /// [`KeySetError::WrongFormat`] for a document of another format;
    /// [`KeySetError::Mismatch`] when a record's public key is not the one
    /// held under its id; [`KeySetError::SameKey`] when it would import a
    /// public key held or imported under another id; [`KeySetError::Key`] naming the record's key when
    /// its public text does not decode, its state would move the held key
    /// backwards or retire the signing key, or its key would be named in
    /// tokens like another key.
    pub fn apply_document(
        &mut self,
        doc: &KeySetDocument,
        format: Format,
    ) -> Result<Vec<KeyId>, KeySetError>
    where
        K: PublicKeyText,
    {
        if doc.format != format {
            return Err(KeySetError::WrongFormat {
                expected: format,
                found: doc.format,
            });
        }
        let key_err = |id: &KeyId, source: KeyError| KeySetError::Key {
            id: id.clone(),
            source,
        };
        let mut moves: Vec<(&KeyId, KeyState)> = Vec::new();
        let mut imports: Vec<(K, KeyState)> = Vec::new();
        let mut new_selectors: HashSet<K::Selector> = HashSet::new();
        let mut not_applied = Vec::new();
        // The public text of every key held and imported, to refuse one key under two ids.
        let mut known: HashMap<String, KeyId> = self
            .entries()
            .into_iter()
            .filter_map(|(key, _)| key.public_text().map(|text| (text, key.id().clone())))
            .collect();
        for record in &doc.keys {
            let id = &record.id;
            let parsed = record
                .public
                .as_deref()
                .map(|text| K::from_public_text(id, text))
                .transpose()
                .map_err(|e| key_err(id, e))?;
            if let (Some(held), Some(held_state)) = (self.get(id), self.state(id)) {
                if let Some(parsed) = &parsed
                    && parsed.public_text() != held.public_text()
                {
                    return Err(KeySetError::Mismatch(id.clone()));
                }
                // The rule of `set_state`: the signing key cannot be retired.
                if self.signing_id() == Some(id) && matches!(record.state, KeyState::Retired { .. })
                {
                    return Err(key_err(id, KeyError::SigningKey(id.clone())));
                }
                let next = held_state.then(record.state).map_err(|e| key_err(id, e))?;
                if next != held_state {
                    moves.push((id, record.state));
                }
            } else if let Some(key) = parsed {
                let selector = key.selector();
                if let Some(existing) = self.id_of_selector(&selector) {
                    return Err(key_err(
                        id,
                        KeyError::Collision {
                            existing: existing.clone(),
                            new: id.clone(),
                        },
                    ));
                }
                if !new_selectors.insert(selector) {
                    let existing = imports
                        .iter()
                        .find(|(k, _)| k.selector() == key.selector())
                        .map_or_else(|| id.clone(), |(k, _)| k.id().clone());
                    return Err(key_err(
                        id,
                        KeyError::Collision {
                            existing,
                            new: id.clone(),
                        },
                    ));
                }
                if let Some(text) = key.public_text() {
                    if let Some(existing) = known.get(&text) {
                        return Err(KeySetError::SameKey {
                            existing: existing.clone(),
                            new: id.clone(),
                        });
                    }
                    known.insert(text, id.clone());
                }
                imports.push((key, record.state));
            } else {
                not_applied.push(id.clone());
            }
        }
        // Every check above is the one these calls make: none fails now.
        for (id, state) in moves {
            self.set_state(id, state).map_err(|e| key_err(id, e))?;
        }
        for (key, state) in imports {
            let id = key.id().clone();
            self.insert_with_state(key, state)
                .map_err(|e| key_err(&id, e))?;
        }
        Ok(not_applied)
    }

    /// A verifier's keyring of a key-set document of `format`: every key
    /// imported verify-only from its public text, in its listed state.
    ///
    /// # Errors
    /// [`KeySetError::NoPublicKey`] when a record has no public text (a
    /// shared secret), and the errors of [`Keyring::apply_document`].
    pub fn from_document(doc: &KeySetDocument, format: Format) -> Result<Self, KeySetError>
    where
        K: PublicKeyText,
    {
        if let Some(record) = doc.keys.iter().find(|r| r.public.is_none()) {
            return Err(KeySetError::NoPublicKey(record.id.clone()));
        }
        let mut ring = Self::new();
        ring.apply_document(doc, format)?;
        Ok(ring)
    }
}

#[cfg(test)]
#[cfg(feature = "json")]
mod tests {
    use std::fmt;

    use super::*;

    const FORMAT: Format = Format::new("test-v1");

    /// A test key: public text `pub:<tag>`, selected by its tag; a key with
    /// `secret` can sign, one without only verifies. Tags 1000 and above are
    /// shared secrets, with no public half.
    struct Key {
        id: KeyId,
        tag: u32,
        secret: Option<[u8; 4]>,
    }

    impl fmt::Debug for Key {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Key")
                .field("id", &self.id)
                .field("tag", &self.tag)
                .finish_non_exhaustive()
        }
    }

    impl KeyMaterial for Key {
        type Selector = u32;
        type Signer = [u8; 4];
        type Verifier = Self;

        fn id(&self) -> &KeyId {
            &self.id
        }

        fn selector(&self) -> u32 {
            self.tag
        }

        fn signer(&self) -> Option<&[u8; 4]> {
            self.secret.as_ref()
        }

        fn verifier(&self) -> &Self {
            self
        }
    }

    impl PublicKeyText for Key {
        fn public_text(&self) -> Option<String> {
            (self.tag < 1000).then(|| format!("pub:{}", self.tag))
        }

        fn from_public_text(id: &KeyId, text: &str) -> Result<Self, KeyError> {
            let tag: u32 = text
                .strip_prefix("pub:")
                .and_then(|t| t.parse().ok())
                .ok_or(KeyError::Encoding("not pub:<tag>"))?;
            if tag >= 1000 {
                return Err(NO_PUBLIC_HALF);
            }
            Ok(Self {
                id: id.clone(),
                tag,
                secret: None,
            })
        }
    }

    fn key(id: &str, tag: u32) -> Key {
        Key {
            id: kid(id),
            tag,
            secret: Some(tag.to_be_bytes()),
        }
    }

    fn kid(id: &str) -> KeyId {
        KeyId::new(id).unwrap()
    }

    /// An issuer's ring: k0 compromised, k1 retired at 100, k2 active and signing.
    fn issuer() -> Keyring<Key> {
        let mut ring =
            Keyring::<Key>::from_keys([key("k2", 2), key("k0", 0), key("k1", 1)]).unwrap();
        ring.compromise(&kid("k0"), 50).unwrap();
        ring.retire(&kid("k1"), 100).unwrap();
        assert_eq!(ring.signing_id(), Some(&kid("k2")));
        ring
    }

    fn refused(text: &str) -> KeySetError {
        KeySetDocument::from_json(text).unwrap_err()
    }

    fn doc_json(keys: &str) -> String {
        format!(r#"{{"version":1,"format":"test-v1","keys":[{keys}]}}"#)
    }

    #[test]
    fn round_trip() {
        let ring = issuer();
        let doc = ring.to_document(FORMAT);
        assert_eq!(doc.version(), 1);
        assert_eq!(doc.signing(), Some(&kid("k2")));
        let json = doc.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "version": 1,
                "format": "test-v1",
                "signing": "k2",
                "keys": [
                    {"id": "k0", "status": "compromised", "at": 50, "public": "pub:0"},
                    {"id": "k1", "status": "retired", "at": 100, "public": "pub:1"},
                    {"id": "k2", "status": "active", "public": "pub:2"}
                ]
            })
        );
        let back = KeySetDocument::from_json(&json).unwrap();
        assert_eq!(back, doc);

        let verifier = Keyring::<Key>::from_document(&back, FORMAT).unwrap();
        assert_eq!(verifier.len(), 3);
        assert_eq!(verifier.signing_id(), None);
        assert_eq!(
            verifier.state(&kid("k0")),
            Some(KeyState::Compromised { at: 50 })
        );
        assert_eq!(
            verifier.state(&kid("k1")),
            Some(KeyState::Retired { at: 100 })
        );
        assert_eq!(verifier.state(&kid("k2")), Some(KeyState::Active));
        assert_eq!(
            verifier.for_verifying(&0).unwrap_err(),
            KeyError::Compromised(kid("k0"))
        );
        assert_eq!(
            verifier.for_signing(&kid("k2")).unwrap_err(),
            KeyError::VerifyOnly(kid("k2"))
        );
        // The verifier's own document is the issuer's but for the signing key.
        let again = verifier.to_document(FORMAT);
        assert_eq!(again.keys(), doc.keys());
        assert_eq!(again.signing(), None);
        // Applying the same document again changes nothing.
        let mut verifier = verifier;
        assert_eq!(verifier.apply_document(&back, FORMAT).unwrap(), vec![]);
        assert_eq!(verifier.to_document(FORMAT), again);
    }

    #[test]
    fn shared_secrets_are_listed_without_public_text() {
        let mut ring = Keyring::<Key>::from_keys([key("s1", 1001), key("s2", 1002)]).unwrap();
        ring.switch_signing(&kid("s2")).unwrap();
        ring.compromise(&kid("s1"), 7).unwrap();
        let json = ring.to_document(FORMAT).to_json();
        assert!(!json.contains("public"), "{json}");
        let doc = KeySetDocument::from_json(&json).unwrap();
        assert_eq!(
            Keyring::<Key>::from_document(&doc, FORMAT).unwrap_err(),
            KeySetError::NoPublicKey(kid("s1"))
        );
        // A host holding s2 only: s1 is reported as not applied.
        let mut other = Keyring::<Key>::single(key("s2", 1002));
        assert_eq!(other.apply_document(&doc, FORMAT).unwrap(), vec![kid("s1")]);
        assert_eq!(other.len(), 1);
        assert_eq!(other.state(&kid("s2")), Some(KeyState::Active));
    }

    #[test]
    fn malformed_documents_are_refused() {
        // Too large.
        let big = format!("{}{}", doc_json(""), " ".repeat(KeySetDocument::MAX_LEN));
        assert!(matches!(
            refused(&big),
            KeySetError::TooLarge { max, .. } if max == 1 << 20
        ));
        // Malformed JSON, with serde_json's line and column.
        let KeySetError::Json(message) = refused("{\"version\":1,\n\"format\":") else {
            panic!("expected a JSON error");
        };
        assert!(message.contains("line 2"), "{message}");
        // Unknown fields, at both levels.
        let KeySetError::Json(message) =
            refused(r#"{"version":1,"format":"test-v1","keys":[],"extra":1}"#)
        else {
            panic!("expected a JSON error");
        };
        assert!(message.contains("unknown field `extra`"), "{message}");
        let KeySetError::Json(message) =
            refused(&doc_json(r#"{"id":"k","status":"active","secret":"x"}"#))
        else {
            panic!("expected a JSON error");
        };
        assert!(message.contains("unknown field `secret`"), "{message}");
        // Missing fields, unknown status, bad key id or format tag.
        for bad in [
            r#"{"version":1,"keys":[]}"#.to_owned(),
            r#"{"version":1,"format":"test-v1"}"#.to_owned(),
            doc_json(r#"{"id":"k","status":"revoked"}"#),
            doc_json(r#"{"status":"active"}"#),
            doc_json(r#"{"id":"","status":"active"}"#),
            r#"{"version":1,"format":"Not A Tag","keys":[]}"#.to_owned(),
            r#"{"format":"test-v1","keys":[]}"#.to_owned(),
            doc_json(r#"{"id":"k","status":"retired","at":-1}"#),
        ] {
            assert!(matches!(refused(&bad), KeySetError::Json(_)), "{bad}");
        }
        // Another version, even with fields it might add.
        assert_eq!(
            refused(r#"{"version":2,"format":"test-v1","keys":[],"new":true}"#),
            KeySetError::Version(2)
        );
        assert_eq!(
            refused(r#"{"version":0,"format":"test-v1","keys":[]}"#),
            KeySetError::Version(0)
        );
        // Duplicate ids.
        assert_eq!(
            refused(&doc_json(
                r#"{"id":"k","status":"active"},{"id":"k","status":"retired","at":1}"#
            )),
            KeySetError::DuplicateId(kid("k"))
        );
        // `at` required for retired and compromised, refused for active.
        for status in ["retired", "compromised"] {
            assert_eq!(
                refused(&doc_json(&format!(r#"{{"id":"k","status":"{status}"}}"#))),
                KeySetError::MissingTime(kid("k"))
            );
        }
        assert_eq!(
            refused(&doc_json(r#"{"id":"k","status":"active","at":5}"#)),
            KeySetError::UnexpectedTime(kid("k"))
        );
        // The signing key must be listed, and active.
        assert_eq!(
            refused(r#"{"version":1,"format":"test-v1","signing":"z","keys":[]}"#),
            KeySetError::SigningNotListed(kid("z"))
        );
        assert_eq!(
            refused(
                r#"{"version":1,"format":"test-v1","signing":"k","keys":[{"id":"k","status":"retired","at":3}]}"#
            ),
            KeySetError::SigningNotActive(kid("k"))
        );
        // Too many keys (a document within 1 MiB cannot list that many).
        let many = (0..=KeySetDocument::MAX_KEYS)
            .map(|i| KeyRecord {
                id: kid(&format!("k{i}")),
                state: KeyState::Active,
                public: None,
            })
            .collect();
        assert_eq!(
            KeySetDocument::new(FORMAT, None, many).unwrap_err(),
            KeySetError::TooManyKeys {
                count: 100_001,
                max: 100_000
            }
        );
        // An accepted minimal document.
        let doc = KeySetDocument::from_json(&doc_json("")).unwrap();
        assert!(doc.keys().is_empty() && doc.signing().is_none());
    }

    #[test]
    fn a_document_of_another_format_is_refused() {
        let doc = issuer().to_document(Format::new("other-v1"));
        let mut ring = Keyring::<Key>::new();
        assert_eq!(
            ring.apply_document(&doc, FORMAT).unwrap_err(),
            KeySetError::WrongFormat {
                expected: FORMAT,
                found: Format::new("other-v1")
            }
        );
        assert!(ring.is_empty());
    }

    /// Applies `keys` (JSON records) to the issuer's ring and checks that a
    /// refusal leaves it unchanged.
    fn apply_refused(keys: &str) -> KeySetError {
        let mut ring = issuer();
        let before = ring.to_document(FORMAT);
        let doc = KeySetDocument::from_json(&doc_json(keys)).unwrap();
        let err = ring.apply_document(&doc, FORMAT).unwrap_err();
        assert_eq!(ring.to_document(FORMAT), before, "{err}");
        assert_eq!(ring.signing_id(), Some(&kid("k2")));
        err
    }

    #[test]
    fn regressions_mismatches_and_collisions_are_refused_and_change_nothing() {
        // Each document first lists a new key, which is not imported either.
        let prefix = r#"{"id":"new","status":"active","public":"pub:9"},"#;
        let regression = |from, to| KeySetError::Key {
            id: kid(match from {
                KeyState::Compromised { .. } => "k0",
                _ => "k1",
            }),
            source: KeyError::StateRegression { from, to },
        };
        assert_eq!(
            apply_refused(&format!(r#"{prefix}{{"id":"k0","status":"active"}}"#)),
            regression(KeyState::Compromised { at: 50 }, KeyState::Active)
        );
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"k0","status":"retired","at":1}}"#
            )),
            regression(
                KeyState::Compromised { at: 50 },
                KeyState::Retired { at: 1 }
            )
        );
        assert_eq!(
            apply_refused(&format!(r#"{prefix}{{"id":"k1","status":"active"}}"#)),
            regression(KeyState::Retired { at: 100 }, KeyState::Active)
        );
        // A later retirement would give k1 back power.
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"k1","status":"retired","at":101}}"#
            )),
            regression(KeyState::Retired { at: 100 }, KeyState::Retired { at: 101 })
        );
        // The signing key cannot be retired.
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"k2","status":"retired","at":1}}"#
            )),
            KeySetError::Key {
                id: kid("k2"),
                source: KeyError::SigningKey(kid("k2"))
            }
        );
        // Another public key under a held id.
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"k1","status":"compromised","at":1,"public":"pub:7"}}"#
            )),
            KeySetError::Mismatch(kid("k1"))
        );
        // Public text that is not a key.
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"x","status":"active","public":"nope"}}"#
            )),
            KeySetError::Key {
                id: kid("x"),
                source: KeyError::Encoding("not pub:<tag>")
            }
        );
        // A new key named in tokens like a held key, or like another new key.
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"x","status":"active","public":"pub:2"}}"#
            )),
            KeySetError::Key {
                id: kid("x"),
                source: KeyError::Collision {
                    existing: kid("k2"),
                    new: kid("x")
                }
            }
        );
        assert_eq!(
            apply_refused(&format!(
                r#"{prefix}{{"id":"x","status":"active","public":"pub:9"}}"#
            )),
            KeySetError::Key {
                id: kid("x"),
                source: KeyError::Collision {
                    existing: kid("new"),
                    new: kid("x")
                }
            }
        );
    }

    #[test]
    fn one_public_key_under_two_ids_is_refused() {
        // Tags 0..1000 select by tag, so pub:N under two ids already collides;
        // a key type whose selector is its id shows the check of its own.
        #[derive(Debug)]
        struct ById(KeyId, u32);
        impl KeyMaterial for ById {
            type Selector = KeyId;
            type Signer = Self;
            type Verifier = Self;
            fn id(&self) -> &KeyId {
                &self.0
            }
            fn selector(&self) -> KeyId {
                self.0.clone()
            }
            fn signer(&self) -> Option<&Self> {
                None
            }
            fn verifier(&self) -> &Self {
                self
            }
        }
        impl PublicKeyText for ById {
            fn public_text(&self) -> Option<String> {
                Some(format!("pub:{}", self.1))
            }
            fn from_public_text(id: &KeyId, text: &str) -> Result<Self, KeyError> {
                Key::from_public_text(id, text).map(|k| Self(id.clone(), k.tag))
            }
        }
        let mut ring = Keyring::<ById>::single(ById(kid("a"), 1));
        let doc = KeySetDocument::from_json(&doc_json(
            r#"{"id":"b","status":"active","public":"pub:2"},{"id":"c","status":"active","public":"pub:1"}"#,
        ))
        .unwrap();
        assert_eq!(
            ring.apply_document(&doc, FORMAT).unwrap_err(),
            KeySetError::SameKey {
                existing: kid("a"),
                new: kid("c")
            }
        );
        assert_eq!(ring.len(), 1);
        let doc = KeySetDocument::from_json(&doc_json(
            r#"{"id":"b","status":"active","public":"pub:2"},{"id":"c","status":"active","public":"pub:2"}"#,
        ))
        .unwrap();
        assert_eq!(
            Keyring::<ById>::from_document(&doc, FORMAT).unwrap_err(),
            KeySetError::SameKey {
                existing: kid("b"),
                new: kid("c")
            }
        );
    }

    #[test]
    fn states_move_forward_and_new_keys_are_imported() {
        let mut ring = issuer();
        let doc = KeySetDocument::from_json(&doc_json(
            r#"{"id":"k0","status":"compromised","at":99},
               {"id":"k1","status":"retired","at":80,"public":"pub:1"},
               {"id":"k2","status":"active","public":"pub:2"},
               {"id":"k3","status":"retired","at":60,"public":"pub:3"},
               {"id":"s","status":"compromised","at":70}"#,
        ))
        .unwrap();
        assert_eq!(ring.apply_document(&doc, FORMAT).unwrap(), vec![kid("s")]);
        // A second compromise keeps the first time; a retirement moves earlier.
        assert_eq!(
            ring.state(&kid("k0")),
            Some(KeyState::Compromised { at: 50 })
        );
        assert_eq!(ring.state(&kid("k1")), Some(KeyState::Retired { at: 80 }));
        assert_eq!(ring.state(&kid("k2")), Some(KeyState::Active));
        assert_eq!(ring.state(&kid("k3")), Some(KeyState::Retired { at: 60 }));
        assert!(ring.get(&kid("k3")).unwrap().secret.is_none());
        assert_eq!(ring.signing_id(), Some(&kid("k2")));

        // Compromising the signing key stops signing.
        let doc =
            KeySetDocument::from_json(&doc_json(r#"{"id":"k2","status":"compromised","at":120}"#))
                .unwrap();
        assert_eq!(ring.apply_document(&doc, FORMAT).unwrap(), vec![]);
        assert_eq!(ring.signing_id(), None);
        assert_eq!(
            ring.for_verifying(&2).unwrap_err(),
            KeyError::Compromised(kid("k2"))
        );
    }
}
