//! Arbitrary event streams into the session machine, through its one `handle` — the path the
//! ops driver runs for ends, expiry and command admission.
//! Asserts: it ends at most once and never leaves Ended; every end comes out as an effect
//! (also from a refusal); no command is admitted after its end, after its expiry, or with a
//! wrong binding; a wrong binding changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use argus_fsm::machine::Machine;
use argus_fsm::session::{Caller, EndReason, Presented, Session, SessionEffect, SessionEvent, SessionState};
use argus_fsm::signed::sha256;
use argus_fsm::Timestamp;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Event {
    Advance(u32),
    Deactivate,
    End(u8),
    Timeout,
    Command { tenant_ok: bool, owner_ok: bool, token_ok: bool },
    Relayed,
}

fuzz_target!(|input: (u32, Vec<Event>)| {
    let start = Timestamp(1_800_000_000_000);
    let ttl = i64::from(input.0 % 7_200_000) + 1;
    let mut session =
        Session::start("s".into(), "T".into(), "a".into(), "o".into(), sha256(b"t"), "r".into(), ttl, start);
    let mut now = start;
    let mut ends = 0;
    for event in input.1 {
        let was_ended = matches!(session.state, SessionState::Ended { .. });
        let (event, bound) = match event {
            Event::Advance(ms) => {
                now = now.plus_millis(i64::from(ms));
                continue;
            }
            Event::Deactivate => (SessionEvent::Deactivate, true),
            Event::End(k) => (SessionEvent::End(EndReason::ALL[usize::from(k) % 6]), true),
            Event::Timeout => (SessionEvent::Timeout, true),
            Event::Command { tenant_ok, owner_ok, token_ok } => {
                let presented = Presented {
                    tenant: if tenant_ok { "T" } else { "U" }.into(),
                    owner: if owner_ok { "o" } else { "p" }.into(),
                    token_hash: sha256(if token_ok { b"t" } else { b"u" }),
                };
                (SessionEvent::Command(Caller::Presented(presented)), tenant_ok && owner_ok && token_ok)
            }
            Event::Relayed => (SessionEvent::Command(Caller::Relayed), true),
        };
        let is_command = matches!(event, SessionEvent::Command(_));
        let before = session.clone();
        let effects = match session.handle(event, now) {
            Ok(effects) => {
                if is_command {
                    assert!(bound && !was_ended && now < session.expires_at, "admitted outside a live bound session");
                }
                effects
            }
            Err(refused) => {
                if !bound {
                    assert_eq!(session, before, "a wrong binding changed the session");
                }
                refused.effects
            }
        };
        for SessionEffect::Ended { .. } in &effects {
            ends += 1;
        }
        if was_ended {
            assert!(matches!(session.state, SessionState::Ended { .. }), "left Ended");
        }
        // Every transition into Ended came out as an effect: nothing is rebuilt by hand.
        if !was_ended && matches!(session.state, SessionState::Ended { .. }) {
            assert_eq!(effects.len(), 1, "an end without its effect");
        }
        assert!(ends <= 1, "ended twice");
    }
});
