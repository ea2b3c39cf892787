//! The ARGUS remote-support protocol core.
//!
//! Pure and sans-IO: no sockets, files, clocks or random sources. Every transition takes the
//! current time as an argument and returns the effects the driver must perform. The async
//! crates (`argus-ops`, `argus-agent`, `transport-quic`) are thin drivers around this crate.
//!
//! - [`tenant`]: consent, arming and disarming.
//! - [`enrollment`]: pending → enrolled → revoked, one-time tokens.
//! - [`session`]: activation checks, ends, expiry, command admission.
//! - [`patch`]: the guards of the one write path.
//! - [`handshake`]: agent authentication bound to the TLS session.
//! - [`wire`]: messages and frames; [`signed`]: signed objects; [`allowlist`], [`command`].
//! - [`codes`]: the one table of error codes and HTTP statuses.

#![forbid(unsafe_code)]

pub mod allowlist;
pub mod codes;
pub mod command;
pub mod enrollment;
pub mod handshake;
pub mod id;
pub mod patch;
pub mod session;
pub mod signed;
pub mod tenant;
pub mod time;
pub mod wire;

pub use codes::Code;
pub use time::Timestamp;
