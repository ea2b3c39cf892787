//! The fixed command allowlist (SPEC §5 "Commands") as a validated type.
//!
//! An operator's `{"command": NAME, "args": {...}}` becomes a [`Command`] here or is refused
//! with `command_not_allowlisted`, `bad_args` or `path_not_allowlisted`. Nothing else can be
//! relayed to an agent: the wire carries `Command`, not free text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::allowlist::{AllowlistedPath, LogFile};
use crate::codes::Code;
use crate::signed::Envelope;

/// Default `tail_log` line count.
pub const DEFAULT_TAIL_LINES: u32 = 100;
/// Largest `tail_log` line count.
pub const MAX_TAIL_LINES: u32 = 10_000;
/// Largest `read_file` content returned, in bytes.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// One allowlisted command with its validated arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Ping,
    AgentInfo,
    GetCapabilities,
    RefreshCapabilities,
    TailLog { file: LogFile, lines: u32 },
    ReadFile { path: AllowlistedPath },
    ApplyPatch { patch: Envelope },
}

/// Why a command request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("command {0:?} is not on the allowlist")]
    NotAllowlisted(String),
    #[error("bad arguments: {0}")]
    BadArgs(&'static str),
    #[error("path is not on the allowlist")]
    PathNotAllowlisted,
}

impl CommandError {
    /// The wire code for this refusal.
    pub fn code(&self) -> Code {
        match self {
            CommandError::NotAllowlisted(_) => Code::CommandNotAllowlisted,
            CommandError::BadArgs(_) => Code::BadArgs,
            CommandError::PathNotAllowlisted => Code::PathNotAllowlisted,
        }
    }
}

/// The names of every allowlisted command, in SPEC order (the capability manifest lists them).
pub const COMMAND_NAMES: &[&str] =
    &["ping", "agent_info", "get_capabilities", "refresh_capabilities", "tail_log", "read_file", "apply_patch"];

impl Command {
    /// Parses a command name and its JSON arguments. `args` may be absent (`null`) or an object;
    /// unknown argument keys are refused so a typo never silently changes meaning.
    pub fn parse(name: &str, args: &Value) -> Result<Command, CommandError> {
        let empty = Map::new();
        let args = match args {
            Value::Null => &empty,
            Value::Object(map) => map,
            _ => return Err(CommandError::BadArgs("args must be a JSON object")),
        };
        match name {
            "ping" => no_args(args).map(|()| Command::Ping),
            "agent_info" => no_args(args).map(|()| Command::AgentInfo),
            "get_capabilities" => no_args(args).map(|()| Command::GetCapabilities),
            "refresh_capabilities" => no_args(args).map(|()| Command::RefreshCapabilities),
            "tail_log" => parse_tail_log(args),
            "read_file" => parse_read_file(args),
            "apply_patch" => parse_apply_patch(args),
            other => Err(CommandError::NotAllowlisted(other.chars().take(64).collect())),
        }
    }

    /// The command's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::AgentInfo => "agent_info",
            Command::GetCapabilities => "get_capabilities",
            Command::RefreshCapabilities => "refresh_capabilities",
            Command::TailLog { .. } => "tail_log",
            Command::ReadFile { .. } => "read_file",
            Command::ApplyPatch { .. } => "apply_patch",
        }
    }

    /// The file a read command touches, for the audit record.
    pub fn audited_path(&self) -> Option<&str> {
        match self {
            Command::TailLog { file, .. } => Some(file.as_str()),
            Command::ReadFile { path } => Some(path.as_str()),
            _ => None,
        }
    }
}

fn no_args(args: &Map<String, Value>) -> Result<(), CommandError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CommandError::BadArgs("this command takes no arguments"))
    }
}

fn only_keys(args: &Map<String, Value>, allowed: &[&str]) -> Result<(), CommandError> {
    if args.keys().all(|key| allowed.contains(&key.as_str())) {
        Ok(())
    } else {
        Err(CommandError::BadArgs("unknown argument"))
    }
}

