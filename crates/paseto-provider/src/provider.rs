//! The PASETO v4 `TokenProvider`s (`v4.public` and `v4.local`): issue, re-issue, verify live or cold, hash lineage.

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::{
    Attenuation, AttenuationMode, Capability, Denied, DenyReason, Error, Format, Inspection, KeyId,
    LineageEntry, LineageHash, ParentRef, Properties, Request, Token, TokenId, TokenProvider,
    Verified, VerifyContext, check_reissued_lineage,
};
use pasetors::token::UntrustedToken;
use pasetors::version4::{LocalToken, PublicToken, V4};
use pasetors::{Local, Public};

use crate::claims::{self, Claims};
use crate::key::{LocalKeyring, PublicKeyring};

/// The format tag of `v4.public` tokens, also their lineage-hash domain tag.
pub const FORMAT_PUBLIC: Format = Format::new("paseto-v4-public");
/// The format tag of `v4.local` tokens, also their lineage-hash domain tag.
pub const FORMAT_LOCAL: Format = Format::new("paseto-v4-local");
/// The PASETO implicit assertion of every captoken token: authenticated, never transmitted.
///
/// It binds a token to captoken's claims schema (version 1). A PASETO key may
/// sign other things too (session tokens, another service's grants); without
/// this binding any `v4` token that key ever made whose JSON happened to fit the
/// schema would be accepted as a capability. With it, a token verifies as a
/// captoken capability only if its signer meant it as one, at no cost in size.
/// A new schema version changes the assertion, so old and new tokens can never
/// be read under each other's rules.
pub const IMPLICIT_ASSERTION: &[u8] = b"captoken/paseto/claims/v1";
/// The longest token accepted, in bytes of its text form (which is also its binary form).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The longest chain of ancestors a verifier walks; longer (or cyclic) lineage is denied.
pub const MAX_CHAIN: usize = 256;

/// The revocation sentence of both PASETO formats' [`Properties`].
const REVOCATION: &str = "lineage-hash revocation list; cold verification of a re-issued chain also needs the issuer's lineage index";

/// An error of pasetors, which does not implement `std::error::Error` without its `std` feature.
#[derive(Debug, thiserror::Error)]
#[error("pasetors: {0:?}")]
struct LibraryError(pasetors::errors::Error);

fn library(e: pasetors::errors::Error) -> Error {
    Error::Format(Box::new(LibraryError(e)))
}

/// A token split by pasetors, its text checked canonical, with the PASERK id its
/// footer names. Nothing here is authenticated yet.
struct Framed<U> {
    untrusted: U,
    kid: String,
}

/// What one PASETO purpose does differently: parse, authenticate, seal.
trait Scheme {
    const FORMAT: Format;
    /// `v4.public.` or `v4.local.`.
    const HEADER: &'static str;
    type Untrusted;

    /// pasetors' parse of the text (header, base64, length).
    fn untrusted(text: &str) -> Result<Self::Untrusted, &'static str>;
    /// The decoded message (payload and signature, or nonce, ciphertext and tag) and footer.
    fn parts(untrusted: &Self::Untrusted) -> (&[u8], &[u8]);
    /// Authenticates (and decrypts) with the key the footer names, no other:
    /// the key's captoken key id and the payload.
    fn open(&self, framed: &Framed<Self::Untrusted>) -> Result<(KeyId, Vec<u8>), DenyReason>;
    /// The payload for unverified inspection; `v4.local` must decrypt (and so authenticate).
    fn peek(&self, framed: &Framed<Self::Untrusted>) -> Result<Vec<u8>, Error>;
    /// Signs or encrypts a payload with the key of `issuer`, footer naming that key.
    fn seal(&self, issuer: &KeyId, payload: &[u8]) -> Result<String, Error>;
}

/// Splits a token and checks its framing: length, UTF-8, header, base64, and
/// that the text is the one canonical encoding of its parts, so that no two
/// texts (and so no two lineage hashes) carry the same signed token.
fn frame<S: Scheme>(bytes: &[u8]) -> Result<Framed<S::Untrusted>, &'static str> {
    if bytes.len() > MAX_TOKEN_LEN {
        return Err("token too long");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "token is not UTF-8")?;
    let untrusted = S::untrusted(text)?;
    let (message, footer) = S::parts(&untrusted);
    let (m, f) = text
        .strip_prefix(S::HEADER)
        .and_then(|rest| rest.split_once('.'))
        .ok_or("footer missing")?;
    if m != Base64UrlUnpadded::encode_string(message)
        || f != Base64UrlUnpadded::encode_string(footer)
    {
        return Err("token text is not canonical");
    }
    let kid = claims::footer_kid(footer)?.to_owned();
    Ok(Framed { untrusted, kid })
}

