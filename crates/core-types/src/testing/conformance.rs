//! The conformance suite every provider mounts with [`conformance_tests!`](crate::conformance_tests): tamper resistance, opaque denials, request binding, lineage, revocation, fail-closed stores and foreign input, on the DESIGN.md §7 workload.
//!
//! Each check is a function over a [`Setup`], so that a provider's test file
//! mounts all of them in one line and a failure names the provider's test
//! module and the check. Checks fail by panicking, as tests do. What only one
//! format has (pinned encodings, key selection, hostile caveats in its own
//! language) stays in that provider's tests.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "conformance checks are tests and fail by panicking"
)]

use crate::attenuation::Attenuation;
use crate::capability::{KeyId, Subject, TokenId, ToolRef};
use crate::constraint::Constraint;
use crate::error::{AttenuationError, Error, ModelError};
use crate::lineage::{LineageEntry, LineageIndex, MemoryLineageIndex, RevocationWriter};
use crate::possession::{HolderSigningKey, MemoryNonceStore, Possession, Proof};
use crate::provider::{AttenuationMode, DenyReason, Format, Token, TokenProvider, VerifyContext};
use crate::reference::authorize;
use crate::request::Request;

use super::{
    FailingStore, KEY_ID, KeyPlan, PlannedKey, Stores, ancestors_of, deny_reason as reason,
    workload,
};
use crate::error::KeyError;
use crate::holder_keys::{
    self, CompromiseNotice, Endorsement, HolderKeyError, HolderKeys, MemoryHolderKeys,
};
use crate::keyring::KeyState;
use crate::possession::PossessionSettings;

/// A provider under test.
pub struct Setup {
    /// Holds the key [`KEY_ID`], able to issue and verify.
    pub provider: Box<dyn TokenProvider>,
    /// Knows [`KEY_ID`] with different key material: every token of `provider`
    /// must be denied by it.
    pub wrong_key: Box<dyn TokenProvider>,
    /// A provider of this format over the keyring a [`KeyPlan`] describes
    /// (the keyring's own errors passed through), for the key lifecycle checks.
    pub keyed: fn(&KeyPlan) -> Result<Box<dyn TokenProvider>, KeyError>,
}

fn issuer() -> KeyId {
    KeyId::new(KEY_ID).unwrap()
}

/// Re-issued chains: each token is a capability of its own, and its lineage
/// comes from the supplied ancestors or the lineage index.
fn reissues(p: &dyn TokenProvider) -> bool {
    p.properties().attenuation == AttenuationMode::Reissue
}

/// Binary and text forms round-trip; verification reports the token's id, key,
/// lineage hash and depth; inspection recovers the issued capability.
pub fn round_trip(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let token = workload::chain(p, &stores, 0).remove(0);
    assert_eq!(token.format(), p.format());
    assert_eq!(p.parse_bytes(token.as_bytes()).unwrap(), token);
    assert_eq!(p.parse_text(&p.to_text(&token)).unwrap(), token);
    let verified = p
        .verify(&token, &workload::request(0), &stores.cold())
        .unwrap();
    assert_eq!(verified.token_id, TokenId([0x5a; 16]));
    assert_eq!(verified.key_id, issuer());
    assert_eq!(verified.chain_len, 0);
    assert_eq!(verified.format, p.format());
    assert_eq!(verified.issued_at, workload::NOT_BEFORE);
    assert_eq!(verified.holder, Subject::new(workload::SUBJECT));
    assert_eq!(verified.lineage_hash, p.lineage_hash(&token).unwrap());
    let inspected = p.inspect(&token).unwrap();
    assert_eq!(inspected.format, p.format());
    assert_eq!(inspected.capability, workload::capability(issuer()));
    assert!(inspected.steps.is_empty() && inspected.declared_parents.is_empty());
}

/// Every single-bit flip of the workload tokens at depths 0 to 2 is denied.
pub fn every_bit_flip_is_denied(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let tokens = workload::chain(p, &stores, 2);
    for (depth, token) in tokens.iter().enumerate() {
        let req = workload::request(depth);
        assert!(p.verify(token, &req, &stores.cold()).is_ok());
        let bytes = token.as_bytes();
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.to_vec();
            flipped[i / 8] ^= 1 << (i % 8);
            let r = p.verify(&Token::new(p.format(), flipped), &req, &stores.cold());
            assert!(r.is_err(), "depth {depth}: bit {i} flipped still verifies");
        }
    }
}

/// Verifying the text form ([`TokenProvider::verify_text`], which a
/// provider may take as a shortcut) gives the verdict of `parse_text` then
/// `verify`, on genuine tokens and on every truncation, a flipped character
/// at every position, and appended junk of their text.
pub fn text_verification_equals_parse_then_verify(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let tokens = workload::chain(p, &stores, 2);
    for (depth, token) in tokens.iter().enumerate() {
        let req = workload::request(depth);
        let text = p.to_text(token);
        let mut texts = vec![
            text.clone(),
            String::new(),
            format!("{text}A"),
            format!("{text}=="),
        ];
        texts.extend(
            (0..text.len())
                .filter_map(|n| text.get(..n))
                .map(str::to_owned),
        );
        for (i, c) in text.char_indices() {
            let flipped = if c == 'A' { 'B' } else { 'A' };
            let mut t = text.clone();
            t.replace_range(i..i + c.len_utf8(), flipped.encode_utf8(&mut [0; 4]));
            texts.push(t);
        }
        for t in &texts {
            let shortcut = p.verify_text(t, &req, &stores.cold());
            let two_steps = p
                .parse_text(t)
                .map_err(|_| DenyReason::Malformed("not this format's text form").into())
                .and_then(|token| p.verify(&token, &req, &stores.cold()));
            match (&shortcut, &two_steps) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "depth {depth}: {t:.40}"),
                (Err(a), Err(b)) => assert_eq!(
                    a.reason().code(),
                    b.reason().code(),
                    "depth {depth}: {t:.40}"
                ),
                _ => panic!("depth {depth}: {t:.40}: {shortcut:?} against {two_steps:?}"),
            }
        }
    }
}

