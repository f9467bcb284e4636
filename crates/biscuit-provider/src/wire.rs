//! Biscuit's protobuf container as captoken reads it: framing bounds, the canonical lineage bytes, and the block scan done before any Datalog runs.
//!
//! # Canonical credential bytes (DESIGN.md §5)
//!
//! A Biscuit token is `root_key_id?, authority, blocks[], proof`, each block a
//! `SignedBlock { block, next_key, signature, external_signature?, version? }`.
//! The credential a prefix of blocks `0..=k` stands for is encoded as the
//! concatenation, for each block `i` in `0..=k`, of
//!
//! ```text
//! u32be(len(block))      || block              serialized Datalog block, as signed
//! i32be(next_key.alg)                          0 = Ed25519, 1 = P-256 (protobuf enum value)
//! u32be(len(next_key))   || next_key.key       the key that signs block i + 1 (or the proof)
//! u32be(len(signature))  || signature          the block's signature = Biscuit revocation id i
//! u32be(version)                               signature version (absent = 0)
//! ```
//!
//! and `lineage_hash(prefix k) = LineageHash::compute(FORMAT, bytes)` with
//! [`FORMAT`] = `biscuit-v3.cap2`. The encoding is prefix-free per block, so
//! distinct prefixes give distinct bytes. It leaves out the proof (the next
//! private key or the seal, which changes when a holder seals or appends) and
//! the root key id (a hint no signature covers). Third-party blocks are not
//! supported and make a token malformed. Everything in it is read straight
//! from the protobuf fields, so anyone can recompute every ancestor's hash
//! from a descendant without any key.
//!
//! # The captoken schema version
//!
//! The Biscuit container has no room for captoken's version: it is the
//! authority's `schema_version(2)` fact, covered by the root signature. A
//! token without it (captoken schema 1, format tag `biscuit-v3`) or with
//! another value is refused as malformed ([`WireError::UnsupportedVersion`])
//! by verification, attenuation and inspection alike.

use std::collections::{HashMap, HashSet};

use biscuit_auth::builder::{self as b, Convert};
use biscuit_auth::datalog::{self, SymbolTable};
use biscuit_auth::format::schema::term::Content as TermContent;
use biscuit_auth::format::{convert, schema};
use captoken_core_types::{
    DenyReason, HolderKey, LineageHash, LineageHasher, Request, Subject, TokenId,
};
use prost::Message;

use crate::datalog::{self as dl, Content};
use crate::limits::Limits;
use crate::provider::FORMAT;

/// Why bytes are not a token this provider reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Longer than [`Limits::max_token_len`].
    #[error("token too long")]
    TooLong,
    /// Not a Biscuit protobuf container.
    #[error("not a Biscuit token")]
    Container,
    /// More blocks than [`Limits::max_blocks`].
    #[error("too many blocks")]
    TooManyBlocks,
    /// A third-party block (external signature), which captoken does not use.
    #[error("third-party blocks are not supported")]
    ThirdParty,
    /// A block does not decode as Biscuit Datalog.
    #[error("a block does not decode")]
    Block,
    /// The protobuf is not in its canonical encoding (overlong varints,
    /// unknown, repeated or reordered fields).
    #[error("non-canonical encoding")]
    NonCanonical,
    /// The authority does not declare `schema_version(2)`: a token of
    /// captoken schema 1 (format `biscuit-v3`), or of none.
    #[error("unsupported captoken schema version")]
    UnsupportedVersion,
}

impl WireError {
    /// A static description, for error types that carry one.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::TooLong => "token too long",
            Self::Container => "not a Biscuit token",
            Self::TooManyBlocks => "too many blocks",
            Self::ThirdParty => "third-party blocks are not supported",
            Self::Block => "a block does not decode",
            Self::NonCanonical => "non-canonical encoding",
            Self::UnsupportedVersion => "unsupported captoken schema version",
        }
    }
}

