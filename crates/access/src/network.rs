//! Address lists from the environment (operator networks, trusted proxies), shared by the
//! ops gate and the console so both read a list, and decide membership, the same way.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::ConfigError;

/// Parses a comma-separated list of CIDRs or bare addresses; anything else is an error (a
/// gate that silently ignored a typo in its allowlist would be worse than none).
pub fn parse_cidrs(variable: &'static str, value: Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| ConfigError::BadCidr { variable, value: part.into() })
        })
        .collect()
}

/// Whether `ip` is inside any of `nets`; IPv4-mapped IPv6 addresses count as IPv4.
pub fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_accept_v4_v6_and_bare_addresses_and_refuse_typos() {
        let nets = parse_cidrs("X", Some("10.0.0.0/8, ::1/128,192.168.1.7".into())).unwrap();
        assert!(contains(&nets, "10.2.3.4".parse().unwrap()));
        assert!(contains(&nets, "::1".parse().unwrap()));
        assert!(contains(&nets, "192.168.1.7".parse().unwrap()));
        assert!(!contains(&nets, "192.168.1.8".parse().unwrap()));
        assert!(contains(&nets, "::ffff:10.0.0.1".parse().unwrap()), "v4-mapped counts as v4");
        assert!(parse_cidrs("X", None).unwrap().is_empty());
        assert!(matches!(parse_cidrs("X", Some("10.0.0.0/8,10.0.0.300".into())), Err(ConfigError::BadCidr { .. })));
    }
}
