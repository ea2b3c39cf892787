//! Cluster membership (SPEC §10): this node's identity, its heartbeat in the store, and what
//! the store says about the other nodes and which node holds which agent. A node on sled is a
//! cluster of one: the store has no membership rows and the listing is this node alone.

use std::path::Path;

use argus_fsm::wire::NodeLoad;
use serde::Serialize;

use crate::store::StoreError;

/// The file in the data dir that keeps the node ID `init` generated.
pub const NODE_ID_FILE: &str = "node_id";

/// A node silent this long is dead: its agents count as offline until they connect elsewhere.
pub const DEAD_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a node writes its heartbeat (a few per [`DEAD_AFTER`], so one lost write does
/// not make a live node look dead).
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A node ID as given by `--node-id` / `ARGUS_NODE_ID`: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_node_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 64 || !id.chars().all(allowed) {
        return Err(format!("node ID {id:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"));
    }
    Ok(())
}

/// A fresh node ID.
pub fn generate_node_id() -> String {
    crate::secrets::identifier("node_")
}

/// This node's ID: the flag when given, else the one kept in the data dir, else a new one,
/// kept there (data dirs made before nodes had IDs).
pub fn resolve_node_id(flag: Option<&str>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(id) = flag {
        check_node_id(id).map_err(anyhow::Error::msg)?;
        return Ok(id.to_string());
    }
    let file = data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let id = text.trim().to_string();
            check_node_id(&id).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            Ok(id)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = generate_node_id();
            crate::bootstrap::tls::write_public(&file, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
        Err(error) => Err(anyhow::anyhow!("reading {}: {error}", file.display())),
    }
}

/// One node as the cluster listing shows it (`GET /support/cluster`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NodeInfo {
    pub node_id: String,
    /// The HTTPS API address.
    pub api: String,
    /// The agent (QUIC) address.
    pub agent: String,
    /// The peer listener, when the node has one.
    pub peer: Option<String>,
    /// Heard from within the last 10 s.
    pub alive: bool,
    /// Agents whose link this node holds.
    pub agents_online: u64,
    /// RFC 3339, the store's clock.
    pub last_heartbeat: String,
}

/// What a node says about itself each heartbeat: its ID and where it listens (also what
/// `run/addresses.json` says).
#[derive(Clone, Debug)]
pub struct Heartbeat {
    pub node_id: String,
    pub api: String,
    pub agent: String,
    pub peer: Option<String>,
    /// SHA-256 (hex) of the certificate this node presents on peer links: how the others know
    /// it is this node (SPEC §10 "Relayed work is checked where it runs").
    pub peer_cert: Option<String>,
}

/// What the store says about presence: agent → node holding it, for nodes alive now.
pub type Presence = std::collections::HashMap<String, String>;

/// Writes this node's heartbeat every [`HEARTBEAT_EVERY`] (shared stores only). A failed write
/// is logged; the node keeps serving what it can and the others see it dead after 10 s.
pub async fn heartbeat_driver(ops: std::sync::Arc<crate::state::Ops>, beat: Heartbeat) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, beat) = (ops.store.clone(), beat.clone());
        let unreleased = std::mem::take(&mut *ops.unreleased.lock().expect("unreleased lock"));
        let retry = ops.clone();
        let written = tokio::task::spawn_blocking(move || {
            for (agent, epoch) in unreleased {
                if store.release_presence(&agent, epoch).is_err() {
                    retry.unreleased.lock().expect("unreleased lock").push((agent, epoch));
                }
            }
            store.heartbeat(&beat)?;
            store.nodes()
        });
        match written.await {
            Ok(Ok(nodes)) => tell_agents_of_nodes(&ops, live_node_loads(nodes)),
            Ok(Err(error)) => tracing::warn!(%error, "heartbeat not written"),
            Err(error) => tracing::warn!(%error, "heartbeat task failed"),
        }
    }
}

/// The live nodes as agents see them, least loaded first.
pub fn live_node_loads(mut nodes: Vec<NodeInfo>) -> Vec<NodeLoad> {
    nodes.retain(|node| node.alive);
    nodes.sort_by(|a, b| a.agents_online.cmp(&b.agents_online).then_with(|| a.node_id.cmp(&b.node_id)));
    nodes.into_iter().map(|node| NodeLoad { agent_address: node.agent, agents_online: node.agents_online }).collect()
}

/// What this node last told its agents about the cluster, and when.
#[derive(Debug, Default)]
pub struct NodesTold {
    pub nodes: Vec<NodeLoad>,
    pub at: Option<std::time::Instant>,
}

