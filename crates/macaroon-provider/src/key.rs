//! Macaroon root keys, kept only in their libmacaroons-derived form, zeroized on drop and redacted from `Debug`.

use std::fmt;

use captoken_core_types::keyset::NO_PUBLIC_HALF;
use captoken_core_types::{KeyError, KeyId, Keyring, PublicKeyText, SharedSecret};
use zeroize::Zeroizing;

use crate::crypto::{Sig, derive_key};

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
            return Err(KeyError::BadLength {
                min: Self::MIN_LEN,
                max: Self::MAX_LEN,
            });
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
        getrandom::fill(&mut *secret).map_err(|e| KeyError::Random(e.to_string()))?;
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

/// Macaroon identifiers name their root key by key id.
impl SharedSecret for MacaroonKey {
    fn key_id(&self) -> &KeyId {
        &self.id
    }
}

/// A root secret is never exported: a key-set document lists its id and
/// state only.
impl PublicKeyText for MacaroonKey {
    fn public_text(&self) -> Option<String> {
        None
    }

    fn from_public_text(_id: &KeyId, _text: &str) -> Result<Self, KeyError> {
        Err(NO_PUBLIC_HALF)
    }
}

/// The root keys a provider mints and verifies with, by key id. A macaroon
/// whose identifier names a key id that is not here is denied; no other key is
/// tried. Duplicate key ids are refused ([`KeyError::DuplicateId`]). An empty
/// keyring is enough to attenuate, inspect and hash, not to issue or verify.
pub type MacaroonKeyring = Keyring<MacaroonKey>;

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
        let shown = format!("{alone} {:?}", MacaroonKeyring::single(key));
        assert!(
            shown.contains("redacted") && shown.contains("k1"),
            "{shown}"
        );
        assert!(!shown.contains(&derived[..4].join(", ")), "{shown}");
    }

    #[test]
    fn secret_length_is_checked_and_generated_keys_differ() {
        let id = KeyId::new("k").unwrap();
        let bad = KeyError::BadLength { min: 32, max: 1024 };
        assert_eq!(MacaroonKey::new(id.clone(), &[0; 31]).unwrap_err(), bad);
        assert_eq!(MacaroonKey::new(id.clone(), &[0; 1025]).unwrap_err(), bad);
        let a = MacaroonKey::generate(id.clone()).unwrap();
        let b = MacaroonKey::generate(id).unwrap();
        assert_ne!(a.derived(), b.derived());
    }

    #[test]
    fn keyring_refuses_duplicate_ids_and_denies_unknown_ones() {
        let kid = |id: &str| KeyId::new(id).unwrap();
        let key = |id: &str, byte: u8| MacaroonKey::new(kid(id), &[byte; 32]).unwrap();
        assert_eq!(
            MacaroonKeyring::from_keys([key("k1", 1), key("k1", 2)]).unwrap_err(),
            KeyError::DuplicateId(kid("k1"))
        );
        let mut ring = MacaroonKeyring::from_keys([key("k1", 1), key("k2", 2)]).unwrap();
        assert_eq!(
            ring.insert(key("k1", 3)).unwrap_err(),
            KeyError::DuplicateId(kid("k1"))
        );
        let derived = key("k2", 2).derived().to_vec();
        assert_eq!(
            ring.for_verifying(&kid("k2")).unwrap().verifier().derived()[..],
            derived[..]
        );
        ring.switch_signing(&kid("k2")).unwrap();
        assert_eq!(
            ring.for_signing(&kid("k2")).unwrap().derived()[..],
            derived[..]
        );
        assert_eq!(
            ring.for_verifying(&kid("k3")).unwrap_err(),
            KeyError::NotFound
        );
        assert_eq!(
            ring.for_signing(&kid("k3")).unwrap_err(),
            KeyError::UnknownId(kid("k3"))
        );
    }
}
