//! Server configuration from the environment (SPEC §3.1). Bad values refuse to start: a
//! security gate that silently ignores a typo in its allowlist is worse than none.

use argus_fsm::signed::sha256;
use ipnet::IpNet;

/// The gate's configuration.
#[derive(Clone, Debug, Default)]
pub struct GateConfig {
    /// `REMOTE_SUPPORT_ENABLED`: every `/support/*` route answers 403 while off.
    pub enabled: bool,
    /// `REMOTE_SUPPORT_OPERATOR_CIDRS`: factor 1. Empty: no IP passes.
    pub operator_cidrs: Vec<IpNet>,
    /// SHA-256 of `ARGUS_OPS_TOKEN`: factor 2. `None`: no request passes. Kept hashed so the
    /// comparison is constant-time over a fixed length and the token is not held in memory.
    pub ops_token_hash: Option<[u8; 32]>,
    /// `REMOTE_SUPPORT_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The browser path (SPEC §6), present only while `REMOTE_SUPPORT_ALLOW_CF_ASSERTION` is on.
    pub access: Option<argus_access::AccessConfig>,
}

/// A configuration error; the server refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Access(#[from] argus_access::ConfigError),
}

impl GateConfig {
    /// Reads the configuration through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<GateConfig, ConfigError> {
        let enabled = parse_bool("REMOTE_SUPPORT_ENABLED", lookup("REMOTE_SUPPORT_ENABLED"))?;
        let operator_cidrs = parse_cidrs("REMOTE_SUPPORT_OPERATOR_CIDRS", lookup("REMOTE_SUPPORT_OPERATOR_CIDRS"))?;
        let trusted_proxies = parse_cidrs("REMOTE_SUPPORT_TRUSTED_PROXIES", lookup("REMOTE_SUPPORT_TRUSTED_PROXIES"))?;
        let ops_token_hash = lookup("ARGUS_OPS_TOKEN").filter(|t| !t.is_empty()).map(|t| sha256(t.as_bytes()));
        let access = argus_access::AccessConfig::from_lookup(&lookup)?;
        Ok(GateConfig { enabled, operator_cidrs, ops_token_hash, trusted_proxies, access })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<GateConfig, ConfigError> {
        GateConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// What leaves the API closed, each naming its variable — logged when `serve` starts, so
    /// an operator whose every request answers 403 learns why from the server's first lines.
    pub fn closing_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.enabled {
            warnings.push(
                "REMOTE_SUPPORT_ENABLED is off: every /support/* route answers 403 remote_support_disabled".into(),
            );
        }
        if self.operator_cidrs.is_empty() && self.access.is_none() {
            warnings.push(
                "REMOTE_SUPPORT_OPERATOR_CIDRS is empty: no caller passes the operator-network check (ip_not_allowlisted)"
                    .into(),
            );
        }
        if self.ops_token_hash.is_none() {
            warnings.push("ARGUS_OPS_TOKEN is unset: no request passes the ops-token check (bad_ops_token)".into());
        }
        warnings
    }
}

fn parse_bool(variable: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    Ok(argus_access::parse_switch(variable, value)?)
}

fn parse_cidrs(variable: &'static str, value: Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    Ok(argus_access::network::parse_cidrs(variable, value)?)
}

pub use argus_access::network::contains;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<GateConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        GateConfig::from_lookup(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_are_closed() {
        let config = config(&[]).unwrap();
        assert!(!config.enabled);
        assert!(config.operator_cidrs.is_empty());
        assert!(config.ops_token_hash.is_none());
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn every_variable_that_leaves_the_api_closed_is_named() {
        let closed = config(&[]).unwrap().closing_warnings();
        assert_eq!(closed.len(), 3, "{closed:?}");
        for variable in ["REMOTE_SUPPORT_ENABLED", "REMOTE_SUPPORT_OPERATOR_CIDRS", "ARGUS_OPS_TOKEN"] {
            assert!(closed.iter().any(|w| w.starts_with(variable)), "{variable} not named");
        }
        let open = config(&[
            ("REMOTE_SUPPORT_ENABLED", "1"),
            ("REMOTE_SUPPORT_OPERATOR_CIDRS", "127.0.0.1"),
            ("ARGUS_OPS_TOKEN", "t"),
        ])
        .unwrap();
        assert!(open.closing_warnings().is_empty());
        assert!(!closed.iter().any(|w| w.contains('=')), "no value (a token) is ever logged");
    }

    #[test]
    fn cidrs_accept_v4_v6_and_bare_addresses() {
        let config = config(&[("REMOTE_SUPPORT_OPERATOR_CIDRS", "10.0.0.0/8, ::1/128,192.168.1.7")]).unwrap();
        assert!(contains(&config.operator_cidrs, "10.2.3.4".parse().unwrap()));
        assert!(contains(&config.operator_cidrs, "::1".parse().unwrap()));
        assert!(contains(&config.operator_cidrs, "192.168.1.7".parse().unwrap()));
        assert!(!contains(&config.operator_cidrs, "192.168.1.8".parse().unwrap()));
        assert!(contains(&config.operator_cidrs, "::ffff:10.0.0.1".parse().unwrap()), "v4-mapped counts as v4");
    }

    #[test]
    fn a_typo_in_an_allowlist_refuses_to_start() {
        assert!(config(&[("REMOTE_SUPPORT_OPERATOR_CIDRS", "10.0.0.0/33")]).is_err());
        assert!(config(&[("REMOTE_SUPPORT_TRUSTED_PROXIES", "proxy.local")]).is_err());
        assert!(config(&[("REMOTE_SUPPORT_ENABLED", "maybe")]).is_err());
    }

    #[test]
    fn empty_ops_token_counts_as_unset() {
        assert!(config(&[("ARGUS_OPS_TOKEN", "")]).unwrap().ops_token_hash.is_none());
    }

    #[test]
    fn the_browser_path_is_read_and_checked_with_the_gate() {
        let on = [("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "1"), ("CF_ACCESS_TEAM_DOMAIN", "evil.example.com")];
        assert!(matches!(config(&on), Err(ConfigError::Access(argus_access::ConfigError::BadTeamDomain(_)))));
        let full = [
            ("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "1"),
            ("CF_ACCESS_TEAM_DOMAIN", "acme.cloudflareaccess.com"),
            ("CF_ACCESS_AUD", "aud"),
            ("REMOTE_SUPPORT_CF_ALLOWED_EMAILS", "op@example.com"),
        ];
        assert!(config(&full).unwrap().access.is_some());
        assert!(config(&[]).unwrap().access.is_none(), "off by default");
    }
}
