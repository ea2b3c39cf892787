//! The tamper-evident audit trail: append-only records chained by SHA-256.
//!
//! `hash = SHA-256(prev_hash || canonical JSON of the record with "hash" empty)`. Changing,
//! removing or reordering any record breaks the chain at that record, which
//! `argus-ops audit verify` names.

use argus_fsm::signed::sha256;
use argus_fsm::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{Store, StoreError};
use crate::time_format::rfc3339;

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record, as stored and as `GET /support/audit` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: String,
    pub event: String,
    pub actor: String,
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
    /// The node that wrote it (SPEC §10). Absent from records written before nodes had IDs,
    /// which therefore hash exactly as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// What a caller says happened; the chain adds `seq`, `at` and the hashes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub event: &'static str,
    pub actor: String,
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

impl AuditEntry {
    /// An entry by `actor` with nothing else filled in.
    pub fn new(event: &'static str, actor: impl Into<String>) -> AuditEntry {
        AuditEntry {
            event,
            actor: actor.into(),
            tenant: None,
            agent: None,
            session_id: None,
            reason: None,
            details: Value::Object(Default::default()),
        }
    }
    /// An entry by the system itself.
    pub fn system(event: &'static str) -> AuditEntry {
        AuditEntry::new(event, "system")
    }
    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// Sets the agent.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }
    /// Sets the session.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }
    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// Sets the details object.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The head of the chain: the next sequence number and the last hash, and the node whose
/// records it makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChain {
    next_seq: u64,
    last_hash: String,
    node: Option<String>,
}

impl Default for AuditChain {
    fn default() -> Self {
        AuditChain { next_seq: 1, last_hash: GENESIS.into(), node: None }
    }
}

impl AuditChain {
    /// Resumes after the last stored record.
    pub fn resume(last: Option<&AuditRecord>) -> AuditChain {
        let mut chain = AuditChain::default();
        if let Some(record) = last {
            chain.accept(record);
        }
        chain
    }

    /// Continues after `seq`/`hash` (a head a shared store adopted), unless this chain is
    /// already past it.
    pub fn adopt(&mut self, seq: u64, hash: String) {
        if seq >= self.next_seq {
            self.next_seq = seq + 1;
            self.last_hash = hash;
        }
    }

    /// The node whose records this chain makes.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Records made from now on name `node` as their writer.
    pub fn written_by(mut self, node: Option<String>) -> AuditChain {
        self.node = node;
        self
    }

    /// Builds the next record. The chain advances only when [`AuditChain::accept`] is called
    /// after the record was committed, so a failed commit leaves no gap.
    pub fn next_record(&mut self, entry: AuditEntry, now: Timestamp) -> AuditRecord {
        let mut record = AuditRecord {
            seq: self.next_seq,
            at: rfc3339(now),
            event: entry.event.into(),
            actor: entry.actor,
            tenant: entry.tenant,
            agent: entry.agent,
            session_id: entry.session_id,
            reason: entry.reason,
            details: entry.details,
            node: self.node.clone(),
            prev_hash: self.last_hash.clone(),
            hash: String::new(),
        };
        record.hash = record_hash(&record);
        self.accept(&record);
        record
    }

    /// Moves the head past a committed record.
    pub fn accept(&mut self, record: &AuditRecord) {
        self.next_seq = record.seq + 1;
        self.last_hash = record.hash.clone();
    }
}

/// The hash a record must carry.
pub fn record_hash(record: &AuditRecord) -> String {
    let mut unhashed = record.clone();
    unhashed.hash = String::new();
    let json = serde_json::to_vec(&unhashed).expect("audit records always serialize");
    let mut bytes = record.prev_hash.as_bytes().to_vec();
    bytes.extend_from_slice(&json);
    hex::encode(sha256(&bytes))
}

/// Rebuilds `records` (consecutive, as one writer made them) to follow `after_seq` and
/// `after_hash` instead: what a shared store does when another node appended first. Contents
/// are kept; only the sequence numbers and hashes change.
pub fn rechain(records: &mut [AuditRecord], after_seq: u64, after_hash: &str) {
    let (mut seq, mut prev) = (after_seq, after_hash.to_string());
    for record in records {
        seq += 1;
        record.seq = seq;
        record.prev_hash = prev;
        record.hash = record_hash(record);
        prev = record.hash.clone();
    }
}

