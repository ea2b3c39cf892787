//! Access requests (SPEC §13): an operator asks, the tenant's admins approve with their own keys
//! (signed on their machines; uploaded here) or deny; a pending request expires after an hour.
//! The server keeps the approvals to send with the grant; the agent checks them.

use std::sync::Arc;

use argus_fsm::access::{AccessRequest, RequestState};
use argus_fsm::approval::MAX_APPROVAL_TTL_SECONDS;
use argus_fsm::session::DEFAULT_TTL_MS;
use argus_fsm::signed::Envelope;
use argus_fsm::Code;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decide::access as decide;
use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::{Gated, JsonBody, ReasonBody};
use crate::http::tenants::{SignedEnvelope, TenantParam};
use crate::state::Ops;
use crate::time_format::{now, rfc3339};

/// `POST /support/agents/{agent}/access-requests`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestBody {
    /// The agent's tenant.
    tenant: String,
    /// Why, for the approvers and the audit trail (required).
    #[serde(default)]
    reason: String,
    /// The session length asked for, in seconds (default 30 minutes, at most 120).
    ttl_seconds: Option<i64>,
}

/// An access request as operators and approvers see it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccessRequestView {
    request_id: String,
    tenant: String,
    agent_id: String,
    /// The operator who asked (the approvals bind it).
    requester: String,
    reason: String,
    ttl_seconds: u32,
    /// `pending`, `approved`, `denied`, `expired` or `used`.
    state: &'static str,
    created_at: String,
    /// When a pending request expires.
    expires_at: String,
    /// Who approved so far (each approval's `approver`), in upload order.
    approvers: Vec<String>,
}

impl AccessRequestView {
    fn of(request: &AccessRequest) -> AccessRequestView {
        AccessRequestView {
            request_id: request.request_id.clone(),
            tenant: request.tenant.clone(),
            agent_id: request.agent_id.clone(),
            requester: request.requester.clone(),
            reason: request.reason.clone(),
            ttl_seconds: request.ttl_seconds,
            state: request.state.name(),
            created_at: rfc3339(request.created_at),
            expires_at: rfc3339(request.expires_at),
            approvers: request.approvers.clone(),
        }
    }
}

/// `GET /support/tenants/{tenant}/access-requests`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccessRequestList {
    access_requests: Vec<AccessRequestView>,
}

/// `GET /support/tenants/{tenant}/access-requests` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only pending requests.
    #[serde(default)]
    pending: bool,
}

/// The `{request}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct RequestParam {
    /// The request's ID (a UUID).
    request: String,
}

/// Asks a tenant's approvers for a session on one of its agents (remote_support scope). The
/// request expires after an hour unless decided.
#[utoipa::path(post, path = "/support/agents/{agent}/access-requests", tag = "access",
    params(crate::http::agents::AgentParam), request_body = RequestBody,
    responses((status = 201, description = "The request, pending", body = AccessRequestView)))]
pub(crate) async fn request_access(
    State(ops): State<Arc<Ops>>,
    Path(agent_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<RequestBody>,
) -> Result<Response, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let reason = ReasonBody { tenant: None, reason: body.reason }.reason()?;
    let ttl_ms = body.ttl_seconds.map_or(DEFAULT_TTL_MS, |s| s.saturating_mul(1000));
    if ttl_ms <= 0 {
        return Err(ApiError::new(Code::BadRequest, "ttl_seconds must be positive"));
    }
    if ttl_ms > i64::from(MAX_APPROVAL_TTL_SECONDS) * 1000 {
        return Err(Code::TtlExceedsCap.into());
    }
    let now = now();
    let mut registry = ops.registry.write().await;
    registry
        .agents
        .get(&agent_id)
        .filter(|a| a.enrollment.tenant() == body.tenant && gated.0.sees(&body.tenant))
        .ok_or(Code::AgentNotFound)?;
    let request = AccessRequest::new(
        uuid::Uuid::new_v4().to_string(),
        body.tenant,
        agent_id,
        gated.actor(),
        reason,
        (ttl_ms / 1000) as u32,
        now,
    );
    let view = AccessRequestView::of(&request);
    let decision = decide::request(request, &gated.actor());
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A tenant's access requests, newest first (remote_support, or tenant_admin of the tenant).
#[utoipa::path(get, path = "/support/tenants/{tenant}/access-requests", tag = "access",
    params(TenantParam, ListQuery),
    responses((status = 200, description = "The requests, newest first", body = AccessRequestList)))]