/// Every truncation of the root and of a depth-1 token is denied, and so are
/// bytes appended to them, binary or text.
pub fn every_truncation_and_extension_is_denied(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let tokens = workload::chain(p, &stores, 1);
    for (depth, token) in tokens.iter().enumerate() {
        let req = workload::request(depth);
        let bytes = token.as_bytes();
        for n in 0..bytes.len() {
            let cut = Token::new(p.format(), bytes[..n].to_vec());
            assert!(
                p.verify(&cut, &req, &stores.cold()).is_err(),
                "depth {depth}: truncated to {n}"
            );
        }
        for suffix in [
            &[0u8][..],
            &[0x0a, 0x00],
            &[0xff; 8],
            b"A",
            b".",
            b"=",
            b"\n",
        ] {
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(suffix);
            let longer = Token::new(p.format(), longer);
            assert!(
                p.verify(&longer, &req, &stores.cold()).is_err(),
                "depth {depth}: {suffix:?} appended"
            );
            let text = format!("{}{}", p.to_text(token), String::from_utf8_lossy(suffix));
            // A text form may tolerate an alias of the same bytes (padding, for
            // interoperability), never a different token that verifies.
            if let Ok(parsed) = p.parse_text(&text) {
                assert!(
                    parsed == *token || p.verify(&parsed, &req, &stores.cold()).is_err(),
                    "depth {depth}: {suffix:?} appended to the text"
                );
            }
        }
    }
}

/// Another key under the same key id is denied, as a bad signature or, in
/// formats that name a key by its fingerprint, as an unknown key; the denial's
/// `Display` says nothing more than that the capability is denied.
pub fn wrong_key_is_denied_opaquely(s: &Setup) {
    let stores = Stores::new();
    for (depth, token) in workload::chain(&*s.provider, &stores, 1).iter().enumerate() {
        let denied = s
            .wrong_key
            .verify(token, &workload::request(depth), &stores.cold())
            .expect_err("another key must not verify");
        assert_eq!(denied.to_string(), "capability denied");
        assert!(
            matches!(
                denied.reason(),
                DenyReason::BadSignature | DenyReason::UnknownKey
            ),
            "depth {depth}: {:?}",
            denied.reason()
        );
    }
}

/// Each field of the request, changed alone, gets the reference authorizer's
/// verdict and reason at depths 0 to 2: subject, server, tool, each argument's
/// value and type, a missing or an extra argument, and the edges of the
/// validity window as the steps move it.
pub fn each_request_field_follows_the_reference(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let cap = workload::capability(issuer());
    for (depth, token) in workload::chain(p, &stores, 2).iter().enumerate() {
        let steps = workload::steps(depth);
        let base = workload::request(depth);
        let mut variants = vec![
            base.clone(),
            Request {
                subject: "agent:other".into(),
                ..base.clone()
            },
            Request {
                server: "fs.external".into(),
                ..base.clone()
            },
            Request {
                tool: "list_dir".into(),
                ..base.clone()
            },
            Request {
                tool: "write_file".into(),
                ..base.clone()
            },
            base.clone().with_arg("path", "/etc/shadow"),
            base.clone().with_arg("path", "/srv/data/report.txt"),
            base.clone().with_arg("path", 7),
            base.clone().with_arg("mode", "rw"),
            base.clone().with_arg("mode", true),
            base.clone().with_arg("limit", 1001),
            base.clone().with_arg("limit", 1000),
            base.clone().with_arg("limit", 999),
            base.clone().with_arg("limit", -1),
            base.clone().with_arg("limit", "10"),
            base.clone().with_arg("extra", true),
        ];
        let mut without = base.clone();
        without.args.remove("mode");
        variants.push(without);
        let end = workload::NOT_BEFORE + workload::VALIDITY;
        for now in [
            0,
            workload::NOT_BEFORE - 1,
            workload::NOT_BEFORE,
            end - 3,
            end - 2,
            end - 1,
            end,
            u64::MAX,
        ] {
            variants.push(Request {
                now,
                ..base.clone()
            });
        }
        // A re-issued token is a capability of its own: its reasons are those
        // of the flattened capability; its verdicts are the reference's.
        let flat = steps
            .iter()
            .try_fold(cap.clone(), |c, step| c.attenuate(step))
            .unwrap();
        let mut allowed = 0;
        for req in &variants {
            let want = authorize(&cap, &steps, req).map(|_| ());
            let got = p
                .verify(token, req, &stores.cold())
                .map(|_| ())
                .map_err(|d| d.reason().clone());
            if reissues(p) {
                assert_eq!(got.is_ok(), want.is_ok(), "depth {depth}: {req:?}");
                assert_eq!(
                    got,
                    flat.authorizes(req).map(|_| ()),
                    "depth {depth}: {req:?}"
                );
            } else {
                assert_eq!(got, want, "depth {depth}: {req:?}");
            }
            allowed += usize::from(want.is_ok());
        }
        // Not vacuous: at depth 0 the root prefix `/srv/data/` allows the
        // shallow path; each step then ends the window a second earlier and
        // lowers the limit's bound by one.
        let expected = [10, 7, 5];
        assert_eq!(
            Some(&allowed),
            expected.get(depth),
            "depth {depth}: {allowed} allowed"
        );
    }
}

