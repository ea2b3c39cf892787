//! Secret tokens: drawn from the OS, shown once, stored only as SHA-256.

/// A fresh token `PREFIX` + 64 hex characters (256 bits of randomness).
pub fn token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    format!("{prefix}{}", hex::encode(bytes))
}

/// 32 random bytes (nonces).
pub fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    bytes
}

/// A random identifier (sessions), lower-case hex.
pub fn identifier(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    format!("{prefix}{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_prefixed_long_and_distinct() {
        let a = super::token("rst_");
        let b = super::token("rst_");
        assert!(a.starts_with("rst_") && a.len() == 4 + 64);
        assert_ne!(a, b);
    }
}
