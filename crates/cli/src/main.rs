//! `captoken`: the command line of the captoken workspace (DESIGN.md §11) —
//! key generation, issuing, attenuation, signed delegation, inspection,
//! verification, proofs of possession, revocation and key management, all
//! through the library's `Gateway`.
//!
//! # Rules
//!
//! - Tokens, keys and proofs come from files, or from standard input for
//!   `-`; never from command-line values (which other users can read in the
//!   process table and which land in shell history).
//! - Secret files (issuer keyrings, holder keys) are created with mode 0600,
//!   and an existing file is never overwritten without `--force`; tokens and
//!   proofs written with `--out` are created 0600 too. No secret is ever
//!   printed, in output, errors or `Debug`.
//! - Times are RFC 3339 (`2026-01-01T00:00:00Z`) or Unix seconds.
//! - Exit codes: **0** allowed or done, **1** denied (`verify`) or refused by
//!   the capability rules (a widening `attenuate`/`delegate` step, a
//!   hand-over not signed by the current holder's key), **2** usage or I/O
//!   error, malformed input, a wrong key, or another operation the library
//!   refused. Errors are one line on standard error: `error: …`.
//! - JSON output (`--json`) is serde_json with a fixed field order (the
//!   decision of `verify --json` is the gateway's log line) or sorted keys.
//!
//! # Commands
//!
//! ```text
//! captoken keygen --format <hmac|macaroon|biscuit|paseto-public|paseto-local> --id K --out key.json [--public-out keyset.json] [--force]
//! captoken holder-keygen --out holder.json [--public-out holder.pub.json] [--force]
//! captoken issue --key key.json --capability cap.toml [--bind-holder holder.json] [--store s.db] [--out t]
//! captoken attenuate --key key.json --token t --step step.toml [--dry-run] [--bind-holder h.json] [--store s.db] [--out t2]
//! captoken delegate --key key.json --token t --step step.toml --holder-key holder.json [--bind-holder new.json] [--dry-run] [--store s.db] [--out t2]
//! captoken inspect --token t [--key key.json [--at T] [--store s.db]] [--json]
//! captoken verify --key key.json --token t [--proof p] --subject S --server S --tool T [--arg n=v]... [--arg-str n=v]... [--at T] [--store s.db] [--json]
//! captoken prove --token t --holder-key holder.json --server S --tool T [--arg n=v]... [--at T] [--out p]
//! captoken revoke [--key key.json] --token t --store s.db
//! captoken keys list|rotate|retire|compromise|export|import --key key.json ...
//! captoken keys holder enroll|retire|compromise|list --store s.db --principal P ...
//! ```
//!
//! # Files
//!
//! - The issuer keyring file: see the `keyfile` module (format, signing key
//!   id, keys with id, state, `at`, and secret material: PASERK `k4.secret`
//!   / `k4.local` for PASETO, hex elsewhere). `--key` also takes a public
//!   key-set document (`keys export`) of a public-key format, to verify only.
//! - Holder key files: see the `holder` module.
//! - Capability and step files (JSON or TOML): see the `spec` module and
//!   `examples/capability.toml`, `examples/capability.json`, `examples/step.toml`.
//!
//! # Stores and processes
//!
//! HMAC and PASETO children are re-issued by the issuer and verified in
//! another process through the lineage index: pass the same `--store` to
//! `issue`, `attenuate`, `delegate`, `verify` and `revoke` (one SQLite file
//! holds revocations, lineage rows, spent proof nonces and holder key sets).
//! Without `--store`, `verify` uses empty in-memory stores: nothing is
//! revoked, no lineage row is known, and a proof's nonce is forgotten on exit.
//!
//! # What `inspect --key` verifies
//!
//! The library verifies a token only for a request. `inspect --key` checks,
//! through `Gateway::check` at `--at` (default now), a witness request the
//! token itself grants: the effective holder calling its first grant, with a
//! value meeting each constraint. So "verified" means: signature or MAC
//! chain, key state, time window at `--at`, revocation (with `--store`) and
//! every chain rule hold. A holder-bound token, denied only for want of a
//! proof of possession (checked last), is reported verified with a note.
//!
//! # The scripted session
//!
//! `examples/session.sh` walks keygen → issue → attenuate → delegate →
//! prove → verify (allowed) → revoke → verify (denied) for every format.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod diff;
mod error;
mod holder;
mod io;
mod keyfile;
mod spec;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // A usage error: one line (clap's message without its usage
            // block), exit 2.
            let text = e.render().to_string();
            let message = text.split("\n\nUsage:").next().unwrap_or(&text);
            let message = message
                .split("\n\nFor more information")
                .next()
                .unwrap_or(message);
            let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(std::io::stderr().lock(), "{line} (see captoken --help)");
            return ExitCode::from(2);
        }
    };
    match commands::run(cli.command) {
        Ok(commands::Outcome::Done) => ExitCode::SUCCESS,
        Ok(commands::Outcome::Denied) => ExitCode::from(1),
        Err(e) => {
            let line = e.to_string().replace(['\n', '\r'], " ");
            let _ = writeln!(std::io::stderr().lock(), "error: {line}");
            ExitCode::from(e.exit_code())
        }
    }
}
