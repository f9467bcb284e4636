//! The one keyring model of every provider: key id → key, selection by what a token names (always a map lookup), each key with its lifecycle state (DESIGN.md §9).
//!
//! A [`Keyring<K>`] holds keys of one kind `K` ([`KeyMaterial`]). Every key has
//! a captoken [`KeyId`] and a *selector*: what a token of the format names its
//! key by. For HMAC and macaroons that is the key id itself; PASETO tokens name
//! a PASERK id (`k4.pid.…`, `k4.lid.…`), Biscuit tokens a 32-bit root key id
//! derived from the key id. A keyring refuses a second key of the same key id
//! and a second key of the same selector, at construction and on insertion, so
//! that what a token names selects exactly one key.
//!
//! Selection is a hash-map lookup, whatever the number of keys; no key other
//! than the one selected is ever tried. The token's selector is only a hint:
//! selection applies the key's [`KeyState`] ([`Keyring::for_verifying`],
//! [`Keyring::for_signing`]). Only [`KeyState::Active`] exists so far; the
//! *retired at T* and *compromised at T* states of DESIGN.md §9 are to be added
//! to the enum and applied in `Entry::admit`, the one place every selection
//! goes through.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::hash::Hash;

use crate::capability::KeyId;
use crate::error::KeyError;

/// A key a [`Keyring`] can hold.
///
/// `Debug` of an implementation must never show secret material.
pub trait KeyMaterial {
    /// What tokens name this kind of key by: the key id, a PASERK id, a root key id.
    type Selector: Clone + Eq + Hash;
    /// What signs (or MACs, or encrypts): the key itself for a shared secret,
    /// the secret half for a key pair.
    type Signer: ?Sized;
    /// What verifies (or decrypts): the key itself for a shared secret, the
    /// public half for a key pair.
    type Verifier: ?Sized;

    /// The captoken key id, unique in a keyring.
    fn id(&self) -> &KeyId;

    /// The selector, unique in a keyring. Must not change while the key is held.
    fn selector(&self) -> Self::Selector;

    /// The signing half, or `None` when this keyring only verifies with the key.
    fn signer(&self) -> Option<&Self::Signer>;

    /// The verifying half.
    fn verifier(&self) -> &Self::Verifier;
}

/// A shared secret that tokens name by its key id, and that signs (MACs) and
/// verifies as itself: implementing this one method makes it [`KeyMaterial`].
pub trait SharedSecret {
    /// The captoken key id.
    fn key_id(&self) -> &KeyId;
}

impl<T: SharedSecret> KeyMaterial for T {
    type Selector = KeyId;
    type Signer = Self;
    type Verifier = Self;

    fn id(&self) -> &KeyId {
        self.key_id()
    }

    fn selector(&self) -> KeyId {
        self.key_id().clone()
    }

    fn signer(&self) -> Option<&Self> {
        Some(self)
    }

    fn verifier(&self) -> &Self {
        self
    }
}

/// Where a key is in its lifecycle (DESIGN.md §9).
///
/// Only [`KeyState::Active`] exists today. *Retired at T* (verifies only
/// tokens whose signed `issued_at` is before T, never signs) and *compromised
/// at T* (verifies nothing) are to come; the enum is `#[non_exhaustive]` so
/// that adding them breaks no user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyState {
    /// Signs and verifies.
    #[default]
    Active,
}

/// What a key is selected for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Usage {
    Sign,
    Verify,
}

/// A key and its state.
#[derive(Debug)]
struct Entry<K> {
    key: K,
    state: KeyState,
}

impl<K: KeyMaterial> Entry<K> {
    /// Applies the key's state to a selection: the one place it is decided
    /// whether a selected key may be used. Every selection goes through here.
    fn admit(&self, usage: Usage) -> Result<&K, KeyError> {
        match (self.state, usage) {
            (KeyState::Active, Usage::Sign | Usage::Verify) => Ok(&self.key),
        }
    }
}

/// The keys a provider signs and verifies with, by key id and by what tokens
/// name them by. See the [module documentation](crate::keyring).
///
/// `Debug` shows each key's `Debug` (which redacts secrets) and state, in key-id order.
pub struct Keyring<K: KeyMaterial> {
    by_selector: HashMap<K::Selector, Entry<K>>,
    ids: HashMap<KeyId, K::Selector>,
}

impl<K: KeyMaterial> Default for Keyring<K> {
    fn default() -> Self {
        Self {
            by_selector: HashMap::new(),
            ids: HashMap::new(),
        }
    }
}

impl<K: KeyMaterial> Keyring<K> {
    /// An empty keyring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring of one active key (which cannot clash with another).
    #[must_use]
    pub fn single(key: impl Into<K>) -> Self {
        let key = key.into();
        let mut ids = HashMap::with_capacity(1);
        ids.insert(key.id().clone(), key.selector());
        let mut by_selector = HashMap::with_capacity(1);
        by_selector.insert(
            key.selector(),
            Entry {
                key,
                state: KeyState::Active,
            },
        );
        Self { by_selector, ids }
    }

