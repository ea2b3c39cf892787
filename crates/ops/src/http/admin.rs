//! `/admin/*`: tenants and personal access tokens (admin scope).

use std::sync::Arc;

use argus_fsm::Code;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decide::records;
use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::{Gated, JsonBody};
use crate::state::Ops;
use crate::store::{PatRecord, Scope};
use crate::time_format::{now, rfc3339};
use argus_fsm::id::is_valid_id;
use argus_fsm::signed::parse_key_file;
use argus_fsm::tenant::Tenant;

use crate::http::tenants::TenantView;
use crate::secrets;

/// `POST /admin/tenants` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    /// 1-128 characters of `[A-Za-z0-9._-]`.
    tenant: String,
    /// The tenant's Ed25519 consent public key, 64 hex digits.
    consent_key: String,
}

/// Creates a tenant with its consent key (admin scope).
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = CreateTenant,
    responses((status = 201, description = "The tenant, created", body = TenantView)))]
pub(crate) async fn create_tenant(
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
    let mut registry = ops.registry.write().await;
    if registry.tenants.contains_key(&body.tenant) {
        return Err(Code::TenantExists.into());
    }
    let tenant = Tenant::new(body.tenant.clone(), key);
    let key_id = argus_fsm::signed::key_id(&ed25519_dalek::VerifyingKey::from_bytes(&key).expect("checked above"));
    let decision = records::create_tenant(tenant.clone(), &key_id, &gated.actor());
    crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    Ok((StatusCode::CREATED, Json(TenantView::of(&tenant, now))).into_response())
}

/// `POST /admin/pats` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePat {
    /// Who the PAT is for, such as an email address.
    owner: String,
    /// Any of `admin`, `remote_support`, `tenant_admin`.
    scopes: Vec<String>,
    /// The tenant a PAT is bound to (required with `tenant_admin`).
    tenant: Option<String>,
    /// Lifetime in seconds; without it the PAT lives until revoked.
    ttl_seconds: Option<i64>,
}

/// A new PAT: the secret is shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedPat {
    id: String,
    pat: String,
    owner: String,
    scopes: Vec<&'static str>,
    tenant: Option<String>,
    expires_at: Option<String>,
}

/// Longest PAT lifetime an admin may ask for (a year and a day); without a TTL a PAT lives
/// until it is revoked.
pub const MAX_PAT_TTL_SECONDS: i64 = 366 * 24 * 60 * 60;

/// Creates a personal access token (admin scope).
#[utoipa::path(post, path = "/admin/pats", tag = "admin", request_body = CreatePat,
    responses((status = 201, description = "The PAT, shown once", body = CreatedPat)))]
pub(crate) async fn create_pat(
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
    let mut registry = ops.registry.write().await;
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
    crate::lifecycle::carry_out(&ops, &mut registry, records::create_pat(record, &gated.actor()), now)?
        .without_waiting(&ops);
    let body = CreatedPat { id, pat, owner, scopes: scope_names, tenant: body.tenant, expires_at };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// One `pat ls` row: everything but the secret (which the server never had in clear anyway).
#[derive(Serialize, ToSchema)]
pub(crate) struct PatView {
    id: String,
    owner: String,
    scopes: Vec<&'static str>,
    tenant: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked: bool,
}

impl PatView {
    fn of(pat: &PatRecord) -> PatView {
        PatView {
            id: pat.id(),
            owner: pat.owner.clone(),
            scopes: pat.scopes.iter().map(|s| s.as_str()).collect(),
            tenant: pat.tenant.clone(),
            created_at: rfc3339(pat.created_at),
            expires_at: pat.expires_at.map(rfc3339),
            last_used_at: pat.last_used_at.map(rfc3339),
            revoked: pat.revoked_at.is_some(),
        }
    }
}

/// `GET /admin/pats`.
#[derive(Serialize, ToSchema)]
pub(crate) struct PatList {
    pats: Vec<PatView>,
}

/// Lists every PAT, never a secret (admin scope).
#[utoipa::path(get, path = "/admin/pats", tag = "admin", responses((status = 200, description = "Every PAT", body = PatList)))]
pub(crate) async fn list_pats(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<PatList>, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    let registry = ops.registry.read().await;
    let mut pats: Vec<&PatRecord> = registry.pats.values().collect();
    pats.sort_by_key(|pat| (pat.created_at, pat.id()));
    Ok(Json(PatList { pats: pats.into_iter().map(PatView::of).collect() }))
}

/// Revokes a PAT; it answers `invalid_pat` from the next request on (admin scope).
#[utoipa::path(delete, path = "/admin/pats/{id}", tag = "admin",
    params(("id" = String, Path, description = "The PAT's ID as `pat ls` shows it")),
    responses((status = 200, description = "The PAT, revoked", body = PatView)))]
pub(crate) async fn revoke_pat(
    State(ops): State<Arc<Ops>>,
    Path(id): Path<String>,
    gated: Gated,
) -> Result<Json<PatView>, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    let now = now();
    let mut registry = ops.registry.write().await;
    let record = registry
        .pats
        .values()
        .find(|pat| pat.id() == id)
        .ok_or_else(|| ApiError::new(Code::NotFound, "no PAT has this ID"))?;
    // Revoking twice changes nothing and records nothing new.
    let (record, decision) = records::revoke_pat(record, &gated.actor(), &gated.0.ip.to_string(), now);
    if let Some(decision) = decision {
        crate::lifecycle::carry_out(&ops, &mut registry, decision, now)?.without_waiting(&ops);
    }
    Ok(Json(PatView::of(&record)))
}
