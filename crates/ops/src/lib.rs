//! `argus-ops`: the operator HTTPS API, the agent QUIC listener, the store and the audit trail.
//! A thin driver around `argus_fsm`: handlers gather facts, ask a machine, commit what it
//! decided together with its audit record, then perform the effects.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod config;
pub mod error;
pub mod gate;
pub mod https;
pub mod init;
pub mod link;
pub mod quickstart;
pub mod refusals;
pub mod secrets;
pub mod serve;
pub mod sessions;
pub mod state;
pub mod store;
pub mod time_format;
pub mod tls;
