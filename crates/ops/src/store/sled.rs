//! The embedded backend: one sled tree, typed key prefixes, JSON values, so one batch is
//! atomic across every kind of record.

use std::path::Path;

use serde::{Deserialize, Serialize};

use argus_fsm::session::{Session, SessionState};

use super::audit::AuditRecord;
use super::{Snapshot, Store, StoreError, Write};

/// How long opening waits for another handle to release the store's lock.
/// (sled closes a dropped handle in the background; on a loaded machine that took over 3 s.)
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The sled backend.
pub struct SledStore {
    db: sled::Db,
}

const TENANT: &str = "t/";
const AGENT: &str = "a/";
const PAT: &str = "p/";
const SESSION: &str = "s/";
const ACCESS_REQUEST: &str = "r/";
const AUDIT: &str = "l/";
/// Session ID by token hash (hex): the index `session_by_token` reads.
const SESSION_BY_TOKEN: &str = "k/";
/// A tenant chain's head (SPEC §14), by tenant: written with the tenant's records.
const TENANT_HEAD: &str = "h/";
/// A resume mark's global `seq` by tenant and `tenant_seq` (every 64th record of a tenant, see
/// `audit::RESUME_MARK_EVERY`): where a tenant's export resumes from.
const TENANT_SEQ: &str = "i/";

/// A record's hash before the migration that gave it its tenant place, by `seq`.
const LEGACY_HASH: &str = "L/";
/// Set once every record has its tenant place.
const TENANT_CHAINS_DONE: &str = "m/tenant_chains";

/// How many times `audit_heads` reads the heads before it gives up on a moment between batches.
const HEADS_TRIES: usize = 100;

fn legacy_key(seq: u64) -> String {
    format!("{LEGACY_HASH}{seq:020}")
}

fn tenant_seq_key(tenant: &str, tenant_seq: u64) -> String {
    format!("{TENANT_SEQ}{tenant}/{tenant_seq:020}")
}

fn audit_key(seq: u64) -> String {
    format!("{AUDIT}{seq:020}")
}

/// The sled databases this process has opened, by absolute path (see [`SledStore::open_waiting`]).
static OPENED: std::sync::Mutex<std::collections::BTreeMap<std::path::PathBuf, sled::Db>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

impl SledStore {
    fn on(db: sled::Db) -> SledStore {
        SledStore { db }
    }

    /// Lets this process's hold on the database at `path` go, so the next open is a real
    /// reopen from disk (tests of durability across a reopen). The caller drops its own
    /// handles first; the lock is released once sled has closed in the background.
    pub fn forget(path: &Path) {
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        OPENED.lock().expect("opened lock").remove(&key);
    }

    /// Opens (or creates) the database at `path`.
    /// A handle that was just dropped (`init` before `serve` in one process, a test's raw
    /// access, a server that just stopped) may still hold the lock for a moment while sled
    /// finishes closing in the background, so a busy lock is retried for up to
    /// [`LOCK_WAIT`]; a store held by a running server still fails after that.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_waiting(path, LOCK_WAIT)
    }

    /// [`SledStore::open`] waiting at most `wait` for the lock.
    ///
    /// sled is meant to be opened once per process and its handle cloned: a second open of a
    /// path whose handle was just dropped races sled's background close (seen to take over
    /// 10 s on a loaded machine: `init` then `serve` in one process). So a process keeps the
    /// databases it opened, and opening one again hands out the same database.
    pub fn open_waiting(path: &Path, wait: std::time::Duration) -> Result<SledStore, StoreError> {
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut opened = OPENED.lock().expect("opened lock");
        if let Some(db) = opened.get(&key) {
            return Ok(SledStore::on(db.clone()));
        }
        let deadline = std::time::Instant::now() + wait;
        loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => {
                    opened.insert(key, db.clone());
                    return Ok(SledStore::on(db));
                }
                Err(sled::Error::Io(error))
                    if error.kind() == std::io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => return Err(backend(error)),
            }
        }
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

impl SledStore {
    /// Applies `writes` as one atomic batch (not yet flushed).
    fn apply(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.db.apply_batch(batch_of(writes)).map_err(backend)
    }
}

