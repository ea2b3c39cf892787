//! The enrollment machine, one per agent ID (SPEC §5 "Enrollment").
//!
//! ```text
//!   (none) --IssueToken--> Pending --Enroll(token, passkey)--> Enrolled
//!                            |  ^ IssueToken (replaces)          |
//!                            +--+------------ Revoke ------------+--> Revoked (terminal)
//! ```
//! A token is stored only as its SHA-256, is single-use (enrolling consumes the Pending state
//! that held it) and expires. `Revoked` is a tombstone: no event ever leaves it, so the same
//! agent ID can never enroll again.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::codes::Code;
use crate::machine::{refuse, Machine, Outcome};
use crate::signed::sha256;
use crate::time::Timestamp;

/// Default enrollment token lifetime: 15 minutes.
pub const DEFAULT_ENROLLMENT_TTL_MS: i64 = 15 * 60_000;

/// An agent ID's enrollment state. Each state holds only what is valid in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Enrollment {
    /// A one-time token was issued and not used yet.
    Pending { tenant: String, token_hash: [u8; 32], expires_at: Timestamp, issued_at: Timestamp },
    /// The agent proved possession of its passkey and presented a valid token.
    Enrolled { tenant: String, passkey: [u8; 32], enrolled_at: Timestamp },
    /// Permanently revoked; the ID is tombstoned.
    Revoked { tenant: String, revoked_at: Timestamp, reason: String, was_enrolled: bool },
}

/// Something that happens to an agent ID's enrollment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrollmentEvent {
    /// An operator or tenant admin issued a token (its hash and expiry).
    IssueToken { tenant: String, token_hash: [u8; 32], expires_at: Timestamp },
    /// The agent presented a token and a passkey it proved it holds.
    Enroll { tenant: String, token: String, passkey: [u8; 32] },
    /// An operator revoked the agent.
    Revoke { reason: String },
}

/// What an accepted enrollment event did, for the driver's audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollmentEffect {
    TokenIssued,
    Enrolled,
    Revoked,
}

/// Why an enrollment event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentError {
    #[error("the agent is revoked")]
    Revoked,
    #[error("the agent ID is already enrolled")]
    AlreadyEnrolled,
    #[error("the agent ID belongs to another tenant")]
    OtherTenant,
    #[error("the enrollment token is unknown, used, expired or for another tenant")]
    TokenInvalid,
}

impl EnrollmentError {
    /// The wire code for this refusal.
    pub fn code(self) -> Code {
        match self {
            EnrollmentError::Revoked => Code::AgentRevoked,
            EnrollmentError::AlreadyEnrolled => Code::AgentExists,
            EnrollmentError::OtherTenant => Code::AgentExists,
            EnrollmentError::TokenInvalid => Code::EnrollmentTokenInvalid,
        }
    }
}

/// The hash under which a secret token is stored and looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

impl Enrollment {
    /// The first event for an unknown agent ID: only issuing a token creates a record.
    pub fn start(event: EnrollmentEvent, now: Timestamp) -> Result<Enrollment, EnrollmentError> {
        match event {
            EnrollmentEvent::IssueToken { tenant, token_hash, expires_at } => {
                Ok(Enrollment::Pending { tenant, token_hash, expires_at, issued_at: now })
            }
            // Enrolling an ID nobody issued a token for, or revoking an unknown ID, is refused
            // in the same words as a bad token, so the two cannot be told apart.
            EnrollmentEvent::Enroll { .. } | EnrollmentEvent::Revoke { .. } => Err(EnrollmentError::TokenInvalid),
        }
    }

    /// The tenant this agent ID belongs to.
    pub fn tenant(&self) -> &str {
        match self {
            Enrollment::Pending { tenant, .. }
            | Enrollment::Enrolled { tenant, .. }
            | Enrollment::Revoked { tenant, .. } => tenant,
        }
    }

    /// The SPEC's listing state: `pending`, `enrolled` or `revoked`.
    pub fn state_name(&self) -> &'static str {
        match self {
            Enrollment::Pending { .. } => "pending",
            Enrollment::Enrolled { .. } => "enrolled",
            Enrollment::Revoked { .. } => "revoked",
        }
    }

    /// The passkey an enrolled agent authenticates with; nothing for other states.
    pub fn passkey(&self) -> Option<[u8; 32]> {
        match self {
            Enrollment::Enrolled { passkey, .. } => Some(*passkey),
            _ => None,
        }
    }

    /// Whether the ID is tombstoned.
    pub fn is_revoked(&self) -> bool {
        matches!(self, Enrollment::Revoked { .. })
    }
}

impl Machine for Enrollment {
    type Event = EnrollmentEvent;
    type Effect = EnrollmentEffect;
    type Error = EnrollmentError;

