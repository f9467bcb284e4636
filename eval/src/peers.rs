//! Peer libraries doing the same job as a provider, driven over the same workload (they live in `eval` only).

/// `jsonwebtoken` HS256 carrying the capability's claims as compact JSON: what
/// users reach for instead of a home-grown HMAC token.
pub mod jwt {
    use std::collections::BTreeMap;

    use captoken_core_types::{Capability, Constraint, Grant, KeyId, Request, TokenId, Value};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    use serde::{Deserialize, Serialize};

    /// The claims: registered names where JWT has them, short custom names otherwise.
    #[derive(Serialize, Deserialize)]
    struct Claims {
        jti: String,
        iss: String,
        sub: String,
        iat: u64,
        nbf: u64,
        exp: u64,
        depth: u32,
        grants: Vec<JwtGrant>,
    }

    #[derive(Serialize, Deserialize)]
    struct JwtGrant {
        srv: String,
        tool: String,
        args: BTreeMap<String, JwtConstraint>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum JwtConstraint {
        Any(bool),
        Eq(JwtValue),
        Prefix(String),
        Path(String),
        In(Vec<JwtValue>),
        Range(i64, i64),
    }

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum JwtValue {
        Bool(bool),
        Int(i64),
        Str(String),
    }

    impl From<&Value> for JwtValue {
        fn from(v: &Value) -> Self {
            match v {
                Value::Str(s) => Self::Str(s.clone()),
                Value::Int(i) => Self::Int(*i),
                Value::Bool(b) => Self::Bool(*b),
            }
        }
    }

    impl From<JwtValue> for Value {
        fn from(v: JwtValue) -> Self {
            match v {
                JwtValue::Str(s) => Self::Str(s),
                JwtValue::Int(i) => Self::Int(i),
                JwtValue::Bool(b) => Self::Bool(b),
            }
        }
    }

    /// An HS256 issuer and verifier with one shared secret.
    pub struct JwtPeer {
        encoding: EncodingKey,
        decoding: DecodingKey,
        validation: Validation,
    }

    impl JwtPeer {
        /// A peer keyed with `secret`. Time is checked against the request's
        /// `now`, as captoken does, so jsonwebtoken's wall-clock checks are off.
        #[must_use]
        pub fn new(secret: &[u8]) -> Self {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.required_spec_claims.clear();
            Self {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
            }
        }

