//! The decode target: every provider's readers of arbitrary bytes and arbitrary text, and the consistency of what they read.
//!
//! Input: byte 0 picks the provider, byte 1 the mode, the rest is the payload.
//!
//! | mode (byte 1 mod 4) | what reads the payload |
//! |---|---|
//! | 0, binary | `parse_bytes`, then `inspect`, `lineage_hash`, `index_entry`, `verify` of the payload as a token |
//! | 1, text | `parse_text` of the payload (lossy UTF-8), then the same on the token it gives |
//! | 2, format | the format's own readers ([`Fuzzable::decode_extra`]): macaroon v2 binary and JSON, `ct2` caveats and identifiers; HMAC framing and body; PASERK keys; Biscuit lineage, revocation ids and root keys |
//! | 3, proof | the proof-of-possession decoder (binary and text) and the ordered possession check (format-independent; byte 0 is ignored) |
//!
//! Besides "no panic, no hang", it asserts: a parsed token keeps its bytes and
//! round-trips through its text form; a token from text re-parses from its
//! bytes; `lineage_hash` is a function of the bytes; whatever `inspect` reads
//! is of this format, with as many declared parents as the format implies; an
//! index row names the token's own lineage hash, id and parent; and the reads
//! agree on what parses.

use captoken_core_types::testing::workload;
use captoken_core_types::{
    AttenuationMode, MemoryLineageIndex, MemoryRevocationList, Token, VerifyContext,
};

use crate::providers::{Fuzzable, Role, select};

/// Runs one input.
pub fn run(data: &[u8]) {
    let [selector, mode, payload @ ..] = data else {
        return;
    };
    let (_, p) = select(Role::Corpus, *selector);
    match mode % 4 {
        0 => {
            if let Ok(token) = p.parse_bytes(payload) {
                assert_eq!(
                    token.as_bytes(),
                    payload,
                    "{}: parse_bytes changed the bytes",
                    p.name()
                );
                assert_eq!(
                    token.format(),
                    p.format(),
                    "{}: parse_bytes format",
                    p.name()
                );
                let text = p.to_text(&token);
                match p.parse_text(&text) {
                    Ok(back) => assert_eq!(back, token, "{}: text round trip", p.name()),
                    Err(e) => panic!(
                        "{}: the text of a parsed token does not parse: {e}",
                        p.name()
                    ),
                }
            }
            examine(p, &Token::new(p.format(), payload.to_vec()));
        }
        1 => {
            let text = String::from_utf8_lossy(payload);
            if let Ok(token) = p.parse_text(&text) {
                assert_eq!(
                    token.format(),
                    p.format(),
                    "{}: parse_text format",
                    p.name()
                );
                match p.parse_bytes(token.as_bytes()) {
                    Ok(again) => assert_eq!(again, token, "{}: bytes of a text token", p.name()),
                    Err(e) => panic!("{}: a token read from text does not frame: {e}", p.name()),
                }
                examine(p, &token);
            }
        }
        2 => p.decode_extra(payload),
        _ => proof(payload),
    }
}

/// Every contract reader on one (unverified) token, and their agreement.
fn examine(p: &dyn Fuzzable, token: &Token) {
    let name = p.name();
    let hash = p.lineage_hash(token).ok();
    assert_eq!(
        p.lineage_hash(token).ok(),
        hash,
        "{name}: lineage_hash is not a function"
    );
    let framed = p.parse_bytes(token.as_bytes()).is_ok();
    if hash.is_some() {
        assert!(framed, "{name}: a lineage hash for bytes that do not frame");
    }
    let inspection = p.inspect(token);
    if let Ok(i) = &inspection {
        assert!(
            hash.is_some(),
            "{name}: inspect reads what lineage_hash refuses"
        );
        assert_eq!(i.format, p.format(), "{name}: inspect format");
        match p.properties().attenuation {
            AttenuationMode::Offline => assert_eq!(
                i.declared_parents.len(),
                i.steps.len(),
                "{name}: one declared parent per offline step"
            ),
            AttenuationMode::Reissue => {
                assert!(
                    i.steps.is_empty(),
                    "{name}: re-issued tokens carry no steps"
                );
                let declared: Vec<_> = i.capability.parent.iter().map(|r| r.hash).collect();
                assert_eq!(i.declared_parents, declared, "{name}: declared parent");
            }
        }
    }
    if let Ok(Some(row)) = p.index_entry(token) {
        assert_eq!(Some(row.hash), hash, "{name}: index row hash");
        match &inspection {
            Ok(i) => {
                assert_eq!(row.token_id, i.capability.id, "{name}: index row id");
                assert_eq!(row.parent, i.capability.parent, "{name}: index row parent");
            }
            Err(e) => panic!("{name}: an index row for a token inspect refuses: {e}"),
        }
    }
    // Verification of whatever this is must not panic; the verify target owns its verdicts.
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let _ = p.verify(
        token,
        &workload::request(0),
        &VerifyContext::new(&revoked, &index),
    );
}

/// The proof decoder: a proof that decodes re-encodes to the same bytes (one
/// proof, one encoding) and round-trips through its text form; the text reader
/// never panics; and no fuzzed proof passes the possession check, whose
/// signature it cannot have made.
fn proof(payload: &[u8]) {
    use captoken_core_types::possession::{
        Account, MemoryNonceStore, Possession, Proof, check_proof,
    };
    use captoken_core_types::{LineageHash, Subject};
    let _ = Proof::from_text(&String::from_utf8_lossy(payload));
    let Ok(proof) = Proof::from_bytes(payload) else {
        return;
    };
    assert_eq!(proof.to_bytes(), payload, "proof: not its one encoding");
    assert_eq!(
        Proof::from_text(&proof.to_text()).ok().as_ref(),
        Some(&proof),
        "proof: text round trip"
    );
    let store = MemoryNonceStore::default();
    let holder = Subject::bound_to_key("agent:a", proof.signer().clone());
    let request = workload::request(0);
    let account = Account::of(
        captoken_core_types::Format::new("fuzz"),
        &crate::providers::key_id(),
        &captoken_core_types::TokenId([0; 16]),
    );
    let verdict = check_proof(
        &Possession::new(&store).with_proof(&proof),
        &holder,
        &LineageHash([0; 32]),
        &request,
        &account,
    );
    assert!(
        verdict.is_err(),
        "proof: a fuzzed proof passed the possession check"
    );
}
