//! The PostgreSQL backend (SPEC §10): `tokio-postgres` through a `deadpool-postgres` pool, TLS
//! by rustls, plain SQL only.
//!
//! - **Group commit.** The server's one writer (`store::writer`) hands each group to
//!   [`Store::write_group`], written in one transaction: the requests in flight together share
//!   one commit.
//! - **One chain.** The flush moves the audit head row only if the group's first record
//!   follows it (pipelined with the rest: the usual case, one writer, costs no extra round
//!   trip). When another node appended first, the group is written again in a transaction that
//!   takes the head row `FOR UPDATE` and re-chains the group's records after it. So several
//!   writers keep one unbroken chain with a unique, increasing `seq`, none of them forks it,
//!   and none fails for it; the write answers the head it landed at and the writer continues
//!   from there.
//! - **Runtime.** The pool's connections live on this store's own small runtime (the server
//!   runs agent links on a second runtime, and a connection must outlive whichever runtime
//!   first asked for it). A group write is spawned there and awaited, never blocking a thread;
//!   the synchronous reads step out of the server's runtime with `block_in_place`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use argus_fsm::session::SessionState;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;

use super::audit::AuditRecord;
use super::url::{PgUrl, SslMode};
use super::{Changes, ClusterStore, EndClaim, Reread, Snapshot, Store, StoreError, Write};

/// Every schema version this build knows, in order. A database at a newer version is refused.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/001_initial.sql")),
    (2, include_str!("migrations/002_cluster.sql")),
    (3, include_str!("migrations/003_peer_identity.sql")),
    (4, include_str!("migrations/004_writer_groups.sql")),
    (5, include_str!("migrations/005_access_requests.sql")),
    (6, include_str!("migrations/006_tenant_chains.sql")),
    (7, include_str!("migrations/007_tenant_heads.sql")),
];

/// How long the one-off migration that gives every record its tenant place may take.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(600);

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock key migrations run under (`"argusmig"` as a number).
const MIGRATION_LOCK: i64 = 0x6172_6775_736d_6967;

/// How long connecting (TCP, TLS, login) may take before the store counts as unavailable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one flush or read may take before the store counts as unavailable.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// How long a write whose COMMIT got no answer keeps its waiters while the store finds out
/// whether it landed (a database failover takes seconds; after this the write answers 503 and
/// the outcome is found before anything else is written or read).
pub const RESOLVE_WINDOW: Duration = Duration::from_secs(20);

/// After a flush found another node's records before its own, this many following flushes lock
/// the head first instead of trying the pipelined path.
const CONTENDED_FLUSHES: u32 = 32;

/// Rows read per round trip when walking the audit chain.
const AUDIT_PAGE: i64 = 1000;

/// The PostgreSQL store.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    /// What a group write needs, shared with the task that writes it.
    writing: Arc<Writing>,
    /// What the listening connection needs (the pool's connections are not used for it).
    listen: (tokio_postgres::Config, PgUrl),
}

/// The part of the store a group write uses (it runs as a task of the store's runtime).
struct Writing {
    pool: Pool,
    /// This node's remembered audit head (SPEC §10: the chain never goes backwards).
    floor: std::sync::OnceLock<Arc<super::head::ChainFloor>>,
    /// How many more flushes follow the audit head directly (another node appended lately).
    contended: std::sync::atomic::AtomicU32,
    /// This node's ID, once it listens: its flushes announce their keys under it.
    node: std::sync::OnceLock<String>,
    /// This store's rows in `writer_groups` (random per process): one for the server's group
    /// writer ([`GROUPS`]), one for end claims ([`CLAIMS`]), which are written beside it, each
    /// lane one group at a time.
    writers: [i64; 2],
    /// The number of the last group this store began writing.
    groups: std::sync::atomic::AtomicI64,
    /// A group whose COMMIT was sent and never answered: nothing is written or read before its
    /// outcome is known.
    unresolved: [std::sync::Mutex<Option<i64>>; 2],
    /// Whether this writer's row exists (created before the first group: a store opened only
    /// to read, e.g. by `audit verify`, writes nothing).
    registered: std::sync::atomic::AtomicBool,
}

/// The lane of the server's group writer, and of end claims (see `Writing::writers`).
const GROUPS: usize = 0;
const CLAIMS: usize = 1;

/// Whether a group whose COMMIT got no answer landed.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It committed; the audit head after it (None: it had no audit records).
    Landed(Option<super::head::Head>),
    /// It did not commit (rolled back, or lost with a primary that never replicated it).
    Lost,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropped from async code at shutdown: let the runtime go without blocking.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// Whether a database error says "not now" rather than "no": the server is starting, shutting
/// down or out of resources (SQLSTATE classes 08, 53, 57), a transaction lost a race (40001,
/// 40P01), or the host is no longer the primary (25006, a write on a server demoted to a
/// standby in a failover). These answer 503 `store_unavailable`, never `internal`.
fn transient_state(code: &tokio_postgres::error::SqlState) -> bool {
    let code = code.code();
    ["08", "53", "57"].iter().any(|class| code.starts_with(class)) || ["40001", "40P01", "25006"].contains(&code)
}

/// A database error in words: the server's own message when it sent one (a refused login says
/// why), never the connection parameters.
fn pg_error(error: tokio_postgres::Error) -> StoreError {
    match error.as_db_error() {
        Some(db) if transient_state(db.code()) => {
            unavailable(format!("the database is not available: {}", db.message()))
        }
        Some(db) => StoreError::Backend(format!("{}: {}", db.severity(), db.message())),
        None if error.is_closed() => unavailable("the database closed the connection"),
        None => unavailable(error),
    }
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    match error {
        deadpool_postgres::PoolError::Backend(error) => match error.as_db_error() {
            Some(db) if transient_state(db.code()) => {
                unavailable(format!("the database is not available: {}", db.message()))
            }
            // A login the server refused (wrong password, unknown database) is not an outage:
            // say why, and stop.
            Some(db) => StoreError::Refused(format!("the database refused the connection: {}", db.message())),
            None => unavailable(format!("cannot connect to the database: {error}")),
        },
        deadpool_postgres::PoolError::Timeout(_) => unavailable("connecting to the database timed out"),
        other => unavailable(other),
    }
}

