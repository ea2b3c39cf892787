//! The HTTPS front of the operator API: TLS accept, per-connection limits (SPEC §12) and a
//! graceful drain on shutdown. Routes live in [`crate::api`]; this file only moves bytes.
//!
//! Limits, each closing the connection when broken:
//! - the TLS handshake must finish within [`TLS_HANDSHAKE_TIMEOUT`] of the TCP accept;
//! - the first request head must be complete within [`HEADER_READ_TIMEOUT`] of the accept (a
//!   connection that sends nothing is closed after 10 s), a later one within 10 s of its first
//!   byte; a head is at most [`MAX_HEADER_BYTES`] (hyper answers 431 beyond that);
//! - a connection with no traffic for [`IDLE_TIMEOUT`] between requests is closed;
//! - a listener holds at most its cap of open connections ([`Connections`]): at the cap, the
//!   connection that has been quiet longest and is not being served is shed to make room, so
//!   a flood of silent or idle sockets never makes accept fail for lack of file descriptors.
//!
//! hyper's own header timeout starts when the server begins *waiting* for a head, so it would
//! close every idle keep-alive connection after 10 s; the watchdog here starts the 10 s at the
//! head's first byte instead, and keeps idle connections for the full 60 s.
//!
//! The same front serves the plain-HTTP metrics listener, without TLS.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// How long a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head must be complete this long after its first byte.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// A keep-alive connection with no traffic for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// While a request is being served, silence is allowed this long (a command waits up to
/// 30 s for its agent); beyond it the connection is presumed dead.
pub const IN_SERVICE_SILENCE: Duration = Duration::from_secs(300);
/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// After answering and closing (a 431, or a 413 from a declared length), what the client is
/// still sending is read and discarded for up to this long and this many bytes, so closing with
/// unread input does not reset the connection before the client has read the answer. As much
/// as the body path used to drain before answering `too_large`.
pub const LINGER: Duration = Duration::from_secs(2);
pub const LINGER_BYTES: usize = DRAIN_LIMIT;
/// How much of an oversized body is read and discarded (before answering `too_large`, or after
/// answering it from the head): the client gets the answer instead of a reset while it is
/// still sending. Beyond this the connection is simply closed.
pub const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// The TCP peer of an HTTPS request (the gate's caller IP before any proxy handling).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// A connection ready for HTTP: its stream, peer, activity and place among the open ones.
struct Accepted<S> {
    stream: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
    place: Place,
}

/// Serves `app` on `tcp` over TLS until `shutdown` resolves, then drains. At most `cap`
/// connections are open at once.
pub async fn serve(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    cap: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let connections = Arc::new(Connections::new(cap, "api"));
    let ready = spawn_accept(tcp, connections, move |stream: TcpStream, shed: Arc<Notify>| {
        let acceptor = acceptor.clone();
        async move {
            tokio::select! {
                tls = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => tls.ok()?.ok(),
                () = shed.notified() => None,
            }
        }
    });
    serve_http(ready, app, shutdown).await;
}

/// Serves `app` on `tcp` in plain HTTP (the metrics listener) with the same limits.
pub async fn serve_plain(
    tcp: TcpListener,
    app: Router,
    cap: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let connections = Arc::new(Connections::new(cap, "metrics"));
    let ready = spawn_accept(tcp, connections, |stream: TcpStream, _| async move { Some(stream) });
    serve_http(ready, app, shutdown).await;
}

async fn serve_http<S>(
    mut ready: tokio::sync::mpsc::Receiver<Accepted<S>>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Our watchdog owns the header timeout (see the module docs).
    http.max_header_size(MAX_HEADER_BYTES).header_read_timeout(None);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let Accepted { stream, peer, activity, place } = tokio::select! {
            accepted = ready.recv() => match accepted {
                Some(accepted) => accepted,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let io = TokioIo::new(Watched { inner: stream, activity: activity.clone(), linger: None });
        let service = {
            let app = app.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
                let guard = activity.begin_request();
                let app = app.clone();
                async move {
                    let response = app.oneshot(request).await;
                    drop(guard);
                    response
                }
            })
        };
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "HTTP connection ended with an error");
                    }
                }
                why = activity.watchdog() => tracing::debug!(%peer, why, "HTTP connection closed"),
                () = place.shed.notified() => tracing::debug!(%peer, "HTTP connection shed to make room"),
            }
            drop(place);
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the drain timeout; closing them");
    }
}

