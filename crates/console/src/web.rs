//! Web hygiene (pure): the security headers every answer carries and the same-origin proof
//! every action must bring.

/// The Content-Security-Policy: only the console's own script, style and fetches; no inline
/// script or style, no framing, no plugins, no forms posting elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers set on every response, pages and API alike.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    // Nothing the console serves may be cached: a session token passes through its answers.
    ("cache-control", "no-store"),
];

/// The custom header the page sends with every action. A cross-site form cannot set it, and a
/// cross-site script cannot send it without a CORS preflight, which the console never grants.
pub const ACTION_HEADER: &str = "x-argus-console";

/// The request facts the same-origin check looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActionHeaders<'a> {
    pub origin: Option<&'a str>,
    pub host: Option<&'a str>,
    pub custom: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub fetch_site: Option<&'a str>,
}

/// Why an action was refused as cross-site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossSite {
    NoCustomHeader,
    NoOrigin,
    OriginMismatch,
    NotJson,
    FetchSite,
}

impl CrossSite {
    /// Words for the operator.
    pub fn message(self) -> &'static str {
        match self {
            CrossSite::NoCustomHeader => "actions must come from the console page (X-Argus-Console header missing)",
            CrossSite::NoOrigin => "actions must carry an Origin header",
            CrossSite::OriginMismatch => "the request came from another site",
            CrossSite::NotJson => "actions take a JSON body (Content-Type: application/json)",
            CrossSite::FetchSite => "the browser reports a cross-site request",
        }
    }
}

/// The same-origin proof for a state-changing action: the custom header, a JSON body, and an
/// `Origin` whose host (and port) is the host the request was sent to. The scheme is not
/// compared: behind Cloudflare the browser's origin is `https://…` while the console is reached
/// over the tunnel in plain HTTP with the same `Host`.
pub fn check_same_origin(headers: &ActionHeaders<'_>) -> Result<(), CrossSite> {
    if headers.custom != Some("1") {
        return Err(CrossSite::NoCustomHeader);
    }
    if let Some(site) = headers.fetch_site {
        if site != "same-origin" {
            return Err(CrossSite::FetchSite);
        }
    }
    let origin = headers.origin.ok_or(CrossSite::NoOrigin)?;
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .filter(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@']))
        .ok_or(CrossSite::OriginMismatch)?;
    match headers.host {
        Some(host) if host.eq_ignore_ascii_case(authority) => {}
        _ => return Err(CrossSite::OriginMismatch),
    }
    let json = headers
        .content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(CrossSite::NotJson);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ActionHeaders<'static> {
        ActionHeaders {
            origin: Some("https://console.example.com"),
            host: Some("console.example.com"),
            custom: Some("1"),
            content_type: Some("application/json"),
            fetch_site: Some("same-origin"),
        }
    }

    #[test]
    fn the_page_own_requests_pass() {
        assert_eq!(check_same_origin(&good()), Ok(()));
        let local = ActionHeaders { origin: Some("http://127.0.0.1:8080"), host: Some("127.0.0.1:8080"), ..good() };
        assert_eq!(check_same_origin(&local), Ok(()));
        let charset = ActionHeaders { content_type: Some("application/json; charset=utf-8"), ..good() };
        assert_eq!(check_same_origin(&charset), Ok(()));
        let old_browser = ActionHeaders { fetch_site: None, ..good() };
        assert_eq!(check_same_origin(&old_browser), Ok(()));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let cases = [
            (ActionHeaders { custom: None, ..good() }, CrossSite::NoCustomHeader),
            (ActionHeaders { custom: Some("0"), ..good() }, CrossSite::NoCustomHeader),
            (ActionHeaders { origin: None, ..good() }, CrossSite::NoOrigin),
            (ActionHeaders { origin: Some("https://evil.example"), ..good() }, CrossSite::OriginMismatch),
            (ActionHeaders { origin: Some("null"), ..good() }, CrossSite::OriginMismatch),
            (
                ActionHeaders { origin: Some("https://console.example.com.evil.example"), ..good() },
                CrossSite::OriginMismatch,
            ),
            (ActionHeaders { origin: Some("https://console.example.com:444"), ..good() }, CrossSite::OriginMismatch),
            (ActionHeaders { origin: Some("https://x@console.example.com"), ..good() }, CrossSite::OriginMismatch),
            (ActionHeaders { host: None, ..good() }, CrossSite::OriginMismatch),
            (ActionHeaders { content_type: Some("text/plain"), ..good() }, CrossSite::NotJson),
            (ActionHeaders { content_type: None, ..good() }, CrossSite::NotJson),
            (ActionHeaders { fetch_site: Some("cross-site"), ..good() }, CrossSite::FetchSite),
            (ActionHeaders { fetch_site: Some("same-site"), ..good() }, CrossSite::FetchSite),
        ];
        for (headers, expected) in cases {
            assert_eq!(check_same_origin(&headers), Err(expected), "{headers:?}");
        }
    }

    #[test]
    fn the_policy_forbids_inline_script_and_framing() {
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline") && !CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(SECURITY_HEADERS.contains(&("x-frame-options", "DENY")));
    }
}
