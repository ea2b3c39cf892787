//! Approvals held by the tenant (SPEC §13): the signed approval object, the agent's policy, and
//! the one check a grant must pass on an agent that has a policy.
//!
//! The approval is a signed object like a patch or a consent (verify with `verify_strict` over
//! `DOMAIN || body`, then parse, no trailing bytes). It binds one access request: its ID, the
//! tenant, the agent, the requester, the reason (by its SHA-256), the longest session it allows
//! and the window in which that session may start. The agent counts the distinct listed keys
//! whose approval binds the grant it was sent; a grant passes with at least the threshold.
//! Whether the request was already used by another session is the caller's memory
//! ([`crate::agent_sessions::AgentSessions`] keeps it), not this check's.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::codes::Code;
pub use crate::session::GrantApproval;
use crate::signed::{
    check_body_size, decode_body, decode_exact, encode_body, is_lower_hyphenated_uuid, key_id, sha256, sign_bytes,
    verify_envelope, Envelope, SignedError, BODY_VERSION,
};
use crate::time::Timestamp;
use crate::wire::SessionGrant;

/// Domain separation prefix for approval signatures.
pub const APPROVAL_DOMAIN: &[u8] = b"argus-approval-v1\0";
/// The longest session an approval may allow (the session TTL cap, SPEC §5).
pub const MAX_APPROVAL_TTL_SECONDS: u32 = 7_200;
/// How far the server's clock may be ahead of the agent's when it sets a session's expiry: a
/// grant may end this much after `now + max_ttl` and still pass (the agent then ends the
/// session itself at `now + max_ttl`).
pub const TTL_SKEW_MS: i64 = 30_000;
/// Most approvals one grant may carry: bounds the signatures an agent verifies for one grant.
pub const MAX_APPROVALS: usize = 16;
/// Most keys a policy may list.
pub const MAX_APPROVERS: usize = 16;
/// Longest text field of an approval body (IDs, names): the body stays small.
pub const MAX_FIELD: usize = 256;

/// Body of a signed approval, fields in SPEC order (postcard is order-sensitive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalBody {
    pub version: u8,
    pub request_id: String,
    pub tenant: String,
    pub agent_id: String,
    pub requester: String,
    pub reason_sha256: [u8; 32],
    pub max_ttl_seconds: u32,
    /// Unix seconds: the window in which the session may start.
    pub not_before: i64,
    pub not_after: i64,
    pub approver: String,
}

/// An approval whose signature was verified under a listed key. Only [`verify_approval`] makes
/// one, so holding it is the proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedApproval {
    body: ApprovalBody,
    key_id: String,
}

impl VerifiedApproval {
    pub fn body(&self) -> &ApprovalBody {
        &self.body
    }
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// Signs an approval body (on the approver's machine: the key is an argument, never sent).
pub fn sign_approval(key: &SigningKey, body: &ApprovalBody) -> Envelope {
    sign_bytes(key, APPROVAL_DOMAIN, &encode_body(body))
}

/// Verifies an approval envelope under `key`, then decodes it and checks its own shape: version
/// 1, a lower-case hyphenated UUID, a TTL of 1 s to 2 h, a window that is not empty, and no
/// field longer than [`MAX_FIELD`].
pub fn verify_approval(envelope: &Envelope, key: &VerifyingKey) -> Result<VerifiedApproval, SignedError> {
    check_body_size(envelope, MAX_APPROVAL_BODY)?;
    let bytes = verify_envelope(envelope, key, APPROVAL_DOMAIN)?;
    let body = well_formed(&bytes)?;
    Ok(VerifiedApproval { body, key_id: envelope.key_id.clone() })
}

/// The most an approval's body may hold (its fields are bounded far below this).
pub const MAX_APPROVAL_BODY: usize = 3 * 1024;

/// An approval's body decoded and checked for form (not for what it approves): one encoding,
/// this version, a request ID that is a UUID, bounded fields, a TTL within the cap and a
/// window that is not reversed.
fn well_formed(bytes: &[u8]) -> Result<ApprovalBody, SignedError> {
    let body: ApprovalBody = decode_exact(bytes)?;
    if body.version != BODY_VERSION {
        return Err(SignedError::UnsupportedVersion);
    }
    if !is_lower_hyphenated_uuid(&body.request_id) {
        return Err(SignedError::BadRequestId);
    }
    let too_long = [&body.tenant, &body.agent_id, &body.requester, &body.approver].iter().any(|f| f.len() > MAX_FIELD);
    if too_long
        || body.max_ttl_seconds == 0
        || body.max_ttl_seconds > MAX_APPROVAL_TTL_SECONDS
        || body.not_before > body.not_after
    {
        return Err(SignedError::MalformedBody);
    }
    Ok(body)
}

/// An approval's body as it claims to be, *not verified*: for the server, which relays
/// approvals but does not hold the tenant's keys, to catch an approval for the wrong request
/// early (bounded and checked for form like a verified one; the agent's [`check`] is the
/// guarantee).
pub fn decode_unverified(envelope: &Envelope) -> Result<ApprovalBody, SignedError> {
    well_formed(&decode_body(envelope, MAX_APPROVAL_BODY)?)
}

/// The agent's policy: the tenant's approver keys and how many distinct ones must approve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApproverPolicy {
    keys: Vec<VerifyingKey>,
    threshold: usize,
}

