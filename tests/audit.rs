//! The audit trail and secret hygiene through the real binaries: the chain verifies offline,
//! a tampered record is named, dry runs send nothing, and no secret reaches a log or record.

use std::process::Command;

use argus_e2e::{bin, ctl_with, Fleet, OPS_TOKEN};

#[test]
fn audit_chain_verifies_offline_and_names_a_tampered_record() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let events = fleet.ops.audit();
    assert!(events.len() >= 6);
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(pair[1]["seq"].as_u64().unwrap(), pair[0]["seq"].as_u64().unwrap() + 1);
    }
    // Filters: tenant, since, limit.
    let limited = fleet.op(&["audit", "ls", "--limit", "2"]);
    assert_eq!(limited.json["events"].as_array().unwrap().len(), 2);
    // A `since` that is neither RFC 3339 nor a duration is refused before any request; the
    // server refuses one that reaches it all the same.
    let bad_since = fleet.op(&["audit", "ls", "--since", "yesterday"]);
    assert_eq!(bad_since.code, 2, "{}", bad_since.stderr);
    let pat = format!("Bearer {}", fleet.operator);
    let (status, body) = fleet.ops.http(
        "127.0.0.1".parse().unwrap(),
        "GET",
        "/support/audit?since=yesterday",
        &[("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &pat)],
        None,
    );
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert!(fleet.ops.stop().success());
    let verify =
        Command::new(bin("argus-ops")).args(["audit", "verify", "--data-dir"]).arg(fleet.ops.data()).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    // The shutdown signed the head: one `audit_checkpoint` more (SPEC §14).
    assert!(String::from_utf8_lossy(&verify.stdout).contains(&format!("{} records", events.len() + 1)));

    // Tamper with record 3 the way an attacker with disk (or database) access would.
    match &fleet.ops.postgres {
        Some(pg) => {
            pg.psql(
                "argus",
                "UPDATE audit SET record = replace(record, '\"actor\":\"', '\"actor\":\"mallory-') WHERE seq = 3",
            );
        }
        None => tamper(&fleet.ops.data(), 3),
    }
    let verify =
        Command::new(bin("argus-ops")).args(["audit", "verify", "--data-dir"]).arg(fleet.ops.data()).output().unwrap();
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("seq 3"), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn tamper(data: &std::path::Path, seq: u64) {
    let store = argus_e2e_store::open(data);
    store.tamper(seq);
    drop(store);
    // Let go of the database, so `argus-ops audit verify` (another process) can open it.
    argus_ops::store::SledStore::forget(&data.join("db"));
}

/// Raw store access for the tamper test, through the server crate's own store type.
mod argus_e2e_store {
    pub struct Store(argus_ops::store::SledStore);
    pub fn open(data: &std::path::Path) -> Store {
        Store(argus_ops::store::SledStore::open(&data.join("db")).unwrap())
    }
    impl Store {
        pub fn tamper(&self, seq: u64) {
            let key = argus_ops::store::audit_record_key(seq);
            let raw = String::from_utf8(self.0.raw_get(&key).unwrap().unwrap()).unwrap();
            let edited = raw.replacen("\"actor\":\"", "\"actor\":\"mallory-", 1);
            assert_ne!(raw, edited);
            self.0.raw_put(&key, edited.as_bytes()).unwrap();
        }
    }
}

#[test]
fn dry_run_sends_nothing_and_redacts_secrets() {
    // Point it at a closed port: a dry run must succeed without any network I/O.
    let env = [
        ("ARGUS_SERVER", "https://127.0.0.1:9"),
        ("ARGUS_CA_CERT", "/nonexistent/ca.pem"),
        ("ARGUS_OPS_TOKEN", OPS_TOKEN),
        ("ARGUS_PAT", "argus_pat_supersecret"),
    ];
    for args in [
        vec!["--dry-run", "agent", "revoke", "a1", "--tenant", "T1", "--reason", "r"],
        vec!["--dry-run", "agent", "activate", "a1", "--tenant", "T1", "--reason", "r", "--ttl", "45m"],
        vec!["--dry-run", "support", "command", "T1", "--session", "rst_secret", "--command", "ping"],
        vec!["--dry-run", "tenant", "arm", "T1", "--reason", "r"],
    ] {
        let out = ctl_with(&env, &args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("127.0.0.1:9"));
        for secret in [OPS_TOKEN, "argus_pat_supersecret", "rst_secret"] {
            assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "{args:?} printed a secret");
        }
        assert!(out.stdout.contains("<redacted>"));
    }
    let activate =
        ctl_with(&env, &["--dry-run", "agent", "activate", "a1", "--tenant", "T1", "--reason", "r", "--ttl", "45m"]);
    assert!(activate.stdout.contains("\"ttl_seconds\": 2700"));
    // Without --dry-run, revoke without --yes refuses before any I/O (exit 2)...
    assert_eq!(ctl_with(&env, &["agent", "revoke", "a1", "--tenant", "T1", "--reason", "r"]).code, 2);
    // ...and an unreachable server is exit 3.
    let env3 = [("ARGUS_SERVER", "https://127.0.0.1:9"), ("ARGUS_CA_CERT", "/dev/null")];
    let unreachable = ctl_with(&env3, &["agent", "fleet"]);
    assert!(matches!(unreachable.code, 2 | 3), "{}", unreachable.stderr);
}

#[test]
fn no_secret_reaches_a_log_line_or_an_audit_record() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let enroll =
        fleet.ops.admin(&["agent", "enroll-token", "a2", "--tenant", "T1"]).json["token"].as_str().unwrap().to_string();
    let audit = serde_json::to_string(&fleet.ops.audit()).unwrap();
    let passkey = std::fs::read_to_string(fleet.agents[0].root.join("state").join("passkey.key")).unwrap();
    let secrets = [
        fleet.ops.admin_pat.as_str(),
        fleet.operator.as_str(),
        OPS_TOKEN,
        token.as_str(),
        enroll.as_str(),
        passkey.trim(),
    ];
    let logs = [fleet.ops.log(), fleet.agents[0].process.log_text()];
    for secret in secrets {
        assert!(!audit.contains(secret), "audit holds a secret");
        for log in &logs {
            assert!(!log.contains(secret), "a log holds a secret");
        }
    }
    assert!(!logs[0].is_empty(), "the server logged something to check");
}

