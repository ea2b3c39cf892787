//! The remote-support session machine (SPEC §5 "Session"), used by both sides.
//!
//! ```text
//!   check_activation(...) --ok--> Active --Deactivate | End(reason) | Timeout--> Ended(reason)
//!                                   |  ^
//!                                   +--+ Command(caller): admitted while live and bound
//! ```
//! `Ended` is terminal and is reached exactly once: the transition into it returns the one
//! [`SessionEffect::Ended`] the driver audits as `remote_support_session_ended` — also when
//! the transition is a refusal (a command on a lapsed session is refused *and* ends it); every
//! later event or command answers `session_expired`. Expiry is driven by
//! [`Session::next_deadline`] and the [`SessionEvent::Timeout`] event, so a session ends at
//! `expires_at` without any request. The activation checks that precede a session live in
//! [`crate::activation`].

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::codes::Code;
use crate::machine::{refuse, Machine, Outcome, Refused};
use crate::signed::Envelope;
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

/// Whether a session is live or over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionState {
    Active,
    Ended { at: Timestamp, reason: EndReason },
}

/// What a grant carries (SPEC §13) on an agent with a policy: the access request it was
/// approved under, that request's reason (the approvals bind its hash), and the approvers'
/// envelopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantApproval {
    pub request_id: String,
    pub reason: String,
    pub approvals: Vec<Envelope>,
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
    /// The approvals of the access request it was opened under (SPEC §13), sent with its grant;
    /// `None` for a session opened without one (and on the agent's side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Box<GrantApproval>>,
}

/// Something that happens to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The operator deactivated it.
    Deactivate,
    /// Something outside ended it (kill switch, disarm, consent withdrawal, revocation).
    End(EndReason),
    /// The driver's timer for [`Session::next_deadline`] fired.
    Timeout,
    /// A command asks to run under the session.
    Command(Caller),
}

/// Who asks to run a command under a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Server side: what the operator's request presented; checked before anything else, so a
    /// wrong binding learns nothing about the session's state.
    Presented(Presented),
    /// Agent side: the authenticated server relayed it under this session's grant (the agent
    /// holds no token; finding the session by its ID was the binding).
    Relayed,
}

/// What the driver must do after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEffect {
    /// Audit `remote_support_session_ended` with this reason and tell the other side.
    Ended { reason: EndReason, at: Timestamp },
}

/// What a command presents to be admitted under a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presented {
    pub tenant: String,
    pub owner: String,
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
            approval: None,
        }
    }

    /// When the driver must send [`SessionEvent::Timeout`] next, if ever.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match self.state {
            SessionState::Active => Some(self.expires_at),
            SessionState::Ended { .. } => None,
        }
    }

    /// Checks the binding only, for reads of the session's status (which work after it ended).
    pub fn is_bound_to(&self, presented: &Presented) -> bool {
        let bound: bool = presented.token_hash.ct_eq(&self.token_hash).into();
        bound && presented.tenant == self.tenant && presented.owner == self.owner
    }

    /// Whether the session is live at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.state == SessionState::Active && now < self.expires_at
    }

    fn end(&mut self, reason: EndReason, at: Timestamp) -> SessionEffect {
        self.state = SessionState::Ended { at, reason };
        SessionEffect::Ended { reason, at }
    }
}

impl Machine for Session {
    type Event = SessionEvent;
    type Effect = SessionEffect;
    type Error = SessionError;

