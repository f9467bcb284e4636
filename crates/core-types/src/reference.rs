//! The reference authorizer: the small, format-free oracle every provider's verdict must equal.
//!
//! It reads the root capability and the attenuation steps as written, whatever
//! they ask for: a step is an intersection, so a hostile step (one that asks to
//! add tools, loosen constraints or extend expiry) constrains and never widens.

use crate::attenuation::Attenuation;
use crate::capability::{Capability, Grant, HolderBinding, HolderKey, Subject};
use crate::error::ModelError;
use crate::provider::DenyReason;
use crate::request::Request;

/// The verdict of a verifier given no proof of possession: [`authorize_chain`],
/// then a holder bound to a key is denied with
/// [`DenyReason::PossessionRequired`] (DESIGN.md §8). This is the oracle the
/// suites hold every provider's `verify` to; with a valid proof, the verdict is
/// [`authorize_chain`]'s.
///
/// # Errors
/// The first [`DenyReason`] found.
pub fn authorize(
    root: &Capability,
    steps: &[Attenuation],
    request: &Request,
) -> Result<Subject, DenyReason> {
    let holder = authorize_chain(root, steps, request)?;
    if holder.is_bound() {
        return Err(DenyReason::PossessionRequired);
    }
    Ok(holder)
}

/// Is `request` authorized by `root` attenuated by `steps`, in order? When it
/// is, returns the effective holder: the last delegate, or the root's subject,
/// with its binding. Proof of possession is not this rule set's to check: a
/// provider runs [`crate::possession::enforce`] for the holder it returns.
///
/// Allowed exactly when:
/// - the request is inside the size bounds of [`crate::bounds`];
/// - every step was taken while the remaining depth was above zero (each step
///   consumes one level and may lower it further);
/// - every step that delegates away from a holder bound to a key is signed by
///   that key ([`Attenuation::signed_by`]; otherwise
///   [`DenyReason::UnsignedDelegation`]): a thief cannot re-delegate;
/// - no step delegates away from a holder bound to a principal's key set: its
///   hand-over signatures are undated, so no key state could judge them
///   (DESIGN.md §9; [`DenyReason::UnsignedDelegation`]);
/// - the request's subject is the effective holder's principal;
/// - `now` is inside the root's window and inside every step's bounds;
/// - some root grant is for the request's tool and every argument it constrains
///   is present and permitted;
/// - every step that keeps a set of tools keeps this one, and every constraint a
///   step adds on this tool is satisfied.
///
/// # Errors
/// The first [`DenyReason`] found, in the order above.
pub fn authorize_chain(
    root: &Capability,
    steps: &[Attenuation],
    request: &Request,
) -> Result<Subject, DenyReason> {
    request.check_bounds()?;
    let mut depth = root.max_depth;
    let mut subject = &root.subject;
    let (mut not_before, mut expires_at) = (root.not_before, root.expires_at);
    for step in steps {
        depth = depth.checked_sub(1).ok_or(DenyReason::DepthExceeded)?;
        depth = step.max_depth.map_or(depth, |d| d.min(depth));
        if let Some(to) = &step.delegate {
            subject = to;
        }
        not_before = step.not_before.map_or(not_before, |t| t.max(not_before));
        expires_at = step.expires_at.map_or(expires_at, |t| t.min(expires_at));
    }
    check_handovers(
        &root.subject,
        steps
            .iter()
            .filter_map(|s| s.delegate.as_ref().map(|to| (to, s.signed_by.as_ref()))),
    )?;
    if request.subject != subject.principal {
        return Err(DenyReason::WrongSubject);
    }
    check_window(not_before, expires_at, request.now)?;
    if !root.grants.iter().any(|g| grant_permits(g, request)) {
        return Err(DenyReason::NoMatchingGrant);
    }
    for step in steps {
        if let Some(keep) = &step.keep
            && !keep
                .iter()
                .any(|t| t.server == request.server && t.tool == request.tool)
        {
            return Err(DenyReason::NoMatchingGrant);
        }
        for c in &step.constraints {
            if c.tool.server == request.server
                && c.tool.tool == request.tool
                && !request
                    .args
                    .get(&c.arg)
                    .is_some_and(|v| c.constraint.permits(v))
            {
                return Err(DenyReason::ConstraintViolated);
            }
        }
    }
    Ok(subject.clone())
}

/// The current holder of a chain: the subject of its last delegation, or the root's.
#[must_use]
pub fn current_holder<'a>(root: &'a Capability, steps: &'a [Attenuation]) -> &'a Subject {
    steps
        .iter()
        .rev()
        .find_map(|s| s.delegate.as_ref())
        .unwrap_or(&root.subject)
}

