//! Model-based test of patch application against a fake filesystem.
//! Invariants after every step: no patch is applied unverified, out of window, off-allowlist,
//! for another agent, with a forbidden or changed mode, against a wrong base, or twice; a
//! rejected patch leaves the files untouched; replay memory holds exactly the applied IDs.

use std::collections::{BTreeMap, BTreeSet};

use argus_fsm::patch::{admit, FileFacts, PatchContext, PatchRejection, ReplayMemory};
use argus_fsm::signed::{sha256, sign_patch, PatchBody};
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

const NOW_S: i64 = 1_800_000_000;
const TARGETS: [&str; 5] = ["config.yaml", "hotfix/a.yaml", "hotfix/b.yaml", "argus.log", "../config.yaml"];
const MODES: [u32; 5] = [0o644, 0o600, 0o640, 0o755, 0o4644];

#[derive(Clone, Debug)]
struct PatchSpec {
    id: u8,
    pinned_signer: bool,
    target: usize,
    window: i8, // -1 early, 0 inside, 1 late
    agents: u8, // 0 any, 1 me, 2 other
    mode: usize,
    base: u8, // 0 none, 1 current content, 2 wrong
    content: u8,
}

#[derive(Clone, Debug, Default)]
struct Model {
    files: BTreeMap<String, (u32, Vec<u8>)>,
    applied: BTreeSet<u8>,
    last: Option<Result<(), PatchRejection>>,
}

fn expected(model: &Model, spec: &PatchSpec) -> Result<(), PatchRejection> {
    let target = TARGETS[spec.target];
    let mode = MODES[spec.mode];
    if !spec.pinned_signer {
        return Err(PatchRejection::SignatureInvalid);
    }
    if spec.target >= 3 {
        return Err(PatchRejection::TargetNotAllowlisted);
    }
    match spec.window {
        -1 => return Err(PatchRejection::NotYetValid),
        1 => return Err(PatchRejection::Expired),
        _ => {}
    }
    if spec.agents == 2 {
        return Err(PatchRejection::WrongAgent);
    }
    if model.applied.contains(&spec.id) {
        return Err(PatchRejection::Replayed);
    }
    let current = model.files.get(target);
    if mode & 0o7111 != 0 || current.is_some_and(|(m, _)| *m != mode) {
        return Err(PatchRejection::ModeChange);
    }
    match (spec.base, current) {
        (0, _) | (1, Some(_)) => Ok(()),
        _ => Err(PatchRejection::BaseMismatch),
    }
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = PatchSpec;

    fn init_state() -> BoxedStrategy<Model> {
        let mut files = BTreeMap::new();
        files.insert("config.yaml".to_string(), (0o644, b"poll: 5\n".to_vec()));
        Just(Model { files, ..Model::default() }).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<PatchSpec> {
        (0..6u8, proptest::bool::weighted(0.85), 0..5usize, -1..=1i8, 0..3u8, 0..5usize, 0..3u8, any::<u8>())
            .prop_map(|(id, pinned_signer, target, window, agents, mode, base, content)| PatchSpec {
                id,
                pinned_signer,
                target,
                window,
                agents,
                mode,
                base,
                content,
            })
            .boxed()
    }

    fn apply(mut model: Model, spec: &PatchSpec) -> Model {
        let outcome = expected(&model, spec);
        if outcome.is_ok() {
            model.files.insert(TARGETS[spec.target].into(), (MODES[spec.mode], vec![spec.content]));
            model.applied.insert(spec.id);
        }
        model.last = Some(outcome);
        model
    }
}

struct Sut {
    files: BTreeMap<String, (u32, Vec<u8>)>,
    replay: ReplayMemory,
    last: Option<Result<(), PatchRejection>>,
}

fn patch_id(id: u8) -> String {
    format!("00000000-0000-4000-8000-0000000000{id:02x}")
}

fn build(spec: &PatchSpec, files: &BTreeMap<String, (u32, Vec<u8>)>) -> argus_fsm::signed::Envelope {
    let target = TARGETS[spec.target].to_string();
    let base_sha256 = match spec.base {
        0 => None,
        1 => Some(files.get(&target).map_or([7; 32], |(_, content)| sha256(content))),
        _ => Some([0xee; 32]),
    };
    let (not_before, not_after) = match spec.window {
        -1 => (NOW_S + 10, NOW_S + 100),
        1 => (NOW_S - 100, NOW_S - 10),
        _ => (NOW_S - 10, NOW_S + 10),
    };
    let agents = match spec.agents {
        0 => vec![],
        1 => vec!["a1".into(), "a9".into()],
        _ => vec!["a2".into()],
    };
    let body = PatchBody {
        version: 1,
        patch_id: patch_id(spec.id),
        target,
        content: vec![spec.content],
        mode: MODES[spec.mode],
        base_sha256,
        not_before,
        not_after,
        agents,
    };
    let signer = SigningKey::from_bytes(if spec.pinned_signer { &[21; 32] } else { &[22; 32] });
    let mut envelope = sign_patch(&signer, &body);
    // A forger would claim the pinned key's ID; make sure the signature is what refuses it.
    envelope.key_id = argus_fsm::signed::key_id(&SigningKey::from_bytes(&[21; 32]).verifying_key());
    envelope
}

struct PatchTest;

impl StateMachineTest for PatchTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(model: &Model) -> Sut {
        Sut { files: model.files.clone(), replay: ReplayMemory::default(), last: None }
    }

    fn apply(mut sut: Sut, _: &Model, spec: PatchSpec) -> Sut {
        let key = SigningKey::from_bytes(&[21; 32]).verifying_key();
        let envelope = build(&spec, &sut.files);
        let context = PatchContext {
            pinned_key: &key,
            agent_id: "a1",
            now: Timestamp::from_unix_seconds(NOW_S),
            replay: &sut.replay,
        };
        let before = sut.files.clone();
        let outcome = admit(&envelope, &context).and_then(|admitted| {
            let current = sut
                .files
                .get(admitted.target().as_str())
                .map(|(mode, content)| FileFacts { mode: *mode, sha256: sha256(content) });
            admitted.plan(current)
        });
        sut.last = Some(match outcome {
            Ok(plan) => {
                // The fake filesystem's atomic write.
                sut.files.insert(plan.target().as_str().into(), (plan.mode(), plan.content().to_vec()));
                let applied = plan.applied(&mut sut.replay);
                assert_eq!(applied.patch_id, patch_id(spec.id));
                Ok(())
            }
            Err(rejection) => {
                assert_eq!(sut.files, before, "a rejected patch touched a file");
                Err(rejection)
            }
        });
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert_eq!(sut.last, model.last);
        assert_eq!(sut.files, model.files);
        assert_eq!(sut.replay.len(), model.applied.len());
        for id in &model.applied {
            assert!(sut.replay.contains(&patch_id(*id)));
        }
        for (path, (mode, _)) in &sut.files {
            assert!(mode & 0o7111 == 0, "{path} got a forbidden mode {mode:o}");
            assert!(path == "config.yaml" || path.starts_with("hotfix/"), "{path} is off the allowlist");
        }
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/model_patch.txt"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn patch_machine_matches_model(sequential 1..30 => PatchTest);
}
