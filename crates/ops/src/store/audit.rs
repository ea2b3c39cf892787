//! The tamper-evident audit trail: append-only records chained by SHA-256.
//!
//! `hash = SHA-256(prev_hash || canonical JSON of the record with "hash" empty)`. Changing,
//! removing or reordering any record breaks the chain at that record, which
//! `argus-ops audit verify` names.

use argus_fsm::Timestamp;
use serde_json::Value;

use crate::store::{Store, StoreError};
use crate::time_format::rfc3339;

pub use argus_fsm::audit::{record_hash, tenant_heads_after, AuditRecord, TenantHead, TenantHeads, GENESIS};

/// The audit events the server writes (SPEC §8), typed: no handler spells an event name, and
/// the names live in this one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    GateDenied,
    PatCreated,
    PatRevoked,
    TenantCreated,
    TenantConsentRecorded,
    TenantConsentWithdrawn,
    TenantArmed,
    TenantDisarmed,
    EnrollmentTokenIssued,
    AgentEnrolled,
    AgentEnrollRefused,
    AgentAuthFailed,
    AgentRevoked,
    RemoteSupportSessionStarted,
    RemoteSupportSessionEnded,
    RemoteSupportCommand,
    PatchApplied,
    PatchRejected,
    KillSwitchOff,
    KillSwitchOn,
    PeerRelayRefused,
    AccessRequested,
    AccessApproved,
    AccessDenied,
    AccessRequestExpired,
    TenantApprovalSet,
    AuditCheckpoint,
}

impl AuditEvent {
    /// Every event, in the order of the table.
    pub const ALL: [AuditEvent; 27] = [
        AuditEvent::GateDenied,
        AuditEvent::PatCreated,
        AuditEvent::PatRevoked,
        AuditEvent::TenantCreated,
        AuditEvent::TenantConsentRecorded,
        AuditEvent::TenantConsentWithdrawn,
        AuditEvent::TenantArmed,
        AuditEvent::TenantDisarmed,
        AuditEvent::EnrollmentTokenIssued,
        AuditEvent::AgentEnrolled,
        AuditEvent::AgentEnrollRefused,
        AuditEvent::AgentAuthFailed,
        AuditEvent::AgentRevoked,
        AuditEvent::RemoteSupportSessionStarted,
        AuditEvent::RemoteSupportSessionEnded,
        AuditEvent::RemoteSupportCommand,
        AuditEvent::PatchApplied,
        AuditEvent::PatchRejected,
        AuditEvent::KillSwitchOff,
        AuditEvent::KillSwitchOn,
        AuditEvent::PeerRelayRefused,
        AuditEvent::AccessRequested,
        AuditEvent::AccessApproved,
        AuditEvent::AccessDenied,
        AuditEvent::AccessRequestExpired,
        AuditEvent::TenantApprovalSet,
        AuditEvent::AuditCheckpoint,
    ];

