//! The agent listener: accepts QUIC connections, runs the link handshake machine on the
//! control stream, registers authenticated links, and processes what agents report.
//!
//! The intake (`crate::link::intake`) bounds handshakes in progress, in all and per address, and asks
//! unvalidated addresses for a QUIC Retry under load, so a flood of Initials holds nothing;
//! established links cost no place. Beyond that, admission control (`crate::link::admission`) lets a
//! bounded number of agents that have proved their passkey register at once and gives the
//! rest a turn to come back at (`ServerMessage::Busy`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use argus_fsm::handshake::{HandshakeEffect, HandshakeError, HandshakeEvent, ServerHandshake, Verified};
use argus_fsm::machine::Machine;
use argus_fsm::wire::MAX_HELLO_FRAME;
use argus_fsm::wire::{AgentMessage, ServerMessage, SessionGrant};
use argus_fsm::Code;
use argus_transport_quic::{exporter, read_frame, read_frame_within, write_frame, LinkError};
use serde_json::json;
use tokio::sync::mpsc;

use crate::link::{admission, intake, refusals};
use crate::reach::LinkHandle;
use crate::secrets::random32;
use crate::state::Ops;
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::Write;
use crate::time_format::now;

/// A link handshake (after the QUIC one) that has not finished in this time is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub use crate::link::intake::QUIC_HANDSHAKE_TIMEOUT;
/// An unauthenticated peer must have sent a well-formed Hello within this time (SPEC §12).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Milliseconds of a monotonic clock (admission control's time).
fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// An admitted agent's place among those authenticating at once; given back when dropped,
/// however the handshake ended.
struct Admitted(Arc<Ops>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.admission.lock().expect("admission lock").finished(monotonic_ms());
    }
}

/// A handshake's place in the listener's intake (`intake`); given back when dropped.
struct Place(Arc<Ops>, IpAddr);

impl Drop for Place {
    fn drop(&mut self) {
        let mut intake = self.0.intake.lock().expect("intake lock");
        intake.done(self.1);
        crate::metrics::handshakes_in_progress(intake.in_progress());
    }
}

/// Accepts agent connections until the endpoint closes. The loop never waits: each incoming
/// connection is accepted, asked to validate its address (Retry) or refused at once.
pub async fn serve(ops: Arc<Ops>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        let decision = {
            let mut intake = ops.intake.lock().expect("intake lock");
            let decision = intake.decide(remote.ip(), incoming.remote_address_validated());
            crate::metrics::handshakes_in_progress(intake.in_progress());
            decision
        };
        match decision {
            intake::Decision::Accept => {}
            intake::Decision::Retry => {
                crate::metrics::handshake_shed("retry");
                if let Err(error) = incoming.retry() {
                    error.into_incoming().ignore();
                }
                continue;
            }
            intake::Decision::Refuse(shed) => {
                crate::metrics::handshake_shed(shed.as_str());
                incoming.refuse();
                continue;
            }
        }
        let place = Place(ops.clone(), remote.ip());
        let ops = ops.clone();
        tokio::spawn(async move {
            let connection = match tokio::time::timeout(QUIC_HANDSHAKE_TIMEOUT, incoming).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(_)) => return,
                Err(_) => {
                    // Half-open: an Initial and nothing after it. Counted and audited within
                    // the refusal budget, like every refusal of an unauthenticated peer.
                    crate::metrics::handshake_shed("timeout");
                    refusal_audit(&ops, remote, None, "handshake_timeout", AuditEvent::AgentAuthFailed).await;
                    return;
                }
            };
            // Boxed: the handshake's state (its refusal and enrollment paths are large) is
            // freed when it ends instead of sizing this task for the link's whole life.
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, Box::pin(handshake(&ops, &connection))).await {
                Ok(Ok(Some((agent_id, send, recv, admitted)))) => {
                    drop(place);
                    run_link(ops, connection, agent_id, send, recv, admitted).await;
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%error, "link handshake failed");
                    connection.close(quinn::VarInt::from_u32(2), b"handshake failed");
                }
                Err(_) => {
                    connection.close(quinn::VarInt::from_u32(2), b"handshake timeout");
                    crate::metrics::handshake_shed("timeout");
                    refusal_audit(&ops, remote, None, "handshake_timeout", AuditEvent::AgentAuthFailed).await;
                }
            }
        });
    }
}

