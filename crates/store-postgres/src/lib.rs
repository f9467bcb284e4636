//! captoken's shared stores on PostgreSQL, for many verifier replicas: the revocation list, lineage index, nonce store and holder-key directory of DESIGN.md §10 in one database that every replica reaches.
//!
//! [`PostgresStore`] implements [`RevocationList`](captoken_core_types::RevocationList),
//! [`RevocationWriter`](captoken_core_types::RevocationWriter),
//! [`LineageIndex`](captoken_core_types::LineageIndex),
//! [`NonceStore`](captoken_core_types::NonceStore) and
//! [`HolderKeys`](captoken_core_types::HolderKeys) with the semantics of the
//! in-memory stores of `captoken-core-types` (and of `captoken-store-sqlite`,
//! whose schema it shares), through the synchronous `postgres` client.
//!
//! - **Schema.** [`PostgresStore::connect`] creates captoken's tables (all
//!   prefixed `captoken_`) in a database that has none, under an advisory lock
//!   so that replicas connecting at once create them once. Every connection
//!   the store opens checks the schema version: an older one is migrated
//!   forward at [`PostgresStore::connect`], a newer one is refused. A server in
//!   recovery (a hot standby) is refused: revocations are never read from an
//!   asynchronous replica.
//! - **Durability.** Every table is logged (no `UNLOGGED`), and each session
//!   runs with `synchronous_commit` at least `on`: a write is acknowledged once
//!   its commit record is flushed.
//! - **Exactly once across replicas.** A nonce is reserved by one
//!   `INSERT … ON CONFLICT DO NOTHING`, whose row count decides; the capacity
//!   and per-credential quota are checked in the same transaction, which first
//!   locks the live-nonce counter row (`SELECT … FOR UPDATE`), so replicas
//!   racing one proof, or racing for the last free place, cannot both pass.
//! - **One clock.** Whether a held nonce has expired is decided by the `now`
//!   the verifier passes to [`NonceStore::reserve`](captoken_core_types::NonceStore::reserve),
//!   never by the server's clock; replicas must share a clock (within the
//!   proof's skew allowance). An expired nonce may be reserved again, as in the
//!   in-memory store.
//! - **Bounded.** The nonce capacity, per-credential quota and holder-key
//!   capacity are written into the database when the schema is created and
//!   read back by every later connect, so a reconnect can neither shrink nor
//!   reset them. Expired nonces are pruned in bounded batches only when a bound
//!   is reached; a live nonce is never evicted.
//! - **Fail closed.** Every connection or query failure is
//!   [`StoreError::Backend`], so every verification over the store denies;
//!   nothing panics. Connections are kept in a small pool of the store's own
//!   ([`PostgresOptions::max_connections`]); a connection is taken for one
//!   operation and kept afterwards only if it is still healthy.
//!
//! - **Prepared once.** Each pooled connection prepares each of the store's
//!   statements the first time it runs it and keeps it: later calls bind and
//!   execute only, one round trip instead of two. Named prepared statements
//!   need a session of their own on the server: behind a pooling proxy in
//!   transaction mode (PgBouncer's `pool_mode = transaction`) use session
//!   mode, or connect to the server directly.
//! - **No TLS.** Connections are made without TLS (`NoTls`): reach the
//!   server over a Unix socket, loopback or a private network. A connection
//!   string asking for `sslmode=require` fails to connect rather than
//!   falling back to plain text.
//!
//! - **A local snapshot for the hot path.** [`RevocationSnapshot`] keeps the
//!   revocation list in memory, loaded once and then followed through
//!   `LISTEN/NOTIFY` (a trigger of the schema announces every committed
//!   revocation); it reports its staleness when the subscription is lost and
//!   fails every call once that exceeds the bound it was started with.
//!
//! Times are Unix seconds, any `u64` (`u64::MAX` meaning "never"), stored as
//! `BIGINT` with the top bit flipped: an order-preserving mapping onto `i64`,
//! so every comparison the store makes holds.
//!
//! ```no_run
//! use captoken_core_types::{LineageHash, RevocationList, RevocationWriter};
//! use captoken_store_postgres::{PostgresOptions, PostgresStore};
//!
//! # fn main() -> Result<(), captoken_core_types::StoreError> {
//! let params = "host=/run/postgresql user=captoken dbname=captoken";
//! let issuer = PostgresStore::connect(params, PostgresOptions::default())?;
//! issuer.revoke(LineageHash([7; 32]))?;
//! let verifier = PostgresStore::connect(params, PostgresOptions::default())?;
//! assert!(verifier.is_revoked(&LineageHash([7; 32]))?);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod schema;
pub mod snapshot;
mod stores;
#[cfg(feature = "test-server")]
pub mod test_server;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use captoken_core_types::columns::bound_to_column;
use captoken_core_types::{MemoryHolderKeys, MemoryNonceStore, StoreError};
use postgres::types::ToSql;
use postgres::{Client, Config, GenericClient, NoTls, Row, Statement};

