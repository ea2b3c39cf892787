//! Bringing a node up: `init` creates a data dir, `serve` wires the store, the registry, the
//! HTTPS API, the agent listener and the background drivers together, `tls` makes certificates.

pub mod checkpoint;
pub mod data_dir;
pub mod init;
pub mod migrate;
pub mod seal;
pub mod serve;
pub mod tls;
