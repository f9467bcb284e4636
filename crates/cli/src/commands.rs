//! What each subcommand does, on the library's `Gateway`: the one verifier and issuer, never a second one.

use std::path::Path;
use std::sync::Arc;

use captoken::core::holder_keys;
use captoken::core::{HolderKeys, StoreError};
use captoken::sqlite::{SqliteOptions, SqliteStore};
use captoken::{
    Attenuation, Capability, Constraint, FixedClock, Gateway, Inspection, KeyId, Request,
    SystemClock, Value,
};
use serde_json::json;

use crate::cli::{
    AttenuateArgs, Command, DelegateArgs, HolderCommand, HolderKeygenArgs, InspectArgs, IssueArgs,
    KeygenArgs, KeysCommand, ProveArgs, RequestArgs, RevokeArgs, VerifyArgs,
};
use crate::diff;
use crate::error::{CliError, Result};
use crate::holder::{self, HolderFile};
use crate::io::{out, printable, read_token, replace_secret, write_output, write_secret};
use crate::keyfile::{self, CliFormat, KeyFile, Ring, load_key};
use crate::spec::{read_capability, read_step};

/// What a command ended with: done (or allowed), or denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 1.
    Denied,
}

/// Runs one command.
pub(crate) fn run(command: Command) -> Result<Outcome> {
    match command {
        Command::Keygen(a) => keygen(&a),
        Command::HolderKeygen(a) => holder_keygen(&a),
        Command::Issue(a) => issue(&a),
        Command::Attenuate(a) => attenuate(&a),
        Command::Delegate(a) => delegate(&a),
        Command::Inspect(a) => inspect(&a),
        Command::Verify(a) => verify(&a),
        Command::Prove(a) => prove(&a),
        Command::Revoke(a) => revoke(&a),
        Command::Keys(k) => keys(k),
    }
}

/// Opens the SQLite store at `path`, creating it when `create` and it is missing.
fn open_store(path: &Path, create: bool) -> Result<Arc<SqliteStore>> {
    let store = |source| CliError::Store {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        SqliteStore::open(path).map(Arc::new).map_err(store)
    } else if create {
        SqliteStore::create(path, SqliteOptions::default())
            .map(Arc::new)
            .map_err(store)
    } else {
        Err(CliError::io(
            "open store",
            path,
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        ))
    }
}

/// The gateway: every format read (the key's with its keyring, written;
/// the others with empty keyrings, so that their tokens are recognised and
/// denied rather than unknown), the store if any, the clock at `at` if given.
fn gateway(key: Option<Ring>, at: Option<u64>, store: Option<Arc<SqliteStore>>) -> Result<Gateway> {
    let mut builder = Gateway::builder();
    let keyed = key.as_ref().map(Ring::format);
    if let Some(ring) = key {
        builder = ring.read_into(builder);
    }
    for format in CliFormat::ALL {
        if Some(format) != keyed {
            builder = Ring::empty(format).read_into(builder);
        }
    }
    if let Some(store) = store {
        builder = builder.stores(store);
    }
    builder = match at {
        Some(t) => builder.clock(FixedClock(t)),
        None => builder.clock(SystemClock),
    };
    builder
        .build()
        .map_err(|e| CliError::Usage(format!("cannot build the gateway: {e}")))
}

/// The format of a token's text, by marker.
fn token_format(gw: &Gateway, token: &str) -> Option<CliFormat> {
    gw.formats()
        .reader_for(token)
        .and_then(|r| CliFormat::of(r.format()))
}

/// Checks that the token is of the keyring's format.
fn same_format(gw: &Gateway, token: &str, key: CliFormat, path: &Path) -> Result<()> {
    match token_format(gw, token) {
        None => Err(CliError::Schema {
            what: "token file",
            path: path.to_owned(),
            detail: "not a token of any captoken format".into(),
        }),
        Some(f) if f != key => Err(CliError::Usage(format!(
            "the token is a {f} token but the key file is for {key}"
        ))),
        Some(_) => Ok(()),
    }
}

