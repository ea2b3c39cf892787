//! Syslog sinks for `argusctl audit export` (SPEC §14): RFC 5424 messages, over TLS with RFC
//! 5425's octet-counted framing and the receiver's certificate checked against a pinned CA, or
//! over UDP (RFC 5426) for a local collector.
//!
//! A page counts as delivered over TLS only once the receiver has read all of it: the page is
//! sent on its own connection, the client says `close_notify` and waits for the receiver to
//! close in turn (a receiver closes after it has read what was sent before the client's close).
//! A receiver that dies mid-page never closes cleanly, so the page is not counted and is sent
//! again: at-least-once, never a gap. UDP has no such answer: it is fire and forget.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// The syslog facility of the messages: 13, "log audit" (RFC 5424 §6.2.1).
const FACILITY: u8 = 13;
/// Their severity: 6, informational.
const SEVERITY: u8 = 6;
/// How long a page's connection may take, end to end.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the export goes.
pub enum Sink {
    Tls { host: String, port: u16, config: Arc<rustls::ClientConfig> },
    Udp { socket: UdpSocket },
}

/// Parses `tcp+tls://HOST:PORT` (with the CA that signed the receiver's certificate) or
/// `udp://HOST:PORT`.
pub fn open(url: &str, ca: Option<&std::path::Path>) -> Result<Sink, String> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("{url:?} is not tcp+tls://HOST:PORT or udp://HOST:PORT"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_start_matches('[').trim_end_matches(']').to_string(), p.parse::<u16>().ok()?)))
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| format!("{url:?} has no HOST:PORT"))?;
    match scheme {
        "tcp+tls" => {
            let ca = ca.ok_or("--syslog tcp+tls://… needs --syslog-ca FILE (the receiver's CA)")?;
            let pem = std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
            let roots = argus_transport_quic::pinned_roots(&pem).map_err(|e| format!("{}: {e}", ca.display()))?;
            let config = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Sink::Tls { host, port, config: Arc::new(config) })
        }
        "udp" => {
            let target = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| format!("{host}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host} has no address"))?;
            let local = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
            socket.connect(target).map_err(|e| format!("{target}: {e}"))?;
            Ok(Sink::Udp { socket })
        }
        other => Err(format!("unknown syslog transport {other:?}: tcp+tls or udp")),
    }
}

/// One export line as an RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID -
/// MSG`, the line itself (JSON) as the message, the event's name as MSGID, the writing node as
/// HOSTNAME.
pub fn message(line: &str) -> String {
    let value: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let record = if value.get("unmapped").is_some() { &value["unmapped"]["record"] } else { &value };
    let field = |key: &str, max: usize| {
        let text: String =
            record[key].as_str().unwrap_or("-").chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
        if text.is_empty() {
            "-".to_string()
        } else {
            text
        }
    };
    format!(
        "<{}>1 {} {} argus - {} - {}",
        FACILITY * 8 + SEVERITY,
        field("at", 64),
        field("node", 255),
        field("event", 32),
        line
    )
}

/// Delivers one page of export lines; `Ok` only once the receiver has them all (TLS), or they
/// were sent (UDP).
pub fn deliver(sink: &Sink, lines: &[&str]) -> Result<(), String> {
    match sink {
        Sink::Udp { socket } => {
            for line in lines {
                socket.send(message(line).as_bytes()).map_err(|e| format!("syslog over UDP: {e}"))?;
            }
            Ok(())
        }
        Sink::Tls { host, port, config } => deliver_tls(host, *port, config, lines),
    }
}

fn deliver_tls(host: &str, port: u16, config: &Arc<rustls::ClientConfig>, lines: &[&str]) -> Result<(), String> {
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("syslog over TLS to {host}:{port}: {what}: {e}");
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|e| failed("resolving", &e))?
        .next()
        .ok_or_else(|| failed("resolving", &"no address"))?;
    let tcp = TcpStream::connect_timeout(&address, PAGE_TIMEOUT).map_err(|e| failed("connecting", &e))?;
    tcp.set_read_timeout(Some(PAGE_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(PAGE_TIMEOUT)))
        .map_err(|e| failed("socket", &e))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| failed("server name", &e))?;
    let connection = rustls::ClientConnection::new(config.clone(), name).map_err(|e| failed("TLS", &e))?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let mut frames = Vec::new();
    for line in lines {
        let message = message(line);
        frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
        frames.extend_from_slice(message.as_bytes());
    }
    stream.write_all(&frames).and_then(|()| stream.flush()).map_err(|e| failed("sending", &e))?;
    // Our close, then the receiver's: it closes once it has read everything before ours.
    stream.conn.send_close_notify();
    stream.flush().map_err(|e| failed("closing", &e))?;
    let _ = stream.sock.shutdown(std::net::Shutdown::Write);
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => Ok(()),
        Err(e) => Err(failed("waiting for the receiver to take the page", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_becomes_an_rfc_5424_message_of_the_audit_facility() {
        let line =
            r#"{"seq":3,"at":"2026-12-06T10:00:00.250Z","event":"remote_support_command","node":"n1","hash":"h"}"#;
        assert_eq!(
            message(line),
            format!("<110>1 2026-12-06T10:00:00.250Z n1 argus - remote_support_command - {line}")
        );
        let bare = r#"{"seq":1,"at":"2026-12-06T10:00:00Z","event":"tenant created"}"#;
        assert!(
            message(bare).starts_with("<110>1 2026-12-06T10:00:00Z - argus - tenantcreated - {"),
            "{}",
            message(bare)
        );
    }

    #[test]
    fn urls_name_a_transport_and_an_address() {
        assert!(open("udp://127.0.0.1:514", None).is_ok());
        assert!(open("tcp+tls://127.0.0.1:6514", None).err().unwrap().contains("--syslog-ca"));
        assert!(open("tcp://127.0.0.1:514", None).is_err());
        assert!(open("udp://127.0.0.1", None).is_err());
        assert!(open("127.0.0.1:514", None).is_err());
    }
}
