//! The session context (SPEC §11): after `activate`, the session token is kept (mode 0600,
//! `$XDG_STATE_HOME/argus/sessions.json`) for that server, tenant and agent, so `support
//! command|status|deactivate` can omit `--session`; a kept token is dropped as soon as the
//! server says its session has ended.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One kept session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub server: String,
    pub tenant: String,
    pub agent: String,
    pub session_id: String,
    pub token: String,
    pub expires_at: String,
}

/// `$XDG_STATE_HOME/argus/sessions.json`, else `$HOME/.local/state/argus/sessions.json`.
pub fn state_path(lookup: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    crate::private_file::xdg_path(lookup, "XDG_STATE_HOME", ".local/state", "sessions.json")
}

/// The kept sessions; a missing or unreadable file keeps none.
pub fn load(path: &Path) -> Vec<Kept> {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// The newest kept session for this server and tenant.
pub fn find<'a>(kept: &'a [Kept], server: &str, tenant: &str) -> Option<&'a Kept> {
    kept.iter().rev().find(|k| k.server == server && k.tenant == tenant)
}

/// Keeps a new session (replacing any for the same server, tenant and agent).
pub fn remember(path: &Path, session: Kept) -> Result<(), String> {
    let mut kept = load(path);
    kept.retain(|k| !(k.server == session.server && k.tenant == session.tenant && k.agent == session.agent));
    kept.push(session);
    save(path, &kept)
}

/// Drops a kept token (its session has ended).
pub fn forget(path: &Path, token: &str) -> Result<(), String> {
    let mut kept = load(path);
    let before = kept.len();
    kept.retain(|k| k.token != token);
    if kept.len() == before {
        return Ok(());
    }
    save(path, &kept)
}

fn save(path: &Path, kept: &[Kept]) -> Result<(), String> {
    let bytes = serde_json::to_vec(kept).map_err(|e| e.to_string())?;
    crate::private_file::write(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(agent: &str, token: &str) -> Kept {
        Kept {
            server: "https://s".into(),
            tenant: "T1".into(),
            agent: agent.into(),
            session_id: format!("ses_{agent}"),
            token: token.into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn sessions_are_kept_0600_found_by_server_and_tenant_and_forgotten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(|name| (name == "XDG_STATE_HOME").then(|| dir.path().display().to_string())).unwrap();
        assert!(load(&path).is_empty());
        remember(&path, kept("a1", "rst_1")).unwrap();
        remember(&path, kept("a2", "rst_2")).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let all = load(&path);
        assert_eq!(find(&all, "https://s", "T1").unwrap().token, "rst_2", "the newest");
        assert!(find(&all, "https://other", "T1").is_none());
        remember(&path, kept("a2", "rst_3")).unwrap();
        assert_eq!(load(&path).len(), 2, "one per server, tenant and agent");
        forget(&path, "rst_3").unwrap();
        assert_eq!(find(&load(&path), "https://s", "T1").unwrap().token, "rst_1");
        assert_eq!(state_path(|_| None), None);
    }
}
