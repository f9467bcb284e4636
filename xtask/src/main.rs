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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

/// Provider crates, by folder under `crates/`.
const PROVIDERS: [&str; 4] = [
    "hmac-provider",
    "macaroon-provider",
    "biscuit-provider",
    "paseto-provider",
];

/// Every feature of the `captoken` crate, for its "all features" dependency count.
const CAPTOKEN_FEATURES: [&str; 7] = [
    "hmac", "macaroon", "biscuit", "paseto", "sqlite", "postgres", "json",
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

/// captoken's project chores.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run the evaluation and write eval/reports and the ADR tables.
    Eval {
        /// Many more cases and longer benchmarks.
        #[arg(long)]
        full: bool,
        /// Regenerate only the deterministic parts (no benchmarks) and fail when
        /// the committed files differ.
        #[arg(long)]
        check: bool,
    },
    /// Count the crates each provider pulls in.
    Deps,
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Deps => deps(),
        Task::Eval { full, check } => eval(full, check),
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
        let crates = dependency_closure(
            &format!("deps-of-{name}"),
            &[(name.clone(), dir.clone())],
            &[],
        )?;
        sets.push((name.clone(), crates));
    }
    sets.push((
        "all providers".to_owned(),
        dependency_closure("deps-of-all-providers", &providers, &[])?,
    ));
    // The stores, and the front door with its default features and with all.
    for folder in ["store-sqlite", "store-postgres"] {
        let dir = root().join("crates").join(folder);
        let name = package_name(&dir)?;
        let crates = dependency_closure(&format!("deps-of-{name}"), &[(name.clone(), dir)], &[])?;
        sets.push((name, crates));
    }
    let front = root().join("crates").join("captoken");
    let front = vec![(package_name(&front)?, front)];
    sets.push((
        "captoken (default features)".to_owned(),
        dependency_closure("deps-of-captoken", &front, &[])?,
    ));
    sets.push((
        "captoken (all features)".to_owned(),
        dependency_closure("deps-of-captoken-all", &front, &CAPTOKEN_FEATURES)?,
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

/// `cargo run` of one `captoken-eval` subcommand, in release mode; add its flags with `arg`.
fn eval_command(subcommand: &str) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(root()).args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "captoken-eval",
        "--bin",
        "captoken-eval",
        "--",
        subcommand,
    ]);
    cmd
}

/// One row of `deps.json`, as `captoken-eval measure --deps` reads it.
#[derive(Debug, Serialize)]
struct DependencyCount<'a> {
    name: &'a str,
    crates: usize,
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| format!("{}: {e}", path.display()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn eval(full: bool, check: bool) -> Result<(), String> {
    let root_dir = root();
    let work = root_dir.join("target").join("eval");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let deps_json = work.join("deps.json");
    let deterministic_json = work.join("deterministic.json");
    let timings_json = work.join("timings.json");

    eprintln!("[1/4] dependency counts");
    let sets = dependency_sets()?;
    let counts: Vec<DependencyCount<'_>> = sets
        .iter()
        .map(|(name, crates)| DependencyCount {
            name,
            crates: crates.len(),
        })
        .collect();
    write_json(&deps_json, &counts)?;

    let cases = if check {
        output(eval_command("cases").arg("--root").arg(&root_dir))?
    } else if full {
        FULL_CASES.to_string()
    } else {
        QUICK_CASES.to_string()
    };
    eprintln!("[2/4] invariant suites ({cases} cases per suite and provider) and token sizes");
    run(eval_command("measure")
        .args(["--cases", &cases])
        .arg("--deps")
        .arg(&deps_json)
        .arg("--out")
        .arg(&deterministic_json))?;

    if check {
        eprintln!("[3/4] benchmarks: skipped by --check (timings are not deterministic)");
        eprintln!("[4/4] comparing the deterministic parts with the committed report and ADRs");
        run(eval_command("render")
            .arg("--deterministic")
            .arg(&deterministic_json)
            .arg("--root")
            .arg(&root_dir)
            .arg("--check"))?;
        eprintln!("eval --check: the committed report and ADR tables are up to date");
        return Ok(());
    }

    let mode = if full { "full" } else { "quick" };
    eprintln!("[3/4] criterion benchmarks ({mode} run)");
    let criterion_dir = root_dir.join("target").join("criterion");
    if criterion_dir.exists() {
        std::fs::remove_dir_all(&criterion_dir)
            .map_err(|e| format!("{}: {e}", criterion_dir.display()))?;
    }
    run(cargo()
        .current_dir(&root_dir)
        .args([
            "bench",
            "--package",
            "captoken-eval",
            "--bench",
            "workload",
            "--",
        ])
        .args(if full { FULL_BENCH } else { QUICK_BENCH }))?;
    // Allocation counts: a binary of their own (dhat's global allocator),
    // written next to criterion's estimates.
    run(cargo().current_dir(&root_dir).args([
        "bench",
        "--package",
        "captoken-eval",
        "--bench",
        "allocations",
    ]))?;
    run(eval_command("timings")
        .arg("--criterion")
        .arg(&criterion_dir)
        .args(["--date", &now_utc()?])
        .args(["--machine", &machine()?])
        .args(["--mode", mode])
        .arg("--out")
        .arg(&timings_json))?;

    eprintln!("[4/4] rendering eval/reports and the ADR tables");
    run(eval_command("render")
        .arg("--deterministic")
        .arg(&deterministic_json)
        .arg("--timings")
        .arg(&timings_json)
        .arg("--root")
        .arg(&root_dir))
}

/// The current time in UTC to the minute, as the report's header shows it:
/// `2025-01-31 14:05 UTC`.
fn now_utc() -> Result<String, String> {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .map_err(|e| format!("formatting the current time: {e}"))
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

/// The part of a crate's `Cargo.toml` that xtask reads.
#[derive(Debug, Deserialize)]
struct Manifest {
    package: ManifestPackage,
}

#[derive(Debug, Deserialize)]
struct ManifestPackage {
    name: String,
}

fn package_name(dir: &Path) -> Result<String, String> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(manifest.package.name)
}

/// The `Cargo.toml` of a scratch package that depends on some crates by path.
#[derive(Debug, Serialize)]
struct ScratchManifest<'a> {
    package: ScratchPackage<'a>,
    dependencies: BTreeMap<&'a str, PathDependency<'a>>,
    /// An empty `[workspace]`: the scratch package is a workspace of its own,
    /// not a member of ours, although it lives under our `target/`.
    workspace: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct ScratchPackage<'a> {
    name: &'a str,
    version: &'a str,
    edition: &'a str,
    publish: bool,
}