        /// Signs the capability's claims.
        ///
        /// # Errors
        /// A jsonwebtoken error, as text.
        pub fn issue(&self, cap: &Capability) -> Result<String, String> {
            let claims = Claims {
                jti: cap.id.to_string(),
                iss: cap.issuer.to_string(),
                sub: cap.subject.principal.clone(),
                iat: cap.issued_at,
                nbf: cap.not_before,
                exp: cap.expires_at,
                depth: cap.max_depth,
                grants: cap
                    .grants
                    .iter()
                    .map(|g| JwtGrant {
                        srv: g.server.clone(),
                        tool: g.tool.clone(),
                        args: g
                            .args
                            .iter()
                            .map(|(k, c)| {
                                let c = match c {
                                    Constraint::Any => JwtConstraint::Any(true),
                                    Constraint::Exact(v) => JwtConstraint::Eq(v.into()),
                                    Constraint::Prefix(p) => JwtConstraint::Prefix(p.clone()),
                                    Constraint::Path(d) => JwtConstraint::Path(d.clone()),
                                    Constraint::OneOf(s) => {
                                        JwtConstraint::In(s.iter().map(JwtValue::from).collect())
                                    }
                                    Constraint::Range { min, max } => {
                                        JwtConstraint::Range(*min, *max)
                                    }
                                };
                                (k.clone(), c)
                            })
                            .collect(),
                    })
                    .collect(),
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
                .map_err(|e| e.to_string())
        }

        /// Verifies the signature, decodes the claims and authorizes the request.
        ///
        /// # Errors
        /// Why the token is refused, as text.
        pub fn verify(&self, token: &str, request: &Request) -> Result<(), String> {
            let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
                .map_err(|e| e.to_string())?
                .claims;
            let mut cap = Capability::builder(KeyId::new(claims.iss).map_err(|e| e.to_string())?)
                .id(TokenId([0; 16]))
                .subject(claims.sub)
                .issued_at(claims.iat)
                .valid_from(0)
                .valid_until(1)
                .build()
                .map_err(|e| e.to_string())?;
            cap.grants = claims
                .grants
                .into_iter()
                .map(|g| Grant {
                    server: g.srv,
                    tool: g.tool,
                    args: g
                        .args
                        .into_iter()
                        .map(|(k, c)| {
                            let c = match c {
                                JwtConstraint::Any(_) => Constraint::Any,
                                JwtConstraint::Eq(v) => Constraint::Exact(v.into()),
                                JwtConstraint::Prefix(p) => Constraint::Prefix(p),
                                JwtConstraint::Path(d) => Constraint::Path(d),
                                JwtConstraint::In(s) => {
                                    Constraint::OneOf(s.into_iter().map(Value::from).collect())
                                }
                                JwtConstraint::Range(min, max) => Constraint::Range { min, max },
                            };
                            (k, c)
                        })
                        .collect(),
                })
                .collect();
            cap.not_before = claims.nbf;
            cap.expires_at = claims.exp;
            cap.max_depth = claims.depth;
            cap.authorizes(request)
                .map(|_| ())
                .map_err(|r| r.to_string())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use captoken_core_types::testing::workload;

        #[test]
        fn workload_round_trips_and_binds() {
            let peer = JwtPeer::new(&[3; 32]);
            let token = peer
                .issue(&workload::capability(KeyId::new("k1").unwrap()))
                .unwrap();
            assert!(peer.verify(&token, &workload::request(0)).is_ok());
            assert!(
                peer.verify(&token, &workload::request(0).with_arg("mode", "rw"))
                    .is_err()
            );
            assert!(
                JwtPeer::new(&[4; 32])
                    .verify(&token, &workload::request(0))
                    .is_err()
            );
            let expired = Request {
                now: workload::NOT_BEFORE + workload::VALIDITY,
                ..workload::request(0)
            };
            assert!(peer.verify(&token, &expired).is_err());
        }
    }
}

/// `tenuo` warrants: Ed25519-signed warrant chains whose every call carries the
/// holder's proof-of-possession signature.
///
/// What tenuo cannot express is refused with an error: a tool-server field (one
/// peer serves one server), two grants for one tool, `not_before`, a delegate
/// without its key. Arguments a grant does not constrain are allowed, as in
/// captoken (tenuo's `allow_unknown`).
///
/// Tenuo reads lifetimes from the wall clock at issuance, so captoken times are
/// carried as offsets, the one approximation: a warrant lives `expires_at -
/// not_before` seconds from the moment it is built, and a step that moves
/// expiry earlier by `n` seconds makes the child expire `n` seconds before its
/// parent (`n - 1` if a clock second passes while tenuo builds it; never after
/// the parent, to which the lifetime is capped). Verification runs at an
/// explicit instant (`as_of`, Unix seconds of the wall clock), not at the
/// request's `now`.
pub mod tenuo {
    use std::collections::HashMap;
    use std::time::Duration;

    use captoken_core_types::{Attenuation, Capability, Constraint, Request, Value};
    use tenuo::constraints::{ConstraintSet, ConstraintValue};
    use tenuo::wire::{self, WarrantStack};
    use tenuo::{Authorizer, Signature, SigningKey, warrant::Warrant};

    /// A chain link: the warrant and the captoken capability it carries.
    #[derive(Clone, Debug)]
    pub struct Link {
        /// The tenuo warrant.
        pub warrant: Warrant,
        /// The capability it was built from.
        pub capability: Capability,
    }

    /// An issuer (the root key), one holder key and an authorizer that trusts the
    /// issuer, for the tools of one server.
    pub struct TenuoPeer {
        server: String,
        issuer: SigningKey,
        holder: SigningKey,
        authorizer: Authorizer,
    }

    fn err(e: impl std::fmt::Display) -> String {
        e.to_string()
    }

    fn value(v: &Value) -> ConstraintValue {
        match v {
            Value::Str(s) => ConstraintValue::String(s.clone()),
            Value::Int(i) => ConstraintValue::Integer(*i),
            Value::Bool(b) => ConstraintValue::Boolean(*b),
        }
    }

