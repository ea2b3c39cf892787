//! The server's shared state: an in-memory registry that mirrors the store, and the live
//! agent links. Handlers compute new records and hand them to [`Registry::commit`], which
//! writes them with their audit records atomically and durably, and only then applies them in
//! memory — so memory never runs ahead of disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argus_fsm::session::Session;
use argus_fsm::tenant::Tenant;

use argus_fsm::Timestamp;
use ed25519_dalek::VerifyingKey;

use crate::config::GateConfig;
use crate::fault::Fault;
use crate::gate::FailureLimiter;
use crate::store::audit::{AuditChain, AuditEntry, AuditRecord};
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
    /// Group commit: staged writes become durable before anything that depends on them is
    /// acknowledged.
    pub durability: Arc<Durability>,
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
}

tokio::task_local! {
    /// The newest write generation a request staged; its response waits until that generation
    /// is on disk (`api::durable_responses`).
    pub static STAGED_BY_REQUEST: std::cell::Cell<u64>;
}

/// Group commit. Writes are staged (applied to the store, not yet flushed) under the registry
/// lock, in audit-chain order; whoever needs durability waits for a flush that covers its
/// generation. Concurrent waiters share one flush, so N actions in flight cost one fsync, not N.
///
/// A failed flush dooms every generation staged so far that was not flushed (the backend
/// discards them: they were computed from state that never became durable). Until the
/// registry has reloaded from the store ([`Registry::ensure_current`]) the node is
/// `poisoned`; after it, generations up to `doomed_through` still answer failure.
pub struct Durability {
    store: Arc<dyn Store>,
    staged: std::sync::atomic::AtomicU64,
    flushed: std::sync::atomic::AtomicU64,
    flusher: tokio::sync::Mutex<()>,
    poisoned: std::sync::atomic::AtomicBool,
    doomed_through: std::sync::atomic::AtomicU64,
}

impl Durability {
    /// A group-commit front for `store`.
    pub fn new(store: Arc<dyn Store>) -> Durability {
        Durability {
            store,
            staged: 0.into(),
            flushed: 0.into(),
            flusher: tokio::sync::Mutex::new(()),
            poisoned: false.into(),
            doomed_through: 0.into(),
        }
    }

    /// Whether a flush failed and the registry has not reloaded since.
    pub fn poisoned(&self) -> bool {
        self.poisoned.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// This node's view may miss other nodes' writes: reload it before the next decision.
    pub fn stale(&self) {
        self.poisoned.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The registry reloaded: everything staged before now that was not flushed stays failed.
    fn reloaded(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.doomed_through.fetch_max(self.staged.load(SeqCst), SeqCst);
        self.poisoned.store(false, SeqCst);
    }

    fn doomed(&self, generation: u64) -> Option<crate::store::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        (self.poisoned.load(SeqCst) || generation <= self.doomed_through.load(SeqCst))
            .then(|| crate::store::StoreError::Unavailable("a write this action depended on was not stored".into()))
    }

    /// Records that a batch was staged; returns its generation.
    pub fn staged(&self) -> u64 {
        self.staged.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    /// Waits until generation `generation` is durable.
    pub async fn wait(&self, generation: u64) -> Result<(), crate::store::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.flushed.load(SeqCst) >= generation {
            return Ok(());
        }
        let _flusher = self.flusher.lock().await;
        if self.flushed.load(SeqCst) >= generation {
            return Ok(());
        }
        if let Some(error) = self.doomed(generation) {
            return Err(error);
        }
        // Everything staged up to now is covered by this flush.
        let target = self.staged.load(SeqCst);
        let store = self.store.clone();
        let flushed = tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| crate::store::StoreError::Backend(e.to_string()))
            .and_then(|result| result);
        if let Err(error) = flushed {
            self.poisoned.store(true, SeqCst);
            return Err(error);
        }
        self.flushed.fetch_max(target, SeqCst);
        Ok(())
    }

    /// Waits until everything staged so far is durable.
    pub async fn wait_all(&self) -> Result<(), crate::store::StoreError> {
        self.wait(self.staged.load(std::sync::atomic::Ordering::SeqCst)).await
    }
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
    /// The chain's head. Appending is the one step that must be serial (each record hashes its
    /// predecessor), so it has its own short lock: commands append under the shared registry
    /// lock, and only contend here, for the hash and the stage.
    pub audit: Mutex<AuditChain>,
}

