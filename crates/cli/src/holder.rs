//! Holder key files: an agent's Ed25519 proof-of-possession key (secret, mode 0600), and reading its public half to bind a capability to it.
//!
//! ```json
//! { "captoken_holder_key": 1, "algorithm": "ed25519", "public": "ed25519:<hex>", "seed": "<hex>" }
//! ```
//!
//! `seed` is the 32-byte Ed25519 seed in hex; `public` is derived from it and
//! checked on reading. A file without `seed` is a public holder key file:
//! enough to bind a capability (`--bind-holder`), not to prove or delegate.

use std::path::Path;

use captoken::{HolderKey, HolderSigningKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{CliError, Result};
use crate::io::{hex, random32, read_text, unhex32};

/// The holder key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HolderFile {
    /// Always 1.
    pub(crate) captoken_holder_key: u32,
    /// Always `ed25519`.
    pub(crate) algorithm: String,
    /// The public key, `ed25519:<hex>`.
    pub(crate) public: String,
    /// The secret seed, hex; absent in a public holder key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<Zeroizing<String>>,
}

impl HolderFile {
    /// A new key from fresh randomness.
    pub(crate) fn generate() -> Result<(Self, HolderKey)> {
        let seed = Zeroizing::new(random32()?);
        let key = HolderSigningKey::from_seed(&seed);
        let public = key.public().clone();
        Ok((
            Self {
                captoken_holder_key: 1,
                algorithm: "ed25519".into(),
                public: public.to_string(),
                seed: Some(Zeroizing::new(hex(&*seed))),
            },
            public,
        ))
    }

    /// The public file of the same key.
    #[must_use]
    pub(crate) fn public_only(&self) -> Self {
        Self {
            captoken_holder_key: 1,
            algorithm: self.algorithm.clone(),
            public: self.public.clone(),
            seed: None,
        }
    }

    fn read(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(read_text("read holder key file", path)?);
        serde_json::from_str(&text).map_err(|e| CliError::Schema {
            what: "holder key file",
            path: path.to_owned(),
            detail: format!(
                "not a captoken holder key (JSON at line {} column {})",
                e.line(),
                e.column()
            ),
        })
    }

    /// As pretty JSON.
    pub(crate) fn to_json(&self) -> Result<Zeroizing<String>> {
        serde_json::to_string_pretty(self)
            .map(|s| Zeroizing::new(s + "\n"))
            .map_err(|_| CliError::Usage("holder key not serializable".into()))
    }
}

fn schema(path: &Path, detail: &str) -> CliError {
    CliError::Schema {
        what: "holder key file",
        path: path.to_owned(),
        detail: detail.to_owned(),
    }
}

/// The public key of a holder key file (secret or public).
pub(crate) fn read_public(path: &Path) -> Result<HolderKey> {
    let file = HolderFile::read(path)?;
    if file.captoken_holder_key != 1 || file.algorithm != "ed25519" {
        return Err(schema(path, "unsupported version or algorithm"));
    }
    HolderKey::parse(&file.public)
        .map_err(|_| schema(path, "`public` is not ed25519:<64 hex digits>"))
}

/// The signing key of a secret holder key file.
pub(crate) fn read_secret(path: &Path) -> Result<HolderSigningKey> {
    let file = HolderFile::read(path)?;
    if file.captoken_holder_key != 1 || file.algorithm != "ed25519" {
        return Err(schema(path, "unsupported version or algorithm"));
    }
    let seed = file
        .seed
        .as_deref()
        .ok_or_else(|| schema(path, "no `seed`: a public holder key cannot sign"))?;
    let seed =
        Zeroizing::new(unhex32(seed).ok_or_else(|| schema(path, "`seed` is not 32 bytes of hex"))?);
    let key = HolderSigningKey::from_seed(&seed);
    if key.public().to_string() != file.public {
        return Err(schema(path, "`public` is not the seed's public key"));
    }
    Ok(key)
}
