//! Behaviour of the HMAC provider: binding, tamper resistance, keys, attenuation, lineage, sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

use captoken_core_types::reference::authorize;
use captoken_core_types::testing::{self, workload};
use captoken_core_types::testing::{FailingStore as Broken, Stores};
use captoken_core_types::{
    Attenuation, Capability, Constraint, DenyReason, Error, Format, KeyId, LineageEntry,
    LineageHash, LineageIndex, MemoryLineageIndex, RevocationList, Subject, Token, TokenId,
    TokenProvider, ToolRef, VerifyContext,
};
use captoken_hmac_provider::{FORMAT, HmacKey, HmacKeyring, HmacProvider, TEXT_PREFIX};
use proptest::prelude::*;

fn kid(s: &str) -> KeyId {
    KeyId::new(s).unwrap()
}

fn provider_with(id: &str, secret: u8) -> HmacProvider {
    HmacProvider::new(HmacKeyring::from_keys([HmacKey::new(
        kid(id),
        &[secret; 32],
    )
    .unwrap()]))
}

fn provider() -> HmacProvider {
    provider_with("k1", 1)
}

fn root_token(p: &HmacProvider) -> Token {
    p.issue(&workload::capability(kid("k1"))).unwrap()
}

/// A workload chain of `depth` steps, every token recorded in the index; root first.
fn chain(p: &HmacProvider, stores: &Stores, depth: usize) -> Vec<Token> {
    let mut tokens = vec![root_token(p)];
    for step in workload::steps(depth) {
        let child = p.attenuate(tokens.last().unwrap(), &step).unwrap();
        tokens.push(child);
    }
    for t in &tokens {
        stores
            .index
            .record(p.index_entry(t).unwrap().unwrap())
            .unwrap();
    }
    tokens
}

fn ancestors_of(tokens: &[Token]) -> Vec<Token> {
    tokens[..tokens.len() - 1].iter().rev().cloned().collect()
}

fn reason(r: Result<captoken_core_types::Verified, captoken_core_types::Denied>) -> DenyReason {
    r.unwrap_err().reason().clone()
}

#[test]
fn round_trip_binary_and_text() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let text = p.to_text(&token);
    assert!(text.starts_with(TEXT_PREFIX));
    let back = p.parse_text(&text).unwrap();
    assert_eq!(back, token);
    assert_eq!(p.parse_bytes(token.as_bytes()).unwrap(), token);
    let verified = p
        .verify(&back, &workload::request(0), &stores.cold())
        .unwrap();
    assert_eq!(verified.token_id, TokenId([0x5a; 16]));
    assert_eq!(verified.key_id, kid("k1"));
    assert_eq!(verified.chain_len, 0);
    assert_eq!(verified.lineage_hash, p.lineage_hash(&token).unwrap());
    let inspected = p.inspect(&token).unwrap();
    assert_eq!(inspected.capability, workload::capability(kid("k1")));
    assert!(inspected.declared_parents.is_empty());
}

#[test]
fn encoding_is_deterministic_and_pinned() {
    let p = provider();
    assert_eq!(root_token(&p), root_token(&p));
    // The wire format is a compatibility promise: this golden token pins it.
    let hex: String = root_token(&p)
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, GOLDEN_ROOT_HEX);
}

// Its tag was checked independently with Python's hmac module (key: 32 bytes of 0x01).
const GOLDEN_ROOT_HEX: &str = "01026b315a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0f6167656e743a706c616e6e65722d3700020b66732e696e7465726e616c086c6973745f64697203056c696d69740400d00f046d6f6465010002726f0470617468020a2f7372762f646174612f0b66732e696e7465726e616c09726561645f66696c6503056c696d69740400d00f046d6f6465010002726f0470617468020a2f7372762f646174612f80f2d6ca06908ed7ca0610006df4797dc72e563102cf689106a3ff810c03bebd45dab75cfcf2375fa712ac58";

#[test]
fn reference_workload_text_size() {
    let p = provider();
    let text = p.to_text(&root_token(&p));
    assert!(text.len() <= 280, "over budget: {}", text.len());
    assert_eq!(
        text.len(),
        273,
        "DESIGN.md §7 workload at depth 0; the budget is 280"
    );
}

#[test]
fn every_single_bit_flip_is_denied() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let req = workload::request(0);
    assert!(p.verify(&token, &req, &stores.cold()).is_ok());
    let bytes = token.as_bytes();
    for i in 0..bytes.len() * 8 {
        let mut flipped = bytes.to_vec();
        flipped[i / 8] ^= 1 << (i % 8);
        let r = p.verify(&Token::new(FORMAT, flipped), &req, &stores.cold());
        assert!(r.is_err(), "bit {i} flipped still verifies");
    }
}

