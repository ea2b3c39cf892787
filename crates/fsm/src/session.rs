//! The remote-support session machine (SPEC §5 "Session"), used by both sides.
//!
//! ```text
//!   check_activation(...) --ok--> Active --Deactivate | End(reason) | timeout--> Ended(reason)
//! ```
//! `Ended` is terminal and is reached exactly once: the transition into it returns the one
//! [`SessionEffect::Ended`] the driver audits as `remote_support_session_ended`; every later
//! event or command answers `session_expired`. Expiry is driven by [`Session::next_deadline`]
//! and [`Session::handle_timeout`], so a session ends at `expires_at` without any request.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::codes::Code;
use crate::enrollment::Enrollment;
use crate::tenant::{Tenant, TenantError};
use crate::time::{Timestamp, MINUTE_MS};

/// TTL when the operator does not give one: 30 minutes.
pub const DEFAULT_TTL_MS: i64 = 30 * MINUTE_MS;
/// The hard cap on a session's TTL: 120 minutes. A constant in code, never configuration.
pub const MAX_TTL_MS: i64 = 120 * MINUTE_MS;

/// Why a session ended; exactly one per session (SPEC end reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Deactivated,
    Expired,
    KillSwitch,
    TenantDisarmed,
    AgentRevoked,
    ConsentWithdrawn,
}

impl EndReason {
    /// Every reason, for exhaustive tests.
    pub const ALL: [EndReason; 6] = [
        EndReason::Deactivated,
        EndReason::Expired,
        EndReason::KillSwitch,
        EndReason::TenantDisarmed,
        EndReason::AgentRevoked,
        EndReason::ConsentWithdrawn,
    ];

    /// The reason as written in audit records and status responses.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Deactivated => "deactivated",
            EndReason::Expired => "expired",
            EndReason::KillSwitch => "kill_switch",
            EndReason::TenantDisarmed => "tenant_disarmed",
            EndReason::AgentRevoked => "agent_revoked",
            EndReason::ConsentWithdrawn => "consent_withdrawn",
        }
    }
}

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

/// Whether a session is live or over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionState {
    Active,
    Ended { at: Timestamp, reason: EndReason },
}

/// One session and what it is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub tenant: String,
    pub agent_id: String,
    /// The activating PAT's owner; only they may use the token.
    pub owner: String,
    /// SHA-256 of the session token (server side). The agent never sees the token and keeps
    /// zeros here; it admits commands by session ID from its authenticated server.
    pub token_hash: [u8; 32],
    pub reason: String,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: SessionState,
}

/// Something that happens to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The operator deactivated it.
    Deactivate,
    /// Something outside ended it (kill switch, disarm, consent withdrawal, revocation).
    End(EndReason),
}

/// What the driver must do after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEffect {
    /// Audit `remote_support_session_ended` with this reason and tell the other side.
    Ended { reason: EndReason, at: Timestamp },
}

/// What a command presents to be admitted under a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    pub tenant: &'a str,
    pub owner: &'a str,
    pub token_hash: [u8; 32],
}

/// Why a session refused an event or a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no session matches this token, tenant and operator")]
    NotFound,
    #[error("the session has ended")]
    Expired,
}

impl SessionError {
    /// The wire code for this refusal.
    pub fn code(self) -> Code {
        match self {
            SessionError::NotFound => Code::SessionNotFound,
            SessionError::Expired => Code::SessionExpired,
        }
    }
}

impl Session {
    /// A new active session, granted after [`check_activation`] passed.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: String,
        tenant: String,
        agent_id: String,
        owner: String,
        token_hash: [u8; 32],
        reason: String,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Session {
        Session {
            id,
            tenant,
            agent_id,
            owner,
            token_hash,
            reason,
            started_at: now,
            expires_at: now.plus_millis(ttl_ms),
            state: SessionState::Active,
        }
    }

    /// The single place that decides every session transition.
    pub fn handle(&mut self, event: SessionEvent, now: Timestamp) -> Result<SessionEffect, SessionError> {
        match (self.state, event) {
            // Past its expiry a session ends as expired, whatever else was asked: the operator
            // asking to deactivate a lapsed session learns it had already expired.
            (SessionState::Active, _) if now >= self.expires_at => {
                self.end(EndReason::Expired, self.expires_at);
                Err(SessionError::Expired)
            }
            (SessionState::Active, SessionEvent::Deactivate) => Ok(self.end(EndReason::Deactivated, now)),
            (SessionState::Active, SessionEvent::End(reason)) => Ok(self.end(reason, now)),
            // Ended is terminal: nothing ends twice.
            (SessionState::Ended { .. }, _) => Err(SessionError::Expired),
        }
    }

