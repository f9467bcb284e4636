//! The Datalog captoken writes into Biscuit blocks (authority, attenuation steps, authorizer), and its exact decoding back into the model.
//!
//! Every block is built with biscuit-auth's builder types, never by formatting
//! source text, so request and capability strings cannot inject Datalog.
//! Decoding is exact: a block is decoded loosely, re-encoded, and accepted only
//! when the re-encoding equals the block, so anything a holder appended by
//! other means is reported as not being a captoken block. The one many-to-one
//! step of encoding is a `Path` directory, written as the set it denotes
//! (`/a` and `/a/` both as `/a/`) and read back in that form.

use std::collections::{BTreeMap, BTreeSet};

use biscuit_auth::builder::{
    Binary, BlockBuilder, Check, CheckKind, Expression, Fact, Op, Policy, PolicyKind, Predicate,
    Rule, Term, Unary,
};
use captoken_core_types::{
    ArgConstraint, Attenuation, Capability, Constraint, Error, Grant, HolderBinding, HolderKey,
    KeyId, LineageHash, Request, Subject, TokenId, ToolRef, Value, path,
};

/// The captoken schema version an authority block declares (`schema_version(2)`).
///
/// Version 1 (format tag `biscuit-v3`) had no such fact; a verifier of this
/// version refuses any authority that does not declare exactly this one.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// Predicate names. Blocks and the authorizer share them; the authorizer's
/// facts are ambient (supplied per request), the others are declared by blocks.
pub(crate) mod name {
    /// Authority: the captoken schema version, [`super::SCHEMA_VERSION`].
    pub(crate) const SCHEMA_VERSION: &str = "schema_version";
    /// Authority: the token id, 16 bytes.
    pub(crate) const TOKEN_ID: &str = "token_id";
    /// Authority: the issuer's captoken key id.
    pub(crate) const ISSUER: &str = "issuer";
    /// Authority: when the issuer signed it (a Datalog date, Unix seconds).
    pub(crate) const ISSUED_AT: &str = "issued_at";
    /// Authority: the root subject (principal).
    pub(crate) const SUBJECT: &str = "subject";
    /// Authority: the root subject's holder key, 32 bytes (optional).
    pub(crate) const SUBJECT_KEY: &str = "subject_key";
    /// Authority: the root subject is bound to its principal's key set; the
    /// term repeats the principal (optional, never with `subject_key`).
    pub(crate) const SUBJECT_KEY_SET: &str = "subject_key_set";
    /// Authority rules: a grant covers the requested (server, tool).
    pub(crate) const RIGHT: &str = "right";
    /// Step: the parent's lineage hash, 32 bytes.
    pub(crate) const PARENT: &str = "parent";
    /// Step: hands the remaining authority to this principal.
    pub(crate) const DELEGATE: &str = "delegate";
    /// Step: the delegate's holder key, 32 bytes (optional).
    pub(crate) const DELEGATE_KEY: &str = "delegate_key";
    /// Step: the delegate is bound to its principal's key set; the term repeats
    /// the delegate's principal (optional, never with `delegate_key`).
    pub(crate) const DELEGATE_KEY_SET: &str = "delegate_key_set";
    /// Ambient: the principal making the request.
    pub(crate) const REQUESTER: &str = "requester";
    /// Ambient: the current holder, the last delegate of the chain or the root subject.
    pub(crate) const HOLDER: &str = "holder";
    /// Ambient: the number of blocks in the token, authority included.
    pub(crate) const CHAIN: &str = "chain";
    /// Ambient: the request time (a Datalog date, Unix seconds).
    pub(crate) const TIME: &str = "time";
    /// Ambient: the requested (server, tool).
    pub(crate) const TOOL: &str = "tool";
    /// Ambient: one request argument (name, value).
    pub(crate) const ARG: &str = "arg";
    /// Ambient: one string request argument (name, value) whose value is a
    /// safe path ([`captoken_core_types::path::is_safe`]), computed in Rust.
    pub(crate) const PATH_ARG: &str = "path_arg";
}

/// What one check enforces, for turning failed checks into a [`captoken_core_types::DenyReason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CheckClass {
    /// `check if chain($n), $n <= C`.
    Depth,
    /// `check if requester($r), holder($r)`.
    Subject,
    /// `check if time($t), $t >= T`.
    NotBefore,
    /// `check if time($t), $t < T`.
    Expires,
    /// `check if tool(..) or ..`: the step keeps only some tools.
    Keep,
    /// An argument constraint, or any check captoken did not write.
    Constraint,
}

fn string(s: &str) -> Term {
    Term::Str(s.to_owned())
}

fn var(s: &str) -> Term {
    Term::Variable(s.to_owned())
}

fn pred(name: &str, terms: Vec<Term>) -> Predicate {
    Predicate::new(name.to_owned(), terms)
}

fn fact(name: &str, terms: Vec<Term>) -> Fact {
    Fact::new(name.to_owned(), terms)
}

fn query(body: Vec<Predicate>, expressions: Vec<Expression>) -> Rule {
    Rule::new(pred("query", Vec::new()), body, expressions, Vec::new())
}

fn check(queries: Vec<Rule>) -> Check {
    Check {
        queries,
        kind: CheckKind::One,
    }
}

fn value_term(v: &Value) -> Term {
    match v {
        Value::Str(s) => string(s),
        Value::Int(i) => Term::Integer(*i),
        Value::Bool(b) => Term::Bool(*b),
    }
}

fn term_value(t: &Term) -> Option<Value> {
    match t {
        Term::Str(s) => Some(Value::Str(s.clone())),
        Term::Integer(i) => Some(Value::Int(*i)),
        Term::Bool(b) => Some(Value::Bool(*b)),
        _ => None,
    }
}

