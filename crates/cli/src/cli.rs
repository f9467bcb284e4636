//! The command line: clap definitions of every subcommand and its flags (the `--help` text).

use std::path::PathBuf;

use captoken::Value;
use clap::{Args, Parser, Subcommand};

use crate::io::parse_time;
use crate::keyfile::CliFormat;
use crate::spec::{parse_arg, parse_arg_str};

/// Capability tokens for agent tool gateways: make keys, issue, attenuate,
/// delegate, inspect, verify, prove, revoke.
///
/// Tokens, keys and proofs are read from files, or from standard input for
/// `-`; never from command-line values. Times are RFC 3339
/// (`2026-01-01T00:00:00Z`) or Unix seconds. Exit codes: 0 allowed or done,
/// 1 denied or refused, 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "captoken", version, about, long_about, max_term_width = 100)]
pub(crate) struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The capability file schema, shown by `captoken issue --help`.
const CAPABILITY_SCHEMA: &str = r#"Capability file (TOML, or the same keys in JSON):
  subject = "agent:alice"               principal that may use it (required)
  holder = "ed25519:<hex>"|"key-set"    optional holder binding (or --bind-holder FILE)
  not_before = "2026-01-01T00:00:00Z"   RFC 3339 or Unix seconds (required)
  expires_at = ... | valid_for = 3600   end (exclusive) or lifetime in seconds (one required)
  max_depth = 4                         delegation steps allowed below it (default 0)
  issuer = "k1"                         default: the keyring's signing key
  issued_at = ...                       default: not_before
  id = "<32 hex digits>"                default: random
  [[grants]]                            at least one
  server = "fs"
  tool = "read_file"
  args.path = { path = "/srv/" }        path under a directory, by whole segments
  args.mode = { exact = "ro" }          exact value (string, integer or boolean)
  args.limit = { range = { min = 0, max = 1000 } }
  args.name = { prefix = "report-" }    args.kind = { one_of = ["a", "b"] }    args.x = "any"
See crates/cli/examples/capability.toml and capability.json."#;

/// The step file schema, shown by `captoken attenuate --help` and `delegate --help`.
const STEP_SCHEMA: &str = r#"Step file (TOML, or the same keys in JSON); every field optional and each must narrow:
  expires_at = "2026-01-01T00:30:00Z"   earlier end (RFC 3339 or Unix seconds)
  not_before = ...                      later start
  max_depth = 2                         lower remaining depth
  keep = [{ server = "fs", tool = "read_file" }]    keep only these tools
  [[constrain]]                         add or tighten an argument constraint
  server = "fs"
  tool = "read_file"
  arg = "path"
  constraint = { path = "/srv/data/" }  same constraint forms as capability grants
  [delegate]                            hand over (delegate; signed by the current holder)
  subject = "agent:bob"
  holder = "ed25519:<hex>"              optional (or --bind-holder FILE)
A step asking for more than the token has is refused with exit 1.
See crates/cli/examples/step.toml and handover.toml."#;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a new issuer keyring file (mode 0600) with one signing key.
    Keygen(KeygenArgs),
    /// Write a new holder (agent) Ed25519 key file (mode 0600), for proofs and signed delegation.
    HolderKeygen(HolderKeygenArgs),
    /// Issue a token from a capability file (JSON or TOML); prints its text.
    #[command(after_long_help = CAPABILITY_SCHEMA)]
    Issue(IssueArgs),
    /// Narrow a token by a step file; `--dry-run` prints what narrows.
    #[command(after_long_help = STEP_SCHEMA)]
    Attenuate(AttenuateArgs),
    /// Hand a token over to another subject, signed with the current holder's key.
    #[command(after_long_help = STEP_SCHEMA)]
    Delegate(DelegateArgs),
    /// Read a token (format detected). Unverified unless `--key` is given.
    Inspect(InspectArgs),
    /// Verify a token (and proof) for a request; exit 0 allowed, 1 denied.
    Verify(VerifyArgs),
    /// Make a proof of possession for calling a tool with a token.
    Prove(ProveArgs),
    /// Revoke a token, and every token derived from it, into a SQLite store.
    Revoke(RevokeArgs),
    /// Manage keyring files and holder key sets.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// Where a token comes from, where the result goes, and the store.
#[derive(Debug, Args)]
pub(crate) struct TokenIn {
    /// The token's text, from this file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) token: PathBuf,
}

