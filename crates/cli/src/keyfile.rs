//! Issuer keyring files: the documented JSON schema, key generation, the keyring each format's provider is built from, and writing the keyring back after a lifecycle move.
//!
//! A keyring file (written with mode 0600) looks like this:
//!
//! ```json
//! {
//!   "captoken_keyring": 1,
//!   "format": "paseto-public",
//!   "signing": "k2",
//!   "keys": [
//!     { "id": "k1", "state": "retired", "at": 1767225600, "secret": "k4.secret.…" },
//!     { "id": "k2", "state": "active", "secret": "k4.secret.…" },
//!     { "id": "v9", "state": "active", "public": "k4.public.…" }
//!   ]
//! }
//! ```
//!
//! `format` is one of `hmac`, `macaroon`, `biscuit`, `paseto-public`,
//! `paseto-local`. `state` is `active`, `retired` or `compromised`; `at`
//! (Unix seconds) is required for the last two and absent otherwise.
//! `secret` is the key's secret material: 32 bytes in lower-case hex for
//! `hmac` and `macaroon` (the shared secret) and `biscuit` (the Ed25519
//! seed); a PASERK `k4.secret.…` for `paseto-public` and `k4.local.…` for
//! `paseto-local`. A key without `secret` carries `public` (Biscuit
//! `ed25519/<hex>`, PASETO `k4.public.…`) and only verifies: such keys come
//! from `captoken keys import`. `signing` names the one key that signs.
//!
//! Where a `--key` is expected, a public key-set document (`captoken keys
//! export`, `keygen --public-out`) is accepted too, for verifying only.

use std::fmt;
use std::path::Path;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken::biscuit::{BiscuitKeyring, BiscuitProvider, RootKey, RootSigningKey};
use captoken::core::{KeySetDocument, PublicKeyText};
use captoken::hmac::{HmacKey, HmacKeyring, HmacProvider};
use captoken::macaroon::{MacaroonKey, MacaroonKeyring, MacaroonProvider};
use captoken::paseto::{
    LocalKey, LocalKeyring, PasetoLocalProvider, PasetoPublicProvider, PublicEntry, PublicKeyring,
    SigningKey,
};
use captoken::{Format, GatewayBuilder, KeyError, KeyId, KeyState};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{CliError, Result};
use crate::io::{hex, random32, read_text, unhex32};

/// The version of the keyring file schema.
pub(crate) const KEYRING_VERSION: u32 = 1;

/// A token format, as the command line and keyring files name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CliFormat {
    /// Shared-secret HMAC-SHA256 tokens (`hmac-v2`).
    Hmac,
    /// Macaroons, libmacaroons v2 (`macaroon-v2.ct2`).
    Macaroon,
    /// Biscuit v3 with an Ed25519 root key (`biscuit-v3.cap2`).
    Biscuit,
    /// PASETO v4.public, Ed25519 (`paseto-v4-public.cap2`).
    PasetoPublic,
    /// PASETO v4.local, a shared 32-byte key (`paseto-v4-local.cap2`).
    PasetoLocal,
}

impl CliFormat {
    /// Every format, in the order the gateway reads them.
    pub(crate) const ALL: [Self; 5] = [
        Self::Hmac,
        Self::Macaroon,
        Self::Biscuit,
        Self::PasetoPublic,
        Self::PasetoLocal,
    ];

    /// The library's format tag.
    #[must_use]
    pub(crate) fn format(self) -> Format {
        match self {
            Self::Hmac => captoken::hmac::FORMAT,
            Self::Macaroon => captoken::macaroon::FORMAT,
            Self::Biscuit => captoken::biscuit::FORMAT,
            Self::PasetoPublic => captoken::paseto::FORMAT_PUBLIC,
            Self::PasetoLocal => captoken::paseto::FORMAT_LOCAL,
        }
    }

