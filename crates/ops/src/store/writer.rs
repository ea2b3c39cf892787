//! The one group-commit writer: it owns what this node has staged and not yet written, and the
//! audit chain's head, and it alone decides both.
//!
//! A request stages its writes and its audit *entries* (not records) and gets a generation;
//! whoever must acknowledge something waits until a flush covers its generation. One flush at a
//! time takes everything pending as one group, chains the group's entries after the head it
//! holds, and hands the group to the backend ([`Store::write_group`]), which writes it in one
//! atomic, durable step and answers the head it landed at (a shared store may have re-chained
//! the group after another node's records). Concurrent waiters share that one write, so N
//! actions in flight cost one fsync or one transaction, not N.
//!
//! A failed write dooms the group and everything staged behind it (computed from state that
//! never became durable): the writer is poisoned and refuses stages until the server has
//! reloaded its view from the store ([`Writer::reloaded`]); after that, the doomed generations
//! still answer failure and the head continues from the store's newest record.
//!
//! The rules live in [`Queue`], which does no IO: [`Writer`] drives it against a real backend,
//! and the simulation drives the same queue against its simulated store.

use std::sync::{Arc, Mutex};

use argus_fsm::Timestamp;

use super::audit::{AuditChain, AuditEntry, AuditRecord, TenantHeads};
use super::head::{ChainFloor, Head};
use super::{Changes, Store, StoreError, Write};

/// The rules of group commit, without IO.
#[derive(Debug)]
pub struct Queue {
    pending: Vec<Staged>,
    /// The keys of the group being written now (still unflushed until it lands).
    in_flight: Changes,
    /// The head after the last group that landed (or the store's, after a reload).
    chain: AuditChain,
    staged: u64,
    flushed: u64,
    /// The target of the group being written now.
    in_flight_target: Option<u64>,
    /// Generations that will never be durable, as ranges `(after, through]`: a failed group
    /// and what was staged behind it, or what a reload threw away. Kept for good: a waiter may
    /// come late, after later groups landed past them.
    doomed: Vec<(u64, u64)>,
    poisoned: bool,
}

#[derive(Debug)]
struct Staged {
    writes: Vec<Write>,
    entries: Vec<AuditEntry>,
    at: Timestamp,
}

/// What one flush writes: every pending write, then the records chained from the entries, in
/// the order they were staged.
#[derive(Debug)]
pub struct Group {
    /// Every generation up to this one is durable once the group lands.
    pub target: u64,
    pub writes: Vec<Write>,
    chain_after: AuditChain,
}

impl Group {
    /// The audit records of this group, in chain order.
    pub fn records(&self) -> impl Iterator<Item = &AuditRecord> {
        self.writes.iter().filter_map(|write| match write {
            Write::Audit(record) => Some(record),
            _ => None,
        })
    }
}

/// Where a generation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Durable,
    /// A write it depended on failed: it will never be durable.
    Doomed,
    Pending,
}

impl Queue {
    /// A queue whose chain continues after `last` (the store's newest record) and each
    /// tenant's head in `tenants`, making records that name `node` as their writer.
    pub fn resume(last: Option<&AuditRecord>, tenants: TenantHeads, node: Option<String>) -> Queue {
        Queue {
            pending: Vec::new(),
            in_flight: Changes::default(),
            chain: AuditChain::resume(last, tenants).written_by(node),
            staged: 0,
            flushed: 0,
            in_flight_target: None,
            doomed: Vec::new(),
            poisoned: false,
        }
    }

    /// Queues `writes` and the records of `entries` (made at `at`); answers the generation a
    /// waiter waits for. Refused while a failed write has not been followed by a reload.
    pub fn stage(&mut self, writes: Vec<Write>, entries: Vec<AuditEntry>, at: Timestamp) -> Result<u64, StoreError> {
        if self.poisoned {
            return Err(StoreError::Unavailable("an earlier write failed; the node is reloading its view".into()));
        }
        self.pending.push(Staged { writes, entries, at });
        self.staged += 1;
        Ok(self.staged)
    }

    /// `entry` as a record this node writes, for a store that chains it itself (an end claim on
    /// a shared store); its `seq` and hashes are placeholders until then.
    pub fn record_of(&self, entry: AuditEntry, at: Timestamp) -> AuditRecord {
        AuditChain::resume(None, TenantHeads::new())
            .written_by(self.chain.node().map(str::to_string))
            .next_record(entry, at)
    }