/// Loads are told again at most this often (a storm moves them every second; each telling is
/// one message per agent).
pub const LOADS_RETOLD_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `now` is worth a message to every agent, given what they were told: the set of
/// nodes changed (always), or — unless they were told `recently` — some node's load moved by
/// more than a tenth (and by more than 100 agents) since: the loads steer where a dead node's
/// agents go.
pub fn worth_telling(told: &[NodeLoad], now: &[NodeLoad], recently: bool) -> bool {
    if !same_set(told, now) {
        return true;
    }
    !recently
        && now.iter().any(|node| {
            let before = told.iter().find(|t| t.agent_address == node.agent_address).map_or(0, |t| t.agents_online);
            node.agents_online.abs_diff(before) > (before / 10).max(100)
        })
}

/// Whether two lists name the same nodes (in any order).
fn same_set(a: &[NodeLoad], b: &[NodeLoad]) -> bool {
    let sorted = |nodes: &[NodeLoad]| {
        let mut all: Vec<String> = nodes.iter().map(|n| n.agent_address.clone()).collect();
        all.sort_unstable();
        all
    };
    sorted(a) == sorted(b)
}

/// Tells every agent this node holds where the other nodes are and what they hold, when the
/// set changed, or when the loads moved and the last telling is old enough.
fn tell_agents_of_nodes(ops: &crate::state::Ops, nodes: Vec<NodeLoad>) {
    let mut told = ops.live_nodes.lock().expect("live nodes lock");
    let recently = told.at.is_some_and(|at| at.elapsed() < LOADS_RETOLD_AFTER);
    if !worth_telling(&told.nodes, &nodes, recently) {
        return;
    }
    told.nodes = nodes.clone();
    told.at = Some(std::time::Instant::now());
    drop(told);
    let message = argus_fsm::wire::ServerMessage::Nodes { nodes };
    for link in ops.links.lock().expect("links lock").values() {
        link.tell(message.clone());
    }
}

/// Keeps this node's view current with what other nodes write: reads again the keys each
/// announcement names (or everything, after a lost listening connection), and acts on what
/// concerns the links it holds — a revoked agent is cut off, an ended session is told to its
/// agent.
pub async fn follow_changes(
    ops: std::sync::Arc<crate::state::Ops>,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<crate::store::Changes>,
) {
    while let Some(first) = changes.recv().await {
        // Everything queued meanwhile is handled as one batch.
        let mut merged = first;
        while let Ok(more) = changes.try_recv() {
            merged.merge(more);
        }
        let result = if merged.everything { reload_everything(&ops).await } else { apply(&ops, merged).await };
        if let Err(error) = result {
            // The store is away: reload everything once it answers again.
            tracing::warn!(%error, "could not read other nodes' changes; the view reloads when the store is back");
            ops.durability.stale();
        }
    }
}

/// Reads these tenants and agents from the store now (a node about to decide on a record
/// another node may have just written). A store that cannot answer leaves the view as it is.
pub async fn refresh(ops: &crate::state::Ops, tenants: Vec<String>, agents: Vec<String>) {
    let changes = crate::store::Changes { tenants, agents, ..Default::default() };
    if let Err(error) = apply(ops, changes).await {
        tracing::warn!(%error, "could not read records from the store; deciding from this node's view");
    }
}

async fn apply(ops: &crate::state::Ops, changes: crate::store::Changes) -> Result<(), StoreError> {
    // Read under the registry lock, so no write of this node interleaves between the read and
    // its use; and what this node wrote but has not flushed yet is newer than what the store
    // answers, so it is kept — except a revocation or an end, which are final wherever made.
    let mut registry = ops.registry.write().await;
    let reread = ops.store.reread(&changes)?;
    let mine = ops.store.unflushed();
    for tenant in reread.tenants {
        if !mine.tenants.contains(&tenant.id) {
            registry.tenants.insert(tenant.id.clone(), tenant);
        }
    }
    for pat in reread.pats {
        if pat.revoked_at.is_some() || !mine.pats.contains(&hex::encode(pat.hash)) {
            registry.pats.insert(pat.hash, pat);
        }
    }
    for agent in reread.agents {
        let revoked = agent.enrollment.is_revoked();
        if revoked {
            ops.disconnect(&agent.agent_id, "agent_revoked");
        }
        if revoked || !mine.agents.contains(&agent.agent_id) {
            registry.agents.insert(agent.agent_id.clone(), agent);
        }
    }
    for session in reread.sessions {
        let ended = matches!(session.state, argus_fsm::session::SessionState::Ended { .. });
        if let argus_fsm::session::SessionState::Ended { reason, .. } = session.state {
            let was_live = registry.sessions.get(&session.id).is_some_and(|s| s.next_deadline().is_some());
            if was_live {
                if let Some(link) = ops.links.lock().expect("links lock").get(&session.agent_id) {
                    drop(link.send_end(&session.id, reason));
                }
            }
        }
        if ended || !mine.sessions.contains(&session.id) {
            registry.remember_session(session);
        }
    }
    Ok(())
}

