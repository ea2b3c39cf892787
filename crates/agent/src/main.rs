//! The `argus-agent` binary: a thin CLI over the `argus_agent` library.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use argus_agent::settings::StateDir;
use argus_fsm::approval::ApproverPolicy;
use argus_fsm::signed::parse_public_key_file;
use clap::{Parser, Subcommand};

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
        /// The ops QUIC listener, HOST:PORT; in a cluster, repeat it or give a comma-separated
        /// list (the agent learns the live nodes from whichever it reaches).
        #[arg(long, required = true)]
        server: Vec<String>,
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
        /// Re-enroll an install root that is already enrolled (e.g. after its agent ID was
        /// revoked): the old passkey is discarded once the new enrollment succeeds. Stop the
        /// running agent first.
        #[arg(long)]
        replace: bool,
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
    /// The tenant's approvers (SPEC §13): with a policy set, a session runs here only with
    /// approvals signed by enough of these keys, whatever the server says.
    Approvers {
        #[command(subcommand)]
        action: ApproversAction,
    },
    /// Enrollment, connection and kill-switch state.
    Status {
        #[arg(long)]
        install_root: PathBuf,
        /// One JSON document instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ApproversAction {
    /// Require approvals from `--threshold` distinct keys among these for every session
    /// (replaces any policy; takes effect for sessions the agent sees after it).
    Set {
        #[arg(long)]
        install_root: PathBuf,
        /// An approver's public key file (64 hex characters); repeat for each approver.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        #[arg(long, default_value_t = 1)]
        threshold: usize,
    },
    /// The approver key IDs and the threshold.
    Show {
        #[arg(long)]
        install_root: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove the policy: sessions no longer need approvals here.
    Clear {
        #[arg(long)]
        install_root: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held until main returns: the log writer flushes what is queued when it is dropped.
    let _log = match argus_telemetry::init("info") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
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
        Command::Enroll { install_root, server, server_ca, tenant, agent_id, token, patch_pubkey, replace } => {
            runtime()?.block_on(argus_agent::enroll(argus_agent::EnrollRequest {
                root: &install_root,
                server: &server.join(","),
                server_ca: &server_ca,
                tenant: &tenant,
                agent_id: &agent_id,
                token: &token,
                patch_pubkey: &patch_pubkey,
                replace,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { install_root } => {
            runtime()?.block_on(argus_agent::run(&install_root, shutdown_signal()))?;
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
        Command::Approvers { action } => approvers(action),
        Command::Status { install_root, json } => {
            let state = StateDir::new(&install_root);
            let settings = state.load_settings().ok();
            let connection: serde_json::Value = std::fs::read(state.status())
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_else(|| serde_json::json!({ "connection": "not running" }));
            let remote_support_on = state.remote_support_on();
            if json {
                let status = serde_json::json!({
                    "enrolled": settings.is_some(),
                    "agent_id": settings.as_ref().map(|s| s.agent_id.clone()),
                    "tenant": settings.as_ref().map(|s| s.tenant.clone()),
                    "server": settings.as_ref().map(|s| s.server.clone()),
                    "connection": connection["connection"],
                    "since": connection["since"],
                    "refused": connection["refused"],
                    "remote_support_on": remote_support_on,
                });
                println!("{status}");
                return Ok(ExitCode::SUCCESS);
            }
            match &settings {
                None => println!("enrolled:        no"),
                Some(settings) => {
                    println!("enrolled:        yes, as {} in tenant {}", settings.agent_id, settings.tenant);
                    println!("server:          {}", settings.server);
                    let mut line = connection["connection"].as_str().unwrap_or("unknown").to_string();
                    if let Some(since) = connection["since"].as_str() {
                        line.push_str(&format!(" since {since}"));
                    }
                    if let Some(code) = connection["refused"].as_str() {
                        line.push_str(&format!(" (refused: {code})"));
                    }
                    println!("connection:      {line}");
                }
            }
            println!("remote support:  {}", if remote_support_on { "on" } else { "OFF (kill switch)" });
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn approvers(action: ApproversAction) -> anyhow::Result<ExitCode> {
    match action {
        ApproversAction::Set { install_root, keys, threshold } => {
            let state = StateDir::new(&install_root);
            state.load_settings()?;
            let keys = keys
                .iter()
                .map(|path| {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                    parse_public_key_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let policy = ApproverPolicy::new(keys, threshold)?;
            state.save_policy(&policy)?;
            println!(
                "sessions on this machine now need approvals from {} of {} approver keys ({})",
                policy.threshold(),
                policy.keys().len(),
                policy.key_ids().join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        ApproversAction::Show { install_root, json } => {
            let state = StateDir::new(&install_root);
            let policy = state.load_policy()?;
            if json {
                let shown = serde_json::json!({
                    "approval_required": policy.is_some(),
                    "approval_threshold": policy.as_ref().map_or(0, |p| p.threshold()),
                    "key_ids": policy.as_ref().map(|p| p.key_ids()).unwrap_or_default(),
                });
                println!("{shown}");
            } else {
                match policy {
                    None => println!("no approver policy: sessions need no approvals here"),
                    Some(policy) => {
                        println!("threshold: {} of {}", policy.threshold(), policy.keys().len());
                        for id in policy.key_ids() {
                            println!("key:       {id}");
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ApproversAction::Clear { install_root } => {
            let state = StateDir::new(&install_root);
            state.load_settings()?;
            if state.clear_policy()? {
                println!("approver policy removed: sessions no longer need approvals here");
            } else {
                println!("no approver policy was set");
            }
            Ok(ExitCode::SUCCESS)
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
