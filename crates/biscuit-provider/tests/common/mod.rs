//! Helpers shared by the Biscuit provider's integration tests.
#![allow(dead_code, reason = "each test binary uses a subset")]

pub(crate) use captoken_core_types::testing::Stores;
use std::collections::HashMap;

use biscuit_auth::builder::{BlockBuilder, Term};
use biscuit_auth::format::schema::public_key::Algorithm;
use biscuit_auth::{Biscuit, KeyPair, PrivateKey, UnverifiedBiscuit};
use captoken_biscuit_provider::{
    BiscuitKeyring, BiscuitProvider, FORMAT, RootSigningKey, root_key_id,
};
pub(crate) use captoken_core_types::testing::deny_reason as reason;
use captoken_core_types::testing::workload;
use captoken_core_types::{HolderSigningKey, KeyId, LineageHash, Token, TokenProvider};

pub(crate) fn kid(s: &str) -> KeyId {
    KeyId::new(s).unwrap()
}

pub(crate) fn signing(id: &str, seed: u8) -> RootSigningKey {
    RootSigningKey::ed25519_from_seed(kid(id), &[seed; 32])
}

pub(crate) fn provider_with(keys: impl IntoIterator<Item = RootSigningKey>) -> BiscuitProvider {
    BiscuitProvider::new(BiscuitKeyring::from_keys(keys).unwrap())
}

/// The provider of the tests: root key `k1` from seed 1.
pub(crate) fn provider() -> BiscuitProvider {
    provider_with([signing("k1", 1)])
}

pub(crate) fn root_token(p: &BiscuitProvider) -> Token {
    p.issue(&workload::capability(kid("k1"))).unwrap()
}

/// A workload chain of `depth` steps, root first.
pub(crate) fn chain(p: &BiscuitProvider, depth: usize) -> Vec<Token> {
    let mut tokens = vec![root_token(p)];
    for step in workload::steps(depth) {
        let child = p.attenuate(tokens.last().unwrap(), &step).unwrap();
        tokens.push(child);
    }
    tokens
}

/// Appends a raw Datalog block written with biscuit-auth's own API, as any
/// holder can. `{parent}` in `code` is bound to the parent's lineage hash.
pub(crate) fn append_raw(parent: &Token, parent_hash: LineageHash, code: &str) -> Token {
    let mut params = HashMap::new();
    params.insert("parent".to_owned(), Term::Bytes(parent_hash.0.to_vec()));
    let block = BlockBuilder::new()
        .code_with_params(code, params, HashMap::new())
        .unwrap_or_else(|e| panic!("{code}: {e}"));
    let child = UnverifiedBiscuit::from(parent.as_bytes())
        .unwrap()
        .append(block)
        .unwrap();
    Token::new(FORMAT, child.to_vec().unwrap())
}

/// Appends a raw Datalog block as a third-party block signed with `key`,
/// with biscuit-auth's own API (bypassing every check of the provider's).
/// `{parent}` in `code` is bound to the parent's lineage hash.
pub(crate) fn append_third_party_raw(
    parent: &Token,
    parent_hash: LineageHash,
    code: &str,
    key: &PrivateKey,
) -> Token {
    let mut params = HashMap::new();
    params.insert("parent".to_owned(), Term::Bytes(parent_hash.0.to_vec()));
    let block = BlockBuilder::new()
        .code_with_params(code, params, HashMap::new())
        .unwrap_or_else(|e| panic!("{code}: {e}"));
    let token = UnverifiedBiscuit::from(parent.as_bytes()).unwrap();
    let signed = token
        .third_party_request()
        .unwrap()
        .create_block(key, block)
        .unwrap();
    let child = token
        .append_third_party(&signed.serialize().unwrap())
        .unwrap();
    Token::new(FORMAT, child.to_vec().unwrap())
}

/// A holder's signing key as biscuit-auth takes it.
pub(crate) fn biscuit_key(holder: &HolderSigningKey) -> PrivateKey {
    PrivateKey::from_bytes(
        holder.ed25519_seed().unwrap(),
        biscuit_auth::Algorithm::Ed25519,
    )
    .unwrap()
}

/// Appends a raw block that declares the right parent hash, then `code`.
pub(crate) fn append_hostile(p: &BiscuitProvider, parent: &Token, code: &str) -> Token {
    append_raw(
        parent,
        p.lineage_hash(parent).unwrap(),
        &format!("parent({{parent}});\n{code}"),
    )
}

/// A root token whose authority block is `source`, signed by hand with the
/// test key `k1` (seed 1): what an issuer without captoken's checks (or of
/// another captoken version) could sign.
pub(crate) fn forge_root(source: &str) -> Token {
    let pair = KeyPair::from_bytes(&[1; 32], Algorithm::Ed25519).unwrap();
    let token = Biscuit::builder()
        .code(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .root_key_id(root_key_id(&kid("k1")))
        .build(&pair)
        .unwrap();
    Token::new(FORMAT, token.to_vec().unwrap())
}

/// The verdict `verify` would return for an inspected token and its holder.
pub(crate) fn verified_as(
    inspected: &captoken_core_types::Inspection,
    hash: captoken_core_types::LineageHash,
    holder: captoken_core_types::Subject,
) -> captoken_core_types::Verified {
    let cap = &inspected.capability;
    captoken_core_types::Verified::new(
        captoken_biscuit_provider::FORMAT,
        cap.id,
        cap.issuer.clone(),
        cap.issued_at,
        hash,
        inspected.steps.len(),
        holder,
    )
}
