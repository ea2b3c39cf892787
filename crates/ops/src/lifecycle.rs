//! The session lifecycle on the server: every end (deactivation, expiry, kill switch, disarm,
//! consent withdrawal, revocation) goes through [`end_session`], so each writes exactly one
//! `remote_support_session_ended`, tells the agent, and hands back the agent's acknowledgement
//! for routes that answer only once the agent refuses the session too. No web-framework types
//! here: the HTTP routes, the agent link and the expiry driver all call into this.

use std::sync::Arc;

use argus_fsm::machine::Machine;
use argus_fsm::session::{EndReason, Session, SessionEffect, SessionEvent};
use argus_fsm::wire::SessionGrant;
use argus_fsm::Timestamp;
use serde_json::json;

use crate::fault::Fault;
use crate::state::{Ops, Registry};
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::Write;
use crate::time_format::{now, rfc3339};

/// What the agent needs to enforce a session itself.
pub fn grant_of(session: &Session) -> SessionGrant {
    SessionGrant {
        session_id: session.id.clone(),
        tenant: session.tenant.clone(),
        owner: session.owner.clone(),
        expires_at: session.expires_at,
    }
}

/// What an operator's end adds to the record: their words and, on the browser path, their
/// verified Access identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct EndedBy<'a> {
    pub note: Option<&'a str>,
    pub access_identity: Option<&'a str>,
}

/// A session that ended just now.
pub struct Ended {
    pub reason: EndReason,
    /// Resolves when the agent has processed the end; `None` when it was offline (it learns
    /// the live set from `Welcome` when it reconnects).
    pub ack: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Ends one session if it is still active: commits the ended session with its audit record,
/// then tells the agent. Returns the reason it ended with now (a lapsed session ends as
/// `expired` whatever was asked) and the agent's acknowledgement to wait for, or `None` if it
/// had already ended.
pub fn end_session(
    ops: &Ops,
    registry: &mut Registry,
    session_id: &str,
    event: SessionEvent,
    actor: &str,
    by: EndedBy<'_>,
    now: Timestamp,
) -> Result<Option<Ended>, Fault> {
    let Some(mut session) = registry.sessions.get(session_id).cloned() else { return Ok(None) };
    // The machine returns the end whether it accepted the event or refused it (a lapsed
    // session ends as expired whatever was asked).
    let effects = match session.handle(event, now) {
        Ok(effects) => effects,
        Err(refused) => refused.effects,
    };
    let Some(SessionEffect::Ended { reason, .. }) = effects.into_iter().next() else { return Ok(None) };
    // On a shared store the database decides which node ends it, once: a node that lost the
    // race forgets its copy (the winner's record reaches it by announcement or by key).
    if !ops.store.end_claim(session_id).map_err(|error| Fault::store(&error))? {
        registry.forget_session(session_id);
        return Ok(None);
    }
    let entry = AuditEntry::new(AuditEvent::RemoteSupportSessionEnded, actor)
        .tenant(&session.tenant)
        .agent(&session.agent_id)
        .session(&session.id)
        .reason(reason.as_str())
        .details(json!({
            "started_at": rfc3339(session.started_at),
            "operator_reason": by.note,
            "access_identity": by.access_identity,
        }));
    let agent_id = session.agent_id.clone();
    registry.commit(ops.store.as_ref(), &ops.durability, vec![Write::Session(session)], vec![entry], now)?;
    let ack = ops.reach.tell_end(&agent_id, session_id, reason);
    Ok(Some(Ended { reason, ack }))
}

/// Runs a session's timer: a lapsed session ends (reason `expired`, by `system`) and the end is
/// recorded; an unlapsed one is left alone.
pub fn expire_session(ops: &Ops, registry: &mut Registry, session_id: &str, now: Timestamp) -> Result<(), Fault> {
    end_session(ops, registry, session_id, SessionEvent::Timeout, "system", EndedBy::default(), now).map(drop)
}

/// Ends every live session of a tenant (disarm, consent withdrawn); returns the agents'
/// acknowledgements to wait for.
pub fn end_tenant_sessions(
    ops: &Ops,
    registry: &mut Registry,
    tenant: &str,
    reason: EndReason,
    now: Timestamp,
) -> Result<Vec<tokio::sync::oneshot::Receiver<()>>, Fault> {
    end_sessions_where(ops, registry, |s| s.tenant == tenant, reason, now)
}

/// Ends every live session of an agent (revocation, kill switch).
pub fn end_agent_sessions(
    ops: &Ops,
    registry: &mut Registry,
    agent: &str,
    reason: EndReason,
    now: Timestamp,
) -> Result<Vec<tokio::sync::oneshot::Receiver<()>>, Fault> {
    end_sessions_where(ops, registry, |s| s.agent_id == agent, reason, now)
}

fn end_sessions_where(
    ops: &Ops,
    registry: &mut Registry,
    matches: impl Fn(&Session) -> bool,
    reason: EndReason,
    now: Timestamp,
) -> Result<Vec<tokio::sync::oneshot::Receiver<()>>, Fault> {
    let ids: Vec<String> = registry
        .sessions
        .values()
        .filter(|s| matches(s) && s.next_deadline().is_some())
        .map(|s| s.id.clone())
        .collect();
    let mut acks = Vec::new();
    for id in ids {
        let ended = end_session(ops, registry, &id, SessionEvent::End(reason), "system", EndedBy::default(), now)?;
        acks.extend(ended.and_then(|ended| ended.ack));
    }
    Ok(acks)
}

/// Ends sessions at their `expires_at` without waiting for a request: one timer, re-armed
/// from the earliest deadline (checked at least every second so new sessions are seen).
pub async fn expiry_driver(ops: Arc<Ops>) {
    loop {
        let now = now();
        let next = {
            let mut registry = ops.registry.write().await;
            let due: Vec<String> = registry
                .sessions
                .values()
                .filter(|s| s.next_deadline().is_some_and(|d| d <= now))
                .map(|s| s.id.clone())
                .collect();
            for id in due {
                if let Err(error) = expire_session(&ops, &mut registry, &id, now) {
                    tracing::error!(session = %id, error = %error.message, "could not record expiry");
                }
            }
            registry.prune_ended_sessions(now);
            registry.sessions.values().filter_map(|s| s.next_deadline()).min()
        };
        if let Err(error) = ops.durability.wait_all().await {
            tracing::error!(%error, "could not flush session expiries");
        }
        let wait = next.map_or(1000, |deadline| (deadline.0 - now_ms()).clamp(1, 1000));
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
}

fn now_ms() -> i64 {
    now().0
}
