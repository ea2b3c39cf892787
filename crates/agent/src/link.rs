//! The agent's one outbound QUIC link: handshake, then the control stream (session grants and
//! ends, manifest, kill switch) and one stream per command. Reconnects with full-jitter
//! exponential backoff; a revoked agent keeps backing off at the cap instead of hammering.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use argus_fsm::agent_sessions::{AgentRefusal, AgentSessionEffect, AgentSessionEvent, AgentSessions};
use argus_fsm::handshake::{prove_hello, Hello, Intent};
use argus_fsm::machine::Machine;
use argus_fsm::session::EndReason;
use argus_fsm::wire::{AgentMessage, NodeLoad, Reply, ServerMessage, SessionGrant};
use argus_fsm::Code;
use argus_transport_quic::{exporter, read_frame, write_frame};
use ed25519_dalek::SigningKey;
use serde_json::json;
use tokio::sync::mpsc;

use crate::commands::{Executor, Refusal};
use crate::now;
use crate::settings::write_atomic;

/// First backoff ceiling and the cap (SPEC: ≤ 1 s up to ≤ 60 s).
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// How long one connection attempt may take, the QUIC handshake and the link's Hello and its
/// answer together: short enough that a dead or stalled node drawn after a node died costs
/// seconds, not the failover budget (SPEC §10: online elsewhere within 15 s — the dead link is
/// noticed after the 6 s idle timeout, one stalled node costs 4 s, the next draw avoids it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// How often the running agent looks at the kill-switch file (effect within 1 s).
pub const KILL_SWITCH_POLL: Duration = Duration::from_millis(200);

/// Full jitter: uniform in `[0, min(cap, base · 2^attempt)]`.
pub fn backoff(attempt: u32, random: u64) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(16)).min(BACKOFF_CAP);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(if millis == 0 { 0 } else { random % (millis + 1) })
}

/// How a link ended.
pub enum LinkEnd {
    /// It was up and then closed (server restart, network): retry soon.
    Closed,
    /// The server did not let us in.
    Turned(Turned),
}

/// Why a server did not let the agent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turned {
    /// Refused with this code (revoked, unknown, a bad proof…).
    Refused(Code),
    /// Admission control: come back after this long.
    Busy(Duration),
}

/// The longest wait a server's `Busy` is believed for: the backoff cap (a bad or hostile
/// value cannot park an agent for longer than its own backoff would).
pub const RETRY_AFTER_CAP: Duration = BACKOFF_CAP;

/// How long to wait after a `Busy`: the server's turn plus up to 10 % more (agents given the
/// same turn do not arrive in the same millisecond), never more than the cap.
pub fn retry_after(turn: Duration, random: u64) -> Duration {
    let turn = turn.min(RETRY_AFTER_CAP);
    let spread = turn.as_millis() as u64 / 10;
    let jitter = if spread == 0 { 0 } else { random % (spread + 1) };
    (turn + Duration::from_millis(jitter)).min(RETRY_AFTER_CAP)
}

/// Resolves `HOST:PORT` and returns the address and the TLS server name.
pub async fn resolve(server: &str) -> anyhow::Result<(SocketAddr, String)> {
    let addr = tokio::net::lookup_host(server)
        .await
        .with_context(|| format!("resolving {server}"))?
        .next()
        .ok_or_else(|| anyhow!("{server} has no address"))?;
    let host =
        server.rsplit_once(':').map_or(server, |(h, _)| h).trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((addr, host))
}

/// A server to try, with the load its node had when the cluster last told (none for a
/// configured server the cluster did not name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub address: String,
    pub agents_online: Option<u64>,
}

/// Where to connect: the cluster's live nodes as last told, then any configured server not
/// among them (a node list can be stale or empty; the configured ones are the fallback).
pub fn candidates(configured: &[String], learned: &[NodeLoad]) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = learned
        .iter()
        .map(|node| Candidate { address: node.agent_address.clone(), agents_online: Some(node.agents_online) })
        .collect();
    for server in configured {
        if !all.iter().any(|c| &c.address == server) {
            all.push(Candidate { address: server.clone(), agents_online: None });
        }
    }
    all
}

