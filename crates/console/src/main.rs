//! The `argus-console` binary.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use argus_console::{Console, ConsoleConfig};
use clap::Parser;

/// The ARGUS Operations Console: the web page and the named-action proxy to the ops API.
/// `ARGUS_OPS_TOKEN` and the browser-path variables (`REMOTE_SUPPORT_ALLOW_CF_ASSERTION`,
/// `CF_ACCESS_AUD`, `CF_ACCESS_TEAM_DOMAIN`, `REMOTE_SUPPORT_CF_ALLOWED_EMAILS`,
/// `REMOTE_SUPPORT_CF_ALLOWED_DOMAINS`) come from the environment.
#[derive(Parser)]
#[command(name = "argus-console", version)]
struct Cli {
    /// Address to serve the console on (put Cloudflare Access in front of it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The ops API.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    ops_url: String,
    /// The ops CA certificate (PEM) to pin.
    #[arg(long)]
    ops_ca: PathBuf,
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let access = argus_access::AccessConfig::from_lookup(|name| std::env::var(name).ok())?;
    let config = ConsoleConfig {
        ops_url: cli.ops_url,
        ops_ca_pem: std::fs::read(&cli.ops_ca).with_context(|| format!("reading {}", cli.ops_ca.display()))?,
        ops_token: std::env::var("ARGUS_OPS_TOKEN").ok(),
        access,
        trusted_proxies: argus_access::network::parse_cidrs(
            "CONSOLE_TRUSTED_PROXIES",
            std::env::var("CONSOLE_TRUSTED_PROXIES").ok(),
        )?,
    };
    let console = Arc::new(Console::new(config, None)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
        tracing::info!(
            listen = %listener.local_addr()?,
            browser_path = console.browser_path(),
            "argus-console listening"
        );
        argus_console::serve(listener, console, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
