//! What changes to tenants, agents and PATs decide: the machine's transition, the records to
//! store with their one audit record, and what must follow once they are stored (sessions
//! ended, a link closed). The driver (`crate::lifecycle::carry_out`) stores the records, then
//! performs what follows, in order; handlers only gather the facts and call.

use argus_fsm::enrollment::EnrollmentEvent;
use argus_fsm::machine::Machine;
use argus_fsm::session::EndReason;
use argus_fsm::signed::VerifiedConsent;
use argus_fsm::tenant::{Tenant, TenantEffect, TenantEvent};
use argus_fsm::Timestamp;
use serde_json::json;

use crate::fault::Fault;
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::{AgentRecord, PatRecord, Write};
use crate::time_format::rfc3339;

/// Records to store atomically with their audit records, and what follows.
#[derive(Debug)]
pub struct Decision {
    pub writes: Vec<Write>,
    pub audit: Vec<AuditEntry>,
    pub then: Vec<After>,
}

impl Decision {
    fn of(write: Write, entry: AuditEntry) -> Decision {
        Decision { writes: vec![write], audit: vec![entry], then: vec![] }
    }
}

/// What follows a stored decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// Close the agent's link, wherever it is (revocation).
    Disconnect { agent_id: String },
    /// End every live session of the tenant.
    EndTenantSessions { tenant: String, reason: EndReason },
    /// End every live session of the agent.
    EndAgentSessions { agent_id: String, reason: EndReason },
}

/// A tenant event (arm, disarm, consent withdrawn): the tenant as it becomes, its record, and
/// the sessions it ends.
pub fn tenant_transition(
    tenant: &Tenant,
    event: TenantEvent,
    audit: AuditEvent,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<(Tenant, Decision), Fault> {
    let mut tenant = tenant.clone();
    let effects =
        tenant.handle(event, now).map_err(|refused| Fault::new(refused.error.code(), refused.error.to_string()))?;
    let entry = AuditEntry::new(audit, actor).tenant(&tenant.id).reason(reason);
    let mut decision = Decision::of(Write::Tenant(tenant.clone()), entry);
    for TenantEffect::EndSessions(reason) in effects {
        decision.then.push(After::EndTenantSessions { tenant: tenant.id.clone(), reason });
    }
    Ok((tenant, decision))
}

/// A verified consent document recorded for its tenant.
pub fn record_consent(
    tenant: &Tenant,
    verified: VerifiedConsent,
    key_id: &str,
    actor: &str,
    now: Timestamp,
) -> Result<(Tenant, Decision), Fault> {
    let body = verified.body().clone();
    let mut tenant = tenant.clone();
    tenant
        .handle(TenantEvent::RecordConsent(verified), now)
        .map_err(|refused| Fault::new(refused.error.code(), format!("consent refused: {}", refused.error)))?;
    let entry = AuditEntry::new(AuditEvent::TenantConsentRecorded, actor).tenant(&tenant.id).details(
        json!({ "signer": body.signer, "issued_at": body.issued_at, "expires_at": body.expires_at, "key_id": key_id }),
    );
    Ok((tenant.clone(), Decision::of(Write::Tenant(tenant), entry)))
}

/// The tenant's flag requiring an approved access request for every activation (SPEC §13),
/// set or cleared; recorded even when unchanged (who looked at it, and when, matters).
pub fn tenant_approval(tenant: &Tenant, required: bool, actor: &str) -> (Tenant, Decision) {
    let mut tenant = tenant.clone();
    let was = std::mem::replace(&mut tenant.approval_required, required);
    let entry = AuditEntry::new(AuditEvent::TenantApprovalSet, actor)
        .tenant(&tenant.id)
        .details(json!({ "approval_required": required, "was": was }));
    (tenant.clone(), Decision::of(Write::Tenant(tenant), entry))
}

/// A new tenant with its consent key.
pub fn create_tenant(tenant: Tenant, key_id: &str, actor: &str) -> Decision {
    let entry = AuditEntry::new(AuditEvent::TenantCreated, actor)
        .tenant(&tenant.id)
        .details(json!({ "consent_key_id": key_id }));
    Decision::of(Write::Tenant(tenant), entry)
}

/// What an enrollment token is for.
pub struct TokenFor<'a> {
    pub tenant: &'a Tenant,
    pub agent_id: &'a str,
    /// The agent's record, if the ID is known.
    pub existing: Option<&'a AgentRecord>,
    pub token_hash: [u8; 32],
    pub expires_at: Timestamp,
}

