//! Biscuit's protobuf container as captoken reads it: framing bounds, the canonical lineage bytes, and the decoded blocks.
//!
//! The static screen run on the decoded blocks before any Datalog (declarations,
//! block shapes, work estimate) is the private `screen` module, next to [`Limits`].
//!
//! # Canonical credential bytes (DESIGN.md §5)
//!
//! A Biscuit token is `root_key_id?, authority, blocks[], proof`, each block a
//! `SignedBlock { block, next_key, signature, external_signature?, version? }`.
//! The credential a prefix of blocks `0..=k` stands for is encoded as the
//! concatenation, for each block `i` in `0..=k`, of
//!
//! ```text
//! u32be(len(block))      || block              serialized Datalog block, as signed
//! i32be(next_key.alg)                          0 = Ed25519, 1 = P-256 (protobuf enum value)
//! u32be(len(next_key))   || next_key.key       the key that signs block i + 1 (or the proof)
//! u32be(len(signature))  || signature          the block's signature = Biscuit revocation id i
//! u32be(version)                               signature version (absent = 0; only 1 is accepted)
//! ```
//!
//! A third-party block (one with an external signature: captoken writes them
//! only for a delegation signed by the holder's key, DESIGN.md §8) is preceded
//! by its external signature:
//!
//! ```text
//! u32be(0xffff_ffff)                           marker: no block is 2^32 − 1 bytes long
//! i32be(external_key.alg)                      0 = Ed25519 (the only one accepted)
//! u32be(len(external_key)) || external_key     the holder key that signed the block
//! u32be(len(external_sig)) || external_sig     its signature over the block and the previous signature
//! ```
//!
//! and then by the five fields above. The marker takes the place of a block
//! length, which is bounded by the token length (at most
//! [`Limits::max_token_len`]), so an ordinary block's part never begins with
//! it and the encoding of a block with and without an external signature
//! cannot be confused; the bytes of a chain without third-party blocks are
//! unchanged by it.
//!
//! `lineage_hash(prefix k) = LineageHash::compute(FORMAT, bytes)` with
//! [`FORMAT`] = `biscuit-v3.cap2`. The encoding is prefix-free per block, so
//! distinct prefixes give distinct bytes. It leaves out the proof (the next
//! private key or the seal, which changes when a holder seals or appends) and
//! the root key id (a hint no signature covers). Everything in it is read
//! straight from the protobuf fields, so anyone can recompute every
//! ancestor's hash from a descendant without any key.
//!
//! # One encoding per credential
//!
//! Since the bytes are read as written, every field in them must have exactly
//! one accepted encoding, or a holder could give a credential a second hash
//! (one that is not revoked) without any key. `container` accepts only the
//! canonical protobuf encoding, and the private `signature` module one
//! encoding per signature and next key: low-S strict-DER ECDSA, reduced
//! Ed25519 (external signatures included), compressed P-256 keys, external
//! keys only Ed25519 of 32 bytes, no external signature on the authority, and
//! signature version 1 only (the version whose block signatures, and external
//! signatures, cover the previous signature; the legacy version 0 is refused,
//! [`WireError::SignatureVersion`]).
//!
//! # Third-party blocks
//!
//! biscuit-auth gives a third-party block its own symbol table (the default
//! symbols and the block's own, and its own public-key table) and leaves the
//! token's table without its symbols, so the blocks after it continue the
//! table of the first-party blocks. The verifier reads each block in its table
//! the same way, and converts it (for inspection) in that table.
//!
//! # The captoken schema version
//!
//! The Biscuit container has no room for captoken's version: it is the
//! authority's `schema_version(2)` fact, covered by the root signature. A
//! token without it (captoken schema 1, format tag `biscuit-v3`) or with
//! another value is refused as malformed ([`WireError::UnsupportedVersion`])
//! by verification, attenuation and inspection alike.

use biscuit_auth::builder::{self as b, Convert};
use biscuit_auth::datalog::{self, SymbolTable};
use biscuit_auth::format::schema::public_key::Algorithm;
use biscuit_auth::format::{convert, schema};
use captoken_core_types::{LineageHash, LineageHasher};
use prost::Message;

