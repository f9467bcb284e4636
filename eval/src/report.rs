//! Renders the report, the charts and the ADR tables from the results.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use captoken_core_types::testing::workload;

use crate::results::{Deterministic, ProviderResults, Timings};
use crate::svg::{Chart, Series, Stroke, line_chart};

/// How a provider is compared: its cryptographic floor and its peers, by series name.
#[derive(Clone, Copy, Debug)]
pub struct Comparison {
    /// The provider's candidate name.
    pub provider: &'static str,
    /// Floor series (the bare cryptography the format cannot avoid) and what each is.
    pub floors: &'static [(&'static str, &'static str)],
    /// Peer series and what each is.
    pub peers: &'static [(&'static str, &'static str)],
}

/// Every provider's floor and peers, in report order. Series names are the
/// criterion function ids used by `eval/benches/workload.rs`.
pub const COMPARISONS: &[Comparison] = &[
    Comparison {
        provider: "hmac",
        floors: &[
            (
                "floor-hmac-lineage",
                "DESIGN.md §12: one HMAC-SHA256 over the token's signed bytes plus the SHA-256 of its lineage hash",
            ),
            (
                "floor-hmac-sha256",
                "one HMAC-SHA256 over the token's signed bytes",
            ),
        ],
        peers: &[
            (
                "peer-jsonwebtoken-hs256",
                "jsonwebtoken HS256 with the same claims as compact JSON, then the same authorization",
            ),
            (
                "hmac-no-row-cache",
                "the same provider, cold, with its cache of authenticated ancestors off: every lineage-index row's issuer seal checked on every call",
            ),
        ],
    },
    Comparison {
        provider: "macaroon",
        floors: &[
            (
                "floor-hmac-per-step",
                "(depth + 1) HMAC-SHA256, one per chain link counted by delegation step",
            ),
            (
                "floor-hmac-chain",
                "the HMAC-SHA256 chain: one per link (identifier and each caveat)",
            ),
        ],
        peers: &[(
            "peer-macaroon-crate",
            "the `macaroon` crate on the same tokens: decode and HMAC chain; caveats accepted by prefix (its verifier cannot see the request)",
        )],
    },
    Comparison {
        provider: "paseto-public",
        floors: &[(
            "floor-ed25519",
            "one Ed25519 verify_strict (ed25519-dalek) over the token's PAE",
        )],
        peers: &[
            (
                "peer-pasetors",
                "raw pasetors: verify, parse claims with its `Claims`, check the time window",
            ),
            (
                "paseto-public-no-row-cache",
                "the same provider, cold, with its cache of authenticated ancestors off: every lineage-index row's issuer seal checked on every call",
            ),
        ],
    },
    Comparison {
        provider: "paseto-local",
        floors: &[],
        peers: &[(
            "paseto-local-no-row-cache",
            "the same provider, cold, with its cache of authenticated ancestors off: every lineage-index row's issuer seal checked on every call",
        )],
    },
    Comparison {
        provider: "biscuit",
        floors: &[(
            "floor-ed25519-blocks",
            "one Ed25519 verify_strict per block plus the proof's key derivation",
        )],
        peers: &[
            (
                "peer-biscuit-auth",
                "raw biscuit-auth: `Biscuit::from` and a hand-written authorizer with the same facts and policy",
            ),
            (
                "peer-tenuo",
                "tenuo warrant chain: decode the CBOR stack (a strict Ed25519 verify per warrant), its authorizer (a batch Ed25519 verify of every warrant again, narrowing, constraints) and the holder's proof-of-possession signature (one more Ed25519 verify)",
            ),
        ],
    },
];

/// The series of the `possession` benchmark group: the ordered check of one
/// fresh proof, and the nonce store's `reserve` (the depth parameter is the
/// number of threads).
pub const POSSESSION_SERIES: [&str; 2] = ["check-proof", "nonce-reserve-threads"];

/// The store sizes of the `store` benchmark group (its parameter): entries
/// already in each table when a lookup or reservation is timed.
pub const STORE_SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// The series of the `store` group: (store, operation) pairs.
pub const STORE_SERIES: [&str; 9] = [
    "memory-is-revoked",
    "sqlite-is-revoked",
    "postgres-is-revoked",
    "memory-lineage-get",
    "sqlite-lineage-get",
    "postgres-lineage-get",
    "memory-reserve",
    "sqlite-reserve",
    "postgres-reserve",
];