/// A step that would widen the parent (later expiry, earlier start, as much
/// or more depth, another tool, a looser constraint) is refused by a
/// re-issuing format; an offline format may append it, but it is inert: the
/// child's verdict and reason on requests inside and outside the parent are the
/// reference's, so it allows nothing its parent denies, and a depth it asks
/// for is not granted. A narrowing step consumes one level of depth, and a
/// parent with none left cannot have a child that verifies.
pub fn widening_steps_are_refused_or_inert(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let ctx = stores.cold();
    let cap = workload::capability(issuer());
    let root = workload::chain(p, &stores, 0).remove(0);
    let read = ToolRef::new(workload::SERVER, "read_file");
    let end = workload::NOT_BEFORE + workload::VALIDITY;
    let widen = [
        Attenuation::new().expires_at(end + 1),
        Attenuation::new().not_before(workload::NOT_BEFORE - 1),
        // The root's own depth: one step spends a level, so asking to keep it widens.
        Attenuation::new().max_depth(workload::MAX_DEPTH),
        Attenuation::new().max_depth(u32::MAX),
        Attenuation::new().keep_only([ToolRef::new(workload::SERVER, "write_file")]),
        Attenuation::new().constrain(read.clone(), "path", Constraint::Prefix("/".into())),
        Attenuation::new().constrain(
            read.clone(),
            "limit",
            Constraint::Range { min: 0, max: 5000 },
        ),
        Attenuation::new().constrain(read, "mode", Constraint::Any),
    ];
    let base = workload::request(0);
    let inside = [
        base.clone(),
        Request {
            tool: "list_dir".into(),
            ..base.clone()
        },
    ];
    let outside = [
        Request {
            now: end,
            ..base.clone()
        },
        Request {
            now: workload::NOT_BEFORE - 1,
            ..base.clone()
        },
        Request {
            tool: "write_file".into(),
            ..base.clone()
        },
        base.clone().with_arg("path", "/etc/shadow"),
        base.clone().with_arg("limit", 5000),
        base.clone().with_arg("mode", "rw"),
    ];
    for probe in &outside {
        assert!(p.verify(&root, probe, &ctx).is_err(), "{probe:?}");
    }
    for step in &widen {
        match p.attenuate(&root, step) {
            Err(Error::Attenuation(_)) => {}
            Err(e) => panic!("{step:?}: refused for the wrong reason: {e}"),
            Ok(child) => {
                assert!(!reissues(p), "a re-issuing format signed {step:?}");
                for probe in inside.iter().chain(&outside) {
                    let got = p.verify(&child, probe, &ctx).map(|_| ());
                    let want = authorize(&cap, std::slice::from_ref(step), probe).map(|_| ());
                    assert_eq!(
                        got.map_err(|d| d.reason().clone()),
                        want,
                        "{step:?} on {probe:?}"
                    );
                }
                assert_eq!(p.inspect(&child).unwrap().steps, vec![step.clone()]);
            }
        }
    }
    // Asking for more depth grants none: one level, spent by the step, and no more.
    let mut one = cap.clone();
    one.max_depth = 1;
    let one = p.issue(&one).unwrap();
    if let Ok(child) = p.attenuate(&one, &Attenuation::new().max_depth(u32::MAX)) {
        assert!(!reissues(p), "a re-issuing format signed more depth");
        assert!(p.verify(&child, &base, &ctx).is_ok());
        spent_has_no_verifying_child(p, &child, &ctx);
    }
    // Re-issued, the child is a capability one level shallower; offline, it
    // is the root capability and one step.
    let inspected = p
        .inspect(&p.attenuate(&root, &workload::step(1)).unwrap())
        .unwrap();
    if reissues(p) {
        assert_eq!(inspected.capability.max_depth, workload::MAX_DEPTH - 1);
    } else {
        assert_eq!(inspected.capability, cap);
        assert_eq!(inspected.steps.len(), 1);
    }
    let mut spent = cap;
    spent.max_depth = 0;
    spent_has_no_verifying_child(p, &p.issue(&spent).unwrap(), &ctx);
}

/// A token with no depth left: attenuating it is refused as exhausted depth,
/// or (offline) gives a child that is denied as exceeding it.
fn spent_has_no_verifying_child(p: &dyn TokenProvider, spent: &Token, ctx: &VerifyContext<'_>) {
    match p.attenuate(spent, &Attenuation::new()) {
        Err(Error::Attenuation(AttenuationError::DepthExhausted)) => {}
        Err(e) => panic!("a spent token's child refused for the wrong reason: {e}"),
        Ok(child) => {
            assert!(!reissues(p), "a re-issuing format attenuated a spent token");
            assert_eq!(
                reason(p.verify(&child, &workload::request(0), ctx)),
                DenyReason::DepthExceeded
            );
        }
    }
}

/// A delegation step moves the subject: the old one is denied, the new one allowed.
pub fn delegation_moves_the_subject(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let root = workload::chain(p, &stores, 0).remove(0);
    let child = p
        .attenuate(
            &root,
            &Attenuation::new().delegate(Subject::new("agent:sub")),
        )
        .unwrap();
    let old = workload::request(0);
    let new = Request {
        subject: "agent:sub".into(),
        ..old.clone()
    };
    assert_eq!(
        reason(p.verify(&child, &old, &stores.cold())),
        DenyReason::WrongSubject
    );
    assert!(p.verify(&child, &new, &stores.cold()).is_ok());
}

/// Up to depth 8, cold verification (lineage from the index, or from the token
/// itself in offline formats) equals live verification (ancestors supplied):
/// the same verdict and the same `Verified`, and the workload request is
/// allowed exactly when it is at least as deep as the token. A re-issued
/// token with neither ancestors nor index rows has an unknown lineage.
pub fn cold_verification_equals_live(s: &Setup) {
    let p = &*s.provider;
    let empty = MemoryLineageIndex::new();
    for depth in 0..=8 {
        let stores = Stores::new();
        // A root of its own, so that no earlier verification has authenticated
        // (and cached) any ancestor of this chain.
        let mut root = workload::capability(issuer());
        root.id = TokenId::random().unwrap();
        let tokens = workload::chain_from(p, &stores, &root, depth);
        let leaf = tokens.last().unwrap();
        let ancestors = ancestors_of(&tokens);
        let live = stores.cold().with_ancestors(&ancestors);
        let live_only = VerifyContext::new(&stores.revoked, &empty).with_ancestors(&ancestors);
        // Before anything authenticated this chain's ancestors: without index
        // rows or supplied ancestors, a re-issued chain's lineage is unknown.
        let nothing = VerifyContext::new(&stores.revoked, &empty);
        let bare = p.verify(leaf, &workload::request(depth), &nothing);
        if depth > 0 && reissues(p) {
            assert_eq!(reason(bare), DenyReason::LineageUnknown);
        } else {
            assert!(
                bare.is_ok(),
                "depth {depth}: an offline chain needs no index"
            );
        }
        for req_depth in 0..=8 {
            let req = workload::request(req_depth);
            let cold = p.verify(leaf, &req, &stores.cold());
            assert_eq!(
                cold.as_ref().ok(),
                p.verify(leaf, &req, &live).as_ref().ok()
            );
            assert_eq!(
                cold.as_ref().ok(),
                p.verify(leaf, &req, &live_only).as_ref().ok(),
                "depth {depth}"
            );
            assert_eq!(
                cold.is_ok(),
                req_depth >= depth,
                "depth {depth}, request depth {req_depth}"
            );
            if let Ok(v) = cold {
                assert_eq!(v.chain_len, depth);
                assert_eq!(v.lineage_hash, p.lineage_hash(leaf).unwrap());
            }
        }
    }
}

