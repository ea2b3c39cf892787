//! The listening side of the peer links (SPEC §10): accepts other nodes' links and runs what
//! they relay — after checking it where it runs — through this node's [`Reach`].

use std::sync::{Arc, Mutex};

use argus_fsm::wire::{PeerReply, PeerRequest, Reply};
use argus_fsm::Code;
use argus_transport_quic::{read_frame, write_frame};

use crate::reach::agent_refuses;
use crate::state::Ops;

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
    /// A link to be cut for a revocation the store does not hold.
    NotRevoked,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotALiveNode => "not_a_live_node",
            Refusal::NoSuchSession => "no_such_session",
            Refusal::SessionNotLive => "session_not_live",
            Refusal::SessionMismatch => "session_mismatch",
            Refusal::StoreUnavailable => "store_unavailable",
            Refusal::NotRevoked => "not_revoked",
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
        let node = store.cluster().map_or(Ok(None), |c| c.live_node_by_peer_cert(&fingerprint))?;
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
    (agent_id, claimed_session): (&str, Option<&str>),
    refusal: Refusal,
) {
    tracing::warn!(peer = peer.unwrap_or("-"), %remote, kind, why = refusal.as_str(), "relayed work refused");
    let actor = peer.map_or_else(|| "system".to_string(), |node| format!("node:{node}"));
    let mut entry = crate::store::audit::AuditEntry::new(crate::store::audit::AuditEvent::PeerRelayRefused, actor)
        .agent(agent_id)
        .details(serde_json::json!({
            "peer_node": peer,
            "remote": remote.to_string(),
            "request": kind,
            "why": refusal.as_str(),
            "claimed_session": claimed_session,
        }));
    // Name the tenant only when the agent really belongs to it (a claim is untrusted input).
    let tenant = ops.registry.read().await.agents.get(agent_id).map(|a| a.enrollment.tenant().to_string());
    if let Some(tenant) = tenant {
        entry = entry.tenant(tenant);
    }
    if let Err(error) = ops.append_audit(vec![entry], crate::time_format::now()).await {
        tracing::warn!(error = %error.message, "peer_relay_refused not recorded");
    }
    let _ = ops.writer.wait_all().await;
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
        PeerRequest::CutOff { agent_id } => {
            let reply = cut_off(&ops, &fingerprint, remote, agent_id).await;
            let _ = write_frame(&mut send, &reply).await;
            let _ = send.finish();
            return;
        }
    };
    let reply = match check(&ops, &fingerprint, &claim).await {
        Err((peer, refusal)) => {
            audit_refusal(&ops, peer.as_deref(), remote, kind, (claim.agent_id, Some(claim.session_id)), refusal).await;
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

/// Closes a revoked agent's link on this node: a revocation made on another node answers only
/// once this is done (SPEC §10). The store is asked first — a live peer, and the agent revoked
/// there (the record then joins this node's view, so the agent is refused here at once if it
/// comes back) — and anything else is refused and recorded. A store that cannot answer does
/// not stop it: closing a link is the safe direction (an agent cut wrongly reconnects and is
/// judged again), and a revocation must not wait on this node's database. Answers `Done` once
/// the link is not on this node.
async fn cut_off(ops: &Arc<Ops>, fingerprint: &str, remote: std::net::SocketAddr, agent_id: &str) -> PeerReply {
    let store = ops.store.clone();
    let fingerprint = fingerprint.to_string();
    let peer = tokio::task::spawn_blocking(move || {
        store.cluster().map_or(Ok(None), |c| c.live_node_by_peer_cert(&fingerprint))
    })
    .await;
    let changes = crate::store::Changes { agents: vec![agent_id.to_string()], ..Default::default() };
    let refusal = match peer {
        Ok(Ok(None)) => Some((None, Refusal::NotALiveNode)),
        // Reads the record and acts on it as on an announcement: a revoked agent is cut off.
        Ok(Ok(Some(peer))) => match crate::cluster::apply(ops, changes).await {
            Ok(()) if ops.reach.is_online(agent_id) => Some((Some(peer), Refusal::NotRevoked)),
            Ok(()) => None,
            Err(error) => {
                tracing::warn!(%error, agent = %agent_id, "a revocation's cut-off could not be checked; cut off anyway");
                None
            }
        },
        _ => {
            tracing::warn!(agent = %agent_id, "a revocation's cut-off could not be checked; cut off anyway");
            None
        }
    };
    match refusal {
        Some((peer, refusal)) => {
            audit_refusal(ops, peer.as_deref(), remote, "cut_off", (agent_id, None), refusal).await;
            PeerReply::NotHere
        }
        None => {
            ops.reach.disconnect(agent_id, "agent_revoked");
            PeerReply::Done
        }
    }
}

/// Runs a relayed request that passed [`check`], on this node's link to the agent.
async fn run(ops: &Arc<Ops>, request: PeerRequest) -> PeerReply {
    match request {
        PeerRequest::Relay { agent_id, grant, command } => {
            if !ops.reach.is_online(&agent_id) {
                return PeerReply::NotHere;
            }
            match ops.reach.relay_here(&agent_id, grant, &command).await {
                Ok(result_json) => PeerReply::Relayed(Reply::Ok { result_json }),
                Err(fault) => PeerReply::Relayed(Reply::Refused { code: fault.code, message: fault.message }),
            }
        }
        PeerRequest::EndSession { agent_id, session_id, reason } => {
            match ops.reach.end_here(&agent_id, &session_id, reason) {
                Some(ack) => {
                    agent_refuses([ack]).await;
                    PeerReply::Done
                }
                None => PeerReply::NotHere,
            }
        }
        // A grant with approvals: answered with the agent's verdict (SPEC §13).
        PeerRequest::Grant { agent_id, grant } if grant.approval.is_some() => {
            match ops.reach.confirm_here(&agent_id, grant).await {
                Ok(()) => PeerReply::Done,
                Err(fault) if fault.code == Code::AgentOffline => PeerReply::NotHere,
                Err(fault) => PeerReply::GrantRefused { code: fault.code },
            }
        }
        PeerRequest::Grant { agent_id, grant } => match ops.reach.grant_here(&agent_id, grant) {
            true => PeerReply::Done,
            false => PeerReply::NotHere,
        },
        // Answered by `cut_off`, which checks it its own way.
        PeerRequest::CutOff { .. } => PeerReply::NotHere,
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
            approval: None,
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
