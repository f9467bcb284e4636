//! Shared helpers of the CLI tests: a scratch directory and the `captoken` binary run in it as a real process.
#![allow(dead_code, reason = "each test file uses part of the helpers")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers fail by panicking"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The examples directory (capability and step files).
pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every format, by its command-line name.
pub(crate) const FORMATS: [&str; 5] = [
    "hmac",
    "macaroon",
    "biscuit",
    "paseto-public",
    "paseto-local",
];

/// The request every session makes, allowed by `examples/capability.toml`
/// narrowed by `examples/step.toml`.
pub(crate) const REQUEST: [&str; 10] = [
    "--server",
    "fs",
    "--tool",
    "read_file",
    "--arg",
    "path=/srv/data/report.txt",
    "--arg",
    "mode=ro",
    "--arg",
    "limit=10",
];

/// The `issue` flags of a session's root token: bound to alice, its lineage
/// in store.db, written to root.tok.
pub(crate) const ROOT_ISSUE: [&str; 6] = [
    "--bind-holder",
    "alice.json",
    "--store",
    "store.db",
    "--out",
    "root.tok",
];

/// 2026-01-01T00:10:00Z: inside every example capability's window.
pub(crate) const AT: &str = "2026-01-01T00:10:00Z";

/// `head`, then `tail`.
fn then<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    [head, tail].concat()
}

/// `keygen --format FORMAT --id ID --out OUT`, then `extra`.
pub(crate) fn keygen_args<'a>(
    format: &'a str,
    id: &'a str,
    out: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    then(&["keygen", "--format", format, "--id", id, "--out", out], x)
}

/// `issue --key KEY --capability CAPABILITY`, then `extra`.
pub(crate) fn issue_args<'a>(key: &'a str, capability: &'a str, x: &[&'a str]) -> Vec<&'a str> {
    then(&["issue", "--key", key, "--capability", capability], x)
}

/// `attenuate --key KEY --token TOKEN --step STEP`, then `extra`.
pub(crate) fn attenuate_args<'a>(
    key: &'a str,
    token: &'a str,
    step: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    then(
        &["attenuate", "--key", key, "--token", token, "--step", step],
        x,
    )
}

/// `delegate --key issuer.json --token TOKEN --step STEP --holder-key HOLDER_KEY`, then `extra`.
pub(crate) fn delegate_args<'a>(
    token: &'a str,
    step: &'a str,
    holder: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    let head = [
        "delegate",
        "--key",
        "issuer.json",
        "--token",
        token,
        "--step",
        step,
    ];
    then(&then(&head, &["--holder-key", holder]), x)
}

/// `verify --key KEY --token TOKEN --subject SUBJECT`, the [`REQUEST`] at `at`, then `extra`.
pub(crate) fn verify_at<'a>(
    key: &'a str,
    token: &'a str,
    subject: &'a str,
    at: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    let head = then(
        &[
            "verify",
            "--key",
            key,
            "--token",
            token,
            "--subject",
            subject,
        ],
        &REQUEST,
    );
    then(&then(&head, &["--at", at]), x)
}

/// `verify --key KEY --token TOKEN --subject SUBJECT`, the [`REQUEST`] at [`AT`], then `extra`.
pub(crate) fn verify_args<'a>(
    key: &'a str,
    token: &'a str,
    subject: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    verify_at(key, token, subject, AT, x)
}

/// `prove --token TOKEN --holder-key HOLDER_KEY`, then `extra`, then the [`REQUEST`] (no `--at`).
pub(crate) fn prove_args<'a>(token: &'a str, holder: &'a str, x: &[&'a str]) -> Vec<&'a str> {
    then(
        &then(&["prove", "--token", token, "--holder-key", holder], x),
        &REQUEST,
    )
}

/// [`prove_args`] at `at`.
pub(crate) fn prove_at<'a>(
    token: &'a str,
    holder: &'a str,
    x: &[&'a str],
    at: &'a str,
) -> Vec<&'a str> {
    then(&prove_args(token, holder, x), &["--at", at])
}

/// `inspect --token TOKEN --key KEY --at AT`, then `extra`.
pub(crate) fn inspect_at<'a>(
    token: &'a str,
    key: &'a str,
    at: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    then(&["inspect", "--token", token, "--key", key, "--at", at], x)
}

/// `keys COMMAND --key KEY --id ID --at AT` (retire, compromise).
pub(crate) fn key_state_args<'a>(
    command: &'a str,
    key: &'a str,
    id: &'a str,
    at: &'a str,
) -> Vec<&'a str> {
    vec!["keys", command, "--key", key, "--id", id, "--at", at]
}