/// A forged lineage is never believed. Supplied ancestors that are not the
/// declared ones (another chain's token, a skipped or repeated generation,
/// junk, the right bytes under another format's label) deny in every format,
/// as a lineage mismatch where the forgery is a genuine token of this format
/// (an offline chain carries its own lineage, and supplied ancestors can only
/// confirm it); an index row holding another credential denies.
pub fn forged_lineage_is_never_believed(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let tokens = workload::chain(p, &stores, 2);
    let (leaf, req) = (&tokens[2], workload::request(2));
    let cold = p.verify(leaf, &req, &stores.cold());
    assert!(cold.is_ok());
    let mut other = workload::capability(issuer());
    other.id = TokenId([7; 16]);
    let other = workload::chain_from(p, &Stores::new(), &other, 1);
    let genuine = [
        vec![other[1].clone(), tokens[0].clone()],
        vec![tokens[0].clone()],
        vec![tokens[1].clone(), tokens[1].clone()],
        // The right ancestors, and one more than the chain has.
        vec![tokens[1].clone(), tokens[0].clone(), tokens[0].clone()],
    ];
    let forged = [
        vec![Token::new(p.format(), b"junk".to_vec())],
        vec![Token::new(
            Format::new("another-v1"),
            tokens[1].as_bytes().to_vec(),
        )],
    ];
    // One contract for every format: supplied ancestors that are not the
    // chain's own deny, whether the format needs them or only confirms them.
    for (i, wrong) in genuine.iter().chain(&forged).enumerate() {
        let got = p.verify(leaf, &req, &stores.cold().with_ancestors(wrong));
        if i < genuine.len() {
            assert_eq!(reason(got), DenyReason::LineageMismatch, "ancestors {i}");
        } else {
            assert!(got.is_err(), "ancestors {i}");
        }
    }
    // The right ancestors, and a prefix of them, verify.
    let right = ancestors_of(&tokens);
    assert!(
        p.verify(leaf, &req, &stores.cold().with_ancestors(&right))
            .is_ok()
    );
    assert!(
        p.verify(leaf, &req, &stores.cold().with_ancestors(&right[..1]))
            .is_ok()
    );
    // A fresh chain, whose ancestors no verifier-side cache has seen.
    let fresh = workload::chain(p, &Stores::new(), 2);
    if let Some(parent) = p.index_entry(&fresh[1]).unwrap() {
        // A row sealed for another genuine token of the chain.
        let mut swapped = parent.clone();
        swapped.seal = p.index_entry(&fresh[0]).unwrap().unwrap().seal;
        let index = MemoryLineageIndex::new();
        index.record(swapped).unwrap();
        let got = p.verify(
            &fresh[2],
            &req,
            &VerifyContext::new(&stores.revoked, &index),
        );
        assert_eq!(
            reason(got),
            DenyReason::LineageMismatch,
            "swapped credential"
        );
    } else {
        assert!(!reissues(p), "a re-issued chain needs index rows");
    }
}

/// Cold verification authenticates every lineage-index row it follows
/// (issue 13 §1): a row is the issuer's seal over (format, id, hash, parent),
/// and holds no credential. An index whose rows are altered (parent pointer
/// redirected to an unrevoked credential or dropped, hash field rewritten),
/// truncated (rows missing), invented (garbage seals) or holding another
/// genuine row can make a descendant of a revoked credential deny, never
/// allow; and it makes a genuine chain deny (never allow more) when it does not
/// check. Offline formats, whose tokens carry their whole chain, have no rows.
pub fn a_lying_lineage_index_never_allows(s: &Setup) {
    /// An alteration of a chain's index rows.
    type Edit<'a> = dyn Fn(&mut Vec<LineageEntry>) + 'a;
    let p = &*s.provider;
    // A fresh chain for every case (a root of its own, children of their
    // own), so that no verifier-side cache of authenticated ancestors can
    // answer for the index.
    let chain = || {
        let mut root = workload::capability(issuer());
        root.id = TokenId::random().unwrap();
        let tokens = workload::chain_from(p, &Stores::new(), &root, 3);
        let rows = tokens
            .iter()
            .map(|t| p.index_entry(t).unwrap())
            .collect::<Option<Vec<LineageEntry>>>();
        (tokens, rows)
    };
    if chain().1.is_none() {
        assert!(!reissues(p), "a re-issued chain needs index rows");
        return;
    }
    let mut other = workload::capability(issuer());
    other.id = TokenId([0x77; 16]);
    let unrelated = p.issue(&other).unwrap();
    let unrelated_row = p.index_entry(&unrelated).unwrap().unwrap();
    let unrelated_ref =
        crate::capability::ParentRef::new(p.format(), unrelated_row.token_id, unrelated_row.hash);
    let req = workload::request(3);
    // Verifies the leaf of a fresh chain, with the chain's link `revoke`
    // revoked (if any), against an index holding its rows after `edit`.
    let verify = |revoke: Option<usize>, edit: &Edit<'_>| {
        let (tokens, rows) = chain();
        let mut rows = rows.unwrap();
        let stores = Stores::new();
        if let Some(k) = revoke {
            stores.revoked.revoke(rows[k].hash).unwrap();
        }
        edit(&mut rows);
        for row in rows {
            stores.index.record(row).unwrap();
        }
        p.verify(&tokens[3], &req, &stores.cold())
    };
    let edits: [(&str, &Edit<'_>); 9] = [
        ("genuine", &|_| {}),
        ("parent redirected to an unrevoked root", &|rows| {
            rows[1].parent = Some(unrelated_ref);
        }),
        ("parent dropped", &|rows| rows[1].parent = None),
        ("hash field rewritten", &|rows| {
            rows[1].hash = unrelated_row.hash
        }),
        ("root row missing", &|rows| {
            rows.remove(0);
        }),
        ("middle row missing", &|rows| {
            rows.remove(2);
        }),
        ("seal of an unrelated row", &|rows| {
            rows[1].seal.clone_from(&unrelated_row.seal);
        }),
        ("garbage seal", &|rows| rows[1].seal = vec![0x5a; 64]),
        ("every row points at the unrelated root", &|rows| {
            for row in rows.iter_mut() {
                row.parent = Some(unrelated_ref);
            }
        }),
    ];
    for revoked in [0, 1] {
        for (what, edit) in &edits {
            assert!(
                verify(Some(revoked), edit).is_err(),
                "{what}: a descendant of revoked link {revoked} verifies"
            );
        }
    }
    // Not revoked: the genuine index verifies; a row that is not the declared
    // ancestor's, or whose seal does not check, denies.
    assert!(verify(None, &|_| {}).is_ok());
    for (what, edit) in edits.iter().skip(1) {
        let got = verify(None, edit);
        let want = if what.ends_with("missing") {
            DenyReason::LineageUnknown
        } else {
            DenyReason::LineageMismatch
        };
        assert_eq!(reason(got), want, "{what}");
    }
}

