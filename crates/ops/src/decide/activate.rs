//! Activating a session (SPEC §5): the request's own checks, lapsed sessions ended first, the
//! activation rules (`argus_fsm::activation`), the one live session per agent claimed
//! cluster-wide, the session stored with `remote_support_session_started`, and only then the
//! grant told to the agent and the token answered.
//!
//! With an access request (SPEC §13) the request's reason and TTL are the session's, its
//! approvals travel with the grant, it is used in the same commit, and the answer waits for the
//! agent's verdict; a refused grant ends the session before the refusal is answered.
//!
//! ```text
//!   start --tenant not visible--> answer (agent_not_found, after the request's own checks)
//!     '--> End each lapsed session --> rules refuse? answer
//!            '--> ClaimLiveSession --lost--> answer session_already_active
//!                   '--won--> Commit --stored--> tell Grant, answer the session and its token
//!                               '--with approvals--> ConfirmGrant --accepted--> answer
//!                                                      '--refused--> End --> answer the refusal
//! ```

use argus_fsm::access::{AccessEvent, AccessRequest};
use argus_fsm::activation::{check_activation, ActivationRequest, AgentFacts};
use argus_fsm::machine::Machine;
use argus_fsm::session::{GrantApproval, Session, SessionEvent};
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
    /// The approved access request to open it under (SPEC §13): its reason and TTL are the
    /// session's, its approvals travel with the grant.
    pub request_id: Option<String>,
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
    /// The access request the activation names, if it names one and it exists.
    pub access_request: Option<&'a AccessRequest>,
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
    /// The rules' verdict, decided from the facts at the start: the session, its records.
    verdict: Result<(Session, Vec<Write>, AuditEntry), Fault>,
    /// The agent's refusal of the grant, answered once the session is ended.
    refusal: Option<Fault>,
    token: String,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Begin,
    Ending,
    Claiming,
    Committing,
    /// The grant carries approvals: waiting for the agent to accept or refuse it.
    Confirming,
    /// The agent refused it: ending the session before answering the refusal.
    Withdrawing,
    Over,
}

