//! Hostile blocks a holder appends with biscuit-auth's own API: extra rights, rules, passing checks, policies, forged or copied lineage, and the evaluation bounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and benchmarks fail by panicking"
)]

mod common;

use std::time::Duration;

use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::{KeyPair, UnverifiedBiscuit};
use captoken_biscuit_provider::{BiscuitProvider, FORMAT, Limits, LimitsBuilder, LimitsError};
use captoken_core_types::reference::authorize;
use captoken_core_types::testing::{self, workload};
use captoken_core_types::{
    Attenuation, DenyReason, LineageHash, Request, Subject, Token, TokenProvider,
};
use common::*;
use proptest::prelude::*;

/// Requests around the workload: inside, and outside in every field.
fn probes(subject: &str) -> Vec<Request> {
    let base = Request {
        subject: subject.into(),
        ..workload::request(1)
    };
    let mut all = vec![
        base.clone(),
        Request {
            tool: "write_file".into(),
            ..base.clone()
        },
        Request {
            tool: "list_dir".into(),
            ..base.clone()
        },
        Request {
            server: "fs.external".into(),
            ..base.clone()
        },
        Request {
            subject: "agent:evil".into(),
            ..base.clone()
        },
        Request {
            now: workload::NOT_BEFORE - 1,
            ..base.clone()
        },
        Request {
            now: workload::NOT_BEFORE + workload::VALIDITY,
            ..base.clone()
        },
        base.clone().with_arg("path", "/etc/passwd"),
        base.clone().with_arg("path", "/srv/data/report.txt"),
        base.clone().with_arg("limit", 5000),
        base.clone().with_arg("mode", "rw"),
    ];
    let mut without = base;
    without.args.remove("path");
    all.push(without);
    all
}

/// The parent of the hostile blocks: the workload after one step.
fn parent(p: &BiscuitProvider) -> Token {
    chain(p, 1).pop().unwrap()
}

/// The child allows a probe only if the parent does; with `inert`, exactly when it does.
fn assert_never_widens(
    p: &BiscuitProvider,
    parent: &Token,
    child: &Token,
    inert: bool,
    what: &str,
) {
    let stores = Stores::new();
    for probe in probes(workload::SUBJECT) {
        let by_parent = p.verify(parent, &probe, &stores.cold());
        let by_child = p.verify(child, &probe, &stores.cold());
        if by_child.is_ok() {
            assert!(by_parent.is_ok(), "{what} widened {probe:?}");
        }
        if inert {
            assert_eq!(
                by_child.as_ref().err().map(|d| d.reason().clone()),
                by_parent.as_ref().err().map(|d| d.reason().clone()),
                "{what} changed the verdict on {probe:?}"
            );
        }
    }
}

#[test]
fn facts_claiming_extra_rights_are_invisible() {
    let p = provider();
    let parent = parent(&p);
    let child = append_hostile(
        &p,
        &parent,
        r#"
        right("fs.internal", "write_file");
        right("fs.internal", "read_file");
        right("fs.external", "read_file");
        holder("agent:evil");
        requester("agent:evil");
        subject("agent:evil");
        chain(1);
        time(2026-01-01T00:00:30Z);
        tool("fs.internal", "write_file");
        arg("path", "/srv/data/p1/x");
        arg("limit", 1);
        arg("mode", "ro");
        path_arg("path", "/srv/data/p1/x");
        path_arg("path", "/srv/data/p1/../../../etc/passwd");
        token_id(hex:00000000000000000000000000000000);
        schema_version(2);
        issued_at(2026-01-01T00:00:00Z);
        subject_key(hex:0909090909090909090909090909090909090909090909090909090909090909);
        "#,
    );
    assert_never_widens(&p, &parent, &child, true, "facts");
}

