//! The persistence the adapter needs, as two small traits the caller implements, plus in-memory
//! implementations for tests and tools.
//!
//! The adapter never chooses a database: the relayer and resolver back these traits with Postgres.
//! An implementation must make a `save` durable before it returns, because the sender broadcasts
//! right after it and the watcher's caller acts right after a commit.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use alloy::primitives::Address;

use crate::sender::OutboxEntry;
use crate::watcher::Cursor;

/// A failure of the caller's store, passed through unchanged.
#[derive(Debug, thiserror::Error)]
#[error("store failed: {0}")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps any error from a store implementation.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError(Box::new(error))
    }
}

/// The sender's outbox: one entry per (sender address, nonce).
pub trait TxStore: Send + Sync {
    /// Every entry of `from` that is not final yet, in any order.
    fn load(
        &self,
        from: Address,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;
    /// Inserts or replaces the entry for `(entry.from, entry.nonce)`, durably.
    fn save(&self, entry: &OutboxEntry) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where a watcher keeps its cursor.
pub trait CursorStore: Send + Sync {
    /// The last committed cursor, if any.
    fn load(&self) -> impl Future<Output = Result<Option<Cursor>, StoreError>> + Send;
    /// Replaces the cursor, durably.
    fn save(&self, cursor: &Cursor) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An outbox in memory. Clones share their contents, so a test can hand "the same database" to a
/// second sender after dropping the first.
#[derive(Debug, Clone, Default)]
pub struct MemoryTxStore {
    entries: Arc<Mutex<BTreeMap<(Address, u64), OutboxEntry>>>,
}

impl MemoryTxStore {
    /// Every entry ever saved, final ones included, ordered by sender and nonce.
    pub fn all(&self) -> Vec<OutboxEntry> {
        lock(&self.entries).values().cloned().collect()
    }
}

impl TxStore for MemoryTxStore {
    async fn load(&self, from: Address) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(lock(&self.entries)
            .values()
            .filter(|e| e.from == from && !e.state.is_final())
            .cloned()
            .collect())
    }

    async fn save(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        lock(&self.entries).insert((entry.from, entry.nonce), entry.clone());
        Ok(())
    }
}

/// A cursor in memory; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryCursorStore {
    cursor: Arc<Mutex<Option<Cursor>>>,
}

impl MemoryCursorStore {
    /// The cursor last saved.
    pub fn current(&self) -> Option<Cursor> {
        lock(&self.cursor).clone()
    }
}

impl CursorStore for MemoryCursorStore {
    async fn load(&self) -> Result<Option<Cursor>, StoreError> {
        Ok(lock(&self.cursor).clone())
    }

    async fn save(&self, cursor: &Cursor) -> Result<(), StoreError> {
        *lock(&self.cursor) = Some(cursor.clone());
        Ok(())
    }
}

// A poisoned lock only means another test thread panicked mid-insert; the map is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
