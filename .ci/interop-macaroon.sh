#!/usr/bin/env bash
# Interoperability of captoken's macaroon provider with pymacaroons, an
# independent implementation (issue 3):
#   (a) pymacaroons mints and attenuates v2 macaroons in captoken's caveat
#       language; captoken verifies them with the same root key, and denies them
#       when a caveat is violated;
#   (b) captoken's macaroons verify in pymacaroons, with a Python checker of
#       captoken's caveat language;
#   (c) pymacaroons' third-party caveats with their bound discharges verify in
#       captoken (and captoken's in pymacaroons).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== installing pymacaroons into a throw-away virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check 'pymacaroons==0.13.0'
py="$work/venv/bin/python"
script=crates/macaroon-provider/interop/interop.py
vectors="$work/vectors"

echo "== (a, c) pymacaroons mints and attenuates"
"$py" "$script" mint "$vectors"

echo "== (a, c) captoken verifies them; (b) captoken mints its own"
CAPTOKEN_INTEROP_DIR="$vectors" cargo test --quiet -p captoken-macaroon-provider \
    --features third-party --test interop -- --ignored --exact interop_with_pymacaroons \
    --nocapture 2>&1 | tee "$work/cargo.log"
if ! grep -q "test result: ok. 1 passed" "$work/cargo.log"; then
    echo "FAIL: the Rust interop test did not run and pass"
    exit 1
fi

echo "== (b, c) pymacaroons verifies captoken's macaroons"
"$py" "$script" check "$vectors"

echo "interop-macaroon: OK (pymacaroons <-> captoken, v2 binary and JSON, third-party caveats)"