/// Writes a token or proof (a bearer credential) to `--out` or standard
/// output. A file is always written as a new 0600 file renamed over any
/// existing one (whose mode, or a symlink there, is never reused).
fn emit(out_path: Option<&Path>, text: &str) -> Result<()> {
    match out_path {
        Some(p) if p.as_os_str() != "-" => replace_secret(p, &format!("{text}\n")),
        _ => out(text),
    }
}

/// Refuses a public output that would overwrite the secret file just
/// written, or an existing file without `--force`; checked before anything
/// is written.
fn check_public_out(secret: &Path, public: Option<&Path>, force: bool) -> Result<()> {
    match public {
        Some(p) if p == secret => Err(CliError::Usage(
            "--public-out must not be the --out file (it would overwrite the secret)".into(),
        )),
        Some(p) if !force && p.exists() => Err(CliError::Exists(p.to_owned())),
        _ => Ok(()),
    }
}

/// `keygen`: a new keyring file (0600) and, for public-key formats, its public document.
fn keygen(a: &KeygenArgs) -> Result<Outcome> {
    if a.public_out.is_some() && !a.format.has_public_keys() {
        return Err(CliError::Usage(format!(
            "format {} has no public keys: --public-out is for biscuit and paseto-public",
            a.format
        )));
    }
    check_public_out(&a.out, a.public_out.as_deref(), a.force)?;
    let file = KeyFile::new(a.format, keyfile::generate(a.format, &a.id)?);
    let ring = file.ring().map_err(CliError::Usage)?;
    write_secret(&a.out, &file.to_json()?, a.force)?;
    if let Some(p) = &a.public_out {
        write_output(Some(p), &ring.document().to_json())?;
    }
    out(&format!(
        "wrote {} keyring {} (signing key {})",
        a.format,
        a.out.display(),
        a.id
    ))?;
    Ok(Outcome::Done)
}

/// `holder-keygen`: a new holder key file (0600); prints the public key.
fn holder_keygen(a: &HolderKeygenArgs) -> Result<Outcome> {
    check_public_out(&a.out, a.public_out.as_deref(), a.force)?;
    let (file, public) = HolderFile::generate()?;
    write_secret(&a.out, &file.to_json()?, a.force)?;
    if let Some(p) = &a.public_out {
        write_output(Some(p), file.public_only().to_json()?.trim_end())?;
    }
    out(&public.to_string())?;
    Ok(Outcome::Done)
}

/// `issue`: a token of the key's format for a capability file, through `Gateway::issue`.
fn issue(a: &IssueArgs) -> Result<Outcome> {
    let key = load_key(&a.key)?;
    let signing = Some(key.signing_id(&a.key)?);
    let bind = a
        .bind_holder
        .as_deref()
        .map(holder::read_public)
        .transpose()?;
    let cap = read_capability(&a.capability, signing, bind)?;
    let store = a
        .store
        .as_deref()
        .map(|p| open_store(p, true))
        .transpose()?;
    let gw = gateway(Some(key.ring), None, store)?;
    let token = gw.issue(&cap).map_err(CliError::token("cannot issue"))?;
    emit(a.out.as_deref(), &token)?;
    Ok(Outcome::Done)
}

/// The capability in force after the token's steps (offline formats), read
/// without verification; `None` when a step appended offline does not narrow.
fn effective(inspection: &Inspection) -> Option<Capability> {
    inspection
        .steps
        .iter()
        .try_fold(inspection.capability.clone(), |cap, step| {
            let mut step = step.clone();
            step.signed_by = None;
            cap.attenuate(&step).ok()
        })
}

/// The shared part of `attenuate` and `delegate`: the key, the token, the
/// step checked to narrow, and the diff printed on a dry run.
struct Prepared {
    gw: Gateway,
    token: String,
    step: Attenuation,
}

