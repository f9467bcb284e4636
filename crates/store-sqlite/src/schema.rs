//! The database schema, its version stamp and the forward-only migrations.

use rusqlite::Transaction;

use crate::Failure;

/// `PRAGMA application_id` of a captoken store: "capt" in ASCII. A database
/// without it is not a captoken store, whatever its tables.
pub(crate) const APPLICATION_ID: i64 = 0x6361_7074;

/// The schema version this build reads and writes (`PRAGMA user_version`).
pub(crate) const VERSION: i64 = 1;

/// `MIGRATIONS[i]` takes a database from version `i` to version `i + 1`;
/// version 0 is the empty file. A new version is one more step here, applied
/// after the others by [`migrate`]; a step is never edited once released.
const MIGRATIONS: [&str; 1] = [V1];

// Every table is STRICT (column types enforced) and WITHOUT ROWID (the primary
// key is the b-tree key, so every lookup is one index search). Counters of live
// nonces and holder-key records are kept by triggers so that a reservation
// reads two rows instead of counting a table.
const V1: &str = "
PRAGMA application_id = 1667330164;

CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE revoked (
    hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32)
) STRICT, WITHOUT ROWID;

CREATE TABLE lineage (
    token_id      BLOB PRIMARY KEY NOT NULL CHECK (length(token_id) = 16),
    hash          BLOB NOT NULL CHECK (length(hash) = 32),
    parent_format TEXT,
    parent_id     BLOB CHECK (parent_id IS NULL OR length(parent_id) = 16),
    parent_hash   BLOB CHECK (parent_hash IS NULL OR length(parent_hash) = 32),
    seal          BLOB NOT NULL,
    CHECK ((parent_format IS NULL) = (parent_id IS NULL)
       AND (parent_id IS NULL) = (parent_hash IS NULL))
) STRICT, WITHOUT ROWID;

CREATE TABLE nonces (
    scope      TEXT NOT NULL,
    nonce      BLOB NOT NULL CHECK (length(nonce) = 16),
    keep_until INTEGER NOT NULL,
    account    BLOB NOT NULL CHECK (length(account) = 32),
    PRIMARY KEY (scope, nonce)
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_by_expiry ON nonces (keep_until);
CREATE INDEX nonces_by_account ON nonces (account, keep_until);

CREATE TABLE nonce_accounts (
    account BLOB PRIMARY KEY NOT NULL,
    live    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE holder_keys (
    principal  TEXT NOT NULL,
    key        TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active', 'retired', 'compromised')),
    state_at   INTEGER CHECK ((state = 'active') = (state_at IS NULL)),
    PRIMARY KEY (principal, key)
) STRICT, WITHOUT ROWID;

INSERT INTO meta (name, value) VALUES ('nonce_count', 0), ('holder_key_count', 0);

CREATE TRIGGER nonces_counted_in AFTER INSERT ON nonces BEGIN
    UPDATE meta SET value = value + 1 WHERE name = 'nonce_count';
    INSERT INTO nonce_accounts (account, live) VALUES (NEW.account, 1)
        ON CONFLICT (account) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER nonces_counted_out AFTER DELETE ON nonces BEGIN
    UPDATE meta SET value = value - 1 WHERE name = 'nonce_count';
    UPDATE nonce_accounts SET live = live - 1 WHERE account = OLD.account;
    DELETE FROM nonce_accounts WHERE account = OLD.account AND live <= 0;
END;
CREATE TRIGGER holder_keys_counted_in AFTER INSERT ON holder_keys BEGIN
    UPDATE meta SET value = value + 1 WHERE name = 'holder_key_count';
END;
CREATE TRIGGER holder_keys_counted_out AFTER DELETE ON holder_keys BEGIN
    UPDATE meta SET value = value - 1 WHERE name = 'holder_key_count';
END;
";

/// Applies every migration step after version `from`, then stamps
/// [`VERSION`], inside the caller's transaction (a failed step leaves the
/// database as it was).
pub(crate) fn migrate(tx: &Transaction<'_>, from: i64) -> Result<(), Failure> {
    let from = usize::try_from(from)
        .map_err(|_| Failure::backend(format!("invalid schema version {from}")))?;
    for step in MIGRATIONS.iter().skip(from) {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_one_step_and_the_id_is_stamped() {
        assert_eq!(MIGRATIONS.len(), usize::try_from(VERSION).unwrap());
        assert!(V1.contains(&format!("application_id = {APPLICATION_ID};")));
    }
}
