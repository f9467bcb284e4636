//! captoken: signed capability tokens for agents and tool gateways, in one crate.
//!
//! The format-agnostic model and contract come from `captoken-core-types` and
//! are re-exported here; each token format is one feature (`hmac`, on by
//! default, `macaroon`, `biscuit`, `paseto`), re-exported as a module of the
//! same name, and each durable store likewise (`sqlite`, `postgres`).
//! [`Gateway`] is the front door (DESIGN.md §11): built once, it checks a
//! token's text form and an optional proof of possession against a request in
//! one call, returning a [`Decision`] for the caller and the operator's log,
//! and issues, attenuates, delegates and revokes the same way. Reading
//! several formats and writing one, it is also the dual-format window of a
//! format migration (DESIGN.md §9; [`MultiVerifier`]).
#![forbid(unsafe_code)]

pub mod gateway;
pub mod migration;

/// The whole model and contract crate, for what the front door does not re-export.
pub use captoken_core_types as core;
pub use captoken_core_types::{
    ArgConstraint, Attenuation, Capability, Clock, Constraint, Denied, DenyReason, Error,
    FixedClock, Format, Grant, HolderBinding, HolderKey, HolderSigningKey, Inspection, KeyError,
    KeyId, KeyState, Keyring, LineageHash, Marker, PossessionSettings, Proof, Request, Subject,
    SystemClock, Token, TokenId, TokenProvider, Value, Verified, VerifyContext,
};

#[cfg(feature = "biscuit")]
pub use captoken_biscuit_provider as biscuit;
#[cfg(feature = "hmac")]
pub use captoken_hmac_provider as hmac;
#[cfg(feature = "macaroon")]
pub use captoken_macaroon_provider as macaroon;
#[cfg(feature = "paseto")]
pub use captoken_paseto_provider as paseto;
#[cfg(feature = "postgres")]
pub use captoken_store_postgres as postgres;
#[cfg(feature = "sqlite")]
pub use captoken_store_sqlite as sqlite;

pub use gateway::{Decision, Gateway, GatewayBuilder, GatewayError};

pub use migration::{FormatCount, MigrationError, MultiVerifier};

/// The README's examples, compiled (and the front door's run) as doctests so
/// that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
