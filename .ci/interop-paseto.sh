#!/usr/bin/env bash
# Interoperability of captoken's PASETO provider with pyseto, an independent
# implementation (issue 5):
#   (a) pyseto signs v4.public tokens carrying captoken's claims (wire version 2,
#       implicit assertion `captoken/paseto/v2`) and footer; captoken verifies
#       them, and denies them when a claim is violated, the key differs, the
#       implicit assertion is not version 2's, or the subject is bound to a
#       holder (no proof of possession yet);
#   (b) captoken's tokens verify in pyseto with the public key exported as
#       PASERK, and pyseto re-signs captoken's golden token byte for byte.
# Installs pyseto into a throw-away virtualenv. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== installing pyseto into a throw-away virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check 'pyseto==1.10.0'
py="$work/venv/bin/python"
script=crates/paseto-provider/interop/interop.py
vectors="$work/vectors"

echo "== (a) pyseto signs"
"$py" "$script" sign "$vectors"

echo "== (a) captoken verifies them; (b) captoken issues its own"
CAPTOKEN_INTEROP_DIR="$vectors" cargo test --quiet -p captoken-paseto-provider \
    --test interop -- --ignored --exact pyseto_interop --nocapture

echo "== (b) pyseto verifies captoken's tokens"
"$py" "$script" verify "$vectors"
