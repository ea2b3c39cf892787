//! The tenant machine: consent, arming and disarming, withdrawal (SPEC §5 "Tenant").
//!
//! ```text
//!   NoConsent --RecordConsent--> Consented{armed:false} --Arm--> Consented{armed:true}
//!       ^                          |   ^                          |
//!       +------WithdrawConsent-----+   +----------Disarm----------+
//! ```
//! Disarming ends every live session of the tenant (`tenant_disarmed`); withdrawing consent
//! ends them too (`consent_withdrawn`). The machine answers, for a given `now`, whether
//! activation or enrollment may proceed — consent that has expired counts as none.

use serde::{Deserialize, Serialize};

use crate::codes::Code;
use crate::machine::{refuse, Machine, Outcome};
use crate::session::EndReason;
use crate::signed::VerifiedConsent;
use crate::time::Timestamp;

/// A tenant's consent and arming state; each state holds only what is valid in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantState {
    /// No consent on record: nothing may be activated or enrolled.
    NoConsent,
    /// A verified consent document is on record.
    Consented { consent: ConsentRecord, armed: bool },
}

/// What the server keeps of a verified consent document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub signer: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub key_id: String,
    pub recorded_at: Timestamp,
}

/// Something that happens to a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantEvent {
    RecordConsent(VerifiedConsent),
    WithdrawConsent,
    Arm,
    Disarm,
}

/// What the driver must do after a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantEffect {
    /// End every live session of this tenant with this reason.
    EndSessions(EndReason),
}

/// Why a tenant event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("the consent document names another tenant")]
    ConsentForOtherTenant,
    #[error("the consent document has already expired")]
    ConsentExpired,
    #[error("the consent document is not valid yet")]
    ConsentNotYetIssued,
    #[error("the tenant has no valid consent on record")]
    ConsentRequired,
    #[error("the tenant is disarmed")]
    Disarmed,
}

impl TenantError {
    /// The wire code for this refusal.
    pub fn code(&self) -> Code {
        match self {
            TenantError::ConsentForOtherTenant | TenantError::ConsentExpired | TenantError::ConsentNotYetIssued => {
                Code::ConsentInvalid
            }
            TenantError::ConsentRequired => Code::TenantConsentRequired,
            TenantError::Disarmed => Code::TenantDisarmed,
        }
    }
}

/// Clock skew tolerated between a consent signer's `issued_at` and the server's clock.
pub const CONSENT_ISSUE_SKEW_SECONDS: i64 = 300;

/// One tenant: its identity, its consent key, and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// The tenant's Ed25519 consent public key; only documents signed by it count.
    pub consent_key: [u8; 32],
    pub state: TenantState,
    /// The server refuses activations without an approved access request (SPEC §13's tenant
    /// flag: a convenience; the agent's own policy is the guarantee).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval_required: bool,
}

impl Tenant {
    /// A new tenant with no consent on record.
    pub fn new(id: String, consent_key: [u8; 32]) -> Tenant {
        Tenant { id, consent_key, state: TenantState::NoConsent, approval_required: false }
    }

    /// Whether a session may be activated at `now` (consent first, then arming: SPEC order).
    pub fn may_activate(&self, now: Timestamp) -> Result<(), TenantError> {
        match &self.state {
            TenantState::Consented { consent, armed } if consent_valid(consent, now) => {
                if *armed {
                    Ok(())
                } else {
                    Err(TenantError::Disarmed)
                }
            }
            _ => Err(TenantError::ConsentRequired),
        }
    }

    /// Whether an enrollment token may be issued or used at `now`: consent is enough.
    pub fn may_enroll(&self, now: Timestamp) -> Result<(), TenantError> {
        match &self.state {
            TenantState::Consented { consent, .. } if consent_valid(consent, now) => Ok(()),
            _ => Err(TenantError::ConsentRequired),
        }
    }

    /// Consent valid now, for display.
    pub fn consent_valid(&self, now: Timestamp) -> bool {
        self.may_enroll(now).is_ok()
    }

    /// Armed (with consent on record), for display.
    pub fn armed(&self) -> bool {
        matches!(self.state, TenantState::Consented { armed: true, .. })
    }

