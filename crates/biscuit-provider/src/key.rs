//! Root keys: the issuer's signing keys and the verifier's public keys, named by captoken key id and selected by Biscuit root key id.

use std::fmt;

use biscuit_auth::format::schema::public_key::Algorithm as ProtoAlgorithm;
use biscuit_auth::{KeyPair, PublicKey};
use captoken_core_types::{KeyError, KeyId, KeyMaterial, Keyring, PublicKeyText, hex};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Domain separator of [`root_key_id`].
const ROOT_KEY_ID_DOMAIN: &[u8] = b"captoken/biscuit/root-key-id/v1";

/// The Biscuit `root_key_id` for a captoken key id: the first four bytes,
/// big-endian, of `SHA-256("captoken/biscuit/root-key-id/v1" || key id)`.
///
/// Biscuit names root keys by a 32-bit hint that is *not* covered by any
/// signature; captoken derives it from the issuer's key id so that issuer and
/// verifier agree without configuration. A keyring refuses two key ids that
/// map to the same value, so the hint always selects exactly one key. Changing
/// the hint inside a token only selects another key, whose signature check fails.
#[must_use]
pub fn root_key_id(id: &KeyId) -> u32 {
    let digest = Sha256::new()
        .chain_update(ROOT_KEY_ID_DOMAIN)
        .chain_update(id.as_str().as_bytes())
        .finalize();
    let mut first = [0u8; 4];
    first.copy_from_slice(digest.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(first)
}

/// The signature algorithm of a root key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RootAlgorithm {
    /// Ed25519, Biscuit's default.
    Ed25519,
    /// ECDSA over NIST P-256 (secp256r1), behind the `p256` feature.
    #[cfg(feature = "p256")]
    P256,
}

impl fmt::Display for RootAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ed25519 => f.write_str("Ed25519"),
            #[cfg(feature = "p256")]
            Self::P256 => f.write_str("P-256"),
        }
    }
}

impl RootAlgorithm {
    fn proto(self) -> ProtoAlgorithm {
        match self {
            Self::Ed25519 => ProtoAlgorithm::Ed25519,
            #[cfg(feature = "p256")]
            Self::P256 => ProtoAlgorithm::Secp256r1,
        }
    }

    /// What [`KeyError::Invalid`] says of bytes that are not a key of this algorithm.
    fn invalid_public(self) -> KeyError {
        match self {
            Self::Ed25519 => KeyError::Invalid("not an Ed25519 public key"),
            #[cfg(feature = "p256")]
            Self::P256 => KeyError::Invalid("not a SEC1-encoded P-256 public key"),
        }
    }

    fn of(key: &PublicKey) -> Option<Self> {
        match key.algorithm() {
            ProtoAlgorithm::Ed25519 => Some(Self::Ed25519),
            #[cfg(feature = "p256")]
            ProtoAlgorithm::Secp256r1 => Some(Self::P256),
            #[cfg(not(feature = "p256"))]
            ProtoAlgorithm::Secp256r1 => None,
        }
    }
}

/// An issuer's root signing key and the key id tokens name it by.
///
/// The private key lives inside biscuit-auth's `KeyPair`, whose Ed25519 and
/// P-256 secrets are zeroized on drop; `Debug` shows only the key id.
pub struct RootSigningKey {
    pair: KeyPair,
    public: RootPublicKey,
}

impl RootSigningKey {
    fn from_pair(id: KeyId, pair: KeyPair) -> Self {
        let public = RootPublicKey {
            id,
            key: pair.public(),
        };
        Self { pair, public }
    }

    /// An Ed25519 root key from its 32-byte seed (the RFC 8032 private key).
    #[must_use]
    pub fn ed25519_from_seed(id: KeyId, seed: &[u8; 32]) -> Self {
        // `from_bytes` accepts every 32-byte seed.
        let pair = KeyPair::from_bytes(seed, ProtoAlgorithm::Ed25519)
            .unwrap_or_else(|_| unreachable!("every 32-byte string is an Ed25519 seed"));
        Self::from_pair(id, pair)
    }

