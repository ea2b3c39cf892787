//! The end-to-end harness: starts `argus-ops` and `argus-agent` as real processes on
//! loopback (port 0, addresses read back), drives them through `argusctl` and raw HTTPS, and
//! stops everything it started. Waits poll for an observable event with a deadline; nothing
//! sleeps for a fixed time to "let things settle".

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod flood;
pub mod pg;
pub mod proxy;
pub mod simulated;
pub mod udp_relay;
pub mod webdriver;

/// The ops token every fixture uses.
pub const OPS_TOKEN: &str = "e2e-ops-token-0123456789abcdef";

/// Path to a workspace binary, building the binaries once if they are missing.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        // target/PROFILE/deps/<test> → target/PROFILE; target/PROFILE/<bin> → target/PROFILE
        let exe = std::env::current_exe().expect("test executable path");
        let mut dir = exe.parent().expect("target dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        if !["argus-ops", "argus-agent", "argusctl", "argus-console"].iter().all(|b| dir.join(b).exists()) {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--workspace", "--bins"])
                .args(if cfg!(debug_assertions) { &[][..] } else { &["--release"][..] })
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo build runs");
            assert!(status.success(), "building the binaries failed");
        }
        dir
    });
    dir.join(name)
}

/// The workspace `target/` directory (where test artifacts such as screenshots go).
pub fn target_dir() -> PathBuf {
    bin("argus-ops").parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

/// Polls `check` until it returns true or `limit` passes.
/// `GET /metrics` from a metrics listener at `addr`: the Prometheus text.
pub fn scrape(addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// The value of an unlabelled sample `name` in Prometheus text (0 when it is not there yet).
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .next()
        .unwrap_or(0.0)
}

pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A running process, killed when dropped.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    /// The process's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a CLI run printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
}

/// An ops server with its data dir.
pub struct Ops {
    pub dir: tempfile::TempDir,
    pub admin_pat: String,
    pub api: SocketAddr,
    pub agent: SocketAddr,
    pub env: Vec<(String, String)>,
    /// Extra `serve` arguments (e.g. `--patch-pubkey FILE`), used from the next `serve`.
    pub serve_args: Vec<String>,
    /// A descriptor limit (`ulimit -n`, soft and hard) for the next `serve`.
    pub nofile: Option<u64>,
    /// The cluster secret founding printed (PostgreSQL stores): what `join` needs.
    pub cluster_secret: Option<String>,
    pub server: Option<Process>,
    /// An in-process server (see [`Ops::embedded`]): stops when this is dropped.
    pub embedded: Option<tokio::sync::oneshot::Sender<()>>,
    /// The throwaway PostgreSQL this server stores into (`ARGUS_E2E_STORE=postgres`); declared
    /// last so it stops after the server.
    pub postgres: Option<pg::Postgres>,
}

/// The backend the end-to-end suite runs on: `sled` (default) or `postgres`
/// (`ARGUS_E2E_STORE=postgres`: each server gets its own throwaway PostgreSQL).
pub fn e2e_backend_is_postgres() -> bool {
    match std::env::var("ARGUS_E2E_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sled") | Ok("") | Err(_) => false,
        Ok(other) => panic!("ARGUS_E2E_STORE must be sled or postgres, not {other:?}"),
    }
}

impl Ops {
    /// `init` and `serve` with the standard gate environment plus `extra`, on the suite's
    /// backend ([`e2e_backend_is_postgres`]).
    pub fn start(extra: &[(&str, &str)]) -> Ops {
        Ops::start_with(extra, e2e_backend_is_postgres())
    }

    /// The same on the embedded store whatever the suite's backend.
    pub fn start_on_sled(extra: &[(&str, &str)]) -> Ops {
        Ops::start_with(extra, false)
    }

    /// The same on a throwaway PostgreSQL whatever the suite's backend.
    pub fn start_on_postgres(extra: &[(&str, &str)]) -> Ops {
        Ops::start_with(extra, true)
    }

    /// The same on the PostgreSQL store at `url` (e.g. several hosts), which the test runs.
    pub fn start_on_url(url: &str, extra: &[(&str, &str)]) -> Ops {
        Ops::start_on(extra, None, Some(url.to_string()))
    }

