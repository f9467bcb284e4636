//! Deterministic measurements of one candidate: suite outcomes, capability matrix row, gaps, workload sizes.

use base64ct::{Base64UrlUnpadded, Encoding};
use captoken_core_types::testing::workload;
use captoken_core_types::{
    AttenuationMode, MemoryLineageIndex, MemoryRevocationList, Properties, Token, TokenProvider,
    VerifyContext,
};

use crate::candidate::{Candidate, key_id};
use crate::peers::jwt::JwtPeer;
use crate::peers::tenuo::TenuoPeer;
use crate::results::{Capabilities, CrossFormat, PeerSizes, ProviderResults, Size};
use crate::suites::{self, Suite};

/// Runs the three suites with `cases` cases each and measures the workload sizes.
///
/// # Errors
/// When the provider cannot issue or attenuate the workload chain.
pub fn provider_results<C: Candidate>(cases: u32) -> Result<ProviderResults, String> {
    let provider = C::provider(0);
    let properties = provider.properties();
    Ok(ProviderResults {
        name: C::NAME.to_owned(),
        format: provider.format().tag().to_owned(),
        crate_name: C::CRATE.to_owned(),
        capabilities: capabilities(&properties),
        suites: Suite::ALL
            .iter()
            .map(|s| suites::run::<C>(*s, cases))
            .collect(),
        gaps: gaps(&properties),
        sizes: workload_sizes(&provider)
            .map_err(|e| format!("{}: workload chain: {e}", C::NAME))?,
    })
}

fn capabilities(p: &Properties) -> Capabilities {
    Capabilities {
        offline_attenuation: p.attenuation == AttenuationMode::Offline,
        public_key_verification: p.public_key_verification,
        deterministic_encoding: p.deterministic_encoding,
        third_party_caveats: p.third_party_caveats,
        revocation: p.revocation.to_owned(),
    }
}

/// What the suites cannot exercise in this format, and why: stated, never skipped silently.
fn gaps(p: &Properties) -> Vec<String> {
    let mut gaps = Vec::new();
    if p.attenuation == AttenuationMode::Reissue {
        gaps.push(
            "offline attenuation: a holder cannot narrow a token without the issuer's key; hostile steps \
             in the attenuation suite are submitted to the re-issuing issuer, which must refuse every \
             widening one"
                .to_owned(),
        );
    }
    if !p.public_key_verification {
        gaps.push("public-key verification: every verifier holds the issuing secret and could mint tokens".to_owned());
    }
    if !p.third_party_caveats {
        gaps.push("third-party caveats: not part of the format".to_owned());
    }
    gaps
}

/// The §7 workload chain, root first, up to `depth` steps.
///
/// # Errors
/// A provider error, as text.
pub fn workload_chain<P: TokenProvider + ?Sized>(
    provider: &P,
    depth: usize,
) -> Result<Vec<Token>, String> {
    let mut tokens = vec![
        provider
            .issue(&workload::capability(key_id()))
            .map_err(|e| e.to_string())?,
    ];
    for step in workload::steps(depth) {
        let parent = tokens.last().ok_or("empty chain")?;
        let child = provider
            .attenuate(parent, &step)
            .map_err(|e| e.to_string())?;
        tokens.push(child);
    }
    Ok(tokens)
}

fn workload_sizes<P: TokenProvider>(provider: &P) -> Result<Vec<Size>, String> {
    let chain = workload_chain(
        provider,
        workload::DEPTHS.iter().copied().max().unwrap_or(0),
    )?;
    workload::DEPTHS
        .iter()
        .map(|&depth| {
            let token = chain.get(depth).ok_or("chain too short")?;
            Ok(Size {
                depth,
                binary: token.as_bytes().len(),
                text: provider.to_text(token).len(),
            })
        })
        .collect()
}

/// Workload sizes of the peers whose encoding is deterministic: JWT, which
/// has no attenuation, so depth 0 only.
///
/// # Errors
/// A peer error, as text.
pub fn peer_sizes() -> Result<Vec<PeerSizes>, String> {
    let jwt = JwtPeer::new(&[1; 32]).issue(&workload::capability(key_id()))?;
    Ok(vec![PeerSizes {
        name: "peer-jsonwebtoken-hs256".to_owned(),
        sizes: vec![Size {
            depth: 0,
            binary: jwt.len(),
            text: jwt.len(),
        }],
    }])
}

/// Workload sizes of the peers whose encoding varies from run to run: tenuo's
/// warrant stack (CBOR; base64url as text) at every depth. Tenuo writes each
/// warrant's 32-byte parent hash as a CBOR array of integers, one or two bytes
/// each by value, and that hash covers a random id and wall-clock times.
///
/// # Errors
/// A peer error, as text.
pub fn varying_peer_sizes() -> Result<Vec<PeerSizes>, String> {
    let tenuo = TenuoPeer::new(workload::SERVER, &[1; 32]);
    let deepest = workload::DEPTHS.last().copied().unwrap_or_default();
    let links = tenuo.chain(&workload::capability(key_id()), &workload::steps(deepest))?;
    let sizes = workload::DEPTHS
        .iter()
        .map(|&depth| {
            let stack = TenuoPeer::encode(links.get(..=depth).ok_or("chain too short")?)?;
            Ok(Size {
                depth,
                binary: stack.len(),
                text: Base64UrlUnpadded::encoded_len(&stack),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(vec![PeerSizes {
        name: "peer-tenuo".to_owned(),
        sizes,
    }])
}

/// Feeds every provider's workload tokens (depths 0 to 16, binary and text) to
/// every other provider: each must be refused at parsing or denied at verification.
///
/// # Errors
/// When a provider cannot build its own workload chain.
pub fn cross_format(providers: &[(&str, &dyn TokenProvider)]) -> Result<Vec<CrossFormat>, String> {
    let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
    let ctx = VerifyContext::new(&revoked, &index);
    let mut rows = Vec::new();
    for (from, issuer) in providers {
        let chain = workload_chain(*issuer, workload::DEPTHS.iter().copied().max().unwrap_or(0))?;
        for (to, verifier) in providers.iter().filter(|(name, _)| name != from) {
            let (mut checks, mut accepted) = (0u32, 0u32);
            for (depth, token) in chain.iter().enumerate() {
                let request = workload::request(depth);
                let candidates = [
                    Some(Token::new(verifier.format(), token.as_bytes().to_vec())),
                    verifier.parse_bytes(token.as_bytes()).ok(),
                    verifier.parse_text(&issuer.to_text(token)).ok(),
                ];
                for t in candidates.iter().flatten() {
                    checks += 1;
                    if verifier.verify(t, &request, &ctx).is_ok() {
                        accepted += 1;
                    }
                }
            }
            rows.push(CrossFormat {
                from: (*from).to_owned(),
                to: (*to).to_owned(),
                checks,
                accepted,
            });
        }
    }
    Ok(rows)
}