    /// A fresh Ed25519 root key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when no randomness is available.
    pub fn generate_ed25519(id: KeyId) -> Result<Self, KeyError> {
        let seed = random_32()?;
        Ok(Self::ed25519_from_seed(id, &seed))
    }

    /// A P-256 root key from its 32-byte big-endian secret scalar.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] when the scalar is zero or not below the group order.
    #[cfg(feature = "p256")]
    pub fn p256_from_scalar(id: KeyId, scalar: &[u8; 32]) -> Result<Self, KeyError> {
        let pair = KeyPair::from_bytes(scalar, ProtoAlgorithm::Secp256r1)
            .map_err(|_| KeyError::Invalid("P-256 secret scalar must be in 1..n"))?;
        Ok(Self::from_pair(id, pair))
    }

    /// A fresh P-256 root key from the operating system's random number generator.
    ///
    /// A random 256-bit string is a valid scalar but for a chance of about
    /// 2^-32; such a draw is discarded and another one taken, as many times as
    /// a working generator could plausibly need.
    ///
    /// # Errors
    /// [`KeyError::Random`] when no randomness is available.
    #[cfg(feature = "p256")]
    pub fn generate_p256(id: KeyId) -> Result<Self, KeyError> {
        for _ in 0..8 {
            if let Ok(key) = Self::p256_from_scalar(id.clone(), &*random_32()?) {
                return Ok(key);
            }
        }
        Err(KeyError::Random(
            "eight draws in a row were not P-256 scalars".into(),
        ))
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.public.id
    }

    /// The public half, for verifiers.
    #[must_use]
    pub fn public(&self) -> RootPublicKey {
        self.public.clone()
    }

    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

/// 32 bytes from the operating system's random number generator, zeroized on drop.
fn random_32() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

impl fmt::Debug for RootSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootSigningKey")
            .field("id", &self.public.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What [`RootPublicKey::from_text`] says of text not in its form.
const NOT_KEY_TEXT: KeyError = KeyError::Encoding(
    "root public key must be ed25519/<64 lower-case hex> or secp256r1/<66 lower-case hex>",
);

/// A root public key a verifier accepts, and the key id it stands for.
#[derive(Clone, PartialEq, Eq)]
pub struct RootPublicKey {
    id: KeyId,
    key: PublicKey,
}

impl RootPublicKey {
    /// An Ed25519 public key from its 32-byte encoding.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] when the bytes are not a point on the curve.
    pub fn ed25519(id: KeyId, bytes: &[u8; 32]) -> Result<Self, KeyError> {
        Self::from_bytes(id, RootAlgorithm::Ed25519, bytes)
    }

    /// A P-256 public key from its SEC1 encoding (33 bytes compressed or 65 uncompressed).
    ///
    /// # Errors
    /// [`KeyError::Invalid`] when the bytes are not a point on the curve.
    #[cfg(feature = "p256")]
    pub fn p256(id: KeyId, sec1: &[u8]) -> Result<Self, KeyError> {
        Self::from_bytes(id, RootAlgorithm::P256, sec1)
    }

    fn from_bytes(id: KeyId, alg: RootAlgorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let key =
            PublicKey::from_bytes(bytes, alg.proto().into()).map_err(|_| alg.invalid_public())?;
        Ok(Self { id, key })
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> RootAlgorithm {
        // Keys are only made through constructors of enabled algorithms.
        RootAlgorithm::of(&self.key).unwrap_or(RootAlgorithm::Ed25519)
    }

    /// The public key's encoding (32 bytes for Ed25519, SEC1 compressed for P-256).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.key.to_bytes()
    }

    /// The public key as text, in biscuit-auth's (and biscuit-cli's) form:
    /// `ed25519/` and 64 lower-case hex digits, or `secp256r1/` and the
    /// compressed SEC1 point in 66.
    #[must_use]
    pub fn to_text(&self) -> String {
        self.key.to_string()
    }

    /// A public key from the text [`RootPublicKey::to_text`] writes, and no
    /// other spelling of it (upper-case hex, an uncompressed P-256 point).
    ///
    /// # Errors
    /// [`KeyError::Encoding`] when the text is not in that form (or names
    /// P-256 without the `p256` feature), [`KeyError::Invalid`] when its bytes
    /// are not a point on the curve.
    pub fn from_text(id: KeyId, text: &str) -> Result<Self, KeyError> {
        let key = match text.split_once('/') {
            Some(("ed25519", digits)) => {
                let bytes = hex::decode::<32>(digits).map_err(|_| NOT_KEY_TEXT)?;
                Self::from_bytes(id, RootAlgorithm::Ed25519, &bytes)?
            }
            #[cfg(feature = "p256")]
            Some(("secp256r1", digits)) => {
                let bytes = hex::decode::<33>(digits).map_err(|_| NOT_KEY_TEXT)?;
                Self::from_bytes(id, RootAlgorithm::P256, &bytes)?
            }
            #[cfg(not(feature = "p256"))]
            Some(("secp256r1", _)) => {
                return Err(KeyError::Encoding("P-256 root keys need the p256 feature"));
            }
            _ => return Err(NOT_KEY_TEXT),
        };
        // One key, one text.
        if key.to_text() != text {
            return Err(NOT_KEY_TEXT);
        }
        Ok(key)
    }
    pub(crate) fn key(&self) -> PublicKey {
        self.key
    }
}

impl fmt::Debug for RootPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootPublicKey({}, {})", self.id, self.key)
    }
}

