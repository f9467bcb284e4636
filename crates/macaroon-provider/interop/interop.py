#!/usr/bin/env python3
"""Interoperability of captoken's macaroon provider with pymacaroons (an independent implementation).

    interop.py mint DIR    pymacaroons mints and attenuates v2 macaroons in captoken's
                           `ct2` caveat language, with and without third-party caveats,
                           and writes them with requests and expected verdicts to
                           DIR/from_python.json (read by the Rust test `interop`).
    interop.py check DIR   reads DIR/from_captoken.json (written by the Rust test) and
                           verifies captoken's macaroons with pymacaroons' Verifier and
                           the `ct2` checker below; exits non-zero on any mismatch.

The `ct2` checker is a second, independent implementation of the caveat language
(crates/macaroon-provider/src/caveat.rs and chain.rs document it): a tokenizer and
parser for the grammar, the layout rules (root section, counted steps), the
lineage hash of every boundary recomputed with the root key, and the meaning of
every caveat for a request (the rule of core-types' reference authorizer, with the
segment-aware `Path` rule of core-types/src/path.rs, and the denial of every
holder-bound subject, which needs a proof of possession captoken does not check
yet). It is what a pymacaroons user would write to accept captoken macaroons.
Caveats and identifiers of the previous version, `ct1`, are refused.
"""

import binascii
import hashlib
import hmac
import json
import os
import secrets
import sys

from pymacaroons import MACAROON_V2, Macaroon, Verifier
from pymacaroons.serializers import JsonSerializer
from pymacaroons.utils import generate_derived_key

ROOT_SECRET = b"captoken interop root secret, 32+ bytes"
THIRD_PARTY_SECRET = b"the auth service's shared secret, 32+ bytes"
LINEAGE_DOMAIN = b"captoken/lineage/v1"
FORMAT_TAG = b"macaroon-v2.ct2"

NBF = 1767225600
EXP = NBF + 3600
NOW = NBF + 60

# ---------------------------------------------------------------- lineage


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def _field(t, data):
    return _varint(t) + _varint(len(data)) + data


def canonical_bytes(identifier, caveats, sig):
    """v2 binary of the macaroon (identifier, caveats, sig) without location fields."""
    out = b"\x02" + _field(2, identifier) + b"\x00"
    for c in caveats:
        out += _field(2, c.caveat_id_bytes)
        if c.verification_key_id is not None:
            out += _field(4, c.verification_key_id)
        out += b"\x00"
    return out + b"\x00" + _field(6, sig)


def lineage_hash(identifier, caveats, sig):
    canonical = canonical_bytes(identifier, caveats, sig)
    return hashlib.sha256(
        LINEAGE_DOMAIN + bytes([len(FORMAT_TAG)]) + FORMAT_TAG + canonical
    ).hexdigest()


def token_lineage(m):
    return lineage_hash(m.identifier_bytes, m.caveats, binascii.unhexlify(m.signature_bytes))


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def chain_signatures(m, secret):
    """The chain signature before each caveat, and the final one, from the root secret."""
    sig = _hmac(generate_derived_key(secret), m.identifier_bytes)
    sigs = []
    for c in m.caveats:
        sigs.append(sig)
        if c.verification_key_id is None:
            sig = _hmac(sig, c.caveat_id_bytes)
        else:
            sig = _hmac(sig, _hmac(sig, c.verification_key_id) + _hmac(sig, c.caveat_id_bytes))
    return sigs, sig


# ---------------------------------------------------------------- ct2 language


class CaveatError(Exception):
    pass


WORD = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-+")
PUNCT = set(b"/(){}[],|=^~*")


