//! Holder keys (DESIGN.md §9): a principal's set of device and session keys, each with its validity window and state, the [`HolderKeys`] directory that stores them, and the one policy that enrols, endorses, retires and compromises them.
//!
//! A principal may hold several keys at once. Each is a [`HolderKeyRecord`]:
//! the key, a validity window `[not_before, not_after)` and a [`KeyState`]
//! (the one state model of issuer keyrings, applied forward only by
//! [`KeyState::then`]). A proof is accepted from a key that [`admit`]s the
//! proof's time.
//!
//! [`HolderKeys`] is storage only, so that durable stores implement just it;
//! the policy is written once, here, over `&dyn HolderKeys`:
//!
//! - the issuer [`enroll`]s a key, [`retire`]s it or [`mark_compromised`]s it;
//! - an admitted key of the principal endorses a new key ([`Endorsement`],
//!   [`accept_endorsement`]) within its own window;
//! - an admitted key of the principal marks a key of the set compromised,
//!   itself included ([`CompromiseNotice`], [`accept_compromise_notice`]).
//!
//! A directory never overwrites a record and states only take power away, so
//! replaying an old endorsement can never revive a compromised key.
//!
//! Both signed objects cover a domain-separated encoding of their fields;
//! their binary form is a version byte, the same fields, then the signature:
//!
//! ```text
//! size  field
//! 1     version, 0x01 (binary form only)
//! 1     n, length of the principal (0..=128)
//! n     principal, UTF-8
//! 1+k   algorithm byte (1 = Ed25519, 2 = P-256) and the key: the endorsed or
//!       marked key
//! 1+k   algorithm byte and the signer's key
//! 8     endorsement: not_before; notice: at             (big-endian)
//! 8     endorsement: not_after;  notice: issued_at
//! 8     endorsement: issued_at
//! 64    signature over the domain || every field above but the version
//! ```
//!
//! with the domains `captoken/holder-endorse/v1` and `captoken/holder-compromise/v1`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::bounds::MAX_NAME_LEN;
use crate::capability::HolderKey;
use crate::error::StoreError;
use crate::keyring::KeyState;
use crate::possession::{
    HolderSigningKey, PossessionSettings, ProofError, freshness, key_algorithm, read_key,
    verify_holder_signature,
};
use crate::provider::DenyReason;

/// The domain separator of an [`Endorsement`]'s signature.
pub const ENDORSE_DOMAIN: &[u8] = b"captoken/holder-endorse/v1";
/// The domain separator of a [`CompromiseNotice`]'s signature.
pub const COMPROMISE_DOMAIN: &[u8] = b"captoken/holder-compromise/v1";
/// The version byte of the binary forms.
const VERSION: u8 = 1;
/// The longest key field: an algorithm byte and a compressed P-256 point.
const MAX_KEY_FIELD: usize = 1 + 33;
/// The longest binary form with `times` time fields.
const fn max_len(times: usize) -> usize {
    1 + 1 + MAX_NAME_LEN + 2 * MAX_KEY_FIELD + 8 * times + 64
}

/// One key of a principal's set: the key, its validity window and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HolderKeyRecord {
    /// The holder's public key.
    pub key: HolderKey,
    /// The first second the key is valid, Unix seconds.
    pub not_before: u64,
    /// The end of the key's validity, Unix seconds, exclusive.
    pub not_after: u64,
    /// Where the key is in its lifecycle.
    pub state: KeyState,
}

impl HolderKeyRecord {
    /// An active key, valid from `not_before` until before `not_after`.
    #[must_use]
    pub fn new(key: HolderKey, not_before: u64, not_after: u64) -> Self {
        Self {
            key,
            not_before,
            not_after,
            state: KeyState::Active,
        }
    }

    /// Does the key admit what it signed at `t`?
    ///
    /// # Errors
    /// [`DenyReason::HolderKeyCompromised`] whatever `t`;
    /// [`DenyReason::HolderKeyInactive`] when `t` is outside
    /// `[not_before, not_after)` or the key retired at or before `t`.
    pub fn admits(&self, t: u64) -> Result<(), DenyReason> {
        if let KeyState::Compromised { .. } = self.state {
            return Err(DenyReason::HolderKeyCompromised);
        }
        if t < self.not_before || t >= self.not_after || !self.state.verifies(t) {
            return Err(DenyReason::HolderKeyInactive);
        }
        Ok(())
    }

    /// The end of the key's usable life: `not_after`, or its retirement if earlier.
    fn usable_until(&self) -> u64 {
        match self.state {
            KeyState::Retired { at } => at.min(self.not_after),
            _ => self.not_after,
        }
    }
}

/// The storage of principals' holder keys: no policy (that is [`enroll`],
/// [`accept_endorsement`] and the other functions of this module), so that a
/// durable store implements only this.
///
/// [`HolderKeys::insert`] and [`HolderKeys::set_state`] must each be atomic.
pub trait HolderKeys: Send + Sync {
    /// The record of `key` in `principal`'s set, if enrolled.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn get(&self, principal: &str, key: &HolderKey) -> Result<Option<HolderKeyRecord>, StoreError>;

    /// Enrols `record` in `principal`'s set. Never overwrites: inserting the
    /// identical record again is `Ok`.
    ///
    /// # Errors
    /// [`StoreError::HolderKeyExists`] when a different record of the key is
    /// enrolled, [`StoreError::Full`] when the store takes no more records, or
    /// another [`StoreError`].
    fn insert(&self, principal: &str, record: HolderKeyRecord) -> Result<(), StoreError>;

