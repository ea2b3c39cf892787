//! A deterministic layer below the real sockets: the server's relay and the agent's own
//! enforcement ([`AgentSessions`]), driven with a virtual clock and a scheduler that delivers
//! the control stream (ordered) and each command's stream (ordered only within itself) in any
//! interleaving — exactly the freedom QUIC gives the network. Grants, commands, deactivation
//! (answered only after the agent's acknowledgement, as ops does), disarm-like ends, expiry and
//! the kill switch are all in play.
//!
//! Invariants, checked when each command reaches the agent:
//! - a command the server relayed under a live session is served unless the agent has
//!   processed that session's end, its kill switch is off, or the session expired — never
//!   `session_not_found` because its grant is still in flight (SPEC §12);
//! - a command for a session whose deactivation was answered is refused;
//! - nothing is admitted after `expires_at` or while the kill switch is off.
//!
//! With the grant removed from the command (the old protocol), the first invariant fails on
//! the schedule `activate, command, deliver command before the control stream` — see
//! `the_old_protocol_loses_the_race_this_model_finds`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use argus_fsm::agent_sessions::{AgentRefusal, AgentSessionEffect, AgentSessionEvent, AgentSessions};
use argus_fsm::machine::Machine;
use argus_fsm::session::{EndReason, SessionError};
use argus_fsm::wire::SessionGrant;
use argus_fsm::{Code, Timestamp};
use proptest::prelude::*;

const START: i64 = 1_800_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    Activate {
        ttl_ms: i64,
    },
    Command,
    Deactivate,
    /// Disarm, consent withdrawal: an end the operator does not wait on here.
    EndBySystem,
    DeliverControl,
    DeliverCommand(usize),
    Advance(i64),
    KillSwitch(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1_000i64..120_000).prop_map(|ttl_ms| Op::Activate { ttl_ms }),
        4 => Just(Op::Command),
        2 => Just(Op::Deactivate),
        1 => Just(Op::EndBySystem),
        4 => Just(Op::DeliverControl),
        4 => (0usize..8).prop_map(Op::DeliverCommand),
        2 => (0i64..60_000).prop_map(Op::Advance),
        1 => any::<bool>().prop_map(Op::KillSwitch),
    ]
}

enum Control {
    Granted(SessionGrant),
    Ended { session_id: String, reason: EndReason },
}

struct InFlight {
    grant: SessionGrant,
}

/// The whole system: the server's view, the network, the agent.
struct System {
    now: i64,
    next_id: u32,
    /// Server side: session → (live, expires_at).
    server: BTreeMap<String, (bool, i64)>,
    control: VecDeque<Control>,
    commands: Vec<InFlight>,
    agent: AgentSessions,
    kill_switch_on: bool,
    /// Ends the agent has processed.
    agent_saw_end: BTreeSet<String>,
    /// Sessions whose deactivation the server has answered.
    deactivation_answered: BTreeSet<String>,
    served: usize,
}

impl System {
    fn new() -> System {
        System {
            now: START,
            next_id: 0,
            server: BTreeMap::new(),
            control: VecDeque::new(),
            commands: Vec::new(),
            agent: AgentSessions::new("T1"),
            kill_switch_on: true,
            agent_saw_end: BTreeSet::new(),
            deactivation_answered: BTreeSet::new(),
            served: 0,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.now)
    }

    fn live_session(&self) -> Option<String> {
        self.server.iter().find(|(_, (live, expires))| *live && self.now < *expires).map(|(id, _)| id.clone())
    }

    fn grant(&self, id: &str) -> SessionGrant {
        SessionGrant {
            session_id: id.into(),
            tenant: "T1".into(),
            owner: "op".into(),
            expires_at: Timestamp(self.server[id].1),
            approval: None,
        }
    }

    fn deliver_control(&mut self) {
        let Some(message) = self.control.pop_front() else { return };
        let event = match message {
            Control::Granted(grant) => AgentSessionEvent::Granted(grant),
            Control::Ended { session_id, reason } => {
                self.agent_saw_end.insert(session_id.clone());
                AgentSessionEvent::Ended { session_id, reason }
            }
        };
        let effects = self.agent.handle(event, self.now()).expect("control events are never refused");
        // Every end is acknowledged; deactivation waits for exactly that.
        for effect in effects {
            match effect {
                AgentSessionEffect::AcknowledgeEnd { session_id } => assert!(self.agent_saw_end.contains(&session_id)),
                // Accepted only while live here: never after the agent saw its end.
                AgentSessionEffect::AcceptGrant { session_id } => assert!(!self.agent_saw_end.contains(&session_id)),
                AgentSessionEffect::Ended { .. } => {
                    panic!("a grant or the server's end never ends a session by the agent's own account")
                }
                AgentSessionEffect::RememberRequest(_) | AgentSessionEffect::RefuseGrant { .. } => {
                    panic!("no approver policy here: nothing to remember or refuse")
                }
            }
        }
    }