    fn check_consent(&self, verified: &VerifiedConsent, now: Timestamp) -> Result<ConsentRecord, TenantError> {
        let body = verified.body();
        if body.tenant != self.id {
            return Err(TenantError::ConsentForOtherTenant);
        }
        if body.expires_at.is_some_and(|expiry| expiry <= now.unix_seconds()) {
            return Err(TenantError::ConsentExpired);
        }
        if body.issued_at > now.unix_seconds() + CONSENT_ISSUE_SKEW_SECONDS {
            return Err(TenantError::ConsentNotYetIssued);
        }
        Ok(ConsentRecord {
            signer: body.signer.clone(),
            issued_at: body.issued_at,
            expires_at: body.expires_at,
            key_id: verified.key_id().to_owned(),
            recorded_at: now,
        })
    }
}

fn consent_valid(consent: &ConsentRecord, now: Timestamp) -> bool {
    consent.expires_at.is_none_or(|expiry| now.unix_seconds() < expiry)
}

impl Machine for Tenant {
    type Event = TenantEvent;
    type Effect = TenantEffect;
    type Error = TenantError;

    /// The single place that decides every tenant transition.
    fn handle(&mut self, event: TenantEvent, now: Timestamp) -> Outcome<TenantEffect, TenantError> {
        let (next, effects) = match (&self.state, event) {
            // A new verified consent replaces any old one; arming is kept, because the tenant
            // renewing its consent is not a request to stop support.
            (state, TenantEvent::RecordConsent(verified)) => {
                let record = self.check_consent(&verified, now).map_err(refuse)?;
                let armed = matches!(state, TenantState::Consented { armed: true, .. });
                (TenantState::Consented { consent: record, armed }, vec![])
            }
            // Withdrawal always lands in NoConsent and ends whatever was live.
            (_, TenantEvent::WithdrawConsent) => {
                (TenantState::NoConsent, vec![TenantEffect::EndSessions(EndReason::ConsentWithdrawn)])
            }
            // Arming needs consent that is valid now.
            (TenantState::Consented { consent, .. }, TenantEvent::Arm) if consent_valid(consent, now) => {
                (TenantState::Consented { consent: consent.clone(), armed: true }, vec![])
            }
            (_, TenantEvent::Arm) => return Err(refuse(TenantError::ConsentRequired)),
            // Disarming is always allowed (the tenant's "no" never fails) and ends sessions.
            (TenantState::Consented { consent, .. }, TenantEvent::Disarm) => (
                TenantState::Consented { consent: consent.clone(), armed: false },
                vec![TenantEffect::EndSessions(EndReason::TenantDisarmed)],
            ),
            (TenantState::NoConsent, TenantEvent::Disarm) => {
                (TenantState::NoConsent, vec![TenantEffect::EndSessions(EndReason::TenantDisarmed)])
            }
        };
        self.state = next;
        Ok(effects)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signed::{sign_consent, verify_consent, ConsentBody};
    use ed25519_dalek::SigningKey;

    pub(crate) const NOW: Timestamp = Timestamp(1_800_000_000_000);

    pub(crate) fn consent_key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    pub(crate) fn consent_for(tenant: &str, expires_at: Option<i64>) -> VerifiedConsent {
        let body = ConsentBody {
            version: 1,
            tenant: tenant.into(),
            signer: "Jane".into(),
            issued_at: NOW.unix_seconds() - 10,
            expires_at,
        };
        let key = consent_key();
        verify_consent(&sign_consent(&key, &body), &key.verifying_key()).unwrap()
    }

    pub(crate) fn tenant_no_consent() -> Tenant {
        Tenant::new("T1".into(), consent_key().verifying_key().to_bytes())
    }

    pub(crate) fn tenant_armed() -> Tenant {
        let mut tenant = tenant_no_consent();
        tenant.handle(TenantEvent::RecordConsent(consent_for("T1", None)), NOW).unwrap();
        tenant.handle(TenantEvent::Arm, NOW).unwrap();
        tenant
    }

    #[test]
    fn activation_without_consent_is_refused_with_consent_required() {
        let tenant = tenant_no_consent();
        assert_eq!(tenant.may_activate(NOW).unwrap_err().code(), Code::TenantConsentRequired);
        assert_eq!(tenant.may_enroll(NOW).unwrap_err().code(), Code::TenantConsentRequired);
    }

    #[test]
    fn consented_but_disarmed_tenant_refuses_activation_with_tenant_disarmed() {
        let mut tenant = tenant_no_consent();
        tenant.handle(TenantEvent::RecordConsent(consent_for("T1", None)), NOW).unwrap();
        assert_eq!(tenant.may_activate(NOW).unwrap_err().code(), Code::TenantDisarmed);
        assert!(tenant.may_enroll(NOW).is_ok());
    }

    #[test]
    fn armed_tenant_with_consent_allows_activation() {
        assert!(tenant_armed().may_activate(NOW).is_ok());
    }

    #[test]
    fn arming_without_consent_is_refused() {
        let mut tenant = tenant_no_consent();
        assert_eq!(tenant.handle(TenantEvent::Arm, NOW), Err(refuse(TenantError::ConsentRequired)));
    }

    #[test]
    fn consent_for_another_tenant_is_refused() {
        let mut tenant = tenant_no_consent();
        let result = tenant.handle(TenantEvent::RecordConsent(consent_for("T2", None)), NOW);
        assert_eq!(result, Err(refuse(TenantError::ConsentForOtherTenant)));
        assert_eq!(tenant.state, TenantState::NoConsent);
    }

    #[test]
    fn expired_consent_is_refused_and_lapsed_consent_stops_activation() {
        let mut tenant = tenant_no_consent();
        let expired = consent_for("T1", Some(NOW.unix_seconds() - 1));
        assert_eq!(tenant.handle(TenantEvent::RecordConsent(expired), NOW), Err(refuse(TenantError::ConsentExpired)));

        let expiry = NOW.unix_seconds() + 60;
        tenant.handle(TenantEvent::RecordConsent(consent_for("T1", Some(expiry))), NOW).unwrap();
        tenant.handle(TenantEvent::Arm, NOW).unwrap();
        assert!(tenant.may_activate(NOW).is_ok());
        let later = Timestamp::from_unix_seconds(expiry);
        assert_eq!(tenant.may_activate(later).unwrap_err().code(), Code::TenantConsentRequired);
        assert_eq!(tenant.may_enroll(later).unwrap_err().code(), Code::TenantConsentRequired);
    }

    #[test]
    fn disarm_ends_sessions_with_tenant_disarmed() {
        let mut tenant = tenant_armed();
        let effects = tenant.handle(TenantEvent::Disarm, NOW).unwrap();
        assert_eq!(effects, vec![TenantEffect::EndSessions(EndReason::TenantDisarmed)]);
        assert!(!tenant.armed());
    }

    #[test]
    fn withdrawal_ends_sessions_with_consent_withdrawn_and_clears_consent() {
        let mut tenant = tenant_armed();
        let effects = tenant.handle(TenantEvent::WithdrawConsent, NOW).unwrap();
        assert_eq!(effects, vec![TenantEffect::EndSessions(EndReason::ConsentWithdrawn)]);
        assert_eq!(tenant.state, TenantState::NoConsent);
        assert!(!tenant.armed());
    }

    #[test]
    fn renewing_consent_keeps_the_tenant_armed() {
        let mut tenant = tenant_armed();
        tenant.handle(TenantEvent::RecordConsent(consent_for("T1", None)), NOW).unwrap();
        assert!(tenant.armed());
    }

    #[test]
    fn consent_issued_far_in_the_future_is_refused() {
        let body = ConsentBody {
            version: 1,
            tenant: "T1".into(),
            signer: "x".into(),
            issued_at: NOW.unix_seconds() + CONSENT_ISSUE_SKEW_SECONDS + 1,
            expires_at: None,
        };
        let key = consent_key();
        let verified = verify_consent(&sign_consent(&key, &body), &key.verifying_key()).unwrap();
        let mut tenant = tenant_no_consent();
        assert_eq!(
            tenant.handle(TenantEvent::RecordConsent(verified), NOW),
            Err(refuse(TenantError::ConsentNotYetIssued))
        );
    }
}
