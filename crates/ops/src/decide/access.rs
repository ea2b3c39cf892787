//! What access requests decide (SPEC §13): the request as it becomes and its one audit record,
//! for the driver (`crate::lifecycle::carry_out`) to store. The machine is
//! [`argus_fsm::access`]; the server cannot verify an approval (the keys are the tenant's, on
//! its agents), so an uploaded approval is read for what it claims and refused early when it
//! does not bind this request — the agent's own check is the guarantee.

use argus_fsm::access::{AccessEffect, AccessEvent, AccessRequest};
use argus_fsm::approval::decode_unverified;
use argus_fsm::machine::Machine;
use argus_fsm::signed::Envelope;
use argus_fsm::{Code, Timestamp};
use serde_json::json;

use super::records::Decision;
use crate::fault::Fault;
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::Write;
use crate::time_format::rfc3339;

/// A new request stored with its `access_requested` record.
pub fn request(request: AccessRequest, actor: &str) -> Decision {
    let entry = AuditEntry::new(AuditEvent::AccessRequested, actor)
        .tenant(&request.tenant)
        .agent(&request.agent_id)
        .reason(&request.reason)
        .details(json!({
            "request_id": request.request_id,
            "ttl_seconds": request.ttl_seconds,
            "expires_at": rfc3339(request.expires_at),
        }));
    Decision { writes: vec![Write::AccessRequest(request)], audit: vec![entry], then: vec![] }
}

/// An approval uploaded for `request`, needing `threshold` distinct keys: the request as it
/// becomes and its `access_approved` record. An envelope that cannot be read, or whose body does
/// not bind this request, is `approval_invalid`; a request no longer pending,
/// `request_not_pending`.
pub fn approve(
    request: &AccessRequest,
    envelope: Envelope,
    threshold: usize,
    actor: &str,
    now: Timestamp,
) -> Result<(AccessRequest, Decision), Fault> {
    let claimed = decode_unverified(&envelope)
        .map_err(|error| Fault::new(Code::ApprovalInvalid, format!("the approval cannot be read: {error}")))?;
    let event = AccessEvent::Approve { envelope, claimed: Box::new(claimed), threshold };
    decided(request, event, AuditEvent::AccessApproved, actor, now)
}

