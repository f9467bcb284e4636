//! captoken: signed capability tokens for agents and tool gateways, in one crate.
//!
//! The format-agnostic model and contract come from `captoken-core-types` and
//! are re-exported here; each token format is one feature (`hmac`, on by
//! default, `macaroon`, `biscuit`, `paseto`), re-exported as a module of the
//! same name. [`MultiVerifier`] reads several formats at once and writes one:
//! the dual-format window of a format migration (DESIGN.md §9), with the
//! bridge that re-issues a child in the new format from a parent in the old.
#![forbid(unsafe_code)]

pub mod migration;

/// The whole model and contract crate, for what the front door does not re-export.
pub use captoken_core_types as core;
pub use captoken_core_types::{
    Attenuation, Capability, Constraint, Denied, DenyReason, Error, Format, Grant, HolderKey,
    HolderSigningKey, KeyError, KeyId, KeyState, Keyring, LineageHash, Marker, Proof, Request,
    Subject, Token, TokenId, TokenProvider, Value, Verified, VerifyContext,
};

#[cfg(feature = "biscuit")]
pub use captoken_biscuit_provider as biscuit;
#[cfg(feature = "hmac")]
pub use captoken_hmac_provider as hmac;
#[cfg(feature = "macaroon")]
pub use captoken_macaroon_provider as macaroon;
#[cfg(feature = "paseto")]
pub use captoken_paseto_provider as paseto;

pub use migration::{FormatCount, MigrationError, MultiVerifier};