impl Registry {
    /// The registry as stored, for node `node` (whose ID its audit records carry).
    pub fn from_snapshot(snapshot: Snapshot, node: Option<String>) -> Registry {
        let mut registry = Registry {
            tenants: snapshot.tenants.into_iter().map(|t| (t.id.clone(), t)).collect(),
            agents: snapshot.agents.into_iter().map(|a| (a.agent_id.clone(), a)).collect(),
            pats: snapshot.pats.into_iter().map(|p| (p.hash, p)).collect(),
            sessions: HashMap::new(),
            sessions_by_token: HashMap::new(),
            audit: Mutex::new(AuditChain::resume(snapshot.last_audit.as_ref()).written_by(node)),
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

    /// After a failed flush, replaces this view with what the store really holds (what was
    /// staged and never became durable is gone, as if it never happened). Called with the
    /// registry lock held, before anything is read for a decision or staged.
    pub fn ensure_current(&mut self, store: &dyn Store, durability: &Durability) -> Result<(), Fault> {
        if !durability.poisoned() {
            return Ok(());
        }
        let snapshot = store.load().map_err(|error| Fault::store(&error))?;
        let node = self.audit.get_mut().expect("audit chain lock").node().map(str::to_string);
        *self = Registry::from_snapshot(snapshot, node);
        store.reset();
        durability.reloaded();
        tracing::info!("store reachable again: reloaded this node's view");
        Ok(())
    }

    /// Writes `writes` and the audit records of `entries` in one atomic batch, then applies
    /// them in memory. On failure nothing changes, in memory or on disk. The batch is durable
    /// once `durability` says so: an HTTP response waits for it automatically; other callers
    /// that acknowledge something must `wait_all` first.
    pub fn commit(
        &mut self,
        store: &dyn Store,
        durability: &Durability,
        writes: Vec<Write>,
        entries: Vec<AuditEntry>,
        now: Timestamp,
    ) -> Result<Vec<AuditRecord>, Fault> {
        self.ensure_current(store, durability)?;
        let records = self.stage(store, durability, writes.clone(), entries, now)?;
        for write in writes {
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
                Write::Audit(_) => {}
            }
        }
        Ok(records)
    }

    /// Appends audit records that change nothing else (a command's outcome, a denial) under
    /// the *shared* registry lock: concurrent appenders serialise only on the chain's own lock.
    /// Refuses while a failed flush has not been followed by a reload, since the chain head
    /// may be one that never became durable; [`Ops::append_audit`] reloads and retries.
    pub fn append(
        &self,
        store: &dyn Store,
        durability: &Durability,
        entries: Vec<AuditEntry>,
        now: Timestamp,
    ) -> Result<Vec<AuditRecord>, Fault> {
        if durability.poisoned() {
            return Err(argus_fsm::Code::StoreUnavailable.into());
        }
        self.stage(store, durability, vec![], entries, now)
    }

    /// Chains `entries` after the head, stages them with `writes` as one batch and advances the
    /// head only if staging succeeded. The chain lock is held across the stage so the store
    /// receives records in chain order.
    fn stage(
        &self,
        store: &dyn Store,
        durability: &Durability,
        writes: Vec<Write>,
        entries: Vec<AuditEntry>,
        now: Timestamp,
    ) -> Result<Vec<AuditRecord>, Fault> {
        let mut head = self.audit.lock().expect("audit chain lock");
        if let Some((seq, hash)) = store.cluster().and_then(|cluster| cluster.adopted_head()) {
            head.adopt(seq, hash);
        }
        let mut chain = head.clone();
        let records: Vec<AuditRecord> = entries.into_iter().map(|entry| chain.next_record(entry, now)).collect();
        let mut all = writes;
        all.extend(records.iter().cloned().map(Write::Audit));
        let started = std::time::Instant::now();
        let staged = store.stage(&all);
        crate::metrics::audit_append(started.elapsed().as_secs_f64());
        if let Err(error) = staged {
            tracing::error!(%error, "store write failed; action not acknowledged");
            return Err(Fault::store(&error));
        }
        let generation = durability.staged();
        let _ = STAGED_BY_REQUEST.try_with(|staged| staged.set(staged.get().max(generation)));
        *head = chain;
        Ok(records)
    }
}

impl Registry {
    /// Stores bookkeeping (no audit record, nothing an operator relies on) without waiting for
    /// the disk; sled writes it out within its flush interval, PostgreSQL with the next flush
    /// (at most a second later), and shutdown flushes.
    pub fn record_quietly(&mut self, store: &dyn Store, durability: &Durability, agent: crate::store::AgentRecord) {
        if stage_bookkeeping(store, durability, Write::Agent(agent.clone())) {
            self.agents.insert(agent.agent_id.clone(), agent);
        }
    }
}

impl Registry {
    /// Records that a PAT passed the gate, at most once per
    /// [`crate::store::PAT_LAST_USED_RESOLUTION_MS`] per PAT and without waiting for the disk,
    /// so steady use costs no write per request.
    pub fn touch_pat(&mut self, store: &dyn Store, durability: &Durability, hash: &[u8; 32], now: Timestamp) {
        if !self.pat_touch_due(hash, now) {
            return;
        }
        let Some(mut pat) = self.pats.get(hash).cloned() else { return };
        pat.last_used_at = Some(now);
        if stage_bookkeeping(store, durability, Write::Pat(pat.clone())) {
            self.pats.insert(pat.hash, pat);
        }
    }
}

/// Stages one bookkeeping write without waiting for it; counted as staged (nobody waits for
/// it) so the next bookkeeping flush covers it on a backend that writes only on flush. Whether
/// it was staged.
fn stage_bookkeeping(store: &dyn Store, durability: &Durability, write: Write) -> bool {
    match store.stage(&[write]) {
        Ok(()) => {
            durability.staged();
            true
        }
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
    /// failed flush the first caller reloads the view (exclusively) and appends then.
    pub async fn append_audit(&self, entries: Vec<AuditEntry>, now: Timestamp) -> Result<Vec<AuditRecord>, Fault> {
        if !self.durability.poisoned() {
            let registry = self.registry.read().await;
            match registry.append(self.store.as_ref(), &self.durability, entries.clone(), now) {
                Err(error) if error.code == argus_fsm::Code::StoreUnavailable && self.durability.poisoned() => {}
                answer => return answer,
            }
        }
        self.registry.write().await.commit(self.store.as_ref(), &self.durability, vec![], entries, now)
    }

    /// Makes sure this node's view is the store's after a failed flush (exclusive, and only
    /// then): 503 `store_unavailable` while the store is still away.
    pub async fn ensure_current(&self) -> Result<(), Fault> {
        if self.durability.poisoned() {
            self.registry.write().await.ensure_current(self.store.as_ref(), &self.durability)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditEvent;
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

    #[test]
    fn appends_under_the_shared_lock_keep_one_unbroken_chain() {
        // Commands append through `&Registry` (the shared lock) from many tasks at once; the
        // chain's own lock must make that one chain, staged in order, with no seq twice.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::SledStore::open(&dir.path().join("db")).unwrap());
        let durability = Durability::new(store.clone());
        let registry = Registry::default();
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let (registry, store, durability) = (&registry, store.as_ref(), &durability);
                scope.spawn(move || {
                    for i in 0..100 {
                        let entry =
                            AuditEntry::system(AuditEvent::RemoteSupportCommand).reason(format!("{thread}/{i}"));
                        registry.append(store, durability, vec![entry], Timestamp(i)).unwrap();
                    }
                });
            }
        });
        store.flush().unwrap();
        let verified = crate::store::audit::verify(store.as_ref(), None).unwrap();
        assert_eq!(verified, crate::store::audit::Verification::Intact { records: 800 });
    }

    #[test]
    fn appends_are_refused_until_a_failed_flush_is_followed_by_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::SledStore::open(&dir.path().join("db")).unwrap());
        let durability = Durability::new(store.clone());
        let registry = Registry::default();
        durability.poisoned.store(true, std::sync::atomic::Ordering::SeqCst);
        let refused = registry.append(
            store.as_ref(),
            &durability,
            vec![AuditEntry::system(AuditEvent::TenantArmed)],
            Timestamp(1),
        );
        assert_eq!(refused.unwrap_err().code, argus_fsm::Code::StoreUnavailable);
        assert_eq!(
            crate::store::audit::verify(store.as_ref(), None).unwrap(),
            crate::store::audit::Verification::Intact { records: 0 }
        );
    }
}