/// Accepts TCP and runs each connection's handshake (`handshake`: TLS, or nothing) in the
/// background, so one slow client cannot stall the accept loop. Every accepted connection
/// takes a place among the open ones first: at the cap the quietest idle one is shed, and when
/// every one is being served the new connection is closed at once.
fn spawn_accept<S, F, H>(
    tcp: TcpListener,
    connections: Arc<Connections>,
    handshake: H,
) -> tokio::sync::mpsc::Receiver<Accepted<S>>
where
    S: Send + 'static,
    F: std::future::Future<Output = Option<S>> + Send + 'static,
    H: Fn(TcpStream, Arc<Notify>) -> F + Send + 'static,
{
    let (tx, ready) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            // Never hold more descriptors than the cap (and the one just made room for): wait
            // for a shed connection to be gone before accepting the next.
            connections.room().await;
            let (stream, peer) = match tcp.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: make room and try again shortly.
                    tracing::warn!(%error, "accept failed");
                    connections.shed_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let activity = Arc::new(Activity::new());
            let Some(place) = connections.open(activity.clone()) else {
                tracing::debug!(%peer, "every connection is being served; refused");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handshaking = handshake(stream, place.shed.clone());
            let tx = tx.clone();
            tokio::spawn(async move {
                let deadline = activity.start + TLS_HANDSHAKE_TIMEOUT;
                if let Ok(Some(stream)) = tokio::time::timeout_at(deadline.into(), handshaking).await {
                    let _ = tx.send(Accepted { stream, peer, activity, place }).await;
                }
            });
        }
    });
    ready
}

/// The listener's file-descriptor budget, from the process's limit (`RLIMIT_NOFILE`): what is
/// left after a reserve for the store, the QUIC and peer sockets and log files, three parts
/// to the API and one to the metrics listener. `(api, metrics)`.
pub fn connection_caps(nofile: u64) -> (usize, usize) {
    const RESERVE: u64 = 64;
    const MAX_API: u64 = 16_384;
    const MAX_METRICS: u64 = 64;
    let budget = nofile.saturating_sub(RESERVE).max(8);
    let api = (budget * 3 / 4).clamp(4, MAX_API);
    let metrics = (budget / 4).clamp(2, MAX_METRICS);
    (api as usize, metrics as usize)
}

/// The open connections of one listener, and its cap.
pub struct Connections {
    cap: usize,
    listener: &'static str,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
    /// A place was given back (a shed connection is gone).
    released: Notify,
}

/// One open connection as the cap sees it.
struct Open {
    activity: Arc<Activity>,
    shed: Arc<Notify>,
    shedding: bool,
}

/// A connection's place among the open ones; given back when dropped.
struct Place {
    id: u64,
    shed: Arc<Notify>,
    connections: Arc<Connections>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections.open.lock().expect("connections lock").remove(&self.id);
        self.connections.released.notify_one();
    }
}

/// What the cap knows of one connection when it must choose whom to shed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: u64,
    /// A request is being served on it.
    pub in_service: bool,
    /// Already being shed.
    pub shedding: bool,
    /// When it last read or wrote, as an instant's milliseconds on one clock.
    pub quiet_since: i64,
}

/// The connection to shed to make room: the one quiet longest among those not being served
/// (a silent connection has been quiet since its accept); none when every one is in service.
pub fn victim(candidates: impl IntoIterator<Item = Candidate>) -> Option<u64> {
    candidates.into_iter().filter(|c| !c.in_service && !c.shedding).min_by_key(|c| (c.quiet_since, c.id)).map(|c| c.id)
}

impl Connections {
    pub fn new(cap: usize, listener: &'static str) -> Connections {
        Connections {
            cap: cap.max(1),
            listener,
            next: 0.into(),
            open: Mutex::new(HashMap::new()),
            released: Notify::new(),
        }
    }