    /// The event's name in records (`"event"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::GateDenied => "gate_denied",
            AuditEvent::PatCreated => "pat_created",
            AuditEvent::PatRevoked => "pat_revoked",
            AuditEvent::TenantCreated => "tenant_created",
            AuditEvent::TenantConsentRecorded => "tenant_consent_recorded",
            AuditEvent::TenantConsentWithdrawn => "tenant_consent_withdrawn",
            AuditEvent::TenantArmed => "tenant_armed",
            AuditEvent::TenantDisarmed => "tenant_disarmed",
            AuditEvent::EnrollmentTokenIssued => "enrollment_token_issued",
            AuditEvent::AgentEnrolled => "agent_enrolled",
            AuditEvent::AgentEnrollRefused => "agent_enroll_refused",
            AuditEvent::AgentAuthFailed => "agent_auth_failed",
            AuditEvent::AgentRevoked => "agent_revoked",
            AuditEvent::RemoteSupportSessionStarted => "remote_support_session_started",
            AuditEvent::RemoteSupportSessionEnded => "remote_support_session_ended",
            AuditEvent::RemoteSupportCommand => "remote_support_command",
            AuditEvent::PatchApplied => "patch_applied",
            AuditEvent::PatchRejected => "patch_rejected",
            AuditEvent::KillSwitchOff => "kill_switch_off",
            AuditEvent::KillSwitchOn => "kill_switch_on",
            AuditEvent::PeerRelayRefused => "peer_relay_refused",
            AuditEvent::AccessRequested => "access_requested",
            AuditEvent::AccessApproved => "access_approved",
            AuditEvent::AccessDenied => "access_denied",
            AuditEvent::AccessRequestExpired => "access_request_expired",
            // Not in SPEC §8's list: a tenant's flag requiring approvals is a security setting,
            // and every such change is recorded (docs/decisions/approvals-activation.md).
            AuditEvent::TenantApprovalSet => "tenant_approval_set",
            AuditEvent::AuditCheckpoint => "audit_checkpoint",
        }
    }

    /// The kill-switch record for a new state.
    pub fn kill_switch(on: bool) -> AuditEvent {
        if on {
            AuditEvent::KillSwitchOn
        } else {
            AuditEvent::KillSwitchOff
        }
    }
}

/// What a caller says happened; the chain adds `seq`, `at` and the hashes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub event: AuditEvent,
    pub actor: String,
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

impl AuditEntry {
    /// An entry by `actor` with nothing else filled in.
    pub fn new(event: AuditEvent, actor: impl Into<String>) -> AuditEntry {
        AuditEntry {
            event,
            actor: actor.into(),
            tenant: None,
            agent: None,
            session_id: None,
            reason: None,
            details: Value::Object(Default::default()),
        }
    }
    /// An entry by the system itself.
    pub fn system(event: AuditEvent) -> AuditEntry {
        AuditEntry::new(event, "system")
    }
    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// Sets the agent.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }
    /// Sets the session.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }
    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// Sets the details object.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The head of the chain: the next sequence number and the last hash, every tenant's head
/// (SPEC §14), and the node whose records it makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChain {
    next_seq: u64,
    last_hash: String,
    tenants: TenantHeads,
    node: Option<String>,
}

impl Default for AuditChain {
    fn default() -> Self {
        AuditChain { next_seq: 1, last_hash: GENESIS.into(), tenants: TenantHeads::new(), node: None }
    }
}

impl AuditChain {
    /// Resumes after the last stored record, each tenant's chain after its head in `tenants`.
    pub fn resume(last: Option<&AuditRecord>, tenants: TenantHeads) -> AuditChain {
        let mut chain = AuditChain { tenants, ..AuditChain::default() };
        if let Some(record) = last {
            chain.accept(record);
        }
        chain
    }

    /// Continues after `seq`/`hash` (a head a shared store adopted), unless this chain is
    /// already past it, and after the tenant heads the store answered with it.
    pub fn adopt(&mut self, seq: u64, hash: String, tenants: &TenantHeads) {
        if seq >= self.next_seq {
            self.next_seq = seq + 1;
            self.last_hash = hash;
        }
        for (tenant, head) in tenants {
            if self.tenants.get(tenant).is_none_or(|known| known.tenant_seq <= head.tenant_seq) {
                self.tenants.insert(tenant.clone(), head.clone());
            }
        }
    }

    /// Every tenant's head as this chain knows it.
    pub fn tenants(&self) -> &TenantHeads {
        &self.tenants
    }

    /// The node whose records this chain makes.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// Records made from now on name `node` as their writer.
    pub fn written_by(mut self, node: Option<String>) -> AuditChain {
        self.node = node;
        self
    }

