//! The captoken caveat language, version 2 (`ct2`): the identifier and the first-party caveats that carry a capability and its attenuation steps.
//!
//! Every caveat is printable ASCII (bytes `0x20..=0x7e`) so that it reads well
//! in any macaroon tool and can be written by hand, for example with
//! pymacaroons' `add_first_party_caveat`. A caveat that does not start with
//! `ct2 `, names an unknown kind or does not parse is refused: verification
//! fails closed. The previous version, `ct1` (no `iat`, no key-set binding, no
//! `Path` constraint), is refused with its own error,
//! [`CaveatError::UnsupportedVersion`], in identifiers and caveats alike.
//!
//! # Identifier
//!
//! ```text
//! ct2 <key id> <token id>
//! ```
//!
//! The key id is the issuer's key id (1 to 64 bytes `!`..`~`), the token id 32
//! lower-case hexadecimal digits. Single spaces separate them.
//!
//! # Caveats
//!
//! A caveat is `ct2`, a space, a kind, and (for most kinds) a space and a body.
//! Inside the body, spaces between tokens are free.
//!
//! | caveat | meaning |
//! |---|---|
//! | `ct2 subject <subject>` | root: who may use the capability, and its holder binding |
//! | `ct2 grants <grant> \| <grant> …` | root: the whole grant set, a disjunction, in one caveat (empty: nothing) |
//! | `ct2 iat <u64>` | root: when the issuer issued it (Unix seconds) |
//! | `ct2 nbf <u64>` | root: valid from (inclusive); in a step: also not before this |
//! | `ct2 exp <u64>` | root: valid until (exclusive); in a step: also not from this on |
//! | `ct2 depth <u32>` | root: delegation steps left; in a step: at most this many left |
//! | `ct2 step <lineage hash> <n>` | boundary: a delegation step starts; the next `n` caveats are its body |
//! | `ct2 keep <tool>, <tool> …` | step: only these tools (empty: none) |
//! | `ct2 arg <tool> <name><constraint>` | step: on that tool, the argument must be present and satisfy it |
//! | `ct2 delegate <subject>` | step: hand the remaining authority to this subject (and its binding) |
//! | `ct2 holder-sig <holder key> <128 hex>` | step, last first-party caveat: the current holder's Ed25519 signature over the step (`captoken_core_types::delegation`) |
//!
//! ```text
//! subject    = name [ " " binding ]
//! binding    = "ed25519:" 64 lower-case hex digits             ; bound to one holder key
//!            / "p256:" 66 lower-case hex digits                ; one P-256 key (core-types feature `p256`)
//!            / "keyset"                                        ; bound to the principal's key set
//! tool       = name "/" name                                   ; server / tool
//! grant      = tool "(" [ arg *( "," arg ) ] ")"                ; each argument at most once
//! arg        = name constraint
//! constraint = "*"                                             ; Any: present, any value
//!            / "=" value                                       ; Exact
//!            / "^" string                                      ; Prefix (byte-wise)
//!            / "~" string                                      ; Path: under this directory, by whole segments
//!            / "{" [ value *( "," value ) ] "}"                ; OneOf
//!            / "[" int "," int "]"                             ; Range, both ends inclusive
//! value      = string / int / "true" / "false"
//! name       = word / string
//! word       = 1*( ALPHA / DIGIT / "_" / "." / ":" / "@" / "-" / "+" )
//! string     = DQUOTE *( %x20-21 / %x23-5B / %x5D-7E / "\\" DQUOTE / "\\\\" / "\\u{" 1*6HEXDIG "}" ) DQUOTE
//! int        = [ "-" ] ( "0" / %x31-39 *DIGIT )                ; i64, no "-0"
//! ```
//!
//! `u64` and `u32` are decimal without sign or leading zeros. `\u{…}` escapes any
//! Unicode scalar value; writers use it for everything outside printable ASCII.
//! A `~` constraint means [`Constraint::Path`]: the value is a safe absolute
//! path strictly under the directory by whole segments
//! ([`captoken_core_types::path::is_under`]), so `~"/srv/data/"` admits
//! `/srv/data/report.txt` and refuses `/srv/data/../etc/passwd`,
//! `/srv/database` and `/srv/data/%2e%2e/x`.
//!
//! A subject bound to a holder key (`ed25519:…`, or `p256:…` with core-types'
//! `p256` feature) verifies only with the holder's proof of possession, and is
//! delegated on only by a step carrying the holder's `holder-sig`; a subject
//! bound to its key set (`keyset`) is never issued or attenuated to by this
//! crate, and one written by hand is denied
//! ([`captoken_core_types::DenyReason::PossessionRequired`]).
//!
//! For example, the root of the DESIGN.md §7 workload:
//!
//! ```text
//! ct2 subject agent:planner-7
//! ct2 grants fs.internal/list_dir(limit[0,1000], mode="ro", path~"/srv/data/") | fs.internal/read_file(limit[0,1000], mode="ro", path~"/srv/data/")
//! ct2 iat 1767225600
//! ct2 nbf 1767225600
//! ct2 exp 1767229200
//! ct2 depth 16
//! ```
//!
//! and its first step (the boundary declares the root's lineage hash when the
//! root was minted with key id `k1` and a secret of 32 bytes `0x01`):
//!
//! ```text
//! ct2 step 61d5388ef2382000e8e95f3dc74f25431e450ba382c7eae548ed7b69f4b1fc51 5
//! ct2 arg fs.internal/read_file path~"/srv/data/p1/"
//! ct2 arg fs.internal/read_file limit[0,999]
//! ct2 arg fs.internal/list_dir path~"/srv/data/p1/"
//! ct2 arg fs.internal/list_dir limit[0,999]
//! ct2 exp 1767229199
//! ```
//!
//! How the caveats of a macaroon group into the root and the steps is in
//! [`crate::chain`]; what they authorize together is the reference authorizer's
//! rule ([`captoken_core_types::reference::authorize_chain`]), then proof of
//! possession for a key-bound holder ([`captoken_core_types::possession::enforce`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use captoken_core_types::{
    ArgConstraint, Constraint, Grant, HolderBinding, HolderKey, HolderSignature, KeyId,
    LineageHash, Subject, TokenId, ToolRef, Value,
};

