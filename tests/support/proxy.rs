//! A TCP proxy on loopback that a test can cut and restore: a network partition between one
//! process and a server, without touching the server (used to take one cluster node's database
//! away while the other nodes keep theirs). For PostgreSQL it can also cut one connection at
//! its next `COMMIT`: before the server sees it, or after the server answered it and before
//! the client hears the answer (a commit whose outcome the client cannot know).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running proxy to one target.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    commit: Arc<CommitTrap>,
}

/// Where the next `COMMIT` is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitCut {
    /// The server never receives it: the transaction rolls back.
    BeforeTheServer,
    /// The server commits and answers; the client never hears it.
    BeforeTheAnswer,
    /// As `BeforeTheAnswer`, and the proxy then refuses new connections until
    /// [`Proxy::restore`] (the client cannot find out at once).
    BeforeTheAnswerThenPartition,
}

/// The armed cut (0 none, 1 before the server, 2 before the answer, 3 before the answer and
/// partitioned after) and how often it fired.
#[derive(Default)]
struct CommitTrap {
    armed: std::sync::atomic::AtomicU8,
    fired: std::sync::atomic::AtomicUsize,
    partitioned: AtomicBool,
}

/// A simple-protocol `Query` message holding exactly `COMMIT` (what tokio-postgres sends for
/// `batch_execute("COMMIT")`).
const COMMIT_MESSAGE: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";

impl Proxy {
    /// Listens on 127.0.0.1 (port 0) and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().unwrap();
        let (cut, open, stop) =
            (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let commit = Arc::new(CommitTrap::default());
        let (cut2, open2, stop2, commit2) = (cut.clone(), open.clone(), stop.clone(), commit.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if cut2.load(Ordering::SeqCst) || commit2.partitioned.load(Ordering::SeqCst) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        let Ok(server) = TcpStream::connect(target) else { continue };
                        let _ = client.set_nonblocking(false);
                        let mut held = open2.lock().unwrap();
                        held.push(client.try_clone().unwrap());
                        held.push(server.try_clone().unwrap());
                        let swallow = Arc::new(AtomicBool::new(false));
                        let closing = (client.try_clone().unwrap(), server.try_clone().unwrap());
                        let to_server = Direction::ToServer(commit2.clone(), swallow.clone(), closing);
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), to_server);
                        pipe(server, client, Direction::ToClient(swallow));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { addr, cut, open, stop, commit }
    }

    /// Cuts the connection that sends the next `COMMIT`, at `at`.
    pub fn cut_at_next_commit(&self, at: CommitCut) {
        let code = match at {
            CommitCut::BeforeTheServer => 1,
            CommitCut::BeforeTheAnswer => 2,
            CommitCut::BeforeTheAnswerThenPartition => 3,
        };
        self.commit.armed.store(code, Ordering::SeqCst);
    }

    /// How many commits were cut so far.
    pub fn commits_cut(&self) -> usize {
        self.commit.fired.load(Ordering::SeqCst)
    }

    /// Drops every connection through the proxy and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.commit.partitioned.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

/// Which way a pipe copies, with what it watches for.
enum Direction {
    /// Client to server: watches for `COMMIT` when a cut is armed (closing both streams).
    ToServer(Arc<CommitTrap>, Arc<AtomicBool>, (TcpStream, TcpStream)),
    /// Server to client: swallows the next answer (closing instead) when told.
    ToClient(Arc<AtomicBool>),
}

/// Copies `from` into `to` on a thread until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream, direction: Direction) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match &direction {
                Direction::ToServer(trap, swallow, (client, server))
                    if buffer[..n].windows(COMMIT_MESSAGE.len()).any(|w| w == COMMIT_MESSAGE) =>
                {
                    match trap.armed.swap(0, Ordering::SeqCst) {
                        1 => {
                            trap.fired.fetch_add(1, Ordering::SeqCst);
                            let _ = client.shutdown(Shutdown::Both);
                            let _ = server.shutdown(Shutdown::Both);
                            break;
                        }
                        code @ (2 | 3) => {
                            trap.partitioned.store(code == 3, Ordering::SeqCst);
                            trap.fired.fetch_add(1, Ordering::SeqCst);
                            swallow.store(true, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
                Direction::ToClient(swallow) if swallow.load(Ordering::SeqCst) => break,
                _ => {}
            }
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
