//! The operator HTTPS API (SPEC §3.2, §4, §7): routes, the gate extractor, and handlers.
//!
//! Every `/support/*` and `/admin/*` handler takes a [`Gated`] first, so the gate runs before
//! the body is even read: an unauthenticated caller learns nothing from a malformed body.

use std::net::IpAddr;
use std::sync::Arc;

use argus_fsm::enrollment::{token_hash, Enrollment, EnrollmentEvent, DEFAULT_ENROLLMENT_TTL_MS};
use argus_fsm::id::is_valid_id;
use argus_fsm::machine::Machine;
use argus_fsm::signed::{parse_key_file, verify_consent, Envelope};
use argus_fsm::tenant::{Tenant, TenantEvent, TenantState};
use argus_fsm::{Code, Timestamp};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::AuditEntry;
use crate::error::ApiError;
use crate::gate::{self, Denial, Need, Operator, RequestFacts};
use crate::secrets;
use crate::state::Ops;
use crate::store::{AgentRecord, PatRecord, Scope, Write};
use crate::time_format::{now, parse_rfc3339, rfc3339};

/// Largest request body (SPEC §7).
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// A capability snapshot older than this is stale.
pub const STALE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest enrollment-token lifetime an operator may ask for.
pub const MAX_ENROLLMENT_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// The whole API.
pub fn router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/admin/tenants", post(create_tenant))
        .route("/admin/pats", post(create_pat).get(list_pats))
        .route("/admin/pats/{id}", axum::routing::delete(revoke_pat))
        .route("/support/fleet", get(fleet))
        .route("/support/audit", get(audit_list))
        .route("/support/tenants/{tenant}", get(show_tenant))
        .route("/support/tenants/{tenant}/agents", get(list_agents))
        .route("/support/tenants/{tenant}/consent", put(record_consent).delete(withdraw_consent))
        .route("/support/tenants/{tenant}/arm", post(arm))
        .route("/support/tenants/{tenant}/disarm", post(disarm))
        .route("/support/tenants/{tenant}/enrollment-tokens", post(issue_enrollment_token))
        .route("/support/agents/{agent}/capabilities", get(capabilities))
        .route("/support/agents/{agent}/revoke", post(revoke))
        .merge(crate::sessions::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(ops.clone(), durable_responses))
        .with_state(ops)
}

/// Acknowledges nothing before it is durable: a response waits until every write its request
/// staged (state and audit records) has been flushed. Concurrent requests share flushes.
async fn durable_responses(State(ops): State<Arc<Ops>>, request: Request, next: axum::middleware::Next) -> Response {
    let (response, generation) = crate::state::STAGED_BY_REQUEST
        .scope(std::cell::Cell::new(0), async {
            let response = next.run(request).await;
            (response, crate::state::STAGED_BY_REQUEST.with(std::cell::Cell::get))
        })
        .await;
    if generation > 0 {
        if let Err(error) = ops.durability.wait(generation).await {
            tracing::error!(%error, "flush failed; answering internal");
            return ApiError::new(Code::Internal, "the action could not be stored durably").into_response();
        }
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::from(Code::NotFound)
}

async fn healthz(State(ops): State<Arc<Ops>>) -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "browser_path": ops.access.is_some() }))
}

/// An operator who passed factors 1–3 and presented a valid PAT. Scope is checked per route
/// with [`Gated::require`], which audits a refusal like any other gate failure.
pub struct Gated(pub Operator);

