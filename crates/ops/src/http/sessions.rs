//! Session routes: activation, commands relayed to the agent, status and deactivation. What
//! each decides lives in [`crate::decide`], performed by [`crate::lifecycle`]; these are shells:
//! extract, call, answer.

use std::sync::Arc;

use argus_fsm::session::{EndReason, Presented, Session, SessionEvent, SessionState};
use argus_fsm::Code;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::decide::activate::{Activated, Caller, Request as Activation};
use crate::decide::command::{Ran, Request as CommandRequest};
use crate::decide::end::By;
use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::{Gated, JsonBody, ReasonBody};
use crate::lifecycle::{end_session, expire_session, Ended};
use crate::reach::agent_refuses;
use crate::state::{Ops, Registry};
use crate::time_format::{now, rfc3339};

/// Session routes (activation, commands, status, deactivation).
pub fn routes() -> utoipa_axum::router::OpenApiRouter<Arc<Ops>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(activate))
        .routes(routes!(command))
        .routes(routes!(status))
        .routes(routes!(deactivate))
}

/// `POST /support/agents/{A}/activate` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivateBody {
    /// The agent's tenant.
    tenant: String,
    /// Why, for the audit trail (required, except with `request_id`: the request's reason).
    #[serde(default)]
    reason: String,
    /// Lifetime in seconds (default 60 minutes, at most 120; with `request_id`, the request's
    /// TTL, and no more).
    ttl_seconds: Option<i64>,
    /// An approved access request to open the session under (SPEC §13): its approvals travel
    /// with the grant, and the answer waits for the agent to accept them.
    request_id: Option<String>,
}

/// A new session: the token is shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActivatedSession {
    session_id: String,
    session_token: String,
    agent_id: String,
    tenant: String,
    expires_at: String,
}

/// The `X-Argus-Session` header: the token `activate` answered.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct SessionHeader {
    /// The session token.
    #[param(rename = "X-Argus-Session")]
    session: String,
}

/// Activates a remote-support session on an agent (remote_support scope; the tenant must
/// have consent and be armed, the agent online with its kill switch on).
#[utoipa::path(post, path = "/support/agents/{agent}/activate", tag = "sessions",
    params(crate::http::agents::AgentParam), request_body = ActivateBody,
    responses((status = 201, description = "The session, with its token shown once", body = ActivatedSession)))]
