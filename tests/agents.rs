//! Enrollment, online tracking, revocation and restarts through the real binaries.

use std::time::{Duration, Instant};

use argus_e2e::{sample_install_root, wait_until, Agent, Fleet};

#[test]
fn enrollment_tokens_are_single_use_tenant_bound_and_consent_gated() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let root = fleet.ops.dir.path().join("root-second");
    sample_install_root(&root);

    // Reusing a token that already enrolled an agent fails.
    let token =
        fleet.ops.admin(&["agent", "enroll-token", "a2", "--tenant", "T1"]).json["token"].as_str().unwrap().to_string();
    assert!(fleet.enroll(&root, "a2", &token).status.success());
    let again = fleet.ops.dir.path().join("root-third");
    sample_install_root(&again);
    let out = fleet.enroll(&again, "a2", &token);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("enrollment_token_invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A token for one tenant does not enroll into another.
    let key = fleet.keys.join("tenant.pub");
    assert_eq!(fleet.ops.admin(&["tenant", "create", "T2", "--consent-key", key.to_str().unwrap()]).code, 0);
    let token =
        fleet.ops.admin(&["agent", "enroll-token", "a3", "--tenant", "T1"]).json["token"].as_str().unwrap().to_string();
    let wrong_tenant = std::process::Command::new(argus_e2e::bin("argus-agent"))
        .args(["enroll", "--install-root"])
        .arg(&again)
        .args(["--server", &fleet.ops.agent.to_string(), "--server-ca"])
        .arg(fleet.ops.ca())
        .args(["--tenant", "T2", "--agent-id", "a3", "--token", &token, "--patch-pubkey"])
        .arg(fleet.keys.join("patch.pub"))
        .output()
        .unwrap();
    assert!(!wrong_tenant.status.success());

    // No consent, no token.
    let out = fleet.ops.admin(&["agent", "enroll-token", "b1", "--tenant", "T2"]);
    assert_eq!((out.code, out.json["error"].as_str()), (1, Some("tenant_consent_required")));
    assert!(fleet.ops.audit_events("agent_enroll_refused").len() >= 2);
    assert_eq!(fleet.ops.audit_events("agent_enrolled").len(), 2);
}

#[test]
fn expired_enrollment_token_is_refused() {
    let fleet = Fleet::armed(&[]);
    let token = fleet.ops.admin(&["agent", "enroll-token", "a1", "--tenant", "T1", "--ttl", "1s"]).json["token"]
        .as_str()
        .unwrap()
        .to_string();
    let root = fleet.ops.dir.path().join("root-late");
    sample_install_root(&root);
    // Wait for the token's expiry to pass (the server's clock is the judge).
    std::thread::sleep(Duration::from_millis(1100));
    let out = fleet.enroll(&root, "a1", &token);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("enrollment_token_invalid"));
    assert!(!root.join("state").join("agent.toml").exists(), "a refused enrollment leaves no state");
}

#[test]
fn agent_goes_online_and_offline_with_its_process() {
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("a1");
    // Online comes first (the link is registered), the manifest a moment later: wait for it.
    assert!(
        wait_until(Duration::from_secs(10), || fleet.op(&["agent", "capabilities", "a1"]).json["manifest"].is_object()),
        "the agent reports its manifest once online"
    );
    let caps = fleet.op(&["agent", "capabilities", "a1"]);
    assert_eq!(caps.json["stale"], false);
    assert!(caps.json["manifest"]["hostname"].is_string());
    assert_eq!(caps.json["manifest"]["cameras"][0]["id"], "cam1");
    fleet.agents[index].process.terminate();
    assert!(fleet.wait_online("a1", false), "a stopped agent must go offline");
    assert_eq!(fleet.op(&["agent", "capabilities", "a1"]).json["stale"], true, "offline means stale");
    let ls = fleet.op(&["agent", "ls", "--tenant", "T1"]);
    assert!(ls.json["agents"][0]["last_seen"].is_string());
}

