//! The verify target: arbitrary and tampered tokens against arbitrary requests, cold and live, with revocation and discharges; nothing not issued may verify.
//!
//! The verifier holds the key of [`Role::Verifier`], which no corpus file was
//! issued with. The only genuine tokens are those of its [`pool`] (the
//! workload chain to depth 16, a chain over every constraint kind with a
//! delegation, and for macaroons a token with a third-party caveat and its
//! bound discharge), issued in this process.
//!
//! Input layout (`L` little-endian):
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | provider |
//! | 1 | source, mod 4: 0 raw bytes, 1 raw text, 2 a pool token tampered with by the payload's edit script, 3 a pool token extended by a holder with the payload ([`crate::providers::Fuzzable::holder_append`]); bit 2: tamper with the text form; bit 3: tamper with the discharge instead of the token |
//! | 2 | context: bit 0 live (ancestors supplied), bit 1 no index rows, bit 2 discharges supplied, bit 3 revoke a credential of the chain, bit 4 revoke an unrelated hash, bit 5 supply another token's ancestors, bit 6 a request from the pools rather than one near the token |
//! | 3 | pool token (sources 2, 3) or workload depth (sources 0, 1) |
//! | 4 | which credential of the chain to revoke |
//! | 5..7 | `L`, the payload length |
//! | 7..7+L | payload: the token, the edit script (4 bytes per edit), or the appended caveats or Datalog |
//! | rest | the request, read by [`crate::input`] |
//!
//! Asserts, besides "no panic, no hang": an accepted token is a pool token
//! (same lineage hash and same reading as one), the reference authorizer
//! allows the request on that token's chain, no credential of the chain is
//! revoked, the discharges are its own, live ancestors are its own and cold
//! verification of a re-issued child had its index rows; a token a holder
//! extended is accepted only for what its genuine parent allows (to the
//! parent's holder) and what `inspect` reads in it allows; the verdict is
//! `chain_len` and lineage hash of the token; and another issuer's key never
//! verifies any of it.

use arbitrary::Unstructured;
use captoken_core_types::reference::authorize;
use captoken_core_types::testing::workload;
use captoken_core_types::{
    AttenuationMode, LineageHash, MemoryLineageIndex, MemoryRevocationList, Request,
    RevocationList, RevocationWriter, Token, Verified, VerifyContext,
};

use crate::input::{self, final_subject};
use crate::pool::{Genuine, Pool, WORKLOAD_DEPTH, pool};
use crate::providers::{Fuzzable, Role, select};

/// Length of the fixed header before the payload.
pub const HEADER_LEN: usize = 7;
/// Most edits of one script.
const MAX_EDITS: usize = 16;

/// The parsed header.
struct Header {
    source: u8,
    context: u8,
    which: u8,
    revoke: u8,
}

impl Header {
    fn live(&self) -> bool {
        self.context & 1 != 0
    }
    fn no_index(&self) -> bool {
        self.context & 2 != 0
    }
    fn discharges(&self) -> bool {
        self.context & 4 != 0
    }
    fn revoke_chain(&self) -> bool {
        self.context & 8 != 0
    }
    fn revoke_unrelated(&self) -> bool {
        self.context & 16 != 0
    }
    fn foreign_ancestors(&self) -> bool {
        self.context & 32 != 0
    }
    fn pooled_request(&self) -> bool {
        self.context & 64 != 0
    }
    fn text(&self) -> bool {
        self.source & 4 != 0
    }
    fn tamper_discharge(&self) -> bool {
        self.source & 8 != 0
    }
}

