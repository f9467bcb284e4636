//! A local snapshot of the revocation list, followed through `LISTEN/NOTIFY`,
//! for the verifier's hot path (DESIGN.md §10).
//!
//! [`RevocationSnapshot::start`] opens a connection of its own, subscribes to
//! the channel on which the database announces every committed revocation (a
//! trigger of the schema, so a revocation made by any replica or any tool is
//! announced), and only then loads the whole revocation table: a revocation
//! committed after the load is announced, so none is missed. One background
//! thread then adds each announced hash to the in-memory set.
//!
//! The snapshot answers from memory. When the subscription is lost (the
//! connection fails or closes, or stops answering its heartbeat), the
//! background thread reconnects, subscribes again and reloads the whole
//! table; until then the snapshot reports its [staleness](RevocationSnapshot::staleness),
//! keeps answering from memory within the bound given at start, and beyond it
//! fails every call with [`StoreError::Backend`], so every verification over
//! it denies.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use captoken_core_types::{LineageHash, RevocationList, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};

use crate::schema::REVOKED_CHANNEL;
use crate::{Failure, describe, prepare_session};

/// How long the background thread waits for a notification before it checks
/// the stop flag and whether a heartbeat is due.
const POLL: Duration = Duration::from_millis(100);

/// The shortest and longest heartbeat intervals (see [`heartbeat_interval`]).
const MIN_HEARTBEAT: Duration = Duration::from_millis(250);
const MAX_HEARTBEAT: Duration = Duration::from_secs(5);

/// The longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server-side `statement_timeout` of the snapshot's session.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the background thread proves its connection alive with a
/// query: half the staleness bound, within [`MIN_HEARTBEAT`] and
/// [`MAX_HEARTBEAT`]. A connection that has not answered for two intervals
/// counts as lost even before the client reports an error (a silent network).
fn heartbeat_interval(max_staleness: Duration) -> Duration {
    (max_staleness / 2).clamp(MIN_HEARTBEAT, MAX_HEARTBEAT)
}

/// The state the background thread writes and the callers read.
struct State {
    /// Every revoked hash known.
    revoked: HashSet<LineageHash>,
    /// When the subscription was found lost; `None` while subscribed.
    lost_since: Option<Instant>,
    /// When the subscription last proved alive (a heartbeat answered).
    confirmed_at: Instant,
}

/// What the callers and the background thread share.
struct Shared {
    state: RwLock<State>,
    stop: AtomicBool,
    max_staleness: Duration,
    heartbeat: Duration,
}

impl Shared {
    fn read(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        self.state.read().map_err(|_| StoreError::Poisoned)
    }

    /// How long the subscription has been lost, `None` while it is held.
    fn staleness(state: &State, heartbeat: Duration) -> Option<Duration> {
        match state.lost_since {
            Some(t) => Some(t.elapsed()),
            None => {
                // The thread is stuck on a connection that does not answer:
                // lost since it last answered.
                let quiet = state.confirmed_at.elapsed();
                (quiet > heartbeat.saturating_mul(2)).then_some(quiet)
            }
        }
    }

