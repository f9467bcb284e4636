//! The store traits of `captoken-core-types` over the schema of [`crate::schema`].

use captoken_core_types::possession::{Account, Reservation};
use captoken_core_types::{
    Format, HolderKey, HolderKeyRecord, HolderKeys, KeyState, LineageEntry, LineageHash,
    LineageIndex, NonceStore, ParentRef, RevocationList, RevocationWriter, StoreError, TokenId,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

use crate::{Failure, SqliteStore};
use captoken_core_types::columns::{holder_record_from_columns, state_to_columns, time_to_column};

/// The most hashes one `any_revoked` query binds; longer slices are asked in
/// chunks of this size inside one read transaction. Below SQLite's default
/// limit of 32766 bound parameters, and a statement of each length is cached.
const REVOKED_CHUNK: usize = 500;

/// The most expired nonces one pruning statement deletes.
const PRUNE_BATCH: i64 = 10_000;

/// The `any_revoked` query for `n` hashes.
fn any_revoked_sql(n: usize) -> String {
    let mut sql = String::from("SELECT 1 FROM revoked WHERE hash IN (?1");
    for i in 2..=n {
        sql.push_str(&format!(", ?{i}"));
    }
    sql.push_str(") LIMIT 1");
    sql
}

/// Is any of `hashes` (at most [`REVOKED_CHUNK`]) in the list? One query.
fn any_in(conn: &Connection, hashes: &[LineageHash]) -> Result<bool, Failure> {
    if hashes.is_empty() {
        return Ok(false);
    }
    let mut stmt = conn.prepare_cached(&any_revoked_sql(hashes.len()))?;
    let mut rows = stmt.query(params_from_iter(hashes.iter().map(|h| h.0.as_slice())))?;
    Ok(rows.next()?.is_some())
}

impl RevocationList for SqliteStore {
    fn is_revoked(&self, hash: &LineageHash) -> Result<bool, StoreError> {
        self.with(|conn| any_in(conn, std::slice::from_ref(hash)))
    }

    fn any_revoked(&self, hashes: &[LineageHash]) -> Result<bool, StoreError> {
        self.with(|conn| {
            if hashes.len() <= REVOKED_CHUNK {
                return any_in(conn, hashes);
            }
            // One snapshot for every chunk.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            for chunk in hashes.chunks(REVOKED_CHUNK) {
                if any_in(&tx, chunk)? {
                    return Ok(true);
                }
            }
            tx.commit()?;
            Ok(false)
        })
    }
}

impl RevocationWriter for SqliteStore {
    fn revoke(&self, hash: LineageHash) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO revoked (hash) VALUES (?1) ON CONFLICT (hash) DO NOTHING",
            )?
            .execute([hash.0.as_slice()])?;
            Ok(())
        })
    }
}

/// The lineage columns, in the order [`entry_from_row`] reads them.
const LINEAGE_COLUMNS: &str = "token_id, hash, parent_format, parent_id, parent_hash, seal";

fn malformed(what: &str) -> Failure {
    Failure::backend(format!("malformed {what} row in store"))
}

/// A fixed-size byte string from a blob column.
fn array<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N], Failure> {
    <[u8; N]>::try_from(bytes).map_err(|_| malformed(what))
}

/// Reads a lineage row (columns [`LINEAGE_COLUMNS`]).
fn entry_from_row(row: &Row<'_>) -> Result<LineageEntry, Failure> {
    let token_id: Vec<u8> = row.get(0)?;
    let hash: Vec<u8> = row.get(1)?;
    let parent_format: Option<String> = row.get(2)?;
    let parent_id: Option<Vec<u8>> = row.get(3)?;
    let parent_hash: Option<Vec<u8>> = row.get(4)?;
    let seal: Vec<u8> = row.get(5)?;
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

fn get_entry(conn: &Connection, id: &TokenId) -> Result<Option<LineageEntry>, Failure> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LINEAGE_COLUMNS} FROM lineage WHERE token_id = ?1"
    ))?;
    let mut rows = stmt.query([id.0.as_slice()])?;
    match rows.next()? {
        Some(row) => {
            let entry = entry_from_row(row)?;
            if entry.token_id != *id {
                return Err(malformed("lineage"));
            }
            Ok(Some(entry))
        }
        None => Ok(None),
    }
}

/// The recorded chain from `?1` up its parents, child first, at most `?2`
/// rows. `CROSS JOIN` keeps the chain as the outer loop, so each step is one
/// primary-key search.
const ANCESTRY_SQL: &str = "
WITH RECURSIVE chain (token_id, hash, parent_format, parent_id, parent_hash, seal, depth) AS (
    SELECT token_id, hash, parent_format, parent_id, parent_hash, seal, 1
        FROM lineage WHERE token_id = ?1
    UNION ALL
    SELECT l.token_id, l.hash, l.parent_format, l.parent_id, l.parent_hash, l.seal, chain.depth + 1
        FROM chain CROSS JOIN lineage AS l ON l.token_id = chain.parent_id
        WHERE chain.depth < ?2
)
SELECT token_id, hash, parent_format, parent_id, parent_hash, seal FROM chain
    ORDER BY depth LIMIT ?2";

