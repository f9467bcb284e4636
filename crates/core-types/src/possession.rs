//! Proof of possession (DESIGN.md §8): the holder-signed proof, the fail-closed nonce store, and the one ordered check every verifier runs.
//!
//! A **proof** binds one call to one token and one holder key: the lineage
//! hash of the exact token presented, the tool server and tool, the request's
//! action hash, a 128-bit nonce, the signed issue time and the signer's public
//! key, signed (Ed25519; ECDSA P-256 with the `p256` feature) over a domain-separated encoding
//! (`captoken/pop/v1`), so that no other signature made with the same key can
//! pass as a proof.
//!
//! ```text
//! offset  size  field
//! 0       1     version, 0x01
//! 1       1     signature algorithm, 0x01 = Ed25519, 0x02 = ECDSA P-256 (feature `p256`)
//! 2       32    lineage hash of the token presented
//! 34      1     n, length of the tool server id (0..=128)
//! 35      n     tool server id, UTF-8
//! 35+n    1     m, length of the tool name (0..=128)
//! 36+n    m     tool name, UTF-8
//! 36+n+m  32    action hash of the request (`Request::action_hash`)
//! 68+n+m  16    nonce
//! 84+n+m  8     issued_at, Unix seconds, big-endian
//! 92+n+m  k     signer's public key: Ed25519, k = 32; P-256 compressed SEC1, k = 33
//! 92+n+m+k 64   signature over "captoken/pop/v1" || bytes 0..92+n+m+k:
//!               Ed25519, or ECDSA P-256 / SHA-256 as r || s with s low
//! ```
//!
//! The text form is `ctp1.` followed by the URL-safe base64 (no padding) of
//! the binary form.
//!
//! [`check_proof`] runs the checks in the order of DESIGN.md §8, each denial
//! with its own [`DenyReason`]: size bounds and shape, schema, sender, binding,
//! freshness, signature, and only then the nonce, so that a sender who cannot
//! sign cannot fill the nonce store.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::bounds::MAX_NAME_LEN;
use crate::capability::{HolderBinding, HolderKey, KeyId, Subject, TokenId};
use crate::error::{Error, StoreError};
use crate::holder_keys::HolderKeys;
use crate::lineage::LineageHash;
use crate::provider::{DenyReason, Format, Verified};
use crate::request::Request;

/// The domain separator every proof signature covers.
pub const PROOF_DOMAIN: &[u8] = b"captoken/pop/v1";
/// The proof version this crate reads and writes.
pub const PROOF_VERSION: u8 = 1;
/// The text form's prefix.
pub const PROOF_TEXT_PREFIX: &str = "ctp1.";
/// Signature algorithm byte: Ed25519.
const ALG_ED25519: u8 = 1;
/// Signature algorithm byte: ECDSA P-256 with SHA-256 (feature `p256`).
const ALG_P256: u8 = 2;
/// The largest proof, in bytes: both names at [`MAX_NAME_LEN`], a P-256 key.
pub const MAX_PROOF_LEN: usize = 189 + 2 * MAX_NAME_LEN;
/// The smallest proof, in bytes: both names empty.
const MIN_PROOF_LEN: usize = 188;

/// A proof of possession, decoded but not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Proof {
    token: LineageHash,
    server: String,
    tool: String,
    action: [u8; 32],
    nonce: [u8; 16],
    issued_at: u64,
    signer: HolderKey,
    signature: [u8; 64],
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proof")
            .field("token", &self.token)
            .field("server", &self.server)
            .field("tool", &self.tool)
            .field("issued_at", &self.issued_at)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// A holder's signing key: Ed25519, or (feature `p256`) ECDSA P-256. Zeroized
/// on drop, redacted in `Debug`.
pub struct HolderSigningKey {
    secret: Secret,
    public: HolderKey,
}

/// The secret half of a [`HolderSigningKey`].
enum Secret {
    Ed25519(Zeroizing<[u8; 32]>),
    /// Zeroized on drop by the ecdsa crate.
    #[cfg(feature = "p256")]
    P256(p256::ecdsa::SigningKey),
}

impl HolderSigningKey {
    /// A fresh Ed25519 key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`Error::Random`] when no randomness is available.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The Ed25519 key derived from a 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
        Self {
            secret: Secret::Ed25519(Zeroizing::new(*seed)),
            public: HolderKey::Ed25519(public),
        }
    }

    /// A fresh ECDSA P-256 key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`Error::Random`] when no randomness is available.
    #[cfg(feature = "p256")]
    pub fn generate_p256() -> Result<Self, Error> {
        loop {
            let mut secret = Zeroizing::new([0u8; 32]);
            getrandom::fill(secret.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
            // A scalar of zero or at least the group order (probability about
            // 2^-32) is drawn again.
            if let Ok(key) = Self::from_p256_bytes(&secret) {
                return Ok(key);
            }
        }
    }

    /// The ECDSA P-256 key with this 32-byte big-endian secret scalar.
    ///
    /// # Errors
    /// [`ModelError::InvalidHolderKey`](crate::ModelError::InvalidHolderKey)
    /// for zero or a scalar not below the group order.
    #[cfg(feature = "p256")]
    pub fn from_p256_bytes(secret: &[u8; 32]) -> Result<Self, Error> {
        let key = p256::ecdsa::SigningKey::from_bytes(secret.into())
            .map_err(|_| crate::ModelError::InvalidHolderKey)?;
        let point = key.verifying_key().to_encoded_point(true);
        let public: [u8; 33] = point
            .as_bytes()
            .try_into()
            .map_err(|_| crate::ModelError::InvalidHolderKey)?;
        Ok(Self {
            secret: Secret::P256(key),
            public: HolderKey::P256(public),
        })
    }

    /// The public key a capability binds.
    #[must_use]
    pub fn public(&self) -> &HolderKey {
        &self.public
    }

    /// The secret seed of an Ed25519 key (`None` for another algorithm), for
    /// handing to a format library that signs with it (the Biscuit provider's
    /// third-party blocks). Never log or store it.
    #[must_use]
    pub fn ed25519_seed(&self) -> Option<&[u8; 32]> {
        match &self.secret {
            Secret::Ed25519(seed) => Some(seed),
            #[cfg(feature = "p256")]
            Secret::P256(_) => None,
        }
    }

    /// Signs `message`: Ed25519, or ECDSA P-256 with SHA-256 as `r || s`, low-S.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        match &self.secret {
            Secret::Ed25519(seed) => {
                use ed25519_dalek::Signer as _;
                SigningKey::from_bytes(seed).sign(message).to_bytes()
            }
            #[cfg(feature = "p256")]
            Secret::P256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = key.sign(message);
                // One signature, one encoding: ecdsa does not normalise.
                signature
                    .normalize_s()
                    .unwrap_or(signature)
                    .to_bytes()
                    .into()
            }
        }
    }
}

