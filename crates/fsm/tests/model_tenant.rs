//! Model-based test of the tenant machine: consent, arming, withdrawal and expiry.
//! Invariants: activation is allowed exactly when consent is valid now and the tenant is armed;
//! enrollment exactly when consent is valid now; disarm and withdrawal always end sessions with
//! their own reason; nothing else ends sessions.

use argus_fsm::machine::Machine;
use argus_fsm::session::EndReason;
use argus_fsm::signed::{sign_consent, verify_consent, ConsentBody};
use argus_fsm::tenant::{Tenant, TenantEffect, TenantEvent};
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const START_S: i64 = 1_800_000_000;

#[derive(Clone, Debug)]
struct Model {
    now_s: i64,
    /// `Some(expiry)` when consent is on record (`expiry` None = never expires).
    consent: Option<Option<i64>>,
    armed: bool,
    last_end: Option<EndReason>,
}

#[derive(Clone, Debug)]
enum Step {
    Advance(i64),
    Record { own_tenant: bool, expires_in: Option<i64> },
    Withdraw,
    Arm,
    Disarm,
}

fn consent_valid(model: &Model) -> bool {
    matches!(model.consent, Some(expiry) if expiry.is_none_or(|e| model.now_s < e))
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model { now_s: START_S, consent: None, armed: false, last_end: None }).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            (0..2_000i64).prop_map(Step::Advance),
            (any::<bool>(), proptest::option::of(-100..3_000i64))
                .prop_map(|(own_tenant, expires_in)| Step::Record { own_tenant, expires_in }),
            Just(Step::Withdraw),
            Just(Step::Arm),
            Just(Step::Disarm),
        ]
        .boxed()
    }

    fn apply(mut model: Model, step: &Step) -> Model {
        model.last_end = None;
        match *step {
            Step::Advance(s) => model.now_s += s,
            Step::Record { own_tenant, expires_in } => {
                let expiry = expires_in.map(|d| model.now_s + d);
                if own_tenant && expiry.is_none_or(|e| e > model.now_s) {
                    model.armed = model.consent.is_some() && model.armed;
                    model.consent = Some(expiry);
                }
            }
            Step::Withdraw => {
                model.consent = None;
                model.armed = false;
                model.last_end = Some(EndReason::ConsentWithdrawn);
            }
            Step::Arm => {
                if consent_valid(&model) {
                    model.armed = true;
                }
            }
            Step::Disarm => {
                model.armed = false;
                model.last_end = Some(EndReason::TenantDisarmed);
            }
        }
        model
    }
}

struct Sut {
    tenant: Tenant,
    now_s: i64,
    last_end: Option<EndReason>,
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

struct TenantTest;

impl StateMachineTest for TenantTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(_: &Model) -> Sut {
        Sut { tenant: Tenant::new("T1".into(), key().verifying_key().to_bytes()), now_s: START_S, last_end: None }
    }

    fn apply(mut sut: Sut, _: &Model, step: Step) -> Sut {
        let now = Timestamp::from_unix_seconds(sut.now_s);
        sut.last_end = None;
        let event = match step {
            Step::Advance(s) => {
                sut.now_s += s;
                return sut;
            }
            Step::Record { own_tenant, expires_in } => {
                let body = ConsentBody {
                    version: 1,
                    tenant: if own_tenant { "T1" } else { "T9" }.into(),
                    signer: "s".into(),
                    issued_at: sut.now_s,
                    expires_at: expires_in.map(|d| sut.now_s + d),
                };
                TenantEvent::RecordConsent(
                    verify_consent(&sign_consent(&key(), &body), &key().verifying_key()).unwrap(),
                )
            }
            Step::Withdraw => TenantEvent::WithdrawConsent,
            Step::Arm => TenantEvent::Arm,
            Step::Disarm => TenantEvent::Disarm,
        };
        let before = sut.tenant.state.clone();
        match sut.tenant.handle(event, now) {
            Ok(effects) => {
                assert!(effects.len() <= 1);
                sut.last_end = effects.into_iter().map(|TenantEffect::EndSessions(reason)| reason).next();
            }
            Err(refused) => {
                assert_eq!(sut.tenant.state, before, "a refused event changed the tenant");
                assert!(refused.effects.is_empty(), "a refused tenant event has no effect");
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let now = Timestamp::from_unix_seconds(sut.now_s);
        assert_eq!(sut.last_end, model.last_end);
        assert_eq!(sut.tenant.armed(), model.armed);
        assert_eq!(sut.tenant.may_enroll(now).is_ok(), consent_valid(model));
        assert_eq!(sut.tenant.may_activate(now).is_ok(), consent_valid(model) && model.armed);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/model_tenant.txt"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn tenant_machine_matches_model(sequential 1..40 => TenantTest);
}
