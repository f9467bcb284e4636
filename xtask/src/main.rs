//! captoken's project chores, run as `cargo xtask <command>`.
//!
//! Commands:
//! - `deps`: for each provider crate, the distinct crates a user pulls in by
//!   depending on that crate alone (normal dependencies, resolved against the
//!   workspace's `Cargo.lock` in a scratch project outside the workspace, for
//!   the host platform, as `cargo tree` shows them).
#![forbid(unsafe_code)]
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reports on standard output"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Provider crates, by folder under `crates/`.
const PROVIDERS: [&str; 1] = ["hmac-provider"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => deps(),
        _ => Err(format!(
            "usage: cargo xtask <command>\n\ncommands:\n  deps    count the crates each provider pulls in\n\ngot: {args:?}"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // xtask/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn deps() -> Result<(), String> {
    for folder in PROVIDERS {
        let crates = dependency_closure(&root().join("crates").join(folder))?;
        println!("{folder}: {} crates", crates.len());
        println!(
            "  {}",
            crates.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Distinct `name version` of every crate in the normal-dependency closure of
/// the package at `dir`, itself included, as a user depending on it alone gets.
fn dependency_closure(dir: &Path) -> Result<BTreeSet<String>, String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = "))
        .map(|n| n.trim_matches('"').to_owned())
        .ok_or_else(|| format!("{}: no package name", dir.display()))?;
    let scratch = root().join("target").join("xtask-deps").join(&name);
    std::fs::create_dir_all(scratch.join("src")).map_err(|e| e.to_string())?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"deps-of-{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{name} = {{ path = {:?} }}\n\n[workspace]\n",
            dir.display().to_string()
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(scratch.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    // Resolve against the workspace's lock file so the versions are the ones we test.
    std::fs::copy(root().join("Cargo.lock"), scratch.join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    // `cargo tree` rather than `cargo metadata`: metadata's resolve graph also lists
    // optional dependencies named only by weak features (`dep?/feature`), which are
    // not built (postcard's embedded-io, for one), and would over-count.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--manifest-path",
        ])
        .arg(scratch.join("Cargo.toml"))
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let scratch_name = format!("deps-of-{name} ");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(&scratch_name))
        // "name vX.Y.Z (path) (*)" -> "name X.Y.Z"
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some(format!(
                "{} {}",
                words.next()?,
                words.next()?.trim_start_matches('v')
            ))
        })
        .collect())
}
