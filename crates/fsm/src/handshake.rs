//! The agent link handshake on the QUIC control stream, both sides.
//!
//! One round trip (what agents send today):
//! ```text
//!   agent                                          server
//!   ProvedHello{Hello, sig over proved transcript} ----->  ExpectHello --(registry lookup passed in)--verify-->
//!                                                  <-----  Welcome | Refused{code} | Busy
//! ```
//! Two round trips (agents before the one-round-trip handshake; still accepted):
//! ```text
//!   Hello{agent_id, tenant, intent} ----->  ExpectHello --(registry lookup passed in)--> ExpectProof
//!                                   <-----  Challenge{nonce}
//!   Proof{sig over transcript}      ----->  ExpectProof --verify--> Authenticated | EnrollRequested
//!                                   <-----  Welcome | Refused{code}
//! ```
//! Both transcripts hold a TLS exporter value of the very connection the messages travel on:
//! the two-round-trip one is `LINK_DOMAIN || exporter || nonce || postcard(Hello)`, the
//! one-round-trip one `PROVED_HELLO_DOMAIN || exporter || postcard(Hello)`. A signature made for
//! one TLS session is worthless on another, so a relay cannot forward an agent's proof. The
//! server's nonce adds nothing the exporter does not already give: the exporter derives from
//! both sides' randoms and a fresh (EC)DHE share on every connection, resumed ones included
//! (PSK-DHE only; no 0-RTT), so no two connections share it and no third party knows it. The
//! two domains differ, so a proof of one kind is never taken for the other. For enrollment the
//! same signature proves possession of the new passkey; the token is then judged by the
//! enrollment machine.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::codes::Code;
use crate::enrollment::Enrollment;
use crate::machine::{refuse, Machine, Outcome};
use crate::time::Timestamp;

/// Domain separation prefix for link proofs answering a challenge (two round trips).
pub const LINK_DOMAIN: &[u8] = b"argus-link-v1\0";
/// Domain separation prefix for link proofs sent with the Hello (one round trip).
pub const PROVED_HELLO_DOMAIN: &[u8] = b"argus-link-v2\0";
/// The TLS exporter label both sides use (RFC 8446 §7.5).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-argus-link-v1";
/// Length of the exporter value and of the server nonce.
pub const BINDING_LEN: usize = 32;

/// The agent's first message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub agent_id: String,
    pub tenant: String,
    pub intent: Intent,
}

/// Longest enrollment token a Hello may carry (`ent_` and 43 base64url characters today).
pub const MAX_TOKEN_LEN: usize = 128;

impl Hello {
    /// Whether the Hello's IDs are within the ID grammar and its token within bounds: the
    /// condition for the server to look anything up or record any of it.
    pub fn well_formed(&self) -> bool {
        crate::id::is_valid_id(&self.agent_id)
            && crate::id::is_valid_id(&self.tenant)
            && match &self.intent {
                Intent::Authenticate => true,
                Intent::Enroll { token, .. } => token.len() <= MAX_TOKEN_LEN,
            }
    }
}

/// What the agent wants from this connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intent {
    /// Authenticate with the passkey enrolled earlier.
    Authenticate,
    /// Enroll: a one-time token and the public half of a freshly generated passkey.
    Enroll { token: String, passkey: [u8; 32] },
}

/// The server's freshness challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub nonce: [u8; BINDING_LEN],
}

/// The agent's signature over the transcript (64 bytes; a `Vec` because serde has no
/// impls for arrays longer than 32).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub signature: Vec<u8>,
}

/// Why a handshake was refused. The agent is told only the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("the agent ID is revoked")]
    Revoked,
    #[error("unknown agent, wrong tenant, not enrolled, or bad proof")]
    AuthFailed,
    #[error("message out of order")]
    OutOfOrder,
    /// The Hello names an agent or tenant outside the ID grammar (or carries an oversized
    /// token): refused before anything about it is looked up or recorded.
    #[error("malformed Hello")]
    Malformed,
}

impl HandshakeError {
    /// The wire code for this refusal.
    pub fn code(self) -> Code {
        match self {
            HandshakeError::Revoked => Code::AgentRevoked,
            HandshakeError::AuthFailed | HandshakeError::OutOfOrder | HandshakeError::Malformed => {
                Code::AgentAuthFailed
            }
        }
    }
}