    /// A keyring of these keys, all active.
    ///
    /// # Errors
    /// [`KeyError::DuplicateId`] when two keys have one key id,
    /// [`KeyError::Collision`] when two keys have one selector (one PASETO key
    /// under two key ids, two key ids deriving one Biscuit root key id).
    pub fn from_keys<I>(keys: I) -> Result<Self, KeyError>
    where
        I: IntoIterator,
        I::Item: Into<K>,
    {
        let keys = keys.into_iter();
        let mut ring = Self {
            by_selector: HashMap::with_capacity(keys.size_hint().0),
            ids: HashMap::with_capacity(keys.size_hint().0),
        };
        for key in keys {
            ring.insert(key)?;
        }
        Ok(ring)
    }

    /// Adds an active key. A keyring never replaces a key.
    ///
    /// # Errors
    /// [`KeyError::DuplicateId`] when the keyring holds a key of this key id,
    /// [`KeyError::Collision`] when it holds another key of the same selector;
    /// the keyring is unchanged.
    pub fn insert(&mut self, key: impl Into<K>) -> Result<(), KeyError> {
        let key = key.into();
        if self.ids.contains_key(key.id()) {
            return Err(KeyError::DuplicateId(key.id().clone()));
        }
        let selector = key.selector();
        match self.by_selector.entry(selector.clone()) {
            MapEntry::Occupied(held) => Err(KeyError::Collision {
                existing: held.get().key.id().clone(),
                new: key.id().clone(),
            }),
            MapEntry::Vacant(slot) => {
                self.ids.insert(key.id().clone(), selector);
                slot.insert(Entry {
                    key,
                    state: KeyState::Active,
                });
                Ok(())
            }
        }
    }

    /// The key a token naming `selector` is verified with, if its state allows
    /// verification. One map lookup; no other key is tried.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] when no key has this selector.
    pub fn for_verifying<Q>(&self, selector: &Q) -> Result<&K::Verifier, KeyError>
    where
        K::Selector: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.by_selector.get(selector).ok_or(KeyError::NotFound)?;
        entry.admit(Usage::Verify).map(K::verifier)
    }

    /// The key that signs as issuer `id`, if the keyring holds its secret and
    /// its state allows signing. Two map lookups.
    ///
    /// # Errors
    /// [`KeyError::UnknownId`] when no key has this id, [`KeyError::VerifyOnly`]
    /// when the keyring holds only the key's public half.
    pub fn for_signing(&self, id: &KeyId) -> Result<&K::Signer, KeyError> {
        let entry = self
            .ids
            .get(id)
            .and_then(|selector| self.by_selector.get(selector))
            .ok_or_else(|| KeyError::UnknownId(id.clone()))?;
        entry
            .admit(Usage::Sign)?
            .signer()
            .ok_or_else(|| KeyError::VerifyOnly(id.clone()))
    }

    /// The key of this id, whatever its state: to inspect or export it, never
    /// to sign or verify with (use [`Keyring::for_signing`] and
    /// [`Keyring::for_verifying`], which apply the state).
    #[must_use]
    pub fn get(&self, id: &KeyId) -> Option<&K> {
        let selector = self.ids.get(id)?;
        self.by_selector.get(selector).map(|e| &e.key)
    }

    /// The state of the key of this id.
    #[must_use]
    pub fn state(&self, id: &KeyId) -> Option<KeyState> {
        let selector = self.ids.get(id)?;
        self.by_selector.get(selector).map(|e| e.state)
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the keyring holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The key ids, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.ids.keys()
    }
}

