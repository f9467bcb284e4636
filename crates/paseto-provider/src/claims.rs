//! The JSON claims schema that carries a captoken capability in a PASETO payload, and the footer that names the key.
//!
//! ```text
//! {"iss":"<key id>","sub":"<principal>","holder":"ed25519:<base64url>",
//!  "jti":"<32 hex>","iat":"<RFC 3339>","nbf":"<RFC 3339>","exp":"<RFC 3339>",
//!  "grants":[{"server":"<id>","tool":"<name>","args":{"<arg>":<constraint>,…}},…],
//!  "max_depth":<u32>,"parent":{"jti":"<32 hex>","hash":"<64 hex>"}}
//! ```
//!
//! | claim | meaning |
//! | --- | --- |
//! | `iss` (registered) | the capability's issuer: the captoken key id of the signing key; must name the same key as the footer's PASERK id |
//! | `sub` (registered) | the subject's principal; a request must name it exactly |
//! | `holder` (custom, optional) | the subject's holder key, `ed25519:` then the 32-byte key in unpadded base64url |
//! | `jti` (registered) | the 128-bit token id, lower-case hex |
//! | `iat` (registered) | equal to `nbf`: the model has no separate issue time, and stating the start of validity keeps the encoding deterministic while satisfying validators that refuse an `iat` in the future |
//! | `nbf`, `exp` (registered) | the validity window `nbf <= now < exp`, RFC 3339 (written in UTC as `YYYY-MM-DDTHH:MM:SSZ`; see `rfc3339`) |
//! | `grants` (custom) | the grants, in the model's order; a grant's `args` maps argument names (ascending) to constraints |
//! | `max_depth` (custom) | how many more delegation steps are allowed |
//! | `parent` (custom, absent for a root) | the parent's token id and lineage hash (DESIGN.md §5), lower-case hex |
//!
//! A constraint is `"any"`, `{"eq":v}`, `{"prefix":"s"}`, `{"in":[v,…]}` (ascending,
//! no duplicates) or `{"range":[min,max]}`; a value `v` is a JSON string, integer
//! (signed 64-bit) or boolean. Claims are written in the order above with no
//! whitespace, so one capability has one encoding. A verifier refuses unknown
//! claims (a claim it does not understand may be a restriction it would fail
//! to enforce), duplicate claims, argument names, grants or set members,
//! non-canonical hex, and values of the wrong type. The footer is exactly
//! `{"kid":"<PASERK id>"}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::{
    Capability, Constraint, Error, Grant, HolderKey, KeyId, LineageHash, ParentRef, Subject,
    TokenId, Value,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::rfc3339;

/// The largest footer accepted, in bytes (captoken's is 60).
pub const MAX_FOOTER_LEN: usize = 256;

/// A capability as PASETO claims.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Claims {
    iss: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
    jti: String,
    iat: String,
    nbf: String,
    exp: String,
    grants: Vec<WireGrant>,
    max_depth: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<WireParent>,
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
    jti: String,
    hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireConstraint {
    Any,
    Eq(WireValue),
    Prefix(String),
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

const HOLDER_ED25519: &str = "ed25519:";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex of exactly `N` bytes (the only form captoken writes).
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let &[hi, lo] = pair else {
            return None;
        };
        *o = digit(hi)? << 4 | digit(lo)?;
    }
    Some(out)
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
        Constraint::OneOf(set) => WireConstraint::In(set.iter().cloned().map(WireValue).collect()),
        Constraint::Range { min, max } => WireConstraint::Range(*min, *max),
    }
}

