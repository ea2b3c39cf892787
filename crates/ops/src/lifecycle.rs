//! The production driver of the session operations ([`crate::decide`]): it gathers their
//! facts from the registry, performs their steps on the store, the registry and
//! [`crate::reach`], and hands back their answers. It decides nothing itself — every end,
//! activation and command outcome, and every record they write, is the core's.
//!
//! How it performs a step: the `tell` effects first (a grant or an end through the reach, a
//! forgotten copy from the registry), then the `then`: claims on the store, commits through
//! [`Registry::commit`] (staged in the batch the HTTP answer waits for: durable before
//! answered), audit appends, a relay through the reach, a nested end. Steps that change the
//! registry run under its exclusive lock; a relay never holds it. No web-framework types here:
//! the HTTP routes, the agent link and the expiry driver all call into this.

use std::sync::Arc;

use argus_fsm::session::{EndReason, Session, SessionEvent};
use argus_fsm::Timestamp;
use tokio::sync::oneshot;

use crate::decide::activate::{Activate, Activated, Caller, Facts as ActivateFacts, Fresh, Request as Activation};
use crate::decide::carry::Carry;
use crate::decide::command::{Facts as CommandFacts, Ran, Request as CommandRequest, Run};
use crate::decide::end::{lapsed, orphaned, still_active, By, End};
use crate::decide::records::Decision;
use crate::decide::{Event, Live, Operation, Step, Tell, Then};
use crate::fault::Fault;
use crate::reach::Holder;
use crate::state::{Ops, Registry};
use crate::store::Write;
use crate::time_format::now;

/// A session that ended just now.
pub struct Ended {
    pub reason: EndReason,
    /// The session as ended.
    pub session: Box<Session>,
    /// Resolves when the agent has processed the end; `None` when it was offline (it learns
    /// the live set from `Welcome` when it reconnects).
    pub ack: Option<oneshot::Receiver<()>>,
}

/// What performing a step under the registry lock came to.
enum Performed<A> {
    /// The answer to feed the operation next.
    Event(Event),
    /// The operation is over.
    Answer(Result<A, Fault>),
    /// A wait on an agent (a relay, a grant's verdict): performed without the lock.
    Outside(Then<A>),
}

/// What performing an operation under the registry lock leaves to its caller, to be settled
/// once the lock is released ([`Followups::settle`]): the agents' acknowledgements of the ends
/// it told, and the links of agents it revoked, to be cut once those are in.
#[derive(Default)]
#[must_use = "a revoked agent's link is cut only when the follow-ups are settled"]
pub struct Followups {
    pub acks: Vec<oneshot::Receiver<()>>,
    cut_off: Vec<String>,
}

impl Followups {
    /// Waits (bounded) until the agents have acknowledged the ends — so they refuse those
    /// sessions too — then closes the links of the agents revoked, wherever they are held,
    /// waiting (bounded) for each holder to confirm (SPEC §10: a revocation answered is one
    /// no command runs after). Ends first: a link cut at once would lose their acknowledgements.
    pub async fn settle(self, ops: &Ops) {
        let Followups { acks, cut_off } = self;
        crate::reach::agent_refuses(acks).await;
        if cut_off.is_empty() {
            return;
        }
        // The holder reads the revocation from the store before it cuts: it must be there. A
        // revocation that did not land cuts nothing elsewhere (its caller answers the failure).
        if ops.writer.wait_all().await.is_err() {
            Followups { acks: Vec::new(), cut_off }.without_waiting(ops);
            return;
        }
        for agent_id in cut_off {
            ops.reach.cut_off(&agent_id).await;
        }
    }

    /// For a caller that cannot wait for its agents (their own link's reader): cuts any link at
    /// once, here, without waiting for acknowledgements or for another node.
    pub fn without_waiting(self, ops: &Ops) {
        for agent_id in self.cut_off {
            ops.reach.disconnect(&agent_id, "agent_revoked");
        }
    }
}

