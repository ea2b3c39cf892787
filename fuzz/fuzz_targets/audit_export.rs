//! The offline proof of an export (SPEC §14) on what a SIEM hands back: arbitrary NDJSON lines
//! checked along the global chain and a tenant's, with and without the checkpoint key; and
//! honest chains built from fuzzed records (several tenants, a signed checkpoint). Asserts: no
//! panic; nothing is proved complete without a checkpoint the key really signed; an honest
//! export proves itself globally and as each tenant's slice (its view of the checkpoint naming
//! no other tenant); the same export with a record dropped from inside it does not.
#![no_main]

use argus_fsm::audit::{
    check_checkpoint, checkpoint_details, link, tenant_view, verify_run, verify_signed_run, Along, AuditRecord,
    TenantHeads, CHECKPOINT_EVENT, GENESIS,
};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn record(event: String, tenant: Option<String>, reason: String) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: "2026-12-06T10:00:00Z".into(),
        event,
        actor: "op".into(),
        tenant,
        agent: None,
        session_id: None,
        reason: Some(reason),
        details: Value::Null,
        node: None,
        tenant_seq: None,
        tenant_prev_hash: None,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// A record as fuzzed: its event, its tenant (`T`, `U` or none) and its reason.
type Entry = (String, Option<bool>, String);

fuzz_target!(|input: (&[u8], Vec<Entry>, usize)| {
    let (text, entries, cut) = input;
    let key = SigningKey::from_bytes(&[0x17; 32]);
    let public = key.verifying_key();

    // Hostile lines: checked without a panic; proved complete only under a real signature.
    let hostile: Vec<AuditRecord> =
        text.split(|b| *b == b'\n').filter_map(|line| serde_json::from_slice(line).ok()).collect();
    for along in [Along::Global, Along::Tenant("T")] {
        let _ = verify_run(&hostile, along, None);
        if verify_signed_run(&hostile, &public, None, along).is_ok() {
            assert!(hostile
                .iter()
                .any(|r| r.event == CHECKPOINT_EVENT && check_checkpoint(&r.details, &public).is_ok()));
        }
    }

    // An honest chain of fuzzed records over two tenants and none, then a signed checkpoint.
    let mut tenants = TenantHeads::new();
    let mut prev = GENESIS.to_string();
    let mut chain = Vec::new();
    for (event, tenant, reason) in entries.into_iter().take(64) {
        let event = if event == CHECKPOINT_EVENT { format!("{event}_") } else { event };
        let tenant = tenant.map(|t| if t { "T" } else { "U" }.to_string());
        let mut r = record(event, tenant, reason);
        link(&mut r, chain.len() as u64 + 1, &prev, &mut tenants);
        prev = r.hash.clone();
        chain.push(r);
    }
    let Some(last) = chain.last().cloned() else { return };
    let mut checkpoint = record(CHECKPOINT_EVENT.into(), None, String::new());
    checkpoint.details = checkpoint_details(&key, last.seq, &last.hash, &tenants);
    link(&mut checkpoint, last.seq + 1, &last.hash, &mut tenants.clone());
    chain.push(checkpoint.clone());
    assert!(verify_signed_run(&chain, &public, None, Along::Global).is_ok());
    if tenants.contains_key("T") {
        let mut slice: Vec<AuditRecord> = chain.iter().filter(|r| r.tenant.as_deref() == Some("T")).cloned().collect();
        let mut view = checkpoint.clone();
        view.details = tenant_view(&checkpoint.details, "T");
        assert!(view.details["tenants"].get("U").is_none());
        slice.push(view);
        assert!(verify_signed_run(&slice, &public, None, Along::Tenant("T")).is_ok());
    }
    // A record dropped from inside the export (not its first, which an export may start
    // after, nor the checkpoint): refused.
    if chain.len() > 2 {
        let at = 1 + cut % (chain.len() - 2);
        let mut dropped = chain.clone();
        dropped.remove(at);
        assert!(verify_signed_run(&dropped, &public, None, Along::Global).is_err());
    }
});