/// An authenticated agent's control stream, and its place among those authenticating (given
/// back once it is registered).
type Streams = (String, quinn::SendStream, quinn::RecvStream, Admitted);

/// Runs the handshake; returns the authenticated agent's control stream, or `None` when the
/// connection was an enrollment (answered and done) or was refused.
async fn handshake(ops: &Arc<Ops>, connection: &quinn::Connection) -> Result<Option<Streams>, LinkError> {
    // The first stream and a Hello of at most MAX_HELLO_FRAME bytes, within HELLO_TIMEOUT.
    let first = tokio::time::timeout(HELLO_TIMEOUT, async {
        let (send, mut recv) = connection.accept_bi().await?;
        let hello = read_frame_within::<AgentMessage>(&mut recv, MAX_HELLO_FRAME).await;
        Ok::<_, LinkError>((send, recv, hello))
    })
    .await;
    let (mut send, mut recv, hello) = match first {
        Ok(streams) => streams?,
        Err(_) => {
            refusal_audit(ops, connection.remote_address(), None, "hello_timeout", AuditEvent::AgentAuthFailed).await;
            connection.close(quinn::VarInt::from_u32(3), b"no Hello in time");
            return Ok(None);
        }
    };
    let mut machine = ServerHandshake::new(exporter(connection)?, random32());
    let (hello, proof) = match hello {
        Ok(Some(AgentMessage::ProvedHello { hello, proof })) => (hello, Some(proof)),
        Ok(Some(AgentMessage::Hello(hello))) => (hello, None),
        // Oversized or undecodable: refused before a byte more is read.
        Err(LinkError::Frame(_)) => {
            return refuse(ops, connection, &mut send, None, HandshakeError::Malformed, AuditEvent::AgentAuthFailed)
                .await
        }
        // Not a Hello at all, or the stream broke.
        _ => {
            return refuse(ops, connection, &mut send, None, HandshakeError::OutOfOrder, AuditEvent::AgentAuthFailed)
                .await
        }
    };
    if !hello.well_formed() {
        return refuse(ops, connection, &mut send, None, HandshakeError::Malformed, AuditEvent::AgentAuthFailed).await;
    }
    let enrolling = matches!(hello.intent, argus_fsm::handshake::Intent::Enroll { .. });
    let failure_event = if enrolling { AuditEvent::AgentEnrollRefused } else { AuditEvent::AgentAuthFailed };
    let agent_id = hello.agent_id.clone();
    let tenant = hello.tenant.clone();
    if ops.store.cluster().is_some() && (enrolling || !ops.registry.read().await.agents.contains_key(&agent_id)) {
        // Another node may have issued the enrollment token (or enrolled the agent) a moment
        // ago: read it from the store rather than wait for the announcement.
        crate::cluster::refresh(ops, vec![tenant.clone()], vec![agent_id.clone()]).await;
    }
    let record = ops.registry.read().await.agents.get(&agent_id).map(|a| a.enrollment.clone());
    // One round trip: the Hello came with its proof. Two (an older agent): challenge, answer.
    let event = match proof {
        Some(proof) => HandshakeEvent::ProvedHello { hello, proof, record },
        None => HandshakeEvent::Hello { hello, record },
    };
    let verified = match verdict(&mut machine, event, &mut send, &mut recv).await? {
        Ok(verified) => verified,
        Err(error) => {
            return refuse(ops, connection, &mut send, Some((&agent_id, &tenant)), error, failure_event).await
        }
    };
    match verified {
        Verified::EnrollRequested { agent_id, tenant, token, passkey } => {
            enroll(ops, connection, &mut send, agent_id, tenant, token, passkey).await?;
            Ok(None)
        }
        Verified::Authenticated { agent_id, tenant } => {
            // Admission control: beyond what the server can finish at once, the agent gets a
            // turn. Only now, once the agent has proved possession of its passkey (SPEC §12):
            // a Hello whose answer never comes, or a proof of nothing, holds no place.
            // Enrollments are few and operator-driven; they are never deferred.
            let admitted = match admit(ops, &mut send, connection).await? {
                Some(admitted) => admitted,
                None => return Ok(None),
            };
            // A node that woke from a pause re-reads the store before it judges anyone: the
            // agent may have been revoked meanwhile (if the store cannot answer, the view as it
            // is decides, as for any handshake while the store is away).
            if ops.store.cluster().is_some() && ops.wakefulness.woke() {
                if let Err(error) = ops.catch_up().await {
                    tracing::warn!(error = %error.message, "could not re-read the store after a pause");
                }
            }
            let now = now();
            // Shared: a reconnect storm's handshakes do not queue behind each other here. A
            // revocation takes the lock exclusively, so it lands before this check or after
            // the registration in `run_link`, which checks again.
            let registry = ops.registry.read().await;
            if !matches!(
                registry.agents.get(&agent_id).map(|a| &a.enrollment),
                Some(argus_fsm::enrollment::Enrollment::Enrolled { .. })
            ) {
                drop(registry);
                return refuse(
                    ops,
                    connection,
                    &mut send,
                    Some((&agent_id, &tenant)),
                    HandshakeError::Revoked,
                    failure_event,
                )
                .await;
            }
            let sessions: Vec<SessionGrant> = registry
                .sessions
                .values()
                .filter(|s| s.agent_id == agent_id && s.is_live(now))
                .map(crate::decide::grant_of)
                .collect();
            let touch = registry.agents.get(&agent_id).is_some_and(|agent| last_seen_due(agent.last_seen, now));
            drop(registry);
            write_frame(&mut send, &ServerMessage::Welcome { sessions }).await?;
            // `last_seen` to the minute, as a PAT's `last_used_at`: a herd reconnecting after a
            // restart (last seen when it dropped, seconds ago) costs no write per agent.
            if touch {
                let mut registry = ops.registry.write().await;
                if let Some(mut record) = registry.agents.get(&agent_id).cloned() {
                    record.last_seen = Some(now);
                    registry.record_quietly(&ops.writer, Write::Agent(record));
                }
            }
            Ok(Some((agent_id, send, recv, admitted)))
        }
    }
}

