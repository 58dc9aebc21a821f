//! Following both chains for this resolver's own swaps: every lock, spend and secret the core
//! hears comes from the chains themselves, never from the relayer's word.
//!
//! Owns two watchers and the clock they give. Bitcoin: an Electrum watcher of the HTLC of each
//! open swap, keyed by swap id; it needs no cursor, because watching again reports the current
//! state and the core absorbs repeats. Ethereum: the escrow log watcher, routed by the escrow ids
//! our swaps' terms fix; its cursor lives in `chain_cursors` and is saved under the wallet lease
//! only after the events up to it are in the swaps' logs. A lock whose parameters differ from the
//! terms (wrong amount, wrong receiver) has another escrow id or script and is never routed to a
//! swap, so nothing is ever locked against it. This module must never save a cursor past events
//! that are not committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::Provider;
use crosslock_btc::HtlcParams;
use crosslock_btc::electrum::{ElectrumConfig, ElectrumWatcher};
use crosslock_btc::watcher::ChainEvent;
use crosslock_core::finality::EthDepth;
use crosslock_core::order::{LockTerms, Terms};
use crosslock_core::secret::SwapId;
use crosslock_core::swap::{Event, Side};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_eth::{CursorStore, Finality, WatchBatch, Watcher, WatcherConfig};
use sqlx::PgPool;
use thiserror::Error;
use tracing::{debug, warn};

use crate::db;
use crate::executor::{ExecError, htlc, swap_params};

/// The chain name the escrow cursor is kept under.
const ETH_CURSOR: &str = "ethereum";

/// Why following a chain failed this round; the next round tries again.
#[derive(Debug, Error)]
pub enum FollowError {
    /// Electrum failed.
    #[error("bitcoin: {0}")]
    Btc(String),
    /// The Ethereum node or the watcher failed.
    #[error("ethereum: {0}")]
    Eth(String),
    /// A swap's terms do not give a lock to watch.
    #[error(transparent)]
    Terms(#[from] ExecError),
}

#[derive(Debug, Error)]
enum CursorError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("stored cursor: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the wallet lease is no longer ours; cursor not saved")]
    LeaseLost,
}

/// The escrow watcher's cursor in Postgres, written only with the wallet lease's live token.
#[derive(Debug, Clone)]
pub struct PgCursorStore {
    pool: PgPool,
    lease: String,
    token: Arc<AtomicI64>,
}

impl PgCursorStore {
    /// A store writing under lease `lease` with the token `token` holds (updated by the run
    /// loop at each renewal).
    pub fn new(pool: PgPool, lease: String, token: Arc<AtomicI64>) -> PgCursorStore {
        PgCursorStore { pool, lease, token }
    }
}

impl CursorStore for PgCursorStore {
    async fn load(&self) -> Result<Option<crosslock_eth::Cursor>, crosslock_eth::StoreError> {
        let json = db::cursors::load(&self.pool, ETH_CURSOR)
            .await
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))?;
        json.map(serde_json::from_value)
            .transpose()
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))
    }

    async fn save(&self, cursor: &crosslock_eth::Cursor) -> Result<(), crosslock_eth::StoreError> {
        let json = serde_json::to_value(cursor)
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))?;
        let token = self.token.load(Ordering::SeqCst);
        let saved = db::cursors::save(&self.pool, ETH_CURSOR, &json, &self.lease, token)
            .await
            .map_err(|e| crosslock_eth::StoreError::new(CursorError::from(e)))?;
        if saved {
            Ok(())
        } else {
            Err(crosslock_eth::StoreError::new(CursorError::LeaseLost))
        }
    }
}

struct BtcFollow {
    url: String,
    /// `None` only while a blocking poll has it.
    watcher: Option<ElectrumWatcher<SwapId>>,
    htlcs: HashMap<SwapId, (Side, HtlcParams)>,
    fresh: Vec<SwapId>,
}

struct EthFollow<P> {
    watcher: Watcher<P, PgCursorStore>,
    provider: P,
    locks: HashMap<B256, (SwapId, Side)>,
    confirmed: EthDepth,
}