/// What a successful server handshake established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// An enrolled agent proved its passkey on this connection.
    Authenticated { agent_id: String, tenant: String },
    /// An agent proved possession of a new passkey; the driver now runs the enrollment machine
    /// with the token.
    EnrollRequested { agent_id: String, tenant: String, token: String, passkey: [u8; 32] },
}

/// The server side of the handshake.
#[derive(Clone, Debug)]
pub enum ServerHandshake {
    ExpectHello {
        exporter: [u8; BINDING_LEN],
        nonce: [u8; BINDING_LEN],
    },
    ExpectProof {
        exporter: [u8; BINDING_LEN],
        nonce: [u8; BINDING_LEN],
        hello: Hello,
        key: [u8; 32],
    },
    /// Verified or refused: nothing more is accepted on this connection's handshake.
    Finished,
}

/// Something that happens on the server's side of the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeEvent {
    /// The agent's Hello, with what the registry holds for the ID it claims.
    Hello { hello: Hello, record: Option<Enrollment> },
    /// The agent's signature over the transcript.
    Proof(Proof),
    /// The agent's Hello with its proof over the one-round-trip transcript, with what the
    /// registry holds for the ID it claims.
    ProvedHello { hello: Hello, proof: Proof, record: Option<Enrollment> },
}

/// What the server's driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeEffect {
    /// Send this challenge to the agent.
    SendChallenge(Challenge),
    /// The connection belongs to this agent (or carries this enrollment request).
    Verified(Verified),
}

/// The transcript a proof answering a challenge signs (two round trips).
pub fn transcript(exporter: &[u8; BINDING_LEN], nonce: &[u8; BINDING_LEN], hello: &Hello) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(LINK_DOMAIN.len() + 2 * BINDING_LEN + 128);
    bytes.extend_from_slice(LINK_DOMAIN);
    bytes.extend_from_slice(exporter);
    bytes.extend_from_slice(nonce);
    bytes.extend_from_slice(&postcard::to_allocvec(hello).expect("hello of owned fields always encodes"));
    bytes
}

/// The transcript a proof sent with the Hello signs (one round trip).
pub fn proved_transcript(exporter: &[u8; BINDING_LEN], hello: &Hello) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PROVED_HELLO_DOMAIN.len() + BINDING_LEN + 128);
    bytes.extend_from_slice(PROVED_HELLO_DOMAIN);
    bytes.extend_from_slice(exporter);
    bytes.extend_from_slice(&postcard::to_allocvec(hello).expect("hello of owned fields always encodes"));
    bytes
}

/// The agent's side of the one-round-trip handshake: the proof to send with `hello` on the
/// connection whose exporter value is `exporter`.
pub fn prove_hello(hello: &Hello, exporter: &[u8; BINDING_LEN], passkey: &SigningKey) -> Proof {
    Proof { signature: passkey.sign(&proved_transcript(exporter, hello)).to_bytes().to_vec() }
}

/// The proof an agent of the two-round-trip handshake answers `challenge` with (what the
/// server still accepts from agents that predate the one-round-trip handshake).
pub fn answer_challenge(
    hello: &Hello,
    exporter: &[u8; BINDING_LEN],
    challenge: &Challenge,
    passkey: &SigningKey,
) -> Proof {
    Proof { signature: passkey.sign(&transcript(exporter, &challenge.nonce, hello)).to_bytes().to_vec() }
}

/// The passkey a well-formed Hello must be proven with, given the registry's record: the
/// enrolled one for an authentication, the new one for an enrollment.
fn passkey_for(hello: &Hello, record: Option<Enrollment>) -> Result<[u8; 32], HandshakeError> {
    if !hello.well_formed() {
        return Err(HandshakeError::Malformed);
    }
    match (&hello.intent, record) {
        (_, Some(Enrollment::Revoked { .. })) => Err(HandshakeError::Revoked),
        (Intent::Authenticate, Some(Enrollment::Enrolled { tenant, passkey, .. })) if tenant == hello.tenant => {
            Ok(passkey)
        }
        (Intent::Authenticate, _) => Err(HandshakeError::AuthFailed),
        (Intent::Enroll { passkey, .. }, _) => Ok(*passkey),
    }
}

