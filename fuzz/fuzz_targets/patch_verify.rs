//! Arbitrary envelope JSON, and arbitrary bodies under a valid-looking envelope, into patch
//! verification. Asserts: nothing verifies unless signed by the pinned key (the fuzzer does not
//! hold it), and no panic.
#![no_main]

use argus_fsm::signed::{key_id, verify_patch, Envelope};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], String, String)| {
    let pinned = SigningKey::from_bytes(&[0x5a; 32]).verifying_key();
    if let Ok(envelope) = Envelope::from_json(input.0) {
        assert!(verify_patch(&envelope, &pinned).is_err());
    }
    let envelope = Envelope { body: input.1, signature: input.2, key_id: key_id(&pinned) };
    assert!(verify_patch(&envelope, &pinned).is_err());
});