/// Does `signature` by `key` verify over `message`? Ed25519: `verify_strict`
/// (ed25519-dalek), which refuses a small-order key or `R`, and a
/// non-canonical `S`. P-256: only the low-S form of a signature is accepted, so that a
/// signature has one encoding.
pub(crate) fn verify_holder_signature(
    key: &HolderKey,
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    match key {
        HolderKey::Ed25519(pk) => VerifyingKey::from_bytes(pk).is_ok_and(|public| {
            public
                .verify_strict(message, &Signature::from_bytes(signature))
                .is_ok()
        }),
        #[cfg(feature = "p256")]
        HolderKey::P256(pk) => {
            use p256::ecdsa::signature::Verifier as _;
            let (Ok(public), Ok(signature)) = (
                p256::ecdsa::VerifyingKey::from_sec1_bytes(pk),
                p256::ecdsa::Signature::from_slice(signature),
            ) else {
                return false;
            };
            signature.normalize_s().is_none() && public.verify(message, &signature).is_ok()
        }
    }
}

/// The algorithm byte of proofs and delegation requests: 1 = Ed25519, 2 = P-256.
pub(crate) fn key_algorithm(key: &HolderKey) -> u8 {
    match key {
        HolderKey::Ed25519(_) => ALG_ED25519,
        #[cfg(feature = "p256")]
        HolderKey::P256(_) => ALG_P256,
    }
}

/// Is `alg` an algorithm byte this build reads?
pub(crate) fn known_algorithm(alg: u8) -> bool {
    alg == ALG_ED25519 || (cfg!(feature = "p256") && alg == ALG_P256)
}

/// Reads a holder key of algorithm `alg` from the front of `bytes`; returns it
/// and the rest.
///
/// # Errors
/// [`ProofError::Size`] when too short, [`ProofError::Version`] for an unknown
/// algorithm, [`ProofError::Key`] for bytes that are no key.
pub(crate) fn read_key(alg: u8, bytes: &[u8]) -> Result<(HolderKey, &[u8]), ProofError> {
    match alg {
        ALG_ED25519 => {
            let (k, rest) = bytes.split_first_chunk::<32>().ok_or(ProofError::Size)?;
            Ok((HolderKey::Ed25519(*k), rest))
        }
        #[cfg(feature = "p256")]
        ALG_P256 => {
            let (k, rest) = bytes.split_first_chunk::<33>().ok_or(ProofError::Size)?;
            let key = HolderKey::p256(*k).map_err(|_| ProofError::Key)?;
            Ok((key, rest))
        }
        _ => Err(ProofError::Version),
    }
}

impl fmt::Debug for HolderSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderSigningKey")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why bytes are not a proof of this version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub enum ProofError {
    /// Shorter or longer than any proof can be, or a field runs past the end.
    Size,
    /// Not this proof version or algorithm.
    Version,
    /// A name is not UTF-8.
    Encoding,
    /// Not the text form.
    Text,
    /// The signer's key is not a key of its algorithm (a P-256 key off the
    /// curve or not compressed).
    Key,
}

impl ProofError {
    /// The message, written once.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Size => "proof length out of bounds",
            Self::Version => "unsupported proof version or algorithm",
            Self::Encoding => "proof names are not UTF-8",
            Self::Text => "not a ctp1. proof",
            Self::Key => "proof signer is not a valid key",
        }
    }
}

impl From<ProofError> for DenyReason {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::Version => Self::ProofSchema,
            ProofError::Size | ProofError::Encoding | ProofError::Text | ProofError::Key => {
                Self::ProofMalformed
            }
        }
    }
}

