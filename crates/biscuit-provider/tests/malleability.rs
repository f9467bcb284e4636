//! One credential, one lineage hash: every field the lineage hash covers admits one encoding, so no holder can make a twin of a (revoked) credential without a key.
//!
//! Each attack below first shows that biscuit-auth alone accepts the twin
//! (so the attack is real), and that the twin's lineage hash, computed here
//! from ADR 0002's layout independently of the provider, differs from the
//! original's (so revoking the original would not deny it); then that the
//! provider refuses the twin, its children, and every other entry point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use std::iter;

use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::format::schema::{self, proof::Content as Proof, public_key::Algorithm};
use biscuit_auth::{Biscuit, KeyPair, PrivateKey, PublicKey, UnverifiedBiscuit};
use captoken_biscuit_provider::wire::WireError;
use captoken_biscuit_provider::{BiscuitProvider, FORMAT};
use captoken_core_types::testing::workload;
use captoken_core_types::{
    Attenuation, Capability, Constraint, DenyReason, Grant, HolderSigningKey, LineageHash,
    RevocationWriter, Subject, Token, TokenProvider,
};
use common::*;
use p256::ecdsa::Signature as Ecdsa;
use prost::Message;

fn decode(token: &Token) -> schema::Biscuit {
    schema::Biscuit::decode(token.as_bytes()).unwrap()
}

fn encode(proto: &schema::Biscuit) -> Token {
    Token::new(FORMAT, proto.encode_to_vec())
}

/// `(r, n − s)` for a DER signature `(r, s)`: the other signature of the same
/// message under the same key, made without the key.
fn ecdsa_twin(sig: &[u8]) -> Vec<u8> {
    let (r, s) = Ecdsa::from_der(sig).unwrap().split_scalars();
    Ecdsa::from_scalars(r, -s)
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec()
}

fn is_low_s(sig: &[u8]) -> bool {
    Ecdsa::from_der(sig).unwrap().normalize_s().is_none()
}

/// The low-S form of a DER signature.
fn low_s(sig: &[u8]) -> Vec<u8> {
    if is_low_s(sig) {
        sig.to_vec()
    } else {
        ecdsa_twin(sig)
    }
}