fn constraint_from_wire(c: WireConstraint) -> Result<Constraint, &'static str> {
    Ok(match c {
        WireConstraint::Any => Constraint::Any,
        WireConstraint::Eq(v) => Constraint::Exact(v.0),
        WireConstraint::Prefix(p) => Constraint::Prefix(p),
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

impl Claims {
    /// The claims of a capability.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a time after year 9999.
    pub(crate) fn from_capability(cap: &Capability) -> Result<Self, Error> {
        let nbf = time(cap.not_before)?;
        Ok(Self {
            iss: cap.issuer.as_str().to_owned(),
            sub: cap.subject.principal.clone(),
            holder: cap.subject.holder_key.as_ref().map(|k| match k {
                HolderKey::Ed25519(key) => {
                    format!("{HOLDER_ED25519}{}", Base64UrlUnpadded::encode_string(key))
                }
            }),
            jti: hex(&cap.id.0),
            iat: nbf.clone(),
            nbf,
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
                jti: hex(&p.id.0),
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

    /// The capability these claims state, and their `iat` in Unix seconds.
    pub(crate) fn into_capability(self) -> Result<(Capability, u64), &'static str> {
        let issuer = KeyId::new(self.iss).map_err(|_| "iss is not a key id")?;
        let holder_key = match self.holder {
            None => None,
            Some(text) => {
                let b64 = text
                    .strip_prefix(HOLDER_ED25519)
                    .ok_or("holder key of an unknown type")?;
                let mut key = [0u8; 32];
                let decoded = Base64UrlUnpadded::decode(b64, &mut key)
                    .map_err(|_| "holder key is not 32 bytes of base64url")?;
                if decoded.len() != 32 {
                    return Err("holder key is not 32 bytes of base64url");
                }
                Some(HolderKey::Ed25519(key))
            }
        };
        let id = TokenId(unhex(&self.jti).ok_or("jti is not 32 lower-case hex digits")?);
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
            Some(p) => Some(ParentRef {
                id: TokenId(unhex(&p.jti).ok_or("parent jti is not 32 lower-case hex digits")?),
                hash: LineageHash(
                    unhex(&p.hash).ok_or("parent hash is not 64 lower-case hex digits")?,
                ),
            }),
        };
        Ok((
            Capability {
                id,
                issuer,
                subject: Subject {
                    principal: self.sub,
                    holder_key,
                },
                grants,
                not_before,
                expires_at,
                max_depth: self.max_depth,
                parent,
            },
            issued_at,
        ))
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

    fn decode(json: &str) -> Result<(Capability, u64), &'static str> {
        Claims::from_json(json.as_bytes())?.into_capability()
    }

    fn workload_json() -> String {
        let cap = workload::capability(KeyId::new("k1").unwrap());
        String::from_utf8(Claims::from_capability(&cap).unwrap().to_json().unwrap()).unwrap()
    }

    #[test]
    fn workload_claims_are_pinned() {
        assert_eq!(
            workload_json(),
            concat!(
                r#"{"iss":"k1","sub":"agent:planner-7","jti":"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a","#,
                r#""iat":"2026-01-01T00:00:00Z","nbf":"2026-01-01T00:00:00Z","exp":"2026-01-01T01:00:00Z","#,
                r#""grants":[{"server":"fs.internal","tool":"list_dir","args":{"limit":{"range":[0,1000]},"mode":{"eq":"ro"},"path":{"prefix":"/srv/data/"}}},"#,
                r#"{"server":"fs.internal","tool":"read_file","args":{"limit":{"range":[0,1000]},"mode":{"eq":"ro"},"path":{"prefix":"/srv/data/"}}}],"#,
                r#""max_depth":16}"#
            )
        );
    }

    proptest! {
        /// Every generated capability (with a parent and a holder key) survives the round trip.
        #[test]
        fn round_trip(mut cap in testing::capability(), parent in any::<Option<([u8; 16], [u8; 32])>>(), holder in any::<Option<[u8; 32]>>()) {
            cap.parent = parent.map(|(id, hash)| ParentRef { id: TokenId(id), hash: LineageHash(hash) });
            cap.subject.holder_key = holder.map(HolderKey::Ed25519);
            let json = Claims::from_capability(&cap).unwrap().to_json().unwrap();
            let (back, iat) = Claims::from_json(&json).unwrap().into_capability().unwrap();
            prop_assert_eq!(&back, &cap);
            prop_assert_eq!(iat, cap.not_before);
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
        let edits: [(&str, &str); 17] = [
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
            (r#"{"eq":"ro"}"#, r#"{"eq":1.0}"#),
            (r#"{"eq":"ro"}"#, r#"{"eq":null}"#),
            (r#"{"eq":"ro"}"#, r#"{"eq":"ro","prefix":"r"}"#),
            (
                r#""mode":{"eq":"ro"}"#,
                r#""mode":{"eq":"ro"},"mode":{"eq":"rw"}"#,
            ),
            (
                r#"{"range":[0,1000]}"#,
                r#"{"range":[0,9223372036854775808]}"#,
            ),
        ];
        for (from, to) in edits {
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
