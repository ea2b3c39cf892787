//! The named actions and the fixed ops requests each one becomes (pure).
//!
//! The console forwards nothing else: a caller names one of the actions — `activate`,
//! `deactivate`, `status`, and the read-only `fleet`, `agents`, `capabilities`, `audit` (SPEC
//! §3.3) and `access_requests` (SPEC §13: a tenant's pending and recent requests, which #19
//! asks the console to list) — and supplies values (tenant, agent, reason, TTL, session token, a time and a bounded
//! count); the method and the path are fixed here, and every value that lands in a path or a
//! query is checked to be an ID ops could have created ([`is_valid_id`]), a timestamp's
//! characters or a number in range first, then percent-encoded anyway. Nothing a caller sends
//! can choose a route.

use argus_fsm::id::is_valid_id;
use argus_fsm::Code;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Value};

/// The actions the console's proxy knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Activate,
    Deactivate,
    Status,
    /// The fleet roll-up (`agent fleet`).
    Fleet,
    /// A tenant's agents (`agent ls`).
    Agents,
    /// An agent's capability manifest, as ops answers it, only if it is the named tenant's.
    Capabilities,
    /// A tenant's recent audit records.
    Audit,
    /// A tenant's access requests (SPEC §13), newest first; only the pending ones if asked.
    AccessRequests,
}

/// Every action, by name.
pub const ACTIONS: [Action; 8] = [
    Action::Activate,
    Action::Deactivate,
    Action::Status,
    Action::Fleet,
    Action::Agents,
    Action::Capabilities,
    Action::Audit,
    Action::AccessRequests,
];

impl Action {
    /// The action a `/api/tunnel/{name}` path names, if any.
    pub fn from_name(name: &str) -> Option<Action> {
        ACTIONS.into_iter().find(|action| action.name() == name)
    }

    /// The action's name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Action::Activate => "activate",
            Action::Deactivate => "deactivate",
            Action::Status => "status",
            Action::Fleet => "fleet",
            Action::Agents => "agents",
            Action::Capabilities => "capabilities",
            Action::Audit => "audit",
            Action::AccessRequests => "access_requests",
        }
    }
}

/// One request to the ops API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsCall {
    pub method: Method,
    /// A path under the ops base URL, built here from a fixed template.
    pub path: String,
    pub body: Option<Value>,
    /// Sent as `X-Argus-Session`.
    pub session: Option<String>,
}

/// The two methods the proxy ever uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// What an action asks of the ops API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// One call whose answer is passed back as it is.
    Single(OpsCall),
    /// The status view, combined by [`combine_status`].
    Status(Box<StatusPlan>),
    /// One call whose answer is passed back as it is only if it names `tenant` ([`of_tenant`]).
    OfTenant { call: OpsCall, tenant: String },
}

