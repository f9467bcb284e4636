//! The Datalog captoken writes into Biscuit blocks (authority, attenuation steps, authorizer), and its exact decoding back into the model.
//!
//! Every block is built with biscuit-auth's builder types, never by formatting
//! source text, so request and capability strings cannot inject Datalog.
//! Decoding is exact: a block is decoded loosely, re-encoded, and accepted only
//! when the re-encoding equals the block, so anything a holder appended by
//! other means is reported as not being a captoken block.

use std::collections::{BTreeMap, BTreeSet};

use biscuit_auth::builder::{
    Binary, BlockBuilder, Check, CheckKind, Expression, Fact, Op, Policy, PolicyKind, Predicate,
    Rule, Term, Unary,
};
use captoken_core_types::{
    ArgConstraint, Attenuation, Capability, Constraint, Grant, HolderKey, KeyId, LineageHash,
    Request, Subject, TokenId, ToolRef, Value,
};

/// Predicate names. Blocks and the authorizer share them; the authorizer's
/// facts are ambient (supplied per request), the others are declared by blocks.
pub(crate) mod name {
    /// Authority: the token id, 16 bytes.
    pub(crate) const TOKEN_ID: &str = "token_id";
    /// Authority: the issuer's captoken key id.
    pub(crate) const ISSUER: &str = "issuer";
    /// Authority: the root subject (principal).
    pub(crate) const SUBJECT: &str = "subject";
    /// Authority: the root subject's holder key, 32 bytes (optional).
    pub(crate) const SUBJECT_KEY: &str = "subject_key";
    /// Authority rules: a grant covers the requested (server, tool).
    pub(crate) const RIGHT: &str = "right";
    /// Step: the parent's lineage hash, 32 bytes.
    pub(crate) const PARENT: &str = "parent";
    /// Step: hands the remaining authority to this principal.
    pub(crate) const DELEGATE: &str = "delegate";
    /// Step: the delegate's holder key, 32 bytes (optional).
    pub(crate) const DELEGATE_KEY: &str = "delegate_key";
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

/// The `arg(name, X)` predicate and the expression on `X` for one constrained argument.
fn arg_match(name: &str, v: &str, c: &Constraint) -> (Predicate, Option<Expression>) {
    let term = match c {
        Constraint::Exact(val) => value_term(val),
        _ => var(v),
    };
    (
        pred(name::ARG, vec![string(name), term]),
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

fn holder_key_term(k: &HolderKey) -> Term {
    match k {
        HolderKey::Ed25519(bytes) => Term::Bytes(bytes.to_vec()),
    }
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
pub(crate) fn authority(cap: &Capability) -> BlockBuilder {
    let mut facts = vec![
        fact(name::TOKEN_ID, vec![Term::Bytes(cap.id.0.to_vec())]),
        fact(name::ISSUER, vec![string(cap.issuer.as_str())]),
        fact(name::SUBJECT, vec![string(&cap.subject.principal)]),
    ];
    if let Some(k) = &cap.subject.holder_key {
        facts.push(fact(name::SUBJECT_KEY, vec![holder_key_term(k)]));
    }
    let checks = vec![
        subject_check(),
        time_check(Binary::GreaterOrEqual, cap.not_before),
        time_check(Binary::LessThan, cap.expires_at),
        depth_check(i64::from(cap.max_depth) + 1),
    ];
    block(facts, cap.grants.iter().map(grant_rule).collect(), checks)
}

/// The block of one attenuation step appended at block index `index` (the
/// parent's block count), declaring the parent's lineage hash.
pub(crate) fn step(step: &Attenuation, index: usize, parent: &LineageHash) -> BlockBuilder {
    let mut facts = vec![fact(name::PARENT, vec![Term::Bytes(parent.0.to_vec())])];
    if let Some(d) = &step.delegate {
        facts.push(fact(name::DELEGATE, vec![string(&d.principal)]));
        if let Some(k) = &d.holder_key {
            facts.push(fact(name::DELEGATE_KEY, vec![holder_key_term(k)]));
        }
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
    block(facts, Vec::new(), checks)
}

/// The ambient facts of a request: who asks, the current holder, the chain
/// length, the time, the tool and every argument.
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
    facts
}

/// Number of ambient facts [`ambient`] supplies besides the arguments.
pub(crate) const AMBIENT_BASE: usize = 5;

/// The names of the ambient facts other than `arg`, one fact each.
pub(crate) const AMBIENT_NAMES: [&str; AMBIENT_BASE] = [
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

fn holder_key(facts: &[Fact], n: &str) -> Option<HolderKey> {
    one_bytes::<32>(facts, n).map(HolderKey::Ed25519)
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
    let mentions_arg = c
        .queries
        .iter()
        .any(|q| q.body.iter().any(|p| p.name == name::ARG));
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

/// Decodes the constraint of one `arg(name, X)` given the expressions of its query.
/// Loose: the caller re-encodes and compares.
fn decode_arg(p: &Predicate, expressions: &[Expression]) -> Option<(String, Constraint)> {
    if p.name != name::ARG {
        return None;
    }
    let [Term::Str(arg), x] = p.terms.as_slice() else {
        return None;
    };
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

/// Decodes an authority block written by [`authority`], exactly.
pub(crate) fn decode_authority(content: &Content) -> Option<Capability> {
    let facts = &content.facts;
    let principal = one_string(facts, name::SUBJECT)?;
    let holder_key = holder_key(facts, name::SUBJECT_KEY);
    let [_, nbf, exp, depth] = content.checks.as_slice() else {
        return None;
    };
    let max_depth = u32::try_from(depth_bound(depth)?.checked_sub(1)?).ok()?;
    let cap = Capability {
        id: TokenId(one_bytes::<16>(facts, name::TOKEN_ID)?),
        issuer: KeyId::new(one_string(facts, name::ISSUER)?).ok()?,
        subject: Subject {
            principal,
            holder_key,
        },
        grants: content
            .rules
            .iter()
            .map(decode_grant)
            .collect::<Option<BTreeSet<_>>>()?,
        not_before: time_bound(nbf, &Binary::GreaterOrEqual)?,
        expires_at: time_bound(exp, &Binary::LessThan)?,
        max_depth,
        parent: None,
    };
    // Two grants that encode to the same rule would decode to one.
    (content.rules.len() == cap.grants.len() && same_block(content, &authority(&cap)))
        .then_some(cap)
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
    let delegate = one_string(facts, name::DELEGATE).map(|principal| Subject {
        principal,
        holder_key: holder_key(facts, name::DELEGATE_KEY),
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
    same_block(content, &step(&att, index, &parent)).then_some((att, parent))
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

    #[test]
    fn authority_round_trips_every_constraint_kind() {
        let mut grant = Grant::new("fs", "read");
        for (i, c) in every_constraint().into_iter().enumerate() {
            grant = grant.with_arg(format!("a{i:02}"), c);
        }
        let cap = Capability {
            id: TokenId([9; 16]),
            issuer: KeyId::new("k1").unwrap(),
            subject: Subject {
                principal: "agent:a".into(),
                holder_key: Some(HolderKey::Ed25519([4; 32])),
            },
            grants: [grant, Grant::new("fs", "list"), Grant::new("net", "ping")]
                .into_iter()
                .collect(),
            not_before: 0,
            expires_at: u64::MAX,
            max_depth: u32::MAX,
            parent: None,
        };
        assert_eq!(decode_authority(&round_trip(&authority(&cap))), Some(cap));
    }

    #[test]
    fn step_round_trips() {
        let parent = LineageHash([7; 32]);
        let mut st = Attenuation::new()
            .keep_only([tool(), ToolRef::new("fs", "list")])
            .not_before(10)
            .expires_at(20)
            .max_depth(0)
            .delegate(Subject {
                principal: "agent:b".into(),
                holder_key: Some(HolderKey::Ed25519([1; 32])),
            });
        for c in every_constraint() {
            st = st.constrain(tool(), "x", c);
        }
        // Runs of constraints on one tool become one check each, in order.
        st = st
            .constrain(ToolRef::new("fs", "list"), "y", Constraint::Any)
            .constrain(tool(), "z", Constraint::Range { min: 1, max: 2 });
        for index in [1, 5, 63] {
            let content = round_trip(&step(&st, index, &parent));
            assert_eq!(decode_step(&content, index), Some((st.clone(), parent)));
        }
        let empty = Attenuation::new().keep_only([]);
        assert_eq!(
            decode_step(&round_trip(&step(&empty, 1, &parent)), 1),
            Some((empty, parent))
        );
        let bare = Attenuation::new();
        assert_eq!(
            decode_step(&round_trip(&step(&bare, 2, &parent)), 2),
            Some((bare, parent))
        );
    }

    #[test]
    fn decoding_refuses_foreign_content() {
        let parent = LineageHash([7; 32]);
        let st = Attenuation::new().expires_at(9);
        let mut content = round_trip(&step(&st, 1, &parent));
        // A depth bound is absolute (a block count): read at another index it
        // means another remaining depth, and none past the bound.
        let deep = round_trip(&step(&Attenuation::new().max_depth(2), 3, &parent));
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
        let mut content = round_trip(&step(&st, 1, &parent));
        content
            .checks
            .push(check(vec![query(Vec::new(), Vec::new())]));
        assert!(decode_step(&content, 1).is_none());
        // A subject check belongs to the authority only.
        let mut content = round_trip(&step(&st, 1, &parent));
        content.checks.push(subject_check());
        assert!(decode_step(&content, 1).is_none());
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