use crate::datalog::{self as dl, Content};
use crate::limits::Limits;
use crate::provider::FORMAT;
use crate::signature;

/// Why bytes are not a token this provider reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub enum WireError {
    /// Longer than [`Limits::max_token_len`].
    TooLong,
    /// Not a Biscuit protobuf container.
    Container,
    /// More blocks than [`Limits::max_blocks`].
    TooManyBlocks,
    /// A third-party block captoken does not accept: an authority with an
    /// external signature, or an external key that is not an Ed25519 key of
    /// 32 bytes (captoken's holder keys).
    ThirdParty,
    /// A block does not decode as Biscuit Datalog.
    Block,
    /// The protobuf is not in its canonical encoding (overlong varints,
    /// unknown, repeated or reordered fields).
    NonCanonical,
    /// The authority does not declare `schema_version(2)`: a token of
    /// captoken schema 1 (format `biscuit-v3`), or of none.
    UnsupportedVersion,
    /// A block signed with a signature version other than 1, the one
    /// biscuit-auth 6 writes: the legacy version 0, whose block signatures do
    /// not cover the previous block's signature, or an unknown one.
    SignatureVersion,
    /// A signature in a form other than its one canonical encoding: a high-S
    /// or non-DER ECDSA signature, or an Ed25519 signature whose S is not
    /// reduced. The same signature in its other form would give the same
    /// credential another lineage hash.
    NonCanonicalSignature,
    /// A next key in a form other than the one biscuit-auth signs (a P-256 key
    /// not in compressed SEC1 form, or an Ed25519 key not of 32 bytes).
    NonCanonicalKey,
}

impl WireError {
    /// The message, written once: `Display` prints it, and error types that
    /// carry a `&'static str` hold it.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::TooLong => "token too long",
            Self::Container => "not a Biscuit token",
            Self::TooManyBlocks => "too many blocks",
            Self::ThirdParty => "third-party authority block, or external key other than Ed25519",
            Self::Block => "a block does not decode",
            Self::NonCanonical => "non-canonical encoding",
            Self::UnsupportedVersion => "unsupported captoken schema version",
            Self::SignatureVersion => "block signature version other than 1 (legacy or unknown)",
            Self::NonCanonicalSignature => {
                "non-canonical signature (high-S ECDSA, non-DER, or unreduced Ed25519)"
            }
            Self::NonCanonicalKey => "non-canonical public key encoding",
        }
    }
}

/// Decodes the container, checking its length, that it is in canonical form,
/// its block count, and that every signature version, signature, next key and
/// external signature is in its one accepted encoding (the authority never
/// third-party).
///
/// Protobuf decoding is lenient: an overlong varint in the unsigned
/// `root_key_id` decodes to the same value, and unknown fields are skipped,
/// so a token with a flipped bit there would still verify. Only the
/// encoding biscuit-auth itself writes (prost's, fields in order, minimal
/// varints) is accepted, so the binary form of a token is unique.
///
/// `root` gives the algorithm of the root key the token's root key id
/// selects, when the caller knows it; the authority signature is then held to
/// that algorithm's encoding, else to the encoding of either algorithm
/// (see the `signature` module).
pub(crate) fn container(
    bytes: &[u8],
    limits: &Limits,
    root: impl FnOnce(Option<u32>) -> Option<Algorithm>,
) -> Result<schema::Biscuit, WireError> {
    if bytes.len() > limits.max_token_len() {
        return Err(WireError::TooLong);
    }
    let proto = schema::Biscuit::decode(bytes).map_err(|_| WireError::Container)?;
    if proto.encoded_len() != bytes.len() || proto.encode_to_vec() != bytes {
        return Err(WireError::NonCanonical);
    }
    if proto.blocks.len() >= limits.max_blocks() {
        return Err(WireError::TooManyBlocks);
    }
    if proto.proof.content.is_none() {
        return Err(WireError::Container);
    }
    signature::check(&proto, root(proto.root_key_id))?;
    Ok(proto)
}

