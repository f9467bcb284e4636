//! The JSON claims schema that carries a captoken capability in a PASETO payload, and the footer that names the key.
//!
//! Wire version 2. Every token is sealed and opened under the PASETO implicit
//! assertion [`IMPLICIT_ASSERTION`](crate::IMPLICIT_ASSERTION), the fixed bytes
//! `captoken/paseto/v2`: authenticated (covered by the signature or MAC), never
//! transmitted. It is the version marker of this schema. A version 1 token
//! (sealed under `captoken/paseto/claims/v1`) or any other PASETO the same key
//! made fails authentication and is refused, even where its JSON happens to fit
//! this schema; no key or schema is ever tried as a fallback.
//!
//! ```text
//! {"iss":"<key id>","sub":"<principal>","holder":"ed25519:<64 hex>" | "key_set",
//!  "jti":"<32 hex>","iat":"<RFC 3339>","nbf":"<RFC 3339>","exp":"<RFC 3339>",
//!  "grants":[{"server":"<id>","tool":"<name>","args":{"<arg>":<constraint>,…}},…],
//!  "max_depth":<u32>,"parent":{"fmt":"<format tag>","jti":"<32 hex>","hash":"<64 hex>"}}
//! ```
//!
//! | claim | meaning |
//! | --- | --- |
//! | `iss` (registered) | the capability's issuer: the captoken key id of the signing key; must name the same key as the footer's PASERK id |
//! | `sub` (registered) | the subject's principal; a request must name it exactly |
//! | `holder` (custom, absent for a bearer capability) | the subject's holder binding: `HolderKey`'s text form for one key (`ed25519:` and the 32-byte key in lower-case hex, or with core-types' `p256` feature `p256:` and the 33-byte compressed point), or exactly `key_set` for the principal's key set |
//! | `jti` (registered) | the 128-bit token id, lower-case hex |
//! | `iat` (registered) | the capability's `issued_at`: when the issuer made it (a re-issued child keeps its parent's, as `Capability::attenuate` does). It is reported in `Verified::issued_at` for key lifecycle (DESIGN.md §9) and is not a validity bound: only `nbf` and `exp` are |
//! | `nbf`, `exp` (registered) | the validity window `nbf <= now < exp`, RFC 3339 (written in UTC as `YYYY-MM-DDTHH:MM:SSZ`; see `rfc3339`) |
//! | `grants` (custom) | the grants, in the model's order; a grant's `args` maps argument names (ascending) to constraints |
//! | `max_depth` (custom) | how many more delegation steps are allowed |
//! | `parent` (custom, absent for a root) | the parent's format tag, token id and lineage hash (DESIGN.md §5), hex in lower case |
//!
//! A constraint is `"any"`, `{"eq":v}`, `{"prefix":"s"}` (byte-wise),
//! `{"path":"<dir>"}` (segment-aware, `Constraint::Path`), `{"in":[v,…]}`
//! (ascending, no duplicates) or `{"range":[min,max]}`; a value `v` is a JSON
//! string, integer (signed 64-bit) or boolean. Claims are written in the order
//! above with no whitespace, so one capability has one encoding. A verifier
//! refuses unknown claims (a claim it does not understand may be a restriction
//! it would fail to enforce), duplicate claims, argument names, grants or set
//! members, `null` for an absent claim, non-canonical hex, a `holder` of any
//! other form, an invalid parent format tag, values of the wrong type, and a
//! capability beyond the size bounds of `captoken_core_types::bounds`. A
//! signed window that is empty (`exp <= nbf`) decodes, and denies every
//! request. The footer is exactly
//! `{"kid":"<PASERK id>"}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use captoken_core_types::{
    Capability, Constraint, Error, Format, Grant, HolderBinding, HolderKey, KeyId, LineageHash,
    ParentRef, Subject, TokenId, Value,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::rfc3339;

/// The largest footer accepted, in bytes (captoken's is 60).
pub const MAX_FOOTER_LEN: usize = 256;

/// The `holder` claim of a subject bound to its principal's key set.
const HOLDER_KEY_SET: &str = "key_set";

/// A capability as PASETO claims.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Claims {
    iss: String,
    sub: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    holder: Option<String>,
    jti: String,
    iat: String,
    nbf: String,
    exp: String,
    grants: Vec<WireGrant>,
    max_depth: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    parent: Option<WireParent>,
}

