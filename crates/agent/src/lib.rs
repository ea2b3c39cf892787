//! The ARGUS remote-support agent as a library: enrollment, the daemon, commands and file
//! access. The `argus-agent` binary is a thin CLI over it; `argus-ops quickstart` runs demo
//! agents in-process with it.

#![forbid(unsafe_code)]

pub mod commands;
pub mod files;
pub mod link;
pub mod settings;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context as _};
use argus_fsm::handshake::{Hello, Intent};
use argus_fsm::signed::{format_key_file, parse_public_key_file, parse_signing_key_file};
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;
use time::OffsetDateTime;

use crate::commands::Executor;
use crate::link::Daemon;
use crate::settings::{write_new, Settings, StateDir};

/// Now, read by the driver and passed to the machines.
pub fn now() -> Timestamp {
    Timestamp((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// RFC 3339 UTC ([`Timestamp::to_rfc3339`]).
pub fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339()
}

/// Runs the daemon for an enrolled install root until `shutdown` resolves, then closes the
/// link politely so the server sees the agent go offline at once.
pub async fn run(install_root: &Path, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let state = StateDir::new(install_root);
    let settings = state.load_settings()?;
    let passkey = parse_signing_key_file(&std::fs::read_to_string(state.passkey())?)
        .map_err(|e| anyhow::anyhow!("passkey: {e}"))?;
    let patch_key = parse_public_key_file(&std::fs::read_to_string(state.patch_pubkey())?)
        .map_err(|e| anyhow::anyhow!("patch key: {e}"))?;
    let ca = std::fs::read(state.server_ca())?;
    let replay = state.load_replay()?;
    // The tenant's approver policy and the requests already used: unreadable, the agent does
    // not start (it would otherwise run without them).
    let policy_file = link::PolicyFile::loaded(&state.approvers());
    let policy = state.load_policy()?;
    let used = state.load_used()?;
    if let Some(policy) = &policy {
        tracing::info!(
            keys = policy.keys().len(),
            threshold = policy.threshold(),
            "sessions need the tenant's approvals"
        );
    }
    let sessions = Mutex::new(argus_fsm::agent_sessions::AgentSessions::with_approvals(
        settings.tenant.clone(),
        settings.agent_id.clone(),
        policy,
        used,
    ));
    let executor =
        Arc::new(Executor { settings, state, patch_key, replay: Mutex::new(replay), started: Instant::now() });
    let daemon =
        Arc::new(Daemon { executor, passkey, sessions, endpoint: Mutex::new(None), policy: Mutex::new(policy_file) });
    let result = tokio::select! {
        result = daemon.clone().run(ca) => result,
        _ = shutdown => Ok(()),
    };
    daemon.shutdown().await;
    result
}

/// What `argus-agent enroll` needs.
pub struct EnrollRequest<'a> {
    pub root: &'a Path,
    pub server: &'a str,
    pub server_ca: &'a Path,
    pub tenant: &'a str,
    pub agent_id: &'a str,
    pub token: &'a str,
    pub patch_pubkey: &'a Path,
    /// `--replace`: the install root already holds an enrollment (typically a revoked one);
    /// discard its passkey and enroll under the new agent ID. The old enrollment is left
    /// untouched unless the new one succeeds.
    pub replace: bool,
}

/// Generates the passkey in `INSTALL_ROOT/state/` (0600), enrolls over QUIC with the
/// one-time token, and stores the settings and pinned keys.
pub async fn enroll(request: EnrollRequest<'_>) -> anyhow::Result<()> {
    let EnrollRequest { root, server, server_ca, tenant, agent_id, token, patch_pubkey, replace } = request;
    let state = StateDir::new(root);
    let previous = state.load_settings().ok();
    if state.settings().exists() && !replace {
        bail!(
            "{} is already enrolled{}; to enroll this machine under a new agent ID (for example after a \
             revocation), pass --replace: its passkey is discarded once the new enrollment succeeds",
            root.display(),
            previous.as_ref().map(|p| format!(" as {} in {}", p.agent_id, p.tenant)).unwrap_or_default()
        );
    }
    let ca = std::fs::read(server_ca).with_context(|| format!("reading {}", server_ca.display()))?;
    let patch_key_text =
        std::fs::read_to_string(patch_pubkey).with_context(|| format!("reading {}", patch_pubkey.display()))?;
    parse_public_key_file(&patch_key_text).map_err(|e| anyhow::anyhow!("{}: {e}", patch_pubkey.display()))?;
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("reading the OS random source")?;
    let passkey = SigningKey::from_bytes(&seed);

    // Any node of a cluster enrolls: the first that answers does (a refusal is final).
    let servers = settings::split_servers(server);
    if servers.is_empty() {
        bail!("--server names no HOST:PORT");
    }
    let mut failures = Vec::new();
    let mut enrolled = false;
    for server in &servers {
        let attempt = async {
            let (addr, name) = link::resolve(server).await?;
            let endpoint = link::endpoint_for(addr, &ca)?;
            let intent = Intent::Enroll { token: token.to_string(), passkey: passkey.verifying_key().to_bytes() };
            let hello = Hello { agent_id: agent_id.to_string(), tenant: tenant.to_string(), intent };
            let outcome = link::connect(&endpoint, addr, &name, hello, &passkey).await?;
            anyhow::Ok((endpoint, outcome))
        };
        match attempt.await {
            Ok((endpoint, Ok((connection, ..)))) => {
                connection.close(quinn::VarInt::from_u32(0), b"enrolled");
                endpoint.wait_idle().await;
                enrolled = true;
                break;
            }
            Ok((_, Err(link::Turned::Refused(code)))) => bail!("enrollment refused: {code}"),
            // Enrollments are not deferred by admission control; should a server say so anyway,
            // the next server is tried.
            Ok((_, Err(link::Turned::Busy(wait)))) => {
                failures.push(format!("{server}: busy, try again in {} s", wait.as_secs().max(1)))
            }
            Err(error) => failures.push(format!("{server}: {error:#}")),
        }
    }
    if !enrolled {
        bail!("no server could be reached: {}", failures.join("; "));
    }

    std::fs::create_dir_all(state.dir())?;
    if replace {
        // The old passkey is overwritten in place (atomically, 0600 from the first byte); the
        // settings are written last, so a crash in between leaves a root that refuses to run
        // rather than one that mixes two identities.
        settings::write_atomic(&state.passkey(), format_key_file(&seed).as_bytes(), 0o600)?;
        settings::write_atomic(&state.server_ca(), &ca, 0o644)?;
        settings::write_atomic(&state.patch_pubkey(), patch_key_text.as_bytes(), 0o644)?;
        let _ = std::fs::remove_file(state.status());
    } else {
        write_new(&state.passkey(), format_key_file(&seed).as_bytes(), 0o600)?;
        std::fs::write(state.server_ca(), &ca)?;
        std::fs::write(state.patch_pubkey(), patch_key_text)?;
    }
    let settings = Settings { agent_id: agent_id.into(), tenant: tenant.into(), server: servers.join(",") };
    settings::write_atomic(&state.settings(), toml::to_string(&settings)?.as_bytes(), 0o644)?;
    if let Some(previous) = previous.filter(|_| replace) {
        tracing::info!(old = %previous.agent_id, new = %agent_id, "enrollment replaced; the old passkey is gone");
    }
    Ok(())
}
