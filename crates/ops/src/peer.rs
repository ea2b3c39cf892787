//! The peer link between `argus-ops` nodes (SPEC §10): QUIC with mutual TLS, both sides
//! presenting a certificate of the cluster CA. A node that is asked about an agent another node
//! holds forwards just the part that needs the agent's link — relay a command, tell it of a
//! session's end or grant — one hop, after doing everything else itself (gate, session checks,
//! audit). So answers, codes and audit records are the same whichever node an operator uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_fsm::wire::{PeerReply, PeerRequest, Reply};
use argus_fsm::Code;
use argus_transport_quic::{read_frame, write_frame, PEER_SERVER_NAME};

use crate::error::ApiError;
use crate::state::Ops;

/// How long a peer has to answer anything but a relayed command.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(8);

/// This node's side of the peer links: one endpoint, and one connection per peer node,
/// opened on first use and replaced when it closes.
pub struct Peers {
    endpoint: quinn::Endpoint,
    /// Where the peers' addresses are (the nodes table).
    store: Arc<dyn crate::store::Store>,
    connections: tokio::sync::Mutex<HashMap<String, quinn::Connection>>,
    /// Peer addresses by node ID, as the store last said.
    addresses: Mutex<HashMap<String, std::net::SocketAddr>>,
}

impl Peers {
    /// The peer side of a node listening on `endpoint`.
    pub fn new(endpoint: quinn::Endpoint, store: Arc<dyn crate::store::Store>) -> Peers {
        Peers { endpoint, store, connections: Default::default(), addresses: Default::default() }
    }

    /// Where this node's peer link listens.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Closes every peer link (shutdown).
    pub fn close(&self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"node shutting down");
    }

    async fn connection(&self, node: &str) -> Result<quinn::Connection, ApiError> {
        let mut connections = self.connections.lock().await;
        if let Some(connection) = connections.get(node) {
            if connection.close_reason().is_none() {
                return Ok(connection.clone());
            }
        }
        let cached = self.addresses.lock().expect("peer addresses lock").get(node).copied();
        let address = match cached {
            Some(address) => address,
            None => {
                let store = self.store.clone();
                let nodes = tokio::task::spawn_blocking(move || store.nodes())
                    .await
                    .map_err(|_| ApiError::from(Code::Internal))?
                    .map_err(|error| crate::error::store_error(&error))?;
                let mut addresses = self.addresses.lock().expect("peer addresses lock");
                for info in nodes {
                    if let Some(peer) = info.peer.and_then(|p| p.parse().ok()) {
                        addresses.insert(info.node_id, peer);
                    }
                }
                addresses.get(node).copied().ok_or(Code::AgentOffline)?
            }
        };
        let connecting =
            self.endpoint.connect(address, PEER_SERVER_NAME).map_err(|_| ApiError::from(Code::AgentOffline))?;
        let connection = match tokio::time::timeout(PEER_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => connection,
            _ => {
                // The address may be old (the node restarted elsewhere): ask the store next time.
                self.addresses.lock().expect("peer addresses lock").remove(node);
                tracing::warn!(%node, %address, "peer link could not be opened");
                return Err(Code::AgentOffline.into());
            }
        };
        connections.insert(node.to_string(), connection.clone());
        Ok(connection)
    }

    /// Sends `request` to `node` and waits (bounded by `timeout`) for its answer. A peer that
    /// cannot be reached answers like an offline agent.
    pub async fn ask(&self, node: &str, request: &PeerRequest, timeout: Duration) -> Result<PeerReply, ApiError> {
        self.exchange(node, request, timeout).await.map_err(|failure| failure.error)
    }

    /// [`Peers::ask`], telling apart a request that never left this node (`sent: false`: safe
    /// to send elsewhere) from one lost on the way or unanswered.
    async fn exchange(&self, node: &str, request: &PeerRequest, timeout: Duration) -> Result<PeerReply, Failure> {
        let unsent = |error: ApiError| Failure { sent: false, error };
        let connection = self.connection(node).await.map_err(unsent)?;
        let (mut send, mut recv) =
            connection.open_bi().await.map_err(|_| unsent(ApiError::from(Code::AgentOffline)))?;
        let exchange = async {
            write_frame(&mut send, request).await.map_err(|_| ApiError::from(Code::AgentOffline))?;
            let _ = send.finish();
            match read_frame::<PeerReply>(&mut recv).await {
                Ok(Some(reply)) => Ok(reply),
                _ => Err(ApiError::from(Code::AgentOffline)),
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => answer.map_err(|error| Failure { sent: true, error }),
            Err(_) => Err(Failure { sent: true, error: Code::AgentTimeout.into() }),
        }
    }
}

