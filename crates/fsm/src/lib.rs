//! The ARGUS remote-support protocol core.
//!
//! Pure and sans-IO: no sockets, files, clocks or random sources. Every transition takes the
//! current time as an argument and returns the effects the driver must perform. The async
//! crates (`argus-ops`, `argus-agent`, `transport-quic`) are thin drivers around this crate.
//!
//! - [`tenant`]: consent, arming and disarming.
//! - [`enrollment`]: pending → enrolled → revoked, one-time tokens.
//! - [`activation`]: the checks before a session, in the SPEC's order.
//! - [`session`]: ends, expiry, command admission.
//! - [`agent_sessions`]: the agent's own enforcement, whatever order its streams arrive in.
//! - [`patch`]: the guards of the one write path; [`approval`]: the tenant's approvals (SPEC §13).
//! - [`handshake`]: agent authentication bound to the TLS session.
//! - [`wire`]: messages and frames; [`signed`]: signed objects; [`allowlist`], [`command`].
//! - [`codes`]: the one table of error codes and HTTP statuses.
//! - [`audit`]: the audit record and its chain; [`ocsf`]: the record as an OCSF event.
//! - [`machine`]: the one contract (`handle(event, now)` → effects or a refusal) they share.

#![forbid(unsafe_code)]

pub mod access;
pub mod activation;
pub mod agent_sessions;
pub mod allowlist;
pub mod approval;
pub mod audit;
pub mod codes;
pub mod command;
pub mod enrollment;
pub mod handshake;
pub mod id;
pub mod machine;
pub mod ocsf;
pub mod patch;
pub mod session;
pub mod signed;
pub mod tenant;
pub mod time;
pub mod wire;

pub use codes::Code;
pub use time::Timestamp;
