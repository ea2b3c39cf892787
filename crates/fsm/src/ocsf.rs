//! Audit records as OCSF 1.x events (SPEC §14 "OCSF"): each event of the trail mapped to the
//! class that fits it, in one table ([`class_of`]), with the chain fields and the original
//! record kept under `unmapped` so an export in OCSF proves itself like one in JSON lines.
//! The table is `docs/decisions/audit-export.md`'s; a test there checks they agree.

use serde_json::{json, Value};

use crate::audit::AuditRecord;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.1.0";

/// Where one audit event lands in OCSF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OcsfClass {
    pub category_uid: u32,
    pub category_name: &'static str,
    pub class_uid: u32,
    pub class_name: &'static str,
    pub activity_id: u32,
    pub activity_name: &'static str,
    /// Whether the event records something refused or failed (`status_id` 2).
    pub failure: bool,
}

const IAM: (u32, &str) = (3, "Identity & Access Management");
const APPLICATION: (u32, &str) = (6, "Application Activity");

const fn class(
    category: (u32, &'static str),
    class: (u32, &'static str),
    activity: (u32, &'static str),
    failure: bool,
) -> OcsfClass {
    OcsfClass {
        category_uid: category.0,
        category_name: category.1,
        class_uid: class.0,
        class_name: class.1,
        activity_id: activity.0,
        activity_name: activity.1,
        failure,
    }
}

const ACCOUNT_CHANGE: (u32, &str) = (3001, "Account Change");
const AUTHENTICATION: (u32, &str) = (3002, "Authentication");
const ENTITY_MANAGEMENT: (u32, &str) = (3004, "Entity Management");
const USER_ACCESS: (u32, &str) = (3005, "User Access Management");
const API_ACTIVITY: (u32, &str) = (6003, "API Activity");

/// The OCSF class, activity and status of an audit event, by its name; `None` for a name the
/// trail never writes.
pub fn class_of(event: &str) -> Option<OcsfClass> {
    let entity = |activity, failure| class(IAM, ENTITY_MANAGEMENT, activity, failure);
    const CREATE: (u32, &str) = (1, "Create");
    const UPDATE: (u32, &str) = (3, "Update");
    const DELETE: (u32, &str) = (4, "Delete");
    Some(match event {
        // An operator's request refused at the gate, a peer's relay refused: API calls that failed.
        "gate_denied" | "peer_relay_refused" => class(APPLICATION, API_ACTIVITY, (99, "Other"), true),
        "pat_created" => class(IAM, ACCOUNT_CHANGE, (1, "Create"), false),
        "pat_revoked" => class(IAM, ACCOUNT_CHANGE, (5, "Disable"), false),
        "tenant_created" | "enrollment_token_issued" | "agent_enrolled" | "access_requested" | "audit_checkpoint" => {
            entity(CREATE, false)
        }
        "agent_enroll_refused" => entity(CREATE, true),
        "tenant_consent_recorded"
        | "tenant_consent_withdrawn"
        | "tenant_armed"
        | "tenant_disarmed"
        | "tenant_approval_set"
        | "kill_switch_off"
        | "kill_switch_on"
        | "access_denied"
        | "access_request_expired" => entity(UPDATE, false),
        "agent_revoked" => entity(DELETE, false),
        "agent_auth_failed" => class(IAM, AUTHENTICATION, (1, "Logon"), true),
        // A session is a remote logon to the agent, and its end the logoff.
        "remote_support_session_started" => class(IAM, AUTHENTICATION, (1, "Logon"), false),
        "remote_support_session_ended" => class(IAM, AUTHENTICATION, (2, "Logoff"), false),
        "access_approved" => class(IAM, USER_ACCESS, (1, "Assign Privileges"), false),
        // Commands are calls on the agent's fixed API: reads, and the one write path.
        "remote_support_command" => class(APPLICATION, API_ACTIVITY, (2, "Read"), false),
        "patch_applied" => class(APPLICATION, API_ACTIVITY, (3, "Update"), false),
        "patch_rejected" => class(APPLICATION, API_ACTIVITY, (3, "Update"), true),
        _ => return None,
    })
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`at`), 0 if it does not parse.
fn millis(at: &str) -> i64 {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

/// The record as an OCSF event of its class (an unknown event becomes a Base Event, class 0).
pub fn to_ocsf(record: &AuditRecord, product_version: &str) -> Value {
    let class = class_of(&record.event).unwrap_or(OcsfClass {
        category_uid: 0,
        category_name: "Uncategorized",
        class_uid: 0,
        class_name: "Base Event",
        activity_id: 99,
        activity_name: "Other",
        failure: false,
    });
    let outcome = record.details.get("outcome").and_then(Value::as_str);
    let failure = class.failure || outcome.is_some_and(|o| o != "ok");
    let (status_id, status) = if failure { (2, "Failure") } else { (1, "Success") };
    let actor_name = record.actor.as_str();
    let mut event = json!({
        "metadata": {
            "version": OCSF_VERSION,
            "product": { "name": "ARGUS", "vendor_name": "ARGUS", "version": product_version },
            "uid": record.seq.to_string(),
            "sequence": record.seq,
            "event_code": record.event,
            "log_name": "audit",
            "original_time": record.at,
        },
        "category_uid": class.category_uid,
        "category_name": class.category_name,
        "class_uid": class.class_uid,
        "class_name": class.class_name,
        "activity_id": class.activity_id,
        "activity_name": class.activity_name,
        "type_uid": u64::from(class.class_uid) * 100 + u64::from(class.activity_id),
        "type_name": format!("{}: {}", class.class_name, class.activity_name),
        "severity_id": 1,
        "severity": "Informational",
        "time": millis(&record.at),
        "status_id": status_id,
        "status": status,
        "actor": { "user": { "name": actor_name } },
        "message": record.reason.clone().unwrap_or_else(|| record.event.clone()),
        "unmapped": {
            "seq": record.seq,
            "hash": record.hash,
            "prev_hash": record.prev_hash,
            "tenant_seq": record.tenant_seq,
            "tenant_prev_hash": record.tenant_prev_hash,
            "record": record,
        },
    });
    if let Some(outcome) = outcome {
        event["status_detail"] = json!(outcome);
    }
    if let Some(tenant) = &record.tenant {
        event["cloud"] = json!({ "provider": "ARGUS", "account": { "uid": tenant } });
        event["metadata"]["tenant_uid"] = json!(tenant);
    }
    // OCSF 1.1.0's IAM entity and access classes have no `src_endpoint` (the caller's IP stays
    // in the record under `unmapped`); their `actor` comes with the `host` profile.
    let iam_entity = matches!(class.class_uid, 3004 | 3005);
    if let Some(ip) = record.details.get("ip").and_then(Value::as_str).filter(|_| !iam_entity) {
        event["src_endpoint"] = json!({ "ip": ip });
    }
    // The profiles whose attributes the event carries, as OCSF requires them declared.
    let mut profiles = Vec::new();
    if record.tenant.is_some() {
        profiles.push("cloud");
    }
    if iam_entity {
        profiles.push("host");
    }
    if !profiles.is_empty() {
        event["metadata"]["profiles"] = json!(profiles);
    }
    // What each class requires beside the base event.
    let agent = record.agent.clone().unwrap_or_default();
    match class.class_uid {
        3001 | 3002 | 3005 => {
            let user = match record.event.as_str() {
                "pat_created" | "pat_revoked" => {
                    record.details.get("owner").and_then(Value::as_str).unwrap_or(actor_name).to_string()
                }
                "agent_auth_failed" => format!("agent:{agent}"),
                "access_approved" => {
                    record.details.get("requester").and_then(Value::as_str).unwrap_or(actor_name).to_string()
                }
                _ => actor_name.to_string(),
            };
            event["user"] = json!({ "name": user });
            if class.class_uid == 3005 {
                event["privileges"] = json!(["remote_support_session"]);
            }
            if class.class_uid == 3002 {
                event["is_remote"] = json!(true);
                if !agent.is_empty() {
                    event["dst_endpoint"] = json!({ "name": agent, "uid": agent });
                }
                if let Some(session) = &record.session_id {
                    event["session"] = json!({ "uid": session });
                }
            }
        }
        3004 => {
            let (name, kind) = match (&record.agent, &record.tenant) {
                (Some(agent), _) => (agent.clone(), "agent"),
                (None, Some(tenant)) => (tenant.clone(), "tenant"),
                (None, None) => (record.event.clone(), "record"),
            };
            let kind = match record.event.as_str() {
                "access_requested" | "access_denied" | "access_request_expired" => "access_request",
                "enrollment_token_issued" => "enrollment_token",
                "audit_checkpoint" => "audit_checkpoint",
                _ => kind,
            };
            let uid =
                record.details.get("request_id").and_then(Value::as_str).map(str::to_string).unwrap_or(name.clone());
            event["entity"] = json!({ "name": name, "type": kind, "uid": uid });
        }
        6003 => {
            let operation = match record.event.as_str() {
                "remote_support_command" | "patch_applied" | "patch_rejected" => {
                    record.details.get("command").and_then(Value::as_str).unwrap_or("apply_patch").to_string()
                }
                other => other.to_string(),
            };
            event["api"] = json!({ "operation": operation, "service": { "name": "argus-agent" } });
            if event.get("src_endpoint").is_none() {
                let node = record.node.clone().unwrap_or_else(|| "argus-ops".into());
                event["src_endpoint"] = json!({ "name": node, "uid": node });
            }
            if !agent.is_empty() {
                event["dst_endpoint"] = json!({ "name": agent, "uid": agent });
            }
        }
        _ => {}
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_failures_and_commands_follow_their_outcome() {
        let record = |event: &str, details: Value| AuditRecord {
            seq: 7,
            at: "2026-12-06T10:00:00.250Z".into(),
            event: event.into(),
            actor: "op@example.com".into(),
            tenant: Some("T1".into()),
            agent: Some("a1".into()),
            session_id: Some("ses_1".into()),
            reason: None,
            details,
            node: None,
            tenant_seq: Some(3),
            tenant_prev_hash: Some(crate::audit::GENESIS.into()),
            prev_hash: crate::audit::GENESIS.into(),
            hash: "h".into(),
        };
        let ok = to_ocsf(&record("remote_support_command", json!({ "command": "ping", "outcome": "ok" })), "1");
        assert_eq!((ok["class_uid"].as_u64(), ok["status_id"].as_u64()), (Some(6003), Some(1)));
        assert_eq!(ok["type_uid"], 600302);
        assert_eq!(ok["time"], 1_796_551_200_250i64);
        assert_eq!(ok["metadata"]["uid"], "7");
        assert_eq!(ok["cloud"]["account"]["uid"], "T1");
        assert_eq!(ok["unmapped"]["record"]["seq"], 7);
        let refused = to_ocsf(
            &record("remote_support_command", json!({ "command": "read_file", "outcome": "path_not_allowlisted" })),
            "1",
        );
        assert_eq!(
            (refused["status_id"].as_u64(), refused["status_detail"].as_str()),
            (Some(2), Some("path_not_allowlisted"))
        );
        let denied = to_ocsf(&record("gate_denied", json!({ "ip": "10.0.0.9" })), "1");
        assert_eq!((denied["status_id"].as_u64(), denied["src_endpoint"]["ip"].as_str()), (Some(2), Some("10.0.0.9")));
        let started = to_ocsf(&record("remote_support_session_started", json!({})), "1");
        assert_eq!((started["class_uid"].as_u64(), started["activity_id"].as_u64()), (Some(3002), Some(1)));
        assert_eq!(started["session"]["uid"], "ses_1");
        assert!(class_of("no_such_event").is_none());
    }
}
