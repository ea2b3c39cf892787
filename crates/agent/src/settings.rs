//! The agent's persistent state under `INSTALL_ROOT/state/`: settings, passkey, pinned keys,
//! kill switch, replay memory and a status file for `argus-agent status`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use argus_fsm::agent_sessions::UsedRequest;
use argus_fsm::approval::ApproverPolicy;
use argus_fsm::patch::ReplayMemory;
use argus_fsm::signed::parse_public_key_file;
use argus_fsm::wire::NodeLoad;
use serde::{Deserialize, Serialize};

/// `state/agent.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub agent_id: String,
    pub tenant: String,
    /// `HOST:PORT` of the ops QUIC listener; in a cluster, several, comma-separated.
    pub server: String,
}

impl Settings {
    /// The configured servers, in order.
    pub fn servers(&self) -> Vec<String> {
        split_servers(&self.server)
    }
}

/// `HOST:PORT[,HOST:PORT…]` as a list (blank entries dropped).
pub fn split_servers(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// `state/approvers.toml`: the approver keys (hex of the 32-byte Ed25519 public keys, as in
/// a `.pub` file) and how many must approve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproversFile {
    pub threshold: usize,
    pub keys: Vec<String>,
}

impl ApproversFile {
    pub fn policy(&self) -> anyhow::Result<ApproverPolicy> {
        let keys = self
            .keys
            .iter()
            .map(|k| parse_public_key_file(k).map_err(|e| anyhow::anyhow!("approver key {k}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ApproverPolicy::new(keys, self.threshold)?)
    }
}

/// Paths inside the install root.
#[derive(Clone, Debug)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path) -> StateDir {
        StateDir { root: root.to_path_buf() }
    }
    pub fn dir(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn settings(&self) -> PathBuf {
        self.dir().join("agent.toml")
    }
    pub fn passkey(&self) -> PathBuf {
        self.dir().join("passkey.key")
    }
    pub fn server_ca(&self) -> PathBuf {
        self.dir().join("server-ca.pem")
    }
    pub fn patch_pubkey(&self) -> PathBuf {
        self.dir().join("patch.pub")
    }
    pub fn kill_switch(&self) -> PathBuf {
        self.dir().join("remote-support")
    }
    pub fn replay(&self) -> PathBuf {
        self.dir().join("applied-patches.json")
    }
    pub fn status(&self) -> PathBuf {
        self.dir().join("status.json")
    }
    /// The tenant's approver policy (SPEC §13), if set.
    pub fn approvers(&self) -> PathBuf {
        self.dir().join("approvers.toml")
    }
    /// The access requests that opened a session here, remembered until their window ends.
    pub fn approvals_used(&self) -> PathBuf {
        self.dir().join("approvals-used.json")
    }

    /// The approver policy: `None` when none is set; an error when the file is there but is not
    /// a valid policy (the agent then refuses to run rather than run without it).
    pub fn load_policy(&self) -> anyhow::Result<Option<ApproverPolicy>> {
        match std::fs::read_to_string(self.approvers()) {
            Ok(text) => {
                let file: ApproversFile =
                    toml::from_str(&text).with_context(|| format!("{} is malformed", self.approvers().display()))?;
                file.policy().map(Some).with_context(|| format!("{} is not a valid policy", self.approvers().display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.approvers().display())),
        }
    }

    /// Writes the approver policy (0600, atomically and durably).
    pub fn save_policy(&self, policy: &ApproverPolicy) -> anyhow::Result<()> {
        let file = ApproversFile {
            threshold: policy.threshold(),
            keys: policy.keys().iter().map(|k| hex::encode(k.as_bytes())).collect(),
        };
        write_atomic(&self.approvers(), toml::to_string(&file)?.as_bytes(), 0o600)
    }

    /// Removes the approver policy (durably).
    pub fn clear_policy(&self) -> anyhow::Result<bool> {
        match std::fs::remove_file(self.approvers()) {
            Ok(()) => {
                std::fs::File::open(self.dir())?.sync_all()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", self.approvers().display())),
        }
    }

    /// The manifest's `approval_threshold`: 0 without a policy. A policy file that cannot be
    /// read or is not valid counts as 1 — the agent runs nothing until it is fixed or cleared,
    /// so it must not tell the server approvals are not needed.
    pub fn approval_threshold(&self) -> u32 {
        threshold_reported(self.load_policy())
    }

    /// The access requests remembered as used; a missing file is none, a corrupt one refuses
    /// to start (forgetting would let a request open a second session).
    pub fn load_used(&self) -> anyhow::Result<Vec<UsedRequest>> {
        match std::fs::read(self.approvals_used()) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is corrupt", self.approvals_used().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.approvals_used().display())),
        }
    }

    /// Keeps the used access requests durably.
    pub fn save_used(&self, used: &[UsedRequest]) -> anyhow::Result<()> {
        write_atomic(&self.approvals_used(), &serde_json::to_vec(used)?, 0o600)
    }

    /// The agent addresses of the cluster's live nodes, as a node last told them.
    pub fn nodes(&self) -> PathBuf {
        self.dir().join("nodes.json")
    }

    /// The cluster's nodes as last told (empty when never told, or unreadable: the configured
    /// servers still work). A list of bare addresses (an older agent's) reads with no loads.
    pub fn load_nodes(&self) -> Vec<NodeLoad> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Kept {
            Loads(Vec<NodeLoad>),
            Addresses(Vec<String>),
        }
        let kept = std::fs::read(self.nodes()).ok().and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok());
        match kept {
            Some(Kept::Loads(nodes)) => nodes,
            Some(Kept::Addresses(addresses)) => {
                addresses.into_iter().map(|agent_address| NodeLoad { agent_address, agents_online: 0 }).collect()
            }
            None => Vec::new(),
        }
    }

    /// Keeps the cluster's nodes for the next reconnect (and the next start).
    pub fn save_nodes(&self, nodes: &[NodeLoad]) -> anyhow::Result<()> {
        write_atomic(&self.nodes(), &serde_json::to_vec(nodes)?, 0o644)
    }

    /// Reads the settings of an enrolled agent.
    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(self.settings()).with_context(|| {
            format!("{} is not an enrolled install root (no state/agent.toml)", self.root.display())
        })?;
        toml::from_str(&text).with_context(|| format!("{} is malformed", self.settings().display()))
    }

