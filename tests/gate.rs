//! The operator gate through the real server: every factor, its order, scopes, the
//! spoofed-X-Forwarded-For case from outside the operator network, and the disabled flag.

use std::net::IpAddr;

use argus_e2e::{Fleet, Ops, OPS_TOKEN};
use serde_json::json;

/// Headers of one request in the matrix.
type Headers<'a> = Vec<(&'a str, &'a str)>;

fn local(ip: &str) -> IpAddr {
    ip.parse().unwrap()
}

fn bearer(pat: &str) -> String {
    format!("Bearer {pat}")
}

#[test]
fn every_factor_is_required_in_order_and_audited() {
    let fleet = Fleet::armed(&[]);
    let ops = &fleet.ops;
    let pat = bearer(&fleet.operator);
    let lo = local("127.0.0.1");
    let path = "/support/fleet";
    let cases: Vec<(Headers, u16, &str)> = vec![
        (vec![], 403, "bad_ops_token"),
        (vec![("Authorization", &pat)], 403, "bad_ops_token"),
        (vec![("X-Argus-Ops-Token", "wrong"), ("Authorization", &pat)], 403, "bad_ops_token"),
        (vec![("X-Argus-Ops-Token", OPS_TOKEN)], 401, "invalid_pat"),
        (vec![("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", "Bearer argus_pat_0000")], 401, "invalid_pat"),
        (vec![("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &fleet.operator)], 401, "invalid_pat"),
        (vec![("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &pat)], 200, ""),
    ];
    for (headers, status, code) in &cases {
        let (got, body) = ops.http(lo, "GET", path, headers, None);
        assert_eq!(got, *status, "{headers:?}: {body}");
        if !code.is_empty() {
            assert_eq!(body["error"], *code, "{headers:?}");
            assert!(body["message"].is_string());
        }
    }
    let denied = ops.audit_events("gate_denied");
    assert_eq!(denied.len(), 6, "each refusal is audited once: {denied:?}");
    for event in &denied {
        assert_eq!(event["details"]["ip"], "127.0.0.1");
    }
    assert!(denied.iter().any(|e| e["details"]["factor"] == "ops_token"));
    assert!(denied.iter().any(|e| e["details"]["factor"] == "pat"));
}

#[test]
fn caller_outside_the_operator_network_is_refused_even_with_a_spoofed_forwarded_for() {
    let fleet = Fleet::armed(&[]);
    let pat = bearer(&fleet.operator);
    let headers = [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", pat.as_str()), ("X-Forwarded-For", "127.0.0.1")];
    let (status, body) = fleet.ops.http(local("127.0.0.2"), "GET", "/support/fleet", &headers, None);
    assert_eq!((status, body["error"].as_str()), (403, Some("ip_not_allowlisted")));
    let denied = fleet.ops.audit_events("gate_denied");
    assert!(denied.iter().any(|e| e["details"]["ip"] == "127.0.0.2" && e["details"]["factor"] == "ip"));
}

#[test]
fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let fleet = Fleet::armed(&[
        ("REMOTE_SUPPORT_OPERATOR_CIDRS", "127.0.0.1/32"),
        ("REMOTE_SUPPORT_TRUSTED_PROXIES", "127.0.0.3/32"),
    ]);
    let pat = bearer(&fleet.operator);
    let forwarded =
        [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", pat.as_str()), ("X-Forwarded-For", "127.0.0.1")];
    let (status, _) = fleet.ops.http(local("127.0.0.3"), "GET", "/support/fleet", &forwarded, None);
    assert_eq!(status, 200, "the trusted proxy vouches for an operator-network client");
    let outside = [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", pat.as_str()), ("X-Forwarded-For", "10.9.9.9")];
    let (status, body) = fleet.ops.http(local("127.0.0.3"), "GET", "/support/fleet", &outside, None);
    assert_eq!((status, body["error"].as_str()), (403, Some("ip_not_allowlisted")));
}

#[test]
fn disabled_flag_closes_support_routes_but_not_admin_routes() {
    let ops = Ops::start(&[("REMOTE_SUPPORT_ENABLED", "0")]);
    let pat = bearer(&ops.admin_pat);
    let headers = [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", pat.as_str())];
    let (status, body) = ops.http(local("127.0.0.1"), "GET", "/support/fleet", &headers, None);
    assert_eq!((status, body["error"].as_str()), (403, Some("remote_support_disabled")));
    // Disabled answers first, even from outside the operator network.
    let (status, body) = ops.http(local("127.0.0.2"), "GET", "/support/fleet", &[], None);
    assert_eq!((status, body["error"].as_str()), (403, Some("remote_support_disabled")));
    let (status, _) = ops.http(
        local("127.0.0.1"),
        "POST",
        "/admin/pats",
        &headers,
        Some(json!({"owner": "x@y", "scopes": ["remote_support"]})),
    );
    assert_eq!(status, 201);
}

#[test]
fn scopes_are_enforced_per_route() {
    let fleet = Fleet::armed(&[]);
    let ops = &fleet.ops;
    // An operator cannot create PATs or tenants, arm, or issue enrollment tokens.
    for args in [
        vec!["pat", "create", "--owner", "x@y", "--scope", "admin"],
        vec!["tenant", "arm", "T1", "--reason", "r"],
        vec!["agent", "enroll-token", "a9", "--tenant", "T1"],
    ] {
        let out = fleet.op(&args);
        assert_eq!((out.code, out.json["error"].as_str()), (1, Some("missing_role")), "{args:?}: {}", out.stdout);
    }
    // A tenant admin acts on its own tenant only and cannot read the fleet or activate.
    let t2_key = fleet.keys.join("tenant.pub");
    assert_eq!(ops.admin(&["tenant", "create", "T2", "--consent-key", t2_key.to_str().unwrap()]).code, 0);
    let tenant_admin =
        ops.admin(&["pat", "create", "--owner", "admin@t1", "--scope", "tenant_admin", "--tenant", "T1"]).json["pat"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(ops.ctl(&tenant_admin, &["tenant", "disarm", "T1", "--reason", "r"]).code, 0);
    assert_eq!(ops.ctl(&tenant_admin, &["tenant", "arm", "T1", "--reason", "r"]).code, 0);
    assert_eq!(ops.ctl(&tenant_admin, &["tenant", "show", "T2"]).json["error"], "missing_role");
    assert_eq!(ops.ctl(&tenant_admin, &["agent", "fleet"]).json["error"], "missing_role");
    let activate = ops.ctl(&tenant_admin, &["agent", "activate", "a1", "--tenant", "T1", "--reason", "r"]);
    assert_eq!(activate.json["error"], "missing_role");
    // A tenant_admin PAT must name an existing tenant.
    let out = ops.admin(&["pat", "create", "--owner", "x@y", "--scope", "tenant_admin"]);
    assert_eq!(out.json["error"], "bad_request");
    assert!(ops.audit_events("gate_denied").iter().any(|e| e["details"]["factor"] == "scope"));
}

#[test]
fn repeated_failures_from_one_ip_are_slowed_without_locking_out_others() {
    let fleet = Fleet::armed(&[("REMOTE_SUPPORT_OPERATOR_CIDRS", "127.0.0.0/8")]);
    let ops = &fleet.ops;
    let bad = local("127.0.0.9");
    let mut limited = false;
    for _ in 0..40 {
        let (status, body) = ops.http(bad, "GET", "/support/fleet", &[("X-Argus-Ops-Token", "guess")], None);
        if status == 429 {
            assert_eq!(body["error"], "rate_limited");
            limited = true;
            break;
        }
    }
    assert!(limited, "40 failures in a row were never slowed");
    let pat = bearer(&fleet.operator);
    let (status, _) = ops.http(
        local("127.0.0.1"),
        "GET",
        "/support/fleet",
        &[("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", &pat)],
        None,
    );
    assert_eq!(status, 200, "another address of the operator network still gets in");
}

#[test]
fn unknown_routes_bad_bodies_and_oversized_bodies_answer_spec_codes() {
    let fleet = Fleet::armed(&[]);
    let pat = bearer(&fleet.operator);
    let headers = [("X-Argus-Ops-Token", OPS_TOKEN), ("Authorization", pat.as_str())];
    let lo = local("127.0.0.1");
    let (status, body) = fleet.ops.http(lo, "GET", "/nope", &[], None);
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = fleet.ops.http(lo, "DELETE", "/support/fleet", &headers, None);
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) =
        fleet.ops.http(lo, "POST", "/support/agents/a1/activate", &headers, Some(json!("just a string")));
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let huge = json!({ "tenant": "T1", "reason": "x".repeat(3 * 1024 * 1024) });
    let (status, body) = fleet.ops.http(lo, "POST", "/support/agents/a1/activate", &headers, Some(huge));
    assert_eq!((status, body["error"].as_str()), (413, Some("too_large")));
    let (status, body) = fleet.ops.http(lo, "GET", "/healthz", &[], None);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["browser_path"], false);
}
