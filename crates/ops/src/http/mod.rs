//! The operator HTTPS API (SPEC §3.2, §4, §7): the router and one file per group of routes.
//! Handlers take a [`extract::Gated`] first, gather facts, ask a machine, commit what it
//! decided with its audit record through the registry, and leave what ending a session means
//! to [`crate::lifecycle`]. [`server`] is the TLS front that moves the bytes.

use std::sync::Arc;

use argus_fsm::Code;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::ApiError;
use crate::state::Ops;

pub mod access;
pub mod admin;
pub mod agents;
pub mod audit;
pub mod cluster;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod scrape;
pub mod server;
pub mod sessions;
pub mod tenants;

/// Every route with its description: the router and the OpenAPI document come from this one
/// list, so nothing is served undescribed.
pub(crate) fn api_router() -> OpenApiRouter<Arc<Ops>> {
    OpenApiRouter::with_openapi(openapi::skeleton())
        .routes(routes!(healthz))
        .routes(routes!(checkpoint_key))
        .routes(routes!(readyz))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(admin::create_tenant))
        .routes(routes!(admin::create_pat, admin::list_pats))
        .routes(routes!(admin::revoke_pat))
        .routes(routes!(tenants::fleet))
        .routes(routes!(audit::audit_list))
        .routes(routes!(audit::audit_export))
        .routes(routes!(tenants::show_tenant))
        .routes(routes!(tenants::list_agents))
        .routes(routes!(tenants::record_consent, tenants::withdraw_consent))
        .routes(routes!(tenants::arm))
        .routes(routes!(tenants::disarm))
        .routes(routes!(tenants::set_approval))
        .routes(routes!(tenants::issue_enrollment_token))
        .routes(routes!(agents::capabilities))
        .routes(routes!(agents::revoke))
        .routes(routes!(cluster::cluster))
        .routes(routes!(access::request_access))
        .routes(routes!(access::list_requests))
        .routes(routes!(access::show_request))
        .routes(routes!(access::approve))
        .routes(routes!(access::deny))
        .merge(sessions::routes())
}

/// The whole API.
pub fn router(ops: Arc<Ops>) -> Router {
    let (routes, _) = api_router().split_for_parts();
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(ops.clone(), durable_responses))
        .layer(axum::middleware::from_fn(body_limit_at_head))
        .layer(axum::middleware::from_fn(access_log))
        .with_state(ops)
}

/// A request whose declared `Content-Length` is over the body limit is answered 413
/// `too_large` from its head (SPEC §12 "Bodies"): not a byte of the body is read or waited
/// for, and the connection closes after the answer.
async fn body_limit_at_head(request: Request, next: axum::middleware::Next) -> Response {
    match declared_length(request.headers()) {
        Some(length) if length > extract::MAX_BODY as u64 => {
            let mut response = axum::response::IntoResponse::into_response(crate::http::error::ApiError::from(
                argus_fsm::Code::TooLarge,
            ));
            response
                .headers_mut()
                .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
            response
        }
        _ => next.run(request).await,
    }
}

/// The `Content-Length` a request declares (hyper has already refused a malformed or
/// conflicting one).
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(axum::http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

tokio::task_local! {
    /// Who the gate let through on this request, for the access log: caller IP and PAT owner.
    pub static ACCESS_CALLER: std::cell::RefCell<Option<(std::net::IpAddr, String)>>;
}

/// One access-log event per request at `info` (SPEC §11): method, route template (never the
/// raw path, which may carry IDs a log should not multiply), status, duration, caller IP and
/// PAT owner — never a header value, a body or a secret.
async fn access_log(request: Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "(unmatched)".to_string(), |path| path.as_str().to_string());
    let peer = request.extensions().get::<axum::extract::ConnectInfo<server::PeerAddr>>().map(|c| c.0 .0.ip());
    let (response, caller) = ACCESS_CALLER
        .scope(std::cell::RefCell::new(None), async {
            let response = next.run(request).await;
            (response, ACCESS_CALLER.with(|caller| caller.borrow_mut().take()))
        })
        .await;
    let (ip, owner) = match caller {
        Some((ip, owner)) => (Some(ip), Some(owner)),
        None => (peer, None),
    };
    crate::metrics::http_request(&route, response.status().as_u16());
    tracing::info!(
        target: "argus_ops::access",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        ip = ip.map(|ip| ip.to_string()).unwrap_or_default(),
        owner = owner.as_deref().unwrap_or("-"),
        "request"
    );
    response
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
        if let Err(error) = ops.writer.wait(generation).await {
            tracing::error!(%error, "flush failed; the action is not acknowledged");
            return crate::http::error::store_error(&error).into_response();
        }
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::from(Code::NotFound)
}

/// How long `/readyz` waits for the store before calling the node not ready.
pub const READY_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready when the listeners are up and the store answers (no gate, SPEC §11).
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Ready", body = openapi::Readiness),
    (status = 503, description = "Not ready, with the reason", body = openapi::Readiness)))]
async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let reason = if !ops.listening.load(std::sync::atomic::Ordering::Acquire) {
        Some("listeners are not up".to_string())
    } else if let Some(why) = ops.chain_floor.behind() {
        Some(format!("{}: {why}", crate::store::head::REASON))
    } else {
        let store = ops.store.clone();
        let probe = tokio::task::spawn_blocking(move || store.ping());
        match tokio::time::timeout(READY_STORE_TIMEOUT, probe).await {
            Ok(Ok(Ok(()))) => None,
            _ => Some("the store does not answer".to_string()),
        }
    };
    match reason {
        None => Json(openapi::Readiness { status: "ready", reason: None }).into_response(),
        Some(reason) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(openapi::Readiness { status: "not_ready", reason: Some(reason) }),
        )
            .into_response(),
    }
}

/// The public key that signs the audit trail's checkpoints (no gate; SPEC §14): what a
/// customer checks an export with (`argusctl audit verify-export --checkpoint-key`).
#[utoipa::path(get, path = "/audit/checkpoint-key", tag = "audit", responses(
    (status = 200, description = "`{\"key_id\",\"public_key\"}`, hex", body = Object),
    (status = 404, description = "This node signs no checkpoints (a cluster node initialised before them)")))]
async fn checkpoint_key(State(ops): State<Arc<Ops>>) -> Response {
    match &ops.checkpoint_key {
        Some(key) => Json(crate::checkpoints::public_view(key)).into_response(),
        None => crate::http::error::ApiError::new(argus_fsm::Code::NotFound, "this node signs no checkpoints")
            .into_response(),
    }
}

/// Liveness and version (no gate).
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, description = "Alive", body = openapi::Health)))]
async fn healthz(State(ops): State<Arc<Ops>>) -> Json<openapi::Health> {
    Json(openapi::Health { status: "ok", version: env!("CARGO_PKG_VERSION"), browser_path: ops.access.is_some() })
}