/// The marker that begins a third-party block's part of the canonical bytes,
/// where an ordinary block's length is.
const EXTERNAL_MARKER: u32 = u32::MAX;

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field is shorter than the token, itself bounded well below 4 GiB.
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The canonical bytes of the whole chain, and the end offset of each block's part.
pub(crate) fn canonical(proto: &schema::Biscuit) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut ends = Vec::with_capacity(proto.blocks.len() + 1);
    for s in std::iter::once(&proto.authority).chain(&proto.blocks) {
        if let Some(external) = &s.external_signature {
            out.extend_from_slice(&EXTERNAL_MARKER.to_be_bytes());
            out.extend_from_slice(&external.public_key.algorithm.to_be_bytes());
            put(&mut out, &external.public_key.key);
            put(&mut out, &external.signature);
        }
        put(&mut out, &s.block);
        out.extend_from_slice(&s.next_key.algorithm.to_be_bytes());
        put(&mut out, &s.next_key.key);
        put(&mut out, &s.signature);
        out.extend_from_slice(&s.version.unwrap_or(0).to_be_bytes());
        ends.push(out.len());
    }
    (out, ends)
}

/// The lineage hash of every prefix: element `k` is the hash of blocks `0..=k`,
/// equal to `LineageHash::compute(FORMAT, canonical bytes of 0..=k)`.
///
/// The prefixes share their beginning, so one [`LineageHasher`] runs over the
/// chain and a clone of it is finished at each boundary (linear, not
/// quadratic, in the chain length).
pub(crate) fn lineage_hashes(proto: &schema::Biscuit) -> Vec<LineageHash> {
    let (bytes, ends) = canonical(proto);
    let mut h = LineageHasher::new(FORMAT);
    let mut start = 0;
    ends.iter()
        .map(|end| {
            h.update(bytes.get(start..*end).unwrap_or_default());
            start = *end;
            h.clone().finish()
        })
        .collect()
}

/// One block in Biscuit's Datalog representation; symbols index
/// [`Blocks::symbols`], or the block's own table for a third-party block.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) facts: Vec<datalog::Fact>,
    pub(crate) rules: Vec<datalog::Rule>,
    pub(crate) checks: Vec<datalog::Check>,
    /// Does the block declare a block-level scope (`trusting ..`)? A captoken
    /// block never does.
    pub(crate) scoped: bool,
    /// A third-party block's own symbol and public-key table; `None` for a
    /// first-party block, written in the token's table.
    pub(crate) own_symbols: Option<SymbolTable>,
}

/// Every block of a token, and the token's symbol table (the first-party
/// blocks' symbols).
#[derive(Debug)]
pub(crate) struct Blocks {
    pub(crate) symbols: SymbolTable,
    pub(crate) blocks: Vec<Block>,
}

/// Decodes every block with biscuit-auth's own conversion (which also checks
/// each block's schema version against the features it uses, and that a
/// third-party block is of Datalog 3.2 or later), each in its symbol table,
/// and checks that the authority declares captoken's schema version.
pub(crate) fn blocks(proto: &schema::Biscuit) -> Result<Blocks, WireError> {
    let mut symbols = SymbolTable::new();
    let mut blocks = Vec::with_capacity(proto.blocks.len() + 1);
    for s in std::iter::once(&proto.authority).chain(&proto.blocks) {
        let pb = schema::Block::decode(s.block.as_slice()).map_err(|_| WireError::Block)?;
        let external = s
            .external_signature
            .as_ref()
            .map(|e| biscuit_auth::PublicKey::from_proto(&e.public_key))
            .transpose()
            .map_err(|_| WireError::ThirdParty)?;
        let block =
            convert::proto_block_to_token_block(&pb, external).map_err(|_| WireError::Block)?;
        // As biscuit-auth reads a token: a third-party block keeps its own
        // table, and only first-party blocks extend the token's.
        let own_symbols = match external {
            Some(_) => Some(block.symbols),
            None => {
                symbols
                    .extend(&block.symbols)
                    .map_err(|_| WireError::Block)?;
                None
            }
        };
        blocks.push(Block {
            facts: block.facts,
            rules: block.rules,
            checks: block.checks,
            scoped: !block.scopes.is_empty(),
            own_symbols,
        });
    }
    let blocks = Blocks { symbols, blocks };
    let version = blocks.content(0).as_ref().and_then(dl::schema_version);
    if version != Some(dl::SCHEMA_VERSION) {
        return Err(WireError::UnsupportedVersion);
    }
    Ok(blocks)
}