    /// The command line's name.
    #[must_use]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Hmac => "hmac",
            Self::Macaroon => "macaroon",
            Self::Biscuit => "biscuit",
            Self::PasetoPublic => "paseto-public",
            Self::PasetoLocal => "paseto-local",
        }
    }

    /// The format of a library tag.
    #[must_use]
    pub(crate) fn of(format: Format) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.format() == format)
    }

    /// Whether its keys have a public half to export.
    #[must_use]
    pub(crate) fn has_public_keys(self) -> bool {
        matches!(self, Self::Biscuit | Self::PasetoPublic)
    }
}

impl fmt::Display for CliFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key's lifecycle state in a keyring file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StateName {
    /// Signs (if it is the signing key) and verifies.
    Active,
    /// Verifies only what was issued before `at`.
    Retired,
    /// Verifies nothing.
    Compromised,
}

/// The keyring file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyFile {
    /// Always [`KEYRING_VERSION`].
    pub(crate) captoken_keyring: u32,
    /// The format of every key.
    pub(crate) format: CliFormat,
    /// The key that signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) signing: Option<String>,
    /// The keys, in the order they were added.
    pub(crate) keys: Vec<KeyEntry>,
}

/// One key of a keyring file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyEntry {
    /// The key id tokens name.
    pub(crate) id: String,
    /// Its state.
    pub(crate) state: StateName,
    /// When it retired or was compromised (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) at: Option<u64>,
    /// The secret material (see the module documentation). Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<Zeroizing<String>>,
    /// The public half of a verify-only key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) public: Option<String>,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("at", &self.at)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public", &self.public)
            .finish()
    }
}

impl KeyEntry {
    /// The library state.
    fn key_state(&self) -> std::result::Result<KeyState, String> {
        match (self.state, self.at) {
            (StateName::Active, None) => Ok(KeyState::Active),
            (StateName::Retired, Some(at)) => Ok(KeyState::Retired { at }),
            (StateName::Compromised, Some(at)) => Ok(KeyState::Compromised { at }),
            (StateName::Active, Some(_)) => Err(format!("key {} is active but has `at`", self.id)),
            (_, None) => Err(format!(
                "key {} is {:?} but has no `at`",
                self.id, self.state
            )),
        }
    }

    /// Sets the state from the library's.
    fn set_state(&mut self, state: KeyState) {
        (self.state, self.at) = match state {
            KeyState::Retired { at } => (StateName::Retired, Some(at)),
            KeyState::Compromised { at } => (StateName::Compromised, Some(at)),
            _ => (StateName::Active, None),
        };
    }
}

/// A keyring of one format, as its provider takes it.
pub(crate) enum Ring {
    /// HMAC.
    Hmac(HmacKeyring),
    /// Macaroons.
    Macaroon(MacaroonKeyring),
    /// Biscuit.
    Biscuit(BiscuitKeyring),
    /// PASETO v4.public.
    PasetoPublic(PublicKeyring),
    /// PASETO v4.local.
    PasetoLocal(LocalKeyring),
}

/// Runs `$body` with `$r` bound to the keyring inside `$ring`, whatever its format.
macro_rules! each_ring {
    ($ring:expr, $r:ident => $body:expr) => {
        match $ring {
            Ring::Hmac($r) => $body,
            Ring::Macaroon($r) => $body,
            Ring::Biscuit($r) => $body,
            Ring::PasetoPublic($r) => $body,
            Ring::PasetoLocal($r) => $body,
        }
    };
}

impl Ring {
    /// An empty keyring of `format` (to read tokens of a format no key was given for).
    #[must_use]
    pub(crate) fn empty(format: CliFormat) -> Self {
        match format {
            CliFormat::Hmac => Self::Hmac(HmacKeyring::new()),
            CliFormat::Macaroon => Self::Macaroon(MacaroonKeyring::new()),
            CliFormat::Biscuit => Self::Biscuit(BiscuitKeyring::new()),
            CliFormat::PasetoPublic => Self::PasetoPublic(PublicKeyring::new()),
            CliFormat::PasetoLocal => Self::PasetoLocal(LocalKeyring::new()),
        }
    }