    /// Builds the next record. The chain advances only when [`AuditChain::accept`] is called
    /// after the record was committed, so a failed commit leaves no gap.
    pub fn next_record(&mut self, entry: AuditEntry, now: Timestamp) -> AuditRecord {
        let mut record = AuditRecord {
            seq: 0,
            at: rfc3339(now),
            event: entry.event.as_str().into(),
            actor: entry.actor,
            tenant: entry.tenant,
            agent: entry.agent,
            session_id: entry.session_id,
            reason: entry.reason,
            details: entry.details,
            node: self.node.clone(),
            tenant_seq: None,
            tenant_prev_hash: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        argus_fsm::audit::link(&mut record, self.next_seq, &self.last_hash, &mut self.tenants);
        self.accept(&record);
        record
    }

    /// Moves the head past a committed record (its tenant's head too).
    pub fn accept(&mut self, record: &AuditRecord) {
        self.next_seq = record.seq + 1;
        self.last_hash = record.hash.clone();
        argus_fsm::audit::advance_tenant_heads(&mut self.tenants, [record]);
    }
}

/// Rebuilds `records` (consecutive, as one writer made them) to follow `after_seq` and
/// `after_hash`, and each tenant's head in `tenants` (moved past them): what a shared store
/// does when another node appended first. Contents are kept; only the places and hashes change.
pub fn rechain(records: &mut [AuditRecord], after_seq: u64, after_hash: &str, tenants: &mut TenantHeads) {
    let (mut seq, mut prev) = (after_seq, after_hash.to_string());
    for record in records {
        seq += 1;
        argus_fsm::audit::link(record, seq, &prev, tenants);
        prev = record.hash.clone();
    }
}

/// The tenant heads `records` (in chain order) were chained after: each tenant's place and
/// hash before its first record among them.
pub fn tenant_heads_before(records: &[AuditRecord]) -> TenantHeads {
    tenant_moves(records)
        .into_iter()
        .filter(|m| m.before_seq > 0)
        .map(|m| (m.tenant, TenantHead { tenant_seq: m.before_seq, hash: m.before_hash }))
        .collect()
}

/// Every how many of a tenant's records a store keeps where it is (its global `seq`): the
/// tenant's records `1`, `1 + RESUME_MARK_EVERY`, … A tenant's export resumes from the mark at
/// or before its `after` and reads forward; one index entry per 64 records instead of one per
/// record keeps the tenant chain's cost on every write small (docs/decisions/tenant-chains.md).
pub const RESUME_MARK_EVERY: u64 = 64;

/// Whether the tenant's record at `tenant_seq` is a resume mark.
pub fn is_resume_mark(tenant_seq: u64) -> bool {
    tenant_seq % RESUME_MARK_EVERY == 1
}

/// The resume mark at or before `tenant_seq` (from 1).
pub fn resume_mark(tenant_seq: u64) -> u64 {
    tenant_seq.saturating_sub(1) / RESUME_MARK_EVERY * RESUME_MARK_EVERY + 1
}

/// The global `seq` of `tenant`'s record at `tenant_seq`, found from the resume mark before it:
/// `None` past the tenant's head (or before its chain began).
pub fn seq_of_tenant_record(store: &dyn Store, tenant: &str, tenant_seq: u64) -> Result<Option<u64>, StoreError> {
    let Some(head) = store.audit_tenant_head(tenant)? else { return Ok(None) };
    if tenant_seq == 0 || tenant_seq > head.tenant_seq {
        return Ok(None);
    }
    let mark = resume_mark(tenant_seq);
    let Some(from) = store.audit_mark_seq(tenant, mark)? else {
        return Err(StoreError::Corrupt {
            key: format!("tenant {tenant} mark {mark}"),
            reason: format!("the tenant's head is at {} but its record {mark} is not marked", head.tenant_seq),
        });
    };
    for record in store.audit_from(from) {
        let record = record?;
        if record.tenant.as_deref() != Some(tenant) {
            continue;
        }
        match record.tenant_seq.map(|n| n.cmp(&tenant_seq)) {
            Some(std::cmp::Ordering::Equal) => return Ok(Some(record.seq)),
            Some(std::cmp::Ordering::Greater) => break,
            _ => {}
        }
    }
    Ok(None)
}

/// How a group moves one tenant's head: from where its first record says the head was
/// (`before_seq` 0 when the group begins the tenant's chain) to its last record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantMove {
    pub tenant: String,
    pub before_seq: u64,
    pub before_hash: String,
    pub after: TenantHead,
}