pub(crate) async fn activate(
    State(ops): State<Arc<Ops>>,
    Path(agent_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ActivateBody>,
) -> Result<Response, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let request = Activation {
        tenant: body.tenant,
        agent_id,
        reason: body.reason,
        ttl_seconds: body.ttl_seconds,
        request_id: body.request_id,
    };
    let caller = Caller {
        actor: gated.actor(),
        ip: gated.0.ip.to_string(),
        access_email: gated.0.access_email.clone(),
        sees_tenant: gated.0.sees(&request.tenant),
    };
    let Activated { session, token } = crate::lifecycle::activate(&ops, request, caller).await?;
    let body = ActivatedSession {
        session_id: session.id,
        session_token: token,
        agent_id: session.agent_id,
        tenant: session.tenant,
        expires_at: rfc3339(session.expires_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// What a request presents for a session: its token (hashed), the route's tenant, the PAT's
/// owner. (The owner binding also keeps a tenant-bound PAT inside its tenant: it can only have
/// activated sessions there.)
fn presented(headers: &HeaderMap, tenant: &str, owner: &str) -> Result<Presented, ApiError> {
    let token = headers.get("x-argus-session").and_then(|v| v.to_str().ok()).ok_or(Code::SessionNotFound)?;
    Ok(Presented {
        tenant: tenant.to_string(),
        owner: owner.to_string(),
        token_hash: argus_fsm::signed::sha256(token.trim().as_bytes()),
    })
}

/// Finds the session a request's token names (by its hash: a key lookup, never a scan),
/// bound to this tenant and operator.
fn find_session(
    ops: &Ops,
    registry: &mut Registry,
    headers: &HeaderMap,
    tenant: &str,
    owner: &str,
) -> Result<String, ApiError> {
    let presented = presented(headers, tenant, owner)?;
    registry
        .session_by_token(ops.store.as_ref(), &presented.token_hash)?
        .filter(|id| registry.sessions.get(id).is_some_and(|s| s.is_bound_to(&presented)))
        .ok_or_else(|| ApiError::from(Code::SessionNotFound))
}

/// The session a command's token names, bound to its tenant and operator: a copy read under
/// the shared registry lock. Only a token not in memory (an ended session pruned from it, or
/// no session at all) takes the lock exclusively, to read the store by the token's hash.
async fn bound_session(ops: &Ops, presented: &Presented) -> Result<Session, ApiError> {
    {
        let registry = ops.registry.read().await;
        if let Some(id) = registry.sessions_by_token.get(&presented.token_hash) {
            let session = registry.sessions.get(id).filter(|s| s.is_bound_to(presented));
            return session.cloned().ok_or_else(|| Code::SessionNotFound.into());
        }
    }
    let mut registry = ops.registry.write().await;
    let id = registry.session_by_token(ops.store.as_ref(), &presented.token_hash)?;
    id.and_then(|id| registry.sessions.get(&id))
        .filter(|s| s.is_bound_to(presented))
        .cloned()
        .ok_or_else(|| Code::SessionNotFound.into())
}

/// A session's state.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionStatus {
    session_id: String,
    agent_id: String,
    tenant: String,
    /// `active` or `ended`.
    state: &'static str,
    expires_at: String,
    /// Why it ended (SPEC §5 end reasons), or null while active.
    ended_reason: Option<&'static str>,
}

impl SessionStatus {
    /// The session as of `now`: one past its deadline whose end another node is still writing
    /// is already over (expired).
    fn of(session: &Session, now: argus_fsm::Timestamp) -> SessionStatus {
        let (state, ended_reason) = match session.state {
            SessionState::Active if session.expires_at <= now => ("ended", Some(EndReason::Expired.as_str())),
            SessionState::Active => ("active", None),
            SessionState::Ended { reason, .. } => ("ended", Some(reason.as_str())),
        };
        SessionStatus {
            session_id: session.id.clone(),
            agent_id: session.agent_id.clone(),
            tenant: session.tenant.clone(),
            state,
            expires_at: rfc3339(session.expires_at),
            ended_reason,
        }
    }
}

/// The state of the session the `X-Argus-Session` token names (remote_support scope).
#[utoipa::path(get, path = "/support/tenants/{tenant}/session", tag = "sessions",
    params(crate::http::tenants::TenantParam, SessionHeader),
    responses((status = 200, description = "The session", body = SessionStatus)))]
pub(crate) async fn status(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
    headers: HeaderMap,
) -> Result<Json<SessionStatus>, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let mut id = find_session(&ops, &mut registry, &headers, &tenant, &gated.0.owner)?;
    // A session past its deadline is reported (and recorded) as ended, not as active.
    if registry.sessions[&id].next_deadline().is_some_and(|d| d <= now) {
        expire_session(&ops, &mut registry, &id, now)?;
        // Another node may have recorded the end first: read it back by token.
        id = find_session(&ops, &mut registry, &headers, &tenant, &gated.0.owner)?;
    }
    Ok(Json(SessionStatus::of(&registry.sessions[&id], now)))
}

/// Ends the session; answers once the agent refuses it too (remote_support scope).
#[utoipa::path(post, path = "/support/tenants/{tenant}/session/deactivate", tag = "sessions",
    params(crate::http::tenants::TenantParam, SessionHeader), request_body = ReasonBody,
    responses((status = 200, description = "The session, ended", body = SessionStatus)))]
