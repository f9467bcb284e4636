//! The one re-issuing core: issue, attenuate, verify live or cold, and index lineage for every format whose attenuation is re-issuance (HMAC, PASETO).
//!
//! A re-issuing format implements [`Reissuer`]: how to seal a capability into
//! a token, and how to open (authenticate, then decode) one. Everything else a
//! [`TokenProvider`] does is written here once, and every [`Reissuer`] is a
//! [`TokenProvider`] through it.
//!
//! **Lineage.** A re-issued child carries its parent's format, id and lineage
//! hash in its authenticated claims. The walk up the chain authenticates every
//! ancestor it follows. A supplied ancestor (live verification) must hash to
//! the hash its child declares and open under this verifier's keys; the next
//! step up comes from its own authenticated claims. A lineage-index row (cold
//! verification) holds no credential, only the ancestor's id, hash and parent
//! under its issuer's seal ([`Reissuer::seal_row`]); the verifier checks the
//! seal, then that the row is the one the child declares. An altered, invented
//! or truncated index can therefore make cold verification deny, never allow:
//! the index is trusted for availability only (ADR 0002). Rows once
//! authenticated are kept in a bounded [`RowCache`], so that a warm verifier
//! does not check the same seal again; evicting from it only costs time. A
//! cache belongs to one provider and its keyring, and is never shared.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::attenuation::Attenuation;
use crate::capability::{Capability, ParentRef, TokenId};
use crate::delegation::DelegationRequest;
use crate::error::{Error, ModelError};
use crate::lineage::{LineageEntry, LineageHash};
use crate::possession::{
    self, Account, HolderSigningKey, NonceStore, Possession, PossessionSettings,
};
use crate::provider::{
    Denied, DenyReason, Format, Inspection, Marker, Properties, Token, TokenProvider, Verified,
    VerifyContext, check_format,
};
use crate::request::Request;

/// The longest chain of ancestors a verifier walks; longer (or cyclic) lineage is denied.
pub const MAX_CHAIN: usize = 256;

/// A token format whose attenuation is re-issuance by the issuer. Implement
/// sealing and opening; [`TokenProvider`] comes with it.
pub trait Reissuer: Send + Sync {
    /// The format this provider reads and writes.
    fn format(&self) -> Format;

    /// What the format can do.
    fn properties(&self) -> Properties;

    /// How the format's text form is recognised.
    fn marker(&self) -> Marker;

    /// Encodes `capability` (already checked by [`Capability::check_issuable`])
    /// and authenticates it with the key named by its issuer.
    ///
    /// # Errors
    /// [`Error::UnknownKey`] without that signing key, or a format error.
    fn seal(&self, capability: &Capability) -> Result<Token, Error>;

    /// Authenticates a token claiming this format, then decodes its capability.
    ///
    /// # Errors
    /// Why it does not authenticate or decode.
    fn open(&self, token: &Token) -> Result<Capability, DenyReason>;

    /// The caller-facing error for a token [`Self::open`] refused as signed by
    /// an unknown key: [`Error::UnknownKey`] naming the key the token names,
    /// where the format lets one read it.
    fn unknown_key_error(&self, token: &Token) -> Error {
        let _ = token;
        Error::Malformed("token names no key this provider holds")
    }

    /// Decodes a token of this format without authenticating it, for inspection.
    ///
    /// # Errors
    /// [`Error::Malformed`] or [`Error::WrongFormat`].
    fn peek(&self, token: &Token) -> Result<Capability, Error>;

    /// Wraps binary bytes as a token of this format, checking their framing.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the bytes are not framed as this format.
    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error>;

    /// The text form.
    fn to_text(&self, token: &Token) -> String;

    /// Parses the text form.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the text is not this format's text form.
    fn parse_text(&self, text: &str) -> Result<Token, Error>;

    /// The token of `text` with only the text form's transport decoding
    /// (prefix, base64, length), leaving the framing checks of
    /// [`Reissuer::parse_text`] to [`Reissuer::open`], which makes them all
    /// again: for verification of text, which frames once. By default
    /// [`Reissuer::parse_text`].
    ///
    /// # Errors
    /// [`Error::Malformed`] when the text is not this format's text form.
    fn wrap_text(&self, text: &str) -> Result<Token, Error> {
        self.parse_text(text)
    }