/// Takes an admission place for an authenticated agent, or tells it its turn (`Busy`) and
/// closes: `None`.
async fn admit(
    ops: &Arc<Ops>,
    send: &mut quinn::SendStream,
    connection: &quinn::Connection,
) -> Result<Option<Admitted>, LinkError> {
    let decision = ops.admission.lock().expect("admission lock").arrive(monotonic_ms());
    match decision {
        admission::Decision::Admit => Ok(Some(Admitted(ops.clone()))),
        admission::Decision::Turn(ms) => {
            crate::metrics::handshake_deferred();
            let retry_after_ms = u32::try_from(ms).unwrap_or(u32::MAX);
            write_frame(send, &ServerMessage::Busy { retry_after_ms }).await?;
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
            connection.close(quinn::VarInt::from_u32(5), b"busy");
            Ok(None)
        }
    }
}

/// Runs the handshake machine on the first message and, for an agent of the two-round-trip
/// handshake, on the answer to its challenge: the verdict, or the I/O error that cut it short.
async fn verdict(
    machine: &mut ServerHandshake,
    first: HandshakeEvent,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
) -> Result<Result<Verified, HandshakeError>, LinkError> {
    let challenge = match machine.handle(first, now()).map(|mut effects| effects.pop()) {
        Ok(Some(HandshakeEffect::Verified(verified))) => return Ok(Ok(verified)),
        Ok(Some(HandshakeEffect::SendChallenge(challenge))) => challenge,
        Ok(None) => return Ok(Err(HandshakeError::OutOfOrder)),
        Err(refused) => return Ok(Err(refused.error)),
    };
    write_frame(send, &ServerMessage::Challenge(challenge)).await?;
    let Some(AgentMessage::Proof(proof)) = read_frame_within::<AgentMessage>(recv, MAX_HELLO_FRAME).await? else {
        return Ok(Err(HandshakeError::OutOfOrder));
    };
    Ok(match machine.handle(HandshakeEvent::Proof(proof), now()).map(|mut effects| effects.pop()) {
        Ok(Some(HandshakeEffect::Verified(verified))) => Ok(verified),
        Ok(_) => Err(HandshakeError::OutOfOrder),
        Err(refused) => Err(refused.error),
    })
}

