//! How the caveats of a captoken macaroon group into the root capability and its delegation steps, and what they authorize together.
//!
//! # Layout
//!
//! ```text
//! identifier                      ct1 <key id> <token id>
//! root section                    the five root claims, each exactly once, in any order:
//!                                 subject, grants, nbf, exp, depth; third-party caveats
//!                                 may come between them. The section ends with the
//!                                 caveat that completes the five.
//! step*                           ct1 step <parent lineage hash> <n>
//!                                 then exactly n caveats: keep, nbf, exp, depth, delegate
//!                                 (each at most once), arg (any number), and
//!                                 third-party caveats
//! ```
//!
//! Anything else is refused: a root claim given twice (a second `grants` caveat
//! cannot add tools), a step caveat in the root section, a root claim or a
//! boundary inside a step, a step shorter than its count, a step caveat after a
//! complete step without a boundary of its own. Because every step is counted,
//! a holder can extend a token only by a whole new step, which consumes depth,
//! and the only prefixes of a valid token that are themselves valid tokens are
//! the ones that end right before a boundary: the ancestors whose lineage
//! hashes the verifier recomputes and checks for revocation.
//!
//! # Meaning
//!
//! Every caveat is a conjunct, so a step narrows and never widens. A request is
//! authorized when, in this order (the order of the reference authorizer, so
//! that denial reasons agree):
//!
//! 1. every step was taken while depth remained: the root's `depth` is the budget,
//!    each step spends one, and a step's `depth` caps what is left after it;
//! 2. the request's subject is the last step's `delegate`, or the root `subject`;
//! 3. `now` is at or after every `nbf` and before every `exp`, root and steps;
//! 4. a grant of the root `grants` is for the request's server and tool, and
//!    every argument it constrains is present and permitted;
//! 5. every `keep` names the request's tool, and every `arg` on the request's
//!    tool is present and permitted.

use std::collections::BTreeSet;

use captoken_core_types::{
    Attenuation, Capability, DenyReason, Grant, LineageHash, Request, Subject,
};

use crate::caveat::{Claim, Identifier};
use crate::wire::Macaroon;

/// One delegation step as the macaroon carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StepView {
    /// Index of its boundary caveat.
    pub(crate) boundary: usize,
    /// The lineage hash the boundary declares for the parent.
    pub(crate) parent: LineageHash,
    /// The step.
    pub(crate) step: Attenuation,
}

/// A macaroon read as a root capability and its steps. Not authenticated by itself.
#[derive(Clone, Debug)]
pub(crate) struct Structure {
    /// The root capability (its `parent` is `None`).
    pub(crate) root: Capability,
    /// The steps, root first.
    pub(crate) steps: Vec<StepView>,
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<(), &'static str> {
    if slot.replace(value).is_some() {
        Err(what)
    } else {
        Ok(())
    }
}

/// Reads the layout described in the module documentation.
///
/// # Errors
/// A static description of the first violation.
pub(crate) fn parse(m: &Macaroon) -> Result<Structure, &'static str> {
    let identifier =
        Identifier::parse(&m.identifier).map_err(|_| "identifier is not a ct1 identifier")?;
    let mut subject: Option<Subject> = None;
    let mut grants: Option<BTreeSet<Grant>> = None;
    let (mut nbf, mut exp, mut depth) = (None, None, None);
    let mut caveats = m.caveats.iter().enumerate();
    while subject.is_none() || grants.is_none() || nbf.is_none() || exp.is_none() || depth.is_none()
    {
        let (_, c) = caveats.next().ok_or("root claims incomplete")?;
        if c.is_third_party() {
            continue;
        }
        match Claim::parse(&c.id).map_err(|e| e.describe())? {
            Claim::Subject(s) => set_once(&mut subject, s, "root subject given twice")?,
            Claim::Grants(g) => set_once(&mut grants, g, "root grants given twice")?,
            Claim::NotBefore(t) => set_once(&mut nbf, t, "root nbf given twice")?,
            Claim::ExpiresAt(t) => set_once(&mut exp, t, "root exp given twice")?,
            Claim::Depth(d) => set_once(&mut depth, d, "root depth given twice")?,
            Claim::Step { .. } | Claim::Keep(_) | Claim::Arg(_) | Claim::Delegate(_) => {
                return Err("step caveat before the root claims are complete");
            }
        }
    }
    let (Some(subject), Some(grants), Some(not_before), Some(expires_at), Some(max_depth)) =
        (subject, grants, nbf, exp, depth)
    else {
        return Err("root claims incomplete");
    };
    let root = Capability {
        id: identifier.token_id,
        issuer: identifier.key_id.clone(),
        subject,
        grants,
        not_before,
        expires_at,
        max_depth,
        parent: None,
    };
    let mut steps = Vec::new();
    while let Some((boundary, c)) = caveats.next() {
        if c.is_third_party() {
            return Err("third-party caveat outside the root section and every step");
        }
        let Claim::Step { parent, count } = Claim::parse(&c.id).map_err(|e| e.describe())? else {
            return Err("caveat after a complete step is not a step boundary");
        };
        let mut step = Attenuation::new();
        for _ in 0..count {
            let (_, c) = caveats
                .next()
                .ok_or("step has fewer caveats than its boundary declares")?;
            if c.is_third_party() {
                continue;
            }
            match Claim::parse(&c.id).map_err(|e| e.describe())? {
                Claim::Keep(k) => set_once(&mut step.keep, k, "keep given twice in a step")?,
                Claim::Arg(a) => step.constraints.push(a),
                Claim::NotBefore(t) => {
                    set_once(&mut step.not_before, t, "nbf given twice in a step")?
                }
                Claim::ExpiresAt(t) => {
                    set_once(&mut step.expires_at, t, "exp given twice in a step")?
                }
                Claim::Depth(d) => set_once(&mut step.max_depth, d, "depth given twice in a step")?,
                Claim::Delegate(s) => {
                    set_once(&mut step.delegate, s, "delegate given twice in a step")?;
                }
                Claim::Subject(_) | Claim::Grants(_) | Claim::Step { .. } => {
                    return Err("root claim or boundary inside a step");
                }
            }
        }
        steps.push(StepView {
            boundary,
            parent,
            step,
        });
    }
    Ok(Structure { root, steps })
}

