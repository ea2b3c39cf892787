//! Durable state behind a narrow trait ([`Store`]), with sled as the embedded backend
//! ([`sled`]) and the tamper-evident audit chain ([`audit`]).
//!
//! Every action commits its state changes *and* its audit record in one atomic batch, then
//! flushes, before it is acknowledged: after a crash the store holds both or neither. A
//! distributed backend only has to implement [`Store`].

pub mod audit;
pub mod head;
mod pg_listen;
mod pg_tls;
pub mod postgres;
mod sled;
pub mod url;
pub mod writer;

pub use self::postgres::PgStore;
pub use self::sled::{audit_record_key, SledStore};
pub use self::url::StoreUrl;

use argus_fsm::enrollment::Enrollment;
use argus_fsm::patch::ReplayMemory;
use argus_fsm::session::Session;
use argus_fsm::tenant::Tenant;
use argus_fsm::wire::Manifest;
use argus_fsm::Timestamp;
use serde::{Deserialize, Serialize};

use crate::store::audit::AuditRecord;

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
    /// An access request (SPEC §13) as it becomes.
    AccessRequest(argus_fsm::access::AccessRequest),
}

/// What another node changed, as its flush announced it: the keys to read again. `Everything`
/// after the announcements may have been missed (the listening connection was lost).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The node that made the changes.
    #[serde(rename = "n")]
    pub node: String,
    #[serde(rename = "t", default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// PAT hashes, hex.
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    pub pats: Vec<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
    /// Access request IDs.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<String>,
    #[serde(rename = "all", default, skip_serializing_if = "std::ops::Not::not")]
    pub everything: bool,
}

impl Changes {
    /// Whether nothing is named.
    pub fn is_empty(&self) -> bool {
        !self.everything
            && self.tenants.is_empty()
            && self.agents.is_empty()
            && self.pats.is_empty()
            && self.sessions.is_empty()
            && self.requests.is_empty()
    }

    /// The announcements (JSON) for a group of writes by `node`: its keys, in as many
    /// notifications as it takes to stay under PostgreSQL's 8,000-byte payload limit (a reconnect
    /// storm's bookkeeping names thousands of agents; "everything" would make every other node
    /// reload its whole view for it).
    pub fn announcements(node: &str, writes: &[Write]) -> Vec<String> {
        let all = Changes::keys_of(node, writes);
        let empty = || Changes { node: node.to_string(), ..Changes::default() };
        let base = serde_json::to_vec(&empty()).map_or(0, |json| json.len()) + 16;
        let mut chunks = Vec::new();
        let mut current = empty();
        let mut size = base;
        fn field(changes: &mut Changes, kind: usize) -> &mut Vec<String> {
            match kind {
                0 => &mut changes.tenants,
                1 => &mut changes.agents,
                2 => &mut changes.pats,
                3 => &mut changes.sessions,
                _ => &mut changes.requests,
            }
        }
        let kinds = [all.tenants, all.agents, all.pats, all.sessions, all.requests];
        for (kind, keys) in kinds.into_iter().enumerate() {
            for key in keys {
                // A key costs its JSON string (escaped at most six bytes a character) and a comma;
                // each kind's array and name a few bytes more (counted in `base`).
                let cost = key.len() * 6 + 3;
                if size + cost > NOTIFICATION_LIMIT && !current.is_empty() {
                    chunks.push(std::mem::replace(&mut current, empty()));
                    size = base;
                }
                size += cost;
                field(&mut current, kind).push(key);
            }
        }
        if !current.is_empty() {
            chunks.push(current);
        }
        chunks.iter().map(|c| serde_json::to_string(c).expect("announcements serialize")).collect()
    }

    /// Every key `writes` touch, however many.
    pub fn keys_of<'a>(node: &str, writes: impl IntoIterator<Item = &'a Write>) -> Changes {
        let mut changes = Changes { node: node.to_string(), ..Changes::default() };
        for write in writes {
            match write {
                Write::Tenant(t) => changes.tenants.push(t.id.clone()),
                Write::Agent(a) => changes.agents.push(a.agent_id.clone()),
                Write::Pat(p) => changes.pats.push(hex::encode(p.hash)),
                Write::Session(s) => changes.sessions.push(s.id.clone()),
                Write::AccessRequest(r) => changes.requests.push(r.request_id.clone()),
                Write::Audit(_) => {}
            }
        }
        changes.dedup();
        changes
    }

    /// Adds `other`'s keys to these.
    pub fn merge(&mut self, other: Changes) {
        self.everything |= other.everything;
        self.tenants.extend(other.tenants);
        self.agents.extend(other.agents);
        self.pats.extend(other.pats);
        self.sessions.extend(other.sessions);
        self.requests.extend(other.requests);
        self.dedup();
    }

    fn dedup(&mut self) {
        for keys in [&mut self.tenants, &mut self.agents, &mut self.pats, &mut self.sessions, &mut self.requests] {
            keys.sort();
            keys.dedup();
        }
    }
}