/// An optional claim that, when present, holds a value: `null` is refused, so
/// that an absent claim has one encoding (no claim at all).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireGrant {
    server: String,
    tool: String,
    args: WireArgs,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireParent {
    fmt: String,
    jti: String,
    hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireConstraint {
    Any,
    Eq(WireValue),
    Prefix(String),
    Path(String),
    In(Vec<WireValue>),
    Range(i64, i64),
}

/// Argument constraints by name; decoding refuses a repeated name.
struct WireArgs(BTreeMap<String, WireConstraint>);

/// A value as its JSON type: string, integer or boolean.
struct WireValue(Value);

impl Serialize for WireArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for WireArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = WireArgs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of argument constraints")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireArgs, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((name, constraint)) = map.next_entry::<String, WireConstraint>()? {
                    if out.insert(name, constraint).is_some() {
                        return Err(de::Error::custom("duplicate argument name"));
                    }
                }
                Ok(WireArgs(out))
            }
        }
        d.deserialize_map(ArgsVisitor)
    }
}

impl Serialize for WireValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Value::Str(v) => s.serialize_str(v),
            Value::Int(v) => s.serialize_i64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
        }
    }
}

impl<'de> Deserialize<'de> for WireValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = WireValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a signed 64-bit integer or a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<WireValue, E> {
                Ok(WireValue(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireValue, E> {
                Ok(WireValue(Value::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireValue, E> {
                i64::try_from(v)
                    .map(|v| WireValue(Value::Int(v)))
                    .map_err(|_| E::custom("integer out of the signed 64-bit range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireValue, E> {
                Ok(WireValue(Value::Str(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<WireValue, E> {
                Ok(WireValue(Value::Str(v)))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

fn time(secs: u64) -> Result<String, Error> {
    rfc3339::format(secs).ok_or(Error::Unsupported(
        "a time after 9999-12-31T23:59:59Z cannot be written in RFC 3339",
    ))
}

fn constraint_to_wire(c: &Constraint) -> WireConstraint {
    match c {
        Constraint::Any => WireConstraint::Any,
        Constraint::Exact(v) => WireConstraint::Eq(WireValue(v.clone())),
        Constraint::Prefix(p) => WireConstraint::Prefix(p.clone()),
        Constraint::Path(d) => WireConstraint::Path(d.clone()),
        Constraint::OneOf(set) => WireConstraint::In(set.iter().cloned().map(WireValue).collect()),
        Constraint::Range { min, max } => WireConstraint::Range(*min, *max),
    }
}

fn constraint_from_wire(c: WireConstraint) -> Result<Constraint, &'static str> {
    Ok(match c {
        WireConstraint::Any => Constraint::Any,
        WireConstraint::Eq(v) => Constraint::Exact(v.0),
        WireConstraint::Prefix(p) => Constraint::Prefix(p),
        WireConstraint::Path(d) => Constraint::Path(d),
        WireConstraint::In(values) => {
            let len = values.len();
            let set: BTreeSet<Value> = values.into_iter().map(|v| v.0).collect();
            if set.len() != len {
                return Err("duplicate member in a one-of constraint");
            }
            Constraint::OneOf(set)
        }
        WireConstraint::Range(min, max) => Constraint::Range { min, max },
    })
}

fn holder_to_wire(binding: &HolderBinding) -> Result<String, Error> {
    match binding {
        HolderBinding::Key(key) => Ok(key.to_string()),
        HolderBinding::KeySet => Ok(HOLDER_KEY_SET.to_owned()),
        _ => Err(Error::Unsupported(
            "a holder binding this version cannot write",
        )),
    }
}

/// The subject of principal `sub` and `holder` claim `holder`.
fn subject_from_wire(sub: String, holder: Option<&str>) -> Result<Subject, &'static str> {
    Ok(match holder {
        None => Subject::new(sub),
        Some(HOLDER_KEY_SET) => Subject::bound_to_key_set(sub),
        Some(text) => Subject::bound_to_key(
            sub,
            HolderKey::parse(text).map_err(
                |_| "holder is neither a holder key (ed25519:<64 hex>, p256:<66 hex>) nor key_set",
            )?,
        ),
    })
}

impl Claims {
    /// The claims of a capability.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a time after year 9999.
    pub(crate) fn from_capability(cap: &Capability) -> Result<Self, Error> {
        Ok(Self {
            iss: cap.issuer.as_str().to_owned(),
            sub: cap.subject.principal.clone(),
            holder: cap
                .subject
                .binding
                .as_ref()
                .map(holder_to_wire)
                .transpose()?,
            jti: cap.id.to_hex(),
            iat: time(cap.issued_at)?,
            nbf: time(cap.not_before)?,
            exp: time(cap.expires_at)?,
            grants: cap
                .grants
                .iter()
                .map(|g| WireGrant {
                    server: g.server.clone(),
                    tool: g.tool.clone(),
                    args: WireArgs(
                        g.args
                            .iter()
                            .map(|(name, c)| (name.clone(), constraint_to_wire(c)))
                            .collect(),
                    ),
                })
                .collect(),
            max_depth: cap.max_depth,
            parent: cap.parent.map(|p| WireParent {
                fmt: p.format.tag().to_owned(),
                jti: p.id.to_hex(),
                hash: p.hash.to_hex(),
            }),
        })
    }

    /// The JSON payload: no whitespace, claims in declaration order, maps and sets ascending.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|e| Error::Format(Box::new(e)))
    }

    /// Decodes a payload strictly (see the module documentation).
    pub(crate) fn from_json(payload: &[u8]) -> Result<Self, &'static str> {
        serde_json::from_slice(payload).map_err(|_| "claims do not decode")
    }

    /// The capability these claims state.
    pub(crate) fn into_capability(self) -> Result<Capability, &'static str> {
        let issuer = KeyId::new(self.iss).map_err(|_| "iss is not a key id")?;
        let subject = subject_from_wire(self.sub, self.holder.as_deref())?;
        let id = TokenId::from_hex(&self.jti).map_err(|_| "jti is not 32 lower-case hex digits")?;
        let parse_time = |t: &str| rfc3339::parse(t).ok_or("time claim is not RFC 3339");
        let issued_at = parse_time(&self.iat)?;
        let not_before = parse_time(&self.nbf)?;
        let expires_at = parse_time(&self.exp)?;
        let count = self.grants.len();
        let mut grants = BTreeSet::new();
        for g in self.grants {
            let mut args = BTreeMap::new();
            for (name, c) in g.args.0 {
                args.insert(name, constraint_from_wire(c)?);
            }
            grants.insert(Grant {
                server: g.server,
                tool: g.tool,
                args,
            });
        }
        if grants.len() != count {
            return Err("duplicate grant");
        }
        let parent = match self.parent {
            None => None,
            Some(p) => Some(ParentRef::new(
                Format::parse(&p.fmt).map_err(|_| "parent fmt is not a format tag")?,
                TokenId::from_hex(&p.jti)
                    .map_err(|_| "parent jti is not 32 lower-case hex digits")?,
                LineageHash::from_hex(&p.hash)
                    .map_err(|_| "parent hash is not 64 lower-case hex digits")?,
            )),
        };
        // Built with a placeholder window, then given the signed one: a signed
        // window may be empty (it then denies every request), which the
        // builder refuses.
        let mut cap = Capability::builder(issuer)
            .subject(subject)
            .id(id)
            .valid_from(0)
            .valid_until(1)
            .build()
            .map_err(|_| "claims state no capability")?;
        cap.issued_at = issued_at;
        cap.not_before = not_before;
        cap.expires_at = expires_at;
        cap.grants = grants;
        cap.max_depth = self.max_depth;
        cap.parent = parent;
        cap.check_bounds()
            .map_err(|_| "capability beyond the size bounds")?;
        Ok(cap)
    }
}

/// The footer: the PASERK id of the key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Footer<'a> {
    kid: &'a str,
}

/// `{"kid":"<PASERK id>"}`.
pub(crate) fn footer(kid: &str) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(&Footer { kid }).map_err(|e| Error::Format(Box::new(e)))
}

/// The PASERK id a footer names. Nothing in it is authenticated yet.
pub(crate) fn footer_kid(footer: &[u8]) -> Result<&str, &'static str> {
    if footer.is_empty() {
        return Err("footer missing");
    }
    if footer.len() > MAX_FOOTER_LEN {
        return Err("footer too long");
    }
    // A `kid` with JSON escapes cannot be borrowed and is refused: PASERK ids are plain ASCII.
    serde_json::from_slice::<Footer<'_>>(footer)
        .map(|f| f.kid)
        .map_err(|_| "footer is not {\"kid\":\"<PASERK id>\"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use captoken_core_types::testing::{self, workload};
    use proptest::prelude::*;

    fn decode(json: &str) -> Result<Capability, &'static str> {
        Claims::from_json(json.as_bytes())?.into_capability()
    }

    fn json_of(cap: &Capability) -> String {
        String::from_utf8(Claims::from_capability(cap).unwrap().to_json().unwrap()).unwrap()
    }

    fn workload_json() -> String {
        json_of(&workload::capability(KeyId::new("k1").unwrap()))
    }

    #[test]
    fn workload_claims_are_pinned() {
        assert_eq!(
            workload_json(),
            concat!(
                r#"{"iss":"k1","sub":"agent:planner-7","jti":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a","#,
                r#""iat":"2026-01-01T00:00:00Z","nbf":"2026-01-01T00:00:00Z","exp":"2026-01-01T01:00:00Z","#,
                r#""grants":[{"server":"fs.internal","tool":"list_dir","args":{"limit":{"range":[0,1000]},"mode":{"eq":"ro"},"path":{"path":"/srv/data/"}}},"#,
                r#"{"server":"fs.internal","tool":"read_file","args":{"limit":{"range":[0,1000]},"mode":{"eq":"ro"},"path":{"path":"/srv/data/"}}}],"#,
                r#""max_depth":16}"#
            )
        );
    }

    /// `iat` is the capability's own `issued_at`, the holder binding and the
    /// parent's format are written as documented.
    #[test]
    fn issued_at_binding_and_parent_are_pinned() {
        let mut cap = workload::capability(KeyId::new("k1").unwrap());
        cap.issued_at = workload::NOT_BEFORE - 90;
        cap.grants = [Grant::new("s", "t").with_arg("p", Constraint::Prefix("a/".into()))]
            .into_iter()
            .collect();
        cap.subject = Subject::bound_to_key("agent:a", HolderKey::Ed25519([0xab; 32]));
        cap.parent = Some(ParentRef::new(
            crate::FORMAT_PUBLIC,
            TokenId([0x01; 16]),
            LineageHash([0xcd; 32]),
        ));
        let json = json_of(&cap);
        assert_eq!(
            json,
            concat!(
                r#"{"iss":"k1","sub":"agent:a","#,
                r#""holder":"ed25519:abababababababababababababababababababababababababababababababab","#,
                r#""jti":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a","#,
                r#""iat":"2025-12-31T23:58:30Z","nbf":"2026-01-01T00:00:00Z","exp":"2026-01-01T01:00:00Z","#,
                r#""grants":[{"server":"s","tool":"t","args":{"p":{"prefix":"a/"}}}],"max_depth":16,"#,
                r#""parent":{"fmt":"paseto-v4-public.cap2","jti":"01010101010101010101010101010101","#,
                r#""hash":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"}}"#
            )
        );
        assert_eq!(decode(&json).unwrap(), cap);
        cap.subject = Subject::bound_to_key_set("agent:a");
        let json = json_of(&cap);
        assert!(
            json.contains(r#""sub":"agent:a","holder":"key_set","jti""#),
            "{json}"
        );
        assert_eq!(decode(&json).unwrap(), cap);
    }

    /// A signed window that is empty decodes (and then denies every request).
    #[test]
    fn an_empty_window_decodes() {
        let good = workload_json();
        let empty = good.replacen(
            r#""exp":"2026-01-01T01:00:00Z""#,
            r#""exp":"2025-01-01T00:00:00Z""#,
            1,
        );
        let cap = decode(&empty).unwrap();
        assert!(cap.expires_at < cap.not_before);
        assert_eq!(json_of(&cap), empty);
    }

    proptest! {
        /// Every generated capability (with a parent, a holder binding and an
        /// issue time of its own) survives the round trip.
        #[test]
        fn round_trip(
            mut cap in testing::capability(),
            parent in any::<Option<(bool, [u8; 16], [u8; 32])>>(),
            holder in any::<Option<Option<[u8; 32]>>>(),
            issued_at in 0u64..=rfc3339::MAX_UNIX,
        ) {
            cap.parent = parent.map(|(public, id, hash)| {
                let format = if public { crate::FORMAT_PUBLIC } else { crate::FORMAT_LOCAL };
                ParentRef::new(format, TokenId(id), LineageHash(hash))
            });
            let principal = cap.subject.principal.clone();
            cap.subject = match holder {
                None => Subject::new(principal),
                Some(None) => Subject::bound_to_key_set(principal),
                Some(Some(key)) => Subject::bound_to_key(principal, HolderKey::Ed25519(key)),
            };
            cap.issued_at = issued_at;
            let json = Claims::from_capability(&cap).unwrap().to_json().unwrap();
            let back = Claims::from_json(&json).unwrap().into_capability().unwrap();
            prop_assert_eq!(&back, &cap);
            // One capability, one encoding.
            prop_assert_eq!(Claims::from_capability(&back).unwrap().to_json().unwrap(), json);
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn arbitrary_payloads_are_refused_or_decoded(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(claims) = Claims::from_json(&bytes) {
                let _ = claims.into_capability();
            }
            let _ = footer_kid(&bytes);
        }
    }

    #[test]
    fn strict_decoding() {
        let good = workload_json();
        assert!(decode(&good).is_ok());
        let edits = [
            (r#""max_depth":16"#, r#""max_depth":16,"aud":"gw""#),
            (r#""max_depth":16"#, r#""max_depth":16,"max_depth":17"#),
            (r#""max_depth":16"#, r#""max_depth":-1"#),
            (r#""max_depth":16"#, r#""max_depth":1.5"#),
            (r#""max_depth":16"#, r#""max_depth":"16""#),
            (r#""jti":"5a5a"#, r#""jti":"5A5A"#),
            (r#""jti":"5a5a"#, r#""jti":"5a5"#),
            (r#""iss":"k1""#, r#""iss":"k 1""#),
            (r#""iss":"k1","#, ""),
            (r#""exp":"2026-01-01T01:00:00Z""#, r#""exp":1767229200"#),
            (r#""nbf":"2026-01-01T00:00:00Z""#, r#""nbf":"2026-01-01""#),
            (r#""iat":"2026-01-01T00:00:00Z""#, r#""iat":"yesterday""#),
            (r#""iat":"2026-01-01T00:00:00Z","#, ""),
            (r#""max_depth":16"#, r#""max_depth":16,"parent":null"#),
            (r#"{"eq":"ro"}"#, r#"{"eq":1.0}"#),
            (r#"{"eq":"ro"}"#, r#"{"eq":null}"#),
            (r#"{"eq":"ro"}"#, r#"{"eq":"ro","prefix":"r"}"#),
            (r#"{"path":"/srv/data/"}"#, r#"{"path":1}"#),
            (r#"{"path":"/srv/data/"}"#, r#"{"path":["/srv/data/"]}"#),
            (r#"{"path":"/srv/data/"}"#, r#"{"dir":"/srv/data/"}"#),
            (
                r#""mode":{"eq":"ro"}"#,
                r#""mode":{"eq":"ro"},"mode":{"eq":"rw"}"#,
            ),
            (
                r#"{"range":[0,1000]}"#,
                r#"{"range":[0,9223372036854775808]}"#,
            ),
        ];
        let holder = |h: &str| format!(r#""sub":"agent:planner-7","holder":{h},"jti""#);
        let parent = |p: &str| format!(r#""max_depth":16,"parent":{p}}}"#);
        let key = "ab".repeat(32);
        let (jti, hash) = ("01".repeat(16), "cd".repeat(32));
        let mut edits: Vec<(&str, String)> = edits
            .iter()
            .map(|(from, to)| (*from, (*to).to_owned()))
            .collect();
        for bad in [
            format!(r#""ed25519:{}""#, key.to_uppercase()),
            format!(r#""ed25519:{}""#, &key[2..]),
            format!(r#""Ed25519:{key}""#),
            format!(r#""x25519:{key}""#),
            // Version 1 wrote the key in base64url.
            r#""ed25519:q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s""#.to_owned(),
            r#""keyset""#.to_owned(),
            r#""key_set ""#.to_owned(),
            r#""""#.to_owned(),
            "null".to_owned(),
            "true".to_owned(),
            r#"{"key_set":true}"#.to_owned(),
        ] {
            edits.push((r#""sub":"agent:planner-7","jti""#, holder(&bad)));
        }
        for bad in [
            // Version 1's parent, without the format.
            format!(r#"{{"jti":"{jti}","hash":"{hash}"}}"#),
            format!(r#"{{"fmt":"PASETO","jti":"{jti}","hash":"{hash}"}}"#),
            format!(r#"{{"fmt":"","jti":"{jti}","hash":"{hash}"}}"#),
            format!(
                r#"{{"fmt":"{}","jti":"{jti}","hash":"{hash}"}}"#,
                "a".repeat(33)
            ),
            format!(
                r#"{{"fmt":"paseto-v4-public.cap2","jti":"{jti}","hash":"{}"}}"#,
                hash.to_uppercase()
            ),
            format!(r#"{{"fmt":"paseto-v4-public.cap2","jti":"{jti}","hash":"{hash}","depth":1}}"#),
            format!(
                r#"{{"fmt":"paseto-v4-public.cap2","fmt":"paseto-v4-public.cap2","jti":"{jti}","hash":"{hash}"}}"#
            ),
        ] {
            edits.push((r#""max_depth":16}"#, parent(&bad)));
        }
        // Accepted: both bindings, and a parent of any well-formed format tag
        // (a chain that changes format is the lineage check's to deny).
        for (from, to) in [
            (
                r#""sub":"agent:planner-7","jti""#,
                holder(&format!(r#""ed25519:{key}""#)),
            ),
            (r#""sub":"agent:planner-7","jti""#, holder(r#""key_set""#)),
            (
                r#""max_depth":16}"#,
                parent(&format!(
                    r#"{{"fmt":"paseto-v4-local.cap2","jti":"{jti}","hash":"{hash}"}}"#
                )),
            ),
            (
                r#""max_depth":16}"#,
                parent(&format!(
                    r#"{{"fmt":"hmac-v2","jti":"{jti}","hash":"{hash}"}}"#
                )),
            ),
        ] {
            let fine = good.replacen(from, &to, 1);
            assert_ne!(fine, good);
            assert!(decode(&fine).is_ok(), "{fine}");
        }
        // A capability beyond the size bounds is refused even when signed.
        let grants_start = good.find(r#"[{"server""#).unwrap();
        let many: Vec<String> = (0..=captoken_core_types::bounds::MAX_GRANTS)
            .map(|i| format!(r#"{{"server":"s","tool":"t{i:03}","args":{{}}}}"#))
            .collect();
        let grants_end = good.find(r#","max_depth""#).unwrap();
        let too_many = format!(
            "{}[{}]{}",
            &good[..grants_start],
            many.join(","),
            &good[grants_end..]
        );
        assert_eq!(
            decode(&too_many).unwrap_err(),
            "capability beyond the size bounds"
        );
        let just_enough = format!(
            "{}[{}]{}",
            &good[..grants_start],
            many[1..].join(","),
            &good[grants_end..]
        );
        assert!(decode(&just_enough).is_ok());
        for (from, to) in &edits {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            assert!(decode(&bad).is_err(), "{bad}");
        }
        let grants_start = good.find(r#"{"server""#).unwrap();
        let grants_end = good.find(r#"],"max_depth""#).unwrap();
        let first =
            &good[grants_start..good[grants_start..].find("}}}").unwrap() + grants_start + 3];
        let doubled = format!("{}{first},{}", &good[..grants_start], &good[grants_start..]);
        assert_eq!(decode(&doubled).unwrap_err(), "duplicate grant");
        assert!(grants_end > grants_start);
        let in_dup = good.replacen(r#"{"eq":"ro"}"#, r#"{"in":["ro","ro"]}"#, 1);
        assert_eq!(
            decode(&in_dup).unwrap_err(),
            "duplicate member in a one-of constraint"
        );
        let in_ok = good.replacen(r#"{"eq":"ro"}"#, r#"{"in":[true,"ro",-3]}"#, 1);
        assert!(decode(&in_ok).is_ok());
    }

    #[test]
    fn footer_is_exactly_a_kid() {
        let kid = "k4.pid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let f = footer(kid).unwrap();
        assert_eq!(f, format!(r#"{{"kid":"{kid}"}}"#).into_bytes());
        assert_eq!(footer_kid(&f), Ok(kid));
        for bad in [
            "",
            "{}",
            r#"{"kid":1}"#,
            r#"{"kid":"a","wpk":"b"}"#,
            r#"{"kid":"a","kid":"b"}"#,
            r#"{"kid":"\u006b4"}"#,
            "kid",
        ] {
            assert!(footer_kid(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(footer_kid(format!(r#"{{"kid":"{}"}}"#, "a".repeat(300)).as_bytes()).is_err());
    }
}
