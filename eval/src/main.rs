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

use captoken_eval::candidate::{Biscuit, Candidate, Hmac, Macaroon, PasetoLocal, PasetoPublic};
use captoken_eval::measure::{cross_format, peer_sizes, provider_results, varying_peer_sizes};
use captoken_eval::report::{COMPARISONS, Generated, fill_markers, report_files, tables};
use captoken_eval::results::{DependencyCount, Deterministic, ProviderResults, Timing, Timings};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("measure") => measure(&args),
        Some("timings") => timings(&args),
        Some("render") => render(&args),
        Some("cases") => committed_cases(&args),
        _ => Err(
            "usage: captoken-eval measure|timings|render … (see the module documentation)"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("captoken-eval: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .ok_or_else(|| format!("missing {name}"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn write_json<T: serde::Serialize>(path: &str, value: &T) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))
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

fn measure(args: &[String]) -> Result<(), String> {
    let cases: u32 = flag(args, "--cases")?
        .parse()
        .map_err(|e| format!("--cases: {e}"))?;
    let dependencies: Vec<DependencyCount> = read_json(flag(args, "--deps")?)?;
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
    write_json(flag(args, "--out")?, &d)?;
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
fn series_names() -> Vec<&'static str> {
    COMPARISONS
        .iter()
        .flat_map(|c| {
            std::iter::once(c.provider)
                .chain(c.floors.iter().map(|f| f.0))
                .chain(c.peers.iter().map(|p| p.0))
        })
        .collect()
}

fn timings(args: &[String]) -> Result<(), String> {
    let dir = PathBuf::from(flag(args, "--criterion")?);
    let mut rows = Vec::new();
    for op in ["verify", "issue", "attenuate"] {
        for series in series_names() {
            for depth in captoken_core_types::testing::workload::DEPTHS {
                let file = dir
                    .join(op)
                    .join(series)
                    .join(depth.to_string())
                    .join("new")
                    .join("estimates.json");
                if let Some(median_ns) = median(&file)? {
                    rows.push(Timing {
                        op: op.to_owned(),
                        series: series.to_owned(),
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
        date: flag(args, "--date")?.to_owned(),
        machine: flag(args, "--machine")?.to_owned(),
        mode: flag(args, "--mode")?.to_owned(),
        rows,
        sizes: varying_peer_sizes()?,
    };
    write_json(flag(args, "--out")?, &t)
}

fn median(file: &Path) -> Result<Option<f64>, String> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(None);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    v.pointer("/median/point_estimate")
        .and_then(serde_json::Value::as_f64)
        .map(Some)
        .ok_or_else(|| format!("{}: no median", file.display()))
}

fn committed_cases(args: &[String]) -> Result<(), String> {
    let path = PathBuf::from(flag(args, "--root")?).join(RESULTS);
    let v: serde_json::Value = read_json(&path.to_string_lossy())?;
    let cases = v
        .pointer("/deterministic/cases")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("{RESULTS}: no case count"))?;
    println!("{cases}");
    Ok(())
}

fn render(args: &[String]) -> Result<(), String> {
    let d: Deterministic = read_json(flag(args, "--deterministic")?)?;
    let root = PathBuf::from(flag(args, "--root")?);
    let check = args.iter().any(|a| a == "--check");
    let t: Timings = match flag(args, "--timings") {
        Ok(path) => read_json(path)?,
        // A check re-renders with the committed timings: only deterministic parts can differ.
        Err(_) if check => committed_timings(&root)?,
        Err(e) => return Err(e),
    };
    let mut files = report_files(&d, &t)?;
    files.extend(adr_files(&root, &tables(&d, &t))?);
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

/// The timings recorded in the committed `eval/reports/results.json`.
fn committed_timings(root: &Path) -> Result<Timings, String> {
    let path = root.join(RESULTS);
    let v: serde_json::Value = read_json(&path.to_string_lossy())?;
    serde_json::from_value(
        v.get("timings")
            .cloned()
            .ok_or_else(|| format!("{RESULTS}: no timings"))?,
    )
    .map_err(|e| format!("{RESULTS}: {e}"))
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
