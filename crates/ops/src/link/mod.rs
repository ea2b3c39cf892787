//! The agent link's bounds, pure: how many handshakes may be in progress and from where
//! ([`intake`]), who may register now and who comes back later ([`admission`]), and how many
//! refusals of unauthenticated peers are audited one by one ([`refusals`]). The listeners
//! (`crate::listen`) drive them.

pub mod admission;
pub mod intake;
pub mod refusals;