/// `S + ℓ` in an Ed25519 signature `R || S`: verifies under the lenient
/// (non-strict) equation, and is another encoding of the same signature.
fn ed25519_twin(sig: &[u8]) -> Vec<u8> {
    const ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = sig.to_vec();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(ORDER[i]) + carry;
        out[32 + i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

/// The lineage hash of blocks `0..=k`, computed from ADR 0002's layout
/// without the provider: what a verifier that reads the fields as written
/// would compute for a twin.
fn adr_hash(proto: &schema::Biscuit, k: usize) -> LineageHash {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut bytes = Vec::new();
    for s in iter::once(&proto.authority)
        .chain(&proto.blocks)
        .take(k + 1)
    {
        // A third-party block: the marker, the external key, its signature.
        if let Some(e) = &s.external_signature {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
            bytes.extend_from_slice(&e.public_key.algorithm.to_be_bytes());
            put(&mut bytes, &e.public_key.key);
            put(&mut bytes, &e.signature);
        }
        put(&mut bytes, &s.block);
        bytes.extend_from_slice(&s.next_key.algorithm.to_be_bytes());
        put(&mut bytes, &s.next_key.key);
        put(&mut bytes, &s.signature);
        bytes.extend_from_slice(&s.version.unwrap_or(0).to_be_bytes());
    }
    LineageHash::compute(FORMAT, &bytes)
}

fn malformed(e: WireError) -> DenyReason {
    DenyReason::Malformed(e.describe())
}

/// The public half of the Ed25519 test key `k1` (seed 1), as biscuit-auth takes it.
fn k1_public() -> PublicKey {
    KeyPair::from_bytes(&[1; 32], Algorithm::Ed25519)
        .unwrap()
        .public()
}

/// The version 0 signature payload of a block (the authority's too) without
/// an external signature: block, next key algorithm (little-endian), next key.
fn v0_payload(block: &[u8], next: &schema::PublicKey) -> Vec<u8> {
    [block, &next.algorithm.to_le_bytes(), &next.key].concat()
}

fn next_secret(proto: &schema::Biscuit) -> Vec<u8> {
    match &proto.proof.content {
        Some(Proof::NextSecret(s)) => s.clone(),
        other => panic!("not an open token: {other:?}"),
    }
}

/// Asserts the whole attack on one twin: biscuit-auth alone accepts it under
/// `root`, its lineage hash at block `k` differs from the genuine token's,
/// and the provider refuses it with `why` everywhere, whether or not the
/// genuine credential `k` is revoked, while the genuine token verifies until
/// it is revoked. Returns the stores with credential `k` revoked.
fn assert_twin_refused(
    p: &BiscuitProvider,
    root: PublicKey,
    genuine: &Token,
    twin: &Token,
    k: usize,
    request: &captoken_core_types::Request,
    why: &DenyReason,
) {
    let (g, t) = (decode(genuine), decode(twin));
    assert_ne!(genuine, twin);
    // The attack is real: the twin's signatures verify...
    Biscuit::from(twin.as_bytes(), root).expect("biscuit-auth accepts the twin");
    // ...and a verifier reading the fields as written would give it another hash.
    assert_eq!(adr_hash(&g, k), p.lineage(genuine).unwrap()[k]);
    assert_ne!(adr_hash(&t, k), adr_hash(&g, k));
    // The provider refuses it, keyless entry points included.
    let stores = Stores::new();
    p.verify(genuine, request, &stores.cold()).unwrap();
    assert_eq!(reason(p.verify(twin, request, &stores.cold())), *why);
    assert!(p.lineage_hash(twin).is_err());
    assert!(p.lineage(twin).is_err());
    assert!(p.inspect(twin).is_err());
    assert!(p.parse_bytes(twin.as_bytes()).is_err());
    assert!(p.parse_text(&p.to_text(twin)).is_err());
    assert!(p.attenuate(twin, &workload::step(k + 1)).is_err());
    // With the genuine credential revoked, neither verifies.
    stores.revoked.revoke(adr_hash(&g, k)).unwrap();
    assert_eq!(
        reason(p.verify(genuine, request, &stores.cold())),
        DenyReason::Revoked
    );
    assert_eq!(reason(p.verify(twin, request, &stores.cold())), *why);
}

/// The workload chain after one step, then a block a holder appends with a
/// P-256 next key (signed with the previous Ed25519 key), then the workload's
/// second step, which captoken signs with that P-256 key. Returns the chain
/// with the P-256-signed block last, and the P-256 block alone.
fn chain_with_p256_block(p: &BiscuitProvider) -> (Token, Token) {
    let parent = chain(p, 1).pop().unwrap();
    let mut params = std::collections::HashMap::new();
    params.insert(
        "parent".to_owned(),
        biscuit_auth::builder::Term::Bytes(p.lineage_hash(&parent).unwrap().0.to_vec()),
    );
    let block = BlockBuilder::new()
        .code_with_params(
            "parent({parent}); check if true;",
            params,
            Default::default(),
        )
        .unwrap();
    let p256_next = KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1);
    let with_key = UnverifiedBiscuit::from(parent.as_bytes())
        .unwrap()
        .append_with_keypair(&p256_next, block)
        .unwrap();
    let with_key = Token::new(FORMAT, with_key.to_vec().unwrap());
    let signed = p.attenuate(&with_key, &workload::step(2)).unwrap();
    (signed, with_key)
}

#[test]
fn p256_block_signature_twin_is_refused() {
    // No P-256 root needed: whoever appends chooses the next key's algorithm.
    let p = provider();
    let (genuine, _) = chain_with_p256_block(&p);
    let proto = decode(&genuine);
    assert_eq!(
        proto.blocks[1].next_key.algorithm,
        Algorithm::Secp256r1 as i32
    );
    let last = &proto.blocks[2].signature;
    assert!(is_low_s(last), "attenuate writes low-S");
    let mut twin = proto.clone();
    twin.blocks[2].signature = ecdsa_twin(last);
    assert_twin_refused(
        &p,
        k1_public(),
        &genuine,
        &encode(&twin),
        3,
        &workload::request(2),
        &malformed(WireError::NonCanonicalSignature),
    );
}

#[test]
fn attenuating_with_a_p256_key_always_writes_low_s() {
    let p = provider();
    let (_, with_key) = chain_with_p256_block(&p);
    let stores = Stores::new();
    // A fresh next key each time, so each signature is independent: without
    // normalisation about half would be high-S (ecdsa 0.16 does not normalise).
    for _ in 0..24 {
        let child = p.attenuate(&with_key, &workload::step(2)).unwrap();
        let proto = decode(&child);
        assert!(is_low_s(&proto.blocks[2].signature));
        assert_eq!(proto.blocks[2].version, Some(1));
        p.verify(&child, &workload::request(2), &stores.cold())
            .unwrap();
    }
}

#[test]
fn p256_seal_twin_is_refused() {
    let p = provider();
    let stores = Stores::new();
    // A token whose last next key is P-256, sealed by its holder: the seal is
    // an ECDSA signature by that key.
    let (_, with_key) = chain_with_p256_block(&p);
    let sealed = UnverifiedBiscuit::from(with_key.as_bytes())
        .unwrap()
        .seal()
        .unwrap();
    let mut proto: schema::Biscuit = schema::Biscuit::decode(&*sealed.to_vec().unwrap()).unwrap();
    let Some(Proof::FinalSignature(seal)) = proto.proof.content.clone() else {
        panic!("sealed");
    };
    proto.proof.content = Some(Proof::FinalSignature(low_s(&seal)));
    let low = encode(&proto);
    let request = workload::request(1);
    p.verify(&low, &request, &stores.cold()).unwrap();
    // The seal is not in the lineage hash, but it is a signature: one form only.
    let mut twin = proto.clone();
    twin.proof.content = Some(Proof::FinalSignature(ecdsa_twin(&low_s(&seal))));
    let twin = encode(&twin);
    Biscuit::from(twin.as_bytes(), k1_public()).expect("biscuit-auth accepts the twin seal");
    assert_eq!(
        reason(p.verify(&twin, &request, &stores.cold())),
        malformed(WireError::NonCanonicalSignature)
    );
    assert!(p.lineage(&twin).is_err());
}

#[test]
fn p256_next_key_in_another_sec1_form_is_refused() {
    let p = provider();
    let (_, genuine) = chain_with_p256_block(&p);
    let proto = decode(&genuine);
    let key = &proto.blocks[1].next_key.key;
    assert_eq!(key.len(), 33, "biscuit-auth writes the compressed form");
    // The uncompressed form of the same point: biscuit-auth signs the key's
    // compressed re-encoding, so the signature still verifies.
    let point = p256::PublicKey::from_sec1_bytes(key).unwrap();
    let uncompressed = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false);
    let mut twin = proto.clone();
    twin.blocks[1].next_key.key = uncompressed.as_bytes().to_vec();
    assert_twin_refused(
        &p,
        k1_public(),
        &genuine,
        &encode(&twin),
        2,
        &workload::request(1),
        &malformed(WireError::NonCanonicalKey),
    );
}