    /// When the driver must call [`Session::handle_timeout`] next, if ever.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match self.state {
            SessionState::Active => Some(self.expires_at),
            SessionState::Ended { .. } => None,
        }
    }

    /// Ends the session if its deadline has passed; returns the one end effect when it does.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Option<SessionEffect> {
        match self.state {
            SessionState::Active if now >= self.expires_at => Some(self.end(EndReason::Expired, self.expires_at)),
            _ => None,
        }
    }

    /// Admits a command presented with a token (server side). Binding is checked first, so a
    /// token used by the wrong operator or under the wrong tenant learns nothing about the
    /// session's state. A lapsed session is ended here (the effect is returned with the error).
    pub fn admit(
        &mut self,
        presented: &Presented<'_>,
        now: Timestamp,
    ) -> Result<(), (SessionError, Option<SessionEffect>)> {
        let bound: bool = presented.token_hash.ct_eq(&self.token_hash).into();
        if !bound || presented.tenant != self.tenant || presented.owner != self.owner {
            return Err((SessionError::NotFound, None));
        }
        self.admit_live(now)
    }

    /// Admits a command by session ID (agent side: the server is already authenticated).
    pub fn admit_by_id(
        &mut self,
        session_id: &str,
        now: Timestamp,
    ) -> Result<(), (SessionError, Option<SessionEffect>)> {
        if session_id != self.id {
            return Err((SessionError::NotFound, None));
        }
        self.admit_live(now)
    }

    /// Checks the binding only, for reads of the session's status (which work after it ended).
    pub fn is_bound_to(&self, presented: &Presented<'_>) -> bool {
        let bound: bool = presented.token_hash.ct_eq(&self.token_hash).into();
        bound && presented.tenant == self.tenant && presented.owner == self.owner
    }

    /// Whether the session is live at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.state == SessionState::Active && now < self.expires_at
    }

    fn admit_live(&mut self, now: Timestamp) -> Result<(), (SessionError, Option<SessionEffect>)> {
        match self.state {
            SessionState::Active if now < self.expires_at => Ok(()),
            SessionState::Active => Err((SessionError::Expired, Some(self.end(EndReason::Expired, self.expires_at)))),
            SessionState::Ended { .. } => Err((SessionError::Expired, None)),
        }
    }

    fn end(&mut self, reason: EndReason, at: Timestamp) -> SessionEffect {
        self.state = SessionState::Ended { at, reason };
        SessionEffect::Ended { reason, at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrollment::tests as enrollment;
    use crate::signed::sha256;
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

    fn active_session() -> Session {
        Session::start(
            "s1".into(),
            "T1".into(),
            "a1".into(),
            "op@x".into(),
            sha256(b"rst_1"),
            "r".into(),
            DEFAULT_TTL_MS,
            NOW,
        )
    }

    fn presented<'a>(tenant: &'a str, owner: &'a str, token: &[u8]) -> Presented<'a> {
        Presented { tenant, owner, token_hash: sha256(token) }
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

    #[test]
    fn deactivate_ends_once_and_later_use_is_expired() {
        let mut session = active_session();
        let effect = session.handle(SessionEvent::Deactivate, NOW).unwrap();
        assert_eq!(effect, SessionEffect::Ended { reason: EndReason::Deactivated, at: NOW });
        assert_eq!(session.handle(SessionEvent::Deactivate, NOW), Err(SessionError::Expired));
        assert_eq!(session.handle(SessionEvent::End(EndReason::KillSwitch), NOW), Err(SessionError::Expired));
        let result = session.admit(&presented("T1", "op@x", b"rst_1"), NOW);
        assert_eq!(result, Err((SessionError::Expired, None)));
    }

    #[test]
    fn every_external_end_reason_is_recorded() {
        for reason in EndReason::ALL {
            let mut session = active_session();
            assert_eq!(session.handle(SessionEvent::End(reason), NOW), Ok(SessionEffect::Ended { reason, at: NOW }));
            assert_eq!(session.state, SessionState::Ended { at: NOW, reason });
        }
    }

    #[test]
    fn session_expires_at_its_deadline_without_a_request() {
        let mut session = active_session();
        let deadline = session.next_deadline().unwrap();
        assert_eq!(deadline, NOW.plus_millis(DEFAULT_TTL_MS));
        assert_eq!(session.handle_timeout(deadline.plus_millis(-1)), None);
        assert_eq!(
            session.handle_timeout(deadline),
            Some(SessionEffect::Ended { reason: EndReason::Expired, at: deadline })
        );
        assert_eq!(session.next_deadline(), None);
        assert_eq!(session.handle_timeout(deadline.plus_millis(1)), None, "ends only once");
    }

    #[test]
    fn command_after_expiry_ends_the_session_as_expired() {
        let mut session = active_session();
        let late = session.expires_at;
        let (err, effect) = session.admit(&presented("T1", "op@x", b"rst_1"), late).unwrap_err();
        assert_eq!(err.code(), Code::SessionExpired);
        assert!(matches!(effect, Some(SessionEffect::Ended { reason: EndReason::Expired, .. })));
    }

    #[test]
    fn token_is_bound_to_tenant_owner_and_token() {
        let mut session = active_session();
        assert!(session.admit(&presented("T1", "op@x", b"rst_1"), NOW).is_ok());
        for wrong in
            [presented("T2", "op@x", b"rst_1"), presented("T1", "other@x", b"rst_1"), presented("T1", "op@x", b"rst_2")]
        {
            assert_eq!(session.admit(&wrong, NOW), Err((SessionError::NotFound, None)));
        }
    }

    #[test]
    fn agent_side_admits_only_the_granted_live_session() {
        let mut session = active_session();
        assert!(session.admit_by_id("s1", NOW).is_ok());
        assert_eq!(session.admit_by_id("s2", NOW), Err((SessionError::NotFound, None)));
        session.handle(SessionEvent::End(EndReason::KillSwitch), NOW).unwrap();
        assert_eq!(session.admit_by_id("s1", NOW), Err((SessionError::Expired, None)));
    }

    #[test]
    fn end_reasons_have_spec_spellings() {
        let names: Vec<_> = EndReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            ["deactivated", "expired", "kill_switch", "tenant_disarmed", "agent_revoked", "consent_withdrawn"]
        );
    }
}
