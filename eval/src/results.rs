//! The machine-readable results: deterministic measurements and timings, as written to `eval/reports/`.

use serde::{Deserialize, Serialize};

use crate::suites::Outcome;

/// Everything that must regenerate byte-identically on any machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deterministic {
    /// Cases per suite in this run.
    pub cases: u32,
    /// One row per provider.
    pub providers: Vec<ProviderResults>,
    /// Workload token sizes of the peers that can express the workload.
    pub peers: Vec<PeerSizes>,
    /// Tokens of one format presented to another's verifier.
    pub cross_format: Vec<CrossFormat>,
    /// Distinct crates pulled in by depending on each provider crate alone, and on all.
    pub dependencies: Vec<DependencyCount>,
}

/// The deterministic results of one provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderResults {
    /// Candidate name, for example `hmac`.
    pub name: String,
    /// Format tag.
    pub format: String,
    /// The crate that provides it.
    pub crate_name: String,
    /// Capability matrix row.
    pub capabilities: Capabilities,
    /// Invariant suite outcomes.
    pub suites: Vec<Outcome>,
    /// What the format cannot express, with the reason.
    pub gaps: Vec<String>,
    /// Workload token sizes per chain depth.
    pub sizes: Vec<Size>,
}

/// One ordered pair of the cross-format check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossFormat {
    /// The provider that issued the tokens.
    pub from: String,
    /// The provider that verified them.
    pub to: String,
    /// Tokens presented (relabelled, parsed from bytes, parsed from text, where parsing succeeds).
    pub checks: u32,
    /// How many it accepted: must be zero.
    pub accepted: u32,
}

/// Workload token sizes of one peer library.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSizes {
    /// Series name, for example `peer-jsonwebtoken-hs256`.
    pub name: String,
    /// Sizes at the depths the peer can express.
    pub sizes: Vec<Size>,
}

/// One row of the capability matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Holders attenuate without a key.
    pub offline_attenuation: bool,
    /// Verifiers need only a public key.
    pub public_key_verification: bool,
    /// Same capability, same bytes.
    pub deterministic_encoding: bool,
    /// Third-party caveats.
    pub third_party_caveats: bool,
    /// What revocation needs.
    pub revocation: String,
}

/// Size of the workload token at one depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Chain depth (delegation steps below the root).
    pub depth: usize,
    /// Binary form, bytes.
    pub binary: usize,
    /// Text form, bytes.
    pub text: usize,
}

/// Crates pulled in by depending on one crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyCount {
    /// The crate (or `all providers`).
    pub name: String,
    /// Distinct crates in its normal dependency tree, itself included.
    pub crates: usize,
}

/// Benchmark medians and where they were measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// When the benchmarks ran (UTC, RFC 3339).
    pub date: String,
    /// CPU model, core count, OS and compiler.
    pub machine: String,
    /// `quick` or `full`.
    pub mode: String,
    /// One row per benchmark.
    pub rows: Vec<Timing>,
    /// Workload sizes of the peers whose encoding differs from run to run
    /// (random ids and wall-clock times reach the encoded length).
    #[serde(default)]
    pub sizes: Vec<PeerSizes>,
}

/// One benchmark's median.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Operation: `verify`, `attenuate` or `issue`.
    pub op: String,
    /// Series: a provider, a floor (`floor-…`) or a peer (`peer-…`).
    pub series: String,
    /// Chain depth.
    pub depth: usize,
    /// Median time in nanoseconds.
    pub median_ns: f64,
}

impl Timings {
    /// The median of one benchmark, if it ran.
    #[must_use]
    pub fn median(&self, op: &str, series: &str, depth: usize) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.op == op && r.series == series && r.depth == depth)
            .map(|r| r.median_ns)
    }
}
