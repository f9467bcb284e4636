//! The macaroon `TokenProvider`: issue with a root key, attenuate offline without one, verify the chain, the lineage and the caveats.

use captoken_core_types::{
    Attenuation, AttenuationMode, Capability, Denied, DenyReason, Error, Format, HolderSignature,
    HolderSigningKey, Inspection, LineageEntry, LineageHash, Properties, Request, Token,
    TokenProvider, Verified, VerifyContext, check_format, possession, reference,
};
use zeroize::Zeroizing;

use crate::caveat::{self, Claim, Identifier};
use crate::chain::{self, Structure};
use crate::crypto::{Chain, Sig};
use crate::key::{MacaroonKey, MacaroonKeyring};
use crate::lineage::{self, PrefixHasher};
use crate::wire::{self, Caveat, Macaroon, WireError};

/// The format tag, also the lineage-hash domain tag of this format: libmacaroons
/// v2 wire formats carrying the `ct2` caveat language. (The previous version,
/// `macaroon-v2` with `ct1` caveats, is refused.)
pub const FORMAT: Format = Format::new("macaroon-v2.ct2");
/// The text form has no prefix: it is the URL-safe base64 of the v2 binary
/// form, as pymacaroons and go-macaroon write it.
pub const TEXT_PREFIX: &str = "";
/// The largest token (v2 binary) accepted or produced, in bytes.
pub const MAX_TOKEN_LEN: usize = wire::MAX_MACAROON_LEN;
/// The most caveats a token may carry. Verification costs one HMAC per caveat;
/// this bounds the work a hostile token can cause.
pub const MAX_TOKEN_CAVEATS: usize = 1024;
/// The most discharge macaroons one verification accepts.
pub const MAX_DISCHARGES: usize = 64;

/// Macaroons in the libmacaroons v2 format, carrying capabilities in the `ct2`
/// caveat language and attenuated offline by appending caveats.
///
/// Issuing and verifying need the root key named by the macaroon's identifier;
/// attenuating, inspecting and hashing need no key (a provider with an empty
/// keyring, [`MacaroonProvider::holder`], does them). The canonical bytes of a
/// credential for its lineage hash are defined in [`crate::lineage`].
#[derive(Debug)]
pub struct MacaroonProvider {
    keys: MacaroonKeyring,
}

/// A caveat to append: first-party text, or (feature `third-party`) a third-party
/// caveat whose verification id is made from the chain signature where it lands.
pub(crate) enum NewCaveat {
    First(String),
    #[cfg(feature = "third-party")]
    Third(crate::third_party::ThirdPartyCaveat),
}

/// What authenticating a macaroon establishes besides "the chain is intact".
pub(crate) struct Authenticated {
    /// The token's own lineage hash.
    pub(crate) own: LineageHash,
    /// The recomputed lineage hash of the prefix before every `ct2 step ` caveat, by caveat index.
    pub(crate) boundaries: Vec<(usize, LineageHash)>,
    /// The chain signature before every third-party caveat, by caveat index.
    #[cfg_attr(
        not(feature = "third-party"),
        allow(dead_code, reason = "read by third-party verification")
    )]
    pub(crate) third_party: Vec<(usize, Zeroizing<Sig>)>,
}

fn wire_error(e: WireError) -> Error {
    Error::Malformed(e.describe())
}

impl MacaroonProvider {
    /// A provider minting and verifying with these root keys.
    #[must_use]
    pub fn new(keys: MacaroonKeyring) -> Self {
        Self { keys }
    }

    /// A provider without keys, for holders: attenuate, inspect, hash, convert.
    #[must_use]
    pub fn holder() -> Self {
        Self::new(MacaroonKeyring::new())
    }

    /// The v2 JSON form of a token.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token is not a v2 macaroon.
    pub fn to_json(&self, token: &Token) -> Result<String, Error> {
        decode(token)?.to_json().map_err(wire_error)
    }

    /// Reads the v2 JSON form; the token is its v2 binary form.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the JSON is not a v2 macaroon within the limits.
    pub fn parse_json(&self, json: &str) -> Result<Token, Error> {
        let m = Macaroon::from_json(json).map_err(wire_error)?;
        self.parse_bytes(&m.encode().map_err(wire_error)?)
    }