impl PgStore {
    /// Connects, checks the login, and applies pending migrations under an advisory lock.
    /// Refuses a schema newer than this build knows.
    pub fn open(url: &PgUrl) -> Result<PgStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("argus-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("starting the database runtime: {e}")))?;
        // Hosts, user, password, database, sslmode and target_session_attrs as the URL says
        // (a writable primary unless it says otherwise); the rest is the node's own.
        let mut config = url.config().clone();
        if config.get_application_name().is_none() {
            config.application_name("argus-ops");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config
            // Server notices (e.g. "already exists, skipping" from idempotent DDL) are not news.
            .options("-c client_min_messages=warning")
            .keepalives(true);
        let connect_budget =
            config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT) * config.get_hosts().len().max(1) as u32;
        let listen_config = config.clone();
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match url.ssl {
            SslMode::Disable => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
            _ => Manager::from_config(config, super::pg_tls::connector(url)?, manager_config),
        };
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(8)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(OPERATION_TIMEOUT))
                // Each host gets its connect timeout in turn (a failover may leave the first
                // one unreachable).
                .create_timeout(Some(connect_budget))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::Backend(format!("building the connection pool: {e}")))?
        };
        let store = PgStore {
            runtime: Some(runtime),
            writing: Arc::new(Writing {
                pool,
                floor: Default::default(),
                contended: 0.into(),
                node: std::sync::OnceLock::new(),
                writers: [random_writer(), random_writer()],
                groups: 0.into(),
                unresolved: Default::default(),
                registered: false.into(),
            }),
            listen: (listen_config, url.clone()),
        };
        store.run(store.migrate())?;
        Ok(store)
    }

    /// Runs `future` on this store's runtime and waits for it, bounded by
    /// [`OPERATION_TIMEOUT`].
    fn run<T>(&self, future: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.run_for(OPERATION_TIMEOUT, future)
    }

    /// [`PgStore::run`] with its own bound (a group write may resolve an unanswered COMMIT).
    fn run_for<T>(
        &self,
        limit: Duration,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let runtime = self.runtime.as_ref().expect("runtime lives as long as the store");
        let bounded = async {
            tokio::time::timeout(limit, future)
                .await
                .unwrap_or_else(|_| Err(unavailable("the database did not answer in time")))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| runtime.block_on(bounded))
            }
            _ => runtime.block_on(bounded),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.writing.client().await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_error)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS argus_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            .await
            .map_err(pg_error)?;
        let row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM argus_schema", &[]).await.map_err(pg_error)?;
        let found: i32 = row.get(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found, known: SCHEMA_VERSION });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > found) {
            tx.batch_execute(sql).await.map_err(pg_error)?;
            tx.execute("INSERT INTO argus_schema (version) VALUES ($1)", &[version]).await.map_err(pg_error)?;
            tracing::info!(version, "applied store migration");
        }
        tx.commit().await.map_err(pg_error)
    }

    /// Copies a whole deployment into this (empty) database in one transaction, with its CA
    /// as the cluster CA (`migrate-store`). Refused when the database holds anything.
    pub fn import(&self, batch: Vec<Write>, ca_cert_pem: &str, ca_key_pem: &str) -> Result<(), StoreError> {
        let group = self.writing.next_group();
        let committing = std::sync::atomic::AtomicBool::new(false);
        self.run(async {
            self.writing.register().await?;
            self.writing.write_with(batch, Some((ca_cert_pem, ca_key_pem)), None, group, &committing).await
        })
        .map(drop)
    }
}

