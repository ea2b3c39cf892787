//! TLS to the database with rustls, by `sslmode` (libpq's meanings): `prefer` and `require`
//! encrypt without verifying the certificate, `verify-full` verifies it against `sslrootcert`
//! and the host name.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::url::{PgUrl, SslMode};
use super::StoreError;

/// The connector for `url`'s `sslmode`.
pub fn connector(url: &PgUrl) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let provider = argus_transport_quic::crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS to the database: {e}")))?;
    let config = match (url.ssl, &url.root_cert) {
        (SslMode::VerifyFull, Some(path)) => {
            let pem =
                std::fs::read(path).map_err(|e| StoreError::Backend(format!("reading sslrootcert {path}: {e}")))?;
            let roots = argus_transport_quic::pinned_roots(&pem)
                .map_err(|e| StoreError::Backend(format!("sslrootcert {path}: {e}")))?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `sslmode=prefer|require`: the channel is encrypted, the peer is not authenticated (as with
/// libpq); signatures are still checked so the handshake itself is sound.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
