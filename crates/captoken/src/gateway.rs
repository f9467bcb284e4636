//! The front door of DESIGN.md §11: a [`Gateway`] built once from the formats it reads and writes, its stores, proof-of-possession settings and clock, which checks a token's text form with an optional proof against a request in one call and issues, attenuates, delegates and revokes the same way.
//!
//! ```
//! use captoken::{Capability, Constraint, FixedClock, Gateway, Grant, KeyId};
//! use captoken::hmac::{HmacKey, HmacKeyring, HmacProvider};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kid = KeyId::new("k1")?;
//! let gateway = Gateway::builder()
//!     .read(HmacProvider::new(HmacKeyring::single(HmacKey::generate(kid.clone())?)))
//!     .clock(FixedClock(1_767_225_700))
//!     .build()?;
//! let cap = Capability::builder(kid)
//!     .subject("agent:planner")
//!     .valid_from(1_767_225_600)
//!     .for_secs(3600)
//!     .grant(Grant::new("fs", "read_file").with_arg("path", Constraint::Path("/srv/data/".into())))
//!     .build()?;
//! let token = gateway.issue(&cap)?;
//! let request = gateway
//!     .request("agent:planner", "fs", "read_file")
//!     .with_arg("path", "/srv/data/report.txt");
//! assert!(gateway.check(&token, None, &request).is_allowed());
//! gateway.revoke(&token)?;
//! let decision = gateway.check(&token, None, &request);
//! assert_eq!(decision.reason_code(), Some("revoked"));
//! # Ok(())
//! # }
//! ```
//!
//! Dispatch is the [`MultiVerifier`]'s: a token goes to the one format its
//! marker names, never to "the next format" after a failure. So the gateway
//! is also the dual-format window of a migration (DESIGN.md §9): read the old
//! format and the new, write the new.

use std::fmt;
use std::sync::Arc;

use captoken_core_types::{
    Attenuation, Capability, Clock, Denied, DenyReason, Error, Format, HolderKeys,
    HolderSigningKey, Inspection, KeyId, LineageHash, LineageIndex, MemoryHolderKeys,
    MemoryLineageIndex, MemoryNonceStore, MemoryRevocationList, NonceStore, Possession,
    PossessionSettings, Proof, Request, RevocationList, RevocationWriter, SystemClock, Token,
    TokenId, TokenProvider, Verified, VerifyContext,
};
use serde::Serialize;

use crate::migration::{MigrationError, MultiVerifier, Reader};

/// Why a [`Gateway`] cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The formats read and written do not make a verifier (none read, one
    /// read twice, overlapping markers, or the written one not read).
    #[error(transparent)]
    Formats(#[from] MigrationError),
    /// Revocations are read from a list of their own (a snapshot) but no
    /// store was given to write them to: `revoke` would write where no
    /// check reads.
    #[error("revocations are read from a snapshot but no revocation store was given to write to")]
    SnapshotWithoutWriter,
}

/// The stores a gateway verifies and records with, each shared (`Arc`) with
/// whoever else writes to them (an issuer, an operator's revocation tool).
#[derive(Clone)]
struct Stores {
    /// Where revocations are read on every check: the writer's list, or a
    /// faster copy of it (a revocation snapshot).
    revoked: Arc<dyn RevocationList>,
    /// Where [`Gateway::revoke`] writes.
    revoker: Arc<dyn RevocationWriter>,
    lineage: Arc<dyn LineageIndex>,
    nonces: Arc<dyn NonceStore>,
    holder_keys: Arc<dyn HolderKeys>,
}

/// Builds a [`Gateway`]; see [`Gateway::builder`].
#[must_use]
pub struct GatewayBuilder {
    readers: Vec<Reader>,
    writes: Option<Format>,
    stores: Stores,
    /// Whether `revoked` was set apart from the writer (kept by `stores`).
    snapshot: bool,
    /// Whether the revocation writer was given (not the default in-memory list).
    writer_given: bool,
    possession: PossessionSettings,
    clock: Arc<dyn Clock + Send + Sync>,
}

impl GatewayBuilder {
    /// Reads (and, if it is the first or is named by [`GatewayBuilder::write`],
    /// writes) the format of `provider`, with its keyring.
    pub fn read(mut self, provider: impl TokenProvider + Send + Sync + 'static) -> Self {
        self.readers.push(Box::new(provider));
        self
    }

    /// Writes `format` (one of those read); by default the first format read.
    pub fn write(mut self, format: Format) -> Self {
        self.writes = Some(format);
        self
    }