impl LineageIndex for SqliteStore {
    fn record(&self, entry: LineageEntry) -> Result<(), StoreError> {
        let parent = entry
            .parent
            .map(|p| (p.format.tag().to_owned(), p.id.0, p.hash.0));
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match get_entry(&tx, &entry.token_id)? {
                Some(existing) if existing == entry => return Ok(()),
                Some(_) => return Err(StoreError::Conflict(entry.token_id).into()),
                None => {}
            }
            tx.prepare_cached(&format!(
                "INSERT INTO lineage ({LINEAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                entry.token_id.0.as_slice(),
                entry.hash.0.as_slice(),
                parent.as_ref().map(|p| p.0.as_str()),
                parent.as_ref().map(|p| p.1.as_slice()),
                parent.as_ref().map(|p| p.2.as_slice()),
                entry.seal.as_slice(),
            ])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn get(&self, id: &TokenId) -> Result<Option<LineageEntry>, StoreError> {
        self.with(|conn| get_entry(conn, id))
    }

    fn ancestry(&self, id: &TokenId, max: usize) -> Result<Vec<LineageEntry>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(ANCESTRY_SQL)?;
            let mut rows = stmt.query(params![id.0.as_slice(), limit])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(entry_from_row(row)?);
            }
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

impl NonceStore for SqliteStore {
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
        let account = account.as_bytes().as_slice();
        let bounds = self.bounds();
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held: Option<i64> = tx
                .prepare_cached("SELECT keep_until FROM nonces WHERE scope = ?1 AND nonce = ?2")?
                .query_row(params![scope, nonce.as_slice()], |r| r.get(0))
                .optional()?;
            if let Some(until) = held {
                if until >= now {
                    return Ok(Reservation::Replayed);
                }
                // Expired: it may be reserved again (its proof is stale anyway).
                tx.prepare_cached("DELETE FROM nonces WHERE scope = ?1 AND nonce = ?2")?
                    .execute(params![scope, nonce.as_slice()])?;
            }
            let answer = loop {
                let total: i64 = tx
                    .prepare_cached("SELECT value FROM meta WHERE name = 'nonce_count'")?
                    .query_row([], |r| r.get(0))?;
                let mine: i64 = tx
                    .prepare_cached("SELECT live FROM nonce_accounts WHERE account = ?1")?
                    .query_row([account], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0);
                let over_capacity = total >= bounds.nonce_capacity;
                let over_quota = mine >= bounds.nonce_quota;
                if !over_capacity && !over_quota {
                    tx.prepare_cached(
                        "INSERT INTO nonces (scope, nonce, keep_until, account) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        scope,
                        nonce.as_slice(),
                        keep_until,
                        account
                    ])?;
                    break Reservation::Reserved;
                }
                // Prune expired entries, oldest first, a bounded batch at a
                // time; a live entry is never removed.
                let mut pruned = 0;
                if over_capacity {
                    pruned += tx
                        .prepare_cached(
                            "DELETE FROM nonces WHERE (scope, nonce) IN \
                             (SELECT scope, nonce FROM nonces WHERE keep_until < ?1 \
                              ORDER BY keep_until LIMIT ?2)",
                        )?
                        .execute(params![now, PRUNE_BATCH])?;
                }
                if over_quota {
                    pruned += tx
                        .prepare_cached(
                            "DELETE FROM nonces WHERE (scope, nonce) IN \
                             (SELECT scope, nonce FROM nonces \
                              WHERE account = ?1 AND keep_until < ?2 \
                              ORDER BY keep_until LIMIT ?3)",
                        )?
                        .execute(params![account, now, PRUNE_BATCH])?;
                }
                if pruned == 0 {
                    break Reservation::Full;
                }
            };
            tx.commit()?;
            Ok(answer)
        })
    }
}

/// The holder-key columns after the key, in the order [`record_from_row`] reads them.
const HOLDER_COLUMNS: &str = "key, not_before, not_after, state, state_at";

/// Reads a holder-key row (columns [`HOLDER_COLUMNS`]).
fn record_from_row(row: &Row<'_>) -> Result<HolderKeyRecord, Failure> {
    let key: String = row.get(0)?;
    let not_before: i64 = row.get(1)?;
    let not_after: i64 = row.get(2)?;
    let state: String = row.get(3)?;
    let at: Option<i64> = row.get(4)?;
    holder_record_from_columns(&key, not_before, not_after, &state, at)
        .ok_or_else(|| malformed("holder key"))
}