/// The candidate for this attempt, among the known servers other than those in `avoid` (the
/// one whose link just dropped, and those that failed since) when there are others, drawn with
/// `random` (a fresh random number per attempt). The draw is weighted so that the agents of a node that died fill the others up to
/// an even level: a survivor gets a share of them in proportion to how far it is below the
/// level the cluster would have with the dead node's agents spread evenly (plus one, so no
/// server is never tried). With no loads told (or all equal) that is an even spread.
/// A weighted draw — not "the least loaded first" — because the loads are as old as the last
/// message: thousands of agents all choosing the one that looked emptiest would overload it.
pub fn next_server(candidates: &[Candidate], random: u64, avoid: &[&str]) -> String {
    let others: Vec<&Candidate> = candidates.iter().filter(|c| !avoid.contains(&c.address.as_str())).collect();
    let pool: Vec<&Candidate> = if others.is_empty() { candidates.iter().collect() } else { others };
    if pool.is_empty() {
        return String::new();
    }
    let total: u64 = candidates.iter().filter_map(|c| c.agents_online).fold(0u64, u64::saturating_add);
    let level = total / pool.len() as u64;
    let weights: Vec<u64> =
        pool.iter().map(|c| level.saturating_sub(c.agents_online.unwrap_or(level)).saturating_add(1)).collect();
    let sum: u64 = weights.iter().fold(0u64, |a, w| a.saturating_add(*w));
    let mut point = random % sum.max(1);
    for (candidate, weight) in pool.iter().zip(&weights) {
        if point < *weight {
            return candidate.address.clone();
        }
        point -= weight;
    }
    pool[pool.len() - 1].address.clone()
}

/// A random number from the OS (0 if it has none to give: the draws it feeds are spreads, not
/// secrets).
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).ok();
    u64::from_le_bytes(bytes)
}

/// A client endpoint for this server's address family.
pub fn endpoint_for(server: SocketAddr, ca_pem: &[u8]) -> anyhow::Result<quinn::Endpoint> {
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
    Ok(argus_transport_quic::client_endpoint(bind, ca_pem)?)
}

/// What a successful handshake leaves: the link, its control stream, and the live sessions.
pub type Linked = (quinn::Connection, quinn::SendStream, quinn::RecvStream, Vec<SessionGrant>);

/// Connects and runs the handshake; returns the control stream after `Welcome`.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    server_name: &str,
    hello: Hello,
    passkey: &SigningKey,
) -> anyhow::Result<Result<Linked, Turned>> {
    handshake(endpoint.connect(addr, server_name)?, hello, passkey).await
}

/// [`connect`] with a client configuration of its own (its own TLS session tickets): many
/// simulated agents can share one endpoint and still each resume their own session.
pub async fn connect_with(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    server_name: &str,
    hello: Hello,
    passkey: &SigningKey,
) -> anyhow::Result<Result<Linked, Turned>> {
    handshake(endpoint.connect_with(config, addr, server_name)?, hello, passkey).await
}

async fn handshake(
    connecting: quinn::Connecting,
    hello: Hello,
    passkey: &SigningKey,
) -> anyhow::Result<Result<Linked, Turned>> {
    // A server that stops answering after the QUIC handshake (a paused process) would otherwise
    // hold the agent until the idle timeout.
    tokio::time::timeout(CONNECT_TIMEOUT, handshake_unbounded(connecting, hello, passkey))
        .await
        .map_err(|_| anyhow!("connect timed out"))?
}

