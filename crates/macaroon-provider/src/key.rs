//! Macaroon root keys, kept only in their libmacaroons-derived form, zeroized on drop and redacted from `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use captoken_core_types::KeyId;
use zeroize::Zeroizing;

use crate::crypto::{Sig, derive_key};

/// Why a key cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret is shorter than [`MacaroonKey::MIN_LEN`] or longer than [`MacaroonKey::MAX_LEN`] bytes.
    #[error("macaroon root secret must be 32 to 1024 bytes")]
    BadLength,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// A root key: the key id that macaroon identifiers name, and the derived key
/// `HMAC-SHA256("macaroons-key-generator", secret)` that starts every chain.
///
/// The same secret gives the same derived key in libmacaroons, pymacaroons and
/// go-macaroon, so macaroons minted by any of them verify here and back.
pub struct MacaroonKey {
    id: KeyId,
    derived: Zeroizing<Sig>,
}

impl MacaroonKey {
    /// The shortest secret accepted (libmacaroons' suggested secret length).
    pub const MIN_LEN: usize = 32;
    /// The longest secret accepted.
    pub const MAX_LEN: usize = 1024;

    /// A key from a root secret, which is derived and not kept.
    ///
    /// # Errors
    /// [`KeyError::BadLength`] when the secret is not 32 to 1024 bytes.
    pub fn new(id: KeyId, secret: &[u8]) -> Result<Self, KeyError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&secret.len()) {
            return Err(KeyError::BadLength);
        }
        Ok(Self {
            id,
            derived: derive_key(secret),
        })
    }

    /// A fresh key from 32 random bytes of the operating system.
    ///
    /// # Errors
    /// [`KeyError::Random`] when no randomness is available.
    pub fn generate(id: KeyId) -> Result<Self, KeyError> {
        let mut secret = Zeroizing::new([0u8; Self::MIN_LEN]);
        getrandom::fill(&mut *secret).map_err(|_| KeyError::Random)?;
        Self::new(id, &*secret)
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn derived(&self) -> &Sig {
        &self.derived
    }
}

impl fmt::Debug for MacaroonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacaroonKey")
            .field("id", &self.id)
            .field("derived", &"<redacted>")
            .finish()
    }
}

/// The root keys a provider mints and verifies with, by key id. A macaroon
/// whose identifier names a key id that is not here is denied; no other key is tried.
#[derive(Debug, Default)]
pub struct MacaroonKeyring {
    keys: BTreeMap<KeyId, MacaroonKey>,
}

impl MacaroonKeyring {
    /// An empty keyring: enough to attenuate, inspect and hash, not to issue or verify.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A keyring holding these keys (a later key replaces an earlier one of the same id).
    #[must_use]
    pub fn from_keys(keys: impl IntoIterator<Item = MacaroonKey>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
        }
    }

    /// Adds a key, returning the one it replaces.
    pub fn insert(&mut self, key: MacaroonKey) -> Option<MacaroonKey> {
        self.keys.insert(key.id.clone(), key)
    }

    /// The key of this id.
    #[must_use]
    pub fn get(&self, id: &KeyId) -> Option<&MacaroonKey> {
        self.keys.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let key = MacaroonKey::new(KeyId::new("k1").unwrap(), &[0xab; 32]).unwrap();
        let derived = key
            .derived()
            .iter()
            .map(|b| format!("{b}"))
            .collect::<Vec<_>>();
        let alone = format!("{key:?}");
        let shown = format!("{alone} {:?}", MacaroonKeyring::from_keys([key]));
        assert!(
            shown.contains("redacted") && shown.contains("k1"),
            "{shown}"
        );
        assert!(!shown.contains(&derived[..4].join(", ")), "{shown}");
    }

    #[test]
    fn secret_length_is_checked_and_generated_keys_differ() {
        let id = KeyId::new("k").unwrap();
        assert_eq!(
            MacaroonKey::new(id.clone(), &[0; 31]).unwrap_err(),
            KeyError::BadLength
        );
        assert_eq!(
            MacaroonKey::new(id.clone(), &[0; 1025]).unwrap_err(),
            KeyError::BadLength
        );
        let a = MacaroonKey::generate(id.clone()).unwrap();
        let b = MacaroonKey::generate(id).unwrap();
        assert_ne!(a.derived(), b.derived());
    }
}