impl FromRequestParts<Arc<Ops>> for Gated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ops: &Arc<Ops>) -> Result<Gated, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<crate::https::PeerAddr>>()
            .map(|ConnectInfo(peer)| peer.0.ip())
            .ok_or_else(|| ApiError::new(Code::Internal, "no peer address"))?;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded_for = gate::join_forwarded_for(&parts.headers);
        let facts = RequestFacts {
            support_route: parts.uri.path().starts_with("/support/"),
            peer,
            forwarded_for: forwarded_for.as_deref(),
            ops_token: header("x-argus-ops-token"),
            authorization: header("authorization"),
            access: None,
        };
        let now = now();
        // The rate limiter keys on the same caller the gate decides about.
        let (Ok(ip) | Err(ip)) = gate::caller_ip(&ops.config, peer, facts.forwarded_for);
        let limited = ops.limiter.lock().expect("limiter lock").limited(ip, now);
        if let Some(first) = limited {
            if first {
                audit_denial(ops, Denial::RateLimited, ip, parts.uri.path(), now).await;
            }
            return Err(Denial::RateLimited.code().into());
        }
        // The browser path: verify the assertion (async: keys may need fetching) before the
        // pure gate decides. Only when the switch is on and the header is present.
        let mut facts = facts;
        if let (Some(verifier), Some(token)) = (&ops.access, header("cf-access-jwt-assertion")) {
            facts.access = Some(verifier.verify(token).await);
        }
        let mut registry = ops.registry.lock().await;
        let mut used = None;
        let outcome = gate::check(
            &ops.config,
            &facts,
            |hash| {
                used = Some(*hash);
                registry.pats.get(hash).cloned()
            },
            now,
        );
        if let (Ok(_), Some(hash)) = (&outcome, used) {
            registry.touch_pat(ops.store.as_ref(), &hash, now);
        }
        drop(registry);
        match outcome {
            Ok(operator) => Ok(Gated(operator)),
            Err((denial, ip)) => {
                ops.limiter.lock().expect("limiter lock").failed(ip, now);
                audit_denial(ops, denial, ip, parts.uri.path(), now).await;
                if let Some(Err(reason)) = &facts.access {
                    tracing::info!(%ip, %reason, "Access assertion not accepted");
                }
                Err(denial.code().into())
            }
        }
    }
}

impl Gated {
    /// Checks the route's scope (factor 4b); a refusal is audited as `gate_denied`.
    pub async fn require(&self, ops: &Ops, need: Need<'_>) -> Result<(), ApiError> {
        if self.0.may(need) {
            return Ok(());
        }
        let now = now();
        let entry = AuditEntry::new("gate_denied", self.0.owner.clone()).details(
            json!({ "factor": Denial::MissingRole.factor(), "ip": self.0.ip.to_string(), "need": format!("{need:?}") }),
        );
        let mut registry = ops.registry.lock().await;
        registry.commit(ops.store.as_ref(), &ops.durability, vec![], vec![entry], now)?;
        Err(Code::MissingRole.into())
    }

    /// The operator's identity for audit records.
    pub fn actor(&self) -> String {
        self.0.owner.clone()
    }
}

async fn audit_denial(ops: &Ops, denial: Denial, ip: IpAddr, path: &str, now: Timestamp) {
    let entry = AuditEntry::system("gate_denied").details(json!({
        "factor": denial.factor(),
        "code": denial.code().as_str(),
        "ip": ip.to_string(),
        "path": path.chars().take(200).collect::<String>(),
    }));
    let mut registry = ops.registry.lock().await;
    // A denial that cannot be audited is still denied.
    let _ = registry.commit(ops.store.as_ref(), &ops.durability, vec![], vec![entry], now);
}

/// A JSON body read with the SPEC's limits: over 2 MiB → 413 `too_large`, malformed → 400
/// `bad_request`. An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<JsonBody<T>, ApiError> {
        let bytes = read_bounded(request.into_body()).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(Code::BadRequest, format!("malformed JSON body: {}", short(&e.to_string()))))
    }
}

/// How much of an oversized body is read and discarded before answering `too_large`: the
/// client gets the answer instead of a reset while it is still sending. Beyond this the
/// connection is simply closed.
pub const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// Reads a body of at most [`MAX_BODY`] bytes.
async fn read_bounded(body: Body) -> Result<Vec<u8>, ApiError> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::new(Code::BadRequest, "the request body could not be read"))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len();
        if seen <= MAX_BODY {
            bytes.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_BODY {
        return Err(Code::TooLarge.into());
    }
    Ok(bytes)
}

fn short(text: &str) -> String {
    text.chars().take(160).collect()
}

/// `{"tenant"?, "reason"}`: the body of revoke, arm, disarm, deactivate, withdraw.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub tenant: Option<String>,
    #[serde(default)]
    pub reason: String,
}

