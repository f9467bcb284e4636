//! captoken's format-agnostic capability model, the `TokenProvider` contract every
//! format implements, the lineage hash domain, and the reference authorizer that
//! is the oracle of the conformance suites.
//!
//! See DESIGN.md §3–§5 and `ARCHITECTURE.md` for how the pieces fit.
#![forbid(unsafe_code)]

mod attenuation;
pub mod bounds;
mod capability;
pub mod columns;
mod constraint;
pub mod delegation;
mod error;
pub mod hex;
pub mod holder_keys;
pub mod keyring;
pub mod keyset;
mod lineage;
pub mod path;
pub mod possession;
mod provider;
pub mod reference;
pub mod reissue;
mod request;
#[cfg(feature = "testing")]
pub mod testing;

pub use attenuation::{ArgConstraint, Attenuation};
pub use capability::{
    Capability, CapabilityBuilder, Grant, HolderBinding, HolderKey, KeyId, ParentRef, Subject,
    TokenId, ToolRef,
};
pub use constraint::{Constraint, Value};
pub use delegation::{DelegationRequest, HolderSignature};
pub use error::KeyError;
pub use error::{AttenuationError, Error, ModelError, StoreError};
pub use holder_keys::{
    CompromiseNotice, Endorsement, HolderKeyError, HolderKeyRecord, HolderKeys, MemoryHolderKeys,
};
pub use keyring::{KeyMaterial, KeyState, Keyring, SharedSecret};
pub use keyset::{KeyRecord, KeySetDocument, KeySetError, PublicKeyText};
pub use lineage::{
    LINEAGE_DOMAIN, LineageEntry, LineageHash, LineageHasher, LineageIndex, MemoryLineageIndex,
    MemoryRevocationList, MemoryStores, ROW_DOMAIN, RevocationList, RevocationWriter,
};
pub use possession::{
    HolderSigningKey, MemoryNonceStore, NonceStore, Possession, PossessionSettings, Proof,
};
pub use provider::{
    AttenuationMode, Denied, DenyReason, ForeignLineage, Format, Inspection, Marker, Properties,
    Token, TokenProvider, Verified, VerifyContext, check_format, decode_text, encode_text,
};
pub use reissue::{Reissuer, RowCache};
pub use request::{Clock, FixedClock, Request, SystemClock};
