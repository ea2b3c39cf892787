//! `/admin/*`: tenants and personal access tokens (admin scope).

use std::sync::Arc;

use argus_fsm::Code;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::gate::Need;
use crate::http::extract::{Gated, JsonBody};
use crate::state::Ops;
use crate::store::audit::AuditEntry;
use crate::store::{PatRecord, Scope, Write};
use crate::time_format::{now, rfc3339};
use argus_fsm::id::is_valid_id;
use argus_fsm::signed::parse_key_file;
use argus_fsm::tenant::Tenant;

use crate::http::tenants::tenant_json;
use crate::secrets;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    tenant: String,
    consent_key: String,
}

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
pub(crate) struct CreatePat {
    owner: String,
    scopes: Vec<String>,
    tenant: Option<String>,
    ttl_seconds: Option<i64>,
}

/// Longest PAT lifetime an admin may ask for (a year and a day); without a TTL a PAT lives
/// until it is revoked.
pub const MAX_PAT_TTL_SECONDS: i64 = 366 * 24 * 60 * 60;

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

pub(crate) async fn list_pats(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<Value>, ApiError> {
    gated.require(&ops, Need::Admin).await?;
    let registry = ops.registry.lock().await;
    let mut pats: Vec<&PatRecord> = registry.pats.values().collect();
    pats.sort_by_key(|pat| (pat.created_at, pat.id()));
    Ok(Json(json!({ "pats": pats.into_iter().map(pat_json).collect::<Vec<_>>() })))
}

pub(crate) async fn revoke_pat(
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