/// The series of the `store-verify` group: cold verify of the HMAC workload at
/// depth 8 over each store (PostgreSQL with revocations from the server, and
/// from the in-memory snapshot).
pub const STORE_VERIFY_SERIES: [&str; 4] = [
    "hmac-memory",
    "hmac-sqlite",
    "hmac-postgres",
    "hmac-postgres-snapshot",
];

/// The series of the `store-reserve-threads` group: `reserve` from several
/// threads at once, one store handle each.
pub const STORE_THREAD_SERIES: [&str; 2] = ["sqlite", "postgres"];

/// The thread counts of the `store-reserve-threads` group (its parameter).
pub const STORE_THREADS: [usize; 3] = [1, 2, 4];

/// The depth of the `store-verify` group.
pub const STORE_VERIFY_DEPTH: usize = 8;

/// Store lookups and reservations by size, cold verify over each store, and
/// the SQLite store's reservation throughput.
#[must_use]
pub fn store_table(timings: &Timings) -> String {
    let ns = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), fmt_ns);
    let mut t = String::from("| operation | store |");
    for n in STORE_SIZES {
        let _ = write!(t, " {n} entries |");
    }
    t.push_str("\n|---|---|");
    t.push_str(&"---|".repeat(STORE_SIZES.len()));
    t.push('\n');
    for series in STORE_SERIES {
        let (store, op) = series.split_once('-').unwrap_or((series, ""));
        let _ = write!(t, "| `{op}` | {store} |");
        for n in STORE_SIZES {
            let _ = write!(t, " {} |", ns(timings.median("store", series, n)));
        }
        t.push('\n');
    }
    let verify = |s: &str| timings.median("store-verify", s, STORE_VERIFY_DEPTH);
    let [memory, sqlite, postgres, snapshot] = STORE_VERIFY_SERIES.map(verify);
    let _ = write!(
        t,
        "\nCold verify of the HMAC workload at depth {STORE_VERIFY_DEPTH} (every ancestor's row and the revocation of the\n\
         whole chain asked once each):\n\n\
         | stores | median | ratio to memory |\n|---|---|---|\n\
         | in memory | {} | 1.00 |\n\
         | SQLite | {} | {} |\n\
         | PostgreSQL (revocations and rows from the server) | {} | {} |\n\
         | PostgreSQL rows, revocations from the `RevocationSnapshot` | {} | {} |\n\n\
         The snapshot saves {} per verification ({} of the server-only time).\n",
        ns(memory),
        ns(sqlite),
        fmt_ratio2(sqlite, memory),
        ns(postgres),
        fmt_ratio2(postgres, memory),
        ns(snapshot),
        fmt_ratio2(snapshot, memory),
        match (postgres, snapshot) {
            (Some(p), Some(s)) => fmt_ns(p - s),
            _ => "–".to_owned(),
        },
        fmt_ratio2(snapshot, postgres),
    );
    let _ = write!(
        t,
        "\nDurable reservations per second from several threads at once, each with its own handle (SQLite: one file,\n\
         one `IMMEDIATE` transaction committed with `synchronous=FULL` each; PostgreSQL: one server on a loopback port\n\
         with `fsync` on, one transaction each, serialised on the live-nonce counter):\n\n| store |"
    );
    for n in STORE_THREADS {
        let _ = write!(t, " {n} thread{} |", if n == 1 { "" } else { "s" });
    }
    t.push_str("\n|---|");
    t.push_str(&"---|".repeat(STORE_THREADS.len()));
    t.push('\n');
    for series in STORE_THREAD_SERIES {
        let _ = write!(t, "| {series} |");
        for n in STORE_THREADS {
            let rate = timings
                .median("store-reserve-threads", series, n)
                .filter(|v| *v > 0.0)
                .map_or_else(|| "–".to_owned(), |v| format!("{:.0}/s", 1e9 / v));
            let _ = write!(t, " {rate} |");
        }
        t.push('\n');
    }
    t
}

/// The `gateway` group's series of a provider's `parse_text` plus `verify`
/// (the group's series named after the provider is `Gateway::check`).
#[must_use]
pub fn parse_verify_series(provider: &str) -> String {
    format!("{provider}-parse-verify")
}

/// `Gateway::check` of a token's text at depth 0 against the provider's own
/// `verify` of the parsed token and its `parse_text` plus `verify`.
#[must_use]
pub fn gateway_table(timings: &Timings) -> String {
    let ns = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), fmt_ns);
    let mut t = String::from(
        "| provider | `verify` (parsed token) | `parse_text` + `verify` | `Gateway::check` (text) | check / verify | check / parse + verify |\n\
         |---|---|---|---|---|---|\n",
    );
    for c in COMPARISONS {
        let verify = timings.median("verify", c.provider, 0);
        let parse = timings.median("gateway", &parse_verify_series(c.provider), 0);
        let check = timings.median("gateway", c.provider, 0);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} |",
            c.provider,
            ns(verify),
            ns(parse),
            ns(check),
            fmt_ratio2(check, verify),
            fmt_ratio2(check, parse)
        );
    }
    t
}

