//! The agent's own enforcement of sessions (SPEC §5 "the agent enforces the session too",
//! §12 "activation is ready when answered").
//!
//! The server tells the agent about sessions on two kinds of stream: grants and ends on the
//! one control stream, commands each on a stream of its own. QUIC orders bytes within a
//! stream, never across streams, so a command can reach the agent before the grant that was
//! sent first. Every command therefore carries its session's grant: the agent admits a command
//! whose grant is live and that it has not seen end, whatever order the streams arrive in. An
//! end, once processed, is final: a grant for an ended session never revives it.
//!
//! With the tenant's approver policy (SPEC §13) a grant is learnt only if its approvals pass
//! [`approval::check`] and its access request has opened no other session; the request's use
//! is remembered (the driver keeps it on disk before anything runs under it) until the end of
//! its window or of the session. A session learnt before the policy was set runs nothing
//! while it is set.
//!
//! ```text
//!   unknown --Granted | Command with a live grant [approved, if a policy]--> Active
//!   Active --Ended | KillSwitchOff | expiry--> Ended
//!   (Ended and expired sessions are forgotten once their expiry has passed: a late grant for
//!    them is refused by its own expires_at.)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::approval::{self, ApprovalError, ApproverPolicy};
use crate::machine::{refuse, Machine, Outcome};
use crate::session::{Caller, EndReason, Session, SessionError, SessionEvent};
use crate::time::Timestamp;
use crate::wire::SessionGrant;

/// Something the server or the machine's owner did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSessionEvent {
    /// The control stream's `Welcome` after (re)connecting: the sessions live on the server.
    Welcome(Vec<SessionGrant>),
    /// The control stream's `SessionGranted`.
    Granted(SessionGrant),
    /// The control stream's `SessionEnded`.
    Ended { session_id: String, reason: EndReason },
    /// The kill switch was turned off: every session ends here and now.
    KillSwitchOff,
    /// A command stream arrived with its session's grant.
    Command { grant: SessionGrant, remote_support_on: bool },
    /// The machine's owner set (or, with `None`, cleared) the approver policy.
    Policy(Option<ApproverPolicy>),
}

/// What the agent's driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSessionEffect {
    /// Tell the server this end is applied (it answers the operator after this).
    AcknowledgeEnd { session_id: String },
    /// A session ended here by the agent's own account — its kill switch, or the server's
    /// `Welcome` no longer listing it — with nothing to acknowledge: the driver records it.
    Ended { session_id: String, reason: EndReason },
    /// An access request opened a session here: keep [`AgentSessions::used_requests`] on disk
    /// before anything runs under it (a restart must not let the request open another).
    RememberRequest(UsedRequest),
    /// A grant from the control stream was refused (its approvals): tell the server, which
    /// answers the activation with `code`.
    RefuseGrant { session_id: String, code: crate::Code },
    /// A grant from the control stream is live here and will be served (approved, with a
    /// policy): tell the server, which answers an activation carrying approvals after this.
    AcceptGrant { session_id: String },
}

/// One access request's use: the session it opened, when, and until when it is remembered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedRequest {
    pub request_id: String,
    pub session_id: String,
    pub accepted_at: Timestamp,
    pub remember_until: Timestamp,
}

/// Why the agent refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AgentRefusal {
    #[error("remote support is switched off on this machine")]
    RemoteSupportOff,
    #[error("the grant is for another tenant")]
    WrongTenant,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
}

impl AgentRefusal {
    /// The wire code the operator sees.
    pub fn code(self) -> crate::Code {
        match self {
            AgentRefusal::RemoteSupportOff => crate::Code::RemoteSupportOff,
            AgentRefusal::WrongTenant => crate::Code::SessionNotFound,
            AgentRefusal::Session(error) => error.code(),
            AgentRefusal::Approval(error) => error.code(),
        }
    }
}

/// The sessions one agent knows about.
#[derive(Clone, Debug)]
pub struct AgentSessions {
    tenant: String,
    /// This agent's ID: what approvals must name.
    agent_id: String,
    sessions: BTreeMap<String, Session>,
    policy: Option<ApproverPolicy>,
    /// Sessions learnt with approvals that passed.
    approved: BTreeSet<String>,
    /// Access requests that opened a session here, by request ID.
    used: BTreeMap<String, UsedRequest>,
}

