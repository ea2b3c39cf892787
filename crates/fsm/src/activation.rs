//! The activation checks (SPEC §5 "Session"), in the SPEC's order: the request itself, the
//! tenant (exists, consent, armed), the agent (in that tenant, not revoked, online, kill switch
//! on, no live session). They read the tenant and enrollment machines and produce the TTL a new
//! [`crate::session::Session`] starts with; the session machine itself knows nothing of
//! tenants, so the dependency runs one way: activation → tenant, enrollment, session.

use crate::codes::Code;
use crate::enrollment::Enrollment;
use crate::session::{DEFAULT_TTL_MS, MAX_TTL_MS};
use crate::tenant::{Tenant, TenantError};
use crate::time::Timestamp;

/// What an operator asked for when activating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivationRequest {
    pub reason: String,
    /// Requested TTL in milliseconds; `None` means [`DEFAULT_TTL_MS`].
    pub ttl_ms: Option<i64>,
}

/// What the server knows about the agent named in an activation, gathered by the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentFacts<'a> {
    pub enrollment: &'a Enrollment,
    /// An authenticated connection is live right now.
    pub online: bool,
    /// The agent's kill switch allows remote support (last reported by the agent).
    pub remote_support_on: bool,
    /// A live session already exists on this agent.
    pub has_live_session: bool,
}

/// Why an activation was refused, one variant per SPEC check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    #[error("a reason is required")]
    ReasonRequired,
    #[error("the TTL must be a positive duration")]
    TtlNotPositive,
    #[error("the TTL exceeds the 120-minute cap")]
    TtlExceedsCap,
    #[error("no such tenant")]
    TenantNotFound,
    #[error("the tenant has no valid consent")]
    ConsentRequired,
    #[error("the tenant is disarmed")]
    TenantDisarmed,
    #[error("no such agent in this tenant")]
    AgentNotFound,
    #[error("the agent is revoked")]
    AgentRevoked,
    #[error("the agent is offline")]
    AgentOffline,
    #[error("remote support is switched off on the agent")]
    RemoteSupportOff,
    #[error("a session is already active on this agent")]
    SessionAlreadyActive,
}

impl ActivationError {
    /// The wire code for this refusal.
    pub fn code(self) -> Code {
        match self {
            ActivationError::ReasonRequired => Code::ReasonRequired,
            ActivationError::TtlNotPositive => Code::BadRequest,
            ActivationError::TtlExceedsCap => Code::TtlExceedsCap,
            ActivationError::TenantNotFound => Code::TenantNotFound,
            ActivationError::ConsentRequired => Code::TenantConsentRequired,
            ActivationError::TenantDisarmed => Code::TenantDisarmed,
            ActivationError::AgentNotFound => Code::AgentNotFound,
            ActivationError::AgentRevoked => Code::AgentRevoked,
            ActivationError::AgentOffline => Code::AgentOffline,
            ActivationError::RemoteSupportOff => Code::RemoteSupportOff,
            ActivationError::SessionAlreadyActive => Code::SessionAlreadyActive,
        }
    }
}