#[test]
fn rules_deriving_rights_are_invisible() {
    let p = provider();
    let parent = parent(&p);
    for code in [
        r#"right($s, $t) <- tool($s, $t);"#,
        r#"right($s, $t) <- tool($s, $t) trusting previous;"#,
        r#"right($s, $t) <- tool($s, $t) trusting authority;"#,
        r#"holder($r) <- requester($r);"#,
        r#"arg("path", "/srv/data/p1/ok") <- tool($s, $t);"#,
        r#"arg("limit", 1) <- tool($s, $t);"#,
        r#"path_arg("path", "/srv/data/p1/ok") <- tool($s, $t);"#,
        r#"path_arg($n, $v) <- arg($n, $v);"#,
        r#"time(2026-01-01T00:00:30Z) <- tool($s, $t);"#,
        r#"chain(1) <- tool($s, $t);"#,
    ] {
        let child = append_hostile(&p, &parent, code);
        assert_never_widens(&p, &parent, &child, true, code);
    }
    // A block-wide scope trusting every previous block changes nothing either.
    let scoped = append_raw(
        &parent,
        p.lineage_hash(&parent).unwrap(),
        "trusting previous;\nparent({parent});\nright($s, $t) <- tool($s, $t);",
    );
    assert_never_widens(&p, &parent, &scoped, true, "trusting previous");
}

#[test]
fn checks_that_always_pass_change_nothing() {
    let p = provider();
    let parent = parent(&p);
    for code in [
        "check if true;",
        "check all tool($s, $t), true;",
        "reject if false;",
        r#"check if requester($r) or true;"#,
        r#"check if holder("agent:planner-7");"#,
    ] {
        let child = append_hostile(&p, &parent, code);
        assert_never_widens(&p, &parent, &child, true, code);
    }
    // A check that fails only restricts. (`check if false` is also how a
    // step that keeps no tool reads, hence its reason.)
    let stores = Stores::new();
    for (code, why) in [
        ("check if false;", DenyReason::NoMatchingGrant),
        (
            r#"check if arg("mode", "rw");"#,
            DenyReason::ConstraintViolated,
        ),
    ] {
        let child = append_hostile(&p, &parent, code);
        assert_never_widens(&p, &parent, &child, false, code);
        assert_eq!(
            reason(p.verify(&child, &workload::request(1), &stores.cold())),
            why
        );
    }
}

#[test]
fn blocks_cannot_carry_policies() {
    // Biscuit's block grammar has no policies, and its protobuf `Block` has no
    // field for them: a holder cannot even write one.
    for code in [
        "allow if true;",
        "deny if false;",
        r#"allow if right("fs.internal", "write_file");"#,
    ] {
        let err = BlockBuilder::new().code(code).unwrap_err();
        assert!(
            matches!(err, biscuit_auth::error::Token::Language(_)),
            "{code}: {err:?}"
        );
    }
}

#[test]
fn forged_parent_hashes_are_denied() {
    let p = provider();
    let tokens = chain(&p, 2);
    let stores = Stores::new();
    let req = workload::request(2);
    let forged = [
        (LineageHash([0; 32]), "parent({parent});"),
        // The grandparent's hash: a real ancestor, the wrong one.
        (p.lineage_hash(&tokens[0]).unwrap(), "parent({parent});"),
        // The right hash declared twice, or next to a wrong one.
        (
            p.lineage_hash(&tokens[2]).unwrap(),
            "parent({parent}); parent({parent});",
        ),
        (
            p.lineage_hash(&tokens[2]).unwrap(),
            "parent({parent}); parent(hex:0000000000000000000000000000000000000000000000000000000000000000);",
        ),
        // No declaration at all, or one of the wrong type.
        (p.lineage_hash(&tokens[2]).unwrap(), "check if true;"),
        (
            p.lineage_hash(&tokens[2]).unwrap(),
            r#"parent("{parent}");"#,
        ),
    ];
    for (hash, code) in forged {
        let child = append_raw(&tokens[2], hash, code);
        assert_eq!(
            reason(p.verify(&child, &req, &stores.cold())),
            DenyReason::LineageMismatch,
            "{code}"
        );
    }
    // The same block with the true hash verifies.
    let child = append_hostile(&p, &tokens[2], "check if true;");
    assert!(p.verify(&child, &req, &stores.cold()).is_ok());
}