/// A peer request that failed, and whether it may have reached the peer.
struct Failure {
    sent: bool,
    error: ApiError,
}

/// The outcome of relaying through another node.
pub enum Routed {
    /// The holder answered (the agent's reply or refusal), or the request was lost after it
    /// left: not to be sent again.
    Answer(Result<String, ApiError>),
    /// The agent is not on that node (it moved, or the node is unreachable): nothing was run.
    NotThere,
}

/// Relays a command through the node holding the agent: the agent's reply as JSON text, or its
/// refusal with the agent's code; or that the agent is not there.
pub async fn relay_through(
    ops: &Ops,
    node: &str,
    agent_id: &str,
    grant: argus_fsm::wire::SessionGrant,
    command: &argus_fsm::command::Command,
) -> Routed {
    let Some(peers) = ops.peers.get() else { return Routed::NotThere };
    let request = PeerRequest::Relay { agent_id: agent_id.to_string(), grant, command: command.clone() };
    // The holder waits up to the command timeout for its agent; allow for the hop.
    let timeout = crate::http::sessions::COMMAND_TIMEOUT + Duration::from_secs(2);
    match peers.exchange(node, &request, timeout).await {
        Ok(PeerReply::Relayed(Reply::Ok { result_json })) => Routed::Answer(Ok(result_json)),
        Ok(PeerReply::Relayed(Reply::Refused { code, message })) => Routed::Answer(Err(ApiError::new(code, message))),
        Ok(PeerReply::Done | PeerReply::NotHere) => Routed::NotThere,
        Err(Failure { sent: false, .. }) => Routed::NotThere,
        Err(Failure { sent: true, error }) => Routed::Answer(Err(error)),
    }
}

/// Tells the agent held by `node` that a session ended; the receiver resolves when that node
/// answers (its agent acknowledged, or its own bounded wait passed), or is dropped on failure.
pub fn end_through(
    ops: &Ops,
    node: String,
    agent_id: &str,
    session_id: &str,
    reason: argus_fsm::session::EndReason,
) -> Option<tokio::sync::oneshot::Receiver<()>> {
    let peers = ops.peers.get()?.clone();
    let (done, ack) = tokio::sync::oneshot::channel();
    let request =
        PeerRequest::EndSession { agent_id: agent_id.to_string(), session_id: session_id.to_string(), reason };
    tokio::spawn(async move {
        if let Ok(PeerReply::Done) = peers.ask(&node, &request, PEER_TIMEOUT).await {
            let _ = done.send(());
        }
    });
    Some(ack)
}

/// Tells the agent held by `node` about a new session (best effort: the grant also travels
/// with every command).
pub fn grant_through(ops: &Ops, node: String, agent_id: &str, grant: argus_fsm::wire::SessionGrant) {
    let Some(peers) = ops.peers.get().cloned() else { return };
    let request = PeerRequest::Grant { agent_id: agent_id.to_string(), grant };
    tokio::spawn(async move {
        let _ = peers.ask(&node, &request, PEER_TIMEOUT).await;
    });
}

