//! Every subcommand as a real process: outputs (JSON pinned with insta snapshots, times fixed with `--at`, random ids and hashes redacted), the exit-code matrix, bad input, file modes, standard input, and secrets kept out of every output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers fail by panicking"
)]

mod common;

use common::{AT, Env, FORMATS, swap};
use common::{attenuate_args, delegate_args, holder_args, inspect_at, issue_args};
use common::{key_state_args, keygen_args, prove_args, prove_at, verify_args, verify_at};

/// A request for a tool nothing grants, with no arguments.
const NOTHING: [&str; 4] = ["--server", "s", "--tool", "t"];

/// `verify --key KEY --token TOKEN`, then `extra`, then `--subject a` and [`NOTHING`].
fn verify_nothing<'a>(key: &'a str, token: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["verify", "--key", key, "--token", token];
    args.extend(extra);
    args.extend(["--subject", "a"]);
    args.extend(NOTHING);
    args
}

/// `prove --token TOKEN --holder-key HOLDER_KEY` and [`NOTHING`].
fn prove_nothing<'a>(token: &'a str, holder_key: &'a str) -> Vec<&'a str> {
    let mut args = vec!["prove", "--token", token, "--holder-key", holder_key];
    args.extend(NOTHING);
    args
}

/// The verify arguments for the bearer token of `Env::bearer`.
fn verify_bearer(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = verify_args(
        "issuer.json",
        "bearer.tok",
        "agent:alice",
        &["--store", "store.db"],
    );
    args.extend(extra);
    args
}

#[test]
fn keygen_writes_a_0600_keyring_of_the_documented_schema() {
    for format in FORMATS {
        let env = Env::new();
        let out = env.keygen(format, "k1", "k.json", &[]).ok();
        assert_eq!(
            out,
            format!("wrote {format} keyring k.json (signing key k1)\n")
        );
        assert_eq!(env.mode("k.json"), 0o600, "{format}");
        let file: serde_json::Value = serde_json::from_str(&env.read("k.json")).unwrap();
        let secret = file["keys"][0]["secret"].as_str().unwrap().to_owned();
        match format {
            "paseto-public" => assert!(secret.starts_with("k4.secret."), "{secret}"),
            "paseto-local" => assert!(secret.starts_with("k4.local."), "{secret}"),
            _ => assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())),
        }
        insta::assert_json_snapshot!(format!("keygen_{format}"), file, {
            ".keys[].secret" => "[secret]",
        });
    }
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let env = Env::new();
    env.keygen("hmac", "k1", "k.json", &[]).ok();
    let before = env.read("k.json");
    let line = env.keygen("hmac", "k2", "k.json", &[]).error(2);
    assert_eq!(line, "error: k.json exists; pass --force to overwrite it");
    assert_eq!(env.read("k.json"), before);
    env.keygen("hmac", "k2", "k.json", &["--force"]).ok();
    assert_ne!(env.read("k.json"), before);
    assert_eq!(env.mode("k.json"), 0o600);
}

