//! Third-party caveats and discharge macaroons: binding, single use, time bounds, nesting.
#![cfg(feature = "third-party")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

use captoken_core_types::testing::Stores;
use captoken_core_types::testing::workload;
use captoken_core_types::{
    Attenuation, DenyReason, KeyId, Request, Token, TokenProvider, VerifyContext,
};
use captoken_macaroon_provider::wire::Macaroon;
use captoken_macaroon_provider::{
    FORMAT, MacaroonKey, MacaroonKeyring, MacaroonProvider, ThirdPartyCaveat, bind_discharge,
    extend_discharge, mint_discharge,
};

const AUTH_SECRET: [u8; 32] = [0x42; 32];
const OTHER_SECRET: [u8; 32] = [0x43; 32];

fn provider() -> MacaroonProvider {
    MacaroonProvider::new(MacaroonKeyring::single(
        MacaroonKey::new(KeyId::new("k1").unwrap(), &[1; 32]).unwrap(),
    ))
}

fn caveat(secret: &[u8], id: &str) -> ThirdPartyCaveat {
    ThirdPartyCaveat::new("https://auth.example", secret, id.as_bytes().to_vec()).unwrap()
}

fn discharge(secret: &[u8], id: &str) -> Token {
    mint_discharge(secret, id.as_bytes(), "https://auth.example", None, None).unwrap()
}

fn verify(
    p: &MacaroonProvider,
    token: &Token,
    req: &Request,
    discharges: &[Token],
) -> Result<(), DenyReason> {
    let stores = Stores::new();
    let ctx = VerifyContext::new(&stores.revoked, &stores.index).with_discharges(discharges);
    p.verify(token, req, &ctx)
        .map(|_| ())
        .map_err(|d| d.reason().clone())
}

/// A root with a third-party caveat in its root section, then a step with another.
fn two_caveat_token(p: &MacaroonProvider) -> Token {
    let root = p
        .issue_with_third_party(
            &workload::capability(KeyId::new("k1").unwrap()),
            [caveat(&AUTH_SECRET, "user = alice")],
        )
        .unwrap();
    MacaroonProvider::holder()
        .attenuate_with_third_party(
            &root,
            &workload::step(1),
            [caveat(&OTHER_SECRET, "device = laptop")],
        )
        .unwrap()
}

#[test]
fn bound_discharges_satisfy_third_party_caveats() {
    let p = provider();
    assert!(p.properties().third_party_caveats);
    let token = two_caveat_token(&p);
    let req = workload::request(1);
    let d1 = bind_discharge(&token, &discharge(&AUTH_SECRET, "user = alice")).unwrap();
    let d2 = bind_discharge(&token, &discharge(&OTHER_SECRET, "device = laptop")).unwrap();
    assert_eq!(verify(&p, &token, &req, &[d1.clone(), d2.clone()]), Ok(()));
    assert_eq!(
        verify(&p, &token, &req, &[d2.clone(), d1.clone()]),
        Ok(()),
        "order of discharges is free"
    );
    // The capability still binds: the discharges do not widen it.
    assert_eq!(
        verify(&p, &token, &workload::request(0), &[d1.clone(), d2.clone()]),
        Err(DenyReason::ConstraintViolated)
    );
    // Inspection sees the capability and the step; third-party caveats are not claims.
    let inspected = p.inspect(&token).unwrap();
    assert_eq!(inspected.steps, vec![workload::step(1)]);
}