#[test]
fn every_truncation_and_extension_is_denied() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let req = workload::request(0);
    for n in 0..token.as_bytes().len() {
        let cut = Token::new(FORMAT, token.as_bytes()[..n].to_vec());
        assert!(
            p.verify(&cut, &req, &stores.cold()).is_err(),
            "truncated to {n}"
        );
        assert!(
            p.parse_bytes(&token.as_bytes()[..n]).is_err() || n > 34,
            "framing of {n} bytes"
        );
    }
    let mut longer = token.as_bytes().to_vec();
    longer.push(0);
    assert!(
        p.verify(&Token::new(FORMAT, longer), &req, &stores.cold())
            .is_err()
    );
}

#[test]
fn wrong_key_and_unknown_key_id_are_denied() {
    let stores = Stores::new();
    let req = workload::request(0);
    let token = root_token(&provider());
    // Same key id, different secret.
    assert_eq!(
        reason(provider_with("k1", 2).verify(&token, &req, &stores.cold())),
        DenyReason::BadSignature
    );
    // The verifier does not hold the key id, even though it holds another key.
    assert_eq!(
        reason(provider_with("k2", 1).verify(&token, &req, &stores.cold())),
        DenyReason::UnknownKey
    );
    // The lineage index is only fed authenticated rows.
    assert!(matches!(
        provider_with("k1", 2).index_entry(&token),
        Err(Error::BadSignature)
    ));
    assert!(matches!(
        provider_with("k2", 1).index_entry(&token),
        Err(Error::UnknownKey(_))
    ));
    // Issuing under a key the provider does not hold is an error.
    assert!(matches!(
        provider_with("k2", 1).issue(&workload::capability(kid("k1"))),
        Err(Error::UnknownKey(_))
    ));
}

#[test]
fn denial_is_opaque_to_the_caller() {
    let stores = Stores::new();
    let denied = provider_with("k1", 2)
        .verify(
            &root_token(&provider()),
            &workload::request(0),
            &stores.cold(),
        )
        .unwrap_err();
    assert_eq!(denied.to_string(), "capability denied");
    assert_eq!(denied.reason(), &DenyReason::BadSignature);
}

#[test]
fn each_request_field_follows_the_reference() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let cap = workload::capability(kid("k1"));
    let base = workload::request(0);
    let mut variants = vec![base.clone()];
    variants.push(captoken_core_types::Request {
        subject: "agent:other".into(),
        ..base.clone()
    });
    variants.push(captoken_core_types::Request {
        server: "fs.external".into(),
        ..base.clone()
    });
    variants.push(captoken_core_types::Request {
        tool: "list_dir".into(),
        ..base.clone()
    });
    variants.push(captoken_core_types::Request {
        tool: "write_file".into(),
        ..base.clone()
    });
    variants.push(base.clone().with_arg("path", "/etc/shadow"));
    variants.push(base.clone().with_arg("mode", "rw"));
    variants.push(base.clone().with_arg("limit", 1001));
    variants.push(base.clone().with_arg("limit", 1000));
    variants.push(base.clone().with_arg("extra", true));
    let mut without = base.clone();
    without.args.remove("mode");
    variants.push(without);
    for now in [
        workload::NOT_BEFORE - 1,
        workload::NOT_BEFORE,
        workload::NOT_BEFORE + workload::VALIDITY - 1,
        workload::NOT_BEFORE + workload::VALIDITY,
    ] {
        variants.push(captoken_core_types::Request {
            now,
            ..base.clone()
        });
    }
    let mut allowed = 0;
    for req in &variants {
        let want = authorize(&cap, &[], req);
        let got = p.verify(&token, req, &stores.cold());
        assert_eq!(got.is_ok(), want.is_ok(), "{req:?}");
        if let Err(reason) = want {
            assert_eq!(got.unwrap_err().reason(), &reason, "{req:?}");
        } else {
            allowed += 1;
        }
    }
    assert_eq!(
        allowed, 6,
        "the base, list_dir, limit 1000, an extra argument, and the two in-window edges"
    );
}

#[test]
fn expired_and_not_yet_valid_are_denied() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let at = |now| captoken_core_types::Request {
        now,
        ..workload::request(0)
    };
    assert_eq!(
        reason(p.verify(&token, &at(workload::NOT_BEFORE - 1), &stores.cold())),
        DenyReason::NotYetValid
    );
    assert_eq!(
        reason(p.verify(
            &token,
            &at(workload::NOT_BEFORE + workload::VALIDITY),
            &stores.cold()
        )),
        DenyReason::Expired
    );
}