/// Why a policy cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a policy lists at least one approver key and at most {MAX_APPROVERS}")]
    KeyCount,
    #[error("the same approver key is listed twice")]
    DuplicateKey,
    #[error("the threshold must be between 1 and the number of keys ({0})")]
    Threshold(usize),
}

impl ApproverPolicy {
    pub fn new(keys: Vec<VerifyingKey>, threshold: usize) -> Result<ApproverPolicy, PolicyError> {
        if keys.is_empty() || keys.len() > MAX_APPROVERS {
            return Err(PolicyError::KeyCount);
        }
        if keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k)) {
            return Err(PolicyError::DuplicateKey);
        }
        if threshold == 0 || threshold > keys.len() {
            return Err(PolicyError::Threshold(keys.len()));
        }
        Ok(ApproverPolicy { keys, threshold })
    }

    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(key_id).collect()
    }

    pub fn threshold(&self) -> usize {
        self.threshold
    }
}

/// Why a grant's approvals were not enough. [`ApprovalError::code`] is what the operator sees;
/// the variant is for the agent's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("this agent requires approvals and the grant carries none")]
    Required,
    #[error("the grant carries more than {MAX_APPROVALS} approvals")]
    TooMany,
    #[error("the grant's request ID is not a lower-case hyphenated UUID")]
    BadRequestId,
    #[error("{valid} of the {needed} distinct approvals needed bind this grant ({why})")]
    NotEnough { valid: usize, needed: usize, why: &'static str },
    #[error("this request already opened another session")]
    Reused,
}

impl ApprovalError {
    pub fn code(&self) -> Code {
        match self {
            ApprovalError::Required => Code::ApprovalRequired,
            _ => Code::ApprovalInvalid,
        }
    }
}

/// A grant that passed: the request it used and the bounds its approvals set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approved {
    pub request_id: String,
    /// The latest the session may run until: its start plus the smallest approved TTL.
    pub ends_by: Timestamp,
    /// Until when the request's use must be remembered: the end of its window, or of the
    /// session if that is later.
    pub remember_until: Timestamp,
    /// The keys whose approvals counted.
    pub key_ids: Vec<String>,
}