#[test]
fn keygen_public_out_only_for_public_key_formats() {
    let env = Env::new();
    env.keygen(
        "paseto-public",
        "k1",
        "k.json",
        &["--public-out", "pub.json"],
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_str(&env.read("pub.json")).unwrap();
    assert!(
        doc["keys"][0]["public"]
            .as_str()
            .unwrap()
            .starts_with("k4.public.")
    );
    insta::assert_json_snapshot!("keygen_public_document", doc, { ".keys[].public" => "[public]" });
    for secret in env.secrets("k.json") {
        assert!(!env.read("pub.json").contains(&secret[10..]));
    }
    let line = env
        .keygen("hmac", "k1", "h.json", &["--public-out", "p.json"])
        .error(2);
    assert!(line.contains("has no public keys"), "{line}");
    assert!(!env.path("h.json").exists());
}

#[test]
fn holder_keygen_writes_a_0600_key_and_prints_the_public_key() {
    let env = Env::new();
    let public = env
        .run(&[
            "holder-keygen",
            "--out",
            "h.json",
            "--public-out",
            "h.pub.json",
        ])
        .ok();
    assert!(
        public.starts_with("ed25519:") && public.trim_end().len() == 8 + 64,
        "{public}"
    );
    assert_eq!(env.mode("h.json"), 0o600);
    let secret: serde_json::Value = serde_json::from_str(&env.read("h.json")).unwrap();
    let public_file: serde_json::Value = serde_json::from_str(&env.read("h.pub.json")).unwrap();
    assert_eq!(secret["public"].as_str().unwrap(), public.trim_end());
    assert!(public_file.get("seed").is_none());
    insta::assert_json_snapshot!("holder_key_file", secret, {
        ".public" => "[public]", ".seed" => "[seed]",
    });
    let line = env.run(&["holder-keygen", "--out", "h.json"]).error(2);
    assert!(line.contains("exists"), "{line}");
}

#[test]
fn issue_reads_toml_and_json_alike() {
    let env = Env::new();
    env.keygen("macaroon", "k1", "k.json", &[]).ok();
    let toml = env
        .issue("k.json", &Env::example("capability.toml"), &[])
        .ok();
    let json = env
        .issue("k.json", &Env::example("capability.json"), &[])
        .ok();
    env.write("a.tok", &toml);
    env.write("b.tok", &json);
    let a = env.run(&["inspect", "--token", "a.tok", "--json"]).ok();
    let b = env.run(&["inspect", "--token", "b.tok", "--json"]).ok();
    let (mut a, mut b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    // The macaroon's MAC differs with the key's nonce-free derivation only by content.
    a["lineage_hash"] = serde_json::Value::Null;
    b["lineage_hash"] = serde_json::Value::Null;
    assert_eq!(a, b);
}

#[test]
fn issue_writes_out_files_0600_and_stdout_otherwise() {
    let env = Env::new();
    env.bearer("hmac");
    assert_eq!(env.mode("bearer.tok"), 0o600);
    assert!(
        env.read("bearer.tok").starts_with("cth1."),
        "{}",
        env.read("bearer.tok")
    );
    // Without --out: the token on standard output.
    let out = env
        .issue("issuer.json", &Env::example("capability.json"), &[])
        .ok();
    assert!(
        out.starts_with("cth1.") && out.lines().count() == 1,
        "{out}"
    );
}

#[test]
fn inspect_without_key_is_loudly_unverified() {
    for format in FORMATS {
        if format == "paseto-local" {
            continue; // encrypted: reading it needs the key (see below)
        }
        let env = Env::new();
        env.bearer(format);
        let out = env.run(&["inspect", "--token", "bearer.tok"]).ok();
        assert!(out.starts_with("NOT VERIFIED: "), "{format}: {out}");
        let json: serde_json::Value = serde_json::from_str(
            &env.run(&["inspect", "--token", "bearer.tok", "--json"])
                .ok(),
        )
        .unwrap();
        assert_eq!(json["verified"], false);
        insta::assert_json_snapshot!(format!("inspect_unverified_{format}"), json, {
            ".lineage_hash" => "[hash]",
        });
    }
}

#[test]
fn inspect_with_key_verifies_and_says_what_it_checked() {
    for format in FORMATS {
        let env = Env::new();
        env.bearer(format);
        let out = env
            .run(&inspect_at("bearer.tok", "issuer.json", AT, &[]))
            .ok();
        assert!(out.starts_with("VERIFIED: "), "{format}: {out}");
        assert!(out.contains("agent:alice calling fs/"), "{format}: {out}");
        let json: serde_json::Value = serde_json::from_str(
            &env.run(&inspect_at("bearer.tok", "issuer.json", AT, &["--json"]))
                .ok(),
        )
        .unwrap();
        assert_eq!(json["verified"], true, "{format}: {json}");
        insta::assert_json_snapshot!(format!("inspect_verified_{format}"), json, {
            ".lineage_hash" => "[hash]",
        });
        // Another issuer's key: not verified.
        env.keygen(format, "k1", "other.json", &[]).ok();
        let out = env.run(&inspect_at("bearer.tok", "other.json", AT, &[]));
        if format == "paseto-local" {
            // Encrypted: another key cannot even read it.
            let line = out.error(2);
            assert!(
                line.starts_with("error: cannot read the token: unknown key id k4.lid."),
                "{line}"
            );
        } else {
            let out = out.ok();
            assert!(out.starts_with("NOT VERIFIED: denied"), "{format}: {out}");
        }
        // Outside its window: not verified.
        let out = env
            .run(&inspect_at(
                "bearer.tok",
                "issuer.json",
                "2027-01-01T00:00:00Z",
                &[],
            ))
            .ok();
        assert!(
            out.starts_with("NOT VERIFIED: denied (expired"),
            "{format}: {out}"
        );
    }
}

#[test]
fn inspect_reads_the_token_from_stdin() {
    let env = Env::new();
    env.bearer("biscuit");
    let token = env.read("bearer.tok");
    let out = env.run_stdin(&["inspect", "--token", "-"], &token).ok();
    assert!(
        out.contains("token_id: 0123456789abcdef0123456789abcdef"),
        "{out}"
    );
}

#[test]
fn verify_json_decisions_are_pinned() {
    let env = Env::new();
    env.bearer("hmac");
    let out = env.run(&verify_bearer(&["--json"])).code(0);
    let allowed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    insta::assert_json_snapshot!("verify_allowed", allowed, { ".lineage_hash" => "[hash]" });

    let mut args = verify_args("issuer.json", "bearer.tok", "agent:alice", &["--json"]);
    swap(&mut args, "path=/srv/data/report.txt", "path=/etc/passwd");
    let out = env.run(&args).code(1);
    let denied: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    insta::assert_json_snapshot!("verify_denied_argument", denied);
    assert!(out.stderr.is_empty());
}

#[test]
fn verify_exit_code_matrix() {
    let env = Env::new();
    env.bearer("paseto-public");
    env.keygen("paseto-public", "k1", "other.json", &[]).ok();
    env.keygen("biscuit", "k1", "biscuit.json", &[]).ok();
    let base = [
        "--token",
        "bearer.tok",
        "--server",
        "fs",
        "--tool",
        "read_file",
        "--arg",
        "path=/srv/x",
        "--arg",
        "mode=ro",
        "--arg",
        "limit=5",
    ];
    /// Key, subject (none: missing), time, further arguments, exit code.
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a [&'a str], i32);
    let cases: &[Case<'_>] = &[
        ("issuer.json", Some("agent:alice"), AT, &[], 0),
        ("issuer.json", Some("agent:mallory"), AT, &[], 1),
        (
            "issuer.json",
            Some("agent:alice"),
            "2025-12-31T23:59:59Z",
            &[],
            1,
        ),
        ("issuer.json", Some("agent:alice"), "1767229200", &[], 1),
        ("other.json", Some("agent:alice"), AT, &[], 1),
        ("biscuit.json", Some("agent:alice"), AT, &[], 1),
        ("missing.json", Some("agent:alice"), AT, &[], 2),
        ("issuer.json", Some("agent:alice"), "yesterday", &[], 2),
        (
            "issuer.json",
            Some("agent:alice"),
            AT,
            &["--store", "missing.db"],
            2,
        ),
        ("issuer.json", None, AT, &[], 2),
    ];
    for (key, subject, at, extra, code) in cases {
        let mut args = vec!["verify"];
        args.extend(base);
        args.extend(["--key", key]);
        if let Some(subject) = subject {
            args.extend(["--subject", subject]);
        }
        args.extend(["--at", at]);
        args.extend(*extra);
        let out = env.run(&args);
        assert_eq!(out.code, *code, "{args:?}: {out:#?}");
        if *code == 2 {
            out.error(2);
        }
    }
    // Limit outside its range, a tool not granted.
    let mut args = verify_bearer(&[]);
    swap(&mut args, "limit=10", "limit=1001");
    env.run(&args).code(1);
    let mut args = verify_bearer(&[]);
    swap(&mut args, "read_file", "write_file");
    env.run(&args).code(1);
}

#[test]
fn verify_with_a_public_key_set_document() {
    let env = Env::new();
    env.keygen(
        "biscuit",
        "k1",
        "issuer.json",
        &["--public-out", "public.json"],
    )
    .ok();
    let cap = Env::example("capability.toml");
    env.issue("issuer.json", &cap, &["--out", "t.tok"]).ok();
    env.run(&verify_args("public.json", "t.tok", "agent:alice", &[]))
        .code(0);
    let line = env.issue("public.json", &cap, &[]).error(2);
    assert!(line.contains("names no signing key"), "{line}");
}

#[test]
fn attenuate_dry_run_diff_and_widening_refused() {
    for format in FORMATS {
        let env = Env::new();
        env.bearer(format);
        let out = env
            .attenuate("bearer.tok", &Env::example("step.toml"), &["--dry-run"])
            .ok();
        insta::assert_snapshot!(format!("attenuate_dry_run_{format}"), out);
        let line = env
            .attenuate(
                "bearer.tok",
                &Env::example("widen.toml"),
                &["--out", "w.tok"],
            )
            .error(1);
        assert_eq!(
            line,
            "error: refused: the step widens the token: expires_at may only move earlier"
        );
        assert!(!env.path("w.tok").exists());
        // A looser constraint is refused too.
        env.write("loose.toml", "[[constrain]]\nserver = \"fs\"\ntool = \"read_file\"\narg = \"path\"\nconstraint = { path = \"/\" }\n");
        env.attenuate("bearer.tok", "loose.toml", &[]).error(1);
        // The child verifies where it narrows and denies where it does not.
        env.attenuate(
            "bearer.tok",
            &Env::example("step.toml"),
            &["--store", "store.db", "--out", "child.tok"],
        )
        .ok();
        let mut args = verify_args(
            "issuer.json",
            "child.tok",
            "agent:alice",
            &["--store", "store.db"],
        );
        env.run(&args).code(0);
        swap(
            &mut args,
            "path=/srv/data/report.txt",
            "path=/srv/other.txt",
        );
        env.run(&args).code(1);
    }
}

#[test]
fn delegate_needs_a_delegate_section_and_the_holders_key() {
    let env = Env::new();
    env.issued("biscuit");
    let line = env
        .delegate("root.tok", &Env::example("step.toml"), "alice.json", &[])
        .error(2);
    assert!(line.contains("no [delegate] section"), "{line}");
    let line = env
        .delegate(
            "root.tok",
            &Env::example("handover.toml"),
            "missing.json",
            &[],
        )
        .error(2);
    assert_eq!(
        line,
        "error: cannot read holder key file missing.json: No such file or directory"
    );
    // Unsigned hand-over of a bound token through attenuate: refused.
    env.attenuate(
        "root.tok",
        &Env::example("handover.toml"),
        &["--bind-holder", "bob.json"],
    )
    .error(1);
    let out = env
        .delegate(
            "root.tok",
            &Env::example("handover.toml"),
            "alice.json",
            &["--bind-holder", "bob.json", "--dry-run"],
        )
        .ok();
    // Holder keys are random: shown as [key].
    let redacted: Vec<String> = out
        .lines()
        .map(|l| match l.find("holder ed25519:") {
            Some(i) => format!("{}holder ed25519:[key])", &l[..i]),
            None => l.to_owned(),
        })
        .collect();
    insta::assert_snapshot!("delegate_dry_run", redacted.join("\n"));
}

#[test]
fn prove_makes_a_proof_bound_to_the_request() {
    let env = Env::new();
    env.issued("paseto-public");
    let proof = env.run(&prove_at("root.tok", "alice.json", &[], AT)).ok();
    assert!(proof.starts_with("ctp1."), "{proof}");
    env.write("proof", &proof);
    // The proof does not fit another argument value.
    let mut verify = verify_args(
        "issuer.json",
        "root.tok",
        "agent:alice",
        &["--proof", "proof", "--store", "store.db", "--json"],
    );
    swap(&mut verify, "path=/srv/data/report.txt", "path=/srv/other");
    let out = env.run(&verify).code(1);
    assert!(
        out.stdout.contains("\"reason\":\"proof_binding\""),
        "{out:?}"
    );
    // A proof from standard input, for the right request.
    let verify = verify_args(
        "issuer.json",
        "root.tok",
        "agent:alice",
        &["--proof", "-", "--store", "store.db"],
    );
    env.run_stdin(&verify, &proof).code(0);
    // A public holder key file cannot sign.
    env.run(&["holder-keygen", "--out", "h.json", "--public-out", "h.pub"])
        .ok();
    let prove = prove_args("root.tok", "h.pub", &[]);
    let line = env.run(&prove).error(2);
    assert!(line.contains("no `seed`"), "{line}");
}

#[test]
fn revoke_creates_the_store_and_denies_descendants() {
    let env = Env::new();
    env.bearer("macaroon");
    let out = env
        .run(&["revoke", "--token", "bearer.tok", "--store", "fresh.db"])
        .ok();
    assert!(
        out.starts_with("revoked: lineage hash ") && out.trim_end().ends_with(" in fresh.db"),
        "{out}"
    );
    let mut args = verify_args("issuer.json", "bearer.tok", "agent:alice", &[]);
    env.run(&args).code(0); // no store: nothing revoked
    args.extend(["--store", "fresh.db", "--json"]);
    let out = env.run(&args).code(1);
    assert!(out.stdout.contains("\"reason\":\"revoked\""), "{out:?}");
}

#[test]
fn keys_lifecycle_on_a_keyring_file() {
    let env = Env::new();
    env.keygen("hmac", "k1", "k.json", &[]).ok();
    let cap = Env::example("capability.toml");
    env.issue("k.json", &cap, &["--out", "old.tok"]).ok();
    assert_eq!(
        env.run(&["keys", "rotate", "--key", "k.json", "--id", "k2"])
            .ok(),
        "added key k2 and switched signing to it\n"
    );
    assert_eq!(env.mode("k.json"), 0o600);
    env.write(
        "cap2.toml",
        &std::fs::read_to_string(&cap).unwrap().replace(
            "0123456789abcdef0123456789abcdef",
            "00000000000000000000000000000002",
        ),
    );
    env.issue("k.json", "cap2.toml", &["--out", "new.tok"]).ok();
    // The signing key cannot be retired; the old one can.
    env.run(&key_state_args(
        "retire",
        "k.json",
        "k2",
        "2026-01-01T00:05:00Z",
    ))
    .error(2);
    env.run(&key_state_args(
        "retire",
        "k.json",
        "k1",
        "2026-01-01T00:05:00Z",
    ))
    .ok();
    let list = env.run(&["keys", "list", "--key", "k.json"]).ok();
    insta::assert_snapshot!("keys_list_text", list);
    let doc: serde_json::Value =
        serde_json::from_str(&env.run(&["keys", "list", "--key", "k.json", "--json"]).ok())
            .unwrap();
    insta::assert_json_snapshot!("keys_list_json", doc);
    // Tokens of k1 issued before its retirement still verify.
    let verify = |token: &str| {
        env.run(&verify_args("k.json", token, "agent:alice", &[]))
            .code
    };
    assert_eq!(verify("old.tok"), 0);
    assert_eq!(verify("new.tok"), 0);
    // Going backwards is refused.
    env.run(&key_state_args(
        "compromise",
        "k.json",
        "k1",
        "2026-01-01T00:06:00Z",
    ))
    .ok();
    assert_eq!(verify("old.tok"), 1);
    assert_eq!(verify("new.tok"), 0);
    env.run(&key_state_args(
        "retire",
        "k.json",
        "k1",
        "2026-01-01T00:01:00Z",
    ))
    .error(2);
    env.run(&["keys", "rotate", "--key", "k.json", "--id", "k2"])
        .error(2);
    let exported = env.run(&["keys", "export", "--key", "k.json"]).ok();
    for secret in env.secrets("k.json") {
        assert!(!exported.contains(&secret));
    }
}

#[test]
fn keys_import_applies_a_public_document() {
    let env = Env::new();
    env.keygen("paseto-public", "a1", "a.json", &[]).ok();
    env.keygen("paseto-public", "b1", "b.json", &[]).ok();
    env.run(&key_state_args("retire", "b.json", "b1", "5"))
        .error(2);
    env.run(&["keys", "export", "--key", "b.json", "--out", "b.pub.json"])
        .ok();
    let out = env
        .run(&[
            "keys",
            "import",
            "--key",
            "a.json",
            "--document",
            "b.pub.json",
        ])
        .ok();
    assert_eq!(out, "applied b.pub.json: 1 key(s) imported verify-only\n");
    let list = env.run(&["keys", "list", "--key", "a.json"]).ok();
    assert!(
        list.contains("b1 active (verify-only) k4.public."),
        "{list}"
    );
    // Tokens of b verify with a's keyring now.
    let cap = Env::example("capability.toml");
    env.issue("b.json", &cap, &["--out", "b.tok"]).ok();
    env.run(&verify_args("a.json", "b.tok", "agent:alice", &[]))
        .code(0);
    // A document of another format is refused whole.
    env.keygen("biscuit", "c1", "c.json", &["--public-out", "c.pub.json"])
        .ok();
    let line = env
        .run(&[
            "keys",
            "import",
            "--key",
            "a.json",
            "--document",
            "c.pub.json",
        ])
        .error(2);
    assert!(line.contains("key-set document of format"), "{line}");
}

#[test]
fn keys_holder_sets_in_a_store() {
    let env = Env::new();
    env.run(&["holder-keygen", "--out", "phone.json"]).ok();
    env.run(&holder_args(
        "enroll",
        "h.db",
        "agent:alice",
        "phone.json",
        &[
            "--not-before",
            "2026-01-01T00:00:00Z",
            "--not-after",
            "2027-01-01T00:00:00Z",
        ],
    ))
    .ok();
    // A capability bound to alice's key set, proved with the enrolled key.
    let cap = std::fs::read_to_string(Env::example("capability.toml"))
        .unwrap()
        .replace(
            "subject = \"agent:alice\"",
            "subject = \"agent:alice\"\nholder = \"key-set\"",
        );
    env.write("cap.toml", &cap);
    env.keygen("hmac", "k1", "k.json", &[]).ok();
    env.issue("k.json", "cap.toml", &["--store", "h.db", "--out", "t.tok"])
        .ok();
    let prove_verify = |at: &str| {
        env.run(&prove_at("t.tok", "phone.json", &["--out", "p"], at))
            .ok();
        env.run(&verify_at(
            "k.json",
            "t.tok",
            "agent:alice",
            at,
            &["--proof", "p", "--store", "h.db"],
        ))
        .code
    };
    assert_eq!(prove_verify(AT), 0);
    let list: serde_json::Value = serde_json::from_str(
        &env.run(&[
            "keys",
            "holder",
            "list",
            "--store",
            "h.db",
            "--principal",
            "agent:alice",
            "--json",
        ])
        .ok(),
    )
    .unwrap();
    insta::assert_json_snapshot!("holder_list", list, { "[].key" => "[key]" });
    env.run(&holder_args(
        "retire",
        "h.db",
        "agent:alice",
        "phone.json",
        &["--at", "2026-01-01T00:20:00Z"],
    ))
    .ok();
    assert_eq!(prove_verify("2026-01-01T00:15:00Z"), 0);
    assert_eq!(prove_verify("2026-01-01T00:25:00Z"), 1);
    env.run(&holder_args(
        "compromise",
        "h.db",
        "agent:alice",
        "phone.json",
        &["--at", "2026-01-01T00:21:00Z"],
    ))
    .ok();
    assert_eq!(prove_verify("2026-01-01T00:16:00Z"), 1);
    env.run(&holder_args(
        "retire",
        "missing.db",
        "agent:alice",
        "phone.json",
        &["--at", "1"],
    ))
    .error(2);
}

#[test]
fn bad_input_gives_one_error_line_for_every_subcommand() {
    let env = Env::new();
    env.issued("hmac");
    let key = env.read("issuer.json");
    env.write("truncated.json", &key[..key.len() / 2]);
    env.write("garbage.tok", "this is not a token\n");
    env.write("empty.tok", "\n");
    env.write(
        "damaged.tok",
        &format!(
            "{}AAAA",
            env.read("root.tok")
                .trim_end()
                .trim_end_matches(|c: char| c != '.')
        ),
    );
    env.write("schema.json", "{\"subject\": \"a\", \"not_before\": 0, \"valid_for\": 10, \"grants\": [{\"server\": \"fs\"}]}");
    env.write("schema.toml", "subject = \"a\"\nnot_before = 0\nvalid_for = 10\ncolour = \"blue\"\n[[grants]]\nserver = \"fs\"\ntool = \"t\"\n");
    env.write("step.json", "{\"expires_at\": [1]}");
    env.write("keyring-shape.json", "{\"captoken_keyring\": 1, \"format\": \"hmac\", \"keys\": [{\"id\": \"k1\", \"state\": \"active\", \"secret\": \"zz\"}]}");
    env.write(
        "keyring-version.json",
        "{\"captoken_keyring\": 2, \"format\": \"hmac\", \"keys\": []}",
    );
    env.keygen("biscuit", "k1", "biscuit.json", &[]).ok();
    let cap = Env::example("capability.toml");
    let step = Env::example("step.toml");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            issue_args("missing.json", &cap, &[]),
            2,
            "error: cannot read key file missing.json: No such file or directory",
        ),
        (
            issue_args("truncated.json", &cap, &[]),
            2,
            "error: key file truncated.json: not a captoken keyring (JSON syntax error",
        ),
        (
            issue_args("keyring-shape.json", &cap, &[]),
            2,
            "error: key file keyring-shape.json: key k1: secret is not 32 bytes of hex",
        ),
        (
            issue_args("keyring-version.json", &cap, &[]),
            2,
            "error: key file keyring-version.json: keyring version 2 is not supported",
        ),
        (
            issue_args("issuer.json", "missing.toml", &[]),
            2,
            "error: cannot read file missing.toml",
        ),
        (
            issue_args("issuer.json", "schema.json", &[]),
            2,
            "error: capability file schema.json: missing field `tool`",
        ),
        (
            issue_args("issuer.json", "schema.toml", &[]),
            2,
            "error: capability file schema.toml: unknown field `colour`",
        ),
        (
            attenuate_args("issuer.json", "missing.tok", &step, &[]),
            2,
            "error: cannot read token file missing.tok",
        ),
        (
            attenuate_args("issuer.json", "garbage.tok", &step, &[]),
            2,
            "error: token file garbage.tok: not a token of any captoken format",
        ),
        (
            attenuate_args("issuer.json", "empty.tok", &step, &[]),
            2,
            "error: token file empty.tok: empty",
        ),
        (
            attenuate_args("issuer.json", "root.tok", "step.json", &[]),
            2,
            "error: step file step.json:",
        ),
        (
            attenuate_args("biscuit.json", "root.tok", &step, &[]),
            2,
            "error: the token is a hmac token but the key file is for biscuit",
        ),
        (
            delegate_args("garbage.tok", &step, "alice.json", &[]),
            2,
            "error: token file garbage.tok",
        ),
        (
            delegate_args("root.tok", &step, "issuer.json", &[]),
            2,
            "error: holder key file issuer.json: not a captoken holder key",
        ),
        (
            vec!["inspect", "--token", "garbage.tok"],
            2,
            "error: token file garbage.tok: not a token of any captoken format",
        ),
        (
            vec!["inspect", "--token", "damaged.tok"],
            2,
            "error: cannot read the token: ",
        ),
        (
            vec!["inspect", "--token", "root.tok", "--key", "truncated.json"],
            2,
            "error: key file truncated.json",
        ),
        (
            verify_nothing("issuer.json", "garbage.tok", &[]),
            2,
            "error: token file garbage.tok: not a token of any captoken format",
        ),
        (
            verify_nothing("truncated.json", "root.tok", &[]),
            2,
            "error: key file truncated.json",
        ),
        (
            verify_nothing("issuer.json", "root.tok", &["--proof", "missing.proof"]),
            2,
            "error: cannot read token file missing.proof",
        ),
        (
            verify_nothing("issuer.json", "root.tok", &["--arg", "novalue"]),
            2,
            "error: invalid value 'novalue' for '--arg <NAME=VALUE>'",
        ),
        (
            prove_nothing("garbage.tok", "alice.json"),
            2,
            "error: cannot make the proof: ",
        ),
        (
            prove_nothing("root.tok", "truncated.json"),
            2,
            "error: holder key file truncated.json",
        ),
        (
            vec!["revoke", "--token", "garbage.tok", "--store", "r.db"],
            2,
            "error: cannot revoke: ",
        ),
        (
            vec![
                "revoke",
                "--token",
                "root.tok",
                "--store",
                "/nonexistent/dir/r.db",
            ],
            2,
            "error: store /nonexistent/dir/r.db: ",
        ),
        (
            vec!["keys", "list", "--key", "missing.json"],
            2,
            "error: cannot read key file missing.json",
        ),
        (
            vec!["keys", "rotate", "--key", "truncated.json", "--id", "k9"],
            2,
            "error: key file truncated.json",
        ),
        (
            key_state_args("retire", "issuer.json", "nope", "1"),
            2,
            "error: cannot retire: ",
        ),
        (
            key_state_args("compromise", "issuer.json", "k1", "soon"),
            2,
            "error: invalid value 'soon' for '--at <TIME>'",
        ),
        (
            vec!["keys", "export", "--key", "truncated.json"],
            2,
            "error: key file truncated.json",
        ),
        (
            vec![
                "keys",
                "import",
                "--key",
                "issuer.json",
                "--document",
                "truncated.json",
            ],
            2,
            "error: key-set document truncated.json: ",
        ),
        (
            holder_args(
                "enroll",
                "h.db",
                "p",
                "missing.json",
                &["--not-before", "1", "--not-after", "2"],
            ),
            2,
            "error: cannot read holder key file missing.json",
        ),
        (
            keygen_args("hmac", "", "x.json", &[]),
            2,
            "error: key id \"\": ",
        ),
        (
            keygen_args("rsa", "k", "x.json", &[]),
            2,
            "error: invalid value 'rsa' for '--format <FORMAT>'",
        ),
        (
            vec!["frobnicate"],
            2,
            "error: unrecognized subcommand 'frobnicate'",
        ),
        (vec![], 2, "error: "),
    ];
    let secrets = env.secrets("issuer.json");
    for (args, code, prefix) in cases {
        let out = env.run(&args);
        let all = format!("{}{}", out.stdout, out.stderr);
        let line = if args.is_empty() {
            assert_eq!(out.code, 2, "{out:#?}");
            continue;
        } else {
            out.error(code)
        };
        assert!(
            line.starts_with(prefix),
            "{args:?}: {line:?} does not start with {prefix:?}"
        );
        for s in &secrets {
            assert!(!all.contains(s.as_str()), "secret leaked by {args:?}");
        }
    }
}

#[test]
fn secrets_never_appear_in_output_or_help() {
    for format in FORMATS {
        let env = Env::new();
        env.bearer(format);
        let secrets = env.secrets("issuer.json");
        let mut outputs = vec![
            env.run(&["keys", "list", "--key", "issuer.json"]),
            env.run(&["keys", "list", "--key", "issuer.json", "--json"]),
            env.run(&["keys", "export", "--key", "issuer.json"]),
            env.run(&inspect_at("bearer.tok", "issuer.json", AT, &["--json"])),
            env.run(&verify_bearer(&["--json"])),
            env.issue("issuer.json", "issuer.json", &[]),
            env.run(&verify_nothing("issuer.json", "issuer.json", &[])),
            env.run(&["--help"]),
        ];
        for sub in ["keygen", "issue", "verify", "keys"] {
            outputs.push(env.run(&[sub, "--help"]));
        }
        for out in outputs {
            for s in &secrets {
                let body = s.rsplit('.').next().unwrap();
                assert!(
                    !out.stdout.contains(body) && !out.stderr.contains(body),
                    "{format}: {out:#?}"
                );
            }
        }
    }
}

#[test]
fn inspect_shows_a_chain_step_by_step() {
    for format in ["macaroon", "biscuit"] {
        let env = Env::new();
        env.issued(format);
        env.attenuate(
            "root.tok",
            &Env::example("step.toml"),
            &["--out", "narrow.tok"],
        )
        .ok();
        env.delegate(
            "narrow.tok",
            &Env::example("handover.toml"),
            "alice.json",
            &["--bind-holder", "bob.json", "--out", "bob.tok"],
        )
        .ok();
        let out = env.run(&["inspect", "--token", "bob.tok"]).ok();
        // Holder keys and hashes are random.
        let mut text = out.clone();
        for (name, file) in [("alice", "alice.json"), ("bob", "bob.json")] {
            let v: serde_json::Value = serde_json::from_str(&env.read(file)).unwrap();
            text = text.replace(v["public"].as_str().unwrap(), &format!("ed25519:[{name}]"));
        }
        let text: Vec<String> = text
            .lines()
            .map(|l| match l.split_once(": ") {
                Some((k, _)) if k == "lineage_hash" || k.starts_with("declared_parent") => {
                    format!("{k}: [hash]")
                }
                _ => l.to_owned(),
            })
            .collect();
        insta::assert_snapshot!(format!("inspect_chain_{format}"), text.join("\n"));
    }
}

#[test]
fn inspect_of_an_encrypted_token_needs_its_key() {
    let env = Env::new();
    env.bearer("paseto-local");
    let line = env.run(&["inspect", "--token", "bearer.tok"]).error(2);
    assert_eq!(
        line,
        "error: a paseto-local token is encrypted: inspect it with --key (its keyring file)"
    );
    let out = env
        .run(&inspect_at("bearer.tok", "issuer.json", AT, &[]))
        .ok();
    assert!(out.starts_with("VERIFIED: "), "{out}");
}

#[test]
fn a_compromised_signing_key_stops_issuing_until_rotation() {
    let env = Env::new();
    env.keygen("hmac", "k1", "k.json", &[]).ok();
    env.run(&["keys", "rotate", "--key", "k.json", "--id", "k2"])
        .ok();
    let cap = Env::example("capability.toml");
    env.issue("k.json", &cap, &["--out", "t.tok"]).ok();
    env.run(&key_state_args(
        "compromise",
        "k.json",
        "k2",
        "2026-01-01T00:00:00Z",
    ))
    .ok();
    let list = env.run(&["keys", "list", "--key", "k.json"]).ok();
    assert!(!list.contains("signing"), "{list}");
    let line = env.issue("k.json", &cap, &[]).error(2);
    assert!(line.contains("names no signing key"), "{line}");
    let line = env
        .run(&attenuate_args(
            "k.json",
            "t.tok",
            &Env::example("step.toml"),
            &[],
        ))
        .error(2);
    assert!(line.contains("names no signing key"), "{line}");
    // Tokens of the compromised key deny; after a rotation, issuing works again.
    env.run(&verify_args("k.json", "t.tok", "agent:alice", &[]))
        .code(1);
    env.run(&["keys", "rotate", "--key", "k.json", "--id", "k3"])
        .ok();
    env.issue("k.json", &cap, &[]).ok();
}

#[test]
fn a_reissued_child_verifies_through_the_issuers_store() {
    for format in ["hmac", "paseto-public", "paseto-local"] {
        let env = Env::new();
        env.bearer(format);
        env.attenuate(
            "bearer.tok",
            &Env::example("step.toml"),
            &["--store", "store.db", "--out", "child.tok"],
        )
        .ok();
        let mut args = verify_args("issuer.json", "child.tok", "agent:alice", &[]);
        let out = env.run(&args).code(1);
        assert!(
            out.stdout.starts_with("denied: lineage_unknown"),
            "{format}: {out:?}"
        );
        assert!(out.stdout.contains("hint: "), "{out:?}");
        args.extend(["--store", "store.db"]);
        env.run(&args).code(0);
    }
}

#[test]
fn strings_from_a_token_cannot_forge_output_lines() {
    let env = Env::new();
    env.keygen("hmac", "k1", "issuer.json", &[]).ok();
    // A subject and a path carrying a newline, a fake banner and a terminal escape.
    env.write(
        "evil.json",
        r#"{"subject": "agent:x\nVERIFIED: forged", "not_before": 1767225600, "valid_for": 3600,
            "grants": [{"server": "fs", "tool": "read_file",
                        "args": {"path": {"path": "/srv/\u001b[2K\rVERIFIED/"}}}]}"#,
    );
    env.issue("issuer.json", "evil.json", &["--out", "evil.tok"])
        .ok();
    let out = env.run(&["inspect", "--token", "evil.tok"]).ok();
    assert!(out.starts_with("NOT VERIFIED: "), "{out}");
    assert!(
        out.lines().skip(1).all(|l| !l.starts_with("VERIFIED")),
        "a token's string made a line: {out}"
    );
    assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
    assert!(out.contains("\\n") && out.contains("\\u{1b}"), "{out}");
}