impl Writing {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    fn next_group(&self) -> i64 {
        self.groups.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Creates this store's row in `writer_groups` (committed before any group moves it), and
    /// drops rows of writers gone quiet for 30 days. Once per store.
    async fn register(&self) -> Result<(), StoreError> {
        if self.registered.load(Ordering::SeqCst) {
            return Ok(());
        }
        let client = self.client().await?;
        for writer in &self.writers {
            client
                .execute(
                    "INSERT INTO writer_groups (writer, group_id) VALUES ($1, 0) ON CONFLICT (writer) DO NOTHING",
                    &[writer],
                )
                .await
                .map_err(pg_error)?;
        }
        client
            .execute(
                "DELETE FROM writer_groups WHERE written_at < now() - interval '30 days' AND writer <> ALL($1)",
                &[&self.writers.to_vec()],
            )
            .await
            .map_err(pg_error)?;
        self.registered.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Writes one group, and when its COMMIT got no answer (the connection lost, the database
    /// failing over), finds out whether it landed before answering: landed answers its head,
    /// lost answers failure, and still unknown after [`RESOLVE_WINDOW`] answers failure with
    /// the group remembered, to be resolved before anything else is written or read.
    /// With `claim`, the group also decides that, once cluster-wide (a session's end, an access
    /// request's expiry): if another writer did first, nothing of the group is written
    /// ([`StoreError::EndedElsewhere`]).
    async fn write_group(
        &self,
        batch: Vec<Write>,
        claim: Option<Claim>,
    ) -> Result<Option<super::head::Head>, StoreError> {
        self.register().await?;
        self.settle().await?;
        let lane = if claim.is_some() { CLAIMS } else { GROUPS };
        let group = self.next_group();
        let committing = std::sync::atomic::AtomicBool::new(false);
        let written =
            tokio::time::timeout(OPERATION_TIMEOUT, self.write_with(batch, None, claim, group, &committing)).await;
        let error = match written {
            Ok(Ok(head)) => return Ok(head),
            Ok(Err(error)) => error,
            Err(_) => unavailable("the database did not answer in time"),
        };
        if !committing.load(Ordering::SeqCst) {
            return Err(error);
        }
        tracing::warn!(group, %error, "a COMMIT got no answer: finding out whether it landed");
        *self.unresolved[lane].lock().expect("unresolved lock") = Some(group);
        let deadline = tokio::time::Instant::now() + RESOLVE_WINDOW;
        loop {
            // Resolved here, not through the slot: a reload may resolve the slot meanwhile.
            match self.resolve(lane, group).await {
                Ok(Outcome::Landed(head)) => return Ok(head),
                Ok(Outcome::Lost) => {
                    return Err(unavailable("the database lost the connection before the write committed"))
                }
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(error) => {
                    return Err(unavailable(format!(
                        "the outcome of a write is not known yet ({error}); nothing more is written until it is"
                    )))
                }
            }
        }
    }

    /// Resolves a group left unknown, if there is one: Ok once nothing is unknown.
    async fn settle(&self) -> Result<(), StoreError> {
        for lane in [GROUPS, CLAIMS] {
            let unresolved = *self.unresolved[lane].lock().expect("unresolved lock");
            if let Some(group) = unresolved {
                self.resolve(lane, group).await?;
            }
        }
        Ok(())
    }

    /// One attempt at finding out whether `group` landed; once known, it is no longer
    /// unresolved.
    async fn resolve(&self, lane: usize, group: i64) -> Result<Outcome, StoreError> {
        let outcome = tokio::time::timeout(CONNECT_TIMEOUT * 2, self.outcome_of(lane, group))
            .await
            .unwrap_or_else(|_| Err(unavailable("the database did not answer in time")))?;
        let mut unresolved = self.unresolved[lane].lock().expect("unresolved lock");
        if *unresolved == Some(group) {
            *unresolved = None;
            tracing::warn!(
                group,
                landed = matches!(outcome, Outcome::Landed(_)),
                "resolved a write whose COMMIT got no answer"
            );
        }
        Ok(outcome)
    }

    /// Reads this writer's row under its lock: a transaction still committing it (a backend
    /// whose client went away, a commit waiting for its synchronous standby) is waited for, so
    /// the answer is final.
    async fn outcome_of(&self, lane: usize, group: i64) -> Result<Outcome, StoreError> {
        let mut guard = InTransaction(Some(self.client().await?));
        let client = guard.0.as_ref().expect("held");
        client.batch_execute("BEGIN; SET LOCAL lock_timeout = '3s'").await.map_err(pg_error)?;
        let row = client
            .query_one(
                "SELECT group_id, head_seq, head_hash FROM writer_groups WHERE writer = $1 FOR UPDATE",
                &[&self.writers[lane]],
            )
            .await
            .map_err(pg_error)?;
        client.batch_execute("COMMIT").await.map_err(pg_error)?;
        guard.release();
        let (landed, seq, hash): (i64, Option<i64>, Option<String>) = (row.get(0), row.get(1), row.get(2));
        outcome(group, landed, seq, hash).ok_or_else(|| {
            StoreError::Backend("another process wrote under this writer's number in writer_groups".into())
        })
    }

    /// Writes `batch` in one transaction, appending its audit records after the head; answers
    /// the head after them.
    async fn write_with(
        &self,
        batch: Vec<Write>,
        import_ca: Option<(&str, &str)>,
        claim: Option<Claim>,
        group: i64,
        committing: &std::sync::atomic::AtomicBool,
    ) -> Result<Option<super::head::Head>, StoreError> {
        // The last write of each key wins (one statement per table cannot touch a row twice).
        let mut tenants = HashMap::new();
        let mut agents = HashMap::new();
        let mut pats = HashMap::new();
        let mut sessions = HashMap::new();
        let mut requests = HashMap::new();
        let mut audit: Vec<AuditRecord> = Vec::new();
        let changed: Vec<Write> = batch.iter().filter(|w| !matches!(w, Write::Audit(_))).cloned().collect();
        for write in batch {
            match write {
                Write::Tenant(t) => drop(tenants.insert(t.id.clone(), t)),
                Write::Agent(a) => drop(agents.insert(a.agent_id.clone(), a)),
                Write::Pat(p) => drop(pats.insert(p.hash, p)),
                Write::Session(s) => drop(sessions.insert(s.id.clone(), s)),
                Write::AccessRequest(r) => drop(requests.insert(r.request_id.clone(), r)),
                Write::Audit(r) => audit.push(r),
            }
        }
        // A group is one writer's records in order; make it consecutive from its first record,
        // so the chain it appends is sound whatever its caller did.
        if let Some(first) = audit.first() {
            let (seq, prev) = (first.seq - 1, first.prev_hash.clone());
            let mut tenants = super::audit::tenant_heads_before(&audit);
            super::audit::rechain(&mut audit, seq, &prev, &mut tenants);
        }
        let announce = match self.node.get() {
            Some(node) => Changes::announcements(node, &changed),
            None => Vec::new(),
        };
        // An end claim follows the head from the start: its record goes where the head is.
        let follow = claim.is_some();
        let lane = if claim.is_some() { CLAIMS } else { GROUPS };
        let tables =
            Tables { tenants, agents, pats, sessions, requests, announce, mark: (self.writers[lane], group), claim };
        // Until this write finishes one way or the other, the connection may be inside an open
        // transaction: if the future is dropped (a timeout), the guard closes the connection
        // rather than hand it back to the pool mid-transaction.
        let mut guard = InTransaction(Some(self.client().await?));
        let client = guard.0.as_ref().expect("held");
        // While other nodes are appending too, go straight to following the head (one round
        // trip more) rather than collide, roll back and retry.
        let contended = import_ca.is_none()
            && (follow
                || self.contended.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok());
        let floor = self.floor.get().map(Arc::as_ref);
        let mut result = Self::write_on(client, &tables, &mut audit, import_ca, contended, floor, committing).await;
        if result.is_err() && client.batch_execute("ROLLBACK").await.is_err() {
            // A connection that cannot even roll back is not reused (the guard closes it).
            return result.map(|()| None);
        }
        if let Err(StoreError::Conflict(_)) = &result {
            self.contended.store(CONTENDED_FLUSHES, Ordering::SeqCst);
            // Another node appended first: take the head row's lock, follow it, and write the
            // same group again (the pipelined path above is for the usual case, one writer).
            result = Self::write_on(client, &tables, &mut audit, None, true, floor, committing).await;
            if result.is_err() && client.batch_execute("ROLLBACK").await.is_err() {
                return result.map(|()| None);
            }
        }
        if matches!(result, Err(StoreError::Unavailable(_))) {
            // Not reused: a connection to a host that stopped being the primary (a failover
            // that demoted it) would fail every write; a new one finds the writable host.
            return result.map(|()| None);
        }
        guard.release();
        // When the group had to follow other nodes' records, it landed past where it was
        // chained: the writer continues from there.
        result.map(|()| {
            audit.last().map(|last| super::head::Head {
                seq: last.seq,
                hash: last.hash.clone(),
                tenants: super::audit::tenant_heads_after(&audit),
            })
        })
    }

    /// One attempt at writing a group. With `follow_head`, the audit head row is locked first
    /// and the group's records are re-chained after it.
    async fn write_on(
        client: &deadpool_postgres::Object,
        tables: &Tables,
        audit: &mut [AuditRecord],
        import_ca: Option<(&str, &str)>,
        follow_head: bool,
        floor: Option<&super::head::ChainFloor>,
        committing: &std::sync::atomic::AtomicBool,
    ) -> Result<(), StoreError> {
        let Tables { tenants, agents, pats, sessions, requests, announce, mark, claim } = tables;
        let tx = client;
        // BEGIN is sent with the statements (pipelined) unless this attempt must look first.
        let mut begun = false;
        if follow_head && !audit.is_empty() {
            tx.batch_execute("BEGIN").await.map_err(pg_error)?;
            begun = true;
            let row = tx.query_one("SELECT seq, hash FROM audit_head FOR UPDATE", &[]).await.map_err(pg_error)?;
            let (seq, hash): (i64, String) = (row.get(0), row.get(1));
            // Following the head is where a head moved back would be believed: never behind
            // what this node has written or read.
            if let Some(floor) = floor {
                floor.check_store_head(&super::head::Head::at(seq as u64, hash.clone()))?;
            }
            // Under the head's lock no one else appends: the tenants' heads are final too.
            let mut tenants = tenant_heads_of(tx, audit).await?;
            super::audit::rechain(audit, seq as u64, &hash, &mut tenants);
        }
        if let Some((cert, key)) = import_ca {
            tx.batch_execute("BEGIN").await.map_err(pg_error)?;
            begun = true;
            // Locks out any other writer for the copy, then insists on an empty database.
            tx.execute(
                "LOCK TABLE audit_head, tenants, pats, agents, sessions, audit, cluster_ca, access_requests IN EXCLUSIVE MODE",
                &[],
            )
            .await
            .map_err(pg_error)?;
            let held: i64 = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM tenants) + (SELECT count(*) FROM pats) + (SELECT count(*) FROM agents)
                          + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM audit) + (SELECT count(*) FROM cluster_ca)
                          + (SELECT count(*) FROM access_requests)",
                    &[],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            if held > 0 {
                return Err(StoreError::NotEmpty);
            }
            tx.execute("INSERT INTO cluster_ca (one, cert_pem, key_pem) VALUES (TRUE, $1, $2)", &[&cert, &key])
                .await
                .map_err(pg_error)?;
        }
        // Every statement of the group, each one multi-row, prepared once per connection and
        // sent together (pipelined): the transaction costs BEGIN, one round of statements and
        // COMMIT, whatever the group's size.
        let tenant_ids: Vec<String> = tenants.values().map(|t| t.id.clone()).collect();
        let tenant_records: Vec<String> = tenants.values().map(json).collect();
        let mut pat_columns = PatColumns::default();
        for pat in pats.values() {
            pat_columns.hash.push(pat.hash.to_vec());
            pat_columns.id.push(pat.id());
            pat_columns.tenant.push(pat.tenant.clone());
            pat_columns.record.push(json(pat));
            pat_columns.revoked.push(pat.revoked_at.is_some());
        }
        let mut agent_columns = AgentColumns::default();
        for agent in agents.values() {
            agent_columns.agent_id.push(agent.agent_id.clone());
            agent_columns.tenant.push(agent.enrollment.tenant().to_string());
            agent_columns.state.push(agent.enrollment.state_name().to_string());
            agent_columns.record.push(json(agent));
            for patch_id in agent.patches.iter() {
                agent_columns.consumed_agent.push(agent.agent_id.clone());
                agent_columns.consumed_patch.push(patch_id.to_string());
            }
        }
        let mut session_columns = SessionColumns::default();
        for session in sessions.values() {
            session_columns.id.push(session.id.clone());
            session_columns.token_hash.push(session.token_hash.to_vec());
            session_columns.tenant.push(session.tenant.clone());
            session_columns.agent_id.push(session.agent_id.clone());
            session_columns.active.push(matches!(session.state, SessionState::Active));
            session_columns.expires_at.push(session.expires_at.0);
            session_columns.record.push(json(session));
        }
        let mut request_columns = RequestColumns::default();
        for request in requests.values() {
            request_columns.id.push(request.request_id.clone());
            request_columns.tenant.push(request.tenant.clone());
            request_columns.agent_id.push(request.agent_id.clone());
            request_columns.state.push(request.state.name().to_string());
            request_columns.approvals.push(request.approvals.len() as i32);
            request_columns.record.push(json(request));
        }
        let ended_sessions: Vec<String> =
            sessions.values().filter(|s| !matches!(s.state, SessionState::Active)).map(|s| s.id.clone()).collect();
        let live: Vec<&argus_fsm::session::Session> =
            sessions.values().filter(|s| matches!(s.state, SessionState::Active)).collect();
        let live_agents: Vec<String> = live.iter().map(|s| s.agent_id.clone()).collect();
        let live_ids: Vec<String> = live.iter().map(|s| s.id.clone()).collect();
        let live_expiries: Vec<i64> = live.iter().map(|s| s.expires_at.0).collect();
        let audit_seqs: Vec<i64> = audit.iter().map(|r| r.seq as i64).collect();
        let audit_hashes: Vec<String> = audit.iter().map(|r| r.hash.clone()).collect();
        let audit_records: Vec<String> = audit.iter().map(json).collect();
        let audit_tenants: Vec<Option<String>> = audit.iter().map(|r| r.tenant.clone()).collect();
        let audit_tenant_seqs: Vec<Option<i64>> = audit.iter().map(|r| r.tenant_seq.map(|n| n as i64)).collect();
        let moves = HeadMoves::of(audit);
        let head = audit
            .first()
            .zip(audit.last())
            .map(|(first, last)| (last.seq as i64, last.hash.clone(), first.seq as i64 - 1, first.prev_hash.clone()));

        type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;
        let mut statements: Vec<(&'static str, Params<'_>)> = Vec::new();
        if let Some((last_seq, last_hash, prev_seq, prev_hash)) = &head {
            // Moves the head only if it is where this group's first record says it is: the
            // row lock serialises writers, the condition refuses a stale one.
            statements.push((
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE seq = $3 AND hash = $4",
                vec![last_seq, last_hash, prev_seq, prev_hash],
            ));
            statements.push((
                "INSERT INTO audit (seq, hash, record, tenant, tenant_seq)
                 SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[])",
                vec![&audit_seqs, &audit_hashes, &audit_records, &audit_tenants, &audit_tenant_seqs],
            ));
        }
        let heads_at = (!moves.tenant.is_empty()).then(|| {
            statements.push((
                // Each tenant's row moves only from where the group's first record of the tenant
                // says its head was (or is made, for a chain the group begins): fewer rows than
                // tenants means another writer appended for a tenant after this node last knew
                // its head — a conflict.
                "WITH u AS (SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[])
                                AS u(tenant, before_seq, before_hash, tenant_seq, hash)),
                      moved AS (UPDATE audit_tenant_heads h SET tenant_seq = u.tenant_seq, hash = u.hash FROM u
                                WHERE h.tenant = u.tenant AND h.tenant_seq = u.before_seq AND h.hash = u.before_hash
                                RETURNING 1),
                      begun AS (INSERT INTO audit_tenant_heads (tenant, tenant_seq, hash)
                                SELECT tenant, tenant_seq, hash FROM u WHERE before_seq = 0
                                ON CONFLICT (tenant) DO NOTHING RETURNING 1)
                 SELECT 1 FROM moved UNION ALL SELECT 1 FROM begun",
                vec![&moves.tenant, &moves.before_seq, &moves.before_hash, &moves.tenant_seq, &moves.hash],
            ));
            statements.len() - 1
        });
        // The end claim, before the session rows are written: whoever turns the flag off ends
        // the session, and records it in this same transaction.
        let claim_at = claim.as_ref().map(|claim| {
            statements.push(match claim {
                Claim::SessionEnd(session_id) => (
                    "UPDATE sessions SET active = FALSE WHERE id = $1 AND active",
                    vec![session_id as &(dyn ToSql + Sync)],
                ),
                // Before the request's row is written (below, same transaction, same state).
                Claim::RequestExpiry(request_id) => (
                    "UPDATE access_requests SET state = 'expired' WHERE request_id = $1 AND state = 'pending'",
                    vec![request_id as &(dyn ToSql + Sync)],
                ),
            });
            statements.len() - 1
        });
        if !tenant_ids.is_empty() {
            statements.push((
                "INSERT INTO tenants (id, record) SELECT * FROM UNNEST($1::text[], $2::text[])
                 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                vec![&tenant_ids, &tenant_records],
            ));
        }
        if !pat_columns.hash.is_empty() {
            statements.push((
                // A revoked PAT stays revoked whatever a node with a stale view writes.
                "INSERT INTO pats (hash, id, tenant, record, revoked)
                 SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::bool[])
                 ON CONFLICT (hash) DO UPDATE SET record = EXCLUDED.record, revoked = EXCLUDED.revoked
                 WHERE NOT pats.revoked OR EXCLUDED.revoked",
                vec![
                    &pat_columns.hash,
                    &pat_columns.id,
                    &pat_columns.tenant,
                    &pat_columns.record,
                    &pat_columns.revoked,
                ],
            ));
        }
        if !agent_columns.agent_id.is_empty() {
            statements.push((
                "INSERT INTO agents (agent_id, tenant, state, record) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                 ON CONFLICT (agent_id) DO UPDATE SET tenant = EXCLUDED.tenant, state = EXCLUDED.state, record = EXCLUDED.record
                 WHERE agents.state <> 'revoked' OR EXCLUDED.state = 'revoked'",
                vec![&agent_columns.agent_id, &agent_columns.tenant, &agent_columns.state, &agent_columns.record],
            ));
        }
        if !agent_columns.consumed_agent.is_empty() {
            statements.push((
                "INSERT INTO consumed_patches (agent_id, patch_id) SELECT * FROM UNNEST($1::text[], $2::text[])
                 ON CONFLICT DO NOTHING",
                vec![&agent_columns.consumed_agent, &agent_columns.consumed_patch],
            ));
        }
        if !session_columns.id.is_empty() {
            statements.push((
                "INSERT INTO sessions (id, token_hash, tenant, agent_id, active, expires_at, record)
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::text[], $4::text[], $5::bool[], $6::int8[], $7::text[])
                 ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active, expires_at = EXCLUDED.expires_at, record = EXCLUDED.record
                 WHERE sessions.active OR NOT EXCLUDED.active",
                vec![
                    &session_columns.id,
                    &session_columns.token_hash,
                    &session_columns.tenant,
                    &session_columns.agent_id,
                    &session_columns.active,
                    &session_columns.expires_at,
                    &session_columns.record,
                ],
            ));
        }
        if !request_columns.id.is_empty() {
            statements.push((
                // A decision stands whatever a node with a stale view writes (SPEC §13).
                "INSERT INTO access_requests (request_id, tenant, agent_id, state, approvals, record)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[])
                 ON CONFLICT (request_id) DO UPDATE
                     SET state = EXCLUDED.state, approvals = EXCLUDED.approvals, record = EXCLUDED.record
                 WHERE (access_requests.state = 'pending'
                        AND (EXCLUDED.state <> 'pending' OR EXCLUDED.approvals >= access_requests.approvals))
                    OR (access_requests.state = 'approved' AND EXCLUDED.state = 'used')
                    OR (access_requests.state = EXCLUDED.state AND EXCLUDED.approvals >= access_requests.approvals)",
                vec![
                    &request_columns.id,
                    &request_columns.tenant,
                    &request_columns.agent_id,
                    &request_columns.state,
                    &request_columns.approvals,
                    &request_columns.record,
                ],
            ));
        }
        if !ended_sessions.is_empty() {
            // An ended session frees its agent's claim in the same transaction.
            statements.push(("DELETE FROM live_sessions WHERE session_id = ANY($1::text[])", vec![&ended_sessions]));
        }
        if !live_ids.is_empty() {
            // A live session holds its agent's claim (already taken by its activation; this
            // adds it for sessions copied in by migrate-store).
            statements.push((
                "INSERT INTO live_sessions (agent_id, session_id, expires_at)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[]) ON CONFLICT (agent_id) DO NOTHING",
                vec![&live_agents, &live_ids, &live_expiries],
            ));
        }
        for announcement in announce {
            // Delivered to the listening nodes when (and only if) this transaction commits.
            statements.push(("SELECT pg_notify('argus_changes', $1)", vec![announcement]));
        }
        // The group's mark, last: if the COMMIT goes unanswered, this row tells whether it landed.
        let (writer, group) = mark;
        let mark_head: (Option<i64>, Option<String>) =
            audit.last().map(|last| (Some(last.seq as i64), Some(last.hash.clone()))).unwrap_or_default();
        statements.push((
            "UPDATE writer_groups SET group_id = $2, head_seq = $3, head_hash = $4, written_at = now() WHERE writer = $1",
            vec![writer, group, &mark_head.0, &mark_head.1],
        ));
        let prepared = futures_util::future::join_all(statements.iter().map(|(sql, _)| tx.prepare_cached(sql))).await;
        let prepared = prepared.into_iter().collect::<Result<Vec<_>, _>>().map_err(pg_error)?;
        let begin = async {
            if begun {
                Ok(())
            } else {
                tx.batch_execute("BEGIN").await
            }
        };
        // `join` polls BEGIN first, then each statement in order: all go out before any answer
        // is awaited, and the server runs them in that order.
        let (begin, results) = futures_util::future::join(
            begin,
            futures_util::future::join_all(
                statements.iter().zip(&prepared).map(|((_, params), statement)| tx.execute(statement, params)),
            ),
        )
        .await;
        begin.map_err(pg_error)?;
        if let (Some((_, _, prev_seq, _)), Some(Ok(0))) = (&head, results.first()) {
            return Err(StoreError::Conflict(format!(
                "the audit chain moved: this node was appending after seq {prev_seq}, and another writer was first"
            )));
        }
        if let Some(Ok(moved)) = heads_at.and_then(|i| results.get(i)) {
            if *moved != moves.tenant.len() as u64 {
                return Err(StoreError::Conflict(
                    "a tenant's audit chain moved: another writer appended for the tenant first".into(),
                ));
            }
        }
        if let Some(Ok(0)) = claim_at.and_then(|i| results.get(i)) {
            return Err(StoreError::EndedElsewhere);
        }
        if let Some(Ok(0)) = results.last() {
            // Another process took this writer's number (or the row was pruned): never commit a
            // group whose outcome could not be found again.
            return Err(StoreError::Backend("this writer's row in writer_groups is missing".into()));
        }
        for result in results {
            result.map_err(pg_error)?;
        }
        // From here until an answer, the outcome is unknown if the connection goes.
        committing.store(true, Ordering::SeqCst);
        match tx.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(error) if error.as_db_error().is_some() => {
                // The server answered: the transaction rolled back.
                committing.store(false, Ordering::SeqCst);
                Err(pg_error(error))
            }
            Err(error) => Err(pg_error(error)),
        }
    }
}

