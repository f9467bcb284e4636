//! Interoperability with pymacaroons: verifies the macaroons its Python side minted and writes captoken's own for it to verify.
//!
//! Driven by `.ci/interop-macaroon.sh`, which runs
//! `crates/macaroon-provider/interop/interop.py mint DIR`, then this test with
//! `CAPTOKEN_INTEROP_DIR=DIR` and `--features third-party`, then
//! `interop.py check DIR`. Without the variable, or without the vectors, the
//! test fails: it never passes without having checked anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    reason = "tests and benchmarks fail by panicking and report what they measured"
)]

use std::collections::BTreeMap;
use std::path::Path;

use captoken_core_types::reference::authorize;
use captoken_core_types::testing::workload;
use captoken_core_types::{
    Attenuation, Capability, Constraint, Grant, KeyId, MemoryLineageIndex, MemoryRevocationList,
    Request, Subject, Token, TokenId, TokenProvider, Value, VerifyContext, hex,
};
use captoken_macaroon_provider::{MacaroonKey, MacaroonKeyring, MacaroonProvider};
use serde_json::{Value as Json, json};

/// Lower-case hex of any length, a byte at a time through core-types' decoder.
fn unhex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| hex::decode::<1>(std::str::from_utf8(pair).unwrap()).unwrap()[0])
        .collect()
}

fn request_from_json(r: &Json) -> Request {
    let args = r["args"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, v)| {
            let value = if let Some(s) = v.get("s") {
                Value::Str(s.as_str().unwrap().to_owned())
            } else if let Some(i) = v.get("i") {
                Value::Int(i.as_i64().unwrap())
            } else {
                Value::Bool(v["b"].as_bool().unwrap())
            };
            (name.clone(), value)
        })
        .collect();
    Request {
        subject: r["subject"].as_str().unwrap().to_owned(),
        server: r["server"].as_str().unwrap().to_owned(),
        tool: r["tool"].as_str().unwrap().to_owned(),
        args,
        now: r["now"].as_u64().unwrap(),
    }
}

fn request_to_json(r: &Request) -> Json {
    let args: serde_json::Map<String, Json> = r
        .args
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Str(s) => json!({ "s": s }),
                Value::Int(i) => json!({ "i": i }),
                Value::Bool(b) => json!({ "b": b }),
            };
            (k.clone(), v)
        })
        .collect();
    json!({ "subject": r.subject, "server": r.server, "tool": r.tool, "now": r.now, "args": args })
}

struct Stores {
    revoked: MemoryRevocationList,
    index: MemoryLineageIndex,
}