/// What one look at the chains found: events per swap in chain order, and the escrow batch to
/// commit once they are in the logs.
#[derive(Debug, Default)]
pub struct Found {
    /// Events, in the order the chains gave them.
    pub events: Vec<(SwapId, Event)>,
    /// A new Bitcoin tip was seen.
    pub new_btc_tip: bool,
    eth_batch: Option<WatchBatch>,
}

/// Both chains, for the swaps this resolver tracks.
pub struct Chains<P> {
    btc: BtcFollow,
    eth: EthFollow<P>,
    btc_tip: Option<BtcHeight>,
    eth_time: Option<UnixTime>,
}

impl<P> std::fmt::Debug for Chains<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chains")
            .field("btc_htlcs", &self.btc.htlcs.len())
            .field("eth_locks", &self.eth.locks.len())
            .field("btc_tip", &self.btc_tip)
            .field("eth_time", &self.eth_time)
            .finish()
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn event_swap(ev: &ChainEvent<SwapId>) -> Option<SwapId> {
    match ev {
        ChainEvent::Tip { .. } => None,
        ChainEvent::Funding { id, .. }
        | ChainEvent::FundingGone { id, .. }
        | ChainEvent::Spent { id, .. }
        | ChainEvent::SpendGone { id, .. } => Some(*id),
    }
}

impl<P: Provider + Clone> Chains<P> {
    /// Connects nothing yet: Electrum connects on the first poll; the escrow watcher loads its
    /// cursor (or starts at `start_block`). Confirmed escrow events count as `finalized`.
    pub async fn open(
        electrum_url: &str,
        provider: P,
        escrow: alloy::primitives::Address,
        start_block: u64,
        cursors: PgCursorStore,
    ) -> Result<Chains<P>, FollowError> {
        let mut wc = WatcherConfig::new(escrow, start_block);
        wc.finality = Finality::Finalized;
        let watcher = Watcher::open(provider.clone(), cursors, wc)
            .await
            .map_err(|e| FollowError::Eth(e.to_string()))?;
        Ok(Chains {
            btc: BtcFollow {
                url: electrum_url.to_owned(),
                watcher: Some(ElectrumWatcher::new(ElectrumConfig::new(electrum_url))),
                htlcs: HashMap::new(),
                fresh: Vec::new(),
            },
            eth: EthFollow {
                watcher,
                provider,
                locks: HashMap::new(),
                confirmed: EthDepth::Finalized,
            },
            btc_tip: None,
            eth_time: None,
        })
    }

    /// Starts following both locks of swap `id` (idempotent).
    pub fn track(&mut self, id: SwapId, terms: &Terms) -> Result<(), FollowError> {
        for (side, lt) in [(Side::Src, &terms.src), (Side::Dst, &terms.dst)] {
            match lt {
                LockTerms::Btc(h) => {
                    if self.btc.htlcs.insert(id, (side, htlc(h)?)).is_none() {
                        self.btc.fresh.push(id);
                    }
                }
                LockTerms::Eth(e) => {
                    self.eth.locks.insert(swap_params(e).id(), (id, side));
                }
            }
        }
        Ok(())
    }

    /// Stops following swap `id` (it is terminal).
    pub fn untrack(&mut self, id: SwapId, terms: &Terms) {
        for lt in [&terms.src, &terms.dst] {
            match lt {
                LockTerms::Btc(_) => {
                    if let Some((_, p)) = self.btc.htlcs.remove(&id)
                        && let Some(w) = self.btc.watcher.as_mut()
                    {
                        w.unwatch(&p);
                    }
                }
                LockTerms::Eth(e) => {
                    self.eth.locks.remove(&swap_params(e).id());
                }
            }
        }
    }

    /// How many swaps are followed on each chain.
    pub fn tracked(&self) -> (usize, usize) {
        (self.btc.htlcs.len(), self.eth.locks.len())
    }

    /// The clock both chains give, once each has reported.
    pub fn clock(&self) -> Option<Clock> {
        Some(Clock {
            btc_tip: self.btc_tip?,
            eth_time: self.eth_time?,
            wall: UnixTime(now_unix()),
        })
    }

    /// Looks at both chains once. A chain that fails is reported and skipped; the other's events
    /// still come back.
    pub async fn poll(&mut self) -> (Found, Vec<FollowError>) {
        let mut found = Found::default();
        let mut errors = Vec::new();
        if let Err(e) = self.poll_btc(&mut found).await {
            errors.push(e);
        }
        if let Err(e) = self.poll_eth(&mut found).await {
            errors.push(e);
        }
        (found, errors)
    }

