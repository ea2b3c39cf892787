//! `--store URL` / `ARGUS_STORE` (SPEC §10): `sled`, or a libpq-style PostgreSQL URL, several
//! hosts included (`postgres://USER[:PASSWORD]@H1[:P1],H2[:P2]/DB[?…]`). The URL is parsed by
//! tokio-postgres' own [`tokio_postgres::Config`] (hosts, ports, `target_session_attrs`,
//! `connect_timeout`, …); on top of it live only what this product adds: `sslmode=verify-full`
//! with `sslrootcert`, the parameters a node accepts, a writable primary by default, and the
//! redaction — what is printed of a URL is [`StoreUrl::redacted`], never the password.

use std::fmt;
use std::str::FromStr;

use tokio_postgres::config::TargetSessionAttrs;

/// The environment variable that selects the store.
pub const STORE_ENV: &str = "ARGUS_STORE";

/// Which store a node uses.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded database inside the data dir.
    Sled,
    /// A PostgreSQL database.
    Postgres(Box<PgUrl>),
}

/// A parsed PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// The connection settings as tokio-postgres parsed them (with `sslmode` mapped to what it
    /// knows: `verify-full` connects as `require` and is verified by [`super::pg_tls`]).
    config: tokio_postgres::Config,
    /// The URL as given, password included: for the 0600 file in the data dir only.
    secret: String,
    /// Where the password sits in `secret` (a byte range), for redaction.
    password_at: Option<std::ops::Range<usize>>,
    pub ssl: SslMode,
    /// `sslrootcert=FILE`: the CA that signs the database's certificate (with `verify-full`).
    pub root_cert: Option<String>,
}

/// `sslmode`, as libpq spells it (the modes this product supports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, without verifying the certificate (libpq's default).
    Prefer,
    /// TLS always, without verifying the certificate (libpq's `require`).
    Require,
    /// TLS always, the certificate verified against `sslrootcert` and the host name.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode, UrlError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(UrlError::SslMode(other.chars().take(20).collect())),
        })
    }

    /// What tokio-postgres is told: it negotiates TLS, [`super::pg_tls`] verifies.
    fn negotiated(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyFull => "require",
        }
    }
}

/// The query parameters a node passes on to tokio-postgres. Anything else is refused: `options`
/// could turn off what the node relies on (`synchronous_commit`, `default_transaction_read_only`),
/// and a password belongs in the user part, where it is redacted.
const PASSED_ON: &[&str] = &[
    "target_session_attrs",
    "connect_timeout",
    "load_balance_hosts",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
    "application_name",
    "channel_binding",
];

/// Why a store URL was refused. Never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "the store must be `sled` or a postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DB URL (got a {0:?} URL)"
    )]
    Scheme(String),
    #[error("the store URL has no user (postgres://USER@HOST/DB)")]
    NoUser,
    #[error("the store URL has no host (postgres://USER@HOST/DB)")]
    NoHost,
    #[error("the store URL's port {0:?} is not a number from 1 to 65535")]
    Port(String),
    #[error("the store URL has no database name (postgres://USER@HOST/DB)")]
    NoDatabase,
    #[error("the store URL's sslmode {0:?} is not one of disable, prefer, require, verify-full")]
    SslMode(String),
    #[error("sslmode=verify-full needs sslrootcert=FILE (the CA of the database's certificate)")]
    NoRootCert,
    #[error("the store URL's parameter {0:?} is not supported (sslmode, sslrootcert, {list})", list = PASSED_ON.join(", "))]
    Parameter(String),
    #[error("the store URL has a malformed %-escape")]
    Escape,
    #[error(
        "the store URL's target_session_attrs must be read-write (a node writes; any is allowed with one host only)"
    )]
    SessionAttrs,
    #[error("the store URL is malformed: {0}")]
    Malformed(String),
}

impl StoreUrl {
    /// Parses `text`; an empty text or `sled` is the embedded store.
    pub fn parse(text: &str) -> Result<StoreUrl, UrlError> {
        let text = text.trim();
        if text.is_empty() || text == "sled" {
            return Ok(StoreUrl::Sled);
        }
        PgUrl::parse(text).map(|url| StoreUrl::Postgres(Box::new(url)))
    }

    /// The URL as it may be printed: the password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sled => "sled".into(),
            StoreUrl::Postgres(url) => url.redacted(),
        }
    }

    /// The URL with its password, for the 0600 file in the data dir only.
    pub fn to_secret_string(&self) -> String {
        match self {
            StoreUrl::Sled => "sled".into(),
            StoreUrl::Postgres(url) => url.secret.clone(),
        }
    }
}

