//! Activating a session (SPEC §5): the request's own checks, lapsed sessions ended first, the
//! activation rules (`argus_fsm::activation`), the one live session per agent claimed
//! cluster-wide, the session stored with `remote_support_session_started`, and only then the
//! grant told to the agent and the token answered.
//!
//! ```text
//!   start --tenant not visible--> answer (agent_not_found, after the request's own checks)
//!     '--> End each lapsed session --> rules refuse? answer
//!            '--> ClaimLiveSession --lost--> answer session_already_active
//!                   '--won--> Commit --stored--> tell Grant, answer the session and its token
//! ```

use argus_fsm::activation::{check_activation, ActivationRequest, AgentFacts};
use argus_fsm::session::{Session, SessionEvent};
use argus_fsm::tenant::Tenant;
use argus_fsm::{Code, Timestamp};
use serde_json::json;

use super::end::lapsed;
use super::grant_of;
use super::{out_of_order, Event, Step, Tell, Then};
use crate::fault::Fault;
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::{AgentRecord, Write};
use crate::time_format::rfc3339;

/// What the operator asked for.
#[derive(Clone, Debug)]
pub struct Request {
    pub tenant: String,
    pub agent_id: String,
    /// Why, for the audit trail (kept to its first 1,000 characters).
    pub reason: String,
    pub ttl_seconds: Option<i64>,
}

/// Who asks, as the gate established it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: String,
    pub ip: String,
    pub access_email: Option<String>,
    /// Whether the caller's PAT may see the request's tenant.
    pub sees_tenant: bool,
}

/// What the registry holds now, as the driver read it under its lock.
pub struct Facts<'a> {
    pub tenant: Option<&'a Tenant>,
    pub agent: Option<&'a AgentRecord>,
    /// An authenticated link to the agent is up on some node.
    pub online: bool,
    /// The agent's sessions this node holds.
    pub sessions: Vec<&'a Session>,
    pub now: Timestamp,
}

/// The new session's ID and token, drawn by the driver.
pub struct Fresh {
    pub session_id: String,
    pub token: String,
}

/// A session just activated: its token is answered this once.
#[derive(Clone, Debug)]
pub struct Activated {
    pub session: Session,
    pub token: String,
}

/// An activation in progress.
#[derive(Debug)]
pub struct Activate {
    /// Lapsed sessions still to end, in order.
    lapsed: Vec<String>,
    /// The rules' verdict, decided from the facts at the start.
    verdict: Result<(Session, AuditEntry), Fault>,
    token: String,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Begin,
    Ending,
    Claiming,
    Committing,
    Over,
}

impl Activate {
    /// Decides the activation from the facts; the steps carry it out.
    pub fn start(request: Request, caller: Caller, facts: Facts<'_>, fresh: Fresh) -> Activate {
        let now = facts.now;
        let rules = ActivationRequest {
            reason: request.reason.chars().take(1000).collect(),
            ttl_ms: request.ttl_seconds.map(|s| s.saturating_mul(1000)),
        };
        if !caller.sees_tenant {
            // A PAT bound to another tenant learns nothing of this one (whether it exists, its
            // consent, its arming): after the request's own checks, the agent is not found.
            let code = match check_activation(&rules, &request.tenant, None, None, now).err().map(|e| e.code()) {
                Some(code @ (Code::ReasonRequired | Code::TtlExceedsCap | Code::BadRequest)) => code,
                _ => Code::AgentNotFound,
            };
            return Activate { lapsed: vec![], verdict: Err(code.into()), token: String::new(), stage: Stage::Over };
        }
        let lapsed = lapsed(facts.sessions.iter().copied(), now);
        let has_live_session = facts.sessions.iter().any(|s| s.is_live(now));
        let agent = facts.agent.map(|record| AgentFacts {
            enrollment: &record.enrollment,
            online: facts.online,
            remote_support_on: record.remote_support_on,
            has_live_session,
        });
        let verdict = check_activation(&rules, &request.tenant, facts.tenant, agent.as_ref(), now)
            .map_err(|e| Fault::new(e.code(), e.to_string()))
            .map(|ttl| {
                let reason = rules.reason.trim().to_string();
                let session = Session::start(
                    fresh.session_id,
                    request.tenant.clone(),
                    request.agent_id.clone(),
                    caller.actor.clone(),
                    argus_fsm::signed::sha256(fresh.token.as_bytes()),
                    reason.clone(),
                    ttl,
                    now,
                );
                let entry = AuditEntry::new(AuditEvent::RemoteSupportSessionStarted, caller.actor)
                    .tenant(&request.tenant)
                    .agent(&request.agent_id)
                    .session(&session.id)
                    .reason(reason)
                    .details(json!({
                        "ttl_seconds": ttl / 1000,
                        "expires_at": rfc3339(session.expires_at),
                        "ip": caller.ip,
                        "access_identity": caller.access_email,
                    }));
                (session, entry)
            });
        Activate { lapsed, verdict, token: fresh.token, stage: Stage::Begin }
    }