    fn start_with(extra: &[(&str, &str)], postgres: bool) -> Ops {
        let postgres = postgres.then(pg::Postgres::start);
        let url = postgres.as_ref().map(|pg| pg.url("argus"));
        Ops::start_on(extra, postgres, url)
    }

    fn start_on(extra: &[(&str, &str)], postgres: Option<pg::Postgres>, url: Option<String>) -> Ops {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("ops");
        let out = Command::new(bin("argus-ops"))
            .args(["init", "--json", "--data-dir"])
            .arg(&data)
            // Through the environment, as an operator would: never on a command line.
            .envs(url.map(|url| ("ARGUS_STORE", url)))
            .output()
            .expect("init runs");
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let init: Value = serde_json::from_slice(&out.stdout).expect("init --json");
        let mut env: Vec<(String, String)> = vec![
            ("REMOTE_SUPPORT_ENABLED".into(), "1".into()),
            ("REMOTE_SUPPORT_OPERATOR_CIDRS".into(), "127.0.0.1/32,::1/128".into()),
            ("ARGUS_OPS_TOKEN".into(), OPS_TOKEN.into()),
            ("ARGUS_LOG".into(), "info".into()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut ops = Ops {
            dir,
            admin_pat: init["admin_pat"].as_str().expect("admin_pat").into(),
            api: "127.0.0.1:0".parse().unwrap(),
            agent: "127.0.0.1:0".parse().unwrap(),
            env,
            serve_args: vec![],
            nofile: None,
            cluster_secret: init["cluster_secret"].as_str().map(str::to_string),
            server: None,
            embedded: None,
            postgres,
        };
        ops.serve(None);
        ops
    }

    /// An ops server running inside the test process on `runtime`, with the standard gate
    /// configuration plus the browser path `access` and its key source `keys` (a library field:
    /// no variable or flag can point the key source anywhere but the team domain).
    pub fn embedded(
        runtime: &tokio::runtime::Handle,
        access: Option<argus_access::AccessConfig>,
        keys: Option<std::sync::Arc<dyn argus_access::KeySource>>,
    ) -> Ops {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("ops");
        let init = argus_ops::bootstrap::init::init(&data, &[], &argus_ops::store::StoreUrl::Sled, None).expect("init");
        let config = argus_ops::config::GateConfig {
            enabled: true,
            operator_cidrs: vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()],
            ops_token_hash: Some(argus_fsm::signed::sha256(OPS_TOKEN.as_bytes())),
            trusted_proxies: vec![],
            access,
        };
        let options = argus_ops::bootstrap::serve::ServeOptions {
            data_dir: data.clone(),
            store: argus_ops::store::StoreUrl::Sled,
            api_listen: "127.0.0.1:0".parse().unwrap(),
            agent_listen: "127.0.0.1:0".parse().unwrap(),
            patch_pubkey: None,
            config,
            access_keys: keys,
            metrics_listen: None,
            node_id: None,
            peer_listen: argus_ops::bootstrap::serve::DEFAULT_PEER_LISTEN.parse().unwrap(),
            peer_advertise: None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            if let Err(error) = argus_ops::bootstrap::serve::serve(options, async move { drop(stopped.await) }).await {
                panic!("embedded ops server failed: {error:#}");
            }
        });
        let addresses = data.join("run").join("addresses.json");
        let read = || std::fs::read(&addresses).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        assert!(wait_until(Duration::from_secs(20), || read().is_some()), "embedded ops never listened");
        let addrs = read().unwrap();
        Ops {
            dir,
            admin_pat: init.admin_pat.expect("a fresh data dir founds its own store"),
            api: addrs["api"].as_str().unwrap().parse().unwrap(),
            agent: addrs["agent"].as_str().unwrap().parse().unwrap(),
            env: vec![],
            serve_args: vec![],
            nofile: None,
            cluster_secret: None,
            server: None,
            embedded: Some(stop),
            postgres: None,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("ops")
    }
    pub fn ca(&self) -> PathBuf {
        self.data().join("tls").join("ca.pem")
    }

    /// Starts `serve`; `agent_port` pins the QUIC port (to restart on the same address).
    pub fn serve(&mut self, agent_port: Option<u16>) {
        let addresses = self.data().join("run").join("addresses.json");
        let _ = std::fs::remove_file(&addresses);
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.dir.path().join(format!("ops-{start}.log"));
        let agent_listen = format!("127.0.0.1:{}", agent_port.unwrap_or(0));
        let mut command = match self.nofile {
            // Through the shell's `ulimit`, which then execs the server (same PID).
            Some(limit) => {
                let mut command = Command::new("sh");
                command.args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\"")]).arg(bin("argus-ops"));
                command
            }
            None => Command::new(bin("argus-ops")),
        };
        let child = command
            .args(["serve", "--api-listen", "127.0.0.1:0", "--agent-listen", &agent_listen, "--data-dir"])
            .arg(self.data())
            .args(&self.serve_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("serve starts");
        let server = Process { child, log };
        assert!(
            wait_until(Duration::from_secs(20), || std::fs::read(&addresses)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some()),
            "serve never wrote run/addresses.json: {}",
            server.log_text()
        );
        let addrs: Value = serde_json::from_slice(&std::fs::read(&addresses).unwrap()).unwrap();
        self.api = addrs["api"].as_str().unwrap().parse().unwrap();
        self.agent = addrs["agent"].as_str().unwrap().parse().unwrap();
        self.server = Some(server);
    }

    /// Runs `serve` (this server's arguments and environment, plus `extra`) expecting it to
    /// exit by itself within `within`: its exit code (`None`: still running, then killed), its
    /// standard error, and how long it ran.
    pub fn serve_until_exit(&self, extra: &[&str], within: Duration) -> (Option<i32>, String, Duration) {
        let log = self.dir.path().join("serve-until-exit.log");
        let started = Instant::now();
        let mut child = Command::new(bin("argus-ops"))
            .args(["serve", "--api-listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data())
            .args(&self.serve_args)
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("serve starts");
        let mut status = None;
        wait_until(within, || {
            status = child.try_wait().expect("wait on serve");
            status.is_some()
        });
        let ran = started.elapsed();
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        (status.and_then(|s| s.code()), std::fs::read_to_string(&log).unwrap_or_default(), ran)
    }

    /// Another node of this server's cluster: `init` on the same PostgreSQL database (which
    /// joins it), then `serve`, with the same environment. Pass `store` to reach the database
    /// another way (e.g. through a proxy the test can cut).
    pub fn join(&self, store: Option<&str>) -> Ops {
        let url = store
            .map(str::to_string)
            .unwrap_or_else(|| self.postgres.as_ref().expect("a cluster needs the PostgreSQL store").url("argus"));
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("ops");
        let out = Command::new(bin("argus-ops"))
            .args(["init", "--json", "--data-dir"])
            .arg(&data)
            .env("ARGUS_STORE", url)
            .env("ARGUS_CLUSTER_SECRET", self.cluster_secret.as_deref().expect("founding printed a cluster secret"))
            .output()
            .expect("init runs");
        assert!(out.status.success(), "join failed: {}", String::from_utf8_lossy(&out.stderr));
        let init: Value = serde_json::from_slice(&out.stdout).expect("init --json");
        assert_eq!(init["joined"], true, "{init}");
        assert_eq!(init["admin_pat"], Value::Null, "{init}");
        let mut node = Ops {
            dir,
            admin_pat: self.admin_pat.clone(),
            api: "127.0.0.1:0".parse().unwrap(),
            agent: "127.0.0.1:0".parse().unwrap(),
            env: self.env.clone(),
            serve_args: self.serve_args.clone(),
            nofile: None,
            cluster_secret: self.cluster_secret.clone(),
            server: None,
            embedded: None,
            postgres: None,
        };
        node.serve(None);
        node
    }

    /// The value of the unlabelled metric `name` (the server runs with `ARGUS_METRICS_LISTEN`).
    pub fn metric(&self, name: &str) -> f64 {
        let metrics = self.addresses()["metrics"].as_str().expect("serve with ARGUS_METRICS_LISTEN").to_string();
        sample(&scrape(&metrics), name)
    }

    /// This node's `run/addresses.json`.
    pub fn addresses(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.data().join("run").join("addresses.json")).expect("addresses"))
            .expect("addresses JSON")
    }

    /// Kills the server with SIGKILL (no clean shutdown) and waits for it to be gone.
    pub fn kill(&mut self) {
        let process = self.server.as_mut().expect("running");
        let _ = process.child.kill();
        let _ = process.child.wait();
    }

    /// Stops the server cleanly (SIGTERM) and returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.server.as_mut().expect("running").terminate()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.server.as_ref().map(Process::log_text).unwrap_or_default()
    }

    /// Runs `argusctl --json ARGS` as `pat`.
    pub fn ctl(&self, pat: &str, args: &[&str]) -> Output {
        self.ctl_as(pat, args, true)
    }

    /// Runs `argusctl ARGS` as `pat` with its human output (no `--json`).
    pub fn ctl_human(&self, pat: &str, args: &[&str]) -> Output {
        self.ctl_as(pat, args, false)
    }

    fn ctl_as(&self, pat: &str, args: &[&str], json: bool) -> Output {
        ctl_run(
            &[
                ("ARGUS_SERVER", &format!("https://{}", self.api)),
                ("ARGUS_CA_CERT", self.ca().to_str().unwrap()),
                ("ARGUS_OPS_TOKEN", OPS_TOKEN),
                ("ARGUS_PAT", pat),
            ],
            args,
            json,
        )
    }

    /// Runs `argusctl --json ARGS` as the bootstrap admin.
    pub fn admin(&self, args: &[&str]) -> Output {
        self.ctl(&self.admin_pat.clone(), args)
    }

    /// A raw HTTPS request with exactly the given headers, from `local` (a loopback address).
    pub fn http(
        &self,
        local: IpAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let pem = std::fs::read(self.ca()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(argus_transport_quic::pinned_roots(&pem).unwrap())
            .with_no_client_auth();
        let client = reqwest::Client::builder().use_preconfigured_tls(tls).local_address(local).build().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut request = client.request(method.parse().unwrap(), format!("https://{}{path}", self.api));
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("request sent");
            let status = response.status().as_u16();
            let bytes = response.bytes().await.unwrap();
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
    }

    /// Creates PAT `owner` (scope `remote_support`) through the API as admin: the status and
    /// the answer.
    pub fn create_pat(&self, owner: &str) -> (u16, Value) {
        let pat = format!("Bearer {}", self.admin_pat);
        self.http(
            "127.0.0.1".parse().unwrap(),
            "POST",
            "/admin/pats",
            &[("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &pat)],
            Some(serde_json::json!({ "owner": owner, "scopes": ["remote_support"] })),
        )
    }

    /// All audit events (as admin).
    pub fn audit(&self) -> Vec<Value> {
        let out = self.admin(&["audit", "ls", "--limit", "10000"]);
        assert_eq!(out.code, 0, "audit ls: {}", out.stderr);
        out.json["events"].as_array().cloned().unwrap_or_default()
    }

    /// Audit events named `event`.
    pub fn audit_events(&self, event: &str) -> Vec<Value> {
        self.audit().into_iter().filter(|e| e["event"] == event).collect()
    }
}

/// Runs `argusctl --json ARGS` with exactly `env` (plus PATH).
pub fn ctl_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    ctl_run(env, args, true)
}

fn ctl_run(env: &[(&str, &str)], args: &[&str], json: bool) -> Output {
    let out = Command::new(bin("argusctl"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args(json.then_some("--json"))
        .args(args)
        .output()
        .expect("argusctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Output {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A tenant with consent on record and armed, plus an operator PAT and the patch key pair.
pub struct Fleet {
    pub ops: Ops,
    pub tenant: String,
    pub operator: String,
    pub keys: PathBuf,
    pub agents: Vec<Agent>,
}

impl Fleet {
    /// A running ops server with tenant `T1` consented and armed, and operator `op@example.com`.
    pub fn armed(extra_env: &[(&str, &str)]) -> Fleet {
        Fleet::armed_on(Ops::start(extra_env))
    }

    /// The same fixture on a given server (e.g. an embedded one).
    pub fn armed_on(ops: Ops) -> Fleet {
        let keys = ops.dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        for prefix in ["tenant", "patch"] {
            let out = ctl_with(&[], &["keygen", "--out", keys.join(prefix).to_str().unwrap()]);
            assert_eq!(out.code, 0, "keygen: {}", out.stderr);
        }
        let tenant = "T1".to_string();
        let ok = |out: Output| assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
        ok(ops.admin(&["tenant", "create", &tenant, "--consent-key", keys.join("tenant.pub").to_str().unwrap()]));
        let consent = keys.join("consent.json");
        ok(ctl_with(
            &[],
            &[
                "consent",
                "sign",
                "--key",
                keys.join("tenant.key").to_str().unwrap(),
                "--tenant",
                &tenant,
                "--signer",
                "Jane Roe",
                "--out",
                consent.to_str().unwrap(),
            ],
        ));
        ok(ops.admin(&["tenant", "consent", &tenant, "--file", consent.to_str().unwrap()]));
        ok(ops.admin(&["tenant", "arm", &tenant, "--reason", "e2e"]));
        let pat = ops.admin(&["pat", "create", "--owner", "op@example.com", "--scope", "remote_support"]);
        let operator = pat.json["pat"].as_str().expect("operator pat").to_string();
        Fleet { ops, tenant, operator, keys, agents: vec![] }
    }

    /// Runs `argusctl` as the operator.
    pub fn op(&self, args: &[&str]) -> Output {
        self.ops.ctl(&self.operator, args)
    }

    /// Enrolls `agent_id` with a sample install root and starts it; waits until it is online.
    pub fn add_agent(&mut self, agent_id: &str) -> usize {
        let root = self.ops.dir.path().join(format!("root-{agent_id}"));
        sample_install_root(&root);
        let token = self.ops.admin(&["agent", "enroll-token", agent_id, "--tenant", &self.tenant]);
        assert_eq!(token.code, 0, "{}", token.stderr);
        let out = self.enroll(&root, agent_id, token.json["token"].as_str().unwrap());
        assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
        let agent = Agent::start(&root, self.ops.dir.path());
        self.agents.push(agent);
        assert!(self.wait_online(agent_id, true), "agent {agent_id} never came online");
        self.agents.len() - 1
    }

    /// Runs `argus-agent enroll` for `root`.
    pub fn enroll(&self, root: &Path, agent_id: &str, token: &str) -> std::process::Output {
        self.enroll_at(root, agent_id, token, &self.ops.agent.to_string())
    }

    /// Runs `argus-agent enroll` for `root` against `server` (`HOST:PORT[,…]`: another node
    /// of a cluster, or several).
    pub fn enroll_at(&self, root: &Path, agent_id: &str, token: &str, server: &str) -> std::process::Output {
        Command::new(bin("argus-agent"))
            .args(["enroll", "--install-root"])
            .arg(root)
            .args(["--server", server, "--server-ca"])
            .arg(self.ops.ca())
            .args(["--tenant", &self.tenant, "--agent-id", agent_id, "--token", token, "--patch-pubkey"])
            .arg(self.keys.join("patch.pub"))
            .output()
            .expect("enroll runs")
    }

    /// Whether `agent ls` shows the agent online.
    pub fn online(&self, agent_id: &str) -> bool {
        let out = self.op(&["agent", "ls", "--tenant", &self.tenant]);
        out.json["agents"].as_array().into_iter().flatten().any(|a| a["agent_id"] == agent_id && a["online"] == true)
    }

    /// Waits until the agent's online flag equals `online`.
    pub fn wait_online(&self, agent_id: &str, online: bool) -> bool {
        wait_until(Duration::from_secs(20), || self.online(agent_id) == online)
    }

    /// Activates a session on `agent_id` and returns its token.
    pub fn activate(&self, agent_id: &str) -> String {
        let out = self.op(&["agent", "activate", agent_id, "--tenant", &self.tenant, "--reason", "e2e"]);
        assert_eq!(out.code, 0, "activate: {} {}", out.stdout, out.stderr);
        out.json["session_token"].as_str().unwrap().to_string()
    }

    /// Runs a command in a session; returns the CLI output.
    pub fn command(&self, token: &str, name: &str, args: Option<Value>) -> Output {
        let mut argv = vec!["support", "command", &self.tenant, "--session", token, "--command", name];
        let args_text = args.map(|a| a.to_string());
        if let Some(text) = &args_text {
            argv.extend(["--args", text]);
        }
        self.op(&argv)
    }
}

/// A running agent.
pub struct Agent {
    pub root: PathBuf,
    pub process: Process,
}

impl Agent {
    /// Starts `argus-agent run` for an enrolled root.
    pub fn start(root: &Path, log_dir: &Path) -> Agent {
        let log = log_dir.join(format!("agent-{}.log", root.file_name().unwrap().to_string_lossy()));
        let child = Command::new(bin("argus-agent"))
            .args(["run", "--install-root"])
            .arg(root)
            .env("ARGUS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap())
            .spawn()
            .expect("agent starts");
        Agent { root: root.to_path_buf(), process: Process { child, log } }
    }

    /// Runs `argus-agent SUBCOMMAND --install-root ROOT`.
    pub fn cli(&self, subcommand: &str) -> std::process::Output {
        Command::new(bin("argus-agent"))
            .args([subcommand, "--install-root"])
            .arg(&self.root)
            .output()
            .expect("agent cli runs")
    }
}

/// The install-root files an agent serves, plus a secret outside the allowlist.
pub fn sample_install_root(root: &Path) {
    std::fs::create_dir_all(root.join("crashes")).unwrap();
    let log: String = (1..=300).map(|i| format!("line {i}\n")).collect();
    std::fs::write(root.join("argus.log"), log).unwrap();
    std::fs::write(root.join("argus.log.1"), "old 1\nold 2\n").unwrap();
    std::fs::write(root.join("config.yaml"), "poll: 5\n").unwrap();
    std::fs::write(root.join("version.txt"), "4.2.0\n").unwrap();
    std::fs::write(root.join("agent_info.json"), json!({ "cameras": [{ "id": "cam1", "model": "X100" }] }).to_string())
        .unwrap();
    std::fs::write(root.join("crashes").join("crash-1.txt"), "segfault at 0x0\n").unwrap();
    std::fs::write(root.join("secret.txt"), "TOP-SECRET-DO-NOT-LEAK\n").unwrap();
}

/// The trail `records` as a build from before tenant chains wrote it (SPEC §14): no tenant
/// places, every hash over the content without them.
pub fn without_tenant_places(records: &[argus_fsm::audit::AuditRecord]) -> Vec<argus_fsm::audit::AuditRecord> {
    let mut prev = argus_fsm::audit::GENESIS.to_string();
    records
        .iter()
        .map(|record| {
            let mut old = record.clone();
            old.tenant_seq = None;
            old.tenant_prev_hash = None;
            old.prev_hash = prev.clone();
            old.hash = argus_fsm::audit::record_hash(&old);
            prev = old.hash.clone();
            old
        })
        .collect()
}

/// Rewrites the stopped sled node's trail in `data` as a build from before tenant chains wrote
/// it, and makes the node remember its head as that build would; answers the records as they
/// were (with their places).
pub fn sled_trail_as_before_tenant_chains(data: &Path) -> Vec<argus_fsm::audit::AuditRecord> {
    let db = data.join("db");
    let store = argus_ops::store::SledStore::open(&db).unwrap();
    let current: Vec<argus_fsm::audit::AuditRecord> =
        argus_ops::store::Store::audit_from(&store, 0).map(Result::unwrap).collect();
    let old = without_tenant_places(&current);
    for record in &old {
        store.raw_put(&argus_ops::store::audit_record_key(record.seq), &serde_json::to_vec(record).unwrap()).unwrap();
    }
    store.raw_remove("m/tenant_chains").unwrap();
    drop(store);
    argus_ops::store::SledStore::forget(&db);
    let last = old.last().expect("a trail");
    remember_head(data, last.seq, &last.hash);
    current
}

/// Writes the node's remembered audit head (SPEC §10) in `data`.
pub fn remember_head(data: &Path, seq: u64, hash: &str) {
    let head = serde_json::json!({ "seq": seq, "hash": hash });
    std::fs::write(data.join("audit-head"), head.to_string()).unwrap();
}
