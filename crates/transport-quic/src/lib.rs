//! QUIC links between agents and `argus-ops`: quinn + rustls endpoints, the fsm frame codec
//! on streams, and the TLS exporter value that binds the link handshake to one TLS session.
//!
//! This crate does transport only. What is said on a link is decided by `argus_fsm`
//! (`handshake`, `wire`); the server and agent crates drive it.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use argus_fsm::handshake::{BINDING_LEN, EXPORTER_LABEL};
use argus_fsm::wire::{decode_body, encode_frame, FrameError, LENGTH_PREFIX};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{de::DeserializeOwned, Serialize};

pub mod tickets;
pub use tickets::TicketKeys;

/// ALPN protocol of the agent link.
pub const ALPN: &[u8] = b"argus/1";
/// Keep-alive ping interval: a NAT mapping stays open and a dead peer is noticed.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// A link with no traffic (keep-alives included) for this long is dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The agent's keep-alive: the server's link to it stays up through NATs and a silent server
/// is noticed quickly.
pub const AGENT_KEEP_ALIVE: Duration = Duration::from_secs(3);
/// A link to a server silent this long is dead: the agent fails over to another node. Two
/// keep-alive intervals (a lost keep-alive is retransmitted well within it): with a 4 s bound
/// on each connection attempt, a node's death plus one stalled node drawn next still leaves
/// the agent online elsewhere within SPEC §10's 15 s (8 s before: up to 16.2 s measured).
pub const AGENT_IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// UDP socket buffer size: the kernel default (~208 KiB) drops most packets of a reconnect
/// storm of thousands of handshakes (measured: issue #3).
pub const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// Session tickets sent with each agent connection (the client keeps up to 8 per server).
pub const TICKETS_PER_CONNECTION: usize = 4;
/// Commands in flight per agent: a handful is plenty for one operator session.
pub const MAX_STREAMS_PER_AGENT: u32 = 16;

/// Everything that can go wrong on a link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("read: {0}")]
    Read(String),
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    #[error("the stream ended in the middle of a frame")]
    Truncated,
}

/// Parses every certificate of a PEM file.
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, LinkError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &*pem).collect();
    let certs = certs.map_err(|e| LinkError::Tls(format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(LinkError::Tls("no certificate in PEM".into()));
    }
    Ok(certs)
}

/// Parses the first private key of a PEM file.
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, LinkError> {
    rustls_pemfile::private_key(&mut &*pem)
        .map_err(|e| LinkError::Tls(format!("bad key PEM: {e}")))?
        .ok_or_else(|| LinkError::Tls("no private key in PEM".into()))
}

/// The crypto provider every endpoint uses (ring), chosen explicitly rather than process-wide.
/// TLS 1.3 suites with SHA-256 come first: the key schedule of every handshake is a few dozen
/// HMACs, and SHA-256 runs in hardware where SHA-384 does not (measured: SHA-512 blocks were
/// 4 % of the agent listener's CPU in a reconnect storm with AES-256-GCM-SHA384 first).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|suite| match suite.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 1,
        _ => 2,
    });
    Arc::new(provider)
}

