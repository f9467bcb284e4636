//! PASETO v4 keys named by captoken key id and by PASERK id, zeroized on drop and redacted from `Debug`.
//!
//! A token's footer names its key by PASERK id (`k4.pid.…` for an Ed25519 public
//! key, `k4.lid.…` for a shared local key), while its `iss` claim names the
//! captoken [`KeyId`] of the same key. A keyring maps both ways, and refuses to
//! hold one key under two key ids, so that a PASERK id selects exactly one key
//! and one issuer.

use std::collections::BTreeMap;
use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::KeyId;
use pasetors::keys::{
    AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate, SymmetricKey,
};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::version4::V4;
use zeroize::Zeroizing;

/// Why a key cannot be made or added to a keyring.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a usable key: wrong length, an all-zero Ed25519 seed, or
    /// a public half that does not match the seed.
    #[error("invalid key material")]
    Invalid,
    /// The text is not a PASERK of the expected type (`k4.public.`, `k4.secret.`).
    #[error("not a PASERK of the expected type")]
    Paserk,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// The keyring already holds this key under another key id.
    #[error("key already held under key id {0}")]
    Duplicate(KeyId),
}

/// The PASERK id (`k4.pid.…`, `k4.lid.…`) of a key.
fn paserk_id(id: &Id) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; a failure would leave an id no token names.
    let _ = id.fmt(&mut out);
    out
}

/// Ed25519 secret keys are the seed followed by the public key. pasetors derives
/// the key pair from the seed with a function that panics on an all-zero seed,
/// so that seed is refused here first.
fn secret_from_seed_and_public(bytes: &[u8]) -> Result<AsymmetricSecretKey<V4>, KeyError> {
    let seed = bytes.get(..32).ok_or(KeyError::Invalid)?;
    if bytes.len() != 64 || seed.iter().all(|b| *b == 0) {
        return Err(KeyError::Invalid);
    }
    AsymmetricSecretKey::<V4>::from(bytes).map_err(|_| KeyError::Invalid)
}

/// An Ed25519 public key that verifies `v4.public` tokens, with the captoken
/// key id tokens name in `iss` and the PASERK id they name in the footer.
#[derive(Clone)]
pub struct VerifyingKey {
    id: KeyId,
    key: AsymmetricPublicKey<V4>,
    pid: String,
}

impl VerifyingKey {
    fn from_key(id: KeyId, key: AsymmetricPublicKey<V4>) -> Self {
        let pid = paserk_id(&Id::from(&key));
        Self { id, key, pid }
    }

    /// A public key from its 32 bytes.
    ///
    /// Whether the bytes encode a usable curve point is checked at verification,
    /// which denies a token under an unusable key.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] when pasetors refuses the bytes.
    pub fn from_bytes(id: KeyId, bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = AsymmetricPublicKey::<V4>::from(bytes).map_err(|_| KeyError::Invalid)?;
        Ok(Self::from_key(id, key))
    }

    /// A public key from its PASERK, `k4.public.<base64url>`.
    ///
    /// # Errors
    /// [`KeyError::Paserk`] when the text is not a `k4.public` PASERK.
    pub fn from_paserk(id: KeyId, paserk: &str) -> Result<Self, KeyError> {
        let key = AsymmetricPublicKey::<V4>::try_from(paserk).map_err(|_| KeyError::Paserk)?;
        Ok(Self::from_key(id, key))
    }

    /// The captoken key id (the `iss` claim of the tokens this key verifies).
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The PASERK id, `k4.pid.…`, that tokens name in their footer.
    #[must_use]
    pub fn paserk_id(&self) -> &str {
        &self.pid
    }

    /// The public key as a PASERK, `k4.public.<base64url>`, for other PASETO implementations.
    #[must_use]
    pub fn to_paserk(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.key.fmt(&mut out);
        out
    }

    /// The 32 bytes of the public key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.key.as_bytes());
        out
    }

    pub(crate) fn key(&self) -> &AsymmetricPublicKey<V4> {
        &self.key
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("id", &self.id)
            .field("paserk_id", &self.pid)
            .finish()
    }
}

