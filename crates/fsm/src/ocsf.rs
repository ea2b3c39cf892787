//! Audit records as OCSF 1.x events (SPEC §14 "OCSF"): each event of the trail mapped to the
//! class that fits it, in one table ([`class_of`]), with the chain fields and the original
//! record kept under `unmapped` so an export in OCSF proves itself like one in JSON lines.
//! The table is `docs/decisions/audit-export.md`'s; a test there checks they agree.

use serde::Serialize;
use serde_json::Value;

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

/// The record as an OCSF event of its class (an unknown event becomes a Base Event, class 0),
/// as a JSON value (what tests and `verify-export` compare).
pub fn to_ocsf(record: &AuditRecord, product_version: &str) -> Value {
    serde_json::to_value(OcsfEvent::of(record, product_version)).expect("OCSF events always serialize")
}

/// Appends the record's OCSF event as one line of JSON (no newline) to `out`: what the export
/// writes, straight from the record without building a JSON tree.
pub fn write_ocsf(record: &AuditRecord, product_version: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(out, &OcsfEvent::of(record, product_version)).expect("OCSF events always serialize")
}

/// One OCSF event, borrowing from its record. Optional objects are left out when the class
/// has none; the chain fields under `unmapped` are always there (null outside a tenant chain).
#[derive(Serialize)]
struct OcsfEvent<'a> {
    metadata: Metadata<'a>,
    category_uid: u32,
    category_name: &'static str,
    class_uid: u32,
    class_name: &'static str,
    activity_id: u32,
    activity_name: &'static str,
    type_uid: u64,
    type_name: String,
    severity_id: u8,
    severity: &'static str,
    time: i64,
    status_id: u8,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<&'a str>,
    actor: Actor<'a>,
    message: &'a str,
    unmapped: Unmapped<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud: Option<Cloud<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Named<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privileges: Option<[&'static str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_remote: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<Uid<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<Entity<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<Api<'a>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    version: &'static str,
    product: Product<'a>,
    uid: String,
    sequence: u64,
    event_code: &'a str,
    log_name: &'static str,
    original_time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_uid: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    profiles: Vec<&'static str>,
}

#[derive(Serialize)]
struct Product<'a> {
    name: &'static str,
    vendor_name: &'static str,
    version: &'a str,
}

#[derive(Serialize)]
struct Actor<'a> {
    user: Named<'a>,
}

#[derive(Serialize)]
struct Named<'a> {
    name: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct Uid<'a> {
    uid: &'a str,
}

#[derive(Serialize)]
struct Unmapped<'a> {
    seq: u64,
    hash: &'a str,
    prev_hash: &'a str,
    tenant_seq: Option<u64>,
    tenant_prev_hash: Option<&'a str>,
    record: &'a AuditRecord,
}

#[derive(Serialize)]
struct Cloud<'a> {
    provider: &'static str,
    account: Uid<'a>,
}

/// A `src_endpoint`/`dst_endpoint`: by IP, or by name and uid (a node, an agent).
#[derive(Serialize)]
#[serde(untagged)]
enum Endpoint<'a> {
    Ip { ip: &'a str },
    Named { name: &'a str, uid: &'a str },
}

#[derive(Serialize)]
struct Entity<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    uid: &'a str,
}

#[derive(Serialize)]
struct Api<'a> {
    operation: &'a str,
    service: Service,
}

#[derive(Serialize)]
struct Service {
    name: &'static str,
}