/// Revoking any token of a chain denies it and its descendants, live and cold,
/// and nothing else: its ancestors and an unrelated chain still verify.
pub fn revoking_an_ancestor_denies_descendants_only(s: &Setup) {
    let p = &*s.provider;
    for revoked_at in 0..=4 {
        let stores = Stores::new();
        let tokens = workload::chain(p, &stores, 4);
        let mut other = workload::capability(issuer());
        other.id = TokenId([7; 16]);
        let unrelated = workload::chain_from(p, &stores, &other, 2);
        stores
            .revoked
            .revoke(p.lineage_hash(&tokens[revoked_at]).unwrap())
            .unwrap();
        for (i, t) in tokens.iter().enumerate() {
            let req = workload::request(i);
            let ancestors = ancestors_of(&tokens[..=i]);
            for ctx in [stores.cold(), stores.cold().with_ancestors(&ancestors)] {
                let r = p.verify(t, &req, &ctx);
                if i >= revoked_at {
                    assert_eq!(
                        r.map(|_| ()).map_err(|d| d.reason().clone()),
                        Err(DenyReason::Revoked),
                        "token {i} is below revoked token {revoked_at}"
                    );
                } else {
                    assert!(r.is_ok(), "token {i} is not below revoked {revoked_at}");
                }
            }
        }
        assert!(
            p.verify(&unrelated[2], &workload::request(2), &stores.cold())
                .is_ok()
        );
        // Where issuing is not deterministic, the same capability issued again
        // is another token, with other lineage hashes, untouched at every depth.
        if !p.properties().deterministic_encoding {
            // Its own index (one token id, one row), the same revocation list.
            let elsewhere = Stores::new();
            let again = workload::chain(p, &elsewhere, 4);
            let ctx = VerifyContext::new(&stores.revoked, &elsewhere.index);
            for (i, t) in again.iter().enumerate() {
                assert!(
                    p.verify(t, &workload::request(i), &ctx).is_ok(),
                    "issued again, depth {i}"
                );
            }
        }
    }
}

/// A failing revocation list denies as a store failure; a failing lineage index
/// does too where the format needs it, and changes nothing where it does not.
pub fn store_failure_fails_closed(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    // A root of its own: no verifier-side cache has authenticated its ancestors.
    let mut root = workload::capability(issuer());
    root.id = TokenId::random().unwrap();
    let tokens = workload::chain_from(p, &stores, &root, 1);
    let req = workload::request(1);
    // The index first: a walk that reaches the lists caches the ancestors it
    // authenticated, and a warm verifier needs no index.
    let without_index = p.verify(
        &tokens[1],
        &req,
        &VerifyContext::new(&stores.revoked, &FailingStore),
    );
    if reissues(p) {
        assert_eq!(reason(without_index), DenyReason::Store);
    } else {
        assert!(without_index.is_ok(), "an offline chain needs no index");
    }
    assert_eq!(
        reason(p.verify(
            &tokens[1],
            &req,
            &VerifyContext::new(&FailingStore, &stores.index)
        )),
        DenyReason::Store
    );
}

/// A token relabelled as another format is denied and not inspected; text that
/// is not this provider's token is refused, or parses into one that is denied.
pub fn foreign_input_is_denied(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let token = workload::chain(p, &stores, 0).remove(0);
    let req = workload::request(0);
    let relabelled = Token::new(Format::new("another-v1"), token.as_bytes().to_vec());
    assert!(p.verify(&relabelled, &req, &stores.cold()).is_err());
    assert!(matches!(
        p.inspect(&relabelled),
        Err(Error::WrongFormat { .. })
    ));
    let text = p.to_text(&token);
    let half = text.get(..text.len() / 2).unwrap_or_default();
    let garbage = [
        String::new(),
        "\0".into(),
        "!!!!".into(),
        "v4.public.AAAA".into(),
        "cth1.AAAA".into(),
        "A".repeat(100_000),
        half.to_owned(),
        format!("{half}{half}"),
        text.to_uppercase(),
        text.replace('A', "B"),
    ];
    for g in &garbage {
        if *g == text {
            continue;
        }
        if let Ok(parsed) = p.parse_text(g) {
            assert!(
                p.verify(&parsed, &req, &stores.cold()).is_err(),
                "{:.40} parsed and verified",
                g
            );
        }
    }
}

/// A capability bound to a holder key is issued, and verifies only with a
/// valid proof of possession (DESIGN.md §8): without a possession context or
/// without a proof it is denied with [`DenyReason::PossessionRequired`], a
/// proof by another key or a replayed proof is denied, and the verdict reports
/// the bound holder. Delegating it on needs the holder's signature: an
/// unsigned step and a step signed by another key are refused, a step signed
/// by the holder verifies for the new subject, and so does a signed hand-over
/// to another principal's key set, proved by a key of that set.
pub fn holder_binding_needs_possession(s: &Setup) {
    for holder in holder_keys() {
        binding_needs_possession(s, &holder);
    }
}

/// An Ed25519 holder key and (feature `p256`) a P-256 one.
fn holder_keys() -> Vec<HolderSigningKey> {
    let keys = vec![HolderSigningKey::from_seed(&[7; 32])];
    #[cfg(feature = "p256")]
    let keys = {
        let mut keys = keys;
        keys.push(HolderSigningKey::from_p256_bytes(&[7; 32]).unwrap());
        keys
    };
    keys
}