/// An Ed25519 secret key that signs `v4.public` tokens. The secret is zeroized
/// on drop (by pasetors) and never printed.
pub struct SigningKey {
    secret: AsymmetricSecretKey<V4>,
    verifying: VerifyingKey,
}

impl SigningKey {
    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when no randomness is available.
    pub fn generate(id: KeyId) -> Result<Self, KeyError> {
        let pair = AsymmetricKeyPair::<V4>::generate().map_err(|_| KeyError::Random)?;
        Ok(Self {
            verifying: VerifyingKey::from_key(id, pair.public),
            secret: pair.secret,
        })
    }

    /// The key pair of a 32-byte Ed25519 seed (RFC 8032 private key).
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for the all-zero seed.
    pub fn from_seed(id: KeyId, seed: &[u8; 32]) -> Result<Self, KeyError> {
        let mut seed = ed25519_compact::Seed::new(*seed);
        let pair = ed25519_compact::KeyPair::try_from_seed(seed);
        seed.wipe_mut();
        let pair = pair.map_err(|_| KeyError::Invalid)?;
        let secret = secret_from_seed_and_public(pair.sk.as_ref())?;
        let public =
            AsymmetricPublicKey::<V4>::from(pair.pk.as_ref()).map_err(|_| KeyError::Invalid)?;
        Ok(Self {
            verifying: VerifyingKey::from_key(id, public),
            secret,
        })
    }

    /// A key pair from its secret PASERK, `k4.secret.<base64url of seed || public key>`.
    ///
    /// # Errors
    /// [`KeyError::Paserk`] when the text is not a `k4.secret` PASERK,
    /// [`KeyError::Invalid`] when the public half does not match the seed or the seed is all zero.
    pub fn from_paserk(id: KeyId, paserk: &str) -> Result<Self, KeyError> {
        let body = paserk.strip_prefix("k4.secret.").ok_or(KeyError::Paserk)?;
        let bytes =
            Zeroizing::new(Base64UrlUnpadded::decode_vec(body).map_err(|_| KeyError::Paserk)?);
        let secret = secret_from_seed_and_public(&bytes)?;
        let public = bytes.get(32..).ok_or(KeyError::Invalid)?;
        let public = AsymmetricPublicKey::<V4>::from(public).map_err(|_| KeyError::Invalid)?;
        Ok(Self {
            verifying: VerifyingKey::from_key(id, public),
            secret,
        })
    }