#[derive(Debug, Serialize)]
struct PathDependency<'a> {
    path: &'a Path,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    features: &'a [&'a str],
}

fn scratch_manifest(
    scratch_name: &str,
    deps: &[(String, PathBuf)],
    features: &[&str],
) -> Result<String, String> {
    let manifest = ScratchManifest {
        package: ScratchPackage {
            name: scratch_name,
            version: "0.0.0",
            edition: "2024",
            publish: false,
        },
        dependencies: deps
            .iter()
            .map(|(name, dir)| {
                (
                    name.as_str(),
                    PathDependency {
                        path: dir,
                        features,
                    },
                )
            })
            .collect(),
        workspace: BTreeMap::new(),
    };
    toml::to_string(&manifest).map_err(|e| format!("{scratch_name}/Cargo.toml: {e}"))
}

/// Distinct `name version` of every crate in the normal-dependency closure of
/// a scratch package depending on `deps` (name, folder) with `features`, the
/// deps included, as a user depending on them alone gets.
fn dependency_closure(
    scratch_name: &str,
    deps: &[(String, PathBuf)],
    features: &[&str],
) -> Result<BTreeSet<String>, String> {
    let scratch = root().join("target").join("xtask-deps").join(scratch_name);
    std::fs::create_dir_all(scratch.join("src")).map_err(|e| e.to_string())?;
    let manifest = scratch.join("Cargo.toml");
    std::fs::write(&manifest, scratch_manifest(scratch_name, deps, features)?)
        .map_err(|e| format!("{}: {e}", manifest.display()))?;
    std::fs::write(scratch.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    // Resolve against the workspace's lock file so the versions are the ones we test.
    std::fs::copy(root().join("Cargo.lock"), scratch.join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    // `cargo tree` rather than `cargo metadata`: metadata's resolve graph also lists
    // optional dependencies named only by weak features (`dep?/feature`), which are
    // not built (postcard's embedded-io, for one), and would over-count.
    let tree = output(
        cargo()
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
            .arg(&manifest),
    )?;
    let own = format!("{scratch_name} ");
    Ok(tree
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["cargo xtask", "eval", "--check"]).unwrap();
        assert!(matches!(
            cli.task,
            Task::Eval {
                full: false,
                check: true
            }
        ));
        assert!(Cli::try_parse_from(["cargo xtask", "eval", "--fast"]).is_err());
    }

    #[test]
    fn scratch_manifest_round_trips_and_is_its_own_workspace() {
        let deps = [("some-crate".to_owned(), PathBuf::from("/a/b \"c\""))];
        let text = scratch_manifest("deps-of-some-crate", &deps, &[]).unwrap();
        let value: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            value["package"]["name"].as_str(),
            Some("deps-of-some-crate")
        );
        assert_eq!(
            value["dependencies"]["some-crate"]["path"].as_str(),
            Some("/a/b \"c\"")
        );
        assert!(
            value["workspace"]
                .as_table()
                .is_some_and(toml::Table::is_empty)
        );
    }

    #[test]
    fn package_names_are_read_from_the_manifests() {
        for folder in PROVIDERS {
            let name = package_name(&root().join("crates").join(folder)).unwrap();
            assert_eq!(name, format!("captoken-{folder}"));
        }
    }

    #[test]
    fn the_date_is_formatted_to_the_minute_in_utc() {
        let date = now_utc().unwrap();
        // "YYYY-MM-DD HH:MM UTC"
        assert_eq!(date.len(), 20, "{date}");
        assert!(date.ends_with(" UTC"), "{date}");
        assert_eq!(date.as_bytes()[4], b'-');
        assert_eq!(date.as_bytes()[10], b' ');
        assert_eq!(date.as_bytes()[13], b':');
    }
}
