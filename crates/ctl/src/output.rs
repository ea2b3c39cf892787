//! Human output: aligned tables and short summaries. `--json` bypasses all of this.

use comfy_table::{presets::NOTHING, Table};
use serde_json::Value;

/// `-o` / `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns (the default).
    Table,
    /// Every column the server answered.
    Wide,
    /// The server's JSON, unchanged (`--json`).
    Json,
    /// The same document as YAML.
    Yaml,
}

/// Prints a whole document as JSON or YAML (the machine-readable formats).
pub fn document(format: Format, body: &Value) -> String {
    match format {
        Format::Yaml => serde_norway::to_string(body).unwrap_or_default(),
        _ => format!("{}\n", serde_json::to_string(body).unwrap_or_default()),
    }
}

/// Which response shape a request expects, to pick a rendering.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Agents,
    Fleet,
    Audit,
    Tenant,
    Pat,
    Pats,
    Nodes,
    Activated,
    SessionStatus,
    CommandResult,
    Object,
}

/// Text from outside (reasons, IDs, owners, agents' files) made safe for a terminal (SPEC §12
/// "Terminals"): every control character — C0, DEL, C1, and the Unicode format controls that
/// reorder or hide text — is shown escaped (`\n`, `\x1b`, `\u{202e}`), so nothing a tenant
/// admin or an agent writes can move the cursor, retitle the window or forge a line.
/// `keep_lines` keeps newlines and tabs of multi-line content (a file read with `read_file`).
pub fn escape_controls(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if keep_lines => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            // Bidirectional overrides and isolates, zero-width and other invisible formatting.
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// A value as one table cell: one line, every control character escaped.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => escape_controls(s, false),
        other => escape_controls(&other.to_string(), false),
    }
}

fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    let mut text = table.trim_fmt();
    text.push('\n');
    text
}

fn rows<'a>(body: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    body.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn pick(row: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| cell(&row[*k])).collect()
}

/// Key: value lines for a flat object.
fn object(body: &Value) -> String {
    match body {
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            map.iter()
                .map(|(k, v)| match v {
                    Value::Object(_) | Value::Array(_) => {
                        // JSON escapes C0 controls itself, but not DEL or C1 (0x9b is a CSI).
                        let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
                        format!("{}  {}\n", cell_text(k, width), escape_controls(&pretty, true))
                    }
                    other => format!("{}  {}\n", cell_text(k, width), cell(other)),
                })
                .collect()
        }
        other => format!("{}\n", cell(other)),
    }
}

/// A key padded to `width`, escaped (keys of an object from outside are outside text too).
fn cell_text(key: &str, width: usize) -> String {
    format!("{:width$}", escape_controls(key, false))
}

/// One audit event as one line (`audit ls --follow`).
pub fn audit_line(event: &Value) -> String {
    let fields = [
        cell(&event["seq"]),
        cell(&event["at"]),
        cell(&event["event"]),
        cell(&event["actor"]),
        cell(&event["tenant"]),
        cell(&event["agent"]),
        cell(&event["details"]["command"]),
        cell(&event["details"]["outcome"]),
        cell(&event["details"]["path"]),
        cell(&event["reason"]),
    ];
    format!("{}\n", fields.join("  "))
}