    /// The state, or [`StoreError::Backend`] when the subscription has been
    /// lost longer than the bound.
    fn fresh(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        let state = self.read()?;
        match Self::staleness(&state, self.heartbeat) {
            Some(lost) if lost > self.max_staleness => Err(StoreError::Backend(format!(
                "revocation snapshot stale: subscription lost for {} ms (bound {} ms)",
                lost.as_millis(),
                self.max_staleness.as_millis()
            ))),
            _ => Ok(state),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// A local copy of a PostgreSQL store's revocation list, kept current by
/// `LISTEN/NOTIFY`, with a bounded staleness it reports and enforces.
///
/// Implements [`RevocationList`] (answers from memory, no round trip);
/// `Send + Sync`. Dropping it stops and joins its background thread.
pub struct RevocationSnapshot {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl RevocationSnapshot {
    /// Connects to the database `params` names (a libpq-style connection
    /// string, as for [`PostgresStore::connect`](crate::PostgresStore::connect)),
    /// runs `LISTEN` on the revocation channel, then loads the whole
    /// revocation table, and starts the background thread that follows the
    /// notifications.
    ///
    /// The schema must already be at this build's version
    /// ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)): a snapshot never creates
    /// or migrates it ([`PostgresStore::connect`](crate::PostgresStore::connect) does).
    ///
    /// `max_staleness` bounds how long the snapshot answers from memory after
    /// its subscription is lost; beyond it every call fails until the
    /// background thread has reconnected and reloaded the table.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `params` does not parse, the server cannot
    /// be reached, is in recovery or refuses the statements, the schema is
    /// missing or of another version, or a stored hash is malformed; also
    /// when the background thread cannot be spawned.
    pub fn start(params: &str, max_staleness: Duration) -> Result<Self, StoreError> {
        let mut config: Config = params
            .parse()
            .map_err(|e| StoreError::Backend(format!("connection string: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        let subscription = subscribe(&config)?;
        let shared = Arc::new(Shared {
            state: RwLock::new(State {
                revoked: subscription.revoked,
                lost_since: None,
                confirmed_at: Instant::now(),
            }),
            stop: AtomicBool::new(false),
            max_staleness,
            heartbeat: heartbeat_interval(max_staleness),
        });
        let worker = Arc::clone(&shared);
        let client = subscription.client;
        let schema = subscription.schema;
        let thread = std::thread::Builder::new()
            .name("captoken-revocation-snapshot".into())
            .spawn(move || run(&worker, &config, client, schema))
            .map_err(|e| StoreError::Backend(format!("spawn the snapshot thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// `None` while the subscription is held; otherwise how long it has been
    /// lost (since the failure was seen, or since the connection last
    /// answered a heartbeat when it went silent). A report only: the
    /// [`RevocationList`] calls enforce the bound themselves.
    #[must_use]
    pub fn staleness(&self) -> Option<Duration> {
        // A report, so it reads through a poisoned lock (the calls that
        // answer revocation questions refuse one).
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Shared::staleness(&state, self.shared.heartbeat)
    }

    /// The bound given at [`RevocationSnapshot::start`].
    #[must_use]
    pub fn max_staleness(&self) -> Duration {
        self.shared.max_staleness
    }

    /// How many revoked hashes the snapshot holds.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] when the state lock is poisoned.
    pub fn len(&self) -> Result<usize, StoreError> {
        Ok(self.shared.read()?.revoked.len())
    }

    /// Whether the snapshot holds no revoked hash.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] when the state lock is poisoned.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.shared.read()?.revoked.is_empty())
    }
}

impl RevocationList for RevocationSnapshot {
    fn is_revoked(&self, hash: &LineageHash) -> Result<bool, StoreError> {
        Ok(self.shared.fresh()?.revoked.contains(hash))
    }

    fn any_revoked(&self, hashes: &[LineageHash]) -> Result<bool, StoreError> {
        let state = self.shared.fresh()?;
        Ok(hashes.iter().any(|h| state.revoked.contains(h)))
    }
}

impl Drop for RevocationSnapshot {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // The thread never panics; a join error leaves nothing to do.
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for RevocationSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationSnapshot")
            .field("max_staleness", &self.shared.max_staleness)
            .field("heartbeat", &self.shared.heartbeat)
            .finish_non_exhaustive()
    }
}

/// A connection listening on the revocation channel, the schema whose
/// notifications it keeps, and the table as loaded after the `LISTEN`.
struct Subscription {
    client: Client,
    schema: String,
    revoked: HashSet<LineageHash>,
}

/// Connects, checks the session, runs `LISTEN`, then loads the table.
fn subscribe(config: &Config) -> Result<Subscription, StoreError> {
    let mut client = config
        .connect(NoTls)
        .map_err(|e| StoreError::Backend(describe(&e)))?;
    prepare_session(&mut client, STATEMENT_TIMEOUT).map_err(Failure::into_store_error)?;
    let load = |client: &mut Client| -> Result<(String, HashSet<LineageHash>), Failure> {
        // First LISTEN (effective at once: no transaction is open), then
        // load: a revocation committed after the load is announced.
        client.batch_execute(&format!("LISTEN {REVOKED_CHANNEL}"))?;
        let schema: Option<String> = client
            .query_one(
                "SELECT n.nspname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass('captoken_revoked')",
                &[],
            )
            .map(|row| row.try_get(0))??;
        let schema =
            schema.ok_or_else(|| Failure::backend("not a captoken store: no revocation table"))?;
        let mut revoked = HashSet::new();
        for row in client.query("SELECT hash FROM captoken_revoked", &[])? {
            let bytes: Vec<u8> = row.try_get(0)?;
            let hash = <[u8; 32]>::try_from(bytes)
                .map_err(|_| Failure::backend("malformed revocation row in store"))?;
            revoked.insert(LineageHash(hash));
        }
        Ok((schema, revoked))
    };
    let (schema, revoked) = load(&mut client).map_err(Failure::into_store_error)?;
    Ok(Subscription {
        client,
        schema,
        revoked,
    })
}

/// The background thread: follows the subscription until it is lost, then
/// resubscribes (reloading the table), until the stop flag is raised.
fn run(shared: &Shared, config: &Config, client: Client, schema: String) {
    let mut current = Some((client, schema));
    while !shared.stopping() {
        if let Some((mut client, schema)) = current.take() {
            if follow(shared, &mut client, &schema).is_err() {
                return;
            }
            if shared.stopping() {
                return;
            }
            // Lost: from now on the callers count the staleness, from the
            // moment they already counted it if the connection had gone
            // silent first (so the staleness they see never shrinks).
            match shared.state.write() {
                Ok(mut state) => {
                    let silent = state.confirmed_at.elapsed() > shared.heartbeat.saturating_mul(2);
                    let since = if silent {
                        state.confirmed_at
                    } else {
                        Instant::now()
                    };
                    state.lost_since.get_or_insert(since);
                }
                Err(_) => return,
            }
        }
        let mut backoff = POLL;
        while current.is_none() {
            if shared.stopping() {
                return;
            }
            match subscribe(config) {
                Ok(s) => {
                    match shared.state.write() {
                        Ok(mut state) => {
                            state.revoked = s.revoked;
                            state.lost_since = None;
                            state.confirmed_at = Instant::now();
                        }
                        Err(_) => return,
                    }
                    current = Some((s.client, s.schema));
                }
                Err(_) => {
                    if !pause(shared, backoff) {
                        return;
                    }
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Sleeps `d` in short steps; `false` when the stop flag was raised.
fn pause(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if shared.stopping() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(POLL));
    }
}

/// Why [`follow`] ended without the subscription being lost: the stop flag,
/// or a poisoned lock (nothing more can be written).
struct Ended;

/// Follows the notifications on `client` until the subscription is lost
/// (`Ok`) or the thread must end (`Err`).
fn follow(shared: &Shared, client: &mut Client, schema: &str) -> Result<(), Ended> {
    let mut last_beat = Instant::now();
    loop {
        if shared.stopping() {
            return Err(Ended);
        }
        let next = client.notifications().timeout_iter(POLL).next();
        match next {
            Ok(Some(n)) if n.channel() == REVOKED_CHANNEL => {
                let Some((from, hex)) = n.payload().rsplit_once(':') else {
                    // Not a payload of ours: reload rather than guess.
                    return Ok(());
                };
                if from != schema {
                    continue;
                }
                let Ok(hash) = LineageHash::from_hex(hex) else {
                    return Ok(());
                };
                shared
                    .state
                    .write()
                    .map_err(|_| Ended)?
                    .revoked
                    .insert(hash);
            }
            Ok(Some(_)) => {}
            // A timeout, or the connection has closed.
            Ok(None) => {
                if client.is_closed() {
                    return Ok(());
                }
            }
            Err(_) => return Ok(()),
        }
        if last_beat.elapsed() >= shared.heartbeat {
            if client.simple_query("SELECT 1").is_err() {
                return Ok(());
            }
            last_beat = Instant::now();
            shared.state.write().map_err(|_| Ended)?.confirmed_at = last_beat;
        }
    }
}
