//! Reading tokens, keys and proofs from files or standard input, writing secret files with mode 0600, and parsing times.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{CliError, Result};

/// The most bytes read from any input: tokens, keys, proofs and documents are far smaller.
const MAX_INPUT: u64 = 4 << 20;

/// Reads `path` (or standard input for `-`) as UTF-8 text; `what` names it in errors.
pub(crate) fn read_text(what: &'static str, path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    // One byte beyond the bound tells a file that is too large from one that fits.
    let result = if path.as_os_str() == "-" {
        io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
    } else {
        fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    result.map_err(|e| CliError::io(what, path, &e))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(CliError::Schema {
            what: "file",
            path: path.to_owned(),
            detail: format!("larger than {} MiB", MAX_INPUT >> 20),
        });
    }
    String::from_utf8(bytes).map_err(|_| CliError::Schema {
        what: "file",
        path: path.to_owned(),
        detail: "not UTF-8 text".into(),
    })
}

/// Reads a token's text form from `path` (or `-`), trimmed of surrounding whitespace.
pub(crate) fn read_token(path: &Path) -> Result<String> {
    let text = read_text("read token file", path)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::Schema {
            what: "token file",
            path: path.to_owned(),
            detail: "empty".into(),
        });
    }
    Ok(token.to_owned())
}

/// Creates `path` with mode 0600 (refusing an existing file unless `force`)
/// and writes `contents`. An existing file is replaced through a new file
/// renamed over it, so that a secret is never written with wider permissions.
pub(crate) fn write_secret(path: &Path, contents: &str, force: bool) -> Result<()> {
    if force {
        return replace_secret(path, contents);
    }
    // `create_new` decides: a file that appears after any earlier look is still refused.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => CliError::Exists(path.to_owned()),
            _ => CliError::io("create key file", path, &e),
        })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io("write key file", path, &e))
}

/// Replaces `path` with `contents` in a new 0600 file renamed over it.
pub(crate) fn replace_secret(path: &Path, contents: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A leftover from an interrupted run: ours, and never more than 0600.
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| CliError::io("create key file", &tmp, &e))?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io("write key file", &tmp, &e))
        .and_then(|()| {
            fs::rename(&tmp, path).map_err(|e| CliError::io("replace key file", path, &e))
        });
    if written.is_err() {
        // Never leave a partial secret behind.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Writes `contents` (not secret: a token, a proof, a document) to `path`,
/// or to standard output when `path` is `None` or `-`. A newline is added.
pub(crate) fn write_output(path: Option<&Path>, contents: &str) -> Result<()> {
    match path {
        Some(p) if p.as_os_str() != "-" => fs::write(p, format!("{contents}\n"))
            .map_err(|e| CliError::io("write output file", p, &e)),
        _ => out(contents),
    }
}

/// `line` with every control character (newlines, carriage returns, escape
/// sequences) escaped: text from a token (names, paths, values) can then
/// neither forge a line of output nor drive the terminal.
pub(crate) fn printable(line: &str) -> String {
    line.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Prints one line (or block) to standard output, its control characters
/// other than newlines escaped ([`printable`], line by line).
pub(crate) fn out(text: &str) -> Result<()> {
    let text: Vec<String> = text.split('\n').map(printable).collect();
    let text = text.join("\n");
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("write", "-", &e))
}

/// Parses a time: Unix seconds (`1767225600`) or RFC 3339 (`2026-01-01T00:00:00Z`).
pub(crate) fn parse_time(text: &str) -> std::result::Result<u64, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| format!("{text:?} is neither Unix seconds nor an RFC 3339 time"))?;
    u64::try_from(t.unix_timestamp()).map_err(|_| format!("{text:?} is before 1970"))
}

/// A Unix time as RFC 3339 (UTC), or the number when out of range.
#[must_use]
pub(crate) fn format_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Lower-case hex.
#[must_use]
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// 32 bytes from lower-case or upper-case hex.
pub(crate) fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// 32 random bytes from the operating system.
pub(crate) fn random32() -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    getrandom::fill(&mut out).map_err(|e| CliError::Usage(format!("no randomness: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_unix_seconds_or_rfc3339() {
        assert_eq!(parse_time("1767225600"), Ok(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T01:00:00+01:00"), Ok(1_767_225_600));
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
        assert!(parse_time("tomorrow").is_err());
        assert!(parse_time("-5").is_err());
        assert_eq!(format_time(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(format_time(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn hex_round_trips_and_refuses_non_digits() {
        let bytes: [u8; 32] = core::array::from_fn(|i| u8::try_from(i * 7).unwrap_or(0));
        assert_eq!(unhex32(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex32(&hex(&bytes).to_uppercase()), Some(bytes));
        assert_eq!(unhex32(&"+f".repeat(32)), None);
        assert_eq!(unhex32("00"), None);
        assert_eq!(unhex32(&"g0".repeat(32)), None);
    }

    #[test]
    fn secret_files_are_0600_and_never_overwritten_silently() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        write_secret(&path, "one", false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert!(matches!(
            write_secret(&path, "two", false),
            Err(CliError::Exists(_))
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), "one");
        write_secret(&path, "three", true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "three");
        assert_eq!(mode(&path), 0o600);
        assert!(!dir.path().join("k.json.tmp").exists());
    }
}