/// Decodes the container, checking its length, that it is in canonical form,
/// its block count and that no block is third-party.
///
/// Protobuf decoding is lenient: an overlong varint in the unsigned
/// `root_key_id` decodes to the same value, and unknown fields are skipped,
/// so a token with a flipped bit there would still verify. Only the
/// encoding biscuit-auth itself writes (prost's, fields in order, minimal
/// varints) is accepted, so the binary form of a token is unique.
pub(crate) fn container(bytes: &[u8], limits: &Limits) -> Result<schema::Biscuit, WireError> {
    if bytes.len() > limits.max_token_len() {
        return Err(WireError::TooLong);
    }
    let proto = schema::Biscuit::decode(bytes).map_err(|_| WireError::Container)?;
    if proto.encoded_len() != bytes.len() || proto.encode_to_vec() != bytes {
        return Err(WireError::NonCanonical);
    }
    if proto.blocks.len() >= limits.max_blocks() {
        return Err(WireError::TooManyBlocks);
    }
    if proto.proof.content.is_none() {
        return Err(WireError::Container);
    }
    let signed = std::iter::once(&proto.authority).chain(&proto.blocks);
    if signed.clone().any(|s| s.external_signature.is_some()) {
        return Err(WireError::ThirdParty);
    }
    Ok(proto)
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field is shorter than the token, itself bounded well below 4 GiB.
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The canonical bytes of the whole chain, and the end offset of each block's part.
pub(crate) fn canonical(proto: &schema::Biscuit) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut ends = Vec::with_capacity(proto.blocks.len() + 1);
    for s in std::iter::once(&proto.authority).chain(&proto.blocks) {
        put(&mut out, &s.block);
        out.extend_from_slice(&s.next_key.algorithm.to_be_bytes());
        put(&mut out, &s.next_key.key);
        put(&mut out, &s.signature);
        out.extend_from_slice(&s.version.unwrap_or(0).to_be_bytes());
        ends.push(out.len());
    }
    (out, ends)
}

/// The lineage hash of every prefix: element `k` is the hash of blocks `0..=k`,
/// equal to `LineageHash::compute(FORMAT, canonical bytes of 0..=k)`.
///
/// The prefixes share their beginning, so one [`LineageHasher`] runs over the
/// chain and a clone of it is finished at each boundary (linear, not
/// quadratic, in the chain length).
pub(crate) fn lineage_hashes(proto: &schema::Biscuit) -> Vec<LineageHash> {
    let (bytes, ends) = canonical(proto);
    let mut h = LineageHasher::new(FORMAT);
    let mut start = 0;
    ends.iter()
        .map(|end| {
            h.update(bytes.get(start..*end).unwrap_or_default());
            start = *end;
            h.clone().finish()
        })
        .collect()
}

/// One block in Biscuit's Datalog representation; symbols index [`Blocks::symbols`].
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) facts: Vec<datalog::Fact>,
    pub(crate) rules: Vec<datalog::Rule>,
    pub(crate) checks: Vec<datalog::Check>,
}

/// Every block of a token, and the token's symbol table.
#[derive(Debug)]
pub(crate) struct Blocks {
    pub(crate) symbols: SymbolTable,
    pub(crate) blocks: Vec<Block>,
}

/// Decodes every block with biscuit-auth's own conversion (which also checks
/// each block's schema version against the features it uses), and checks
/// that the authority declares captoken's schema version.
pub(crate) fn blocks(proto: &schema::Biscuit) -> Result<Blocks, WireError> {
    let mut symbols = SymbolTable::new();
    let mut blocks = Vec::with_capacity(proto.blocks.len() + 1);
    for s in std::iter::once(&proto.authority).chain(&proto.blocks) {
        let pb = schema::Block::decode(s.block.as_slice()).map_err(|_| WireError::Block)?;
        let block = convert::proto_block_to_token_block(&pb, None).map_err(|_| WireError::Block)?;
        symbols
            .extend(&block.symbols)
            .map_err(|_| WireError::Block)?;
        blocks.push(Block {
            facts: block.facts,
            rules: block.rules,
            checks: block.checks,
        });
    }
    let blocks = Blocks { symbols, blocks };
    let version = blocks.content(0).as_ref().and_then(dl::schema_version);
    if version != Some(dl::SCHEMA_VERSION) {
        return Err(WireError::UnsupportedVersion);
    }
    Ok(blocks)
}

impl Blocks {
    /// Block `i` as builder values.
    pub(crate) fn content(&self, i: usize) -> Option<Content> {
        let block = self.blocks.get(i)?;
        Some(Content {
            facts: block
                .facts
                .iter()
                .map(|f| b::Fact::convert_from(f, &self.symbols))
                .collect::<Result<_, _>>()
                .ok()?,
            rules: block
                .rules
                .iter()
                .map(|r| b::Rule::convert_from(r, &self.symbols))
                .collect::<Result<_, _>>()
                .ok()?,
            checks: block
                .checks
                .iter()
                .map(|c| b::Check::convert_from(c, &self.symbols))
                .collect::<Result<_, _>>()
                .ok()?,
        })
    }