#[test]
fn ed25519_unreduced_s_is_refused() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 1);
    for (k, genuine) in tokens.iter().enumerate() {
        let proto = decode(genuine);
        let mut twin = proto.clone();
        let signed = iter::once(&mut twin.authority)
            .chain(&mut twin.blocks)
            .nth(k)
            .unwrap();
        signed.signature = ed25519_twin(&signed.signature);
        assert_ne!(adr_hash(&twin, k), adr_hash(&proto, k));
        let twin = encode(&twin);
        // biscuit-auth verifies with `verify_strict`, which refuses S ≥ ℓ
        // (unless ed25519-dalek's `legacy_compatibility` is on); the provider
        // refuses it before any signature check, whatever the features.
        assert!(Biscuit::from(twin.as_bytes(), k1_public()).is_err());
        assert_eq!(
            reason(p.verify(&twin, &workload::request(k), &stores.cold())),
            malformed(WireError::NonCanonicalSignature)
        );
        assert!(p.lineage(&twin).is_err());
        assert!(p.parse_bytes(twin.as_bytes()).is_err());
    }
}

/// A capability whose authority uses no Datalog 3.3 feature (no `.type()`,
/// closures, `===`): biscuit-auth signs it with version 0 under an Ed25519 key.
fn plain_capability() -> Capability {
    Capability::builder(kid("k1"))
        .subject("agent:a")
        .valid_from(0)
        .valid_until(100)
        .depth(4)
        .grant(Grant::new("s", "t").with_arg("mode", Constraint::Exact("ro".into())))
        .build()
        .unwrap()
}