impl<'a> OcsfEvent<'a> {
    fn of(record: &'a AuditRecord, product_version: &'a str) -> OcsfEvent<'a> {
        let class = class_of(&record.event).unwrap_or(OcsfClass {
            category_uid: 0,
            category_name: "Uncategorized",
            class_uid: 0,
            class_name: "Base Event",
            activity_id: 99,
            activity_name: "Other",
            failure: false,
        });
        let detail = |key: &str| record.details.get(key).and_then(Value::as_str);
        let outcome = detail("outcome");
        let failure = class.failure || outcome.is_some_and(|o| o != "ok");
        let (status_id, status) = if failure { (2, "Failure") } else { (1, "Success") };
        let actor_name = record.actor.as_str();
        // OCSF 1.1.0's IAM entity and access classes have no `src_endpoint` (the caller's IP
        // stays in the record under `unmapped`); their `actor` comes with the `host` profile.
        let iam_entity = matches!(class.class_uid, 3004 | 3005);
        // The profiles whose attributes the event carries, as OCSF requires them declared.
        let mut profiles = Vec::new();
        if record.tenant.is_some() {
            profiles.push("cloud");
        }
        if iam_entity {
            profiles.push("host");
        }
        let mut event = OcsfEvent {
            metadata: Metadata {
                version: OCSF_VERSION,
                product: Product { name: "ARGUS", vendor_name: "ARGUS", version: product_version },
                uid: record.seq.to_string(),
                sequence: record.seq,
                event_code: &record.event,
                log_name: "audit",
                original_time: &record.at,
                tenant_uid: record.tenant.as_deref(),
                profiles,
            },
            category_uid: class.category_uid,
            category_name: class.category_name,
            class_uid: class.class_uid,
            class_name: class.class_name,
            activity_id: class.activity_id,
            activity_name: class.activity_name,
            type_uid: u64::from(class.class_uid) * 100 + u64::from(class.activity_id),
            type_name: format!("{}: {}", class.class_name, class.activity_name),
            severity_id: 1,
            severity: "Informational",
            time: millis(&record.at),
            status_id,
            status,
            status_detail: outcome,
            actor: Actor { user: Named { name: actor_name.into() } },
            message: record.reason.as_deref().unwrap_or(&record.event),
            unmapped: Unmapped {
                seq: record.seq,
                hash: &record.hash,
                prev_hash: &record.prev_hash,
                tenant_seq: record.tenant_seq,
                tenant_prev_hash: record.tenant_prev_hash.as_deref(),
                record,
            },
            cloud: record.tenant.as_deref().map(|uid| Cloud { provider: "ARGUS", account: Uid { uid } }),
            src_endpoint: detail("ip").filter(|_| !iam_entity).map(|ip| Endpoint::Ip { ip }),
            dst_endpoint: None,
            user: None,
            privileges: None,
            is_remote: None,
            session: None,
            entity: None,
            api: None,
        };
        // What each class requires beside the base event.
        let agent = record.agent.as_deref().filter(|a| !a.is_empty());
        let agent_endpoint = agent.map(|agent| Endpoint::Named { name: agent, uid: agent });
        match class.class_uid {
            3001 | 3002 | 3005 => {
                let user: std::borrow::Cow<'a, str> = match record.event.as_str() {
                    "pat_created" | "pat_revoked" => detail("owner").unwrap_or(actor_name).into(),
                    "agent_auth_failed" => format!("agent:{}", agent.unwrap_or_default()).into(),
                    "access_approved" => detail("requester").unwrap_or(actor_name).into(),
                    _ => actor_name.into(),
                };
                event.user = Some(Named { name: user });
                if class.class_uid == 3005 {
                    event.privileges = Some(["remote_support_session"]);
                }
                if class.class_uid == 3002 {
                    event.is_remote = Some(true);
                    event.dst_endpoint = agent_endpoint;
                    event.session = record.session_id.as_deref().map(|uid| Uid { uid });
                }
            }
            3004 => {
                let (name, kind) = match (&record.agent, &record.tenant) {
                    (Some(agent), _) => (agent.as_str(), "agent"),
                    (None, Some(tenant)) => (tenant.as_str(), "tenant"),
                    (None, None) => (record.event.as_str(), "record"),
                };
                let kind = match record.event.as_str() {
                    "access_requested" | "access_denied" | "access_request_expired" => "access_request",
                    "enrollment_token_issued" => "enrollment_token",
                    "audit_checkpoint" => "audit_checkpoint",
                    _ => kind,
                };
                event.entity = Some(Entity { name, kind, uid: detail("request_id").unwrap_or(name) });
            }
            6003 => {
                let operation = match record.event.as_str() {
                    "remote_support_command" | "patch_applied" | "patch_rejected" => {
                        detail("command").unwrap_or("apply_patch")
                    }
                    other => other,
                };
                event.api = Some(Api { operation, service: Service { name: "argus-agent" } });
                if event.src_endpoint.is_none() {
                    let node = record.node.as_deref().unwrap_or("argus-ops");
                    event.src_endpoint = Some(Endpoint::Named { name: node, uid: node });
                }
                event.dst_endpoint = agent_endpoint;
            }
            _ => {}
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
