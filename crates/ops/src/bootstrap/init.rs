//! `argus-ops init`: a fresh data dir with its CA, server certificate, store and one
//! bootstrap admin PAT, shown once.

use std::path::Path;

use anyhow::Context as _;

use crate::bootstrap::serve::DataDir;
use crate::bootstrap::tls;
use crate::secrets;
use crate::store::audit::{AuditChain, AuditEntry};
use crate::store::{PatRecord, Scope, SledStore, Store, Write};
use crate::time_format::now;

/// What `init` created.
pub struct Initialised {
    pub ca_cert: std::path::PathBuf,
    pub admin_pat: String,
}

/// Creates the data dir; refuses if it exists and is not empty.
pub fn init(data_dir: &Path, server_names: &[String]) -> anyhow::Result<Initialised> {
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        anyhow::bail!("{} already exists and is not empty; refusing to overwrite it", data_dir.display());
    }
    let dir = DataDir(data_dir.to_path_buf());
    std::fs::create_dir_all(data_dir.join("tls")).context("creating the data dir")?;
    std::fs::create_dir_all(data_dir.join("run"))?;
    let pems = tls::generate(server_names).context("generating certificates")?;
    tls::write_public(&dir.tls("ca.pem"), pems.ca_cert.as_bytes())?;
    tls::write_private(&dir.tls("ca.key"), pems.ca_key.as_bytes())?;
    tls::write_public(&dir.tls("server.pem"), pems.server_cert.as_bytes())?;
    tls::write_private(&dir.tls("server.key"), pems.server_key.as_bytes())?;

    let store = SledStore::open(&dir.db()).context("creating the store")?;
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
