//! The database schema, its version stamp and the forward-only migrations.

use postgres::Transaction;

use crate::Failure;

/// The schema version this build reads and writes (the row of `captoken_schema`).
pub(crate) const VERSION: i32 = 2;

/// The key of the transaction-scoped advisory lock taken while the schema is
/// created or migrated, so that replicas connecting at once do it once.
/// "captoken" in ASCII.
pub(crate) const SCHEMA_LOCK: i64 = 0x6361_7074_6f6b_656e;

/// `MIGRATIONS[i]` takes a database from version `i` to version `i + 1`;
/// version 0 is a database without captoken's tables. A new version is one
/// more step here; a step is never edited once released.
const MIGRATIONS: [&str; 2] = [V1, V2];

// The tables of the SQLite store, under a `captoken_` prefix so that they can
// share a database with others. Times are BIGINT with the top bit flipped
// (`captoken_core_types::columns::time_to_column`). Every table is logged (no UNLOGGED): a committed
// write survives a server crash. The counters of live nonces and holder-key
// records are kept by triggers in the transaction that changes the rows, so a
// reservation reads two rows instead of counting a table; the `nonce_count`
// row is also the lock that serialises reservations across replicas.
const V1: &str = "
CREATE TABLE captoken_schema (
    version INTEGER NOT NULL
);

CREATE TABLE captoken_meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE captoken_revoked (
    hash BYTEA PRIMARY KEY CHECK (length(hash) = 32)
);

CREATE TABLE captoken_lineage (
    token_id      BYTEA PRIMARY KEY CHECK (length(token_id) = 16),
    hash          BYTEA NOT NULL CHECK (length(hash) = 32),
    parent_format TEXT,
    parent_id     BYTEA CHECK (parent_id IS NULL OR length(parent_id) = 16),
    parent_hash   BYTEA CHECK (parent_hash IS NULL OR length(parent_hash) = 32),
    seal          BYTEA NOT NULL,
    CHECK ((parent_format IS NULL) = (parent_id IS NULL)
       AND (parent_id IS NULL) = (parent_hash IS NULL))
);

CREATE TABLE captoken_nonces (
    scope      TEXT NOT NULL,
    nonce      BYTEA NOT NULL CHECK (length(nonce) = 16),
    keep_until BIGINT NOT NULL,
    account    BYTEA NOT NULL CHECK (length(account) = 32),
    PRIMARY KEY (scope, nonce)
);
CREATE INDEX captoken_nonces_by_expiry ON captoken_nonces (keep_until);
CREATE INDEX captoken_nonces_by_account ON captoken_nonces (account, keep_until);

CREATE TABLE captoken_nonce_accounts (
    account BYTEA PRIMARY KEY,
    live    BIGINT NOT NULL
);

CREATE TABLE captoken_holder_keys (
    principal  TEXT NOT NULL,
    key        TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active', 'retired', 'compromised')),
    state_at   BIGINT CHECK ((state = 'active') = (state_at IS NULL)),
    PRIMARY KEY (principal, key)
);

INSERT INTO captoken_meta (name, value) VALUES ('nonce_count', 0), ('holder_key_count', 0);

CREATE FUNCTION captoken_count_nonces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE captoken_meta SET value = value + 1 WHERE name = 'nonce_count';
        INSERT INTO captoken_nonce_accounts (account, live) VALUES (NEW.account, 1)
            ON CONFLICT (account) DO UPDATE SET live = captoken_nonce_accounts.live + 1;
    ELSE
        UPDATE captoken_meta SET value = value - 1 WHERE name = 'nonce_count';
        UPDATE captoken_nonce_accounts SET live = live - 1 WHERE account = OLD.account;
        DELETE FROM captoken_nonce_accounts WHERE account = OLD.account AND live <= 0;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER captoken_nonces_counted AFTER INSERT OR DELETE ON captoken_nonces
    FOR EACH ROW EXECUTE FUNCTION captoken_count_nonces();

CREATE FUNCTION captoken_count_holder_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE captoken_meta SET value = value + 1 WHERE name = 'holder_key_count';
    ELSE
        UPDATE captoken_meta SET value = value - 1 WHERE name = 'holder_key_count';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER captoken_holder_keys_counted AFTER INSERT OR DELETE ON captoken_holder_keys
    FOR EACH ROW EXECUTE FUNCTION captoken_count_holder_keys();
";

/// The channel on which the database announces every new revocation
/// (`crate::snapshot::RevocationSnapshot` listens on it).
pub(crate) const REVOKED_CHANNEL: &str = "captoken_revoked";

// Version 2: every revocation committed, by any replica or any tool, is
// announced on the `captoken_revoked` channel, so that local snapshots of the
// revocation list follow it. The payload is the table's schema, a colon and
// the hash in lower-case hex: the channel is database-wide, and a database may
// hold several stores in different schemas, so a listener keeps only the
// payloads of its own schema. `pg_notify` is delivered at commit, and not at
// all for a rolled-back insert (nor for an `ON CONFLICT DO NOTHING` that
// inserted nothing).
const V2: &str = "
CREATE FUNCTION captoken_notify_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('captoken_revoked', TG_TABLE_SCHEMA || ':' || encode(NEW.hash, 'hex'));
    RETURN NULL;
END $$;
CREATE TRIGGER captoken_revoked_notified AFTER INSERT ON captoken_revoked
    FOR EACH ROW EXECUTE FUNCTION captoken_notify_revoked();
";

/// Applies every migration step after version `from`, then stamps
/// [`VERSION`], inside the caller's transaction (a failed step leaves the
/// database as it was).
pub(crate) fn migrate(tx: &mut Transaction<'_>, from: i32) -> Result<(), Failure> {
    let from = usize::try_from(from)
        .map_err(|_| Failure::backend(format!("invalid schema version {from}")))?;
    for step in MIGRATIONS.iter().skip(from) {
        tx.batch_execute(step)?;
    }
    if from == 0 {
        tx.execute(
            "INSERT INTO captoken_schema (version) VALUES ($1)",
            &[&VERSION],
        )?;
    } else {
        tx.execute("UPDATE captoken_schema SET version = $1", &[&VERSION])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_one_step_and_no_table_is_unlogged() {
        assert_eq!(MIGRATIONS.len(), usize::try_from(VERSION).unwrap());
        for step in MIGRATIONS {
            assert!(!step.to_ascii_uppercase().contains("UNLOGGED"));
        }
    }
}