/// The prefix of every caveat and identifier of this language version.
pub const PREFIX: &str = "ct2 ";
/// The prefix of the previous language version, refused with
/// [`CaveatError::UnsupportedVersion`].
pub const OLD_PREFIX: &str = "ct1 ";
/// How every step boundary caveat starts (see [`Claim::Step`]).
pub const STEP_PREFIX: &[u8] = b"ct2 step ";
/// The binding word for a subject bound to its principal's key set.
const KEY_SET: &str = "keyset";

/// One parsed `ct2` caveat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// `ct2 subject`: the root's subject.
    Subject(Subject),
    /// `ct2 grants`: the root's grant set.
    Grants(BTreeSet<Grant>),
    /// `ct2 iat`: when the issuer issued the root.
    IssuedAt(u64),
    /// `ct2 nbf`: a start of validity.
    NotBefore(u64),
    /// `ct2 exp`: an end of validity.
    ExpiresAt(u64),
    /// `ct2 depth`: a remaining delegation depth.
    Depth(u32),
    /// `ct2 step`: the boundary that starts a delegation step.
    Step {
        /// The lineage hash the step declares for its parent.
        parent: LineageHash,
        /// How many caveats after the boundary belong to the step.
        count: u32,
    },
    /// `ct2 keep`: keep only these tools.
    Keep(BTreeSet<ToolRef>),
    /// `ct2 arg`: an added argument constraint.
    Arg(ArgConstraint),
    /// `ct2 delegate`: a new subject.
    Delegate(Subject),
    /// `ct2 holder-sig`: the current holder's signature over the step
    /// (DESIGN.md §8); the last first-party caveat of its step.
    HolderSig(HolderSignature),
}

/// Why bytes are not a `ct2` caveat or identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub enum CaveatError {
    /// Not a caveat of this language (other prefix, unknown kind, non-ASCII).
    Unknown,
    /// A caveat or identifier of the previous language version, `ct1`.
    UnsupportedVersion,
    /// A `ct2` caveat that does not parse.
    Syntax(&'static str),
}

impl CaveatError {
    /// The message, written once: `Display` prints it, and error types that
    /// carry a `&'static str` hold it.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unknown => "not a ct2 caveat",
            Self::UnsupportedVersion => {
                "unsupported version: ct1 caveat language, this version reads ct2 only"
            }
            Self::Syntax(m) => m,
        }
    }
}