/// Verifies `proof` strictly over `transcript` with `key`.
fn verify(key: &[u8; 32], transcript: &[u8], proof: &Proof) -> Result<(), HandshakeError> {
    let key = VerifyingKey::from_bytes(key).map_err(|_| HandshakeError::AuthFailed)?;
    let signature: [u8; 64] = proof.signature.as_slice().try_into().map_err(|_| HandshakeError::AuthFailed)?;
    key.verify_strict(transcript, &Signature::from_bytes(&signature)).map_err(|_| HandshakeError::AuthFailed)
}

/// What a proven Hello establishes.
fn verified(hello: Hello) -> Verified {
    match hello.intent {
        Intent::Authenticate => Verified::Authenticated { agent_id: hello.agent_id, tenant: hello.tenant },
        Intent::Enroll { token, passkey } => {
            Verified::EnrollRequested { agent_id: hello.agent_id, tenant: hello.tenant, token, passkey }
        }
    }
}

impl ServerHandshake {
    /// A new handshake on a connection with this exporter value and a fresh random nonce.
    pub fn new(exporter: [u8; BINDING_LEN], nonce: [u8; BINDING_LEN]) -> ServerHandshake {
        ServerHandshake::ExpectHello { exporter, nonce }
    }
}

impl Machine for ServerHandshake {
    type Event = HandshakeEvent;
    type Effect = HandshakeEffect;
    type Error = HandshakeError;

