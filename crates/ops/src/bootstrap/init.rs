//! `argus-ops init`: a fresh data dir with its CA, server certificate, store and one
//! bootstrap admin PAT, shown once.

use std::path::Path;

use anyhow::Context as _;

use crate::bootstrap::data_dir::DataDir;
use crate::bootstrap::seal;
use crate::bootstrap::tls;
use crate::secrets;
use crate::store::audit::{AuditChain, AuditEntry, AuditEvent};
use crate::store::{PatRecord, Scope, StoreUrl, Write};
use crate::time_format::now;

/// What `init` created.
pub struct Initialised {
    pub ca_cert: std::path::PathBuf,
    /// The bootstrap admin PAT; `None` when this node joined an existing cluster.
    pub admin_pat: Option<String>,
    /// Founding a cluster on a shared store: the secret the CA key is sealed under, shown once
    /// (every joining node needs it).
    pub cluster_secret: Option<String>,
    /// The checkpoint key's public half (SPEC §14), hex.
    pub checkpoint_key: String,
}

/// Creates the data dir on `store`; refuses if the dir exists and is not empty. On a shared
/// store that already holds a cluster, joins it with `cluster_secret` (`ARGUS_CLUSTER_SECRET`),
/// which opens the sealed CA key (SPEC §10); nothing is written when it does not.
pub fn init(
    data_dir: &Path,
    server_names: &[String],
    store_url: &StoreUrl,
    cluster_secret: Option<&str>,
) -> anyhow::Result<Initialised> {
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        anyhow::bail!("{} already exists and is not empty; refusing to overwrite it", data_dir.display());
    }
    let dir = DataDir(data_dir.to_path_buf());
    // The store first: nothing is written into the data dir for a store that cannot be used.
    let store = crate::store::open(store_url, data_dir).map_err(|e| anyhow::anyhow!("opening the store: {e}"))?;
    let node_id = crate::membership::generate_node_id();
    let pems = tls::generate(server_names).context("generating certificates")?;
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
    let record = AuditChain::default().written_by(Some(node_id.clone())).next_record(
        AuditEntry::system(AuditEvent::PatCreated)
            .details(serde_json::json!({ "owner": "admin@local", "scopes": ["admin"], "bootstrap": true })),
        now,
    );
    if store.cluster().is_none()
        && store
            .audit_newest_first()
            .next()
            .transpose()
            .map_err(|e| anyhow::anyhow!("reading the store: {e}"))?
            .is_some()
    {
        anyhow::bail!("the store {} already holds an ARGUS deployment", store_url.redacted());
    }
    // Found the cluster (empty store) or join it: then this node's certificate is signed by the
    // cluster CA kept in the store, and no PAT is made. A shared store keeps the CA key only
    // sealed under a new cluster secret.
    let founding_secret = store.cluster().is_some().then(seal::new_secret);
    let stored_key = match &founding_secret {
        Some(secret) => seal::seal(secret, &pems.ca_cert, &pems.ca_key)?,
        None => pems.ca_key.clone(),
    };
    let joined = store
        .found_or_join(&[Write::Pat(pat), Write::Audit(record)], &pems.ca_cert, &stored_key)
        .map_err(|e| anyhow::anyhow!("initialising the store {}: {e}", store_url.redacted()))?;
    // Joining: the secret must open the key before anything is written here.
    let joined = match joined {
        None => None,
        Some((ca_cert, stored)) => {
            let secret = cluster_secret.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                anyhow::anyhow!(
                    "the store {} holds a cluster: joining it needs {} (printed once when the cluster was founded)",
                    store_url.redacted(),
                    seal::SECRET_VARIABLE
                )
            })?;
            let ca_key = seal::unseal(secret, &ca_cert, &stored)?;
            Some((ca_cert, ca_key))
        }
    };
    std::fs::create_dir_all(data_dir.join("tls")).context("creating the data dir")?;
    std::fs::create_dir_all(data_dir.join("run"))?;
    // Which store this node uses, kept beside its keys (0600: the URL may hold a password).
    tls::write_private(&dir.store_file(), format!("{}\n", store_url.to_secret_string()).as_bytes())?;
    tls::write_public(&dir.node_id(), format!("{node_id}\n").as_bytes())?;
    match joined {
        None => {
            tls::write_public(&dir.tls("ca.pem"), pems.ca_cert.as_bytes())?;
            // A single node keeps its CA key beside its certificates (`migrate-store` carries it
            // into a cluster); a cluster's lives only sealed in the store.
            if founding_secret.is_none() {
                tls::write_private(&dir.tls("ca.key"), pems.ca_key.as_bytes())?;
            }
            tls::write_public(&dir.tls("server.pem"), pems.server_cert.as_bytes())?;
            tls::write_private(&dir.tls("server.key"), pems.server_key.as_bytes())?;
            let checkpoint = super::checkpoint::derive(&pems.ca_key);
            super::checkpoint::write(&dir, &checkpoint)?;
            Ok(Initialised {
                ca_cert: dir.tls("ca.pem"),
                admin_pat: Some(admin_pat),
                cluster_secret: founding_secret,
                checkpoint_key: hex::encode(checkpoint.verifying_key().to_bytes()),
            })
        }
        Some((ca_cert, ca_key)) => {
            let (server_cert, server_key) =
                tls::issue(&ca_key, server_names).context("signing this node's certificate")?;
            tls::write_public(&dir.tls("ca.pem"), ca_cert.as_bytes())?;
            tls::write_public(&dir.tls("server.pem"), server_cert.as_bytes())?;
            tls::write_private(&dir.tls("server.key"), server_key.as_bytes())?;
            // The same key on every node: derived from the CA key they all unseal.
            let checkpoint = super::checkpoint::derive(&ca_key);
            super::checkpoint::write(&dir, &checkpoint)?;
            Ok(Initialised {
                ca_cert: dir.tls("ca.pem"),
                admin_pat: None,
                cluster_secret: None,
                checkpoint_key: hex::encode(checkpoint.verifying_key().to_bytes()),
            })
        }
    }
}
