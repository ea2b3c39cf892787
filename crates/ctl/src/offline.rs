//! Offline tools: key generation and signing. Nothing here touches the network. Private keys
//! are written 0600 and never printed.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use argus_fsm::signed::{
    format_key_file, parse_public_key_file, parse_signing_key_file, sign_consent, sign_patch, verify_patch,
    ConsentBody, Envelope, PatchBody, BODY_VERSION,
};
use clap::Args;
use ed25519_dalek::SigningKey;
use time::OffsetDateTime;

use crate::global::Failure;

/// How an offline command treats the files it would write.
#[derive(Clone, Copy, Debug)]
pub struct Writes {
    /// `--dry-run`: describe each file, write none.
    pub dry_run: bool,
    /// `--json`: describe them as one JSON document.
    pub json: bool,
}

/// One file an offline command writes, planned before anything touches the disk so that
/// `--dry-run` and the real run go through the same checks.
struct PlannedFile {
    path: PathBuf,
    content: String,
    mode: u32,
    /// A private key: written with `create_new` and `fsync`, never printed.
    secret: bool,
    /// What the file is, for a person.
    what: &'static str,
}

impl Writes {
    /// Writes every planned file, or (dry run) prints what would be written: paths, modes and
    /// every content but a private key's. Returns whether the files were written.
    fn apply(self, files: &[PlannedFile]) -> anyhow::Result<bool> {
        if self.dry_run {
            if self.json {
                let described: Vec<_> = files
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "path": f.path.display().to_string(),
                            "mode": format!("{:o}", f.mode),
                            "what": f.what,
                            "content": if f.secret { None } else { Some(&f.content) },
                        })
                    })
                    .collect();
                println!("{}", serde_json::json!({ "dry_run": true, "would_write": described }));
            } else {
                for file in files {
                    println!("would write {} (mode {:o}): {}", file.path.display(), file.mode, file.what);
                    if file.secret {
                        println!("  <private key withheld>");
                    } else {
                        print!("{}", file.content);
                    }
                }
                println!("(dry run: nothing written)");
            }
            return Ok(false);
        }
        for file in files {
            let mut handle = std::fs::OpenOptions::new();
            handle.write(true).mode(file.mode);
            if file.secret {
                handle.create_new(true);
            } else {
                handle.create(true).truncate(true);
            }
            let mut handle = handle.open(&file.path).with_context(|| format!("creating {}", file.path.display()))?;
            handle.write_all(file.content.as_bytes()).with_context(|| format!("writing {}", file.path.display()))?;
            if file.secret {
                handle.sync_all()?;
            }
        }
        Ok(true)
    }
}

/// `argusctl keygen --out PREFIX`.
pub fn keygen(prefix: &Path, writes: Writes) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("reading the OS random source")?;
    let key = SigningKey::from_bytes(&seed);
    let private = with_suffix(prefix, "key");
    let public = with_suffix(prefix, "pub");
    if private.exists() || public.exists() {
        bail!("{} or {} exists; refusing to overwrite a key", private.display(), public.display());
    }
    let key_id = argus_fsm::signed::key_id(&key.verifying_key());
    let files = [
        PlannedFile {
            path: private.clone(),
            content: format_key_file(&seed),
            mode: 0o600,
            secret: true,
            what: "Ed25519 private key",
        },
        PlannedFile {
            path: public.clone(),
            content: format_key_file(&key.verifying_key().to_bytes()),
            mode: 0o644,
            secret: false,
            what: "Ed25519 public key",
        },
    ];
    if writes.apply(&files)? {
        println!("wrote {} (private, 0600) and {}", private.display(), public.display());
        println!("key_id {key_id}");
    }
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_signing_key_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A time flag: RFC 3339, `now`, or `+DURATION` / `-DURATION` from now.
fn unix_seconds(text: &str, flag: &str) -> anyhow::Result<i64> {
    crate::when::at(text, crate::global::now()).map(|t| t.unix_seconds()).map_err(|e| anyhow::anyhow!("{flag} {e}"))
}

