//! The access-request machine, one per request (SPEC §13 "Access requests").
//!
//! ```text
//!   Pending --Approve (enough distinct keys)--> Approved --Use(session)--> Used
//!      | ^ Approve (fewer: recorded, still pending)
//!      +--Deny--> Denied          +--Expire (1 h after it was made)--> Expired
//! ```
//! Only a pending request is decided (approved, denied or expired); only an approved one is
//! used, once. The server keeps the approvals to send them with the grant; it cannot verify
//! them (the keys are the tenant's, on the agents), so what it checks of an approval's body is
//! a convenience that catches mistakes early — the agent's check is the guarantee.

use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalBody, MAX_APPROVALS};
use crate::codes::Code;
use crate::machine::{refuse, Machine, Outcome};
use crate::signed::{sha256, Envelope};
use crate::time::Timestamp;

/// A pending request expires this long after it was made.
pub const REQUEST_LIFETIME_MS: i64 = 60 * 60_000;

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved { at: Timestamp },
    Denied { at: Timestamp, by: String, reason: String },
    Expired { at: Timestamp },
    Used { at: Timestamp, session_id: String },
}

impl RequestState {
    /// The SPEC's `state` value.
    pub fn name(&self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved { .. } => "approved",
            RequestState::Denied { .. } => "denied",
            RequestState::Expired { .. } => "expired",
            RequestState::Used { .. } => "used",
        }
    }
}

/// One access request and the approvals uploaded for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub request_id: String,
    pub tenant: String,
    pub agent_id: String,
    pub requester: String,
    pub reason: String,
    pub ttl_seconds: u32,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: RequestState,
    /// The approvals as uploaded (sent with the grant), one per key.
    pub approvals: Vec<Envelope>,
    /// Who approved (the `approver` of each approval, in upload order).
    pub approvers: Vec<String>,
}

/// Something that happens to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessEvent {
    /// An approval was uploaded; `claimed` is its body as decoded (not verified: the server
    /// does not hold the tenant's keys); `threshold` is how many distinct keys the agent needs.
    Approve {
        envelope: Envelope,
        claimed: Box<ApprovalBody>,
        threshold: usize,
    },
    Deny {
        by: String,
        reason: String,
    },
    /// Its hour passed while pending.
    Expire,
    /// A session was activated with it.
    Use {
        session_id: String,
    },
}

/// What an accepted event did, for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessEffect {
    /// An approval was recorded; `complete` when the request is now approved.
    Approved {
        approver: String,
        key_id: String,
        complete: bool,
    },
    Denied,
    Expired,
    Used,
}

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the access request is not pending (already decided, used or expired)")]
    NotPending,
    #[error(
        "the approval does not bind this request, tenant, agent, requester and reason, or allows less than was asked"
    )]
    ApprovalMismatch,
    #[error("this key has already approved the request")]
    SameKeyTwice,
    #[error("the request holds as many approvals as a grant may carry")]
    TooManyApprovals,
    #[error("the access request is not approved")]
    NotApproved,
}

impl AccessError {
    pub fn code(self) -> Code {
        match self {
            AccessError::NotPending => Code::RequestNotPending,
            AccessError::ApprovalMismatch | AccessError::SameKeyTwice | AccessError::TooManyApprovals => {
                Code::ApprovalInvalid
            }
            AccessError::NotApproved => Code::ApprovalRequired,
        }
    }
}

/// Why a session cannot be activated with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UseError {
    #[error("the access request is not approved yet")]
    NotApproved,
    #[error("the access request was denied, has expired or has already opened a session")]
    Spent,
    #[error("the access request is for another agent, tenant or requester")]
    Mismatch,
    #[error("the TTL exceeds what the request was approved for")]
    TtlExceedsApproval,
}

impl UseError {
    pub fn code(self) -> Code {
        match self {
            UseError::NotApproved => Code::ApprovalRequired,
            UseError::Spent | UseError::Mismatch => Code::ApprovalInvalid,
            UseError::TtlExceedsApproval => Code::TtlExceedsApproval,
        }
    }
}

impl AccessRequest {
    /// A new pending request, made at `now`.
    pub fn new(
        request_id: String,
        tenant: String,
        agent_id: String,
        requester: String,
        reason: String,
        ttl_seconds: u32,
        now: Timestamp,
    ) -> AccessRequest {
        AccessRequest {
            request_id,
            tenant,
            agent_id,
            requester,
            reason,
            ttl_seconds,
            created_at: now,
            expires_at: now.plus_millis(REQUEST_LIFETIME_MS),
            state: RequestState::Pending,
            approvals: Vec::new(),
            approvers: Vec::new(),
        }
    }

    /// Whether a pending request's hour has passed (the driver then feeds [`AccessEvent::Expire`]).
    pub fn lapsed(&self, now: Timestamp) -> bool {
        self.state == RequestState::Pending && now >= self.expires_at
    }

