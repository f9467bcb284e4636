//! Key-set document checks every provider runs on its own key type: export a keyring with an active, a retired and a compromised key, import or apply it, and check that tokens verify or deny as the states say (DESIGN.md §9).
//!
//! [`public_key_set`] is for public-key formats (a verifier builds its
//! keyring from the document); [`shared_key_set`] for shared secrets (a host
//! that holds the secrets applies a document of states). Checks fail by
//! panicking, as tests do.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "key-set checks are tests and fail by panicking"
)]

use std::fmt;

use crate::capability::{KeyId, TokenId};
use crate::error::{Error, KeyError};
use crate::keyring::{KeyState, Keyring};
use crate::keyset::{KeyRecord, KeySetDocument, KeySetError, NO_PUBLIC_HALF, PublicKeyText};
use crate::provider::{DenyReason, Format, Token, TokenProvider};

use super::{KeyPlan, PlannedKey, Stores, workload};

/// Makes a key of id `id` from a seed, with its signing half.
pub type MakeKey<K> = fn(&KeyId, u8) -> Result<K, KeyError>;
/// Makes the provider of a keyring.
pub type MakeProvider<K> = fn(Keyring<K>) -> Box<dyn TokenProvider>;

fn kid(s: &str) -> KeyId {
    KeyId::new(s).unwrap()
}

const T0: u64 = workload::NOT_BEFORE;
const RETIRE_AT: u64 = T0 + 50;

/// Tokens of keys `k0`, `k1`, `k2` (seeds 1, 2, 3), each issued by a provider
/// holding that key alone: `(k0 at T0, k1 at T0, k1 at RETIRE_AT, k2 at T0)`.
struct Issued {
    k0: Token,
    k1: Token,
    k1_late: Token,
    k2: Token,
}

fn issue_all<K: PublicKeyText>(
    make: MakeKey<K>,
    provider: MakeProvider<K>,
    stores: &Stores,
) -> Issued {
    let issue = |id: &str, seed: u8, issued_at: u64| {
        let p = provider(Keyring::single(make(&kid(id), seed).unwrap()));
        let mut cap = workload::capability(kid(id));
        cap.id = TokenId::random().unwrap();
        cap.issued_at = issued_at;
        let token = p.issue(&cap).unwrap();
        stores.record_index(&*p, &token).unwrap();
        token
    };
    Issued {
        k0: issue("k0", 1, T0),
        k1: issue("k1", 2, T0),
        k1_late: issue("k1", 2, RETIRE_AT),
        k2: issue("k2", 3, T0),
    }
}

/// The issuer's keyring: `k0` compromised at T0, `k1` retired at RETIRE_AT,
/// `k2` active and signing.
fn issuer_ring<K: PublicKeyText>(make: MakeKey<K>) -> Keyring<K> {
    let planned = |id: &str, seed: u8, state: KeyState| PlannedKey {
        id: kid(id),
        seed,
        state,
    };
    KeyPlan {
        keys: vec![
            planned("k0", 1, KeyState::Compromised { at: T0 }),
            planned("k1", 2, KeyState::Retired { at: RETIRE_AT }),
            planned("k2", 3, KeyState::Active),
        ],
        signing: Some(kid("k2")),
    }
    .build(make)
    .unwrap()
}

/// Runs `token` against `p` on the workload's request.
fn verdict(p: &dyn TokenProvider, stores: &Stores, token: &Token) -> Result<KeyId, DenyReason> {
    p.verify(token, &workload::request(0), &stores.cold())
        .map(|v| v.key_id)
        .map_err(|d| d.reason().clone())
}

