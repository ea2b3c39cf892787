//! The optional browser path (SPEC §6): a Cloudflare Access assertion standing in for factor 1
//! (the operator-network IP check) only. Shared by `argus-ops` (its gate) and `argus-console`
//! (which verifies the assertion itself before forwarding a named action).
//!
//! The JWT is verified with a maintained library (`jsonwebtoken`): the algorithm is pinned to
//! RS256 before anything else (no `none`, no HS256 signed with the public key), the key is
//! chosen by `kid` from the team's JWKS (cached; an unknown `kid` triggers a refetch at most
//! once per [`REFETCH_INTERVAL`]), and `aud`, `iss` (`https://TEAM`) and `exp` are mandatory
//! with a small leeway. The verified email must be allowlisted (exact address or domain); the
//! gate then requires it to equal the PAT owner.

#![forbid(unsafe_code)]

pub mod network;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Least time between two JWKS fetches caused by unknown `kid`s.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Clock leeway for `exp`/`nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// The browser-path configuration (all of it required while the switch is on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessConfig {
    /// `CF_ACCESS_AUD`: the Access application's audience tag.
    pub audience: String,
    /// `CF_ACCESS_TEAM_DOMAIN`: `TEAM.cloudflareaccess.com`.
    pub team_domain: String,
    /// `REMOTE_SUPPORT_CF_ALLOWED_EMAILS`, lower-cased.
    pub allowed_emails: Vec<String>,
    /// `REMOTE_SUPPORT_CF_ALLOWED_DOMAINS`, lower-cased.
    pub allowed_domains: Vec<String>,
}

/// A browser-path configuration error; the server refuses to start with it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: {value:?} is not a boolean (1/0/true/false)")]
    BadBool { variable: &'static str, value: String },
    #[error("CF_ACCESS_TEAM_DOMAIN must be a *.cloudflareaccess.com host, got {0:?}")]
    BadTeamDomain(String),
    #[error("CF_ACCESS_AUD must be set while REMOTE_SUPPORT_ALLOW_CF_ASSERTION is on")]
    MissingAudience,
    #[error("{variable}: {value:?} is not a CIDR or IP address")]
    BadCidr { variable: &'static str, value: String },
}

/// Parses an on/off variable; unset or empty is off, anything unrecognised is an error.
pub fn parse_switch(variable: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(false),
        Some("1") | Some("true") | Some("TRUE") | Some("True") | Some("yes") | Some("on") => Ok(true),
        Some("0") | Some("false") | Some("FALSE") | Some("False") | Some("no") | Some("off") => Ok(false),
        Some(other) => Err(ConfigError::BadBool { variable, value: other.into() }),
    }
}

/// `true` for `NAME.cloudflareaccess.com` with a non-empty, plain host label.
pub fn is_cloudflare_access_host(domain: &str) -> bool {
    domain.strip_suffix(".cloudflareaccess.com").is_some_and(|team| {
        !team.is_empty()
            && team.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    })
}

impl AccessConfig {
    /// Reads the browser-path variables through `lookup` (the process environment in
    /// production): `None` while `REMOTE_SUPPORT_ALLOW_CF_ASSERTION` is off.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<AccessConfig>, ConfigError> {
        if !parse_switch("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", lookup("REMOTE_SUPPORT_ALLOW_CF_ASSERTION"))? {
            return Ok(None);
        }
        let team_domain = lookup("CF_ACCESS_TEAM_DOMAIN").unwrap_or_default().trim().to_ascii_lowercase();
        if !is_cloudflare_access_host(&team_domain) {
            return Err(ConfigError::BadTeamDomain(team_domain));
        }
        let audience = lookup("CF_ACCESS_AUD").unwrap_or_default().trim().to_string();
        if audience.is_empty() {
            return Err(ConfigError::MissingAudience);
        }
        let list = |name: &str| -> Vec<String> {
            lookup(name)
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Ok(Some(AccessConfig {
            audience,
            team_domain,
            // Empty lists are allowed here: the gate then answers 503 cf_allowlist_empty.
            allowed_emails: list("REMOTE_SUPPORT_CF_ALLOWED_EMAILS"),
            allowed_domains: list("REMOTE_SUPPORT_CF_ALLOWED_DOMAINS"),
        }))
    }

    /// Whether nothing is allowlisted (the browser path then fails closed).
    pub fn allowlist_empty(&self) -> bool {
        self.allowed_emails.is_empty() && self.allowed_domains.is_empty()
    }

    /// The issuer every assertion must name.
    pub fn issuer(&self) -> String {
        format!("https://{}", self.team_domain)
    }
    /// Where the team's keys live (never configurable to anywhere else).
    pub fn certs_url(&self) -> String {
        format!("https://{}/cdn-cgi/access/certs", self.team_domain)
    }
}

/// Why an assertion did not count as factor 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the browser path is on but no email or domain is allowlisted")]
    AllowlistEmpty,
    #[error("assertion refused: {0}")]
    Invalid(&'static str),
    #[error("the Access identity is not allowlisted")]
    NotAllowlisted,
    #[error("the team's keys could not be fetched")]
    KeysUnavailable,
}

/// Where keys come from: the team's JWKS endpoint in production, a fixed set in tests.
pub trait KeySource: Send + Sync + 'static {
    /// Fetches the current key set.
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send + '_>>;
}

/// The production source: `https://TEAM/cdn-cgi/access/certs` over HTTPS with the web PKI.
pub struct TeamJwks {
    url: String,
    http: reqwest::Client,
}