impl AgentSessions {
    /// No sessions yet, for an agent enrolled in `tenant`, without an approver policy.
    pub fn new(tenant: impl Into<String>) -> AgentSessions {
        AgentSessions {
            tenant: tenant.into(),
            agent_id: String::new(),
            sessions: BTreeMap::new(),
            policy: None,
            approved: BTreeSet::new(),
            used: BTreeMap::new(),
        }
    }

    /// The same for agent `agent_id` with its approver `policy` (if any) and the access
    /// requests it remembers using (from disk, after a restart).
    pub fn with_approvals(
        tenant: impl Into<String>,
        agent_id: impl Into<String>,
        policy: Option<ApproverPolicy>,
        used: Vec<UsedRequest>,
    ) -> AgentSessions {
        AgentSessions {
            agent_id: agent_id.into(),
            policy,
            used: used.into_iter().map(|u| (u.request_id.clone(), u)).collect(),
            ..AgentSessions::new(tenant)
        }
    }

    /// The access requests remembered as used: what the driver keeps on disk.
    pub fn used_requests(&self) -> Vec<UsedRequest> {
        self.used.values().cloned().collect()
    }

    /// The policy in force, if any.
    pub fn policy(&self) -> Option<&ApproverPolicy> {
        self.policy.as_ref()
    }

    /// Admits one command that arrived with its session's grant (the
    /// [`AgentSessionEvent::Command`] transition): the effects to perform before it runs.
    pub fn admit(
        &mut self,
        grant: &SessionGrant,
        remote_support_on: bool,
        now: Timestamp,
    ) -> Result<Vec<AgentSessionEffect>, AgentRefusal> {
        let event = AgentSessionEvent::Command { grant: grant.clone(), remote_support_on };
        self.handle(event, now).map_err(|refused| refused.error)
    }

    /// Whether `session_id` is live here.
    pub fn is_live(&self, session_id: &str, now: Timestamp) -> bool {
        self.sessions.get(session_id).is_some_and(|s| s.is_live(now))
    }

    /// How many sessions are remembered (live or ended and not yet expired).
    pub fn remembered(&self) -> usize {
        self.sessions.len()
    }

    /// Records a grant unless the session is already known (an ended one stays ended) or the
    /// grant has expired. With a policy, only a grant whose approvals pass, for a request that
    /// opened no other session here; the effects say what to remember.
    fn learn(&mut self, grant: &SessionGrant, now: Timestamp) -> Result<Vec<AgentSessionEffect>, ApprovalError> {
        if self.sessions.contains_key(&grant.session_id) || grant.expires_at <= now || grant.tenant != self.tenant {
            return Ok(vec![]);
        }
        let mut expires_at = grant.expires_at;
        let mut effects = vec![];
        if let Some(policy) = &self.policy {
            let request_id = grant.approval.as_ref().map(|a| a.request_id.as_str());
            let earlier = request_id.and_then(|id| self.used.get(id));
            if earlier.is_some_and(|used| used.session_id != grant.session_id) {
                return Err(ApprovalError::Reused);
            }
            // A session accepted before a restart started when it was first accepted.
            let started = earlier.map_or(now, |used| used.accepted_at);
            let approved = approval::check(policy, &self.agent_id, &self.tenant, grant, started)?;
            expires_at = expires_at.min(approved.ends_by);
            if expires_at <= now {
                return Ok(vec![]);
            }
            if earlier.is_none() {
                let used = UsedRequest {
                    request_id: approved.request_id.clone(),
                    session_id: grant.session_id.clone(),
                    accepted_at: now,
                    remember_until: approved.remember_until,
                };
                self.used.insert(approved.request_id, used.clone());
                effects.push(AgentSessionEffect::RememberRequest(used));
            }
            self.approved.insert(grant.session_id.clone());
        }
        let mut session = Session::start(
            grant.session_id.clone(),
            grant.tenant.clone(),
            String::new(),
            grant.owner.clone(),
            [0; 32],
            String::new(),
            grant.expires_at.0 - now.0,
            now,
        );
        // Keep the server's exact deadline rather than one recomputed from our clock (or the
        // approvals' bound, when it is sooner).
        session.expires_at = expires_at;
        self.sessions.insert(grant.session_id.clone(), session);
        Ok(effects)
    }