/// The heads of the tenants `records` name, as the database holds them.
async fn tenant_heads_of(
    client: &deadpool_postgres::Object,
    records: &[AuditRecord],
) -> Result<super::audit::TenantHeads, StoreError> {
    let mut tenants: Vec<String> = records.iter().filter_map(|r| r.tenant.clone()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    if tenants.is_empty() {
        return Ok(Default::default());
    }
    let rows = client
        .query("SELECT tenant, tenant_seq, hash FROM audit_tenant_heads WHERE tenant = ANY($1::text[])", &[&tenants])
        .await
        .map_err(pg_error)?;
    Ok(tenant_heads_from(&rows))
}

/// Tenant heads from rows of `(tenant, tenant_seq, hash)`.
fn tenant_heads_from(rows: &[tokio_postgres::Row]) -> super::audit::TenantHeads {
    rows.iter()
        .map(|row| {
            let head = super::audit::TenantHead { tenant_seq: row.get::<_, i64>(1) as u64, hash: row.get(2) };
            (row.get::<_, String>(0), head)
        })
        .collect()
}

impl PgStore {
    /// The chain's newest record and every tenant's head, read in one statement (one snapshot).
    async fn heads(&self) -> Result<(Option<AuditRecord>, super::audit::TenantHeads), StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT (SELECT record FROM audit ORDER BY seq DESC LIMIT 1), h.tenant, h.tenant_seq, h.hash
                 FROM (SELECT 1) AS one LEFT JOIN audit_tenant_heads AS h ON TRUE",
                &[],
            )
            .await
            .map_err(pg_error)?;
        let mut last = None;
        let mut tenants = super::audit::TenantHeads::new();
        for row in &rows {
            if let Some(record) = row.get::<_, Option<String>>(0) {
                last = Some(decode(&record, "audit head")?);
            }
            if let (Some(tenant), Some(tenant_seq), Some(hash)) =
                (row.get::<_, Option<String>>(1), row.get::<_, Option<i64>>(2), row.get::<_, Option<String>>(3))
            {
                tenants.insert(tenant, super::audit::TenantHead { tenant_seq: tenant_seq as u64, hash });
            }
        }
        Ok((last, tenants))
    }

    async fn records<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(sql, params).await.map_err(pg_error)?;
        rows.iter().map(|row| decode(row.get::<_, &str>(0), sql)).collect()
    }

    /// The cluster CA: (certificate PEM, stored key: sealed, or in clear before the secret).
    pub fn cluster_ca(&self) -> Result<Option<(String, String)>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = client.query_opt("SELECT cert_pem, key_pem FROM cluster_ca", &[]).await.map_err(pg_error)?;
            Ok(row.map(|row| (row.get::<_, String>(0), row.get::<_, String>(1))))
        })
    }

    /// Replaces the stored CA key `old` with `new`; false when it was no longer `old` (another
    /// operator sealed it first).
    pub fn replace_ca_key(&self, old: &str, new: &str) -> Result<bool, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let rows = client
                .execute("UPDATE cluster_ca SET key_pem = $2 WHERE key_pem = $1", &[&old, &new])
                .await
                .map_err(pg_error)?;
            Ok(rows == 1)
        })
    }

    /// One page of the audit chain as stored: `(seq, the record's text)`, undecoded.
    async fn stored_page(&self, after: i64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT seq, record FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT $2", &[&after, &AUDIT_PAGE])
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(|row| (row.get::<_, i64>(0) as u64, row.get::<_, &str>(1).as_bytes().to_vec())).collect())
    }

    /// One page of the audit chain.
    fn audit_page(&self, after: i64, ascending: bool) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = if ascending {
            "SELECT record FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT $2"
        } else {
            "SELECT record FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
        };
        self.run(self.records(sql, &[&after, &AUDIT_PAGE]))
    }
}