    /// The id of the keyring's one signing key (DESIGN.md §9), `None` when no
    /// key signs. Re-issued children and lineage-index rows are sealed by it,
    /// whichever key made the parent, so that a rotation needs no re-issuance.
    fn signing_key_id(&self) -> Option<&crate::capability::KeyId>;

    /// Seals a lineage-index row: authenticates `message`
    /// ([`LineageEntry::sealed_bytes`]) with the key `issuer`, in a form that
    /// names that key, so that verifiers can check it with [`Self::open_row`].
    ///
    /// # Errors
    /// [`Error::UnknownKey`] without that key.
    fn seal_row(&self, issuer: &crate::capability::KeyId, message: &[u8])
    -> Result<Vec<u8>, Error>;

    /// Checks a row seal made by [`Self::seal_row`] over `message` with a key
    /// this verifier holds.
    ///
    /// # Errors
    /// Why it does not check.
    fn open_row(&self, message: &[u8], seal: &[u8]) -> Result<(), DenyReason>;

    /// The ancestors this verifier has already authenticated. One cache per
    /// provider (and so per keyring): never share one between providers.
    fn row_cache(&self) -> &RowCache;

    /// Re-issues `parent` narrowed by the holder's signed `request` (DESIGN.md
    /// §8): the issuer's side of a delegation away from a key-bound holder.
    /// The request must name this parent's lineage hash and step, be signed
    /// by the key the parent's holder is bound to, be fresh at `now` under
    /// `settings` (as a proof of possession is), and be new: its nonce is
    /// reserved in `nonces` (scope: the signer key), so a captured request
    /// mints no second child.
    ///
    /// # Errors
    /// As [`TokenProvider::attenuate`]; [`ModelError::DelegationSignature`]
    /// when the request is for another parent or step, or not the holder's;
    /// [`ModelError::DelegationRequestRefused`] when it is stale, dated in the
    /// future or replayed, or the nonce store is full or failing.
    fn attenuate_requested(
        &self,
        parent: &Token,
        request: &DelegationRequest,
        nonces: &dyn NonceStore,
        settings: PossessionSettings,
        now: u64,
    ) -> Result<Token, Error> {
        let authority = Authority::Request {
            request,
            nonces,
            settings,
            now,
        };
        reissue(self, self, parent, &request.step, &authority)
    }
}

/// The caller-facing error (for an issuer re-issuing or indexing) for a token
/// [`Reissuer::open`] refused.
fn open_error<R: Reissuer + ?Sized>(r: &R, token: &Token, reason: DenyReason) -> Error {
    match reason {
        DenyReason::UnknownKey => r.unknown_key_error(token),
        DenyReason::BadSignature => Error::BadSignature,
        DenyReason::Malformed(m) => Error::Malformed(m),
        _ => Error::Malformed("token does not authenticate"),
    }
}

/// What authenticating an ancestor established: its id and its own parent.
type Row = (TokenId, Option<ParentRef>);

/// A bounded in-process cache of authenticated ancestors, by lineage hash.
///
/// Only facts read from an authenticated credential enter it, and such a
/// credential never changes, so a hit is as good as opening the credential
/// again. When full it is emptied; a poisoned lock is a miss. Either way the
/// cost is time, never a verdict.
#[derive(Debug)]
pub struct RowCache {
    rows: Mutex<HashMap<LineageHash, Row>>,
    capacity: usize,
}

impl RowCache {
    /// The default capacity, in authenticated ancestors.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A cache of at most `capacity` ancestors (0 disables it).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            rows: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn get(&self, hash: &LineageHash) -> Option<Row> {
        self.rows.lock().ok()?.get(hash).copied()
    }

    fn insert(&self, hash: LineageHash, row: Row) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut rows) = self.rows.lock() {
            if rows.len() >= self.capacity {
                rows.clear();
            }
            rows.insert(hash, row);
        }
    }
}

impl Default for RowCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

/// Authenticates one supplied ancestor against what its child declares, and
/// returns the ancestor's own parent from its authenticated claims.
fn authenticate<R: Reissuer + ?Sized>(
    r: &R,
    token: &Token,
    declared: &ParentRef,
) -> Result<Option<ParentRef>, DenyReason> {
    if token.format() != r.format()
        || LineageHash::compute(r.format(), token.as_bytes()) != declared.hash
    {
        return Err(DenyReason::LineageMismatch);
    }
    let cap = r.open(token)?;
    if cap.id != declared.id {
        return Err(DenyReason::LineageMismatch);
    }
    r.row_cache().insert(declared.hash, (cap.id, cap.parent));
    Ok(cap.parent)
}

