//! `argusctl`: the operator and tenant-admin CLI for the ops API, and the offline signing
//! tools (keys, consent, patches). Exit codes: 0 success; 1 the server answered an error;
//! 2 usage error or refused locally; 3 could not reach or verify the server.

#![forbid(unsafe_code)]

mod client;
mod context;
mod export;
mod global;
mod offline;
mod output;
mod private_file;
mod profile;
mod syslog;
mod when;

use global::{Failure, Global};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::client::{Client, Outcome, Request};

#[derive(Parser)]
#[command(name = "argusctl", version, about = "ARGUS remote support: operator and tenant CLI")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Agents: list, fleet, capabilities, activation, revocation, enrollment tokens.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Remote-support sessions and commands.
    Support {
        #[command(subcommand)]
        command: SupportCommand,
    },
    /// Tenants: create, consent, arm, disarm, approval, show.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Personal access tokens.
    Pat {
        #[command(subcommand)]
        command: PatCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Access requests held by the tenant's approvers (SPEC §13).
    Access {
        #[command(subcommand)]
        command: AccessCommand,
    },
    /// The nodes of a cluster (SPEC §10).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// This client's version and the server's (from its `/healthz`).
    Version,
    /// Check --server, --ca-cert, --pat and --ops-token against the server and keep them as a
    /// profile (`--profile NAME`, default `default`) in $XDG_CONFIG_HOME/argus/config.toml.
    Login,
    /// Profiles: list them, or choose the current one.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Print a shell completion script (`source <(argusctl completion bash)`).
    Completion { shell: clap_complete::Shell },
    /// Write roff man pages for argusctl and every subcommand into DIR.
    Manpages {
        #[arg(long)]
        out: PathBuf,
    },
    /// Offline: make an Ed25519 key pair (PREFIX.key 0600, PREFIX.pub).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Offline: consent documents.
    Consent {
        #[command(subcommand)]
        command: ConsentCommand,
    },
    /// Offline: signed hotfix patches.
    Patch {
        #[command(subcommand)]
        command: PatchCommand,
    },
}

