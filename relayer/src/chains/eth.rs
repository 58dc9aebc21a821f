//! The Ethereum adapter: the escrow log watcher of `crosslock-eth` as a [`ChainSource`].
//!
//! Owns the mapping of escrow events onto the relayer's observations and the Postgres home of
//! the watcher's own cursor (reorg checkpoints, events not final yet). `Locked` is a lock seen
//! (by hashlock, then by escrow id), `Claimed` a claim carrying the secret and `Refunded` a
//! refund, each reported at once when seen (a secret is acted on without waiting for
//! confirmations, reliability row 5) and again when final; `Removed` moves the lock or spend
//! back. The watcher reports one finality level and the core wants `safe` or `finalized` by
//! amount band, so it runs at the stricter one, `finalized`: a small ETH lock waits a little
//! longer than it must, never less. This module must never save the watcher's cursor before the
//! relayer's cursor and the observations are committed, nor with a lease it no longer holds.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::Address;
use alloy::providers::{Provider, RootProvider};
use crosslock_core::chain::{Chain, LockId, TxId};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::swap::SpendKind;
use crosslock_eth::convert::core_secret;
use crosslock_eth::{
    Cursor, CursorStore, EscrowEvent, Finality, WatchBatch, WatchEvent, Watcher, WatcherConfig,
    check_code_hash,
};
use thiserror::Error;

use crate::store::Store;
use crate::watcher::{
    ChainSource, ChainUpdate, CommitFuture, Observation, SourceError, SourceFuture,
};

/// The chain name under which cursors and leases are kept.
const CHAIN: &str = "ethereum";

/// Why the Ethereum adapter could not start.
#[derive(Debug, Error)]
pub enum EthSourceError {
    /// The RPC URL does not parse.
    #[error("ethereum rpc url: {0}")]
    Url(String),
    /// The node answers with another chain id than configured: wrong network.
    #[error("ethereum chain id is {found}, configured {expected}")]
    ChainId {
        /// What the node says.
        found: u64,
        /// What the config says.
        expected: u64,
    },
    /// The node did not answer.
    #[error("ethereum rpc: {0}")]
    Rpc(String),
    /// The escrow's deployed code is not the committed build (reliability row 11): a contract
    /// that hashed differently or paid someone else would lose both legs. The relayer refuses
    /// to start.
    #[error(transparent)]
    CodeHash(#[from] crosslock_eth::CodeHashError),
    /// The watcher could not load its cursor.
    #[error("ethereum watcher: {0}")]
    Watch(#[from] crosslock_eth::WatchError),
}

/// Where the adapter's cursor lives, and who may write it.
#[derive(Debug, Error)]
enum CursorError {
    /// Postgres failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The stored JSON does not decode.
    #[error("stored ethereum cursor: {0}")]
    Json(#[from] serde_json::Error),
    /// This replica no longer holds the watcher lease; the next holder replays from its cursor.
    #[error("ethereum watcher lease lost; cursor not saved")]
    LeaseLost,
}

/// The watcher's cursor in `chain_cursors.adapter_cursor`, saved only under this replica's
/// live lease with the fencing token of the relayer's cursor.
#[derive(Debug, Clone)]
pub struct PgCursorStore {
    store: Store,
    holder: String,
}

impl PgCursorStore {
    /// A cursor store writing as `holder` (the replica name of the lease).
    pub fn new(store: Store, holder: impl Into<String>) -> PgCursorStore {
        PgCursorStore {
            store,
            holder: holder.into(),
        }
    }
}

impl CursorStore for PgCursorStore {
    async fn load(&self) -> Result<Option<Cursor>, crosslock_eth::StoreError> {
        let json = self
            .store
            .adapter_cursor(CHAIN)
            .await
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))?;
        json.map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))
    }

    async fn save(&self, cursor: &Cursor) -> Result<(), crosslock_eth::StoreError> {
        let json = serde_json::to_string(cursor)
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))?;
        let saved = self
            .store
            .save_adapter_cursor(CHAIN, &self.holder, &json)
            .await
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))?;
        if saved {
            Ok(())
        } else {
            Err(crosslock_eth::StoreError::new(CursorError::LeaseLost))
        }
    }
}

/// How to reach the escrow.
#[derive(Debug, Clone)]
pub struct EthSourceConfig {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// The escrow contract.
    pub escrow: Address,
    /// The chain id the node must report.
    pub chain_id: u64,
    /// First block to scan without a cursor (the escrow's deployment block).
    pub start_block: u64,
    /// When events count as final; `finalized` in production (see the module docs).
    pub finality: Finality,
    /// Pause between polls once caught up.
    pub poll_interval: std::time::Duration,
}

/// The escrow watcher as a [`ChainSource`].
#[derive(Debug)]
pub struct EthSource {
    provider: RootProvider,
    cursors: PgCursorStore,
    config: WatcherConfig,
    watcher: Watcher<RootProvider, PgCursorStore>,
    pending: Option<(WatchBatch, u64)>,
    /// The relayer cursor height our watcher's state matches; another value (a restart, a
    /// takeover from another replica) reloads the watcher's cursor from Postgres first.
    synced: Option<Option<u64>>,
    poll_interval: std::time::Duration,
    /// The last poll found nothing new: wait before the next one.
    idle: bool,
}