impl Proof {
    /// The holder's proof for calling `request` with the token whose lineage
    /// hash is `token` (`TokenProvider::lineage_hash`), at `issued_at`, with a
    /// fresh random `nonce`.
    ///
    /// # Errors
    /// [`Error::Model`] when the server or tool name is beyond the size bounds.
    pub fn sign(
        token: LineageHash,
        request: &Request,
        nonce: [u8; 16],
        issued_at: u64,
        key: &HolderSigningKey,
    ) -> Result<Self, Error> {
        if request.server.len() > MAX_NAME_LEN || request.tool.len() > MAX_NAME_LEN {
            return Err(crate::ModelError::TooLarge("proof server or tool name").into());
        }
        let mut proof = Self {
            token,
            server: request.server.clone(),
            tool: request.tool.clone(),
            action: request.action_hash(),
            nonce,
            issued_at,
            signer: key.public().clone(),
            signature: [0; 64],
        };
        proof.signature = key.sign(&proof.signed_message());
        Ok(proof)
    }

    /// A fresh 128-bit nonce from the operating system.
    ///
    /// # Errors
    /// [`Error::Random`] when no randomness is available.
    pub fn nonce() -> Result<[u8; 16], Error> {
        let mut n = [0u8; 16];
        getrandom::fill(&mut n).map_err(|e| Error::Random(e.to_string()))?;
        Ok(n)
    }

    /// The bytes before the signature.
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_PROOF_LEN + self.server.len() + self.tool.len());
        out.extend_from_slice(&[PROOF_VERSION, key_algorithm(&self.signer)]);
        out.extend_from_slice(&self.token.0);
        for name in [&self.server, &self.tool] {
            // Both at most MAX_NAME_LEN = 128 bytes (checked in `sign` and `from_bytes`).
            out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&self.action);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(self.signer.as_bytes());
        out
    }

    /// What the signature covers: the domain, then the body.
    fn signed_message(&self) -> Vec<u8> {
        [PROOF_DOMAIN, &self.body()].concat()
    }

    /// The binary form.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// The text form, `ctp1.` and URL-safe base64.
    #[must_use]
    pub fn to_text(&self) -> String {
        crate::encode_text(PROOF_TEXT_PREFIX, &self.to_bytes())
    }

    /// Reads the binary form, checking its size first (check 0), then its
    /// version and algorithm (check 1). Nothing is authenticated.
    ///
    /// # Errors
    /// [`ProofError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() < MIN_PROOF_LEN || bytes.len() > MAX_PROOF_LEN {
            return Err(ProofError::Size);
        }
        let mut r = Reader(bytes);
        let [version, alg] = r.array::<2>()?;
        if version != PROOF_VERSION || !known_algorithm(alg) {
            return Err(ProofError::Version);
        }
        let token = LineageHash(r.array()?);
        let server = r.name()?;
        let tool = r.name()?;
        let action = r.array()?;
        let nonce = r.array()?;
        let issued_at = u64::from_be_bytes(r.array()?);
        let (signer, rest) = read_key(alg, r.0)?;
        r.0 = rest;
        let signature = r.array()?;
        if !r.0.is_empty() {
            return Err(ProofError::Size);
        }
        Ok(Self {
            token,
            server,
            tool,
            action,
            nonce,
            issued_at,
            signer,
            signature,
        })
    }

    /// Reads the text form.
    ///
    /// # Errors
    /// [`ProofError`].
    pub fn from_text(text: &str) -> Result<Self, ProofError> {
        let max = PROOF_TEXT_PREFIX.len() + MAX_PROOF_LEN.div_ceil(3) * 4;
        let bytes =
            crate::decode_text(PROOF_TEXT_PREFIX, text, max).map_err(|_| ProofError::Text)?;
        Self::from_bytes(&bytes)
    }

    /// The signer's public key.
    #[must_use]
    pub fn signer(&self) -> &HolderKey {
        &self.signer
    }

    /// When the holder made the proof (signed).
    #[must_use]
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
}

/// Reads fixed fields from the front of a proof.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProofError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(ProofError::Size)?;
        self.0 = rest;
        Ok(*head)
    }

    fn name(&mut self) -> Result<String, ProofError> {
        let [n] = self.array::<1>()?;
        let n = usize::from(n);
        if n > MAX_NAME_LEN {
            return Err(ProofError::Size);
        }
        let (name, rest) = self.0.split_at_checked(n).ok_or(ProofError::Size)?;
        self.0 = rest;
        String::from_utf8(name.to_vec()).map_err(|_| ProofError::Encoding)
    }
}

/// How long a proof lives and how far clocks may disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PossessionSettings {
    /// A proof is fresh until `issued_at + ttl` (seconds).
    pub ttl: u64,
    /// A proof may be dated up to `skew` seconds after the verifier's clock.
    pub skew: u64,
}

impl Default for PossessionSettings {
    /// 300 s of life, 30 s of clock skew.
    fn default() -> Self {
        Self { ttl: 300, skew: 30 }
    }
}

impl PossessionSettings {
    /// Settings with this time to live and clock skew, in seconds.
    #[must_use]
    pub fn new(ttl: u64, skew: u64) -> Self {
        Self { ttl, skew }
    }
}

/// What a nonce reservation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reservation {
    /// The nonce is now reserved for this scope.
    Reserved,
    /// The nonce was already reserved for this scope: a replay.
    Replayed,
    /// The store (or this scope's quota) is full of live nonces: refused, and
    /// nothing was evicted.
    Full,
}

/// Nonces of accepted proofs, each kept until its proof can no longer be
/// fresh. A store never forgets a live nonce: when full it refuses new ones.
pub trait NonceStore: Send + Sync {
    /// Atomically reserves `nonce` in `scope` (the signer key) until
    /// `keep_until` (Unix seconds), unless it is already reserved there, and
    /// charges it to `account` (the issued credential, for the per-credential
    /// quota). `now` is the verifier's clock, for pruning expired entries.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer; verification then denies.
    fn reserve(
        &self,
        scope: &HolderKey,
        nonce: &[u8; 16],
        keep_until: u64,
        now: u64,
        account: &Account,
    ) -> Result<Reservation, StoreError>;
}

