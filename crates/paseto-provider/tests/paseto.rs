//! Behaviour of the PASETO providers beyond the shared conformance suite (mounted for both purposes before the proptests): wire forms, pinned encoding, canonical text, the wire version, keys and purposes, the claims schema, time forms, holder bindings, strict re-issuance, forged lineage, the reference differential.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::reference::authorize;
use captoken_core_types::testing::{self, workload};
use captoken_core_types::testing::{Stores, ancestors_of, deny_reason as reason};
use captoken_core_types::{
    Attenuation, AttenuationMode, Capability, DenyReason, Error, Format, HolderKey, KeyId,
    LineageHash, LineageIndex, ModelError, ParentRef, Request, Subject, Token, TokenId,
    TokenProvider,
};
use captoken_paseto_provider::{
    FORMAT_LOCAL, FORMAT_PUBLIC, IMPLICIT_ASSERTION, Local, LocalKey, LocalKeyring, MAX_TOKEN_LEN,
    PasetoLocalProvider, PasetoProvider, PasetoPublicProvider, Public, PublicKeyring, Purpose,
    SigningKey, VerifyingKey,
};
use pasetors::keys::{AsymmetricSecretKey, SymmetricKey};
use pasetors::version4::{LocalToken, PublicToken, V4};
use proptest::prelude::*;

fn kid(s: &str) -> KeyId {
    KeyId::new(s).unwrap()
}

/// Both PASETO purposes run the same behavioural tests.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Public,
    Local,
}

const KINDS: [Kind; 2] = [Kind::Public, Kind::Local];

impl Kind {
    /// A provider holding one key (secret included) of this id, made from `seed`.
    fn with(self, id: &str, seed: u8) -> Box<dyn TokenProvider> {
        match self {
            Self::Public => Box::new(public_with(id, seed)),
            Self::Local => Box::new(local_with(id, seed)),
        }
    }

    fn provider(self) -> Box<dyn TokenProvider> {
        self.with("k1", 1)
    }

    fn format(self) -> Format {
        match self {
            Self::Public => FORMAT_PUBLIC,
            Self::Local => FORMAT_LOCAL,
        }
    }

    fn header(self) -> &'static str {
        match self {
            Self::Public => "v4.public.",
            Self::Local => "v4.local.",
        }
    }
}

fn signing(id: &str, seed: u8) -> SigningKey {
    SigningKey::from_seed(kid(id), &[seed; 32]).unwrap()
}

fn local_with(id: &str, seed: u8) -> PasetoLocalProvider {
    PasetoLocalProvider::new(LocalKeyring::single(
        LocalKey::from_bytes(kid(id), &[seed; 32]).unwrap(),
    ))
}

fn public_with(id: &str, seed: u8) -> PasetoPublicProvider {
    PasetoPublicProvider::new(PublicKeyring::single(signing(id, seed)))
}

/// A verifier holding only the public half of key `seed`, under key id `id`.
fn verifier_with(id: &str, seed: u8) -> PasetoPublicProvider {
    let public =
        VerifyingKey::from_paserk(kid(id), &signing("x", seed).verifying_key().to_paserk())
            .unwrap();
    PasetoPublicProvider::new(PublicKeyring::single(public))
}

fn root_token(p: &dyn TokenProvider) -> Token {
    p.issue(&workload::capability(kid("k1"))).unwrap()
}

/// A workload chain of `depth` steps, every token recorded in the index; root first.
fn chain(p: &dyn TokenProvider, stores: &Stores, depth: usize) -> Vec<Token> {
    workload::chain(p, stores, depth)
}

fn at(now: u64) -> Request {
    Request {
        now,
        ..workload::request(0)
    }
}

/// The parts of a `v4.public` token: payload, signature, footer.
fn split_public(token: &Token) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let text = std::str::from_utf8(token.as_bytes()).unwrap();
    let (m, f) = text
        .strip_prefix("v4.public.")
        .unwrap()
        .split_once('.')
        .unwrap();
    let m = Base64UrlUnpadded::decode_vec(m).unwrap();
    let (payload, sig) = m.split_at(m.len() - 64);
    (
        payload.to_vec(),
        sig.to_vec(),
        Base64UrlUnpadded::decode_vec(f).unwrap(),
    )
}

/// Signs arbitrary payload, footer and implicit assertion with the Ed25519 key of `seed`, outside captoken.
fn sign_raw(seed: u8, payload: &[u8], footer: &[u8], implicit: &[u8]) -> Token {
    let mut secret = vec![seed; 32];
    secret.extend_from_slice(&signing("x", seed).verifying_key().to_bytes());
    let sk = AsymmetricSecretKey::<V4>::from(&secret).unwrap();
    let text = PublicToken::sign(&sk, payload, Some(footer), Some(implicit)).unwrap();
    Token::new(FORMAT_PUBLIC, text.into_bytes())
}