fn binding_needs_possession(s: &Setup, holder: &HolderSigningKey) {
    let p = &*s.provider;
    let thief = HolderSigningKey::from_seed(&[8; 32]);
    let mut cap = workload::capability(issuer());
    cap.subject = Subject::bound_to_key(workload::SUBJECT, holder.public().clone());
    let stores = Stores::new();
    let root = match p.issue(&cap) {
        Ok(root) => root,
        // A format that cannot carry this key kind says so (Biscuit and P-256).
        Err(Error::Unsupported(_)) if holder.ed25519_seed().is_none() => return,
        Err(e) => panic!("a key-bound capability refused: {e}"),
    };
    stores.record_index(p, &root).unwrap();
    let req = workload::request(0);
    let nonces = MemoryNonceStore::default();
    let checking = Possession::new(&nonces);
    assert_eq!(
        reason(p.verify(&root, &req, &stores.cold())),
        DenyReason::PossessionRequired
    );
    let no_proof = stores.cold().with_possession(checking);
    assert_eq!(
        reason(p.verify(&root, &req, &no_proof)),
        DenyReason::PossessionRequired
    );
    let hash = p.lineage_hash(&root).unwrap();
    let proof = Proof::sign(hash, &req, [1; 16], req.now, holder).unwrap();
    let with_proof = stores.cold().with_possession(checking.with_proof(&proof));
    let verified = p.verify(&root, &req, &with_proof).unwrap();
    assert_eq!(verified.holder, cap.subject);
    assert_eq!(
        reason(p.verify(&root, &req, &with_proof)),
        DenyReason::ProofReplay
    );
    let stolen = Proof::sign(hash, &req, [2; 16], req.now, &thief).unwrap();
    let by_thief = stores.cold().with_possession(checking.with_proof(&stolen));
    assert_eq!(
        reason(p.verify(&root, &req, &by_thief)),
        DenyReason::ProofSender
    );

    let to_thief = Attenuation::new().delegate(Subject::new("agent:thief"));
    assert!(
        matches!(
            p.attenuate(&root, &to_thief),
            Err(Error::Model(ModelError::DelegationUnsigned))
        ),
        "delegated away from a key-bound holder without its signature"
    );
    assert!(
        matches!(
            p.attenuate_signed(&root, &to_thief, &thief),
            Err(Error::Model(ModelError::DelegationSignature))
        ),
        "a thief signed a delegation"
    );
    // The holder hands over to another principal's key set: any key the
    // directory admits for that principal proves possession.
    let other = Subject::bound_to_key_set("agent:other");
    let to_set = Attenuation::new().delegate(other.clone());
    match p.attenuate_signed(&root, &to_set, holder) {
        Ok(child) => {
            stores.record_index(p, &child).unwrap();
            let device = HolderSigningKey::from_seed(&[9; 32]);
            let directory = MemoryHolderKeys::new();
            holder_keys::enroll(
                &directory,
                &other.principal,
                device.public().clone(),
                0,
                u64::MAX,
            )
            .unwrap();
            let by_other = Request {
                subject: other.principal.clone(),
                ..req.clone()
            };
            let hash = p.lineage_hash(&child).unwrap();
            let proof = Proof::sign(hash, &by_other, [4; 16], req.now, &device).unwrap();
            let ctx = stores
                .cold()
                .with_possession(checking.with_proof(&proof).with_holder_keys(&directory));
            assert_eq!(p.verify(&child, &by_other, &ctx).unwrap().holder, other);
        }
        Err(Error::Unsupported(_)) if holder.ed25519_seed().is_none() => {}
        Err(e) => panic!("a signed hand-over to a key set refused: {e}"),
    }
    // A narrowing step needs no signature and keeps the binding.
    let narrowed = p.attenuate(&root, &Attenuation::new()).unwrap();
    stores.record_index(p, &narrowed).unwrap();
    let hash = p.lineage_hash(&narrowed).unwrap();
    let proof = Proof::sign(hash, &req, [3; 16], req.now, holder).unwrap();
    let ctx = stores.cold().with_possession(checking.with_proof(&proof));
    assert_eq!(p.verify(&narrowed, &req, &ctx).unwrap().holder, cap.subject);
    // The holder's signed delegation to a sub-agent verifies for it.
    let sub = Subject::new("agent:sub");
    match p.attenuate_signed(&root, &Attenuation::new().delegate(sub.clone()), holder) {
        Ok(child) => {
            stores.record_index(p, &child).unwrap();
            let by_sub = Request {
                subject: sub.principal.clone(),
                ..req.clone()
            };
            let verified = p.verify(&child, &by_sub, &stores.cold()).unwrap();
            assert_eq!(verified.holder, sub);
        }
        // A format that cannot sign a step says so, and never delegates unsigned.
        Err(Error::Unsupported(_)) => {}
        Err(e) => panic!("signed delegation refused: {e}"),
    }
}

/// A capability bound to its principal's key set (DESIGN.md §9) accepts a
/// proof from any key the holder-key directory admits at the proof's time:
/// two enrolled device keys and a key endorsed by one of them; not a stranger's
/// key, a key outside its validity window, or a key marked compromised (by a
/// notice from another key of the set), which leaves the others working.
/// Without a directory it is denied. It can be narrowed, not handed over.
pub fn key_set_binding_admits_any_active_key(s: &Setup) {
    let p = &*s.provider;
    let seed = |b: u8| HolderSigningKey::from_seed(&[b; 32]);
    let (laptop, phone, session, late, stranger) =
        (seed(21), seed(22), seed(23), seed(24), seed(25));
    let principal = workload::SUBJECT;
    let req = workload::request(0);
    let now = req.now;
    let directory = MemoryHolderKeys::new();
    for device in [&laptop, &phone] {
        holder_keys::enroll(
            &directory,
            principal,
            device.public().clone(),
            now - 3600,
            now + 3600,
        )
        .unwrap();
    }
    holder_keys::enroll(
        &directory,
        principal,
        late.public().clone(),
        now + 100,
        now + 3600,
    )
    .unwrap();
    let mut cap = workload::capability(issuer());
    cap.subject = Subject::bound_to_key_set(principal);
    let stores = Stores::new();
    let root = p.issue(&cap).unwrap();
    stores.record_index(p, &root).unwrap();
    let nonces = MemoryNonceStore::default();
    let mut nonce = 0u8;
    let mut verify = |token: &Token, signer: &HolderSigningKey, dir: Option<&dyn HolderKeys>| {
        nonce += 1;
        let hash = p.lineage_hash(token).unwrap();
        let proof = Proof::sign(hash, &req, [nonce; 16], now, signer).unwrap();
        let mut checking = Possession::new(&nonces).with_proof(&proof);
        if let Some(dir) = dir {
            checking = checking.with_holder_keys(dir);
        }
        p.verify(token, &req, &stores.cold().with_possession(checking))
            .map_err(|d| d.reason().clone())
    };
    for device in [&laptop, &phone] {
        assert_eq!(
            verify(&root, device, Some(&directory)).unwrap().holder,
            cap.subject
        );
    }
    assert_eq!(
        verify(&root, &laptop, None).unwrap_err(),
        DenyReason::HolderKeyUnknown
    );
    assert_eq!(
        verify(&root, &stranger, Some(&directory)).unwrap_err(),
        DenyReason::HolderKeyUnknown
    );
    assert_eq!(
        verify(&root, &late, Some(&directory)).unwrap_err(),
        DenyReason::HolderKeyInactive
    );
    assert_eq!(
        p.verify(&root, &req, &stores.cold()).unwrap_err().reason(),
        &DenyReason::PossessionRequired
    );
    // A session key endorsed by the laptop joins the set; one endorsed by a
    // stranger does not.
    let settings = PossessionSettings::default();
    let endorse = |by: &HolderSigningKey| {
        Endorsement::sign(
            principal,
            session.public().clone(),
            now - 60,
            now + 600,
            now,
            by,
        )
        .unwrap()
    };
    assert!(matches!(
        holder_keys::accept_endorsement(&directory, &endorse(&stranger), now, settings),
        Err(HolderKeyError::SignerNotMember)
    ));
    assert_eq!(
        verify(&root, &session, Some(&directory)).unwrap_err(),
        DenyReason::HolderKeyUnknown
    );
    holder_keys::accept_endorsement(&directory, &endorse(&laptop), now, settings).unwrap();
    verify(&root, &session, Some(&directory)).unwrap();
    // The phone is stolen: the laptop marks it compromised. Its next proof is
    // denied, the other keys keep working, and it can no longer endorse.
    let notice =
        CompromiseNotice::sign(principal, phone.public().clone(), now - 10, now, &laptop).unwrap();
    holder_keys::accept_compromise_notice(&directory, &notice, now, settings).unwrap();
    assert_eq!(
        verify(&root, &phone, Some(&directory)).unwrap_err(),
        DenyReason::HolderKeyCompromised
    );
    verify(&root, &laptop, Some(&directory)).unwrap();
    verify(&root, &session, Some(&directory)).unwrap();
    let by_thief = Endorsement::sign(
        principal,
        stranger.public().clone(),
        now,
        now + 60,
        now,
        &phone,
    )
    .unwrap();
    assert!(matches!(
        holder_keys::accept_endorsement(&directory, &by_thief, now, settings),
        Err(HolderKeyError::SignerNotActive(_))
    ));
    // Narrowing keeps the binding; a hand-over from a key set is refused.
    let narrowed = p.attenuate(&root, &Attenuation::new()).unwrap();
    stores.record_index(p, &narrowed).unwrap();
    assert_eq!(
        verify(&narrowed, &laptop, Some(&directory)).unwrap().holder,
        cap.subject
    );
    assert!(
        p.attenuate(&root, &Attenuation::new().delegate(Subject::new("agent:x")))
            .is_err(),
        "handed over from a key set"
    );
}

