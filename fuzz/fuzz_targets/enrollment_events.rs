//! Arbitrary event streams into the enrollment machine.
//! Asserts: revoked is terminal; the agent enrolls at most once; its passkey never changes.
#![no_main]

use arbitrary::Arbitrary;
use argus_fsm::enrollment::{token_hash, Enrollment, EnrollmentEvent};
use argus_fsm::machine::Machine;
use argus_fsm::Timestamp;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Event {
    Advance(u32),
    Issue { tenant: bool, token: u8, ttl: u32 },
    Enroll { tenant: bool, token: u8, passkey: u8 },
    Revoke,
}

fuzz_target!(|events: Vec<Event>| {
    let mut now = Timestamp(1_800_000_000_000);
    let mut record: Option<Enrollment> = None;
    let mut enrolled_key = None;
    let mut revoked = false;
    for event in events {
        let tenant = |t: bool| if t { "T1".to_string() } else { "T2".to_string() };
        let event = match event {
            Event::Advance(ms) => {
                now = now.plus_millis(i64::from(ms));
                continue;
            }
            Event::Issue { tenant: t, token, ttl } => EnrollmentEvent::IssueToken {
                tenant: tenant(t),
                token_hash: token_hash(&format!("ent_{token}")),
                expires_at: now.plus_millis(i64::from(ttl)),
            },
            Event::Enroll { tenant: t, token, passkey } => {
                EnrollmentEvent::Enroll { tenant: tenant(t), token: format!("ent_{token}"), passkey: [passkey; 32] }
            }
            Event::Revoke => EnrollmentEvent::Revoke { reason: String::new() },
        };
        record = match record.take() {
            None => Enrollment::start(event, now).ok(),
            Some(mut state) => {
                let before = state.clone();
                if let Err(refused) = state.handle(event, now) {
                    assert_eq!(state, before, "a refused event changed the enrollment");
                    assert!(refused.effects.is_empty());
                }
                Some(state)
            }
        };
        if let Some(Enrollment::Enrolled { passkey, .. }) = &record {
            assert_eq!(*enrolled_key.get_or_insert(*passkey), *passkey, "passkey changed or enrolled twice");
        }
        if revoked {
            assert!(matches!(record, Some(Enrollment::Revoked { .. })), "left Revoked");
        }
        revoked = matches!(record, Some(Enrollment::Revoked { .. }));
    }
});
