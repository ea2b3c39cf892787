//! The link handshake, both sides, with arbitrary Hellos (IDs, tenants, intents) plain or sent
//! with their proof (one round trip), arbitrary registry records, proofs from the right or a
//! wrong key, from this TLS session or another, and arbitrary message orders — all through the
//! server machine's one `handle`.
//! Asserts: a connection is authenticated only as an enrolled, unrevoked agent of its own
//! tenant, with the passkey it enrolled, on the TLS session it signed; nothing is verified
//! out of order or after a refusal; a malformed Hello is refused before any lookup.
#![no_main]

use arbitrary::Arbitrary;
use argus_fsm::enrollment::Enrollment;
use argus_fsm::handshake::{
    answer_challenge, prove_hello, HandshakeEffect, HandshakeError, HandshakeEvent, Hello, Intent, Proof,
    ServerHandshake, Verified,
};
use argus_fsm::machine::Machine;
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Record {
    None,
    Pending,
    Enrolled { key: u8, tenant_ok: bool },
    Revoked,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Hello {
        agent_id: String,
        tenant_ok: bool,
        enroll: Option<u8>,
    },
    /// A Hello with its proof, signed by `signer` on this TLS session or another.
    ProvedHello {
        agent_id: String,
        tenant_ok: bool,
        enroll: Option<u8>,
        signer: u8,
        same_session: bool,
    },
    Proof {
        signer: u8,
        same_session: bool,
    },
    RawProof(Vec<u8>),
}

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn key(k: u8) -> SigningKey {
    SigningKey::from_bytes(&[k % 4 + 1; 32])
}

fn hello(agent_id: String, tenant_ok: bool, enroll: Option<u8>) -> Hello {
    let intent = match enroll {
        Some(k) => Intent::Enroll { token: "ent_x".into(), passkey: key(k).verifying_key().to_bytes() },
        None => Intent::Authenticate,
    };
    Hello { agent_id, tenant: if tenant_ok { "T1" } else { "T 2" }.into(), intent }
}

fuzz_target!(|input: (Record, Vec<Step>)| {
    let (record, steps) = input;
    let record = match record {
        Record::None => None,
        Record::Pending => {
            Some(Enrollment::Pending { tenant: "T1".into(), token_hash: [0; 32], expires_at: NOW, issued_at: NOW })
        }
        Record::Enrolled { key: k, tenant_ok } => Some(Enrollment::Enrolled {
            tenant: if tenant_ok { "T1" } else { "T2" }.into(),
            passkey: key(k).verifying_key().to_bytes(),
            enrolled_at: NOW,
        }),
        Record::Revoked => Some(Enrollment::Revoked {
            tenant: "T1".into(),
            revoked_at: NOW,
            reason: String::new(),
            was_enrolled: true,
        }),
    };
    let exporter = [1u8; 32];
    let mut server = ServerHandshake::new(exporter, [2; 32]);
    let mut finished = false;
    let mut last_hello: Option<Hello> = None;
    let mut challenge = None;
    let enrolled_key = match &record {
        Some(Enrollment::Enrolled { passkey, .. }) => Some(*passkey),
        _ => None,
    };
    for step in steps {
        let mut honest_proof = false;
        let event = match step {
            Step::Hello { agent_id, tenant_ok, enroll } => {
                let hello = hello(agent_id, tenant_ok, enroll);
                last_hello = Some(hello.clone());
                HandshakeEvent::Hello { hello, record: record.clone() }
            }
            Step::ProvedHello { agent_id, tenant_ok, enroll, signer, same_session } => {
                let hello = hello(agent_id, tenant_ok, enroll);
                let session = if same_session { exporter } else { [9; 32] };
                let named = match &hello.intent {
                    Intent::Enroll { passkey, .. } => Some(*passkey),
                    Intent::Authenticate => enrolled_key,
                };
                honest_proof = same_session && named == Some(key(signer).verifying_key().to_bytes());
                last_hello = Some(hello.clone());
                let proof = prove_hello(&hello, &session, &key(signer));
                HandshakeEvent::ProvedHello { hello, proof, record: record.clone() }
            }
            Step::Proof { signer, same_session } => {
                let (Some(hello), Some(challenge)) = (&last_hello, &challenge) else { continue };
                let session = if same_session { exporter } else { [9; 32] };
                let named = match &hello.intent {
                    Intent::Enroll { passkey, .. } => Some(*passkey),
                    Intent::Authenticate => enrolled_key,
                };
                honest_proof = same_session && named == Some(key(signer).verifying_key().to_bytes());
                HandshakeEvent::Proof(answer_challenge(hello, &session, challenge, &key(signer)))
            }
            Step::RawProof(signature) => HandshakeEvent::Proof(Proof { signature }),
        };
        let was_finished = finished;
        let is_hello = matches!(event, HandshakeEvent::Hello { .. });
        let is_proved_hello = matches!(event, HandshakeEvent::ProvedHello { .. });
        let hello_seen = last_hello.clone();
        match server.handle(event, NOW) {
            Ok(effects) => {
                assert!(!was_finished, "a finished handshake moved on");
                for effect in effects {
                    match effect {
                        HandshakeEffect::SendChallenge(sent) => {
                            assert!(is_hello);
                            assert!(hello_seen.as_ref().is_some_and(Hello::well_formed), "a malformed Hello passed");
                            challenge = Some(sent);
                        }
                        HandshakeEffect::Verified(verified) => {
                            finished = true;
                            if is_proved_hello {
                                assert!(
                                    hello_seen.as_ref().is_some_and(Hello::well_formed),
                                    "a malformed Hello passed"
                                );
                            }
                            assert!(honest_proof, "verified a proof from a wrong key or another TLS session");
                            if let Verified::Authenticated { tenant, .. } = &verified {
                                // Only an enrolled agent of this tenant, unrevoked.
                                assert!(matches!(
                                    &record,
                                    Some(Enrollment::Enrolled { tenant: t, .. }) if t == tenant
                                ));
                            }
                        }
                    }
                }
            }
            Err(refused) => {
                finished = true;
                assert!(refused.effects.is_empty());
                if was_finished {
                    assert_eq!(refused.error, HandshakeError::OutOfOrder);
                }
            }
        }
    }
});
