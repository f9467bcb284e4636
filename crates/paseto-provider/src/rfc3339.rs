//! RFC 3339 timestamps for the `iat`, `nbf` and `exp` claims: deterministic UTC formatting and strict parsing to Unix seconds.
//!
//! captoken writes every time as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), so
//! that the same capability always encodes to the same bytes. It reads the full
//! RFC 3339 `date-time` grammar that other PASETO implementations write: `T`/`t`
//! and `Z`/`z` in either case, a numeric offset `±HH:MM`, and up to nine digits
//! of fractional seconds. A fractional time is rounded **up** to the next whole
//! second, which is exact for the half-open checks made against a request's
//! whole-second `now`: `now >= nbf` and `now < exp` hold for `t.f` exactly when
//! they hold for `t + 1` (and `iat` is rounded the same way). Leap seconds (`:60`), years outside
//! 1970..=9999 after applying the offset, and anything else are refused.

/// The last second representable in RFC 3339: `9999-12-31T23:59:59Z`.
pub(crate) const MAX_UNIX: u64 = 253_402_300_799;

/// The longest accepted input: a date-time with nine fractional digits and an offset.
const MAX_LEN: usize = "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+HH:MM".len();

const SECS_PER_DAY: u64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`), for non-negative days.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `secs` as `YYYY-MM-DDTHH:MM:SSZ`, or `None` after [`MAX_UNIX`].
pub(crate) fn format(secs: u64) -> Option<String> {
    if secs > MAX_UNIX {
        return None;
    }
    let (year, month, day) = civil_from_days(secs / SECS_PER_DAY);
    let rem = secs % SECS_PER_DAY;
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// A cursor over the ASCII bytes of a timestamp.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, want: impl Fn(u8) -> bool) -> Option<u8> {
        self.byte().filter(|b| want(*b))
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| {
            let d = self.expect(|b| b.is_ascii_digit())?;
            Some(acc * 10 + u32::from(d - b'0'))
        })
    }
}

/// Parses an RFC 3339 `date-time` to Unix seconds, rounding fractional seconds
/// up. `None` for anything else (see the module documentation).
pub(crate) fn parse(text: &str) -> Option<u64> {
    if text.len() > MAX_LEN {
        return None;
    }
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let year = i64::from(c.digits(4)?);
    c.expect(|b| b == b'-')?;
    let month = c.digits(2)?;
    c.expect(|b| b == b'-')?;
    let day = c.digits(2)?;
    c.expect(|b| b == b'T' || b == b't')?;
    let hour = c.digits(2)?;
    c.expect(|b| b == b':')?;
    let minute = c.digits(2)?;
    c.expect(|b| b == b':')?;
    let second = c.digits(2)?;
    let mut round_up = false;
    if c.peek() == Some(b'.') {
        c.byte()?;
        let mut count = 0usize;
        while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
            round_up |= d != b'0';
            count += 1;
            c.byte()?;
        }
        if !(1..=9).contains(&count) {
            return None;
        }
    }
    let offset_secs: i64 = match c.byte()? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let oh = c.digits(2)?;
            c.expect(|b| b == b':')?;
            let om = c.digits(2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    if c.peek().is_some() {
        return None;
    }
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    if !valid {
        return None;
    }
    let local =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let utc = local - offset_secs + i64::from(round_up);
    u64::try_from(utc).ok().filter(|s| *s <= MAX_UNIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_767_225_600, "2026-01-01T00:00:00Z"),
            (1_767_229_200, "2026-01-01T01:00:00Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
            (MAX_UNIX, "9999-12-31T23:59:59Z"),
        ];
        for (secs, text) in cases {
            assert_eq!(format(secs).as_deref(), Some(text));
            assert_eq!(parse(text), Some(secs), "{text}");
        }
        assert_eq!(format(MAX_UNIX + 1), None);
    }

    #[test]
    fn offsets_case_and_fractions() {
        let t = 1_767_225_600;
        assert_eq!(parse("2026-01-01T02:30:00+02:30"), Some(t));
        assert_eq!(parse("2025-12-31T23:00:00-01:00"), Some(t));
        assert_eq!(parse("2026-01-01t00:00:00z"), Some(t));
        assert_eq!(parse("2026-01-01T00:00:00+00:00"), Some(t));
        assert_eq!(parse("2026-01-01T00:00:00.000Z"), Some(t));
        assert_eq!(parse("2026-01-01T00:00:00.000000001Z"), Some(t + 1));
        assert_eq!(parse("2025-12-31T23:59:59.5Z"), Some(t));
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        for bad in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00Z",
            "2026-1-01T00:00:00Z",
            "2026-01-01T00:00:00ZZ",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00+01:60",
            "2026-01-01T00:00:00+0100",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "+2026-01-01T00:00:00Z",
            "２026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        /// Formatting agrees with the `time` crate, and parsing inverts it.
        #[test]
        fn format_matches_time_crate(secs in 0..=MAX_UNIX) {
            let ours = format(secs).unwrap();
            let theirs = OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap())
                .unwrap()
                .format(&Rfc3339)
                .unwrap();
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(parse(&ours), Some(secs));
        }

        /// Parsing agrees with the `time` crate on dates with offsets and fractions,
        /// up to the documented rounding of fractions.
        #[test]
        fn parse_matches_time_crate(
            secs in 86_400u64..MAX_UNIX - 86_400,
            offset_min in -(23 * 60 + 59)..=(23i32 * 60 + 59),
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            digits in 1usize..=9,
        ) {
            let odt = OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap())
                .unwrap()
                .to_offset(time::UtcOffset::from_whole_seconds(offset_min * 60).unwrap());
            let frac = format!("{nanos:09}");
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{}{}{:02}:{:02}",
                odt.year(), u8::from(odt.month()), odt.day(),
                odt.hour(), odt.minute(), odt.second(),
                &frac[..digits],
                if offset_min < 0 { '-' } else { '+' },
                offset_min.unsigned_abs() / 60, offset_min.unsigned_abs() % 60,
            );
            let theirs = OffsetDateTime::parse(&text, &Rfc3339).unwrap();
            let whole = u64::try_from(theirs.unix_timestamp()).unwrap();
            let want = whole + u64::from(theirs.nanosecond() > 0);
            prop_assert_eq!(parse(&text), Some(want), "{}", text);
        }

        /// Arbitrary strings never panic, and whatever parses is in range.
        #[test]
        fn arbitrary_text_is_safe(text in "[0-9T:Zz.+\\-]{0,40}") {
            if let Some(secs) = parse(&text) {
                prop_assert!(secs <= MAX_UNIX);
            }
        }
    }
}