def lex(body):
    toks, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == " ":
            i += 1
        elif ord(ch) in PUNCT:
            toks.append(("p", ch))
            i += 1
        elif ch == '"':
            i += 1
            out = []
            while True:
                if i >= len(body):
                    raise CaveatError("unterminated string")
                ch = body[i]
                i += 1
                if ch == '"':
                    break
                if ch != "\\":
                    out.append(ch)
                    continue
                if i >= len(body):
                    raise CaveatError("unterminated escape")
                e = body[i]
                i += 1
                if e in '"\\':
                    out.append(e)
                elif e == "u" and body[i : i + 1] == "{":
                    end = body.find("}", i)
                    digits = body[i + 1 : end] if end >= 0 else ""
                    if not 1 <= len(digits) <= 6 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                        raise CaveatError("bad \\u escape")
                    code = int(digits, 16)
                    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                        raise CaveatError("not a scalar value")
                    out.append(chr(code))
                    i = end + 1
                else:
                    raise CaveatError("bad escape")
            toks.append(("s", "".join(out)))
        elif ord(ch) in WORD:
            start = i
            while i < len(body) and ord(body[i]) in WORD:
                i += 1
            toks.append(("w", body[start:i]))
        else:
            raise CaveatError("unexpected character")
    return toks


def _unsigned(w):
    if w == "0" or (w.isdigit() and w.isascii() and not w.startswith("0")):
        return int(w)
    raise CaveatError("expected an unsigned integer")


def _int(w):
    neg = w.startswith("-")
    n = _unsigned(w[1:] if neg else w)
    if neg and n == 0:
        raise CaveatError("-0")
    n = -n if neg else n
    if not -(2**63) <= n < 2**63:
        raise CaveatError("out of i64")
    return n


class P:
    def __init__(self, body):
        self.t = lex(body)
        self.i = 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else None

    def next(self):
        tok = self.peek()
        if tok is None:
            raise CaveatError("unexpected end")
        self.i += 1
        return tok

    def at_end(self):
        return self.peek() is None

    def eat(self, p):
        if self.peek() == ("p", p):
            self.i += 1
            return True
        return False

    def expect(self, p):
        if not self.eat(p):
            raise CaveatError("expected " + p)

    def word(self):
        k, v = self.next()
        if k != "w":
            raise CaveatError("expected a word")
        return v

    def name(self):
        k, v = self.next()
        if k not in "ws":
            raise CaveatError("expected a name")
        return v

    def tool(self):
        server = self.name()
        self.expect("/")
        return (server, self.name())

    def value(self):
        k, v = self.next()
        if k == "s":
            return ("s", v)
        if k == "w" and v in ("true", "false"):
            return ("b", v == "true")
        if k == "w":
            return ("i", _int(v))
        raise CaveatError("expected a value")

    def constraint(self):
        k, v = self.next()
        if (k, v) == ("p", "*"):
            return ("any",)
        if (k, v) == ("p", "="):
            return ("exact", self.value())
        if (k, v) == ("p", "^"):
            k2, s = self.next()
            if k2 != "s":
                raise CaveatError("a prefix is a string")
            return ("prefix", s)
        if (k, v) == ("p", "~"):
            k2, s = self.next()
            if k2 != "s":
                raise CaveatError("a path directory is a string")
            return ("path", s)
        if (k, v) == ("p", "{"):
            vals = set()
            if not self.eat("}"):
                while True:
                    vals.add(self.value())
                    if self.eat("}"):
                        break
                    self.expect(",")
            return ("oneof", frozenset(vals))
        if (k, v) == ("p", "["):
            lo = _int(self.word())
            self.expect(",")
            hi = _int(self.word())
            self.expect("]")
            return ("range", lo, hi)
        raise CaveatError("expected a constraint")

    def subject(self):
        """(principal, binding): binding is None, "keyset" or ("ed25519", hex)."""
        principal = self.name()
        binding = None
        if not self.at_end():
            w = self.word()
            if w == "keyset":
                binding = "keyset"
            else:
                key = w[len("ed25519:"):]
                if not w.startswith("ed25519:") or len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
                    raise CaveatError("bad holder binding")
                binding = ("ed25519", key)
        return principal, binding

    def end(self):
        if not self.at_end():
            raise CaveatError("trailing input")


