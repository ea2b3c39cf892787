//! `/support/tenants/*` and `/support/fleet`: tenant state, consent, arming, enrollment tokens
//! and listings. Ends of sessions a tenant event causes are the lifecycle's business.

use std::sync::Arc;

use argus_fsm::{Code, Timestamp};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::gate::Need;
use crate::http::extract::{Gated, JsonBody, ReasonBody};
use crate::state::Ops;
use crate::store::audit::AuditEntry;
use crate::store::{AgentRecord, Write};
use crate::time_format::{now, rfc3339};
use argus_fsm::enrollment::{token_hash, Enrollment, EnrollmentEvent, DEFAULT_ENROLLMENT_TTL_MS};
use argus_fsm::id::is_valid_id;
use argus_fsm::machine::Machine;
use argus_fsm::signed::{verify_consent, Envelope};
use argus_fsm::tenant::{Tenant, TenantEvent, TenantState};

use crate::secrets;

/// Longest enrollment-token lifetime an operator may ask for.
pub const MAX_ENROLLMENT_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// `GET /support/tenants/{T}` shape.
pub fn tenant_json(tenant: &Tenant, now: Timestamp) -> Value {
    let consent = match &tenant.state {
        TenantState::NoConsent => Value::Null,
        TenantState::Consented { consent, .. } => json!({
            "signer": consent.signer,
            "issued_at": rfc3339(Timestamp::from_unix_seconds(consent.issued_at)),
            "expires_at": consent.expires_at.map(|e| rfc3339(Timestamp::from_unix_seconds(e))),
            "key_id": consent.key_id,
            "recorded_at": rfc3339(consent.recorded_at),
            "valid": tenant.consent_valid(now),
        }),
    };
    json!({ "tenant": tenant.id, "consent": consent, "armed": tenant.armed() })
}

pub(crate) async fn show_tenant(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant)).await?;
    let registry = ops.registry.lock().await;
    let tenant = registry.tenants.get(&tenant).ok_or(Code::TenantNotFound)?;
    Ok(Json(tenant_json(tenant, now())))
}

pub(crate) async fn record_consent(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(envelope): JsonBody<Envelope>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    let now = now();
    let mut registry = ops.registry.lock().await;
    let mut tenant = registry.tenants.get(&tenant_id).cloned().ok_or(Code::TenantNotFound)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&tenant.consent_key).map_err(|_| ApiError::from(Code::Internal))?;
    let verified = verify_consent(&envelope, &key)
        .map_err(|e| ApiError::new(Code::ConsentInvalid, format!("consent refused: {e}")))?;
    let body = verified.body().clone();
    tenant
        .handle(TenantEvent::RecordConsent(verified), now)
        .map_err(|refused| ApiError::new(refused.error.code(), format!("consent refused: {}", refused.error)))?;
    let entry = AuditEntry::new("tenant_consent_recorded", gated.actor())
        .tenant(&tenant_id)
        .details(json!({ "signer": body.signer, "issued_at": body.issued_at, "expires_at": body.expires_at, "key_id": envelope.key_id }));
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Tenant(tenant.clone())], vec![entry], now)?;
    Ok(Json(tenant_json(&tenant, now)))
}

pub(crate) async fn withdraw_consent(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    tenant_transition(
        &ops,
        &gated,
        &tenant_id,
        TenantEvent::WithdrawConsent,
        "tenant_consent_withdrawn",
        &body.reason()?,
    )
    .await
}

pub(crate) async fn arm(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    tenant_transition(&ops, &gated, &tenant_id, TenantEvent::Arm, "tenant_armed", &body.reason()?).await
}

pub(crate) async fn disarm(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant_id)).await?;
    tenant_transition(&ops, &gated, &tenant_id, TenantEvent::Disarm, "tenant_disarmed", &body.reason()?).await
}

