//! Reaching an agent, wherever its link is: on this node, or on the node the store says holds
//! it (SPEC §10), through the peer links. One room, one interface — relay a command, tell a
//! grant or an end, close a link — used by every caller (the session routes, the lifecycle,
//! the cluster's follower, the peer listener), so "this node's link, else the holder, else
//! offline" is decided here once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argus_fsm::command::Command;
use argus_fsm::session::EndReason;
use argus_fsm::wire::{AgentMessage, PeerReply, Reply, ServerMessage, SessionGrant};
use argus_fsm::Code;
use argus_transport_quic::{read_frame, write_frame};
use tokio::sync::{mpsc, oneshot};

use crate::fault::Fault;
use crate::peer::{Peers, Routed};
use crate::store::Store;

/// How long the server waits for an agent's answer to a command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an operator's end waits for the agent to acknowledge it before answering anyway
/// (the server refuses the session from the commit on; the wait is for the agent's side).
pub const END_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an activation that carries approvals waits for the agent to accept or refuse its
/// grant (SPEC §13) before it ends the session and answers `agent_timeout`.
pub const GRANT_VERDICT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a holder the store named is trusted without asking again.
pub const HOLDER_CACHE_FOR: Duration = Duration::from_secs(2);

/// Where an agent's link is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    Here,
    /// Another live node, by ID.
    Node(String),
    Nobody,
}

/// Who waits for an agent's verdict on a grant: `Ok` accepted, else the agent's code.
pub type VerdictWaiter = oneshot::Sender<Result<(), Code>>;

/// A live, authenticated agent connection.
#[derive(Clone)]
pub struct LinkHandle {
    pub connection: quinn::Connection,
    /// Messages for the agent's control stream ([`LinkHandle::tell`]). Boxed: an unbounded
    /// channel allocates its first block of 32 slots up front, and a slot of `ServerMessage`
    /// (152 bytes) made that 4.8 KiB per connected agent; of a box, 256 bytes.
    pub control: mpsc::UnboundedSender<Box<ServerMessage>>,
    /// Who waits for the agent to acknowledge which session's end.
    pub end_acks: Arc<Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>>,
    /// Who waits for the agent to accept or refuse which session's grant.
    pub verdicts: Arc<Mutex<HashMap<String, Vec<VerdictWaiter>>>>,
}

impl LinkHandle {
    /// Queues a message for the agent's control stream (dropped if the link is going away).
    pub fn tell(&self, message: ServerMessage) {
        let _ = self.control.send(Box::new(message));
    }

    /// Tells the agent a session ended; the receiver resolves once the agent has processed it
    /// (and so refuses the session), or is dropped if the link goes away first.
    pub fn send_end(&self, session_id: &str, reason: EndReason) -> oneshot::Receiver<()> {
        let (acked, ack) = oneshot::channel();
        self.end_acks.lock().expect("acks lock").entry(session_id.to_string()).or_default().push(acked);
        self.tell(ServerMessage::SessionEnded { session_id: session_id.to_string(), reason });
        ack
    }

    /// Tells the agent about a session whose activation waits for its verdict; the receiver
    /// resolves with it, or is dropped if the link goes away first.
    pub fn send_grant(&self, grant: SessionGrant) -> oneshot::Receiver<Result<(), Code>> {
        let (told, verdict) = oneshot::channel();
        self.verdicts.lock().expect("verdicts lock").entry(grant.session_id.clone()).or_default().push(told);
        self.tell(ServerMessage::SessionGranted(grant));
        verdict
    }

    /// The agent accepted (`Ok`) or refused a session's grant.
    pub fn grant_verdict(&self, session_id: &str, verdict: Result<(), Code>) {
        for waiter in self.verdicts.lock().expect("verdicts lock").remove(session_id).into_iter().flatten() {
            let _ = waiter.send(verdict);
        }
    }

    /// The agent acknowledged a session's end.
    pub fn end_acknowledged(&self, session_id: &str) {
        for waiter in self.end_acks.lock().expect("acks lock").remove(session_id).into_iter().flatten() {
            let _ = waiter.send(());
        }
    }
}

