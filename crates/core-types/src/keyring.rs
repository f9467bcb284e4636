//! The one keyring model of every provider: key id → key, selection by what a token names (always a map lookup), each key with its lifecycle state, and exactly one signing key (DESIGN.md §9).
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
//! selection applies the key's [`KeyState`]. A compromised key is never
//! selected ([`Keyring::for_verifying`]); a retired key is, and the
//! [`Selected`] key admits only what was signed before its retirement, judged
//! by the token's signed `issued_at` once its signature has verified.
//!
//! Exactly one key signs at a time ([`Keyring::signing_id`]): the first key
//! added that can sign, until [`Keyring::switch_signing`]. A rotation is
//! [`Keyring::insert`] (publish, verify only) → [`Keyring::switch_signing`] →
//! [`Keyring::retire`] the old key at T → [`Keyring::remove`] it after the
//! longest token lifetime. States only ever take power away ([`KeyState::then`]).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

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

/// Where a key is in its lifecycle (DESIGN.md §9): the one state model of
/// issuer keyrings and holder-key directories.
///
/// In JSON: `{"state":"active"}`, `{"state":"retired","at":T}`,
/// `{"state":"compromised","at":T}` (T in Unix seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum KeyState {
    /// Signs and verifies.
    #[default]
    Active,
    /// Never signs again; verifies only what was signed before `at`, judged by
    /// the signed issue time (`issued_at` of a token, the signing time of a
    /// proof).
    Retired {
        /// The retirement time, Unix seconds: `issued_at < at` verifies.
        at: u64,
    },
    /// Verifies nothing and signs nothing, whatever date a token or proof
    /// claims: a thief can backdate. `at` is for the record.
    Compromised {
        /// When the compromise is believed to have happened, Unix seconds.
        at: u64,
    },
}

impl KeyState {
    /// May a key in this state sign?
    #[must_use]
    pub fn signs(&self) -> bool {
        matches!(self, Self::Active)
    }

    /// Does a key in this state verify what it signed at `issued_at`?
    #[must_use]
    pub fn verifies(&self, issued_at: u64) -> bool {
        match *self {
            Self::Active => true,
            Self::Retired { at } => issued_at < at,
            Self::Compromised { .. } => false,
        }
    }

    /// Applies this state, of key `id`, to what the key signed at `issued_at`.
    ///
    /// # Errors
    /// [`KeyError::Retired`] when it retired at or before `issued_at`,
    /// [`KeyError::Compromised`] when it is compromised.
    pub fn admit(&self, id: &KeyId, issued_at: u64) -> Result<(), KeyError> {
        match *self {
            Self::Active => Ok(()),
            Self::Retired { at } if issued_at < at => Ok(()),
            Self::Retired { at } => Err(KeyError::Retired { id: id.clone(), at }),
            Self::Compromised { .. } => Err(KeyError::Compromised(id.clone())),
        }
    }

    /// The state after moving to `next`, which may only take power away:
    /// active → retired → compromised. Retiring again may bring the time
    /// forward, never push it back; a second compromise keeps the first time;
    /// asking for the present state is a no-op.
    ///
    /// # Errors
    /// [`KeyError::StateRegression`] for a move that would give a key back
    /// power it lost (back to active, out of compromise, a later retirement).
    pub fn then(self, next: Self) -> Result<Self, KeyError> {
        match (self, next) {
            (Self::Active, n) => Ok(n),
            (Self::Retired { at }, Self::Retired { at: t }) if t <= at => Ok(next),
            (Self::Retired { .. }, Self::Compromised { .. }) => Ok(next),
            (Self::Compromised { .. }, Self::Compromised { .. }) => Ok(self),
            (from, to) => Err(KeyError::StateRegression { from, to }),
        }
    }
}

/// A key and its state.
#[derive(Debug)]
struct Entry<K> {
    key: K,
    state: KeyState,
}