/// The caveats of one step, boundary first, in the order this crate writes them.
pub(crate) fn step_claims(parent: LineageHash, step: &Attenuation) -> Vec<Claim> {
    let mut body = Vec::new();
    if let Some(keep) = &step.keep {
        body.push(Claim::Keep(keep.clone()));
    }
    body.extend(step.constraints.iter().cloned().map(Claim::Arg));
    if let Some(t) = step.not_before {
        body.push(Claim::NotBefore(t));
    }
    if let Some(t) = step.expires_at {
        body.push(Claim::ExpiresAt(t));
    }
    if let Some(d) = step.max_depth {
        body.push(Claim::Depth(d));
    }
    if let Some(s) = &step.delegate {
        body.push(Claim::Delegate(s.clone()));
    }
    let count = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut claims = vec![Claim::Step { parent, count }];
    claims.extend(body);
    claims
}

/// The root claims, in the order this crate writes them.
pub(crate) fn root_claims(cap: &Capability) -> Vec<Claim> {
    vec![
        Claim::Subject(cap.subject.clone()),
        Claim::Grants(cap.grants.clone()),
        Claim::NotBefore(cap.not_before),
        Claim::ExpiresAt(cap.expires_at),
        Claim::Depth(cap.max_depth),
    ]
}

/// Evaluates the caveats of a root and its steps against a request, in the
/// order of the module documentation.
///
/// # Errors
/// The first [`DenyReason`] found.
pub(crate) fn authorize(
    root: &Capability,
    views: &[StepView],
    request: &Request,
) -> Result<(), DenyReason> {
    let steps = || views.iter().map(|v| &v.step);
    // 1. Depth: the budget is spent one per step and capped by a step's `depth`.
    let mut left = root.max_depth;
    for step in steps() {
        left = left.checked_sub(1).ok_or(DenyReason::DepthExceeded)?;
        if let Some(cap) = step.max_depth {
            left = left.min(cap);
        }
    }
    // 2. Subject: the last delegate, else the root subject.
    let subject = steps()
        .rev()
        .find_map(|s| s.delegate.as_ref())
        .unwrap_or(&root.subject);
    if subject.principal != request.subject {
        return Err(DenyReason::WrongSubject);
    }
    // 3. Time: every nbf and every exp, root and steps.
    let now = request.now;
    let mut nbfs = std::iter::once(root.not_before).chain(steps().filter_map(|s| s.not_before));
    let mut exps = std::iter::once(root.expires_at).chain(steps().filter_map(|s| s.expires_at));
    if nbfs.any(|t| now < t) {
        return Err(DenyReason::NotYetValid);
    }
    if exps.any(|t| now >= t) {
        return Err(DenyReason::Expired);
    }
    // 4. The root grant set, a disjunction.
    let covers = |g: &Grant| {
        g.server == request.server
            && g.tool == request.tool
            && g.args
                .iter()
                .all(|(name, c)| request.args.get(name).is_some_and(|v| c.permits(v)))
    };
    if !root.grants.iter().any(covers) {
        return Err(DenyReason::NoMatchingGrant);
    }
    // 5. Each step's keep and arg caveats, in order.
    let is_requested = |server: &str, tool: &str| server == request.server && tool == request.tool;
    for step in steps() {
        if let Some(keep) = &step.keep
            && !keep.iter().any(|t| is_requested(&t.server, &t.tool))
        {
            return Err(DenyReason::NoMatchingGrant);
        }
        for a in &step.constraints {
            if is_requested(&a.tool.server, &a.tool.tool)
                && !request
                    .args
                    .get(&a.arg)
                    .is_some_and(|v| a.constraint.permits(v))
            {
                return Err(DenyReason::ConstraintViolated);
            }
        }
    }
    Ok(())
}