fn prepare(
    key_path: &Path,
    token_path: &Path,
    step_path: &Path,
    bind: Option<&Path>,
    store: Option<&Path>,
    dry_run: bool,
) -> Result<Option<Prepared>> {
    let key = load_key(key_path)?;
    let format = key.ring.format();
    // Re-issuing formats sign the child with the keyring's signing key.
    let reissues = matches!(
        format,
        CliFormat::Hmac | CliFormat::PasetoPublic | CliFormat::PasetoLocal
    );
    if reissues && !dry_run {
        key.signing_id(key_path)?;
    }
    let token = read_token(token_path)?;
    let bind = bind.map(holder::read_public).transpose()?;
    let step = read_step(step_path, bind)?;
    let store = match (store, dry_run) {
        (Some(p), false) => Some(open_store(p, true)?),
        _ => None,
    };
    let gw = gateway(Some(key.ring), None, store)?;
    same_format(&gw, &token, format, token_path)?;
    let inspection = gw
        .inspect(&token)
        .map_err(CliError::token("cannot read the token"))?;
    let parent = effective(&inspection).ok_or_else(|| {
        CliError::Usage("the token's own steps do not narrow: it authorizes nothing".into())
    })?;
    let mut plain = step.clone();
    plain.signed_by = None;
    let child = parent.attenuate(&plain).map_err(CliError::Widening)?;
    if dry_run {
        out(&format!(
            "dry run: nothing made; the step narrows {format} token {}",
            inspection.capability.id
        ))?;
        for line in diff::diff(&parent, &child) {
            out(&printable(&line))?;
        }
        return Ok(None);
    }
    Ok(Some(Prepared { gw, token, step }))
}

/// `attenuate`: a narrowed child through `Gateway::attenuate` (or, with `--dry-run`, the diff only).
fn attenuate(a: &AttenuateArgs) -> Result<Outcome> {
    let Some(p) = prepare(
        &a.key,
        &a.token.token,
        &a.step,
        a.bind_holder.as_deref(),
        a.child.store.as_deref(),
        a.dry_run,
    )?
    else {
        return Ok(Outcome::Done);
    };
    let child =
        p.gw.attenuate(&p.token, &p.step)
            .map_err(CliError::token("cannot attenuate"))?;
    emit(a.child.out.as_deref(), &child)?;
    Ok(Outcome::Done)
}

/// `delegate`: a hand-over signed with the current holder's key, through `Gateway::delegate`.
fn delegate(a: &DelegateArgs) -> Result<Outcome> {
    let holder = holder::read_secret(&a.holder_key)?;
    let Some(p) = prepare(
        &a.key,
        &a.token.token,
        &a.step,
        a.bind_holder.as_deref(),
        a.child.store.as_deref(),
        a.dry_run,
    )?
    else {
        return Ok(Outcome::Done);
    };
    if p.step.delegate.is_none() {
        return Err(CliError::Usage(
            "the step has no [delegate] section: use attenuate to narrow without a hand-over"
                .into(),
        ));
    }
    let child =
        p.gw.delegate(&p.token, &p.step, &holder)
            .map_err(CliError::token("cannot delegate"))?;
    emit(a.child.out.as_deref(), &child)?;
    Ok(Outcome::Done)
}

/// A value satisfying `c`, for the witness request of `inspect --key`.
fn witness(c: &Constraint) -> Option<Value> {
    Some(match c {
        Constraint::Any => Value::Str("x".into()),
        Constraint::Exact(v) => v.clone(),
        Constraint::Prefix(p) => Value::Str(p.clone()),
        Constraint::Path(dir) => Value::Str(format!("{}/inspect", dir.trim_end_matches('/'))),
        Constraint::OneOf(vs) => vs.iter().next()?.clone(),
        Constraint::Range { min, max } if min <= max => Value::Int(*min),
        _ => return None,
    })
}

/// The request `inspect --key` checks: the effective holder calling the
/// first grant with a witness value for every constrained argument.
fn witness_request(gw: &Gateway, cap: &Capability) -> Option<Request> {
    let grant = cap.grants.iter().next()?;
    let mut req = gw.request(
        cap.subject.principal.clone(),
        grant.server.clone(),
        grant.tool.clone(),
    );
    for (name, c) in &grant.args {
        req = req.with_arg(name.clone(), witness(c)?);
    }
    Some(req)
}

