//! Third-party caveats and discharge macaroons, compatible with libmacaroons and pymacaroons (feature `third-party`).
//!
//! A third-party caveat asks another service to vouch for something before the
//! macaroon is honoured. Whoever adds it shares a secret with that service and
//! chooses a caveat id the service understands; the macaroon then carries:
//!
//! - the caveat id, in the clear;
//! - the verification id `vid = nonce || secretbox(key = sig, nonce, caveat key)`,
//!   where `sig` is the chain signature where the caveat lands, the caveat key is
//!   libmacaroons' derivation `HMAC-SHA256("macaroons-key-generator", secret)`,
//!   and secretbox is NaCl's XSalsa20-Poly1305 (`crypto_secretbox` crate):
//!   24 bytes of nonce, 16 of tag and 32 of ciphertext;
//! - its location hint, not authenticated.
//!
//! The service answers with a discharge macaroon whose identifier is the caveat
//! id, minted with the same secret ([`mint_discharge`]). The holder binds it to
//! the macaroon it will present ([`bind_discharge`]: the discharge's signature
//! becomes `HMAC(0^32, HMAC(0^32, sig) || HMAC(0^32, discharge sig))`) and sends
//! both; the verifier receives the discharges in `VerifyContext::discharges`.
//!
//! Verification decrypts each caveat key with the recomputed chain signature,
//! finds an unused discharge with that identifier, recomputes its chain from the
//! caveat key, checks its binding to the presented macaroon and its own caveats,
//! and recurses into the discharge's own third-party caveats. Each discharge is
//! used at most once; a discharge left unused, unbound, or bound to another
//! macaroon denies ([`captoken_core_types::DenyReason::Discharge`]).
//!
//! A discharge's first-party caveats may be `ct2 nbf <t>` and `ct2 exp <t>`
//! (checked against the request's time); any other first-party caveat denies.
//!
//! Where a third-party caveat may sit in a captoken macaroon: in the root section
//! (before the six root claims are complete; [`MacaroonProvider::issue_with_third_party`]
//! puts them first) or inside a step, counted by its boundary
//! ([`MacaroonProvider::attenuate_with_third_party`]).

use std::fmt;

use captoken_core_types::{Attenuation, Capability, DenyReason, Error, Token};
use crypto_secretbox::aead::AeadInPlace;
use crypto_secretbox::{KeyInit, Nonce, Tag, XSalsa20Poly1305};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::caveat::Claim;
use crate::crypto::{Chain, Sig, bind, derive_key};
use crate::key::MacaroonKey;
use crate::provider::{self, FORMAT, MAX_DISCHARGES, MacaroonProvider, NewCaveat};
use crate::wire::{Caveat, Macaroon};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of a verification id: nonce, tag and the encrypted 32-byte caveat key.
pub const VID_LEN: usize = NONCE_LEN + TAG_LEN + 32;

/// A third-party caveat to add: the service's location, the secret shared with
/// it, and the caveat id it will recognise.
#[derive(Clone)]
pub struct ThirdPartyCaveat {
    location: String,
    key: Zeroizing<Sig>,
    id: Vec<u8>,
}

impl ThirdPartyCaveat {
    /// A third-party caveat. The secret is derived as libmacaroons does and not kept.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the secret is not 32 to 1024 bytes or the id is empty.
    pub fn new(
        location: impl Into<String>,
        secret: &[u8],
        id: impl Into<Vec<u8>>,
    ) -> Result<Self, Error> {
        if !(MacaroonKey::MIN_LEN..=MacaroonKey::MAX_LEN).contains(&secret.len()) {
            return Err(Error::Unsupported(
                "third-party secret must be 32 to 1024 bytes",
            ));
        }
        let id = id.into();
        if id.is_empty() {
            return Err(Error::Unsupported(
                "third-party caveat id must not be empty",
            ));
        }
        Ok(Self {
            location: location.into(),
            key: derive_key(secret),
            id,
        })
    }

    /// The caveat as it lands where the chain signature is `sig`, with a fresh nonce.
    pub(crate) fn caveat(&self, sig: &Sig) -> Result<Caveat, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
        self.caveat_with_nonce(sig, &nonce)
    }

    fn caveat_with_nonce(&self, sig: &Sig, nonce: &[u8; NONCE_LEN]) -> Result<Caveat, Error> {
        Ok(Caveat {
            location: Some(self.location.clone().into_bytes()),
            id: self.id.clone(),
            vid: Some(encrypt_key(sig, &self.key, nonce)?),
        })
    }
}

impl fmt::Debug for ThirdPartyCaveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThirdPartyCaveat")
            .field("location", &self.location)
            .field("id", &String::from_utf8_lossy(&self.id))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// `nonce || tag || secretbox(sig, nonce, key)`: libmacaroons' verification id.