/// Encrypts arbitrary payload and implicit assertion under the local key of `seed`
/// (footer naming it), outside captoken.
fn encrypt_raw(seed: u8, payload: &[u8], implicit: &[u8]) -> Token {
    let key = SymmetricKey::<V4>::from(&[seed; 32]).unwrap();
    let lid = LocalKey::from_bytes(kid("x"), &[seed; 32])
        .unwrap()
        .paserk_id()
        .to_owned();
    let footer = format!(r#"{{"kid":"{lid}"}}"#);
    let text = LocalToken::encrypt(&key, payload, Some(footer.as_bytes()), Some(implicit)).unwrap();
    Token::new(FORMAT_LOCAL, text.into_bytes())
}

/// The workload root's claims (JSON), as captoken writes them.
fn root_claims() -> String {
    let (payload, _, _) = split_public(&root_token(&public_with("k1", 1)));
    String::from_utf8(payload).unwrap()
}

/// Seals `claims` as a token of `kind` under key `k1` of seed 1, outside captoken.
fn seal_raw(kind: Kind, claims: &str, implicit: &[u8]) -> Token {
    match kind {
        Kind::Public => {
            let footer = split_public(&root_token(&public_with("k1", 1))).2;
            sign_raw(1, claims.as_bytes(), &footer, implicit)
        }
        Kind::Local => encrypt_raw(1, claims.as_bytes(), implicit),
    }
}

#[test]
fn format_tags_are_version_2() {
    assert_eq!(FORMAT_PUBLIC.tag(), "paseto-v4-public.cap2");
    assert_eq!(FORMAT_LOCAL.tag(), "paseto-v4-local.cap2");
    assert_eq!(IMPLICIT_ASSERTION, b"captoken/paseto/v2");
}

/// One provider type serves both purposes; the aliases and constructors stay.
#[test]
fn one_generic_provider_serves_both_purposes() {
    fn format_of<P: Purpose>(p: &PasetoProvider<P>) -> Format {
        p.format()
    }
    let public: PasetoProvider<Public> = public_with("k1", 1);
    let local: PasetoProvider<Local> = local_with("k1", 1);
    assert_eq!(format_of(&public), FORMAT_PUBLIC);
    assert_eq!(format_of(&local), FORMAT_LOCAL);
    assert!(public.keys().get(&kid("k1")).is_some());
    let shown = format!("{public:?} {local:?}");
    assert!(shown.contains("paseto-v4-public.cap2") && shown.contains("paseto-v4-local.cap2"));
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn properties_state_the_formats() {
    let public = Kind::Public.provider().properties();
    assert_eq!(public.attenuation, AttenuationMode::Reissue);
    assert!(public.public_key_verification && public.deterministic_encoding);
    assert!(!public.third_party_caveats);
    let local = Kind::Local.provider().properties();
    assert_eq!(local.attenuation, AttenuationMode::Reissue);
    assert!(!local.public_key_verification && !local.deterministic_encoding);
    assert_eq!(Kind::Public.provider().format(), FORMAT_PUBLIC);
    assert_eq!(Kind::Local.provider().format(), FORMAT_LOCAL);
}

#[test]
fn round_trip_binary_and_text() {
    for kind in KINDS {
        let p = kind.provider();
        let stores = Stores::new();
        let token = root_token(&*p);
        let text = p.to_text(&token);
        assert!(text.starts_with(kind.header()), "{kind:?}");
        assert_eq!(
            text.as_bytes(),
            token.as_bytes(),
            "the binary form is the text"
        );
        let back = p.parse_text(&text).unwrap();
        assert_eq!(back, token);
        assert_eq!(p.parse_bytes(token.as_bytes()).unwrap(), token);
        let verified = p
            .verify(&back, &workload::request(0), &stores.cold())
            .unwrap();
        assert_eq!(verified.token_id, TokenId([0x5a; 16]));
        assert_eq!(verified.key_id, kid("k1"));
        assert_eq!(verified.chain_len, 0);
        assert_eq!(verified.format, kind.format());
        assert_eq!(verified.issued_at, workload::NOT_BEFORE);
        assert_eq!(verified.holder, Subject::new(workload::SUBJECT));
        assert_eq!(verified.lineage_hash, p.lineage_hash(&token).unwrap());
        assert_eq!(
            verified.lineage_hash,
            LineageHash::compute(kind.format(), text.as_bytes())
        );
        let inspected = p.inspect(&token).unwrap();
        assert_eq!(inspected.format, kind.format());
        assert_eq!(inspected.capability, workload::capability(kid("k1")));
        assert!(inspected.declared_parents.is_empty() && inspected.steps.is_empty());
    }
}

#[test]
fn public_encoding_is_deterministic_and_pinned() {
    let p = Kind::Public.provider();
    assert_eq!(root_token(&*p), root_token(&*p));
    // The encoding is a compatibility promise: this golden token pins it.
    // `interop.py` re-signs its payload and footer with pyseto and gets the same text.
    assert_eq!(p.to_text(&root_token(&*p)), GOLDEN_ROOT);
    // v4.local encrypts under a random nonce.
    let l = Kind::Local.provider();
    assert_ne!(root_token(&*l), root_token(&*l));
}

/// The workload root under the key of seed `[1; 32]` named `k1`.
const GOLDEN_ROOT: &str = "v4.public.eyJpc3MiOiJrMSIsInN1YiI6ImFnZW50OnBsYW5uZXItNyIsImp0aSI6IjVhNWE1YTVhNWE1YTVhNWE1YTVhNWE1YTVhNWE1YTVhIiwiaWF0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJuYmYiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImV4cCI6IjIwMjYtMDEtMDFUMDE6MDA6MDBaIiwiZ3JhbnRzIjpbeyJzZXJ2ZXIiOiJmcy5pbnRlcm5hbCIsInRvb2wiOiJsaXN0X2RpciIsImFyZ3MiOnsibGltaXQiOnsicmFuZ2UiOlswLDEwMDBdfSwibW9kZSI6eyJlcSI6InJvIn0sInBhdGgiOnsicGF0aCI6Ii9zcnYvZGF0YS8ifX19LHsic2VydmVyIjoiZnMuaW50ZXJuYWwiLCJ0b29sIjoicmVhZF9maWxlIiwiYXJncyI6eyJsaW1pdCI6eyJyYW5nZSI6WzAsMTAwMF19LCJtb2RlIjp7ImVxIjoicm8ifSwicGF0aCI6eyJwYXRoIjoiL3Nydi9kYXRhLyJ9fX1dLCJtYXhfZGVwdGgiOjE2fSHl7IvS-iwd8Z7T26c6oQfr45F4Wm9MCDP2kTELt3N0pQ9OHzRlRbiq5upF_9YofX5bk8yVfCyqxJeQDZWZpAo.eyJraWQiOiJrNC5waWQub0ZrNFV1VUktZm51eVVtck1oZ0Q1VGdDUmttVEtIRGRtMjZ2UzFYTl83cUMifQ";

/// Wire version 1's golden workload root (format `paseto-v4-public`, implicit
/// assertion `captoken/paseto/claims/v1`) under the same key: refused by version 2.
const V1_GOLDEN_ROOT: &str = "v4.public.eyJpc3MiOiJrMSIsInN1YiI6ImFnZW50OnBsYW5uZXItNyIsImp0aSI6IjVhNWE1YTVhNWE1YTVhNWE1YTVhNWE1YTVhNWE1YTVhIiwiaWF0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJuYmYiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImV4cCI6IjIwMjYtMDEtMDFUMDE6MDA6MDBaIiwiZ3JhbnRzIjpbeyJzZXJ2ZXIiOiJmcy5pbnRlcm5hbCIsInRvb2wiOiJsaXN0X2RpciIsImFyZ3MiOnsibGltaXQiOnsicmFuZ2UiOlswLDEwMDBdfSwibW9kZSI6eyJlcSI6InJvIn0sInBhdGgiOnsicHJlZml4IjoiL3Nydi9kYXRhLyJ9fX0seyJzZXJ2ZXIiOiJmcy5pbnRlcm5hbCIsInRvb2wiOiJyZWFkX2ZpbGUiLCJhcmdzIjp7ImxpbWl0Ijp7InJhbmdlIjpbMCwxMDAwXX0sIm1vZGUiOnsiZXEiOiJybyJ9LCJwYXRoIjp7InByZWZpeCI6Ii9zcnYvZGF0YS8ifX19XSwibWF4X2RlcHRoIjoxNn1MbIVKCLmTjT0vWEOu-exWYVhj7HiE2nRWqSyBp1SkMhqYt8uTAlONFNhd7LwujgHIFeF7wy1I-0H-Kd8uWIEF.eyJraWQiOiJrNC5waWQub0ZrNFV1VUktZm51eVVtck1oZ0Q1VGdDUmttVEtIRGRtMjZ2UzFYTl83cUMifQ";

/// DESIGN.md §7 workload sizes, binary and text (the same bytes), at each depth.
#[test]
fn reference_workload_sizes() {
    for (kind, expected) in [
        (Kind::Public, WORKLOAD_SIZES_PUBLIC),
        (Kind::Local, WORKLOAD_SIZES_LOCAL),
    ] {
        let p = kind.provider();
        let stores = Stores::new();
        let tokens = chain(&*p, &stores, 16);
        let sizes: Vec<(usize, usize)> = workload::DEPTHS
            .iter()
            .map(|&d| (d, tokens[d].as_bytes().len()))
            .collect();
        for &(d, n) in &sizes {
            assert_eq!(p.to_text(&tokens[d]).len(), n);
            eprintln!("{kind:?} depth {d}: {n} bytes (binary = text)");
        }
        assert_eq!(sizes, expected, "{kind:?}");
    }
}

const WORKLOAD_SIZES_PUBLIC: [(usize, usize); 6] = [
    (0, 772),
    (1, 985),
    (2, 993),
    (4, 1009),
    (8, 1040),
    (16, 1123),
];
/// Shorter than `v4.public` by the header (`v4.local.`: one byte) and, below
/// the root, by the parent's format tag (`paseto-v4-local.cap2`: one more byte
/// of JSON, one or two of base64); nonce and tag (64 bytes) replace the signature.
const WORKLOAD_SIZES_LOCAL: [(usize, usize); 6] = [
    (0, 771),
    (1, 983),
    (2, 991),
    (4, 1007),
    (8, 1038),
    (16, 1120),
];

/// Anything appended to a token, even a well-formed extra segment (`.e30`, an
/// empty JSON object), is refused when parsing, before any cryptography.
#[test]
fn appended_text_is_refused_at_parsing() {
    for kind in KINDS {
        let p = kind.provider();
        let token = root_token(&*p);
        for suffix in [&b"A"[..], b".", b"=", b"\n", b".e30"] {
            let mut longer = token.as_bytes().to_vec();
            longer.extend_from_slice(suffix);
            assert!(p.parse_bytes(&longer).is_err(), "{kind:?}: {suffix:?}");
        }
    }
}

#[test]
fn non_canonical_text_is_refused() {
    let p = Kind::Public.provider();
    let stores = Stores::new();
    let text = p.to_text(&root_token(&*p));
    let (head, footer) = text.rsplit_once('.').unwrap();
    let variants = [
        // No footer at all, and an empty footer.
        head.to_owned(),
        format!("{head}."),
        // Padding, whitespace, standard-alphabet base64.
        format!("{text}="),
        format!("{head}.{footer}=="),
        format!(" {text}"),
        text.replace('-', "+").replace('_', "/"),
        // Upper-case header.
        text.replacen("v4.public.", "V4.PUBLIC.", 1),
    ];
    for v in variants {
        if v == text {
            continue;
        }
        assert!(p.parse_text(&v).is_err(), "{v:.40}");
        let r = p.verify(
            &Token::new(FORMAT_PUBLIC, v.clone().into_bytes()),
            &workload::request(0),
            &stores.cold(),
        );
        assert!(r.is_err(), "{v:.40}");
    }
    // The same signed parts re-encoded with non-zero trailing bits in the last
    // base64 character (a second text for one token) are refused.
    let last = footer.as_bytes()[footer.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.iter().position(|c| *c == last).unwrap();
    for other in 1..4 {
        let mut v = text.clone().into_bytes();
        let n = v.len();
        v[n - 1] = alphabet[(pos & !3) | ((pos + other) & 3)];
        assert!(p.parse_bytes(&v).is_err());
    }
}

#[test]
fn wrong_key_unknown_key_and_mismatched_issuer_are_denied() {
    let stores = Stores::new();
    let req = workload::request(0);
    for kind in KINDS {
        let token = root_token(&*kind.provider());
        // The same key id under another key: the footer's PASERK id is unknown.
        assert_eq!(
            reason(kind.with("k1", 2).verify(&token, &req, &stores.cold())),
            DenyReason::UnknownKey,
            "{kind:?}"
        );
        // The verifier holds the key, but under another key id than the token's `iss`.
        assert_eq!(
            reason(kind.with("k2", 1).verify(&token, &req, &stores.cold())),
            DenyReason::UnknownKey,
            "{kind:?}"
        );
        // Issuing under a key the provider does not hold is an error.
        assert!(matches!(
            kind.with("k2", 1).issue(&workload::capability(kid("k1"))),
            Err(Error::UnknownKey(_))
        ));
    }
    // A token signed by one key whose footer names another key the verifier holds.
    let signed_by_2 = root_token(&public_with("k1", 2));
    let (payload, _, _) = split_public(&signed_by_2);
    let footer_of_1 = split_public(&root_token(&public_with("k1", 1))).2;
    let forged = sign_raw(2, &payload, &footer_of_1, IMPLICIT_ASSERTION);
    assert_eq!(
        reason(verifier_with("k1", 1).verify(&forged, &req, &stores.cold())),
        DenyReason::BadSignature
    );
}

#[test]
fn a_verifier_needs_only_the_public_key_and_cannot_issue() {
    let stores = Stores::new();
    let issuer = public_with("k1", 1);
    let verifier = verifier_with("k1", 1);
    let tokens = chain(&issuer, &stores, 2);
    assert!(
        verifier
            .verify(&tokens[2], &workload::request(2), &stores.cold())
            .is_ok()
    );
    assert!(matches!(
        verifier.issue(&workload::capability(kid("k1"))),
        Err(Error::Key(captoken_core_types::KeyError::VerifyOnly(_)))
    ));
    assert!(matches!(
        verifier.attenuate(&tokens[0], &workload::step(1)),
        Err(Error::Key(captoken_core_types::KeyError::NoSigningKey))
    ));
    // An issuer that does not hold the parent's key at all.
    assert!(matches!(
        public_with("k1", 3).attenuate(&tokens[0], &workload::step(1)),
        Err(Error::UnknownKey(id)) if id.as_str().starts_with("k4.pid.")
    ));
}

#[test]
fn tokens_signed_for_another_purpose_are_denied() {
    let stores = Stores::new();
    let req = workload::request(0);
    let verifier = verifier_with("k1", 1);
    let (payload, _, footer) = split_public(&root_token(&public_with("k1", 1)));
    // Built outside captoken with the right pieces: accepted.
    let same = sign_raw(1, &payload, &footer, IMPLICIT_ASSERTION);
    assert!(verifier.verify(&same, &req, &stores.cold()).is_ok());
    // The same claims signed by the same key without captoken's implicit assertion,
    // or with another one, are another application's tokens.
    for implicit in [
        &b""[..],
        b"captoken/paseto/claims/v1",
        b"captoken/paseto/claims/v2",
        b"captoken/paseto/v1",
        b"captoken/paseto/v3",
        b"session",
    ] {
        let other = sign_raw(1, &payload, &footer, implicit);
        assert_eq!(
            reason(verifier.verify(&other, &req, &stores.cold())),
            DenyReason::BadSignature
        );
    }
}

#[test]
fn signed_claims_outside_the_schema_are_denied() {
    let stores = Stores::new();
    let req = workload::request(0);
    let verifier = verifier_with("k1", 1);
    let (payload, _, footer) = split_public(&root_token(&public_with("k1", 1)));
    let json = String::from_utf8(payload).unwrap();
    let edits = [
        (r#""max_depth":16"#, r#""max_depth":16,"aud":"gateway-2""#),
        (r#""max_depth":16"#, r#""max_depth":16,"max_depth":16"#),
        (r#""exp":"2026-01-01T01:00:00Z""#, r#""exp":1767229200"#),
        (r#""iss":"k1""#, r#""iss":"k2""#),
        (r#"{"eq":"ro"}"#, r#"{"eq":"ro","any":1}"#),
    ];
    for (from, to) in edits {
        let edited = json.replacen(from, to, 1);
        assert_ne!(edited, json);
        let token = sign_raw(1, edited.as_bytes(), &footer, IMPLICIT_ASSERTION);
        let r = reason(verifier.verify(&token, &req, &stores.cold()));
        assert!(
            matches!(r, DenyReason::Malformed(_) | DenyReason::UnknownKey),
            "{to}: {r:?}"
        );
    }
    // Footers other than exactly {"kid": …}.
    for footer in [&b""[..], b"{}", br#"{"kid":"k4.pid.x","wpk":"y"}"#] {
        let token = sign_raw(1, json.as_bytes(), footer, IMPLICIT_ASSERTION);
        assert!(matches!(
            reason(verifier.verify(&token, &req, &stores.cold())),
            DenyReason::Malformed(_)
        ));
    }
}

#[test]
fn time_edges_use_the_request_clock() {
    for kind in KINDS {
        let p = kind.provider();
        let stores = Stores::new();
        let token = root_token(&*p);
        let (nbf, exp) = (
            workload::NOT_BEFORE,
            workload::NOT_BEFORE + workload::VALIDITY,
        );
        assert_eq!(
            reason(p.verify(&token, &at(nbf - 1), &stores.cold())),
            DenyReason::NotYetValid
        );
        assert!(p.verify(&token, &at(nbf), &stores.cold()).is_ok());
        assert!(p.verify(&token, &at(exp - 1), &stores.cold()).is_ok());
        assert_eq!(
            reason(p.verify(&token, &at(exp), &stores.cold())),
            DenyReason::Expired
        );
        // Far from the wall clock in both directions: only the request's `now` counts.
        let mut cap = workload::capability(kid("k1"));
        cap.not_before = 8_000_000_000;
        cap.expires_at = 8_000_000_010;
        let future = p.issue(&cap).unwrap();
        assert!(
            p.verify(&future, &at(8_000_000_005), &stores.cold())
                .is_ok()
        );
        assert_eq!(
            reason(p.verify(&future, &at(8_000_000_010), &stores.cold())),
            DenyReason::Expired
        );
        cap.not_before = 0;
        cap.expires_at = 10;
        let ancient = p.issue(&cap).unwrap();
        assert!(p.verify(&ancient, &at(9), &stores.cold()).is_ok());
        // Times RFC 3339 cannot write are refused at issue.
        cap.expires_at = u64::MAX;
        assert!(matches!(p.issue(&cap), Err(Error::Unsupported(_))));
        cap.expires_at = 10;
        cap.issued_at = u64::MAX;
        assert!(matches!(p.issue(&cap), Err(Error::Unsupported(_))));
    }
}

/// `iat` is the capability's own issue time: signed, reported in
/// `Verified::issued_at`, and not a validity bound (only `nbf` and `exp` are,
/// as in the reference authorizer).
#[test]
fn issued_at_is_signed_and_reported() {
    for kind in KINDS {
        let p = kind.provider();
        let stores = Stores::new();
        let mut cap = workload::capability(kid("k1"));
        cap.issued_at = workload::NOT_BEFORE - 86_400;
        let token = p.issue(&cap).unwrap();
        let verified = p
            .verify(&token, &workload::request(0), &stores.cold())
            .unwrap();
        assert_eq!(
            verified.issued_at,
            workload::NOT_BEFORE - 86_400,
            "{kind:?}"
        );
        assert_eq!(p.inspect(&token).unwrap().capability, cap);
        // A re-issued child keeps the capability's issue time (Capability::attenuate).
        let child = p.attenuate(&token, &workload::step(1)).unwrap();
        stores
            .index
            .record(p.index_entry(&token).unwrap().unwrap())
            .unwrap();
        let verified = p
            .verify(&child, &workload::request(1), &stores.cold())
            .unwrap();
        assert_eq!(verified.issued_at, workload::NOT_BEFORE - 86_400);
        assert_eq!(verified.chain_len, 1);
    }
    // Changing the signed `iat` breaks the signature.
    let p = public_with("k1", 1);
    let token = root_token(&p);
    let (payload, sig, footer) = split_public(&token);
    let json = String::from_utf8(payload).unwrap();
    let edited = json.replacen(
        r#""iat":"2026-01-01T00:00:00Z""#,
        r#""iat":"2026-01-01T00:00:01Z""#,
        1,
    );
    assert_ne!(edited, json);
    let text = format!(
        "v4.public.{}.{}",
        Base64UrlUnpadded::encode_string(&[edited.as_bytes(), &sig].concat()),
        Base64UrlUnpadded::encode_string(&footer)
    );
    assert_eq!(
        reason(p.verify(
            &Token::new(FORMAT_PUBLIC, text.into_bytes()),
            &workload::request(0),
            &Stores::new().cold()
        )),
        DenyReason::BadSignature
    );
}

#[test]
fn foreign_time_forms_are_honoured_and_iat_is_no_bound() {
    let stores = Stores::new();
    let verifier = verifier_with("k1", 1);
    let (payload, _, footer) = split_public(&root_token(&public_with("k1", 1)));
    let json = String::from_utf8(payload).unwrap();
    let nbf = workload::NOT_BEFORE;
    // Offsets and fractions as other implementations write them: nbf 30.5 s
    // later, exp unchanged, iat an hour after the window opens.
    let edited = json
        .replacen(
            r#""iat":"2026-01-01T00:00:00Z""#,
            r#""iat":"2026-01-01T02:00:00.25+01:00""#,
            1,
        )
        .replacen(
            r#""nbf":"2026-01-01T00:00:00Z""#,
            r#""nbf":"2026-01-01T01:00:30.5+01:00""#,
            1,
        )
        .replacen(
            r#""exp":"2026-01-01T01:00:00Z""#,
            r#""exp":"2025-12-31T20:00:00-05:00""#,
            1,
        );
    let token = sign_raw(1, edited.as_bytes(), &footer, IMPLICIT_ASSERTION);
    assert_eq!(
        reason(verifier.verify(&token, &at(nbf + 30), &stores.cold())),
        DenyReason::NotYetValid
    );
    let verified = verifier
        .verify(&token, &at(nbf + 31), &stores.cold())
        .unwrap();
    // A fractional time rounds up to the next second.
    assert_eq!(verified.issued_at, nbf + 3601);
    assert!(
        verifier
            .verify(&token, &at(nbf + 3599), &stores.cold())
            .is_ok()
    );
    assert_eq!(
        reason(verifier.verify(&token, &at(nbf + 3600), &stores.cold())),
        DenyReason::Expired
    );
}

/// A re-issued child gets a fresh id and records its parent; a parent the
/// issuer cannot authenticate is not re-issued.
#[test]
fn reissued_children_record_their_parent() {
    for kind in KINDS {
        let p = kind.provider();
        let token = root_token(&*p);
        let child = p.attenuate(&token, &workload::step(1)).unwrap();
        let inspected = p.inspect(&child).unwrap();
        assert_ne!(inspected.capability.id, TokenId([0x5a; 16]));
        assert_eq!(
            inspected.declared_parents,
            vec![p.lineage_hash(&token).unwrap()]
        );
        assert_eq!(inspected.capability.parent.unwrap().id, TokenId([0x5a; 16]));
        let mut tampered = token.as_bytes().to_vec();
        tampered[20] ^= 1;
        assert!(
            p.attenuate(&Token::new(kind.format(), tampered), &workload::step(1))
                .is_err()
        );
    }
}

/// A declared parent hash that the issuer signed but that is not the parent's
/// is denied, live and cold. (Forged ancestors and index rows are in the
/// shared conformance suite.)
#[test]
fn a_signed_but_false_parent_hash_is_denied() {
    let p = public_with("k1", 1);
    let stores = Stores::new();
    let tokens = chain(&p, &stores, 1);
    let mut cap = p.inspect(&tokens[1]).unwrap().capability;
    cap.parent = Some(ParentRef::new(
        FORMAT_PUBLIC,
        cap.parent.unwrap().id,
        LineageHash([9; 32]),
    ));
    cap.id = TokenId([0x77; 16]);
    let liar = p.issue(&cap).unwrap();
    let req = workload::request(1);
    assert_eq!(
        reason(p.verify(&liar, &req, &stores.cold())),
        DenyReason::LineageMismatch
    );
    let ancestors = [tokens[0].clone()];
    assert_eq!(
        reason(p.verify(&liar, &req, &stores.cold().with_ancestors(&ancestors))),
        DenyReason::LineageMismatch
    );
}

/// The parent reference names the parent's format: a child re-issued here
/// records this format, and a signed parent reference that names another
/// format (with the right id and hash) is denied, live and cold, rather than
/// looked up under the wrong format.
#[test]
fn the_parent_reference_names_the_parent_format() {
    for kind in KINDS {
        let p = kind.provider();
        let stores = Stores::new();
        let tokens = chain(&*p, &stores, 1);
        let mut cap = p.inspect(&tokens[1]).unwrap().capability;
        let parent = cap.parent.unwrap();
        assert_eq!(parent.format, kind.format());
        assert_eq!(parent.hash, p.lineage_hash(&tokens[0]).unwrap());
        for other in [FORMAT_PUBLIC, FORMAT_LOCAL, Format::new("paseto-v4-public")] {
            if other == kind.format() {
                continue;
            }
            cap.parent = Some(ParentRef::new(other, parent.id, parent.hash));
            cap.id = TokenId([0x78; 16]);
            let liar = p.issue(&cap).unwrap();
            let req = workload::request(1);
            assert_eq!(
                reason(p.verify(&liar, &req, &stores.cold())),
                DenyReason::LineageMismatch,
                "{kind:?} {other}"
            );
            let ancestors = [tokens[0].clone()];
            assert_eq!(
                reason(p.verify(&liar, &req, &stores.cold().with_ancestors(&ancestors))),
                DenyReason::LineageMismatch,
                "{kind:?} {other}"
            );
        }
    }
}

/// Wire version 1 tokens (sealed under `captoken/paseto/claims/v1`, labelled
/// `paseto-v4-public` or `paseto-v4-local`) are refused: under the version 2
/// label they fail authentication, even where their JSON fits version 2's
/// schema; under their own label they are another format.
#[test]
fn version_1_tokens_are_refused() {
    let stores = Stores::new();
    let req = at(workload::NOT_BEFORE + 60).with_arg("path", "/srv/data/report.txt");
    let v1_public = Format::new("paseto-v4-public");
    let v1_local = Format::new("paseto-v4-local");
    let p = public_with("k1", 1);
    // The pinned golden root of version 1, by the same key.
    let old = Token::new(FORMAT_PUBLIC, V1_GOLDEN_ROOT.as_bytes().to_vec());
    assert!(
        p.parse_bytes(old.as_bytes()).is_ok(),
        "PASETO framing is unchanged"
    );
    assert_eq!(
        reason(p.verify(&old, &req, &stores.cold())),
        DenyReason::BadSignature
    );
    assert!(matches!(
        p.attenuate(&old, &workload::step(1)),
        Err(Error::BadSignature)
    ));
    assert!(matches!(p.index_entry(&old), Err(Error::BadSignature)));
    let labelled = Token::new(v1_public, V1_GOLDEN_ROOT.as_bytes().to_vec());
    assert!(p.verify(&labelled, &req, &stores.cold()).is_err());
    assert!(matches!(
        p.inspect(&labelled),
        Err(Error::WrongFormat { expected, found }) if expected == FORMAT_PUBLIC && found == v1_public
    ));
    // The same claims sealed under version 2's assertion would verify: the
    // implicit assertion alone is what refuses the old token.
    let (payload, _, footer) = split_public(&old);
    let resealed = sign_raw(1, &payload, &footer, IMPLICIT_ASSERTION);
    assert!(p.verify(&resealed, &req, &stores.cold()).is_ok());
    // v4.local: the version 1 assertion fails decryption.
    let l = local_with("k1", 1);
    for (kind, v1) in [(Kind::Public, v1_public), (Kind::Local, v1_local)] {
        let prov = kind.provider();
        let old = seal_raw(kind, &root_claims(), b"captoken/paseto/claims/v1");
        assert_eq!(
            reason(prov.verify(&old, &workload::request(0), &stores.cold())),
            DenyReason::BadSignature,
            "{kind:?}"
        );
        let relabelled = Token::new(v1, old.as_bytes().to_vec());
        assert!(matches!(
            prov.inspect(&relabelled),
            Err(Error::WrongFormat { .. })
        ));
        let fresh = seal_raw(kind, &root_claims(), IMPLICIT_ASSERTION);
        assert!(
            prov.verify(&fresh, &workload::request(0), &stores.cold())
                .is_ok(),
            "{kind:?}"
        );
    }
    assert!(matches!(
        l.inspect(&seal_raw(
            Kind::Local,
            &root_claims(),
            b"captoken/paseto/claims/v1"
        )),
        Err(Error::BadSignature)
    ));
}

/// The `holder` claim is enforced: tokens bound to a holder key or key set
/// (sealed with the issuer's key outside captoken, as a root or as a re-issued
/// child delegating to a bound subject) are denied at verification with
/// `PossessionRequired` without a proof, after authentication; the issuer
/// re-issues neither a key-set parent nor, without the holder's signature, a
/// delegation away from a key-bound one.
#[test]
fn forged_bound_tokens_are_denied_with_possession_required() {
    let key = HolderKey::Ed25519([0x42; 32]);
    let holders = [format!(r#""{key}""#), r#""key_set""#.to_owned()];
    for kind in KINDS {
        let p = kind.provider();
        let stores = Stores::new();
        let json = root_claims();
        let root = root_token(&*p);
        stores
            .index
            .record(p.index_entry(&root).unwrap().unwrap())
            .unwrap();
        let child = p.attenuate(&root, &workload::step(1)).unwrap();
        for holder in &holders {
            let bound = json.replacen(
                r#""sub":"agent:planner-7","#,
                &format!(r#""sub":"agent:planner-7","holder":{holder},"#),
                1,
            );
            assert_ne!(bound, json);
            let forged = seal_raw(kind, &bound, IMPLICIT_ASSERTION);
            let inspected = p.inspect(&forged).unwrap().capability;
            assert!(inspected.subject.is_bound(), "{kind:?} {holder}");
            assert_eq!(
                reason(p.verify(&forged, &workload::request(0), &stores.cold())),
                DenyReason::PossessionRequired,
                "{kind:?} {holder}"
            );
            // Authentication comes first: the same token under another key.
            assert!(matches!(
                reason(
                    kind.with("k1", 2)
                        .verify(&forged, &workload::request(0), &stores.cold())
                ),
                DenyReason::UnknownKey | DenyReason::BadSignature
            ));
            let delegate = workload::step(1).delegate(Subject::new("agent:other"));
            // Key or key set: the bound holder did not sign the hand-over.
            let want = ModelError::DelegationUnsigned;
            assert!(
                matches!(p.attenuate(&forged, &delegate), Err(Error::Model(e)) if e == want),
                "{kind:?} {holder}"
            );
            // A forged re-issued child that delegates to a bound subject.
            let mut delegated = p.inspect(&child).unwrap().capability;
            delegated.subject = Subject::new("agent:other");
            delegated.id = TokenId([0x99; 16]);
            let child_json = claims_json(&delegated);
            let bound_child = child_json.replacen(
                r#""sub":"agent:other","#,
                &format!(r#""sub":"agent:other","holder":{holder},"#),
                1,
            );
            assert_ne!(bound_child, child_json);
            let forged_child = seal_raw(kind, &bound_child, IMPLICIT_ASSERTION);
            let req = Request {
                subject: "agent:other".into(),
                ..workload::request(1)
            };
            let ancestors = [root.clone()];
            for ctx in [stores.cold(), stores.cold().with_ancestors(&ancestors)] {
                assert_eq!(
                    reason(p.verify(&forged_child, &req, &ctx)),
                    DenyReason::PossessionRequired,
                    "{kind:?} {holder}"
                );
            }
            // The unbound delegation, issued through captoken, verifies.
            let unbound = p.issue(&delegated).unwrap();
            assert!(p.verify(&unbound, &req, &stores.cold()).is_ok());
        }
    }
}

/// The claims JSON of `cap` as captoken writes them (the same for both
/// purposes), read back from an issued `v4.public` token.
fn claims_json(cap: &Capability) -> String {
    let token = public_with("k1", 1).issue(cap).unwrap();
    String::from_utf8(split_public(&token).0).unwrap()
}

#[test]
fn other_formats_and_garbage_are_denied() {
    let stores = Stores::new();
    let public = Kind::Public.provider();
    let local = Kind::Local.provider();
    let (pt, lt) = (root_token(&*public), root_token(&*local));
    for (p, foreign) in [(&public, &lt), (&local, &pt)] {
        // The other purpose's token, under its own label and relabelled.
        assert!(
            p.verify(foreign, &workload::request(0), &stores.cold())
                .is_err()
        );
        let relabelled = Token::new(p.format(), foreign.as_bytes().to_vec());
        assert!(
            p.verify(&relabelled, &workload::request(0), &stores.cold())
                .is_err()
        );
        assert!(matches!(p.inspect(foreign), Err(Error::WrongFormat { .. })));
        assert!(p.parse_bytes(foreign.as_bytes()).is_err());
    }
    let hmac_label = Token::new(Format::new("hmac-v1"), pt.as_bytes().to_vec());
    assert!(
        public
            .verify(&hmac_label, &workload::request(0), &stores.cold())
            .is_err()
    );
    let huge = format!("v4.public.{}", "A".repeat(MAX_TOKEN_LEN));
    for text in [
        "",
        "v4.public.",
        "v4.public..",
        "v4.public.!!!!.e30",
        "v2.public.AAAA",
        "cth1.AAAA",
        &huge,
    ] {
        assert!(public.parse_text(text).is_err(), "{text:.20}");
        assert!(
            public
                .verify(
                    &Token::new(FORMAT_PUBLIC, text.as_bytes().to_vec()),
                    &workload::request(0),
                    &stores.cold()
                )
                .is_err()
        );
    }
    let not_utf8 = Token::new(FORMAT_PUBLIC, vec![0xff; 100]);
    assert!(
        public
            .verify(&not_utf8, &workload::request(0), &stores.cold())
            .is_err()
    );
    assert!(public.to_text(&not_utf8).contains('\u{fffd}'));
}

fn verdict_equals_reference_for(
    kind: Kind,
    root: &Capability,
    seeds: &[(testing::StepSeed, Option<Attenuation>)],
    rs: &testing::RequestSeed,
) -> Result<(), TestCaseError> {
    let p = kind.provider();
    let stores = Stores::new();
    let mut tokens = vec![p.issue(root).unwrap()];
    let mut steps = Vec::new();
    let mut cap: Capability = root.clone();
    for (seed, hostile) in seeds {
        let step = hostile
            .clone()
            .unwrap_or_else(|| testing::narrowing_step(&cap, seed));
        let expected = cap.attenuate(&step);
        let got = p.attenuate(tokens.last().unwrap(), &step);
        prop_assert_eq!(expected.is_ok(), got.is_ok(), "{:?} {:?}", kind, step);
        let (Ok(next), Ok(token)) = (expected, got) else {
            continue;
        };
        cap = next;
        steps.push(step);
        tokens.push(token);
    }
    for t in &tokens {
        stores
            .index
            .record(p.index_entry(t).unwrap().unwrap())
            .unwrap();
    }
    let req = testing::request_for(root, &steps, rs);
    let want = authorize(root, &steps, &req).is_ok();
    let leaf = tokens.last().unwrap();
    let ancestors = ancestors_of(&tokens);
    prop_assert_eq!(
        p.verify(leaf, &req, &stores.cold()).is_ok(),
        want,
        "{:?} cold, {:?}",
        kind,
        req
    );
    prop_assert_eq!(
        p.verify(leaf, &req, &stores.cold().with_ancestors(&ancestors))
            .is_ok(),
        want,
        "{:?} live",
        kind
    );
    Ok(())
}

mod conformance_public {
    use super::*;
    use captoken_core_types::testing::conformance::Setup;

    captoken_core_types::conformance_tests!(Setup {
        provider: Kind::Public.provider(),
        wrong_key: Kind::Public.with("k1", 2),
        keyed: |plan| {
            let ring = plan.build(|id, seed| {
                SigningKey::from_seed(id.clone(), &[seed; 32])
                    .map(captoken_paseto_provider::PublicEntry::from)
            })?;
            Ok(Box::new(PasetoPublicProvider::new(ring)))
        },
    });
}

mod conformance_local {
    use super::*;
    use captoken_core_types::testing::conformance::Setup;

    captoken_core_types::conformance_tests!(Setup {
        provider: Kind::Local.provider(),
        wrong_key: Kind::Local.with("k1", 2),
        keyed: |plan| {
            let ring = plan.build(|id, seed| LocalKey::from_bytes(id.clone(), &[seed; 32]))?;
            Ok(Box::new(PasetoLocalProvider::new(ring)))
        },
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The provider's verdict equals the reference authorizer's on random
    /// capabilities, chains (narrowing and hostile steps) and requests, live and
    /// cold; a step is refused exactly when strict re-issuance refuses it.
    #[test]
    fn verdict_equals_reference(
        root in testing::capability(),
        seeds in prop::collection::vec((testing::step_seed(), prop::option::weighted(0.3, testing::hostile_step())), 0..5),
        rs in testing::request_seed(),
    ) {
        verdict_equals_reference_for(Kind::Public, &root, &seeds, &rs)?;
    }

    /// The same for `v4.local`.
    #[test]
    fn local_verdict_equals_reference(
        root in testing::capability(),
        seeds in prop::collection::vec((testing::step_seed(), prop::option::weighted(0.3, testing::hostile_step())), 0..5),
        rs in testing::request_seed(),
    ) {
        verdict_equals_reference_for(Kind::Local, &root, &seeds, &rs)?;
    }

    /// Arbitrary bytes never panic and never verify.
    #[test]
    fn arbitrary_bytes_are_denied(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let stores = Stores::new();
        for kind in KINDS {
            let p = kind.provider();
            let token = Token::new(kind.format(), bytes.clone());
            prop_assert!(p.verify(&token, &workload::request(0), &stores.cold()).is_err());
            let _ = p.inspect(&token);
            let _ = p.index_entry(&token);
            let _ = p.lineage_hash(&token);
        }
    }

    /// Random edits of a valid token's text (replace, insert, delete a byte) are
    /// denied unless they leave the token unchanged.
    #[test]
    fn edited_tokens_are_denied(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4)) {
        let stores = Stores::new();
        let p = Kind::Public.provider();
        let token = root_token(&*p);
        let mut bytes = token.as_bytes().to_vec();
        for (at, byte, op) in &edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = *byte,
                1 => bytes.insert(i, *byte),
                _ => { bytes.remove(i); }
            }
        }
        let r = p.verify(&Token::new(FORMAT_PUBLIC, bytes.clone()), &workload::request(0), &stores.cold());
        prop_assert_eq!(r.is_ok(), bytes == token.as_bytes());
    }
}
