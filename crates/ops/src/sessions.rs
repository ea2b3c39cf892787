//! Remote-support sessions on the server: ending them (every end path goes through
//! [`end_session`], so each writes exactly one `remote_support_session_ended`).

use std::sync::Arc;

use argus_fsm::session::{EndReason, SessionEffect, SessionEvent, SessionState};
use argus_fsm::wire::ServerMessage;
use argus_fsm::Timestamp;
use axum::Router;
use serde_json::json;

use crate::audit::AuditEntry;
use crate::error::ApiError;
use crate::state::{Ops, Registry};
use crate::store::Write;

/// Session routes (activation, commands, status, deactivation).
pub fn routes() -> Router<Arc<Ops>> {
    Router::new()
}

/// Ends one session for `reason` if it is still active: commits the ended session with its
/// audit record, then tells the agent. Returns whether it ended now.
pub fn end_session(
    ops: &Ops,
    registry: &mut Registry,
    session_id: &str,
    event: SessionEvent,
    actor: &str,
    now: Timestamp,
) -> Result<bool, ApiError> {
    let Some(mut session) = registry.sessions.get(session_id).cloned() else { return Ok(false) };
    let was_active = session.state == SessionState::Active;
    let reason = match (session.handle(event, now), session.state) {
        (Ok(SessionEffect::Ended { reason, .. }), _) => reason,
        // It had lapsed: the machine ended it as expired, and that end must be recorded.
        (Err(_), SessionState::Ended { reason, .. }) if was_active => reason,
        _ => return Ok(false),
    };
    let entry = AuditEntry::new("remote_support_session_ended", actor)
        .tenant(&session.tenant)
        .agent(&session.agent_id)
        .session(&session.id)
        .reason(reason.as_str())
        .details(json!({ "started_at": crate::time_format::rfc3339(session.started_at) }));
    let agent_id = session.agent_id.clone();
    registry.commit(ops.store.as_ref(), vec![Write::Session(session)], vec![entry], now)?;
    if let Some(link) = ops.links.lock().expect("links lock").get(&agent_id) {
        let _ = link.control.send(ServerMessage::SessionEnded { session_id: session_id.to_string(), reason });
    }
    Ok(true)
}

/// Ends every live session of a tenant (disarm, consent withdrawn).
pub fn end_tenant_sessions(
    ops: &Ops,
    registry: &mut Registry,
    tenant: &str,
    reason: EndReason,
    now: Timestamp,
) -> Result<(), ApiError> {
    let ids: Vec<String> = registry
        .sessions
        .values()
        .filter(|s| s.tenant == tenant && s.next_deadline().is_some())
        .map(|s| s.id.clone())
        .collect();
    for id in ids {
        end_session(ops, registry, &id, SessionEvent::End(reason), "system", now)?;
    }
    Ok(())
}

/// Ends every live session of an agent (revocation, kill switch).
pub fn end_agent_sessions(
    ops: &Ops,
    registry: &mut Registry,
    agent: &str,
    reason: EndReason,
    now: Timestamp,
) -> Result<(), ApiError> {
    let ids: Vec<String> = registry
        .sessions
        .values()
        .filter(|s| s.agent_id == agent && s.next_deadline().is_some())
        .map(|s| s.id.clone())
        .collect();
    for id in ids {
        end_session(ops, registry, &id, SessionEvent::End(reason), "system", now)?;
    }
    Ok(())
}

/// Ends sessions at their `expires_at` without waiting for a request: one timer, re-armed
/// from the earliest deadline (checked at least every second so new sessions are seen).
pub async fn expiry_driver(ops: Arc<Ops>) {
    loop {
        let now = crate::time_format::now();
        let next = {
            let mut registry = ops.registry.lock().await;
            let due: Vec<String> = registry
                .sessions
                .values()
                .filter(|s| s.next_deadline().is_some_and(|d| d <= now))
                .map(|s| s.id.clone())
                .collect();
            for id in due {
                if let Err(error) =
                    end_session(&ops, &mut registry, &id, SessionEvent::End(EndReason::Expired), "system", now)
                {
                    tracing::error!(session = %id, error = %error.message, "could not record expiry");
                }
            }
            registry.sessions.values().filter_map(|s| s.next_deadline()).min()
        };
        let wait = next.map_or(1000, |deadline| (deadline.0 - crate::time_format::now().0).clamp(1, 1000));
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
}
