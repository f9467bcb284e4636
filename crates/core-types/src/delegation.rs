//! Signed delegation (DESIGN.md §8): the current holder's signature over a step that hands a key-bound capability on.
//!
//! A step that delegates away from a holder bound to a key must carry that
//! key's signature (Ed25519, or P-256 with the `p256` feature) over
//!
//! ```text
//! "captoken/delegate/v1" || len(format tag) || format tag || parent lineage hash || postcard(step)
//! ```
//!
//! where `postcard(step)` is the step with [`Attenuation::signed_by`] cleared.
//! The parent's lineage hash commits to the exact parent credential (for a
//! macaroon, to the chain's tag where the step begins), so a signature cannot
//! move to another token, even one of the same chain. Biscuit carries the same
//! rule natively, as a third-party block signed by the holder key.
//!
//! In the offline formats the holder appends the signed step itself
//! ([`crate::TokenProvider::attenuate_signed`]); in the re-issuing formats the
//! holder sends a [`DelegationRequest`] to the issuer, who re-issues only when
//! it verifies ([`crate::Reissuer::attenuate_requested`]).

use std::fmt;

use crate::attenuation::Attenuation;
use crate::capability::HolderKey;
use crate::error::{Error, ModelError};
use crate::lineage::LineageHash;
use crate::possession::{
    HolderSigningKey, ProofError, key_algorithm, read_key, verify_holder_signature,
};
use crate::provider::Format;

/// The domain separator every delegation signature covers.
pub const DELEGATION_DOMAIN: &[u8] = b"captoken/delegate/v1";
/// The version byte of a [`DelegationRequest`]'s binary form.
const REQUEST_VERSION: u8 = 1;
/// The smallest fixed part of a request: version, parent hash, issue time,
/// nonce, algorithm, an Ed25519 signer, signature.
const REQUEST_HEAD: usize = 1 + 32 + 8 + 16 + 1 + 32 + 64;

/// A holder's signature over one delegation step (Ed25519, or ECDSA P-256 as
/// `r || s`, low-S).
#[derive(Clone, PartialEq, Eq)]
pub struct HolderSignature {
    /// The key that signed.
    pub signer: HolderKey,
    /// The signature.
    pub signature: [u8; 64],
}

