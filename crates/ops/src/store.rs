//! Durable state behind a narrow trait, with sled as the embedded backend.
//!
//! Every action commits its state changes *and* its audit record in one atomic batch, then
//! flushes, before it is acknowledged: after a crash the store holds both or neither. A
//! distributed backend only has to implement [`Store`].

use std::path::Path;

use argus_fsm::enrollment::Enrollment;
use argus_fsm::patch::ReplayMemory;
use argus_fsm::session::Session;
use argus_fsm::tenant::Tenant;
use argus_fsm::wire::Manifest;
use argus_fsm::Timestamp;
use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;

/// What the server keeps about one agent ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub agent_id: String,
    pub enrollment: Enrollment,
    /// Last time an authenticated link was seen (connect, message or disconnect).
    pub last_seen: Option<Timestamp>,
    /// The last capability manifest the agent sent.
    pub manifest: Option<Manifest>,
    /// The agent's kill switch as last reported (`true` = remote support allowed).
    pub remote_support_on: bool,
    /// Patch IDs ever relayed to this agent and applied (server-side replay memory).
    #[serde(default)]
    pub patches: ReplayMemory,
}

/// Operator scopes (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Admin,
    RemoteSupport,
    TenantAdmin,
}

impl Scope {
    /// Parses a scope name as written on the command line and in JSON.
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "admin" => Some(Scope::Admin),
            "remote_support" => Some(Scope::RemoteSupport),
            "tenant_admin" => Some(Scope::TenantAdmin),
            _ => None,
        }
    }
    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::RemoteSupport => "remote_support",
            Scope::TenantAdmin => "tenant_admin",
        }
    }
}

/// A personal access token, stored only as its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatRecord {
    pub hash: [u8; 32],
    pub owner: String,
    pub scopes: Vec<Scope>,
    /// For `tenant_admin`: the one tenant it may act on.
    pub tenant: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// Set by `pat revoke`: the PAT answers `invalid_pat` from then on. Kept (not deleted) so
    /// `pat ls` shows it and the audit trail's `pat_revoked` names something that exists.
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    /// Last request that passed the gate with it (recorded at most once a minute, without
    /// waiting for the disk: bookkeeping, not an audited fact).
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
}

/// How often `last_used_at` is written for a PAT in steady use.
pub const PAT_LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl PatRecord {
    /// The PAT's public identifier: `pat_` and the first 8 bytes of its hash in hex. Derived,
    /// so records made before IDs existed have one too; it reveals nothing usable about the
    /// secret (a preimage of a 256-bit random token's SHA-256).
    pub fn id(&self) -> String {
        format!("pat_{}", hex::encode(&self.hash[..8]))
    }

    /// Whether the PAT may be used at `now`: not revoked and not expired.
    pub fn usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// One write of an atomic commit.
#[derive(Clone, Debug)]
pub enum Write {
    Tenant(Tenant),
    Agent(AgentRecord),
    Pat(PatRecord),
    Session(Session),
    Audit(AuditRecord),
}

/// Everything loaded at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tenants: Vec<Tenant>,
    pub agents: Vec<AgentRecord>,
    pub pats: Vec<PatRecord>,
    pub sessions: Vec<Session>,
    pub last_audit: Option<AuditRecord>,
}

/// Storage failures. Callers answer `internal` and acknowledge nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored record {key} does not decode: {reason}")]
    Corrupt { key: String, reason: String },
}

/// The narrow storage interface the server needs.
pub trait Store: Send + Sync + 'static {
    /// Applies every write atomically and makes it durable before returning.
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// Applies writes atomically without waiting for the disk: only for bookkeeping that may be
    /// lost in a crash without harm (`last_seen`, the latest manifest). Never for audit records.
    fn stage(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// Loads all live state.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Audit records with `seq` in `from..`, ascending.
    fn audit_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_>;
    /// Audit records in descending `seq` order, newest first.
    fn audit_newest_first(&self) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_>;
    /// Flushes anything pending (shutdown).
    fn flush(&self) -> Result<(), StoreError>;
}

/// The sled backend: one tree, typed key prefixes, JSON values, so one batch is atomic
/// across every kind of record.
pub struct SledStore {
    db: sled::Db,
}

