//! The seed corpora: sample tokens of every provider at depths 0, 1, 4 and 16, binary and text, and well-formed inputs of every target.
//!
//! Every seed is the same on every run, except the bytes that two formats
//! draw at random whatever captoken does: the nonce of a `v4.local` token and
//! the per-block key of a Biscuit block. The structure of those seeds (which
//! token, which depth, which input layout) is still the same.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use captoken_biscuit_provider::RootSigningKey;
use captoken_core_types::Token;
use captoken_core_types::possession::{HolderSigningKey, Proof};
use captoken_core_types::testing::workload;
use captoken_macaroon_provider::wire::Macaroon;
use captoken_paseto_provider::SigningKey;

use crate::pool::WORKLOAD_DEPTH;
use crate::providers::{Fuzzable, Role, key_id, providers};
use crate::verify::HEADER_LEN;

/// The chain depths the sample tokens are taken at.
pub const DEPTHS: [usize; 4] = [0, 1, 4, 16];

/// One seed: the target it is for, a file name, and the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The fuzz target.
    pub target: &'static str,
    /// The file name in the target's corpus directory.
    pub name: String,
    /// The input bytes.
    pub data: Vec<u8>,
}

fn seed(target: &'static str, name: String, data: Vec<u8>) -> Seed {
    Seed { target, name, data }
}

/// The provider's workload chain to depth 16 under the corpus key, root first.
///
/// # Panics
/// When a provider cannot issue or attenuate the workload (a provider bug).
#[must_use]
pub fn workload_chain(p: &dyn Fuzzable) -> Vec<Token> {
    let mut tokens = Vec::new();
    match p.issue(&workload::capability(key_id())) {
        Ok(t) => tokens.push(t),
        Err(e) => panic!("{}: the workload does not issue: {e}", p.name()),
    }
    for step in workload::steps(WORKLOAD_DEPTH) {
        let Some(parent) = tokens.last() else { break };
        match p.attenuate(parent, &step) {
            Ok(t) => tokens.push(t),
            Err(e) => panic!("{}: the workload does not attenuate: {e}", p.name()),
        }
    }
    tokens
}

fn with(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(rest);
    v
}

fn selector(i: usize) -> u8 {
    u8::try_from(i).unwrap_or(u8::MAX)
}

/// A verify input: header, payload, request bytes.
fn verify_input(header: [u8; 5], payload: &[u8], request: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut v = Vec::with_capacity(HEADER_LEN + payload.len() + request.len());
    v.extend_from_slice(&header);
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(payload);
    v.extend_from_slice(request);
    v
}

/// Fixed byte patterns for the structure-aware targets: zeros (every first
/// choice), a ramp, and a deterministic pseudo-random stream.
fn patterns() -> Vec<(&'static str, Vec<u8>)> {
    let mut state: u32 = 0x2545_f491;
    let noise = (0..256)
        .map(|_| {
            // xorshift32: a fixed stream, not a source of randomness.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes().first().copied().unwrap_or(0)
        })
        .collect();
    vec![
        ("zeros", vec![0; 64]),
        ("ramp", (0..=255).collect()),
        ("noise", noise),
    ]
}

/// Every seed of every target.
///
/// # Panics
/// When a provider cannot issue or attenuate the workload (a provider bug).
#[must_use]
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    for (i, p) in providers(Role::Corpus).iter().enumerate() {
        let p = p.as_ref();
        let sel = selector(i);
        let name = p.name();
        let chain = workload_chain(p);
        for depth in DEPTHS {
            let Some(token) = chain.get(depth) else {
                continue;
            };
            let bytes = token.as_bytes();
            let text = p.to_text(token);
            out.push(seed(
                "decode",
                format!("{name}-d{depth}-bin"),
                with(&[sel, 0], bytes),
            ));
            out.push(seed(
                "decode",
                format!("{name}-d{depth}-text"),
                with(&[sel, 1], text.as_bytes()),
            ));
            out.push(seed(
                "decode",
                format!("{name}-d{depth}-format"),
                with(&[sel, 2], bytes),
            ));
            let d = u8::try_from(depth).unwrap_or(0);
            out.push(seed(
                "verify",
                format!("{name}-d{depth}-raw-bin"),
                verify_input([sel, 0, 0, d, 0], bytes, &[]),
            ));
            out.push(seed(
                "verify",
                format!("{name}-d{depth}-raw-text"),
                verify_input([sel, 1, 0, d, 0], text.as_bytes(), &[]),
            ));
        }
        out.extend(format_seeds(p, sel, &chain));
        // A genuine proof of possession for the leaf, for the proof decoder (mode 3).
        let key = HolderSigningKey::from_seed(&[7; 32]);
        if let Some(leaf) = chain.last()
            && let Ok(hash) = p.lineage_hash(leaf)
            && let Ok(proof) =
                Proof::sign(hash, &workload::request(16), [9; 16], workload::NOW, &key)
        {
            out.push(seed(
                "decode",
                format!("{name}-proof"),
                with(&[sel, 3], &proof.to_bytes()),
            ));
        }
        out.extend(verify_seeds(p, sel));
        for (pattern, bytes) in patterns() {
            for target in ["attenuate", "differential"] {
                out.push(seed(
                    target,
                    format!("{name}-{pattern}"),
                    with(&[sel], &bytes),
                ));
            }
        }
    }
    out
}

