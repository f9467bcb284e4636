//! captoken provider for PASETO v4 capability tokens, built on `pasetors`.
//!
//! PASETO is the option "public-key verification without offline attenuation":
//! the misuse-resistant answer to JWT. One [`PasetoProvider`], generic over the
//! [`Purpose`], serves both: [`PasetoPublicProvider`] (the default,
//! `PasetoProvider<Public>`) signs `v4.public` tokens with Ed25519, so
//! verifiers hold only public keys; [`PasetoLocalProvider`]
//! (`PasetoProvider<Local>`) encrypts `v4.local` tokens under a shared key, the
//! shared-secret variant for the comparison. Both carry the same claims, and
//! both attenuate by **re-issuance**: the issuer authenticates the parent,
//! narrows it strictly ([`Capability::attenuate`](captoken_core_types::Capability::attenuate)),
//! and signs a child whose `parent` claim records the parent's format, id and
//! lineage hash.
//!
//! # Encoding (wire version 2: [`FORMAT_PUBLIC`] `paseto-v4-public.cap2`, [`FORMAT_LOCAL`] `paseto-v4-local.cap2`)
//!
//! - **Claims**: the capability maps onto the registered claims `iss` (the
//!   issuer's captoken key id), `sub`, `jti`, `iat` (the capability's
//!   `issued_at`), `nbf`, `exp`, plus the custom claims `holder` (the subject's
//!   binding: `ed25519:<64 hex>` or `key_set`), `grants` (constraints `any`,
//!   `eq`, `prefix`, `path`, `in`, `range`), `max_depth` and `parent`
//!   (`{"fmt","jti","hash"}`); the `claims` module's documentation is the
//!   schema. Times are RFC 3339, written in UTC; every time check uses the
//!   request's `now` (the verifier's injected clock), never the wall clock,
//!   which is why pasetors' own claim validation is not used.
//! - **Footer**: exactly `{"kid":"<PASERK id>"}`, `k4.pid.…` for `v4.public` and
//!   `k4.lid.…` for `v4.local`. Verification selects the key by that id and
//!   tries no other; an unknown id is denied, and so is a token whose `iss` names
//!   a different key id than the one the footer selected.
//! - **Implicit assertion**: [`IMPLICIT_ASSERTION`], `captoken/paseto/v2`, is
//!   the version marker: every token is sealed and opened under it, so that no
//!   other PASETO a key signs, and no version 1 token (sealed under
//!   `captoken/paseto/claims/v1`), can be read as a capability of this version:
//!   they fail authentication.
//! - **Binary and text forms**: both are the PASETO string (`v4.public.…`,
//!   `v4.local.…`); PASETO is a text format, and the lineage hash of a token is
//!   the hash of exactly the string every PASETO implementation sees. A verifier
//!   accepts only the canonical base64 of a token's parts, so one signed token
//!   has one text and one lineage hash.
//! - **Holder binding**: a capability bound to a holder key (the `holder`
//!   claim) verifies only with the holder's proof of possession, and is
//!   re-issued to another subject only on the holder's signed
//!   `DelegationRequest` (`Reissuer::attenuate_requested`); a key-set binding
//!   is refused at issue, not re-issued, and denied at verification with
//!   `DenyReason::PossessionRequired`.
//!
//! # Limits
//!
//! A request beyond the size bounds of `captoken_core_types::bounds` is denied
//! before the token is read, and a capability beyond them is refused at issue
//! and at decoding. A token is at most [`MAX_TOKEN_LEN`] bytes and its footer
//! at most [`MAX_FOOTER_LEN`], checked before anything is decoded. A verifier
//! walks at most [`MAX_CHAIN`] ancestors. Times must lie in
//! 1970..=9999 (RFC 3339); [`TokenProvider::issue`](captoken_core_types::TokenProvider::issue)
//! refuses a capability it cannot express.
//!
//! ```
//! use captoken_core_types::testing::workload;
//! use captoken_core_types::{KeyId, MemoryLineageIndex, MemoryRevocationList, TokenProvider, VerifyContext};
//! use captoken_paseto_provider::{PasetoPublicProvider, PublicKeyring, SigningKey};
//!
//! // The issuer signs; the verifier holds only the public key.
//! let signing = SigningKey::generate(KeyId::new("k1")?)?;
//! let public = signing.verifying_key().clone();
//! let issuer = PasetoPublicProvider::new(PublicKeyring::single(signing));
//! let token = issuer.issue(&workload::capability(KeyId::new("k1")?))?;
//! assert!(issuer.to_text(&token).starts_with("v4.public."));
//!
//! let verifier = PasetoPublicProvider::new(PublicKeyring::single(public));
//! let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
//! let ctx = VerifyContext::new(&revoked, &index);
//! assert!(verifier.verify(&token, &workload::request(0), &ctx).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod claims;
mod key;
mod provider;
mod rfc3339;

pub use captoken_core_types::KeyError;
pub use claims::MAX_FOOTER_LEN;
pub use key::{LocalKey, LocalKeyring, PublicEntry, PublicKeyring, SigningKey, VerifyingKey};
pub use provider::{
    FORMAT_LOCAL, FORMAT_PUBLIC, IMPLICIT_ASSERTION, Local, MAX_CHAIN, MAX_TOKEN_LEN,
    PasetoLocalProvider, PasetoProvider, PasetoPublicProvider, Public, Purpose, ROW_ASSERTION,
};