/// An in-memory [`NonceStore`] with a bounded capacity and a per-credential
/// quota (per [`Account`]).
///
/// When a reservation would exceed either bound, entries whose `keep_until`
/// has passed are pruned first; if the bound still holds, the proof is refused
/// ([`Reservation::Full`]): a live nonce is never evicted. A poisoned lock is a
/// store error.
#[derive(Debug)]
pub struct MemoryNonceStore {
    inner: Mutex<NonceTable>,
    capacity: usize,
    quota: usize,
}

/// A live nonce: its scope (signer key) and the nonce.
type Entry = (HolderKey, [u8; 16]);

#[derive(Debug, Default)]
struct NonceTable {
    /// Each live nonce with its `keep_until` and account.
    live: HashMap<Entry, (u64, Account)>,
    by_expiry: BTreeSet<(u64, Entry)>,
    per_account: HashMap<Account, usize>,
}

impl NonceTable {
    fn remove(&mut self, entry: &Entry) {
        if let Some((until, account)) = self.live.remove(entry) {
            self.by_expiry.remove(&(until, entry.clone()));
            if let Some(n) = self.per_account.get_mut(&account) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_account.remove(&account);
                }
            }
        }
    }

    /// Removes every entry kept until before `now`.
    fn prune(&mut self, now: u64) {
        while let Some((until, entry)) = self.by_expiry.first().cloned() {
            if until >= now {
                break;
            }
            self.remove(&entry);
        }
    }

    fn full(&self, account: &Account, capacity: usize, quota: usize) -> bool {
        self.live.len() >= capacity || self.per_account.get(account).copied().unwrap_or(0) >= quota
    }
}

impl MemoryNonceStore {
    /// The default capacity, in live nonces.
    pub const DEFAULT_CAPACITY: usize = 1 << 20;
    /// The default per-credential quota, in live nonces.
    pub const DEFAULT_QUOTA: usize = 1 << 14;

    /// A store of at most `capacity` live nonces, at most `quota` per credential.
    #[must_use]
    pub fn new(capacity: usize, quota: usize) -> Self {
        Self {
            inner: Mutex::new(NonceTable::default()),
            capacity,
            quota,
        }
    }
}

impl Default for MemoryNonceStore {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_QUOTA)
    }
}

impl NonceStore for MemoryNonceStore {
    fn reserve(
        &self,
        scope: &HolderKey,
        nonce: &[u8; 16],
        keep_until: u64,
        now: u64,
        account: &Account,
    ) -> Result<Reservation, StoreError> {
        let mut t = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        let entry = (scope.clone(), *nonce);
        if let Some((until, _)) = t.live.get(&entry) {
            if *until >= now {
                return Ok(Reservation::Replayed);
            }
            // Expired: it may be reserved again (its proof is stale anyway).
            t.remove(&entry);
        }
        if t.full(account, self.capacity, self.quota) {
            t.prune(now);
            if t.full(account, self.capacity, self.quota) {
                return Ok(Reservation::Full);
            }
        }
        t.by_expiry.insert((keep_until, entry.clone()));
        t.live.insert(entry, (keep_until, *account));
        *t.per_account.entry(*account).or_insert(0) += 1;
        Ok(Reservation::Reserved)
    }
}

/// What a verifier needs to check a proof: the proof presented (if any), the
/// settings and the nonce store.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Possession<'a> {
    /// The proof presented with the request, if any.
    pub proof: Option<&'a Proof>,
    /// Time to live and clock skew.
    pub settings: PossessionSettings,
    /// Where accepted nonces are kept.
    pub nonces: &'a dyn NonceStore,
    /// The holder-key directory that resolves a principal's key set
    /// (DESIGN.md §9). Without it, a holder bound to a key set is denied
    /// ([`DenyReason::HolderKeyUnknown`]).
    pub holder_keys: Option<&'a dyn HolderKeys>,
}

impl<'a> Possession<'a> {
    /// Possession checking with `nonces` and the default settings, no proof yet.
    #[must_use]
    pub fn new(nonces: &'a dyn NonceStore) -> Self {
        Self {
            proof: None,
            settings: PossessionSettings::default(),
            nonces,
            holder_keys: None,
        }
    }

    /// Resolves key-set bindings with this holder-key directory.
    #[must_use]
    pub fn with_holder_keys(mut self, directory: &'a dyn HolderKeys) -> Self {
        self.holder_keys = Some(directory);
        self
    }

    /// The proof presented.
    #[must_use]
    pub fn with_proof(mut self, proof: &'a Proof) -> Self {
        self.proof = Some(proof);
        self
    }

    /// Other settings.
    #[must_use]
    pub fn with_settings(mut self, settings: PossessionSettings) -> Self {
        self.settings = settings;
        self
    }
}

impl fmt::Debug for Possession<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Possession")
            .field("proof", &self.proof)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Checks a proof of possession for a verified token (DESIGN.md §8), in order:
