//! SPEC §12 "Activation is ready when answered": a command sent the moment `activate` answers
//! is served, however loaded the machine is; and a command for a session `deactivate` has
//! answered is refused. The load is real: fsync-heavy writers and busy loops, started here and
//! stopped by process group.

use argus_e2e::{Fleet, OPS_TOKEN};
use serde_json::{json, Value};
use std::process::{Child, Command};

/// Background load: processes that fsync in a loop and processes that spin.
struct Pressure {
    children: Vec<Child>,
}

impl Pressure {
    fn start(dir: &std::path::Path, writers: usize, spinners: usize) -> Pressure {
        use std::os::unix::process::CommandExt as _;
        let mut children = Vec::new();
        for i in 0..writers {
            let file = dir.join(format!("pressure-{i}.bin"));
            let script = format!(
                "while :; do dd if=/dev/zero of='{}' bs=16k count=1 conv=fsync status=none; sleep 0.02; done",
                file.display()
            );
            children.push(Command::new("sh").args(["-c", &script]).process_group(0).spawn().expect("writer starts"));
        }
        // Spinners run slightly niced: on a 2-core machine two full-priority busy loops starve
        // everything else on it, including whatever supervises the test run.
        for _ in 0..spinners {
            let spinner =
                Command::new("nice").args(["-n", "2", "sh", "-c", "while :; do :; done"]).process_group(0).spawn();
            children.push(spinner.unwrap());
        }
        Pressure { children }
    }
}

impl Drop for Pressure {
    fn drop(&mut self) {
        for child in &mut self.children {
            // The whole group: the shell and whatever dd it is running. (By system call: a
            // `kill` binary may read `-PGID` as an option, and `kill -KILL -1` ends everything.)
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
        }
    }
}

/// A kept-alive HTTPS client as an operator script would use it.
struct Operator {
    client: reqwest::Client,
    base: String,
    pat: String,
    runtime: tokio::runtime::Runtime,
}

impl Operator {
    fn new(fleet: &Fleet) -> Operator {
        let pem = std::fs::read(fleet.ops.ca()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(argus_transport_quic::pinned_roots(&pem).unwrap())
            .with_no_client_auth();
        Operator {
            client: reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap(),
            base: format!("https://{}", fleet.ops.api),
            pat: fleet.operator.clone(),
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
        }
    }

    fn post(&self, path: &str, session: Option<&str>, body: Value) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self
                .client
                .post(format!("{}{path}", self.base))
                .header("x-argus-ops-token", OPS_TOKEN)
                .header("authorization", format!("Bearer {}", self.pat))
                .json(&body);
            if let Some(token) = session {
                request = request.header("x-argus-session", token);
            }
            let response = request.send().await.expect("request sent");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }
}

#[test]
fn a_command_sent_the_moment_activation_answers_is_served_under_load() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let operator = Operator::new(&fleet);
    let (writers, spinners) = match std::env::var("ARGUS_RACE_PRESSURE").ok().as_deref() {
        Some("off") => (0, 0),
        _ => (2, 2),
    };
    let _pressure = Pressure::start(fleet.ops.dir.path(), writers, spinners);
    let commands = ["ping", "agent_info", "tail_log"];
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for round in 0..150 {
        if round % 25 == 0 {
            eprintln!("round {round} after {:?}, {} failures so far", started.elapsed(), failures.len());
        }
        let (status, activated) =
            operator.post("/support/agents/a1/activate", None, json!({ "tenant": "T1", "reason": "race" }));
        assert_eq!(status, 201, "round {round}: {activated}");
        let token = activated["session_token"].as_str().unwrap().to_string();
        let command = commands[round % commands.len()];
        let (status, answer) =
            operator.post("/support/tenants/T1/commands", Some(&token), json!({ "command": command, "args": {} }));
        if status != 200 {
            failures.push(format!("round {round} {command}: {status} {answer}"));
        }
        let (status, ended) =
            operator.post("/support/tenants/T1/session/deactivate", Some(&token), json!({ "reason": "done" }));
        assert_eq!(status, 200, "round {round}: {ended}");
        // Once deactivation has answered, the session is refused — by the server and the agent.
        let (status, refused) =
            operator.post("/support/tenants/T1/commands", Some(&token), json!({ "command": "ping", "args": {} }));
        assert_eq!((status, refused["error"].as_str()), (410, Some("session_expired")), "round {round}");
        assert!(refused["message"].as_str().unwrap_or_default().contains("deactivated"), "the end reason is named");
    }
    assert!(failures.is_empty(), "{} of 150 commands right after activation failed: {failures:#?}", failures.len());
}
