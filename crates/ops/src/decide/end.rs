//! Ending a session, whatever ends it (deactivation, expiry, the kill switch, disarm, consent
//! withdrawal, revocation, the agent saying it is over): the session machine decides the end
//! and its reason; the end is claimed once cluster-wide, stored with exactly one
//! `remote_support_session_ended`, and only then told to the agent.
//!
//! ```text
//!   start --machine ends it--> ClaimEnd --won--> Commit --stored--> tell End, answer the end
//!     |                           |--won, recorded with the claim--> Commit (no record) --stored--> …
//!     |                           |--lost--> tell Forget, answer "already ended"
//!     '--machine does not end it: no operation
//! ```
//!
//! A shared store records the end with its claim (one transaction): a claim can never stand
//! without its record, whatever fails after it, and no later session of the agent can be
//! recorded before this one's end.
//! ```text
//! ```

use argus_fsm::machine::Machine;
use argus_fsm::session::{EndReason, Session, SessionEffect, SessionEvent};
use argus_fsm::Timestamp;
use serde_json::json;

use super::{out_of_order, Event, Step, Tell, Then};
use crate::fault::Fault;
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::{EndClaim, Write};
use crate::time_format::rfc3339;

/// What an end answers: the reason it ended with now and the ended session, or `None` when
/// another node ended it first.
pub type Ended = Option<(EndReason, Box<Session>)>;

/// One session's end, in progress.
#[derive(Debug)]
pub struct End {
    session: Session,
    reason: EndReason,
    entry: Option<AuditEntry>,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Begin,
    Claiming,
    Committing,
    Over,
}

/// Who ended a session and what they said (an operator's words and, on the browser path,
/// their verified Access identity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct By {
    pub actor: String,
    pub note: Option<String>,
    pub access: Option<String>,
}

impl By {
    /// The server itself (expiry, disarm, revocation, the kill switch).
    pub fn system() -> By {
        By { actor: "system".into(), ..By::default() }
    }
}

impl End {
    /// The end `event` causes to `stored` (the session as the driver holds it now): `None` when
    /// it causes none (no such session, or it had already ended). A lapsed session ends as
    /// `expired` whatever was asked: the machine returns that end with its refusal.
    pub fn start(stored: Option<Session>, event: SessionEvent, by: By, now: Timestamp) -> Option<End> {
        let mut session = stored?;
        let effects = match session.handle(event, now) {
            Ok(effects) => effects,
            Err(refused) => refused.effects,
        };
        let Some(SessionEffect::Ended { reason, .. }) = effects.into_iter().next() else { return None };
        let entry = AuditEntry::new(AuditEvent::RemoteSupportSessionEnded, by.actor)
            .tenant(&session.tenant)
            .agent(&session.agent_id)
            .session(&session.id)
            .reason(reason.as_str())
            .details(json!({
                "started_at": rfc3339(session.started_at),
                "operator_reason": by.note,
                "access_identity": by.access,
            }));
        Some(End { session, reason, entry: Some(entry), stage: Stage::Begin })
    }

    /// The next step, given what the last one answered.
    pub fn next(&mut self, event: Event) -> Step<Ended> {
        match (self.stage, event) {
            (Stage::Begin, Event::Start) => {
                self.stage = Stage::Claiming;
                let entry = self.entry.clone().expect("the end's record is made at start");
                Step::then(Then::ClaimEnd { ended: Box::new(self.session.clone()), entry })
            }
            (Stage::Claiming, Event::EndClaimed(Ok(EndClaim::Won))) => {
                self.stage = Stage::Committing;
                let audit = self.entry.take().into_iter().collect();
                Step::then(Then::Commit { writes: vec![Write::Session(self.session.clone())], audit })
            }
            (Stage::Claiming, Event::EndClaimed(Ok(EndClaim::Recorded))) => {
                // Durable with the claim: this node's view only has to follow (nothing waits on
                // that write, which the store already holds).
                self.stage = Stage::Committing;
                self.entry = None;
                Step::then(Then::StoreQuietly { writes: vec![Write::Session(self.session.clone())] })
            }
            (Stage::Claiming, Event::EndClaimed(Ok(EndClaim::Lost))) => {
                self.stage = Stage::Over;
                Step { tell: vec![Tell::Forget { session_id: self.session.id.clone() }], then: Then::Answer(Ok(None)) }
            }
            (Stage::Claiming, Event::EndClaimed(Err(fault))) | (Stage::Committing, Event::Stored(Err(fault))) => {
                self.stage = Stage::Over;
                Step::answer(Err(fault))
            }
            (Stage::Committing, Event::Stored(Ok(()))) => {
                self.stage = Stage::Over;
                let tell = Tell::End {
                    agent_id: self.session.agent_id.clone(),
                    session_id: self.session.id.clone(),
                    reason: self.reason,
                };
                Step { tell: vec![tell], then: Then::Answer(Ok(Some((self.reason, Box::new(self.session.clone()))))) }
            }
            (_, event) => out_of_order("end", &event),
        }
    }
}