/// What `audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact { records: u64 },
    Broken { seq: u64, why: String },
}

/// Walks the whole chain from the store.
pub fn verify(store: &dyn Store) -> Result<Verification, StoreError> {
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    for record in store.audit_from(0) {
        let record = match record {
            Ok(record) => record,
            Err(StoreError::Corrupt { .. }) => {
                return Ok(Verification::Broken { seq: expected_seq, why: "record does not decode".into() })
            }
            Err(other) => return Err(other),
        };
        if record.seq != expected_seq {
            return Ok(Verification::Broken { seq: expected_seq, why: format!("missing; found {} next", record.seq) });
        }
        if record.prev_hash != prev {
            return Ok(Verification::Broken { seq: record.seq, why: "prev_hash does not match".into() });
        }
        if record_hash(&record) != record.hash {
            return Ok(Verification::Broken { seq: record.seq, why: "hash does not match content".into() });
        }
        prev = record.hash;
        expected_seq += 1;
    }
    Ok(Verification::Intact { records: expected_seq - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{audit_record_key, SledStore, Write};

    fn store_with(n: u64) -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        let mut chain = AuditChain::default();
        for i in 0..n {
            let record = chain.next_record(
                AuditEntry::system("tenant_armed").tenant("T").reason(format!("r{i}")),
                Timestamp(i as i64),
            );
            store.commit(&[Write::Audit(record)]).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn intact_chain_verifies_with_its_count() {
        let (_dir, store) = store_with(5);
        assert_eq!(verify(&store).unwrap(), Verification::Intact { records: 5 });
    }

    #[test]
    fn edited_record_is_named() {
        let (_dir, store) = store_with(5);
        let key = audit_record_key(3);
        let raw = store.raw_get(&key).unwrap().unwrap();
        let edited = String::from_utf8(raw).unwrap().replace("\"r2\"", "\"r9\"");
        store.raw_put(&key, edited.as_bytes()).unwrap();
        assert!(matches!(verify(&store).unwrap(), Verification::Broken { seq: 3, .. }));
    }

    #[test]
    fn rehashed_record_breaks_the_next_link() {
        let (_dir, store) = store_with(5);
        let key = audit_record_key(2);
        let mut record: AuditRecord = serde_json::from_slice(&store.raw_get(&key).unwrap().unwrap()).unwrap();
        record.reason = Some("forged".into());
        record.hash = record_hash(&record);
        store.raw_put(&key, &serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(matches!(verify(&store).unwrap(), Verification::Broken { seq: 3, .. }));
    }

    #[test]
    fn removed_record_is_named() {
        let (_dir, store) = store_with(5);
        store.raw_remove(&audit_record_key(4)).unwrap();
        assert!(matches!(verify(&store).unwrap(), Verification::Broken { seq: 4, .. }));
    }

    #[test]
    fn the_writing_node_is_hashed_and_records_before_nodes_hash_as_they_did() {
        let entry = AuditEntry::system("tenant_armed").tenant("T");
        let before = AuditChain::default().next_record(entry.clone(), Timestamp(1));
        assert!(!serde_json::to_string(&before).unwrap().contains("\"node\""), "no node key when none");
        let parsed: AuditRecord = serde_json::from_str(&serde_json::to_string(&before).unwrap()).unwrap();
        assert_eq!(record_hash(&parsed), before.hash, "an old record still verifies");
        let mut by_node = AuditChain::default().written_by(Some("n1".into())).next_record(entry, Timestamp(1));
        assert_eq!(by_node.node.as_deref(), Some("n1"));
        by_node.node = Some("n2".into());
        assert_ne!(record_hash(&by_node), by_node.hash, "claiming another writer breaks the record");
    }

    #[test]
    fn rechained_records_follow_the_new_head_and_keep_their_content() {
        let mut chain = AuditChain::default();
        let mut records: Vec<AuditRecord> = (0..3)
            .map(|i| chain.next_record(AuditEntry::system("tenant_armed").reason(format!("{i}")), Timestamp(i)))
            .collect();
        rechain(&mut records, 41, "ab");
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![42, 43, 44]);
        assert_eq!(records[0].prev_hash, "ab");
        for pair in records.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        assert!(records.iter().all(|r| record_hash(r) == r.hash));
        assert_eq!(records[2].reason.as_deref(), Some("2"));
    }
}
