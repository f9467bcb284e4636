//! captoken's durable embedded stores on SQLite: the revocation list, lineage index, nonce store and holder-key directory of DESIGN.md §10 in one database file that several processes share.
//!
//! [`SqliteStore`] implements [`RevocationList`](captoken_core_types::RevocationList),
//! [`RevocationWriter`](captoken_core_types::RevocationWriter),
//! [`LineageIndex`](captoken_core_types::LineageIndex),
//! [`NonceStore`](captoken_core_types::NonceStore) and
//! [`HolderKeys`](captoken_core_types::HolderKeys) with the semantics of the
//! in-memory stores of `captoken-core-types`, over SQLite compiled from the
//! bundled sources (through `rusqlite`).
//!
//! - **Durability.** Write-ahead logging and `synchronous=FULL`: a write is
//!   acknowledged once it is on disk. Several processes open one file; writers
//!   wait for each other up to a busy timeout ([`SqliteOptions::busy_timeout`]).
//! - **Never recreated.** [`SqliteStore::create`] makes a new file and refuses an
//!   existing one; [`SqliteStore::open`] and [`SqliteStore::open_read_only`]
//!   never create, empty or rewrite a database.
//! - **Checked on open.** The file must carry captoken's application id and a
//!   schema version this build knows (an older one is migrated forward, a newer
//!   one refused), and pass SQLite's `quick_check`.
//! - **Fail closed.** Every SQLite error is [`StoreError::Backend`]; once SQLite
//!   reports the file corrupt or not a database, every later operation of the
//!   handle is an error too, so every verification over it denies.
//! - **Bounded.** The nonce capacity, per-credential quota and holder-key
//!   capacity are fixed at creation and kept in the file, so a restart can
//!   neither shrink nor reset them. Expired nonces are pruned in bounded
//!   batches only when a bound is reached; a live nonce is never evicted.
//!
//! Times are Unix seconds, any `u64` (`u64::MAX` meaning "never"), stored as
//! SQLite integers with the top bit flipped: an order-preserving mapping onto
//! `i64`, so every comparison the store makes holds.
//!
//! SQLite keeps no checksums of its pages: `quick_check` finds damage to the
//! file's structure, not a flipped bit inside a stored value that leaves the
//! structure intact. Lineage rows carry their issuer's seal, which verifiers
//! check; revocations and nonces rely on the file system and the disk.
//!
//! ```no_run
//! use captoken_core_types::{LineageHash, RevocationList, RevocationWriter};
//! use captoken_store_sqlite::{SqliteOptions, SqliteStore};
//!
//! # fn main() -> Result<(), captoken_core_types::StoreError> {
//! let issuer = SqliteStore::create("/var/lib/captoken/stores.db", SqliteOptions::default())?;
//! issuer.revoke(LineageHash([7; 32]))?;
//! let verifier = SqliteStore::open_read_only("/var/lib/captoken/stores.db")?;
//! assert!(verifier.is_revoked(&LineageHash([7; 32]))?);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod schema;
mod stores;

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use captoken_core_types::columns::bound_to_column;
use captoken_core_types::{MemoryHolderKeys, MemoryNonceStore, StoreError};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

/// The schema version this build reads and writes. A store of an older version
/// is migrated forward when opened read-write; a newer one is refused.
pub const SCHEMA_VERSION: u32 = 1;

/// How a new store is bounded, and how long an operation waits for another
/// writer. The bounds are written into the file at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The most live nonces held; default [`MemoryNonceStore::DEFAULT_CAPACITY`].
    pub nonce_capacity: usize,
    /// The most live nonces charged to one credential; default
    /// [`MemoryNonceStore::DEFAULT_QUOTA`].
    pub nonce_quota: usize,
    /// The most holder-key records held; default
    /// [`MemoryHolderKeys::DEFAULT_CAPACITY`].
    pub holder_key_capacity: usize,
    /// How long an operation waits for a lock another connection holds before
    /// failing; default 5 seconds. Not persisted: each handle sets its own
    /// ([`SqliteStore::set_busy_timeout`]).
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            nonce_capacity: MemoryNonceStore::DEFAULT_CAPACITY,
            nonce_quota: MemoryNonceStore::DEFAULT_QUOTA,
            holder_key_capacity: MemoryHolderKeys::DEFAULT_CAPACITY,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

impl SqliteOptions {
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

    /// These options with a busy timeout.
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// The busy timeout of [`SqliteStore::open`] and [`SqliteStore::open_read_only`].
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: the fixed statements and the
/// `any_revoked` statement of each chain length in use.
const STATEMENT_CACHE: usize = 64;

/// The revocation list, lineage index, nonce store and holder-key directory
/// in one SQLite database file.
///
/// One handle holds one connection behind a mutex (so it is `Send + Sync`);
/// open one handle per thread or process for parallel access. A poisoned lock
/// is [`StoreError::Poisoned`].
pub struct SqliteStore {
    inner: Mutex<Inner>,
    path: PathBuf,
    read_only: bool,
    bounds: Bounds,
}

/// The connection, and why it no longer answers once SQLite found the file damaged.
struct Inner {
    conn: Connection,
    damaged: Option<String>,
}

/// The bounds read from the file at open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub(crate) nonce_capacity: i64,
    pub(crate) nonce_quota: i64,
    pub(crate) holder_key_capacity: i64,
}

