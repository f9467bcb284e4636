//! Shared HMAC secrets, identified by key id, zeroized on drop and redacted from `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use captoken_core_types::KeyId;
use zeroize::Zeroizing;

/// Why a key cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret is shorter than [`HmacKey::MIN_LEN`] or longer than [`HmacKey::MAX_LEN`] bytes.
    #[error("HMAC secret must be 32 to 64 bytes")]
    BadLength,
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

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
            return Err(KeyError::BadLength);
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

/// The keys a provider signs and verifies with, by key id. A token naming a key
/// id that is not here is denied; no other key is tried.
#[derive(Debug, Default)]
pub struct HmacKeyring {
    keys: BTreeMap<KeyId, HmacKey>,
}

impl HmacKeyring {
    /// An empty keyring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring holding these keys (a later key replaces an earlier one of the same id).
    #[must_use]
    pub fn from_keys(keys: impl IntoIterator<Item = HmacKey>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
        }
    }

    /// Adds a key, returning the one it replaces.
    pub fn insert(&mut self, key: HmacKey) -> Option<HmacKey> {
        self.keys.insert(key.id.clone(), key)
    }

    /// The key of this id.
    #[must_use]
    pub fn get(&self, id: &KeyId) -> Option<&HmacKey> {
        self.keys.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let key = HmacKey::new(KeyId::new("k1").unwrap(), &[0xab; 32]).unwrap();
        let alone = format!("{key:?}");
        let shown = format!("{alone} {:?}", HmacKeyring::from_keys([key]));
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
        assert_eq!(
            HmacKey::new(id.clone(), &[0; 31]).unwrap_err(),
            KeyError::BadLength
        );
        assert_eq!(
            HmacKey::new(id.clone(), &[0; 65]).unwrap_err(),
            KeyError::BadLength
        );
        assert!(HmacKey::new(id.clone(), &[0; 64]).is_ok());
        let a = HmacKey::generate(id.clone()).unwrap();
        let b = HmacKey::generate(id).unwrap();
        assert_ne!(a.secret(), b.secret());
    }
}