impl Blocks {
    /// The symbol table block `i` is written in.
    fn symbols_of(&self, i: usize) -> Option<&SymbolTable> {
        let block = self.blocks.get(i)?;
        Some(block.own_symbols.as_ref().unwrap_or(&self.symbols))
    }

    /// Block `i` as builder values, converted in its own symbol table; `None`
    /// when it does not convert or declares a block-level scope, which no
    /// captoken block does (the rules' and checks' scopes are in the content).
    pub(crate) fn content(&self, i: usize) -> Option<Content> {
        let block = self.blocks.get(i).filter(|b| !b.scoped)?;
        let symbols = self.symbols_of(i)?;
        Some(Content {
            facts: block
                .facts
                .iter()
                .map(|f| b::Fact::convert_from(f, symbols))
                .collect::<Result<_, _>>()
                .ok()?,
            rules: block
                .rules
                .iter()
                .map(|r| b::Rule::convert_from(r, symbols))
                .collect::<Result<_, _>>()
                .ok()?,
            checks: block
                .checks
                .iter()
                .map(|c| b::Check::convert_from(c, symbols))
                .collect::<Result<_, _>>()
                .ok()?,
        })
    }

    /// Check `j` of block `i` as a builder value.
    pub(crate) fn check(&self, i: usize, j: usize) -> Option<b::Check> {
        let c = self.blocks.get(i)?.checks.get(j)?;
        b::Check::convert_from(c, self.symbols_of(i)?).ok()
    }