fn closure(ops: Vec<Op>) -> Op {
    Op::Closure(Vec::new(), ops)
}

fn value(t: Term) -> Op {
    Op::Value(t)
}

/// `$v.type() == "<ty>" && <then>`.
fn typed(v: &str, ty: &str, then: Vec<Op>) -> Vec<Op> {
    vec![
        value(var(v)),
        Op::Unary(Unary::TypeOf),
        value(string(ty)),
        Op::Binary(Binary::HeterogeneousEqual),
        closure(then),
        Op::Binary(Binary::LazyAnd),
    ]
}

/// The expression a variable argument must satisfy; `None` for `Any` and `Exact`,
/// which are expressed by the argument's term alone.
fn constraint_expression(v: &str, c: &Constraint) -> Option<Expression> {
    let ops = match c {
        Constraint::Any | Constraint::Exact(_) => return None,
        // On a `path_arg` value, which is always a safe path: for a safe path,
        // starting with `base(dir) + "/"` is being strictly under `dir` by
        // whole segments. A `dir` that is no directory permits nothing: the
        // value must then equal it, which no safe path does.
        Constraint::Path(dir) => {
            if path::is_directory(dir) {
                // $v.starts_with("<base(dir)>/")
                vec![
                    value(var(v)),
                    value(string(&path_literal(dir))),
                    Op::Binary(Binary::Prefix),
                ]
            } else {
                // $v == "<dir>"
                vec![
                    value(var(v)),
                    value(string(dir)),
                    Op::Binary(Binary::HeterogeneousEqual),
                ]
            }
        }
        // $v.type() == "string" && $v.starts_with("<p>")
        Constraint::Prefix(p) => typed(
            v,
            "string",
            vec![value(var(v)), value(string(p)), Op::Binary(Binary::Prefix)],
        ),
        // $v.type() == "integer" && $v >= <min> && $v <= <max>
        Constraint::Range { min, max } => {
            let mut ops = typed(
                v,
                "integer",
                vec![
                    value(var(v)),
                    value(Term::Integer(*min)),
                    Op::Binary(Binary::GreaterOrEqual),
                ],
            );
            ops.push(closure(vec![
                value(var(v)),
                value(Term::Integer(*max)),
                Op::Binary(Binary::LessOrEqual),
            ]));
            ops.push(Op::Binary(Binary::LazyAnd));
            ops
        }
        // {strings}.contains($v) || {integers}.contains($v) || {booleans}.contains($v):
        // Biscuit sets are homogeneous, and `contains` of a value of another
        // type is false, never an error.
        Constraint::OneOf(set) => {
            let mut groups: [BTreeSet<Term>; 3] = Default::default();
            for v in set {
                let slot = match v {
                    Value::Str(_) => 0,
                    Value::Int(_) => 1,
                    Value::Bool(_) => 2,
                };
                if let Some(group) = groups.get_mut(slot) {
                    group.insert(value_term(v));
                }
            }
            let contains = |g: BTreeSet<Term>| {
                vec![
                    value(Term::Set(g)),
                    value(var(v)),
                    Op::Binary(Binary::Contains),
                ]
            };
            let mut nonempty = groups.into_iter().filter(|g| !g.is_empty());
            let mut ops = contains(nonempty.next().unwrap_or_default());
            for g in nonempty {
                ops.push(closure(contains(g)));
                ops.push(Op::Binary(Binary::LazyOr));
            }
            ops
        }
    };
    Some(Expression { ops })
}

/// The string a safe path under directory `dir` starts with: `base(dir) + "/"`.
fn path_literal(dir: &str) -> String {
    format!("{}/", path::base(dir))
}

/// The `arg(name, X)` predicate (`path_arg(name, X)` for a `Path` constraint)
/// and the expression on `X` for one constrained argument.
fn arg_match(name: &str, v: &str, c: &Constraint) -> (Predicate, Option<Expression>) {
    let term = match c {
        Constraint::Exact(val) => value_term(val),
        _ => var(v),
    };
    let predicate = match c {
        Constraint::Path(_) => name::PATH_ARG,
        _ => name::ARG,
    };
    (
        pred(predicate, vec![string(name), term]),
        constraint_expression(v, c),
    )
}

/// `right(S, T) <- tool(S, T), arg(..)..., <constraints>`: one rule per grant.
fn grant_rule(g: &Grant) -> Rule {
    let mut body = vec![pred(name::TOOL, vec![string(&g.server), string(&g.tool)])];
    let mut expressions = Vec::new();
    for (i, (arg, c)) in g.args.iter().enumerate() {
        let (p, e) = arg_match(arg, &format!("v{i}"), c);
        body.push(p);
        expressions.extend(e);
    }
    Rule::new(
        pred(name::RIGHT, vec![string(&g.server), string(&g.tool)]),
        body,
        expressions,
        Vec::new(),
    )
}

/// `check if requester($r), holder($r)`.
fn subject_check() -> Check {
    check(vec![query(
        vec![
            pred(name::REQUESTER, vec![var("r")]),
            pred(name::HOLDER, vec![var("r")]),
        ],
        Vec::new(),
    )])
}

fn time_check(op: Binary, t: u64) -> Check {
    check(vec![query(
        vec![pred(name::TIME, vec![var("t")])],
        vec![Expression {
            ops: vec![value(var("t")), value(Term::Date(t)), Op::Binary(op)],
        }],
    )])
}

/// `check if chain($n), $n <= <bound>`: at most `bound` blocks in the token.
fn depth_check(bound: i64) -> Check {
    check(vec![query(
        vec![pred(name::CHAIN, vec![var("n")])],
        vec![Expression {
            ops: vec![
                value(var("n")),
                value(Term::Integer(bound)),
                Op::Binary(Binary::LessOrEqual),
            ],
        }],
    )])
}

