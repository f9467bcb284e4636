//! The `captoken-eval` command that `cargo xtask eval` drives: measure, collect timings, render.
//!
//! - `measure --cases N --deps FILE --out FILE`: run the suites and the size
//!   measurements for every candidate; write the deterministic results.
//! - `timings --criterion DIR --date D --machine M --mode MODE --out FILE`:
//!   collect criterion medians.
//! - `render --deterministic FILE [--timings FILE] --root DIR [--check]`: write
//!   (or, with `--check`, compare) the report files and the ADR tables; a check
//!   without `--timings` re-renders with the committed timings.
//! - `cases --root DIR`: print the case count of the committed results.
#![forbid(unsafe_code)]
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reports on standard output"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Deserialize;

use captoken_eval::candidate::{Biscuit, Candidate, Hmac, Macaroon, PasetoLocal, PasetoPublic};
use captoken_eval::measure::{cross_format, peer_sizes, provider_results, varying_peer_sizes};
use captoken_eval::report::{
    self as report, COMPARISONS, Generated, fill_markers, report_files, tables,
};
use captoken_eval::results::{DependencyCount, Deterministic, ProviderResults, Timing, Timings};

/// captoken's evaluation: measure, collect timings, render (driven by `cargo xtask eval`).
#[derive(Debug, Parser)]
#[command(name = "captoken-eval")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the suites and the size measurements for every candidate; write the deterministic results.
    Measure {
        /// Cases per suite and provider.
        #[arg(long)]
        cases: u32,
        /// The dependency counts (JSON) that `cargo xtask eval` wrote.
        #[arg(long)]
        deps: PathBuf,
        /// Where to write the deterministic results (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Collect the criterion medians.
    Timings {
        /// Criterion's output folder (`target/criterion`).
        #[arg(long)]
        criterion: PathBuf,
        /// When the benchmarks ran, as the report shows it.
        #[arg(long)]
        date: String,
        /// CPU model, core count, OS and compiler.
        #[arg(long)]
        machine: String,
        /// How long the benchmarks ran.
        #[arg(long, value_parser = ["quick", "full"])]
        mode: String,
        /// Where to write the timings (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write (or, with --check, compare) the report files and the ADR tables.
    Render {
        /// The deterministic results (JSON) of `measure`.
        #[arg(long)]
        deterministic: PathBuf,
        /// The timings (JSON) of `timings`; a check without them re-renders with
        /// the committed timings.
        #[arg(long, required_unless_present = "check")]
        timings: Option<PathBuf>,
        /// The repository root.
        #[arg(long)]
        root: PathBuf,
        /// Compare with the committed files instead of writing them.
        #[arg(long)]
        check: bool,
    },
    /// Print the case count of the committed results.
    Cases {
        /// The repository root.
        #[arg(long)]
        root: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Measure { cases, deps, out } => measure(cases, &deps, &out),
        Cmd::Timings {
            criterion,
            date,
            machine,
            mode,
            out,
        } => timings(&criterion, date, machine, mode, &out),
        Cmd::Render {
            deterministic,
            timings,
            root,
            check,
        } => render(&deterministic, timings.as_deref(), &root, check),
        Cmd::Cases { root } => committed_cases(&root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("captoken-eval: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| format!("{}: {e}", path.display()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs one candidate's measurements, with progress on standard error.
fn candidate<C: Candidate>(cases: u32) -> Result<ProviderResults, String> {
    eprintln!("  {:<10} suites ({cases} cases each) and sizes …", C::NAME);
    let r = provider_results::<C>(cases)?;
    for o in &r.suites {
        eprintln!(
            "  {:<10} {:<12} {}",
            C::NAME,
            o.suite.name(),
            if o.failure.is_some() { "FAILED" } else { "ok" }
        );
    }
    Ok(r)
}

fn measure(cases: u32, deps: &Path, out: &Path) -> Result<(), String> {
    let dependencies: Vec<DependencyCount> = read_json(deps)?;
    let providers = vec![
        candidate::<Hmac>(cases)?,
        candidate::<Macaroon>(cases)?,
        candidate::<PasetoPublic>(cases)?,
        candidate::<PasetoLocal>(cases)?,
        candidate::<Biscuit>(cases)?,
    ];
    eprintln!("  cross-format: every provider's tokens to every other verifier …");
    let (hmac, macaroon) = (Hmac::provider(0), Macaroon::provider(0));
    let (public, local) = (PasetoPublic::provider(0), PasetoLocal::provider(0));
    let biscuit = Biscuit::provider(0);
    let cross = cross_format(&[
        (Hmac::NAME, &hmac),
        (Macaroon::NAME, &macaroon),
        (PasetoPublic::NAME, &public),
        (PasetoLocal::NAME, &local),
        (Biscuit::NAME, &biscuit),
    ])?;
    let d = Deterministic {
        cases,
        providers,
        peers: peer_sizes()?,
        cross_format: cross,
        dependencies,
    };
    write_json(out, &d)?;
    let failed = d
        .providers
        .iter()
        .flat_map(|p| &p.suites)
        .filter(|o| o.failure.is_some())
        .count()
        + d.cross_format.iter().filter(|c| c.accepted > 0).count();
    if failed > 0 {
        return Err(format!(
            "{failed} suite(s) failed; the report records their counterexamples"
        ));
    }
    Ok(())
}

/// Every series the report shows: providers, floors and peers.
fn series_names() -> Vec<String> {
    COMPARISONS
        .iter()
        .flat_map(|c| {
            std::iter::once(c.provider)
                .chain(c.floors.iter().map(|f| f.0))
                .chain(c.peers.iter().map(|p| p.0))
                .map(str::to_owned)
                .chain(std::iter::once(report::pop_floor(c.provider)))
                .chain(std::iter::once(report::parse_verify_series(c.provider)))
        })
        .chain(report::POSSESSION_SERIES.iter().map(|s| (*s).to_owned()))
        .chain(report::STORE_SERIES.iter().map(|s| (*s).to_owned()))
        .chain(report::STORE_VERIFY_SERIES.iter().map(|s| (*s).to_owned()))
        .chain(report::STORE_THREAD_SERIES.iter().map(|s| (*s).to_owned()))
        .chain(std::iter::once(
            report::GATEWAY_THROUGHPUT_SERIES.to_owned(),
        ))
        .collect()
}

fn timings(
    dir: &Path,
    date: String,
    machine: String,
    mode: String,
    out: &Path,
) -> Result<(), String> {
    let mut rows = Vec::new();
    for op in [
        "verify",
        "issue",
        "attenuate",
        "verify-pop",
        "possession",
        "keyring",
        "gateway",
        "throughput",
        "allocations",
        "store",
        "store-verify",
        "store-reserve-threads",
    ] {
        // Some groups' parameter is not a depth.
        let params: &[usize] = match op {
            "keyring" => &report::KEYRING_SIZES,
            "store" => &report::STORE_SIZES,
            "store-reserve-threads" => &report::STORE_THREADS,
            "throughput" => &report::THROUGHPUT_THREADS,
            _ => &captoken_core_types::testing::workload::DEPTHS,
        };
        for series in series_names() {
            for &depth in params {
                let file = dir
                    .join(op)
                    .join(&series)
                    .join(depth.to_string())
                    .join("new")
                    .join("estimates.json");
                if let Some(median_ns) = median(&file)? {
                    rows.push(Timing {
                        op: op.to_owned(),
                        series: series.clone(),
                        depth,
                        median_ns,
                    });
                }
            }
        }
    }
    if rows.is_empty() {
        return Err(format!("no criterion estimates under {}", dir.display()));
    }
    let t = Timings {
        date,
        machine,
        mode,
        rows,
        sizes: varying_peer_sizes()?,
    };
    write_json(out, &t)
}

/// The part of criterion's `estimates.json` that the report uses.
#[derive(Debug, Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// The median of one benchmark, in nanoseconds; `None` when it did not run.
fn median(file: &Path) -> Result<Option<f64>, String> {
    if !file.exists() {
        return Ok(None);
    }
    let estimates: Estimates = read_json(file)?;
    Ok(Some(estimates.median.point_estimate))
}

fn committed_cases(root: &Path) -> Result<(), String> {
    println!("{}", committed(root)?.deterministic.cases);
    Ok(())
}

fn render(
    deterministic: &Path,
    timings: Option<&Path>,
    root: &Path,
    check: bool,
) -> Result<(), String> {
    let d: Deterministic = read_json(deterministic)?;
    let t: Timings = match timings {
        Some(path) => read_json(path)?,
        // A check re-renders with the committed timings: only deterministic parts can differ.
        None if check => committed(root)?.timings,
        None => return Err("render: --timings is required without --check".to_owned()),
    };
    let mut files = report_files(&d, &t)?;
    files.extend(adr_files(root, &tables(&d, &t))?);
    let mut drift = Vec::new();
    for f in &files {
        let path = root.join(&f.path);
        if check {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed != f.contents {
                drift.push(f.path.clone());
            }
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&path, &f.contents).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("wrote {}", f.path);
        }
    }
    if drift.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated files differ from the committed ones: {}\nrun `cargo xtask eval` and commit the result",
            drift.join(", ")
        ))
    }
}

/// The parts of the committed `eval/reports/results.json` that are reused:
/// the case count of `cases` and the timings a check renders with. Other fields
/// are skipped, so that a change elsewhere in the schema shows as drift in the
/// check rather than as an error reading the committed file.
#[derive(Debug, Deserialize)]
struct Committed {
    deterministic: CommittedCases,
    timings: Timings,
}

#[derive(Debug, Deserialize)]
struct CommittedCases {
    cases: u32,
}

fn committed(root: &Path) -> Result<Committed, String> {
    read_json(&root.join(RESULTS))
}

/// Where the committed results live, relative to the repository root.
const RESULTS: &str = "eval/reports/results.json";

/// Every ADR under `adr/` with its generated tables refreshed.
fn adr_files(
    root: &Path,
    tables: &BTreeMap<&'static str, String>,
) -> Result<Vec<Generated>, String> {
    let dir = root.join("adr");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".md") && n.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text =
                std::fs::read_to_string(dir.join(&name)).map_err(|e| format!("adr/{name}: {e}"))?;
            let contents = fill_markers(&text, tables).map_err(|e| format!("adr/{name}: {e}"))?;
            Ok(Generated {
                path: format!("adr/{name}"),
                contents,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn command_line_accepts_what_xtask_passes() {
        Cli::command().debug_assert();
        let accepted: [&[&str]; 5] = [
            &["captoken-eval", "cases", "--root", "/r"],
            &[
                "captoken-eval",
                "measure",
                "--cases",
                "1024",
                "--deps",
                "deps.json",
                "--out",
                "deterministic.json",
            ],
            &[
                "captoken-eval",
                "timings",
                "--criterion",
                "target/criterion",
                "--date",
                "2025-01-31 14:05 UTC",
                "--machine",
                "some CPU, 2 cores",
                "--mode",
                "quick",
                "--out",
                "timings.json",
            ],
            &[
                "captoken-eval",
                "render",
                "--deterministic",
                "deterministic.json",
                "--root",
                "/r",
                "--check",
            ],
            &[
                "captoken-eval",
                "render",
                "--deterministic",
                "deterministic.json",
                "--timings",
                "timings.json",
                "--root",
                "/r",
            ],
        ];
        for args in accepted {
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{args:?}: {e}");
            }
        }
        let refused: [&[&str]; 3] = [
            // Rendering for real needs timings.
            &[
                "captoken-eval",
                "render",
                "--deterministic",
                "d.json",
                "--root",
                "/r",
            ],
            &["captoken-eval", "measure", "--cases", "many"],
            &["captoken-eval", "cases"],
        ];
        for args in refused {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn the_committed_results_are_read() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let c = committed(root).unwrap();
        assert!(c.deterministic.cases > 0);
        assert!(!c.timings.rows.is_empty());
    }
}