    /// Mints a macaroon for `capability`: leading caveats (third-party ones),
    /// then the six root claims.
    pub(crate) fn issue_with(
        &self,
        capability: &Capability,
        leading: Vec<NewCaveat>,
    ) -> Result<Token, Error> {
        capability.check_issuable()?;
        let key = self
            .keys
            .for_signing(&capability.issuer)
            .map_err(Error::from)?;
        if capability.parent.is_some() {
            return Err(Error::Unsupported(
                "a macaroon root has no parent: attenuate the parent instead",
            ));
        }
        let identifier = Identifier {
            key_id: capability.issuer.clone(),
            token_id: capability.id,
        }
        .encode()
        .into_bytes();
        let mut m = Macaroon {
            location: None,
            identifier,
            caveats: Vec::new(),
            signature: [0; 32],
        };
        let mut chain = Chain::start(key.derived(), &m.identifier);
        let root = chain::root_claims(capability)
            .into_iter()
            .map(|c| NewCaveat::First(c.encode()));
        append(&mut m, &mut chain, leading.into_iter().chain(root))?;
        finish(m, &chain)
    }

    /// Appends one step (boundary, step caveats, then `extra` caveats) without a key.
    pub(crate) fn attenuate_with(
        &self,
        parent: &Token,
        step: &Attenuation,
        signer: Option<&HolderSigningKey>,
        extra: Vec<NewCaveat>,
    ) -> Result<Token, Error> {
        step.check_appendable()?;
        let mut m = decode(parent)?;
        let structure = chain::parse(&m).map_err(Error::Malformed)?;
        let holder = reference::current_holder(&structure.root, &structure.steps);
        let parent_hash = lineage::lineage_hash(&m);
        step.check_taken_by(holder, signer.map(HolderSigningKey::public))?;
        let signature = signer
            .map(|key| HolderSignature::sign(FORMAT, &parent_hash, step, key))
            .transpose()?;
        let mut claims = chain::step_claims(parent_hash, step, signature);
        if let Some(Claim::Step { count, .. }) = claims.first_mut() {
            *count = count.saturating_add(u32::try_from(extra.len()).unwrap_or(u32::MAX));
        }
        let mut chain = Chain::resume(&m.signature);
        let new = claims
            .into_iter()
            .map(|c| NewCaveat::First(c.encode()))
            .chain(extra);
        append(&mut m, &mut chain, new)?;
        finish(m, &chain)
    }

    /// Recomputes the chain from the root key: checks the signature in constant
    /// time, and records what verification needs from the intermediate signatures.
    pub(crate) fn authenticate(
        key: &MacaroonKey,
        m: &Macaroon,
    ) -> Result<Authenticated, DenyReason> {
        let mut chain = Chain::start(key.derived(), &m.identifier);
        let mut hasher = PrefixHasher::new(&m.identifier);
        let mut boundaries = Vec::new();
        let mut third_party = Vec::new();
        for (i, c) in m.caveats.iter().enumerate() {
            if c.vid.is_some() {
                third_party.push((i, Zeroizing::new(*chain.sig())));
            } else if c.id.starts_with(caveat::STEP_PREFIX) {
                boundaries.push((i, hasher.finish(chain.sig())));
            }
            chain.add(&c.id, c.vid.as_deref());
            hasher.add(&c.id, c.vid.as_deref());
        }
        if !chain.matches(&m.signature) {
            return Err(DenyReason::BadSignature);
        }
        Ok(Authenticated {
            own: hasher.finish(&m.signature),
            boundaries,
            third_party,
        })
    }

    /// Every declared parent hash equals the recomputed one; no ancestor and not
    /// the token itself is revoked.
    fn check_lineage(
        structure: &Structure,
        auth: &Authenticated,
        ctx: &VerifyContext<'_>,
    ) -> Result<(), DenyReason> {
        for boundary in &structure.boundaries {
            let recomputed = auth
                .boundaries
                .iter()
                .find(|(i, _)| *i == boundary.index)
                .map(|(_, h)| h)
                .ok_or(DenyReason::LineageMismatch)?;
            if *recomputed != boundary.parent {
                return Err(DenyReason::LineageMismatch);
            }
        }
        // Supplied ancestors (parent first) can only confirm the lineage the
        // token carries: one that is not the declared ancestor at its level,
        // or one too many, denies (the same contract for every format).
        if ctx.ancestors.len() > structure.boundaries.len() {
            return Err(DenyReason::LineageMismatch);
        }
        for (ancestor, boundary) in ctx.ancestors.iter().zip(structure.boundaries.iter().rev()) {
            let m = decode(ancestor).map_err(|_| DenyReason::LineageMismatch)?;
            if lineage::lineage_hash(&m) != boundary.parent {
                return Err(DenyReason::LineageMismatch);
            }
        }
        // The token and every ancestor, in one question to the revocation list.
        let mut hashes = Vec::with_capacity(structure.boundaries.len() + 1);
        hashes.push(auth.own);
        hashes.extend(structure.boundaries.iter().rev().map(|b| b.parent));
        if ctx
            .revocations
            .any_revoked(&hashes)
            .map_err(|_| DenyReason::Store)?
        {
            return Err(DenyReason::Revoked);
        }
        Ok(())
    }

