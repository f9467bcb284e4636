//! The Biscuit `TokenProvider`: issue, attenuate offline (a holder-signed delegation as a third-party block), verify (signatures, lineage, revocation, hand-overs, Datalog, possession), inspect.

use base64ct::{Base64Url, Encoding};
use biscuit_auth::builder::{AuthorizerBuilder, BlockBuilder, Fact, Policy};
use biscuit_auth::error::{FailedCheck, Format as BiscuitFormat, Logic, Token as BiscuitError};
use biscuit_auth::format::schema;
use biscuit_auth::{Biscuit, PrivateKey, PublicKey, UnverifiedBiscuit};
use captoken_core_types::keyring::Selected;
use captoken_core_types::reference::check_handovers;
use captoken_core_types::{
    Attenuation, AttenuationError, AttenuationMode, Capability, Denied, DenyReason, Error, Format,
    HolderKey, HolderSigningKey, Inspection, LineageEntry, LineageHash, Properties, Request, Token,
    TokenProvider, Verified, VerifyContext, check_format, possession,
};

use crate::datalog::{self as dl, CheckClass};
use crate::key::{BiscuitKeyring, RootKey, root_key_id};
use crate::limits::Limits;
use crate::screen;
use crate::signature;
use crate::wire::{self, Blocks, WireError};

/// The format tag, also the lineage-hash domain tag of this format: Biscuit
/// v3 blocks carrying captoken schema 2 (the authority's `schema_version(2)`).
/// Tokens of schema 1 (tag `biscuit-v3`) are refused as malformed.
pub const FORMAT: Format = Format::new("biscuit-v3.cap2");

/// Biscuit tokens on biscuit-auth 6: public-key verification, offline attenuation.
///
/// The keyring's signing keys issue; its public keys verify. Anyone attenuates
/// without a key. See the crate documentation for the Datalog it writes.
#[derive(Debug)]
pub struct BiscuitProvider {
    keys: BiscuitKeyring,
    limits: Limits,
    policy: Policy,
}

fn wire_error(e: WireError) -> Error {
    Error::Malformed(e.describe())
}

fn library(e: BiscuitError) -> Error {
    Error::Format(Box::new(e))
}

impl BiscuitProvider {
    /// A provider with these keys and the default [`Limits`].
    #[must_use]
    pub fn new(keys: BiscuitKeyring) -> Self {
        Self::with_limits(keys, Limits::default())
    }

