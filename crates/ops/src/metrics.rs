//! Prometheus metrics (SPEC §11), through the `metrics` facade and its Prometheus exporter (no
//! hand-written exposition format). Every name and label is set here, so the rule that no label
//! carries a tenant, agent ID, owner or token is checked in one file: labels are route
//! templates, status codes, SPEC error codes, gate factor names and allowlisted command names —
//! all bounded sets. The route that serves them is `http::scrape` (this file knows no server
//! state, so everything may count into it).

use std::sync::OnceLock;

use argus_fsm::command::COMMAND_NAMES;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for the `_seconds` families: sub-millisecond commits up to the 30 s
/// command timeout.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use (several servers embedded in one test
/// process share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("buckets are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// One HTTP request answered (`route` is the template, e.g. `/support/tenants/{tenant}`).
pub fn http_request(route: &str, status: u16) {
    metrics::counter!("argus_http_requests_total", "route" => route.to_string(), "status" => status.to_string())
        .increment(1);
}

/// One gate refusal, by factor (`ip`, `ops_token`, `pat`, `scope`, …).
pub fn gate_denied(factor: &'static str) {
    metrics::counter!("argus_gate_denied_total", "factor" => factor).increment(1);
}

/// One command answered: its allowlisted name (anything else counts as `not_allowlisted`), its
/// outcome (`ok` or the SPEC code it was refused with) and how long it took.
pub fn command(name: &str, outcome: &'static str, seconds: f64) {
    let name: &'static str = COMMAND_NAMES.iter().find(|known| **known == name).copied().unwrap_or("not_allowlisted");
    metrics::counter!("argus_commands_total", "command" => name, "outcome" => outcome).increment(1);
    metrics::histogram!("argus_command_duration_seconds", "command" => name).record(seconds);
}

/// How long staging one batch of state and audit records took.
pub fn audit_append(seconds: f64) {
    metrics::histogram!("argus_audit_append_seconds").record(seconds);
}

/// One agent given a later turn by admission control (`ServerMessage::Busy`).
pub fn handshake_deferred() {
    metrics::counter!("argus_agent_handshakes_deferred_total").increment(1);
}

/// One incoming agent connection not given a handshake, by why: `retry` (asked to validate its
/// address first), `full`, `per_address` (refused), `timeout` (a QUIC or link handshake that did
/// not finish in time).
pub fn handshake_shed(reason: &'static str) {
    metrics::counter!("argus_agent_handshakes_shed_total", "reason" => reason).increment(1);
}

/// One HTTP connection closed to make room at a listener's cap (`shed`), or refused there
/// because every open one was being served (`refused`); `listener` is `api` or `metrics`.
pub fn connection_shed(listener: &'static str, outcome: &'static str) {
    metrics::counter!("argus_http_connections_shed_total", "listener" => listener, "outcome" => outcome).increment(1);
}

/// Agent handshakes in progress on the listener.
pub fn handshakes_in_progress(count: usize) {
    metrics::gauge!("argus_agent_handshakes_in_progress").set(count as f64);
}

/// The gauges, read from the node's own view when scraped; and the agent links that resumed a
/// TLS session (counted by the ticket keys) rather than running a full handshake.
pub fn refresh_gauges(agents_online: usize, sessions_active: usize, resumed: u64) {
    metrics::gauge!("argus_agents_online").set(agents_online as f64);
    metrics::gauge!("argus_sessions_active").set(sessions_active as f64);
    metrics::counter!("argus_agent_tls_resumed_total").absolute(resumed);
}
