//! The audit record as stored, listed and exported (SPEC §8, §14), its chain hash, and the
//! offline check of an export: pure, so the server that writes the chain and the customer's
//! `argusctl audit verify-export` that checks what its SIEM received hash the same bytes.
//!
//! `hash = SHA-256(prev_hash || canonical JSON of the record with "hash" empty)`, the canonical
//! JSON being this struct's serialization (its field order, absent optional fields left out).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::signed::sha256;

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record, as stored and as `GET /support/audit` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub seq: u64,
    pub at: String,
    pub event: String,
    pub actor: String,
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
    /// The node that wrote it (SPEC §10). Absent from records written before nodes had IDs,
    /// which therefore hash exactly as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The record's place in its tenant's own chain (SPEC §14): 1, 2, … per tenant. Present
    /// exactly when `tenant` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_seq: Option<u64>,
    /// The `hash` of the tenant's previous record, or [`GENESIS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_prev_hash: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash a record must carry.
pub fn record_hash(record: &AuditRecord) -> String {
    let mut unhashed = record.clone();
    unhashed.hash = String::new();
    let json = serde_json::to_vec(&unhashed).expect("audit records always serialize");
    let mut bytes = record.prev_hash.as_bytes().to_vec();
    bytes.extend_from_slice(&json);
    hex::encode(sha256(&bytes))
}

/// A tenant chain's head: its newest record's `tenant_seq` and `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantHead {
    pub tenant_seq: u64,
    pub hash: String,
}

/// Every tenant's head, by tenant.
pub type TenantHeads = std::collections::BTreeMap<String, TenantHead>;

impl TenantHead {
    /// The head `record` makes in its tenant's chain: its tenant, with its `tenant_seq` and
    /// hash. `None` for a record in no tenant's chain.
    pub fn of(record: &AuditRecord) -> Option<(&str, TenantHead)> {
        match (&record.tenant, record.tenant_seq) {
            (Some(tenant), Some(tenant_seq)) => Some((tenant, TenantHead { tenant_seq, hash: record.hash.clone() })),
            _ => None,
        }
    }
}

/// Moves every tenant's head in `tenants` past `records` (in chain order).
pub fn advance_tenant_heads<'a>(tenants: &mut TenantHeads, records: impl IntoIterator<Item = &'a AuditRecord>) {
    for record in records {
        if let Some((tenant, head)) = TenantHead::of(record) {
            tenants.insert(tenant.to_string(), head);
        }
    }
}

/// The heads of the tenants `records` (in chain order) name, after them.
pub fn tenant_heads_after<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> TenantHeads {
    let mut tenants = TenantHeads::new();
    advance_tenant_heads(&mut tenants, records);
    tenants
}

/// Places `record` after global `seq` − 1 (whose hash is `prev_hash`) and after its tenant's
/// head in `tenants` (a tenant without one starts at 1 after [`GENESIS`]), hashes it, and moves
/// the tenant's head to it. A record that names no tenant is in no tenant chain.
pub fn link(record: &mut AuditRecord, seq: u64, prev_hash: &str, tenants: &mut TenantHeads) {
    record.seq = seq;
    record.prev_hash = prev_hash.to_string();
    match &record.tenant {
        Some(tenant) => {
            let (tenant_seq, tenant_prev) = match tenants.get(tenant) {
                Some(head) => (head.tenant_seq + 1, head.hash.clone()),
                None => (1, GENESIS.to_string()),
            };
            record.tenant_seq = Some(tenant_seq);
            record.tenant_prev_hash = Some(tenant_prev);
            record.hash = record_hash(record);
            tenants.insert(tenant.clone(), TenantHead { tenant_seq, hash: record.hash.clone() });
        }
        None => {
            record.tenant_seq = None;
            record.tenant_prev_hash = None;
            record.hash = record_hash(record);
        }
    }
}