/// A one-record document of `format` as JSON.
fn one_record(format: Format, record: &str) -> String {
    format!(r#"{{"version":1,"format":"{format}","keys":[{record}]}}"#)
}

/// For a public-key format: the issuer exports its keyring (an active, a
/// retired and a compromised key) as JSON; a verifier imports it and its
/// tokens verify or deny as the states say; a later document compromising
/// the active key denies its tokens; malformed and hostile documents are
/// refused, leaving the verifier's keyring unchanged.
pub fn public_key_set<K: PublicKeyText + fmt::Debug>(
    format: Format,
    make: MakeKey<K>,
    provider: MakeProvider<K>,
) {
    let stores = Stores::new();
    let tokens = issue_all(make, provider, &stores);
    let issuer = issuer_ring(make);
    let doc = issuer.to_document(format);
    let json = doc.to_json();
    assert_eq!(doc.signing(), Some(&kid("k2")));
    for (key, _) in issuer.entries() {
        let text = key
            .public_text()
            .expect("a public-key format has public text");
        assert!(json.contains(&text), "{json}");
        // The public text reads back as the same key.
        let back = K::from_public_text(key.id(), &text).unwrap();
        assert_eq!(back.public_text(), Some(text));
        assert!(back.signer().is_none(), "an imported key only verifies");
    }

    // The verifier.
    let read = KeySetDocument::from_json(&json).unwrap();
    assert_eq!(read, doc);
    let ring = Keyring::<K>::from_document(&read, format).unwrap();
    assert_eq!(ring.len(), 3);
    assert_eq!(ring.signing_id(), None);
    assert_eq!(
        ring.state(&kid("k0")),
        Some(KeyState::Compromised { at: T0 })
    );
    assert_eq!(
        ring.state(&kid("k1")),
        Some(KeyState::Retired { at: RETIRE_AT })
    );
    assert_eq!(ring.state(&kid("k2")), Some(KeyState::Active));
    assert_eq!(ring.to_document(format).keys(), doc.keys());

    // Hostile and malformed documents, refused before anything changes.
    let mut ring = ring;
    let before = ring.to_document(format);
    let k1_text = issuer.get(&kid("k1")).unwrap().public_text().unwrap();
    let k2_text = issuer.get(&kid("k2")).unwrap().public_text().unwrap();
    let swapped = KeySetDocument::from_json(&json.replace(&k2_text, &k1_text)).unwrap();
    assert_eq!(
        ring.apply_document(&swapped, format).unwrap_err(),
        KeySetError::Mismatch(kid("k2"))
    );
    // One public key under two ids: named alike in tokens (PASETO), or not
    // (Biscuit names keys by key id), refused either way.
    assert!(matches!(
        Keyring::<K>::from_document(&swapped, format).unwrap_err(),
        KeySetError::Key {
            source: KeyError::Collision { .. },
            ..
        } | KeySetError::SameKey { .. }
    ));
    let mut partial = Keyring::<K>::new();
    partial
        .insert_with_state(
            K::from_public_text(&kid("k1"), &k1_text).unwrap(),
            KeyState::Active,
        )
        .unwrap();
    let under_k9 = KeySetDocument::from_json(&one_record(
        format,
        &format!(r#"{{"id":"k9","status":"active","public":"{k1_text}"}}"#),
    ))
    .unwrap();
    assert!(matches!(
        partial.apply_document(&under_k9, format).unwrap_err(),
        KeySetError::Key {
            source: KeyError::Collision { .. },
            ..
        } | KeySetError::SameKey { .. }
    ));
    assert_eq!(partial.len(), 1);
    let revived = KeySetDocument::from_json(&one_record(
        format,
        &format!(r#"{{"id":"k0","status":"active","public":"{}"}}"#, {
            issuer.get(&kid("k0")).unwrap().public_text().unwrap()
        }),
    ))
    .unwrap();
    assert!(matches!(
        ring.apply_document(&revived, format).unwrap_err(),
        KeySetError::Key { id, source: KeyError::StateRegression { .. } } if id == kid("k0")
    ));
    let garbage = KeySetDocument::from_json(&one_record(
        format,
        r#"{"id":"k9","status":"active","public":"garbage"}"#,
    ))
    .unwrap();
    assert!(matches!(
        ring.apply_document(&garbage, format).unwrap_err(),
        KeySetError::Key { id, source: KeyError::Encoding(_) | KeyError::Invalid(_) } if id == kid("k9")
    ));
    let other = Format::new("other-format-v1");
    assert_eq!(
        ring.apply_document(&issuer.to_document(other), format)
            .unwrap_err(),
        KeySetError::WrongFormat {
            expected: format,
            found: other
        }
    );
    assert_eq!(
        KeySetDocument::from_json(&one_record(
            format,
            &format!(r#"{{"id":"k9","status":"compromised","public":"{k2_text}"}}"#),
        ))
        .unwrap_err(),
        KeySetError::MissingTime(kid("k9"))
    );
    assert!(matches!(
        KeySetDocument::from_json(&json.replacen("\"keys\"", "\"secret\": 1, \"keys\"", 1))
            .unwrap_err(),
        KeySetError::Json(m) if m.contains("unknown field `secret`")
    ));
    assert_eq!(ring.to_document(format), before);

    // Tokens verify or deny as the states say.
    let verifier = provider(ring);
    assert_eq!(verdict(&*verifier, &stores, &tokens.k2).unwrap(), kid("k2"));
    assert_eq!(verdict(&*verifier, &stores, &tokens.k1).unwrap(), kid("k1"));
    assert_eq!(
        verdict(&*verifier, &stores, &tokens.k1_late).unwrap_err(),
        DenyReason::KeyRetired
    );
    assert_eq!(
        verdict(&*verifier, &stores, &tokens.k0).unwrap_err(),
        DenyReason::KeyCompromised
    );
    // The verifier cannot issue.
    assert!(matches!(
        verifier.issue(&workload::capability(kid("k2"))),
        Err(Error::Key(_) | Error::UnknownKey(_))
    ));

    // A later document: k2 is compromised too.
    let mut ring = Keyring::<K>::from_document(&read, format).unwrap();
    let breach = KeySetDocument::from_json(&one_record(
        format,
        &format!(r#"{{"id":"k2","status":"compromised","at":{RETIRE_AT},"public":"{k2_text}"}}"#),
    ))
    .unwrap();
    assert_eq!(ring.apply_document(&breach, format).unwrap(), vec![]);
    let verifier = provider(ring);
    assert_eq!(
        verdict(&*verifier, &stores, &tokens.k2).unwrap_err(),
        DenyReason::KeyCompromised
    );
}

/// For a shared-secret format: the exported document names keys and states
/// and never a secret; it cannot build a verifier; a host holding the secrets
/// applies a document that retires one key and compromises the other, its
/// tokens then deny as the states say, and a key it does not hold is
/// reported as not applied; malformed and hostile documents are refused,
/// leaving the keyring unchanged.
pub fn shared_key_set<K: PublicKeyText + fmt::Debug>(
    format: Format,
    make: MakeKey<K>,
    provider: MakeProvider<K>,
) {
    let stores = Stores::new();
    let tokens = issue_all(make, provider, &stores);
    // The host holds k1 and k2; k2 signs.
    let host = || {
        let mut ring: Keyring<K> =
            Keyring::from_keys([make(&kid("k1"), 2).unwrap(), make(&kid("k2"), 3).unwrap()])
                .unwrap();
        ring.switch_signing(&kid("k2")).unwrap();
        ring
    };
    let ring = host();
    for (key, _) in ring.entries() {
        assert_eq!(key.public_text(), None);
        assert_eq!(
            K::from_public_text(key.id(), "anything").err(),
            Some(NO_PUBLIC_HALF)
        );
    }
    let json = ring.to_document(format).to_json();
    assert!(!json.contains("public"), "{json}");
    let read = KeySetDocument::from_json(&json).unwrap();
    assert_eq!(read.keys().len(), 2);
    assert_eq!(read.signing(), Some(&kid("k2")));
    assert_eq!(
        Keyring::<K>::from_document(&read, format).unwrap_err(),
        KeySetError::NoPublicKey(kid("k1"))
    );

    // Before: every token of a held key verifies.
    let before = provider(host());
    assert_eq!(
        verdict(&*before, &stores, &tokens.k1_late).unwrap(),
        kid("k1")
    );
    assert_eq!(verdict(&*before, &stores, &tokens.k2).unwrap(), kid("k2"));

    // Refused documents change nothing.
    let mut ring = host();
    let unchanged = ring.to_document(format);
    let refused = [
        // The signing key cannot be retired.
        (
            r#"{"id":"k1","status":"compromised","at":1},{"id":"k2","status":"retired","at":5}"#,
            KeySetError::Key {
                id: kid("k2"),
                source: KeyError::SigningKey(kid("k2")),
            },
        ),
        // A shared secret has no public text to give.
        (
            r#"{"id":"k1","status":"compromised","at":1,"public":"x"}"#,
            KeySetError::Key {
                id: kid("k1"),
                source: NO_PUBLIC_HALF,
            },
        ),
    ];
    for (records, error) in refused {
        let doc = KeySetDocument::from_json(&one_record(format, records)).unwrap();
        assert_eq!(ring.apply_document(&doc, format).unwrap_err(), error);
        assert_eq!(ring.to_document(format), unchanged);
    }
    assert_eq!(
        KeySetDocument::from_json(&one_record(
            format,
            r#"{"id":"k1","status":"active","at":1}"#
        ))
        .unwrap_err(),
        KeySetError::UnexpectedTime(kid("k1"))
    );

    // The document: k1 retired at RETIRE_AT, k2 compromised, k3 (not held) compromised.
    let doc = KeySetDocument::new(
        format,
        None,
        vec![
            KeyRecord {
                id: kid("k1"),
                state: KeyState::Retired { at: RETIRE_AT },
                public: None,
            },
            KeyRecord {
                id: kid("k2"),
                state: KeyState::Compromised { at: T0 },
                public: None,
            },
            KeyRecord {
                id: kid("k3"),
                state: KeyState::Compromised { at: T0 },
                public: None,
            },
        ],
    )
    .unwrap();
    let doc = KeySetDocument::from_json(&doc.to_json()).unwrap();
    assert_eq!(ring.apply_document(&doc, format).unwrap(), vec![kid("k3")]);
    assert_eq!(ring.signing_id(), None);
    assert_eq!(ring.len(), 2);
    // Applying it again is a no-op; moving back is refused.
    assert_eq!(ring.apply_document(&doc, format).unwrap(), vec![kid("k3")]);
    assert!(matches!(
        ring.apply_document(&read, format).unwrap_err(),
        KeySetError::Key {
            source: KeyError::StateRegression { .. },
            ..
        }
    ));
    let after = provider(ring);
    assert_eq!(verdict(&*after, &stores, &tokens.k1).unwrap(), kid("k1"));
    assert_eq!(
        verdict(&*after, &stores, &tokens.k1_late).unwrap_err(),
        DenyReason::KeyRetired
    );
    assert_eq!(
        verdict(&*after, &stores, &tokens.k2).unwrap_err(),
        DenyReason::KeyCompromised
    );
    assert!(after.issue(&workload::capability(kid("k2"))).is_err());
}