#[test]
fn issue_writes_signature_version_1_where_biscuit_auth_writes_0() {
    let p = provider();
    let stores = Stores::new();
    let root = p.issue(&plain_capability()).unwrap();
    let source = UnverifiedBiscuit::from(root.as_bytes())
        .unwrap()
        .print_block_source(0)
        .unwrap();
    assert!(!source.contains(".type()"), "{source}");
    // What biscuit-auth writes for the same authority by itself: version 0.
    let by_biscuit = forge_root(&source);
    assert_eq!(decode(&by_biscuit).authority.version, None);
    // What the provider writes: version 1, and so is every block after it.
    assert_eq!(decode(&root).authority.version, Some(1));
    let child = p
        .attenuate(&root, &captoken_core_types::Attenuation::new())
        .unwrap();
    assert_eq!(decode(&child).blocks[0].version, Some(1));
    let request =
        captoken_core_types::Request::new("agent:a", "s", "t", &captoken_core_types::FixedClock(1))
            .with_arg("mode", "ro");
    p.verify(&root, &request, &stores.cold()).unwrap();
    p.verify(&child, &request, &stores.cold()).unwrap();
    // biscuit-auth's version 0 root is refused everywhere.
    let v0 = malformed(WireError::SignatureVersion);
    assert_eq!(reason(p.verify(&by_biscuit, &request, &stores.cold())), v0);
    assert!(p.lineage(&by_biscuit).is_err());
    assert!(p.inspect(&by_biscuit).is_err());
    assert!(p.parse_bytes(by_biscuit.as_bytes()).is_err());
    assert!(
        p.attenuate(&by_biscuit, &captoken_core_types::Attenuation::new())
            .is_err()
    );
}

#[test]
fn signature_versions_other_than_1_are_refused() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 1);
    // A holder appends a block signed with version 0 by hand (the proof's
    // secret is the key that signs the next block): biscuit-auth accepts it.
    let parent = &tokens[1];
    let mut proto = decode(parent);
    let signer = KeyPair::from(
        &PrivateKey::from_bytes(&next_secret(&proto), biscuit_auth::Algorithm::Ed25519).unwrap(),
    );
    let next = KeyPair::new();
    let block = decode(&p.attenuate(parent, &workload::step(2)).unwrap()).blocks[1]
        .block
        .clone();
    let next_key = next.public().to_proto();
    proto.blocks.push(schema::SignedBlock {
        signature: signer
            .sign(&v0_payload(&block, &next_key))
            .unwrap()
            .to_bytes()
            .to_vec(),
        block,
        next_key,
        external_signature: None,
        version: None,
    });
    proto.proof.content = Some(Proof::NextSecret(next.private().to_bytes().to_vec()));
    let v0 = encode(&proto);
    Biscuit::from(v0.as_bytes(), k1_public()).expect("biscuit-auth accepts a v0 block");
    assert_eq!(
        reason(p.verify(&v0, &workload::request(2), &stores.cold())),
        malformed(WireError::SignatureVersion)
    );
    // Version 0 written explicitly, or an unknown version, on any block.
    for (k, token) in tokens.iter().enumerate() {
        for version in [None, Some(0), Some(2)] {
            let mut proto = decode(token);
            iter::once(&mut proto.authority)
                .chain(&mut proto.blocks)
                .nth(k)
                .unwrap()
                .version = version;
            let token = encode(&proto);
            assert_eq!(
                reason(p.verify(&token, &workload::request(k), &stores.cold())),
                malformed(WireError::SignatureVersion),
                "block {k}, version {version:?}"
            );
            assert!(p.lineage(&token).is_err());
        }
    }
}

