//! The libmacaroons v2 wire formats (binary and JSON) of a macaroon, with libmacaroons' field limits.
//!
//! # v2 binary
//!
//! As specified by libmacaroons (`doc/format.txt`) and written by pymacaroons and
//! go-macaroon:
//!
//! ```text
//! macaroon = 0x02 header caveat* EOS signature
//! header   = [field(1, location)] field(2, identifier) EOS
//! caveat   = [field(1, location)] field(2, caveat id) [field(4, verification id)] EOS
//! signature = field(6, 32 bytes)
//! field(t, data) = varint(t) varint(len(data)) data        EOS = 0x00
//! ```
//!
//! Varints are unsigned LEB128. This decoder is strict: varints must be minimal,
//! fields of a section must come in the order above, a first-party caveat (no
//! verification id) may not carry a location, the signature must be 32 bytes and
//! nothing may follow it. Limits: every field at most [`MAX_FIELD_LEN`] bytes
//! (libmacaroons' `MACAROON_MAX_STRLEN`), at most [`MAX_CAVEATS`] caveats
//! (libmacaroons' `MACAROON_MAX_CAVEATS`), and a whole macaroon at most
//! [`MAX_MACAROON_LEN`] bytes (captoken's own bound). The text form is the URL-safe
//! base64 of the binary form, without padding.
//!
//! # v2 JSON
//!
//! The libmacaroons / go-macaroon v2 JSON object:
//!
//! ```text
//! {"v":2, "l":location, "i"|"i64":identifier, "c":[{"l":…, "i"|"i64":…, "v"|"v64":…}, …], "s"|"s64":signature}
//! ```
//!
//! A field named `x64` carries bytes in base64 (URL-safe or standard, padded or
//! not); a field named `x` carries bytes that are valid UTF-8 as a JSON string.
//! `"v"` is optional on input and must be `2` when present. Unknown members, a
//! field given both ways, and anything the binary form refuses are errors. The
//! writer emits `"v":2`, `"i"`, `"v"` and `"l"` as strings when the bytes are
//! UTF-8 (their `64` forms otherwise) and always `"s64"`, in URL-safe base64
//! without padding.

use base64ct::{Base64, Base64Unpadded, Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

/// The version byte of the v2 binary format.
pub const VERSION: u8 = 2;
/// The longest field accepted: libmacaroons' `MACAROON_MAX_STRLEN`.
pub const MAX_FIELD_LEN: usize = 32_768;
/// The most caveats accepted: libmacaroons' `MACAROON_MAX_CAVEATS`.
pub const MAX_CAVEATS: usize = 65_536;
/// The largest v2 binary macaroon this crate reads or writes, in bytes.
pub const MAX_MACAROON_LEN: usize = 64 * 1024;
/// The largest v2 JSON macaroon this crate reads, in bytes (room for base64 and
/// JSON escapes of a [`MAX_MACAROON_LEN`] macaroon).
pub const MAX_JSON_LEN: usize = 6 * MAX_MACAROON_LEN;
/// The length of a macaroon signature (HMAC-SHA256).
pub const SIGNATURE_LEN: usize = 32;

const FIELD_EOS: u64 = 0;
const FIELD_LOCATION: u64 = 1;
const FIELD_IDENTIFIER: u64 = 2;
const FIELD_VID: u64 = 4;
const FIELD_SIGNATURE: u64 = 6;

/// One caveat of a macaroon.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caveat {
    /// The third party's location hint (third-party caveats only; not authenticated).
    pub location: Option<Vec<u8>>,
    /// The caveat identifier: a predicate for a first-party caveat, the third
    /// party's identifier for a third-party caveat.
    pub id: Vec<u8>,
    /// The verification id, present exactly for third-party caveats.
    pub vid: Option<Vec<u8>>,
}