#[test]
fn revocation_cuts_the_link_within_a_second_and_is_permanent() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let started = Instant::now();
    let out = fleet.op(&["agent", "revoke", "a1", "--tenant", "T1", "--reason", "stale enrollment", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(wait_until(Duration::from_secs(5), || !fleet.online("a1")));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "revoked agent still online after {elapsed:?}");
    // The agent's redial is refused and audited.
    assert!(
        wait_until(Duration::from_secs(10), || !fleet.ops.audit_events("agent_auth_failed").is_empty()),
        "redial was not refused"
    );
    let ls = fleet.op(&["agent", "ls", "--tenant", "T1"]);
    assert_eq!(ls.json["agents"][0]["state"], "revoked");
    // Revoking again, re-issuing a token or activating all answer agent_revoked.
    assert_eq!(
        fleet.op(&["agent", "revoke", "a1", "--tenant", "T1", "--reason", "x", "--yes"]).json["error"],
        "agent_revoked"
    );
    assert_eq!(fleet.ops.admin(&["agent", "enroll-token", "a1", "--tenant", "T1"]).json["error"], "agent_revoked");
    assert_eq!(
        fleet.op(&["agent", "activate", "a1", "--tenant", "T1", "--reason", "x"]).json["error"],
        "agent_revoked"
    );
    let revoked = fleet.ops.audit_events("agent_revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["actor"], "op@example.com");
    assert_eq!(revoked[0]["reason"], "stale enrollment");
    let fleet_view = fleet.op(&["agent", "fleet"]);
    assert_eq!(fleet_view.json["totals"]["revoked"], 1);
}

#[test]
fn revoke_with_the_wrong_tenant_is_not_found() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let out = fleet.op(&["agent", "revoke", "a1", "--tenant", "OTHER", "--reason", "x", "--yes"]);
    assert_eq!(out.json["error"], "agent_not_found");
    assert!(fleet.online("a1"));
}

#[test]
fn agents_reconnect_after_an_ops_restart_and_revocations_are_kept() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    fleet.add_agent("a2");
    assert_eq!(fleet.op(&["agent", "revoke", "a2", "--tenant", "T1", "--reason", "gone", "--yes"]).code, 0);
    let port = fleet.ops.agent.port();
    let status = fleet.ops.stop();
    assert!(status.success(), "SIGTERM must stop the server cleanly: {status:?}");
    fleet.ops.serve(Some(port));
    assert!(fleet.wait_online("a1", true), "a1 never reconnected after the restart");
    let ls = fleet.op(&["agent", "ls", "--tenant", "T1"]);
    let a2 = ls.json["agents"].as_array().unwrap().iter().find(|a| a["agent_id"] == "a2").unwrap().clone();
    assert_eq!((a2["state"].as_str(), a2["online"].as_bool()), (Some("revoked"), Some(false)));
}

#[test]
fn agent_status_and_kill_switch_cli() {
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("a1");
    let agent: &Agent = &fleet.agents[index];
    let status = String::from_utf8_lossy(&agent.cli("status").stdout).into_owned();
    assert!(status.contains("enrolled:        yes, as a1 in tenant T1"), "{status}");
    assert!(status.contains("connection:      connected since") && status.contains("remote support:  on"), "{status}");
    assert!(agent.cli("remote-support-off").status.success());
    let status = String::from_utf8_lossy(&agent.cli("status").stdout).into_owned();
    assert!(status.contains("remote support:  OFF (kill switch)"), "{status}");
    // --json: one document for scripts.
    let json = std::process::Command::new(argus_e2e::bin("argus-agent"))
        .args(["status", "--json", "--install-root"])
        .arg(&agent.root)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status --json is JSON");
    assert_eq!((json["enrolled"].as_bool(), json["agent_id"].as_str()), (Some(true), Some("a1")));
    assert_eq!((json["connection"].as_str(), json["remote_support_on"].as_bool()), (Some("connected"), Some(false)));
    assert!(wait_until(Duration::from_secs(5), || !fleet.ops.audit_events("kill_switch_off").is_empty()));
    let rows = fleet.op(&["agent", "ls", "--tenant", "T1"]).json;
    assert_eq!(rows["agents"][0]["remote_support_on"], false, "agent ls shows the kill switch: {rows}");
    assert!(agent.cli("remote-support-on").status.success());
    assert!(wait_until(Duration::from_secs(5), || !fleet.ops.audit_events("kill_switch_on").is_empty()));
}

