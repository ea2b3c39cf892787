//! Arbitrary event streams into the tenant machine, with consent documents signed by the right
//! key or another, for this tenant or another, issued and expiring at arbitrary times.
//! Asserts: a refused event changes nothing and has no effect; arming needs consent valid now;
//! disarming and withdrawal always succeed and end the tenant's sessions with their reason;
//! activation is allowed only while armed with valid consent.
#![no_main]

use arbitrary::Arbitrary;
use argus_fsm::machine::Machine;
use argus_fsm::session::EndReason;
use argus_fsm::signed::{sign_consent, verify_consent, ConsentBody, BODY_VERSION};
use argus_fsm::tenant::{Tenant, TenantEffect, TenantEvent};
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Event {
    Advance(u32),
    Consent { right_key: bool, right_tenant: bool, issued_offset: i16, lifetime: Option<u16> },
    Withdraw,
    Arm,
    Disarm,
}

fuzz_target!(|events: Vec<Event>| {
    let key = SigningKey::from_bytes(&[7; 32]);
    let other = SigningKey::from_bytes(&[8; 32]);
    let mut tenant = Tenant::new("T1".into(), key.verifying_key().to_bytes());
    let mut now = Timestamp(1_800_000_000_000);
    for event in events {
        let event = match event {
            Event::Advance(seconds) => {
                now = now.plus_millis(i64::from(seconds % 1_000_000) * 1000);
                continue;
            }
            Event::Consent { right_key, right_tenant, issued_offset, lifetime } => {
                let issued_at = now.unix_seconds() + i64::from(issued_offset);
                let body = ConsentBody {
                    version: BODY_VERSION,
                    tenant: if right_tenant { "T1" } else { "T2" }.into(),
                    signer: "Jane".into(),
                    issued_at,
                    expires_at: lifetime.map(|l| issued_at + i64::from(l)),
                };
                let envelope = sign_consent(if right_key { &key } else { &other }, &body);
                // Only what verifies against the tenant's key reaches the machine, as in ops.
                match verify_consent(&envelope, &key.verifying_key()) {
                    Ok(verified) => TenantEvent::RecordConsent(verified),
                    Err(_) => {
                        assert!(!right_key, "a consent signed by the tenant's key failed to verify");
                        continue;
                    }
                }
            }
            Event::Withdraw => TenantEvent::WithdrawConsent,
            Event::Arm => TenantEvent::Arm,
            Event::Disarm => TenantEvent::Disarm,
        };
        let before = tenant.clone();
        let valid_before = tenant.consent_valid(now);
        let kind = std::mem::discriminant(&event);
        let arming = matches!(event, TenantEvent::Arm);
        let ending = match event {
            TenantEvent::Disarm => Some(EndReason::TenantDisarmed),
            TenantEvent::WithdrawConsent => Some(EndReason::ConsentWithdrawn),
            _ => None,
        };
        match tenant.handle(event, now) {
            Ok(effects) => {
                if arming {
                    assert!(valid_before, "armed without valid consent");
                    assert!(tenant.armed());
                }
                let ended: Vec<EndReason> = effects.iter().map(|TenantEffect::EndSessions(r)| *r).collect();
                assert_eq!(ended, ending.into_iter().collect::<Vec<_>>(), "{kind:?}");
                if ending.is_some() {
                    assert!(!tenant.armed(), "still armed after a disarm or withdrawal");
                }
            }
            Err(refused) => {
                assert!(ending.is_none(), "disarm and withdrawal never fail");
                assert_eq!(tenant, before, "a refused event changed the tenant");
                assert!(refused.effects.is_empty());
            }
        }
        assert_eq!(tenant.may_activate(now).is_ok(), tenant.armed() && tenant.consent_valid(now));
    }
});