const TENANT: &str = "t/";
const AGENT: &str = "a/";
const PAT: &str = "p/";
const SESSION: &str = "s/";
const AUDIT: &str = "l/";

fn audit_key(seq: u64) -> String {
    format!("{AUDIT}{seq:020}")
}

impl SledStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(backend)?;
        Ok(SledStore { db })
    }

    fn scan<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.db.scan_prefix(prefix).map(|item| decode(item.map_err(backend)?)).collect()
    }
}

fn backend(error: sled::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn decode<T: for<'de> Deserialize<'de>>((key, value): (sled::IVec, sled::IVec)) -> Result<T, StoreError> {
    serde_json::from_slice(&value)
        .map_err(|e| StoreError::Corrupt { key: String::from_utf8_lossy(&key).into_owned(), reason: e.to_string() })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records of owned data always serialize")
}

impl Store for SledStore {
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.stage(writes)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    fn stage(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for write in writes {
            let (key, value) = match write {
                Write::Tenant(tenant) => (format!("{TENANT}{}", tenant.id), encode(tenant)),
                Write::Agent(agent) => (format!("{AGENT}{}", agent.agent_id), encode(agent)),
                Write::Pat(pat) => (format!("{PAT}{}", hex::encode(pat.hash)), encode(pat)),
                Write::Session(session) => (format!("{SESSION}{}", session.id), encode(session)),
                Write::Audit(record) => (audit_key(record.seq), encode(record)),
            };
            batch.insert(key.as_bytes(), value);
        }
        self.db.apply_batch(batch).map_err(backend)
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            tenants: self.scan(TENANT)?,
            agents: self.scan(AGENT)?,
            pats: self.scan(PAT)?,
            sessions: self.scan(SESSION)?,
            last_audit: self.audit_newest_first().next().transpose()?,
        })
    }

    fn audit_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_> {
        let start = audit_key(from);
        let end = format!("{AUDIT}~");
        Box::new(self.db.range(start.as_bytes()..end.as_bytes()).map(|item| decode(item.map_err(backend)?)))
    }

    fn audit_newest_first(&self) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_> {
        Box::new(self.db.scan_prefix(AUDIT).rev().map(|item| decode(item.map_err(backend)?)))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(backend)
    }
}

/// Test-only raw access, so tests can tamper with the audit trail as an attacker would.
impl SledStore {
    /// Overwrites a raw value (tests of tamper detection).
    pub fn raw_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db.insert(key.as_bytes(), value).map_err(backend)?;
        self.flush()
    }
    /// Removes a raw value (tests of tamper detection).
    pub fn raw_remove(&self, key: &str) -> Result<(), StoreError> {
        self.db.remove(key.as_bytes()).map_err(backend)?;
        self.flush()
    }
    /// Reads a raw value.
    pub fn raw_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key.as_bytes()).map_err(backend)?.map(|v| v.to_vec()))
    }
}

/// The raw key of an audit record (tests).
pub fn audit_record_key(seq: u64) -> String {
    audit_key(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditChain, AuditEntry};

    fn entry(event: &'static str) -> AuditEntry {
        AuditEntry::system(event)
    }

    #[test]
    fn state_and_audit_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = Tenant::new("T1".into(), [1; 32]);
        {
            let store = SledStore::open(&dir.path().join("db")).unwrap();
            let mut chain = AuditChain::default();
            let record = chain.next_record(entry("tenant_created"), Timestamp(1));
            store.commit(&[Write::Tenant(tenant.clone()), Write::Audit(record)]).unwrap();
        }
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        let snapshot = store.load().unwrap();
        assert_eq!(snapshot.tenants, vec![tenant]);
        assert_eq!(snapshot.last_audit.unwrap().seq, 1);
    }

    #[test]
    fn audit_iterates_in_sequence_order_beyond_ten() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        let mut chain = AuditChain::default();
        for i in 0..12 {
            let record = chain.next_record(entry("pat_created"), Timestamp(i));
            store.commit(&[Write::Audit(record)]).unwrap();
        }
        let seqs: Vec<u64> = store.audit_from(1).map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
        assert_eq!(store.audit_newest_first().next().unwrap().unwrap().seq, 12);
    }
}
