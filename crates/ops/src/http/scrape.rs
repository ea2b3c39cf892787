//! `GET /metrics` on the plain-HTTP metrics listener (SPEC §11): the gauges read from the
//! node's own view at each scrape, then everything `crate::metrics` counted.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::Ops;

/// The metrics listener's one route.
pub fn router(ops: Arc<Ops>) -> Router {
    crate::metrics::handle();
    Router::new().route("/metrics", get(render)).with_state(ops)
}

async fn render(State(ops): State<Arc<Ops>>) -> impl IntoResponse {
    let online = ops.reach.online();
    let now = crate::time_format::now();
    let active = ops.registry.read().await.sessions.values().filter(|s| s.is_live(now)).count();
    crate::metrics::refresh_gauges(online, active, ops.tickets.resumed());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::handle().render())
}
