//! The dual-format migration window (DESIGN.md §9): a verifier reading HMAC and PASETO, dispatching on markers, counting, and a chain bridged from HMAC to PASETO.
#![cfg(all(feature = "hmac", feature = "paseto"))]
#![allow(clippy::unwrap_used, reason = "tests")]

use captoken::core::testing::{Stores, workload};
use captoken::core::{RevocationWriter, reissue::bridge};
use captoken::hmac::{HmacKey, HmacKeyring, HmacProvider};
use captoken::paseto::{PasetoPublicProvider, PublicKeyring, SigningKey};
use captoken::{
    Attenuation, DenyReason, Format, KeyId, MigrationError, MultiVerifier, TokenProvider,
};

fn kid(s: &str) -> KeyId {
    KeyId::new(s).unwrap()
}

fn hmac() -> HmacProvider {
    HmacProvider::new(HmacKeyring::single(
        HmacKey::new(kid("hmac-1"), &[1; 32]).unwrap(),
    ))
}

fn paseto() -> PasetoPublicProvider {
    PasetoPublicProvider::new(PublicKeyring::single(
        SigningKey::from_seed(kid("paseto-1"), &[2; 32]).unwrap(),
    ))
}

/// Reads HMAC and PASETO v4.public, writes PASETO.
fn verifier() -> MultiVerifier {
    let writes = paseto().format();
    MultiVerifier::new(vec![Box::new(hmac()), Box::new(paseto())], writes).unwrap()
}

fn reason<T: std::fmt::Debug>(r: Result<T, captoken::Denied>) -> DenyReason {
    r.unwrap_err().reason().clone()
}

#[test]
fn both_formats_verify_and_are_counted_per_format_and_key() {
    let v = verifier();
    let stores = Stores::new();
    let req = workload::request(0);
    let old = hmac();
    let old_text = old.to_text(&old.issue(&workload::capability(kid("hmac-1"))).unwrap());
    let new_text = v.issue(&workload::capability(kid("paseto-1"))).unwrap();
    assert!(new_text.starts_with("v4.public."));
    for _ in 0..3 {
        let verified = v.verify(&old_text, &req, &stores.cold()).unwrap();
        assert_eq!(
            (verified.format, verified.key_id),
            (old.format(), kid("hmac-1"))
        );
    }
    let verified = v.verify(&new_text, &req, &stores.cold()).unwrap();
    assert_eq!(
        (verified.format, verified.key_id),
        (paseto().format(), kid("paseto-1"))
    );
    let counts: Vec<(Format, KeyId, u64)> = v
        .counts()
        .into_iter()
        .map(|c| (c.format, c.key_id, c.allowed))
        .collect();
    assert_eq!(
        counts,
        [
            (old.format(), kid("hmac-1"), 3),
            (paseto().format(), kid("paseto-1"), 1)
        ]
    );
    // Text of no format read here is denied and counted as such.
    assert_eq!(
        reason(v.verify("eyJhbGciOiJIUzI1NiJ9.e30.x", &req, &stores.cold())),
        DenyReason::Malformed("no format read here is marked so")
    );
    assert_eq!(v.denied(), [(None, 1)]);
}

/// Every bit flip of an HMAC token (in its binary form, and in its text) is
/// denied: dispatch goes by marker to one parser, and no damaged token is ever
/// accepted, in particular not as the other format.
#[test]
fn a_damaged_token_is_never_accepted_as_another_format() {
    let v = verifier();
    let stores = Stores::new();
    let req = workload::request(0);
    let old = hmac();
    let token = old.issue(&workload::capability(kid("hmac-1"))).unwrap();
    let text = old.to_text(&token);
    let mut tried = 0;
    for i in 0..token.as_bytes().len() * 8 {
        let mut bytes = token.as_bytes().to_vec();
        bytes[i / 8] ^= 1 << (i % 8);
        let damaged = old.to_text(&captoken::Token::new(old.format(), bytes));
        assert!(
            v.verify(&damaged, &req, &stores.cold()).is_err(),
            "byte bit {i}"
        );
        tried += 1;
    }
    for i in 0..text.len() * 7 {
        let mut chars = text.clone().into_bytes();
        chars[i / 7] ^= 1 << (i % 7);
        let Ok(damaged) = String::from_utf8(chars) else {
            continue;
        };
        assert!(
            v.verify(&damaged, &req, &stores.cold()).is_err(),
            "text bit {i}"
        );
        tried += 1;
    }
    assert!(tried > 1000);
    // A PASETO token relabelled with the HMAC prefix goes to the HMAC parser
    // and is denied there; never tried as PASETO.
    let new_text = v.issue(&workload::capability(kid("paseto-1"))).unwrap();
    let relabelled = new_text.replacen("v4.public.", "cth1.", 1);
    assert!(matches!(
        reason(v.verify(&relabelled, &req, &stores.cold())),
        DenyReason::Malformed(_)
    ));
    assert!(v.counts().is_empty());
}