fn parse_tail_log(args: &Map<String, Value>) -> Result<Command, CommandError> {
    only_keys(args, &["lines", "file"])?;
    let lines = match args.get("lines") {
        None | Some(Value::Null) => DEFAULT_TAIL_LINES,
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_TAIL_LINES)).contains(n))
            .ok_or(CommandError::BadArgs("lines must be an integer from 1 to 10000"))? as u32,
    };
    let file = match args.get("file") {
        None | Some(Value::Null) => LogFile::current(),
        Some(Value::String(name)) => LogFile::try_from(name.as_str()).map_err(|_| CommandError::PathNotAllowlisted)?,
        Some(_) => return Err(CommandError::BadArgs("file must be a string")),
    };
    Ok(Command::TailLog { file, lines })
}

fn parse_read_file(args: &Map<String, Value>) -> Result<Command, CommandError> {
    only_keys(args, &["path"])?;
    match args.get("path") {
        Some(Value::String(path)) => AllowlistedPath::try_from(path.as_str())
            .map(|path| Command::ReadFile { path })
            .map_err(|_| CommandError::PathNotAllowlisted),
        Some(_) => Err(CommandError::BadArgs("path must be a string")),
        None => Err(CommandError::BadArgs("path is required")),
    }
}

fn parse_apply_patch(args: &Map<String, Value>) -> Result<Command, CommandError> {
    only_keys(args, &["patch"])?;
    let value = args.get("patch").ok_or(CommandError::BadArgs("patch is required"))?;
    let patch: Envelope = serde_json::from_value(value.clone())
        .map_err(|_| CommandError::BadArgs("patch must be a signed envelope {body, signature, key_id}"))?;
    Ok(Command::ApplyPatch { patch })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(name: &str, args: Value) -> Result<Command, Code> {
        Command::parse(name, &args).map_err(|e| e.code())
    }

    #[test]
    fn argument_free_commands_accept_null_or_empty_object() {
        for name in ["ping", "agent_info", "get_capabilities", "refresh_capabilities"] {
            assert!(parse(name, Value::Null).is_ok());
            assert!(parse(name, json!({})).is_ok());
            assert_eq!(parse(name, json!({"x": 1})), Err(Code::BadArgs));
            assert_eq!(parse(name, json!([1])), Err(Code::BadArgs));
        }
    }

    #[test]
    fn unknown_commands_are_not_allowlisted() {
        for name in ["sh", "exec", "PING", "ping ", "", "read_file\0", "rm -rf /"] {
            assert_eq!(parse(name, Value::Null), Err(Code::CommandNotAllowlisted), "{name:?}");
        }
    }

    #[test]
    fn tail_log_defaults_and_bounds() {
        assert_eq!(parse("tail_log", Value::Null), Ok(Command::TailLog { file: LogFile::current(), lines: 100 }));
        assert!(parse("tail_log", json!({"lines": 10000})).is_ok());
        for bad in [json!(0), json!(10001), json!(-1), json!(1.5), json!("5")] {
            assert_eq!(parse("tail_log", json!({ "lines": bad })), Err(Code::BadArgs));
        }
        assert_eq!(parse("tail_log", json!({"file": "config.yaml"})), Err(Code::PathNotAllowlisted));
        assert_eq!(parse("tail_log", json!({"file": "../argus.log"})), Err(Code::PathNotAllowlisted));
        assert!(parse("tail_log", json!({"file": "argus.log.3", "lines": 5})).is_ok());
        assert_eq!(parse("tail_log", json!({"lines": 5, "follow": true})), Err(Code::BadArgs));
    }

    #[test]
    fn read_file_path_is_checked_against_the_allowlist() {
        assert!(parse("read_file", json!({"path": "config.yaml"})).is_ok());
        assert_eq!(parse("read_file", json!({"path": "../secret"})), Err(Code::PathNotAllowlisted));
        assert_eq!(parse("read_file", json!({"path": 5})), Err(Code::BadArgs));
        assert_eq!(parse("read_file", json!({})), Err(Code::BadArgs));
    }

    #[test]
    fn apply_patch_needs_an_envelope() {
        let envelope = json!({"body": "AA==", "signature": "AA==", "key_id": "00"});
        assert!(parse("apply_patch", json!({ "patch": envelope })).is_ok());
        assert_eq!(parse("apply_patch", json!({})), Err(Code::BadArgs));
        assert_eq!(parse("apply_patch", json!({"patch": "x"})), Err(Code::BadArgs));
    }

    #[test]
    fn every_listed_name_parses() {
        for name in COMMAND_NAMES {
            let result = parse(name, Value::Null);
            assert!(!matches!(result, Err(Code::CommandNotAllowlisted)), "{name}");
        }
    }
}