impl Caveat {
    /// A first-party caveat.
    #[must_use]
    pub fn first_party(id: impl Into<Vec<u8>>) -> Self {
        Self {
            location: None,
            id: id.into(),
            vid: None,
        }
    }

    /// Is this a third-party caveat (one with a verification id)?
    #[must_use]
    pub fn is_third_party(&self) -> bool {
        self.vid.is_some()
    }
}

/// A macaroon as its wire formats carry it. Nothing here is authenticated.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Macaroon {
    /// The location hint (not authenticated).
    pub location: Option<Vec<u8>>,
    /// The identifier.
    pub identifier: Vec<u8>,
    /// The caveats, in order.
    pub caveats: Vec<Caveat>,
    /// The chain signature.
    pub signature: [u8; SIGNATURE_LEN],
}

impl std::fmt::Debug for Macaroon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signature is the bearer secret of the token: never print it.
        f.debug_struct("Macaroon")
            .field(
                "location",
                &self.location.as_deref().map(String::from_utf8_lossy),
            )
            .field("identifier", &String::from_utf8_lossy(&self.identifier))
            .field("caveats", &self.caveats.len())
            .finish_non_exhaustive()
    }
}

/// Why bytes or text are not a v2 macaroon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub enum WireError {
    /// Empty, or longer than [`MAX_MACAROON_LEN`] (or [`MAX_JSON_LEN`]).
    Length,
    /// The first byte is not the v2 version byte.
    Version,
    /// A varint is truncated, overlong or not minimal.
    Varint,
    /// A field runs past the end of the input.
    Truncated,
    /// A field is longer than [`MAX_FIELD_LEN`].
    FieldTooLong,
    /// An unknown field type, or fields out of order.
    Field,
    /// A section lacks its identifier.
    MissingIdentifier,
    /// A first-party caveat carries a location.
    FirstPartyLocation,
    /// More than [`MAX_CAVEATS`] caveats.
    TooManyCaveats,
    /// The signature is missing or not 32 bytes.
    Signature,
    /// Bytes follow the signature.
    Trailing,
    /// The text is not base64.
    Base64,
    /// The JSON does not have the v2 shape.
    Json,
}

impl WireError {
    /// The message, written once: `Display` prints it, and error types that
    /// carry a `&'static str` hold it.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Length => "macaroon length out of bounds",
            Self::Version => "not a v2 macaroon",
            Self::Varint => "bad varint",
            Self::Truncated => "truncated field",
            Self::FieldTooLong => "field too long",
            Self::Field => "unexpected field",
            Self::MissingIdentifier => "missing identifier",
            Self::FirstPartyLocation => "location on a first-party caveat",
            Self::TooManyCaveats => "too many caveats",
            Self::Signature => "bad signature field",
            Self::Trailing => "trailing bytes",
            Self::Base64 => "not base64",
            Self::Json => "not a v2 JSON macaroon",
        }
    }
}