/// One key of a [`BiscuitKeyring`]: a root key pair this keyring issues and
/// verifies with, or a root public key it only verifies with. Made with `From`
/// (or `.into()`) from a [`RootSigningKey`] or a [`RootPublicKey`].
#[derive(Debug)]
pub struct RootKey(RootInner);

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a keyring holds few keys for long: the size of an entry does not matter"
)]
enum RootInner {
    Signing(RootSigningKey),
    Public(RootPublicKey),
}

impl RootKey {
    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &RootPublicKey {
        self.verifier()
    }

    /// The signing key, when this keyring may issue with the key.
    #[must_use]
    pub fn signing_key(&self) -> Option<&RootSigningKey> {
        self.signer()
    }
}

impl From<RootSigningKey> for RootKey {
    fn from(key: RootSigningKey) -> Self {
        Self(RootInner::Signing(key))
    }
}

impl From<RootPublicKey> for RootKey {
    fn from(key: RootPublicKey) -> Self {
        Self(RootInner::Public(key))
    }
}

impl KeyMaterial for RootKey {
    /// Tokens name their root key by Biscuit root key id ([`root_key_id`]).
    type Selector = u32;
    type Signer = RootSigningKey;
    type Verifier = RootPublicKey;

    fn id(&self) -> &KeyId {
        &self.verifier().id
    }

    fn selector(&self) -> u32 {
        root_key_id(self.id())
    }

    fn signer(&self) -> Option<&RootSigningKey> {
        match &self.0 {
            RootInner::Signing(key) => Some(key),
            RootInner::Public(_) => None,
        }
    }

    fn verifier(&self) -> &RootPublicKey {
        match &self.0 {
            RootInner::Signing(key) => &key.public,
            RootInner::Public(key) => key,
        }
    }
}

/// In a key-set document, the root public key in biscuit-auth's text form
/// ([`RootPublicKey::to_text`]); read back, a verify-only key.
impl PublicKeyText for RootKey {
    fn public_text(&self) -> Option<String> {
        Some(self.verifier().to_text())
    }

    fn from_public_text(id: &KeyId, text: &str) -> Result<Self, KeyError> {
        RootPublicKey::from_text(id.clone(), text).map(Self::from)
    }
}