pub use snapshot::RevocationSnapshot;

/// The schema version this build reads and writes. A database of an older
/// version is migrated forward at [`PostgresStore::connect`]; a newer one is
/// refused.
pub const SCHEMA_VERSION: u32 = 2;

/// How a new store is bounded, and how the handle talks to the server.
///
/// The three bounds are written into the database when [`PostgresStore::connect`]
/// creates the schema; a later connect reads them from the database and
/// ignores these (see [`PostgresStore::nonce_capacity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The most live nonces held; default [`MemoryNonceStore::DEFAULT_CAPACITY`].
    pub nonce_capacity: usize,
    /// The most live nonces charged to one credential; default
    /// [`MemoryNonceStore::DEFAULT_QUOTA`].
    pub nonce_quota: usize,
    /// The most holder-key records held; default
    /// [`MemoryHolderKeys::DEFAULT_CAPACITY`].
    pub holder_key_capacity: usize,
    /// The most connections this handle opens at once; default 8. An
    /// operation waits up to [`PostgresOptions::connect_timeout`] for one.
    pub max_connections: usize,
    /// How long opening a connection (or waiting for a free one) may take;
    /// default 5 seconds.
    pub connect_timeout: Duration,
    /// The server-side `statement_timeout` of every session; default 30
    /// seconds. A statement running longer fails (and so does its operation).
    pub statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            nonce_capacity: MemoryNonceStore::DEFAULT_CAPACITY,
            nonce_quota: MemoryNonceStore::DEFAULT_QUOTA,
            holder_key_capacity: MemoryHolderKeys::DEFAULT_CAPACITY,
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

impl PostgresOptions {
    /// These options with a nonce capacity and per-credential quota.
    #[must_use]
    pub fn with_nonce_bounds(mut self, capacity: usize, quota: usize) -> Self {
        self.nonce_capacity = capacity;
        self.nonce_quota = quota;
        self
    }

    /// These options with a holder-key capacity.
    #[must_use]
    pub fn with_holder_key_capacity(mut self, capacity: usize) -> Self {
        self.holder_key_capacity = capacity;
        self
    }

    /// These options with at most `n` connections open at once (at least one).
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// These options with a connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// These options with a statement timeout.
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }
}

/// The bounds read from the database at connect.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub(crate) nonce_capacity: i64,
    pub(crate) nonce_quota: i64,
    pub(crate) holder_key_capacity: i64,
}

/// A failure inside an operation: the client's (the connection is not kept
/// afterwards), or the store's own.
pub(crate) enum Failure {
    Sql(postgres::Error),
    Store(StoreError),
}

impl Failure {
    pub(crate) fn backend(message: impl Into<String>) -> Self {
        Self::Store(StoreError::Backend(message.into()))
    }

    pub(crate) fn into_store_error(self) -> StoreError {
        match self {
            Self::Sql(e) => StoreError::Backend(describe(&e)),
            Self::Store(e) => e,
        }
    }
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// A client error as text, with the server's message where there is one.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("postgres: {}: {}", db.code().code(), db.message()),
        None => format!("postgres: {e}"),
    }
}

/// The revocation list, lineage index, nonce store and holder-key directory
/// in one PostgreSQL database, shared by every replica that connects to it.
///
/// `Send + Sync`: threads share one handle, each operation taking a pooled
/// connection of its own. A poisoned pool lock is [`StoreError::Poisoned`].
pub struct PostgresStore {
    pool: Pool,
    bounds: Bounds,
}