impl<K: KeyMaterial + fmt::Debug> fmt::Debug for Keyring<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<&Entry<K>> = self.by_selector.values().collect();
        entries.sort_by(|a, b| a.key.id().cmp(b.key.id()));
        f.debug_struct("Keyring").field("keys", &entries).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test key: a shared "secret" selected by a number, as Biscuit keys are.
    struct Key {
        id: KeyId,
        tag: u32,
        secret: [u8; 4],
        public_only: bool,
    }

    impl fmt::Debug for Key {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Key")
                .field("id", &self.id)
                .field("tag", &self.tag)
                .field("secret", &"<redacted>")
                .finish()
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
            (!self.public_only).then_some(&self.secret)
        }

        fn verifier(&self) -> &Self {
            self
        }
    }

    fn key(id: &str, tag: u32) -> Key {
        Key {
            id: KeyId::new(id).unwrap(),
            tag,
            secret: tag.to_be_bytes(),
            public_only: false,
        }
    }

    fn kid(id: &str) -> KeyId {
        KeyId::new(id).unwrap()
    }

    #[test]
    fn duplicate_ids_and_selectors_are_refused_at_construction() {
        assert_eq!(
            Keyring::<Key>::from_keys([key("a", 1), key("a", 2)]).unwrap_err(),
            KeyError::DuplicateId(kid("a"))
        );
        assert_eq!(
            Keyring::<Key>::from_keys([key("a", 1), key("b", 1)]).unwrap_err(),
            KeyError::Collision {
                existing: kid("a"),
                new: kid("b")
            }
        );
        let mut ring = Keyring::<Key>::single(key("a", 1));
        assert_eq!(
            ring.insert(key("a", 9)).unwrap_err(),
            KeyError::DuplicateId(kid("a"))
        );
        assert_eq!(
            ring.insert(key("c", 1)).unwrap_err(),
            KeyError::Collision {
                existing: kid("a"),
                new: kid("c")
            }
        );
        // A refused key leaves the keyring as it was.
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.for_verifying(&1).unwrap().id, kid("a"));
        assert!(ring.for_verifying(&9).is_err());
        assert!(ring.get(&kid("c")).is_none());
        ring.insert(key("c", 3)).unwrap();
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn unknown_keys_are_not_selected() {
        let ring = Keyring::<Key>::from_keys([key("a", 1), key("b", 2)]).unwrap();
        assert_eq!(ring.for_verifying(&3).unwrap_err(), KeyError::NotFound);
        assert_eq!(
            ring.for_signing(&kid("z")).unwrap_err(),
            KeyError::UnknownId(kid("z"))
        );
        assert!(ring.get(&kid("z")).is_none() && ring.state(&kid("z")).is_none());
        let empty = Keyring::<Key>::new();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.for_verifying(&1).unwrap_err(), KeyError::NotFound);
    }

    #[test]
    fn signing_needs_the_secret_half() {
        let mut public = key("p", 7);
        public.public_only = true;
        let ring = Keyring::<Key>::from_keys([public, key("s", 8)]).unwrap();
        assert_eq!(ring.for_verifying(&7).unwrap().id, kid("p"));
        assert_eq!(
            ring.for_signing(&kid("p")).unwrap_err(),
            KeyError::VerifyOnly(kid("p"))
        );
        assert_eq!(ring.for_signing(&kid("s")).unwrap(), &8u32.to_be_bytes());
        assert_eq!(ring.state(&kid("s")), Some(KeyState::Active));
    }

    #[test]
    fn a_thousand_keys_select_by_lookup() {
        let ring = Keyring::<Key>::from_keys(
            (0..1000u32).map(|i| key(&format!("k{i}"), i.wrapping_mul(2_654_435_761))),
        )
        .unwrap();
        assert_eq!(ring.len(), 1000);
        let mut ids: Vec<&KeyId> = ring.ids().collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1000);
        for i in 0..1000u32 {
            let tag = i.wrapping_mul(2_654_435_761);
            let id = kid(&format!("k{i}"));
            assert_eq!(ring.for_verifying(&tag).unwrap().id, id);
            assert_eq!(ring.for_signing(&id).unwrap(), &tag.to_be_bytes());
            assert_eq!(ring.get(&id).unwrap().tag, tag);
        }
        assert_eq!(
            ring.for_verifying(&1000u32.wrapping_mul(2_654_435_761))
                .unwrap_err(),
            KeyError::NotFound
        );
    }

    #[test]
    fn selection_borrows_the_selector() {
        struct Named(KeyId, String);
        impl KeyMaterial for Named {
            type Selector = String;
            type Signer = Self;
            type Verifier = Self;
            fn id(&self) -> &KeyId {
                &self.0
            }
            fn selector(&self) -> String {
                self.1.clone()
            }
            fn signer(&self) -> Option<&Self> {
                Some(self)
            }
            fn verifier(&self) -> &Self {
                self
            }
        }
        let ring = Keyring::<Named>::single(Named(kid("a"), "k4.pid.x".to_owned()));
        assert_eq!(ring.for_verifying("k4.pid.x").unwrap().0, kid("a"));
        assert!(ring.for_verifying("k4.pid.y").is_err());
    }

    #[test]
    fn debug_shows_ids_and_states_not_secrets() {
        let ring = Keyring::<Key>::from_keys([key("b", 0xdead_beef), key("a", 1)]).unwrap();
        let shown = format!("{ring:?}");
        assert!(
            shown.contains("redacted") && shown.contains("Active"),
            "{shown}"
        );
        assert!(
            shown.find("\"a\"").unwrap() < shown.find("\"b\"").unwrap(),
            "{shown}"
        );
        // The secret of "b" is its tag's bytes: 222, 173, 190, 239.
        assert!(!shown.contains("222"), "{shown}");
    }
}