/// A root store holding only the given CA: agents and clients pin the ops CA.
pub fn pinned_roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore, LinkError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in parse_certificates(ca_pem)? {
        roots.add(cert).map_err(|e| LinkError::Tls(format!("bad CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Transport limits tuned for a fleet of mostly idle links that must still carry a 1 MiB
/// answer promptly.
pub fn transport_config() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(MAX_STREAMS_PER_AGENT.into())
        .max_concurrent_uni_streams(0u32.into())
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("30 s is a valid idle timeout")))
        .stream_receive_window((2u32 * 1024 * 1024).into())
        .receive_window((4u32 * 1024 * 1024).into())
        .send_window(4 * 1024 * 1024)
        .mtu_discovery_config(Some(mtu_discovery()));
    transport
}

/// The agent listener's transport: no keep-alive of its own. Every agent pings its link
/// (`AGENT_KEEP_ALIVE`; older agents `KEEP_ALIVE`) and the server's acknowledgements are what the
/// agent hears; the server's own pings every 10 s only added a ping and an acknowledgement per
/// agent (measured: 43.6 % of a core at rest with 50,000 agents connected). A dead agent is still
/// seen within the idle timeout, the shorter of both sides' (8 s with today's agents).
pub fn agent_listener_transport() -> quinn::TransportConfig {
    let mut transport = transport_config();
    transport.keep_alive_interval(None);
    transport
}

/// Path MTU discovery with one probe: straight to quinn's usual upper bound (1452 bytes), and
/// 1200 (QUIC's minimum) if that is lost. quinn's default binary search sends four probes each
/// way on every new connection, each a PING padded to the probed size — on a reconnect storm that
/// was a third of the datagrams of a connection, every padding byte parsed as a frame by the
/// receiver. A link carries small control messages and now and then a transfer of up to a few
/// MiB: the MTU in between the two bounds is not worth three round trips of probes per link.
fn mtu_discovery() -> quinn::MtuDiscoveryConfig {
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    // Larger than half the distance between the bounds: the first step of the binary search is
    // skipped for the upper bound itself, and after it nothing is left to search.
    mtu.upper_bound(MTU_UPPER_BOUND).minimum_change(MTU_UPPER_BOUND - MTU_LOWER_BOUND);
    mtu
}

/// The MTU a link starts with (QUIC's minimum) and the one its single probe tries.
const MTU_LOWER_BOUND: u16 = 1200;
const MTU_UPPER_BOUND: u16 = 1452;

/// Binds a UDP socket with enlarged buffers (best effort: the kernel may cap them).
pub fn bind_udp(addr: SocketAddr) -> Result<std::net::UdpSocket, LinkError> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_recv_buffer_size(UDP_BUFFER_BYTES).ok();
    socket.set_send_buffer_size(UDP_BUFFER_BYTES).ok();
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The server endpoint agents dial. Its session tickets are sealed under `tickets`: keys kept in
/// the data dir let agents resume after a restart (a reconnect storm costs a fraction of the
/// full handshakes).
pub fn server_endpoint(
    addr: SocketAddr,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    tickets: Arc<TicketKeys>,
) -> Result<quinn::Endpoint, LinkError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| LinkError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| LinkError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // Stateless tickets: nothing per client on the server, and they outlive a restart. A TLS 1.3
    // ticket is used once, and an agent that dials while the server is still down spends one
    // on each attempt: a few per connection keep the attempts after a restart resumable.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.ticketer = tickets;
    tls.send_tls13_tickets = TICKETS_PER_CONNECTION;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| LinkError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(agent_listener_transport()));
    // Migration (NAT rebinding) keeps an agent on its connection when its address changes.
    config.migration(true);
    let socket = bind_udp(addr)?;
    let runtime = quinn::default_runtime().ok_or_else(|| LinkError::Tls("no async runtime".into()))?;
    Ok(quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(config), socket, runtime)?)
}

/// A client endpoint that trusts only the given CA.
pub fn client_endpoint(bind: SocketAddr, ca_pem: &[u8]) -> Result<quinn::Endpoint, LinkError> {
    let mut endpoint = {
        let socket = bind_udp(bind)?;
        let runtime = quinn::default_runtime().ok_or_else(|| LinkError::Tls("no async runtime".into()))?;
        quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)?
    };
    endpoint.set_default_client_config(client_config(ca_pem)?);
    Ok(endpoint)
}

/// The client configuration: pinned CA, TLS 1.3, our ALPN, resumption on.
pub fn client_config(ca_pem: &[u8]) -> Result<quinn::ClientConfig, LinkError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| LinkError::Tls(e.to_string()))?
        .with_root_certificates(pinned_roots(ca_pem)?)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| LinkError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = transport_config();
    // The agent's side keeps the link noticeably alive: a node that died without a word is
    // seen dead within AGENT_IDLE_TIMEOUT (the idle timeout both sides use is the shorter).
    transport
        .keep_alive_interval(Some(AGENT_KEEP_ALIVE))
        .max_idle_timeout(Some(AGENT_IDLE_TIMEOUT.try_into().expect("a valid idle timeout")));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// ALPN protocol of the links between `argus-ops` nodes.
pub const PEER_ALPN: &[u8] = b"argus-peer/1";
/// The name every node certificate carries for the peer link: peers are reached by address,
/// but authenticated by a certificate of the cluster CA, never by that address.
pub const PEER_SERVER_NAME: &str = "argus-ops-peer";