impl PgUrl {
    fn parse(text: &str) -> Result<PgUrl, UrlError> {
        let rest = match text.split_once("://") {
            Some(("postgres" | "postgresql", rest)) => rest,
            Some((scheme, _)) => return Err(UrlError::Scheme(scheme.chars().take(20).collect())),
            None => {
                return Err(UrlError::Scheme(text.chars().take_while(|c| c.is_ascii_alphanumeric()).take(20).collect()))
            }
        };
        check_escapes(text)?;
        let prefix = text.len() - rest.len();
        // tokio-postgres takes everything before the first '@' as USER[:PASSWORD]; a '/', '?'
        // or ',' there means the '@' belonged to something else (a parameter, a path).
        let (credentials, after) = rest.split_once('@').ok_or(UrlError::NoUser)?;
        if credentials.contains(['/', '?', ',']) {
            return Err(UrlError::NoUser);
        }
        let password_at = credentials.split_once(':').map(|(user, password)| {
            let start = prefix + user.len() + 1;
            start..start + password.len()
        });
        let (location, query) = after.split_once('?').unwrap_or((after, ""));
        let hosts = location.split_once('/').map_or(location, |(hosts, _)| hosts);
        for host in hosts.split(',') {
            check_port(host)?;
        }
        let mut ssl = SslMode::Prefer;
        let mut root_cert = None;
        let mut passed = Vec::new();
        let mut session_attrs = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => ssl = SslMode::parse(value)?,
                "sslrootcert" => root_cert = Some(decode(value)?),
                "target_session_attrs" => session_attrs = Some(value),
                known if PASSED_ON.contains(&known) => passed.push(pair),
                other => return Err(UrlError::Parameter(other.chars().take(40).collect())),
            }
        }
        if ssl == SslMode::VerifyFull && root_cert.is_none() {
            return Err(UrlError::NoRootCert);
        }
        let base = &text[..text.len() - query.len()].trim_end_matches('?');
        let mut for_config = format!("{base}?sslmode={}", ssl.negotiated());
        for pair in passed {
            for_config.push('&');
            for_config.push_str(pair);
        }
        let mut config =
            tokio_postgres::Config::from_str(&for_config).map_err(|e| UrlError::Malformed(e.to_string()))?;
        if config.get_user().is_none_or(str::is_empty) {
            return Err(UrlError::NoUser);
        }
        if config.get_hosts().is_empty() {
            return Err(UrlError::NoHost);
        }
        if config.get_dbname().is_none_or(str::is_empty) {
            return Err(UrlError::NoDatabase);
        }
        // A node writes: it connects to whichever host is the writable primary unless told
        // otherwise, and `any` is allowed only where there is nothing to choose between.
        config.target_session_attrs(match session_attrs {
            None | Some("read-write") => TargetSessionAttrs::ReadWrite,
            Some("any") if config.get_hosts().len() == 1 => TargetSessionAttrs::Any,
            Some(_) => return Err(UrlError::SessionAttrs),
        });
        Ok(PgUrl { config, secret: text.to_string(), password_at, ssl, root_cert })
    }

    /// The connection settings (hosts, user, password, database, timeouts).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The URL with `***` for a password.
    pub fn redacted(&self) -> String {
        match &self.password_at {
            Some(range) => format!("{}***{}", &self.secret[..range.start], &self.secret[range.end..]),
            None => self.secret.clone(),
        }
    }
}

// Debug never shows the password either.
impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A host's port, when it names one, is a number from 1 to 65535.
fn check_port(host: &str) -> Result<(), UrlError> {
    let port = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').and_then(|(_, after)| after.strip_prefix(':')),
        None => host.rsplit_once(':').map(|(_, port)| port),
    };
    match port {
        None => Ok(()),
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 => Ok(()),
            _ => Err(UrlError::Port(port.chars().take(20).collect())),
        },
    }
}

/// A '%' not followed by two hex digits is refused (decoders pass it through as is).
fn check_escapes(text: &str) -> Result<(), UrlError> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' && !(bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))) {
            return Err(UrlError::Escape);
        }
    }
    Ok(())
}

fn decode(text: &str) -> Result<String, UrlError> {
    percent_encoding::percent_decode_str(text).decode_utf8().map(|s| s.into_owned()).map_err(|_| UrlError::Escape)
}

#[cfg(test)]
mod tests {
    use tokio_postgres::config::Host;

    use super::*;

    fn pg(text: &str) -> PgUrl {
        match StoreUrl::parse(text).unwrap() {
            StoreUrl::Postgres(url) => *url,
            StoreUrl::Sled => panic!("not postgres"),
        }
    }