/// The thread counts the `throughput` group may be measured with (its
/// parameter: 1 and the machine's core count).
pub const THROUGHPUT_THREADS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// The `throughput` group's series of one `Gateway` (HMAC) shared by the threads.
pub const GATEWAY_THROUGHPUT_SERIES: &str = "gateway-hmac";

/// Verifications per second on 1 thread and on every core, one provider
/// instance and one set of in-memory stores shared, and the scaling ratio.
#[must_use]
pub fn throughput_table(timings: &Timings) -> String {
    let most = THROUGHPUT_THREADS
        .iter()
        .copied()
        .filter(|&n| {
            COMPARISONS
                .iter()
                .any(|c| timings.median("throughput", c.provider, n).is_some())
        })
        .max()
        .unwrap_or(1);
    let mut t = format!(
        "| series | 1 thread | {most} threads | scaling ({most} threads / 1) |\n|---|---|---|---|\n"
    );
    let rate = |v: Option<f64>| {
        v.filter(|v| *v > 0.0)
            .map_or_else(|| "–".to_owned(), |v| format!("{:.0}/s", 1e9 / v))
    };
    let series = COMPARISONS
        .iter()
        .map(|c| c.provider)
        .chain(std::iter::once(GATEWAY_THROUGHPUT_SERIES));
    for s in series {
        let one = timings.median("throughput", s, 1);
        let many = timings.median("throughput", s, most);
        let _ = writeln!(
            t,
            "| {s} | {} | {} | {} |",
            rate(one),
            rate(many),
            fmt_ratio2(one, many)
        );
    }
    t
}

/// The depths of the `allocations` group (heap allocations per cold verification).
pub const ALLOCATION_DEPTHS: [usize; 2] = [0, 16];

/// Heap allocations per cold verification of the workload chain, per
/// provider and depth (counted by dhat, not timed).
#[must_use]
pub fn allocation_table(timings: &Timings) -> String {
    let mut t = String::from("| provider | depth 0 | depth 16 |\n|---|---|---|\n");
    for c in COMPARISONS {
        let at = |d| {
            timings
                .median("allocations", c.provider, d)
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
        };
        let [zero, deep] = ALLOCATION_DEPTHS;
        let _ = writeln!(t, "| {} | {} | {} |", c.provider, at(zero), at(deep));
    }
    t
}

/// The keyring sizes of the `keyring` benchmark group (its parameter).
pub const KEYRING_SIZES: [usize; 2] = [1, 1000];

/// Cold verify at depth 0 per provider with a keyring of 1 key and of 1000:
/// key selection is a map lookup, so the ratio should be about 1.
#[must_use]
pub fn keyring_table(timings: &Timings) -> String {
    let mut t = String::from("| provider | 1 key | 1000 keys | ratio |\n|---|---|---|---|\n");
    for c in COMPARISONS {
        let at = |n| timings.median("keyring", c.provider, n);
        let ns = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), fmt_ns);
        let [one, many] = KEYRING_SIZES;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} |",
            c.provider,
            ns(at(one)),
            ns(at(many)),
            fmt_ratio2(at(many), at(one))
        );
    }
    t
}

/// The floor series of a provider's verification with proof of possession:
/// its bearer verify plus one Ed25519 verification.
#[must_use]
pub fn pop_floor(provider: &str) -> String {
    format!("floor-pop-{provider}")
}

/// The head of a table with two leading columns and one column per workload depth.
fn depth_header(first: &str, second: &str) -> String {
    let mut t = format!("| {first} | {second} |");
    for depth in workload::DEPTHS {
        let _ = write!(t, " depth {depth} |");
    }
    t.push_str("\n|---|---|");
    t.push_str(&"---|".repeat(workload::DEPTHS.len()));
    t.push('\n');
    t
}

