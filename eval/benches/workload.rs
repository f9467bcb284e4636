//! Criterion benchmarks of the DESIGN.md §7 workload for every provider, its cryptographic floor and its peers.
//!
//! Groups are operations (`verify`, `issue`, `attenuate`), function ids are
//! series (the names in `captoken_eval::report::COMPARISONS`), parameters are
//! chain depths; `captoken-eval timings` reads the medians back by those names.
//! Every series is checked to accept the workload before it is timed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark with a broken setup must stop"
)]

use std::hint::black_box;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_biscuit_provider::RootSigningKey;
use captoken_core_types::testing::workload;
use captoken_core_types::{
    HolderKey, LineageHash, LineageIndex, MemoryLineageIndex, MemoryRevocationList, MemoryStores,
    Token, TokenId, TokenProvider, VerifyContext,
};
use captoken_eval::candidate::{
    Biscuit, Candidate, Hmac, Macaroon, PasetoLocal, PasetoPublic, key_id,
};
use captoken_eval::measure::workload_chain;
use captoken_eval::peers::jwt::JwtPeer;
use captoken_eval::peers::tenuo::{TenuoPeer, wall_clock_now};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hmac::Mac as _;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The secret every candidate's `provider(0)` holds (see `candidate::secret`).
const SECRET: [u8; 32] = [1; 32];

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A chain of the workload up to depth 16, recorded in a lineage index.
fn chain<P: TokenProvider>(p: &P, index: &MemoryLineageIndex) -> Vec<Token> {
    let tokens = workload_chain(p, 16).expect("workload chain");
    for t in &tokens {
        if let Some(entry) = p.index_entry(t).expect("index entry") {
            index.record(entry).expect("record");
        }
    }
    tokens
}

/// Issue, attenuate and (cold) verify of one candidate at every depth.
fn provider<C: Candidate>(c: &mut Criterion) {
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let tokens = chain(&p, &index);
    let ctx = VerifyContext::new(&revoked, &index);
    let root = workload::capability(key_id());
    c.benchmark_group("issue")
        .bench_function(BenchmarkId::new(C::NAME, 0), |b| {
            b.iter(|| p.issue(black_box(&root)))
        });
    let mut group = c.benchmark_group("attenuate");
    for depth in workload::DEPTHS.iter().copied().filter(|d| *d > 0) {
        let parent = &tokens[depth - 1];
        let step = workload::step(depth);
        group.bench_function(BenchmarkId::new(C::NAME, depth), |b| {
            b.iter(|| p.attenuate(black_box(parent), black_box(&step)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let token = &tokens[depth];
        let request = workload::request(depth);
        assert!(
            p.verify(token, &request, &ctx).is_ok(),
            "{} denies the workload at depth {depth}",
            C::NAME
        );
        group.bench_function(BenchmarkId::new(C::NAME, depth), |b| {
            b.iter(|| p.verify(black_box(token), black_box(&request), &ctx))
        });
    }
    group.finish();
}

/// Cold verification of a re-issued chain with the verifier's cache of
/// authenticated ancestors switched off: every lineage-index row the walk
/// follows is re-opened (MAC or signature) and re-hashed (issue 13). The
/// `verify` series of the same provider is the warm case, where the rows were
/// authenticated once and come from the cache.
fn uncached_lineage<C: Candidate>(
    c: &mut Criterion,
    no_cache: impl Fn(C::Provider) -> C::Provider,
) {
    let p = no_cache(C::provider(0));
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let tokens = chain(&p, &index);
    let ctx = VerifyContext::new(&revoked, &index);
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let token = &tokens[depth];
        let request = workload::request(depth);
        assert!(p.verify(token, &request, &ctx).is_ok());
        group.bench_function(
            BenchmarkId::new(format!("{}-no-row-cache", C::NAME), depth),
            |b| b.iter(|| p.verify(black_box(token), black_box(&request), &ctx)),
        );
    }
    group.finish();
}

/// The worst request for a root token (issue 13): 100 000 arguments. The size
/// bounds of `core-types` refuse it before the token is parsed, so it must cost
/// about what the workload request costs, in every format.
fn huge_request<C: Candidate>(c: &mut Criterion) {
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let tokens = chain(&p, &index);
    let ctx = VerifyContext::new(&revoked, &index);
    let mut huge = workload::request(0);
    for i in 0..100_000 {
        huge = huge.with_arg(format!("x{i}"), 1);
    }
    assert!(p.verify(&tokens[0], &huge, &ctx).is_err());
    c.benchmark_group("verify")
        .bench_function(BenchmarkId::new(format!("{}-100k-args", C::NAME), 0), |b| {
            b.iter(|| p.verify(black_box(&tokens[0]), black_box(&huge), &ctx))
        });
}

/// Proof of possession (ADR 0004): the ordered check of one fresh proof (one
/// Ed25519 verification and one nonce reservation; signing the proof is the
/// holder's cost, outside the timing), and the in-memory nonce store's
/// `reserve` on one thread and on two (throughput: every thread reserves its
/// own fresh nonces in the one store).
fn possession(c: &mut Criterion) {
    use captoken_core_types::possession::{
        Account, HolderSigningKey, MemoryNonceStore, NonceStore, Possession, Proof, check_proof,
    };
    use captoken_core_types::{HolderKey, LineageHash, Subject, TokenId};
    use std::sync::atomic::{AtomicU64, Ordering};
    let key = HolderSigningKey::from_seed(&[7; 32]);
    let holder = Subject::bound_to_key(workload::SUBJECT, key.public().clone());
    let request = workload::request(0);
    let token = LineageHash([3; 32]);
    let account = Account::of(Hmac::provider(0).format(), &key_id(), &TokenId([3; 16]));
    let store = MemoryNonceStore::new(usize::MAX, usize::MAX);
    let counter = AtomicU64::new(0);
    let fresh = |n: u64| {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&n.to_be_bytes());
        nonce
    };
    let mut group = c.benchmark_group("possession");
    group.bench_function(BenchmarkId::new("check-proof", 0), |b| {
        b.iter_batched(
            || {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                Proof::sign(token, &request, fresh(n), workload::NOW, &key).expect("sign")
            },
            |proof| {
                check_proof(
                    &Possession::new(&store).with_proof(&proof),
                    &holder,
                    &token,
                    &request,
                    &account,
                )
                .expect("a fresh proof passes")
            },
            criterion::BatchSize::SmallInput,
        )
    });
    let scope = HolderKey::Ed25519([1; 32]);
    for threads in [1usize, 2] {
        let store = MemoryNonceStore::new(usize::MAX, usize::MAX);
        let next = AtomicU64::new(0);
        group.bench_function(BenchmarkId::new("nonce-reserve-threads", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let r = store.reserve(&scope, &fresh(n), u64::MAX, 0, &account);
                    black_box(r.expect("reserve"));
                })
            })
        });
    }
    group.finish();
}