impl Activate {
    /// Decides the activation from the facts; the steps carry it out.
    pub fn start(request: Request, caller: Caller, facts: Facts<'_>, fresh: Fresh) -> Activate {
        let now = facts.now;
        let over = |fault: Fault| Activate {
            lapsed: vec![],
            verdict: Err(fault),
            refusal: None,
            token: String::new(),
            stage: Stage::Over,
        };
        // A request of another tenant is not found, whoever asks (its ID proves nothing).
        let access = match &request.request_id {
            None => None,
            Some(_) if !caller.sees_tenant => None,
            Some(id) => match facts.access_request.filter(|r| &r.request_id == id && r.tenant == request.tenant) {
                Some(found) => Some(found),
                None => return over(Code::RequestNotFound.into()),
            },
        };
        let rules = ActivationRequest {
            reason: match access {
                Some(found) => found.reason.clone(),
                None => request.reason.chars().take(1000).collect(),
            },
            ttl_ms: match (request.ttl_seconds, access) {
                (Some(seconds), _) => Some(seconds.saturating_mul(1000)),
                (None, Some(found)) => Some(i64::from(found.ttl_seconds) * 1000),
                (None, None) => None,
            },
        };
        if !caller.sees_tenant {
            // A PAT bound to another tenant learns nothing of this one (whether it exists, its
            // consent, its arming): after the request's own checks, the agent is not found.
            let code = match check_activation(&rules, &request.tenant, None, None, now).err().map(|e| e.code()) {
                Some(code @ (Code::ReasonRequired | Code::TtlExceedsCap | Code::BadRequest)) => code,
                _ => Code::AgentNotFound,
            };
            return over(code.into());
        }
        // The agent's last manifest says its owner requires approvals: without a request, the
        // agent would refuse the grant, so the server refuses first.
        let agent_requires = facts.agent.and_then(|a| a.manifest.as_ref()).is_some_and(|m| m.approval_threshold > 0);
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
            .and_then(|ttl| {
                let approval = approval_of(access, &request, &caller.actor, ttl, facts.tenant, agent_requires)?;
                Ok((ttl, approval))
            })
            .map(|(ttl, approval)| {
                let reason = rules.reason.trim().to_string();
                let mut session = Session::start(
                    fresh.session_id,
                    request.tenant.clone(),
                    request.agent_id.clone(),
                    caller.actor.clone(),
                    argus_fsm::signed::sha256(fresh.token.as_bytes()),
                    reason.clone(),
                    ttl,
                    now,
                );
                // The request turns used in the session's own commit.
                let mut writes = vec![];
                let mut request_id = None;
                if let Some((mut used, grant_approval)) = approval {
                    request_id = Some(used.request_id.clone());
                    // `approval_of` found it approved: using it cannot be refused.
                    let _ = used.handle(AccessEvent::Use { session_id: session.id.clone() }, now);
                    session.approval = Some(Box::new(grant_approval));
                    writes.push(Write::AccessRequest(used));
                }
                writes.insert(0, Write::Session(session.clone()));
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
                        "request_id": request_id,
                    }));
                (session, writes, entry)
            });
        Activate { lapsed, verdict, refusal: None, token: fresh.token, stage: Stage::Begin }
    }

    /// The next step, given what the last one answered.
    pub fn next(&mut self, event: Event) -> Step<Activated> {
        match (self.stage, event) {
            (Stage::Over, Event::Start) => match &self.verdict {
                Err(fault) => Step::answer(Err(fault.clone())),
                Ok(_) => out_of_order("activate", &Event::Start),
            },
            (Stage::Begin, Event::Start) | (Stage::Ending, Event::Ended(Ok(_))) => self.after_lapsed(),
            (Stage::Withdrawing, Event::Ended(_)) => {
                // Ended (or already ended elsewhere): no live session remains; the refusal is
                // the answer whatever the end's own outcome.
                self.stage = Stage::Over;
                Step::answer(Err(self.refusal.take().unwrap_or_else(|| Code::Internal.into())))
            }
            (Stage::Confirming, Event::Confirmed(Ok(()))) => {
                self.stage = Stage::Over;
                let (session, _, _) = self.verdict.as_ref().expect("confirmed only after the rules agreed");
                Step::answer(Ok(Activated { session: session.clone(), token: std::mem::take(&mut self.token) }))
            }
            (Stage::Confirming, Event::Confirmed(Err(fault))) => {
                self.stage = Stage::Withdrawing;
                let (session, _, _) = self.verdict.as_ref().expect("confirmed only after the rules agreed");
                let note = format!("the agent did not accept the session's approvals ({})", fault.code.as_str());
                self.refusal = Some(fault);
                Step::then(Then::End {
                    session_id: session.id.clone(),
                    event: SessionEvent::Deactivate,
                    actor: "system".into(),
                    note: Some(note),
                    access: None,
                })
            }
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
                let (_, writes, entry) = self.verdict.as_ref().expect("claimed only after the rules agreed");
                Step::then(Then::Commit { writes: writes.clone(), audit: vec![entry.clone()] })
            }
            (Stage::Committing, Event::Stored(Ok(()))) => {
                let (session, _, _) = self.verdict.as_ref().expect("stored only after the rules agreed");
                if session.approval.is_some() {
                    // Answered once the agent accepted the approvals (SPEC §13), which it is
                    // told only once the session is durable.
                    self.stage = Stage::Confirming;
                    let grant = grant_of(session);
                    return Step::then(Then::ConfirmGrant { agent_id: session.agent_id.clone(), grant });
                }
                self.stage = Stage::Over;
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
            Ok((session, _, _)) => {
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

/// The access request's approvals for this activation, and the request to be used: `None`
/// without a request, refused when the tenant (its flag) or the agent (its manifest) requires
/// one and none is named.
fn approval_of(
    access: Option<&AccessRequest>,
    request: &Request,
    actor: &str,
    ttl_ms: i64,
    tenant: Option<&argus_fsm::tenant::Tenant>,
    agent_requires: bool,
) -> Result<Option<(AccessRequest, GrantApproval)>, Fault> {
    let Some(found) = access else {
        if tenant.is_some_and(|t| t.approval_required) {
            return Err(Fault::new(
                Code::ApprovalRequired,
                "this tenant requires an approved access request: activate with --request",
            ));
        }
        if agent_requires {
            return Err(Fault::new(
                Code::ApprovalRequired,
                "this agent's owner requires approved access requests: activate with --request",
            ));
        }
        return Ok(None);
    };
    let ttl_seconds = u32::try_from(ttl_ms / 1000).unwrap_or(u32::MAX);
    let approvals = found
        .usable(&request.tenant, &request.agent_id, actor, ttl_seconds)
        .map_err(|e| Fault::new(e.code(), e.to_string()))?
        .to_vec();
    let grant = GrantApproval { request_id: found.request_id.clone(), reason: found.reason.clone(), approvals };
    Ok(Some((found.clone(), grant)))
}