/// A group's rows by table (the last write of each key).
struct Tables {
    tenants: HashMap<String, argus_fsm::tenant::Tenant>,
    agents: HashMap<String, super::AgentRecord>,
    pats: HashMap<[u8; 32], super::PatRecord>,
    sessions: HashMap<String, argus_fsm::session::Session>,
    requests: HashMap<String, argus_fsm::access::AccessRequest>,
    /// The announcements for the other nodes (JSON), when this node listens and wrote keys.
    announce: Vec<String>,
    /// This writer and the group's number, for its row in `writer_groups`.
    mark: (i64, i64),
    /// What this group decides once cluster-wide (or the whole group is refused).
    claim: Option<Claim>,
}

/// What a claiming group decides once cluster-wide.
#[derive(Clone, Debug)]
enum Claim {
    /// A session's end: its `active` flag turned off here.
    SessionEnd(String),
    /// A pending access request's expiry (SPEC §13): its state turned to `expired` here.
    RequestExpiry(String),
}

/// What a writer's row says about `group`: it landed if the row is at it, and did not if the
/// row is still before it (groups of one writer are numbered in order, and none is written
/// while one is unresolved). A row past it means someone else wrote under this writer's
/// number: no answer.
fn outcome(group: i64, row_group: i64, head_seq: Option<i64>, head_hash: Option<String>) -> Option<Outcome> {
    match row_group.cmp(&group) {
        std::cmp::Ordering::Less => Some(Outcome::Lost),
        std::cmp::Ordering::Equal => {
            Some(Outcome::Landed(head_seq.zip(head_hash).map(|(seq, hash)| super::head::Head::at(seq as u64, hash))))
        }
        std::cmp::Ordering::Greater => None,
    }
}

