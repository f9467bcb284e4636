//! Segment-aware file-system paths: the values and directories of [`crate::Constraint::Path`].
//!
//! A **safe path** is an absolute path (`/` first) whose segments are all
//! non-empty and not made of dots and spaces only (`.`, `..`, `...`, `. .`:
//! dot segments, and what a Windows file system trims into one), and which
//! contains no backslash, no `%` at all (so that no percent-decoding layer of a
//! tool, once or twice, can turn it into a dot segment or a separator:
//! `%2e%2e`, `..%2f`, `%252e`, `%c0%ae`), and no ASCII control character (NUL
//! included). A **directory** is `/`, or a safe path, optionally followed by
//! one `/`. A path is **under** a directory when it is safe and its segments
//! strictly extend the directory's. A tool whose file names need `%` or
//! control characters should not accept them through a `Path` argument.

/// Is `v` a safe path?
#[must_use]
pub fn is_safe(v: &str) -> bool {
    let bytes = v.as_bytes();
    bytes.first() == Some(&b'/')
        && !bytes
            .iter()
            .any(|&b| b == b'\\' || b == b'%' || b.is_ascii_control())
        && v.get(1..).is_some_and(|rest| {
            rest.split('/')
                .all(|s| !s.is_empty() && !s.bytes().all(|b| b == b'.' || b == b' '))
        })
}

/// Is `d` a directory (`/`, or a safe path with an optional trailing `/`)?
#[must_use]
pub fn is_directory(d: &str) -> bool {
    d == "/" || is_safe(d.strip_suffix('/').unwrap_or(d))
}

/// The directory without its trailing `/` (`""` for the root).
#[must_use]
pub fn base(d: &str) -> &str {
    d.strip_suffix('/').unwrap_or(d)
}

/// Is `v` a safe path strictly under directory `d`? False when `d` is not a directory.
#[must_use]
pub fn is_under(v: &str, d: &str) -> bool {
    if !is_directory(d) || !is_safe(v) {
        return false;
    }
    let base = base(d);
    v.strip_prefix(base)
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
}
