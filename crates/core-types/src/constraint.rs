//! Argument values and the constraints a grant places on them, with the decidable "is at least as narrow as" relation.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A tool-call argument value: a string, a 64-bit integer or a boolean.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// A UTF-8 string.
    Str(String),
    /// A signed 64-bit integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// What a grant allows for one argument. A constrained argument must be
/// present in the request and satisfy the constraint.
///
/// Each constraint denotes a set of values; [`Constraint::is_at_least_as_narrow_as`]
/// decides inclusion between those sets exactly.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Constraint {
    /// Any value, but the argument must be present.
    Any,
    /// Exactly this value.
    Exact(Value),
    /// A string starting with this prefix, byte-wise. For strings that are not
    /// file-system paths: `Prefix("/srv/data/")` also admits `/srv/data/../etc`.
    /// Never matches integers or booleans.
    Prefix(String),
    /// A file-system path strictly under this directory, by whole segments (see
    /// [`crate::path`]): an absolute path with no empty segment and none made of
    /// dots and spaces only (`.`, `..`), no backslash, no `%`, no control
    /// character, whose segments extend the directory's. The directory is written `/`, `/a/b` or `/a/b/` (the same
    /// set); a directory that is not such a path permits nothing. Use it for
    /// every argument a tool resolves against a file system.
    Path(String),
    /// One of these values. An empty set matches nothing.
    OneOf(BTreeSet<Value>),
    /// An integer in `min..=max` (both inclusive). Empty when `min > max`.
    Range {
        /// Smallest allowed integer.
        min: i64,
        /// Largest allowed integer.
        max: i64,
    },
}

