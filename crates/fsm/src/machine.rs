//! The one contract every peer-driven machine in this crate keeps, the way rustls gives every
//! handshake state the same `handle`: the state, an event and the time go in; the effects the
//! driver must perform come out, or a typed refusal.
//!
//! A refusal still carries the effects that happened: a lapsed session asked to run a command
//! refuses it *and* ends, and the driver must record that end. No effect is ever dropped on an
//! error path, so no driver or test rebuilds one by hand.
//!
//! Tenant, enrollment, session, the link handshake (both sides) and the agent's own session
//! enforcement implement [`Machine`]. Patch application does not: it is a one-shot pipeline the
//! caller sequences (`admit` → `plan` → `applied`), each step returning a proof value the next
//! step requires (`VerifiedPatch`, `AdmittedPatch`, `ApplyPlan`), which is the shape STYLE rule
//! 4 reserves for caller-sequenced work; nothing about it is persisted between peer messages.

use crate::time::Timestamp;

/// A peer-driven state machine.
pub trait Machine {
    /// What can happen to it.
    type Event;
    /// What the driver must do afterwards (audit, send, end sessions, …).
    type Effect;
    /// Why an event was refused.
    type Error;

    /// The single place that decides every transition. The state is left as the transition
    /// leaves it on both paths (a refused event may still have moved it, e.g. to `Ended`).
    fn handle(&mut self, event: Self::Event, now: Timestamp) -> Outcome<Self::Effect, Self::Error>;
}

/// The result of one transition.
pub type Outcome<Effect, Error> = Result<Vec<Effect>, Refused<Effect, Error>>;

/// A refused event, with whatever effects the refusal itself caused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused<Effect, Error> {
    pub error: Error,
    pub effects: Vec<Effect>,
}

impl<Effect, Error> Refused<Effect, Error> {
    /// A refusal that changed nothing.
    pub fn plain(error: Error) -> Refused<Effect, Error> {
        Refused { error, effects: Vec::new() }
    }

    /// A refusal that still caused `effects`.
    pub fn with(error: Error, effects: Vec<Effect>) -> Refused<Effect, Error> {
        Refused { error, effects }
    }
}

/// Builds a plain refusal, for `?` and `map_err` in machine bodies.
pub fn refuse<Effect, Error>(error: Error) -> Refused<Effect, Error> {
    Refused::plain(error)
}