/// Performs a step's `tell` effects, keeping what is to be waited for in `follow`.
fn tell(ops: &Ops, registry: &mut Registry, tells: Vec<Tell>, follow: &mut Followups) {
    for told in tells {
        match told {
            Tell::Grant { agent_id, grant } => {
                let writer = ops.writer.clone();
                ops.reach.tell_grant(&agent_id, grant, async move { writer.wait_all().await.is_ok() })
            }
            Tell::End { agent_id, session_id, reason } => {
                follow.acks.extend(ops.reach.tell_end(&agent_id, &session_id, reason))
            }
            Tell::Forget { session_id } => registry.forget_session(&session_id),
            // Cut once the lock is released and the agent has acknowledged its sessions' ends;
            // a handshake meanwhile finds the revocation in the view and is refused.
            Tell::Disconnect { agent_id } => follow.cut_off.push(agent_id),
        }
    }
}

/// Performs a step's `then` on the store and the registry, under its exclusive lock.
fn perform_locked<A>(
    ops: &Ops,
    registry: &mut Registry,
    then: Then<A>,
    now: Timestamp,
    follow: &mut Followups,
) -> Performed<A> {
    let claimed = |claim: Result<bool, crate::store::StoreError>| Event::Claimed(claim.map_err(Fault::from));
    Performed::Event(match then {
        Then::ClaimLiveSession { agent_id, session_id, expires_at } => {
            claimed(ops.store.claim_live_session(&agent_id, &session_id, expires_at, now))
        }
        Then::ClaimEnd { ended, entry } => {
            // Written by this node; the store chains it after the head in the claim's transaction.
            let record = ops.writer.record_of(entry, now);
            Event::EndClaimed(ops.store.end_claim(&ended, record).map_err(Fault::from))
        }
        Then::Commit { writes, audit } => {
            Event::Stored(registry.commit(ops.store.as_ref(), &ops.writer, writes, audit, now))
        }
        Then::Audit(audit) => Event::Stored(registry.commit(ops.store.as_ref(), &ops.writer, vec![], audit, now)),
        Then::StoreQuietly { writes } => {
            for write in writes {
                registry.record_quietly(&ops.writer, write);
            }
            Event::Stored(Ok(()))
        }
        Then::Live(live) => Event::Live(still_active(registry.sessions.values(), |s| match &live {
            Live::OfAgent(agent_id) => &s.agent_id == agent_id,
            Live::OfTenant(tenant) => &s.tenant == tenant,
        })),
        Then::ConsumePatch { agent_id, patch_id, audit } => {
            // A patch changes the agent's replay memory: the one command that takes the
            // registry exclusively.
            let mut writes = vec![];
            if let Some(mut record) = registry.agents.get(&agent_id).cloned() {
                record.patches.insert(&patch_id);
                writes.push(Write::Agent(record));
            }
            Event::Stored(registry.commit(ops.store.as_ref(), &ops.writer, writes, audit, now))
        }
        Then::End { session_id, event, actor, note, access } => {
            let by = By { actor, note, access };
            Event::Ended(end_session(ops, registry, &session_id, event, by, now).map(|ended| {
                ended.map(|ended| {
                    follow.acks.extend(ended.ack);
                    (ended.reason, ended.session)
                })
            }))
        }
        outside @ (Then::Relay { .. } | Then::ConfirmGrant { .. }) => return Performed::Outside(outside),
        Then::Answer(answer) => return Performed::Answer(answer),
    })
}

