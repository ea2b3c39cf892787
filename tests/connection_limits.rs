//! SPEC §12 connection limits of the HTTPS API, with raw TLS sockets against the real binary:
//! a head over 64 KiB is answered 431, a head must arrive within 10 s of its first byte (the
//! first one within 10 s of the accept), an idle keep-alive connection lives 60 s (not less,
//! not much more), a TLS handshake must finish within 10 s; floods of silent sockets on the API
//! and the metrics listener of a process with 256 descriptors; a body declared too large is
//! refused from the head.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::Ops;

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(ops: &Ops) -> Tls {
    let pem = std::fs::read(ops.ca()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(argus_transport_quic::pinned_roots(&pem).unwrap())
        .with_no_client_auth();
    let connection = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(ops.api).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.flush().unwrap();
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
    }
    tls
}

/// Reads until the server closes the connection (EOF or reset); returns what was read.
fn read_until_closed(tls: &mut Tls) -> String {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Sends one complete request and reads one answer's status line and headers.
fn healthz(tls: &mut Tls) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).expect("an answer"), 1, "closed before answering");
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .expect("content-length");
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).unwrap();
    head
}

#[test]
fn a_request_head_over_64_kib_is_answered_431() {
    let ops = Ops::start(&[]);
    let mut tls = connect(&ops);
    let big = "x".repeat(200 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n");
    let _ = tls.write_all(request.as_bytes());
    let answer = read_until_closed(&mut tls);
    assert!(answer.starts_with("HTTP/1.1 431"), "answer: {:?}", &answer[..answer.len().min(200)]);
    // A head just under the limit is served.
    let mut tls = connect(&ops);
    let fits = "x".repeat(60 * 1024);
    tls.write_all(format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {fits}\r\n\r\n").as_bytes()).unwrap();
    let mut head = [0u8; 12];
    tls.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

#[test]
fn a_slow_head_is_cut_after_10_s_but_an_idle_keep_alive_connection_lives_60_s() {
    let ops = Ops::start(&[]);
    // Slowloris: half a head, then nothing.
    let slow = std::thread::spawn({
        let mut tls = connect(&ops);
        move || {
            tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").unwrap();
            let started = Instant::now();
            let answer = read_until_closed(&mut tls);
            (started.elapsed(), answer)
        }
    });
    // A TLS connection that never finishes its handshake.
    let handshake = std::thread::spawn({
        let api = ops.api;
        move || {
            let mut tcp = TcpStream::connect(api).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
            let started = Instant::now();
            let mut buffer = [0u8; 64];
            while matches!(tcp.read(&mut buffer), Ok(n) if n > 0) {}
            started.elapsed()
        }
    });
    // Keep-alive: a request, then silence well past the header timeout, then another request
    // on the same connection, then silence until the server closes it.
    let mut tls = connect(&ops);
    assert!(healthz(&mut tls).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_secs(15));
    assert!(healthz(&mut tls).starts_with("HTTP/1.1 200"), "idle for 15 s, still open");
    let idle_from = Instant::now();
    let rest = read_until_closed(&mut tls);
    let idle = idle_from.elapsed();
    assert!(rest.is_empty(), "nothing more was sent: {rest}");
    assert!(idle >= Duration::from_secs(55) && idle <= Duration::from_secs(75), "closed after {idle:?} idle");

    let (slow_after, answer) = slow.join().unwrap();
    assert!(!answer.contains("200 OK"), "the incomplete request was never served");
    assert!(
        slow_after >= Duration::from_secs(8) && slow_after <= Duration::from_secs(20),
        "head cut after {slow_after:?}"
    );
    let handshake_after = handshake.join().unwrap();
    assert!(handshake_after <= Duration::from_secs(20), "handshake cut after {handshake_after:?}");
}

/// Opens `count` TCP connections to `addr` that never send a byte.
fn silent_sockets(addr: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count).filter_map(|_| TcpStream::connect(addr).ok()).collect()
}

/// How many of `sockets` the server has closed (a read sees EOF or a reset at once).
fn closed(sockets: &[TcpStream]) -> usize {
    sockets
        .iter()
        .filter(|socket| {
            socket.set_nonblocking(true).unwrap();
            let mut byte = [0u8; 1];
            let gone = !matches!((&**socket).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            socket.set_nonblocking(false).unwrap();
            gone
        })
        .count()
}

/// `GET /healthz` on a new connection; how long the answer took.
fn healthz_within(ops: &Ops) -> Duration {
    let started = Instant::now();
    let mut tls = connect(ops);
    assert!(healthz(&mut tls).starts_with("HTTP/1.1 200"), "healthz answers");
    started.elapsed()
}

#[test]
fn a_tls_connection_that_never_sends_a_byte_is_closed_after_10_s() {
    let ops = Ops::start(&[]);
    let mut tls = connect(&ops);
    let started = Instant::now();
    let rest = read_until_closed(&mut tls);
    let after = started.elapsed();
    assert!(rest.is_empty(), "{rest}");
    // Before: the idle timeout (60 s) applied to a connection that had never sent a request.
    assert!(after >= Duration::from_secs(8) && after <= Duration::from_secs(20), "closed after {after:?}");
}

/// A process allowed 256 descriptors, 300 silent sockets on its API: the quietest are shed to
/// make room, `/healthz` answers at once on a new connection, and nothing fails to accept.
#[test]
fn silent_connections_cannot_starve_the_api_of_descriptors() {
    let mut ops = Ops::start_on_sled(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    ops.stop();
    ops.nofile = Some(256);
    ops.serve(None);
    let metrics = ops.addresses()["metrics"].as_str().unwrap().to_string();
    let silent = silent_sockets(ops.api, 300);
    assert_eq!(silent.len(), 300, "the kernel accepts them all into the backlog");
    let took = healthz_within(&ops);
    assert!(took < Duration::from_secs(3), "healthz took {took:?} with 300 silent sockets open");
    let shed = argus_e2e::sample(
        &argus_e2e::scrape(&metrics),
        "argus_http_connections_shed_total{listener=\"api\",outcome=\"shed\"}",
    );
    assert!(shed > 0.0, "the quietest silent connections were shed to make room");
    assert!(closed(&silent) > 0, "shed connections are closed");
    assert!(!ops.log().contains("Too many open files"), "{}", ops.log());
    // And every one of them is gone 10 s after its accept.
    assert!(argus_e2e::wait_until(Duration::from_secs(25), || closed(&silent) == silent.len()));
}

/// The metrics listener had no deadlines and no cap: 260 idle sockets on it stopped the API.
#[test]
fn the_metrics_listener_has_the_fronts_deadlines_and_a_cap() {
    let mut ops = Ops::start_on_sled(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    ops.stop();
    ops.nofile = Some(256);
    ops.serve(None);
    let metrics: std::net::SocketAddr = ops.addresses()["metrics"].as_str().unwrap().parse().unwrap();
    let idle = silent_sockets(metrics, 300);
    let took = healthz_within(&ops);
    assert!(took < Duration::from_secs(3), "the API answered in {took:?} with 300 idle metrics sockets");
    // A scrape still gets through: the quietest idle socket makes room for it.
    let text = argus_e2e::scrape(&metrics.to_string());
    assert!(text.contains("argus_http_connections_shed_total{listener=\"metrics\""), "{text}");
    assert!(!ops.log().contains("Too many open files"), "{}", ops.log());
    // Idle sockets are closed by the head deadline, not kept for ever.
    let started = Instant::now();
    assert!(
        argus_e2e::wait_until(Duration::from_secs(25), || closed(&idle) == idle.len()),
        "{} of {} idle metrics sockets closed after {:?}",
        closed(&idle),
        idle.len(),
        started.elapsed()
    );
}

/// SPEC §12 "Bodies": a declared Content-Length over 2 MiB is answered 413 from the head.
#[test]
fn a_body_declared_over_the_limit_is_refused_from_the_head() {
    let ops = Ops::start(&[]);
    let mut tls = connect(&ops);
    let head = format!(
        "POST /admin/tenants HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        3 * 1024 * 1024
    );
    tls.write_all(head.as_bytes()).unwrap();
    // Not a byte of the body is sent: the answer must come anyway.
    tls.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 12];
    tls.read_exact(&mut answer).expect("answered before any body byte");
    assert_eq!(&answer, b"HTTP/1.1 413");
    let rest = read_until_closed(&mut tls);
    assert!(rest.contains("too_large"), "{rest}");
    // At the limit, the body is read and the request handled as usual (here: the gate).
    let mut tls = connect(&ops);
    let body = "x".repeat(1024);
    let request = format!(
        "POST /admin/tenants HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).unwrap();
    let answer = read_until_closed(&mut tls);
    assert!(!answer.starts_with("HTTP/1.1 413"), "{answer}");
}