/// The rotation runbook of DESIGN.md §9, with tokens in flight at every stage:
/// publish a new key (it verifies, does not sign) → switch signing → retire
/// the old key at T (its tokens issued before T verify, at or after T deny,
/// it signs nothing) → drop it (unknown). No genuine, unexpired token of an
/// active key is denied at any stage; a compromised key's tokens are denied
/// even backdated; a token naming the old key id but signed by other material
/// is denied; a keyring refuses duplicate ids; every verdict names its key.
pub fn issuer_keys_rotate_without_downtime(s: &Setup) {
    use KeyState::{Active, Compromised, Retired};
    let id = |name: &str| KeyId::new(name).unwrap();
    let (old, new) = (id("rot-old"), id("rot-new"));
    let keyring = |keys: &[(&KeyId, u8, KeyState)], signing: &KeyId| {
        (s.keyed)(&KeyPlan {
            keys: keys
                .iter()
                .map(|(id, seed, state)| PlannedKey {
                    id: (*id).clone(),
                    seed: *seed,
                    state: *state,
                })
                .collect(),
            signing: Some(signing.clone()),
        })
        .unwrap()
    };
    let req = workload::request(0);
    let t0 = workload::NOT_BEFORE;
    let retire_at = t0 + 50;
    let stores = Stores::new();
    // The issuer records every token it makes in the lineage index.
    let issue = |p: &dyn TokenProvider, key: &KeyId, issued_at: u64| {
        let mut cap = workload::capability(key.clone());
        cap.id = TokenId::random().unwrap();
        cap.issued_at = issued_at;
        let token = p.issue(&cap)?;
        stores.record_index(p, &token)?;
        Ok::<_, Error>(token)
    };
    let verdict = |p: &dyn TokenProvider, token: &Token| {
        p.verify(token, &req, &stores.cold())
            .map_err(|d| d.reason().clone())
    };
    let key_of = |p: &dyn TokenProvider, token: &Token| verdict(p, token).unwrap().key_id;

    // Stage 0: one key.
    let stage0 = keyring(&[(&old, 1, Active)], &old);
    let a = issue(&*stage0, &old, t0).unwrap();
    // Stage 1: the new key is published; the old one still signs.
    let stage1 = keyring(&[(&old, 1, Active), (&new, 2, Active)], &old);
    assert!(matches!(
        issue(&*stage1, &new, t0),
        Err(Error::Key(KeyError::NotSigningKey { .. }))
    ));
    let b = issue(&*stage1, &old, t0 + 10).unwrap();
    // Made before the retirement is decided, dated at T: denied once retired.
    let at_t = issue(&*stage1, &old, retire_at).unwrap();
    for token in [&a, &b] {
        assert_eq!(key_of(&*stage1, token), old);
    }
    // Stage 2: the new key signs; old tokens still verify.
    let stage2 = keyring(&[(&old, 1, Active), (&new, 2, Active)], &new);
    assert!(matches!(
        issue(&*stage2, &old, t0),
        Err(Error::Key(KeyError::NotSigningKey { .. }))
    ));
    let c = issue(&*stage2, &new, t0 + 20).unwrap();
    assert_eq!(key_of(&*stage2, &a), old);
    assert_eq!(key_of(&*stage2, &c), new);
    // A child of an old token, taken after the switch.
    let child = stage2.attenuate(&a, &workload::step(1)).unwrap();
    stores.record_index(&*stage2, &child).unwrap();
    let child_req = workload::request(1);
    stage2.verify(&child, &child_req, &stores.cold()).unwrap();
    // Stage 3: the old key retires at T.
    let stage3 = keyring(
        &[(&old, 1, Retired { at: retire_at }), (&new, 2, Active)],
        &new,
    );
    for token in [&a, &b] {
        assert_eq!(key_of(&*stage3, token), old);
    }
    assert_eq!(key_of(&*stage3, &c), new);
    stage3.verify(&child, &child_req, &stores.cold()).unwrap();
    assert_eq!(
        verdict(&*stage3, &at_t).unwrap_err(),
        DenyReason::KeyRetired
    );
    assert!(matches!(
        issue(&*stage3, &old, t0),
        Err(Error::Key(KeyError::CannotSign(_)))
    ));
    // A token naming the retired key id, signed by other material.
    let forger = keyring(&[(&old, 9, Active)], &old);
    let forged = issue(&*forger, &old, t0).unwrap();
    assert!(
        verdict(&*stage3, &forged).is_err(),
        "a forged token under a retired key id verified"
    );
    // Stage 4: the old key is dropped.
    let stage4 = keyring(&[(&new, 2, Active)], &new);
    assert_eq!(verdict(&*stage4, &a).unwrap_err(), DenyReason::UnknownKey);
    assert_eq!(key_of(&*stage4, &c), new);
    // An unknown key id, before the new key was published.
    assert_eq!(verdict(&*stage0, &c).unwrap_err(), DenyReason::UnknownKey);
    // Compromised: nothing it made verifies, whatever its date.
    let breach = keyring(
        &[(&old, 1, Compromised { at: retire_at }), (&new, 2, Active)],
        &new,
    );
    for token in [&a, &b, &at_t] {
        assert_eq!(
            verdict(&*breach, token).unwrap_err(),
            DenyReason::KeyCompromised
        );
    }
    assert_eq!(key_of(&*breach, &c), new);
    // A keyring refuses a second key of one id.
    let duplicate = (s.keyed)(&KeyPlan {
        keys: vec![
            PlannedKey {
                id: old.clone(),
                seed: 1,
                state: Active,
            },
            PlannedKey {
                id: old.clone(),
                seed: 2,
                state: Active,
            },
        ],
        signing: None,
    });
    assert_eq!(duplicate.err(), Some(KeyError::DuplicateId(old)));
}

