//! The cluster CA's private key at rest (SPEC §10 "Joining needs more than the database"):
//! kept in the store only sealed under a `cluster_secret` that founding prints once, so read
//! access to the database yields no CA key and no node certificate.
//!
//! Sealed form: `argus-sealed-ca-v1:` + base64url(salt ‖ nonce ‖ ciphertext+tag). The key is
//! HKDF-SHA256 of the secret (256 random bits: no slow KDF is needed) with the salt, the AEAD
//! is ChaCha20-Poly1305 (ring, which rustls already runs on), and the associated data is the
//! CA certificate's SHA-256, so a sealed key cannot be moved under another certificate.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};

/// What every cluster secret starts with (it is shown to a person once).
pub const SECRET_PREFIX: &str = "argus_cs_";
/// What a sealed key starts with in the store.
pub const SEALED_PREFIX: &str = "argus-sealed-ca-v1:";
/// The variable a joining node reads it from.
pub const SECRET_VARIABLE: &str = "ARGUS_CLUSTER_SECRET";

const SALT_LEN: usize = 16;
const INFO: &[u8] = b"argus cluster CA key v1";

/// Why a stored key could not be opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Stored in clear: a cluster founded before the secret existed (`argus-ops cluster seal`).
    #[error(
        "the cluster CA key in this database is stored in clear (a cluster founded before the cluster secret); \
         seal it first with `argus-ops cluster seal --store URL`, which prints the secret once"
    )]
    Clear,
    /// The secret does not open it.
    #[error("{SECRET_VARIABLE} does not open the cluster CA key: wrong secret")]
    WrongSecret,
    /// The secret is not one founding printed.
    #[error("{SECRET_VARIABLE} is not a cluster secret (it starts with {SECRET_PREFIX})")]
    MalformedSecret,
    /// The stored value is neither a key nor a sealed key.
    #[error("the stored cluster CA key is damaged")]
    Damaged,
}

/// A fresh cluster secret.
pub fn new_secret() -> String {
    crate::secrets::token(SECRET_PREFIX)
}

fn secret_bytes(secret: &str) -> Result<Vec<u8>, SealError> {
    let hex_part = secret.trim().strip_prefix(SECRET_PREFIX).ok_or(SealError::MalformedSecret)?;
    let bytes = hex::decode(hex_part).map_err(|_| SealError::MalformedSecret)?;
    if bytes.len() != 32 {
        return Err(SealError::MalformedSecret);
    }
    Ok(bytes)
}

fn key(secret: &[u8], salt: &[u8]) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA256, salt).extract(secret);
    let mut bytes = [0u8; 32];
    prk.expand(&[INFO], &CHACHA20_POLY1305)
        .and_then(|okm| okm.fill(&mut bytes))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte ChaCha20 key"))
}

fn aad(ca_cert_pem: &str) -> [u8; 32] {
    argus_fsm::signed::sha256(ca_cert_pem.as_bytes())
}

/// Seals `ca_key_pem` (bound to `ca_cert_pem`) under `secret`.
pub fn seal(secret: &str, ca_cert_pem: &str, ca_key_pem: &str) -> Result<String, SealError> {
    let secret = secret_bytes(secret)?;
    let random = crate::secrets::random32();
    let (salt, nonce) = (&random[..SALT_LEN], &random[SALT_LEN..SALT_LEN + NONCE_LEN]);
    let mut sealed = ca_key_pem.as_bytes().to_vec();
    key(&secret, salt)
        .seal_in_place_append_tag(
            Nonce::try_assume_unique_for_key(nonce).expect("12 bytes"),
            Aad::from(aad(ca_cert_pem)),
            &mut sealed,
        )
        .map_err(|_| SealError::Damaged)?;
    let mut out = Vec::with_capacity(SALT_LEN + NONCE_LEN + sealed.len());
    out.extend_from_slice(salt);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(format!("{SEALED_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)))
}

/// Whether a stored key is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// Opens a stored key with `secret`: the CA key PEM.
pub fn unseal(secret: &str, ca_cert_pem: &str, stored: &str) -> Result<String, SealError> {
    let Some(encoded) = stored.strip_prefix(SEALED_PREFIX) else {
        return Err(if stored.contains("PRIVATE KEY") { SealError::Clear } else { SealError::Damaged });
    };
    let secret = secret_bytes(secret)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).map_err(|_| SealError::Damaged)?;
    if bytes.len() < SALT_LEN + NONCE_LEN + CHACHA20_POLY1305.tag_len() {
        return Err(SealError::Damaged);
    }
    let (salt, rest) = bytes.split_at(SALT_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let mut sealed = sealed.to_vec();
    let opened = key(&secret, salt)
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).expect("12 bytes"),
            Aad::from(aad(ca_cert_pem)),
            &mut sealed,
        )
        .map_err(|_| SealError::WrongSecret)?;
    String::from_utf8(opened.to_vec()).map_err(|_| SealError::Damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_sealed_key_opens_with_its_secret_and_nothing_else() {
        let secret = new_secret();
        let sealed = seal(&secret, CERT, KEY).unwrap();
        assert!(is_sealed(&sealed) && !sealed.contains("PRIVATE KEY"), "{sealed}");
        assert_eq!(unseal(&secret, CERT, &sealed).unwrap(), KEY);
        assert_eq!(unseal(&new_secret(), CERT, &sealed), Err(SealError::WrongSecret));
        assert_eq!(unseal(&secret, "another CA", &sealed), Err(SealError::WrongSecret), "bound to its certificate");
        assert_ne!(seal(&secret, CERT, KEY).unwrap(), sealed, "a fresh salt and nonce each time");
    }

    #[test]
    fn a_clear_a_damaged_or_a_malformed_input_is_named() {
        let secret = new_secret();
        assert_eq!(unseal(&secret, CERT, KEY), Err(SealError::Clear));
        assert_eq!(unseal(&secret, CERT, "garbage"), Err(SealError::Damaged));
        assert_eq!(unseal(&secret, CERT, &format!("{SEALED_PREFIX}AAAA")), Err(SealError::Damaged));
        let sealed = seal(&secret, CERT, KEY).unwrap();
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(unseal(&secret, CERT, &String::from_utf8(flipped).unwrap()), Err(SealError::WrongSecret));
        for bad in ["", "argus_cs_", "argus_cs_zz", "nope", &format!("{SECRET_PREFIX}{}", "ab".repeat(16))] {
            assert_eq!(unseal(bad, CERT, &sealed), Err(SealError::MalformedSecret), "{bad}");
        }
        assert!(SealError::Clear.to_string().contains("argus-ops cluster seal"));
        assert!(SealError::WrongSecret.to_string().contains(SECRET_VARIABLE));
    }
}
