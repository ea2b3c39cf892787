//! A throwaway PostgreSQL per test: `initdb` in a temp dir (as the `postgres` user via
//! `runuser` when running as root), its own loopback port, password (SCRAM) authentication,
//! stopped by PID when dropped. Never a server the test did not start.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running throwaway server.
pub struct Postgres {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    pub port: u16,
    pub password: String,
    as_postgres: bool,
    /// Killed with SIGKILL: nothing to stop (its PID may belong to someone else by now).
    gone: bool,
}

/// Where the PostgreSQL server binaries are; fails (never skips) with how to install them.
pub fn bindir() -> PathBuf {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let candidates = from_config.into_iter().chain(
        std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|entry| entry.path().join("bin")),
    );
    for dir in candidates {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return dir;
        }
    }
    panic!("PostgreSQL is not installed: `apt-get install postgresql` (.ci/test does this when initdb is missing)");
}

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Postgres {
    /// Starts a fresh server with superuser `argus` and database `argus`.
    pub fn start() -> Postgres {
        let bindir = bindir();
        let dir = tempfile::Builder::new().prefix("argus-pg-").tempdir().expect("temp dir");
        let as_postgres = running_as_root();
        let password = hex::encode(rand_bytes());
        std::fs::write(dir.path().join("pwfile"), format!("{password}\n")).unwrap();
        if as_postgres {
            let out = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).output().unwrap();
            assert!(out.status.success(), "chown: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut pg = Postgres { dir, bindir, port: 0, password, as_postgres, gone: false };
        let data = pg.data();
        let pwfile = pg.dir.path().join("pwfile");
        let out = pg
            .command("initdb")
            .args(["-D", data.to_str().unwrap(), "-U", "argus", "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_server();
        pg.psql("postgres", "CREATE DATABASE argus");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// (Re)starts the server on its port (a new free port the first time).
    pub fn start_server(&mut self) {
        for attempt in 0..5 {
            if self.port == 0 || attempt > 0 {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                self.port = probe.local_addr().unwrap().port();
            }
            let log = self.dir.path().join("postgres.log");
            let options = format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100",
                self.port,
                self.dir.path().display()
            );
            let out = self
                .command("pg_ctl")
                .args([
                    "-D",
                    self.data().to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    &options,
                    "start",
                ])
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                return;
            }
            if attempt == 4 {
                panic!(
                    "PostgreSQL did not start: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    /// A streaming standby of this server (`pg_basebackup -R`), started on its own port.
    pub fn start_standby(&self) -> Postgres {
        self.start_standby_on(0)
    }

    /// The same on `port` (0: a free one), e.g. the port of a dead primary it replaces.
    pub fn start_standby_on(&self, port: u16) -> Postgres {
        let dir = tempfile::Builder::new().prefix("argus-pg-standby-").tempdir().expect("temp dir");
        if self.as_postgres {
            let out = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).output().unwrap();
            assert!(out.status.success(), "chown: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut standby = Postgres {
            dir,
            bindir: self.bindir.clone(),
            port: 0,
            password: self.password.clone(),
            as_postgres: self.as_postgres,
            gone: false,
        };
        standby.port = port;
        let out = self
            .command("pg_basebackup")
            .env("PGPASSWORD", &self.password)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "argus", "-D"])
            .arg(standby.data())
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .output()
            .expect("pg_basebackup runs");
        assert!(out.status.success(), "pg_basebackup failed: {}", String::from_utf8_lossy(&out.stderr));
        standby.start_server();
        standby
    }

    /// Makes every commit wait for a standby (`synchronous_standby_names = '*'`,
    /// `synchronous_commit = on`) and waits until one replicates synchronously.
    pub fn make_synchronous(&self) {
        self.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = '*'");
        self.psql("postgres", "ALTER SYSTEM SET synchronous_commit = 'on'");
        self.psql("postgres", "SELECT pg_reload_conf()");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.psql("postgres", "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") != "1" {
            assert!(std::time::Instant::now() < deadline, "no standby became synchronous");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops waiting for a standby (as Patroni does without `synchronous_mode_strict` while no
    /// standby is connected): commits are acknowledged by this server alone.
    pub fn make_asynchronous(&self) {
        self.psql("postgres", "ALTER SYSTEM RESET synchronous_standby_names");
        self.psql("postgres", "SELECT pg_reload_conf()");
    }

    /// Promotes this standby to primary (`pg_ctl promote`), waiting until it accepts writes.
    pub fn promote(&self) {
        let out = self
            .command("pg_ctl")
            .args(["-D", self.data().to_str().unwrap(), "-w", "-t", "30", "promote"])
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "pg_ctl promote: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The host dies: SIGKILL to the postmaster and every process it started, at once.
    pub fn kill9(&mut self) {
        let Some(pid) = self.pid() else { return };
        let mut doomed = vec![pid];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // "PID (comm) STATE PPID ...": the fields after the last ')'.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
            if ppid == Some(pid) {
                doomed.extend(entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()));
            }
        }
        for pid in &doomed {
            if let Some(pid) = rustix::process::Pid::from_raw(*pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let alive = |pid: &i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
                .unwrap_or(false)
        };
        while doomed.iter().any(alive) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.gone = true;
    }

    /// The server's PID, from its pid file.
    pub fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Stops the server by PID: `immediate` is a crash (SIGQUIT), otherwise a fast shutdown
    /// (SIGINT). Waits until it is gone.
    pub fn stop(&self, immediate: bool) {
        if self.gone {
            return;
        }
        let Some(pid) = self.pid() else { return };
        let Some(pid) = rustix::process::Pid::from_raw(pid) else { return };
        let signal = if immediate { rustix::process::Signal::QUIT } else { rustix::process::Signal::INT };
        let _ = rustix::process::kill_process(pid, signal);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while rustix::process::test_kill_process(pid).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A store URL for database `db` (password included: for the code under test only).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://argus:{}@127.0.0.1:{}/{db}?sslmode=disable", self.password, self.port)
    }

    /// The same URL with a wrong password.
    pub fn url_with_password(&self, db: &str, password: &str) -> String {
        format!("postgres://argus:{password}@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Runs SQL with psql as `argus` (the password through the environment, never argv).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .env("PGPASSWORD", &self.password)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "argus",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A fresh, empty database.
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// The directory the server lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop(false);
    }
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("random");
    bytes
}