/// HMAC tokens: one HMAC-SHA256 over the bytes each token's tag covers.
fn hmac_floor(c: &mut Criterion) {
    let tokens = chain(&Hmac::provider(0), &MemoryLineageIndex::new());
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let framed = captoken_hmac_provider::wire::frame(tokens[depth].as_bytes()).expect("framed");
        let (signed, tag) = (framed.signed.to_vec(), framed.tag.to_vec());
        assert_eq!(
            hmac_sha256(&SECRET, &signed).as_slice(),
            tag.as_slice(),
            "the floor must verify"
        );
        group.bench_function(BenchmarkId::new("floor-hmac-sha256", depth), |b| {
            b.iter(|| {
                let mut mac =
                    HmacSha256::new_from_slice(black_box(&SECRET)).expect("any key length");
                mac.update(black_box(&signed));
                mac.verify_slice(black_box(&tag))
            })
        });
        // DESIGN.md §12: the MAC and the token's lineage hash, both unavoidable.
        let bytes = tokens[depth].as_bytes().to_vec();
        let format = Hmac::provider(0).format();
        group.bench_function(BenchmarkId::new("floor-hmac-lineage", depth), |b| {
            b.iter(|| {
                let mut mac =
                    HmacSha256::new_from_slice(black_box(&SECRET)).expect("any key length");
                mac.update(black_box(&signed));
                let ok = mac.verify_slice(black_box(&tag));
                (ok, LineageHash::compute(format, black_box(&bytes)))
            })
        });
    }
    group.finish();
}

/// Macaroons: the HMAC chain a verifier cannot avoid, one HMAC-SHA256 per link
/// (the identifier and every caveat), from the derived root key.
fn macaroon_floor(c: &mut Criterion) {
    use captoken_macaroon_provider::wire::Macaroon as Wire;
    let tokens = chain(&Macaroon::provider(0), &MemoryLineageIndex::new());
    let derived = hmac_sha256(b"macaroons-key-generator", &SECRET);
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let m = Wire::decode(tokens[depth].as_bytes()).expect("v2 macaroon");
        let links: Vec<Vec<u8>> = std::iter::once(m.identifier.clone())
            .chain(m.caveats.iter().map(|c| c.id.clone()))
            .collect();
        let chain_sig = |links: &[Vec<u8>]| {
            links
                .iter()
                .fold(derived, |sig, link| hmac_sha256(&sig, link))
        };
        assert_eq!(
            chain_sig(&links),
            m.signature,
            "the floor must reproduce the signature"
        );
        group.bench_function(BenchmarkId::new("floor-hmac-chain", depth), |b| {
            b.iter(|| chain_sig(black_box(&links)))
        });
        // The floor as issue 3 states it: one HMAC per chain link counted by
        // delegation step (the identifier and each step's boundary caveat).
        let per_step: Vec<Vec<u8>> = links
            .iter()
            .enumerate()
            .filter(|(i, l)| *i == 0 || l.starts_with(b"ct2 step "))
            .map(|(_, l)| l.clone())
            .collect();
        assert_eq!(per_step.len(), depth + 1);
        group.bench_function(BenchmarkId::new("floor-hmac-per-step", depth), |b| {
            b.iter(|| chain_sig(black_box(&per_step)))
        });
    }
    group.finish();
}

/// PASETO's pre-authentication encoding (PAE).
fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = u64::try_from(pieces.len())
        .expect("count")
        .to_le_bytes()
        .to_vec();
    for p in pieces {
        out.extend_from_slice(&u64::try_from(p.len()).expect("length").to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// PASETO v4.public: one Ed25519 `verify_strict` over the token's PAE.
fn paseto_floor(c: &mut Criterion) {
    let p = PasetoPublic::provider(0);
    let public = p
        .keys()
        .get(&key_id())
        .expect("verifying key")
        .verifying_key()
        .to_bytes();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public).expect("point");
    let tokens = chain(&p, &MemoryLineageIndex::new());
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let text = p.to_text(&tokens[depth]);
        let (message, footer) = text
            .strip_prefix("v4.public.")
            .and_then(|b| b.split_once('.'))
            .expect("parts");
        let message = Base64UrlUnpadded::decode_vec(message).expect("base64");
        let footer = Base64UrlUnpadded::decode_vec(footer).expect("base64");
        let (payload, sig) = message.split_at(message.len() - 64);
        let m2 = pae(&[
            b"v4.public.",
            payload,
            &footer,
            captoken_paseto_provider::IMPLICIT_ASSERTION,
        ]);
        let sig = ed25519_dalek::Signature::from_slice(sig).expect("signature");
        assert!(vk.verify_strict(&m2, &sig).is_ok(), "the floor must verify");
        group.bench_function(BenchmarkId::new("floor-ed25519", depth), |b| {
            b.iter(|| black_box(&vk).verify_strict(black_box(&m2), black_box(&sig)))
        });
    }
    group.finish();
}

/// jsonwebtoken HS256 with the same claims, depth 0 (JWT has no attenuation).
fn jwt_peer(c: &mut Criterion) {
    let peer = JwtPeer::new(&SECRET);
    let token = peer.issue(&workload::capability(key_id())).expect("jwt");
    let request = workload::request(0);
    assert!(
        peer.verify(&token, &request).is_ok(),
        "the JWT peer denies the workload"
    );
    c.benchmark_group("verify")
        .bench_function(BenchmarkId::new("peer-jsonwebtoken-hs256", 0), |b| {
            b.iter(|| peer.verify(black_box(&token), black_box(&request)))
        });
}

