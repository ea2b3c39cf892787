//! Running one allowlisted command on a session's agent (SPEC §5): the session machine admits
//! it (bound to the token, tenant and operator, and live), the allowlist parses it, a patch is
//! pre-verified and never relayed twice, the agent runs it wherever it is held, and every
//! outcome is audited once — durably, before it is answered.
//!
//! ```text
//!   start --session refuses--> (it lapsed: End it) --> answer the refusal
//!     '--> its tenant may have no sessions (disarmed elsewhere) --> End it --> answer
//!     '--> not on the allowlist / patch refused --> Audit --> answer the refusal
//!     '--> Relay --ran--> Audit (a patch: ConsumePatch) --> answer the result
//!                '--refused--> Audit --> (the agent says it is over: End it) --> answer
//! ```

use argus_fsm::command::Command;
use argus_fsm::machine::Machine;
use argus_fsm::patch::{admit, PatchContext, PatchRejection, ReplayMemory};
use argus_fsm::session::{Caller, EndReason, Presented, Session, SessionEvent, SessionState};
use argus_fsm::{Code, Timestamp};
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};

use super::{grant_of, out_of_order, Event, Step, Then};
use crate::fault::Fault;
use crate::store::audit::{AuditEntry, AuditEvent};

/// What the operator sent.
#[derive(Clone, Debug)]
pub struct Request {
    /// The route's tenant.
    pub tenant: String,
    pub command: String,
    pub args: Value,
}

/// What the driver read: the session the token names (a copy), what the request presents,
/// the agent's replay memory and the patch key.
pub struct Facts<'a> {
    pub session: Session,
    pub presented: Presented,
    pub actor: String,
    pub replay: &'a ReplayMemory,
    pub patch_key: Option<&'a VerifyingKey>,
    /// This node's view is current: the store answers and nothing it announced was missed.
    /// A command runs only where its outcome can be recorded (SPEC §10 "Store outages"), and
    /// only on a session as the store holds it now.
    pub current: bool,
    /// The session's tenant may have no sessions as this node's view has it (disarmed or
    /// consent withdrawn on another node, and this session activated on a view that had not
    /// seen it yet): the session ends for this reason instead of running anything.
    pub tenant_ends: Option<EndReason>,
    pub now: Timestamp,
}

/// A command that ran: what the operator is answered (`result`: the agent's JSON text, with a
/// patch's target left out).
#[derive(Clone, Debug)]
pub struct Ran {
    pub command: Command,
    pub result: String,
}

/// A command in progress.
#[derive(Debug)]
pub struct Run {
    request: Request,
    actor: String,
    session: Session,
    /// Decided at the start: the command to relay, or the refusal and its records.
    plan: Option<Plan>,
    stage: Stage,
}

#[derive(Debug)]
enum Plan {
    /// The session refused the command (or this node cannot tell whether it is live); `ended`
    /// when the refusal ended it (it lapsed).
    SessionRefused {
        fault: Fault,
        ended: bool,
    },
    /// The session's tenant may have no sessions: it ends now, for this reason.
    TenantEnded {
        fault: Fault,
        reason: EndReason,
    },
    /// Refused before it left this node, with these records.
    Refused {
        fault: Fault,
        audit: Vec<AuditEntry>,
    },
    Relay(Command),
}

#[derive(Debug)]
enum Stage {
    Begin,
    /// Ending the lapsed session before answering.
    EndingLapsed(Fault),
    /// Storing a refusal's records.
    AuditingRefusal(Fault),
    Relaying(Command),
    /// Storing a success's records.
    AuditingResult(Ran),
    /// Storing the agent's refusal's records; then ending the session if the agent said so.
    AuditingAgentRefusal(Fault),
    EndingRefused(Fault),
    Over,
}

impl Run {
    /// Decides what can be decided before the agent is asked.
    pub fn start(request: Request, facts: Facts<'_>) -> Run {
        let Facts { mut session, presented, actor, replay, patch_key, current, tenant_ends, now } = facts;
        if !current {
            // Nothing relayed, so nothing ran: there is nothing to record either.
            let plan = Plan::SessionRefused { fault: Code::StoreUnavailable.into(), ended: false };
            return Run { request, actor, session, plan: Some(plan), stage: Stage::Begin };
        }
        let plan = match session.handle(SessionEvent::Command(Caller::Presented(presented)), now) {
            Err(refused) => {
                // An operator whose command bounced learns why the session is over.
                let fault = match session.state {
                    SessionState::Ended { reason, .. } => {
                        Fault::new(refused.error.code(), format!("the session has ended ({})", reason.as_str()))
                    }
                    SessionState::Active => refused.error.code().into(),
                };
                // A lapsed session refuses *and* ends: the end it returned is performed.
                Plan::SessionRefused { fault, ended: !refused.effects.is_empty() }
            }
            Ok(_) => match tenant_ends {
                Some(reason) => Plan::TenantEnded {
                    fault: Fault::new(Code::SessionExpired, format!("the session has ended ({})", reason.as_str())),
                    reason,
                },
                None => Self::plan(&request, &actor, &session, replay, patch_key, now),
            },
        };
        Run { request, actor, session, plan: Some(plan), stage: Stage::Begin }
    }