/// Replaces this node's view with the store's, then cuts off links of agents revoked meanwhile.
async fn reload_everything(ops: &crate::state::Ops) -> Result<(), StoreError> {
    // Nothing of this node's may be pending when its view is replaced by the store's: flush
    // first, with the registry held so nothing new is staged meanwhile.
    let mut registry = ops.registry.write().await;
    ops.durability.wait_all().await?;
    let snapshot = ops.store.load()?;
    *registry = crate::state::Registry::from_snapshot(snapshot, Some(ops.node_id.clone()));
    let held: Vec<String> = ops.links.lock().expect("links lock").keys().cloned().collect();
    for agent in held {
        let enrolled = registry.agents.get(&agent).is_some_and(|a| a.enrollment.passkey().is_some());
        if !enrolled {
            ops.disconnect(&agent, "agent_revoked");
        }
    }
    tracing::info!("reloaded this node's view from the shared store");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_short_and_plain() {
        for good in ["a", "node-1", "eu_west.2", &"x".repeat(64)] {
            assert!(check_node_id(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "ünï", "a/b", &"x".repeat(65), "semi;colon"] {
            assert!(check_node_id(bad).is_err(), "{bad}");
        }
        assert!(check_node_id(&generate_node_id()).is_ok());
    }

    #[test]
    fn the_node_id_is_kept_in_the_data_dir_and_the_flag_wins() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve_node_id(None, dir.path()).unwrap();
        assert_eq!(resolve_node_id(None, dir.path()).unwrap(), first, "kept");
        assert_eq!(resolve_node_id(Some("n2"), dir.path()).unwrap(), "n2");
        assert!(resolve_node_id(Some("bad id"), dir.path()).is_err());
        std::fs::write(dir.path().join(NODE_ID_FILE), "../etc\n").unwrap();
        assert!(resolve_node_id(None, dir.path()).is_err(), "a tampered file is refused");
    }

    fn load(address: &str, agents_online: u64) -> NodeLoad {
        NodeLoad { agent_address: address.into(), agents_online }
    }

    #[test]
    fn agents_hear_of_the_live_nodes_least_loaded_first_with_their_loads() {
        let node = |id: &str, alive: bool, agents_online: u64| NodeInfo {
            node_id: id.into(),
            api: String::new(),
            agent: format!("{id}:4433"),
            peer: None,
            alive,
            agents_online,
            last_heartbeat: String::new(),
        };
        let told =
            live_node_loads(vec![node("a", true, 30), node("b", false, 0), node("c", true, 10), node("d", true, 10)]);
        assert_eq!(told, vec![load("c:4433", 10), load("d:4433", 10), load("a:4433", 30)], "dead b left out");
    }

    #[test]
    fn a_new_set_is_always_told_and_loads_only_when_they_moved() {
        let told = vec![load("a:1", 1_000), load("b:1", 1_000)];
        let worth = |now: &[NodeLoad]| worth_telling(&told, now, false);
        assert!(!worth(&told), "nothing moved");
        assert!(!worth(&[load("b:1", 1_000), load("a:1", 1_050)]), "order and a small move");
        assert!(!worth(&[load("a:1", 1_100), load("b:1", 1_000)]), "a tenth is not enough");
        assert!(worth(&[load("a:1", 1_101), load("b:1", 1_000)]), "more than a tenth");
        assert!(worth(&[load("a:1", 1_000)]), "a node left");
        assert!(worth(&[load("a:1", 1_000), load("b:1", 1_000), load("c:1", 0)]), "a node came");
        // Told recently: moved loads wait for the next telling; a changed set does not.
        assert!(!worth_telling(&told, &[load("a:1", 5_000), load("b:1", 0)], true));
        assert!(worth_telling(&told, &[load("a:1", 1_000)], true));
        // Small clusters: a move of 100 agents or fewer is noise.
        let small = vec![load("a:1", 10)];
        assert!(!worth_telling(&small, &[load("a:1", 110)], false));
        assert!(worth_telling(&small, &[load("a:1", 111)], false));
        assert!(worth_telling(&[], &[load("a:1", 0)], true), "first telling");
    }
}