async fn handshake_unbounded(
    connecting: quinn::Connecting,
    hello: Hello,
    passkey: &SigningKey,
) -> anyhow::Result<Result<Linked, Turned>> {
    let connection = connecting.await?;
    let (mut send, mut recv) = connection.open_bi().await?;
    // One round trip: the Hello carries the proof over this connection's exporter.
    let proof = prove_hello(&hello, &exporter(&connection)?, passkey);
    write_frame(&mut send, &AgentMessage::ProvedHello { hello, proof }).await?;
    match read_frame::<ServerMessage>(&mut recv).await? {
        Some(ServerMessage::Welcome { sessions }) => Ok(Ok((connection, send, recv, sessions))),
        Some(ServerMessage::Refused { code }) => Ok(Err(Turned::Refused(code))),
        Some(ServerMessage::Busy { retry_after_ms }) => {
            Ok(Err(Turned::Busy(Duration::from_millis(retry_after_ms.into()))))
        }
        other => bail!("unexpected handshake answer: {other:?}"),
    }
}

/// The agent daemon's shared state.
pub struct Daemon {
    pub executor: Arc<Executor>,
    pub passkey: SigningKey,
    /// The sessions the server granted and ended, enforced here (the pure machine).
    pub sessions: Mutex<AgentSessions>,
    /// The endpoint in use, so a shutdown can close the link politely (the server then sees
    /// the agent go offline at once instead of after the idle timeout).
    pub endpoint: Mutex<Option<quinn::Endpoint>>,
    /// The approver policy file as last read (SPEC §13): it is read again when it changes.
    pub policy: Mutex<PolicyFile>,
}

/// What the agent knows of `state/approvers.toml`: the file's identity when last read, and
/// whether it was unreadable then (nothing runs until it is fixed or cleared: a broken policy
/// is never taken for no policy).
#[derive(Debug, Default)]
pub struct PolicyFile {
    stamp: Option<(std::time::SystemTime, u64, u64)>,
    broken: bool,
}

impl PolicyFile {
    /// As read at start (the policy itself went into the session machine).
    pub fn loaded(path: &std::path::Path) -> PolicyFile {
        PolicyFile { stamp: stamp_of(path), broken: false }
    }
}

/// A file's modification time, length and inode: a change to any is a new policy to read.
fn stamp_of(path: &std::path::Path) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