    fn plan(
        request: &Request,
        actor: &str,
        session: &Session,
        replay: &ReplayMemory,
        patch_key: Option<&VerifyingKey>,
        now: Timestamp,
    ) -> Plan {
        let audit = |code: &str, path: Option<&str>| outcome_record(request, actor, session, code, path);
        // The command: on the allowlist with valid arguments.
        let command = match Command::parse(&request.command, &request.args) {
            Ok(command) => command,
            Err(error) => {
                let path =
                    request.args.get("path").and_then(Value::as_str).map(|p| p.chars().take(200).collect::<String>());
                return Plan::Refused {
                    fault: Fault::new(error.code(), error.to_string()),
                    audit: vec![audit(error.code().as_str(), path.as_deref())],
                };
            }
        };
        // Patches: pre-verified here when the server has the key, and never relayed twice.
        if let Command::ApplyPatch { patch } = &command {
            let rejection = match patch_key {
                Some(key) => {
                    let context = PatchContext { pinned_key: key, agent_id: &session.agent_id, now, replay };
                    admit(patch, &context).err()
                }
                None => argus_fsm::signed::Envelope::from_json(&serde_json::to_vec(patch).unwrap_or_default())
                    .ok()
                    .and_then(|_| patch_id_unverified(patch))
                    .filter(|id| replay.contains(id))
                    .map(|_| PatchRejection::Replayed),
            };
            if let Some(rejection) = rejection {
                return Plan::Refused {
                    fault: Fault::new(rejection.code(), rejection.to_string()),
                    audit: vec![
                        patch_rejected(actor, session, rejection.code()),
                        audit(rejection.code().as_str(), None),
                    ],
                };
            }
        }
        Plan::Relay(command)
    }

    /// The next step, given what the last one answered.
    pub fn next(&mut self, event: Event) -> Step<Ran> {
        let stage = std::mem::replace(&mut self.stage, Stage::Over);
        match (stage, event) {
            (Stage::Begin, Event::Start) => self.begin(),
            (Stage::EndingLapsed(fault), Event::Ended(ended)) => Step::answer(Err(ended.err().unwrap_or(fault))),
            (Stage::AuditingRefusal(fault), Event::Stored(stored)) => Step::answer(Err(stored.err().unwrap_or(fault))),
            (Stage::Relaying(command), Event::Relayed(Ok(result_json))) => self.ran(command, result_json),
            (Stage::Relaying(command), Event::Relayed(Err(fault))) => {
                let mut audit = vec![self.outcome(fault.code.as_str(), command.audited_path())];
                if matches!(command, Command::ApplyPatch { .. }) && fault.code.http_status() == 422 {
                    audit.push(patch_rejected(&self.actor, &self.session, fault.code));
                }
                self.stage = Stage::AuditingAgentRefusal(fault);
                Step::then(Then::Audit(audit))
            }
            (Stage::AuditingResult(ran), Event::Stored(stored)) => Step::answer(stored.map(|()| ran)),
            (Stage::AuditingAgentRefusal(_), Event::Stored(Err(store))) => Step::answer(Err(store)),
            (Stage::AuditingAgentRefusal(fault), Event::Stored(Ok(()))) => {
                if fault.code != Code::SessionExpired {
                    return Step::answer(Err(fault));
                }
                // The agent says the session is over (its kill switch, or its clock): end ours.
                self.stage = Stage::EndingRefused(fault);
                Step::then(Then::End {
                    session_id: self.session.id.clone(),
                    event: SessionEvent::End(EndReason::Expired),
                    actor: "system".into(),
                    note: None,
                    access: None,
                })
            }
            // The agent's refusal is the answer whether or not the end could be stored.
            (Stage::EndingRefused(fault), Event::Ended(_)) => Step::answer(Err(fault)),
            (_, event) => out_of_order("command", &event),
        }
    }

