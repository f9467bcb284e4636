//! Behaviour of the macaroon provider beyond the shared conformance suite (mounted before the proptests): wire forms, pinned caveats, key selection, keyless attenuation, hostile caveats, lineage recovery, limits, sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    reason = "tests and benchmarks fail by panicking and report what they measured"
)]

use captoken_core_types::hex::encode as hex;
use captoken_core_types::reference::authorize;
use captoken_core_types::testing::{self, workload};
use captoken_core_types::testing::{Stores, deny_reason as reason};
use captoken_core_types::{
    Attenuation, Capability, DenyReason, Error, Format, HolderSignature, HolderSigningKey, KeyId,
    LineageHash, ModelError, Request, Subject, Token, TokenId, TokenProvider,
};
use captoken_macaroon_provider::caveat::Claim;
use captoken_macaroon_provider::wire::{Caveat, Macaroon};
use captoken_macaroon_provider::{FORMAT, MacaroonKey, MacaroonKeyring, MacaroonProvider};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;

fn kid(s: &str) -> KeyId {
    KeyId::new(s).unwrap()
}

fn provider_with(id: &str, secret: u8) -> MacaroonProvider {
    MacaroonProvider::new(MacaroonKeyring::single(
        MacaroonKey::new(kid(id), &[secret; 32]).unwrap(),
    ))
}

fn provider() -> MacaroonProvider {
    provider_with("k1", 1)
}

fn root_token(p: &MacaroonProvider) -> Token {
    p.issue(&workload::capability(kid("k1"))).unwrap()
}