/// The rest of `text` after this version's prefix.
///
/// # Errors
/// [`CaveatError::UnsupportedVersion`] for the previous version's prefix,
/// [`CaveatError::Unknown`] for anything else.
fn strip_prefix(text: &str) -> Result<&str, CaveatError> {
    match text.strip_prefix(PREFIX) {
        Some(rest) => Ok(rest),
        None if text.starts_with(OLD_PREFIX) => Err(CaveatError::UnsupportedVersion),
        None => Err(CaveatError::Unknown),
    }
}

/// The identifier of a captoken macaroon: the issuing key and the token id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identifier {
    /// The key whose derived root key starts the chain.
    pub key_id: KeyId,
    /// The root capability's token id.
    pub token_id: TokenId,
}

impl Identifier {
    /// `ct2 <key id> <token id hex>`.
    #[must_use]
    pub fn encode(&self) -> String {
        format!("{PREFIX}{} {}", self.key_id, self.token_id)
    }

    /// Parses an identifier.
    ///
    /// # Errors
    /// [`CaveatError`] when the bytes are not exactly a `ct2` identifier
    /// ([`CaveatError::UnsupportedVersion`] for a `ct1` one).
    pub fn parse(bytes: &[u8]) -> Result<Self, CaveatError> {
        let text = std::str::from_utf8(bytes).map_err(|_| CaveatError::Unknown)?;
        let rest = strip_prefix(text)?;
        let (kid, tid) = rest
            .split_once(' ')
            .ok_or(CaveatError::Syntax("identifier lacks a token id"))?;
        let key_id = KeyId::new(kid).map_err(|_| CaveatError::Syntax("bad key id"))?;
        let token_id = TokenId::from_hex(tid).map_err(|_| CaveatError::Syntax("bad token id"))?;
        Ok(Self { key_id, token_id })
    }
}

// ---------------------------------------------------------------- writing

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'@' | b'-' | b'+')
}

fn put_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out.push('"');
}

fn put_name(out: &mut String, s: &str) {
    if !s.is_empty() && s.bytes().all(is_word_byte) {
        out.push_str(s);
    } else {
        put_string(out, s);
    }
}

fn put_tool(out: &mut String, server: &str, tool: &str) {
    put_name(out, server);
    out.push('/');
    put_name(out, tool);
}

