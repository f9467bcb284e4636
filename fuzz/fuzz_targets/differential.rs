//! Fuzz target `differential`: see `captoken_fuzz::differential` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = captoken_fuzz::differential::run(data);
});