/// Raw pasetors on the same v4.public token, depth 0: parse, verify, parse the
/// claims with pasetors' `Claims`, check the window at the request's `now`.
fn pasetors_peer(c: &mut Criterion) {
    use pasetors::claims::Claims;
    use pasetors::keys::AsymmetricPublicKey;
    use pasetors::token::UntrustedToken;
    use pasetors::version4::{PublicToken, V4};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    let p = PasetoPublic::provider(0);
    let public = p
        .keys()
        .get(&key_id())
        .expect("verifying key")
        .verifying_key()
        .to_bytes();
    let pk = AsymmetricPublicKey::<V4>::from(&public).expect("public key");
    let text = p.to_text(&p.issue(&workload::capability(key_id())).expect("issue"));
    let now = OffsetDateTime::from_unix_timestamp(i64::try_from(workload::NOW).expect("time"))
        .expect("time");
    let verify = |text: &str| -> bool {
        let Ok(untrusted) = UntrustedToken::<pasetors::Public, V4>::try_from(text) else {
            return false;
        };
        let Ok(trusted) = PublicToken::verify(
            &pk,
            &untrusted,
            None,
            Some(captoken_paseto_provider::IMPLICIT_ASSERTION),
        ) else {
            return false;
        };
        let Ok(claims) = Claims::from_string(trusted.payload()) else {
            return false;
        };
        let time = |name| {
            claims
                .get_claim(name)
                .and_then(|v| v.as_str())
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        };
        matches!((time("nbf"), time("exp")), (Some(nbf), Some(exp)) if nbf <= now && now < exp)
    };
    assert!(verify(&text), "raw pasetors must accept the token");
    c.benchmark_group("verify")
        .bench_function(BenchmarkId::new("peer-pasetors", 0), |b| {
            b.iter(|| verify(black_box(&text)))
        });
}

/// The `macaroon` crate verifying captoken's own v2 macaroons with the same root
/// secret: decoding and the HMAC chain. Its verifier takes plain `fn` pointers,
/// which cannot see the request, so caveats are accepted by language prefix.
fn macaroon_crate_peer(c: &mut Criterion) {
    fn ct2(caveat: &macaroon::ByteString) -> bool {
        caveat.0.starts_with(b"ct2 ")
    }
    macaroon::initialize().expect("libsodium");
    let key = macaroon::MacaroonKey::generate(&SECRET);
    let mut verifier = macaroon::Verifier::default();
    verifier.satisfy_general(ct2);
    let tokens = chain(&Macaroon::provider(0), &MemoryLineageIndex::new());
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let bytes = tokens[depth].as_bytes().to_vec();
        let check = |bytes: &[u8]| {
            macaroon::Macaroon::deserialize_binary(bytes)
                .and_then(|m| verifier.verify(&m, &key, Vec::new()))
                .is_ok()
        };
        assert!(
            check(&bytes),
            "the macaroon crate must verify captoken's macaroon at depth {depth}"
        );
        group.bench_function(BenchmarkId::new("peer-macaroon-crate", depth), |b| {
            b.iter(|| check(black_box(&bytes)))
        });
    }
    group.finish();
}

/// Biscuit: raw biscuit-auth and the Ed25519 floor.
mod biscuit {
    use super::*;
    use biscuit_auth::Biscuit;
    use biscuit_auth::builder::Term;
    use biscuit_auth::format::schema;
    use biscuit_auth::macros::authorizer;
    use captoken_core_types::{Request, Value};
    use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

    /// The hand-written authorizer of a raw biscuit-auth user for the workload request.
    pub(super) fn raw_verify(
        bytes: &[u8],
        root: biscuit_auth::PublicKey,
        req: &Request,
        blocks: i64,
        limits: &biscuit_auth::AuthorizerLimits,
    ) -> Result<usize, biscuit_auth::error::Token> {
        let token = Biscuit::from(bytes, root)?;
        let arg = |k: &str| match &req.args[k] {
            Value::Str(s) => Term::Str(s.clone()),
            Value::Int(i) => Term::Integer(*i),
            Value::Bool(b) => Term::Bool(*b),
        };
        let mut authorizer = authorizer!(
            r#"
            requester({subject});
            holder({subject});
            chain({blocks});
            time({now});
            tool({server}, {tool});
            arg("path", {path});
            arg("mode", {mode});
            arg("limit", {limit});
            path_arg("path", {path});
            allow if tool($s, $t), right($s, $t);
            "#,
            subject = req.subject.as_str(),
            blocks = blocks,
            now = Term::Date(req.now),
            server = req.server.as_str(),
            tool = req.tool.as_str(),
            path = arg("path"),
            mode = arg("mode"),
            limit = arg("limit"),
        )
        .set_limits(limits.clone())
        .build(&token)?;
        authorizer.authorize()
    }

    /// The payload each block's signature covers (biscuit-auth 6's formats v0 and v1).
    fn signed_payloads(proto: &schema::Biscuit) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut prev_sig: Option<&[u8]> = None;
        for s in std::iter::once(&proto.authority).chain(&proto.blocks) {
            let version = s.version.unwrap_or(0);
            let alg = s.next_key.algorithm.to_le_bytes();
            let mut m = Vec::new();
            if version == 0 {
                m.extend_from_slice(&s.block);
                m.extend_from_slice(&alg);
                m.extend_from_slice(&s.next_key.key);
            } else {
                m.extend_from_slice(b"\0BLOCK\0\0VERSION\0");
                m.extend_from_slice(&version.to_le_bytes());
                m.extend_from_slice(b"\0PAYLOAD\0");
                m.extend_from_slice(&s.block);
                m.extend_from_slice(b"\0ALGORITHM\0");
                m.extend_from_slice(&alg);
                m.extend_from_slice(b"\0NEXTKEY\0");
                m.extend_from_slice(&s.next_key.key);
                if let Some(p) = prev_sig {
                    m.extend_from_slice(b"\0PREVSIG\0");
                    m.extend_from_slice(p);
                }
            }
            out.push(m);
            prev_sig = Some(&s.signature);
        }
        out
    }

    pub(super) struct Floor {
        keys: Vec<VerifyingKey>,
        messages: Vec<Vec<u8>>,
        signatures: Vec<Signature>,
        secret: [u8; 32],
        last_key: VerifyingKey,
    }

    impl Floor {
        pub(super) fn new(root: VerifyingKey, token: &Token) -> Self {
            let proto: schema::Biscuit = prost::Message::decode(token.as_bytes()).unwrap();
            let signed: Vec<&schema::SignedBlock> = std::iter::once(&proto.authority)
                .chain(&proto.blocks)
                .collect();
            let mut keys = vec![root];
            for s in &signed[..signed.len() - 1] {
                keys.push(
                    VerifyingKey::from_bytes(&s.next_key.key.clone().try_into().unwrap()).unwrap(),
                );
            }
            let last_key = VerifyingKey::from_bytes(
                &signed
                    .last()
                    .unwrap()
                    .next_key
                    .key
                    .clone()
                    .try_into()
                    .unwrap(),
            )
            .unwrap();
            let Some(schema::proof::Content::NextSecret(secret)) = proto.proof.content.clone()
            else {
                panic!("unsealed token");
            };
            let floor = Self {
                keys,
                messages: signed_payloads(&proto),
                signatures: signed
                    .iter()
                    .map(|s| Signature::from_slice(&s.signature).unwrap())
                    .collect(),
                secret: secret.try_into().unwrap(),
                last_key,
            };
            assert!(floor.run(), "the floor reproduces biscuit-auth's checks");
            floor
        }

        /// Every block signature with `verify_strict`, then the proof.
        pub(super) fn run(&self) -> bool {
            self.keys
                .iter()
                .zip(&self.messages)
                .zip(&self.signatures)
                .all(|((k, m), s)| k.verify_strict(m, s).is_ok())
                && SigningKey::from_bytes(&self.secret).verifying_key() == self.last_key
        }
    }
}