fn put_value(out: &mut String, v: &Value) {
    match v {
        Value::Str(s) => put_string(out, s),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

fn put_constraint(out: &mut String, c: &Constraint) {
    match c {
        Constraint::Any => out.push('*'),
        Constraint::Exact(v) => {
            out.push('=');
            put_value(out, v);
        }
        Constraint::Prefix(p) => {
            out.push('^');
            put_string(out, p);
        }
        Constraint::Path(dir) => {
            out.push('~');
            put_string(out, dir);
        }
        Constraint::OneOf(set) => {
            out.push('{');
            for (i, v) in set.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                put_value(out, v);
            }
            out.push('}');
        }
        Constraint::Range { min, max } => {
            let _ = write!(out, "[{min},{max}]");
        }
    }
}

fn put_subject(out: &mut String, s: &Subject) {
    put_name(out, &s.principal);
    match &s.binding {
        None => {}
        Some(HolderBinding::Key(key)) => {
            let _ = write!(out, " {key}");
        }
        Some(HolderBinding::KeySet) => {
            out.push(' ');
            out.push_str(KEY_SET);
        }
        // A binding this version cannot name is written as a word no reader
        // accepts, so that the token fails closed everywhere.
        Some(_) => out.push_str(" unsupported-binding"),
    }
}

impl Claim {
    /// The caveat text, in the canonical spelling ([`Claim::parse`] reads it back).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::from(PREFIX);
        match self {
            Self::Subject(s) => {
                out.push_str("subject ");
                put_subject(&mut out, s);
            }
            Self::Grants(grants) => {
                out.push_str("grants");
                for (i, g) in grants.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { " | " });
                    put_tool(&mut out, &g.server, &g.tool);
                    out.push('(');
                    for (j, (name, c)) in g.args.iter().enumerate() {
                        if j > 0 {
                            out.push_str(", ");
                        }
                        put_name(&mut out, name);
                        put_constraint(&mut out, c);
                    }
                    out.push(')');
                }
            }
            Self::IssuedAt(t) => {
                let _ = write!(out, "iat {t}");
            }
            Self::NotBefore(t) => {
                let _ = write!(out, "nbf {t}");
            }
            Self::ExpiresAt(t) => {
                let _ = write!(out, "exp {t}");
            }
            Self::Depth(d) => {
                let _ = write!(out, "depth {d}");
            }
            Self::Step { parent, count } => {
                let _ = write!(out, "step {} {count}", parent.to_hex());
            }
            Self::Keep(tools) => {
                out.push_str("keep");
                for (i, t) in tools.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { ", " });
                    put_tool(&mut out, &t.server, &t.tool);
                }
            }
            Self::Arg(a) => {
                out.push_str("arg ");
                put_tool(&mut out, &a.tool.server, &a.tool.tool);
                out.push(' ');
                put_name(&mut out, &a.arg);
                put_constraint(&mut out, &a.constraint);
            }
            Self::Delegate(s) => {
                out.push_str("delegate ");
                put_subject(&mut out, s);
            }
            Self::HolderSig(sig) => {
                let _ = write!(
                    out,
                    "holder-sig {} {}",
                    sig.signer,
                    captoken_core_types::hex::encode(&sig.signature)
                );
            }
        }
        out
    }

    /// Parses one caveat.
    ///
    /// # Errors
    /// [`CaveatError::Unknown`] for a caveat that is not `ct2` (or not printable
    /// ASCII), [`CaveatError::UnsupportedVersion`] for a `ct1` caveat,
    /// [`CaveatError::Syntax`] for a `ct2` caveat that does not parse.
    pub fn parse(bytes: &[u8]) -> Result<Self, CaveatError> {
        if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(CaveatError::Unknown);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CaveatError::Unknown)?;
        let rest = strip_prefix(text)?;
        let (kind, body) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut p = Parser::new(body)?;
        let claim = match kind {
            "subject" => Self::Subject(p.subject()?),
            "grants" => Self::Grants(p.grants()?),
            "iat" => Self::IssuedAt(p.unsigned()?),
            "nbf" => Self::NotBefore(p.unsigned()?),
            "exp" => Self::ExpiresAt(p.unsigned()?),
            "depth" => Self::Depth(
                u32::try_from(p.unsigned()?).map_err(|_| CaveatError::Syntax("depth too large"))?,
            ),
            "step" => {
                let parent = LineageHash::from_hex(p.word()?)
                    .map_err(|_| CaveatError::Syntax("bad lineage hash"))?;
                let count = u32::try_from(p.unsigned()?)
                    .map_err(|_| CaveatError::Syntax("step count too large"))?;
                Self::Step { parent, count }
            }
            "keep" => Self::Keep(p.keep()?),
            "arg" => {
                let tool = p.tool()?;
                let arg = p.name()?;
                let constraint = p.constraint()?;
                Self::Arg(ArgConstraint {
                    tool,
                    arg,
                    constraint,
                })
            }
            "delegate" => Self::Delegate(p.subject()?),
            "holder-sig" => {
                let signer = HolderKey::parse(p.word()?)
                    .map_err(|_| CaveatError::Syntax("bad holder key"))?;
                let signature = captoken_core_types::hex::decode(p.word()?)
                    .map_err(|_| CaveatError::Syntax("bad holder signature"))?;
                Self::HolderSig(HolderSignature { signer, signature })
            }
            _ => return Err(CaveatError::Unknown),
        };
        p.end()?;
        Ok(claim)
    }
}

// ---------------------------------------------------------------- reading

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Str(String),
    Punct(u8),
}

fn lex(body: &str) -> Result<Vec<Tok<'_>>, CaveatError> {
    let bytes = body.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' => i += 1,
            b'/' | b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b'|' | b'=' | b'^' | b'~'
            | b'*' => {
                toks.push(Tok::Punct(b));
                i += 1;
            }
            b'"' => {
                let (s, next) = lex_string(bytes, i + 1)?;
                toks.push(Tok::Str(s));
                i = next;
            }
            _ if is_word_byte(b) => {
                let start = i;
                while bytes.get(i).copied().is_some_and(is_word_byte) {
                    i += 1;
                }
                let word = body.get(start..i).ok_or(CaveatError::Syntax("bad word"))?;
                toks.push(Tok::Word(word));
            }
            _ => return Err(CaveatError::Syntax("unexpected character")),
        }
    }
    Ok(toks)
}

