//! The chain never goes backwards (SPEC §10): a node remembers the highest audit `seq` and
//! hash it has written or read, in its data dir (`audit-head`), and refuses a store whose head
//! is behind that or differs at it — someone deleted the newest records and moved the head
//! back, which would otherwise verify as an intact shorter chain and see its sequence numbers
//! reused.
//!
//! Once behind, a node stays refusing writes (503 `store_unavailable`; `/readyz` and the log
//! name `audit_head_behind`) until an operator has looked: a restart after restoring the
//! records, or after removing `audit-head` on purpose, clears it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// The file in the data dir.
pub const FILE: &str = "audit-head";

/// The reason `/readyz` and the log name.
pub const REASON: &str = "audit_head_behind";

/// A point of the chain: a record's `seq` and `hash`; where a group just landed, the heads of
/// the tenants its records belong to too (never kept in the file: the floor is the global
/// chain's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    #[serde(skip, default)]
    pub tenants: argus_fsm::audit::TenantHeads,
}

impl Head {
    /// The point at `seq` with `hash`, naming no tenant head.
    pub fn at(seq: u64, hash: impl Into<String>) -> Head {
        Head { seq, hash: hash.into(), tenants: Default::default() }
    }
}

/// How a store's chain stands against the head a node remembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// At or past the remembered head, and the same chain.
    Sound,
    /// Behind it, or another chain at its `seq`.
    Behind(String),
}

/// Compares a store whose newest record is `store_head` (none: empty) and whose record at the
/// remembered head's `seq` has `hash_at_floor` (none: it has no such record) with `floor`.
pub fn standing(floor: Option<&Head>, store_head: Option<&Head>, hash_at_floor: Option<&str>) -> Standing {
    let Some(floor) = floor else { return Standing::Sound };
    let store_seq = store_head.map_or(0, |head| head.seq);
    if store_seq < floor.seq {
        return Standing::Behind(format!(
            "the store's audit chain ends at seq {store_seq}, but this node has seen seq {}",
            floor.seq
        ));
    }
    match hash_at_floor {
        Some(hash) if hash == floor.hash => Standing::Sound,
        _ => Standing::Behind(format!("the store's audit record at seq {} is not the one this node saw", floor.seq)),
    }
}

/// A node's remembered head, kept in its data dir, and whether its store fell behind it.
#[derive(Debug, Default)]
pub struct ChainFloor {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    highest: Option<Head>,
    behind: Option<String>,
}