/// The status view's reads: the agent's listing row, its capabilities and (with a token) the
/// operator's session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPlan {
    pub agent: String,
    pub tenant: String,
    pub listing: OpsCall,
    pub capabilities: OpsCall,
    pub session: Option<OpsCall>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateInput {
    tenant: String,
    agent: String,
    #[serde(default)]
    reason: String,
    ttl_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeactivateInput {
    tenant: String,
    session_token: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusInput {
    tenant: String,
    agent: String,
    session_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NothingInput {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantInput {
    tenant: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentInput {
    tenant: String,
    agent: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditInput {
    tenant: String,
    since: Option<String>,
    limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessRequestsInput {
    tenant: String,
    #[serde(default)]
    pending: bool,
}

/// The most audit records one `audit` action asks for.
pub const MAX_AUDIT_LIMIT: u64 = 500;

/// An RFC 3339 time's characters, bounded (ops parses it and answers `bad_request` itself).
fn is_timestamp_text(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text.as_bytes()[0].is_ascii_digit()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b'.' | b'+' | b'T' | b'Z' | b't' | b'z'))
}

/// A refusal before anything is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub message: &'static str,
}

impl Refusal {
    fn bad(message: &'static str) -> Refusal {
        Refusal { code: Code::BadRequest, message }
    }
}

/// A session token as ops issues them (`rst_` and URL-safe characters), bounded in length.
pub fn is_session_token(token: &str) -> bool {
    token.starts_with("rst_")
        && token.len() <= 256
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// Everything but the plain-ID characters is encoded (belt and braces: IDs are checked first).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

fn segment(id: &str, what: &'static str) -> Result<String, Refusal> {
    if !is_valid_id(id) {
        return Err(Refusal::bad(what));
    }
    Ok(utf8_percent_encode(id, SEGMENT).to_string())
}

fn token(token: &str) -> Result<String, Refusal> {
    let token = token.trim();
    if !is_session_token(token) {
        return Err(Refusal { code: Code::SessionNotFound, message: "that is not a session token" });
    }
    Ok(token.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|_| Refusal::bad("the body is not the JSON this action takes"))
}

/// Turns an action and its JSON body into the ops requests it stands for.
pub fn plan(action: Action, body: &[u8]) -> Result<Plan, Refusal> {
    let get = |path: String| OpsCall { method: Method::Get, path, body: None, session: None };
    match action {
        Action::Fleet => {
            let NothingInput {} = parse(body)?;
            Ok(Plan::Single(get("/support/fleet".into())))
        }
        Action::Agents => {
            let input: TenantInput = parse(body)?;
            let tenant = segment(&input.tenant, "tenant must be a plain ID ([A-Za-z0-9._-])")?;
            Ok(Plan::Single(get(format!("/support/tenants/{tenant}/agents"))))
        }
        Action::Capabilities => {
            let input: AgentInput = parse(body)?;
            let agent = segment(&input.agent, "agent must be a plain ID ([A-Za-z0-9._-])")?;
            if !is_valid_id(&input.tenant) {
                return Err(Refusal::bad("tenant must be a plain ID ([A-Za-z0-9._-])"));
            }
            Ok(Plan::OfTenant { call: get(format!("/support/agents/{agent}/capabilities")), tenant: input.tenant })
        }
        Action::Audit => {
            let input: AuditInput = parse(body)?;
            let tenant = segment(&input.tenant, "tenant must be a plain ID ([A-Za-z0-9._-])")?;
            let mut path = format!("/support/audit?tenant={tenant}");
            if let Some(since) = input.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                if !is_timestamp_text(since) {
                    return Err(Refusal::bad("since must be an RFC 3339 time"));
                }
                path.push_str(&format!("&since={}", utf8_percent_encode(since, SEGMENT)));
            }
            match input.limit {
                Some(limit @ 1..=MAX_AUDIT_LIMIT) => path.push_str(&format!("&limit={limit}")),
                Some(_) => return Err(Refusal::bad("limit must be a whole number from 1 to 500")),
                None => path.push_str("&limit=50"),
            }
            Ok(Plan::Single(get(path)))
        }
        Action::AccessRequests => {
            let input: AccessRequestsInput = parse(body)?;
            let tenant = segment(&input.tenant, "tenant must be a plain ID ([A-Za-z0-9._-])")?;
            let query = if input.pending { "?pending=true" } else { "" };
            Ok(Plan::Single(get(format!("/support/tenants/{tenant}/access-requests{query}"))))
        }
        Action::Activate => {
            let input: ActivateInput = parse(body)?;
            let agent = segment(&input.agent, "agent must be a plain ID ([A-Za-z0-9._-])")?;
            if !is_valid_id(&input.tenant) {
                return Err(Refusal::bad("tenant must be a plain ID ([A-Za-z0-9._-])"));
            }
            // Reason and TTL rules stay with ops (it answers reason_required, ttl_exceeds_cap).
            let mut body = json!({ "tenant": input.tenant, "reason": input.reason });
            if let Some(ttl) = input.ttl_seconds {
                body["ttl_seconds"] = json!(ttl);
            }
            Ok(Plan::Single(OpsCall {
                method: Method::Post,
                path: format!("/support/agents/{agent}/activate"),
                body: Some(body),
                session: None,
            }))
        }
        Action::Deactivate => {
            let input: DeactivateInput = parse(body)?;
            let tenant = segment(&input.tenant, "tenant must be a plain ID ([A-Za-z0-9._-])")?;
            let reason = if input.reason.trim().is_empty() { "ended from the console" } else { input.reason.trim() };
            Ok(Plan::Single(OpsCall {
                method: Method::Post,
                path: format!("/support/tenants/{tenant}/session/deactivate"),
                body: Some(json!({ "reason": reason })),
                session: Some(token(&input.session_token)?),
            }))
        }
        Action::Status => {
            let input: StatusInput = parse(body)?;
            let tenant = segment(&input.tenant, "tenant must be a plain ID ([A-Za-z0-9._-])")?;
            let agent = segment(&input.agent, "agent must be a plain ID ([A-Za-z0-9._-])")?;
            let session = match input.session_token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                Some(presented) => Some(OpsCall {
                    method: Method::Get,
                    path: format!("/support/tenants/{tenant}/session"),
                    body: None,
                    session: Some(token(presented)?),
                }),
                None => None,
            };
            Ok(Plan::Status(Box::new(StatusPlan {
                agent: input.agent,
                tenant: input.tenant,
                listing: OpsCall {
                    method: Method::Get,
                    path: format!("/support/tenants/{tenant}/agents"),
                    body: None,
                    session: None,
                },
                capabilities: OpsCall {
                    method: Method::Get,
                    path: format!("/support/agents/{agent}/capabilities"),
                    body: None,
                    session: None,
                },
                session,
            })))
        }
    }
}

/// An answer from ops: status and JSON body.
pub type Answer = (u16, Value);

/// Builds the status view from the three answers, or the first refusal among them. The
/// agent must be listed under the tenant the operator named (a capabilities answer for an
/// agent of another tenant is never shown).
pub fn combine_status(
    agent: &str,
    tenant: &str,
    listing: Answer,
    capabilities: Answer,
    session: Option<Answer>,
) -> Result<Value, Answer> {
    if listing.0 != 200 {
        return Err(listing);
    }
    let row = listing.1["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|row| row["agent_id"] == agent && row["tenant"] == tenant)
        .cloned()
        .ok_or_else(|| refusal(Code::AgentNotFound, "no such agent in that tenant"))?;
    let capabilities = match capabilities {
        (200, body) if body["tenant"] == tenant => summary(&body),
        (200, _) => return Err(refusal(Code::AgentNotFound, "no such agent in that tenant")),
        (404, _) => Value::Null,
        other => return Err(other),
    };
    let session = match session {
        Some((200, body)) => body,
        // A token the operator holds that no longer names a session: show it as gone.
        Some((status @ (404 | 410), body)) => json!({ "state": "unknown", "status": status, "error": body["error"] }),
        Some(other) => return Err(other),
        None => Value::Null,
    };
    Ok(json!({ "agent": row, "capabilities": capabilities, "session": session }))
}

/// The answer of an [`Plan::OfTenant`] call: passed back unchanged when it is the named
/// tenant's; an object of another tenant answers exactly like a missing one.
pub fn of_tenant(tenant: &str, answer: Answer) -> Answer {
    match answer {
        (200, body) if body["tenant"] != tenant => refusal(Code::AgentNotFound, "no such agent in that tenant"),
        other => other,
    }
}

/// A SPEC-shaped error answer, `{"error": CODE, "message": TEXT}` with the code's status.
pub fn refusal(code: Code, message: &str) -> Answer {
    (code.http_status(), json!({ "error": code.as_str(), "message": message }))
}

/// The capability summary the page shows (never the whole manifest).
fn summary(body: &Value) -> Value {
    let manifest = &body["manifest"];
    if manifest.is_null() {
        return json!({ "stale": body["stale"], "manifest": false });
    }
    json!({
        "manifest": true,
        "stale": body["stale"],
        "generated_at": body["generated_at"],
        "agent_version": manifest["agent_version"],
        "os": manifest["os"],
        "arch": manifest["arch"],
        "hostname": manifest["hostname"],
        "commands": manifest["commands"],
        "remote_support_on": manifest["remote_support_on"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(action: Action, body: Value) -> Result<OpsCall, Refusal> {
        match plan(action, body.to_string().as_bytes())? {
            Plan::Single(call) => Ok(call),
            other => panic!("not a single call: {other:?}"),
        }
    }

    #[test]
    fn only_the_named_actions_are_actions() {
        for action in ACTIONS {
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        for other in [
            "",
            "commands",
            "revoke",
            "Activate",
            "activate/",
            "../admin/pats",
            "status?x=1",
            "audit/../admin",
            "FLEET",
        ] {
            assert_eq!(Action::from_name(other), None, "{other}");
        }
    }

    #[test]
    fn the_read_only_actions_become_fixed_gets() {
        let call = single(Action::Fleet, json!({})).unwrap();
        assert_eq!(
            (call.method, call.path.as_str(), call.body, call.session),
            (Method::Get, "/support/fleet", None, None)
        );
        assert_eq!(single(Action::Agents, json!({ "tenant": "T1" })).unwrap().path, "/support/tenants/T1/agents");
        match plan(Action::Capabilities, json!({ "tenant": "T1", "agent": "a-1.x" }).to_string().as_bytes()).unwrap() {
            Plan::OfTenant { call, tenant } => {
                assert_eq!(
                    (call.method, call.path.as_str(), tenant.as_str()),
                    (Method::Get, "/support/agents/a-1.x/capabilities", "T1")
                );
            }
            other => panic!("{other:?}"),
        }
        let audit = single(Action::Audit, json!({ "tenant": "T1", "since": "2026-12-05T10:00:00+01:00", "limit": 20 }));
        assert_eq!(audit.unwrap().path, "/support/audit?tenant=T1&since=2026-12-05T10%3A00%3A00%2B01%3A00&limit=20");
        assert_eq!(single(Action::Audit, json!({ "tenant": "T1" })).unwrap().path, "/support/audit?tenant=T1&limit=50");
        assert_eq!(
            single(Action::AccessRequests, json!({ "tenant": "T1" })).unwrap().path,
            "/support/tenants/T1/access-requests"
        );
        assert_eq!(
            single(Action::AccessRequests, json!({ "tenant": "T1", "pending": true })).unwrap().path,
            "/support/tenants/T1/access-requests?pending=true"
        );
        assert!(plan(Action::AccessRequests, br#"{"tenant":"../admin"}"#).is_err());
        assert!(plan(Action::AccessRequests, br#"{"tenant":"T1","pending":"yes"}"#).is_err());
    }

    #[test]
    fn read_only_actions_take_ids_times_and_bounded_numbers_never_paths() {
        let bad = |action: Action, body: Value| plan(action, body.to_string().as_bytes()).unwrap_err().code;
        assert_eq!(bad(Action::Fleet, json!({ "path": "/admin/pats" })), Code::BadRequest, "no extra fields");
        assert_eq!(bad(Action::Agents, json!({ "tenant": "../admin" })), Code::BadRequest);
        assert_eq!(bad(Action::Agents, json!({})), Code::BadRequest);
        assert_eq!(bad(Action::Capabilities, json!({ "tenant": "T1", "agent": "a1/../../admin" })), Code::BadRequest);
        assert_eq!(bad(Action::Capabilities, json!({ "tenant": "T 1", "agent": "a1" })), Code::BadRequest);
        for since in ["yesterday", "2026-12-05T10:00:00Z&tenant=T2", "2026-12-05 10:00", &"1".repeat(41)] {
            assert_eq!(bad(Action::Audit, json!({ "tenant": "T1", "since": since })), Code::BadRequest, "{since}");
        }
        for limit in [json!(0), json!(501), json!(-1), json!("10"), json!(1.5)] {
            assert_eq!(bad(Action::Audit, json!({ "tenant": "T1", "limit": limit })), Code::BadRequest, "{limit}");
        }
        assert_eq!(bad(Action::Audit, json!({ "tenant": "T1&tenant=T2" })), Code::BadRequest);
    }

    #[test]
    fn an_answer_of_another_tenant_is_shown_as_missing() {
        let mine = (200, json!({ "tenant": "T1", "agent_id": "a1" }));
        assert_eq!(of_tenant("T1", mine.clone()), mine);
        let theirs = of_tenant("T1", (200, json!({ "tenant": "T2", "agent_id": "a1" })));
        assert_eq!((theirs.0, theirs.1["error"].as_str()), (404, Some("agent_not_found")));
        let refused = (403, json!({ "error": "missing_role" }));
        assert_eq!(of_tenant("T1", refused.clone()), refused, "ops' own refusals pass as they are");
    }

    #[test]
    fn activate_goes_to_the_fixed_route_with_only_its_fields() {
        let call = single(Action::Activate, json!({ "tenant": "T1", "agent": "a-1", "reason": "ticket 7" })).unwrap();
        assert_eq!(call.method, Method::Post);
        assert_eq!(call.path, "/support/agents/a-1/activate");
        assert_eq!(call.body, Some(json!({ "tenant": "T1", "reason": "ticket 7" })));
        let with_ttl =
            single(Action::Activate, json!({ "tenant": "T1", "agent": "a1", "reason": "r", "ttl_seconds": 600 }));
        assert_eq!(with_ttl.unwrap().body.unwrap()["ttl_seconds"], 600);
    }

    #[test]
    fn identifiers_that_could_steer_a_path_are_refused() {
        for agent in
            ["", "..", ".hidden", "a/b", "a%2Fb", "a?b", "a#b", "a b", "ä", "../../admin/pats", &"a".repeat(129)]
        {
            let refused = single(Action::Activate, json!({ "tenant": "T1", "agent": agent, "reason": "r" }));
            assert_eq!(refused.unwrap_err().code, Code::BadRequest, "{agent:?}");
            let refused = plan(Action::Status, json!({ "tenant": agent, "agent": "a1" }).to_string().as_bytes());
            assert_eq!(refused.unwrap_err().code, Code::BadRequest, "{agent:?}");
        }
    }

    #[test]
    fn unknown_fields_and_non_json_are_bad_requests() {
        let extra = json!({ "tenant": "T1", "agent": "a1", "reason": "r", "path": "/admin/pats" });
        assert_eq!(single(Action::Activate, extra).unwrap_err().code, Code::BadRequest);
        assert_eq!(plan(Action::Status, b"not json").unwrap_err().code, Code::BadRequest);
        assert_eq!(plan(Action::Deactivate, b"[]").unwrap_err().code, Code::BadRequest);
    }

    #[test]
    fn deactivate_carries_the_token_in_the_session_header_only() {
        let call = single(Action::Deactivate, json!({ "tenant": "T1", "session_token": " rst_abc-DEF_1 " })).unwrap();
        assert_eq!(call.path, "/support/tenants/T1/session/deactivate");
        assert_eq!(call.session.as_deref(), Some("rst_abc-DEF_1"));
        assert_eq!(call.body, Some(json!({ "reason": "ended from the console" })));
        for bad in ["", "argus_pat_x", "rst_a\r\nX-Evil: 1", "rst_a b"] {
            let refused = single(Action::Deactivate, json!({ "tenant": "T1", "session_token": bad }));
            assert_eq!(refused.unwrap_err().code, Code::SessionNotFound, "{bad:?}");
        }
    }

    #[test]
    fn status_reads_listing_capabilities_and_optionally_the_session() {
        let Plan::Status(status) =
            plan(Action::Status, json!({ "tenant": "T1", "agent": "a1" }).to_string().as_bytes()).unwrap()
        else {
            panic!("status plan")
        };
        let StatusPlan { listing, capabilities, session, .. } = *status;
        assert_eq!((listing.method, listing.path.as_str()), (Method::Get, "/support/tenants/T1/agents"));
        assert_eq!(capabilities.path, "/support/agents/a1/capabilities");
        assert!(session.is_none());
        let Plan::Status(status) = plan(
            Action::Status,
            json!({ "tenant": "T1", "agent": "a1", "session_token": "rst_x" }).to_string().as_bytes(),
        )
        .unwrap() else {
            panic!("status plan")
        };
        let session = status.session.unwrap();
        assert_eq!((session.path.as_str(), session.session.as_deref()), ("/support/tenants/T1/session", Some("rst_x")));
    }

    fn listing() -> Answer {
        (200, json!({ "agents": [{ "agent_id": "a1", "tenant": "T1", "online": true, "state": "enrolled" }] }))
    }

    fn caps(tenant: &str) -> Answer {
        (
            200,
            json!({ "tenant": tenant, "stale": false, "generated_at": "t", "manifest": {
                "agent_version": "4.2.0", "os": "linux", "arch": "x86_64", "hostname": "h", "commands": ["ping"],
                "remote_support_on": true, "read_allowlist": ["argus.log"] } }),
        )
    }

    #[test]
    fn status_view_combines_and_summarises() {
        let view = combine_status("a1", "T1", listing(), caps("T1"), None).unwrap();
        assert_eq!(view["agent"]["online"], true);
        assert_eq!(view["capabilities"]["hostname"], "h");
        assert!(view["capabilities"].get("read_allowlist").is_none(), "a summary, not the manifest");
        assert!(view["session"].is_null());
        let ended =
            combine_status("a1", "T1", listing(), caps("T1"), Some((410, json!({ "error": "session_expired" }))));
        assert_eq!(ended.unwrap()["session"]["error"], "session_expired");
        let no_snapshot = combine_status("a1", "T1", listing(), (404, json!({ "error": "agent_not_found" })), None);
        assert!(no_snapshot.unwrap()["capabilities"].is_null());
    }

    #[test]
    fn status_view_never_shows_an_agent_of_another_tenant() {
        let refused = combine_status("a1", "T1", listing(), caps("T2"), None).unwrap_err();
        assert_eq!((refused.0, refused.1["error"].as_str()), (404, Some("agent_not_found")));
        let unlisted = combine_status("a9", "T1", listing(), caps("T1"), None).unwrap_err();
        assert_eq!(unlisted.1["error"], "agent_not_found");
        let gate = (403, json!({ "error": "bad_ops_token" }));
        assert_eq!(combine_status("a1", "T1", gate.clone(), caps("T1"), None).unwrap_err(), gate);
    }

    /// Plain IDs, path-like hostile strings and arbitrary text, in a mix that reaches both the
    /// accepted and the refused branches.
    fn id_like() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof!["[A-Za-z0-9._-]{1,12}", "[./%a-z?#]{1,12}", ".{0,30}"]
    }

    proptest::proptest! {
        /// Whatever a caller sends, a planned request is one of the fixed templates with plain
        /// ID segments: nothing in a body can steer the method or the path.
        #[test]
        fn no_body_steers_a_path(
            tenant in id_like(),
            agent in id_like(),
            token in proptest::prop_oneof!["rst_[A-Za-z0-9_-]{1,20}", ".{0,30}"],
            pick in 0..8usize,
            pending: bool,
            limit in 0..600u64,
        ) {
            let action = ACTIONS[pick];
            let body = match action {
                Action::Activate => json!({ "tenant": tenant, "agent": agent, "reason": "r" }),
                Action::Deactivate => json!({ "tenant": tenant, "session_token": token }),
                Action::Status => json!({ "tenant": tenant, "agent": agent, "session_token": token }),
                Action::Fleet => json!({}),
                Action::Agents => json!({ "tenant": tenant }),
                Action::Capabilities => json!({ "tenant": tenant, "agent": agent }),
                // The agent-like text doubles as a hostile `since`.
                Action::Audit => json!({ "tenant": tenant, "since": agent, "limit": limit }),
                Action::AccessRequests => json!({ "tenant": tenant, "pending": pending }),
            };
            if let Ok(plan) = plan(action, body.to_string().as_bytes()) {
                let calls = match plan {
                    Plan::Single(call) => vec![call],
                    Plan::OfTenant { call, tenant: named } => {
                        proptest::prop_assert!(named == tenant && is_valid_id(&named));
                        vec![call]
                    }
                    Plan::Status(status) => {
                        let mut calls = vec![status.listing, status.capabilities];
                        calls.extend(status.session);
                        calls
                    }
                };
                for mut call in calls {
                    if let Some(path) = call.path.strip_suffix("?pending=true") {
                        proptest::prop_assert!(action == Action::AccessRequests && pending);
                        call.path = path.to_string();
                    } else if let Some((path, query)) = call.path.clone().split_once('?') {
                        proptest::prop_assert_eq!(path, "/support/audit");
                        let mut pairs = query.split('&');
                        let first = format!("tenant={tenant}");
                        proptest::prop_assert_eq!(pairs.next(), Some(first.as_str()));
                        for pair in pairs {
                            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                            proptest::prop_assert!(key == "since" || key == "limit", "{}", pair);
                            proptest::prop_assert!(!value.contains(['&', '=', '/', '?', '#']), "{}", pair);
                        }
                        call.path = path.to_string();
                    }
                    let segments: Vec<&str> = call.path.split('/').collect();
                    let shape: Vec<&str> = segments
                        .iter()
                        .map(|s| if [tenant.as_str(), agent.as_str()].contains(s) && is_valid_id(s) { "{id}" } else { s })
                        .collect();
                    let known = [
                        "/support/agents/{id}/activate",
                        "/support/tenants/{id}/session/deactivate",
                        "/support/tenants/{id}/agents",
                        "/support/tenants/{id}/access-requests",
                        "/support/agents/{id}/capabilities",
                        "/support/tenants/{id}/session",
                        "/support/fleet",
                        "/support/audit",
                    ];
                    proptest::prop_assert!(known.contains(&shape.join("/").as_str()), "{}", call.path);
                    if let Some(session) = &call.session {
                        proptest::prop_assert!(is_session_token(session));
                    }
                }
            }
        }
    }
}
