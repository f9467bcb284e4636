#!/usr/bin/env bash
# Fuzz smoke run (issue 8): every cargo-fuzz target of fuzz/ for a short,
# bounded time from freshly generated seed corpora. Exits non-zero on any
# crash, timeout (hang), leak or out-of-memory, and on any failure of the
# harness's own lints and tests. Runs on a fresh machine.
#
# Toolchain: cargo-fuzz needs unstable rustc flags (-Zsanitizer=address and
# the SanitizerCoverage passes). Only the stable toolchain is assumed here, so
# the script sets RUSTC_BOOTSTRAP=1, which lets stable rustc accept them: no
# nightly toolchain is installed or needed. The default sanitizer is
# AddressSanitizer (with LeakSanitizer); FUZZ_SANITIZER=none fuzzes without
# one (faster, finds panics and hangs only). libfuzzer-sys compiles libFuzzer
# with the system C++ compiler (g++ is enough; clang is not needed).
#
# Environment:
#   FUZZ_SECONDS    time per target (default 20)
#   FUZZ_SANITIZER  address (default) or none
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "tools: cargo-fuzz and a C++ compiler"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq g++
    else
        echo "a C++ compiler (g++) is needed to build libFuzzer" >&2
        exit 1
    fi
fi
cargo fuzz --version

step "harness: fmt, clippy, tests (fuzz/ is outside the root workspace)"
cargo fmt --manifest-path fuzz/Cargo.toml --all --check
cargo clippy --manifest-path fuzz/Cargo.toml --workspace --all-targets -- -D warnings
cargo test --manifest-path fuzz/Cargo.toml --workspace --quiet

step "seed corpora"
cargo run --quiet --manifest-path fuzz/Cargo.toml -p captoken-fuzz-seed-corpus

step "build every target (sanitizer: $sanitizer)"
cargo fuzz build -s "$sanitizer"
built=$(date +%s)

targets=$(cargo fuzz list)
mkdir -p fuzz/artifacts
for target in $targets; do
    step "fuzz $target for ${seconds}s"
    log="fuzz/artifacts/$target.log"
    status=0
    cargo fuzz run -s "$sanitizer" "$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz target $target failed (log: $log); reproduce with" >&2
        echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $target fuzz/artifacts/$target/<crash-, timeout-, leak- or oom- file>" >&2
        exit 1
    fi
done

finished=$(date +%s)
step "fuzz smoke run passed: $(echo "$targets" | wc -w) targets, ${seconds}s each; $((built - started))s to build, $((finished - built))s to fuzz"