/// `Error::UnknownKey` naming a PASERK id (PASERK ids are valid key ids).
fn unknown_paserk_id(kid: &str) -> Error {
    KeyId::new(kid).map_or(
        Error::Malformed("footer names no usable key id"),
        Error::UnknownKey,
    )
}

/// An authenticated capability and its `iat`.
struct Opened {
    cap: Capability,
    issued_at: u64,
}

/// Authenticates a token and decodes its capability: format, framing, key by
/// PASERK id, signature or tag, claims, and `iss` naming the same key.
fn open<S: Scheme>(s: &S, token: &Token) -> Result<Opened, DenyReason> {
    if token.format() != S::FORMAT {
        return Err(DenyReason::Malformed("token of another format"));
    }
    let framed = frame::<S>(token.as_bytes()).map_err(DenyReason::Malformed)?;
    let (key_id, payload) = s.open(&framed)?;
    let (cap, issued_at) = Claims::from_json(&payload)
        .and_then(Claims::into_capability)
        .map_err(DenyReason::Malformed)?;
    if cap.issuer != key_id {
        // Signed by a key this verifier knows under another key id.
        return Err(DenyReason::UnknownKey);
    }
    Ok(Opened { cap, issued_at })
}

/// [`open`], for callers that report an [`Error`] rather than a denial.
fn open_or_error<S: Scheme>(s: &S, token: &Token) -> Result<Capability, Error> {
    check_format::<S>(token)?;
    open(s, token)
        .map(|o| o.cap)
        .map_err(|reason| match reason {
            DenyReason::UnknownKey => match frame::<S>(token.as_bytes()) {
                Ok(framed) => unknown_paserk_id(&framed.kid),
                Err(m) => Error::Malformed(m),
            },
            DenyReason::BadSignature => Error::BadSignature,
            DenyReason::Malformed(m) => Error::Malformed(m),
            _ => Error::Malformed("token does not authenticate"),
        })
}

fn check_format<S: Scheme>(token: &Token) -> Result<(), Error> {
    if token.format() == S::FORMAT {
        Ok(())
    } else {
        Err(Error::WrongFormat {
            expected: S::FORMAT.tag(),
            found: token.format().tag(),
        })
    }
}

/// The capability a token states, without authentication where the format allows.
fn unverified<S: Scheme>(s: &S, token: &Token) -> Result<Capability, Error> {
    check_format::<S>(token)?;
    let framed = frame::<S>(token.as_bytes()).map_err(Error::Malformed)?;
    let payload = s.peek(&framed)?;
    let (cap, _) = Claims::from_json(&payload)
        .and_then(Claims::into_capability)
        .map_err(Error::Malformed)?;
    Ok(cap)
}

fn issue<S: Scheme>(s: &S, capability: &Capability) -> Result<Token, Error> {
    let payload = Claims::from_capability(capability)?.to_json()?;
    let text = s.seal(&capability.issuer, &payload)?;
    if text.len() > MAX_TOKEN_LEN {
        return Err(Error::Unsupported("capability too large for a token"));
    }
    Ok(Token::new(S::FORMAT, text.into_bytes()))
}

fn attenuate<S: Scheme>(s: &S, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
    check_format::<S>(parent)?;
    let parent_cap = open_or_error(s, parent)?;
    let mut child = parent_cap.attenuate(step)?;
    child.id = TokenId::random()?;
    child.parent = Some(ParentRef {
        id: parent_cap.id,
        hash: LineageHash::compute(S::FORMAT, parent.as_bytes()),
    });
    issue(s, &child)
}

fn verify<S: Scheme>(
    s: &S,
    token: &Token,
    request: &Request,
    ctx: &VerifyContext<'_>,
) -> Result<Verified, Denied> {
    let Opened { cap, issued_at } = open(s, token)?;
    cap.authorizes(request)?;
    // captoken writes `iat` = `nbf`; a token from another issuer that claims to
    // be issued after the request is not valid yet either.
    if issued_at > request.now {
        return Err(DenyReason::NotYetValid.into());
    }
    let lineage_hash = LineageHash::compute(S::FORMAT, token.as_bytes());
    let chain_len =
        check_reissued_lineage(S::FORMAT, &lineage_hash, cap.parent, ctx, MAX_CHAIN, |t| {
            open(s, t).map(|a| (a.cap.id, a.cap.parent))
        })?;
    Ok(Verified {
        token_id: cap.id,
        key_id: cap.issuer,
        lineage_hash,
        chain_len,
    })
}

