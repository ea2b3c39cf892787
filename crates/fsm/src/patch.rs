//! Patch application (SPEC §5 "Signed patches"), the agent's only write path.
//!
//! ```text
//!   Envelope --admit(key, agent, now, replay)--> AdmittedPatch --plan(current file)--> ApplyPlan
//!                                                                    --applied(replay)--> Applied
//! ```
//! Guards run in one fixed order, the first failure answers:
//!
//! ```text
//! 1. signature (verify, then parse)                       patch_signature_invalid
//! 2. content size ≤ 1 MiB                                 patch_too_large
//! 3. target on the patch allowlist                        patch_target_not_allowlisted
//! 4. not_before ≤ now                                     patch_not_yet_valid
//! 5. now ≤ not_after                                      patch_expired
//! 6. agent binding (empty = any)                          patch_wrong_agent
//! 7. patch ID never seen by this agent                    patch_replayed
//! 8. no setuid/setgid/sticky/exec bit; equal to the
//!    existing file's mode                                 patch_mode_change
//! 9. base hash, when given, equals the current content's  patch_base_mismatch
//! ```
//!
//! Guards 1–7 need no file; 8–9 need the target's current facts, which the driver reads
//! (without following symlinks) and passes in. An [`ApplyPlan`] exists only after every guard
//! passed and carries the [`VerifiedPatch`] proof, so nothing unverified can reach the disk.
//! Replay memory is a value the caller owns and persists, never a global.

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::allowlist::PatchTarget;
use crate::codes::Code;
use crate::signed::{sha256, verify_patch, Envelope, VerifiedPatch, MAX_PATCH_CONTENT};
use crate::time::Timestamp;

/// Permission bits a patch may set: read/write only (no exec, setuid, setgid or sticky).
pub const ALLOWED_MODE_BITS: u32 = 0o666;

/// Why a patch was rejected. Each maps to one SPEC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PatchRejection {
    #[error("the patch signature is invalid")]
    SignatureInvalid,
    #[error("the patch content is larger than 1 MiB")]
    TooLarge,
    #[error("the patch target is not on the allowlist")]
    TargetNotAllowlisted,
    #[error("the patch is not valid yet")]
    NotYetValid,
    #[error("the patch has expired")]
    Expired,
    #[error("the patch is bound to other agents")]
    WrongAgent,
    #[error("the patch was applied before")]
    Replayed,
    #[error("the patch would change the file mode or set a forbidden bit")]
    ModeChange,
    #[error("the target's current content does not match the patch base")]
    BaseMismatch,
}

impl PatchRejection {
    /// The wire code for this rejection.
    pub fn code(self) -> Code {
        match self {
            PatchRejection::SignatureInvalid => Code::PatchSignatureInvalid,
            PatchRejection::TooLarge => Code::PatchTooLarge,
            PatchRejection::TargetNotAllowlisted => Code::PatchTargetNotAllowlisted,
            PatchRejection::NotYetValid => Code::PatchNotYetValid,
            PatchRejection::Expired => Code::PatchExpired,
            PatchRejection::WrongAgent => Code::PatchWrongAgent,
            PatchRejection::Replayed => Code::PatchReplayed,
            PatchRejection::ModeChange => Code::PatchModeChange,
            PatchRejection::BaseMismatch => Code::PatchBaseMismatch,
        }
    }
}

/// Every patch ID an agent (or the server, per agent) has ever accepted. Persisted by the
/// driver before a patch is acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayMemory {
    seen: BTreeSet<String>,
}

impl ReplayMemory {
    /// Whether this patch ID was applied before.
    pub fn contains(&self, patch_id: &str) -> bool {
        self.seen.contains(patch_id)
    }
    /// Remembers a patch ID (idempotent).
    pub fn insert(&mut self, patch_id: &str) {
        self.seen.insert(patch_id.to_owned());
    }
    /// How many IDs are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }
    /// Whether nothing is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
    /// Every remembered ID, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.seen.iter().map(String::as_str)
    }
}

/// What the agent knows when a patch arrives.
#[derive(Clone, Copy, Debug)]
pub struct PatchContext<'a> {
    /// The ARGUS patch key pinned at enrollment.
    pub pinned_key: &'a VerifyingKey,
    pub agent_id: &'a str,
    pub now: Timestamp,
    pub replay: &'a ReplayMemory,
}

/// The target file as it is now, read by the driver without following symlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub sha256: [u8; 32],
}

/// A patch that passed guards 1–7: verified, in size, on the allowlist, in its window, for
/// this agent and new. It still needs the target's current facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmittedPatch {
    verified: VerifiedPatch,
    target: PatchTarget,
}

/// A patch that passed every guard: what to write, where, with which mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyPlan {
    verified: VerifiedPatch,
    target: PatchTarget,
    sha256: [u8; 32],
}

/// The record of a successful application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub patch_id: String,
    pub target: String,
    /// Lower-case hex SHA-256 of the new content.
    pub sha256: String,
}