/// A key selected to verify a token, before the token's signed issue time is
/// known: check that with [`Selected::admit`] once the signature has verified.
///
/// A compromised key is never selected; a retired key is, and
/// [`Selected::admit`] refuses what it signed at or after its retirement.
#[derive(Debug)]
#[must_use = "a selected key must admit the token's issue time"]
pub struct Selected<'a, K: KeyMaterial> {
    key: &'a K,
    state: KeyState,
}

impl<'a, K: KeyMaterial> Selected<'a, K> {
    /// What verifies the token's signature or MAC.
    #[must_use]
    pub fn verifier(&self) -> &'a K::Verifier {
        self.key.verifier()
    }

    /// The key selected.
    #[must_use]
    pub fn key(&self) -> &'a K {
        self.key
    }

    /// The selected key's id.
    #[must_use]
    pub fn id(&self) -> &'a KeyId {
        self.key.id()
    }

    /// The key's state when it was selected.
    #[must_use]
    pub fn state(&self) -> KeyState {
        self.state
    }

    /// Applies the key's state to the signed issue time of what it verified.
    ///
    /// # Errors
    /// [`KeyError::Retired`] when the key retired at or before `issued_at`.
    pub fn admit(&self, issued_at: u64) -> Result<(), KeyError> {
        self.state.admit(self.key.id(), issued_at)
    }
}

/// The keys a provider signs and verifies with, by key id and by what tokens
/// name them by, each with its [`KeyState`], and the one key that signs. See
/// the [module documentation](crate::keyring).
///
/// `Debug` shows each key's `Debug` (which redacts secrets) and state, in key-id order.
pub struct Keyring<K: KeyMaterial> {
    by_selector: HashMap<K::Selector, Entry<K>>,
    ids: HashMap<KeyId, K::Selector>,
    signing: Option<KeyId>,
}

impl<K: KeyMaterial> Default for Keyring<K> {
    fn default() -> Self {
        Self {
            by_selector: HashMap::new(),
            ids: HashMap::new(),
            signing: None,
        }
    }
}

impl<K: KeyMaterial> Keyring<K> {
    /// An empty keyring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring of one active key (which cannot clash with another); it
    /// signs if it has a signing half.
    #[must_use]
    pub fn single(key: impl Into<K>) -> Self {
        let mut ring = Self::new();
        // An empty keyring refuses no key.
        let _ = ring.insert(key);
        ring
    }