impl ReasonBody {
    /// The reason, required non-blank.
    pub fn reason(&self) -> Result<String, ApiError> {
        let reason = self.reason.trim();
        if reason.is_empty() {
            return Err(Code::ReasonRequired.into());
        }
        Ok(reason.chars().take(1000).collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    tenant: String,
    consent_key: String,
}

async fn create_tenant(
    State(ops): State<Arc<Ops>>,
    gated: Gated,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    if !is_valid_id(&body.tenant) {
        return Err(ApiError::new(Code::BadRequest, "tenant IDs are 1-128 characters of [A-Za-z0-9._-]"));
    }
    let key = parse_key_file(body.consent_key.trim())
        .ok()
        .filter(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| ApiError::new(Code::BadRequest, "consent_key must be a 32-byte Ed25519 public key in hex"))?;
    let now = now();
    let mut registry = ops.registry.lock().await;
    if registry.tenants.contains_key(&body.tenant) {
        return Err(Code::TenantExists.into());
    }
    let tenant = Tenant::new(body.tenant.clone(), key);
    let key_id = argus_fsm::signed::key_id(&ed25519_dalek::VerifyingKey::from_bytes(&key).expect("checked above"));
    let entry = AuditEntry::new("tenant_created", gated.actor())
        .tenant(&body.tenant)
        .details(json!({ "consent_key_id": key_id }));
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Tenant(tenant.clone())], vec![entry], now)?;
    Ok((StatusCode::CREATED, Json(tenant_json(&tenant, now))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePat {
    owner: String,
    scopes: Vec<String>,
    tenant: Option<String>,
    ttl_seconds: Option<i64>,
}

/// Longest PAT lifetime an admin may ask for (a year and a day); without a TTL a PAT lives
/// until it is revoked.
pub const MAX_PAT_TTL_SECONDS: i64 = 366 * 24 * 60 * 60;

async fn create_pat(
    State(ops): State<Arc<Ops>>,
    gated: Gated,
    JsonBody(body): JsonBody<CreatePat>,
) -> Result<Response, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    let owner = body.owner.trim().to_string();
    if owner.is_empty() || owner.len() > 254 || owner.chars().any(char::is_control) {
        return Err(ApiError::new(Code::BadRequest, "owner must be a non-empty identity such as an email"));
    }
    let scopes: Option<Vec<Scope>> = body.scopes.iter().map(|s| Scope::parse(s)).collect();
    let scopes = scopes.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(Code::BadRequest, "scopes must be a non-empty list of admin, remote_support, tenant_admin")
    })?;
    let ttl_ms = match body.ttl_seconds {
        None => None,
        Some(seconds) if (1..=MAX_PAT_TTL_SECONDS).contains(&seconds) => Some(seconds * 1000),
        Some(_) => {
            return Err(ApiError::new(
                Code::BadRequest,
                format!("ttl_seconds must be between 1 and {MAX_PAT_TTL_SECONDS}"),
            ))
        }
    };
    let now = now();
    let mut registry = ops.registry.lock().await;
    match (&body.tenant, scopes.contains(&Scope::TenantAdmin)) {
        (None, true) => return Err(ApiError::new(Code::BadRequest, "a tenant_admin PAT must name its tenant")),
        (Some(tenant), _) if !registry.tenants.contains_key(tenant) => return Err(Code::TenantNotFound.into()),
        _ => {}
    }
    let pat = secrets::token("argus_pat_");
    let record = PatRecord {
        hash: argus_fsm::signed::sha256(pat.as_bytes()),
        owner: owner.clone(),
        scopes: scopes.clone(),
        tenant: body.tenant.clone(),
        created_at: now,
        expires_at: ttl_ms.map(|ttl| now.plus_millis(ttl)),
        revoked_at: None,
        last_used_at: None,
    };
    let id = record.id();
    let expires_at = record.expires_at.map(rfc3339);
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let mut entry = AuditEntry::new("pat_created", gated.actor())
        .details(json!({ "id": id, "owner": owner, "scopes": scope_names, "expires_at": expires_at }));
    entry.tenant = body.tenant.clone();
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Pat(record)], vec![entry], now)?;
    let body = json!({
        "id": id,
        "pat": pat,
        "owner": owner,
        "scopes": scope_names,
        "tenant": body.tenant,
        "expires_at": expires_at,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// One `pat ls` row: everything but the secret (which the server never had in clear anyway).
fn pat_json(pat: &PatRecord) -> Value {
    json!({
        "id": pat.id(),
        "owner": pat.owner,
        "scopes": pat.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "tenant": pat.tenant,
        "created_at": rfc3339(pat.created_at),
        "expires_at": pat.expires_at.map(rfc3339),
        "last_used_at": pat.last_used_at.map(rfc3339),
        "revoked": pat.revoked_at.is_some(),
    })
}

async fn list_pats(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    let registry = ops.registry.lock().await;
    let mut pats: Vec<&PatRecord> = registry.pats.values().collect();
    pats.sort_by_key(|pat| (pat.created_at, pat.id()));
    Ok(Json(json!({ "pats": pats.into_iter().map(pat_json).collect::<Vec<_>>() })))
}

async fn revoke_pat(
    State(ops): State<Arc<Ops>>,
    Path(id): Path<String>,
    gated: Gated,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    let now = now();
    let mut registry = ops.registry.lock().await;
    let mut record = registry
        .pats
        .values()
        .find(|pat| pat.id() == id)
        .cloned()
        .ok_or_else(|| ApiError::new(Code::NotFound, "no PAT has this ID"))?;
    // Revoking twice changes nothing and records nothing new.
    if record.revoked_at.is_none() {
        record.revoked_at = Some(now);
        let mut entry = AuditEntry::new("pat_revoked", gated.actor())
            .details(json!({ "id": id, "owner": record.owner, "ip": gated.0.ip.to_string() }));
        entry.tenant = record.tenant.clone();
        registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Pat(record.clone())], vec![entry], now)?;
    }
    Ok(Json(pat_json(&record)))
}

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