/// Guards 1–7: everything that needs no file.
pub fn admit(envelope: &Envelope, context: &PatchContext<'_>) -> Result<AdmittedPatch, PatchRejection> {
    let verified = verify_patch(envelope, context.pinned_key).map_err(|_| PatchRejection::SignatureInvalid)?;
    let body = verified.body();
    if body.content.len() > MAX_PATCH_CONTENT {
        return Err(PatchRejection::TooLarge);
    }
    let target = PatchTarget::try_from(body.target.as_str()).map_err(|_| PatchRejection::TargetNotAllowlisted)?;
    let now = context.now.unix_seconds();
    if now < body.not_before {
        return Err(PatchRejection::NotYetValid);
    }
    if now > body.not_after {
        return Err(PatchRejection::Expired);
    }
    if !body.agents.is_empty() && !body.agents.iter().any(|agent| agent == context.agent_id) {
        return Err(PatchRejection::WrongAgent);
    }
    if context.replay.contains(&body.patch_id) {
        return Err(PatchRejection::Replayed);
    }
    Ok(AdmittedPatch { verified, target })
}

impl AdmittedPatch {
    /// The file the driver must inspect before planning.
    pub fn target(&self) -> &PatchTarget {
        &self.target
    }

    /// The verified body.
    pub fn verified(&self) -> &VerifiedPatch {
        &self.verified
    }

    /// Guards 8–9 against the target's current facts (`None`: the file does not exist).
    pub fn plan(self, current: Option<FileFacts>) -> Result<ApplyPlan, PatchRejection> {
        let body = self.verified.body();
        if body.mode & !ALLOWED_MODE_BITS != 0 {
            return Err(PatchRejection::ModeChange);
        }
        if current.is_some_and(|facts| facts.mode != body.mode) {
            return Err(PatchRejection::ModeChange);
        }
        if let Some(base) = body.base_sha256 {
            if current.is_none_or(|facts| facts.sha256 != base) {
                return Err(PatchRejection::BaseMismatch);
            }
        }
        let sha256 = sha256(&body.content);
        Ok(ApplyPlan { verified: self.verified, target: self.target, sha256 })
    }
}

