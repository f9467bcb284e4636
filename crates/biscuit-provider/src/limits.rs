//! Bounds on token size, block shape and Datalog work, and the run limits handed to biscuit-auth's engine.
//!
//! biscuit-auth 6.0.0 applies its own [`RunLimits`] only *between* steps of the
//! evaluation: `max_facts` and `max_iterations` are checked after each fixpoint
//! iteration of `World::run_with_limits` (never inside one), and `max_time` is
//! checked after each iteration and after each check or policy query of
//! `Authorizer::authorize`. Nothing bounds a single rule application (a rule
//! whose body joins several predicates materialises every combination before
//! the fact count is looked at) or a single check query. The provider
//! therefore screens every token *before* evaluation, with the static bounds
//! below, and keeps biscuit-auth's limits as the second line.
//!
//! The fields are private: a [`Limits`] is [`Limits::default`] or comes from
//! [`Limits::builder`], which refuses any value outside the range documented
//! on its setter, so that no caller can switch a screen off by raising one
//! number. The ceilings:
//!
//! | bound | default | allowed |
//! | --- | --- | --- |
//! | [`max_token_len`](Limits::max_token_len) | 64 KiB | 1 B to 256 KiB |
//! | [`max_blocks`](Limits::max_blocks) | 64 | 1 to 128 |
//! | [`max_block_facts`](Limits::max_block_facts) | 64 | 0 to 256 |
//! | [`max_block_rules`](Limits::max_block_rules) | 8 | 0 to 32 |
//! | [`max_block_checks`](Limits::max_block_checks) | 64 | 0 to 256 |
//! | [`max_check_queries`](Limits::max_check_queries) | 16 | 0 to 64 |
//! | [`max_body_predicates`](Limits::max_body_predicates) | 4 | 0 to 8 |
//! | [`max_expression_ops`](Limits::max_expression_ops) | 64 | 0 to 256 |
//! | [`max_token_facts`](Limits::max_token_facts) | 512 | 0 to 4096 |
//! | [`max_work`](Limits::max_work) | 2^17 | 0 to 2^20 |
//! | [`max_authority_work`](Limits::max_authority_work) | 2^21 | 0 to 2^23 |
//! | `run.max_facts` | 1024 | 1 to 16384 |
//! | `run.max_iterations` | 16 | 1 to 64 |
//! | `run.max_time` | 100 ms | 0 to 10 s |

use std::time::Duration;

use biscuit_auth::datalog::RunLimits;

