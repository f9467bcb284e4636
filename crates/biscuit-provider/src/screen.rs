//! The static screen run before any Datalog: the declarations the verifier reads from the blocks, the bounds of [`Limits`] on what holders append, and the work estimate for one request.
//!
//! biscuit-auth applies its run limits only between evaluation steps (see
//! [`crate::limits`]), so every token is screened here first, on the protobuf
//! blocks [`crate::wire::container`] returned: block shapes and operations of
//! attenuation blocks, then a static estimate of the facts scanned and the
//! operations evaluated over the request's ambient facts, charged to
//! [`Limits::max_work`] (attenuation blocks) and [`Limits::max_authority_work`]
//! (the authority and the policy, which covers root tokens).
//!
//! A third-party block (a step signed by a holder key, DESIGN.md §8) is
//! screened as any attenuation block: biscuit-auth evaluates it in the same
//! default scope (the authority, the block itself and the authorizer), so it
//! sees the same facts. Its names are read in its own symbol table, and
//! predicate names are compared across blocks by their text, since the same
//! name has different symbol ids in the token's table and in a third-party
//! block's. The key that signed it is recorded with the block's delegation.

use std::collections::{HashMap, HashSet};

use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::format::schema;
use biscuit_auth::format::schema::term::Content as TermContent;
use captoken_core_types::{DenyReason, HolderKey, LineageHash, Request, Subject, TokenId};
use prost::Message;

use crate::datalog as dl;
use crate::limits::Limits;
use crate::wire::WireError;

/// Facts a rule or query can see, by predicate name (symbol id), besides the ambient ones.
#[derive(Debug, Default, Clone)]
struct View {
    by_name: HashMap<u64, u64>,
    visible: u64,
}

impl View {
    fn add(&mut self, name: u64, n: u64) {
        let slot = self.by_name.entry(name).or_default();
        *slot = slot.saturating_add(n);
        self.visible = self.visible.saturating_add(n);
    }

    fn merge(&mut self, other: &Self) {
        for (name, n) in &other.by_name {
            self.add(*name, *n);
        }
    }

    /// The facts one block declares and its rules may derive: a rule with a
    /// ground head derives one fact at most (facts form a set), any other up
    /// to the fact table's bound. `name` maps the block's symbol ids to the
    /// token-wide ids of [`Names`].
    fn of(block: &schema::Block, limits: &Limits, name: impl Fn(u64) -> u64) -> Self {
        let mut view = Self::default();
        for f in &block.facts {
            view.add(name(f.predicate.name), 1);
        }
        for r in &block.rules {
            let ground = r
                .head
                .terms
                .iter()
                .all(|t| !matches!(t.content, Some(TermContent::Variable(_))));
            view.add(
                name(r.head.name),
                if ground { 1 } else { limits.run().max_facts },
            );
        }
        view
    }
}

/// How many ambient facts can match a body predicate, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ambient {
    /// Not an ambient name.
    No,
    /// `requester`, `holder`, `chain`, `time`, `tool`: one fact each.
    One,
    /// `arg`: one per request argument.
    Args,
    /// `path_arg`: one per request argument that is a safe path.
    Paths,
}

/// One predicate of a body, as the estimate sees it.
#[derive(Debug, Clone, Copy)]
struct Pred {
    /// Its name's symbol id; `None` when the token's table lacks the name (no
    /// declared fact can then match it).
    name: Option<u64>,
    ambient: Ambient,
    /// The first term is a constant: an ambient `arg` or `path_arg` then
    /// matches at most one fact (a request has one value per argument name).
    keyed: bool,
}

/// Which budget a body is charged to, and how often it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A rule of the authority block: once per fixpoint iteration.
    AuthorityRule,
    /// A check query of the authority block, or the authorizer's policy: once.
    AuthorityQuery,
    /// A rule of an attenuation block: once per fixpoint iteration.
    HolderRule,
    /// A check query of an attenuation block: once.
    HolderQuery,
}

/// One body the engine joins.
#[derive(Debug)]
struct Body {
    /// Index into [`Scan::views`].
    view: usize,
    preds: Vec<Pred>,
    /// 1 + the operations of its expressions, evaluated for each candidate.
    weight: u64,
    kind: Kind,
}