async fn show_tenant(
    State(ops): State<Arc<Ops>>,
    Path(tenant): Path<String>,
    gated: Gated,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant)).await?;
    let registry = ops.registry.lock().await;
    let tenant = registry.tenants.get(&tenant).ok_or(Code::TenantNotFound)?;
    Ok(Json(tenant_json(tenant, now())))
}

async fn record_consent(
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

async fn withdraw_consent(
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

async fn arm(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::TenantAdmin(&tenant_id)).await?;
    tenant_transition(&ops, &gated, &tenant_id, TenantEvent::Arm, "tenant_armed", &body.reason()?).await
}

async fn disarm(
    State(ops): State<Arc<Ops>>,
    Path(tenant_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::SupportOrTenantAdmin(&tenant_id)).await?;
    tenant_transition(&ops, &gated, &tenant_id, TenantEvent::Disarm, "tenant_disarmed", &body.reason()?).await
}

/// Runs a tenant event, commits it with its audit record, then ends the sessions it ends.
async fn tenant_transition(
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
        acks.extend(crate::sessions::end_tenant_sessions(ops, &mut registry, tenant_id, end, now)?);
    }
    drop(registry);
    // Answered once the agents refuse the ended sessions too.
    crate::sessions::agent_refuses(acks).await;
    Ok(Json(tenant_json(&tenant, now)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollmentTokenRequest {
    agent_id: String,
    ttl_seconds: Option<i64>,
}

async fn issue_enrollment_token(
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
    })
}

async fn list_agents(
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

async fn fleet(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<Value>, ApiError> {
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

async fn capabilities(
    State(ops): State<Arc<Ops>>,
    Path(agent_id): Path<String>,
    gated: Gated,
) -> Result<Json<Value>, ApiError> {
    // Scope first, from the PAT alone; then a lookup that sees only what this PAT may see, so
    // another tenant's agent answers exactly like a missing one.
    if !(gated.0.may(Need::Support) || gated.0.scopes.contains(&Scope::TenantAdmin)) {
        gated.require(&ops, Need::Support).await?;
    }
    let now = now();
    let registry = ops.registry.lock().await;
    let agent = registry
        .agents
        .get(&agent_id)
        .filter(|a| gated.0.may(Need::SupportOrTenantAdmin(a.enrollment.tenant())))
        .ok_or(Code::AgentNotFound)?;
    let online = ops.is_online(&agent_id);
    let stale = is_stale(agent.manifest.as_ref().map(|m| m.generated_at), online, now);
    let (manifest, generated_at) = match &agent.manifest {
        Some(manifest) => (manifest.to_json(), Some(rfc3339(manifest.generated_at))),
        None => (Value::Null, None),
    };
    Ok(Json(json!({
        "agent_id": agent_id,
        "tenant": agent.enrollment.tenant(),
        "manifest": manifest,
        "generated_at": generated_at,
        "stale": stale,
    })))
}

async fn revoke(
    State(ops): State<Arc<Ops>>,
    Path(agent_id): Path<String>,
    gated: Gated,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::Support).await?;
    let reason = body.reason()?;
    let tenant_id = body.tenant.clone().ok_or_else(|| ApiError::new(Code::BadRequest, "tenant is required"))?;
    let now = now();
    let mut registry = ops.registry.lock().await;
    let mut record = registry
        .agents
        .get(&agent_id)
        .filter(|a| a.enrollment.tenant() == tenant_id && gated.0.sees(&tenant_id))
        .cloned()
        .ok_or(Code::AgentNotFound)?;
    record
        .enrollment
        .handle(EnrollmentEvent::Revoke { reason: reason.clone() }, now)
        .map_err(|refused| ApiError::from(refused.error.code()))?;
    let entry = AuditEntry::new("agent_revoked", gated.actor()).tenant(&tenant_id).agent(&agent_id).reason(&reason);
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Agent(record)], vec![entry], now)?;
    // Durable first, then cut the link: the revocation watcher is this call, under the
    // registry lock, so a handshake in flight either sees the tombstone or is closed here.
    ops.disconnect(&agent_id, "agent revoked");
    crate::sessions::end_agent_sessions(
        &ops,
        &mut registry,
        &agent_id,
        argus_fsm::session::EndReason::AgentRevoked,
        now,
    )?;
    Ok(Json(json!({ "agent_id": agent_id, "tenant": tenant_id, "state": "revoked", "revoked_at": rfc3339(now) })))
}

/// A capability snapshot is stale when there is none, when it is older than 24 h, or when the
/// agent is offline (SPEC §5 "Capabilities").
pub fn is_stale(generated_at: Option<Timestamp>, online: bool, now: Timestamp) -> bool {
    generated_at.is_none_or(|at| now.0 - at.0 > STALE_AFTER_MS) || !online
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    tenant: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

/// Default and largest `audit ls` page.
pub const AUDIT_DEFAULT_LIMIT: usize = 100;
pub const AUDIT_MAX_LIMIT: usize = 10_000;

async fn audit_list(
    State(ops): State<Arc<Ops>>,
    gated: Gated,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(Code::BadRequest, short(&e.body_text())))?;
    // A PAT bound to a tenant sees only its own tenant's events.
    let tenant = match (&query.tenant, &gated.0.tenant) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(own)) => Some(own.clone()),
        (None, None) => None,
    };
    match &tenant {
        Some(t) => gated.require(&ops, Need::SupportOrTenantAdmin(t)).await?,
        None => gated.require(&ops, Need::Support).await?,
    }
    let since = match &query.since {
        Some(text) => {
            Some(parse_rfc3339(text).ok_or_else(|| ApiError::new(Code::BadRequest, "since must be RFC 3339"))?)
        }
        None => None,
    };
    let limit = query.limit.unwrap_or(AUDIT_DEFAULT_LIMIT).clamp(1, AUDIT_MAX_LIMIT);
    let store = ops.store.clone();
    let events = tokio::task::spawn_blocking(move || {
        let mut events = Vec::new();
        for record in store.audit_newest_first() {
            let record = record.map_err(|_| ApiError::from(Code::Internal))?;
            if since.is_some_and(|since| parse_rfc3339(&record.at).is_some_and(|at| at < since)) {
                break;
            }
            if tenant.as_ref().is_some_and(|t| record.tenant.as_ref() != Some(t)) {
                continue;
            }
            events.push(record);
            if events.len() == limit {
                break;
            }
        }
        events.reverse();
        Ok::<_, ApiError>(events)
    })
    .await
    .map_err(|_| ApiError::from(Code::Internal))??;
    Ok(Json(json!({ "events": events })))
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

    #[test]
    fn blank_reason_is_required() {
        let body = ReasonBody { tenant: None, reason: "  ".into() };
        assert_eq!(body.reason().unwrap_err().code, Code::ReasonRequired);
    }
}
