//! Interoperability with pyseto, driven by `.ci/interop-paseto.sh`: verify pyseto's tokens, write captoken's for pyseto.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]
//!
//! The test is ignored by default: it needs the vectors that
//! `interop/interop.py sign` writes into the directory named by
//! `CAPTOKEN_INTEROP_DIR`. Run on its own, without that directory or with the
//! vectors missing, it fails rather than pass without checking anything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use captoken_core_types::testing::workload;
use captoken_core_types::{
    Capability, Constraint, DenyReason, Grant, KeyId, MemoryLineageIndex, MemoryRevocationList,
    Request, Token, TokenProvider, Value, VerifyContext, hex,
};
use captoken_paseto_provider::{
    FORMAT_PUBLIC, IMPLICIT_ASSERTION, PasetoPublicProvider, PublicKeyring, SigningKey,
    VerifyingKey,
};
use serde_json::{Value as Json, json};

/// The fewest vectors a run must check; fewer means the vector file is wrong.
const MIN_CASES: usize = 20;

fn interop_dir() -> PathBuf {
    let dir = std::env::var_os("CAPTOKEN_INTEROP_DIR")
        .expect("CAPTOKEN_INTEROP_DIR must name the directory `interop.py sign` wrote");
    PathBuf::from(dir)
}

fn value(v: &Json) -> Value {
    match v {
        Json::String(s) => Value::Str(s.clone()),
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Int(n.as_i64().expect("integer argument")),
        other => panic!("unsupported argument {other}"),
    }
}

fn request(r: &Json) -> Request {
    Request {
        subject: r["subject"].as_str().unwrap().to_owned(),
        server: r["server"].as_str().unwrap().to_owned(),
        tool: r["tool"].as_str().unwrap().to_owned(),
        args: r["args"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), value(v)))
            .collect::<BTreeMap<_, _>>(),
        now: r["now"].as_u64().unwrap(),
    }
}

/// `Malformed("…")` -> `Malformed`.
fn reason_name(reason: &DenyReason) -> String {
    let debug = format!("{reason:?}");
    debug.split('(').next().unwrap_or_default().to_owned()
}

