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

/// The head of the chain: the next sequence number and the last hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChain {
    next_seq: u64,
    last_hash: String,
}

impl Default for AuditChain {
    fn default() -> Self {
        AuditChain { next_seq: 1, last_hash: GENESIS.into() }
    }
}

impl AuditChain {
    /// Resumes after the last stored record.
    pub fn resume(last: Option<&AuditRecord>) -> AuditChain {
        match last {
            Some(record) => AuditChain { next_seq: record.seq + 1, last_hash: record.hash.clone() },
            None => AuditChain::default(),
        }
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
}