def parse_claim(raw):
    """One ct2 caveat -> (kind, payload). Raises CaveatError."""
    if any(not 0x20 <= b <= 0x7E for b in raw):
        raise CaveatError("not printable ASCII")
    text = raw.decode("ascii")
    if text.startswith("ct1 "):
        raise CaveatError("unsupported version: ct1")
    if not text.startswith("ct2 "):
        raise CaveatError("not ct2")
    kind, _, body = text[4:].partition(" ")
    p = P(body)
    if kind in ("subject", "delegate"):
        out = (kind, p.subject())
    elif kind == "grants":
        grants = []
        if not p.at_end():
            while True:
                tool = p.tool()
                p.expect("(")
                args = {}
                if not p.eat(")"):
                    while True:
                        name = p.name()
                        if name in args:
                            raise CaveatError("argument twice")
                        args[name] = p.constraint()
                        if p.eat(")"):
                            break
                        p.expect(",")
                grants.append((tool, args))
                if p.at_end():
                    break
                p.expect("|")
        out = ("grants", grants)
    elif kind in ("iat", "nbf", "exp"):
        out = (kind, _unsigned(p.word()))
        if out[1] >= 2**64:
            raise CaveatError("out of u64")
    elif kind == "depth":
        out = ("depth", _unsigned(p.word()))
        if out[1] >= 2**32:
            raise CaveatError("out of u32")
    elif kind == "step":
        h = p.word()
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
            raise CaveatError("bad lineage hash")
        n = _unsigned(p.word())
        if n >= 2**32:
            raise CaveatError("out of u32")
        out = ("step", (h, n))
    elif kind == "keep":
        tools = set()
        if not p.at_end():
            while True:
                tools.add(p.tool())
                if p.at_end():
                    break
                p.expect(",")
        out = ("keep", tools)
    elif kind == "arg":
        tool = p.tool()
        name = p.name()
        out = ("arg", (tool, name, p.constraint()))
    else:
        raise CaveatError("unknown kind")
    p.end()
    return out


def is_safe_path(v):
    """core-types/src/path.rs `is_safe`: absolute, no empty segment and none of
    dots and spaces only, no backslash, no `%`, no ASCII control character."""
    return (
        v.startswith("/")
        and "\\" not in v
        and "%" not in v
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in v)
        and all(seg != "" and set(seg) - {".", " "} for seg in v[1:].split("/"))
    )


def path_base(d):
    return d[:-1] if d.endswith("/") else d


def is_directory(d):
    return d == "/" or is_safe_path(path_base(d))


def is_under(v, d):
    """core-types/src/path.rs `is_under`: a safe path strictly under the directory, by whole segments."""
    if not is_directory(d) or not is_safe_path(v):
        return False
    base = path_base(d)
    if not v.startswith(base):
        return False
    rest = v[len(base):]
    return len(rest) > 1 and rest.startswith("/")


def permits(c, value):
    if value is None:
        return False
    kind = c[0]
    if kind == "any":
        return True
    if kind == "exact":
        return c[1] == value
    if kind == "prefix":
        return value[0] == "s" and value[1].startswith(c[1])
    if kind == "path":
        return value[0] == "s" and is_under(value[1], c[1])
    if kind == "oneof":
        return value in c[1]
    if kind == "range":
        return value[0] == "i" and c[1] <= value[1] <= c[2]
    return False


ROOT_KINDS = ("subject", "grants", "iat", "nbf", "exp", "depth")
STEP_ONCE = ("keep", "nbf", "exp", "depth", "delegate")


