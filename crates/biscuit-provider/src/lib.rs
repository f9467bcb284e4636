//! captoken provider for Biscuit capability tokens on biscuit-auth 6: the capability as Datalog, offline attenuation by appended check blocks, public-key verification.
//!
//! # The capability in Datalog
//!
//! [`TokenProvider::issue`](captoken_core_types::TokenProvider::issue) writes
//! the authority block, signed with the issuer's root key, whose key id gives
//! the token's Biscuit `root_key_id` ([`root_key_id`]). For the DESIGN.md §7
//! workload (one of its two grants shown) it reads:
//!
//! ```text
//! schema_version(2);
//! token_id(hex:5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a);
//! issuer("k1");
//! issued_at(2026-01-01T00:00:00Z);
//! subject("agent:planner-7");
//! right("fs.internal", "read_file") <- tool("fs.internal", "read_file"),
//!     arg("limit", $v0), arg("mode", "ro"), path_arg("path", $v2),
//!     $v0.type() == "integer" && $v0 >= 0 && $v0 <= 1000,
//!     $v2.starts_with("/srv/data/");
//! check if requester($r), holder($r);
//! check if time($t), $t >= 2026-01-01T00:00:00Z;
//! check if time($t), $t < 2026-01-01T01:00:00Z;
//! check if chain($n), $n <= 17;
//! ```
//!
//! `schema_version(2)` is captoken's own version inside the Biscuit v3 block
//! format (format tag [`FORMAT`] = `biscuit-v3.cap2`): an authority without it
//! (schema 1, tag `biscuit-v3`) or with another value is refused as malformed
//! ("unsupported captoken schema version"). `issued_at` is the signed issue
//! time. A subject bound to a holder key adds `subject_key(hex:<32 bytes>)`;
//! one bound to its principal's key set adds `subject_key_set("<principal>")`.
//!
//! One rule per grant derives the right to call a (server, tool). Argument
//! constraints are rule bodies: `Exact` is the argument's term itself, `Any`
//! an unconstrained variable (the argument must be present), `Prefix` a
//! `starts_with`, `Range` two comparisons, `OneOf` `contains` on one
//! homogeneous set per value type joined by `||`. The type guards make a value
//! of another type fail the rule instead of aborting the evaluation.
//!
//! **Paths.** `Path(dir)` is not expressed by string matching on the raw
//! argument: the verifier computes, in Rust and with the one shared rule
//! [`captoken_core_types::path::is_safe`], an ambient `path_arg(name, value)`
//! fact for each string argument that is a safe path, and the constraint is
//! `path_arg(name, $v), $v.starts_with("<base(dir)>/")`. For a safe path, that
//! prefix is "strictly under `dir` by whole segments"; a hostile path (dot or
//! empty segments, encoded dots, backslash, NUL, relative) has no `path_arg`
//! and fails. `/a` and `/a/` denote one set and are written (and read back)
//! as `/a/`; a `dir` that is no directory permits nothing and is written
//! `$v == "<dir>"`, which no safe path satisfies.
//!
//! # Attenuation
//!
//! [`TokenProvider::attenuate`](captoken_core_types::TokenProvider::attenuate)
//! needs no key: it appends one block with biscuit-auth's own append (a fresh
//! Ed25519 key per block). The block declares its parent's lineage hash and,
//! for a delegation, the delegate (and its binding, `delegate_key(hex:..)` or
//! `delegate_key_set("<principal>")`); everything else is checks:
//!
//! ```text
//! parent(hex:<lineage hash of the parent token>);
//! delegate("agent:b");                                   // delegate
//! check if chain($n), $n <= 3;                           // max_depth: at most d blocks after this one
//! check if time($t), $t >= 2026-01-01T00:00:10Z;         // not_before
//! check if time($t), $t < 2026-01-01T00:59:59Z;          // expires_at
//! check if tool("fs.internal", "read_file");             // keep (`check if false` keeps nothing)
//! check if tool($s, $t), $s != "fs.internal" || $t != "read_file"   // constraints, one
//!       or path_arg("path", $v0), arg("limit", $v1),                 // check per tool
//!          $v0.starts_with("/srv/data/p1/"),
//!          $v1.type() == "integer" && $v1 >= 0 && $v1 <= 999;
//! ```
//!
//! A check can only reject, so a step narrows whatever it says: asking for a
//! later expiry or a looser constraint adds a check the authority's already
//! implies. A step is refused only when the chain's depth is exhausted, when
//! it delegates to a subject bound to a key set (which needs the holder-key
//! directory of DESIGN.md §9), or when it delegates away from a holder bound
//! to a key without that key's signature.
//!
//! **Signed delegation** (DESIGN.md §8).
//! [`TokenProvider::attenuate_signed`](captoken_core_types::TokenProvider::attenuate_signed)
//! appends the same block as a Biscuit *third-party block* signed with the
//! current holder's Ed25519 key: biscuit-auth's external signature (signature
//! version 1) covers the block and the previous block's signature, so it
//! cannot be moved onto another token, and the lineage hash covers the
//! external key and signature ([`wire`]). Third-party blocks are used for
//! nothing else (no third-party caveats or discharges). A third-party block
//! has its own symbol table, and biscuit-auth evaluates it in the same default
//! scope as any block (the authority, the block itself and the authorizer),
//! so its checks see the ambient facts and narrow as above.
//! A holder writing raw Datalog constrains paths the same way, with
//! `path_arg`: its block sees the ambient facts, and facts it declares itself
//! are visible to its own checks only.
//!
//! # The authorizer
//!
//! The verifier builds one authorizer per request from ambient facts
//! `requester`, `holder`, `chain` (the number of blocks), `time`, `tool`, one
//! `arg` per argument and one `path_arg` per safe path argument, and one
//! policy, `allow if tool($s, $t), right($s, $t)`. Biscuit's default scopes do
//! the rest: the policy and the authority's rules and checks trust only the
//! authority block and the authorizer, so a `right`, `arg`, `path_arg` or
//! `holder` fact declared or derived by an appended block is invisible to
//! them; a block's own checks see the authority, itself and the authorizer.
//! Blocks cannot carry policies.
//!
//! **Delegation.** The last delegation wins (as in the reference authorizer),
//! and no check can express "unless a later block delegates": an appended
//! block can only add rejections, and neither the authority nor the authorizer
//! can see a later block's facts. So the verifier reads each block's declared
//! `delegate` (declared facts only, never derived ones), takes the last one or
//! the authority's `subject`, supplies it as the ambient `holder`, and the
//! authority's `check if requester($r), holder($r)` enforces it. The original
//! subject is denied once the token is delegated; a block without a `delegate`
//! keeps the holder. (Per-block checks such as `check if requester("agent:b")`
//! would express an intersection instead: after a→b→c nobody could act.)
//!
//! **Depth.** `chain(N)` counts every block, whoever wrote it, so a block
//! appended when the depth is exhausted fails the authority's
//! `check if chain($n), $n <= max_depth + 1`, and a step that lowers the depth
//! to `d` at block `j` adds `check if chain($n), $n <= j + 1 + d`.
//!
//! **Holder binding.** The bindings are declared facts, read in Rust with
//! each block's external key (if any), after authentication. Walking the
//! chain's delegations, one away from a holder bound to a key must be in a
//! third-party block signed by exactly that key, or the chain is denied with
//! `DenyReason::UnsignedDelegation`
//! (`captoken_core_types::reference::check_handovers`); a subject bound to a
//! key set denies with `DenyReason::PossessionRequired`
//! (`captoken_core_types::reference::check_key_sets`). The verdict keeps the
//! reference authorizer's order of reasons: request bounds (before anything
//! else), depth, hand-overs, key sets, subject, window, grants, steps. A
//! verdict that allows is then held to proof of possession when the
//! effective holder is bound to a key
//! (`captoken_core_types::possession::enforce`, `DenyReason::PossessionRequired`
//! without a proof).
//!
//! # Lineage and revocation
//!
//! The canonical bytes of a credential are the length-prefixed signed blocks
//! up to it, without the proof ([`wire`] defines them). The verifier recomputes
//! every prefix's hash from the token, denies unless each block's declared
//! `parent` equals its predecessor's recomputed hash, and checks every hash
//! against the revocation list. Cold and live verification are one
//! computation; supplied ancestors are compared with the recomputed hashes.
//! Biscuit's revocation ids (block signatures) map one to one onto these
//! hashes ([`BiscuitProvider::revocation_ids`]).
//!
//! # Framing and limits
//!
//! Only the canonical protobuf encoding (what biscuit-auth writes) is
//! accepted: protobuf decoding would otherwise accept, for instance, an
//! overlong varint in the unsigned `root_key_id`, so a token with a flipped bit
//! there would still verify. A third-party block is accepted only as a block
//! after the authority, with an Ed25519 external key.
//!
//! **One encoding per signature.** The lineage hash covers every block's
//! signature, next key and signature version (and a third-party block's
//! external key and signature) as written, so each admits one encoding, or a
//! holder could give a revoked credential an unrevoked twin without any key:
//! ECDSA P-256 signatures (a P-256 root, or a P-256 next key chosen by
//! whoever appended) only low-S in strict DER, since `(r, n − s)` verifies
//! too; Ed25519 signatures, external ones included, only with a reduced `S`
//! (biscuit-auth's `verify_strict` refuses the others too, unless
//! ed25519-dalek's `legacy_compatibility` feature is on in the build; the
//! check here does not depend on it); P-256 next keys only in the compressed
//! form biscuit-auth signs; external keys only Ed25519 of 32 bytes; and
//! signature version 1 only: a legacy version 0 block signature does not
//! cover the previous block's signature, so a version 0 block would move onto
//! a twin of its parent. The seal of a sealed token is held to the same
//! rules. Issuing writes version 1 even where biscuit-auth alone would
//! write version 0 (an authority without Datalog 3.3 features under an
//! Ed25519 key: the provider signs it again), and issuing or attenuating with
//! a P-256 key writes low-S (ecdsa 0.16 does not normalise P-256 signatures).
//! Other encodings are denied as `DenyReason::Malformed` before the Datalog
//! and the revocation check, and refused by attenuation, inspection, parsing
//! and [`BiscuitProvider::lineage`].
//!
//! A request beyond the size bounds of `captoken_core_types::bounds` is denied
//! before the token is parsed; a capability beyond them is refused at issue,
//! and a step beyond them at attenuation.
//!
//! biscuit-auth 6.0.0 applies its run limits only between fixpoint iterations
//! (`max_facts`, `max_iterations`, `max_time`) and between check and policy
//! queries (`max_time`); a single rule application or check query is not
//! bounded, and a join can enumerate every combination of facts before any
//! limit is looked at. [`Limits`] therefore screens every token before
//! evaluation: what holders append by sizes and counts, at most 4 predicates
//! per body, no regular expressions, foreign functions, string building or
//! set-iterating closures, and a static estimate of the facts scanned and
//! operations evaluated over the request's ambient facts (2^17 units for the
//! attenuation blocks, [`Limits::max_work`]; 2^21 for the authority and the
//! policy, [`Limits::max_authority_work`], which covers root tokens). Each
//! bound has a ceiling that [`Limits::builder`] enforces, so configuration can
//! tighten the screen but not switch it off. The run limits are set
//! explicitly: 1024 facts, 16 iterations, and 100 ms, a backstop far above the
//! ~8 ms a block at 85% of the static bound takes on the benchmark machine, so
//! that the clock (which makes a verdict machine-dependent) does not decide
//! for any token the screen admits. biscuit-auth's 1 ms default is less than
//! twice what the Datalog evaluation of the depth-16 workload takes there
//! (~0.6 ms).
//!
//! ```
//! use captoken_core_types::testing::workload;
//! use captoken_core_types::{KeyId, MemoryLineageIndex, MemoryRevocationList, TokenProvider, VerifyContext};
//! use captoken_biscuit_provider::{BiscuitKeyring, BiscuitProvider, RootSigningKey};
//!
//! let key = RootSigningKey::ed25519_from_seed(KeyId::new("k1")?, &[7u8; 32]);
//! let provider = BiscuitProvider::new(BiscuitKeyring::single(key));
//! let root = provider.issue(&workload::capability(KeyId::new("k1")?))?;
//! let child = provider.attenuate(&root, &workload::step(1))?; // no key needed
//! let (revoked, index) = (MemoryRevocationList::new(), MemoryLineageIndex::new());
//! let ctx = VerifyContext::new(&revoked, &index);
//! assert!(provider.verify(&child, &workload::request(1), &ctx).is_ok());
//! assert!(provider.verify(&child, &workload::request(0), &ctx).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod datalog;
mod key;
mod limits;
mod provider;
mod screen;
mod signature;
pub mod wire;

pub use captoken_core_types::KeyError;
pub use key::{BiscuitKeyring, RootAlgorithm, RootKey, RootPublicKey, RootSigningKey, root_key_id};
pub use limits::{Limits, LimitsBuilder, LimitsError};
pub use provider::{BiscuitProvider, FORMAT};
