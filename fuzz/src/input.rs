//! Capabilities, attenuation steps and requests built from fuzzer bytes, through `core-types`' one generator of model values.
//!
//! The generator (`captoken_core_types::testing::generate`) is the one the
//! property tests use; here it reads its choices from the front of the input
//! ([`Unstructured::choose_index`]), and it may leave its pools (one value in
//! sixteen) for an arbitrary string, integer, time or holder binding, so that
//! every encoder also meets quotes, separators, non-ASCII text and extreme
//! numbers. An exhausted input gives the first choice of every pool rather than
//! an error.

use arbitrary::{Result, Unstructured};
use captoken_core_types::testing::generate::{self, Choices};
use captoken_core_types::{Attenuation, Capability, Request};

pub use generate::{T0, final_subject, remaining_depth};

/// Longest arbitrary string drawn outside the pools, in characters.
const MAX_WILD_CHARS: usize = 24;

/// True with probability `num / den` over uniform input bytes; false once the
/// input is exhausted (unlike [`Unstructured::ratio`], which then says true).
fn chance(u: &mut Unstructured<'_>, num: u8, den: u8) -> Result<bool> {
    Ok(u.int_in_range(1..=den)? > den.saturating_sub(num))
}

/// A short arbitrary string: any Unicode scalar values, at most [`MAX_WILD_CHARS`].
fn wild_string(u: &mut Unstructured<'_>) -> Result<String> {
    let len = u.int_in_range(0..=MAX_WILD_CHARS)?;
    let mut s = String::new();
    for _ in 0..len {
        // Mostly ASCII (where the separators of every text encoding live).
        let c = if chance(u, 3, 4)? {
            char::from(u.int_in_range(0u8..=0x7f)?)
        } else {
            u.arbitrary::<char>()?
        };
        s.push(c);
    }
    Ok(s)
}

/// The generator's choices, read from fuzzer bytes, wild values allowed.
struct Fuzzed<'a, 'b>(&'a mut Unstructured<'b>);

impl Choices for Fuzzed<'_, '_> {
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            self.0.choose_index(n).unwrap_or(0)
        }
    }

    fn wild_values(&self) -> bool {
        true
    }

    fn arbitrary_string(&mut self) -> String {
        wild_string(self.0).unwrap_or_default()
    }
}

/// A root capability ([`generate::capability`]).
///
/// # Errors
/// Never: an exhausted input gives the first choices.
pub fn capability(u: &mut Unstructured<'_>) -> Result<Capability> {
    Ok(generate::capability(&mut Fuzzed(u)))
}

/// An arbitrary, possibly hostile step ([`generate::hostile_step`]).
///
/// # Errors
/// Never: an exhausted input gives the first choices.
pub fn hostile_step(u: &mut Unstructured<'_>) -> Result<Attenuation> {
    Ok(generate::hostile_step(&mut Fuzzed(u)))
}

/// A step a re-issuing issuer accepts for `cap` ([`generate::narrowing_step`]).
///
/// # Errors
/// Never: an exhausted input gives the first choices.
pub fn narrowing_step(u: &mut Unstructured<'_>, cap: &Capability) -> Result<Attenuation> {
    Ok(generate::narrowing_step(&mut Fuzzed(u), cap))
}

/// A request near the authorized set of `root` attenuated by `steps` ([`generate::request_near`]).
///
/// # Errors
/// Never: an exhausted input gives the first choices.
pub fn request_near(
    u: &mut Unstructured<'_>,
    root: &Capability,
    steps: &[Attenuation],
) -> Result<Request> {
    Ok(generate::request_near(&mut Fuzzed(u), root, steps))
}

/// A request over the pools, unrelated to any capability ([`generate::request`]).
///
/// # Errors
/// Never: an exhausted input gives the first choices.
pub fn request(u: &mut Unstructured<'_>) -> Result<Request> {
    Ok(generate::request(&mut Fuzzed(u)))
}