/// Accepts peer links until the endpoint closes. The TLS layer has already refused anything
/// without a cluster-CA certificate; every request is then checked where it runs ([`check`]).
///
/// Like the agent listener (SPEC §12 "Floods"), the accept loop never waits: handshakes in
/// progress are bounded in all and per address, an unvalidated address is asked for a Retry
/// under load, and a handshake not complete in 5 s is dropped. A connection established (a
/// cluster-CA certificate presented) holds no place.
pub async fn serve(ops: Arc<Ops>, endpoint: quinn::Endpoint) {
    use crate::link::intake::{Decision, Intake};
    let intake = Arc::new(Mutex::new(Intake::new(crate::link::intake::PER_ADDRESS)));
    while let Some(incoming) = endpoint.accept().await {
        let ip = incoming.remote_address().ip();
        match intake.lock().expect("peer intake lock").decide(ip, incoming.remote_address_validated()) {
            Decision::Accept => {}
            Decision::Retry => {
                if let Err(error) = incoming.retry() {
                    error.into_incoming().ignore();
                }
                continue;
            }
            Decision::Refuse(_) => {
                incoming.refuse();
                continue;
            }
        }
        let (ops, intake) = (ops.clone(), intake.clone());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(crate::link::intake::QUIC_HANDSHAKE_TIMEOUT, incoming).await;
            intake.lock().expect("peer intake lock").done(ip);
            let Ok(Ok(connection)) = handshake else { return };
            let Some(fingerprint) = peer_fingerprint(&connection) else { return };
            let remote = connection.remote_address();
            while let Ok((send, recv)) = connection.accept_bi().await {
                tokio::spawn(answer(ops.clone(), fingerprint.clone(), remote, send, recv));
            }
        });
    }
}

/// SHA-256 (hex) of the certificate a peer presented.
fn peer_fingerprint(connection: &quinn::Connection) -> Option<String> {
    let identity = connection.peer_identity()?;
    let certificates = identity.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok()?;
    certificates.first().map(|cert| hex::encode(argus_fsm::signed::sha256(cert)))
}

/// Why relayed work was refused (the `peer_relay_refused` record's `why`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The certificate is not that of a node the store knows as alive.
    NotALiveNode,
    /// No such session in the store.
    NoSuchSession,
    /// The session is not live (a command or a grant for an ended one).
    SessionNotLive,
    /// The session belongs to another agent, tenant or operator than the request says.
    SessionMismatch,
    /// The store could not be asked: nothing unchecked is run.
    StoreUnavailable,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotALiveNode => "not_a_live_node",
            Refusal::NoSuchSession => "no_such_session",
            Refusal::SessionNotLive => "session_not_live",
            Refusal::SessionMismatch => "session_mismatch",
            Refusal::StoreUnavailable => "store_unavailable",
        }
    }
}

/// What a relayed request claims about its session.
pub struct Claim<'a> {
    pub agent_id: &'a str,
    pub session_id: &'a str,
    /// `(tenant, operator)` for a command or a grant; none for an end (which names no more).
    pub holder: Option<(&'a str, &'a str)>,
    /// Whether the session must still be live (a command, a grant) or may have ended (an end).
    pub live: bool,
}

/// The rule for a relayed request against the session as the store holds it (pure).
pub fn judge(
    claim: &Claim<'_>,
    stored: Option<&argus_fsm::session::Session>,
    now: argus_fsm::Timestamp,
) -> Result<(), Refusal> {
    let session = stored.ok_or(Refusal::NoSuchSession)?;
    if session.agent_id != claim.agent_id {
        return Err(Refusal::SessionMismatch);
    }
    if let Some((tenant, owner)) = claim.holder {
        if session.tenant != tenant || session.owner != owner {
            return Err(Refusal::SessionMismatch);
        }
    }
    if claim.live && !session.is_live(now) {
        return Err(Refusal::SessionNotLive);
    }
    Ok(())
}

