//! captoken's project chores, run as `cargo xtask <command>`.
//!
//! Commands:
//! - `eval [--full] [--check]`: run the invariant suites, measure sizes and
//!   dependencies, run the criterion benchmarks, and write `eval/reports/` and
//!   the generated tables of `adr/`. `--full` runs many more cases and longer
//!   benchmarks; `--check` regenerates only the deterministic parts (no
//!   benchmarks) and fails when the committed files differ.
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
const PROVIDERS: [&str; 4] = [
    "hmac-provider",
    "macaroon-provider",
    "biscuit-provider",
    "paseto-provider",
];

/// Suite cases per provider: default run, and `--full`.
const QUICK_CASES: u32 = 1024;
const FULL_CASES: u32 = 16384;

/// Criterion settings: default run, and `--full` (criterion's own defaults).
const QUICK_BENCH: [&str; 6] = [
    "--warm-up-time",
    "1",
    "--measurement-time",
    "2",
    "--sample-size",
    "30",
];
const FULL_BENCH: [&str; 6] = [
    "--warm-up-time",
    "3",
    "--measurement-time",
    "5",
    "--sample-size",
    "100",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => deps(),
        Some("eval") => eval(args.get(1..).unwrap_or_default()),
        _ => Err(format!(
            "usage: cargo xtask <command>\n\ncommands:\n  eval [--full] [--check]   run the evaluation and write eval/reports and the ADR tables\n  deps                      count the crates each provider pulls in\n\ngot: {args:?}"
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
    for (name, crates) in dependency_sets()? {
        println!("{name}: {} crates", crates.len());
        println!("  {}", crates.into_iter().collect::<Vec<_>>().join(", "));
    }
    Ok(())
}

/// The dependency closure of each provider alone, then of all of them together.
fn dependency_sets() -> Result<Vec<(String, BTreeSet<String>)>, String> {
    let providers: Vec<(String, PathBuf)> = PROVIDERS
        .iter()
        .map(|f| {
            let dir = root().join("crates").join(f);
            package_name(&dir).map(|n| (n, dir))
        })
        .collect::<Result<_, _>>()?;
    let mut sets = Vec::new();
    for (name, dir) in &providers {
        let crates =
            dependency_closure(&format!("deps-of-{name}"), &[(name.clone(), dir.clone())])?;
        sets.push((name.clone(), crates));
    }
    sets.push((
        "all providers".to_owned(),
        dependency_closure("deps-of-all-providers", &providers)?,
    ));
    Ok(sets)
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo run` of the eval command, in release mode.
fn eval_command(args: &[&str]) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "captoken-eval",
            "--bin",
            "captoken-eval",
            "--",
        ])
        .args(args);
    cmd
}

fn eval(args: &[String]) -> Result<(), String> {
    let full = args.iter().any(|a| a == "--full");
    let check = args.iter().any(|a| a == "--check");
    if let Some(unknown) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--full" | "--check"))
    {
        return Err(format!("eval: unknown option {unknown}"));
    }
    let work = root().join("target").join("eval");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let path = |name: &str| work.join(name).to_string_lossy().into_owned();
    let root_dir = root().to_string_lossy().into_owned();

    eprintln!("[1/4] dependency counts");
    let counts: Vec<String> = dependency_sets()?
        .into_iter()
        .map(|(name, crates)| format!("{{\"name\": {name:?}, \"crates\": {}}}", crates.len()))
        .collect();
    std::fs::write(path("deps.json"), format!("[{}]\n", counts.join(", ")))
        .map_err(|e| e.to_string())?;

    let cases = if check {
        output(&mut eval_command(&["cases", "--root", &root_dir]))?
    } else if full {
        FULL_CASES.to_string()
    } else {
        QUICK_CASES.to_string()
    };
    eprintln!("[2/4] invariant suites ({cases} cases per suite and provider) and token sizes");
    run(&mut eval_command(&[
        "measure",
        "--cases",
        &cases,
        "--deps",
        &path("deps.json"),
        "--out",
        &path("deterministic.json"),
    ]))?;

    if check {
        eprintln!("[3/4] benchmarks: skipped by --check (timings are not deterministic)");
        eprintln!("[4/4] comparing the deterministic parts with the committed report and ADRs");
        run(&mut eval_command(&[
            "render",
            "--deterministic",
            &path("deterministic.json"),
            "--root",
            &root_dir,
            "--check",
        ]))?;
        eprintln!("eval --check: the committed report and ADR tables are up to date");
        return Ok(());
    }

    eprintln!(
        "[3/4] criterion benchmarks ({} run)",
        if full { "full" } else { "quick" }
    );
    let criterion_dir = root().join("target").join("criterion");
    if criterion_dir.exists() {
        std::fs::remove_dir_all(&criterion_dir)
            .map_err(|e| format!("{}: {e}", criterion_dir.display()))?;
    }
    run(cargo()
        .current_dir(root())
        .args([
            "bench",
            "--package",
            "captoken-eval",
            "--bench",
            "workload",
            "--",
        ])
        .args(if full { FULL_BENCH } else { QUICK_BENCH }))?;
    run(&mut eval_command(&[
        "timings",
        "--criterion",
        &criterion_dir.to_string_lossy(),
        "--date",
        &output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))?,
        "--machine",
        &machine()?,
        "--mode",
        if full { "full" } else { "quick" },
        "--out",
        &path("timings.json"),
    ]))?;

    eprintln!("[4/4] rendering eval/reports and the ADR tables");
    run(&mut eval_command(&[
        "render",
        "--deterministic",
        &path("deterministic.json"),
        "--timings",
        &path("timings.json"),
        "--root",
        &root_dir,
    ]))
}

/// CPU model, core count, kernel and compiler, for the report's header.
fn machine() -> Result<String, String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = output(Command::new("uname").args(["-sr"])).unwrap_or_default();
    let rustc = output(Command::new("rustc").arg("-V"))?;
    Ok(format!("{cpu}, {cores} cores, {kernel}, {rustc}"))
}

fn package_name(dir: &Path) -> Result<String, String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = "))
        .map(|n| n.trim_matches('"').to_owned())
        .ok_or_else(|| format!("{}: no package name", dir.display()))
}

/// Distinct `name version` of every crate in the normal-dependency closure of
/// a scratch package depending on `deps` (name, folder), the deps included, as a
/// user depending on them alone gets.
fn dependency_closure(
    scratch_name: &str,
    deps: &[(String, PathBuf)],
) -> Result<BTreeSet<String>, String> {
    let scratch = root().join("target").join("xtask-deps").join(scratch_name);
    std::fs::create_dir_all(scratch.join("src")).map_err(|e| e.to_string())?;
    let lines: String = deps
        .iter()
        .map(|(name, dir)| format!("{name} = {{ path = {:?} }}\n", dir.display().to_string()))
        .collect();
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!("[package]\nname = \"{scratch_name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{lines}\n[workspace]\n"),
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
    let own = format!("{scratch_name} ");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(&own))
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
