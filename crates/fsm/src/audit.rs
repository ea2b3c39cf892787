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

/// Domain separation prefix for checkpoint signatures.
pub const CHECKPOINT_DOMAIN: &[u8] = b"argus-audit-checkpoint-v1\0";

/// The bytes a checkpoint's signature covers: the domain, the head's `seq` (8 bytes,
/// big-endian) and its `hash` (64 hex characters). (Each tenant's head joins them once tenants
/// have chains of their own.)
fn checkpoint_message(seq: u64, hash: &str) -> Vec<u8> {
    let mut message = CHECKPOINT_DOMAIN.to_vec();
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash.as_bytes());
    message
}

/// The `details` of an `audit_checkpoint` record: the global head (`seq`, `hash`) signed with
/// the checkpoint key.
pub fn checkpoint_details(key: &ed25519_dalek::SigningKey, seq: u64, hash: &str) -> Value {
    use ed25519_dalek::Signer as _;
    let signature = key.sign(&checkpoint_message(seq, hash));
    serde_json::json!({
        "seq": seq,
        "hash": hash,
        "tenants": {},
        "key_id": crate::signed::key_id(&key.verifying_key()),
        "signature": hex::encode(signature.to_bytes()),
    })
}

/// The head a checkpoint record signed, if its signature verifies under `key`.
pub fn check_checkpoint(details: &Value, key: &ed25519_dalek::VerifyingKey) -> Result<(u64, String), String> {
    let seq = details["seq"].as_u64().ok_or("the checkpoint names no seq")?;
    let hash = details["hash"].as_str().ok_or("the checkpoint names no hash")?;
    let mut signature = [0u8; 64];
    hex::decode_to_slice(details["signature"].as_str().unwrap_or_default(), &mut signature)
        .map_err(|_| "the checkpoint's signature is not 64 bytes of hex")?;
    key.verify_strict(&checkpoint_message(seq, hash), &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| "the checkpoint's signature does not verify under the checkpoint key")?;
    Ok((seq, hash.to_string()))
}

/// What an export proves under a checkpoint key: the records it holds chain (see
/// [`verify_run`]), and the last signed checkpoint among them (or `extra`, one fetched later)
/// names a head that is one of them — the export is complete up to that head. `Err` names the
/// first `seq` that breaks it: a bad record, a forged checkpoint, or the first record no valid
/// checkpoint covers.
pub fn verify_signed_run(
    records: &[AuditRecord],
    key: &ed25519_dalek::VerifyingKey,
    extra: Option<&AuditRecord>,
) -> Result<(u64, u64), ExportError> {
    let (count, (last_seq, _)) = verify_run(records, None)?;
    let mut covered = None;
    for record in records.iter().filter(|r| r.event == "audit_checkpoint").chain(extra) {
        let (seq, hash) =
            check_checkpoint(&record.details, key).map_err(|why| ExportError::Broken { seq: record.seq, why })?;
        let held = records.iter().find(|r| r.seq == seq);
        match held {
            Some(head) if head.hash == hash => covered = Some(covered.unwrap_or(0).max(seq)),
            Some(_) => {
                return Err(ExportError::Broken { seq, why: "differs from the head a checkpoint signed".into() })
            }
            // A checkpoint of a head before this export began covers nothing here.
            None if records.first().is_some_and(|first| seq < first.seq) => {}
            None => {
                return Err(ExportError::Broken {
                    seq,
                    why: "a checkpoint signed this record, and the export does not hold it".into(),
                })
            }
        }
    }
    // The checkpoint record right after the head it signed is covered with it.
    let covered = covered.map(|seq| match records.iter().find(|r| r.seq == seq + 1) {
        Some(next) if next.event == "audit_checkpoint" => seq + 1,
        _ => seq,
    });
    match covered {
        Some(seq) if seq >= last_seq => Ok((count, last_seq)),
        Some(seq) => Err(ExportError::Broken { seq: seq + 1, why: "no signed checkpoint covers it".into() }),
        None => Err(ExportError::Broken {
            seq: records.first().map_or(0, |r| r.seq),
            why: "no signed checkpoint covers the export".into(),
        }),
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

    /// `records` plus a checkpoint over its last record, chained after it.
    fn with_checkpoint(mut records: Vec<AuditRecord>, key: &ed25519_dalek::SigningKey) -> Vec<AuditRecord> {
        let last = records.last().unwrap().clone();
        let mut checkpoint = AuditRecord {
            seq: last.seq + 1,
            event: "audit_checkpoint".into(),
            actor: "system".into(),
            tenant: None,
            details: checkpoint_details(key, last.seq, &last.hash),
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
        assert_eq!(verify_signed_run(&signed, &public, None), Ok((6, 6)));
        // Records after the checkpoint: not covered, unless a later checkpoint is given.
        let mut longer = with_checkpoint(chain(5), &key);
        let mut more = chain(9)[5..].to_vec();
        let mut prev = longer.last().unwrap().hash.clone();
        for (i, record) in more.iter_mut().enumerate() {
            record.seq = 7 + i as u64;
            record.prev_hash = prev.clone();
            record.hash = record_hash(record);
            prev = record.hash.clone();
        }
        longer.extend(more);
        assert!(matches!(verify_signed_run(&longer, &public, None), Err(ExportError::Broken { seq: 7, .. })));
        let later = with_checkpoint(longer.clone(), &key);
        let extra = later.last().unwrap();
        assert_eq!(verify_signed_run(&longer, &public, Some(extra)), Ok((10, 10)));
        // Cut short after the checkpoint was made: the later checkpoint names a head not held.
        assert!(matches!(
            verify_signed_run(&longer[..8], &public, Some(extra)),
            Err(ExportError::Broken { seq: 10, .. })
        ));
        // Another key's checkpoint, or a forged signature: refused.
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        assert!(verify_signed_run(&with_checkpoint(chain(5), &other), &public, None).is_err());
        let mut forged = signed.clone();
        forged[5].details["seq"] = serde_json::json!(4);
        forged[5].hash = record_hash(&forged[5]);
        assert!(matches!(verify_signed_run(&forged, &public, None), Err(ExportError::Broken { seq: 6, .. })));
        assert!(verify_signed_run(&chain(5), &public, None).is_err(), "no checkpoint at all");
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