/// Checks the approvals `grant` carries against `policy`, for agent `agent_id` of `tenant`, for
/// a session that starts at `started` (now, for a grant not seen before).
///
/// An approval counts when its envelope names a listed key and verifies under it, and its body
/// binds this grant: the same request ID, tenant, agent and requester (the grant's owner), the
/// hash of the reason the grant carries, a start inside `[not_before, not_after]` and an
/// expiry no later than the start plus `max_ttl_seconds` (and [`TTL_SKEW_MS`]). Each key counts
/// once; the grant passes with `threshold` of them.
pub fn check(
    policy: &ApproverPolicy,
    agent_id: &str,
    tenant: &str,
    grant: &SessionGrant,
    started: Timestamp,
) -> Result<Approved, ApprovalError> {
    let Some(carried) = grant.approval.as_ref().filter(|a| !a.approvals.is_empty()) else {
        return Err(ApprovalError::Required);
    };
    if carried.approvals.len() > MAX_APPROVALS {
        return Err(ApprovalError::TooMany);
    }
    if !is_lower_hyphenated_uuid(&carried.request_id) {
        return Err(ApprovalError::BadRequestId);
    }
    let reason_sha256 = sha256(carried.reason.as_bytes());
    let mut counted: Vec<(String, i64, i64)> = Vec::new();
    let mut why = "no approval by a listed key";
    for envelope in &carried.approvals {
        let Some(key) = policy.keys.iter().find(|k| key_id(k) == envelope.key_id) else { continue };
        if counted.iter().any(|(id, ..)| id == &envelope.key_id) {
            why = "one key approved twice";
            continue;
        }
        let verified = match verify_approval(envelope, key) {
            Ok(verified) => verified,
            Err(_) => {
                why = "an approval does not verify under its key";
                continue;
            }
        };
        let body = verified.body();
        let bound = body.request_id == carried.request_id
            && body.tenant == tenant
            && grant.tenant == tenant
            && body.agent_id == agent_id
            && body.requester == grant.owner
            && body.reason_sha256 == reason_sha256;
        if !bound {
            why = "an approval is for another request, tenant, agent, requester or reason";
            continue;
        }
        if started.0 < body.not_before.saturating_mul(1000) || started.0 > body.not_after.saturating_mul(1000) {
            why = "the session starts outside an approval's window";
            continue;
        }
        let max_ttl_ms = i64::from(body.max_ttl_seconds) * 1000;
        if grant.expires_at.0 > started.0.saturating_add(max_ttl_ms).saturating_add(TTL_SKEW_MS) {
            why = "the session is longer than an approval allows";
            continue;
        }
        counted.push((verified.key_id().to_string(), max_ttl_ms, body.not_after.saturating_mul(1000)));
    }
    if counted.len() < policy.threshold {
        return Err(ApprovalError::NotEnough { valid: counted.len(), needed: policy.threshold, why });
    }
    let max_ttl_ms = counted.iter().map(|(_, ttl, _)| *ttl).min().expect("threshold ≥ 1");
    let window_ends = counted.iter().map(|(_, _, end)| *end).max().expect("threshold ≥ 1");
    let ends_by = Timestamp(started.0.saturating_add(max_ttl_ms));
    Ok(Approved {
        request_id: carried.request_id.clone(),
        ends_by,
        remember_until: Timestamp(window_ends.max(ends_by.0)),
        key_ids: counted.into_iter().map(|(id, ..)| id).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const REQUEST: &str = "7d4f1c2a-9b3e-4f6a-8c1d-2e3f4a5b6c7d";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn body(approver: &str) -> ApprovalBody {
        ApprovalBody {
            version: 1,
            request_id: REQUEST.into(),
            tenant: "T1".into(),
            agent_id: "a1".into(),
            requester: "op@example.com".into(),
            reason_sha256: sha256(b"INC-1 logs"),
            max_ttl_seconds: 3_600,
            not_before: NOW.0 / 1000 - 60,
            not_after: NOW.0 / 1000 + 3_600,
            approver: approver.into(),
        }
    }

    fn grant(approvals: Vec<Envelope>, ttl_ms: i64) -> SessionGrant {
        SessionGrant {
            session_id: "ses_1".into(),
            tenant: "T1".into(),
            owner: "op@example.com".into(),
            expires_at: NOW.plus_millis(ttl_ms),
            approval: Some(Box::new(GrantApproval {
                request_id: REQUEST.into(),
                reason: "INC-1 logs".into(),
                approvals,
            })),
        }
    }

    fn policy(seeds: &[u8], threshold: usize) -> ApproverPolicy {
        ApproverPolicy::new(seeds.iter().map(|s| key(*s).verifying_key()).collect(), threshold).unwrap()
    }

    fn run(policy: &ApproverPolicy, grant: &SessionGrant) -> Result<Approved, ApprovalError> {
        check(policy, "a1", "T1", grant, NOW)
    }

    #[test]
    fn an_approval_by_a_listed_key_binding_the_grant_passes_and_bounds_the_session() {
        let approved = run(&policy(&[1], 1), &grant(vec![sign_approval(&key(1), &body("alice"))], 1_800_000)).unwrap();
        assert_eq!(approved.request_id, REQUEST);
        assert_eq!(approved.ends_by, NOW.plus_millis(3_600_000));
        assert_eq!(approved.remember_until, NOW.plus_millis(3_600_000), "the window's end and the session's agree");
        assert_eq!(approved.key_ids, vec![key_id(&key(1).verifying_key())]);
    }

    #[test]
    fn no_approval_is_required_and_every_other_failure_is_invalid() {
        let policy = policy(&[1], 1);
        let mut bare = grant(vec![], 60_000);
        assert_eq!(run(&policy, &bare), Err(ApprovalError::Required));
        bare.approval = None;
        assert_eq!(run(&policy, &bare), Err(ApprovalError::Required));
        assert_eq!(ApprovalError::Required.code(), Code::ApprovalRequired);
        let unlisted = grant(vec![sign_approval(&key(2), &body("mallory"))], 60_000);
        let refused = run(&policy, &unlisted).unwrap_err();
        assert!(matches!(refused, ApprovalError::NotEnough { valid: 0, needed: 1, .. }), "{refused}");
        assert_eq!(refused.code(), Code::ApprovalInvalid);
    }

    /// Each field of the body that binds the grant, changed alone, makes the approval count
    /// for nothing.
    #[test]
    fn an_approval_for_anything_else_does_not_count() {
        let policy = policy(&[1], 1);
        type Change = Box<dyn Fn(&mut ApprovalBody)>;
        let changes: Vec<(&str, Change)> = vec![
            ("request", Box::new(|b| b.request_id = "00000000-0000-4000-8000-000000000000".into())),
            ("tenant", Box::new(|b| b.tenant = "T2".into())),
            ("agent", Box::new(|b| b.agent_id = "a2".into())),
            ("requester", Box::new(|b| b.requester = "eve@example.com".into())),
            ("reason", Box::new(|b| b.reason_sha256 = sha256(b"something else"))),
            ("not yet", Box::new(|b| b.not_before = NOW.0 / 1000 + 1)),
            ("too late", Box::new(|b| b.not_after = NOW.0 / 1000 - 1)),
            ("ttl", Box::new(|b| b.max_ttl_seconds = 60)),
        ];
        for (what, change) in changes {
            let mut body = body("alice");
            change(&mut body);
            let refused = run(&policy, &grant(vec![sign_approval(&key(1), &body)], 1_800_000));
            assert!(matches!(refused, Err(ApprovalError::NotEnough { valid: 0, .. })), "{what}: {refused:?}");
        }
        // The window's edges are inside it.
        let mut edge = body("alice");
        edge.not_before = NOW.0 / 1000;
        edge.not_after = NOW.0 / 1000;
        assert!(run(&policy, &grant(vec![sign_approval(&key(1), &edge)], 60_000)).is_ok());
    }

    #[test]
    fn a_grant_longer_than_approved_is_refused_beyond_the_clock_allowance() {
        let policy = policy(&[1], 1);
        let approvals = vec![sign_approval(&key(1), &body("alice"))];
        assert!(run(&policy, &grant(approvals.clone(), 3_600_000 + TTL_SKEW_MS)).is_ok());
        assert!(run(&policy, &grant(approvals, 3_600_000 + TTL_SKEW_MS + 1)).is_err());
    }

    #[test]
    fn a_threshold_counts_distinct_listed_keys() {
        let policy = policy(&[1, 2, 3], 2);
        let one = vec![sign_approval(&key(1), &body("alice"))];
        assert!(matches!(
            run(&policy, &grant(one.clone(), 60_000)),
            Err(ApprovalError::NotEnough { valid: 1, needed: 2, .. })
        ));
        // The same key twice is one approver.
        let twice = vec![sign_approval(&key(1), &body("alice")), sign_approval(&key(1), &body("alice again"))];
        assert!(matches!(run(&policy, &grant(twice, 60_000)), Err(ApprovalError::NotEnough { valid: 1, .. })));
        // An unlisted key does not make up the number.
        let with_stranger = vec![sign_approval(&key(1), &body("alice")), sign_approval(&key(9), &body("mallory"))];
        assert!(run(&policy, &grant(with_stranger, 60_000)).is_err());
        let two = vec![sign_approval(&key(1), &body("alice")), sign_approval(&key(3), &body("carol"))];
        let approved = run(&policy, &grant(two, 60_000)).unwrap();
        assert_eq!(approved.key_ids.len(), 2);
    }

    #[test]
    fn the_shortest_approved_ttl_bounds_the_session() {
        let policy = policy(&[1, 2], 2);
        let mut short = body("bob");
        short.max_ttl_seconds = 600;
        let approvals = vec![sign_approval(&key(1), &body("alice")), sign_approval(&key(2), &short)];
        let approved = run(&policy, &grant(approvals, 600_000)).unwrap();
        assert_eq!(approved.ends_by, NOW.plus_millis(600_000));
    }

    #[test]
    fn a_forged_or_tampered_approval_does_not_count() {
        let policy = policy(&[1], 1);
        // Signed by another key but naming the listed one.
        let mut forged = sign_approval(&key(2), &body("mallory"));
        forged.key_id = key_id(&key(1).verifying_key());
        assert!(run(&policy, &grant(vec![forged], 60_000)).is_err());
        // A body changed after signing.
        let mut tampered = sign_approval(&key(1), &body("alice"));
        let mut other = body("alice");
        other.agent_id = "a2".into();
        tampered.body = sign_approval(&key(1), &other).body;
        assert!(run(&policy, &grant(vec![tampered], 60_000)).is_err());
        // A patch or consent signature presented as an approval.
        let patch = crate::signed::sign_patch(
            &key(1),
            &crate::signed::PatchBody {
                version: 1,
                patch_id: REQUEST.into(),
                target: "config.yaml".into(),
                content: vec![],
                mode: 0o644,
                base_sha256: None,
                not_before: 0,
                not_after: i64::MAX,
                agents: vec![],
            },
        );
        assert_eq!(verify_approval(&patch, &key(1).verifying_key()), Err(SignedError::BadSignature));
    }

    #[test]
    fn malformed_bodies_are_refused_after_the_signature_holds() {
        let listed = key(1).verifying_key();
        let cases: Vec<(ApprovalBody, SignedError)> = vec![
            (ApprovalBody { version: 2, ..body("a") }, SignedError::UnsupportedVersion),
            (ApprovalBody { request_id: "NOT-A-UUID".into(), ..body("a") }, SignedError::BadRequestId),
            (ApprovalBody { max_ttl_seconds: 0, ..body("a") }, SignedError::MalformedBody),
            (ApprovalBody { max_ttl_seconds: 7_201, ..body("a") }, SignedError::MalformedBody),
            (ApprovalBody { not_before: 10, not_after: 9, ..body("a") }, SignedError::MalformedBody),
            (ApprovalBody { approver: "x".repeat(MAX_FIELD + 1), ..body("a") }, SignedError::MalformedBody),
        ];
        for (body, expected) in cases {
            assert_eq!(verify_approval(&sign_approval(&key(1), &body), &listed), Err(expected));
        }
        // Trailing bytes after the struct, signed.
        let mut bytes = encode_body(&body("a"));
        bytes.push(0);
        let envelope = sign_bytes(&key(1), APPROVAL_DOMAIN, &bytes);
        assert_eq!(verify_approval(&envelope, &listed), Err(SignedError::TrailingBytes));
    }

    #[test]
    fn the_server_reads_what_an_approval_claims_without_the_key_and_bounded() {
        let envelope = sign_approval(&key(1), &body("alice"));
        assert_eq!(decode_unverified(&envelope), Ok(body("alice")));
        let garbage = Envelope { body: "!!".into(), ..envelope.clone() };
        assert_eq!(decode_unverified(&garbage), Err(SignedError::MalformedEnvelope));
        let huge = Envelope { body: "A".repeat(8 * 1024), ..envelope.clone() };
        assert_eq!(decode_unverified(&huge), Err(SignedError::BodyTooLarge));
        let bad_id = sign_approval(&key(1), &ApprovalBody { request_id: "x".into(), ..body("a") });
        assert_eq!(decode_unverified(&bad_id), Err(SignedError::BadRequestId));
    }

    #[test]
    fn too_many_approvals_are_refused_before_any_is_verified() {
        let approvals = vec![sign_approval(&key(1), &body("alice")); MAX_APPROVALS + 1];
        assert_eq!(run(&policy(&[1], 1), &grant(approvals, 60_000)), Err(ApprovalError::TooMany));
    }

    #[test]
    fn a_policy_needs_keys_a_reachable_threshold_and_no_key_twice() {
        let k = |s: u8| key(s).verifying_key();
        assert_eq!(ApproverPolicy::new(vec![], 1), Err(PolicyError::KeyCount));
        assert_eq!(ApproverPolicy::new(vec![k(1), k(1)], 1), Err(PolicyError::DuplicateKey));
        assert_eq!(ApproverPolicy::new(vec![k(1)], 0), Err(PolicyError::Threshold(1)));
        assert_eq!(ApproverPolicy::new(vec![k(1), k(2)], 3), Err(PolicyError::Threshold(2)));
        assert_eq!(ApproverPolicy::new(vec![k(1), k(2)], 2).unwrap().threshold(), 2);
    }
}