/// Authenticates one lineage-index row against what its child declares: the
/// row must be the declared ancestor's, under a seal that checks.
fn authenticate_row<R: Reissuer + ?Sized>(
    r: &R,
    row: &LineageEntry,
    declared: &ParentRef,
) -> Result<Option<ParentRef>, DenyReason> {
    if row.token_id != declared.id || row.hash != declared.hash {
        return Err(DenyReason::LineageMismatch);
    }
    r.open_row(&row.sealed_bytes(r.format()), &row.seal)
        .map_err(|_| DenyReason::LineageMismatch)?;
    r.row_cache()
        .insert(declared.hash, (row.token_id, row.parent));
    Ok(row.parent)
}

/// Checks the lineage of a re-issued credential: every ancestor
/// authenticated (see [`walk_ancestors`]), then the credential (`own`) and
/// every ancestor unrevoked, in one [`crate::RevocationList::any_revoked`] question.
/// Returns the number of ancestors.
fn walk_lineage<R: Reissuer + ?Sized>(
    r: &R,
    own: &LineageHash,
    parent: Option<ParentRef>,
    ctx: &VerifyContext<'_>,
) -> Result<usize, DenyReason> {
    let mut hashes = Vec::with_capacity(8);
    hashes.push(*own);
    let walked = walk_ancestors(r, parent, ctx, MAX_CHAIN, &mut hashes)?;
    check_unrevoked(ctx, &hashes)?;
    Ok(walked)
}

/// Denies when any of `hashes` is revoked, or the list cannot answer.
fn check_unrevoked(ctx: &VerifyContext<'_>, hashes: &[LineageHash]) -> Result<(), DenyReason> {
    match ctx.revocations.any_revoked(hashes) {
        Ok(false) => Ok(()),
        Ok(true) => Err(DenyReason::Revoked),
        Err(_) => Err(DenyReason::Store),
    }
}

/// Walks the ancestors from `next` up, at most `budget` of them, every one
/// authenticated: supplied in `ctx.ancestors` (parent first), else from the
/// row cache, else its row from `ctx.lineage` (the rest of the chain's rows
/// asked for at once, [`crate::LineageIndex::ancestry`]). Pushes each ancestor's
/// lineage hash onto `hashes`, for the caller's one revocation question. An
/// ancestor of another format is handed, with the ancestors still supplied
/// and the budget left, to `ctx.foreign` (DESIGN.md §9), which checks its
/// own part of the chain, revocation included; without one it denies.
/// Returns the number of ancestors walked.
fn walk_ancestors<R: Reissuer + ?Sized>(
    r: &R,
    mut next: Option<ParentRef>,
    ctx: &VerifyContext<'_>,
    budget: usize,
    hashes: &mut Vec<LineageHash>,
) -> Result<usize, DenyReason> {
    let mut supplied = ctx.ancestors.iter();
    let mut fetched: VecDeque<LineageEntry> = VecDeque::new();
    let mut walked = 0usize;
    while let Some(declared) = next {
        if declared.format != r.format() {
            // A chain that changes format: only a verifier that reads the
            // other format can go on, never a guess.
            let foreign = ctx.foreign.ok_or(DenyReason::LineageMismatch)?;
            let rest = ctx.with_ancestors(supplied.as_slice());
            let above = foreign.verify_ancestry(&declared, &rest, budget.saturating_sub(walked))?;
            return walked
                .checked_add(above)
                .filter(|n| *n <= budget)
                .ok_or(DenyReason::DepthExceeded);
        }
        walked = walked
            .checked_add(1)
            .filter(|n| *n <= budget)
            .ok_or(DenyReason::DepthExceeded)?;
        hashes.push(declared.hash);
        next = match supplied.next() {
            Some(token) => authenticate(r, token, &declared)?,
            None => match r.row_cache().get(&declared.hash) {
                Some((id, grandparent)) if id == declared.id => grandparent,
                Some(_) => return Err(DenyReason::LineageMismatch),
                None => {
                    // Rows fetched earlier in this walk come in chain order;
                    // those of ancestors the cache answered are skipped.
                    while fetched
                        .front()
                        .is_some_and(|row| row.token_id != declared.id)
                    {
                        fetched.pop_front();
                    }
                    if fetched.is_empty() {
                        let left = budget.saturating_sub(walked).saturating_add(1);
                        fetched = ctx
                            .lineage
                            .ancestry(&declared.id, left)
                            .map_err(|_| DenyReason::Store)?
                            .into();
                    }
                    let row = fetched.pop_front().ok_or(DenyReason::LineageUnknown)?;
                    authenticate_row(r, &row, &declared)?
                }
            },
        };
    }
    // More ancestors supplied than the chain has: not this chain's.
    if supplied.next().is_some() {
        return Err(DenyReason::LineageMismatch);
    }
    Ok(walked)
}