/// Inputs of the format-specific readers (decode mode 2).
fn format_seeds(p: &dyn Fuzzable, sel: u8, chain: &[Token]) -> Vec<Seed> {
    let mut out = Vec::new();
    let name = p.name();
    let mut add = |what: String, data: &[u8]| {
        out.push(seed(
            "decode",
            format!("{name}-{what}"),
            with(&[sel, 2], data),
        ))
    };
    let Some(step1) = chain.get(1) else {
        return out;
    };
    if let Ok(m) = Macaroon::decode(step1.as_bytes()) {
        if let Ok(json) = m.to_json() {
            add("json".into(), json.as_bytes());
        }
        add("identifier".into(), &m.identifier);
        for (k, c) in m.caveats.iter().enumerate() {
            add(format!("caveat-{k}"), &c.id);
        }
    }
    if name == "paseto-public" {
        let secret = [1u8; 32];
        if let Ok(key) = SigningKey::from_seed(key_id(), &secret) {
            add(
                "paserk-public".into(),
                key.verifying_key().to_paserk().as_bytes(),
            );
            let mut both = secret.to_vec();
            both.extend_from_slice(&key.verifying_key().to_bytes());
            let paserk = format!("k4.secret.{}", Base64UrlUnpadded::encode_string(&both));
            add("paserk-secret".into(), paserk.as_bytes());
        }
    }
    if name == "biscuit"
        && let Ok(key) = RootSigningKey::p256_from_scalar(key_id(), &[1u8; 32])
    {
        add("p256-root-key".into(), &key.public().to_bytes());
    }
    out
}

/// Pool indices worth starting from: the workload at depths 0, 1, 4 and 16,
/// the kinds chain (root, narrowed, delegated), and the third-party token.
const POOL_SEEDS: [u8; 8] = [0, 1, 4, 16, 17, 18, 19, 20];

/// Genuine, tampered and holder-extended inputs of the verify target.
fn verify_seeds(p: &dyn Fuzzable, sel: u8) -> Vec<Seed> {
    let mut out = Vec::new();
    let name = p.name();
    // Context flags: cold, live, discharges, revoke a credential, no index rows.
    let contexts: [(u8, &str); 5] = [
        (0, "cold"),
        (1, "live"),
        (4, "discharges"),
        (8, "revoked"),
        (2, "unindexed"),
    ];
    for which in POOL_SEEDS {
        for (ctx, what) in contexts {
            out.push(seed(
                "verify",
                format!("{name}-pool{which}-{what}"),
                verify_input([sel, 2, ctx, which, 0], &[], &[]),
            ));
        }
        // One bit flipped in the middle; truncated; text tampered; discharge tampered.
        out.push(seed(
            "verify",
            format!("{name}-pool{which}-flip"),
            verify_input([sel, 2, 0, which, 0], &[0, 0x40, 0, 3], &[]),
        ));
        out.push(seed(
            "verify",
            format!("{name}-pool{which}-truncate"),
            verify_input([sel, 2, 0, which, 0], &[2, 0x20, 0, 0], &[]),
        ));
        out.push(seed(
            "verify",
            format!("{name}-pool{which}-text-flip"),
            verify_input([sel, 2 | 4, 0, which, 0], &[1, 0x30, 0, b'A'], &[]),
        ));
        out.push(seed(
            "verify",
            format!("{name}-pool{which}-discharge-flip"),
            verify_input([sel, 2 | 8, 4, which, 0], &[0, 0x10, 0, 1], &[]),
        ));
    }
    for (k, payload) in holder_payloads(name).iter().enumerate() {
        for which in [1u8, 16, 18] {
            out.push(seed(
                "verify",
                format!("{name}-append{k}-pool{which}"),
                verify_input([sel, 3, 0, which, 0], payload.as_bytes(), &[]),
            ));
        }
    }
    out
}

/// What a holder might append, in each offline format's own language.
fn holder_payloads(name: &str) -> Vec<String> {
    let exp = workload::NOT_BEFORE + workload::VALIDITY - 100;
    match name {
        "macaroon" => vec![
            "ct2 step {parent} 1\nct2 exp 1767229000".into(),
            "ct2 step {parent} 2\nct2 keep fs.internal/read_file\nct2 delegate agent:b".into(),
            "ct2 step {parent} 1\nct2 arg fs.internal/read_file mode=\"ro\"".into(),
            "ct2 step {parent} 0".into(),
            format!("ct2 step {{parent}} 1\nct2 exp {exp}\nct2 depth 0"),
        ],
        "biscuit" => vec![
            "parent({parent});\ncheck if time($t), $t < 2026-01-01T00:50:00Z;".into(),
            "parent({parent});\ndelegate(\"agent:b\");".into(),
            "parent({parent});\ncheck if tool(\"fs.internal\", \"read_file\");".into(),
            "parent({parent});\ncheck if chain($n), $n <= 3;".into(),
            "parent({parent});\nright(\"fs.internal\", \"write_file\");\ncheck if true;".into(),
        ],
        _ => Vec::new(),
    }
}