    /// A provider with these keys and limits (checked when they were built:
    /// see [`Limits::builder`]).
    #[must_use]
    pub fn with_limits(keys: BiscuitKeyring, limits: Limits) -> Self {
        Self {
            keys,
            limits,
            policy: dl::allow_policy(),
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The lineage hash of every credential in the token's chain, root first
    /// and the token's own last (DESIGN.md §5); recomputed, never read from the token.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token does not parse.
    pub fn lineage(&self, token: &Token) -> Result<Vec<LineageHash>, Error> {
        Ok(wire::lineage_hashes(&self.container(token)?))
    }

    /// Biscuit's revocation identifiers (block signatures), each with the lineage
    /// hash of the credential that ends with that block, root first.
    ///
    /// Biscuit revokes by block: revoking identifier `k` rejects every token that
    /// contains block `k`, that is the credential ending at `k` and all its
    /// descendants. Lineage hash `k` covers blocks `0..=k` including signature
    /// `k`, so the pairs are one to one and revoking either denies the same
    /// tokens. This provider checks only the lineage-hash list; the pairs let an
    /// operator translate a Biscuit revocation list into it.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the token does not parse.
    pub fn revocation_ids(&self, token: &Token) -> Result<Vec<(LineageHash, Vec<u8>)>, Error> {
        let proto = self.container(token)?;
        let ids = std::iter::once(&proto.authority)
            .chain(&proto.blocks)
            .map(|s| s.signature.clone());
        Ok(wire::lineage_hashes(&proto).into_iter().zip(ids).collect())
    }

    fn container(&self, token: &Token) -> Result<schema::Biscuit, Error> {
        check_format(token, FORMAT)?;
        self.read(token.as_bytes()).map_err(wire_error)
    }

    /// [`wire::container`], holding the authority signature to the encoding
    /// of the root key the token names, when this provider holds that key.
    /// (Verification instead checks the authority's encoding once the
    /// signature verified, so that a token under another key is denied as a
    /// bad signature.)
    fn read(&self, bytes: &[u8]) -> Result<schema::Biscuit, WireError> {
        wire::container(bytes, &self.limits, |rid| {
            rid.and_then(|r| self.keys.for_verifying(&r).ok())
                .map(|k| k.verifier().key().algorithm())
        })
    }

    /// Checks every signature under the root key the token's root key id
    /// (`root_key_id`, read from the decoded container) selects; no other key
    /// is tried. Returns the selected key, whose state must still admit the
    /// token's `issued_at`.
    fn authenticate<'k>(
        &'k self,
        bytes: &[u8],
        root_key_id: Option<u32>,
    ) -> Result<(Biscuit, Selected<'k, RootKey>), DenyReason> {
        let rid = root_key_id.ok_or(DenyReason::UnknownKey)?;
        let selected = self.keys.for_verifying(&rid).map_err(DenyReason::from)?;
        let public = selected.verifier().key();
        let choose = |r: Option<u32>| -> Result<PublicKey, BiscuitFormat> {
            if r == Some(rid) {
                Ok(public)
            } else {
                Err(BiscuitFormat::UnknownPublicKey)
            }
        };
        let biscuit = Biscuit::from(bytes, choose).map_err(|e| match e {
            BiscuitError::Format(BiscuitFormat::UnknownPublicKey) => DenyReason::UnknownKey,
            BiscuitError::Format(
                BiscuitFormat::Signature(_)
                | BiscuitFormat::SealedSignature
                | BiscuitFormat::InvalidSignatureSize(_)
                | BiscuitFormat::SignatureDeserializationError(_)
                | BiscuitFormat::BlockSignatureDeserializationError(_),
            ) => DenyReason::BadSignature,
            _ => DenyReason::Malformed("not a valid Biscuit token"),
        })?;
        Ok((biscuit, selected))
    }

    /// Compares supplied ancestors (parent first) with the lineage recomputed
    /// from the token itself. Biscuit carries its whole chain, so cold and live
    /// verification are the same computation; supplied ancestors can only be
    /// confirmed, and a wrong one is denied.
    fn check_ancestors(
        &self,
        hashes: &[LineageHash],
        ctx: &VerifyContext<'_>,
    ) -> Result<(), DenyReason> {
        let ancestors = hashes.len().saturating_sub(1);
        if ctx.ancestors.len() > ancestors {
            return Err(DenyReason::LineageMismatch);
        }
        for (i, ancestor) in ctx.ancestors.iter().enumerate() {
            let want = ancestors
                .checked_sub(i + 1)
                .and_then(|k| hashes.get(k))
                .ok_or(DenyReason::LineageMismatch)?;
            let got = self
                .lineage_hash(ancestor)
                .map_err(|_| DenyReason::LineageMismatch)?;
            if got != *want {
                return Err(DenyReason::LineageMismatch);
            }
        }
        Ok(())
    }

    /// Appends `step` to `parent` as its current holder: the one path of
    /// `attenuate` (`signer` = `None`: a first-party block under a fresh key,
    /// refused when it delegates away from a key-bound holder) and
    /// `attenuate_signed` (a third-party block signed with the holder's key,
    /// refused when the holder is bound to another key).
    fn append_step(
        &self,
        parent: &Token,
        step: &Attenuation,
        signer: Option<&HolderSigningKey>,
    ) -> Result<Token, Error> {
        // Size bounds and the key-set refusal, before any format work.
        step.check_appendable()?;
        let proto = self.container(parent)?;
        // Also refuses a parent of another captoken schema version.
        let blocks = wire::blocks(&proto).map_err(wire_error)?;
        // The current holder as the verifier reads it: the last declared
        // delegate of any block (a holder's raw block included), else the
        // root subject.
        let scan = screen::scan(&proto, &self.limits).map_err(|d| match d {
            DenyReason::Malformed(m) => Error::Malformed(m),
            _ => Error::Malformed("a block is outside what the verifier accepts"),
        })?;
        let holder = scan.holder();
        step.check_taken_by(holder, signer.map(HolderSigningKey::public))?;
        let seed = match signer {
            None => None,
            Some(key) => Some(key.ed25519_seed().ok_or(Error::Unsupported(
                "Biscuit third-party blocks are signed with Ed25519 holder keys only",
            ))?),
        };
        let count = proto.blocks.len() + 1;
        if count >= self.limits.max_blocks() {
            return Err(Error::Unsupported(
                "chain longer than the provider's block limit",
            ));
        }
        // The tightest `check if chain($n), $n <= C` of the chain bounds its length.
        let bound = blocks
            .depth_bound()
            .ok_or(Error::Malformed("no delegation depth bound"))?;
        if bound <= i64::try_from(count).unwrap_or(i64::MAX) {
            return Err(AttenuationError::DepthExhausted.into());
        }
        let parent_hash = wire::lineage_hashes(&proto)
            .last()
            .copied()
            .ok_or(Error::Malformed("no authority block"))?;
        let block = dl::step(step, count, &parent_hash)?;
        let bytes = UnverifiedBiscuit::from(parent.as_bytes())
            .and_then(|u| match seed {
                None => u.append(block),
                Some(seed) => append_signed(&u, block, seed),
            })
            .and_then(|child| child.to_vec())
            // Low-S when a holder left a P-256 next key to sign with.
            .and_then(signature::finish_appended)
            .map_err(library)?;
        if bytes.len() > self.limits.max_token_len() {
            return Err(Error::Unsupported("attenuated token too large"));
        }
        Ok(Token::new(FORMAT, bytes))
    }

    /// Runs Biscuit's authorizer over the request's ambient facts and the
    /// one allow policy.
    fn authorize(
        &self,
        biscuit: &Biscuit,
        proto: &schema::Biscuit,
        ambient: Vec<Fact>,
    ) -> Result<(), DenyReason> {
        let run = || -> Result<usize, BiscuitError> {
            let mut builder = AuthorizerBuilder::new();
            for f in ambient {
                builder = builder.fact(f)?;
            }
            let mut authorizer = builder
                .policy(self.policy.clone())?
                .set_limits(self.limits.run().clone())
                .build(biscuit)?;
            authorizer.authorize()
        };
        run().map(|_| ()).map_err(|e| match wire::blocks(proto) {
            Ok(blocks) => deny_reason(e, &blocks),
            Err(w) => DenyReason::Malformed(w.describe()),
        })
    }
}

/// Appends `block` to `token` as a third-party block signed with the
/// holder's Ed25519 key (biscuit-auth's third-party request and block: the
/// external signature, of signature version 1, covers the block and the
/// previous block's signature, so the block cannot move to another token).
fn append_signed(
    token: &UnverifiedBiscuit,
    block: BlockBuilder,
    seed: &[u8; 32],
) -> Result<UnverifiedBiscuit, BiscuitError> {
    // Zeroized when dropped.
    let key = PrivateKey::from_bytes(seed, biscuit_auth::Algorithm::Ed25519)?;
    let signed = token.third_party_request()?.create_block(&key, block)?;
    token.append_third_party(&signed.serialize()?)
}

/// The capability and steps of a decoded token, as `inspect` reports them: a
/// step read from a third-party block is `signed_by` its external key.
fn decode(proto: &schema::Biscuit, blocks: &Blocks) -> Result<Inspection, Error> {
    let capability = blocks
        .content(0)
        .as_ref()
        .and_then(dl::decode_authority)
        .ok_or(Error::Malformed(
            "authority block is not a captoken capability",
        ))?;
    let mut steps = Vec::with_capacity(blocks.blocks.len().saturating_sub(1));
    let mut declared_parents = Vec::with_capacity(steps.capacity());
    for (i, signed) in proto.blocks.iter().enumerate() {
        let index = i + 1;
        let (mut step, parent) = blocks
            .content(index)
            .and_then(|c| dl::decode_step(&c, index))
            .ok_or(Error::Malformed("block is not a captoken attenuation step"))?;
        // The external key as the token writes it; the container admits
        // only 32-byte Ed25519 keys.
        step.signed_by = signed
            .external_signature
            .as_ref()
            .map(|e| {
                <[u8; 32]>::try_from(e.public_key.key.as_slice())
                    .map(HolderKey::Ed25519)
                    .map_err(|_| Error::Malformed(WireError::ThirdParty.describe()))
            })
            .transpose()?;
        steps.push(step);
        declared_parents.push(parent);
    }
    declared_parents.reverse();
    Ok(Inspection::new(FORMAT, capability, steps, declared_parents))
}

/// The structured reason for a failed evaluation, in the reference
/// authorizer's order: depth, subject, validity window, root grant, then the
/// first failing step check. (Hand-overs and key sets, which the reference
/// checks between depth and subject, are decided in Rust: see `verify`.)
fn deny_reason(e: BiscuitError, blocks: &Blocks) -> DenyReason {
    let (checks, matched) = match e {
        BiscuitError::FailedLogic(Logic::Unauthorized { checks, .. }) => (checks, true),
        BiscuitError::FailedLogic(Logic::NoMatchingPolicy { checks }) => (checks, false),
        BiscuitError::FailedLogic(Logic::InvalidBlockRule(..)) => return DenyReason::UnknownCaveat,
        BiscuitError::RunLimit(limit) => {
            return DenyReason::Format(format!("datalog run limit: {limit}"));
        }
        BiscuitError::Execution(x) => {
            return DenyReason::Format(format!("datalog evaluation: {x}"));
        }
        other => return DenyReason::Format(other.to_string()),
    };
    let classes: Vec<CheckClass> = checks
        .iter()
        .map(|c| match c {
            FailedCheck::Block(b) => usize::try_from(b.block_id)
                .ok()
                .zip(usize::try_from(b.check_id).ok())
                .and_then(|(i, j)| blocks.check(i, j))
                .map_or(CheckClass::Constraint, |c| dl::classify(&c)),
            FailedCheck::Authorizer(_) => CheckClass::Constraint,
        })
        .collect();
    let first = |class: CheckClass| classes.contains(&class);
    if first(CheckClass::Depth) {
        DenyReason::DepthExceeded
    } else if first(CheckClass::Subject) {
        DenyReason::WrongSubject
    } else if first(CheckClass::NotBefore) {
        DenyReason::NotYetValid
    } else if first(CheckClass::Expires) {
        DenyReason::Expired
    } else if !matched {
        DenyReason::NoMatchingGrant
    } else {
        match classes.first() {
            Some(CheckClass::Keep) => DenyReason::NoMatchingGrant,
            _ => DenyReason::ConstraintViolated,
        }
    }
}

impl TokenProvider for BiscuitProvider {
    fn format(&self) -> Format {
        FORMAT
    }

