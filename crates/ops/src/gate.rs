//! The operator gate (SPEC §4), as a pure decision over the facts of one request.
//!
//! Order, first failure answers: remote support enabled (for `/support/*`) → caller IP in the
//! operator CIDRs → ops token → PAT valid → PAT scope. The caller IP is the TCP peer unless the
//! peer is a configured trusted proxy, in which case `X-Forwarded-For` is walked from the right
//! past trusted proxies. Repeated failures from one IP are slowed per IP (never the whole
//! network).

use std::collections::HashMap;
use std::net::IpAddr;

use argus_fsm::signed::sha256;
use argus_fsm::{Code, Timestamp};
use subtle::ConstantTimeEq;

use crate::config::{contains, GateConfig};
use crate::store::audit::{AuditEntry, AuditEvent};
use crate::store::{PatRecord, Scope};

/// Which factor refused, for the audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    Disabled,
    RateLimited,
    IpNotAllowlisted,
    BadOpsToken,
    InvalidPat,
    MissingRole,
    /// The browser path is on but nothing is allowlisted (fail-closed).
    CfAllowlistEmpty,
    /// Factor 1 came from an Access assertion whose email is not the PAT owner.
    CfIdentityMismatch,
}

impl Denial {
    /// The wire code.
    pub fn code(self) -> Code {
        match self {
            Denial::Disabled => Code::RemoteSupportDisabled,
            Denial::RateLimited => Code::RateLimited,
            Denial::IpNotAllowlisted => Code::IpNotAllowlisted,
            Denial::BadOpsToken => Code::BadOpsToken,
            Denial::InvalidPat => Code::InvalidPat,
            Denial::MissingRole => Code::MissingRole,
            Denial::CfAllowlistEmpty => Code::CfAllowlistEmpty,
            Denial::CfIdentityMismatch => Code::CfIdentityMismatch,
        }
    }
    /// The factor's name in `gate_denied` records.
    pub fn factor(self) -> &'static str {
        match self {
            Denial::Disabled => "enabled",
            Denial::RateLimited => "rate_limit",
            Denial::IpNotAllowlisted => "ip",
            Denial::BadOpsToken => "ops_token",
            Denial::InvalidPat => "pat",
            Denial::MissingRole => "scope",
            Denial::CfAllowlistEmpty => "cf_allowlist",
            Denial::CfIdentityMismatch => "cf_identity",
        }
    }
}

/// The facts of one request the gate looks at.
#[derive(Clone, Debug)]
pub struct RequestFacts<'a> {
    pub support_route: bool,
    pub peer: IpAddr,
    pub forwarded_for: Option<&'a str>,
    pub ops_token: Option<&'a str>,
    pub authorization: Option<&'a str>,
    /// The outcome of verifying a `Cf-Access-Jwt-Assertion`, when the browser path is on and
    /// the request carried one (the verification is async, so the caller runs it).
    pub access: Option<Result<String, argus_access::AccessError>>,
}

/// A caller who passed factors 1–3 and holds a valid PAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub ip: IpAddr,
    pub owner: String,
    pub scopes: Vec<Scope>,
    pub tenant: Option<String>,
    /// The verified Access identity when factor 1 came from the browser path.
    pub access_email: Option<String>,
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need<'a> {
    /// `admin` only (`/admin/*`).
    Admin,
    /// `remote_support` or `admin`.
    Support,
    /// `remote_support` or `admin` on a PAT bound to no tenant: what spans every tenant (the
    /// cluster's nodes and their agent counts).
    FleetWide,
    /// `remote_support`, `admin`, or `tenant_admin` bound to this tenant (reads of a tenant).
    SupportOrTenantAdmin(&'a str),
    /// `admin` or `tenant_admin` bound to this tenant (consent, arm, enrollment tokens).
    TenantAdmin(&'a str),
}

impl Operator {
    /// Whether this operator holds what a route needs. A PAT bound to a tenant (`--tenant` at
    /// creation, whatever its scopes) never reaches another tenant's routes.
    pub fn may(&self, need: Need<'_>) -> bool {
        let has = |scope| self.scopes.contains(&scope);
        let admin_of = |tenant: &str| has(Scope::TenantAdmin) && self.tenant.as_deref() == Some(tenant);
        if let Need::SupportOrTenantAdmin(tenant) | Need::TenantAdmin(tenant) = need {
            if !self.sees(tenant) {
                return false;
            }
        }
        if need == Need::FleetWide && self.tenant.is_some() {
            return false;
        }
        has(Scope::Admin)
            || match need {
                Need::Admin => false,
                Need::Support | Need::FleetWide => has(Scope::RemoteSupport),
                Need::SupportOrTenantAdmin(tenant) => has(Scope::RemoteSupport) || admin_of(tenant),
                Need::TenantAdmin(tenant) => admin_of(tenant),
            }
    }

    /// Whether this operator may learn anything about `tenant`'s objects. Lookups filter with
    /// it, so another tenant's agent or session answers exactly like a missing one (no
    /// existence oracle).
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|own| own == tenant)
    }
}

