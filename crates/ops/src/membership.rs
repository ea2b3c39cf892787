//! Cluster membership as data (SPEC §10): node IDs, what a node says of itself each heartbeat,
//! what the store says of the nodes and of presence, and what agents are told about the nodes.
//! Pure: the store reads and writes these, the cluster drivers (`crate::cluster`) move them.

use argus_fsm::wire::NodeLoad;
use serde::Serialize;

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