#[test]
fn missing_unbound_misbound_and_unused_discharges_deny() {
    let p = provider();
    let token = two_caveat_token(&p);
    let req = workload::request(1);
    let raw1 = discharge(&AUTH_SECRET, "user = alice");
    let d1 = bind_discharge(&token, &raw1).unwrap();
    let d2 = bind_discharge(&token, &discharge(&OTHER_SECRET, "device = laptop")).unwrap();
    assert_eq!(
        verify(&p, &token, &req, std::slice::from_ref(&d1)),
        Err(DenyReason::Discharge),
        "one missing"
    );
    assert_eq!(
        verify(&p, &token, &req, &[]),
        Err(DenyReason::Discharge),
        "both missing"
    );
    assert_eq!(
        verify(&p, &token, &req, &[raw1, d2.clone()]),
        Err(DenyReason::Discharge),
        "unbound"
    );
    // Bound to the parent, not to the token presented.
    let parent = p
        .issue_with_third_party(
            &workload::capability(KeyId::new("k1").unwrap()),
            [caveat(&AUTH_SECRET, "user = alice")],
        )
        .unwrap();
    let misbound = bind_discharge(&parent, &discharge(&AUTH_SECRET, "user = alice")).unwrap();
    assert_eq!(
        verify(&p, &token, &req, &[misbound, d2.clone()]),
        Err(DenyReason::Discharge),
        "bound elsewhere"
    );
    // Bound twice.
    let twice = bind_discharge(&token, &d1).unwrap();
    assert_eq!(
        verify(&p, &token, &req, &[twice, d2.clone()]),
        Err(DenyReason::Discharge)
    );
    // A spare discharge is an unused discharge.
    let spare = bind_discharge(&token, &discharge(&AUTH_SECRET, "user = bob")).unwrap();
    assert_eq!(
        verify(&p, &token, &req, &[d1.clone(), d2.clone(), spare]),
        Err(DenyReason::Discharge),
        "unused"
    );
    assert_eq!(
        verify(&p, &token, &req, &[d1.clone(), d2.clone(), d1.clone()]),
        Err(DenyReason::Discharge),
        "duplicate"
    );
    // Minted by someone without the third party's secret.
    let forged = bind_discharge(&token, &discharge(&[0x99; 32], "user = alice")).unwrap();
    assert_eq!(
        verify(&p, &token, &req, &[forged, d2.clone()]),
        Err(DenyReason::Discharge),
        "wrong secret"
    );
    // Garbage in the discharge list.
    assert_eq!(
        verify(
            &p,
            &token,
            &req,
            &[d1, d2, Token::new(FORMAT, vec![1, 2, 3])]
        ),
        Err(DenyReason::Discharge)
    );
}

#[test]
fn each_discharge_is_used_once() {
    let p = provider();
    let root = p
        .issue_with_third_party(
            &workload::capability(KeyId::new("k1").unwrap()),
            [caveat(&AUTH_SECRET, "same"), caveat(&AUTH_SECRET, "same")],
        )
        .unwrap();
    let req = workload::request(0);
    let d = bind_discharge(&root, &discharge(&AUTH_SECRET, "same")).unwrap();
    assert_eq!(
        verify(&p, &root, &req, std::slice::from_ref(&d)),
        Err(DenyReason::Discharge)
    );
    assert_eq!(verify(&p, &root, &req, &[d.clone(), d]), Ok(()));
}

