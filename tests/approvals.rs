//! SPEC §13 "The agent's policy", against the real `argus-agent` binary.
//!
//! The breached-server test: a real agent with approvers set dials what it believes is its
//! server — here a stand-in on the server's address with the server's certificate, speaking
//! the link protocol from the project's own fsm and transport code, as an attacker who holds
//! the server would. It sends grants and commands with no approval, a forged one, one for
//! another agent, one for another requester, a longer session than approved, and a replay of a
//! used request (also after the agent restarts). The agent runs none of them; the one properly
//! approved session runs, so the refusals are not the link failing.

use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Duration;

use argus_e2e::{bin, sample_install_root, Agent, Fleet};
use argus_fsm::approval::{sign_approval, ApprovalBody, GrantApproval};
use argus_fsm::command::Command;
use argus_fsm::signed::{format_key_file, key_id, sha256};
use argus_fsm::wire::{AgentMessage, Reply, ServerMessage, SessionGrant};
use argus_fsm::{Code, Timestamp};
use argus_transport_quic::{read_frame, write_frame};
use ed25519_dalek::SigningKey;

const REQUEST: &str = "3f8e2d1c-4b5a-4c6d-8e7f-9a0b1c2d3e4f";
const REASON: &str = "INC-7 camera offline";

fn approver(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn now_s() -> i64 {
    argus_agent::now().0 / 1000
}

/// An approval as `argusctl access approve` makes it, for agent `agent_id`.
fn approval(request: &str, agent_id: &str, requester: &str, max_ttl_seconds: u32) -> ApprovalBody {
    ApprovalBody {
        version: 1,
        request_id: request.into(),
        tenant: "T1".into(),
        agent_id: agent_id.into(),
        requester: requester.into(),
        reason_sha256: sha256(REASON.as_bytes()),
        max_ttl_seconds,
        not_before: now_s() - 60,
        not_after: now_s() + 600,
        approver: "tenant-admin".into(),
    }
}

fn grant(session: &str, request: &str, approvals: Vec<argus_fsm::signed::Envelope>, ttl_ms: i64) -> SessionGrant {
    SessionGrant {
        session_id: session.into(),
        tenant: "T1".into(),
        owner: "operator@example.com".into(),
        expires_at: Timestamp(argus_agent::now().0 + ttl_ms),
        approval: (!approvals.is_empty() || !request.is_empty())
            .then(|| Box::new(GrantApproval { request_id: request.into(), reason: REASON.into(), approvals })),
    }
}

fn write_key(path: &Path, key: &SigningKey) {
    std::fs::write(path, format_key_file(&key.verifying_key().to_bytes())).unwrap();
}

fn approvers(root: &Path, args: &[&str]) -> std::process::Output {
    Process::new(bin("argus-agent")).arg("approvers").args(args).arg("--install-root").arg(root).output().unwrap()
}

/// The server's side of one link, as a breached server runs it.
struct Link {
    connection: quinn::Connection,
    control: quinn::SendStream,
    /// What the agent sends on its control stream (manifest, refusals of grants).
    heard: tokio::sync::mpsc::UnboundedReceiver<AgentMessage>,
}

impl Link {
    /// Accepts the agent's next connection and welcomes it with `sessions`.
    async fn accept(endpoint: &quinn::Endpoint, sessions: Vec<SessionGrant>) -> Link {
        let connection = endpoint.accept().await.expect("the agent dials").await.expect("QUIC handshake");
        let (mut control, mut recv) = connection.accept_bi().await.unwrap();
        let hello = read_frame::<AgentMessage>(&mut recv).await.unwrap();
        assert!(matches!(hello, Some(AgentMessage::ProvedHello { .. })), "{hello:?}");
        write_frame(&mut control, &ServerMessage::Welcome { sessions }).await.unwrap();
        let (tell, heard) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(message)) = read_frame::<AgentMessage>(&mut recv).await {
                if tell.send(message).is_err() {
                    break;
                }
            }
        });
        Link { connection, control, heard }
    }

    /// Sends a command under `grant` on a stream of its own, as the server relays one.
    async fn command(&self, grant: &SessionGrant) -> Reply {
        let (mut send, mut recv) = self.connection.open_bi().await.unwrap();
        let command = Command::ReadFile { path: "config.yaml".try_into().unwrap() };
        write_frame(&mut send, &ServerMessage::Request { grant: grant.clone(), command }).await.unwrap();
        let _ = send.finish();
        match tokio::time::timeout(Duration::from_secs(10), read_frame::<AgentMessage>(&mut recv)).await {
            Ok(Ok(Some(AgentMessage::Reply(reply)))) => reply,
            other => panic!("no reply: {other:?}"),
        }
    }

    /// The next control-stream message that is not a manifest.
    async fn next_told(&mut self) -> AgentMessage {
        loop {
            let told = tokio::time::timeout(Duration::from_secs(10), self.heard.recv()).await;
            match told {
                Ok(Some(AgentMessage::Manifest(_))) => continue,
                Ok(Some(message)) => return message,
                other => panic!("the agent told nothing: {other:?}"),
            }
        }
    }
}