impl fmt::Debug for HolderSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderSignature")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// What a delegation signature covers (see the module documentation).
///
/// # Errors
/// [`Error::Model`] when the step is beyond the size bounds.
pub fn delegation_message(
    format: Format,
    parent: &LineageHash,
    step: &Attenuation,
) -> Result<Vec<u8>, Error> {
    step.check_bounds()?;
    let mut unsigned = step.clone();
    unsigned.signed_by = None;
    let body =
        postcard::to_allocvec(&unsigned).map_err(|_| Error::Malformed("step does not encode"))?;
    let tag = format.tag().as_bytes();
    let mut out = Vec::with_capacity(DELEGATION_DOMAIN.len() + 1 + tag.len() + 32 + body.len());
    out.extend_from_slice(DELEGATION_DOMAIN);
    // A format tag is at most Format::MAX_LEN = 32 bytes.
    out.push(u8::try_from(tag.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(tag);
    out.extend_from_slice(&parent.0);
    out.extend_from_slice(&body);
    Ok(out)
}

/// What a delegation request's signature covers: its own domain, the issue
/// time and nonce, then the [`delegation_message`] of the step.
fn request_message(
    format: Format,
    parent: &LineageHash,
    step: &Attenuation,
    issued_at: u64,
    nonce: &[u8; 16],
) -> Result<Vec<u8>, Error> {
    Ok([
        REQUEST_DOMAIN,
        &issued_at.to_be_bytes(),
        nonce,
        &delegation_message(format, parent, step)?,
    ]
    .concat())
}

impl HolderSignature {
    /// `key`'s signature over `step` taken from the credential whose lineage
    /// hash is `parent`, in `format`.
    ///
    /// # Errors
    /// [`Error::Model`] when the step is beyond the size bounds.
    pub fn sign(
        format: Format,
        parent: &LineageHash,
        step: &Attenuation,
        key: &HolderSigningKey,
    ) -> Result<Self, Error> {
        let message = delegation_message(format, parent, step)?;
        Ok(Self {
            signer: key.public().clone(),
            signature: key.sign(&message),
        })
    }

    /// Does this signature, by `holder`, cover `step` from `parent` in `format`?
    ///
    /// # Errors
    /// [`ModelError::DelegationSignature`] when the signer is not `holder` or
    /// the signature does not verify; [`Error::Model`] for a step beyond the bounds.
    pub fn check(
        &self,
        holder: &HolderKey,
        format: Format,
        parent: &LineageHash,
        step: &Attenuation,
    ) -> Result<(), Error> {
        if self.signer != *holder {
            return Err(ModelError::DelegationSignature.into());
        }
        let message = delegation_message(format, parent, step)?;
        if verify_holder_signature(&self.signer, &message, &self.signature) {
            Ok(())
        } else {
            Err(ModelError::DelegationSignature.into())
        }
    }
}

/// What a holder sends a re-issuing issuer to delegate a key-bound capability
/// on: the parent's lineage hash, the step, when it was made and a nonce, and
/// the holder's signature over all of them. The issuer accepts a request once,
/// while it is fresh (`Reissuer::attenuate_requested`): a captured request
/// cannot be replayed to mint more children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationRequest {
    /// The lineage hash of the credential the step is taken from.
    pub parent: LineageHash,
    /// The step, with `signed_by` unset.
    pub step: Attenuation,
    /// When the holder made the request (Unix seconds, signed).
    pub issued_at: u64,
    /// A fresh 128-bit nonce (signed).
    pub nonce: [u8; 16],
    /// The current holder's signature over `captoken/delegate-request/v1`,
    /// `issued_at`, `nonce` and the delegation message of the step.
    pub signature: HolderSignature,
}

/// The domain separator of a delegation request's signature.
const REQUEST_DOMAIN: &[u8] = b"captoken/delegate-request/v1";

impl DelegationRequest {
    /// The holder's signed request for `step` from the credential whose
    /// lineage hash is `parent` (`TokenProvider::lineage_hash`), made at
    /// `issued_at` with a fresh `nonce` ([`crate::Proof::nonce`]).
    ///
    /// # Errors
    /// [`Error::Model`] when the step is beyond the size bounds or has `signed_by` set.
    pub fn sign(
        format: Format,
        parent: LineageHash,
        step: &Attenuation,
        issued_at: u64,
        nonce: [u8; 16],
        key: &HolderSigningKey,
    ) -> Result<Self, Error> {
        if step.signed_by.is_some() {
            return Err(ModelError::SignerSetByHand.into());
        }
        let message = request_message(format, &parent, step, issued_at, &nonce)?;
        Ok(Self {
            parent,
            step: step.clone(),
            issued_at,
            nonce,
            signature: HolderSignature {
                signer: key.public().clone(),
                signature: key.sign(&message),
            },
        })
    }

    /// Is this request signed by `holder`, in `format`?
    ///
    /// # Errors
    /// [`ModelError::DelegationSignature`] when the signer is not `holder` or
    /// the signature does not verify.
    pub fn check_signature(&self, holder: &HolderKey, format: Format) -> Result<(), Error> {
        let message = request_message(
            format,
            &self.parent,
            &self.step,
            self.issued_at,
            &self.nonce,
        )?;
        if self.signature.signer == *holder
            && verify_holder_signature(holder, &message, &self.signature.signature)
        {
            Ok(())
        } else {
            Err(ModelError::DelegationSignature.into())
        }
    }

    /// The binary form: version 1, the parent hash, `issued_at` (8 bytes,
    /// big-endian), the nonce, the signer's algorithm byte (as in proofs: 1 =
    /// Ed25519, 2 = P-256) and key, the signature, then the step in postcard.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the step does not encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let signer = &self.signature.signer;
        let mut out = Vec::with_capacity(REQUEST_HEAD + 64);
        out.push(REQUEST_VERSION);
        out.extend_from_slice(&self.parent.0);
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.push(key_algorithm(signer));
        out.extend_from_slice(signer.as_bytes());
        out.extend_from_slice(&self.signature.signature);
        postcard::to_extend(&self.step, out).map_err(|_| Error::Malformed("step does not encode"))
    }

    /// Reads the binary form, within the step size bound. Nothing is verified
    /// here: the issuer checks the signature when it re-issues.
    ///
    /// # Errors
    /// [`Error::Malformed`] for anything that is not a request of this version
    /// within the bounds, [`Error::Model`] for a step beyond them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > REQUEST_HEAD + 1 + crate::bounds::MAX_STEP_LEN {
            return Err(Error::Malformed("delegation request too long"));
        }
        let short = || Error::Malformed("delegation request too short");
        let (&version, rest) = bytes.split_first().ok_or_else(short)?;
        if version != REQUEST_VERSION {
            return Err(Error::Malformed("unsupported delegation request version"));
        }
        let (parent, rest) = rest.split_first_chunk::<32>().ok_or_else(short)?;
        let (issued_at, rest) = rest.split_first_chunk::<8>().ok_or_else(short)?;
        let (nonce, rest) = rest.split_first_chunk::<16>().ok_or_else(short)?;
        let (&alg, rest) = rest.split_first().ok_or_else(short)?;
        let (signer, rest) = read_key(alg, rest).map_err(|e| match e {
            ProofError::Version => Error::Malformed("unsupported delegation signature algorithm"),
            ProofError::Key => Error::Malformed("delegation signer is not a valid key"),
            _ => short(),
        })?;
        let (signature, body) = rest.split_first_chunk::<64>().ok_or_else(short)?;
        let (step, rest): (Attenuation, _) = postcard::take_from_bytes(body)
            .map_err(|_| Error::Malformed("delegation request step does not decode"))?;
        if !rest.is_empty() {
            return Err(Error::Malformed("delegation request has trailing bytes"));
        }
        if step.signed_by.is_some() {
            return Err(ModelError::SignerSetByHand.into());
        }
        step.check_bounds()?;
        Ok(Self {
            parent: LineageHash(*parent),
            step,
            issued_at: u64::from_be_bytes(*issued_at),
            nonce: *nonce,
            signature: HolderSignature {
                signer,
                signature: *signature,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Subject, ToolRef};
    use crate::constraint::Constraint;

    const FORMAT: Format = Format::new("test-v1");

    fn step() -> Attenuation {
        Attenuation::new()
            .keep_only([ToolRef::new("fs", "read")])
            .constrain(
                ToolRef::new("fs", "read"),
                "path",
                Constraint::Prefix("/a/".into()),
            )
            .delegate(Subject::new("agent:sub"))
    }

    fn key(seed: u8) -> HolderSigningKey {
        HolderSigningKey::from_seed(&[seed; 32])
    }

    #[test]
    fn a_signature_covers_format_parent_step_and_signer() {
        let (holder, thief) = (key(1), key(2));
        let parent = LineageHash([7; 32]);
        let sig = HolderSignature::sign(FORMAT, &parent, &step(), &holder).unwrap();
        sig.check(holder.public(), FORMAT, &parent, &step())
            .unwrap();
        let refused = |r: Result<(), Error>| {
            assert!(matches!(
                r,
                Err(Error::Model(ModelError::DelegationSignature))
            ));
        };
        refused(sig.check(thief.public(), FORMAT, &parent, &step()));
        refused(sig.check(holder.public(), Format::new("test-v2"), &parent, &step()));
        refused(sig.check(holder.public(), FORMAT, &LineageHash([8; 32]), &step()));
        refused(sig.check(holder.public(), FORMAT, &parent, &step().max_depth(1)));
        let mut other = step();
        other.delegate = Some(Subject::new("agent:thief"));
        refused(sig.check(holder.public(), FORMAT, &parent, &other));
        // A thief's own signature is his, not the holder's.
        let by_thief = HolderSignature::sign(FORMAT, &parent, &step(), &thief).unwrap();
        refused(by_thief.check(holder.public(), FORMAT, &parent, &step()));
        // Flipping any bit of the signature breaks it.
        for i in 0..64 * 8 {
            let mut bad = sig.clone();
            bad.signature[i / 8] ^= 1 << (i % 8);
            refused(bad.check(holder.public(), FORMAT, &parent, &step()));
        }
        // The reader's `signed_by` is not covered: a signed step reads back with it set.
        let mut read = step();
        read.signed_by = Some(holder.public().clone());
        sig.check(holder.public(), FORMAT, &parent, &read).unwrap();
    }

    #[test]
    fn requests_round_trip_and_refuse_what_is_not_one() {
        let holder = key(1);
        let request =
            DelegationRequest::sign(FORMAT, LineageHash([7; 32]), &step(), 9, [3; 16], &holder)
                .unwrap();
        request.check_signature(holder.public(), FORMAT).unwrap();
        assert!(request.check_signature(key(2).public(), FORMAT).is_err());
        let mut later = request.clone();
        later.issued_at += 1;
        assert!(later.check_signature(holder.public(), FORMAT).is_err());
        let mut other_nonce = request.clone();
        other_nonce.nonce = [4; 16];
        assert!(
            other_nonce
                .check_signature(holder.public(), FORMAT)
                .is_err()
        );
        let bytes = request.to_bytes().unwrap();
        assert_eq!(DelegationRequest::from_bytes(&bytes).unwrap(), request);
        for n in 0..bytes.len() {
            assert!(
                DelegationRequest::from_bytes(&bytes[..n]).is_err(),
                "{n} bytes"
            );
        }
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert!(DelegationRequest::from_bytes(&other_version).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(DelegationRequest::from_bytes(&trailing).is_err());
        let huge = vec![1u8; REQUEST_HEAD + crate::bounds::MAX_STEP_LEN + 2];
        assert!(DelegationRequest::from_bytes(&huge).is_err());
        let mut signed = step();
        signed.signed_by = Some(holder.public().clone());
        assert!(matches!(
            DelegationRequest::sign(FORMAT, LineageHash([7; 32]), &signed, 9, [3; 16], &holder),
            Err(Error::Model(ModelError::SignerSetByHand))
        ));
    }
}