    /// The format.
    #[must_use]
    pub(crate) fn format(&self) -> CliFormat {
        match self {
            Self::Hmac(_) => CliFormat::Hmac,
            Self::Macaroon(_) => CliFormat::Macaroon,
            Self::Biscuit(_) => CliFormat::Biscuit,
            Self::PasetoPublic(_) => CliFormat::PasetoPublic,
            Self::PasetoLocal(_) => CliFormat::PasetoLocal,
        }
    }

    /// Adds this keyring's provider to a gateway under construction.
    pub(crate) fn read_into(self, builder: GatewayBuilder) -> GatewayBuilder {
        match self {
            Self::Hmac(r) => builder.read(HmacProvider::new(r)),
            Self::Macaroon(r) => builder.read(MacaroonProvider::new(r)),
            Self::Biscuit(r) => builder.read(BiscuitProvider::new(r)),
            Self::PasetoPublic(r) => builder.read(PasetoPublicProvider::new(r)),
            Self::PasetoLocal(r) => builder.read(PasetoLocalProvider::new(r)),
        }
    }

    /// The signing key's id.
    #[must_use]
    pub(crate) fn signing_id(&self) -> Option<KeyId> {
        each_ring!(self, r => r.signing_id().cloned())
    }

    /// The state of key `id`.
    #[must_use]
    pub(crate) fn state(&self, id: &KeyId) -> Option<KeyState> {
        each_ring!(self, r => r.state(id))
    }

    /// The public key-set document (never a secret).
    #[must_use]
    pub(crate) fn document(&self) -> KeySetDocument {
        let format = self.format().format();
        each_ring!(self, r => r.to_document(format))
    }

    /// Moves key `id` to `state` (forward only).
    pub(crate) fn set_state(&mut self, id: &KeyId, state: KeyState) -> Result<(), KeyError> {
        each_ring!(self, r => r.set_state(id, state))
    }

    /// Makes key `id` the signing key.
    pub(crate) fn switch_signing(&mut self, id: &KeyId) -> Result<(), KeyError> {
        each_ring!(self, r => r.switch_signing(id))
    }

    /// Applies a key-set document; returns the ids not applied (shared secrets not held).
    pub(crate) fn apply(
        &mut self,
        doc: &KeySetDocument,
    ) -> Result<Vec<KeyId>, captoken::core::KeySetError> {
        let format = self.format().format();
        each_ring!(self, r => r.apply_document(doc, format))
    }

    /// Adds one key of a keyring file.
    fn insert(&mut self, entry: &KeyEntry) -> std::result::Result<(), String> {
        let id =
            KeyId::new(entry.id.as_str()).map_err(|e| format!("key id {:?}: {e}", entry.id))?;
        let state = entry.key_state()?;
        let bad = |e: KeyError| format!("key {}: {e}", entry.id);
        let secret = entry.secret.as_deref().map(String::as_str);
        let public = entry.public.as_deref();
        let result = match (self, secret, public) {
            (_, Some(_), Some(_)) => {
                return Err(format!("key {} has both `secret` and `public`", entry.id));
            }
            (_, None, None) => {
                return Err(format!(
                    "key {} has neither `secret` nor `public`",
                    entry.id
                ));
            }
            (Self::Hmac(r), Some(s), None) => {
                let bytes = Zeroizing::new(unhex32(s).ok_or_else(|| not_hex(&entry.id))?);
                r.insert_with_state(HmacKey::new(id, &*bytes).map_err(bad)?, state)
            }
            (Self::Macaroon(r), Some(s), None) => {
                let bytes = Zeroizing::new(unhex32(s).ok_or_else(|| not_hex(&entry.id))?);
                r.insert_with_state(MacaroonKey::new(id, &*bytes).map_err(bad)?, state)
            }
            (Self::Biscuit(r), Some(s), None) => {
                let seed = Zeroizing::new(unhex32(s).ok_or_else(|| not_hex(&entry.id))?);
                r.insert_with_state(RootSigningKey::ed25519_from_seed(id, &seed), state)
            }
            (Self::Biscuit(r), None, Some(p)) => {
                r.insert_with_state(RootKey::from_public_text(&id, p).map_err(bad)?, state)
            }
            (Self::PasetoPublic(r), Some(s), None) => {
                r.insert_with_state(SigningKey::from_paserk(id, s).map_err(bad)?, state)
            }
            (Self::PasetoPublic(r), None, Some(p)) => {
                r.insert_with_state(PublicEntry::from_public_text(&id, p).map_err(bad)?, state)
            }
            (Self::PasetoLocal(r), Some(s), None) => {
                let bytes =
                    Zeroizing::new(local_paserk(s).ok_or_else(|| {
                        format!("key {}: secret is not a k4.local PASERK", entry.id)
                    })?);
                r.insert_with_state(LocalKey::from_bytes(id, &bytes).map_err(bad)?, state)
            }
            (ring, None, Some(_)) => {
                return Err(format!(
                    "key {}: format {} has no public keys",
                    entry.id,
                    ring.format()
                ));
            }
        };
        result.map_err(bad)
    }
}