impl Daemon {
    /// Runs forever: connect, serve, back off, repeat.
    pub async fn run(self: Arc<Self>, ca_pem: Vec<u8>) -> anyhow::Result<()> {
        let settings = self.executor.settings.clone();
        let mut attempt: u32 = 0;
        let mut endpoint: Option<quinn::Endpoint> = None;
        // Each attempt draws a candidate (weighted by the loads last told): the agents of a node
        // that went away spread over the others instead of all choosing the first.
        // The server whose link just dropped is not retried first when there are others, nor
        // any that failed to answer since (a dead or paused node is not drawn twice while
        // another may answer).
        let mut failed: Vec<String> = Vec::new();
        loop {
            let candidates = candidates(&settings.servers(), &self.executor.state.load_nodes());
            let avoid: Vec<&str> = failed.iter().map(String::as_str).collect();
            let server = next_server(&candidates, random_u64(), &avoid);
            let outcome = async {
                let (addr, name) = resolve(&server).await?;
                if endpoint.as_ref().is_none_or(|e| e.local_addr().is_ok_and(|l| l.is_ipv4() != addr.is_ipv4())) {
                    let created = endpoint_for(addr, &ca_pem)?;
                    *self.endpoint.lock().expect("endpoint lock") = Some(created.clone());
                    endpoint = Some(created);
                }
                let endpoint = endpoint.as_ref().expect("set above");
                self.status("connecting", None);
                let hello = Hello {
                    agent_id: settings.agent_id.clone(),
                    tenant: settings.tenant.clone(),
                    intent: Intent::Authenticate,
                };
                match connect(endpoint, addr, &name, hello, &self.passkey).await? {
                    Ok((connection, send, recv, sessions)) => {
                        self.status("connected", None);
                        tracing::info!(server = %addr, at_ms = now().0, "connected and authenticated");
                        self.clone().serve(connection, send, recv, sessions).await;
                        Ok::<LinkEnd, anyhow::Error>(LinkEnd::Closed)
                    }
                    Err(turned) => Ok(LinkEnd::Turned(turned)),
                }
            }
            .await;
            attempt = match outcome {
                Ok(LinkEnd::Turned(Turned::Busy(turn))) => {
                    // The server's turn replaces the backoff; the attempt count stays.
                    let wait = retry_after(turn, random_u64());
                    tracing::info!(wait_ms = wait.as_millis() as u64, "the server is busy; coming back at its turn");
                    self.status("waiting", None);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Ok(LinkEnd::Closed) => {
                    failed = vec![server];
                    0
                }
                Ok(LinkEnd::Turned(Turned::Refused(code))) => {
                    tracing::warn!(%code, "the server refused this agent");
                    self.status("refused", Some(code.as_str()));
                    // Revoked or unknown: nothing will change soon; stay at the cap.
                    32
                }
                Err(error) => {
                    tracing::info!(error = %format!("{error:#}"), "link down");
                    self.status("disconnected", None);
                    if !failed.contains(&server) {
                        failed.push(server);
                    }
                    attempt.saturating_add(1)
                }
            };
            let wait = backoff(attempt, random_u64());
            tokio::time::sleep(wait).await;
        }
    }

    /// Closes the link and waits briefly for the close to reach the server.
    pub async fn shutdown(&self) {
        let endpoint = self.endpoint.lock().expect("endpoint lock").take();
        if let Some(endpoint) = endpoint {
            endpoint.close(quinn::VarInt::from_u32(0), b"agent stopping");
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
        self.status("stopped", None);
    }

    fn status(&self, connection: &str, refused: Option<&str>) {
        let status = json!({ "connection": connection, "refused": refused, "since": crate::rfc3339(now()) });
        let _ = write_atomic(&self.executor.state.status(), status.to_string().as_bytes(), 0o644);
    }

    /// Serves one authenticated link until it closes.
    async fn serve(
        self: Arc<Self>,
        connection: quinn::Connection,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        grants: Vec<SessionGrant>,
    ) {
        // What the server holds live now; ends seen here stay ends.
        let (outbox, mut outgoing) = mpsc::unbounded_channel::<AgentMessage>();
        let _ = self.perform(AgentSessionEvent::Welcome(grants), &outbox);
        let _ = outbox.send(AgentMessage::Manifest(self.executor.manifest(now())));
        let writer = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if write_frame(&mut send, &message).await.is_err() {
                    break;
                }
            }
        });
        let watcher = tokio::spawn(self.clone().watch_kill_switch(outbox.clone()));
        let commands = tokio::spawn(self.clone().accept_commands(connection.clone(), outbox.clone()));
        loop {
            let message = tokio::select! {
                message = read_frame::<ServerMessage>(&mut recv) => message,
                _ = connection.closed() => break,
            };
            match message {
                Ok(Some(ServerMessage::SessionGranted(grant))) => {
                    let _ = self.perform(AgentSessionEvent::Granted(grant), &outbox);
                }
                Ok(Some(ServerMessage::SessionEnded { session_id, reason })) => {
                    // Processed first, acknowledged after: the server answers the operator's
                    // `deactivate` only once this agent refuses the session.
                    let _ = self.perform(AgentSessionEvent::Ended { session_id, reason }, &outbox);
                }
                Ok(Some(ServerMessage::RefreshManifest)) => {
                    let _ = outbox.send(AgentMessage::Manifest(self.executor.manifest(now())));
                }
                Ok(Some(ServerMessage::Nodes { nodes })) => {
                    if let Err(error) = self.executor.state.save_nodes(&nodes) {
                        tracing::warn!(error = %format!("{error:#}"), "the cluster's node list was not kept");
                    }
                }
                Ok(Some(other)) => tracing::debug!(?other, "ignored control message"),
                Ok(None) | Err(_) => break,
            }
        }
        watcher.abort();
        commands.abort();
        writer.abort();
        connection.close(quinn::VarInt::from_u32(0), b"bye");
        self.status("disconnected", None);
    }

    /// Polls the persisted kill switch; a change is reported to the server and, when turned
    /// off, ends every local session at once.
    async fn watch_kill_switch(self: Arc<Self>, outbox: mpsc::UnboundedSender<AgentMessage>) {
        let mut on = self.executor.state.remote_support_on();
        loop {
            tokio::time::sleep(KILL_SWITCH_POLL).await;
            // The approver policy is watched as closely: the server's view of it (the manifest)
            // follows a change without waiting for the next session.
            self.refresh_policy(&mut self.sessions.lock().expect("sessions lock"), &outbox);
            let now_on = self.executor.state.remote_support_on();
            if now_on != on {
                on = now_on;
                if !on {
                    let _ = self.perform(AgentSessionEvent::KillSwitchOff, &outbox);
                }
                tracing::info!(remote_support_on = on, "kill switch changed");
                if outbox.send(AgentMessage::RemoteSupport { on }).is_err() {
                    break;
                }
            }
        }
    }

    /// One stream per command: read the request, enforce the session, run, reply.
    async fn accept_commands(
        self: Arc<Self>,
        connection: quinn::Connection,
        outbox: mpsc::UnboundedSender<AgentMessage>,
    ) {
        while let Ok((mut send, mut recv)) = connection.accept_bi().await {
            let daemon = self.clone();
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let Ok(Some(ServerMessage::Request { grant, command })) = read_frame::<ServerMessage>(&mut recv).await
                else {
                    return;
                };
                let reply = match daemon.admit(&grant, &outbox) {
                    Err(refusal) => Reply::Refused { code: refusal.code, message: refusal.message },
                    Ok(()) => {
                        let executor = daemon.executor.clone();
                        let refresh = matches!(command, argus_fsm::command::Command::RefreshCapabilities);
                        let name = command.name();
                        let started = now();
                        let result = tokio::task::spawn_blocking(move || executor.run(&command, started)).await;
                        match result {
                            Ok(Ok(value)) => {
                                // This machine's own record of what ran on it, and in which
                                // session (a tenant admin's, and the nemesis checker's).
                                tracing::info!(
                                    session = %grant.session_id,
                                    command = %name,
                                    patch_id = %value["patch_id"].as_str().unwrap_or("-"),
                                    at_ms = started.0,
                                    "command executed"
                                );
                                if refresh {
                                    let _ = outbox.send(AgentMessage::Manifest(daemon.executor.manifest(now())));
                                }
                                Reply::Ok { result_json: value.to_string() }
                            }
                            Ok(Err(refusal)) => Reply::Refused { code: refusal.code, message: refusal.message },
                            Err(_) => Reply::Refused { code: Code::Internal, message: "the command failed".into() },
                        }
                    }
                };
                if write_frame(&mut send, &AgentMessage::Reply(reply)).await.is_ok() {
                    let _ = send.finish();
                    let _ = send.stopped().await;
                }
            });
        }
    }

    /// The agent's own enforcement: kill switch first, then a live session this agent has not
    /// seen end (the grant travels with the command, so stream order does not matter), approved
    /// when a policy is set.
    fn admit(&self, grant: &SessionGrant, outbox: &mpsc::UnboundedSender<AgentMessage>) -> Result<(), Refusal> {
        let on = self.executor.state.remote_support_on();
        self.perform(AgentSessionEvent::Command { grant: grant.clone(), remote_support_on: on }, outbox)
    }

    /// Hands `event` to the session machine (with the approver policy read again first if its
    /// file changed) and performs the effects, under the machine's lock: a request's use is on
    /// disk before another command of its session can be admitted.
    fn perform(&self, event: AgentSessionEvent, outbox: &mpsc::UnboundedSender<AgentMessage>) -> Result<(), Refusal> {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let broken = self.refresh_policy(&mut sessions, outbox);
        let grant_id = match &event {
            AgentSessionEvent::Granted(grant) | AgentSessionEvent::Command { grant, .. } => {
                Some(grant.session_id.clone())
            }
            _ => None,
        };
        if let (true, Some(session_id)) = (broken, grant_id) {
            // Nothing is learnt or run while the policy cannot be read.
            let code = Code::ApprovalInvalid;
            if matches!(event, AgentSessionEvent::Granted(_)) {
                let _ = outbox.send(AgentMessage::GrantRefused { session_id, code });
            }
            return Err(Refusal::new(
                code,
                "state/approvers.toml is not a valid policy: nothing runs until it is fixed or cleared",
            ));
        }
        let effects = sessions.handle(event, now()).map_err(|refused| {
            if let AgentRefusal::Approval(error) = refused.error {
                tracing::warn!(%error, "a session's approvals were refused");
            }
            Refusal::new(refused.error.code(), refused.error.to_string())
        })?;
        for effect in effects {
            match effect {
                AgentSessionEffect::AcknowledgeEnd { session_id } => {
                    let _ = outbox.send(AgentMessage::SessionEndedAck { session_id });
                }
                AgentSessionEffect::Ended { session_id, reason } => {
                    tracing::info!(session = %session_id, reason = reason.as_str(), "session ended here");
                }
                AgentSessionEffect::AcceptGrant { session_id } => {
                    let _ = outbox.send(AgentMessage::GrantAccepted { session_id });
                }
                AgentSessionEffect::RefuseGrant { session_id, code } => {
                    tracing::warn!(session = %session_id, %code, "a session's grant was refused: nothing runs under it");
                    let _ = outbox.send(AgentMessage::GrantRefused { session_id, code });
                }
                AgentSessionEffect::RememberRequest(used) => {
                    if let Err(error) = self.executor.state.save_used(&sessions.used_requests()) {
                        // Not remembered, not used: a restart could let the request open
                        // another session, so this one ends here before anything runs.
                        tracing::error!(error = %format!("{error:#}"), session = %used.session_id, "an approval's use could not be kept on disk; the session ends here");
                        let ended =
                            AgentSessionEvent::Ended { session_id: used.session_id, reason: EndReason::Expired };
                        let _ = sessions.handle(ended, now());
                        return Err(Refusal::new(
                            Code::Internal,
                            "the agent could not keep the approval's use on disk",
                        ));
                    }
                    tracing::info!(
                        request = %used.request_id,
                        session = %used.session_id,
                        remember_until = used.remember_until.0,
                        "an approved access request opened a session"
                    );
                }
            }
        }
        Ok(())
    }

    /// Reads the approver policy again if its file changed since it was last read (and tells
    /// the server the new manifest); whether it is unreadable now.
    fn refresh_policy(&self, sessions: &mut AgentSessions, outbox: &mpsc::UnboundedSender<AgentMessage>) -> bool {
        let path = self.executor.state.approvers();
        let mut file = self.policy.lock().expect("policy lock");
        let stamp = stamp_of(&path);
        if stamp != file.stamp {
            file.stamp = stamp;
            match self.executor.state.load_policy() {
                Ok(policy) => {
                    tracing::info!(threshold = policy.as_ref().map_or(0, |p| p.threshold()), "approver policy read");
                    file.broken = false;
                    let _ = sessions.handle(AgentSessionEvent::Policy(policy), now());
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "the approver policy is unreadable: nothing runs until it is fixed or cleared");
                    file.broken = true;
                }
            }
            let _ = outbox.send(AgentMessage::Manifest(self.executor.manifest(now())));
        }
        file.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_servers_turn_is_kept_with_a_little_jitter_and_capped() {
        // The turn itself, plus at most 10 %.
        let two = Duration::from_millis(2_000);
        for random in [0, 1, 37, 99, 100, u64::MAX] {
            let wait = retry_after(two, random);
            assert!(wait >= two && wait <= Duration::from_millis(2_200), "{wait:?}");
        }
        assert_eq!(retry_after(two, 0), two);
        assert_eq!(retry_after(two, 200), Duration::from_millis(2_200));
        // Nothing to spread: no turn, no jitter.
        assert_eq!(retry_after(Duration::ZERO, 12345), Duration::ZERO);
        // A hostile or absurd turn (u32::MAX ms is 49 days) cannot park the agent beyond its
        // own backoff cap.
        let absurd = Duration::from_millis(u32::MAX.into());
        assert_eq!(retry_after(absurd, 0), RETRY_AFTER_CAP);
        assert_eq!(retry_after(absurd, u64::MAX), RETRY_AFTER_CAP);
    }

    fn told(loads: &[(&str, u64)]) -> Vec<Candidate> {
        loads.iter().map(|(a, n)| Candidate { address: a.to_string(), agents_online: Some(*n) }).collect()
    }

    /// How 10,000 agents drawing with spread random numbers split over the candidates.
    fn spread(list: &[Candidate], avoid: &[&str]) -> std::collections::BTreeMap<String, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..10_000u64 {
            let random = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
            *counts.entry(next_server(list, random, avoid)).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn the_agents_of_a_dead_node_spread_evenly_over_equal_survivors() {
        let list = told(&[("a:1", 10_000), ("b:1", 10_000), ("c:1", 10_000)]);
        let counts = spread(&list, &["b:1"]);
        assert_eq!(counts.get("b:1"), None, "b:1 just dropped");
        let (a, c) = (counts["a:1"], counts["c:1"]);
        assert!((4_500..=5_500).contains(&a) && a + c == 10_000, "{counts:?}");
        // Never told any load (or an older node list): even too.
        let bare: Vec<Candidate> =
            ["a:1", "b:1", "c:1"].iter().map(|a| Candidate { address: a.to_string(), agents_online: None }).collect();
        let counts = spread(&bare, &["b:1"]);
        assert!((4_500..=5_500).contains(&counts["a:1"]), "{counts:?}");
    }

    #[test]
    fn a_less_loaded_survivor_takes_more_of_a_dead_nodes_agents() {
        // b dies with 10,000; a holds 5,000 and c 10,000: an even level is 12,500 each, so a
        // should take three quarters of b's agents and c one quarter.
        let list = told(&[("a:1", 5_000), ("b:1", 10_000), ("c:1", 10_000)]);
        let counts = spread(&list, &["b:1"]);
        let share = counts["a:1"] as f64 / 10_000.0;
        assert!((0.70..=0.80).contains(&share), "{counts:?}");
        // A survivor already above the level gets almost none.
        let list = told(&[("a:1", 0), ("b:1", 10_000), ("c:1", 20_000)]);
        let counts = spread(&list, &["b:1"]);
        assert!(counts.get("c:1").copied().unwrap_or(0) < 10, "{counts:?}");
    }

    #[test]
    fn servers_that_failed_since_the_link_dropped_are_not_drawn_while_another_may_answer() {
        // b died (its link dropped) and a did not answer the next attempt (paused): only c.
        let list = told(&[("a:1", 100), ("b:1", 100), ("c:1", 100)]);
        let counts = spread(&list, &["b:1", "a:1"]);
        assert_eq!(counts.get("c:1"), Some(&10_000), "{counts:?}");
        // All of them failed: all are drawn again (one may be back), evenly.
        let counts = spread(&list, &["b:1", "a:1", "c:1"]);
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(counts.values().all(|n| (3_000..=3_700).contains(n)), "{counts:?}");
    }

    #[test]
    fn the_only_server_is_retried_and_no_server_gives_nothing() {
        let one = told(&[("a:1", 3)]);
        assert_eq!(next_server(&one, 12345, &["a:1"]), "a:1", "the only server is retried");
        assert_eq!(next_server(&[], 12345, &[]), "");
        // Configured servers the cluster never named are still drawn.
        let list = candidates(&["x:1".to_string()], &[NodeLoad { agent_address: "a:1".into(), agents_online: 0 }]);
        let counts = spread(&list, &[]);
        assert!(counts["x:1"] > 1_000 && counts["a:1"] > 1_000, "{counts:?}");
    }

    #[test]
    fn the_told_nodes_come_first_and_configured_servers_stay_as_a_fallback() {
        let configured = vec!["a:1".to_string(), "b:1".to_string()];
        let addresses = |list: Vec<Candidate>| list.into_iter().map(|c| c.address).collect::<Vec<_>>();
        assert_eq!(addresses(candidates(&configured, &[])), configured, "never told: the configured servers");
        let learned = vec![
            NodeLoad { agent_address: "c:1".into(), agents_online: 1 },
            NodeLoad { agent_address: "b:1".into(), agents_online: 2 },
        ];
        assert_eq!(addresses(candidates(&configured, &learned)), vec!["c:1", "b:1", "a:1"], "no address twice");
        assert_eq!(candidates(&configured, &learned)[2].agents_online, None);
    }

    #[test]
    fn backoff_starts_under_a_second_and_caps_at_sixty() {
        for random in [0, 1, 499, 500, 501, u64::MAX] {
            assert!(backoff(0, random) <= Duration::from_millis(500));
            assert!(backoff(1, random) <= Duration::from_secs(1));
            assert!(backoff(40, random) <= BACKOFF_CAP);
        }
        assert_eq!(backoff(40, 60_000), BACKOFF_CAP);
        assert_eq!(backoff(3, 0), Duration::ZERO);
    }
}