/// `check if tool(S1, T1) or tool(S2, T2) ...`, or `check if false` for no tool.
fn keep_check(keep: &BTreeSet<ToolRef>) -> Check {
    if keep.is_empty() {
        return check(vec![query(
            Vec::new(),
            vec![Expression {
                ops: vec![value(Term::Bool(false))],
            }],
        )]);
    }
    check(
        keep.iter()
            .map(|t| {
                query(
                    vec![pred(name::TOOL, vec![string(&t.server), string(&t.tool)])],
                    Vec::new(),
                )
            })
            .collect(),
    )
}

/// `check if tool($s, $t), $s != S || $t != T or arg(a0, X0), arg(a1, X1).., <constraints>`:
/// the constraints a step adds on one tool, binding requests for that tool only.
fn constraint_check(tool: &ToolRef, constraints: &[&ArgConstraint]) -> Check {
    let other_tool = query(
        vec![pred(name::TOOL, vec![var("s"), var("t")])],
        vec![Expression {
            ops: vec![
                value(var("s")),
                value(string(&tool.server)),
                Op::Binary(Binary::HeterogeneousNotEqual),
                closure(vec![
                    value(var("t")),
                    value(string(&tool.tool)),
                    Op::Binary(Binary::HeterogeneousNotEqual),
                ]),
                Op::Binary(Binary::LazyOr),
            ],
        }],
    );
    let mut body = Vec::with_capacity(constraints.len());
    let mut expressions = Vec::new();
    for (i, ac) in constraints.iter().enumerate() {
        let (p, e) = arg_match(&ac.arg, &format!("v{i}"), &ac.constraint);
        body.push(p);
        expressions.extend(e);
    }
    check(vec![other_tool, query(body, expressions)])
}

/// One check per run of consecutive constraints on the same tool, in order.
fn constraint_checks(constraints: &[ArgConstraint]) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut rest = constraints;
    while let Some(first) = rest.first() {
        let run = rest.iter().take_while(|c| c.tool == first.tool).count();
        let (group, tail) = rest.split_at(run);
        checks.push(constraint_check(
            &first.tool,
            &group.iter().collect::<Vec<_>>(),
        ));
        rest = tail;
    }
    checks
}

/// The facts binding a subject: none for a bearer subject, `<key>(hex:..)` for
/// one Ed25519 holder key, `<set>("<principal>")` for the principal's key set.
///
/// # Errors
/// [`Error::Unsupported`] for a binding this version cannot express.
fn binding_facts(s: &Subject, key: &str, set: &str) -> Result<Vec<Fact>, Error> {
    Ok(match &s.binding {
        None => Vec::new(),
        Some(HolderBinding::Key(HolderKey::Ed25519(k))) => {
            vec![fact(key, vec![Term::Bytes(k.to_vec())])]
        }
        Some(HolderBinding::KeySet) => vec![fact(set, vec![string(&s.principal)])],
        Some(_) => return Err(Error::Unsupported("holder binding of an unknown kind")),
    })
}

fn block(facts: Vec<Fact>, rules: Vec<Rule>, checks: Vec<Check>) -> BlockBuilder {
    BlockBuilder {
        facts,
        rules,
        checks,
        scopes: Vec::new(),
        context: None,
    }
}

/// The authority block of a root capability (its `parent` must be `None`).
///
/// # Errors
/// [`Error::Unsupported`] for a holder binding this version cannot express.
pub(crate) fn authority(cap: &Capability) -> Result<BlockBuilder, Error> {
    let mut facts = vec![
        fact(name::SCHEMA_VERSION, vec![Term::Integer(SCHEMA_VERSION)]),
        fact(name::TOKEN_ID, vec![Term::Bytes(cap.id.0.to_vec())]),
        fact(name::ISSUER, vec![string(cap.issuer.as_str())]),
        fact(name::ISSUED_AT, vec![Term::Date(cap.issued_at)]),
        fact(name::SUBJECT, vec![string(&cap.subject.principal)]),
    ];
    facts.extend(binding_facts(
        &cap.subject,
        name::SUBJECT_KEY,
        name::SUBJECT_KEY_SET,
    )?);
    let checks = vec![
        subject_check(),
        time_check(Binary::GreaterOrEqual, cap.not_before),
        time_check(Binary::LessThan, cap.expires_at),
        depth_check(i64::from(cap.max_depth) + 1),
    ];
    Ok(block(
        facts,
        cap.grants.iter().map(grant_rule).collect(),
        checks,
    ))
}

/// The block of one attenuation step appended at block index `index` (the
/// parent's block count), declaring the parent's lineage hash.
///
/// # Errors
/// [`Error::Unsupported`] for a holder binding this version cannot express.
pub(crate) fn step(
    step: &Attenuation,
    index: usize,
    parent: &LineageHash,
) -> Result<BlockBuilder, Error> {
    let mut facts = vec![fact(name::PARENT, vec![Term::Bytes(parent.0.to_vec())])];
    if let Some(d) = &step.delegate {
        facts.push(fact(name::DELEGATE, vec![string(&d.principal)]));
        facts.extend(binding_facts(
            d,
            name::DELEGATE_KEY,
            name::DELEGATE_KEY_SET,
        )?);
    }
    let mut checks = Vec::new();
    if let Some(d) = step.max_depth {
        // This block is number index + 1; `d` more may follow it.
        let here = i64::try_from(index).unwrap_or(i64::MAX);
        checks.push(depth_check(
            here.saturating_add(1).saturating_add(i64::from(d)),
        ));
    }
    if let Some(t) = step.not_before {
        checks.push(time_check(Binary::GreaterOrEqual, t));
    }
    if let Some(t) = step.expires_at {
        checks.push(time_check(Binary::LessThan, t));
    }
    if let Some(keep) = &step.keep {
        checks.push(keep_check(keep));
    }
    checks.extend(constraint_checks(&step.constraints));
    Ok(block(facts, Vec::new(), checks))
}