    /// Moves the key to `state` by [`KeyState::then`]: forward only.
    ///
    /// # Errors
    /// [`StoreError::HolderKeyUnknown`] when the key is not enrolled,
    /// [`StoreError::StateRegression`] for a move back, or another [`StoreError`].
    fn set_state(
        &self,
        principal: &str,
        key: &HolderKey,
        state: KeyState,
    ) -> Result<(), StoreError>;

    /// Every record of `principal`'s set, sorted by key.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn keys(&self, principal: &str) -> Result<Vec<HolderKeyRecord>, StoreError>;
}

/// An in-memory [`HolderKeys`] of bounded capacity: when full it refuses new
/// records ([`StoreError::Full`]) and never evicts one. A poisoned lock is
/// [`StoreError::Poisoned`]. `Debug` shows the number of records only.
pub struct MemoryHolderKeys {
    table: RwLock<Table>,
    capacity: usize,
}

#[derive(Default)]
struct Table {
    sets: HashMap<String, BTreeMap<HolderKey, HolderKeyRecord>>,
    len: usize,
}

impl MemoryHolderKeys {
    /// The default capacity, in records.
    pub const DEFAULT_CAPACITY: usize = 1 << 20;

    /// An empty directory of [`Self::DEFAULT_CAPACITY`] records.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty directory of at most `capacity` records.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            table: RwLock::new(Table::default()),
            capacity,
        }
    }
}

impl Default for MemoryHolderKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryHolderKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MemoryHolderKeys");
        match self.table.try_read() {
            Ok(t) => d.field("records", &t.len),
            Err(_) => d.field("records", &"<unavailable>"),
        };
        d.field("capacity", &self.capacity).finish()
    }
}

impl HolderKeys for MemoryHolderKeys {
    fn get(&self, principal: &str, key: &HolderKey) -> Result<Option<HolderKeyRecord>, StoreError> {
        let t = self.table.read().map_err(|_| StoreError::Poisoned)?;
        Ok(t.sets.get(principal).and_then(|s| s.get(key)).cloned())
    }

    fn insert(&self, principal: &str, record: HolderKeyRecord) -> Result<(), StoreError> {
        let mut t = self.table.write().map_err(|_| StoreError::Poisoned)?;
        match t.sets.get(principal).and_then(|s| s.get(&record.key)) {
            Some(held) if *held == record => return Ok(()),
            Some(_) => return Err(StoreError::HolderKeyExists),
            None if t.len >= self.capacity => return Err(StoreError::Full),
            None => {}
        }
        t.sets
            .entry(principal.to_owned())
            .or_default()
            .insert(record.key.clone(), record);
        t.len += 1;
        Ok(())
    }

    fn set_state(
        &self,
        principal: &str,
        key: &HolderKey,
        state: KeyState,
    ) -> Result<(), StoreError> {
        let mut t = self.table.write().map_err(|_| StoreError::Poisoned)?;
        let record = t
            .sets
            .get_mut(principal)
            .and_then(|s| s.get_mut(key))
            .ok_or(StoreError::HolderKeyUnknown)?;
        let from = record.state;
        record.state = from
            .then(state)
            .map_err(|_| StoreError::StateRegression { from, to: state })?;
        Ok(())
    }

    fn keys(&self, principal: &str) -> Result<Vec<HolderKeyRecord>, StoreError> {
        let t = self.table.read().map_err(|_| StoreError::Poisoned)?;
        Ok(t.sets
            .get(principal)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default())
    }
}