fn not_hex(id: &str) -> String {
    format!("key {id}: secret is not 32 bytes of hex")
}

/// The 32 bytes of a `k4.local.<base64url>` PASERK.
fn local_paserk(text: &str) -> Option<[u8; 32]> {
    let body = text.strip_prefix("k4.local.")?;
    let bytes = Zeroizing::new(Base64UrlUnpadded::decode_vec(body).ok()?);
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// A new key entry of `format` with id `id`, from fresh randomness.
pub(crate) fn generate(format: CliFormat, id: &str) -> Result<KeyEntry> {
    let kid = KeyId::new(id).map_err(|e| CliError::Usage(format!("key id {id:?}: {e}")))?;
    let bytes = Zeroizing::new(random32()?);
    let secret = match format {
        CliFormat::Hmac | CliFormat::Macaroon | CliFormat::Biscuit => hex(&*bytes),
        CliFormat::PasetoPublic => {
            let key = SigningKey::from_seed(kid, &bytes).map_err(CliError::key("generate key"))?;
            let mut pair = Zeroizing::new(bytes.to_vec());
            pair.extend_from_slice(&key.verifying_key().to_bytes());
            format!("k4.secret.{}", Base64UrlUnpadded::encode_string(&pair))
        }
        CliFormat::PasetoLocal => format!("k4.local.{}", Base64UrlUnpadded::encode_string(&*bytes)),
    };
    Ok(KeyEntry {
        id: id.to_owned(),
        state: StateName::Active,
        at: None,
        secret: Some(Zeroizing::new(secret)),
        public: None,
    })
}

impl KeyFile {
    /// A keyring file of one new signing key.
    pub(crate) fn new(format: CliFormat, first: KeyEntry) -> Self {
        Self {
            captoken_keyring: KEYRING_VERSION,
            format,
            signing: Some(first.id.clone()),
            keys: vec![first],
        }
    }

    /// Reads a keyring file.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(read_text("read key file", path)?);
        Self::parse(path, &text).map(|(file, _)| file)
    }

    /// Parses the text of the keyring file at `path`, with its checked keyring.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<(Self, Ring)> {
        let schema = |detail: String| CliError::Schema {
            what: "key file",
            path: path.to_owned(),
            detail,
        };
        // serde_json's messages can quote values: only its position is reported.
        let file: Self = serde_json::from_str(text).map_err(|e| {
            schema(format!(
                "not a captoken keyring (JSON {} at line {} column {})",
                match e.classify() {
                    serde_json::error::Category::Syntax | serde_json::error::Category::Eof =>
                        "syntax error",
                    _ => "of the wrong shape",
                },
                e.line(),
                e.column()
            ))
        })?;
        if file.captoken_keyring != KEYRING_VERSION {
            return Err(schema(format!(
                "keyring version {} is not supported (expected {KEYRING_VERSION})",
                file.captoken_keyring
            )));
        }
        let ring = file.ring().map_err(schema)?;
        Ok((file, ring))
    }

    /// The keyring, checked.
    pub(crate) fn ring(&self) -> std::result::Result<Ring, String> {
        let mut ring = Ring::empty(self.format);
        for entry in &self.keys {
            ring.insert(entry)?;
        }
        // With no `signing` (the signing key was compromised), the library's
        // keyring makes the first active key with a secret its signing key
        // and cannot be told otherwise: the commands that sign refuse a
        // keyring file naming no signing key instead ([`LoadedKey::signing_id`]).
        if let Some(id) = &self.signing {
            let kid = KeyId::new(id.as_str()).map_err(|e| format!("signing {id:?}: {e}"))?;
            ring.switch_signing(&kid)
                .map_err(|e| format!("signing key {id}: {e}"))?;
        }
        Ok(ring)
    }

    /// Copies the states and signing key of `ring` back into the file.
    pub(crate) fn sync(&mut self, ring: &Ring) {
        for entry in &mut self.keys {
            if let Some(state) = KeyId::new(entry.id.as_str())
                .ok()
                .and_then(|id| ring.state(&id))
            {
                entry.set_state(state);
            }
        }
        self.signing = ring.signing_id().map(|id| id.as_str().to_owned());
    }

    /// The file as pretty JSON.
    pub(crate) fn to_json(&self) -> Result<Zeroizing<String>> {
        serde_json::to_string_pretty(self)
            .map(|s| Zeroizing::new(s + "\n"))
            .map_err(|_| CliError::Usage("keyring not serializable".into()))
    }
}

