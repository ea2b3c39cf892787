//! The domain's refusal: a SPEC code (SPEC §7) and a human message. The server's core (the
//! lifecycle, the registry, the links, the peers) answers with a [`Fault`]; only the HTTP front
//! turns it into a status and a body (`http::error::ApiError`), in one place.

use argus_fsm::Code;

use crate::store::StoreError;

/// Why an action was refused or failed. Messages never carry secrets, stack traces or host
/// paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: Code,
    pub message: String,
}

impl Fault {
    /// A fault with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Fault {
        Fault { code, message: message.into() }
    }

    /// The fault for a store failure: `store_unavailable` when trying again may work (an
    /// outage, a lost race, a store behind the audit head), else `internal`. Nothing was
    /// acknowledged either way; the message never carries a URL.
    pub fn store(error: &StoreError) -> Fault {
        if error.is_transient() || matches!(error, StoreError::HeadBehind(_)) {
            Fault::from(Code::StoreUnavailable)
        } else {
            Fault::new(Code::Internal, "the action could not be stored durably")
        }
    }
}

impl From<Code> for Fault {
    fn from(code: Code) -> Fault {
        Fault::new(code, default_message(code))
    }
}

impl From<StoreError> for Fault {
    fn from(error: StoreError) -> Fault {
        Fault::store(&error)
    }
}

/// A short explanation for operators reading `error: CODE: message` at 3 a.m.
pub fn default_message(code: Code) -> &'static str {
    match code {
        Code::RemoteSupportDisabled => "remote support is disabled on this server",
        Code::IpNotAllowlisted => "the caller is not on the operator network",
        Code::BadOpsToken => "the X-Argus-Ops-Token header is missing or wrong",
        Code::InvalidPat => "the PAT is missing, unknown or expired",
        Code::MissingRole => "the PAT does not have the scope this route needs",
        Code::RateLimited => "too many failed attempts from this address; wait a minute",
        Code::TenantConsentRequired => "the tenant has no valid signed consent on record",
        Code::TenantDisarmed => "the tenant is disarmed",
        Code::TenantNotFound => "no such tenant",
        Code::TenantExists => "a tenant with this ID exists",
        Code::ConsentInvalid => "the consent document does not verify for this tenant",
        Code::AgentOffline => "the agent is not connected",
        Code::AgentRevoked => "the agent is revoked",
        Code::AgentNotFound => "no such agent in this tenant",
        Code::AgentExists => "the agent ID is already enrolled or belongs to another tenant",
        Code::EnrollmentTokenInvalid => "the enrollment token is unknown, used or expired",
        Code::AgentAuthFailed => "the agent failed authentication",
        Code::RemoteSupportOff => "remote support is switched off on the agent",
        Code::ReasonRequired => "a reason is required",
        Code::TtlExceedsCap => "the TTL exceeds the 120-minute cap",
        Code::SessionAlreadyActive => "a session is already active on this agent",
        Code::SessionExpired => "the session has ended; activate a new one",
        Code::SessionNotFound => "no session matches this token",
        Code::CommandNotAllowlisted => "the command is not on the allowlist",
        Code::BadArgs => "bad command arguments",
        Code::PathNotAllowlisted => "the path is not on the allowlist",
        Code::FileNotFound => "the file does not exist",
        Code::AgentTimeout => "the agent did not answer in time",
        Code::NotFound => "no such route",
        Code::TooLarge => "the request body is larger than 2 MiB",
        Code::BadRequest => "the request is malformed",
        Code::Internal => "internal error",
        Code::CfAllowlistEmpty => "the browser path is on but no identity is allowlisted",
        Code::CfIdentityMismatch => "the Access identity does not match the PAT owner",
        Code::PatchSignatureInvalid => "the patch signature is invalid",
        Code::PatchTargetNotAllowlisted => "the patch target is not on the allowlist",
        Code::PatchNotYetValid => "the patch is not valid yet",
        Code::PatchExpired => "the patch has expired",
        Code::PatchReplayed => "the patch was applied before",
        Code::PatchModeChange => "the patch would change the file mode",
        Code::PatchBaseMismatch => "the target does not match the patch base",
        Code::PatchWrongAgent => "the patch is bound to other agents",
        Code::PatchTooLarge => "the patch content is larger than 1 MiB",
        Code::CrossSiteRefused => "the request did not come from the console page",
        Code::OpsUnreachable => "the ops API could not be reached",
        Code::StoreUnavailable => "the store cannot be reached; nothing was recorded, try again shortly",
        Code::ApprovalRequired => "the tenant requires approvals for sessions on this agent and none were given",
        Code::ApprovalInvalid => "the approvals do not satisfy the tenant's policy on this agent",
        Code::RequestNotFound => "no such access request",
        Code::RequestNotPending => "the access request has already been decided, used or expired",
        Code::TtlExceedsApproval => "the TTL exceeds what the approvals allow",
    }
}
