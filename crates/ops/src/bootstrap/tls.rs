//! The ops server's certificates: a CA made at `init` and a server certificate it signs,
//! used for both the HTTPS API and QUIC. Clients and agents pin `tls/ca.pem`.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// The names every server certificate carries.
pub const DEFAULT_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// PEM texts written by `init`.
pub struct Pems {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
}

/// The CA's parameters. Deterministic, so a node joining a cluster can sign with the CA key
/// kept in the store without parsing the CA certificate: the issuer name it writes is the
/// CA's subject name.
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "ARGUS ops CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(ca_params)
}

/// Makes a CA and a server certificate for `names` (plus the defaults).
pub fn generate(extra_names: &[String]) -> Result<Pems, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params()?.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let (server_cert, server_key) = issue(&ca_key_pem, extra_names)?;
    Ok(Pems { ca_cert: ca_cert.pem(), ca_key: ca_key_pem, server_cert, server_key })
}

/// A node certificate for `names` (plus the defaults and the peer-link name), signed by the CA
/// whose key is `ca_key_pem`: it serves the HTTPS API and QUIC, and authenticates the node on
/// peer links in both directions (server and client use). Returns (certificate, key) PEMs.
pub fn issue(ca_key_pem: &str, extra_names: &[String]) -> Result<(String, String), rcgen::Error> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|n| n.to_string()).collect();
    names.extend(extra_names.iter().cloned());
    names.push(argus_transport_quic::PEER_SERVER_NAME.to_string());
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, "argus-ops");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let server_key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params()?, &ca_key);
    let server_cert = params.signed_by(&server_key, &issuer)?;
    Ok((server_cert.pem(), server_key.serialize_pem()))
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Writes a world-readable file.
pub fn write_public(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
