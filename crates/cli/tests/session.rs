//! The scripted session for every format, as real processes: keygen → issue → attenuate (dry run, then for real) → delegate (signed) → prove → verify (allowed) → revoke → verify (denied). Prints the session.
#![allow(
    clippy::print_stdout,
    reason = "the session transcript is the test's report"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers fail by panicking"
)]

mod common;

use common::{
    AT, Env, Out, ROOT_ISSUE, attenuate_args, delegate_args, issue_args, keygen_args, prove_at,
    verify_args, verify_at,
};

/// Runs one step, records it in the transcript, and returns its output.
fn step(env: &Env, log: &mut String, args: &[&str]) -> Out {
    let out = env.run(args);
    log.push_str(&format!("$ captoken {}\n", args.join(" ")));
    log.push_str(&out.stdout);
    if !out.stderr.is_empty() {
        log.push_str(&out.stderr);
    }
    log.push_str(&format!("(exit {})\n", out.code));
    out
}

fn session(format: &str) {
    let env = Env::new();
    let mut log = format!("=== session: {format}\n");
    let cap = Env::example("capability.toml");
    let narrow = Env::example("step.toml");
    let handover = Env::example("handover.toml");
    let local_key: &[&str] = if format == "paseto-local" {
        &["--key", "issuer.json"]
    } else {
        &[]
    };

    step(
        &env,
        &mut log,
        &keygen_args(format, "k1", "issuer.json", &[]),
    )
    .ok();
    assert_eq!(env.mode("issuer.json"), 0o600);
    step(&env, &mut log, &["holder-keygen", "--out", "alice.json"]).ok();
    step(&env, &mut log, &["holder-keygen", "--out", "bob.json"]).ok();
    step(
        &env,
        &mut log,
        &issue_args("issuer.json", &cap, &ROOT_ISSUE),
    )
    .ok();

    let diff = step(
        &env,
        &mut log,
        &attenuate_args("issuer.json", "root.tok", &narrow, &["--dry-run"]),
    )
    .ok();
    assert!(diff.contains("- expires_at: 2026-01-01T01:00:00Z (1767229200)\n+ expires_at: 2026-01-01T00:30:00Z (1767227400)"), "{diff}");
    assert!(
        diff.contains("+ grant fs/read_file limit=0..=1000 mode=\"ro\" path=/srv/data/"),
        "{diff}"
    );
    assert!(!env.path("narrow.tok").exists());
    step(
        &env,
        &mut log,
        &attenuate_args(
            "issuer.json",
            "root.tok",
            &narrow,
            &["--store", "store.db", "--out", "narrow.tok"],
        ),
    )
    .ok();

    // A thief without alice's key cannot hand the token over.
    let thief = step(
        &env,
        &mut log,
        &delegate_args(
            "narrow.tok",
            &handover,
            "bob.json",
            &[
                "--bind-holder",
                "bob.json",
                "--store",
                "store.db",
                "--out",
                "stolen.tok",
            ],
        ),
    );
    thief.error(1);
    step(
        &env,
        &mut log,
        &delegate_args(
            "narrow.tok",
            &handover,
            "alice.json",
            &[
                "--bind-holder",
                "bob.json",
                "--store",
                "store.db",
                "--out",
                "bob.tok",
            ],
        ),
    )
    .ok();

    // Without a proof, bob's token is useless.
    let verify = verify_args(
        "issuer.json",
        "bob.tok",
        "agent:bob",
        &["--store", "store.db"],
    );
    let denied = step(&env, &mut log, &verify).code(1);
    assert!(
        denied.stdout.starts_with("denied: possession_required"),
        "{denied:?}"
    );

    let mut prove = prove_at("bob.tok", "bob.json", local_key, AT);
    prove.extend(["--out", "proof1"]);
    step(&env, &mut log, &prove).ok();
    assert!(env.read("proof1").starts_with("ctp1."));

    let mut with_proof = verify.clone();
    with_proof.extend(["--proof", "proof1"]);
    let allowed = step(&env, &mut log, &with_proof).ok();
    assert!(
        allowed.starts_with("allowed: fs/read_file for agent:bob"),
        "{allowed}"
    );
    assert!(allowed.contains("chain_len: 2"), "{allowed}");

    // The same proof again is a replay.
    let replay = step(&env, &mut log, &with_proof).code(1);
    assert!(replay.stdout.starts_with("denied: "), "{replay:?}");

    step(
        &env,
        &mut log,
        &[
            "revoke",
            "--key",
            "issuer.json",
            "--token",
            "root.tok",
            "--store",
            "store.db",
        ],
    )
    .ok();

    let later = "2026-01-01T00:11:00Z";
    let mut prove2 = prove_at("bob.tok", "bob.json", local_key, later);
    prove2.extend(["--out", "proof2"]);
    step(&env, &mut log, &prove2).ok();
    let after = verify_at(
        "issuer.json",
        "bob.tok",
        "agent:bob",
        later,
        &["--proof", "proof2", "--store", "store.db", "--json"],
    );
    let revoked = step(&env, &mut log, &after).code(1);
    let decision: serde_json::Value = serde_json::from_str(&revoked.stdout).expect("decision JSON");
    assert_eq!(decision["allowed"], false);
    assert_eq!(decision["reason"], "revoked");

    println!("{log}");
}

#[test]
fn session_hmac() {
    session("hmac");
}

#[test]
fn session_macaroon() {
    session("macaroon");
}

#[test]
fn session_biscuit() {
    session("biscuit");
}

#[test]
fn session_paseto_public() {
    session("paseto-public");
}

#[test]
fn session_paseto_local() {
    session("paseto-local");
}

#[test]
fn session_script_runs_every_format() {
    let out = std::process::Command::new("sh")
        .arg(common::examples().join("session.sh"))
        .arg(env!("CARGO_BIN_EXE_captoken"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for format in common::FORMATS {
        assert!(stdout.contains(&format!("=== {format}\n")), "{stdout}");
    }
    assert_eq!(
        stdout
            .matches("\nallowed: fs/read_file for agent:bob")
            .count(),
        5,
        "{stdout}"
    );
    assert_eq!(stdout.matches("\ndenied: revoked").count(), 5, "{stdout}");
    assert!(
        stdout.contains("--capability examples/capability.toml"),
        "{stdout}"
    );
}
