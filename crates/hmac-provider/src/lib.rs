//! captoken provider for shared-secret HMAC-SHA256 capability tokens.
//!
//! The status quo most agent kernels start from: the issuer and every verifier
//! share a secret. A token is a compact, deterministic binary encoding of the
//! capability followed by an HMAC-SHA256 tag ([`wire`] documents the layout).
//! Attenuation is re-issuance: the issuer authenticates the parent, narrows it
//! strictly, and signs a child that records the parent's lineage hash.
//!
//! ```
//! use captoken_core_types::testing::workload;
//! use captoken_core_types::{KeyId, MemoryLineageIndex, MemoryRevocationList, TokenProvider, VerifyContext};
//! use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider};
//!
//! let key = HmacKey::new(KeyId::new("k1")?, &[7u8; 32])?;
//! let provider = HmacProvider::new(HmacKeyring::single(key));
//! let token = provider.issue(&workload::capability(KeyId::new("k1")?))?;
//! let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
//! let verified = provider.verify(&token, &workload::request(0), &VerifyContext::new(&revoked, &index));
//! assert!(verified.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod key;
mod provider;
pub mod wire;

pub use captoken_core_types::KeyError;
pub use key::{HmacKey, HmacKeyring};
pub use provider::{FORMAT, HmacProvider, MAX_CHAIN, TEXT_PREFIX};

/// The README's example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
