//! The store traits of `captoken-core-types` over the schema of [`crate::schema`].

use captoken_core_types::possession::{Account, Reservation};
use captoken_core_types::{
    Format, HolderKey, HolderKeyRecord, HolderKeys, KeyState, LineageEntry, LineageHash,
    LineageIndex, NonceStore, ParentRef, RevocationList, RevocationWriter, StoreError, TokenId,
};
use postgres::{GenericClient, Row};

use crate::{Failure, PostgresStore, Session};
use captoken_core_types::columns::{holder_record_from_columns, state_to_columns, time_to_column};

/// The most expired nonces one pruning statement deletes.
const PRUNE_BATCH: i64 = 10_000;

/// Is any of the hashes in the list? One query, the hashes bound as one array.
const ANY_REVOKED_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM captoken_revoked WHERE hash = ANY($1::bytea[]))";

impl RevocationList for PostgresStore {
    fn is_revoked(&self, hash: &LineageHash) -> Result<bool, StoreError> {
        self.any_revoked(std::slice::from_ref(hash))
    }

    fn any_revoked(&self, hashes: &[LineageHash]) -> Result<bool, StoreError> {
        let hashes: Vec<&[u8]> = hashes.iter().map(|h| h.0.as_slice()).collect();
        self.with(|conn| {
            Ok(conn
                .session()
                .query_one(ANY_REVOKED_SQL, &[&hashes])?
                .try_get(0)?)
        })
    }
}

impl RevocationWriter for PostgresStore {
    fn revoke(&self, hash: LineageHash) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.session().execute(
                "INSERT INTO captoken_revoked (hash) VALUES ($1) ON CONFLICT (hash) DO NOTHING",
                &[&hash.0.as_slice()],
            )?;
            Ok(())
        })
    }
}

/// The lineage columns, in the order [`entry_from_row`] reads them.
macro_rules! lineage_columns {
    () => {
        "token_id, hash, parent_format, parent_id, parent_hash, seal"
    };
}

fn malformed(what: &str) -> Failure {
    Failure::backend(format!("malformed {what} row in store"))
}

/// A fixed-size byte string from a `bytea` column.
fn array<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], Failure> {
    <[u8; N]>::try_from(bytes).map_err(|_| malformed(what))
}

/// Reads a lineage row (columns [`lineage_columns`]).
fn entry_from_row(row: &Row) -> Result<LineageEntry, Failure> {
    let token_id: Vec<u8> = row.try_get(0)?;
    let hash: Vec<u8> = row.try_get(1)?;
    let parent_format: Option<String> = row.try_get(2)?;
    let parent_id: Option<Vec<u8>> = row.try_get(3)?;
    let parent_hash: Option<Vec<u8>> = row.try_get(4)?;
    let seal: Vec<u8> = row.try_get(5)?;
    let parent = match (parent_format, parent_id, parent_hash) {
        (None, None, None) => None,
        (Some(format), Some(id), Some(hash)) => Some(ParentRef::new(
            Format::parse(&format).map_err(|_| malformed("lineage"))?,
            TokenId(array(id, "lineage")?),
            LineageHash(array(hash, "lineage")?),
        )),
        _ => return Err(malformed("lineage")),
    };
    Ok(LineageEntry::new(
        TokenId(array(token_id, "lineage")?),
        LineageHash(array(hash, "lineage")?),
        parent,
        seal,
    ))
}

fn get_entry(
    s: &mut Session<'_, impl GenericClient>,
    id: &TokenId,
) -> Result<Option<LineageEntry>, Failure> {
    let row = s.query_opt(
        concat!(
            "SELECT ",
            lineage_columns!(),
            " FROM captoken_lineage WHERE token_id = $1"
        ),
        &[&id.0.as_slice()],
    )?;
    match row {
        Some(row) => {
            let entry = entry_from_row(&row)?;
            if entry.token_id != *id {
                return Err(malformed("lineage"));
            }
            Ok(Some(entry))
        }
        None => Ok(None),
    }
}