impl ChainFloor {
    /// The floor kept in `data_dir` (none yet: a new node, or one from before this rule).
    pub fn open(data_dir: &Path) -> anyhow::Result<ChainFloor> {
        let path = data_dir.join(FILE);
        let highest = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice::<Head>(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{} does not hold an audit head ({e}); restore it or remove it on purpose",
                    path.display()
                )
            })?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(anyhow::anyhow!("reading {}: {error}", path.display())),
        };
        Ok(ChainFloor { path: Some(path), state: Mutex::new(State { highest, behind: None }) })
    }

    /// A floor kept only in memory (tests, tools).
    pub fn in_memory() -> ChainFloor {
        ChainFloor::default()
    }

    /// The remembered head.
    pub fn highest(&self) -> Option<Head> {
        self.state.lock().expect("floor lock").highest.clone()
    }

    /// Why the store is refused, once it fell behind.
    pub fn behind(&self) -> Option<String> {
        self.state.lock().expect("floor lock").behind.clone()
    }

    /// Refuses the store from now on.
    pub fn fall_behind(&self, why: String) {
        tracing::error!(reason = REASON, "{why}: writes are refused until an operator has looked");
        self.state.lock().expect("floor lock").behind = Some(why);
    }

    /// An error for a write while behind.
    pub fn refusal(&self) -> Option<StoreError> {
        self.behind().map(StoreError::HeadBehind)
    }

    /// Checks the head a shared store shows now (before following it), falling behind if it is
    /// behind the floor. Heads past the floor are other nodes' newer records: sound.
    pub fn check_store_head(&self, store_head: &Head) -> Result<(), StoreError> {
        let Some(floor) = self.highest() else { return Ok(()) };
        // Past the floor: other nodes' newer records (the record at the floor is not read here).
        if store_head.seq > floor.seq {
            return Ok(());
        }
        match standing(Some(&floor), Some(store_head), Some(&store_head.hash)) {
            Standing::Sound => Ok(()),
            Standing::Behind(why) => {
                self.fall_behind(why.clone());
                Err(StoreError::HeadBehind(why))
            }
        }
    }

    /// The remembered head's record was rehashed by a migration that kept its hash from before
    /// (SPEC §14): the floor names it by its new hash, at the same `seq`.
    pub fn repoint(&self, head: Head) {
        let mut state = self.state.lock().expect("floor lock");
        if state.highest.as_ref().is_some_and(|highest| highest.seq == head.seq) {
            state.highest = None;
        }
        drop(state);
        self.observe(head);
    }

    /// A record at `head` was written (durably) or read: the floor rises to it. Kept in the
    /// data dir by write-and-rename (never half-written); a crash may lose the newest rise,
    /// which only makes the check a little less strict.
    pub fn observe(&self, head: Head) {
        let mut state = self.state.lock().expect("floor lock");
        if state.highest.as_ref().is_some_and(|highest| highest.seq >= head.seq) {
            return;
        }
        if let Some(path) = &self.path {
            let temporary = path.with_extension("tmp");
            let written = std::fs::write(&temporary, serde_json::to_vec(&head).expect("a head serializes"))
                .and_then(|()| std::fs::rename(&temporary, path));
            if let Err(error) = written {
                tracing::warn!(%error, "the audit head was not kept in the data dir");
            }
        }
        state.highest = Some(head);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64, hash: &str) -> Head {
        Head::at(seq, hash)
    }

    #[test]
    fn a_store_at_or_past_the_floor_on_the_same_chain_is_sound() {
        assert_eq!(standing(None, None, None), Standing::Sound, "nothing remembered");
        assert_eq!(standing(None, Some(&head(9, "x")), None), Standing::Sound);
        let floor = head(34, "h34");
        assert_eq!(standing(Some(&floor), Some(&head(34, "h34")), Some("h34")), Standing::Sound);
        assert_eq!(standing(Some(&floor), Some(&head(40, "h40")), Some("h34")), Standing::Sound);
    }

    #[test]
    fn a_store_behind_the_floor_or_on_another_chain_is_behind() {
        let floor = head(36, "h36");
        assert!(
            matches!(standing(Some(&floor), Some(&head(34, "h34")), None), Standing::Behind(why) if why.contains("34"))
        );
        assert!(matches!(standing(Some(&floor), None, None), Standing::Behind(_)), "emptied");
        // Cut back and rewritten to the same length: same seq, another record.
        assert!(matches!(standing(Some(&floor), Some(&head(36, "forged")), Some("forged")), Standing::Behind(_)));
        // Longer, but the record at the floor changed.
        assert!(matches!(standing(Some(&floor), Some(&head(50, "h50")), Some("other")), Standing::Behind(_)));
    }

    #[test]
    fn the_floor_only_rises_is_kept_and_refuses_once_behind() {
        let dir = tempfile::tempdir().unwrap();
        let floor = ChainFloor::open(dir.path()).unwrap();
        assert_eq!(floor.highest(), None);
        floor.observe(head(5, "h5"));
        floor.observe(head(3, "h3"));
        assert_eq!(floor.highest(), Some(head(5, "h5")), "never lowered");
        assert_eq!(ChainFloor::open(dir.path()).unwrap().highest(), Some(head(5, "h5")), "kept in the data dir");
        assert!(floor.check_store_head(&head(7, "h7")).is_ok(), "another node's newer records");
        assert!(floor.check_store_head(&head(5, "h5")).is_ok(), "at the floor, the same record");
        assert!(floor.refusal().is_none());
        let other = ChainFloor::in_memory();
        other.observe(head(5, "h5"));
        assert!(
            matches!(other.check_store_head(&head(5, "forged")), Err(StoreError::HeadBehind(_))),
            "another record there"
        );
        assert!(floor.refusal().is_none());
        assert!(matches!(floor.check_store_head(&head(4, "h4")), Err(StoreError::HeadBehind(_))));
        assert!(floor.behind().is_some() && floor.refusal().is_some(), "refusing from now on");
    }

    #[test]
    fn a_damaged_head_file_is_refused_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        let error = ChainFloor::open(dir.path()).unwrap_err().to_string();
        assert!(error.contains(FILE), "{error}");
    }
}