/// Checks `record`'s place in its tenant's chain against the heads before it (`tenants`) and
/// moves the head to it. Records written before tenant chains existed (no `tenant_seq`) pass
/// only while the tenant's chain has not begun: once it has, every later record has its place.
pub fn check_tenant_link(record: &AuditRecord, tenants: &mut TenantHeads) -> Result<(), String> {
    match (&record.tenant, record.tenant_seq, &record.tenant_prev_hash) {
        (None, None, None) => Ok(()),
        (None, _, _) => Err("it names no tenant but has a place in a tenant's chain".into()),
        (Some(tenant), None, None) if !tenants.contains_key(tenant) => Ok(()),
        (Some(tenant), Some(tenant_seq), Some(tenant_prev)) => {
            let (expected_seq, expected_prev) = match tenants.get(tenant) {
                Some(head) => (head.tenant_seq + 1, head.hash.as_str()),
                None => (1, GENESIS),
            };
            if tenant_seq != expected_seq {
                return Err(format!("tenant {tenant}: tenant_seq {tenant_seq} where {expected_seq} comes next"));
            }
            if tenant_prev != expected_prev {
                return Err(format!("tenant {tenant}: tenant_prev_hash is not the hash of its previous record"));
            }
            tenants.insert(tenant.clone(), TenantHead { tenant_seq, hash: record.hash.clone() });
            Ok(())
        }
        (Some(tenant), _, _) => Err(format!("tenant {tenant}: the record has no place in its tenant's chain")),
    }
}

/// Why an exported run of records does not prove itself. `seq` is the first bad record's `seq`,
/// or its `tenant_seq` when the run was checked as one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("seq {seq}: {why}")]
    Broken { seq: u64, why: String },
    #[error("the export holds no record")]
    Empty,
}

/// Which chain an export is checked along: the global one (`seq`), or one tenant's
/// (`tenant_seq`, records of that tenant only; checkpoint records pass beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Along<'a> {
    Global,
    Tenant(&'a str),
}

impl Along<'_> {
    /// The record's place on this chain (`seq`-like, `prev_hash`-like), `None` for a record that
    /// is not on it; `Err` for a record that must not be in the export at all.
    fn place<'r>(&self, record: &'r AuditRecord) -> Result<Option<(u64, &'r str)>, ExportError> {
        match self {
            Along::Global => Ok(Some((record.seq, record.prev_hash.as_str()))),
            Along::Tenant(tenant) => match (&record.tenant, record.tenant_seq, &record.tenant_prev_hash) {
                (Some(t), Some(seq), Some(prev)) if t == tenant => Ok(Some((seq, prev.as_str()))),
                (None, _, _) if record.event == CHECKPOINT_EVENT => Ok(None),
                (Some(t), Some(seq), _) if t == tenant => {
                    Err(ExportError::Broken { seq, why: "the record has no place in the tenant's chain".into() })
                }
                (Some(other), _, _) if other != tenant => Err(ExportError::Broken {
                    seq: record.tenant_seq.unwrap_or(record.seq),
                    why: format!(
                        "a record of tenant {other} (global seq {}) is in tenant {tenant}'s export",
                        record.seq
                    ),
                }),
                _ => Err(ExportError::Broken {
                    seq: record.seq,
                    why: format!("global seq {}: not a record of tenant {tenant}'s chain", record.seq),
                }),
            },
        }
    }
}

/// The event of a signed checkpoint record.
pub const CHECKPOINT_EVENT: &str = "audit_checkpoint";

/// Checks an exported run of records (in the order received) along `along`: each record's hash
/// covers its content, each links to the one before, and the places follow one another without
/// a gap. The first record is taken on trust as where the run starts (an export may begin
/// anywhere); `after`, when given (the place and hash of the record before, from an earlier
/// verified export), must be what it follows. Answers the count and the last record's
/// `(place, hash)`.
pub fn verify_run<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    along: Along<'_>,
    after: Option<(u64, &str)>,
) -> Result<(u64, (u64, String)), ExportError> {
    let mut last: Option<(u64, String)> = after.map(|(seq, hash)| (seq, hash.to_string()));
    let mut count = 0;
    for record in records {
        let Some((place, prev_hash)) = along.place(record)? else { continue };
        let broken = |why: String| ExportError::Broken { seq: place, why };
        if record_hash(record) != record.hash {
            return Err(broken("its hash does not cover its content (a field was changed)".into()));
        }
        if let Some((seq, hash)) = &last {
            if place != seq + 1 {
                return Err(if place <= *seq {
                    broken(format!("out of order: it comes after {seq}"))
                } else {
                    ExportError::Broken { seq: seq + 1, why: format!("missing: the next record is {place}") }
                });
            }
            if prev_hash != hash {
                return Err(broken("it does not link to the hash of the record before it".into()));
            }
        }
        last = Some((place, record.hash.clone()));
        count += 1;
    }
    match (count, last) {
        (0, _) | (_, None) => Err(ExportError::Empty),
        (count, Some(last)) => Ok((count, last)),
    }
}

