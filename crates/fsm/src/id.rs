//! Tenant and agent identifiers: the one rule for what may name them, shared by the ops API
//! (which refuses to create anything else) and the console (which puts them in URL paths).

/// Longest identifier.
pub const MAX_ID_LEN: usize = 128;

/// IDs of tenants and agents: 1–128 of `[A-Za-z0-9._-]`, not starting with a dot (so never
/// `.` or `..`, and safe as a URL path segment).
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_restricted() {
        for ok in ["UTD_7ELEVEN_001", "agent_macpro_lobby_01", "a", "a.b-c", &"a".repeat(128)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".x", "a/b", "a b", "a%2Fb", "a?b", "ä", &"a".repeat(129), "../x"] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }
}
