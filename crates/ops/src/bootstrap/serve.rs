//! `argus-ops serve`: the HTTPS API and the QUIC agent listener over one state, with a clean
//! shutdown on SIGTERM/SIGINT that drains connections and flushes the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::bootstrap::data_dir::DataDir;
use crate::config::GateConfig;
use crate::gate::FailureLimiter;
use crate::state::{Ops, Registry};
use crate::store::{Store, StoreUrl};

/// What `serve` needs.
pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// The store (`--store` / `ARGUS_STORE`, else what `init` recorded).
    pub store: StoreUrl,
    pub api_listen: SocketAddr,
    pub agent_listen: SocketAddr,
    pub patch_pubkey: Option<PathBuf>,
    pub config: GateConfig,
    /// Where the browser path's keys come from: `None` is the team's JWKS endpoint (the only
    /// source a deployment can have; tests embedding the server inject a fixed set here).
    pub access_keys: Option<Arc<dyn argus_access::KeySource>>,
    /// `--metrics-listen`: where Prometheus scrapes `GET /metrics` over plain HTTP (off when
    /// `None`).
    pub metrics_listen: Option<SocketAddr>,
    /// `--node-id` / `ARGUS_NODE_ID`; else the ID kept in the data dir.
    pub node_id: Option<String>,
    /// `--peer-listen` / `ARGUS_PEER_LISTEN`: where other nodes reach this one (shared stores).
    pub peer_listen: SocketAddr,
    /// What other nodes dial for this one (default: the bound peer address).
    pub peer_advertise: Option<SocketAddr>,
}

/// The peer listener's default: loopback, any port.
pub const DEFAULT_PEER_LISTEN: &str = "127.0.0.1:0";

/// The process's descriptor limit, after raising the soft limit to the hard one (as Go and
/// most servers do: the soft default of 1024 is a relic of `select`); the listeners size their
/// connection caps by it.
fn descriptor_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(hard)) = (limit.current, limit.maximum) {
        if current < hard && setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) }).is_ok() {
            return hard;
        }
    }
    let limit = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    tracing::debug!(limit, "descriptor limit");
    limit
}

/// Holds the store's audit chain against the head this node remembers (SPEC §10): behind it,
/// or another chain at it, and the node refuses writes; sound, and the floor rises to the
/// store's head (records read count as seen).
async fn judge_chain(
    floor: &crate::store::head::ChainFloor,
    store: Arc<dyn Store>,
    last: Option<&crate::store::audit::AuditRecord>,
) -> anyhow::Result<()> {
    use crate::store::head::{standing, Head, Standing};
    let store_head = last.map(|record| Head::at(record.seq, record.hash.clone()));
    let mut remembered = floor.highest();
    let hash_at_floor = match &remembered {
        Some(head) => {
            let (seq, remembered_hash) = (head.seq, head.hash.clone());
            let store = store.clone();
            let hash = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
                let Some(record) = store.audit_from(seq).next().transpose()?.filter(|record| record.seq == seq) else {
                    return Ok(None);
                };
                // A head remembered before the migration that gave records their tenant
                // places (SPEC §14) names the record's hash from before: the same record.
                if record.hash != remembered_hash && store.audit_legacy_hash(seq)? == Some(remembered_hash) {
                    return Ok(Some((record.hash.clone(), true)));
                }
                Ok(Some((record.hash, false)))
            })
            .await?
            .context("reading the audit record at the remembered head")?;
            if let Some((hash, true)) = &hash {
                floor.repoint(Head::at(seq, hash.clone()));
                remembered = floor.highest();
            }
            hash.map(|(hash, _)| hash)
        }
        None => None,
    };
    match standing(remembered.as_ref(), store_head.as_ref(), hash_at_floor.as_deref()) {
        Standing::Sound => {
            if let Some(head) = store_head {
                floor.observe(head);
            }
        }
        Standing::Behind(why) => floor.fall_behind(why),
    }
    Ok(())
}