/// (a) and (c): pymacaroons' macaroons verify here exactly as the Python side expects.
fn verify_python_vectors(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let path = dir.join("from_python.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("interop vectors missing at {}: {e}", path.display()));
    let v: Json = serde_json::from_str(&text).unwrap();
    let secret = unhex(v["root_secret_hex"].as_str().unwrap());
    let third_party_secret = unhex(v["third_party_secret_hex"].as_str().unwrap());
    let key_id = KeyId::new(v["key_id"].as_str().unwrap()).unwrap();
    let p = MacaroonProvider::new(MacaroonKeyring::single(
        MacaroonKey::new(key_id, &secret).unwrap(),
    ));
    let cases = v["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 20,
        "only {} cases from pymacaroons",
        cases.len()
    );
    let stores = Stores {
        revoked: MemoryRevocationList::new(),
        index: MemoryLineageIndex::new(),
    };
    let mut failures = Vec::new();
    let (mut allowed, mut denied) = (0, 0);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let token_text = c["token"].as_str().unwrap();
        let token = match c["format"].as_str().unwrap() {
            "binary" => p.parse_text(token_text),
            _ => p.parse_json(token_text),
        }
        .unwrap_or_else(|e| panic!("{name}: captoken cannot read pymacaroons' token: {e}"));
        let discharges: Vec<Token> = c["discharges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| p.parse_text(d.as_str().unwrap()).unwrap())
            .collect();
        let req = request_from_json(&c["request"]);
        let ctx = VerifyContext::new(&stores.revoked, &stores.index).with_discharges(&discharges);
        let got = p.verify(&token, &req, &ctx);
        let mut problems = Vec::new();
        let lineage = p.lineage_hash(&token).unwrap().to_hex();
        if lineage != c["lineage_hash"].as_str().unwrap() {
            problems.push(format!(
                "lineage hash {lineage}, pymacaroons side says {}",
                c["lineage_hash"]
            ));
        }
        match (c["expect"].as_str().unwrap(), &got) {
            ("allow", Ok(_)) => allowed += 1,
            ("deny", Err(d)) => {
                denied += 1;
                let shown = format!("{:?}", d.reason());
                if let Some(want) = c["reason"].as_str()
                    && !shown.starts_with(want)
                {
                    problems.push(format!("denied as {shown}, expected {want}"));
                }
            }
            (want, got) => problems.push(format!("expected {want}, got {got:?}")),
        }
        println!(
            "{:<4} {name}",
            if problems.is_empty() { "ok" } else { "FAIL" }
        );
        if !problems.is_empty() {
            failures.push((name.to_owned(), problems));
        }
    }
    println!(
        "captoken verified {} pymacaroons macaroons ({allowed} allowed, {denied} denied), {} failures",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(allowed >= 5 && denied >= 5);
    (secret, third_party_secret)
}

/// (b): captoken's macaroons, with requests and verdicts from the reference
/// authorizer, for pymacaroons to verify.
fn write_captoken_vectors(dir: &Path, secret: &[u8], third_party_secret: &[u8]) {
    let kid = KeyId::new("rs1").unwrap();
    let p = MacaroonProvider::new(MacaroonKeyring::single(
        MacaroonKey::new(kid.clone(), secret).unwrap(),
    ));
    let holder = MacaroonProvider::holder();
    let mut cases = Vec::new();
    let mut case = |name: &str,
                    token: &Token,
                    cap: &Capability,
                    steps: &[Attenuation],
                    req: &Request,
                    json_form: bool,
                    discharges: &[Token]| {
        let expect = if authorize(cap, steps, req).is_ok() {
            "allow"
        } else {
            "deny"
        };
        let stores = Stores {
            revoked: MemoryRevocationList::new(),
            index: MemoryLineageIndex::new(),
        };
        let ctx = VerifyContext::new(&stores.revoked, &stores.index).with_discharges(discharges);
        assert_eq!(
            p.verify(token, req, &ctx).is_ok(),
            expect == "allow",
            "{name}"
        );
        cases.push(json!({
            "name": name,
            "format": if json_form { "json" } else { "binary" },
            "token": if json_form { p.to_json(token).unwrap() } else { p.to_text(token) },
            "lineage_hash": p.lineage_hash(token).unwrap().to_hex(),
            "format_tag": p.format().tag(),
            "discharges": discharges.iter().map(|d| p.to_text(d)).collect::<Vec<_>>(),
            "request": request_to_json(req),
            "expect": expect,
        }));
    };

    let cap = workload::capability(kid.clone());
    let mut tokens = vec![p.issue(&cap).unwrap()];
    for step in workload::steps(4) {
        tokens.push(holder.attenuate(tokens.last().unwrap(), &step).unwrap());
    }
    for depth in [0, 1, 2, 4] {
        let steps = workload::steps(depth);
        case(
            &format!("b/workload depth {depth}"),
            &tokens[depth],
            &cap,
            &steps,
            &workload::request(depth),
            false,
            &[],
        );
    }
    let steps4 = workload::steps(4);
    case(
        "b/workload depth 4, JSON",
        &tokens[4],
        &cap,
        &steps4,
        &workload::request(4),
        true,
        &[],
    );
    let steps2 = workload::steps(2);
    let base = workload::request(2);
    let denials = [
        (
            "outside the prefix",
            base.clone().with_arg("path", "/srv/data/p1/x"),
        ),
        (
            "limit above the step's",
            base.clone().with_arg("limit", 999),
        ),
        ("wrong mode", base.clone().with_arg("mode", "rw")),
        (
            "dot segments out of the directory",
            base.clone()
                .with_arg("path", "/srv/data/p1/p2/../../../etc/passwd"),
        ),
        (
            "a sibling sharing the directory's bytes",
            base.clone().with_arg("path", "/srv/data/p1/p2x/report.txt"),
        ),
        (
            "an encoded dot segment",
            base.clone().with_arg("path", "/srv/data/p1/p2/%2e%2e/x"),
        ),
        (
            "the directory itself",
            base.clone().with_arg("path", "/srv/data/p1/p2/"),
        ),
        (
            "wrong subject",
            Request {
                subject: "agent:other".into(),
                ..base.clone()
            },
        ),
        (
            "tool not granted",
            Request {
                tool: "write_file".into(),
                ..base.clone()
            },
        ),
        (
            "expired by a step",
            Request {
                now: workload::NOT_BEFORE + workload::VALIDITY - 2,
                ..base.clone()
            },
        ),
        (
            "not yet valid",
            Request {
                now: workload::NOT_BEFORE - 1,
                ..base.clone()
            },
        ),
    ];
    for (what, req) in &denials {
        case(
            &format!("b/depth 2 {what}"),
            &tokens[2],
            &cap,
            &steps2,
            req,
            false,
            &[],
        );
    }
    let list = Request {
        tool: "list_dir".into(),
        ..base.clone()
    };
    case(
        "b/depth 2 list_dir",
        &tokens[2],
        &cap,
        &steps2,
        &list,
        false,
        &[],
    );

    // Delegation and keep.
    let step = Attenuation::new()
        .keep_only([captoken_core_types::ToolRef::new(
            workload::SERVER,
            "read_file",
        )])
        .delegate(Subject::new("agent:helper"))
        .max_depth(0);
    let delegated = holder.attenuate(&tokens[1], &step).unwrap();
    let mut steps = workload::steps(1);
    steps.push(step);
    let req = Request {
        subject: "agent:helper".into(),
        ..workload::request(1)
    };
    case(
        "b/delegated, the delegate",
        &delegated,
        &cap,
        &steps,
        &req,
        false,
        &[],
    );
    case(
        "b/delegated, the delegator",
        &delegated,
        &cap,
        &steps,
        &workload::request(1),
        false,
        &[],
    );
    case(
        "b/delegated, a dropped tool",
        &delegated,
        &cap,
        &steps,
        &Request {
            tool: "list_dir".into(),
            ..req.clone()
        },
        false,
        &[],
    );

    // Every constraint kind and value type, with strings that need escaping.
    let odd = Capability::builder(kid.clone())
        .subject("agent \"x\" \u{fc}")
        .id(TokenId([0x0d; 16]))
        .issued_at(workload::NOT_BEFORE - 5)
        .valid_from(workload::NOT_BEFORE)
        .for_secs(100)
        .depth(2)
        .grant(
            Grant::new("srv one", "t/1")
                .with_arg(
                    "choice",
                    Constraint::OneOf(
                        [Value::from("a b"), Value::Int(3), Value::Bool(true)]
                            .into_iter()
                            .collect(),
                    ),
                )
                .with_arg("any", Constraint::Any)
                .with_arg("flag", Constraint::Exact(Value::Bool(true)))
                .with_arg("n", Constraint::Range { min: -10, max: -5 })
                .with_arg("p", Constraint::Prefix("\\\"\u{1F600}".into()))
                .with_arg("dir", Constraint::Path("/home/\u{fc}ser \"q\"".into())),
        )
        .build()
        .unwrap();
    let odd_token = p.issue(&odd).unwrap();
    let odd_req = Request {
        subject: "agent \"x\" \u{fc}".into(),
        server: "srv one".into(),
        tool: "t/1".into(),
        args: BTreeMap::from([
            ("choice".to_owned(), Value::from("a b")),
            ("any".to_owned(), Value::Int(5)),
            ("flag".to_owned(), Value::Bool(true)),
            ("n".to_owned(), Value::Int(-7)),
            ("p".to_owned(), Value::from("\\\"\u{1F600}tail")),
            (
                "dir".to_owned(),
                Value::from("/home/\u{fc}ser \"q\"/notes \u{1F600}.txt"),
            ),
        ]),
        now: workload::NOW,
    };
    case(
        "b/escaped strings, every constraint",
        &odd_token,
        &odd,
        &[],
        &odd_req,
        false,
        &[],
    );
    case(
        "b/escaped strings, JSON",
        &odd_token,
        &odd,
        &[],
        &odd_req,
        true,
        &[],
    );
    case(
        "b/bool is not int",
        &odd_token,
        &odd,
        &[],
        &odd_req.clone().with_arg("flag", 1),
        false,
        &[],
    );
    case(
        "b/int is not string",
        &odd_token,
        &odd,
        &[],
        &odd_req.clone().with_arg("choice", "3"),
        false,
        &[],
    );
    case(
        "b/range",
        &odd_token,
        &odd,
        &[],
        &odd_req.clone().with_arg("n", -4),
        false,
        &[],
    );
    case(
        "b/path outside a directory with escapes",
        &odd_token,
        &odd,
        &[],
        &odd_req
            .clone()
            .with_arg("dir", "/home/\u{fc}ser \"q\"/../x"),
        false,
        &[],
    );

    // (c) the other way: captoken's third-party caveat and bound discharge.
    #[cfg(feature = "third-party")]
    {
        use captoken_macaroon_provider::{ThirdPartyCaveat, bind_discharge, mint_discharge};
        let tp = ThirdPartyCaveat::new(
            "https://auth.example",
            third_party_secret,
            b"user = carol".to_vec(),
        )
        .unwrap();
        let token = holder
            .attenuate_with_third_party(&tokens[1], &Attenuation::new(), [tp])
            .unwrap();
        let mut steps = workload::steps(1);
        steps.push(Attenuation::new());
        let discharge = mint_discharge(
            third_party_secret,
            b"user = carol",
            "https://auth.example",
            None,
            None,
        )
        .unwrap();
        let bound = bind_discharge(&token, &discharge).unwrap();
        case(
            "b/third-party caveat with its bound discharge",
            &token,
            &cap,
            &steps,
            &workload::request(1),
            false,
            std::slice::from_ref(&bound),
        );
    }
    #[cfg(not(feature = "third-party"))]
    let _ = third_party_secret;

    let out = json!({ "root_secret_hex": hex::encode(secret), "cases": cases });
    let path = dir.join("from_captoken.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!(
        "captoken wrote {} macaroons to {}",
        cases.len(),
        path.display()
    );
}

#[test]
#[ignore = "run by .ci/interop-macaroon.sh, which sets CAPTOKEN_INTEROP_DIR"]
fn interop_with_pymacaroons() {
    let dir = std::env::var("CAPTOKEN_INTEROP_DIR")
        .expect("CAPTOKEN_INTEROP_DIR must name the directory interop.py wrote its vectors to");
    let dir = Path::new(&dir);
    let (secret, third_party_secret) = verify_python_vectors(dir);
    write_captoken_vectors(dir, &secret, &third_party_secret);
}
