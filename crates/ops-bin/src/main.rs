//! The `argus-ops` binary.

#![forbid(unsafe_code)]

mod quickstart;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use argus_ops::bootstrap::data_dir::DataDir;
use argus_ops::bootstrap::serve::{serve, ServeOptions};
use argus_ops::config::GateConfig;
use argus_ops::store::audit::{verify, Verification};
use argus_ops::store::StoreUrl;
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
        /// `sled` (default: inside the data dir) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]
        #[arg(long, env = "ARGUS_STORE", hide_env_values = true)]
        store: Option<String>,
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
        /// The store, when not the one `init` recorded in the data dir.
        #[arg(long, env = "ARGUS_STORE", hide_env_values = true)]
        store: Option<String>,
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
        /// This node's ID in a cluster (default: the one `init` generated and kept in the data dir).
        #[arg(long, env = "ARGUS_NODE_ID", value_parser = parse_node_id)]
        node_id: Option<String>,
        /// Where other nodes of a cluster reach this one (mutual TLS, cluster CA; PostgreSQL store only).
        #[arg(long, env = "ARGUS_PEER_LISTEN", default_value = argus_ops::bootstrap::serve::DEFAULT_PEER_LISTEN)]
        peer_listen: SocketAddr,
        /// The address other nodes dial for this one, when it is not the one listened on (a
        /// wildcard listen address, NAT, a proxy in front). Default: the bound peer address.
        #[arg(long, env = "ARGUS_PEER_ADVERTISE")]
        peer_advertise: Option<SocketAddr>,
    },
    /// The one-command demo: a fresh server, tenant, two agents, and the seed flows.
    Quickstart {
        #[arg(long, default_value = "argus-quickstart")]
        dir: PathBuf,
    },
    /// Copy a stopped node's embedded store into an empty PostgreSQL database (SPEC §10).
    MigrateStore {
        #[arg(long)]
        data_dir: PathBuf,
        /// The target: postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…] (or ARGUS_STORE).
        #[arg(long, env = "ARGUS_STORE", hide_env_values = true)]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Audit-trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Cluster tools.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Seal a cluster CA key kept in clear (a cluster founded before the cluster secret, SPEC
    /// §10) under a new cluster secret, printed once; joining needs it from then on.
    Seal {
        /// The cluster's database: postgres://… (or ARGUS_STORE).
        #[arg(long, env = "ARGUS_STORE", hide_env_values = true)]
        store: String,
        #[arg(long)]
        json: bool,
    },
    /// Rotate the cluster secret: open the CA key with the current one (ARGUS_CLUSTER_SECRET)
    /// and seal it under a new one, printed once. Nodes keep serving; joining needs the new one.
    Reseal {
        /// The cluster's database: postgres://… (or ARGUS_STORE).
        #[arg(long, env = "ARGUS_STORE", hide_env_values = true)]
        store: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the audit hash chain offline (server stopped); with `--store postgres://…`, the
    /// whole cluster's chain (nodes may keep serving).
    Verify {
        /// Required unless `--store` names a PostgreSQL database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The store, when not the one `init` recorded in the data dir.
        #[arg(long, env = "ARGUS_STORE", hide_env_values = true)]
        store: Option<String>,
        /// A head recorded earlier (`SEQ:HASH`, e.g. from a node's `DIR/audit-head`): exit 1
        /// when the chain ends before that record or differs at it.
        #[arg(long, value_name = "SEQ:HASH", value_parser = argus_ops::store::audit::parse_head)]
        expect_head: Option<(u64, String)>,
    },
}

fn parse_node_id(text: &str) -> Result<String, String> {
    argus_ops::membership::check_node_id(text).map(|()| text.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The quickstart prints its own story; keep the server's log to warnings unless asked.
    let default = if matches!(cli.command, Command::Quickstart { .. }) { "warn" } else { "info" };
    // Held until main returns: the log writer flushes what is queued when it is dropped.
    let _log = match argus_telemetry::init(default) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(error) if error.downcast_ref::<argus_ops::store::url::UrlError>().is_some() => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { data_dir, server_names, json, store } => {
            let store = StoreUrl::parse(store.as_deref().unwrap_or("sled"))?;
            // From the environment only: a secret never sits on a command line.
            let secret = std::env::var(argus_ops::bootstrap::seal::SECRET_VARIABLE).ok();
            let done = argus_ops::bootstrap::init::init(&data_dir, &server_names, &store, secret.as_deref())?;
            if json {
                let mut out = serde_json::json!({
                    "data_dir": data_dir.display().to_string(),
                    "ca_cert": done.ca_cert.display().to_string(),
                    "admin_pat": done.admin_pat,
                    "checkpoint_key": done.checkpoint_key,
                });
                if let Some(secret) = &done.cluster_secret {
                    out["cluster_secret"] = serde_json::Value::from(secret.as_str());
                }
                if done.admin_pat.is_none() {
                    out["joined"] = serde_json::Value::Bool(true);
                }
                println!("{out}");
            } else {
                match &done.admin_pat {
                    Some(pat) => {
                        println!("initialised {}", data_dir.display());
                        println!("CA certificate (pin this): {}", done.ca_cert.display());
                        println!("bootstrap admin PAT (shown once, owner admin@local): {pat}");
                        println!(
                            "audit checkpoint public key (verify-export --checkpoint-key): {}",
                            done.checkpoint_key
                        );
                        if let Some(secret) = &done.cluster_secret {
                            println!(
                                "cluster secret (shown once; every joining node needs it as {}): {secret}",
                                argus_ops::bootstrap::seal::SECRET_VARIABLE
                            );
                        }
                    }
                    None => {
                        println!("initialised {} and joined the cluster in {}", data_dir.display(), store.redacted());
                        println!("cluster CA certificate (the same on every node): {}", done.ca_cert.display());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            data_dir,
            store,
            api_listen,
            agent_listen,
            patch_pubkey,
            metrics_listen,
            node_id,
            peer_listen,
            peer_advertise,
        } => {
            let store = argus_ops::store::resolve(store.as_deref(), &data_dir)?;
            let config = GateConfig::from_env()?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            // Handlers first: a SIGTERM during start-up is a clean stop, not a kill.
            let shutdown = runtime.block_on(async { shutdown_signal() })?;
            runtime.block_on(serve(
                ServeOptions {
                    data_dir,
                    store,
                    api_listen,
                    agent_listen,
                    patch_pubkey,
                    config,
                    access_keys: None,
                    metrics_listen,
                    node_id,
                    peer_listen,
                    peer_advertise,
                },
                shutdown,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::MigrateStore { data_dir, to, json } => {
            let StoreUrl::Postgres(target) = StoreUrl::parse(&to)? else {
                anyhow::bail!("--to must be a postgres:// URL");
            };
            let done = argus_ops::bootstrap::migrate::migrate(&data_dir, &target)?;
            if json {
                println!("{}", serde_json::to_string(&done)?);
            } else {
                println!(
                    "copied {} tenants, {} agents, {} PATs, {} sessions, {} consumed patch IDs and {} audit records (chain verified) to {}",
                    done.tenants, done.agents, done.pats, done.sessions, done.consumed_patch_ids, done.audit_records, done.to
                );
                println!("{} now serves from it; the sled database is left in place, unused", done.data_dir);
                println!(
                    "cluster secret (shown once; the CA key is sealed under it and tls/ca.key removed; \
                     every joining node needs it as {}): {}",
                    argus_ops::bootstrap::seal::SECRET_VARIABLE,
                    done.cluster_secret
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster { command: ClusterCommand::Seal { store, json } } => {
            let StoreUrl::Postgres(target) = StoreUrl::parse(&store)? else {
                anyhow::bail!("--store must be a postgres:// URL: only a cluster's database holds a cluster CA");
            };
            let secret = argus_ops::bootstrap::migrate::seal_cluster_ca(&target)?;
            if json {
                println!("{}", serde_json::json!({ "cluster_secret": secret }));
            } else {
                println!(
                    "cluster CA key sealed; cluster secret (shown once; joining nodes need it as {}): {secret}",
                    argus_ops::bootstrap::seal::SECRET_VARIABLE
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster { command: ClusterCommand::Reseal { store, json } } => {
            let StoreUrl::Postgres(target) = StoreUrl::parse(&store)? else {
                anyhow::bail!("--store must be a postgres:// URL: only a cluster's database holds a cluster CA");
            };
            let variable = argus_ops::bootstrap::seal::SECRET_VARIABLE;
            let current = std::env::var(variable)
                .map_err(|_| anyhow::anyhow!("resealing needs the current secret in {variable}"))?;
            let secret = argus_ops::bootstrap::migrate::reseal_cluster_ca(&target, &current)?;
            if json {
                println!("{}", serde_json::json!({ "cluster_secret": secret }));
            } else {
                println!(
                    "cluster CA key resealed; the new cluster secret (shown once; the old one no longer opens it): {secret}"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Quickstart { dir } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let shutdown = runtime.block_on(async { shutdown_signal() })?;
            runtime.block_on(quickstart::quickstart(dir, shutdown))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { data_dir, store, expect_head } } => {
            let (url, data_dir) = match (store.as_deref().map(StoreUrl::parse).transpose()?, data_dir) {
                (Some(url @ StoreUrl::Postgres(_)), data_dir) => (url, data_dir.unwrap_or_default()),
                (_, Some(data_dir)) => (argus_ops::store::resolve(store.as_deref(), &data_dir)?, data_dir),
                (_, None) => {
                    use clap::CommandFactory as _;
                    Cli::command()
                        .error(
                            clap::error::ErrorKind::MissingRequiredArgument,
                            "--data-dir is required unless --store names a PostgreSQL database",
                        )
                        .exit()
                }
            };
            let dir = DataDir(data_dir);
            // A node that is serving holds sled's lock: do not wait long for it.
            let opened = match &url {
                StoreUrl::Sled if dir.addresses().exists() => {
                    argus_ops::store::SledStore::open_waiting(&dir.db(), std::time::Duration::from_millis(500))
                        .map(|store| std::sync::Arc::new(store) as std::sync::Arc<dyn argus_ops::store::Store>)
                }
                _ => argus_ops::store::open(&url, &dir.0),
            };
            let store = match opened {
                Ok(store) => store,
                // A serving node holds the sled store's lock (and has written its addresses).
                Err(_) if url == StoreUrl::Sled && dir.addresses().exists() => anyhow::bail!(
                    "a server is running on {} and holds its store: stop it first to verify offline \
                     (`argusctl audit ls` shows the live trail)",
                    dir.0.display()
                ),
                Err(error) => anyhow::bail!("opening the store {}: {error}", url.redacted()),
            };
            match verify(store.as_ref(), expect_head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())))? {
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

/// Installs the SIGTERM and SIGINT handlers now (inside the runtime) and returns the future
/// that resolves on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
    })
}