/// A workload chain of `depth` steps, attenuated by a keyless holder; root first.
fn chain(p: &MacaroonProvider, depth: usize) -> Vec<Token> {
    let holder = MacaroonProvider::holder();
    let mut tokens = vec![root_token(p)];
    for step in workload::steps(depth) {
        let child = holder.attenuate(tokens.last().unwrap(), &step).unwrap();
        tokens.push(child);
    }
    tokens
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Appends caveats as any holder can: extend the chain from the token's signature.
fn append_raw(token: &Token, caveats: &[Caveat]) -> Token {
    let mut m = Macaroon::decode(token.as_bytes()).unwrap();
    for c in caveats {
        m.signature = match &c.vid {
            None => hmac(&m.signature, &c.id),
            Some(vid) => {
                let mut both = hmac(&m.signature, vid).to_vec();
                both.extend_from_slice(&hmac(&m.signature, &c.id));
                hmac(&m.signature, &both)
            }
        };
        m.caveats.push(c.clone());
    }
    Token::new(FORMAT, m.encode().unwrap())
}

fn fp(text: &str) -> Caveat {
    Caveat::first_party(text.as_bytes().to_vec())
}

fn caveat_texts(token: &Token) -> Vec<String> {
    Macaroon::decode(token.as_bytes())
        .unwrap()
        .caveats
        .iter()
        .map(|c| String::from_utf8(c.id.clone()).unwrap())
        .collect()
}

#[test]
fn round_trip_binary_text_and_json() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let text = p.to_text(&token);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe base64 without padding: {text}"
    );
    assert_eq!(p.parse_text(&text).unwrap(), token);
    assert_eq!(p.parse_bytes(token.as_bytes()).unwrap(), token);
    let json = p.to_json(&token).unwrap();
    assert!(json.starts_with(r#"{"v":2,"i":"ct2 k1 5a5a"#), "{json}");
    assert_eq!(p.parse_json(&json).unwrap(), token);
    let verified = p
        .verify(&token, &workload::request(0), &stores.cold())
        .unwrap();
    assert_eq!(verified.token_id, TokenId([0x5a; 16]));
    assert_eq!(verified.key_id, kid("k1"));
    assert_eq!(verified.chain_len, 0);
    assert_eq!(verified.lineage_hash, p.lineage_hash(&token).unwrap());
    let inspected = p.inspect(&token).unwrap();
    assert_eq!(inspected.capability, workload::capability(kid("k1")));
    assert!(inspected.steps.is_empty() && inspected.declared_parents.is_empty());
    assert_eq!(p.index_entry(&token).unwrap(), None);
}

#[test]
fn workload_caveats_read_as_documented_and_are_pinned() {
    let p = provider();
    let tokens = chain(&p, 1);
    let texts = caveat_texts(&tokens[1]);
    let parent = p.lineage_hash(&tokens[0]).unwrap().to_hex();
    let expected = [
        "ct2 subject agent:planner-7".to_owned(),
        r#"ct2 grants fs.internal/list_dir(limit[0,1000], mode="ro", path~"/srv/data/") | fs.internal/read_file(limit[0,1000], mode="ro", path~"/srv/data/")"#.to_owned(),
        "ct2 iat 1767225600".to_owned(),
        "ct2 nbf 1767225600".to_owned(),
        "ct2 exp 1767229200".to_owned(),
        "ct2 depth 16".to_owned(),
        format!("ct2 step {parent} 5"),
        r#"ct2 arg fs.internal/read_file path~"/srv/data/p1/""#.to_owned(),
        "ct2 arg fs.internal/read_file limit[0,999]".to_owned(),
        r#"ct2 arg fs.internal/list_dir path~"/srv/data/p1/""#.to_owned(),
        "ct2 arg fs.internal/list_dir limit[0,999]".to_owned(),
        "ct2 exp 1767229199".to_owned(),
    ];
    assert_eq!(texts, expected);
    // Deterministic, and pinned: the wire format and the chain are a compatibility promise.
    assert_eq!(root_token(&p), root_token(&p));
    let m = Macaroon::decode(tokens[0].as_bytes()).unwrap();
    assert_eq!(hex(&m.signature), GOLDEN_ROOT_SIG);
    assert_eq!(
        p.lineage_hash(&tokens[0]).unwrap().to_hex(),
        GOLDEN_ROOT_LINEAGE
    );
}

// Both computed independently with pymacaroons 0.13.0 and Python's hashlib
// (root secret: 32 bytes of 0x01; lineage over the token's v2 binary form, format
// tag `macaroon-v2.ct2`).
const GOLDEN_ROOT_SIG: &str = "b1384de62d47410da78214e76c50213dd594405b9bc9dc1b5a734ef3d0aef781";
const GOLDEN_ROOT_LINEAGE: &str =
    "61d5388ef2382000e8e95f3dc74f25431e450ba382c7eae548ed7b69f4b1fc51";

#[test]
fn reference_workload_sizes() {
    let p = provider();
    let tokens = chain(&p, 16);
    let mut sizes = Vec::new();
    for depth in workload::DEPTHS {
        let t = &tokens[depth];
        sizes.push((depth, t.as_bytes().len(), p.to_text(t).len()));
    }
    println!("depth, binary bytes, text bytes: {sizes:?}");
    assert_eq!(sizes, GOLDEN_SIZES);
}

/// (depth, v2 binary bytes, text bytes) of the DESIGN.md §7 workload token.
const GOLDEN_SIZES: [(usize, usize, usize); 6] = [
    (0, 335, 447),
    (1, 628, 838),
    (2, 927, 1236),
    (4, 1543, 2058),
    (8, 2847, 3796),
    (16, 5799, 7732),
];

/// The decoder refuses every truncation of a chained macaroon on its own,
/// before any key is looked up.
#[test]
fn every_truncation_is_refused_by_the_decoder() {
    let p = provider();
    let token = &chain(&p, 1)[1];
    for n in 0..token.as_bytes().len() {
        assert!(
            p.parse_bytes(&token.as_bytes()[..n]).is_err(),
            "framing of {n} bytes"
        );
    }
}

#[test]
fn wrong_key_and_unknown_key_id_are_denied() {
    let stores = Stores::new();
    let req = workload::request(0);
    let token = root_token(&provider());
    assert_eq!(
        reason(provider_with("k1", 2).verify(&token, &req, &stores.cold())),
        DenyReason::BadSignature
    );
    assert_eq!(
        reason(provider_with("k2", 1).verify(&token, &req, &stores.cold())),
        DenyReason::UnknownKey
    );
    assert!(matches!(
        provider_with("k2", 1).issue(&workload::capability(kid("k1"))),
        Err(Error::UnknownKey(_))
    ));
    assert_eq!(
        reason(MacaroonProvider::holder().verify(&token, &req, &stores.cold())),
        DenyReason::UnknownKey,
        "a holder cannot verify"
    );
}

/// A holder attenuates without any key, to the same bytes the issuer would
/// append; depth is enforced by the verifier; a foreign parent is refused.
/// (That widening steps are inert is in the shared conformance suite.)
#[test]
fn attenuation_is_keyless() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let holder = MacaroonProvider::holder();
    assert_eq!(
        holder.attenuate(&token, &workload::step(1)).unwrap(),
        p.attenuate(&token, &workload::step(1)).unwrap()
    );
    // Depth: a step taken at depth 0 is accepted by the holder and denied by the verifier.
    let mut cap = workload::capability(kid("k1"));
    cap.max_depth = 1;
    let one = p.issue(&cap).unwrap();
    let two = holder.attenuate(&one, &Attenuation::new()).unwrap();
    assert!(
        p.verify(&two, &workload::request(0), &stores.cold())
            .is_ok()
    );
    let three = holder.attenuate(&two, &Attenuation::new()).unwrap();
    assert_eq!(
        reason(p.verify(&three, &workload::request(0), &stores.cold())),
        DenyReason::DepthExceeded
    );
    let capped = holder
        .attenuate(&one, &Attenuation::new().max_depth(0))
        .unwrap();
    assert!(
        p.verify(&capped, &workload::request(0), &stores.cold())
            .is_ok()
    );
    let past_cap = holder.attenuate(&capped, &Attenuation::new()).unwrap();
    assert_eq!(
        reason(p.verify(&past_cap, &workload::request(0), &stores.cold())),
        DenyReason::DepthExceeded
    );
    // A parent that is not a captoken macaroon is refused.
    let garbage = Token::new(FORMAT, vec![2, 2, 1, b'x', 0, 0, 6, 32]);
    assert!(holder.attenuate(&garbage, &Attenuation::new()).is_err());
    assert!(matches!(
        holder.attenuate(
            &Token::new(Format::new("hmac-v1"), token.as_bytes().to_vec()),
            &Attenuation::new()
        ),
        Err(Error::WrongFormat { .. })
    ));
}

/// A holder delegates offline; delegating again without a boundary (so
/// without spending depth) is refused.
#[test]
fn holder_delegation_needs_a_step_boundary() {
    let p = provider();
    let stores = Stores::new();
    let child = MacaroonProvider::holder()
        .attenuate(
            &root_token(&p),
            &Attenuation::new().delegate(Subject::new("agent:sub")),
        )
        .unwrap();
    let as_subject = |subject: &str| Request {
        subject: subject.into(),
        ..workload::request(0)
    };
    assert!(
        p.verify(&child, &as_subject("agent:sub"), &stores.cold())
            .is_ok()
    );
    let sneaky = append_raw(&child, &[fp("ct2 delegate agent:thief")]);
    assert_eq!(
        reason(p.verify(&sneaky, &as_subject("agent:thief"), &stores.cold())),
        DenyReason::UnknownCaveat
    );
}