    /// The single place that decides every enrollment transition. A refused event leaves the
    /// state as it was.
    fn handle(&mut self, event: EnrollmentEvent, now: Timestamp) -> Outcome<EnrollmentEffect, EnrollmentError> {
        let (next, effect) = match (self.clone(), event) {
            // Revoked is terminal: every event is refused and the tombstone stays.
            (Enrollment::Revoked { .. }, _) => return Err(refuse(EnrollmentError::Revoked)),
            // A fresh token for a pending ID replaces the old one (the old one stops working).
            (
                Enrollment::Pending { tenant, .. },
                EnrollmentEvent::IssueToken { tenant: asked, token_hash, expires_at },
            ) if tenant == asked => {
                (Enrollment::Pending { tenant, token_hash, expires_at, issued_at: now }, EnrollmentEffect::TokenIssued)
            }
            (Enrollment::Pending { .. }, EnrollmentEvent::IssueToken { .. }) => {
                return Err(refuse(EnrollmentError::OtherTenant))
            }
            // An enrolled ID gets no new token: a reinstalled machine comes back under a new ID.
            (Enrollment::Enrolled { .. }, EnrollmentEvent::IssueToken { .. }) => {
                return Err(refuse(EnrollmentError::AlreadyEnrolled))
            }
            // Enrolling consumes the token: it must match in constant time, be unexpired and be
            // presented for the tenant it was issued for.
            (
                Enrollment::Pending { tenant, token_hash: stored, expires_at, .. },
                EnrollmentEvent::Enroll { tenant: presented_tenant, token, passkey },
            ) => {
                let matches: bool = token_hash(&token).ct_eq(&stored).into();
                if !(matches && now < expires_at && presented_tenant == tenant) {
                    return Err(refuse(EnrollmentError::TokenInvalid));
                }
                (Enrollment::Enrolled { tenant, passkey, enrolled_at: now }, EnrollmentEffect::Enrolled)
            }
            // A second enrollment of the same ID never succeeds, even with the old token.
            (Enrollment::Enrolled { .. }, EnrollmentEvent::Enroll { .. }) => {
                return Err(refuse(EnrollmentError::TokenInvalid))
            }
            // Revocation works from any live state and is permanent.
            (Enrollment::Pending { tenant, .. }, EnrollmentEvent::Revoke { reason }) => (
                Enrollment::Revoked { tenant, revoked_at: now, reason, was_enrolled: false },
                EnrollmentEffect::Revoked,
            ),
            (Enrollment::Enrolled { tenant, .. }, EnrollmentEvent::Revoke { reason }) => {
                (Enrollment::Revoked { tenant, revoked_at: now, reason, was_enrolled: true }, EnrollmentEffect::Revoked)
            }
        };
        *self = next;
        Ok(vec![effect])
    }
}

/// An agent ID's enrollment from before its first event: `None` is an ID nobody issued a token
/// for. The machine a driver holds for an ID it may not know yet, so that creating a record is
/// a transition like every other: only `IssueToken` creates one (effect `TokenIssued`);
/// enrolling or revoking an unknown ID is refused in the words of a bad token.
impl Machine for Option<Enrollment> {
    type Event = EnrollmentEvent;
    type Effect = EnrollmentEffect;
    type Error = EnrollmentError;

