//! Canonical bytes of a macaroon prefix and their lineage hash (DESIGN.md §5), computed in one streaming pass.
//!
//! # Canonical credential bytes
//!
//! The credential that was the parent of a delegation step is the macaroon as
//! it stood before the step's boundary caveat: the identifier, the first `k`
//! caveats and the chain signature after them. Its canonical bytes are the
//! libmacaroons v2 binary encoding of that macaroon with every location field
//! left out:
//!
//! ```text
//! canonical(k, sig) = 0x02
//!                     0x02 varint(len(identifier)) identifier 0x00
//!                     for each of the first k caveats:
//!                         0x02 varint(len(id)) id [0x04 varint(len(vid)) vid] 0x00
//!                     0x00
//!                     0x06 0x20 sig
//! ```
//!
//! Locations are left out because the chain signature does not cover them: a
//! holder could otherwise change a token's lineage hash without changing the
//! token, and slip past a revocation. The lineage hash is
//! `LineageHash::compute(FORMAT, canonical(k, sig))` with the format tag
//! `macaroon-v2.ct2` (so a `ct1` token of the previous version, whose tag was
//! `macaroon-v2`, never shares a hash with a `ct2` one). For a token this crate
//! wrote without third-party caveats (it writes no other locations), the
//! canonical bytes of the whole token are its binary form.
//!
//! Anyone holding a token can compute its own hash (`sig` is the token's
//! signature). Only a verifier holding the root key can recompute the hash of a
//! proper prefix, because the signature after `k < n` caveats is not in the
//! token: that is what makes a boundary's declared parent hash checkable.

use captoken_core_types::{LineageHash, LineageHasher};

use crate::crypto::Sig;
use crate::provider::FORMAT;
use crate::wire::{self, Macaroon, put_field};

/// The lineage hash of a macaroon's prefixes, fed caveat by caveat, that can
/// be finished at any prefix without rehashing it: core-types'
/// [`LineageHasher`] over the canonical bytes.
#[derive(Clone)]
pub(crate) struct PrefixHasher {
    hasher: LineageHasher,
    scratch: Vec<u8>,
}

impl PrefixHasher {
    /// Starts with the canonical header of a macaroon with this identifier.
    pub(crate) fn new(identifier: &[u8]) -> Self {
        let mut hasher = LineageHasher::new(FORMAT);
        let mut scratch = vec![wire::VERSION];
        put_field(&mut scratch, 2, identifier);
        scratch.push(0);
        hasher.update(&scratch);
        Self { hasher, scratch }
    }

    /// Adds one caveat.
    pub(crate) fn add(&mut self, id: &[u8], vid: Option<&[u8]>) {
        self.scratch.clear();
        put_field(&mut self.scratch, 2, id);
        if let Some(vid) = vid {
            put_field(&mut self.scratch, 4, vid);
        }
        self.scratch.push(0);
        self.hasher.update(&self.scratch);
    }

    /// The lineage hash of the prefix fed so far, with chain signature `sig`.
    pub(crate) fn finish(&self, sig: &Sig) -> LineageHash {
        let mut hasher = self.hasher.clone();
        hasher.update(&[0, 6, 32]);
        hasher.update(sig);
        hasher.finish()
    }
}

/// The canonical bytes of the macaroon made of `macaroon`'s identifier, its
/// first `prefix_len` caveats (all of them when larger) and the chain signature
/// `sig` (see the module documentation).
#[must_use]
pub fn canonical_bytes(macaroon: &Macaroon, prefix_len: usize, sig: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![wire::VERSION];
    put_field(&mut out, 2, &macaroon.identifier);
    out.push(0);
    for c in macaroon.caveats.iter().take(prefix_len) {
        put_field(&mut out, 2, &c.id);
        if let Some(vid) = &c.vid {
            put_field(&mut out, 4, vid);
        }
        out.push(0);
    }
    out.push(0);
    put_field(&mut out, 6, sig);
    out
}

/// The lineage hash of a whole macaroon: its canonical bytes with its own signature.
#[must_use]
pub fn lineage_hash(macaroon: &Macaroon) -> LineageHash {
    let mut h = PrefixHasher::new(&macaroon.identifier);
    for c in &macaroon.caveats {
        h.add(&c.id, c.vid.as_deref());
    }
    h.finish(&macaroon.signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Caveat;

    fn sample() -> Macaroon {
        Macaroon {
            location: Some(b"loc".to_vec()),
            identifier: b"ct2 k1 00".to_vec(),
            caveats: vec![
                Caveat::first_party(b"ct2 nbf 1".to_vec()),
                Caveat {
                    location: Some(b"https://third".to_vec()),
                    id: vec![7; 200],
                    vid: Some(vec![9; 72]),
                },
                Caveat::first_party(b"ct2 exp 2".to_vec()),
            ],
            signature: [3; 32],
        }
    }

    #[test]
    fn streaming_equals_lineage_hash_compute_at_every_prefix() {
        let m = sample();
        let mut h = PrefixHasher::new(&m.identifier);
        for k in 0..=m.caveats.len() {
            let sig = [u8::try_from(k).unwrap(); 32];
            assert_eq!(
                h.finish(&sig),
                LineageHash::compute(FORMAT, &canonical_bytes(&m, k, &sig)),
                "prefix {k}"
            );
            if let Some(c) = m.caveats.get(k) {
                h.add(&c.id, c.vid.as_deref());
            }
        }
    }

    #[test]
    fn canonical_bytes_are_the_binary_form_without_locations() {
        let mut m = sample();
        let with_locations = lineage_hash(&m);
        m.location = None;
        m.caveats[1].location = None;
        assert_eq!(
            with_locations,
            lineage_hash(&m),
            "locations are not covered"
        );
        assert_eq!(
            canonical_bytes(&m, usize::MAX, &m.signature),
            m.encode().unwrap()
        );
        assert_eq!(
            lineage_hash(&m),
            LineageHash::compute(FORMAT, &m.encode().unwrap())
        );
    }
}