async fn enroll(
    ops: &Arc<Ops>,
    connection: &quinn::Connection,
    send: &mut quinn::SendStream,
    agent_id: String,
    tenant: String,
    token: String,
    passkey: [u8; 32],
) -> Result<(), LinkError> {
    let now = now();
    let mut registry = ops.registry.write().await;
    let outcome = (|| {
        let tenant_record = registry.tenants.get(&tenant).ok_or(Code::EnrollmentTokenInvalid)?;
        tenant_record.may_enroll(now).map_err(|e| e.code())?;
        let mut record = registry.agents.get(&agent_id).cloned().ok_or(Code::EnrollmentTokenInvalid)?;
        let event = argus_fsm::enrollment::EnrollmentEvent::Enroll { tenant: tenant.clone(), token, passkey };
        record.enrollment.handle(event, now).map_err(|refused| refused.error.code())?;
        record.last_seen = Some(now);
        Ok::<_, Code>(record)
    })();
    match outcome {
        Ok(record) => {
            let key_id = argus_fsm::signed::key_id(
                &ed25519_dalek::VerifyingKey::from_bytes(&passkey).map_err(|_| LinkError::Truncated)?,
            );
            let entry = AuditEntry::new(AuditEvent::AgentEnrolled, format!("agent:{agent_id}"))
                .tenant(&tenant)
                .agent(&agent_id)
                .details(json!({ "passkey_id": key_id, "remote": connection.remote_address().to_string() }));
            match registry.commit(ops.store.as_ref(), &ops.writer, vec![Write::Agent(record)], vec![entry], now) {
                Ok(_) => {
                    drop(registry);
                    durable(ops).await?;
                    write_frame(send, &ServerMessage::Welcome { sessions: vec![] }).await?
                }
                Err(error) => write_frame(send, &ServerMessage::Refused { code: error.code }).await?,
            }
        }
        Err(code) => {
            // Proving possession of a key is free: this peer is still unauthenticated, so its
            // refusal is audited within the budget like any other.
            let tenant = registry.tenants.contains_key(&tenant).then_some(tenant.as_str());
            drop(registry);
            refusal_audit(
                ops,
                connection.remote_address(),
                Some((&agent_id, tenant)),
                code.as_str(),
                AuditEvent::AgentEnrollRefused,
            )
            .await;
            write_frame(send, &ServerMessage::Refused { code }).await?;
        }
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}

/// Audits a refused handshake (within the refusal budget), tells the agent the code, and
/// closes. `claimed` is what a well-formed Hello claimed.
async fn refuse(
    ops: &Arc<Ops>,
    connection: &quinn::Connection,
    send: &mut quinn::SendStream,
    claimed: Option<(&str, &str)>,
    error: HandshakeError,
    event: AuditEvent,
) -> Result<Option<Streams>, LinkError> {
    let code = error.code();
    let claimed = match claimed {
        // Only name the tenant if it is a real one; a claimed tenant is untrusted input.
        Some((agent, tenant)) => {
            let known = ops.registry.read().await.tenants.contains_key(tenant);
            Some((agent, known.then_some(tenant)))
        }
        None => None,
    };
    let reason = if error == HandshakeError::Malformed { "malformed_hello" } else { code.as_str() };
    refusal_audit(ops, connection.remote_address(), claimed, reason, event).await;
    write_frame(send, &ServerMessage::Refused { code }).await?;
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
    connection.close(quinn::VarInt::from_u32(3), code.as_str().as_bytes());
    Ok(None)
}

/// Records one refusal of an unauthenticated peer, if the budget allows; otherwise only
/// counts it (the count is written as one aggregated record when the window closes). Every
/// field is bounded: IDs reach here only when they are within the ID grammar, so no peer can
/// grow the audit trail by more than about 1 KiB per refusal.
async fn refusal_audit(
    ops: &Arc<Ops>,
    remote: SocketAddr,
    claimed: Option<(&str, Option<&str>)>,
    code: &'static str,
    event: AuditEvent,
) {
    let now = now();
    let (verdict, closed) = ops.refusals.lock().expect("refusals lock").refusal(code, now);
    let mut entries: Vec<AuditEntry> = closed.into_iter().map(aggregate_entry).collect();
    if verdict == refusals::Verdict::Audit {
        let mut entry = AuditEntry::new(event, "system").details(json!({ "code": code, "remote": remote.to_string() }));
        if let Some((agent, tenant)) = claimed {
            entry.actor = format!("agent:{agent}");
            entry = entry.agent(agent);
            if let Some(tenant) = tenant {
                entry = entry.tenant(tenant);
            }
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return;
    }
    {
        let mut registry = ops.registry.write().await;
        let _ = registry.commit(ops.store.as_ref(), &ops.writer, vec![], entries, now);
    }
    if let Err(error) = durable(ops).await {
        tracing::warn!(%error, "refusal record not flushed");
    }
}

/// The aggregated record of a window's refusals beyond the budget.
fn aggregate_entry(suppressed: refusals::Suppressed) -> AuditEntry {
    AuditEntry::system(AuditEvent::AgentAuthFailed).details(json!({
        "aggregated": true,
        "count": suppressed.total,
        "by_code": suppressed.by_code,
        "window_start": crate::time_format::rfc3339(suppressed.window_start),
        "window_seconds": refusals::WINDOW_MS / 1000,
    }))
}

/// Writes the aggregate of a closed refusal window even when no refusal follows it.
pub async fn write_refusal_aggregates(ops: Arc<Ops>) {
    let mut tick = tokio::time::interval(Duration::from_millis(refusals::WINDOW_MS as u64 / 2));
    loop {
        tick.tick().await;
        let now = now();
        let closed = ops.refusals.lock().expect("refusals lock").tick(now);
        if let Some(closed) = closed {
            let mut registry = ops.registry.write().await;
            let _ = registry.commit(ops.store.as_ref(), &ops.writer, vec![], vec![aggregate_entry(closed)], now);
            drop(registry);
            let _ = durable(&ops).await;
        }
    }
}

/// Serves an authenticated link until it closes.
async fn run_link(
    ops: Arc<Ops>,
    connection: quinn::Connection,
    agent_id: String,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    admitted: Admitted,
) {
    let (control, mut outbox) = mpsc::unbounded_channel::<Box<ServerMessage>>();
    let link = {
        // Register under the registry lock so a concurrent revocation cannot slip between the
        // check in the handshake and the registration.
        let registry = ops.registry.read().await;
        let enrolled = matches!(
            registry.agents.get(&agent_id).map(|a| &a.enrollment),
            Some(argus_fsm::enrollment::Enrollment::Enrolled { .. })
        );
        if !enrolled {
            connection.close(quinn::VarInt::from_u32(3), b"agent_revoked");
            return;
        }
        let handle = LinkHandle {
            connection: connection.clone(),
            control,
            end_acks: Default::default(),
            verdicts: Default::default(),
        };
        // In a cluster the agent learns where the other nodes are, for when this one goes.
        let nodes = ops.live_nodes.lock().expect("live nodes lock").nodes.clone();
        if !nodes.is_empty() {
            handle.tell(ServerMessage::Nodes { nodes });
        }
        let previous = ops.reach.register(&agent_id, handle.clone());
        if let Some(previous) = previous {
            previous.connection.close(quinn::VarInt::from_u32(4), b"replaced by a newer connection");
        }
        handle
    };
    tracing::info!(agent = %agent_id, remote = %connection.remote_address(), "agent online");
    // In a cluster: this node now holds the agent, superseding any older connection elsewhere.
    // (A node's own store has no presence to record: no blocking task per link.)
    let epoch = if ops.store.cluster().is_some() {
        let (store, agent, node) = (ops.store.clone(), agent_id.clone(), ops.node_id.clone());
        match tokio::task::spawn_blocking(move || store.cluster().map_or(Ok(0), |c| c.claim_presence(&agent, &node)))
            .await
        {
            Ok(Ok(epoch)) => Some(epoch),
            Ok(Err(error)) => {
                tracing::warn!(agent = %agent_id, %error, "presence not recorded");
                None
            }
            Err(_) => None,
        }
    } else {
        None
    };
    // Registered and present: the next agent may authenticate.
    drop(admitted);
    let writer = tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            if write_frame(&mut send, &message).await.is_err() {
                break;
            }
        }
    });
    loop {
        let message = tokio::select! {
            message = read_frame::<AgentMessage>(&mut recv) => message,
            _ = connection.closed() => break,
        };
        match message {
            // Acknowledgements need neither the registry nor the disk: they release waiters.
            Ok(Some(AgentMessage::SessionEndedAck { session_id })) => link.end_acknowledged(&session_id),
            // The agent will run nothing under this grant (SPEC §13): its commands are refused
            // by the agent itself with the same code, and a waiting activation ends it.
            Ok(Some(AgentMessage::GrantRefused { session_id, code })) => {
                tracing::warn!(agent = %agent_id, session = %session_id, %code, "the agent refused a session's grant");
                link.grant_verdict(&session_id, Err(code));
            }
            Ok(Some(AgentMessage::GrantAccepted { session_id })) => link.grant_verdict(&session_id, Ok(())),
            Ok(Some(message)) => {
                // Boxed for the same reason: a message is rare, a link lives long.
                if let Err(error) = Box::pin(handle_agent_message(&ops, &agent_id, message)).await {
                    tracing::warn!(agent = %agent_id, %error.message, "agent message not stored");
                }
                let _ = ops.writer.wait_all().await;
            }
            Ok(None) | Err(_) => break,
        }
    }
    writer.abort();
    ops.reach.unregister(&agent_id, &connection);
    connection.close(quinn::VarInt::from_u32(0), b"bye");
    if let Some(epoch) = epoch {
        let (store, agent) = (ops.store.clone(), agent_id.clone());
        if let Ok(Err(error)) =
            tokio::task::spawn_blocking(move || store.cluster().map_or(Ok(()), |c| c.release_presence(&agent, epoch)))
                .await
        {
            tracing::warn!(agent = %agent_id, %error, "presence not released; retried with the next heartbeat");
            ops.unreleased.lock().expect("unreleased lock").push((agent_id.clone(), epoch));
        }
    }
    let now = now();
    let mut registry = ops.registry.write().await;
    if let Some(mut record) = registry.agents.get(&agent_id).cloned() {
        record.last_seen = Some(now);
        registry.record_quietly(&ops.writer, Write::Agent(record));
    }
    tracing::info!(agent = %agent_id, "agent offline");
}