/// Runs the server until `shutdown` resolves.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let dir = DataDir(options.data_dir.clone());
    if !dir.tls("server.pem").exists() {
        anyhow::bail!("{} is not an initialised data dir (run `argus-ops init --data-dir DIR`)", dir.0.display());
    }
    let certs = argus_transport_quic::parse_certificates(&std::fs::read(dir.tls("server.pem"))?)?;
    let key = argus_transport_quic::parse_private_key(&std::fs::read(dir.tls("server.key"))?)?;
    // Beside the private key, with the same protection: agents resume after a restart.
    let admission = crate::link::admission::from_env(0)?;
    let intake = crate::link::intake::Intake::from_lookup(|name| std::env::var(name).ok())?;
    let tickets = Arc::new(argus_transport_quic::TicketKeys::persistent(&dir.tls("ticket-keys"))?);
    let patch_key = match &options.patch_pubkey {
        Some(path) => Some(
            argus_fsm::signed::parse_public_key_file(
                &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        ),
        None => None,
    };

    let checkpoint_key = super::checkpoint::load(&dir)?;
    if checkpoint_key.is_none() {
        tracing::warn!("no tls/checkpoint.key and no CA key to derive it from: no audit checkpoints are signed (re-run init to join the cluster again)");
    }
    for warning in options.config.closing_warnings() {
        tracing::warn!("{warning}");
    }
    let store_url = options.store.clone();
    let data_dir = dir.0.clone();
    let store: Arc<dyn Store> = tokio::task::spawn_blocking(move || open_waiting(&store_url, &data_dir))
        .await?
        .map_err(|e| anyhow::anyhow!("opening the store {}: {e}", options.store.redacted()))?;
    let migrating = store.clone();
    if let Some(rewritten) = tokio::task::spawn_blocking(move || migrating.give_tenant_places())
        .await?
        .context("giving the audit records written before tenant chains their places (SPEC §14)")?
    {
        tracing::info!(rewritten, "every audit record now has its place in its tenant's chain");
    }
    let loaded = store.clone();
    let snapshot = tokio::task::spawn_blocking(move || loaded.load()).await?.context("loading the store")?;
    let chain_floor = Arc::new(crate::store::head::ChainFloor::open(&dir.0)?);
    judge_chain(&chain_floor, store.clone(), snapshot.last_audit.as_ref()).await?;
    store.guard_chain(chain_floor.clone());
    let node_id = crate::bootstrap::data_dir::resolve_node_id(options.node_id.as_deref(), &dir.0)?;
    let writer = crate::store::writer::Writer::new(
        store.clone(),
        Some(chain_floor.clone()),
        snapshot.last_audit.as_ref(),
        snapshot.tenant_heads.clone(),
        Some(node_id.clone()),
    );
    let registry = Registry::from_snapshot(snapshot);
    let access = match &options.config.access {
        Some(config) => {
            let keys: Arc<dyn argus_access::KeySource> = match options.access_keys.clone() {
                Some(keys) => keys,
                None => Arc::new(argus_access::TeamJwks::new(config)?),
            };
            Some(argus_access::AccessVerifier::new(config.clone(), keys))
        }
        None => None,
    };
    let ops = Arc::new(Ops {
        node_id: node_id.clone(),
        unreleased: Mutex::new(Vec::new()),
        addresses: Default::default(),
        live_nodes: Default::default(),
        access,
        config: options.config,
        store: store.clone(),
        registry: tokio::sync::RwLock::new(registry),
        reach: crate::reach::Reach::new(node_id.clone(), store.clone()),
        limiter: Mutex::new(FailureLimiter::default()),
        patch_key,
        checkpoint_key: checkpoint_key.map(Arc::new),
        writer: Arc::new(writer),
        refusals: Mutex::new(crate::link::refusals::RefusalBudget::new(crate::time_format::now())),
        listening: false.into(),
        tickets: tickets.clone(),
        admission: Mutex::new(admission),
        intake: Mutex::new(intake),
        chain_floor,
        wakefulness: Default::default(),
    });

    // The agent links run on a runtime of their own: a reconnect storm of thousands of
    // handshakes keeps its threads busy, and the operators' API — a revocation above all — must
    // not queue behind it (measured: revocation p99 90 ms during a 10,000-agent storm on one
    // shared runtime). The kernel shares the CPU between the two sets of threads.
    let agent_runtime = SideRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("argus-agents")
            .enable_all()
            .build()
            .context("starting the agent-link runtime")?,
    ));
    let endpoint = {
        let _inside = agent_runtime.handle().enter();
        argus_transport_quic::server_endpoint(options.agent_listen, certs.clone(), key.clone_key(), tickets)?
    };
    let agent_addr = endpoint.local_addr()?;
    let tcp = TcpListener::bind(options.api_listen).await.with_context(|| format!("binding {}", options.api_listen))?;
    let api_addr = tcp.local_addr()?;
    let (api_cap, metrics_cap) = crate::http::server::connection_caps(descriptor_limit());
    let metrics = match options.metrics_listen {
        Some(addr) => {
            let listener =
                TcpListener::bind(addr).await.with_context(|| format!("binding the metrics listener {addr}"))?;
            let bound = listener.local_addr()?;
            let app = crate::http::scrape::router(ops.clone());
            // The HTTPS front's deadlines and a cap of its own (SPEC §12 "Floods").
            let task =
                tokio::spawn(crate::http::server::serve_plain(listener, app, metrics_cap, std::future::pending()));
            tracing::info!(metrics_addr = %bound, "serving Prometheus metrics at /metrics");
            Some((bound, task))
        }
        None => None,
    };

    // Cluster membership (shared stores): the peer link, then this node announced before it
    // serves, its heartbeat, and the other nodes' writes followed.
    let peer_addr = if store.cluster().is_some() {
        let ca = std::fs::read(dir.tls("ca.pem"))?;
        let peer_endpoint =
            argus_transport_quic::peer_endpoint(options.peer_listen, &ca, certs.clone(), key.clone_key())
                .with_context(|| format!("binding the peer listener {}", options.peer_listen))?;
        let bound = peer_endpoint.local_addr()?;
        let advertised = peer_address(bound, options.peer_advertise)?;
        ops.reach.set_peers(Arc::new(crate::peer::Peers::new(peer_endpoint.clone(), store.clone())));
        tokio::spawn(crate::listen::peers::serve(ops.clone(), peer_endpoint));
        Some(advertised)
    } else {
        None
    };
    let beat = crate::membership::Heartbeat {
        node_id: node_id.clone(),
        api: api_addr.to_string(),
        agent: agent_addr.to_string(),
        peer: peer_addr.map(|a| a.to_string()),
        peer_cert: peer_addr.and(certs.first()).map(|cert| hex::encode(argus_fsm::signed::sha256(cert))),
    };
    let _ = ops.addresses.set(beat.clone());
    let mut cluster_tasks = Vec::new();
    if let Some(cluster) = store.cluster() {
        let (first, announce) = (store.clone(), beat.clone());
        let nodes = tokio::task::spawn_blocking(move || {
            let Some(first) = first.cluster() else { return Ok(Vec::new()) };
            // Presence left by this node's previous run names links that no longer exist.
            first.heartbeat(&announce)?;
            first.forget_presence_of(&announce.node_id)?;
            first.nodes()
        })
        .await?
        .map_err(|e| anyhow::anyhow!("registering this node in the store: {e}"))?;
        ops.live_nodes.lock().expect("live nodes lock").nodes = crate::membership::live_node_loads(nodes);
        let changes = cluster.subscribe(&node_id);
        cluster_tasks.push(tokio::spawn(crate::cluster::follow_changes(ops.clone(), changes)));
        cluster_tasks.push(tokio::spawn(crate::cluster::heartbeat_driver(ops.clone(), beat)));
        cluster_tasks.push(tokio::spawn(crate::cluster::wake_ticker(ops.clone())));
    }
    write_addresses(
        &dir.addresses(),
        &node_id,
        [
            ("api", Some(api_addr)),
            ("agent", Some(agent_addr)),
            ("metrics", metrics.as_ref().map(|(a, _)| *a)),
            ("peer", peer_addr),
        ],
    )?;
    tracing::info!(%api_addr, %agent_addr, node = %node_id, "argus-ops listening");
    let link_task = agent_runtime.handle().spawn(crate::listen::agents::serve(ops.clone(), endpoint.clone()));
    let expiry_task = tokio::spawn(crate::lifecycle::expiry_driver(ops.clone()));
    let refusal_task = tokio::spawn(crate::listen::agents::write_refusal_aggregates(ops.clone()));
    let flush_task = tokio::spawn(flush_bookkeeping(ops.clone()));
    let checkpoints = Arc::new(crate::checkpoints::Checkpoints::default());
    let checkpoint_task = tokio::spawn(crate::checkpoints::driver(ops.clone(), checkpoints.clone()));

    let mut tls = rustls::ServerConfig::builder_with_provider(argus_transport_quic::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    ops.listening.store(true, std::sync::atomic::Ordering::Release);
    crate::http::server::serve(
        tcp,
        TlsAcceptor::from(Arc::new(tls)),
        crate::http::router(ops.clone()),
        api_cap,
        shutdown,
    )
    .await;

    tracing::info!("shutting down: closing agent links and flushing the store");
    endpoint.close(quinn::VarInt::from_u32(0), b"server shutting down");
    if let Some(peers) = ops.reach.peers() {
        peers.close();
    }
    link_task.abort();
    expiry_task.abort();
    refusal_task.abort();
    flush_task.abort();
    checkpoint_task.abort();
    // The last checkpoint covers everything this node wrote (bounded: a store that is away
    // does not hold the shutdown).
    let _ = tokio::time::timeout(Duration::from_secs(5), checkpoints.write_due(&ops)).await;
    for task in cluster_tasks {
        task.abort();
    }
    if let Some((_, task)) = metrics {
        task.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    drop(agent_runtime);
    ops.writer.wait_all().await?;
    let _ = std::fs::remove_file(dir.addresses());
    Ok(())
}

/// A runtime started from async code: dropping a runtime may block, which async code must
/// not, so it is let go in the background — on every path out of `serve`, errors included.
struct SideRuntime(Option<tokio::runtime::Runtime>);

impl SideRuntime {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for SideRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Bookkeeping staged without waiting (`last_seen`, `last_used_at`) reaches a backend that
/// only writes on flush (PostgreSQL) within a second; sled writes it out by itself.
async fn flush_bookkeeping(ops: Arc<Ops>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(error) = ops.writer.wait_all().await {
            tracing::debug!(%error, "bookkeeping flush failed");
        }
    }
}

fn write_addresses(path: &Path, node_id: &str, addresses: [(&str, Option<SocketAddr>); 4]) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().expect("run dir"))?;
    let mut json = serde_json::json!({ "node_id": node_id });
    for (name, address) in addresses {
        if let Some(address) = address {
            json[name] = serde_json::json!(address.to_string());
        }
    }
    // Write-then-rename so a reader never sees half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&json)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The peer address this node announces: `advertise` when given, else the bound one — which
