//! `GET /support/audit`: the audit trail, newest first, filtered and bounded.

use std::sync::Arc;

use argus_fsm::Code;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::short;
use crate::http::extract::Gated;
use crate::state::Ops;
use crate::time_format::parse_rfc3339;

/// `GET /support/audit` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only this tenant's events (a tenant-bound PAT sees only its own).
    tenant: Option<String>,
    /// Only events at or after this RFC 3339 instant.
    since: Option<String>,
    /// At most this many events, the newest (default 100, at most 10,000).
    limit: Option<usize>,
}

/// `GET /support/audit`: events oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditPage {
    events: Vec<crate::store::audit::AuditRecord>,
}

/// Default and largest `audit ls` page.
pub const AUDIT_DEFAULT_LIMIT: usize = 100;
pub const AUDIT_MAX_LIMIT: usize = 10_000;

/// The audit trail, filtered and bounded (remote_support scope, or tenant_admin for its tenant).
#[utoipa::path(get, path = "/support/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "The newest matching events, oldest first", body = AuditPage)))]
pub(crate) async fn audit_list(
    State(ops): State<Arc<Ops>>,
    gated: Gated,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
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
    Ok(Json(AuditPage { events }))
}