#[test]
fn unreachable_server_with_a_valid_ca_is_exit_three() {
    let fleet = Fleet::armed(&[]);
    let ca = fleet.ops.ca();
    let env = [("ARGUS_SERVER", "https://127.0.0.1:9"), ("ARGUS_CA_CERT", ca.to_str().unwrap())];
    let out = ctl_with(&env, &["agent", "fleet"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.json["error"], "unreachable");
}

#[test]
fn init_reports_its_files_and_refuses_to_overwrite_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ops");
    let first = Command::new(bin("argus-ops")).args(["init", "--json", "--data-dir"]).arg(&data).output().unwrap();
    assert!(first.status.success());
    let json: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(json["admin_pat"].as_str().unwrap().starts_with("argus_pat_"));
    assert_eq!(json["ca_cert"].as_str().unwrap(), data.join("tls").join("ca.pem").to_str().unwrap());
    assert!(json["data_dir"].is_string());
    use std::os::unix::fs::PermissionsExt as _;
    for private in ["ca.key", "server.key"] {
        let mode = std::fs::metadata(data.join("tls").join(private)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{private} is readable by others");
    }
    let ca = std::fs::read(data.join("tls").join("ca.pem")).unwrap();
    let second = Command::new(bin("argus-ops")).args(["init", "--json", "--data-dir"]).arg(&data).output().unwrap();
    assert!(!second.status.success(), "a second init must refuse");
    assert_eq!(std::fs::read(data.join("tls").join("ca.pem")).unwrap(), ca, "the existing CA is untouched");
    // The bootstrap PAT is shown once and stored only as a hash.
    let pat = json["admin_pat"].as_str().unwrap();
    let stored = std::process::Command::new("grep").args(["-r", "-l", pat]).arg(&data).output().unwrap();
    assert!(stored.stdout.is_empty(), "the PAT is stored in clear somewhere");
}

#[test]
fn tenant_and_enrollment_actions_are_each_audited_once() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    assert_eq!(fleet.ops.audit_events("tenant_consent_recorded").len(), 1);
    assert_eq!(fleet.ops.audit_events("enrollment_token_issued").len(), 1);
    let withdrawn = fleet.ops.admin(&["tenant", "consent", "T1", "--withdraw", "--reason", "audit test"]);
    assert_eq!(withdrawn.code, 0, "{}", withdrawn.stderr);
    let records = fleet.ops.audit_events("tenant_consent_withdrawn");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0]["tenant"].as_str(), records[0]["reason"].as_str()), (Some("T1"), Some("audit test")));
}

