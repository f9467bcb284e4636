//! Behaviour of the Biscuit provider beyond the shared conformance suite (mounted before the proptests): text form, pinned Datalog, key selection, offline attenuation, delegation, lineage recovery, sealing, limits, the differential test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use biscuit_auth::{Biscuit, UnverifiedBiscuit};
use captoken_biscuit_provider::{BiscuitKeyring, BiscuitProvider, FORMAT, root_key_id};
use captoken_core_types::reference::{authorize, authorize_chain};
use captoken_core_types::testing::{self, FailingStore as Broken, ancestors_of, workload};
use captoken_core_types::{
    Attenuation, AttenuationError, AttenuationMode, Capability, Constraint, DenyReason, Error,
    Format, HolderKey, HolderSigningKey, MemoryLineageIndex, MemoryNonceStore, ModelError,
    Possession, Proof, Request, Subject, Token, TokenId, TokenProvider, ToolRef, VerifyContext,
    possession,
};
use common::*;
use proptest::prelude::*;

fn at(now: u64) -> Request {
    Request {
        now,
        ..workload::request(0)
    }
}

#[test]
fn round_trip_binary_and_text() {
    let p = provider();
    let stores = Stores::new();
    let token = root_token(&p);
    let text = p.to_text(&token);
    let back = p.parse_text(&text).unwrap();
    assert_eq!(back, token);
    assert_eq!(p.parse_bytes(token.as_bytes()).unwrap(), token);
    let verified = p
        .verify(&back, &workload::request(0), &stores.cold())
        .unwrap();
    assert_eq!(verified.token_id, TokenId([0x5a; 16]));
    assert_eq!(verified.key_id, kid("k1"));
    assert_eq!(verified.chain_len, 0);
    assert_eq!(verified.format, FORMAT);
    assert_eq!(FORMAT.tag(), "biscuit-v3.cap2");
    assert_eq!(verified.issued_at, workload::NOT_BEFORE);
    assert_eq!(verified.holder, Subject::new(workload::SUBJECT));
    assert_eq!(verified.lineage_hash, p.lineage_hash(&token).unwrap());
    let inspected = p.inspect(&token).unwrap();
    assert_eq!(inspected.capability, workload::capability(kid("k1")));
    assert!(inspected.steps.is_empty() && inspected.declared_parents.is_empty());
    assert_eq!(p.index_entry(&token).unwrap(), None);
    let props = p.properties();
    assert_eq!(props.attenuation, AttenuationMode::Offline);
    assert!(props.public_key_verification && !props.deterministic_encoding);
}

#[test]
fn text_form_is_biscuits_own_base64() {
    let p = provider();
    let tokens = chain(&p, 2);
    let public = signing("k1", 1).public();
    for token in &tokens {
        let text = p.to_text(token);
        let biscuit = Biscuit::from(token.as_bytes(), |_| {
            biscuit_auth::PublicKey::from_bytes(
                &public.to_bytes(),
                biscuit_auth::Algorithm::Ed25519,
            )
        })
        .unwrap();
        assert_eq!(
            text,
            biscuit.to_base64().unwrap(),
            "Biscuit's own text form"
        );
        assert!(
            !text.contains('+') && !text.contains('/'),
            "URL-safe alphabet"
        );
        let from_text = UnverifiedBiscuit::from_base64(&text).unwrap();
        assert_eq!(from_text.block_count(), token_blocks(token));
        assert_eq!(biscuit.root_key_id(), Some(root_key_id(&kid("k1"))));
    }
    for bad in ["", "!!!!", "AAAA", &"A".repeat(100_000)] {
        assert!(p.parse_text(bad).is_err(), "{bad:.10}");
    }
}

fn token_blocks(t: &Token) -> usize {
    UnverifiedBiscuit::from(t.as_bytes()).unwrap().block_count()
}

#[test]
fn authority_datalog_is_pinned() {
    let p = provider();
    let root = root_token(&p);
    let source = UnverifiedBiscuit::from(root.as_bytes())
        .unwrap()
        .print_block_source(0)
        .unwrap();
    assert_eq!(source, AUTHORITY_SOURCE);
    let child = p.attenuate(&root, &workload::step(1)).unwrap();
    let source = UnverifiedBiscuit::from(child.as_bytes())
        .unwrap()
        .print_block_source(1)
        .unwrap();
    let parent = p.lineage_hash(&root).unwrap();
    assert_eq!(source, STEP_1_SOURCE.replace("PARENT", &parent.to_hex()));
}

const AUTHORITY_SOURCE: &str = r#"schema_version(2);
token_id(hex:5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a);
issuer("k1");
issued_at(2026-01-01T00:00:00Z);
subject("agent:planner-7");
right("fs.internal", "list_dir") <- tool("fs.internal", "list_dir"), arg("limit", $v0), arg("mode", "ro"), path_arg("path", $v2), $v0.type() == "integer" && $v0 >= 0 && $v0 <= 1000, $v2.starts_with("/srv/data/");
right("fs.internal", "read_file") <- tool("fs.internal", "read_file"), arg("limit", $v0), arg("mode", "ro"), path_arg("path", $v2), $v0.type() == "integer" && $v0 >= 0 && $v0 <= 1000, $v2.starts_with("/srv/data/");
check if requester($r), holder($r);
check if time($t), $t >= 2026-01-01T00:00:00Z;
check if time($t), $t < 2026-01-01T01:00:00Z;
check if chain($n), $n <= 17;
"#;

const STEP_1_SOURCE: &str = r#"parent(hex:PARENT);
check if time($t), $t < 2026-01-01T00:59:59Z;
check if tool($s, $t), $s != "fs.internal" || $t != "read_file" or path_arg("path", $v0), arg("limit", $v1), $v0.starts_with("/srv/data/p1/"), $v1.type() == "integer" && $v1 >= 0 && $v1 <= 999;
check if tool($s, $t), $s != "fs.internal" || $t != "list_dir" or path_arg("path", $v0), arg("limit", $v1), $v0.starts_with("/srv/data/p1/"), $v1.type() == "integer" && $v1 >= 0 && $v1 <= 999;
"#;