/// must then be one another node can dial (a wildcard address is refused with what to set).
fn peer_address(bound: SocketAddr, advertise: Option<SocketAddr>) -> anyhow::Result<SocketAddr> {
    match advertise {
        Some(address) if address.ip().is_unspecified() || address.port() == 0 => {
            anyhow::bail!("--peer-advertise {address} is not an address another node can dial")
        }
        Some(address) => Ok(address),
        None if bound.ip().is_unspecified() => anyhow::bail!(
            "the peer listener is bound to {bound}, which other nodes cannot dial: set --peer-advertise (ARGUS_PEER_ADVERTISE) to this node's reachable HOST:PORT"
        ),
        None => Ok(bound),
    }
}

/// How long `serve` waits for an unreachable store at start (a database failing over, a node
/// restarted before its database) before giving up with the reason.
pub const STORE_WAIT_AT_START: std::time::Duration = std::time::Duration::from_secs(30);

/// Opens the store, retrying while it is only unavailable (never a refused login, a schema
/// too new or a bad URL) for up to [`STORE_WAIT_AT_START`].
fn open_waiting(
    url: &crate::store::StoreUrl,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn Store>, crate::store::StoreError> {
    let started = std::time::Instant::now();
    let mut warned = false;
    loop {
        match crate::store::open(url, data_dir) {
            Err(crate::store::StoreError::Unavailable(reason)) if started.elapsed() < STORE_WAIT_AT_START => {
                if !warned {
                    tracing::warn!(%reason, "the store is not reachable yet; retrying for up to 30 s (a database failover?)");
                    warned = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod peer_address_tests {
    use super::peer_address;

    #[test]
    fn a_node_announces_a_dialable_peer_address() {
        let bound = "127.0.0.1:4500".parse().unwrap();
        assert_eq!(peer_address(bound, None).unwrap(), bound);
        let public = "10.0.0.2:4500".parse().unwrap();
        assert_eq!(peer_address("0.0.0.0:4500".parse().unwrap(), Some(public)).unwrap(), public);
        let error = peer_address("0.0.0.0:4500".parse().unwrap(), None).unwrap_err().to_string();
        assert!(error.contains("ARGUS_PEER_ADVERTISE"), "{error}");
        assert!(peer_address("[::]:4500".parse().unwrap(), None).is_err());
        assert!(peer_address(bound, Some("0.0.0.0:4500".parse().unwrap())).is_err());
        assert!(peer_address(bound, Some("10.0.0.2:0".parse().unwrap())).is_err());
    }
}
