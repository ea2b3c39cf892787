//! A UDP relay on loopback in front of one node's peer listener (QUIC), which a test can tell to
//! drop everything from and to chosen sources: a partition of the peer links between two nodes
//! (each node dials peers from its peer endpoint, so the relay tells the nodes apart by source
//! address). The node announces the relay's address (`--peer-advertise`).

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running relay to one target.
pub struct UdpRelay {
    pub addr: SocketAddr,
    blocked: Arc<Mutex<HashSet<SocketAddr>>>,
    stop: Arc<AtomicBool>,
}

impl UdpRelay {
    /// Listens on 127.0.0.1 (port 0) and relays every source's datagrams to `target` through a
    /// socket of its own (so the target's answers find their way back).
    pub fn start(target: SocketAddr) -> UdpRelay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("relay binds");
        front.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let addr = front.local_addr().unwrap();
        let blocked: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (blocked2, stop2) = (blocked.clone(), stop.clone());
        std::thread::spawn(move || {
            let front = Arc::new(front);
            let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buffer = [0u8; 65_536];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = front.recv_from(&mut buffer) else { continue };
                if blocked2.lock().unwrap().contains(&from) {
                    continue;
                }
                let upstream = upstreams.entry(from).or_insert_with(|| {
                    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").expect("upstream binds"));
                    socket.connect(target).expect("upstream connects");
                    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                    let (socket2, front2, blocked3, stop3) =
                        (socket.clone(), front.clone(), blocked2.clone(), stop2.clone());
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 65_536];
                        while !stop3.load(Ordering::SeqCst) {
                            let Ok(n) = socket2.recv(&mut buffer) else { continue };
                            if !blocked3.lock().unwrap().contains(&from) {
                                let _ = front2.send_to(&buffer[..n], from);
                            }
                        }
                    });
                    socket
                });
                let _ = upstream.send(&buffer[..n]);
            }
        });
        UdpRelay { addr, blocked, stop }
    }

    /// Drops every datagram from and to `source` until [`UdpRelay::heal`].
    pub fn block(&self, source: SocketAddr) {
        self.blocked.lock().unwrap().insert(source);
    }

    /// Relays `source` again.
    pub fn heal(&self, source: SocketAddr) {
        self.blocked.lock().unwrap().remove(&source);
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
