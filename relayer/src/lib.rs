//! The relayer: the coordinator makers, resolvers and operators talk to. It keeps every swap's
//! state machine (from `crosslock-core`) durable in Postgres, caches and fans out through Redis,
//! feeds chain observations in, and serves the public, resolver and admin gRPC APIs.
//!
//! It holds no signing key and never acts before the state that justifies an action is
//! committed: `store::Store::apply` commits the event, the projection, a newly known secret and
//! the outbox rows in one transaction, and everything else happens after it returns.

pub mod api;
pub mod auth;
pub mod cache;
pub mod chains;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod ladder;
pub mod metrics;
pub mod quote;
pub mod server;
pub mod store;
pub mod stored;
pub mod view;
pub mod watcher;

pub use server::{Listeners, RunError, run, run_with_sources};

/// 16 random bytes from the operating system (swap and quote ids).
pub fn random_id() -> Result<[u8; 16], getrandom::Error> {
    let mut b = [0_u8; 16];
    getrandom::fill(&mut b)?;
    Ok(b)
}