fn lineage_hash<S: Scheme>(token: &Token) -> Result<LineageHash, Error> {
    check_format::<S>(token)?;
    frame::<S>(token.as_bytes()).map_err(Error::Malformed)?;
    Ok(LineageHash::compute(S::FORMAT, token.as_bytes()))
}

fn index_entry<S: Scheme>(s: &S, token: &Token) -> Result<Option<LineageEntry>, Error> {
    // Authenticated: an index fed with forged rows would vouch for forged lineage.
    let cap = open_or_error(s, token)?;
    Ok(Some(LineageEntry {
        token_id: cap.id,
        hash: LineageHash::compute(S::FORMAT, token.as_bytes()),
        parent: cap.parent,
    }))
}

fn inspect<S: Scheme>(s: &S, token: &Token) -> Result<Inspection, Error> {
    let capability = unverified(s, token)?;
    Ok(Inspection {
        format: S::FORMAT,
        declared_parents: capability.parent.iter().map(|p| p.hash).collect(),
        capability,
        steps: Vec::new(),
    })
}

fn parse_bytes<S: Scheme>(bytes: &[u8]) -> Result<Token, Error> {
    frame::<S>(bytes).map_err(Error::Malformed)?;
    Ok(Token::new(S::FORMAT, bytes.to_vec()))
}

/// The text form is the binary form; bytes that are not UTF-8 (which no parsed
/// or issued token has) are shown with replacement characters.
fn to_text(token: &Token) -> String {
    String::from_utf8_lossy(token.as_bytes()).into_owned()
}

/// `v4.public` tokens: Ed25519 signatures over captoken's claims, verifiable
/// with a public key, attenuated by re-issuance through the issuer.
///
/// The issuer's keyring holds [`crate::SigningKey`]s; a verifier's holds only
/// [`crate::VerifyingKey`]s. Canonical credential bytes for the lineage hash
/// are the token's text (DESIGN.md §5).
#[derive(Debug)]
pub struct PasetoPublicProvider {
    keys: PublicKeyring,
}

impl PasetoPublicProvider {
    /// A provider signing and verifying with these keys.
    #[must_use]
    pub fn new(keys: PublicKeyring) -> Self {
        Self { keys }
    }

    /// The keyring.
    #[must_use]
    pub fn keys(&self) -> &PublicKeyring {
        &self.keys
    }
}

impl Scheme for PasetoPublicProvider {
    const FORMAT: Format = FORMAT_PUBLIC;
    const HEADER: &'static str = PublicToken::HEADER;
    type Untrusted = UntrustedToken<Public, V4>;

    fn untrusted(text: &str) -> Result<Self::Untrusted, &'static str> {
        UntrustedToken::try_from(text).map_err(|_| "not a v4.public token")
    }

    fn parts(untrusted: &Self::Untrusted) -> (&[u8], &[u8]) {
        (untrusted.untrusted_message(), untrusted.untrusted_footer())
    }

    fn open(&self, framed: &Framed<Self::Untrusted>) -> Result<(KeyId, Vec<u8>), DenyReason> {
        let key = self
            .keys
            .by_paserk_id(&framed.kid)
            .ok_or(DenyReason::UnknownKey)?;
        let trusted =
            PublicToken::verify(key.key(), &framed.untrusted, None, Some(IMPLICIT_ASSERTION))
                .map_err(|_| DenyReason::BadSignature)?;
        Ok((key.id().clone(), trusted.payload().as_bytes().to_vec()))
    }

    fn peek(&self, framed: &Framed<Self::Untrusted>) -> Result<Vec<u8>, Error> {
        Ok(framed.untrusted.untrusted_payload().to_vec())
    }

    fn seal(&self, issuer: &KeyId, payload: &[u8]) -> Result<String, Error> {
        let key = self
            .keys
            .signing(issuer)
            .ok_or_else(|| Error::UnknownKey(issuer.clone()))?;
        let footer = claims::footer(key.verifying_key().paserk_id())?;
        PublicToken::sign(
            key.secret(),
            payload,
            Some(&footer),
            Some(IMPLICIT_ASSERTION),
        )
        .map_err(library)
    }
}

