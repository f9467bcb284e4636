//! Human-readable rendering of capabilities and the diff of what an attenuation step narrows.

use captoken::{Capability, Constraint, Grant, HolderBinding, Subject, Value};

use crate::io::format_time;

/// A constraint as `name=…`: a path directory bare (`path=/srv/`), an exact
/// value quoted if a string (`mode="ro"`), `prefix:"s"`, `{a,b}` for one-of,
/// `min..=max` for a range, `*` for any.
#[must_use]
pub(crate) fn constraint(name: &str, c: &Constraint) -> String {
    let value = |v: &Value| v.to_string();
    match c {
        Constraint::Any => format!("{name}=*"),
        Constraint::Exact(v) => format!("{name}={}", value(v)),
        Constraint::Prefix(p) => format!("{name}=prefix:{p:?}"),
        Constraint::Path(p) => format!("{name}={p}"),
        Constraint::OneOf(vs) => {
            let items: Vec<String> = vs.iter().map(value).collect();
            format!("{name}={{{}}}", items.join(","))
        }
        Constraint::Range { min, max } => format!("{name}={min}..={max}"),
        // Constraint is exhaustive today; a future kind prints its debug form.
        #[allow(unreachable_patterns)]
        other => format!("{name}={other:?}"),
    }
}

/// A grant as `server/tool name=… name=…`.
#[must_use]
pub(crate) fn grant(g: &Grant) -> String {
    let mut s = format!("{}/{}", g.server, g.tool);
    for (name, c) in &g.args {
        s.push(' ');
        s.push_str(&constraint(name, c));
    }
    s
}

/// A subject as `principal` or `principal (holder ed25519:…)`.
#[must_use]
pub(crate) fn subject(s: &Subject) -> String {
    match &s.binding {
        None => s.principal.clone(),
        Some(HolderBinding::Key(k)) => format!("{} (holder {k})", s.principal),
        Some(HolderBinding::KeySet) => format!("{} (holder key set)", s.principal),
        #[allow(unreachable_patterns)]
        Some(other) => format!("{} ({other:?})", s.principal),
    }
}

/// A time as `RFC 3339 (unix)`.
#[must_use]
pub(crate) fn time(t: u64) -> String {
    format!("{} ({t})", format_time(t))
}

/// The lines of a capability, for `inspect`.
#[must_use]
pub(crate) fn lines(c: &Capability) -> Vec<String> {
    let mut out = vec![
        format!("subject: {}", subject(&c.subject)),
        format!("not_before: {}", time(c.not_before)),
        format!("expires_at: {}", time(c.expires_at)),
        format!("max_depth: {}", c.max_depth),
    ];
    out.extend(c.grants.iter().map(|g| format!("grant {}", grant(g))));
    out
}

/// What narrows from `parent` to `child`: `- old` / `+ new` line pairs for
/// every field that changed, `  unchanged` lines for grants kept as they were.
#[must_use]
pub(crate) fn diff(parent: &Capability, child: &Capability) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("- {name}: {a}"));
            out.push(format!("+ {name}: {b}"));
        }
    };
    field("subject", subject(&parent.subject), subject(&child.subject));
    field(
        "not_before",
        time(parent.not_before),
        time(child.not_before),
    );
    field(
        "expires_at",
        time(parent.expires_at),
        time(child.expires_at),
    );
    field(
        "max_depth",
        parent.max_depth.to_string(),
        child.max_depth.to_string(),
    );
    for g in &parent.grants {
        let narrowed: Vec<&Grant> = child
            .grants
            .iter()
            .filter(|c| c.is_for(&g.server, &g.tool))
            .collect();
        if narrowed.contains(&g) {
            out.push(format!("  grant {}", grant(g)));
            continue;
        }
        out.push(format!("- grant {}", grant(g)));
        for c in narrowed {
            out.push(format!("+ grant {}", grant(c)));
        }
    }
    out
}

/// One attenuation step as `; `-separated operations, for `inspect`.
#[must_use]
pub(crate) fn step(s: &captoken::Attenuation) -> String {
    let mut ops = Vec::new();
    if let Some(t) = s.not_before {
        ops.push(format!("not_before {}", time(t)));
    }
    if let Some(t) = s.expires_at {
        ops.push(format!("expires_at {}", time(t)));
    }
    if let Some(d) = s.max_depth {
        ops.push(format!("max_depth {d}"));
    }
    if let Some(keep) = &s.keep {
        let tools: Vec<String> = keep.iter().map(ToString::to_string).collect();
        ops.push(format!("keep {}", tools.join(",")));
    }
    for c in &s.constraints {
        ops.push(format!(
            "constrain {} {}",
            c.tool,
            constraint(&c.arg, &c.constraint)
        ));
    }
    if let Some(to) = &s.delegate {
        ops.push(format!("delegate to {}", subject(to)));
    }
    if let Some(by) = &s.signed_by {
        ops.push(format!("signed by {by}"));
    }
    if ops.is_empty() {
        ops.push("depth only".to_owned());
    }
    ops.join("; ")
}