/// A failure inside an operation: SQLite's (inspected for damage), or the store's own.
pub(crate) enum Failure {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl Failure {
    pub(crate) fn backend(message: impl Into<String>) -> Self {
        Self::Store(StoreError::Backend(message.into()))
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Does this error say the file is damaged or not a database?
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

impl Failure {
    /// The store error, noting damage in `damaged`.
    fn into_store_error(self, damaged: &mut Option<String>) -> StoreError {
        match self {
            Self::Sql(e) => {
                let message = e.to_string();
                if is_damage(&e) {
                    *damaged = Some(message.clone());
                }
                StoreError::Backend(message)
            }
            Self::Store(e) => e,
        }
    }
}

/// A store error from a failure at open, where there is no handle to mark.
fn open_error(f: Failure) -> StoreError {
    f.into_store_error(&mut None)
}

/// The path of SQLite's file beside the database: `-wal`, `-shm`, `-journal`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl SqliteStore {
    /// Creates a new store file at `path` with these bounds, and opens it
    /// read-write. The bounds are written into the file for good.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `path` (or a write-ahead log beside it)
    /// already exists, a bound is beyond `i64::MAX`, or the file cannot be
    /// created or written; a file this call created is removed again.
    pub fn create(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let bounds = Bounds {
            nonce_capacity: bound_to_column(options.nonce_capacity)?,
            nonce_quota: bound_to_column(options.nonce_quota)?,
            holder_key_capacity: bound_to_column(options.holder_key_capacity)?,
        };
        let wal = sibling(path, "-wal");
        if wal.exists() {
            return Err(StoreError::Backend(format!(
                "a write-ahead log {} already exists",
                wal.display()
            )));
        }
        // create_new: refuses an existing file atomically, whoever races us.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", path.display())))?;
        match Self::initialise(path, bounds, options.busy_timeout) {
            Ok(store) => Ok(store),
            Err(e) => {
                for p in [
                    sibling(path, "-wal"),
                    sibling(path, "-shm"),
                    path.to_owned(),
                ] {
                    // Best effort: the error reported is the one that stopped creation.
                    let _ = std::fs::remove_file(p);
                }
                Err(e)
            }
        }
    }

    /// Writes the schema into the empty file this process just created.
    fn initialise(path: &Path, bounds: Bounds, timeout: Duration) -> Result<Self, StoreError> {
        let mut conn = connect(path, false, timeout)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| open_error(e.into()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("journal mode {mode}, not WAL")));
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| open_error(e.into()))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| open_error(e.into()))?;
        if version != 0 {
            return Err(StoreError::Backend("file is not empty".into()));
        }
        schema::migrate(&tx, 0).map_err(open_error)?;
        for (name, value) in [
            ("nonce_capacity", bounds.nonce_capacity),
            ("nonce_quota", bounds.nonce_quota),
            ("holder_key_capacity", bounds.holder_key_capacity),
        ] {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                (name, value),
            )
            .map_err(|e| open_error(e.into()))?;
        }
        tx.commit().map_err(|e| open_error(e.into()))?;
        Ok(Self::from_parts(conn, path, false, bounds))
    }

    /// Opens the existing store at `path` read-write, with a 5-second busy
    /// timeout. Never creates, empties or recreates anything; a store of an
    /// older schema version is migrated forward.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file is missing, unreadable or not
    /// writable, is not a captoken store, is of a newer schema version, or
    /// fails SQLite's `quick_check`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_handle(path.as_ref(), false)
    }

    /// Opens the existing store at `path` read-only, as a verifier does: every
    /// write through this handle ([`RevocationWriter::revoke`],
    /// [`LineageIndex::record`], [`NonceStore::reserve`], holder-key changes)
    /// is a [`StoreError::Backend`].
    ///
    /// [`RevocationWriter::revoke`]: captoken_core_types::RevocationWriter::revoke
    /// [`LineageIndex::record`]: captoken_core_types::LineageIndex::record
    /// [`NonceStore::reserve`]: captoken_core_types::NonceStore::reserve
    ///
    /// # Errors
    /// As [`SqliteStore::open`]; a store of an older schema version is refused
    /// (a read-only handle cannot migrate it).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_handle(path.as_ref(), true)
    }

    fn open_handle(path: &Path, read_only: bool) -> Result<Self, StoreError> {
        let mut conn = connect(path, read_only, DEFAULT_BUSY_TIMEOUT)?;
        if !read_only && conn.is_readonly("main").map_err(|e| open_error(e.into()))? {
            return Err(StoreError::Backend(format!(
                "{} is not writable; open it read-only",
                path.display()
            )));
        }
        let bounds = check(&mut conn, read_only).map_err(open_error)?;
        Ok(Self::from_parts(conn, path, read_only, bounds))
    }

    fn from_parts(conn: Connection, path: &Path, read_only: bool, bounds: Bounds) -> Self {
        Self {
            inner: Mutex::new(Inner {
                conn,
                damaged: None,
            }),
            path: path.to_owned(),
            read_only,
            bounds,
        }
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Was this handle opened read-only?
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The most live nonces the store holds, as written at creation.
    #[must_use]
    pub fn nonce_capacity(&self) -> u64 {
        self.bounds.nonce_capacity.unsigned_abs()
    }

    /// The most live nonces charged to one credential, as written at creation.
    #[must_use]
    pub fn nonce_quota(&self) -> u64 {
        self.bounds.nonce_quota.unsigned_abs()
    }

    /// The most holder-key records the store holds, as written at creation.
    #[must_use]
    pub fn holder_key_capacity(&self) -> u64 {
        self.bounds.holder_key_capacity.unsigned_abs()
    }

    /// Sets how long this handle's operations wait for another connection's lock.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or [`StoreError::Backend`].
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        self.with(|conn| Ok(conn.busy_timeout(timeout)?))
    }

    /// Runs SQLite's `quick_check` again, as at open. A failure marks the
    /// handle damaged: every later operation is an error.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file is damaged, or
    /// [`StoreError::Poisoned`].
    pub fn quick_check(&self) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        let Inner { conn, damaged } = &mut *inner;
        if let Some(why) = damaged {
            return Err(StoreError::Backend(format!("store damaged: {why}")));
        }
        quick_check(conn).map_err(|f| {
            let e = f.into_store_error(damaged);
            if damaged.is_none() {
                *damaged = Some(e.to_string());
            }
            e
        })
    }

    /// The bounds read from the file at open.
    pub(crate) fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Runs `f` on the connection: a poisoned lock is [`StoreError::Poisoned`],
    /// a handle that has seen damage answers nothing, and an SQLite error is
    /// [`StoreError::Backend`] (damage marking the handle).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        let Inner { conn, damaged } = &mut *inner;
        if let Some(why) = damaged {
            return Err(StoreError::Backend(format!("store damaged: {why}")));
        }
        f(conn).map_err(|e| e.into_store_error(damaged))
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