/// Each tenant's move over `records` (in chain order), by tenant: what a shared store checks
/// against its heads so a writer that did not know a tenant's newest head is refused.
pub fn tenant_moves(records: &[AuditRecord]) -> Vec<TenantMove> {
    let mut moves: std::collections::BTreeMap<&str, TenantMove> = std::collections::BTreeMap::new();
    for record in records {
        let (Some((tenant, after)), Some(prev)) = (TenantHead::of(record), &record.tenant_prev_hash) else {
            continue;
        };
        moves.entry(tenant).and_modify(|m| m.after = after.clone()).or_insert_with(|| TenantMove {
            tenant: tenant.to_string(),
            before_seq: after.tenant_seq.saturating_sub(1),
            before_hash: prev.clone(),
            after,
        });
    }
    moves.into_values().collect()
}

/// Gives records written before tenant chains existed their places (SPEC §14): checks the
/// chain as it stands (every hash and link, so a broken chain is never laundered by being
/// rehashed), then links every record again with `tenant_seq` and `tenant_prev_hash` inside
/// its hash. Answers the records as they become, beside each one's hash before; `Err` names the
/// first broken `seq`.
pub fn give_tenant_places(records: &[AuditRecord]) -> Result<Vec<(AuditRecord, String)>, (u64, String)> {
    let mut prev = GENESIS.to_string();
    for (index, record) in records.iter().enumerate() {
        let expected = index as u64 + 1;
        if record.seq != expected {
            return Err((expected, format!("missing; found {} next", record.seq)));
        }
        if record.prev_hash != prev || record_hash(record) != record.hash {
            return Err((record.seq, "the chain is broken here; run `argus-ops audit verify`".into()));
        }
        prev = record.hash.clone();
    }
    let mut tenants = TenantHeads::new();
    let mut prev = GENESIS.to_string();
    Ok(records
        .iter()
        .map(|record| {
            let mut placed = record.clone();
            argus_fsm::audit::link(&mut placed, record.seq, &prev, &mut tenants);
            prev = placed.hash.clone();
            (placed, record.hash.clone())
        })
        .collect())
}

/// What `audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact { records: u64 },
    Broken { seq: u64, why: String },
}

/// Walks the whole chain from the store, byte for byte: each record must decode, be stored in
/// exactly the canonical encoding its hash covers (no extra field, no other whitespace or key
/// order), sit at its own `seq`, link to the one before, and hold its place in its tenant's
/// own chain (SPEC §14). The first broken `seq` is named.
/// With `expect_head` (`SEQ`, `HASH`: a head recorded earlier, SPEC §10), a chain that ends
/// before that record, or differs at it, is broken there too: newest records cut away show.
pub fn verify(store: &dyn Store, expect_head: Option<(u64, &str)>) -> Result<Verification, StoreError> {
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    let mut tenants = TenantHeads::new();
    for stored in store.audit_stored_from(0) {
        let (seq, bytes) = stored?;
        if seq != expected_seq {
            return Ok(Verification::Broken { seq: expected_seq, why: format!("missing; found {seq} next") });
        }
        let broken = |why: &str| Ok(Verification::Broken { seq, why: why.to_string() });
        let Ok(record) = serde_json::from_slice::<AuditRecord>(&bytes) else {
            return broken("record does not decode");
        };
        if serde_json::to_vec(&record).ok().as_deref() != Some(&bytes[..]) {
            return broken("not stored in its canonical encoding (an extra field, other whitespace or key order)");
        }
        if record.seq != seq {
            return broken(&format!("stored at seq {seq} but claims seq {}", record.seq));
        }
        if record.prev_hash != prev {
            return broken("prev_hash does not match");
        }
        if record_hash(&record) != record.hash {
            return broken("hash does not match content");
        }
        if let Err(why) = argus_fsm::audit::check_tenant_link(&record, &mut tenants) {
            return broken(&why);
        }
        if let Some((head_seq, head_hash)) = expect_head {
            if seq == head_seq && record.hash != head_hash {
                return broken("differs from the expected head");
            }
        }
        prev = record.hash;
        expected_seq += 1;
    }
    let records = expected_seq - 1;
    if let Some((head_seq, _)) = expect_head {
        if records < head_seq {
            return Ok(Verification::Broken {
                seq: records + 1,
                why: format!("the chain ends at seq {records}, before the expected head {head_seq}"),
            });
        }
    }
    Ok(Verification::Intact { records })
}

