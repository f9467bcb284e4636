//! Criterion benchmarks of the DESIGN.md §7 workload for every provider, its cryptographic floor and its peers.
//!
//! Groups are operations (`verify`, `issue`, `attenuate`), function ids are
//! series (the names in `captoken_eval::report::COMPARISONS`), parameters are
//! chain depths; `captoken-eval timings` reads the medians back by those names.
//! Every series is checked to accept the workload before it is timed.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark with a broken setup must stop"
)]

use std::hint::black_box;

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::testing::workload;
use captoken_core_types::{
    LineageIndex, MemoryLineageIndex, MemoryRevocationList, Token, TokenProvider, VerifyContext,
};
use captoken_eval::candidate::{Candidate, Hmac, Macaroon, PasetoLocal, PasetoPublic, key_id};
use captoken_eval::measure::workload_chain;
use captoken_eval::peers::jwt::JwtPeer;
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
    let public = p.keys().get(&key_id()).expect("verifying key").to_bytes();
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
    let public = p.keys().get(&key_id()).expect("verifying key").to_bytes();
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
    fn ct1(caveat: &macaroon::ByteString) -> bool {
        caveat.0.starts_with(b"ct1 ")
    }
    macaroon::initialize().expect("libsodium");
    let key = macaroon::MacaroonKey::generate(&SECRET);
    let mut verifier = macaroon::Verifier::default();
    verifier.satisfy_general(ct1);
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

fn benches(c: &mut Criterion) {
    provider::<Hmac>(c);
    hmac_floor(c);
    jwt_peer(c);
    provider::<Macaroon>(c);
    macaroon_floor(c);
    macaroon_crate_peer(c);
    provider::<PasetoPublic>(c);
    paseto_floor(c);
    pasetors_peer(c);
    provider::<PasetoLocal>(c);
}

criterion_group!(workload_benches, benches);
criterion_main!(workload_benches);
