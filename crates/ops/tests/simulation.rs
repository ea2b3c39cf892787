//! A deterministic simulation of the server's session core (FoundationDB's simulation and
//! TigerBeetle's VOPR are the models): several server nodes running the *production*
//! operations of `argus_ops::decide` (activate, run a command, end a session), agents running
//! the *production* agent-side machine (`argus_fsm::agent_sessions::AgentSessions`), each node's
//! *production* group-commit rules (`argus_ops::store::writer::Queue`: generations, the group
//! chained after the node's head, doom and reload), one shared in-memory store with
//! PostgreSQL's claim, tombstone and re-chaining rules, and a seeded scheduler with a virtual clock
//! and a network that delays, reorders, duplicates and drops messages and can partition.
//!
//! Faults: node crash and restart (its unflushed writes lost, its answers never given), store
//! outages, lost commit answers (stored, answered as failed), dropped links, partitions between
//! nodes and between a node and its agents, clock jumps within the documented skew.
//!
//! After every step the invariants are checked: every acknowledged answer has its audit record
//! (exactly one for a start or an end); the audit chain is unbroken; at most one live session
//! per agent; no command runs on an agent after its session's end was acknowledged; every end
//! is recorded at most once. A failure prints its seed; `ARGUS_SIM_SEED=N cargo test -p
//! argus-ops-server --test simulation -- --nocapture` replays it, `ARGUS_SIM_SEEDS=N` runs more.
//!
//! What is the simulation's own (the I/O the production driver does on real things): the
//! store, the network, the clock, and the glue that performs each step — the decisions are
//! all the core's.

use std::collections::{BTreeMap, BTreeSet};

use argus_fsm::agent_sessions::{AgentSessionEffect, AgentSessionEvent, AgentSessions};
use argus_fsm::machine::Machine;
use argus_fsm::patch::{admit, PatchContext, ReplayMemory};
use argus_fsm::session::{EndReason, Presented, Session, SessionEvent, SessionState};
use argus_fsm::signed::{sign_consent, sign_patch, verify_consent, ConsentBody, Envelope, PatchBody};
use argus_fsm::tenant::{ConsentRecord, Tenant, TenantState};
use argus_fsm::wire::SessionGrant;
use argus_fsm::{Code, Timestamp};
use argus_ops::decide::activate::{self, Activate, Activated};
use argus_ops::decide::carry::Carry;
use argus_ops::decide::command::{self, Ran, Run};
use argus_ops::decide::end::{self, By, End};
use argus_ops::decide::records;
use argus_ops::decide::{grant_of, Event, Live, Step, Tell, Then};
use argus_ops::fault::Fault;
use argus_ops::store::audit::{rechain, record_hash, AuditEntry, AuditRecord, TenantHeads, GENESIS};
use argus_ops::store::head::Head;
use argus_ops::store::writer::{Queue, Standing};
use argus_ops::store::{AgentRecord, EndClaim, Write};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NODES: usize = 3;
/// What a ping answers.
const PONG: &str = "{\"pong\":true}";
/// The tenant's consent signing key (its admin's).
const CONSENT_KEY: [u8; 32] = [9; 32];
/// Signed patches per agent: few, so the same one is asked for again and again.
const PATCHES_PER_AGENT: usize = 2;
const AGENTS: usize = 3;
const TENANT: &str = "t1";
const OWNER: &str = "op";
/// The documented skew between nodes' clocks the simulation keeps within.
const MAX_SKEW_MS: i64 = 500;
const COMMAND_TIMEOUT_MS: i64 = 30_000;
/// `argus_ops::reach::GRANT_VERDICT_TIMEOUT`.
const GRANT_VERDICT_TIMEOUT_MS: i64 = 5_000;
const END_ACK_TIMEOUT_MS: i64 = 5_000;
/// PostgreSQL's grace for a claim whose session never reached the table.
const CLAIM_GRACE_MS: i64 = 16_000;
/// SPEC §10: an end decided on any node takes effect on the agent's node within 1 s.
const END_TAKES_EFFECT_MS: i64 = 1_000;

/// How a run is shaped.
#[derive(Clone, Copy, Debug)]
struct Shape {
    steps: usize,
    /// Probabilities, per message, of a drop and of a duplicate.
    drop: f64,
    duplicate: f64,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape { steps: 3_000, drop: 0.02, duplicate: 0.05 }
    }
}

/// What a run saw.
#[derive(Debug, Default, Clone)]
struct Stats {
    steps: usize,
    acknowledged: usize,
    refused: usize,
    commands_run: usize,
    crashes: usize,
    outages: usize,
    lost_answers: usize,
    partitions: usize,
    dropped: usize,
    duplicated: usize,
    clock_jumps: usize,
    link_drops: usize,
    /// Deactivations acknowledged, and how many of them after the agent acknowledged the end.
    deactivations: usize,
    deactivations_agent_acked: usize,
    /// Commands an agent ran after their session's end was answered without its agent's
    /// acknowledgement (it could not be told), within SPEC §10's 1 s.
    late_within_bound: usize,
    revocations: usize,
    /// Revocations answered with the agent's link cut and its ends acknowledged (nothing may
    /// run after them).
    revocations_cut: usize,
    /// Agents whose revocation two nodes decided at once (each recorded).
    revoked_twice: usize,
    kill_switches: usize,
    /// Patches agents applied (each at most once), and patch commands refused (a replay, on a
    /// node whose view had not seen the application yet, or at the agent).
    patches_applied: usize,
    /// Arms, disarms, consents and withdrawals acknowledged, and of them withdrawals.
    tenant_changes: usize,
    withdrawals: usize,
}

// ---------------------------------------------------------------------------------------------
// The store: what PostgreSQL holds, with its claim rules.

#[derive(Debug, Default)]
struct Store {
    /// Session records, as last committed.
    sessions: BTreeMap<String, Session>,
    /// The `active` flag the end claim turns off, once.
    active: BTreeMap<String, bool>,
    /// agent → (session, expires_at, claimed_at)
    live: BTreeMap<String, (String, Timestamp, i64)>,
    agents: BTreeMap<String, AgentRecord>,
    audit: Vec<AuditRecord>,
    /// Every tenant chain's head, as the audit table's `(tenant, tenant_seq)` index holds it.
    tenant_heads: TenantHeads,
    /// The tenant record, as last committed, and since when (simulated time) it has been one
    /// that may have no sessions (disarmed), if it is.
    tenant: Option<Tenant>,
    disarmed_since: Option<i64>,
    /// agent → node holding its link.
    presence: BTreeMap<String, usize>,
    outage_until: i64,
}

impl Store {
    fn up(&self, now: i64) -> Result<(), Fault> {
        if now < self.outage_until {
            Err(Code::StoreUnavailable.into())
        } else {
            Ok(())
        }
    }

    fn claim_live_session(
        &mut self,
        agent: &str,
        session: &str,
        expires: Timestamp,
        node_now: Timestamp,
        now: i64,
    ) -> bool {
        let free = match self.live.get(agent) {
            None => true,
            Some((held, held_expires, claimed_at)) => {
                *held_expires <= node_now
                    || self.active.get(held) == Some(&false)
                    || (!self.sessions.contains_key(held) && now - claimed_at > CLAIM_GRACE_MS)
            }
        };
        if free {
            self.live.insert(agent.into(), (session.into(), expires, now));
        }
        free
    }

    fn end_claim(&mut self, session: &str) -> bool {
        match self.active.get_mut(session) {
            Some(active) if *active => {
                *active = false;
                self.live.retain(|_, (held, _, _)| held != session);
                true
            }
            _ => false,
        }
    }

    /// Writes one node's group as PostgreSQL does (`Store::write_group`): the last write of a
    /// key wins, a revoked agent stays revoked, and the group's records follow the chain's head
    /// (re-chained after it when another node appended first). Answers the head after them.
    fn write_group(&mut self, group: Vec<Write>, now: i64) -> Option<Head> {
        let mut records = Vec::new();
        for write in group {
            match write {
                Write::Tenant(tenant) => {
                    // Judged here on its own, not by the rule under test.
                    let ends = !tenant.armed();
                    self.disarmed_since = if ends { self.disarmed_since.or(Some(now)) } else { None };
                    self.tenant = Some(tenant);
                }
                Write::Session(session) => {
                    self.active.entry(session.id.clone()).or_insert(matches!(session.state, SessionState::Active));
                    self.sessions.insert(session.id.clone(), session);
                }
                Write::Agent(agent) => {
                    // PostgreSQL's upsert keeps a tombstone: a revoked agent's record is never
                    // replaced by one that is not revoked (a late report written from a stale
                    // view cannot undo a revocation).
                    let tombstoned = self.agents.get(&agent.agent_id).is_some_and(|a| a.enrollment.is_revoked());
                    if !tombstoned || agent.enrollment.is_revoked() {
                        self.agents.insert(agent.agent_id.clone(), agent);
                    }
                }
                Write::Audit(record) => records.push(record),
                _ => {}
            }
        }
        let (seq, hash) = self.audit.last().map_or((0, GENESIS.to_string()), |r| (r.seq, r.hash.clone()));
        // As PostgreSQL: a group after another writer's records follows the head (and the
        // tenants' heads with it); one whose tenant place is taken collides on the unique
        // index and follows them too.
        let stale_tenant = argus_ops::store::audit::tenant_heads_before(&records)
            .iter()
            .any(|(tenant, head)| self.tenant_heads.get(tenant) != Some(head))
            || records.iter().any(|r| {
                r.tenant_seq == Some(1) && r.tenant.as_ref().is_some_and(|t| self.tenant_heads.contains_key(t))
            });
        if stale_tenant || records.first().is_some_and(|first| first.seq != seq + 1 || first.prev_hash != hash) {
            let mut tenants = self.tenant_heads.clone();
            rechain(&mut records, seq, &hash, &mut tenants);
        }
        let tenants = argus_ops::store::audit::tenant_heads_after(&records);
        self.tenant_heads.extend(tenants.clone());
        let head = records.last().map(|r| Head { seq: r.seq, hash: r.hash.clone(), tenants });
        self.audit.extend(records);
        head
    }