/// Writes (or, dry run, shows) a signed envelope; returns whether it was written.
fn write_envelope(out: &Path, envelope: &Envelope, what: &'static str, writes: Writes) -> anyhow::Result<bool> {
    let file = PlannedFile {
        path: out.to_path_buf(),
        content: format!("{}\n", envelope.to_json_pretty()),
        mode: 0o644,
        secret: false,
        what,
    };
    writes.apply(&[file])
}

/// `argusctl consent sign`.
pub fn consent_sign(
    key: &Path,
    tenant: &str,
    signer: &str,
    expires: Option<&str>,
    out: &Path,
    writes: Writes,
) -> anyhow::Result<()> {
    let key = read_signing_key(key)?;
    let issued_at = OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = expires.map(|e| unix_seconds(e, "--expires")).transpose()?;
    if expires_at.is_some_and(|e| e <= issued_at) {
        bail!("--expires is in the past");
    }
    let body =
        ConsentBody { version: BODY_VERSION, tenant: tenant.into(), signer: signer.into(), issued_at, expires_at };
    if write_envelope(out, &sign_consent(&key, &body), "signed consent", writes)? {
        println!("wrote consent for {tenant} signed by {signer:?} to {}", out.display());
    }
    Ok(())
}

/// Arguments of `argusctl patch sign`.
#[derive(Args)]
pub struct PatchSignArgs {
    #[arg(long)]
    pub key: PathBuf,
    /// `config.yaml` or `hotfix/NAME.yaml`.
    #[arg(long)]
    pub target: String,
    /// The new content.
    #[arg(long)]
    pub file: PathBuf,
    /// The current content the target must have (binds base_sha256).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Octal mode, default 644.
    #[arg(long, default_value = "644")]
    pub mode: String,
    /// RFC 3339, `now`, or `+DURATION` / `-DURATION` from now.
    #[arg(long)]
    pub not_before: String,
    /// RFC 3339, `now`, or `+DURATION` from now (e.g. `+1h`).
    #[arg(long)]
    pub not_after: String,
    /// Bind to these agent IDs (repeatable; none = any agent).
    #[arg(long = "agent")]
    pub agents: Vec<String>,
    #[arg(long)]
    pub out: PathBuf,
}

