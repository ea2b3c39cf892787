//! Cluster membership (SPEC §10): this node's identity, its heartbeat in the store, and what
//! the store says about the other nodes and which node holds which agent. A node on sled is a
//! cluster of one: the store has no membership rows and the listing is this node alone.

use std::path::Path;

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

/// What a node says about itself each heartbeat.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    pub node_id: String,
    pub api: String,
    pub agent: String,
    pub peer: Option<String>,
}

/// What the store says about presence: agent → node holding it, for nodes alive now.
pub type Presence = std::collections::HashMap<String, String>;

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
}