    /// An `i64` as the `f64` of a tenuo range, refused where `f64` would round it.
    fn bound(i: i64) -> Result<f64, String> {
        const EXACT: i64 = 1 << 53;
        if (-EXACT..=EXACT).contains(&i) {
            #[allow(clippy::cast_precision_loss, reason = "checked to be exact above")]
            Ok(i as f64)
        } else {
            Err(format!("range bound {i} is not exact as a tenuo f64"))
        }
    }

    fn constraint(c: &Constraint) -> Result<tenuo::Constraint, String> {
        Ok(match c {
            Constraint::Any => tenuo::Wildcard::new().into(),
            Constraint::Exact(v) => tenuo::Exact::new(value(v)).into(),
            Constraint::Prefix(p) => {
                // A tenuo prefix is a glob with one trailing `*`; glob syntax in
                // the prefix itself would change its meaning.
                if p.contains(['*', '?', '[', ']', '{', '}', '\\', '!']) {
                    return Err(format!("prefix {p:?} has glob syntax"));
                }
                tenuo::Pattern::new(&format!("{p}*")).map_err(err)?.into()
            }
            // Strictly under the directory. Tenuo normalises `..` lexically where
            // captoken denies it: the same verdict on the workload, not on hostile paths.
            Constraint::Path(d) => {
                let root = match captoken_core_types::path::base(d) {
                    "" => "/",
                    base => base,
                };
                tenuo::Subpath::with_options(root, true, false)
                    .map_err(err)?
                    .into()
            }
            Constraint::OneOf(s) => tenuo::OneOf::from_values(s.iter().map(value)).into(),
            Constraint::Range { min, max } => {
                tenuo::Range::new(Some(bound(*min)?), Some(bound(*max)?))
                    .map_err(err)?
                    .into()
            }
        })
    }

    impl TenuoPeer {
        /// A peer for `server`, with the issuer and holder keys derived from `seed`.
        #[must_use]
        pub fn new(server: &str, seed: &[u8; 32]) -> Self {
            let issuer = SigningKey::from_bytes(seed);
            let mut holder_seed = *seed;
            holder_seed.reverse();
            holder_seed[0] ^= 0xa5;
            let authorizer = Authorizer::new().with_trusted_root(issuer.public_key());
            Self {
                server: server.to_owned(),
                issuer,
                holder: SigningKey::from_bytes(&holder_seed),
                authorizer,
            }
        }

        /// The tools of `cap` as tenuo capabilities (tool name to constraints).
        fn tools(&self, cap: &Capability) -> Result<Vec<(String, ConstraintSet)>, String> {
            let mut seen = std::collections::BTreeSet::new();
            cap.grants
                .iter()
                .map(|g| {
                    if g.server != self.server {
                        return Err(format!("tenuo has no server field: {}", g.server));
                    }
                    if !seen.insert(g.tool.as_str()) {
                        return Err(format!("tenuo holds one grant per tool: {}", g.tool));
                    }
                    let mut set = ConstraintSet::new();
                    // Captoken constrains the arguments it names and allows others.
                    set.set_allow_unknown(true);
                    for (arg, c) in &g.args {
                        set.insert(arg.clone(), constraint(c)?);
                    }
                    Ok((g.tool.clone(), set))
                })
                .collect()
        }

        /// A root warrant for `cap`, held by the holder key, living
        /// `expires_at - not_before` seconds from now.
        ///
        /// # Errors
        /// What tenuo cannot express, or a tenuo error, as text.
        pub fn issue(&self, cap: &Capability) -> Result<Link, String> {
            let ttl = cap
                .expires_at
                .checked_sub(cap.not_before)
                .ok_or("expires before it starts")?;
            let mut builder = Warrant::builder()
                .holder(self.holder.public_key())
                .agent_id(cap.subject.principal.clone())
                .max_depth(cap.max_depth)
                .ttl(Duration::from_secs(ttl));
            for (tool, set) in self.tools(cap)? {
                builder = builder.capability(tool, set);
            }
            let warrant = builder.build(&self.issuer).map_err(err)?;
            Ok(Link {
                warrant,
                capability: cap.clone(),
            })
        }