#[cfg(test)]
mod enforcement_tests {
    use super::*;
    use crate::settings::{Settings, StateDir};
    use argus_fsm::session::EndReason;
    use std::time::Instant;

    fn daemon(dir: &std::path::Path) -> Daemon {
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let executor = Executor {
            settings: Settings { agent_id: "a1".into(), tenant: "T1".into(), server: "127.0.0.1:1".into() },
            state: StateDir::new(dir),
            patch_key: SigningKey::from_bytes(&[1; 32]).verifying_key(),
            replay: Mutex::new(Default::default()),
            started: Instant::now(),
        };
        Daemon {
            executor: Arc::new(executor),
            passkey: SigningKey::from_bytes(&[2; 32]),
            sessions: Mutex::new(AgentSessions::new("T1")),
            endpoint: Mutex::new(None),
            policy: Mutex::default(),
        }
    }

    /// Admits as a command stream would, with a control stream nobody reads.
    fn admit(daemon: &Daemon, grant: &SessionGrant) -> Result<(), Refusal> {
        daemon.admit(grant, &mpsc::unbounded_channel().0)
    }

    fn grant(id: &str, expires_in_ms: i64) -> SessionGrant {
        SessionGrant {
            session_id: id.into(),
            tenant: "T1".into(),
            owner: "op".into(),
            expires_at: now().plus_millis(expires_in_ms),
            approval: None,
        }
    }