/// The workload's authority as captoken schema 1 (format `biscuit-v3`) wrote
/// it: no `schema_version`, no `issued_at`, paths as byte prefixes.
const SCHEMA_1_AUTHORITY: &str = r#"token_id(hex:5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a);
issuer("k1");
subject("agent:planner-7");
right("fs.internal", "read_file") <- tool("fs.internal", "read_file"), arg("limit", $v0), arg("mode", "ro"), arg("path", $v2), $v0.type() == "integer" && $v0 >= 0 && $v0 <= 1000, $v2.type() == "string" && $v2.starts_with("/srv/data/");
check if requester($r), holder($r);
check if time($t), $t >= 2026-01-01T00:00:00Z;
check if time($t), $t < 2026-01-01T01:00:00Z;
check if chain($n), $n <= 17;
"#;

#[test]
fn the_pinned_authority_signed_by_hand_verifies() {
    // The pinned source is the whole authority: signed by hand, it is the
    // workload token (with other signatures), so the forgeries below differ
    // from a genuine token only in what they change.
    let p = provider();
    let stores = Stores::new();
    let token = forge_root(AUTHORITY_SOURCE);
    let verified = p
        .verify(&token, &workload::request(0), &stores.cold())
        .unwrap();
    assert_eq!(verified.issued_at, workload::NOT_BEFORE);
    assert_eq!(
        p.inspect(&token).unwrap().capability,
        workload::capability(kid("k1"))
    );
}

#[test]
fn schema_1_tokens_are_refused() {
    let p = provider();
    let stores = Stores::new();
    let old = forge_root(SCHEMA_1_AUTHORITY);
    let unsupported = "unsupported captoken schema version";
    assert_eq!(
        reason(p.verify(&old, &workload::request(0), &stores.cold())),
        DenyReason::Malformed(unsupported)
    );
    assert!(matches!(
        p.attenuate(&old, &workload::step(1)),
        Err(Error::Malformed(m)) if m == unsupported
    ));
    assert!(matches!(p.inspect(&old), Err(Error::Malformed(m)) if m == unsupported));
    // Another version number, or a second declaration, is no better.
    for version in [
        "schema_version(1);",
        "schema_version(3);",
        r#"schema_version("2");"#,
        "schema_version(2); schema_version(3);",
    ] {
        let forged = forge_root(&format!(
            "{version}\n{SCHEMA_1_AUTHORITY}\nissued_at(2026-01-01T00:00:00Z);"
        ));
        assert_eq!(
            reason(p.verify(&forged, &workload::request(0), &stores.cold())),
            DenyReason::Malformed(unsupported),
            "{version}"
        );
    }
    // A schema-2 authority without `issued_at` is malformed too.
    let no_time = forge_root(&AUTHORITY_SOURCE.replace("issued_at(2026-01-01T00:00:00Z);\n", ""));
    assert_eq!(
        reason(p.verify(&no_time, &workload::request(0), &stores.cold())),
        DenyReason::Malformed("authority lacks one issued_at date")
    );
}

/// The reference's verdict on a token as inspected, followed by the
/// possession check `verify` makes after authorization (with `possession`).
fn reference_verdict(
    p: &BiscuitProvider,
    token: &Token,
    req: &Request,
    possession: Option<&Possession<'_>>,
) -> Result<(), DenyReason> {
    let inspected = p.inspect(token).unwrap();
    let hash = p.lineage_hash(token).unwrap();
    let chain = authorize_chain(&inspected.capability, &inspected.steps, req).and_then(|holder| {
        possession::enforce(possession, &verified_as(&inspected, hash, holder), req)
    });
    if possession.is_none() {
        // The reference for a verifier given no proof says the same.
        assert_eq!(
            authorize(&inspected.capability, &inspected.steps, req).map(|_| ()),
            chain
        );
    }
    chain
}