/// A key-bound root and its delegation signed by the holder (a third-party block).
fn signed_delegation(p: &BiscuitProvider) -> (Token, Token) {
    let holder = HolderSigningKey::from_seed(&[7; 32]);
    let mut cap = workload::capability(kid("k1"));
    cap.subject = Subject::bound_to_key(workload::SUBJECT, holder.public().clone());
    let root = p.issue(&cap).unwrap();
    let step = Attenuation::new().delegate(Subject::new("agent:sub"));
    let child = p.attenuate_signed(&root, &step, &holder).unwrap();
    (root, child)
}

fn by_sub() -> captoken_core_types::Request {
    captoken_core_types::Request {
        subject: "agent:sub".into(),
        ..workload::request(0)
    }
}

#[test]
fn the_lineage_hash_covers_the_external_signature_and_key() {
    let p = provider();
    let (root, child) = signed_delegation(&p);
    let proto = decode(&child);
    let lineage = p.lineage(&child).unwrap();
    assert_eq!(lineage, vec![adr_hash(&proto, 0), adr_hash(&proto, 1)]);
    assert_eq!(lineage[0], p.lineage_hash(&root).unwrap());
    // The same block without the marker and the external fields hashes
    // otherwise (the provider reads it, though its signature no longer verifies).
    let mut stripped = proto.clone();
    stripped.blocks[0].external_signature = None;
    let stripped = encode(&stripped);
    assert_ne!(p.lineage(&stripped).unwrap()[1], lineage[1]);
    let stores = Stores::new();
    assert_eq!(
        reason(p.verify(&stripped, &by_sub(), &stores.cold())),
        DenyReason::BadSignature
    );
}

#[test]
fn external_signature_unreduced_s_is_refused() {
    let p = provider();
    let stores = Stores::new();
    let (_, genuine) = signed_delegation(&p);
    assert!(p.verify(&genuine, &by_sub(), &stores.cold()).is_ok());
    let proto = decode(&genuine);
    let mut twin = proto.clone();
    let external = twin.blocks[0].external_signature.as_mut().unwrap();
    external.signature = ed25519_twin(&external.signature);
    assert_ne!(adr_hash(&twin, 1), adr_hash(&proto, 1));
    let twin = encode(&twin);
    assert!(Biscuit::from(twin.as_bytes(), k1_public()).is_err());
    assert_eq!(
        reason(p.verify(&twin, &by_sub(), &stores.cold())),
        malformed(WireError::NonCanonicalSignature)
    );
    assert!(p.lineage(&twin).is_err());
    assert!(p.parse_bytes(twin.as_bytes()).is_err());
    assert!(p.inspect(&twin).is_err());
}

#[test]
fn external_keys_other_than_ed25519_and_a_third_party_authority_are_refused() {
    let p = provider();
    let stores = Stores::new();
    let (_, genuine) = signed_delegation(&p);
    let proto = decode(&genuine);
    let external = proto.blocks[0].external_signature.clone().unwrap();
    let refused = malformed(WireError::ThirdParty);
    let mut on_authority = proto.clone();
    on_authority.authority.external_signature = Some(external.clone());
    let mut p256 = proto.clone();
    p256.blocks[0]
        .external_signature
        .as_mut()
        .unwrap()
        .public_key
        .algorithm = Algorithm::Secp256r1 as i32;
    let mut long = proto.clone();
    long.blocks[0]
        .external_signature
        .as_mut()
        .unwrap()
        .public_key
        .key
        .push(0);
    let mut unknown = proto.clone();
    unknown.blocks[0]
        .external_signature
        .as_mut()
        .unwrap()
        .public_key
        .algorithm = 7;
    for twin in [on_authority, p256, long, unknown] {
        let twin = encode(&twin);
        assert_eq!(reason(p.verify(&twin, &by_sub(), &stores.cold())), refused);
        assert!(p.lineage(&twin).is_err());
        assert!(p.inspect(&twin).is_err());
    }
}