/// What the verifier reads from the blocks before evaluation.
#[derive(Debug)]
pub(crate) struct Scan {
    /// The authority's `token_id`.
    pub(crate) token_id: TokenId,
    /// The authority's `issued_at`.
    pub(crate) issued_at: u64,
    /// The root subject, with the binding the authority declares.
    pub(crate) root: Subject,
    /// Each attenuation block's declared `delegate`, with its binding, in
    /// order, and the holder key that signed the block when it is a
    /// third-party block (its external key).
    pub(crate) delegates: Vec<(Subject, Option<HolderKey>)>,
    /// The `parent` hash each attenuation block declares, block 1 first.
    pub(crate) parents: Vec<LineageHash>,
    /// `views[0]` is what the authority and the policy see; `views[i]` what
    /// attenuation block `i` sees.
    views: Vec<View>,
    bodies: Vec<Body>,
    /// Does some rule read a predicate some rule derives? Then the fixpoint
    /// may take up to `run.max_iterations` iterations, else at most two.
    recursive: bool,
}

/// The static work estimate of a token for one request (see [`Limits::max_work`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Work {
    /// Charged to [`Limits::max_authority_work`].
    pub(crate) authority: u64,
    /// Charged to [`Limits::max_work`].
    pub(crate) holder: u64,
}

impl Work {
    /// Is the estimate inside both budgets?
    pub(crate) fn within(self, limits: &Limits) -> bool {
        self.authority <= limits.max_authority_work() && self.holder <= limits.max_work()
    }
}