class Checker:
    """Judges every first-party caveat of a captoken macaroon for one request."""

    def __init__(self, m, secret, request):
        self.req = request
        self.verdicts = {}  # caveat index -> bool
        self.error = None
        try:
            self._plan(m, secret)
        except CaveatError as e:
            self.error = str(e)

    def _plan(self, m, secret):
        ident = m.identifier_bytes.decode("ascii", "replace")
        parts = ident.split(" ")
        if parts[0] == "ct1":
            raise CaveatError("unsupported version: ct1 identifier")
        if len(parts) != 3 or parts[0] != "ct2" or len(parts[2]) != 32:
            raise CaveatError("not a ct2 identifier")
        sigs, _ = chain_signatures(m, secret)
        caveats = list(enumerate(m.caveats))
        pos = 0
        root = {}
        while set(root) != set(ROOT_KINDS):
            if pos >= len(caveats):
                raise CaveatError("root incomplete")
            i, c = caveats[pos]
            pos += 1
            if c.verification_key_id is not None:
                continue
            kind, payload = parse_claim(c.caveat_id_bytes)
            if kind not in ROOT_KINDS or kind in root:
                raise CaveatError("bad root section")
            root[kind] = (i, payload)
        steps = []
        while pos < len(caveats):
            i, c = caveats[pos]
            pos += 1
            if c.verification_key_id is not None:
                raise CaveatError("third-party caveat outside a step")
            kind, payload = parse_claim(c.caveat_id_bytes)
            if kind != "step":
                raise CaveatError("caveat after a complete step")
            declared, count = payload
            if declared != lineage_hash(m.identifier_bytes, m.caveats[:i], sigs[i]):
                raise CaveatError("lineage mismatch")
            step = {"boundary": i, "args": [], "once": {}}
            for _ in range(count):
                if pos >= len(caveats):
                    raise CaveatError("short step")
                j, c = caveats[pos]
                pos += 1
                if c.verification_key_id is not None:
                    continue
                kind, payload = parse_claim(c.caveat_id_bytes)
                if kind == "arg":
                    step["args"].append((j, payload))
                elif kind in STEP_ONCE and kind not in step["once"]:
                    step["once"][kind] = (j, payload)
                else:
                    raise CaveatError("bad step caveat")
            steps.append(step)
        # Depth: the root's budget, one per step, capped by a step's depth.
        left = root["depth"][1]
        for s in steps:
            if left == 0:
                raise CaveatError("depth exceeded")
            left -= 1
            if "depth" in s["once"]:
                left = min(left, s["once"]["depth"][1])
        req = self.req
        ok = self.verdicts
        # Structural caveats hold: the layout and every lineage hash were checked.
        # The issue time is signed and reported; nothing judges it yet.
        ok[root["depth"][0]] = True
        ok[root["iat"][0]] = True
        for s in steps:
            ok[s["boundary"]] = True
            if "depth" in s["once"]:
                ok[s["once"]["depth"][0]] = True
        # Subject: the last delegate decides; earlier subjects are superseded.
        # Any bound subject (root or delegate) needs a proof of possession,
        # which is not checked yet: it denies the whole chain.
        delegates = [s["once"]["delegate"] for s in steps if "delegate" in s["once"]]
        holders = [root["subject"]] + delegates
        for k, (i, (principal, binding)) in enumerate(holders):
            ok[i] = binding is None and (k < len(holders) - 1 or principal == req["subject"])
        now = req["now"]
        for i, t in [root["nbf"]] + [s["once"]["nbf"] for s in steps if "nbf" in s["once"]]:
            ok[i] = now >= t
        for i, t in [root["exp"]] + [s["once"]["exp"] for s in steps if "exp" in s["once"]]:
            ok[i] = now < t
        tool = (req["server"], req["tool"])
        args = req["args"]
        i, grants = root["grants"]
        ok[i] = any(
            g_tool == tool and all(permits(c, args.get(n)) for n, c in g_args.items())
            for g_tool, g_args in grants
        )
        for s in steps:
            if "keep" in s["once"]:
                i, kept = s["once"]["keep"]
                ok[i] = tool in kept
            for i, (a_tool, name, c) in s["args"]:
                ok[i] = a_tool != tool or permits(c, args.get(name))

    def allows(self):
        return self.error is None and all(self.verdicts.values())


