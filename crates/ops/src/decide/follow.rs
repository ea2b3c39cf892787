//! Following other nodes' writes (SPEC §10): what a node does with a session record another
//! node wrote, when the announcement of it arrives and the record is read again.

use argus_fsm::session::{EndReason, Session, SessionState};

/// What to do with a session read again from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reread {
    /// Replace this node's copy with the stored one.
    pub keep: bool,
    /// Tell the agent (if this node holds its link) that the session ended: this node knew it
    /// live, and another node ended it.
    pub tell_end: Option<EndReason>,
}

/// The rule for `stored`, given this node's copy (`held`) and whether this node has written
/// the session and not flushed it yet (`unflushed_here`): what this node wrote is newer than
/// what the store answers and is kept — except an end, which is final wherever it was made.
pub fn session(held: Option<&Session>, stored: &Session, unflushed_here: bool) -> Reread {
    let ended = match stored.state {
        SessionState::Ended { reason, .. } => Some(reason),
        SessionState::Active => None,
    };
    let was_live = held.is_some_and(|s| s.next_deadline().is_some());
    Reread { keep: ended.is_some() || !unflushed_here, tell_end: ended.filter(|_| was_live) }
}

/// What to do with an agent record read again from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentReread {
    /// Replace this node's copy with the stored one.
    pub keep: bool,
    /// Close the agent's link if this node holds it: it was revoked elsewhere.
    pub disconnect: bool,
}

/// The rule for an agent record another node wrote: a revocation is final wherever it was made
/// (the link is cut here too); anything else this node wrote and has not flushed is newer.
pub fn agent(stored: &crate::store::AgentRecord, unflushed_here: bool) -> AgentReread {
    let revoked = stored.enrollment.is_revoked();
    AgentReread { keep: revoked || !unflushed_here, disconnect: revoked }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_fsm::machine::Machine;
    use argus_fsm::session::SessionEvent;
    use argus_fsm::Timestamp;

    fn live() -> Session {
        Session::start("s".into(), "t".into(), "a".into(), "o".into(), [0; 32], "r".into(), 60_000, Timestamp(0))
    }

    fn ended() -> Session {
        let mut session = live();
        session.handle(SessionEvent::Deactivate, Timestamp(1)).unwrap();
        session
    }

    #[test]
    fn an_end_is_final_and_told_once_to_an_agent_that_had_it_live() {
        assert_eq!(
            session(Some(&live()), &ended(), true),
            Reread { keep: true, tell_end: Some(EndReason::Deactivated) }
        );
        assert_eq!(session(Some(&ended()), &ended(), false), Reread { keep: true, tell_end: None });
        assert_eq!(session(None, &ended(), false), Reread { keep: true, tell_end: None });
    }

    #[test]
    fn a_revocation_made_elsewhere_is_final_and_cuts_the_link_here() {
        let mut record = crate::decide::test_support::agent(true);
        assert_eq!(agent(&record, true), AgentReread { keep: false, disconnect: false });
        assert_eq!(agent(&record, false), AgentReread { keep: true, disconnect: false });
        record
            .enrollment
            .handle(argus_fsm::enrollment::EnrollmentEvent::Revoke { reason: "r".into() }, Timestamp(1))
            .unwrap();
        assert_eq!(agent(&record, true), AgentReread { keep: true, disconnect: true });
    }

    #[test]
    fn an_unflushed_write_here_is_newer_than_the_stored_copy() {
        // This node ended it and has not flushed the end: the stored live copy is older.
        assert_eq!(session(Some(&ended()), &live(), true), Reread { keep: false, tell_end: None });
        assert_eq!(session(Some(&live()), &live(), false), Reread { keep: true, tell_end: None });
    }
}