async fn handle_agent_message(
    ops: &Arc<Ops>,
    agent_id: &str,
    message: AgentMessage,
) -> Result<(), crate::fault::Fault> {
    let now = now();
    let mut registry = ops.registry.write().await;
    let Some(mut record) = registry.agents.get(agent_id).cloned() else { return Ok(()) };
    record.last_seen = Some(now);
    match message {
        AgentMessage::Manifest(manifest) => {
            // The kill switch may have changed while the agent was offline: audit that too.
            let on = manifest.remote_support_on;
            record.manifest = Some(manifest);
            let decision = crate::decide::records::kill_switch(&record, on);
            crate::lifecycle::carry_out(ops, &mut registry, decision, now)?.without_waiting(ops);
        }
        AgentMessage::RemoteSupport { on } => {
            let decision = crate::decide::records::kill_switch(&record, on);
            crate::lifecycle::carry_out(ops, &mut registry, decision, now)?.without_waiting(ops);
        }
        // Handshake messages after the handshake, or replies on the control stream: ignored.
        AgentMessage::Hello(_) | AgentMessage::ProvedHello { .. } | AgentMessage::Proof(_) | AgentMessage::Reply(_) => {
        }
        AgentMessage::SessionEndedAck { .. }
        | AgentMessage::GrantRefused { .. }
        | AgentMessage::GrantAccepted { .. } => {}
    }
    Ok(())
}