/// This node's ways to an agent: its own links, the holder cache and the peer links.
pub struct Reach {
    node_id: String,
    /// Where presence is recorded (shared stores).
    store: Arc<dyn Store>,
    links: Mutex<HashMap<String, LinkHandle>>,
    /// Which other node held which agent, as the store said recently (routing without a
    /// database round trip per command; a stale entry costs one retry).
    holders: Mutex<HashMap<String, (String, Instant)>>,
    /// The peer links (shared stores), once bound.
    peers: OnceLock<Arc<Peers>>,
}

impl Reach {
    /// Nothing reached yet: no links, no peers.
    pub fn new(node_id: String, store: Arc<dyn Store>) -> Reach {
        Reach { node_id, store, links: Default::default(), holders: Default::default(), peers: OnceLock::new() }
    }

    /// The peer links, once bound (set once, at start).
    pub fn set_peers(&self, peers: Arc<Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The peer links, when this node has them.
    pub fn peers(&self) -> Option<&Arc<Peers>> {
        self.peers.get()
    }

    /// Registers an agent's authenticated link; answers the one it replaces, if any.
    pub fn register(&self, agent_id: &str, link: LinkHandle) -> Option<LinkHandle> {
        self.links.lock().expect("links lock").insert(agent_id.to_string(), link)
    }

    /// Forgets an agent's link if it is still `connection` (a newer one may have replaced it).
    pub fn unregister(&self, agent_id: &str, connection: &quinn::Connection) {
        let mut links = self.links.lock().expect("links lock");
        if links.get(agent_id).is_some_and(|link| link.connection.stable_id() == connection.stable_id()) {
            links.remove(agent_id);
        }
    }

    /// This node's link to the agent, if it holds one.
    pub fn link(&self, agent_id: &str) -> Option<LinkHandle> {
        self.links.lock().expect("links lock").get(agent_id).cloned()
    }

    /// Whether an authenticated link to this agent is up on this node.
    pub fn is_online(&self, agent_id: &str) -> bool {
        self.links.lock().expect("links lock").contains_key(agent_id)
    }

    /// How many agents this node holds.
    pub fn online(&self) -> usize {
        self.links.lock().expect("links lock").len()
    }

    /// The agents this node holds.
    pub fn held(&self) -> Vec<String> {
        self.links.lock().expect("links lock").keys().cloned().collect()
    }

    /// Tells every agent this node holds.
    pub fn tell_all(&self, message: &ServerMessage) {
        for link in self.links.lock().expect("links lock").values() {
            link.tell(message.clone());
        }
    }

    /// Force-closes an agent's link on this node (revocation).
    pub fn disconnect(&self, agent_id: &str, reason: &'static str) {
        if let Some(link) = self.links.lock().expect("links lock").remove(agent_id) {
            link.connection.close(quinn::VarInt::from_u32(1), reason.as_bytes());
        }
    }

    /// Closes a revoked agent's link wherever it is held, and answers once it is closed: here
    /// at once; on another node by asking it ([`Peers::cut_off`]), which closes it before it
    /// answers. A holder that says the agent is not there is followed once to where the store
    /// says it is now. Whether the link is known closed: `false` when the holder could not be
    /// asked in time (it closes the link when it hears of the revocation from the store).
    pub async fn cut_off(&self, agent_id: &str) -> bool {
        self.disconnect(agent_id, "agent_revoked");
        let Some(peers) = self.peers() else { return true };
        let mut asked = None;
        for _ in 0..2 {
            let node = match self.holder(agent_id) {
                Holder::Node(node) if asked.as_ref() != Some(&node) => node,
                _ => return true,
            };
            match peers.cut_off(&node, agent_id).await {
                Ok(PeerReply::Done) => return true,
                Ok(_) => {
                    self.forget_holder(agent_id);
                    asked = Some(node);
                }
                Err(fault) => {
                    tracing::warn!(%node, agent = %agent_id, error = %fault.message, "the holding node did not confirm a revoked agent's link closed");
                    return false;
                }
            }
        }
        true
    }

    /// Which node holds this agent's link: this one, another live one (shared stores), or none.
    /// A store that cannot answer counts as "none here" — the agent is reported offline rather
    /// than waited for.
    pub fn holder(&self, agent_id: &str) -> Holder {
        if self.is_online(agent_id) {
            return Holder::Here;
        }
        let Some(cluster) = self.store.cluster() else { return Holder::Nobody };
        let now = Instant::now();
        if let Some((node, at)) = self.holders.lock().expect("holders lock").get(agent_id) {
            if now.duration_since(*at) < HOLDER_CACHE_FOR {
                return Holder::Node(node.clone());
            }
        }
        match cluster.holder(agent_id) {
            Ok(Some(node)) if node != self.node_id => {
                self.holders.lock().expect("holders lock").insert(agent_id.to_string(), (node.clone(), now));
                Holder::Node(node)
            }
            _ => Holder::Nobody,
        }
    }

    /// Forgets where an agent was seen (its holder said it is not there any more).
    pub fn forget_holder(&self, agent_id: &str) {
        self.holders.lock().expect("holders lock").remove(agent_id);
    }

    /// Relays one command to the agent wherever it is held, bounded by [`COMMAND_TIMEOUT`]
    /// (plus a hop): the agent's result as its JSON text, or its refusal. A holder that says
    /// the agent is not there ran nothing: the store is asked once where it is now.
    pub async fn relay(&self, agent_id: &str, grant: SessionGrant, command: &Command) -> Result<String, Fault> {
        let node = match self.holder(agent_id) {
            Holder::Node(node) => node,
            Holder::Here | Holder::Nobody => return self.relay_here(agent_id, grant, command).await,
        };
        if let Routed::Answer(answer) = self.relay_through(&node, agent_id, grant.clone(), command).await {
            return answer;
        }
        self.forget_holder(agent_id);
        match self.holder(agent_id) {
            Holder::Node(now_at) if now_at != node => {
                match self.relay_through(&now_at, agent_id, grant, command).await {
                    Routed::Answer(answer) => answer,
                    Routed::NotThere => Err(Code::AgentOffline.into()),
                }
            }
            Holder::Here => self.relay_here(agent_id, grant, command).await,
            _ => Err(Code::AgentOffline.into()),
        }
    }

    async fn relay_through(&self, node: &str, agent_id: &str, grant: SessionGrant, command: &Command) -> Routed {
        match self.peers() {
            // The holder waits up to the command timeout for its agent; allow for the hop.
            Some(peers) => peers.relay(node, agent_id, grant, command, COMMAND_TIMEOUT + Duration::from_secs(2)).await,
            None => Routed::NotThere,
        }
    }

    /// Sends one command to the agent on this node's link, on its own stream, and waits for
    /// the reply (the result as the agent's JSON text).
    pub async fn relay_here(&self, agent_id: &str, grant: SessionGrant, command: &Command) -> Result<String, Fault> {
        let connection = self.link(agent_id).map(|link| link.connection).ok_or(Code::AgentOffline)?;
        let exchange = async {
            let (mut send, mut recv) = connection.open_bi().await.map_err(|_| Fault::from(Code::AgentOffline))?;
            let request = ServerMessage::Request { grant, command: command.clone() };
            write_frame(&mut send, &request).await.map_err(|_| Fault::from(Code::AgentOffline))?;
            let _ = send.finish();
            match read_frame::<AgentMessage>(&mut recv).await {
                Ok(Some(AgentMessage::Reply(Reply::Ok { result_json }))) => Ok(result_json),
                Ok(Some(AgentMessage::Reply(Reply::Refused { code, message }))) => {
                    Err(Fault::new(code, message.chars().take(300).collect::<String>()))
                }
                _ => Err(Fault::new(Code::AgentTimeout, "the agent closed the stream without an answer")),
            }
        };
        tokio::time::timeout(COMMAND_TIMEOUT, exchange).await.map_err(|_| Fault::from(Code::AgentTimeout))?
    }

    /// Tells the agent about a new session, wherever it is held (best effort: the grant also
    /// travels with every command).
    pub fn tell_grant(
        &self,
        agent_id: &str,
        grant: SessionGrant,
        durable: impl std::future::Future<Output = bool> + Send + 'static,
    ) {
        if self.grant_here(agent_id, grant.clone()) {
            return;
        }
        // The holding node checks a relayed grant against the store: it goes once `durable`
        // says the session is there (never, if it did not land), or it would be refused and
        // recorded as a refused relay.
        if let (Holder::Node(node), Some(peers)) = (self.holder(agent_id), self.peers()) {
            peers.grant(node, agent_id, grant, durable);
        }
    }

    /// Tells the agent on this node's link about a new session; whether it is here.
    pub fn grant_here(&self, agent_id: &str, grant: SessionGrant) -> bool {
        match self.link(agent_id) {
            Some(link) => {
                link.tell(ServerMessage::SessionGranted(grant));
                true
            }
            None => false,
        }
    }

    /// Tells the agent, wherever it is held, about a session whose grant carries approvals, and
    /// waits (bounded by [`GRANT_VERDICT_TIMEOUT`], plus a hop) for its verdict: `Ok` once it
    /// accepted, its code when it refused, `agent_offline` when nobody holds it, `agent_timeout`
    /// when it did not say in time. A holder that says the agent is not there is followed once
    /// to where the store says it is now.
    pub async fn confirm_grant(&self, agent_id: &str, grant: SessionGrant) -> Result<(), Fault> {
        let mut asked = None;
        for _ in 0..2 {
            match self.holder(agent_id) {
                Holder::Here => return self.confirm_here(agent_id, grant).await,
                Holder::Node(node) if asked.as_ref() != Some(&node) => {
                    let Some(peers) = self.peers() else { break };
                    let request =
                        argus_fsm::wire::PeerRequest::Grant { agent_id: agent_id.to_string(), grant: grant.clone() };
                    match peers.ask(&node, &request, GRANT_VERDICT_TIMEOUT + Duration::from_secs(2)).await {
                        Ok(PeerReply::Done) => return Ok(()),
                        Ok(PeerReply::GrantRefused { code }) => return Err(code.into()),
                        Ok(_) => {
                            self.forget_holder(agent_id);
                            asked = Some(node);
                        }
                        Err(fault) => return Err(fault),
                    }
                }
                _ => break,
            }
        }
        Err(Code::AgentOffline.into())
    }

    /// [`Reach::confirm_grant`] on this node's link.
    pub async fn confirm_here(&self, agent_id: &str, grant: SessionGrant) -> Result<(), Fault> {
        let link = self.link(agent_id).ok_or(Code::AgentOffline)?;
        match tokio::time::timeout(GRANT_VERDICT_TIMEOUT, link.send_grant(grant)).await {
            Ok(Ok(verdict)) => verdict.map_err(|code| {
                Fault::new(code, "the agent did not accept the session's approvals: it runs nothing under it")
            }),
            Ok(Err(_)) => Err(Fault::new(Code::AgentOffline, "the agent's link closed before it accepted the grant")),
            Err(_) => Err(Fault::new(Code::AgentTimeout, "the agent did not accept the grant in time")),
        }
    }

    /// Tells the agent, wherever it is held, that a session ended; the receiver resolves once
    /// the agent has processed it (or its holder's bounded wait passed). `None` when nobody
    /// holds it: it learns the live set from `Welcome` when it reconnects.
    pub fn tell_end(&self, agent_id: &str, session_id: &str, reason: EndReason) -> Option<oneshot::Receiver<()>> {
        if let Some(ack) = self.end_here(agent_id, session_id, reason) {
            return Some(ack);
        }
        match (self.holder(agent_id), self.peers()) {
            (Holder::Node(node), Some(peers)) => Some(peers.end(node, agent_id, session_id, reason)),
            _ => None,
        }
    }

    /// Tells the agent on this node's link that a session ended (see [`Reach::tell_end`]).
    pub fn end_here(&self, agent_id: &str, session_id: &str, reason: EndReason) -> Option<oneshot::Receiver<()>> {
        self.link(agent_id).map(|link| link.send_end(session_id, reason))
    }
}

/// Waits (bounded) until the agent has acknowledged every end in `acks`, so that an answer
/// given after this means the agent refuses those sessions too.
/// One deadline covers them all, so ending many sessions (a disarm) waits at most
/// [`END_ACK_TIMEOUT`] in total, not per session.
pub async fn agent_refuses(acks: impl IntoIterator<Item = oneshot::Receiver<()>>) {
    let deadline = tokio::time::Instant::now() + END_ACK_TIMEOUT;
    for ack in acks {
        if tokio::time::timeout_at(deadline, ack).await.is_err() {
            tracing::warn!("an agent did not acknowledge a session end in time; answering anyway");
        }
    }
}