/// `inspect`: the token read by its format's provider; verified only with `--key`.
fn inspect(a: &InspectArgs) -> Result<Outcome> {
    let token = read_token(&a.token.token)?;
    let key = a.key.as_deref().map(load_key).transpose()?;
    let key_format = key.as_ref().map(|k| k.ring.format());
    let store = a
        .store
        .as_deref()
        .map(|p| open_store(p, false))
        .transpose()?;
    let gw = gateway(key.map(|k| k.ring), a.at, store)?;
    let format = token_format(&gw, &token).ok_or_else(|| CliError::Schema {
        what: "token file",
        path: a.token.token.clone(),
        detail: "not a token of any captoken format".into(),
    })?;
    if format == CliFormat::PasetoLocal && key_format.is_none() {
        return Err(CliError::Usage(
            "a paseto-local token is encrypted: inspect it with --key (its keyring file)".into(),
        ));
    }
    let inspection = gw
        .inspect(&token)
        .map_err(CliError::token("cannot read the token"))?;
    let hash = gw
        .lineage_hash(&token)
        .map_err(CliError::token("cannot hash the token"))?;
    let eff = effective(&inspection);
    // Verification, when a key is given.
    let mut verdict = None;
    if let Some(kf) = key_format {
        if kf != format {
            return Err(CliError::Usage(format!(
                "the token is a {format} token but the key file is for {kf}"
            )));
        }
        let check = eff.as_ref().and_then(|c| witness_request(&gw, c));
        verdict = Some(match check {
            None => (
                false,
                None,
                Some("no grant to check a request against".to_owned()),
            ),
            Some(req) => {
                let d = gw.check(&token, None, &req);
                // Possession is checked last: a bound token denied only for
                // want of a proof has passed every other check.
                let ok = d.is_allowed() || d.reason_code() == Some("possession_required");
                let why = if d.is_allowed() {
                    None
                } else if ok {
                    Some("holder-bound: using it needs a proof of possession".to_owned())
                } else {
                    d.reason_code().map(str::to_owned)
                };
                (ok, Some(req), why)
            }
        });
    }
    let steps: Vec<serde_json::Value> = inspection
        .steps
        .iter()
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .collect();
    if a.json {
        let mut v = json!({
            "verified": verdict.as_ref().is_some_and(|v| v.0),
            "revocation_checked": verdict.is_some() && a.store.is_some(),
            "format": format.name(),
            "format_tag": format.format().tag(),
            "lineage_hash": hash.to_string(),
            "declared_parents": inspection.declared_parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "capability": serde_json::to_value(&inspection.capability).unwrap_or_default(),
            "steps": steps,
            "effective": eff.as_ref().map(|c| serde_json::to_value(c).unwrap_or_default()),
        });
        if let (Some((_, req, why)), Some(map)) = (&verdict, v.as_object_mut()) {
            map.insert(
                "checked_request".into(),
                req.as_ref().map_or(serde_json::Value::Null, |r| {
                    json!({
                        "subject": r.subject, "server": r.server, "tool": r.tool,
                        "args": serde_json::to_value(&r.args).unwrap_or_default(), "at": r.now,
                    })
                }),
            );
            map.insert("note".into(), why.clone().into());
        }
        out(&serde_json::to_string_pretty(&v).unwrap_or_default())?;
        return Ok(Outcome::Done);
    }
    let mut lines = Vec::new();
    match &verdict {
        None => lines.push(
            "NOT VERIFIED: read without a key; no signature or MAC was checked and nothing below is authenticated".to_owned(),
        ),
        Some((true, req, why)) => {
            lines.push(match req {
                Some(r) => format!(
                    "VERIFIED: signature or MAC chain, key state{} and chain rules checked for {} calling {}/{} at {}",
                    if a.store.is_some() {
                        ", revocation (in the --store)"
                    } else {
                        " (revocation NOT checked: no --store)"
                    },
                    r.subject,
                    r.server,
                    r.tool,
                    diff::time(r.now)
                ),
                None => "VERIFIED".to_owned(),
            });
            if let Some(w) = why {
                lines.push(format!("note: {w}"));
            }
        }
        Some((false, _, why)) => lines.push(format!(
            "NOT VERIFIED: denied ({}); nothing below is authenticated",
            why.as_deref().unwrap_or("unknown")
        )),
    }
    let cap = &inspection.capability;
    lines.push(format!("format: {format} ({})", format.format()));
    lines.push(format!("token_id: {}", cap.id));
    lines.push(format!("issuer: {}", cap.issuer));
    lines.push(format!("issued_at: {}", diff::time(cap.issued_at)));
    lines.push(format!("lineage_hash: {hash}"));
    for (i, p) in inspection.declared_parents.iter().enumerate() {
        lines.push(format!("declared_parent[{i}]: {p}"));
    }
    lines.extend(diff::lines(cap));
    for (i, s) in inspection.steps.iter().enumerate() {
        lines.push(format!("step {}: {}", i + 1, diff::step(s)));
    }
    if !inspection.steps.is_empty() {
        match &eff {
            Some(c) => {
                lines.push("effective:".into());
                lines.extend(diff::lines(c).into_iter().map(|l| format!("  {l}")));
            }
            None => lines.push("effective: nothing (a step does not narrow)".into()),
        }
    }
    // Each line escaped on its own: a newline inside a token's string cannot
    // forge a line (such as a VERIFIED banner).
    let lines: Vec<String> = lines.iter().map(|l| printable(l)).collect();
    out(&lines.join("\n"))?;
    Ok(Outcome::Done)
}

