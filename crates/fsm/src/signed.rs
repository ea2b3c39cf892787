//! Signed objects (SPEC §5 "Signed objects"): key files, `key_id`, the JSON envelope, and the
//! two body structs, byte for byte as an external signer produces them.
//!
//! Verification is always *verify, then parse*: the signature is checked over the raw bytes
//! with `verify_strict` before a single byte is decoded, and a successful check returns a
//! proof value ([`VerifiedPatch`], [`VerifiedConsent`]) that only this module can construct.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separation prefix for patch signatures.
pub const PATCH_DOMAIN: &[u8] = b"argus-patch-v1\0";
/// Domain separation prefix for consent signatures.
pub const CONSENT_DOMAIN: &[u8] = b"argus-consent-v1\0";
/// The only body version this code understands.
pub const BODY_VERSION: u8 = 1;
/// Largest patch content an agent will write (SPEC: `content` ≤ 1 MiB).
pub const MAX_PATCH_CONTENT: usize = 1024 * 1024;
/// Largest envelope body accepted for decoding at all: bounded before any base64 work so an
/// endless body cannot exhaust memory (TUF's "endless data").
pub const MAX_ENVELOPE_BODY: usize = MAX_PATCH_CONTENT + 64 * 1024;

/// Why a signed object was refused. Every variant means "do not trust these bytes".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    #[error("the envelope is not valid JSON of the expected shape")]
    MalformedEnvelope,
    #[error("the envelope body is larger than any valid object")]
    BodyTooLarge,
    #[error("the envelope names a key other than the pinned one")]
    UnknownKey,
    #[error("the signature does not verify under the pinned key")]
    BadSignature,
    #[error("the signed body does not decode as the expected struct")]
    MalformedBody,
    #[error("the signed body has bytes after the struct")]
    TrailingBytes,
    #[error("the signed body has an unsupported version")]
    UnsupportedVersion,
    #[error("the patch_id is not a lower-case hyphenated UUID")]
    BadPatchId,
    #[error("the request_id is not a lower-case hyphenated UUID")]
    BadRequestId,
}

/// Errors reading a key file (`PREFIX.key` / `PREFIX.pub`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("a key file holds exactly 64 hex characters and a newline")]
    BadFormat,
    #[error("the public key is not a valid Ed25519 point")]
    BadPublicKey,
}

/// The JSON envelope `{"body","signature","key_id"}` as it travels and is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 (standard, padded) of the postcard-encoded body.
    pub body: String,
    /// Base64 of the 64-byte Ed25519 signature over `DOMAIN || body bytes`.
    pub signature: String,
    /// Hex of the first 8 bytes of SHA-256(public key): which key signed, for the operator.
    pub key_id: String,
}

impl Envelope {
    /// Parses an envelope from JSON text, refusing unknown fields.
    pub fn from_json(text: &[u8]) -> Result<Envelope, SignedError> {
        serde_json::from_slice(text).map_err(|_| SignedError::MalformedEnvelope)
    }

    /// The envelope as pretty JSON, as `argusctl patch sign` writes it.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("an envelope of strings always serializes")
    }
}

/// Body of a signed patch, fields in SPEC order (postcard is order-sensitive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchBody {
    pub version: u8,
    pub patch_id: String,
    pub target: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub base_sha256: Option<[u8; 32]>,
    pub not_before: i64,
    pub not_after: i64,
    pub agents: Vec<String>,
}

/// Body of a signed consent document, fields in SPEC order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentBody {
    pub version: u8,
    pub tenant: String,
    pub signer: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
}

/// A patch whose signature was verified under the pinned key. Only [`verify_patch`] makes one,
/// so holding it is the proof (STYLE rule 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPatch {
    body: PatchBody,
    key_id: String,
}

impl VerifiedPatch {
    /// The verified body.
    pub fn body(&self) -> &PatchBody {
        &self.body
    }
    /// The key that signed it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// A consent document verified under a tenant's consent key. Only [`verify_consent`] makes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedConsent {
    body: ConsentBody,
    key_id: String,
}

impl VerifiedConsent {
    /// The verified body.
    pub fn body(&self) -> &ConsentBody {
        &self.body
    }
    /// The key that signed it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// `key_id` = hex of the first 8 bytes of SHA-256(public key).
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    hex::encode(&digest[..8])
}

/// SHA-256 of some bytes, the hash used across the product (content, tokens, audit chain).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads a key file's 32 bytes: 64 hex characters, optionally followed by one newline.
pub fn parse_key_file(text: &str) -> Result<[u8; 32], KeyFileError> {
    let hex_part = text.strip_suffix('\n').unwrap_or(text);
    if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyFileError::BadFormat);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| KeyFileError::BadFormat)?;
    Ok(out)
}

/// Writes 32 key bytes in the key-file encoding (lower-case hex and a newline).
pub fn format_key_file(bytes: &[u8; 32]) -> String {
    format!("{}\n", hex::encode(bytes))
}