fn refused(reply: &Reply) -> Option<Code> {
    match reply {
        Reply::Refused { code, .. } => Some(*code),
        Reply::Ok { .. } => None,
    }
}

#[test]
fn a_breached_server_cannot_open_a_session_the_tenant_did_not_approve() {
    let mut fleet = Fleet::armed(&[]);
    let root = fleet.ops.dir.path().join("root-a1");
    sample_install_root(&root);
    let token = fleet.ops.admin(&["agent", "enroll-token", "a1", "--tenant", "T1"]);
    let out = fleet.enroll(&root, "a1", token.json["token"].as_str().unwrap());
    assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
    // The tenant's two approvers; threshold 1 here (two is tested on the pure machine and
    // below through the CLI's validation).
    let keys = fleet.ops.dir.path();
    write_key(&keys.join("alice.pub"), &approver(1));
    write_key(&keys.join("bob.pub"), &approver(2));
    let alice = keys.join("alice.pub");
    let bob = keys.join("bob.pub");
    let set = approvers(&root, &["set", "--key", alice.to_str().unwrap(), "--key", bob.to_str().unwrap()]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let shown = approvers(&root, &["show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["approval_threshold"], 1);
    assert_eq!(shown["key_ids"][0], key_id(&approver(1).verifying_key()));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(root.join("state").join("approvers.toml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The server is now the attacker's: same address, same certificate.
    let addr = fleet.ops.agent;
    fleet.ops.stop();
    let tls = fleet.ops.data().join("tls");
    let certs = argus_transport_quic::parse_certificates(&std::fs::read(tls.join("server.pem")).unwrap()).unwrap();
    let key = argus_transport_quic::parse_private_key(&std::fs::read(tls.join("server.key")).unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tickets = Arc::new(argus_transport_quic::TicketKeys::ephemeral().unwrap());
    let endpoint = rt.block_on(async { argus_transport_quic::server_endpoint(addr, certs, key, tickets).unwrap() });
    fleet.agents.push(Agent::start(&root, fleet.ops.dir.path()));

    rt.block_on(async {
        // A live session in the Welcome, without approvals: refused and told.
        let mut link = Link::accept(&endpoint, vec![grant("ses_welcome", "", vec![], 60_000)]).await;
        assert_eq!(
            link.next_told().await,
            AgentMessage::GrantRefused { session_id: "ses_welcome".into(), code: Code::ApprovalRequired }
        );
        // A grant on the control stream without approvals: refused and told.
        let bare = grant("ses_bare", "", vec![], 60_000);
        write_frame(&mut link.control, &ServerMessage::SessionGranted(bare.clone())).await.unwrap();
        assert_eq!(
            link.next_told().await,
            AgentMessage::GrantRefused { session_id: "ses_bare".into(), code: Code::ApprovalRequired }
        );
        // Commands riding on hostile grants.
        let requester = "operator@example.com";
        let mut forged = sign_approval(&approver(9), &approval(REQUEST, "a1", requester, 600));
        forged.key_id = key_id(&approver(1).verifying_key());
        let unlisted = sign_approval(&approver(9), &approval(REQUEST, "a1", requester, 600));
        let other_agent = sign_approval(&approver(1), &approval(REQUEST, "a2", requester, 600));
        let other_requester = sign_approval(&approver(1), &approval(REQUEST, "a1", "eve@example.com", 600));
        let short = sign_approval(&approver(1), &approval(REQUEST, "a1", requester, 60));
        let other_tenant = sign_approval(
            &approver(1),
            &ApprovalBody { tenant: "T2".into(), ..approval(REQUEST, "a1", requester, 600) },
        );
        let lapsed = sign_approval(
            &approver(1),
            &ApprovalBody {
                not_before: now_s() - 900,
                not_after: now_s() - 300,
                ..approval(REQUEST, "a1", requester, 600)
            },
        );
        let early = sign_approval(
            &approver(1),
            &ApprovalBody {
                not_before: now_s() + 300,
                not_after: now_s() + 900,
                ..approval(REQUEST, "a1", requester, 600)
            },
        );
        let hostile = [
            ("another tenant", grant("ses_h7", REQUEST, vec![other_tenant], 60_000), Code::ApprovalInvalid),
            ("after its window", grant("ses_h8", REQUEST, vec![lapsed], 60_000), Code::ApprovalInvalid),
            ("before its window", grant("ses_h9", REQUEST, vec![early], 60_000), Code::ApprovalInvalid),
            ("no approval", grant("ses_h1", "", vec![], 60_000), Code::ApprovalRequired),
            ("forged", grant("ses_h2", REQUEST, vec![forged], 60_000), Code::ApprovalInvalid),
            ("unlisted key", grant("ses_h3", REQUEST, vec![unlisted], 60_000), Code::ApprovalInvalid),
            ("another agent", grant("ses_h4", REQUEST, vec![other_agent], 60_000), Code::ApprovalInvalid),
            ("another requester", grant("ses_h5", REQUEST, vec![other_requester], 60_000), Code::ApprovalInvalid),
            ("longer than approved", grant("ses_h6", REQUEST, vec![short], 600_000), Code::ApprovalInvalid),
            ("the refused Welcome session", grant("ses_welcome", "", vec![], 60_000), Code::ApprovalRequired),
        ];
        for (what, grant, code) in &hostile {
            assert_eq!(refused(&link.command(grant).await), Some(*code), "{what}");
        }
        // The one approved session runs: the link works and the check is not vacuous.
        let good = sign_approval(&approver(2), &approval(REQUEST, "a1", requester, 600));
        let approved = grant("ses_ok", REQUEST, vec![good.clone()], 60_000);
        let reply = link.command(&approved).await;
        assert!(matches!(&reply, Reply::Ok { result_json } if result_json.contains("poll: 5")), "{reply:?}");
        // The same approvals for another session: a replay.
        let replay = grant("ses_replay", REQUEST, vec![good.clone()], 60_000);
        assert_eq!(refused(&link.command(&replay).await), Some(Code::ApprovalInvalid), "replayed");
        link.connection.close(0u32.into(), b"bye");
    });

    // The agent restarts (its memory is on disk); the breached server replays again.
    fleet.agents[0].process.terminate();
    fleet.agents.clear();
    fleet.agents.push(Agent::start(&root, fleet.ops.dir.path()));
    rt.block_on(async {
        let link = Link::accept(&endpoint, vec![]).await;
        let good = sign_approval(&approver(2), &approval(REQUEST, "a1", "operator@example.com", 600));
        let replay = grant("ses_replay_2", REQUEST, vec![good], 60_000);
        assert_eq!(refused(&link.command(&replay).await), Some(Code::ApprovalInvalid), "replayed after a restart");
        link.connection.close(0u32.into(), b"bye");
    });

    // Nothing ran but the approved session's one command (the agent's own record).
    let log = std::fs::read_to_string(&fleet.agents[0].process.log).unwrap();
    let executed: Vec<&str> = log.lines().filter(|l| l.contains("command executed")).collect();
    assert_eq!(executed.len(), 1, "{executed:#?}");
    assert!(executed[0].contains("session=ses_ok"), "{}", executed[0]);
}

#[test]
fn the_approvers_cli_checks_what_it_is_given_and_clear_restores_the_plain_flow() {
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("a1");
    let root = fleet.agents[index].root.clone();
    let keys = fleet.ops.dir.path();
    write_key(&keys.join("alice.pub"), &approver(1));
    let alice = keys.join("alice.pub");
    // A threshold the keys cannot reach, a key file that is not a key: refused, nothing set.
    let out = approvers(&root, &["set", "--key", alice.to_str().unwrap(), "--threshold", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(keys.join("junk.pub"), "not a key\n").unwrap();
    let out = approvers(&root, &["set", "--key", keys.join("junk.pub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!root.join("state").join("approvers.toml").exists());
    // Set while the agent runs, with a session open: the agent itself refuses it from now on.
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    assert!(approvers(&root, &["set", "--key", alice.to_str().unwrap()]).status.success());
    let out = fleet.command(&token, "ping", None);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("approval_required"), "{}", out.stderr);
    let reports = |required: bool| {
        argus_e2e::wait_until(Duration::from_secs(10), || {
            fleet.op(&["agent", "capabilities", "a1"]).json["manifest"]["approval_required"] == required
        })
    };
    assert!(reports(true), "the manifest reports the policy");
    // Once the server knows, it refuses a plain activation itself (the agent would).
    assert_eq!(fleet.op(&["support", "deactivate", "T1", "--session", &token, "--reason", "done"]).code, 0);
    let plain = fleet.op(&["agent", "activate", "a1", "--tenant", "T1", "--reason", "e2e"]);
    assert_eq!((plain.code, plain.json["error"].as_str()), (1, Some("approval_required")), "{}", plain.stdout);
    // Cleared: the plain flow again.
    assert!(approvers(&root, &["clear"]).status.success());
    assert!(reports(false), "the manifest reports no policy");
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    let shown = approvers(&root, &["show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["approval_required"], false);
}

/// SPEC §13 "Access requests", the server's side: an operator asks; the tenant's admin sees it
/// (another tenant's PATs do not: 404), approves it with a key signed on this machine by
/// `argusctl access approve` (an operator cannot), and cannot decide it twice; an approval
/// for another agent is refused (400 `approval_invalid`); a request can be denied. Each step
/// is audited with the request's ID.
#[test]
fn access_requests_are_asked_approved_with_the_tenants_keys_or_denied_and_seen_only_by_their_tenant() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let ops = &fleet.ops;
    let keys = fleet.keys.clone();
    let ok = |out: &argus_e2e::Output| assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let refused = |out: &argus_e2e::Output, code: &str| {
        assert_eq!((out.code, out.json["error"].as_str()), (1, Some(code)), "{} {}", out.stdout, out.stderr)
    };
    let asked = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", REASON, "--ttl", "45m"]);
    ok(&asked);
    let id = asked.json["request_id"].as_str().unwrap().to_string();
    assert_eq!(asked.json["state"], "pending");
    assert_eq!(
        (asked.json["requester"].as_str(), asked.json["ttl_seconds"].as_u64()),
        (Some("op@example.com"), Some(2_700))
    );
    assert_eq!(asked.json["reason"], REASON);
    refused(&fleet.op(&["access", "request", "nobody", "--tenant", "T1", "--reason", "x"]), "agent_not_found");
    // Longer than any session may last: argusctl refuses it before sending, the server too.
    let too_long = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", "x", "--ttl", "3h"]);
    assert!(too_long.code == 2 && too_long.stderr.contains("ttl_exceeds_cap"), "{}", too_long.stderr);
    let bearer = format!("Bearer {}", fleet.operator);
    let headers = [("authorization", bearer.as_str()), ("x-argus-ops-token", argus_e2e::OPS_TOKEN)];
    let body = serde_json::json!({ "tenant": "T1", "reason": "x", "ttl_seconds": 10_800 });
    let (status, answer) =
        ops.http("127.0.0.1".parse().unwrap(), "POST", "/support/agents/a1/access-requests", &headers, Some(body));
    assert_eq!((status, answer["error"].as_str()), (400, Some("ttl_exceeds_cap")), "{answer}");

    // The tenant's admin sees it; another tenant's PAT does not know it exists.
    let pat = |owner: &str, tenant: &str| {
        let out = ops.admin(&["pat", "create", "--owner", owner, "--scope", "tenant_admin", "--tenant", tenant]);
        ok(&out);
        out.json["pat"].as_str().unwrap().to_string()
    };
    ok(&ops.admin(&["tenant", "create", "T2", "--consent-key", keys.join("tenant.pub").to_str().unwrap()]));
    let (admin, stranger) = (pat("admin@t1.example", "T1"), pat("admin@t2.example", "T2"));
    let pending = ops.ctl(&admin, &["access", "ls", "--tenant", "T1", "--pending"]);
    ok(&pending);
    let listed: Vec<&str> =
        pending.json["access_requests"].as_array().unwrap().iter().filter_map(|r| r["request_id"].as_str()).collect();
    assert_eq!(listed, vec![id.as_str()]);
    refused(&ops.ctl(&stranger, &["access", "show", &id]), "request_not_found");
    refused(&ops.ctl(&stranger, &["access", "ls", "--tenant", "T1"]), "missing_role");

    // Approved with the approver's own key, signed here; the operator cannot approve.
    let key = keys.join("approver");
    ok(&argus_e2e::ctl_with(&[], &["keygen", "--out", key.to_str().unwrap()]));
    let key = keys.join("approver.key");
    let approve =
        |pat: &str| ops.ctl(pat, &["access", "approve", &id, "--key", key.to_str().unwrap(), "--approver", "Jane Roe"]);
    refused(&approve(&fleet.operator), "missing_role");
    let approved = approve(&admin);
    ok(&approved);
    assert_eq!(
        (approved.json["state"].as_str(), approved.json["approvers"].clone()),
        (Some("approved"), serde_json::json!(["Jane Roe"]))
    );
    refused(&approve(&admin), "request_not_pending");

    // A second request: an approval that binds another agent is refused as a bad upload; then
    // it is denied, once.
    let second = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", REASON]);
    ok(&second);
    let second = second.json["request_id"].as_str().unwrap().to_string();
    let foreign = sign_approval(&approver(3), &approval(&second, "a2", "op@example.com", 1_800));
    let bearer = format!("Bearer {admin}");
    let headers = [("authorization", bearer.as_str()), ("x-argus-ops-token", argus_e2e::OPS_TOKEN)];
    let path = format!("/support/access-requests/{second}/approvals");
    let body = serde_json::to_value(&foreign).unwrap();
    let (status, answer) = ops.http("127.0.0.1".parse().unwrap(), "POST", &path, &headers, Some(body));
    assert_eq!((status, answer["error"].as_str()), (400, Some("approval_invalid")), "{answer}");
    let denied = ops.ctl(&admin, &["access", "deny", &second, "--reason", "not during the freeze"]);
    ok(&denied);
    assert_eq!(denied.json["state"], "denied");
    refused(&ops.ctl(&admin, &["access", "deny", &second, "--reason", "again"]), "request_not_pending");
    let shown = fleet.op(&["access", "show", &second]);
    assert_eq!(shown.json["state"], "denied");

    // Every step on record, with the request's ID.
    let ids = |event: &str| -> Vec<String> {
        ops.audit_events(event).iter().filter_map(|e| e["details"]["request_id"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(ids("access_requested"), vec![id.clone(), second.clone()]);
    assert_eq!(ids("access_approved"), vec![id.clone()]);
    assert_eq!(ids("access_denied"), vec![second.clone()]);
    let denial = &ops.audit_events("access_denied")[0];
    assert_eq!(
        (denial["actor"].as_str(), denial["reason"].as_str()),
        (Some("admin@t1.example"), Some("not during the freeze"))
    );
}

/// SPEC §13 "Activating with approvals", through the real binaries: an agent whose owner
/// requires two of Alice's and Bob's keys. A plain activation and one under a request that is
/// still pending are refused; one longer than approved too; the approved request opens one
/// session the agent accepted (commands run, the trail names the request), and never a second.
/// A request the server counted as approved but the agent refuses (an unlisted key) answers the
/// agent's refusal and leaves no live session; a denied request opens nothing; the tenant's
/// flag refuses plain activations even where no agent policy is set.
#[test]
fn an_approved_request_opens_one_session_the_agent_accepted_and_nothing_else_opens() {
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("a1");
    let root = fleet.agents[index].root.clone();
    let keys = fleet.keys.clone();
    let ok = |out: &argus_e2e::Output| assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let refused = |out: &argus_e2e::Output, code: &str| {
        assert_eq!((out.code, out.json["error"].as_str()), (1, Some(code)), "{} {}", out.stdout, out.stderr)
    };
    for name in ["alice", "bob", "carol"] {
        ok(&argus_e2e::ctl_with(&[], &["keygen", "--out", keys.join(name).to_str().unwrap()]));
    }
    let public = |name: &str| keys.join(format!("{name}.pub")).to_str().unwrap().to_string();
    let set = approvers(&root, &["set", "--key", &public("alice"), "--key", &public("bob"), "--threshold", "2"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    assert!(
        argus_e2e::wait_until(Duration::from_secs(10), || {
            fleet.op(&["agent", "capabilities", "a1"]).json["manifest"]["approval_threshold"] == 2
        }),
        "the manifest reports the threshold"
    );
    let out =
        fleet.ops.admin(&["pat", "create", "--owner", "admin@t1.example", "--scope", "tenant_admin", "--tenant", "T1"]);
    ok(&out);
    let admin = out.json["pat"].as_str().unwrap().to_string();
    let ask = |ttl: &str| {
        let out = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", REASON, "--ttl", ttl]);
        ok(&out);
        out.json["request_id"].as_str().unwrap().to_string()
    };
    let approve = |id: &str, name: &str| {
        let key = keys.join(format!("{name}.key"));
        fleet.ops.ctl(&admin, &["access", "approve", id, "--key", key.to_str().unwrap(), "--approver", name])
    };
    let activate = |id: &str, extra: &[&str]| {
        let mut args = vec!["agent", "activate", "a1", "--tenant", "T1", "--request", id];
        args.extend_from_slice(extra);
        fleet.op(&args)
    };

    // Without a request, and under one still pending: refused before anything reaches the agent.
    refused(&fleet.op(&["agent", "activate", "a1", "--tenant", "T1", "--reason", "e2e"]), "approval_required");
    let first = ask("30m");
    let once = approve(&first, "alice");
    ok(&once);
    assert_eq!(once.json["state"], "pending", "one of two keys");
    refused(&activate(&first, &[]), "approval_required");
    ok(&approve(&first, "bob"));
    refused(&activate(&first, &["--ttl", "45m"]), "ttl_exceeds_approval");
    refused(&activate("7d4f1c2a-9b3e-4f6a-8c1d-2e3f4a5b6c7d", &[]), "request_not_found");

    // Approved: the session the agent accepted, its commands, its end; never a second one.
    let opened = activate(&first, &[]);
    ok(&opened);
    let token = opened.json["session_token"].as_str().unwrap().to_string();
    ok(&fleet.command(&token, "ping", None));
    ok(&fleet.op(&["support", "deactivate", "T1", "--session", &token, "--reason", "done"]));
    refused(&activate(&first, &[]), "approval_invalid");
    let shown = fleet.op(&["access", "show", &first]);
    assert_eq!(shown.json["state"], "used", "{}", shown.stdout);
    let started = fleet.ops.audit_events("remote_support_session_started");
    assert_eq!(started.len(), 1, "{started:#?}");
    assert_eq!(
        (started[0]["details"]["request_id"].as_str(), started[0]["reason"].as_str()),
        (Some(first.as_str()), Some(REASON)),
        "the session's reason is the request's"
    );
    assert_eq!(started[0]["details"]["ttl_seconds"], 1_800, "the approved length");

    // Approved on the server by two keys, one of them unlisted on the agent: the agent refuses
    // the grant, the activation answers its refusal, and no live session remains.
    let second = ask("30m");
    ok(&approve(&second, "alice"));
    let counted = approve(&second, "carol");
    assert_eq!(counted.json["state"], "approved", "the server cannot tell the keys apart");
    refused(&activate(&second, &[]), "approval_invalid");
    let agents = fleet.op(&["agent", "ls", "--tenant", "T1"]);
    assert_eq!(agents.json["agents"][0]["session_active"], false, "{}", agents.stdout);
    let ended = fleet.ops.audit_events("remote_support_session_ended");
    let withdrawn = ended.last().unwrap();
    assert_eq!(
        (withdrawn["actor"].as_str(), withdrawn["reason"].as_str()),
        (Some("system"), Some("deactivated")),
        "{withdrawn}"
    );
    let third = ask("10m");
    ok(&approve(&third, "alice"));
    ok(&approve(&third, "bob"));
    let opened = activate(&third, &[]);
    ok(&opened);
    ok(&fleet.command(opened.json["session_token"].as_str().unwrap(), "ping", None));
    ok(&fleet.op(&[
        "support",
        "deactivate",
        "T1",
        "--session",
        opened.json["session_token"].as_str().unwrap(),
        "--reason",
        "done",
    ]));

    // Denied: nothing opens.
    let denied = ask("10m");
    ok(&fleet.ops.ctl(&admin, &["access", "deny", &denied, "--reason", "not now"]));
    refused(&activate(&denied, &[]), "approval_invalid");

    // The tenant's flag: an operator cannot set it; with it, a plain activation is refused even
    // once the agent has no policy; off, the plain flow again.
    assert!(approvers(&root, &["clear"]).status.success());
    assert!(argus_e2e::wait_until(Duration::from_secs(10), || {
        fleet.op(&["agent", "capabilities", "a1"]).json["manifest"]["approval_threshold"] == 0
    }));
    refused(&fleet.op(&["tenant", "approval", "T1", "--required"]), "missing_role");
    let flagged = fleet.ops.ctl(&admin, &["tenant", "approval", "T1", "--required"]);
    ok(&flagged);
    assert_eq!(flagged.json["approval_required"], true, "{}", flagged.stdout);
    refused(&fleet.op(&["agent", "activate", "a1", "--tenant", "T1", "--reason", "e2e"]), "approval_required");
    ok(&fleet.ops.ctl(&admin, &["tenant", "approval", "T1", "--off"]));
    let token = fleet.activate("a1");
    ok(&fleet.command(&token, "ping", None));
    let set = fleet.ops.audit_events("tenant_approval_set");
    assert_eq!(set.len(), 2, "{set:#?}");
    assert_eq!(
        (set[0]["details"]["approval_required"].as_bool(), set[1]["details"]["approval_required"].as_bool()),
        (Some(true), Some(false))
    );
}

/// A pending request expires an hour after it was made (SPEC §13): recorded once by the server,
/// and it opens nothing. The hour is not waited for: the request is written an hour older into
/// the stopped server's store, and the restarted server's expiry sweep finds it lapsed.
#[test]
fn a_request_left_pending_for_an_hour_expires_and_opens_nothing() {
    let mut fleet = Fleet::armed_on(argus_e2e::Ops::start_on_sled(&[]));
    fleet.add_agent("a1");
    let asked = fleet.op(&["access", "request", "a1", "--tenant", "T1", "--reason", REASON]);
    assert_eq!(asked.code, 0, "{}", asked.stderr);
    let id = asked.json["request_id"].as_str().unwrap().to_string();
    let port = fleet.ops.agent.port();
    fleet.ops.stop();
    {
        use argus_ops::store::Store as _;
        let store = argus_ops::store::SledStore::open(&fleet.ops.data().join("db")).unwrap();
        let snapshot = store.load().unwrap();
        let mut request = snapshot.requests.into_iter().find(|r| r.request_id == id).expect("stored");
        let hour = argus_fsm::access::REQUEST_LIFETIME_MS + 1_000;
        request.created_at = Timestamp(request.created_at.0 - hour);
        request.expires_at = Timestamp(request.expires_at.0 - hour);
        store.commit(&[argus_ops::store::Write::AccessRequest(request)]).unwrap();
        drop(store);
        // Let go of the database, so the server (another process) can open it.
        argus_ops::store::SledStore::forget(&fleet.ops.data().join("db"));
    }
    fleet.ops.serve(Some(port));
    assert!(
        argus_e2e::wait_until(Duration::from_secs(10), || fleet.op(&["access", "show", &id]).json["state"]
            == "expired"),
        "the sweep expires it"
    );
    let expired = fleet.ops.audit_events("access_request_expired");
    assert_eq!(expired.len(), 1, "{expired:#?}");
    assert_eq!(
        (expired[0]["actor"].as_str(), expired[0]["details"]["request_id"].as_str()),
        (Some("system"), Some(id.as_str()))
    );
    assert!(fleet.wait_online("a1", true));
    let out = fleet.op(&["agent", "activate", "a1", "--tenant", "T1", "--request", &id]);
    assert_eq!((out.code, out.json["error"].as_str()), (1, Some("approval_invalid")), "{}", out.stdout);
}