/// A writer number nobody else holds (64 random bits).
fn random_writer() -> i64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    i64::from_le_bytes(bytes)
}

/// A pooled connection inside a transaction this store opened: closed instead of returned to
/// the pool unless [`InTransaction::release`] says the transaction is over.
struct InTransaction(Option<deadpool_postgres::Object>);

impl InTransaction {
    /// The transaction committed or rolled back: the connection goes back to the pool.
    fn release(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// One multi-row upsert's columns (`UNNEST` of arrays: one statement per table per flush).
#[derive(Default)]
struct AgentColumns {
    agent_id: Vec<String>,
    tenant: Vec<String>,
    state: Vec<String>,
    record: Vec<String>,
    consumed_agent: Vec<String>,
    consumed_patch: Vec<String>,
}

/// A resume mark's `seq`, with the predicate spelled as the partial index `audit_tenant_marks`'
/// (schema 7) so the planner uses it; the mark interval is `audit::RESUME_MARK_EVERY` (tested).
const MARK_SEQ: &str = "SELECT seq FROM audit WHERE tenant = $1 AND tenant_seq = $2 AND tenant_seq % 64 = 1";

/// The tenant heads a group moves, as columns (`audit::tenant_moves`).
#[derive(Default)]
struct HeadMoves {
    tenant: Vec<String>,
    before_seq: Vec<i64>,
    before_hash: Vec<String>,
    tenant_seq: Vec<i64>,
    hash: Vec<String>,
}

impl HeadMoves {
    fn of(records: &[AuditRecord]) -> HeadMoves {
        let mut columns = HeadMoves::default();
        for m in super::audit::tenant_moves(records) {
            columns.tenant.push(m.tenant);
            columns.before_seq.push(m.before_seq as i64);
            columns.before_hash.push(m.before_hash);
            columns.tenant_seq.push(m.after.tenant_seq as i64);
            columns.hash.push(m.after.hash);
        }
        columns
    }
}

/// Access requests' columns (SPEC §13).
#[derive(Default)]
struct RequestColumns {
    id: Vec<String>,
    tenant: Vec<String>,
    agent_id: Vec<String>,
    state: Vec<String>,
    approvals: Vec<i32>,
    record: Vec<String>,
}

#[derive(Default)]
struct PatColumns {
    hash: Vec<Vec<u8>>,
    id: Vec<String>,
    tenant: Vec<Option<String>>,
    record: Vec<String>,
    revoked: Vec<bool>,
}

#[derive(Default)]
struct SessionColumns {
    id: Vec<String>,
    token_hash: Vec<Vec<u8>>,
    tenant: Vec<String>,
    agent_id: Vec<String>,
    active: Vec<bool>,
    expires_at: Vec<i64>,
    record: Vec<String>,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records of owned data always serialize")
}

fn decode<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt { key: what.chars().take(60).collect(), reason: e.to_string() })
}