    /// Whether remote support is allowed (the kill switch is "on" unless the file says off).
    pub fn remote_support_on(&self) -> bool {
        std::fs::read_to_string(self.kill_switch()).map(|text| text.trim() != "off").unwrap_or(true)
    }

    /// Persists the kill switch (durably, before the command returns).
    pub fn set_remote_support(&self, on: bool) -> anyhow::Result<()> {
        write_atomic(&self.kill_switch(), if on { b"on\n" } else { b"off\n" }, 0o644)
    }

    /// The agent's durable replay memory; a missing file is an empty memory, a corrupt one
    /// refuses to start rather than forget applied patches.
    pub fn load_replay(&self) -> anyhow::Result<ReplayMemory> {
        match std::fs::read(self.replay()) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).with_context(|| format!("{} is corrupt", self.replay().display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReplayMemory::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.replay().display())),
        }
    }

    /// Persists replay memory durably.
    pub fn save_replay(&self, replay: &ReplayMemory) -> anyhow::Result<()> {
        write_atomic(&self.replay(), &serde_json::to_vec(replay)?, 0o600)
    }
}

/// Writes a file atomically and durably: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().context("path has a parent")?;
    let temp = dir.join(format!(".{}.tmp", path.file_name().context("file name")?.to_string_lossy()));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates a file that must not exist yet, with `mode`.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists; refusing to overwrite it", path.display());
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_a_comma_separated_list_and_the_node_list_survives_a_restart() {
        assert_eq!(split_servers(" a:1 ,b:2,, c:3 "), vec!["a:1", "b:2", "c:3"]);
        assert!(split_servers(" , ").is_empty());
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        std::fs::create_dir_all(state.dir()).unwrap();
        assert!(state.load_nodes().is_empty(), "never told");
        let told = vec![
            NodeLoad { agent_address: "n1:1".into(), agents_online: 7 },
            NodeLoad { agent_address: "n2:1".into(), agents_online: 9 },
        ];
        state.save_nodes(&told).unwrap();
        assert_eq!(state.load_nodes(), told);
        // What an agent before loads kept: addresses only.
        std::fs::write(state.nodes(), br#"["n1:1","n2:1"]"#).unwrap();
        assert_eq!(
            state.load_nodes().iter().map(|n| (n.agent_address.as_str(), n.agents_online)).collect::<Vec<_>>(),
            vec![("n1:1", 0), ("n2:1", 0)]
        );
        std::fs::write(state.nodes(), "not json").unwrap();
        assert!(state.load_nodes().is_empty(), "an unreadable list falls back to the configured servers");
    }

    #[test]
    fn kill_switch_defaults_on_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let state = StateDir::new(dir.path());
        assert!(state.remote_support_on());
        state.set_remote_support(false).unwrap();
        assert!(!StateDir::new(dir.path()).remote_support_on());
        state.set_remote_support(true).unwrap();
        assert!(state.remote_support_on());
    }

    #[test]
    fn replay_memory_survives_and_corruption_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let state = StateDir::new(dir.path());
        let mut replay = state.load_replay().unwrap();
        replay.insert("00000000-0000-4000-8000-000000000001");
        state.save_replay(&replay).unwrap();
        assert!(state.load_replay().unwrap().contains("00000000-0000-4000-8000-000000000001"));
        std::fs::write(state.replay(), b"{garbage").unwrap();
        assert!(state.load_replay().is_err());
    }
}

/// What the manifest reports for a policy as loaded (see [`StateDir::approval_threshold`]).
fn threshold_reported(policy: anyhow::Result<Option<ApproverPolicy>>) -> u32 {
    match policy {
        Ok(None) => 0,
        Ok(Some(policy)) => policy.threshold() as u32,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod threshold_tests {
    use super::*;

    #[test]
    fn a_broken_policy_is_reported_as_requiring_approvals_not_as_none() {
        assert_eq!(threshold_reported(Ok(None)), 0);
        assert_eq!(threshold_reported(Err(anyhow::anyhow!("approvers.toml is malformed"))), 1);
    }
}
