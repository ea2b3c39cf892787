//! The operator HTTPS API (SPEC §3.2, §4, §7): the router and one file per group of routes.
//! Handlers take a [`extract::Gated`] first, gather facts, ask a machine, commit what it
//! decided with its audit record through the registry, and leave what ending a session means
//! to [`crate::lifecycle`]. [`server`] is the TLS front that moves the bytes.

use std::sync::Arc;

use argus_fsm::Code;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::Ops;

pub mod admin;
pub mod agents;
pub mod audit;
pub mod extract;
pub mod server;
pub mod sessions;
pub mod tenants;

/// The whole API.
pub fn router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/admin/tenants", post(admin::create_tenant))
        .route("/admin/pats", post(admin::create_pat).get(admin::list_pats))
        .route("/admin/pats/{id}", delete(admin::revoke_pat))
        .route("/support/fleet", get(tenants::fleet))
        .route("/support/audit", get(audit::audit_list))
        .route("/support/tenants/{tenant}", get(tenants::show_tenant))
        .route("/support/tenants/{tenant}/agents", get(tenants::list_agents))
        .route("/support/tenants/{tenant}/consent", put(tenants::record_consent).delete(tenants::withdraw_consent))
        .route("/support/tenants/{tenant}/arm", post(tenants::arm))
        .route("/support/tenants/{tenant}/disarm", post(tenants::disarm))
        .route("/support/tenants/{tenant}/enrollment-tokens", post(tenants::issue_enrollment_token))
        .route("/support/agents/{agent}/capabilities", get(agents::capabilities))
        .route("/support/agents/{agent}/revoke", post(agents::revoke))
        .merge(sessions::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(ops.clone(), durable_responses))
        .layer(axum::middleware::from_fn(access_log))
        .with_state(ops)
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

/// How long `/readyz` waits for the store before calling the node not ready.
pub const READY_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz` (no gate, SPEC §11): ready when the listeners are up and the store answers.
async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let reason = if !ops.listening.load(std::sync::atomic::Ordering::Acquire) {
        Some("listeners are not up")
    } else {
        let store = ops.store.clone();
        let probe = tokio::task::spawn_blocking(move || store.audit_newest_first().next().transpose().map(drop));
        match tokio::time::timeout(READY_STORE_TIMEOUT, probe).await {
            Ok(Ok(Ok(()))) => None,
            _ => Some("the store does not answer"),
        }
    };
    match reason {
        None => Json(json!({ "status": "ready" })).into_response(),
        Some(reason) => {
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not_ready", "reason": reason })))
                .into_response()
        }
    }
}

async fn healthz(State(ops): State<Arc<Ops>>) -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "browser_path": ops.access.is_some() }))
}