impl TokenProvider for PasetoPublicProvider {
    fn format(&self) -> Format {
        FORMAT_PUBLIC
    }

    fn properties(&self) -> Properties {
        Properties {
            attenuation: AttenuationMode::Reissue,
            public_key_verification: true,
            // Ed25519 signatures are deterministic and the claims have one encoding.
            deterministic_encoding: true,
            third_party_caveats: false,
            revocation: REVOCATION,
        }
    }

    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        issue(self, capability)
    }

    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
        attenuate(self, parent, step)
    }

    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        verify(self, token, request, ctx)
    }

    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        lineage_hash::<Self>(token)
    }

    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        index_entry(self, token)
    }

    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        inspect(self, token)
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        parse_bytes::<Self>(bytes)
    }

    fn to_text(&self, token: &Token) -> String {
        to_text(token)
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        parse_bytes::<Self>(text.as_bytes())
    }
}

/// `v4.local` tokens: captoken's claims encrypted and authenticated
/// (XChaCha20, BLAKE2b-MAC) under a shared key, the comparison point for
/// shared-secret formats. Whoever holds the key can issue, attenuate, verify
/// and read tokens: [`TokenProvider::inspect`] and
/// [`TokenProvider::index_entry`] decrypt, and so need the key. Encryption
/// uses a random nonce, so issuing the same capability twice gives different
/// bytes (and different lineage hashes).
#[derive(Debug)]
pub struct PasetoLocalProvider {
    keys: LocalKeyring,
}

impl PasetoLocalProvider {
    /// A provider encrypting and decrypting with these keys.
    #[must_use]
    pub fn new(keys: LocalKeyring) -> Self {
        Self { keys }
    }
}

impl Scheme for PasetoLocalProvider {
    const FORMAT: Format = FORMAT_LOCAL;
    const HEADER: &'static str = LocalToken::HEADER;
    type Untrusted = UntrustedToken<Local, V4>;

    fn untrusted(text: &str) -> Result<Self::Untrusted, &'static str> {
        UntrustedToken::try_from(text).map_err(|_| "not a v4.local token")
    }

    fn parts(untrusted: &Self::Untrusted) -> (&[u8], &[u8]) {
        (untrusted.untrusted_message(), untrusted.untrusted_footer())
    }

    fn open(&self, framed: &Framed<Self::Untrusted>) -> Result<(KeyId, Vec<u8>), DenyReason> {
        let key = self
            .keys
            .by_paserk_id(&framed.kid)
            .ok_or(DenyReason::UnknownKey)?;
        let trusted =
            LocalToken::decrypt(key.key(), &framed.untrusted, None, Some(IMPLICIT_ASSERTION))
                .map_err(|_| DenyReason::BadSignature)?;
        Ok((key.id().clone(), trusted.payload().as_bytes().to_vec()))
    }

    fn peek(&self, framed: &Framed<Self::Untrusted>) -> Result<Vec<u8>, Error> {
        self.open(framed)
            .map(|(_, payload)| payload)
            .map_err(|reason| match reason {
                DenyReason::UnknownKey => unknown_paserk_id(&framed.kid),
                _ => Error::BadSignature,
            })
    }

    fn seal(&self, issuer: &KeyId, payload: &[u8]) -> Result<String, Error> {
        let key = self
            .keys
            .get(issuer)
            .ok_or_else(|| Error::UnknownKey(issuer.clone()))?;
        let footer = claims::footer(key.paserk_id())?;
        LocalToken::encrypt(key.key(), payload, Some(&footer), Some(IMPLICIT_ASSERTION))
            .map_err(library)
    }
}

impl TokenProvider for PasetoLocalProvider {
    fn format(&self) -> Format {
        FORMAT_LOCAL
    }

    fn properties(&self) -> Properties {
        Properties {
            attenuation: AttenuationMode::Reissue,
            public_key_verification: false,
            deterministic_encoding: false,
            third_party_caveats: false,
            revocation: REVOCATION,
        }
    }

    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        issue(self, capability)
    }

    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
        attenuate(self, parent, step)
    }

    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        verify(self, token, request, ctx)
    }

    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        lineage_hash::<Self>(token)
    }

    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        index_entry(self, token)
    }

    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        inspect(self, token)
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        parse_bytes::<Self>(bytes)
    }

    fn to_text(&self, token: &Token) -> String {
        to_text(token)
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        parse_bytes::<Self>(text.as_bytes())
    }
}
