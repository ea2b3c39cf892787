//! SPEC §12 through the real binaries: proxies' X-Forwarded-For, hard links, no existence
//! oracle, the PAT lifecycle, and offline writers honouring `--dry-run`. (Activation races,
//! connection limits, Hello floods and re-enrollment have files of their own.)

use std::net::IpAddr;
use std::time::Duration;

use argus_e2e::{ctl_with, wait_until, Fleet, Ops, OPS_TOKEN};
use serde_json::json;

fn local(ip: &str) -> IpAddr {
    ip.parse().unwrap()
}

fn bearer(pat: &str) -> String {
    format!("Bearer {pat}")
}

#[test]
fn every_forwarded_for_line_counts_and_the_rate_limit_keys_on_that_caller() {
    // 127.0.0.2 is a trusted proxy (HAProxy-like: it appends its own header line).
    let ops = Ops::start(&[("REMOTE_SUPPORT_TRUSTED_PROXIES", "127.0.0.2")]);
    let pat = bearer(&ops.admin_pat);
    let proxy = local("127.0.0.2");
    let gated = |lines: &[&str]| {
        let mut headers = vec![("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", pat.as_str())];
        headers.extend(lines.iter().map(|line| ("X-Forwarded-For", *line)));
        ops.http(proxy, "GET", "/support/fleet", &headers, None)
    };
    // The client forged a first line naming the operator network; the proxy's own line names
    // the real client. Only the first line was read before: that bypassed factor 1.
    let (status, body) = gated(&["127.0.0.1", "198.51.100.7"]);
    assert_eq!((status, body["error"].as_str()), (403, Some("ip_not_allowlisted")), "{body}");
    // An operator behind the proxy passes.
    assert_eq!(gated(&["127.0.0.1"]).0, 200);
    // Malformed entries fail closed, on any line.
    for lines in [&["127.0.0.1", "garbage"][..], &["127.0.0.1, "], &["127.0.0.1:443"], &[""]] {
        let (status, body) = gated(lines);
        assert_eq!((status, body["error"].as_str()), (403, Some("ip_not_allowlisted")), "{lines:?}");
    }
    let denied = ops.audit_events("gate_denied");
    assert!(denied.iter().any(|e| e["details"]["ip"] == "198.51.100.7"), "the audit names the real caller");
    // The rate limiter keys on the same caller: a forged client slowed to 429 never slows the
    // operator behind the same proxy.
    let mut limited = false;
    for _ in 0..40 {
        if gated(&["198.51.100.7"]).0 == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "repeated failures from one caller are slowed");
    assert_eq!(gated(&["127.0.0.1"]).0, 200, "the operator behind the proxy is not locked out");
}

#[test]
fn a_hard_link_inside_the_install_root_to_a_file_outside_is_refused() {
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("a1");
    let root = fleet.agents[index].root.clone();
    let outside = fleet.ops.dir.path().join("outside-secret.txt");
    std::fs::write(&outside, "TOP-SECRET-HARD-LINKED\n").unwrap();
    std::fs::hard_link(&outside, root.join("crashes").join("x.txt")).unwrap();
    let token = fleet.activate("a1");
    let out = fleet.command(&token, "read_file", Some(json!({ "path": "crashes/x.txt" })));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.json["error"], "path_not_allowlisted");
    assert!(!out.stdout.contains("TOP-SECRET"), "nothing of the file is returned");
    // A file with one link in the same place is read as before.
    std::fs::write(root.join("crashes").join("y.txt"), "ok\n").unwrap();
    let out = fleet.command(&token, "read_file", Some(json!({ "path": "crashes/y.txt" })));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Through tail_log too: argus.log hard-linked elsewhere is refused.
    std::fs::hard_link(root.join("argus.log"), fleet.ops.dir.path().join("argus-log-elsewhere")).unwrap();
    let out = fleet.command(&token, "tail_log", Some(json!({ "lines": 5 })));
    assert_eq!(out.json["error"], "path_not_allowlisted", "{}", out.stdout);
}

