//! How the caveats of a captoken macaroon group into the root capability and its delegation steps.
//!
//! # Layout
//!
//! ```text
//! identifier                      ct2 <key id> <token id>
//! root section                    the six root claims, each exactly once, in any order:
//!                                 subject, grants, iat, nbf, exp, depth; third-party
//!                                 caveats may come between them. The section ends with
//!                                 the caveat that completes the six.
//! step*                           ct2 step <parent lineage hash> <n>
//!                                 then exactly n caveats: keep, nbf, exp, depth, delegate
//!                                 (each at most once), arg (any number), third-party
//!                                 caveats, and at most one holder-sig, after every
//!                                 other first-party caveat of the step
//! ```
//!
//! Anything else is refused: a root claim given twice (a second `grants` caveat
//! cannot add tools), a step caveat in the root section, a root claim or a
//! boundary inside a step, a step shorter than its count, a step caveat after a
//! complete step without a boundary of its own, and a root or a step beyond the
//! size bounds of [`captoken_core_types::bounds`] (which this crate never
//! writes). Because every step is counted, a holder can extend a token only by
//! a whole new step, which consumes depth, and the only prefixes of a valid
//! token that are themselves valid tokens are the ones that end right before a
//! boundary: the ancestors whose lineage hashes the verifier recomputes and
//! checks for revocation.
//!
//! A `holder-sig` caveat is the signature of the step's signer over the step
//! and its parent's lineage hash (`captoken_core_types::delegation`); it is
//! checked here, and a step that carries a valid one reads with
//! [`Attenuation::signed_by`] set. A signature that does not verify refuses
//! the token.
//!
//! # Meaning
//!
//! Every caveat is a conjunct, so a step narrows and never widens. The root
//! claims read as a [`Capability`] and each step as an [`Attenuation`]; what
//! they authorize together is exactly the reference rule set's verdict,
//! [`captoken_core_types::reference::authorize_chain`], which the provider
//! calls once the chain signature and the lineage are checked (and then
//! `possession::enforce`). There is no second rule set here.

use std::collections::BTreeSet;

use captoken_core_types::{Attenuation, Capability, Grant, HolderSignature, LineageHash, Subject};

use crate::provider::FORMAT;

use crate::caveat::{CaveatError, Claim, Identifier};
use crate::wire::{Caveat, Macaroon};

/// One step boundary as the macaroon carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Boundary {
    /// Index of the boundary caveat.
    pub(crate) index: usize,
    /// The lineage hash the boundary declares for the parent.
    pub(crate) parent: LineageHash,
}

/// A macaroon read as a root capability and its steps. Not authenticated by itself.
#[derive(Clone, Debug)]
pub(crate) struct Structure {
    /// The root capability (its `parent` is `None`).
    pub(crate) root: Capability,
    /// The steps, root first.
    pub(crate) steps: Vec<Attenuation>,
    /// The boundary of each step, in the same order.
    pub(crate) boundaries: Vec<Boundary>,
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<(), &'static str> {
    if slot.replace(value).is_some() {
        Err(what)
    } else {
        Ok(())
    }
}

fn claim(c: &Caveat) -> Result<Claim, &'static str> {
    Claim::parse(&c.id).map_err(CaveatError::describe)
}

/// Reads the layout described in the module documentation.
///
/// # Errors
/// A static description of the first violation.
pub(crate) fn parse(m: &Macaroon) -> Result<Structure, &'static str> {
    let identifier = Identifier::parse(&m.identifier).map_err(CaveatError::describe)?;
    read(identifier, &m.caveats)
}