    /// The next step, given what the last one answered.
    pub fn next(&mut self, event: Event) -> Step<Activated> {
        match (self.stage, event) {
            (Stage::Over, Event::Start) => match &self.verdict {
                Err(fault) => Step::answer(Err(fault.clone())),
                Ok(_) => out_of_order("activate", &Event::Start),
            },
            (Stage::Begin, Event::Start) | (Stage::Ending, Event::Ended(Ok(_))) => self.after_lapsed(),
            (Stage::Ending, Event::Ended(Err(fault)))
            | (Stage::Claiming, Event::Claimed(Err(fault)))
            | (Stage::Committing, Event::Stored(Err(fault))) => {
                self.stage = Stage::Over;
                Step::answer(Err(fault))
            }
            (Stage::Claiming, Event::Claimed(Ok(false))) => {
                self.stage = Stage::Over;
                Step::answer(Err(Code::SessionAlreadyActive.into()))
            }
            (Stage::Claiming, Event::Claimed(Ok(true))) => {
                self.stage = Stage::Committing;
                let (session, entry) = self.verdict.as_ref().expect("claimed only after the rules agreed");
                Step::then(Then::Commit { writes: vec![Write::Session(session.clone())], audit: vec![entry.clone()] })
            }
            (Stage::Committing, Event::Stored(Ok(()))) => {
                self.stage = Stage::Over;
                let (session, _) = self.verdict.as_ref().expect("stored only after the rules agreed");
                // The agent learns of the session early on its control stream; the grant also
                // travels with every command, so a command sent the moment this answers is
                // served however the streams are ordered (SPEC §12).
                let tell = Tell::Grant { agent_id: session.agent_id.clone(), grant: grant_of(session) };
                let answer = Activated { session: session.clone(), token: std::mem::take(&mut self.token) };
                Step { tell: vec![tell], then: Then::Answer(Ok(answer)) }
            }
            (_, event) => out_of_order("activate", &event),
        }
    }

    /// Ends the next lapsed session (a session on record as active past its deadline ends, and
    /// is recorded, before a new one starts), then applies the rules' verdict.
    fn after_lapsed(&mut self) -> Step<Activated> {
        if !self.lapsed.is_empty() {
            let session_id = self.lapsed.remove(0);
            self.stage = Stage::Ending;
            return Step::then(Then::End {
                session_id,
                event: SessionEvent::Timeout,
                actor: "system".into(),
                note: None,
                access: None,
            });
        }
        match &self.verdict {
            Err(fault) => {
                self.stage = Stage::Over;
                Step::answer(Err(fault.clone()))
            }
            Ok((session, _)) => {
                self.stage = Stage::Claiming;
                // One live session per agent cluster-wide: the database decides between nodes.
                Step::then(Then::ClaimLiveSession {
                    agent_id: session.agent_id.clone(),
                    session_id: session.id.clone(),
                    expires_at: session.expires_at,
                })
            }
        }
    }
}