#[test]
fn a_tenant_bound_pat_cannot_tell_another_tenants_agents_and_sessions_from_missing_ones() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let ops = &fleet.ops;
    let ok = |out: argus_e2e::Output| assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let consent_key = fleet.keys.join("tenant.pub");
    ok(ops.admin(&["tenant", "create", "T2", "--consent-key", consent_key.to_str().unwrap()]));
    let pat = |args: &[&str]| {
        let mut argv = vec!["pat", "create", "--owner"];
        argv.extend_from_slice(args);
        ops.admin(&argv).json["pat"].as_str().unwrap().to_string()
    };
    let t2_admin = pat(&["admin@t2", "--scope", "tenant_admin", "--tenant", "T2"]);
    let t2_operator = pat(&["op@t2", "--scope", "remote_support", "--tenant", "T2"]);
    // Capabilities: T1's agent and a missing agent answer alike.
    let foreign = ops.ctl(&t2_admin, &["agent", "capabilities", "a1"]);
    let missing = ops.ctl(&t2_admin, &["agent", "capabilities", "nope"]);
    assert_eq!(foreign.json["error"], "agent_not_found", "{}", foreign.stdout);
    assert_eq!((foreign.code, &foreign.json), (missing.code, &missing.json));
    // Activation by an operator PAT bound to T2, naming T1's agent: as if it did not exist.
    let activate = |agent: &str, tenant: &str| {
        ops.ctl(&t2_operator, &["agent", "activate", agent, "--tenant", tenant, "--reason", "probe"])
    };
    let foreign = activate("a1", "T1");
    assert_eq!(foreign.json["error"], "agent_not_found", "{}", foreign.stdout);
    for (agent, tenant) in [("nope", "T1"), ("nope", "T9")] {
        assert_eq!(activate(agent, tenant).json, foreign.json, "{agent} in {tenant}");
    }
    // Revocation likewise (and nothing is revoked).
    let revoke = |agent: &str| {
        ops.ctl(&t2_operator, &["agent", "revoke", agent, "--tenant", "T1", "--reason", "probe", "--yes"])
    };
    assert_eq!(revoke("a1").json["error"], "agent_not_found");
    assert_eq!(revoke("a1").json, revoke("nope").json);
    assert!(fleet.online("a1"));
    // Sessions: T1's live session answers like an unknown token.
    let token = fleet.activate("a1");
    let status =
        |tenant: &str, token: &str| ops.ctl(&t2_operator, &["support", "status", tenant, "--session", token]).json;
    assert_eq!(status("T1", &token)["error"], "session_not_found");
    assert_eq!(status("T1", &token), status("T1", "rst_nope"));
    // Listing is bounded to the PAT's tenant, and another tenant's routes answer like a
    // missing tenant's.
    let fleet_view = ops.ctl(&t2_operator, &["agent", "fleet"]);
    let tenants: Vec<&str> =
        fleet_view.json["tenants"].as_array().unwrap().iter().map(|t| t["tenant"].as_str().unwrap()).collect();
    assert_eq!(tenants, ["T2"]);
    let listing = ops.ctl(&t2_operator, &["agent", "ls", "--tenant", "T1"]);
    assert_eq!(listing.json, ops.ctl(&t2_operator, &["agent", "ls", "--tenant", "T9"]).json);
    assert!(!listing.stdout.contains("a1"));
}

