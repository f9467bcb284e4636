//! PASETO v4 keys named by captoken key id and by PASERK id, zeroized on drop and redacted from `Debug`.
//!
//! A token's footer names its key by PASERK id (`k4.pid.…` for an Ed25519 public
//! key, `k4.lid.…` for a shared local key), while its `iss` claim names the
//! captoken [`KeyId`] of the same key. Both keyrings are `core-types`'
//! [`Keyring`], selecting by PASERK id for verification and by key id for
//! issuing; a keyring refuses two keys of one key id and one key under two key
//! ids ([`KeyError::Collision`]), so that a PASERK id selects exactly one key
//! and one issuer.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::keyset::NO_PUBLIC_HALF;
use captoken_core_types::{KeyError, KeyId, KeyMaterial, Keyring, PublicKeyText};
use pasetors::keys::{
    AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate, SymmetricKey,
};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::version4::V4;
use zeroize::Zeroizing;

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
    let seed = bytes.get(..32).ok_or(KEY_LENGTH)?;
    if bytes.len() != 64 {
        return Err(KEY_LENGTH);
    }
    if seed.iter().all(|b| *b == 0) {
        return Err(KeyError::Invalid("all-zero Ed25519 seed"));
    }
    AsymmetricSecretKey::<V4>::from(bytes).map_err(|_| MISMATCH)
}

/// An Ed25519 secret key that is not 64 bytes (seed || public key).
const KEY_LENGTH: KeyError =
    KeyError::Invalid("Ed25519 secret key must be seed and public key, 64 bytes");
/// A secret key whose public half is not the seed's.
const MISMATCH: KeyError = KeyError::Invalid("public half does not match the seed");

/// An Ed25519 public key from 32 bytes, refusing a non-canonical encoding, a
/// byte string that is not a curve point, and a point of small order (which
/// no signature check would accept anyway).
fn public_from_bytes(bytes: &[u8]) -> Result<AsymmetricPublicKey<V4>, KeyError> {
    let point = ed25519_compact::PublicKey::from_slice(bytes)
        .map_err(|_| KeyError::Invalid("Ed25519 public key must be 32 bytes"))?;
    point
        .validate()
        .map_err(|_| KeyError::Invalid("not an Ed25519 public key of full order"))?;
    AsymmetricPublicKey::<V4>::from(bytes).map_err(|_| KeyError::Invalid("Ed25519 public key"))
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
    /// # Errors
    /// [`KeyError::Invalid`] when the bytes are not the canonical encoding of
    /// an Ed25519 point of full order.
    pub fn from_bytes(id: KeyId, bytes: &[u8; 32]) -> Result<Self, KeyError> {
        Ok(Self::from_key(id, public_from_bytes(bytes)?))
    }

    /// A public key from its PASERK, `k4.public.<base64url>`.
    ///
    /// # Errors
    /// [`KeyError::Encoding`] when the text is not a `k4.public` PASERK,
    /// [`KeyError::Invalid`] when its key is not an Ed25519 point of full order.
    pub fn from_paserk(id: KeyId, paserk: &str) -> Result<Self, KeyError> {
        let key = AsymmetricPublicKey::<V4>::try_from(paserk)
            .map_err(|_| KeyError::Encoding("not a k4.public PASERK"))?;
        Ok(Self::from_key(id, public_from_bytes(key.as_bytes())?))
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
        let pair = AsymmetricKeyPair::<V4>::generate().map_err(random)?;
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
        let pair = pair.map_err(|_| KeyError::Invalid("all-zero Ed25519 seed"))?;
        let secret = secret_from_seed_and_public(pair.sk.as_ref())?;
        let public = public_from_bytes(pair.pk.as_ref())?;
        Ok(Self {
            verifying: VerifyingKey::from_key(id, public),
            secret,
        })
    }

    /// A key pair from its secret PASERK, `k4.secret.<base64url of seed || public key>`.
    ///
    /// # Errors
    /// [`KeyError::Encoding`] when the text is not a `k4.secret` PASERK,
    /// [`KeyError::Invalid`] when the public half does not match the seed or the seed is all zero.
    pub fn from_paserk(id: KeyId, paserk: &str) -> Result<Self, KeyError> {
        const NOT_SECRET: KeyError = KeyError::Encoding("not a k4.secret PASERK");
        let body = paserk.strip_prefix("k4.secret.").ok_or(NOT_SECRET)?;
        let bytes = Zeroizing::new(Base64UrlUnpadded::decode_vec(body).map_err(|_| NOT_SECRET)?);
        let secret = secret_from_seed_and_public(&bytes)?;
        let public = public_from_bytes(bytes.get(32..).ok_or(KEY_LENGTH)?)?;
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
        let key = SymmetricKey::<V4>::generate().map_err(random)?;
        Ok(Self::from_key(id, key))
    }

    /// A key from 32 secret bytes, which are copied.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for the all-zero key.
    pub fn from_bytes(id: KeyId, bytes: &[u8; 32]) -> Result<Self, KeyError> {
        if bytes.iter().all(|b| *b == 0) {
            return Err(KeyError::Invalid("all-zero local key"));
        }
        let key = SymmetricKey::<V4>::from(bytes)
            .map_err(|_| KeyError::Invalid("local key must be 32 bytes"))?;
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

impl KeyMaterial for LocalKey {
    /// Tokens name their key by PASERK id, `k4.lid.…`.
    type Selector = String;
    type Signer = Self;
    type Verifier = Self;

    fn id(&self) -> &KeyId {
        &self.id
    }

    fn selector(&self) -> String {
        self.lid.clone()
    }

    fn signer(&self) -> Option<&Self> {
        Some(self)
    }

    fn verifier(&self) -> &Self {
        self
    }
}

/// A shared local key is never exported: a key-set document lists its id and
/// state only.
impl PublicKeyText for LocalKey {
    fn public_text(&self) -> Option<String> {
        None
    }

    fn from_public_text(_id: &KeyId, _text: &str) -> Result<Self, KeyError> {
        Err(NO_PUBLIC_HALF)
    }
}

/// One key of a [`PublicKeyring`]: a key pair this keyring signs and verifies
/// with, or a public key it only verifies with. Made with `From` (or `.into()`)
/// from a [`SigningKey`] or a [`VerifyingKey`].
#[derive(Debug)]
pub struct PublicEntry(PublicInner);

#[derive(Debug)]
enum PublicInner {
    Pair(SigningKey),
    Public(VerifyingKey),
}

impl PublicEntry {
    /// The public key.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.verifier()
    }

    /// The key pair, when this keyring may sign with the key.
    #[must_use]
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signer()
    }
}

