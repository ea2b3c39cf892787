//! `argusctl audit export` and `audit verify-export` (SPEC §14): the trail out to a sink a SIEM
//! reads, resumable from a checkpoint file, and the offline check of what the SIEM received.
//!
//! Delivery is at-least-once and never leaves a gap: a page is written to the sink and flushed
//! *before* the checkpoint moves past it, so a crash or a sink that fails between the two
//! repeats at most that page, and a sink that stays down leaves the checkpoint where it was.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use argus_fsm::audit::{verify_run, verify_signed_run, Along, AuditRecord, ExportError};
use serde_json::Value;

use crate::client::{Client, Request};
use crate::global::{Failure, Global};
use crate::output;

/// The formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The record exactly as `audit ls --json` shows it.
    Jsonl,
    /// The record as an OCSF 1.x event of its class.
    Ocsf,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Ocsf => "ocsf",
        }
    }
}

/// Records asked for per page.
const PAGE: usize = 5_000;
/// The long poll a `--follow` export asks for.
const FOLLOW_WAIT_SECONDS: u64 = 25;
/// How long a `--follow` export waits before asking again after the server was unreachable.
const RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// What `audit export` was asked.
pub struct ExportArgs<'a> {
    /// A syslog receiver instead of stdout.
    pub sink: Option<crate::syslog::Sink>,
    pub tenant: Option<String>,
    pub format: ExportFormat,
    pub follow: bool,
    pub checkpoint: Option<&'a Path>,
}

/// Where an export stands: the place of the last record delivered (its `seq`, or its
/// `tenant_seq` in a tenant's export), and in a tenant's export the `seq` of the last
/// checkpoint line delivered (a tenant's pages repeat the checkpoints of their first record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cursor {
    after: u64,
    checkpoint_seq: u64,
}