    /// Keeps revocations, lineage rows, nonces and holder keys in `store`
    /// (for example a SQLite or PostgreSQL store). By default each is a new
    /// in-memory store, which forgets everything on restart.
    pub fn stores<S>(mut self, store: Arc<S>) -> Self
    where
        S: RevocationWriter + LineageIndex + NonceStore + HolderKeys + 'static,
    {
        if !self.snapshot {
            self.stores.revoked = store.clone();
        }
        self.stores.revoker = store.clone();
        self.writer_given = true;
        self.stores.lineage = store.clone();
        self.stores.nonces = store.clone();
        self.stores.holder_keys = store;
        self
    }

    /// Reads revocations on every check from `list` (for example a
    /// PostgreSQL `RevocationSnapshot` in memory) instead of the store that
    /// [`Gateway::revoke`] writes to, which must then be given too
    /// ([`GatewayBuilder::stores`] or [`GatewayBuilder::revocation_list`]).
    pub fn revocations_from(mut self, list: Arc<dyn RevocationList>) -> Self {
        self.stores.revoked = list;
        self.snapshot = true;
        self
    }

    /// Keeps the revocation list in `list` alone (read and written).
    pub fn revocation_list(mut self, list: Arc<dyn RevocationWriter>) -> Self {
        if !self.snapshot {
            self.stores.revoked = list.clone();
        }
        self.stores.revoker = list;
        self.writer_given = true;
        self
    }

    /// Keeps lineage rows in `index` alone.
    pub fn lineage_index(mut self, index: Arc<dyn LineageIndex>) -> Self {
        self.stores.lineage = index;
        self
    }

    /// Keeps the nonces of accepted proofs in `nonces` alone.
    pub fn nonce_store(mut self, nonces: Arc<dyn NonceStore>) -> Self {
        self.stores.nonces = nonces;
        self
    }

    /// Resolves holders bound to a key set with `directory` alone.
    pub fn holder_keys(mut self, directory: Arc<dyn HolderKeys>) -> Self {
        self.stores.holder_keys = directory;
        self
    }

    /// A proof's time to live and allowed clock skew; by default 300 s and 30 s.
    pub fn possession(mut self, settings: PossessionSettings) -> Self {
        self.possession = settings;
        self
    }

    /// Dates requests made by [`Gateway::request`] with `clock`; by default
    /// the operating system's.
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The gateway.
    ///
    /// # Errors
    /// [`GatewayError::Formats`] when no format is read, one is read twice,
    /// two markers overlap, or the written format is not read;
    /// [`GatewayError::SnapshotWithoutWriter`] when revocations are read from
    /// a list of their own and no store to write them to was given.
    pub fn build(self) -> Result<Gateway, GatewayError> {
        if self.snapshot && !self.writer_given {
            return Err(GatewayError::SnapshotWithoutWriter);
        }
        let writes = match (self.writes, self.readers.first()) {
            (Some(f), _) => f,
            (None, Some(first)) => first.format(),
            (None, None) => return Err(MigrationError::NoReaders.into()),
        };
        Ok(Gateway {
            formats: MultiVerifier::new(self.readers, writes)?,
            stores: self.stores,
            possession: self.possession,
            clock: self.clock,
        })
    }
}

/// One verifier and issuer for every format it reads; see the
/// [module documentation](self). `Send + Sync`: build it once, share it.
pub struct Gateway {
    formats: MultiVerifier,
    stores: Stores,
    possession: PossessionSettings,
    clock: Arc<dyn Clock + Send + Sync>,
}