/// Appends an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = u8::try_from(n & 0x7f).unwrap_or(0);
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `field(t, data)`.
pub(crate) fn put_field(out: &mut Vec<u8>, field_type: u64, data: &[u8]) {
    put_varint(out, field_type);
    put_varint(out, u64::try_from(data.len()).unwrap_or(u64::MAX));
    out.extend_from_slice(data);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut n: u64 = 0;
        for i in 0..10u32 {
            let (&byte, rest) = self.rest.split_first().ok_or(WireError::Varint)?;
            self.rest = rest;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && bits > 1 {
                return Err(WireError::Varint);
            }
            n |= bits << (7 * i);
            if byte & 0x80 == 0 {
                // Minimal encoding: no trailing zero group (except the number 0 itself).
                if i > 0 && bits == 0 {
                    return Err(WireError::Varint);
                }
                return Ok(n);
            }
        }
        Err(WireError::Varint)
    }

    /// Reads a field type, then (unless EOS) its data.
    fn field(&mut self) -> Result<(u64, &'a [u8]), WireError> {
        let field_type = self.varint()?;
        if field_type == FIELD_EOS {
            return Ok((FIELD_EOS, &[]));
        }
        let len = usize::try_from(self.varint()?).map_err(|_| WireError::FieldTooLong)?;
        if len > MAX_FIELD_LEN {
            return Err(WireError::FieldTooLong);
        }
        let (data, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(WireError::Truncated)?;
        self.rest = rest;
        Ok((field_type, data))
    }

    /// Reads one section up to its EOS: fields in strictly increasing type order.
    fn section(&mut self) -> Result<Vec<(u64, &'a [u8])>, WireError> {
        let mut fields: Vec<(u64, &'a [u8])> = Vec::new();
        loop {
            let (field_type, data) = self.field()?;
            if field_type == FIELD_EOS {
                return Ok(fields);
            }
            if fields.last().is_some_and(|(prev, _)| *prev >= field_type) || fields.len() >= 3 {
                return Err(WireError::Field);
            }
            fields.push((field_type, data));
        }
    }
}

impl Macaroon {
    /// Decodes the v2 binary form.
    ///
    /// # Errors
    /// [`WireError`] for anything that is not a well-formed v2 macaroon within the limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.is_empty() || bytes.len() > MAX_MACAROON_LEN {
            return Err(WireError::Length);
        }
        let (&version, rest) = bytes.split_first().ok_or(WireError::Length)?;
        if version != VERSION {
            return Err(WireError::Version);
        }
        let mut r = Reader { rest };
        let (location, identifier) = match r.section()?.as_slice() {
            [(FIELD_IDENTIFIER, id)] => (None, id.to_vec()),
            [(FIELD_LOCATION, loc), (FIELD_IDENTIFIER, id)] => (Some(loc.to_vec()), id.to_vec()),
            [] | [(FIELD_LOCATION, _)] => return Err(WireError::MissingIdentifier),
            _ => return Err(WireError::Field),
        };
        let mut caveats = Vec::new();
        loop {
            let section = r.section()?;
            let caveat = match section.as_slice() {
                [] => break,
                [(FIELD_IDENTIFIER, id)] => Caveat::first_party(id.to_vec()),
                [(FIELD_IDENTIFIER, id), (FIELD_VID, vid)] => Caveat {
                    location: None,
                    id: id.to_vec(),
                    vid: Some(vid.to_vec()),
                },
                [
                    (FIELD_LOCATION, loc),
                    (FIELD_IDENTIFIER, id),
                    (FIELD_VID, vid),
                ] => Caveat {
                    location: Some(loc.to_vec()),
                    id: id.to_vec(),
                    vid: Some(vid.to_vec()),
                },
                [(FIELD_LOCATION, _), (FIELD_IDENTIFIER, _)] => {
                    return Err(WireError::FirstPartyLocation);
                }
                [(FIELD_LOCATION, _)]
                | [(FIELD_VID, _)]
                | [(FIELD_LOCATION, _), (FIELD_VID, _)] => {
                    return Err(WireError::MissingIdentifier);
                }
                _ => return Err(WireError::Field),
            };
            if caveats.len() >= MAX_CAVEATS {
                return Err(WireError::TooManyCaveats);
            }
            caveats.push(caveat);
        }
        let (field_type, sig) = r.field().map_err(|e| match e {
            WireError::Varint | WireError::Truncated => WireError::Signature,
            other => other,
        })?;
        if field_type != FIELD_SIGNATURE {
            return Err(WireError::Signature);
        }
        let signature: [u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| WireError::Signature)?;
        if !r.rest.is_empty() {
            return Err(WireError::Trailing);
        }
        Ok(Self {
            location,
            identifier,
            caveats,
            signature,
        })
    }

    /// Checks that the macaroon is within the limits the decoder enforces.
    ///
    /// # Errors
    /// [`WireError::FieldTooLong`], [`WireError::TooManyCaveats`] or
    /// [`WireError::FirstPartyLocation`]. The total length is checked by [`Macaroon::encode`].
    pub fn check_limits(&self) -> Result<(), WireError> {
        let mut fields = std::iter::once(&self.identifier)
            .chain(self.location.iter())
            .chain(self.caveats.iter().flat_map(|c| {
                std::iter::once(&c.id)
                    .chain(c.location.iter())
                    .chain(c.vid.iter())
            }));
        if fields.any(|f| f.len() > MAX_FIELD_LEN) {
            return Err(WireError::FieldTooLong);
        }
        if self.caveats.len() > MAX_CAVEATS {
            return Err(WireError::TooManyCaveats);
        }
        if self
            .caveats
            .iter()
            .any(|c| c.vid.is_none() && c.location.is_some())
        {
            return Err(WireError::FirstPartyLocation);
        }
        Ok(())
    }

    /// Encodes the v2 binary form.
    ///
    /// # Errors
    /// [`WireError`] when the macaroon exceeds a limit, so that everything this
    /// writes, [`Macaroon::decode`] reads back.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.check_limits()?;
        let mut out = vec![VERSION];
        if let Some(loc) = &self.location {
            put_field(&mut out, FIELD_LOCATION, loc);
        }
        put_field(&mut out, FIELD_IDENTIFIER, &self.identifier);
        out.push(0);
        for c in &self.caveats {
            if let Some(loc) = &c.location {
                put_field(&mut out, FIELD_LOCATION, loc);
            }
            put_field(&mut out, FIELD_IDENTIFIER, &c.id);
            if let Some(vid) = &c.vid {
                put_field(&mut out, FIELD_VID, vid);
            }
            out.push(0);
        }
        out.push(0);
        put_field(&mut out, FIELD_SIGNATURE, &self.signature);
        if out.len() > MAX_MACAROON_LEN {
            return Err(WireError::Length);
        }
        Ok(out)
    }

    /// Decodes the v2 JSON form.
    ///
    /// # Errors
    /// [`WireError::Json`] for JSON that is not a v2 macaroon, or any error of
    /// [`Macaroon::decode`] for contents outside its limits.
    pub fn from_json(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_JSON_LEN {
            return Err(WireError::Length);
        }
        let json: JsonMacaroon = serde_json::from_str(text).map_err(|_| WireError::Json)?;
        if json.version.is_some_and(|v| v != 2) {
            return Err(WireError::Version);
        }
        let identifier = either(json.i, json.i64)?.ok_or(WireError::MissingIdentifier)?;
        let location = either(json.l, json.l64)?;
        let signature = either(json.s, json.s64)?.ok_or(WireError::Signature)?;
        let signature: [u8; SIGNATURE_LEN] =
            signature.try_into().map_err(|_| WireError::Signature)?;
        let mut caveats = Vec::new();
        for c in json.c.unwrap_or_default() {
            if caveats.len() >= MAX_CAVEATS {
                return Err(WireError::TooManyCaveats);
            }
            caveats.push(Caveat {
                id: either(c.i, c.i64)?.ok_or(WireError::MissingIdentifier)?,
                vid: either(c.v, c.v64)?,
                location: either(c.l, c.l64)?,
            });
        }
        let m = Self {
            location,
            identifier,
            caveats,
            signature,
        };
        // The same limits as the binary form: whatever JSON reads, binary writes.
        m.encode()?;
        Ok(m)
    }

    /// Encodes the v2 JSON form.
    ///
    /// # Errors
    /// [`WireError`] when the macaroon exceeds a limit of the binary form.
    pub fn to_json(&self) -> Result<String, WireError> {
        self.check_limits()?;
        let (i, i64) = split(&self.identifier);
        let (l, l64) = self.location.as_deref().map(split).unwrap_or_default();
        let caveats: Vec<JsonCaveat> = self
            .caveats
            .iter()
            .map(|c| {
                let (i, i64) = split(&c.id);
                let (v, v64) = c.vid.as_deref().map(split).unwrap_or_default();
                let (l, l64) = c.location.as_deref().map(split).unwrap_or_default();
                JsonCaveat {
                    i,
                    i64,
                    v,
                    v64,
                    l,
                    l64,
                }
            })
            .collect();
        let json = JsonMacaroon {
            version: Some(2),
            l,
            l64,
            i,
            i64,
            c: (!caveats.is_empty()).then_some(caveats),
            s: None,
            s64: Some(Base64UrlUnpadded::encode_string(&self.signature)),
        };
        serde_json::to_string(&json).map_err(|_| WireError::Json)
    }
}