/// Runs a tenant event, commits it with its audit record, then ends the sessions it ends.
pub(crate) async fn tenant_transition(
    ops: &Arc<Ops>,
    gated: &Gated,
    tenant_id: &str,
    event: TenantEvent,
    audit_event: &'static str,
    reason: &str,
) -> Result<Json<Value>, ApiError> {
    let now = now();
    let mut registry = ops.registry.lock().await;
    let mut tenant = registry.tenants.get(tenant_id).cloned().ok_or(Code::TenantNotFound)?;
    let effects =
        tenant.handle(event, now).map_err(|refused| ApiError::new(refused.error.code(), refused.error.to_string()))?;
    let entry = AuditEntry::new(audit_event, gated.actor()).tenant(tenant_id).reason(reason);
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Tenant(tenant.clone())], vec![entry], now)?;
    let mut acks = Vec::new();
    for argus_fsm::tenant::TenantEffect::EndSessions(end) in effects {
        acks.extend(crate::lifecycle::end_tenant_sessions(ops, &mut registry, tenant_id, end, now)?);
    }
    drop(registry);
    // Answered once the agents refuse the ended sessions too.
    crate::lifecycle::agent_refuses(acks).await;
    Ok(Json(tenant_json(&tenant, now)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollmentTokenRequest {
    agent_id: String,
    ttl_seconds: Option<i64>,
}

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
    let mut registry = ops.registry.lock().await;
    let tenant = registry.tenants.get(&tenant_id).ok_or(Code::TenantNotFound)?;
    tenant.may_enroll(now).map_err(|e| ApiError::from(e.code()))?;
    let token = secrets::token("ent_");
    let expires_at = now.plus_millis(ttl);
    let event = EnrollmentEvent::IssueToken { tenant: tenant_id.clone(), token_hash: token_hash(&token), expires_at };
    let record = match registry.agents.get(&body.agent_id).cloned() {
        None => AgentRecord {
            agent_id: body.agent_id.clone(),
            enrollment: Enrollment::start(event, now).map_err(|e| ApiError::from(e.code()))?,
            last_seen: None,
            manifest: None,
            remote_support_on: true,
            patches: Default::default(),
        },
        Some(mut record) => {
            record.enrollment.handle(event, now).map_err(|refused| ApiError::from(refused.error.code()))?;
            record
        }
    };
    let entry = AuditEntry::new("enrollment_token_issued", gated.actor())
        .tenant(&tenant_id)
        .agent(&body.agent_id)
        .details(json!({ "expires_at": rfc3339(expires_at) }));
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Agent(record)], vec![entry], now)?;
    let body =
        json!({ "agent_id": body.agent_id, "tenant": tenant_id, "token": token, "expires_at": rfc3339(expires_at) });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// One `agent ls` row.
fn agent_row(ops: &Ops, registry: &crate::state::Registry, agent: &AgentRecord, now: Timestamp) -> Value {
    let session_active = registry.sessions.values().any(|s| s.agent_id == agent.agent_id && s.is_live(now));
    json!({
        "agent_id": agent.agent_id,
        "tenant": agent.enrollment.tenant(),
        "state": agent.enrollment.state_name(),
        "online": ops.is_online(&agent.agent_id),
        "last_seen": agent.last_seen.map(rfc3339),
        "version": agent.manifest.as_ref().map(|m| m.agent_version.clone()),
        "session_active": session_active,
        // The kill switch as the agent last reported it (false: the tenant switched remote
        // support off on that machine).
        "remote_support_on": agent.remote_support_on,
    })
}

pub(crate) async fn list_agents(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant_id)).await?;
    let now = now();
    let registry = ops.registry.lock().await;
    if !registry.tenants.contains_key(&tenant_id) {
        return Err(Code::TenantNotFound.into());
    }
    let mut agents: Vec<&AgentRecord> =
        registry.agents.values().filter(|a| a.enrollment.tenant() == tenant_id).collect();
    agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    let rows: Vec<Value> = agents.into_iter().map(|a| agent_row(&ops, &registry, a, now)).collect();
    Ok(Json(json!({ "agents": rows })))
}

pub(crate) async fn fleet(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let now = now();
    let registry = ops.registry.lock().await;
    let mut tenants: Vec<&Tenant> = registry.tenants.values().filter(|t| gated.0.sees(&t.id)).collect();
    tenants.sort_by(|a, b| a.id.cmp(&b.id));
    let mut totals = [0u64; 6];
    let rows: Vec<Value> = tenants
        .into_iter()
        .map(|tenant| {
            let agents = registry.agents.values().filter(|a| a.enrollment.tenant() == tenant.id);
            let (mut enrolled, mut online, mut revoked) = (0u64, 0u64, 0u64);
            for agent in agents {
                match agent.enrollment {
                    Enrollment::Enrolled { .. } => {
                        enrolled += 1;
                        online += u64::from(ops.is_online(&agent.agent_id));
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
            json!({
                "tenant": tenant.id,
                "armed": tenant.armed(),
                "consent": tenant.consent_valid(now),
                "enrolled": enrolled,
                "online": online,
                "revoked": revoked,
                "active_sessions": active,
            })
        })
        .collect();
    let [tenants, armed, enrolled, online, revoked, active_sessions] = totals;
    Ok(Json(json!({
        "tenants": rows,
        "totals": { "tenants": tenants, "armed": armed, "enrolled": enrolled, "online": online, "revoked": revoked, "active_sessions": active_sessions },
    })))
}