/// The largest announcement (PostgreSQL's payload limit is 8,000 bytes).
pub const NOTIFICATION_LIMIT: usize = 7_900;

/// Records read again by key after another node changed them.
#[derive(Debug, Default)]
pub struct Reread {
    pub tenants: Vec<Tenant>,
    pub agents: Vec<AgentRecord>,
    pub pats: Vec<PatRecord>,
    pub sessions: Vec<Session>,
    pub requests: Vec<argus_fsm::access::AccessRequest>,
}

/// Everything loaded at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tenants: Vec<Tenant>,
    pub agents: Vec<AgentRecord>,
    pub pats: Vec<PatRecord>,
    /// The live (not ended) sessions; ended ones are read by token when asked for.
    pub sessions: Vec<Session>,
    /// Every access request (SPEC §13).
    pub requests: Vec<argus_fsm::access::AccessRequest>,
    pub last_audit: Option<AuditRecord>,
    /// Every tenant chain's head (SPEC §14).
    pub tenant_heads: audit::TenantHeads,
}

/// Storage failures. Nothing is acknowledged on any of them; callers answer 503
/// `store_unavailable` for [`StoreError::Unavailable`] and [`StoreError::Conflict`] (try
/// again), `internal` otherwise. No variant carries a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another node ended the session first (an end claim lost inside its transaction).
    #[error("the session was ended elsewhere first")]
    EndedElsewhere,
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored record {key} does not decode: {reason}")]
    Corrupt { key: String, reason: String },
    /// The database cannot be reached (or did not answer in time).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The database refused this node (a wrong password, an unknown database).
    #[error("{0}")]
    Refused(String),
    /// Another writer moved the shared state first (the audit head); the node reloads.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// `migrate-store` into a database that already holds a deployment.
    #[error("the target database is not empty: it already holds an ARGUS deployment")]
    NotEmpty,
    /// The store's audit chain is behind the head this node has seen (SPEC §10: the chain
    /// never goes backwards); writes are refused until an operator has looked.
    #[error("audit_head_behind: {0}")]
    HeadBehind(String),
    /// The database was migrated by a newer build.
    #[error("the store's schema version {found} is newer than this argus-ops knows ({known}); upgrade argus-ops")]
    SchemaTooNew { found: i32, known: i32 },
}

impl StoreError {
    /// Whether trying again later may succeed (an outage or a lost race), as opposed to a
    /// broken or refused store.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Conflict(_))
    }
}

/// The file inside the data dir that records which store `init` chose (mode 0600: a
/// PostgreSQL URL may hold a password).
pub const STORE_FILE: &str = "store.url";

/// Opens the store `url` names for the data dir `data_dir` (sled lives inside it).
pub fn open(url: &StoreUrl, data_dir: &std::path::Path) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(match url {
        StoreUrl::Sled => std::sync::Arc::new(SledStore::open(&data_dir.join("db"))?),
        StoreUrl::Postgres(pg) => std::sync::Arc::new(PgStore::open(pg)?),
    })
}

/// The store a data dir was initialised with: `flag` (or `ARGUS_STORE`) when given, else the
/// one `init` recorded, else sled.
pub fn resolve(flag: Option<&str>, data_dir: &std::path::Path) -> Result<StoreUrl, url::UrlError> {
    match flag {
        Some(text) => StoreUrl::parse(text),
        None => match std::fs::read_to_string(data_dir.join(STORE_FILE)) {
            Ok(text) => StoreUrl::parse(&text),
            Err(_) => Ok(StoreUrl::Sled),
        },
    }
}

/// The answer of [`Store::write_group`]: the chain's head after the group (none when the
/// group had no audit record).
pub type GroupWrite<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<head::Head>, StoreError>> + Send + 'a>>;