impl Store for PgStore {
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        Some(self)
    }

    fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        // As long as a group write may take to resolve an unanswered COMMIT.
        self.run_for(RESOLVE_WINDOW + OPERATION_TIMEOUT, self.writing.write_group(writes.to_vec(), None)).map(drop)
    }

    fn write_group(&self, group: Vec<Write>) -> super::GroupWrite<'_> {
        let runtime = self.runtime.as_ref().expect("runtime lives as long as the store");
        let writing = self.writing.clone();
        let task = runtime.spawn(async move { writing.write_group(group, None).await });
        Box::pin(async move { task.await.map_err(|e| StoreError::Backend(format!("the write task failed: {e}")))? })
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        self.run(async {
            // A view read before an unknown write is resolved could miss it, or see it later.
            self.writing.settle().await?;
            // The newest record and the tenants' heads as of one moment, as a checkpoint reads them.
            let (last_audit, tenant_heads) = self.heads().await?;
            Ok(Snapshot {
                tenants: self.records("SELECT record FROM tenants", &[]).await?,
                agents: self.records("SELECT record FROM agents", &[]).await?,
                pats: self.records("SELECT record FROM pats", &[]).await?,
                sessions: self.records("SELECT record FROM sessions WHERE active", &[]).await?,
                requests: self.records("SELECT record FROM access_requests", &[]).await?,
                last_audit,
                tenant_heads,
            })
        })
    }

    fn audit_from(&self, from: u64) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_> {
        Box::new(AuditPages { store: self, cursor: from as i64 - 1, ascending: true, page: Vec::new(), done: false })
    }

    fn audit_stored_from(&self, from: u64) -> super::StoredRecords<'_> {
        let mut cursor = from as i64 - 1;
        let mut page: std::vec::IntoIter<(u64, Vec<u8>)> = Vec::new().into_iter();
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            if page.len() == 0 && !done {
                match self.run(self.stored_page(cursor)) {
                    Ok(rows) => {
                        done = (rows.len() as i64) < AUDIT_PAGE;
                        page = rows.into_iter();
                    }
                    Err(error) => {
                        done = true;
                        return Some(Err(error));
                    }
                }
            }
            let (seq, bytes) = page.next()?;
            cursor = seq as i64;
            Some(Ok((seq, bytes)))
        }))
    }

    fn audit_newest_first(&self) -> Box<dyn Iterator<Item = Result<AuditRecord, StoreError>> + '_> {
        Box::new(AuditPages { store: self, cursor: i64::MAX, ascending: false, page: Vec::new(), done: false })
    }

    fn audit_heads(&self) -> Result<(Option<AuditRecord>, super::audit::TenantHeads), StoreError> {
        self.run(self.heads())
    }

    fn audit_legacy_hash(&self, seq: u64) -> Result<Option<String>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT legacy_hash FROM audit WHERE seq = $1", &[&(seq as i64)])
                .await
                .map_err(pg_error)?;
            Ok(row.and_then(|row| row.get::<_, Option<String>>(0)))
        })
    }

    fn give_tenant_places(&self) -> Result<Option<u64>, StoreError> {
        // One transaction under the head's lock (every writer waits), however long the chain.
        self.run_for(MIGRATION_TIMEOUT, async {
            let mut guard = InTransaction(Some(self.client().await?));
            let client = guard.0.as_ref().expect("held");
            client.batch_execute("BEGIN").await.map_err(pg_error)?;
            client.query_one("SELECT seq FROM audit_head FOR UPDATE", &[]).await.map_err(pg_error)?;
            let done = client
                .query_opt("SELECT 1 FROM audit_migrations WHERE name = 'tenant_chains'", &[])
                .await
                .map_err(pg_error)?;
            if done.is_some() {
                client.batch_execute("ROLLBACK").await.map_err(pg_error)?;
                guard.release();
                return Ok(None);
            }
            let rows = client.query("SELECT record FROM audit ORDER BY seq", &[]).await.map_err(pg_error)?;
            let records = rows
                .iter()
                .map(|row| decode::<AuditRecord>(&row.get::<_, String>(0), "audit"))
                .collect::<Result<Vec<_>, _>>()?;
            let placed = super::audit::give_tenant_places(&records).map_err(|(seq, reason)| StoreError::Corrupt {
                key: format!("audit seq {seq}"),
                reason,
            })?;
            let mut rewritten = 0;
            for chunk in placed.chunks(5_000) {
                let seqs: Vec<i64> = chunk.iter().map(|(r, _)| r.seq as i64).collect();
                let hashes: Vec<String> = chunk.iter().map(|(r, _)| r.hash.clone()).collect();
                let texts: Vec<String> = chunk.iter().map(|(r, _)| json(r)).collect();
                let tenants: Vec<Option<String>> = chunk.iter().map(|(r, _)| r.tenant.clone()).collect();
                let tenant_seqs: Vec<Option<i64>> = chunk.iter().map(|(r, _)| r.tenant_seq.map(|n| n as i64)).collect();
                let legacy: Vec<Option<String>> =
                    chunk.iter().map(|(r, before)| (r.hash != *before).then(|| before.clone())).collect();
                rewritten += legacy.iter().filter(|l| l.is_some()).count() as u64;
                client
                    .execute(
                        "UPDATE audit SET hash = u.hash, record = u.record, tenant = u.tenant, tenant_seq = u.tenant_seq,
                                legacy_hash = u.legacy
                         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[])
                              AS u(seq, hash, record, tenant, tenant_seq, legacy)
                         WHERE audit.seq = u.seq",
                        &[&seqs, &hashes, &texts, &tenants, &tenant_seqs, &legacy],
                    )
                    .await
                    .map_err(pg_error)?;
            }
            if let Some((last, _)) = placed.last() {
                client
                    .execute("UPDATE audit_head SET hash = $2 WHERE seq = $1", &[&(last.seq as i64), &last.hash])
                    .await
                    .map_err(pg_error)?;
            }
            let heads = super::audit::tenant_heads_after(placed.iter().map(|(r, _)| r));
            let (names, places): (Vec<String>, Vec<super::audit::TenantHead>) = heads.into_iter().unzip();
            let seqs: Vec<i64> = places.iter().map(|h| h.tenant_seq as i64).collect();
            let hashes: Vec<String> = places.into_iter().map(|h| h.hash).collect();
            client.execute("DELETE FROM audit_tenant_heads", &[]).await.map_err(pg_error)?;
            client
                .execute(
                    "INSERT INTO audit_tenant_heads (tenant, tenant_seq, hash)
                     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[])",
                    &[&names, &seqs, &hashes],
                )
                .await
                .map_err(pg_error)?;
            client
                .execute("INSERT INTO audit_migrations (name) VALUES ('tenant_chains')", &[])
                .await
                .map_err(pg_error)?;
            client.batch_execute("COMMIT").await.map_err(pg_error)?;
            guard.release();
            Ok(Some(rewritten))
        })
    }

    fn audit_tenant_head(&self, tenant: &str) -> Result<Option<super::audit::TenantHead>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT tenant_seq, hash FROM audit_tenant_heads WHERE tenant = $1", &[&tenant])
                .await
                .map_err(pg_error)?;
            Ok(row.map(|row| super::audit::TenantHead { tenant_seq: row.get::<_, i64>(0) as u64, hash: row.get(1) }))
        })
    }

    fn audit_mark_seq(&self, tenant: &str, mark: u64) -> Result<Option<u64>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = client.query_opt(MARK_SEQ, &[&tenant, &(mark as i64)]).await.map_err(pg_error)?;
            Ok(row.map(|row| row.get::<_, i64>(0) as u64))
        })
    }

    fn session_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<argus_fsm::session::Session>, StoreError> {
        let hash = token_hash.to_vec();
        self.run(self.records("SELECT record FROM sessions WHERE token_hash = $1", &[&hash]))
            .map(|sessions| sessions.into_iter().next())
    }

    fn guard_chain(&self, floor: Arc<super::head::ChainFloor>) {
        let _ = self.writing.floor.set(floor);
    }

    fn found_or_join(
        &self,
        writes: &[Write],
        ca_cert: &str,
        ca_key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        match self.import(writes.to_vec(), ca_cert, ca_key) {
            Ok(()) => Ok(None),
            // Not empty: another init founded it first (the table lock orders two at once).
            Err(StoreError::NotEmpty) => {
                let ca = self.cluster_ca()?;
                ca.map(Some).ok_or_else(|| {
                    StoreError::Backend(
                        "the database holds an ARGUS deployment without a cluster CA (written before cluster mode); \
                         it cannot be joined"
                            .into(),
                    )
                })
            }
            Err(other) => Err(other),
        }
    }

    fn end_claim(&self, ended: &argus_fsm::session::Session, record: AuditRecord) -> Result<EndClaim, StoreError> {
        // One transaction: the flag turned off (whoever does it ends the session), the agent's
        // claim freed, the ended session and its record written after the head. A claim never
        // stands without its record, and no later session of the agent is recorded first.
        // Bounded like every other store call made under the registry's lock (the node decides
        // nothing else meanwhile), not by the resolve window: a claim whose COMMIT got no answer
        // and is not resolved within the bound answers 503 and stays in its lane's slot, resolved
        // before the next write or load. A retried end then finds the claim landed (Lost: the
        // record is there) or not (claimed again).
        let batch = vec![Write::Session(ended.clone()), Write::Audit(record)];
        let written = self.run(self.writing.write_group(batch, Some(Claim::SessionEnd(ended.id.clone()))));
        match written {
            Ok(_) => Ok(EndClaim::Recorded),
            Err(StoreError::EndedElsewhere) => Ok(EndClaim::Lost),
            Err(error) => Err(error),
        }
    }

    fn expire_claim(
        &self,
        expired: &argus_fsm::access::AccessRequest,
        record: AuditRecord,
    ) -> Result<EndClaim, StoreError> {
        // As an end claim: the expiry and its record in one transaction, once cluster-wide.
        let batch = vec![Write::AccessRequest(expired.clone()), Write::Audit(record)];
        let claim = Claim::RequestExpiry(expired.request_id.clone());
        match self.run(self.writing.write_group(batch, Some(claim))) {
            Ok(_) => Ok(EndClaim::Recorded),
            Err(StoreError::EndedElsewhere) => Ok(EndClaim::Lost),
            Err(error) => Err(error),
        }
    }

    fn session_by_id(&self, id: &str) -> Result<Option<argus_fsm::session::Session>, StoreError> {
        self.run(async {
            let sessions = self.records("SELECT record FROM sessions WHERE id = $1", &[&id]).await?;
            Ok(sessions.into_iter().next())
        })
    }

    fn claim_live_session(
        &self,
        agent_id: &str,
        session_id: &str,
        expires_at: argus_fsm::Timestamp,
        now: argus_fsm::Timestamp,
    ) -> Result<bool, StoreError> {
        let grace = (OPERATION_TIMEOUT * 2).as_secs_f64();
        self.run(async {
            let client = self.client().await?;
            // Takes the row when it is free: no claim, or a claim whose session has ended or
            // lapsed, or one whose session never reached the table within the grace.
            let claimed = client
                .query_opt(
                    "INSERT INTO live_sessions AS l (agent_id, session_id, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (agent_id) DO UPDATE
                         SET session_id = EXCLUDED.session_id, expires_at = EXCLUDED.expires_at, claimed_at = now()
                     WHERE l.expires_at <= $4
                        OR EXISTS (SELECT 1 FROM sessions s WHERE s.id = l.session_id AND NOT s.active)
                        OR (NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = l.session_id)
                            AND now() - l.claimed_at > make_interval(secs => $5))
                     RETURNING session_id",
                    &[&agent_id, &session_id, &expires_at.0, &now.0, &grace],
                )
                .await
                .map_err(pg_error)?;
            Ok(claimed.is_some())
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map_err(pg_error).map(drop)
        })
    }
}

impl ClusterStore for PgStore {
    fn subscribe(&self, node_id: &str) -> tokio::sync::mpsc::UnboundedReceiver<Changes> {
        let _ = self.writing.node.set(node_id.to_string());
        let (out, changes) = tokio::sync::mpsc::unbounded_channel();
        let (config, url) = self.listen.clone();
        let runtime = self.runtime.as_ref().expect("runtime lives as long as the store");
        runtime.spawn(super::pg_listen::listen(config, url, node_id.to_string(), out));
        changes
    }