/// `argusctl patch sign`: refuses locally what every agent would refuse anyway.
pub fn patch_sign(args: &PatchSignArgs, writes: Writes) -> anyhow::Result<()> {
    let key = read_signing_key(&args.key)?;
    argus_fsm::allowlist::PatchTarget::try_from(args.target.as_str()).map_err(|_| {
        anyhow::anyhow!("--target {:?} is not on the patch allowlist (config.yaml, hotfix/NAME.yaml)", args.target)
    })?;
    let content = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if content.len() > argus_fsm::signed::MAX_PATCH_CONTENT {
        bail!("{} is larger than 1 MiB", args.file.display());
    }
    let mode = u32::from_str_radix(args.mode.trim_start_matches("0o"), 8)
        .with_context(|| format!("--mode {:?} is not octal", args.mode))?;
    if mode & !argus_fsm::patch::ALLOWED_MODE_BITS != 0 {
        bail!("--mode {:o} has bits agents refuse (exec, setuid, setgid, sticky)", mode);
    }
    let base_sha256 = match &args.base {
        Some(path) => Some(argus_fsm::signed::sha256(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        None => None,
    };
    let not_before = unix_seconds(&args.not_before, "--not-before")?;
    let not_after = unix_seconds(&args.not_after, "--not-after")?;
    if not_after < not_before {
        bail!("--not-after is before --not-before");
    }
    let body = PatchBody {
        version: BODY_VERSION,
        patch_id: uuid::Uuid::new_v4().hyphenated().to_string(),
        target: args.target.clone(),
        content,
        mode,
        base_sha256,
        not_before,
        not_after,
        agents: args.agents.clone(),
    };
    if write_envelope(&args.out, &sign_patch(&key, &body), "signed patch", writes)? {
        println!("wrote patch {} for {} to {}", body.patch_id, body.target, args.out.display());
    }
    Ok(())
}

/// `argusctl patch verify`: exit 0 and the decoded body when valid, exit 1 otherwise.
pub fn patch_verify(pubkey: &Path, patch: &Path, json: bool) -> Result<ExitCode, Failure> {
    let key_text =
        std::fs::read_to_string(pubkey).map_err(|e| Failure::Usage(format!("reading {}: {e}", pubkey.display())))?;
    let key = parse_public_key_file(&key_text).map_err(|e| Failure::Usage(format!("{}: {e}", pubkey.display())))?;
    let bytes = std::fs::read(patch).map_err(|e| Failure::Usage(format!("reading {}: {e}", patch.display())))?;
    let verified = Envelope::from_json(&bytes).and_then(|envelope| verify_patch(&envelope, &key));
    match verified {
        Ok(verified) => {
            let body = verified.body();
            let shown = serde_json::json!({
                "valid": true,
                "key_id": verified.key_id(),
                "version": body.version,
                "patch_id": body.patch_id,
                "target": body.target,
                "mode": format!("{:o}", body.mode),
                "content_sha256": hex::encode(argus_fsm::signed::sha256(&body.content)),
                "content_bytes": body.content.len(),
                "content_utf8": std::str::from_utf8(&body.content).ok(),
                "base_sha256": body.base_sha256.map(hex::encode),
                "not_before": rfc3339(body.not_before),
                "not_after": rfc3339(body.not_after),
                "agents": body.agents,
            });
            if json {
                println!("{shown}");
            } else {
                print!("{}", crate::output::human(crate::output::Shape::Object, &shown));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if json {
                println!("{}", serde_json::json!({ "error": "patch_signature_invalid", "message": error.to_string() }));
            }
            eprintln!("error: patch_signature_invalid: {error}");
            Ok(ExitCode::from(1))
        }
    }
}

fn rfc3339(seconds: i64) -> String {
    argus_fsm::Timestamp::from_unix_seconds(seconds).to_rfc3339()
}

/// `argusctl access approve`'s signature (SPEC §13): an approval of `request` (as the server
/// shows it) by `approver`, signed here with the key in `key` — it never leaves this machine.
/// The session may start from now until `not_after` (default: an hour from now), and last at
/// most what the request asked.
pub fn sign_approval(
    key: &Path,
    request: &serde_json::Value,
    approver: &str,
    not_after: Option<&str>,
) -> anyhow::Result<Envelope> {
    let key = read_signing_key(key)?;
    let text = |field: &str| -> anyhow::Result<String> {
        request[field].as_str().map(str::to_string).with_context(|| format!("the server's request has no {field}"))
    };
    let now = crate::global::now().0 / 1000;
    let not_after = match not_after {
        Some(text) => unix_seconds(text, "--not-after")?,
        None => now + 3_600,
    };
    if not_after <= now {
        bail!("--not-after must be in the future");
    }
    let max_ttl_seconds = request["ttl_seconds"]
        .as_u64()
        .and_then(|ttl| u32::try_from(ttl).ok())
        .context("the server's request has no ttl_seconds")?;
    let body = argus_fsm::approval::ApprovalBody {
        version: argus_fsm::signed::BODY_VERSION,
        request_id: text("request_id")?,
        tenant: text("tenant")?,
        agent_id: text("agent_id")?,
        requester: text("requester")?,
        reason_sha256: argus_fsm::signed::sha256(text("reason")?.as_bytes()),
        max_ttl_seconds,
        not_before: now,
        not_after,
        approver: approver.to_string(),
    };
    Ok(argus_fsm::approval::sign_approval(&key, &body))
}