/// Reads a string body starting after its opening quote; returns the string and
/// the index after the closing quote.
fn lex_string(bytes: &[u8], mut i: usize) -> Result<(String, usize), CaveatError> {
    let mut out = String::new();
    loop {
        let &b = bytes
            .get(i)
            .ok_or(CaveatError::Syntax("unterminated string"))?;
        i += 1;
        match b {
            b'"' => return Ok((out, i)),
            b'\\' => {
                let &e = bytes
                    .get(i)
                    .ok_or(CaveatError::Syntax("unterminated escape"))?;
                i += 1;
                match e {
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    b'u' => {
                        if bytes.get(i) != Some(&b'{') {
                            return Err(CaveatError::Syntax("bad \\u escape"));
                        }
                        i += 1;
                        let mut code: u32 = 0;
                        let mut digits = 0usize;
                        loop {
                            let &h = bytes
                                .get(i)
                                .ok_or(CaveatError::Syntax("unterminated \\u escape"))?;
                            i += 1;
                            if h == b'}' {
                                break;
                            }
                            let d = char::from(h)
                                .to_digit(16)
                                .ok_or(CaveatError::Syntax("bad \\u escape"))?;
                            digits += 1;
                            if digits > 6 {
                                return Err(CaveatError::Syntax("bad \\u escape"));
                            }
                            code = (code << 4) | d;
                        }
                        if digits == 0 {
                            return Err(CaveatError::Syntax("bad \\u escape"));
                        }
                        out.push(
                            char::from_u32(code)
                                .ok_or(CaveatError::Syntax("\\u escape is not a scalar value"))?,
                        );
                    }
                    _ => return Err(CaveatError::Syntax("unknown escape")),
                }
            }
            _ => out.push(char::from(b)),
        }
    }
}

struct Parser<'a> {
    toks: std::iter::Peekable<std::vec::IntoIter<Tok<'a>>>,
}

impl<'a> Parser<'a> {
    fn new(body: &'a str) -> Result<Self, CaveatError> {
        Ok(Self {
            toks: lex(body)?.into_iter().peekable(),
        })
    }

    fn end(&mut self) -> Result<(), CaveatError> {
        match self.toks.next() {
            None => Ok(()),
            Some(_) => Err(CaveatError::Syntax("trailing input")),
        }
    }

    fn at_end(&mut self) -> bool {
        self.toks.peek().is_none()
    }

    fn eat(&mut self, punct: u8) -> bool {
        if self.toks.peek() == Some(&Tok::Punct(punct)) {
            self.toks.next();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: u8, what: &'static str) -> Result<(), CaveatError> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(CaveatError::Syntax(what))
        }
    }

