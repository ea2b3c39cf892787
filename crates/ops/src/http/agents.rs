//! `/support/agents/*`: capabilities and revocation.

use std::sync::Arc;

use argus_fsm::{Code, Timestamp};
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::decide::records;
use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::{Gated, JsonBody, ReasonBody};
use crate::state::Ops;
use crate::store::Scope;
use crate::time_format::{now, rfc3339};

/// A capability snapshot older than this is stale.
pub const STALE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// An agent's last capability snapshot.
#[derive(Serialize, ToSchema)]
pub(crate) struct Capabilities {
    agent_id: String,
    tenant: String,
    /// The manifest as the agent reported it, or null before its first report.
    manifest: Option<Value>,
    generated_at: Option<String>,
    /// No snapshot, older than 24 h, or the agent is offline.
    stale: bool,
}

/// The `{agent}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct AgentParam {
    /// The agent's ID.
    agent: String,
}

/// What an agent can do, from its last manifest (remote_support or tenant_admin scope).
#[utoipa::path(get, path = "/support/agents/{agent}/capabilities", tag = "agents", params(AgentParam),
    responses((status = 200, description = "The capability snapshot", body = Capabilities)))]
pub(crate) async fn capabilities(
    State(ops): State<Arc<Ops>>,
    Path(agent_id): Path<String>,
    gated: Gated,
) -> Result<Json<Capabilities>, ApiError> {
    // Scope first, from the PAT alone; then a lookup that sees only what this PAT may see, so
    // another tenant's agent answers exactly like a missing one.
    if !(gated.0.may(Need::Support) || gated.0.scopes.contains(&Scope::TenantAdmin)) {
        gated.require(&ops, Need::Support).await?;
    }
    let now = now();
    let registry = ops.registry.read().await;
    let agent = registry
        .agents
        .get(&agent_id)
        .filter(|a| gated.0.may(Need::SupportOrTenantAdmin(a.enrollment.tenant())))
        .ok_or(Code::AgentNotFound)?;
    let online = ops.reach.is_online(&agent_id);
    let stale = is_stale(agent.manifest.as_ref().map(|m| m.generated_at), online, now);
    let (manifest, generated_at) = match &agent.manifest {
        Some(manifest) => (Some(manifest.to_json()), Some(rfc3339(manifest.generated_at))),
        None => (None, None),
    };
    Ok(Json(Capabilities { agent_id, tenant: agent.enrollment.tenant().to_string(), manifest, generated_at, stale }))
}

/// A revoked agent.
#[derive(Serialize, ToSchema)]
pub(crate) struct RevokedAgent {
    agent_id: String,
    tenant: String,
    /// Always `revoked`.
    state: &'static str,
    revoked_at: String,
}

/// Revokes an agent: its link is cut and its sessions end (remote_support scope).
#[utoipa::path(post, path = "/support/agents/{agent}/revoke", tag = "agents", params(AgentParam),
    request_body = ReasonBody, responses((status = 200, description = "The agent, revoked", body = RevokedAgent)))]
pub(crate) async fn revoke(
    State(ops): State<Arc<Ops>>,
    Path(agent_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<RevokedAgent>, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let reason = body.reason()?;
    let tenant_id = body.tenant.clone().ok_or_else(|| ApiError::new(Code::BadRequest, "tenant is required"))?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let record = registry
        .agents
        .get(&agent_id)
        .filter(|a| a.enrollment.tenant() == tenant_id && gated.0.sees(&tenant_id))
        .ok_or(Code::AgentNotFound)?;
    let decision = records::revoke_agent(record, &reason, &gated.actor(), now)?;
    // Staged under the registry lock: a handshake from now on finds the tombstone, and one
    // already registered is cut below. Answered only once the agent has acknowledged its
    // sessions' ends and its link is closed, wherever it is held (SPEC §10).
    let follow = crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?;
    drop(registry);
    follow.settle(&ops).await;
    Ok(Json(RevokedAgent { agent_id, tenant: tenant_id, state: "revoked", revoked_at: rfc3339(now) }))
}

/// A capability snapshot is stale when there is none, when it is older than 24 h, or when the
/// agent is offline (SPEC §5 "Capabilities").
pub fn is_stale(generated_at: Option<Timestamp>, online: bool, now: Timestamp) -> bool {
    generated_at.is_none_or(|at| now.0 - at.0 > STALE_AFTER_MS) || !online
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_go_stale_after_24_hours_or_offline() {
        let now = Timestamp(1_800_000_000_000);
        let day = 24 * 60 * 60 * 1000;
        assert_eq!(STALE_AFTER_MS, day);
        assert!(!is_stale(Some(now), true, now));
        assert!(!is_stale(Some(now.plus_millis(-day)), true, now), "exactly 24 h is not older than 24 h");
        assert!(is_stale(Some(now.plus_millis(-day - 1)), true, now));
        assert!(is_stale(Some(now), false, now), "offline is stale");
        assert!(is_stale(None, true, now), "no snapshot is stale");
    }
}