#[test]
fn pats_expire_list_without_secrets_and_revoke_from_the_next_request_on() {
    let ops = Ops::start(&[]);
    let created =
        ops.admin(&["pat", "create", "--owner", "short@example.com", "--scope", "remote_support", "--ttl", "2s"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let short = created.json["pat"].as_str().unwrap().to_string();
    assert!(created.json["id"].as_str().unwrap().starts_with("pat_"));
    assert!(created.json["expires_at"].is_string());
    assert_eq!(ops.ctl(&short, &["agent", "fleet"]).code, 0, "usable before it expires");
    assert!(
        wait_until(Duration::from_secs(10), || ops.ctl(&short, &["agent", "fleet"]).json["error"] == "invalid_pat"),
        "an expired PAT answers invalid_pat"
    );
    // Over the cap, or non-positive: refused.
    let too_long = ops.admin(&["pat", "create", "--owner", "x@example.com", "--scope", "admin", "--ttl", "400d"]);
    assert_eq!(too_long.json["error"], "bad_request");

    let created = ops.admin(&["pat", "create", "--owner", "victim@example.com", "--scope", "remote_support"]);
    let (id, pat) =
        (created.json["id"].as_str().unwrap().to_string(), created.json["pat"].as_str().unwrap().to_string());
    assert_eq!(created.json["expires_at"], serde_json::Value::Null);
    assert_eq!(ops.ctl(&pat, &["agent", "fleet"]).code, 0);
    // `pat ls` names every PAT, its last use, and no secret.
    let listed = ops.admin(&["pat", "ls"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        !listed.stdout.contains(&pat) && !listed.stdout.contains(&short) && !listed.stdout.contains(&ops.admin_pat)
    );
    assert!(!listed.stdout.contains("argus_pat_"), "no secret of any PAT");
    let row = listed.json["pats"].as_array().unwrap().iter().find(|p| p["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["owner"], "victim@example.com");
    assert_eq!(row["revoked"], false);
    assert!(row["last_used_at"].is_string(), "last use is recorded: {row}");
    for key in ["id", "owner", "scopes", "tenant", "created_at", "expires_at", "last_used_at", "revoked"] {
        assert!(row.get(key).is_some(), "{key} missing from {row}");
    }
    // Revocation needs --yes and is refused before any request without it.
    let unconfirmed = ops.admin(&["pat", "revoke", &id]);
    assert_eq!(unconfirmed.code, 2, "{}", unconfirmed.stderr);
    assert!(unconfirmed.stderr.contains("--yes"));
    assert_eq!(ops.ctl(&pat, &["agent", "fleet"]).code, 0, "still valid");
    let revoked = ops.admin(&["pat", "revoke", &id, "--yes"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(revoked.json["revoked"], true);
    let refused = ops.ctl(&pat, &["agent", "fleet"]);
    assert_eq!((refused.code, refused.json["error"].as_str()), (1, Some("invalid_pat")), "from the next request on");
    let audited = ops.audit_events("pat_revoked");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["details"]["id"], id.as_str());
    assert_eq!(audited[0]["actor"], "admin@local");
    // Revoking again changes nothing; an unknown ID is not found.
    assert_eq!(ops.admin(&["pat", "revoke", &id, "--yes"]).code, 0);
    assert_eq!(ops.audit_events("pat_revoked").len(), 1);
    assert_eq!(ops.admin(&["pat", "revoke", "pat_0000000000000000", "--yes"]).json["error"], "not_found");
    // Only admins manage PATs.
    let operator = ops.admin(&["pat", "create", "--owner", "op@example.com", "--scope", "remote_support"]);
    let operator = operator.json["pat"].as_str().unwrap();
    assert_eq!(ops.ctl(operator, &["pat", "ls"]).json["error"], "missing_role");
}

#[test]
fn offline_writers_honour_dry_run_and_never_print_a_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A real key to sign with.
    assert_eq!(ctl_with(&[], &["keygen", "--out", &path("real")]).code, 0);
    let private_hex = std::fs::read_to_string(path("real.key")).unwrap().trim().to_string();
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();

    let keygen = ctl_with(&[], &["--dry-run", "keygen", "--out", &path("dry")]);
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    assert_eq!(keygen.json["dry_run"], true);
    let files = keygen.json["would_write"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["mode"], "600");
    assert_eq!(files[0]["content"], serde_json::Value::Null, "a private key is never printed");
    assert!(files[1]["content"].as_str().unwrap().len() >= 64, "the public key is shown");

    let consent = ctl_with(
        &[],
        &[
            "--dry-run",
            "consent",
            "sign",
            "--key",
            &path("real.key"),
            "--tenant",
            "T1",
            "--signer",
            "Jane",
            "--out",
            &path("consent.json"),
        ],
    );
    assert_eq!(consent.code, 0, "{}", consent.stderr);
    assert!(consent.json["would_write"][0]["content"].as_str().unwrap().contains("\"signature\""));

    std::fs::write(path("content.yaml"), "poll: 9\n").unwrap();
    let patch = ctl_with(
        &[],
        &[
            "--dry-run",
            "patch",
            "sign",
            "--key",
            &path("real.key"),
            "--target",
            "config.yaml",
            "--file",
            &path("content.yaml"),
            "--not-before",
            "2026-01-01T00:00:00Z",
            "--not-after",
            "2036-01-01T00:00:00Z",
            "--out",
            &path("patch.json"),
        ],
    );
    assert_eq!(patch.code, 0, "{}", patch.stderr);
    // Human output too writes nothing and withholds the private key.
    let human = argus_e2e::bin("argusctl");
    let human =
        std::process::Command::new(human).args(["--dry-run", "keygen", "--out", &path("human")]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success() && text.contains("would write") && text.contains("withheld"), "{text}");

    let after: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    let mut expected = before.clone();
    expected.push("content.yaml".into());
    let (mut after, mut expected) = (after, expected);
    after.sort();
    expected.sort();
    assert_eq!(after, expected, "a dry run writes nothing");
    for out in [&keygen.stdout, &consent.stdout, &patch.stdout, &text.to_string()] {
        assert!(!out.contains(&private_hex), "no private key in any dry-run output");
    }
    // Without --dry-run, the same commands write their files (keygen refuses to overwrite).
    assert_eq!(ctl_with(&[], &["keygen", "--out", &path("real")]).code, 2);
}

#[test]
fn unauthenticated_hello_floods_cannot_grow_the_audit_trail() {
    use argus_fsm::handshake::{Hello, Intent, Proof};
    use argus_fsm::wire::{AgentMessage, ServerMessage};
    use argus_transport_quic::{client_endpoint, read_frame, write_frame};

    let ops = Ops::start(&[]);
    let ca = std::fs::read(ops.ca()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Every other one as the one-round-trip handshake's first message, with a proof of nothing:
    // held to the same limits.
    let hello = |i: usize, agent_id: String| {
        let hello = Hello { agent_id, tenant: "T1".into(), intent: Intent::Authenticate };
        match i % 2 {
            0 => AgentMessage::Hello(hello),
            _ => AgentMessage::ProvedHello { hello, proof: Proof { signature: vec![0; 64] } },
        }
    };
    let refusals = runtime.block_on(async {
        let endpoint = client_endpoint("127.0.0.1:0".parse().unwrap(), &ca).unwrap();
        let mut refusals = 0u64;
        // Four Hellos with 1 MiB agent IDs (these grew the data dir by ~24 MiB before), then a
        // flood of well-formed Hellos for agents that do not exist.
        let ids = (0..4).map(|_| "a".repeat(1 << 20)).chain((0..60).map(|i| format!("ghost-{i}")));
        for (i, agent_id) in ids.enumerate() {
            let connection = endpoint.connect(ops.agent, "localhost").unwrap().await.expect("QUIC connects");
            let (mut send, mut recv) = connection.open_bi().await.unwrap();
            let _ = write_frame(&mut send, &hello(i, agent_id)).await;
            match read_frame::<ServerMessage>(&mut recv).await {
                Ok(Some(ServerMessage::Refused { code })) => assert_eq!(code.as_str(), "agent_auth_failed"),
                other => panic!("expected a refusal, got {other:?}"),
            }
            refusals += 1;
            connection.close(0u32.into(), b"");
        }
        // A peer that connects and says nothing is closed after the Hello timeout (5 s).
        let silent = endpoint.connect(ops.agent, "localhost").unwrap().await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(20), silent.closed()).await;
        assert!(closed.is_ok(), "a silent peer is dropped");
        refusals + 1
    });
    // Every refusal is accounted for — audited one by one within the budget, the rest counted
    // in aggregated records — and no record carries the 1 MiB IDs.
    let accounted = || {
        let records = ops.audit_events("agent_auth_failed");
        let single = records.iter().filter(|r| r["details"]["aggregated"] != true).count() as u64;
        let counted: u64 = records.iter().filter_map(|r| r["details"]["count"].as_u64()).sum();
        (records, single, counted)
    };
    assert!(
        wait_until(Duration::from_secs(40), || {
            let (_, single, counted) = accounted();
            single + counted == refusals
        }),
        "every refusal is audited or counted: {:?}",
        accounted().1
    );
    let (records, single, _) = accounted();
    assert!(single <= 2 * argus_ops::link::refusals::AUDITED_PER_WINDOW as u64 + 2, "{single} single records");
    assert!(records.iter().any(|r| r["details"]["aggregated"] == true), "the flood was aggregated");
    for record in &records {
        let size = record.to_string().len();
        assert!(size < 1024, "a refusal record is small: {size} bytes");
        assert!(record["agent"].is_null() || record["agent"].as_str().unwrap().len() <= 128);
    }
    let seen = |code: &str| {
        records.iter().any(|r| r["details"]["code"] == code || r["details"]["by_code"][code].as_u64().is_some())
    };
    assert!(seen("hello_timeout") && seen("malformed_hello") && seen("agent_auth_failed"), "{records:?}");
    // The server is still serving agents' operators.
    assert_eq!(ops.admin(&["agent", "fleet"]).code, 0);
}

/// What a tenant admin can write as a reason and an agent's files can hold: a forged line, a
/// screen clear, a window title (OSC) ended by BEL.
const HOSTILE: &str = "x\nFAKE\u{1b}[2J\u{1b}]0;t\u{7}";

/// No raw control character but the line ends of `text`'s own lines.
fn terminal_safe(text: &str) -> bool {
    text.chars().all(|c| c == '\n' || !c.is_control())
}

#[test]
fn outside_text_reaches_an_operators_terminal_escaped_and_json_keeps_it_exact() {
    let mut fleet = Fleet::armed(&[]);
    let agent = fleet.add_agent("a1");
    // A tenant admin's reason (any tenant admin can write one).
    let admin =
        fleet.ops.admin(&["pat", "create", "--owner", "ta@example.com", "--scope", "tenant_admin", "--tenant", "T1"]);
    let tenant_admin = admin.json["pat"].as_str().unwrap().to_string();
    assert_eq!(fleet.ops.ctl(&tenant_admin, &["tenant", "disarm", "T1", "--reason", HOSTILE]).code, 0);
    assert_eq!(fleet.ops.ctl(&tenant_admin, &["tenant", "arm", "T1", "--reason", "back"]).code, 0);
    let table = fleet.ops.ctl_human(&fleet.ops.admin_pat, &["audit", "ls", "--tenant", "T1"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(terminal_safe(&table.stdout), "raw control characters in audit ls: {:?}", table.stdout);
    assert!(table.stdout.contains("x\\nFAKE\\x1b[2J\\x1b]0;t\\x07"), "{}", table.stdout);
    assert!(!table.stdout.lines().any(|l| l.starts_with("FAKE")), "no forged line: {}", table.stdout);
    let wide = fleet.ops.ctl_human(&fleet.ops.admin_pat, &["audit", "ls", "--tenant", "T1", "-o", "wide"]);
    assert!(terminal_safe(&wide.stdout), "{:?}", wide.stdout);
    // --json and -o yaml keep the exact value.
    let json = fleet.ops.admin(&["audit", "ls", "--tenant", "T1"]);
    assert!(json.json["events"].as_array().unwrap().iter().any(|e| e["reason"] == HOSTILE), "{}", json.stdout);
    let yaml = fleet.ops.ctl_human(&fleet.ops.admin_pat, &["audit", "ls", "--tenant", "T1", "-o", "yaml"]);
    assert!(
        yaml.stdout.contains("\\e[2J") || yaml.stdout.contains("\\x1B[2J") || yaml.stdout.contains("\\u001b"),
        "{}",
        yaml.stdout
    );

    // An agent's own files: escape codes in its log and config.
    let root = fleet.agents[agent].root.clone();
    std::fs::write(root.join("argus.log"), format!("line 1\n{HOSTILE}\nline 3\n")).unwrap();
    std::fs::write(root.join("config.yaml"), format!("poll: 5\nname: {HOSTILE}\n")).unwrap();
    let token = fleet.activate("a1");
    let session = ["support", "command", "T1", "--session", token.as_str(), "--command"];
    let tail =
        fleet.ops.ctl_human(&fleet.operator, &[&session[..], &["tail_log", "--args", r#"{"lines":10}"#]].concat());
    assert_eq!(tail.code, 0, "{}", tail.stderr);
    assert!(terminal_safe(&tail.stdout), "raw control characters from tail_log: {:?}", tail.stdout);
    assert!(tail.stdout.contains("line 1") && tail.stdout.contains("\\x1b[2J") && tail.stdout.contains("line 3"));
    let read = fleet
        .ops
        .ctl_human(&fleet.operator, &[&session[..], &["read_file", "--args", r#"{"path":"config.yaml"}"#]].concat());
    assert_eq!(read.code, 0, "{}", read.stderr);
    assert!(terminal_safe(&read.stdout), "raw control characters from read_file: {:?}", read.stdout);
    // The file's own lines stay lines; the escapes in them are shown, not run.
    assert_eq!(read.stdout, "poll: 5\nname: x\nFAKE\\x1b[2J\\x1b]0;t\\x07\n");
    // The same read as JSON is the file's exact content.
    let exact = fleet.command(&token, "read_file", Some(json!({ "path": "config.yaml" })));
    assert_eq!(exact.json["result"]["content"], format!("poll: 5\nname: {HOSTILE}\n"));
}