impl Constraint {
    /// Does `value` satisfy this constraint?
    #[must_use]
    pub fn permits(&self, value: &Value) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(v) => v == value,
            Self::Prefix(p) => matches!(value, Value::Str(s) if s.starts_with(p.as_str())),
            Self::Path(dir) => matches!(value, Value::Str(s) if crate::path::is_under(s, dir)),
            Self::OneOf(set) => set.contains(value),
            Self::Range { min, max } => matches!(value, Value::Int(i) if min <= i && i <= max),
        }
    }

    /// Is the set of values this constraint permits empty?
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self {
            Self::OneOf(set) => set.is_empty(),
            Self::Range { min, max } => min > max,
            Self::Path(dir) => !crate::path::is_directory(dir),
            Self::Any | Self::Exact(_) | Self::Prefix(_) => false,
        }
    }

    /// Is every value permitted by `self` also permitted by `other`?
    ///
    /// This is exact set inclusion, decided without enumeration except for a
    /// `Range` against a `OneOf`, which counts the set's members in the range.
    #[must_use]
    pub fn is_at_least_as_narrow_as(&self, other: &Self) -> bool {
        if self.is_empty() || matches!(other, Self::Any) {
            return true;
        }
        match self {
            // Non-empty and `other` is not `Any`: `Any` also contains values of
            // every type, which no other constraint does.
            Self::Any => false,
            Self::Exact(v) => other.permits(v),
            Self::OneOf(set) => set.iter().all(|v| other.permits(v)),
            // An infinite set of strings fits only in another prefix set.
            // A prefix set always holds unsafe paths (`p/../x`), so it fits in no `Path`.
            Self::Prefix(p) => matches!(other, Self::Prefix(q) if p.starts_with(q.as_str())),
            // Every member is `base(dir)/segment…`, and the segments are free.
            Self::Path(dir) => {
                let base = crate::path::base(dir);
                match other {
                    Self::Path(o) => {
                        crate::path::is_directory(o) && {
                            let obase = crate::path::base(o);
                            base == obase || crate::path::is_under(base, o)
                        }
                    }
                    Self::Prefix(p) => format!("{base}/").starts_with(p.as_str()),
                    Self::Any | Self::Exact(_) | Self::OneOf(_) | Self::Range { .. } => false,
                }
            }
            Self::Range { min, max } => match other {
                Self::Range {
                    min: omin,
                    max: omax,
                } => omin <= min && max <= omax,
                Self::Exact(Value::Int(v)) => min == v && max == v,
                Self::OneOf(set) => {
                    let inside = set
                        .iter()
                        .filter(|v| matches!(v, Value::Int(i) if min <= i && i <= max))
                        .count();
                    let wanted = i128::from(*max) - i128::from(*min) + 1;
                    i128::try_from(inside).is_ok_and(|n| n == wanted)
                }
                Self::Any | Self::Exact(_) | Self::Prefix(_) | Self::Path(_) => false,
            },
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => write!(f, "any"),
            Self::Exact(v) => write!(f, "= {v}"),
            Self::Prefix(p) => write!(f, "prefix {p:?}"),
            Self::Path(d) => write!(f, "path under {d:?}"),
            Self::OneOf(set) => {
                write!(f, "one of {{")?;
                for (i, v) in set.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "}}")
            }
            Self::Range { min, max } => write!(f, "in {min}..={max}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one_of(vs: &[Value]) -> Constraint {
        Constraint::OneOf(vs.iter().cloned().collect())
    }

    #[test]
    fn permits_each_kind() {
        assert!(Constraint::Any.permits(&Value::Bool(false)));
        assert!(Constraint::Exact("ro".into()).permits(&"ro".into()));
        assert!(!Constraint::Exact("ro".into()).permits(&"rw".into()));
        assert!(!Constraint::Exact(Value::Int(1)).permits(&"1".into()));
        assert!(Constraint::Prefix("/srv/".into()).permits(&"/srv/a".into()));
        assert!(Constraint::Prefix("/srv/".into()).permits(&"/srv/".into()));
        assert!(!Constraint::Prefix("/srv/".into()).permits(&"/srv".into()));
        assert!(!Constraint::Prefix(String::new()).permits(&Value::Int(3)));
        assert!(one_of(&["a".into(), Value::Int(2)]).permits(&Value::Int(2)));
        assert!(!one_of(&[]).permits(&Value::Int(2)));
        let r = Constraint::Range { min: 0, max: 10 };
        assert!(r.permits(&Value::Int(0)) && r.permits(&Value::Int(10)));
        assert!(!r.permits(&Value::Int(-1)) && !r.permits(&Value::Int(11)));
        assert!(!r.permits(&"5".into()));
    }

    #[test]
    fn narrowing_examples() {
        let any = Constraint::Any;
        let prefix = |p: &str| Constraint::Prefix(p.into());
        let range = |min, max| Constraint::Range { min, max };
        assert!(prefix("/a/b/").is_at_least_as_narrow_as(&prefix("/a/")));
        assert!(!prefix("/a/").is_at_least_as_narrow_as(&prefix("/a/b/")));
        assert!(!any.is_at_least_as_narrow_as(&prefix("")));
        assert!(prefix("").is_at_least_as_narrow_as(&any));
        assert!(range(1, 5).is_at_least_as_narrow_as(&range(0, 5)));
        assert!(!range(0, 6).is_at_least_as_narrow_as(&range(0, 5)));
        assert!(range(5, 1).is_at_least_as_narrow_as(&one_of(&[])));
        assert!(range(1, 2).is_at_least_as_narrow_as(&one_of(&[Value::Int(1), Value::Int(2)])));
        assert!(!range(1, 3).is_at_least_as_narrow_as(&one_of(&[Value::Int(1), Value::Int(2)])));
        assert!(range(3, 3).is_at_least_as_narrow_as(&Constraint::Exact(Value::Int(3))));
        assert!(
            !range(i64::MIN, i64::MAX).is_at_least_as_narrow_as(&one_of(&[Value::Int(0)])),
            "the full range must not overflow the count"
        );
        assert!(
            Constraint::Exact("/a/x".into()).is_at_least_as_narrow_as(&prefix("/a/")),
            "an exact string inside a prefix set"
        );
        assert!(!prefix("/a/").is_at_least_as_narrow_as(&Constraint::Exact("/a/".into())));
        assert!(one_of(&["/a/1".into(), "/a/2".into()]).is_at_least_as_narrow_as(&prefix("/a/")));
    }

    #[test]
    fn path_examples() {
        let path = |d: &str| Constraint::Path(d.into());
        let ok = |c: &Constraint, v: &str| c.permits(&Value::from(v));
        let data = path("/srv/data/");
        assert!(ok(&data, "/srv/data/report.txt") && ok(&data, "/srv/data/a/b"));
        for bad in [
            "/srv/data",
            "/srv/data/",
            "/srv/database",
            "/srv/data/../etc/passwd",
            "/srv/data/./x",
            "/srv/data//x",
            "/srv/data/x/",
            "/srv/data/%2e%2e/etc",
            "/srv/data/%2E%2e/etc",
            "/srv/data/.%2e/etc",
            "/srv/data/..\\etc",
            "/srv/data/x\0",
            "srv/data/x",
            "/srv/data/..%2f..%2fetc/passwd",
            "/srv/data/..%5c..%5cetc",
            "/srv/data/%252e%252e/etc",
            "/srv/data/%c0%ae%c0%ae/etc",
            "/srv/data/.../etc",
            "/srv/data/.. /etc",
            "/srv/data/x\n",
            "/srv/data/x\x7f",
        ] {
            assert!(!ok(&data, bad), "{bad:?}");
        }
        assert!(!data.permits(&Value::Int(1)));
        assert!(
            ok(&path("/srv/data"), "/srv/data/x"),
            "trailing slash optional"
        );
        assert!(!ok(&path("/data"), "/database"));
        assert!(ok(&path("/"), "/etc") && !ok(&path("/"), "/"));
        assert!(path("/srv/../").is_empty() && path("srv/").is_empty() && path("").is_empty());
        assert!(path("/a/b/").is_at_least_as_narrow_as(&path("/a")));
        assert!(!path("/ab/").is_at_least_as_narrow_as(&path("/a/")));
        assert!(path("/a/b/").is_at_least_as_narrow_as(&prefix_c("/a/b")));
        assert!(!path("/a/").is_at_least_as_narrow_as(&prefix_c("/a/b")));
        assert!(!prefix_c("/a/").is_at_least_as_narrow_as(&path("/a/")));
        assert!(Constraint::Exact("/a/x".into()).is_at_least_as_narrow_as(&path("/a/")));
        assert!(!Constraint::Exact("/a/../x".into()).is_at_least_as_narrow_as(&path("/a/")));
    }

    fn prefix_c(p: &str) -> Constraint {
        Constraint::Prefix(p.into())
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec!["", "a", "ab", "abc", "b", "ba"]).prop_map(Value::from),
            prop::sample::select(PATHS.to_vec()).prop_map(Value::from),
            (-3i64..=3).prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
        ]
    }

    fn constraint() -> impl Strategy<Value = Constraint> {
        prop_oneof![
            Just(Constraint::Any),
            value().prop_map(Constraint::Exact),
            prop::sample::select(vec!["", "a", "ab", "b", "/", "/a", "/a/", "/a/b/"])
                .prop_map(|p| Constraint::Prefix(p.into())),
            prop::sample::select(DIRS.to_vec()).prop_map(|d| Constraint::Path(d.into())),
            prop::collection::btree_set(value(), 0..4).prop_map(Constraint::OneOf),
            (-3i64..=3, -3i64..=3).prop_map(|(min, max)| Constraint::Range { min, max }),
        ]
    }

    /// Directories of `Path` constraints: valid ones, and invalid ones that permit nothing.
    const DIRS: [&str; 9] = [
        "/", "/a", "/a/", "/a/b/", "/b/", "/ab/", "a/", "/a/../", "/a//",
    ];
    /// Path values, safe and hostile.
    const PATHS: [&str; 16] = [
        "/a/x",
        "/a/b/x",
        "/a/b",
        "/a",
        "/ab/x",
        "/b/x",
        "/a/../x",
        "/a/./x",
        "/a//x",
        "/a/x/",
        "/a/%2e%2e/x",
        "/a/%2E/x",
        "/a\\x",
        "/a/x\0",
        "a/x",
        "/",
    ];

    /// Every value a test can reach: the strategy's pools plus strings that
    /// extend each prefix and each directory, which witness that prefix and
    /// path sets are infinite, and hostile paths under each directory.
    fn universe() -> Vec<Value> {
        let mut all: Vec<Value> = ["", "a", "ab", "abc", "b", "ba", "aq", "abq", "bq", "q"]
            .into_iter()
            .chain(PATHS)
            .map(Value::from)
            .collect();
        for d in DIRS {
            let d = d.trim_end_matches('/');
            for tail in [
                "q", "a", "a/q", "b/q", "a/b/q", "../q", "./q", "/q", "%2e%2e/q", "q\\",
            ] {
                all.push(Value::from(format!("{d}/{tail}")));
            }
        }
        all.extend((-5i64..=5).map(Value::Int));
        all.extend([Value::Bool(true), Value::Bool(false)]);
        all
    }

    proptest! {
        /// The relation is exact set inclusion over a universe rich enough to
        /// separate every pair of generated constraints.
        #[test]
        fn narrowing_is_set_inclusion(a in constraint(), b in constraint()) {
            let included = universe().iter().all(|v| !a.permits(v) || b.permits(v));
            prop_assert_eq!(a.is_at_least_as_narrow_as(&b), included, "{} vs {}", a, b);
        }

        #[test]
        fn narrowing_is_reflexive(a in constraint()) {
            prop_assert!(a.is_at_least_as_narrow_as(&a));
        }
    }
}