/// Biscuit: one Ed25519 `verify_strict` per block over the exact signed
/// payloads, plus the proof of an unsealed token (deriving the public key of
/// the next secret key): the cryptography Biscuit cannot avoid.
fn biscuit_floor(c: &mut Criterion) {
    let p = Biscuit::provider(0);
    let root = RootSigningKey::ed25519_from_seed(key_id(), &SECRET)
        .public()
        .to_bytes();
    let root = ed25519_dalek::VerifyingKey::from_bytes(&root.try_into().expect("32 bytes"))
        .expect("point");
    let tokens = chain(&p, &MemoryLineageIndex::new());
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let floor = biscuit::Floor::new(root, &tokens[depth]);
        group.bench_function(BenchmarkId::new("floor-ed25519-blocks", depth), |b| {
            b.iter(|| black_box(&floor).run())
        });
    }
    group.finish();
}

/// Raw biscuit-auth on the same tokens: `Biscuit::from` under the root key, then
/// a hand-written authorizer with the same facts and policy, no captoken model.
fn biscuit_peer(c: &mut Criterion) {
    let p = Biscuit::provider(0);
    let public = RootSigningKey::ed25519_from_seed(key_id(), &SECRET)
        .public()
        .to_bytes();
    let root = biscuit_auth::PublicKey::from_bytes(&public, biscuit_auth::Algorithm::Ed25519)
        .expect("public key");
    let limits = p.limits().run().clone();
    let tokens = chain(&p, &MemoryLineageIndex::new());
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let (bytes, request) = (tokens[depth].as_bytes(), workload::request(depth));
        let blocks = i64::try_from(depth + 1).expect("small");
        assert!(
            biscuit::raw_verify(bytes, root, &request, blocks, &limits).is_ok(),
            "raw biscuit-auth must allow the workload"
        );
        group.bench_function(BenchmarkId::new("peer-biscuit-auth", depth), |b| {
            b.iter(|| {
                biscuit::raw_verify(black_box(bytes), root, black_box(&request), blocks, &limits)
            })
        });
    }
    group.finish();
}

/// tenuo warrants carrying the same chain: decode the CBOR warrant stack, then
/// tenuo's `Authorizer` (every warrant's signature, the chain's narrowing and
/// expiry, the leaf's constraints, the holder's proof of possession). The proof
/// is the holder's cost and is made once, outside the timing, at the instant
/// the verifier checks.
fn tenuo_peer(c: &mut Criterion) {
    let peer = TenuoPeer::new(workload::SERVER, &SECRET);
    let links = peer
        .chain(&workload::capability(key_id()), &workload::steps(16))
        .expect("tenuo chain");
    let mut group = c.benchmark_group("verify");
    for depth in workload::DEPTHS {
        let stack = TenuoPeer::encode(&links[..=depth]).expect("stack");
        let request = workload::request(depth);
        let as_of = wall_clock_now();
        let pop = peer
            .pop(&links[depth].warrant, &request, as_of)
            .expect("proof of possession");
        assert_eq!(
            peer.verify(&stack, &request, &pop, as_of),
            Ok(()),
            "tenuo must allow the workload at depth {depth}"
        );
        group.bench_function(BenchmarkId::new("peer-tenuo", depth), |b| {
            b.iter(|| peer.verify(black_box(&stack), black_box(&request), &pop, as_of))
        });
    }
    group.finish();
}