/// A tenant admin says no: the request as it becomes and its `access_denied` record.
pub fn deny(
    request: &AccessRequest,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<(AccessRequest, Decision), Fault> {
    let event = AccessEvent::Deny { by: actor.to_string(), reason: reason.to_string() };
    decided(request, event, AuditEvent::AccessDenied, actor, now)
}

/// A pending request whose hour is over: `expired`, recorded by `system`. `None` when it is not
/// due (still in its hour, or no longer pending).
pub fn expire(request: &AccessRequest, now: Timestamp) -> Option<(AccessRequest, Decision)> {
    decided(request, AccessEvent::Expire, AuditEvent::AccessRequestExpired, "system", now).ok()
}

fn decided(
    request: &AccessRequest,
    event: AccessEvent,
    audit_event: AuditEvent,
    actor: &str,
    now: Timestamp,
) -> Result<(AccessRequest, Decision), Fault> {
    let mut next = request.clone();
    let effects =
        next.handle(event, now).map_err(|refused| Fault::new(refused.error.code(), refused.error.to_string()))?;
    let mut details = json!({ "request_id": next.request_id, "state": next.state.name() });
    let mut reason = None;
    for effect in effects {
        match effect {
            AccessEffect::Approved { approver, key_id, complete } => {
                details["approver"] = json!(approver);
                details["key_id"] = json!(key_id);
                details["approvals"] = json!(next.approvals.len());
                details["complete"] = json!(complete);
            }
            AccessEffect::Denied => {
                if let argus_fsm::access::RequestState::Denied { reason: why, .. } = &next.state {
                    reason = Some(why.clone());
                }
            }
            AccessEffect::Expired | AccessEffect::Used => {}
        }
    }
    let mut entry = AuditEntry::new(audit_event, actor).tenant(&next.tenant).agent(&next.agent_id).details(details);
    if let Some(reason) = reason {
        entry = entry.reason(reason);
    }
    Ok((next.clone(), Decision { writes: vec![Write::AccessRequest(next)], audit: vec![entry], then: vec![] }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_fsm::approval::{sign_approval, ApprovalBody};
    use argus_fsm::signed::sha256;
    use ed25519_dalek::SigningKey;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const ID: &str = "7d4f1c2a-9b3e-4f6a-8c1d-2e3f4a5b6c7d";

    fn pending() -> AccessRequest {
        AccessRequest::new(ID.into(), "T1".into(), "a1".into(), "op".into(), "INC-1".into(), 1_800, NOW)
    }

    fn approval(seed: u8, agent_id: &str) -> Envelope {
        let body = ApprovalBody {
            version: 1,
            request_id: ID.into(),
            tenant: "T1".into(),
            agent_id: agent_id.into(),
            requester: "op".into(),
            reason_sha256: sha256(b"INC-1"),
            max_ttl_seconds: 1_800,
            not_before: NOW.0 / 1000,
            not_after: NOW.0 / 1000 + 3_600,
            approver: format!("approver-{seed}"),
        };
        sign_approval(&SigningKey::from_bytes(&[seed; 32]), &body)
    }

    #[test]
    fn a_request_is_recorded_with_its_id_and_what_it_asks() {
        let decision = request(pending(), "op");
        assert!(matches!(&decision.writes[..], [Write::AccessRequest(r)] if r.request_id == ID));
        let entry = &decision.audit[0];
        assert_eq!(entry.event, AuditEvent::AccessRequested);
        assert_eq!((entry.tenant.as_deref(), entry.agent.as_deref()), (Some("T1"), Some("a1")));
        assert_eq!(entry.details["request_id"], ID);
        assert_eq!(entry.details["ttl_seconds"], 1_800);
    }

    #[test]
    fn approvals_count_towards_the_threshold_and_each_is_recorded() {
        let (once, decision) = approve(&pending(), approval(1, "a1"), 2, "admin@t1", NOW).unwrap();
        assert_eq!(once.state.name(), "pending");
        assert_eq!(decision.audit[0].event, AuditEvent::AccessApproved);
        assert_eq!(decision.audit[0].details["complete"], false);
        assert_eq!(decision.audit[0].details["approver"], "approver-1");
        let (twice, decision) = approve(&once, approval(2, "a1"), 2, "admin@t1", NOW).unwrap();
        assert_eq!(twice.state.name(), "approved");
        assert_eq!(decision.audit[0].details["complete"], true);
        assert_eq!(decision.audit[0].details["request_id"], ID);
    }

    #[test]
    fn an_unreadable_or_foreign_approval_is_invalid_and_a_decided_request_not_pending() {
        let garbage = Envelope { body: "!!".into(), ..approval(1, "a1") };
        assert_eq!(approve(&pending(), garbage, 1, "x", NOW).unwrap_err().code, Code::ApprovalInvalid);
        assert_eq!(approve(&pending(), approval(1, "a2"), 1, "x", NOW).unwrap_err().code, Code::ApprovalInvalid);
        let (denied, decision) = deny(&pending(), "admin@t1", "not now", NOW).unwrap();
        assert_eq!(denied.state.name(), "denied");
        assert_eq!(decision.audit[0].event, AuditEvent::AccessDenied);
        assert_eq!(decision.audit[0].reason.as_deref(), Some("not now"));
        assert_eq!(approve(&denied, approval(1, "a1"), 1, "x", NOW).unwrap_err().code, Code::RequestNotPending);
        assert_eq!(deny(&denied, "x", "again", NOW).unwrap_err().code, Code::RequestNotPending);
    }

    #[test]
    fn a_pending_request_expires_after_its_hour_recorded_by_system() {
        assert!(expire(&pending(), NOW).is_none(), "still in its hour");
        let later = Timestamp(NOW.0 + argus_fsm::access::REQUEST_LIFETIME_MS);
        let (expired, decision) = expire(&pending(), later).expect("due");
        assert_eq!(expired.state.name(), "expired");
        assert_eq!(
            (decision.audit[0].event, decision.audit[0].actor.as_str()),
            (AuditEvent::AccessRequestExpired, "system")
        );
        assert!(expire(&expired, later).is_none(), "once");
    }
}