    fn begin(&mut self) -> Step<Ran> {
        let Some(plan) = self.plan.take() else { return out_of_order("command", &Event::Start) };
        match plan {
            Plan::SessionRefused { fault, ended: true } => {
                self.stage = Stage::EndingLapsed(fault);
                Step::then(Then::End {
                    session_id: self.session.id.clone(),
                    event: SessionEvent::Timeout,
                    actor: "system".into(),
                    note: None,
                    access: None,
                })
            }
            Plan::SessionRefused { fault, ended: false } => Step::answer(Err(fault)),
            Plan::TenantEnded { fault, reason } => {
                self.stage = Stage::EndingLapsed(fault);
                Step::then(Then::End {
                    session_id: self.session.id.clone(),
                    event: SessionEvent::End(reason),
                    actor: "system".into(),
                    note: None,
                    access: None,
                })
            }
            Plan::Refused { fault, audit } => {
                self.stage = Stage::AuditingRefusal(fault);
                Step::then(Then::Audit(audit))
            }
            Plan::Relay(command) => {
                self.stage = Stage::Relaying(command.clone());
                // The grant travels with the command (SPEC §12).
                Step::then(Then::Relay {
                    agent_id: self.session.agent_id.clone(),
                    grant: grant_of(&self.session),
                    command,
                })
            }
        }
    }

    /// The agent ran it: record the outcome (a patch also consumes its ID) before answering.
    fn ran(&mut self, command: Command, result_json: String) -> Step<Ran> {
        let ok = self.outcome("ok", command.audited_path());
        if !matches!(command, Command::ApplyPatch { .. }) {
            // The agent's result is passed through as it came (not parsed and rebuilt).
            self.stage = Stage::AuditingResult(Ran { command, result: result_json });
            return Step::then(Then::Audit(vec![ok]));
        }
        let mut result: Value = serde_json::from_str(&result_json).unwrap_or(Value::Null);
        let patch_id = result.get("patch_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let applied = AuditEntry::new(AuditEvent::PatchApplied, self.actor.clone())
            .tenant(&self.request.tenant)
            .agent(&self.session.agent_id)
            .session(&self.session.id)
            .details(json!({ "patch_id": patch_id, "target": result.get("target"), "sha256": result.get("sha256") }));
        if let Value::Object(map) = &mut result {
            map.remove("target");
        }
        self.stage = Stage::AuditingResult(Ran { command, result: result.to_string() });
        Step::then(Then::ConsumePatch { agent_id: self.session.agent_id.clone(), patch_id, audit: vec![ok, applied] })
    }

    fn outcome(&self, code: &str, path: Option<&str>) -> AuditEntry {
        outcome_record(&self.request, &self.actor, &self.session, code, path)
    }
}

/// The command's `remote_support_command` record.
fn outcome_record(request: &Request, actor: &str, session: &Session, outcome: &str, path: Option<&str>) -> AuditEntry {
    AuditEntry::new(AuditEvent::RemoteSupportCommand, actor)
        .tenant(&request.tenant)
        .agent(&session.agent_id)
        .session(&session.id)
        .details(json!({ "command": request.command.chars().take(64).collect::<String>(), "outcome": outcome, "path": path }))
}

fn patch_rejected(actor: &str, session: &Session, code: Code) -> AuditEntry {
    AuditEntry::new(AuditEvent::PatchRejected, actor)
        .tenant(&session.tenant)
        .agent(&session.agent_id)
        .session(&session.id)
        .reason(code.as_str())
}

/// The patch ID of an envelope, decoded without trusting it: used only to refuse a replay
/// early when the server has no key; the agent verifies everything again.
fn patch_id_unverified(envelope: &argus_fsm::signed::Envelope) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(&envelope.body).ok()?;
    postcard::take_from_bytes::<argus_fsm::signed::PatchBody>(&bytes).ok().map(|(body, _)| body.patch_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(tenant_ends: Option<EndReason>, replay: &ReplayMemory) -> Facts<'_> {
        let session = crate::decide::test_support::session(0, 60_000);
        let presented = Presented { tenant: "t1".into(), owner: "op".into(), token_hash: [7; 32] };
        Facts {
            session,
            presented,
            actor: "op".into(),
            replay,
            patch_key: None,
            current: true,
            tenant_ends,
            now: Timestamp(1),
        }
    }

    fn ping() -> Request {
        Request { tenant: "t1".into(), command: "ping".into(), args: json!({}) }
    }

    #[test]
    fn a_session_whose_tenant_may_have_none_ends_instead_of_running_and_answers_session_expired() {
        let replay = ReplayMemory::default();
        for reason in [EndReason::TenantDisarmed, EndReason::ConsentWithdrawn] {
            let mut run = Run::start(ping(), facts(Some(reason), &replay));
            let step = run.next(Event::Start);
            assert!(
                matches!(step.then, Then::End { ref session_id, event: SessionEvent::End(r), .. } if session_id == "ses_1" && r == reason),
                "{step:?}"
            );
            let step = run.next(Event::Ended(Ok(None)));
            let Then::Answer(Err(fault)) = step.then else { panic!("{step:?}") };
            assert_eq!(fault.code, Code::SessionExpired);
            assert!(fault.message.contains(reason.as_str()), "{}", fault.message);
        }
        // An armed tenant's session runs: the command is relayed.
        let mut run = Run::start(ping(), facts(None, &replay));
        assert!(matches!(run.next(Event::Start).then, Then::Relay { .. }));
    }
}
