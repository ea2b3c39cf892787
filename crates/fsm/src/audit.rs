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

/// Why an exported run of records does not prove itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("seq {seq}: {why}")]
    Broken { seq: u64, why: String },
    #[error("the export holds no record")]
    Empty,
}

/// Checks an exported run of records (in the order received): each record's hash covers its
/// content, each links to the one before, and the sequence numbers follow one another without a
/// gap. The first record is taken on trust as where the run starts (an export may begin
/// anywhere); `after`, when given (`SEQ`, `HASH` of the record before, from an earlier
/// verified export), must be what it follows. Answers the count and the last record's
/// `(seq, hash)`.
pub fn verify_run<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    after: Option<(u64, &str)>,
) -> Result<(u64, (u64, String)), ExportError> {
    let mut last: Option<(u64, String)> = after.map(|(seq, hash)| (seq, hash.to_string()));
    let mut count = 0;
    for record in records {
        let broken = |why: String| ExportError::Broken { seq: record.seq, why };
        if record_hash(record) != record.hash {
            return Err(broken("its hash does not cover its content (a field was changed)".into()));
        }
        if let Some((seq, hash)) = &last {
            if record.seq != seq + 1 {
                return Err(if record.seq <= *seq {
                    broken(format!("out of order: it comes after seq {seq}"))
                } else {
                    ExportError::Broken { seq: seq + 1, why: format!("missing: the next record is seq {}", record.seq) }
                });
            }
            if &record.prev_hash != hash {
                return Err(broken("its prev_hash is not the hash of the record before it".into()));
            }
        }
        last = Some((record.seq, record.hash.clone()));
        count += 1;
    }
    match (count, last) {
        (0, _) | (_, None) => Err(ExportError::Empty),
        (count, Some(last)) => Ok((count, last)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
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
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                record.hash = record_hash(&record);
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    #[test]
    fn an_untouched_run_verifies_from_anywhere_and_after_what_it_follows() {
        let records = chain(6);
        assert_eq!(verify_run(&records, None).unwrap(), (6, (6, records[5].hash.clone())));
        assert_eq!(verify_run(&records[2..], None).unwrap().0, 4);
        let after = (2, records[1].hash.as_str());
        assert_eq!(verify_run(&records[2..], Some(after)).unwrap().0, 4);
        assert!(verify_run(&records[3..], Some(after)).is_err(), "seq 3 missing after seq 2");
        assert_eq!(verify_run(&[], None), Err(ExportError::Empty));
    }

    #[test]
    fn a_dropped_changed_or_reordered_record_is_named() {
        let records = chain(6);
        let mut dropped = records.clone();
        dropped.remove(3);
        assert!(matches!(verify_run(&dropped, None), Err(ExportError::Broken { seq: 4, .. })), "the first missing seq");
        let mut changed = records.clone();
        changed[2].details = json!({ "command": "read_file", "outcome": "ok" });
        assert!(matches!(verify_run(&changed, None), Err(ExportError::Broken { seq: 3, .. })));
        let mut swapped = records.clone();
        swapped.swap(1, 2);
        assert!(verify_run(&swapped, None).is_err());
        // A record re-hashed after a change still breaks the link to the next one.
        let mut rehashed = records.clone();
        rehashed[2].reason = Some("forged".into());
        rehashed[2].hash = record_hash(&rehashed[2]);
        assert!(matches!(verify_run(&rehashed, None), Err(ExportError::Broken { seq: 4, .. })));
    }
}