/// An HMAC root, a PASETO child through the bridge: the chain verifies live
/// and cold across the switch, a PASETO-only verifier cannot follow it, and
/// revoking the HMAC root denies the PASETO child.
#[test]
fn a_chain_bridged_from_hmac_to_paseto_verifies_and_revokes_as_one_lineage() {
    let v = verifier();
    let stores = Stores::new();
    let old = hmac();
    let root = old.issue(&workload::capability(kid("hmac-1"))).unwrap();
    stores.record_index(&old, &root).unwrap();
    let root_text = old.to_text(&root);
    let child_text = v.bridge(&root_text, &workload::step(1), None).unwrap();
    let child = v.parse_text(&child_text).unwrap();
    assert_eq!(child.format(), paseto().format());
    stores.record_index(v.writer(), &child).unwrap();
    let inspected = v.writer().inspect(&child).unwrap();
    let parent = inspected.capability.parent.unwrap();
    assert_eq!(parent.format, old.format());
    assert_eq!(parent.hash, old.lineage_hash(&root).unwrap());
    let req = workload::request(1);
    // Cold: the HMAC root comes from the lineage index.
    let cold = v.verify(&child_text, &req, &stores.cold()).unwrap();
    assert_eq!((cold.format, cold.chain_len), (paseto().format(), 1));
    assert_eq!(cold.key_id, kid("paseto-1"));
    // Live: the HMAC root is supplied.
    let ancestors = [root.clone()];
    let live_ctx = stores.cold().with_ancestors(&ancestors);
    assert_eq!(v.verify(&child_text, &req, &live_ctx).unwrap(), cold);
    // A verifier of PASETO alone cannot follow the chain into HMAC.
    assert_eq!(
        reason(paseto().verify(&child, &req, &stores.cold())),
        DenyReason::LineageMismatch
    );
    // A wrong supplied ancestor is denied.
    let other = old
        .issue(&workload::capability(kid("hmac-1")).with_grant(captoken::Grant::new("s", "t")))
        .unwrap();
    let wrong = [other];
    assert_eq!(
        reason(v.verify(&child_text, &req, &stores.cold().with_ancestors(&wrong))),
        DenyReason::LineageMismatch
    );
    // Revoking the HMAC root revokes the PASETO child, live and cold.
    stores
        .revoked
        .revoke(old.lineage_hash(&root).unwrap())
        .unwrap();
    assert_eq!(
        reason(v.verify(&child_text, &req, &stores.cold())),
        DenyReason::Revoked
    );
    assert_eq!(
        reason(v.verify(&child_text, &req, &live_ctx)),
        DenyReason::Revoked
    );
    // The bridge function itself, without the verifier: the same child shape.
    let direct = bridge(
        old.as_reissuer().unwrap(),
        paseto().as_reissuer().unwrap(),
        &root,
        &workload::step(1),
        None,
    )
    .unwrap();
    assert_eq!(direct.format(), paseto().format());
    // A bridge re-issues strictly: a widening step is refused.
    let widening = Attenuation::new().expires_at(u64::MAX);
    assert!(v.bridge(&root_text, &widening, None).is_err());
}

#[test]
fn construction_refuses_ambiguous_or_incomplete_configurations() {
    let hmac_format = hmac().format();
    let paseto_format = paseto().format();
    assert_eq!(
        MultiVerifier::new(Vec::new(), hmac_format).unwrap_err(),
        MigrationError::NoReaders
    );
    assert_eq!(
        MultiVerifier::new(vec![Box::new(hmac()), Box::new(hmac())], hmac_format).unwrap_err(),
        MigrationError::DuplicateFormat(hmac_format)
    );
    assert_eq!(
        MultiVerifier::new(vec![Box::new(hmac())], paseto_format).unwrap_err(),
        MigrationError::WriterNotRead(paseto_format)
    );
    let v = MultiVerifier::new(vec![Box::new(hmac())], hmac_format).unwrap();
    assert!(format!("{v:?}").contains("hmac"));
}