    #[cfg(feature = "third-party")]
    fn check_third_party(
        m: &Macaroon,
        auth: &Authenticated,
        ctx: &VerifyContext<'_>,
        now: u64,
    ) -> Result<(), DenyReason> {
        crate::third_party::check_discharges(m, &auth.third_party, ctx.discharges, now)
    }

    #[cfg(not(feature = "third-party"))]
    fn check_third_party(
        m: &Macaroon,
        _auth: &Authenticated,
        ctx: &VerifyContext<'_>,
        _now: u64,
    ) -> Result<(), DenyReason> {
        if m.caveats.iter().any(Caveat::is_third_party) {
            // Without the feature, a third-party caveat is one this verifier cannot check.
            return Err(DenyReason::UnknownCaveat);
        }
        if ctx.discharges.is_empty() {
            Ok(())
        } else {
            Err(DenyReason::Discharge)
        }
    }
}

/// Appends caveats to `m`, extending `chain`.
fn append(
    m: &mut Macaroon,
    chain: &mut Chain,
    new: impl IntoIterator<Item = NewCaveat>,
) -> Result<(), Error> {
    for c in new {
        if m.caveats.len() >= MAX_TOKEN_CAVEATS {
            return Err(Error::Unsupported("token would carry too many caveats"));
        }
        let caveat = match c {
            NewCaveat::First(text) => Caveat::first_party(text.into_bytes()),
            #[cfg(feature = "third-party")]
            NewCaveat::Third(t) => t.caveat(chain.sig())?,
        };
        if caveat.id.len() > wire::MAX_FIELD_LEN {
            return Err(Error::Unsupported("caveat longer than libmacaroons allows"));
        }
        chain.add(&caveat.id, caveat.vid.as_deref());
        m.caveats.push(caveat);
    }
    Ok(())
}

fn finish(mut m: Macaroon, chain: &Chain) -> Result<Token, Error> {
    m.signature = *chain.sig();
    let bytes = m
        .encode()
        .map_err(|_| Error::Unsupported("token would exceed the size limits"))?;
    Ok(Token::new(FORMAT, bytes))
}

/// The macaroon of a token of this format, within the limits.
/// The bytes of the text form: URL-safe or standard base64, with or without
/// padding, within the size bound.
fn text_bytes(text: &str) -> Result<Vec<u8>, Error> {
    let max = MAX_TOKEN_LEN.div_ceil(3) * 4;
    if text.len() > max {
        return Err(Error::Malformed("token text too long"));
    }
    wire::decode_base64(text).map_err(wire_error)
}

pub(crate) fn decode(token: &Token) -> Result<Macaroon, Error> {
    check_format(token, FORMAT)?;
    decode_bytes(token.as_bytes())
}

pub(crate) fn decode_bytes(bytes: &[u8]) -> Result<Macaroon, Error> {
    let m = Macaroon::decode(bytes).map_err(wire_error)?;
    if m.caveats.len() > MAX_TOKEN_CAVEATS {
        return Err(Error::Malformed("too many caveats"));
    }
    Ok(m)
}

fn malformed(e: Error) -> DenyReason {
    match e {
        Error::Malformed(m) => DenyReason::Malformed(m),
        Error::WrongFormat { .. } => DenyReason::Malformed("token of another format"),
        _ => DenyReason::Malformed("token does not decode"),
    }
}

impl TokenProvider for MacaroonProvider {
    fn format(&self) -> Format {
        FORMAT
    }

    fn properties(&self) -> Properties {
        Properties {
            attenuation: AttenuationMode::Offline,
            public_key_verification: false,
            deterministic_encoding: true,
            third_party_caveats: cfg!(feature = "third-party"),
            revocation: "lineage-hash revocation list; the verifier recomputes every ancestor's hash from the token with the root key, no lineage index needed",
        }
    }