    fn word(&mut self) -> Result<&'a str, CaveatError> {
        match self.toks.next() {
            Some(Tok::Word(w)) => Ok(w),
            _ => Err(CaveatError::Syntax("expected a word")),
        }
    }

    fn name(&mut self) -> Result<String, CaveatError> {
        match self.toks.next() {
            Some(Tok::Word(w)) => Ok(w.to_owned()),
            Some(Tok::Str(s)) => Ok(s),
            _ => Err(CaveatError::Syntax("expected a name")),
        }
    }

    fn tool(&mut self) -> Result<ToolRef, CaveatError> {
        let server = self.name()?;
        self.expect(b'/', "expected '/' in a tool")?;
        let tool = self.name()?;
        Ok(ToolRef { server, tool })
    }

    fn unsigned(&mut self) -> Result<u64, CaveatError> {
        let w = self.word()?;
        parse_unsigned(w).ok_or(CaveatError::Syntax("expected an unsigned integer"))
    }

    fn int(&mut self) -> Result<i64, CaveatError> {
        let w = self.word()?;
        parse_int(w).ok_or(CaveatError::Syntax("expected an integer"))
    }

    fn value(&mut self) -> Result<Value, CaveatError> {
        match self.toks.next() {
            Some(Tok::Str(s)) => Ok(Value::Str(s)),
            Some(Tok::Word("true")) => Ok(Value::Bool(true)),
            Some(Tok::Word("false")) => Ok(Value::Bool(false)),
            Some(Tok::Word(w)) => parse_int(w)
                .map(Value::Int)
                .ok_or(CaveatError::Syntax("expected a value")),
            _ => Err(CaveatError::Syntax("expected a value")),
        }
    }

    fn constraint(&mut self) -> Result<Constraint, CaveatError> {
        match self.toks.next() {
            Some(Tok::Punct(b'*')) => Ok(Constraint::Any),
            Some(Tok::Punct(b'=')) => Ok(Constraint::Exact(self.value()?)),
            Some(Tok::Punct(b'^')) => match self.toks.next() {
                Some(Tok::Str(s)) => Ok(Constraint::Prefix(s)),
                _ => Err(CaveatError::Syntax("a prefix is a string")),
            },
            Some(Tok::Punct(b'~')) => match self.toks.next() {
                Some(Tok::Str(s)) => Ok(Constraint::Path(s)),
                _ => Err(CaveatError::Syntax("a path directory is a string")),
            },
            Some(Tok::Punct(b'{')) => {
                let mut set = BTreeSet::new();
                if !self.eat(b'}') {
                    loop {
                        set.insert(self.value()?);
                        if self.eat(b'}') {
                            break;
                        }
                        self.expect(b',', "expected ',' or '}'")?;
                    }
                }
                Ok(Constraint::OneOf(set))
            }
            Some(Tok::Punct(b'[')) => {
                let min = self.int()?;
                self.expect(b',', "expected ',' in a range")?;
                let max = self.int()?;
                self.expect(b']', "expected ']'")?;
                Ok(Constraint::Range { min, max })
            }
            _ => Err(CaveatError::Syntax("expected a constraint")),
        }
    }

    fn subject(&mut self) -> Result<Subject, CaveatError> {
        let mut subject = Subject::new(self.name()?);
        if !self.at_end() {
            let binding = match self.word()? {
                KEY_SET => HolderBinding::KeySet,
                key => HolderBinding::Key(
                    HolderKey::parse(key).map_err(|_| CaveatError::Syntax("bad holder binding"))?,
                ),
            };
            subject.binding = Some(binding);
        }
        Ok(subject)
    }

    fn grants(&mut self) -> Result<BTreeSet<Grant>, CaveatError> {
        let mut grants = BTreeSet::new();
        if self.at_end() {
            return Ok(grants);
        }
        loop {
            let tool = self.tool()?;
            self.expect(b'(', "expected '(' after a granted tool")?;
            let mut args = BTreeMap::new();
            if !self.eat(b')') {
                loop {
                    let name = self.name()?;
                    let c = self.constraint()?;
                    if args.insert(name, c).is_some() {
                        return Err(CaveatError::Syntax("argument constrained twice in a grant"));
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.expect(b',', "expected ',' or ')'")?;
                }
            }
            grants.insert(Grant {
                server: tool.server,
                tool: tool.tool,
                args,
            });
            if self.at_end() {
                return Ok(grants);
            }
            self.expect(b'|', "expected '|' between grants")?;
        }
    }

    fn keep(&mut self) -> Result<BTreeSet<ToolRef>, CaveatError> {
        let mut tools = BTreeSet::new();
        if self.at_end() {
            return Ok(tools);
        }
        loop {
            tools.insert(self.tool()?);
            if self.at_end() {
                return Ok(tools);
            }
            self.expect(b',', "expected ',' between tools")?;
        }
    }
}

/// `0` or a non-zero digit followed by digits, within u64.
fn parse_unsigned(w: &str) -> Option<u64> {
    let canonical =
        w == "0" || (w.bytes().all(|b| b.is_ascii_digit()) && !w.starts_with('0') && !w.is_empty());
    if canonical { w.parse().ok() } else { None }
}