    /// The single place that decides the server's handshake: Hello (checked against the ID
    /// grammar and the registry's record) → challenge → proof, or a Hello with its proof at
    /// once; each proof verified strictly over its transcript bound to this TLS session → verified.
    /// Any refusal finishes the handshake.
    fn handle(&mut self, event: HandshakeEvent, _now: Timestamp) -> Outcome<HandshakeEffect, HandshakeError> {
        match (std::mem::replace(self, ServerHandshake::Finished), event) {
            (ServerHandshake::ExpectHello { exporter, nonce }, HandshakeEvent::Hello { hello, record }) => {
                let key = passkey_for(&hello, record).map_err(refuse)?;
                *self = ServerHandshake::ExpectProof { exporter, nonce, hello, key };
                Ok(vec![HandshakeEffect::SendChallenge(Challenge { nonce })])
            }
            (ServerHandshake::ExpectHello { exporter, .. }, HandshakeEvent::ProvedHello { hello, proof, record }) => {
                let key = passkey_for(&hello, record).map_err(refuse)?;
                verify(&key, &proved_transcript(&exporter, &hello), &proof).map_err(refuse)?;
                Ok(vec![HandshakeEffect::Verified(verified(hello))])
            }
            (ServerHandshake::ExpectProof { exporter, nonce, hello, key }, HandshakeEvent::Proof(proof)) => {
                verify(&key, &transcript(&exporter, &nonce, &hello), &proof).map_err(refuse)?;
                Ok(vec![HandshakeEffect::Verified(verified(hello))])
            }
            _ => Err(refuse(HandshakeError::OutOfOrder)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrollment::tests as enrollment;

    const EXPORTER: [u8; 32] = [1; 32];
    const NONCE: [u8; 32] = [2; 32];

    fn passkey() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn enrolled_with(key: &SigningKey) -> Enrollment {
        Enrollment::Enrolled {
            tenant: "T1".into(),
            passkey: key.verifying_key().to_bytes(),
            enrolled_at: enrollment::NOW,
        }
    }

    /// The server's machine after a Hello, and the challenge it sends.
    fn hello_to(
        mut server: ServerHandshake,
        hello: Hello,
        record: Option<&Enrollment>,
    ) -> Result<(ServerHandshake, Challenge), HandshakeError> {
        let event = HandshakeEvent::Hello { hello, record: record.cloned() };
        match server.handle(event, enrollment::NOW).map_err(|refused| refused.error)?.pop() {
            Some(HandshakeEffect::SendChallenge(challenge)) => Ok((server, challenge)),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// What the server concludes from a proof.
    fn proof_to(mut server: ServerHandshake, proof: Proof) -> Result<Verified, HandshakeError> {
        match server.handle(HandshakeEvent::Proof(proof), enrollment::NOW).map_err(|refused| refused.error)?.pop() {
            Some(HandshakeEffect::Verified(verified)) => Ok(verified),
            other => panic!("expected a verdict, got {other:?}"),
        }
    }

    /// The agent's proof for a challenge, signed with `signer`.
    fn prove(hello: &Hello, exporter: [u8; 32], challenge: Challenge, signer: &SigningKey) -> Proof {
        answer_challenge(hello, &exporter, &challenge, signer)
    }

    /// What the server concludes from a Hello sent with its proof (one round trip).
    fn proved_to(hello: Hello, proof: Proof, record: Option<&Enrollment>) -> Result<Verified, HandshakeError> {
        let mut server = ServerHandshake::new(EXPORTER, NONCE);
        let event = HandshakeEvent::ProvedHello { hello, proof, record: record.cloned() };
        match server.handle(event, enrollment::NOW).map_err(|refused| refused.error)?.pop() {
            Some(HandshakeEffect::Verified(verified)) => Ok(verified),
            other => panic!("expected a verdict, got {other:?}"),
        }
    }

    /// Authenticates both ways — a challenge answered (two round trips) and the proof with the
    /// Hello (one) — which must come to the same verdict.
    fn authenticate(
        hello_tenant: &str,
        record: Option<&Enrollment>,
        signer: &SigningKey,
        agent_exporter: [u8; 32],
    ) -> Result<Verified, HandshakeError> {
        let hello = Hello { agent_id: "a1".into(), tenant: hello_tenant.into(), intent: Intent::Authenticate };
        let two_round_trips = hello_to(ServerHandshake::new(EXPORTER, NONCE), hello.clone(), record)
            .and_then(|(server, challenge)| proof_to(server, prove(&hello, agent_exporter, challenge, signer)));
        let one_round_trip = proved_to(hello.clone(), prove_hello(&hello, &agent_exporter, signer), record);
        assert_eq!(one_round_trip, two_round_trips, "the two handshakes decide alike");
        two_round_trips
    }

    #[test]
    fn enrolled_agent_authenticates() {
        let record = enrolled_with(&passkey());
        let verified = authenticate("T1", Some(&record), &passkey(), EXPORTER).unwrap();
        assert_eq!(verified, Verified::Authenticated { agent_id: "a1".into(), tenant: "T1".into() });
    }

    #[test]
    fn proof_from_another_tls_session_is_refused() {
        let record = enrolled_with(&passkey());
        assert_eq!(authenticate("T1", Some(&record), &passkey(), [9; 32]), Err(HandshakeError::AuthFailed));
    }

    #[test]
    fn wrong_passkey_is_refused() {
        let record = enrolled_with(&passkey());
        let other = SigningKey::from_bytes(&[6; 32]);
        assert_eq!(authenticate("T1", Some(&record), &other, EXPORTER), Err(HandshakeError::AuthFailed));
    }

    #[test]
    fn revoked_agent_is_refused_with_agent_revoked() {
        let revoked = enrollment::revoked();
        let err = authenticate("T1", Some(&revoked), &passkey(), EXPORTER).unwrap_err();
        assert_eq!(err.code(), Code::AgentRevoked);
    }

    #[test]
    fn unknown_pending_or_wrong_tenant_agent_fails_authentication() {
        let record = enrolled_with(&passkey());
        let pending = enrollment::pending();
        for (tenant, record) in [("T1", None), ("T1", Some(&pending)), ("T2", Some(&record))] {
            let err = authenticate(tenant, record, &passkey(), EXPORTER).unwrap_err();
            assert_eq!(err.code(), Code::AgentAuthFailed);
        }
    }

    #[test]
    fn enrollment_proves_possession_of_the_new_passkey() {
        let key = passkey();
        let intent = Intent::Enroll { token: "ent_x".into(), passkey: key.verifying_key().to_bytes() };
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent };
        let pending = enrollment::pending();
        let (server, challenge) =
            hello_to(ServerHandshake::new(EXPORTER, NONCE), hello.clone(), Some(&pending)).unwrap();
        let verified = proof_to(server, prove(&hello, EXPORTER, challenge, &key)).unwrap();
        assert!(matches!(verified, Verified::EnrollRequested { ref token, .. } if token == "ent_x"));

        // The same Hello signed by a key other than the one it names is refused.
        let (server, challenge) =
            hello_to(ServerHandshake::new(EXPORTER, NONCE), hello.clone(), Some(&pending)).unwrap();
        let wrong = prove(&hello, EXPORTER, challenge, &SigningKey::from_bytes(&[8; 32]));
        assert_eq!(proof_to(server, wrong), Err(HandshakeError::AuthFailed));
    }

    #[test]
    fn enrolling_a_revoked_id_is_refused() {
        let intent = Intent::Enroll { token: "ent_x".into(), passkey: [1; 32] };
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent };
        let revoked = enrollment::revoked();
        let err = hello_to(ServerHandshake::new(EXPORTER, NONCE), hello, Some(&revoked)).unwrap_err();
        assert_eq!(err, HandshakeError::Revoked);
    }

    #[test]
    fn hello_outside_the_id_grammar_is_refused_before_any_lookup() {
        let key = passkey();
        let record = enrolled_with(&key);
        let hello =
            |agent_id: String, tenant: &str| Hello { agent_id, tenant: tenant.into(), intent: Intent::Authenticate };
        for bad in [
            hello("a".repeat(129), "T1"),
            hello("a1".into(), ""),
            hello("../a1".into(), "T1"),
            hello("a1".into(), "T 1"),
        ] {
            let result = hello_to(ServerHandshake::new([1; BINDING_LEN], [2; BINDING_LEN]), bad, Some(&record));
            assert_eq!(result.unwrap_err(), HandshakeError::Malformed);
        }
        let long_token = Hello {
            agent_id: "a1".into(),
            tenant: "T1".into(),
            intent: Intent::Enroll { token: "t".repeat(MAX_TOKEN_LEN + 1), passkey: key.verifying_key().to_bytes() },
        };
        let result = hello_to(ServerHandshake::new([1; BINDING_LEN], [2; BINDING_LEN]), long_token, None);
        assert_eq!(result.unwrap_err(), HandshakeError::Malformed);
        assert_eq!(HandshakeError::Malformed.code(), Code::AgentAuthFailed);
        // The largest well-formed Hello fits the pre-authentication frame limit.
        let largest = Hello {
            agent_id: "a".repeat(128),
            tenant: "t".repeat(128),
            intent: Intent::Enroll { token: "e".repeat(MAX_TOKEN_LEN), passkey: [0xff; 32] },
        };
        assert!(largest.well_formed());
        let frame = crate::wire::encode_frame(&crate::wire::AgentMessage::Hello(largest.clone())).unwrap();
        assert!(frame.len() - crate::wire::LENGTH_PREFIX <= crate::wire::MAX_HELLO_FRAME);
        // With its proof, too.
        let proof = prove_hello(&largest, &EXPORTER, &key);
        let frame =
            crate::wire::encode_frame(&crate::wire::AgentMessage::ProvedHello { hello: largest, proof }).unwrap();
        assert!(frame.len() - crate::wire::LENGTH_PREFIX <= crate::wire::MAX_HELLO_FRAME);
    }

    #[test]
    fn truncated_signature_and_out_of_order_messages_are_refused() {
        let record = enrolled_with(&passkey());
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent: Intent::Authenticate };
        let (server, challenge) =
            hello_to(ServerHandshake::new(EXPORTER, NONCE), hello.clone(), Some(&record)).unwrap();
        assert_eq!(proof_to(server.clone(), Proof { signature: vec![0; 63] }), Err(HandshakeError::AuthFailed));
        assert_eq!(hello_to(server, hello.clone(), Some(&record)).unwrap_err(), HandshakeError::OutOfOrder);
        let fresh = ServerHandshake::new(EXPORTER, NONCE);
        assert_eq!(proof_to(fresh, Proof { signature: vec![0; 64] }), Err(HandshakeError::OutOfOrder));
        // A refused handshake is finished: a correct proof afterwards is out of order too.
        let mut refused = ServerHandshake::new(EXPORTER, NONCE);
        let event = HandshakeEvent::Hello { hello: Hello { tenant: "T 1".into(), ..hello.clone() }, record: None };
        assert!(refused.handle(event, enrollment::NOW).is_err());
        assert_eq!(
            proof_to(refused, prove(&hello, EXPORTER, challenge.clone(), &passkey())),
            Err(HandshakeError::OutOfOrder)
        );
    }

    #[test]
    fn a_proved_hello_outside_the_grammar_or_with_a_short_signature_is_refused() {
        // (Every other rule is checked both ways by `authenticate`.)
        let record = enrolled_with(&passkey());
        let malformed = Hello { agent_id: "a1".into(), tenant: "T 1".into(), intent: Intent::Authenticate };
        let proof = prove_hello(&malformed, &EXPORTER, &passkey());
        assert_eq!(proved_to(malformed, proof, Some(&record)), Err(HandshakeError::Malformed));
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent: Intent::Authenticate };
        assert_eq!(proved_to(hello, Proof { signature: vec![0; 63] }, Some(&record)), Err(HandshakeError::AuthFailed));
    }

    #[test]
    fn a_proof_of_one_handshake_is_never_taken_for_the_other() {
        let record = enrolled_with(&passkey());
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent: Intent::Authenticate };
        // A challenge answer sent as a Hello's proof: even with an all-zero nonce, refused.
        let answer = prove(&hello, EXPORTER, Challenge { nonce: [0; 32] }, &passkey());
        assert_eq!(proved_to(hello.clone(), answer, Some(&record)), Err(HandshakeError::AuthFailed));
        // A Hello's proof sent as the answer to a challenge: refused.
        let (server, _) = hello_to(ServerHandshake::new(EXPORTER, NONCE), hello.clone(), Some(&record)).unwrap();
        assert_eq!(proof_to(server, prove_hello(&hello, &EXPORTER, &passkey())), Err(HandshakeError::AuthFailed));
    }