#[test]
fn a_block_copied_from_another_token_is_denied() {
    let p = provider();
    let stores = Stores::new();
    let ours = chain(&p, 1);
    let theirs = chain(&p, 2);
    // Re-signed: the Datalog of their block 2 appended to our token. Its
    // parent declaration names their block 1, not ours.
    let source = UnverifiedBiscuit::from(theirs[2].as_bytes())
        .unwrap()
        .print_block_source(2)
        .unwrap();
    let copied = UnverifiedBiscuit::from(ours[1].as_bytes())
        .unwrap()
        .append(BlockBuilder::new().code(&source).unwrap())
        .unwrap();
    let copied = Token::new(FORMAT, copied.to_vec().unwrap());
    assert_eq!(
        reason(p.verify(&copied, &workload::request(2), &stores.cold())),
        DenyReason::LineageMismatch
    );
    // Spliced as signed: their signed block and proof on our chain. The
    // signature was made by a key our chain does not hand over.
    let mut proto: biscuit_auth::format::schema::Biscuit =
        prost::Message::decode(ours[1].as_bytes()).unwrap();
    let their: biscuit_auth::format::schema::Biscuit =
        prost::Message::decode(theirs[2].as_bytes()).unwrap();
    proto.blocks.push(their.blocks[1].clone());
    proto.proof = their.proof.clone();
    let spliced = Token::new(FORMAT, prost::Message::encode_to_vec(&proto));
    assert_eq!(
        reason(p.verify(&spliced, &workload::request(2), &stores.cold())),
        DenyReason::BadSignature
    );
}

