//! Signed checkpoints of the audit trail (SPEC §14): every 5 minutes while records were
//! written, and at shutdown, an `audit_checkpoint` record whose details hold the store's head
//! (`seq`, `hash`) and every tenant chain's head, signed with the checkpoint key. An export that holds a checkpoint is proved
//! complete up to the head it signed (`argusctl audit verify-export --checkpoint-key`).
//!
//! The head is the store's (what every node has written), read after this node's own staged
//! records are flushed; a node whose store's newest record is already a checkpoint writes none.

use std::sync::Mutex;
use std::time::Duration;

use crate::fault::Fault;
use crate::state::Ops;
use crate::store::audit::{AuditEntry, AuditEvent};

/// The public half as SPEC §14 shows it: `{"key_id","public_key"}` (hex).
pub fn public_view(key: &ed25519_dalek::SigningKey) -> serde_json::Value {
    let public = key.verifying_key();
    serde_json::json!({ "key_id": argus_fsm::signed::key_id(&public), "public_key": hex::encode(public.to_bytes()) })
}

/// How often a checkpoint is due while records are written.
pub const INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The last head this node signed.
#[derive(Default)]
pub struct Checkpoints {
    covered: Mutex<u64>,
}

impl Checkpoints {
    /// Signs the store's head unless it is signed already; whether a checkpoint was written.
    pub async fn write_due(&self, ops: &Ops) -> Result<bool, Fault> {
        let Some(key) = ops.checkpoint_key.clone() else { return Ok(false) };
        if let Err(error) = ops.writer.wait_all().await {
            tracing::warn!(%error, "records were not stored before a checkpoint; signing the store's head as it is");
        }
        let store = ops.store.clone();
        let (head, tenants) = tokio::task::spawn_blocking(move || store.audit_heads())
            .await
            .map_err(|_| Fault::from(argus_fsm::Code::Internal))?
            .map_err(Fault::from)?;
        let Some(head) = head else { return Ok(false) };
        if head.event == AuditEvent::AuditCheckpoint.as_str() || *self.covered.lock().expect("covered lock") >= head.seq
        {
            return Ok(false);
        }
        let details = argus_fsm::audit::checkpoint_details(&key, head.seq, &head.hash, &tenants);
        let entry = AuditEntry::system(AuditEvent::AuditCheckpoint).details(details);
        ops.append_audit(vec![entry], crate::time_format::now()).await?;
        ops.writer.wait_all().await.map_err(Fault::from)?;
        *self.covered.lock().expect("covered lock") = head.seq;
        tracing::info!(seq = head.seq, "audit checkpoint signed");
        Ok(true)
    }
}

/// Writes a checkpoint every [`INTERVAL`] while records were written.
pub async fn driver(ops: std::sync::Arc<Ops>, checkpoints: std::sync::Arc<Checkpoints>) {
    loop {
        tokio::time::sleep(INTERVAL).await;
        if let Err(error) = checkpoints.write_due(&ops).await {
            tracing::warn!(error = %error.message, "could not write an audit checkpoint; trying at the next one");
        }
    }
}
