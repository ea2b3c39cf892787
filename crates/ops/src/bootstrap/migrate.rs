//! `argus-ops migrate-store --data-dir DIR --to postgres://…` (SPEC §10): copies a stopped
//! sled node into an empty PostgreSQL database in one transaction — tenants and consent, PATs,
//! agents with their passkeys, enrollment tokens and tombstones, consumed patch IDs, every
//! session, the audit chain as it is (so it still verifies) and the node's CA, which becomes
//! the cluster CA — then points the data dir at the new store. The sled database stays where
//! it was, untouched, as the way back.

use std::path::Path;

use anyhow::Context as _;

use crate::bootstrap::data_dir::DataDir;
use crate::bootstrap::tls;
use crate::store::audit::{verify, Verification};
use crate::store::url::PgUrl;
use crate::store::{PgStore, SledStore, Store as _, StoreError, StoreUrl, Write};

/// What was copied.
#[derive(Debug, serde::Serialize)]
pub struct Migrated {
    /// The secret the CA key is sealed under, shown once: joining nodes need it.
    pub cluster_secret: String,
    pub data_dir: String,
    pub to: String,
    pub tenants: usize,
    pub agents: usize,
    pub pats: usize,
    pub sessions: usize,
    pub consumed_patch_ids: usize,
    pub audit_records: u64,
}

/// Runs the migration. The node must be stopped (sled's lock says so) and on sled.
pub fn migrate(data_dir: &Path, to: &PgUrl) -> anyhow::Result<Migrated> {
    let dir = DataDir(data_dir.to_path_buf());
    if !dir.tls("ca.pem").exists() {
        anyhow::bail!("{} is not an initialised data dir", data_dir.display());
    }
    if let StoreUrl::Postgres(current) = crate::store::resolve(None, data_dir)? {
        anyhow::bail!("{} already serves from {}; nothing to migrate", data_dir.display(), current.redacted());
    }
    let source = SledStore::open(&dir.db())
        .map_err(|_| anyhow::anyhow!("the store in {} is in use: stop argus-ops first", data_dir.display()))?;
    match verify(&source, None).context("verifying the audit chain before copying")? {
        Verification::Intact { .. } => {}
        Verification::Broken { seq, why } => {
            anyhow::bail!("the audit chain is broken at seq {seq} ({why}); refusing to copy it")
        }
    }
    // Records from before tenant chains get their places first, as `serve` would give them
    // (SPEC §14), and this node's remembered head follows its record's new hash.
    source.give_tenant_places().context("giving the audit records their tenant places")?;
    let floor = crate::store::head::ChainFloor::open(data_dir)?;
    if let Some(head) = floor.highest() {
        let record = source.audit_from(head.seq).next().transpose()?.filter(|r| r.seq == head.seq);
        if let Some(record) = record {
            if record.hash != head.hash && source.audit_legacy_hash(head.seq)? == Some(head.hash.clone()) {
                floor.repoint(crate::store::head::Head::at(head.seq, record.hash));
            }
        }
    }
    let (snapshot, audit) = source.export().context("reading the sled store")?;
    drop(source);
    let ca_cert = std::fs::read_to_string(dir.tls("ca.pem")).context("reading tls/ca.pem")?;
    let ca_key = std::fs::read_to_string(dir.tls("ca.key")).context("reading tls/ca.key")?;

    let consumed_patch_ids = snapshot.agents.iter().map(|agent| agent.patches.len()).sum();
    let counts = (snapshot.tenants.len(), snapshot.agents.len(), snapshot.pats.len(), snapshot.sessions.len());
    let mut batch: Vec<Write> = Vec::new();
    batch.extend(snapshot.tenants.into_iter().map(Write::Tenant));
    batch.extend(snapshot.pats.into_iter().map(Write::Pat));
    batch.extend(snapshot.agents.into_iter().map(Write::Agent));
    batch.extend(snapshot.sessions.into_iter().map(Write::Session));
    batch.extend(snapshot.requests.into_iter().map(Write::AccessRequest));
    let records = audit.len() as u64;
    batch.extend(audit.into_iter().map(Write::Audit));

    let target = PgStore::open(to).map_err(|e| anyhow::anyhow!("opening {}: {e}", to.redacted()))?;
    // In the cluster the CA key lives only sealed under a new cluster secret (SPEC §10).
    let cluster_secret = super::seal::new_secret();
    let sealed = super::seal::seal(&cluster_secret, &ca_cert, &ca_key)?;
    target.import(batch, &ca_cert, &sealed).map_err(|e| match e {
        StoreError::NotEmpty => anyhow::anyhow!("{} is not empty: it already holds an ARGUS deployment", to.redacted()),
        other => anyhow::anyhow!("copying into {}: {other}", to.redacted()),
    })?;
    match verify(&target, None).context("verifying the copied audit chain")? {
        Verification::Intact { records: copied } if copied == records => {}
        other => anyhow::bail!("the copied audit chain does not verify: {other:?}"),
    }
    // From now on this node serves from the database.
    let staged = dir.store_file().with_extension("url.new");
    let _ = std::fs::remove_file(&staged);
    tls::write_private(
        &staged,
        format!("{}\n", StoreUrl::Postgres(Box::new(to.clone())).to_secret_string()).as_bytes(),
    )?;
    std::fs::rename(&staged, dir.store_file()).context("pointing the data dir at the new store")?;
    // The clear copy of the CA key is not left behind on this node's disk.
    std::fs::remove_file(dir.tls("ca.key")).context("removing tls/ca.key (now sealed in the store)")?;
    Ok(Migrated {
        data_dir: data_dir.display().to_string(),
        to: to.redacted(),
        tenants: counts.0,
        agents: counts.1,
        pats: counts.2,
        sessions: counts.3,
        consumed_patch_ids,
        audit_records: records,
        cluster_secret,
    })
}