/// Whether an agent's `last_seen` is worth a write at `now` (not within the last minute).
fn last_seen_due(last_seen: Option<argus_fsm::Timestamp>, now: argus_fsm::Timestamp) -> bool {
    last_seen.is_none_or(|at| now.0 - at.0 >= LAST_SEEN_RESOLUTION_MS)
}

/// `last_seen` is written on connect at most this often (it is always written on disconnect).
pub const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// Waits until everything staged is on disk, before acknowledging anything to an agent.
async fn durable(ops: &Ops) -> Result<(), LinkError> {
    ops.writer.wait_all().await.map_err(|e| LinkError::Read(format!("store flush failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_fsm::Timestamp;

    #[test]
    fn last_seen_is_written_on_connect_at_most_once_a_minute() {
        let now = Timestamp(10_000_000);
        assert!(last_seen_due(None, now), "never seen: written");
        assert!(!last_seen_due(Some(Timestamp(now.0 - 1)), now), "seen a moment ago (a restart): not written");
        assert!(!last_seen_due(Some(Timestamp(now.0 - LAST_SEEN_RESOLUTION_MS + 1)), now));
        assert!(last_seen_due(Some(Timestamp(now.0 - LAST_SEEN_RESOLUTION_MS)), now));
        assert!(last_seen_due(Some(Timestamp(0)), now));
    }
}