    fn hosts(url: &PgUrl) -> Vec<(String, u16)> {
        let ports = url.config().get_ports();
        url.config()
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let name = match host {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(path) => path.display().to_string(),
                };
                (name, ports.get(i).or(ports.first()).copied().unwrap_or(5432))
            })
            .collect()
    }

    #[test]
    fn sled_is_the_default() {
        assert_eq!(StoreUrl::parse("").unwrap(), StoreUrl::Sled);
        assert_eq!(StoreUrl::parse("sled").unwrap(), StoreUrl::Sled);
    }

    #[test]
    fn a_full_url_parses_and_prints_without_its_password() {
        let url = pg("postgres://argus:s%40cr3t:x@db.example:5433/argus?sslmode=require");
        assert_eq!(url.config().get_user(), Some("argus"));
        assert_eq!(url.config().get_password(), Some(&b"s@cr3t:x"[..]));
        assert_eq!(hosts(&url), [("db.example".to_string(), 5433)]);
        assert_eq!(url.config().get_dbname(), Some("argus"));
        assert_eq!(url.ssl, SslMode::Require);
        let shown = StoreUrl::Postgres(Box::new(url.clone())).redacted();
        assert_eq!(shown, "postgres://argus:***@db.example:5433/argus?sslmode=require");
        assert!(!format!("{:?}", StoreUrl::Postgres(Box::new(url.clone()))).contains("cr3t"));
        // The secret form round-trips.
        let again = StoreUrl::parse(&StoreUrl::Postgres(Box::new(url.clone())).to_secret_string()).unwrap();
        assert_eq!(again, StoreUrl::Postgres(Box::new(url)));
    }

    #[test]
    fn several_hosts_as_libpq_writes_them_connect_to_the_writable_primary() {
        let url = pg("postgres://argus:pw@db1:5432,db2:5433,[::1]/argus?connect_timeout=2&sslmode=disable");
        assert_eq!(hosts(&url), [("db1".to_string(), 5432), ("db2".to_string(), 5433), ("::1".to_string(), 5432)]);
        // Writable primary unless the URL says so itself.
        assert_eq!(url.config().get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
        assert_eq!(url.config().get_connect_timeout(), Some(&std::time::Duration::from_secs(2)));
        assert_eq!(
            url.redacted(),
            "postgres://argus:***@db1:5432,db2:5433,[::1]/argus?connect_timeout=2&sslmode=disable"
        );
        let explicit = pg("postgresql://u@h1,h2/d?target_session_attrs=read-write&load_balance_hosts=random");
        assert_eq!(explicit.config().get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
        assert_eq!(explicit.ssl, SslMode::Prefer);
        // `any` only where there is nothing to choose between.
        assert_eq!(
            pg("postgres://u@h/d?target_session_attrs=any").config().get_target_session_attrs(),
            TargetSessionAttrs::Any
        );
    }

    #[test]
    fn defaults_and_ipv6_hosts() {
        let url = pg("postgresql://u@[::1]/d");
        assert_eq!((hosts(&url), url.ssl), (vec![("::1".to_string(), 5432)], SslMode::Prefer));
        assert_eq!(url.config().get_password(), None);
        assert_eq!(StoreUrl::Postgres(Box::new(url)).redacted(), "postgresql://u@[::1]/d");
    }

    #[test]
    fn malformed_urls_name_what_is_wrong_and_never_the_password() {
        let cases = [
            ("mysql://u:hunter2@h/d", UrlError::Scheme("mysql".into())),
            ("postgres://hunter2host/d", UrlError::NoUser),
            ("postgres://:hunter2@h/d", UrlError::NoUser),
            ("postgres://h/d?application_name=a@hunter2", UrlError::NoUser),
            ("postgres://u:hunter2@/d", UrlError::NoHost),
            ("postgres://u:hunter2@h:99999/d", UrlError::Port("99999".into())),
            ("postgres://u:hunter2@h:0/d", UrlError::Port("0".into())),
            ("postgres://u:hunter2@h1:5432,h2:x/d", UrlError::Port("x".into())),
            ("postgres://u:hunter2@h", UrlError::NoDatabase),
            ("postgres://u:hunter2@h/d?sslmode=sometimes", UrlError::SslMode("sometimes".into())),
            ("postgres://u:hunter2@h/d?sslmode=verify-full", UrlError::NoRootCert),
            ("postgres://u:hunter2@h/d?options=-c", UrlError::Parameter("options".into())),
            ("postgres://u@h/d?password=hunter2", UrlError::Parameter("password".into())),
            ("postgres://u:hun%zzter2@h/d", UrlError::Escape),
            ("postgres://u:hunter2@h1,h2/d?target_session_attrs=any", UrlError::SessionAttrs),
            ("postgres://u:hunter2@h/d?target_session_attrs=read-only", UrlError::SessionAttrs),
        ];
        for (text, expected) in cases {
            let error = StoreUrl::parse(text).unwrap_err();
            assert_eq!(error, expected, "{text}");
            assert!(!error.to_string().contains("hunter2"), "{text}: {error}");
        }
        let error = StoreUrl::parse("postgres://u:hunter2@h/d?connect_timeout=soon").unwrap_err();
        assert!(matches!(error, UrlError::Malformed(_)), "{error:?}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
