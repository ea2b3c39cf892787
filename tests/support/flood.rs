//! QUIC Initial floods, sent the way an attacker sends them: quinn-proto's client state machine
//! (sans-IO) makes each connection's first datagram, and the flood writes it to a plain UDP
//! socket. Nothing the server sends back is answered — or, for a flood from addresses that do
//! receive, only the server's Retry is, so the address is validated and the handshake then
//! stalls there.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a flood sent.
#[derive(Debug, Default)]
pub struct Sent {
    /// Initial datagrams sent (each a new connection).
    pub initials: u64,
    /// Retries answered with a token-bearing Initial (validated, then silent).
    pub retries_answered: u64,
    /// How long sending took.
    pub elapsed: Duration,
}

impl Sent {
    /// Initials per second actually sent.
    pub fn rate(&self) -> f64 {
        self.initials as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One source address: its socket and the client endpoint state that made its connections.
struct Source {
    socket: UdpSocket,
    endpoint: quinn_proto::Endpoint,
    /// Connections still waiting for a Retry (only when answering them).
    waiting: HashMap<quinn_proto::ConnectionHandle, quinn_proto::Connection>,
}

fn client_config(ca_pem: &[u8]) -> quinn_proto::ClientConfig {
    argus_transport_quic::client_config(ca_pem).expect("client config")
}

/// Sends `count` Initials to `server`, spread round-robin over `sources` (loopback addresses
/// other than the agents'), at about `rate` per second. With `answer_retry`, a Retry from the
/// server is answered once (the address is validated) and the connection then says nothing more.
pub fn initials(
    server: SocketAddr,
    ca_pem: &[u8],
    sources: &[IpAddr],
    count: u64,
    rate: f64,
    answer_retry: bool,
) -> Sent {
    let config = client_config(ca_pem);
    let mut sources: Vec<Source> = sources
        .iter()
        .map(|ip| {
            let socket = UdpSocket::bind(SocketAddr::new(*ip, 0)).expect("flood socket");
            socket.set_nonblocking(true).unwrap();
            let endpoint =
                quinn_proto::Endpoint::new(Arc::new(quinn_proto::EndpointConfig::default()), None, false, None);
            Source { socket, endpoint, waiting: HashMap::new() }
        })
        .collect();
    let mut sent = Sent::default();
    let start = Instant::now();
    let mut buf = Vec::new();
    for n in 0..count {
        // Retries are answered as they come, even when sending falls behind its schedule (a
        // busy machine): left to queue, they overflow the socket's receive buffer and the
        // address is never validated.
        if answer_retry {
            for source in &mut sources {
                answer(source, &mut sent);
            }
        }
        // Paced: the n-th Initial leaves at n / rate seconds.
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        while Instant::now() < due {
            if answer_retry {
                for source in &mut sources {
                    answer(source, &mut sent);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let count = sources.len();
        let source = &mut sources[n as usize % count];
        let now = Instant::now();
        let (handle, mut connection) =
            source.endpoint.connect(now, config.clone(), server, "localhost").expect("a client connection");
        buf.clear();
        if let Some(transmit) = connection.poll_transmit(now, 1, &mut buf) {
            let _ = source.socket.send_to(&buf[..transmit.size], transmit.destination);
            sent.initials += 1;
        }
        if answer_retry {
            source.waiting.insert(handle, connection);
        }
    }
    // Late Retries.
    if answer_retry {
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            for source in &mut sources {
                answer(source, &mut sent);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sent.elapsed = start.elapsed();
    sent
}

/// Answers the Retries that have arrived at `source`, once each; reads and drops the rest.
fn answer(source: &mut Source, sent: &mut Sent) {
    let mut datagram = [0u8; 2048];
    let mut buf = Vec::new();
    while let Ok((len, from)) = source.socket.recv_from(&mut datagram) {
        let now = Instant::now();
        let data = bytes::BytesMut::from(&datagram[..len]);
        let Some(quinn_proto::DatagramEvent::ConnectionEvent(handle, event)) =
            source.endpoint.handle(now, from, None, None, data, &mut buf)
        else {
            continue;
        };
        // Only the first answer to each connection (the Retry) is taken in; after that the
        // connection is forgotten: it never completes.
        let Some(mut connection) = source.waiting.remove(&handle) else { continue };
        connection.handle_event(event);
        buf.clear();
        let mut answered = false;
        while let Some(transmit) = connection.poll_transmit(now, 1, &mut buf) {
            let _ = source.socket.send_to(&buf[..transmit.size], transmit.destination);
            answered = true;
            buf.clear();
        }
        if answered {
            sent.retries_answered += 1;
        }
    }
}