    /// Whether `requester` may activate a session of `ttl_seconds` on `agent_id` of `tenant`
    /// with this request: the approvals to send with the grant.
    pub fn usable(
        &self,
        tenant: &str,
        agent_id: &str,
        requester: &str,
        ttl_seconds: u32,
    ) -> Result<&[Envelope], UseError> {
        match self.state {
            RequestState::Approved { .. } => {}
            RequestState::Pending => return Err(UseError::NotApproved),
            _ => return Err(UseError::Spent),
        }
        if self.tenant != tenant || self.agent_id != agent_id || self.requester != requester {
            return Err(UseError::Mismatch);
        }
        if ttl_seconds > self.ttl_seconds {
            return Err(UseError::TtlExceedsApproval);
        }
        Ok(&self.approvals)
    }

    /// Whether an approval's (unverified) body is for this request, and allows at least what
    /// was asked.
    fn binds(&self, claimed: &ApprovalBody) -> bool {
        claimed.request_id == self.request_id
            && claimed.tenant == self.tenant
            && claimed.agent_id == self.agent_id
            && claimed.requester == self.requester
            && claimed.reason_sha256 == sha256(self.reason.as_bytes())
            && claimed.max_ttl_seconds >= self.ttl_seconds
    }
}

impl Machine for AccessRequest {
    type Event = AccessEvent;
    type Effect = AccessEffect;
    type Error = AccessError;

