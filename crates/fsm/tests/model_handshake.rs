//! Model-based test of the agent link: the handshake machine together with the enrollment
//! machine, as the server drives them, over random connection attempts — each in one round trip
//! (the proof with the Hello) or two (a challenge answered), which must decide alike.
//! Invariants: an agent authenticates only with the passkey it enrolled, only on the TLS
//! session it signed for, only under its tenant, and never after revocation; a token enrolls at
//! most once.

use argus_fsm::enrollment::{token_hash, Enrollment, EnrollmentEvent};
use argus_fsm::handshake::{
    answer_challenge, prove_hello, HandshakeEffect, HandshakeEvent, Hello, Intent, ServerHandshake, Verified,
};
use argus_fsm::machine::Machine;
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

#[derive(Clone, Debug, PartialEq)]
enum Registry {
    Unknown,
    Pending { token: u8 },
    Enrolled { key: u8 },
    Revoked,
}

#[derive(Clone, Debug)]
struct Model {
    registry: Registry,
    last_ok: bool,
}

#[derive(Clone, Debug)]
enum Step {
    Issue {
        token: u8,
    },
    /// Enroll presenting `token`, naming passkey `named`, signing with `signer`.
    Enroll {
        token: u8,
        named: u8,
        signer: u8,
        same_session: bool,
        own_tenant: bool,
        one_round_trip: bool,
    },
    /// Authenticate signing with `signer`.
    Connect {
        signer: u8,
        same_session: bool,
        own_tenant: bool,
        one_round_trip: bool,
    },
    Revoke,
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model { registry: Registry::Unknown, last_ok: false }).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            (0..3u8).prop_map(|token| Step::Issue { token }),
            (0..3u8, 0..3u8, 0..3u8, proptest::bool::weighted(0.8), proptest::bool::weighted(0.8), proptest::bool::ANY)
                .prop_map(|(token, named, signer, same_session, own_tenant, one_round_trip)| Step::Enroll {
                    token,
                    named,
                    signer,
                    same_session,
                    own_tenant,
                    one_round_trip
                }),
            (0..3u8, proptest::bool::weighted(0.8), proptest::bool::weighted(0.8), proptest::bool::ANY).prop_map(
                |(signer, same_session, own_tenant, one_round_trip)| Step::Connect {
                    signer,
                    same_session,
                    own_tenant,
                    one_round_trip
                }
            ),
            Just(Step::Revoke),
        ]
        .boxed()
    }

    fn apply(mut model: Model, step: &Step) -> Model {
        model.last_ok = false;
        model.registry = match (model.registry.clone(), step) {
            (Registry::Unknown | Registry::Pending { .. }, Step::Issue { token }) => {
                Registry::Pending { token: *token }
            }
            (Registry::Pending { token }, Step::Enroll { token: t, named, signer, same_session, own_tenant, .. })
                if token == *t && named == signer && *same_session && *own_tenant =>
            {
                model.last_ok = true;
                Registry::Enrolled { key: *named }
            }
            (Registry::Enrolled { key }, Step::Connect { signer, same_session, own_tenant, .. }) => {
                model.last_ok = key == *signer && *same_session && *own_tenant;
                Registry::Enrolled { key }
            }
            (Registry::Pending { .. } | Registry::Enrolled { .. }, Step::Revoke) => Registry::Revoked,
            (registry, _) => registry,
        };
        model
    }
}

struct Sut {
    record: Option<Enrollment>,
    last_ok: bool,
    authenticated_after_revoke: bool,
}

fn key(k: u8) -> SigningKey {
    SigningKey::from_bytes(&[40 + k; 32])
}