/// (0, 1) size and version were checked when the proof was decoded
/// ([`Proof::from_bytes`]); (2) sender: the signer is the holder's bound key,
/// or a key of the holder principal's key set that the directory admits at
/// the proof's `issued_at` (a compromised key never);
/// (3) binding: the proof names this token's lineage hash, the request's
/// server, tool and action hash; (4) freshness: `issued_at <= now + skew` and
/// `now <= issued_at + ttl`, without overflow; (5) the signature, over the
/// domain-separated encoding; (6) the nonce, reserved in the signer's scope
/// until `issued_at + ttl + skew`, only after every other check passed.
///
/// `holder` is the effective holder after the last delegation; `token` the
/// lineage hash of the token presented.
///
/// # Errors
/// [`DenyReason::PossessionRequired`] without a proof, then the first failing
/// check's own reason.
pub fn check_proof(
    possession: &Possession<'_>,
    holder: &Subject,
    token: &LineageHash,
    request: &Request,
    account: &Account,
) -> Result<(), DenyReason> {
    let proof = possession.proof.ok_or(DenyReason::PossessionRequired)?;
    // 2. Sender.
    match &holder.binding {
        Some(HolderBinding::Key(key)) if *key == proof.signer => {}
        Some(HolderBinding::KeySet) => {
            let directory = possession.holder_keys.ok_or(DenyReason::HolderKeyUnknown)?;
            crate::holder_keys::admit(
                directory,
                &holder.principal,
                &proof.signer,
                proof.issued_at,
            )?;
        }
        _ => return Err(DenyReason::ProofSender),
    }
    // 3. Binding.
    if proof.token != *token
        || proof.server != request.server
        || proof.tool != request.tool
        || proof.action != request.action_hash()
    {
        return Err(DenyReason::ProofBinding);
    }
    // 4. Freshness, overflow-safe.
    let fresh_until = freshness(possession.settings, proof.issued_at, request.now)?;
    // 5. Signature.
    if !verify_holder_signature(&proof.signer, &proof.signed_message(), &proof.signature) {
        return Err(DenyReason::ProofSignature);
    }
    // 6. Nonce.
    reserve_nonce(
        possession,
        &proof.signer,
        &proof.nonce,
        fresh_until,
        request.now,
        account,
    )
}

/// Check 4, written once for proofs and delegation requests: `issued_at <=
/// now + skew` and `now <= issued_at + ttl`, overflow-safe. Returns the end of
/// freshness, `issued_at + ttl`.
///
/// # Errors
/// [`DenyReason::ProofFutureDated`] (also when `issued_at + ttl + skew`
/// overflows, so that its nonce could never expire) or [`DenyReason::ProofStale`].
pub(crate) fn freshness(
    settings: PossessionSettings,
    issued_at: u64,
    now: u64,
) -> Result<u64, DenyReason> {
    if issued_at > now.saturating_add(settings.skew) {
        return Err(DenyReason::ProofFutureDated);
    }
    let fresh_until = issued_at
        .checked_add(settings.ttl)
        .filter(|t| t.checked_add(settings.skew).is_some())
        .ok_or(DenyReason::ProofFutureDated)?;
    if now > fresh_until {
        return Err(DenyReason::ProofStale);
    }
    Ok(fresh_until)
}

/// Check 6, written once for proofs and delegation requests: reserves `nonce`
/// in the signer's scope, charged to `account`, until no clock within the skew
/// can call its signed object fresh (`fresh_until + skew`).
///
/// # Errors
/// [`DenyReason::ProofReplay`], [`DenyReason::NonceStoreFull`] or [`DenyReason::Store`].
pub(crate) fn reserve_nonce(
    possession: &Possession<'_>,
    signer: &HolderKey,
    nonce: &[u8; 16],
    fresh_until: u64,
    now: u64,
    account: &Account,
) -> Result<(), DenyReason> {
    let keep_until = fresh_until
        .checked_add(possession.settings.skew)
        .ok_or(DenyReason::ProofFutureDated)?;
    match possession
        .nonces
        .reserve(signer, nonce, keep_until, now, account)
    {
        Ok(Reservation::Reserved) => Ok(()),
        Ok(Reservation::Replayed) => Err(DenyReason::ProofReplay),
        Ok(Reservation::Full) => Err(DenyReason::NonceStoreFull),
        Err(_) => Err(DenyReason::Store),
    }
}

/// What a nonce reservation is charged to for the per-credential quota: the
/// credential the issuer minted (format, issuer key id and token id: the
/// root's for an offline chain, the re-issued token's own otherwise). A holder
/// can bind as many fresh keys as it likes offline, but not mint credentials,
/// so one credential cannot exhaust the store for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account([u8; 32]);

impl Account {
    /// The account of the credential `token` issued under `issuer` in `format`.
    #[must_use]
    pub fn of(format: Format, issuer: &KeyId, token: &TokenId) -> Self {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"captoken/nonce-account/v1");
        for part in [format.tag().as_bytes(), issuer.as_str().as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update(token.0);
        Self(h.finalize().into())
    }