/// Renders a list answer with every column the server sent (`-o wide`); other shapes render
/// as in the table format.
pub fn wide(shape: Shape, body: &Value) -> String {
    let key = match shape {
        Shape::Agents => "agents",
        Shape::Fleet => "tenants",
        Shape::Audit => "events",
        Shape::Pats => "pats",
        Shape::Nodes => "nodes",
        _ => return human(shape, body),
    };
    let mut columns: Vec<String> = Vec::new();
    for row in rows(body, key) {
        for name in row.as_object().into_iter().flat_map(|map| map.keys()) {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut text = table(&names, rows(body, key).map(|r| pick(r, &names)));
    if let Shape::Fleet = shape {
        text.push_str(&format!("totals: {}\n", cell(&body["totals"])));
    }
    text
}

/// Renders a successful answer for a person.
pub fn human(shape: Shape, body: &Value) -> String {
    match shape {
        Shape::Agents => {
            let keys =
                ["agent_id", "state", "online", "node", "last_seen", "version", "session_active", "remote_support_on"];
            table(&keys, rows(body, "agents").map(|r| pick(r, &keys)))
        }
        Shape::Fleet => {
            let keys = ["tenant", "armed", "consent", "enrolled", "online", "revoked", "active_sessions"];
            let mut text = table(&keys, rows(body, "tenants").map(|r| pick(r, &keys)));
            text.push_str(&format!("totals: {}\n", cell(&body["totals"])));
            text
        }
        Shape::Audit => {
            // Command records carry what ran, how it ended and the path read in `details`.
            let keys = ["seq", "at", "event", "actor", "tenant", "agent", "command", "outcome", "path", "reason"];
            let rows = rows(body, "events").map(|r| {
                let mut row = r.clone();
                for key in ["command", "outcome", "path"] {
                    row[key] = r["details"][key].clone();
                }
                pick(&row, &keys)
            });
            table(&keys, rows)
        }
        Shape::Pat => format!(
            "PAT (shown once, store it now): {}\nid: {}  owner: {}  scopes: {}  tenant: {}  expires: {}\n",
            cell(&body["pat"]),
            cell(&body["id"]),
            cell(&body["owner"]),
            cell(&body["scopes"]),
            cell(&body["tenant"]),
            cell(&body["expires_at"])
        ),
        Shape::Pats => {
            let keys = ["id", "owner", "scopes", "tenant", "created_at", "expires_at", "last_used_at", "revoked"];
            table(&keys, rows(body, "pats").map(|r| pick(r, &keys)))
        }
        Shape::Nodes => {
            let keys = ["node_id", "alive", "agents_online", "api", "agent", "peer", "last_heartbeat"];
            table(&keys, rows(body, "nodes").map(|r| pick(r, &keys)))
        }
        Shape::Activated => format!(
            "session {} on {} ({}) until {}\nsession token (shown once, never re-fetchable): {}\n",
            cell(&body["session_id"]),
            cell(&body["agent_id"]),
            cell(&body["tenant"]),
            cell(&body["expires_at"]),
            cell(&body["session_token"])
        ),
        Shape::CommandResult => match &body["result"] {
            Value::Object(map) if map.get("lines").is_some_and(Value::is_array) => {
                rows(&body["result"], "lines").map(|l| format!("{}\n", cell(l))).collect()
            }
            Value::Object(map)
                if map.get("content").is_some_and(Value::is_string)
                    && map.get("encoding") == Some(&Value::from("utf-8")) =>
            {
                // A file's own lines stay lines; every other control character is escaped.
                escape_controls(map["content"].as_str().unwrap_or_default(), true)
            }
            other => object(other),
        },
        Shape::Tenant | Shape::SessionStatus | Shape::Object => object(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wide_shows_every_column_and_yaml_is_the_same_document() {
        let body = json!({ "agents": [{ "agent_id": "a1", "state": "enrolled", "node": "n1" }] });
        let text = wide(Shape::Agents, &body);
        assert!(text.lines().next().unwrap().contains("NODE"), "{text}");
        let yaml = document(Format::Yaml, &body);
        assert_eq!(serde_norway::from_str::<Value>(&yaml).unwrap(), body);
        assert_eq!(document(Format::Json, &body).trim(), body.to_string());
    }

    #[test]
    fn audit_rows_show_command_outcome_and_path() {
        let body = json!({ "events": [{ "seq": 7, "event": "remote_support_command",
            "details": { "command": "read_file", "outcome": "path_not_allowlisted", "path": "../x" } }] });
        let text = human(Shape::Audit, &body);
        let header = text.lines().next().unwrap();
        assert!(header.contains("COMMAND") && header.contains("OUTCOME") && header.contains("PATH"));
        assert!(text.contains("read_file") && text.contains("path_not_allowlisted") && text.contains("../x"));
    }

    /// What a tenant admin can write as a reason, and an agent's log can hold.
    const HOSTILE: &str = "x\nFAKE\u{1b}[2J\u{1b}]0;t\u{7}\r\u{9b}31m\u{202e}gnp.exe\u{7f}";

    fn has_no_controls(text: &str, keep_lines: bool) {
        for c in text.chars() {
            let allowed = keep_lines && (c == '\n' || c == '\t');
            assert!(!c.is_control() || allowed, "raw {c:?} in {text:?}");
            assert!(!('\u{202a}'..='\u{202e}').contains(&c), "raw {c:?} in {text:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped_visibly() {
        assert_eq!(escape_controls(HOSTILE, false), "x\\nFAKE\\x1b[2J\\x1b]0;t\\x07\\r\\x9b31m\\u{202e}gnp.exe\\x7f");
        assert_eq!(escape_controls("line 1\n\tline 2\u{1b}[1m", true), "line 1\n\tline 2\\x1b[1m");
        assert_eq!(escape_controls("plain é 漢字 ../x", false), "plain é 漢字 ../x", "printable text unchanged");
    }

    #[test]
    fn every_human_rendering_escapes_outside_text_and_json_keeps_it_exact() {
        let event = json!({ "seq": 3, "event": "tenant_disarmed", "actor": HOSTILE, "tenant": "T1",
            "reason": HOSTILE, "details": { "path": HOSTILE, "command": "read_file" } });
        let audit = json!({ "events": [event] });
        for text in [human(Shape::Audit, &audit), wide(Shape::Audit, &audit), audit_line(&event)] {
            has_no_controls(&text.replace('\n', ""), false);
            assert_eq!(text.matches('\n').count(), text.lines().count(), "no forged line in {text:?}");
            assert!(text.contains("FAKE"), "{text}");
        }
        let agents = json!({ "agents": [{ "agent_id": HOSTILE, "version": HOSTILE }] });
        has_no_controls(&human(Shape::Agents, &agents).replace('\n', ""), false);
        let tail = json!({ "command": "tail_log", "result": { "lines": [HOSTILE, "ok"] } });
        let text = human(Shape::CommandResult, &tail);
        assert_eq!(text.lines().count(), 2, "{text:?}");
        has_no_controls(&text.replace('\n', ""), false);
        let read = json!({ "command": "read_file", "result": { "encoding": "utf-8", "content": HOSTILE } });
        has_no_controls(&human(Shape::CommandResult, &read), true);
        let info = json!({ "command": "agent_info", "result": { HOSTILE: { "nested": HOSTILE } } });
        has_no_controls(&human(Shape::CommandResult, &info).replace('\n', ""), false);
        // The machine formats keep the exact value.
        let exact: Value = serde_json::from_str(&document(Format::Json, &audit)).unwrap();
        assert_eq!(exact["events"][0]["reason"], HOSTILE);
        let yaml: Value = serde_norway::from_str(&document(Format::Yaml, &audit)).unwrap();
        assert_eq!(yaml["events"][0]["reason"], HOSTILE);
    }

    #[test]
    fn agent_table_is_aligned_with_headers() {
        let body = json!({ "agents": [
            { "agent_id": "a1", "state": "enrolled", "online": true, "last_seen": null, "version": "1.0", "session_active": false },
            { "agent_id": "agent_long_name", "state": "revoked", "online": false, "last_seen": null, "version": null, "session_active": false },
        ]});
        let text = human(Shape::Agents, &body);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("AGENT_ID") && lines[0].contains("ONLINE"));
        let column = |line: &str| line.find("enrolled").or_else(|| line.find("revoked")).unwrap();
        assert_eq!(column(lines[1]), column(lines[2]), "state column aligned");
    }
}