/// The ambient facts of a request: who asks, the current holder, the chain
/// length, the time, the tool, every argument, and a `path_arg` for every
/// string argument that is a safe path ([`path::is_safe`], the one shared
/// rule): a `Path` constraint matches only those, so a hostile path has no
/// fact to match.
pub(crate) fn ambient(request: &Request, holder: &str, blocks: usize) -> Vec<Fact> {
    let mut facts = vec![
        fact(name::REQUESTER, vec![string(&request.subject)]),
        fact(name::HOLDER, vec![string(holder)]),
        fact(
            name::CHAIN,
            vec![Term::Integer(i64::try_from(blocks).unwrap_or(i64::MAX))],
        ),
        fact(name::TIME, vec![Term::Date(request.now)]),
        fact(
            name::TOOL,
            vec![string(&request.server), string(&request.tool)],
        ),
    ];
    facts.extend(
        request
            .args
            .iter()
            .map(|(k, v)| fact(name::ARG, vec![string(k), value_term(v)])),
    );
    facts.extend(request.args.iter().filter_map(|(k, v)| match v {
        Value::Str(s) if path::is_safe(s) => Some(fact(name::PATH_ARG, vec![string(k), string(s)])),
        _ => None,
    }));
    facts
}

/// How many ambient facts of each kind [`ambient`] supplies for `request`:
/// (one-of-a-kind facts, `arg` facts, `path_arg` facts).
pub(crate) fn ambient_counts(request: &Request) -> (usize, usize, usize) {
    let paths = request
        .args
        .values()
        .filter(|v| matches!(v, Value::Str(s) if path::is_safe(s)))
        .count();
    (AMBIENT_SINGLES.len(), request.args.len(), paths)
}

/// The names of the ambient facts other than `arg` and `path_arg`, one fact each.
pub(crate) const AMBIENT_SINGLES: [&str; 5] = [
    name::REQUESTER,
    name::HOLDER,
    name::CHAIN,
    name::TIME,
    name::TOOL,
];

/// The authorizer's one policy: `allow if tool($s, $t), right($s, $t)`.
///
/// Default scope: it trusts the authority block and the authorizer only, so a
/// `right` fact declared or derived by an appended block is invisible to it.
pub(crate) fn allow_policy() -> Policy {
    Policy {
        queries: vec![query(
            vec![
                pred(name::TOOL, vec![var("s"), var("t")]),
                pred(name::RIGHT, vec![var("s"), var("t")]),
            ],
            Vec::new(),
        )],
        kind: PolicyKind::Allow,
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// One block as builder values, converted from the token.
#[derive(Debug)]
pub(crate) struct Content {
    pub(crate) facts: Vec<Fact>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) checks: Vec<Check>,
}

fn same_rule(a: &Rule, b: &Rule) -> bool {
    a.head == b.head && a.body == b.body && a.expressions == b.expressions && a.scopes == b.scopes
}

fn same_check(a: &Check, b: &Check) -> bool {
    a.kind == b.kind
        && a.queries.len() == b.queries.len()
        && a.queries
            .iter()
            .zip(&b.queries)
            .all(|(x, y)| same_rule(x, y))
}

/// Does `content` equal what `expected` builds, item by item and in order?
fn same_block(content: &Content, expected: &BlockBuilder) -> bool {
    expected.scopes.is_empty()
        && content.facts.len() == expected.facts.len()
        && content
            .facts
            .iter()
            .zip(&expected.facts)
            .all(|(a, b)| a.predicate == b.predicate)
        && content.rules.len() == expected.rules.len()
        && content
            .rules
            .iter()
            .zip(&expected.rules)
            .all(|(a, b)| same_rule(a, b))
        && content.checks.len() == expected.checks.len()
        && content
            .checks
            .iter()
            .zip(&expected.checks)
            .all(|(a, b)| same_check(a, b))
}

fn facts_named<'a>(facts: &'a [Fact], n: &'a str) -> impl Iterator<Item = &'a [Term]> + 'a {
    facts
        .iter()
        .filter(move |f| f.predicate.name == n)
        .map(|f| f.predicate.terms.as_slice())
}

fn one_string(facts: &[Fact], n: &str) -> Option<String> {
    match facts_named(facts, n).next()? {
        [Term::Str(s)] => Some(s.clone()),
        _ => None,
    }
}

fn one_bytes<const N: usize>(facts: &[Fact], n: &str) -> Option<[u8; N]> {
    match facts_named(facts, n).next()? {
        [Term::Bytes(b)] => b.as_slice().try_into().ok(),
        _ => None,
    }
}

fn one_integer(facts: &[Fact], n: &str) -> Option<i64> {
    match facts_named(facts, n).next()? {
        [Term::Integer(i)] => Some(*i),
        _ => None,
    }
}

fn one_date(facts: &[Fact], n: &str) -> Option<u64> {
    match facts_named(facts, n).next()? {
        [Term::Date(t)] => Some(*t),
        _ => None,
    }
}

/// The subject `principal` with the binding its `key`/`set` facts declare.
/// Loose: the caller re-encodes and compares, which refuses duplicates, both
/// kinds at once, or a key set naming another principal.
fn subject_with_binding(facts: &[Fact], principal: String, key: &str, set: &str) -> Subject {
    if let Some(k) = one_bytes::<32>(facts, key) {
        Subject::bound_to_key(principal, HolderKey::Ed25519(k))
    } else if facts_named(facts, set).next().is_some() {
        Subject::bound_to_key_set(principal)
    } else {
        Subject::new(principal)
    }
}