impl TeamJwks {
    /// A source for this team (the URL is derived from the validated team domain only).
    pub fn new(config: &AccessConfig) -> anyhow::Result<TeamJwks> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder().use_preconfigured_tls(tls).timeout(Duration::from_secs(10)).build()?;
        Ok(TeamJwks { url: config.certs_url(), http })
    }
}

impl KeySource for TeamJwks {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send + '_>> {
        Box::pin(async move {
            let response = self.http.get(&self.url).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("JWKS answered {}", response.status()));
            }
            response.json::<JwkSet>().await.map_err(|e| e.to_string())
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    email: String,
}

/// Verifies assertions against a cached key set.
pub struct AccessVerifier {
    config: AccessConfig,
    source: Arc<dyn KeySource>,
    cache: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: Option<JwkSet>,
    last_fetch: Option<Instant>,
}

impl AccessVerifier {
    /// A verifier for `config` with keys from `source`.
    pub fn new(config: AccessConfig, source: Arc<dyn KeySource>) -> AccessVerifier {
        AccessVerifier { config, source, cache: tokio::sync::Mutex::new(Cache::default()) }
    }

    /// The configuration in force.
    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    /// Verifies an assertion; returns its (lower-cased) email when it may stand in for factor 1.
    pub async fn verify(&self, token: &str) -> Result<String, AccessError> {
        if self.config.allowlist_empty() {
            return Err(AccessError::AllowlistEmpty);
        }
        let header = decode_header(token).map_err(|_| AccessError::Invalid("malformed token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(AccessError::Invalid("algorithm is not RS256"));
        }
        let kid = header.kid.ok_or(AccessError::Invalid("no kid"))?;
        let key = self.key_for(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.config.audience]);
        validation.set_issuer(&[self.config.issuer()]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AccessError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::MissingRequiredClaim(_) => "missing claim",
                _ => "invalid token",
            })
        })?;
        let email = data.claims.email.trim().to_ascii_lowercase();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let allowed = self.config.allowed_emails.contains(&email)
            || (!domain.is_empty() && self.config.allowed_domains.iter().any(|d| d == domain));
        if !allowed {
            return Err(AccessError::NotAllowlisted);
        }
        Ok(email)
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, AccessError> {
        let mut cache = self.cache.lock().await;
        let find = |cache: &Cache| cache.keys.as_ref().and_then(|set| set.find(kid)).cloned();
        if let Some(jwk) = find(&cache) {
            return DecodingKey::from_jwk(&jwk).map_err(|_| AccessError::Invalid("unusable key"));
        }
        let may_fetch = cache.last_fetch.is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL);
        if may_fetch {
            cache.last_fetch = Some(Instant::now());
            match self.source.fetch().await {
                Ok(keys) => cache.keys = Some(keys),
                Err(error) => {
                    tracing::warn!(%error, "Access JWKS fetch failed");
                    if cache.keys.is_none() {
                        return Err(AccessError::KeysUnavailable);
                    }
                }
            }
        }
        let jwk = find(&cache).ok_or(AccessError::Invalid("unknown kid"))?;
        DecodingKey::from_jwk(&jwk).map_err(|_| AccessError::Invalid("unusable key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KEY_A: &str = include_str!("../testdata/cf_test_a.pem");
    const KEY_B: &str = include_str!("../testdata/cf_test_b.pem");
    const PUB_A: &str = include_str!("../testdata/cf_test_a.pub.pem");
    const JWKS: &str = include_str!("../testdata/cf_jwks.json");

    struct Fixed(AtomicUsize);
    impl KeySource for Fixed {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send + '_>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(serde_json::from_str(JWKS).unwrap()) })
        }
    }

    fn config() -> AccessConfig {
        AccessConfig {
            audience: "aud-123".into(),
            team_domain: "acme.cloudflareaccess.com".into(),
            allowed_emails: vec!["op@example.com".into()],
            allowed_domains: vec!["ops.example.org".into()],
        }
    }

    fn verifier(config: AccessConfig) -> (AccessVerifier, Arc<Fixed>) {
        let source = Arc::new(Fixed(AtomicUsize::new(0)));
        (AccessVerifier::new(config, source.clone()), source)
    }

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    fn claims() -> serde_json::Value {
        json!({ "aud": ["aud-123"], "iss": "https://acme.cloudflareaccess.com", "exp": now() + 300, "iat": now(), "email": "op@example.com" })
    }

    fn sign(claims: &serde_json::Value, pem: &str, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
    }

    fn run(token: &str) -> Result<String, AccessError> {
        let (verifier, _) = verifier(config());
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(verifier.verify(token))
    }

    fn with(change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claims = claims();
        change(&mut claims);
        sign(&claims, KEY_A, "kid-a")
    }

    #[test]
    fn good_assertion_yields_its_email() {
        assert_eq!(run(&with(|_| {})), Ok("op@example.com".into()));
        assert_eq!(run(&with(|c| c["email"] = json!("Anyone@OPS.example.org"))), Ok("anyone@ops.example.org".into()));
    }

    #[test]
    fn wrong_audience_issuer_and_times_are_refused() {
        assert_eq!(run(&with(|c| c["aud"] = json!(["other"]))), Err(AccessError::Invalid("wrong audience")));
        assert_eq!(
            run(&with(|c| c["iss"] = json!("https://evil.cloudflareaccess.com"))),
            Err(AccessError::Invalid("wrong issuer"))
        );
        assert_eq!(run(&with(|c| c["exp"] = json!(now() - 600))), Err(AccessError::Invalid("expired")));
        assert_eq!(run(&with(|c| c["nbf"] = json!(now() + 600))), Err(AccessError::Invalid("not valid yet")));
        let missing = with(|c| {
            c.as_object_mut().unwrap().remove("aud");
        });
        assert!(matches!(run(&missing), Err(AccessError::Invalid(_))));
    }

    #[test]
    fn unknown_kid_refetches_at_a_bounded_rate() {
        let (verifier, source) = verifier(config());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let token = sign(&claims(), KEY_A, "kid-unknown");
        assert_eq!(rt.block_on(verifier.verify(&token)), Err(AccessError::Invalid("unknown kid")));
        assert_eq!(rt.block_on(verifier.verify(&token)), Err(AccessError::Invalid("unknown kid")));
        assert_eq!(source.0.load(Ordering::SeqCst), 1, "a second unknown kid within the interval does not refetch");
        assert!(rt.block_on(verifier.verify(&sign(&claims(), KEY_A, "kid-a"))).is_ok());
    }

    #[test]
    fn alg_none_and_hs256_with_the_public_key_are_refused() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!("{}.{}.", b64.encode(br#"{"alg":"none","kid":"kid-a"}"#), b64.encode(claims().to_string()));
        assert!(matches!(run(&none), Err(AccessError::Invalid(_))));
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("kid-a".into());
        let confused = encode(&header, &claims(), &EncodingKey::from_secret(PUB_A.as_bytes())).unwrap();
        assert_eq!(run(&confused), Err(AccessError::Invalid("algorithm is not RS256")));
    }

    #[test]
    fn token_signed_by_another_rsa_key_is_refused() {
        assert_eq!(run(&sign(&claims(), KEY_B, "kid-a")), Err(AccessError::Invalid("bad signature")));
    }

    #[test]
    fn email_outside_the_allowlists_is_refused() {
        assert_eq!(run(&with(|c| c["email"] = json!("mallory@example.com"))), Err(AccessError::NotAllowlisted));
        assert_eq!(run(&with(|c| c["email"] = json!("x@sub.ops.example.org"))), Err(AccessError::NotAllowlisted));
        assert_eq!(run(&with(|c| c["email"] = json!("ops.example.org"))), Err(AccessError::NotAllowlisted));
    }

    #[test]
    fn empty_allowlists_fail_closed() {
        let mut empty = config();
        empty.allowed_emails.clear();
        empty.allowed_domains.clear();
        let (verifier, source) = verifier(empty);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        assert_eq!(rt.block_on(verifier.verify(&with(|_| {}))), Err(AccessError::AllowlistEmpty));
        assert_eq!(source.0.load(Ordering::SeqCst), 0, "no key fetch while the path is misconfigured");
    }

    fn lookup(pairs: &[(&str, &str)]) -> Result<Option<AccessConfig>, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AccessConfig::from_lookup(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn team_domain_must_be_a_cloudflare_access_host() {
        assert!(is_cloudflare_access_host("acme.cloudflareaccess.com"));
        for bad in [
            "",
            "cloudflareaccess.com",
            ".cloudflareaccess.com",
            "evil.com",
            "acme.cloudflareaccess.com.evil.com",
            "a/b.cloudflareaccess.com",
            "a..cloudflareaccess.com",
        ] {
            assert!(!is_cloudflare_access_host(bad), "{bad}");
        }
        let on = [("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "1"), ("CF_ACCESS_TEAM_DOMAIN", "evil.example.com")];
        assert!(matches!(lookup(&on), Err(ConfigError::BadTeamDomain(_))));
        let no_aud =
            [("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "1"), ("CF_ACCESS_TEAM_DOMAIN", "acme.cloudflareaccess.com")];
        assert_eq!(lookup(&no_aud), Err(ConfigError::MissingAudience));
        let full = [
            ("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "on"),
            ("CF_ACCESS_TEAM_DOMAIN", "Acme.cloudflareaccess.com"),
            ("CF_ACCESS_AUD", "aud"),
            ("REMOTE_SUPPORT_CF_ALLOWED_EMAILS", "Op@Example.com, x@y"),
            ("REMOTE_SUPPORT_CF_ALLOWED_DOMAINS", " , "),
        ];
        let access = lookup(&full).unwrap().unwrap();
        assert_eq!((access.team_domain.as_str(), access.allowed_emails.len()), ("acme.cloudflareaccess.com", 2));
        assert_eq!(access.allowed_emails[0], "op@example.com");
        assert!(access.allowed_domains.is_empty() && !access.allowlist_empty());
        assert_eq!(lookup(&[]), Ok(None), "off by default");
        assert_eq!(lookup(&[("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "0")]), Ok(None));
        assert!(matches!(lookup(&[("REMOTE_SUPPORT_ALLOW_CF_ASSERTION", "maybe")]), Err(ConfigError::BadBool { .. })));
    }

    #[test]
    fn the_key_source_is_the_team_domain_only() {
        assert_eq!(config().certs_url(), "https://acme.cloudflareaccess.com/cdn-cgi/access/certs");
        assert_eq!(config().issuer(), "https://acme.cloudflareaccess.com");
    }
}