fn encrypt_key(sig: &Sig, key: &Sig, nonce: &[u8; NONCE_LEN]) -> Result<Vec<u8>, Error> {
    let cipher = XSalsa20Poly1305::new(&(*sig).into());
    let mut buf = Zeroizing::new(*key);
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::from(*nonce), b"", &mut *buf)
        .map_err(|_| Error::Unsupported("secretbox encryption failed"))?;
    let mut vid = Vec::with_capacity(VID_LEN);
    vid.extend_from_slice(nonce);
    vid.extend_from_slice(&tag);
    vid.extend_from_slice(&*buf);
    Ok(vid)
}

/// The caveat key inside a verification id, when `sig` opens it.
fn decrypt_key(sig: &Sig, vid: &[u8]) -> Option<Zeroizing<Sig>> {
    let (nonce, rest) = vid.split_first_chunk::<NONCE_LEN>()?;
    let (tag, ct) = rest.split_first_chunk::<TAG_LEN>()?;
    let ct: &[u8; 32] = ct.try_into().ok()?;
    let mut buf = Zeroizing::new(*ct);
    let cipher = XSalsa20Poly1305::new(&(*sig).into());
    cipher
        .decrypt_in_place_detached(&Nonce::from(*nonce), b"", &mut *buf, &Tag::from(*tag))
        .ok()?;
    Some(buf)
}

impl MacaroonProvider {
    /// Issues `capability` with third-party caveats in its root section, before the root claims.
    ///
    /// # Errors
    /// As [`captoken_core_types::TokenProvider::issue`], and [`Error::Random`] when no nonce can be drawn.
    pub fn issue_with_third_party(
        &self,
        capability: &Capability,
        caveats: impl IntoIterator<Item = ThirdPartyCaveat>,
    ) -> Result<Token, Error> {
        self.issue_with(
            capability,
            caveats.into_iter().map(NewCaveat::Third).collect(),
        )
    }

    /// Appends one step whose body ends with these third-party caveats, without a key.
    ///
    /// # Errors
    /// As [`captoken_core_types::TokenProvider::attenuate`], and [`Error::Random`] when no nonce can be drawn.
    pub fn attenuate_with_third_party(
        &self,
        parent: &Token,
        step: &Attenuation,
        caveats: impl IntoIterator<Item = ThirdPartyCaveat>,
    ) -> Result<Token, Error> {
        self.attenuate_with(
            parent,
            step,
            None,
            caveats.into_iter().map(NewCaveat::Third).collect(),
        )
    }
}

/// Mints a discharge macaroon, as the third party does: identifier `id`, root
/// key derived from `secret` (the secret the caveat was added with), optional
/// time bounds as `ct2 nbf` / `ct2 exp` caveats. It must be bound
/// ([`bind_discharge`]) before it is presented.
///
/// # Errors
/// [`Error::Unsupported`] for a secret outside 32 to 1024 bytes or an over-long id or location.
pub fn mint_discharge(
    secret: &[u8],
    id: &[u8],
    location: &str,
    not_before: Option<u64>,
    expires_at: Option<u64>,
) -> Result<Token, Error> {
    if !(MacaroonKey::MIN_LEN..=MacaroonKey::MAX_LEN).contains(&secret.len()) {
        return Err(Error::Unsupported(
            "third-party secret must be 32 to 1024 bytes",
        ));
    }
    let key = derive_key(secret);
    let mut chain = Chain::start(&*key, id);
    let mut m = Macaroon {
        location: Some(location.as_bytes().to_vec()),
        identifier: id.to_vec(),
        caveats: Vec::new(),
        signature: [0; 32],
    };
    let claims = not_before
        .map(Claim::NotBefore)
        .into_iter()
        .chain(expires_at.map(Claim::ExpiresAt));
    for claim in claims {
        let c = Caveat::first_party(claim.encode().into_bytes());
        chain.add(&c.id, None);
        m.caveats.push(c);
    }
    m.signature = *chain.sig();
    let bytes = m
        .encode()
        .map_err(|_| Error::Unsupported("discharge exceeds the size limits"))?;
    Ok(Token::new(FORMAT, bytes))
}

/// Appends a third-party caveat to a discharge that is not yet bound, as a third
/// party does when it needs yet another service to vouch before its discharge
/// counts.
///
/// # Errors
/// [`Error::Malformed`] when the discharge is not a v2 macaroon, [`Error::Random`]
/// when no nonce can be drawn, [`Error::Unsupported`] past the size limits.
pub fn extend_discharge(discharge: &Token, caveat: &ThirdPartyCaveat) -> Result<Token, Error> {
    let mut d = provider::decode(discharge)?;
    let c = caveat.caveat(&d.signature)?;
    let mut chain = Chain::resume(&d.signature);
    chain.add(&c.id, c.vid.as_deref());
    d.caveats.push(c);
    d.signature = *chain.sig();
    let bytes = d
        .encode()
        .map_err(|_| Error::Unsupported("discharge exceeds the size limits"))?;
    Ok(Token::new(FORMAT, bytes))
}

