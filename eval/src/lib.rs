//! captoken's evaluation: the invariant suites of DESIGN.md §6 generic over every
//! provider, the workload measurements of §7, and the report built from them.
//!
//! The suites are mounted once per provider with [`mount_suites!`], in the style
//! of rustls's per-provider test modules, so that a failure names its provider.
#![forbid(unsafe_code)]

pub mod candidate;
pub mod measure;
pub mod peers;
pub mod report;
pub mod results;
pub mod suites;
pub mod svg;

/// Cases per suite under `cargo test`; `CAPTOKEN_CASES` overrides it.
pub const TEST_CASES: u32 = 64;

/// The case count for tests: `CAPTOKEN_CASES` when set to a number, else [`TEST_CASES`].
#[must_use]
pub fn test_cases() -> u32 {
    std::env::var("CAPTOKEN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TEST_CASES)
}

/// Mounts the three invariant suites as tests of one candidate, in a module
/// named after it: `mount_suites!(hmac, captoken_eval::candidate::Hmac);`
/// gives `hmac::binding`, `hmac::attenuation`, `hmac::lineage` and `hmac::path`.
#[macro_export]
macro_rules! mount_suites {
    ($module:ident, $candidate:ty) => {
        mod $module {
            use $crate::suites::{Suite, run};

            fn check(suite: Suite) {
                let outcome = run::<$candidate>(suite, $crate::test_cases());
                if let Some(failure) = outcome.failure {
                    panic!(
                        "{} suite failed for {}:\n{}",
                        suite.name(),
                        stringify!($module),
                        failure
                    );
                }
            }

            #[test]
            fn binding() {
                check(Suite::Binding);
            }

            #[test]
            fn attenuation() {
                check(Suite::Attenuation);
            }

            #[test]
            fn lineage() {
                check(Suite::Lineage);
            }

            #[test]
            fn path() {
                check(Suite::Path);
            }

            #[test]
            fn possession() {
                check(Suite::Possession);
            }
        }
    };
}