#[test]
fn bound_tokens_forged_in_the_wire_format_need_possession() {
    let p = provider();
    let stores = Stores::new();
    // The holder key the forged bindings name: seed 9.
    let holder = HolderSigningKey::from_seed(&[9; 32]);
    let HolderKey::Ed25519(public) = holder.public().clone() else {
        panic!("an Ed25519 holder key")
    };
    let key = format!("hex:{}", captoken_core_types::hex::encode(&public));
    let subject = "subject(\"agent:planner-7\");\n";
    let other_subject = Request {
        subject: "agent:other".into(),
        ..workload::request(0)
    };
    let write = Request {
        tool: "write_file".into(),
        ..workload::request(0)
    };
    let early = at(workload::NOT_BEFORE - 1);
    let requests = [
        workload::request(0),
        other_subject.clone(),
        early.clone(),
        write.clone(),
    ];
    // Bound to a key: issuable, and verified only with the holder's proof.
    let mut cap = workload::capability(kid("k1"));
    cap.subject = Subject::bound_to_key(workload::SUBJECT, holder.public().clone());
    let issued = p.issue(&cap).unwrap();
    let forged =
        forge_root(&AUTHORITY_SOURCE.replace(subject, &format!("{subject}subject_key({key});\n")));
    assert_eq!(p.inspect(&forged).unwrap().capability, cap);
    assert_eq!(p.inspect(&issued).unwrap().capability, cap);
    for token in [&forged, &issued] {
        // Authorization first, in the reference's order; possession only
        // decides a request it allows.
        for (req, want) in requests.iter().zip([
            DenyReason::PossessionRequired,
            DenyReason::WrongSubject,
            DenyReason::NotYetValid,
            DenyReason::NoMatchingGrant,
        ]) {
            assert_eq!(
                reason(p.verify(token, req, &stores.cold())),
                want,
                "{req:?}"
            );
            assert_eq!(reference_verdict(&p, token, req, None), Err(want));
        }
        let nonces = MemoryNonceStore::default();
        let req = workload::request(0);
        let hash = p.lineage_hash(token).unwrap();
        let proof = Proof::sign(hash, &req, [1; 16], req.now, &holder).unwrap();
        let with_proof = stores
            .cold()
            .with_possession(Possession::new(&nonces).with_proof(&proof));
        let verified = p.verify(token, &req, &with_proof).unwrap();
        assert_eq!(verified.holder, cap.subject);
        // A proof by another key, or for another token, is no proof.
        let other = HolderSigningKey::from_seed(&[10; 32]);
        let stolen = Proof::sign(hash, &req, [2; 16], req.now, &other).unwrap();
        let ctx = stores
            .cold()
            .with_possession(Possession::new(&nonces).with_proof(&stolen));
        assert_eq!(reason(p.verify(token, &req, &ctx)), DenyReason::ProofSender);
    }
    // Bound to a key set: issued; without a proof (and a holder-key
    // directory) denied, with the reference's reason.
    let mut set_cap = workload::capability(kid("k1"));
    set_cap.subject = Subject::bound_to_key_set(workload::SUBJECT);
    assert!(p.issue(&set_cap).is_ok());
    let set_binding = "subject_key_set(\"agent:planner-7\");\n";
    let forged = forge_root(&AUTHORITY_SOURCE.replace(subject, &format!("{subject}{set_binding}")));
    assert!(p.inspect(&forged).unwrap().capability.subject.is_bound());
    for req in &requests {
        let want = reference_verdict(&p, &forged, req, None).unwrap_err();
        assert_eq!(
            reason(p.verify(&forged, req, &stores.cold())),
            want,
            "{req:?}"
        );
    }
    for binding in [format!("subject_key({key});\n"), set_binding.to_owned()] {
        let bound = AUTHORITY_SOURCE.replace(subject, &format!("{subject}{binding}"));
        let forged = forge_root(&bound);
        let mut huge = workload::request(0);
        for i in 0..=captoken_core_types::bounds::MAX_REQUEST_ARGS {
            huge = huge.with_arg(format!("x{i}"), 1);
        }
        assert_eq!(
            reason(p.verify(&forged, &huge, &stores.cold())),
            DenyReason::RequestTooLarge
        );
        // Signed by another key, it is a bad signature before anything else.
        assert_eq!(
            reason(provider_with([signing("k1", 2)]).verify(
                &forged,
                &workload::request(0),
                &stores.cold()
            )),
            DenyReason::BadSignature
        );
        // Depth comes first: a hand-appended block past the depth is denied as such.
        let shallow = bound.replace("$n <= 17", "$n <= 1");
        let over = append_hostile(&p, &forge_root(&shallow), "check if true;");
        assert_eq!(
            reason(p.verify(&over, &workload::request(0), &stores.cold())),
            DenyReason::DepthExceeded
        );
    }
    // An unsigned delegate block from the key-bound holder, appended by hand
    // (attenuate refuses it): the chain is denied, for everyone.
    let forged =
        forge_root(&AUTHORITY_SOURCE.replace(subject, &format!("{subject}subject_key({key});\n")));
    assert!(matches!(
        p.attenuate(
            &forged,
            &Attenuation::new().delegate(Subject::new("agent:b"))
        ),
        Err(Error::Model(ModelError::DelegationUnsigned))
    ));
    let by_b = Request {
        subject: "agent:b".into(),
        ..workload::request(0)
    };
    let stolen = append_hostile(&p, &forged, r#"delegate("agent:b");"#);
    for req in [&by_b, &workload::request(0), &other_subject, &early, &write] {
        assert_eq!(
            reason(p.verify(&stolen, req, &stores.cold())),
            DenyReason::UnsignedDelegation,
            "{req:?}"
        );
        assert_eq!(
            reference_verdict(&p, &stolen, req, None),
            Err(DenyReason::UnsignedDelegation)
        );
    }
    // From a bearer root, a delegate bound to a key or a key set, appended by
    // hand: either needs its proof (for a key set, from a key its directory
    // admits).
    let root = root_token(&p);
    for (binding, needs) in [
        (format!("delegate_key({key});"), Some(&holder)),
        (r#"delegate_key_set("agent:b");"#.to_owned(), None),
    ] {
        let child = append_hostile(&p, &root, &format!("delegate(\"agent:b\"); {binding}"));
        let inspected = p.inspect(&child).unwrap();
        let to = inspected.steps[0].delegate.clone().unwrap();
        assert!(to.is_bound() && to.principal == "agent:b");
        for (req, want) in [
            (&by_b, DenyReason::PossessionRequired),
            (&workload::request(0), DenyReason::WrongSubject),
        ] {
            assert_eq!(
                reason(p.verify(&child, req, &stores.cold())),
                want,
                "{binding}"
            );
            assert_eq!(reference_verdict(&p, &child, req, None), Err(want));
        }
        if let Some(key) = needs {
            let nonces = MemoryNonceStore::default();
            let hash = p.lineage_hash(&child).unwrap();
            let proof = Proof::sign(hash, &by_b, [4; 16], by_b.now, key).unwrap();
            let ctx = stores
                .cold()
                .with_possession(Possession::new(&nonces).with_proof(&proof));
            assert_eq!(p.verify(&child, &by_b, &ctx).unwrap().holder, to);
        }
    }
    // Malformed bindings are malformed, not bearer tokens.
    for (binding, why) in [
        ("subject_key(hex:0909);", "malformed subject binding"),
        (
            r#"subject_key_set("agent:other");"#,
            "malformed subject binding",
        ),
        (
            r#"subject_key_set("agent:planner-7"); subject_key(hex:0909090909090909090909090909090909090909090909090909090909090909);"#,
            "malformed subject binding",
        ),
    ] {
        let forged = forge_root(&format!("{AUTHORITY_SOURCE}{binding}"));
        assert_eq!(
            reason(p.verify(&forged, &workload::request(0), &stores.cold())),
            DenyReason::Malformed(why),
            "{binding}"
        );
    }
    for bad in [
        format!("delegate_key({key});"),
        r#"delegate("agent:b"); delegate_key_set("agent:c");"#.to_owned(),
        r#"delegate("agent:b"); delegate_key(hex:00);"#.to_owned(),
    ] {
        let child = append_hostile(&p, &root, &bad);
        assert_eq!(
            reason(p.verify(&child, &workload::request(0), &stores.cold())),
            DenyReason::Malformed("malformed delegate"),
            "{bad}"
        );
    }
}

#[test]
fn a_huge_request_is_denied_before_any_authorizer_is_built() {
    // Issue 13: 100 000 arguments against a root token. The request bounds
    // are checked first, in time linear in the request: no parsing, no
    // signature, no Datalog.
    let p = provider();
    let stores = Stores::new();
    let root = root_token(&p);
    let mut huge = workload::request(0);
    for i in 0..100_000 {
        huge.args
            .insert(format!("a{i}"), captoken_core_types::Value::Int(i));
    }
    assert_eq!(
        reason(p.verify(&root, &huge, &stores.cold())),
        DenyReason::RequestTooLarge
    );
    // Even a token that does not parse: the request is refused first.
    assert_eq!(
        reason(p.verify(&Token::new(FORMAT, b"junk".to_vec()), &huge, &stores.cold())),
        DenyReason::RequestTooLarge
    );
}

#[test]
fn the_work_screen_covers_root_tokens() {
    // A root token has no attenuation block; the authority's rules still
    // scan every ambient fact, and the screen counts them.
    let stores = Stores::new();
    let root = root_token(&provider());
    let with = |limits: captoken_biscuit_provider::Limits| {
        let mut ring = BiscuitKeyring::new();
        ring.insert(signing("k1", 1)).unwrap();
        BiscuitProvider::with_limits(ring, limits)
    };
    let small = workload::request(0);
    let mut wide = workload::request(0);
    for i in 0..60 {
        wide = wide.with_arg(format!("x{i}"), i);
    }
    let default = with(captoken_biscuit_provider::Limits::default());
    assert!(default.verify(&root, &small, &stores.cold()).is_ok());
    assert!(default.verify(&root, &wide, &stores.cold()).is_ok());
    // A budget between the two estimates admits the small request only.
    let tight = with(
        captoken_biscuit_provider::Limits::builder()
            .max_authority_work(1000)
            .build()
            .unwrap(),
    );
    assert!(tight.verify(&root, &small, &stores.cold()).is_ok());
    assert_eq!(
        reason(tight.verify(&root, &wide, &stores.cold())),
        DenyReason::UnknownCaveat
    );
}

#[test]
fn issuing_checks_the_bounds_first() {
    let p = provider_with([]);
    let mut cap = workload::capability(kid("k1"));
    for i in 0..=captoken_core_types::bounds::MAX_GRANTS {
        cap.grants
            .insert(captoken_core_types::Grant::new("s", format!("t{i}")));
    }
    // Refused as too large before the (missing) key is even looked up.
    assert!(matches!(
        p.issue(&cap),
        Err(Error::Model(captoken_core_types::ModelError::TooLarge(_)))
    ));
}

#[test]
fn paths_are_judged_by_the_shared_rule() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 1);
    let req = |path: &str| workload::request(1).with_arg("path", path);
    for path in [
        "/srv/data/p1/../../../etc/passwd",
        "/srv/data/p1/./x",
        "/srv/data/p1//x",
        "/srv/data/p1/%2e%2e/x",
        "/srv/data/p1/%2E%2E/x",
        "/srv/data/p1/..\\x",
        "/srv/data/p1/x\0",
        "/srv/data/p1/x/",
        "/srv/data/p1",
        "/srv/data/p1x/report.txt",
        "srv/data/p1/x",
    ] {
        // Denied under `/srv/data/p1/`, and judged as the reference judges
        // it under the root's `/srv/data/` too (which admits some of them).
        for (depth, token) in tokens.iter().enumerate() {
            let r = req(path);
            let got = p.verify(token, &r, &stores.cold()).map(|_| ());
            let want = authorize(
                &workload::capability(kid("k1")),
                &workload::steps(depth),
                &r,
            );
            assert!(depth == 0 || got.is_err(), "{path:?} at depth {depth}");
            assert_eq!(
                got.map_err(|d| d.reason().clone()),
                want.map(|_| ()),
                "{path:?}"
            );
        }
    }
    assert!(
        p.verify(&tokens[1], &req("/srv/data/p1/a/b.txt"), &stores.cold())
            .is_ok()
    );
    // A holder's own block can constrain a path the same way, and narrows.
    let narrowed = append_hostile(
        &p,
        &tokens[1],
        r#"check if path_arg("path", $p), $p.starts_with("/srv/data/p1/a/");"#,
    );
    assert!(
        p.verify(&narrowed, &req("/srv/data/p1/a/b.txt"), &stores.cold())
            .is_ok()
    );
    for path in [
        "/srv/data/p1/b.txt",
        "/srv/data/p1/a/../../b.txt",
        "/srv/data/p1/a",
    ] {
        assert!(
            p.verify(&narrowed, &req(path), &stores.cold()).is_err(),
            "{path}"
        );
    }
    // A captoken step's Path is that check: inspection reads it back.
    let step = Attenuation::new().constrain(
        ToolRef::new(workload::SERVER, "read_file"),
        "path",
        Constraint::Path("/srv/data/p1/a/".into()),
    );
    let child = p.attenuate(&tokens[1], &step).unwrap();
    assert_eq!(p.inspect(&child).unwrap().steps[1], step);
    assert!(
        p.verify(&child, &req("/srv/data/p1/a/b.txt"), &stores.cold())
            .is_ok()
    );
    assert_eq!(
        reason(p.verify(&child, &req("/srv/data/p1/b.txt"), &stores.cold())),
        DenyReason::ConstraintViolated
    );
    // A hostile path fails the root grant already, as in the reference.
    let hostile = req("/srv/data/p1/a/../b.txt");
    let steps = [workload::step(1), step];
    assert_eq!(
        authorize(&workload::capability(kid("k1")), &steps, &hostile),
        Err(DenyReason::NoMatchingGrant)
    );
    assert_eq!(
        reason(p.verify(&child, &hostile, &stores.cold())),
        DenyReason::NoMatchingGrant
    );
}