/// What a `--key` file holds: a keyring file, or a public key-set document (verify only).
pub(crate) struct LoadedKey {
    /// The keyring.
    pub(crate) ring: Ring,
    /// The key the file names as signing (`None` for a key-set document, or
    /// a keyring file whose signing key was compromised).
    signing: Option<KeyId>,
}

impl LoadedKey {
    /// The signing key id, or why nothing may be signed with this file.
    pub(crate) fn signing_id(&self, path: &Path) -> Result<KeyId> {
        self.signing.clone().ok_or_else(|| {
            CliError::Usage(format!(
                "{} names no signing key (a public document, or its signing key was compromised): add one with `captoken keys rotate`",
                path.display()
            ))
        })
    }
}

/// Reads `--key`: a keyring file, or a key-set document of a public-key format.
pub(crate) fn load_key(path: &Path) -> Result<LoadedKey> {
    /// The two fields that tell a key-set document from a keyring file,
    /// read without keeping any other value (a keyring's secrets included).
    #[derive(serde::Deserialize)]
    struct Sniff {
        version: Option<serde::de::IgnoredAny>,
        captoken_keyring: Option<serde::de::IgnoredAny>,
    }
    // Read once: `-` (standard input) cannot be read twice.
    let text = Zeroizing::new(read_text("read key file", path)?);
    let is_document = serde_json::from_str::<Sniff>(&text)
        .is_ok_and(|v| v.version.is_some() && v.captoken_keyring.is_none());
    let mut signing = None;
    let ring = if is_document {
        let doc = KeySetDocument::from_json(&text).map_err(|source| CliError::KeySet {
            path: path.to_owned(),
            source,
        })?;
        let format = CliFormat::of(doc.format()).ok_or_else(|| CliError::Schema {
            what: "key-set document",
            path: path.to_owned(),
            detail: format!("unknown format {}", doc.format()),
        })?;
        let keyset = |source| CliError::KeySet {
            path: path.to_owned(),
            source,
        };
        match format {
            CliFormat::Biscuit => {
                Ring::Biscuit(BiscuitKeyring::from_document(&doc, doc.format()).map_err(keyset)?)
            }
            CliFormat::PasetoPublic => Ring::PasetoPublic(
                PublicKeyring::from_document(&doc, doc.format()).map_err(keyset)?,
            ),
            other => {
                return Err(CliError::Schema {
                    what: "key-set document",
                    path: path.to_owned(),
                    detail: format!("format {other} has no public keys to verify with"),
                });
            }
        }
    } else {
        let (file, ring) = KeyFile::parse(path, &text)?;
        signing = file.signing.as_deref().and_then(|id| KeyId::new(id).ok());
        ring
    };
    Ok(LoadedKey { ring, signing })
}
