//! Inputs found by the fuzz targets (`fuzz/`), kept as regression tests of the HMAC provider.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

use captoken_core_types::testing::workload;
use captoken_core_types::{
    DenyReason, KeyId, MemoryLineageIndex, MemoryRevocationList, Token, TokenProvider,
    VerifyContext,
};
use captoken_hmac_provider::wire::{self, TAG_LEN, WireError};
use captoken_hmac_provider::{FORMAT, HmacKey, HmacKeyring, HmacProvider};
use hmac::Mac as _;

/// The fuzz targets' corpus key: 32 bytes of 0x01 under `k1`.
const SECRET: [u8; 32] = [1; 32];

fn provider() -> HmacProvider {
    HmacProvider::new(HmacKeyring::single(
        HmacKey::new(KeyId::new("k1").unwrap(), &SECRET).unwrap(),
    ))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Replaces the tag with a valid one, as only the key holder can.
fn retag(mut bytes: Vec<u8>) -> Vec<u8> {
    let signed = bytes.len() - TAG_LEN;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&SECRET).unwrap();
    mac.update(&bytes[..signed]);
    bytes[signed..].copy_from_slice(&mac.finalize().into_bytes());
    bytes
}

/// Refused by the decoder, by `inspect`, and by `verify` (which, under a valid
/// tag, names the body as malformed).
fn assert_refused(bytes: &[u8], valid_tag: bool) {
    let framed = wire::frame(bytes).unwrap();
    assert_eq!(wire::decode(&framed).err(), Some(WireError::Body));
    let p = provider();
    let token = Token::new(FORMAT, bytes.to_vec());
    assert!(p.inspect(&token).is_err());
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let denied = p
        .verify(
            &token,
            &workload::request(0),
            &VerifyContext::new(&revoked, &index),
        )
        .unwrap_err();
    let want = if valid_tag {
        DenyReason::Malformed("body does not decode")
    } else {
        DenyReason::BadSignature
    };
    assert_eq!(denied.reason(), &want);
}

/// decode, crash-f4b36b12 (found in wire version 1, rebuilt for version 2):
/// the workload at depth 4 with its two grants swapped (`read_file` written
/// before `list_dir`). postcard reads a set in any order, so the body decoded
/// to a capability whose canonical encoding is other bytes: one capability,
/// two bodies, two lineage hashes. Fixed by accepting only the canonical body.
#[test]
fn grants_out_of_order_are_malformed() {
    let p = provider();
    let stores = captoken_core_types::testing::Stores::new();
    let token = workload::chain(&p, &stores, 4).pop().unwrap();
    let framed = wire::frame(token.as_bytes()).unwrap();
    let cap = wire::decode(&framed).unwrap();
    // The same fields, with the grant set written as a sequence in reverse order.
    #[derive(serde::Serialize)]
    struct Swapped<'a> {
        id: captoken_core_types::TokenId,
        issued_at: u64,
        subject: &'a captoken_core_types::Subject,
        grants: Vec<&'a captoken_core_types::Grant>,
        not_before: u64,
        expires_at: u64,
        max_depth: u32,
        parent: Option<captoken_core_types::ParentRef>,
    }
    let swapped = Swapped {
        id: cap.id,
        issued_at: cap.issued_at,
        subject: &cap.subject,
        grants: cap.grants.iter().rev().collect(),
        not_before: cap.not_before,
        expires_at: cap.expires_at,
        max_depth: cap.max_depth,
        parent: cap.parent,
    };
    let header = &token.as_bytes()[..token.as_bytes().len() - TAG_LEN - framed.body.len()];
    let body = postcard::to_allocvec(&swapped).unwrap();
    assert_ne!(body, framed.body, "the swap changes the bytes");
    let bytes = [header, &body[..], &[0; TAG_LEN]].concat();
    assert_refused(&bytes, false);
    // Even under a valid tag: only the issuer's canonical bytes are a token.
    assert_refused(&retag(bytes), true);
}

/// The same class, found by the same property: an overlong varint (`0x81 0x00`
/// for 1) and a duplicated set member, both read by postcard.
#[test]
fn overlong_varints_and_duplicates_are_malformed() {
    // Header `02 02 "k1"`, id 16 x 0x07, issued_at 1, subject "a" without
    // holder binding, no grants, not_before 1, expires_at 2, max_depth 0, no
    // parent, then the tag.
    let head = unhex("02026b310707070707070707070707070707070701016100");
    let canonical = retag([&head[..], &unhex("0001020000"), &[0; TAG_LEN]].concat());
    assert!(wire::decode(&wire::frame(&canonical).unwrap()).is_ok());
    let overlong = retag([&head[..], &unhex("008100020000"), &[0; TAG_LEN]].concat());
    assert_refused(&overlong, true);
    // Two identical grants `s/t()`: a set of one, written twice.
    let duplicate = retag(
        [
            &head[..],
            &unhex("020173017400017301740001020000"),
            &[0; TAG_LEN],
        ]
        .concat(),
    );
    assert_refused(&duplicate, true);
}