/// QUIC connection migration: an agent whose UDP address changes (NAT rebinding, simulated by
/// rebinding the agent endpoint's socket) stays on the same connection with no new handshake.
#[test]
fn agent_survives_a_rebind_of_its_udp_socket_without_a_new_handshake() {
    use argus_fsm::handshake::{Hello, Intent};
    use argus_fsm::wire::AgentMessage;
    let fleet = Fleet::armed(&[]);
    let token =
        fleet.ops.admin(&["agent", "enroll-token", "m1", "--tenant", "T1"]).json["token"].as_str().unwrap().to_string();
    let key = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (endpoint, connection, mut send, _recv) = runtime.block_on(async {
        let endpoint = argus_agent::link::endpoint_for(fleet.ops.agent, &ca).unwrap();
        let enroll = Hello {
            agent_id: "m1".into(),
            tenant: "T1".into(),
            intent: Intent::Enroll { token, passkey: key.verifying_key().to_bytes() },
        };
        let (enrolled, ..) =
            argus_agent::link::connect(&endpoint, fleet.ops.agent, "127.0.0.1", enroll, &key).await.unwrap().unwrap();
        enrolled.close(0u32.into(), b"enrolled");
        let hello = Hello { agent_id: "m1".into(), tenant: "T1".into(), intent: Intent::Authenticate };
        let (connection, send, recv, _) =
            argus_agent::link::connect(&endpoint, fleet.ops.agent, "127.0.0.1", hello, &key).await.unwrap().unwrap();
        (endpoint, connection, send, recv)
    });
    assert!(fleet.wait_online("m1", true));
    let before = connection.local_ip();
    let old_port = endpoint.local_addr().unwrap().port();
    let fresh = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let new_port = fresh.local_addr().unwrap().port();
    assert_ne!(old_port, new_port);
    {
        let _context = runtime.enter();
        endpoint.rebind(fresh).unwrap();
    }
    // Traffic after the rebind: a manifest with a marker hostname on the same control stream.
    let mut manifest = argus_fsm::wire::Manifest {
        agent_version: "rebind-test".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        hostname: "after-rebind".into(),
        commands: vec![],
        read_allowlist: vec![],
        patch_allowlist: vec![],
        remote_support_on: true,
        cameras_json: "null".into(),
        generated_at: argus_fsm::Timestamp(0),
        approval_threshold: 0,
    };
    manifest.generated_at = argus_agent::now();
    runtime.block_on(argus_transport_quic::write_frame(&mut send, &AgentMessage::Manifest(manifest))).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || fleet.op(&["agent", "capabilities", "m1"]).json["manifest"]["hostname"]
            == "after-rebind"),
        "the server never heard from the agent after its address changed"
    );
    assert!(fleet.online("m1"));
    assert!(connection.close_reason().is_none(), "the connection survived");
    let _ = before;
    // One enrollment, no re-authentication: the server logged exactly one "agent online".
    assert_eq!(fleet.ops.log().matches("agent online").count(), 1, "{}", fleet.ops.log());
    drop(runtime);
}

#[test]
fn a_revoked_machine_comes_back_under_a_new_id_only_with_replace() {
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("a1");
    let root = fleet.agents[index].root.clone();
    let revoked = fleet.op(&["agent", "revoke", "a1", "--tenant", "T1", "--reason", "stolen", "--yes"]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    fleet.agents[index].process.terminate();
    let passkey = root.join("state").join("passkey.key");
    let old_passkey = std::fs::read(&passkey).unwrap();
    let token = |agent: &str| {
        fleet.ops.admin(&["agent", "enroll-token", agent, "--tenant", "T1"]).json["token"].as_str().unwrap().to_string()
    };
    let replace = |agent: &str, token: &str| {
        std::process::Command::new(argus_e2e::bin("argus-agent"))
            .args(["enroll", "--replace", "--install-root"])
            .arg(&root)
            .args(["--server", &fleet.ops.agent.to_string(), "--server-ca"])
            .arg(fleet.ops.ca())
            .args(["--tenant", "T1", "--agent-id", agent, "--token", token, "--patch-pubkey"])
            .arg(fleet.keys.join("patch.pub"))
            .output()
            .unwrap()
    };

    // Without --replace the enrolled root is refused, and the message says what to do.
    let out = fleet.enroll(&root, "a2", &token("a2"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--replace") && stderr.contains("a1"), "{stderr}");
    // A --replace whose enrollment fails leaves the old enrollment as it was.
    let out = replace("a2", "ent_wrong");
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&passkey).unwrap(), old_passkey, "a failed replace keeps the old passkey");
    // The revoked ID itself cannot be re-enrolled, --replace or not.
    assert!(fleet.ops.admin(&["agent", "enroll-token", "a1", "--tenant", "T1"]).json["error"] == "agent_revoked");

    let out = replace("a2", &token("a2"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_passkey = std::fs::read(&passkey).unwrap();
    assert_ne!(new_passkey, old_passkey, "the old passkey is discarded");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&passkey).unwrap().permissions().mode() & 0o777, 0o600);
    let settings = std::fs::read_to_string(root.join("state").join("agent.toml")).unwrap();
    assert!(settings.contains("a2") && !settings.contains("\"a1\""), "{settings}");
    fleet.agents.push(Agent::start(&root, fleet.ops.dir.path()));
    assert!(fleet.wait_online("a2", true), "the machine is back under its new ID");
    assert!(!fleet.online("a1"));
    let rows = fleet.op(&["agent", "ls", "--tenant", "T1"]).json;
    let state =
        |id: &str| rows["agents"].as_array().unwrap().iter().find(|a| a["agent_id"] == id).unwrap()["state"].clone();
    assert_eq!((state("a1"), state("a2")), ("revoked".into(), "enrolled".into()));
}