/// Phase 2 of the interop run: pyseto's tokens through captoken.
fn verify_pyseto_vectors(vectors: &Json) {
    let key = VerifyingKey::from_paserk(
        KeyId::new(vectors["key_id"].as_str().unwrap()).unwrap(),
        vectors["public_key"].as_str().unwrap(),
    )
    .expect("pyseto's public key as PASERK");
    // No cache of authenticated ancestors: each vector is judged on what it
    // supplies, not on ancestors an earlier vector supplied.
    let verifier = PasetoPublicProvider::new(PublicKeyring::single(key)).with_row_cache(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(cases.len() >= MIN_CASES, "only {} vectors", cases.len());
    let mut failures = Vec::new();
    let (mut allowed, mut denied, mut iat_checked) = (0, 0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let text = case["token"].as_str().unwrap();
        let ancestors: Vec<Token> = case["ancestors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                verifier
                    .parse_text(t.as_str().unwrap())
                    .expect("ancestor parses")
            })
            .collect();
        let ctx = VerifyContext::new(&revoked, &index).with_ancestors(&ancestors);
        let token = Token::new(FORMAT_PUBLIC, text.as_bytes().to_vec());
        let got = verifier.verify(&token, &request(&case["request"]), &ctx);
        let ok = match (expect, &got) {
            ("allow", Ok(_)) => {
                allowed += 1;
                true
            }
            ("deny", Err(_)) => {
                denied += 1;
                true
            }
            (want, Err(denial)) => {
                denied += 1;
                want.strip_prefix("deny:") == Some(reason_name(denial.reason()).as_str())
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: expected {expect}, got {got:?}"));
        }
        // Where the vector states the signed `iat`, verification reports it.
        if let (Some(iat), Ok(verified)) = (case.get("issued_at").and_then(Json::as_u64), &got) {
            iat_checked += 1;
            if verified.issued_at != iat {
                failures.push(format!(
                    "{name}: issued_at {} reported, {iat} signed",
                    verified.issued_at
                ));
            }
        }
        // Whatever pyseto wrote that captoken accepts also parses and inspects.
        if got.is_ok() {
            let inspected = verifier
                .inspect(&verifier.parse_text(text).unwrap())
                .unwrap();
            assert_eq!(
                inspected.capability.issuer.as_str(),
                vectors["key_id"].as_str().unwrap()
            );
        }
    }
    eprintln!(
        "captoken checked {} pyseto vectors: {allowed} allowed, {denied} denied",
        cases.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        allowed >= 3 && denied >= 10 && iat_checked >= 2,
        "{allowed} allowed, {denied} denied, {iat_checked} issue times checked"
    );
}

/// Phase 3: captoken's tokens for pyseto, valid around the vectors' `now`.
fn write_captoken_tokens(now: u64) -> Json {
    let issuer_id = KeyId::new("captoken-k1").unwrap();
    let signing = SigningKey::generate(issuer_id.clone()).unwrap();
    let public = signing.verifying_key().clone();
    let issuer = PasetoPublicProvider::new(PublicKeyring::single(signing));
    let grant = |tool: &str| {
        Grant::new(workload::SERVER, tool)
            .with_arg("path", Constraint::Path(workload::ROOT_PREFIX.into()))
            .with_arg("mode", Constraint::Exact("ro".into()))
            .with_arg("limit", Constraint::Range { min: 0, max: 1000 })
    };
    let mut builder = Capability::builder(issuer_id)
        .subject(workload::SUBJECT)
        .issued_at(now - 120)
        .valid_from(now - 60)
        .valid_until(now + 3600)
        .depth(4);
    for tool in workload::TOOLS {
        builder = builder.grant(grant(tool));
    }
    let cap = builder.build().unwrap();
    let mut chain = vec![issuer.issue(&cap).unwrap()];
    for step in [workload::step(1), workload::step(2)] {
        let step = captoken_core_types::Attenuation {
            expires_at: Some(now + 3000),
            ..step
        };
        chain.push(issuer.attenuate(chain.last().unwrap(), &step).unwrap());
    }
    let tokens: Vec<Json> = chain
        .iter()
        .map(|t| {
            let cap = issuer.inspect(t).unwrap().capability;
            json!({
                "text": issuer.to_text(t),
                "jti": cap.id.to_hex(),
                "sub": cap.subject.principal,
                "issued_at": cap.issued_at,
                "lineage_hash": issuer.lineage_hash(t).unwrap().to_hex(),
            })
        })
        .collect();
    let golden_seed = [1u8; 32];
    let golden = PasetoPublicProvider::new(PublicKeyring::single(
        SigningKey::from_seed(KeyId::new("k1").unwrap(), &golden_seed).unwrap(),
    ));
    let golden_text = golden.to_text(
        &golden
            .issue(&workload::capability(KeyId::new("k1").unwrap()))
            .unwrap(),
    );
    json!({
        "key_id": "captoken-k1",
        "public_key": public.to_paserk(),
        "paserk_id": public.paserk_id(),
        "implicit_assertion": std::str::from_utf8(IMPLICIT_ASSERTION).unwrap(),
        "format": FORMAT_PUBLIC.tag(),
        "tokens": tokens,
        "golden": {"seed_hex": hex::encode(&golden_seed), "text": golden_text},
    })
}

#[test]
#[ignore = "run by .ci/interop-paseto.sh, which installs pyseto and writes the vectors"]
fn pyseto_interop() {
    let dir = interop_dir();
    let path = dir.join("vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("pyseto vectors missing at {}: {e}", path.display()));
    let vectors: Json = serde_json::from_str(&text).expect("vectors.json is JSON");
    verify_pyseto_vectors(&vectors);
    let out = write_captoken_tokens(vectors["now"].as_u64().expect("now"));
    std::fs::write(
        dir.join("captoken.json"),
        serde_json::to_vec_pretty(&out).unwrap(),
    )
    .unwrap();
}
