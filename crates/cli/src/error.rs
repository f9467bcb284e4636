//! The command's errors: one enum, one line each on standard error, and the exit code each maps to.

use std::path::PathBuf;

/// Everything that stops a command. Displayed as one line after `error: `;
/// no variant carries secret material (key files are never echoed back).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A file (or standard input) could not be read or written.
    #[error("cannot {action} {path}: {reason}")]
    Io {
        /// What was attempted: `read key file`, `write token file`, …
        action: &'static str,
        /// The file (`-` for standard input or output).
        path: PathBuf,
        /// The operating system's reason, without the error kind's debug noise.
        reason: String,
    },
    /// A file exists and `--force` was not given.
    #[error("{0} exists; pass --force to overwrite it")]
    Exists(PathBuf),
    /// A file's content does not match its schema.
    #[error("{what} {path}: {detail}")]
    Schema {
        /// What the file should have been: `key file`, `capability file`, …
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong (never a quotation of secret material).
        detail: String,
    },
    /// A command-line value is not acceptable.
    #[error("{0}")]
    Usage(String),
    /// The library refused an operation (issue, attenuate, parse, …).
    #[error("{action}: {source}")]
    Token {
        /// What was attempted.
        action: &'static str,
        /// The library's error.
        source: captoken::Error,
    },
    /// A keyring operation was refused.
    #[error("{action}: {source}")]
    Key {
        /// What was attempted.
        action: &'static str,
        /// The keyring's error.
        source: captoken::KeyError,
    },
    /// A key-set document was refused.
    #[error("key-set document {path}: {source}")]
    KeySet {
        /// The document's file.
        path: PathBuf,
        /// Why.
        source: captoken::core::KeySetError,
    },
    /// The store could not be created, opened or written.
    #[error("store {path}: {source}")]
    Store {
        /// The SQLite file.
        path: PathBuf,
        /// Why.
        source: captoken::core::StoreError,
    },
    /// A holder key-set operation was refused.
    #[error("holder key set: {0}")]
    HolderKeys(#[from] captoken::core::HolderKeyError),
    /// An attenuation step asks for more than its parent has: refused (exit 1).
    #[error("refused: the step widens the token: {0}")]
    Widening(captoken::core::AttenuationError),
}

impl CliError {
    /// The process exit code: 1 for a refusal by the capability rules (a
    /// widening step, a hand-over not signed by the current holder), 2 for
    /// everything else (usage, I/O, malformed input, a wrong key).
    #[must_use]
    pub(crate) fn exit_code(&self) -> u8 {
        use captoken::core::ModelError;
        match self {
            Self::Widening(_) => 1,
            // The library's rules refused the step: a widening, or a hand-over
            // not signed by the current holder's key.
            Self::Token {
                source:
                    captoken::Error::Attenuation(_)
                    | captoken::Error::Model(
                        ModelError::DelegationUnsigned
                        | ModelError::DelegationSignature
                        | ModelError::DelegationRequestRefused(_),
                    ),
                ..
            } => 1,
            _ => 2,
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, e: &std::io::Error) -> Self {
        let reason = match e.raw_os_error() {
            // "No such file or directory (os error 2)" → without the code.
            Some(_) => {
                let text = e.to_string();
                match text.find(" (os error") {
                    Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
                    None => text,
                }
            }
            None => e.to_string(),
        };
        Self::Io {
            action,
            path: path.into(),
            reason,
        }
    }

    /// A library error while doing `action`.
    pub(crate) fn token(action: &'static str) -> impl FnOnce(captoken::Error) -> Self {
        move |source| Self::Token { action, source }
    }

    /// A keyring error while doing `action`.
    pub(crate) fn key(action: &'static str) -> impl FnOnce(captoken::KeyError) -> Self {
        move |source| Self::Key { action, source }
    }
}

/// The result of a command.
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;