    /// A keyring of these keys, all active. The first that can sign is the
    /// signing key; the others verify until [`Keyring::switch_signing`].
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
            signing: None,
        };
        for key in keys {
            ring.insert(key)?;
        }
        Ok(ring)
    }

    /// Publishes an active key. It verifies at once; it signs only if the
    /// keyring had no signing key and it has a signing half (otherwise switch
    /// to it with [`Keyring::switch_signing`]). A keyring never replaces a key.
    ///
    /// # Errors
    /// [`KeyError::DuplicateId`] when the keyring holds a key of this key id,
    /// [`KeyError::Collision`] when it holds another key of the same selector;
    /// the keyring is unchanged.
    pub fn insert(&mut self, key: impl Into<K>) -> Result<(), KeyError> {
        self.insert_with_state(key, KeyState::Active)
    }

    /// Adds a key in a given state (for example a retired key kept to verify
    /// older tokens, or a key read from a key-set document). Only an active
    /// key with a signing half can become the signing key.
    ///
    /// # Errors
    /// As [`Keyring::insert`].
    pub fn insert_with_state(
        &mut self,
        key: impl Into<K>,
        state: KeyState,
    ) -> Result<(), KeyError> {
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
                let id = key.id().clone();
                if self.signing.is_none() && state.signs() && key.signer().is_some() {
                    self.signing = Some(id.clone());
                }
                self.ids.insert(id, selector);
                slot.insert(Entry { key, state });
                Ok(())
            }
        }
    }

    fn entry(&self, id: &KeyId) -> Result<&Entry<K>, KeyError> {
        self.ids
            .get(id)
            .and_then(|selector| self.by_selector.get(selector))
            .ok_or_else(|| KeyError::UnknownId(id.clone()))
    }

    fn entry_mut(&mut self, id: &KeyId) -> Result<&mut Entry<K>, KeyError> {
        self.ids
            .get(id)
            .and_then(|selector| self.by_selector.get_mut(selector))
            .ok_or_else(|| KeyError::UnknownId(id.clone()))
    }

    /// Makes key `id` the one signing key: the step "switch signing" of a
    /// rotation. The previous signing key stays active and verifies.
    ///
    /// # Errors
    /// [`KeyError::UnknownId`], [`KeyError::VerifyOnly`] without its signing
    /// half, [`KeyError::CannotSign`] when it is not active.
    pub fn switch_signing(&mut self, id: &KeyId) -> Result<(), KeyError> {
        let entry = self.entry(id)?;
        if !entry.state.signs() {
            return Err(KeyError::CannotSign(id.clone()));
        }
        if entry.key.signer().is_none() {
            return Err(KeyError::VerifyOnly(id.clone()));
        }
        self.signing = Some(id.clone());
        Ok(())
    }

    /// Moves key `id` to `state`, which may only take power away
    /// ([`KeyState::then`]). A compromised signing key stops signing at once
    /// (the keyring then has no signing key); the signing key cannot be
    /// retired: switch signing first.
    ///
    /// # Errors
    /// [`KeyError::UnknownId`], [`KeyError::StateRegression`], or
    /// [`KeyError::SigningKey`] when retiring the signing key.
    pub fn set_state(&mut self, id: &KeyId, state: KeyState) -> Result<(), KeyError> {
        let is_signing = self.signing.as_ref() == Some(id);
        if is_signing && matches!(state, KeyState::Retired { .. }) {
            return Err(KeyError::SigningKey(id.clone()));
        }
        let entry = self.entry_mut(id)?;
        entry.state = entry.state.then(state)?;
        if is_signing && !entry.state.signs() {
            self.signing = None;
        }
        Ok(())
    }

    /// Retires key `id` at `at`: it never signs again and verifies only tokens
    /// signed (by their `issued_at`) before `at`.
    ///
    /// # Errors
    /// As [`Keyring::set_state`].
    pub fn retire(&mut self, id: &KeyId, at: u64) -> Result<(), KeyError> {
        self.set_state(id, KeyState::Retired { at })
    }

    /// Marks key `id` compromised: from now on it verifies and signs nothing.
    ///
    /// # Errors
    /// As [`Keyring::set_state`].
    pub fn compromise(&mut self, id: &KeyId, at: u64) -> Result<(), KeyError> {
        self.set_state(id, KeyState::Compromised { at })
    }

    /// Drops key `id`, the last step of a rotation (after the longest token
    /// lifetime): tokens naming it are then unknown. The signing key cannot be
    /// dropped; a compromised key is better kept, so that its tokens deny as
    /// compromised rather than unknown.
    ///
    /// # Errors
    /// [`KeyError::UnknownId`] or [`KeyError::SigningKey`].
    pub fn remove(&mut self, id: &KeyId) -> Result<K, KeyError> {
        if self.signing.as_ref() == Some(id) {
            return Err(KeyError::SigningKey(id.clone()));
        }
        let selector = self
            .ids
            .remove(id)
            .ok_or_else(|| KeyError::UnknownId(id.clone()))?;
        self.by_selector
            .remove(&selector)
            .map(|e| e.key)
            .ok_or_else(|| KeyError::UnknownId(id.clone()))
    }

    /// The key a token naming `selector` is verified with, unless it is
    /// compromised. One map lookup; no other key is tried. Once the signature
    /// has verified, [`Selected::admit`] the token's signed issue time.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] when no key has this selector,
    /// [`KeyError::Compromised`] when its key is compromised.
    pub fn for_verifying<Q>(&self, selector: &Q) -> Result<Selected<'_, K>, KeyError>
    where
        K::Selector: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.by_selector.get(selector).ok_or(KeyError::NotFound)?;
        if let KeyState::Compromised { .. } = entry.state {
            return Err(KeyError::Compromised(entry.key.id().clone()));
        }
        Ok(Selected {
            key: &entry.key,
            state: entry.state,
        })
    }

    /// The id of the key tokens name by `selector`, whatever its state.
    pub(crate) fn id_of_selector(&self, selector: &K::Selector) -> Option<&KeyId> {
        self.by_selector.get(selector).map(|e| e.key.id())
    }

    /// The signing key's id, if the keyring has one.
    #[must_use]
    pub fn signing_id(&self) -> Option<&KeyId> {
        self.signing.as_ref()
    }

    /// The signing key: its id and signing half.
    ///
    /// # Errors
    /// [`KeyError::NoSigningKey`] when no key signs.
    pub fn signer(&self) -> Result<(&KeyId, &K::Signer), KeyError> {
        let id = self.signing.as_ref().ok_or(KeyError::NoSigningKey)?;
        let entry = self.entry(id)?;
        let signer = entry
            .key
            .signer()
            .ok_or_else(|| KeyError::VerifyOnly(id.clone()))?;
        Ok((entry.key.id(), signer))
    }

    /// The signing half of key `id`, which must be the signing key: a token
    /// that names its issuer is signed by that key or not at all.
    ///
    /// # Errors
    /// [`KeyError::UnknownId`] when no key has this id, [`KeyError::VerifyOnly`]
    /// when the keyring holds only the key's public half,
    /// [`KeyError::CannotSign`] when it is retired or compromised,
    /// [`KeyError::NotSigningKey`] when another key signs.
    pub fn for_signing(&self, id: &KeyId) -> Result<&K::Signer, KeyError> {
        let entry = self.entry(id)?;
        if !entry.state.signs() {
            return Err(KeyError::CannotSign(id.clone()));
        }
        let signer = entry
            .key
            .signer()
            .ok_or_else(|| KeyError::VerifyOnly(id.clone()))?;
        if self.signing.as_ref() != Some(id) {
            return Err(KeyError::NotSigningKey {
                id: id.clone(),
                signing: self.signing.clone(),
            });
        }
        Ok(signer)
    }

    /// The key of this id, whatever its state: to inspect or export it, never
    /// to sign or verify with (use [`Keyring::for_signing`] and
    /// [`Keyring::for_verifying`], which apply the state).
    #[must_use]
    pub fn get(&self, id: &KeyId) -> Option<&K> {
        self.entry(id).ok().map(|e| &e.key)
    }

    /// The state of the key of this id.
    #[must_use]
    pub fn state(&self, id: &KeyId) -> Option<KeyState> {
        self.entry(id).ok().map(|e| e.state)
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

    /// Every key with its state, in key-id order.
    #[must_use]
    pub fn entries(&self) -> Vec<(&K, KeyState)> {
        let mut all: Vec<(&K, KeyState)> = self
            .by_selector
            .values()
            .map(|e| (&e.key, e.state))
            .collect();
        all.sort_by(|a, b| a.0.id().cmp(b.0.id()));
        all
    }
}

impl<K: KeyMaterial + fmt::Debug> fmt::Debug for Keyring<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<&Entry<K>> = self.by_selector.values().collect();
        entries.sort_by(|a, b| a.key.id().cmp(b.key.id()));
        f.debug_struct("Keyring")
            .field("keys", &entries)
            .field("signing", &self.signing)
            .finish()
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
        assert_eq!(ring.for_verifying(&1).unwrap().key().id, kid("a"));
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
        assert_eq!(ring.for_verifying(&7).unwrap().key().id, kid("p"));
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
            assert_eq!(ring.for_verifying(&tag).unwrap().key().id, id);
            assert_eq!(ring.get(&id).unwrap().tag, tag);
        }
        // Exactly one key signs: the first added.
        assert_eq!(ring.signing_id(), Some(&kid("k0")));
        assert_eq!(ring.for_signing(&kid("k0")).unwrap(), &0u32.to_be_bytes());
        assert!(matches!(
            ring.for_signing(&kid("k1")).unwrap_err(),
            KeyError::NotSigningKey { .. }
        ));
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
        assert_eq!(ring.for_verifying("k4.pid.x").unwrap().key().0, kid("a"));
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