/// Ends one session if it is still active: the [`End`] operation, performed under the
/// registry lock the caller holds. Answers the end (a lapsed session ends as `expired` whatever
/// was asked) with the agent's acknowledgement to wait for, or `None` if it had already ended
/// (here or, on a shared store, on another node first).
pub fn end_session(
    ops: &Ops,
    registry: &mut Registry,
    session_id: &str,
    event: SessionEvent,
    by: By,
    now: Timestamp,
) -> Result<Option<Ended>, Fault> {
    let Some(end) = End::start(registry.sessions.get(session_id).cloned(), event, by, now) else {
        return Ok(None);
    };
    let mut follow = Followups::default();
    let answer = drive_locked(ops, registry, end, now, &mut follow);
    answer.map(|ended| ended.map(|(reason, session)| Ended { reason, session, ack: follow.acks.pop() }))
}

/// Drives an operation that never relays (activate, end) to its answer, every step under the
/// registry lock the caller holds; the agents' acknowledgements of the ends it told go to
/// `follow`.
fn drive_locked<O: Operation>(
    ops: &Ops,
    registry: &mut Registry,
    mut operation: O,
    now: Timestamp,
    follow: &mut Followups,
) -> Result<O::Answer, Fault> {
    let mut event = Event::Start;
    loop {
        let Step { tell: tells, then } = operation.next(event);
        tell(ops, registry, tells, follow);
        event = match perform_locked(ops, registry, then, now, follow) {
            Performed::Event(next) => next,
            Performed::Answer(answer) => return answer,
            // A relay waits on an agent and never holds the lock: an operation driven here that
            // asks for one is a defect, refused rather than performed.
            Performed::Outside(_) => return Err(argus_fsm::Code::Internal.into()),
        };
    }
}

/// Runs a session's timer: a lapsed session ends (reason `expired`, by `system`) and the end is
/// recorded; an unlapsed one is left alone.
pub fn expire_session(ops: &Ops, registry: &mut Registry, session_id: &str, now: Timestamp) -> Result<(), Fault> {
    end_session(ops, registry, session_id, SessionEvent::Timeout, By::system(), now).map(drop)
}

/// Ends every live session of a tenant (disarm, consent withdrawn); returns the agents'
/// acknowledgements to wait for.
pub fn end_tenant_sessions(
    ops: &Ops,
    registry: &mut Registry,
    tenant: &str,
    reason: EndReason,
    now: Timestamp,
) -> Result<Vec<oneshot::Receiver<()>>, Fault> {
    end_all(ops, registry, still_active(registry.sessions.values(), |s| s.tenant == tenant), reason, now)
}

/// Ends every live session of an agent (revocation, kill switch).
pub fn end_agent_sessions(
    ops: &Ops,
    registry: &mut Registry,
    agent: &str,
    reason: EndReason,
    now: Timestamp,
) -> Result<Vec<oneshot::Receiver<()>>, Fault> {
    end_all(ops, registry, still_active(registry.sessions.values(), |s| s.agent_id == agent), reason, now)
}

fn end_all(
    ops: &Ops,
    registry: &mut Registry,
    ids: Vec<String>,
    reason: EndReason,
    now: Timestamp,
) -> Result<Vec<oneshot::Receiver<()>>, Fault> {
    let mut acks = Vec::new();
    for id in ids {
        let ended = end_session(ops, registry, &id, SessionEvent::End(reason), By::system(), now)?;
        acks.extend(ended.and_then(|ended| ended.ack));
    }
    Ok(acks)
}

/// Carries out a [`Decision`] (the [`Carry`] operation): its records stored (durably when
/// audited, quietly when not), then what follows, in order, under the registry lock the caller
/// holds; answers what is left to wait for once the lock is released (the agents'
/// acknowledgements of the ends it caused, the links it cuts). A decision that failed part way
/// cuts the links it named at once: what already followed stays done.
pub fn carry_out(ops: &Ops, registry: &mut Registry, decision: Decision, now: Timestamp) -> Result<Followups, Fault> {
    let mut follow = Followups::default();
    match drive_locked(ops, registry, Carry::start(decision), now, &mut follow) {
        Ok(()) => Ok(follow),
        Err(fault) => {
            follow.without_waiting(ops);
            Err(fault)
        }
    }
}