/// Does any operation fall outside the subset holders may use, or is the
/// expression too long? Counts the operations into `count`.
fn ops_allowed(ops: &[schema::Op], budget: &mut usize, count: &mut u64) -> bool {
    use schema::op::Content as Op;
    use schema::op_binary::Kind as B;
    use schema::op_unary::Kind as U;
    for op in ops {
        let Some(left) = budget.checked_sub(1) else {
            return false;
        };
        *budget = left;
        *count = count.saturating_add(1);
        let ok = match &op.content {
            Some(Op::Value(_)) => true,
            Some(Op::Unary(u)) => u.kind != U::Ffi as i32 && u.ffi_name.is_none(),
            // No regular expressions (compiled on every evaluation), no foreign
            // functions, no string building, no iteration over sets.
            Some(Op::Binary(b)) => {
                b.ffi_name.is_none()
                    && ![B::Regex, B::Ffi, B::Add, B::All, B::Any]
                        .iter()
                        .any(|k| b.kind == *k as i32)
            }
            // Only the parameterless closures of `&&`, `||` and `try_or`.
            Some(Op::Closure(c)) => c.params.is_empty() && ops_allowed(&c.ops, budget, count),
            None => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Every operation of an expression, closures included (the issuer's rules are not screened).
fn op_count(ops: &[schema::Op]) -> u64 {
    ops.iter().fold(0u64, |n, op| {
        let inner = match &op.content {
            Some(schema::op::Content::Closure(c)) => op_count(&c.ops),
            _ => 0,
        };
        n.saturating_add(1).saturating_add(inner)
    })
}

/// The weight (1 + operations) of a holder's rule or query, if it is within the bounds.
fn rule_weight(r: &schema::Rule, limits: &Limits) -> Option<u64> {
    if r.body.len() > limits.max_body_predicates() {
        return None;
    }
    let mut count = 1u64;
    for e in &r.expressions {
        let mut budget = limits.max_expression_ops();
        if !ops_allowed(&e.ops, &mut budget, &mut count) {
            return None;
        }
    }
    Some(count)
}

fn is_scoped(block: &schema::Block) -> bool {
    !block.scope.is_empty()
        || block.rules.iter().any(|r| !r.scope.is_empty())
        || block
            .checks
            .iter()
            .any(|c| c.queries.iter().any(|q| !q.scope.is_empty()))
}

fn bytes_term(t: &schema::Term) -> Option<&[u8]> {
    match &t.content {
        Some(TermContent::Bytes(b)) => Some(b.as_slice()),
        _ => None,
    }
}

/// Reads the declarations the verifier needs and screens the blocks a holder
/// appended against the static bounds of [`Limits`], on the protobuf blocks
/// (biscuit-auth converts them again when it builds the authorizer).
///
/// # Errors
/// [`DenyReason::Malformed`] for a block that does not decode, an authority
/// without `schema_version(2)` ([`WireError::UnsupportedVersion`]'s text), or
/// without one `token_id`, one `issued_at` and one `subject`, a malformed
/// subject binding, or a step with a malformed `delegate` or delegate
/// binding; [`DenyReason::LineageMismatch`] for a step that does not declare
/// exactly one 32-byte `parent`; [`DenyReason::UnknownCaveat`] for an
/// attenuation block outside the bounds.
pub(crate) fn scan(proto: &schema::Biscuit, limits: &Limits) -> Result<Scan, DenyReason> {
    let malformed = |_| DenyReason::Malformed("a block does not decode");
    let signed: Vec<&schema::SignedBlock> = std::iter::once(&proto.authority)
        .chain(&proto.blocks)
        .collect();
    let decoded = signed
        .iter()
        .map(|s| schema::Block::decode(s.block.as_slice()).map_err(malformed))
        .collect::<Result<Vec<_>, _>>()?;
    let names = Names::new(&signed, &decoded)?;
    let ambient_of = |name: &str| match name {
        dl::name::ARG => Ambient::Args,
        dl::name::PATH_ARG => Ambient::Paths,
        n if dl::AMBIENT_SINGLES.contains(&n) => Ambient::One,
        _ => Ambient::No,
    };
    let mut parents = Vec::with_capacity(proto.blocks.len());
    let mut delegates = Vec::new();
    let mut declared = 0usize;
    let mut root = None;
    let mut own_views = Vec::with_capacity(decoded.len());
    let mut scoped = Vec::with_capacity(decoded.len());
    let mut bodies = Vec::new();
    let mut heads = HashSet::new();
    let mut read = Vec::new();
    for (i, block) in decoded.iter().enumerate() {
        // Names in the block's own symbol table, and as token-wide ids.
        let symbols = names.table(i);
        let symbol = |n: u64| symbols.get_symbol(n);
        let id = |n: u64| names.id(symbols, n);
        let string = |t: &schema::Term| match t.content {
            Some(TermContent::String(n)) => symbol(n).map(str::to_owned),
            _ => None,
        };
        let pred = |p: &schema::Predicate| Pred {
            name: Some(id(p.name)),
            ambient: symbol(p.name).map_or(Ambient::No, ambient_of),
            keyed: p
                .terms
                .first()
                .is_some_and(|t| !matches!(t.content, Some(TermContent::Variable(_)))),
        };
        declared = declared.saturating_add(block.facts.len());
        own_views.push(View::of(block, limits, id));
        scoped.push(is_scoped(block));
        heads.extend(block.rules.iter().map(|r| id(r.head.name)));
        read.extend(
            block
                .rules
                .iter()
                .flat_map(|r| r.body.iter().map(|p| id(p.name))),
        );
        let named = |n: &str| {
            block
                .facts
                .iter()
                .filter(move |f| symbol(f.predicate.name) == Some(n))
                .map(|f| f.predicate.terms.as_slice())
                .collect::<Vec<_>>()
        };
        if i == 0 {
            let version = match named(dl::name::SCHEMA_VERSION).as_slice() {
                [[v]] => match v.content {
                    Some(TermContent::Integer(v)) => Some(v),
                    _ => None,
                },
                _ => None,
            };
            if version != Some(dl::SCHEMA_VERSION) {
                return Err(DenyReason::Malformed(
                    WireError::UnsupportedVersion.describe(),
                ));
            }
            let [[id]] = named(dl::name::TOKEN_ID)[..] else {
                return Err(DenyReason::Malformed("authority lacks one token_id"));
            };
            let id = bytes_term(id).and_then(|b| b.try_into().ok());
            let id = TokenId(id.ok_or(DenyReason::Malformed("token_id is not 16 bytes"))?);
            let issued_at = match named(dl::name::ISSUED_AT)[..] {
                [[t]] => match t.content {
                    Some(TermContent::Date(t)) => Some(t),
                    _ => None,
                },
                _ => None,
            };
            let issued_at =
                issued_at.ok_or(DenyReason::Malformed("authority lacks one issued_at date"))?;
            let [[subject]] = named(dl::name::SUBJECT)[..] else {
                return Err(DenyReason::Malformed("authority lacks one subject"));
            };
            let principal =
                string(subject).ok_or(DenyReason::Malformed("subject is not a string"))?;
            let subject = bound(
                principal,
                &named(dl::name::SUBJECT_KEY),
                &named(dl::name::SUBJECT_KEY_SET),
                &string,
            )
            .ok_or(DenyReason::Malformed("malformed subject binding"))?;
            root = Some((id, issued_at, subject));
            // The issuer's rules and checks: not screened, but estimated.
            let rules = block.rules.iter().map(|r| (r, Kind::AuthorityRule));
            let queries =
                (block.checks.iter().flat_map(|c| &c.queries)).map(|q| (q, Kind::AuthorityQuery));
            for (r, kind) in rules.chain(queries) {
                bodies.push(Body {
                    view: 0,
                    preds: r.body.iter().map(pred).collect(),
                    weight: r
                        .expressions
                        .iter()
                        .fold(1u64, |n, e| n.saturating_add(op_count(&e.ops))),
                    kind,
                });
            }
            continue;
        }
        // An attenuation block: appended by a holder, screened.
        let parent = match named(dl::name::PARENT).as_slice() {
            [[h]] => bytes_term(h)
                .and_then(|b| b.try_into().ok())
                .map(LineageHash),
            _ => None,
        };
        parents.push(parent.ok_or(DenyReason::LineageMismatch)?);
        let (key, set) = (
            named(dl::name::DELEGATE_KEY),
            named(dl::name::DELEGATE_KEY_SET),
        );
        match named(dl::name::DELEGATE).as_slice() {
            [] if key.is_empty() && set.is_empty() => {}
            [[d]] => {
                let principal = string(d).ok_or(DenyReason::Malformed("malformed delegate"))?;
                let to = bound(principal, &key, &set, &string)
                    .ok_or(DenyReason::Malformed("malformed delegate"))?;
                let signer = signed
                    .get(i)
                    .and_then(|s| s.external_signature.as_ref())
                    .map(|e| {
                        <[u8; 32]>::try_from(e.public_key.key.as_slice())
                            .map(HolderKey::Ed25519)
                            .map_err(|_| DenyReason::Malformed(WireError::ThirdParty.describe()))
                    })
                    .transpose()?;
                delegates.push((to, signer));
            }
            _ => return Err(DenyReason::Malformed("malformed delegate")),
        }
        if block.facts.len() > limits.max_block_facts()
            || block.rules.len() > limits.max_block_rules()
            || block.checks.len() > limits.max_block_checks()
            || block
                .checks
                .iter()
                .any(|c| c.queries.len() > limits.max_check_queries())
        {
            return Err(DenyReason::UnknownCaveat);
        }
        let rules = block.rules.iter().map(|r| (r, Kind::HolderRule));
        let queries = block
            .checks
            .iter()
            .flat_map(|c| c.queries.iter().map(|q| (q, Kind::HolderQuery)));
        for (r, kind) in rules.chain(queries) {
            bodies.push(Body {
                view: i,
                preds: r.body.iter().map(pred).collect(),
                weight: rule_weight(r, limits).ok_or(DenyReason::UnknownCaveat)?,
                kind,
            });
        }
    }
    if declared > limits.max_token_facts() {
        return Err(DenyReason::UnknownCaveat);
    }
    // The authorizer's one policy, `allow if tool($s, $t), right($s, $t)`,
    // sees what the authority sees.
    bodies.push(Body {
        view: 0,
        preds: vec![
            Pred {
                name: names.merged.get(dl::name::TOOL),
                ambient: Ambient::One,
                keyed: false,
            },
            Pred {
                name: names.merged.get(dl::name::RIGHT),
                ambient: Ambient::No,
                keyed: false,
            },
        ],
        weight: 1,
        kind: Kind::AuthorityQuery,
    });
    let recursive = read.iter().any(|n| heads.contains(n));
    // What each block's rules and checks see: the authority, the block
    // itself, and (with a scope) everything, since `trusting previous` or a
    // public key may reach any block.
    let mut whole = View::default();
    own_views.iter().for_each(|v| whole.merge(v));
    let authority = own_views.first().cloned().unwrap_or_default();
    let views = scoped
        .iter()
        .zip(&own_views)
        .enumerate()
        .map(|(i, (scoped, own))| {
            if *scoped {
                whole.clone()
            } else if i == 0 {
                authority.clone()
            } else {
                let mut v = authority.clone();
                v.merge(own);
                v
            }
        })
        .collect();
    let (token_id, issued_at, root) = root.ok_or(DenyReason::Malformed("no authority block"))?;
    Ok(Scan {
        token_id,
        issued_at,
        root,
        delegates,
        parents,
        views,
        bodies,
        recursive,
    })
}

/// The symbol tables of a token's blocks, as biscuit-auth reads them, and one
/// token-wide numbering of the names they hold.
struct Names {
    /// The token's table: the symbols of the first-party blocks.
    token: SymbolTable,
    /// Each block's own table when it is a third-party block.
    own: Vec<Option<SymbolTable>>,
    /// The token's table extended with every third-party block's symbols:
    /// its ids number every name of the token, the same in every block.
    merged: SymbolTable,
}

impl Names {
    fn new(signed: &[&schema::SignedBlock], decoded: &[schema::Block]) -> Result<Self, DenyReason> {
        let table = |symbols: Vec<String>| {
            SymbolTable::from(symbols).map_err(|_| DenyReason::Malformed("symbol table"))
        };
        let third = |i: usize| {
            signed
                .get(i)
                .is_some_and(|s| s.external_signature.is_some())
        };
        let token = table(
            decoded
                .iter()
                .enumerate()
                .filter(|(i, _)| !third(*i))
                .flat_map(|(_, b)| b.symbols.iter().cloned())
                .collect(),
        )?;
        let own = decoded
            .iter()
            .enumerate()
            .map(|(i, b)| third(i).then(|| table(b.symbols.clone())).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let mut merged = token.clone();
        for symbol in own.iter().flatten().flat_map(SymbolTable::strings) {
            merged.insert(&symbol);
        }
        Ok(Self { token, own, merged })
    }

    /// The table block `i` is written in.
    fn table(&self, i: usize) -> &SymbolTable {
        self.own
            .get(i)
            .and_then(Option::as_ref)
            .unwrap_or(&self.token)
    }

    /// The token-wide id of symbol `i` of `table`; every symbol the table
    /// lacks gets one and the same id (it can only over-estimate).
    fn id(&self, table: &SymbolTable, i: u64) -> u64 {
        table
            .get_symbol(i)
            .and_then(|s| self.merged.get(s))
            .unwrap_or(u64::MAX)
    }
}

/// The subject `principal` bound as its `key` facts (one 32-byte key) or
/// `set` facts (one string repeating the principal) say: at most one of them,
/// once. `None` when malformed.
fn bound(
    principal: String,
    key: &[&[schema::Term]],
    set: &[&[schema::Term]],
    string: &dyn Fn(&schema::Term) -> Option<String>,
) -> Option<Subject> {
    match (key, set) {
        ([], []) => Some(Subject::new(principal)),
        ([[k]], []) => {
            let k: [u8; 32] = bytes_term(k)?.try_into().ok()?;
            Some(Subject::bound_to_key(principal, HolderKey::Ed25519(k)))
        }
        ([], [[p]]) => (string(p)? == principal).then(|| Subject::bound_to_key_set(principal)),
        _ => None,
    }
}

impl Scan {
    /// The effective holder: the last delegate, else the root subject.
    pub(crate) fn holder(&self) -> &Subject {
        self.delegates.last().map_or(&self.root, |(to, _)| to)
    }

    /// Every hand-over of the chain, in order: the delegate and the holder
    /// key that signed its block, if any (for `reference::check_handovers`).
    pub(crate) fn handovers(&self) -> impl Iterator<Item = (&Subject, Option<&HolderKey>)> {
        self.delegates
            .iter()
            .map(|(to, signer)| (to, signer.as_ref()))
    }

    /// The static work estimate (see [`Limits::max_work`] and
    /// [`Limits::max_authority_work`]) for `request`'s ambient facts.
    pub(crate) fn work(&self, request: &Request, limits: &Limits) -> Work {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let (singles, args, paths) = dl::ambient_counts(request);
        let (singles, args, paths) = (wide(singles), wide(args), wide(paths));
        let ambient = singles.saturating_add(args).saturating_add(paths);
        let iterations = limits.run().max_iterations.max(1);
        let plain = iterations.min(2);
        let iterations = if self.recursive { iterations } else { plain };
        let cost = |b: &Body| -> u64 {
            let Some(view) = self.views.get(b.view) else {
                return u64::MAX;
            };
            let visible = view.visible.saturating_add(ambient);
            let matches = |p: &Pred| {
                let own = p
                    .name
                    .and_then(|n| view.by_name.get(&n).copied())
                    .unwrap_or(0);
                let amb = match (p.ambient, p.keyed) {
                    (Ambient::No, _) => 0,
                    (Ambient::One, _) | (Ambient::Args | Ambient::Paths, true) => 1,
                    (Ambient::Args, false) => args,
                    (Ambient::Paths, false) => paths,
                };
                own.saturating_add(amb).max(1)
            };
            // Nested scans: the k-th predicate scans every visible fact once
            // for each combination of matches of the predicates before it;
            // the expressions run once per complete combination.
            let mut prefix = 1u64;
            let mut scans = 0u64;
            for p in &b.preds {
                scans = scans.saturating_add(visible.saturating_mul(prefix));
                prefix = prefix.saturating_mul(matches(p));
            }
            scans.saturating_add(prefix.saturating_mul(b.weight))
        };
        let mut work = Work {
            authority: 0,
            holder: 0,
        };
        for b in &self.bodies {
            let c = cost(b);
            let (authority, holder) = match b.kind {
                Kind::AuthorityRule => (
                    c.saturating_mul(plain),
                    c.saturating_mul(iterations.saturating_sub(plain)),
                ),
                Kind::AuthorityQuery => (c, 0),
                Kind::HolderRule => (0, c.saturating_mul(iterations)),
                Kind::HolderQuery => (0, c),
            };
            work.authority = work.authority.saturating_add(authority);
            work.holder = work.holder.saturating_add(holder);
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token whose authority is captoken's (five facts, no grant) and whose
    /// one attenuation block is `code`, as protobuf.
    fn token_with(code: &str) -> schema::Biscuit {
        use biscuit_auth::{Biscuit, KeyPair, builder::BlockBuilder};
        let root = Biscuit::builder()
            .merge(dl::authority(&bare_cap()).unwrap())
            .build(&KeyPair::new())
            .unwrap();
        let child = root
            .append(BlockBuilder::new().code(code).unwrap())
            .unwrap();
        schema::Biscuit::decode(child.to_vec().unwrap().as_slice()).unwrap()
    }

    fn bare_cap() -> captoken_core_types::Capability {
        use captoken_core_types::{Capability, KeyId};
        Capability::builder(KeyId::new("k").unwrap())
            .subject("a")
            .id(TokenId([1; 16]))
            .valid_from(0)
            .valid_until(10)
            .depth(3)
            .build()
            .unwrap()
    }

    fn request(args: usize) -> Request {
        let mut r = Request::new("a", "s", "t", &captoken_core_types::FixedClock(1));
        for i in 0..args {
            r = r.with_arg(format!("x{i}"), i64::try_from(i).unwrap());
        }
        r
    }

    const PARENT: &str =
        "parent(hex:0000000000000000000000000000000000000000000000000000000000000000);";

    #[test]
    fn work_estimate_follows_the_nested_scans() {
        let limits = Limits::default();
        // Visible: 5 authority facts + 3 own + 5 ambient = 13. The body
        // f($a), f($b) scans 13 facts, then 13 for each of the 2 `f`: 39; the
        // expression (3 operations, weight 4) runs on 2 * 2 bindings: 16.
        let proto = token_with(&format!(
            "{PARENT} f(1); f(2); check if f($a), f($b), $a < 0;"
        ));
        let scanned = scan(&proto, &limits).unwrap();
        assert_eq!(scanned.work(&request(0), &limits).holder, 39 + 16);
        // Each request argument is one more visible fact.
        assert_eq!(scanned.work(&request(2), &limits).holder, 45 + 16);
        // A rule runs on every iteration: twice when no rule reads what a
        // rule derives; a head with variables may derive up to the fact
        // table's bound.
        let proto = token_with(&format!("{PARENT} g($x) <- f($x); f(1);"));
        let scanned = scan(&proto, &limits).unwrap();
        let visible = 5 + 2 + limits.run().max_facts + 5;
        assert_eq!(scanned.work(&request(0), &limits).holder, 2 * (visible + 1));
        // When a rule reads a derived predicate, every rule may run on every
        // iteration up to the limit, the authority's too.
        let proto = token_with(&format!("{PARENT} g($x) <- f($x); h($x) <- g($x); f(1);"));
        let scanned = scan(&proto, &limits).unwrap();
        let visible = 5 + 2 + 2 * limits.run().max_facts + 5;
        // g($x) <- f($x): one scan, one `f`; h($x) <- g($x): one scan, every `g`.
        let per_iteration = (visible + 1) + (visible + limits.run().max_facts);
        assert_eq!(
            scanned.work(&request(0), &limits).holder,
            limits.run().max_iterations * per_iteration
        );
        // A scope makes every block's facts visible (here the same ones).
        let proto = token_with(&format!(
            "{PARENT} f(1); f(2); check if f($a), f($b), $a < 0 trusting previous;"
        ));
        assert_eq!(
            scan(&proto, &limits)
                .unwrap()
                .work(&request(0), &limits)
                .holder,
            39 + 16
        );
        // Outside the operation subset: refused before any estimate.
        for code in [
            r#"check if f($a), $a.matches("x");"#,
            r#"check if f($a), $a + 1 > 2;"#,
            r#"check if f($a), [1].any($x -> $x > 0);"#,
        ] {
            let proto = token_with(&format!("{PARENT} f(1); {code}"));
            assert_eq!(
                scan(&proto, &limits).map(|_| ()),
                Err(DenyReason::UnknownCaveat),
                "{code}"
            );
        }
    }

    #[test]
    fn keyed_ambient_predicates_match_one_fact() {
        let limits = Limits::default();
        // `arg("x1", $v)` matches one ambient fact whatever the request's
        // size; `arg($n, $v)` matches every argument.
        let keyed = token_with(&format!(
            r#"{PARENT} check if arg("x1", $a), arg("x2", $b), $a < $b;"#
        ));
        let free = token_with(&format!(
            "{PARENT} check if arg($n, $a), arg($m, $b), $a < $b;"
        ));
        let (keyed, free) = (
            scan(&keyed, &limits).unwrap(),
            scan(&free, &limits).unwrap(),
        );
        // Visible: 5 + 1 + 5 + 64.
        let v = 75;
        assert_eq!(keyed.work(&request(64), &limits).holder, v + v + 4);
        assert_eq!(
            free.work(&request(64), &limits).holder,
            v + 64 * v + 64 * 64 * 4
        );
    }

    #[test]
    fn root_tokens_are_estimated_over_the_ambient_facts() {
        use biscuit_auth::{Biscuit, KeyPair};
        let limits = Limits::default();
        let root = Biscuit::builder()
            .merge(dl::authority(&bare_cap()).unwrap())
            .build(&KeyPair::new())
            .unwrap();
        let proto = schema::Biscuit::decode(root.to_vec().unwrap().as_slice()).unwrap();
        let scanned = scan(&proto, &limits).unwrap();
        let none = scanned.work(&request(0), &limits);
        let many = scanned.work(&request(64), &limits);
        assert_eq!(none.holder, 0);
        assert_eq!(many.holder, 0);
        // Seven predicates scan every visible fact once: the subject check's
        // two, the three checks on time and depth, and the policy's two.
        assert_eq!(many.authority - none.authority, 7 * 64);
        assert!(none.within(&limits) && many.within(&limits));
        let tight = Limits::builder()
            .max_authority_work(none.authority)
            .build()
            .unwrap();
        assert!(none.within(&tight) && !many.within(&tight));
    }

    #[test]
    fn the_largest_capability_fits_the_authority_budget() {
        use biscuit_auth::{Biscuit, KeyPair};
        use captoken_core_types::bounds::{MAX_ARGS_PER_GRANT, MAX_GRANTS, MAX_REQUEST_ARGS};
        use captoken_core_types::{Constraint, Grant};
        let limits = Limits::default();
        let mut cap = bare_cap();
        for g in 0..MAX_GRANTS {
            let mut grant = Grant::new("s", format!("t{g}"));
            for a in 0..MAX_ARGS_PER_GRANT {
                let c = match a % 3 {
                    0 => Constraint::Range { min: 0, max: 9 },
                    1 => Constraint::Path("/a/".into()),
                    _ => {
                        Constraint::OneOf([1.into(), "x".into(), true.into()].into_iter().collect())
                    }
                };
                grant = grant.with_arg(format!("x{a}"), c);
            }
            cap.grants.insert(grant);
        }
        assert_eq!(cap.check_bounds(), Ok(()));
        let root = Biscuit::builder()
            .merge(dl::authority(&cap).unwrap())
            .build(&KeyPair::new())
            .unwrap();
        let proto = schema::Biscuit::decode(root.to_vec().unwrap().as_slice()).unwrap();
        let scanned = scan(&proto, &limits).unwrap();
        let mut request = request(0);
        for i in 0..MAX_REQUEST_ARGS {
            request = request.with_arg(format!("x{i}"), "/a/b");
        }
        let work = scanned.work(&request, &limits);
        assert!(work.within(&limits), "{work:?}");
    }
}