/// The request of `verify` and `prove`.
fn request(gw: &Gateway, subject: &str, r: &RequestArgs) -> Request {
    let mut req = gw.request(subject, r.server.clone(), r.tool.clone());
    for (name, value) in r.args.iter().chain(&r.args_str) {
        req = req.with_arg(name.clone(), value.clone());
    }
    req
}

/// `verify`: `Gateway::check` for the request given by flags; denied is exit 1.
fn verify(a: &VerifyArgs) -> Result<Outcome> {
    let key = load_key(&a.key)?;
    let token = read_token(&a.token.token)?;
    let proof = a.proof.as_deref().map(read_token).transpose()?;
    let store = a
        .store
        .as_deref()
        .map(|p| open_store(p, false))
        .transpose()?;
    let gw = gateway(Some(key.ring), a.request.at, store)?;
    // Text of no format at all is an input error; a token of a known format
    // that does not parse or verify is the gateway's denial.
    if token_format(&gw, &token).is_none() {
        return Err(CliError::Schema {
            what: "token file",
            path: a.token.token.clone(),
            detail: "not a token of any captoken format".into(),
        });
    }
    let req = request(&gw, &a.subject, &a.request);
    let d = gw.check(&token, proof.as_deref(), &req);
    if a.json {
        out(&d.to_json_line())?;
    } else if let Some(v) = d.verified() {
        out(&format!(
            "allowed: {}/{} for {} at {}\nformat: {}\nkey_id: {}\ntoken_id: {}\nlineage_hash: {}\nchain_len: {}",
            req.server,
            req.tool,
            printable(&v.holder.principal),
            diff::time(d.at()),
            v.format,
            v.key_id,
            v.token_id,
            v.lineage_hash,
            v.chain_len,
        ))?;
    } else {
        out(&format!(
            "denied: {} ({}): {}/{} at {}",
            d.reason_code().unwrap_or("unknown"),
            d.reason().map(ToString::to_string).unwrap_or_default(),
            req.server,
            req.tool,
            diff::time(d.at()),
        ))?;
        if d.reason_code() == Some("lineage_unknown") && a.store.is_none() {
            out(
                "hint: a re-issued token is verified through the lineage rows its issuer recorded: pass the --store given to issue and attenuate",
            )?;
        }
    }
    Ok(if d.is_allowed() {
        Outcome::Done
    } else {
        Outcome::Denied
    })
}