#[test]
fn root_key_is_selected_by_key_id() {
    let stores = Stores::new();
    let req = workload::request(0);
    let token = root_token(&provider());
    // Same key id, different key: the signature fails.
    assert_eq!(
        reason(provider_with([signing("k1", 2)]).verify(&token, &req, &stores.cold())),
        DenyReason::BadSignature
    );
    // The verifier does not hold the key id, even though it holds another key.
    assert_eq!(
        reason(provider_with([signing("k2", 1)]).verify(&token, &req, &stores.cold())),
        DenyReason::UnknownKey
    );
    // Two keys: the token's root key id selects k1; k2 is never tried.
    let both = provider_with([signing("k2", 2), signing("k1", 1)]);
    assert_eq!(
        both.verify(&token, &req, &stores.cold()).unwrap().key_id,
        kid("k1")
    );
    // The root key id is not signed: pointing it at k2 selects k2, whose check fails.
    let mut proto = biscuit_auth::format::schema::Biscuit::decode_from(token.as_bytes());
    proto.root_key_id = Some(root_key_id(&kid("k2")));
    let relabelled = Token::new(FORMAT, encode(&proto));
    assert_eq!(
        reason(both.verify(&relabelled, &req, &stores.cold())),
        DenyReason::BadSignature
    );
    proto.root_key_id = None;
    assert_eq!(
        reason(both.verify(&Token::new(FORMAT, encode(&proto)), &req, &stores.cold())),
        DenyReason::UnknownKey
    );
    // Issuing under a key the provider does not hold is an error.
    assert!(matches!(
        provider_with([signing("k2", 1)]).issue(&workload::capability(kid("k1"))),
        Err(Error::UnknownKey(_))
    ));
    // A verifier holding only public keys verifies.
    let mut ring = BiscuitKeyring::new();
    ring.insert(signing("k1", 1).public()).unwrap();
    let verifier = BiscuitProvider::new(ring);
    assert!(verifier.verify(&token, &req, &stores.cold()).is_ok());
    assert!(matches!(
        verifier.issue(&workload::capability(kid("k1"))),
        Err(Error::Key(captoken_core_types::KeyError::VerifyOnly(_)))
    ));
}