    /// The captoken key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.verifying.id
    }

    /// The public half, to give to verifiers.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    pub(crate) fn secret(&self) -> &AsymmetricSecretKey<V4> {
        &self.secret
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.verifying.id)
            .field("paserk_id", &self.verifying.pid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A shared 32-byte key for `v4.local` tokens (XChaCha20 + BLAKE2b-MAC). Whoever
/// holds it can issue, attenuate and verify. Zeroized on drop (by pasetors) and never printed.
pub struct LocalKey {
    id: KeyId,
    key: SymmetricKey<V4>,
    lid: String,
}

impl LocalKey {
    fn from_key(id: KeyId, key: SymmetricKey<V4>) -> Self {
        let lid = paserk_id(&Id::from(&key));
        Self { id, key, lid }
    }

    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when no randomness is available.
    pub fn generate(id: KeyId) -> Result<Self, KeyError> {
        let key = SymmetricKey::<V4>::generate().map_err(|_| KeyError::Random)?;
        Ok(Self::from_key(id, key))
    }

    /// A key from 32 secret bytes, which are copied.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for the all-zero key.
    pub fn from_bytes(id: KeyId, bytes: &[u8; 32]) -> Result<Self, KeyError> {
        if bytes.iter().all(|b| *b == 0) {
            return Err(KeyError::Invalid);
        }
        let key = SymmetricKey::<V4>::from(bytes).map_err(|_| KeyError::Invalid)?;
        Ok(Self::from_key(id, key))
    }

    /// The captoken key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The PASERK id, `k4.lid.…`, that tokens name in their footer. It is a
    /// one-way hash of the key and safe to publish.
    #[must_use]
    pub fn paserk_id(&self) -> &str {
        &self.lid
    }

    pub(crate) fn key(&self) -> &SymmetricKey<V4> {
        &self.key
    }
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("id", &self.id)
            .field("paserk_id", &self.lid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One key of a [`PublicKeyring`]: a public key, and its secret half when this
/// keyring may sign with it.
#[derive(Debug)]
pub(crate) struct PublicEntry {
    pub(crate) verifying: VerifyingKey,
    pub(crate) signing: Option<SigningKey>,
}

/// Maps key id to key and PASERK id to key id, refusing one key under two ids.
#[derive(Debug)]
struct Index<E> {
    by_id: BTreeMap<KeyId, E>,
    by_paserk_id: BTreeMap<String, KeyId>,
}

impl<E> Default for Index<E> {
    fn default() -> Self {
        Self {
            by_id: BTreeMap::new(),
            by_paserk_id: BTreeMap::new(),
        }
    }
}

impl<E> Index<E> {
    /// Adds `entry` under `id` and `pid`, replacing an entry of the same key id.
    fn insert(&mut self, id: KeyId, pid: String, entry: E) -> Result<(), KeyError> {
        match self.by_paserk_id.get(&pid) {
            Some(holder) if *holder != id => return Err(KeyError::Duplicate(holder.clone())),
            _ => {}
        }
        if self.by_id.insert(id.clone(), entry).is_some() {
            self.by_paserk_id.retain(|_, holder| *holder != id);
        }
        self.by_paserk_id.insert(pid, id);
        Ok(())
    }

    fn by_paserk_id(&self, pid: &str) -> Option<&E> {
        self.by_id.get(self.by_paserk_id.get(pid)?)
    }
}

/// The Ed25519 keys a [`crate::PasetoPublicProvider`] signs and verifies with.
/// A verifier holds public keys only; an issuer also holds the secret halves.
/// A token naming a PASERK id that is not here is denied; no other key is tried.
#[derive(Debug, Default)]
pub struct PublicKeyring {
    index: Index<PublicEntry>,
}

impl PublicKeyring {
    /// An empty keyring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring that signs and verifies with these keys.
    ///
    /// # Errors
    /// [`KeyError::Duplicate`] when one key comes under two key ids.
    pub fn from_signing_keys(keys: impl IntoIterator<Item = SigningKey>) -> Result<Self, KeyError> {
        let mut ring = Self::new();
        keys.into_iter().try_for_each(|k| ring.insert_signing(k))?;
        Ok(ring)
    }

    /// A keyring that only verifies, with these public keys.
    ///
    /// # Errors
    /// [`KeyError::Duplicate`] when one key comes under two key ids.
    pub fn from_verifying_keys(
        keys: impl IntoIterator<Item = VerifyingKey>,
    ) -> Result<Self, KeyError> {
        let mut ring = Self::new();
        keys.into_iter()
            .try_for_each(|k| ring.insert_verifying(k))?;
        Ok(ring)
    }

    /// Adds a key to sign and verify with, replacing any key of the same key id.
    ///
    /// # Errors
    /// [`KeyError::Duplicate`] when the keyring holds this key under another key id.
    pub fn insert_signing(&mut self, key: SigningKey) -> Result<(), KeyError> {
        let verifying = key.verifying.clone();
        let (id, pid) = (verifying.id.clone(), verifying.pid.clone());
        self.index.insert(
            id,
            pid,
            PublicEntry {
                verifying,
                signing: Some(key),
            },
        )
    }

    /// Adds a key to verify with only, replacing any key of the same key id.
    ///
    /// # Errors
    /// [`KeyError::Duplicate`] when the keyring holds this key under another key id.
    pub fn insert_verifying(&mut self, key: VerifyingKey) -> Result<(), KeyError> {
        let (id, pid) = (key.id.clone(), key.pid.clone());
        self.index.insert(
            id,
            pid,
            PublicEntry {
                verifying: key,
                signing: None,
            },
        )
    }

    /// The public key of this key id.
    #[must_use]
    pub fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.index.by_id.get(id).map(|e| &e.verifying)
    }

    pub(crate) fn signing(&self, id: &KeyId) -> Option<&SigningKey> {
        self.index.by_id.get(id)?.signing.as_ref()
    }

    pub(crate) fn by_paserk_id(&self, pid: &str) -> Option<&VerifyingKey> {
        self.index.by_paserk_id(pid).map(|e| &e.verifying)
    }
}

/// The shared keys a [`crate::PasetoLocalProvider`] encrypts and decrypts with.
/// A token naming a PASERK id that is not here is denied; no other key is tried.
#[derive(Debug, Default)]
pub struct LocalKeyring {
    index: Index<LocalKey>,
}

impl LocalKeyring {
    /// An empty keyring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring holding these keys.
    ///
    /// # Errors
    /// [`KeyError::Duplicate`] when one key comes under two key ids.
    pub fn from_keys(keys: impl IntoIterator<Item = LocalKey>) -> Result<Self, KeyError> {
        let mut ring = Self::new();
        keys.into_iter().try_for_each(|k| ring.insert(k))?;
        Ok(ring)
    }

    /// Adds a key, replacing any key of the same key id.
    ///
    /// # Errors
    /// [`KeyError::Duplicate`] when the keyring holds this key under another key id.
    pub fn insert(&mut self, key: LocalKey) -> Result<(), KeyError> {
        let (id, lid) = (key.id.clone(), key.lid.clone());
        self.index.insert(id, lid, key)
    }

    pub(crate) fn get(&self, id: &KeyId) -> Option<&LocalKey> {
        self.index.by_id.get(id)
    }

    pub(crate) fn by_paserk_id(&self, lid: &str) -> Option<&LocalKey> {
        self.index.by_paserk_id(lid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(s: &str) -> KeyId {
        KeyId::new(s).unwrap()
    }

    #[test]
    fn debug_redacts_secrets() {
        let signing = SigningKey::from_seed(kid("k1"), &[0xab; 32]).unwrap();
        let local = LocalKey::from_bytes(kid("k2"), &[0xcd; 32]).unwrap();
        let alone = format!("{signing:?} {local:?}");
        let shown = format!(
            "{alone} {:?} {:?}",
            PublicKeyring::from_signing_keys([signing]).unwrap(),
            LocalKeyring::from_keys([local]).unwrap()
        );
        assert!(shown.contains("redacted") && shown.contains("k1") && shown.contains("k2"));
        for secret in ["171", "205", "ab, ", "cd, ", "q6ur", "zc3N"] {
            assert!(
                !shown.to_lowercase().contains(&secret.to_lowercase()),
                "{secret}: {shown}"
            );
        }
    }

    #[test]
    fn paserk_round_trip_and_ids() {
        let signing = SigningKey::from_seed(kid("k1"), &[7; 32]).unwrap();
        let public = signing.verifying_key();
        assert!(public.paserk_id().starts_with("k4.pid.") && public.paserk_id().len() == 51);
        let paserk = public.to_paserk();
        assert!(paserk.starts_with("k4.public."));
        let back = VerifyingKey::from_paserk(kid("k1"), &paserk).unwrap();
        assert_eq!(back.to_bytes(), public.to_bytes());
        assert_eq!(back.paserk_id(), public.paserk_id());
        assert_eq!(
            VerifyingKey::from_bytes(kid("k1"), &public.to_bytes())
                .unwrap()
                .paserk_id(),
            public.paserk_id()
        );
        let local = LocalKey::from_bytes(kid("k2"), &[7; 32]).unwrap();
        assert!(local.paserk_id().starts_with("k4.lid.") && local.paserk_id().len() == 51);
        assert_ne!(
            LocalKey::from_bytes(kid("k2"), &[8; 32])
                .unwrap()
                .paserk_id(),
            local.paserk_id()
        );
        for bad in [
            "",
            "k4.public.",
            "k4.secret.AAAA",
            "k3.public.AAAA",
            &paserk[..20],
        ] {
            assert_eq!(
                VerifyingKey::from_paserk(kid("k"), bad).unwrap_err(),
                KeyError::Paserk
            );
        }
    }

    #[test]
    fn secret_paserk_is_checked_and_never_panics() {
        let seed = [9u8; 32];
        let pair = SigningKey::from_seed(kid("k"), &seed).unwrap();
        let mut raw = seed.to_vec();
        raw.extend_from_slice(&pair.verifying_key().to_bytes());
        let good = format!("k4.secret.{}", Base64UrlUnpadded::encode_string(&raw));
        let back = SigningKey::from_paserk(kid("k"), &good).unwrap();
        assert_eq!(
            back.verifying_key().paserk_id(),
            pair.verifying_key().paserk_id()
        );
        // An all-zero seed makes pasetors panic; it must be refused first.
        let mut zero = vec![0u8; 32];
        zero.extend_from_slice(&pair.verifying_key().to_bytes());
        let zero = format!("k4.secret.{}", Base64UrlUnpadded::encode_string(&zero));
        assert_eq!(
            SigningKey::from_paserk(kid("k"), &zero).unwrap_err(),
            KeyError::Invalid
        );
        // A public half that does not match the seed.
        raw[40] ^= 1;
        let mismatched = format!("k4.secret.{}", Base64UrlUnpadded::encode_string(&raw));
        assert_eq!(
            SigningKey::from_paserk(kid("k"), &mismatched).unwrap_err(),
            KeyError::Invalid
        );
        assert_eq!(
            SigningKey::from_paserk(kid("k"), "k4.secret.AAAA").unwrap_err(),
            KeyError::Invalid
        );
        assert_eq!(
            SigningKey::from_paserk(kid("k"), "k4.public.AAAA").unwrap_err(),
            KeyError::Paserk
        );
        assert_eq!(
            SigningKey::from_seed(kid("k"), &[0; 32]).unwrap_err(),
            KeyError::Invalid
        );
        assert_eq!(
            LocalKey::from_bytes(kid("k"), &[0; 32]).unwrap_err(),
            KeyError::Invalid
        );
    }

    #[test]
    fn keyring_refuses_one_key_under_two_ids_and_replaces_by_id() {
        let mut ring = PublicKeyring::new();
        ring.insert_signing(SigningKey::from_seed(kid("a"), &[1; 32]).unwrap())
            .unwrap();
        assert_eq!(
            ring.insert_signing(SigningKey::from_seed(kid("b"), &[1; 32]).unwrap()),
            Err(KeyError::Duplicate(kid("a")))
        );
        let old_pid = ring.get(&kid("a")).unwrap().paserk_id().to_owned();
        // Replacing key id "a" with another key forgets the old PASERK id.
        let new = SigningKey::from_seed(kid("a"), &[2; 32])
            .unwrap()
            .verifying_key()
            .clone();
        ring.insert_verifying(new.clone()).unwrap();
        assert!(ring.by_paserk_id(&old_pid).is_none());
        assert_eq!(ring.by_paserk_id(new.paserk_id()).unwrap().id(), &kid("a"));
        assert!(
            ring.signing(&kid("a")).is_none(),
            "a public key does not sign"
        );
        let mut local = LocalKeyring::new();
        local
            .insert(LocalKey::from_bytes(kid("a"), &[1; 32]).unwrap())
            .unwrap();
        assert_eq!(
            local.insert(LocalKey::from_bytes(kid("b"), &[1; 32]).unwrap()),
            Err(KeyError::Duplicate(kid("a")))
        );
        let generated = [
            SigningKey::generate(kid("g"))
                .unwrap()
                .verifying_key()
                .paserk_id()
                .to_owned(),
            SigningKey::generate(kid("g"))
                .unwrap()
                .verifying_key()
                .paserk_id()
                .to_owned(),
        ];
        assert_ne!(generated[0], generated[1]);
        assert_ne!(
            LocalKey::generate(kid("g")).unwrap().paserk_id(),
            LocalKey::generate(kid("g")).unwrap().paserk_id()
        );
    }
}