#[test]
fn hostile_raw_caveats_fail_closed() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 1);
    let (root, child) = (&tokens[0], &tokens[1]);
    let req = workload::request(1);
    let good_boundary = |t: &Token, n: u32| {
        fp(&Claim::Step {
            parent: p.lineage_hash(t).unwrap(),
            count: n,
        }
        .encode())
    };
    let wide = r#"ct2 grants fs.internal/write_file() | fs.internal/read_file()"#;
    let cases: Vec<(&str, Token, DenyReason)> = vec![
        (
            "second grants caveat on a root",
            append_raw(root, &[fp(wide)]),
            DenyReason::UnknownCaveat,
        ),
        (
            "second subject on a root",
            append_raw(root, &[fp("ct2 subject agent:x")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "step caveat on a root without a boundary",
            append_raw(root, &[fp("ct2 exp 9999999999")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "caveat after a complete step",
            append_raw(child, &[fp(r#"ct2 arg fs.internal/read_file path^"/""#)]),
            DenyReason::UnknownCaveat,
        ),
        (
            "grants inside a step",
            append_raw(child, &[good_boundary(child, 1), fp(wide)]),
            DenyReason::UnknownCaveat,
        ),
        (
            "boundary inside a step",
            append_raw(child, &[good_boundary(child, 1), good_boundary(child, 0)]),
            DenyReason::UnknownCaveat,
        ),
        (
            "step shorter than declared",
            append_raw(child, &[good_boundary(child, 2), fp("ct2 exp 9999999999")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "duplicate exp in a step",
            append_raw(
                child,
                &[
                    good_boundary(child, 2),
                    fp("ct2 exp 9999999999"),
                    fp("ct2 exp 9999999998"),
                ],
            ),
            DenyReason::UnknownCaveat,
        ),
        (
            "previous language version",
            append_raw(child, &[good_boundary(child, 1), fp("ct1 exp 1")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "unknown language version",
            append_raw(child, &[good_boundary(child, 1), fp("ct3 exp 1")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "issue time inside a step",
            append_raw(child, &[good_boundary(child, 1), fp("ct2 iat 1")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "second issue time on a root",
            append_raw(root, &[fp("ct2 iat 1")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "foreign caveat",
            append_raw(
                child,
                &[good_boundary(child, 1), fp("time < 2099-01-01T00:00")],
            ),
            DenyReason::UnknownCaveat,
        ),
        (
            "garbage bytes",
            append_raw(
                child,
                &[
                    good_boundary(child, 1),
                    Caveat::first_party(vec![0xff, 0, 0x80]),
                ],
            ),
            DenyReason::UnknownCaveat,
        ),
        (
            "empty caveat",
            append_raw(child, &[good_boundary(child, 1), fp("")]),
            DenyReason::UnknownCaveat,
        ),
        (
            "forged parent hash",
            append_raw(
                child,
                &[fp(&Claim::Step {
                    parent: p.lineage_hash(root).unwrap(),
                    count: 0,
                }
                .encode())],
            ),
            DenyReason::LineageMismatch,
        ),
        (
            "boundary with a zero hash",
            append_raw(
                child,
                &[fp(&Claim::Step {
                    parent: LineageHash([0; 32]),
                    count: 0,
                }
                .encode())],
            ),
            DenyReason::LineageMismatch,
        ),
    ];
    for (what, token, want) in cases {
        assert_eq!(
            reason(p.verify(&token, &req, &stores.cold())),
            want,
            "{what}"
        );
    }
    // A well-formed step appended by hand is honoured, and narrows.
    let by_hand = append_raw(
        child,
        &[
            good_boundary(child, 2),
            fp(r#"ct2 arg fs.internal/read_file path ~ "/srv/data/p1/q""#),
            fp("ct2 exp 9999999999"),
        ],
    );
    assert_eq!(
        reason(p.verify(&by_hand, &req, &stores.cold())),
        DenyReason::ConstraintViolated
    );
    assert!(
        p.verify(
            &by_hand,
            &req.clone().with_arg("path", "/srv/data/p1/q/x"),
            &stores.cold()
        )
        .is_ok()
    );
    // Segment-aware: neither a sibling sharing the bytes, nor the directory
    // itself, nor a dot segment (which the root's own `path` already refuses) gets out.
    for (path, want) in [
        ("/srv/data/p1/qq/x", DenyReason::ConstraintViolated),
        ("/srv/data/p1/q", DenyReason::ConstraintViolated),
        ("/srv/data/p1/q/../../x", DenyReason::NoMatchingGrant),
    ] {
        assert_eq!(
            reason(p.verify(
                &by_hand,
                &req.clone().with_arg("path", path),
                &stores.cold()
            )),
            want,
            "{path}"
        );
    }
}

/// The root secret of [`provider`], derived as libmacaroons derives it.
fn root_key() -> [u8; 32] {
    hmac(b"macaroons-key-generator", &[1u8; 32])
}

/// A macaroon minted by hand with the root key of [`provider`]: identifier and
/// first-party caveats, bypassing `issue` and its checks (as an issuer with
/// other software, pymacaroons for one, could).
fn mint_raw(identifier: &str, caveats: &[&str]) -> Token {
    let m = Macaroon {
        location: None,
        identifier: identifier.as_bytes().to_vec(),
        caveats: Vec::new(),
        signature: hmac(&root_key(), identifier.as_bytes()),
    };
    let root = Token::new(FORMAT, m.encode().unwrap());
    append_raw(&root, &caveats.iter().map(|c| fp(c)).collect::<Vec<_>>())
}

/// The workload root's caveats, as `issue` writes them.
fn workload_root_caveats() -> Vec<String> {
    caveat_texts(&root_token(&provider()))
}

/// A thief holds a genuine token bound to the holder's key (right root key,
/// true lineage) but not the holder's private key. Whatever he appends by hand,
/// he cannot re-delegate it: an unsigned `delegate` step, one signed by his
/// own key, and the holder's genuine signature moved from another token are
/// all denied; the bound token itself needs a proof. A key-set binding (no
/// holder-key directory yet) denies, and `attenuate` refuses to write one.
#[test]
fn a_thief_cannot_re_delegate_a_bound_macaroon() {
    let p = provider();
    let stores = Stores::new();
    let holder = HolderSigningKey::from_seed(&[0xab; 32]);
    let thief = HolderSigningKey::from_seed(&[0xcd; 32]);
    let identifier = format!("ct2 k1 {}", "5a".repeat(16));
    let caveats = workload_root_caveats();
    assert_eq!(caveats[0], "ct2 subject agent:planner-7");
    // The same root, hand-minted and unbound, verifies: the forgery below is sound.
    let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
    assert_eq!(mint_raw(&identifier, &refs), root_token(&p));
    let as_thief = Request {
        subject: "agent:thief".into(),
        ..workload::request(0)
    };
    let to_thief = Attenuation::new().delegate(Subject::new("agent:thief"));
    let bound_root = |binding: &str| {
        let mut caveats = caveats.clone();
        caveats[0] = format!("ct2 subject agent:planner-7 {binding}");
        let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
        mint_raw(&identifier, &refs)
    };
    let append_step = |parent: &Token, step: &Attenuation, sig: Option<HolderSignature>| {
        let mut claims = vec![Claim::Step {
            parent: p.lineage_hash(parent).unwrap(),
            count: 1 + u32::from(sig.is_some()),
        }];
        claims.push(Claim::Delegate(step.delegate.clone().unwrap()));
        claims.extend(sig.map(Claim::HolderSig));
        let claims: Vec<Caveat> = claims.iter().map(|c| fp(&c.encode())).collect();
        append_raw(parent, &claims)
    };
    let bound = bound_root(&holder.public().to_string());
    assert_eq!(
        reason(p.verify(&bound, &workload::request(0), &stores.cold())),
        DenyReason::PossessionRequired
    );
    // Unsigned: refused by attenuate, denied when written by hand.
    assert!(matches!(
        MacaroonProvider::holder().attenuate(&bound, &to_thief),
        Err(Error::Model(ModelError::DelegationUnsigned))
    ));
    let unsigned = append_step(&bound, &to_thief, None);
    assert_eq!(
        reason(p.verify(&unsigned, &as_thief, &stores.cold())),
        DenyReason::UnsignedDelegation
    );
    // Signed by the thief's own key: refused, and denied by hand.
    assert!(matches!(
        MacaroonProvider::holder().attenuate_signed(&bound, &to_thief, &thief),
        Err(Error::Model(ModelError::DelegationSignature))
    ));
    let parent = p.lineage_hash(&bound).unwrap();
    let by_thief = HolderSignature::sign(FORMAT, &parent, &to_thief, &thief).unwrap();
    let forged = append_step(&bound, &to_thief, Some(by_thief));
    assert_eq!(
        p.inspect(&forged).unwrap().steps[0].signed_by.as_ref(),
        Some(thief.public())
    );
    assert_eq!(
        reason(p.verify(&forged, &as_thief, &stores.cold())),
        DenyReason::UnsignedDelegation
    );
    // The holder's genuine signature for one parent does not move to another.
    let genuine = MacaroonProvider::holder()
        .attenuate_signed(&bound, &to_thief, &holder)
        .unwrap();
    assert!(p.verify(&genuine, &as_thief, &stores.cold()).is_ok());
    let sibling = MacaroonProvider::holder()
        .attenuate(&bound, &Attenuation::new())
        .unwrap();
    let by_holder = HolderSignature::sign(FORMAT, &parent, &to_thief, &holder).unwrap();
    let moved = append_step(&sibling, &to_thief, Some(by_holder));
    assert_eq!(
        reason(p.verify(&moved, &as_thief, &stores.cold())),
        DenyReason::UnknownCaveat
    );
    // A key-set binding denies; attenuate refuses to write one.
    let keyset = bound_root("keyset");
    assert_eq!(
        reason(p.verify(&keyset, &workload::request(0), &stores.cold())),
        DenyReason::PossessionRequired
    );
    // A bearer root may be handed over to a key set.
    let root = root_token(&p);
    assert!(
        MacaroonProvider::holder()
            .attenuate(
                &root,
                &Attenuation::new().delegate(Subject::bound_to_key_set("agent:sub"))
            )
            .is_ok()
    );
}

/// Tokens of the previous version (`ct1` identifier and caveats, or the old
/// format tag) are refused as an unsupported version, by verify, inspect and
/// attenuate alike, even when their MAC chain is genuine.
#[test]
fn previous_version_tokens_are_refused() {
    let p = provider();
    let stores = Stores::new();
    let old = mint_raw(
        &format!("ct1 k1 {}", "5a".repeat(16)),
        &[
            "ct1 subject agent:planner-7",
            r#"ct1 grants fs.internal/read_file(limit[0,1000], mode="ro", path^"/srv/data/")"#,
            "ct1 nbf 1767225600",
            "ct1 exp 1767229200",
            "ct1 depth 16",
        ],
    );
    let denied = reason(p.verify(&old, &workload::request(0), &stores.cold()));
    assert!(
        matches!(denied, DenyReason::Malformed(m) if m.starts_with("unsupported version")),
        "{denied:?}"
    );
    for e in [
        p.inspect(&old).unwrap_err(),
        MacaroonProvider::holder()
            .attenuate(&old, &Attenuation::new())
            .unwrap_err(),
    ] {
        assert!(
            matches!(e, Error::Malformed(m) if m.starts_with("unsupported version")),
            "{e}"
        );
    }
    // A ct2 identifier over ct1 caveats: the caveats are refused.
    let mixed = mint_raw(
        &format!("ct2 k1 {}", "5a".repeat(16)),
        &["ct1 subject agent:planner-7"],
    );
    assert_eq!(
        reason(p.verify(&mixed, &workload::request(0), &stores.cold())),
        DenyReason::UnknownCaveat
    );
    assert!(
        matches!(p.inspect(&mixed), Err(Error::Malformed(m)) if m.starts_with("unsupported version"))
    );
    // The previous format tag is another format.
    let relabelled = Token::new(Format::new("macaroon-v2"), root_token(&p).into_bytes());
    assert!(matches!(
        p.inspect(&relabelled),
        Err(Error::WrongFormat { .. })
    ));
    assert!(
        p.verify(&relabelled, &workload::request(0), &stores.cold())
            .is_err()
    );
}

/// The signed issue time is a root claim: verification reports it, and a
/// holder can neither add a second one nor put one in a step (in `hostile_raw_caveats_fail_closed`).
#[test]
fn issued_at_is_signed_and_reported() {
    let p = provider();
    let stores = Stores::new();
    let mut cap = workload::capability(kid("k1"));
    cap.issued_at = workload::NOT_BEFORE - 100;
    let token = p.issue(&cap).unwrap();
    assert!(caveat_texts(&token).contains(&format!("ct2 iat {}", workload::NOT_BEFORE - 100)));
    let verified = p
        .verify(&token, &workload::request(0), &stores.cold())
        .unwrap();
    assert_eq!(verified.issued_at, workload::NOT_BEFORE - 100);
    assert_eq!(verified.format, FORMAT);
    assert_eq!(p.inspect(&token).unwrap().capability, cap);
    // The holder reported is the effective one, after delegation.
    let child = MacaroonProvider::holder()
        .attenuate(
            &token,
            &Attenuation::new().delegate(Subject::new("agent:sub")),
        )
        .unwrap();
    let as_sub = Request {
        subject: "agent:sub".into(),
        ..workload::request(0)
    };
    let verified = p.verify(&child, &as_sub, &stores.cold()).unwrap();
    assert_eq!(verified.holder, Subject::new("agent:sub"));
    assert_eq!(verified.issued_at, workload::NOT_BEFORE - 100);
}

#[cfg(not(feature = "third-party"))]
#[test]
fn third_party_caveats_deny_without_the_feature() {
    let p = provider();
    let stores = Stores::new();
    let root = root_token(&p);
    let with_tp = append_raw(
        &root,
        &[
            fp(&Claim::Step {
                parent: p.lineage_hash(&root).unwrap(),
                count: 1,
            }
            .encode()),
            Caveat {
                location: Some(b"https://auth".to_vec()),
                id: b"cid".to_vec(),
                vid: Some(vec![7; 72]),
            },
        ],
    );
    assert_eq!(
        reason(p.verify(&with_tp, &workload::request(0), &stores.cold())),
        DenyReason::UnknownCaveat
    );
    let discharges = [root.clone()];
    assert_eq!(
        reason(p.verify(
            &root,
            &workload::request(0),
            &stores.cold().with_discharges(&discharges)
        )),
        DenyReason::Discharge,
        "an unused discharge denies"
    );
    assert!(!p.properties().third_party_caveats);
}

#[test]
fn lineage_hashes_are_recovered_from_every_descendant() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 8);
    let hashes: Vec<LineageHash> = tokens.iter().map(|t| p.lineage_hash(t).unwrap()).collect();
    for (j, t) in tokens.iter().enumerate() {
        let declared = p.inspect(t).unwrap().declared_parents;
        assert_eq!(declared.len(), j);
        for (k, h) in declared.iter().enumerate() {
            assert_eq!(*h, hashes[j - 1 - k], "token {j}, ancestor {k}");
        }
        let verified = p.verify(t, &workload::request(j), &stores.cold()).unwrap();
        assert_eq!(verified.lineage_hash, hashes[j]);
        assert_eq!(verified.chain_len, j);
        // Cold and live are the same: supplied ancestors change nothing.
        let ancestors: Vec<Token> = tokens[..j].iter().rev().cloned().collect();
        let live = p.verify(
            t,
            &workload::request(j),
            &stores.cold().with_ancestors(&ancestors),
        );
        assert_eq!(live.unwrap(), verified);
        // Supplied ancestors can only confirm the chain: wrong ones deny.
        let wrong = [tokens[0].clone(), Token::new(FORMAT, vec![1, 2, 3])];
        let got = p.verify(
            t,
            &workload::request(j),
            &stores.cold().with_ancestors(&wrong),
        );
        assert_eq!(
            got.map_err(|d| d.reason().clone()).err(),
            Some(DenyReason::LineageMismatch),
            "token {j}"
        );
    }
    assert!(
        hashes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == hashes.len()
    );
}

#[test]
fn other_formats_and_garbage_are_denied() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let relabelled = Token::new(Format::new("paseto-v4"), token.as_bytes().to_vec());
    assert_eq!(
        reason(p.verify(&relabelled, &workload::request(0), &stores.cold())),
        DenyReason::Malformed("token of another format")
    );
    // A genuine macaroon that is not captoken's: denied before any key is looked up.
    let foreign = Macaroon {
        location: None,
        identifier: b"we used our secret key".to_vec(),
        caveats: vec![fp("account = 3735928559")],
        signature: [0; 32],
    };
    let foreign = Token::new(FORMAT, foreign.encode().unwrap());
    assert!(matches!(
        reason(p.verify(&foreign, &workload::request(0), &stores.cold())),
        DenyReason::Malformed(_)
    ));
    for text in ["", "!!!!", "AgI", "v4.public.AAAA", &"A".repeat(200_000)] {
        assert!(p.parse_text(text).is_err(), "{text:.20}");
    }
    for json in ["", "{}", "null", r#"{"i":"x"}"#, &"[".repeat(100_000)] {
        assert!(p.parse_json(json).is_err(), "{json:.20}");
    }
}

#[test]
fn too_many_caveats_are_refused_before_any_cryptography() {
    let p = provider();
    let stores = Stores::new();
    let root = root_token(&p);
    let mut m = Macaroon::decode(root.as_bytes()).unwrap();
    m.caveats.extend(std::iter::repeat_n(
        fp("x"),
        captoken_macaroon_provider::MAX_TOKEN_CAVEATS,
    ));
    let big = Token::new(FORMAT, m.encode().unwrap());
    assert_eq!(
        reason(p.verify(&big, &workload::request(0), &stores.cold())),
        DenyReason::Malformed("too many caveats")
    );
    assert!(p.parse_bytes(big.as_bytes()).is_err());
}

/// One hostile part appended by hand to a token.
#[derive(Clone, Debug)]
enum Item {
    /// A copy of the token's caveat at this index (mod its length): duplicates, reorderings.
    Copy(usize),
    /// The caveats of an arbitrary step, in a shuffled order.
    Step(Attenuation, u64),
    /// Arbitrary bytes.
    Garbage(Vec<u8>),
    /// A tricky caveat.
    Fixed(&'static str),
}

const TRICKY: [&str; 14] = [
    "ct2 grants s1/t1(a*) | s2/t2(b*) | s1/t2() | s2/t1()",
    "ct2 subject agent:b",
    "ct2 delegate agent:b",
    "ct2 depth 9",
    "ct2 exp 99999999999",
    "ct2 nbf 0",
    "ct2 keep s1/t1, s1/t2, s2/t1, s2/t2",
    "ct2 arg s1/t1 a*",
    "ct1 exp 1",
    "ct2 exp 99999999999999999999",
    "ct2 step 00 0",
    "ct2 iat 0",
    r#"ct2 arg s1/t1 a~"/""#,
    "",
];

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        2 => any::<usize>().prop_map(Item::Copy),
        6 => (testing::hostile_step(), any::<u64>()).prop_map(|(s, k)| Item::Step(s, k)),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Item::Garbage),
        2 => prop::sample::select(TRICKY.to_vec()).prop_map(Item::Fixed),
    ]
}

#[derive(Clone, Debug)]
struct RawStep {
    forge: bool,
    count_delta: i8,
    items: Vec<Item>,
}

fn raw_step() -> impl Strategy<Value = RawStep> {
    (
        prop::bool::weighted(0.15),
        prop_oneof![18 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        prop::collection::vec(item(), 0..4),
    )
        .prop_map(|(forge, count_delta, items)| RawStep {
            forge,
            count_delta,
            items,
        })
}

fn items_to_caveats(current: &Token, items: &[Item]) -> Vec<Caveat> {
    let existing = Macaroon::decode(current.as_bytes()).unwrap().caveats;
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Copy(i) => out.push(existing[i % existing.len()].clone()),
            Item::Step(step, key) => {
                // Encode a step through the public language, then drop its boundary and shuffle.
                let mut texts: Vec<String> =
                    claims_of(step).into_iter().map(|c| c.encode()).collect();
                let n = texts.len().max(1);
                texts.rotate_left(usize::try_from(*key % n as u64).unwrap());
                if key % 2 == 1 {
                    texts.reverse();
                }
                out.extend(texts.iter().map(|t| fp(t)));
            }
            Item::Garbage(bytes) => out.push(Caveat::first_party(bytes.clone())),
            Item::Fixed(text) => out.push(fp(text)),
        }
    }
    out
}

fn claims_of(step: &Attenuation) -> Vec<Claim> {
    let mut claims = Vec::new();
    if let Some(k) = &step.keep {
        claims.push(Claim::Keep(k.clone()));
    }
    claims.extend(step.constraints.iter().cloned().map(Claim::Arg));
    claims.extend(step.not_before.map(Claim::NotBefore));
    claims.extend(step.expires_at.map(Claim::ExpiresAt));
    claims.extend(step.max_depth.map(Claim::Depth));
    claims.extend(step.delegate.clone().map(Claim::Delegate));
    claims
}

/// Recomputes, independently of the provider, the chain signature after every
/// caveat (root secret: 32 bytes of 0x01) and checks that every `ct2 step`
/// boundary declares the lineage hash of the prefix before it.
fn boundaries_are_true(token: &Token) -> bool {
    let m = Macaroon::decode(token.as_bytes()).unwrap();
    let derived = hmac(b"macaroons-key-generator", &[1u8; 32]);
    let mut sig = hmac(&derived, &m.identifier);
    let holder = MacaroonProvider::holder();
    for (i, c) in m.caveats.iter().enumerate() {
        if let Ok(Claim::Step { parent, .. }) = Claim::parse(&c.id) {
            let prefix = Macaroon {
                location: None,
                identifier: m.identifier.clone(),
                caveats: m.caveats[..i].to_vec(),
                signature: sig,
            };
            let prefix = Token::new(FORMAT, prefix.encode().unwrap());
            if holder.lineage_hash(&prefix).unwrap() != parent {
                return false;
            }
        }
        sig = hmac(&sig, &c.id);
    }
    true
}

/// Builds a chain through `attenuate` (narrowing and hostile steps, all accepted keylessly).
fn build_chain(
    p: &MacaroonProvider,
    root: &Capability,
    seeds: &[(testing::StepSeed, Option<Attenuation>)],
    keep_refused: bool,
) -> (Vec<Token>, Vec<Attenuation>) {
    let holder = MacaroonProvider::holder();
    let mut tokens = vec![p.issue(root).unwrap()];
    let mut steps = Vec::new();
    let mut cap = root.clone();
    for (seed, hostile) in seeds {
        let step = hostile
            .clone()
            .unwrap_or_else(|| testing::narrowing_step(&cap, seed));
        match cap.attenuate(&step) {
            Ok(next) => cap = next,
            // Half the chains keep only the steps a strict issuer would accept
            // (so that allowed requests are common); the others keep every step.
            Err(_) if !keep_refused => continue,
            Err(_) => {}
        }
        tokens.push(holder.attenuate(tokens.last().unwrap(), &step).unwrap());
        steps.push(step);
    }
    (tokens, steps)
}

/// Step seeds, each perhaps replaced by a hostile step, and whether steps a
/// strict issuer would refuse stay in the chain.
type Seeds = (Vec<(testing::StepSeed, Option<Attenuation>)>, bool);

fn seeds(max: usize) -> impl Strategy<Value = Seeds> {
    (
        prop::collection::vec(
            (
                testing::step_seed(),
                prop::option::weighted(0.3, testing::hostile_step()),
            ),
            0..max,
        ),
        any::<bool>(),
    )
}

/// One case of `verdict_equals_reference`; returns whether the request was allowed.
fn reference_case(
    root: &Capability,
    seeds: &Seeds,
    rs: &testing::RequestSeed,
) -> Result<bool, TestCaseError> {
    let p = provider();
    let stores = Stores::new();
    let (tokens, steps) = build_chain(&p, root, &seeds.0, seeds.1);
    let leaf = tokens.last().unwrap();
    let inspected = p.inspect(leaf).unwrap();
    prop_assert_eq!(&inspected.capability, root);
    prop_assert_eq!(&inspected.steps, &steps);
    let req = testing::request_for(root, &steps, rs);
    let want = authorize(root, &steps, &req);
    let got = p
        .verify(leaf, &req, &stores.cold())
        .map(|v| v.chain_len)
        .map_err(|d| d.reason().clone());
    prop_assert_eq!(got, want.clone().map(|_| steps.len()), "{:?}", req);
    Ok(want.is_ok())
}

/// What a hostile case came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// The token no longer reads as root + steps: denied as an unknown caveat.
    Unreadable,
    /// A boundary declares a parent hash that is not its prefix's: denied.
    Forged,
    /// Readable, true lineage, and the reference allows it.
    Allowed,
    /// Readable, true lineage, and the reference denies it.
    Denied,
}

/// One case of `hostile_raw_caveats_never_widen`.
fn hostile_case(
    root: &Capability,
    seeds: &Seeds,
    raw: &[RawStep],
    loose: &Option<Item>,
    rs: &testing::RequestSeed,
) -> Result<Outcome, TestCaseError> {
    let p = provider();
    let stores = Stores::new();
    let (tokens, steps) = build_chain(&p, root, &seeds.0, seeds.1);
    let mut token = tokens.last().unwrap().clone();
    for r in raw {
        let body = items_to_caveats(&token, &r.items);
        let mut parent = p.lineage_hash(&token).unwrap();
        if r.forge {
            parent.0[0] ^= 1;
        }
        let count = u32::try_from((body.len() as i64 + i64::from(r.count_delta)).max(0)).unwrap();
        let mut all = vec![fp(&Claim::Step { parent, count }.encode())];
        all.extend(body);
        token = append_raw(&token, &all);
    }
    let loose_caveats = items_to_caveats(&token, loose.as_slice());
    token = append_raw(&token, &loose_caveats);

    let inspected = p.inspect(&token);
    let read_steps = inspected
        .as_ref()
        .map(|i| i.steps.clone())
        .unwrap_or_else(|_| steps.clone());
    let req = testing::request_for(root, &read_steps, rs);
    let got = p
        .verify(&token, &req, &stores.cold())
        .map(|_| ())
        .map_err(|d| d.reason().clone());
    let outcome = match inspected {
        Err(_) => {
            prop_assert_eq!(got.clone(), Err(DenyReason::UnknownCaveat));
            Outcome::Unreadable
        }
        Ok(ins) => {
            prop_assert_eq!(&ins.capability, root, "a holder cannot change the root");
            prop_assert_eq!(
                &ins.steps[..steps.len()],
                &steps[..],
                "a holder cannot change earlier steps"
            );
            if !boundaries_are_true(&token) {
                prop_assert_eq!(got.clone(), Err(DenyReason::LineageMismatch));
                Outcome::Forged
            } else {
                prop_assert_eq!(got.clone(), authorize(root, &ins.steps, &req).map(|_| ()));
                if got.is_ok() {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                }
            }
        }
    };
    if got.is_ok() {
        // Delegation may move who acts; the action must be one the original chain allows.
        let subject = steps
            .iter()
            .rev()
            .find_map(|s| s.delegate.as_ref())
            .unwrap_or(&root.subject);
        let as_original = Request {
            subject: subject.principal.clone(),
            ..req
        };
        prop_assert_eq!(
            authorize(root, &steps, &as_original).map(|_| ()),
            Ok(()),
            "widened"
        );
    }
    Ok(outcome)
}

/// The generators reach every outcome often, so the properties below are not vacuous.
#[test]
fn generated_cases_cover_every_outcome() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let reference = (testing::capability(), seeds(6), testing::request_seed());
    let (mut allowed, mut denied) = (0, 0);
    for _ in 0..1000 {
        let (root, seeds, rs) = reference.new_tree(&mut runner).unwrap().current();
        if reference_case(&root, &seeds, &rs).unwrap() {
            allowed += 1;
        } else {
            denied += 1;
        }
    }
    println!("reference cases: allowed {allowed}, denied {denied}");
    assert!(
        allowed >= 40 && denied >= 40,
        "allowed {allowed}, denied {denied}"
    );
    let hostile = (
        testing::capability(),
        seeds(3),
        prop::collection::vec(raw_step(), 0..3),
        prop::option::weighted(0.2, item()),
        testing::request_seed(),
    );
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..600 {
        let (root, seeds, raw, loose, rs) = hostile.new_tree(&mut runner).unwrap().current();
        let outcome = hostile_case(&root, &seeds, &raw, &loose, &rs).unwrap();
        *counts.entry(outcome).or_insert(0) += 1;
    }
    println!("hostile outcomes: {counts:?}");
    for outcome in [
        Outcome::Unreadable,
        Outcome::Forged,
        Outcome::Allowed,
        Outcome::Denied,
    ] {
        assert!(
            counts.get(&outcome).copied().unwrap_or(0) >= 15,
            "{outcome:?}: {counts:?}"
        );
    }
}

mod conformance {
    use super::*;
    use captoken_core_types::testing::conformance::Setup;

    captoken_core_types::conformance_tests!(Setup {
        provider: Box::new(provider()),
        wrong_key: Box::new(provider_with("k1", 2)),
        keyed: |plan| {
            let ring = plan.build(|id, seed| MacaroonKey::new(id.clone(), &[seed; 32]))?;
            Ok(Box::new(MacaroonProvider::new(ring)))
        },
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The provider's verdict, reason included, equals the reference authorizer's
    /// on random capabilities, chains of narrowing and hostile steps (every step
    /// accepted keylessly, including past the depth), and requests.
    #[test]
    fn verdict_equals_reference(root in testing::capability(), seeds in seeds(6), rs in testing::request_seed()) {
        reference_case(&root, &seeds, &rs)?;
    }

    /// Hostile caveats appended by hand (whole steps with correct or forged
    /// boundaries and right or wrong counts, copies of earlier caveats, shuffled
    /// step caveats, duplicates, garbage, loose caveats without a boundary):
    /// a token that does not read as root + steps is denied; one whose boundaries
    /// do not declare their true parents is denied; otherwise the verdict is the
    /// reference's for what it reads as; and nothing allowed is outside what the
    /// original chain allows.
    #[test]
    fn hostile_raw_caveats_never_widen(
        root in testing::capability(),
        seeds in seeds(3),
        raw in prop::collection::vec(raw_step(), 0..3),
        loose in prop::option::weighted(0.2, item()),
        rs in testing::request_seed(),
    ) {
        hostile_case(&root, &seeds, &raw, &loose, &rs)?;
    }

    /// Arbitrary bytes, text and JSON never panic and never verify.
    #[test]
    fn arbitrary_input_is_denied(bytes in prop::collection::vec(any::<u8>(), 0..400), text in ".{0,200}") {
        let p = provider();
        let stores = Stores::new();
        let mut framed = vec![2u8];
        framed.extend_from_slice(&bytes);
        for b in [bytes.clone(), framed] {
            prop_assert!(p.verify(&Token::new(FORMAT, b.clone()), &workload::request(0), &stores.cold()).is_err());
            let _ = p.inspect(&Token::new(FORMAT, b.clone()));
            let _ = p.lineage_hash(&Token::new(FORMAT, b));
        }
        let _ = p.parse_text(&text);
        let _ = p.parse_json(&text);
        let _ = Claim::parse(text.as_bytes());
    }

    /// Any single-byte change to an attenuated token denies it.
    #[test]
    fn any_byte_change_denies(depth in 0usize..4, at in any::<usize>(), xor in 1u8..=255) {
        let p = provider();
        let stores = Stores::new();
        let tokens = chain(&p, depth);
        let mut bytes = tokens[depth].as_bytes().to_vec();
        let i = at % bytes.len();
        bytes[i] ^= xor;
        prop_assert!(p.verify(&Token::new(FORMAT, bytes), &workload::request(depth), &stores.cold()).is_err());
    }
}
