//! The harness of captoken's fuzz targets: the providers under test, structure-aware input readers, genuine-token pools, and the body of every target.
//!
//! Each target in `fuzz_targets/` is one line that calls a `run` function
//! here; each `run` reads its first input byte modulo the number of providers
//! to pick the provider ([`providers::select`]), so that one target covers one
//! attack surface of every format. `README.md` describes the targets, their
//! input layouts and what each asserts. A violated property panics, which
//! libFuzzer reports as a crash.
#![forbid(unsafe_code)]
#![allow(
    clippy::panic,
    reason = "a fuzz oracle reports a violated property by panicking, as libFuzzer expects"
)]

pub mod attenuate;
pub mod chain;
pub mod decode;
pub mod differential;
pub mod input;
pub mod pool;
pub mod providers;
pub mod seeds;
pub mod verify;