/// Parses `--expect-head SEQ:HASH`.
pub fn parse_head(text: &str) -> Result<(u64, String), String> {
    let (seq, hash) = text.split_once(':').ok_or_else(|| format!("{text:?} is not SEQ:HASH"))?;
    let seq: u64 = seq.trim().parse().map_err(|_| format!("{seq:?} is not a sequence number"))?;
    let hash = hash.trim().to_ascii_lowercase();
    if seq == 0 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not SEQ:HASH (a seq from 1, a SHA-256 in hex)"));
    }
    Ok((seq, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{audit_record_key, SledStore, Write};

    fn store_with(n: u64) -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        let mut chain = AuditChain::default();
        for i in 0..n {
            let record = chain.next_record(
                AuditEntry::system(AuditEvent::TenantArmed).tenant("T").reason(format!("r{i}")),
                Timestamp(i as i64),
            );
            store.commit(&[Write::Audit(record)]).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn every_event_is_named_once_as_its_variant_in_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for event in AuditEvent::ALL {
            let variant = format!("{event:?}");
            let mut snake = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(event.as_str(), snake, "{variant}");
            assert!(seen.insert(event.as_str()), "{} named twice", event.as_str());
            assert!(argus_fsm::ocsf::class_of(event.as_str()).is_some(), "{} has no OCSF class", event.as_str());
        }
        assert_eq!(AuditEvent::kill_switch(true).as_str(), "kill_switch_on");
        assert_eq!(AuditEvent::kill_switch(false).as_str(), "kill_switch_off");
    }

    /// `docs/decisions/audit-export.md`'s table is the mapping the export uses.
    #[test]
    fn the_documented_ocsf_table_is_the_mapping() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/decisions/audit-export.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let mut documented = std::collections::HashSet::new();
        for row in doc.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let event = cells[0].trim_matches('`');
            let class = argus_fsm::ocsf::class_of(event).unwrap_or_else(|| panic!("{event} has no class"));
            assert_eq!(cells[1], format!("{} {}", class.class_uid, class.class_name), "{event}");
            assert_eq!(cells[2], format!("{} {}", class.activity_id, class.activity_name), "{event}");
            let status = match (class.failure, event) {
                (true, _) => "Failure",
                (false, "remote_support_command") => "from `outcome`",
                (false, _) => "Success",
            };
            assert_eq!(cells[3], status, "{event}");
            documented.insert(event.to_string());
        }
        for event in AuditEvent::ALL {
            assert!(documented.contains(event.as_str()), "{} is not in the table", event.as_str());
        }
    }

    #[test]
    fn intact_chain_verifies_with_its_count() {
        let (_dir, store) = store_with(5);
        assert_eq!(verify(&store, None).unwrap(), Verification::Intact { records: 5 });
    }

    #[test]
    fn edited_record_is_named() {
        let (_dir, store) = store_with(5);
        let key = audit_record_key(3);
        let raw = store.raw_get(&key).unwrap().unwrap();
        let edited = String::from_utf8(raw).unwrap().replace("\"r2\"", "\"r9\"");
        store.raw_put(&key, edited.as_bytes()).unwrap();
        assert!(matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 3, .. }));
    }

    #[test]
    fn rehashed_record_breaks_the_next_link() {
        let (_dir, store) = store_with(5);
        let key = audit_record_key(2);
        let mut record: AuditRecord = serde_json::from_slice(&store.raw_get(&key).unwrap().unwrap()).unwrap();
        record.reason = Some("forged".into());
        record.hash = record_hash(&record);
        store.raw_put(&key, &serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 3, .. }));
    }

    #[test]
    fn removed_record_is_named() {
        let (_dir, store) = store_with(5);
        store.raw_remove(&audit_record_key(4)).unwrap();
        assert!(matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 4, .. }));
    }

    /// Rewrites record `seq`'s stored bytes with `edit`.
    fn edit_stored(store: &SledStore, seq: u64, edit: impl Fn(String) -> String) {
        let key = audit_record_key(seq);
        let raw = String::from_utf8(store.raw_get(&key).unwrap().unwrap()).unwrap();
        let edited = edit(raw.clone());
        assert_ne!(raw, edited);
        store.raw_put(&key, edited.as_bytes()).unwrap();
    }

    #[test]
    fn only_the_canonical_encoding_verifies() {
        // An extra field: serde would ignore it, the hash would still match.
        let (_dir, store) = store_with(5);
        edit_stored(&store, 2, |raw| raw.replacen('{', "{\"injected\":\"x\",", 1));
        assert!(
            matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 2, why } if why.contains("canonical"))
        );
        // Other whitespace.
        let (_dir, store) = store_with(5);
        edit_stored(&store, 4, |raw| raw.replacen("\":", "\": ", 1));
        assert!(matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 4, .. }));
        // Keys in another order.
        let (_dir, store) = store_with(5);
        edit_stored(&store, 5, |raw| {
            let value: Value = serde_json::from_str(&raw).unwrap();
            let mut pairs: Vec<(String, Value)> = value.as_object().unwrap().clone().into_iter().collect();
            pairs.reverse();
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v)).collect();
            format!("{{{}}}", body.join(","))
        });
        assert!(matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 5, .. }));
    }

    #[test]
    fn an_undecodable_record_is_named_by_its_own_seq() {
        let (_dir, store) = store_with(25);
        store.raw_put(&audit_record_key(20), b"{not json").unwrap();
        assert_eq!(
            verify(&store, None).unwrap(),
            Verification::Broken { seq: 20, why: "record does not decode".into() }
        );
    }

    #[test]
    fn a_record_moved_to_another_seq_is_named() {
        let (_dir, store) = store_with(3);
        let last = store.raw_get(&audit_record_key(3)).unwrap().unwrap();
        store.raw_put(&audit_record_key(4), &last).unwrap();
        assert!(
            matches!(verify(&store, None).unwrap(), Verification::Broken { seq: 4, why } if why.contains("claims"))
        );
    }

    #[test]
    fn an_expected_head_catches_the_newest_records_cut_away() {
        let (_dir, store) = store_with(6);
        let head: AuditRecord = serde_json::from_slice(&store.raw_get(&audit_record_key(6)).unwrap().unwrap()).unwrap();
        assert_eq!(verify(&store, Some((6, &head.hash))).unwrap(), Verification::Intact { records: 6 });
        assert_eq!(verify(&store, Some((3, &record_at(&store, 3)))).unwrap(), Verification::Intact { records: 6 });
        // The two newest deleted: intact on its own, broken against the head.
        store.raw_remove(&audit_record_key(6)).unwrap();
        store.raw_remove(&audit_record_key(5)).unwrap();
        assert_eq!(verify(&store, None).unwrap(), Verification::Intact { records: 4 });
        assert!(
            matches!(verify(&store, Some((6, &head.hash))).unwrap(), Verification::Broken { seq: 5, why } if why.contains("before the expected head"))
        );
        // Another record at the head's seq.
        assert!(matches!(
            verify(&store, Some((4, &head.hash))).unwrap(),
            Verification::Broken { seq: 4, why } if why.contains("differs")
        ));
    }

    fn record_at(store: &SledStore, seq: u64) -> String {
        serde_json::from_slice::<AuditRecord>(&store.raw_get(&audit_record_key(seq)).unwrap().unwrap()).unwrap().hash
    }

    #[test]
    fn expected_heads_parse_strictly() {
        let hash = "ab".repeat(32);
        assert_eq!(parse_head(&format!("34:{hash}")), Ok((34, hash.clone())));
        assert_eq!(parse_head(&format!("34:{}", hash.to_uppercase())), Ok((34, hash.clone())));
        for bad in ["34", "x:ab", &format!("0:{hash}"), "34:abc", &format!("34:{}", "zz".repeat(32))] {
            assert!(parse_head(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_writing_node_is_hashed_and_records_before_nodes_hash_as_they_did() {
        let entry = AuditEntry::system(AuditEvent::TenantArmed).tenant("T");
        let before = AuditChain::default().next_record(entry.clone(), Timestamp(1));
        assert!(!serde_json::to_string(&before).unwrap().contains("\"node\""), "no node key when none");
        let parsed: AuditRecord = serde_json::from_str(&serde_json::to_string(&before).unwrap()).unwrap();
        assert_eq!(record_hash(&parsed), before.hash, "an old record still verifies");
        let mut by_node = AuditChain::default().written_by(Some("n1".into())).next_record(entry, Timestamp(1));
        assert_eq!(by_node.node.as_deref(), Some("n1"));
        by_node.node = Some("n2".into());
        assert_ne!(record_hash(&by_node), by_node.hash, "claiming another writer breaks the record");
    }

    #[test]
    fn rechained_records_follow_the_new_head_and_keep_their_content() {
        let mut chain = AuditChain::default();
        let mut records: Vec<AuditRecord> = (0..3)
            .map(|i| {
                chain.next_record(AuditEntry::system(AuditEvent::TenantArmed).reason(format!("{i}")), Timestamp(i))
            })
            .collect();
        rechain(&mut records, 41, "ab", &mut TenantHeads::new());
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![42, 43, 44]);
        assert_eq!(records[0].prev_hash, "ab");
        for pair in records.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        assert!(records.iter().all(|r| record_hash(r) == r.hash));
        assert_eq!(records[2].reason.as_deref(), Some("2"));
    }

    /// Two writers appending for one tenant: the second group, chained on a stale view, follows
    /// the store's head and the tenant's head, and the tenant's chain stays unbroken.
    #[test]
    fn rechained_records_follow_their_tenants_heads_too() {
        let entry = |t: &str, r: &str| AuditEntry::system(AuditEvent::TenantArmed).tenant(t).reason(r);
        let mut a = AuditChain::default();
        let mut b = AuditChain::default();
        let mut stored =
            vec![a.next_record(entry("T1", "a1"), Timestamp(1)), a.next_record(entry("T2", "a2"), Timestamp(1))];
        let mut late =
            vec![b.next_record(entry("T1", "b1"), Timestamp(2)), b.next_record(entry("T3", "b2"), Timestamp(2))];
        assert_eq!(late[0].tenant_seq, Some(1), "b did not know T1's head");
        let mut tenants = tenant_heads_after(&stored);
        let head = stored.last().unwrap().clone();
        rechain(&mut late, head.seq, &head.hash, &mut tenants);
        assert_eq!((late[0].seq, late[0].tenant_seq), (3, Some(2)));
        assert_eq!(late[0].tenant_prev_hash.as_ref(), Some(&stored[0].hash));
        assert_eq!((late[1].tenant_seq, late[1].tenant_prev_hash.as_deref()), (Some(1), Some(GENESIS)));
        assert_eq!(tenants["T1"].hash, late[0].hash);
        assert_eq!(tenant_heads_before(&late).get("T1").map(|h| h.tenant_seq), Some(1));
        assert!(tenant_heads_before(&stored).is_empty(), "every tenant begins in the group: {stored:?}");
        let mut again = stored.clone();
        rechain(&mut again, 0, GENESIS, &mut tenant_heads_before(&stored));
        assert_eq!(again, stored, "a sound group re-chained after where it says it starts is unchanged");
        stored.extend(late);
        let mut heads = TenantHeads::new();
        for record in &stored {
            argus_fsm::audit::check_tenant_link(record, &mut heads).unwrap();
        }
        b.adopt(4, stored[3].hash.clone(), &tenants);
        assert_eq!(b.next_record(entry("T1", "b3"), Timestamp(3)).tenant_seq, Some(3));
    }

    /// A chain written before tenant chains existed: the migration gives every record its place
    /// and keeps each hash from before; a broken chain is refused, not laundered.
    #[test]
    fn the_migration_gives_old_records_their_places_and_refuses_a_broken_chain() {
        let (_dir, store) = store_with(4);
        // Make the store look as an older build wrote it: no tenant places.
        let mut prev = GENESIS.to_string();
        let mut old = Vec::new();
        for seq in 1..=4 {
            let key = audit_record_key(seq);
            let mut record: AuditRecord = serde_json::from_slice(&store.raw_get(&key).unwrap().unwrap()).unwrap();
            record.tenant_seq = None;
            record.tenant_prev_hash = None;
            record.prev_hash = prev.clone();
            record.hash = record_hash(&record);
            prev = record.hash.clone();
            store.raw_put(&key, &serde_json::to_vec(&record).unwrap()).unwrap();
            old.push(record);
        }
        store.raw_remove("m/tenant_chains").unwrap();
        // Legacy records verify: the tenant's chain has not begun.
        assert_eq!(verify(&store, None).unwrap(), Verification::Intact { records: 4 });
        let broken = store_with(3);
        let key = audit_record_key(2);
        let edited = String::from_utf8(broken.1.raw_get(&key).unwrap().unwrap()).unwrap().replace("\"r1\"", "\"r7\"");
        broken.1.raw_put(&key, edited.as_bytes()).unwrap();
        broken.1.raw_remove("m/tenant_chains").unwrap();
        assert!(matches!(broken.1.give_tenant_places(), Err(crate::store::StoreError::Corrupt { .. })));

        assert_eq!(store.give_tenant_places().unwrap(), Some(4));
        assert_eq!(store.give_tenant_places().unwrap(), None, "once");
        assert_eq!(verify(&store, None).unwrap(), Verification::Intact { records: 4 });
        let records: Vec<AuditRecord> = store.audit_from(0).map(Result::unwrap).collect();
        assert_eq!(records.iter().map(|r| r.tenant_seq).collect::<Vec<_>>(), vec![Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(
            records.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
            old.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()
        );
        assert_eq!(store.audit_legacy_hash(3).unwrap(), Some(old[2].hash.clone()));
        let (last, heads) = store.audit_heads().unwrap();
        assert_eq!((last.unwrap().seq, heads["T"].tenant_seq), (4, 4));
        assert_eq!(seq_of_tenant_record(&store, "T", 2).unwrap(), Some(2));
        assert_eq!(seq_of_tenant_record(&store, "T", 5).unwrap(), None, "past the head");
    }

    /// `audit verify` checks the tenants' chains: a record that skips or repeats its tenant's
    /// place, rehashed so the global chain alone would still hold, is named.
    #[test]
    fn a_broken_tenant_chain_is_named_by_verify() {
        let (_dir, store) = store_with(4);
        let mut prev = GENESIS.to_string();
        for seq in 1..=4 {
            let key = audit_record_key(seq);
            let mut record: AuditRecord = serde_json::from_slice(&store.raw_get(&key).unwrap().unwrap()).unwrap();
            if seq == 3 {
                record.tenant_seq = Some(7);
            }
            record.prev_hash = prev.clone();
            record.hash = record_hash(&record);
            prev = record.hash.clone();
            store.raw_put(&key, &serde_json::to_vec(&record).unwrap()).unwrap();
        }
        match verify(&store, None).unwrap() {
            Verification::Broken { seq: 3, why } => assert!(why.contains("tenant T"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