/// Why the holder-key policy refuses an enrolment, endorsement or notice, or
/// why bytes are not an endorsement or notice.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HolderKeyError {
    /// The bytes are not an endorsement or notice of this version.
    #[error("malformed holder-key message: {0}")]
    Malformed(&'static str),
    /// The principal is longer than [`MAX_NAME_LEN`] bytes.
    #[error("principal longer than {MAX_NAME_LEN} bytes")]
    PrincipalTooLong,
    /// The validity window ends at or before its start.
    #[error("validity window is empty")]
    EmptyWindow,
    /// The signature does not verify over these fields by this signer.
    #[error("holder-key message signature invalid")]
    BadSignature,
    /// A key endorses itself.
    #[error("a key cannot endorse itself")]
    SelfEndorsement,
    /// The message is stale or dated in the future ([`DenyReason::ProofStale`],
    /// [`DenyReason::ProofFutureDated`]).
    #[error("holder-key message not fresh: {0}")]
    NotFresh(DenyReason),
    /// The signer is not in the principal's key set.
    #[error("signer not in the principal's key set")]
    SignerNotMember,
    /// The signer is in the set but not admitted at the signing time or now.
    #[error("signer not active: {0}")]
    SignerNotActive(DenyReason),
    /// The endorsed window reaches outside the signer's own.
    #[error("endorsed window reaches outside the signer's")]
    WindowNotWithinSigner,
    /// The key to mark, retire or compromise is not in the principal's set.
    #[error("key not in the principal's key set")]
    TargetUnknown,
    /// The directory failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The issuer enrols `key` in `principal`'s set, active from `not_before`
/// until before `not_after`.
///
/// # Errors
/// [`HolderKeyError::PrincipalTooLong`], [`HolderKeyError::EmptyWindow`], or
/// [`HolderKeyError::Store`] (with [`StoreError::HolderKeyExists`] when the key
/// is enrolled on other terms).
pub fn enroll(
    dir: &dyn HolderKeys,
    principal: &str,
    key: HolderKey,
    not_before: u64,
    not_after: u64,
) -> Result<(), HolderKeyError> {
    if principal.len() > MAX_NAME_LEN {
        return Err(HolderKeyError::PrincipalTooLong);
    }
    if not_before >= not_after {
        return Err(HolderKeyError::EmptyWindow);
    }
    dir.insert(principal, HolderKeyRecord::new(key, not_before, not_after))?;
    Ok(())
}

/// The issuer retires `key` of `principal` at `at`: it admits only what it
/// signed before `at`.
///
/// # Errors
/// [`HolderKeyError::TargetUnknown`], or [`HolderKeyError::Store`] (with
/// [`StoreError::StateRegression`] for a later retirement or a compromised key).
pub fn retire(
    dir: &dyn HolderKeys,
    principal: &str,
    key: &HolderKey,
    at: u64,
) -> Result<(), HolderKeyError> {
    set_state(dir, principal, key, KeyState::Retired { at })
}

/// The issuer marks `key` of `principal` compromised: it admits nothing, whatever the time.
///
/// # Errors
/// [`HolderKeyError::TargetUnknown`] or [`HolderKeyError::Store`].
pub fn mark_compromised(
    dir: &dyn HolderKeys,
    principal: &str,
    key: &HolderKey,
    at: u64,
) -> Result<(), HolderKeyError> {
    set_state(dir, principal, key, KeyState::Compromised { at })
}

fn set_state(
    dir: &dyn HolderKeys,
    principal: &str,
    key: &HolderKey,
    state: KeyState,
) -> Result<(), HolderKeyError> {
    dir.set_state(principal, key, state).map_err(|e| match e {
        StoreError::HolderKeyUnknown => HolderKeyError::TargetUnknown,
        e => e.into(),
    })
}

/// Does `principal`'s set admit `key` at `t` (a proof's signed time)?
///
/// # Errors
/// [`DenyReason::HolderKeyUnknown`] when the key is not in the set,
/// [`DenyReason::Store`] when the directory fails, else as [`HolderKeyRecord::admits`].
pub fn admit(
    dir: &dyn HolderKeys,
    principal: &str,
    key: &HolderKey,
    t: u64,
) -> Result<(), DenyReason> {
    dir.get(principal, key)
        .map_err(|_| DenyReason::Store)?
        .ok_or(DenyReason::HolderKeyUnknown)?
        .admits(t)
}

/// The record of `signer` in `principal`'s set, if it admits both its signing
/// time and now: a compromised, retired or unknown key signs nothing.
fn admitted_signer(
    dir: &dyn HolderKeys,
    principal: &str,
    signer: &HolderKey,
    issued_at: u64,
    now: u64,
) -> Result<HolderKeyRecord, HolderKeyError> {
    let record = dir
        .get(principal, signer)?
        .ok_or(HolderKeyError::SignerNotMember)?;
    record
        .admits(issued_at)
        .and_then(|()| record.admits(now))
        .map_err(HolderKeyError::SignerNotActive)?;
    Ok(record)
}

/// A key of a principal's set endorsing a new key into it, for a window.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endorsement {
    /// The principal whose set the key joins.
    pub principal: String,
    /// The new key.
    pub key: HolderKey,
    /// The new key's first valid second, Unix seconds.
    pub not_before: u64,
    /// The end of the new key's validity, Unix seconds, exclusive.
    pub not_after: u64,
    /// When the endorsement was signed, Unix seconds.
    pub issued_at: u64,
    /// The endorsing key, a member of the principal's set.
    pub signer: HolderKey,
    /// The signer's signature (see the [module documentation](self)).
    pub signature: [u8; 64],
}

impl Endorsement {
    /// `signer`'s endorsement of `key` into `principal`'s set for
    /// `[not_before, not_after)`, signed at `issued_at`.
    ///
    /// # Errors
    /// [`HolderKeyError::PrincipalTooLong`].
    pub fn sign(
        principal: &str,
        key: HolderKey,
        not_before: u64,
        not_after: u64,
        issued_at: u64,
        signer: &HolderSigningKey,
    ) -> Result<Self, HolderKeyError> {
        let mut e = Self {
            principal: principal.to_owned(),
            key,
            not_before,
            not_after,
            issued_at,
            signer: signer.public().clone(),
            signature: [0; 64],
        };
        e.signature = signer.sign(&e.signed_message()?);
        Ok(e)
    }

    fn body(&self) -> Result<Vec<u8>, HolderKeyError> {
        body(
            &self.principal,
            [&self.key, &self.signer],
            &[self.not_before, self.not_after, self.issued_at],
        )
    }

    fn signed_message(&self) -> Result<Vec<u8>, HolderKeyError> {
        Ok([ENDORSE_DOMAIN, &self.body()?].concat())
    }

    /// The binary form (see the [module documentation](self)).
    ///
    /// # Errors
    /// [`HolderKeyError::PrincipalTooLong`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, HolderKeyError> {
        Ok([&[VERSION], self.body()?.as_slice(), &self.signature].concat())
    }

    /// Reads the binary form. Nothing is verified: [`accept_endorsement`] does.
    ///
    /// # Errors
    /// [`HolderKeyError::Malformed`] for anything but an endorsement of this version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HolderKeyError> {
        let (principal, [key, signer], [not_before, not_after, issued_at], signature) =
            decode(bytes)?;
        Ok(Self {
            principal,
            key,
            not_before,
            not_after,
            issued_at,
            signer,
            signature,
        })
    }
}