def discharge_caveat_ok(predicate, now):
    try:
        kind, t = parse_claim(predicate.encode())
    except CaveatError:
        return False
    return (kind == "nbf" and now >= t) or (kind == "exp" and now < t)


def pymacaroons_verify(m, secret, request, discharges):
    """pymacaroons verifies the chain and the discharges; the checker judges each ct2 caveat."""
    checker = Checker(m, secret, request)
    main = [(i, c.caveat_id_bytes.decode("utf-8", "replace")) for i, c in enumerate(m.caveats)
            if c.verification_key_id is None]
    queue = list(main)

    def callback(predicate):
        if queue and queue[0][1] == predicate:
            i, _ = queue.pop(0)
            return checker.error is None and checker.verdicts.get(i, False)
        # A caveat of a discharge macaroon.
        return discharge_caveat_ok(predicate, request["now"])

    v = Verifier()
    v.satisfy_general(callback)
    try:
        verified = v.verify(m, secret, discharge_macaroons=discharges)
    except Exception as e:  # pymacaroons raises on any failure
        return False, "%s: %s" % (type(e).__name__, e)
    return bool(verified) and checker.allows() and not queue, checker.error


# ---------------------------------------------------------------- minting with pymacaroons


def request(path, subject="agent:planner-7", tool="read_file", now=NOW, limit=10, mode="ro"):
    return {
        "subject": subject,
        "server": "fs.internal",
        "tool": tool,
        "now": now,
        "args": {"path": ("s", path), "mode": ("s", mode), "limit": ("i", limit)},
    }


def request_json(r):
    return dict(r, args={k: {v[0]: v[1]} for k, v in r["args"].items()})


def request_from_json(r):
    return dict(r, args={k: next(iter(v.items())) for k, v in r["args"].items()})


def mint_root(secret=ROOT_SECRET, key_id="py1", third_party=None, subject="agent:planner-7"):
    m = Macaroon(
        location="https://tools.example",
        identifier="ct2 %s %s" % (key_id, secrets.token_hex(16)),
        key=secret,
        version=MACAROON_V2,
    )
    if third_party:
        # A third-party caveat in the root section, before the root claims are complete.
        m.add_third_party_caveat("https://auth.example", THIRD_PARTY_SECRET, third_party)
    # Written by hand, in another order and spacing than captoken's writer uses.
    m.add_first_party_caveat("ct2 depth 16")
    m.add_first_party_caveat(
        'ct2 grants fs.internal/read_file( path ~"/srv/data", mode = "ro", limit [0, 1000] )'
        ' | "fs.internal"/"list_dir"(path~"/srv/data/", mode="ro", limit[0,1000])'
    )
    m.add_first_party_caveat("ct2 subject %s" % subject)
    m.add_first_party_caveat("ct2 nbf %d" % NBF)
    m.add_first_party_caveat("ct2 iat %d" % (NBF - 30))
    m.add_first_party_caveat("ct2 exp %d" % EXP)
    return m


def attenuate(m, caveats, third_party=None, forge=False):
    """A holder's delegation step: boundary declaring the parent's lineage hash, then the caveats."""
    child = m.copy()
    parent = token_lineage(m)
    if forge:
        parent = "%064x" % (int(parent, 16) ^ 1)
    count = len(caveats) + (1 if third_party else 0)
    child.add_first_party_caveat("ct2 step %s %d" % (parent, count))
    for c in caveats:
        child.add_first_party_caveat(c)
    if third_party:
        child.add_third_party_caveat("https://auth.example", THIRD_PARTY_SECRET, third_party)
    return child


def discharge_for(m, caveat_id, exp=None, bind=True):
    d = Macaroon(location="https://auth.example", identifier=caveat_id, key=THIRD_PARTY_SECRET, version=MACAROON_V2)
    if exp is not None:
        d.add_first_party_caveat("ct2 exp %d" % exp)
    return m.prepare_for_request(d) if bind else d


