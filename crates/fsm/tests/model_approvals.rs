//! The agent's approval guard (SPEC §13) driven by random histories: grants for a few sessions
//! and access requests, signed by listed and unlisted keys, whole or tampered with, sent on the
//! control stream or riding on commands, with restarts of the agent (its machine rebuilt from
//! what it keeps on disk) and time passing. Whatever the server sends, the properties hold:
//!
//! - a command runs only under a session whose first grant carried approvals from at least the
//!   threshold of distinct listed keys, each binding this agent, tenant, requester, request and
//!   reason, inside the window and the approved length;
//! - an access request opens one session, ever, across restarts;
//! - a fresh session under a valid, unused request inside its window is not refused;
//! - nothing runs after the first acceptance plus the approved length.

use std::collections::BTreeMap;

use argus_fsm::agent_sessions::{AgentSessionEffect, AgentSessionEvent, AgentSessions};
use argus_fsm::approval::{sign_approval, ApprovalBody, ApproverPolicy, GrantApproval};
use argus_fsm::machine::Machine;
use argus_fsm::signed::sha256;
use argus_fsm::wire::SessionGrant;
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

const START: i64 = 1_800_000_000_000;
const TTL_S: u32 = 1_200;
const WINDOW_S: i64 = 600;
const REQUESTS: [&str; 3] = [
    "00000000-0000-4000-8000-00000000000a",
    "00000000-0000-4000-8000-00000000000b",
    "00000000-0000-4000-8000-00000000000c",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tamper {
    None,
    OtherAgent,
    OtherRequester,
    OtherReason,
    /// The grant is longer than approved.
    TooLong,
}

#[derive(Clone, Debug)]
enum Op {
    Grant { session: u8, request: u8, signers: Vec<u8>, tamper: Tamper, on_command: bool },
    Restart,
    Advance(i64),
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let tamper = prop_oneof![4 => Just(Tamper::None), 1 => Just(Tamper::OtherAgent), 1 => Just(Tamper::OtherRequester), 1 => Just(Tamper::OtherReason), 1 => Just(Tamper::TooLong)];
    let grant = (
        0u8..5,
        0u8..3,
        proptest::collection::vec(prop_oneof![Just(1u8), Just(2u8), Just(9u8)], 0..4),
        tamper,
        any::<bool>(),
    )
        .prop_map(|(session, request, signers, tamper, on_command)| Op::Grant {
            session,
            request,
            signers,
            tamper,
            on_command,
        });
    proptest::collection::vec(
        prop_oneof![6 => grant, 1 => Just(Op::Restart), 2 => (1i64..400_000).prop_map(Op::Advance)],
        1..60,
    )
}

/// The grant a (possibly breached) server sends, and whether its approvals are valid for this
/// agent at `now` by construction: how many distinct listed keys sign a binding body.
fn grant(session: u8, request: u8, signers: &[u8], tamper: Tamper, now: i64) -> (SessionGrant, usize) {
    let request_id = REQUESTS[request as usize].to_string();
    let approvals = signers
        .iter()
        .map(|&seed| {
            let body = ApprovalBody {
                version: 1,
                request_id: request_id.clone(),
                tenant: "T1".into(),
                agent_id: if tamper == Tamper::OtherAgent { "a2".into() } else { "a1".into() },
                requester: if tamper == Tamper::OtherRequester { "eve".into() } else { "op".into() },
                reason_sha256: sha256(if tamper == Tamper::OtherReason { b"other" } else { b"INC-1" }),
                max_ttl_seconds: TTL_S,
                not_before: START / 1000,
                not_after: START / 1000 + WINDOW_S,
                approver: format!("approver-{seed}"),
            };
            sign_approval(&key(seed), &body)
        })
        .collect();
    let length = if tamper == Tamper::TooLong { i64::from(TTL_S) * 1000 + 60_000 } else { 300_000 };
    let grant = SessionGrant {
        session_id: format!("s{session}"),
        tenant: "T1".into(),
        owner: "op".into(),
        expires_at: Timestamp(now + length),
        approval: Some(Box::new(GrantApproval { request_id, reason: "INC-1".into(), approvals })),
    };
    let mut listed: Vec<u8> = signers.iter().copied().filter(|s| *s != 9).collect();
    listed.sort();
    listed.dedup();
    let in_window = (START..=START + WINDOW_S * 1000).contains(&now);
    let valid = if tamper == Tamper::None && in_window { listed.len() } else { 0 };
    (grant, valid)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn whatever_the_server_sends_the_guard_holds(threshold in 1usize..=2, ops in ops()) {
        let policy = ApproverPolicy::new(vec![key(1).verifying_key(), key(2).verifying_key()], threshold).unwrap();
        let mut agent = AgentSessions::with_approvals("T1", "a1", Some(policy.clone()), vec![]);
        let mut now = START;
        // Every request the agent has bound to a session: request → (session, accepted at).
        let mut bound: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Advance(ms) => now += ms,
                Op::Restart => {
                    agent = AgentSessions::with_approvals("T1", "a1", Some(policy.clone()), agent.used_requests());
                }
                Op::Grant { session, request, signers, tamper, on_command } => {
                    let (grant, valid) = grant(session, request, &signers, tamper, now);
                    let request_id = REQUESTS[request as usize];
                    let told = (!on_command)
                        .then(|| agent.handle(AgentSessionEvent::Granted(grant.clone()), Timestamp(now)).unwrap());
                    let ran = agent.admit(&grant, true, Timestamp(now)).is_ok();
                    if let Some(told) = told {
                        // The server answers an activation "accepted" exactly when the agent
                        // will serve the session, and "refused" when it will not (SPEC §13).
                        let accepted = told.iter().any(|e| matches!(e, AgentSessionEffect::AcceptGrant { .. }));
                        let refused = told.iter().any(|e| matches!(e, AgentSessionEffect::RefuseGrant { .. }));
                        prop_assert_eq!(accepted, ran, "accepted {:?} but ran {}", told, ran);
                        prop_assert_eq!(refused, !ran, "refused {:?} but ran {}", told, ran);
                    }
                    let sid = grant.session_id.as_str();
                    let request_free = !bound.contains_key(request_id);
                    let session_fresh = !bound.values().any(|(s, _)| s == sid);
                    if ran {
                        // Run as a session an earlier request opened, within its length; or
                        // opened now by enough valid approvals of a request not used before.
                        let as_opened = bound.values().any(|(s, at)| s == sid && now < at + i64::from(TTL_S) * 1000);
                        prop_assert!(
                            as_opened || (request_free && valid >= threshold),
                            "{sid} ran under {request_id} with {valid} valid of {threshold} ({tamper:?} {signers:?})"
                        );
                    }
                    if request_free && session_fresh && valid >= threshold {
                        prop_assert!(ran, "a fresh valid grant was refused ({tamper:?} {signers:?})");
                    }
                }
            }
            // What the agent keeps on disk binds a request to one session, for good.
            for used in agent.used_requests() {
                let binding = bound.entry(used.request_id.clone()).or_insert((used.session_id.clone(), used.accepted_at.0));
                prop_assert_eq!(&binding.0, &used.session_id, "{} opened two sessions", used.request_id);
            }
        }
    }
}
