//! The two QUIC listeners, drivers over the core: [`agents`] accepts agents' links (handshake,
//! enrollment, what they report), [`peers`] accepts other nodes' peer links and runs what they
//! relay through this node's [`crate::reach::Reach`].

pub mod agents;
pub mod peers;
