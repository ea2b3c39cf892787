//! The one table that maps every refusal to the SPEC's wire code and HTTP status.
//!
//! Handlers never spell an error code as a string literal: typed errors convert into a
//! [`Code`], and only this module knows how a code is written and which status carries it.

use serde::{Deserialize, Serialize};

/// Every error code the product can answer with (SPEC §4, §5, §7, plus the few the SPEC leaves
/// to the project, recorded in `docs/decisions/error-codes.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    // Gate (SPEC §4).
    RemoteSupportDisabled,
    IpNotAllowlisted,
    BadOpsToken,
    InvalidPat,
    MissingRole,
    RateLimited,
    CfAllowlistEmpty,
    CfIdentityMismatch,
    // Tenant, enrollment and session rules (SPEC §5).
    TenantConsentRequired,
    TenantDisarmed,
    TenantNotFound,
    TenantExists,
    ConsentInvalid,
    AgentOffline,
    AgentRevoked,
    AgentNotFound,
    AgentExists,
    EnrollmentTokenInvalid,
    AgentAuthFailed,
    RemoteSupportOff,
    ReasonRequired,
    TtlExceedsCap,
    SessionAlreadyActive,
    SessionExpired,
    SessionNotFound,
    // Commands.
    CommandNotAllowlisted,
    BadArgs,
    PathNotAllowlisted,
    FileNotFound,
    // Signed patches.
    PatchSignatureInvalid,
    PatchTargetNotAllowlisted,
    PatchNotYetValid,
    PatchExpired,
    PatchReplayed,
    PatchModeChange,
    PatchBaseMismatch,
    PatchWrongAgent,
    PatchTooLarge,
    // Transport and HTTP (SPEC §7).
    AgentTimeout,
    NotFound,
    TooLarge,
    BadRequest,
    Internal,
    // The console's proxy (SPEC §3.3).
    /// A console action without the same-origin proof (Origin check plus custom header).
    CrossSiteRefused,
    /// The console could not reach the ops API.
    OpsUnreachable,
    /// The shared store cannot be reached; nothing was recorded (SPEC §10).
    StoreUnavailable,
    // Approvals held by the tenant (SPEC §13); last, so earlier codes keep their wire index.
    /// The agent (or the tenant's flag) requires approvals and the session carried none.
    ApprovalRequired,
    /// The session's approvals do not satisfy the agent's policy (or do not bind the request).
    ApprovalInvalid,
    RequestNotFound,
    RequestNotPending,
    TtlExceedsApproval,
}

