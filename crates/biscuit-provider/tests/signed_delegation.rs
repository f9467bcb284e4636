//! Signed delegation (DESIGN.md §8) in Biscuit: a step that hands a key-bound capability on is a third-party block signed by the holder's key; a thief's delegation, unsigned or signed by another key, is denied; the block cannot move to another token; the reference authorizer agrees with every verdict.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod common;

use biscuit_auth::UnverifiedBiscuit;
use biscuit_auth::format::schema;
use captoken_biscuit_provider::{BiscuitProvider, FORMAT};
use captoken_core_types::reference::{authorize, authorize_chain};
use captoken_core_types::testing::{self, workload};
use captoken_core_types::{
    Attenuation, AttenuationError, Capability, DenyReason, Error, HolderSigningKey,
    MemoryNonceStore, ModelError, Possession, Proof, Request, Subject, Token, TokenId,
    TokenProvider, ToolRef, VerifyContext, possession,
};
use common::*;
use prost::Message;

fn holder() -> HolderSigningKey {
    HolderSigningKey::from_seed(&[7; 32])
}

fn thief() -> HolderSigningKey {
    HolderSigningKey::from_seed(&[8; 32])
}

/// The workload capability, its subject bound to `key`.
fn bound_capability(key: &HolderSigningKey) -> Capability {
    let mut cap = workload::capability(kid("k1"));
    cap.subject = Subject::bound_to_key(workload::SUBJECT, key.public().clone());
    cap
}

/// The 32 bytes of a holder's public key.
fn key_bytes(key: &HolderSigningKey) -> [u8; 32] {
    match key.public() {
        captoken_core_types::HolderKey::Ed25519(k) => *k,
        other => panic!("not an Ed25519 key: {other:?}"),
    }
}

fn bound_root(p: &BiscuitProvider, key: &HolderSigningKey) -> Token {
    p.issue(&bound_capability(key)).unwrap()
}

/// The workload request at `depth`, made by `subject`.
fn by(subject: &str, depth: usize) -> Request {
    Request {
        subject: subject.into(),
        ..workload::request(depth)
    }
}

fn to(subject: &str) -> Attenuation {
    Attenuation::new().delegate(Subject::new(subject))
}

fn decode(token: &Token) -> schema::Biscuit {
    schema::Biscuit::decode(token.as_bytes()).unwrap()
}

fn encode(proto: &schema::Biscuit) -> Token {
    Token::new(FORMAT, proto.encode_to_vec())
}

/// What the reference authorizer says of the token as inspected, for a
/// verifier given no proof of possession; the same as the chain rules
/// followed by the possession check `verify` makes without a context.
fn reference(p: &BiscuitProvider, token: &Token, req: &Request) -> Result<(), DenyReason> {
    let inspected = p.inspect(token).unwrap();
    let hash = p.lineage_hash(token).unwrap();
    let want = authorize(&inspected.capability, &inspected.steps, req).map(|_| ());
    let chain = authorize_chain(&inspected.capability, &inspected.steps, req)
        .and_then(|holder| possession::enforce(None, &verified_as(&inspected, hash, holder), req));
    assert_eq!(want, chain);
    want
}

/// Verifies cold without a possession context, and asserts that the
/// reference gives the same verdict and reason.
fn verdict(p: &BiscuitProvider, token: &Token, req: &Request) -> Result<(), DenyReason> {
    let stores = Stores::new();
    let got = p
        .verify(token, req, &stores.cold())
        .map(|_| ())
        .map_err(|d| d.reason().clone());
    assert_eq!(
        got,
        reference(p, token, req),
        "verify and the reference differ"
    );
    got
}