        /// The child of `parent` after `step`: captoken's strict re-issuance
        /// decides the child's grants, the holder key signs the delegation.
        ///
        /// # Errors
        /// A widening step, what tenuo cannot express (`not_before`, a new
        /// holder), or a tenuo error, as text.
        pub fn attenuate(&self, parent: &Link, step: &Attenuation) -> Result<Link, String> {
            if step.not_before.is_some() || step.delegate.is_some() {
                return Err("tenuo cannot express not_before or a delegate without its key".into());
            }
            let child = parent.capability.attenuate(step).map_err(err)?;
            let earlier = parent
                .capability
                .expires_at
                .checked_sub(child.expires_at)
                .ok_or("child outlives parent")?;
            let target = parent
                .warrant
                .expires_at()
                .timestamp()
                .checked_sub(i64::try_from(earlier).map_err(err)?)
                .ok_or("time out of range")?;
            let ttl =
                u64::try_from(target - wall_clock_now()).map_err(|_| "child already expired")?;
            // Captoken counts the steps left; tenuo bounds the absolute depth.
            let max_depth = parent
                .warrant
                .depth()
                .checked_add(1)
                .and_then(|d| d.checked_add(child.max_depth))
                .ok_or("depth out of range")?;
            let mut builder = parent
                .warrant
                .attenuate()
                .max_depth(max_depth)
                .ttl_capped_to_parent(Duration::from_secs(ttl));
            for (tool, set) in self.tools(&child)? {
                builder = builder.capability(tool, set);
            }
            let warrant = builder.build(&self.holder).map_err(err)?;
            Ok(Link {
                warrant,
                capability: child,
            })
        }

        /// The workload-style chain: `cap`, then each of `steps`.
        ///
        /// # Errors
        /// As [`Self::issue`] and [`Self::attenuate`].
        pub fn chain(&self, cap: &Capability, steps: &[Attenuation]) -> Result<Vec<Link>, String> {
            let mut links = vec![self.issue(cap)?];
            for step in steps {
                let next = self.attenuate(links.last().ok_or("empty chain")?, step)?;
                links.push(next);
            }
            Ok(links)
        }

        /// The chain's wire form: the CBOR warrant stack, root first.
        ///
        /// # Errors
        /// A tenuo encoding error, as text.
        pub fn encode(links: &[Link]) -> Result<Vec<u8>, String> {
            let stack = WarrantStack::new(links.iter().map(|l| l.warrant.clone()).collect());
            wire::encode_stack(&stack).map_err(err)
        }

        /// The request's arguments as tenuo values.
        fn args(request: &Request) -> HashMap<String, ConstraintValue> {
            request
                .args
                .iter()
                .map(|(k, v)| (k.clone(), value(v)))
                .collect()
        }

        /// The holder's proof of possession for `request` on the chain's leaf,
        /// made at `as_of` (Unix seconds).
        ///
        /// # Errors
        /// A tenuo error, as text.
        pub fn pop(
            &self,
            leaf: &Warrant,
            request: &Request,
            as_of: i64,
        ) -> Result<Signature, String> {
            leaf.sign_with_timestamp(
                &self.holder,
                &request.tool,
                &Self::args(request),
                Some(as_of),
            )
            .map_err(err)
        }

        /// Decodes the stack and authorizes `request` with the holder's `pop`
        /// at `as_of`: every warrant signature, the chain's narrowing, expiry,
        /// the leaf's constraints and the proof of possession.
        ///
        /// # Errors
        /// Why tenuo refuses, as text.
        pub fn verify(
            &self,
            stack: &[u8],
            request: &Request,
            pop: &Signature,
            as_of: i64,
        ) -> Result<(), String> {
            if request.server != self.server {
                return Err(format!(
                    "this peer serves {}, not {}",
                    self.server, request.server
                ));
            }
            let stack = wire::decode_stack(stack).map_err(err)?;
            let args = Self::args(request);
            self.authorizer
                .check_chain_with_pop_args_as_of(
                    &stack.0,
                    &request.tool,
                    &args,
                    &args,
                    Some(pop),
                    &[],
                    as_of,
                )
                .map(|_| ())
                .map_err(err)
        }
    }