impl PostgresStore {
    /// Connects to the database `params` names (a libpq-style connection
    /// string, e.g. `host=/run/postgresql port=5432 user=captoken
    /// dbname=captoken`; no TLS), creating captoken's schema there with the
    /// bounds of `options` if it has none, migrating an older schema forward,
    /// and reading the bounds the database holds.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `params` does not parse, the server cannot
    /// be reached, is in recovery, or refuses the statements, the database
    /// holds a newer or malformed schema, or a bound is beyond `i64::MAX`.
    pub fn connect(params: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config: Config = params
            .parse()
            .map_err(|e| StoreError::Backend(format!("connection string: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        let wanted = Bounds {
            nonce_capacity: bound_to_column(options.nonce_capacity)?,
            nonce_quota: bound_to_column(options.nonce_quota)?,
            holder_key_capacity: bound_to_column(options.holder_key_capacity)?,
        };
        let pool = Pool {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max: options.max_connections.max(1),
            wait: options.connect_timeout,
            statement_timeout: options.statement_timeout,
            config,
        };
        let mut client = pool
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Backend(describe(&e)))?;
        let bounds = ensure_schema(&mut client, wanted).map_err(Failure::into_store_error)?;
        prepare_session(&mut client, pool.statement_timeout).map_err(Failure::into_store_error)?;
        {
            let mut state = pool.lock()?;
            state.open = 1;
            state.idle.push(Conn {
                client,
                statements: Statements::default(),
            });
        }
        Ok(Self { pool, bounds })
    }

    /// [`PostgresStore::connect`] with the connection string held by the
    /// environment variable `var` (for example `CAPTOKEN_DATABASE_URL`), so
    /// that a password never appears on a command line. The string is never
    /// part of an error message.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `var` is unset or not Unicode, and every
    /// error of [`PostgresStore::connect`].
    pub fn connect_env(var: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let params = std::env::var(var)
            .map_err(|e| StoreError::Backend(format!("environment variable {var}: {e}")))?;
        Self::connect(&params, options)
    }

    /// The most live nonces the store holds, as written when the schema was created.
    #[must_use]
    pub fn nonce_capacity(&self) -> u64 {
        self.bounds.nonce_capacity.unsigned_abs()
    }

    /// The most live nonces charged to one credential, as written when the
    /// schema was created.
    #[must_use]
    pub fn nonce_quota(&self) -> u64 {
        self.bounds.nonce_quota.unsigned_abs()
    }

    /// The most holder-key records the store holds, as written when the
    /// schema was created.
    #[must_use]
    pub fn holder_key_capacity(&self) -> u64 {
        self.bounds.holder_key_capacity.unsigned_abs()
    }

    /// The bounds read from the database at connect.
    pub(crate) fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Runs `f` on a pooled connection. A client error is
    /// [`StoreError::Backend`] and the connection is closed rather than kept.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.take()?;
        let result = f(&mut conn);
        let healthy = !matches!(result, Err(Failure::Sql(_)));
        self.pool.give_back(conn, healthy);
        result.map_err(Failure::into_store_error)
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string is left out: it may carry a password.
        f.debug_struct("PostgresStore")
            .field("bounds", &self.bounds)
            .field("max_connections", &self.pool.max)
            .finish_non_exhaustive()
    }
}

/// Creates the schema in a database without one (with `wanted` as its
/// bounds), migrates an older one forward, refuses a newer one, and returns
/// the bounds the database holds. One transaction under an advisory lock.
fn ensure_schema(client: &mut Client, wanted: Bounds) -> Result<Bounds, Failure> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::SCHEMA_LOCK])?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('captoken_schema') IS NOT NULL", &[])?
        .try_get(0)?;
    let version: i32 = if exists { read_version(&mut tx)? } else { 0 };
    if version > schema::VERSION {
        return Err(newer(version));
    }
    if version < schema::VERSION {
        schema::migrate(&mut tx, version)?;
    }
    if version == 0 {
        for (name, value) in [
            ("nonce_capacity", wanted.nonce_capacity),
            ("nonce_quota", wanted.nonce_quota),
            ("holder_key_capacity", wanted.holder_key_capacity),
        ] {
            tx.execute(
                "INSERT INTO captoken_meta (name, value) VALUES ($1, $2)",
                &[&name, &value],
            )?;
        }
    }
    let mut read = |name: &str| -> Result<i64, Failure> {
        let v: Option<i64> =
            match tx.query_opt("SELECT value FROM captoken_meta WHERE name = $1", &[&name])? {
                Some(row) => Some(row.try_get(0)?),
                None => None,
            };
        match v {
            Some(v) if v >= 0 => Ok(v),
            _ => Err(Failure::backend(format!("meta {name} missing or invalid"))),
        }
    };
    let bounds = Bounds {
        nonce_capacity: read("nonce_capacity")?,
        nonce_quota: read("nonce_quota")?,
        holder_key_capacity: read("holder_key_capacity")?,
    };
    tx.commit()?;
    Ok(bounds)
}

/// The one row of `captoken_schema`.
fn read_version(tx: &mut postgres::Transaction<'_>) -> Result<i32, Failure> {
    let rows = tx.query("SELECT version FROM captoken_schema", &[])?;
    match rows.as_slice() {
        [row] => Ok(row.try_get(0)?),
        _ => Err(Failure::backend(
            "not a captoken store: malformed schema version",
        )),
    }
}

fn newer(version: i32) -> Failure {
    Failure::backend(format!(
        "store schema version {version} is newer than this build's {}",
        schema::VERSION
    ))
}

