//! How durable stores write model values into SQL columns, written once for every backend (SQLite, PostgreSQL): times, bounds and holder-key records.

use crate::capability::HolderKey;
use crate::error::StoreError;
use crate::holder_keys::HolderKeyRecord;
use crate::keyring::KeyState;

/// A time (Unix seconds, any `u64`) as a 64-bit SQL integer: `t` with its top
/// bit flipped, read as `i64`. The mapping preserves order, so a store's
/// comparisons (`keep_until < now`) hold for every `u64`, `u64::MAX`
/// ("never") included.
#[must_use]
pub fn time_to_column(t: u64) -> i64 {
    i64::from_be_bytes((t ^ (1 << 63)).to_be_bytes())
}

/// A column written by [`time_to_column`], read back as a time.
#[must_use]
pub fn time_from_column(v: i64) -> u64 {
    u64::from_be_bytes(v.to_be_bytes()) ^ (1 << 63)
}

/// A bound (a capacity, a quota) as a 64-bit SQL integer.
///
/// # Errors
/// [`StoreError::Backend`] beyond `i64::MAX`.
pub fn bound_to_column(n: usize) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("bound {n} beyond i64::MAX")))
}

/// A key state as its `state` and `state_at` columns.
#[must_use]
pub fn state_to_columns(state: KeyState) -> (&'static str, Option<i64>) {
    match state {
        KeyState::Active => ("active", None),
        KeyState::Retired { at } => ("retired", Some(time_to_column(at))),
        KeyState::Compromised { at } => ("compromised", Some(time_to_column(at))),
    }
}

/// A holder-key record read back from its columns (`key` in its text form,
/// the window, and the state as [`state_to_columns`] wrote it); `None` when
/// they do not make one, which a store reports as damage.
#[must_use]
pub fn holder_record_from_columns(
    key: &str,
    not_before: i64,
    not_after: i64,
    state: &str,
    at: Option<i64>,
) -> Option<HolderKeyRecord> {
    let key = HolderKey::parse(key).ok()?;
    let mut record = HolderKeyRecord::new(
        key,
        time_from_column(not_before),
        time_from_column(not_after),
    );
    record.state = match (state, at.map(time_from_column)) {
        ("active", None) => KeyState::Active,
        ("retired", Some(at)) => KeyState::Retired { at },
        ("compromised", Some(at)) => KeyState::Compromised { at },
        _ => return None,
    };
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_their_order_and_round_trip() {
        let times = [
            0,
            1,
            1_000,
            1 << 62,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        for (a, b) in times.iter().zip(times.iter().skip(1)) {
            assert!(time_to_column(*a) < time_to_column(*b), "{a} {b}");
        }
        for t in times {
            assert_eq!(time_from_column(time_to_column(t)), t);
        }
        assert_eq!(time_to_column(0), i64::MIN);
        assert_eq!(time_to_column(u64::MAX), i64::MAX);
        assert_eq!(bound_to_column(5), Ok(5));
        assert!(matches!(
            bound_to_column(usize::MAX),
            Err(StoreError::Backend(_))
        ));
    }

    #[test]
    fn holder_records_round_trip_through_their_columns() {
        let key = HolderKey::Ed25519([3; 32]);
        for state in [
            KeyState::Active,
            KeyState::Retired { at: 7 },
            KeyState::Compromised { at: u64::MAX },
        ] {
            let mut record = HolderKeyRecord::new(key.clone(), 1, u64::MAX);
            record.state = state;
            let (name, at) = state_to_columns(state);
            let back = holder_record_from_columns(
                &key.to_string(),
                time_to_column(1),
                time_to_column(u64::MAX),
                name,
                at,
            );
            assert_eq!(back, Some(record));
        }
        let t = time_to_column(1);
        assert_eq!(
            holder_record_from_columns("nope", t, t, "active", None),
            None
        );
        assert_eq!(
            holder_record_from_columns(&key.to_string(), t, t, "active", Some(t)),
            None
        );
        assert_eq!(
            holder_record_from_columns(&key.to_string(), t, t, "retired", None),
            None
        );
        assert_eq!(
            holder_record_from_columns(&key.to_string(), t, t, "lost", None),
            None
        );
    }
}