impl From<SigningKey> for PublicEntry {
    fn from(key: SigningKey) -> Self {
        Self(PublicInner::Pair(key))
    }
}

impl From<VerifyingKey> for PublicEntry {
    fn from(key: VerifyingKey) -> Self {
        Self(PublicInner::Public(key))
    }
}

impl KeyMaterial for PublicEntry {
    /// Tokens name their key by PASERK id, `k4.pid.…`.
    type Selector = String;
    type Signer = SigningKey;
    type Verifier = VerifyingKey;

    fn id(&self) -> &KeyId {
        &self.verifier().id
    }

    fn selector(&self) -> String {
        self.verifier().pid.clone()
    }

    fn signer(&self) -> Option<&SigningKey> {
        match &self.0 {
            PublicInner::Pair(key) => Some(key),
            PublicInner::Public(_) => None,
        }
    }

    fn verifier(&self) -> &VerifyingKey {
        match &self.0 {
            PublicInner::Pair(key) => key.verifying_key(),
            PublicInner::Public(key) => key,
        }
    }
}

/// In a key-set document, the public key as a PASERK, `k4.public.…`; read
/// back, a verify-only entry ([`VerifyingKey::from_paserk`]).
impl PublicKeyText for PublicEntry {
    fn public_text(&self) -> Option<String> {
        Some(self.verifier().to_paserk())
    }

    fn from_public_text(id: &KeyId, text: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_paserk(id.clone(), text).map(Self::from)
    }
}

/// The Ed25519 keys a [`crate::PasetoPublicProvider`] signs and verifies with,
/// by PASERK id (`k4.pid.…`) for verification and by key id for issuing. A
/// verifier holds public keys only ([`VerifyingKey`]); an issuer also holds the
/// secret halves ([`SigningKey`]). A token naming a PASERK id that is not here
/// is denied; no other key is tried.
pub type PublicKeyring = Keyring<PublicEntry>;

/// The shared keys a [`crate::PasetoLocalProvider`] encrypts and decrypts with,
/// by PASERK id (`k4.lid.…`) for decryption and by key id for issuing. A token
/// naming a PASERK id that is not here is denied; no other key is tried.
pub type LocalKeyring = Keyring<LocalKey>;