trait DecodeFrom {
    fn decode_from(bytes: &[u8]) -> Self;
}

impl DecodeFrom for biscuit_auth::format::schema::Biscuit {
    fn decode_from(bytes: &[u8]) -> Self {
        <Self as prost::Message>::decode(bytes).unwrap()
    }
}

fn encode(proto: &biscuit_auth::format::schema::Biscuit) -> Vec<u8> {
    prost::Message::encode_to_vec(proto)
}

#[test]
fn attenuation_is_offline_and_widening_steps_are_inert() {
    let p = provider();
    let stores = Stores::new();
    let root = root_token(&p);
    // A holder with no key at all attenuates.
    let keyless = BiscuitProvider::new(BiscuitKeyring::new());
    let read = ToolRef::new(workload::SERVER, "read_file");
    let widen = [
        Attenuation::new().expires_at(workload::NOT_BEFORE + workload::VALIDITY + 1000),
        Attenuation::new().not_before(0),
        Attenuation::new().max_depth(u32::MAX),
        Attenuation::new().keep_only([read.clone(), ToolRef::new(workload::SERVER, "write_file")]),
        Attenuation::new().constrain(read.clone(), "path", Constraint::Prefix("/".into())),
        Attenuation::new().constrain(
            read.clone(),
            "limit",
            Constraint::Range { min: -5, max: 5000 },
        ),
        Attenuation::new().constrain(read.clone(), "mode", Constraint::Any),
        Attenuation::new().constrain(ToolRef::new("x", "y"), "a", Constraint::Any),
    ];
    let probes = [
        workload::request(0),
        at(workload::NOT_BEFORE - 1),
        at(workload::NOT_BEFORE + workload::VALIDITY + 10),
        workload::request(0).with_arg("path", "/etc/passwd"),
        workload::request(0).with_arg("limit", 4000),
        workload::request(0).with_arg("mode", "rw"),
        Request {
            tool: "write_file".into(),
            ..workload::request(0)
        },
        Request {
            tool: "list_dir".into(),
            ..workload::request(0)
        },
    ];
    for step in &widen {
        let child = keyless.attenuate(&root, step).unwrap();
        for probe in &probes {
            let want = authorize(
                &workload::capability(kid("k1")),
                std::slice::from_ref(step),
                probe,
            );
            let got = p.verify(&child, probe, &stores.cold());
            assert_eq!(
                got.as_ref().err().map(|d| d.reason().clone()),
                want.clone().err(),
                "{step:?} {probe:?}"
            );
            if got.is_ok() {
                assert!(
                    p.verify(&root, probe, &stores.cold()).is_ok(),
                    "{step:?} widened {probe:?}"
                );
            }
        }
        assert_eq!(p.inspect(&child).unwrap().steps, vec![step.clone()]);
    }
}

