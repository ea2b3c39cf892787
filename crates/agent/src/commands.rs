//! The allowlisted commands, executed on the agent. The command set is fixed at build time
//! (`argus_fsm::command::Command`); nothing here can run a process or touch a path that is
//! not on the allowlist.

use std::sync::Mutex;
use std::time::Instant;

use argus_fsm::command::{Command, COMMAND_NAMES, MAX_READ_BYTES};
use argus_fsm::patch::{admit, FileFacts, PatchContext, ReplayMemory};
use argus_fsm::signed::sha256;
use argus_fsm::wire::Manifest;
use argus_fsm::{Code, Timestamp};
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};

use crate::files::{read_prefix, replace_atomically, tail_lines, FileError, Root};
use crate::settings::{Settings, StateDir};

/// The agent's version, reported in manifests.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A refusal with its SPEC code, relayed to the operator unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub message: String,
}

impl Refusal {
    pub fn new(code: Code, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into() }
    }
}

impl From<FileError> for Refusal {
    fn from(error: FileError) -> Refusal {
        match error {
            FileError::NotFound => Refusal::new(Code::FileNotFound, "the file does not exist"),
            // A symlink or special file in the allowlisted place is refused like a path off
            // the allowlist: it is not a file the operator may read.
            FileError::Refused => {
                Refusal::new(Code::PathNotAllowlisted, "the path is not a regular file inside the install root")
            }
            FileError::Io(_) => Refusal::new(Code::Internal, "the file could not be read"),
        }
    }
}

/// What commands need from the agent.
pub struct Executor {
    pub settings: Settings,
    pub state: StateDir,
    pub patch_key: VerifyingKey,
    pub replay: Mutex<ReplayMemory>,
    pub started: Instant,
}

impl Executor {
    /// Runs one admitted command (blocking I/O: call from a blocking task).
    pub fn run(&self, command: &Command, now: Timestamp) -> Result<Value, Refusal> {
        match command {
            Command::Ping => Ok(json!({ "pong": true, "agent_time": crate::rfc3339(now) })),
            Command::AgentInfo => Ok(self.agent_info()),
            Command::GetCapabilities | Command::RefreshCapabilities => Ok(self.manifest(now).to_json()),
            Command::TailLog { file, lines } => {
                let root = self.root()?;
                let handle = root.open_read(file.as_str())?;
                let lines = tail_lines(handle, *lines as usize)?;
                Ok(json!({ "file": file.as_str(), "lines": lines }))
            }
            Command::ReadFile { path } => {
                let root = self.root()?;
                let (content, size) = read_prefix(root.open_read(path.as_str())?, MAX_READ_BYTES)?;
                let truncated = size > content.len() as u64;
                let (content, encoding) = match String::from_utf8(content) {
                    Ok(text) => (text, "utf-8"),
                    Err(bytes) => (base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes()), "base64"),
                };
                Ok(
                    json!({ "path": path.as_str(), "content": content, "encoding": encoding, "size": size, "truncated": truncated }),
                )
            }
            Command::ApplyPatch { patch } => self.apply_patch(patch, now),
        }
    }

    fn root(&self) -> Result<Root, Refusal> {
        Root::open(&self.state.root).map_err(|_| Refusal::new(Code::Internal, "the install root cannot be opened"))
    }

    fn agent_info(&self) -> Value {
        let root = Root::open(&self.state.root).ok();
        let read = |name: &str| {
            root.as_ref()
                .and_then(|r| r.open_read(name).ok())
                .and_then(|f| read_prefix(f, 64 * 1024).ok())
                .map(|(c, _)| c)
        };
        let version = read("version.txt").map(|v| String::from_utf8_lossy(&v).trim().to_string());
        let cameras = read("agent_info.json")
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|info| info.get("cameras").cloned())
            .unwrap_or(Value::Null);
        json!({
            "agent_id": self.settings.agent_id,
            "tenant": self.settings.tenant,
            "version": version,
            "agent_version": AGENT_VERSION,
            "hostname": hostname(),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "uptime_seconds": self.started.elapsed().as_secs(),
            "cameras": cameras,
        })
    }

    /// The capability manifest as of now.
    pub fn manifest(&self, now: Timestamp) -> Manifest {
        let cameras = self.agent_info()["cameras"].to_string();
        Manifest {
            agent_version: AGENT_VERSION.into(),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            hostname: hostname(),
            commands: COMMAND_NAMES.iter().map(|c| c.to_string()).collect(),
            read_allowlist: [
                "argus.log",
                "argus.log.K (K = 1..99)",
                "config.yaml",
                "version.txt",
                "agent_info.json",
                "crashes/NAME.txt",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            patch_allowlist: vec!["config.yaml".into(), "hotfix/NAME.yaml".into()],
            remote_support_on: self.state.remote_support_on(),
            cameras_json: cameras,
            generated_at: now,
            approval_threshold: self.state.approval_threshold(),
        }
    }

    /// The one write path: every guard of the patch machine, then an atomic replace. The patch
    /// ID is made durable in replay memory *before* the file is replaced, so a crash can at
    /// worst consume an ID without applying it, never apply a patch that could be replayed.
    fn apply_patch(&self, envelope: &argus_fsm::signed::Envelope, now: Timestamp) -> Result<Value, Refusal> {
        let mut replay = self.replay.lock().expect("replay lock");
        let context =
            PatchContext { pinned_key: &self.patch_key, agent_id: &self.settings.agent_id, now, replay: &replay };
        let admitted = admit(envelope, &context).map_err(|r| Refusal::new(r.code(), r.to_string()))?;
        let root = self.root()?;
        let target = admitted.target().clone();
        let dir = if target.parent().is_empty() { root.open_dir("")? } else { root.ensure_dir(target.parent())? };
        let current = match root.open_read(target.as_str()) {
            Ok(file) => {
                let mode = file.metadata().map_err(|e| Refusal::from(FileError::Io(e)))?;
                let (content, size) = read_prefix(file, argus_fsm::signed::MAX_PATCH_CONTENT as u64 + 1)?;
                if size > content.len() as u64 {
                    return Err(Refusal::new(
                        Code::PatchBaseMismatch,
                        "the current target is larger than any patch base",
                    ));
                }
                use std::os::unix::fs::PermissionsExt as _;
                Some(FileFacts { mode: mode.permissions().mode() & 0o7777, sha256: sha256(&content) })
            }
            Err(FileError::NotFound) => None,
            Err(other) => return Err(other.into()),
        };
        let plan = admitted.plan(current).map_err(|r| Refusal::new(r.code(), r.to_string()))?;
        let mut remembered = replay.clone();
        remembered.insert(plan.patch_id());
        self.state
            .save_replay(&remembered)
            .map_err(|_| Refusal::new(Code::Internal, "replay memory could not be stored"))?;
        replace_atomically(&dir, target.file_name(), plan.content(), plan.mode())?;
        let applied = plan.applied(&mut replay);
        Ok(json!({ "applied": true, "patch_id": applied.patch_id, "sha256": applied.sha256, "target": applied.target }))
    }
}

/// The machine's host name.
pub fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}