pub(crate) async fn deactivate(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<SessionStatus>, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let id = find_session(&ops, &mut registry, &headers, &tenant, &gated.0.owner)?;
    let by = By {
        actor: gated.actor(),
        note: Some(body.reason.trim().to_string()).filter(|r| !r.is_empty()),
        access: gated.0.access_email.clone(),
    };
    // Deactivating a session that had already ended, or had lapsed, answers session_expired.
    let ended = end_session(&ops, &mut registry, &id, SessionEvent::Deactivate, by, now)?;
    crate::decide::end::deactivation(ended.as_ref().map(|ended| ended.reason))?;
    drop(registry);
    let Some(Ended { session, ack, .. }) = ended else { return Err(Code::Internal.into()) };
    // Answered only once the agent refuses the session too (SPEC §12).
    agent_refuses(ack).await;
    Ok(Json(SessionStatus::of(&session, now)))
}

/// `POST /support/tenants/{T}/commands` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandBody {
    /// An allowlisted command (SPEC §5).
    command: String,
    /// The command's arguments.
    #[serde(default)]
    args: Value,
}

/// Runs one allowlisted command on the session's agent (remote_support scope).
#[utoipa::path(post, path = "/support/tenants/{tenant}/commands", tag = "sessions",
    params(crate::http::tenants::TenantParam, SessionHeader), request_body = CommandBody,
    responses((status = 200, description = "The agent's result", body = CommandAnswerSchema)))]
pub(crate) async fn command(
    state: State<Arc<Ops>>,
    tenant: Path<String>,
    gated: Gated,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CommandBody>,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let name = body.command.clone();
    let answer = run_command(state, tenant, gated, headers, body).await;
    let outcome = match &answer {
        Ok(_) => "ok",
        Err(error) => error.code.as_str(),
    };
    crate::metrics::command(&name, outcome, started.elapsed().as_secs_f64());
    answer
}

async fn run_command(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
    headers: HeaderMap,
    body: CommandBody,
) -> Result<Response, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let presented = presented(&headers, &tenant, &gated.0.owner)?;
    let session = bound_session(&ops, &presented).await?;
    let request = CommandRequest { tenant, command: body.command, args: body.args };
    let Ran { command, result } =
        crate::lifecycle::run_command(&ops, request, session, presented, gated.actor()).await?;
    // The agent's result is passed through as it came (validated as JSON, not rebuilt): a
    // 1 MiB file is not parsed and re-serialised on the way.
    let raw = serde_json::value::RawValue::from_string(result)
        .map_err(|_| ApiError::new(Code::Internal, "the agent sent a malformed result"))?;
    let body = serde_json::to_vec(&CommandAnswer { command: command.name(), result: &raw })
        .map_err(|_| ApiError::from(Code::Internal))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The `{"command","result"}` answer as the document describes it.
#[derive(ToSchema)]
#[schema(as = CommandAnswer)]
#[allow(dead_code)]
pub(crate) struct CommandAnswerSchema {
    /// The command that ran.
    command: String,
    /// The command's result, as the agent produced it (SPEC §5).
    result: Value,
}

/// The `{"command","result"}` answer, with the agent's result embedded verbatim.
#[derive(serde::Serialize)]
struct CommandAnswer<'a> {
    command: &'a str,
    result: &'a serde_json::value::RawValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_results_pass_through_verbatim_and_malformed_ones_are_refused() {
        let raw = serde_json::value::RawValue::from_string(r#"{"pong":true}"#.to_string()).unwrap();
        let body = serde_json::to_string(&CommandAnswer { command: "ping", result: &raw }).unwrap();
        assert_eq!(body, r#"{"command":"ping","result":{"pong":true}}"#);
        assert!(serde_json::value::RawValue::from_string("{\"a\":".to_string()).is_err());
    }

    #[test]
    fn the_documented_command_answer_has_the_fields_of_the_real_one() {
        use utoipa::PartialSchema as _;
        let raw = serde_json::value::RawValue::from_string("[1]".to_string()).unwrap();
        let real = serde_json::to_value(CommandAnswer { command: "ping", result: &raw }).unwrap();
        let documented = serde_json::to_value(CommandAnswerSchema::schema()).unwrap();
        let mut real: Vec<&String> = real.as_object().unwrap().keys().collect();
        let mut documented: Vec<&String> = documented["properties"].as_object().unwrap().keys().collect();
        real.sort();
        documented.sort();
        assert_eq!(real, documented);
    }
}