pub(crate) async fn list_requests(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccessRequestList>, ApiError> {
    // The rejection would echo what was sent: answer in our own words.
    let Query(query) =
        query.map_err(|_| ApiError::new(Code::BadRequest, "the query takes only pending=true or pending=false"))?;
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant)).await?;
    let registry = ops.registry.read().await;
    if !registry.tenants.contains_key(&tenant) {
        return Err(Code::TenantNotFound.into());
    }
    let mut requests: Vec<&AccessRequest> = registry
        .requests
        .values()
        .filter(|r| r.tenant == tenant && (!query.pending || r.state == RequestState::Pending))
        .collect();
    requests.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.request_id.cmp(&b.request_id)));
    Ok(Json(AccessRequestList { access_requests: requests.into_iter().map(AccessRequestView::of).collect() }))
}

/// One access request (remote_support, or tenant_admin of its tenant; others' answer 404).
#[utoipa::path(get, path = "/support/access-requests/{request}", tag = "access", params(RequestParam),
    responses((status = 200, description = "The request", body = AccessRequestView)))]
pub(crate) async fn show_request(
    State(ops): State<Arc<Ops>>,
    Path(request_id): Path<String>,
    gated: Gated,
) -> Result<Json<AccessRequestView>, ApiError> {
    let request = visible(&*ops.registry.read().await, &request_id, &gated)?.clone();
    // A refusal is audited, which takes the registry: checked with no lock held.
    gated.require(&ops, Need::SupportOrTenantAdmin(&request.tenant)).await?;
    Ok(Json(AccessRequestView::of(&request)))
}

/// Uploads one approval, signed with a tenant approver's key on the approver's machine
/// (tenant_admin of the request's tenant, or admin). Enough distinct keys approve it.
#[utoipa::path(post, path = "/support/access-requests/{request}/approvals", tag = "access",
    params(RequestParam), request_body = SignedEnvelope,
    responses((status = 200, description = "The request as it stands", body = AccessRequestView)))]
pub(crate) async fn approve(
    State(ops): State<Arc<Ops>>,
    Path(request_id): Path<String>,
    gated: Gated,
    JsonBody(envelope): JsonBody<SignedEnvelope>,
) -> Result<Json<AccessRequestView>, ApiError> {
    decider(&ops, &request_id, &gated).await?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let request = visible(&registry, &request_id, &gated)?.clone();
    let threshold = approval_threshold(&registry, &request.agent_id);
    let (request, decision) = decide::approve(&request, Envelope::from(envelope), threshold, &gated.actor(), now)
        .map_err(|fault| match fault.code {
            // SPEC §13: an approval that does not bind this request is a bad upload.
            Code::ApprovalInvalid => ApiError::from(fault).with_status(400),
            _ => ApiError::from(fault),
        })?;
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    Ok(Json(AccessRequestView::of(&request)))
}

/// Denies a pending request (tenant_admin of its tenant, or admin).
#[utoipa::path(post, path = "/support/access-requests/{request}/deny", tag = "access",
    params(RequestParam), request_body = ReasonBody,
    responses((status = 200, description = "The request, denied", body = AccessRequestView)))]
pub(crate) async fn deny(
    State(ops): State<Arc<Ops>>,
    Path(request_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<AccessRequestView>, ApiError> {
    decider(&ops, &request_id, &gated).await?;
    let reason = body.reason()?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let request = visible(&registry, &request_id, &gated)?.clone();
    let (request, decision) = decide::deny(&request, &gated.actor(), &reason, now)?;
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    Ok(Json(AccessRequestView::of(&request)))
}

/// Whether the caller may decide the request: it must see it (else 404), and be its tenant's
/// admin or an admin (else 403, audited — with no lock held, as the audit takes the registry).
async fn decider(ops: &Ops, request_id: &str, gated: &Gated) -> Result<(), ApiError> {
    let tenant = visible(&*ops.registry.read().await, request_id, gated)?.tenant.clone();
    gated.require(ops, Need::TenantAdmin(&tenant)).await
}

/// The request, if it exists and the caller's PAT may see its tenant: else `request_not_found`
/// (another tenant's requests are not told apart from none).
fn visible<'a>(
    registry: &'a crate::state::Registry,
    request_id: &str,
    gated: &Gated,
) -> Result<&'a AccessRequest, ApiError> {
    registry.requests.get(request_id).filter(|r| gated.0.sees(&r.tenant)).ok_or_else(|| Code::RequestNotFound.into())
}

/// How many distinct keys the agent's policy asks for, as its last manifest said (at least one:
/// an agent without a policy needs none, and one approval is what a request is for).
fn approval_threshold(registry: &crate::state::Registry, agent_id: &str) -> usize {
    registry
        .agents
        .get(agent_id)
        .and_then(|a| a.manifest.as_ref())
        .map_or(1, |m| (m.approval_threshold as usize).max(1))
}