impl Gateway {
    /// A builder with no format, in-memory stores, default proof settings and
    /// the system clock.
    pub fn builder() -> GatewayBuilder {
        let revoker = Arc::new(MemoryRevocationList::new());
        GatewayBuilder {
            readers: Vec::new(),
            writes: None,
            stores: Stores {
                revoked: revoker.clone(),
                revoker,
                lineage: Arc::new(MemoryLineageIndex::new()),
                nonces: Arc::new(MemoryNonceStore::default()),
                holder_keys: Arc::new(MemoryHolderKeys::default()),
            },
            snapshot: false,
            writer_given: false,
            possession: PossessionSettings::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// A request with no arguments, dated by the gateway's clock.
    #[must_use]
    pub fn request(
        &self,
        subject: impl Into<String>,
        server: impl Into<String>,
        tool: impl Into<String>,
    ) -> Request {
        Request::new(subject, server, tool, &*self.clock)
    }

    /// The current time of the gateway's clock (Unix seconds).
    #[must_use]
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Checks `token` (text form, any format read here) with `proof` (a
    /// proof of possession's text form, if the caller sent one) for
    /// `request`: signature or MAC chain, key state, time window, subject,
    /// grants, caveats, revocation of the token and every ancestor, and,
    /// when the capability is bound to a holder, the proof (whose nonce is
    /// then spent). Never panics; every failure is a denial.
    #[must_use]
    pub fn check(&self, token: &str, proof: Option<&str>, request: &Request) -> Decision {
        let proof = match proof.map(Proof::from_text) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                let format = self.formats.reader_for(token).map(|r| r.format());
                self.formats.count_denied(format);
                return Decision {
                    format,
                    at: request.now,
                    outcome: Err(e.into()),
                };
            }
        };
        let mut possession = Possession::new(&*self.stores.nonces)
            .with_holder_keys(&*self.stores.holder_keys)
            .with_settings(self.possession);
        if let Some(p) = &proof {
            possession = possession.with_proof(p);
        }
        let ctx = VerifyContext::new(&*self.stores.revoked, &*self.stores.lineage)
            .with_possession(possession);
        let (format, verdict) = self.formats.verify_marked(token, request, &ctx);
        Decision {
            format,
            at: request.now,
            outcome: verdict.map_err(|d: Denied| d.reason().clone()),
        }
    }

    /// Issues `capability` in the written format, as text, and records its
    /// lineage row (formats verified cold through the index).
    ///
    /// # Errors
    /// The provider's ([`Error::UnknownKey`] when it holds no signing key of
    /// the capability's issuer id), or the index's.
    pub fn issue(&self, capability: &Capability) -> Result<String, Error> {
        let writer = self.formats.writer();
        let token = writer.issue(capability)?;
        self.record(writer, &token)?;
        Ok(writer.to_text(&token))
    }

    /// Narrows `parent` (text, any format read here) by `step`, in the
    /// parent's format, and records the child's lineage row. A holder bound
    /// to a key cannot be delegated away from this way: see [`Gateway::delegate`].
    ///
    /// # Errors
    /// [`Error::Malformed`] for text of no format read here; then the provider's.
    pub fn attenuate(&self, parent: &str, step: &Attenuation) -> Result<String, Error> {
        let (provider, token) = self.parse(parent)?;
        let child = provider.attenuate(&token, step)?;
        self.record(provider, &child)?;
        Ok(provider.to_text(&child))
    }

    /// Takes `step` from `parent` as its current holder, signed with
    /// `holder` (DESIGN.md §8), and records the child's lineage row.
    ///
    /// # Errors
    /// As [`Gateway::attenuate`], and a signature error when `holder` is not
    /// the key the parent's holder is bound to.
    pub fn delegate(
        &self,
        parent: &str,
        step: &Attenuation,
        holder: &HolderSigningKey,
    ) -> Result<String, Error> {
        let (provider, token) = self.parse(parent)?;
        let child = provider.attenuate_signed(&token, step, holder)?;
        self.record(provider, &child)?;
        Ok(provider.to_text(&child))
    }

    /// Re-issues `parent` (an older format read here) narrowed by `step` as a
    /// child in the written format (DESIGN.md §9), and records its row.
    ///
    /// # Errors
    /// As [`MultiVerifier::bridge`].
    pub fn bridge(
        &self,
        parent: &str,
        step: &Attenuation,
        holder: Option<&HolderSigningKey>,
    ) -> Result<String, Error> {
        let child = self.formats.bridge(parent, step, holder)?;
        let (provider, token) = self.parse(&child)?;
        self.record(provider, &token)?;
        Ok(child)
    }

    /// Revokes `token` (text, any format read here) and with it every token
    /// derived from it; returns the lineage hash written to the revocation list.
    ///
    /// # Errors
    /// [`Error::Malformed`] for text that does not parse; the store's error.
    pub fn revoke(&self, token: &str) -> Result<LineageHash, Error> {
        let hash = self.lineage_hash(token)?;
        self.stores.revoker.revoke(hash)?;
        Ok(hash)
    }

    /// The lineage hash of `token` (text, any format read here).
    ///
    /// # Errors
    /// [`Error::Malformed`] for text that does not parse.
    pub fn lineage_hash(&self, token: &str) -> Result<LineageHash, Error> {
        let (provider, token) = self.parse(token)?;
        provider.lineage_hash(&token)
    }

    /// Reads `token` without verifying it: nothing in the answer is
    /// authenticated.
    ///
    /// # Errors
    /// [`Error::Malformed`] for text that does not parse.
    pub fn inspect(&self, token: &str) -> Result<Inspection, Error> {
        let (provider, token) = self.parse(token)?;
        provider.inspect(&token)
    }

    /// The holder's proof of possession, as text, for calling `request` with
    /// `token`, signed with `key` and dated by the gateway's clock.
    ///
    /// # Errors
    /// [`Error::Malformed`] for a token that does not parse, [`Error::Random`]
    /// without randomness for the nonce, [`Error::Model`] for names beyond the
    /// size bounds.
    pub fn prove(
        &self,
        token: &str,
        request: &Request,
        key: &HolderSigningKey,
    ) -> Result<String, Error> {
        let hash = self.lineage_hash(token)?;
        Proof::sign(hash, request, Proof::nonce()?, self.now(), key).map(|p| p.to_text())
    }

    /// The provider of the format `token` is marked as, and the token parsed by it.
    fn parse(&self, text: &str) -> Result<(&dyn TokenProvider, Token), Error> {
        let provider = self
            .formats
            .reader_for(text)
            .ok_or(Error::Malformed("no format read here is marked so"))?;
        Ok((provider, provider.parse_text(text)?))
    }

    fn record(&self, provider: &dyn TokenProvider, token: &Token) -> Result<(), Error> {
        if let Some(entry) = provider.index_entry(token)? {
            self.stores.lineage.record(entry)?;
        }
        Ok(())
    }

    /// The formats read and written, with per-format and per-key counts.
    #[must_use]
    pub fn formats(&self) -> &MultiVerifier {
        &self.formats
    }
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("formats", &self.formats)
            .field("possession", &self.possession)
            .finish_non_exhaustive()
    }
}

