//! One encoding per signature, per next key and per signature version, so that one credential has one lineage hash.
//!
//! The lineage hash of a Biscuit credential covers each block's signature,
//! next key and signature version as the token writes them ([`crate::wire`]).
//! Any of them that a holder could re-encode without a private key, with the
//! token still verifying, would give one credential a second lineage hash: a
//! revoked credential would have an unrevoked twin, and so would every child
//! attenuated from the twin. biscuit-auth 6.0.0 leaves these freedoms open,
//! and [`check`] closes each one:
//!
//! - **ECDSA P-256 signatures** (a P-256 root key, a P-256 next key chosen by
//!   whoever appended the previous block, or a seal made with one): `(r, s)`
//!   and `(r, n − s)` both verify, since p256 0.13 does not require low-S and
//!   ecdsa 0.16 does not normalise when it signs (about half the signatures
//!   it makes are high-S). Only the low-S form (`s ≤ (n − 1) / 2`), encoded
//!   exactly as `Signature::to_der` writes it, is accepted, and captoken
//!   writes only that form ([`finish_issued`], [`finish_appended`]).
//! - **Ed25519 signatures**: biscuit-auth verifies with ed25519-dalek's
//!   `verify_strict`, which refuses an unreduced `S` (`S + ℓ` verifies under
//!   the lenient equation) unless ed25519-dalek's `legacy_compatibility`
//!   feature is switched on anywhere in the build. The check here (64 bytes,
//!   `S < ℓ`) does not depend on that feature. `R` leaves no freedom: it is
//!   hashed as written into `k = H(R ‖ A ‖ M)`, and `verify_strict` compares
//!   it byte for byte with the canonical encoding of the recomputed point.
//! - **Next keys**: biscuit-auth signs a P-256 next key in its compressed SEC1
//!   form, re-encoded from the decoded point, but decodes any SEC1 form
//!   (uncompressed, compact), so the key's bytes in the token could change
//!   under the same signature. Only the compressed form is accepted. An
//!   Ed25519 next key is signed as the 32 bytes the token carries.
//! - **Signature versions**: a version 0 block signature does not cover the
//!   previous block's signature, so under version 0 a block moves unchanged
//!   onto any twin of its parent. biscuit-auth 6 writes version 1 for a block
//!   that uses Datalog 3.3, is signed or followed by a non-Ed25519 key, or
//!   follows a version 1 block, and version 0 otherwise; captoken requires
//!   version 1 in every block and re-signs an authority that biscuit-auth
//!   signed with version 0 ([`finish_issued`]), so every block appended after
//!   it is version 1 too.
//! - **External signatures** (third-party blocks, which captoken writes only
//!   for a holder-signed delegation, DESIGN.md §8): the authority never has
//!   one; the external key must be an Ed25519 key of 32 bytes (the holder
//!   keys captoken binds), and the external signature 64 bytes with `S < ℓ`,
//!   as for block signatures. biscuit-auth signs and verifies the external
//!   signature with the block's signature version, and version 1 (required
//!   above) makes it cover the previous block's signature, so a third-party
//!   block cannot move onto another token. The external key is not covered by
//!   the block signature (only the external signature is), but its 32 bytes
//!   are hashed into `k = H(R ‖ A ‖ M)` as written, so no other encoding of
//!   it verifies; the lineage hash covers both ([`crate::wire`]).

use std::iter;

use biscuit_auth::error::{Format as BiscuitFormat, Token as BiscuitError};
use biscuit_auth::format::schema::{self, public_key::Algorithm};
use biscuit_auth::{KeyPair, PublicKey};
use p256::ecdsa::Signature as EcdsaSignature;
use prost::Message;

use crate::wire::WireError;

/// The block signature version captoken requires and writes: the one
/// biscuit-auth 6 writes for Datalog 3.3 blocks, non-Ed25519 keys and every
/// block after a version 1 block.
pub(crate) const SIGNATURE_VERSION: u32 = 1;