/// What deactivating answers, given the end it caused: the operator's own end answers the
/// session; a session that had already ended, or had lapsed (and so ended as `expired`),
/// answers `session_expired`.
pub fn deactivation(reason: Option<EndReason>) -> Result<(), Fault> {
    match reason {
        Some(EndReason::Deactivated) => Ok(()),
        _ => Err(argus_fsm::Code::SessionExpired.into()),
    }
}

/// The sessions among `sessions` that an agent- or tenant-wide end (revocation, the kill
/// switch, disarm, consent withdrawn) must end: those still active that `matches` picks, in
/// ID order (so every driver ends them in the same order).
pub fn still_active<'a>(
    sessions: impl Iterator<Item = &'a Session>,
    matches: impl Fn(&Session) -> bool,
) -> Vec<String> {
    let mut ids: Vec<String> =
        sessions.filter(|s| matches(s) && s.next_deadline().is_some()).map(|s| s.id.clone()).collect();
    ids.sort_unstable();
    ids
}

/// Why a tenant in this state may have no live session: disarmed, or without consent.
pub fn sessions_end_for(tenant: &argus_fsm::tenant::Tenant) -> Option<EndReason> {
    use argus_fsm::tenant::TenantState;
    match tenant.state {
        TenantState::NoConsent => Some(EndReason::ConsentWithdrawn),
        TenantState::Consented { armed: false, .. } => Some(EndReason::TenantDisarmed),
        TenantState::Consented { armed: true, .. } => None,
    }
}

/// The live sessions among `sessions` whose tenant (as `tenants` has it) may have none —
/// disarmed or without consent — with the reason each ends for; sessions named in `unflushed`
/// (staged here and not yet in the store, so their end claim would find nothing) are left for
/// the next sweep. On one node there are none (a disarm ends its sessions in the same step);
/// in a cluster they are sessions a node activated on a view that had not yet seen another
/// node's disarm. The expiry driver ends them within a second of the view learning of it, and
/// a command on one ends it at once (`command::Facts::tenant_ends`).
pub fn orphaned<'a>(
    sessions: impl Iterator<Item = &'a Session>,
    tenants: &std::collections::HashMap<String, argus_fsm::tenant::Tenant>,
    unflushed: &[String],
) -> Vec<(String, EndReason)> {
    let mut ids: Vec<(String, EndReason)> = sessions
        .filter(|s| s.next_deadline().is_some() && !unflushed.contains(&s.id))
        .filter_map(|s| {
            let reason = tenants.get(&s.tenant).and_then(sessions_end_for)?;
            Some((s.id.clone(), reason))
        })
        .collect();
    ids.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    ids
}