fn get_record(
    conn: &Connection,
    principal: &str,
    key: &str,
    expected: &HolderKey,
) -> Result<Option<HolderKeyRecord>, Failure> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {HOLDER_COLUMNS} FROM holder_keys WHERE principal = ?1 AND key = ?2"
    ))?;
    let mut rows = stmt.query([principal, key])?;
    match rows.next()? {
        Some(row) => {
            let record = record_from_row(row)?;
            if record.key != *expected {
                return Err(malformed("holder key"));
            }
            Ok(Some(record))
        }
        None => Ok(None),
    }
}

impl HolderKeys for SqliteStore {
    fn get(&self, principal: &str, key: &HolderKey) -> Result<Option<HolderKeyRecord>, StoreError> {
        let text = key.to_string();
        self.with(|conn| get_record(conn, principal, &text, key))
    }

    fn insert(&self, principal: &str, record: HolderKeyRecord) -> Result<(), StoreError> {
        let key = record.key.to_string();
        let not_before = time_to_column(record.not_before);
        let not_after = time_to_column(record.not_after);
        let (state, at) = state_to_columns(record.state);
        let capacity = self.bounds().holder_key_capacity;
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match get_record(&tx, principal, &key, &record.key)? {
                Some(held) if held == record => return Ok(()),
                Some(_) => return Err(StoreError::HolderKeyExists.into()),
                None => {}
            }
            let held: i64 = tx
                .prepare_cached("SELECT value FROM meta WHERE name = 'holder_key_count'")?
                .query_row([], |r| r.get(0))?;
            if held >= capacity {
                return Err(StoreError::Full.into());
            }
            tx.prepare_cached(
                "INSERT INTO holder_keys (principal, key, not_before, not_after, state, state_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![principal, key, not_before, not_after, state, at])?;
            tx.commit()?;
            Ok(())
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
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held =
                get_record(&tx, principal, &text, key)?.ok_or(StoreError::HolderKeyUnknown)?;
            let from = held.state;
            let next = from
                .then(state)
                .map_err(|_| StoreError::StateRegression { from, to: state })?;
            if next != from {
                let (name, at) = state_to_columns(next);
                tx.prepare_cached(
                    "UPDATE holder_keys SET state = ?3, state_at = ?4 \
                     WHERE principal = ?1 AND key = ?2",
                )?
                .execute(params![principal, text, name, at])?;
                tx.commit()?;
            }
            Ok(())
        })
    }

    fn keys(&self, principal: &str) -> Result<Vec<HolderKeyRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {HOLDER_COLUMNS} FROM holder_keys WHERE principal = ?1 ORDER BY key"
            ))?;
            let mut rows = stmt.query([principal])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(record_from_row(row)?);
            }
            // The trait's order is the key's, which the text form's need not be.
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn lookups_search_an_index_never_scan() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        crate::schema::migrate(&tx, 0).unwrap_or_else(|_| panic!("migrate"));
        tx.commit().unwrap();
        for (sql, want) in [
            (any_revoked_sql(3), "SEARCH revoked USING PRIMARY KEY"),
            (ANCESTRY_SQL.to_owned(), "SEARCH l USING PRIMARY KEY"),
            (
                format!("SELECT {LINEAGE_COLUMNS} FROM lineage WHERE token_id = ?1"),
                "SEARCH lineage USING PRIMARY KEY",
            ),
            (
                "SELECT keep_until FROM nonces WHERE scope = ?1 AND nonce = ?2".to_owned(),
                "SEARCH nonces USING PRIMARY KEY",
            ),
            (
                "SELECT scope, nonce FROM nonces WHERE keep_until < ?1 ORDER BY keep_until LIMIT ?2"
                    .to_owned(),
                "SEARCH nonces USING COVERING INDEX nonces_by_expiry",
            ),
            (
                "SELECT scope, nonce FROM nonces WHERE account = ?1 AND keep_until < ?2 \
                 ORDER BY keep_until LIMIT ?3"
                    .to_owned(),
                "SEARCH nonces USING COVERING INDEX nonces_by_account",
            ),
            (
                format!("SELECT {HOLDER_COLUMNS} FROM holder_keys WHERE principal = ?1 ORDER BY key"),
                "SEARCH holder_keys USING PRIMARY KEY",
            ),
        ] {
            let found = plan(&conn, &sql);
            assert!(found.contains(want), "{sql}:\n{found}");
            assert!(!found.contains("SCAN lineage") && !found.contains("SCAN revoked"), "{found}");
        }
    }

    #[test]
    fn any_revoked_sql_binds_each_hash() {
        assert_eq!(
            any_revoked_sql(1),
            "SELECT 1 FROM revoked WHERE hash IN (?1) LIMIT 1"
        );
        assert_eq!(
            any_revoked_sql(3),
            "SELECT 1 FROM revoked WHERE hash IN (?1, ?2, ?3) LIMIT 1"
        );
    }
}