fn fmt_ratio2(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

/// Verification with proof of possession per provider and depth, against its
/// floor and tenuo; then the possession check and the nonce store alone.
#[must_use]
pub fn possession_table(timings: &Timings) -> String {
    let mut t = depth_header("provider", "series");
    for c in COMPARISONS {
        let floor = pop_floor(c.provider);
        let with_proof = |d| timings.median("verify-pop", c.provider, d);
        let floor_at = |d| timings.median("verify-pop", &floor, d);
        let tenuo_at = |d| timings.median("verify", "peer-tenuo", d);
        let ns = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), fmt_ns);
        let cells = |d| {
            [
                ns(with_proof(d)),
                ns(floor_at(d)),
                fmt_ratio2(with_proof(d), floor_at(d)),
                fmt_ratio2(with_proof(d), tenuo_at(d)),
            ]
        };
        let table: Vec<[String; 4]> = workload::DEPTHS.iter().map(|d| cells(*d)).collect();
        for (i, name) in [
            "verify with proof",
            "floor: bearer verify + one Ed25519 verify",
            "ratio to the floor",
            "ratio to tenuo",
        ]
        .iter()
        .enumerate()
        {
            let _ = write!(t, "| {} | {name} |", c.provider);
            for row in &table {
                let _ = write!(t, " {} |", row.get(i).map_or("–", String::as_str));
            }
            t.push('\n');
        }
    }
    let median = |series: &str, d: usize| timings.median("possession", series, d);
    let ns = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), fmt_ns);
    let rate = |v: Option<f64>| {
        v.filter(|v| *v > 0.0)
            .map_or_else(|| "–".to_owned(), |v| format!("{:.2} M/s", 1_000.0 / v))
    };
    let one = median(POSSESSION_SERIES[1], 1);
    let two = median(POSSESSION_SERIES[1], 2);
    let _ = write!(
        t,
        "\nThe possession check alone (`check_proof`: binding, freshness, one Ed25519 verification, one nonce\n\
         reservation): {}. The in-memory nonce store's `reserve`, per reservation: {} on one thread ({}), {} with\n\
         two threads reserving at once ({} together).\n",
        ns(median(POSSESSION_SERIES[0], 0)),
        ns(one),
        rate(one),
        ns(two),
        rate(two),
    );
    t
}

/// One generated file: a path relative to the repository root and its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Path relative to the repository root.
    pub path: String,
    /// Full contents.
    pub contents: String,
}

fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

fn fmt_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "–".to_owned(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The capability matrix table.
#[must_use]
pub fn capability_table(d: &Deterministic) -> String {
    let mut t = String::from(
        "| provider | format | offline attenuation | public-key verification | deterministic encoding | third-party caveats | revocation needs |\n|---|---|---|---|---|---|---|\n",
    );
    for p in &d.providers {
        let c = &p.capabilities;
        let _ = writeln!(
            t,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            p.name,
            p.format,
            yes_no(c.offline_attenuation),
            yes_no(c.public_key_verification),
            yes_no(c.deterministic_encoding),
            yes_no(c.third_party_caveats),
            c.revocation
        );
    }
    t
}

/// The invariant suites table and the capability gaps.
#[must_use]
pub fn suites_table(d: &Deterministic) -> String {
    let mut t = String::from("| provider | suite | cases | failures |\n|---|---|---|---|\n");
    for p in &d.providers {
        for o in &p.suites {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} |",
                p.name,
                o.suite.name(),
                o.cases,
                u32::from(o.failure.is_some())
            );
        }
    }
    let failures: Vec<String> = d
        .providers
        .iter()
        .flat_map(|p| {
            p.suites.iter().filter_map(move |o| {
                o.failure.as_ref().map(|f| {
                    format!(
                        "- **{} / {}**:\n\n```text\n{f}\n```",
                        p.name,
                        o.suite.name()
                    )
                })
            })
        })
        .collect();
    if !failures.is_empty() {
        t.push_str("\nFailures, with their shrunk counterexamples:\n\n");
        t.push_str(&failures.join("\n"));
        t.push('\n');
    }
    if !d.cross_format.is_empty() {
        t.push_str("\nTokens of one format presented to another format's verifier (binary relabelled, and parsed from bytes and text where that succeeds):\n\n| issued by | verified by | tokens presented | accepted |\n|---|---|---|---|\n");
        for c in &d.cross_format {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} |",
                c.from, c.to, c.checks, c.accepted
            );
        }
    }
    t.push_str("\nCapability gaps (what a suite cannot exercise in that format, and why):\n\n");
    for p in &d.providers {
        for g in &p.gaps {
            let _ = writeln!(t, "- {}: {g}", p.name);
        }
    }
    t
}