/// The sessions among `sessions` whose deadline has passed (the expiry driver ends them), in
/// ID order.
pub fn lapsed<'a>(sessions: impl Iterator<Item = &'a Session>, now: Timestamp) -> Vec<String> {
    let mut ids: Vec<String> =
        sessions.filter(|s| s.next_deadline().is_some_and(|d| d <= now)).map(|s| s.id.clone()).collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_fsm::session::SessionState;
    use argus_fsm::Code;

    fn session(expires_in: i64) -> Session {
        crate::decide::test_support::session(1_000, expires_in)
    }

    fn drive(end: &mut End, answers: Vec<Event>) -> (Vec<Step<Ended>>, usize) {
        let mut steps = vec![end.next(Event::Start)];
        let mut used = 0;
        for answer in answers {
            if matches!(steps.last().map(|s| &s.then), Some(Then::Answer(_))) {
                break;
            }
            steps.push(end.next(answer));
            used += 1;
        }
        (steps, used)
    }

    #[test]
    fn an_end_is_claimed_then_stored_with_one_record_then_told() {
        let mut end =
            End::start(Some(session(60_000)), SessionEvent::Deactivate, By::system(), Timestamp(2_000)).unwrap();
        let (steps, _) = drive(&mut end, vec![Event::EndClaimed(Ok(EndClaim::Won)), Event::Stored(Ok(()))]);
        assert!(matches!(&steps[0].then, Then::ClaimEnd { ended, entry }
            if ended.id == "ses_1" && matches!(ended.state, SessionState::Ended { .. }) && entry.session_id.as_deref() == Some("ses_1")));
        match &steps[1].then {
            Then::Commit { writes, audit } => {
                assert_eq!(audit.len(), 1, "exactly one record");
                assert!(steps[1].tell.is_empty(), "nothing told before it is stored");
                assert!(matches!(&writes[..], [Write::Session(s)] if matches!(s.state, SessionState::Ended { .. })));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&steps[2].tell[..], [Tell::End { reason: EndReason::Deactivated, .. }]));
        assert!(matches!(&steps[2].then, Then::Answer(Ok(Some((EndReason::Deactivated, _))))));
    }

    /// A shared store recorded the end with its claim: this node's view follows quietly and no
    /// second record is written.
    #[test]
    fn an_end_recorded_with_its_claim_is_not_recorded_again() {
        let mut end =
            End::start(Some(session(60_000)), SessionEvent::Deactivate, By::system(), Timestamp(2_000)).unwrap();
        let (steps, _) = drive(&mut end, vec![Event::EndClaimed(Ok(EndClaim::Recorded)), Event::Stored(Ok(()))]);
        match &steps[1].then {
            Then::StoreQuietly { writes } => {
                assert!(matches!(&writes[..], [Write::Session(s)] if matches!(s.state, SessionState::Ended { .. })));
            }
            other => panic!("already recorded with the claim: no second record, nothing to wait for: {other:?}"),
        }
        assert!(matches!(&steps[2].then, Then::Answer(Ok(Some((EndReason::Deactivated, _))))));
    }

    #[test]
    fn a_lost_claim_forgets_the_copy_and_stores_nothing() {
        let mut end =
            End::start(Some(session(60_000)), SessionEvent::Deactivate, By::system(), Timestamp(2_000)).unwrap();
        let (steps, _) = drive(&mut end, vec![Event::EndClaimed(Ok(EndClaim::Lost))]);
        assert!(matches!(&steps[1].tell[..], [Tell::Forget { .. }]));
        assert!(matches!(&steps[1].then, Then::Answer(Ok(None))));
    }

    #[test]
    fn a_failed_store_tells_nothing_and_answers_the_fault() {
        for answers in [
            vec![Event::EndClaimed(Err(Fault::from(Code::StoreUnavailable)))],
            vec![Event::EndClaimed(Ok(EndClaim::Won)), Event::Stored(Err(Fault::from(Code::StoreUnavailable)))],
        ] {
            let mut end =
                End::start(Some(session(60_000)), SessionEvent::Deactivate, By::system(), Timestamp(2_000)).unwrap();
            let (steps, _) = drive(&mut end, answers);
            assert!(steps.iter().all(|s| s.tell.is_empty()), "no agent told of an end not stored");
            assert!(matches!(&steps.last().unwrap().then, Then::Answer(Err(f)) if f.code == Code::StoreUnavailable));
        }
    }

    #[test]
    fn a_lapsed_session_ends_as_expired_whatever_was_asked_and_an_ended_one_not_again() {
        let end = End::start(Some(session(500)), SessionEvent::Deactivate, By::system(), Timestamp(2_000)).unwrap();
        assert_eq!(end.reason, EndReason::Expired);
        let mut ended = session(60_000);
        ended.handle(SessionEvent::Deactivate, Timestamp(1_500)).unwrap();
        assert!(End::start(Some(ended), SessionEvent::Timeout, By::system(), Timestamp(2_000)).is_none());
        assert!(End::start(None, SessionEvent::Timeout, By::system(), Timestamp(2_000)).is_none());
    }

    #[test]
    fn an_event_out_of_order_answers_internal() {
        let mut end =
            End::start(Some(session(60_000)), SessionEvent::Deactivate, By::system(), Timestamp(2_000)).unwrap();
        assert!(matches!(end.next(Event::Stored(Ok(()))).then, Then::Answer(Err(f)) if f.code == Code::Internal));
    }

    #[test]
    fn live_sessions_of_a_tenant_that_may_have_none_are_orphans_unless_unflushed_here() {
        use argus_fsm::tenant::{ConsentRecord, Tenant, TenantState};
        let consent = ConsentRecord {
            signer: "s".into(),
            issued_at: 0,
            expires_at: None,
            key_id: "k".into(),
            recorded_at: Timestamp(0),
        };
        let tenant = |id: &str, state| {
            (id.to_string(), Tenant { id: id.into(), consent_key: [1; 32], state, approval_required: false })
        };
        let tenants: std::collections::HashMap<String, Tenant> = [
            tenant("armed", TenantState::Consented { consent: consent.clone(), armed: true }),
            tenant("disarmed", TenantState::Consented { consent, armed: false }),
            tenant("withdrawn", TenantState::NoConsent),
        ]
        .into_iter()
        .collect();
        let of = |id: &str, tenant: &str| {
            let mut s = session(60_000);
            s.id = id.into();
            s.tenant = tenant.into();
            s
        };
        let mut ended = of("s5", "disarmed");
        ended.handle(SessionEvent::Deactivate, Timestamp(2_000)).unwrap();
        let sessions = [
            of("s1", "armed"),
            of("s2", "disarmed"),
            of("s3", "withdrawn"),
            of("s4", "disarmed"),
            ended,
            of("s6", "unknown tenant"),
        ];
        assert_eq!(
            orphaned(sessions.iter(), &tenants, &["s4".to_string()]),
            [("s2".to_string(), EndReason::TenantDisarmed), ("s3".to_string(), EndReason::ConsentWithdrawn)],
            "s1 armed, s4 not flushed yet, s5 already ended, s6's tenant unknown here"
        );
    }
}