#[test]
fn depth_is_consumed_and_exhausted() {
    let p = provider();
    let stores = Stores::new();
    let mut cap = workload::capability(kid("k1"));
    cap.max_depth = 2;
    let root = p.issue(&cap).unwrap();
    let one = p.attenuate(&root, &Attenuation::new()).unwrap();
    let two = p.attenuate(&one, &Attenuation::new()).unwrap();
    assert!(
        p.verify(&two, &workload::request(0), &stores.cold())
            .is_ok()
    );
    assert!(matches!(
        p.attenuate(&two, &Attenuation::new()),
        Err(Error::Attenuation(AttenuationError::DepthExhausted))
    ));
    // Lowering the depth to 0 forbids any further step.
    let low = p
        .attenuate(&root, &Attenuation::new().max_depth(0))
        .unwrap();
    assert!(matches!(
        p.attenuate(&low, &Attenuation::new()),
        Err(Error::Attenuation(AttenuationError::DepthExhausted))
    ));
    // A holder who appends anyway (biscuit-auth's own append) is denied at verification.
    for over in [&two, &low] {
        let forced = append_hostile(&p, over, "check if true;");
        assert_eq!(
            reason(p.verify(&forced, &workload::request(0), &stores.cold())),
            DenyReason::DepthExceeded
        );
    }
    // A zero-depth root cannot be attenuated at all.
    cap.max_depth = 0;
    let leaf = p.issue(&cap).unwrap();
    assert!(matches!(
        p.attenuate(&leaf, &Attenuation::new()),
        Err(Error::Attenuation(AttenuationError::DepthExhausted))
    ));
}

#[test]
fn delegation_moves_the_subject_and_the_last_one_wins() {
    let p = provider();
    let stores = Stores::new();
    let root = root_token(&p);
    let by_at = |s: &str, depth: usize| Request {
        subject: s.into(),
        ..workload::request(depth)
    };
    let by = |s: &str| by_at(s, 0);
    let to = |s: &str| Attenuation::new().delegate(Subject::new(s));
    let b = p.attenuate(&root, &to("agent:b")).unwrap();
    assert_eq!(
        reason(p.verify(&b, &by(workload::SUBJECT), &stores.cold())),
        DenyReason::WrongSubject
    );
    assert!(p.verify(&b, &by("agent:b"), &stores.cold()).is_ok());
    let c = p.attenuate(&b, &to("agent:c")).unwrap();
    for s in [workload::SUBJECT, "agent:b"] {
        assert_eq!(
            reason(p.verify(&c, &by(s), &stores.cold())),
            DenyReason::WrongSubject,
            "{s}"
        );
    }
    assert!(p.verify(&c, &by("agent:c"), &stores.cold()).is_ok());
    // A step without a delegate keeps the current holder.
    let kept = p.attenuate(&c, &workload::step(1)).unwrap();
    assert!(
        p.verify(&kept, &by_at("agent:c", 1), &stores.cold())
            .is_ok()
    );
    assert_eq!(
        reason(p.verify(&kept, &by_at("agent:b", 1), &stores.cold())),
        DenyReason::WrongSubject
    );
    // Delegating back to the root subject is a delegation like any other.
    let back = p.attenuate(&c, &to(workload::SUBJECT)).unwrap();
    assert!(
        p.verify(&back, &by(workload::SUBJECT), &stores.cold())
            .is_ok()
    );
    assert_eq!(
        reason(p.verify(&back, &by("agent:c"), &stores.cold())),
        DenyReason::WrongSubject
    );
    // The reference agrees on every one of these.
    let steps = [to("agent:b"), to("agent:c"), workload::step(1)];
    for s in [workload::SUBJECT, "agent:b", "agent:c"] {
        let req = by_at(s, 1);
        assert_eq!(
            authorize(&workload::capability(kid("k1")), &steps, &req).map(|_| ()),
            p.verify(&kept, &req, &stores.cold())
                .map(|_| ())
                .map_err(|d| d.reason().clone())
        );
    }
}

#[test]
fn workload_at_every_depth_allows_only_deep_enough_paths() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 16);
    for (depth, token) in tokens.iter().enumerate() {
        for req_depth in [0, depth.saturating_sub(1), depth, 16] {
            let ok = p
                .verify(token, &workload::request(req_depth), &stores.cold())
                .is_ok();
            assert_eq!(
                ok,
                req_depth >= depth,
                "depth {depth}, request depth {req_depth}"
            );
        }
        let inspected = p.inspect(token).unwrap();
        assert_eq!(inspected.steps, workload::steps(depth));
    }
}

#[test]
fn cold_verification_equals_live() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 8);
    let leaf = tokens.last().unwrap();
    let ancestors = ancestors_of(&tokens);
    for req_depth in 0..=8 {
        let req = workload::request(req_depth);
        let cold = p.verify(leaf, &req, &stores.cold());
        for n in 0..=ancestors.len() {
            // Any prefix of the ancestors (parent first) confirms the same chain.
            let live = p.verify(leaf, &req, &stores.cold().with_ancestors(&ancestors[..n]));
            assert_eq!(cold, live, "request depth {req_depth}, {n} ancestors");
        }
    }
    // The lineage index is never consulted: a broken one changes nothing.
    let ctx = VerifyContext::new(&stores.revoked, &Broken);
    assert!(p.verify(leaf, &workload::request(8), &ctx).is_ok());
}

#[test]
fn lineage_hashes_agree_between_ancestors_and_descendants() {
    let p = provider();
    let tokens = chain(&p, 6);
    let leaf = tokens.last().unwrap();
    let recovered = p.lineage(leaf).unwrap();
    let own: Vec<_> = tokens.iter().map(|t| p.lineage_hash(t).unwrap()).collect();
    assert_eq!(
        recovered, own,
        "each ancestor's hash, computed from the ancestor, is recovered from the leaf"
    );
    let declared = p.inspect(leaf).unwrap().declared_parents;
    let mut parents: Vec<_> = own[..own.len() - 1].to_vec();
    parents.reverse();
    assert_eq!(declared, parents, "nearest first");
    // Biscuit's revocation ids pair one to one with the lineage hashes.
    let pairs = p.revocation_ids(leaf).unwrap();
    let ids = UnverifiedBiscuit::from(leaf.as_bytes())
        .unwrap()
        .revocation_identifiers();
    assert_eq!(pairs.iter().map(|(h, _)| *h).collect::<Vec<_>>(), own);
    assert_eq!(pairs.into_iter().map(|(_, id)| id).collect::<Vec<_>>(), ids);
}