/// Verification with proof of possession (DESIGN.md §8): the workload chain
/// with its root bound to a holder key, each call presenting a fresh proof
/// (signed outside the timing: the holder's cost) whose nonce is reserved in
/// one in-memory store. Beside it, the floor: the same provider's bearer
/// verify of the unbound workload chain plus one Ed25519 `verify_strict` over
/// a proof-sized message (the one signature a proof adds).
fn verify_with_proof<C: Candidate>(c: &mut Criterion) {
    use captoken_core_types::possession::{HolderSigningKey, MemoryNonceStore, Possession, Proof};
    use captoken_core_types::{LineageHash, Subject, TokenId};
    use ed25519_dalek::{Signer as _, SigningKey};
    use std::sync::atomic::{AtomicU64, Ordering};
    let p = C::provider(0);
    let holder = HolderSigningKey::from_seed(&[7; 32]);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let ctx = VerifyContext::new(&revoked, &index);
    let bearer = chain(&p, &index);
    let mut root = workload::capability(key_id());
    // Another token id than the unbound workload root's: both are in one index.
    root.id = TokenId([0x6b; 16]);
    root.subject = Subject::bound_to_key(workload::SUBJECT, holder.public().clone());
    let mut bound = vec![p.issue(&root).expect("issue a bound root")];
    for step in workload::steps(16) {
        let child = p
            .attenuate(bound.last().expect("a root"), &step)
            .expect("attenuate");
        bound.push(child);
    }
    for t in &bound {
        if let Some(entry) = p.index_entry(t).expect("index entry") {
            index.record(entry).expect("record");
        }
    }
    let nonces = MemoryNonceStore::new(usize::MAX, usize::MAX);
    let counter = AtomicU64::new(0);
    let signer = SigningKey::from_bytes(&[9; 32]);
    // The message a workload proof's signature covers: the domain, then the
    // proof without its signature.
    let sample = Proof::sign(
        LineageHash([0; 32]),
        &workload::request(16),
        [0; 16],
        0,
        &holder,
    )
    .expect("sign")
    .to_bytes();
    let body = &sample[..sample.len() - 64];
    let message = [captoken_core_types::possession::PROOF_DOMAIN, body].concat();
    let signature = signer.sign(&message);
    let verifying = signer.verifying_key();
    let mut group = c.benchmark_group("verify-pop");
    for depth in workload::DEPTHS {
        let token = &bound[depth];
        let request = workload::request(depth);
        let hash = p.lineage_hash(token).expect("lineage hash");
        let fresh = || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&n.to_be_bytes());
            Proof::sign(hash, &request, nonce, workload::NOW, &holder).expect("sign")
        };
        let check = |proof: &Proof| {
            p.verify(
                black_box(token),
                black_box(&request),
                &ctx.with_possession(Possession::new(&nonces).with_proof(proof)),
            )
        };
        assert!(
            check(&fresh()).is_ok(),
            "{} denies the bound workload with a proof at depth {depth}",
            C::NAME
        );
        assert!(
            p.verify(token, &request, &ctx).is_err(),
            "bound without a proof"
        );
        group.bench_function(BenchmarkId::new(C::NAME, depth), |b| {
            b.iter_batched(
                fresh,
                |proof| check(&proof),
                criterion::BatchSize::SmallInput,
            )
        });
        let unbound = &bearer[depth];
        assert!(p.verify(unbound, &request, &ctx).is_ok());
        group.bench_function(
            BenchmarkId::new(format!("floor-pop-{}", C::NAME), depth),
            |b| {
                b.iter(|| {
                    let v = p.verify(black_box(unbound), black_box(&request), &ctx);
                    let s = verifying.verify_strict(black_box(&message), &signature);
                    (v, s)
                })
            },
        );
    }
    group.finish();
}

/// Key selection (DESIGN.md §9): cold verify at depth 0 with the issuing key
/// alone in the keyring, and among 999 other published keys. The parameter is
/// the number of keys; selection is a map lookup, so the two should match.
fn keyring_size<C: Candidate>(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyring");
    for keys in captoken_eval::report::KEYRING_SIZES {
        let p = C::provider_among(0, keys - 1);
        let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
        let tokens = chain(&p, &index);
        let ctx = VerifyContext::new(&revoked, &index);
        let request = workload::request(0);
        assert!(p.verify(&tokens[0], &request, &ctx).is_ok(), "{}", C::NAME);
        group.bench_function(BenchmarkId::new(C::NAME, keys), |b| {
            b.iter(|| p.verify(black_box(&tokens[0]), black_box(&request), &ctx))
        });
    }
    group.finish();
}

/// The front door (issue 18): `Gateway::check` of a bearer token's text at
/// depth 0, against the same provider's `verify` of the parsed token (the
/// `verify` group) and its `parse_text` plus `verify`, all over in-memory stores.
fn gateway<C: Candidate>(c: &mut Criterion)
where
    C::Provider: Send + Sync + 'static,
{
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let token = &chain(&p, &index)[0];
    let text = p.to_text(token);
    let ctx = VerifyContext::new(&revoked, &index);
    let request = workload::request(0);
    let gateway = captoken::Gateway::builder()
        .read(C::provider(0))
        .build()
        .expect("gateway");
    assert!(
        gateway.check(&text, None, &request).is_allowed(),
        "{}",
        C::NAME
    );
    let mut group = c.benchmark_group("gateway");
    group.bench_function(BenchmarkId::new(C::NAME, 0), |b| {
        b.iter(|| gateway.check(black_box(&text), None, black_box(&request)))
    });
    let parse_verify = captoken_eval::report::parse_verify_series(C::NAME);
    group.bench_function(BenchmarkId::new(parse_verify, 0), |b| {
        b.iter(|| {
            p.parse_text(black_box(&text))
                .map(|t| p.verify(&t, black_box(&request), &ctx))
        })
    });
    group.finish();
}

/// Verifications per second from several threads sharing one provider and
/// one set of in-memory stores (issue 19): 1 thread, and every core the
/// machine has (`available_parallelism`, or `CAPTOKEN_BENCH_THREADS`). The
/// time per verification across all threads; throughput is its inverse.
fn throughput<C: Candidate>(c: &mut Criterion)
where
    C::Provider: Send + Sync,
{
    let p = C::provider(0);
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let token = &chain(&p, &index)[0];
    let ctx = VerifyContext::new(&revoked, &index);
    let request = workload::request(0);
    assert!(p.verify(token, &request, &ctx).is_ok(), "{}", C::NAME);
    let mut group = c.benchmark_group("throughput");
    for threads in bench_threads() {
        group.bench_function(BenchmarkId::new(C::NAME, threads), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    black_box(p.verify(black_box(token), black_box(&request), &ctx))
                        .expect("verify");
                })
            })
        });
    }
    group.finish();
}

/// The front door's throughput: one `Gateway` (HMAC) shared by the threads,
/// its per-format counters included.
fn gateway_throughput(c: &mut Criterion) {
    let p = Hmac::provider(0);
    let text = p.to_text(&chain(&p, &MemoryLineageIndex::new())[0]);
    let request = workload::request(0);
    let gateway = captoken::Gateway::builder()
        .read(Hmac::provider(0))
        .build()
        .expect("gateway");
    assert!(gateway.check(&text, None, &request).is_allowed());
    let mut group = c.benchmark_group("throughput");
    for threads in bench_threads() {
        group.bench_function(BenchmarkId::new("gateway-hmac", threads), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, || {
                    assert!(
                        black_box(gateway.check(black_box(&text), None, &request)).is_allowed()
                    );
                })
            })
        });
    }
    group.finish();
}