/// The single expression's ops, or nothing.
fn only_expression(q: &Rule) -> Option<&[Op]> {
    match q.expressions.as_slice() {
        [e] => Some(&e.ops),
        _ => None,
    }
}

/// The constant compared in `check if <name>($x), $x <op> <constant>`.
fn compared_constant<'a>(c: &'a Check, n: &str) -> Option<(&'a Term, &'a Binary)> {
    let [q] = c.queries.as_slice() else {
        return None;
    };
    let [p] = q.body.as_slice() else {
        return None;
    };
    if p.name != n {
        return None;
    }
    match only_expression(q)? {
        [Op::Value(Term::Variable(_)), Op::Value(k), Op::Binary(op)] => Some((k, op)),
        _ => None,
    }
}

/// The bound `C` of a depth check `check if chain($n), $n <= C`, in any block.
pub(crate) fn depth_bound(c: &Check) -> Option<i64> {
    match compared_constant(c, name::CHAIN)? {
        (Term::Integer(bound), Binary::LessOrEqual) if c.kind == CheckKind::One => Some(*bound),
        _ => None,
    }
}

fn time_bound(c: &Check, wanted: &Binary) -> Option<u64> {
    match compared_constant(c, name::TIME)? {
        (Term::Date(t), op) if op == wanted => Some(*t),
        _ => None,
    }
}

/// What a check enforces, judged by its first predicate (its shape for time checks).
pub(crate) fn classify(c: &Check) -> CheckClass {
    if depth_bound(c).is_some() {
        return CheckClass::Depth;
    }
    if time_bound(c, &Binary::GreaterOrEqual).is_some() {
        return CheckClass::NotBefore;
    }
    if time_bound(c, &Binary::LessThan).is_some() {
        return CheckClass::Expires;
    }
    let first = c
        .queries
        .first()
        .and_then(|q| q.body.first())
        .map(|p| p.name.as_str());
    let mentions_arg = c.queries.iter().any(|q| {
        q.body
            .iter()
            .any(|p| p.name == name::ARG || p.name == name::PATH_ARG)
    });
    match first {
        Some(name::REQUESTER) => CheckClass::Subject,
        Some(name::TOOL) if !mentions_arg => CheckClass::Keep,
        None if c.queries.len() == 1 => CheckClass::Keep,
        _ => CheckClass::Constraint,
    }
}

/// The variable an expression constrains, when it names exactly one.
fn expression_var(ops: &[Op]) -> Option<&str> {
    let mut found: Option<&str> = None;
    let mut stack: Vec<&[Op]> = vec![ops];
    while let Some(ops) = stack.pop() {
        for op in ops {
            match op {
                Op::Value(Term::Variable(v)) => match found {
                    Some(f) if f != v => return None,
                    _ => found = Some(v),
                },
                Op::Closure(_, inner) => stack.push(inner),
                _ => {}
            }
        }
    }
    found
}

/// Decodes the constraint of one `arg(name, X)` or `path_arg(name, $v)` given
/// the expressions of its query. Loose: the caller re-encodes and compares.
fn decode_arg(p: &Predicate, expressions: &[Expression]) -> Option<(String, Constraint)> {
    let [Term::Str(arg), x] = p.terms.as_slice() else {
        return None;
    };
    if p.name == name::PATH_ARG {
        let Term::Variable(v) = x else {
            return None;
        };
        let mine: Vec<&Expression> = expressions
            .iter()
            .filter(|e| expression_var(&e.ops) == Some(v.as_str()))
            .collect();
        let [e] = mine.as_slice() else {
            return None;
        };
        // A valid directory decodes to `base(dir) + "/"`, the form it is
        // written in: `/a` and `/a/` (the same set) have one encoding.
        return match e.ops.as_slice() {
            [
                _,
                Op::Value(Term::Str(d)),
                Op::Binary(Binary::Prefix | Binary::HeterogeneousEqual),
            ] => Some((arg.clone(), Constraint::Path(d.clone()))),
            _ => None,
        };
    }
    if p.name != name::ARG {
        return None;
    }
    let c = match x {
        Term::Variable(v) => {
            let mine: Vec<&Expression> = expressions
                .iter()
                .filter(|e| expression_var(&e.ops) == Some(v.as_str()))
                .collect();
            match mine.as_slice() {
                [] => Constraint::Any,
                [e] => decode_expression(&e.ops)?,
                _ => return None,
            }
        }
        other => Constraint::Exact(term_value(other)?),
    };
    Some((arg.clone(), c))
}