    #[test]
    fn agent_refuses_commands_outside_a_live_granted_session_whatever_the_server_asks() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = daemon(dir.path());
        let live = grant("ses_live", 60_000);
        assert!(admit(&daemon, &live).is_ok(), "a command may arrive before its grant");
        assert_eq!(admit(&daemon, &grant("ses_lapsed", -1)).unwrap_err().code, Code::SessionExpired);
        let ended = AgentSessionEvent::Ended { session_id: "ses_live".into(), reason: EndReason::Deactivated };
        daemon.sessions.lock().unwrap().handle(ended, now()).unwrap();
        assert_eq!(admit(&daemon, &live).unwrap_err().code, Code::SessionExpired, "an end is final");
        let foreign = SessionGrant { tenant: "T2".into(), ..grant("ses_other", 60_000) };
        assert_eq!(admit(&daemon, &foreign).unwrap_err().code, Code::SessionNotFound);
    }

    #[test]
    fn kill_switch_refuses_even_a_live_session() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = daemon(dir.path());
        let live = grant("ses_live", 60_000);
        daemon.sessions.lock().unwrap().handle(AgentSessionEvent::Granted(live.clone()), now()).unwrap();
        daemon.executor.state.set_remote_support(false).unwrap();
        assert_eq!(admit(&daemon, &live).unwrap_err().code, Code::RemoteSupportOff);
    }
}