    fn session_by_token(&self, hash: &[u8; 32]) -> Option<Session> {
        self.sessions.values().find(|s| &s.token_hash == hash).cloned()
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes, agents and operators.

#[derive(Debug)]
struct Node {
    up: bool,
    /// The node's writer: what it staged and not yet wrote, and the chain's head as it knows
    /// it. Poisoned when the view may miss writes (a failed write, a lost listening
    /// connection): it reloads from the store before it is used again
    /// (`Registry::ensure_current`).
    writer: Queue,
    skew: i64,
    /// The registry's sessions (this node's view).
    sessions: BTreeMap<String, Session>,
    agents: BTreeMap<String, AgentRecord>,
    tenant: Tenant,
}

impl Node {
    /// Node `index` as it starts: its view and its writer's head are the store's.
    fn load(store: &Store, index: usize) -> Node {
        Node {
            up: true,
            writer: Queue::resume(store.audit.last(), store.tenant_heads.clone(), Some(format!("node-{index}"))),
            skew: 0,
            sessions: store
                .sessions
                .iter()
                .filter(|(id, _)| store.active.get(*id) == Some(&true))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            agents: store.agents.clone(),
            tenant: store.tenant.clone().expect("the tenant is stored"),
        }
    }
}

#[derive(Debug)]
struct Agent {
    id: String,
    sessions: AgentSessions,
    skew: i64,
    /// The node its link is on.
    link: Option<usize>,
    /// Control messages in flight to it, in order (one control stream per link).
    control_at: i64,
    /// Its kill switch (`true`: remote support allowed).
    switch_on: bool,
    /// The patch IDs it has applied (the production replay memory it keeps on disk).
    replay: ReplayMemory,
}

/// A session an operator was answered (its token in hand).
#[derive(Debug, Clone)]
struct Held {
    session_id: String,
    token: String,
    agent: String,
}

// ---------------------------------------------------------------------------------------------
// Operations in flight: the core's machines, and what the driver waits for.

#[derive(Debug)]
enum Op {
    Activate(Activate),
    Run(Run),
    End(End),
    Carry(Carry),
}

#[derive(Debug)]
enum Answer {
    Activated(Activated),
    Ran(Ran),
    Ended(end::Ended),
    Carried,
}

impl Op {
    fn next(&mut self, event: Event) -> Step<Answer> {
        fn map<A>(step: Step<A>, f: impl FnOnce(A) -> Answer) -> Step<Answer> {
            let then = match step.then {
                Then::Answer(answer) => Then::Answer(answer.map(f)),
                Then::ClaimLiveSession { agent_id, session_id, expires_at } => {
                    Then::ClaimLiveSession { agent_id, session_id, expires_at }
                }
                Then::ClaimEnd { ended, entry } => Then::ClaimEnd { ended, entry },
                Then::Commit { writes, audit } => Then::Commit { writes, audit },
                Then::StoreQuietly { writes } => Then::StoreQuietly { writes },
                Then::Live(live) => Then::Live(live),
                Then::Audit(audit) => Then::Audit(audit),
                Then::ConsumePatch { agent_id, patch_id, audit } => Then::ConsumePatch { agent_id, patch_id, audit },
                Then::Relay { agent_id, grant, command } => Then::Relay { agent_id, grant, command },
                Then::ConfirmGrant { agent_id, grant } => Then::ConfirmGrant { agent_id, grant },
                Then::End { session_id, event, actor, note, access } => {
                    Then::End { session_id, event, actor, note, access }
                }
            };
            Step { tell: step.tell, then }
        }
        match self {
            Op::Activate(op) => map(op.next(event), Answer::Activated),
            Op::Run(op) => map(op.next(event), Answer::Ran),
            Op::End(op) => map(op.next(event), Answer::Ended),
            Op::Carry(op) => map(op.next(event), |()| Answer::Carried),
        }
    }
}

/// What a tenant admin does.
#[derive(Debug, Clone, Copy)]
enum TenantAction {
    Arm,
    Disarm,
    Withdraw,
    Consent,
}

/// What the operator asked, for the checks on its answer.
#[derive(Debug, Clone)]
enum Asked {
    Activate {
        agent: String,
    },
    Command {
        session_id: String,
    },
    Deactivate {
        session_id: String,
    },
    /// The expiry driver (no operator waits).
    Expire,
    /// A tenant admin changes the tenant.
    Tenant {
        action: TenantAction,
    },
    /// `Writer::wait_all` on the node, then a command on a tenant or agent changed here and
    /// not yet stored goes on (`lifecycle::run_command`).
    Flushed {
        held: Held,
    },
    Revoke {
        agent: String,
    },
    /// An agent's kill-switch report, carried out on its holder.
    KillSwitch {
        agent: String,
        on: bool,
        /// The report changed the switch as this node knew it (so it is audited).
        changed: bool,
    },
}

#[derive(Debug)]
enum Waiting {
    /// Ready to be resumed with this event.
    Ready(Event),
    Flush,
    Relay(u64),
    /// A grant with approvals told; waiting for the agent's verdict under this relay ID.
    Confirm(u64),
    /// The operator's end is stored and told; waiting (bounded) for the agent.
    Acks {
        until: i64,
    },
    Nothing,
}

#[derive(Debug)]
struct InFlight {
    node: usize,
    asked: Asked,
    stack: Vec<Op>,
    waiting: Waiting,
    /// Acknowledgements of ends told, still expected.
    acks: BTreeSet<u64>,
    /// A deactivation's end, once stored.
    ended: Option<Option<EndReason>>,
    /// Ends the agent acknowledged (not merely given up on).
    acked: usize,
    /// Ends told whose acknowledgement is waited for.
    told: usize,
    /// A revocation's links to cut once the ends are acknowledged (`lifecycle::Followups`).
    cut_off: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The network.

#[derive(Debug, Clone)]
enum Message {
    /// Control stream: a grant; with `verdict`, an activation waits for the agent's verdict on
    /// it (a grant with approvals), answered to that node's relay ID.
    Grant {
        agent: usize,
        grant: SessionGrant,
        verdict: Option<(usize, u64)>,
    },
    /// Control stream: an end, acknowledged to `ack` when it is processed.
    End {
        agent: usize,
        session_id: String,
        reason: EndReason,
        ack: Option<(usize, u64)>,
    },
    /// Its own stream: a command.
    Request {
        agent: usize,
        grant: SessionGrant,
        command: argus_fsm::command::Command,
        from: usize,
        relay: u64,
        via: Option<usize>,
    },
    Reply {
        node: usize,
        relay: u64,
        answer: Result<String, Fault>,
    },
    EndAck {
        node: usize,
        ack: u64,
    },
    /// A node's flush completes (or fails).
    Flush {
        node: usize,
        batch: u64,
    },
    /// A relayed command waited too long.
    RelayTimeout {
        node: usize,
        relay: u64,
    },
    /// Another node's writes are announced (PostgreSQL LISTEN/NOTIFY).
    Announce {
        node: usize,
        sessions: Vec<String>,
        agents: Vec<String>,
        /// The tenant changed.
        tenants: bool,
    },
    /// The agent reports its kill switch on its control stream.
    Switch {
        agent: usize,
        node: usize,
        on: bool,
    },
    /// A deactivation's bounded wait for the agent is over.
    AckDeadline {
        op: u64,
    },
    Reconnect {
        agent: usize,
    },
    Restart {
        node: usize,
    },
}

struct Sim {
    seed: u64,
    /// The patch key every agent pinned, and each agent's signed patches.
    patch_key: VerifyingKey,
    patches: Vec<Vec<Envelope>>,
    /// patch ID → how many times an agent applied it.
    applied: BTreeMap<String, usize>,
    rng: ChaCha8Rng,
    shape: Shape,
    now: i64,
    queue: BTreeMap<(i64, u64), Message>,
    seq: u64,
    store: Store,
    nodes: Vec<Node>,
    agents: Vec<Agent>,
    ops: BTreeMap<u64, InFlight>,
    next_op: u64,
    /// relay id → op; wait id → (node, op, generation); ack id → op
    relays: BTreeMap<u64, u64>,
    batches: BTreeMap<u64, (usize, u64, u64)>,
    acks: BTreeMap<u64, u64>,
    next_id: u64,
    /// (node, node) pairs and (node, agent) pairs that cannot talk.
    cut_nodes: BTreeSet<(usize, usize)>,
    cut_agents: BTreeSet<(usize, usize)>,
    held: Vec<Held>,
    // What the checks remember.
    /// session → (when its end was acknowledged to an operator, whether the agent had
    /// acknowledged it first).
    end_acknowledged: BTreeMap<String, (i64, bool)>,
    commands_acknowledged: BTreeMap<String, usize>,
    commands_run: BTreeMap<String, usize>,
    /// agent → when its revocation was acknowledged.
    revoked: BTreeMap<String, i64>,
    /// agent → when a revocation was acknowledged after its link was cut and every end it
    /// told acknowledged by the agent: nothing may run on it from then on.
    revoked_cut: BTreeMap<String, i64>,
    /// Whether the agent acknowledged a deactivation's end before it was answered.
    agent_acked: BTreeMap<String, bool>,
    checked_audit: usize,
    /// Every tenant chain's head up to `checked_audit`.
    checked_tenants: TenantHeads,
    stats: Stats,
    /// `ARGUS_SIM_TRACE=1`: print every operation and message.
    trace: bool,
}

impl Sim {
    fn new(seed: u64, shape: Shape) -> Sim {
        let tenant = Tenant {
            id: TENANT.into(),
            consent_key: SigningKey::from_bytes(&CONSENT_KEY).verifying_key().to_bytes(),
            state: TenantState::Consented {
                consent: ConsentRecord {
                    signer: "admin@t1".into(),
                    issued_at: 0,
                    expires_at: None,
                    key_id: "k".into(),
                    recorded_at: Timestamp(0),
                },
                armed: true,
            },
            approval_required: false,
        };
        let mut store = Store { tenant: Some(tenant), ..Store::default() };
        for a in 0..AGENTS {
            let id = format!("a{a}");
            store.agents.insert(
                id.clone(),
                AgentRecord {
                    agent_id: id,
                    enrollment: argus_fsm::enrollment::Enrollment::Enrolled {
                        tenant: TENANT.into(),
                        passkey: [a as u8; 32],
                        enrolled_at: Timestamp(0),
                    },
                    last_seen: None,
                    manifest: None,
                    remote_support_on: true,
                    patches: Default::default(),
                },
            );
        }
        let nodes = (0..NODES).map(|index| Node::load(&store, index)).collect();
        let agents = (0..AGENTS)
            .map(|a| Agent {
                id: format!("a{a}"),
                sessions: AgentSessions::new(TENANT),
                skew: 0,
                link: None,
                control_at: 0,
                switch_on: true,
                replay: ReplayMemory::default(),
            })
            .collect();
        let signing = SigningKey::from_bytes(&[7; 32]);
        let patches = (0..AGENTS)
            .map(|a| {
                (0..PATCHES_PER_AGENT)
                    .map(|k| {
                        let body = PatchBody {
                            version: 1,
                            patch_id: format!("00000000-0000-4000-8000-{:012x}", a * 16 + k),
                            target: format!("hotfix/p{k}.yaml"),
                            content: format!("fix: {a}-{k}\n").into_bytes(),
                            mode: 0o644,
                            base_sha256: None,
                            not_before: 0,
                            not_after: 4_000_000_000,
                            agents: vec![format!("a{a}")],
                        };
                        sign_patch(&signing, &body)
                    })
                    .collect()
            })
            .collect();
        let mut sim = Sim {
            seed,
            patch_key: signing.verifying_key(),
            patches,
            applied: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            shape,
            now: 1_000_000,
            queue: BTreeMap::new(),
            seq: 0,
            store,
            nodes,
            agents,
            ops: BTreeMap::new(),
            next_op: 0,
            relays: BTreeMap::new(),
            batches: BTreeMap::new(),
            acks: BTreeMap::new(),
            next_id: 0,
            cut_nodes: BTreeSet::new(),
            cut_agents: BTreeSet::new(),
            held: Vec::new(),
            end_acknowledged: BTreeMap::new(),
            commands_acknowledged: BTreeMap::new(),
            commands_run: BTreeMap::new(),
            agent_acked: BTreeMap::new(),
            revoked: BTreeMap::new(),
            revoked_cut: BTreeMap::new(),
            checked_audit: 0,
            checked_tenants: TenantHeads::new(),
            stats: Stats::default(),
            trace: std::env::var_os("ARGUS_SIM_TRACE").is_some(),
        };
        for a in 0..AGENTS {
            sim.schedule(0, Message::Reconnect { agent: a });
        }
        sim
    }

    fn fail(&self, why: String) -> ! {
        panic!(
            "simulation seed {} failed at step {} (t={}): {why}\nreplay: ARGUS_SIM_SEED={} cargo test -p argus-ops-server --test simulation -- --nocapture",
            self.seed, self.stats.steps, self.now, self.seed
        )
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn schedule(&mut self, after: i64, message: Message) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), message);
    }

    /// Sends over the network: delayed, maybe dropped (the sender learns of it as a failure),
    /// maybe duplicated.
    fn send(&mut self, message: Message) {
        if self.rng.random_bool(self.shape.drop) {
            self.stats.dropped += 1;
            self.lost(message);
            return;
        }
        let delay = self.rng.random_range(1..40);
        if matches!(
            message,
            Message::Grant { .. } | Message::End { .. } | Message::EndAck { .. } | Message::Announce { .. }
        ) && self.rng.random_bool(self.shape.duplicate)
        {
            self.stats.duplicated += 1;
            let again = self.rng.random_range(1..80);
            self.schedule(again, message.clone());
        }
        self.schedule(delay, message);
    }

    /// A message that never arrives: a stream that fails, which its sender sees (QUIC streams
    /// are reliable; what is lost is the connection).
    fn lost(&mut self, message: Message) {
        match message {
            Message::Request { from, relay, .. } | Message::Reply { node: from, relay, .. } => {
                self.schedule(1, Message::Reply { node: from, relay, answer: Err(Code::AgentOffline.into()) })
            }
            Message::End { ack: Some((node, ack)), .. } | Message::EndAck { node, ack } => {
                self.resolve_ack(node, ack, false)
            }
            _ => {}
        }
    }

    fn node_now(&self, node: usize) -> Timestamp {
        Timestamp(self.now + self.nodes[node].skew)
    }

    // -----------------------------------------------------------------------------------------
    // Operators and the expiry driver start operations.

    fn start(&mut self, node: usize, asked: Asked, machine: Option<Op>, ready: Event) {
        self.next_op += 1;
        if self.trace {
            eprintln!("t={} op {} on node {node}: {asked:?}", self.now, self.next_op);
        }
        let op = InFlight {
            node,
            asked,
            stack: machine.into_iter().collect(),
            waiting: Waiting::Ready(ready),
            acks: BTreeSet::new(),
            ended: None,
            acked: 0,
            told: 0,
            cut_off: Vec::new(),
        };
        self.ops.insert(self.next_op, op);
        self.advance(self.next_op);
    }

    /// Reloads a stale view if the store answers; whether the view is current.
    fn ensure_current(&mut self, node: usize) -> bool {
        if self.nodes[node].writer.poisoned() && self.store.up(self.now).is_ok() {
            // The view is replaced; the writer keeps its generations (what was staged and never
            // written stays failed) and continues from the store's head.
            let fresh = Node::load(&self.store, node);
            let old = std::mem::replace(&mut self.nodes[node], fresh);
            self.nodes[node].skew = old.skew;
            self.nodes[node].writer = old.writer;
            self.nodes[node].writer.reloaded(self.store.audit.last(), self.store.tenant_heads.clone());
        }
        !self.nodes[node].writer.poisoned()
    }

    fn operator_activates(&mut self, node: usize, agent: usize) {
        self.ensure_current(node);
        let agent_id = self.agents[agent].id.clone();
        let now = self.node_now(node);
        let online = self.store.up(self.now).is_ok() && self.store.presence.contains_key(&agent_id);
        let token = format!("rst_{}", self.id());
        let fresh = activate::Fresh { session_id: format!("ses_{}", self.id()), token };
        let n = &self.nodes[node];
        let facts = activate::Facts {
            tenant: Some(&n.tenant),
            agent: n.agents.get(&agent_id),
            online,
            sessions: n.sessions.values().filter(|s| s.agent_id == agent_id).collect(),
            access_request: None,
            now,
        };
        let request = activate::Request {
            tenant: TENANT.into(),
            agent_id: agent_id.clone(),
            reason: "sim".into(),
            ttl_seconds: Some(self.rng.random_range(5..240)),
            request_id: None,
        };
        let caller =
            activate::Caller { actor: OWNER.into(), ip: "127.0.0.1".into(), access_email: None, sees_tenant: true };
        let op = Activate::start(request, caller, facts, fresh);
        self.start(node, Asked::Activate { agent: agent_id }, Some(Op::Activate(op)), Event::Start);
    }

    /// The session a token names, bound to the tenant and operator: from the node's view, else
    /// read from the store by the token's hash (the production `bound_session`).
    fn bound(&mut self, node: usize, presented: &Presented) -> Result<Session, Fault> {
        let found = self.nodes[node].sessions.values().find(|s| s.token_hash == presented.token_hash).cloned();
        let session = match found {
            Some(session) => session,
            None => {
                self.store.up(self.now)?;
                let session =
                    self.store.session_by_token(&presented.token_hash).ok_or(Fault::from(Code::SessionNotFound))?;
                self.nodes[node].sessions.insert(session.id.clone(), session.clone());
                session
            }
        };
        if session.is_bound_to(presented) {
            Ok(session)
        } else {
            Err(Code::SessionNotFound.into())
        }
    }

    fn presented(held: &Held) -> Presented {
        Presented {
            tenant: TENANT.into(),
            owner: OWNER.into(),
            token_hash: argus_fsm::signed::sha256(held.token.as_bytes()),
        }
    }

    fn operator_commands(&mut self, node: usize, held: Held) {
        // `lifecycle::run_command`: a tenant or agent change in flight here is stored first.
        let pending = self.nodes[node].writer.unflushed();
        if pending.tenants.iter().any(|t| t == TENANT) || pending.agents.contains(&held.agent) {
            return self.wait_all(node, held);
        }
        let current = self.ensure_current(node);
        let presented = Self::presented(&held);
        match self.bound(node, &presented) {
            Err(_) => self.stats.refused += 1,
            Ok(session) => {
                let replay = self.nodes[node].agents.get(&held.agent).map(|a| a.patches.clone()).unwrap_or_default();
                let patch_key = self.patch_key;
                let agent = self.agents.iter().position(|a| a.id == held.agent).expect("a held session's agent");
                let facts = command::Facts {
                    session,
                    presented,
                    actor: OWNER.into(),
                    replay: &replay,
                    patch_key: Some(&patch_key),
                    current,
                    tenant_ends: argus_ops::decide::end::sessions_end_for(&self.nodes[node].tenant),
                    now: self.node_now(node),
                };
                // A quarter of commands apply one of the agent's few signed patches, so the same
                // patch is asked again and again, on every node, whatever their views.
                let request = if self.rng.random_bool(0.25) {
                    let patch = self.patches[agent][self.rng.random_range(0..PATCHES_PER_AGENT)].clone();
                    command::Request {
                        tenant: TENANT.into(),
                        command: "apply_patch".into(),
                        args: serde_json::json!({ "patch": patch }),
                    }
                } else {
                    command::Request { tenant: TENANT.into(), command: "ping".into(), args: serde_json::json!({}) }
                };
                let op = Run::start(request, facts);
                let asked = Asked::Command { session_id: held.session_id };
                self.start(node, asked, Some(Op::Run(op)), Event::Start);
            }
        }
    }

    fn operator_deactivates(&mut self, node: usize, held: Held) {
        self.ensure_current(node);
        let presented = Self::presented(&held);
        match self.bound(node, &presented) {
            Err(_) => self.stats.refused += 1,
            Ok(session) => {
                let op = End::start(
                    Some(session),
                    SessionEvent::Deactivate,
                    By { actor: OWNER.into(), ..By::default() },
                    self.node_now(node),
                );
                let asked = Asked::Deactivate { session_id: held.session_id };
                match op {
                    Some(op) => self.start(node, asked, Some(Op::End(op)), Event::Start),
                    None => self.stats.refused += 1,
                }
            }
        }
    }

    fn expiry(&mut self, node: usize) {
        self.ensure_current(node);
        let now = self.node_now(node);
        for id in end::lapsed(self.nodes[node].sessions.values(), now) {
            let stored = self.nodes[node].sessions.get(&id).cloned();
            if let Some(op) = End::start(stored, SessionEvent::Timeout, By::system(), now) {
                self.start(node, Asked::Expire, Some(Op::End(op)), Event::Start);
            }
        }
        // `lifecycle::expiry_driver`: sessions of a tenant that may have none end too.
        let tenants = [(TENANT.to_string(), self.nodes[node].tenant.clone())].into_iter().collect();
        let unflushed = self.nodes[node].writer.unflushed().sessions;
        for (id, reason) in end::orphaned(self.nodes[node].sessions.values(), &tenants, &unflushed) {
            let stored = self.nodes[node].sessions.get(&id).cloned();
            if let Some(op) = End::start(stored, SessionEvent::End(reason), By::system(), now) {
                self.start(node, Asked::Expire, Some(Op::End(op)), Event::Start);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // The driver: performs each step of an operation on the simulated world.

    fn advance(&mut self, op_id: u64) {
        loop {
            let Some(op) = self.ops.get_mut(&op_id) else { return };
            let Waiting::Ready(_) = op.waiting else { return };
            let Waiting::Ready(event) = std::mem::replace(&mut op.waiting, Waiting::Nothing) else { unreachable!() };
            let node = op.node;
            let Some(machine) = op.stack.last_mut() else {
                if let Asked::Flushed { .. } = op.asked {
                    let asked = op.asked.clone();
                    let answer = match event {
                        Event::Stored(stored) => stored.map(|()| Some(Answer::Carried)),
                        other => self.fail(format!("a wait for the writer resumed with {other:?}")),
                    };
                    return self.acknowledge(op_id, asked, answer);
                }
                // Otherwise only a deactivation or a revocation outlives its machine: it waits
                // for acknowledgements.
                if let Asked::Revoke { .. } = op.asked {
                    self.finish_revocation(op_id);
                } else {
                    self.finish_deactivation(op_id);
                }
                return;
            };
            let Step { tell, then } = machine.next(event);
            for told in tell {
                self.tell(op_id, node, told);
            }
            let next = self.perform(op_id, node, then);
            if let Some(op) = self.ops.get_mut(&op_id) {
                op.waiting = next;
            }
        }
    }

    fn tell(&mut self, op_id: u64, node: usize, told: Tell) {
        match told {
            Tell::Grant { agent_id, grant } => {
                if let Some(agent) = self.route(node, &agent_id) {
                    self.control(agent, Message::Grant { agent, grant, verdict: None });
                }
            }
            Tell::End { agent_id, session_id, reason } => {
                let ack = self.id();
                let waits = matches!(
                    self.ops.get(&op_id).map(|o| &o.asked),
                    Some(Asked::Deactivate { .. } | Asked::Revoke { .. })
                );
                if let Some(agent) = self.route(node, &agent_id) {
                    if waits {
                        self.acks.insert(ack, op_id);
                        let op = self.ops.get_mut(&op_id).expect("op");
                        op.acks.insert(ack);
                        op.told += 1;
                    }
                    self.control(agent, Message::End { agent, session_id, reason, ack: waits.then_some((node, ack)) });
                }
            }
            Tell::Forget { session_id } => {
                self.nodes[node].sessions.remove(&session_id);
            }
            // `lifecycle::Followups`: cut once the ends told are acknowledged (or the wait is
            // over), before the revocation is answered (`finish_revocation`).
            Tell::Disconnect { agent_id } => {
                if let Some(op) = self.ops.get_mut(&op_id) {
                    op.cut_off.push(agent_id);
                }
            }
        }
    }

    /// Where a node reaches an agent: its own link, else the holder the store names (over the
    /// peer link, if not cut), else nowhere.
    fn route(&self, node: usize, agent_id: &str) -> Option<usize> {
        let agent = self.agents.iter().position(|a| a.id == agent_id)?;
        let holder = self.agents[agent].link?;
        if self.cut_agents.contains(&(holder, agent)) || !self.nodes[holder].up {
            return None;
        }
        if holder == node {
            return Some(agent);
        }
        if self.store.up(self.now).is_err() || self.cut_nodes.contains(&(node.min(holder), node.max(holder))) {
            return None;
        }
        Some(agent)
    }

    /// A message on an agent's control stream: in order after the ones before it.
    fn control(&mut self, agent: usize, message: Message) {
        if self.rng.random_bool(self.shape.drop) {
            self.stats.dropped += 1;
            self.lost(message);
            return;
        }
        let at = (self.now + self.rng.random_range(1..40)).max(self.agents[agent].control_at + 1);
        self.agents[agent].control_at = at;
        self.seq += 1;
        self.queue.insert((at, self.seq), message);
    }

    fn perform(&mut self, op_id: u64, node: usize, then: Then<Answer>) -> Waiting {
        let now = self.node_now(node);
        match then {
            Then::ClaimLiveSession { agent_id, session_id, expires_at } => Waiting::Ready(Event::Claimed(
                self.store
                    .up(self.now)
                    .map(|()| self.store.claim_live_session(&agent_id, &session_id, expires_at, now, self.now)),
            )),
            Then::ClaimEnd { ended, entry } => Waiting::Ready(Event::EndClaimed(self.claim_end(node, *ended, entry))),
            Then::Commit { writes, audit } => self.stage(op_id, node, writes, audit),
            Then::Audit(audit) => self.stage(op_id, node, vec![], audit),
            Then::StoreQuietly { writes } => {
                // `Registry::record_quietly`: staged, nobody waits; the view takes what was staged.
                let at = self.node_now(node);
                if self.nodes[node].writer.stage(writes.clone(), vec![], at).is_ok() {
                    self.view_takes(node, &writes);
                }
                Waiting::Ready(Event::Stored(Ok(())))
            }
            Then::Live(live) => {
                Waiting::Ready(Event::Live(end::still_active(self.nodes[node].sessions.values(), |s| match &live {
                    Live::OfAgent(agent_id) => &s.agent_id == agent_id,
                    Live::OfTenant(tenant) => &s.tenant == tenant,
                })))
            }
            Then::ConsumePatch { agent_id, patch_id, audit } => {
                let mut writes = vec![];
                if let Some(mut record) = self.nodes[node].agents.get(&agent_id).cloned() {
                    record.patches.insert(&patch_id);
                    writes.push(Write::Agent(record));
                }
                self.stage(op_id, node, writes, audit)
            }
            Then::Relay { agent_id, grant, command } => {
                let relay = self.id();
                self.relays.insert(relay, op_id);
                self.schedule(COMMAND_TIMEOUT_MS, Message::RelayTimeout { node, relay });
                match self.route(node, &agent_id) {
                    None => self.schedule(1, Message::Reply { node, relay, answer: Err(Code::AgentOffline.into()) }),
                    Some(agent) => {
                        let holder = self.agents[agent].link.expect("routed");
                        let via = (holder != node).then_some(holder);
                        self.send(Message::Request { agent, grant, command, from: node, relay, via });
                    }
                }
                Waiting::Relay(relay)
            }
            // As a relay: the verdict (or the link's silence) comes back under a relay ID.
            Then::ConfirmGrant { agent_id, grant } => {
                let relay = self.id();
                self.relays.insert(relay, op_id);
                self.schedule(GRANT_VERDICT_TIMEOUT_MS, Message::RelayTimeout { node, relay });
                match self.route(node, &agent_id) {
                    None => self.schedule(1, Message::Reply { node, relay, answer: Err(Code::AgentOffline.into()) }),
                    Some(agent) => self.control(agent, Message::Grant { agent, grant, verdict: Some((node, relay)) }),
                }
                Waiting::Confirm(relay)
            }
            Then::End { session_id, event, actor, note, access } => {
                let stored = self.nodes[node].sessions.get(&session_id).cloned();
                match End::start(stored, event, By { actor, note, access }, now) {
                    Some(end) => {
                        self.ops.get_mut(&op_id).expect("op").stack.push(Op::End(end));
                        Waiting::Ready(Event::Start)
                    }
                    None => Waiting::Ready(Event::Ended(Ok(None))),
                }
            }
            Then::Answer(answer) => self.answered(op_id, answer),
        }
    }

    /// Stages a batch (applied to the node's view at once, as the registry does) and flushes it
    /// a moment later; the operation resumes when the flush answers.
    fn stage(&mut self, op_id: u64, node: usize, writes: Vec<Write>, audit: Vec<AuditEntry>) -> Waiting {
        let at = self.node_now(node);
        let generation = match self.nodes[node].writer.stage(writes.clone(), audit, at) {
            Ok(generation) => generation,
            Err(_) => return Waiting::Ready(Event::Stored(Err(Code::StoreUnavailable.into()))),
        };
        self.view_takes(node, &writes);
        let batch = self.id();
        self.batches.insert(batch, (node, op_id, generation));
        let delay = self.rng.random_range(1..20);
        self.schedule(delay, Message::Flush { node, batch });
        Waiting::Flush
    }

    /// The node's view takes what it staged (`Registry::commit` applies it at once).
    fn view_takes(&mut self, node: usize, writes: &[Write]) {
        for write in writes {
            match write {
                Write::Session(session) => {
                    self.nodes[node].sessions.insert(session.id.clone(), session.clone());
                }
                Write::Agent(agent) => {
                    self.nodes[node].agents.insert(agent.agent_id.clone(), agent.clone());
                }
                Write::Tenant(tenant) => self.nodes[node].tenant = tenant.clone(),
                _ => {}
            }
        }
    }

    /// A machine answered: pop it; the one below (if any) resumes with its end.
    fn answered(&mut self, op_id: u64, answer: Result<Answer, Fault>) -> Waiting {
        let op = self.ops.get_mut(&op_id).expect("op");
        op.stack.pop();
        if !op.stack.is_empty() {
            let event = match answer {
                Ok(Answer::Ended(ended)) => Event::Ended(Ok(ended)),
                Err(fault) => Event::Ended(Err(fault)),
                Ok(other) => self.fail(format!("a nested operation answered {other:?}")),
            };
            return Waiting::Ready(event);
        }
        let asked = op.asked.clone();
        match (asked, answer) {
            (Asked::Deactivate { .. }, Ok(Answer::Ended(ended))) => {
                let reason = ended.map(|(reason, _)| reason);
                let op = self.ops.get_mut(&op_id).expect("op");
                op.ended = Some(reason);
                if end::deactivation(reason).is_ok() && !op.acks.is_empty() {
                    let until = self.now + END_ACK_TIMEOUT_MS;
                    self.schedule(END_ACK_TIMEOUT_MS, Message::AckDeadline { op: op_id });
                    return Waiting::Acks { until };
                }
                Waiting::Ready(Event::Start)
            }
            (Asked::Revoke { .. }, Ok(Answer::Carried)) => {
                let op = self.ops.get_mut(&op_id).expect("op");
                if !op.acks.is_empty() {
                    let until = self.now + END_ACK_TIMEOUT_MS;
                    self.schedule(END_ACK_TIMEOUT_MS, Message::AckDeadline { op: op_id });
                    return Waiting::Acks { until };
                }
                Waiting::Ready(Event::Start)
            }
            (asked, answer) => {
                if let (Asked::Revoke { .. }, Err(_)) = (&asked, &answer) {
                    // A revocation that failed part way cuts what it named at once, here only.
                    let op = self.ops.get_mut(&op_id).expect("op");
                    let (at, cut_off) = (op.node, std::mem::take(&mut op.cut_off));
                    for agent_id in cut_off {
                        if let Some(agent) = self.agents.iter().position(|a| a.id == agent_id && a.link == Some(at)) {
                            self.drop_link(agent);
                        }
                    }
                }
                self.acknowledge(op_id, asked, answer.map(Some));
                Waiting::Nothing
            }
        }
    }

    /// A revocation's ends are acknowledged (or its bounded wait is over): its links are cut —
    /// here at once, on another node through the holder when it can be reached
    /// (`Reach::cut_off`) — and then it is answered.
    fn finish_revocation(&mut self, op_id: u64) {
        let Some(op) = self.ops.get_mut(&op_id) else { return };
        let (node, asked, cut_off) = (op.node, op.asked.clone(), std::mem::take(&mut op.cut_off));
        let all_acked = op.acks.is_empty() && op.acked == op.told;
        let mut confirmed = true;
        for agent_id in cut_off {
            let Some(agent) = self.agents.iter().position(|a| a.id == agent_id) else { continue };
            if self.agents[agent].link.is_none() {
                continue;
            }
            if self.route(node, &agent_id).is_some() {
                self.drop_link(agent);
            } else {
                confirmed = false;
            }
        }
        if let (Asked::Revoke { agent }, true) = (&asked, confirmed && all_acked) {
            self.revoked_cut.entry(agent.clone()).or_insert(self.now);
            self.stats.revocations_cut += 1;
        }
        self.acknowledge(op_id, asked, Ok(Some(Answer::Carried)));
    }

    /// The tenant's admin arms or disarms it on `node`: the production decision
    /// (`records::tenant_transition`), carried out — stored, then (a disarm) the tenant's
    /// sessions ended.
    fn tenant_admin(&mut self, node: usize, action: TenantAction) {
        use argus_fsm::tenant::TenantEvent;
        use argus_ops::store::audit::AuditEvent;
        self.ensure_current(node);
        let now = self.node_now(node);
        let tenant = &self.nodes[node].tenant;
        let decided = match action {
            TenantAction::Arm => {
                records::tenant_transition(tenant, TenantEvent::Arm, AuditEvent::TenantArmed, OWNER, "sim", now)
            }
            TenantAction::Disarm => {
                records::tenant_transition(tenant, TenantEvent::Disarm, AuditEvent::TenantDisarmed, OWNER, "sim", now)
            }
            TenantAction::Withdraw => records::tenant_transition(
                tenant,
                TenantEvent::WithdrawConsent,
                AuditEvent::TenantConsentWithdrawn,
                OWNER,
                "sim",
                now,
            ),
            TenantAction::Consent => {
                // A consent document signed with the tenant's key, verified as the route does.
                let body = ConsentBody {
                    version: 1,
                    tenant: TENANT.into(),
                    signer: "admin@t1".into(),
                    issued_at: 0,
                    expires_at: None,
                };
                let envelope = sign_consent(&SigningKey::from_bytes(&CONSENT_KEY), &body);
                let key = VerifyingKey::from_bytes(&tenant.consent_key).expect("the tenant's key");
                let verified = verify_consent(&envelope, &key).expect("signed with the tenant's key");
                records::record_consent(tenant, verified, "k", OWNER, now)
            }
        };
        match decided {
            Ok((_, decision)) => self.carry_out(node, Asked::Tenant { action }, decision),
            Err(_) => self.stats.refused += 1,
        }
    }

    /// Revokes an agent: the production decision (`records::revoke_agent`), carried out as
    /// `lifecycle::carry_out` does — stored, then the link cut, then its sessions ended.
    fn operator_revokes(&mut self, node: usize, agent: usize) {
        self.ensure_current(node);
        let agent_id = self.agents[agent].id.clone();
        let Some(record) = self.nodes[node].agents.get(&agent_id).cloned() else { return };
        let decision = match records::revoke_agent(&record, "sim", OWNER, self.node_now(node)) {
            Ok(decision) => decision,
            Err(_) => {
                self.stats.refused += 1;
                return;
            }
        };
        self.carry_out(node, Asked::Revoke { agent: agent_id }, decision);
    }

    /// `Writer::wait_all` on `node` (the wait of an empty batch covers everything staged before
    /// it), then the command on `held` goes on.
    fn wait_all(&mut self, node: usize, held: Held) {
        self.next_op += 1;
        let op_id = self.next_op;
        let op = InFlight {
            node,
            asked: Asked::Flushed { held },
            stack: vec![],
            waiting: Waiting::Nothing,
            acks: BTreeSet::new(),
            ended: None,
            acked: 0,
            told: 0,
            cut_off: Vec::new(),
        };
        self.ops.insert(op_id, op);
        let waiting = self.stage(op_id, node, vec![], vec![]);
        self.ops.get_mut(&op_id).expect("op").waiting = waiting;
        self.advance(op_id);
    }

    /// Carries out `decision` on `node`: the production [`Carry`] operation, as
    /// `lifecycle::carry_out` drives it (stored, then what follows, in order).
    fn carry_out(&mut self, node: usize, asked: Asked, decision: records::Decision) {
        self.start(node, asked, Some(Op::Carry(Carry::start(decision))), Event::Start);
    }

    /// The agent tells its node where its kill switch is (on a change, and in its manifest on
    /// every (re)connection). A lost control stream is a lost link: it reconnects and reports.
    fn report_switch(&mut self, agent: usize) {
        let Some(node) = self.agents[agent].link else { return };
        if self.rng.random_bool(self.shape.drop) {
            self.stats.dropped += 1;
            self.drop_link(agent);
            return;
        }
        let on = self.agents[agent].switch_on;
        let at = (self.now + self.rng.random_range(1..40)).max(self.agents[agent].control_at + 1);
        self.seq += 1;
        self.queue.insert((at, self.seq), Message::Switch { agent, node, on });
    }

    /// A node carries out the production decision for a kill-switch report
    /// (`records::kill_switch`), as it does a revocation: stored, then the sessions ended.
    fn switch_reported(&mut self, node: usize, agent: usize, on: bool) {
        if !self.nodes[node].up || self.agents[agent].link != Some(node) {
            return;
        }
        self.ensure_current(node);
        let agent_id = self.agents[agent].id.clone();
        let Some(record) = self.nodes[node].agents.get(&agent_id).cloned() else { return };
        let decision = records::kill_switch(&record, on);
        let changed = !records::is_quiet(&decision);
        self.carry_out(node, Asked::KillSwitch { agent: agent_id, on, changed }, decision);
    }

    fn finish_deactivation(&mut self, op_id: u64) {
        let Some(op) = self.ops.get(&op_id) else { return };
        let asked = op.asked.clone();
        let agent_acked = op.acked > 0 && op.acks.is_empty();
        if let Asked::Deactivate { session_id } = &asked {
            self.agent_acked.insert(session_id.clone(), agent_acked);
        }
        let answer = match op.ended {
            Some(reason) => end::deactivation(reason).map(|()| None),
            None => Err(Code::Internal.into()),
        };
        self.acknowledge(op_id, asked, answer);
    }

    /// An end told is acknowledged by the agent (`by_agent`), or its stream failed.
    fn resolve_ack(&mut self, node: usize, ack: u64, by_agent: bool) {
        let Some(op_id) = self.acks.remove(&ack) else { return };
        let Some(op) = self.ops.get_mut(&op_id).filter(|op| op.node == node) else { return };
        op.acks.remove(&ack);
        op.acked += usize::from(by_agent);
        if op.acks.is_empty() && matches!(op.waiting, Waiting::Acks { .. }) {
            op.waiting = Waiting::Ready(Event::Start);
            self.advance(op_id);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Answers, and the checks on them.

    fn acknowledge(&mut self, op_id: u64, asked: Asked, answer: Result<Option<Answer>, Fault>) {
        if self.trace {
            eprintln!("t={} op {op_id} {asked:?} answered {answer:?}", self.now);
        }
        let node_of = self.ops.remove(&op_id).map_or(0, |op| op.node);
        let Ok(answer) = answer else {
            self.stats.refused += 1;
            return;
        };
        self.stats.acknowledged += 1;
        let records = |event: &str, session: &str| {
            self.store.audit.iter().filter(|r| r.event == event && r.session_id.as_deref() == Some(session)).count()
        };
        match (asked, answer) {
            (Asked::Activate { agent }, Some(Answer::Activated(Activated { session, token }))) => {
                let n = records("remote_support_session_started", &session.id);
                if n != 1 {
                    self.fail(format!("activation of {} acknowledged with {n} start records", session.id));
                }
                self.held.push(Held { session_id: session.id, token, agent });
            }
            (Asked::Command { session_id }, Some(Answer::Ran(ran))) => {
                let said = match &ran.command {
                    argus_fsm::command::Command::ApplyPatch { .. } => ran.result.contains("\"patch_id\""),
                    _ => ran.result == PONG,
                };
                if !said {
                    self.fail(format!("a command on {session_id} answered {:?}, not what the agent said", ran.result));
                }
                let acked = self.commands_acknowledged.entry(session_id.clone()).or_default();
                *acked += 1;
                let acked = *acked;
                let recorded = self
                    .store
                    .audit
                    .iter()
                    .filter(|r| {
                        r.event == "remote_support_command"
                            && r.session_id.as_deref() == Some(&session_id)
                            && r.details.get("outcome").and_then(|o| o.as_str()) == Some("ok")
                    })
                    .count();
                if recorded < acked {
                    self.fail(format!("{acked} commands acknowledged on {session_id}, {recorded} recorded"));
                }
            }
            (Asked::Deactivate { session_id }, None) => {
                let n = records("remote_support_session_ended", &session_id);
                if n != 1 {
                    self.fail(format!("deactivation of {session_id} acknowledged with {n} end records"));
                }
                let agent_acked = self.agent_acked.remove(&session_id).unwrap_or(false);
                self.stats.deactivations += 1;
                self.stats.deactivations_agent_acked += usize::from(agent_acked);
                self.end_acknowledged.entry(session_id).or_insert((self.now, agent_acked));
            }
            (Asked::Expire, _) => {}
            (Asked::KillSwitch { agent, on, changed }, Some(Answer::Carried)) => {
                self.stats.kill_switches += 1;
                // A change is recorded (`kill_switch_on`/`_off`); a repeated report records nothing.
                let event = if on { "kill_switch_on" } else { "kill_switch_off" };
                if changed && self.store.audit.iter().all(|r| !(r.event == event && r.agent.as_deref() == Some(&agent)))
                {
                    self.fail(format!("{agent}'s kill switch ({event}) acknowledged without any record of it"));
                }
            }
            (Asked::Revoke { agent }, Some(Answer::Carried)) => {
                let n = self
                    .store
                    .audit
                    .iter()
                    .filter(|r| r.event == "agent_revoked" && r.agent.as_deref() == Some(&agent))
                    .count();
                // Two nodes may both revoke (each view said enrolled): a tombstone is idempotent,
                // and each acknowledged revocation has its record.
                if n == 0 {
                    self.fail(format!("revocation of {agent} acknowledged without its record"));
                }
                self.stats.revocations += 1;
                self.stats.revoked_twice += usize::from(n > 1);
                self.revoked.entry(agent).or_insert(self.now);
            }
            (Asked::Tenant { action }, Some(Answer::Carried)) => {
                let event = match action {
                    TenantAction::Arm => "tenant_armed",
                    TenantAction::Disarm => "tenant_disarmed",
                    TenantAction::Withdraw => "tenant_consent_withdrawn",
                    TenantAction::Consent => "tenant_consent_recorded",
                };
                if self.store.audit.iter().all(|r| r.event != event) {
                    self.fail(format!("{event} acknowledged without its record"));
                }
                self.stats.tenant_changes += 1;
                self.stats.withdrawals += usize::from(matches!(action, TenantAction::Withdraw));
            }
            (Asked::Flushed { held }, Some(Answer::Carried)) if self.nodes[node_of].up => {
                self.operator_commands(node_of, held)
            }
            (Asked::Flushed { .. }, Some(Answer::Carried)) => {}
            (asked, answer) => self.fail(format!("{asked:?} answered {answer:?}")),
        }
    }

    /// The invariants that hold after every step.
    fn check(&mut self) {
        // A patch is applied (and recorded applied) at most once.
        let mut recorded: BTreeMap<&str, usize> = BTreeMap::new();
        for record in self.store.audit.iter().filter(|r| r.event == "patch_applied") {
            let id = record.details.get("patch_id").and_then(|id| id.as_str()).unwrap_or("");
            *recorded.entry(id).or_default() += 1;
        }
        if let Some((id, n)) =
            recorded.iter().find(|(id, n)| **n > 1 || self.applied.get(**id).is_none_or(|a| *a < **n))
        {
            self.fail(format!("patch {id} recorded applied {n} times, applied {:?}", self.applied.get(*id)));
        }
        // The chain is unbroken, and so is every tenant's.
        for i in self.checked_audit..self.store.audit.len() {
            let record = &self.store.audit[i];
            if record.seq != i as u64 + 1 || record_hash(record) != record.hash {
                self.fail(format!("audit record {} is not in the chain", record.seq));
            }
            if let Err(why) = argus_fsm::audit::check_tenant_link(record, &mut self.checked_tenants) {
                self.fail(format!("audit record {}: {why}", record.seq));
            }
            if i > 0 && record.prev_hash != self.store.audit[i - 1].hash {
                self.fail(format!("audit record {} does not follow its predecessor", record.seq));
            }
        }
        self.checked_audit = self.store.audit.len();
        // Every end recorded at most once.
        let mut ends: BTreeMap<&str, usize> = BTreeMap::new();
        for record in &self.store.audit {
            if record.event == "remote_support_session_ended" {
                *ends.entry(record.session_id.as_deref().unwrap_or("")).or_default() += 1;
            }
        }
        if let Some((session, n)) = ends.iter().find(|(_, n)| **n > 1) {
            self.fail(format!("the end of {session} is recorded {n} times"));
        }
        // At most one live session per agent (live beyond the clocks' skew).
        let mut live: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, session) in &self.store.sessions {
            if self.store.active.get(id) == Some(&true) && session.is_live(Timestamp(self.now + MAX_SKEW_MS)) {
                *live.entry(session.agent_id.as_str()).or_default() += 1;
            }
        }
        if let Some((agent, n)) = live.iter().find(|(_, n)| **n > 1) {
            self.fail(format!("agent {agent} has {n} live sessions"));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Messages arrive.

    fn deliver(&mut self, message: Message) {
        if self.trace {
            eprintln!("t={} deliver {message:?}", self.now);
        }
        match message {
            Message::Grant { agent, grant, verdict } => {
                let now = Timestamp(self.now + self.agents[agent].skew);
                let effects = self.agents[agent].sessions.handle(AgentSessionEvent::Granted(grant), now);
                if let (Ok(effects), Some((node, relay))) = (effects, verdict) {
                    for effect in effects {
                        match effect {
                            AgentSessionEffect::AcceptGrant { .. } => {
                                self.send(Message::Reply { node, relay, answer: Ok(String::new()) })
                            }
                            AgentSessionEffect::RefuseGrant { code, .. } => {
                                self.send(Message::Reply { node, relay, answer: Err(code.into()) })
                            }
                            _ => {}
                        }
                    }
                }
            }
            Message::End { agent, session_id, reason, ack } => {
                let now = Timestamp(self.now + self.agents[agent].skew);
                let effects = self.agents[agent].sessions.handle(AgentSessionEvent::Ended { session_id, reason }, now);
                if let (Ok(effects), Some((node, ack))) = (effects, ack) {
                    if effects.iter().any(|e| matches!(e, AgentSessionEffect::AcknowledgeEnd { .. })) {
                        self.send(Message::EndAck { node, ack });
                    }
                }
            }
            Message::Request { agent, grant, command, from, relay, via } => {
                // Sent on a link that closed meanwhile: QUIC never hands its streams over.
                if self.agents[agent].link != Some(via.unwrap_or(from)) {
                    self.send(Message::Reply { node: from, relay, answer: Err(Code::AgentOffline.into()) });
                    return;
                }
                let answer = self.agent_runs(agent, &grant, &command, via);
                self.send(Message::Reply { node: from, relay, answer });
            }
            Message::Reply { node, relay, answer } => {
                let Some(op_id) = self.relays.remove(&relay) else { return };
                if let Some(op) = self.ops.get_mut(&op_id) {
                    if op.node != node {
                        return;
                    }
                    match op.waiting {
                        Waiting::Relay(r) if r == relay => op.waiting = Waiting::Ready(Event::Relayed(answer)),
                        Waiting::Confirm(r) if r == relay => {
                            op.waiting = Waiting::Ready(Event::Confirmed(answer.map(drop)))
                        }
                        _ => return,
                    }
                    self.advance(op_id);
                }
            }
            Message::RelayTimeout { node, relay } => {
                self.deliver(Message::Reply { node, relay, answer: Err(Code::AgentTimeout.into()) });
            }
            Message::AckDeadline { op: op_id } => {
                // A deactivation's bounded wait is over: it answers anyway.
                if let Some(op) = self.ops.get_mut(&op_id) {
                    if matches!(op.waiting, Waiting::Acks { until } if until <= self.now) {
                        op.waiting = Waiting::Ready(Event::Start);
                        self.advance(op_id);
                    }
                }
            }
            Message::EndAck { node, ack } => self.resolve_ack(node, ack, true),
            Message::Flush { node, batch } => self.flush(node, batch),
            Message::Announce { node, sessions, agents, tenants } => {
                // LISTEN/NOTIFY does not lose a notification on a live connection; a lost
                // connection re-reads everything once the store is back.
                if self.store.up(self.now).is_err() {
                    let after = self.store.outage_until - self.now + 1;
                    self.schedule(after, Message::Announce { node, sessions, agents, tenants });
                } else {
                    self.announced(node, sessions, agents, tenants);
                }
            }
            Message::Reconnect { agent } => self.reconnect(agent),
            Message::Switch { agent, node, on } => self.switch_reported(node, agent, on),
            Message::Restart { node } => self.restart(node),
        }
    }

    /// The agent decides with its own machine; what it runs is logged for the checks.
    fn agent_runs(
        &mut self,
        agent: usize,
        grant: &SessionGrant,
        command: &argus_fsm::command::Command,
        via: Option<usize>,
    ) -> Result<String, Fault> {
        // Relayed work is checked where it runs, against the store (SPEC §10).
        if let Some(holder) = via {
            self.store.up(self.now)?;
            let stored = self
                .store
                .sessions
                .get(&grant.session_id)
                .filter(|_| self.store.active.get(&grant.session_id) == Some(&true));
            let claim = argus_ops::listen::peers::Claim {
                agent_id: &self.agents[agent].id,
                session_id: &grant.session_id,
                holder: Some((&grant.tenant, &grant.owner)),
                live: true,
            };
            if argus_ops::listen::peers::judge(&claim, stored, Timestamp(self.now + self.nodes[holder].skew)).is_err() {
                return Err(Code::SessionNotFound.into());
            }
        }
        let now = Timestamp(self.now + self.agents[agent].skew);
        let switch_on = self.agents[agent].switch_on;
        match self.agents[agent].sessions.admit(grant, switch_on, now) {
            Ok(_) => {
                if !switch_on {
                    self.fail(format!("agent {} ran a command with its kill switch off", self.agents[agent].id));
                }
                // A disarm decided on any node ends every session of the tenant within 1 s,
                // also one activated on a node whose view had not seen it yet.
                if let Some(since) = self.store.disarmed_since {
                    if self.now > since + END_TAKES_EFFECT_MS {
                        self.fail(format!(
                            "agent {} ran a command on {} at t={}, the tenant disarmed or without consent since t={since}",
                            self.agents[agent].id, grant.session_id, self.now
                        ));
                    }
                }
                // A revocation answered once the link was cut and the agent had acknowledged
                // its ends: nothing runs after it.
                if let Some(&at) = self.revoked_cut.get(&self.agents[agent].id) {
                    if self.now > at {
                        self.fail(format!(
                            "agent {} ran a command at t={}, after its revocation was answered with its link cut at t={at}",
                            self.agents[agent].id, self.now
                        ));
                    }
                }
                // SPEC §10: a revocation decided on any node takes effect within 1 s.
                if let Some(&at) = self.revoked.get(&self.agents[agent].id) {
                    if self.now > at + END_TAKES_EFFECT_MS {
                        self.fail(format!(
                            "agent {} ran a command at t={}, after its revocation was acknowledged at t={at}",
                            self.agents[agent].id, self.now
                        ));
                    }
                }
                self.stats.commands_run += 1;
                *self.commands_run.entry(grant.session_id.clone()).or_default() += 1;
                // SPEC §12: an end the agent acknowledged before the operator was answered is
                // final at once; SPEC §10: any end takes effect on the agent's node within 1 s.
                if let Some(&(at, agent_acked)) = self.end_acknowledged.get(&grant.session_id) {
                    self.stats.late_within_bound += 1;
                    if agent_acked || self.now > at + END_TAKES_EFFECT_MS {
                        self.fail(format!(
                            "agent {} ran a command on {} at t={}, after its end was acknowledged at t={at} (agent acknowledged: {agent_acked})",
                            self.agents[agent].id, grant.session_id, self.now
                        ));
                    }
                }
                match command {
                    argus_fsm::command::Command::ApplyPatch { patch } => self.agent_applies(agent, patch, now),
                    _ => Ok(PONG.into()),
                }
            }
            Err(refusal) => Err(Fault::new(refusal.code(), refusal.to_string())),
        }
    }

    /// The agent's own patch guards (`argus_fsm::patch`, as `argus-agent` runs them): verified
    /// under the pinned key, for this agent, in its window, never applied before. An applied
    /// patch enters its replay memory before the answer; applying one twice breaks the rule.
    fn agent_applies(&mut self, agent: usize, patch: &Envelope, now: Timestamp) -> Result<String, Fault> {
        let context = PatchContext {
            pinned_key: &self.patch_key,
            agent_id: &self.agents[agent].id,
            now,
            replay: &self.agents[agent].replay,
        };
        let plan = admit(patch, &context)
            .and_then(|admitted| admitted.plan(None))
            .map_err(|rejection| Fault::new(rejection.code(), format!("{rejection:?}")))?;
        let applied = plan.applied(&mut self.agents[agent].replay);
        let times = {
            let times = self.applied.entry(applied.patch_id.clone()).or_default();
            *times += 1;
            *times
        };
        if times > 1 {
            self.fail(format!("patch {} applied {} times", applied.patch_id, times));
        }
        self.stats.patches_applied += 1;
        Ok(serde_json::to_string(&applied).expect("an application serializes"))
    }

    /// An end claim (`Store::end_claim`), answered either way a store may: as PostgreSQL does
    /// (the flag, the ended session and its record re-chained after the head, in one
    /// transaction: `Recorded`), or as one writer does (the flag only, the record following in
    /// the node's group: `Won`); the core must be right with both. Like any commit, the answer
    /// of one that landed is sometimes lost (answered 503).
    fn claim_end(&mut self, node: usize, ended: Session, entry: AuditEntry) -> Result<EndClaim, Fault> {
        self.store.up(self.now)?;
        if !self.store.end_claim(&ended.id) {
            return Ok(EndClaim::Lost);
        }
        if self.rng.random_bool(0.5) {
            return Ok(EndClaim::Won);
        }
        let record = self.nodes[node].writer.record_of(entry, self.node_now(node));
        let writes = vec![Write::Session(ended), Write::Audit(record)];
        self.store.write_group(writes.clone(), self.now);
        self.announce(node, &writes);
        if self.rng.random_bool(0.01) {
            self.stats.lost_answers += 1;
            return Err(Code::StoreUnavailable.into());
        }
        Ok(EndClaim::Recorded)
    }

    /// Tells the other nodes what `node` wrote (PostgreSQL's notifications), after a delay.
    fn announce(&mut self, node: usize, writes: &[Write]) {
        let mut sessions = Vec::new();
        let mut agents = Vec::new();
        for write in writes {
            match write {
                Write::Session(s) => sessions.push(s.id.clone()),
                Write::Agent(a) => agents.push(a.agent_id.clone()),
                _ => {}
            }
        }
        let tenants = writes.iter().any(|w| matches!(w, Write::Tenant(_)));
        if !sessions.is_empty() || !agents.is_empty() || tenants {
            for other in (0..NODES).filter(|n| *n != node) {
                let delay = self.rng.random_range(1..40);
                let message =
                    Message::Announce { node: other, sessions: sessions.clone(), agents: agents.clone(), tenants };
                self.schedule(delay, message);
            }
        }
    }

    /// An operation's wait for its generation (`Writer::wait`): answered at once when another
    /// wait's group carried it or a failed one doomed it, else it writes everything pending.
    fn flush(&mut self, node: usize, batch: u64) {
        let Some((_, op_id, generation)) = self.batches.remove(&batch) else { return };
        let outcome = match self.nodes[node].writer.standing(generation) {
            Standing::Durable => Ok(()),
            Standing::Doomed => Err(Code::StoreUnavailable.into()),
            Standing::Pending => match self.nodes[node].writer.take() {
                None => Ok(()),
                Some(_) if self.store.up(self.now).is_err() => {
                    // A failed write dooms what this node staged: its view reloads from the store.
                    self.nodes[node].writer.failed();
                    Err(Code::StoreUnavailable.into())
                }
                Some(group) => {
                    let writes = group.writes.clone();
                    let head = self.store.write_group(group.writes.clone(), self.now);
                    self.nodes[node].writer.landed(group, head.as_ref());
                    self.announce(node, &writes);
                    if self.rng.random_bool(0.01) {
                        self.stats.lost_answers += 1;
                        Err(Code::StoreUnavailable.into())
                    } else {
                        Ok(())
                    }
                }
            },
        };
        self.resume(op_id, Event::Stored(outcome));
    }

    fn resume(&mut self, op_id: u64, event: Event) {
        if let Some(op) = self.ops.get_mut(&op_id) {
            op.waiting = Waiting::Ready(event);
            self.advance(op_id);
        }
    }

    /// Another node's writes reached this one: it reads them again, and an end of a session it
    /// knew live is told to the agent if this node holds its link (`cluster::apply`).
    fn announced(&mut self, node: usize, sessions: Vec<String>, agents: Vec<String>, tenants: bool) {
        if !self.nodes[node].up {
            return;
        }
        if let Some(stored) = self.store.tenant.clone().filter(|_| tenants) {
            // `cluster::apply`: what this node staged and has not stored is newer; the tenant's
            // sessions here end in the expiry sweep (`end::orphaned`) or at their next command.
            if !self.nodes[node].writer.unflushed().tenants.contains(&stored.id) {
                self.nodes[node].tenant = stored;
            }
        }
        for id in agents {
            let Some(stored) = self.store.agents.get(&id).cloned() else { continue };
            let unflushed_here = self.nodes[node].writer.unflushed().agents.contains(&id);
            let rule = argus_ops::decide::follow::agent(&stored, unflushed_here);
            if rule.disconnect {
                if let Some(agent) = self.agents.iter().position(|a| a.id == id && a.link == Some(node)) {
                    self.drop_link(agent);
                }
            }
            if rule.keep {
                self.nodes[node].agents.insert(id, stored);
            }
        }
        for id in sessions {
            let Some(stored) = self.store.sessions.get(&id).cloned() else { continue };
            let unflushed_here = self.nodes[node].writer.unflushed().sessions.contains(&id);
            let rule = argus_ops::decide::follow::session(self.nodes[node].sessions.get(&id), &stored, unflushed_here);
            if let Some(reason) = rule.tell_end {
                let agent = self.agents.iter().position(|a| a.id == stored.agent_id);
                if let Some(agent) =
                    agent.filter(|a| self.agents[*a].link == Some(node) && !self.cut_agents.contains(&(node, *a)))
                {
                    self.control(agent, Message::End { agent, session_id: id.clone(), reason, ack: None });
                }
            }
            if rule.keep {
                self.nodes[node].sessions.insert(id, stored);
            }
        }
    }

    /// An agent (re)connects to a live node, which welcomes it with the sessions it holds live.
    fn reconnect(&mut self, agent: usize) {
        let up: Vec<usize> =
            (0..NODES).filter(|n| self.nodes[*n].up && !self.cut_agents.contains(&(*n, agent))).collect();
        if up.is_empty() || self.store.up(self.now).is_err() {
            self.schedule(500, Message::Reconnect { agent });
            return;
        }
        let node = up[self.rng.random_range(0..up.len())];
        let id = self.agents[agent].id.clone();
        // A revoked agent is told so and stops trying (`agent_revoked`).
        if self.store.agents.get(&id).is_some_and(|a| a.enrollment.is_revoked()) {
            return;
        }
        // The handshake accepts only an agent this node's view holds enrolled.
        if self.nodes[node].agents.get(&id).is_none_or(|a| a.enrollment.passkey().is_none()) {
            self.schedule(1_000, Message::Reconnect { agent });
            return;
        }
        self.agents[agent].link = Some(node);
        self.store.presence.insert(id.clone(), node);
        let now = self.node_now(node);
        let grants: Vec<SessionGrant> =
            self.nodes[node].sessions.values().filter(|s| s.agent_id == id && s.is_live(now)).map(grant_of).collect();
        let agent_now = Timestamp(self.now + self.agents[agent].skew);
        let _ = self.agents[agent].sessions.handle(AgentSessionEvent::Welcome(grants), agent_now);
        self.report_switch(agent);
    }

    fn drop_link(&mut self, agent: usize) {
        if let Some(node) = self.agents[agent].link.take() {
            if self.store.presence.get(&self.agents[agent].id) == Some(&node) {
                self.store.presence.remove(&self.agents[agent].id);
            }
        }
        let after = self.rng.random_range(50..2_000);
        self.schedule(after, Message::Reconnect { agent });
    }

    fn crash(&mut self, node: usize) {
        self.stats.crashes += 1;
        self.nodes[node].up = false;
        // What it staged and did not write is gone with its writer (it restarts with a new
        // one); what it was doing is never answered.
        self.batches.retain(|_, (at, _, _)| *at != node);
        self.ops.retain(|_, op| op.node != node);
        for agent in 0..AGENTS {
            if self.agents[agent].link == Some(node) {
                self.drop_link(agent);
            }
        }
        let after = self.rng.random_range(1_000..10_000);
        self.schedule(after, Message::Restart { node });
    }

    fn restart(&mut self, node: usize) {
        let skew = self.nodes[node].skew;
        self.nodes[node] = Node { skew, ..Node::load(&self.store, node) };
    }

    // -----------------------------------------------------------------------------------------
    // The scheduler.

    fn step(&mut self) {
        self.stats.steps += 1;
        let roll = self.rng.random_range(0..100);
        let up: Vec<usize> = (0..NODES).filter(|n| self.nodes[*n].up).collect();
        let node = if up.is_empty() { None } else { Some(up[self.rng.random_range(0..up.len())]) };
        match (roll, node) {
            (0..=11, Some(node)) => {
                let agent = self.rng.random_range(0..AGENTS);
                self.operator_activates(node, agent);
            }
            (12..=35, Some(node)) if !self.held.is_empty() => {
                let held = self.held[self.rng.random_range(0..self.held.len())].clone();
                self.operator_commands(node, held);
            }
            (36..=41, Some(node)) if !self.held.is_empty() => {
                let held = self.held[self.rng.random_range(0..self.held.len())].clone();
                self.operator_deactivates(node, held);
            }
            (42..=45, Some(node)) => self.expiry(node),
            (46, Some(node)) if up.len() > 1 => self.crash(node),
            (47, _) => {
                self.stats.outages += 1;
                self.store.outage_until = self.now + self.rng.random_range(100..3_000);
                // Every node's listening connection drops: announcements may be missed.
                for node in &mut self.nodes {
                    node.writer.stale();
                }
            }
            (48, _) => {
                self.stats.partitions += 1;
                let (a, b) = (self.rng.random_range(0..NODES), self.rng.random_range(0..NODES));
                if a != b {
                    self.cut_nodes.insert((a.min(b), a.max(b)));
                }
                let (n, agent) = (self.rng.random_range(0..NODES), self.rng.random_range(0..AGENTS));
                self.cut_agents.insert((n, agent));
            }
            (49..=50, _) => {
                self.cut_nodes.clear();
                self.cut_agents.clear();
            }
            (51, _) => {
                self.stats.clock_jumps += 1;
                let n = self.rng.random_range(0..NODES);
                self.nodes[n].skew = self.rng.random_range(-MAX_SKEW_MS / 2..=MAX_SKEW_MS / 2);
                let a = self.rng.random_range(0..AGENTS);
                self.agents[a].skew = self.rng.random_range(-MAX_SKEW_MS / 2..=MAX_SKEW_MS / 2);
            }
            (53, Some(node)) if self.stats.steps > self.shape.steps * 2 / 3 && self.rng.random_bool(0.2) => {
                let agent = self.rng.random_range(0..AGENTS);
                self.operator_revokes(node, agent);
            }
            (54, _) => {
                // The machine's owner flips the kill switch: the agent ends its sessions at once
                // when it goes off, and reports it to its node.
                let agent = self.rng.random_range(0..AGENTS);
                let on = !self.agents[agent].switch_on;
                self.agents[agent].switch_on = on;
                if !on {
                    let now = Timestamp(self.now + self.agents[agent].skew);
                    let _ = self.agents[agent].sessions.handle(AgentSessionEvent::KillSwitchOff, now);
                }
                self.report_switch(agent);
            }
            (55, Some(node)) if self.rng.random_bool(0.3) => {
                let action = if self.rng.random_bool(0.25) { TenantAction::Withdraw } else { TenantAction::Disarm };
                self.tenant_admin(node, action);
            }
            (56..=58, Some(node)) if !self.nodes[node].tenant.armed() => {
                let consented = matches!(self.nodes[node].tenant.state, TenantState::Consented { .. });
                self.tenant_admin(node, if consented { TenantAction::Arm } else { TenantAction::Consent });
            }
            (52, _) => {
                self.stats.link_drops += 1;
                let agent = self.rng.random_range(0..AGENTS);
                self.drop_link(agent);
            }
            _ => {
                // Time passes: the next message arrives (or a quiet second goes by).
                match self.queue.pop_first() {
                    Some(((at, _), message)) => {
                        self.now = self.now.max(at);
                        self.deliver(message);
                    }
                    None => self.now += 1_000,
                }
            }
        }
        self.check();
    }

    fn run(mut self) -> Stats {
        for _ in 0..self.shape.steps {
            self.step();
        }
        // Quiesce: no new requests or faults; everything in flight lands.
        self.store.outage_until = 0;
        self.cut_nodes.clear();
        self.cut_agents.clear();
        let mut guard = 0;
        while let Some(((at, _), message)) = self.queue.pop_first() {
            self.now = self.now.max(at);
            self.deliver(message);
            self.check();
            guard += 1;
            if guard > 1_000_000 {
                self.fail("the queue never drains".into());
            }
        }
        self.stats.clone()
    }
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("ARGUS_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let count = std::env::var("ARGUS_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let first = std::env::var("ARGUS_SIM_FIRST").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    (first..first + count).collect()
}

#[test]
fn the_session_core_keeps_its_invariants_under_faults() {
    let mut total = Stats::default();
    let seeds = seeds();
    for seed in &seeds {
        let stats = Sim::new(*seed, Shape::default()).run();
        total.steps += stats.steps;
        total.acknowledged += stats.acknowledged;
        total.refused += stats.refused;
        total.commands_run += stats.commands_run;
        total.crashes += stats.crashes;
        total.outages += stats.outages;
        total.lost_answers += stats.lost_answers;
        total.partitions += stats.partitions;
        total.dropped += stats.dropped;
        total.duplicated += stats.duplicated;
        total.clock_jumps += stats.clock_jumps;
        total.link_drops += stats.link_drops;
        total.deactivations += stats.deactivations;
        total.deactivations_agent_acked += stats.deactivations_agent_acked;
        total.late_within_bound += stats.late_within_bound;
        total.revocations += stats.revocations;
        total.revocations_cut += stats.revocations_cut;
        total.revoked_twice += stats.revoked_twice;
        total.kill_switches += stats.kill_switches;
        total.patches_applied += stats.patches_applied;
        total.tenant_changes += stats.tenant_changes;
        total.withdrawals += stats.withdrawals;
    }
    eprintln!("{} seeds: {total:?}", seeds.len());
    // The run did what a simulation is for: operations were acknowledged and refused, and
    // every kind of fault happened.
    assert!(total.acknowledged > 0 && total.refused > 0 && total.commands_run > 0, "{total:?}");
    if seeds.len() >= 16 {
        assert!(total.crashes > 0 && total.outages > 0 && total.partitions > 0 && total.lost_answers > 0, "{total:?}");
        assert!(total.revocations_cut > 0, "no revocation was answered with its link cut: {total:?}");
    }
}

#[test]
fn a_seed_replays_exactly() {
    let shape = Shape { steps: 1_500, ..Shape::default() };
    let (a, b) = (Sim::new(7, shape).run(), Sim::new(7, shape).run());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
