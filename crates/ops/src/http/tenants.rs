//! `/support/tenants/*` and `/support/fleet`: tenant state, consent, arming, enrollment tokens
//! and listings. Ends of sessions a tenant event causes are the lifecycle's business.

use std::sync::Arc;

use argus_fsm::{Code, Timestamp};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decide::records;
use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::{Gated, JsonBody, ReasonBody};
use crate::state::Ops;
use crate::store::audit::AuditEvent;
use crate::store::AgentRecord;
use crate::time_format::{now, rfc3339};
use argus_fsm::enrollment::{token_hash, Enrollment, DEFAULT_ENROLLMENT_TTL_MS};
use argus_fsm::id::is_valid_id;
use argus_fsm::signed::{verify_consent, Envelope};
use argus_fsm::tenant::{Tenant, TenantEvent, TenantState};

use crate::secrets;

/// Longest enrollment-token lifetime an operator may ask for.
pub const MAX_ENROLLMENT_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// A tenant as `GET /support/tenants/{T}` shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct TenantView {
    tenant: String,
    /// The consent on record, or null.
    consent: Option<ConsentView>,
    armed: bool,
    /// Whether the server refuses activations without an approved access request (SPEC §13).
    approval_required: bool,
}

/// The consent on record for a tenant.
#[derive(Serialize, ToSchema)]
pub(crate) struct ConsentView {
    signer: String,
    issued_at: String,
    expires_at: Option<String>,
    key_id: String,
    recorded_at: String,
    /// Whether it is in force now.
    valid: bool,
}

impl TenantView {
    pub(crate) fn of(tenant: &Tenant, now: Timestamp) -> TenantView {
        let consent = match &tenant.state {
            TenantState::NoConsent => None,
            TenantState::Consented { consent, .. } => Some(ConsentView {
                signer: consent.signer.clone(),
                issued_at: rfc3339(Timestamp::from_unix_seconds(consent.issued_at)),
                expires_at: consent.expires_at.map(|e| rfc3339(Timestamp::from_unix_seconds(e))),
                key_id: consent.key_id.clone(),
                recorded_at: rfc3339(consent.recorded_at),
                valid: tenant.consent_valid(now),
            }),
        };
        TenantView {
            tenant: tenant.id.clone(),
            consent,
            armed: tenant.armed(),
            approval_required: tenant.approval_required,
        }
    }
}

/// A signed document as it travels (SPEC §5's envelope): a consent as `argus-consent sign`
/// writes it, or a tenant approver's approval (SPEC §13).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignedEnvelope {
    /// Base64 of the signed body.
    body: String,
    /// Base64 of the Ed25519 signature.
    signature: String,
    /// Hex ID of the signing key.
    key_id: String,
}

impl From<SignedEnvelope> for Envelope {
    fn from(envelope: SignedEnvelope) -> Envelope {
        Envelope { body: envelope.body, signature: envelope.signature, key_id: envelope.key_id }
    }
}

/// A tenant's state and consent.
#[utoipa::path(get, path = "/support/tenants/{tenant}", tag = "tenants", params(TenantParam),
    responses((status = 200, description = "The tenant", body = TenantView)))]

pub(crate) async fn show_tenant(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
) -> Result<Json<TenantView>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant)).await?;
    let registry = ops.registry.read().await;
    let tenant = registry.tenants.get(&tenant).ok_or(Code::TenantNotFound)?;
    Ok(Json(TenantView::of(tenant, now())))
}

/// Records a tenant's signed consent (tenant_admin scope).
#[utoipa::path(put, path = "/support/tenants/{tenant}/consent", tag = "tenants", params(TenantParam),
    request_body = SignedEnvelope, responses((status = 200, description = "The tenant", body = TenantView)))]
