//! `GET /support/audit`: the audit trail, newest first, filtered and bounded; and
//! `GET /support/audit/export` (SPEC §14): the trail after a `seq`, as JSON lines or OCSF.

use std::sync::Arc;

use argus_fsm::Code;
use axum::extract::{Query, State};
use axum::response::IntoResponse as _;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::short;
use crate::http::extract::Gated;
use crate::state::Ops;
use crate::store::audit::{AuditEvent, AuditRecord};
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
    let tenant = scope(&ops, &gated, query.tenant.as_ref()).await?;
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

/// Whose records a caller reads: the tenant asked for, else a tenant-bound PAT's own, else all
/// (remote_support); the tenant's admins may read theirs.
async fn scope(ops: &Ops, gated: &Gated, asked: Option<&String>) -> Result<Option<String>, ApiError> {
    let tenant = asked.or(gated.0.tenant.as_ref()).cloned();
    match &tenant {
        Some(t) => gated.require(ops, Need::SupportOrTenantAdmin(t)).await?,
        None => gated.require(ops, Need::Support).await?,
    }
    Ok(tenant)
}

/// `GET /support/audit/export` query (SPEC §14).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// Records after this `seq` (default 0: from the first); for one tenant's records, after
    /// this `tenant_seq`.
    after: Option<u64>,
    /// `jsonl` (the record as `audit ls --json` shows it; the default) or `ocsf`.
    format: Option<String>,
    /// At most this many records (default 1,000, at most 10,000).
    limit: Option<usize>,
    /// Seconds to wait for a record when there is none yet (long poll; at most 30).
    wait: Option<u64>,
    /// Only this tenant's records (a tenant-bound PAT gets only its own).
    tenant: Option<String>,
}

/// Default and largest export page.
pub const EXPORT_DEFAULT_LIMIT: usize = 1_000;
pub const EXPORT_MAX_LIMIT: usize = 10_000;
/// The longest long poll.
pub const EXPORT_MAX_WAIT_SECONDS: u64 = 30;
/// How often a long poll looks for new records (the store, so records written by any node of
/// a cluster are seen).
const EXPORT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExportFormat {
    Jsonl,
    Ocsf,
}

/// The audit trail after `after`, oldest first, one JSON object per line
/// (`application/x-ndjson`): the records as stored, or as OCSF events; with `wait`, the answer
/// waits up to that many seconds for a first record.
#[utoipa::path(get, path = "/support/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "One record per line, oldest first", content_type = "application/x-ndjson", body = String)))]
pub(crate) async fn audit_export(
    State(ops): State<Arc<Ops>>,
    gated: Gated,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(Code::BadRequest, short(&e.body_text())))?;
    let tenant = scope(&ops, &gated, query.tenant.as_ref()).await?;
    let format = match query.format.as_deref() {
        None | Some("jsonl") => ExportFormat::Jsonl,
        Some("ocsf") => ExportFormat::Ocsf,
        Some(_) => return Err(ApiError::new(Code::BadRequest, "format must be ocsf or jsonl")),
    };
    let wait = query.wait.unwrap_or(0);
    if wait > EXPORT_MAX_WAIT_SECONDS {
        return Err(ApiError::new(Code::BadRequest, "wait must be at most 30 seconds"));
    }
    let limit = query.limit.unwrap_or(EXPORT_DEFAULT_LIMIT).clamp(1, EXPORT_MAX_LIMIT);
    let after = query.after.unwrap_or(0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    let body = loop {
        let store = ops.store.clone();
        let tenant = tenant.clone();
        let (lines, records) =
            tokio::task::spawn_blocking(move || export_page(store.as_ref(), after, tenant.as_deref(), limit, format))
                .await
                .map_err(|_| ApiError::from(Code::Internal))??;
        if records > 0 || tokio::time::Instant::now() >= deadline {
            break lines;
        }
        tokio::time::sleep(EXPORT_POLL).await;
    };
    Ok(([(axum::http::header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// One page of the export: the records after `after` (a `seq`; of `tenant`, a `tenant_seq`),
/// at most `limit`, one line each.
///
/// A tenant's page also carries the tenant's view of each checkpoint that signs one of its
/// records from `after` on (the first per record): its own head and the others' only as the
/// leaves the signature covers (SPEC §14). Such lines do not count towards `limit`, and a
/// page whose lines are all checkpoints does not end a long poll early.
fn export_page(
    store: &dyn crate::store::Store,
    after: u64,
    tenant: Option<&str>,
    limit: usize,
    format: ExportFormat,
) -> Result<(String, usize), ApiError> {
    let unavailable = |_| ApiError::from(Code::StoreUnavailable);
    let from = match tenant {
        None => after.saturating_add(1),
        Some(_) if after == 0 => 1,
        // Past the tenant's newest record: nothing yet.
        Some(tenant) => match crate::store::audit::seq_of_tenant_record(store, tenant, after).map_err(unavailable)? {
            Some(seq) => seq + 1,
            None => return Ok((String::new(), 0)),
        },
    };
    let mut page = Vec::new();
    let mut count = 0;
    let mut signed_last = after.max(1) - 1;
    for record in store.audit_from(from) {
        let mut record = record.map_err(unavailable)?;
        if let Some(tenant) = tenant {
            if record.event == AuditEvent::AuditCheckpoint.as_str() && record.tenant.is_none() {
                let view = argus_fsm::audit::tenant_view(&record.details, tenant);
                let Some(signed) = view["tenants"][tenant]["tenant_seq"].as_u64() else { continue };
                if signed <= signed_last {
                    continue;
                }
                signed_last = signed;
                record.details = view;
            } else if record.tenant.as_deref() != Some(tenant) {
                continue;
            } else if count == limit {
                // The page ends before the tenant's next record (after the checkpoints of its
                // last one).
                break;
            } else {
                count += 1;
            }
        } else {
            count += 1;
        }
        page.push(record);
        if tenant.is_none() && count == limit {
            break;
        }
    }
    Ok((encode_page(&page, format)?, count))
}

/// The lines of `records` in `format`.
fn encode_page(records: &[AuditRecord], format: ExportFormat) -> Result<String, ApiError> {
    let mut body = Vec::with_capacity(records.len() * 512);
    for record in records {
        match format {
            ExportFormat::Jsonl => {
                serde_json::to_writer(&mut body, record).map_err(|_| ApiError::from(Code::Internal))?
            }
            ExportFormat::Ocsf => argus_fsm::ocsf::write_ocsf(record, env!("CARGO_PKG_VERSION"), &mut body),
        }
        body.push(b'\n');
    }
    String::from_utf8(body).map_err(|_| ApiError::from(Code::Internal))
}