/// The order ℓ = 2^252 + 27742317777372353535851937790883648493 of the
/// Ed25519 base point, little-endian (RFC 8032 §5.1).
const ED25519_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Is `sig` 64 bytes `R || S` with `S < ℓ` (little-endian)?
fn ed25519_canonical(sig: &[u8]) -> bool {
    let Some(s) = sig.get(32..).filter(|_| sig.len() == 64) else {
        return false;
    };
    // The most significant differing byte decides; S = ℓ is not below ℓ.
    s.iter()
        .rev()
        .zip(ED25519_ORDER.iter().rev())
        .find(|(a, b)| a != b)
        .is_some_and(|(a, b)| a < b)
}

/// Is `sig` a DER ECDSA P-256 signature with low S, encoded exactly as
/// `to_der` encodes the pair it decodes to?
fn p256_canonical(sig: &[u8]) -> bool {
    EcdsaSignature::from_der(sig)
        .is_ok_and(|s| s.normalize_s().is_none() && s.to_der().as_bytes() == sig)
}

/// Is `sig` in the one encoding accepted for a signature by a key of `alg`?
/// With `alg` unknown (a root key id the caller does not hold), the encoding
/// of either algorithm is accepted.
fn canonical(sig: &[u8], alg: Option<Algorithm>) -> bool {
    match alg {
        Some(Algorithm::Ed25519) => ed25519_canonical(sig),
        Some(Algorithm::Secp256r1) => p256_canonical(sig),
        None => ed25519_canonical(sig) || p256_canonical(sig),
    }
}

/// The algorithm of a next key, if its bytes are the encoding biscuit-auth signs.
fn canonical_key(key: &schema::PublicKey) -> Result<Algorithm, WireError> {
    let alg = Algorithm::from_i32(key.algorithm).ok_or(WireError::Container)?;
    let ok = match alg {
        Algorithm::Ed25519 => key.key.len() == 32,
        Algorithm::Secp256r1 => PublicKey::from_proto(key).is_ok_and(|k| k.to_bytes() == key.key),
    };
    if ok {
        Ok(alg)
    } else {
        Err(WireError::NonCanonicalKey)
    }
}

/// Is a third-party block's external signature in the one form accepted: an
/// Ed25519 key of 32 bytes, and a 64-byte signature with `S < ℓ`?
fn external_canonical(external: &schema::ExternalSignature) -> Result<(), WireError> {
    let key = &external.public_key;
    if key.algorithm != Algorithm::Ed25519 as i32 || key.key.len() != 32 {
        return Err(WireError::ThirdParty);
    }
    if !ed25519_canonical(&external.signature) {
        return Err(WireError::NonCanonicalSignature);
    }
    Ok(())
}

/// Checks that every block is signed with [`SIGNATURE_VERSION`], and that
/// every signature (the proof's seal and the external signatures of
/// third-party blocks included) and every next key is in its one accepted
/// encoding. Needs no key: each signature's algorithm is its predecessor's
/// next key's, and the authority's is `root` (the algorithm of the root key
/// the token's root key id selects, when known).
///
/// # Errors
/// [`WireError::SignatureVersion`], [`WireError::NonCanonicalSignature`],
/// [`WireError::NonCanonicalKey`], [`WireError::ThirdParty`] for an authority
/// with an external signature or an external key that is not an Ed25519 key
/// of 32 bytes, or [`WireError::Container`] for a next key of an unknown
/// algorithm.
pub(crate) fn check(proto: &schema::Biscuit, root: Option<Algorithm>) -> Result<(), WireError> {
    if proto.authority.external_signature.is_some() {
        return Err(WireError::ThirdParty);
    }
    let signed = iter::once(&proto.authority).chain(&proto.blocks);
    if signed.clone().any(|s| s.version != Some(SIGNATURE_VERSION)) {
        return Err(WireError::SignatureVersion);
    }
    let mut signer = root;
    for s in signed {
        if !canonical(&s.signature, signer) {
            return Err(WireError::NonCanonicalSignature);
        }
        if let Some(external) = &s.external_signature {
            external_canonical(external)?;
        }
        signer = Some(canonical_key(&s.next_key)?);
    }
    if let Some(schema::proof::Content::FinalSignature(seal)) = &proto.proof.content
        && !canonical(seal, signer)
    {
        return Err(WireError::NonCanonicalSignature);
    }
    Ok(())
}

