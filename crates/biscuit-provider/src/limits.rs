//! Bounds on token size, block shape and Datalog work, and the run limits handed to biscuit-auth's engine.
//!
//! biscuit-auth 6.0.0 applies its own [`RunLimits`] only *between* steps of the
//! evaluation: `max_facts` and `max_iterations` are checked after each fixpoint
//! iteration of `World::run_with_limits` (never inside one), and `max_time` is
//! checked after each iteration and after each check or policy query of
//! `Authorizer::authorize`. Nothing bounds a single rule application (a rule
//! whose body joins several predicates materialises every combination before
//! the fact count is looked at) or a single check query. The provider
//! therefore screens every block a holder appended *before* evaluation, with
//! the static bounds below, and keeps biscuit-auth's limits as the second line.

use std::time::Duration;

use biscuit_auth::datalog::RunLimits;

/// Every bound the provider applies, with the values of [`Limits::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest token accepted, in bytes of the binary form (64 KiB).
    pub max_token_len: usize,
    /// Most blocks in a token, authority included (64: at most 63 attenuations).
    pub max_blocks: usize,
    /// Most facts declared by one attenuation block (64).
    pub max_block_facts: usize,
    /// Most rules in one attenuation block (8).
    pub max_block_rules: usize,
    /// Most checks in one attenuation block (64).
    pub max_block_checks: usize,
    /// Most alternatives (`or`) in one check (16).
    pub max_check_queries: usize,
    /// Most predicates in the body of one rule or check query of an attenuation block (4).
    pub max_body_predicates: usize,
    /// Most operations in one expression of an attenuation block, closures included (64).
    pub max_expression_ops: usize,
    /// Most facts declared by all blocks of a token together (512).
    pub max_token_facts: usize,
    /// Upper bound on the work the engine may do for the rules and checks of
    /// the attenuation blocks (2^17 units: one fact scanned, or one expression
    /// operation evaluated), estimated statically before evaluation.
    /// biscuit-auth joins a body `p1, .., pb` by nested scans: `pk` scans every
    /// visible fact once for each combination of matches of the predicates
    /// before it, and the expressions run once per complete combination. So a
    /// body costs at most `V * (1 + M1 + M1*M2 + .. + M1*..*M(b-1)) + M1*..*Mb * (1 + ops)`,
    /// where `V` bounds the facts the block sees (the authority's, its own and
    /// the ambient ones; every block's when it uses a scope), `Mi` those named
    /// like `pi` (declared, ambient, or derivable: one for a rule with a ground
    /// head, `run.max_facts` for any other), and `ops` counts the operations of
    /// its expressions. A rule costs that on each of `run.max_iterations`
    /// iterations. The authority block is the issuer's and is not counted.
    pub max_work: u64,
    /// biscuit-auth's own run limits for the authorizer.
    pub run: RunLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_len: 64 * 1024,
            max_blocks: 64,
            max_block_facts: 64,
            max_block_rules: 8,
            max_block_checks: 64,
            max_check_queries: 16,
            max_body_predicates: 4,
            max_expression_ops: 64,
            max_token_facts: 512,
            max_work: 1 << 17,
            run: RunLimits {
                // The fact table holds the token's declared facts (at most
                // `max_token_facts`), the request's ambient facts and the
                // derived ones; a request with thousands of arguments is denied.
                max_facts: 1024,
                // Captoken's own rules are not recursive: one productive
                // iteration and one that finds the fixpoint.
                max_iterations: 16,
                // A backstop only, far above what any token inside the static
                // bounds needs (see the crate documentation), so that verdicts
                // do not depend on the machine. biscuit-auth's default is 1 ms.
                max_time: Duration::from_millis(100),
            },
        }
    }
}