    /// Where generation `generation` stands.
    pub fn standing(&self, generation: u64) -> Standing {
        if self.doomed.iter().any(|&(after, through)| generation > after && generation <= through) {
            Standing::Doomed
        } else if self.flushed >= generation {
            Standing::Durable
        } else if self.poisoned && self.in_flight_target.is_none_or(|target| generation > target) {
            // Staged on a view that failed or went stale: never written.
            Standing::Doomed
        } else {
            Standing::Pending
        }
    }

    /// The newest generation staged.
    pub fn newest(&self) -> u64 {
        self.staged
    }

    /// Takes everything pending as one group, its entries chained after the head. `None` when
    /// nothing is pending (and then everything staged is already durable or doomed).
    pub fn take(&mut self) -> Option<Group> {
        if self.pending.is_empty() || self.poisoned {
            return None;
        }
        let mut chain = self.chain.clone();
        let mut writes = Vec::new();
        let mut records = Vec::new();
        for staged in self.pending.drain(..) {
            writes.extend(staged.writes);
            records.extend(staged.entries.into_iter().map(|entry| chain.next_record(entry, staged.at)));
        }
        writes.extend(records.into_iter().map(Write::Audit));
        self.in_flight = Changes::keys_of("", &writes);
        self.in_flight_target = Some(self.staged);
        Some(Group { target: self.staged, writes, chain_after: chain })
    }

    /// `group` is durable; its records landed with the last at `head` (past where this queue
    /// chained them when a shared store put them after another node's records).
    pub fn landed(&mut self, group: Group, head: Option<&Head>) {
        self.chain = group.chain_after;
        if let Some(head) = head {
            self.chain.adopt(head.seq, head.hash.clone(), &head.tenants);
        }
        self.flushed = self.flushed.max(group.target);
        self.in_flight = Changes::default();
        self.in_flight_target = None;
    }

    /// The group's write failed: it and everything staged behind it are doomed.
    pub fn failed(&mut self) {
        self.pending.clear();
        self.in_flight = Changes::default();
        self.in_flight_target = None;
        self.doom(self.flushed, self.staged);
        self.poisoned = true;
    }

    /// This node's view may miss writes (another node's, or its own failed ones): nothing is
    /// staged until it has reloaded.
    pub fn stale(&mut self) {
        self.poisoned = true;
    }

    /// Records `(after, through]` as doomed (merged with the last range when they touch, so the
    /// list stays as short as the failures were far apart).
    fn doom(&mut self, after: u64, through: u64) {
        if through <= after {
            return;
        }
        match self.doomed.last_mut() {
            Some(last) if last.1 >= after => last.1 = last.1.max(through),
            _ => self.doomed.push((after, through)),
        }
    }

    /// Whether the view must reload before the next stage.
    pub fn poisoned(&self) -> bool {
        self.poisoned
    }

    /// The view was reloaded from the store, whose newest record is `last` and whose tenant
    /// heads are `tenants`: what was staged and never written stays failed, and the chain
    /// continues from the store's head.
    pub fn reloaded(&mut self, last: Option<&AuditRecord>, tenants: TenantHeads) {
        // What was pending is thrown away; a group in flight may still land.
        let after = self.flushed.max(self.in_flight_target.unwrap_or(0));
        self.doom(after, self.staged);
        self.pending.clear();
        self.poisoned = false;
        let node = self.chain.node().map(str::to_string);
        self.chain = AuditChain::resume(last, tenants).written_by(node);
    }

    /// The keys this node has staged or is writing and that have not landed: newer here than
    /// what the store answers.
    pub fn unflushed(&self) -> Changes {
        let mut keys = Changes::keys_of("", self.pending.iter().flat_map(|staged| &staged.writes));
        keys.merge(self.in_flight.clone());
        keys
    }
}

/// The writer a server runs: the [`Queue`] driven against its backend, flushes one at a time.
pub struct Writer {
    store: Arc<dyn Store>,
    queue: Mutex<Queue>,
    flusher: tokio::sync::Mutex<()>,
    /// This node's remembered head: stages are refused once the store fell behind it, and
    /// every group that lands raises it.
    floor: Option<Arc<ChainFloor>>,
}