/// Checks a relayed request where it runs (SPEC §10): from a peer whose certificate names a node
/// the store knows as alive, for a session the store holds as live for that agent, tenant and
/// operator. Answers the peer's node ID, or the refusal (audited by the caller).
async fn check(ops: &Arc<Ops>, fingerprint: &str, claim: &Claim<'_>) -> Result<String, (Option<String>, Refusal)> {
    let store = ops.store.clone();
    let (fingerprint, session_id) = (fingerprint.to_string(), claim.session_id.to_string());
    let looked_up = tokio::task::spawn_blocking(move || {
        let node = store.live_node_by_peer_cert(&fingerprint)?;
        let session = match &node {
            Some(_) => store.session_by_id(&session_id)?,
            None => None,
        };
        Ok::<_, crate::store::StoreError>((node, session))
    })
    .await;
    let (node, session) = match looked_up {
        Ok(Ok(found)) => found,
        _ => return Err((None, Refusal::StoreUnavailable)),
    };
    let Some(node) = node else { return Err((None, Refusal::NotALiveNode)) };
    match judge(claim, session.as_ref(), crate::time_format::now()) {
        Ok(()) => Ok(node),
        Err(refusal) => Err((Some(node), refusal)),
    }
}

/// Audits one refused relay (`peer_relay_refused`, with the peer's node ID when known).
async fn audit_refusal(
    ops: &Arc<Ops>,
    peer: Option<&str>,
    remote: std::net::SocketAddr,
    kind: &'static str,
    claim: &Claim<'_>,
    refusal: Refusal,
) {
    tracing::warn!(peer = peer.unwrap_or("-"), %remote, kind, why = refusal.as_str(), "relayed work refused");
    let actor = peer.map_or_else(|| "system".to_string(), |node| format!("node:{node}"));
    let mut entry = crate::store::audit::AuditEntry::new(crate::store::audit::AuditEvent::PeerRelayRefused, actor)
        .agent(claim.agent_id)
        .details(serde_json::json!({
            "peer_node": peer,
            "remote": remote.to_string(),
            "request": kind,
            "why": refusal.as_str(),
            "claimed_session": claim.session_id,
        }));
    // Name the tenant only when the agent really belongs to it (a claim is untrusted input).
    let tenant = ops.registry.read().await.agents.get(claim.agent_id).map(|a| a.enrollment.tenant().to_string());
    if let Some(tenant) = tenant {
        entry = entry.tenant(tenant);
    }
    if let Err(error) = ops.append_audit(vec![entry], crate::time_format::now()).await {
        tracing::warn!(error = %error.message, "peer_relay_refused not recorded");
    }
    let _ = ops.durability.wait_all().await;
}

async fn answer(
    ops: Arc<Ops>,
    fingerprint: String,
    remote: std::net::SocketAddr,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let Ok(Some(request)) = read_frame::<PeerRequest>(&mut recv).await else { return };
    let (kind, claim) = match &request {
        PeerRequest::Relay { agent_id, grant, .. } => (
            "relay",
            Claim { agent_id, session_id: &grant.session_id, holder: Some((&grant.tenant, &grant.owner)), live: true },
        ),
        PeerRequest::Grant { agent_id, grant } => (
            "grant",
            Claim { agent_id, session_id: &grant.session_id, holder: Some((&grant.tenant, &grant.owner)), live: true },
        ),
        PeerRequest::EndSession { agent_id, session_id, .. } => {
            ("end", Claim { agent_id, session_id, holder: None, live: false })
        }
    };
    let reply = match check(&ops, &fingerprint, &claim).await {
        Err((peer, refusal)) => {
            audit_refusal(&ops, peer.as_deref(), remote, kind, &claim, refusal).await;
            match request {
                PeerRequest::Relay { .. } => PeerReply::Relayed(Reply::Refused {
                    code: Code::SessionNotFound,
                    message: format!("the holding node refused the relayed command ({})", refusal.as_str()),
                }),
                _ => PeerReply::NotHere,
            }
        }
        Ok(_peer) => run(&ops, request).await,
    };
    let _ = write_frame(&mut send, &reply).await;
    let _ = send.finish();
}

