//! Tool-call requests, their canonical action hash, and the injected clock that dates them.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::constraint::Value;

/// A source of the current Unix time in seconds. Verification never reads the
/// wall clock itself: the verifier dates each [`Request`] through a `Clock`.
pub trait Clock {
    /// The current Unix time in seconds.
    fn now(&self) -> u64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock before 1970 is treated as 1970: every token is then not yet valid.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that always reads the same time, for tests and replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

/// One tool call, as the verifier (the gateway) sees it. The verifier builds it
/// from the call and its own clock; the caller never chooses `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The principal making the call.
    pub subject: String,
    /// Tool server id.
    pub server: String,
    /// Tool name.
    pub tool: String,
    /// Arguments by name.
    pub args: BTreeMap<String, Value>,
    /// Unix time of the call, in seconds.
    pub now: u64,
}

/// Domain separation for [`Request::action_hash`].
const ACTION_DOMAIN: &[u8] = b"captoken/action/v1";

impl Request {
    /// A request with no arguments, dated by `clock`.
    #[must_use]
    pub fn new(
        subject: impl Into<String>,
        server: impl Into<String>,
        tool: impl Into<String>,
        clock: &dyn Clock,
    ) -> Self {
        Self {
            subject: subject.into(),
            server: server.into(),
            tool: tool.into(),
            args: BTreeMap::new(),
            now: clock.now(),
        }
    }

    /// Adds (or replaces) one argument.
    #[must_use]
    pub fn with_arg(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.args.insert(name.into(), value.into());
        self
    }

    /// SHA-256 over the canonical encoding of (server, tool, args).
    ///
    /// The encoding is `"captoken/action/v1"`, then the server and the tool as
    /// length-prefixed strings, then the argument count and each argument in
    /// ascending name order as a length-prefixed name followed by a tagged value:
    /// `0x01` + length-prefixed UTF-8 for a string, `0x02` + 8 bytes big-endian
    /// two's complement for an integer, `0x03` + `0x00`/`0x01` for a boolean.
    /// Lengths and the count are 8-byte big-endian. Subject and time are not
    /// part of the action.
    #[must_use]
    pub fn action_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(ACTION_DOMAIN);
        put_bytes(&mut h, self.server.as_bytes());
        put_bytes(&mut h, self.tool.as_bytes());
        put_len(&mut h, self.args.len());
        for (name, value) in &self.args {
            put_bytes(&mut h, name.as_bytes());
            match value {
                Value::Str(s) => {
                    h.update([1]);
                    put_bytes(&mut h, s.as_bytes());
                }
                Value::Int(i) => {
                    h.update([2]);
                    h.update(i.to_be_bytes());
                }
                Value::Bool(b) => h.update([3, u8::from(*b)]),
            }
        }
        h.finalize().into()
    }
}

fn put_len(h: &mut Sha256, len: usize) {
    // usize fits in u64 on every supported target.
    h.update(u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes());
}

fn put_bytes(h: &mut Sha256, bytes: &[u8]) {
    put_len(h, bytes.len());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request::new("agent:a", "fs", "read", &FixedClock(5))
            .with_arg("path", "/x")
            .with_arg("n", 3)
    }

    #[test]
    fn action_hash_ignores_subject_and_time() {
        let mut other = req();
        other.subject = "agent:b".into();
        other.now = 99;
        assert_eq!(req().action_hash(), other.action_hash());
    }

    #[test]
    fn action_hash_separates_fields() {
        let base = req().action_hash();
        let variants = [
            Request {
                server: "fsr".into(),
                tool: "ead".into(),
                ..req()
            },
            req().with_arg("n", "3"),
            req().with_arg("n", 4),
            req().with_arg("extra", true),
            Request {
                args: BTreeMap::new(),
                ..req()
            },
        ];
        for v in variants {
            assert_ne!(base, v.action_hash(), "{v:?}");
        }
    }

    #[test]
    fn action_hash_is_pinned() {
        // Pinned so that a change to the canonical encoding is a deliberate one.
        let hex: String = req()
            .action_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, ACTION_HASH_OF_REQ);
    }

    // Computed independently (Python hashlib) from the documented encoding.
    const ACTION_HASH_OF_REQ: &str =
        "cb39bc7f3641a58b37a6cb812f404b9747ebf337f7371fb9146b98152b8da360";
}
