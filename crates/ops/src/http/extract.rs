//! What every gated handler takes first: [`Gated`] (the operator gate, SPEC §4, run before the
//! body is read, so an unauthenticated caller learns nothing from a malformed body) and the
//! bounded JSON body extractors (SPEC §7).

use std::net::IpAddr;
use std::sync::Arc;

use argus_fsm::{Code, Timestamp};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::gate::{self, Denial, Need, Operator, RequestFacts};
use crate::http::error::ApiError;
use crate::state::Ops;
use crate::time_format::now;

/// Largest request body (SPEC §7).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// An operator who passed factors 1–3 and presented a valid PAT. Scope is checked per route
/// with [`Gated::require`], which audits a refusal like any other gate failure.
pub struct Gated(pub Operator);

impl FromRequestParts<Arc<Ops>> for Gated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ops: &Arc<Ops>) -> Result<Gated, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<crate::http::server::PeerAddr>>()
            .map(|ConnectInfo(peer)| peer.0.ip())
            .ok_or_else(|| ApiError::new(Code::Internal, "no peer address"))?;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded_for =
            gate::join_forwarded_for(parts.headers.get_all("x-forwarded-for").iter().map(|v| v.as_bytes()));
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
        // After a failed write, decide nothing from a view that may hold what never became
        // durable: reload first (503 `store_unavailable` while the store is still away).
        ops.ensure_current().await?;
        let registry = ops.registry.read().await;
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
        let touch = match (&outcome, used) {
            (Ok(_), Some(hash)) if registry.pat_touch_due(&hash, now) => Some(hash),
            _ => None,
        };
        drop(registry);
        if let Some(hash) = touch {
            ops.registry.write().await.touch_pat(&ops.writer, &hash, now);
        }
        match outcome {
            Ok(operator) => {
                let _ = crate::http::ACCESS_CALLER
                    .try_with(|caller| *caller.borrow_mut() = Some((operator.ip, operator.owner.clone())));
                Ok(Gated(operator))
            }
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
        crate::metrics::gate_denied(Denial::MissingRole.factor());
        ops.append_audit(vec![gate::missing_role_record(&self.0.owner, self.0.ip, need)], now).await?;
        Err(Code::MissingRole.into())
    }

    /// The operator's identity for audit records.
    pub fn actor(&self) -> String {
        self.0.owner.clone()
    }
}

async fn audit_denial(ops: &Ops, denial: Denial, ip: IpAddr, path: &str, now: Timestamp) {
    crate::metrics::gate_denied(denial.factor());
    // A denial that cannot be audited is still denied.
    let _ = ops.append_audit(vec![gate::denied_record(denial, ip, path)], now).await;
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

/// How much of an oversized body is read and discarded before answering `too_large` (the
/// front's lingering close drains as much after an answer given from the head).
pub use crate::http::server::DRAIN_LIMIT;

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

pub(crate) fn short(text: &str) -> String {
    text.chars().take(160).collect()
}

/// `{"tenant"?, "reason"}`: the body of revoke, arm, disarm, deactivate, withdraw.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// The agent's tenant (required by revoke).
    pub tenant: Option<String>,
    /// Why, for the audit trail (required except by deactivate).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_reason_is_required() {
        let body = ReasonBody { tenant: None, reason: "  ".into() };
        assert_eq!(body.reason().unwrap_err().code, Code::ReasonRequired);
    }
}
