//! The checkpoint key (SPEC §14 "Signed checkpoints"): `DIR/tls/checkpoint.key`, mode 0600,
//! the Ed25519 key that signs the audit trail's heads.
//!
//! It is derived from the CA's private key (SHA-256 of a domain and the key's PEM), so every
//! node of a cluster — each of which unseals the same CA key when it joins — holds the same
//! checkpoint key, and nothing new is ever kept in the database, in clear or sealed.

use anyhow::Context as _;
use ed25519_dalek::SigningKey;

use super::data_dir::DataDir;

/// The key file, under `tls/`.
pub const KEY_FILE: &str = "checkpoint.key";
/// Domain separation of the derivation.
const DERIVATION_DOMAIN: &[u8] = b"argus-audit-checkpoint-key-v1\0";

/// The checkpoint key of the CA whose private key is `ca_key_pem`.
pub fn derive(ca_key_pem: &str) -> SigningKey {
    let mut material = DERIVATION_DOMAIN.to_vec();
    material.extend_from_slice(ca_key_pem.as_bytes());
    SigningKey::from_bytes(&argus_fsm::signed::sha256(&material))
}

/// Writes the key file (once: an existing file is kept).
pub fn write(dir: &DataDir, key: &SigningKey) -> anyhow::Result<()> {
    let path = dir.tls(KEY_FILE);
    if path.exists() {
        return Ok(());
    }
    super::tls::write_private(&path, argus_fsm::signed::format_key_file(&key.to_bytes()).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The node's checkpoint key: its file, else derived from `tls/ca.key` (a single node
/// initialised before checkpoints existed) and written; `None` for a cluster node initialised
/// before them (its CA key lives only sealed in the store: re-run `init` to join again).
pub fn load(dir: &DataDir) -> anyhow::Result<Option<SigningKey>> {
    let path = dir.tls(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes =
                argus_fsm::signed::parse_key_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok(Some(SigningKey::from_bytes(&bytes)))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::read_to_string(dir.tls("ca.key")) {
                Ok(ca_key) => {
                    let key = derive(&ca_key);
                    write(dir, &key)?;
                    Ok(Some(key))
                }
                Err(_) => Ok(None),
            }
        }
        Err(error) => Err(anyhow::anyhow!("reading {}: {error}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_holder_of_the_ca_key_derives_the_same_key_and_no_other_does() {
        assert_eq!(derive("ca key A").to_bytes(), derive("ca key A").to_bytes());
        assert_ne!(derive("ca key A").to_bytes(), derive("ca key B").to_bytes());
    }

    #[test]
    fn a_single_node_from_before_derives_its_key_from_its_ca_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir(dir.path().to_path_buf());
        std::fs::create_dir_all(dir.path().join("tls")).unwrap();
        assert!(load(&data).unwrap().is_none(), "no CA key here: no checkpoints");
        std::fs::write(data.tls("ca.key"), "ca key A").unwrap();
        let key = load(&data).unwrap().unwrap();
        assert_eq!(key.to_bytes(), derive("ca key A").to_bytes());
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(data.tls(KEY_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(data.tls("ca.key"), "ca key B").unwrap();
        assert_eq!(load(&data).unwrap().unwrap().to_bytes(), key.to_bytes(), "the file is kept");
    }
}