/// Where a child token goes (`attenuate`, `delegate`): its lineage row and its text.
#[derive(Debug, Args)]
pub(crate) struct ChildOut {
    /// Record the child's lineage row in this SQLite store (created if missing).
    #[arg(long, value_name = "FILE")]
    pub(crate) store: Option<PathBuf>,
    /// Write the child token here (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The token format the key is for.
    #[arg(long, value_enum)]
    pub(crate) format: CliFormat,
    /// The key id tokens will name.
    #[arg(long, value_name = "KID")]
    pub(crate) id: String,
    /// The keyring file to create (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Also write the public key-set document here (biscuit and paseto-public only).
    #[arg(long, value_name = "FILE")]
    pub(crate) public_out: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `holder-keygen`.
#[derive(Debug, Args)]
pub(crate) struct HolderKeygenArgs {
    /// The holder key file to create (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Also write the public holder key file here.
    #[arg(long, value_name = "FILE")]
    pub(crate) public_out: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `issue`.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// The issuer keyring file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The capability, a JSON (`.json`) or TOML (`.toml`) file; see the crate
    /// documentation or examples/capability.toml for the schema.
    #[arg(long, value_name = "FILE")]
    pub(crate) capability: PathBuf,
    /// Bind the subject to the public key of this holder key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) bind_holder: Option<PathBuf>,
    /// Record the lineage row in this SQLite store (created if missing), for
    /// verifying its descendants in other processes.
    #[arg(long, value_name = "FILE")]
    pub(crate) store: Option<PathBuf>,
    /// Write the token here (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `attenuate`.
#[derive(Debug, Args)]
pub(crate) struct AttenuateArgs {
    /// The issuer keyring file (re-issuing formats sign the child with it).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The parent token.
    #[command(flatten)]
    pub(crate) token: TokenIn,
    /// The step, a JSON or TOML file; see examples/step.toml.
    #[arg(long, value_name = "FILE")]
    pub(crate) step: PathBuf,
    /// Bind the step's delegated subject to this holder key file's public key.
    #[arg(long, value_name = "FILE")]
    pub(crate) bind_holder: Option<PathBuf>,
    /// Print what the step narrows (`- old` / `+ new` lines) and make nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Where the child goes.
    #[command(flatten)]
    pub(crate) child: ChildOut,
}

/// `delegate`.
#[derive(Debug, Args)]
pub(crate) struct DelegateArgs {
    /// The issuer keyring file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The parent token.
    #[command(flatten)]
    pub(crate) token: TokenIn,
    /// The step, with a `[delegate]` section.
    #[arg(long, value_name = "FILE")]
    pub(crate) step: PathBuf,
    /// The current holder's secret key file, which signs the step.
    #[arg(long, value_name = "FILE")]
    pub(crate) holder_key: PathBuf,
    /// Bind the new subject to this holder key file's public key.
    #[arg(long, value_name = "FILE")]
    pub(crate) bind_holder: Option<PathBuf>,
    /// Print what the step narrows and make nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Where the child goes.
    #[command(flatten)]
    pub(crate) child: ChildOut,
}

/// `inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The token.
    #[command(flatten)]
    pub(crate) token: TokenIn,
    /// Verify with this keyring file (or public key-set document): signature or
    /// MAC chain, key state, revocation and every chain rule, by checking a
    /// request the token itself grants (see the crate documentation).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The time to verify at (default: now; needs --key).
    #[arg(long, value_parser = parse_time, value_name = "TIME", requires = "key")]
    pub(crate) at: Option<u64>,
    /// Read revocations and lineage rows from this SQLite store (needs --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) store: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A request, from flags.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The tool server.
    #[arg(long)]
    pub(crate) server: String,
    /// The tool.
    #[arg(long)]
    pub(crate) tool: String,
    /// An argument, `name=value`: an integer, `true`/`false`, or else a string. Repeatable.
    #[arg(long = "arg", value_parser = parse_arg, value_name = "NAME=VALUE")]
    pub(crate) args: Vec<(String, Value)>,
    /// A string argument, `name=value`, even if it looks like a number. Repeatable.
    #[arg(long = "arg-str", value_parser = parse_arg_str, value_name = "NAME=VALUE")]
    pub(crate) args_str: Vec<(String, Value)>,
    /// The request's time (default: now).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub(crate) at: Option<u64>,
}

/// `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The keyring file (or public key-set document) to verify with.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The token.
    #[command(flatten)]
    pub(crate) token: TokenIn,
    /// The holder's proof of possession, from this file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) proof: Option<PathBuf>,
    /// The caller's principal.
    #[arg(long)]
    pub(crate) subject: String,
    /// The request.
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// The SQLite store of revocations, lineage rows, nonces and holder keys (must exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) store: Option<PathBuf>,
    /// Print the decision as one JSON line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `prove`.
#[derive(Debug, Args)]
pub(crate) struct ProveArgs {
    /// The token the proof is for.
    #[command(flatten)]
    pub(crate) token: TokenIn,
    /// The holder's secret key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) holder_key: PathBuf,
    /// The issuer keyring file: needed only for paseto-local, whose tokens
    /// are encrypted (their lineage hash is taken after decryption checks them).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The request the proof is for.
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// Write the proof here (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The keyring file (optional: a token's lineage hash needs no key).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The token to revoke.
    #[command(flatten)]
    pub(crate) token: TokenIn,
    /// The SQLite store (created if missing).
    #[arg(long, value_name = "FILE")]
    pub(crate) store: PathBuf,
}

/// `keys`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List a keyring's keys and states (no secrets).
    List(KeysListArgs),
    /// Add a new key and switch signing to it (the previous key keeps verifying).
    Rotate(KeysRotateArgs),
    /// Retire a key at a time: it verifies only tokens issued before then.
    Retire(KeysStateArgs),
    /// Mark a key compromised: it verifies nothing from now on.
    Compromise(KeysStateArgs),
    /// Print the public key-set document (never a secret).
    Export(KeysExportArgs),
    /// Apply a key-set document: import public keys, move states forward.
    Import(KeysImportArgs),
    /// Holder key sets in a SQLite store.
    #[command(subcommand)]
    Holder(HolderCommand),
}