/// 1 and the machine's core count (or `CAPTOKEN_BENCH_THREADS`), deduplicated.
fn bench_threads() -> Vec<usize> {
    let cores = std::env::var("CAPTOKEN_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .max(1);
    if cores == 1 { vec![1] } else { vec![1, cores] }
}

/// Runs `work` `iters` times on each of `threads` threads at once; the time
/// per call across all threads.
fn on_threads(threads: usize, iters: u64, work: impl Fn() + Sync) -> Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    work();
                }
            });
        }
    });
    start.elapsed() / u32::try_from(threads).unwrap_or(1).max(1)
}

/// A unique scratch path for a benchmark's SQLite file.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("captoken-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
    path
}

/// The i-th entry of a store fixture: its lineage hash, token id and nonce.
fn fixture(i: u64) -> (LineageHash, TokenId, [u8; 16]) {
    let mut h = [0x5c; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    let mut id = [0x6d; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    let mut n = [0x7e; 16];
    n[..8].copy_from_slice(&i.to_be_bytes());
    (LineageHash(h), TokenId(id), n)
}

/// Fills a fresh SQLite store with `n` revocations, lineage rows and live
/// nonces in one transaction, writing the tables directly (a million entries
/// through `reserve`, one durable commit each, would take most of an hour).
/// The columns are the store's schema version 1; a schema change makes this
/// fail loudly rather than time an empty table.
fn fill_sqlite(
    path: &std::path::Path,
    n: usize,
    scope: &HolderKey,
    account: &captoken_core_types::possession::Account,
) {
    let mut db = rusqlite::Connection::open(path).expect("open fixture");
    let tx = db.transaction().expect("transaction");
    {
        let mut revoked = tx
            .prepare("INSERT INTO revoked (hash) VALUES (?1)")
            .expect("schema 1");
        let mut lineage = tx
            .prepare("INSERT INTO lineage (token_id, hash, seal) VALUES (?1, ?2, ?3)")
            .expect("schema 1");
        let mut nonces = tx
            .prepare(
                "INSERT INTO nonces (scope, nonce, keep_until, account) VALUES (?1, ?2, ?3, ?4)",
            )
            .expect("schema 1");
        // u64::MAX ("never expires") in the store's order-preserving encoding.
        let never = i64::MAX;
        for i in 0..n as u64 {
            let (hash, id, nonce) = fixture(i);
            revoked.execute([&hash.0[..]]).expect("fill");
            lineage
                .execute(rusqlite::params![&id.0[..], &hash.0[..], &[0u8; 40][..]])
                .expect("fill");
            nonces
                .execute(rusqlite::params![
                    scope.to_string(),
                    &nonce[..],
                    never,
                    &account.as_bytes()[..]
                ])
                .expect("fill");
        }
    }
    tx.commit().expect("commit");
}

/// The stores (issue 16): `is_revoked`, lineage `get` and nonce `reserve`
/// with 10^3, 10^5 and 10^6 entries already in each table, in memory and on
/// SQLite; cold verify at depth 8 over each; SQLite `reserve` on 1 and 2
/// threads, each with its own handle.
fn stores(c: &mut Criterion) {
    use captoken_core_types::possession::{Account, MemoryNonceStore, NonceStore};
    use captoken_core_types::{LineageEntry, RevocationList, RevocationWriter};
    use captoken_eval::report::{STORE_SIZES, STORE_VERIFY_DEPTH};
    use captoken_store_sqlite::{SqliteOptions, SqliteStore};
    use std::sync::atomic::{AtomicU64, Ordering};
    let scope = HolderKey::Ed25519([9; 32]);
    let account = Account::of(Hmac::provider(0).format(), &key_id(), &TokenId([9; 16]));
    let options = SqliteOptions::default().with_nonce_bounds(usize::MAX >> 2, usize::MAX >> 2);
    let mut group = c.benchmark_group("store");
    for n in STORE_SIZES {
        let path = scratch(&format!("store-{n}.db"));
        drop(SqliteStore::create(&path, options.clone()).expect("create"));
        fill_sqlite(&path, n, &scope, &account);
        let sqlite = SqliteStore::open(&path).expect("open");
        let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
        let nonces = MemoryNonceStore::new(usize::MAX, usize::MAX);
        for i in 0..n as u64 {
            let (hash, id, nonce) = fixture(i);
            revoked.revoke(hash).expect("revoke");
            index
                .record(LineageEntry::new(id, hash, None, vec![0; 40]))
                .expect("record");
            nonces
                .reserve(&scope, &nonce, u64::MAX, 0, &account)
                .expect("reserve");
        }
        let present = |k: u64| fixture(k.wrapping_mul(2_654_435_761) % n as u64);
        let lists: [(&str, &dyn RevocationList); 2] = [("memory", &revoked), ("sqlite", &sqlite)];
        for (name, list) in lists {
            assert!(list.is_revoked(&present(1).0).expect("answer"));
            let k = AtomicU64::new(0);
            group.bench_function(BenchmarkId::new(format!("{name}-is-revoked"), n), |b| {
                b.iter(|| list.is_revoked(&present(k.fetch_add(1, Ordering::Relaxed)).0))
            });
        }
        let indexes: [(&str, &dyn LineageIndex); 2] = [("memory", &index), ("sqlite", &sqlite)];
        for (name, idx) in indexes {
            assert!(idx.get(&present(1).1).expect("answer").is_some());
            let k = AtomicU64::new(0);
            group.bench_function(BenchmarkId::new(format!("{name}-lineage-get"), n), |b| {
                b.iter(|| idx.get(&present(k.fetch_add(1, Ordering::Relaxed)).1))
            });
        }
        let stores: [(&str, &dyn NonceStore); 2] = [("memory", &nonces), ("sqlite", &sqlite)];
        for (name, store) in stores {
            // Fresh nonces beyond the fixture's: every call reserves.
            let next = AtomicU64::new(n as u64 + 1);
            group.bench_function(BenchmarkId::new(format!("{name}-reserve"), n), |b| {
                b.iter(|| {
                    let (_, _, nonce) = fixture(next.fetch_add(1, Ordering::Relaxed));
                    store.reserve(&scope, &nonce, u64::MAX, 0, &account)
                })
            });
        }
        drop(sqlite);
        let _ = std::fs::remove_file(&path);
    }
    group.finish();

    // Cold verify at depth 8 over each store: the chain's rows recorded, nothing revoked.
    let p = Hmac::provider(0).with_row_cache(0);
    let path = scratch("verify.db");
    let sqlite = SqliteStore::create(&path, options.clone()).expect("create");
    let memory = MemoryStores::new();
    let tokens = workload_chain(&p, STORE_VERIFY_DEPTH).expect("chain");
    for t in &tokens {
        if let Some(row) = p.index_entry(t).expect("row") {
            sqlite.record(row.clone()).expect("record");
            memory.index.record(row).expect("record");
        }
    }
    let request = workload::request(STORE_VERIFY_DEPTH);
    let leaf = &tokens[STORE_VERIFY_DEPTH];
    let contexts = [
        ("hmac-memory", memory.cold()),
        ("hmac-sqlite", VerifyContext::new(&sqlite, &sqlite)),
    ];
    cold_verify(c, &p, leaf, &request, &contexts);

    // Durable reservations per second, one handle per thread on one file.
    let mut group = c.benchmark_group("store-reserve-threads");
    let next = AtomicU64::new(0);
    for threads in captoken_eval::report::STORE_THREADS {
        let handles: Vec<SqliteStore> = (0..threads)
            .map(|_| SqliteStore::open(&path).expect("open"))
            .collect();
        group.bench_function(BenchmarkId::new("sqlite", threads), |b| {
            b.iter_custom(|iters| reserve_on_threads(&handles, iters, &next, &scope, &account))
        });
    }
    group.finish();
    drop(sqlite);
    let _ = std::fs::remove_dir_all(path.parent().expect("scratch dir"));
}

/// Fills a fresh PostgreSQL store schema with `n` revocations, lineage rows
/// and live nonces, writing the tables directly in batches with the
/// per-row triggers off and the counters set once (through `reserve`, a
/// million durable commits would take most of an hour). Schema version 2's
/// columns; a schema change makes this fail loudly.
fn fill_postgres(params: &str, n: usize, scope: &HolderKey, account: &[u8]) {
    let mut client = postgres::Client::connect(params, postgres::NoTls).expect("connect");
    let mut tx = client.transaction().expect("begin");
    tx.batch_execute(
        "ALTER TABLE captoken_revoked DISABLE TRIGGER USER;
         ALTER TABLE captoken_nonces DISABLE TRIGGER USER;",
    )
    .expect("schema 2");
    let scope = scope.to_string();
    let never = i64::MAX;
    for start in (0..n as u64).step_by(50_000) {
        let end = (start + 50_000).min(n as u64);
        let (mut hashes, mut ids, mut nonces) = (Vec::new(), Vec::new(), Vec::new());
        for i in start..end {
            let (hash, id, nonce) = fixture(i);
            hashes.push(hash.0.to_vec());
            ids.push(id.0.to_vec());
            nonces.push(nonce.to_vec());
        }
        tx.execute(
            "INSERT INTO captoken_revoked (hash) SELECT unnest($1::bytea[])",
            &[&hashes],
        )
        .expect("fill");
        tx.execute(
            "INSERT INTO captoken_lineage (token_id, hash, seal) \
             SELECT i, h, '\\x00'::bytea FROM unnest($1::bytea[], $2::bytea[]) AS t(i, h)",
            &[&ids, &hashes],
        )
        .expect("fill");
        tx.execute(
            "INSERT INTO captoken_nonces (scope, nonce, keep_until, account) \
             SELECT $1, x, $2, $3 FROM unnest($4::bytea[]) AS t(x)",
            &[&scope, &never, &account, &nonces],
        )
        .expect("fill");
    }
    let live = i64::try_from(n).expect("size");
    tx.execute(
        "UPDATE captoken_meta SET value = $1 WHERE name = 'nonce_count'",
        &[&live],
    )
    .expect("schema 2");
    if n > 0 {
        tx.execute(
            "INSERT INTO captoken_nonce_accounts (account, live) VALUES ($1, $2)",
            &[&account, &live],
        )
        .expect("schema 2");
    }
    tx.batch_execute(
        "ALTER TABLE captoken_revoked ENABLE TRIGGER USER;
         ALTER TABLE captoken_nonces ENABLE TRIGGER USER;",
    )
    .expect("schema 2");
    tx.commit().expect("commit");
    client
        .batch_execute("ANALYZE captoken_revoked, captoken_lineage, captoken_nonces")
        .expect("analyze");
}

/// The PostgreSQL store (issue 17), against a throw-away server on a loopback
/// TCP port with `fsync` on: `is_revoked`, lineage `get` and `reserve` by size
/// (series of the `store` group), cold verify at depth 8 with and without the
/// revocation snapshot, and `reserve` from 1, 2 and 4 clients, each with its
/// own store handle. Skipped (with a message) where PostgreSQL is not installed.
fn postgres_stores(c: &mut Criterion) {
    use captoken_core_types::possession::{Account, NonceStore};
    use captoken_core_types::{RevocationList, RevocationWriter};
    use captoken_eval::report::{STORE_SIZES, STORE_THREADS, STORE_VERIFY_DEPTH};
    use captoken_store_postgres::test_server::Server;
    use captoken_store_postgres::{PostgresOptions, PostgresStore, RevocationSnapshot};
    use std::sync::atomic::{AtomicU64, Ordering};
    let Some(server) = Server::start_loopback("bench", false) else {
        return;
    };
    let scope = HolderKey::Ed25519([9; 32]);
    let account = Account::of(Hmac::provider(0).format(), &key_id(), &TokenId([9; 16]));
    let options = PostgresOptions::default().with_nonce_bounds(usize::MAX >> 2, usize::MAX >> 2);
    let mut group = c.benchmark_group("store");
    for n in STORE_SIZES {
        let params = server.fresh_schema();
        drop(PostgresStore::connect(&params, options.clone()).expect("connect"));
        fill_postgres(&params, n, &scope, account.as_bytes());
        let store = PostgresStore::connect(&params, options.clone()).expect("connect");
        let present = |k: u64| fixture(k.wrapping_mul(2_654_435_761) % n as u64);
        assert!(store.is_revoked(&present(1).0).expect("answer"));
        assert!(store.get(&present(1).1).expect("answer").is_some());
        let k = AtomicU64::new(0);
        group.bench_function(BenchmarkId::new("postgres-is-revoked", n), |b| {
            b.iter(|| store.is_revoked(&present(k.fetch_add(1, Ordering::Relaxed)).0))
        });
        group.bench_function(BenchmarkId::new("postgres-lineage-get", n), |b| {
            b.iter(|| store.get(&present(k.fetch_add(1, Ordering::Relaxed)).1))
        });
        let next = AtomicU64::new(n as u64 + 1);
        group.bench_function(BenchmarkId::new("postgres-reserve", n), |b| {
            b.iter(|| {
                let (_, _, nonce) = fixture(next.fetch_add(1, Ordering::Relaxed));
                store.reserve(&scope, &nonce, u64::MAX, 0, &account)
            })
        });
    }
    group.finish();

    // Cold verify at depth 8: every ancestor's row from the server; the
    // revocations from the server, or from the snapshot in memory.
    let p = Hmac::provider(0).with_row_cache(0);
    let params = server.fresh_schema();
    let store = PostgresStore::connect(&params, options.clone()).expect("connect");
    let snapshot = RevocationSnapshot::start(&params, Duration::from_secs(5)).expect("snapshot");
    let tokens = workload_chain(&p, STORE_VERIFY_DEPTH).expect("chain");
    for t in &tokens {
        if let Some(row) = p.index_entry(t).expect("row") {
            store.record(row).expect("record");
        }
    }
    store.revoke(LineageHash([1; 32])).expect("revoke");
    while !snapshot
        .is_revoked(&LineageHash([1; 32]))
        .expect("snapshot")
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let request = workload::request(STORE_VERIFY_DEPTH);
    let leaf = &tokens[STORE_VERIFY_DEPTH];
    let contexts = [
        ("hmac-postgres", VerifyContext::new(&store, &store)),
        (
            "hmac-postgres-snapshot",
            VerifyContext::new(&snapshot, &store),
        ),
    ];
    cold_verify(c, &p, leaf, &request, &contexts);

    // Reservations per second from several clients at once (replicas), each
    // with its own handle on one server.
    let mut group = c.benchmark_group("store-reserve-threads");
    let next = AtomicU64::new(0);
    for threads in STORE_THREADS {
        let handles: Vec<PostgresStore> = (0..threads)
            .map(|_| PostgresStore::connect(&params, options.clone()).expect("connect"))
            .collect();
        group.bench_function(BenchmarkId::new("postgres", threads), |b| {
            b.iter_custom(|iters| reserve_on_threads(&handles, iters, &next, &scope, &account))
        });
    }
    group.finish();
    drop((snapshot, store));
}

/// The `store-verify` group: cold verify of `leaf` over each named context.
fn cold_verify<P: TokenProvider>(
    c: &mut Criterion,
    p: &P,
    leaf: &Token,
    request: &captoken_core_types::Request,
    contexts: &[(&str, VerifyContext<'_>)],
) {
    let mut group = c.benchmark_group("store-verify");
    for (name, ctx) in contexts {
        assert!(p.verify(leaf, request, ctx).is_ok(), "{name}");
        group.bench_function(
            BenchmarkId::new(*name, captoken_eval::report::STORE_VERIFY_DEPTH),
            |b| b.iter(|| p.verify(black_box(leaf), black_box(request), ctx)),
        );
    }
    group.finish();
}

/// `iters` fresh reservations on each of `handles` at once, one thread per
/// handle; the time per reservation across all threads (throughput is its inverse).
fn reserve_on_threads<S: captoken_core_types::possession::NonceStore + Sync>(
    handles: &[S],
    iters: u64,
    next: &std::sync::atomic::AtomicU64,
    scope: &HolderKey,
    account: &captoken_core_types::possession::Account,
) -> Duration {
    use std::sync::atomic::Ordering;
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for h in handles {
            s.spawn(move || {
                for _ in 0..iters {
                    let (_, _, nonce) = fixture(next.fetch_add(1, Ordering::Relaxed));
                    let r = h.reserve(scope, &nonce, u64::MAX, 0, account);
                    black_box(r.expect("reserve"));
                }
            });
        }
    });
    start.elapsed() / u32::try_from(handles.len()).unwrap_or(1).max(1)
}

fn benches(c: &mut Criterion) {
    stores(c);
    postgres_stores(c);
    keyring_size::<Hmac>(c);
    keyring_size::<Macaroon>(c);
    keyring_size::<PasetoPublic>(c);
    keyring_size::<PasetoLocal>(c);
    keyring_size::<Biscuit>(c);
    possession(c);
    gateway::<Hmac>(c);
    gateway::<Macaroon>(c);
    gateway::<PasetoPublic>(c);
    gateway::<PasetoLocal>(c);
    gateway::<Biscuit>(c);
    throughput::<Hmac>(c);
    throughput::<Macaroon>(c);
    throughput::<PasetoPublic>(c);
    throughput::<PasetoLocal>(c);
    throughput::<Biscuit>(c);
    gateway_throughput(c);
    huge_request::<Hmac>(c);
    huge_request::<Macaroon>(c);
    huge_request::<PasetoPublic>(c);
    huge_request::<PasetoLocal>(c);
    huge_request::<Biscuit>(c);
    provider::<Hmac>(c);
    uncached_lineage::<Hmac>(c, |p| p.with_row_cache(0));
    hmac_floor(c);
    jwt_peer(c);
    provider::<Macaroon>(c);
    macaroon_floor(c);
    macaroon_crate_peer(c);
    provider::<PasetoPublic>(c);
    uncached_lineage::<PasetoPublic>(c, |p| p.with_row_cache(0));
    paseto_floor(c);
    pasetors_peer(c);
    provider::<PasetoLocal>(c);
    uncached_lineage::<PasetoLocal>(c, |p| p.with_row_cache(0));
    provider::<Biscuit>(c);
    biscuit_floor(c);
    biscuit_peer(c);
    tenuo_peer(c);
    verify_with_proof::<Hmac>(c);
    verify_with_proof::<Macaroon>(c);
    verify_with_proof::<PasetoPublic>(c);
    verify_with_proof::<PasetoLocal>(c);
    verify_with_proof::<Biscuit>(c);
}

criterion_group!(workload_benches, benches);
criterion_main!(workload_benches);