pub(crate) async fn record_consent(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(envelope): JsonBody<SignedEnvelope>,
) -> Result<Json<TenantView>, ApiError> {
    let envelope = Envelope::from(envelope);
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let tenant = registry.tenants.get(&tenant_id).cloned().ok_or(Code::TenantNotFound)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&tenant.consent_key).map_err(|_| ApiError::from(Code::Internal))?;
    let verified = verify_consent(&envelope, &key)
        .map_err(|e| ApiError::new(Code::ConsentInvalid, format!("consent refused: {e}")))?;
    let (tenant, decision) = records::record_consent(&tenant, verified, &envelope.key_id, &gated.actor(), now)?;
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    Ok(Json(TenantView::of(&tenant, now)))
}

/// Withdraws consent and ends the tenant's sessions (tenant_admin scope).
#[utoipa::path(delete, path = "/support/tenants/{tenant}/consent", tag = "tenants", params(TenantParam),
    request_body = ReasonBody, responses((status = 200, description = "The tenant", body = TenantView)))]
pub(crate) async fn withdraw_consent(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<TenantView>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    tenant_transition(
        &ops,
        &gated,
        &tenant_id,
        TenantEvent::WithdrawConsent,
        AuditEvent::TenantConsentWithdrawn,
        &body.reason()?,
    )
    .await
}

/// Arms the tenant (tenant_admin scope).
#[utoipa::path(post, path = "/support/tenants/{tenant}/arm", tag = "tenants", params(TenantParam),
    request_body = ReasonBody, responses((status = 200, description = "The tenant", body = TenantView)))]
pub(crate) async fn arm(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<TenantView>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    tenant_transition(&ops, &gated, &tenant_id, TenantEvent::Arm, AuditEvent::TenantArmed, &body.reason()?).await
}

/// Disarms the tenant and ends its sessions (remote_support or tenant_admin scope).
#[utoipa::path(post, path = "/support/tenants/{tenant}/disarm", tag = "tenants", params(TenantParam),
    request_body = ReasonBody, responses((status = 200, description = "The tenant", body = TenantView)))]
pub(crate) async fn disarm(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<TenantView>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant_id)).await?;
    tenant_transition(&ops, &gated, &tenant_id, TenantEvent::Disarm, AuditEvent::TenantDisarmed, &body.reason()?).await
}

/// `PUT /support/tenants/{T}/approval` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalFlag {
    /// Whether every activation needs an approved access request.
    required: bool,
}

/// Sets or clears the tenant's flag requiring approved access requests (tenant_admin scope;
/// SPEC §13): with it, the server refuses an activation without one (403 `approval_required`)
/// before anything reaches an agent. The agents' own policies are the guarantee.
#[utoipa::path(put, path = "/support/tenants/{tenant}/approval", tag = "tenants", params(TenantParam),
    request_body = ApprovalFlag, responses((status = 200, description = "The tenant", body = TenantView)))]
pub(crate) async fn set_approval(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ApprovalFlag>,
) -> Result<Json<TenantView>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let tenant = registry.tenants.get(&tenant_id).ok_or(Code::TenantNotFound)?;
    let (tenant, decision) = records::tenant_approval(tenant, body.required, &gated.actor());
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    Ok(Json(TenantView::of(&tenant, now)))
}

/// Runs a tenant event, commits it with its audit record, then ends the sessions it ends.
pub(crate) async fn tenant_transition(
    ops: &Arc<Ops>,
    gated: &Gated,
    tenant_id: &str,
    event: TenantEvent,
    audit_event: AuditEvent,
    reason: &str,
) -> Result<Json<TenantView>, ApiError> {
    let now = now();
    let mut registry = ops.registry.write().await;
    let tenant = registry.tenants.get(tenant_id).ok_or(Code::TenantNotFound)?;
    let (tenant, decision) = records::tenant_transition(tenant, event, audit_event, &gated.actor(), reason, now)?;
    let follow = crate::lifecycle::carry_out(ops, &mut registry, decision, now)?;
    drop(registry);
    // Answered once the agents refuse the ended sessions too.
    follow.settle(ops).await;
    Ok(Json(TenantView::of(&tenant, now)))
}

