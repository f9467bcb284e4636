"""Interoperability of captoken's PASETO v4.public tokens with pyseto, an independent implementation.

Run by .ci/interop-paseto.sh in two phases around the Rust test
`tests/interop.rs::pyseto_interop`:

  interop.py sign DIR    pyseto signs tokens with captoken's claims and footer
                         (valid ones, and ones that violate a claim, use another
                         key or another implicit assertion) into DIR/vectors.json,
                         each with the verdict captoken must reach.
  (Rust)                 captoken verifies them, then writes its own tokens and
                         public key (as PASERK) to DIR/captoken.json.
  interop.py verify DIR  pyseto verifies captoken's tokens with that key, and
                         re-signs captoken's golden token byte for byte.

Exits non-zero on any failure.
"""

import base64
import hashlib
import json
import os
import sys
import time

import pyseto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyseto import Key, Paseto

# Wire version 2: the implicit assertion is the version marker; version 1 used
# b"captoken/paseto/claims/v1" and the format tag "paseto-v4-public".
IMPLICIT_ASSERTION = b"captoken/paseto/v2"
V1_IMPLICIT_ASSERTION = b"captoken/paseto/claims/v1"
LINEAGE_DOMAIN = b"captoken/lineage/v1"
FORMAT_TAG = b"paseto-v4-public.cap2"
ISSUER = "py-issuer"
SUBJECT = "agent:planner-7"
SERVER = "fs.internal"


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def lineage_hash(token_text: str) -> str:
    """DESIGN.md §5: SHA-256("captoken/lineage/v1" || len(tag) || tag || token bytes)."""
    h = hashlib.sha256()
    h.update(LINEAGE_DOMAIN)
    h.update(bytes([len(FORMAT_TAG)]))
    h.update(FORMAT_TAG)
    h.update(token_text.encode())
    return h.hexdigest()


def rfc3339(secs: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))


class KeyPair:
    """An Ed25519 key as pyseto signing and verifying keys."""

    def __init__(self, private: Ed25519PrivateKey):
        priv_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pub_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.secret = Key.new(version=4, purpose="public", key=priv_pem)
        self.public = Key.new(version=4, purpose="public", key=pub_pem)
        self.paserk = self.public.to_paserk()
        self.pid = self.public.to_paserk_id()
        assert self.pid.startswith("k4.pid.") and self.pid == self.secret.to_peer_paserk_id()

    @classmethod
    def generate(cls):
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes):
        return cls(Ed25519PrivateKey.from_private_bytes(seed))


def grant(tool, path="/srv/data/", limit_max=1000, kind="path"):
    """A grant; `path` is a segment-aware directory ({"path": dir}) or, with kind="prefix", a byte prefix."""
    return {
        "server": SERVER,
        "tool": tool,
        "args": {
            "limit": {"range": [0, limit_max]},
            "mode": {"eq": "ro"},
            "path": {kind: path},
        },
    }


def parent_ref(token_claims, token_text, fmt=FORMAT_TAG.decode()):
    """The `parent` claim naming a token: its format tag, id and lineage hash."""
    return {"fmt": fmt, "jti": token_claims["jti"], "hash": lineage_hash(token_text)}


def claims(now, **overrides):
    # `iat` is the capability's own issue time, two minutes before the window opens.
    c = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "jti": os.urandom(16).hex(),
        "iat": rfc3339(now - 120),
        "nbf": rfc3339(now - 60),
        "exp": rfc3339(now + 3600),
        "grants": [grant("list_dir"), grant("read_file")],
        "max_depth": 3,
    }
    c.update(overrides)
    return c


def request(now, **overrides):
    r = {
        "subject": SUBJECT,
        "server": SERVER,
        "tool": "read_file",
        "args": {"path": "/srv/data/report.txt", "mode": "ro", "limit": 10},
        "now": now,
    }
    r.update(overrides)
    return r


