//! The `argus-ops` binary.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use argus_ops::bootstrap::serve::{serve, DataDir, ServeOptions};
use argus_ops::config::GateConfig;
use argus_ops::store::audit::{verify, Verification};
use argus_ops::store::SledStore;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "argus-ops", version, about = "ARGUS remote-support ops server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data dir: CA and server certificate, store, bootstrap admin PAT (shown once).
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        /// Extra DNS name or IP for the server certificate (repeatable).
        #[arg(long = "server-name")]
        server_names: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run the HTTPS API and the QUIC agent listener.
    Serve {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8443")]
        api_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:4433")]
        agent_listen: SocketAddr,
        /// Pre-verify patches against this ARGUS patch public key before relaying them.
        #[arg(long)]
        patch_pubkey: Option<PathBuf>,
        /// Serve Prometheus metrics on plain HTTP at this address (`GET /metrics`); off by default.
        #[arg(long, env = "ARGUS_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
    },
    /// The one-command demo: a fresh server, tenant, two agents, and the seed flows.
    Quickstart {
        #[arg(long, default_value = "argus-quickstart")]
        dir: PathBuf,
    },
    /// Audit-trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the audit hash chain offline (server stopped).
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The quickstart prints its own story; keep the server's log to warnings unless asked.
    let default = if matches!(cli.command, Command::Quickstart { .. }) { "warn" } else { "info" };
    if let Err(error) = argus_telemetry::init(default) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { data_dir, server_names, json } => {
            let done = argus_ops::bootstrap::init::init(&data_dir, &server_names)?;
            if json {
                let out = serde_json::json!({
                    "data_dir": data_dir.display().to_string(),
                    "ca_cert": done.ca_cert.display().to_string(),
                    "admin_pat": done.admin_pat,
                });
                println!("{out}");
            } else {
                println!("initialised {}", data_dir.display());
                println!("CA certificate (pin this): {}", done.ca_cert.display());
                println!("bootstrap admin PAT (shown once, owner admin@local): {}", done.admin_pat);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { data_dir, api_listen, agent_listen, patch_pubkey, metrics_listen } => {
            let config = GateConfig::from_env()?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(
                ServeOptions {
                    data_dir,
                    api_listen,
                    agent_listen,
                    patch_pubkey,
                    config,
                    access_keys: None,
                    metrics_listen,
                },
                shutdown_signal(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Quickstart { dir } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(argus_ops::quickstart::quickstart(dir, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { data_dir } } => {
            let dir = DataDir(data_dir);
            let store = match SledStore::open(&dir.db()) {
                Ok(store) => store,
                // A serving node holds the store's lock (and has written its addresses).
                Err(_) if dir.addresses().exists() => anyhow::bail!(
                    "a server is running on {} and holds its store: stop it first to verify offline \
                     (`argusctl audit ls` shows the live trail)",
                    dir.0.display()
                ),
                Err(error) => return Err(error.into()),
            };
            match verify(&store)? {
                Verification::Intact { records } => {
                    println!("audit chain intact: {records} records");
                    Ok(ExitCode::SUCCESS)
                }
                Verification::Broken { seq, why } => {
                    println!("audit chain broken at seq {seq}: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