/// The batch that writes `writes` (and the indexes beside them).
fn batch_of(writes: &[Write]) -> sled::Batch {
    let mut batch = sled::Batch::default();
    // Each tenant's head once per batch: its last record's.
    let mut heads = std::collections::BTreeMap::new();
    for write in writes {
        let (key, value) = match write {
            Write::Tenant(tenant) => (format!("{TENANT}{}", tenant.id), encode(tenant)),
            Write::Agent(agent) => (format!("{AGENT}{}", agent.agent_id), encode(agent)),
            Write::Pat(pat) => (format!("{PAT}{}", hex::encode(pat.hash)), encode(pat)),
            Write::Session(session) => {
                batch.insert(
                    format!("{SESSION_BY_TOKEN}{}", hex::encode(session.token_hash)).as_bytes(),
                    session.id.as_bytes(),
                );
                (format!("{SESSION}{}", session.id), encode(session))
            }
            Write::Audit(record) => {
                if let Some((tenant, head)) = super::audit::TenantHead::of(record) {
                    if super::audit::is_resume_mark(head.tenant_seq) {
                        batch.insert(tenant_seq_key(tenant, head.tenant_seq).as_bytes(), &record.seq.to_be_bytes());
                    }
                    heads.insert(tenant, head);
                }
                (audit_key(record.seq), encode(record))
            }
            Write::AccessRequest(request) => (format!("{ACCESS_REQUEST}{}", request.request_id), encode(request)),
        };
        batch.insert(key.as_bytes(), value);
    }
    for (tenant, head) in heads {
        batch.insert(format!("{TENANT_HEAD}{tenant}").as_bytes(), encode(&head));
    }
    batch
}

/// The head a group of records written as chained ends at.
fn last_head(writes: &[Write]) -> Option<super::head::Head> {
    writes.iter().rev().find_map(|write| match write {
        Write::Audit(record) => Some(super::head::Head::at(record.seq, record.hash.clone())),
        _ => None,
    })
}

impl Store for SledStore {
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.apply(writes)?;
        self.db.flush().map(drop).map_err(backend)
    }

    fn write_group(&self, group: Vec<Write>) -> super::GroupWrite<'_> {
        Box::pin(async move {
            // One writer: the records land where the writer chained them.
            self.apply(&group)?;
            self.db.flush_async().await.map_err(backend)?;
            Ok(last_head(&group))
        })
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            tenants: self.scan(TENANT)?,
            agents: self.scan(AGENT)?,
            pats: self.scan(PAT)?,
            sessions: self.live_sessions()?,
            requests: self.scan(ACCESS_REQUEST)?,
            last_audit: self.audit_newest_first().next().transpose()?,
            tenant_heads: self.tenant_heads()?,
        })
    }

    fn audit_heads(&self) -> Result<(Option<AuditRecord>, super::audit::TenantHeads), StoreError> {
        // sled reads no snapshot across keys: read the tenant heads on both sides of the
        // newest record until nothing moved between (the one writer appends in batches, each
        // in a moment: a few tries are plenty; a writer that never pauses is an answer too).
        for _ in 0..HEADS_TRIES {
            let before = self.tenant_heads()?;
            let last = self.audit_newest_first().next().transpose()?;
            if self.tenant_heads()? == before {
                return Ok((last, before));
            }
        }
        Err(StoreError::Unavailable(format!(
            "the audit chain moved under each of {HEADS_TRIES} reads of its heads; try again"
        )))
    }

    fn audit_legacy_hash(&self, seq: u64) -> Result<Option<String>, StoreError> {
        let value = self.db.get(legacy_key(seq).as_bytes()).map_err(backend)?;
        Ok(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    // Gives the records written before tenant chains existed their places (SPEC §14), once:
    // every record rehashed in one batch with each one's hash before kept beside it (a node's
    // remembered head from before is still recognised), and a mark that it was done. Answers
    // how many records were rewritten, `None` when done already.
    fn give_tenant_places(&self) -> Result<Option<u64>, StoreError> {
        if self.db.contains_key(TENANT_CHAINS_DONE).map_err(backend)? {
            return Ok(None);
        }
        let records = self.audit_from(0).collect::<Result<Vec<_>, _>>()?;
        let placed = super::audit::give_tenant_places(&records)
            .map_err(|(seq, reason)| StoreError::Corrupt { key: audit_key(seq), reason })?;
        let writes: Vec<Write> = placed.iter().map(|(record, _)| Write::Audit(record.clone())).collect();
        let mut batch = batch_of(&writes);
        let mut rewritten = 0;
        for (record, before) in &placed {
            if record.hash != *before {
                batch.insert(legacy_key(record.seq).as_bytes(), before.as_bytes());
                rewritten += 1;
            }
        }
        batch.insert(TENANT_CHAINS_DONE, &b"1"[..]);
        self.db.apply_batch(batch).map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(Some(rewritten))
    }

    fn audit_tenant_head(&self, tenant: &str) -> Result<Option<super::audit::TenantHead>, StoreError> {
        let key = format!("{TENANT_HEAD}{tenant}");
        match self.db.get(key.as_bytes()).map_err(backend)? {
            Some(value) => Ok(Some(decode((sled::IVec::from(key.as_bytes()), value))?)),
            None => Ok(None),
        }
    }

    fn audit_mark_seq(&self, tenant: &str, mark: u64) -> Result<Option<u64>, StoreError> {
        let value = self.db.get(tenant_seq_key(tenant, mark).as_bytes()).map_err(backend)?;
        Ok(value.and_then(|bytes| <[u8; 8]>::try_from(&bytes[..]).ok()).map(u64::from_be_bytes))
    }

    fn audit_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_> {
        let start = audit_key(from);
        let end = format!("{AUDIT}~");
        Box::new(self.db.range(start.as_bytes()..end.as_bytes()).map(|item| decode(item.map_err(backend)?)))
    }

    fn audit_stored_from(&self, from: u64) -> super::StoredRecords<'_> {
        let start = audit_key(from);
        let end = format!("{AUDIT}~");
        Box::new(self.db.range(start.as_bytes()..end.as_bytes()).map(|item| {
            let (key, value) = item.map_err(backend)?;
            let seq = std::str::from_utf8(&key[AUDIT.len()..]).ok().and_then(|digits| digits.parse().ok()).ok_or_else(
                || StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "not an audit key".into(),
                },
            )?;
            Ok((seq, value.to_vec()))
        }))
    }

    fn audit_newest_first(&self) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_> {
        Box::new(self.db.scan_prefix(AUDIT).rev().map(|item| decode(item.map_err(backend)?)))
    }

    fn session_by_id(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let key = format!("{SESSION}{id}");
        match self.db.get(key.as_bytes()).map_err(backend)? {
            Some(value) => decode((key.as_bytes().into(), value)).map(Some),
            None => Ok(None),
        }
    }

    fn session_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        let Some(id) = self.db.get(format!("{SESSION_BY_TOKEN}{}", hex::encode(token_hash))).map_err(backend)? else {
            return Ok(None);
        };
        let key = [SESSION.as_bytes(), &id].concat();
        match self.db.get(&key).map_err(backend)? {
            Some(value) => decode((key.into(), value)).map(Some),
            None => Ok(None),
        }
    }
}