    /// The binary form's version byte, 2, under base64 (either alphabet).
    fn marker(&self) -> captoken_core_types::Marker {
        captoken_core_types::Marker::FirstByte(wire::VERSION)
    }

    /// Mints a macaroon for `capability` with the root key of `capability.issuer`.
    ///
    /// # Errors
    /// [`Error::Model`] beyond the size bounds or for a key-set-bound subject
    /// (`Capability::check_issuable`, checked first), [`Error::UnknownKey`],
    /// [`Error::Unsupported`] for a capability with a parent or beyond the wire's limits.
    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        self.issue_with(capability, Vec::new())
    }

    /// Appends the step as caveats, without a key. Every step within the size
    /// bounds is accepted, even one that asks for more than the parent has or
    /// one taken at depth 0: the caveats only ever narrow, and the verifier
    /// denies a token whose steps exceed its depth (the reference authorizer's rule).
    ///
    /// # Errors
    /// [`Error::Model`] for a step beyond the size bounds, delegating to a
    /// key-set-bound subject (`Attenuation::check_appendable`, checked first)
    /// or, unsigned, away from a key-bound holder (`DelegationUnsigned`),
    /// [`Error::Malformed`] when the parent is not a captoken `ct2` macaroon,
    /// [`Error::Unsupported`] when the child would exceed the size limits.
    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
        self.attenuate_with(parent, step, None, Vec::new())
    }

    /// Appends the step signed by the current holder's key: a `holder-sig`
    /// caveat over the step and the parent's lineage hash (which commits to
    /// the chain's tag), after the step's other caveats.
    ///
    /// # Errors
    /// As [`TokenProvider::attenuate`], and [`ModelError::DelegationSignature`]
    /// when the parent's holder is bound to another key.
    fn attenuate_signed(
        &self,
        parent: &Token,
        step: &Attenuation,
        holder: &HolderSigningKey,
    ) -> Result<Token, Error> {
        self.attenuate_with(parent, step, Some(holder), Vec::new())
    }

    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        request.check_bounds()?;
        let m = decode(token).map_err(malformed)?;
        let identifier =
            Identifier::parse(&m.identifier).map_err(|e| DenyReason::Malformed(e.describe()))?;
        let key = self
            .keys
            .for_verifying(&identifier.key_id)
            .map_err(DenyReason::from)?;
        let auth = Self::authenticate(key.verifier(), &m)?;
        let structure =
            chain::read(identifier, &m.caveats).map_err(|_| DenyReason::UnknownCaveat)?;
        // The root's issue time is a caveat under the root key's MAC chain.
        key.admit(structure.root.issued_at)
            .map_err(DenyReason::from)?;
        Self::check_lineage(&structure, &auth, ctx)?;
        Self::check_third_party(&m, &auth, ctx, request.now)?;
        let holder = reference::authorize_chain(&structure.root, &structure.steps, request)?;
        let root = structure.root;
        let verified = Verified::new(
            FORMAT,
            root.id,
            root.issuer,
            root.issued_at,
            auth.own,
            structure.steps.len(),
            holder,
        );
        possession::enforce(ctx.possession.as_ref(), &verified, request)?;
        Ok(verified)
    }

    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        Ok(lineage::lineage_hash(&decode(token)?))
    }

    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        // The token carries its whole chain; the verifier needs no index.
        decode(token)?;
        Ok(None)
    }

    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        let m = decode(token)?;
        let structure = chain::parse(&m).map_err(Error::Malformed)?;
        let declared = structure
            .boundaries
            .iter()
            .rev()
            .map(|b| b.parent)
            .collect();
        Ok(Inspection::new(
            FORMAT,
            structure.root,
            structure.steps,
            declared,
        ))
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        decode_bytes(bytes)?;
        Ok(Token::new(FORMAT, bytes.to_vec()))
    }

    fn to_text(&self, token: &Token) -> String {
        captoken_core_types::encode_text(TEXT_PREFIX, token.as_bytes())
    }

    /// Reads URL-safe or standard base64, with or without padding.
    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        self.parse_bytes(&text_bytes(text)?)
    }

    fn verify_text(
        &self,
        text: &str,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        // `verify` decodes the macaroon: decoding it in a parse first would
        // only repeat the work.
        let bytes =
            text_bytes(text).map_err(|_| DenyReason::Malformed("not this format's text form"))?;
        self.verify(&Token::new(FORMAT, bytes), request, ctx)
    }
}
