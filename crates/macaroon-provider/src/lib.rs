//! captoken provider for macaroons: HMAC-SHA256 chaining in the libmacaroons v2 formats, attenuated offline by any holder.
//!
//! These are genuine macaroons (Birgisson et al., 2014), interoperable with
//! libmacaroons, pymacaroons and go-macaroon:
//!
//! - **Chain** ([`crypto`]): the first signature is `HMAC-SHA256` of the identifier
//!   under the root key derived as libmacaroons derives it; each caveat replaces
//!   the signature with an HMAC of the caveat under the previous signature.
//! - **Wire** ([`wire`]): libmacaroons v2 binary (the binary form of a
//!   [`Token`](captoken_core_types::Token)) and v2 JSON, read and written, with
//!   libmacaroons' field limits. The text form is the URL-safe base64 of v2 binary.
//! - **Caveat language** ([`caveat`], versioned `ct2`, format tag
//!   `macaroon-v2.ct2`): human-readable first-party caveats that carry every
//!   claim of the capability model (subject and its holder binding, grants with
//!   `Path` constraints, the signed `iat`, the window, the depth) and every
//!   attenuation step; the identifier carries the key id and the token id.
//!   Unknown or malformed caveats fail closed; `ct1` tokens and caveats of the
//!   previous version are refused as an unsupported version. [`chain`] defines
//!   how caveats group into the root and its steps; what they authorize is the
//!   reference rule set's verdict
//!   ([`captoken_core_types::reference::authorize_chain`]), evaluated once the
//!   chain and the lineage are checked, then proof of possession for a holder
//!   bound to a key ([`captoken_core_types::possession::enforce`]); a step
//!   delegating away from a key-bound holder must carry its `holder-sig`.
//! - **Offline attenuation**: a holder appends a step (a `ct2 step` boundary
//!   declaring the parent's lineage hash, then the step's caveats) without any
//!   key. The verifier recomputes the chain signature at every boundary,
//!   recomputes the parent's lineage hash ([`lineage`]) and denies on mismatch,
//!   and checks every ancestor against the revocation list.
//! - **Third-party caveats** (feature `third-party`, module `third_party`):
//!   libmacaroons-compatible verification ids and discharge binding.
//!
//! ```
//! use captoken_core_types::testing::workload;
//! use captoken_core_types::{KeyId, MemoryLineageIndex, MemoryRevocationList, TokenProvider, VerifyContext};
//! use captoken_macaroon_provider::{MacaroonKey, MacaroonKeyring, MacaroonProvider};
//!
//! let issuer = MacaroonProvider::new(MacaroonKeyring::single(MacaroonKey::new(
//!     KeyId::new("k1")?,
//!     &[7u8; 32],
//! )?));
//! let root = issuer.issue(&workload::capability(KeyId::new("k1")?))?;
//! // Any holder narrows it, without a key.
//! let child = MacaroonProvider::holder().attenuate(&root, &workload::step(1))?;
//! let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
//! let ctx = VerifyContext::new(&revoked, &index);
//! assert!(issuer.verify(&child, &workload::request(1), &ctx).is_ok());
//! assert!(issuer.verify(&child, &workload::request(0), &ctx).is_err(), "outside the narrowed prefix");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod caveat;
pub mod chain;
pub mod crypto;
mod key;
pub mod lineage;
mod provider;
#[cfg(feature = "third-party")]
pub mod third_party;
pub mod wire;

pub use captoken_core_types::KeyError;
pub use key::{MacaroonKey, MacaroonKeyring};
pub use provider::{
    FORMAT, MAX_DISCHARGES, MAX_TOKEN_CAVEATS, MAX_TOKEN_LEN, MacaroonProvider, TEXT_PREFIX,
};
#[cfg(feature = "third-party")]
pub use third_party::{ThirdPartyCaveat, bind_discharge, extend_discharge, mint_discharge};
