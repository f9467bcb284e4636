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
//! and `lineage_hash(prefix k) = LineageHash::compute(FORMAT, bytes)`. The
//! encoding is prefix-free per block, so distinct prefixes give distinct bytes.
//! It leaves out the proof (the next private key or the seal, which changes
//! when a holder seals or appends) and the root key id (a hint no signature
//! covers). Third-party blocks are not supported and make a token malformed.
//! Everything in it is read straight from the protobuf fields, so anyone can
//! recompute every ancestor's hash from a descendant without any key.

use std::collections::HashMap;

use biscuit_auth::builder::{self as b, Convert};
use biscuit_auth::datalog::{self, SymbolTable};
use biscuit_auth::format::schema::term::Content as TermContent;
use biscuit_auth::format::{convert, schema};
use captoken_core_types::{DenyReason, LINEAGE_DOMAIN, LineageHash, TokenId};
use prost::Message;
use sha2::{Digest, Sha256};

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
    if bytes.len() > limits.max_token_len {
        return Err(WireError::TooLong);
    }
    let proto = schema::Biscuit::decode(bytes).map_err(|_| WireError::Container)?;
    if proto.encoded_len() != bytes.len() || proto.encode_to_vec() != bytes {
        return Err(WireError::NonCanonical);
    }
    if proto.blocks.len() >= limits.max_blocks {
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
/// The prefixes share their beginning, so one SHA-256 state runs over the
/// chain and is finalised at each boundary (linear, not quadratic, in the
/// chain length); the construction is `LineageHash::compute`'s, and a test
/// pins the two together.
pub(crate) fn lineage_hashes(proto: &schema::Biscuit) -> Vec<LineageHash> {
    let (bytes, ends) = canonical(proto);
    let tag = FORMAT.tag().as_bytes();
    let mut h = Sha256::new();
    h.update(LINEAGE_DOMAIN);
    h.update([u8::try_from(tag.len()).unwrap_or(u8::MAX)]);
    h.update(tag);
    let mut start = 0;
    ends.iter()
        .map(|end| {
            h.update(bytes.get(start..*end).unwrap_or_default());
            start = *end;
            LineageHash(h.clone().finalize().into())
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
/// each block's schema version against the features it uses).
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
    Ok(Blocks { symbols, blocks })
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

/// The token's symbols as the protobuf blocks index them: Biscuit's default
/// table below 1024, then every block's own symbols in order.
#[derive(Debug)]
struct Symbols {
    table: SymbolTable,
}

impl Symbols {
    fn get_symbol(&self, i: u64) -> Option<&str> {
        self.table.get_symbol(i)
    }

    fn get(&self, s: &str) -> Option<u64> {
        self.table.get(s)
    }
}

/// Facts a rule or query can see, by predicate name, besides the ambient ones.
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
            view.add(r.head.name, if ground { 1 } else { limits.run.max_facts });
        }
        view
    }
}

/// One body the engine joins for an attenuation block.
#[derive(Debug)]
struct Body {
    /// Index into [`Scan::views`].
    view: usize,
    names: Vec<u64>,
    /// 1 + the operations of its expressions, evaluated for each candidate.
    weight: u64,
    /// `run.max_iterations` for a rule (re-applied on every iteration), 1 for a query.
    repeats: u64,
}

/// What the verifier reads from the blocks before evaluation.
#[derive(Debug)]
pub(crate) struct Scan {
    /// The authority's `token_id`.
    pub(crate) token_id: TokenId,
    /// The current holder: the last `delegate` of the chain, else the authority's `subject`.
    pub(crate) holder: String,
    /// The `parent` hash each attenuation block declares, block 1 first.
    pub(crate) parents: Vec<LineageHash>,
    symbols: Symbols,
    views: Vec<View>,
    bodies: Vec<Body>,
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

/// The weight (1 + operations) of a holder's rule or query, if it is within the bounds.
fn rule_weight(r: &schema::Rule, limits: &Limits) -> Option<u64> {
    if r.body.len() > limits.max_body_predicates {
        return None;
    }
    let mut count = 1u64;
    for e in &r.expressions {
        let mut budget = limits.max_expression_ops;
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

/// Reads the declarations the verifier needs and screens the blocks a holder
/// appended against the static bounds of [`Limits`], on the protobuf blocks
/// (biscuit-auth converts them again when it builds the authorizer).
///
/// # Errors
/// [`DenyReason::Malformed`] for a block that does not decode, an authority
/// without one `token_id` and one `subject`, or a step with a malformed
/// `delegate`; [`DenyReason::LineageMismatch`] for a step that does not
/// declare exactly one 32-byte `parent`; [`DenyReason::UnknownCaveat`] for an
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
    let symbols = Symbols {
        table: SymbolTable::from(custom).map_err(|_| DenyReason::Malformed("symbol table"))?,
    };
    let name_of = |f: &schema::Fact| symbols.get_symbol(f.predicate.name);
    let string = |t: &schema::Term| match t.content {
        Some(TermContent::String(i)) => symbols.get_symbol(i).map(str::to_owned),
        _ => None,
    };
    fn bytes(t: &schema::Term) -> Option<&[u8]> {
        match &t.content {
            Some(TermContent::Bytes(b)) => Some(b.as_slice()),
            _ => None,
        }
    }
    let mut parents = Vec::with_capacity(proto.blocks.len());
    let mut declared = 0usize;
    let mut token_id = None;
    let mut holder = None;
    let mut own_views = Vec::with_capacity(decoded.len());
    let mut scoped = Vec::with_capacity(decoded.len());
    let mut bodies = Vec::new();
    for (i, block) in decoded.iter().enumerate() {
        declared = declared.saturating_add(block.facts.len());
        own_views.push(View::of(block, limits));
        let named = |n: &str| {
            block
                .facts
                .iter()
                .filter(move |f| name_of(f) == Some(n))
                .map(|f| f.predicate.terms.as_slice())
                .collect::<Vec<_>>()
        };
        if i == 0 {
            let (ids, subjects) = (named(dl::name::TOKEN_ID), named(dl::name::SUBJECT));
            let ([[id]], [[subject]]) = (ids.as_slice(), subjects.as_slice()) else {
                return Err(DenyReason::Malformed(
                    "authority lacks one token_id and one subject",
                ));
            };
            let id = bytes(id).and_then(|b| b.try_into().ok());
            token_id = Some(TokenId(
                id.ok_or(DenyReason::Malformed("token_id is not 16 bytes"))?,
            ));
            holder = Some(string(subject).ok_or(DenyReason::Malformed("subject is not a string"))?);
            continue;
        }
        // An attenuation block: appended by a holder, screened.
        let parent = match named(dl::name::PARENT).as_slice() {
            [[h]] => bytes(h).and_then(|b| b.try_into().ok()).map(LineageHash),
            _ => None,
        };
        parents.push(parent.ok_or(DenyReason::LineageMismatch)?);
        match named(dl::name::DELEGATE).as_slice() {
            [] => {}
            [[d]] => holder = Some(string(d).ok_or(DenyReason::Malformed("malformed delegate"))?),
            _ => return Err(DenyReason::Malformed("malformed delegate")),
        }
        if block.facts.len() > limits.max_block_facts
            || block.rules.len() > limits.max_block_rules
            || block.checks.len() > limits.max_block_checks
            || block
                .checks
                .iter()
                .any(|c| c.queries.len() > limits.max_check_queries)
        {
            return Err(DenyReason::UnknownCaveat);
        }
        let view = scoped.len();
        scoped.push(is_scoped(block));
        let rules = block.rules.iter().map(|r| (r, limits.run.max_iterations));
        let queries = block
            .checks
            .iter()
            .flat_map(|c| c.queries.iter().map(|q| (q, 1)));
        for (r, repeats) in rules.chain(queries) {
            bodies.push(Body {
                view,
                names: r.body.iter().map(|p| p.name).collect(),
                weight: rule_weight(r, limits).ok_or(DenyReason::UnknownCaveat)?,
                repeats,
            });
        }
    }
    if declared > limits.max_token_facts {
        return Err(DenyReason::UnknownCaveat);
    }
    // What each attenuation block's rules and checks see: the authority, the
    // block itself, and (with a scope) everything, since `trusting previous`
    // or a public key may reach any block before it.
    let mut whole = View::default();
    own_views.iter().for_each(|v| whole.merge(v));
    let authority = own_views.first().cloned().unwrap_or_default();
    let views = scoped
        .iter()
        .zip(own_views.iter().skip(1))
        .map(|(scoped, own)| {
            if *scoped {
                whole.clone()
            } else {
                let mut v = authority.clone();
                v.merge(own);
                v
            }
        })
        .collect();
    Ok(Scan {
        token_id: token_id.ok_or(DenyReason::Malformed("no authority block"))?,
        holder: holder.ok_or(DenyReason::Malformed("no authority block"))?,
        parents,
        symbols,
        views,
        bodies,
    })
}

impl Scan {
    /// The static work estimate of the attenuation blocks (see [`Limits::max_work`])
    /// for a request with `args` arguments.
    pub(crate) fn work(&self, args: usize) -> u64 {
        let args = u64::try_from(args).unwrap_or(u64::MAX);
        let arg_name = self.symbols.get(dl::name::ARG);
        let ambient: Vec<u64> = dl::AMBIENT_NAMES
            .iter()
            .filter_map(|n| self.symbols.get(n))
            .collect();
        let base = u64::try_from(dl::AMBIENT_BASE).unwrap_or(u64::MAX);
        let cost = |b: &Body| -> u64 {
            let Some(view) = self.views.get(b.view) else {
                return u64::MAX;
            };
            let visible = view.visible.saturating_add(base).saturating_add(args);
            let matches = |name: &u64| {
                let own = view.by_name.get(name).copied().unwrap_or(0);
                let amb = if Some(*name) == arg_name {
                    args
                } else {
                    u64::from(ambient.contains(name))
                };
                own.saturating_add(amb).max(1)
            };
            // Nested scans: the k-th predicate scans every visible fact once
            // for each combination of matches of the predicates before it;
            // the expressions run once per complete combination.
            let mut prefix = 1u64;
            let mut scans = 0u64;
            for n in &b.names {
                scans = scans.saturating_add(visible.saturating_mul(prefix));
                prefix = prefix.saturating_mul(matches(n));
            }
            let evaluations = prefix.saturating_mul(b.weight);
            scans.saturating_add(evaluations).saturating_mul(b.repeats)
        };
        self.bodies
            .iter()
            .fold(0u64, |acc, b| acc.saturating_add(cost(b)))
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
            container(&vec![0; limits.max_token_len + 1], &limits),
            Err(WireError::TooLong)
        );
        assert_eq!(container(b"\xff\xff", &limits), Err(WireError::Container));
        // Empty input decodes to an all-default message, which is not what it encodes to.
        assert_eq!(container(b"", &limits), Err(WireError::NonCanonical));
    }

    /// A token whose authority is captoken's (three facts, no grant) and whose
    /// one attenuation block is `code`, as protobuf.
    fn token_with(code: &str) -> schema::Biscuit {
        use biscuit_auth::{Biscuit, KeyPair, builder::BlockBuilder};
        use captoken_core_types::{Capability, KeyId, Subject};
        let cap = Capability {
            id: TokenId([1; 16]),
            issuer: KeyId::new("k").unwrap(),
            subject: Subject::new("a"),
            grants: Default::default(),
            not_before: 0,
            expires_at: 10,
            max_depth: 3,
            parent: None,
        };
        let root = Biscuit::builder()
            .merge(dl::authority(&cap))
            .build(&KeyPair::new())
            .unwrap();
        let child = root
            .append(BlockBuilder::new().code(code).unwrap())
            .unwrap();
        schema::Biscuit::decode(child.to_vec().unwrap().as_slice()).unwrap()
    }

    const PARENT: &str =
        "parent(hex:0000000000000000000000000000000000000000000000000000000000000000);";

    #[test]
    fn work_estimate_follows_the_nested_scans() {
        let limits = Limits::default();
        // Visible: 3 authority facts + 3 own + 5 ambient = 11. The body
        // f($a), f($b) scans 11 facts, then 11 for each of the 2 `f`: 33; the
        // expression (3 operations, weight 4) runs on 2 * 2 bindings: 16.
        let proto = token_with(&format!(
            "{PARENT} f(1); f(2); check if f($a), f($b), $a < 0;"
        ));
        let scanned = scan(&proto, &limits).unwrap();
        assert_eq!(scanned.work(0), 33 + 16);
        // Each request argument is one more visible fact.
        assert_eq!(scanned.work(2), 39 + 16);
        // A rule is re-run on every iteration, and a head with variables may
        // derive up to the fact table's bound.
        let proto = token_with(&format!("{PARENT} g($x) <- f($x); f(1);"));
        let scanned = scan(&proto, &limits).unwrap();
        let visible = 3 + 2 + limits.run.max_facts + 5;
        assert_eq!(scanned.work(0), limits.run.max_iterations * (visible + 1));
        // A scope makes every block's facts visible (here the same ones).
        let proto = token_with(&format!(
            "{PARENT} f(1); f(2); check if f($a), f($b), $a < 0 trusting previous;"
        ));
        assert_eq!(scan(&proto, &limits).unwrap().work(0), 33 + 16);
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