/// `keys holder COMMAND --store STORE --principal PRINCIPAL --holder-key HOLDER_KEY`, then `extra`.
pub(crate) fn holder_args<'a>(
    command: &'a str,
    store: &'a str,
    principal: &'a str,
    holder: &'a str,
    x: &[&'a str],
) -> Vec<&'a str> {
    let head = [
        "keys",
        "holder",
        command,
        "--store",
        store,
        "--principal",
        principal,
    ];
    then(&then(&head, &["--holder-key", holder]), x)
}

/// Replaces the argument `from` by `to`.
pub(crate) fn swap<'a>(args: &mut [&'a str], from: &str, to: &'a str) {
    let i = args.iter().position(|a| *a == from).unwrap();
    args[i] = to;
}

/// What a run of the command produced.
#[derive(Debug)]
pub(crate) struct Out {
    /// The exit code.
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Out {
    /// Asserts the exit code and returns self.
    #[track_caller]
    pub(crate) fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code; {self:#?}");
        self
    }

    /// Asserts success (exit 0, nothing on stderr) and returns stdout.
    #[track_caller]
    pub(crate) fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self:#?}");
        assert!(self.stderr.is_empty(), "{self:#?}");
        self.stdout
    }

    /// Asserts failure with `code` and exactly one `error: ` line on stderr;
    /// returns that line.
    #[track_caller]
    pub(crate) fn error(self, code: i32) -> String {
        assert_eq!(self.code, code, "{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        lines[0].to_owned()
    }
}

/// A scratch directory the command runs in.
pub(crate) struct Env {
    dir: TempDir,
}

impl Env {
    /// A new scratch directory.
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// A path inside it.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file inside it.
    pub(crate) fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).expect("write");
    }

    /// Reads a file inside it.
    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    /// The permission bits of a file inside it.
    pub(crate) fn mode(&self, name: &str) -> u32 {
        std::fs::metadata(self.path(name))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    /// Runs `captoken args…` here.
    pub(crate) fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, "")
    }

    /// Runs `captoken args…` here with `stdin` on standard input.
    pub(crate) fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        let out = assert_cmd::cargo::cargo_bin_cmd!("captoken")
            .current_dir(self.dir.path())
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("run captoken");
        Out {
            code: out.status.code().expect("exit code, not a signal"),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
        }
    }

    /// The example file `name`, as a path string.
    pub(crate) fn example(name: &str) -> String {
        examples().join(name).display().to_string()
    }

    /// Runs `captoken keygen` (see [`keygen_args`]).
    pub(crate) fn keygen(&self, format: &str, id: &str, out: &str, extra: &[&str]) -> Out {
        self.run(&keygen_args(format, id, out, extra))
    }

    /// Runs `captoken issue` (see [`issue_args`]).
    pub(crate) fn issue(&self, key: &str, capability: &str, extra: &[&str]) -> Out {
        self.run(&issue_args(key, capability, extra))
    }

    /// Runs `captoken attenuate --key issuer.json` (see [`attenuate_args`]).
    pub(crate) fn attenuate(&self, token: &str, step: &str, extra: &[&str]) -> Out {
        self.run(&attenuate_args("issuer.json", token, step, extra))
    }

    /// Runs `captoken delegate` (see [`delegate_args`]).
    pub(crate) fn delegate(
        &self,
        token: &str,
        step: &str,
        holder_key: &str,
        extra: &[&str],
    ) -> Out {
        self.run(&delegate_args(token, step, holder_key, extra))
    }

    /// keygen → two holder keys → issue (bound to alice, lineage in store.db).
    pub(crate) fn issued(&self, format: &str) {
        self.keygen(format, "k1", "issuer.json", &[]).ok();
        self.run(&["holder-keygen", "--out", "alice.json"]).ok();
        self.run(&["holder-keygen", "--out", "bob.json"]).ok();
        let cap = Self::example("capability.toml");
        self.issue("issuer.json", &cap, &ROOT_ISSUE).ok();
    }

    /// keygen → issue a bearer token (unbound) from `examples/capability.toml`.
    pub(crate) fn bearer(&self, format: &str) {
        self.keygen(format, "k1", "issuer.json", &[]).ok();
        let cap = Self::example("capability.toml");
        self.issue(
            "issuer.json",
            &cap,
            &["--store", "store.db", "--out", "bearer.tok"],
        )
        .ok();
    }

    /// The secret strings of the keyring file `name`.
    pub(crate) fn secrets(&self, name: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&self.read(name)).expect("keyring JSON");
        v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["secret"].as_str().map(str::to_owned))
            .collect()
    }
}
