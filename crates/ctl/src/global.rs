//! What every command shares: the global options and how a command fails before (or instead
//! of) a server answer. Below `main`, so the modules that need them do not import from it.

use std::path::PathBuf;

use clap::Args;

use crate::output;

/// Options every command takes.
#[derive(Args, Clone)]
pub struct Global {
    /// Ops API base URL (default https://127.0.0.1:8443).
    #[arg(long, global = true, env = "ARGUS_SERVER")]
    pub server: Option<String>,
    /// The ops CA certificate to pin (`tls/ca.pem` of the server's data dir).
    #[arg(long, global = true, env = "ARGUS_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Personal access token.
    #[arg(long, global = true, env = "ARGUS_PAT", hide_env_values = true)]
    pub pat: Option<String>,
    /// The shared second factor.
    #[arg(long, global = true, env = "ARGUS_OPS_TOKEN", hide_env_values = true)]
    pub ops_token: Option<String>,
    /// The profile to take unset settings from (default: the current one; see `login`).
    #[arg(long, global = true, env = "ARGUS_PROFILE")]
    pub profile: Option<String>,
    /// Machine-readable output: the server's JSON, unchanged (same as `-o json`).
    #[arg(long, global = true)]
    pub json: bool,
    /// Output format: table (default), wide, json or yaml.
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<output::Format>,
    /// Print the request a write would send (secrets redacted) and send nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
}

/// Where argusctl talks to when nothing says otherwise.
pub const DEFAULT_SERVER: &str = "https://127.0.0.1:8443";

impl Global {
    /// The output format: `--json` is `-o json`.
    pub fn format(&self) -> output::Format {
        if self.json {
            output::Format::Json
        } else {
            self.output.unwrap_or(output::Format::Table)
        }
    }

    /// The server to talk to: flag, environment, profile, else the default.
    pub fn server(&self) -> &str {
        self.server.as_deref().unwrap_or(DEFAULT_SERVER)
    }
}

/// Why a command failed before or instead of a server answer.
pub enum Failure {
    /// Exit 2: bad usage or a local refusal.
    Usage(String),
    /// Exit 3: the server could not be reached or verified.
    Unreachable(String),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Usage(format!("{error:#}"))
    }
}

/// The current time (the one clock read of the CLI; `when` is pure).
pub fn now() -> argus_fsm::Timestamp {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    argus_fsm::Timestamp(since_epoch.as_millis() as i64)
}
