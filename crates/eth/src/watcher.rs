//! The escrow log watcher: follows the chain from a persisted cursor, reports each escrow event
//! when seen, again when it reaches the configured finality, and as removed when a reorg takes it
//! away.
//!
//! It polls (`eth_getLogs` over block ranges) rather than subscribing, so a restart or an outage of
//! any length is caught up the same way. Reorgs are found by block hash: the cursor keeps the hash
//! of the last scanned block and of every block that held an escrow log, until they are final.
//! The watcher never acts on what it reports and never saves a cursor on its own: the caller
//! handles a [`WatchBatch`] and then [`Watcher::commit`]s it, so a crash in between replays the
//! batch instead of losing it.

use std::collections::BTreeMap;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::transports::TransportError;
use serde::{Deserialize, Serialize};

use crate::events::{self, EscrowLog};
use crate::store::{CursorStore, StoreError};

/// When an event counts as confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finality {
    /// When its block has `confirmations` blocks on top of it (0: as soon as it is seen).
    Latest {
        /// Blocks required on top of the event's block.
        confirmations: u64,
    },
    /// When its block is at or below the node's `safe` block.
    Safe,
    /// When its block is at or below the node's `finalized` block.
    Finalized,
}

/// How a watcher follows the chain.
#[derive(Debug, Clone)]
pub struct WatcherConfig {
    /// The escrow contract.
    pub escrow: Address,
    /// First block to scan when there is no cursor yet (the escrow's deployment block).
    pub start_block: u64,
    /// When events are reported as confirmed.
    pub finality: Finality,
    /// Most blocks per `eth_getLogs` call (providers cap ranges).
    pub max_range: u64,
    /// How deep below the head to keep history when the node reports no `finalized` block; a
    /// deeper reorg is an error for the operator.
    pub fallback_keep_blocks: u64,
}

impl WatcherConfig {
    /// Defaults: `finalized`, 1000 blocks per call, 256 blocks of history without `finalized`.
    pub fn new(escrow: Address, start_block: u64) -> WatcherConfig {
        WatcherConfig {
            escrow,
            start_block,
            finality: Finality::Finalized,
            max_range: 1000,
            fallback_keep_blocks: 256,
        }
    }
}

/// A reported event that is not final yet, kept so that a reorg can take it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    /// The event as reported.
    pub log: EscrowLog,
    /// Whether [`WatchEvent::Confirmed`] was reported for it.
    pub confirmed: bool,
}

/// The persisted progress of a watcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The first block not scanned yet.
    pub next_block: u64,
    /// Hashes of scanned blocks that matter for reorg detection: the last one scanned, every one
    /// that held an escrow log, and one anchor at or below finality.
    pub checkpoints: BTreeMap<u64, B256>,
    /// Events reported and not yet final.
    pub unfinal: Vec<Reported>,
}

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchEvent {
    /// A new event in the current chain (not confirmed yet, unless the policy is `latest`+0).
    Seen(EscrowLog),
    /// A reported event reached the configured finality.
    Confirmed(EscrowLog),
    /// A reported event is no longer in the chain (reorg); whatever it caused must move back.
    Removed(EscrowLog),
}

/// The outcome of one poll: events to handle, then [`Watcher::commit`].
#[derive(Debug, Clone)]
pub struct WatchBatch {
    /// Events in chain order; removals come before anything new.
    pub events: Vec<WatchEvent>,
    /// The cursor to persist once the events are handled.
    pub cursor: Cursor,
    /// The head the poll saw; `cursor.next_block > head` means caught up.
    pub head: u64,
}

impl WatchBatch {
    /// Whether the scan has reached the head it saw.
    pub fn caught_up(&self) -> bool {
        self.cursor.next_block > self.head
    }
}