#[test]
fn wrong_ancestors_are_denied() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 2);
    let leaf = &tokens[2];
    let req = workload::request(2);
    let other = chain(&p, 1);
    for wrong in [
        vec![other[1].clone()],
        vec![tokens[0].clone()],
        vec![tokens[1].clone(), tokens[1].clone()],
        vec![tokens[1].clone(), tokens[0].clone(), tokens[0].clone()],
        vec![Token::new(FORMAT, b"junk".to_vec())],
        vec![Token::new(
            Format::new("hmac-v1"),
            tokens[1].as_bytes().to_vec(),
        )],
    ] {
        assert_eq!(
            reason(p.verify(leaf, &req, &stores.cold().with_ancestors(&wrong))),
            DenyReason::LineageMismatch
        );
    }
}

#[test]
fn sealed_tokens_verify_and_cannot_be_attenuated() {
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 1);
    let sealed = UnverifiedBiscuit::from(tokens[1].as_bytes())
        .unwrap()
        .seal()
        .unwrap();
    let sealed = Token::new(FORMAT, sealed.to_vec().unwrap());
    assert!(
        p.verify(&sealed, &workload::request(1), &stores.cold())
            .is_ok()
    );
    // The proof is not part of the lineage: sealing keeps the credential's hash.
    assert_eq!(
        p.lineage_hash(&sealed).unwrap(),
        p.lineage_hash(&tokens[1]).unwrap()
    );
    assert!(p.attenuate(&sealed, &workload::step(2)).is_err());
}

#[test]
fn roots_with_a_parent_are_refused() {
    let p = provider();
    let mut cap = workload::capability(kid("k1"));
    cap.parent = Some(captoken_core_types::ParentRef::new(
        FORMAT,
        TokenId([1; 16]),
        captoken_core_types::LineageHash([2; 32]),
    ));
    assert!(matches!(p.issue(&cap), Err(Error::Unsupported(_))));
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
    assert!(matches!(
        p.attenuate(&relabelled, &workload::step(1)),
        Err(Error::WrongFormat { .. })
    ));
    let huge = vec![0u8; p.limits().max_token_len() + 1];
    assert!(p.parse_bytes(&huge).is_err());
    assert_eq!(
        reason(p.verify(
            &Token::new(FORMAT, huge),
            &workload::request(0),
            &stores.cold()
        )),
        DenyReason::Malformed("token too long")
    );
}

#[test]
fn workload_sizes() {
    // DESIGN.md §7: the workload token at each measured depth, binary and text.
    let p = provider();
    let tokens = chain(&p, 16);
    let mut sizes = Vec::new();
    for d in workload::DEPTHS {
        let t = &tokens[d];
        sizes.push((d, t.as_bytes().len(), p.to_text(t).len()));
    }
    for (d, bin, text) in &sizes {
        // Blocks are signed with fresh random keys, yet the encoding's length is fixed.
        assert_eq!(*text, bin.div_ceil(3) * 4, "depth {d}");
    }
    let again: Vec<_> = chain(&p, 16).iter().map(|t| t.as_bytes().len()).collect();
    assert_eq!(
        again,
        tokens
            .iter()
            .map(|t| t.as_bytes().len())
            .collect::<Vec<_>>(),
        "sizes do not depend on the random block keys"
    );
    eprintln!("workload sizes (depth, binary, text): {sizes:?}");
}

#[cfg(feature = "p256")]
#[test]
fn p256_root_key() {
    let key =
        captoken_biscuit_provider::RootSigningKey::p256_from_scalar(kid("p1"), &[5; 32]).unwrap();
    let mut ring = BiscuitKeyring::new();
    ring.insert(key).unwrap();
    let p = BiscuitProvider::new(ring);
    let stores = Stores::new();
    let root = p.issue(&workload::capability(kid("p1"))).unwrap();
    let child = p.attenuate(&root, &workload::step(1)).unwrap();
    let verified = p
        .verify(&child, &workload::request(1), &stores.cold())
        .unwrap();
    assert_eq!(verified.key_id, kid("p1"));
    assert!(
        p.verify(&child, &workload::request(0), &stores.cold())
            .is_err()
    );
    // An Ed25519 key of the same id does not verify it.
    let other = provider_with([signing("p1", 5)]);
    assert_eq!(
        reason(other.verify(&child, &workload::request(1), &stores.cold())),
        DenyReason::BadSignature
    );
}

/// A chain built from `seeds`: narrowing steps derived from the capability so
/// far, or the hostile step when one is given. Returns the tokens (root first),
/// the steps taken, and the reference's remaining depth.
fn build_chain(
    p: &BiscuitProvider,
    root: &Capability,
    seeds: &[(testing::StepSeed, Option<Attenuation>)],
) -> Result<(Vec<Token>, Vec<Attenuation>), TestCaseError> {
    let mut tokens = vec![p.issue(root).unwrap()];
    let mut steps = Vec::new();
    let mut cap = root.clone();
    let mut depth = root.max_depth;
    for (seed, hostile) in seeds {
        let step = hostile
            .clone()
            .unwrap_or_else(|| testing::narrowing_step(&cap, seed));
        let got = p.attenuate(tokens.last().unwrap(), &step);
        // Offline attenuation refuses a step exactly when the reference's depth is exhausted.
        let Some(left) = depth.checked_sub(1) else {
            prop_assert!(
                matches!(
                    got,
                    Err(Error::Attenuation(AttenuationError::DepthExhausted))
                ),
                "{:?}",
                got
            );
            continue;
        };
        depth = step.max_depth.map_or(left, |d| d.min(left));
        tokens.push(got.map_err(|e| TestCaseError::fail(format!("{e}: {step:?}")))?);
        if let Ok(next) = cap.attenuate(&step) {
            cap = next;
        }
        steps.push(step);
    }
    Ok((tokens, steps))
}