    /// The wall clock in Unix seconds (negative before 1970), as tenuo reads it.
    #[must_use]
    pub fn wall_clock_now() -> i64 {
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => secs(since),
            Err(before) => -secs(before.duration()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::candidate::key_id;
        use captoken_core_types::testing::workload;

        fn chain(depth: usize) -> (TenuoPeer, Vec<Link>) {
            let peer = TenuoPeer::new(workload::SERVER, &[1; 32]);
            let links = peer
                .chain(&workload::capability(key_id()), &workload::steps(depth))
                .unwrap();
            (peer, links)
        }

        #[test]
        fn workload_verifies_at_every_depth_and_binds() {
            let (peer, links) = chain(16);
            let now = wall_clock_now();
            for depth in workload::DEPTHS {
                let stack = TenuoPeer::encode(&links[..=depth]).unwrap();
                let leaf = &links[depth].warrant;
                let ok = workload::request(depth);
                let pop = peer.pop(leaf, &ok, now).unwrap();
                assert_eq!(peer.verify(&stack, &ok, &pop, now), Ok(()), "depth {depth}");
                // Each argument outside the leaf's constraints is refused, even
                // with a proof of possession made for that very request.
                let outside = [
                    ok.clone().with_arg("mode", "rw"),
                    ok.clone()
                        .with_arg("limit", 1001 - i64::try_from(depth).unwrap()),
                    ok.clone().with_arg("path", "/etc/passwd"),
                    Request {
                        tool: "write_file".into(),
                        ..ok.clone()
                    },
                ];
                for bad in outside {
                    let pop = peer.pop(leaf, &bad, now).unwrap();
                    assert!(peer.verify(&stack, &bad, &pop, now).is_err(), "{bad:?}");
                }
                // An argument no grant names is allowed, as in captoken.
                let extra = ok.clone().with_arg("trace", true);
                let pop = peer.pop(leaf, &extra, now).unwrap();
                assert_eq!(peer.verify(&stack, &extra, &pop, now), Ok(()));
                let pop = peer.pop(leaf, &ok, now).unwrap();
                // A proof for another request, or after expiry, is refused.
                let other = ok.clone().with_arg("limit", 11);
                assert!(peer.verify(&stack, &other, &pop, now).is_err());
                let late = now + 3600;
                let pop = peer.pop(leaf, &ok, late).unwrap();
                assert!(peer.verify(&stack, &ok, &pop, late).is_err());
            }
        }

        #[test]
        fn deeper_prefix_is_narrower_and_tampering_is_refused() {
            let (peer, links) = chain(2);
            let now = wall_clock_now();
            // The depth-2 leaf refuses the depth-1 path.
            let stack = TenuoPeer::encode(&links).unwrap();
            let wide = workload::request(1);
            let pop = peer.pop(&links[2].warrant, &wide, now).unwrap();
            assert!(peer.verify(&stack, &wide, &pop, now).is_err());
            // Dropping the middle warrant breaks the chain.
            let gap = TenuoPeer::encode(&[links[0].clone(), links[2].clone()]).unwrap();
            let ok = workload::request(2);
            let pop = peer.pop(&links[2].warrant, &ok, now).unwrap();
            assert!(peer.verify(&gap, &ok, &pop, now).is_err());
            // Another issuer's chain is not trusted.
            let stranger = TenuoPeer::new(workload::SERVER, &[9; 32]);
            assert!(stranger.verify(&stack, &ok, &pop, now).is_err());
        }

        #[test]
        fn widening_and_inexpressible_steps_are_refused() {
            let (peer, links) = chain(1);
            let widen = Attenuation::new().constrain(
                captoken_core_types::ToolRef::new(workload::SERVER, "read_file"),
                "path",
                Constraint::Prefix("/".into()),
            );
            assert!(peer.attenuate(&links[1], &widen).is_err());
            let later = Attenuation::new().not_before(workload::NOW);
            assert!(peer.attenuate(&links[1], &later).is_err());
            let other = TenuoPeer::new("other.server", &[1; 32]);
            assert!(other.issue(&workload::capability(key_id())).is_err());
            // A second grant for `read_file` with other constraints.
            let mut twice = workload::capability(key_id());
            let mut second = twice.grants.first().unwrap().clone();
            second.args.insert("mode".into(), Constraint::Any);
            assert!(twice.grants.insert(second));
            assert!(peer.issue(&twice).is_err(), "two grants for one tool");
        }
    }
}