#[derive(Subcommand)]
enum AccessCommand {
    /// Ask the tenant's approvers for a session on an agent (expires after an hour).
    Request {
        agent: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        reason: String,
        /// Session length asked for, e.g. `45m` (default 30m, at most 120m).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// A tenant's access requests, newest first.
    Ls {
        #[arg(long)]
        tenant: String,
        /// Only pending ones.
        #[arg(long)]
        pending: bool,
    },
    /// One access request.
    Show { request: String },
    /// Approve a request: the approval is signed here with the approver's key (which never
    /// leaves this machine), then uploaded.
    Approve {
        request: String,
        /// The approver's private key (`argusctl keygen`), listed in the agents' approvers.
        #[arg(long)]
        key: PathBuf,
        /// Who approves, as the audit trail and the agent will name them.
        #[arg(long)]
        approver: String,
        /// Until when the session may start: RFC 3339, or `+DURATION` (default `+1h`).
        #[arg(long)]
        not_after: Option<String>,
    },
    /// Deny a pending request.
    Deny {
        request: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Every node: alive or not, the agents it holds, its addresses and last heartbeat.
    Ls,
}

#[derive(Args)]
struct ActivateArgs {
    agent: String,
    #[arg(long)]
    tenant: String,
    /// Why (not with --request: the request's reason is the session's).
    #[arg(long, required_unless_present = "request", conflicts_with = "request")]
    reason: Option<String>,
    /// Session length, e.g. `45m` (default 30m, at most 120m; with --request, the approved
    /// length, and no more).
    #[arg(long)]
    ttl: Option<String>,
    /// An approved access request (SPEC §13): its approvals travel with the grant, and the
    /// activation answers once the agent accepted them.
    #[arg(long, value_name = "REQUEST")]
    request: Option<String>,
}

#[derive(Args)]
struct DeactivateArgs {
    tenant: String,
    /// The session token (default: ARGUS_SESSION, else the one kept by `activate`).
    #[arg(long, env = "ARGUS_SESSION", hide_env_values = true)]
    session: Option<String>,
    #[arg(long, default_value = "done")]
    reason: String,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// List a tenant's agents.
    Ls {
        #[arg(long)]
        tenant: String,
    },
    /// Cross-tenant roll-up.
    Fleet,
    /// An agent's last capability manifest (no session needed).
    Capabilities { agent: String },
    /// Open a remote-support session (prints the session token once).
    Activate(ActivateArgs),
    /// End a session.
    Deactivate(DeactivateArgs),
    /// Permanently revoke an agent (destructive: needs --yes).
    Revoke {
        agent: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        yes: bool,
    },
    /// Issue a one-time enrollment token.
    EnrollToken {
        agent: String,
        #[arg(long)]
        tenant: String,
        /// Token lifetime, e.g. `15m` (default 15m).
        #[arg(long)]
        ttl: Option<String>,
    },
}

#[derive(Subcommand)]
enum SupportCommand {
    /// Open a remote-support session (same as `agent activate`).
    Activate(ActivateArgs),
    /// Run an allowlisted command in a session.
    Command {
        tenant: String,
        /// The session token (default: ARGUS_SESSION, else the one kept by `activate`).
        #[arg(long, env = "ARGUS_SESSION", hide_env_values = true)]
        session: Option<String>,
        #[arg(long)]
        command: String,
        /// Arguments as a JSON object.
        #[arg(long)]
        args: Option<String>,
        /// A signed patch file for `apply_patch`.
        #[arg(long)]
        patch: Option<PathBuf>,
    },
    /// A session's state.
    Status {
        tenant: String,
        /// The session token (default: ARGUS_SESSION, else the one kept by `activate`).
        #[arg(long, env = "ARGUS_SESSION", hide_env_values = true)]
        session: Option<String>,
    },
    /// End a session.
    Deactivate(DeactivateArgs),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with its consent public key (admin).
    Create {
        tenant: String,
        #[arg(long)]
        consent_key: PathBuf,
    },
    /// Record signed consent, or withdraw it.
    Consent {
        tenant: String,
        #[arg(long, required_unless_present = "withdraw", conflicts_with = "withdraw")]
        file: Option<PathBuf>,
        #[arg(long, requires = "reason")]
        withdraw: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Arm the tenant for remote support.
    Arm {
        tenant: String,
        #[arg(long)]
        reason: String,
    },
    /// Disarm the tenant (ends its live sessions).
    Disarm {
        tenant: String,
        #[arg(long)]
        reason: String,
    },
    /// Require (or stop requiring) an approved access request for every activation on the
    /// tenant's machines (tenant admin or admin; SPEC §13). The agents' own approver policies
    /// are the guarantee; this makes the server refuse early.
    Approval {
        tenant: String,
        #[arg(long, required_unless_present = "off", conflicts_with = "off")]
        required: bool,
        #[arg(long)]
        off: bool,
    },
    /// Consent and arming state.
    Show { tenant: String },
}

#[derive(Subcommand)]
enum PatCommand {
    /// Create a PAT (admin); it is printed once.
    Create {
        #[arg(long)]
        owner: String,
        /// Comma-separated: admin, remote_support, tenant_admin.
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime, e.g. `90d` or `12h` (default: no expiry; revoke it with `pat revoke`).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List PATs (admin): IDs, owners, scopes, expiry, last use; never a secret.
    Ls,
    /// Revoke a PAT by its ID (admin): it answers invalid_pat from the next request on.
    Revoke {
        id: String,
        /// Confirm: revocation is permanent.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// List profiles (never their secrets).
    Ls,
    /// Make NAME the current profile.
    Use { name: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// List audit events, oldest first.
    Ls {
        #[arg(long)]
        tenant: Option<String>,
        /// RFC 3339 time, or a duration back from now (`1h`, `30m`).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        /// Keep printing new events as they are recorded (one per line; Ctrl-C stops).
        #[arg(long)]
        follow: bool,
    },
    /// Export the audit trail to stdout, one record per line, as JSON lines or OCSF events
    /// (SPEC §14); with --checkpoint, resume after the last record delivered.
    Export {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: export::ExportFormat,
        /// Keep exporting new records as they are written (long polls; Ctrl-C stops).
        #[arg(long)]
        follow: bool,
        /// Where the last delivered record is kept: read to resume, written after each page is
        /// delivered (at-least-once, never a gap).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Send to a syslog receiver instead of stdout: `tcp+tls://HOST:PORT` (RFC 5425, the
        /// receiver's certificate checked against --syslog-ca) or `udp://HOST:PORT` (RFC 5426).
        #[arg(long, value_name = "URL")]
        syslog: Option<String>,
        /// The CA that signed the syslog receiver's certificate (PEM).
        #[arg(long, value_name = "FILE", requires = "syslog")]
        syslog_ca: Option<PathBuf>,
    },
    /// Offline: check that an export (either format) chains without a gap, each record's hash
    /// covering its content, and with --checkpoint-key that a signed checkpoint in it (or the one
    /// given with --checkpoint) covers its last record; exit 1 naming the first bad seq.
    VerifyExport {
        file: PathBuf,
        /// The checkpoint public key (`GET /audit/checkpoint-key`'s `public_key`, or init's
        /// `checkpoint_key`, hex in a file).
        #[arg(long, value_name = "FILE.pub")]
        checkpoint_key: Option<PathBuf>,
        /// A later `audit_checkpoint` record (JSON) that covers the export's end.
        #[arg(long, value_name = "RECORD.json", requires = "checkpoint_key")]
        checkpoint: Option<PathBuf>,
        /// Check the tenant's own chain (by `tenant_seq`): a tenant's export.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConsentCommand {
    /// Sign a consent document with the tenant's consent key.
    Sign {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        signer: String,
        /// RFC 3339 expiry (default: none).
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum PatchCommand {
    /// Sign a hotfix patch with the offline ARGUS patch key.
    Sign(offline::PatchSignArgs),
    /// Verify a signed patch and print its body.
    Verify {
        #[arg(long)]
        pubkey: PathBuf,
        patch: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let mut global = cli.global.clone();
    global.json = global.format() == output::Format::Json;
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(message)) => {
            eprintln!("error: {message}");
            if global.json {
                println!("{}", json!({ "error": "unreachable", "message": message }));
            }
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let config = profile::config_path(|name| std::env::var(name).ok());
    let file = match &config {
        Some(path) => profile::load(path).map_err(Failure::Usage)?,
        None => profile::ConfigFile::default(),
    };
    // Login checks exactly what it was given; everything else fills gaps from the profile.
    let mut global = cli.global.clone();
    global.json = global.format() == output::Format::Json;
    if !matches!(cli.command, Command::Login | Command::Profile { .. }) {
        profile::apply(&mut global, &file).map_err(Failure::Usage)?;
    }
    let g = &global;
    // Offline writers honour --dry-run too: they show what they would write and write nothing.
    let writes = offline::Writes { dry_run: g.dry_run, json: g.json };
    let request = match cli.command {
        Command::Version => return version(g),
        Command::Login => return login(g, config.as_deref(), file),
        Command::Profile { command } => return profiles(g, config.as_deref(), file, command),
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "argusctl", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Manpages { out } => return manpages(&out),
        Command::Keygen { out } => {
            return offline::keygen(&out, writes).map(|()| ExitCode::SUCCESS).map_err(Into::into)
        }
        Command::Consent { command: ConsentCommand::Sign { key, tenant, signer, expires, out } } => {
            return offline::consent_sign(&key, &tenant, &signer, expires.as_deref(), &out, writes)
                .map(|()| ExitCode::SUCCESS)
                .map_err(Into::into)
        }
        Command::Patch { command: PatchCommand::Sign(args) } => {
            return offline::patch_sign(&args, writes).map(|()| ExitCode::SUCCESS).map_err(Into::into)
        }
        Command::Patch { command: PatchCommand::Verify { pubkey, patch } } => {
            return offline::patch_verify(&pubkey, &patch, g.json)
        }
        Command::Agent { command } => agent_request(command, g.dry_run)?,
        Command::Support { command } => support_request(command)?,
        Command::Tenant { command } => tenant_request(command)?,
        Command::Pat { command } => pat_request(command, g.dry_run)?,
        Command::Cluster { command: ClusterCommand::Ls } => Request::get("/support/cluster", output::Shape::Nodes),
        Command::Access { command } => match access_request(command)? {
            Access::Send(request) => request,
            Access::Approve { request, key, approver, not_after } => {
                return approve_request(g, &request, &key, &approver, not_after.as_deref())
            }
        },
        Command::Audit { command: AuditCommand::VerifyExport { file, checkpoint_key, checkpoint, tenant } } => {
            let proof = export::Proof { checkpoint_key: checkpoint_key.as_deref(), checkpoint: checkpoint.as_deref() };
            return export::verify_export(&file, proof, tenant.as_deref(), g.json);
        }
        Command::Audit { command: AuditCommand::Export { tenant, format, follow, checkpoint, syslog, syslog_ca } } => {
            let sink = match &syslog {
                Some(url) => Some(syslog::open(url, syslog_ca.as_deref()).map_err(Failure::Usage)?),
                None => None,
            };
            let args = export::ExportArgs { sink, tenant, format, follow, checkpoint: checkpoint.as_deref() };
            return export::export(g, args);
        }
        Command::Audit { command: AuditCommand::Ls { tenant, since, limit, follow } } => {
            let mut query = Vec::new();
            if let Some(t) = tenant {
                query.push(("tenant", t));
            }
            if let Some(s) = since {
                let at = when::since(&s, global::now()).map_err(Failure::Usage)?;
                query.push(("since", at.to_rfc3339()));
            }
            if let Some(l) = limit {
                query.push(("limit", l.to_string()));
            }
            let request = Request::get("/support/audit", output::Shape::Audit).query(query);
            if follow {
                return follow_audit(g, request);
            }
            request
        }
    };
    execute(g, request)
}

/// How often `audit ls --follow` asks for new events.
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// `audit ls --follow`: prints what there is, then every new event once, one per line, until
/// interrupted (or the server answers an error).
fn follow_audit(g: &Global, first: Request) -> Result<ExitCode, Failure> {
    let client = Client::new(g)?;
    let tenant = first.query.iter().find(|(k, _)| *k == "tenant").map(|(_, v)| v.clone());
    let mut request = first;
    let mut last_seq = 0u64;
    loop {
        match client.send(&request)? {
            Outcome::Success(body) => {
                let events = body["events"].as_array().cloned().unwrap_or_default();
                for event in events {
                    let seq = event["seq"].as_u64().unwrap_or(0);
                    if seq <= last_seq {
                        continue;
                    }
                    last_seq = seq;
                    match g.format() {
                        output::Format::Table | output::Format::Wide => {
                            print!("{}", output::audit_line(&event))
                        }
                        format => print!("{}", output::document(format, &event)),
                    }
                    // Ask again from this event's time on (the same instant may hold more).
                    let mut query = vec![("since", event["at"].as_str().unwrap_or_default().to_string())];
                    query.extend(tenant.clone().map(|t| ("tenant", t)));
                    query.push(("limit", "10000".into()));
                    request = Request::get("/support/audit", output::Shape::Audit).query(query);
                }
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
            }
            Outcome::ServerError { code, message, .. } => {
                eprintln!(
                    "error: {}: {}",
                    output::escape_controls(&code, false),
                    output::escape_controls(&message, false)
                );
                return Ok(ExitCode::from(1));
            }
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}

fn execute(g: &Global, mut request: Request) -> Result<ExitCode, Failure> {
    let kept = context::state_path(|name| std::env::var(name).ok());
    // A session-bound request without a token uses the one `activate` kept for this server
    // and tenant.
    if let (Some(tenant), None) = (&request.session_tenant, &request.session) {
        let found = kept
            .as_deref()
            .map(context::load)
            .and_then(|all| context::find(&all, g.server(), tenant).map(|k| k.token.clone()));
        match found {
            Some(token) => request.session = Some(token),
            None => {
                return Err(Failure::Usage(format!(
                    "no session for {tenant} on {}: pass --session, set ARGUS_SESSION, or activate one",
                    g.server()
                )))
            }
        }
    }
    if g.dry_run && request.is_write() {
        print!("{}", request.preview(g));
        return Ok(ExitCode::SUCCESS);
    }
    let client = Client::new(g)?;
    let outcome = client.send(&request)?;
    if let Some(path) = &kept {
        keep_session_context(path, g, &request, &outcome);
    }
    match outcome {
        Outcome::Success(body) => {
            match g.format() {
                output::Format::Table => print!("{}", output::human(request.shape, &body)),
                output::Format::Wide => print!("{}", output::wide(request.shape, &body)),
                format => print!("{}", output::document(format, &body)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::ServerError { body, code, message } => Ok(server_error(g, &body, &code, &message)),
    }
}

/// Prints the server's refusal (the body too with `--json`/`--yaml`): exit 1.
fn server_error(g: &Global, body: &serde_json::Value, code: &str, message: &str) -> ExitCode {
    if matches!(g.format(), output::Format::Json | output::Format::Yaml) {
        print!("{}", output::document(g.format(), body));
    }
    eprintln!("error: {}: {}", output::escape_controls(code, false), output::escape_controls(message, false));
    if code == "invalid_pat" {
        let given = if g.pat.is_some() { "the PAT given" } else { "no PAT was given" };
        eprintln!(
            "hint: {given}; set ARGUS_PAT (or pass --pat) to a valid personal access token \
             (an admin makes one with `argusctl pat create`)"
        );
    }
    ExitCode::from(1)
}

/// Keeps the token an activation returned, and drops a kept token once the server says its
/// session has ended. Failing to keep it is only worth a warning: the token was printed.
fn keep_session_context(path: &std::path::Path, g: &Global, request: &Request, outcome: &Outcome) {
    let result = match (outcome, &request.session) {
        (Outcome::Success(body), _) if matches!(request.shape, output::Shape::Activated) => {
            let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
            context::remember(
                path,
                context::Kept {
                    server: g.server().to_string(),
                    tenant: text("tenant"),
                    agent: text("agent_id"),
                    session_id: text("session_id"),
                    token: text("session_token"),
                    expires_at: text("expires_at"),
                },
            )
        }
        (Outcome::Success(body), Some(token)) if body["state"] == "ended" => context::forget(path, token),
        (Outcome::ServerError { code, .. }, Some(token))
            if code == "session_expired" || code == "session_not_found" =>
        {
            context::forget(path, token)
        }
        _ => Ok(()),
    };
    if let Err(error) = result {
        eprintln!("warning: session context not kept: {error}");
    }
}

/// `argusctl login`: the credentials must pass the gate (a PAT without the scope of the probe
/// route still counts as valid), then they are kept as a profile and made current.
fn login(g: &Global, config: Option<&std::path::Path>, mut file: profile::ConfigFile) -> Result<ExitCode, Failure> {
    let config = config.ok_or_else(|| Failure::Usage("set XDG_CONFIG_HOME or HOME to keep a profile".into()))?;
    let (Some(ca_cert), Some(pat), Some(ops_token)) = (&g.ca_cert, &g.pat, &g.ops_token) else {
        return Err(Failure::Usage("login needs --ca-cert, --pat and --ops-token (and --server)".into()));
    };
    let client = Client::new(g)?;
    match client.send(&Request::get("/support/fleet", output::Shape::Object))? {
        Outcome::Success(_) => {}
        Outcome::ServerError { code, .. } if code == "missing_role" || code == "remote_support_disabled" => {}
        Outcome::ServerError { code, message, .. } => {
            eprintln!("error: {}: {}", output::escape_controls(&code, false), output::escape_controls(&message, false));
            eprintln!("nothing saved: the server refused these credentials");
            return Ok(ExitCode::from(1));
        }
    }
    let name = g.profile.clone().unwrap_or_else(|| profile::DEFAULT_PROFILE.to_string());
    let ca_cert = std::fs::canonicalize(ca_cert).unwrap_or_else(|_| ca_cert.clone());
    let entry =
        profile::Profile { server: g.server().to_string(), ca_cert, pat: pat.clone(), ops_token: ops_token.clone() };
    file.profiles.insert(name.clone(), entry);
    file.current = Some(name.clone());
    profile::save(config, &file).map_err(Failure::Usage)?;
    if g.json {
        println!("{}", json!({ "profile": name, "server": g.server(), "config": config.display().to_string() }));
    } else {
        println!("logged in to {} as profile {name} (saved in {}, mode 0600)", g.server(), config.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `argusctl profile ls|use`.
fn profiles(
    g: &Global,
    config: Option<&std::path::Path>,
    mut file: profile::ConfigFile,
    command: ProfileCommand,
) -> Result<ExitCode, Failure> {
    match command {
        ProfileCommand::Ls => {
            let rows: Vec<Value> = file
                .profiles
                .iter()
                .map(|(name, p)| {
                    json!({
                        "profile": name,
                        "server": p.server,
                        "ca_cert": p.ca_cert.display().to_string(),
                        "current": file.current.as_deref() == Some(name),
                    })
                })
                .collect();
            if g.json {
                println!("{}", json!({ "profiles": rows }));
            } else {
                for row in &rows {
                    let mark = if row["current"] == true { "*" } else { " " };
                    println!(
                        "{mark} {:<16} {}",
                        row["profile"].as_str().unwrap_or(""),
                        row["server"].as_str().unwrap_or("")
                    );
                }
            }
        }
        ProfileCommand::Use { name } => {
            if !file.profiles.contains_key(&name) {
                return Err(Failure::Usage(format!("no profile named {name:?} (see `argusctl profile ls`)")));
            }
            let config = config.ok_or_else(|| Failure::Usage("set XDG_CONFIG_HOME or HOME".into()))?;
            file.current = Some(name.clone());
            profile::save(config, &file).map_err(Failure::Usage)?;
            println!("current profile: {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `argusctl manpages --out DIR`: one page for argusctl and one per subcommand, named the
/// way `man` finds them (`argusctl-agent-activate.1`).
fn manpages(out: &std::path::Path) -> Result<ExitCode, Failure> {
    use clap::CommandFactory as _;
    std::fs::create_dir_all(out).map_err(|e| Failure::Usage(format!("creating {}: {e}", out.display())))?;
    let mut written = 0;
    // (page name, how it is invoked, the command)
    let mut pending = vec![(String::from("argusctl"), String::from("argusctl"), Cli::command())];
    while let Some((name, invoked, command)) = pending.pop() {
        for sub in command.get_subcommands() {
            let (page, call) = (format!("{name}-{}", sub.get_name()), format!("{invoked} {}", sub.get_name()));
            pending.push((page.clone(), call.clone(), sub.clone().display_name(page).bin_name(call)));
        }
        let path = out.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .map_err(|e| Failure::Usage(format!("rendering {name}: {e}")))?;
        std::fs::write(&path, page).map_err(|e| Failure::Usage(format!("writing {}: {e}", path.display())))?;
        written += 1;
    }
    println!("wrote {written} man pages to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `argusctl version`: the client's version, then the server's (exit 3 if it cannot be asked).
fn version(g: &Global) -> Result<ExitCode, Failure> {
    let client = env!("CARGO_PKG_VERSION");
    let server = Client::new(g).and_then(|c| c.send(&Request::get("/healthz", output::Shape::Object)));
    let server = match server {
        Ok(Outcome::Success(body)) => body["version"].as_str().map(str::to_string),
        Ok(Outcome::ServerError { .. }) => None,
        Err(failure) => {
            if !g.json {
                println!("client  {client}");
            }
            return Err(failure);
        }
    };
    if g.json {
        println!("{}", json!({ "client": client, "server": server, "server_url": g.server() }));
    } else {
        println!("client  {client}");
        println!("server  {} ({})", server.as_deref().unwrap_or("unknown"), g.server());
    }
    Ok(ExitCode::SUCCESS)
}

fn ttl_seconds(text: Option<&str>) -> Result<Option<u64>, Failure> {
    text.map(|t| {
        humantime::parse_duration(t)
            .map(|d| d.as_secs())
            .map_err(|e| Failure::Usage(format!("--ttl {t:?}: {e} (use a duration such as 45m)")))
    })
    .transpose()
}

/// Everything but the ID characters `[A-Za-z0-9._-]` is percent-encoded in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

fn segment(text: &str) -> String {
    // Path segments are IDs; percent-encode anything else so nothing can change the route.
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

fn activate(args: ActivateArgs) -> Result<Request, Failure> {
    let mut body = json!({ "tenant": args.tenant });
    match (&args.reason, &args.request) {
        (_, Some(request)) => body["request_id"] = json!(request),
        (Some(reason), None) => body["reason"] = json!(reason),
        (None, None) => return Err(Failure::Usage("--reason or --request is required".into())),
    }
    if let Some(ttl) = &args.ttl {
        body["ttl_seconds"] = json!(when::session_ttl_seconds(ttl).map_err(Failure::Usage)?);
    }
    Ok(Request::post(&format!("/support/agents/{}/activate", segment(&args.agent)), body, output::Shape::Activated))
}

fn deactivate(args: DeactivateArgs) -> Request {
    Request::post(
        &format!("/support/tenants/{}/session/deactivate", segment(&args.tenant)),
        json!({ "reason": args.reason }),
        output::Shape::SessionStatus,
    )
    .session_for(&args.tenant, args.session)
}

fn agent_request(command: AgentCommand, dry_run: bool) -> Result<Request, Failure> {
    Ok(match command {
        AgentCommand::Ls { tenant } => {
            Request::get(&format!("/support/tenants/{}/agents", segment(&tenant)), output::Shape::Agents)
        }
        AgentCommand::Fleet => Request::get("/support/fleet", output::Shape::Fleet),
        AgentCommand::Capabilities { agent } => {
            Request::get(&format!("/support/agents/{}/capabilities", segment(&agent)), output::Shape::Object)
        }
        AgentCommand::Activate(args) => activate(args)?,
        AgentCommand::Deactivate(args) => deactivate(args),
        AgentCommand::Revoke { agent, tenant, reason, yes } => {
            let request = Request::post(
                &format!("/support/agents/{}/revoke", segment(&agent)),
                json!({ "tenant": tenant, "reason": reason }),
                output::Shape::Object,
            );
            // Destructive: refuse before any network I/O unless confirmed. A dry run sends
            // nothing, so it may preview without --yes (docs/decisions/argusctl.md).
            if !yes && !dry_run {
                return Err(Failure::Usage(
                    "revoke is permanent: pass --yes to confirm (or --dry-run to preview)".into(),
                ));
            }
            request
        }
        AgentCommand::EnrollToken { agent, tenant, ttl } => {
            let mut body = json!({ "agent_id": agent });
            if let Some(ttl) = ttl_seconds(ttl.as_deref())? {
                body["ttl_seconds"] = json!(ttl);
            }
            Request::post(
                &format!("/support/tenants/{}/enrollment-tokens", segment(&tenant)),
                body,
                output::Shape::Object,
            )
        }
    })
}

/// What an `access` command does: one request, or (approve) a read, a local signature and an
/// upload.
enum Access {
    Send(Request),
    Approve { request: String, key: PathBuf, approver: String, not_after: Option<String> },
}

fn access_request(command: AccessCommand) -> Result<Access, Failure> {
    let path = |request: &str| format!("/support/access-requests/{}", segment(request));
    Ok(Access::Send(match command {
        AccessCommand::Request { agent, tenant, reason, ttl } => {
            let mut body = json!({ "tenant": tenant, "reason": reason });
            if let Some(ttl) = &ttl {
                body["ttl_seconds"] = json!(when::session_ttl_seconds(ttl).map_err(Failure::Usage)?);
            }
            Request::post(&format!("/support/agents/{}/access-requests", segment(&agent)), body, output::Shape::Object)
        }
        AccessCommand::Ls { tenant, pending } => {
            let request =
                Request::get(&format!("/support/tenants/{}/access-requests", segment(&tenant)), output::Shape::Object);
            if pending {
                request.query(vec![("pending", "true".to_string())])
            } else {
                request
            }
        }
        AccessCommand::Show { request } => Request::get(&path(&request), output::Shape::Object),
        AccessCommand::Deny { request, reason } => {
            Request::post(&format!("{}/deny", path(&request)), json!({ "reason": reason }), output::Shape::Object)
        }
        AccessCommand::Approve { request, key, approver, not_after } => {
            return Ok(Access::Approve { request, key, approver, not_after })
        }
    }))
}

/// `argusctl access approve`: reads the request from the server, signs an approval of exactly
/// what it shows with the approver's key, here, and uploads the signed approval.
fn approve_request(
    g: &Global,
    request_id: &str,
    key: &std::path::Path,
    approver: &str,
    not_after: Option<&str>,
) -> Result<ExitCode, Failure> {
    let path = format!("/support/access-requests/{}", segment(request_id));
    let shown = match Client::new(g)?.send(&Request::get(&path, output::Shape::Object))? {
        Outcome::Success(body) => body,
        Outcome::ServerError { body, code, message } => return Ok(server_error(g, &body, &code, &message)),
    };
    let envelope = offline::sign_approval(key, &shown, approver, not_after).map_err(Failure::from)?;
    let body = serde_json::to_value(&envelope).map_err(|e| Failure::Usage(e.to_string()))?;
    execute(g, Request::post(&format!("{path}/approvals"), body, output::Shape::Object))
}

fn pat_request(command: PatCommand, dry_run: bool) -> Result<Request, Failure> {
    Ok(match command {
        PatCommand::Create { owner, scope, tenant, ttl } => {
            let mut body = json!({ "owner": owner, "scopes": scope, "tenant": tenant });
            if let Some(ttl) = ttl_seconds(ttl.as_deref())? {
                body["ttl_seconds"] = json!(ttl);
            }
            Request::post("/admin/pats", body, output::Shape::Pat)
        }
        PatCommand::Ls => Request::get("/admin/pats", output::Shape::Pats),
        PatCommand::Revoke { id, yes } => {
            // Like agent revoke: refused before any network I/O unless confirmed.
            if !yes && !dry_run {
                return Err(Failure::Usage(
                    "pat revoke is permanent: pass --yes to confirm (or --dry-run to preview)".into(),
                ));
            }
            Request::delete_without_body(&format!("/admin/pats/{}", segment(&id)), output::Shape::Object)
        }
    })
}

fn support_request(command: SupportCommand) -> Result<Request, Failure> {
    Ok(match command {
        SupportCommand::Activate(args) => activate(args)?,
        SupportCommand::Deactivate(args) => deactivate(args),
        SupportCommand::Status { tenant, session } => {
            Request::get(&format!("/support/tenants/{}/session", segment(&tenant)), output::Shape::SessionStatus)
                .session_for(&tenant, session)
        }
        SupportCommand::Command { tenant, session, command, args, patch } => {
            let mut args: Value = match args {
                Some(text) => {
                    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("--args is not JSON: {e}")))?
                }
                None => json!({}),
            };
            if let Some(path) = patch {
                let text =
                    std::fs::read(&path).map_err(|e| Failure::Usage(format!("reading {}: {e}", path.display())))?;
                let envelope: Value = serde_json::from_slice(&text)
                    .map_err(|e| Failure::Usage(format!("{} is not a signed patch: {e}", path.display())))?;
                let Value::Object(map) = &mut args else {
                    return Err(Failure::Usage("--args must be a JSON object".into()));
                };
                map.insert("patch".into(), envelope);
            }
            Request::post(
                &format!("/support/tenants/{}/commands", segment(&tenant)),
                json!({ "command": command, "args": args }),
                output::Shape::CommandResult,
            )
            .session_for(&tenant, session)
        }
    })
}

fn tenant_request(command: TenantCommand) -> Result<Request, Failure> {
    Ok(match command {
        TenantCommand::Create { tenant, consent_key } => {
            let key = std::fs::read_to_string(&consent_key)
                .map_err(|e| Failure::Usage(format!("reading {}: {e}", consent_key.display())))?;
            argus_fsm::signed::parse_public_key_file(&key)
                .map_err(|e| Failure::Usage(format!("{}: {e}", consent_key.display())))?;
            Request::post(
                "/admin/tenants",
                json!({ "tenant": tenant, "consent_key": key.trim() }),
                output::Shape::Tenant,
            )
        }
        TenantCommand::Consent { tenant, file: Some(file), withdraw: false, .. } => {
            let text = std::fs::read(&file).map_err(|e| Failure::Usage(format!("reading {}: {e}", file.display())))?;
            let envelope: Value = serde_json::from_slice(&text)
                .map_err(|e| Failure::Usage(format!("{} is not a consent document: {e}", file.display())))?;
            Request::put(&format!("/support/tenants/{}/consent", segment(&tenant)), envelope, output::Shape::Tenant)
        }
        TenantCommand::Consent { tenant, reason, .. } => Request::delete(
            &format!("/support/tenants/{}/consent", segment(&tenant)),
            json!({ "reason": reason.unwrap_or_default() }),
            output::Shape::Tenant,
        ),
        TenantCommand::Arm { tenant, reason } => Request::post(
            &format!("/support/tenants/{}/arm", segment(&tenant)),
            json!({ "reason": reason }),
            output::Shape::Tenant,
        ),
        TenantCommand::Disarm { tenant, reason } => Request::post(
            &format!("/support/tenants/{}/disarm", segment(&tenant)),
            json!({ "reason": reason }),
            output::Shape::Tenant,
        ),
        TenantCommand::Approval { tenant, required, .. } => Request::put(
            &format!("/support/tenants/{}/approval", segment(&tenant)),
            json!({ "required": required }),
            output::Shape::Tenant,
        ),
        TenantCommand::Show { tenant } => {
            Request::get(&format!("/support/tenants/{}", segment(&tenant)), output::Shape::Tenant)
        }
    })
}