/// A one-time enrollment token issued (its hash stored).
pub fn issue_enrollment_token(token: TokenFor<'_>, actor: &str, now: Timestamp) -> Result<Decision, Fault> {
    token.tenant.may_enroll(now).map_err(|e| Fault::from(e.code()))?;
    let tenant = token.tenant.id.clone();
    let event = EnrollmentEvent::IssueToken {
        tenant: tenant.clone(),
        token_hash: token.token_hash,
        expires_at: token.expires_at,
    };
    // An unknown ID's enrollment starts through the same `handle` as a known one's.
    let mut enrollment = token.existing.map(|record| record.enrollment.clone());
    enrollment.handle(event, now).map_err(|refused| Fault::from(refused.error.code()))?;
    let enrollment = enrollment.expect("an accepted token leaves an enrollment");
    let record = match token.existing.cloned() {
        Some(record) => AgentRecord { enrollment, ..record },
        None => AgentRecord {
            agent_id: token.agent_id.to_string(),
            enrollment,
            last_seen: None,
            manifest: None,
            remote_support_on: true,
            patches: Default::default(),
        },
    };
    let entry = AuditEntry::new(AuditEvent::EnrollmentTokenIssued, actor)
        .tenant(tenant)
        .agent(token.agent_id)
        .details(json!({ "expires_at": rfc3339(token.expires_at) }));
    Ok(Decision::of(Write::Agent(record), entry))
}

/// An agent revoked: its tombstone stored, then its link cut and its sessions ended. The driver
/// tells the ends first and cuts the link once the agent has acknowledged them (or the bounded
/// wait passed), wherever it is held, before the revocation is answered; a handshake meanwhile
/// finds the tombstone in the view.
pub fn revoke_agent(record: &AgentRecord, reason: &str, actor: &str, now: Timestamp) -> Result<Decision, Fault> {
    let mut record = record.clone();
    record
        .enrollment
        .handle(EnrollmentEvent::Revoke { reason: reason.to_string() }, now)
        .map_err(|refused| Fault::from(refused.error.code()))?;
    let agent_id = record.agent_id.clone();
    let entry = AuditEntry::new(AuditEvent::AgentRevoked, actor)
        .tenant(record.enrollment.tenant())
        .agent(&agent_id)
        .reason(reason);
    let mut decision = Decision::of(Write::Agent(record), entry);
    decision.then = vec![
        After::Disconnect { agent_id: agent_id.clone() },
        After::EndAgentSessions { agent_id, reason: EndReason::AgentRevoked },
    ];
    Ok(decision)
}

/// A PAT created (its hash stored; the secret is shown once by the caller).
pub fn create_pat(record: PatRecord, actor: &str) -> Decision {
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    let mut entry = AuditEntry::new(AuditEvent::PatCreated, actor).details(json!({
        "id": record.id(),
        "owner": record.owner,
        "scopes": scopes,
        "expires_at": record.expires_at.map(rfc3339),
    }));
    entry.tenant = record.tenant.clone();
    Decision::of(Write::Pat(record), entry)
}

/// A PAT revoked: the record as it becomes, and the decision (none when it was revoked
/// already: revoking twice changes nothing and records nothing new).
pub fn revoke_pat(record: &PatRecord, actor: &str, ip: &str, now: Timestamp) -> (PatRecord, Option<Decision>) {
    if record.revoked_at.is_some() {
        return (record.clone(), None);
    }
    let mut record = record.clone();
    record.revoked_at = Some(now);
    let mut entry = AuditEntry::new(AuditEvent::PatRevoked, actor)
        .details(json!({ "id": record.id(), "owner": record.owner, "ip": ip }));
    entry.tenant = record.tenant.clone();
    (record.clone(), Some(Decision::of(Write::Pat(record), entry)))
}