/// `(utf8, base64)`: the bytes as a JSON string when they are UTF-8, otherwise as base64.
fn split(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (Some(s.to_owned()), None),
        Err(_) => (None, Some(Base64UrlUnpadded::encode_string(bytes))),
    }
}

/// The bytes of a field given as a string or as base64, but not both.
fn either(text: Option<String>, b64: Option<String>) -> Result<Option<Vec<u8>>, WireError> {
    match (text, b64) {
        (Some(_), Some(_)) => Err(WireError::Json),
        (Some(s), None) => Ok(Some(s.into_bytes())),
        (None, Some(b)) => decode_base64(&b).map(Some),
        (None, None) => Ok(None),
    }
}

/// Decodes base64 in the URL-safe or the standard alphabet, with or without
/// padding (as libmacaroons' and go-macaroon's readers do). The alphabets may not be mixed.
///
/// # Errors
/// [`WireError::Base64`].
pub fn decode_base64(text: &str) -> Result<Vec<u8>, WireError> {
    let unpadded = text
        .strip_suffix("==")
        .or_else(|| text.strip_suffix('='))
        .unwrap_or(text);
    if unpadded.len() != text.len() && !text.len().is_multiple_of(4) {
        return Err(WireError::Base64);
    }
    let standard = unpadded.bytes().any(|b| b == b'+' || b == b'/');
    let decoded = if standard {
        Base64Unpadded::decode_vec(unpadded)
    } else {
        Base64UrlUnpadded::decode_vec(unpadded)
    };
    decoded.map_err(|_| WireError::Base64)
}