/// A failure of the operating system's random number generator, as pasetors reports it.
fn random(e: pasetors::errors::Error) -> KeyError {
    KeyError::Random(format!("{e:?}"))
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
            PublicKeyring::single(signing),
            LocalKeyring::single(local)
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
    fn public_text_is_the_paserk_and_local_keys_have_none() {
        let entry = PublicEntry::from(SigningKey::from_seed(kid("k1"), &[7; 32]).unwrap());
        let text = entry.public_text().unwrap();
        assert_eq!(text, entry.verifying_key().to_paserk());
        assert!(text.starts_with("k4.public."));
        let back = PublicEntry::from_public_text(&kid("k1"), &text).unwrap();
        assert!(back.signing_key().is_none());
        assert_eq!(
            back.verifying_key().paserk_id(),
            entry.verifying_key().paserk_id()
        );
        assert_eq!(
            PublicEntry::from_public_text(&kid("k1"), "k4.secret.AAAA").unwrap_err(),
            KeyError::Encoding("not a k4.public PASERK")
        );
        let local = LocalKey::from_bytes(kid("k2"), &[7; 32]).unwrap();
        assert_eq!(local.public_text(), None);
        assert_eq!(
            LocalKey::from_public_text(&kid("k2"), &text).unwrap_err(),
            NO_PUBLIC_HALF
        );
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
                KeyError::Encoding("not a k4.public PASERK")
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
            KeyError::Invalid("all-zero Ed25519 seed")
        );
        // A public half that does not match the seed.
        raw[40] ^= 1;
        let mismatched = format!("k4.secret.{}", Base64UrlUnpadded::encode_string(&raw));
        assert_eq!(
            SigningKey::from_paserk(kid("k"), &mismatched).unwrap_err(),
            MISMATCH
        );
        assert_eq!(
            SigningKey::from_paserk(kid("k"), "k4.secret.AAAA").unwrap_err(),
            KEY_LENGTH
        );
        assert_eq!(
            SigningKey::from_paserk(kid("k"), "k4.public.AAAA").unwrap_err(),
            KeyError::Encoding("not a k4.secret PASERK")
        );
        assert_eq!(
            SigningKey::from_seed(kid("k"), &[0; 32]).unwrap_err(),
            KeyError::Invalid("all-zero Ed25519 seed")
        );
        assert_eq!(
            LocalKey::from_bytes(kid("k"), &[0; 32]).unwrap_err(),
            KeyError::Invalid("all-zero local key")
        );
    }

    #[test]
    fn public_keys_must_be_points_of_full_order() {
        let good = SigningKey::from_seed(kid("k"), &[5; 32])
            .unwrap()
            .verifying_key()
            .to_bytes();
        assert!(VerifyingKey::from_bytes(kid("k"), &good).is_ok());
        // The identity point (small order) and a y coordinate >= p (not canonical).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut non_canonical = [0xff; 32];
        non_canonical[31] = 0x7f;
        for bad in [identity, non_canonical, [0; 32]] {
            assert!(
                matches!(
                    VerifyingKey::from_bytes(kid("k"), &bad),
                    Err(KeyError::Invalid(_))
                ),
                "{bad:?}"
            );
            let paserk = format!("k4.public.{}", Base64UrlUnpadded::encode_string(&bad));
            assert!(matches!(
                VerifyingKey::from_paserk(kid("k"), &paserk),
                Err(KeyError::Invalid(_))
            ));
        }
    }

    #[test]
    fn keyrings_refuse_duplicate_ids_and_one_key_under_two_ids() {
        let signing = |id: &str, seed: u8| SigningKey::from_seed(kid(id), &[seed; 32]).unwrap();
        assert_eq!(
            PublicKeyring::from_keys([signing("a", 1), signing("a", 2)]).unwrap_err(),
            KeyError::DuplicateId(kid("a"))
        );
        assert_eq!(
            PublicKeyring::from_keys([signing("a", 1), signing("b", 1)]).unwrap_err(),
            KeyError::Collision {
                existing: kid("a"),
                new: kid("b")
            }
        );
        let mut ring = PublicKeyring::single(signing("a", 1));
        // Neither a public key under the same id nor the same key under another.
        assert_eq!(
            ring.insert(signing("a", 2).verifying_key().clone())
                .unwrap_err(),
            KeyError::DuplicateId(kid("a"))
        );
        assert_eq!(
            ring.insert(signing("b", 1).verifying_key().clone())
                .unwrap_err(),
            KeyError::Collision {
                existing: kid("a"),
                new: kid("b")
            }
        );
        let verify_only = signing("c", 3).verifying_key().clone();
        ring.insert(verify_only.clone()).unwrap();
        assert_eq!(
            ring.for_verifying(verify_only.paserk_id()).unwrap().id(),
            &kid("c")
        );
        assert_eq!(
            ring.for_signing(&kid("c")).unwrap_err(),
            KeyError::VerifyOnly(kid("c")),
            "a public key does not sign"
        );
        assert_eq!(ring.for_signing(&kid("a")).unwrap().id(), &kid("a"));
        let unknown = signing("d", 4).verifying_key().paserk_id().to_owned();
        assert_eq!(
            ring.for_verifying(&unknown).unwrap_err(),
            KeyError::NotFound
        );
        assert_eq!(ring.len(), 2);

        let local = |id: &str, byte: u8| LocalKey::from_bytes(kid(id), &[byte; 32]).unwrap();
        assert_eq!(
            LocalKeyring::from_keys([local("a", 1), local("a", 2)]).unwrap_err(),
            KeyError::DuplicateId(kid("a"))
        );
        let mut ring = LocalKeyring::single(local("a", 1));
        assert_eq!(
            ring.insert(local("b", 1)),
            Err(KeyError::Collision {
                existing: kid("a"),
                new: kid("b")
            })
        );
        let lid = local("a", 1).paserk_id().to_owned();
        assert_eq!(ring.for_verifying(&lid).unwrap().id(), &kid("a"));
        assert_eq!(
            ring.for_verifying(local("a", 2).paserk_id()).unwrap_err(),
            KeyError::NotFound
        );
    }

    #[test]
    fn generated_keys_differ() {
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