/// The narrow storage interface the server needs.
/// The audit chain as stored: `(seq, bytes)` in ascending order.
pub type StoredRecords<'a> = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + 'a>;

pub trait Store: Send + Sync + 'static {
    /// Applies every write atomically and makes it durable before returning (tools and
    /// `init`; a serving node writes through its [`writer::Writer`]).
    fn commit(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// Writes one group (the writer's: writes, then audit records chained after the head it
    /// holds) atomically and durably, and answers where the chain's head is after it. A store
    /// several nodes share puts the records after another node's when one appended first, and
    /// answers that head. Never blocks the caller's thread.
    fn write_group(&self, group: Vec<Write>) -> GroupWrite<'_>;
    /// Loads all live state.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Audit records with `seq` in `from..`, ascending.
    fn audit_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_>;
    /// The audit chain exactly as stored, `(seq, bytes)` with `seq` in `from..`, ascending:
    /// what `audit verify` checks byte for byte (an extra field or other whitespace is not the
    /// canonical encoding the hash covers).
    fn audit_stored_from(&self, from: u64) -> StoredRecords<'_>;
    /// Audit records in descending `seq` order, newest first.
    fn audit_newest_first(&self) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_>;
    /// The chain's newest record and every tenant's head, as of one moment (a checkpoint signs
    /// them together).
    fn audit_heads(&self) -> Result<(Option<AuditRecord>, audit::TenantHeads), StoreError>;
    /// `tenant`'s chain head, if its chain has begun.
    fn audit_tenant_head(&self, tenant: &str) -> Result<Option<audit::TenantHead>, StoreError>;
    /// The global `seq` of `tenant`'s record at `mark`, a resume mark
    /// ([`audit::is_resume_mark`]); [`audit::seq_of_tenant_record`] finds any record from it.
    fn audit_mark_seq(&self, tenant: &str, mark: u64) -> Result<Option<u64>, StoreError>;
    /// The hash the record at `seq` had before the migration that gave it its tenant place, if
    /// that changed it: a node's remembered head from before the migration names it.
    fn audit_legacy_hash(&self, seq: u64) -> Result<Option<String>, StoreError>;
    /// Gives every record written before tenant chains existed its place (SPEC §14), once, in
    /// one atomic step; answers how many records were rewritten, `None` when it was done
    /// already. Refuses a chain that does not verify (rehashing would launder it).
    fn give_tenant_places(&self) -> Result<Option<u64>, StoreError>;
    /// The session whose token hashes to `token_hash`, live or ended (by key, never a scan).
    fn session_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError>;
    /// The session with this ID, live or ended.
    fn session_by_id(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// `init`: on an empty store, writes `writes` (the bootstrap PAT and its record) and keeps
    /// the CA as the cluster's, answering `None`; on a store that already holds a cluster,
    /// writes nothing and answers the cluster CA (certificate, key) PEMs to join with.
    fn found_or_join(
        &self,
        writes: &[Write],
        _ca_cert: &str,
        _ca_key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.commit(writes).map(|()| None)
    }
    /// Claims the one live session `agent_id` may have, for `session_id`; `false` when another
    /// live session holds it. Backends with one writer decide this from memory (always `true`).
    fn claim_live_session(
        &self,
        _agent_id: &str,
        _session_id: &str,
        _expires_at: Timestamp,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Decides, once cluster-wide, that this node ends session `ended` (frees its agent's
    /// claim). A shared store writes the ended session and its end `record` (re-chained after
    /// the head) in the claim's own transaction and answers [`EndClaim::Recorded`]; one writer
    /// (sled) answers [`EndClaim::Won`] and the record goes with the node's next group.
    fn end_claim(&self, _ended: &argus_fsm::session::Session, _record: AuditRecord) -> Result<EndClaim, StoreError> {
        Ok(EndClaim::Won)
    }
    /// Decides, once cluster-wide, that this node expires the pending access request `expired`
    /// (SPEC §13), as [`Store::end_claim`] does an end: a shared store writes it and its
    /// `record` in the claim's transaction ([`EndClaim::Recorded`], or [`EndClaim::Lost`] when
    /// another node did first); one writer answers [`EndClaim::Won`].
    fn expire_claim(
        &self,
        _expired: &argus_fsm::access::AccessRequest,
        _record: AuditRecord,
    ) -> Result<EndClaim, StoreError> {
        Ok(EndClaim::Won)
    }
    /// Keeps `floor` as this node's remembered audit head, for a store that follows another
    /// writer's head inside its own transaction (never believing a head behind it).
    fn guard_chain(&self, _floor: std::sync::Arc<head::ChainFloor>) {}
    /// Whether the store answers (`/readyz`).
    fn ping(&self) -> Result<(), StoreError> {
        self.audit_newest_first().next().transpose().map(drop)
    }
    /// What only a store several nodes share does; `None` for a store of one node (sled),
    /// which has no membership, presence or announcements: a node on it is a cluster of one.
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        None
    }
}

/// Who ends a session, decided once cluster-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndClaim {
    /// Another node ended it first.
    Lost,
    /// This node ends it; its end record is still to be written.
    Won,
    /// This node ended it, and its end record is durable with the claim.
    Recorded,
}

/// What only a store shared by several nodes does (PostgreSQL, SPEC §10): membership and
/// heartbeats, agent presence, change announcements and reading other nodes' writes back.
/// Implemented only where it means something: sled does not stub it.
pub trait ClusterStore: Send + Sync {
    /// Starts listening for the changes other nodes announce. This node's own flushes announce
    /// themselves as `node_id`'s and are not delivered back.
    fn subscribe(&self, node_id: &str) -> tokio::sync::mpsc::UnboundedReceiver<Changes>;
    /// Reads the records `changes` names.
    fn reread(&self, changes: &Changes) -> Result<Reread, StoreError>;
    /// Writes this node's heartbeat and addresses.
    fn heartbeat(&self, beat: &crate::membership::Heartbeat) -> Result<(), StoreError>;
    /// The live node whose heartbeat names the peer certificate with this SHA-256 (hex), if
    /// any: who a peer on the peer link is.
    fn live_node_by_peer_cert(&self, fingerprint: &str) -> Result<Option<String>, StoreError>;
    /// Every node that served from this store, alive or not.
    fn nodes(&self) -> Result<Vec<crate::membership::NodeInfo>, StoreError>;
    /// Records that `node_id` now holds `agent_id`'s link, superseding any older holder;
    /// returns this connection's epoch.
    fn claim_presence(&self, agent_id: &str, node_id: &str) -> Result<u64, StoreError>;
    /// The connection of `epoch` ended: forgets it unless a newer one superseded it.
    fn release_presence(&self, agent_id: &str, epoch: u64) -> Result<(), StoreError>;
    /// Forgets every presence row of `node_id` (a node starting again holds no link yet).
    fn forget_presence_of(&self, node_id: &str) -> Result<(), StoreError>;
    /// The live node holding `agent_id`'s link, if any.
    fn holder(&self, agent_id: &str) -> Result<Option<String>, StoreError>;
    /// Agent → holding node, for nodes alive now.
    fn presence(&self) -> Result<crate::membership::Presence, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: String) -> Write {
        Write::Agent(AgentRecord {
            agent_id: id,
            enrollment: argus_fsm::enrollment::Enrollment::Pending {
                tenant: "T1".into(),
                token_hash: [0; 32],
                expires_at: Timestamp(1),
                issued_at: Timestamp(0),
            },
            last_seen: None,
            manifest: None,
            remote_support_on: true,
            patches: ReplayMemory::default(),
        })
    }

    #[test]
    fn announcements_name_every_key_once_and_each_fits_a_notification() {
        let writes: Vec<Write> =
            (0..5_000).map(|i| agent(format!("agent-{i:05}"))).chain([agent("agent-00001".into())]).collect();
        let chunks = Changes::announcements("node-a", &writes);
        assert!(chunks.len() > 1, "thousands of keys take several notifications");
        let mut named = Vec::new();
        for chunk in &chunks {
            assert!(chunk.len() <= NOTIFICATION_LIMIT, "{} bytes", chunk.len());
            let changes: Changes = serde_json::from_str(chunk).unwrap();
            assert_eq!(changes.node, "node-a");
            assert!(!changes.everything);
            named.extend(changes.agents);
        }
        named.sort();
        assert_eq!(named.len(), 5_000, "every key once");
        named.dedup();
        assert_eq!(named.len(), 5_000);
        assert!(Changes::announcements("node-a", &[]).is_empty(), "nothing to announce");
    }
}