/// Why a poll failed. Nothing was reported and the cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The node did not answer.
    #[error("rpc failed: {0}")]
    Rpc(#[from] TransportError),
    /// The cursor store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain no longer contains any block the cursor remembers, not even the final anchor:
    /// a reorg deeper than finality, or a different chain. An operator must look.
    #[error("reorg deeper than the kept history (anchor at block {anchor})")]
    ReorgTooDeep {
        /// The oldest block the cursor remembered.
        anchor: u64,
    },
    /// The escrow emitted a log this code cannot read: a different contract at that address.
    #[error("undecodable escrow log: {0}")]
    Decode(#[from] events::DecodeError),
}

/// Follows one escrow's logs. See the module docs.
#[derive(Debug)]
pub struct Watcher<P, S> {
    provider: P,
    store: S,
    config: WatcherConfig,
    cursor: Cursor,
}

impl<P: Provider, S: CursorStore> Watcher<P, S> {
    /// Resumes from the stored cursor, or starts at `config.start_block`.
    pub async fn open(
        provider: P,
        store: S,
        config: WatcherConfig,
    ) -> Result<Watcher<P, S>, WatchError> {
        let cursor = store.load().await?.unwrap_or(Cursor {
            next_block: config.start_block,
            checkpoints: BTreeMap::new(),
            unfinal: Vec::new(),
        });
        Ok(Watcher {
            provider,
            store,
            config,
            cursor,
        })
    }

    /// The committed cursor.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Persists the batch's cursor; from now on its events will not be reported again.
    pub async fn commit(&mut self, batch: WatchBatch) -> Result<(), WatchError> {
        self.store.save(&batch.cursor).await?;
        self.cursor = batch.cursor;
        Ok(())
    }

    /// Looks at the chain once: undoes what a reorg removed, scans up to `max_range` new blocks,
    /// and reports confirmations. Does not commit.
    pub async fn poll(&self) -> Result<WatchBatch, WatchError> {
        let mut cursor = self.cursor.clone();
        let mut events = Vec::new();
        let head = self.provider.get_block_number().await?;

        self.roll_back_reorg(&mut cursor, head, &mut events).await?;
        self.scan(&mut cursor, head, &mut events).await?;
        let confirmed_to = self.confirmed_height(head).await?;
        for reported in cursor.unfinal.iter_mut() {
            if !reported.confirmed && reported.log.block_number <= confirmed_to {
                reported.confirmed = true;
                events.push(WatchEvent::Confirmed(reported.log.clone()));
            }
        }
        let finalized = match self.tag_height(BlockNumberOrTag::Finalized).await? {
            Some(n) => n,
            None => head.saturating_sub(self.config.fallback_keep_blocks),
        };
        prune(&mut cursor, finalized);
        Ok(WatchBatch {
            events,
            cursor,
            head,
        })
    }

    async fn roll_back_reorg(
        &self,
        cursor: &mut Cursor,
        head: u64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), WatchError> {
        let Some((&tip, &tip_hash)) = cursor.checkpoints.last_key_value() else {
            return Ok(());
        };
        if tip <= head && self.block_hash(tip).await? == Some(tip_hash) {
            return Ok(());
        }
        // A block's hash commits to all its ancestors, so the newest checkpoint that still
        // matches marks where the chains part.
        let mut common = None;
        for (&height, &hash) in cursor.checkpoints.iter().rev().skip(1) {
            if height <= head && self.block_hash(height).await? == Some(hash) {
                common = Some(height);
                break;
            }
        }
        let Some(common) = common else {
            let anchor = cursor.checkpoints.keys().next().copied().unwrap_or(tip);
            return Err(WatchError::ReorgTooDeep { anchor });
        };
        let mut removed: Vec<Reported> = cursor
            .unfinal
            .iter()
            .filter(|r| r.log.block_number > common)
            .cloned()
            .collect();
        removed.sort_by_key(|r| std::cmp::Reverse((r.log.block_number, r.log.log_index)));
        tracing::warn!(
            from = tip,
            to = common,
            removed = removed.len(),
            "chain reorganised; rolling back"
        );
        events.extend(removed.into_iter().map(|r| WatchEvent::Removed(r.log)));
        cursor.unfinal.retain(|r| r.log.block_number <= common);
        cursor.checkpoints.retain(|&h, _| h <= common);
        cursor.next_block = common + 1;
        Ok(())
    }

    async fn scan(
        &self,
        cursor: &mut Cursor,
        head: u64,
        events: &mut Vec<WatchEvent>,
    ) -> Result<(), WatchError> {
        let from = cursor.next_block;
        if from > head {
            return Ok(());
        }
        let mut range = self.config.max_range.max(1);
        let (to, before, mut logs) = loop {
            let to = head.min(from.saturating_add(range - 1));
            // The end block's hash before and after the query brackets it: if it is unchanged,
            // every log returned belongs to the chain that ends in that block.
            let Some(before) = self.block_hash(to).await? else {
                return Ok(());
            };
            let filter = Filter::new()
                .address(self.config.escrow)
                .from_block(from)
                .to_block(to);
            match self.provider.get_logs(&filter).await {
                Ok(logs) => break (to, before, logs),
                // Providers cap a query by blocks or by results; halve the range and ask again.
                Err(e) if to > from && is_too_large(&e) => {
                    tracing::debug!(from, to, error = %e, "getLogs range too large; halving");
                    range = (to - from).div_ceil(2).max(1);
                }
                Err(e) => return Err(e.into()),
            }
        };
        if self.block_hash(to).await? != Some(before) {
            tracing::debug!(from, to, "chain moved during the scan; retrying next poll");
            return Ok(());
        }
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        for log in logs {
            let decoded = events::decode(&log)?;
            if log.removed {
                // Only subscriptions deliver removed logs, but a node may; treat it as a rollback.
                let before_len = cursor.unfinal.len();
                cursor.unfinal.retain(|r| {
                    (r.log.tx_hash, r.log.log_index) != (decoded.tx_hash, decoded.log_index)
                });
                if cursor.unfinal.len() != before_len {
                    events.push(WatchEvent::Removed(decoded));
                }
                continue;
            }
            cursor
                .checkpoints
                .insert(decoded.block_number, decoded.block_hash);
            cursor.unfinal.push(Reported {
                log: decoded.clone(),
                confirmed: false,
            });
            events.push(WatchEvent::Seen(decoded));
        }
        cursor.checkpoints.insert(to, before);
        cursor.next_block = to + 1;
        Ok(())
    }

    async fn confirmed_height(&self, head: u64) -> Result<u64, WatchError> {
        Ok(match self.config.finality {
            // Block 0 holds no logs, so "nothing confirmed yet" can be expressed as height 0.
            Finality::Latest { confirmations } => head.saturating_sub(confirmations),
            Finality::Safe => self.tag_height(BlockNumberOrTag::Safe).await?.unwrap_or(0),
            Finality::Finalized => self
                .tag_height(BlockNumberOrTag::Finalized)
                .await?
                .unwrap_or(0),
        })
    }

    async fn tag_height(&self, tag: BlockNumberOrTag) -> Result<Option<u64>, WatchError> {
        Ok(self
            .provider
            .get_block_by_number(tag)
            .await?
            .map(|b| b.header.number))
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, WatchError> {
        Ok(self
            .provider
            .get_block_by_number(number.into())
            .await?
            .map(|b| b.header.hash))
    }
}

fn is_too_large(e: &TransportError) -> bool {
    let Some(payload) = e.as_error_resp() else {
        return false;
    };
    let message = payload.message.to_lowercase();
    // Wordings of geth, Alchemy, Infura, QuickNode and others for an oversized query.
    [
        "range",
        "more than",
        "too many",
        "limit exceeded",
        "too large",
        "response size",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Forgets what can no longer change: confirmed events and checkpoints in final blocks, keeping
/// the newest final checkpoint as the anchor a reorg check can fall back to.
fn prune(cursor: &mut Cursor, finalized: u64) {
    cursor
        .unfinal
        .retain(|r| !r.confirmed || r.log.block_number > finalized);
    let anchor = cursor
        .checkpoints
        .range(..=finalized)
        .next_back()
        .map(|(&h, _)| h);
    if let Some(anchor) = anchor {
        cursor.checkpoints.retain(|&h, _| h >= anchor);
    }
}
