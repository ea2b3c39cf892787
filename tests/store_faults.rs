//! Faults on the PostgreSQL store, through the real binaries (SPEC §10 "Store outages"):
//! the database crashes (`immediate` stop) in the middle of a stream of acknowledged writes and
//! comes back; `argus-ops` is killed with SIGKILL in the middle of one. Every acknowledged
//! action is in the audit trail afterwards, nothing refused took effect, refusals are 503
//! `store_unavailable` and quick, and the node recovers without a restart.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use argus_e2e::{Ops, OPS_TOKEN};
use serde_json::json;

/// Creates PAT `owner` through the API; the status and error code.
fn create_pat(ops: &Ops, owner: &str) -> (u16, Option<String>) {
    let pat = format!("Bearer {}", ops.admin_pat);
    let (status, body) = ops.http(
        "127.0.0.1".parse().unwrap(),
        "POST",
        "/admin/pats",
        &[("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &pat)],
        Some(json!({ "owner": owner, "scopes": ["remote_support"] })),
    );
    (status, body["error"].as_str().map(str::to_string))
}

/// Owners of `pat_created` records in the audit trail (each at most once).
fn audited_owners(ops: &Ops) -> Vec<String> {
    ops.audit_events("pat_created").iter().filter_map(|e| e["details"]["owner"].as_str().map(str::to_string)).collect()
}

fn listed_owners(ops: &Ops) -> BTreeSet<String> {
    let out = ops.admin(&["pat", "ls"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json["pats"].as_array().unwrap().iter().map(|p| p["owner"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_database_crash_mid_stream_loses_nothing_acknowledged_and_the_node_recovers_by_itself() {
    let mut ops = Ops::start_on_postgres(&[]);
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    let mut refusal_times = Vec::new();
    for i in 0..90 {
        if i == 30 {
            ops.postgres.as_ref().unwrap().stop(true);
        }
        if i == 60 {
            ops.postgres.as_mut().unwrap().start_server();
        }
        let owner = format!("op{i}@example.com");
        let started = Instant::now();
        match create_pat(&ops, &owner) {
            (201, None) => acked.push(owner),
            (503, Some(code)) if code == "store_unavailable" => {
                refusal_times.push(started.elapsed());
                refused.push(owner);
            }
            other => panic!("request {i}: unexpected answer {other:?}"),
        }
    }
    assert!(refused.len() >= 25, "the outage was seen: {} refused", refused.len());
    assert!(acked.len() >= 50, "before and after the outage: {} acknowledged", acked.len());
    assert!(acked.iter().any(|o| o == "op89@example.com"), "recovered without a restart");
    let slowest = refusal_times.iter().max().unwrap();
    assert!(*slowest < Duration::from_secs(10), "refusals are quick, slowest {slowest:?}");
    // Every acknowledged action is recorded once; nothing refused took effect.
    let audited = audited_owners(&ops);
    let listed = listed_owners(&ops);
    for owner in &acked {
        assert_eq!(audited.iter().filter(|o| *o == owner).count(), 1, "{owner} audited once");
        assert!(listed.contains(owner), "{owner} listed");
    }
    for owner in &refused {
        assert!(!audited.contains(owner) && !listed.contains(owner), "{owner} was refused yet took effect");
    }
    // The chain is one unbroken chain.
    let verify = std::process::Command::new(argus_e2e::bin("argus-ops"))
        .args(["audit", "verify", "--data-dir"])
        .arg(ops.data())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(ops.stop().success());
}

#[test]
fn killing_the_node_loses_no_acknowledged_record() {
    let mut ops = Ops::start_on_postgres(&[]);
    let mut acked = Vec::new();
    for i in 0..40 {
        let owner = format!("k{i}@example.com");
        if create_pat(&ops, &owner) == (201, None) {
            acked.push(owner);
        }
    }
    // SIGKILL: no shutdown flush.
    let server = ops.server.as_mut().unwrap();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    ops.server = None;
    ops.serve(None);
    let audited = audited_owners(&ops);
    assert_eq!(acked.len(), 40);
    for owner in &acked {
        assert!(audited.contains(owner), "{owner} acknowledged before the kill, and lost");
    }
}
