//! Fuzz target `decode`: see `captoken_fuzz::decode` and `fuzz/README.md`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    captoken_fuzz::decode::run(data);
});