/// Holds the authority signature to the encoding of `root`, the algorithm of
/// the root key that verified it: what [`check`] leaves to the caller when it
/// does not know the root key (it then accepts either algorithm's encoding).
///
/// # Errors
/// [`WireError::NonCanonicalSignature`].
pub(crate) fn check_authority(proto: &schema::Biscuit, root: Algorithm) -> Result<(), WireError> {
    if canonical(&proto.authority.signature, Some(root)) {
        Ok(())
    } else {
        Err(WireError::NonCanonicalSignature)
    }
}

fn decode(bytes: &[u8]) -> Result<schema::Biscuit, BiscuitError> {
    schema::Biscuit::decode(bytes).map_err(|e| {
        BiscuitError::Format(BiscuitFormat::DeserializationError(format!(
            "deserialization error: {e:?}"
        )))
    })
}

/// The low-S form of a DER P-256 signature, DER-encoded.
fn low_s(sig: &[u8]) -> Result<Vec<u8>, BiscuitError> {
    let parsed = EcdsaSignature::from_der(sig).map_err(|e| {
        BiscuitError::Format(BiscuitFormat::BlockSignatureDeserializationError(format!(
            "block signature deserialization error: {e:?}"
        )))
    })?;
    let low = parsed.normalize_s().unwrap_or(parsed);
    Ok(low.to_der().as_bytes().to_vec())
}

/// What biscuit-auth's `generate_authority_block_signature_payload_v1` signs:
/// the authority's signature payload of version 1.
fn authority_payload_v1(block: &[u8], next_key: &PublicKey) -> Vec<u8> {
    let key = next_key.to_bytes();
    let mut out = Vec::with_capacity(block.len() + key.len() + 64);
    out.extend_from_slice(b"\0BLOCK\0\0VERSION\0");
    out.extend_from_slice(&SIGNATURE_VERSION.to_le_bytes());
    out.extend_from_slice(b"\0PAYLOAD\0");
    out.extend_from_slice(block);
    out.extend_from_slice(b"\0ALGORITHM\0");
    out.extend_from_slice(&(next_key.algorithm() as i32).to_le_bytes());
    out.extend_from_slice(b"\0NEXTKEY\0");
    out.extend_from_slice(&key);
    out
}

/// Puts a root token biscuit-auth just built and signed with `root` into the
/// one form [`check`] accepts: an authority signed with version 0 (biscuit-auth
/// writes it when the authority uses no Datalog 3.3 feature and both keys are
/// Ed25519) is signed again with version 1, and a P-256 signature is made
/// low-S. Nothing else changes: the block, its next key and the proof (the
/// next key's secret) stay as they are.
///
/// # Errors
/// When the bytes do not decode or signing fails (neither happens to
/// biscuit-auth's own output).
pub(crate) fn finish_issued(bytes: &[u8], root: &KeyPair) -> Result<Vec<u8>, BiscuitError> {
    let mut proto = decode(bytes)?;
    let authority = &mut proto.authority;
    if authority.version != Some(SIGNATURE_VERSION) {
        let next_key = PublicKey::from_proto(&authority.next_key)?;
        let payload = authority_payload_v1(&authority.block, &next_key);
        authority.signature = root.sign(&payload)?.to_bytes().to_vec();
        authority.version = Some(SIGNATURE_VERSION);
    }
    if root.algorithm() == Algorithm::Secp256r1 {
        authority.signature = low_s(&authority.signature)?;
    }
    Ok(proto.encode_to_vec())
}

