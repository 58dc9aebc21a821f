//! The adapter against a real anvil (the pinned binary from node_modules): escrow calls, the
//! watcher under reorgs and restarts, and the sender across a crash.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[path = "anvil/harness.rs"]
mod harness;

#[path = "anvil/escrow_calls.rs"]
mod escrow_calls;
#[path = "anvil/sender.rs"]
mod sender;
#[path = "anvil/watcher.rs"]
mod watcher;
