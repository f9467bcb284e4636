//! The macaroon constructions of libmacaroons: root-key derivation, the HMAC chain, discharge binding.
//!
//! All of them are HMAC-SHA256 (RustCrypto `hmac` and `sha2`):
//!
//! - derived key = `HMAC(key = "macaroons-key-generator", msg = secret)`
//!   (libmacaroons' `generate_derived_key`, pymacaroons' `generate_derived_key`);
//! - first signature = `HMAC(derived key, identifier)`;
//! - first-party caveat: `sig' = HMAC(sig, caveat id)`;
//! - third-party caveat: `sig' = HMAC(sig, HMAC(sig, vid) || HMAC(sig, caveat id))`
//!   (libmacaroons' `macaroon_hash2`);
//! - discharge binding: `bound = HMAC(0^32, HMAC(0^32, root sig) || HMAC(0^32, discharge sig))`
//!   (libmacaroons' `macaroon_bind`, pymacaroons' `HashSignaturesBinder.bind_signature`).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::wire::SIGNATURE_LEN;

/// A chain signature (or a key of the same size).
pub(crate) type Sig = [u8; SIGNATURE_LEN];

/// The key libmacaroons derives a root secret from before using it.
pub const KEY_GENERATOR: &[u8] = b"macaroons-key-generator";

/// `HMAC-SHA256(key, data)`.
#[must_use]
pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Sig {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// libmacaroons' key derivation: `HMAC-SHA256("macaroons-key-generator", secret)`.
#[must_use]
pub fn derive_key(secret: &[u8]) -> Zeroizing<Sig> {
    Zeroizing::new(hmac(KEY_GENERATOR, secret))
}

/// `HMAC(key, HMAC(key, a) || HMAC(key, b))`: libmacaroons' `macaroon_hash2`.
#[must_use]
pub(crate) fn hmac2(key: &[u8], a: &[u8], b: &[u8]) -> Sig {
    let mut both = Zeroizing::new([0u8; 2 * SIGNATURE_LEN]);
    let (left, right) = both.split_at_mut(SIGNATURE_LEN);
    left.copy_from_slice(&hmac(key, a));
    right.copy_from_slice(&hmac(key, b));
    hmac(key, &*both)
}

/// The running signature of a macaroon chain. Intermediate signatures let whoever
/// holds them strip later caveats, so the state is zeroized on drop.
pub(crate) struct Chain {
    sig: Zeroizing<Sig>,
}

impl Chain {
    /// Starts a chain: `HMAC(key, identifier)`. For a macaroon minted by an
    /// issuer, `key` is the derived root key; for a discharge, the caveat key.
    pub(crate) fn start(key: &[u8], identifier: &[u8]) -> Self {
        Self {
            sig: Zeroizing::new(hmac(key, identifier)),
        }
    }

    /// Continues a chain from a known signature (a holder appending caveats).
    pub(crate) fn resume(sig: &Sig) -> Self {
        Self {
            sig: Zeroizing::new(*sig),
        }
    }

    /// Adds one caveat: first-party when `vid` is `None`.
    pub(crate) fn add(&mut self, id: &[u8], vid: Option<&[u8]>) {
        *self.sig = match vid {
            None => hmac(&*self.sig, id),
            Some(vid) => hmac2(&*self.sig, vid, id),
        };
    }

    /// The current signature.
    pub(crate) fn sig(&self) -> &Sig {
        &self.sig
    }

    /// Constant-time comparison with a claimed signature.
    pub(crate) fn matches(&self, claimed: &Sig) -> bool {
        self.sig.ct_eq(claimed).into()
    }
}

/// libmacaroons' `macaroon_bind`: the signature a discharge carries once bound
/// to the macaroon whose signature is `root_sig`.
#[must_use]
pub fn bind(
    root_sig: &[u8; SIGNATURE_LEN],
    discharge_sig: &[u8; SIGNATURE_LEN],
) -> [u8; SIGNATURE_LEN] {
    hmac2(&[0u8; SIGNATURE_LEN], root_sig, discharge_sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    use captoken_core_types::hex::encode as hex;

    // The libmacaroons README example (secret "this is our super secret key; only
    // we should know it", identifier "we used our secret key"). The first two
    // signatures appear in libmacaroons' README; all three were computed
    // independently with pymacaroons 0.13.0.
    const SECRET: &[u8] = b"this is our super secret key; only we should know it";

    #[test]
    fn chain_matches_the_libmacaroons_example() {
        let key = derive_key(SECRET);
        let mut chain = Chain::start(&*key, b"we used our secret key");
        assert_eq!(
            hex(chain.sig()),
            "e3d9e02908526c4c0039ae15114115d97fdd68bf2ba379b342aaf0f617d0552f"
        );
        chain.add(b"account = 3735928559", None);
        assert_eq!(
            hex(chain.sig()),
            "1efe4763f290dbce0c1d08477367e11f4eee456a64933cf662d79772dbb82128"
        );
        chain.add(b"time < 2020-01-01T00:00", None);
        chain.add(b"email = alice@example.org", None);
        assert_eq!(
            hex(chain.sig()),
            "ddf553e46083e55b8d71ab822be3d8fcf21d6bf19c40d617bb9fb438934474b6"
        );
    }

    #[test]
    fn binding_is_the_documented_hash2() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let zero = [0u8; 32];
        let mut inner = hmac(&zero, &a).to_vec();
        inner.extend_from_slice(&hmac(&zero, &b));
        assert_eq!(bind(&a, &b), hmac(&zero, &inner));
        assert_ne!(bind(&a, &b), bind(&b, &a));
    }
}
