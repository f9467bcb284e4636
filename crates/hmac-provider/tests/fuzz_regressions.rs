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
    HmacProvider::new(HmacKeyring::from_keys([HmacKey::new(
        KeyId::new("k1").unwrap(),
        &SECRET,
    )
    .unwrap()]))
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

/// decode, crash-f4b36b12: the workload at depth 4 with its two grants swapped
/// (`fs,internal/read_file` written after `fs.internal/list_dir`). postcard
/// reads a set in any order, so the body decoded to a capability whose
/// canonical encoding is other bytes: one capability, two bodies, two lineage
/// hashes. Fixed by accepting only the canonical body.
const GRANTS_OUT_OF_ORDER: &str = concat!(
    "01026b31025061bc4fcecb5ff54279506695800d0f6167656e743a706c616e6e65722d3700020b66732e696e7465726e",
    "616c086c6973745f64697203056c696d69740400c80f046d6f6465010002726f047061746802162f7372762f64617461",
    "2f70312f70322f70332f70342f0b66732c696e7465726e616c09726561645f66696c6503056c696d69740400c80f046d",
    "6f6465010002726f047061746802162f7372762f646174612f70312f70322f70332f70342f80f2d6ca068c8ed7ca060c",
    "019c26ceb78e86e789d12c1a92c5267d915296975c3bb40031dee668851289d12b97e03f94a7afb38f752d90b89f9d50",
    "54ea251a94e0251ed9a34eda234f9fa5290083ad9acad4e20e5dba58f65b2b3d81",
);

#[test]
fn grants_out_of_order_are_malformed() {
    let bytes = unhex(GRANTS_OUT_OF_ORDER);
    assert_refused(&bytes, false);
    // Even under a valid tag: only the issuer's canonical bytes are a token.
    assert_refused(&retag(bytes), true);
}

/// The same class, found by the same property: an overlong varint (`0x81 0x00`
/// for 1) and a duplicated set member, both read by postcard.
#[test]
fn overlong_varints_and_duplicates_are_malformed() {
    // Header `01 02 "k1"`, id 16 x 0x07, subject "a" without holder key, no
    // grants, not_before 1, expires_at 2, max_depth 0, no parent, then the tag.
    let head = unhex("01026b3107070707070707070707070707070707016100");
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
