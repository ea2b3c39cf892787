//! Session routes: activation, commands relayed to the agent, status and deactivation. What
//! ending a session means lives in [`crate::lifecycle`].

use std::sync::Arc;

use argus_fsm::activation::{check_activation, ActivationRequest, AgentFacts};
use argus_fsm::command::Command;
use argus_fsm::machine::Machine;
use argus_fsm::patch::{admit, PatchContext, PatchRejection};
use argus_fsm::session::{Caller, EndReason, Presented, Session, SessionEvent, SessionState};

use argus_fsm::Code;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::{Gated, JsonBody, ReasonBody};
use crate::lifecycle::{end_session, expire_session, grant_of, Ended, EndedBy};
use crate::reach::agent_refuses;
use crate::secrets;
use crate::state::{Ops, Registry};
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::Write;
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
    /// Why, for the audit trail (required).
    #[serde(default)]
    reason: String,
    /// Lifetime in seconds (default 60 minutes, at most 120).
    ttl_seconds: Option<i64>,
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
    let request = ActivationRequest {
        reason: body.reason.chars().take(1000).collect(),
        ttl_ms: body.ttl_seconds.map(|s| s.saturating_mul(1000)),
    };
    let now = now();
    let mut registry = ops.registry.write().await;
    if !gated.0.sees(&body.tenant) {
        // A PAT bound to another tenant learns nothing of this one (whether it exists, its
        // consent, its arming): after the request's own checks, the agent is not found.
        let error = check_activation(&request, &body.tenant, None, None, now).err();
        return Err(match error.map(|e| e.code()) {
            Some(code @ (Code::ReasonRequired | Code::TtlExceedsCap | Code::BadRequest)) => code.into(),
            _ => Code::AgentNotFound.into(),
        });
    }
    let record = registry.agents.get(&agent_id).cloned();
    // A lapsed session still on record as active ends (and is recorded) before a new one starts.
    let lapsed: Vec<String> = registry
        .sessions
        .values()
        .filter(|s| s.agent_id == agent_id && s.next_deadline().is_some_and(|d| d <= now))
        .map(|s| s.id.clone())
        .collect();
    for id in lapsed {
        expire_session(&ops, &mut registry, &id, now)?;
    }
    let has_live_session = registry.sessions.values().any(|s| s.agent_id == agent_id && s.is_live(now));
    let facts = record.as_ref().map(|r| AgentFacts {
        enrollment: &r.enrollment,
        online: ops.reach.holder(&agent_id) != crate::reach::Holder::Nobody,
        remote_support_on: r.remote_support_on,
        has_live_session,
    });
    let ttl = check_activation(&request, &body.tenant, registry.tenants.get(&body.tenant), facts.as_ref(), now)
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    let token = secrets::token("rst_");
    let session = Session::start(
        secrets::identifier("ses_"),
        body.tenant.clone(),
        agent_id.clone(),
        gated.actor(),
        argus_fsm::signed::sha256(token.as_bytes()),
        request.reason.trim().to_string(),
        ttl,
        now,
    );
    // One live session per agent cluster-wide: the database decides between nodes.
    match ops.store.claim_live_session(&agent_id, &session.id, session.expires_at, now) {
        Ok(true) => {}
        Ok(false) => return Err(Code::SessionAlreadyActive.into()),
        Err(error) => return Err(crate::http::error::store_error(&error)),
    }
    let entry = AuditEntry::new(AuditEvent::RemoteSupportSessionStarted, gated.actor())
        .tenant(&body.tenant)
        .agent(&agent_id)
        .session(&session.id)
        .reason(request.reason.trim())
        .details(json!({
            "ttl_seconds": ttl / 1000,
            "expires_at": rfc3339(session.expires_at),
            "ip": gated.0.ip.to_string(),
            "access_identity": gated.0.access_email,
        }));
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Session(session.clone())], vec![entry], now)?;
    // The agent learns of the session early on its control stream; the grant also travels
    // with every command, so a command sent the moment this answers is served however the
    // streams are ordered (SPEC §12).
    ops.reach.tell_grant(&agent_id, grant_of(&session));
    let body = ActivatedSession {
        session_id: session.id.clone(),
        session_token: token,
        agent_id,
        tenant: body.tenant,
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
    let by = EndedBy {
        note: Some(body.reason.trim()).filter(|r| !r.is_empty()),
        access_identity: gated.0.access_email.as_deref(),
    };
    // Deactivating a session that had already ended, or had lapsed, answers session_expired.
    let ended = end_session(&ops, &mut registry, &id, SessionEvent::Deactivate, &gated.actor(), by, now)?;
    match ended {
        Some(Ended { reason: EndReason::Deactivated, ack }) => {
            let answer = SessionStatus::of(&registry.sessions[&id], now);
            drop(registry);
            // Answered only once the agent refuses the session too (SPEC §12).
            agent_refuses(ack).await;
            Ok(Json(answer))
        }
        _ => Err(Code::SessionExpired.into()),
    }
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
    let now = now();
    let actor = gated.actor();
    // 1. The session: bound to this token, tenant and operator, and live — decided by the
    // session machine's `Command` transition, the same one the model test and the fuzzer drive.
    let (session_id, agent_id, grant) = {
        let presented = presented(&headers, &tenant, &gated.0.owner)?;
        let mut session = bound_session(&ops, &presented).await?;
        if let Err(refused) = session.handle(SessionEvent::Command(Caller::Presented(presented)), now) {
            // A lapsed session refuses *and* ends: the end it returned is recorded.
            if !refused.effects.is_empty() {
                let mut registry = ops.registry.write().await;
                expire_session(&ops, &mut registry, &session.id, now)?;
            }
            // An operator whose command bounced learns why the session is over.
            return Err(match session.state {
                SessionState::Ended { reason, .. } => {
                    ApiError::new(refused.error.code(), format!("the session has ended ({})", reason.as_str()))
                }
                SessionState::Active => refused.error.code().into(),
            });
        }
        let grant = grant_of(&session);
        (session.id, session.agent_id, grant)
    };
    let audit = |outcome: &str, path: Option<&str>| {
        AuditEntry::new(AuditEvent::RemoteSupportCommand, actor.clone())
            .tenant(&tenant)
            .agent(&agent_id)
            .session(&session_id)
            .details(json!({ "command": body.command.chars().take(64).collect::<String>(), "outcome": outcome, "path": path }))
    };
    // 2. The command: on the allowlist with valid arguments.
    let command = match Command::parse(&body.command, &body.args) {
        Ok(command) => command,
        Err(error) => {
            let path = body.args.get("path").and_then(Value::as_str).map(|p| p.chars().take(200).collect::<String>());
            ops.append_audit(vec![audit(error.code().as_str(), path.as_deref())], now).await?;
            return Err(ApiError::new(error.code(), error.to_string()));
        }
    };
    // 3. Patches: pre-verified here when the server has the key, and never relayed twice.
    if let Command::ApplyPatch { patch } = &command {
        let replay = ops.registry.read().await.agents.get(&agent_id).map(|a| a.patches.clone()).unwrap_or_default();
        let rejection = match &ops.patch_key {
            Some(key) => {
                let context = PatchContext { pinned_key: key, agent_id: &agent_id, now, replay: &replay };
                admit(patch, &context).err()
            }
            None => argus_fsm::signed::Envelope::from_json(&serde_json::to_vec(patch).unwrap_or_default())
                .ok()
                .and_then(|_| patch_id_unverified(patch))
                .filter(|id| replay.contains(id))
                .map(|_| PatchRejection::Replayed),
        };
        if let Some(rejection) = rejection {
            let entries = vec![
                patch_rejected(&actor, &tenant, &agent_id, &session_id, rejection.code()),
                audit(rejection.code().as_str(), None),
            ];
            ops.append_audit(entries, now).await?;
            return Err(ApiError::new(rejection.code(), rejection.to_string()));
        }
    }
    // 4. Relay on a fresh stream, bounded by a timeout; the grant travels with the command.
    let reply = ops.reach.relay(&agent_id, grant, &command).await;
    let now = crate::time_format::now();
    match reply {
        Ok(result_json) => {
            let mut entries = vec![audit("ok", command.audited_path())];
            let mut shown = None;
            if let Command::ApplyPatch { .. } = &command {
                // A patch changes the agent's replay memory: the one command that takes the
                // registry exclusively.
                let mut registry = ops.registry.write().await;
                let mut writes = vec![];
                let mut result: Value = serde_json::from_str(&result_json).unwrap_or(Value::Null);
                let patch_id = result.get("patch_id").and_then(Value::as_str).unwrap_or_default().to_string();
                if let Some(mut record) = registry.agents.get(&agent_id).cloned() {
                    record.patches.insert(&patch_id);
                    writes.push(Write::Agent(record));
                }
                entries.push(
                    AuditEntry::new(AuditEvent::PatchApplied, actor.clone())
                        .tenant(&tenant)
                        .agent(&agent_id)
                        .session(&session_id)
                        .details(json!({ "patch_id": patch_id, "target": result.get("target"), "sha256": result.get("sha256") })),
                );
                if let Value::Object(map) = &mut result {
                    map.remove("target");
                }
                shown = Some(result.to_string());
                registry.commit(ops.store.as_ref(), &ops.durability, writes, entries, now)?;
            } else {
                ops.append_audit(entries, now).await?;
            }
            // The agent's result is passed through as it came (validated as JSON, not rebuilt):
            // a 1 MiB file is not parsed and re-serialised on the way.
            let result = shown.unwrap_or(result_json);
            let raw = serde_json::value::RawValue::from_string(result)
                .map_err(|_| ApiError::new(Code::Internal, "the agent sent a malformed result"))?;
            let body = serde_json::to_vec(&CommandAnswer { command: command.name(), result: &raw })
                .map_err(|_| ApiError::from(Code::Internal))?;
            Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Err(error) => {
            let mut entries = vec![audit(error.code.as_str(), command.audited_path())];
            if matches!(command, Command::ApplyPatch { .. }) && error.code.http_status() == 422 {
                entries.push(patch_rejected(&actor, &tenant, &agent_id, &session_id, error.code));
            }
            ops.append_audit(entries, now).await?;
            if error.code == Code::SessionExpired {
                // The agent says the session is over (its kill switch, or its clock): end ours.
                let mut registry = ops.registry.write().await;
                let event = SessionEvent::End(EndReason::Expired);
                let _ = end_session(&ops, &mut registry, &session_id, event, "system", EndedBy::default(), now);
            }
            Err(error.into())
        }
    }
}

fn patch_rejected(actor: &str, tenant: &str, agent: &str, session: &str, code: Code) -> AuditEntry {
    AuditEntry::new(AuditEvent::PatchRejected, actor).tenant(tenant).agent(agent).session(session).reason(code.as_str())
}

/// The patch ID of an envelope, decoded without trusting it: used only to refuse a replay
/// early when the server has no key; the agent verifies everything again.
fn patch_id_unverified(envelope: &argus_fsm::signed::Envelope) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(&envelope.body).ok()?;
    postcard::take_from_bytes::<argus_fsm::signed::PatchBody>(&bytes).ok().map(|(body, _)| body.patch_id)
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