/// Every bound the provider applies. Read with the accessors; make one with
/// [`Limits::builder`] (the defaults are [`Limits::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    max_token_len: usize,
    max_blocks: usize,
    max_block_facts: usize,
    max_block_rules: usize,
    max_block_checks: usize,
    max_check_queries: usize,
    max_body_predicates: usize,
    max_expression_ops: usize,
    max_token_facts: usize,
    max_work: u64,
    max_authority_work: u64,
    run: RunLimits,
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
            max_authority_work: 1 << 21,
            run: RunLimits {
                // The fact table holds the token's declared facts (at most
                // `max_token_facts`), the request's ambient facts (at most
                // 5 + 2 * 64 inside the request bounds) and the derived ones.
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

/// A value outside the range a [`LimitsBuilder`] setter documents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("limit {field} = {value} is outside {min}..={max}")]
pub struct LimitsError {
    /// The setter's name.
    pub field: &'static str,
    /// The value refused (milliseconds for `run_max_time`, saturating).
    pub value: u64,
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
}

impl Limits {
    /// A builder starting from [`Limits::default`].
    pub fn builder() -> LimitsBuilder {
        LimitsBuilder {
            limits: Self::default(),
            error: None,
        }
    }

    /// Largest token accepted, in bytes of the binary form.
    #[must_use]
    pub fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// Most blocks in a token, authority included.
    #[must_use]
    pub fn max_blocks(&self) -> usize {
        self.max_blocks
    }

    /// Most facts declared by one attenuation block.
    #[must_use]
    pub fn max_block_facts(&self) -> usize {
        self.max_block_facts
    }

    /// Most rules in one attenuation block.
    #[must_use]
    pub fn max_block_rules(&self) -> usize {
        self.max_block_rules
    }

    /// Most checks in one attenuation block.
    #[must_use]
    pub fn max_block_checks(&self) -> usize {
        self.max_block_checks
    }

    /// Most alternatives (`or`) in one check of an attenuation block.
    #[must_use]
    pub fn max_check_queries(&self) -> usize {
        self.max_check_queries
    }

    /// Most predicates in the body of one rule or check query of an attenuation block.
    #[must_use]
    pub fn max_body_predicates(&self) -> usize {
        self.max_body_predicates
    }

    /// Most operations in one expression of an attenuation block, closures included.
    #[must_use]
    pub fn max_expression_ops(&self) -> usize {
        self.max_expression_ops
    }

    /// Most facts declared by all blocks of a token together.
    #[must_use]
    pub fn max_token_facts(&self) -> usize {
        self.max_token_facts
    }

    /// Upper bound on the work the engine may do because of the attenuation
    /// blocks (one unit: one fact scanned, or one expression operation
    /// evaluated), estimated statically before evaluation.
    ///
    /// biscuit-auth joins a body `p1, .., pb` by nested scans: `pk` scans every
    /// visible fact once for each combination of matches of the predicates
    /// before it, and the expressions run once per complete combination. So a
    /// body costs at most `V * (1 + M1 + M1*M2 + .. + M1*..*M(b-1)) + M1*..*Mb * (1 + ops)`,
    /// where `V` bounds the facts the body sees (the authority's, its block's
    /// and the ambient ones; every block's when it uses a scope), `Mi` those
    /// that can match `pi` (declared, ambient, or derivable: one for a rule
    /// with a ground head, `run.max_facts` for any other; one ambient `arg` or
    /// `path_arg` for a predicate naming its argument by a constant), and
    /// `ops` counts the operations of its expressions. Every rule of the token
    /// runs once per fixpoint iteration: twice when no rule reads what a rule
    /// derives, `run.max_iterations` times otherwise. Counted here: the
    /// attenuation blocks' rules and checks, and the authority's rules for
    /// every iteration past the second (which only a holder's rules cause).
    #[must_use]
    pub fn max_work(&self) -> u64 {
        self.max_work
    }

    /// Upper bound on the statically estimated work of the authority block
    /// and the authorizer (the issuer's rules for two iterations, its checks,
    /// the allow policy) over the request's ambient facts, with the cost model
    /// of [`Limits::max_work`]. It covers root tokens, which have no
    /// attenuation block: a request's arguments are scanned by every
    /// predicate of every grant rule. The default admits every capability
    /// inside the size bounds of `captoken_core_types::bounds` with any
    /// request inside them.
    #[must_use]
    pub fn max_authority_work(&self) -> u64 {
        self.max_authority_work
    }

    /// biscuit-auth's own run limits for the authorizer.
    #[must_use]
    pub fn run(&self) -> &RunLimits {
        &self.run
    }
}

/// Builds a checked [`Limits`]; see [`Limits::builder`]. Each setter documents
/// its range; [`LimitsBuilder::build`] refuses the first value outside it.
#[derive(Clone, Debug)]
#[must_use]
pub struct LimitsBuilder {
    limits: Limits,
    error: Option<LimitsError>,
}

/// `value` if it is inside `min..=max`, else the builder's first error.
fn checked<T: Copy + PartialOrd + TryInto<u64>>(
    error: &mut Option<LimitsError>,
    field: &'static str,
    value: T,
    min: T,
    max: T,
) -> Option<T> {
    if min <= value && value <= max {
        return Some(value);
    }
    let wide = |v: T| v.try_into().unwrap_or(u64::MAX);
    error.get_or_insert(LimitsError {
        field,
        value: wide(value),
        min: wide(min),
        max: wide(max),
    });
    None
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty, $min:expr, $max:expr) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            if let Some(v) = checked(&mut self.error, stringify!($name), value, $min, $max) {
                self.limits.$name = v;
            }
            self
        }
    };
}

impl LimitsBuilder {
    setter!(
        /// Largest token, in bytes of the binary form: 1 to 256 KiB (default 64 KiB).
        max_token_len: usize, 1, 256 * 1024
    );
    setter!(
        /// Most blocks, authority included: 1 to 128 (default 64).
        max_blocks: usize, 1, 128
    );
    setter!(
        /// Most facts in one attenuation block: 0 to 256 (default 64).
        max_block_facts: usize, 0, 256
    );
    setter!(
        /// Most rules in one attenuation block: 0 to 32 (default 8).
        max_block_rules: usize, 0, 32
    );
    setter!(
        /// Most checks in one attenuation block: 0 to 256 (default 64).
        max_block_checks: usize, 0, 256
    );
    setter!(
        /// Most alternatives in one check of an attenuation block: 0 to 64 (default 16).
        max_check_queries: usize, 0, 64
    );
    setter!(
        /// Most predicates in one body of an attenuation block: 0 to 8 (default 4).
        max_body_predicates: usize, 0, 8
    );
    setter!(
        /// Most operations in one expression of an attenuation block: 0 to 256 (default 64).
        max_expression_ops: usize, 0, 256
    );
    setter!(
        /// Most facts declared by all blocks of a token: 0 to 4096 (default 512).
        max_token_facts: usize, 0, 4096
    );
    setter!(
        /// The attenuation blocks' work bound ([`Limits::max_work`]): 0 to 2^20 (default 2^17).
        max_work: u64, 0, 1 << 20
    );
    setter!(
        /// The authority's work bound ([`Limits::max_authority_work`]): 0 to 2^23 (default 2^21).
        max_authority_work: u64, 0, 1 << 23
    );

