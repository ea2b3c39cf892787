//! The server's shared state: an in-memory registry that mirrors the store, and the live
//! agent links. Decisions hand their records to [`Registry::commit`], which stages them with
//! their audit entries on the one writer ([`Writer`]) and applies them in memory; nothing is
//! acknowledged before the writer says the group holding them is durable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argus_fsm::session::Session;
use argus_fsm::tenant::Tenant;

use argus_fsm::Timestamp;
use ed25519_dalek::VerifyingKey;

use crate::config::GateConfig;
use crate::fault::Fault;
use crate::gate::FailureLimiter;
use crate::store::audit::AuditEntry;
use crate::store::writer::Writer;
use crate::store::{AgentRecord, PatRecord, Snapshot, Store, Write};

/// Everything the server shares between the HTTPS API and the agent listener.
pub struct Ops {
    /// This node's ID (SPEC §10).
    pub node_id: String,
    /// The cluster's live nodes as this node last told its agents (shared stores).
    pub live_nodes: Mutex<crate::membership::NodesTold>,
    /// Where this node listens (what its heartbeat says), once bound.
    pub addresses: std::sync::OnceLock<crate::membership::Heartbeat>,
    /// Presence rows this node failed to release (store away); retried with each heartbeat.
    pub unreleased: Mutex<Vec<(String, u64)>>,
    pub config: GateConfig,
    pub store: Arc<dyn Store>,
    /// Shared by the command path and the gate (reads, audit appends); taken exclusively only
    /// by what changes tenants, agents, PATs or sessions.
    pub registry: tokio::sync::RwLock<Registry>,
    /// This node's ways to an agent: its links, the holder cache, the peer links.
    pub reach: crate::reach::Reach,
    pub limiter: Mutex<FailureLimiter>,
    /// With `--patch-pubkey`: patches are verified here before they are relayed.
    pub patch_key: Option<VerifyingKey>,
    /// The key that signs the audit trail's checkpoints (SPEC §14); `None` on a cluster node
    /// initialised before checkpoints existed.
    pub checkpoint_key: Option<Arc<ed25519_dalek::SigningKey>>,
    /// The one group-commit writer: staged writes become durable before anything that depends
    /// on them is acknowledged, and it alone moves the audit head.
    pub writer: Arc<Writer>,
    /// The browser path's assertion verifier, when it is switched on.
    pub access: Option<argus_access::AccessVerifier>,
    /// Both listeners are bound and their drivers running (`/readyz`).
    pub listening: std::sync::atomic::AtomicBool,
    /// How many refusals of unauthenticated link peers are still audited one by one.
    pub refusals: Mutex<crate::link::refusals::RefusalBudget>,
    /// The agent listener's TLS session-ticket keys (and how many tickets it accepted).
    pub tickets: Arc<argus_transport_quic::TicketKeys>,
    /// Admission control of agent handshakes.
    pub admission: Mutex<crate::link::admission::Admission>,
    /// The agent listener's handshakes in progress, and who holds them (flood bounds).
    pub intake: Mutex<crate::link::intake::Intake>,
    /// The highest audit head this node has written or read, and whether its store fell
    /// behind it (SPEC §10).
    pub chain_floor: Arc<crate::store::head::ChainFloor>,
    /// Whether this node woke from a pause and must re-read the store before it decides.
    pub wakefulness: crate::wake::Wakefulness,
}

tokio::task_local! {
    /// The newest write generation a request staged; its response waits until that generation
    /// is on disk (`api::durable_responses`).
    pub static STAGED_BY_REQUEST: std::cell::Cell<u64>;
}

/// How long an ended session stays in memory (for the answers right after its end); older
/// ones are read back from the store by token hash when a request names them.
pub const ENDED_SESSION_RETENTION_MS: i64 = 60_000;