/// The checkpoint file: `{"after": N}`, and `"checkpoint_seq"` in a tenant's export.
fn read_checkpoint(path: &Path) -> Result<Cursor, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                Some(Cursor { after: v["after"].as_u64()?, checkpoint_seq: v["checkpoint_seq"].as_u64().unwrap_or(0) })
            })
            .ok_or_else(|| Failure::Usage(format!("{} is not an export checkpoint", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
        Err(error) => Err(Failure::Usage(format!("reading {}: {error}", path.display()))),
    }
}

fn write_checkpoint(path: &Path, cursor: Cursor) -> Result<(), Failure> {
    let text = match cursor.checkpoint_seq {
        0 => format!("{{\"after\":{}}}\n", cursor.after),
        seq => format!("{{\"after\":{},\"checkpoint_seq\":{seq}}}\n", cursor.after),
    };
    crate::private_file::write(path, text.as_bytes()).map_err(Failure::Usage)
}

/// The `seq` a line of an export carries (either format).
pub fn seq_of(line: &Value) -> Option<u64> {
    line["seq"].as_u64().or_else(|| line["unmapped"]["seq"].as_u64())
}

/// The `tenant_seq` a line of an export carries (either format); none on a checkpoint's line.
pub fn tenant_seq_of(line: &Value) -> Option<u64> {
    line["tenant_seq"].as_u64().or_else(|| line["unmapped"]["tenant_seq"].as_u64())
}

/// The lines of a page to deliver, and where the export stands after them: in a tenant's
/// export, checkpoint lines already delivered are left out and the place is the last
/// `tenant_seq`. Only the last record's line and checkpoint lines are parsed (an export is
/// millions of lines). `None` for a line that carries no place.
fn advance(lines: Vec<&str>, cursor: Cursor, tenant: bool) -> Option<(Vec<&str>, Cursor, usize)> {
    let mut next = cursor;
    let mut kept = Vec::with_capacity(lines.len());
    let mut last_record = None;
    let mut records = 0;
    for line in lines {
        if tenant && line.contains(argus_fsm::audit::CHECKPOINT_EVENT) {
            let value: Value = serde_json::from_str(line).ok()?;
            if tenant_seq_of(&value).is_none() {
                // A checkpoint's view, in no tenant's chain.
                let seq = seq_of(&value)?;
                if seq > next.checkpoint_seq {
                    next.checkpoint_seq = seq;
                    kept.push(line);
                }
                continue;
            }
        }
        records += 1;
        last_record = Some(line);
        kept.push(line);
    }
    if let Some(line) = last_record {
        let value: Value = serde_json::from_str(line).ok()?;
        next.after = if tenant { tenant_seq_of(&value)? } else { seq_of(&value)? };
    }
    Some((kept, next, records))
}

/// The record a line of an export carries (either format), and whether the line is exactly
/// what the record exports as: an OCSF event's mapped fields are derived from the record it
/// carries under `unmapped`, so a change to either shows.
pub fn record_of(line: Value) -> Option<(AuditRecord, bool)> {
    if line.get("unmapped").is_none() {
        let record: AuditRecord = serde_json::from_value(line.clone()).ok()?;
        let exact = serde_json::to_value(&record).ok().as_ref() == Some(&line);
        return Some((record, exact));
    }
    let record: AuditRecord = serde_json::from_value(line["unmapped"]["record"].clone()).ok()?;
    let version = line["metadata"]["product"]["version"].as_str().unwrap_or_default();
    let exact = argus_fsm::ocsf::to_ocsf(&record, version) == line;
    Some((record, exact))
}

/// Pages of the export route, each written to stdout and flushed, then the checkpoint moved;
/// with `--follow`, long polls for new records until interrupted. While a page is delivered the
/// next one is already asked for (the server encodes it meanwhile); it is used only if the page
/// was delivered and the export moved to where it was asked from.
pub fn export(g: &Global, args: ExportArgs<'_>) -> Result<ExitCode, Failure> {
    let client = Client::new(g)?;
    let tenant = args.tenant.is_some();
    let mut cursor = match args.checkpoint {
        Some(path) => read_checkpoint(path)?,
        None => Cursor::default(),
    };
    let fetch = |cursor: Cursor| {
        let mut query = vec![
            ("after", cursor.after.to_string()),
            ("format", args.format.as_str().to_string()),
            ("limit", PAGE.to_string()),
        ];
        query.extend(args.tenant.clone().map(|t| ("tenant", t)));
        if args.follow {
            query.push(("wait", FOLLOW_WAIT_SECONDS.to_string()));
        }
        client.send_text(&Request::get("/support/audit/export", output::Shape::Audit).query(query))
    };
    std::thread::scope(|scope| {
        let mut ahead: Option<(Cursor, std::thread::ScopedJoinHandle<'_, _>)> = None;
        loop {
            let answer = match ahead.take() {
                Some((asked, page)) if asked == cursor => page.join().expect("the page fetch does not panic"),
                // Asked for past a page that then failed to go: kept for when it has gone.
                other => {
                    ahead = other;
                    fetch(cursor)
                }
            };
            let text = match answer {
                Ok(Ok(text)) => text,
                Ok(Err((code, message))) => {
                    eprintln!(
                        "error: {}: {}",
                        output::escape_controls(&code, false),
                        output::escape_controls(&message, false)
                    );
                    return Ok(ExitCode::from(1));
                }
                Err(Failure::Unreachable(why)) if args.follow => {
                    eprintln!("argusctl: the server is unreachable ({why}); trying again");
                    std::thread::sleep(RETRY);
                    continue;
                }
                Err(failure) => return Err(failure),
            };
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let (lines, next, records) = advance(lines, cursor, tenant)
                .ok_or_else(|| Failure::Unreachable("the server answered an export line without a seq".into()))?;
            if lines.is_empty() {
                if args.follow {
                    continue;
                }
                return Ok(ExitCode::SUCCESS);
            }
            if records >= PAGE && ahead.is_none() {
                ahead = Some((next, scope.spawn(move || fetch(next))));
            }
            let delivered = match &args.sink {
                Some(sink) => crate::syslog::deliver(sink, &lines),
                None => {
                    // Buffered: stdout's own buffer writes each line on its own.
                    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                    lines
                        .iter()
                        .try_for_each(|line| out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")))
                        .and_then(|()| out.flush())
                        .map_err(|e| format!("writing the export: {e}"))
                }
            };
            if let Err(error) = delivered {
                // The sink is down: the checkpoint stays before this page, which goes again.
                eprintln!("argusctl: {error}");
                if args.follow && args.sink.is_some() {
                    std::thread::sleep(RETRY);
                    continue;
                }
                return Ok(ExitCode::from(1));
            }
            cursor = next;
            if let Some(path) = args.checkpoint {
                write_checkpoint(path, cursor)?;
            }
            if !args.follow && records < PAGE {
                return Ok(ExitCode::SUCCESS);
            }
        }
    })
}

/// Reads a record file (`--checkpoint RECORD.json`): the record, or one export line.
fn read_record(path: &Path) -> Result<AuditRecord, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("reading {}: {e}", path.display())))?;
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(record_of)
        .map(|(record, _)| record)
        .ok_or_else(|| Failure::Usage(format!("{} is not an audit record", path.display())))
}

/// What proves an export complete: the checkpoint key, and a later checkpoint record.
pub struct Proof<'a> {
    pub checkpoint_key: Option<&'a Path>,
    pub checkpoint: Option<&'a Path>,
}