#[test]
fn out_files_are_written_0600_even_over_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.write("bearer.tok", "old");
    std::fs::set_permissions(
        env.path("bearer.tok"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    env.bearer("hmac");
    assert_eq!(env.mode("bearer.tok"), 0o600);
    assert!(env.read("bearer.tok").starts_with("cth1."));
}

#[test]
fn a_keyring_file_can_come_from_standard_input() {
    let env = Env::new();
    env.bearer("hmac");
    let keyring = env.read("issuer.json");
    let args = verify_args("-", "bearer.tok", "agent:alice", &[]);
    let out = env.run_stdin(&args, &keyring).ok();
    assert!(out.starts_with("allowed: "), "{out}");
}

#[test]
fn keygen_refuses_a_public_out_over_its_secret_out() {
    let env = Env::new();
    let line = env
        .keygen("paseto-public", "k1", "k.json", &["--public-out", "k.json"])
        .error(2);
    assert!(line.contains("--public-out"), "{line}");
    assert!(!env.path("k.json").exists());
}

#[test]
fn inputs_beyond_the_bound_are_refused_not_truncated() {
    let env = Env::new();
    let big = "A".repeat((4 << 20) + 1);
    let line = env.run_stdin(&["inspect", "--token", "-"], &big).error(2);
    assert!(line.contains("larger than 4 MiB"), "{line}");
}