#[test]
fn raw_delegation_is_a_delegation_and_nothing_more() {
    let p = provider();
    let stores = Stores::new();
    let parent = parent(&p);
    let child = append_hostile(&p, &parent, r#"delegate("agent:evil");"#);
    // The delegate may exercise exactly what the parent's holder could.
    for probe in probes(workload::SUBJECT) {
        let as_evil = Request {
            subject: "agent:evil".into(),
            ..probe.clone()
        };
        let as_holder = Request {
            subject: workload::SUBJECT.into(),
            ..probe.clone()
        };
        assert_eq!(
            p.verify(&child, &as_evil, &stores.cold()).is_ok(),
            p.verify(&parent, &as_holder, &stores.cold()).is_ok(),
            "{probe:?}"
        );
    }
    assert_eq!(
        reason(p.verify(&child, &workload::request(1), &stores.cold())),
        DenyReason::WrongSubject
    );
    // A derived `delegate` is not a declaration: the holder does not move.
    let derived = append_hostile(&p, &parent, r#"delegate("agent:evil") <- tool($s, $t);"#);
    assert_never_widens(&p, &parent, &derived, true, "derived delegate");
    for bad in [
        r#"delegate(1);"#,
        r#"delegate("a"); delegate("b");"#,
        r#"delegate("a", "b");"#,
    ] {
        let child = append_hostile(&p, &parent, bad);
        assert_eq!(
            reason(p.verify(&child, &workload::request(1), &stores.cold())),
            DenyReason::Malformed("malformed delegate"),
            "{bad}"
        );
    }
}

#[test]
fn captoken_steps_continue_after_a_hostile_block() {
    let p = provider();
    let stores = Stores::new();
    let parent = parent(&p);
    let hostile = append_hostile(
        &p,
        &parent,
        r#"right("fs.internal", "write_file"); check if true;"#,
    );
    let next = p.attenuate(&hostile, &workload::step(2)).unwrap();
    assert!(
        p.verify(&next, &workload::request(2), &stores.cold())
            .is_ok()
    );
    assert!(
        p.verify(&next, &workload::request(1), &stores.cold())
            .is_err()
    );
    // Inspection reports what it cannot read rather than guessing.
    assert!(p.inspect(&next).is_err());
    assert_eq!(
        p.lineage(&next).unwrap()[..2],
        p.lineage(&parent).unwrap()[..]
    );
}

/// A third-party block, signed by any key, is a holder's block like any
/// other: screened by the same bounds, its facts invisible to the authority
/// and the policy, its checks only narrowing. Only an Ed25519 external key is
/// accepted.
#[test]
fn third_party_blocks_are_held_to_the_rules_of_holder_blocks() {
    let p = provider();
    let stores = Stores::new();
    let parent = parent(&p);
    let hash = p.lineage_hash(&parent).unwrap();
    let key = KeyPair::new().private();
    let signed = |code: &str| append_third_party_raw(&parent, hash, code, &key);
    // Facts claiming rights, holders and ambient values change nothing.
    let facts = signed(
        r#"parent({parent});
        right("fs.internal", "write_file");
        holder("agent:evil");
        requester("agent:evil");
        tool("fs.internal", "write_file");
        path_arg("path", "/srv/data/p1/../../../etc/passwd");
        subject_key(hex:0909090909090909090909090909090909090909090909090909090909090909);"#,
    );
    assert_never_widens(&p, &parent, &facts, true, "third-party facts");
    for code in [
        r#"right($s, $t) <- tool($s, $t);"#,
        r#"right($s, $t) <- tool($s, $t) trusting previous;"#,
        "check if true;",
    ] {
        let child = signed(&format!("parent({{parent}});\n{code}"));
        assert_never_widens(&p, &parent, &child, true, code);
        // Not a captoken step: inspection says so rather than guessing.
        assert!(p.inspect(&child).is_err(), "{code}");
    }
    // Its checks see the ambient facts, and narrow.
    let narrowing = signed(r#"parent({parent}); check if tool($s, "list_dir");"#);
    assert_never_widens(&p, &parent, &narrowing, false, "third-party check");
    assert!(
        p.verify(&narrowing, &workload::request(1), &stores.cold())
            .is_err()
    );
    let list = Request {
        tool: "list_dir".into(),
        ..workload::request(1)
    };
    assert!(p.verify(&narrowing, &list, &stores.cold()).is_ok());
    // The static screen holds: operations outside the subset, too many facts.
    let many_facts: String = (0..65).map(|i| format!("f({i});\n")).collect();
    for code in [
        r#"check if arg("path", $p), $p.matches("^/srv/.*$");"#,
        &many_facts,
    ] {
        let child = signed(&format!("parent({{parent}});\n{code}"));
        assert_eq!(
            reason(p.verify(&child, &workload::request(1), &stores.cold())),
            DenyReason::UnknownCaveat,
            "{code:.40}"
        );
    }
    // Lineage is declared as in any block.
    let orphan = signed("check if true;");
    assert_eq!(
        reason(p.verify(&orphan, &workload::request(1), &stores.cold())),
        DenyReason::LineageMismatch
    );
    // A P-256 external key is refused before any signature check.
    let p256 = KeyPair::new_with_algorithm(biscuit_auth::Algorithm::Secp256r1).private();
    let child = append_third_party_raw(&parent, hash, "parent({parent});", &p256);
    let refused =
        DenyReason::Malformed(captoken_biscuit_provider::wire::WireError::ThirdParty.describe());
    assert_eq!(
        reason(p.verify(&child, &workload::request(1), &stores.cold())),
        refused
    );
    assert!(p.inspect(&child).is_err());
    assert!(p.lineage(&child).is_err());
}

#[test]
fn blocks_outside_the_static_bounds_are_refused_before_evaluation() {
    let p = provider();
    let stores = Stores::new();
    let parent = parent(&p);
    let many_rules: String = (0..9)
        .map(|i| format!("r{i}($s) <- tool($s, $t);\n"))
        .collect();
    let many_facts: String = (0..65).map(|i| format!("f({i});\n")).collect();
    for code in [
        // Regular expressions compile a pattern on every evaluation.
        r#"check if arg("path", $p), $p.matches("^/srv/.*$");"#,
        // Closures with parameters iterate sets, and nest.
        r#"check if tool($s, $t), {1, 2, 3}.all($x -> $x > 0);"#,
        r#"check if tool($s, $t), {1, 2}.any($x -> {1, 2}.any($y -> $x == $y));"#,
        // String building.
        r#"check if arg("path", $p), $p + "x" == "y";"#,
        // Foreign functions are not registered.
        r#"check if tool($s, $t), $s.extern::f();"#,
        // A body joining five predicates.
        r#"check if tool($a, $b), arg($c, $d), arg($e, $f), arg($g, $h), time($i);"#,
        // A join over what a holder's own rule may derive (up to the whole fact
        // table), re-run on every iteration.
        "x($a) <- arg($a, $b);\ny($a, $b) <- x($a), x($b);",
        &many_rules,
        &many_facts,
    ] {
        let child = append_hostile(&p, &parent, code);
        let got = p.verify(&child, &workload::request(1), &stores.cold());
        assert_eq!(
            got.map(|_| ()).map_err(|d| d.reason().clone()),
            Err(DenyReason::UnknownCaveat),
            "{code:.60}"
        );
    }
    // Inside the bounds, the same kinds of content evaluate normally.
    for code in [
        r#"check if arg("path", $p), $p.starts_with("/srv/");"#,
        r#"check if tool($s, $t), $s == "fs.internal" && ($t == "read_file" || $t == "list_dir");"#,
        "x($a) <- arg($a, $b);\ncheck if x(\"path\");",
        r#"x($a, $c) <- arg($a, $b), arg($c, $d);"#,
    ] {
        let child = append_hostile(&p, &parent, code);
        assert!(
            p.verify(&child, &workload::request(1), &stores.cold())
                .is_ok(),
            "{code}"
        );
    }
}

#[test]
fn run_limits_are_set_and_enforced() {
    let defaults = Limits::default();
    assert_eq!(defaults.run().max_facts, 1024);
    assert_eq!(defaults.run().max_iterations, 16);
    assert_eq!(defaults.run().max_time, Duration::from_millis(100));
    // Not biscuit-auth's defaults (1000 facts, 100 iterations, 1 ms).
    assert_ne!(*defaults.run(), biscuit_auth::datalog::RunLimits::default());

    let stores = Stores::new();
    let with = |b: LimitsBuilder| {
        let mut ring = captoken_biscuit_provider::BiscuitKeyring::new();
        ring.insert(signing("k1", 1)).unwrap();
        BiscuitProvider::with_limits(ring, b.build().unwrap())
    };
    let p = provider();
    let parent = parent(&p);
    let req = workload::request(1);
    // Facts: the workload needs a dozen; a table of eight is too small.
    let few = with(Limits::builder().run_max_facts(8));
    assert_eq!(
        reason(few.verify(&parent, &req, &stores.cold())),
        DenyReason::Format("datalog run limit: too many facts generated".into())
    );
    // Iterations: a chain of eight rules needs nine.
    let steps: String = std::iter::once("a0(0) <- tool($s, $t);\n".to_owned())
        .chain((1..8).map(|i| format!("a{i}({i}) <- a{}($x);\n", i - 1)))
        .collect();
    let child = append_hostile(&p, &parent, &steps);
    assert!(p.verify(&child, &req, &stores.cold()).is_ok());
    let short = with(Limits::builder().run_max_iterations(4));
    assert_eq!(
        reason(short.verify(&child, &req, &stores.cold())),
        DenyReason::Format("datalog run limit: too many engine iterations".into())
    );
    // Time: checked between iterations and queries; a zero budget always trips it.
    let hasty = with(Limits::builder().run_max_time(Duration::ZERO));
    assert_eq!(
        reason(hasty.verify(&parent, &req, &stores.cold())),
        DenyReason::Format("datalog run limit: spent too much time verifying".into())
    );
    // The least iteration limit biscuit-auth can take: one iteration, which
    // the workload's rules (one productive, one to find the fixpoint) exceed.
    let one = with(Limits::builder().run_max_iterations(1));
    assert_eq!(
        reason(one.verify(&parent, &req, &stores.cold())),
        DenyReason::Format("datalog run limit: too many engine iterations".into())
    );
    // The static bounds are configurable too, downwards.
    let tight = with(Limits::builder().max_work(10));
    assert_eq!(
        reason(tight.verify(&parent, &req, &stores.cold())),
        DenyReason::UnknownCaveat
    );
    let small = with(Limits::builder().max_token_len(100));
    assert_eq!(
        reason(small.verify(&parent, &req, &stores.cold())),
        DenyReason::Malformed("token too long")
    );
}

#[test]
fn limits_cannot_switch_the_screens_off() {
    // Every bound has a ceiling: raising one number past it is refused, so
    // the static screen cannot be disabled by configuration.
    for (field, built) in [
        ("max_work", Limits::builder().max_work(u64::MAX).build()),
        (
            "max_authority_work",
            Limits::builder().max_authority_work(u64::MAX).build(),
        ),
        (
            "max_body_predicates",
            Limits::builder().max_body_predicates(usize::MAX).build(),
        ),
        (
            "max_token_len",
            Limits::builder().max_token_len(usize::MAX).build(),
        ),
        (
            "run_max_iterations",
            Limits::builder().run_max_iterations(0).build(),
        ),
        (
            "run_max_time",
            Limits::builder().run_max_time(Duration::MAX).build(),
        ),
    ] {
        let err: LimitsError = built.unwrap_err();
        assert_eq!(err.field, field);
        assert!(err.value > err.max || err.value < err.min, "{err}");
    }
    // The ceiling itself is accepted.
    let raised = Limits::builder().max_work(1 << 20).build().unwrap();
    assert_eq!(raised.max_work(), 1 << 20);
}

/// Hostile Datalog over the names of `testing`'s pools (servers s1/s2, tools
/// t1/t2, arguments a/b, subjects agent:a/agent:b), none of which delegates.
const HOSTILE_POOL: &[&str] = &[
    r#"right("s1", "t1"); right("s1", "t2"); right("s2", "t1"); right("s2", "t2");"#,
    r#"arg("a", "x"); arg("b", 1); arg("a", true); tool("s1", "t1");"#,
    r#"holder("agent:a"); holder("agent:b"); requester("agent:b"); subject("agent:b");"#,
    r#"time(1970-01-01T00:16:45Z); chain(1);"#,
    r#"right($s, $t) <- tool($s, $t);"#,
    r#"right($s, $t) <- tool($s, $t) trusting previous;"#,
    r#"holder($r) <- requester($r);"#,
    r#"arg("a", "xy") <- tool($s, $t); arg("b", 2) <- tool($s, $t);"#,
    "check if true;",
    "reject if false;",
    "check all tool($s, $t), true;",
    r#"check if tool("s1", "t1") or tool("s2", "t2");"#,
    r#"check if arg("a", $v), $v == "x";"#,
    r#"path_arg("a", "/x/f"); path_arg("b", "/x/../f"); path_arg("a", "/x//f");"#,
    r#"path_arg($n, $v) <- arg($n, $v);"#,
    r#"check if path_arg("a", $p), $p.starts_with("/x/");"#,
    "check if false;",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A hostile raw block anywhere in a random chain never makes it authorize
    /// a request the chain without that block does not (it may deny more,
    /// and it consumes a level of depth).
    #[test]
    fn hostile_raw_blocks_never_widen(
        root in testing::capability(),
        seeds in prop::collection::vec(testing::step_seed(), 0..3),
        at in any::<prop::sample::Index>(),
        snippet in prop::sample::select(HOSTILE_POOL),
        rs in testing::request_seed(),
    ) {
        let p = provider();
        let stores = Stores::new();
        let mut cap = root.clone();
        let mut steps: Vec<Attenuation> = Vec::new();
        for seed in &seeds {
            if cap.max_depth == 0 { break; }
            let step = testing::narrowing_step(&cap, seed);
            cap = cap.attenuate(&step).unwrap();
            steps.push(step);
        }
        // Insert the hostile block after `cut` captoken steps.
        let cut = at.index(steps.len() + 1);
        let mut token = p.issue(&root).unwrap();
        let mut inserted = false;
        for (i, step) in steps.iter().enumerate() {
            if i == cut {
                token = append_hostile(&p, &token, snippet);
                inserted = true;
            }
            match p.attenuate(&token, step) {
                Ok(t) => token = t,
                // The hostile block took the last level of depth.
                Err(_) => return Ok(()),
            }
        }
        if !inserted {
            token = append_hostile(&p, &token, snippet);
        }
        let req = testing::request_for(&root, &steps, &rs);
        let got = p.verify(&token, &req, &stores.cold());
        if got.is_ok() {
            prop_assert!(authorize(&root, &steps, &req).is_ok(), "{} widened {:?}", snippet, req);
        }
        // And the delegate-free hostile block never lets another subject in.
        let other = if req.subject == "agent:a" { "agent:b" } else { "agent:a" };
        let by_other = Request { subject: other.into(), ..req.clone() };
        if p.verify(&token, &by_other, &stores.cold()).is_ok() {
            prop_assert!(authorize(&root, &steps, &by_other).is_ok(), "{} let {} in", snippet, other);
        }
    }
}

#[test]
fn holder_delegation_through_captoken_steps_survives_hostile_blocks() {
    let p = provider();
    let stores = Stores::new();
    let parent = parent(&p);
    let delegated = p
        .attenuate(
            &parent,
            &Attenuation::new().delegate(Subject::new("agent:b")),
        )
        .unwrap();
    let hostile = append_hostile(
        &p,
        &delegated,
        r#"holder("agent:planner-7"); requester("agent:b");"#,
    );
    let by = |s: &str| Request {
        subject: s.into(),
        ..workload::request(1)
    };
    assert!(p.verify(&hostile, &by("agent:b"), &stores.cold()).is_ok());
    assert_eq!(
        reason(p.verify(&hostile, &by(workload::SUBJECT), &stores.cold())),
        DenyReason::WrongSubject
    );
}