    async fn poll_btc(&mut self, found: &mut Found) -> Result<(), FollowError> {
        let Some(mut watcher) = self.btc.watcher.take() else {
            return Err(FollowError::Btc("watcher busy".into()));
        };
        let fresh: Vec<(SwapId, HtlcParams)> = std::mem::take(&mut self.btc.fresh)
            .into_iter()
            .filter_map(|id| self.btc.htlcs.get(&id).map(|(_, p)| (id, *p)))
            .collect();
        let joined = tokio::task::spawn_blocking(move || {
            let mut events = Vec::new();
            let mut error = None;
            // One batch of subscriptions; on failure the HTLCs stay registered and are
            // subscribed on reconnect.
            if !fresh.is_empty() {
                match watcher.watch_many(fresh) {
                    Ok(ev) => events.extend(ev),
                    Err(e) => error = Some(e.to_string()),
                }
            }
            match watcher.poll() {
                Ok(ev) => events.extend(ev),
                Err(e) => error = Some(e.to_string()),
            }
            (watcher, events, error)
        })
        .await;
        let (watcher, events, error) = match joined {
            Ok(x) => x,
            Err(e) => {
                // The watcher went down with the task: a new one watches every HTLC again.
                self.btc.watcher = Some(ElectrumWatcher::new(ElectrumConfig::new(
                    self.btc.url.clone(),
                )));
                self.btc.fresh = self.btc.htlcs.keys().copied().collect();
                return Err(FollowError::Btc(format!("electrum task failed: {e}")));
            }
        };
        self.btc.watcher = Some(watcher);
        let now = UnixTime(now_unix());
        for ev in &events {
            if let ChainEvent::Tip { height, .. } = ev {
                if self.btc_tip != Some(*height) {
                    found.new_btc_tip = true;
                }
                self.btc_tip = Some(*height);
                continue;
            }
            let Some(id) = event_swap(ev) else { continue };
            let Some((side, _)) = self.btc.htlcs.get(&id) else {
                continue;
            };
            match crosslock_btc::inputs::to_core_event(ev, *side, now) {
                Some(e) => found.events.push((id, e)),
                None => warn!(swap_id = %id, event = ?ev, "bitcoin event the core does not take"),
            }
        }
        if self.btc_tip.is_none()
            && let Some(w) = &self.btc.watcher
        {
            self.btc_tip = w.tip();
        }
        match error {
            Some(e) => Err(FollowError::Btc(e)),
            None => Ok(()),
        }
    }

    async fn poll_eth(&mut self, found: &mut Found) -> Result<(), FollowError> {
        let eth_err = |e: &dyn std::fmt::Display| FollowError::Eth(e.to_string());
        let batch = self.eth.watcher.poll().await.map_err(|e| eth_err(&e))?;
        let head = self
            .eth
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| eth_err(&e))?
            .ok_or_else(|| FollowError::Eth("no latest block".into()))?;
        self.eth_time = Some(UnixTime(head.header.timestamp));
        let now = UnixTime(now_unix());
        for ev in &batch.events {
            let log = match ev {
                crosslock_eth::WatchEvent::Seen(l)
                | crosslock_eth::WatchEvent::Confirmed(l)
                | crosslock_eth::WatchEvent::Removed(l) => l,
            };
            let Some((id, side)) = self.eth.locks.get(&log.event.id()) else {
                debug!(escrow_id = %log.event.id(), "escrow event of no swap of ours");
                continue;
            };
            if let Some(e) =
                crosslock_eth::inputs::to_core_event(ev, *side, self.eth.confirmed, now)
            {
                found.events.push((*id, e));
            }
        }
        found.eth_batch = Some(batch);
        Ok(())
    }

    /// Saves the escrow watcher's cursor; call only after every event in `found` is committed
    /// to its swap's log (or refused by the core).
    pub async fn commit(&mut self, found: Found) -> Result<(), FollowError> {
        if let Some(batch) = found.eth_batch {
            self.eth
                .watcher
                .commit(batch)
                .await
                .map_err(|e| FollowError::Eth(e.to_string()))?;
        }
        Ok(())
    }
}