/// `prove`: a proof of possession through `Gateway::prove`, dated `--at`.
fn prove(a: &ProveArgs) -> Result<Outcome> {
    let token = read_token(&a.token.token)?;
    let key = holder::read_secret(&a.holder_key)?;
    let issuer = a.key.as_deref().map(load_key).transpose()?;
    let gw = gateway(issuer.map(|k| k.ring), a.request.at, None)?;
    // A proof binds the server, the tool and the arguments, not the subject.
    let req = request(&gw, "", &a.request);
    let proof = gw
        .prove(&token, &req, &key)
        .map_err(CliError::token("cannot make the proof"))?;
    emit(a.out.as_deref(), &proof)?;
    Ok(Outcome::Done)
}

/// `revoke`: the token's lineage hash into the SQLite store, through `Gateway::revoke`.
fn revoke(a: &RevokeArgs) -> Result<Outcome> {
    let key = a.key.as_deref().map(load_key).transpose()?;
    let token = read_token(&a.token.token)?;
    let store = open_store(&a.store, true)?;
    let gw = gateway(key.map(|k| k.ring), None, Some(store))?;
    let hash = gw
        .revoke(&token)
        .map_err(CliError::token("cannot revoke"))?;
    out(&format!(
        "revoked: lineage hash {hash} in {}",
        a.store.display()
    ))?;
    Ok(Outcome::Done)
}

/// Reads a keyring file with its keyring.
fn keyring(path: &Path) -> Result<(KeyFile, Ring)> {
    let file = KeyFile::read(path)?;
    let ring = file.ring().map_err(|detail| CliError::Schema {
        what: "key file",
        path: path.to_owned(),
        detail,
    })?;
    Ok((file, ring))
}

/// A key id from the command line.
fn kid(id: &str) -> Result<KeyId> {
    KeyId::new(id).map_err(|e| CliError::Usage(format!("key id {id:?}: {e}")))
}

/// `keys`: lifecycle moves on a keyring file, rewritten 0600 through a renamed new file.
fn keys(k: KeysCommand) -> Result<Outcome> {
    match k {
        KeysCommand::List(a) => {
            let (file, ring) = keyring(&a.key)?;
            if a.json {
                out(&ring.document().to_json())?;
                return Ok(Outcome::Done);
            }
            let doc = ring.document();
            let mut lines = vec![format!(
                "format: {} ({})",
                file.format,
                file.format.format()
            )];
            for entry in &file.keys {
                let record = doc.keys().iter().find(|r| r.id.as_str() == entry.id);
                let name = format!("{:?}", entry.state).to_lowercase();
                let state = match entry.at {
                    Some(at) => format!("{name} at {}", diff::time(at)),
                    None => name,
                };
                let signing = if file.signing.as_deref() == Some(entry.id.as_str()) {
                    " signing"
                } else {
                    ""
                };
                let kind = if entry.secret.is_some() {
                    "secret"
                } else {
                    "verify-only"
                };
                let public = record
                    .and_then(|r| r.public.clone())
                    .map(|p| format!(" {p}"))
                    .unwrap_or_default();
                lines.push(format!("{} {state}{signing} ({kind}){public}", entry.id));
            }
            out(&lines.join("\n"))?;
        }
        KeysCommand::Rotate(a) => {
            let (mut file, _) = keyring(&a.key)?;
            file.keys.push(keyfile::generate(file.format, &a.id)?);
            let mut ring = file.ring().map_err(CliError::Usage)?;
            ring.switch_signing(&kid(&a.id)?)
                .map_err(CliError::key("cannot switch signing"))?;
            file.sync(&ring);
            replace_secret(&a.key, &file.to_json()?)?;
            out(&format!("added key {} and switched signing to it", a.id))?;
        }
        KeysCommand::Retire(a) => {
            let (mut file, mut ring) = keyring(&a.key)?;
            ring.set_state(&kid(&a.id)?, captoken::KeyState::Retired { at: a.at })
                .map_err(CliError::key("cannot retire"))?;
            file.sync(&ring);
            replace_secret(&a.key, &file.to_json()?)?;
            out(&format!("retired key {} at {}", a.id, diff::time(a.at)))?;
        }
        KeysCommand::Compromise(a) => {
            let (mut file, mut ring) = keyring(&a.key)?;
            ring.set_state(&kid(&a.id)?, captoken::KeyState::Compromised { at: a.at })
                .map_err(CliError::key("cannot mark compromised"))?;
            file.sync(&ring);
            replace_secret(&a.key, &file.to_json()?)?;
            out(&format!(
                "marked key {} compromised at {}",
                a.id,
                diff::time(a.at)
            ))?;
        }
        KeysCommand::Export(a) => {
            let (_, ring) = keyring(&a.key)?;
            write_output(a.out.as_deref(), &ring.document().to_json())?;
        }
        KeysCommand::Import(a) => {
            let (mut file, mut ring) = keyring(&a.key)?;
            let text = crate::io::read_text("read key-set document", &a.document)?;
            let keyset = |source| CliError::KeySet {
                path: a.document.clone(),
                source,
            };
            let doc = captoken::core::KeySetDocument::from_json(&text).map_err(keyset)?;
            let skipped = ring.apply(&doc).map_err(keyset)?;
            let mut imported = 0;
            for record in doc.keys() {
                if file.keys.iter().any(|e| e.id == record.id.as_str()) {
                    continue;
                }
                if let Some(public) = &record.public {
                    // Imported by `apply` above in the listed state; `sync` copies it.
                    file.keys.push(keyfile::KeyEntry {
                        id: record.id.as_str().to_owned(),
                        state: keyfile::StateName::Active,
                        at: None,
                        secret: None,
                        public: Some(public.clone()),
                    });
                    imported += 1;
                }
            }
            file.sync(&ring);
            replace_secret(&a.key, &file.to_json()?)?;
            let skipped: Vec<String> = skipped.iter().map(ToString::to_string).collect();
            out(&format!(
                "applied {}: {imported} key(s) imported verify-only{}",
                a.document.display(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!("; not held, not applied: {}", skipped.join(", "))
                }
            ))?;
        }
        KeysCommand::Holder(h) => return holder_keys_cmd(h),
    }
    Ok(Outcome::Done)
}