/// Domain separation prefix for checkpoint signatures.
pub const CHECKPOINT_DOMAIN: &[u8] = b"argus-audit-checkpoint-v1\0";

/// One tenant head as a checkpoint signs it: SHA-256 over a domain, the tenant (length first),
/// its `tenant_seq` and `hash`. Another tenant's view of a checkpoint shows only these.
pub fn tenant_leaf(tenant: &str, head: &TenantHead) -> [u8; 32] {
    let mut bytes = b"argus-audit-tenant-head-v1\0".to_vec();
    bytes.extend_from_slice(&(tenant.len() as u32).to_be_bytes());
    bytes.extend_from_slice(tenant.as_bytes());
    bytes.extend_from_slice(&head.tenant_seq.to_be_bytes());
    bytes.extend_from_slice(head.hash.as_bytes());
    sha256(&bytes)
}

/// The bytes a checkpoint's signature covers: the domain, the head's `seq` (8 bytes,
/// big-endian), its `hash` (64 hex characters) and SHA-256 over every tenant head's leaf in
/// ascending order (so one tenant's view can prove its own head without naming the others).
fn checkpoint_message(seq: u64, hash: &str, mut leaves: Vec<[u8; 32]>) -> Vec<u8> {
    leaves.sort_unstable();
    let mut message = CHECKPOINT_DOMAIN.to_vec();
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash.as_bytes());
    message.extend_from_slice(&sha256(&leaves.concat()));
    message
}

/// The `details` of an `audit_checkpoint` record: the global head (`seq`, `hash`) and every
/// tenant's head, signed with the checkpoint key.
pub fn checkpoint_details(key: &ed25519_dalek::SigningKey, seq: u64, hash: &str, tenants: &TenantHeads) -> Value {
    use ed25519_dalek::Signer as _;
    let leaves = tenants.iter().map(|(tenant, head)| tenant_leaf(tenant, head)).collect();
    let signature = key.sign(&checkpoint_message(seq, hash, leaves));
    serde_json::json!({
        "seq": seq,
        "hash": hash,
        "tenants": tenants,
        "key_id": crate::signed::key_id(&key.verifying_key()),
        "signature": hex::encode(signature.to_bytes()),
    })
}

/// A checkpoint's `details` as tenant `tenant` sees them: its own head in `tenants`, every other
/// tenant's only as the leaf the signature covers (`other_tenants`, hex, ascending), so the
/// signature still verifies and no other tenant is named.
pub fn tenant_view(details: &Value, tenant: &str) -> Value {
    let mut view = details.clone();
    let tenants: TenantHeads = serde_json::from_value(details["tenants"].clone()).unwrap_or_default();
    let mut others: Vec<String> = tenants
        .iter()
        .filter(|(t, _)| t.as_str() != tenant)
        .map(|(t, head)| hex::encode(tenant_leaf(t, head)))
        .collect();
    others.sort_unstable();
    let own: TenantHeads = tenants.into_iter().filter(|(t, _)| t == tenant).collect();
    view["tenants"] = serde_json::to_value(own).expect("heads serialize");
    view["other_tenants"] = serde_json::json!(others);
    view
}

/// What a checkpoint signed: the global head and the tenant heads it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub seq: u64,
    pub hash: String,
    pub tenants: TenantHeads,
}

/// What a checkpoint record (whole, or a tenant's view) signed, if its signature verifies
/// under `key`.
pub fn check_checkpoint(details: &Value, key: &ed25519_dalek::VerifyingKey) -> Result<Signed, String> {
    let seq = details["seq"].as_u64().ok_or("the checkpoint names no seq")?;
    let hash = details["hash"].as_str().ok_or("the checkpoint names no hash")?;
    let tenants: TenantHeads = serde_json::from_value(details["tenants"].clone())
        .map_err(|_| "the checkpoint's tenants are not tenant heads")?;
    let mut leaves: Vec<[u8; 32]> = tenants.iter().map(|(tenant, head)| tenant_leaf(tenant, head)).collect();
    if let Some(others) = details.get("other_tenants") {
        for leaf in others.as_array().ok_or("the checkpoint's other_tenants is not a list")? {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(leaf.as_str().unwrap_or_default(), &mut bytes)
                .map_err(|_| "an entry of other_tenants is not 32 bytes of hex")?;
            leaves.push(bytes);
        }
    }
    let mut signature = [0u8; 64];
    hex::decode_to_slice(details["signature"].as_str().unwrap_or_default(), &mut signature)
        .map_err(|_| "the checkpoint's signature is not 64 bytes of hex")?;
    key.verify_strict(&checkpoint_message(seq, hash, leaves), &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| "the checkpoint's signature does not verify under the checkpoint key")?;
    Ok(Signed { seq, hash: hash.to_string(), tenants })
}

