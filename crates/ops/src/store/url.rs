//! `--store URL` / `ARGUS_STORE` (SPEC §10): `sled`, or a libpq-style
//! `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]` URL. Parsed once, here; what is
//! printed of it is [`StoreUrl::redacted`], never the password.

use std::fmt;

/// The environment variable that selects the store.
pub const STORE_ENV: &str = "ARGUS_STORE";

/// Which store a node uses.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded database inside the data dir.
    Sled,
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

/// A parsed PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
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
}

/// Why a store URL was refused. Never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the store must be `sled` or a postgres://USER[:PASSWORD]@HOST[:PORT]/DB URL (got a {0:?} URL)")]
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
    #[error("the store URL's parameter {0:?} is not supported (only sslmode and sslrootcert)")]
    Parameter(String),
    #[error("the store URL has a malformed %-escape")]
    Escape,
}

impl StoreUrl {
    /// Parses `text`; an empty text or `sled` is the embedded store.
    pub fn parse(text: &str) -> Result<StoreUrl, UrlError> {
        let text = text.trim();
        if text.is_empty() || text == "sled" {
            return Ok(StoreUrl::Sled);
        }
        let rest = match text.split_once("://") {
            Some(("postgres" | "postgresql", rest)) => rest,
            Some((scheme, _)) => return Err(UrlError::Scheme(scheme.chars().take(20).collect())),
            None => {
                return Err(UrlError::Scheme(text.chars().take_while(|c| c.is_ascii_alphanumeric()).take(20).collect()))
            }
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        // The password may contain '@'; the host part follows the last one.
        let (userinfo, hostport) = authority.rsplit_once('@').ok_or(UrlError::NoUser)?;
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (decode(user)?, Some(decode(password)?)),
            None => (decode(userinfo)?, None),
        };
        if user.is_empty() {
            return Err(UrlError::NoUser);
        }
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let database = decode(path)?;
        if database.is_empty() {
            return Err(UrlError::NoDatabase);
        }
        let mut ssl = SslMode::Prefer;
        let mut root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    ssl = match value {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-full" => SslMode::VerifyFull,
                        other => return Err(UrlError::SslMode(other.chars().take(20).collect())),
                    }
                }
                "sslrootcert" => root_cert = Some(decode(value)?),
                other => return Err(UrlError::Parameter(other.chars().take(40).collect())),
            }
        }
        if ssl == SslMode::VerifyFull && root_cert.is_none() {
            return Err(UrlError::NoRootCert);
        }
        Ok(StoreUrl::Postgres(PgUrl { user, password, host, port, database, ssl, root_cert }))
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
            StoreUrl::Postgres(url) => url.render(url.password.as_deref().map(encode)),
        }
    }
}

impl PgUrl {
    /// The URL with `***` for a password.
    pub fn redacted(&self) -> String {
        self.render(self.password.as_ref().map(|_| "***".to_string()))
    }

    fn render(&self, password: Option<String>) -> String {
        let mut text = format!("postgres://{}", encode(&self.user));
        if let Some(password) = password {
            text.push(':');
            text.push_str(&password);
        }
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        text.push_str(&format!("@{host}:{}/{}?sslmode={}", self.port, encode(&self.database), self.ssl.as_str()));
        if let Some(root) = &self.root_cert {
            text.push_str(&format!("&sslrootcert={}", encode(root)));
        }
        text
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

fn split_host_port(text: &str) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::NoHost)?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => 5432,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| UrlError::Port(port.chars().take(20).collect()))?,
    };
    Ok((decode(host)?, port))
}

fn decode(text: &str) -> Result<String, UrlError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| UrlError::Escape)
        .and_then(|decoded| {
            // A '%' not followed by two hex digits is left as is by the decoder: refuse it.
            let bytes = text.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'%' && !(bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))) {
                    return Err(UrlError::Escape);
                }
            }
            Ok(decoded)
        })
}

const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(text: &str) -> PgUrl {
        match StoreUrl::parse(text).unwrap() {
            StoreUrl::Postgres(url) => url,
            StoreUrl::Sled => panic!("not postgres"),
        }
    }

    #[test]
    fn sled_is_the_default() {
        assert_eq!(StoreUrl::parse("").unwrap(), StoreUrl::Sled);
        assert_eq!(StoreUrl::parse("sled").unwrap(), StoreUrl::Sled);
    }

    #[test]
    fn a_full_url_parses_and_prints_without_its_password() {
        let url = pg("postgres://argus:s%40cr3t:x@db.example:5433/argus?sslmode=require");
        assert_eq!((url.user.as_str(), url.password.as_deref()), ("argus", Some("s@cr3t:x")));
        assert_eq!((url.host.as_str(), url.port, url.database.as_str()), ("db.example", 5433, "argus"));
        assert_eq!(url.ssl, SslMode::Require);
        let shown = StoreUrl::Postgres(url.clone()).redacted();
        assert_eq!(shown, "postgres://argus:***@db.example:5433/argus?sslmode=require");
        assert!(!format!("{:?}", StoreUrl::Postgres(url.clone())).contains("cr3t"));
        // The secret form round-trips.
        let again = StoreUrl::parse(&StoreUrl::Postgres(url.clone()).to_secret_string()).unwrap();
        assert_eq!(again, StoreUrl::Postgres(url));
    }

    #[test]
    fn defaults_and_ipv6_hosts() {
        let url = pg("postgresql://u@[::1]/d");
        assert_eq!((url.host.as_str(), url.port, url.ssl), ("::1", 5432, SslMode::Prefer));
        assert_eq!(url.password, None);
        assert_eq!(StoreUrl::Postgres(url).redacted(), "postgres://u@[::1]:5432/d?sslmode=prefer");
    }

    #[test]
    fn malformed_urls_name_what_is_wrong_and_never_the_password() {
        let cases = [
            ("mysql://u:hunter2@h/d", UrlError::Scheme("mysql".into())),
            ("postgres://hunter2host/d", UrlError::NoUser),
            ("postgres://:hunter2@h/d", UrlError::NoUser),
            ("postgres://u:hunter2@/d", UrlError::NoHost),
            ("postgres://u:hunter2@h:99999/d", UrlError::Port("99999".into())),
            ("postgres://u:hunter2@h:0/d", UrlError::Port("0".into())),
            ("postgres://u:hunter2@h", UrlError::NoDatabase),
            ("postgres://u:hunter2@h/d?sslmode=sometimes", UrlError::SslMode("sometimes".into())),
            ("postgres://u:hunter2@h/d?sslmode=verify-full", UrlError::NoRootCert),
            ("postgres://u:hunter2@h/d?options=-c", UrlError::Parameter("options".into())),
            ("postgres://u:hun%zzter2@h/d", UrlError::Escape),
        ];
        for (text, expected) in cases {
            let error = StoreUrl::parse(text).unwrap_err();
            assert_eq!(error, expected, "{text}");
            assert!(!error.to_string().contains("hunter2"), "{text}: {error}");
        }
    }
}