impl Writer {
    /// The writer for `store`, continuing the chain after `last` (each tenant's after its head
    /// in `tenants`), its records naming `node`.
    pub fn new(
        store: Arc<dyn Store>,
        floor: Option<Arc<ChainFloor>>,
        last: Option<&AuditRecord>,
        tenants: TenantHeads,
        node: Option<String>,
    ) -> Writer {
        Writer {
            store,
            queue: Mutex::new(Queue::resume(last, tenants, node)),
            flusher: tokio::sync::Mutex::new(()),
            floor,
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().expect("writer queue lock")
    }

    /// Stages `writes` and `entries` (see [`Queue::stage`]); refused, too, once the store
    /// fell behind this node's remembered head.
    pub fn stage(&self, writes: Vec<Write>, entries: Vec<AuditEntry>, at: Timestamp) -> Result<u64, StoreError> {
        if let Some(refusal) = self.floor.as_ref().and_then(|floor| floor.refusal()) {
            return Err(refusal);
        }
        self.queue().stage(writes, entries, at)
    }

    /// `entry` as a record this node writes, for a store that chains it itself (an end claim on
    /// a shared store); its `seq` and hashes are placeholders until then.
    pub fn record_of(&self, entry: AuditEntry, at: Timestamp) -> AuditRecord {
        self.queue().record_of(entry, at)
    }

    /// Whether a write failed (or the view went stale) and the view has not reloaded since.
    pub fn poisoned(&self) -> bool {
        self.queue().poisoned()
    }

    /// This node's view may miss other nodes' writes: reload it before the next decision.
    pub fn stale(&self) {
        self.queue().stale();
    }

    /// The view was reloaded from the store, whose newest record is `last` and whose tenant
    /// heads are `tenants`.
    pub fn reloaded(&self, last: Option<&AuditRecord>, tenants: TenantHeads) {
        self.queue().reloaded(last, tenants);
    }

    /// The keys staged or being written here and not yet landed.
    pub fn unflushed(&self) -> Changes {
        self.queue().unflushed()
    }

    /// Waits until generation `generation` is durable: shares a flush in progress, or runs
    /// one that takes everything pending.
    pub async fn wait(&self, generation: u64) -> Result<(), StoreError> {
        let doomed = || StoreError::Unavailable("a write this action depended on was not stored".into());
        match self.queue().standing(generation) {
            Standing::Durable => return Ok(()),
            Standing::Doomed => return Err(doomed()),
            Standing::Pending => {}
        }
        let _flusher = self.flusher.lock().await;
        let group = {
            let mut queue = self.queue();
            match queue.standing(generation) {
                Standing::Durable => return Ok(()),
                Standing::Doomed => return Err(doomed()),
                Standing::Pending => {}
            }
            // Pending and not doomed means staged here and not yet taken: `take` has it. (A
            // generation never staged here has nothing to wait for.)
            let Some(group) = queue.take() else { return Ok(()) };
            group
        };
        match self.store.write_group(group.writes.clone()).await {
            Ok(head) => {
                if let (Some(floor), Some(head)) = (&self.floor, &head) {
                    floor.observe(head.clone());
                }
                self.queue().landed(group, head.as_ref());
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "store write failed; nothing of it is acknowledged");
                self.queue().failed();
                Err(error)
            }
        }
    }