/// The recorded chain from `$1` up its parents, child first, at most `$2`
/// rows: one recursive query, each step a primary-key lookup.
const ANCESTRY_SQL: &str = "
WITH RECURSIVE chain (token_id, hash, parent_format, parent_id, parent_hash, seal, depth) AS (
    SELECT token_id, hash, parent_format, parent_id, parent_hash, seal, 1::bigint
        FROM captoken_lineage WHERE token_id = $1
    UNION ALL
    SELECT l.token_id, l.hash, l.parent_format, l.parent_id, l.parent_hash, l.seal, chain.depth + 1
        FROM chain JOIN captoken_lineage AS l ON l.token_id = chain.parent_id
        WHERE chain.depth < $2
)
SELECT token_id, hash, parent_format, parent_id, parent_hash, seal FROM chain
    ORDER BY depth LIMIT $2";

impl LineageIndex for PostgresStore {
    fn record(&self, entry: LineageEntry) -> Result<(), StoreError> {
        let parent = entry
            .parent
            .map(|p| (p.format.tag().to_owned(), p.id.0, p.hash.0));
        self.with(|conn| {
            let mut s = conn.session();
            // The insert decides; when a row is there already, it must be this one.
            let inserted = s.execute(
                concat!(
                    "INSERT INTO captoken_lineage (",
                    lineage_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_id) DO NOTHING"
                ),
                &[
                    &entry.token_id.0.as_slice(),
                    &entry.hash.0.as_slice(),
                    &parent.as_ref().map(|p| p.0.as_str()),
                    &parent.as_ref().map(|p| p.1.as_slice()),
                    &parent.as_ref().map(|p| p.2.as_slice()),
                    &entry.seal.as_slice(),
                ],
            )?;
            if inserted == 1 {
                return Ok(());
            }
            match get_entry(&mut s, &entry.token_id)? {
                Some(existing) if existing == entry => Ok(()),
                Some(_) => Err(StoreError::Conflict(entry.token_id).into()),
                None => Err(Failure::backend("lineage row vanished after a conflict")),
            }
        })
    }

    fn get(&self, id: &TokenId) -> Result<Option<LineageEntry>, StoreError> {
        self.with(|conn| get_entry(&mut conn.session(), id))
    }

    fn ancestry(&self, id: &TokenId, max: usize) -> Result<Vec<LineageEntry>, StoreError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.with(|conn| {
            let rows = conn
                .session()
                .query(ANCESTRY_SQL, &[&id.0.as_slice(), &limit])?;
            let out = rows
                .iter()
                .map(entry_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            // The chain must be what it claims: each row the parent its child names.
            let mut want = *id;
            for entry in &out {
                if entry.token_id != want {
                    return Err(malformed("lineage"));
                }
                if let Some(p) = &entry.parent {
                    want = p.id;
                }
            }
            Ok(out)
        })
    }
}