/// SPEC §10 "The chain never goes backwards": the newest records deleted and the head moved
/// back by someone with database access. The running node refuses to write after the cut (no
/// `seq` reused), says why in `/readyz` and its log, still refuses after a restart, and
/// `audit verify --expect-head` names the cut that a plain verify cannot see.
#[test]
fn a_chain_cut_back_in_the_database_is_refused_and_its_seqs_never_reused() {
    let fleet = Fleet::armed_on(argus_e2e::Ops::start_on_postgres(&[]));
    let mut ops = fleet.ops;
    let events = ops.audit();
    let head = events.last().unwrap().clone();
    let last = head["seq"].as_u64().unwrap();
    let cut = last - 2;
    // Held here, so the node can be restarted; dropped (stopped) after the node stops.
    let pg = ops.postgres.take().unwrap();
    pg.psql(
        "argus",
        &format!(
            "BEGIN; DELETE FROM audit WHERE seq > {cut};
             UPDATE audit_head SET seq = {cut}, hash = (SELECT hash FROM audit WHERE seq = {cut}); COMMIT;"
        ),
    );
    // The running node: the next write follows the store's head, finds it behind what it
    // wrote, and is refused.
    let disarm = ops.admin(&["tenant", "disarm", "T1", "--reason", "after the cut"]);
    assert_eq!(disarm.code, 1, "{} {}", disarm.stdout, disarm.stderr);
    assert_eq!(disarm.json["error"], "store_unavailable", "{}", disarm.stdout);
    let again = ops.admin(&["tenant", "arm", "T1", "--reason", "still refused"]);
    assert_eq!(again.json["error"], "store_unavailable", "{}", again.stdout);
    let rows = |sql: &str| pg.psql("argus", sql).trim().to_string();
    assert_eq!(rows(&format!("SELECT count(*) FROM audit WHERE seq > {cut}")), "0", "no seq written again");
    let ready = |ops: &argus_e2e::Ops| ops.http("127.0.0.1".parse().unwrap(), "GET", "/readyz", &[], None);
    let (status, body) = ready(&ops);
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().starts_with("audit_head_behind"), "{body}");
    assert!(ops.log().contains("audit_head_behind"), "the log names it");
    // Restarted on the same data dir: the node remembers the head it had written.
    ops.stop();
    ops.serve(None);
    let (status, body) = ready(&ops);
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("audit_head_behind"), "{body}");
    assert_eq!(ops.admin(&["tenant", "disarm", "T1", "--reason", "x"]).json["error"], "store_unavailable");
    // Offline: a plain verify sees an intact shorter chain; the expected head names the cut.
    let url = pg.url("argus");
    let verify = |extra: &[&str]| {
        Command::new(bin("argus-ops")).args(["audit", "verify", "--store", &url]).args(extra).output().unwrap()
    };
    let plain = verify(&[]);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stdout));
    let expected = format!("{last}:{}", head["hash"].as_str().unwrap());
    let checked = verify(&["--expect-head", &expected]);
    assert_eq!(checked.status.code(), Some(1), "{}", String::from_utf8_lossy(&checked.stdout));
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(text.contains(&format!("seq {}", cut + 1)) && text.contains("expected head"), "{text}");
    let malformed = verify(&["--expect-head", "12"]);
    assert_eq!(malformed.status.code(), Some(2), "a malformed head is a usage error");
    ops.stop();
}

