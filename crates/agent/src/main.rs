//! The `argus-agent` binary.

#![forbid(unsafe_code)]

mod commands;
mod files;
mod link;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context as _};
use argus_fsm::handshake::{Hello, Intent};
use argus_fsm::signed::{format_key_file, parse_public_key_file, parse_signing_key_file};
use argus_fsm::Timestamp;
use clap::{Parser, Subcommand};
use ed25519_dalek::SigningKey;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::commands::Executor;
use crate::link::Daemon;
use crate::settings::{write_new, Settings, StateDir};

#[derive(Parser)]
#[command(name = "argus-agent", version, about = "ARGUS remote-support agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate this machine's passkey and enroll with a one-time token.
    Enroll {
        #[arg(long)]
        install_root: PathBuf,
        /// The ops QUIC listener, HOST:PORT.
        #[arg(long)]
        server: String,
        /// The ops CA certificate to pin.
        #[arg(long)]
        server_ca: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        agent_id: String,
        #[arg(long, hide_env_values = true)]
        token: String,
        /// The ARGUS patch public key this agent will trust, pinned now.
        #[arg(long)]
        patch_pubkey: PathBuf,
    },
    /// Hold the link to the ops server and answer commands.
    Run {
        #[arg(long)]
        install_root: PathBuf,
    },
    /// Kill switch: refuse all remote support until turned back on.
    RemoteSupportOff {
        #[arg(long)]
        install_root: PathBuf,
    },
    /// Kill switch: allow remote support again.
    RemoteSupportOn {
        #[arg(long)]
        install_root: PathBuf,
    },
    /// Enrollment, connection and kill-switch state.
    Status {
        #[arg(long)]
        install_root: PathBuf,
    },
}

/// Now, read by the driver and passed to the machines.
pub fn now() -> Timestamp {
    Timestamp((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// RFC 3339 UTC.
pub fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.0.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARGUS_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Enroll { install_root, server, server_ca, tenant, agent_id, token, patch_pubkey } => {
            runtime()?.block_on(enroll(
                &install_root,
                &server,
                &server_ca,
                &tenant,
                &agent_id,
                &token,
                &patch_pubkey,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { install_root } => {
            let state = StateDir::new(&install_root);
            let settings = state.load_settings()?;
            let passkey = parse_signing_key_file(&std::fs::read_to_string(state.passkey())?)
                .map_err(|e| anyhow::anyhow!("passkey: {e}"))?;
            let patch_key = parse_public_key_file(&std::fs::read_to_string(state.patch_pubkey())?)
                .map_err(|e| anyhow::anyhow!("patch key: {e}"))?;
            let ca = std::fs::read(state.server_ca())?;
            let replay = state.load_replay()?;
            let executor =
                Arc::new(Executor { settings, state, patch_key, replay: Mutex::new(replay), started: Instant::now() });
            let daemon = Arc::new(Daemon {
                executor,
                passkey,
                sessions: Mutex::new(Default::default()),
                endpoint: Mutex::new(None),
            });
            runtime()?.block_on(async {
                let result = tokio::select! {
                    result = daemon.clone().run(ca) => result,
                    _ = shutdown_signal() => Ok(()),
                };
                daemon.shutdown().await;
                result
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::RemoteSupportOff { install_root } => {
            let state = StateDir::new(&install_root);
            state.load_settings()?;
            state.set_remote_support(false)?;
            println!("remote support is OFF on this machine: live sessions end and every command is refused until `remote-support-on`");
            Ok(ExitCode::SUCCESS)
        }
        Command::RemoteSupportOn { install_root } => {
            let state = StateDir::new(&install_root);
            state.load_settings()?;
            state.set_remote_support(true)?;
            println!("remote support is ON on this machine");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { install_root } => {
            let state = StateDir::new(&install_root);
            match state.load_settings() {
                Err(_) => println!("enrolled: no"),
                Ok(settings) => {
                    println!("enrolled: yes");
                    println!("agent_id: {}", settings.agent_id);
                    println!("tenant: {}", settings.tenant);
                    println!("server: {}", settings.server);
                    let status = std::fs::read_to_string(state.status())
                        .unwrap_or_else(|_| "{\"connection\":\"not running\"}".into());
                    println!("connection: {}", status.trim());
                }
            }
            println!("remote support: {}", if state.remote_support_on() { "on" } else { "off (kill switch)" });
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn enroll(
    root: &Path,
    server: &str,
    server_ca: &Path,
    tenant: &str,
    agent_id: &str,
    token: &str,
    patch_pubkey: &Path,
) -> anyhow::Result<()> {
    let state = StateDir::new(root);
    if state.settings().exists() {
        bail!(
            "{} is already enrolled; a machine comes back under a new agent ID in a fresh install root",
            root.display()
        );
    }
    let ca = std::fs::read(server_ca).with_context(|| format!("reading {}", server_ca.display()))?;
    let patch_key_text =
        std::fs::read_to_string(patch_pubkey).with_context(|| format!("reading {}", patch_pubkey.display()))?;
    parse_public_key_file(&patch_key_text).map_err(|e| anyhow::anyhow!("{}: {e}", patch_pubkey.display()))?;
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("reading the OS random source")?;
    let passkey = SigningKey::from_bytes(&seed);

    let (addr, name) = link::resolve(server).await?;
    let endpoint = link::endpoint_for(addr, &ca)?;
    let intent = Intent::Enroll { token: token.to_string(), passkey: passkey.verifying_key().to_bytes() };
    let hello = Hello { agent_id: agent_id.to_string(), tenant: tenant.to_string(), intent };
    let outcome = link::connect(&endpoint, addr, &name, hello, &passkey).await?;
    let (connection, ..) = match outcome {
        Ok(accepted) => accepted,
        Err(code) => bail!("enrollment refused: {code}"),
    };
    connection.close(quinn::VarInt::from_u32(0), b"enrolled");
    endpoint.wait_idle().await;

    std::fs::create_dir_all(state.dir())?;
    write_new(&state.passkey(), format_key_file(&seed).as_bytes(), 0o600)?;
    std::fs::write(state.server_ca(), &ca)?;
    std::fs::write(state.patch_pubkey(), patch_key_text)?;
    let settings = Settings { agent_id: agent_id.into(), tenant: tenant.into(), server: server.into() };
    settings::write_atomic(&state.settings(), toml::to_string(&settings)?.as_bytes(), 0o644)?;
    println!("enrolled {agent_id} in {tenant}; start it with: argus-agent run --install-root {}", root.display());
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