#[test]
fn the_text_form_admits_one_encoding() {
    let p = provider();
    let mut padded = 0;
    for token in chain(&p, 3) {
        let text = p.to_text(&token);
        assert_eq!(p.parse_text(&text).unwrap(), token);
        let mut variants = vec![
            format!("{text}\n"),
            format!(" {text}"),
            text.trim_end_matches('=').to_owned(),
            text.replace('-', "+").replace('_', "/"),
            format!("{text}="),
        ];
        // Unused low bits of the last character set: decodes to the same
        // bytes under a lenient decoder.
        let pad = text.len() - text.trim_end_matches('=').len();
        if pad > 0 {
            padded += 1;
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let at = text.len() - pad - 1;
            let v = alphabet
                .iter()
                .position(|c| *c == text.as_bytes()[at])
                .unwrap();
            let mut t = text.clone().into_bytes();
            t[at] = alphabet[v | 1];
            variants.push(String::from_utf8(t).unwrap());
        }
        for v in variants.into_iter().filter(|v| *v != text) {
            assert!(p.parse_text(&v).is_err(), "{v:?} parsed");
        }
    }
    assert!(padded > 0, "no token text with padding to test");
}

#[cfg(feature = "p256")]
mod p256_root {
    use super::*;
    use captoken_biscuit_provider::{BiscuitKeyring, RootSigningKey};

    const SCALAR: [u8; 32] = [5; 32];

    fn p256_provider() -> (BiscuitProvider, PublicKey, KeyPair) {
        let key = RootSigningKey::p256_from_scalar(kid("p1"), &SCALAR).unwrap();
        let public =
            PublicKey::from_bytes(&key.public().to_bytes(), biscuit_auth::Algorithm::Secp256r1)
                .unwrap();
        let mut ring = BiscuitKeyring::new();
        ring.insert(key).unwrap();
        let pair = KeyPair::from_bytes(&SCALAR, Algorithm::Secp256r1).unwrap();
        (BiscuitProvider::new(ring), public, pair)
    }

    #[test]
    fn issue_always_writes_low_s_version_1() {
        let (p, _, _) = p256_provider();
        let stores = Stores::new();
        // A fresh next key each time, so each authority signature is
        // independent: without normalisation about half would be high-S.
        for _ in 0..24 {
            let root = p.issue(&workload::capability(kid("p1"))).unwrap();
            let proto = decode(&root);
            assert!(is_low_s(&proto.authority.signature));
            assert_eq!(
                Ecdsa::from_der(&proto.authority.signature)
                    .unwrap()
                    .to_der()
                    .as_bytes(),
                &proto.authority.signature[..]
            );
            assert_eq!(proto.authority.version, Some(1));
            p.verify(&root, &workload::request(0), &stores.cold())
                .unwrap();
        }
    }

    /// The attack of issue 13 item 2: a P-256-rooted token's authority
    /// signature `(r, s)` replaced by `(r, n − s)`.
    #[test]
    fn authority_twin_is_refused_and_revocation_holds() {
        let (p, public, _) = p256_provider();
        let root = p.issue(&workload::capability(kid("p1"))).unwrap();
        let proto = decode(&root);
        let mut twin = proto.clone();
        twin.authority.signature = ecdsa_twin(&proto.authority.signature);
        let twin_token = encode(&twin);
        assert_twin_refused(
            &p,
            public,
            &root,
            &twin_token,
            0,
            &workload::request(0),
            &malformed(WireError::NonCanonicalSignature),
        );
        // Children: one a holder attenuates from the twin (its block signs
        // the twin's signature), and the genuine child moved onto the twin
        // (version 1 binds the previous signature, so biscuit-auth refuses it).
        let stores = Stores::new();
        stores
            .revoked
            .revoke(p.lineage_hash(&root).unwrap())
            .unwrap();
        let from_twin = append_raw(&twin_token, adr_hash(&twin, 0), "parent({parent});");
        Biscuit::from(from_twin.as_bytes(), public).expect("a valid child of the twin");
        let child = p.attenuate(&root, &workload::step(1)).unwrap();
        let mut moved = decode(&child);
        moved.authority = twin.authority.clone();
        let moved = encode(&moved);
        assert!(Biscuit::from(moved.as_bytes(), public).is_err());
        for token in [&from_twin, &moved] {
            assert_eq!(
                reason(p.verify(token, &workload::request(1), &stores.cold())),
                malformed(WireError::NonCanonicalSignature)
            );
        }
        assert_eq!(
            reason(p.verify(&child, &workload::request(1), &stores.cold())),
            DenyReason::Revoked
        );
    }