/// What [`Gateway::check`] decided. The caller learns allowed or denied
/// ([`Decision::is_allowed`]) and nothing more; the operator's log gets the
/// rest: `Serialize` writes `allowed`, `format`, `at`, and then either
/// `key_id`, `token_id`, `lineage_hash`, `chain_len` and `holder` (allowed) or
/// `reason` (a stable code, [`DenyReason::code`]) and `detail` (denied), one
/// JSON line with [`Decision::to_json_line`] (feature `json`). Nothing of a
/// denied token is logged as if it were known: none of it was authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    format: Option<Format>,
    at: u64,
    outcome: Result<Verified, DenyReason>,
}

impl Decision {
    /// Whether the request is allowed: all a caller should be told.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The format whose marker the token carries (`None`: no format read here).
    #[must_use]
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// The request's time (Unix seconds).
    #[must_use]
    pub fn at(&self) -> u64 {
        self.at
    }

    /// What the verification established (key, token id, lineage hash,
    /// chain length, holder), when allowed.
    #[must_use]
    pub fn verified(&self) -> Option<&Verified> {
        self.outcome.as_ref().ok()
    }

    /// The structured reason, when denied: for the operator's log only.
    #[must_use]
    pub fn reason(&self) -> Option<&DenyReason> {
        self.outcome.as_ref().err()
    }

    /// The reason's stable code ([`DenyReason::code`]), when denied.
    #[must_use]
    pub fn reason_code(&self) -> Option<&'static str> {
        self.reason().map(DenyReason::code)
    }

    /// The decision as one line of JSON, for the operator's log.
    #[cfg(feature = "json")]
    #[must_use]
    pub fn to_json_line(&self) -> String {
        // Serializing strings, numbers and hex ids cannot fail; if it ever
        // did, the line still says what was decided.
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"allowed\":{},\"error\":\"decision not serializable\"}}",
                self.is_allowed()
            )
        })
    }
}

/// The log line's fields, in order.
#[derive(Serialize)]
struct Line<'a> {
    allowed: bool,
    format: Option<Format>,
    at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a KeyId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<TokenId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lineage_hash: Option<LineageHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.verified();
        Line {
            allowed: self.is_allowed(),
            format: self.format,
            at: self.at,
            key_id: v.map(|v| &v.key_id),
            token_id: v.map(|v| v.token_id),
            lineage_hash: v.map(|v| v.lineage_hash),
            chain_len: v.map(|v| v.chain_len),
            holder: v.map(|v| v.holder.principal.as_str()),
            reason: self.reason_code(),
            detail: self.reason().map(ToString::to_string),
        }
        .serialize(serializer)
    }
}