impl SledStore {
    /// Everything this store holds, every session included, and the whole audit chain in order
    /// (`migrate-store`).
    pub fn export(&self) -> Result<(Snapshot, Vec<AuditRecord>), StoreError> {
        let snapshot = Snapshot {
            tenants: self.scan(TENANT)?,
            agents: self.scan(AGENT)?,
            pats: self.scan(PAT)?,
            sessions: self.scan(SESSION)?,
            requests: self.scan(ACCESS_REQUEST)?,
            last_audit: None,
            tenant_heads: Default::default(),
        };
        let audit = self.audit_from(0).collect::<Result<Vec<_>, _>>()?;
        Ok((snapshot, audit))
    }

    /// Every tenant chain's head.
    fn tenant_heads(&self) -> Result<super::audit::TenantHeads, StoreError> {
        let mut heads = super::audit::TenantHeads::new();
        for item in self.db.scan_prefix(TENANT_HEAD) {
            let (key, value) = item.map_err(backend)?;
            let tenant = String::from_utf8_lossy(&key[TENANT_HEAD.len()..]).into_owned();
            heads.insert(tenant, decode((key, value))?);
        }
        Ok(heads)
    }

    /// The live sessions, for start-up. Stores written before the token index existed get it
    /// here, once.
    fn live_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let mut live = Vec::new();
        for session in self.scan::<Session>(SESSION)? {
            let index = format!("{SESSION_BY_TOKEN}{}", hex::encode(session.token_hash));
            if !self.db.contains_key(&index).map_err(backend)? {
                self.db.insert(index, session.id.as_bytes()).map_err(backend)?;
            }
            if matches!(session.state, SessionState::Active) {
                live.push(session);
            }
        }
        Ok(live)
    }
}

/// Test-only raw access, so tests can tamper with the audit trail as an attacker would.
impl SledStore {
    /// Overwrites a raw value (tests of tamper detection).
    pub fn raw_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db.insert(key.as_bytes(), value).map_err(backend)?;
        self.db.flush().map(drop).map_err(backend)
    }
    /// Removes a raw value (tests of tamper detection).
    pub fn raw_remove(&self, key: &str) -> Result<(), StoreError> {
        self.db.remove(key.as_bytes()).map_err(backend)?;
        self.db.flush().map(drop).map_err(backend)
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
    use crate::store::audit::{AuditChain, AuditEntry, AuditEvent};
    use argus_fsm::tenant::Tenant;
    use argus_fsm::Timestamp;

    fn entry(event: AuditEvent) -> AuditEntry {
        AuditEntry::system(event)
    }

    #[test]
    fn state_and_audit_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = Tenant::new("T1".into(), [1; 32]);
        {
            let store = SledStore::open(&dir.path().join("db")).unwrap();
            let mut chain = AuditChain::default();
            let record = chain.next_record(entry(AuditEvent::TenantCreated), Timestamp(1));
            store.commit(&[Write::Tenant(tenant.clone()), Write::Audit(record)]).unwrap();
        }
        SledStore::forget(&dir.path().join("db"));
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
            let record = chain.next_record(entry(AuditEvent::PatCreated), Timestamp(i));
            store.commit(&[Write::Audit(record)]).unwrap();
        }
        let seqs: Vec<u64> = store.audit_from(1).map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
        assert_eq!(store.audit_newest_first().next().unwrap().unwrap().seq, 12);
    }
}
