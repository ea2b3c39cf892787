//! Human output: aligned tables and short summaries. `--json` bypasses all of this.

use comfy_table::{presets::NOTHING, Table};
use serde_json::Value;

/// Which response shape a request expects, to pick a rendering.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Agents,
    Fleet,
    Audit,
    Tenant,
    Pat,
    Pats,
    Activated,
    SessionStatus,
    CommandResult,
    Object,
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
                        format!("{k:width$}  {}\n", serde_json::to_string_pretty(v).unwrap_or_default())
                    }
                    other => format!("{k:width$}  {}\n", cell(other)),
                })
                .collect()
        }
        other => format!("{}\n", cell(other)),
    }
}

/// Renders a successful answer for a person.
pub fn human(shape: Shape, body: &Value) -> String {
    match shape {
        Shape::Agents => {
            let keys = ["agent_id", "state", "online", "last_seen", "version", "session_active", "remote_support_on"];
            table(&keys, rows(body, "agents").map(|r| pick(r, &keys)))
        }
        Shape::Fleet => {
            let keys = ["tenant", "armed", "consent", "enrolled", "online", "revoked", "active_sessions"];
            let mut text = table(&keys, rows(body, "tenants").map(|r| pick(r, &keys)));
            text.push_str(&format!("totals: {}\n", body["totals"]));
            text
        }
        Shape::Audit => {
            let keys = ["seq", "at", "event", "actor", "tenant", "agent", "reason"];
            table(&keys, rows(body, "events").map(|r| pick(r, &keys)))
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
                cell(&map["content"])
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
