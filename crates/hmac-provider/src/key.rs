//! Shared HMAC secrets, identified by key id, zeroized on drop and redacted from `Debug`.

use std::fmt;

use captoken_core_types::keyset::NO_PUBLIC_HALF;
use captoken_core_types::{KeyError, KeyId, Keyring, PublicKeyText, SharedSecret};
use zeroize::Zeroizing;

/// A shared secret for HMAC-SHA256 and the key id tokens name it by.
pub struct HmacKey {
    id: KeyId,
    secret: Zeroizing<Vec<u8>>,
}

impl HmacKey {
    /// The shortest secret accepted: the output size of SHA-256.
    pub const MIN_LEN: usize = 32;
    /// The longest secret accepted: SHA-256's block size (longer keys are hashed by HMAC anyway).
    pub const MAX_LEN: usize = 64;

    /// A key from secret bytes, which are copied.
    ///
    /// # Errors
    /// [`KeyError::BadLength`] when the secret is not 32 to 64 bytes.
    pub fn new(id: KeyId, secret: &[u8]) -> Result<Self, KeyError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&secret.len()) {
            return Err(KeyError::BadLength {
                min: Self::MIN_LEN,
                max: Self::MAX_LEN,
            });
        }
        Ok(Self {
            id,
            secret: Zeroizing::new(secret.to_vec()),
        })
    }

    /// A fresh 32-byte key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when no randomness is available.
    pub fn generate(id: KeyId) -> Result<Self, KeyError> {
        let mut secret = Zeroizing::new(vec![0u8; Self::MIN_LEN]);
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self { id, secret })
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Tokens name their key by key id.
impl SharedSecret for HmacKey {
    fn key_id(&self) -> &KeyId {
        &self.id
    }
}

/// A shared secret is never exported: a key-set document lists its id and
/// state only.
impl PublicKeyText for HmacKey {
    fn public_text(&self) -> Option<String> {
        None
    }

    fn from_public_text(_id: &KeyId, _text: &str) -> Result<Self, KeyError> {
        Err(NO_PUBLIC_HALF)
    }
}

/// The keys a provider signs and verifies with, by key id. A token naming a key
/// id that is not here is denied; no other key is tried. Duplicate key ids are
/// refused ([`KeyError::DuplicateId`]).
pub type HmacKeyring = Keyring<HmacKey>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let key = HmacKey::new(KeyId::new("k1").unwrap(), &[0xab; 32]).unwrap();
        let alone = format!("{key:?}");
        let shown = format!("{alone} {:?}", HmacKeyring::single(key));
        assert!(
            shown.contains("redacted") && shown.contains("k1"),
            "{shown}"
        );
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab, "),
            "{shown}"
        );
    }

    #[test]
    fn secret_length_is_checked() {
        let id = KeyId::new("k").unwrap();
        let bad = KeyError::BadLength { min: 32, max: 64 };
        assert_eq!(HmacKey::new(id.clone(), &[0; 31]).unwrap_err(), bad);
        assert_eq!(HmacKey::new(id.clone(), &[0; 65]).unwrap_err(), bad);
        assert!(HmacKey::new(id.clone(), &[0; 64]).is_ok());
        let a = HmacKey::generate(id.clone()).unwrap();
        let b = HmacKey::generate(id).unwrap();
        assert_ne!(a.secret(), b.secret());
    }

    #[test]
    fn keyring_refuses_duplicate_ids_and_denies_unknown_ones() {
        let key = |id: &str, byte: u8| HmacKey::new(KeyId::new(id).unwrap(), &[byte; 32]).unwrap();
        assert_eq!(
            HmacKeyring::from_keys([key("k1", 1), key("k1", 2)]).unwrap_err(),
            KeyError::DuplicateId(KeyId::new("k1").unwrap())
        );
        let mut ring = HmacKeyring::from_keys([key("k1", 1), key("k2", 2)]).unwrap();
        assert_eq!(
            ring.insert(key("k2", 3)).unwrap_err(),
            KeyError::DuplicateId(KeyId::new("k2").unwrap())
        );
        let k2 = KeyId::new("k2").unwrap();
        assert_eq!(
            ring.for_verifying(&k2).unwrap().verifier().secret(),
            &[2; 32]
        );
        ring.switch_signing(&k2).unwrap();
        assert_eq!(ring.for_signing(&k2).unwrap().secret(), &[2; 32]);
        let k3 = KeyId::new("k3").unwrap();
        assert_eq!(ring.for_verifying(&k3).unwrap_err(), KeyError::NotFound);
        assert_eq!(ring.for_signing(&k3).unwrap_err(), KeyError::UnknownId(k3));
    }
}