/// Accepts `endorsement` at `now`: the new key joins the principal's set.
///
/// Checks, in order: the signature; that the key does not endorse itself; a
/// non-empty window; freshness of `issued_at` by `settings` (so that a captured
/// endorsement cannot be used for ever); that the signer is in the set and
/// admitted both at `issued_at` and at `now` (a compromised key endorses
/// nothing); that the new window lies within the signer's (up to its
/// retirement, if retired), so that a short-lived key cannot mint a
/// longer-lived one. Accepting the same endorsement again is `Ok`; it never
/// revives a key marked compromised since, as a directory never overwrites.
///
/// # Errors
/// [`HolderKeyError`], one variant per check; [`HolderKeyError::Store`] with
/// [`StoreError::HolderKeyExists`] when the key is enrolled on other terms.
pub fn accept_endorsement(
    dir: &dyn HolderKeys,
    endorsement: &Endorsement,
    now: u64,
    settings: PossessionSettings,
) -> Result<(), HolderKeyError> {
    let e = endorsement;
    if !verify_holder_signature(&e.signer, &e.signed_message()?, &e.signature) {
        return Err(HolderKeyError::BadSignature);
    }
    if e.signer == e.key {
        return Err(HolderKeyError::SelfEndorsement);
    }
    if e.not_before >= e.not_after {
        return Err(HolderKeyError::EmptyWindow);
    }
    freshness(settings, e.issued_at, now).map_err(HolderKeyError::NotFresh)?;
    let signer = admitted_signer(dir, &e.principal, &e.signer, e.issued_at, now)?;
    if e.not_before < signer.not_before || e.not_after > signer.usable_until() {
        return Err(HolderKeyError::WindowNotWithinSigner);
    }
    dir.insert(
        &e.principal,
        HolderKeyRecord::new(e.key.clone(), e.not_before, e.not_after),
    )?;
    Ok(())
}

/// A key of a principal's set marking a key of the set (possibly itself) compromised.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompromiseNotice {
    /// The principal whose set holds both keys.
    pub principal: String,
    /// The key to mark compromised.
    pub key: HolderKey,
    /// When the compromise is believed to have happened, Unix seconds (for the record).
    pub at: u64,
    /// When the notice was signed, Unix seconds.
    pub issued_at: u64,
    /// The signing key, a member of the principal's set.
    pub signer: HolderKey,
    /// The signer's signature (see the [module documentation](self)).
    pub signature: [u8; 64],
}

impl CompromiseNotice {
    /// `signer`'s notice that `key` of `principal` is compromised since `at`,
    /// signed at `issued_at`.
    ///
    /// # Errors
    /// [`HolderKeyError::PrincipalTooLong`].
    pub fn sign(
        principal: &str,
        key: HolderKey,
        at: u64,
        issued_at: u64,
        signer: &HolderSigningKey,
    ) -> Result<Self, HolderKeyError> {
        let mut n = Self {
            principal: principal.to_owned(),
            key,
            at,
            issued_at,
            signer: signer.public().clone(),
            signature: [0; 64],
        };
        n.signature = signer.sign(&n.signed_message()?);
        Ok(n)
    }

    fn body(&self) -> Result<Vec<u8>, HolderKeyError> {
        body(
            &self.principal,
            [&self.key, &self.signer],
            &[self.at, self.issued_at],
        )
    }

    fn signed_message(&self) -> Result<Vec<u8>, HolderKeyError> {
        Ok([COMPROMISE_DOMAIN, &self.body()?].concat())
    }

    /// The binary form (see the [module documentation](self)).
    ///
    /// # Errors
    /// [`HolderKeyError::PrincipalTooLong`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, HolderKeyError> {
        Ok([&[VERSION], self.body()?.as_slice(), &self.signature].concat())
    }

    /// Reads the binary form. Nothing is verified: [`accept_compromise_notice`] does.
    ///
    /// # Errors
    /// [`HolderKeyError::Malformed`] for anything but a notice of this version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HolderKeyError> {
        let (principal, [key, signer], [at, issued_at], signature) = decode(bytes)?;
        Ok(Self {
            principal,
            key,
            at,
            issued_at,
            signer,
            signature,
        })
    }
}

/// Accepts `notice` at `now`: its key is marked compromised.
///
/// Checks, in order: the signature; freshness of `issued_at` by `settings`;
/// that the signer is in the set and admitted at `issued_at` and at `now` (a
/// compromised or unknown key marks nothing); that the key is in the set.
///
/// # Errors
/// [`HolderKeyError`], one variant per check, or [`HolderKeyError::Store`].
pub fn accept_compromise_notice(
    dir: &dyn HolderKeys,
    notice: &CompromiseNotice,
    now: u64,
    settings: PossessionSettings,
) -> Result<(), HolderKeyError> {
    let n = notice;
    if !verify_holder_signature(&n.signer, &n.signed_message()?, &n.signature) {
        return Err(HolderKeyError::BadSignature);
    }
    freshness(settings, n.issued_at, now).map_err(HolderKeyError::NotFresh)?;
    admitted_signer(dir, &n.principal, &n.signer, n.issued_at, now)?;
    mark_compromised(dir, &n.principal, &n.key, n.at)
}

