//! Fuzz target `verify`: see `captoken_fuzz::verify` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = captoken_fuzz::verify::run(data);
});
