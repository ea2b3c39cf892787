//! Arbitrary consent envelopes. Asserts: no forged consent verifies, no panic; and a consent the
//! target signs itself from fuzzed fields round-trips exactly.
#![no_main]

use argus_fsm::signed::{key_id, sign_consent, verify_consent, ConsentBody, Envelope};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], String, String, String, i64, Option<i64>)| {
    let key = SigningKey::from_bytes(&[0x3c; 32]);
    let public = key.verifying_key();
    if let Ok(envelope) = Envelope::from_json(input.0) {
        assert!(verify_consent(&envelope, &public).is_err());
    }
    let forged = Envelope { body: input.1.clone(), signature: input.2.clone(), key_id: key_id(&public) };
    assert!(verify_consent(&forged, &public).is_err());
    let body = ConsentBody { version: 1, tenant: input.1, signer: input.3, issued_at: input.4, expires_at: input.5 };
    let verified = verify_consent(&sign_consent(&key, &body), &public).expect("own signature verifies");
    assert_eq!(verified.body(), &body);
});