impl NonceStore for PostgresStore {
    /// Reserves `nonce` in `scope` until `keep_until`, deciding expiry by
    /// `now` (the verifier's clock, never the server's).
    ///
    /// One transaction: it locks the live-nonce counter row (so reservations
    /// from every replica are serialised on it), frees this nonce if held but
    /// expired, and inserts it with `ON CONFLICT DO NOTHING`, whose row count
    /// decides a replay. A new row within the capacity and the account's
    /// quota is kept; past a bound, expired nonces are pruned a batch at a
    /// time until it fits, else the new row is removed again and the answer is
    /// [`Reservation::Full`] (the pruning is kept).
    fn reserve(
        &self,
        scope: &HolderKey,
        nonce: &[u8; 16],
        keep_until: u64,
        now: u64,
        account: &Account,
    ) -> Result<Reservation, StoreError> {
        let keep_until = time_to_column(keep_until);
        let now = time_to_column(now);
        let scope = scope.to_string();
        let nonce = nonce.as_slice();
        let account = account.as_bytes().as_slice();
        let bounds = self.bounds();
        self.with(|conn| {
            conn.in_transaction(|s| {
                // The lock every reservation takes first: the counts read below
                // cannot change under this transaction.
                s.query_one(
                    "SELECT value FROM captoken_meta WHERE name = 'nonce_count' FOR UPDATE",
                    &[],
                )?;
                // Expired: it may be reserved again (its proof is stale anyway).
                s.execute(
                "DELETE FROM captoken_nonces WHERE scope = $1 AND nonce = $2 AND keep_until < $3",
                &[&scope, &nonce, &now],
            )?;
                // The counts before this nonce is added.
                let counts =
                |s: &mut Session<'_, postgres::Transaction<'_>>| -> Result<(i64, i64), Failure> {
                    let total: i64 = s
                        .query_one(
                            "SELECT value FROM captoken_meta WHERE name = 'nonce_count'",
                            &[],
                        )?
                        .try_get(0)?;
                    let mine: i64 = match s.query_opt(
                        "SELECT live FROM captoken_nonce_accounts WHERE account = $1",
                        &[&account],
                    )? {
                        Some(row) => row.try_get(0)?,
                        None => 0,
                    };
                    Ok((total, mine))
                };
                let (mut total, mut mine) = counts(s)?;
                let inserted = s.execute(
                    "INSERT INTO captoken_nonces (scope, nonce, keep_until, account) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (scope, nonce) DO NOTHING",
                    &[&scope, &nonce, &keep_until, &account],
                )?;
                if inserted == 0 {
                    // Held and live: nothing was changed.
                    return Ok(Reservation::Replayed);
                }
                let answer = loop {
                    let over_capacity = total >= bounds.nonce_capacity;
                    let over_quota = mine >= bounds.nonce_quota;
                    if !over_capacity && !over_quota {
                        break Reservation::Reserved;
                    }
                    // Prune expired entries, oldest first, a bounded batch at a
                    // time; a live entry (or the one just added) is never removed.
                    let mut pruned = s.execute(
                        "DELETE FROM captoken_nonces WHERE (scope, nonce) IN \
                     (SELECT scope, nonce FROM captoken_nonces \
                      WHERE keep_until < $1 AND NOT (scope = $2 AND nonce = $3) \
                      ORDER BY keep_until LIMIT $4)",
                        &[&now, &scope, &nonce, &PRUNE_BATCH],
                    )?;
                    if over_quota {
                        pruned += s.execute(
                            "DELETE FROM captoken_nonces WHERE (scope, nonce) IN \
                         (SELECT scope, nonce FROM captoken_nonces \
                          WHERE account = $1 AND keep_until < $2 \
                          AND NOT (scope = $3 AND nonce = $4) \
                          ORDER BY keep_until LIMIT $5)",
                            &[&account, &now, &scope, &nonce, &PRUNE_BATCH],
                        )?;
                    }
                    if pruned == 0 {
                        s.execute(
                            "DELETE FROM captoken_nonces WHERE scope = $1 AND nonce = $2",
                            &[&scope, &nonce],
                        )?;
                        break Reservation::Full;
                    }
                    // The counts now include the new row: take it off again.
                    let (t, m) = counts(s)?;
                    total = t - 1;
                    mine = m - 1;
                };
                Ok(answer)
            })
        })
    }
}

/// The holder-key columns after the principal, in the order [`record_from_row`] reads them.
macro_rules! holder_columns {
    () => {
        "key, not_before, not_after, state, state_at"
    };
}

/// Reads a holder-key row (columns [`holder_columns`]).
fn record_from_row(row: &Row) -> Result<HolderKeyRecord, Failure> {
    let key: String = row.try_get(0)?;
    let not_before: i64 = row.try_get(1)?;
    let not_after: i64 = row.try_get(2)?;
    let state: String = row.try_get(3)?;
    let at: Option<i64> = row.try_get(4)?;
    holder_record_from_columns(&key, not_before, not_after, &state, at)
        .ok_or_else(|| malformed("holder key"))
}