/// `POST /support/tenants/{T}/enrollment-tokens` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollmentTokenRequest {
    /// The agent the token enrolls: 1-128 characters of `[A-Za-z0-9._-]`.
    agent_id: String,
    /// Lifetime in seconds, 1 to 86400 (default one hour).
    ttl_seconds: Option<i64>,
}

/// A one-time enrollment token: shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct EnrollmentTokenView {
    agent_id: String,
    tenant: String,
    token: String,
    expires_at: String,
}

/// The `{tenant}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct TenantParam {
    /// The tenant's ID.
    tenant: String,
}

/// Issues a one-time enrollment token for an agent (tenant_admin scope).
#[utoipa::path(post, path = "/support/tenants/{tenant}/enrollment-tokens", tag = "tenants", params(TenantParam),
    request_body = EnrollmentTokenRequest,
    responses((status = 201, description = "The token, shown once", body = EnrollmentTokenView)))]

pub(crate) async fn issue_enrollment_token(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<EnrollmentTokenRequest>,
) -> Result<Response, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    if !is_valid_id(&body.agent_id) {
        return Err(ApiError::new(Code::BadRequest, "agent IDs are 1-128 characters of [A-Za-z0-9._-]"));
    }
    let ttl = match body.ttl_seconds {
        None => DEFAULT_ENROLLMENT_TTL_MS,
        Some(s) if s > 0 && s.saturating_mul(1000) <= MAX_ENROLLMENT_TTL_MS => s * 1000,
        Some(_) => return Err(ApiError::new(Code::BadRequest, "ttl_seconds must be between 1 and 86400")),
    };
    let now = now();
    let mut registry = ops.registry.write().await;
    let tenant = registry.tenants.get(&tenant_id).ok_or(Code::TenantNotFound)?;
    let token = secrets::token("ent_");
    let expires_at = now.plus_millis(ttl);
    let wanted = records::TokenFor {
        tenant,
        agent_id: &body.agent_id,
        existing: registry.agents.get(&body.agent_id),
        token_hash: token_hash(&token),
        expires_at,
    };
    let decision = records::issue_enrollment_token(wanted, &gated.actor(), now)?;
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    let body =
        EnrollmentTokenView { agent_id: body.agent_id, tenant: tenant_id, token, expires_at: rfc3339(expires_at) };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// One `agent ls` row.
#[derive(Serialize, ToSchema)]
pub(crate) struct AgentRow {
    agent_id: String,
    tenant: String,
    /// `pending`, `enrolled` or `revoked`.
    state: &'static str,
    online: bool,
    /// The node holding the agent's link, or null (SPEC §10).
    node: Option<String>,
    last_seen: Option<String>,
    version: Option<String>,
    session_active: bool,
    /// The kill switch as the agent last reported it (false: the tenant switched remote
    /// support off on that machine).
    remote_support_on: bool,
}

/// `GET /support/tenants/{T}/agents`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AgentList {
    agents: Vec<AgentRow>,
}

fn agent_row(
    ops: &Ops,
    agent: &AgentRecord,
    live: &std::collections::HashSet<&str>,
    presence: &crate::membership::Presence,
) -> AgentRow {
    let session_active = live.contains(agent.agent_id.as_str());
    // A revoked agent is never listed online: its link is cut before the revocation answers,
    // and a presence row its holder has not released yet names no link.
    let node = if agent.enrollment.is_revoked() {
        None
    } else if ops.reach.is_online(&agent.agent_id) {
        Some(ops.node_id.clone())
    } else {
        presence.get(&agent.agent_id).cloned()
    };
    AgentRow {
        agent_id: agent.agent_id.clone(),
        tenant: agent.enrollment.tenant().to_string(),
        state: agent.enrollment.state_name(),
        online: node.is_some(),
        node,
        last_seen: agent.last_seen.map(rfc3339),
        version: agent.manifest.as_ref().map(|m| m.agent_version.clone()),
        session_active,
        remote_support_on: agent.remote_support_on,
    }
}