#[test]
fn discharge_caveats_are_checked() {
    let p = provider();
    let root = p
        .issue_with_third_party(
            &workload::capability(KeyId::new("k1").unwrap()),
            [caveat(&AUTH_SECRET, "u")],
        )
        .unwrap();
    let req = workload::request(0);
    let now = req.now;
    let timed = |nbf, exp| {
        let d = mint_discharge(&AUTH_SECRET, b"u", "https://auth.example", nbf, exp).unwrap();
        bind_discharge(&root, &d).unwrap()
    };
    assert_eq!(
        verify(&p, &root, &req, &[timed(Some(now), Some(now + 1))]),
        Ok(())
    );
    assert_eq!(
        verify(&p, &root, &req, &[timed(Some(now + 1), None)]),
        Err(DenyReason::Discharge),
        "not yet"
    );
    assert_eq!(
        verify(&p, &root, &req, &[timed(None, Some(now))]),
        Err(DenyReason::Discharge),
        "expired"
    );
    // A first-party caveat the verifier does not understand fails closed.
    let mut m = Macaroon::decode(discharge(&AUTH_SECRET, "u").as_bytes()).unwrap();
    let extra = b"time < 2099-01-01".to_vec();
    m.signature = hmac(&m.signature, &extra);
    m.caveats
        .push(captoken_macaroon_provider::wire::Caveat::first_party(extra));
    let foreign = bind_discharge(&root, &Token::new(FORMAT, m.encode().unwrap())).unwrap();
    assert_eq!(
        verify(&p, &root, &req, &[foreign]),
        Err(DenyReason::Discharge)
    );
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[test]
fn nested_discharges_are_required_and_bound_to_the_top() {
    let p = provider();
    let root = p
        .issue_with_third_party(
            &workload::capability(KeyId::new("k1").unwrap()),
            [caveat(&AUTH_SECRET, "u")],
        )
        .unwrap();
    let req = workload::request(0);
    let outer =
        extend_discharge(&discharge(&AUTH_SECRET, "u"), &caveat(&OTHER_SECRET, "mfa")).unwrap();
    let outer = bind_discharge(&root, &outer).unwrap();
    let inner = bind_discharge(&root, &discharge(&OTHER_SECRET, "mfa")).unwrap();
    assert_eq!(verify(&p, &root, &req, &[outer.clone(), inner]), Ok(()));
    assert_eq!(
        verify(&p, &root, &req, std::slice::from_ref(&outer)),
        Err(DenyReason::Discharge)
    );
    let inner_bound_to_outer = bind_discharge(&outer, &discharge(&OTHER_SECRET, "mfa")).unwrap();
    assert_eq!(
        verify(&p, &root, &req, &[outer, inner_bound_to_outer]),
        Err(DenyReason::Discharge)
    );
}

#[test]
fn tampering_with_a_verification_id_breaks_the_chain() {
    let p = provider();
    let root = p
        .issue_with_third_party(
            &workload::capability(KeyId::new("k1").unwrap()),
            [caveat(&AUTH_SECRET, "u")],
        )
        .unwrap();
    let mut m = Macaroon::decode(root.as_bytes()).unwrap();
    m.caveats[0].vid.as_mut().unwrap()[40] ^= 1;
    let tampered = Token::new(FORMAT, m.encode().unwrap());
    let d = bind_discharge(&tampered, &discharge(&AUTH_SECRET, "u")).unwrap();
    assert_eq!(
        verify(&p, &tampered, &workload::request(0), &[d]),
        Err(DenyReason::BadSignature)
    );
    // The location hint is not authenticated, and changing it changes nothing.
    let mut m = Macaroon::decode(root.as_bytes()).unwrap();
    m.caveats[0].location = Some(b"https://elsewhere".to_vec());
    let moved = Token::new(FORMAT, m.encode().unwrap());
    let d = bind_discharge(&moved, &discharge(&AUTH_SECRET, "u")).unwrap();
    assert_eq!(verify(&p, &moved, &workload::request(0), &[d]), Ok(()));
    assert_eq!(
        p.lineage_hash(&moved).unwrap(),
        p.lineage_hash(&root).unwrap()
    );
}

#[test]
fn a_third_party_caveat_after_the_root_section_needs_a_step() {
    let p = provider();
    let root = p
        .issue(&workload::capability(KeyId::new("k1").unwrap()))
        .unwrap();
    let with = MacaroonProvider::holder()
        .attenuate_with_third_party(&root, &Attenuation::new(), [caveat(&AUTH_SECRET, "u")])
        .unwrap();
    let d = bind_discharge(&with, &discharge(&AUTH_SECRET, "u")).unwrap();
    assert_eq!(verify(&p, &with, &workload::request(0), &[d]), Ok(()));
    assert_eq!(p.inspect(&with).unwrap().steps, vec![Attenuation::new()]);
    // Appending it loose (no boundary) would let a holder skip counting: refused.
    let loose = extend_discharge(&root, &caveat(&AUTH_SECRET, "u")).unwrap();
    let d = bind_discharge(&loose, &discharge(&AUTH_SECRET, "u")).unwrap();
    assert_eq!(
        verify(&p, &loose, &workload::request(0), &[d]),
        Err(DenyReason::UnknownCaveat)
    );
}
