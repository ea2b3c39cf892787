//! Arbitrary bodies into the console's named actions (`argus_console::actions::plan`).
//! Asserts the proxy's promise, not just "no panic": whatever a caller sends, every request a
//! plan makes is one of the fixed ops routes, its path segments are plain IDs, and a session
//! token travels only as a well-formed `rst_…` value.
#![no_main]

use argus_console::actions::{is_session_token, plan, Action, Plan};
use argus_fsm::id::is_valid_id;
use libfuzzer_sys::fuzz_target;

const ROUTES: &[&[&str]] = &[
    &["", "support", "agents", "*", "activate"],
    &["", "support", "tenants", "*", "session", "deactivate"],
    &["", "support", "tenants", "*", "agents"],
    &["", "support", "agents", "*", "capabilities"],
    &["", "support", "tenants", "*", "session"],
];

fn fixed_route(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().any(|route| {
        route.len() == segments.len()
            && route.iter().zip(&segments).all(|(want, got)| if *want == "*" { is_valid_id(got) } else { want == got })
    })
}

fuzz_target!(|input: (u8, &[u8])| {
    let (pick, body) = input;
    let action = [Action::Activate, Action::Deactivate, Action::Status][usize::from(pick % 3)];
    let Ok(plan) = plan(action, body) else { return };
    let calls = match plan {
        Plan::Single(call) => vec![call],
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