/// Runs the SPEC's activation checks in their fixed order; the first failure answers.
/// Returns the TTL to grant in milliseconds.
pub fn check_activation(
    request: &ActivationRequest,
    tenant_id: &str,
    tenant: Option<&Tenant>,
    agent: Option<&AgentFacts<'_>>,
    now: Timestamp,
) -> Result<i64, ActivationError> {
    if request.reason.trim().is_empty() {
        return Err(ActivationError::ReasonRequired);
    }
    let ttl = request.ttl_ms.unwrap_or(DEFAULT_TTL_MS);
    if ttl <= 0 {
        return Err(ActivationError::TtlNotPositive);
    }
    if ttl > MAX_TTL_MS {
        return Err(ActivationError::TtlExceedsCap);
    }
    let tenant = tenant.ok_or(ActivationError::TenantNotFound)?;
    tenant.may_activate(now).map_err(|err| match err {
        TenantError::Disarmed => ActivationError::TenantDisarmed,
        _ => ActivationError::ConsentRequired,
    })?;
    let agent = agent.filter(|facts| facts.enrollment.tenant() == tenant_id).ok_or(ActivationError::AgentNotFound)?;
    match agent.enrollment {
        Enrollment::Revoked { .. } => return Err(ActivationError::AgentRevoked),
        Enrollment::Pending { .. } => return Err(ActivationError::AgentOffline),
        Enrollment::Enrolled { .. } if !agent.online => return Err(ActivationError::AgentOffline),
        Enrollment::Enrolled { .. } => {}
    }
    if !agent.remote_support_on {
        return Err(ActivationError::RemoteSupportOff);
    }
    if agent.has_live_session {
        return Err(ActivationError::SessionAlreadyActive);
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrollment::tests as enrollment;
    use crate::machine::Machine as _;
    use crate::tenant::tests as tenant;

    const NOW: Timestamp = tenant::NOW;

    fn request() -> ActivationRequest {
        ActivationRequest { reason: "investigate alert".into(), ttl_ms: None }
    }

    fn facts(enrollment: &Enrollment) -> AgentFacts<'_> {
        AgentFacts { enrollment, online: true, remote_support_on: true, has_live_session: false }
    }

    fn check(
        request: &ActivationRequest,
        tenant: Option<&Tenant>,
        agent: Option<&AgentFacts<'_>>,
    ) -> Result<i64, Code> {
        check_activation(request, "T1", tenant, agent, NOW).map_err(ActivationError::code)
    }

    #[test]
    fn activation_on_an_online_agent_of_an_armed_tenant_succeeds_with_default_ttl() {
        let tenant = tenant::tenant_armed();
        let enrolled = enrollment::enrolled();
        assert_eq!(check(&request(), Some(&tenant), Some(&facts(&enrolled))), Ok(DEFAULT_TTL_MS));
    }

    #[test]
    fn empty_or_blank_reason_is_refused_first() {
        for reason in ["", "   ", "\n\t"] {
            let request = ActivationRequest { reason: reason.into(), ttl_ms: Some(MAX_TTL_MS + 1) };
            assert_eq!(check(&request, None, None), Err(Code::ReasonRequired));
        }
    }

    #[test]
    fn ttl_above_the_cap_is_refused_and_the_cap_itself_is_accepted() {
        let tenant = tenant::tenant_armed();
        let enrolled = enrollment::enrolled();
        let over = ActivationRequest { ttl_ms: Some(MAX_TTL_MS + 1), ..request() };
        assert_eq!(check(&over, None, None), Err(Code::TtlExceedsCap));
        let at_cap = ActivationRequest { ttl_ms: Some(MAX_TTL_MS), ..request() };
        assert_eq!(check(&at_cap, Some(&tenant), Some(&facts(&enrolled))), Ok(MAX_TTL_MS));
        let zero = ActivationRequest { ttl_ms: Some(0), ..request() };
        assert_eq!(check(&zero, None, None), Err(Code::BadRequest));
        assert_eq!(MAX_TTL_MS, 7_200_000);
        assert_eq!(DEFAULT_TTL_MS, 30 * 60 * 1000);
    }

    #[test]
    fn activation_checks_run_in_spec_order() {
        let armed = tenant::tenant_armed();
        let enrolled = enrollment::enrolled();
        let revoked = enrollment::revoked();
        let pending = enrollment::pending();
        assert_eq!(check(&request(), None, Some(&facts(&enrolled))), Err(Code::TenantNotFound));
        assert_eq!(check(&request(), Some(&tenant::tenant_no_consent()), None), Err(Code::TenantConsentRequired));
        let mut disarmed = armed.clone();
        disarmed.handle(crate::tenant::TenantEvent::Disarm, NOW).unwrap();
        assert_eq!(check(&request(), Some(&disarmed), None), Err(Code::TenantDisarmed));
        assert_eq!(check(&request(), Some(&armed), None), Err(Code::AgentNotFound));
        assert_eq!(check(&request(), Some(&armed), Some(&facts(&revoked))), Err(Code::AgentRevoked));
        assert_eq!(check(&request(), Some(&armed), Some(&facts(&pending))), Err(Code::AgentOffline));
        let offline = AgentFacts { online: false, ..facts(&enrolled) };
        assert_eq!(check(&request(), Some(&armed), Some(&offline)), Err(Code::AgentOffline));
        let off = AgentFacts { remote_support_on: false, has_live_session: true, ..facts(&enrolled) };
        assert_eq!(check(&request(), Some(&armed), Some(&off)), Err(Code::RemoteSupportOff));
        let busy = AgentFacts { has_live_session: true, ..facts(&enrolled) };
        assert_eq!(check(&request(), Some(&armed), Some(&busy)), Err(Code::SessionAlreadyActive));
    }

    #[test]
    fn agent_of_another_tenant_is_not_found() {
        let armed = tenant::tenant_armed();
        let enrolled = enrollment::enrolled();
        let result = check_activation(&request(), "T2", Some(&armed), Some(&facts(&enrolled)), NOW);
        assert_eq!(result.map_err(ActivationError::code), Err(Code::AgentNotFound));
    }
}
