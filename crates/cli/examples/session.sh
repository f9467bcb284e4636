#!/bin/sh
# The scripted captoken session, for every format: keygen -> issue -> attenuate
# (dry run, then for real) -> delegate (signed by the holder) -> prove -> verify
# (allowed) -> revoke the root -> verify (denied).
#
# Usage: crates/cli/examples/session.sh [path/to/captoken] [format...]
# (default binary: target/debug/captoken; default formats: all five).
# Runs in a fresh temporary directory; exits non-zero on any unexpected result.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-target/debug/captoken}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
[ $# -gt 0 ] && shift
FORMATS=${*:-hmac macaroon biscuit paseto-public paseto-local}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

run() { echo "\$ captoken $*" | sed "s|$HERE/|examples/|g"; "$BIN" "$@"; }
REQ="--server fs --tool read_file --arg path=/srv/data/report.txt --arg mode=ro --arg limit=10"

for F in $FORMATS; do
  mkdir "$F" && cd "$F"
  echo "=== $F"
  run keygen --format "$F" --id k1 --out issuer.json
  run holder-keygen --out alice.json | sed "s/ed25519:[0-9a-f]*/ed25519:…/"
  run holder-keygen --out bob.json | sed "s/ed25519:[0-9a-f]*/ed25519:…/"
  run issue --key issuer.json --capability "$HERE/capability.toml" --bind-holder alice.json --store store.db --out root.tok
  run attenuate --key issuer.json --token root.tok --step "$HERE/step.toml" --dry-run
  run attenuate --key issuer.json --token root.tok --step "$HERE/step.toml" --store store.db --out narrow.tok
  run delegate --key issuer.json --token narrow.tok --step "$HERE/handover.toml" --holder-key alice.json --bind-holder bob.json --store store.db --out bob.tok
  KEY=""; [ "$F" = paseto-local ] && KEY="--key issuer.json"
  # shellcheck disable=SC2086
  run prove --token bob.tok --holder-key bob.json $KEY $REQ --at 2026-01-01T00:10:00Z --out proof1
  # shellcheck disable=SC2086
  run verify --key issuer.json --token bob.tok --proof proof1 --subject agent:bob $REQ --at 2026-01-01T00:10:00Z --store store.db
  run revoke --key issuer.json --token root.tok --store store.db | sed 's/hash [0-9a-f]*/hash …/'
  # shellcheck disable=SC2086
  run prove --token bob.tok --holder-key bob.json $KEY $REQ --at 2026-01-01T00:11:00Z --out proof2
  set +e
  # shellcheck disable=SC2086
  run verify --key issuer.json --token bob.tok --proof proof2 --subject agent:bob $REQ --at 2026-01-01T00:11:00Z --store store.db
  rc=$?
  set -e
  echo "(exit $rc)"
  [ "$rc" -eq 1 ] || { echo "expected exit 1 after revocation" >&2; exit 1; }
  cd ..
done
