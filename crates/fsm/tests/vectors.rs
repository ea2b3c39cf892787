//! Golden vectors: signed objects made by an independent implementation (copied from the
//! SPEC's `vectors/signed-objects.json`). Every valid one must verify and decode to exactly the
//! listed fields, and re-signing the decoded body with the listed seed must reproduce the
//! envelope byte for byte (Ed25519 is deterministic), so the format cannot drift silently.
//! Every invalid one must be refused.

use argus_fsm::signed::{
    key_id, sign_consent, sign_patch, verify_consent, verify_patch, ConsentBody, Envelope, PatchBody,
};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/signed-objects.json")).unwrap()
}

fn keys(vectors: &Value, name: &str) -> (SigningKey, VerifyingKey) {
    let entry = &vectors["keys"][name];
    let seed: [u8; 32] = hex::decode(entry["seed_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key();
    assert_eq!(hex::encode(public.as_bytes()), entry["public_hex"].as_str().unwrap());
    assert_eq!(key_id(&public), entry["key_id"].as_str().unwrap());
    (signing, public)
}

fn envelope(value: &Value) -> Envelope {
    serde_json::from_value(value.clone()).unwrap()
}

fn patch_body(decoded: &Value) -> PatchBody {
    PatchBody {
        version: decoded["version"].as_u64().unwrap() as u8,
        patch_id: decoded["patch_id"].as_str().unwrap().into(),
        target: decoded["target"].as_str().unwrap().into(),
        content: decoded["content_utf8"].as_str().unwrap().as_bytes().to_vec(),
        mode: decoded["mode"].as_u64().unwrap() as u32,
        base_sha256: decoded["base_sha256_hex"].as_str().map(|h| hex::decode(h).unwrap().try_into().unwrap()),
        not_before: decoded["not_before"].as_i64().unwrap(),
        not_after: decoded["not_after"].as_i64().unwrap(),
        agents: decoded["agents"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect(),
    }
}

fn consent_body(decoded: &Value) -> ConsentBody {
    ConsentBody {
        version: decoded["version"].as_u64().unwrap() as u8,
        tenant: decoded["tenant"].as_str().unwrap().into(),
        signer: decoded["signer"].as_str().unwrap().into(),
        issued_at: decoded["issued_at"].as_i64().unwrap(),
        expires_at: decoded["expires_at"].as_i64(),
    }
}

#[test]
fn every_valid_vector_verifies_decodes_exactly_and_re_signs_byte_for_byte() {
    let vectors = vectors();
    let valid = vectors["valid"].as_array().unwrap();
    assert_eq!(valid.len(), 4);
    for case in valid {
        let name = case["name"].as_str().unwrap();
        let (signing, public) = keys(&vectors, case["pubkey"].as_str().unwrap());
        let given = envelope(&case["envelope"]);
        assert_eq!(hex::encode(BASE64.decode(&given.body).unwrap()), case["body_hex"].as_str().unwrap(), "{name}");
        match case["kind"].as_str().unwrap() {
            "patch" => {
                let expected = patch_body(&case["decoded"]);
                let verified = verify_patch(&given, &public).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(verified.body(), &expected, "{name}");
                assert_eq!(sign_patch(&signing, &expected), given, "{name}: our signer drifted");
            }
            "consent" => {
                let expected = consent_body(&case["decoded"]);
                let verified = verify_consent(&given, &public).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(verified.body(), &expected, "{name}");
                assert_eq!(sign_consent(&signing, &expected), given, "{name}: our signer drifted");
            }
            other => panic!("unknown kind {other}"),
        }
    }
}

#[test]
fn every_invalid_vector_is_refused() {
    let vectors = vectors();
    let invalid = vectors["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 5);
    for case in invalid {
        let name = case["name"].as_str().unwrap();
        let (_, public) = keys(&vectors, case["pubkey"].as_str().unwrap());
        let given = envelope(&case["envelope"]);
        assert_eq!(case["kind"], "patch");
        assert!(verify_patch(&given, &public).is_err(), "{name} was accepted");
        // Whatever key the case names, the patch key must refuse it too.
        let (_, patch_key) = keys(&vectors, "patch");
        assert!(verify_patch(&given, &patch_key).is_err(), "{name} was accepted under the patch key");
    }
}

fn golden_patch() -> (Envelope, VerifyingKey) {
    let vectors = vectors();
    let (_, public) = keys(&vectors, "patch");
    (envelope(&vectors["valid"][0]["envelope"]), public)
}

fn flip(text: &str, bit: usize) -> String {
    let mut bytes = BASE64.decode(text).unwrap();
    let index = bit / 8 % bytes.len();
    bytes[index] ^= 1 << (bit % 8);
    BASE64.encode(bytes)
}

#[test]
fn every_single_bit_flip_of_the_signature_is_refused() {
    let (given, public) = golden_patch();
    for bit in 0..512 {
        let tampered = Envelope { signature: flip(&given.signature, bit), ..given.clone() };
        assert!(verify_patch(&tampered, &public).is_err(), "signature bit {bit}");
    }
}

#[test]
fn every_single_bit_flip_of_the_body_is_refused() {
    let (given, public) = golden_patch();
    let bits = BASE64.decode(&given.body).unwrap().len() * 8;
    for bit in 0..bits {
        let tampered = Envelope { body: flip(&given.body, bit), ..given.clone() };
        assert!(verify_patch(&tampered, &public).is_err(), "body bit {bit}");
    }
}

proptest! {
    #[test]
    fn arbitrary_envelopes_never_verify(body in proptest::collection::vec(any::<u8>(), 0..200), sig in proptest::collection::vec(any::<u8>(), 64)) {
        let (given, public) = golden_patch();
        let forged = Envelope { body: BASE64.encode(&body), signature: BASE64.encode(&sig), key_id: given.key_id };
        prop_assert!(verify_patch(&forged, &public).is_err());
    }
}
