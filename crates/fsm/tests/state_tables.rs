//! Every machine's state × event table, generated from the machines themselves: each cell is
//! what `handle` does with that event in that state (the state it leaves, the effects, or the
//! refusal's code). The table lives in `docs/machines.md`; this test regenerates it and fails
//! when the document and the code disagree, so the table can never drift.
//! `ARGUS_WRITE_TABLES=1 cargo test -p argus-fsm --test state_tables` rewrites it.

use std::fmt::Debug;

use argus_fsm::agent_sessions::{AgentSessionEvent, AgentSessions};
use argus_fsm::enrollment::{token_hash, Enrollment, EnrollmentEvent};
use argus_fsm::machine::{Machine, Outcome};
use argus_fsm::session::{Caller, EndReason, Presented, Session, SessionEvent, SessionState};
use argus_fsm::signed::{sign_consent, verify_consent, ConsentBody};
use argus_fsm::tenant::{Tenant, TenantEvent, TenantState};
use argus_fsm::wire::SessionGrant;
use argus_fsm::Timestamp;
use ed25519_dalek::SigningKey;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

/// One machine's table: rows are states, columns events.
struct Table {
    title: &'static str,
    note: &'static str,
    events: Vec<&'static str>,
    rows: Vec<(&'static str, Vec<String>)>,
}

impl Table {
    fn render(&self) -> String {
        let mut out =
            format!("## {}\n\n{}\n\n| state \\ event | {} |\n|---|", self.title, self.note, self.events.join(" | "));
        out.push_str(&"---|".repeat(self.events.len()));
        out.push('\n');
        for (state, cells) in &self.rows {
            out.push_str(&format!("| {state} | {} |\n", cells.join(" | ")));
        }
        out
    }
}

impl Table {
    /// The table of a machine's `states` under `events`, each cell computed by `handle`.
    fn of<M>(
        title: &'static str,
        note: &'static str,
        states: Vec<(&'static str, M)>,
        events: Vec<(&'static str, M::Event)>,
        name: impl Fn(&M) -> String + Copy,
        code: impl Fn(&M::Error) -> String + Copy,
    ) -> Table
    where
        M: Machine + Clone,
        M::Event: Clone,
        M::Effect: Debug,
    {
        let rows = states
            .into_iter()
            .map(|(state_name, state)| {
                (state_name, events.iter().map(|(_, event)| cell(&state, event.clone(), name, code)).collect())
            })
            .collect();
        Table { title, note, events: events.iter().map(|(n, _)| *n).collect(), rows }
    }
}

/// A cell: what the event did.
fn cell<M>(machine: &M, event: M::Event, name: impl Fn(&M) -> String, code: impl Fn(&M::Error) -> String) -> String
where
    M: Machine + Clone,
    M::Effect: Debug,
{
    let mut after = machine.clone();
    let outcome: Outcome<M::Effect, M::Error> = after.handle(event, NOW);
    match outcome {
        Ok(effects) if effects.is_empty() => format!("→ {}", name(&after)),
        Ok(effects) => format!("→ {}; {}", name(&after), effects_text(&effects)),
        Err(refused) if refused.effects.is_empty() => format!("refused `{}`", code(&refused.error)),
        Err(refused) => {
            format!("refused `{}` → {}; {}", code(&refused.error), name(&after), effects_text(&refused.effects))
        }
    }
}

fn effects_text<E: Debug>(effects: &[E]) -> String {
    let text: Vec<String> = effects.iter().map(|e| format!("{e:?}")).collect();
    // Timestamps and IDs vary with the fixture, not the rule: keep the effect's shape.
    text.join(", ").split(" {").next().unwrap_or_default().replace('|', "\\|")
}

fn session_name(session: &Session) -> String {
    match session.state {
        SessionState::Active if session.expires_at <= NOW => "active (lapsed)".into(),
        SessionState::Active => "active".into(),
        SessionState::Ended { reason, .. } => format!("ended ({})", reason.as_str()),
    }
}

fn session_table() -> Table {
    let start = |ttl| {
        Session::start(
            "s1".into(),
            "t1".into(),
            "a1".into(),
            "op".into(),
            [7; 32],
            "r".into(),
            ttl,
            Timestamp(NOW.0 - 1_000),
        )
    };
    let live = start(60_000);
    let lapsed = start(500);
    let mut ended = start(60_000);
    ended.handle(SessionEvent::Deactivate, Timestamp(NOW.0 - 500)).unwrap();
    let bound = Presented { tenant: "t1".into(), owner: "op".into(), token_hash: [7; 32] };
    let wrong = Presented { owner: "other".into(), ..bound.clone() };
    let events: Vec<(&str, SessionEvent)> = vec![
        ("Command (bound)", SessionEvent::Command(Caller::Presented(bound))),
        ("Command (not bound)", SessionEvent::Command(Caller::Presented(wrong))),
        ("Command (relayed)", SessionEvent::Command(Caller::Relayed)),
        ("Deactivate", SessionEvent::Deactivate),
        ("Timeout", SessionEvent::Timeout),
        ("End(kill_switch)", SessionEvent::End(EndReason::KillSwitch)),
    ];
    let states = vec![("active", live), ("active, past expires_at", lapsed), ("ended", ended)];
    Table::of(
        "Session (`argus_fsm::session`)",
        "The server's session; a lapsed session refuses and ends as `expired` whatever was asked.",
        states,
        events,
        session_name,
        |e| e.code().as_str().into(),
    )
}

fn tenant_table() -> Table {
    let key = SigningKey::from_bytes(&[9; 32]);
    let body = ConsentBody {
        version: 1,
        tenant: "t1".into(),
        signer: "s".into(),
        issued_at: NOW.unix_seconds() - 60,
        expires_at: None,
    };
    let verified = verify_consent(&sign_consent(&key, &body), &key.verifying_key()).unwrap();
    let other = verify_consent(&sign_consent(&key, &ConsentBody { tenant: "t2".into(), ..body }), &key.verifying_key())
        .unwrap();
    let fresh = Tenant::new("t1".into(), key.verifying_key().to_bytes());
    let mut armed = fresh.clone();
    armed.handle(TenantEvent::RecordConsent(verified.clone()), NOW).unwrap();
    armed.handle(TenantEvent::Arm, NOW).unwrap();
    let mut disarmed = armed.clone();
    disarmed.handle(TenantEvent::Disarm, NOW).unwrap();
    let name = |t: &Tenant| match &t.state {
        TenantState::NoConsent => "no consent".to_string(),
        TenantState::Consented { armed: true, .. } => "armed".into(),
        TenantState::Consented { armed: false, .. } => "consented, disarmed".into(),
    };
    let events: Vec<(&str, TenantEvent)> = vec![
        ("RecordConsent", TenantEvent::RecordConsent(verified)),
        ("RecordConsent (other tenant)", TenantEvent::RecordConsent(other)),
        ("Arm", TenantEvent::Arm),
        ("Disarm", TenantEvent::Disarm),
        ("WithdrawConsent", TenantEvent::WithdrawConsent),
    ];
    let states = vec![("no consent", fresh), ("armed", armed), ("consented, disarmed", disarmed)];
    Table::of(
        "Tenant (`argus_fsm::tenant`)",
        "Consent, then arming; disarm and withdrawal end the tenant's sessions.",
        states,
        events,
        name,
        |e| e.code().as_str().into(),
    )
}

fn enrollment_table() -> Table {
    let issue = |hash| EnrollmentEvent::IssueToken {
        tenant: "t1".into(),
        token_hash: hash,
        expires_at: Timestamp(NOW.0 + 60_000),
    };
    let mut pending: Option<Enrollment> = None;
    pending.handle(issue(token_hash("ent_good")), Timestamp(NOW.0 - 1_000)).unwrap();
    let mut enrolled = pending.clone();
    enrolled
        .handle(EnrollmentEvent::Enroll { tenant: "t1".into(), token: "ent_good".into(), passkey: [1; 32] }, NOW)
        .unwrap();
    let mut revoked = enrolled.clone();
    revoked.handle(EnrollmentEvent::Revoke { reason: "r".into() }, NOW).unwrap();
    let events: Vec<(&str, EnrollmentEvent)> = vec![
        ("IssueToken", issue(token_hash("ent_new"))),
        (
            "IssueToken (other tenant)",
            EnrollmentEvent::IssueToken {
                tenant: "t2".into(),
                token_hash: [0; 32],
                expires_at: Timestamp(NOW.0 + 60_000),
            },
        ),
        (
            "Enroll (good token)",
            EnrollmentEvent::Enroll { tenant: "t1".into(), token: "ent_good".into(), passkey: [2; 32] },
        ),
        (
            "Enroll (bad token)",
            EnrollmentEvent::Enroll { tenant: "t1".into(), token: "ent_bad".into(), passkey: [2; 32] },
        ),
        ("Revoke", EnrollmentEvent::Revoke { reason: "r".into() }),
    ];
    let states = vec![("(none)", None), ("pending", pending), ("enrolled", enrolled), ("revoked", revoked)];
    Table::of(
        "Enrollment (`argus_fsm::enrollment`)",
        "An agent ID's enrollment (`Option<Enrollment>`: `(none)` is an ID nobody issued a token for); revocation is a tombstone.",
        states,
        events,
        |s: &Option<Enrollment>| s.as_ref().map_or("(none)", Enrollment::state_name).into(),
        |e| e.code().as_str().into(),
    )
}

fn agent_sessions_table() -> Table {
    let grant = SessionGrant {
        session_id: "s1".into(),
        tenant: "t1".into(),
        owner: "op".into(),
        expires_at: Timestamp(NOW.0 + 60_000),
        approval: None,
    };
    let unknown = AgentSessions::new("t1");
    let mut live = unknown.clone();
    live.handle(AgentSessionEvent::Granted(grant.clone()), NOW).unwrap();
    let mut ended = live.clone();
    ended.handle(AgentSessionEvent::Ended { session_id: "s1".into(), reason: EndReason::Deactivated }, NOW).unwrap();
    let name = |m: &AgentSessions| {
        if m.is_live("s1", NOW) {
            "s1 live".to_string()
        } else if m.remembered() > 0 {
            "s1 ended".into()
        } else {
            "s1 unknown".into()
        }
    };
    let events: Vec<(&str, AgentSessionEvent)> = vec![
        ("Welcome [s1]", AgentSessionEvent::Welcome(vec![grant.clone()])),
        ("Welcome []", AgentSessionEvent::Welcome(vec![])),
        ("Granted s1", AgentSessionEvent::Granted(grant.clone())),
        ("Ended s1", AgentSessionEvent::Ended { session_id: "s1".into(), reason: EndReason::Deactivated }),
        ("KillSwitchOff", AgentSessionEvent::KillSwitchOff),
        ("Command s1", AgentSessionEvent::Command { grant: grant.clone(), remote_support_on: true }),
        ("Command s1 (switch off)", AgentSessionEvent::Command { grant, remote_support_on: false }),
    ];
    let states = vec![("s1 unknown", unknown), ("s1 live", live), ("s1 ended", ended)];
    Table::of(
        "Agent sessions (`argus_fsm::agent_sessions`)",
        "The agent's own enforcement: a command carries its grant; an end is final.",
        states,
        events,
        name,
        |e| e.code().as_str().into(),
    )
}

fn document() -> String {
    let mut out = String::from(
        "# The state machines, as the code decides\n\n\
         Generated by `crates/fsm/tests/state_tables.rs` from the machines themselves (each cell is \
         what `handle` does with that event in that state); the test fails when this file and the \
         code disagree. Regenerate with `ARGUS_WRITE_TABLES=1 cargo test -p argus-fsm --test \
         state_tables`. The link handshake (`ServerHandshake`) is driven by its own model test \
         (`model_handshake.rs`): its events carry proofs a table cannot show.\n\n",
    );
    for table in [session_table(), tenant_table(), enrollment_table(), agent_sessions_table()] {
        out.push_str(&table.render());
        out.push('\n');
    }
    out
}

#[test]
fn the_documented_tables_are_the_machines_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/machines.md");
    let generated = document();
    if std::env::var_os("ARGUS_WRITE_TABLES").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/machines.md is not what the machines do; regenerate it with ARGUS_WRITE_TABLES=1 \
         cargo test -p argus-fsm --test state_tables and review the difference"
    );
}