/// Activates a session: the [`Activate`] operation, performed under the registry's exclusive
/// lock from the facts to the commit.
pub async fn activate(ops: &Ops, request: Activation, caller: Caller) -> Result<Activated, Fault> {
    let mut now = now();
    let registry = ops.registry.write().await;
    let fresh = Fresh { session_id: crate::secrets::identifier("ses_"), token: crate::secrets::token("rst_") };
    let mut activation = {
        let facts = ActivateFacts {
            tenant: registry.tenants.get(&request.tenant),
            agent: registry.agents.get(&request.agent_id),
            online: ops.reach.holder(&request.agent_id) != Holder::Nobody,
            sessions: registry.sessions.values().filter(|s| s.agent_id == request.agent_id).collect(),
            access_request: request.request_id.as_ref().and_then(|id| registry.requests.get(id)),
            now,
        };
        Activate::start(request, caller, facts, fresh)
    };
    let mut follow = Followups::default();
    let mut held = Some(registry);
    let mut event = Event::Start;
    // Under the exclusive lock from the facts to the commit; a grant with approvals is then
    // confirmed by the agent without it, once the commit is durable.
    let answer = loop {
        let Step { tell: tells, then } = activation.next(event);
        let registry = match held.as_mut() {
            Some(registry) => registry,
            None => held.insert(ops.registry.write().await),
        };
        tell(ops, registry, tells, &mut follow);
        event = match perform_locked(ops, registry, then, now, &mut follow) {
            Performed::Event(next) => next,
            Performed::Answer(answer) => break answer,
            Performed::Outside(Then::ConfirmGrant { agent_id, grant }) => {
                drop(held.take());
                let confirmed = match ops.writer.wait_all().await {
                    Ok(()) => ops.reach.confirm_grant(&agent_id, grant).await,
                    Err(error) => Err(Fault::from(error)),
                };
                // The wait may have taken seconds: what follows (a refused grant's end) happens now.
                now = crate::time_format::now();
                Event::Confirmed(confirmed)
            }
            Performed::Outside(_) => break Err(argus_fsm::Code::Internal.into()),
        };
    };
    drop(held);
    // A refused grant's session was ended: answered once the agent refuses it too.
    follow.settle(ops).await;
    answer
}

/// Runs one command under a session: the [`Run`] operation. The session is a copy read under
/// the shared lock; the relay holds no lock; records are appended under the shared lock, and
/// only an end or a consumed patch takes the registry exclusively.
pub async fn run_command(
    ops: &Ops,
    request: CommandRequest,
    session: Session,
    presented: argus_fsm::session::Presented,
    actor: String,
) -> Result<Ran, Fault> {
    let mut run = {
        // Nothing runs on the agent on a tenant or agent record this node changed and has not
        // stored yet (an arm, a kill-switch report in flight): if that write failed, the
        // command would have run on a state that never was. Those wait for it (rare: only
        // while such a change is in flight).
        let pending = ops.writer.unflushed();
        if pending.tenants.contains(&session.tenant) || pending.agents.contains(&session.agent_id) {
            if let Err(error) = ops.writer.wait_all().await {
                tracing::warn!(%error, "a change the command depends on was not stored");
            }
        }
        // After a failed flush or a lost announcement the view reloads first (503 while the
        // store is still away).
        let current = ops.ensure_current().await.is_ok() && !ops.writer.poisoned();
        let (replay, tenant_ends) = {
            let registry = ops.registry.read().await;
            let replay = match request.command.as_str() {
                "apply_patch" => registry.agents.get(&session.agent_id).map(|a| a.patches.clone()).unwrap_or_default(),
                _ => Default::default(),
            };
            let tenant_ends = registry.tenants.get(&session.tenant).and_then(crate::decide::end::sessions_end_for);
            (replay, tenant_ends)
        };
        let patch_key = ops.patch_key.as_ref();
        let facts =
            CommandFacts { session, presented, actor, replay: &replay, patch_key, current, tenant_ends, now: now() };
        Run::start(request, facts)
    };
    let mut follow = Followups::default();
    let mut event = Event::Start;
    loop {
        let Step { tell: tells, then } = run.next(event);
        if !tells.is_empty() {
            tell(ops, &mut *ops.registry.write().await, tells, &mut follow);
        }
        event = match then {
            Then::Answer(answer) => return answer,
            Then::Audit(audit) => Event::Stored(ops.append_audit(audit, now()).await.map(drop)),
            Then::Relay { agent_id, grant, command } => {
                Event::Relayed(ops.reach.relay(&agent_id, grant, &command).await)
            }
            then => match perform_locked(ops, &mut *ops.registry.write().await, then, now(), &mut follow) {
                Performed::Event(next) => next,
                Performed::Answer(answer) => return answer,
                Performed::Outside(_) => return Err(argus_fsm::Code::Internal.into()),
            },
        };
    }
}