/// The token size table (binary and text bytes per depth).
#[must_use]
pub fn size_table(d: &Deterministic, timings: &Timings) -> String {
    let mut t = String::from("| provider |");
    for depth in workload::DEPTHS {
        let _ = write!(t, " depth {depth} |");
    }
    t.push_str("\n|---|");
    t.push_str(&"---|".repeat(workload::DEPTHS.len()));
    t.push('\n');
    let rows = d
        .providers
        .iter()
        .map(|p| (&p.name, &p.sizes, ""))
        .chain(d.peers.iter().map(|p| (&p.name, &p.sizes, "")))
        .chain(timings.sizes.iter().map(|p| (&p.name, &p.sizes, " †")));
    for (name, sizes, mark) in rows {
        let _ = write!(t, "| {name}{mark} |");
        for depth in workload::DEPTHS {
            match sizes.iter().find(|s| s.depth == depth) {
                Some(s) => {
                    let _ = write!(t, " {} / {} |", s.binary, s.text);
                }
                None => t.push_str(" – |"),
            }
        }
        t.push('\n');
    }
    t.push_str("\nEach cell: binary bytes / text bytes of the DESIGN.md §7 workload token after that many delegation steps;\n– where the format cannot express that depth.\n");
    if !timings.sizes.is_empty() {
        let _ = write!(
            t,
            "\n† Measured in the timed run of {}, not deterministic: tenuo writes each warrant's 32-byte parent hash as a CBOR\n\
             array of integers (one or two bytes each, by value), and the hash covers a random id and wall-clock times, so\n\
             each delegation step varies by up to 32 bytes from run to run.\n",
            timings.date
        );
    }
    t
}

/// The dependency count table.
#[must_use]
pub fn dependency_table(d: &Deterministic) -> String {
    let mut t = String::from("| depending on | distinct crates |\n|---|---|\n");
    for dep in &d.dependencies {
        let _ = writeln!(t, "| `{}` | {} |", dep.name, dep.crates);
    }
    t
}

/// The verify latency table: medians per depth, and each provider's ratio to its floor and peers.
#[must_use]
pub fn latency_table(timings: &Timings) -> String {
    let mut t = depth_header("series", "what");
    for c in COMPARISONS {
        let rows = std::iter::once((
            c.provider,
            "captoken provider: parse, cryptography, authorization, lineage",
        ))
        .chain(c.floors.iter().copied())
        .chain(c.peers.iter().copied());
        for (series, what) in rows {
            let _ = write!(t, "| {series} | {what} |");
            for depth in workload::DEPTHS {
                let cell = timings
                    .median("verify", series, depth)
                    .map_or_else(|| "–".to_owned(), fmt_ns);
                let _ = write!(t, " {cell} |");
            }
            t.push('\n');
        }
    }
    t.push_str(
        "\nRatios of each provider's verify median to its floor and peers at the same depth:\n\n",
    );
    t.push_str(&depth_header("provider", "against"));
    for c in COMPARISONS {
        for (other, _) in c.floors.iter().copied().chain(c.peers.iter().copied()) {
            let _ = write!(t, "| {} | {other} |", c.provider);
            for depth in workload::DEPTHS {
                let _ = write!(
                    t,
                    " {} |",
                    fmt_ratio(
                        timings.median("verify", c.provider, depth),
                        timings.median("verify", other, depth)
                    )
                );
            }
            t.push('\n');
        }
    }
    t
}

/// Issue and attenuate medians per provider.
#[must_use]
pub fn issue_table(timings: &Timings) -> String {
    let mut t = String::from("| provider | issue (root) |");
    for depth in workload::DEPTHS.iter().filter(|d| **d > 0) {
        let _ = write!(t, " attenuate to depth {depth} |");
    }
    t.push_str("\n|---|---|");
    t.push_str(&"---|".repeat(workload::DEPTHS.len() - 1));
    t.push('\n');
    for c in COMPARISONS {
        let issue = timings
            .median("issue", c.provider, 0)
            .map_or_else(|| "–".to_owned(), fmt_ns);
        let _ = write!(t, "| {} | {issue} |", c.provider);
        for depth in workload::DEPTHS.iter().filter(|d| **d > 0) {
            let cell = timings
                .median("attenuate", c.provider, *depth)
                .map_or_else(|| "–".to_owned(), fmt_ns);
            let _ = write!(t, " {cell} |");
        }
        t.push('\n');
    }
    t
}

fn depth_labels() -> Vec<String> {
    workload::DEPTHS.iter().map(ToString::to_string).collect()
}