/// Which live node holds which agent (shared stores). Without the store, this node's own links
/// still answer (a read served from the node's own view).
async fn presence(ops: &Ops) -> crate::membership::Presence {
    if ops.store.cluster().is_none() {
        return Default::default();
    }
    let store = ops.store.clone();
    tokio::task::spawn_blocking(move || store.cluster().map_or(Ok(Default::default()), |c| c.presence()))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// The tenant's agents (remote_support or tenant_admin scope).
#[utoipa::path(get, path = "/support/tenants/{tenant}/agents", tag = "tenants", params(TenantParam),
    responses((status = 200, description = "The tenant's agents", body = AgentList)))]
pub(crate) async fn list_agents(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
) -> Result<Json<AgentList>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant_id)).await?;
    let now = now();
    let presence = presence(&ops).await;
    let registry = ops.registry.read().await;
    if !registry.tenants.contains_key(&tenant_id) {
        return Err(Code::TenantNotFound.into());
    }
    let mut agents: Vec<&AgentRecord> =
        registry.agents.values().filter(|a| a.enrollment.tenant() == tenant_id).collect();
    agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    // The agents with a live session, once (memory holds only live and just-ended sessions).
    let live: std::collections::HashSet<&str> =
        registry.sessions.values().filter(|s| s.is_live(now)).map(|s| s.agent_id.as_str()).collect();
    let agents = agents.into_iter().map(|a| agent_row(&ops, a, &live, &presence)).collect();
    Ok(Json(AgentList { agents }))
}

/// One tenant's line of `fleet`, and the totals line.
#[derive(Serialize, ToSchema)]
pub(crate) struct FleetRow {
    tenant: String,
    armed: bool,
    /// Whether a valid consent is on record.
    consent: bool,
    enrolled: u64,
    online: u64,
    revoked: u64,
    active_sessions: u64,
}

/// The sums over every tenant shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct FleetTotals {
    tenants: u64,
    armed: u64,
    enrolled: u64,
    online: u64,
    revoked: u64,
    active_sessions: u64,
}

/// `GET /support/fleet`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Fleet {
    tenants: Vec<FleetRow>,
    totals: FleetTotals,
}

/// Every tenant this PAT may see, with agent and session counts (remote_support scope).
#[utoipa::path(get, path = "/support/fleet", tag = "tenants", responses((status = 200, description = "The fleet", body = Fleet)))]
pub(crate) async fn fleet(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<Fleet>, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let now = now();
    let presence = presence(&ops).await;
    let registry = ops.registry.read().await;
    let mut tenants: Vec<&Tenant> = registry.tenants.values().filter(|t| gated.0.sees(&t.id)).collect();
    tenants.sort_by(|a, b| a.id.cmp(&b.id));
    let mut totals = [0u64; 6];
    let rows: Vec<FleetRow> = tenants
        .into_iter()
        .map(|tenant| {
            let agents = registry.agents.values().filter(|a| a.enrollment.tenant() == tenant.id);
            let (mut enrolled, mut online, mut revoked) = (0u64, 0u64, 0u64);
            for agent in agents {
                match agent.enrollment {
                    Enrollment::Enrolled { .. } => {
                        enrolled += 1;
                        online +=
                            u64::from(ops.reach.is_online(&agent.agent_id) || presence.contains_key(&agent.agent_id));
                    }
                    Enrollment::Revoked { .. } => revoked += 1,
                    Enrollment::Pending { .. } => {}
                }
            }
            let active = registry.sessions.values().filter(|s| s.tenant == tenant.id && s.is_live(now)).count() as u64;
            for (total, value) in
                totals.iter_mut().zip([1, u64::from(tenant.armed()), enrolled, online, revoked, active])
            {
                *total += value;
            }
            FleetRow {
                tenant: tenant.id.clone(),
                armed: tenant.armed(),
                consent: tenant.consent_valid(now),
                enrolled,
                online,
                revoked,
                active_sessions: active,
            }
        })
        .collect();
    let [tenants, armed, enrolled, online, revoked, active_sessions] = totals;
    Ok(Json(Fleet {
        tenants: rows,
        totals: FleetTotals { tenants, armed, enrolled, online, revoked, active_sessions },
    }))
}