/// Verifies with a fresh proof of possession by `key`.
fn verify_with_proof(
    p: &BiscuitProvider,
    token: &Token,
    req: &Request,
    key: &HolderSigningKey,
) -> Result<Subject, DenyReason> {
    let stores = Stores::new();
    let nonces = MemoryNonceStore::default();
    let hash = p.lineage_hash(token).unwrap();
    let proof = Proof::sign(hash, req, [3; 16], req.now, key).unwrap();
    let ctx = stores
        .cold()
        .with_possession(Possession::new(&nonces).with_proof(&proof));
    p.verify(token, req, &ctx)
        .map(|v| v.holder)
        .map_err(|d| d.reason().clone())
}

#[test]
fn a_signed_delegation_hands_a_key_bound_token_on() {
    let p = provider();
    let h = holder();
    let root = bound_root(&p, &h);
    let sub = p.attenuate_signed(&root, &to("agent:sub"), &h).unwrap();
    // The step is a third-party block whose external key is the holder's.
    let proto = decode(&sub);
    let external = proto.blocks[0].external_signature.as_ref().unwrap();
    assert_eq!(external.public_key.key, key_bytes(&h).to_vec());
    assert_eq!(proto.blocks[0].version, Some(1));
    // The sub-agent is a bearer: no proof needed.
    assert_eq!(verdict(&p, &sub, &by("agent:sub", 0)), Ok(()));
    let stores = Stores::new();
    let verified = p.verify(&sub, &by("agent:sub", 0), &stores.cold()).unwrap();
    assert_eq!(verified.holder, Subject::new("agent:sub"));
    assert_eq!(verified.chain_len, 1);
    // The original holder no longer holds it, even with a proof.
    assert_eq!(
        verdict(&p, &sub, &workload::request(0)),
        Err(DenyReason::WrongSubject)
    );
    assert_eq!(
        verify_with_proof(&p, &sub, &workload::request(0), &h),
        Err(DenyReason::WrongSubject)
    );
    // The root itself still needs the holder's proof.
    assert_eq!(
        verdict(&p, &root, &workload::request(0)),
        Err(DenyReason::PossessionRequired)
    );
    assert_eq!(
        verify_with_proof(&p, &root, &workload::request(0), &h),
        Ok(bound_capability(&h).subject)
    );
    // Ancestors supplied live are confirmed against the recomputed lineage.
    let ancestors = [root.clone()];
    let ctx = VerifyContext::new(&stores.revoked, &stores.index).with_ancestors(&ancestors);
    assert!(p.verify(&sub, &by("agent:sub", 0), &ctx).is_ok());
    // A holder that is not bound can sign too (any key): the step is then
    // recorded as signed, and hands over as any delegation does.
    let bearer = root_token(&p);
    let signed = p
        .attenuate_signed(&bearer, &to("agent:x"), &thief())
        .unwrap();
    assert_eq!(verdict(&p, &signed, &by("agent:x", 0)), Ok(()));
}