/// The verify-time chart: one line per provider, floor and peer.
#[must_use]
pub fn verify_chart(timings: &Timings) -> String {
    let xs = depth_labels();
    let mut series = Vec::new();
    for (color, c) in COMPARISONS.iter().enumerate() {
        let lines = std::iter::once((c.provider, Stroke::Solid))
            .chain(
                c.floors
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.0, Stroke::floor(i))),
            )
            .chain(
                c.peers
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.0, Stroke::peer(i))),
            );
        for (name, stroke) in lines {
            let values: Vec<Option<f64>> = workload::DEPTHS
                .iter()
                .map(|d| timings.median("verify", name, *d))
                .collect();
            if values.iter().any(Option::is_some) {
                series.push(Series {
                    label: name.to_owned(),
                    values,
                    color,
                    stroke,
                });
            }
        }
    }
    let chart = Chart {
        title: "Verify time against chain depth (median, log scale)",
        x_label: "chain depth (delegation steps)",
        y_label: "time",
        x_values: &xs,
        y_format: fmt_ns,
    };
    line_chart(&chart, &series)
}

/// The token-size chart: text bytes per provider and depth.
#[must_use]
pub fn size_chart(d: &Deterministic, timings: &Timings) -> String {
    let xs = depth_labels();
    // A peer takes the colour of the provider it is compared with, and the
    // stroke of its place among that provider's peers.
    let color_of = |name: &str| {
        COMPARISONS
            .iter()
            .position(|c| c.provider == name || c.peers.iter().any(|p| p.0 == name))
            .unwrap_or(COMPARISONS.len())
    };
    let peer_stroke = |name: &str| {
        let place = COMPARISONS
            .iter()
            .find_map(|c| c.peers.iter().position(|p| p.0 == name));
        Stroke::peer(place.unwrap_or_default())
    };
    let rows = d
        .providers
        .iter()
        .map(|p| (&p.name, &p.sizes, Stroke::Solid))
        .chain(
            d.peers
                .iter()
                .chain(&timings.sizes)
                .map(|p| (&p.name, &p.sizes, peer_stroke(&p.name))),
        );
    let series: Vec<Series> = rows
        .map(|(name, sizes, stroke)| Series {
            label: name.clone(),
            values: workload::DEPTHS
                .iter()
                .map(|depth| {
                    sizes
                        .iter()
                        .find(|s| s.depth == *depth)
                        .map(|s| s.text as f64)
                })
                .collect(),
            color: color_of(name),
            stroke,
        })
        .collect();
    let chart = Chart {
        title: "Token size (text form) against chain depth (log scale)",
        x_label: "chain depth (delegation steps)",
        y_label: "bytes",
        x_values: &xs,
        y_format: |v| format!("{v:.0} B"),
    };
    line_chart(&chart, &series)
}

/// One line per provider with the figures a decision weighs: verify cost at
/// depths 0 and 16 and relative to the HMAC provider, token size, dependencies
/// and the two capabilities that separate the formats.
#[must_use]
pub fn summary_table(d: &Deterministic, timings: &Timings) -> String {
    let mut t = String::from(
        "| provider | offline attenuation | public-key verification | verify, depth 0 | verify, depth 16 | × hmac at depth 0 | text bytes, depth 0 | text bytes, depth 16 | crates |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let base = timings.median("verify", "hmac", 0);
    for p in &d.providers {
        let v0 = timings.median("verify", &p.name, 0);
        let v16 = timings.median("verify", &p.name, 16);
        let size = |depth: usize| {
            p.sizes
                .iter()
                .find(|s| s.depth == depth)
                .map_or_else(|| "–".to_owned(), |s| s.text.to_string())
        };
        let crates = d
            .dependencies
            .iter()
            .find(|c| c.name == p.crate_name)
            .map_or_else(|| "–".to_owned(), |c| c.crates.to_string());
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            yes_no(p.capabilities.offline_attenuation),
            yes_no(p.capabilities.public_key_verification),
            v0.map_or_else(|| "–".to_owned(), fmt_ns),
            v16.map_or_else(|| "–".to_owned(), fmt_ns),
            fmt_ratio(v0, base),
            size(0),
            size(16),
            crates
        );
    }
    t
}

