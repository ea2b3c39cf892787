//! `GET /openapi.json` (SPEC §11): the OpenAPI 3.1 document of every route, generated from the
//! handlers' annotations and the request/response types they use. The router is built from
//! the same list ([`super::api_router`]), so a route cannot be served without being described.
//! What each route can refuse with is one table here, [`refusals`], rendered as the error
//! object under each status.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use argus_fsm::Code;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};

use crate::http::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ARGUS ops API",
        description = "The operator HTTPS API of argus-ops (SPEC §3.2, §4, §7). Every /admin and /support route passes the operator gate first: the X-Argus-Ops-Token header and a PAT as a bearer token, from an allowlisted address.",
        license(name = "Apache-2.0 OR MIT")
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "probes", description = "Liveness, readiness and this document (no gate)"),
        (name = "admin", description = "Tenants and personal access tokens"),
        (name = "tenants", description = "Tenant state, consent, arming, enrollment and listings"),
        (name = "agents", description = "Agent capabilities and revocation"),
        (name = "sessions", description = "Remote-support sessions and their commands"),
        (name = "audit", description = "The audit trail"),
    )
)]
struct ApiDoc;

/// The skeleton the routes are added to.
pub(crate) fn skeleton() -> Document {
    ApiDoc::openapi()
}

/// The whole document: the routes' own descriptions, the gate's security on gated routes and
/// every route's refusals.
pub fn document() -> Document {
    let (_, mut document) = super::api_router().split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    let components = document.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("pat", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    components.add_security_scheme(
        "ops_token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Argus-Ops-Token"))),
    );
    for (path, item) in document.paths.paths.iter_mut() {
        for (method, operation) in operations_mut(item) {
            if gated(path) {
                operation.security = Some(vec![
                    SecurityRequirement::new("pat", Vec::<String>::new()).add("ops_token", Vec::<String>::new())
                ]);
            }
            let has_body = operation.request_body.is_some();
            add_refusals(operation, &refusals(method, path, has_body), |code| status_on(method, path, code));
        }
    }
    document
}

/// Whether a route passes the operator gate.
pub fn gated(path: &str) -> bool {
    path.starts_with("/admin/") || path.starts_with("/support/")
}

/// Every operation of a path item with its method, lower case.
pub fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
    .collect()
}

/// What the gate can answer on any gated route (SPEC §4).
const GATE: &[Code] = &[
    Code::IpNotAllowlisted,
    Code::BadOpsToken,
    Code::InvalidPat,
    Code::MissingRole,
    Code::RateLimited,
    Code::CfAllowlistEmpty,
    Code::CfIdentityMismatch,
];

/// What reading a JSON body can answer (SPEC §7).
const BODY: &[Code] = &[Code::BadRequest, Code::TooLarge];

/// Every code a route can refuse with: the gate's, the body's and its own.
pub fn refusals(method: &str, path: &str, has_body: bool) -> Vec<Code> {
    use Code::*;
    let own: &[Code] = match (method, path) {
        ("post", "/admin/tenants") => &[TenantExists],
        ("post", "/admin/pats") => &[TenantNotFound],
        ("delete", "/admin/pats/{id}") => &[NotFound],
        ("get", "/support/tenants/{tenant}" | "/support/tenants/{tenant}/agents") => &[TenantNotFound],
        ("put", "/support/tenants/{tenant}/consent") => &[TenantNotFound, ConsentInvalid],
        ("delete", "/support/tenants/{tenant}/consent") => &[TenantNotFound, ReasonRequired, TenantConsentRequired],
        ("post", "/support/tenants/{tenant}/arm") => &[TenantNotFound, ReasonRequired, TenantConsentRequired],
        ("post", "/support/tenants/{tenant}/disarm") => &[TenantNotFound, ReasonRequired, TenantDisarmed],
        ("put", "/support/tenants/{tenant}/approval") => &[TenantNotFound],
        ("post", "/support/tenants/{tenant}/enrollment-tokens") => {
            &[TenantNotFound, TenantConsentRequired, TenantDisarmed, AgentExists, AgentRevoked]
        }
        ("get", "/support/agents/{agent}/capabilities") => &[AgentNotFound],
        ("post", "/support/agents/{agent}/revoke") => &[AgentNotFound, ReasonRequired, AgentRevoked],
        ("post", "/support/agents/{agent}/activate") => &[
            ReasonRequired,
            TtlExceedsCap,
            TenantNotFound,
            TenantConsentRequired,
            TenantDisarmed,
            AgentNotFound,
            AgentRevoked,
            AgentOffline,
            RemoteSupportOff,
            SessionAlreadyActive,
            RequestNotFound,
            ApprovalRequired,
            ApprovalInvalid,
            TtlExceedsApproval,
            AgentTimeout,
        ],
        ("post", "/support/tenants/{tenant}/commands") => &[
            SessionNotFound,
            SessionExpired,
            CommandNotAllowlisted,
            BadArgs,
            PathNotAllowlisted,
            FileNotFound,
            RemoteSupportOff,
            AgentOffline,
            AgentTimeout,
        ],
        ("get", "/support/tenants/{tenant}/session") => &[SessionNotFound],
        ("post", "/support/tenants/{tenant}/session/deactivate") => &[SessionNotFound, SessionExpired],
        ("get", "/support/audit" | "/support/audit/export") => &[BadRequest],
        ("post", "/support/agents/{agent}/access-requests") => &[ReasonRequired, TtlExceedsCap, AgentNotFound],
        ("get", "/support/tenants/{tenant}/access-requests") => &[BadRequest, TenantNotFound],
        ("get", "/support/access-requests/{request}") => &[RequestNotFound],
        ("post", "/support/access-requests/{request}/approvals") => {
            &[RequestNotFound, ApprovalInvalid, RequestNotPending]
        }
        ("post", "/support/access-requests/{request}/deny") => &[RequestNotFound, ReasonRequired, RequestNotPending],
        _ => &[],
    };
    let mut codes = Vec::new();
    if gated(path) {
        codes.extend_from_slice(GATE);
        if path.starts_with("/support/") {
            codes.push(RemoteSupportDisabled);
        }
    }
    if has_body {
        codes.extend_from_slice(BODY);
    }
    codes.extend_from_slice(own);
    if (method, path) == ("post", "/support/tenants/{tenant}/commands") {
        // `apply_patch` can answer every patch refusal (all 422), straight from the code table.
        codes.extend(Code::ALL.iter().copied().filter(|code| code.as_str().starts_with("patch_")));
    }
    let mut seen = std::collections::BTreeSet::new();
    codes.retain(|code| seen.insert(code.as_str()));
    codes
}