#[test]
fn widening_attenuation_is_refused() {
    let p = provider();
    let token = root_token(&p);
    let read = ToolRef::new(workload::SERVER, "read_file");
    let widen = [
        Attenuation::new().expires_at(workload::NOT_BEFORE + workload::VALIDITY + 1),
        Attenuation::new().not_before(workload::NOT_BEFORE - 1),
        Attenuation::new().max_depth(16),
        Attenuation::new().keep_only([ToolRef::new(workload::SERVER, "write_file")]),
        Attenuation::new().constrain(read.clone(), "path", Constraint::Prefix("/".into())),
        Attenuation::new().constrain(
            read.clone(),
            "limit",
            Constraint::Range { min: 0, max: 5000 },
        ),
        Attenuation::new().constrain(read, "mode", Constraint::Any),
    ];
    for step in &widen {
        assert!(
            matches!(p.attenuate(&token, step), Err(Error::Attenuation(_))),
            "{step:?}"
        );
    }
    // A narrowing step succeeds and consumes depth.
    let child = p.attenuate(&token, &workload::step(1)).unwrap();
    assert_eq!(p.inspect(&child).unwrap().capability.max_depth, 15);
    // Exhausted depth.
    let mut cap = workload::capability(kid("k1"));
    cap.max_depth = 0;
    let leaf = p.issue(&cap).unwrap();
    assert!(matches!(
        p.attenuate(&leaf, &Attenuation::new()),
        Err(Error::Attenuation(_))
    ));
    // A parent the issuer cannot authenticate is not re-issued.
    assert!(matches!(
        provider_with("k1", 9).attenuate(&token, &workload::step(1)),
        Err(Error::BadSignature)
    ));
}

#[test]
fn delegation_moves_the_subject() {
    let p = provider();
    let stores = Stores::new();
    let root = root_token(&p);
    stores
        .index
        .record(p.index_entry(&root).unwrap().unwrap())
        .unwrap();
    let child = p
        .attenuate(
            &root,
            &Attenuation::new().delegate(Subject::new("agent:sub")),
        )
        .unwrap();
    let old = workload::request(0);
    let new = captoken_core_types::Request {
        subject: "agent:sub".into(),
        ..old.clone()
    };
    assert_eq!(
        reason(p.verify(&child, &old, &stores.cold())),
        DenyReason::WrongSubject
    );
    assert!(p.verify(&child, &new, &stores.cold()).is_ok());
}

#[test]
fn cold_verification_equals_live_up_to_depth_8() {
    let p = provider();
    for depth in 0..=8 {
        let stores = Stores::new();
        let tokens = chain(&p, &stores, depth);
        let leaf = tokens.last().unwrap();
        let ancestors = ancestors_of(&tokens);
        let live = stores.cold().with_ancestors(&ancestors);
        let empty_index = MemoryLineageIndex::new();
        let live_only =
            VerifyContext::new(&stores.revoked, &empty_index).with_ancestors(&ancestors);
        for req_depth in 0..=8 {
            let req = workload::request(req_depth);
            let cold = p.verify(leaf, &req, &stores.cold());
            assert_eq!(
                cold.as_ref().map(|v| v.chain_len).ok(),
                p.verify(leaf, &req, &live).map(|v| v.chain_len).ok()
            );
            assert_eq!(
                cold.as_ref().ok(),
                p.verify(leaf, &req, &live_only).as_ref().ok(),
                "depth {depth}"
            );
            // The request's path is inside the leaf's prefix only when it is at least as deep.
            assert_eq!(
                cold.is_ok(),
                req_depth >= depth,
                "depth {depth}, request depth {req_depth}"
            );
        }
        if depth > 0 {
            // Neither the parent nor the index: the lineage cannot be established.
            let nothing = VerifyContext::new(&stores.revoked, &empty_index);
            assert_eq!(
                reason(p.verify(leaf, &workload::request(depth), &nothing)),
                DenyReason::LineageUnknown
            );
        }
    }
}