    #[test]
    fn a_proved_hello_is_the_first_message_or_out_of_order() {
        let record = enrolled_with(&passkey());
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent: Intent::Authenticate };
        let proof = prove_hello(&hello, &EXPORTER, &passkey());
        let event = HandshakeEvent::ProvedHello { hello: hello.clone(), proof, record: Some(record.clone()) };
        // After a plain Hello (waiting for the challenge's answer) and after a verdict.
        let (mut waiting, _) = hello_to(ServerHandshake::new(EXPORTER, NONCE), hello, Some(&record)).unwrap();
        assert_eq!(waiting.handle(event.clone(), enrollment::NOW).unwrap_err().error, HandshakeError::OutOfOrder);
        let mut done = ServerHandshake::new(EXPORTER, NONCE);
        assert!(done.handle(event.clone(), enrollment::NOW).is_ok());
        assert_eq!(done.handle(event, enrollment::NOW).unwrap_err().error, HandshakeError::OutOfOrder);
    }

    #[test]
    fn a_proved_hello_enrolls_with_the_key_it_names_only() {
        let key = passkey();
        let intent = Intent::Enroll { token: "ent_x".into(), passkey: key.verifying_key().to_bytes() };
        let hello = Hello { agent_id: "a1".into(), tenant: "T1".into(), intent };
        let pending = enrollment::pending();
        let verified = proved_to(hello.clone(), prove_hello(&hello, &EXPORTER, &key), Some(&pending)).unwrap();
        assert!(matches!(verified, Verified::EnrollRequested { ref token, .. } if token == "ent_x"));
        let wrong = prove_hello(&hello, &EXPORTER, &SigningKey::from_bytes(&[8; 32]));
        assert_eq!(proved_to(hello.clone(), wrong, Some(&pending)), Err(HandshakeError::AuthFailed));
        let revoked = enrollment::revoked();
        assert_eq!(
            proved_to(hello.clone(), prove_hello(&hello, &EXPORTER, &key), Some(&revoked)),
            Err(HandshakeError::Revoked)
        );
    }
}