impl Code {
    /// Every code, for tables and exhaustive tests.
    pub const ALL: &'static [Code] = &[
        Code::RemoteSupportDisabled,
        Code::IpNotAllowlisted,
        Code::BadOpsToken,
        Code::InvalidPat,
        Code::MissingRole,
        Code::RateLimited,
        Code::CfAllowlistEmpty,
        Code::CfIdentityMismatch,
        Code::TenantConsentRequired,
        Code::TenantDisarmed,
        Code::TenantNotFound,
        Code::TenantExists,
        Code::ConsentInvalid,
        Code::AgentOffline,
        Code::AgentRevoked,
        Code::AgentNotFound,
        Code::AgentExists,
        Code::EnrollmentTokenInvalid,
        Code::AgentAuthFailed,
        Code::RemoteSupportOff,
        Code::ReasonRequired,
        Code::TtlExceedsCap,
        Code::SessionAlreadyActive,
        Code::SessionExpired,
        Code::SessionNotFound,
        Code::CommandNotAllowlisted,
        Code::BadArgs,
        Code::PathNotAllowlisted,
        Code::FileNotFound,
        Code::PatchSignatureInvalid,
        Code::PatchTargetNotAllowlisted,
        Code::PatchNotYetValid,
        Code::PatchExpired,
        Code::PatchReplayed,
        Code::PatchModeChange,
        Code::PatchBaseMismatch,
        Code::PatchWrongAgent,
        Code::PatchTooLarge,
        Code::AgentTimeout,
        Code::NotFound,
        Code::TooLarge,
        Code::BadRequest,
        Code::Internal,
        Code::CrossSiteRefused,
        Code::OpsUnreachable,
        Code::StoreUnavailable,
        Code::ApprovalRequired,
        Code::ApprovalInvalid,
        Code::RequestNotFound,
        Code::RequestNotPending,
        Code::TtlExceedsApproval,
    ];

    /// The code as it is written on the wire (`{"error": CODE}`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::RemoteSupportDisabled => "remote_support_disabled",
            Code::IpNotAllowlisted => "ip_not_allowlisted",
            Code::BadOpsToken => "bad_ops_token",
            Code::InvalidPat => "invalid_pat",
            Code::MissingRole => "missing_role",
            Code::RateLimited => "rate_limited",
            Code::CfAllowlistEmpty => "cf_allowlist_empty",
            Code::CfIdentityMismatch => "cf_identity_mismatch",
            Code::TenantConsentRequired => "tenant_consent_required",
            Code::TenantDisarmed => "tenant_disarmed",
            Code::TenantNotFound => "tenant_not_found",
            Code::TenantExists => "tenant_exists",
            Code::ConsentInvalid => "consent_invalid",
            Code::AgentOffline => "agent_offline",
            Code::AgentRevoked => "agent_revoked",
            Code::AgentNotFound => "agent_not_found",
            Code::AgentExists => "agent_exists",
            Code::EnrollmentTokenInvalid => "enrollment_token_invalid",
            Code::AgentAuthFailed => "agent_auth_failed",
            Code::RemoteSupportOff => "remote_support_off",
            Code::ReasonRequired => "reason_required",
            Code::TtlExceedsCap => "ttl_exceeds_cap",
            Code::SessionAlreadyActive => "session_already_active",
            Code::SessionExpired => "session_expired",
            Code::SessionNotFound => "session_not_found",
            Code::CommandNotAllowlisted => "command_not_allowlisted",
            Code::BadArgs => "bad_args",
            Code::PathNotAllowlisted => "path_not_allowlisted",
            Code::FileNotFound => "file_not_found",
            Code::PatchSignatureInvalid => "patch_signature_invalid",
            Code::PatchTargetNotAllowlisted => "patch_target_not_allowlisted",
            Code::PatchNotYetValid => "patch_not_yet_valid",
            Code::PatchExpired => "patch_expired",
            Code::PatchReplayed => "patch_replayed",
            Code::PatchModeChange => "patch_mode_change",
            Code::PatchBaseMismatch => "patch_base_mismatch",
            Code::PatchWrongAgent => "patch_wrong_agent",
            Code::PatchTooLarge => "patch_too_large",
            Code::AgentTimeout => "agent_timeout",
            Code::NotFound => "not_found",
            Code::TooLarge => "too_large",
            Code::BadRequest => "bad_request",
            Code::Internal => "internal",
            Code::CrossSiteRefused => "cross_site_refused",
            Code::OpsUnreachable => "ops_unreachable",
            Code::StoreUnavailable => "store_unavailable",
            Code::ApprovalRequired => "approval_required",
            Code::ApprovalInvalid => "approval_invalid",
            Code::RequestNotFound => "request_not_found",
            Code::RequestNotPending => "request_not_pending",
            Code::TtlExceedsApproval => "ttl_exceeds_approval",
        }
    }

    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::BadRequest
            | Code::ReasonRequired
            | Code::TtlExceedsCap
            | Code::CommandNotAllowlisted
            | Code::BadArgs
            | Code::ConsentInvalid
            | Code::TtlExceedsApproval => 400,
            Code::InvalidPat => 401,
            Code::RemoteSupportDisabled
            | Code::IpNotAllowlisted
            | Code::BadOpsToken
            | Code::MissingRole
            | Code::CfIdentityMismatch
            | Code::TenantConsentRequired
            | Code::PathNotAllowlisted
            | Code::EnrollmentTokenInvalid
            | Code::AgentAuthFailed
            | Code::CrossSiteRefused
            | Code::ApprovalRequired
            | Code::ApprovalInvalid => 403,
            Code::NotFound
            | Code::TenantNotFound
            | Code::AgentNotFound
            | Code::SessionNotFound
            | Code::FileNotFound
            | Code::RequestNotFound => 404,
            Code::TenantDisarmed
            | Code::TenantExists
            | Code::AgentOffline
            | Code::AgentRevoked
            | Code::AgentExists
            | Code::RemoteSupportOff
            | Code::SessionAlreadyActive
            | Code::RequestNotPending => 409,
            Code::SessionExpired => 410,
            Code::TooLarge => 413,
            Code::PatchSignatureInvalid
            | Code::PatchTargetNotAllowlisted
            | Code::PatchNotYetValid
            | Code::PatchExpired
            | Code::PatchReplayed
            | Code::PatchModeChange
            | Code::PatchBaseMismatch
            | Code::PatchWrongAgent
            | Code::PatchTooLarge => 422,
            Code::RateLimited => 429,
            Code::Internal => 500,
            Code::OpsUnreachable => 502,
            Code::CfAllowlistEmpty | Code::StoreUnavailable => 503,
            Code::AgentTimeout => 504,
        }
    }

    /// Parses a wire code back (used by clients and by relayed agent refusals).
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|code| code.as_str() == text)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_spelling() {
        for &code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn spec_statuses_are_pinned() {
        let pinned = [
            ("remote_support_disabled", 403),
            ("ip_not_allowlisted", 403),
            ("bad_ops_token", 403),
            ("invalid_pat", 401),
            ("missing_role", 403),
            ("rate_limited", 429),
            ("tenant_consent_required", 403),
            ("tenant_disarmed", 409),
            ("tenant_not_found", 404),
            ("agent_offline", 409),
            ("agent_revoked", 409),
            ("agent_not_found", 404),
            ("remote_support_off", 409),
            ("reason_required", 400),
            ("ttl_exceeds_cap", 400),
            ("session_already_active", 409),
            ("session_expired", 410),
            ("session_not_found", 404),
            ("command_not_allowlisted", 400),
            ("bad_args", 400),
            ("path_not_allowlisted", 403),
            ("patch_signature_invalid", 422),
            ("patch_target_not_allowlisted", 422),
            ("patch_not_yet_valid", 422),
            ("patch_expired", 422),
            ("patch_replayed", 422),
            ("patch_mode_change", 422),
            ("patch_base_mismatch", 422),
            ("patch_wrong_agent", 422),
            ("patch_too_large", 422),
            ("agent_timeout", 504),
            ("not_found", 404),
            ("too_large", 413),
            ("bad_request", 400),
            ("cf_allowlist_empty", 503),
            ("cf_identity_mismatch", 403),
            ("store_unavailable", 503),
            ("approval_required", 403),
            ("approval_invalid", 403),
            ("request_not_found", 404),
            ("request_not_pending", 409),
            ("ttl_exceeds_approval", 400),
        ];
        for (name, status) in pinned {
            let code = Code::parse(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(code.http_status(), status, "{name}");
        }
    }

    #[test]
    fn the_wire_index_of_older_codes_never_moves() {
        // postcard encodes a code by its position: a relayed refusal from an older agent must
        // decode to the same code, so new codes are appended.
        let index = |code: Code| postcard::to_allocvec(&code).unwrap();
        assert_eq!(index(Code::RemoteSupportDisabled), vec![0]);
        assert_eq!(index(Code::StoreUnavailable), vec![45]);
        assert_eq!(index(Code::ApprovalRequired), vec![46]);
        assert_eq!(index(Code::TtlExceedsApproval), vec![50]);
    }

    #[test]
    fn all_lists_every_code_once() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            assert!(seen.insert(code), "{code} listed twice");
        }
        assert_eq!(seen.len(), Code::ALL.len());
    }
}