#[test]
fn a_thief_cannot_re_delegate() {
    let p = provider();
    let (h, t) = (holder(), thief());
    let root = bound_root(&p, &h);
    let hash = p.lineage_hash(&root).unwrap();
    // Through the provider: unsigned, or signed by the thief's key, refused.
    assert!(matches!(
        p.attenuate(&root, &to("agent:thief")),
        Err(Error::Model(ModelError::DelegationUnsigned))
    ));
    assert!(matches!(
        p.attenuate_signed(&root, &to("agent:thief"), &t),
        Err(Error::Model(ModelError::DelegationSignature))
    ));
    // A narrowing step needs no signature, and keeps the binding.
    let narrowed = p.attenuate(&root, &workload::step(1)).unwrap();
    assert_eq!(
        verdict(&p, &narrowed, &workload::request(1)),
        Err(DenyReason::PossessionRequired)
    );
    assert!(verify_with_proof(&p, &narrowed, &workload::request(1), &h).is_ok());
    // With biscuit-auth directly: an unsigned block ...
    let unsigned = append_hostile(&p, &root, r#"delegate("agent:thief");"#);
    // ... a third-party block signed by the thief's key ...
    let code = "parent({parent});\ndelegate(\"agent:thief\");";
    let by_thief = append_third_party_raw(&root, hash, code, &biscuit_key(&t));
    assert_eq!(
        p.inspect(&by_thief).unwrap().steps[0].signed_by.as_ref(),
        Some(t.public())
    );
    // ... and a signed narrowing step followed by an unsigned delegation.
    let signed = p.attenuate_signed(&root, &workload::step(1), &h).unwrap();
    let later = append_hostile(&p, &signed, r#"delegate("agent:thief");"#);
    for (forged, depth) in [(&unsigned, 0), (&by_thief, 0), (&later, 1)] {
        for req in [by("agent:thief", depth), workload::request(depth)] {
            assert_eq!(
                verdict(&p, forged, &req),
                Err(DenyReason::UnsignedDelegation),
                "{req:?}"
            );
            // A proof by the genuine holder does not save the chain.
            assert_eq!(
                verify_with_proof(&p, forged, &req, &h),
                Err(DenyReason::UnsignedDelegation)
            );
        }
        // Whatever is appended after it, the chain stays denied.
        let further = p.attenuate(forged, &Attenuation::new()).unwrap();
        assert_eq!(
            verdict(&p, &further, &by("agent:thief", depth)),
            Err(DenyReason::UnsignedDelegation)
        );
    }
    // The same third-party block signed by the holder is the genuine delegation.
    let genuine = append_third_party_raw(&root, hash, code, &biscuit_key(&h));
    assert_eq!(verdict(&p, &genuine, &by("agent:thief", 0)), Ok(()));
}

#[test]
fn a_bound_sub_agent_signs_its_own_delegation() {
    let p = provider();
    let (h, s) = (holder(), HolderSigningKey::from_seed(&[9; 32]));
    let root = bound_root(&p, &h);
    let bound_sub = Subject::bound_to_key("agent:sub", s.public().clone());
    let step = Attenuation::new().delegate(bound_sub.clone());
    // Delegating *to* a bound key still needs the current holder's signature.
    assert!(matches!(
        p.attenuate(&root, &step),
        Err(Error::Model(ModelError::DelegationUnsigned))
    ));
    let sub = p.attenuate_signed(&root, &step, &h).unwrap();
    assert_eq!(
        verdict(&p, &sub, &by("agent:sub", 0)),
        Err(DenyReason::PossessionRequired)
    );
    assert_eq!(
        verify_with_proof(&p, &sub, &by("agent:sub", 0), &s),
        Ok(bound_sub.clone())
    );
    assert_eq!(
        verify_with_proof(&p, &sub, &by("agent:sub", 0), &h),
        Err(DenyReason::ProofSender)
    );
    // Now the sub-agent's key, and only it, hands the capability on.
    assert!(matches!(
        p.attenuate_signed(&sub, &to("agent:leaf"), &h),
        Err(Error::Model(ModelError::DelegationSignature))
    ));
    assert!(matches!(
        p.attenuate(&sub, &to("agent:leaf")),
        Err(Error::Model(ModelError::DelegationUnsigned))
    ));
    let leaf = p.attenuate_signed(&sub, &to("agent:leaf"), &s).unwrap();
    assert_eq!(verdict(&p, &leaf, &by("agent:leaf", 0)), Ok(()));
    assert_eq!(
        verdict(&p, &leaf, &by("agent:sub", 0)),
        Err(DenyReason::WrongSubject)
    );
    // The old holder's key cannot sign past the sub-agent, even by hand.
    let hash = p.lineage_hash(&sub).unwrap();
    let code = "parent({parent});\ndelegate(\"agent:leaf\");";
    let by_old = append_third_party_raw(&sub, hash, code, &biscuit_key(&h));
    assert_eq!(
        verdict(&p, &by_old, &by("agent:leaf", 0)),
        Err(DenyReason::UnsignedDelegation)
    );
    let inspected = p.inspect(&leaf).unwrap();
    assert_eq!(inspected.steps.len(), 2);
    assert_eq!(inspected.steps[0].signed_by.as_ref(), Some(h.public()));
    assert_eq!(inspected.steps[1].signed_by.as_ref(), Some(s.public()));
    assert_eq!(inspected.steps[0].delegate, Some(bound_sub));
}

#[test]
fn a_signed_step_still_narrows() {
    let p = provider();
    let h = holder();
    let root = bound_root(&p, &h);
    let read = ToolRef::new(workload::SERVER, "read_file");
    let step = workload::step(1)
        .keep_only([read])
        .delegate(Subject::new("agent:sub"));
    let child = p.attenuate_signed(&root, &step, &h).unwrap();
    // Its checks see the ambient facts: path, limit, tool, time.
    assert_eq!(verdict(&p, &child, &by("agent:sub", 1)), Ok(()));
    assert_eq!(
        verdict(&p, &child, &by("agent:sub", 0)),
        Err(DenyReason::ConstraintViolated)
    );
    assert_eq!(
        verdict(&p, &child, &by("agent:sub", 1).with_arg("limit", 1000)),
        Err(DenyReason::ConstraintViolated)
    );
    let list = Request {
        tool: "list_dir".into(),
        ..by("agent:sub", 1)
    };
    assert_eq!(verdict(&p, &child, &list), Err(DenyReason::NoMatchingGrant));
    let late = Request {
        now: workload::NOT_BEFORE + workload::VALIDITY - 1,
        ..by("agent:sub", 1)
    };
    assert_eq!(verdict(&p, &child, &late), Err(DenyReason::Expired));
    // The root alone allows all three.
    for req in [workload::request(0), list.clone(), late.clone()] {
        let req = Request {
            subject: workload::SUBJECT.into(),
            ..req
        };
        assert!(verify_with_proof(&p, &root, &req, &h).is_ok(), "{req:?}");
    }
    // Inspection reads the signed step back exactly, with its signer.
    let inspected = p.inspect(&child).unwrap();
    let mut expected = step.clone();
    expected.signed_by = Some(h.public().clone());
    assert_eq!(inspected.steps, vec![expected]);
    // A depth limit in a signed step binds the blocks after it, through the
    // third-party block's own symbol table.
    let last = p
        .attenuate_signed(&root, &to("agent:sub").max_depth(0), &h)
        .unwrap();
    assert!(matches!(
        p.attenuate(&last, &Attenuation::new()),
        Err(Error::Attenuation(AttenuationError::DepthExhausted))
    ));
    let over = append_hostile(&p, &last, "check if true;");
    let stores = Stores::new();
    assert_eq!(
        reason(p.verify(&over, &by("agent:sub", 0), &stores.cold())),
        DenyReason::DepthExceeded
    );
    // First-party blocks after a third-party one continue the token's symbol
    // table, and still narrow.
    let after = p.attenuate(&child, &workload::step(2)).unwrap();
    assert_eq!(verdict(&p, &after, &by("agent:sub", 2)), Ok(()));
    assert_eq!(
        verdict(&p, &after, &by("agent:sub", 1)),
        Err(DenyReason::ConstraintViolated)
    );
    let steps = p.inspect(&after).unwrap().steps;
    assert_eq!(steps[1], workload::step(2));
    assert_eq!(steps[0].signed_by.as_ref(), Some(h.public()));
    // A signed step after a first-party one, and a signed step by the
    // delegate after that, read back too.
    let first = p.attenuate(&root, &workload::step(1)).unwrap();
    let then = p
        .attenuate_signed(
            &first,
            &workload::step(2).delegate(Subject::new("agent:b")),
            &h,
        )
        .unwrap();
    assert_eq!(verdict(&p, &then, &by("agent:b", 2)), Ok(()));
    assert_eq!(
        verdict(&p, &then, &by("agent:b", 1)),
        Err(DenyReason::ConstraintViolated)
    );
}

#[test]
fn a_signed_block_cannot_move_to_another_token() {
    let p = provider();
    let h = holder();
    let root = bound_root(&p, &h);
    let mut other_cap = bound_capability(&h);
    other_cap.id = TokenId([0x33; 16]);
    let other = p.issue(&other_cap).unwrap();
    let sibling = p.attenuate(&root, &workload::step(1)).unwrap();
    let child = p.attenuate_signed(&root, &to("agent:sub"), &h).unwrap();
    let moved_block = decode(&child).blocks[0].clone();
    for target in [&other, &sibling] {
        // Whoever holds the target token re-signs the block under its next
        // key, keeping the block and the holder's external signature.
        let contents = schema::ThirdPartyBlockContents {
            payload: moved_block.block.clone(),
            external_signature: moved_block.external_signature.clone().unwrap(),
        };
        let moved = UnverifiedBiscuit::from(target.as_bytes())
            .unwrap()
            .append_third_party(&contents.encode_to_vec())
            .unwrap()
            .to_vec()
            .unwrap();
        let moved = Token::new(FORMAT, moved);
        let depth = decode(&moved).blocks.len() - 1;
        // The external signature covers the previous block's signature.
        let stores = Stores::new();
        assert_eq!(
            reason(p.verify(&moved, &by("agent:sub", depth), &stores.cold())),
            DenyReason::BadSignature
        );
        // The same block signed afresh by the holder for the target is genuine.
        let fresh = p.attenuate_signed(target, &to("agent:sub"), &h).unwrap();
        assert_eq!(verdict(&p, &fresh, &by("agent:sub", depth)), Ok(()));
    }
}

#[test]
fn a_tampered_external_signature_is_denied() {
    let p = provider();
    let h = holder();
    let root = bound_root(&p, &h);
    let child = p.attenuate_signed(&root, &to("agent:sub"), &h).unwrap();
    let req = by("agent:sub", 0);
    let stores = Stores::new();
    assert!(p.verify(&child, &req, &stores.cold()).is_ok());
    let proto = decode(&child);
    let external = proto.blocks[0].external_signature.clone().unwrap();
    let with = |external: schema::ExternalSignature| {
        let mut tampered = proto.clone();
        tampered.blocks[0].external_signature = Some(external);
        encode(&tampered)
    };
    let mut denials = std::collections::BTreeSet::new();
    for bit in 0..external.signature.len() * 8 {
        let mut e = external.clone();
        e.signature[bit / 8] ^= 1 << (bit % 8);
        let verdict = p.verify(&with(e), &req, &stores.cold());
        denials.insert(format!("{:?}", reason(verdict)));
    }
    for bit in 0..external.public_key.key.len() * 8 {
        let mut e = external.clone();
        e.public_key.key[bit / 8] ^= 1 << (bit % 8);
        let verdict = p.verify(&with(e), &req, &stores.cold());
        denials.insert(format!("{:?}", reason(verdict)));
    }
    // The thief's key in the holder's place.
    let mut e = external.clone();
    e.public_key.key = key_bytes(&thief()).to_vec();
    assert_eq!(
        reason(p.verify(&with(e), &req, &stores.cold())),
        DenyReason::BadSignature
    );
    // Flips are bad signatures, or encodings refused before any signature
    // check (S ≥ ℓ, a key that is no point), never anything else.
    for d in &denials {
        assert!(d == "BadSignature" || d.starts_with("Malformed("), "{d}");
    }
    // Dropping the external signature leaves a block whose signature covers
    // one: a bad signature, not an unsigned delegation.
    let mut stripped = proto.clone();
    stripped.blocks[0].external_signature = None;
    assert_eq!(
        reason(p.verify(&encode(&stripped), &req, &stores.cold())),
        DenyReason::BadSignature
    );
}

#[test]
fn inspect_reports_the_signer() {
    let p = provider();
    let h = holder();
    let root = bound_root(&p, &h);
    let unsigned = p.attenuate(&root, &workload::step(1)).unwrap();
    let signed = p
        .attenuate_signed(
            &unsigned,
            &workload::step(2).delegate(Subject::new("agent:b")),
            &h,
        )
        .unwrap();
    let last = p.attenuate(&signed, &workload::step(3)).unwrap();
    let inspected = p.inspect(&last).unwrap();
    let signers: Vec<_> = inspected
        .steps
        .iter()
        .map(|s| s.signed_by.clone())
        .collect();
    assert_eq!(signers, vec![None, Some(h.public().clone()), None]);
    assert_eq!(inspected.capability, bound_capability(&h));
    // The declared parents are the recomputed lineage, parent first.
    let lineage = p.lineage(&last).unwrap();
    let mut parents = lineage[..3].to_vec();
    parents.reverse();
    assert_eq!(inspected.declared_parents, parents);
    // Signed and unsigned steps read back as taken.
    let mut expected = workload::step(2).delegate(Subject::new("agent:b"));
    expected.signed_by = Some(h.public().clone());
    assert_eq!(
        inspected.steps,
        vec![workload::step(1), expected, workload::step(3)]
    );
    // Parsing the bytes and the text form keeps the third-party block.
    let again = p.parse_text(&p.to_text(&last)).unwrap();
    assert_eq!(again, last);
    assert_eq!(p.lineage_hash(&again).unwrap(), *lineage.last().unwrap());
    // A step set to be signed by hand is refused.
    let mut by_hand = to("agent:c");
    by_hand.signed_by = Some(h.public().clone());
    for result in [
        p.attenuate(&last, &by_hand),
        p.attenuate_signed(&last, &by_hand, &h),
    ] {
        assert!(matches!(
            result,
            Err(Error::Model(ModelError::SignerSetByHand))
        ));
    }
}

#[test]
fn revoking_a_signed_step_denies_its_descendants() {
    let p = provider();
    let h = holder();
    let root = bound_root(&p, &h);
    let signed = p.attenuate_signed(&root, &to("agent:sub"), &h).unwrap();
    let child = p.attenuate(&signed, &workload::step(1)).unwrap();
    let stores = Stores::new();
    assert!(
        p.verify(&child, &by("agent:sub", 1), &stores.cold())
            .is_ok()
    );
    let lineage = p.lineage(&child).unwrap();
    assert_eq!(lineage[1], p.lineage_hash(&signed).unwrap());
    use captoken_core_types::RevocationWriter;
    stores.revoked.revoke(lineage[1]).unwrap();
    assert_eq!(
        reason(p.verify(&child, &by("agent:sub", 1), &stores.cold())),
        DenyReason::Revoked
    );
    assert_eq!(
        reason(p.verify(&signed, &by("agent:sub", 0), &stores.cold())),
        DenyReason::Revoked
    );
    assert_eq!(
        verify_with_proof(&p, &root, &workload::request(0), &h).map(|_| ()),
        Ok(())
    );
}

/// The key that may sign for `holder`: the one it is bound to among `keys`,
/// else the first.
fn key_for<'a>(holder: &Subject, keys: &'a [HolderSigningKey]) -> &'a HolderSigningKey {
    keys.iter()
        .find(|k| holder.holder_key() == Some(k.public()))
        .unwrap_or(&keys[0])
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// On random key-bound capabilities and chains of narrowing and hostile
    /// steps, each taken unsigned or signed (by the holder's key or a
    /// thief's), and possibly handing over to a sub-agent bound to a key: the
    /// provider refuses exactly the steps the rules refuse, inspection reads
    /// back every step with its signer, and the verdict and reason equal the
    /// reference's (followed by the possession check).
    #[test]
    fn signed_chains_follow_the_reference(
        root in testing::capability(),
        seeds in proptest::collection::vec(
            (
                testing::step_seed(),
                proptest::option::weighted(0.3, testing::hostile_step()),
                (
                    proptest::bool::weighted(0.6),
                    proptest::bool::weighted(0.15),
                    proptest::bool::weighted(0.25),
                ),
            ),
            0..5,
        ),
        rs in testing::request_seed(),
    ) {
        let p = provider();
        let keys = [holder(), HolderSigningKey::from_seed(&[9; 32])];
        let t = thief();
        let mut root = root;
        root.subject = Subject::bound_to_key(root.subject.principal.clone(), keys[0].public().clone());
        // Room for the steps: the depth rule has its own tests.
        root.max_depth = root.max_depth.max(4);
        let mut tokens = vec![p.issue(&root).unwrap()];
        let mut steps: Vec<Attenuation> = Vec::new();
        let mut cap = root.clone();
        let mut depth = root.max_depth;
        for (seed, hostile, (sign, wrong, to_bound)) in &seeds {
            let mut step = hostile
                .clone()
                .unwrap_or_else(|| testing::narrowing_step(&cap, seed));
            if *to_bound {
                let principal = step.delegate.as_ref().map_or("agent:s".to_owned(), |d| d.principal.clone());
                step.delegate = Some(Subject::bound_to_key(principal, keys[1].public().clone()));
            }
            let holder = captoken_core_types::reference::current_holder(&root, &steps).clone();
            let key = if *wrong { &t } else { key_for(&holder, &keys) };
            let parent = tokens.last().unwrap();
            let got = if *sign {
                p.attenuate_signed(parent, &step, key)
            } else {
                p.attenuate(parent, &step)
            };
            let refused = step.check_appendable().err().map(|e| format!("{e:?}"))
                .or_else(|| depth.checked_sub(1).is_none().then(|| "depth".to_owned()))
                .or_else(|| (!*sign).then(|| step.check_unsigned_from(&holder).err().map(|e| format!("{e:?}"))).flatten())
                .or_else(|| (*sign && holder.holder_key().is_some_and(|k| k != key.public())).then(|| "signature".to_owned()));
            match (refused, got) {
                (Some(_), Err(_)) => continue,
                (None, Ok(child)) => {
                    tokens.push(child);
                    depth = step.max_depth.map_or(depth - 1, |d| d.min(depth - 1));
                    if let Ok(next) = cap.attenuate(&step) {
                        cap = next;
                    }
                    if *sign {
                        step.signed_by = Some(key.public().clone());
                    }
                    steps.push(step);
                }
                (refused, got) => proptest::prop_assert!(false, "{refused:?} but {got:?} for {step:?}"),
            }
        }
        let leaf = tokens.last().unwrap();
        let inspected = p.inspect(leaf).unwrap();
        proptest::prop_assert_eq!(&inspected.steps, &steps);
        let req = testing::request_for(&root, &steps, &rs);
        let want = reference(&p, leaf, &req);
        let stores = Stores::new();
        let got = p
            .verify(leaf, &req, &stores.cold())
            .map(|_| ())
            .map_err(|d| d.reason().clone());
        proptest::prop_assert_eq!(got, want, "{:?}", req);
        // With the current holder's proof, when it is bound to a key.
        let holder = captoken_core_types::reference::current_holder(&root, &steps);
        if holder.holder_key().is_some() {
            let hash = p.lineage_hash(leaf).unwrap();
            let proof = Proof::sign(hash, &req, [5; 16], req.now, key_for(holder, &keys)).unwrap();
            let (ours, theirs) = (MemoryNonceStore::default(), MemoryNonceStore::default());
            let ctx = stores
                .cold()
                .with_possession(Possession::new(&ours).with_proof(&proof));
            let got = p
                .verify(leaf, &req, &ctx)
                .map(|_| ())
                .map_err(|d| d.reason().clone());
            let check = Possession::new(&theirs).with_proof(&proof);
            let want = authorize_chain(&inspected.capability, &inspected.steps, &req).and_then(
                |h| possession::enforce(Some(&check), &verified_as(&inspected, hash, h), &req),
            );
            proptest::prop_assert_eq!(got, want, "with a proof: {:?}", req);
        }
    }
}
