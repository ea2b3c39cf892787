//! Arbitrary event streams into the session machine.
//! Asserts: it ends at most once, never leaves Ended, and never admits a command after its end,
//! after its expiry, or with a wrong binding.
#![no_main]

use arbitrary::Arbitrary;
use argus_fsm::session::{EndReason, Presented, Session, SessionEffect, SessionEvent, SessionState};
use argus_fsm::signed::sha256;
use argus_fsm::Timestamp;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Event {
    Advance(u32),
    Deactivate,
    End(u8),
    Timeout,
    Admit { tenant_ok: bool, owner_ok: bool, token_ok: bool },
    AdmitById(bool),
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
        let effect = match event {
            Event::Advance(ms) => {
                now = now.plus_millis(i64::from(ms));
                None
            }
            Event::Deactivate => session.handle(SessionEvent::Deactivate, now).ok(),
            Event::End(k) => session.handle(SessionEvent::End(EndReason::ALL[usize::from(k) % 6]), now).ok(),
            Event::Timeout => session.handle_timeout(now),
            Event::Admit { tenant_ok, owner_ok, token_ok } => {
                let presented = Presented {
                    tenant: if tenant_ok { "T" } else { "U" },
                    owner: if owner_ok { "o" } else { "p" },
                    token_hash: sha256(if token_ok { b"t" } else { b"u" }),
                };
                match session.admit(&presented, now) {
                    Ok(()) => {
                        assert!(tenant_ok && owner_ok && token_ok && !was_ended && now < session.expires_at);
                        None
                    }
                    Err((_, effect)) => effect,
                }
            }
            Event::AdmitById(right) => match session.admit_by_id(if right { "s" } else { "x" }, now) {
                Ok(()) => {
                    assert!(right && !was_ended && now < session.expires_at);
                    None
                }
                Err((_, effect)) => effect,
            },
        };
        if let Some(SessionEffect::Ended { .. }) = effect {
            ends += 1;
        }
        if was_ended {
            assert!(matches!(session.state, SessionState::Ended { .. }), "left Ended");
        }
        // A lapsed session that was ended through `handle` reports Expired as an error, so count
        // ends by state transitions too.
        if !was_ended && matches!(session.state, SessionState::Ended { .. }) && effect.is_none() {
            ends += 1;
        }
        assert!(ends <= 1, "ended twice");
    }
});
