//! Model-based test of the session machine: random event sequences against a reference model.
//! Invariants after every step: a session ends exactly once, with the model's reason; no
//! command is admitted outside a live, unexpired session or across tenant/owner/token.

use argus_fsm::machine::Machine;
use argus_fsm::session::{
    Caller, EndReason, Presented, Session, SessionEffect, SessionError, SessionEvent, SessionState, DEFAULT_TTL_MS,
};
use argus_fsm::signed::sha256;
use argus_fsm::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const START: i64 = 1_800_000_000_000;

#[derive(Clone, Debug)]
struct Model {
    now: i64,
    expires_at: i64,
    ended: Option<EndReason>,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Advance(i64),
    Deactivate,
    End(EndReason),
    Timeout,
    Admit { tenant_ok: bool, owner_ok: bool, token_ok: bool },
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        (1..=DEFAULT_TTL_MS * 4).prop_map(|ttl| Model { now: START, expires_at: START + ttl, ended: None }).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            (0..DEFAULT_TTL_MS).prop_map(Step::Advance),
            Just(Step::Deactivate),
            proptest::sample::select(EndReason::ALL.to_vec()).prop_map(Step::End),
            Just(Step::Timeout),
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(tenant_ok, owner_ok, token_ok)| Step::Admit {
                tenant_ok,
                owner_ok,
                token_ok
            }),
        ]
        .boxed()
    }

    fn apply(mut model: Model, step: &Step) -> Model {
        let lapsed = model.now >= model.expires_at;
        match (*step, model.ended) {
            (Step::Advance(ms), _) => model.now += ms,
            (_, Some(_)) => {}
            (Step::Deactivate, None) => {
                model.ended = Some(if lapsed { EndReason::Expired } else { EndReason::Deactivated })
            }
            (Step::End(reason), None) => model.ended = Some(if lapsed { EndReason::Expired } else { reason }),
            (Step::Timeout, None) if lapsed => model.ended = Some(EndReason::Expired),
            (Step::Admit { tenant_ok: true, owner_ok: true, token_ok: true }, None) if lapsed => {
                model.ended = Some(EndReason::Expired)
            }
            _ => {}
        }
        model
    }
}

struct Sut {
    session: Session,
    now: i64,
    end_effects: Vec<EndReason>,
}

struct SessionTest;

impl StateMachineTest for SessionTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(model: &Model) -> Sut {
        let session = Session::start(
            "s1".into(),
            "T1".into(),
            "a1".into(),
            "op@x".into(),
            sha256(b"rst_good"),
            "why".into(),
            model.expires_at - model.now,
            Timestamp(model.now),
        );
        Sut { session, now: model.now, end_effects: Vec::new() }
    }

    fn apply(mut sut: Sut, after: &Model, step: Step) -> Sut {
        let now = Timestamp(sut.now);
        // Every step goes through the one `handle`, as the ops driver does; every end effect —
        // from an accepted event or carried by a refusal — is collected the same way.
        let (event, bound) = match step {
            Step::Advance(ms) => {
                sut.now += ms;
                return sut;
            }
            Step::Deactivate => (SessionEvent::Deactivate, true),
            Step::End(reason) => (SessionEvent::End(reason), true),
            Step::Timeout => (SessionEvent::Timeout, true),
            Step::Admit { tenant_ok, owner_ok, token_ok } => {
                let presented = Presented {
                    tenant: if tenant_ok { "T1" } else { "T2" }.into(),
                    owner: if owner_ok { "op@x" } else { "evil@x" }.into(),
                    token_hash: sha256(if token_ok { b"rst_good" } else { b"rst_evil" }),
                };
                (SessionEvent::Command(Caller::Presented(presented)), tenant_ok && owner_ok && token_ok)
            }
        };
        let is_command = matches!(event, SessionEvent::Command(_));
        let effects = match sut.session.handle(event, now) {
            Ok(effects) => {
                if is_command {
                    assert!(bound && after.ended.is_none(), "admitted outside a live bound session");
                }
                effects
            }
            Err(refused) => {
                match refused.error {
                    SessionError::NotFound => {
                        assert!(is_command && !bound, "only a wrong binding is not found");
                        assert!(refused.effects.is_empty(), "a wrong binding changes nothing");
                    }
                    SessionError::Expired => assert!(bound && after.ended.is_some()),
                }
                refused.effects
            }
        };
        for SessionEffect::Ended { reason, .. } in effects {
            sut.end_effects.push(reason);
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert!(sut.end_effects.len() <= 1, "ended more than once: {:?}", sut.end_effects);
        match (sut.session.state, model.ended) {
            (SessionState::Active, None) => assert!(sut.end_effects.is_empty()),
            (SessionState::Ended { reason, .. }, Some(expected)) => {
                assert_eq!(reason, expected);
                assert_eq!(sut.end_effects, vec![expected], "exactly one end effect");
                assert_eq!(sut.session.next_deadline(), None);
            }
            (state, expected) => panic!("machine {state:?} vs model {expected:?}"),
        }
        if sut.session.is_live(Timestamp(sut.now)) {
            assert!(sut.now < model.expires_at);
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/model_session.txt"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn session_machine_matches_model(sequential 1..40 => SessionTest);
}
