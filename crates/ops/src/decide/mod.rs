//! The server's core for sessions: what activating, running a command and ending a session
//! *decide*, as operations that drive the `argus_fsm` machines and hand their driver one
//! [`Step`] at a time — effects to perform, then one thing to ask the outside world, whose
//! answer comes back as the next [`Event`]. No I/O, no clock, no locks, no randomness: the
//! time, the IDs and the registry's state come in as facts.
//!
//! Two drivers perform the steps: production (`crate::lifecycle` and `crate::http::sessions`
//! over the store, the registry and [`crate::reach`]) and the deterministic simulation
//! (`crates/ops/tests/simulation.rs`, over a simulated store, network and agents). Nothing of
//! the decisions is written twice.
//!
//! The order a driver keeps (SPEC §12, "durable before answered"): the `tell` effects of a step
//! are performed before its `then`; a [`Then::Commit`] or [`Then::Audit`] is answered with
//! [`Event::Stored`] only once the records are durable; an operation's [`Then::Answer`] comes
//! only after every record it depends on was stored, and an end is told to the agent only
//! after it is stored.

pub mod access;
pub mod activate;
pub mod carry;
pub mod command;
pub mod end;
pub mod follow;
pub mod records;
#[cfg(test)]
mod test_support;

use argus_fsm::command::Command;
use argus_fsm::session::{EndReason, Session, SessionEvent};
use argus_fsm::wire::SessionGrant;
use argus_fsm::Timestamp;

use crate::fault::Fault;
use crate::store::audit::AuditEntry;
use crate::store::Write;

/// What every operation of the core is to a driver (production's `lifecycle`, the
/// simulation): started with its facts, then fed [`Event::Start`] and each outcome in turn, it
/// answers one [`Step`] at a time until a step's `then` is [`Then::Answer`].
pub trait Operation {
    /// What the operation answers in the end.
    type Answer;
    /// The next step, given the outcome of the last one.
    fn next(&mut self, event: Event) -> Step<Self::Answer>;
}

impl Operation for activate::Activate {
    type Answer = activate::Activated;
    fn next(&mut self, event: Event) -> Step<Self::Answer> {
        activate::Activate::next(self, event)
    }
}

impl Operation for command::Run {
    type Answer = command::Ran;
    fn next(&mut self, event: Event) -> Step<Self::Answer> {
        command::Run::next(self, event)
    }
}

impl Operation for carry::Carry {
    type Answer = ();
    fn next(&mut self, event: Event) -> Step<Self::Answer> {
        carry::Carry::next(self, event)
    }
}

impl Operation for end::End {
    type Answer = end::Ended;
    fn next(&mut self, event: Event) -> Step<Self::Answer> {
        end::End::next(self, event)
    }
}

/// What an operation asks its driver to do next: `tell` (performed first, in order, with
/// nothing to answer), then one `then`, whose outcome is the next [`Event`].
#[derive(Debug)]
pub struct Step<A> {
    pub tell: Vec<Tell>,
    pub then: Then<A>,
}

impl<A> Step<A> {
    /// A step with nothing to tell.
    pub fn then(then: Then<A>) -> Step<A> {
        Step { tell: Vec::new(), then }
    }

    /// The operation is over with `answer`.
    pub fn answer(answer: Result<A, Fault>) -> Step<A> {
        Step::then(Then::Answer(answer))
    }
}

/// Effects that need no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tell {
    /// Tell the agent, wherever it is held, about a new session (best effort: the grant also
    /// travels with every command).
    Grant { agent_id: String, grant: SessionGrant },
    /// Tell the agent, wherever it is held, that a session ended; the driver keeps the
    /// acknowledgement for whoever answers only once the agent refuses the session too.
    End { agent_id: String, session_id: String, reason: EndReason },
    /// Forget this node's copy of a session (another node ended it first; its record reaches
    /// this node by announcement or by key).
    Forget { session_id: String },
    /// Close the agent's link wherever it is held here (it was revoked).
    Disconnect { agent_id: String },
}

/// Which live sessions a driver lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Live {
    OfAgent(String),
    OfTenant(String),
}

/// The one thing an operation waits for before it goes on.
#[derive(Debug)]
pub enum Then<A> {
    /// Claim the agent's one live session in the store (cluster-wide) → [`Event::Claimed`].
    ClaimLiveSession { agent_id: String, session_id: String, expires_at: Timestamp },
    /// Claim a session's end in the store (once cluster-wide), `ended` being the session as it
    /// ends and `entry` its end record → [`Event::EndClaimed`]. A shared store writes both with
    /// the claim, in one transaction.
    ClaimEnd { ended: Box<Session>, entry: AuditEntry },
    /// Store these records with their audit records, atomically and durably → [`Event::Stored`].
    Commit { writes: Vec<Write>, audit: Vec<AuditEntry> },
    /// Store these records without waiting for the disk (nothing audited, nothing an operator
    /// relies on) → [`Event::Stored`], always `Ok` (a failure is logged).
    StoreQuietly { writes: Vec<Write> },
    /// List the live sessions the driver holds, in ID order → [`Event::Live`].
    Live(Live),
    /// Append these audit records durably → [`Event::Stored`].
    Audit(Vec<AuditEntry>),
    /// Consume a patch ID in the agent's replay memory, with these audit records, durably →
    /// [`Event::Stored`].
    ConsumePatch { agent_id: String, patch_id: String, audit: Vec<AuditEntry> },
    /// Relay a command to the agent wherever it is held → [`Event::Relayed`].
    Relay { agent_id: String, grant: SessionGrant, command: Command },
    /// Run the [`end::End`] operation on the session as the driver holds it now →
    /// [`Event::Ended`].
    End { session_id: String, event: SessionEvent, actor: String, note: Option<String>, access: Option<String> },
    /// Tell the agent, wherever it is held, a grant that carries approvals, once the records
    /// before it are durable, and wait (bounded) for the agent to accept or refuse it →
    /// [`Event::Confirmed`].
    ConfirmGrant { agent_id: String, grant: SessionGrant },
    /// Done.
    Answer(Result<A, Fault>),
}

/// What the outside world answered to a [`Then`].
#[derive(Debug)]
pub enum Event {
    /// The operation begins.
    Start,
    Claimed(Result<bool, Fault>),
    EndClaimed(Result<crate::store::EndClaim, Fault>),
    Stored(Result<(), Fault>),
    Relayed(Result<String, Fault>),
    /// The session ended now (with this reason, as stored), or had already ended.
    Ended(Result<Option<(EndReason, Box<Session>)>, Fault>),
    /// The live sessions asked for, by ID.
    Live(Vec<String>),
    /// The agent accepted the grant, or why not (`approval_required`, `approval_invalid`, or
    /// `agent_offline`/`agent_timeout` when it could not say).
    Confirmed(Result<(), Fault>),
}

/// What the agent needs to enforce a session itself.
pub fn grant_of(session: &Session) -> SessionGrant {
    SessionGrant {
        session_id: session.id.clone(),
        tenant: session.tenant.clone(),
        owner: session.owner.clone(),
        expires_at: session.expires_at,
        approval: session.approval.clone(),
    }
}

/// An event an operation did not ask for: a driver bug, answered as `internal` rather than
/// with a panic on a production path.
fn out_of_order<A>(operation: &str, event: &Event) -> Step<A> {
    tracing::error!(operation, ?event, "an operation was resumed with an event it did not ask for");
    Step::answer(Err(Fault::from(argus_fsm::Code::Internal)))
}
