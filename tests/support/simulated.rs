//! Simulated agents: the agent library's own connection code (`argus_agent::link`), many to a
//! process. One reconnect loop, shared by `argus-bench fleet`, `argus-bench cluster` and the
//! reconnect tests: connect, and while the link is up let the caller watch it; when it drops,
//! come back like the real agent — at the server's turn after a `Busy`, with the agent's
//! jittered backoff after a failure, never after a refusal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argus_fsm::handshake::{Hello, Intent};
use ed25519_dalek::SigningKey;

/// One simulated agent.
pub struct SimulatedAgent {
    pub agent_id: String,
    pub key: SigningKey,
    /// The endpoint it dials from (several agents may share one).
    pub endpoint: quinn::Endpoint,
    /// Its TLS client configuration: its own ticket store, as a real agent's.
    pub config: quinn::ClientConfig,
    /// A seed for its jitter.
    pub seed: u64,
}

/// What the caller wants once a link it watched has closed.
pub enum AfterLink {
    /// Connect again (`lost`: the server that dropped it, to try another first).
    Reconnect,
    /// Stop (e.g. the agent was revoked on purpose).
    Stop,
}

/// How a loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The caller said so.
    Stopped,
    /// The server refused the agent (its code).
    Refused(String),
    /// `attempts` connections were made without a stop or a refusal.
    OutOfAttempts,
}

/// What the loop reports as it goes (optional counters).
#[derive(Clone, Default)]
pub struct Counters {
    /// Links currently up.
    pub connected: Arc<AtomicUsize>,
    /// `Busy` turns received.
    pub turned: Arc<AtomicUsize>,
}

impl SimulatedAgent {
    /// A simulated agent of tenant `T1` with its own ticket store.
    pub fn new(agent_id: String, key: SigningKey, endpoint: quinn::Endpoint, ca_pem: &[u8], seed: u64) -> Self {
        let config = argus_transport_quic::client_config(ca_pem).expect("client config");
        SimulatedAgent { agent_id, key, endpoint, config, seed }
    }

    fn hello(&self) -> Hello {
        Hello { agent_id: self.agent_id.clone(), tenant: "T1".into(), intent: Intent::Authenticate }
    }

    /// Connects and reconnects, at most `attempts` times. `server(lost)` picks where to dial
    /// (`lost`: the server whose link just closed, if any); `permits`, when given, bounds
    /// handshakes this process runs at once; `linked(connection, server)` watches each link
    /// and says what to do when it has closed.
    pub async fn run<S, L, F>(
        &self,
        attempts: usize,
        permits: Option<&tokio::sync::Semaphore>,
        counters: &Counters,
        mut server: S,
        mut linked: L,
    ) -> Ended
    where
        S: FnMut(Option<SocketAddr>) -> SocketAddr,
        L: FnMut(quinn::Connection, SocketAddr) -> F,
        F: Future<Output = AfterLink>,
    {
        let (mut failures, mut lost) = (0u32, None);
        for attempt in 0..attempts {
            let random = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ attempt as u64;
            let addr = server(lost.take());
            let permit = match permits {
                Some(permits) => Some(permits.acquire().await.expect("permits stay open")),
                None => None,
            };
            let outcome = argus_agent::link::connect_with(
                &self.endpoint,
                self.config.clone(),
                addr,
                "127.0.0.1",
                self.hello(),
                &self.key,
            )
            .await;
            drop(permit);
            match outcome {
                Ok(Ok((connection, _send, _recv, _))) => {
                    failures = 0;
                    counters.connected.fetch_add(1, Ordering::SeqCst);
                    let next = linked(connection, addr).await;
                    counters.connected.fetch_sub(1, Ordering::SeqCst);
                    match next {
                        AfterLink::Stop => return Ended::Stopped,
                        AfterLink::Reconnect => lost = Some(addr),
                    }
                }
                Ok(Err(argus_agent::link::Turned::Busy(turn))) => {
                    counters.turned.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(argus_agent::link::retry_after(turn, random)).await;
                    continue;
                }
                Ok(Err(argus_agent::link::Turned::Refused(code))) => return Ended::Refused(code.as_str().to_string()),
                Err(_) => failures += 1,
            }
            tokio::time::sleep(argus_agent::link::backoff(failures, random)).await;
        }
        Ended::OutOfAttempts
    }
}
