//! The agent's approval check (SPEC §13) on hostile grants: arbitrary approval envelopes (JSON
//! bytes), forged ones naming a listed key, and bodies signed by the target itself from fuzzed
//! fields. Asserts: nothing a listed key did not sign passes; no panic; a grant the target
//! approves itself with every binding field right passes, and changing the agent it names
//! makes it fail.
#![no_main]

use argus_fsm::approval::{check, sign_approval, ApprovalBody, ApproverPolicy, GrantApproval};
use argus_fsm::signed::{key_id, sha256, Envelope};
use argus_fsm::wire::SessionGrant;
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], String, String, String, String, u32, i64, i64, i64)| {
    let (json, request_id, reason, owner, field, max_ttl, not_before, not_after, start) = input;
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let policy = ApproverPolicy::new(vec![key.verifying_key()], 1).expect("one key, threshold 1");
    let now = Timestamp(start);
    let grant = |approvals: Vec<Envelope>, request_id: &str| SessionGrant {
        session_id: "s".into(),
        tenant: "T".into(),
        owner: owner.clone(),
        expires_at: Timestamp(start.saturating_add(1_000)),
        approval: Some(Box::new(GrantApproval { request_id: request_id.into(), reason: reason.clone(), approvals })),
    };
    // Hostile envelopes: parsed from bytes, or made up and naming the listed key.
    if let Ok(envelope) = Envelope::from_json(json) {
        assert!(check(&policy, "a", "T", &grant(vec![envelope], &request_id), now).is_err());
    }
    let forged = Envelope { body: field.clone(), signature: reason.clone(), key_id: key_id(&key.verifying_key()) };
    assert!(check(&policy, "a", "T", &grant(vec![forged], &request_id), now).is_err());
    // Signed here: passes exactly when every binding rule holds.
    let body = ApprovalBody {
        version: 1,
        request_id: request_id.clone(),
        tenant: "T".into(),
        agent_id: "a".into(),
        requester: owner.clone(),
        reason_sha256: sha256(reason.as_bytes()),
        max_ttl_seconds: max_ttl,
        not_before,
        not_after,
        approver: field,
    };
    let signed = sign_approval(&key, &body);
    let outcome = check(&policy, "a", "T", &grant(vec![signed.clone()], &request_id), now);
    let well_formed = argus_fsm::signed::is_lower_hyphenated_uuid(&request_id)
        && (1..=argus_fsm::approval::MAX_APPROVAL_TTL_SECONDS).contains(&max_ttl)
        && not_before <= not_after
        && body.approver.len() <= argus_fsm::approval::MAX_FIELD
        && owner.len() <= argus_fsm::approval::MAX_FIELD;
    let inside = start >= not_before.saturating_mul(1000) && start <= not_after.saturating_mul(1000);
    assert_eq!(outcome.is_ok(), well_formed && inside, "{outcome:?}");
    assert!(check(&policy, "b", "T", &grant(vec![signed], &request_id), now).is_err(), "another agent's");
});