/// Who stands behind a re-issued step.
enum Authority<'a> {
    /// Nobody: refused when the step delegates away from a bound holder.
    Unsigned,
    /// The holder's key itself, in this process.
    Key(&'a HolderSigningKey),
    /// The holder's signed request: accepted once, while fresh.
    Request {
        request: &'a DelegationRequest,
        nonces: &'a dyn NonceStore,
        settings: PossessionSettings,
        now: u64,
    },
}

/// Re-issues `parent` (in `from`'s format, authenticated with its keys)
/// narrowed by `step` (strictly: a widening step is refused), as a child in
/// `to`'s format, sealed by its signing key, whose parent is `parent`. A step that delegates away
/// from a key-bound holder needs that holder's key or signed request for
/// exactly this parent and step (DESIGN.md §8); a request's nonce is reserved
/// last, once everything else passed.
fn reissue<F: Reissuer + ?Sized, T: Reissuer + ?Sized>(
    from: &F,
    to: &T,
    parent: &Token,
    step: &Attenuation,
    authority: &Authority<'_>,
) -> Result<Token, Error> {
    step.check_appendable()?;
    check_format(parent, from.format())?;
    let parent_cap = from
        .open(parent)
        .map_err(|reason| open_error(from, parent, reason))?;
    let parent_hash = LineageHash::compute(from.format(), parent.as_bytes());
    let holder = parent_cap.subject.holder_key();
    match authority {
        Authority::Unsigned => step.check_taken_by(&parent_cap.subject, None)?,
        Authority::Key(key) => step.check_taken_by(&parent_cap.subject, Some(key.public()))?,
        Authority::Request { request, .. } => {
            if request.parent != parent_hash || request.step != *step {
                return Err(ModelError::DelegationSignature.into());
            }
            // An unbound holder needs no signature, but a request that does
            // not verify is refused rather than ignored.
            request.check_signature(holder.unwrap_or(&request.signature.signer), from.format())?;
        }
    }
    let mut child = parent_cap.attenuate(step)?;
    // The signing key seals the child, whichever key made the parent.
    child.issuer = to
        .signing_key_id()
        .ok_or(crate::error::KeyError::NoSigningKey)?
        .clone();
    child.id = TokenId::random()?;
    child.parent = Some(ParentRef::new(from.format(), parent_cap.id, parent_hash));
    child.check_issuable()?;
    if let Authority::Request {
        request,
        nonces,
        settings,
        now,
    } = authority
    {
        let refused = |reason| Error::from(ModelError::DelegationRequestRefused(reason));
        let fresh_until =
            possession::freshness(*settings, request.issued_at, *now).map_err(refused)?;
        let account = Account::of(from.format(), &parent_cap.issuer, &parent_cap.id);
        possession::reserve_nonce(
            &Possession::new(*nonces).with_settings(*settings),
            &request.signature.signer,
            &request.nonce,
            fresh_until,
            *now,
            &account,
        )
        .map_err(refused)?;
    }
    to.seal(&child)
}

/// The bridge issuer of a format migration (DESIGN.md §9): re-issues `parent`,
/// a token of `from`'s format authenticated with `from`'s keys, narrowed by
/// `step`, as a child in `to`'s format sealed by `to`'s signing key. The child
/// names its parent by format, id and lineage hash in the parent's own
/// format, so a verifier that reads both formats (see [`crate::ForeignLineage`])
/// verifies the chain live or cold, and revoking the parent revokes the child.
/// A step that delegates away from a key-bound holder needs `holder`, that
/// holder's key. Record the child in the lineage index with `to`, as any
/// re-issued token.
///
/// # Errors
/// As [`TokenProvider::attenuate_signed`] (or [`TokenProvider::attenuate`]
/// without `holder`), and [`Error::Key`] when `to` has no signing key.
pub fn bridge(
    from: &dyn Reissuer,
    to: &dyn Reissuer,
    parent: &Token,
    step: &Attenuation,
    holder: Option<&HolderSigningKey>,
) -> Result<Token, Error> {
    let authority = holder.map_or(Authority::Unsigned, Authority::Key);
    reissue(from, to, parent, step, &authority)
}