    fn properties(&self) -> Properties {
        Properties {
            attenuation: AttenuationMode::Offline,
            public_key_verification: true,
            // Every block is signed with a fresh random key.
            deterministic_encoding: false,
            // Biscuit has third-party blocks; this provider uses them only for
            // a delegation signed by the holder's key (DESIGN.md §8), not for
            // caveats discharged by a third party.
            third_party_caveats: false,
            revocation: "lineage-hash revocation list; every ancestor's hash is recomputed from the token itself (one per block, one to one with Biscuit's revocation ids)",
        }
    }

    /// The container's first field, `root_key_id` (protobuf tag 0x08), which
    /// every token this provider verifies has and canonical encoding puts first.
    fn marker(&self) -> captoken_core_types::Marker {
        captoken_core_types::Marker::FirstByte(0x08)
    }

    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        // Size bounds and the interim holder-binding refusal, before any format work.
        capability.check_issuable()?;
        if capability.parent.is_some() {
            return Err(Error::Unsupported(
                "a Biscuit root has no parent: attenuate the parent token instead",
            ));
        }
        let key = self
            .keys
            .for_signing(&capability.issuer)
            .map_err(Error::from)?;
        let bytes = Biscuit::builder()
            .merge(dl::authority(capability)?)
            .root_key_id(root_key_id(&capability.issuer))
            .build(key.pair())
            .and_then(|b| b.to_vec())
            // Signature version 1, and low-S for a P-256 root.
            .and_then(|bytes| signature::finish_issued(&bytes, key.pair()))
            .map_err(library)?;
        if bytes.len() > self.limits.max_token_len() {
            return Err(Error::Unsupported("capability too large for a token"));
        }
        Ok(Token::new(FORMAT, bytes))
    }

