//! Peer libraries doing the same job as a provider, driven over the same workload (they live in `eval` only).

/// `jsonwebtoken` HS256 carrying the capability's claims as compact JSON: what
/// users reach for instead of a home-grown HMAC token.
pub mod jwt {
    use std::collections::BTreeMap;

    use captoken_core_types::{
        Capability, Constraint, Grant, KeyId, Request, Subject, TokenId, Value,
    };
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    use serde::{Deserialize, Serialize};

    /// The claims: registered names where JWT has them, short custom names otherwise.
    #[derive(Serialize, Deserialize)]
    struct Claims {
        jti: String,
        iss: String,
        sub: String,
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
            let cap = Capability {
                id: TokenId([0; 16]),
                issuer: KeyId::new(claims.iss).map_err(|e| e.to_string())?,
                subject: Subject::new(claims.sub),
                grants: claims
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
                                    JwtConstraint::In(s) => {
                                        Constraint::OneOf(s.into_iter().map(Value::from).collect())
                                    }
                                    JwtConstraint::Range(min, max) => {
                                        Constraint::Range { min, max }
                                    }
                                };
                                (k, c)
                            })
                            .collect(),
                    })
                    .collect(),
                not_before: claims.nbf,
                expires_at: claims.exp,
                max_depth: claims.depth,
                parent: None,
            };
            cap.authorizes(request).map_err(|r| r.to_string())
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