/// The root keys a provider signs with and accepts: `core-types`' keyring,
/// selecting by Biscuit root key id for verification and by key id for issuing.
///
/// Verification reads the token's Biscuit root key id, selects the one public
/// key of that id, and tries no other; an unknown id is denied. The keyring
/// refuses two keys of one key id, and two key ids deriving one root key id
/// ([`KeyError::Collision`]).
pub type BiscuitKeyring = Keyring<RootKey>;

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(s: &str) -> KeyId {
        KeyId::new(s).unwrap()
    }

    #[test]
    fn root_key_id_is_pinned_and_separates_ids() {
        // SHA-256("captoken/biscuit/root-key-id/v1" || "k1"), first four bytes,
        // computed independently with Python's hashlib.
        assert_eq!(root_key_id(&kid("k1")), ROOT_KEY_ID_OF_K1);
        assert_ne!(root_key_id(&kid("k1")), root_key_id(&kid("k2")));
    }

    const ROOT_KEY_ID_OF_K1: u32 = 0xeb0e_6eaa;

    #[test]
    fn debug_redacts_the_secret() {
        let key = RootSigningKey::ed25519_from_seed(kid("k1"), &[0xab; 32]);
        let shown = format!("{key:?}");
        assert!(
            shown.contains("redacted") && shown.contains("k1"),
            "{shown}"
        );
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        let ring = BiscuitKeyring::single(key);
        let shown = format!("{ring:?}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    }

    #[test]
    fn seeds_are_deterministic_and_public_keys_round_trip() {
        let a = RootSigningKey::ed25519_from_seed(kid("k1"), &[7; 32]);
        let b = RootSigningKey::ed25519_from_seed(kid("k1"), &[7; 32]);
        assert_eq!(a.public(), b.public());
        let bytes: [u8; 32] = a.public().to_bytes().try_into().unwrap();
        assert_eq!(
            RootPublicKey::ed25519(kid("k1"), &bytes).unwrap(),
            a.public()
        );
        assert_eq!(a.public().algorithm(), RootAlgorithm::Ed25519);
        assert_ne!(
            RootSigningKey::generate_ed25519(kid("k1"))
                .unwrap()
                .public(),
            RootSigningKey::generate_ed25519(kid("k1"))
                .unwrap()
                .public()
        );
    }

    #[test]
    fn keyring_selects_by_root_key_id_and_refuses_duplicates_and_collisions() {
        let signing = |id: &str, seed: u8| RootSigningKey::ed25519_from_seed(kid(id), &[seed; 32]);
        let mut ring = BiscuitKeyring::single(signing("k1", 1));
        let found = ring
            .for_verifying(&root_key_id(&kid("k1")))
            .unwrap()
            .verifier();
        assert_eq!(found.id(), &kid("k1"));
        assert_eq!(found, &signing("k1", 1).public());
        assert_eq!(
            ring.for_verifying(&root_key_id(&kid("k2"))).unwrap_err(),
            KeyError::NotFound
        );
        assert_eq!(ring.for_signing(&kid("k1")).unwrap().id(), &kid("k1"));
        // A key id is held once, as a key pair or as a public key.
        assert_eq!(
            ring.insert(signing("k1", 2).public()).unwrap_err(),
            KeyError::DuplicateId(kid("k1"))
        );
        assert_eq!(
            BiscuitKeyring::from_keys([signing("k1", 1), signing("k1", 1)]).unwrap_err(),
            KeyError::DuplicateId(kid("k1"))
        );
        // A public key verifies and never signs.
        ring.insert(signing("k2", 2).public()).unwrap();
        assert_eq!(
            ring.for_verifying(&root_key_id(&kid("k2"))).unwrap().id(),
            &kid("k2")
        );
        assert_eq!(
            ring.for_signing(&kid("k2")).unwrap_err(),
            KeyError::VerifyOnly(kid("k2"))
        );
        // "k4449" and "k9173" derive the same root key id (found by a
        // birthday search over "k0", "k1", …): the second is refused.
        assert_eq!(root_key_id(&kid("k4449")), root_key_id(&kid("k9173")));
        assert_eq!(
            BiscuitKeyring::from_keys([signing("k4449", 3), signing("k9173", 4)]).unwrap_err(),
            KeyError::Collision {
                existing: kid("k4449"),
                new: kid("k9173")
            }
        );
        ring.insert(signing("k9173", 4).public()).unwrap();
        assert_eq!(
            ring.insert(signing("k4449", 3)).unwrap_err(),
            KeyError::Collision {
                existing: kid("k9173"),
                new: kid("k4449")
            }
        );
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn public_text_is_biscuit_auths_form_and_only_it() {
        let key = RootKey::from(RootSigningKey::ed25519_from_seed(kid("k1"), &[7; 32]));
        let text = key.public_text().unwrap();
        let digits = text.strip_prefix("ed25519/").unwrap();
        assert_eq!(digits, hex::encode(&key.public_key().to_bytes()));
        // biscuit-auth (and so biscuit-cli) reads the same text as the same key.
        assert_eq!(text.parse::<PublicKey>().unwrap(), key.public_key().key());
        let back = RootKey::from_public_text(&kid("k1"), &text).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(back.signing_key().is_none());
        let not_text = KeyError::Encoding(
            "root public key must be ed25519/<64 lower-case hex> or secp256r1/<66 lower-case hex>",
        );
        for bad in [
            String::new(),
            digits.to_owned(),
            text.to_uppercase().replace("ED25519", "ed25519"),
            format!("{text}00"),
            text[..text.len() - 2].to_owned(),
            format!("ed25519-private/{digits}"),
            format!("ed25519:{digits}"),
            format!("x/{digits}"),
        ] {
            assert_eq!(
                RootKey::from_public_text(&kid("k1"), &bad).unwrap_err(),
                not_text,
                "{bad}"
            );
        }
        #[cfg(not(feature = "p256"))]
        assert_eq!(
            RootKey::from_public_text(&kid("k1"), &format!("secp256r1/02{digits}")).unwrap_err(),
            KeyError::Encoding("P-256 root keys need the p256 feature")
        );
    }

    #[cfg(feature = "p256")]
    #[test]
    fn p256_keys() {
        let key = RootSigningKey::p256_from_scalar(kid("p"), &[3; 32]).unwrap();
        let public = key.public();
        assert_eq!(public.algorithm(), RootAlgorithm::P256);
        assert_eq!(
            RootPublicKey::p256(kid("p"), &public.to_bytes()).unwrap(),
            public
        );
        let out_of_range = KeyError::Invalid("P-256 secret scalar must be in 1..n");
        assert_eq!(
            RootSigningKey::p256_from_scalar(kid("p"), &[0; 32]).unwrap_err(),
            out_of_range
        );
        assert_eq!(
            RootSigningKey::p256_from_scalar(kid("p"), &[0xff; 32]).unwrap_err(),
            out_of_range
        );
        assert_eq!(
            RootPublicKey::p256(kid("p"), &[4; 10]).unwrap_err(),
            KeyError::Invalid("not a SEC1-encoded P-256 public key")
        );
        // Text: secp256r1/ and the compressed point, as biscuit-auth writes it.
        let text = RootKey::from(key).public_text().unwrap();
        assert_eq!(
            text,
            format!("secp256r1/{}", hex::encode(&public.to_bytes()))
        );
        assert_eq!(text.len(), 10 + 66);
        assert_eq!(
            RootKey::from_public_text(&kid("p"), &text)
                .unwrap()
                .public_key(),
            &public
        );
        let uncompressed = format!("secp256r1/04{}", "ab".repeat(64));
        assert!(matches!(
            RootKey::from_public_text(&kid("p"), &uncompressed).unwrap_err(),
            KeyError::Encoding(_)
        ));
        let a = RootSigningKey::generate_p256(kid("p")).unwrap();
        let b = RootSigningKey::generate_p256(kid("p")).unwrap();
        assert_eq!(a.public().algorithm(), RootAlgorithm::P256);
        assert_ne!(a.public(), b.public());
    }
}