#[test]
fn revoking_an_ancestor_denies_descendants_only() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, &stores, 4);
    let unrelated = chain(&p, &Stores::new(), 2);
    for t in &unrelated {
        stores
            .index
            .record(p.index_entry(t).unwrap().unwrap())
            .unwrap();
    }
    let revoked_at = 2;
    stores
        .revoked
        .revoke(p.lineage_hash(&tokens[revoked_at]).unwrap())
        .unwrap();
    for (i, t) in tokens.iter().enumerate() {
        let req = workload::request(i);
        let ancestors = ancestors_of(&tokens[..=i]);
        for ctx in [stores.cold(), stores.cold().with_ancestors(&ancestors)] {
            let r = p.verify(t, &req, &ctx);
            if i >= revoked_at {
                assert_eq!(reason(r), DenyReason::Revoked, "token {i}");
            } else {
                assert!(r.is_ok(), "token {i} is not below the revoked one");
            }
        }
    }
    assert!(
        p.verify(&unrelated[2], &workload::request(2), &stores.cold())
            .is_ok()
    );
}

#[test]
fn forged_lineage_is_denied() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, &stores, 2);
    let leaf = &tokens[2];
    let req = workload::request(2);
    // A supplied parent that is not the declared one.
    let other = chain(&p, &Stores::new(), 1);
    let wrong = [other[1].clone(), tokens[0].clone()];
    assert_eq!(
        reason(p.verify(leaf, &req, &stores.cold().with_ancestors(&wrong))),
        DenyReason::LineageMismatch
    );
    // An index whose entry for the parent records another hash.
    let forged = MemoryLineageIndex::new();
    let parent = p.index_entry(&tokens[1]).unwrap().unwrap();
    forged
        .record(LineageEntry {
            hash: LineageHash([0; 32]),
            ..parent
        })
        .unwrap();
    let ctx = VerifyContext::new(&stores.revoked, &forged);
    assert_eq!(
        reason(p.verify(leaf, &req, &ctx)),
        DenyReason::LineageMismatch
    );
}

#[test]
fn store_failure_fails_closed() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, &stores, 1);
    let req = workload::request(1);
    assert_eq!(
        reason(p.verify(
            &tokens[1],
            &req,
            &VerifyContext::new(&Broken, &stores.index)
        )),
        DenyReason::Store
    );
    assert_eq!(
        reason(p.verify(
            &tokens[1],
            &req,
            &VerifyContext::new(&stores.revoked, &Broken)
        )),
        DenyReason::Store
    );
}

#[test]
fn other_formats_and_garbage_are_denied() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let relabelled = Token::new(Format::new("paseto-v4"), token.as_bytes().to_vec());
    assert!(
        p.verify(&relabelled, &workload::request(0), &stores.cold())
            .is_err()
    );
    assert!(matches!(
        p.inspect(&relabelled),
        Err(Error::WrongFormat { .. })
    ));
    for text in [
        "",
        "cth1.",
        "cth1.!!!!",
        "v4.public.AAAA",
        &"cth1.".repeat(10_000),
    ] {
        assert!(p.parse_text(text).is_err(), "{text:.20}");
    }
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
        let p = provider();
        let stores = Stores::new();
        let mut tokens = vec![p.issue(&root).unwrap()];
        let mut steps = Vec::new();
        let mut cap: Capability = root.clone();
        for (seed, hostile) in &seeds {
            let step = hostile.clone().unwrap_or_else(|| testing::narrowing_step(&cap, seed));
            let expected = cap.attenuate(&step);
            let got = p.attenuate(tokens.last().unwrap(), &step);
            prop_assert_eq!(expected.is_ok(), got.is_ok(), "{:?}", step);
            let (Ok(next), Ok(token)) = (expected, got) else { continue };
            cap = next;
            steps.push(step);
            tokens.push(token);
        }
        for t in &tokens {
            stores.index.record(p.index_entry(t).unwrap().unwrap()).unwrap();
        }
        let req = testing::request_for(&root, &steps, &rs);
        let want = authorize(&root, &steps, &req).is_ok();
        let leaf = tokens.last().unwrap();
        let ancestors = ancestors_of(&tokens);
        prop_assert_eq!(p.verify(leaf, &req, &stores.cold()).is_ok(), want, "cold, {:?}", req);
        prop_assert_eq!(p.verify(leaf, &req, &stores.cold().with_ancestors(&ancestors)).is_ok(), want, "live");
    }

    /// Arbitrary bytes never panic and never verify.
    #[test]
    fn arbitrary_bytes_are_denied(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let p = provider();
        let stores = Stores::new();
        prop_assert!(p.verify(&Token::new(FORMAT, bytes.clone()), &workload::request(0), &stores.cold()).is_err());
        let _ = p.inspect(&Token::new(FORMAT, bytes));
    }
}