impl EthSource {
    /// Connect, check the chain id and the escrow's code hash, and open the watcher from its
    /// stored cursor.
    pub async fn connect(
        c: &EthSourceConfig,
        store: Store,
        holder: &str,
    ) -> Result<EthSource, EthSourceError> {
        let url = c
            .rpc_url
            .parse::<alloy::transports::http::reqwest::Url>()
            .map_err(|e| EthSourceError::Url(e.to_string()))?;
        let provider = RootProvider::new_http(url);
        let found = provider
            .get_chain_id()
            .await
            .map_err(|e| EthSourceError::Rpc(e.to_string()))?;
        if found != c.chain_id {
            return Err(EthSourceError::ChainId {
                found,
                expected: c.chain_id,
            });
        }
        check_code_hash(&provider, c.escrow).await?;
        let mut config = WatcherConfig::new(c.escrow, c.start_block);
        config.finality = c.finality;
        let cursors = PgCursorStore::new(store, holder);
        let watcher = Watcher::open(provider.clone(), cursors.clone(), config.clone()).await?;
        Ok(EthSource {
            provider,
            cursors,
            config,
            watcher,
            pending: None,
            synced: None,
            poll_interval: c.poll_interval,
            idle: false,
        })
    }

    async fn step(
        &mut self,
        cursor: Option<(u64, Vec<u8>)>,
    ) -> Result<Option<ChainUpdate>, SourceError> {
        let relayer_height = cursor.map(|(h, _)| h);
        if self.synced != Some(relayer_height) {
            self.watcher = Watcher::open(
                self.provider.clone(),
                self.cursors.clone(),
                self.config.clone(),
            )
            .await
            .map_err(source_err)?;
            self.synced = Some(relayer_height);
        }
        self.pending = None;
        if self.idle {
            tokio::time::sleep(self.poll_interval).await;
        }
        let batch = self.watcher.poll().await.map_err(source_err)?;
        self.idle = batch.events.is_empty() && batch.cursor == *self.watcher.cursor();
        if self.idle {
            return Ok(None);
        }
        let Some(height) = batch.cursor.next_block.checked_sub(1) else {
            return Ok(None);
        };
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(height))
            .await
            .map_err(source_err)?
            .ok_or_else(|| SourceError(format!("block {height} not found")))?;
        let observations = batch.events.iter().filter_map(observation).collect();
        let update = ChainUpdate {
            height,
            hash: block.header.hash.to_vec(),
            time: block.header.timestamp,
            observations,
        };
        self.pending = Some((batch, height));
        Ok(Some(update))
    }

    async fn commit_pending(&mut self) -> Result<(), SourceError> {
        let Some((batch, height)) = self.pending.take() else {
            return Ok(());
        };
        match self.watcher.commit(batch).await {
            Ok(()) => {
                self.synced = Some(Some(height));
                Ok(())
            }
            Err(e) => {
                // Reload before the next poll: the stored cursor is the truth.
                self.synced = None;
                Err(source_err(e))
            }
        }
    }
}

fn source_err(e: impl std::fmt::Display) -> SourceError {
    SourceError(e.to_string())
}

impl ChainSource for EthSource {
    fn chain(&self) -> Chain {
        Chain::Ethereum
    }

    fn next(&mut self, cursor: Option<(u64, Vec<u8>)>) -> SourceFuture<'_> {
        Box::pin(self.step(cursor))
    }

    fn commit(&mut self) -> CommitFuture<'_> {
        Box::pin(self.commit_pending())
    }
}

/// One watcher event as a relayer observation. A `Locked` log whose amount does not fit the
/// core's types is dropped (no swap of ours can have it).
pub fn observation(e: &WatchEvent) -> Option<Observation> {
    let (log, depth) = match e {
        WatchEvent::Seen(l) => (l, Some(EthDepth::Included)),
        WatchEvent::Confirmed(l) => (l, Some(EthDepth::Finalized)),
        WatchEvent::Removed(l) => (l, None),
    };
    let lock = LockId::EthEscrow {
        id: log.event.id().0,
    };
    let tx = TxId(log.tx_hash.0);
    Some(match (&log.event, depth) {
        (EscrowEvent::Locked { params, .. }, Some(d)) => Observation::LockSeen {
            hashlock: params.hashlock.0,
            lock,
            amount: crosslock_eth::inputs::locked_amount(log)?,
            depth: Depth::Eth(d),
        },
        (EscrowEvent::Locked { .. }, None) => Observation::LockUnconfirmed { lock, depth: None },
        (EscrowEvent::Claimed { preimage, .. }, Some(d)) => Observation::SpendSeen {
            lock,
            tx,
            kind: SpendKind::Claim {
                secret: core_secret(preimage),
            },
            depth: Depth::Eth(d),
        },
        (EscrowEvent::Refunded { .. }, Some(d)) => Observation::SpendSeen {
            lock,
            tx,
            kind: SpendKind::Refund,
            depth: Depth::Eth(d),
        },
        (EscrowEvent::Claimed { .. } | EscrowEvent::Refunded { .. }, None) => {
            Observation::SpendUnconfirmed {
                lock,
                tx,
                depth: None,
            }
        }
    })
}