/// Binds a discharge to the macaroon it will be presented with (libmacaroons'
/// `macaroon_prepare_for_request`, pymacaroons' `prepare_for_request`).
///
/// # Errors
/// [`Error::Malformed`] or [`Error::WrongFormat`] when either token is not a v2 macaroon.
pub fn bind_discharge(authorizing: &Token, discharge: &Token) -> Result<Token, Error> {
    let top = provider::decode(authorizing)?;
    let mut d = provider::decode(discharge)?;
    d.signature = bind(&top.signature, &d.signature);
    let bytes = d
        .encode()
        .map_err(|_| Error::Malformed("discharge does not encode"))?;
    Ok(Token::new(FORMAT, bytes))
}

struct Discharges {
    all: Vec<Macaroon>,
    used: Vec<bool>,
    top_sig: Sig,
    now: u64,
}

impl Discharges {
    /// Satisfies one third-party caveat whose chain signature before it was `sig`.
    fn satisfy(&mut self, caveat: &Caveat, sig: &Sig) -> Result<(), DenyReason> {
        let vid = caveat.vid.as_deref().ok_or(DenyReason::Discharge)?;
        let key = decrypt_key(sig, vid).ok_or(DenyReason::Discharge)?;
        let index = self
            .all
            .iter()
            .zip(&self.used)
            .position(|(d, used)| !used && d.identifier == caveat.id)
            .ok_or(DenyReason::Discharge)?;
        if let Some(used) = self.used.get_mut(index) {
            *used = true;
        }
        let d = self.all.get(index).cloned().ok_or(DenyReason::Discharge)?;
        // Authenticate the discharge: its chain from the caveat key, bound to the top macaroon.
        let mut chain = Chain::start(&*key, &d.identifier);
        let mut nested = Vec::new();
        for c in &d.caveats {
            if c.is_third_party() {
                nested.push((c, Zeroizing::new(*chain.sig())));
            }
            chain.add(&c.id, c.vid.as_deref());
        }
        let bound = Zeroizing::new(bind(&self.top_sig, chain.sig()));
        if !bool::from(bound.ct_eq(&d.signature)) {
            return Err(DenyReason::Discharge);
        }
        // Then its first-party caveats, then its own third-party caveats.
        for c in d.caveats.iter().filter(|c| !c.is_third_party()) {
            let ok = match Claim::parse(&c.id) {
                Ok(Claim::NotBefore(t)) => self.now >= t,
                Ok(Claim::ExpiresAt(t)) => self.now < t,
                _ => false,
            };
            if !ok {
                return Err(DenyReason::Discharge);
            }
        }
        for (c, sig) in nested {
            self.satisfy(c, &sig)?;
        }
        Ok(())
    }
}

/// Checks the third-party caveats of an authenticated macaroon against the
/// supplied discharges. `sigs` holds the chain signature before each
/// third-party caveat of `top`, by caveat index.
pub(crate) fn check_discharges(
    top: &Macaroon,
    sigs: &[(usize, Zeroizing<Sig>)],
    discharges: &[Token],
    now: u64,
) -> Result<(), DenyReason> {
    if discharges.len() > MAX_DISCHARGES {
        return Err(DenyReason::Discharge);
    }
    let all = discharges
        .iter()
        .map(provider::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| DenyReason::Discharge)?;
    let mut state = Discharges {
        used: vec![false; all.len()],
        all,
        top_sig: top.signature,
        now,
    };
    for (index, sig) in sigs {
        let caveat = top.caveats.get(*index).ok_or(DenyReason::Discharge)?;
        state.satisfy(caveat, sig)?;
    }
    if state.used.iter().all(|u| *u) {
        Ok(())
    } else {
        Err(DenyReason::Discharge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_id_round_trips_and_is_authenticated() {
        let caveat = ThirdPartyCaveat::new("https://auth", &[4; 32], b"cid".to_vec()).unwrap();
        let sig = [9u8; 32];
        let c = caveat.caveat_with_nonce(&sig, &[1; 24]).unwrap();
        let vid = c.vid.unwrap();
        assert_eq!(vid.len(), VID_LEN);
        assert_eq!(&vid[..24], &[1; 24]);
        assert_eq!(*decrypt_key(&sig, &vid).unwrap(), *derive_key(&[4; 32]));
        assert!(decrypt_key(&[8; 32], &vid).is_none(), "wrong signature");
        let mut flipped = vid.clone();
        flipped[30] ^= 1;
        assert!(decrypt_key(&sig, &flipped).is_none(), "tampered");
        assert!(decrypt_key(&sig, &vid[..71]).is_none(), "truncated");
        assert!(format!("{caveat:?}").contains("redacted"));
    }
}