    /// biscuit-auth's fact table bound: 1 to 16384 (default 1024).
    pub fn run_max_facts(mut self, value: u64) -> Self {
        if let Some(v) = checked(&mut self.error, "run_max_facts", value, 1, 16_384) {
            self.limits.run.max_facts = v;
        }
        self
    }

    /// biscuit-auth's fixpoint iteration bound: 1 to 64 (default 16). Zero is
    /// refused: biscuit-auth compares the count for equality after an
    /// iteration, so it would never stop on it.
    pub fn run_max_iterations(mut self, value: u64) -> Self {
        if let Some(v) = checked(&mut self.error, "run_max_iterations", value, 1, 64) {
            self.limits.run.max_iterations = v;
        }
        self
    }

    /// biscuit-auth's time budget, a backstop: 0 to 10 s (default 100 ms).
    /// It only stops an evaluation the static screen let through; raise it
    /// where verdicts must not depend on a loaded machine (fuzzing under a
    /// sanitizer), never as a substitute for the screen.
    pub fn run_max_time(mut self, value: Duration) -> Self {
        let max = Duration::from_secs(10);
        if value <= max {
            self.limits.run.max_time = value;
        } else {
            self.error.get_or_insert(LimitsError {
                field: "run_max_time",
                value: u64::try_from(value.as_millis()).unwrap_or(u64::MAX),
                min: 0,
                max: 10_000,
            });
        }
        self
    }

    /// The limits.
    ///
    /// # Errors
    /// [`LimitsError`] naming the first setter given a value outside its range.
    pub fn build(self) -> Result<Limits, LimitsError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.limits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_inside_their_ranges() {
        let d = Limits::default();
        let rebuilt = Limits::builder()
            .max_token_len(d.max_token_len())
            .max_blocks(d.max_blocks())
            .max_block_facts(d.max_block_facts())
            .max_block_rules(d.max_block_rules())
            .max_block_checks(d.max_block_checks())
            .max_check_queries(d.max_check_queries())
            .max_body_predicates(d.max_body_predicates())
            .max_expression_ops(d.max_expression_ops())
            .max_token_facts(d.max_token_facts())
            .max_work(d.max_work())
            .max_authority_work(d.max_authority_work())
            .run_max_facts(d.run().max_facts)
            .run_max_iterations(d.run().max_iterations)
            .run_max_time(d.run().max_time)
            .build();
        assert_eq!(rebuilt, Ok(d));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert_eq!(
            Limits::builder().max_work(u64::MAX).build(),
            Err(LimitsError {
                field: "max_work",
                value: u64::MAX,
                min: 0,
                max: 1 << 20
            })
        );
        assert_eq!(
            Limits::builder()
                .max_work(1 << 20)
                .build()
                .map(|l| l.max_work()),
            Ok(1 << 20)
        );
        // A fuzzing harness's slower backstop is inside the range.
        assert_eq!(
            Limits::builder()
                .run_max_time(Duration::from_secs(2))
                .build()
                .map(|l| l.run().max_time),
            Ok(Duration::from_secs(2))
        );
        for (field, built) in [
            ("max_token_len", Limits::builder().max_token_len(usize::MAX)),
            ("max_token_len", Limits::builder().max_token_len(0)),
            ("max_blocks", Limits::builder().max_blocks(129)),
            ("max_block_facts", Limits::builder().max_block_facts(257)),
            ("max_block_rules", Limits::builder().max_block_rules(33)),
            ("max_block_checks", Limits::builder().max_block_checks(257)),
            ("max_check_queries", Limits::builder().max_check_queries(65)),
            (
                "max_body_predicates",
                Limits::builder().max_body_predicates(9),
            ),
            (
                "max_expression_ops",
                Limits::builder().max_expression_ops(257),
            ),
            ("max_token_facts", Limits::builder().max_token_facts(4097)),
            (
                "max_authority_work",
                Limits::builder().max_authority_work((1 << 23) + 1),
            ),
            ("run_max_facts", Limits::builder().run_max_facts(0)),
            ("run_max_facts", Limits::builder().run_max_facts(16_385)),
            (
                "run_max_iterations",
                Limits::builder().run_max_iterations(0),
            ),
            (
                "run_max_iterations",
                Limits::builder().run_max_iterations(65),
            ),
            (
                "run_max_time",
                Limits::builder().run_max_time(Duration::MAX),
            ),
        ] {
            assert_eq!(built.build().map_err(|e| e.field), Err(field));
        }
        // The first error wins; a later valid setter does not clear it.
        let e = Limits::builder()
            .max_blocks(0)
            .max_work(u64::MAX)
            .max_blocks(2)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "max_blocks");
        assert_eq!(e.to_string(), "limit max_blocks = 0 is outside 1..=128");
    }
}