/// What an export proves under a checkpoint key: the records it holds chain along `along` (see
/// [`verify_run`]), and the last signed checkpoint among them (or `extra`, one fetched later)
/// names a head that is one of them — the export is complete up to that head. `Err` names the
/// first place that breaks it: a bad record, a forged checkpoint, or the first record no valid
/// checkpoint covers. Answers the count and the last place.
pub fn verify_signed_run(
    records: &[AuditRecord],
    key: &ed25519_dalek::VerifyingKey,
    extra: Option<&AuditRecord>,
    along: Along<'_>,
) -> Result<(u64, u64), ExportError> {
    let (count, (last_place, _)) = verify_run(records, along, None)?;
    let on_chain: Vec<(u64, &AuditRecord)> = records
        .iter()
        .filter_map(|record| along.place(record).ok().flatten().map(|(place, _)| (place, record)))
        .collect();
    let first_place = on_chain.first().map_or(0, |(place, _)| *place);
    let mut covered = None;
    for record in records.iter().filter(|r| r.event == CHECKPOINT_EVENT).chain(extra) {
        let signed = check_checkpoint(&record.details, key).map_err(|why| ExportError::Broken {
            seq: along.place(record).ok().flatten().map_or(record.seq, |p| p.0),
            why,
        })?;
        let head = match along {
            Along::Global => Some((signed.seq, signed.hash)),
            Along::Tenant(tenant) => signed.tenants.get(tenant).map(|head| (head.tenant_seq, head.hash.clone())),
        };
        // A checkpoint from before this tenant's first record signs no head of it.
        let Some((place, hash)) = head else { continue };
        match on_chain.iter().find(|(p, _)| *p == place) {
            Some((_, held)) if held.hash == hash => covered = Some(covered.unwrap_or(0).max(place)),
            Some(_) => {
                return Err(ExportError::Broken { seq: place, why: "differs from the head a checkpoint signed".into() })
            }
            // A checkpoint of a head before this export began covers nothing here.
            None if place < first_place => {}
            None => {
                return Err(ExportError::Broken {
                    seq: place,
                    why: "a checkpoint signed this record, and the export does not hold it".into(),
                })
            }
        }
    }
    // On the global chain, the checkpoint record right after the head it signed is covered
    // with it.
    let covered = covered.map(|place| match (along, records.iter().find(|r| r.seq == place + 1)) {
        (Along::Global, Some(next)) if next.event == CHECKPOINT_EVENT => place + 1,
        _ => place,
    });
    match covered {
        Some(place) if place >= last_place => Ok((count, last_place)),
        Some(place) => Err(ExportError::Broken { seq: place + 1, why: "no signed checkpoint covers it".into() }),
        None => Err(ExportError::Broken { seq: first_place, why: "no signed checkpoint covers the export".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        let mut tenants = TenantHeads::new();
        (1..=n)
            .map(|seq| {
                let mut record = AuditRecord {
                    seq,
                    at: format!("2026-12-06T10:00:{seq:02}Z"),
                    event: "remote_support_command".into(),
                    actor: "op@example.com".into(),
                    tenant: Some(if seq % 2 == 0 { "T1" } else { "T2" }.into()),
                    agent: Some("a1".into()),
                    session_id: None,
                    reason: None,
                    details: json!({ "command": "ping", "outcome": "ok" }),
                    node: None,
                    tenant_seq: None,
                    tenant_prev_hash: None,
                    prev_hash: String::new(),
                    hash: String::new(),
                };
                link(&mut record, seq, &prev, &mut tenants);
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    #[test]
    fn an_untouched_run_verifies_from_anywhere_and_after_what_it_follows() {
        let records = chain(6);
        assert_eq!(verify_run(&records, Along::Global, None).unwrap(), (6, (6, records[5].hash.clone())));
        assert_eq!(verify_run(&records[2..], Along::Global, None).unwrap().0, 4);
        let after = (2, records[1].hash.as_str());
        assert_eq!(verify_run(&records[2..], Along::Global, Some(after)).unwrap().0, 4);
        assert!(verify_run(&records[3..], Along::Global, Some(after)).is_err(), "seq 3 missing after seq 2");
        assert_eq!(verify_run(&[], Along::Global, None), Err(ExportError::Empty));
    }

    /// `records` plus a checkpoint over its last record, chained after it.
    fn with_checkpoint(mut records: Vec<AuditRecord>, key: &ed25519_dalek::SigningKey) -> Vec<AuditRecord> {
        let last = records.last().unwrap().clone();
        let tenants = tenant_heads_after(&records);
        let mut checkpoint = AuditRecord {
            seq: last.seq + 1,
            event: "audit_checkpoint".into(),
            actor: "system".into(),
            tenant: None,
            tenant_seq: None,
            tenant_prev_hash: None,
            details: checkpoint_details(key, last.seq, &last.hash, &tenants),
            prev_hash: last.hash.clone(),
            hash: String::new(),
            ..last
        };
        checkpoint.hash = record_hash(&checkpoint);
        records.push(checkpoint);
        records
    }

    #[test]
    fn a_signed_checkpoint_proves_an_export_complete_up_to_its_head() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key();
        let signed = with_checkpoint(chain(5), &key);
        assert_eq!(verify_signed_run(&signed, &public, None, Along::Global), Ok((6, 6)));
        // Records after the checkpoint: not covered, unless a later checkpoint is given.
        let mut longer = with_checkpoint(chain(5), &key);
        let mut more = chain(9)[5..].to_vec();
        let mut prev = longer.last().unwrap().hash.clone();
        let mut tenants = tenant_heads_after(&longer);
        for (i, record) in more.iter_mut().enumerate() {
            link(record, 7 + i as u64, &prev, &mut tenants);
            prev = record.hash.clone();
        }
        longer.extend(more);
        assert!(matches!(
            verify_signed_run(&longer, &public, None, Along::Global),
            Err(ExportError::Broken { seq: 7, .. })
        ));
        let later = with_checkpoint(longer.clone(), &key);
        let extra = later.last().unwrap();
        assert_eq!(verify_signed_run(&longer, &public, Some(extra), Along::Global), Ok((10, 10)));
        // Cut short after the checkpoint was made: the later checkpoint names a head not held.
        assert!(matches!(
            verify_signed_run(&longer[..8], &public, Some(extra), Along::Global),
            Err(ExportError::Broken { seq: 10, .. })
        ));
        // Another key's checkpoint, or a forged signature: refused.
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        assert!(verify_signed_run(&with_checkpoint(chain(5), &other), &public, None, Along::Global).is_err());
        let mut forged = signed.clone();
        forged[5].details["seq"] = serde_json::json!(4);
        forged[5].hash = record_hash(&forged[5]);
        assert!(matches!(
            verify_signed_run(&forged, &public, None, Along::Global),
            Err(ExportError::Broken { seq: 6, .. })
        ));
        assert!(verify_signed_run(&chain(5), &public, None, Along::Global).is_err(), "no checkpoint at all");
    }

    #[test]
    fn a_dropped_changed_or_reordered_record_is_named() {
        let records = chain(6);
        let mut dropped = records.clone();
        dropped.remove(3);
        assert!(
            matches!(verify_run(&dropped, Along::Global, None), Err(ExportError::Broken { seq: 4, .. })),
            "the first missing seq"
        );
        let mut changed = records.clone();
        changed[2].details = json!({ "command": "read_file", "outcome": "ok" });
        assert!(matches!(verify_run(&changed, Along::Global, None), Err(ExportError::Broken { seq: 3, .. })));
        let mut swapped = records.clone();
        swapped.swap(1, 2);
        assert!(verify_run(&swapped, Along::Global, None).is_err());
        // A record re-hashed after a change still breaks the link to the next one.
        let mut rehashed = records.clone();
        rehashed[2].reason = Some("forged".into());
        rehashed[2].hash = record_hash(&rehashed[2]);
        assert!(matches!(verify_run(&rehashed, Along::Global, None), Err(ExportError::Broken { seq: 4, .. })));
    }

    /// Tenant T1's slice of `records`, checkpoints shown as T1 sees them.
    fn slice(records: &[AuditRecord], tenant: &str) -> Vec<AuditRecord> {
        records
            .iter()
            .filter_map(|record| match &record.tenant {
                Some(t) if t == tenant => Some(record.clone()),
                None if record.event == CHECKPOINT_EVENT => {
                    let mut view = record.clone();
                    view.details = tenant_view(&record.details, tenant);
                    Some(view)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_tenant_has_its_own_unbroken_chain_inside_the_hash() {
        let records = chain(7);
        let mut heads = TenantHeads::new();
        for record in &records {
            check_tenant_link(record, &mut heads).unwrap();
        }
        assert_eq!(heads["T1"].tenant_seq, 3);
        assert_eq!(heads["T2"].tenant_seq, 4);
        assert_eq!(records[0].tenant_prev_hash.as_deref(), Some(GENESIS));
        assert_eq!(records[3].tenant_prev_hash.as_ref(), Some(&records[1].hash), "T1's 2nd follows its 1st");
        // The tenant fields are covered by the hash.
        let mut moved = records[3].clone();
        moved.tenant_seq = Some(9);
        assert_ne!(record_hash(&moved), moved.hash);
        let t1 = slice(&records, "T1");
        assert_eq!(verify_run(&t1, Along::Tenant("T1"), None).unwrap().0, 3);
        // A dropped, changed or reordered record of the tenant, or another tenant's, is named
        // by its tenant_seq.
        let mut dropped = t1.clone();
        dropped.remove(1);
        assert!(matches!(verify_run(&dropped, Along::Tenant("T1"), None), Err(ExportError::Broken { seq: 2, .. })));
        let mut changed = t1.clone();
        changed[1].reason = Some("forged".into());
        assert!(matches!(verify_run(&changed, Along::Tenant("T1"), None), Err(ExportError::Broken { seq: 2, .. })));
        let mut swapped = t1.clone();
        swapped.swap(0, 1);
        assert!(verify_run(&swapped, Along::Tenant("T1"), None).is_err());
        let mut mixed = t1.clone();
        mixed.insert(1, records[2].clone());
        let error = verify_run(&mixed, Along::Tenant("T1"), None).unwrap_err();
        assert!(error.to_string().contains("tenant T2"), "{error}");
        // Checked link by link, a record that skips its tenant's place is refused.
        let mut heads = TenantHeads::new();
        check_tenant_link(&records[1], &mut heads).unwrap();
        assert!(check_tenant_link(&records[3], &mut heads).is_ok());
        assert!(check_tenant_link(&records[3], &mut heads).is_err(), "the same place twice");
    }

    #[test]
    fn a_tenant_proves_its_slice_with_its_view_of_a_checkpoint_naming_no_other_tenant() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key();
        let signed = with_checkpoint(chain(6), &key);
        let t1 = slice(&signed, "T1");
        let view = &t1.last().unwrap().details;
        assert!(view["tenants"].get("T2").is_none() && view["other_tenants"].as_array().unwrap().len() == 1);
        assert!(!view.to_string().contains("T2"), "{view}");
        assert_eq!(verify_signed_run(&t1, &public, None, Along::Tenant("T1")), Ok((3, 3)));
        // The whole checkpoint verifies on the global chain, and for every tenant.
        assert_eq!(verify_signed_run(&signed, &public, None, Along::Global), Ok((7, 7)));
        // A forged tenant head, or a leaf of another tenant changed: the signature fails.
        let mut forged = t1.clone();
        forged.last_mut().unwrap().details["tenants"]["T1"]["tenant_seq"] = json!(2);
        assert!(verify_signed_run(&forged, &public, None, Along::Tenant("T1")).is_err());
        let mut other = t1.clone();
        other.last_mut().unwrap().details["other_tenants"][0] = json!(hex::encode([0u8; 32]));
        assert!(verify_signed_run(&other, &public, None, Along::Tenant("T1")).is_err());
        // The tenant's last record dropped: the checkpoint signed it and the export lacks it.
        let mut cut = t1.clone();
        cut.remove(2);
        assert!(matches!(
            verify_signed_run(&cut, &public, None, Along::Tenant("T1")),
            Err(ExportError::Broken { seq: 3, .. })
        ));
    }
}