    /// Check `j` of block `i` as a builder value.
    pub(crate) fn check(&self, i: usize, j: usize) -> Option<b::Check> {
        let c = self.blocks.get(i)?.checks.get(j)?;
        b::Check::convert_from(c, &self.symbols).ok()
    }

    /// The smallest depth bound `C` (`check if chain($n), $n <= C`) any block declares.
    pub(crate) fn depth_bound(&self) -> Option<i64> {
        (0..self.blocks.len())
            .flat_map(|i| {
                let n = self.blocks.get(i).map_or(0, |b| b.checks.len());
                (0..n).filter_map(move |j| self.check(i, j))
            })
            .filter_map(|c| dl::depth_bound(&c))
            .min()
    }
}

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
    /// to the fact table's bound.
    fn of(block: &schema::Block, limits: &Limits) -> Self {
        let mut view = Self::default();
        for f in &block.facts {
            view.add(f.predicate.name, 1);
        }
        for r in &block.rules {
            let ground = r
                .head
                .terms
                .iter()
                .all(|t| !matches!(t.content, Some(TermContent::Variable(_))));
            view.add(r.head.name, if ground { 1 } else { limits.run().max_facts });
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
    /// Each attenuation block's declared `delegate`, with its binding, in order.
    pub(crate) delegates: Vec<Subject>,
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
    let decoded = std::iter::once(&proto.authority)
        .chain(&proto.blocks)
        .map(|s| schema::Block::decode(s.block.as_slice()).map_err(malformed))
        .collect::<Result<Vec<_>, _>>()?;
    let custom: Vec<String> = decoded
        .iter()
        .flat_map(|b| b.symbols.iter().cloned())
        .collect();
    let symbols = SymbolTable::from(custom).map_err(|_| DenyReason::Malformed("symbol table"))?;
    let symbol = |i: u64| symbols.get_symbol(i);
    let string = |t: &schema::Term| match t.content {
        Some(TermContent::String(i)) => symbol(i).map(str::to_owned),
        _ => None,
    };
    let ambient_of = |name: &str| match name {
        dl::name::ARG => Ambient::Args,
        dl::name::PATH_ARG => Ambient::Paths,
        n if dl::AMBIENT_SINGLES.contains(&n) => Ambient::One,
        _ => Ambient::No,
    };
    let pred = |p: &schema::Predicate| Pred {
        name: Some(p.name),
        ambient: symbol(p.name).map_or(Ambient::No, ambient_of),
        keyed: p
            .terms
            .first()
            .is_some_and(|t| !matches!(t.content, Some(TermContent::Variable(_)))),
    };
    let mut parents = Vec::with_capacity(proto.blocks.len());
    let mut delegates = Vec::new();
    let mut declared = 0usize;
    let mut root = None;
    let mut own_views = Vec::with_capacity(decoded.len());
    let mut scoped = Vec::with_capacity(decoded.len());
    let mut bodies = Vec::new();
    let mut heads = HashSet::new();
    for (i, block) in decoded.iter().enumerate() {
        declared = declared.saturating_add(block.facts.len());
        own_views.push(View::of(block, limits));
        scoped.push(is_scoped(block));
        heads.extend(block.rules.iter().map(|r| r.head.name));
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
            for r in &block.rules {
                bodies.push(Body {
                    view: 0,
                    preds: r.body.iter().map(pred).collect(),
                    weight: r
                        .expressions
                        .iter()
                        .fold(1u64, |n, e| n.saturating_add(op_count(&e.ops))),
                    kind: Kind::AuthorityRule,
                });
            }
            for q in block.checks.iter().flat_map(|c| &c.queries) {
                bodies.push(Body {
                    view: 0,
                    preds: q.body.iter().map(pred).collect(),
                    weight: q
                        .expressions
                        .iter()
                        .fold(1u64, |n, e| n.saturating_add(op_count(&e.ops))),
                    kind: Kind::AuthorityQuery,
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
                delegates.push(to);
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
                name: symbols.get(dl::name::TOOL),
                ambient: Ambient::One,
                keyed: false,
            },
            Pred {
                name: symbols.get(dl::name::RIGHT),
                ambient: Ambient::No,
                keyed: false,
            },
        ],
        weight: 1,
        kind: Kind::AuthorityQuery,
    });
    let recursive = decoded.iter().any(|block| {
        block
            .rules
            .iter()
            .any(|r| r.body.iter().any(|p| heads.contains(&p.name)))
    });
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
        self.delegates.last().unwrap_or(&self.root)
    }

    /// Every subject of the chain: the root, then each delegate.
    pub(crate) fn subjects(&self) -> impl Iterator<Item = &Subject> {
        std::iter::once(&self.root).chain(&self.delegates)
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

    fn signed(block: &[u8], key: &[u8], sig: &[u8], version: Option<u32>) -> schema::SignedBlock {
        schema::SignedBlock {
            block: block.to_vec(),
            next_key: schema::PublicKey {
                algorithm: 0,
                key: key.to_vec(),
            },
            signature: sig.to_vec(),
            external_signature: None,
            version,
        }
    }

    #[test]
    fn canonical_bytes_are_the_documented_encoding() {
        let proto = schema::Biscuit {
            root_key_id: Some(7),
            authority: signed(b"A", b"KK", b"SSS", None),
            blocks: vec![signed(b"BB", b"L", b"T", Some(1))],
            proof: schema::Proof {
                content: Some(schema::proof::Content::NextSecret(vec![9; 32])),
            },
        };
        let (bytes, ends) = canonical(&proto);
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 0, 0, 1, b'A', 0, 0, 0, 0, 0, 0, 0, 2, b'K', b'K']);
        want.extend_from_slice(&[0, 0, 0, 3, b'S', b'S', b'S', 0, 0, 0, 0]);
        let first = want.len();
        want.extend_from_slice(&[0, 0, 0, 2, b'B', b'B', 0, 0, 0, 0, 0, 0, 0, 1, b'L']);
        want.extend_from_slice(&[0, 0, 0, 1, b'T', 0, 0, 0, 1]);
        assert_eq!(bytes, want);
        assert_eq!(ends, vec![first, want.len()]);
        // Neither the root key id nor the proof is part of it.
        let mut other = proto.clone();
        other.root_key_id = None;
        other.proof.content = Some(schema::proof::Content::FinalSignature(vec![1; 64]));
        assert_eq!(canonical(&other).0, bytes);
        let hashes = lineage_hashes(&proto);
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0], LineageHash::compute(FORMAT, &want[..first]));
        assert_eq!(hashes[1], LineageHash::compute(FORMAT, &want));
        // The incremental hashing equals `LineageHash::compute` on every prefix of a longer chain.
        let mut long = proto.clone();
        for i in 0..20u8 {
            long.blocks
                .push(signed(&[i; 40], &[i; 32], &[i; 64], Some(1)));
        }
        let (bytes, ends) = canonical(&long);
        let incremental = lineage_hashes(&long);
        assert_eq!(incremental.len(), ends.len());
        for (h, end) in incremental.iter().zip(&ends) {
            assert_eq!(*h, LineageHash::compute(FORMAT, &bytes[..*end]));
        }
    }

    #[test]
    fn container_bounds() {
        let limits = Limits::default();
        assert_eq!(
            container(&vec![0; limits.max_token_len() + 1], &limits),
            Err(WireError::TooLong)
        );
        assert_eq!(container(b"\xff\xff", &limits), Err(WireError::Container));
        // Empty input decodes to an all-default message, which is not what it encodes to.
        assert_eq!(container(b"", &limits), Err(WireError::NonCanonical));
    }

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

    #[test]
    fn only_the_canonical_encoding_is_accepted() {
        let limits = Limits::default();
        let proto = schema::Biscuit {
            root_key_id: Some(7),
            authority: signed(b"A", &[1; 32], &[2; 64], None),
            blocks: Vec::new(),
            proof: schema::Proof {
                content: Some(schema::proof::Content::NextSecret(vec![9; 32])),
            },
        };
        let bytes = proto.encode_to_vec();
        assert_eq!(container(&bytes, &limits), Ok(proto));
        // root_key_id = 7 as an overlong varint: prost reads 7 all the same.
        let mut overlong = vec![0x08, 0x87, 0x80, 0x80, 0x80, 0x00];
        overlong.extend_from_slice(&bytes[2..]);
        assert!(schema::Biscuit::decode(overlong.as_slice()).is_ok());
        assert_eq!(container(&overlong, &limits), Err(WireError::NonCanonical));
        // An unknown field appended is skipped by prost and refused here.
        let mut unknown = bytes.clone();
        unknown.extend_from_slice(&[0x78, 0x01]);
        assert!(schema::Biscuit::decode(unknown.as_slice()).is_ok());
        assert_eq!(container(&unknown, &limits), Err(WireError::NonCanonical));
    }
}