    /// Learns each grant of the control stream; a refused one is told to the server.
    fn learn_told(&mut self, grant: &SessionGrant, now: Timestamp, effects: &mut Vec<AgentSessionEffect>) {
        match self.learn(grant, now) {
            Ok(learnt) => effects.extend(learnt),
            Err(refused) => effects
                .push(AgentSessionEffect::RefuseGrant { session_id: grant.session_id.clone(), code: refused.code() }),
        }
    }

    fn end(&mut self, session_id: &str, reason: EndReason, now: Timestamp) {
        if let Some(session) = self.sessions.get_mut(session_id) {
            let _ = session.handle(SessionEvent::End(reason), now);
        }
    }

    /// Drops sessions whose expiry has passed: any grant for them is refused by its own
    /// `expires_at`, so nothing is lost, and memory stays bounded by the sessions of the last
    /// two hours (the TTL cap).
    fn forget_expired(&mut self, now: Timestamp) {
        self.sessions.retain(|_, session| session.expires_at > now);
        let sessions = &self.sessions;
        self.approved.retain(|id| sessions.contains_key(id));
        self.used.retain(|_, used| used.remember_until > now);
    }
}

impl Machine for AgentSessions {
    type Event = AgentSessionEvent;
    type Effect = AgentSessionEffect;
    type Error = AgentRefusal;