    fn end(&mut self, reason: EndReason) -> Option<String> {
        let id = self.live_session()?;
        self.server.get_mut(&id).expect("known").0 = false;
        self.control.push_back(Control::Ended { session_id: id.clone(), reason });
        Some(id)
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Activate { ttl_ms } => {
                if self.live_session().is_none() {
                    self.next_id += 1;
                    let id = format!("s{}", self.next_id);
                    self.server.insert(id.clone(), (true, self.now + ttl_ms));
                    self.control.push_back(Control::Granted(self.grant(&id)));
                }
            }
            // The server admits by its own view, then relays on a fresh stream.
            Op::Command => {
                if let Some(id) = self.live_session() {
                    self.commands.push(InFlight { grant: self.grant(&id) });
                }
            }
            // Deactivation is answered only after the agent acknowledged the end, which it
            // does after processing everything before it on the control stream.
            Op::Deactivate => {
                if let Some(id) = self.end(EndReason::Deactivated) {
                    while !self.agent_saw_end.contains(&id) {
                        self.deliver_control();
                    }
                    self.deactivation_answered.insert(id);
                }
            }
            Op::EndBySystem => {
                self.end(EndReason::TenantDisarmed);
            }
            Op::DeliverControl => self.deliver_control(),
            Op::DeliverCommand(index) => {
                if self.commands.is_empty() {
                    return Ok(());
                }
                let InFlight { grant } = self.commands.remove(index % self.commands.len());
                let id = grant.session_id.clone();
                let result = self.agent.admit(&grant, self.kill_switch_on, self.now()).map(drop);
                let expired = self.now >= grant.expires_at.0;
                if self.deactivation_answered.contains(&id) {
                    prop_assert!(result.is_err(), "{id}: served after its deactivation was answered");
                }
                if !self.kill_switch_on {
                    prop_assert_eq!(result, Err(AgentRefusal::RemoteSupportOff));
                } else if expired {
                    prop_assert_eq!(result, Err(AgentRefusal::Session(SessionError::Expired)), "{} expired", id);
                } else if self.agent_saw_end.contains(&id) {
                    prop_assert!(result.is_err(), "{id}: served after the agent saw its end");
                } else {
                    // The property the old protocol broke: never refused for want of a grant.
                    prop_assert!(
                        !matches!(result, Err(ref refusal) if refusal.code() == Code::SessionNotFound),
                        "{id}: refused as unknown while its grant was in flight"
                    );
                    prop_assert!(result.is_ok() || !self.agent.is_live(&id, self.now()), "{}: {:?}", id, result);
                }
                if result.is_ok() {
                    self.served += 1;
                }
            }
            Op::Advance(ms) => self.now += ms,
            Op::KillSwitch(on) => {
                if self.kill_switch_on && !on {
                    self.agent.handle(AgentSessionEvent::KillSwitchOff, self.now()).expect("never refused");
                    // The kill switch ends sessions on the server too (reported by the agent).
                    while self.end(EndReason::KillSwitch).is_some() {}
                }
                self.kill_switch_on = on;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_interleaving_of_control_and_command_streams_keeps_the_session_rules(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut system = System::new();
        for op in ops {
            system.step(op)?;
        }
    }
}

#[test]
fn a_command_delivered_before_its_grant_is_served_and_the_schedule_reaches_it() {
    let mut system = System::new();
    system.step(Op::Activate { ttl_ms: 60_000 }).unwrap();
    system.step(Op::Command).unwrap();
    // The command's stream overtakes the control stream.
    system.step(Op::DeliverCommand(0)).unwrap();
    assert_eq!(system.served, 1);
    system.step(Op::DeliverControl).unwrap();
    system.step(Op::Deactivate).unwrap();
    system.step(Op::Command).unwrap();
    assert!(system.commands.is_empty(), "the server relays nothing for an ended session");
}

#[test]
fn the_old_protocol_loses_the_race_this_model_finds() {
    // The old agent admitted by session ID from what the control stream had delivered. On the
    // schedule where the command overtakes the grant it answered session_not_found; the new
    // machine, given the grant with the command, serves it.
    let mut agent = AgentSessions::new("T1");
    let grant = SessionGrant {
        session_id: "s1".into(),
        tenant: "T1".into(),
        owner: "op".into(),
        expires_at: Timestamp(START + 60_000),
        approval: None,
    };
    let known_from_control_stream = agent.is_live("s1", Timestamp(START));
    assert!(!known_from_control_stream, "old protocol: this command would be refused as unknown");
    assert_eq!(agent.admit(&grant, true, Timestamp(START)), Ok(vec![]));
}