/// Size bounds come before any format work: a request beyond them is denied
/// with [`DenyReason::RequestTooLarge`] by every provider (at every depth), and
/// a capability beyond them is refused at issue.
pub fn size_bounds_are_enforced(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let tokens = workload::chain(p, &stores, 1);
    for (depth, token) in tokens.iter().enumerate() {
        let mut huge = workload::request(depth);
        for i in 0..=crate::bounds::MAX_REQUEST_ARGS {
            huge = huge.with_arg(format!("x{i}"), i64::try_from(i).unwrap());
        }
        assert_eq!(
            reason(p.verify(token, &huge, &stores.cold())),
            DenyReason::RequestTooLarge
        );
        let long = workload::request(depth)
            .with_arg("note", "n".repeat(crate::bounds::MAX_REQUEST_VALUE_LEN + 1));
        assert_eq!(
            reason(p.verify(token, &long, &stores.cold())),
            DenyReason::RequestTooLarge
        );
        // Before any format work: even a token that does not parse is denied
        // for the request's size, not for its own shape.
        let junk = Token::new(p.format(), vec![0xff; 7]);
        assert_eq!(
            reason(p.verify(&junk, &huge, &stores.cold())),
            DenyReason::RequestTooLarge
        );
        let mut total = workload::request(depth);
        for i in 0..5 {
            total = total.with_arg(
                format!("t{i}"),
                "v".repeat(crate::bounds::MAX_REQUEST_VALUE_LEN),
            );
        }
        assert_eq!(
            reason(p.verify(token, &total, &stores.cold())),
            DenyReason::RequestTooLarge,
            "total request size"
        );
        // Just inside the bounds: still allowed.
        let mut wide = workload::request(depth);
        for i in 0..crate::bounds::MAX_REQUEST_ARGS - 3 {
            wide = wide.with_arg(format!("x{i}"), 1);
        }
        assert!(p.verify(token, &wide, &stores.cold()).is_ok());
    }
    let mut cap = workload::capability(issuer());
    for i in 0..=crate::bounds::MAX_GRANTS {
        cap.grants.insert(crate::capability::Grant::new(
            workload::SERVER,
            format!("tool{i}"),
        ));
    }
    assert!(matches!(
        p.issue(&cap),
        Err(Error::Model(ModelError::TooLarge(_)))
    ));
}

/// The workload's `path` is a [`Constraint::Path`]: at every depth, a path that
/// leaves the directory by dot segments, empty segments, encoded dots,
/// backslashes, NUL, or a sibling that shares its bytes is denied, exactly as
/// the reference denies it.
pub fn path_traversal_is_denied(s: &Setup) {
    let p = &*s.provider;
    let stores = Stores::new();
    let cap = workload::capability(issuer());
    let tokens = workload::chain(p, &stores, 2);
    for (depth, token) in tokens.iter().enumerate() {
        let steps = workload::steps(depth);
        let dir = workload::prefix(depth);
        let base = dir.trim_end_matches('/');
        let hostile = [
            format!("{dir}../../../etc/passwd"),
            format!("{dir}./../x"),
            format!("{dir}/../x"),
            format!("{dir}%2e%2e/x"),
            format!("{dir}%2E%2e/x"),
            format!("{dir}..\\x"),
            format!("{dir}x\0"),
            format!("{dir}x/"),
            format!("{dir}..%2f..%2fetc/passwd"),
            format!("{dir}..%5c..%5cetc"),
            format!("{dir}%252e%252e/x"),
            format!("{dir}.../x"),
            format!("{dir}.. /x"),
            format!("{dir}x\n"),
            base.to_owned(),
            format!("{base}x/report.txt"),
            dir.clone(),
        ];
        for path in &hostile {
            let req = workload::request(depth).with_arg("path", path.as_str());
            assert!(
                authorize(&cap, &steps, &req).is_err(),
                "the reference allows {path:?}"
            );
            let got = p.verify(token, &req, &stores.cold());
            assert!(got.is_err(), "depth {depth}: {path:?} allowed");
        }
        let fine = workload::request(depth).with_arg("path", format!("{dir}a/b.txt"));
        assert!(p.verify(token, &fine, &stores.cold()).is_ok());
    }
}

/// One conformance check.
pub type Check = fn(&Setup);

/// Every check with its name, in the order [`conformance_tests!`](crate::conformance_tests)
/// mounts them (both come from the one list in that macro).
pub const CHECKS: &[(&str, Check)] = &crate::conformance_tests!(@list [table]);

/// Mounts every check of [`crate::testing::conformance`] as a `#[test]` in the
/// calling module; `$setup` is an expression of type
/// [`Setup`](crate::testing::conformance::Setup), evaluated once per test.
#[macro_export]
macro_rules! conformance_tests {
    ($setup:expr) => {
        $crate::conformance_tests!(@list [mount $setup]);
    };
    // The one list of checks, handed to `mount` or `table`.
    (@list [$how:ident $($arg:expr)?]) => {
        $crate::conformance_tests! {@$how [$($arg)?]
            round_trip,
            every_bit_flip_is_denied,
            every_truncation_and_extension_is_denied,
            text_verification_equals_parse_then_verify,
            wrong_key_is_denied_opaquely,
            each_request_field_follows_the_reference,
            widening_steps_are_refused_or_inert,
            delegation_moves_the_subject,
            cold_verification_equals_live,
            forged_lineage_is_never_believed,
            revoking_an_ancestor_denies_descendants_only,
            store_failure_fails_closed,
            foreign_input_is_denied,
            a_lying_lineage_index_never_allows,
            holder_binding_needs_possession,
            key_set_binding_admits_any_active_key,
            issuer_keys_rotate_without_downtime,
            size_bounds_are_enforced,
            path_traversal_is_denied,
        }
    };
    (@mount [$setup:expr] $($check:ident,)*) => {
        $(
            #[test]
            fn $check() {
                $crate::testing::conformance::$check(&$setup);
            }
        )*
    };
    (@table [] $($check:ident,)*) => {
        [$((stringify!($check), $crate::testing::conformance::$check as $crate::testing::conformance::Check),)*]
    };
}