/// Runs one connection: the agent signs on its own view of the TLS session; the server checks
/// against its own exporter value.
fn connect(
    record: Option<&Enrollment>,
    intent: Intent,
    signer: u8,
    same_session: bool,
    own_tenant: bool,
    one_round_trip: bool,
) -> Option<Verified> {
    let server_exporter = [1u8; 32];
    let agent_exporter = if same_session { server_exporter } else { [2u8; 32] };
    let tenant = if own_tenant { "T1" } else { "T2" };
    let hello = Hello { agent_id: "a1".into(), tenant: tenant.into(), intent };
    let mut server = ServerHandshake::new(server_exporter, [3; 32]);
    let verdict = if one_round_trip {
        let proof = prove_hello(&hello, &agent_exporter, &key(signer));
        server.handle(HandshakeEvent::ProvedHello { hello, proof, record: record.cloned() }, NOW).ok()?.pop()?
    } else {
        let Some(HandshakeEffect::SendChallenge(challenge)) =
            server.handle(HandshakeEvent::Hello { hello: hello.clone(), record: record.cloned() }, NOW).ok()?.pop()
        else {
            return None;
        };
        let proof = answer_challenge(&hello, &agent_exporter, &challenge, &key(signer));
        server.handle(HandshakeEvent::Proof(proof), NOW).ok()?.pop()?
    };
    match verdict {
        HandshakeEffect::Verified(verified) => Some(verified),
        HandshakeEffect::SendChallenge(_) => None,
    }
}

struct LinkTest;

impl StateMachineTest for LinkTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(_: &Model) -> Sut {
        Sut { record: None, last_ok: false, authenticated_after_revoke: false }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        sut.last_ok = false;
        let revoked = matches!(sut.record, Some(Enrollment::Revoked { .. }));
        match step {
            Step::Issue { token } => {
                let event = EnrollmentEvent::IssueToken {
                    tenant: "T1".into(),
                    token_hash: token_hash(&format!("ent_{token}")),
                    expires_at: NOW.plus_millis(60_000),
                };
                sut.record = Some(match sut.record.take() {
                    None => Enrollment::start(event, NOW).unwrap(),
                    Some(mut record) => {
                        let _ = record.handle(event, NOW);
                        record
                    }
                });
            }
            Step::Enroll { token, named, signer, same_session, own_tenant, one_round_trip } => {
                let intent =
                    Intent::Enroll { token: format!("ent_{token}"), passkey: key(named).verifying_key().to_bytes() };
                if let Some(Verified::EnrollRequested { tenant, token, passkey, .. }) =
                    connect(sut.record.as_ref(), intent, signer, same_session, own_tenant, one_round_trip)
                {
                    if let Some(record) = sut.record.as_mut() {
                        let event = EnrollmentEvent::Enroll { tenant, token, passkey };
                        sut.last_ok = record.handle(event, NOW).is_ok();
                    }
                }
            }
            Step::Connect { signer, same_session, own_tenant, one_round_trip } => {
                let verified = connect(
                    sut.record.as_ref(),
                    Intent::Authenticate,
                    signer,
                    same_session,
                    own_tenant,
                    one_round_trip,
                );
                sut.last_ok = matches!(verified, Some(Verified::Authenticated { .. }));
                sut.authenticated_after_revoke |= sut.last_ok && revoked;
            }
            Step::Revoke => {
                if let Some(record) = sut.record.as_mut() {
                    let _ = record.handle(EnrollmentEvent::Revoke { reason: "r".into() }, NOW);
                }
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert!(!sut.authenticated_after_revoke, "a revoked agent authenticated");
        assert_eq!(sut.last_ok, model.last_ok);
        let registry = match &sut.record {
            None => Registry::Unknown,
            Some(Enrollment::Pending { token_hash: hash, .. }) => {
                Registry::Pending { token: (0..3).find(|t| token_hash(&format!("ent_{t}")) == *hash).unwrap() }
            }
            Some(Enrollment::Enrolled { passkey, .. }) => {
                Registry::Enrolled { key: (0..3).find(|k| key(*k).verifying_key().to_bytes() == *passkey).unwrap() }
            }
            Some(Enrollment::Revoked { .. }) => Registry::Revoked,
        };
        assert_eq!(registry, model.registry);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/model_handshake.txt"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn link_handshake_and_enrollment_match_model(sequential 1..30 => LinkTest);
}