/// An optional `-` and an unsigned integer, within i64, and not `-0`.
fn parse_int(w: &str) -> Option<i64> {
    match w.strip_prefix('-') {
        Some("0") => None,
        Some(digits) => {
            parse_unsigned(digits)?;
            w.parse().ok()
        }
        None => {
            parse_unsigned(w)?;
            w.parse().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(s: &str, t: &str) -> ToolRef {
        ToolRef::new(s, t)
    }

    fn all_kinds() -> Vec<Claim> {
        let grant = Grant::new("fs.internal", "read_file")
            .with_arg("path", Constraint::Path("/srv/data/".into()))
            .with_arg("name", Constraint::Prefix("report-".into()))
            .with_arg("mode", Constraint::Exact("ro".into()))
            .with_arg("limit", Constraint::Range { min: -5, max: 1000 })
            .with_arg("host", Constraint::Any)
            .with_arg(
                "fmt",
                Constraint::OneOf(
                    [Value::from("json"), Value::Int(-3), Value::Bool(true)]
                        .into_iter()
                        .collect(),
                ),
            )
            .with_arg("flag", Constraint::Exact(Value::Bool(false)))
            .with_arg("n", Constraint::Exact(Value::Int(i64::MIN)));
        let odd = Grant::new("a server/with slash", "\"quoted\" \\ tool ü\u{1F600}")
            .with_arg("", Constraint::OneOf(BTreeSet::new()))
            .with_arg("empty", Constraint::Prefix(String::new()))
            .with_arg("dir", Constraint::Path("not a directory \u{e9}".into()));
        vec![
            Claim::Subject(Subject::new("agent:planner-7")),
            Claim::Subject(Subject::bound_to_key(
                "agent x",
                HolderKey::Ed25519([0xab; 32]),
            )),
            Claim::Subject(Subject::bound_to_key_set("agent:planner-7")),
            Claim::Grants([grant, odd, Grant::new("s", "t")].into_iter().collect()),
            Claim::Grants(BTreeSet::new()),
            Claim::IssuedAt(1_767_225_600),
            Claim::NotBefore(0),
            Claim::ExpiresAt(u64::MAX),
            Claim::Depth(u32::MAX),
            Claim::Step {
                parent: LineageHash([0x9c; 32]),
                count: 5,
            },
            Claim::Keep(
                [tool("fs", "read"), tool("fs", "list")]
                    .into_iter()
                    .collect(),
            ),
            Claim::Keep(BTreeSet::new()),
            Claim::Arg(ArgConstraint {
                tool: tool("fs.internal", "read_file"),
                arg: "path".into(),
                constraint: Constraint::Prefix("/srv/data/p1/".into()),
            }),
            Claim::Arg(ArgConstraint {
                tool: tool("fs.internal", "read_file"),
                arg: "path".into(),
                constraint: Constraint::Path("/srv/data/p1/".into()),
            }),
            Claim::Delegate(Subject::new("agent:sub")),
            Claim::Delegate(Subject::bound_to_key_set("agent:sub")),
            Claim::Delegate(Subject::bound_to_key("keyset", HolderKey::Ed25519([1; 32]))),
        ]
    }

    #[test]
    fn every_claim_round_trips_and_is_printable_ascii() {
        for claim in all_kinds() {
            let text = claim.encode();
            assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{text}");
            assert_eq!(Claim::parse(text.as_bytes()), Ok(claim), "{text}");
        }
    }

    #[test]
    fn workload_spelling() {
        let c = Claim::Arg(ArgConstraint {
            tool: tool("fs.internal", "read_file"),
            arg: "limit".into(),
            constraint: Constraint::Range { min: 0, max: 999 },
        });
        assert_eq!(c.encode(), "ct2 arg fs.internal/read_file limit[0,999]");
        let g = Claim::Grants(
            [Grant::new("fs.internal", "list_dir")
                .with_arg("path", Constraint::Path("/srv/data/".into()))
                .with_arg("name", Constraint::Prefix("r".into()))
                .with_arg("mode", Constraint::Exact("ro".into()))]
            .into_iter()
            .collect(),
        );
        assert_eq!(
            g.encode(),
            r#"ct2 grants fs.internal/list_dir(mode="ro", name^"r", path~"/srv/data/")"#
        );
        assert_eq!(Claim::IssuedAt(7).encode(), "ct2 iat 7");
        let boundary = Claim::Step {
            parent: LineageHash([0; 32]),
            count: 0,
        }
        .encode();
        assert!(
            boundary.as_bytes().starts_with(STEP_PREFIX)
                && STEP_PREFIX.starts_with(PREFIX.as_bytes())
        );
        let key = HolderKey::Ed25519([0xab; 32]);
        assert_eq!(
            Claim::Subject(Subject::bound_to_key("agent:a", key.clone())).encode(),
            format!("ct2 subject agent:a ed25519:{}", "ab".repeat(32))
        );
        assert_eq!(
            Claim::Delegate(Subject::bound_to_key_set("agent:b")).encode(),
            "ct2 delegate agent:b keyset"
        );
    }

    #[test]
    fn hand_written_spellings_parse() {
        let spaced = r#"ct2 grants  fs.internal / read_file ( path ^ "/srv/" , mode = "ro" )|"fs.internal"/"list_dir"()"#;
        let Claim::Grants(g) = Claim::parse(spaced.as_bytes()).unwrap() else {
            panic!("not grants")
        };
        assert_eq!(g.len(), 2);
        assert_eq!(
            Claim::parse(br#"ct2 subject "agent:\u{65e5}""#).unwrap(),
            Claim::Subject(Subject::new("agent:\u{65e5}"))
        );
    }

    #[test]
    fn malformed_and_unknown_caveats_are_refused() {
        let unknown = [
            "",
            "ct2",
            "ct3 exp 5",
            "CT2 exp 5",
            "ct2 expires 5",
            "ct2  exp 5",
            "time < 2020-01-01",
            "ct2 exp 5\n",
            "ct2 subject \"\u{e9}\"",
        ];
        for c in unknown {
            assert_eq!(
                Claim::parse(c.as_bytes()),
                Err(CaveatError::Unknown),
                "{c:?}"
            );
        }
        for c in [
            "ct1 exp 5",
            "ct1 subject agent:a",
            "ct1 ",
            "ct1 grants fs/read(a~\"/x\")",
        ] {
            assert_eq!(
                Claim::parse(c.as_bytes()),
                Err(CaveatError::UnsupportedVersion),
                "{c:?}"
            );
        }
        let malformed = [
            "ct2 exp",
            "ct2 exp 5 6",
            "ct2 exp -5",
            "ct2 exp 05",
            "ct2 exp +5",
            "ct2 exp 18446744073709551616",
            "ct2 depth 4294967296",
            "ct2 subject",
            "ct2 subject a b",
            "ct2 subject a ed25519:00",
            "ct2 subject a keyset keyset",
            "ct2 subject a KEYSET",
            "ct2 subject a ed25519:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
            "ct2 subject a ed25519 abababababababababababababababababababababababababababababababab",
            "ct2 delegate a key-set",
            "ct2 iat",
            "ct2 iat -1",
            "ct2 grants fs/read(a~5)",
            "ct2 grants fs/read(a~)",
            "ct2 arg fs/read a~\"/x\" ~\"/y\"",
            "ct2 grants fs/read",
            "ct2 grants fs/read(a*, a*)",
            "ct2 grants fs/read(a*) fs/list()",
            "ct2 grants fs/read(a*) |",
            "ct2 grants fs/read(a=)",
            "ct2 grants fs/read(a=-0)",
            "ct2 grants fs/read(a=x)",
            "ct2 grants fs/read(a^5)",
            "ct2 grants fs/read(a[1,])",
            "ct2 grants fs/read(a[1,2,3])",
            "ct2 grants fs/read(a{1,})",
            "ct2 grants fs/read(a=\"x)",
            "ct2 grants fs/read(a=\"\\x\")",
            "ct2 grants fs/read(a=\"\\u{d800}\")",
            "ct2 grants fs/read(a=\"\\u{1234567}\")",
            "ct2 grants fs/read(a=\"\\u{}\")",
            "ct2 grants fs/read(a=99999999999999999999)",
            "ct2 step 00 1",
            "ct2 step 9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C9C 1",
            "ct2 step 9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c",
            "ct2 keep fs/read,",
            "ct2 keep fs",
            "ct2 arg fs/read path",
            "ct2 arg fs/read path ^\"x\" extra",
            "ct2 delegate",
            "ct2 nbf 1; ct2 exp 2",
        ];
        for c in malformed {
            assert!(
                matches!(Claim::parse(c.as_bytes()), Err(CaveatError::Syntax(_))),
                "{c:?} -> {:?}",
                Claim::parse(c.as_bytes())
            );
        }
    }

    #[test]
    fn identifier_round_trip_and_refusals() {
        let id = Identifier {
            key_id: KeyId::new("k1").unwrap(),
            token_id: TokenId([0x5a; 16]),
        };
        let text = id.encode();
        assert_eq!(text, format!("ct2 k1 {}", "5a".repeat(16)));
        assert_eq!(Identifier::parse(text.as_bytes()), Ok(id));
        assert_eq!(
            Identifier::parse(format!("ct1 k1 {}", "5a".repeat(16)).as_bytes()),
            Err(CaveatError::UnsupportedVersion)
        );
        for bad in [
            "ct2 k1",
            "ct2 k1 5a",
            "ct3 k1 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
            "ct2 k1 5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A",
            "ct2  5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
            "ct2 k1 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a ",
            "ct2 k 1 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
        ] {
            assert!(Identifier::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