/// The signed-delegation rule of DESIGN.md §8: walking the chain's hand-overs
/// (each a new subject and the key that signed its step, if any) from `root`,
/// every hand-over away from a bound holder is signed by its key. A holder
/// bound to a key set signs none: a hand-over signature carries no time, so
/// the set's key states (DESIGN.md §9) could not judge it.
///
/// # Errors
/// [`DenyReason::UnsignedDelegation`] at the first that is not.
pub fn check_handovers<'a>(
    root: &'a Subject,
    handovers: impl IntoIterator<Item = (&'a Subject, Option<&'a HolderKey>)>,
) -> Result<(), DenyReason> {
    let mut holder = root;
    for (to, signer) in handovers {
        let signed = match &holder.binding {
            None => true,
            Some(HolderBinding::Key(k)) => signer == Some(k),
            // An undated signature cannot be judged by a key set's states.
            Some(_) => false,
        };
        if !signed {
            return Err(DenyReason::UnsignedDelegation);
        }
        holder = to;
    }
    Ok(())
}

impl Capability {
    /// Does this capability, on its own, authorize `request` for a verifier
    /// given no proof of possession? The same as [`authorize`] with no steps;
    /// returns the subject.
    ///
    /// # Errors
    /// The first [`DenyReason`] found.
    pub fn authorizes(&self, request: &Request) -> Result<Subject, DenyReason> {
        authorize(self, &[], request)
    }

    /// Can an issuer sign this capability? It must be inside the size bounds.
    ///
    /// # Errors
    /// [`ModelError::TooLarge`].
    pub fn check_issuable(&self) -> Result<(), ModelError> {
        self.check_bounds()
    }
}

impl Attenuation {
    /// Can a holder append this step? It must be inside the size bounds and
    /// leave `signed_by` to signing.
    ///
    /// # Errors
    /// [`ModelError::TooLarge`] or [`ModelError::SignerSetByHand`].
    pub fn check_appendable(&self) -> Result<(), ModelError> {
        self.check_bounds()?;
        if self.signed_by.is_some() {
            return Err(ModelError::SignerSetByHand);
        }
        Ok(())
    }

    /// May a step be taken from a credential whose current holder is `holder`
    /// without the holder's signature? Not when it delegates away from a bound
    /// holder ([`check_handovers`]).
    ///
    /// # Errors
    /// [`ModelError::DelegationUnsigned`].
    pub fn check_unsigned_from(&self, holder: &Subject) -> Result<(), ModelError> {
        if self.delegate.is_some() && holder.is_bound() {
            return Err(ModelError::DelegationUnsigned);
        }
        Ok(())
    }

    /// May `signer` (or nobody) take this step from a credential whose current
    /// holder is `holder`? Unsigned: as [`Attenuation::check_unsigned_from`].
    /// Signed: the signer must be the key a bound holder is bound to (any key
    /// may sign for an unbound holder; a key-set holder signs nothing, see
    /// [`check_handovers`]).
    ///
    /// # Errors
    /// [`ModelError::DelegationUnsigned`] or [`ModelError::DelegationSignature`].
    pub fn check_taken_by(
        &self,
        holder: &Subject,
        signer: Option<&HolderKey>,
    ) -> Result<(), ModelError> {
        match (signer, &holder.binding) {
            (None, _) => self.check_unsigned_from(holder),
            (Some(_), None) => Ok(()),
            (Some(key), Some(HolderBinding::Key(k))) if k == key => Ok(()),
            (Some(_), Some(_)) => Err(ModelError::DelegationSignature),
        }
    }
}

/// Is `now` inside `not_before <= now < expires_at`?
///
/// # Errors
/// [`DenyReason::NotYetValid`] or [`DenyReason::Expired`].
pub fn check_window(not_before: u64, expires_at: u64, now: u64) -> Result<(), DenyReason> {
    if now < not_before {
        Err(DenyReason::NotYetValid)
    } else if now >= expires_at {
        Err(DenyReason::Expired)
    } else {
        Ok(())
    }
}