/// `keys list`.
#[derive(Debug, Args)]
pub(crate) struct KeysListArgs {
    /// The keyring file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Print the key-set document as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `keys rotate`.
#[derive(Debug, Args)]
pub(crate) struct KeysRotateArgs {
    /// The keyring file (rewritten, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The new key's id.
    #[arg(long, value_name = "KID")]
    pub(crate) id: String,
}

/// `keys retire` and `keys compromise`.
#[derive(Debug, Args)]
pub(crate) struct KeysStateArgs {
    /// The keyring file (rewritten, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The key's id.
    #[arg(long, value_name = "KID")]
    pub(crate) id: String,
    /// When (RFC 3339 or Unix seconds).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub(crate) at: u64,
}

/// `keys export`.
#[derive(Debug, Args)]
pub(crate) struct KeysExportArgs {
    /// The keyring file.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Write the document here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `keys import`.
#[derive(Debug, Args)]
pub(crate) struct KeysImportArgs {
    /// The keyring file (rewritten, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The key-set document.
    #[arg(long, value_name = "FILE")]
    pub(crate) document: PathBuf,
}

/// `keys holder`.
#[derive(Debug, Subcommand)]
pub(crate) enum HolderCommand {
    /// Enrol a holder key in a principal's key set.
    Enroll(HolderEnrollArgs),
    /// Retire a holder key at a time.
    Retire(HolderStateArgs),
    /// Mark a holder key compromised.
    Compromise(HolderStateArgs),
    /// List a principal's key set.
    List(HolderListArgs),
}

/// A principal's holder key set in a SQLite store that must exist.
#[derive(Debug, Args)]
pub(crate) struct KeySetIn {
    /// The SQLite store (must exist).
    #[arg(long, value_name = "FILE")]
    pub(crate) store: PathBuf,
    /// The principal.
    #[arg(long)]
    pub(crate) principal: String,
}

/// A holder key file, secret or public.
#[derive(Debug, Args)]
pub(crate) struct HolderKeyIn {
    /// The holder key file (secret or public).
    #[arg(long, value_name = "FILE")]
    pub(crate) holder_key: PathBuf,
}

/// `keys holder enroll`.
#[derive(Debug, Args)]
pub(crate) struct HolderEnrollArgs {
    /// The SQLite store (created if missing).
    #[arg(long, value_name = "FILE")]
    pub(crate) store: PathBuf,
    /// The principal, e.g. `agent:planner`.
    #[arg(long)]
    pub(crate) principal: String,
    /// The holder key to enrol.
    #[command(flatten)]
    pub(crate) holder: HolderKeyIn,
    /// First second of validity.
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub(crate) not_before: u64,
    /// End of validity (exclusive).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub(crate) not_after: u64,
}

/// `keys holder retire` and `keys holder compromise`.
#[derive(Debug, Args)]
pub(crate) struct HolderStateArgs {
    /// The store and principal.
    #[command(flatten)]
    pub(crate) set: KeySetIn,
    /// The holder key.
    #[command(flatten)]
    pub(crate) holder: HolderKeyIn,
    /// When.
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub(crate) at: u64,
}

/// `keys holder list`.
#[derive(Debug, Args)]
pub(crate) struct HolderListArgs {
    /// The store and principal.
    #[command(flatten)]
    pub(crate) set: KeySetIn,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