impl<R: Reissuer> TokenProvider for R {
    fn format(&self) -> Format {
        Reissuer::format(self)
    }

    fn properties(&self) -> Properties {
        Reissuer::properties(self)
    }

    fn marker(&self) -> Marker {
        Reissuer::marker(self)
    }

    fn verify_ancestry(
        &self,
        declared: &ParentRef,
        ctx: &VerifyContext<'_>,
        budget: usize,
    ) -> Result<usize, DenyReason> {
        let mut hashes = Vec::with_capacity(8);
        let walked = walk_ancestors(self, Some(*declared), ctx, budget, &mut hashes)?;
        check_unrevoked(ctx, &hashes)?;
        Ok(walked)
    }

    fn as_reissuer(&self) -> Option<&dyn Reissuer> {
        Some(self)
    }

    fn issue(&self, capability: &Capability) -> Result<Token, Error> {
        capability.check_issuable()?;
        self.seal(capability)
    }

    fn attenuate(&self, parent: &Token, step: &Attenuation) -> Result<Token, Error> {
        reissue(self, self, parent, step, &Authority::Unsigned)
    }

    fn attenuate_signed(
        &self,
        parent: &Token,
        step: &Attenuation,
        holder: &HolderSigningKey,
    ) -> Result<Token, Error> {
        // The holder's key is here: nothing travels, so nothing can be replayed.
        reissue(self, self, parent, step, &Authority::Key(holder))
    }

    fn verify(
        &self,
        token: &Token,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        request.check_bounds()?;
        let cap = self.open(token)?;
        let holder = crate::reference::authorize_chain(&cap, &[], request)?;
        let lineage_hash = LineageHash::compute(Reissuer::format(self), token.as_bytes());
        let chain_len = walk_lineage(self, &lineage_hash, cap.parent, ctx)?;
        let verified = Verified::new(
            Reissuer::format(self),
            cap.id,
            cap.issuer,
            cap.issued_at,
            lineage_hash,
            chain_len,
            holder,
        );
        possession::enforce(ctx.possession.as_ref(), &verified, request)?;
        Ok(verified)
    }

    fn verify_text(
        &self,
        text: &str,
        request: &Request,
        ctx: &VerifyContext<'_>,
    ) -> Result<Verified, Denied> {
        // `open` (in `verify`) frames the token: framing it in a parse first
        // would only repeat the work.
        let token = Reissuer::wrap_text(self, text)
            .map_err(|_| DenyReason::Malformed("not this format's text form"))?;
        TokenProvider::verify(self, &token, request, ctx)
    }

    fn lineage_hash(&self, token: &Token) -> Result<LineageHash, Error> {
        self.peek(token)?;
        Ok(LineageHash::compute(
            Reissuer::format(self),
            token.as_bytes(),
        ))
    }

    fn index_entry(&self, token: &Token) -> Result<Option<LineageEntry>, Error> {
        // Authenticated: the index must only ever hold genuine credentials.
        check_format(token, Reissuer::format(self))?;
        let cap = self
            .open(token)
            .map_err(|reason| open_error(self, token, reason))?;
        let mut row = LineageEntry::new(
            cap.id,
            LineageHash::compute(Reissuer::format(self), token.as_bytes()),
            cap.parent,
            Vec::new(),
        );
        let signer = self
            .signing_key_id()
            .ok_or(crate::error::KeyError::NoSigningKey)?;
        row.seal = self.seal_row(signer, &row.sealed_bytes(Reissuer::format(self)))?;
        Ok(Some(row))
    }

    fn inspect(&self, token: &Token) -> Result<Inspection, Error> {
        let capability = self.peek(token)?;
        let declared = capability.parent.iter().map(|p| p.hash).collect();
        Ok(Inspection::new(
            Reissuer::format(self),
            capability,
            Vec::new(),
            declared,
        ))
    }

    fn parse_bytes(&self, bytes: &[u8]) -> Result<Token, Error> {
        Reissuer::parse_bytes(self, bytes)
    }

    fn to_text(&self, token: &Token) -> String {
        Reissuer::to_text(self, token)
    }

    fn parse_text(&self, text: &str) -> Result<Token, Error> {
        Reissuer::parse_text(self, text)
    }
}
