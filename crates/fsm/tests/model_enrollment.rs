//! Model-based test of the enrollment machine for one agent ID.
//! Invariants: revoked is terminal; a token enrolls at most once (the agent enrolls at most
//! once, and its passkey never changes afterwards); an expired, replaced or wrong-tenant token
//! never enrolls.

use argus_fsm::enrollment::{token_hash, Enrollment, EnrollmentEvent};
use argus_fsm::machine::Machine;
use argus_fsm::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const START: i64 = 1_800_000_000_000;
const TTL: i64 = 15 * 60_000;
const TENANTS: [&str; 2] = ["T1", "T2"];

#[derive(Clone, Debug, PartialEq)]
enum State {
    Unknown,
    Pending { tenant: usize, token: u8, expires_at: i64 },
    Enrolled { passkey: u8 },
    Revoked,
}

#[derive(Clone, Debug)]
struct Model {
    now: i64,
    state: State,
    enrollments: u32,
}

#[derive(Clone, Debug)]
enum Step {
    Advance(i64),
    Issue { tenant: usize, token: u8 },
    Enroll { tenant: usize, token: u8, passkey: u8 },
    Revoke,
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model { now: START, state: State::Unknown, enrollments: 0 }).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            (0..TTL).prop_map(Step::Advance),
            (0..2usize, 0..3u8).prop_map(|(tenant, token)| Step::Issue { tenant, token }),
            (0..2usize, 0..3u8, 0..3u8).prop_map(|(tenant, token, passkey)| Step::Enroll { tenant, token, passkey }),
            Just(Step::Revoke),
        ]
        .boxed()
    }

    fn apply(mut model: Model, step: &Step) -> Model {
        let now = model.now;
        model.state = match (model.state.clone(), step) {
            (state, Step::Advance(ms)) => {
                model.now += ms;
                state
            }
            (State::Unknown, Step::Issue { tenant, token }) => {
                State::Pending { tenant: *tenant, token: *token, expires_at: now + TTL }
            }
            (State::Pending { tenant: owner, .. }, Step::Issue { tenant, token }) if owner == *tenant => {
                State::Pending { tenant: *tenant, token: *token, expires_at: now + TTL }
            }
            (State::Pending { tenant, token, expires_at }, Step::Enroll { tenant: t, token: k, passkey })
                if tenant == *t && token == *k && now < expires_at =>
            {
                model.enrollments += 1;
                State::Enrolled { passkey: *passkey }
            }
            (State::Pending { .. } | State::Enrolled { .. }, Step::Revoke) => State::Revoked,
            (state, _) => state,
        };
        model
    }
}

struct Sut {
    record: Option<Enrollment>,
    now: i64,
    enrollments: u32,
    first_passkey: Option<[u8; 32]>,
    ever_revoked: bool,
}

fn token(k: u8) -> String {
    format!("ent_token_{k}")
}

struct EnrollmentTest;

impl StateMachineTest for EnrollmentTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(_: &Model) -> Sut {
        Sut { record: None, now: START, enrollments: 0, first_passkey: None, ever_revoked: false }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        let now = Timestamp(sut.now);
        let event = match step {
            Step::Advance(ms) => {
                sut.now += ms;
                return sut;
            }
            Step::Issue { tenant, token: k } => EnrollmentEvent::IssueToken {
                tenant: TENANTS[tenant].into(),
                token_hash: token_hash(&token(k)),
                expires_at: now.plus_millis(TTL),
            },
            Step::Enroll { tenant, token: k, passkey } => {
                EnrollmentEvent::Enroll { tenant: TENANTS[tenant].into(), token: token(k), passkey: [passkey; 32] }
            }
            Step::Revoke => EnrollmentEvent::Revoke { reason: "r".into() },
        };
        sut.ever_revoked |= matches!(sut.record, Some(Enrollment::Revoked { .. }));
        sut.record = match sut.record.take() {
            None => Enrollment::start(event, now).ok(),
            Some(record) => {
                let was_pending = matches!(record, Enrollment::Pending { .. });
                let mut next = record;
                let _ = next.handle(event, now);
                if was_pending {
                    if let Enrollment::Enrolled { passkey, .. } = &next {
                        sut.enrollments += 1;
                        sut.first_passkey.get_or_insert(*passkey);
                    }
                }
                Some(next)
            }
        };
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let state = match &sut.record {
            None => State::Unknown,
            Some(Enrollment::Pending { tenant, token_hash: hash, expires_at, .. }) => {
                let k = (0..3).find(|k| token_hash(&token(*k)) == *hash).unwrap();
                let t = TENANTS.iter().position(|x| x == tenant).unwrap();
                State::Pending { tenant: t, token: k, expires_at: expires_at.0 }
            }
            Some(Enrollment::Enrolled { passkey, .. }) => {
                assert_eq!(Some(*passkey), sut.first_passkey, "passkey changed after enrollment");
                State::Enrolled { passkey: passkey[0] }
            }
            Some(Enrollment::Revoked { .. }) => State::Revoked,
        };
        assert_eq!(state, model.state);
        assert!(sut.enrollments <= 1, "enrolled twice");
        assert_eq!(sut.enrollments, model.enrollments);
        if sut.ever_revoked {
            assert_eq!(state, State::Revoked, "revoked is terminal");
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/model_enrollment.txt"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn enrollment_machine_matches_model(sequential 1..40 => EnrollmentTest);
}
