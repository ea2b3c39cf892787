//! `argus-ops init`: a fresh data dir with its CA, server certificate, store and one
//! bootstrap admin PAT, shown once.

use std::path::Path;

use anyhow::Context as _;

use crate::bootstrap::serve::DataDir;
use crate::bootstrap::tls;
use crate::secrets;
use crate::store::audit::{AuditChain, AuditEntry};
use crate::store::{PatRecord, Scope, StoreUrl, Write};
use crate::time_format::now;

/// What `init` created.
pub struct Initialised {
    pub ca_cert: std::path::PathBuf,
    pub admin_pat: String,
}

/// Creates the data dir on `store`; refuses if the dir exists and is not empty.
pub fn init(data_dir: &Path, server_names: &[String], store_url: &StoreUrl) -> anyhow::Result<Initialised> {
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        anyhow::bail!("{} already exists and is not empty; refusing to overwrite it", data_dir.display());
    }
    let dir = DataDir(data_dir.to_path_buf());
    // The store first: nothing is written into the data dir for a store that cannot be used.
    let store = crate::store::open(store_url, data_dir).map_err(|e| anyhow::anyhow!("opening the store: {e}"))?;
    if store.audit_newest_first().next().transpose().map_err(|e| anyhow::anyhow!("reading the store: {e}"))?.is_some() {
        anyhow::bail!(
            "the store {} already holds an ARGUS deployment; joining it is cluster mode (not available yet)",
            store_url.redacted()
        );
    }
    std::fs::create_dir_all(data_dir.join("tls")).context("creating the data dir")?;
    std::fs::create_dir_all(data_dir.join("run"))?;
    // Which store this node uses, kept beside its keys (0600: the URL may hold a password).
    tls::write_private(&dir.store_file(), format!("{}\n", store_url.to_secret_string()).as_bytes())?;
    tls::write_public(&dir.node_id(), format!("{}\n", crate::cluster::generate_node_id()).as_bytes())?;
    let pems = tls::generate(server_names).context("generating certificates")?;
    tls::write_public(&dir.tls("ca.pem"), pems.ca_cert.as_bytes())?;
    tls::write_private(&dir.tls("ca.key"), pems.ca_key.as_bytes())?;
    tls::write_public(&dir.tls("server.pem"), pems.server_cert.as_bytes())?;
    tls::write_private(&dir.tls("server.key"), pems.server_key.as_bytes())?;

    let admin_pat = secrets::token("argus_pat_");
    let now = now();
    let pat = PatRecord {
        hash: argus_fsm::signed::sha256(admin_pat.as_bytes()),
        owner: "admin@local".into(),
        scopes: vec![Scope::Admin],
        tenant: None,
        created_at: now,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    let record = AuditChain::default().next_record(
        AuditEntry::system("pat_created")
            .details(serde_json::json!({ "owner": "admin@local", "scopes": ["admin"], "bootstrap": true })),
        now,
    );
    store.commit(&[Write::Pat(pat), Write::Audit(record)])?;
    Ok(Initialised { ca_cert: dir.tls("ca.pem"), admin_pat })
}
