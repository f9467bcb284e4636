//! The binary layout of an HMAC token: a versioned header, a postcard body, and an HMAC-SHA256 tag.
//!
//! ```text
//! offset  size  field
//! 0       1     version, 0x02 (version 1, without `issued_at`, holder binding,
//!               parent format and `Path`, is refused)
//! 1       1     n, length of the key id (1..=64)
//! 2       n     key id, printable ASCII (the capability's issuer)
//! 2+n     b     body: the capability less its issuer, in postcard 1.x
//! 2+n+b   32    HMAC-SHA256 under the key id's secret, over bytes 0..2+n+b
//! ```
//!
//! The body is postcard's encoding of [`Body`]: fields in declaration order,
//! integers as LEB128 varints, strings and sequences length-prefixed, maps and
//! sets in ascending order (so the encoding of a capability is deterministic),
//! enums by variant index. A decoder accepts only the canonical body: one that
//! postcard consumes exactly and that re-encodes to the same bytes. Trailing
//! bytes, sets or maps out of order or with duplicates, and overlong varints
//! (all of which postcard itself reads) are malformed, so that one capability
//! has one body and one lineage hash. A token is at most [`MAX_TOKEN_LEN`] bytes.

use std::collections::BTreeSet;

use captoken_core_types::{Capability, Grant, KeyId, ParentRef, Subject, TokenId};
use serde::{Deserialize, Serialize};

/// The only version this crate reads and writes.
pub const VERSION: u8 = 2;
/// Length of the HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;
/// The largest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The capability as encoded in the body (its issuer is the header's key id).
#[derive(Serialize, Deserialize)]
pub struct Body {
    /// Token id.
    pub id: TokenId,
    /// Issue time, Unix seconds.
    pub issued_at: u64,
    /// Subject (principal and holder binding).
    pub subject: Subject,
    /// Grants.
    pub grants: BTreeSet<Grant>,
    /// Start of validity.
    pub not_before: u64,
    /// End of validity.
    pub expires_at: u64,
    /// Remaining delegation depth.
    pub max_depth: u32,
    /// Parent credential.
    pub parent: Option<ParentRef>,
}

/// A token split into its parts; nothing here is authenticated yet.
#[derive(Debug)]
pub struct Framed<'a> {
    /// The key id from the header.
    pub key_id: KeyId,
    /// Header and body: the bytes the tag covers.
    pub signed: &'a [u8],
    /// The body alone.
    pub body: &'a [u8],
    /// The tag.
    pub tag: &'a [u8],
}

/// Why bytes are not an HMAC token. Each message is written once, in
/// [`WireError::describe`], which `Display` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than the smallest possible token, or longer than [`MAX_TOKEN_LEN`].
    Length,
    /// The version byte is not [`VERSION`].
    Version,
    /// The key id is empty, too long or not printable ASCII.
    KeyId,
    /// The body does not decode exactly, or is not the canonical encoding.
    Body,
    /// The capability does not fit in [`MAX_TOKEN_LEN`].
    TooLarge,
}

impl WireError {
    /// The message, static so that error types carrying a `&'static str` can hold it.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Length => "token length out of bounds",
            Self::Version => "unsupported token version",
            Self::KeyId => "invalid key id",
            Self::Body => "body does not decode",
            Self::TooLarge => "capability too large for a token",
        }
    }
}

/// Splits a token into header, body and tag, checking the framing only.
///
/// # Errors
/// [`WireError`] for bad length, version or key id.
pub fn frame(bytes: &[u8]) -> Result<Framed<'_>, WireError> {
    if bytes.len() > MAX_TOKEN_LEN {
        return Err(WireError::Length);
    }
    let (signed, tag) = bytes
        .split_last_chunk::<TAG_LEN>()
        .ok_or(WireError::Length)?;
    let (&[version, n], rest) = signed.split_first_chunk::<2>().ok_or(WireError::Length)?;
    if version != VERSION {
        return Err(WireError::Version);
    }
    let (kid, body) = rest
        .split_at_checked(usize::from(n))
        .ok_or(WireError::Length)?;
    let kid = std::str::from_utf8(kid).map_err(|_| WireError::KeyId)?;
    let key_id = KeyId::new(kid).map_err(|_| WireError::KeyId)?;
    Ok(Framed {
        key_id,
        signed,
        body,
        tag,
    })
}

/// Header and body for a capability, ready for its tag.
///
/// # Errors
/// [`WireError::TooLarge`] when the result would exceed [`MAX_TOKEN_LEN`].
pub fn encode_signed(cap: &Capability) -> Result<Vec<u8>, WireError> {
    let kid = cap.issuer.as_str().as_bytes();
    let n = u8::try_from(kid.len()).map_err(|_| WireError::KeyId)?;
    let body = Body {
        id: cap.id,
        issued_at: cap.issued_at,
        subject: cap.subject.clone(),
        grants: cap.grants.clone(),
        not_before: cap.not_before,
        expires_at: cap.expires_at,
        max_depth: cap.max_depth,
        parent: cap.parent,
    };
    let mut out = vec![VERSION, n];
    out.extend_from_slice(kid);
    let out = postcard::to_extend(&body, out).map_err(|_| WireError::TooLarge)?;
    if out.len().saturating_add(TAG_LEN) > MAX_TOKEN_LEN {
        return Err(WireError::TooLarge);
    }
    Ok(out)
}

/// A postcard output that compares the encoding with the bytes it holds
/// instead of storing it: re-encoding without allocating, stopping at the
/// first difference.
struct SameAs<'a>(&'a [u8]);

impl postcard::ser_flavors::Flavor for SameAs<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 = self
            .0
            .strip_prefix(data)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(postcard::Error::SerializeBufferFull)
        }
    }
}

/// Decodes a framed token's body into its capability. Call only after the tag
/// has been verified, except for unverified inspection.
///
/// # Errors
/// [`WireError::Body`] when the body does not decode exactly or is not canonical.
pub fn decode(framed: &Framed<'_>) -> Result<Capability, WireError> {
    let (body, rest): (Body, &[u8]) =
        postcard::take_from_bytes(framed.body).map_err(|_| WireError::Body)?;
    if !rest.is_empty() {
        return Err(WireError::Body);
    }
    postcard::serialize_with_flavor(&body, SameAs(framed.body)).map_err(|_| WireError::Body)?;
    // Built field by field: a signed window may be empty (it then denies every
    // request), which the builder refuses.
    let mut cap = Capability::builder(framed.key_id.clone())
        .subject(body.subject)
        .id(body.id)
        .valid_from(0)
        .valid_until(1)
        .build()
        .map_err(|_| WireError::Body)?;
    cap.issued_at = body.issued_at;
    cap.grants = body.grants;
    cap.not_before = body.not_before;
    cap.expires_at = body.expires_at;
    cap.max_depth = body.max_depth;
    cap.parent = body.parent;
    Ok(cap)
}