/// Expires a lapsed access request once cluster-wide (every node's expiry driver sees it): the
/// claim decides who records it, as for a session's end.
fn expire_request(
    ops: &Ops,
    registry: &mut Registry,
    expired: argus_fsm::access::AccessRequest,
    decision: Decision,
    now: Timestamp,
) -> Result<(), Fault> {
    let Some(entry) = decision.audit.first().cloned() else { return Err(argus_fsm::Code::Internal.into()) };
    let record = ops.writer.record_of(entry, now);
    match ops.store.expire_claim(&expired, record).map_err(Fault::from)? {
        // One writer: stored with the node's next group.
        crate::store::EndClaim::Won => carry_out(ops, registry, decision, now)?.without_waiting(ops),
        // Recorded with the claim here, or by another node first: expired either way.
        crate::store::EndClaim::Recorded | crate::store::EndClaim::Lost => {
            registry.requests.insert(expired.request_id.clone(), expired);
        }
    }
    Ok(())
}

/// Ends sessions at their `expires_at` without waiting for a request: one timer, re-armed
/// from the earliest deadline (checked at least every second so new sessions are seen).
pub async fn expiry_driver(ops: Arc<Ops>) {
    loop {
        let now = now();
        let next = {
            let mut registry = ops.registry.write().await;
            for id in lapsed(registry.sessions.values(), now) {
                if let Err(error) = expire_session(&ops, &mut registry, &id, now) {
                    tracing::error!(session = %id, error = %error.message, "could not record expiry");
                }
            }
            // A session this node activated on a view that had not yet seen another node's
            // disarm (or consent withdrawal) ends here, whichever way the view learnt it.
            let unflushed = ops.writer.unflushed().sessions;
            for (id, reason) in orphaned(registry.sessions.values(), &registry.tenants, &unflushed) {
                let ended = end_session(&ops, &mut registry, &id, SessionEvent::End(reason), By::system(), now);
                if let Err(error) = ended {
                    tracing::error!(session = %id, error = %error.message, "could not end a session of a disarmed tenant");
                }
            }
            // A pending access request expires an hour after it was made (SPEC §13).
            let lapsed_requests: Vec<_> =
                registry.requests.values().filter_map(|r| crate::decide::access::expire(r, now)).collect();
            for (request, decision) in lapsed_requests {
                if let Err(error) = expire_request(&ops, &mut registry, request.clone(), decision, now) {
                    tracing::error!(request = %request.request_id, error = %error.message, "could not record an access request's expiry");
                }
            }
            registry.prune_ended_sessions(now);
            registry.sessions.values().filter_map(|s| s.next_deadline()).min()
        };
        if let Err(error) = ops.writer.wait_all().await {
            tracing::error!(%error, "could not flush session expiries");
        }
        let wait = next.map_or(1000, |deadline| (deadline.0 - crate::time_format::now().0).clamp(1, 1000));
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
}