/// Where the token under test comes from.
enum Origin<'a> {
    /// Arbitrary bytes: no genuine token is expected.
    Raw,
    /// A pool token, perhaps tampered with.
    Tampered(&'a Genuine),
    /// A pool token a holder extended without a key.
    Extended(&'a Genuine),
}

/// Runs one input; true when the provider accepted the token (and the oracle agreed).
pub fn run(data: &[u8]) -> bool {
    let Some((&[selector, source, context, which, revoke, l0, l1], rest)) =
        data.split_first_chunk::<HEADER_LEN>()
    else {
        return false;
    };
    let h = Header {
        source,
        context,
        which,
        revoke,
    };
    let len = usize::from(u16::from_le_bytes([l0, l1])).min(rest.len());
    let (payload, request_bytes) = rest.split_at(len);
    let (index, p) = select(Role::Verifier, selector);
    let pool = pool(index);
    let pick = |i: u8| {
        let n = pool.entries.len().max(1);
        pool.entries.get(usize::from(i) % n)
    };
    let mut discharges: Vec<Token> = Vec::new();
    // The text a token was parsed from, when it was: `verify_text` of it must
    // give the verdict of `parse_text` then `verify`.
    let mut text: Option<String> = None;
    let (token, origin) = match h.source % 4 {
        0 => (Some(Token::new(p.format(), payload.to_vec())), Origin::Raw),
        1 => {
            let t = String::from_utf8_lossy(payload).into_owned();
            let token = p.parse_text(&t).ok();
            text = Some(t);
            (token, Origin::Raw)
        }
        2 => {
            let Some(g) = pick(h.which) else { return false };
            if h.discharges() {
                discharges.clone_from(&g.discharges);
            }
            let token = if h.tamper_discharge() {
                if let Some(d) = discharges.first_mut() {
                    *d = Token::new(d.format(), edit(d.as_bytes(), payload, pool));
                }
                Some(g.token.clone())
            } else if h.text() {
                let edited = edit(p.to_text(&g.token).as_bytes(), payload, pool);
                let t = String::from_utf8_lossy(&edited).into_owned();
                let token = p.parse_text(&t).ok();
                text = Some(t);
                token
            } else {
                Some(Token::new(
                    p.format(),
                    edit(g.token.as_bytes(), payload, pool),
                ))
            };
            (token, Origin::Tampered(g))
        }
        _ => {
            let Some(g) = pick(h.which) else { return false };
            (p.holder_append(&g.token, payload), Origin::Extended(g))
        }
    };
    let genuine = match &origin {
        Origin::Raw => None,
        Origin::Tampered(g) | Origin::Extended(g) => Some(*g),
    };

    let mut u = Unstructured::new(request_bytes);
    let request = match genuine {
        Some(g) if !h.pooled_request() => input::request_near(&mut u, &g.root, &g.steps),
        None if !h.pooled_request() => Ok(workload::request(
            usize::from(h.which) % (WORKLOAD_DEPTH + 1),
        )),
        _ => input::request(&mut u),
    };
    let Ok(request) = request else { return false };

    let revoked = MemoryRevocationList::new();
    if h.revoke_chain()
        && let Some(g) = genuine.or_else(|| pick(h.which))
        && let Some(hash) = g.chain.get(usize::from(h.revoke) % g.chain.len().max(1))
    {
        let _ = revoked.revoke(*hash);
    }
    if h.revoke_unrelated() {
        let _ = revoked.revoke(LineageHash([h.revoke; 32]));
    }
    let empty = MemoryLineageIndex::new();
    let index = if h.no_index() { &empty } else { &pool.index };
    let ancestors: &[Token] = match (h.live(), genuine) {
        (false, _) => &[],
        (true, Some(g)) if !h.foreign_ancestors() => &g.ancestors,
        (true, _) => pick(h.which.wrapping_add(1)).map_or(&[], |o| o.ancestors.as_slice()),
    };
    let ctx = VerifyContext::new(&revoked, index)
        .with_ancestors(ancestors)
        .with_discharges(&discharges);

    let Some(token) = token else {
        if let Some(t) = &text
            && let Ok(v) = p.verify_text(t, &request, &ctx)
        {
            panic!(
                "{}: verify_text allowed text that does not parse: {v:?}",
                p.name()
            );
        }
        return false;
    };
    if let Some(t) = &text {
        let shortcut = p.verify_text(t, &request, &ctx);
        let two_steps = p.verify(&token, &request, &ctx);
        assert_eq!(
            shortcut.is_ok(),
            two_steps.is_ok(),
            "{}: verify_text and parse_text + verify disagree",
            p.name()
        );
    }
    let (_, stranger) = select(Role::Stranger, selector);
    if let Ok(v) = stranger.verify(&token, &request, &ctx) {
        panic!("{}: another issuer's key verified a token: {v:?}", p.name());
    }
    let Ok(verified) = p.verify(&token, &request, &ctx) else {
        return false;
    };
    let accepted = Accepted {
        p,
        pool,
        token: &token,
        request: &request,
        verified: &verified,
        revoked: &revoked,
        ancestors,
        discharges: &discharges,
        indexed: !h.no_index(),
    };
    match origin {
        Origin::Raw | Origin::Tampered(_) => accepted.check_genuine(),
        Origin::Extended(g) => accepted.check_extension(g),
    }
    true
}

/// Applies an edit script (4 bytes per edit: kind, position low, position
/// high, argument) to `bytes`. Positions wrap around the current length.
fn edit(bytes: &[u8], script: &[u8], pool: &Pool) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for e in script.chunks_exact(4).take(MAX_EDITS) {
        let &[kind, lo, hi, arg] = e else { continue };
        let pos = usize::from(u16::from_le_bytes([lo, hi])) % (out.len() + 1);
        let n = usize::from(arg);
        match kind % 7 {
            0 => {
                if let Some(b) = out.get_mut(pos) {
                    *b ^= 1 << (arg % 8);
                }
            }
            1 => {
                if let Some(b) = out.get_mut(pos) {
                    *b = arg;
                }
            }
            2 => out.truncate(pos),
            3 => {
                let end = pos.saturating_add(n.max(1)).min(out.len());
                out.drain(pos..end);
            }
            4 => out.insert(pos, arg),
            5 => {
                // Splice in the same region of another genuine token.
                let other = pool.entries.get(n % pool.entries.len().max(1));
                let len = 1 + usize::from(hi % 64);
                if let Some(src) = other.and_then(|g| g.token.as_bytes().get(pos..)) {
                    let src = src.get(..len.min(src.len())).unwrap_or_default();
                    let end = pos.saturating_add(src.len()).min(out.len());
                    out.splice(pos..end, src.iter().copied());
                }
            }
            _ => {
                let end = pos.saturating_add(n.max(1)).min(out.len());
                let copy: Vec<u8> = out.get(pos..end).unwrap_or_default().to_vec();
                out.splice(pos..pos, copy);
            }
        }
    }
    out
}