fn decode_expression(ops: &[Op]) -> Option<Constraint> {
    match ops {
        [
            _,
            Op::Unary(Unary::TypeOf),
            Op::Value(Term::Str(ty)),
            _,
            Op::Closure(_, first),
            rest @ ..,
        ] => match (ty.as_str(), first.as_slice(), rest) {
            ("string", [_, Op::Value(Term::Str(p)), _], _) => Some(Constraint::Prefix(p.clone())),
            ("integer", [_, Op::Value(Term::Integer(min)), _], [_, Op::Closure(_, second), _]) => {
                match second.as_slice() {
                    [_, Op::Value(Term::Integer(max)), _] => Some(Constraint::Range {
                        min: *min,
                        max: *max,
                    }),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => {
            let mut set = BTreeSet::new();
            let mut stack: Vec<&[Op]> = vec![ops];
            while let Some(ops) = stack.pop() {
                for op in ops {
                    match op {
                        Op::Value(Term::Set(s)) => {
                            for t in s {
                                set.insert(term_value(t)?);
                            }
                        }
                        Op::Closure(_, inner) => stack.push(inner),
                        _ => {}
                    }
                }
            }
            Some(Constraint::OneOf(set))
        }
    }
}

fn decode_grant(r: &Rule) -> Option<Grant> {
    let [Term::Str(server), Term::Str(tool)] = r.head.terms.as_slice() else {
        return None;
    };
    let mut args = BTreeMap::new();
    for p in r.body.get(1..)? {
        let (arg, c) = decode_arg(p, &r.expressions)?;
        args.insert(arg, c);
    }
    Some(Grant {
        server: server.clone(),
        tool: tool.clone(),
        args,
    })
}

/// The schema version an authority block declares, if it declares one integer.
pub(crate) fn schema_version(content: &Content) -> Option<i64> {
    one_integer(&content.facts, name::SCHEMA_VERSION)
}

/// Decodes an authority block written by [`authority`], exactly.
pub(crate) fn decode_authority(content: &Content) -> Option<Capability> {
    let facts = &content.facts;
    if schema_version(content)? != SCHEMA_VERSION {
        return None;
    }
    let principal = one_string(facts, name::SUBJECT)?;
    let subject = subject_with_binding(facts, principal, name::SUBJECT_KEY, name::SUBJECT_KEY_SET);
    let [_, nbf, exp, depth] = content.checks.as_slice() else {
        return None;
    };
    let max_depth = u32::try_from(depth_bound(depth)?.checked_sub(1)?).ok()?;
    let issuer = KeyId::new(one_string(facts, name::ISSUER)?).ok()?;
    // Built with a placeholder window, then given the signed one: a token
    // whose window is empty still decodes (and is denied as expired).
    let mut cap = Capability::builder(issuer)
        .subject(subject)
        .id(TokenId(one_bytes::<16>(facts, name::TOKEN_ID)?))
        .issued_at(one_date(facts, name::ISSUED_AT)?)
        .valid_from(0)
        .valid_until(1)
        .depth(max_depth)
        .build()
        .ok()?;
    cap.grants = content
        .rules
        .iter()
        .map(decode_grant)
        .collect::<Option<BTreeSet<_>>>()?;
    cap.not_before = time_bound(nbf, &Binary::GreaterOrEqual)?;
    cap.expires_at = time_bound(exp, &Binary::LessThan)?;
    // Two grants that encode to the same rule would decode to one.
    let again = authority(&cap).ok()?;
    (content.rules.len() == cap.grants.len() && same_block(content, &again)).then_some(cap)
}

fn decode_keep(c: &Check) -> Option<BTreeSet<ToolRef>> {
    let mut keep = BTreeSet::new();
    for q in &c.queries {
        match q.body.as_slice() {
            [] => {}
            [p] if p.name == name::TOOL => match p.terms.as_slice() {
                [Term::Str(s), Term::Str(t)] => {
                    keep.insert(ToolRef::new(s.clone(), t.clone()));
                }
                _ => return None,
            },
            _ => return None,
        }
    }
    Some(keep)
}

fn decode_constraints(c: &Check) -> Option<Vec<ArgConstraint>> {
    let [other, args] = c.queries.as_slice() else {
        return None;
    };
    let [
        Op::Value(_),
        Op::Value(Term::Str(server)),
        _,
        Op::Closure(_, inner),
        _,
    ] = only_expression(other)?
    else {
        return None;
    };
    let [_, Op::Value(Term::Str(tool)), _] = inner.as_slice() else {
        return None;
    };
    let tool = ToolRef::new(server.clone(), tool.clone());
    args.body
        .iter()
        .map(|p| {
            let (arg, constraint) = decode_arg(p, &args.expressions)?;
            Some(ArgConstraint {
                tool: tool.clone(),
                arg,
                constraint,
            })
        })
        .collect()
}

/// Decodes a step block written by [`step`] at block index `index`, exactly:
/// the step and the parent lineage hash it declares.
pub(crate) fn decode_step(content: &Content, index: usize) -> Option<(Attenuation, LineageHash)> {
    let facts = &content.facts;
    let parent = LineageHash(one_bytes::<32>(facts, name::PARENT)?);
    let delegate = one_string(facts, name::DELEGATE).map(|principal| {
        subject_with_binding(facts, principal, name::DELEGATE_KEY, name::DELEGATE_KEY_SET)
    });
    let mut att = Attenuation {
        delegate,
        ..Attenuation::default()
    };
    let here = i64::try_from(index).ok()?.checked_add(1)?;
    for c in &content.checks {
        match classify(c) {
            CheckClass::Depth => {
                att.max_depth = Some(u32::try_from(depth_bound(c)?.checked_sub(here)?).ok()?);
            }
            CheckClass::NotBefore => att.not_before = time_bound(c, &Binary::GreaterOrEqual),
            CheckClass::Expires => att.expires_at = time_bound(c, &Binary::LessThan),
            CheckClass::Keep => att.keep = Some(decode_keep(c)?),
            CheckClass::Constraint => att.constraints.extend(decode_constraints(c)?),
            CheckClass::Subject => return None,
        }
    }
    let again = step(&att, index, &parent).ok()?;
    same_block(content, &again).then_some((att, parent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use biscuit_auth::builder::Convert;
    use biscuit_auth::datalog::SymbolTable;

    /// Converts builder values to Datalog and back, as a token round trip does.
    fn round_trip(b: &BlockBuilder) -> Content {
        let mut symbols = SymbolTable::new();
        Content {
            facts: b
                .facts
                .iter()
                .map(|f| Fact::convert_from(&f.convert(&mut symbols), &symbols).unwrap())
                .collect(),
            rules: b
                .rules
                .iter()
                .map(|r| Rule::convert_from(&r.convert(&mut symbols), &symbols).unwrap())
                .collect(),
            checks: b
                .checks
                .iter()
                .map(|c| Check::convert_from(&c.convert(&mut symbols), &symbols).unwrap())
                .collect(),
        }
    }

    fn tool() -> ToolRef {
        ToolRef::new("fs", "read")
    }

    fn every_constraint() -> Vec<Constraint> {
        vec![
            Constraint::Any,
            Constraint::Exact(Value::Str("ro".into())),
            Constraint::Exact(Value::Int(-3)),
            Constraint::Exact(Value::Bool(true)),
            Constraint::Prefix("/srv/".into()),
            Constraint::Prefix(String::new()),
            Constraint::Path("/srv/data/".into()),
            Constraint::Path("/".into()),
            // Not directories: they permit nothing, and keep their spelling.
            Constraint::Path(String::new()),
            Constraint::Path("srv/".into()),
            Constraint::Path("/srv/../".into()),
            Constraint::Range { min: 0, max: 10 },
            Constraint::Range { min: 5, max: 1 },
            Constraint::OneOf(BTreeSet::new()),
            Constraint::OneOf(["a".into(), "b".into()].into_iter().collect()),
            Constraint::OneOf(
                [Value::Str("a".into()), Value::Int(2), Value::Bool(false)]
                    .into_iter()
                    .collect(),
            ),
            Constraint::OneOf([Value::Int(1), Value::Bool(true)].into_iter().collect()),
        ]
    }

    fn cap(subject: Subject, grants: impl IntoIterator<Item = Grant>) -> Capability {
        let mut cap = Capability::builder(KeyId::new("k1").unwrap())
            .subject(subject)
            .id(TokenId([9; 16]))
            .issued_at(7)
            .valid_from(0)
            .valid_until(u64::MAX)
            .depth(u32::MAX)
            .build()
            .unwrap();
        cap.grants = grants.into_iter().collect();
        cap
    }

    #[test]
    fn authority_round_trips_every_constraint_kind_and_binding() {
        let mut grant = Grant::new("fs", "read");
        for (i, c) in every_constraint().into_iter().enumerate() {
            grant = grant.with_arg(format!("a{i:02}"), c);
        }
        for subject in [
            Subject::new("agent:a"),
            Subject::bound_to_key("agent:a", HolderKey::Ed25519([4; 32])),
            Subject::bound_to_key_set("agent:a"),
        ] {
            let cap = cap(
                subject,
                [
                    grant.clone(),
                    Grant::new("fs", "list"),
                    Grant::new("net", "ping"),
                ],
            );
            let content = round_trip(&authority(&cap).unwrap());
            assert_eq!(decode_authority(&content), Some(cap));
        }
        // An empty signed window still decodes, as signed.
        let mut empty = cap(Subject::new("agent:a"), []);
        (empty.not_before, empty.expires_at) = (10, 10);
        let content = round_trip(&authority(&empty).unwrap());
        assert_eq!(decode_authority(&content), Some(empty));
    }

    #[test]
    fn path_directories_are_written_as_base_and_slash() {
        // `/srv/data` and `/srv/data/` are one set and one encoding, decoded
        // in the slash form.
        let with = |dir: &str| {
            cap(
                Subject::new("a"),
                [Grant::new("fs", "read").with_arg("p", Constraint::Path(dir.into()))],
            )
        };
        let slash = round_trip(&authority(&with("/srv/data/")).unwrap());
        let bare = round_trip(&authority(&with("/srv/data")).unwrap());
        assert_eq!(slash.rules, bare.rules);
        assert_eq!(decode_authority(&bare), Some(with("/srv/data/")));
        let rule = &slash.rules[0];
        assert_eq!(
            rule.body[1],
            pred(name::PATH_ARG, vec![string("p"), var("v0")])
        );
        assert_eq!(
            rule.expressions[0].ops,
            vec![
                value(var("v0")),
                value(string("/srv/data/")),
                Op::Binary(Binary::Prefix)
            ]
        );
        // The root directory matches every safe path.
        let root = round_trip(&authority(&with("/")).unwrap());
        assert_eq!(root.rules[0].expressions[0].ops[1], value(string("/")),);
        // `""` is no directory, though its base is the root's: it must not
        // become `starts_with("/")`.
        let nothing = round_trip(&authority(&with("")).unwrap());
        assert_eq!(
            nothing.rules[0].expressions[0].ops,
            vec![
                value(var("v0")),
                value(string("")),
                Op::Binary(Binary::HeterogeneousEqual)
            ]
        );
        // A non-canonical spelling written by hand is not captoken's.
        let mut hand = slash;
        hand.rules[0].expressions[0].ops[1] = value(string("/srv/data"));
        assert_eq!(decode_authority(&hand), None);
    }

    #[test]
    fn authority_declares_the_schema_version_and_nothing_else_decodes() {
        let bare = cap(Subject::new("agent:a"), []);
        let mut content = round_trip(&authority(&bare).unwrap());
        assert_eq!(schema_version(&content), Some(SCHEMA_VERSION));
        assert_eq!(
            content.facts[0].predicate,
            pred(name::SCHEMA_VERSION, vec![Term::Integer(2)])
        );
        // Version 1 had no version fact; any other version is not this one.
        content.facts.remove(0);
        assert_eq!(schema_version(&content), None);
        assert_eq!(decode_authority(&content), None);
        content
            .facts
            .insert(0, fact(name::SCHEMA_VERSION, vec![Term::Integer(3)]));
        assert_eq!(decode_authority(&content), None);
        // Two bindings at once, or a key set naming another principal, are not captoken's.
        let mut both = round_trip(
            &authority(&cap(
                Subject::bound_to_key("agent:a", HolderKey::Ed25519([1; 32])),
                [],
            ))
            .unwrap(),
        );
        both.facts
            .push(fact(name::SUBJECT_KEY_SET, vec![string("agent:a")]));
        assert_eq!(decode_authority(&both), None);
        let mut other =
            round_trip(&authority(&cap(Subject::bound_to_key_set("agent:a"), [])).unwrap());
        other.facts.pop();
        other
            .facts
            .push(fact(name::SUBJECT_KEY_SET, vec![string("agent:b")]));
        assert_eq!(decode_authority(&other), None);
    }

    #[test]
    fn step_round_trips() {
        let parent = LineageHash([7; 32]);
        for delegate in [
            Subject::new("agent:b"),
            Subject::bound_to_key("agent:b", HolderKey::Ed25519([1; 32])),
            Subject::bound_to_key_set("agent:b"),
        ] {
            let mut st = Attenuation::new()
                .keep_only([tool(), ToolRef::new("fs", "list")])
                .not_before(10)
                .expires_at(20)
                .max_depth(0)
                .delegate(delegate);
            for c in every_constraint() {
                st = st.constrain(tool(), "x", c);
            }
            // Runs of constraints on one tool become one check each, in order.
            st = st
                .constrain(ToolRef::new("fs", "list"), "y", Constraint::Any)
                .constrain(tool(), "z", Constraint::Range { min: 1, max: 2 })
                .constrain(tool(), "p", Constraint::Path("/a/b/".into()));
            for index in [1, 5, 63] {
                let content = round_trip(&step(&st, index, &parent).unwrap());
                assert_eq!(decode_step(&content, index), Some((st.clone(), parent)));
            }
        }
        let empty = Attenuation::new().keep_only([]);
        assert_eq!(
            decode_step(&round_trip(&step(&empty, 1, &parent).unwrap()), 1),
            Some((empty, parent))
        );
        let bare = Attenuation::new();
        assert_eq!(
            decode_step(&round_trip(&step(&bare, 2, &parent).unwrap()), 2),
            Some((bare, parent))
        );
        // A step whose only constraint is a path is a constraint, not a keep.
        let only_path = Attenuation::new().constrain(tool(), "p", Constraint::Path("/a/".into()));
        let content = round_trip(&step(&only_path, 1, &parent).unwrap());
        assert_eq!(classify(&content.checks[0]), CheckClass::Constraint);
        assert_eq!(decode_step(&content, 1), Some((only_path, parent)));
    }

    #[test]
    fn decoding_refuses_foreign_content() {
        let parent = LineageHash([7; 32]);
        let st = Attenuation::new().expires_at(9);
        let mut content = round_trip(&step(&st, 1, &parent).unwrap());
        // A depth bound is absolute (a block count): read at another index it
        // means another remaining depth, and none past the bound.
        let deep = round_trip(&step(&Attenuation::new().max_depth(2), 3, &parent).unwrap());
        assert_eq!(
            decode_step(&deep, 3).map(|(s, _)| s.max_depth),
            Some(Some(2))
        );
        assert_eq!(
            decode_step(&deep, 4).map(|(s, _)| s.max_depth),
            Some(Some(1))
        );
        assert!(decode_step(&deep, 6).is_none());
        // An extra fact, rule or check makes it foreign.
        content
            .facts
            .push(fact("right", vec![string("fs"), string("write")]));
        assert!(decode_step(&content, 1).is_none());
        let mut content = round_trip(&step(&st, 1, &parent).unwrap());
        content
            .checks
            .push(check(vec![query(Vec::new(), Vec::new())]));
        assert!(decode_step(&content, 1).is_none());
        // A subject check belongs to the authority only.
        let mut content = round_trip(&step(&st, 1, &parent).unwrap());
        content.checks.push(subject_check());
        assert!(decode_step(&content, 1).is_none());
        // A delegate binding without a delegate is not captoken's.
        let mut content = round_trip(&step(&st, 1, &parent).unwrap());
        content
            .facts
            .push(fact(name::DELEGATE_KEY, vec![Term::Bytes(vec![1; 32])]));
        assert!(decode_step(&content, 1).is_none());
    }

    #[test]
    fn ambient_path_facts_only_for_safe_string_paths() {
        let req = Request::new("a", "fs", "read", &captoken_core_types::FixedClock(5))
            .with_arg("ok", "/srv/data/x")
            .with_arg("dots", "/srv/data/../x")
            .with_arg("enc", "/srv/data/%2e%2e/x")
            .with_arg("rel", "srv/x")
            .with_arg("n", 3);
        let facts = ambient(&req, "a", 1);
        let paths: Vec<_> = facts
            .iter()
            .filter(|f| f.predicate.name == name::PATH_ARG)
            .collect();
        assert_eq!(paths.len(), 1);
        assert_eq!(
            paths[0].predicate.terms,
            vec![string("ok"), string("/srv/data/x")]
        );
        assert_eq!(ambient_counts(&req), (5, 5, 1));
        assert_eq!(facts.len(), 5 + 5 + 1);
    }

    #[test]
    fn classification() {
        assert_eq!(classify(&depth_check(3)), CheckClass::Depth);
        assert_eq!(classify(&subject_check()), CheckClass::Subject);
        assert_eq!(
            classify(&time_check(Binary::GreaterOrEqual, 1)),
            CheckClass::NotBefore
        );
        assert_eq!(
            classify(&time_check(Binary::LessThan, 1)),
            CheckClass::Expires
        );
        assert_eq!(classify(&keep_check(&BTreeSet::new())), CheckClass::Keep);
        assert_eq!(
            classify(&keep_check(&[tool()].into_iter().collect())),
            CheckClass::Keep
        );
        let ac = ArgConstraint {
            tool: tool(),
            arg: "p".into(),
            constraint: Constraint::Any,
        };
        assert_eq!(
            classify(&constraint_check(&tool(), &[&ac])),
            CheckClass::Constraint
        );
    }
}
