//! The HTTPS front of the operator API: TLS accept, per-connection limits (SPEC §12) and a
//! graceful drain on shutdown. Routes live in [`crate::api`]; this file only moves bytes.
//!
//! Limits, each closing the connection when broken:
//! - the TLS handshake must finish within [`TLS_HANDSHAKE_TIMEOUT`];
//! - a request head must arrive within [`HEADER_READ_TIMEOUT`] of its first byte, and be at
//!   most [`MAX_HEADER_BYTES`] (hyper answers 431 beyond that);
//! - a connection with no traffic for [`IDLE_TIMEOUT`] between requests is closed.
//!
//! hyper's own header timeout starts when the server begins *waiting* for a head, so it would
//! close every idle keep-alive connection after 10 s; the watchdog here starts the 10 s at the
//! head's first byte instead, and keeps idle connections for the full 60 s.

use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// TLS handshakes in flight at once, and how long one may take.
pub const TLS_HANDSHAKES: usize = 256;
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
/// After answering and closing (a 431, say), what the client is still sending is read and
/// discarded for up to this long and this many bytes, so closing with unread input does not
/// reset the connection before the client has read the answer.
pub const LINGER: Duration = Duration::from_secs(2);
pub const LINGER_BYTES: usize = 1024 * 1024;

/// The TCP peer of an HTTPS request (the gate's caller IP before any proxy handling).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `app` on `tcp` over TLS until `shutdown` resolves, then drains.
pub async fn serve(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let mut ready = spawn_tls_accept(tcp, acceptor);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Our watchdog owns the header timeout (see the module docs).
    http.max_header_size(MAX_HEADER_BYTES).header_read_timeout(None);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = ready.recv() => match accepted {
                Some(accepted) => accepted,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
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
                        tracing::debug!(%error, %peer, "HTTPS connection ended with an error");
                    }
                }
                why = activity.watchdog() => tracing::debug!(%peer, why, "HTTPS connection closed"),
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the drain timeout; closing them");
    }
}

/// Accepts TCP and runs TLS handshakes in the background (bounded, with a timeout), so one
/// slow client cannot stall the accept loop.
fn spawn_tls_accept(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
) -> tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)> {
    let (tx, ready) = tokio::sync::mpsc::channel(TLS_HANDSHAKES);
    let permits = Arc::new(tokio::sync::Semaphore::new(TLS_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (stream, peer) = match tcp.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(Ok(tls)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    let _ = tx.send((tls, peer)).await;
                }
                drop(permit);
            });
        }
    });
    ready
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
    fn new() -> Activity {
        Activity { start: Instant::now(), last_io: 0.into(), head_since: (-1).into(), in_service: 0.into() }
    }

    fn now(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
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
        assert_eq!(activity.head_since.load(Ordering::Relaxed), -1, "idle: no head timer");
        activity.read();
        assert!(activity.head_since.load(Ordering::Relaxed) >= 0, "the first byte starts the head timer");
        let guard = activity.begin_request();
        assert_eq!(activity.head_since.load(Ordering::Relaxed), -1);
        activity.read();
        assert_eq!(activity.head_since.load(Ordering::Relaxed), -1, "body bytes are not a head");
        drop(guard);
        assert_eq!(activity.in_service.load(Ordering::Relaxed), 0);
        activity.read();
        assert!(activity.head_since.load(Ordering::Relaxed) >= 0, "the next request's head is timed");
    }
}