/// The durable state, in memory: every tenant, agent and PAT, but only the *live* sessions
/// (and those ended in the last [`ENDED_SESSION_RETENTION_MS`]), so nothing grows with
/// history and sessions are found by key.
#[derive(Debug, Default)]
pub struct Registry {
    pub tenants: HashMap<String, Tenant>,
    pub agents: HashMap<String, AgentRecord>,
    pub pats: HashMap<[u8; 32], PatRecord>,
    pub sessions: HashMap<String, Session>,
    /// Session ID by token hash, for the sessions in memory.
    pub sessions_by_token: HashMap<[u8; 32], String>,
    /// Access requests by ID (SPEC §13).
    pub requests: HashMap<String, argus_fsm::access::AccessRequest>,
}

impl Registry {
    /// The registry as stored (the chain's head is the writer's: [`Writer::new`]).
    pub fn from_snapshot(snapshot: Snapshot) -> Registry {
        let mut registry = Registry {
            tenants: snapshot.tenants.into_iter().map(|t| (t.id.clone(), t)).collect(),
            agents: snapshot.agents.into_iter().map(|a| (a.agent_id.clone(), a)).collect(),
            pats: snapshot.pats.into_iter().map(|p| (p.hash, p)).collect(),
            sessions: HashMap::new(),
            sessions_by_token: HashMap::new(),
            requests: snapshot.requests.into_iter().map(|r| (r.request_id.clone(), r)).collect(),
        };
        for session in snapshot.sessions {
            registry.remember_session(session);
        }
        registry
    }

    /// Keeps `session` in memory, found by ID and by token hash.
    pub fn remember_session(&mut self, session: Session) {
        self.sessions_by_token.insert(session.token_hash, session.id.clone());
        self.sessions.insert(session.id.clone(), session);
    }

    /// Drops a session from memory (it stays in the store, where a request finds it by token).
    pub fn forget_session(&mut self, session_id: &str) {
        if let Some(session) = self.sessions.remove(session_id) {
            self.sessions_by_token.remove(&session.token_hash);
        }
    }

    /// The ID of the session whose token hashes to `token_hash`: from memory, else read back
    /// from the store (an ended session pruned from memory) and kept for this request.
    pub fn session_by_token(&mut self, store: &dyn Store, token_hash: &[u8; 32]) -> Result<Option<String>, Fault> {
        if let Some(id) = self.sessions_by_token.get(token_hash) {
            return Ok(Some(id.clone()));
        }
        match store.session_by_token(token_hash) {
            Ok(Some(session)) => {
                let id = session.id.clone();
                self.remember_session(session);
                Ok(Some(id))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(Fault::store(&error)),
        }
    }

    /// Forgets sessions that ended more than [`ENDED_SESSION_RETENTION_MS`] ago (they stay in
    /// the store).
    pub fn prune_ended_sessions(&mut self, now: Timestamp) {
        let old: Vec<String> = self
            .sessions
            .values()
            .filter(|s| {
                matches!(s.state, argus_fsm::session::SessionState::Ended { at, .. } if now.0 - at.0 > ENDED_SESSION_RETENTION_MS)
            })
            .map(|s| s.id.clone())
            .collect();
        for id in old {
            self.forget_session(&id);
        }
    }

    /// After a failed write (or a lost view of other nodes' writes), replaces this view with
    /// what the store really holds (what was staged and never became durable is gone, as if it
    /// never happened). Called with the registry lock held, before anything is read for a
    /// decision or staged.
    pub fn ensure_current(&mut self, store: &dyn Store, writer: &Writer) -> Result<(), Fault> {
        if !writer.poisoned() {
            return Ok(());
        }
        let snapshot = store.load().map_err(|error| Fault::store(&error))?;
        writer.reloaded(snapshot.last_audit.as_ref(), snapshot.tenant_heads.clone());
        *self = Registry::from_snapshot(snapshot);
        tracing::info!("store reachable again: reloaded this node's view");
        Ok(())
    }

    /// Stages `writes` and the audit records of `entries` as one atomic batch on the writer,
    /// then applies them in memory. On failure nothing changes, in memory or on disk. The batch
    /// is durable once the writer says so: an HTTP response waits for it automatically; other
    /// callers that acknowledge something must `wait_all` first.
    pub fn commit(
        &mut self,
        store: &dyn Store,
        writer: &Writer,
        writes: Vec<Write>,
        entries: Vec<AuditEntry>,
        now: Timestamp,
    ) -> Result<(), Fault> {
        self.ensure_current(store, writer)?;
        stage(writer, writes.clone(), entries, now)?;
        for write in writes {
            self.apply(write);
        }
        Ok(())
    }

    /// Applies one staged write to this view.
    fn apply(&mut self, write: Write) {
        match write {
            Write::Tenant(tenant) => {
                self.tenants.insert(tenant.id.clone(), tenant);
            }
            Write::Agent(agent) => {
                self.agents.insert(agent.agent_id.clone(), agent);
            }
            Write::Pat(pat) => {
                self.pats.insert(pat.hash, pat);
            }
            Write::Session(session) => self.remember_session(session),
            Write::AccessRequest(request) => {
                self.requests.insert(request.request_id.clone(), request);
            }
            Write::Audit(_) => {}
        }
    }
}

/// Stages one batch on the writer and notes its generation for the request that staged it.
fn stage(writer: &Writer, writes: Vec<Write>, entries: Vec<AuditEntry>, now: Timestamp) -> Result<(), Fault> {
    let started = std::time::Instant::now();
    let staged = writer.stage(writes, entries, now);
    crate::metrics::audit_append(started.elapsed().as_secs_f64());
    match staged {
        Ok(generation) => {
            let _ = STAGED_BY_REQUEST.try_with(|staged| staged.set(staged.get().max(generation)));
            Ok(())
        }
        Err(error) => {
            tracing::error!(%error, "store write refused; action not acknowledged");
            Err(Fault::store(&error))
        }
    }
}

impl Registry {
    /// Stores bookkeeping (no audit record, nothing an operator relies on) without waiting for
    /// it: the writer's next group carries it (the bookkeeping flush runs every second, and
    /// shutdown flushes).
    pub fn record_quietly(&mut self, writer: &Writer, write: Write) {
        if stage_bookkeeping(writer, write.clone()) {
            self.apply(write);
        }
    }