/// Base64 in the standard alphabet with padding, for tools that want it.
#[must_use]
pub fn encode_base64_standard(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonMacaroon {
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<Vec<JsonCaveat>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s64: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCaveat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l64: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Macaroon {
        Macaroon {
            location: Some(b"https://example.org/".to_vec()),
            identifier: b"keyid".to_vec(),
            caveats: vec![
                Caveat::first_party(b"account = 3735928559".to_vec()),
                Caveat {
                    location: Some(b"https://auth.example.org/".to_vec()),
                    id: b"third".to_vec(),
                    vid: Some(vec![0xff; 72]),
                },
            ],
            signature: [0xab; 32],
        }
    }

    #[test]
    fn binary_round_trip_and_layout() {
        let m = sample();
        let bytes = m.encode().unwrap();
        assert_eq!(bytes[0], 2);
        // Location field then identifier field in the header.
        assert_eq!(&bytes[1..3], &[1, 20]);
        assert_eq!(Macaroon::decode(&bytes).unwrap(), m);
        // Ends with EOS (caveats), then field 6 of 32 bytes.
        let n = bytes.len();
        assert_eq!(&bytes[n - 35..n - 32], &[0, 6, 32]);
    }

    #[test]
    fn json_round_trip() {
        let m = sample();
        let json = m.to_json().unwrap();
        assert!(json.starts_with(r#"{"v":2,"l":"https://example.org/","i":"keyid","c":[{"i":"account = 3735928559"},{"i":"third","v64":"#), "{json}");
        assert_eq!(Macaroon::from_json(&json).unwrap(), m);
    }

    #[test]
    fn json_accepts_libmacaroons_variants_and_refuses_ambiguity() {
        let sig = Base64::encode_string(&[1u8; 32]);
        let ok = format!(r#"{{"i64":"a2V5aWQ=","c":[{{"i":"x"}}],"s64":"{sig}"}}"#);
        let m = Macaroon::from_json(&ok).unwrap();
        assert_eq!(m.identifier, b"keyid");
        assert_eq!(m.signature, [1u8; 32]);
        for bad in [
            format!(r#"{{"i":"a","i64":"YQ","s64":"{sig}"}}"#),
            format!(r#"{{"v":1,"i":"a","s64":"{sig}"}}"#),
            format!(r#"{{"i":"a","s64":"{sig}","extra":1}}"#),
            format!(r#"{{"i":"a","c":[{{"i":"x","q":1}}],"s64":"{sig}"}}"#),
            format!(r#"{{"i":"a","c":[{{"l":"x","i":"y"}}],"s64":"{sig}"}}"#),
            r#"{"i":"a","s64":"AAAA"}"#.to_owned(),
            format!(r#"{{"s64":"{sig}"}}"#),
            "[]".to_owned(),
            "{".to_owned(),
        ] {
            assert!(Macaroon::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_binary_decoding() {
        let good = sample().encode().unwrap();
        // Every truncation fails; so does a trailing byte.
        for n in 0..good.len() {
            assert!(Macaroon::decode(&good[..n]).is_err(), "truncated at {n}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(Macaroon::decode(&longer), Err(WireError::Trailing));
        // A non-minimal varint (length 5 as 0x85 0x00).
        let bad = [2, 2, 0x85, 0x00, b'a', b'b', b'c', b'd', b'e', 0, 0, 6, 32];
        assert_eq!(Macaroon::decode(&bad), Err(WireError::Varint));
        // Fields out of order: identifier before location.
        let bad = [2, 2, 1, b'a', 1, 1, b'l', 0];
        assert_eq!(Macaroon::decode(&bad), Err(WireError::Field));
        // A first-party caveat with a location.
        let mut m = sample();
        m.caveats[0].location = Some(b"x".to_vec());
        assert_eq!(m.encode(), Err(WireError::FirstPartyLocation));
        // Version 1 (text) or anything else.
        assert_eq!(Macaroon::decode(b"MDAx"), Err(WireError::Version));
        // A field over the libmacaroons limit.
        let mut big = vec![2u8, 2];
        put_varint(&mut big, (MAX_FIELD_LEN + 1) as u64);
        big.extend(std::iter::repeat_n(b'a', MAX_FIELD_LEN + 1));
        assert_eq!(Macaroon::decode(&big), Err(WireError::FieldTooLong));
        let mut m = sample();
        m.identifier = vec![b'a'; MAX_FIELD_LEN + 1];
        assert_eq!(m.encode(), Err(WireError::FieldTooLong));
    }

    #[test]
    fn varints_round_trip() {
        for n in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            let mut r = Reader { rest: &out };
            assert_eq!(r.varint().unwrap(), n);
            assert!(r.rest.is_empty());
        }
        // Eleven bytes, or a tenth byte above 1, overflow.
        let mut r = Reader { rest: &[0xff; 11] };
        assert!(r.varint().is_err());
        let mut r = Reader {
            rest: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        };
        assert!(r.varint().is_err());
    }

    #[test]
    fn base64_variants() {
        let bytes = [0xfbu8, 0xff, 0x01, 0x02];
        for text in ["-_8BAg", "-_8BAg==", "+/8BAg", "+/8BAg=="] {
            assert_eq!(decode_base64(text).unwrap(), bytes, "{text}");
        }
        for bad in ["-/8BAg", "-_8BAg=", "!!", "-_8BA==="] {
            assert!(decode_base64(bad).is_err(), "{bad}");
        }
    }
}