/// The agent reported its kill switch (`on`), alone or in its manifest: the record as it
/// becomes, the `kill_switch_on`/`_off` record when it changed, and, when off, its sessions
/// ended. `None` when nothing but the report's own bookkeeping changed.
pub fn kill_switch(record: &AgentRecord, on: bool) -> Decision {
    let agent_id = record.agent_id.clone();
    let mut audit = vec![];
    if record.remote_support_on != on {
        audit.push(
            AuditEntry::new(AuditEvent::kill_switch(on), format!("agent:{agent_id}"))
                .tenant(record.enrollment.tenant())
                .agent(&agent_id),
        );
    }
    let mut record = record.clone();
    record.remote_support_on = on;
    if let Some(manifest) = record.manifest.as_mut() {
        manifest.remote_support_on = on;
    }
    let then = if on { vec![] } else { vec![After::EndAgentSessions { agent_id, reason: EndReason::KillSwitch }] };
    Decision { writes: vec![Write::Agent(record)], audit, then }
}

/// Whether a decision may be stored without waiting for the disk (nothing audited: a
/// manifest that changed nothing an operator must see).
pub fn is_quiet(decision: &Decision) -> bool {
    decision.audit.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_fsm::tenant::{ConsentRecord, TenantState};
    use argus_fsm::Code;

    fn armed() -> Tenant {
        Tenant {
            id: "t1".into(),
            consent_key: [1; 32],
            state: TenantState::Consented {
                consent: ConsentRecord {
                    signer: "s".into(),
                    issued_at: 0,
                    expires_at: None,
                    key_id: "k".into(),
                    recorded_at: Timestamp(0),
                },
                armed: true,
            },
            approval_required: false,
        }
    }

    use crate::decide::test_support::agent;

    #[test]
    fn disarming_stores_one_record_then_ends_the_tenants_sessions() {
        let (tenant, decision) =
            tenant_transition(&armed(), TenantEvent::Disarm, AuditEvent::TenantDisarmed, "op", "why", Timestamp(5))
                .unwrap();
        assert!(matches!(tenant.state, TenantState::Consented { armed: false, .. }));
        assert_eq!(decision.audit.len(), 1);
        assert_eq!(
            decision.then,
            vec![After::EndTenantSessions { tenant: "t1".into(), reason: EndReason::TenantDisarmed }]
        );
        let (_, arming) =
            tenant_transition(&tenant, TenantEvent::Arm, AuditEvent::TenantArmed, "op", "why", Timestamp(6)).unwrap();
        assert!(arming.then.is_empty(), "arming ends nothing");
    }

    #[test]
    fn revocation_cuts_the_link_before_it_ends_the_sessions_and_twice_is_refused() {
        let decision = revoke_agent(&agent(true), "lost laptop", "op", Timestamp(5)).unwrap();
        assert_eq!(decision.then[0], After::Disconnect { agent_id: "a1".into() });
        assert_eq!(
            decision.then[1],
            After::EndAgentSessions { agent_id: "a1".into(), reason: EndReason::AgentRevoked }
        );
        let Write::Agent(revoked) = &decision.writes[0] else { panic!() };
        assert_eq!(revoke_agent(revoked, "again", "op", Timestamp(6)).unwrap_err().code, Code::AgentRevoked);
    }

    #[test]
    fn the_kill_switch_is_audited_only_when_it_changes_and_off_ends_sessions() {
        let off = kill_switch(&agent(true), false);
        assert_eq!(off.audit.len(), 1);
        assert_eq!(off.then, vec![After::EndAgentSessions { agent_id: "a1".into(), reason: EndReason::KillSwitch }]);
        assert!(is_quiet(&kill_switch(&agent(true), true)));
        let still_off = kill_switch(&agent(false), false);
        assert!(
            is_quiet(&still_off) && !still_off.then.is_empty(),
            "still off: sessions still end, nothing new recorded"
        );
    }

    #[test]
    fn revoking_a_pat_twice_records_nothing_new() {
        let record = PatRecord {
            hash: [3; 32],
            owner: "o".into(),
            scopes: vec![crate::store::Scope::Admin],
            tenant: None,
            created_at: Timestamp(0),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        let (revoked, decision) = revoke_pat(&record, "op", "127.0.0.1", Timestamp(5));
        assert!(decision.is_some());
        assert!(revoke_pat(&revoked, "op", "127.0.0.1", Timestamp(6)).1.is_none());
    }
}