    /// Waits until everything staged so far is durable.
    pub async fn wait_all(&self) -> Result<(), StoreError> {
        let newest = self.queue().newest();
        self.wait(newest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditEvent;

    fn entry(reason: &str) -> AuditEntry {
        AuditEntry::system(AuditEvent::TenantArmed).reason(reason)
    }

    fn head_of(group: &Group) -> Option<Head> {
        group.records().last().map(|r| Head::at(r.seq, r.hash.clone()))
    }

    #[test]
    fn a_group_is_everything_pending_chained_in_stage_order() {
        let mut queue = Queue::resume(None, TenantHeads::new(), Some("n1".into()));
        let first = queue.stage(vec![], vec![entry("a"), entry("b")], Timestamp(1)).unwrap();
        let second = queue.stage(vec![], vec![entry("c")], Timestamp(2)).unwrap();
        assert_eq!((first, second), (1, 2));
        assert_eq!(queue.standing(2), Standing::Pending);
        let group = queue.take().unwrap();
        assert_eq!(group.target, 2);
        let records: Vec<&AuditRecord> = group.records().collect();
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(records.iter().map(|r| r.reason.as_deref().unwrap()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(records.iter().all(|r| r.node.as_deref() == Some("n1")));
        assert_eq!(records[1].prev_hash, records[0].hash);
        assert!(queue.take().is_none(), "nothing left");
        assert_eq!(queue.standing(1), Standing::Pending, "not durable before it lands");
        let head = head_of(&group);
        queue.landed(group, head.as_ref());
        assert_eq!(queue.standing(2), Standing::Durable);
        // The next group continues the chain.
        queue.stage(vec![], vec![entry("d")], Timestamp(3)).unwrap();
        let next = queue.take().unwrap();
        let record = next.records().next().unwrap();
        assert_eq!((record.seq, record.prev_hash.as_str()), (4, head.unwrap().hash.as_str()));
    }

    #[test]
    fn a_group_that_landed_after_other_records_moves_the_head_there() {
        let mut queue = Queue::resume(None, TenantHeads::new(), None);
        queue.stage(vec![], vec![entry("a")], Timestamp(1)).unwrap();
        let group = queue.take().unwrap();
        queue.landed(group, Some(&Head::at(7, "h7")));
        queue.stage(vec![], vec![entry("b")], Timestamp(2)).unwrap();
        let record = queue.take().unwrap().records().next().unwrap().clone();
        assert_eq!((record.seq, record.prev_hash.as_str()), (8, "h7"));
    }

    #[test]
    fn a_failed_write_dooms_everything_staged_until_a_reload_and_the_chain_restarts_from_the_store() {
        let mut queue = Queue::resume(None, TenantHeads::new(), None);
        queue.stage(vec![], vec![entry("a")], Timestamp(1)).unwrap();
        let group = queue.take().unwrap();
        let behind = queue.stage(vec![], vec![entry("b")], Timestamp(2)).unwrap();
        queue.failed();
        assert_eq!(queue.standing(1), Standing::Doomed);
        assert_eq!(queue.standing(behind), Standing::Doomed, "staged behind the failed group");
        assert!(queue.stage(vec![], vec![entry("c")], Timestamp(3)).is_err(), "no stage on a stale view");
        assert!(queue.take().is_none());
        drop(group);
        let stored = {
            let mut other = Queue::resume(None, TenantHeads::new(), None);
            other.stage(vec![], vec![entry("x")], Timestamp(1)).unwrap();
            other.take().unwrap().records().next().unwrap().clone()
        };
        queue.reloaded(Some(&stored), TenantHeads::new());
        assert_eq!(queue.standing(behind), Standing::Doomed, "still failed after the reload");
        let next = queue.stage(vec![], vec![entry("d")], Timestamp(4)).unwrap();
        assert_eq!(queue.standing(next), Standing::Pending);
        let record = queue.take().unwrap().records().next().unwrap().clone();
        assert_eq!((record.seq, record.prev_hash), (2, stored.hash));
    }

    /// Found by the nemesis run: a request that reached its wait late (a deactivation waits for
    /// the agent's acknowledgement first) found later groups landed past its doomed generation
    /// and was answered done — an acknowledged deactivation with no end record.
    #[test]
    fn a_doomed_generation_stays_doomed_after_later_groups_land() {
        let mut queue = Queue::resume(None, TenantHeads::new(), None);
        let before = queue.stage(vec![], vec![entry("a")], Timestamp(1)).unwrap();
        let group = queue.take().unwrap();
        queue.landed(group, None);
        let doomed = queue.stage(vec![], vec![entry("b")], Timestamp(2)).unwrap();
        let _failed = queue.take().unwrap();
        let behind = queue.stage(vec![], vec![entry("c")], Timestamp(3)).unwrap();
        queue.failed();
        queue.reloaded(None, TenantHeads::new());
        let after = queue.stage(vec![], vec![entry("d")], Timestamp(4)).unwrap();
        let group = queue.take().unwrap();
        queue.landed(group, None);
        assert_eq!(queue.standing(before), Standing::Durable);
        assert_eq!(queue.standing(doomed), Standing::Doomed, "its group failed");
        assert_eq!(queue.standing(behind), Standing::Doomed, "staged behind the failed group");
        assert_eq!(queue.standing(after), Standing::Durable);
    }

    /// A view marked stale while a group is in flight: the reload dooms what was pending, not
    /// the group in flight, which may still land (and is then durable).
    #[test]
    fn a_reload_while_a_group_is_in_flight_dooms_only_what_was_pending() {
        let mut queue = Queue::resume(None, TenantHeads::new(), None);
        let flying = queue.stage(vec![], vec![entry("a")], Timestamp(1)).unwrap();
        let group = queue.take().unwrap();
        let pending = queue.stage(vec![], vec![entry("b")], Timestamp(2)).unwrap();
        queue.stale();
        queue.reloaded(None, TenantHeads::new());
        queue.landed(group, None);
        assert_eq!(queue.standing(flying), Standing::Durable);
        assert_eq!(queue.standing(pending), Standing::Doomed);
    }

    #[test]
    fn unflushed_keys_cover_pending_and_in_flight_writes_until_they_land() {
        let mut queue = Queue::resume(None, TenantHeads::new(), None);
        let agent = |id: &str| {
            Write::Agent(crate::store::AgentRecord {
                agent_id: id.into(),
                enrollment: argus_fsm::enrollment::Enrollment::Pending {
                    tenant: "T1".into(),
                    token_hash: [0; 32],
                    expires_at: Timestamp(10),
                    issued_at: Timestamp(0),
                },
                last_seen: None,
                manifest: None,
                remote_support_on: true,
                patches: Default::default(),
            })
        };
        queue.stage(vec![agent("a1")], vec![], Timestamp(1)).unwrap();
        let group = queue.take().unwrap();
        queue.stage(vec![agent("a2")], vec![], Timestamp(1)).unwrap();
        assert_eq!(queue.unflushed().agents, ["a1", "a2"]);
        queue.landed(group, None);
        assert_eq!(queue.unflushed().agents, ["a2"]);
    }

    #[tokio::test]
    async fn one_write_covers_every_waiter_staged_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::SledStore::open(&dir.path().join("db")).unwrap());
        let writer = Writer::new(store.clone(), None, None, TenantHeads::new(), None);
        let generations: Vec<u64> =
            (0..5).map(|i| writer.stage(vec![], vec![entry(&i.to_string())], Timestamp(i)).unwrap()).collect();
        writer.wait(generations[0]).await.unwrap();
        for generation in &generations {
            assert_eq!(writer.queue().standing(*generation), Standing::Durable, "one write covered all");
        }
        assert_eq!(
            crate::store::audit::verify(store.as_ref(), None).unwrap(),
            crate::store::audit::Verification::Intact { records: 5 }
        );
    }

    #[test]
    fn stages_from_many_threads_make_one_unbroken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::SledStore::open(&dir.path().join("db")).unwrap());
        let writer = Writer::new(store.clone(), None, None, TenantHeads::new(), None);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let writer = &writer;
                scope.spawn(move || {
                    let local = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    for i in 0..100 {
                        let entry =
                            AuditEntry::system(AuditEvent::RemoteSupportCommand).reason(format!("{thread}/{i}"));
                        let generation = writer.stage(vec![], vec![entry], Timestamp(i)).unwrap();
                        if i % 10 == 0 {
                            // Flushes interleave with other threads' stages.
                            local.block_on(writer.wait(generation)).unwrap();
                        }
                    }
                });
            }
        });
        runtime.block_on(writer.wait_all()).unwrap();
        let verified = crate::store::audit::verify(store.as_ref(), None).unwrap();
        assert_eq!(verified, crate::store::audit::Verification::Intact { records: 800 });
    }

    #[test]
    fn a_stale_view_refuses_stages_until_it_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::SledStore::open(&dir.path().join("db")).unwrap());
        let writer = Writer::new(store.clone(), None, None, TenantHeads::new(), None);
        writer.stale();
        let refused = writer.stage(vec![], vec![entry("a")], Timestamp(1));
        assert!(matches!(refused, Err(StoreError::Unavailable(_))));
        writer.reloaded(None, TenantHeads::new());
        let generation = writer.stage(vec![], vec![entry("b")], Timestamp(2)).unwrap();
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(writer.wait(generation)).unwrap();
        assert_eq!(
            crate::store::audit::verify(store.as_ref(), None).unwrap(),
            crate::store::audit::Verification::Intact { records: 1 }
        );
    }
}