/// The record of `principal`'s `key`; `lock` takes its row lock until the
/// end of the transaction.
fn get_record(
    s: &mut Session<'_, impl GenericClient>,
    principal: &str,
    key: &str,
    expected: &HolderKey,
    lock: bool,
) -> Result<Option<HolderKeyRecord>, Failure> {
    const GET: &str = concat!(
        "SELECT ",
        holder_columns!(),
        " FROM captoken_holder_keys WHERE principal = $1 AND key = $2"
    );
    const GET_LOCKED: &str = concat!(
        "SELECT ",
        holder_columns!(),
        " FROM captoken_holder_keys WHERE principal = $1 AND key = $2 FOR UPDATE"
    );
    let row = s.query_opt(if lock { GET_LOCKED } else { GET }, &[&principal, &key])?;
    match row {
        Some(row) => {
            let record = record_from_row(&row)?;
            if record.key != *expected {
                return Err(malformed("holder key"));
            }
            Ok(Some(record))
        }
        None => Ok(None),
    }
}

impl HolderKeys for PostgresStore {
    fn get(&self, principal: &str, key: &HolderKey) -> Result<Option<HolderKeyRecord>, StoreError> {
        let text = key.to_string();
        self.with(|conn| get_record(&mut conn.session(), principal, &text, key, false))
    }

    fn insert(&self, principal: &str, record: HolderKeyRecord) -> Result<(), StoreError> {
        let key = record.key.to_string();
        let not_before = time_to_column(record.not_before);
        let not_after = time_to_column(record.not_after);
        let (state, at) = state_to_columns(record.state);
        let capacity = self.bounds().holder_key_capacity;
        self.with(|conn| {
            conn.in_transaction(|s| {
                // Serialises enrolments from every replica: the count cannot
                // change under this transaction.
                let held: i64 = s
                .query_one(
                    "SELECT value FROM captoken_meta WHERE name = 'holder_key_count' FOR UPDATE",
                    &[],
                )?
                .try_get(0)?;
                match get_record(s, principal, &key, &record.key, false)? {
                    Some(existing) if existing == record => return Ok(()),
                    Some(_) => return Err(StoreError::HolderKeyExists.into()),
                    None => {}
                }
                if held >= capacity {
                    return Err(StoreError::Full.into());
                }
                s.execute(
                    "INSERT INTO captoken_holder_keys \
                 (principal, key, not_before, not_after, state, state_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&principal, &key, &not_before, &not_after, &state, &at],
                )?;
                Ok(())
            })
        })
    }

    fn set_state(
        &self,
        principal: &str,
        key: &HolderKey,
        state: KeyState,
    ) -> Result<(), StoreError> {
        let text = key.to_string();
        self.with(|conn| {
            conn.in_transaction(|s| {
                let held = get_record(s, principal, &text, key, true)?
                    .ok_or(StoreError::HolderKeyUnknown)?;
                let from = held.state;
                let next = from
                    .then(state)
                    .map_err(|_| StoreError::StateRegression { from, to: state })?;
                if next != from {
                    let (name, at) = state_to_columns(next);
                    s.execute(
                        "UPDATE captoken_holder_keys SET state = $3, state_at = $4 \
                     WHERE principal = $1 AND key = $2",
                        &[&principal, &text, &name, &at],
                    )?;
                }
                Ok(())
            })
        })
    }

    fn keys(&self, principal: &str) -> Result<Vec<HolderKeyRecord>, StoreError> {
        self.with(|conn| {
            let rows = conn.session().query(
                concat!(
                    "SELECT ",
                    holder_columns!(),
                    " FROM captoken_holder_keys WHERE principal = $1 ORDER BY key"
                ),
                &[&principal],
            )?;
            let mut out = rows
                .iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            // The trait's order is the key's, which the text form's need not be.
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }
}