    /// Appends the step as a first-party block under a fresh key (no key of
    /// the holder's is needed). Refused when it delegates away from a holder
    /// bound to a key ([`ModelError::DelegationUnsigned`]): that needs
    /// [`TokenProvider::attenuate_signed`].
    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
        self.append_step(parent, step, None)
    }

    /// Appends the step as a Biscuit third-party block signed with the
    /// holder's Ed25519 key (DESIGN.md §8): the block is the one `attenuate`
    /// writes, and its external signature covers the previous block's
    /// signature, so it cannot be moved onto another token. Verification
    /// accepts a delegation away from a key-bound holder only in such a block,
    /// signed by exactly that key.
    ///
    /// # Errors
    /// As [`TokenProvider::attenuate`], and [`ModelError::DelegationSignature`]
    /// when the parent's current holder is bound to another key.
    fn attenuate_signed(
        &self,
        parent: &Token,
        step: &Attenuation,
        holder: &HolderSigningKey,
    ) -> Result<Token, Error> {
        self.append_step(parent, step, Some(holder))
    }

    /// Verifies in this order: request bounds; format, framing, the one
    /// accepted encoding of every signature, next key and signature version,
    /// and every signature; the captoken schema version and the static screen
    /// (declarations, block shapes, work estimate); lineage, supplied
    /// ancestors and revocation; then the verdict, in the reference
    /// authorizer's order: depth (Datalog), hand-overs (a delegation away
    /// from a key-bound holder must be a third-party block signed by that key,
    /// `reference::check_handovers`) and key sets
    /// (`reference::check_key_sets`), decided in Rust, then subject, window,
    /// grants and steps (Datalog); and last, proof of possession for a holder
    /// bound to a key (`possession::enforce`).
    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        // Before anything looks at the token: a huge request costs nothing more.
        request.check_bounds()?;
        check_format(token, FORMAT)
            .map_err(|_| DenyReason::Malformed("token of another format"))?;
        let bytes = token.as_bytes();
        let malformed = |e: WireError| DenyReason::Malformed(e.describe());
        // Every encoding the token alone determines (the authority signature's
        // algorithm is the root key's, not in the token) ...
        let proto = wire::container(bytes, &self.limits, |_| None).map_err(malformed)?;
        let (biscuit, key) = self.authenticate(bytes, proto.root_key_id)?;
        // ... then the authority signature held to the root key's encoding.
        signature::check_authority(&proto, key.verifier().key().algorithm()).map_err(malformed)?;
        let scan = screen::scan(&proto, &self.limits)?;
        // The signed issue time, under the key's lifecycle state.
        key.admit(scan.issued_at).map_err(DenyReason::from)?;
        if !scan.work(request, &self.limits).within(&self.limits) {
            return Err(DenyReason::UnknownCaveat.into());
        }
        // Lineage: every declared parent hash against the recomputed one.
        let hashes = wire::lineage_hashes(&proto);
        if scan.parents.len() + 1 != hashes.len()
            || scan
                .parents
                .iter()
                .zip(&hashes)
                .any(|(declared, actual)| declared != actual)
        {
            return Err(DenyReason::LineageMismatch.into());
        }
        self.check_ancestors(&hashes, ctx)?;
        // The whole chain, in one question to the revocation list.
        if ctx
            .revocations
            .any_revoked(&hashes)
            .map_err(|_| DenyReason::Store)?
        {
            return Err(DenyReason::Revoked.into());
        }
        let holder = scan.holder();
        let ambient = dl::ambient(request, &holder.principal, proto.blocks.len() + 1);
        let verdict = self.authorize(&biscuit, &proto, ambient);
        // The reference's order: depth, then hand-overs and key sets, then the rest.
        let bindings = check_handovers(&scan.root, scan.handovers());
        match (verdict, bindings) {
            (Err(DenyReason::DepthExceeded), _) => Err(DenyReason::DepthExceeded),
            (_, Err(possession)) => Err(possession),
            (verdict, Ok(())) => verdict,
        }?;
        let holder = holder.clone();
        let lineage_hash = hashes
            .last()
            .copied()
            .ok_or(DenyReason::Malformed("empty chain"))?;
        let verified = Verified::new(
            FORMAT,
            scan.token_id,
            key.id().clone(),
            scan.issued_at,
            lineage_hash,
            hashes.len().saturating_sub(1),
            holder,
        );
        possession::enforce(ctx.possession.as_ref(), &verified, request)?;
        Ok(verified)
    }

    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        self.lineage(token)?
            .last()
            .copied()
            .ok_or(Error::Malformed("no authority block"))
    }

    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        // The chain travels inside the token: no index is needed to verify it cold.
        self.container(token)?;
        Ok(None)
    }

    /// The capability and steps as written; a step read from a third-party
    /// block reports its external key in `signed_by`. Like the rest of
    /// `inspect`, that is what the token states, not checked: no signature is
    /// verified here (`verify` does).
    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        let proto = self.container(token)?;
        let blocks = wire::blocks(&proto).map_err(wire_error)?;
        decode(&proto, &blocks)
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        self.read(bytes).map_err(wire_error)?;
        Ok(Token::new(FORMAT, bytes.to_vec()))
    }

    /// Biscuit's own text form: URL-safe base64 with padding, as `Biscuit::to_base64` writes it.
    fn to_text(&self, token: &Token) -> String {
        Base64Url::encode_string(token.as_bytes())
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        let max = self.limits.max_token_len().div_ceil(3).saturating_mul(4);
        if text.len() > max {
            return Err(Error::Malformed("token text too long"));
        }
        let bytes = Base64Url::decode_vec(text)
            .map_err(|_| Error::Malformed("token text is not URL-safe base64"))?;
        self.parse_bytes(&bytes)
    }
}
