//! The Ethereum leg of a swap: the escrow's bindings and typed calls, a log watcher that survives
//! reorgs and restarts, and a transaction sender that persists before it sends.
//!
//! This crate talks to an Ethereum node and nothing else. It owns no database: the watcher's
//! cursor and the sender's outbox are written through the caller's [`CursorStore`] and
//! [`TxStore`]. It never decides what a swap should do next; that is `crosslock-core`'s job.
//! Its API is in alloy primitives; [`convert`] maps them to and from the core's newtypes.

pub mod claim;
pub mod contract;
pub mod convert;
pub mod events;
pub mod inputs;
pub mod lock;
pub mod refund;
pub mod sender;
pub mod signer;
pub mod store;
pub mod swap;
pub mod watcher;

pub use contract::{CodeHashError, Escrow, TestToken, check_code_hash, expected_code_hash};
pub use events::{EscrowEvent, EscrowLog};
pub use sender::{OutboxEntry, SendError, SenderConfig, TxIntent, TxSender, TxState};
pub use signer::{EthSigner, LocalKey, SignerConfig, SignerError};
pub use store::{CursorStore, MemoryCursorStore, MemoryTxStore, StoreError, TxStore};
pub use swap::SwapParams;
pub use watcher::{Cursor, Finality, WatchBatch, WatchError, WatchEvent, Watcher, WatcherConfig};