/// The checks and settings of every new connection: captoken's schema at
/// this build's version, a primary (not a server in recovery), a statement
/// timeout, and `synchronous_commit` at least `on`.
pub(crate) fn prepare_session(
    client: &mut Client,
    statement_timeout: Duration,
) -> Result<(), Failure> {
    let rows = client.query(
        "SELECT version, pg_is_in_recovery(), current_setting('synchronous_commit') \
         FROM captoken_schema",
        &[],
    )?;
    let [row] = rows.as_slice() else {
        return Err(Failure::backend(
            "not a captoken store: malformed schema version",
        ));
    };
    let version: i32 = row.try_get(0)?;
    let standby: bool = row.try_get(1)?;
    let commit: String = row.try_get(2)?;
    if version != schema::VERSION {
        return Err(if version > schema::VERSION {
            newer(version)
        } else {
            Failure::backend(format!("store schema version {version} needs migrating"))
        });
    }
    if standby {
        return Err(Failure::backend(
            "server is in recovery (a standby): refused, revocations are read from the primary only",
        ));
    }
    let millis = statement_timeout.as_millis().clamp(1, i32::MAX as u128);
    let mut settings = format!("SET statement_timeout = {millis};");
    if matches!(commit.as_str(), "off" | "local") {
        settings.push_str(" SET synchronous_commit = on;");
    }
    client.batch_execute(&settings)?;
    Ok(())
}

/// One pooled connection and the statements prepared on it: each of the
/// store's statements is parsed and planned by the server once per
/// connection, then only bound and executed (one round trip instead of two).
pub(crate) struct Conn {
    client: Client,
    statements: Statements,
}

/// The statements prepared on one connection, by their (constant) text.
#[derive(Default)]
pub(crate) struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    /// `sql` prepared on `client`'s connection, from the cache after the
    /// first time. `client` must be the connection the cache belongs to (or
    /// a transaction on it).
    pub(crate) fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement, Failure> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}

/// A client (a connection or a transaction on it) with its connection's
/// statement cache: every query names a constant statement text.
pub(crate) struct Session<'a, C> {
    client: &'a mut C,
    statements: &'a mut Statements,
}

impl<C: GenericClient> Session<'_, C> {
    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Failure> {
        let s = self.statements.get(self.client, sql)?;
        Ok(self.client.query(&s, params)?)
    }

    pub(crate) fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Failure> {
        let s = self.statements.get(self.client, sql)?;
        Ok(self.client.query_one(&s, params)?)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Failure> {
        let s = self.statements.get(self.client, sql)?;
        Ok(self.client.query_opt(&s, params)?)
    }

    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Failure> {
        let s = self.statements.get(self.client, sql)?;
        Ok(self.client.execute(&s, params)?)
    }
}

impl Conn {
    /// Runs `f` in one transaction on this connection, committed when `f`
    /// returns `Ok` and rolled back (dropped) when it returns an error.
    pub(crate) fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Session<'_, postgres::Transaction<'_>>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut tx = self.client.transaction()?;
        let out = f(&mut Session {
            client: &mut tx,
            statements: &mut self.statements,
        })?;
        tx.commit()?;
        Ok(out)
    }

    /// This connection as a session.
    pub(crate) fn session(&mut self) -> Session<'_, Client> {
        Session {
            client: &mut self.client,
            statements: &mut self.statements,
        }
    }
}

/// The handle's connections: idle ones kept for reuse, and how many are open
/// (idle or lent out), at most `max`.
struct Pool {
    state: Mutex<PoolState>,
    freed: Condvar,
    max: usize,
    wait: Duration,
    statement_timeout: Duration,
    config: Config,
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl Pool {
    fn lock(&self) -> Result<MutexGuard<'_, PoolState>, StoreError> {
        self.state.lock().map_err(|_| StoreError::Poisoned)
    }

    /// An idle connection, or a new one while fewer than `max` are open, or
    /// the first one given back within the wait.
    fn take(&self) -> Result<Conn, StoreError> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.lock()?;
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open = state.open.saturating_sub(1);
                    continue;
                }
                return Ok(conn);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return self.open_one().inspect_err(|_| {
                    if let Ok(mut state) = self.lock() {
                        state.open = state.open.saturating_sub(1);
                        self.freed.notify_one();
                    }
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Backend(format!(
                    "no free connection within {:?} ({} open)",
                    self.wait, self.max
                )));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map_err(|_| StoreError::Poisoned)?
                .0;
        }
    }

    fn open_one(&self) -> Result<Conn, StoreError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Backend(describe(&e)))?;
        prepare_session(&mut client, self.statement_timeout).map_err(Failure::into_store_error)?;
        Ok(Conn {
            client,
            statements: Statements::default(),
        })
    }

    /// Keeps `conn` for reuse if it is healthy, else closes it.
    fn give_back(&self, conn: Conn, healthy: bool) {
        // A poisoned lock: the connection is dropped and the next take reports it.
        if let Ok(mut state) = self.lock() {
            if healthy && !conn.client.is_closed() {
                state.idle.push(conn);
            } else {
                state.open = state.open.saturating_sub(1);
                drop(conn);
            }
            self.freed.notify_one();
        }
    }
}
