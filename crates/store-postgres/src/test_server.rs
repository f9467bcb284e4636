//! A throw-away PostgreSQL server for tests and benchmarks (feature `test-server`): a temporary data directory, a Unix socket in it and optionally a loopback port, stopped and removed when dropped, and the skip-or-fail rule when the server binaries are missing.
//!
//! Not for production use: the server trusts every local connection
//! (`--auth=trust`) and, with `fast`, runs without `fsync`.
#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test support: a server that cannot be started fails the test or benchmark that asked for it"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The unprivileged account the server runs as when the tests run as root
/// (PostgreSQL refuses to run as root).
const SERVER_USER: &str = "nobody";

/// The server's superuser, named at `initdb`.
const SUPERUSER: &str = "captoken";

/// Where `initdb` and `pg_ctl` are: `$PG_BIN_DIR`, else the directory on
/// `PATH` holding both, else the newest `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        return has_both(&dir).then_some(dir);
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The server binaries, or `None` after a loud message when they are missing
/// (a panic instead when `CI` is set: the tests never pass silently there).
pub fn bin_dir_or_skip() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = BIN.get_or_init(find_bin_dir).clone();
    if found.is_none() {
        let message = "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, in \
                       $PG_BIN_DIR or under /usr/lib/postgresql/*/bin";
        if std::env::var_os("CI").is_some() {
            panic!("{message}; CI is set, so this is a failure");
        }
        eprintln!(
            "\n\
             ************************************************************\n\
             * SKIPPED: {message}.\n\
             * Install the PostgreSQL server package to run this test.\n\
             ************************************************************\n"
        );
    }
    found
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A throw-away PostgreSQL server: its data directory and socket under a
/// fresh temporary directory. Stopped (`-m immediate`) and deleted on drop;
/// a watchdog process does the same if the test process dies first.
pub struct Server {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    as_root: bool,
    extra: String,
    /// The loopback TCP port, when the server listens on one.
    port: Option<u16>,
    watchdog: Option<Child>,
}

impl Server {
    /// Starts a new server, or `None` (after a loud message) when the binaries
    /// are missing and `CI` is unset. `fast` turns off `fsync` (for the
    /// shared conformance server only; tests of crash recovery keep it on).
    ///
    /// # Panics
    /// When the server cannot be initialised or started.
    pub fn start(tag: &str, fast: bool) -> Option<Self> {
        Self::start_on(tag, fast, None)
    }

    /// As [`Server::start`], also listening on a free TCP port of
    /// `127.0.0.1` (what a verifier on another host would use); its
    /// [`Server::params`] name that port.
    ///
    /// # Panics
    /// When the server cannot be initialised or started, or no free port is found.
    pub fn start_loopback(tag: &str, fast: bool) -> Option<Self> {
        // A free port now; the server binds it a moment later.
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        Self::start_on(tag, fast, Some(port))
    }

    fn start_on(tag: &str, fast: bool, port: Option<u16>) -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let bin = bin_dir_or_skip()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("captoken-pg-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server directory");
        let as_root = running_as_root();
        if as_root {
            run(Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(&dir));
        }
        let data = dir.join("data");
        let mut extra = format!(
            "-k {} -c listen_addresses='{}' -p {} -c max_connections=200",
            dir.display(),
            if port.is_some() { "127.0.0.1" } else { "" },
            port.unwrap_or(5432)
        );
        if fast {
            extra.push_str(" -c fsync=off -c full_page_writes=off");
        }
        let mut server = Self {
            dir,
            data,
            bin,
            as_root,
            extra,
            port,
            watchdog: None,
        };
        server.watchdog = Some(server.spawn_watchdog());
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(&server.data).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(&mut initdb);
        server.resume();
        Some(server)
    }

    /// A command running one of the server binaries, as the unprivileged
    /// user when the tests run as root.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_USER, "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// `sh` loop that stops the server and removes its directory once this
    /// process has gone, however it went.
    fn spawn_watchdog(&self) -> Child {
        let stop = format!(
            "{} {}/pg_ctl -D {} stop -m immediate",
            if self.as_root {
                format!("runuser -u {SERVER_USER} --")
            } else {
                String::new()
            },
            self.bin.display(),
            self.data.display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog")
    }

    /// Starts (or restarts) the server on its data directory and waits until
    /// it accepts connections.
    ///
    /// # Panics
    /// When `pg_ctl` or the server fails.
    pub fn resume(&self) {
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "120", "-o", &self.extra, "start"]);
        run(&mut start);
    }

    /// Stops the server at once (`-m immediate`: no shutdown checkpoint, as
    /// after a crash); its data stays for [`Server::resume`].
    ///
    /// # Panics
    /// When `pg_ctl` or the server fails.
    pub fn stop(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-w", "stop", "-m", "immediate"]);
        run(&mut stop);
    }

    /// A connection string onto database `postgres` as the superuser, with
    /// `search_path` set to `schema` when given.
    pub fn params(&self, schema: Option<&str>) -> String {
        let mut p = match self.port {
            Some(port) => format!("host=127.0.0.1 port={port}"),
            None => format!("host={} port=5432", self.dir.display()),
        };
        p.push_str(&format!(
            " user={SUPERUSER} dbname=postgres connect_timeout=5"
        ));
        if let Some(s) = schema {
            p.push_str(&format!(" options='-c search_path={s}'"));
        }
        p
    }

    /// A new, empty schema on this server; a connection string onto it.
    ///
    /// # Panics
    /// When `pg_ctl` or the server fails.
    pub fn fresh_schema(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("store_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut admin =
            postgres::Client::connect(&self.params(None), postgres::NoTls).expect("admin connect");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create schema");
        self.params(Some(&name))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-w", "stop", "-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Already stopped is fine: the directory goes either way.
        let _ = stop.status();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// Runs `c`, panicking with its output when it fails.
fn run(c: &mut Command) {
    let out = c.output().unwrap_or_else(|e| panic!("run {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The server shared by one test binary, started at first use; `None` when
/// the tests are skipped.
pub fn shared() -> Option<&'static Server> {
    static SHARED: OnceLock<Option<Server>> = OnceLock::new();
    SHARED
        .get_or_init(|| Server::start("shared", true))
        .as_ref()
}