    /// The account's 32 bytes, for stores that persist it.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The one possession rule every provider's `verify` runs last, on its verdict,
/// after it has authenticated the token, authorized the request and walked its
/// lineage: an unbound holder is a bearer and needs nothing; a holder bound to
/// a key needs a proof that passes [`check_proof`] against the lineage hash of
/// the token presented, charged to the verified credential's [`Account`]. A context without possession checking denies a
/// bound holder ([`DenyReason::PossessionRequired`]), so no caller can skip
/// the check by forgetting it. A proof presented with a bearer token is not
/// checked and consumes no nonce.
///
/// # Errors
/// [`DenyReason::PossessionRequired`] or the failing check's reason.
pub fn enforce(
    possession: Option<&Possession<'_>>,
    verified: &Verified,
    request: &Request,
) -> Result<(), DenyReason> {
    match &verified.holder.binding {
        None => Ok(()),
        Some(_) => check_proof(
            possession.ok_or(DenyReason::PossessionRequired)?,
            &verified.holder,
            &verified.lineage_hash,
            request,
            &Account::of(verified.format, &verified.key_id, &verified.token_id),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::FixedClock;
    use std::sync::Arc;

    const NOW: u64 = 1_767_225_660;

    fn key(seed: u8) -> HolderSigningKey {
        HolderSigningKey::from_seed(&[seed; 32])
    }

    fn request(now: u64) -> Request {
        Request::new("agent:a", "fs", "read_file", &FixedClock(now)).with_arg("path", "/srv/a")
    }

    fn token() -> LineageHash {
        LineageHash([7; 32])
    }

    fn holder(k: &HolderSigningKey) -> Subject {
        Subject::bound_to_key("agent:a", k.public().clone())
    }

    fn proof(k: &HolderSigningKey, nonce: u8, issued_at: u64) -> Proof {
        Proof::sign(token(), &request(NOW), [nonce; 16], issued_at, k).unwrap()
    }

    /// The account of test credential `n`.
    fn account(n: u8) -> Account {
        Account::of(
            Format::new("test-v1"),
            &KeyId::new("k1").unwrap(),
            &TokenId([n; 16]),
        )
    }

    fn check(
        p: &Proof,
        store: &MemoryNonceStore,
        subject: &Subject,
        req: &Request,
    ) -> Result<(), DenyReason> {
        check_proof(
            &Possession::new(store).with_proof(p),
            subject,
            &token(),
            req,
            &account(1),
        )
    }

    #[test]
    fn round_trip_and_text_form() {
        let k = key(1);
        let p = proof(&k, 1, NOW);
        assert_eq!(Proof::from_bytes(&p.to_bytes()).unwrap(), p);
        let text = p.to_text();
        assert!(text.starts_with(PROOF_TEXT_PREFIX));
        assert_eq!(Proof::from_text(&text).unwrap(), p);
        assert!(format!("{k:?}").contains("<redacted>"));
        assert!(!format!("{k:?}").contains(&crate::hex::encode(&[1; 32])));
    }

    #[test]
    fn a_good_proof_passes_once() {
        let k = key(1);
        let store = MemoryNonceStore::default();
        let p = proof(&k, 1, NOW);
        assert_eq!(check(&p, &store, &holder(&k), &request(NOW)), Ok(()));
        assert_eq!(
            check(&p, &store, &holder(&k), &request(NOW + 1)),
            Err(DenyReason::ProofReplay)
        );
    }

    #[test]
    fn each_check_failing_alone_has_its_own_reason() {
        let k = key(1);
        let other = key(2);
        let store = MemoryNonceStore::default();
        let none = check_proof(
            &Possession::new(&store),
            &holder(&k),
            &token(),
            &request(NOW),
            &account(1),
        );
        assert_eq!(none, Err(DenyReason::PossessionRequired));
        // 0 and 1: shape and version, at decoding.
        let bytes = proof(&k, 1, NOW).to_bytes();
        assert_eq!(
            Proof::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ProofError::Size)
        );
        assert_eq!(
            Proof::from_bytes(&[bytes.clone(), vec![0]].concat()),
            Err(ProofError::Size)
        );
        assert_eq!(
            Proof::from_bytes(&vec![0; MAX_PROOF_LEN + 1]),
            Err(ProofError::Size)
        );
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Proof::from_bytes(&v2), Err(ProofError::Version));
        // 2: another key than the holder's, or a holder bound to no key.
        assert_eq!(
            check(&proof(&other, 2, NOW), &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofSender)
        );
        assert_eq!(
            check(
                &proof(&k, 3, NOW),
                &store,
                &Subject::new("agent:a"),
                &request(NOW)
            ),
            Err(DenyReason::ProofSender)
        );
        // 3: another token, server, tool or action.
        let mut other_token = proof(&k, 4, NOW);
        other_token.token = LineageHash([8; 32]);
        assert_eq!(
            check(&other_token, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofBinding)
        );
        for req in [
            Request {
                server: "fs2".into(),
                ..request(NOW)
            },
            Request {
                tool: "write_file".into(),
                ..request(NOW)
            },
            request(NOW).with_arg("path", "/srv/b"),
            request(NOW).with_arg("extra", 1),
        ] {
            assert_eq!(
                check(&proof(&k, 5, NOW), &store, &holder(&k), &req),
                Err(DenyReason::ProofBinding),
                "{req:?}"
            );
        }
        // 4: stale, future-dated.
        assert_eq!(
            check(&proof(&k, 6, NOW - 301), &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofStale)
        );
        assert_eq!(
            check(&proof(&k, 7, NOW - 300), &store, &holder(&k), &request(NOW)),
            Ok(())
        );
        assert_eq!(
            check(&proof(&k, 8, NOW + 31), &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofFutureDated)
        );
        assert_eq!(
            check(&proof(&k, 9, NOW + 30), &store, &holder(&k), &request(NOW)),
            Ok(())
        );
        // 5: signature.
        let mut forged = proof(&k, 10, NOW);
        forged.signature[5] ^= 1;
        assert_eq!(
            check(&forged, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofSignature)
        );
        // A proof signed by another key but naming the holder's key.
        let mut stolen = proof(&other, 11, NOW);
        stolen.signer = k.public().clone();
        assert_eq!(
            check(&stolen, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofSignature)
        );
        // The same signature over another domain is not a proof: the message
        // a proof signs starts with the domain.
        let p = proof(&k, 12, NOW);
        let undomained = k.sign(&p.body());
        let mut no_domain = p.clone();
        no_domain.signature = undomained;
        assert_eq!(
            check(&no_domain, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofSignature)
        );
    }

    #[test]
    fn earlier_checks_win_and_consume_no_nonce() {
        let k = key(1);
        let store = MemoryNonceStore::default();
        // Stale and badly signed: the earlier check (freshness) is reported.
        let mut p = proof(&k, 1, NOW - 1000);
        p.signature[0] ^= 1;
        assert_eq!(
            check(&p, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofStale)
        );
        // Bad signature: the nonce is not consumed, so the genuine proof with
        // the same nonce still passes afterwards.
        let good = proof(&k, 2, NOW);
        let mut bad = good.clone();
        bad.signature[0] ^= 1;
        assert_eq!(
            check(&bad, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofSignature)
        );
        let mut wrong_tool = good.clone();
        wrong_tool.tool = "x".into();
        assert_eq!(
            check(&wrong_tool, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofBinding)
        );
        assert_eq!(check(&good, &store, &holder(&k), &request(NOW)), Ok(()));
    }

    #[test]
    fn extreme_times_are_denied_without_overflow() {
        let k = key(1);
        let store = MemoryNonceStore::default();
        assert_eq!(
            check(&proof(&k, 1, u64::MAX), &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofFutureDated)
        );
        // At the end of time, a proof of the end of time still cannot be kept long enough.
        let end = Request::new("agent:a", "fs", "read_file", &FixedClock(u64::MAX))
            .with_arg("path", "/srv/a");
        assert!(check(&proof(&k, 2, u64::MAX), &store, &holder(&k), &end).is_err());
        assert_eq!(
            check(&proof(&k, 3, NOW), &store, &holder(&k), &end),
            Err(DenyReason::ProofStale)
        );
        assert_eq!(
            check(&proof(&k, 4, 0), &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofStale)
        );
    }

    #[test]
    fn a_full_store_refuses_and_never_forgets_a_live_nonce() {
        let k = key(1);
        let store = MemoryNonceStore::new(100, 100);
        let first = proof(&k, 0, NOW);
        assert_eq!(check(&first, &store, &holder(&k), &request(NOW)), Ok(()));
        let mut accepted = 1;
        let mut full = 0;
        for n in 1..=200u8 {
            let mut nonce = [n; 16];
            nonce[0] = 0xff;
            let p = Proof::sign(token(), &request(NOW), nonce, NOW, &k).unwrap();
            match check(&p, &store, &holder(&k), &request(NOW)) {
                Ok(()) => accepted += 1,
                Err(DenyReason::NonceStoreFull) => full += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((accepted, full), (100, 101));
        // The very first proof is still remembered: its replay is denied.
        assert_eq!(
            check(&first, &store, &holder(&k), &request(NOW)),
            Err(DenyReason::ProofReplay)
        );
        // Once every entry has expired, pruning makes room again.
        let later = NOW + 300 + 30 + 1;
        let fresh = Proof::sign(token(), &request(later), [9; 16], later, &k).unwrap();
        assert_eq!(check(&fresh, &store, &holder(&k), &request(later)), Ok(()));
    }

    #[test]
    fn one_credential_cannot_exhaust_the_store_for_the_others() {
        // A holder binds as many fresh keys as it likes offline: the quota is
        // charged to the issued credential, not to the signer key.
        let store = MemoryNonceStore::new(1000, 10);
        let on = |n: u8, k: &HolderSigningKey, credential: u8| {
            check_proof(
                &Possession::new(&store).with_proof(&proof(k, n, NOW)),
                &holder(k),
                &token(),
                &request(NOW),
                &account(credential),
            )
        };
        for n in 0..10u8 {
            assert_eq!(on(n, &key(n), 1), Ok(()));
        }
        assert_eq!(on(10, &key(10), 1), Err(DenyReason::NonceStoreFull));
        assert_eq!(on(0, &key(11), 2), Ok(()));
    }

    #[test]
    fn a_poisoned_store_is_a_store_error() {
        let k = key(1);
        let store = Arc::new(MemoryNonceStore::default());
        let s = Arc::clone(&store);
        let _ = std::thread::spawn(move || {
            let _guard = s.inner.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert_eq!(
            check(&proof(&k, 1, NOW), &store, &holder(&k), &request(NOW)),
            Err(DenyReason::Store)
        );
    }

    #[test]
    fn concurrent_reservations_of_one_nonce_succeed_exactly_once() {
        let k = HolderKey::Ed25519([1; 32]);
        for round in 0..50u8 {
            let store = Arc::new(MemoryNonceStore::default());
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (store, k) = (Arc::clone(&store), k.clone());
                    std::thread::spawn(move || {
                        store
                            .reserve(&k, &[round; 16], NOW + 330, NOW, &account(1))
                            .unwrap()
                    })
                })
                .collect();
            let reserved = threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|r| *r == Reservation::Reserved)
                .count();
            assert_eq!(reserved, 1, "round {round}");
        }
    }

    #[test]
    fn enforce_asks_a_proof_of_bound_holders_only() {
        let store = MemoryNonceStore::default();
        let holder = key(1);
        let request = Request::new("agent:a", "fs", "read", &FixedClock(NOW));
        let verdict = |holder: Subject| {
            Verified::new(
                Format::new("test-v1"),
                TokenId([1; 16]),
                KeyId::new("k1").unwrap(),
                NOW,
                token(),
                0,
                holder,
            )
        };
        let bearer = verdict(Subject::new("agent:a"));
        let bound = verdict(Subject::bound_to_key("agent:a", holder.public().clone()));
        // A bearer needs nothing; a proof presented with it is ignored and consumes nothing.
        assert_eq!(enforce(None, &bearer, &request), Ok(()));
        let proof = Proof::sign(token(), &request, [1; 16], NOW, &holder).unwrap();
        let checking = Possession::new(&store).with_proof(&proof);
        assert_eq!(enforce(Some(&checking), &bearer, &request), Ok(()));
        // A key-bound holder: no context, no proof, then the proof (once).
        assert_eq!(
            enforce(None, &bound, &request),
            Err(DenyReason::PossessionRequired)
        );
        assert_eq!(
            enforce(Some(&Possession::new(&store)), &bound, &request),
            Err(DenyReason::PossessionRequired)
        );
        assert_eq!(enforce(Some(&checking), &bound, &request), Ok(()));
        assert_eq!(
            enforce(Some(&checking), &bound, &request),
            Err(DenyReason::ProofReplay)
        );
        // A key set is resolved by a holder-key directory (DESIGN.md §9):
        // without one, or without the key in it, denied; with it, accepted.
        let set = verdict(Subject::bound_to_key_set("agent:a"));
        assert_eq!(
            enforce(None, &set, &request),
            Err(DenyReason::PossessionRequired)
        );
        let fresh = Proof::sign(token(), &request, [2; 16], NOW, &holder).unwrap();
        let checking = Possession::new(&store).with_proof(&fresh);
        assert_eq!(
            enforce(Some(&checking), &set, &request),
            Err(DenyReason::HolderKeyUnknown)
        );
        let directory = crate::holder_keys::MemoryHolderKeys::new();
        let with_directory = checking.with_holder_keys(&directory);
        assert_eq!(
            enforce(Some(&with_directory), &set, &request),
            Err(DenyReason::HolderKeyUnknown)
        );
        crate::holder_keys::enroll(&directory, "agent:a", holder.public().clone(), 0, u64::MAX)
            .unwrap();
        assert_eq!(enforce(Some(&with_directory), &set, &request), Ok(()));
    }

    #[cfg(feature = "p256")]
    mod p256_keys {
        use super::*;

        fn p256_key(b: u8) -> HolderSigningKey {
            HolderSigningKey::from_p256_bytes(&[b; 32]).unwrap()
        }

        #[test]
        fn a_p256_proof_round_trips_and_passes_once() {
            let k = p256_key(3);
            assert!(matches!(k.public(), HolderKey::P256(_)));
            assert!(format!("{k:?}").contains("redacted"));
            let req = request(NOW);
            let proof = Proof::sign(token(), &req, [1; 16], NOW, &k).unwrap();
            let bytes = proof.to_bytes();
            assert_eq!(bytes.get(1), Some(&ALG_P256));
            assert_eq!(Proof::from_bytes(&bytes).unwrap(), proof);
            assert_eq!(Proof::from_text(&proof.to_text()).unwrap(), proof);
            let store = MemoryNonceStore::default();
            let holder = Subject::bound_to_key("agent:a", k.public().clone());
            let ctx = Possession::new(&store).with_proof(&proof);
            assert_eq!(
                check_proof(&ctx, &holder, &token(), &req, &account(1)),
                Ok(())
            );
            assert_eq!(
                check_proof(&ctx, &holder, &token(), &req, &account(1)),
                Err(DenyReason::ProofReplay)
            );
            // An Ed25519 holder does not accept a P-256 proof, nor the reverse.
            let other = Subject::bound_to_key("agent:a", key(1).public().clone());
            assert_eq!(
                check_proof(&ctx, &other, &token(), &req, &account(1)),
                Err(DenyReason::ProofSender)
            );
        }

        #[test]
        fn only_the_low_s_form_of_a_p256_signature_verifies() {
            let k = p256_key(4);
            let message = b"captoken";
            let signature = k.sign(message);
            assert!(verify_holder_signature(k.public(), message, &signature));
            // (r, n - s) verifies under plain ECDSA; it is refused here.
            let sig = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            let (r, s) = sig.split_scalars();
            let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
            let high: [u8; 64] = high.to_bytes().into();
            assert!(!verify_holder_signature(k.public(), message, &high));
            assert!(!verify_holder_signature(
                p256_key(5).public(),
                message,
                &signature
            ));
        }

        #[test]
        fn a_proof_with_a_key_off_the_curve_is_malformed() {
            let proof = Proof::sign(token(), &request(NOW), [1; 16], NOW, &p256_key(3)).unwrap();
            let mut bytes = proof.to_bytes();
            let at = bytes.len() - 64 - 33;
            for b in bytes.get_mut(at..at + 33).unwrap() {
                *b = 0xff;
            }
            assert_eq!(Proof::from_bytes(&bytes), Err(ProofError::Key));
            // Uncompressed or oddly tagged keys have no text form either.
            assert!(HolderKey::parse(&format!("p256:{}", "04".repeat(33))).is_err());
            let text = p256_key(3).public().to_string();
            assert!(text.starts_with("p256:"));
            assert_eq!(HolderKey::parse(&text).as_ref(), Ok(p256_key(3).public()));
        }
    }
}