    /// The smallest depth bound `C` (`check if chain($n), $n <= C`) any block declares.
    pub(crate) fn depth_bound(&self) -> Option<i64> {
        (0..self.blocks.len())
            .flat_map(|i| {
                let n = self.blocks.get(i).map_or(0, |b| b.checks.len());
                (0..n).filter_map(move |j| self.check(i, j))
            })
            .filter_map(|c| dl::depth_bound(&c))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(block: &[u8], key: &[u8], sig: &[u8], version: Option<u32>) -> schema::SignedBlock {
        schema::SignedBlock {
            block: block.to_vec(),
            next_key: schema::PublicKey {
                algorithm: 0,
                key: key.to_vec(),
            },
            signature: sig.to_vec(),
            external_signature: None,
            version,
        }
    }

    #[test]
    fn canonical_bytes_are_the_documented_encoding() {
        let proto = schema::Biscuit {
            root_key_id: Some(7),
            authority: signed(b"A", b"KK", b"SSS", None),
            blocks: vec![signed(b"BB", b"L", b"T", Some(1))],
            proof: schema::Proof {
                content: Some(schema::proof::Content::NextSecret(vec![9; 32])),
            },
        };
        let (bytes, ends) = canonical(&proto);
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 0, 0, 1, b'A', 0, 0, 0, 0, 0, 0, 0, 2, b'K', b'K']);
        want.extend_from_slice(&[0, 0, 0, 3, b'S', b'S', b'S', 0, 0, 0, 0]);
        let first = want.len();
        want.extend_from_slice(&[0, 0, 0, 2, b'B', b'B', 0, 0, 0, 0, 0, 0, 0, 1, b'L']);
        want.extend_from_slice(&[0, 0, 0, 1, b'T', 0, 0, 0, 1]);
        assert_eq!(bytes, want);
        assert_eq!(ends, vec![first, want.len()]);
        // Neither the root key id nor the proof is part of it.
        let mut other = proto.clone();
        other.root_key_id = None;
        other.proof.content = Some(schema::proof::Content::FinalSignature(vec![1; 64]));
        assert_eq!(canonical(&other).0, bytes);
        let hashes = lineage_hashes(&proto);
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0], LineageHash::compute(FORMAT, &want[..first]));
        assert_eq!(hashes[1], LineageHash::compute(FORMAT, &want));
        // The incremental hashing equals `LineageHash::compute` on every prefix of a longer chain.
        let mut long = proto.clone();
        for i in 0..20u8 {
            long.blocks
                .push(signed(&[i; 40], &[i; 32], &[i; 64], Some(1)));
        }
        let (bytes, ends) = canonical(&long);
        let incremental = lineage_hashes(&long);
        assert_eq!(incremental.len(), ends.len());
        for (h, end) in incremental.iter().zip(&ends) {
            assert_eq!(*h, LineageHash::compute(FORMAT, &bytes[..*end]));
        }
    }

    #[test]
    fn a_third_party_block_is_marked_and_covers_its_external_signature() {
        let mut third = signed(b"C", b"M", b"U", Some(1));
        third.external_signature = Some(schema::ExternalSignature {
            signature: b"XY".to_vec(),
            public_key: schema::PublicKey {
                algorithm: 0,
                key: b"Z".to_vec(),
            },
        });
        let proto = schema::Biscuit {
            root_key_id: None,
            authority: signed(b"A", b"K", b"S", Some(1)),
            blocks: vec![third.clone()],
            proof: schema::Proof {
                content: Some(schema::proof::Content::NextSecret(vec![9; 32])),
            },
        };
        let (bytes, ends) = canonical(&proto);
        let first = ends[0];
        let mut want = bytes[..first].to_vec();
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, b'Z']);
        want.extend_from_slice(&[0, 0, 0, 2, b'X', b'Y']);
        want.extend_from_slice(&[0, 0, 0, 1, b'C', 0, 0, 0, 0, 0, 0, 0, 1, b'M']);
        want.extend_from_slice(&[0, 0, 0, 1, b'U', 0, 0, 0, 1]);
        assert_eq!(bytes, want);
        // Without the external signature, the block's part is the plain one.
        let mut plain = proto.clone();
        plain.blocks[0].external_signature = None;
        let (plain_bytes, _) = canonical(&plain);
        assert_eq!(plain_bytes[first..], want[first + 4 + 4 + 5 + 6..]);
        assert_ne!(lineage_hashes(&plain)[1], lineage_hashes(&proto)[1]);
        // Another key or signature gives another hash.
        for change in [0, 1] {
            let mut other = proto.clone();
            let e = other.blocks[0].external_signature.as_mut().unwrap();
            if change == 0 {
                e.public_key.key = b"W".to_vec();
            } else {
                e.signature = b"XZ".to_vec();
            }
            assert_ne!(lineage_hashes(&other)[1], lineage_hashes(&proto)[1]);
        }
    }

    #[test]
    fn container_bounds() {
        let limits = Limits::default();
        assert_eq!(
            container(&vec![0; limits.max_token_len() + 1], &limits, |_| None),
            Err(WireError::TooLong)
        );
        assert_eq!(
            container(b"\xff\xff", &limits, |_| None),
            Err(WireError::Container)
        );
        // Empty input decodes to an all-default message, which is not what it encodes to.
        assert_eq!(
            container(b"", &limits, |_| None),
            Err(WireError::NonCanonical)
        );
    }

    #[test]
    fn only_the_canonical_encoding_is_accepted() {
        let limits = Limits::default();
        let proto = schema::Biscuit {
            root_key_id: Some(7),
            authority: signed(b"A", &[1; 32], &[2; 64], Some(1)),
            blocks: Vec::new(),
            proof: schema::Proof {
                content: Some(schema::proof::Content::NextSecret(vec![9; 32])),
            },
        };
        let bytes = proto.encode_to_vec();
        assert_eq!(container(&bytes, &limits, |_| None), Ok(proto));
        // root_key_id = 7 as an overlong varint: prost reads 7 all the same.
        let mut overlong = vec![0x08, 0x87, 0x80, 0x80, 0x80, 0x00];
        overlong.extend_from_slice(&bytes[2..]);
        assert!(schema::Biscuit::decode(overlong.as_slice()).is_ok());
        assert_eq!(
            container(&overlong, &limits, |_| None),
            Err(WireError::NonCanonical)
        );
        // An unknown field appended is skipped by prost and refused here.
        let mut unknown = bytes.clone();
        unknown.extend_from_slice(&[0x78, 0x01]);
        assert!(schema::Biscuit::decode(unknown.as_slice()).is_ok());
        assert_eq!(
            container(&unknown, &limits, |_| None),
            Err(WireError::NonCanonical)
        );
    }
}