    /// The single place that decides every session transition.
    fn handle(&mut self, event: SessionEvent, now: Timestamp) -> Outcome<SessionEffect, SessionError> {
        // A command's binding is checked before anything about the session is revealed.
        if let SessionEvent::Command(Caller::Presented(presented)) = &event {
            if !self.is_bound_to(presented) {
                return Err(refuse(SessionError::NotFound));
            }
        }
        let lapsed = now >= self.expires_at;
        match (self.state, event) {
            // The timer: a lapsed session ends as expired; anything earlier is a no-op.
            (SessionState::Active, SessionEvent::Timeout) if lapsed => {
                Ok(vec![self.end(EndReason::Expired, self.expires_at)])
            }
            (_, SessionEvent::Timeout) => Ok(vec![]),
            // Past its expiry a session ends as expired, whatever else was asked: the operator
            // deactivating a lapsed session, or a command on it, is refused — and the end is
            // returned with the refusal so it is recorded.
            (SessionState::Active, _) if lapsed => {
                let ended = self.end(EndReason::Expired, self.expires_at);
                Err(Refused::with(SessionError::Expired, vec![ended]))
            }
            (SessionState::Active, SessionEvent::Deactivate) => Ok(vec![self.end(EndReason::Deactivated, now)]),
            (SessionState::Active, SessionEvent::End(reason)) => Ok(vec![self.end(reason, now)]),
            (SessionState::Active, SessionEvent::Command(_)) => Ok(vec![]),
            // Ended is terminal: nothing ends twice and nothing runs.
            (SessionState::Ended { .. }, _) => Err(refuse(SessionError::Expired)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::sha256;

    const NOW: Timestamp = crate::tenant::tests::NOW;

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

    fn command(tenant: &str, owner: &str, token: &[u8]) -> SessionEvent {
        SessionEvent::Command(Caller::Presented(Presented {
            tenant: tenant.into(),
            owner: owner.into(),
            token_hash: sha256(token),
        }))
    }

    fn ended(reason: EndReason, at: Timestamp) -> Vec<SessionEffect> {
        vec![SessionEffect::Ended { reason, at }]
    }

    #[test]
    fn deactivate_ends_once_and_later_use_is_expired() {
        let mut session = active_session();
        assert_eq!(session.handle(SessionEvent::Deactivate, NOW), Ok(ended(EndReason::Deactivated, NOW)));
        assert_eq!(session.handle(SessionEvent::Deactivate, NOW), Err(refuse(SessionError::Expired)));
        assert_eq!(session.handle(SessionEvent::End(EndReason::KillSwitch), NOW), Err(refuse(SessionError::Expired)));
        assert_eq!(session.handle(command("T1", "op@x", b"rst_1"), NOW), Err(refuse(SessionError::Expired)));
    }

    #[test]
    fn every_external_end_reason_is_recorded() {
        for reason in EndReason::ALL {
            let mut session = active_session();
            assert_eq!(session.handle(SessionEvent::End(reason), NOW), Ok(ended(reason, NOW)));
            assert_eq!(session.state, SessionState::Ended { at: NOW, reason });
        }
    }

    #[test]
    fn session_expires_at_its_deadline_without_a_request() {
        let mut session = active_session();
        let deadline = session.next_deadline().unwrap();
        assert_eq!(deadline, NOW.plus_millis(DEFAULT_TTL_MS));
        assert_eq!(session.handle(SessionEvent::Timeout, deadline.plus_millis(-1)), Ok(vec![]));
        assert_eq!(session.handle(SessionEvent::Timeout, deadline), Ok(ended(EndReason::Expired, deadline)));
        assert_eq!(session.next_deadline(), None);
        assert_eq!(session.handle(SessionEvent::Timeout, deadline.plus_millis(1)), Ok(vec![]), "ends only once");
    }

    #[test]
    fn a_lapsed_session_refuses_and_still_returns_its_end() {
        // Every event on a lapsed active session: refused as expired, with the one end effect.
        for event in [
            SessionEvent::Deactivate,
            SessionEvent::End(EndReason::TenantDisarmed),
            command("T1", "op@x", b"rst_1"),
            SessionEvent::Command(Caller::Relayed),
        ] {
            let mut session = active_session();
            let late = session.expires_at;
            let refused = session.handle(event.clone(), late).unwrap_err();
            assert_eq!(refused.error.code(), Code::SessionExpired, "{event:?}");
            assert_eq!(refused.effects, ended(EndReason::Expired, late), "{event:?}");
            assert_eq!(session.handle(event, late), Err(refuse(SessionError::Expired)), "the end came once");
        }
    }

    #[test]
    fn token_is_bound_to_tenant_owner_and_token() {
        let mut session = active_session();
        assert_eq!(session.handle(command("T1", "op@x", b"rst_1"), NOW), Ok(vec![]));
        for wrong in
            [command("T2", "op@x", b"rst_1"), command("T1", "other@x", b"rst_1"), command("T1", "op@x", b"rst_2")]
        {
            assert_eq!(session.handle(wrong.clone(), NOW), Err(refuse(SessionError::NotFound)));
            // A wrong binding learns nothing, not even that the session lapsed or ended.
            assert_eq!(session.handle(wrong, session.expires_at), Err(refuse(SessionError::NotFound)));
        }
        assert_eq!(session.state, SessionState::Active);
    }

    #[test]
    fn agent_side_admits_only_a_live_session() {
        let mut session = active_session();
        assert_eq!(session.handle(SessionEvent::Command(Caller::Relayed), NOW), Ok(vec![]));
        session.handle(SessionEvent::End(EndReason::KillSwitch), NOW).unwrap();
        assert_eq!(session.handle(SessionEvent::Command(Caller::Relayed), NOW), Err(refuse(SessionError::Expired)));
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