    /// Waits while more connections are open than the cap allows (connections being shed
    /// still hold their descriptors until their tasks end, moments later).
    async fn room(&self) {
        while self.open.lock().expect("connections lock").len() > self.cap {
            let _ = tokio::time::timeout(Duration::from_millis(50), self.released.notified()).await;
        }
    }

    /// Takes a place for a new connection, shedding the quietest idle one at the cap; `None`
    /// when the cap is reached and every connection is being served.
    fn open(self: &Arc<Self>, activity: Arc<Activity>) -> Option<Place> {
        let mut open = self.open.lock().expect("connections lock");
        let live = open.values().filter(|o| !o.shedding).count();
        if live >= self.cap && !Self::shed_locked(&mut open, self.listener) {
            crate::metrics::connection_shed(self.listener, "refused");
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let shed = Arc::new(Notify::new());
        open.insert(id, Open { activity, shed: shed.clone(), shedding: false });
        Some(Place { id, shed, connections: self.clone() })
    }

    /// Sheds the quietest idle connection, if there is one.
    fn shed_one(&self) -> bool {
        Self::shed_locked(&mut self.open.lock().expect("connections lock"), self.listener)
    }

    fn shed_locked(open: &mut HashMap<u64, Open>, listener: &'static str) -> bool {
        let candidates = open.iter().map(|(id, o)| Candidate {
            id: *id,
            in_service: o.activity.in_service.load(Ordering::Acquire) > 0,
            shedding: o.shedding,
            quiet_since: o.activity.quiet_since(),
        });
        let Some(id) = victim(candidates) else { return false };
        let chosen = open.get_mut(&id).expect("the victim is open");
        chosen.shedding = true;
        // `notify_one` keeps the permit if the connection is not waiting yet (still in its
        // TLS handshake, or between accept and serve).
        chosen.shed.notify_one();
        crate::metrics::connection_shed(listener, "shed");
        true
    }
}

/// What one connection has been doing, in milliseconds since it was accepted.
struct Activity {
    start: Instant,
    /// Last byte read or written (plaintext).
    last_io: AtomicI64,
    /// When the first byte of a request head arrived; `-1` while no head is being read.
    head_since: AtomicI64,
    /// Requests being served (their heads are complete).
    in_service: AtomicU32,
}

impl Activity {
    /// At accept: the first head is timed from here (SPEC §12: the 10 s start at accept).
    fn new() -> Activity {
        Activity { start: Instant::now(), last_io: 0.into(), head_since: 0.into(), in_service: 0.into() }
    }

    fn now(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }

    /// When it last read or wrote, in milliseconds of a process-wide clock (comparable across
    /// connections).
    fn quiet_since(&self) -> i64 {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let epoch = *EPOCH.get_or_init(Instant::now);
        let start = self.start.saturating_duration_since(epoch).as_millis() as i64;
        start + self.last_io.load(Ordering::Relaxed)
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        // Bytes while no request is in service start a head (a pipelined head counts from
        // when the previous request is done; until then the client cannot be slow).
        if self.in_service.load(Ordering::Acquire) == 0 {
            let _ = self.head_since.compare_exchange(-1, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// The head is complete and the request goes to the router.
    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.in_service.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(-1, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// Resolves (with the reason) when a limit is broken.
    async fn watchdog(&self) -> &'static str {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let now = self.now();
            let head_since = self.head_since.load(Ordering::Acquire);
            if head_since >= 0 && now - head_since > HEADER_READ_TIMEOUT.as_millis() as i64 {
                return "request head not received in time";
            }
            let silent = now - self.last_io.load(Ordering::Relaxed);
            let allowed = if self.in_service.load(Ordering::Acquire) == 0 { IDLE_TIMEOUT } else { IN_SERVICE_SILENCE };
            if silent > allowed.as_millis() as i64 {
                return "idle";
            }
        }
    }
}

/// Marks a request in service until dropped.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.in_service.fetch_sub(1, Ordering::AcqRel);
        self.0.wrote();
    }
}

/// A stream that reports its traffic to an [`Activity`] and closes with a linger.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
    linger: Option<Linger>,
}