/// Reads a public key file into a verifying key.
pub fn parse_public_key_file(text: &str) -> Result<VerifyingKey, KeyFileError> {
    let bytes = parse_key_file(text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyFileError::BadPublicKey)
}

/// Reads a private key file (the 32-byte seed) into a signing key.
pub fn parse_signing_key_file(text: &str) -> Result<SigningKey, KeyFileError> {
    Ok(SigningKey::from_bytes(&parse_key_file(text)?))
}

/// Signs a patch body (offline tooling). Pure: the key is an argument.
pub fn sign_patch(key: &SigningKey, body: &PatchBody) -> Envelope {
    sign_bytes(key, PATCH_DOMAIN, &encode_body(body))
}

/// Signs a consent body (offline tooling).
pub fn sign_consent(key: &SigningKey, body: &ConsentBody) -> Envelope {
    sign_bytes(key, CONSENT_DOMAIN, &encode_body(body))
}

/// Verifies a patch envelope under the pinned key, then decodes it.
pub fn verify_patch(envelope: &Envelope, pinned: &VerifyingKey) -> Result<VerifiedPatch, SignedError> {
    let bytes = verify_envelope(envelope, pinned, PATCH_DOMAIN)?;
    let body: PatchBody = decode_exact(&bytes)?;
    if body.version != BODY_VERSION {
        return Err(SignedError::UnsupportedVersion);
    }
    if !is_lower_hyphenated_uuid(&body.patch_id) {
        return Err(SignedError::BadPatchId);
    }
    Ok(VerifiedPatch { body, key_id: envelope.key_id.clone() })
}

/// Verifies a consent envelope under the tenant's consent key, then decodes it.
pub fn verify_consent(envelope: &Envelope, key: &VerifyingKey) -> Result<VerifiedConsent, SignedError> {
    let bytes = verify_envelope(envelope, key, CONSENT_DOMAIN)?;
    let body: ConsentBody = decode_exact(&bytes)?;
    if body.version != BODY_VERSION {
        return Err(SignedError::UnsupportedVersion);
    }
    Ok(VerifiedConsent { body, key_id: envelope.key_id.clone() })
}

/// `true` for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex.
pub fn is_lower_hyphenated_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

pub(crate) fn encode_body<T: Serialize>(body: &T) -> Vec<u8> {
    postcard::to_allocvec(body).expect("body structs of owned fields always encode")
}

pub(crate) fn sign_bytes(key: &SigningKey, domain: &[u8], bytes: &[u8]) -> Envelope {
    let signature = key.sign(&[domain, bytes].concat());
    Envelope {
        body: BASE64.encode(bytes),
        signature: BASE64.encode(signature.to_bytes()),
        key_id: key_id(&key.verifying_key()),
    }
}

/// The verify half: bounds, key, base64, then `verify_strict` over `domain || bytes`.
/// Returns the raw body bytes only when the signature holds.
/// Refuses an envelope whose body text could decode to more than `max` bytes, before anything
/// is decoded (base64 expands 3 bytes into 4).
pub(crate) fn check_body_size(envelope: &Envelope, max: usize) -> Result<(), SignedError> {
    if envelope.body.len() > max / 3 * 4 + 4 {
        return Err(SignedError::BodyTooLarge);
    }
    Ok(())
}

/// An envelope's body bytes, bounded by `max` ([`check_body_size`]), not verified.
pub(crate) fn decode_body(envelope: &Envelope, max: usize) -> Result<Vec<u8>, SignedError> {
    check_body_size(envelope, max)?;
    BASE64.decode(&envelope.body).map_err(|_| SignedError::MalformedEnvelope)
}

pub(crate) fn verify_envelope(envelope: &Envelope, key: &VerifyingKey, domain: &[u8]) -> Result<Vec<u8>, SignedError> {
    check_body_size(envelope, MAX_ENVELOPE_BODY)?;
    if envelope.key_id != key_id(key) {
        return Err(SignedError::UnknownKey);
    }
    let bytes = decode_body(envelope, MAX_ENVELOPE_BODY)?;
    let signature_bytes: [u8; 64] = BASE64
        .decode(&envelope.signature)
        .map_err(|_| SignedError::MalformedEnvelope)?
        .try_into()
        .map_err(|_| SignedError::MalformedEnvelope)?;
    let signature = Signature::from_bytes(&signature_bytes);
    key.verify_strict(&[domain, &bytes].concat(), &signature).map_err(|_| SignedError::BadSignature)?;
    Ok(bytes)
}