/// Keep-alive on peer links (few connections, so cheap).
pub const PEER_KEEP_ALIVE: Duration = Duration::from_secs(1);
/// A peer link silent this long is dead.
pub const PEER_IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// The endpoint of a node's peer link: it accepts only peers presenting a certificate of the
/// cluster CA (`ca_pem`), and dials other nodes presenting its own.
pub fn peer_endpoint(
    addr: SocketAddr,
    ca_pem: &[u8],
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<quinn::Endpoint, LinkError> {
    let roots = Arc::new(pinned_roots(ca_pem)?);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), crypto_provider())
        .build()
        .map_err(|e| LinkError::Tls(e.to_string()))?;
    let mut server = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| LinkError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| LinkError::Tls(e.to_string()))?;
    server.alpn_protocols = vec![PEER_ALPN.to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| LinkError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| LinkError::Tls(e.to_string()))?;
    client.alpn_protocols = vec![PEER_ALPN.to_vec()];
    let mut transport = transport_config();
    // Many operators' commands share one link between two nodes; and a node that died is
    // noticed in seconds, so a request for its agents answers `agent_offline` instead of
    // waiting out a command timeout.
    transport
        .max_concurrent_bidi_streams(1024u32.into())
        .keep_alive_interval(Some(PEER_KEEP_ALIVE))
        .max_idle_timeout(Some(PEER_IDLE_TIMEOUT.try_into().expect("a valid idle timeout")));
    let transport = Arc::new(transport);
    let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(
        QuicServerConfig::try_from(server).map_err(|e| LinkError::Tls(e.to_string()))?,
    ));
    server_config.transport_config(transport.clone());
    let mut client_config = quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(client).map_err(|e| LinkError::Tls(e.to_string()))?,
    ));
    client_config.transport_config(transport);
    let socket = bind_udp(addr)?;
    let runtime = quinn::default_runtime().ok_or_else(|| LinkError::Tls("no async runtime".into()))?;
    let mut endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(server_config), socket, runtime)?;
    endpoint.set_default_client_config(client_config);
    Ok(endpoint)
}

/// The exporter value of this connection's TLS session, which link proofs sign.
pub fn exporter(connection: &quinn::Connection) -> Result<[u8; BINDING_LEN], LinkError> {
    let mut out = [0u8; BINDING_LEN];
    connection
        .export_keying_material(&mut out, EXPORTER_LABEL, b"")
        .map_err(|_| LinkError::Tls("TLS exporter unavailable".into()))?;
    Ok(out)
}

/// Writes one message as a frame.
pub async fn write_frame<T: Serialize>(send: &mut quinn::SendStream, message: &T) -> Result<(), LinkError> {
    let frame = encode_frame(message)?;
    send.write_all(&frame).await?;
    Ok(())
}

/// Reads one frame; `None` when the peer finished the stream cleanly between frames.
/// The length is checked against the maximum before the body is read.
pub async fn read_frame<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> Result<Option<T>, LinkError> {
    read_frame_within(recv, argus_fsm::wire::MAX_FRAME).await
}

/// [`read_frame`] refusing any frame longer than `limit` before reading its body.
pub async fn read_frame_within<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    limit: usize,
) -> Result<Option<T>, LinkError> {
    let mut prefix = [0u8; LENGTH_PREFIX];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Err(LinkError::Truncated),
        Err(quinn::ReadExactError::ReadError(e)) => return Err(LinkError::Read(e.to_string())),
    }
    let length = argus_fsm::wire::frame_length_within(prefix, limit)?;
    let mut body = vec![0u8; length];
    recv.read_exact(&mut body).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(_) => LinkError::Truncated,
        quinn::ReadExactError::ReadError(e) => LinkError::Read(e.to_string()),
    })?;
    Ok(Some(decode_body(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_listener_leaves_keep_alive_to_the_agents() {
        // quinn exposes its settings only through Debug.
        let listener = format!("{:?}", agent_listener_transport());
        assert!(listener.contains("keep_alive_interval: None"), "{listener}");
        let shared = format!("{:?}", transport_config());
        let shared_keep_alive = format!("keep_alive_interval: Some({KEEP_ALIVE:?})");
        assert!(shared.contains(&shared_keep_alive), "{shared}");
        // Everything else is the shared transport's.
        assert_eq!(listener.replace("keep_alive_interval: None", ""), shared.replace(&shared_keep_alive, ""));
    }
}