def sign(key: KeyPair, payload: bytes, footer_pid: str, implicit=IMPLICIT_ASSERTION) -> str:
    token = pyseto.encode(key.secret, payload=payload, footer=compact({"kid": footer_pid}), implicit_assertion=implicit)
    return token.decode()


def phase_sign(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    now = int(time.time())
    a, b = KeyPair.generate(), KeyPair.generate()
    cases = []

    def case(name, token, expect, req=None, ancestors=(), issued_at=None):
        c = {"name": name, "token": token, "request": req or request(now), "expect": expect, "ancestors": list(ancestors)}
        if issued_at is not None:
            c["issued_at"] = issued_at
        cases.append(c)

    root_claims = claims(now)
    root = sign(a, compact(root_claims), a.pid)
    case("valid", root, "allow", issued_at=now - 120)
    case("valid/list_dir", root, "allow", request(now, tool="list_dir"))
    case("valid/path-outside-directory", root, "deny:NoMatchingGrant", request(now, args={"path": "/etc/passwd", "mode": "ro", "limit": 10}))
    case("valid/path-traversal", root, "deny:NoMatchingGrant", request(now, args={"path": "/srv/data/../../etc/passwd", "mode": "ro", "limit": 10}))
    case("valid/path-encoded-dots", root, "deny:NoMatchingGrant", request(now, args={"path": "/srv/data/%2e%2e/x", "mode": "ro", "limit": 10}))
    case("valid/path-sibling", root, "deny:NoMatchingGrant", request(now, args={"path": "/srv/datax/report.txt", "mode": "ro", "limit": 10}))
    prefix_token = sign(a, compact(claims(now, grants=[grant("read_file", kind="prefix")])), a.pid)
    case("prefix-constraint/byte-wise", prefix_token, "allow", request(now, args={"path": "/srv/data/../x", "mode": "ro", "limit": 10}))
    case("valid/limit-violated", root, "deny:NoMatchingGrant", request(now, args={"path": "/srv/data/x", "mode": "ro", "limit": 5000}))
    case("valid/wrong-subject", root, "deny:WrongSubject", request(now, subject="agent:intruder"))
    case("valid/at-exp", root, "deny:Expired", request(now + 3600))
    case("valid/before-nbf", root, "deny:NotYetValid", request(now - 61))
    case("expired", sign(a, compact(claims(now, nbf=rfc3339(now - 100), iat=rfc3339(now - 100), exp=rfc3339(now - 1))), a.pid), "deny:Expired")
    case("not-yet-valid", sign(a, compact(claims(now, nbf=rfc3339(now + 100), iat=rfc3339(now + 100))), a.pid), "deny:NotYetValid")
    # `iat` is reported, not a validity bound: only nbf and exp are (as in captoken's reference authorizer).
    case("iat-after-the-request", sign(a, compact(claims(now, iat=rfc3339(now + 100))), a.pid), "allow", issued_at=now + 100)
    case("other-key/footer-names-verifier-key", sign(b, compact(root_claims), a.pid), "deny:BadSignature")
    case("other-key/own-footer", sign(b, compact(root_claims), b.pid), "deny:UnknownKey")
    case("no-implicit-assertion", sign(a, compact(root_claims), a.pid, implicit=b""), "deny:BadSignature")
    case("other-implicit-assertion", sign(a, compact(root_claims), a.pid, implicit=b"another-app/v1"), "deny:BadSignature")
    case("wire-version-1-assertion", sign(a, compact(root_claims), a.pid, implicit=V1_IMPLICIT_ASSERTION), "deny:BadSignature")
    holder_key = "ed25519:" + os.urandom(32).hex()
    case("holder/key-bound", sign(a, compact(claims(now, holder=holder_key)), a.pid), "deny:PossessionRequired")
    case("holder/key-set-bound", sign(a, compact(claims(now, holder="key_set")), a.pid), "deny:PossessionRequired")
    case("holder/upper-case-hex", sign(a, compact(claims(now, holder=holder_key.upper().replace("ED25519", "ed25519"))), a.pid), "deny:Malformed")
    v1_holder = "ed25519:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    case("holder/wire-version-1-base64", sign(a, compact(claims(now, holder=v1_holder)), a.pid), "deny:Malformed")
    case("holder/null", sign(a, compact(claims(now, holder=None)), a.pid), "deny:Malformed")
    case("iss-names-another-key", sign(a, compact(claims(now, iss="someone-else")), a.pid), "deny:UnknownKey")
    case("unknown-claim", sign(a, compact(claims(now, aud="gateway-2")), a.pid), "deny:Malformed")
    case("float-limit", sign(a, compact(claims(now, grants=[grant("read_file", limit_max=1000.0)])), a.pid), "deny:Malformed")
    tampered = root[:20] + ("A" if root[20] != "A" else "B") + root[21:]
    case("tampered", tampered, "deny")

    # pyseto's own claim handling: it writes `exp` and `iat` itself (with "+00:00"
    # offsets) and serializes with its default JSON separators.
    native = Paseto.new(exp=3600, include_iat=True)
    native_claims = {k: v for k, v in claims(now).items() if k not in ("exp", "iat")}
    native_token = native.encode(a.secret, native_claims, footer={"kid": a.pid}, implicit_assertion=IMPLICIT_ASSERTION, serializer=json).decode()
    case("pyseto-native-claims", native_token, "allow")

    # A child re-issued by the pyseto issuer, naming the root as parent by its
    # lineage hash computed here, independently of captoken.
    child_claims = claims(now, max_depth=2, grants=[grant("read_file", path="/srv/data/p1/", limit_max=999)])
    child_claims["parent"] = parent_ref(root_claims, root)
    child = sign(a, compact(child_claims), a.pid)
    deep = request(now, args={"path": "/srv/data/p1/report.txt", "mode": "ro", "limit": 10})
    case("child/live", child, "allow", deep, ancestors=[root])
    case("child/live/outside-narrowed-prefix", child, "deny:NoMatchingGrant", request(now), ancestors=[root])
    case("child/live/wrong-ancestor", child, "deny:LineageMismatch", deep, ancestors=[native_token])
    case("child/cold/no-index", child, "deny:LineageUnknown", deep)
    liar_claims = dict(child_claims, jti=os.urandom(16).hex(), parent={"fmt": FORMAT_TAG.decode(), "jti": root_claims["jti"], "hash": "00" * 32})
    case("child/forged-parent-hash", sign(a, compact(liar_claims), a.pid), "deny:LineageMismatch", deep, ancestors=[root])
    other_fmt = dict(child_claims, jti=os.urandom(16).hex(), parent=parent_ref(root_claims, root, fmt="paseto-v4-local.cap2"))
    case("child/parent-of-another-format", sign(a, compact(other_fmt), a.pid), "deny:LineageMismatch", deep, ancestors=[root])
    v1_parent = dict(child_claims, jti=os.urandom(16).hex(), parent={"jti": root_claims["jti"], "hash": lineage_hash(root)})
    case("child/wire-version-1-parent", sign(a, compact(v1_parent), a.pid), "deny:Malformed", deep, ancestors=[root])
    delegated = dict(child_claims, jti=os.urandom(16).hex(), sub="agent:other", holder=holder_key)
    case("child/delegated-to-bound-holder", sign(a, compact(delegated), a.pid), "deny:PossessionRequired", request(now, subject="agent:other", args=deep["args"]), ancestors=[root])

    vectors = {"now": now, "key_id": ISSUER, "public_key": a.paserk, "cases": cases}
    with open(os.path.join(out_dir, "vectors.json"), "w") as f:
        json.dump(vectors, f, indent=1)
    print(f"pyseto signed {len(cases)} vectors into {out_dir}")


def phase_verify(in_dir):
    with open(os.path.join(in_dir, "captoken.json")) as f:
        data = json.load(f)
    passed, failures = 0, []

    def check(name, ok, detail=""):
        nonlocal passed
        if ok:
            passed += 1
        else:
            failures.append(f"{name}: {detail}")

    def raises(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - any failure to verify is the expected outcome
            return True
        return False

    implicit = data["implicit_assertion"].encode()
    check("implicit assertion", implicit == IMPLICIT_ASSERTION, data["implicit_assertion"])
    check("format tag", data["format"].encode() == FORMAT_TAG, data["format"])
    pk = Key.from_paserk(data["public_key"])
    check("paserk id", pk.to_paserk_id() == data["paserk_id"], f"{pk.to_paserk_id()} != {data['paserk_id']}")
    other = KeyPair.generate().public
    tokens = data["tokens"]
    check("token count", len(tokens) >= 3, str(len(tokens)))
    for i, t in enumerate(tokens):
        name = f"captoken token {i}"
        try:
            decoded = pyseto.decode(pk, t["text"], implicit_assertion=implicit, deserializer=json)
        except Exception as err:  # noqa: BLE001
            check(name, False, f"pyseto refuses it: {err!r}")
            continue
        payload, footer = decoded.payload, decoded.footer
        check(name + " kid", footer == {"kid": data["paserk_id"]}, str(footer))
        check(name + " claims", payload["jti"] == t["jti"] and payload["sub"] == t["sub"] and payload["iss"] == data["key_id"], str(payload))
        check(name + " iat", payload["iat"] == rfc3339(t["issued_at"]) and payload["iat"] != payload["nbf"], f'{payload["iat"]} {payload["nbf"]}')
        check(name + " path constraint", all(g["args"]["path"].keys() == {"path"} for g in payload["grants"]), str(payload["grants"]))
        check(name + " lineage hash", lineage_hash(t["text"]) == t["lineage_hash"], t["lineage_hash"])
        if i > 0:
            parent = tokens[i - 1]
            want = {"fmt": data["format"], "jti": parent["jti"], "hash": lineage_hash(parent["text"])}
            check(name + " parent", payload.get("parent") == want, str(payload.get("parent")))
        check(name + " other key refused", raises(lambda: pyseto.decode(other, t["text"], implicit_assertion=implicit)))
        check(name + " other implicit assertion refused", raises(lambda: pyseto.decode(pk, t["text"], implicit_assertion=b"x")))
        check(name + " version 1 assertion refused", raises(lambda: pyseto.decode(pk, t["text"], implicit_assertion=V1_IMPLICIT_ASSERTION)))
        text = t["text"]
        tampered = text[:30] + ("A" if text[30] != "A" else "B") + text[31:]
        check(name + " tampered refused", raises(lambda: pyseto.decode(pk, tampered, implicit_assertion=implicit)))

    # Ed25519 is deterministic: pyseto signing captoken's golden payload and footer
    # with the same seed must give the same token, byte for byte.
    golden = data["golden"]
    try:
        body = golden["text"][len("v4.public.") :]
        msg_b64, footer_b64 = body.split(".")
        msg = base64.urlsafe_b64decode(msg_b64 + "=" * (-len(msg_b64) % 4))
        footer = base64.urlsafe_b64decode(footer_b64 + "=" * (-len(footer_b64) % 4))
        key = KeyPair.from_seed(bytes.fromhex(golden["seed_hex"]))
        resigned = pyseto.encode(key.secret, payload=msg[:-64], footer=footer, implicit_assertion=IMPLICIT_ASSERTION).decode()
        check("golden token re-signed by pyseto", resigned == golden["text"], resigned[:60])
        check("golden footer kid", json.loads(footer) == {"kid": key.pid}, footer.decode(errors="replace"))
    except Exception as err:  # noqa: BLE001
        check("golden token", False, repr(err))

    for f in failures:
        print("FAILED", f)
    print(f"interop: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("sign", "verify"):
        print(__doc__)
        return 2
    if argv[1] == "sign":
        phase_sign(argv[2])
        return 0
    return phase_verify(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