pub(crate) fn decode_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, SignedError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|_| SignedError::MalformedBody)?;
    if !rest.is_empty() {
        return Err(SignedError::TrailingBytes);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    pub(crate) fn sample_patch() -> PatchBody {
        PatchBody {
            version: 1,
            patch_id: "5f0c8e2a-3b1d-4c6e-9a7f-1e2d3c4b5a69".into(),
            target: "config.yaml".into(),
            content: b"poll: 9\n".to_vec(),
            mode: 0o644,
            base_sha256: None,
            not_before: 100,
            not_after: 200,
            agents: vec![],
        }
    }

    #[test]
    fn signed_patch_verifies_and_decodes_to_the_same_body() {
        let envelope = sign_patch(&key(1), &sample_patch());
        let verified = verify_patch(&envelope, &key(1).verifying_key()).unwrap();
        assert_eq!(verified.body(), &sample_patch());
        assert_eq!(verified.key_id(), key_id(&key(1).verifying_key()));
    }

    #[test]
    fn patch_signed_by_another_key_is_refused() {
        let mut envelope = sign_patch(&key(2), &sample_patch());
        envelope.key_id = key_id(&key(1).verifying_key());
        assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::BadSignature));
    }

    #[test]
    fn envelope_naming_another_key_is_refused_before_verification() {
        let envelope = sign_patch(&key(2), &sample_patch());
        assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::UnknownKey));
    }

    #[test]
    fn consent_signature_presented_as_patch_is_refused() {
        let consent =
            ConsentBody { version: 1, tenant: "T".into(), signer: "s".into(), issued_at: 1, expires_at: None };
        let envelope = sign_consent(&key(1), &consent);
        assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::BadSignature));
    }

    #[test]
    fn patch_signature_presented_as_consent_is_refused() {
        let envelope = sign_patch(&key(1), &sample_patch());
        assert_eq!(verify_consent(&envelope, &key(1).verifying_key()), Err(SignedError::BadSignature));
    }

    #[test]
    fn trailing_bytes_after_a_validly_signed_body_are_refused() {
        let mut bytes = encode_body(&sample_patch());
        bytes.push(0);
        let envelope = sign_bytes(&key(1), PATCH_DOMAIN, &bytes);
        assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::TrailingBytes));
    }

    #[test]
    fn unsupported_version_is_refused() {
        let mut body = sample_patch();
        body.version = 2;
        let envelope = sign_patch(&key(1), &body);
        assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::UnsupportedVersion));
    }

    #[test]
    fn patch_id_must_be_a_lower_case_uuid() {
        for bad in ["5F0C8E2A-3B1D-4C6E-9A7F-1E2D3C4B5A69", "not-a-uuid", "", "5f0c8e2a3b1d4c6e9a7f1e2d3c4b5a69"] {
            let mut body = sample_patch();
            body.patch_id = bad.into();
            let envelope = sign_patch(&key(1), &body);
            assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::BadPatchId), "{bad}");
        }
    }

    #[test]
    fn oversized_body_is_refused_before_decoding() {
        let envelope = Envelope {
            body: "A".repeat(MAX_ENVELOPE_BODY * 2),
            signature: String::new(),
            key_id: key_id(&key(1).verifying_key()),
        };
        assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::BodyTooLarge));
    }

    #[test]
    fn malformed_base64_and_short_signatures_are_refused() {
        let good = sign_patch(&key(1), &sample_patch());
        let mut bad_body = good.clone();
        bad_body.body = "!!!".into();
        let mut short_sig = good.clone();
        short_sig.signature = BASE64.encode([0u8; 10]);
        for envelope in [bad_body, short_sig] {
            assert_eq!(verify_patch(&envelope, &key(1).verifying_key()), Err(SignedError::MalformedEnvelope));
        }
    }

    #[test]
    fn envelope_with_unknown_field_is_refused() {
        let text = br#"{"body":"","signature":"","key_id":"","extra":1}"#;
        assert_eq!(Envelope::from_json(text), Err(SignedError::MalformedEnvelope));
    }

    #[test]
    fn key_file_format_is_64_hex_and_a_newline() {
        let bytes = [0xabu8; 32];
        let text = format_key_file(&bytes);
        assert_eq!(text.len(), 65);
        assert_eq!(parse_key_file(&text), Ok(bytes));
        assert_eq!(parse_key_file(&text[..64]), Ok(bytes));
        assert_eq!(parse_key_file(&text[..63]), Err(KeyFileError::BadFormat));
        assert_eq!(parse_key_file(&format!("{text}\n")), Err(KeyFileError::BadFormat));
        assert_eq!(parse_key_file(&format!(" {}", &text[1..])), Err(KeyFileError::BadFormat));
    }

    #[test]
    fn uuid_grammar() {
        assert!(is_lower_hyphenated_uuid("0d9b7c5a-6e4f-4a2b-8c1d-3e5f7a9b1c2d"));
        assert!(!is_lower_hyphenated_uuid("0d9b7c5a-6e4f-4a2b-8c1d-3e5f7a9b1c2"));
        assert!(!is_lower_hyphenated_uuid("0d9b7c5a_6e4f-4a2b-8c1d-3e5f7a9b1c2d"));
        assert!(!is_lower_hyphenated_uuid("0d9b7c5a-6e4f-4a2b-8c1d-3e5f7a9b1c2g"));
    }
}