/// The caller's IP: the peer, or — only when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. `forwarded_for` is every header
/// line joined in order (see [`join_forwarded_for`]). `Err` means the header holds a malformed
/// entry: the request fails closed, and the address inside is the one to key the rate limiter
/// on (the right-most untrusted entry the walk reached, else the last trusted hop), so a
/// client forging garbage slows only itself, never everyone behind the proxy.
pub fn caller_ip(config: &GateConfig, peer: IpAddr, forwarded_for: Option<&str>) -> Result<IpAddr, IpAddr> {
    let peer = peer.to_canonical();
    if !contains(&config.trusted_proxies, peer) {
        return Ok(peer);
    }
    let Some(header) = forwarded_for else { return Ok(peer) };
    let entries: Vec<Option<IpAddr>> =
        header.split(',').map(|entry| entry.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical())).collect();
    let malformed = entries.iter().any(Option::is_none);
    let mut caller = peer;
    for entry in entries.iter().rev() {
        match entry {
            Some(ip) if contains(&config.trusted_proxies, *ip) => caller = *ip,
            Some(ip) => {
                caller = *ip;
                break;
            }
            // Garbage before any untrusted hop: nothing further left can be believed.
            None => break,
        }
    }
    if malformed {
        Err(caller)
    } else {
        Ok(caller)
    }
}

/// Every `X-Forwarded-For` line of a request joined in order, as proxies that add their own
/// line (HAProxy's `option forwardfor`) mean it; a line that is not text becomes an entry
/// that fails to parse, so the request fails closed. `None` when there is no such header.
pub fn join_forwarded_for<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
    let lines: Vec<&str> = lines.into_iter().map(|line| std::str::from_utf8(line).unwrap_or("\u{fffd}")).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

/// Runs factors 1–4a (everything but the route's scope).
pub fn check(
    config: &GateConfig,
    facts: &RequestFacts<'_>,
    mut find_pat: impl FnMut(&[u8; 32]) -> Option<PatRecord>,
    now: Timestamp,
) -> Result<Operator, (Denial, IpAddr)> {
    let caller = caller_ip(config, facts.peer, facts.forwarded_for);
    let (Ok(ip) | Err(ip)) = caller;
    if facts.support_route && !config.enabled {
        return Err((Denial::Disabled, ip));
    }
    // A proxy chain that cannot be read is no evidence of the operator network.
    if caller.is_err() {
        return Err((Denial::IpNotAllowlisted, ip));
    }
    // Factor 1: the operator network, or (browser path) a verified Access assertion. A
    // misconfigured browser path (switch on, nothing allowlisted) closes the gate for everyone;
    // a presented assertion is always verified and decides factor 1 — a bad one is never
    // ignored in favour of the caller's address.
    if config.access.as_ref().is_some_and(argus_access::AccessConfig::allowlist_empty) {
        return Err((Denial::CfAllowlistEmpty, ip));
    }
    let via_access = match &facts.access {
        Some(Ok(email)) => Some(email.clone()),
        Some(Err(argus_access::AccessError::AllowlistEmpty)) => return Err((Denial::CfAllowlistEmpty, ip)),
        Some(Err(_)) => return Err((Denial::IpNotAllowlisted, ip)),
        None if contains(&config.operator_cidrs, ip) => None,
        None => return Err((Denial::IpNotAllowlisted, ip)),
    };
    let token_ok = match (&config.ops_token_hash, facts.ops_token) {
        (Some(expected), Some(given)) => bool::from(sha256(given.as_bytes()).ct_eq(expected)),
        _ => false,
    };
    if !token_ok {
        return Err((Denial::BadOpsToken, ip));
    }
    let pat = facts
        .authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| token.starts_with("argus_pat_"))
        .and_then(|token| find_pat(&sha256(token.as_bytes())))
        .filter(|pat| pat.usable(now))
        .ok_or((Denial::InvalidPat, ip))?;
    // A leaked PAT cannot be driven under another operator's Access identity.
    if via_access.as_ref().is_some_and(|email| !email.eq_ignore_ascii_case(&pat.owner)) {
        return Err((Denial::CfIdentityMismatch, ip));
    }
    Ok(Operator { ip, owner: pat.owner, scopes: pat.scopes, tenant: pat.tenant, access_email: via_access })
}

