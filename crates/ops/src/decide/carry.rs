//! Carrying out a decision of [`super::records`] (a revocation, a kill-switch report, a tenant
//! armed or disarmed, a consent recorded or withdrawn, …): its records stored first, then what
//! follows, in the order the decision lists it.
//!
//! ```text
//!   start --audited--> Commit (durable) --ok--> each After in order --> answer
//!     '--nothing audited--> StoreQuietly  --'      |  Disconnect: told (cut by the driver once the ends are acknowledged)
//!                                                  '  End…Sessions: Live → End each, one by one
//! ```
//!
//! Stored before anything follows: a link is cut, or a session ended, only for a decision that
//! is on disk. A failed store or a failed end is the answer; what already followed stays done
//! (an end is final, a cut link reconnects and is judged again).

use std::collections::VecDeque;

use argus_fsm::session::{EndReason, SessionEvent};

use super::records::{After, Decision};
use super::{out_of_order, Event, Live, Step, Tell, Then};

/// A decision being carried out.
#[derive(Debug)]
pub struct Carry {
    decision: Option<Decision>,
    then: VecDeque<After>,
    /// Sessions still to end, and why.
    ending: Vec<String>,
    reason: EndReason,
    stage: Stage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Begin,
    Storing,
    Listing,
    Ending,
    Over,
}

impl Carry {
    /// Carries out `decision`.
    pub fn start(mut decision: Decision) -> Carry {
        let then = std::mem::take(&mut decision.then).into();
        Carry { decision: Some(decision), then, ending: Vec::new(), reason: EndReason::Expired, stage: Stage::Begin }
    }

    /// The next step, given what the last one answered.
    pub fn next(&mut self, event: Event) -> Step<()> {
        match (self.stage, event) {
            (Stage::Begin, Event::Start) => {
                let Some(decision) = self.decision.take() else { return out_of_order("carry", &Event::Start) };
                self.stage = Stage::Storing;
                if super::records::is_quiet(&decision) {
                    Step::then(Then::StoreQuietly { writes: decision.writes })
                } else {
                    Step::then(Then::Commit { writes: decision.writes, audit: decision.audit })
                }
            }
            (Stage::Storing, Event::Stored(Ok(()))) => self.follow(Vec::new()),
            (Stage::Storing, Event::Stored(Err(fault))) | (Stage::Ending, Event::Ended(Err(fault))) => {
                self.stage = Stage::Over;
                Step::answer(Err(fault))
            }
            (Stage::Listing, Event::Live(mut ids)) => {
                ids.reverse();
                self.ending = ids;
                self.end_next()
            }
            (Stage::Ending, Event::Ended(Ok(_))) => self.end_next(),
            (_, event) => out_of_order("carry", &event),
        }
    }

    /// Ends the next listed session, or goes on with what follows.
    fn end_next(&mut self) -> Step<()> {
        match self.ending.pop() {
            Some(session_id) => {
                self.stage = Stage::Ending;
                Step::then(Then::End {
                    session_id,
                    event: SessionEvent::End(self.reason),
                    actor: "system".into(),
                    note: None,
                    access: None,
                })
            }
            None => self.follow(Vec::new()),
        }
    }

    /// Performs what follows, in order, up to the next thing to wait for.
    fn follow(&mut self, mut tell: Vec<Tell>) -> Step<()> {
        loop {
            let (live, reason) = match self.then.pop_front() {
                Some(After::Disconnect { agent_id }) => {
                    tell.push(Tell::Disconnect { agent_id });
                    continue;
                }
                Some(After::EndAgentSessions { agent_id, reason }) => (Live::OfAgent(agent_id), reason),
                Some(After::EndTenantSessions { tenant, reason }) => (Live::OfTenant(tenant), reason),
                None => {
                    self.stage = Stage::Over;
                    return Step { tell, then: Then::Answer(Ok(())) };
                }
            };
            self.reason = reason;
            self.stage = Stage::Listing;
            return Step { tell, then: Then::Live(live) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;
    use crate::store::audit::{AuditEntry, AuditEvent};
    use argus_fsm::Code;

    fn decision(then: Vec<After>, audited: bool) -> Decision {
        let audit = if audited { vec![AuditEntry::system(AuditEvent::AgentRevoked)] } else { vec![] };
        Decision { writes: vec![], audit, then }
    }

    #[test]
    fn stored_first_then_a_cut_link_then_each_session_ended_in_order() {
        let then = vec![
            After::Disconnect { agent_id: "a1".into() },
            After::EndAgentSessions { agent_id: "a1".into(), reason: EndReason::AgentRevoked },
        ];
        let mut carry = Carry::start(decision(then, true));
        assert!(matches!(carry.next(Event::Start).then, Then::Commit { .. }), "stored first, durably");
        let step = carry.next(Event::Stored(Ok(())));
        assert_eq!(step.tell, [Tell::Disconnect { agent_id: "a1".into() }]);
        assert!(matches!(step.then, Then::Live(Live::OfAgent(ref a)) if a == "a1"));
        let step = carry.next(Event::Live(vec!["s1".into(), "s2".into()]));
        assert!(
            matches!(step.then, Then::End { ref session_id, event: SessionEvent::End(EndReason::AgentRevoked), .. } if session_id == "s1")
        );
        let step = carry.next(Event::Ended(Ok(None)));
        assert!(matches!(step.then, Then::End { ref session_id, .. } if session_id == "s2"));
        let step = carry.next(Event::Ended(Ok(None)));
        assert!(matches!(step.then, Then::Answer(Ok(()))));
    }

    #[test]
    fn nothing_follows_a_decision_that_was_not_stored_and_a_failed_end_is_the_answer() {
        let then = vec![After::EndTenantSessions { tenant: "t1".into(), reason: EndReason::TenantDisarmed }];
        let mut carry = Carry::start(decision(then.clone(), true));
        carry.next(Event::Start);
        let step = carry.next(Event::Stored(Err(Fault::from(Code::StoreUnavailable))));
        assert!(step.tell.is_empty());
        assert!(matches!(step.then, Then::Answer(Err(ref f)) if f.code == Code::StoreUnavailable));

        let mut carry = Carry::start(decision(then, true));
        carry.next(Event::Start);
        assert!(matches!(carry.next(Event::Stored(Ok(()))).then, Then::Live(Live::OfTenant(_))));
        carry.next(Event::Live(vec!["s1".into(), "s2".into()]));
        let step = carry.next(Event::Ended(Err(Fault::from(Code::StoreUnavailable))));
        assert!(matches!(step.then, Then::Answer(Err(_))), "the second session is not ended after a failure");
    }

    #[test]
    fn a_decision_with_nothing_audited_is_stored_quietly() {
        let mut carry = Carry::start(decision(vec![], false));
        assert!(matches!(carry.next(Event::Start).then, Then::StoreQuietly { .. }));
        assert!(matches!(carry.next(Event::Stored(Ok(()))).then, Then::Answer(Ok(()))));
        assert!(matches!(carry.next(Event::Start).then, Then::Answer(Err(_))), "out of order");
    }
}