/// A verification that succeeded, and everything needed to judge it.
struct Accepted<'a> {
    p: &'a dyn Fuzzable,
    pool: &'a Pool,
    token: &'a Token,
    request: &'a Request,
    verified: &'a Verified,
    revoked: &'a MemoryRevocationList,
    ancestors: &'a [Token],
    discharges: &'a [Token],
    indexed: bool,
}

impl Accepted<'_> {
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: accepted a token {what}: {:?} for {:?}",
            self.p.name(),
            self.verified,
            self.request
        )
    }

    fn hash(&self, token: &Token) -> Option<LineageHash> {
        self.p.lineage_hash(token).ok()
    }

    fn none_revoked(&self, g: &Genuine) {
        if g.chain
            .iter()
            .any(|h| self.revoked.is_revoked(h).unwrap_or(true))
        {
            self.fail("whose chain has a revoked credential");
        }
    }

    /// The token is a pool token, and the verdict is that token's.
    fn check_genuine(&self) {
        let hash = self.hash(self.token);
        let reading = self.p.inspect(self.token).ok();
        let Some(g) = self.pool.entries.iter().find(|g| {
            hash.is_some()
                && self.hash(&g.token) == hash
                && self.p.inspect(&g.token).ok() == reading
        }) else {
            self.fail("that was never issued")
        };
        if Some(self.verified.lineage_hash) != hash {
            self.fail("and reported another lineage hash");
        }
        if self.verified.chain_len != g.steps.len() {
            self.fail("and reported another chain length");
        }
        if authorize(&g.root, &g.steps, self.request).is_err() {
            self.fail("for a request the reference authorizer denies");
        }
        self.none_revoked(g);
        let mut supplied: Vec<_> = self.discharges.iter().map(|d| self.hash(d)).collect();
        let mut own: Vec<_> = g.discharges.iter().map(|d| self.hash(d)).collect();
        supplied.sort_unstable();
        own.sort_unstable();
        if supplied != own {
            self.fail("with discharges that are not its own");
        }
        if self.p.properties().attenuation == AttenuationMode::Reissue {
            let walked = g.steps.len().min(self.ancestors.len());
            for (i, a) in self.ancestors.iter().take(walked).enumerate() {
                let want = g
                    .chain
                    .len()
                    .checked_sub(2 + i)
                    .and_then(|k| g.chain.get(k));
                if self.hash(a).as_ref() != want {
                    self.fail("with ancestors that are not its own");
                }
            }
            if !self.indexed && self.ancestors.len() < g.steps.len() {
                self.fail("cold, without the index rows of its ancestors");
            }
        }
    }

    /// The token extends `g` with whatever a holder appended: it allows no more
    /// than `g` does, nor more than what `inspect` reads in it.
    fn check_extension(&self, g: &Genuine) {
        if Some(self.verified.lineage_hash) != self.hash(self.token) {
            self.fail("and reported another lineage hash");
        }
        self.none_revoked(g);
        let as_parent = Request {
            subject: final_subject(&g.root, &g.steps),
            ..self.request.clone()
        };
        if authorize(&g.root, &g.steps, &as_parent).is_err() {
            self.fail("extended beyond what its genuine parent allows");
        }
        if let Ok(i) = self.p.inspect(self.token) {
            let parent = self.p.inspect(&g.token).ok();
            if parent.as_ref().map(|r| &r.capability) != Some(&i.capability) {
                self.fail("whose root reads differently from its parent's");
            }
            let before = parent.map(|r| r.steps).unwrap_or_default();
            if i.steps.get(..before.len()) != Some(before.as_slice()) {
                self.fail("whose earlier steps read differently from its parent's");
            }
            if authorize(&i.capability, &i.steps, self.request).is_err() {
                self.fail("whose own reading the reference authorizer denies");
            }
        }
    }
}