/// Failures tolerated per IP per window before answering `rate_limited`.
pub const FAILURES_PER_WINDOW: u32 = 30;
/// The rate-limit window.
pub const WINDOW_MS: i64 = 60_000;

/// Per-IP failure counting. Only failing IPs are slowed; the allowlisted network as a whole
/// is never locked out.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    windows: HashMap<IpAddr, (Timestamp, u32)>,
}

impl FailureLimiter {
    /// Whether this IP must wait; `Some(first)` tells whether this is the first refusal of the
    /// window (only that one is audited, so a flood cannot flood the audit trail).
    pub fn limited(&mut self, ip: IpAddr, now: Timestamp) -> Option<bool> {
        let (start, count) = self.windows.get_mut(&ip)?;
        if now.0 - start.0 >= WINDOW_MS {
            self.windows.remove(&ip);
            return None;
        }
        if *count >= FAILURES_PER_WINDOW {
            *count += 1;
            return Some(*count == FAILURES_PER_WINDOW + 1);
        }
        None
    }

    /// Counts one failure.
    pub fn failed(&mut self, ip: IpAddr, now: Timestamp) {
        if self.windows.len() > 100_000 {
            // Bound memory under a spray of source addresses: forget expired windows.
            self.windows.retain(|_, (start, _)| now.0 - start.0 < WINDOW_MS);
        }
        let entry = self.windows.entry(ip).or_insert((now, 0));
        if now.0 - entry.0 .0 >= WINDOW_MS {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// The `gate_denied` record of a request refused before it named an operator (factors 1 to
/// 4a: by the system, with where it came from).
pub fn denied_record(denial: Denial, ip: IpAddr, path: &str) -> AuditEntry {
    AuditEntry::system(AuditEvent::GateDenied).details(serde_json::json!({
        "factor": denial.factor(),
        "code": denial.code().as_str(),
        "ip": ip.to_string(),
        "path": path.chars().take(200).collect::<String>(),
    }))
}

/// The `gate_denied` record of an operator whose PAT lacks the route's scope (factor 4b).
pub fn missing_role_record(owner: &str, ip: IpAddr, need: Need<'_>) -> AuditEntry {
    AuditEntry::new(AuditEvent::GateDenied, owner).details(serde_json::json!({
        "factor": Denial::MissingRole.factor(),
        "ip": ip.to_string(),
        "need": format!("{need:?}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const PAT: &str = "argus_pat_good";

    fn config() -> GateConfig {
        GateConfig {
            enabled: true,
            operator_cidrs: vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()],
            ops_token_hash: Some(sha256(b"ops")),
            trusted_proxies: vec![],
            access: None,
        }
    }

    fn pat(scopes: Vec<Scope>) -> PatRecord {
        PatRecord {
            hash: sha256(PAT.as_bytes()),
            owner: "op@x".into(),
            scopes,
            tenant: None,
            created_at: NOW,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    fn facts<'a>(peer: &str, token: Option<&'a str>, auth: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts {
            support_route: true,
            peer: peer.parse().unwrap(),
            forwarded_for: None,
            ops_token: token,
            authorization: auth,
            access: None,
        }
    }

    #[test]
    fn a_verified_access_assertion_stands_in_for_factor_one_only() {
        use argus_access::AccessError;
        let outside = |access| RequestFacts {
            access: Some(access),
            ..facts("203.0.113.7", Some("ops"), Some("Bearer argus_pat_good"))
        };
        assert_eq!(run(&config(), &outside(Ok("op@x".into()))).unwrap().access_email.as_deref(), Some("op@x"));
        assert!(run(&config(), &outside(Ok("OP@X".into()))).is_ok(), "emails compare case-insensitively");
        assert_eq!(run(&config(), &outside(Ok("other@x".into()))), Err(Code::CfIdentityMismatch));
        assert_eq!(run(&config(), &outside(Err(AccessError::Invalid("expired")))), Err(Code::IpNotAllowlisted));
        assert_eq!(run(&config(), &outside(Err(AccessError::NotAllowlisted))), Err(Code::IpNotAllowlisted));
        assert_eq!(run(&config(), &outside(Err(AccessError::AllowlistEmpty))), Err(Code::CfAllowlistEmpty));
        // Factors 2 and 3 are unchanged.
        let no_token = RequestFacts { ops_token: None, ..outside(Ok("op@x".into())) };
        assert_eq!(run(&config(), &no_token), Err(Code::BadOpsToken));
        let no_pat = RequestFacts { authorization: None, ..outside(Ok("op@x".into())) };
        assert_eq!(run(&config(), &no_pat), Err(Code::InvalidPat));
        // A presented assertion decides factor 1 even from the operator network: a bad one is
        // refused, a good one's identity is recorded and must match the PAT owner.
        let inside = |access| RequestFacts {
            access: Some(access),
            ..facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_good"))
        };
        assert_eq!(run(&config(), &inside(Ok("op@x".into()))).unwrap().access_email.as_deref(), Some("op@x"));
        assert_eq!(run(&config(), &inside(Ok("other@x".into()))), Err(Code::CfIdentityMismatch));
        assert_eq!(run(&config(), &inside(Err(AccessError::Invalid("expired")))), Err(Code::IpNotAllowlisted));
        // Disabled still answers first.
        let mut disabled = config();
        disabled.enabled = false;
        assert_eq!(run(&disabled, &outside(Ok("op@x".into()))), Err(Code::RemoteSupportDisabled));
    }

    #[test]
    fn a_browser_path_with_nothing_allowlisted_closes_the_gate_for_everyone() {
        let mut misconfigured = config();
        misconfigured.access = Some(argus_access::AccessConfig {
            audience: "aud".into(),
            team_domain: "acme.cloudflareaccess.com".into(),
            allowed_emails: vec![],
            allowed_domains: vec![],
        });
        let from_the_operator_network = facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_good"));
        assert_eq!(run(&misconfigured, &from_the_operator_network), Err(Code::CfAllowlistEmpty));
        // With something allowlisted the operator network passes as before.
        misconfigured.access.as_mut().unwrap().allowed_domains.push("x".into());
        assert!(run(&misconfigured, &from_the_operator_network).is_ok());
    }

    fn run(config: &GateConfig, facts: &RequestFacts<'_>) -> Result<Operator, Code> {
        let stored = pat(vec![Scope::RemoteSupport]);
        check(config, facts, |hash| (*hash == stored.hash).then(|| stored.clone()), NOW).map_err(|(d, _)| d.code())
    }

    #[test]
    fn all_factors_present_pass() {
        let op = run(&config(), &facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_good"))).unwrap();
        assert_eq!(op.owner, "op@x");
    }

    #[test]
    fn factors_are_checked_in_spec_order() {
        let mut disabled = config();
        disabled.enabled = false;
        // Everything wrong: the first factor answers.
        assert_eq!(run(&disabled, &facts("10.9.9.9", None, None)), Err(Code::RemoteSupportDisabled));
        assert_eq!(run(&config(), &facts("10.9.9.9", None, None)), Err(Code::IpNotAllowlisted));
        assert_eq!(run(&config(), &facts("127.0.0.1", None, None)), Err(Code::BadOpsToken));
        assert_eq!(run(&config(), &facts("127.0.0.1", Some("wrong"), None)), Err(Code::BadOpsToken));
        assert_eq!(run(&config(), &facts("127.0.0.1", Some("ops"), None)), Err(Code::InvalidPat));
        assert_eq!(
            run(&config(), &facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_bad"))),
            Err(Code::InvalidPat)
        );
        assert_eq!(run(&config(), &facts("127.0.0.1", Some("ops"), Some("argus_pat_good"))), Err(Code::InvalidPat));
    }

    #[test]
    fn admin_routes_stay_usable_while_remote_support_is_disabled() {
        let mut disabled = config();
        disabled.enabled = false;
        let mut admin = facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_good"));
        admin.support_route = false;
        assert!(run(&disabled, &admin).is_ok());
    }

    #[test]
    fn unset_ops_token_lets_nobody_through() {
        let mut unset = config();
        unset.ops_token_hash = None;
        assert_eq!(run(&unset, &facts("127.0.0.1", Some(""), Some("Bearer argus_pat_good"))), Err(Code::BadOpsToken));
    }

    #[test]
    fn expired_pat_is_invalid() {
        let mut expired = pat(vec![Scope::Admin]);
        expired.expires_at = Some(NOW);
        let result = check(
            &config(),
            &facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_good")),
            |_| Some(expired.clone()),
            NOW,
        );
        assert_eq!(result.unwrap_err().0, Denial::InvalidPat);
    }

    #[test]
    fn revoked_pat_is_invalid_from_the_next_request_on() {
        let mut revoked = pat(vec![Scope::Admin]);
        let check_now = |record: &PatRecord| {
            check(
                &config(),
                &facts("127.0.0.1", Some("ops"), Some("Bearer argus_pat_good")),
                |_| Some(record.clone()),
                NOW,
            )
        };
        assert!(check_now(&revoked).is_ok());
        revoked.revoked_at = Some(NOW);
        assert_eq!(check_now(&revoked).unwrap_err().0, Denial::InvalidPat);
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let spoofed = RequestFacts {
            forwarded_for: Some("127.0.0.1"),
            ..facts("10.1.1.1", Some("ops"), Some("Bearer argus_pat_good"))
        };
        assert_eq!(run(&config(), &spoofed), Err(Code::IpNotAllowlisted));
        let mut behind_proxy = config();
        behind_proxy.trusted_proxies = vec!["10.1.1.1/32".parse().unwrap()];
        assert!(run(&behind_proxy, &spoofed).is_ok());
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right_past_trusted_proxies_only() {
        let mut config = config();
        config.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        // The client forged a leading 127.0.0.1; the real client is the rightmost untrusted hop.
        assert_eq!(caller_ip(&config, peer, Some("127.0.0.1, 203.0.113.9, 10.0.0.2")), Ok(ip("203.0.113.9")));
        assert_eq!(caller_ip(&config, peer, Some("10.0.0.3,10.0.0.2")), Ok(ip("10.0.0.3")), "all trusted");
        assert_eq!(caller_ip(&config, peer, None), Ok(peer));
        // Malformed entries fail closed, keyed on the caller the walk reached.
        assert_eq!(caller_ip(&config, peer, Some("garbage, 203.0.113.9, 10.0.0.2")), Err(ip("203.0.113.9")));
        assert_eq!(caller_ip(&config, peer, Some("203.0.113.9, garbage")), Err(peer));
        for bad in ["", " , ", "203.0.113.9,", "203.0.113.9:443", "[::1]", "203.0.113.9 10.0.0.2", "\u{fffd}"] {
            assert!(caller_ip(&config, peer, Some(bad)).is_err(), "{bad:?} must fail closed");
        }
        // IPv4-mapped hops are the IPv4 address.
        assert_eq!(caller_ip(&config, peer, Some("::ffff:203.0.113.9")), Ok(ip("203.0.113.9")));
    }

    #[test]
    fn every_forwarded_for_line_counts_so_a_proxy_appending_its_own_line_cannot_be_bypassed() {
        let mut config = config();
        config.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        // HAProxy's `option forwardfor` keeps the client's forged line first and adds its own.
        let mut lines: Vec<&[u8]> = vec![b"127.0.0.1", b"203.0.113.9"];
        let joined = join_forwarded_for(lines.iter().copied());
        assert_eq!(joined.as_deref(), Some("127.0.0.1,203.0.113.9"));
        let forged = RequestFacts {
            forwarded_for: joined.as_deref(),
            ..facts("10.0.0.1", Some("ops"), Some("Bearer argus_pat_good"))
        };
        assert_eq!(run(&config, &forged), Err(Code::IpNotAllowlisted), "the caller is 203.0.113.9");
        // A line that is not text fails closed.
        lines.push(b"\xff");
        let garbled = join_forwarded_for(lines.iter().copied());
        assert!(caller_ip(&config, "10.0.0.1".parse().unwrap(), garbled.as_deref()).is_err());
        assert_eq!(join_forwarded_for(std::iter::empty()), None);
        // A malformed chain from a trusted proxy is refused even for an allowlisted client.
        let malformed = RequestFacts {
            forwarded_for: Some("garbage, 127.0.0.1"),
            ..facts("10.0.0.1", Some("ops"), Some("Bearer argus_pat_good"))
        };
        assert_eq!(run(&config, &malformed), Err(Code::IpNotAllowlisted));
    }

    #[test]
    fn scopes_map_to_routes() {
        let op = |scopes: Vec<Scope>, tenant: Option<&str>| Operator {
            ip: "127.0.0.1".parse().unwrap(),
            owner: "o".into(),
            scopes,
            tenant: tenant.map(Into::into),
            access_email: None,
        };
        let support = op(vec![Scope::RemoteSupport], None);
        assert!(support.may(Need::Support) && support.may(Need::SupportOrTenantAdmin("T1")));
        assert!(!support.may(Need::Admin) && !support.may(Need::TenantAdmin("T1")));
        let tenant_admin = op(vec![Scope::TenantAdmin], Some("T1"));
        assert!(tenant_admin.may(Need::TenantAdmin("T1")) && tenant_admin.may(Need::SupportOrTenantAdmin("T1")));
        assert!(!tenant_admin.may(Need::TenantAdmin("T2")) && !tenant_admin.may(Need::Support));
        let admin = op(vec![Scope::Admin], None);
        assert!(admin.may(Need::Admin) && admin.may(Need::TenantAdmin("T9")));
        // A PAT bound to a tenant stays inside it, whatever its scopes.
        let bound = op(vec![Scope::RemoteSupport, Scope::Admin], Some("T1"));
        assert!(bound.may(Need::SupportOrTenantAdmin("T1")) && bound.may(Need::Support));
        assert!(!bound.may(Need::SupportOrTenantAdmin("T2")) && !bound.may(Need::TenantAdmin("T2")));
        assert!(bound.sees("T1") && !bound.sees("T2") && support.sees("T2"));
        // What spans every tenant: admin or remote_support, never on a tenant-bound PAT.
        assert!(support.may(Need::FleetWide) && admin.may(Need::FleetWide));
        assert!(!bound.may(Need::FleetWide), "a tenant-bound PAT sees no fleet-wide figures");
        assert!(!op(vec![Scope::RemoteSupport], Some("T1")).may(Need::FleetWide));
        assert!(!tenant_admin.may(Need::FleetWide));
    }

    #[test]
    fn repeated_failures_are_slowed_per_ip_only() {
        let mut limiter = FailureLimiter::default();
        let bad: IpAddr = "127.0.0.9".parse().unwrap();
        let good: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FAILURES_PER_WINDOW {
            assert_eq!(limiter.limited(bad, NOW), None);
            limiter.failed(bad, NOW);
        }
        assert_eq!(limiter.limited(bad, NOW), Some(true), "first limited answer is audited");
        assert_eq!(limiter.limited(bad, NOW), Some(false), "later ones are not");
        assert_eq!(limiter.limited(good, NOW), None, "another IP is unaffected");
        assert_eq!(limiter.limited(bad, NOW.plus_millis(WINDOW_MS)), None, "the window ends");
    }
}