/// SPEC §12 "Verifying": a stored record with an extra field or other whitespace is broken,
/// and an undecodable record is named by its own seq (it was "seq 1" on PostgreSQL).
#[test]
fn audit_verify_checks_the_canonical_bytes_and_names_the_first_broken_seq() {
    let fleet = Fleet::armed_on(argus_e2e::Ops::start_on_postgres(&[]));
    let mut ops = fleet.ops;
    for i in 0..8 {
        let verb = if i % 2 == 0 { "disarm" } else { "arm" };
        assert_eq!(ops.admin(&["tenant", verb, "T1", "--reason", &format!("r{i}")]).code, 0);
    }
    ops.stop();
    let pg = ops.postgres.as_ref().unwrap();
    let url = pg.url("argus");
    let verify = || {
        let out = Command::new(bin("argus-ops")).args(["audit", "verify", "--store", &url]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(verify().0, Some(0), "{}", verify().1);
    let original = pg.psql("argus", "SELECT record FROM audit WHERE seq = 5").trim().to_string();
    let cases = [
        ("an extra field", 5, "UPDATE audit SET record = '{\"extra\":1,' || substr(record, 2) WHERE seq = 5"),
        ("other whitespace", 5, "UPDATE audit SET record = replace(record, '\",\"', '\", \"') WHERE seq = 5"),
        ("undecodable", 12, "UPDATE audit SET record = '{not json' WHERE seq = 12"),
    ];
    for (what, seq, sql) in cases {
        pg.psql("argus", sql);
        let (code, text) = verify();
        assert_eq!(code, Some(1), "{what}: {text}");
        assert!(text.contains(&format!("broken at seq {seq}:")), "{what}: {text}");
        pg.psql("argus", &format!("UPDATE audit SET record = $${original}$$ WHERE seq = 5"));
    }
}

/// SPEC §14 "Export", its first part: `argusctl audit export` writes every record of the trail
/// in order (JSON lines, or OCSF events of their classes), resumes after its checkpoint with
/// no gap and no repeat, follows new records, and `audit verify-export` proves an untouched
/// export and names the first bad `seq` of one with a record dropped, changed or reordered.
#[test]
fn the_export_delivers_every_record_in_order_resumes_from_its_checkpoint_and_proves_itself() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let dir = fleet.ops.dir.path().to_path_buf();
    let checkpoint = dir.join("export.checkpoint");
    let export = |format: &str| {
        let out = fleet.op(&["audit", "export", "--format", format, "--checkpoint", checkpoint.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).collect::<Vec<_>>()
    };
    let first = export("jsonl");
    let trail = fleet.ops.audit();
    assert_eq!(first.len(), trail.len(), "every record");
    let seqs: Vec<u64> = first.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=trail.len() as u64).collect::<Vec<_>>(), "in order, from the first");
    assert_eq!(first, trail, "each record exactly as audit ls shows it");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(kept["after"], trail.len() as u64);

    // More records; the next run resumes after the checkpoint, in OCSF this time.
    for _ in 0..3 {
        assert_eq!(fleet.command(&token, "ping", None).code, 0);
    }
    let second = export("ocsf");
    assert_eq!(second.len(), 3, "only what is new: {second:#?}");
    for (event, seq) in second.iter().zip(trail.len() as u64 + 1..) {
        assert_eq!(event["unmapped"]["seq"], seq);
        assert_eq!((event["class_uid"].as_u64(), event["activity_id"].as_u64()), (Some(6003), Some(2)), "{event}");
        assert_eq!(event["metadata"]["product"]["name"], "ARGUS");
        assert_eq!(event["metadata"]["uid"], seq.to_string());
        assert_eq!(event["cloud"]["account"]["uid"], "T1");
        assert_eq!(event["status_id"], 1);
        assert!(event["time"].as_i64().unwrap() > 1_700_000_000_000, "milliseconds: {}", event["time"]);
    }
    // Nothing new: nothing written, the checkpoint unchanged.
    assert!(export("jsonl").is_empty());

    // --follow waits for new records and delivers them as they are written.
    let mut follow = Killed(
        std::process::Command::new(bin("argusctl"))
            .env_clear()
            .env("ARGUS_SERVER", format!("https://{}", fleet.ops.api))
            .env("ARGUS_CA_CERT", fleet.ops.ca())
            .env("ARGUS_OPS_TOKEN", OPS_TOKEN)
            .env("ARGUS_PAT", &fleet.operator)
            .args(["audit", "export", "--follow", "--checkpoint"])
            .arg(&checkpoint)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let mut reader = std::io::BufReader::new(follow.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let followed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(followed["seq"], trail.len() as u64 + 4, "the record written while it followed");
    assert_eq!(followed["event"], "remote_support_command");
    drop(follow);

    // The whole trail exported once more, to a file: it proves itself; tampered copies do not.
    let whole = fleet.op(&["audit", "export", "--format", "ocsf"]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let lines: Vec<&str> = whole.stdout.lines().collect();
    let verify = |name: &str, lines: &[&str]| {
        let file = dir.join(name);
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        ctl_with(&[], &["audit", "verify-export", file.to_str().unwrap()])
    };
    let intact = verify("intact.ndjson", &lines);
    assert_eq!((intact.code, intact.json["records"].as_u64()), (0, Some(lines.len() as u64)), "{}", intact.stdout);
    let mut dropped = lines.clone();
    dropped.remove(4);
    let out = verify("dropped.ndjson", &dropped);
    assert_eq!((out.code, out.json["seq"].as_u64()), (1, Some(5)), "{}", out.stdout);
    let mut reordered = lines.clone();
    reordered.swap(5, 6);
    assert_eq!(verify("reordered.ndjson", &reordered).code, 1);
    // The operator's first record: its actor changed in the record it carries, then in the
    // OCSF field derived from it; either is named.
    let at = lines.iter().position(|l| l.contains("\"actor\":\"op@example.com\"")).unwrap();
    for (what, from, to) in [
        ("the record", "\"actor\":\"op@example.com\"", "\"actor\":\"mallory@example.com\""),
        ("the OCSF field", "\"user\":{\"name\":\"op@example.com\"}", "\"user\":{\"name\":\"mallory@example.com\"}"),
    ] {
        let changed_line = lines[at].replacen(from, to, 1);
        assert_ne!(changed_line, lines[at], "{what}: {}", lines[at]);
        let mut changed = lines.clone();
        changed[at] = &changed_line;
        let out = verify("changed.ndjson", &changed);
        assert_eq!((out.code, out.json["seq"].as_u64()), (1, Some(at as u64 + 1)), "{what}: {}", out.stdout);
    }
    // JSON lines prove themselves the same way.
    let jsonl = fleet.op(&["audit", "export"]);
    let jsonl_lines: Vec<&str> = jsonl.stdout.lines().collect();
    assert_eq!(verify("intact.jsonl", &jsonl_lines).code, 0);
}

/// A child process killed when the test ends, however it ends (a follower never exits alone).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A syslog receiver over TLS (RFC 5425 octet counting), the test's own: it serves with the ops
/// server's certificate (so `--syslog-ca` is the ops CA), keeps every message it read, and
/// closes after the client's close. With `crash_after`, it reads that many messages of its
/// first connection, then dies — no close, the listener gone too.
struct Receiver {
    port: u16,
    messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(tls: &std::path::Path, port: u16, crash_after: Option<usize>) -> Receiver {
        use std::io::Read as _;
        let certs = argus_transport_quic::parse_certificates(&std::fs::read(tls.join("server.pem")).unwrap()).unwrap();
        let key = argus_transport_quic::parse_private_key(&std::fs::read(tls.join("server.key")).unwrap()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = std::sync::Arc::new(config);
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = messages.clone();
        let thread = std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
                let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut stream = rustls::StreamOwned::new(connection, tcp);
                let mut read = 0;
                loop {
                    // MSG-LEN SP SYSLOG-MSG
                    let mut length = Vec::new();
                    let mut byte = [0u8; 1];
                    let closed = loop {
                        match stream.read(&mut byte) {
                            Ok(0) | Err(_) => break true,
                            Ok(_) if byte[0] == b' ' => break false,
                            Ok(_) => length.push(byte[0]),
                        }
                    };
                    if closed {
                        break;
                    }
                    let length: usize = String::from_utf8(length).unwrap().parse().unwrap();
                    let mut message = vec![0u8; length];
                    stream.read_exact(&mut message).unwrap();
                    kept.lock().unwrap().push(String::from_utf8(message).unwrap());
                    read += 1;
                    if crash_after == Some(read) {
                        // Dies: the connection and the listener go without a word.
                        return;
                    }
                }
                stream.conn.send_close_notify();
                let _ = std::io::Write::flush(&mut stream);
            }
        });
        Receiver { port, messages, thread: Some(thread) }
    }

    /// The `seq` of each message read, in order.
    fn seqs(&self) -> Vec<u64> {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .map(|m| {
                let json = &m[m.find(" - {").expect("structured data, then the JSON") + 3..];
                let line = serde_json::from_str::<serde_json::Value>(json).unwrap();
                line["seq"].as_u64().or(line["unmapped"]["seq"].as_u64()).unwrap()
            })
            .collect()
    }
}

/// SPEC §14 "Export" to syslog over TLS: every record reaches the receiver in order as an RFC
/// 5424 message; a receiver that dies mid-page and comes back loses nothing (the page it did not
/// take goes again: duplicates only of that page, counted), and an exporter without `--follow`
/// whose receiver stays down exits 1 leaving its checkpoint where it was.
#[test]
fn the_export_reaches_a_syslog_receiver_over_tls_and_a_receiver_that_dies_loses_nothing() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let token = fleet.activate("a1");
    for _ in 0..10 {
        assert_eq!(fleet.command(&token, "ping", None).code, 0);
    }
    let tls = fleet.ops.data().join("tls");
    let ca = fleet.ops.ca();
    let dir = fleet.ops.dir.path().to_path_buf();
    let checkpoint = dir.join("syslog.checkpoint");

    // Nobody listening, no --follow: exit 1, no checkpoint written.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = |port: u16| format!("tcp+tls://localhost:{port}");
    let down = fleet.op(&[
        "audit",
        "export",
        "--syslog",
        &url(closed),
        "--syslog-ca",
        ca.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert_eq!(down.code, 1, "{} {}", down.stdout, down.stderr);
    assert!(!checkpoint.exists(), "a sink that stays down keeps the checkpoint");

    // The first receiver dies after five messages; the exporter follows and retries.
    let first = Receiver::start(&tls, 0, Some(5));
    let port = first.port;
    let mut exporter = Killed(
        std::process::Command::new(bin("argusctl"))
            .env_clear()
            .env("ARGUS_SERVER", format!("https://{}", fleet.ops.api))
            .env("ARGUS_CA_CERT", &ca)
            .env("ARGUS_OPS_TOKEN", OPS_TOKEN)
            .env("ARGUS_PAT", &fleet.operator)
            .args(["audit", "export", "--follow", "--format", "ocsf", "--syslog", &url(port), "--syslog-ca"])
            .arg(&ca)
            .arg("--checkpoint")
            .arg(&checkpoint)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(argus_e2e::wait_until(std::time::Duration::from_secs(20), || first.seqs().len() == 5));
    let mut first = first;
    first.thread.take().unwrap().join().unwrap();
    assert!(!checkpoint.exists(), "the page the receiver did not take is not counted");
    let second = Receiver::start(&tls, port, None);
    let total = fleet.ops.audit().len() as u64;
    assert!(
        argus_e2e::wait_until(std::time::Duration::from_secs(30), || second.seqs().len() as u64 >= total),
        "the page goes again to the receiver that came back: {:?}",
        second.seqs()
    );
    assert_eq!(second.seqs(), (1..=total).collect::<Vec<_>>(), "every record, in order, once");
    // Records written while it follows arrive too.
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    assert!(argus_e2e::wait_until(std::time::Duration::from_secs(40), || second.seqs().last() == Some(&(total + 1))));
    exporter.0.kill().unwrap();
    exporter.0.wait().unwrap();
    let duplicates = first.seqs();
    assert_eq!(duplicates, vec![1, 2, 3, 4, 5], "duplicated: only the head of the page the first receiver died in");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(kept["after"], total + 1);
    // Each message is RFC 5424 of the audit facility, its MSGID the event.
    let messages = second.messages.lock().unwrap();
    assert!(messages[0].starts_with("<110>1 "), "{}", messages[0]);
    assert!(messages.last().unwrap().contains(" argus - remote_support_command - {"), "{}", messages.last().unwrap());
    drop(messages);

    // UDP for a local collector: one datagram per record, fire and forget.
    let collector = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    collector.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let to = format!("udp://127.0.0.1:{}", collector.local_addr().unwrap().port());
    let sent = fleet.op(&["audit", "export", "--syslog", &to]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let mut buffer = vec![0u8; 65_536];
    for seq in 1..=3 {
        let n = collector.recv(&mut buffer).unwrap();
        let datagram = String::from_utf8_lossy(&buffer[..n]).into_owned();
        assert!(datagram.starts_with("<110>1 ") && datagram.contains(&format!("{{\"seq\":{seq},")), "{datagram}");
    }
}

/// SPEC §14 "Signed checkpoints": the checkpoint key is served without the gate and kept 0600;
/// a shutdown signs the store's head; an export that holds a checkpoint is proved complete up to
/// it, one with records past it is not (until a later checkpoint is given), and under another
/// key nothing is proved.
#[test]
fn signed_checkpoints_prove_an_export_complete_and_nothing_past_them() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let dir = fleet.ops.dir.path().to_path_buf();
    let (status, served) = fleet.ops.http("127.0.0.2".parse().unwrap(), "GET", "/audit/checkpoint-key", &[], None);
    assert_eq!(status, 200, "no gate: {served}");
    let key = dir.join("checkpoint.pub");
    std::fs::write(&key, format!("{}\n", served["public_key"].as_str().unwrap())).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(fleet.ops.data().join("tls").join("checkpoint.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let export_to = |fleet: &Fleet, name: &str| {
        let out = fleet.op(&["audit", "export", "--format", "ocsf"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let file = dir.join(name);
        std::fs::write(&file, &out.stdout).unwrap();
        file
    };
    let verify = |file: &std::path::Path, key: &std::path::Path, extra: Option<&std::path::Path>| {
        let mut args =
            vec!["audit", "verify-export", file.to_str().unwrap(), "--checkpoint-key", key.to_str().unwrap()];
        if let Some(extra) = extra {
            args.extend(["--checkpoint", extra.to_str().unwrap()]);
        }
        ctl_with(&[], &args)
    };
    // Nothing signed yet: consistent, not proved complete.
    let unsigned = verify(&export_to(&fleet, "unsigned.ndjson"), &key, None);
    assert_eq!(unsigned.code, 1, "{}", unsigned.stdout);

    // A shutdown signs the head.
    let port = fleet.ops.agent.port();
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    let trail = fleet.ops.audit();
    let checkpoint = trail.last().unwrap();
    assert_eq!(checkpoint["event"], "audit_checkpoint", "{checkpoint}");
    assert_eq!(checkpoint["details"]["seq"], trail.len() as u64 - 1);
    assert_eq!(checkpoint["details"]["hash"], trail[trail.len() - 2]["hash"]);
    assert_eq!(checkpoint["details"]["key_id"], served["key_id"]);
    let signed = export_to(&fleet, "signed.ndjson");
    let out = verify(&signed, &key, None);
    assert_eq!((out.code, out.json["records"].as_u64()), (0, Some(trail.len() as u64)), "{}", out.stdout);
    assert_eq!(out.json["signed"], true);

    // Records past the checkpoint: not covered; a later checkpoint (given apart) covers them.
    assert!(fleet.wait_online("a1", true));
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let longer = export_to(&fleet, "longer.ndjson");
    let out = verify(&longer, &key, None);
    assert_eq!((out.code, out.json["seq"].as_u64()), (1, Some(trail.len() as u64 + 1)), "{}", out.stdout);
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    let later = fleet.ops.audit().last().unwrap().clone();
    assert_eq!(later["event"], "audit_checkpoint");
    let record = dir.join("later-checkpoint.json");
    std::fs::write(&record, later.to_string()).unwrap();
    let out = verify(&longer, &key, Some(&record));
    assert_eq!(out.code, 0, "{}", out.stdout);

    // Under another key nothing is proved.
    let other = dir.join("other");
    assert_eq!(ctl_with(&[], &["keygen", "--out", other.to_str().unwrap()]).code, 0);
    let out = verify(&signed, &dir.join("other.pub"), None);
    assert_eq!(out.code, 1, "{}", out.stdout);
}

/// SPEC §14 "A tenant's own chain" and "Offline proof" with `--tenant`: a tenant admin's export
/// holds only its tenant's records, numbered by `tenant_seq` without a gap, and its view of each
/// checkpoint (its own head, every other tenant only as a leaf); it resumes by `tenant_seq` from
/// its checkpoint file; `verify-export --tenant` proves it complete and names the first bad
/// `tenant_seq` of a copy with a record dropped, changed, reordered, another tenant's record
/// mixed in, or a forged checkpoint.
#[test]
fn a_tenant_exports_its_own_chain_and_proves_it_without_seeing_another_tenant() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let dir = fleet.ops.dir.path().to_path_buf();
    let key = fleet.keys.join("tenant.pub");
    assert_eq!(fleet.ops.admin(&["tenant", "create", "T2", "--consent-key", key.to_str().unwrap()]).code, 0);
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let out =
        fleet.ops.admin(&["pat", "create", "--owner", "admin@t1.example", "--scope", "tenant_admin", "--tenant", "T1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let admin = out.json["pat"].as_str().unwrap().to_string();
    // A checkpoint signs every tenant's head: a restart writes one.
    let port = fleet.ops.agent.port();
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    assert!(fleet.wait_online("a1", true));

    let trail = fleet.ops.audit();
    let ours: Vec<&serde_json::Value> = trail.iter().filter(|r| r["tenant"] == "T1").collect();
    let places: Vec<u64> = ours.iter().map(|r| r["tenant_seq"].as_u64().unwrap()).collect();
    assert_eq!(places, (1..=ours.len() as u64).collect::<Vec<_>>(), "T1's places, without a gap");
    assert!(trail.iter().filter(|r| r["tenant"] == "T2").all(|r| r["tenant_seq"].as_u64().is_some()));
    let checkpoint = trail.last().unwrap();
    assert_eq!(checkpoint["event"], "audit_checkpoint");
    assert_eq!(checkpoint["details"]["tenants"]["T1"]["tenant_seq"], ours.len() as u64, "{checkpoint}");
    assert_eq!(checkpoint["details"]["tenants"]["T1"]["hash"], ours.last().unwrap()["hash"]);
    assert!(checkpoint["details"]["tenants"]["T2"].is_object(), "{checkpoint}");

    let state = dir.join("t1.checkpoint");
    let export = |format: &str| {
        let out = fleet.ops.ctl(
            &admin,
            &["audit", "export", "--tenant", "T1", "--format", format, "--checkpoint", state.to_str().unwrap()],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let lines = export("jsonl");
    let values: Vec<serde_json::Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(values.iter().filter(|v| v["tenant"] == "T1").count(), ours.len(), "every T1 record");
    assert!(values.iter().all(|v| v["tenant"] == "T1" || v["event"] == "audit_checkpoint"), "{values:#?}");
    assert!(!lines.iter().any(|l| l.contains("\"T2\"")), "no other tenant named: {lines:#?}");
    let view = values.iter().find(|v| v["event"] == "audit_checkpoint").expect("the tenant's view of the checkpoint");
    assert_eq!(view["details"]["other_tenants"].as_array().unwrap().len(), 1, "{view}");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept["after"], ours.len() as u64, "resumes by tenant_seq: {kept}");

    // New T1 records come next, resumed by tenant_seq, in OCSF; nothing is repeated.
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let more = export("ocsf");
    let more: Vec<serde_json::Value> = more.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!more.is_empty());
    for (event, place) in more.iter().zip(ours.len() as u64 + 1..) {
        assert_eq!(event["unmapped"]["tenant_seq"], place, "{event}");
        assert_eq!(event["cloud"]["account"]["uid"], "T1");
    }
    assert!(export("jsonl").is_empty(), "nothing new");
    // A place past the tenant's newest record answers an empty page (nothing yet), not an error.
    let bearer = format!("Bearer {admin}");
    let past = format!("/support/audit/export?after={}", ours.len() + 1_000);
    let headers = [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", bearer.as_str())];
    let (status, body) = fleet.ops.http("127.0.0.1".parse().unwrap(), "GET", &past, &headers, None);
    assert_eq!((status, body), (200, serde_json::Value::Null), "an empty body");

    // Offline proof of what the tenant received (a fresh full export after one more checkpoint).
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    let (_, served) = fleet.ops.http("127.0.0.2".parse().unwrap(), "GET", "/audit/checkpoint-key", &[], None);
    let public = dir.join("checkpoint.pub");
    std::fs::write(&public, format!("{}\n", served["public_key"].as_str().unwrap())).unwrap();
    let full = fleet.ops.ctl(&admin, &["audit", "export", "--tenant", "T1"]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let lines: Vec<&str> = full.stdout.lines().collect();
    let verify = |name: &str, lines: &[&str]| {
        let file = dir.join(name);
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let key = public.to_str().unwrap();
        ctl_with(&[], &["audit", "verify-export", file.to_str().unwrap(), "--checkpoint-key", key, "--tenant", "T1"])
    };
    let records = lines.iter().filter(|l| !l.contains("\"audit_checkpoint\"")).count() as u64;
    let intact = verify("t1.ndjson", &lines);
    assert_eq!((intact.code, intact.json["records"].as_u64()), (0, Some(records)), "{}", intact.stdout);
    assert_eq!(intact.json["last_tenant_seq"], records);
    let record_at = |place: u64| lines.iter().position(|l| l.contains(&format!("\"tenant_seq\":{place},"))).unwrap();

    let mut dropped = lines.clone();
    dropped.remove(record_at(2));
    let out = verify("dropped.ndjson", &dropped);
    assert_eq!((out.code, out.json["tenant_seq"].as_u64()), (1, Some(2)), "{}", out.stdout);
    let changed_line = lines[record_at(3)].replacen("\"actor\":\"", "\"actor\":\"x", 1);
    let mut changed = lines.clone();
    changed[record_at(3)] = &changed_line;
    let out = verify("changed.ndjson", &changed);
    assert_eq!((out.code, out.json["tenant_seq"].as_u64()), (1, Some(3)), "{}", out.stdout);
    let mut reordered = lines.clone();
    reordered.swap(record_at(2), record_at(3));
    assert_eq!(verify("reordered.ndjson", &reordered).code, 1);
    let theirs = fleet.ops.audit().into_iter().find(|r| r["tenant"] == "T2").unwrap().to_string();
    let mut mixed = lines.clone();
    mixed.insert(record_at(2), &theirs);
    let out = verify("mixed.ndjson", &mixed);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.json["why"].as_str().unwrap().contains("tenant T2"), "{}", out.stdout);
    let last = lines.iter().rposition(|l| l.contains("\"audit_checkpoint\"")).unwrap();
    let forged_line = lines[last].replacen("\"tenant_seq\":", "\"tenant_seq\":1", 1);
    let mut forged = lines.clone();
    forged[last] = &forged_line;
    assert_eq!(verify("forged.ndjson", &forged).code, 1, "a checkpoint whose signed head was changed");
    // Without its view of a checkpoint the tail is not proved.
    let unsigned: Vec<&str> = lines.iter().copied().filter(|l| !l.contains("\"audit_checkpoint\"")).collect();
    assert_eq!(verify("unsigned.ndjson", &unsigned).code, 1);
}

/// SPEC §14: records written before tenant chains existed are given their places when the node
/// starts (sled and PostgreSQL alike): every record rehashed in one step, the whole chain and
/// each tenant's verifying, and the head the node remembered from before (SPEC §10) still
/// recognised as the same record, so the node serves.
#[test]
fn records_from_before_tenant_chains_are_given_their_places_at_start_up() {
    for postgres in [false, true] {
        let ops = if postgres { argus_e2e::Ops::start_on_postgres(&[]) } else { argus_e2e::Ops::start_on_sled(&[]) };
        let mut ops = Fleet::armed_on(ops).ops;
        assert!(ops.stop().success());
        let current: Vec<argus_fsm::audit::AuditRecord> = match &ops.postgres {
            Some(pg) => pg
                .psql("argus", "SELECT record FROM audit ORDER BY seq")
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect(),
            None => {
                let db = ops.data().join("db");
                let store = argus_ops::store::SledStore::open(&db).unwrap();
                let records = argus_ops::store::Store::audit_from(&store, 0).map(Result::unwrap).collect();
                drop(store);
                records
            }
        };
        assert!(current.iter().any(|r| r.tenant_seq.is_some()), "postgres={postgres}");
        let old = argus_e2e::without_tenant_places(&current);
        let last = old.last().unwrap();
        match &ops.postgres {
            Some(pg) => {
                let mut sql = String::from("BEGIN; DELETE FROM audit_migrations;");
                for record in &old {
                    let text = serde_json::to_string(record).unwrap();
                    sql.push_str(&format!(
                        "UPDATE audit SET record = $${text}$$, hash = '{}', tenant = NULL, tenant_seq = NULL WHERE seq = {};",
                        record.hash, record.seq
                    ));
                }
                sql.push_str(&format!("UPDATE audit_head SET hash = '{}'; COMMIT;", last.hash));
                pg.psql("argus", &sql);
            }
            None => drop(argus_e2e::sled_trail_as_before_tenant_chains(&ops.data())),
        }
        // The node remembered the head as the old build wrote it.
        argus_e2e::remember_head(&ops.data(), last.seq, &last.hash);

        ops.serve(None);
        let (status, body) = ops.http("127.0.0.1".parse().unwrap(), "GET", "/readyz", &[], None);
        assert_eq!(status, 200, "postgres={postgres}: the remembered head is the same record: {body}");
        assert!(ops.log().contains("every audit record now has its place"), "postgres={postgres}");
        let trail = ops.audit();
        let given: Vec<argus_fsm::audit::AuditRecord> =
            trail[..current.len()].iter().map(|r| serde_json::from_value(r.clone()).unwrap()).collect();
        assert_eq!(given, current, "postgres={postgres}: the places given are the ones new records get");
        let ours: Vec<u64> =
            trail.iter().filter(|r| r["tenant"] == "T1").map(|r| r["tenant_seq"].as_u64().unwrap()).collect();
        assert_eq!(ours, (1..=ours.len() as u64).collect::<Vec<_>>(), "postgres={postgres}");
        assert_ne!(trail[old.len() - 1]["hash"], last.hash.as_str(), "rehashed");
        let remembered: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ops.data().join("audit-head")).unwrap()).unwrap();
        assert_ne!(remembered["hash"], last.hash.as_str(), "the node now remembers the record's new hash");
        // Writes go on, in the tenant's chain, and the whole chain verifies offline.
        assert_eq!(ops.admin(&["tenant", "disarm", "T1", "--reason", "after the migration"]).code, 0);
        let newest = ops.audit().into_iter().rev().find(|r| r["tenant"] == "T1").unwrap();
        assert_eq!(newest["tenant_seq"], ours.len() as u64 + 1);
        assert!(ops.stop().success());
        let out =
            Command::new(bin("argus-ops")).args(["audit", "verify", "--data-dir"]).arg(ops.data()).output().unwrap();
        assert!(out.status.success(), "postgres={postgres}: {}", String::from_utf8_lossy(&out.stdout));
    }
}
