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

use crate::fault::Fault;

/// How long a peer has to answer anything but a relayed command.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(8);

/// How long a revocation waits for the holding node to close the agent's link before it
/// answers anyway (that node then closes it when it hears of the revocation from the store).
pub const CUT_OFF_TIMEOUT: Duration = Duration::from_secs(3);

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

    async fn connection(&self, node: &str) -> Result<quinn::Connection, Fault> {
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
                let nodes = tokio::task::spawn_blocking(move || store.cluster().map_or(Ok(Vec::new()), |c| c.nodes()))
                    .await
                    .map_err(|_| Fault::from(Code::Internal))?
                    .map_err(|error| Fault::store(&error))?;
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
            self.endpoint.connect(address, PEER_SERVER_NAME).map_err(|_| Fault::from(Code::AgentOffline))?;
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
    pub async fn ask(&self, node: &str, request: &PeerRequest, timeout: Duration) -> Result<PeerReply, Fault> {
        self.exchange(node, request, timeout).await.map_err(|failure| failure.error)
    }

    /// [`Peers::ask`], telling apart a request that never left this node (`sent: false`: safe
    /// to send elsewhere) from one lost on the way or unanswered.
    async fn exchange(&self, node: &str, request: &PeerRequest, timeout: Duration) -> Result<PeerReply, Failure> {
        let unsent = |error: Fault| Failure { sent: false, error };
        let connection = self.connection(node).await.map_err(unsent)?;
        let (mut send, mut recv) = connection.open_bi().await.map_err(|_| unsent(Fault::from(Code::AgentOffline)))?;
        let exchange = async {
            write_frame(&mut send, request).await.map_err(|_| Fault::from(Code::AgentOffline))?;
            let _ = send.finish();
            match read_frame::<PeerReply>(&mut recv).await {
                Ok(Some(reply)) => Ok(reply),
                _ => Err(Fault::from(Code::AgentOffline)),
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
    error: Fault,
}

/// The outcome of relaying through another node.
pub enum Routed {
    /// The holder answered (the agent's reply or refusal), or the request was lost after it
    /// left: not to be sent again.
    Answer(Result<String, Fault>),
    /// The agent is not on that node (it moved, or the node is unreachable): nothing was run.
    NotThere,
}

impl Peers {
    /// Relays a command through the node holding the agent, waiting up to `timeout`: the
    /// agent's reply as JSON text, or its refusal with the agent's code; or that the agent is
    /// not there (nothing ran).
    pub async fn relay(
        &self,
        node: &str,
        agent_id: &str,
        grant: argus_fsm::wire::SessionGrant,
        command: &argus_fsm::command::Command,
        timeout: Duration,
    ) -> Routed {
        let request = PeerRequest::Relay { agent_id: agent_id.to_string(), grant, command: command.clone() };
        match self.exchange(node, &request, timeout).await {
            Ok(PeerReply::Relayed(Reply::Ok { result_json })) => Routed::Answer(Ok(result_json)),
            Ok(PeerReply::Relayed(Reply::Refused { code, message })) => Routed::Answer(Err(Fault::new(code, message))),
            Ok(PeerReply::Done | PeerReply::NotHere | PeerReply::GrantRefused { .. }) => Routed::NotThere,
            Err(Failure { sent: false, .. }) => Routed::NotThere,
            Err(Failure { sent: true, error }) => Routed::Answer(Err(error)),
        }
    }

    /// Tells the agent held by `node` that a session ended; the receiver resolves when that
    /// node answers (its agent acknowledged, or its own bounded wait passed), or is dropped on
    /// failure.
    pub fn end(
        self: &Arc<Self>,
        node: String,
        agent_id: &str,
        session_id: &str,
        reason: argus_fsm::session::EndReason,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let (done, ack) = tokio::sync::oneshot::channel();
        let request =
            PeerRequest::EndSession { agent_id: agent_id.to_string(), session_id: session_id.to_string(), reason };
        let peers = self.clone();
        tokio::spawn(async move {
            if let Ok(PeerReply::Done) = peers.ask(&node, &request, PEER_TIMEOUT).await {
                let _ = done.send(());
            }
        });
        ack
    }

    /// Asks `node` to close a revoked agent's link, waiting up to [`CUT_OFF_TIMEOUT`] for it
    /// to say it did (`Done`) or that the agent is not there.
    pub async fn cut_off(&self, node: &str, agent_id: &str) -> Result<PeerReply, Fault> {
        self.ask(node, &PeerRequest::CutOff { agent_id: agent_id.to_string() }, CUT_OFF_TIMEOUT).await
    }

    /// Tells the agent held by `node` about a new session (best effort).
    pub fn grant(
        self: &Arc<Self>,
        node: String,
        agent_id: &str,
        grant: argus_fsm::wire::SessionGrant,
        durable: impl std::future::Future<Output = bool> + Send + 'static,
    ) {
        let request = PeerRequest::Grant { agent_id: agent_id.to_string(), grant };
        let peers = self.clone();
        tokio::spawn(async move {
            if durable.await {
                let _ = peers.ask(&node, &request, PEER_TIMEOUT).await;
            }
        });
    }
}