/// Runs a relayed request that passed [`check`].
async fn run(ops: &Arc<Ops>, request: PeerRequest) -> PeerReply {
    match request {
        PeerRequest::Relay { agent_id, grant, command } => {
            if !ops.is_online(&agent_id) {
                PeerReply::NotHere
            } else {
                match crate::http::sessions::relay(ops, &agent_id, grant, &command).await {
                    Ok(result_json) => PeerReply::Relayed(Reply::Ok { result_json }),
                    Err(error) => PeerReply::Relayed(Reply::Refused { code: error.code, message: error.message }),
                }
            }
        }
        PeerRequest::EndSession { agent_id, session_id, reason } => {
            let link = ops.links.lock().expect("links lock").get(&agent_id).cloned();
            match link {
                Some(link) => {
                    let ack = link.send_end(&session_id, reason);
                    crate::lifecycle::agent_refuses([ack]).await;
                    PeerReply::Done
                }
                None => PeerReply::NotHere,
            }
        }
        PeerRequest::Grant { agent_id, grant } => match ops.links.lock().expect("links lock").get(&agent_id) {
            Some(link) => {
                link.tell(argus_fsm::wire::ServerMessage::SessionGranted(grant));
                PeerReply::Done
            }
            None => PeerReply::NotHere,
        },
    }
}

#[cfg(test)]
mod judge_tests {
    use super::{judge, Claim, Refusal};
    use argus_fsm::session::{EndReason, Session, SessionState};
    use argus_fsm::Timestamp;

    fn session(state: SessionState) -> Session {
        Session {
            id: "sess_1".into(),
            token_hash: [0; 32],
            tenant: "T1".into(),
            agent_id: "a1".into(),
            owner: "op@example.com".into(),
            reason: "r".into(),
            started_at: Timestamp(0),
            expires_at: Timestamp(10_000),
            state,
        }
    }

