//! SPEC §14 "OCSF": every event the product writes, exported as OCSF, validates against the
//! OCSF schema of its class. The check is a maintained package that carries the OCSF project's
//! schema exports offline and builds each class's JSON Schema from them (`ocsf-json-schema`,
//! validated with `jsonschema`), installed by this test into its own virtualenv under
//! `target/` — no schema is written by hand here.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use argus_e2e::{target_dir, Fleet};
use serde_json::{json, Value};

/// The pinned validator packages.
const PACKAGES: [&str; 2] = ["ocsf-json-schema==1.2.0", "jsonschema==4.26.0"];

/// The virtualenv's python, with the packages installed (once per target dir).
fn python() -> PathBuf {
    let venv = target_dir().join("ocsf-venv");
    let python = venv.join("bin").join("python");
    let ready = venv.join(format!("ready-{}", PACKAGES.join("+")));
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed (Debian: apt-get install python3-venv; .ci/test does)");
        let pip = Command::new(venv.join("bin").join("pip")).args(["install", "--quiet"]).args(PACKAGES).status();
        assert!(pip.expect("pip runs").success(), "installing {PACKAGES:?} failed");
        std::fs::write(&ready, b"").unwrap();
    }
    python
}

/// Validates `lines` (OCSF events, NDJSON): the validator's report.
fn validate(lines: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ocsf").join("validate.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the validator runs");
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("validator: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["invalid"], json!([]), "events that do not validate: {report:#}");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    report
}

/// What the server puts in a record of `event` (tenant, agent, session, details), as the
/// handlers write it.
fn sample(event: &str) -> (Option<&'static str>, Option<&'static str>, Option<&'static str>, Value) {
    let tenant = Some("T1");
    match event {
        "gate_denied" => {
            (None, None, None, json!({ "ip": "127.0.0.1", "route": "GET /support/agents", "code": "invalid_pat" }))
        }
        "pat_created" | "pat_revoked" => {
            (None, None, None, json!({ "owner": "op@example.com", "pat_id": "pat_0011223344556677" }))
        }
        "agent_auth_failed" | "agent_enroll_refused" => {
            (tenant, Some("a1"), None, json!({ "code": "agent_unknown", "ip": "127.0.0.1" }))
        }
        "remote_support_session_started" | "remote_support_session_ended" => {
            (tenant, Some("a1"), Some("ses_1"), json!({ "end_reason": "deactivated", "ttl_seconds": 900 }))
        }
        "remote_support_command" => {
            (tenant, Some("a1"), Some("ses_1"), json!({ "command": "read_file", "outcome": "path_not_allowlisted" }))
        }
        "patch_applied" | "patch_rejected" => {
            (tenant, Some("a1"), Some("ses_1"), json!({ "patch_id": "p1", "outcome": "patch_expired" }))
        }
        "kill_switch_on" | "kill_switch_off" | "agent_enrolled" | "agent_revoked" | "enrollment_token_issued" => {
            (tenant, Some("a1"), None, json!({}))
        }
        "access_requested" | "access_approved" | "access_denied" | "access_request_expired" => (
            tenant,
            Some("a1"),
            None,
            json!({ "request_id": "req_1", "requester": "op@example.com", "approver": "alice" }),
        ),
        "peer_relay_refused" => {
            (tenant, Some("a1"), Some("ses_1"), json!({ "peer": "node-2", "code": "session_not_found" }))
        }
        "audit_checkpoint" => {
            (None, None, None, json!({ "seq": 9, "hash": "ab", "tenants": {}, "key_id": "k", "signature": "00" }))
        }
        _ => (tenant, None, None, json!({ "required": true })),
    }
}

#[test]
fn every_event_the_server_writes_validates_against_its_ocsf_class() {
    // One record of every event the server writes, with the fields its class reads.
    let mut lines = String::new();
    for event in argus_ops::store::audit::AuditEvent::ALL {
        let (tenant, agent, session, details) = sample(event.as_str());
        let record = argus_fsm::audit::AuditRecord {
            seq: 1,
            at: "2026-12-06T10:00:00.250Z".into(),
            event: event.as_str().into(),
            actor: "op@example.com".into(),
            tenant: tenant.map(str::to_string),
            agent: agent.map(str::to_string),
            session_id: session.map(str::to_string),
            reason: Some("e2e".into()),
            details,
            node: Some("node-1".into()),
            tenant_seq: tenant.map(|_| 1),
            tenant_prev_hash: tenant.map(|_| argus_fsm::audit::GENESIS.to_string()),
            prev_hash: argus_fsm::audit::GENESIS.into(),
            hash: "00".into(),
        };
        lines.push_str(&argus_fsm::ocsf::to_ocsf(&record, env!("CARGO_PKG_VERSION")).to_string());
        lines.push('\n');
    }
    let report = validate(&lines);
    assert_eq!(report["events"], argus_ops::store::audit::AuditEvent::ALL.len());

    // And what a real run writes, exported as the SIEM gets it: the tenant's set-up, an
    // enrolment, a session with a command that ran and one that was refused, a refusal at the
    // gate, and the checkpoint a shutdown signs.
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let refused = fleet.command(&token, "read_file", Some(json!({ "path": "/etc/shadow" })));
    assert_ne!(refused.code, 0);
    assert_ne!(fleet.ops.ctl("argus_pat_not_a_real_one", &["agent", "ls"]).code, 0);
    assert_eq!(fleet.op(&["support", "deactivate", "T1", "--session", &token, "--reason", "done"]).code, 0);
    let port = fleet.ops.agent.port();
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    let export = fleet.op(&["audit", "export", "--format", "ocsf"]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let report = validate(&export.stdout);
    assert_eq!(report["events"], fleet.ops.audit().len());
    for class in ["authentication", "api_activity", "entity_management", "account_change"] {
        assert!(report["classes"][class].as_u64().is_some_and(|n| n > 0), "{class}: {report}");
    }
}