/// The state of a lingering close.
struct Linger {
    shut: bool,
    deadline: Pin<Box<tokio::time::Sleep>>,
    drained: usize,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let linger = this.linger.get_or_insert_with(|| Linger {
            shut: false,
            deadline: Box::pin(tokio::time::sleep(LINGER)),
            drained: 0,
        });
        if !linger.shut {
            std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            linger.shut = true;
        }
        let mut scratch = [0u8; 8192];
        loop {
            if linger.drained > LINGER_BYTES || linger.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => linger.drained += buf.filled().len(),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_timed_from_its_first_byte_and_a_request_in_service_stops_the_clock() {
        let activity = Arc::new(Activity::new());
        assert_eq!(activity.head_since.load(Ordering::Relaxed), 0, "the first head is timed from the accept");
        activity.read();
        assert_eq!(activity.head_since.load(Ordering::Relaxed), 0, "its first byte does not restart the clock");
        let guard = activity.begin_request();
        assert_eq!(activity.head_since.load(Ordering::Relaxed), -1);
        activity.read();
        assert_eq!(activity.head_since.load(Ordering::Relaxed), -1, "body bytes are not a head");
        drop(guard);
        assert_eq!(activity.in_service.load(Ordering::Relaxed), 0);
        assert_eq!(activity.head_since.load(Ordering::Relaxed), -1, "idle between requests: no head timer");
        activity.read();
        assert!(activity.head_since.load(Ordering::Relaxed) >= 0, "the next request's head is timed");
    }

    fn candidate(id: u64, in_service: bool, quiet_since: i64) -> Candidate {
        Candidate { id, in_service, shedding: false, quiet_since }
    }

    #[test]
    fn the_connection_shed_is_the_quietest_one_not_being_served() {
        let open =
            [candidate(1, false, 500), candidate(2, true, 10), candidate(3, false, 100), candidate(4, false, 900)];
        assert_eq!(victim(open), Some(3), "quiet longest, and idle");
        let mut shedding = open;
        shedding[2].shedding = true;
        assert_eq!(victim(shedding), Some(1), "one already being shed is not chosen twice");
        assert_eq!(victim([candidate(1, true, 0), candidate(2, true, 0)]), None, "every one in service: none");
        assert_eq!(victim([]), None);
        assert_eq!(victim([candidate(8, false, 7), candidate(5, false, 7)]), Some(5), "ties: the older connection");
    }

    #[test]
    fn the_caps_fit_the_descriptor_limit() {
        let (api, metrics) = connection_caps(256);
        assert!(api + metrics + 64 <= 256, "{api} + {metrics} leave the reserve");
        assert!(api >= 100 && metrics >= 16, "{api} {metrics}");
        assert_eq!(connection_caps(1 << 20), (16_384, 64), "bounded on a huge limit");
        let (api, metrics) = connection_caps(10);
        assert!(api >= 4 && metrics >= 2, "a tiny limit still serves: {api} {metrics}");
    }

    #[tokio::test]
    async fn at_the_cap_the_quietest_idle_connection_is_told_to_go_and_a_busy_listener_refuses() {
        let connections = Arc::new(Connections::new(2, "api"));
        let first = connections.open(Arc::new(Activity::new())).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let busy = Arc::new(Activity::new());
        let second = connections.open(busy.clone()).unwrap();
        let third = connections.open(Arc::new(Activity::new())).expect("room made");
        // The first (quiet since its accept) was told; the notification waits for it.
        tokio::time::timeout(Duration::from_secs(1), first.shed.notified()).await.expect("the first is shed");
        drop(first);
        // Now both open connections are being served: nothing can be shed, the next is refused.
        let _served = busy.begin_request();
        let third_activity = connections.open.lock().unwrap().get(&third.id).unwrap().activity.clone();
        let _third_busy = third_activity.begin_request();
        assert!(connections.open(Arc::new(Activity::new())).is_none(), "all served: refused");
        drop((second, third));
        assert!(connections.open.lock().unwrap().is_empty(), "places are given back");
    }
}
