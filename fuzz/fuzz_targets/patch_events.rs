//! Arbitrary patches (validly signed from fuzzed fields) applied in sequence to a fake
//! filesystem through the patch machine.
//! Asserts: nothing is applied off-allowlist, out of window, for another agent, with a
//! forbidden or changed mode, against a wrong base, or twice; rejections touch no file.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use argus_fsm::allowlist::PatchTarget;
use argus_fsm::patch::{admit, FileFacts, PatchContext, ReplayMemory};
use argus_fsm::signed::{sha256, sign_patch, PatchBody};
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Spec {
    id: u8,
    target: String,
    content: Vec<u8>,
    mode: u32,
    base: Option<[u8; 32]>,
    base_is_current: bool,
    not_before: i16,
    not_after: i16,
    agents: Vec<String>,
}

const NOW_S: i64 = 1_800_000_000;

fuzz_target!(|specs: Vec<Spec>| {
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let pinned = key.verifying_key();
    let mut files: BTreeMap<String, (u32, Vec<u8>)> = BTreeMap::new();
    files.insert("config.yaml".into(), (0o644, b"a: 1\n".to_vec()));
    let mut replay = ReplayMemory::default();
    let mut applied = Vec::new();
    for spec in specs {
        let base_sha256 =
            if spec.base_is_current { files.get(&spec.target).map(|(_, c)| sha256(c)) } else { spec.base };
        let body = PatchBody {
            version: 1,
            patch_id: format!("00000000-0000-4000-8000-0000000000{:02x}", spec.id),
            target: spec.target.clone(),
            content: spec.content,
            mode: spec.mode,
            base_sha256,
            not_before: NOW_S + i64::from(spec.not_before),
            not_after: NOW_S + i64::from(spec.not_after),
            agents: spec.agents,
        };
        let context = PatchContext {
            pinned_key: &pinned,
            agent_id: "a1",
            now: Timestamp::from_unix_seconds(NOW_S),
            replay: &replay,
        };
        let before = files.clone();
        let outcome = admit(&sign_patch(&key, &body), &context).and_then(|admitted| {
            let current =
                files.get(admitted.target().as_str()).map(|(mode, c)| FileFacts { mode: *mode, sha256: sha256(c) });
            admitted.plan(current)
        });
        match outcome {
            Ok(plan) => {
                assert!(PatchTarget::try_from(body.target.as_str()).is_ok());
                assert!(body.not_before <= NOW_S && NOW_S <= body.not_after);
                assert!(body.agents.is_empty() || body.agents.iter().any(|a| a == "a1"));
                assert!(body.mode & !0o666 == 0);
                if let Some((mode, content)) = files.get(&body.target) {
                    assert_eq!(*mode, body.mode);
                    if let Some(base) = body.base_sha256 {
                        assert_eq!(sha256(content), base);
                    }
                } else {
                    assert!(body.base_sha256.is_none());
                }
                assert!(!applied.contains(&body.patch_id), "applied twice");
                files.insert(plan.target().as_str().into(), (plan.mode(), plan.content().to_vec()));
                applied.push(plan.applied(&mut replay).patch_id);
            }
            Err(_) => assert_eq!(files, before),
        }
    }
});