/// The fields of a signed holder-key message, without version or signature.
fn body(principal: &str, keys: [&HolderKey; 2], times: &[u64]) -> Result<Vec<u8>, HolderKeyError> {
    let n = u8::try_from(principal.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_NAME_LEN)
        .ok_or(HolderKeyError::PrincipalTooLong)?;
    let mut out = Vec::with_capacity(max_len(times.len()));
    out.push(n);
    out.extend_from_slice(principal.as_bytes());
    for key in keys {
        out.push(key_algorithm(key));
        out.extend_from_slice(key.as_bytes());
    }
    for t in times {
        out.extend_from_slice(&t.to_be_bytes());
    }
    Ok(out)
}

/// A decoded binary form: principal, key and signer, time fields, signature.
type Decoded<const T: usize> = (String, [HolderKey; 2], [u64; T], [u8; 64]);

/// Reads a binary form with `T` time fields.
fn decode<const T: usize>(bytes: &[u8]) -> Result<Decoded<T>, HolderKeyError> {
    let short = HolderKeyError::Malformed("truncated");
    if bytes.len() > max_len(T) {
        return Err(HolderKeyError::Malformed("too long"));
    }
    let (&version, rest) = bytes.split_first().ok_or(short.clone())?;
    if version != VERSION {
        return Err(HolderKeyError::Malformed("unsupported version"));
    }
    let (&n, rest) = rest.split_first().ok_or(short.clone())?;
    if usize::from(n) > MAX_NAME_LEN {
        return Err(HolderKeyError::Malformed("principal too long"));
    }
    let (principal, mut rest) = rest.split_at_checked(n.into()).ok_or(short.clone())?;
    let principal = String::from_utf8(principal.to_vec())
        .map_err(|_| HolderKeyError::Malformed("principal not UTF-8"))?;
    let mut key = || {
        let (&alg, tail) = rest.split_first().ok_or(short.clone())?;
        let (key, tail) = read_key(alg, tail).map_err(|e| match e {
            ProofError::Version => HolderKeyError::Malformed("unknown key algorithm"),
            ProofError::Key => HolderKeyError::Malformed("invalid key"),
            _ => short.clone(),
        })?;
        rest = tail;
        Ok::<_, HolderKeyError>(key)
    };
    let keys = [key()?, key()?];
    let mut times = [0u64; T];
    for t in &mut times {
        let (b, tail) = rest.split_first_chunk::<8>().ok_or(short.clone())?;
        *t = u64::from_be_bytes(*b);
        rest = tail;
    }
    let (signature, rest) = rest.split_first_chunk::<64>().ok_or(short)?;
    if !rest.is_empty() {
        return Err(HolderKeyError::Malformed("trailing bytes"));
    }
    Ok((principal, keys, times, *signature))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const NOW: u64 = 1_000_000;
    const P: &str = "agent:a";
    const DAY: u64 = 86_400;

    fn key(b: u8) -> HolderSigningKey {
        HolderSigningKey::from_seed(&[b; 32])
    }

    fn pk(b: u8) -> HolderKey {
        key(b).public().clone()
    }

    fn settings() -> PossessionSettings {
        PossessionSettings::default()
    }

    /// A directory where `agent:a` holds keys 1 and 2 for a day around NOW.
    fn dir() -> MemoryHolderKeys {
        let dir = MemoryHolderKeys::new();
        for b in [1, 2] {
            enroll(&dir, P, pk(b), NOW - DAY, NOW + DAY).unwrap();
        }
        dir
    }

    fn endorse(new: u8, signer: u8) -> Endorsement {
        Endorsement::sign(P, pk(new), NOW, NOW + 3600, NOW, &key(signer)).unwrap()
    }

    fn notice(target: u8, signer: u8) -> CompromiseNotice {
        CompromiseNotice::sign(P, pk(target), NOW - 10, NOW, &key(signer)).unwrap()
    }

    #[test]
    fn two_active_device_keys_are_both_admitted() {
        let dir = dir();
        assert_eq!(admit(&dir, P, &pk(1), NOW), Ok(()));
        assert_eq!(admit(&dir, P, &pk(2), NOW), Ok(()));
        assert_eq!(
            admit(&dir, P, &pk(3), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
        assert_eq!(
            admit(&dir, "agent:b", &pk(1), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
        let keys: Vec<HolderKey> = dir.keys(P).unwrap().into_iter().map(|r| r.key).collect();
        let mut sorted = vec![pk(1), pk(2)];
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(dir.keys("agent:b").unwrap().is_empty());
    }

    #[test]
    fn an_endorsed_key_is_admitted_and_replay_is_idempotent() {
        let dir = dir();
        let e = endorse(3, 1);
        assert_eq!(
            admit(&dir, P, &pk(3), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
        accept_endorsement(&dir, &e, NOW, settings()).unwrap();
        assert_eq!(admit(&dir, P, &pk(3), NOW), Ok(()));
        assert_eq!(
            admit(&dir, P, &pk(3), NOW + 3600),
            Err(DenyReason::HolderKeyInactive)
        );
        accept_endorsement(&dir, &e, NOW + 1, settings()).unwrap();
        assert_eq!(dir.keys(P).unwrap().len(), 3);
    }

    #[test]
    fn an_endorsement_by_a_non_member_is_refused() {
        let dir = dir();
        enroll(&dir, "agent:b", pk(9), NOW - DAY, NOW + DAY).unwrap();
        // Key 9 belongs to agent:b, not agent:a.
        assert_eq!(
            accept_endorsement(&dir, &endorse(3, 9), NOW, settings()),
            Err(HolderKeyError::SignerNotMember)
        );
        assert_eq!(
            admit(&dir, P, &pk(3), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
    }

    #[test]
    fn an_endorsement_by_a_compromised_or_inactive_key_is_refused() {
        let dir = dir();
        mark_compromised(&dir, P, &pk(1), NOW - 100).unwrap();
        assert_eq!(
            accept_endorsement(&dir, &endorse(3, 1), NOW, settings()),
            Err(HolderKeyError::SignerNotActive(
                DenyReason::HolderKeyCompromised
            ))
        );
        // A key retired before the endorsement's time endorses nothing either.
        retire(&dir, P, &pk(2), NOW - 1).unwrap();
        assert_eq!(
            accept_endorsement(&dir, &endorse(3, 2), NOW, settings()),
            Err(HolderKeyError::SignerNotActive(
                DenyReason::HolderKeyInactive
            ))
        );
        assert_eq!(
            admit(&dir, P, &pk(3), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
    }

    #[test]
    fn an_endorsed_window_must_lie_within_the_signers() {
        let dir = dir();
        let window = |nb, na| Endorsement::sign(P, pk(3), nb, na, NOW, &key(1)).unwrap();
        for e in [window(NOW, NOW + DAY + 1), window(NOW - DAY - 1, NOW + 10)] {
            assert_eq!(
                accept_endorsement(&dir, &e, NOW, settings()),
                Err(HolderKeyError::WindowNotWithinSigner)
            );
        }
        // A signer retiring at T cannot endorse past T.
        retire(&dir, P, &pk(1), NOW + 100).unwrap();
        assert_eq!(
            accept_endorsement(&dir, &window(NOW, NOW + 101), NOW, settings()),
            Err(HolderKeyError::WindowNotWithinSigner)
        );
        accept_endorsement(&dir, &window(NOW, NOW + 100), NOW, settings()).unwrap();
        // An empty window and self-endorsement are refused.
        assert_eq!(
            accept_endorsement(&dir, &window(NOW, NOW), NOW, settings()),
            Err(HolderKeyError::EmptyWindow)
        );
        let own = Endorsement::sign(P, pk(2), NOW, NOW + 1, NOW, &key(2)).unwrap();
        assert_eq!(
            accept_endorsement(&dir, &own, NOW, settings()),
            Err(HolderKeyError::SelfEndorsement)
        );
    }

    #[test]
    fn a_stale_or_future_endorsement_is_refused() {
        let dir = dir();
        let at =
            |issued_at| Endorsement::sign(P, pk(3), NOW, NOW + 60, issued_at, &key(1)).unwrap();
        assert_eq!(
            accept_endorsement(&dir, &at(NOW - 301), NOW, settings()),
            Err(HolderKeyError::NotFresh(DenyReason::ProofStale))
        );
        assert_eq!(
            accept_endorsement(&dir, &at(NOW + 31), NOW, settings()),
            Err(HolderKeyError::NotFresh(DenyReason::ProofFutureDated))
        );
        assert_eq!(
            accept_endorsement(&dir, &at(u64::MAX), NOW, settings()),
            Err(HolderKeyError::NotFresh(DenyReason::ProofFutureDated))
        );
    }

    #[test]
    fn replaying_an_endorsement_never_revives_a_compromised_key() {
        let dir = dir();
        let e = endorse(3, 1);
        accept_endorsement(&dir, &e, NOW, settings()).unwrap();
        mark_compromised(&dir, P, &pk(3), NOW).unwrap();
        assert_eq!(
            accept_endorsement(&dir, &e, NOW + 1, settings()),
            Err(HolderKeyError::Store(StoreError::HolderKeyExists))
        );
        assert_eq!(
            admit(&dir, P, &pk(3), NOW + 1),
            Err(DenyReason::HolderKeyCompromised)
        );
        // Nor does the issuer's enrolment.
        assert_eq!(
            enroll(&dir, P, pk(3), NOW, NOW + 3600),
            Err(HolderKeyError::Store(StoreError::HolderKeyExists))
        );
        assert_eq!(
            admit(&dir, P, &pk(3), NOW + 1),
            Err(DenyReason::HolderKeyCompromised)
        );
    }

    #[test]
    fn a_compromise_notice_by_another_active_key_marks_only_its_target() {
        let dir = dir();
        accept_endorsement(&dir, &endorse(3, 1), NOW, settings()).unwrap();
        accept_compromise_notice(&dir, &notice(2, 1), NOW, settings()).unwrap();
        assert_eq!(
            admit(&dir, P, &pk(2), NOW),
            Err(DenyReason::HolderKeyCompromised)
        );
        assert_eq!(admit(&dir, P, &pk(1), NOW), Ok(()));
        assert_eq!(admit(&dir, P, &pk(3), NOW), Ok(()));
        assert_eq!(
            dir.get(P, &pk(2)).unwrap().unwrap().state,
            KeyState::Compromised { at: NOW - 10 }
        );
        // A key may mark itself.
        accept_compromise_notice(&dir, &notice(3, 3), NOW, settings()).unwrap();
        assert_eq!(
            admit(&dir, P, &pk(3), NOW),
            Err(DenyReason::HolderKeyCompromised)
        );
        assert_eq!(admit(&dir, P, &pk(1), NOW), Ok(()));
    }

    #[test]
    fn a_compromise_notice_by_a_compromised_or_foreign_key_is_refused() {
        let dir = dir();
        enroll(&dir, "agent:b", pk(9), NOW - DAY, NOW + DAY).unwrap();
        mark_compromised(&dir, P, &pk(1), NOW).unwrap();
        assert_eq!(
            accept_compromise_notice(&dir, &notice(2, 1), NOW, settings()),
            Err(HolderKeyError::SignerNotActive(
                DenyReason::HolderKeyCompromised
            ))
        );
        assert_eq!(
            accept_compromise_notice(&dir, &notice(2, 9), NOW, settings()),
            Err(HolderKeyError::SignerNotMember)
        );
        assert_eq!(admit(&dir, P, &pk(2), NOW), Ok(()));
        // The target must be in the set.
        assert_eq!(
            accept_compromise_notice(&dir, &notice(7, 2), NOW, settings()),
            Err(HolderKeyError::TargetUnknown)
        );
        let stale = CompromiseNotice::sign(P, pk(1), NOW, NOW - 1000, &key(2)).unwrap();
        assert_eq!(
            accept_compromise_notice(&dir, &stale, NOW, settings()),
            Err(HolderKeyError::NotFresh(DenyReason::ProofStale))
        );
    }

    #[test]
    fn a_signature_over_another_principal_or_field_is_refused() {
        let dir = dir();
        enroll(&dir, "agent:b", pk(1), NOW - DAY, NOW + DAY).unwrap();
        let mut e = endorse(3, 1);
        e.principal = "agent:b".into();
        assert_eq!(
            accept_endorsement(&dir, &e, NOW, settings()),
            Err(HolderKeyError::BadSignature)
        );
        let mut e = endorse(3, 1);
        e.not_after += 1;
        assert_eq!(
            accept_endorsement(&dir, &e, NOW, settings()),
            Err(HolderKeyError::BadSignature)
        );
        let mut n = notice(2, 1);
        n.principal = "agent:b".into();
        assert_eq!(
            accept_compromise_notice(&dir, &n, NOW, settings()),
            Err(HolderKeyError::BadSignature)
        );
        // An endorsement's signature does not pass as a notice's.
        let e = endorse(2, 1);
        let mut n = notice(2, 1);
        n.signature = e.signature;
        assert_eq!(
            accept_compromise_notice(&dir, &n, NOW, settings()),
            Err(HolderKeyError::BadSignature)
        );
        assert_eq!(
            admit(&dir, "agent:b", &pk(3), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
        assert_eq!(admit(&dir, P, &pk(2), NOW), Ok(()));
    }

    #[test]
    fn a_key_outside_its_window_is_inactive() {
        let r = HolderKeyRecord::new(pk(1), NOW, NOW + 10);
        assert_eq!(r.admits(NOW - 1), Err(DenyReason::HolderKeyInactive));
        assert_eq!(r.admits(NOW), Ok(()));
        assert_eq!(r.admits(NOW + 9), Ok(()));
        assert_eq!(r.admits(NOW + 10), Err(DenyReason::HolderKeyInactive));
        let dir = MemoryHolderKeys::new();
        assert_eq!(
            enroll(&dir, P, pk(1), NOW, NOW),
            Err(HolderKeyError::EmptyWindow)
        );
        assert_eq!(
            enroll(&dir, &"a".repeat(MAX_NAME_LEN + 1), pk(1), NOW, NOW + 1),
            Err(HolderKeyError::PrincipalTooLong)
        );
    }

    #[test]
    fn a_retired_key_admits_only_what_came_before() {
        let dir = dir();
        retire(&dir, P, &pk(1), NOW).unwrap();
        assert_eq!(admit(&dir, P, &pk(1), NOW - 1), Ok(()));
        assert_eq!(
            admit(&dir, P, &pk(1), NOW),
            Err(DenyReason::HolderKeyInactive)
        );
        assert_eq!(
            admit(&dir, P, &pk(1), NOW + 1),
            Err(DenyReason::HolderKeyInactive)
        );
        // Retiring again may bring the time forward.
        retire(&dir, P, &pk(1), NOW - 5).unwrap();
        assert_eq!(
            admit(&dir, P, &pk(1), NOW - 5),
            Err(DenyReason::HolderKeyInactive)
        );
        assert_eq!(
            retire(&dir, P, &pk(7), NOW),
            Err(HolderKeyError::TargetUnknown)
        );
    }

    #[test]
    fn a_compromised_key_denies_whatever_the_time() {
        let dir = dir();
        mark_compromised(&dir, P, &pk(1), NOW).unwrap();
        for t in [0, NOW - DAY, NOW - 1, NOW, NOW + 1, u64::MAX] {
            assert_eq!(
                admit(&dir, P, &pk(1), t),
                Err(DenyReason::HolderKeyCompromised)
            );
        }
    }

    #[test]
    fn a_state_regression_is_refused() {
        let dir = dir();
        retire(&dir, P, &pk(1), NOW).unwrap();
        assert_eq!(
            dir.set_state(P, &pk(1), KeyState::Active),
            Err(StoreError::StateRegression {
                from: KeyState::Retired { at: NOW },
                to: KeyState::Active
            })
        );
        assert!(matches!(
            retire(&dir, P, &pk(1), NOW + 1),
            Err(HolderKeyError::Store(StoreError::StateRegression { .. }))
        ));
        mark_compromised(&dir, P, &pk(1), NOW).unwrap();
        for state in [KeyState::Active, KeyState::Retired { at: NOW }] {
            assert!(matches!(
                dir.set_state(P, &pk(1), state),
                Err(StoreError::StateRegression { .. })
            ));
        }
        // A second compromise keeps the first time.
        mark_compromised(&dir, P, &pk(1), NOW + 50).unwrap();
        assert_eq!(
            dir.get(P, &pk(1)).unwrap().unwrap().state,
            KeyState::Compromised { at: NOW }
        );
        assert_eq!(
            dir.set_state(P, &pk(7), KeyState::Active),
            Err(StoreError::HolderKeyUnknown)
        );
    }

    #[test]
    fn a_full_directory_refuses_without_evicting() {
        let dir = MemoryHolderKeys::with_capacity(2);
        enroll(&dir, P, pk(1), NOW, NOW + 1).unwrap();
        enroll(&dir, "agent:b", pk(2), NOW, NOW + 1).unwrap();
        assert_eq!(
            enroll(&dir, P, pk(3), NOW, NOW + 1),
            Err(HolderKeyError::Store(StoreError::Full))
        );
        // The identical record again is still fine: it takes no room.
        enroll(&dir, P, pk(1), NOW, NOW + 1).unwrap();
        assert_eq!(admit(&dir, P, &pk(1), NOW), Ok(()));
        assert_eq!(admit(&dir, "agent:b", &pk(2), NOW), Ok(()));
        assert_eq!(
            admit(&dir, P, &pk(3), NOW),
            Err(DenyReason::HolderKeyUnknown)
        );
        let shown = format!("{dir:?}");
        assert_eq!(shown, "MemoryHolderKeys { records: 2, capacity: 2 }");
    }

    #[test]
    fn the_binary_forms_round_trip_and_refuse_malformed_bytes() {
        let e = endorse(3, 1);
        let n = notice(2, 1);
        let eb = e.to_bytes().unwrap();
        let nb = n.to_bytes().unwrap();
        assert_eq!(Endorsement::from_bytes(&eb).unwrap(), e);
        assert_eq!(CompromiseNotice::from_bytes(&nb).unwrap(), n);
        for i in 0..eb.len() {
            assert!(Endorsement::from_bytes(&eb[..i]).is_err(), "{i}");
        }
        for i in 0..nb.len() {
            assert!(CompromiseNotice::from_bytes(&nb[..i]).is_err(), "{i}");
        }
        // Notices and endorsements differ in length: neither reads as the other.
        assert!(Endorsement::from_bytes(&nb).is_err());
        assert!(CompromiseNotice::from_bytes(&eb).is_err());
        let mut trailing = eb.clone();
        trailing.push(0);
        assert_eq!(
            Endorsement::from_bytes(&trailing),
            Err(HolderKeyError::Malformed("trailing bytes"))
        );
        let mut version = eb.clone();
        version[0] = 2;
        assert_eq!(
            Endorsement::from_bytes(&version),
            Err(HolderKeyError::Malformed("unsupported version"))
        );
        let mut alg = eb.clone();
        alg[2 + P.len()] = 0x7f;
        assert_eq!(
            Endorsement::from_bytes(&alg),
            Err(HolderKeyError::Malformed("unknown key algorithm"))
        );
        let mut utf8 = eb.clone();
        utf8[2] = 0xff;
        assert_eq!(
            Endorsement::from_bytes(&utf8),
            Err(HolderKeyError::Malformed("principal not UTF-8"))
        );
        let mut long = eb.clone();
        long[1] = 200;
        assert!(Endorsement::from_bytes(&long).is_err());
        for garbage in [&[][..], &[0xff; 16], &[1; 300], &[1; 1 << 16]] {
            assert!(Endorsement::from_bytes(garbage).is_err());
            assert!(CompromiseNotice::from_bytes(garbage).is_err());
        }
        // A decoded endorsement is accepted as the original.
        let dir = dir();
        accept_endorsement(
            &dir,
            &Endorsement::from_bytes(&eb).unwrap(),
            NOW,
            settings(),
        )
        .unwrap();
        assert_eq!(admit(&dir, P, &pk(3), NOW), Ok(()));
        // An over-long principal cannot be signed.
        assert_eq!(
            Endorsement::sign(&"a".repeat(129), pk(3), NOW, NOW + 1, NOW, &key(1)),
            Err(HolderKeyError::PrincipalTooLong)
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        let mut r = HolderKeyRecord::new(pk(1), NOW, NOW + 10);
        r.state = KeyState::Retired { at: NOW + 5 };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"key\":\"ed25519:"), "{json}");
        assert_eq!(serde_json::from_str::<HolderKeyRecord>(&json).unwrap(), r);
    }

    #[test]
    fn a_poisoned_directory_is_a_store_error() {
        let dir = Arc::new(dir());
        let d = Arc::clone(&dir);
        let _ = std::thread::spawn(move || {
            let _guard = d.table.write().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert_eq!(admit(&*dir, P, &pk(1), NOW), Err(DenyReason::Store));
        assert_eq!(
            enroll(&*dir, P, pk(3), NOW, NOW + 1),
            Err(HolderKeyError::Store(StoreError::Poisoned))
        );
        assert_eq!(
            accept_endorsement(&*dir, &endorse(3, 1), NOW, settings()),
            Err(HolderKeyError::Store(StoreError::Poisoned))
        );
        assert!(format!("{dir:?}").contains("unavailable"));
    }
}