/// Does `grant` cover the request's tool, with every constrained argument present and permitted?
#[must_use]
pub fn grant_permits(grant: &Grant, request: &Request) -> bool {
    grant.is_for(&request.server, &request.tool)
        && grant
            .args
            .iter()
            .all(|(name, c)| request.args.get(name).is_some_and(|v| c.permits(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{KeyId, Subject, TokenId, ToolRef};
    use crate::constraint::{Constraint, Value};
    use crate::error::AttenuationError;
    use crate::request::FixedClock;

    fn fs(tool: &str) -> ToolRef {
        ToolRef::new("fs", tool)
    }

    fn root() -> Capability {
        Capability {
            id: TokenId([1; 16]),
            issuer: KeyId::new("k1").unwrap(),
            issued_at: 100,
            subject: Subject::new("agent:a"),
            grants: [
                Grant::new("fs", "read")
                    .with_arg("path", Constraint::Prefix("/srv/".into()))
                    .with_arg("mode", Constraint::Exact("ro".into()))
                    .with_arg("limit", Constraint::Range { min: 0, max: 100 }),
                Grant::new("fs", "list").with_arg(
                    "fmt",
                    Constraint::OneOf(["json".into(), "text".into()].into_iter().collect()),
                ),
                Grant::new("net", "ping").with_arg("host", Constraint::Any),
            ]
            .into_iter()
            .collect(),
            not_before: 100,
            expires_at: 200,
            max_depth: 2,
            parent: None,
        }
    }

    fn read(now: u64) -> Request {
        Request::new("agent:a", "fs", "read", &FixedClock(now))
            .with_arg("path", "/srv/x")
            .with_arg("mode", "ro")
            .with_arg("limit", 10)
    }

    /// Checks one verdict both ways: through the chain, and through the
    /// strictly re-issued capability whenever every step is a narrowing.
    fn verdict(steps: &[Attenuation], request: &Request) -> Result<(), DenyReason> {
        let by_chain = authorize(&root(), steps, request).map(|_| ());
        let reissued = steps
            .iter()
            .try_fold(root(), |cap, step| cap.attenuate(step));
        if let Ok(cap) = reissued {
            assert_eq!(
                by_chain.is_ok(),
                cap.authorizes(request).is_ok(),
                "chain and re-issuance disagree on {request:?}"
            );
        }
        by_chain
    }

    #[test]
    fn allows_inside_and_denies_each_field_outside() {
        assert_eq!(verdict(&[], &read(150)), Ok(()));
        let mut r = read(150);
        r.subject = "agent:b".into();
        assert_eq!(verdict(&[], &r), Err(DenyReason::WrongSubject));
        let mut r = read(150);
        r.server = "fs2".into();
        assert_eq!(verdict(&[], &r), Err(DenyReason::NoMatchingGrant));
        let mut r = read(150);
        r.tool = "write".into();
        assert_eq!(verdict(&[], &r), Err(DenyReason::NoMatchingGrant));
    }

    #[test]
    fn time_window_boundaries() {
        assert_eq!(verdict(&[], &read(99)), Err(DenyReason::NotYetValid));
        assert_eq!(verdict(&[], &read(100)), Ok(()));
        assert_eq!(verdict(&[], &read(199)), Ok(()));
        assert_eq!(verdict(&[], &read(200)), Err(DenyReason::Expired));
    }

    #[test]
    fn every_constraint_kind() {
        // Prefix, Exact, Range on read; OneOf on list; Any on ping.
        let bad = [
            read(150).with_arg("path", "/etc/passwd"),
            read(150).with_arg("path", 5),
            read(150).with_arg("mode", "rw"),
            read(150).with_arg("limit", 101),
            read(150).with_arg("limit", -1),
            read(150).with_arg("limit", "10"),
        ];
        for r in &bad {
            assert_eq!(verdict(&[], r), Err(DenyReason::NoMatchingGrant), "{r:?}");
        }
        assert_eq!(verdict(&[], &read(150).with_arg("limit", 100)), Ok(()));
        let list = |fmt: &str| {
            Request::new("agent:a", "fs", "list", &FixedClock(150)).with_arg("fmt", fmt)
        };
        assert_eq!(verdict(&[], &list("json")), Ok(()));
        assert_eq!(verdict(&[], &list("xml")), Err(DenyReason::NoMatchingGrant));
        let ping = Request::new("agent:a", "net", "ping", &FixedClock(150));
        assert_eq!(verdict(&[], &ping.clone().with_arg("host", true)), Ok(()));
        assert_eq!(
            verdict(&[], &ping),
            Err(DenyReason::NoMatchingGrant),
            "Any still needs the argument"
        );
    }

    #[test]
    fn missing_argument_denied_extra_argument_ignored() {
        let mut r = read(150);
        r.args.remove("mode");
        assert_eq!(verdict(&[], &r), Err(DenyReason::NoMatchingGrant));
        assert_eq!(verdict(&[], &read(150).with_arg("other", 1)), Ok(()));
    }

    #[test]
    fn empty_grant_set_allows_nothing() {
        let mut cap = root();
        cap.grants.clear();
        assert_eq!(cap.authorizes(&read(150)), Err(DenyReason::NoMatchingGrant));
    }

    #[test]
    fn returns_the_effective_holder() {
        assert_eq!(
            authorize(&root(), &[], &read(150)),
            Ok(Subject::new("agent:a"))
        );
        let step = Attenuation::new().delegate(Subject::new("agent:b"));
        let mut by_b = read(150);
        by_b.subject = "agent:b".into();
        assert_eq!(
            authorize(&root(), &[step], &by_b),
            Ok(Subject::new("agent:b"))
        );
    }

    #[test]
    fn key_and_key_set_bindings_are_authorized() {
        let key = crate::capability::HolderKey::Ed25519([7; 32]);
        let mut bound = root();
        bound.subject = Subject::bound_to_key("agent:a", key.clone());
        // The holder is reported with its binding: possession is the verifier's
        // last check (`possession::enforce`), not the rule set's.
        assert_eq!(
            authorize_chain(&bound, &[], &read(150)),
            Ok(bound.subject.clone())
        );
        assert_eq!(
            authorize(&bound, &[], &read(150)),
            Err(DenyReason::PossessionRequired)
        );
        assert_eq!(bound.check_issuable(), Ok(()));
        bound.subject = Subject::bound_to_key_set("agent:a");
        assert_eq!(
            authorize(&bound, &[], &read(150)),
            Err(DenyReason::PossessionRequired)
        );
        assert_eq!(bound.check_issuable(), Ok(()));
        let to_set = Attenuation::new().delegate(Subject::bound_to_key_set("agent:b"));
        assert_eq!(to_set.check_appendable(), Ok(()));
        let step = Attenuation::new().delegate(Subject::bound_to_key("agent:b", key));
        assert_eq!(step.check_appendable(), Ok(()));
        let mut by_b = read(150);
        by_b.subject = "agent:b".into();
        assert_eq!(
            authorize_chain(&root(), std::slice::from_ref(&step), &by_b),
            Ok(step.delegate.clone().unwrap())
        );
        let mut signed = step;
        signed.signed_by = Some(crate::capability::HolderKey::Ed25519([1; 32]));
        assert_eq!(signed.check_appendable(), Err(ModelError::SignerSetByHand));
    }

    #[test]
    fn a_delegation_away_from_a_key_bound_holder_must_be_signed_by_its_key() {
        use crate::capability::HolderKey;
        let (h, t) = (HolderKey::Ed25519([7; 32]), HolderKey::Ed25519([8; 32]));
        let mut bound = root();
        bound.subject = Subject::bound_to_key("agent:a", h.clone());
        let mut by_b = read(150);
        by_b.subject = "agent:b".into();
        let away = |signer: Option<&HolderKey>| {
            let mut s = Attenuation::new().delegate(Subject::new("agent:b"));
            s.signed_by = signer.cloned();
            s
        };
        for signer in [None, Some(&t)] {
            assert_eq!(
                authorize(&bound, &[away(signer)], &by_b),
                Err(DenyReason::UnsignedDelegation)
            );
        }
        assert!(authorize(&bound, &[away(Some(&h))], &by_b).is_ok());
        // A narrowing step needs no signature; the hand-over after it still does.
        assert_eq!(
            authorize(&bound, &[Attenuation::new(), away(None)], &by_b),
            Err(DenyReason::UnsignedDelegation)
        );
        // From an unbound holder nothing needs a signature, to a bound one or not.
        let mut to_bound = Attenuation::new().delegate(Subject::bound_to_key("agent:b", t.clone()));
        assert!(authorize_chain(&root(), &[to_bound.clone()], &by_b).is_ok());
        // ... but from there on, the new holder's key signs.
        to_bound.signed_by = None;
        let mut by_c = read(150);
        by_c.subject = "agent:c".into();
        let mut onward = Attenuation::new().delegate(Subject::new("agent:c"));
        assert_eq!(
            authorize(&root(), &[to_bound.clone(), onward.clone()], &by_c),
            Err(DenyReason::UnsignedDelegation)
        );
        onward.signed_by = Some(t);
        assert!(authorize(&root(), &[to_bound, onward], &by_c).is_ok());
        // Depth is judged first.
        let mut shallow = bound.clone();
        shallow.max_depth = 0;
        assert_eq!(
            authorize(&shallow, &[away(None)], &by_b),
            Err(DenyReason::DepthExceeded)
        );
    }

    #[test]
    fn depth_is_consumed_and_exhausted() {
        let step = Attenuation::new();
        assert_eq!(verdict(&[step.clone(), step.clone()], &read(150)), Ok(()));
        assert_eq!(
            verdict(&[step.clone(), step.clone(), step.clone()], &read(150)),
            Err(DenyReason::DepthExceeded)
        );
        assert_eq!(
            verdict(&[Attenuation::new().max_depth(0), step], &read(150)),
            Err(DenyReason::DepthExceeded)
        );
        let mut r = root();
        r.max_depth = 0;
        assert_eq!(
            r.attenuate(&Attenuation::new()),
            Err(AttenuationError::DepthExhausted)
        );
    }

    #[test]
    fn delegate_moves_the_subject() {
        let step = Attenuation::new().delegate(Subject::new("agent:b"));
        assert_eq!(
            verdict(std::slice::from_ref(&step), &read(150)),
            Err(DenyReason::WrongSubject)
        );
        let mut by_b = read(150);
        by_b.subject = "agent:b".into();
        assert_eq!(verdict(&[step], &by_b), Ok(()));
    }

    #[test]
    fn narrowing_steps_narrow() {
        let step = Attenuation::new()
            .keep_only([fs("read")])
            .constrain(fs("read"), "path", Constraint::Prefix("/srv/x".into()))
            .expires_at(180)
            .not_before(120);
        assert_eq!(verdict(std::slice::from_ref(&step), &read(150)), Ok(()));
        assert_eq!(
            verdict(std::slice::from_ref(&step), &read(110)),
            Err(DenyReason::NotYetValid)
        );
        assert_eq!(
            verdict(std::slice::from_ref(&step), &read(180)),
            Err(DenyReason::Expired)
        );
        assert_eq!(
            verdict(
                std::slice::from_ref(&step),
                &read(150).with_arg("path", "/srv/y")
            ),
            Err(DenyReason::ConstraintViolated)
        );
        let list = Request::new("agent:a", "fs", "list", &FixedClock(150)).with_arg("fmt", "json");
        assert_eq!(verdict(&[step], &list), Err(DenyReason::NoMatchingGrant));
    }

    #[test]
    fn widening_steps_are_refused_by_reissue_and_inert_in_a_chain() {
        let cases = [
            (
                Attenuation::new().expires_at(500),
                AttenuationError::LaterExpiry,
            ),
            (
                Attenuation::new().not_before(50),
                AttenuationError::EarlierNotBefore,
            ),
            (
                Attenuation::new().max_depth(5),
                AttenuationError::DepthIncrease {
                    requested: 5,
                    allowed: 1,
                },
            ),
            (
                Attenuation::new().keep_only([fs("write")]),
                AttenuationError::ToolNotGranted(fs("write")),
            ),
            (
                Attenuation::new().constrain(fs("read"), "path", Constraint::Prefix("/".into())),
                AttenuationError::LooserConstraint {
                    tool: fs("read"),
                    arg: "path".into(),
                },
            ),
            (
                Attenuation::new().constrain(fs("read"), "limit", Constraint::Any),
                AttenuationError::LooserConstraint {
                    tool: fs("read"),
                    arg: "limit".into(),
                },
            ),
        ];
        for (step, err) in cases {
            assert_eq!(root().attenuate(&step), Err(err), "{step:?}");
            // In a chain the same step authorizes nothing the root does not.
            let probes = [
                read(150),
                read(50),
                read(250),
                read(150).with_arg("path", "/etc"),
                read(150).with_arg("limit", 1000),
                Request::new("agent:a", "fs", "write", &FixedClock(150)),
            ];
            for probe in &probes {
                if authorize(&root(), std::slice::from_ref(&step), probe).is_ok() {
                    assert_eq!(
                        authorize(&root(), &[], probe).map(|_| ()),
                        Ok(()),
                        "{step:?} widened {probe:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn reissue_keeps_narrower_existing_constraint_semantics() {
        let step =
            Attenuation::new().constrain(fs("read"), "limit", Constraint::Range { min: 5, max: 6 });
        let child = root().attenuate(&step).unwrap();
        assert_eq!(child.max_depth, 1);
        let g = child
            .grants
            .iter()
            .find(|g| g.is_for("fs", "read"))
            .unwrap();
        assert_eq!(g.args["limit"], Constraint::Range { min: 5, max: 6 });
        assert_eq!(
            child.authorizes(&read(150)),
            Err(DenyReason::NoMatchingGrant)
        );
        assert!(
            child
                .authorizes(&read(150).with_arg("limit", Value::Int(5)))
                .is_ok()
        );
    }
}