    /// Records that a PAT passed the gate, at most once per
    /// [`crate::store::PAT_LAST_USED_RESOLUTION_MS`] per PAT and without waiting for the disk,
    /// so steady use costs no write per request.
    pub fn touch_pat(&mut self, writer: &Writer, hash: &[u8; 32], now: Timestamp) {
        if !self.pat_touch_due(hash, now) {
            return;
        }
        let Some(mut pat) = self.pats.get(hash).cloned() else { return };
        pat.last_used_at = Some(now);
        self.record_quietly(writer, Write::Pat(pat));
    }
}

/// Stages one bookkeeping write that nobody waits for. Whether it was staged.
fn stage_bookkeeping(writer: &Writer, write: Write) -> bool {
    match writer.stage(vec![write], vec![], crate::time_format::now()) {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "bookkeeping not stored");
            false
        }
    }
}

impl Registry {
    /// Whether this PAT's `last_used_at` is older than the resolution (so the gate takes the
    /// exclusive lock for it only about once a minute per PAT).
    pub fn pat_touch_due(&self, hash: &[u8; 32], now: Timestamp) -> bool {
        self.pats.get(hash).is_some_and(|pat| {
            pat.last_used_at.is_none_or(|at| now.0 - at.0 >= crate::store::PAT_LAST_USED_RESOLUTION_MS)
        })
    }
}

impl Ops {
    /// Appends audit records that change nothing else, under the shared registry lock; after a
    /// failed write the first caller reloads the view (exclusively) and appends then.
    pub async fn append_audit(&self, entries: Vec<AuditEntry>, now: Timestamp) -> Result<(), Fault> {
        if !self.writer.poisoned() {
            let _registry = self.registry.read().await;
            match stage(&self.writer, vec![], entries.clone(), now) {
                Err(error) if error.code == argus_fsm::Code::StoreUnavailable && self.writer.poisoned() => {}
                answer => return answer,
            }
        }
        self.registry.write().await.commit(self.store.as_ref(), &self.writer, vec![], entries, now)
    }

