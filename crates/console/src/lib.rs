//! `argus-console`: the Operations Console (SPEC §3.3, §6). A small server with the page
//! embedded in the binary, and a proxy that forwards only three named actions — `activate`,
//! `deactivate`, `status` — to fixed ops routes, after checking the same-origin proof and
//! verifying the Cloudflare Access assertion itself. The ops token is injected here and never
//! reaches the browser; the operator's PAT comes from the page and is forwarded, never logged.

#![forbid(unsafe_code)]

pub mod actions;
#[cfg(feature = "server")]
pub mod server;
pub mod web;

#[cfg(feature = "server")]
pub use server::{router, serve, Console, ConsoleConfig};
