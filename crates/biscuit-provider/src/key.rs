//! Root keys: the issuer's signing keys and the verifier's public keys, named by captoken key id and selected by Biscuit root key id.

use std::collections::BTreeMap;
use std::fmt;

use biscuit_auth::format::schema::public_key::Algorithm as ProtoAlgorithm;
use biscuit_auth::{KeyPair, PublicKey};
use captoken_core_types::KeyId;
use sha2::{Digest, Sha256};

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

/// Why a key cannot be made or added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a valid key of the algorithm.
    #[error("invalid {0} key")]
    Invalid(RootAlgorithm),
    /// Two different key ids derive the same Biscuit root key id.
    #[error("key ids {existing} and {new} derive the same Biscuit root key id")]
    RootKeyIdCollision {
        /// The key id already in the keyring.
        existing: KeyId,
        /// The key id refused.
        new: KeyId,
    },
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
    id: KeyId,
    pair: KeyPair,
}

impl RootSigningKey {
    /// An Ed25519 root key from its 32-byte seed (the RFC 8032 private key).
    #[must_use]
    pub fn ed25519_from_seed(id: KeyId, seed: &[u8; 32]) -> Self {
        // `from_bytes` accepts every 32-byte seed.
        let pair = KeyPair::from_bytes(seed, ProtoAlgorithm::Ed25519)
            .unwrap_or_else(|_| unreachable!("every 32-byte string is an Ed25519 seed"));
        Self { id, pair }
    }

    /// A fresh Ed25519 root key from the operating system's random number generator.
    #[must_use]
    pub fn generate_ed25519(id: KeyId) -> Self {
        Self {
            id,
            pair: KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Ed25519),
        }
    }

    /// A P-256 root key from its 32-byte big-endian secret scalar.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] when the scalar is zero or not below the group order.
    #[cfg(feature = "p256")]
    pub fn p256_from_scalar(id: KeyId, scalar: &[u8; 32]) -> Result<Self, KeyError> {
        let pair = KeyPair::from_bytes(scalar, ProtoAlgorithm::Secp256r1)
            .map_err(|_| KeyError::Invalid(RootAlgorithm::P256))?;
        Ok(Self { id, pair })
    }

    /// A fresh P-256 root key from the operating system's random number generator.
    #[cfg(feature = "p256")]
    #[must_use]
    pub fn generate_p256(id: KeyId) -> Self {
        Self {
            id,
            pair: KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1),
        }
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The public half, for verifiers.
    #[must_use]
    pub fn public(&self) -> RootPublicKey {
        RootPublicKey {
            id: self.id.clone(),
            key: self.pair.public(),
        }
    }

    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

impl fmt::Debug for RootSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootSigningKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

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
            PublicKey::from_bytes(bytes, alg.proto().into()).map_err(|_| KeyError::Invalid(alg))?;
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

    pub(crate) fn key(&self) -> PublicKey {
        self.key
    }
}

impl fmt::Debug for RootPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootPublicKey({}, {})", self.id, self.key)
    }
}

/// The root keys a provider signs with and accepts.
///
/// Verification reads the token's Biscuit root key id, selects the one public
/// key of that id, and tries no other; an unknown id is denied.
#[derive(Debug, Default)]
pub struct BiscuitKeyring {
    signing: BTreeMap<KeyId, RootSigningKey>,
    verifying: BTreeMap<u32, RootPublicKey>,
}

impl BiscuitKeyring {
    /// An empty keyring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a signing key, and its public half for verification.
    ///
    /// # Errors
    /// [`KeyError::RootKeyIdCollision`] when another key id derives the same root key id.
    pub fn insert_signing(&mut self, key: RootSigningKey) -> Result<(), KeyError> {
        self.insert_public(key.public())?;
        self.signing.insert(key.id.clone(), key);
        Ok(())
    }

    /// Adds a public key accepted for verification (replacing one of the same key id).
    ///
    /// # Errors
    /// [`KeyError::RootKeyIdCollision`] when another key id derives the same root key id.
    pub fn insert_public(&mut self, key: RootPublicKey) -> Result<(), KeyError> {
        let rid = root_key_id(&key.id);
        if let Some(existing) = self.verifying.get(&rid)
            && existing.id != key.id
        {
            return Err(KeyError::RootKeyIdCollision {
                existing: existing.id.clone(),
                new: key.id.clone(),
            });
        }
        self.verifying.insert(rid, key);
        Ok(())
    }

    /// The signing key of this id.
    #[must_use]
    pub fn signing(&self, id: &KeyId) -> Option<&RootSigningKey> {
        self.signing.get(id)
    }

    /// The public key a token naming this Biscuit root key id is verified with.
    #[must_use]
    pub fn by_root_key_id(&self, rid: u32) -> Option<&RootPublicKey> {
        self.verifying.get(&rid)
    }
}

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
        let mut ring = BiscuitKeyring::new();
        ring.insert_signing(key).unwrap();
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
            RootSigningKey::generate_ed25519(kid("k1")).public(),
            RootSigningKey::generate_ed25519(kid("k1")).public()
        );
    }

    #[test]
    fn keyring_selects_by_root_key_id_and_refuses_collisions() {
        let mut ring = BiscuitKeyring::new();
        ring.insert_signing(RootSigningKey::ed25519_from_seed(kid("k1"), &[1; 32]))
            .unwrap();
        let found = ring.by_root_key_id(root_key_id(&kid("k1"))).unwrap();
        assert_eq!(found.id(), &kid("k1"));
        assert!(ring.by_root_key_id(root_key_id(&kid("k2"))).is_none());
        assert!(ring.signing(&kid("k1")).is_some());
        // A 32-bit collision is impractical to search for in a test: plant
        // another key id under k1's root key id, then add k1 again.
        let other = RootSigningKey::ed25519_from_seed(kid("k2"), &[2; 32]).public();
        let rid = root_key_id(&kid("k1"));
        ring.verifying.insert(rid, other.clone());
        let again = RootSigningKey::ed25519_from_seed(kid("k1"), &[1; 32]).public();
        assert_eq!(
            ring.insert_public(again),
            Err(KeyError::RootKeyIdCollision {
                existing: kid("k2"),
                new: kid("k1")
            })
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
        assert_eq!(
            RootSigningKey::p256_from_scalar(kid("p"), &[0; 32]).unwrap_err(),
            KeyError::Invalid(RootAlgorithm::P256)
        );
        assert_eq!(
            RootSigningKey::p256_from_scalar(kid("p"), &[0xff; 32]).unwrap_err(),
            KeyError::Invalid(RootAlgorithm::P256)
        );
    }
}