/// `argus-ops cluster seal`: seals a cluster CA key kept in clear (a cluster founded before the
/// cluster secret) under a new secret, answered once. Nodes keep serving meanwhile; joining
/// needs the secret from now on.
pub fn seal_cluster_ca(store: &PgUrl) -> anyhow::Result<String> {
    let target = PgStore::open(store).map_err(|e| anyhow::anyhow!("opening {}: {e}", store.redacted()))?;
    let (ca_cert, stored) = target
        .cluster_ca()
        .map_err(|e| anyhow::anyhow!("reading the cluster CA: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("{} holds no cluster", store.redacted()))?;
    if super::seal::is_sealed(&stored) {
        anyhow::bail!("the cluster CA key is already sealed; its secret was printed when it was sealed");
    }
    if !stored.contains("PRIVATE KEY") {
        anyhow::bail!("the stored cluster CA key is damaged");
    }
    let secret = super::seal::new_secret();
    let sealed = super::seal::seal(&secret, &ca_cert, &stored)?;
    if !target.replace_ca_key(&stored, &sealed).map_err(|e| anyhow::anyhow!("sealing the cluster CA: {e}"))? {
        anyhow::bail!("the cluster CA key changed meanwhile (sealed by someone else?); nothing done");
    }
    Ok(secret)
}

/// `argus-ops cluster reseal`: seals the cluster CA key under a new secret, opened with the
/// current one (`ARGUS_CLUSTER_SECRET`): how the secret is rotated (one who knew the old secret
/// and reads the database could open the old seal; after this, only the new secret opens it).
pub fn reseal_cluster_ca(store: &PgUrl, current_secret: &str) -> anyhow::Result<String> {
    let target = PgStore::open(store).map_err(|e| anyhow::anyhow!("opening {}: {e}", store.redacted()))?;
    let (ca_cert, stored) = target
        .cluster_ca()
        .map_err(|e| anyhow::anyhow!("reading the cluster CA: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("{} holds no cluster", store.redacted()))?;
    let ca_key = super::seal::unseal(current_secret, &ca_cert, &stored)?;
    let secret = super::seal::new_secret();
    let sealed = super::seal::seal(&secret, &ca_cert, &ca_key)?;
    if !target.replace_ca_key(&stored, &sealed).map_err(|e| anyhow::anyhow!("resealing the cluster CA: {e}"))? {
        anyhow::bail!("the cluster CA key changed meanwhile (resealed by someone else?); nothing done");
    }
    Ok(secret)
}