/// The named tables that ADRs may embed between `<!-- generated:NAME -->` markers.
#[must_use]
pub fn tables(d: &Deterministic, timings: &Timings) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("capabilities", capability_table(d)),
        ("suites", suites_table(d)),
        ("sizes", size_table(d, timings)),
        ("dependencies", dependency_table(d)),
        (
            "latency",
            format!(
                "{}\nMeasured {} on {} ({} run).\n",
                latency_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        ("issue", issue_table(timings)),
        (
            "stores",
            format!(
                "{}\nMeasured {} on {} ({} run).\n",
                store_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        (
            "allocations",
            format!(
                "{}\nCounted {} on {} ({} run).\n",
                allocation_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        (
            "throughput",
            format!(
                "{}\nMeasured {} on {} ({} run).\n",
                throughput_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        (
            "gateway",
            format!(
                "{}\nMeasured {} on {} ({} run).\n",
                gateway_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        (
            "keyring",
            format!(
                "{}\nMeasured {} on {} ({} run).\n",
                keyring_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        (
            "possession",
            format!(
                "{}\nMeasured {} on {} ({} run).\n",
                possession_table(timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
        (
            "summary",
            format!(
                "{}\nMeasured {} on {} ({} run); sizes and crate counts are deterministic.\n",
                summary_table(d, timings),
                timings.date,
                timings.machine,
                timings.mode
            ),
        ),
    ])
}

/// The report Markdown.
#[must_use]
pub fn report(d: &Deterministic, timings: &Timings) -> String {
    let tables = tables(d, timings);
    let section = |name: &str| tables.get(name).cloned().unwrap_or_default();
    let providers: Vec<&str> = d
        .providers
        .iter()
        .map(|p: &ProviderResults| p.name.as_str())
        .collect();
    format!(
        "# captoken evaluation report\n\n\
         Generated by `cargo xtask eval` ({mode} run) on {date}, on {machine}.\n\
         Deterministic parts (capability matrix, suites, sizes except rows marked †, dependencies) regenerate byte-identically on any machine;\n\
         `cargo xtask eval --check` fails when they drift. Timings are medians of criterion runs on the machine above:\n\
         compare ratios measured in one run, not absolute times across machines.\n\n\
         Providers: {providers}. Workload: DESIGN.md §7 (two tools with path, exact and range constraints; one hour; depth 16;\n\
         step *i* narrows the path directory and the range and moves expiry one second earlier).\n\n\
         ## Summary\n\n{summary}\n\
         ## Capability matrix\n\n{caps}\n\
         ## Invariant suites\n\n\
         Each suite ran {cases} cases per provider with a fixed seed (DESIGN.md §6): binding, attenuation monotonicity\n\
         (random and hostile chains against the reference authorizer), lineage hash domain (ancestors recovered,\n\
         cold = live, forged parent hash, revocation), path, and possession (DESIGN.md §8: a holder-bound chain without a\n\
         proof, with the holder's proof, a replay, proofs by another key, for another token, request or time; a thief's\n\
         re-delegation).\n\n{suites}\n\
         ## Verify latency\n\n\
         Verify = parse + cryptography + authorization + lineage walk, for the workload request, allowed at every depth.\n\
         Peers are measured where they can carry the workload: JWT and PASETO have no attenuation (depth 0 only); the\n\
         `macaroon` crate's verifier takes plain `fn` pointers that cannot see the request, so it checks the HMAC chain but\n\
         not the caveats. `tenuo` carries the workload (`Subpath`, strictly under, for the path, exact, inclusive range, one\n\
         warrant per step, signed by the holder's key), but it has no tool-server field, binds the subject by a\n\
         holder key rather than a name, and reads lifetimes from the wall clock, so it is verified at the wall-clock\n\
         instant its proof of possession was made; the holder's signature for that proof (one Ed25519 signature per\n\
         call) is not in the timing. It sits with Biscuit, the other public-key format with offline delegation; its verifier\n\
         checks each warrant's signature twice (when decoding, then in a batch in its authorizer), so per delegation step it\n\
         does about twice the signature work of the Biscuit floor.\n\n{latency}\n\
         ![verify time against chain depth](verify.svg)\n\n\
         ## Proof of possession\n\n\
         The workload chain with its root bound to a holder key (DESIGN.md §8): every call presents a fresh proof (signed\n\
         outside the timing, the holder's cost) whose nonce is reserved in one in-memory store. The floor is the same\n\
         provider's bearer verify of the unbound chain plus one Ed25519 `verify_strict` over a proof-sized message; tenuo\n\
         verifies its holder's proof of possession on every call too, so the comparison is like for like.\n\n{possession}\n\
         ## The front door\n\n\
         `Gateway::check` (crate `captoken`) of a bearer token's text at depth 0 over in-memory stores: marker dispatch,\n\
         parsing, the provider's verification and the decision with its per-format counters, against the provider's own\n\
         `verify` of the already parsed token (the verify table's depth 0) and its `parse_text` plus `verify`.\n\n{gateway}\n\
         ## Allocations per verification\n\n\
         Heap allocations per cold verification of the workload chain (bearer, in-memory stores, caches warm), counted by\n\
         dhat's heap profiler over 100 calls: the same on every run of the same build.\n\n{allocations}\n\
         ## Throughput on several threads\n\n\
         Verifications per second at depth 0 (bearer), one provider instance and one set of in-memory stores shared by\n\
         every thread (1, and every core of the machine); the time per verification across all threads is the benchmark's\n\
         median. `gateway-hmac` is one `Gateway` shared the same way, its per-format counters included.\n\n{throughput}\n\
         ## Key selection\n\n\
         Cold verify at depth 0 with the issuing key alone in the keyring, and among 999 other published keys (DESIGN.md §9):\n\
         a token names its key, and selection is one map lookup whatever the keyring's size.\n\n{keyring}\n\
         ## Durable stores\n\n\
         Lookups and reservations with that many entries already in each table, through the store traits: the in-memory\n\
         stores, `captoken-store-sqlite` (one file, WAL, `synchronous=FULL`) and `captoken-store-postgres` (a throw-away\n\
         server on a loopback port, `fsync` on, one connection). Lookups must stay flat with size (a primary key, never a\n\
         scan).\n\n{stores}\n\
         ## Issue and attenuate\n\n{issue}\n\
         ## Token size\n\n{sizes}\n\
         ![token size against chain depth](size.svg)\n\n\
         ## Dependencies\n\n\
         Distinct crates in the normal dependency tree of each crate alone (itself included), for the host platform.\n\n{deps}",
        mode = timings.mode,
        date = timings.date,
        machine = timings.machine,
        providers = providers.join(", "),
        summary = section("summary"),
        caps = section("capabilities"),
        cases = d.cases,
        suites = section("suites"),
        latency = section("latency"),
        issue = section("issue"),
        possession = section("possession"),
        gateway = section("gateway"),
        throughput = section("throughput"),
        allocations = section("allocations"),
        keyring = section("keyring"),
        stores = section("stores"),
        sizes = section("sizes"),
        deps = section("dependencies"),
    )
}

/// Replaces the body of every `<!-- generated:NAME -->` … `<!-- /generated:NAME -->`
/// block in `doc` with the table of that name. Unknown names are an error.
///
/// # Errors
/// An unknown table name or an unterminated block.
pub fn fill_markers(doc: &str, tables: &BTreeMap<&'static str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(start) = rest.find("<!-- generated:") {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let name_end = from.find(" -->").ok_or("unterminated generated marker")?;
        let name = from
            .get("<!-- generated:".len()..name_end)
            .ok_or("bad marker")?;
        let close = format!("<!-- /generated:{name} -->");
        let end = from
            .find(&close)
            .ok_or_else(|| format!("no closing marker for {name}"))?;
        let table = tables
            .get(name)
            .ok_or_else(|| format!("unknown generated table {name}"))?;
        let _ = write!(out, "<!-- generated:{name} -->\n{table}{close}");
        rest = from.get(end + close.len()..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Every file the report consists of: REPORT.md, results.json and the charts.
///
/// # Errors
/// When the results cannot be serialized.
pub fn report_files(d: &Deterministic, timings: &Timings) -> Result<Vec<Generated>, String> {
    // Through a `serde_json::Value`, whose maps sort their keys: results.json
    // lists every object's fields in alphabetical order, not declaration order.
    let results = serde_json::json!({ "deterministic": d, "timings": timings });
    let mut json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    json.push('\n');
    Ok(vec![
        Generated {
            path: "eval/reports/REPORT.md".into(),
            contents: report(d, timings),
        },
        Generated {
            path: "eval/reports/results.json".into(),
            contents: json,
        },
        Generated {
            path: "eval/reports/verify.svg".into(),
            contents: verify_chart(timings),
        },
        Generated {
            path: "eval/reports/size.svg".into(),
            contents: size_chart(d, timings),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_filled_and_idempotent() {
        let tables = BTreeMap::from([("sizes", "| a |\n".to_owned())]);
        let doc = "x\n<!-- generated:sizes -->\nold\n<!-- /generated:sizes -->\ny\n";
        let once = fill_markers(doc, &tables).unwrap();
        assert_eq!(
            once,
            "x\n<!-- generated:sizes -->\n| a |\n<!-- /generated:sizes -->\ny\n"
        );
        assert_eq!(fill_markers(&once, &tables).unwrap(), once);
        assert!(
            fill_markers("<!-- generated:nope -->\n<!-- /generated:nope -->", &tables).is_err()
        );
        assert!(fill_markers("<!-- generated:sizes -->\n", &tables).is_err());
    }
}