    fn handle(&mut self, event: AccessEvent, now: Timestamp) -> Outcome<AccessEffect, AccessError> {
        match event {
            AccessEvent::Approve { envelope, claimed, threshold } => {
                if self.state != RequestState::Pending || self.lapsed(now) {
                    return Err(refuse(AccessError::NotPending));
                }
                if !self.binds(&claimed) {
                    return Err(refuse(AccessError::ApprovalMismatch));
                }
                if self.approvals.iter().any(|a| a.key_id == envelope.key_id) {
                    return Err(refuse(AccessError::SameKeyTwice));
                }
                if self.approvals.len() >= MAX_APPROVALS {
                    return Err(refuse(AccessError::TooManyApprovals));
                }
                let key_id = envelope.key_id.clone();
                self.approvals.push(envelope);
                self.approvers.push(claimed.approver.clone());
                let complete = self.approvals.len() >= threshold.max(1);
                if complete {
                    self.state = RequestState::Approved { at: now };
                }
                Ok(vec![AccessEffect::Approved { approver: claimed.approver, key_id, complete }])
            }
            AccessEvent::Deny { by, reason } => {
                if self.state != RequestState::Pending || self.lapsed(now) {
                    return Err(refuse(AccessError::NotPending));
                }
                self.state = RequestState::Denied { at: now, by, reason };
                Ok(vec![AccessEffect::Denied])
            }
            AccessEvent::Expire => {
                if !self.lapsed(now) {
                    return Err(refuse(AccessError::NotPending));
                }
                self.state = RequestState::Expired { at: now };
                Ok(vec![AccessEffect::Expired])
            }
            AccessEvent::Use { session_id } => {
                if !matches!(self.state, RequestState::Approved { .. }) {
                    return Err(refuse(AccessError::NotApproved));
                }
                self.state = RequestState::Used { at: now, session_id };
                Ok(vec![AccessEffect::Used])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::sign_approval;
    use ed25519_dalek::SigningKey;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const ID: &str = "7d4f1c2a-9b3e-4f6a-8c1d-2e3f4a5b6c7d";

    fn request() -> AccessRequest {
        AccessRequest::new(ID.into(), "T1".into(), "a1".into(), "op".into(), "INC-1".into(), 1_800, NOW)
    }

    fn approval(seed: u8, change: impl Fn(&mut ApprovalBody)) -> AccessEvent {
        let mut claimed = ApprovalBody {
            version: 1,
            request_id: ID.into(),
            tenant: "T1".into(),
            agent_id: "a1".into(),
            requester: "op".into(),
            reason_sha256: sha256(b"INC-1"),
            max_ttl_seconds: 1_800,
            not_before: NOW.0 / 1000,
            not_after: NOW.0 / 1000 + 3_600,
            approver: format!("approver-{seed}"),
        };
        change(&mut claimed);
        let envelope = sign_approval(&SigningKey::from_bytes(&[seed; 32]), &claimed);
        AccessEvent::Approve { envelope, claimed: Box::new(claimed), threshold: 2 }
    }

    #[test]
    fn a_request_is_approved_by_enough_distinct_keys_then_used_once() {
        let mut r = request();
        assert_eq!(r.state.name(), "pending");
        let first = r.handle(approval(1, |_| {}), NOW).unwrap();
        assert!(matches!(&first[..], [AccessEffect::Approved { complete: false, .. }]));
        assert_eq!(r.handle(approval(1, |_| {}), NOW).unwrap_err().error, AccessError::SameKeyTwice);
        assert_eq!(r.usable("T1", "a1", "op", 600), Err(UseError::NotApproved), "one of two");
        assert_eq!(UseError::NotApproved.code(), Code::ApprovalRequired);
        let second = r.handle(approval(2, |_| {}), NOW).unwrap();
        assert!(matches!(&second[..], [AccessEffect::Approved { complete: true, .. }]));
        assert_eq!(r.state.name(), "approved");
        assert_eq!(r.usable("T1", "a1", "op", 1_800).unwrap().len(), 2);
        assert_eq!(r.usable("T1", "a1", "op", 1_801), Err(UseError::TtlExceedsApproval));
        assert_eq!(r.usable("T1", "a1", "eve", 600), Err(UseError::Mismatch));
        assert_eq!(r.usable("T1", "a2", "op", 600), Err(UseError::Mismatch));
        assert_eq!(r.handle(approval(3, |_| {}), NOW).unwrap_err().error.code(), Code::RequestNotPending);
        r.handle(AccessEvent::Use { session_id: "ses_1".into() }, NOW).unwrap();
        assert_eq!(r.state.name(), "used");
        // A second session from the same approval: refused as invalid, not as "not yet".
        assert_eq!(r.usable("T1", "a1", "op", 600), Err(UseError::Spent));
        assert_eq!(UseError::Spent.code(), Code::ApprovalInvalid);
        assert_eq!(
            r.handle(AccessEvent::Use { session_id: "ses_2".into() }, NOW).unwrap_err().error,
            AccessError::NotApproved
        );
    }

    #[test]
    fn a_request_holds_no_more_approvals_than_a_grant_may_carry() {
        let mut r = request();
        let with_threshold = |seed: u8, threshold: usize| match approval(seed, |_| {}) {
            AccessEvent::Approve { envelope, claimed, .. } => AccessEvent::Approve { envelope, claimed, threshold },
            other => other,
        };
        // A threshold above the cap (a policy no grant could satisfy) never completes.
        for seed in 1..=MAX_APPROVALS as u8 {
            let effects = r.handle(with_threshold(seed, MAX_APPROVALS + 1), NOW).unwrap();
            assert!(matches!(&effects[..], [AccessEffect::Approved { complete: false, .. }]));
        }
        let refused = r.handle(with_threshold(200, MAX_APPROVALS + 1), NOW).unwrap_err();
        assert_eq!(refused.error, AccessError::TooManyApprovals);
        assert_eq!(refused.error.code(), Code::ApprovalInvalid);
        assert_eq!((r.approvals.len(), r.state.name()), (MAX_APPROVALS, "pending"));
    }

    #[test]
    fn an_approval_for_anything_else_is_refused() {
        type Change = fn(&mut ApprovalBody);
        let changes: [(&str, Change); 6] = [
            ("request", |b| b.request_id = "00000000-0000-4000-8000-000000000000".into()),
            ("tenant", |b| b.tenant = "T2".into()),
            ("agent", |b| b.agent_id = "a2".into()),
            ("requester", |b| b.requester = "eve".into()),
            ("reason", |b| b.reason_sha256 = sha256(b"else")),
            ("shorter", |b| b.max_ttl_seconds = 60),
        ];
        for (what, change) in changes {
            let mut r = request();
            let refused = r.handle(approval(1, change), NOW).unwrap_err();
            assert_eq!(refused.error.code(), Code::ApprovalInvalid, "{what}");
            assert!(r.approvals.is_empty(), "{what}");
        }
    }

    #[test]
    fn only_a_pending_request_is_denied_or_expires() {
        let mut r = request();
        r.handle(AccessEvent::Deny { by: "admin".into(), reason: "no".into() }, NOW).unwrap();
        assert_eq!(r.state.name(), "denied");
        assert_eq!(
            r.handle(AccessEvent::Deny { by: "admin".into(), reason: "no".into() }, NOW).unwrap_err().error,
            AccessError::NotPending
        );
        let mut r = request();
        assert!(r.handle(AccessEvent::Expire, NOW.plus_millis(REQUEST_LIFETIME_MS - 1)).is_err(), "not yet");
        let later = NOW.plus_millis(REQUEST_LIFETIME_MS);
        assert!(r.lapsed(later));
        // A lapsed request is decided by nobody, even before the sweep marks it.
        assert_eq!(r.handle(approval(1, |_| {}), later).unwrap_err().error, AccessError::NotPending);
        r.handle(AccessEvent::Expire, later).unwrap();
        assert_eq!(r.state.name(), "expired");
        // An approved request does not expire with the pending hour.
        let mut r = request();
        r.handle(approval(1, |_| {}), NOW).unwrap();
        r.handle(approval(2, |_| {}), NOW).unwrap();
        assert!(!r.lapsed(later));
    }
}
