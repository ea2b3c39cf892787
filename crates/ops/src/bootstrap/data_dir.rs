//! The data dir: where `init` puts things, and this node's ID kept in it.

use std::path::{Path, PathBuf};

use crate::bootstrap::tls;
use crate::membership::{check_node_id, generate_node_id, NODE_ID_FILE};

/// Where `init` puts things inside the data dir.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn tls(&self, name: &str) -> PathBuf {
        self.0.join("tls").join(name)
    }
    pub fn db(&self) -> PathBuf {
        self.0.join("db")
    }
    pub fn store_file(&self) -> PathBuf {
        self.0.join(crate::store::STORE_FILE)
    }
    pub fn node_id(&self) -> PathBuf {
        self.0.join(crate::membership::NODE_ID_FILE)
    }
    pub fn addresses(&self) -> PathBuf {
        self.0.join("run").join("addresses.json")
    }
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
            tls::write_public(&file, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
        Err(error) => Err(anyhow::anyhow!("reading {}: {error}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