    fn command<'a>(agent_id: &'a str, tenant: &'a str, owner: &'a str) -> Claim<'a> {
        Claim { agent_id, session_id: "sess_1", holder: Some((tenant, owner)), live: true }
    }

    #[test]
    fn a_command_runs_only_for_a_live_session_of_that_agent_tenant_and_operator() {
        let live = session(SessionState::Active);
        let now = Timestamp(5_000);
        assert_eq!(judge(&command("a1", "T1", "op@example.com"), Some(&live), now), Ok(()));
        assert_eq!(judge(&command("a1", "T1", "op@example.com"), None, now), Err(Refusal::NoSuchSession));
        for claim in [
            command("a2", "T1", "op@example.com"),
            command("a1", "T2", "op@example.com"),
            command("a1", "T1", "mallory@example.com"),
        ] {
            assert_eq!(judge(&claim, Some(&live), now), Err(Refusal::SessionMismatch));
        }
        assert_eq!(
            judge(&command("a1", "T1", "op@example.com"), Some(&live), Timestamp(10_000)),
            Err(Refusal::SessionNotLive),
            "expired"
        );
        let ended = session(SessionState::Ended { reason: EndReason::Deactivated, at: Timestamp(1) });
        assert_eq!(judge(&command("a1", "T1", "op@example.com"), Some(&ended), now), Err(Refusal::SessionNotLive));
    }

    #[test]
    fn an_end_may_name_an_ended_session_but_only_of_that_agent() {
        let ended = session(SessionState::Ended { reason: EndReason::Deactivated, at: Timestamp(1) });
        let end = |agent_id| Claim { agent_id, session_id: "sess_1", holder: None, live: false };
        assert_eq!(judge(&end("a1"), Some(&ended), Timestamp(5_000)), Ok(()));
        assert_eq!(judge(&end("a2"), Some(&ended), Timestamp(5_000)), Err(Refusal::SessionMismatch));
        assert_eq!(judge(&end("a1"), None, Timestamp(5_000)), Err(Refusal::NoSuchSession));
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use argus_transport_quic::{parse_certificates, parse_private_key, peer_endpoint, PEER_ALPN, PEER_SERVER_NAME};
    use quinn::crypto::rustls::QuicClientConfig;

    use crate::bootstrap::tls;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    /// A node's peer endpoint from a fresh cluster CA: (endpoint, CA PEM, CA key PEM).
    fn node() -> (quinn::Endpoint, String, String) {
        let pems = tls::generate(&[]).unwrap();
        let endpoint = peer_endpoint(
            loopback(),
            pems.ca_cert.as_bytes(),
            parse_certificates(pems.server_cert.as_bytes()).unwrap(),
            parse_private_key(pems.server_key.as_bytes()).unwrap(),
        )
        .unwrap();
        (endpoint, pems.ca_cert, pems.ca_key)
    }

    /// A client that trusts `trusted_ca` for the server and presents `cert` (or nothing).
    fn client(trusted_ca: &str, cert: Option<(String, String)>) -> quinn::Endpoint {
        let roots = argus_transport_quic::pinned_roots(trusted_ca.as_bytes()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    parse_certificates(cert.as_bytes()).unwrap(),
                    parse_private_key(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![PEER_ALPN.to_vec()];
        let mut endpoint = quinn::Endpoint::client(loopback()).unwrap();
        endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(
            QuicClientConfig::try_from(config).unwrap(),
        )));
        endpoint
    }

    /// Whether a peer link from `client` to `server` carries a stream both ways.
    async fn talks(client: &quinn::Endpoint, server: &quinn::Endpoint) -> bool {
        let address = server.local_addr().unwrap();
        let accept = async {
            let connection = server.accept().await?.await.ok()?;
            let (mut send, mut recv) = connection.accept_bi().await.ok()?;
            let bytes = recv.read_to_end(16).await.ok()?;
            send.write_all(&bytes).await.ok()?;
            send.finish().ok()?;
            connection.closed().await;
            Some(())
        };
        let dial = async {
            let connection = client.connect(address, PEER_SERVER_NAME).ok()?.await.ok()?;
            let (mut send, mut recv) = connection.open_bi().await.ok()?;
            send.write_all(b"ping").await.ok()?;
            send.finish().ok()?;
            let echoed = recv.read_to_end(16).await.ok()?;
            connection.close(0u32.into(), b"done");
            Some(echoed == b"ping")
        };
        let bounded = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::select! {
                answer = dial => answer.unwrap_or(false),
                _ = accept => false,
            }
        });
        bounded.await.unwrap_or(false)
    }

    #[tokio::test]
    async fn peers_of_one_cluster_ca_talk_and_nothing_else_gets_in() {
        let (server, ca, ca_key) = node();
        // Another node of the same cluster: its certificate signed with the stored CA key.
        let (cert, key) = tls::issue(&ca_key, &[]).unwrap();
        assert!(talks(&client(&ca, Some((cert, key))), &server).await, "a node of the cluster is let in");
        // A certificate of another CA, even one for the right name: refused.
        let stranger = tls::generate(&[]).unwrap();
        assert!(
            !talks(&client(&ca, Some((stranger.server_cert, stranger.server_key))), &server).await,
            "a certificate of another CA is refused"
        );
        // No certificate at all (an address is never enough): refused.
        assert!(!talks(&client(&ca, None), &server).await, "a peer without a certificate is refused");
    }

    #[tokio::test]
    async fn a_node_dials_a_peer_with_its_own_certificate() {
        let (server, ca, ca_key) = node();
        let (cert, key) = tls::issue(&ca_key, &["node-b.example".into()]).unwrap();
        let dialer = peer_endpoint(
            "127.0.0.1:0".parse().unwrap(),
            ca.as_bytes(),
            parse_certificates(cert.as_bytes()).unwrap(),
            parse_private_key(key.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(talks(&dialer, &server).await);
    }
}