/// Opens a connection to an existing file (never creating it) and sets the
/// per-connection settings.
fn connect(path: &Path, read_only: bool, timeout: Duration) -> Result<Connection, StoreError> {
    let mode = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    // No SQLITE_OPEN_CREATE: a missing file is an error, never a new database.
    // No SQLITE_OPEN_URI: the path is a path.
    let conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Backend(format!("open {}: {e}", path.display())))?;
    configure(&conn, timeout).map_err(open_error)?;
    Ok(conn)
}

fn configure(conn: &Connection, timeout: Duration) -> Result<(), Failure> {
    use rusqlite::config::DbConfig;
    // Defensive: no writable_schema, no direct page writes from SQL.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    // The nonce and holder-key counters are kept by triggers.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true)?;
    conn.busy_timeout(timeout)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    // Extra checks of every b-tree cell as it is read: damage surfaces as
    // SQLITE_CORRUPT instead of being read as data.
    conn.pragma_update(None, "cell_size_check", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The checks of every open: captoken's application id, a known schema
/// version (older ones migrated forward when writable), `quick_check`, the
/// bounds in the meta table, and write-ahead logging.
fn check(conn: &mut Connection, read_only: bool) -> Result<Bounds, Failure> {
    let id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if id != schema::APPLICATION_ID || version < 1 {
        return Err(Failure::backend("not a captoken store"));
    }
    if version > schema::VERSION {
        return Err(Failure::backend(format!(
            "store schema version {version} is newer than this build's {}",
            schema::VERSION
        )));
    }
    quick_check(conn)?;
    if !read_only {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Failure::backend(format!("journal mode {mode}, not WAL")));
        }
    }
    if version < schema::VERSION {
        if read_only {
            return Err(Failure::backend(format!(
                "store schema version {version} needs migrating: open it read-write first"
            )));
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated it since we looked.
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now < schema::VERSION {
            schema::migrate(&tx, now)?;
        }
        tx.commit()?;
    }
    let read = |name: &str| -> Result<i64, Failure> {
        let v: Option<i64> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT value FROM meta WHERE name = ?1",
            [name],
            |r| r.get(0),
        ))?;
        match v {
            Some(v) if v >= 0 => Ok(v),
            _ => Err(Failure::backend(format!("meta {name} missing or invalid"))),
        }
    };
    Ok(Bounds {
        nonce_capacity: read("nonce_capacity")?,
        nonce_quota: read("nonce_quota")?,
        holder_key_capacity: read("holder_key_capacity")?,
    })
}

/// SQLite's `quick_check`: exactly one row, `ok`.
fn quick_check(conn: &Connection) -> Result<(), Failure> {
    let mut stmt = conn.prepare("PRAGMA quick_check(10)")?;
    let found: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if found.len() == 1 && found.first().is_some_and(|s| s == "ok") {
        Ok(())
    } else {
        Err(Failure::backend(format!(
            "quick_check failed: {}",
            found.join("; ")
        )))
    }
}