    fn reread(&self, changes: &Changes) -> Result<Reread, StoreError> {
        let pats: Vec<Vec<u8>> = changes.pats.iter().filter_map(|h| hex::decode(h).ok()).collect();
        self.run(async {
            Ok(Reread {
                tenants: self.records("SELECT record FROM tenants WHERE id = ANY($1)", &[&changes.tenants]).await?,
                agents: self.records("SELECT record FROM agents WHERE agent_id = ANY($1)", &[&changes.agents]).await?,
                pats: self.records("SELECT record FROM pats WHERE hash = ANY($1)", &[&pats]).await?,
                sessions: self.records("SELECT record FROM sessions WHERE id = ANY($1)", &[&changes.sessions]).await?,
                requests: self
                    .records("SELECT record FROM access_requests WHERE request_id = ANY($1)", &[&changes.requests])
                    .await?,
            })
        })
    }

    fn heartbeat(&self, beat: &crate::membership::Heartbeat) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            client
                .execute(
                    "INSERT INTO nodes (node_id, api, agent, peer, peer_cert_sha256) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (node_id) DO UPDATE SET api = EXCLUDED.api, agent = EXCLUDED.agent,
                         peer = EXCLUDED.peer, peer_cert_sha256 = EXCLUDED.peer_cert_sha256, heartbeat_at = now()",
                    &[&beat.node_id, &beat.api, &beat.agent, &beat.peer, &beat.peer_cert],
                )
                .await
                .map_err(pg_error)
                .map(drop)
        })
    }

    fn live_node_by_peer_cert(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let dead_after = crate::membership::DEAD_AFTER.as_secs_f64();
        self.run(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT node_id FROM nodes
                     WHERE peer_cert_sha256 = $1 AND now() - heartbeat_at < make_interval(secs => $2)
                     ORDER BY heartbeat_at DESC LIMIT 1",
                    &[&fingerprint, &dead_after],
                )
                .await
                .map_err(pg_error)?;
            Ok(row.map(|row| row.get::<_, String>(0)))
        })
    }

    fn nodes(&self) -> Result<Vec<crate::membership::NodeInfo>, StoreError> {
        let dead_after = crate::membership::DEAD_AFTER.as_secs_f64();
        self.run(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT n.node_id, n.api, n.agent, n.peer,
                            now() - n.heartbeat_at < make_interval(secs => $1),
                            (SELECT count(*) FROM agent_presence p WHERE p.node_id = n.node_id),
                            (extract(epoch FROM n.heartbeat_at) * 1000)::int8
                     FROM nodes n ORDER BY n.node_id",
                    &[&dead_after],
                )
                .await
                .map_err(pg_error)?;
            Ok(rows
                .iter()
                .map(|row| {
                    let alive: bool = row.get(4);
                    crate::membership::NodeInfo {
                        node_id: row.get(0),
                        api: row.get(1),
                        agent: row.get(2),
                        peer: row.get(3),
                        alive,
                        // A dead node's agents are offline until they connect elsewhere.
                        agents_online: if alive { row.get::<_, i64>(5) as u64 } else { 0 },
                        last_heartbeat: crate::time_format::rfc3339(argus_fsm::Timestamp(row.get(6))),
                    }
                })
                .collect())
        })
    }

    fn claim_presence(&self, agent_id: &str, node_id: &str) -> Result<u64, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "INSERT INTO agent_presence (agent_id, node_id, epoch) VALUES ($1, $2, nextval('presence_epoch'))
                     ON CONFLICT (agent_id) DO UPDATE SET node_id = EXCLUDED.node_id, epoch = EXCLUDED.epoch, since = now()
                     RETURNING epoch",
                    &[&agent_id, &node_id],
                )
                .await
                .map_err(pg_error)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn release_presence(&self, agent_id: &str, epoch: u64) -> Result<(), StoreError> {
        let epoch = epoch as i64;
        self.run(async {
            let client = self.client().await?;
            client
                .execute("DELETE FROM agent_presence WHERE agent_id = $1 AND epoch = $2", &[&agent_id, &epoch])
                .await
                .map_err(pg_error)
                .map(drop)
        })
    }

    fn forget_presence_of(&self, node_id: &str) -> Result<(), StoreError> {
        self.run(async {
            let client = self.client().await?;
            client
                .execute("DELETE FROM agent_presence WHERE node_id = $1", &[&node_id])
                .await
                .map_err(pg_error)
                .map(drop)
        })
    }

    fn holder(&self, agent_id: &str) -> Result<Option<String>, StoreError> {
        let dead_after = crate::membership::DEAD_AFTER.as_secs_f64();
        self.run(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT p.node_id FROM agent_presence p JOIN nodes n ON n.node_id = p.node_id
                     WHERE p.agent_id = $1 AND now() - n.heartbeat_at < make_interval(secs => $2)",
                    &[&agent_id, &dead_after],
                )
                .await
                .map_err(pg_error)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn presence(&self) -> Result<crate::membership::Presence, StoreError> {
        let dead_after = crate::membership::DEAD_AFTER.as_secs_f64();
        self.run(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT p.agent_id, p.node_id FROM agent_presence p JOIN nodes n ON n.node_id = p.node_id
                     WHERE now() - n.heartbeat_at < make_interval(secs => $1)",
                    &[&dead_after],
                )
                .await
                .map_err(pg_error)?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }
}

/// The audit chain read a page at a time.
struct AuditPages<'a> {
    store: &'a PgStore,
    cursor: i64,
    ascending: bool,
    page: Vec<AuditRecord>,
    done: bool,
}

impl Iterator for AuditPages<'_> {
    type Item = Result<AuditRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            match self.store.audit_page(self.cursor, self.ascending) {
                Ok(mut page) => {
                    self.done = (page.len() as i64) < AUDIT_PAGE;
                    page.reverse();
                    self.page = page;
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        let record = self.page.pop()?;
        self.cursor = record.seq as i64;
        Some(Ok(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::error::SqlState;

    #[test]
    fn the_resume_marks_index_and_query_agree_with_the_mark_interval() {
        let predicate = format!("tenant_seq % {} = 1", crate::store::audit::RESUME_MARK_EVERY);
        assert!(include_str!("migrations/007_tenant_heads.sql").contains(&predicate));
        assert!(MARK_SEQ.contains(&predicate));
        assert!(crate::store::audit::is_resume_mark(1) && crate::store::audit::is_resume_mark(65));
        assert_eq!(crate::store::audit::resume_mark(64), 1);
        assert_eq!(crate::store::audit::resume_mark(130), 129);
    }

    #[test]
    fn not_now_is_transient_and_no_is_not() {
        for state in [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ] {
            assert!(transient_state(&state), "{}", state.code());
        }
        for state in [
            SqlState::INVALID_PASSWORD,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            SqlState::INVALID_CATALOG_NAME,
            SqlState::UNIQUE_VIOLATION,
            SqlState::UNDEFINED_TABLE,
        ] {
            assert!(!transient_state(&state), "{}", state.code());
        }
    }

    #[test]
    fn a_writers_row_says_whether_an_unanswered_group_landed() {
        let head = super::super::head::Head::at(9, "h9");
        assert_eq!(outcome(7, 6, Some(8), Some("h8".into())), Some(Outcome::Lost), "the row is still before");
        assert_eq!(outcome(7, 7, Some(9), Some("h9".into())), Some(Outcome::Landed(Some(head))));
        assert_eq!(outcome(7, 7, None, None), Some(Outcome::Landed(None)), "a group without audit records");
        assert_eq!(outcome(7, 8, None, None), None, "a row past the group answers nothing");
    }
}
