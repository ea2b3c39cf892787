//! `argus-ops-server` (library `argus_ops`): the operator HTTPS API, the agent QUIC listener,
//! the store and the audit trail. The `argus-ops` binary (`crates/ops-bin`) is a thin command
//! line over it, plus the quickstart demo, which alone links the agent library.
//! A thin driver around `argus_fsm`: handlers gather facts, ask a machine, commit what it
//! decided together with its audit record, then perform the effects.
//!
//! The tree, imports flowing downwards:
//! - [`bootstrap`]: `init` (data dir, CA, bootstrap PAT), `serve` (wires everything), TLS.
//! - [`http`]: the HTTPS front, the router and one file per group of routes; [`gate`], the
//!   pure operator gate it runs first.
//! - [`link`]: the agent QUIC listener, handshake, enrollment and what agents report.
//! - [`lifecycle`]: session ends, expiry and their effects (no web types).
//! - [`state`]: the shared registry (this node's view), staged on the one writer ([`store::writer`]).
//! - [`cluster`]: node identity, heartbeats and agent presence in a shared store; [`peer`],
//!   the links between nodes that carry what needs another node's agent link.
//! - [`store`]: the storage trait, the sled backend and the audit chain.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod checkpoints;
pub mod cluster;
pub mod config;
pub mod decide;
pub mod fault;
pub mod gate;
pub mod http;
pub mod lifecycle;
pub mod link;
pub mod listen;
pub mod membership;
pub mod metrics;
pub mod peer;
pub mod reach;
pub mod secrets;
pub mod state;
pub mod store;
pub mod time_format;
pub mod wake;
