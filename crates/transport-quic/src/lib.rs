//! QUIC transport for agent links: gains its content with the server/agent issue.

#![forbid(unsafe_code)]

pub use argus_fsm::wire::PROTOCOL_VERSION;
