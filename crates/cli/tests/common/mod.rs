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

/// 2026-01-01T00:10:00Z: inside every example capability's window.
pub(crate) const AT: &str = "2026-01-01T00:10:00Z";

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

    /// keygen → two holder keys → issue (bound to alice, lineage in store.db).
    pub(crate) fn issued(&self, format: &str) {
        self.run(&[
            "keygen",
            "--format",
            format,
            "--id",
            "k1",
            "--out",
            "issuer.json",
        ])
        .ok();
        self.run(&["holder-keygen", "--out", "alice.json"]).ok();
        self.run(&["holder-keygen", "--out", "bob.json"]).ok();
        let cap = Self::example("capability.toml");
        self.run(&[
            "issue",
            "--key",
            "issuer.json",
            "--capability",
            &cap,
            "--bind-holder",
            "alice.json",
            "--store",
            "store.db",
            "--out",
            "root.tok",
        ])
        .ok();
    }

    /// keygen → issue a bearer token (unbound) from `examples/capability.toml`.
    pub(crate) fn bearer(&self, format: &str) {
        self.run(&[
            "keygen",
            "--format",
            format,
            "--id",
            "k1",
            "--out",
            "issuer.json",
        ])
        .ok();
        let cap = Self::example("capability.toml");
        self.run(&[
            "issue",
            "--key",
            "issuer.json",
            "--capability",
            &cap,
            "--store",
            "store.db",
            "--out",
            "bearer.tok",
        ])
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