/// Reads the caveats of a macaroon whose identifier is already parsed.
///
/// # Errors
/// A static description of the first violation.
pub(crate) fn read(identifier: Identifier, caveats: &[Caveat]) -> Result<Structure, &'static str> {
    let mut subject: Option<Subject> = None;
    let mut grants: Option<BTreeSet<Grant>> = None;
    let (mut iat, mut nbf, mut exp, mut depth) = (None, None, None, None);
    let mut caveats = caveats.iter().enumerate();
    while subject.is_none()
        || grants.is_none()
        || iat.is_none()
        || nbf.is_none()
        || exp.is_none()
        || depth.is_none()
    {
        let (_, c) = caveats.next().ok_or("root claims incomplete")?;
        if c.is_third_party() {
            continue;
        }
        match claim(c)? {
            Claim::Subject(s) => set_once(&mut subject, s, "root subject given twice")?,
            Claim::Grants(g) => set_once(&mut grants, g, "root grants given twice")?,
            Claim::IssuedAt(t) => set_once(&mut iat, t, "root iat given twice")?,
            Claim::NotBefore(t) => set_once(&mut nbf, t, "root nbf given twice")?,
            Claim::ExpiresAt(t) => set_once(&mut exp, t, "root exp given twice")?,
            Claim::Depth(d) => set_once(&mut depth, d, "root depth given twice")?,
            Claim::Step { .. }
            | Claim::Keep(_)
            | Claim::Arg(_)
            | Claim::Delegate(_)
            | Claim::HolderSig(_) => {
                return Err("step caveat before the root claims are complete");
            }
        }
    }
    let (
        Some(subject),
        Some(grants),
        Some(issued_at),
        Some(not_before),
        Some(expires_at),
        Some(max_depth),
    ) = (subject, grants, iat, nbf, exp, depth)
    else {
        return Err("root claims incomplete");
    };
    // Built with a placeholder window: a signed window may be empty (it then
    // denies every request as expired), which the builder refuses.
    let mut root = Capability::builder(identifier.key_id)
        .subject(subject)
        .id(identifier.token_id)
        .issued_at(issued_at)
        .valid_from(0)
        .valid_until(1)
        .depth(max_depth)
        .build()
        .map_err(|_| "root claims beyond the size bounds")?;
    root.grants = grants;
    root.not_before = not_before;
    root.expires_at = expires_at;
    root.check_bounds()
        .map_err(|_| "root claims beyond the size bounds")?;
    let mut steps = Vec::new();
    let mut boundaries = Vec::new();
    while let Some((index, c)) = caveats.next() {
        if c.is_third_party() {
            return Err("third-party caveat outside the root section and every step");
        }
        let Claim::Step { parent, count } = claim(c)? else {
            return Err("caveat after a complete step is not a step boundary");
        };
        let mut step = Attenuation::new();
        let mut signature: Option<HolderSignature> = None;
        for _ in 0..count {
            let (_, c) = caveats
                .next()
                .ok_or("step has fewer caveats than its boundary declares")?;
            if c.is_third_party() {
                continue;
            }
            let claim = claim(c)?;
            if signature.is_some() {
                return Err("holder signature is not the last first-party caveat of its step");
            }
            match claim {
                Claim::HolderSig(sig) => signature = Some(sig),
                Claim::Keep(k) => set_once(&mut step.keep, k, "keep given twice in a step")?,
                Claim::Arg(a) => step.constraints.push(a),
                Claim::NotBefore(t) => {
                    set_once(&mut step.not_before, t, "nbf given twice in a step")?;
                }
                Claim::ExpiresAt(t) => {
                    set_once(&mut step.expires_at, t, "exp given twice in a step")?;
                }
                Claim::Depth(d) => set_once(&mut step.max_depth, d, "depth given twice in a step")?,
                Claim::Delegate(s) => {
                    set_once(&mut step.delegate, s, "delegate given twice in a step")?;
                }
                Claim::Subject(_) | Claim::Grants(_) | Claim::IssuedAt(_) | Claim::Step { .. } => {
                    return Err("root claim or boundary inside a step");
                }
            }
        }
        step.check_bounds()
            .map_err(|_| "step beyond the size bounds")?;
        if let Some(sig) = signature {
            // Key-less: the signer's key is in the caveat; whether it is the
            // holder's is the reference rule's to judge.
            sig.check(&sig.signer, FORMAT, &parent, &step)
                .map_err(|_| "holder signature does not verify")?;
            step.signed_by = Some(sig.signer);
        }
        steps.push(step);
        boundaries.push(Boundary { index, parent });
    }
    Ok(Structure {
        root,
        steps,
        boundaries,
    })
}

/// The caveats of one step, boundary first, in the order this crate writes them.
pub(crate) fn step_claims(
    parent: LineageHash,
    step: &Attenuation,
    signature: Option<HolderSignature>,
) -> Vec<Claim> {
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
    body.extend(signature.map(Claim::HolderSig));
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
        Claim::IssuedAt(cap.issued_at),
        Claim::NotBefore(cap.not_before),
        Claim::ExpiresAt(cap.expires_at),
        Claim::Depth(cap.max_depth),
    ]
}
