//! Builders the decisions' tests share: one live session and one enrolled agent, each named
//! the same way everywhere (tenant `t1`, agent `a1`, owner `op`).

use argus_fsm::enrollment::Enrollment;
use argus_fsm::session::Session;
use argus_fsm::Timestamp;

use crate::store::AgentRecord;

/// Session `ses_1` of `op` on agent `a1` (its token's hash `[7; 32]`), started at `started`
/// for `ttl_ms`.
pub fn session(started: i64, ttl_ms: i64) -> Session {
    Session::start(
        "ses_1".into(),
        "t1".into(),
        "a1".into(),
        "op".into(),
        [7; 32],
        "why".into(),
        ttl_ms,
        Timestamp(started),
    )
}

/// Agent `a1`, enrolled in `t1`, its remote support switched `on` or off.
pub fn agent(on: bool) -> AgentRecord {
    AgentRecord {
        agent_id: "a1".into(),
        enrollment: Enrollment::Enrolled { tenant: "t1".into(), passkey: [2; 32], enrolled_at: Timestamp(0) },
        last_seen: None,
        manifest: None,
        remote_support_on: on,
        patches: Default::default(),
    }
}
