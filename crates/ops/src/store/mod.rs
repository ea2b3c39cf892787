//! Durable state behind a narrow trait ([`Store`]), with sled as the embedded backend
//! ([`sled`]) and the tamper-evident audit chain ([`audit`]).
//!
//! Every action commits its state changes *and* its audit record in one atomic batch, then
//! flushes, before it is acknowledged: after a crash the store holds both or neither. A
//! distributed backend only has to implement [`Store`].

pub mod audit;
mod pg_tls;
pub mod postgres;
mod sled;
pub mod url;

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
}

/// Everything loaded at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tenants: Vec<Tenant>,
    pub agents: Vec<AgentRecord>,
    pub pats: Vec<PatRecord>,
    /// The live (not ended) sessions; ended ones are read by token when asked for.
    pub sessions: Vec<Session>,
    pub last_audit: Option<AuditRecord>,
}

/// Storage failures. Nothing is acknowledged on any of them; callers answer 503
/// `store_unavailable` for [`StoreError::Unavailable`] and [`StoreError::Conflict`] (try
/// again), `internal` otherwise. No variant carries a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    /// The session whose token hashes to `token_hash`, live or ended (by key, never a scan).
    fn session_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError>;
    /// A shared store whose last flush had to follow records another node appended first
    /// answers the head it left (once); the server continues its chain from there instead of
    /// colliding again.
    fn adopted_head(&self) -> Option<(u64, String)> {
        None
    }
    /// After a failed flush the backend may refuse stages until the server has reloaded its
    /// view from the store; this says it has.
    fn reset(&self) {}
    /// Whether the store answers (`/readyz`).
    fn ping(&self) -> Result<(), StoreError> {
        self.audit_newest_first().next().transpose().map(drop)
    }
}