    fn handle(&mut self, event: EnrollmentEvent, now: Timestamp) -> Outcome<EnrollmentEffect, EnrollmentError> {
        match self {
            Some(enrollment) => enrollment.handle(event, now),
            None => {
                *self = Some(Enrollment::start(event, now).map_err(refuse)?);
                Ok(vec![EnrollmentEffect::TokenIssued])
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const NOW: Timestamp = Timestamp(1_800_000_000_000);

    pub(crate) fn issue(tenant: &str, token: &str) -> EnrollmentEvent {
        EnrollmentEvent::IssueToken {
            tenant: tenant.into(),
            token_hash: token_hash(token),
            expires_at: NOW.plus_millis(DEFAULT_ENROLLMENT_TTL_MS),
        }
    }

    pub(crate) fn enroll(tenant: &str, token: &str) -> EnrollmentEvent {
        EnrollmentEvent::Enroll { tenant: tenant.into(), token: token.into(), passkey: [9; 32] }
    }

    /// The state after `event`, or the (unchanged) state and the refusal.
    pub(crate) fn after(
        mut state: Enrollment,
        event: EnrollmentEvent,
        now: Timestamp,
    ) -> Result<Enrollment, (Enrollment, EnrollmentError)> {
        match state.handle(event, now) {
            Ok(_) => Ok(state),
            Err(refused) => Err((state, refused.error)),
        }
    }

    pub(crate) fn pending() -> Enrollment {
        Enrollment::start(issue("T1", "ent_a"), NOW).unwrap()
    }

    pub(crate) fn enrolled() -> Enrollment {
        after(pending(), enroll("T1", "ent_a"), NOW).unwrap()
    }

    pub(crate) fn revoked() -> Enrollment {
        after(enrolled(), EnrollmentEvent::Revoke { reason: "stale".into() }, NOW).unwrap()
    }

    #[test]
    fn enrollment_tokens_live_15_minutes_by_default() {
        assert_eq!(DEFAULT_ENROLLMENT_TTL_MS, 15 * 60 * 1000);
    }

    #[test]
    fn valid_token_enrolls_the_agent() {
        assert_eq!(enrolled().state_name(), "enrolled");
        assert_eq!(enrolled().passkey(), Some([9; 32]));
    }

    #[test]
    fn token_enrolls_at_most_once() {
        let err = after(enrolled(), enroll("T1", "ent_a"), NOW).unwrap_err();
        assert_eq!(err.1, EnrollmentError::TokenInvalid);
        assert_eq!(err.0.passkey(), Some([9; 32]), "the first passkey stays");
    }

    #[test]
    fn expired_token_is_refused() {
        let later = NOW.plus_millis(DEFAULT_ENROLLMENT_TTL_MS);
        let (state, err) = after(pending(), enroll("T1", "ent_a"), later).unwrap_err();
        assert_eq!(err.code(), Code::EnrollmentTokenInvalid);
        assert_eq!(state.state_name(), "pending");
    }

    #[test]
    fn token_presented_for_another_tenant_is_refused() {
        let (_, err) = after(pending(), enroll("T2", "ent_a"), NOW).unwrap_err();
        assert_eq!(err, EnrollmentError::TokenInvalid);
    }

    #[test]
    fn wrong_token_is_refused() {
        let (_, err) = after(pending(), enroll("T1", "ent_b"), NOW).unwrap_err();
        assert_eq!(err, EnrollmentError::TokenInvalid);
    }

    #[test]
    fn reissuing_replaces_the_old_token() {
        let state = after(pending(), issue("T1", "ent_b"), NOW).unwrap();
        assert!(after(state.clone(), enroll("T1", "ent_a"), NOW).is_err());
        assert!(after(state, enroll("T1", "ent_b"), NOW).is_ok());
    }

    #[test]
    fn enrolled_agent_gets_no_new_token() {
        let (_, err) = after(enrolled(), issue("T1", "ent_c"), NOW).unwrap_err();
        assert_eq!(err.code(), Code::AgentExists);
    }

    #[test]
    fn revoked_is_terminal_and_refuses_reenrollment() {
        for event in [issue("T1", "ent_z"), enroll("T1", "ent_a"), EnrollmentEvent::Revoke { reason: "again".into() }] {
            let (state, err) = after(revoked(), event, NOW).unwrap_err();
            assert_eq!(err.code(), Code::AgentRevoked);
            assert!(state.is_revoked());
        }
    }

    #[test]
    fn pending_agent_can_be_revoked() {
        let state = after(pending(), EnrollmentEvent::Revoke { reason: "typo".into() }, NOW).unwrap();
        assert!(matches!(state, Enrollment::Revoked { was_enrolled: false, .. }));
    }

    #[test]
    fn unknown_id_only_starts_with_a_token() {
        assert!(Enrollment::start(enroll("T1", "ent_a"), NOW).is_err());
        assert!(Enrollment::start(EnrollmentEvent::Revoke { reason: "x".into() }, NOW).is_err());
    }

    #[test]
    fn an_unknown_id_is_created_only_by_issuing_a_token_through_handle() {
        let mut unknown: Option<Enrollment> = None;
        let refused = unknown.handle(enroll("T1", "ent_a"), NOW).unwrap_err();
        assert_eq!((refused.error, unknown.clone()), (EnrollmentError::TokenInvalid, None));
        let refused = unknown.handle(EnrollmentEvent::Revoke { reason: "x".into() }, NOW).unwrap_err();
        assert_eq!((refused.error, unknown.clone()), (EnrollmentError::TokenInvalid, None), "same words");
        assert_eq!(unknown.handle(issue("T1", "ent_a"), NOW).unwrap(), [EnrollmentEffect::TokenIssued]);
        assert_eq!(unknown.as_ref().map(Enrollment::state_name), Some("pending"));
        // From then on it is the record's own machine.
        assert_eq!(unknown.handle(enroll("T1", "ent_a"), NOW).unwrap(), [EnrollmentEffect::Enrolled]);
        assert_eq!(unknown.as_ref().map(Enrollment::state_name), Some("enrolled"));
    }
}
