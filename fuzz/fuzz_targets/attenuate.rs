//! Fuzz target `attenuate`: see `captoken_fuzz::attenuate` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = captoken_fuzz::attenuate::run(data);
});