/// `keys holder`: holder key sets in the SQLite store's holder-key directory.
fn holder_keys_cmd(h: HolderCommand) -> Result<Outcome> {
    let store_err = |path: &Path| {
        let path = path.to_owned();
        move |source: StoreError| CliError::Store { path, source }
    };
    match h {
        HolderCommand::Enroll(a) => {
            let key = holder::read_public(&a.holder.holder_key)?;
            let store = open_store(&a.store, true)?;
            holder_keys::enroll(
                &*store,
                &a.principal,
                key.clone(),
                a.not_before,
                a.not_after,
            )?;
            out(&format!("enrolled {key} for {}", a.principal))?;
        }
        HolderCommand::Retire(a) => {
            let key = holder::read_public(&a.holder.holder_key)?;
            let store = open_store(&a.set.store, false)?;
            holder_keys::retire(&*store, &a.set.principal, &key, a.at)?;
            out(&format!(
                "retired {key} of {} at {}",
                a.set.principal,
                diff::time(a.at)
            ))?;
        }
        HolderCommand::Compromise(a) => {
            let key = holder::read_public(&a.holder.holder_key)?;
            let store = open_store(&a.set.store, false)?;
            holder_keys::mark_compromised(&*store, &a.set.principal, &key, a.at)?;
            out(&format!("marked {key} of {} compromised", a.set.principal))?;
        }
        HolderCommand::List(a) => {
            let store = open_store(&a.set.store, false)?;
            let records = store
                .keys(&a.set.principal)
                .map_err(store_err(&a.set.store))?;
            if a.json {
                out(&serde_json::to_string_pretty(&records).unwrap_or_default())?;
            } else {
                for r in &records {
                    let state = match r.state {
                        captoken::KeyState::Retired { at } => {
                            format!("retired at {}", diff::time(at))
                        }
                        captoken::KeyState::Compromised { at } => {
                            format!("compromised at {}", diff::time(at))
                        }
                        _ => "active".to_owned(),
                    };
                    out(&format!(
                        "{} {state}, valid from {} until {}",
                        r.key,
                        diff::time(r.not_before),
                        diff::time(r.not_after),
                    ))?;
                }
            }
        }
    }
    Ok(Outcome::Done)
}