/// Makes the signature of the block biscuit-auth just appended low-S when
/// the key that signed it (the previous block's next key) is a P-256 key,
/// which happens only when a holder chose a P-256 next key. Its version
/// needs no care: biscuit-auth signs with version 1 after a version 1 block,
/// and always for a third-party block (whose external signature, made with
/// the holder's Ed25519 key, is canonical as made).
///
/// # Errors
/// When the bytes do not decode (never for biscuit-auth's own output).
pub(crate) fn finish_appended(bytes: Vec<u8>) -> Result<Vec<u8>, BiscuitError> {
    let mut proto = decode(&bytes)?;
    let signer = match proto.blocks.len() {
        0 => return Ok(bytes),
        1 => proto.authority.next_key.algorithm,
        n => proto
            .blocks
            .get(n - 2)
            .map_or(proto.authority.next_key.algorithm, |b| b.next_key.algorithm),
    };
    if signer != Algorithm::Secp256r1 as i32 {
        return Ok(bytes);
    }
    let Some(last) = proto.blocks.last_mut() else {
        return Ok(bytes);
    };
    last.signature = low_s(&last.signature)?;
    Ok(proto.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    /// `S` as a little-endian 256-bit sum `a + b` (no overflow for `S < 2^255`).
    fn add_le(a: &[u8], b: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
            out[i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        out
    }

    #[test]
    fn ed25519_s_must_be_reduced() {
        let with_s = |s: &[u8]| [&[7u8; 32][..], s].concat();
        let mut below = ED25519_ORDER;
        below[0] -= 1;
        assert!(ed25519_canonical(&with_s(&below)));
        assert!(ed25519_canonical(&with_s(&[0; 32])));
        assert!(!ed25519_canonical(&with_s(&ED25519_ORDER)));
        // S + ℓ: the malleated form of a valid signature.
        let small = [1u8; 32].map(|b| b & 0x0f);
        assert!(ed25519_canonical(&with_s(&small)));
        assert!(!ed25519_canonical(&with_s(&add_le(&small, &ED25519_ORDER))));
        assert!(!ed25519_canonical(&with_s(&[0xff; 32])));
        // Not 64 bytes.
        assert!(!ed25519_canonical(&[0; 63]));
        assert!(!ed25519_canonical(&[0; 65]));
        assert!(!ed25519_canonical(&[]));
    }

    #[test]
    fn p256_signatures_must_be_low_s_strict_der() {
        let pair = KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1);
        let (mut lows, mut highs) = (0, 0);
        for i in 0..64u8 {
            let sig = pair.sign(&[i]).unwrap().to_bytes().to_vec();
            let low = low_s(&sig).unwrap();
            assert!(p256_canonical(&low));
            let parsed = EcdsaSignature::from_der(&sig).unwrap();
            if parsed.normalize_s().is_some() {
                highs += 1;
                assert!(!p256_canonical(&sig));
                assert_ne!(low, sig);
            } else {
                lows += 1;
                assert_eq!(low, sig);
            }
            // Both forms verify: the malleability the check closes.
            let high = twin(&low);
            assert!(!p256_canonical(&high));
            let key = VerifyingKey::from_sec1_bytes(&pair.public().to_bytes()).unwrap();
            for form in [&low, &high] {
                let form = EcdsaSignature::from_der(form).unwrap();
                key.verify(&[i], &form).unwrap();
            }
        }
        // ecdsa 0.16 does not normalise P-256 signatures itself.
        assert!(lows > 0 && highs > 0, "{lows} low, {highs} high");
        // A non-minimal DER integer (r padded with a zero byte) is refused.
        let sig = low_s(pair.sign(b"x").unwrap().to_bytes()).unwrap();
        let (r_len, rest) = (usize::from(sig[3]), &sig[4..]);
        let mut padded = vec![0x30, sig[1] + 1, 0x02, sig[3] + 1, 0x00];
        padded.extend_from_slice(&rest[..r_len]);
        padded.extend_from_slice(&rest[r_len..]);
        assert!(!p256_canonical(&padded));
        // Trailing bytes, raw (r || s) form, and nothing are refused.
        assert!(!p256_canonical(&[&sig[..], &[0]].concat()));
        let raw = EcdsaSignature::from_der(&sig).unwrap().to_bytes().to_vec();
        assert!(!p256_canonical(&raw));
        assert!(!p256_canonical(&[]));
    }

    #[test]
    fn the_authority_is_held_to_the_root_algorithm() {
        let p256 = KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1);
        let ecdsa = low_s(p256.sign(b"x").unwrap().to_bytes()).unwrap();
        let ed = KeyPair::new().sign(b"x").unwrap().to_bytes().to_vec();
        let with = |sig: &[u8]| {
            let mut proto = schema::Biscuit::default();
            proto.authority.signature = sig.to_vec();
            proto
        };
        assert_eq!(check_authority(&with(&ecdsa), Algorithm::Secp256r1), Ok(()));
        assert_eq!(check_authority(&with(&ed), Algorithm::Ed25519), Ok(()));
        for (sig, alg) in [
            (&ecdsa, Algorithm::Ed25519),
            (&ed, Algorithm::Secp256r1),
            (&twin(&ecdsa), Algorithm::Secp256r1),
        ] {
            assert_eq!(
                check_authority(&with(sig), alg),
                Err(WireError::NonCanonicalSignature)
            );
        }
        // Without the root key's algorithm, either encoding passes, the high-S one not.
        assert!(canonical(&ecdsa, None) && canonical(&ed, None));
        assert!(!canonical(&twin(&ecdsa), None));
    }

    /// `(r, n − s)` in DER.
    fn twin(sig: &[u8]) -> Vec<u8> {
        let parsed = EcdsaSignature::from_der(sig).unwrap();
        let (r, s) = parsed.split_scalars();
        let flipped = EcdsaSignature::from_scalars(r, -s).unwrap();
        flipped.to_der().as_bytes().to_vec()
    }

    #[test]
    fn next_keys_must_be_in_the_signed_form() {
        let p256 = KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1).public();
        let compressed = p256.to_proto();
        assert_eq!(canonical_key(&compressed), Ok(Algorithm::Secp256r1));
        let point = p256::PublicKey::from_sec1_bytes(&compressed.key).unwrap();
        for form in [
            p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false)
                .as_bytes()
                .to_vec(),
            [&compressed.key[..], &[0]].concat(),
        ] {
            let key = schema::PublicKey {
                algorithm: compressed.algorithm,
                key: form,
            };
            assert_eq!(canonical_key(&key), Err(WireError::NonCanonicalKey));
        }
        let ed = KeyPair::new().public().to_proto();
        assert_eq!(canonical_key(&ed), Ok(Algorithm::Ed25519));
        let short = schema::PublicKey {
            algorithm: ed.algorithm,
            key: ed.key[..31].to_vec(),
        };
        assert_eq!(canonical_key(&short), Err(WireError::NonCanonicalKey));
        let unknown = schema::PublicKey {
            algorithm: 7,
            key: ed.key,
        };
        assert_eq!(canonical_key(&unknown), Err(WireError::Container));
        // Arbitrary bytes of any length are refused without a panic.
        for len in 0..80usize {
            for fill in [0u8, 2, 3, 4, 5, 6, 0xff] {
                let mut key = vec![fill; len];
                if let Some(first) = key.first_mut() {
                    *first = fill.min(7);
                }
                for algorithm in [0, 1] {
                    let key = schema::PublicKey {
                        algorithm,
                        key: key.clone(),
                    };
                    let _ = canonical_key(&key);
                }
                // Only 64 bytes can be an Ed25519 signature; none of these is DER.
                assert_eq!(canonical(&key, None), len == 64 && ed25519_canonical(&key));
            }
        }
    }

    #[test]
    fn issued_roots_are_version_1_and_verify() {
        use biscuit_auth::Biscuit;
        for alg in [
            biscuit_auth::Algorithm::Ed25519,
            biscuit_auth::Algorithm::Secp256r1,
        ] {
            let root = KeyPair::new_with_algorithm(alg);
            // No Datalog 3.3 feature: biscuit-auth signs an Ed25519 authority with version 0.
            let built = Biscuit::builder()
                .code("right(1);")
                .unwrap()
                .build(&root)
                .unwrap()
                .to_vec()
                .unwrap();
            let before = decode(&built).unwrap().authority.version;
            let want = if alg == biscuit_auth::Algorithm::Ed25519 {
                None
            } else {
                Some(1)
            };
            assert_eq!(before, want);
            let finished = finish_issued(&built, &root).unwrap();
            let proto = decode(&finished).unwrap();
            assert_eq!(proto.authority.version, Some(SIGNATURE_VERSION));
            assert_eq!(check(&proto, Some(root.algorithm())), Ok(()));
            // biscuit-auth verifies the re-signed authority, and appends version 1 after it.
            let token = Biscuit::from(&finished, root.public()).unwrap();
            let child = token
                .append(biscuit_auth::builder::BlockBuilder::new())
                .unwrap()
                .to_vec()
                .unwrap();
            let child = finish_appended(child).unwrap();
            let proto = decode(&child).unwrap();
            assert_eq!(proto.blocks[0].version, Some(SIGNATURE_VERSION));
            assert_eq!(check(&proto, Some(root.algorithm())), Ok(()));
        }
    }
}