    /// Makes sure this node's view is the store's after a failed write (exclusive, and only
    /// then): 503 `store_unavailable` while the store is still away.
    /// Also, on a shared store, after this node was paused ([`crate::wake`]): everything is
    /// re-read before anything is decided (503 while the store cannot answer).
    pub async fn ensure_current(&self) -> Result<(), Fault> {
        if self.store.cluster().is_some() && self.wakefulness.woke() {
            self.catch_up().await?;
        }
        if self.writer.poisoned() {
            self.registry.write().await.ensure_current(self.store.as_ref(), &self.writer)?;
        }
        Ok(())
    }
}

impl Ops {
    /// Re-reads everything after this node was paused ([`crate::wake`]), once: whoever takes
    /// the registry first does it, and whoever waited behind it finds it done. A view that a
    /// failed write left unsure is reloaded as such (what never landed is dropped, not waited
    /// for).
    pub async fn catch_up(&self) -> Result<(), Fault> {
        let mut registry = self.registry.write().await;
        if !self.wakefulness.woke() {
            return Ok(());
        }
        tracing::warn!("this node was paused or starved: re-reading the store before deciding anything");
        if self.writer.poisoned() {
            registry.ensure_current(self.store.as_ref(), &self.writer)?;
            self.cut_off_revoked(&registry);
        } else {
            self.reload_locked(&mut registry).await.map_err(|error| Fault::store(&error))?;
        }
        self.wakefulness.caught_up();
        Ok(())
    }

    /// Replaces the view with the store's (the registry held by the caller), then cuts off
    /// links of agents revoked meanwhile.
    pub async fn reload_locked(&self, registry: &mut Registry) -> Result<(), crate::store::StoreError> {
        // Nothing of this node's may be pending when its view is replaced by the store's: flush
        // first, with the registry held so nothing new is staged meanwhile.
        self.writer.wait_all().await?;
        let snapshot = self.store.load()?;
        *registry = Registry::from_snapshot(snapshot);
        self.cut_off_revoked(registry);
        tracing::info!("reloaded this node's view from the shared store");
        Ok(())
    }

    /// Closes the links this node holds of agents the view no longer has enrolled.
    fn cut_off_revoked(&self, registry: &Registry) {
        for agent in self.reach.held() {
            let enrolled = registry.agents.get(&agent).is_some_and(|a| a.enrollment.passkey().is_some());
            if !enrolled {
                self.reach.disconnect(&agent, "agent_revoked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_fsm::machine::Machine as _;
    use argus_fsm::session::{SessionEvent, SessionState};

    #[test]
    fn ended_sessions_leave_memory_and_are_found_again_by_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SledStore::open(&dir.path().join("db")).unwrap();
        let mut session = Session::start(
            "ses_1".into(),
            "T1".into(),
            "a1".into(),
            "op@example.com".into(),
            [9; 32],
            "why".into(),
            60_000,
            Timestamp(1_000),
        );
        session.handle(SessionEvent::Deactivate, Timestamp(2_000)).unwrap();
        store.commit(&[Write::Session(session.clone())]).unwrap();
        let mut registry = Registry::default();
        registry.remember_session(session.clone());
        registry.prune_ended_sessions(Timestamp(2_000 + ENDED_SESSION_RETENTION_MS));
        assert!(registry.sessions.contains_key("ses_1"), "kept for the retention period");
        registry.prune_ended_sessions(Timestamp(2_001 + ENDED_SESSION_RETENTION_MS));
        assert!(registry.sessions.is_empty() && registry.sessions_by_token.is_empty(), "pruned");
        let id = registry.session_by_token(&store, &[9; 32]).unwrap();
        assert_eq!(id.as_deref(), Some("ses_1"));
        assert!(matches!(registry.sessions["ses_1"].state, SessionState::Ended { .. }));
        assert_eq!(registry.session_by_token(&store, &[8; 32]).unwrap(), None);
    }
}
