//! captoken provider for shared-secret HMAC-SHA256 capability tokens.
//!
//! The status quo most agent kernels start from: the issuer and every verifier
//! share a secret. A token is a compact, deterministic binary encoding of the
//! capability followed by an HMAC-SHA256 tag ([`wire`] documents the layout).
//! Attenuation is re-issuance: the issuer authenticates the parent, narrows it
//! strictly, and signs a child that records the parent's lineage hash.
//!
//! ```
//! use captoken_core_types::{Capability, Constraint, FixedClock, Grant, KeyId, MemoryStores, Request, TokenProvider};
//! use captoken_hmac_provider::{HmacKey, HmacKeyring, HmacProvider};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kid = KeyId::new("k1")?;
//! let provider = HmacProvider::new(HmacKeyring::single(HmacKey::generate(kid.clone())?));
//!
//! // Issue: agent:planner may read files under /srv/data/ for an hour.
//! let cap = Capability::builder(kid)
//!     .subject("agent:planner")
//!     .valid_from(1_767_225_600)
//!     .for_secs(3600)
//!     .depth(4)
//!     .grant(Grant::new("fs", "read_file").with_arg("path", Constraint::Path("/srv/data/".into())))
//!     .build()?;
//! let text = provider.to_text(&provider.issue(&cap)?); // "cth1.…"
//!
//! // Verify at the gateway, with its own clock and stores.
//! let stores = MemoryStores::new();
//! let request = Request::new("agent:planner", "fs", "read_file", &FixedClock(1_767_225_700))
//!     .with_arg("path", "/srv/data/report.txt");
//! let verified = provider.verify(&provider.parse_text(&text)?, &request, &stores.cold())?;
//! assert_eq!(verified.holder.principal, "agent:planner");
//! // `Path` is segment-aware: no way out of the directory.
//! let escape = request.with_arg("path", "/srv/data/../etc/passwd");
//! assert!(provider.verify(&provider.parse_text(&text)?, &escape, &stores.cold()).is_err());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod key;
mod provider;
pub mod wire;

pub use captoken_core_types::KeyError;
pub use key::{HmacKey, HmacKeyring};
pub use provider::{FORMAT, HmacProvider, MAX_CHAIN, TEXT_PREFIX};