def step_caveats(i):
    prefix = "/srv/data/" + "".join("p%d/" % k for k in range(1, i + 1))
    return [
        'ct2 arg fs.internal/read_file path~"%s"' % prefix,
        "ct2 arg fs.internal/read_file limit[0,%d]" % (1000 - i),
        "ct2 exp %d" % (EXP - i),
    ]


def mint(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = []

    def case(name, m, req, expect, reason=None, fmt="binary", discharges=()):
        token = m.serialize() if fmt == "binary" else m.serialize(JsonSerializer())
        cases.append({
            "name": name,
            "format": fmt,
            "token": token,
            "lineage_hash": token_lineage(m),
            "discharges": [d.serialize() for d in discharges],
            "request": request_json(req),
            "expect": expect,
            "reason": reason,
        })

    root = mint_root()
    d1 = attenuate(root, step_caveats(1))
    d2 = attenuate(d1, step_caveats(2))
    deep = "/srv/data/p1/p2/report.txt"
    # (a) minted and attenuated by pymacaroons, verified by captoken.
    case("a/root allows", root, request("/srv/data/report.txt"), "allow")
    case("a/root json allows", root, request("/srv/data/x"), "allow", fmt="json")
    case("a/depth1 allows", d1, request("/srv/data/p1/x"), "allow")
    case("a/depth2 allows", d2, request(deep), "allow")
    case("a/depth2 json allows", d2, request(deep), "allow", fmt="json")
    case("a/depth2 list_dir allows", d2, request("/srv/data/x", tool="list_dir"), "allow")
    case("a/depth2 outside the prefix", d2, request("/srv/data/p1/x"), "deny", "ConstraintViolated")
    case("a/depth2 limit above the step's", d2, request(deep, limit=999), "deny", "ConstraintViolated")
    case("a/depth2 wrong mode", d2, request(deep, mode="rw"), "deny", "NoMatchingGrant")
    case("a/depth2 expired by the step", d2, request(deep, now=EXP - 2), "deny", "Expired")
    case("a/depth2 not yet valid", d2, request(deep, now=NBF - 1), "deny", "NotYetValid")
    case("a/depth2 wrong subject", d2, request(deep, subject="agent:other"), "deny", "WrongSubject")
    case("a/depth2 tool not granted", d2, request(deep, tool="write_file"), "deny", "NoMatchingGrant")
    kept = attenuate(d1, ['ct2 keep fs.internal/list_dir'])
    case("a/keep drops read_file", kept, request("/srv/data/p1/x"), "deny", "NoMatchingGrant")
    case("a/keep keeps list_dir", kept, request("/srv/data/p1/x", tool="list_dir"), "allow")
    delegated = attenuate(d1, ["ct2 delegate agent:helper", "ct2 depth 0"])
    case("a/delegate allows the delegate", delegated, request("/srv/data/p1/x", subject="agent:helper"), "allow")
    case("a/delegate denies the delegator", delegated, request("/srv/data/p1/x"), "deny", "WrongSubject")
    too_deep = attenuate(delegated, [])
    case("a/step past depth 0", too_deep, request("/srv/data/p1/x", subject="agent:helper"), "deny", "DepthExceeded")
    # Hostile additions by a pymacaroons holder.
    wide = root.copy()
    wide.add_first_party_caveat("ct2 grants fs.internal/write_file() | fs.internal/read_file()")
    case("a/second grants caveat", wide, request("/etc/passwd"), "deny", "UnknownCaveat")
    loose = d1.copy()
    loose.add_first_party_caveat("ct2 delegate agent:thief")
    case("a/caveat outside a step", loose, request("/srv/data/p1/x", subject="agent:thief"), "deny", "UnknownCaveat")
    case("a/forged boundary", attenuate(d1, [], forge=True), request("/srv/data/p1/x"), "deny", "LineageMismatch")
    case("a/foreign caveat", attenuate(d1, ["time < 2099-01-01T00:00"]), request("/srv/data/p1/x"), "deny", "UnknownCaveat")
    other_key = mint_root(secret=b"some other root secret of 32+ bytes!")
    case("a/other root key", other_key, request("/srv/data/x"), "deny", "BadSignature")
    # Path constraints are segment-aware.
    case("a/depth2 dot segments", d2, request("/srv/data/p1/p2/../../../etc/passwd"), "deny", "NoMatchingGrant")
    case("a/depth2 encoded dot segment", d2, request("/srv/data/p1/p2/%2e%2e/x"), "deny", "NoMatchingGrant")
    case("a/depth2 sibling sharing the bytes", d2, request("/srv/data/p1/p2x/report.txt"), "deny", "ConstraintViolated")
    case("a/depth2 the directory itself", d2, request("/srv/data/p1/p2"), "deny", "ConstraintViolated")
    # Holder-bound subjects need a proof of possession, which captoken does not check yet.
    key = "ed25519:" + "ab" * 32
    bound = mint_root(subject="agent:planner-7 " + key)
    case("a/root bound to a holder key", bound, request("/srv/data/x"), "deny", "PossessionRequired")
    bound_set = mint_root(subject="agent:planner-7 keyset")
    case("a/root bound to a key set", bound_set, request("/srv/data/x"), "deny", "PossessionRequired")
    bound_delegate = attenuate(d1, ["ct2 delegate agent:helper " + key])
    case("a/delegate bound to a holder key", bound_delegate,
         request("/srv/data/p1/x", subject="agent:helper"), "deny", "PossessionRequired")
    # The previous version of the caveat language.
    old = Macaroon(location="https://tools.example", identifier="ct1 py1 %s" % secrets.token_hex(16),
                   key=ROOT_SECRET, version=MACAROON_V2)
    for c in ["ct1 subject agent:planner-7", 'ct1 grants fs.internal/read_file(path^"/srv/data/")',
              "ct1 nbf %d" % NBF, "ct1 exp %d" % EXP, "ct1 depth 16"]:
        old.add_first_party_caveat(c)
    case("a/ct1 token", old, request("/srv/data/x"), "deny", "Malformed")
    old_step = d1.copy()
    old_step.add_first_party_caveat("ct1 step %s 0" % token_lineage(d1))
    case("a/ct1 step", old_step, request("/srv/data/p1/x"), "deny", "UnknownCaveat")

    # (c) third-party caveats with pymacaroons' bound discharges.
    tp_step = attenuate(d1, ['ct2 arg fs.internal/read_file mode="ro"'], third_party="user = alice")
    req = request("/srv/data/p1/x")
    case("c/step caveat, bound discharge", tp_step, req, "allow", discharges=[discharge_for(tp_step, "user = alice")])
    case("c/bound discharge with exp", tp_step, req, "allow", discharges=[discharge_for(tp_step, "user = alice", exp=NOW + 1)])
    case("c/expired discharge", tp_step, req, "deny", "Discharge", discharges=[discharge_for(tp_step, "user = alice", exp=NOW)])
    case("c/unbound discharge", tp_step, req, "deny", "Discharge", discharges=[discharge_for(tp_step, "user = alice", bind=False)])
    case("c/discharge bound to the parent", tp_step, req, "deny", "Discharge", discharges=[discharge_for(d1, "user = alice")])
    case("c/no discharge", tp_step, req, "deny", "Discharge")
    case("c/unused extra discharge", tp_step, req, "deny", "Discharge",
         discharges=[discharge_for(tp_step, "user = alice"), discharge_for(tp_step, "user = bob")])
    tp_root = mint_root(third_party="user = alice")
    case("c/root caveat, bound discharge", tp_root, request("/srv/data/x"), "allow",
         discharges=[discharge_for(tp_root, "user = alice")])
    tp_root_d1 = attenuate(tp_root, step_caveats(1))
    case("c/root caveat survives attenuation", tp_root_d1, request("/srv/data/p1/x"), "allow",
         discharges=[discharge_for(tp_root_d1, "user = alice")])

    with open(os.path.join(out_dir, "from_python.json"), "w") as f:
        json.dump({"root_secret_hex": ROOT_SECRET.hex(), "key_id": "py1",
                   "third_party_secret_hex": THIRD_PARTY_SECRET.hex(), "cases": cases}, f, indent=1)
    print("pymacaroons minted %d cases into %s" % (len(cases), out_dir))


# ---------------------------------------------------------------- checking captoken's macaroons


def check(out_dir):
    path = os.path.join(out_dir, "from_captoken.json")
    if not os.path.exists(path):
        print("FAIL: %s is missing (did the Rust interop test run?)" % path)
        return 1
    with open(path) as f:
        data = json.load(f)
    secret = bytes.fromhex(data["root_secret_hex"])
    cases = data["cases"]
    failures = []
    for c in cases:
        if c["format"] == "binary":
            m = Macaroon.deserialize(c["token"])
        else:
            m = Macaroon.deserialize(c["token"], JsonSerializer())
        discharges = [Macaroon.deserialize(d) for d in c["discharges"]]
        req = request_from_json(c["request"])
        problems = []
        if c.get("format_tag") != FORMAT_TAG.decode():
            problems.append("format tag %s, expected %s" % (c.get("format_tag"), FORMAT_TAG.decode()))
        if token_lineage(m) != c["lineage_hash"]:
            problems.append("lineage hash %s, captoken says %s" % (token_lineage(m), c["lineage_hash"]))
        allowed, why = pymacaroons_verify(m, secret, req, discharges)
        want = c["expect"] == "allow"
        if allowed != want:
            problems.append("pymacaroons %s, expected %s (%s)" % ("allows" if allowed else "denies", c["expect"], why))
        print("%-4s %s" % ("ok" if not problems else "FAIL", c["name"]))
        if problems:
            failures.append((c["name"], problems))
    allows = sum(c["expect"] == "allow" for c in cases)
    print("pymacaroons checked %d captoken macaroons (%d allow, %d deny): %d failures"
          % (len(cases), allows, len(cases) - allows, len(failures)))
    for name, problems in failures:
        for p in problems:
            print("  %s: %s" % (name, p))
    if len(cases) < 10 or allows == 0 or allows == len(cases):
        print("FAIL: too few or one-sided cases")
        return 1
    return 1 if failures else 0


def self_test():
    """The checker agrees with pymacaroons' own minting before anything else runs."""
    root = mint_root()
    d2 = attenuate(attenuate(root, step_caveats(1)), step_caveats(2))
    ok, why = pymacaroons_verify(d2, ROOT_SECRET, request("/srv/data/p1/p2/x"), [])
    assert ok, why
    ok, _ = pymacaroons_verify(d2, ROOT_SECRET, request("/srv/data/p1/x"), [])
    assert not ok
    tp = attenuate(root, [], third_party="user = alice")
    ok, why = pymacaroons_verify(tp, ROOT_SECRET, request("/srv/data/x"), [discharge_for(tp, "user = alice", exp=NOW + 1)])
    assert ok, why
    for path in ("/srv/data/p1/p2/../x", "/srv/data/p1/p2x/y", "/srv/data/p1/p2", "/srv/data/p1/p2/x/"):
        ok, _ = pymacaroons_verify(d2, ROOT_SECRET, request(path), [])
        assert not ok, path
    ok, _ = pymacaroons_verify(mint_root(subject="agent:planner-7 keyset"), ROOT_SECRET, request("/srv/data/x"), [])
    assert not ok
    assert is_under("/a/b", "/a") and is_under("/a/b", "/a/") and is_under("/etc", "/")
    assert not any(is_under(v, "/a/") for v in ("/a", "/a/", "/ab/x", "/a/./x", "/a//x", "/a/x/", "/a/%2E/x", "/a\\x"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("mint", "check"):
        print(__doc__)
        sys.exit(2)
    self_test()
    if sys.argv[1] == "mint":
        mint(sys.argv[2])
        sys.exit(0)
    sys.exit(check(sys.argv[2]))