/// The status a route answers a code with: the code's own, but where the SPEC names another
/// for that route (`crate::http::error::ApiError::with_status`).
pub fn status_on(method: &str, path: &str, code: Code) -> u16 {
    match (method, path, code) {
        ("post", "/support/access-requests/{request}/approvals", Code::ApprovalInvalid) => 400,
        _ => code.http_status(),
    }
}

/// One response per status, naming the codes it carries, with the error object.
fn add_refusals(operation: &mut Operation, codes: &[Code], status: impl Fn(Code) -> u16) {
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for code in codes {
        by_status.entry(status(*code)).or_default().push(code.as_str());
    }
    for (status, names) in by_status {
        let response = ResponseBuilder::new()
            .description(format!("Refused: {}", names.join(", ")))
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build(),
            )
            .build();
        operation.responses.responses.insert(status.to_string(), response.into());
    }
}

/// The document as served, rendered once.
fn rendered() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| document().to_json().expect("the document serialises"))
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    pub status: &'static str,
    pub version: &'static str,
    /// Whether the Cloudflare Access browser path is on.
    pub browser_path: bool,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Why the node is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "probes",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    ([(CONTENT_TYPE, "application/json")], rendered()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json() -> serde_json::Value {
        serde_json::from_str(rendered()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_error_object_and_the_gate() {
        let doc = json();
        if std::env::var_os("ARGUS_PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        let codes = doc["components"]["schemas"]["ErrorBody"]["properties"]["error"]["enum"].as_array().unwrap();
        assert_eq!(codes.len(), Code::ALL.len(), "every SPEC code is a possible error");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let success: Vec<_> = responses.keys().filter(|status| status.starts_with('2')).collect();
                assert_eq!(success.len(), 1, "{method} {path} has one success answer");
                // JSON, or for the export JSON lines (`application/x-ndjson`).
                let content = responses[success[0].as_str()]["content"]
                    .as_object()
                    .and_then(|types| types.get("application/json").or_else(|| types.get("application/x-ndjson")))
                    .map(|media| &media["schema"]);
                assert!(content.is_some_and(|c| c.is_object()), "{method} {path}: the success answer has a schema");
                if gated(path) {
                    assert_eq!(operation["security"], serde_json::json!([{ "pat": [], "ops_token": [] }]), "{path}");
                    for status in ["401", "403", "429"] {
                        let error = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                        assert_eq!(error, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                    }
                } else {
                    assert!(operation.get("security").is_none(), "{path} is not gated");
                }
                if operation.get("requestBody").is_some() {
                    assert!(responses.contains_key("400") && responses.contains_key("413"), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn every_refusal_status_carries_the_codes_of_that_status() {
        let commands = refusals("post", "/support/tenants/{tenant}/commands", true);
        let patch_codes = Code::ALL.iter().filter(|c| c.http_status() == 422).count();
        assert_eq!(commands.iter().filter(|c| c.http_status() == 422).count(), patch_codes, "every patch refusal");
        for (method, path) in [
            ("post", "/support/agents/{agent}/activate"),
            ("post", "/support/tenants/{tenant}/commands"),
            ("post", "/support/access-requests/{request}/approvals"),
        ] {
            let codes = refusals(method, path, true);
            let mut operation = Operation::default();
            add_refusals(&mut operation, &codes, |code| status_on(method, path, code));
            for code in codes {
                let status = status_on(method, path, code);
                let response = &operation.responses.responses[&status.to_string()];
                let utoipa::openapi::RefOr::T(response) = response else { panic!("inline response") };
                assert!(response.description.contains(code.as_str()), "{path}: {} under {status}", code.as_str());
            }
        }
        // The one status the SPEC names apart from a code's own.
        let approvals = ("post", "/support/access-requests/{request}/approvals");
        assert_eq!(status_on(approvals.0, approvals.1, Code::ApprovalInvalid), 400);
        assert_eq!(status_on("post", "/support/agents/{agent}/activate", Code::ApprovalInvalid), 403);
    }
}