    /// Why version 0 is refused: a version 0 block does not sign its parent's
    /// signature, so the genuine child of a root moves onto the root's twin
    /// and still verifies in biscuit-auth, with new lineage hashes.
    #[test]
    fn v0_child_moves_onto_the_twin_root_and_is_refused() {
        let (p, public, pair) = p256_provider();
        let issued = p.issue(&workload::capability(kid("p1"))).unwrap();
        // The issuer's authority, signed with version 0 (what another
        // implementation, or an older biscuit-auth, may write).
        let mut root = decode(&issued);
        let payload = v0_payload(&root.authority.block, &root.authority.next_key);
        root.authority.signature = low_s(pair.sign(&payload).unwrap().to_bytes());
        root.authority.version = None;
        // A version 0 child, signed with the authority's next key.
        let signer = KeyPair::from(
            &PrivateKey::from_bytes(&next_secret(&root), biscuit_auth::Algorithm::Ed25519).unwrap(),
        );
        let next = KeyPair::new();
        let block = decode(&p.attenuate(&issued, &workload::step(1)).unwrap()).blocks[0]
            .block
            .clone();
        let next_key = next.public().to_proto();
        let mut child = root.clone();
        child.blocks.push(schema::SignedBlock {
            signature: signer
                .sign(&v0_payload(&block, &next_key))
                .unwrap()
                .to_bytes()
                .to_vec(),
            block,
            next_key,
            external_signature: None,
            version: None,
        });
        child.proof.content = Some(Proof::NextSecret(next.private().to_bytes().to_vec()));
        // The twin root, and the same child block on it.
        let twin_sig = ecdsa_twin(&root.authority.signature);
        let (mut twin_root, mut twin_child) = (root.clone(), child.clone());
        twin_root.authority.signature.clone_from(&twin_sig);
        twin_child.authority.signature = twin_sig;
        for (proto, what) in [
            (&root, "v0 root"),
            (&child, "v0 child"),
            (&twin_root, "twin root"),
            (&twin_child, "the child moved onto the twin root"),
        ] {
            Biscuit::from(encode(proto).as_bytes(), public)
                .unwrap_or_else(|e| panic!("biscuit-auth refuses the {what}: {e}"));
        }
        assert_ne!(adr_hash(&twin_root, 0), adr_hash(&root, 0));
        assert_ne!(adr_hash(&twin_child, 1), adr_hash(&child, 1));
        // The provider refuses all four, revoked or not.
        let stores = Stores::new();
        stores.revoked.revoke(adr_hash(&root, 0)).unwrap();
        for (proto, depth) in [(&root, 0), (&child, 1), (&twin_root, 0), (&twin_child, 1)] {
            let token = encode(proto);
            let verdict = p.verify(&token, &workload::request(depth), &stores.cold());
            assert_eq!(reason(verdict), malformed(WireError::SignatureVersion));
            assert!(p.lineage(&token).is_err());
        }
    }

    #[test]
    fn another_key_of_the_same_id_is_a_bad_signature() {
        // The authority's encoding is checked against the root key's
        // algorithm after the signature verified, so a P-256 token under an
        // Ed25519 key of the same id stays a bad signature, not a malformed token.
        let (p, _, _) = p256_provider();
        let root = p.issue(&workload::capability(kid("p1"))).unwrap();
        let other = provider_with([signing("p1", 5)]);
        assert_eq!(
            reason(other.verify(&root, &workload::request(0), &Stores::new().cold())),
            DenyReason::BadSignature
        );
    }
}
