//! Arbitrary bodies into the console's named actions (`argus_console::actions::plan`).
//! Asserts the proxy's promise, not just "no panic": whatever a caller sends, every request a
//! plan makes is one of the fixed ops routes, its path segments are plain IDs, its query (the
//! audit action's) only `tenant` (a plain ID), `since` (encoded time characters) and `limit`
//! (1 to 500), and a session token travels only as a well-formed `rst_…` value.
#![no_main]

use argus_console::actions::{is_session_token, plan, Plan, ACTIONS, MAX_AUDIT_LIMIT};
use argus_fsm::id::is_valid_id;
use libfuzzer_sys::fuzz_target;

const ROUTES: &[&[&str]] = &[
    &["", "support", "agents", "*", "activate"],
    &["", "support", "tenants", "*", "session", "deactivate"],
    &["", "support", "tenants", "*", "agents"],
    &["", "support", "agents", "*", "capabilities"],
    &["", "support", "tenants", "*", "session"],
    &["", "support", "fleet"],
    &["", "support", "audit"],
];

/// The audit action's query: `tenant` first, then at most `since` and `limit`, each well-formed.
fn fixed_query(query: &str) -> bool {
    let mut pairs = query.split('&').map(|pair| pair.split_once('=').unwrap_or((pair, "")));
    let Some(("tenant", tenant)) = pairs.next() else { return false };
    is_valid_id(tenant)
        && pairs.all(|pair| match pair {
            ("since", since) => since.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'-' | b'.')),
            ("limit", limit) => limit.parse::<u64>().is_ok_and(|n| (1..=MAX_AUDIT_LIMIT).contains(&n)),
            _ => false,
        })
}

fn fixed_route(path: &str) -> bool {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    if query.is_some_and(|query| path != "/support/audit" || !fixed_query(query)) {
        return false;
    }
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().any(|route| {
        route.len() == segments.len()
            && route.iter().zip(&segments).all(|(want, got)| if *want == "*" { is_valid_id(got) } else { want == got })
    })
}

fuzz_target!(|input: (u8, &[u8])| {
    let (pick, body) = input;
    let action = ACTIONS[usize::from(pick) % ACTIONS.len()];
    let Ok(plan) = plan(action, body) else { return };
    let calls = match plan {
        Plan::Single(call) => vec![call],
        Plan::OfTenant { call, tenant } => {
            assert!(is_valid_id(&tenant));
            vec![call]
        }
        Plan::Status(status) => {
            assert!(is_valid_id(&status.agent) && is_valid_id(&status.tenant));
            let mut calls = vec![status.listing, status.capabilities];
            calls.extend(status.session);
            calls
        }
    };
    for call in calls {
        assert!(fixed_route(&call.path), "{}", call.path);
        if let Some(token) = &call.session {
            assert!(is_session_token(token));
        }
    }
});