    /// The single place that decides what a control-stream event, a command or the kill switch
    /// does here.
    fn handle(&mut self, event: AgentSessionEvent, now: Timestamp) -> Outcome<AgentSessionEffect, AgentRefusal> {
        self.forget_expired(now);
        match event {
            // Live on the server: known here unless this agent saw it end. Anything still
            // active here but not live there has ended on the server while we were away.
            AgentSessionEvent::Welcome(grants) => {
                let live: Vec<&str> = grants.iter().map(|g| g.session_id.as_str()).collect();
                let gone: Vec<String> = self
                    .sessions
                    .values()
                    .filter(|s| s.next_deadline().is_some() && !live.contains(&s.id.as_str()))
                    .map(|s| s.id.clone())
                    .collect();
                let mut ended = Vec::new();
                for id in gone {
                    self.end(&id, EndReason::Expired, now);
                    ended.push(AgentSessionEffect::Ended { session_id: id, reason: EndReason::Expired });
                }
                for grant in grants {
                    self.learn_told(&grant, now, &mut ended);
                }
                Ok(ended)
            }
            // Told the server either way when it will wait: accepted once live here (and
            // approved, under a policy), refused otherwise. An expired or ended grant says
            // nothing: the server ended it or will (its wait is bounded).
            AgentSessionEvent::Granted(grant) => {
                let mut effects = vec![];
                self.learn_told(&grant, now, &mut effects);
                let refused = effects.iter().any(|e| matches!(e, AgentSessionEffect::RefuseGrant { .. }));
                let session_id = grant.session_id;
                if !refused && self.is_live(&session_id, now) {
                    if self.policy.is_none() || self.approved.contains(&session_id) {
                        effects.push(AgentSessionEffect::AcceptGrant { session_id });
                    } else {
                        // Learnt before the policy was set: it runs nothing while it is.
                        let code = ApprovalError::Required.code();
                        effects.push(AgentSessionEffect::RefuseGrant { session_id, code });
                    }
                }
                Ok(effects)
            }
            // Sessions already approved stay so; one learnt without approvals runs nothing
            // while a policy is set.
            AgentSessionEvent::Policy(policy) => {
                self.policy = policy;
                Ok(vec![])
            }
            // An end for a session never seen (its grant still in flight) is remembered as
            // ended, so the late grant cannot revive it. Every end is acknowledged.
            AgentSessionEvent::Ended { session_id, reason } => {
                if !self.sessions.contains_key(&session_id) {
                    let mut ended = Session::start(
                        session_id.clone(),
                        self.tenant.clone(),
                        String::new(),
                        String::new(),
                        [0; 32],
                        String::new(),
                        crate::session::MAX_TTL_MS,
                        now,
                    );
                    let _ = ended.handle(SessionEvent::End(reason), now);
                    self.sessions.insert(session_id.clone(), ended);
                } else {
                    self.end(&session_id, reason, now);
                }
                Ok(vec![AgentSessionEffect::AcknowledgeEnd { session_id }])
            }
            AgentSessionEvent::KillSwitchOff => {
                let live: Vec<String> =
                    self.sessions.values().filter(|s| s.is_live(now)).map(|s| s.id.clone()).collect();
                let mut ended = Vec::new();
                for id in live {
                    self.end(&id, EndReason::KillSwitch, now);
                    ended.push(AgentSessionEffect::Ended { session_id: id, reason: EndReason::KillSwitch });
                }
                Ok(ended)
            }
            // The kill switch first, then a live session this agent has not seen end (learnt
            // from the grant if the control stream has not delivered it yet).
            AgentSessionEvent::Command { grant, remote_support_on } => {
                if !remote_support_on {
                    return Err(refuse(AgentRefusal::RemoteSupportOff));
                }
                if grant.tenant != self.tenant {
                    return Err(refuse(AgentRefusal::WrongTenant));
                }
                let effects = self.learn(&grant, now).map_err(|e| refuse(AgentRefusal::Approval(e)))?;
                let Some(session) = self.sessions.get_mut(&grant.session_id) else {
                    // Not learnt: the grant itself had expired.
                    return Err(refuse(AgentRefusal::Session(SessionError::Expired)));
                };
                if self.policy.is_some() && session.is_live(now) && !self.approved.contains(&grant.session_id) {
                    return Err(refuse(AgentRefusal::Approval(ApprovalError::Required)));
                }
                match session.handle(SessionEvent::Command(Caller::Relayed), now) {
                    Ok(_) => Ok(effects),
                    Err(refused) => Err(refuse(AgentRefusal::Session(refused.error))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn grant(id: &str, expires_in_ms: i64) -> SessionGrant {
        SessionGrant {
            session_id: id.into(),
            tenant: "T1".into(),
            owner: "op".into(),
            expires_at: NOW.plus_millis(expires_in_ms),
            approval: None,
        }
    }

    #[test]
    fn a_command_that_overtakes_its_grant_is_admitted() {
        let mut agent = AgentSessions::new("T1");
        assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW), Ok(vec![]));
        // The grant arriving late changes nothing; it is accepted (the server may be waiting).
        assert_eq!(
            agent.handle(AgentSessionEvent::Granted(grant("s1", 60_000)), NOW),
            Ok(vec![AgentSessionEffect::AcceptGrant { session_id: "s1".into() }])
        );
        assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW), Ok(vec![]));
    }

    #[test]
    fn an_end_is_final_even_when_it_overtakes_the_grant() {
        let mut agent = AgentSessions::new("T1");
        let ended =
            agent.handle(AgentSessionEvent::Ended { session_id: "s1".into(), reason: EndReason::Deactivated }, NOW);
        assert_eq!(
            ended,
            Ok(vec![AgentSessionEffect::AcknowledgeEnd { session_id: "s1".into() }]),
            "always acknowledged"
        );
        let late = agent.handle(AgentSessionEvent::Granted(grant("s1", 60_000)), NOW).unwrap();
        assert_eq!(late, vec![], "an ended session's grant is neither accepted nor refused: the server ended it");
        assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW), Err(AgentRefusal::Session(SessionError::Expired)));
        // After a live session ends, its grant riding on a late command is refused too.
        agent.admit(&grant("s2", 60_000), true, NOW).unwrap();
        agent
            .handle(AgentSessionEvent::Ended { session_id: "s2".into(), reason: EndReason::TenantDisarmed }, NOW)
            .unwrap();
        assert_eq!(agent.admit(&grant("s2", 60_000), true, NOW).unwrap_err().code(), crate::Code::SessionExpired);
    }

    #[test]
    fn kill_switch_expiry_tenant_and_welcome_are_enforced_here() {
        let mut agent = AgentSessions::new("T1");
        agent.admit(&grant("s1", 60_000), true, NOW).unwrap();
        assert_eq!(agent.admit(&grant("s1", 60_000), false, NOW), Err(AgentRefusal::RemoteSupportOff));
        assert_eq!(
            agent.handle(AgentSessionEvent::KillSwitchOff, NOW),
            Ok(vec![AgentSessionEffect::Ended { session_id: "s1".into(), reason: EndReason::KillSwitch }]),
            "every end it causes is returned"
        );
        assert!(agent.admit(&grant("s1", 60_000), true, NOW).is_err(), "the kill switch ended it for good");
        // A lapsed grant is refused, and a grant for another tenant is not this agent's.
        assert_eq!(agent.admit(&grant("s2", -1), true, NOW).unwrap_err().code(), crate::Code::SessionExpired);
        let foreign = SessionGrant { tenant: "T2".into(), ..grant("s3", 60_000) };
        assert_eq!(agent.admit(&foreign, true, NOW).unwrap_err().code(), crate::Code::SessionNotFound);
        // A live session expires by the agent's clock too.
        agent.admit(&grant("s4", 1_000), true, NOW).unwrap();
        assert!(agent.admit(&grant("s4", 1_000), true, NOW.plus_millis(1_000)).is_err());
        // Welcome: sessions the server no longer lists end; listed ones are learnt.
        agent.admit(&grant("s5", 60_000), true, NOW).unwrap();
        let ended = agent.handle(AgentSessionEvent::Welcome(vec![grant("s6", 60_000)]), NOW).unwrap();
        assert!(!agent.is_live("s5", NOW) && agent.is_live("s6", NOW));
        assert_eq!(ended, vec![AgentSessionEffect::Ended { session_id: "s5".into(), reason: EndReason::Expired }]);
    }

    mod approvals {
        use super::*;
        use crate::approval::{sign_approval, ApprovalBody, GrantApproval};
        use ed25519_dalek::SigningKey;

        const REQUEST: &str = "7d4f1c2a-9b3e-4f6a-8c1d-2e3f4a5b6c7d";

        fn key(seed: u8) -> SigningKey {
            SigningKey::from_bytes(&[seed; 32])
        }

        /// What approver `seed` signs for `request` on a1, allowing `max_ttl_seconds`.
        fn body(request: &str, seed: u8, max_ttl_seconds: u32) -> ApprovalBody {
            ApprovalBody {
                version: 1,
                request_id: request.into(),
                tenant: "T1".into(),
                agent_id: "a1".into(),
                requester: "op".into(),
                reason_sha256: crate::signed::sha256(b"INC-1"),
                max_ttl_seconds,
                not_before: NOW.0 / 1000 - 60,
                not_after: NOW.0 / 1000 + 600,
                approver: format!("approver-{seed}"),
            }
        }

        fn approved(id: &str, request: &str, seeds: &[u8]) -> SessionGrant {
            let approvals = seeds.iter().map(|seed| sign_approval(&key(*seed), &body(request, *seed, 3_600))).collect();
            let approval =
                Some(Box::new(GrantApproval { request_id: request.into(), reason: "INC-1".into(), approvals }));
            SessionGrant { approval, ..grant(id, 1_800_000) }
        }

        fn guarded(threshold: usize) -> AgentSessions {
            let policy = ApproverPolicy::new(vec![key(1).verifying_key(), key(2).verifying_key()], threshold).unwrap();
            AgentSessions::with_approvals("T1", "a1", Some(policy), vec![])
        }

        #[test]
        fn with_a_policy_a_command_runs_only_under_an_approved_grant() {
            let mut agent = guarded(1);
            let refused = agent.admit(&grant("s1", 60_000), true, NOW).unwrap_err();
            assert_eq!(refused.code(), crate::Code::ApprovalRequired);
            assert!(!agent.is_live("s1", NOW), "a refused grant is not learnt");
            let effects = agent.admit(&approved("s2", REQUEST, &[1]), true, NOW).unwrap();
            let [AgentSessionEffect::RememberRequest(used)] = &effects[..] else { panic!("{effects:?}") };
            assert_eq!((used.request_id.as_str(), used.session_id.as_str()), (REQUEST, "s2"));
            assert_eq!(agent.used_requests(), vec![used.clone()]);
            // Later commands of the session run with nothing more to remember.
            assert_eq!(agent.admit(&approved("s2", REQUEST, &[1]), true, NOW.plus_millis(5)), Ok(vec![]));
        }

        #[test]
        fn a_request_opens_one_session_even_after_a_restart() {
            let mut agent = guarded(1);
            agent.admit(&approved("s1", REQUEST, &[1]), true, NOW).unwrap();
            let replayed = agent.admit(&approved("s2", REQUEST, &[1]), true, NOW).unwrap_err();
            assert_eq!(replayed, AgentRefusal::Approval(ApprovalError::Reused));
            assert_eq!(replayed.code(), crate::Code::ApprovalInvalid);
            // Restarted with what was on disk: the replay is still refused; the session it
            // opened goes on (the Welcome lists it) even once its window has passed.
            let policy = agent.policy().cloned();
            let mut restarted = AgentSessions::with_approvals("T1", "a1", policy, agent.used_requests());
            let later = NOW.plus_millis(700_000);
            assert_eq!(
                restarted.handle(AgentSessionEvent::Welcome(vec![approved("s1", REQUEST, &[1])]), later),
                Ok(vec![])
            );
            assert!(restarted.is_live("s1", later), "the same session, started before the window closed");
            assert!(restarted.admit(&approved("s3", REQUEST, &[1]), true, later).is_err());
            // Its use is remembered until the session's approved length has passed.
            assert!(restarted.admit(&approved("s1", REQUEST, &[1]), true, NOW.plus_millis(3_600_000)).is_err());
            assert!(restarted.used_requests().is_empty(), "forgotten after the window and the session");
        }

        #[test]
        fn a_threshold_of_two_needs_two_listed_keys() {
            let mut agent = guarded(2);
            assert!(agent.admit(&approved("s1", REQUEST, &[1]), true, NOW).is_err());
            assert!(agent.admit(&approved("s1", REQUEST, &[1, 3]), true, NOW).is_err(), "key 3 is not listed");
            assert!(agent.admit(&approved("s1", REQUEST, &[1, 2]), true, NOW).is_ok());
        }

        #[test]
        fn a_refused_grant_on_the_control_stream_is_told_to_the_server() {
            let mut agent = guarded(1);
            let told = agent.handle(AgentSessionEvent::Granted(grant("s1", 60_000)), NOW).unwrap();
            assert_eq!(
                told,
                vec![AgentSessionEffect::RefuseGrant { session_id: "s1".into(), code: crate::Code::ApprovalRequired }]
            );
            let welcome = agent.handle(AgentSessionEvent::Welcome(vec![approved("s2", REQUEST, &[7])]), NOW).unwrap();
            assert_eq!(
                welcome,
                vec![AgentSessionEffect::RefuseGrant { session_id: "s2".into(), code: crate::Code::ApprovalInvalid }]
            );
        }

        #[test]
        fn a_policy_set_later_stops_sessions_learnt_without_it_and_clearing_it_restores_the_plain_flow() {
            let mut agent = AgentSessions::with_approvals("T1", "a1", None, vec![]);
            agent.admit(&grant("s1", 60_000), true, NOW).unwrap();
            let policy = ApproverPolicy::new(vec![key(1).verifying_key()], 1).unwrap();
            agent.handle(AgentSessionEvent::Policy(Some(policy)), NOW).unwrap();
            assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW).unwrap_err().code(), crate::Code::ApprovalRequired);
            agent.handle(AgentSessionEvent::Policy(None), NOW).unwrap();
            assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW), Ok(vec![]));
        }

        #[test]
        fn the_session_ends_when_the_approvals_say_even_if_the_grant_says_later() {
            let mut agent = guarded(1);
            // The grant claims 30 min; the approval allows 1 h: the grant's own end holds.
            agent.admit(&approved("s1", REQUEST, &[1]), true, NOW).unwrap();
            assert!(agent.is_live("s1", NOW.plus_millis(1_799_000)));
            assert!(!agent.is_live("s1", NOW.plus_millis(1_800_000)));
            // A grant 20 s longer than approved (a server clock ahead) runs until the approved end.
            let mut generous = approved("s2", "00000000-0000-4000-8000-000000000002", &[1]);
            if let Some(a) = generous.approval.as_mut() {
                a.approvals = vec![sign_approval(&key(1), &body(&a.request_id, 1, 600))];
            }
            generous.expires_at = NOW.plus_millis(620_000);
            agent.admit(&generous, true, NOW).unwrap();
            assert!(agent.is_live("s2", NOW.plus_millis(599_000)));
            assert!(!agent.is_live("s2", NOW.plus_millis(600_000)), "ended at start + the approved TTL");
        }
    }

    #[test]
    fn memory_is_bounded_by_the_sessions_that_have_not_expired() {
        let mut agent = AgentSessions::new("T1");
        for i in 0..1000 {
            agent.admit(&grant(&format!("s{i}"), 1_000), true, NOW).unwrap();
        }
        assert_eq!(agent.remembered(), 1000);
        agent.handle(AgentSessionEvent::Granted(grant("late", 60_000)), NOW.plus_millis(1_000)).unwrap();
        assert_eq!(agent.remembered(), 1, "expired sessions are forgotten");
    }
}