impl ApplyPlan {
    /// Where to write, relative to the install root.
    pub fn target(&self) -> &PatchTarget {
        &self.target
    }
    /// The bytes to write.
    pub fn content(&self) -> &[u8] {
        &self.verified.body().content
    }
    /// The exact mode the written file must have.
    pub fn mode(&self) -> u32 {
        self.verified.body().mode
    }
    /// The patch ID, which the driver must persist in replay memory before acknowledging.
    pub fn patch_id(&self) -> &str {
        &self.verified.body().patch_id
    }
    /// SHA-256 of the new content.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// Records the application: the patch ID enters replay memory (the driver persists it).
    pub fn applied(self, replay: &mut ReplayMemory) -> Applied {
        replay.insert(self.patch_id());
        Applied {
            patch_id: self.patch_id().to_owned(),
            target: self.target.as_str().to_owned(),
            sha256: hex::encode(self.sha256),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signed::{sign_patch, PatchBody};
    use ed25519_dalek::SigningKey;

    pub(crate) const NOW_S: i64 = 1_800_000_000;

    pub(crate) fn patch_key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    pub(crate) fn body() -> PatchBody {
        PatchBody {
            version: 1,
            patch_id: "0d9b7c5a-6e4f-4a2b-8c1d-3e5f7a9b1c2d".into(),
            target: "config.yaml".into(),
            content: b"poll: 9\n".to_vec(),
            mode: 0o644,
            base_sha256: None,
            not_before: NOW_S - 60,
            not_after: NOW_S + 3600,
            agents: vec![],
        }
    }

    fn run(body: &PatchBody, replay: &ReplayMemory, current: Option<FileFacts>) -> Result<ApplyPlan, Code> {
        let key = patch_key().verifying_key();
        let context =
            PatchContext { pinned_key: &key, agent_id: "a1", now: Timestamp::from_unix_seconds(NOW_S), replay };
        admit(&sign_patch(&patch_key(), body), &context)
            .and_then(|admitted| admitted.plan(current))
            .map_err(PatchRejection::code)
    }

    fn existing(mode: u32, content: &[u8]) -> Option<FileFacts> {
        Some(FileFacts { mode, sha256: sha256(content) })
    }

    #[test]
    fn valid_patch_plans_with_its_content_mode_and_hash() {
        let plan = run(&body(), &ReplayMemory::default(), existing(0o644, b"old")).unwrap();
        assert_eq!(plan.content(), b"poll: 9\n");
        assert_eq!(plan.mode(), 0o644);
        assert_eq!(plan.sha256(), sha256(b"poll: 9\n"));
    }

    #[test]
    fn patch_signed_by_another_key_is_rejected_as_signature_invalid() {
        let key = patch_key().verifying_key();
        let replay = ReplayMemory::default();
        let context = PatchContext {
            pinned_key: &key,
            agent_id: "a1",
            now: Timestamp::from_unix_seconds(NOW_S),
            replay: &replay,
        };
        let other = SigningKey::from_bytes(&[4; 32]);
        let result = admit(&sign_patch(&other, &body()), &context);
        assert_eq!(result.unwrap_err().code(), Code::PatchSignatureInvalid);
    }

    #[test]
    fn oversized_content_is_rejected() {
        let mut big = body();
        big.content = vec![b'a'; MAX_PATCH_CONTENT + 1];
        assert_eq!(run(&big, &ReplayMemory::default(), None).unwrap_err(), Code::PatchTooLarge);
        big.content.pop();
        assert!(run(&big, &ReplayMemory::default(), None).is_ok());
    }

    #[test]
    fn off_allowlist_target_is_rejected() {
        for target in ["argus.log", "../config.yaml", "state/agent.key", "hotfix/x.yml", "/etc/passwd"] {
            let mut bad = body();
            bad.target = target.into();
            assert_eq!(
                run(&bad, &ReplayMemory::default(), None).unwrap_err(),
                Code::PatchTargetNotAllowlisted,
                "{target}"
            );
        }
    }

    #[test]
    fn window_is_inclusive_at_both_ends() {
        let mut early = body();
        early.not_before = NOW_S + 1;
        assert_eq!(run(&early, &ReplayMemory::default(), None).unwrap_err(), Code::PatchNotYetValid);
        let mut late = body();
        late.not_after = NOW_S - 1;
        assert_eq!(run(&late, &ReplayMemory::default(), None).unwrap_err(), Code::PatchExpired);
        let mut edge = body();
        edge.not_before = NOW_S;
        edge.not_after = NOW_S;
        assert!(run(&edge, &ReplayMemory::default(), None).is_ok());
    }

    #[test]
    fn agent_binding_is_enforced() {
        let mut bound = body();
        bound.agents = vec!["a2".into()];
        assert_eq!(run(&bound, &ReplayMemory::default(), None).unwrap_err(), Code::PatchWrongAgent);
        bound.agents.push("a1".into());
        assert!(run(&bound, &ReplayMemory::default(), None).is_ok());
    }

    #[test]
    fn replayed_patch_id_is_rejected() {
        let mut replay = ReplayMemory::default();
        let plan = run(&body(), &replay, None).unwrap();
        plan.applied(&mut replay);
        assert_eq!(run(&body(), &replay, None).unwrap_err(), Code::PatchReplayed);
    }

    #[test]
    fn forbidden_mode_bits_and_mode_changes_are_rejected() {
        for mode in [0o755, 0o4644, 0o2644, 0o1644, 0o744, 0o100644] {
            let mut bad = body();
            bad.mode = mode;
            assert_eq!(run(&bad, &ReplayMemory::default(), None).unwrap_err(), Code::PatchModeChange, "{mode:o}");
        }
        assert_eq!(run(&body(), &ReplayMemory::default(), existing(0o600, b"x")).unwrap_err(), Code::PatchModeChange);
        assert_eq!(run(&body(), &ReplayMemory::default(), existing(0o755, b"x")).unwrap_err(), Code::PatchModeChange);
    }

    #[test]
    fn base_hash_must_match_the_current_content() {
        let mut based = body();
        based.base_sha256 = Some(sha256(b"old"));
        assert!(run(&based, &ReplayMemory::default(), existing(0o644, b"old")).is_ok());
        assert_eq!(
            run(&based, &ReplayMemory::default(), existing(0o644, b"other")).unwrap_err(),
            Code::PatchBaseMismatch
        );
        assert_eq!(run(&based, &ReplayMemory::default(), None).unwrap_err(), Code::PatchBaseMismatch);
    }

    #[test]
    fn guards_run_in_the_documented_order() {
        // Every guard fails at once; the earliest in the order answers.
        let mut worst = body();
        worst.target = "../x".into();
        worst.not_before = NOW_S + 10;
        worst.agents = vec!["zz".into()];
        worst.mode = 0o4777;
        worst.base_sha256 = Some([0; 32]);
        assert_eq!(run(&worst, &ReplayMemory::default(), None).unwrap_err(), Code::PatchTargetNotAllowlisted);
        worst.target = "config.yaml".into();
        assert_eq!(run(&worst, &ReplayMemory::default(), None).unwrap_err(), Code::PatchNotYetValid);
        worst.not_before = NOW_S;
        assert_eq!(run(&worst, &ReplayMemory::default(), None).unwrap_err(), Code::PatchWrongAgent);
        worst.agents.clear();
        let mut replay = ReplayMemory::default();
        replay.insert(&worst.patch_id);
        assert_eq!(run(&worst, &replay, None).unwrap_err(), Code::PatchReplayed);
        assert_eq!(run(&worst, &ReplayMemory::default(), None).unwrap_err(), Code::PatchModeChange);
        worst.mode = 0o644;
        assert_eq!(run(&worst, &ReplayMemory::default(), None).unwrap_err(), Code::PatchBaseMismatch);
    }
}