mod conformance {
    use super::*;
    use captoken_core_types::testing::conformance::Setup;

    captoken_core_types::conformance_tests!(Setup {
        provider: Box::new(provider()),
        wrong_key: Box::new(provider_with([signing("k1", 2)])),
        keyed: |plan| {
            let ring = plan.build(|id, seed| {
                Ok(captoken_biscuit_provider::RootKey::from(
                    captoken_biscuit_provider::RootSigningKey::ed25519_from_seed(
                        id.clone(),
                        &[seed; 32],
                    ),
                ))
            })?;
            Ok(Box::new(BiscuitProvider::new(ring)))
        },
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The provider's verdict and structured reason equal the reference
    /// authorizer's on random capabilities, chains of narrowing and hostile
    /// steps and requests, cold and live; inspection recovers the chain and
    /// every declared parent hash equals the ancestor's own.
    #[test]
    fn verdict_equals_reference(
        root in testing::capability(),
        seeds in prop::collection::vec((testing::step_seed(), prop::option::weighted(0.3, testing::hostile_step())), 0..5),
        rs in testing::request_seed(),
    ) {
        let p = provider();
        let stores = Stores::new();
        let (tokens, steps) = build_chain(&p, &root, &seeds)?;
        let req = testing::request_for(&root, &steps, &rs);
        let want = authorize(&root, &steps, &req);
        let leaf = tokens.last().unwrap();
        let cold = p.verify(leaf, &req, &stores.cold());
        prop_assert_eq!(cold.as_ref().err().map(|d| d.reason().clone()), want.clone().err(), "cold, {:?}", req);
        let ancestors = ancestors_of(&tokens);
        let live = p.verify(leaf, &req, &stores.cold().with_ancestors(&ancestors));
        prop_assert_eq!(&live, &cold, "live equals cold");
        let inspected = p.inspect(leaf).unwrap();
        prop_assert_eq!(&inspected.capability, &root);
        prop_assert_eq!(&inspected.steps, &steps);
        let own: Vec<_> = ancestors.iter().map(|t| p.lineage_hash(t).unwrap()).collect();
        prop_assert_eq!(inspected.declared_parents, own);
        // No child authorizes an action its parent does not (as the parent's holder).
        if cold.is_ok() && tokens.len() > 1 {
            let parent = &tokens[tokens.len() - 2];
            let holder = steps[..steps.len() - 1]
                .iter()
                .rev()
                .find_map(|s| s.delegate.as_ref())
                .unwrap_or(&root.subject);
            let as_parent = Request { subject: holder.principal.clone(), ..req };
            prop_assert!(p.verify(parent, &as_parent, &stores.cold()).is_ok(), "child widened its parent");
        }
    }

    /// Arbitrary bytes never panic and never verify.
    #[test]
    fn arbitrary_bytes_are_denied(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let p = provider();
        let stores = Stores::new();
        let token = Token::new(FORMAT, bytes);
        prop_assert!(p.verify(&token, &workload::request(0), &stores.cold()).is_err());
        let _ = p.inspect(&token);
        let _ = p.attenuate(&token, &workload::step(1));
        let _ = p.lineage_hash(&token);
    }

    /// Random byte edits of a valid chain never panic and never verify.
    #[test]
    fn edited_chains_are_denied(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let p = provider();
        let stores = Stores::new();
        let tokens = chain(&p, 2);
        let mut bytes = tokens[2].as_bytes().to_vec();
        for (i, b) in &edits {
            let at = i.index(bytes.len());
            bytes[at] ^= b | 1;
        }
        // Two edits of one byte may cancel out: that is the genuine token.
        prop_assume!(bytes != tokens[2].as_bytes());
        let edited = Token::new(FORMAT, bytes);
        prop_assert!(p.verify(&edited, &workload::request(2), &stores.cold()).is_err());
        let _ = p.inspect(&edited);
        let _ = p.attenuate(&edited, &workload::step(3));
    }
}

#[test]
fn the_longest_chain_the_limits_allow_verifies() {
    let p = provider();
    let stores = Stores::new();
    let longest = p.limits().max_blocks() - 1;
    let mut cap = workload::capability(kid("k1"));
    cap.max_depth = u32::try_from(longest).unwrap() + 1;
    let mut token = p.issue(&cap).unwrap();
    for step in workload::steps(longest) {
        token = p.attenuate(&token, &step).unwrap();
    }
    let verified = p
        .verify(&token, &workload::request(longest), &stores.cold())
        .unwrap();
    assert_eq!(verified.chain_len, longest);
    assert!(token.as_bytes().len() < p.limits().max_token_len());
    // One more block is past the provider's limit, though not past the depth.
    assert!(matches!(
        p.attenuate(&token, &workload::step(64)),
        Err(Error::Unsupported(_))
    ));
    let forced = append_hostile(&p, &token, "check if true;");
    assert_eq!(
        reason(p.verify(&forced, &workload::request(longest), &stores.cold())),
        DenyReason::Malformed("too many blocks")
    );
}

#[test]
fn lineage_index_is_unused() {
    // Cold verification needs no index: an empty one and a populated one agree.
    let p = provider();
    let stores = Stores::new();
    let tokens = chain(&p, 3);
    let empty = MemoryLineageIndex::new();
    let ctx = VerifyContext::new(&stores.revoked, &empty);
    assert_eq!(
        p.verify(&tokens[3], &workload::request(3), &ctx),
        p.verify(&tokens[3], &workload::request(3), &stores.cold())
    );
}
