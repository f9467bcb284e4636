//! The genuine tokens of the verify target: every token the verifier's key ever issued in this process, with what it authorizes.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use captoken_core_types::testing::workload;
use captoken_core_types::{
    Attenuation, Capability, Constraint, Grant, LineageHash, LineageIndex, MemoryLineageIndex,
    Subject, Token, TokenId, ToolRef, Value,
};

use crate::input::T0;
use crate::providers::{Fuzzable, Role, key_id, providers};

/// One genuine token and the chain it ends.
#[derive(Debug)]
pub struct Genuine {
    /// The token, as issued or attenuated by the provider.
    pub token: Token,
    /// The root capability of its chain.
    pub root: Capability,
    /// The attenuation steps from the root to this token.
    pub steps: Vec<Attenuation>,
    /// The lineage hash of every credential of the chain, root first, this token last.
    pub chain: Vec<LineageHash>,
    /// The ancestors' tokens, parent first (what live verification supplies).
    pub ancestors: Vec<Token>,
    /// The discharges this token needs, bound to it.
    pub discharges: Vec<Token>,
}

/// The genuine tokens of one provider, and the lineage index its issuer wrote.
#[derive(Debug)]
pub struct Pool {
    /// Every genuine token.
    pub entries: Vec<Genuine>,
    /// The index rows of every genuine token, for cold verification.
    pub index: MemoryLineageIndex,
}

/// Chain depths of the workload chain in the pool: its every prefix is a genuine token.
pub const WORKLOAD_DEPTH: usize = 16;

/// A root whose grants use every constraint kind, over the generated pools'
/// names, so that generated requests reach it.
#[must_use]
pub fn kinds_capability() -> Capability {
    let mut cap = match Capability::builder(key_id())
        .id(TokenId([0x4b; 16]))
        .subject("agent:a")
        .valid_from(T0)
        .valid_until(T0 + 10)
        .depth(3)
        .build()
    {
        Ok(cap) => cap,
        Err(e) => unreachable!("the kinds capability is valid: {e}"),
    };
    cap.grants = [
        Grant::new("s1", "t1")
            .with_arg("a", Constraint::Prefix("x".into()))
            .with_arg("b", Constraint::Range { min: -2, max: 3 }),
        Grant::new("s1", "t2").with_arg(
            "a",
            Constraint::OneOf([Value::from("x"), Value::Int(1)].into_iter().collect()),
        ),
        Grant::new("s2", "t1")
            .with_arg("a", Constraint::Exact(Value::Bool(true)))
            .with_arg("b", Constraint::Any),
        Grant::new("s2", "t2").with_arg("a", Constraint::Path("/x/".into())),
    ]
    .into_iter()
    .collect::<BTreeSet<_>>();
    cap
}

/// The steps of the kinds chain: keep two tools and narrow, then delegate.
#[must_use]
pub fn kinds_steps() -> Vec<Attenuation> {
    vec![
        Attenuation::new()
            .keep_only([ToolRef::new("s1", "t1"), ToolRef::new("s2", "t1")])
            .constrain(
                ToolRef::new("s1", "t1"),
                "a",
                Constraint::Prefix("xy".into()),
            )
            .expires_at(T0 + 8),
        Attenuation::new()
            .delegate(Subject::new("agent:b"))
            .constrain(
                ToolRef::new("s1", "t1"),
                "b",
                Constraint::Range { min: 0, max: 2 },
            ),
    ]
}

/// Issues `root` and attenuates it by `steps`, adding every token of the chain
/// to `entries`. A step the provider refuses ends the chain.
fn add_chain(
    p: &dyn Fuzzable,
    root: &Capability,
    steps: &[Attenuation],
    issued: Option<(Token, Vec<Token>)>,
    entries: &mut Vec<Genuine>,
) {
    let (first, discharges) = match issued {
        Some(pair) => pair,
        None => match p.issue(root) {
            Ok(t) => (t, Vec::new()),
            Err(e) => panic!("{}: the pool's root does not issue: {e}", p.name()),
        },
    };
    let mut tokens = vec![first];
    for step in steps {
        let Some(parent) = tokens.last() else { break };
        match p.attenuate(parent, step) {
            Ok(child) => tokens.push(child),
            Err(e) => panic!("{}: the pool's chain does not attenuate: {e}", p.name()),
        }
    }
    let mut chain = Vec::new();
    for (depth, token) in tokens.iter().enumerate() {
        let hash = p
            .lineage_hash(token)
            .unwrap_or_else(|e| panic!("{}: no lineage hash for a genuine token: {e}", p.name()));
        chain.push(hash);
        let ancestors = tokens
            .get(..depth)
            .unwrap_or_default()
            .iter()
            .rev()
            .cloned()
            .collect();
        entries.push(Genuine {
            token: token.clone(),
            root: root.clone(),
            steps: steps.get(..depth).unwrap_or_default().to_vec(),
            chain: chain.clone(),
            ancestors,
            // Discharges are bound to the token they were issued with, not its descendants.
            discharges: if depth == 0 {
                discharges.clone()
            } else {
                Vec::new()
            },
        });
    }
}

fn build(p: &dyn Fuzzable) -> Pool {
    let mut entries = Vec::new();
    add_chain(
        p,
        &workload::capability(key_id()),
        &workload::steps(WORKLOAD_DEPTH),
        None,
        &mut entries,
    );
    add_chain(p, &kinds_capability(), &kinds_steps(), None, &mut entries);
    let mut third = kinds_capability();
    third.id = TokenId([0x3d; 16]);
    if let Some(issued) = p.with_discharges(&third) {
        add_chain(p, &third, &[], Some(issued), &mut entries);
    }
    let index = MemoryLineageIndex::new();
    for g in &entries {
        match p.index_entry(&g.token) {
            Ok(Some(row)) => {
                if let Err(e) = index.record(row) {
                    panic!("{}: the pool's index refuses a row: {e}", p.name());
                }
            }
            Ok(None) => {}
            Err(e) => panic!("{}: no index row for a genuine token: {e}", p.name()),
        }
    }
    Pool { entries, index }
}

/// The pool of the provider at `index` in the verifier role, built once per process.
#[must_use]
pub fn pool(index: usize) -> &'static Pool {
    static POOLS: OnceLock<Vec<OnceLock<Pool>>> = OnceLock::new();
    let all = POOLS.get_or_init(|| {
        providers(Role::Verifier)
            .iter()
            .map(|_| OnceLock::new())
            .collect()
    });
    let (Some(cell), Some(p)) = (all.get(index), providers(Role::Verifier).get(index)) else {
        unreachable!("one pool per provider")
    };
    cell.get_or_init(|| build(p.as_ref()))
}
