//! The resolver: takes orders its liquidity policy allows, keeps its own copy of each swap's
//! event log in Postgres, and carries out what the core's state machine makes due (lock dst,
//! claim src, claim dst for the maker, refunds) through a signer policy and a persisted outbox.
//!
//! This crate owns the resolver's schema, policies and executors. It never decides what a swap
//! should do next (`crosslock-core` does, through [`crosslock_core::swap::apply`]), never signs
//! without the signer policy and the wallet lease's fencing token, and never broadcasts a
//! transaction that is not committed to its outbox first.
//!
//! Modules: [`config`] (layered settings), [`stored`] (the on-disk event format), [`db`]
//! (schema, outboxes, lease), [`policy`] (orders and signatures, pure), [`executor`] (actions
//! to transactions), [`orders`] (offers answered per policy), [`relayer`] (the gRPC client
//! over mTLS), [`follow`] (both chains, for our own swaps), [`intake`] (relayer stream, chains
//! and clock turned into events), [`metrics`] (Prometheus), [`service`] (the run loop).

#[cfg(test)]
mod fixtures;

pub mod config;
pub mod db;
pub mod executor;
pub mod follow;
pub mod intake;
pub mod metrics;
pub mod orders;
pub mod policy;
pub mod relayer;
pub mod service;
pub mod stored;

pub use service::{Resolver, healthcheck, run};
