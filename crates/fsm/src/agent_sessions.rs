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
//! ```text
//!   unknown --Granted | Command with a live grant--> Active --Ended | KillSwitchOff | expiry--> Ended
//!   (Ended and expired sessions are forgotten once their expiry has passed: a late grant for
//!    them is refused by its own expires_at.)
//! ```

use std::collections::BTreeMap;

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
}

/// What the agent's driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSessionEffect {
    /// Tell the server this end is applied (it answers the operator after this).
    AcknowledgeEnd { session_id: String },
    /// A session ended here by the agent's own account — its kill switch, or the server's
    /// `Welcome` no longer listing it — with nothing to acknowledge: the driver records it.
    Ended { session_id: String, reason: EndReason },
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
}

impl AgentRefusal {
    /// The wire code the operator sees.
    pub fn code(self) -> crate::Code {
        match self {
            AgentRefusal::RemoteSupportOff => crate::Code::RemoteSupportOff,
            AgentRefusal::WrongTenant => crate::Code::SessionNotFound,
            AgentRefusal::Session(error) => error.code(),
        }
    }
}

/// The sessions one agent knows about.
#[derive(Clone, Debug)]
pub struct AgentSessions {
    tenant: String,
    sessions: BTreeMap<String, Session>,
}

impl AgentSessions {
    /// No sessions yet, for an agent enrolled in `tenant`.
    pub fn new(tenant: impl Into<String>) -> AgentSessions {
        AgentSessions { tenant: tenant.into(), sessions: BTreeMap::new() }
    }

    /// Admits one command that arrived with its session's grant (the
    /// [`AgentSessionEvent::Command`] transition).
    pub fn admit(&mut self, grant: &SessionGrant, remote_support_on: bool, now: Timestamp) -> Result<(), AgentRefusal> {
        let event = AgentSessionEvent::Command { grant: grant.clone(), remote_support_on };
        self.handle(event, now).map(drop).map_err(|refused| refused.error)
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
    /// grant has expired.
    fn learn(&mut self, grant: &SessionGrant, now: Timestamp) {
        if self.sessions.contains_key(&grant.session_id) || grant.expires_at <= now || grant.tenant != self.tenant {
            return;
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
        // Keep the server's exact deadline rather than one recomputed from our clock.
        session.expires_at = grant.expires_at;
        self.sessions.insert(grant.session_id.clone(), session);
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
                    self.learn(&grant, now);
                }
                Ok(ended)
            }
            AgentSessionEvent::Granted(grant) => {
                self.learn(&grant, now);
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
                self.learn(&grant, now);
                let Some(session) = self.sessions.get_mut(&grant.session_id) else {
                    // Not learnt: the grant itself had expired.
                    return Err(refuse(AgentRefusal::Session(SessionError::Expired)));
                };
                match session.handle(SessionEvent::Command(Caller::Relayed), now) {
                    Ok(_) => Ok(vec![]),
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
        }
    }

    #[test]
    fn a_command_that_overtakes_its_grant_is_admitted() {
        let mut agent = AgentSessions::new("T1");
        assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW), Ok(()));
        // The grant arriving late changes nothing.
        assert_eq!(agent.handle(AgentSessionEvent::Granted(grant("s1", 60_000)), NOW), Ok(vec![]));
        assert_eq!(agent.admit(&grant("s1", 60_000), true, NOW), Ok(()));
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
        agent.handle(AgentSessionEvent::Granted(grant("s1", 60_000)), NOW).unwrap();
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