/// `audit verify-export FILE`: the records chain without a gap (by `seq`, or by `tenant_seq`
/// for `tenant`), each hash covering its content; with a checkpoint key, a signed checkpoint
/// covers the last one. Exit 0 with the count; exit 1 naming the first bad place.
pub fn verify_export(file: &Path, proof: Proof<'_>, tenant: Option<&str>, json: bool) -> Result<ExitCode, Failure> {
    let Proof { checkpoint_key, checkpoint } = proof;
    let along = match tenant {
        Some(tenant) => Along::Tenant(tenant),
        None => Along::Global,
    };
    let key = match checkpoint_key {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("reading {}: {e}", path.display())))?;
            Some(
                argus_fsm::signed::parse_public_key_file(&text)
                    .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let extra = checkpoint.map(read_record).transpose()?;
    let text = std::fs::read_to_string(file).map_err(|e| Failure::Usage(format!("reading {}: {e}", file.display())))?;
    let mut records = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let record = serde_json::from_str::<Value>(line).ok().and_then(record_of);
        match record {
            Some((record, true)) => records.push(record),
            Some((record, false)) => {
                let why = "the line is not what its record exports as (a field was changed)".to_string();
                return Ok(report(json, Checked { signed: key.is_some(), tenant }, Err((Some(record.seq), why))));
            }
            None => {
                let why = format!("line {} is not an exported audit record", number + 1);
                return Ok(report(json, Checked { signed: key.is_some(), tenant }, Err((None, why))));
            }
        }
    }
    let verified = match &key {
        Some(key) => verify_signed_run(&records, key, extra.as_ref(), along),
        None => verify_run(&records, along, None).map(|(count, (seq, _))| (count, seq)),
    };
    Ok(report(
        json,
        Checked { signed: key.is_some(), tenant },
        verified.map_err(|e| match e {
            ExportError::Broken { seq, why } => (Some(seq), why),
            ExportError::Empty => (None, "the export holds no record".into()),
        }),
    ))
}

/// How an export was checked.
struct Checked<'a> {
    signed: bool,
    tenant: Option<&'a str>,
}

fn report(json: bool, checked: Checked<'_>, outcome: Result<(u64, u64), (Option<u64>, String)>) -> ExitCode {
    let Checked { signed, tenant } = checked;
    // What the places are: the global `seq`, or the tenant's own `tenant_seq`.
    let place = if tenant.is_some() { "tenant_seq" } else { "seq" };
    match outcome {
        Ok((count, last)) => {
            if json {
                let mut answer = serde_json::json!({ "ok": true, "records": count, "signed": signed });
                answer[format!("last_{place}")] = last.into();
                if let Some(tenant) = tenant {
                    answer["tenant"] = tenant.into();
                }
                println!("{answer}");
            } else if signed {
                println!(
                    "ok: {count} records chain without a gap up to {place} {last}, covered by a signed checkpoint"
                );
            } else {
                println!("ok: {count} records chain without a gap, up to {place} {last} (not proved complete: no --checkpoint-key)");
            }
            ExitCode::SUCCESS
        }
        Err((seq, why)) => {
            if json {
                let mut answer = serde_json::json!({ "ok": false, "why": why });
                answer[place] = seq.into();
                println!("{answer}");
            } else {
                match seq {
                    Some(seq) => println!("broken at {place} {seq}: {why}"),
                    None => println!("broken: {why}"),
                }
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"seq":7,"event":"remote_support_command","tenant":"T1","tenant_seq":3}"#;
    const CHECKPOINT: &str = r#"{"seq":9,"event":"audit_checkpoint","tenant":null,"details":{}}"#;
    const LATER: &str = r#"{"seq":12,"event":"remote_support_command","tenant":"T1","tenant_seq":4}"#;

    #[test]
    fn the_global_export_moves_to_the_last_seq_delivered() {
        let (kept, next, records) = advance(vec![RECORD, CHECKPOINT, LATER], Cursor::default(), false).unwrap();
        assert_eq!((kept.len(), next, records), (3, Cursor { after: 12, checkpoint_seq: 0 }, 3));
        assert!(advance(vec!["{}"], Cursor::default(), false).is_none(), "a line without a seq");
    }

    #[test]
    fn a_tenant_export_moves_by_tenant_seq_and_delivers_each_checkpoint_view_once() {
        let (kept, next, records) = advance(vec![RECORD, CHECKPOINT], Cursor::default(), true).unwrap();
        assert_eq!((kept, next, records), (vec![RECORD, CHECKPOINT], Cursor { after: 3, checkpoint_seq: 9 }, 1));
        // The next page repeats the view of its first record's checkpoint: left out.
        let (kept, next, records) = advance(vec![CHECKPOINT, LATER], next, true).unwrap();
        assert_eq!((kept, next, records), (vec![LATER], Cursor { after: 4, checkpoint_seq: 9 }, 1));
        // A page of views already delivered: nothing to deliver, nothing moves.
        let (kept, same, records) = advance(vec![CHECKPOINT], next, true).unwrap();
        assert_eq!((kept.len(), same, records), (0, next, 0));
    }
}
