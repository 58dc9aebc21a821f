//! Chain watchers and the deadline sweep: how chain facts and the passing of time reach the
//! state machine.
//!
//! Owns the watcher-facing trait [`ChainSource`] (the Bitcoin and Ethereum adapters implement
//! it), the loop that turns a source's updates into core events, and the lease that keeps one
//! watcher per chain active across replicas. A watcher's cost per block is the number of
//! observations in that block (routed by two index lookups for the whole block, on hashlocks and
//! lock ids, and committed with the cursor in one transaction), never the number of swaps in
//! flight; time-driven work goes through the sweep, which reads only
//! swaps whose deadline has passed (a partial index). This module must never advance a cursor
//! past observations it has not committed, and never write with a fencing token it no longer
//! holds.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crosslock_core::amount::Amount;
use crosslock_core::chain::{Chain, LockId, TxId};
use crosslock_core::finality::Depth;
use crosslock_core::swap::{Event, Side, SpendKind};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::engine::Engine;
use crate::metrics as m;
use crate::store::{BatchOutcome, CursorMove, Input, StoreError, now_unix};
use crate::stored::lock_key;

/// A chain adapter failed (node down, bad response). The watcher retries.
#[derive(Debug, Error)]
#[error("chain source: {0}")]
pub struct SourceError(pub String);

/// Something a chain adapter saw. Locks are found by hashlock the first time (the escrow's
/// `Locked` log carries it; the Bitcoin adapter maps its P2WSH scripts to hashlocks), and by
/// lock id after that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A lock paying a swap's hashlock, or the same lock deeper.
    LockSeen {
        /// The swap's hashlock.
        hashlock: [u8; 32],
        /// Outpoint or escrow id.
        lock: LockId,
        /// What it holds.
        amount: Amount,
        /// How deep.
        depth: Depth,
    },
    /// A lock is shallower than reported, or gone.
    LockUnconfirmed {
        /// The lock.
        lock: LockId,
        /// New depth, `None` if gone.
        depth: Option<Depth>,
    },
    /// A spend of a lock (matched by outpoint / escrow id).
    SpendSeen {
        /// The lock.
        lock: LockId,
        /// The spending transaction.
        tx: TxId,
        /// Claim (with the secret read from the witness or log) or refund.
        kind: SpendKind,
        /// How deep.
        depth: Depth,
    },
    /// A spend reorged or evicted.
    SpendUnconfirmed {
        /// The lock.
        lock: LockId,
        /// The spending transaction.
        tx: TxId,
        /// New depth, `None` if gone.
        depth: Option<Depth>,
    },
}

/// One step of a chain: its new head and what happened to watched locks up to it. After a
/// reorg, `height` may be lower than the cursor and the observations move locks back.
#[derive(Debug, Clone)]
pub struct ChainUpdate {
    /// Height of the new head.
    pub height: u64,
    /// Hash of the new head.
    pub hash: Vec<u8>,
    /// Timestamp of the new head (unix seconds).
    pub time: u64,
    /// What changed.
    pub observations: Vec<Observation>,
}

/// The future a source returns.
pub type SourceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<ChainUpdate>, SourceError>> + Send + 'a>>;

/// What a chain adapter provides to the watcher.
pub trait ChainSource: Send + 'static {
    /// Which chain.
    fn chain(&self) -> Chain;
    /// The next update after the committed cursor `(height, hash)` (`None`: start from the
    /// adapter's configured start). `Ok(None)`: nothing new yet. The adapter resolves reorgs
    /// against the cursor's hash and reports them as `*Unconfirmed` observations.
    fn next(&mut self, cursor: Option<(u64, Vec<u8>)>) -> SourceFuture<'_>;
    /// Called after the update returned by `next` and the relayer's cursor are committed, so an
    /// adapter that keeps its own cursor (the Ethereum watcher's reorg checkpoints) persists it
    /// only then. A crash before this replays the update, which the state machine absorbs.
    fn commit(&mut self) -> CommitFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// The future [`ChainSource::commit`] returns.
pub type CommitFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send + 'a>>;

fn chain_name(c: Chain) -> &'static str {
    match c {
        Chain::Bitcoin => "bitcoin",
        Chain::Ethereum => "ethereum",
    }
}

fn side_of(name: &str) -> Side {
    if name == "src" { Side::Src } else { Side::Dst }
}

/// Route every observation of an update to its swap with two queries (by hashlock for new locks,
/// by the lock index for the rest), in the update's order. A lock first seen earlier in the same
/// update routes to that lock's swap, as it would have had the earlier one been committed first.
async fn route_all(
    engine: &Engine,
    chain: Chain,
    obs: &[Observation],
) -> Result<Vec<(crosslock_core::secret::SwapId, Event)>, StoreError> {
    let store = &engine.store;
    let hashlocks: Vec<[u8; 32]> = obs
        .iter()
        .filter_map(|o| match o {
            Observation::LockSeen { hashlock, .. } => Some(*hashlock),
            _ => None,
        })
        .collect();
    let locks: Vec<LockId> = obs
        .iter()
        .filter_map(|o| match o {
            Observation::LockSeen { .. } => None,
            Observation::LockUnconfirmed { lock, .. }
            | Observation::SpendSeen { lock, .. }
            | Observation::SpendUnconfirmed { lock, .. } => Some(*lock),
        })
        .collect();
    let by_hashlock = if hashlocks.is_empty() {
        HashMap::new()
    } else {
        store.swaps_of_hashlocks(&hashlocks).await?
    };
    let mut by_lock = if locks.is_empty() {
        HashMap::new()
    } else {
        store.swaps_of_locks(&locks).await?
    };
    let mut out = Vec::with_capacity(obs.len());
    for o in obs {
        let routed = match o {
            Observation::LockSeen {
                hashlock,
                lock,
                amount,
                depth,
            } => by_hashlock.get(hashlock).map(|(id, direction)| {
                let src_chain = if direction == "BtcToEth" {
                    Chain::Bitcoin
                } else {
                    Chain::Ethereum
                };
                let side = if chain == src_chain {
                    Side::Src
                } else {
                    Side::Dst
                };
                let name = if side == Side::Src { "src" } else { "dst" };
                by_lock
                    .entry(lock_key(lock))
                    .or_insert_with(|| (*id, name.to_owned()));
                (
                    *id,
                    Event::LockSeen {
                        side,
                        lock: *lock,
                        amount: *amount,
                        depth: *depth,
                        seen_at: UnixTime(now_unix()),
                    },
                )
            }),
            Observation::LockUnconfirmed { lock, depth } => {
                by_lock.get(&lock_key(lock)).map(|(id, side)| {
                    (
                        *id,
                        Event::LockUnconfirmed {
                            side: side_of(side),
                            lock: *lock,
                            depth: *depth,
                        },
                    )
                })
            }
            Observation::SpendSeen {
                lock,
                tx,
                kind,
                depth,
            } => by_lock.get(&lock_key(lock)).map(|(id, side)| {
                (
                    *id,
                    Event::SpendSeen {
                        side: side_of(side),
                        lock: *lock,
                        tx: *tx,
                        kind: kind.clone(),
                        depth: *depth,
                    },
                )
            }),
            Observation::SpendUnconfirmed { lock, tx, depth } => {
                by_lock.get(&lock_key(lock)).map(|(id, side)| {
                    (
                        *id,
                        Event::SpendUnconfirmed {
                            side: side_of(side),
                            lock: *lock,
                            tx: *tx,
                            depth: *depth,
                        },
                    )
                })
            }
        };
        match routed {
            Some(r) => out.push(r),
            None => debug!(chain = chain_name(chain), "observation for no known swap"),
        }
    }
    Ok(out)
}

/// Apply one update: every observation and the cursor (fenced) in one transaction. `Ok(false)`:
/// the lease was lost and nothing was written.
///
/// An observation the core refuses is logged and skipped; the chain must not stall on one swap.
/// If the update cannot commit as a whole because a lock in it belongs to another swap, it is
/// applied one observation at a time instead, which refuses that observation alone.
pub async fn apply_update(
    engine: &Engine,
    chain: Chain,
    u: &ChainUpdate,
    fencing: i64,
) -> Result<bool, StoreError> {
    let name = chain_name(chain);
    let mut clock: Clock = engine.store.clock().await?;
    match chain {
        Chain::Bitcoin => clock.btc_tip = BtcHeight(u32::try_from(u.height).unwrap_or(u32::MAX)),
        Chain::Ethereum => clock.eth_time = UnixTime(u.time),
    }
    let inputs: Vec<_> = route_all(engine, chain, &u.observations)
        .await?
        .into_iter()
        .map(|(id, event)| {
            let mut input = Input::new(event, format!("chain:{name}"));
            input.clock = Some(clock);
            (id, input)
        })
        .collect();
    let cursor = CursorMove {
        chain: name,
        height: u.height,
        hash: &u.hash,
        head_time: u.time,
        fencing,
    };
    let advanced = match engine.apply_chain_batch(&inputs, cursor).await {
        Ok(BatchOutcome::Committed(done)) => {
            for (id, e) in done.refused {
                warn!(chain = name, swap_id = %hex::encode(id.0), error = %e, "observation refused");
                m::watcher_error(name);
            }
            true
        }
        Ok(BatchOutcome::LeaseLost) => false,
        Err(StoreError::LockTaken | StoreError::Conflict { .. }) => {
            warn!(
                chain = name,
                height = u.height,
                "update applied one observation at a time"
            );
            apply_one_by_one(engine, name, &inputs).await?;
            engine
                .store
                .advance_cursor(name, u.height, &u.hash, u.time, fencing)
                .await?
        }
        Err(e) => return Err(e),
    };
    #[allow(clippy::cast_precision_loss)]
    m::head_lag(name, now_unix().saturating_sub(u.time) as f64);
    Ok(advanced)
}

/// The slow path: each input in its own transaction, a refused one logged and skipped.
async fn apply_one_by_one(
    engine: &Engine,
    name: &'static str,
    inputs: &[(crosslock_core::secret::SwapId, Input)],
) -> Result<(), StoreError> {
    for (id, input) in inputs {
        match engine.apply_retrying(*id, input).await {
            Ok(_) => {}
            Err(e @ (StoreError::Transition(_) | StoreError::LockTaken)) => {
                warn!(chain = name, swap_id = %hex::encode(id.0), error = %e, "observation refused");
                m::watcher_error(name);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Run one chain's watcher until shutdown: standby until the lease is won, then follow the
/// source, renewing the lease before every step.
pub async fn run_watcher(
    engine: Engine,
    mut source: Box<dyn ChainSource>,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let chain = source.chain();
    let name = chain_name(chain);
    let lease = format!("watcher:{name}");
    let pause = lease_ttl / 3;
    loop {
        if *shutdown.borrow() {
            let _ = engine.store.release_lease(&lease, &engine.replica).await;
            return;
        }
        let token = match engine
            .store
            .acquire_lease(&lease, &engine.replica, lease_ttl)
            .await
        {
            Ok(Some(t)) => t,
            Ok(None) => {
                debug!(chain = name, "standby: another replica watches");
                sleep_or_stop(pause, &mut shutdown).await;
                continue;
            }
            Err(e) => {
                warn!(chain = name, error = %e, "lease failed");
                m::watcher_error(name);
                sleep_or_stop(pause, &mut shutdown).await;
                continue;
            }
        };
        let cursor = match engine.store.cursor(name).await {
            Ok(c) => c.map(|(h, hash, _)| (h, hash)),
            Err(e) => {
                warn!(chain = name, error = %e, "cursor read failed");
                m::watcher_error(name);
                sleep_or_stop(pause, &mut shutdown).await;
                continue;
            }
        };
        let next = tokio::select! {
            _ = shutdown.changed() => continue,
            n = tokio::time::timeout(pause, source.next(cursor)) => n,
        };
        match next {
            Err(_) | Ok(Ok(None)) => {}
            Ok(Ok(Some(u))) => match apply_update(&engine, chain, &u, token).await {
                Ok(true) => {
                    debug!(chain = name, height = u.height, "cursor advanced");
                    if let Err(e) = source.commit().await {
                        warn!(chain = name, error = %e, "source commit failed; update will replay");
                        m::watcher_error(name);
                    }
                }
                Ok(false) => warn!(chain = name, "lease lost mid-update; standing by"),
                Err(e) => {
                    warn!(chain = name, error = %e, "update failed; will retry");
                    m::watcher_error(name);
                    sleep_or_stop(pause, &mut shutdown).await;
                }
            },
            Ok(Err(e)) => {
                warn!(chain = name, error = %e, "source failed");
                m::watcher_error(name);
                sleep_or_stop(pause, &mut shutdown).await;
            }
        }
    }
}

async fn sleep_or_stop(d: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = shutdown.changed() => {}
        () = tokio::time::sleep(d) => {}
    }
}

/// Tick every swap whose next deadline has passed, in batches. Returns how many were ticked.
pub async fn sweep_once(engine: &Engine, batch: i64) -> Result<usize, StoreError> {
    let now = now_unix();
    let ids = engine.store.due_swaps(now, batch).await?;
    let clock = engine.store.clock().await?;
    let mut n = 0;
    for id in ids {
        let input = Input::new(Event::Tick { clock }, "clock");
        match engine.apply_retrying(id, &input).await {
            Ok(_) => n += 1,
            Err(StoreError::Transition(e)) => {
                warn!(swap_id = %hex::encode(id.0), error = %e, "tick refused");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Run the deadline sweep (one replica at a time, by lease) and refresh the state gauges.
pub async fn run_sweeper(
    engine: Engine,
    every: Duration,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match engine
            .store
            .acquire_lease("sweeper", &engine.replica, lease_ttl)
            .await
        {
            Ok(Some(_)) => match sweep_once(&engine, 500).await {
                Ok(0) => {}
                Ok(n) => info!(swaps = n, "deadline sweep ticked swaps"),
                Err(e) => warn!(error = %e, "deadline sweep failed"),
            },
            Ok(None) => {}
            Err(e) => warn!(error = %e, "sweeper lease failed"),
        }
        if let Ok(counts) = engine.store.count_by_state().await {
            m::swaps_by_state(&counts);
        }
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = engine.store.release_lease("sweeper", &engine.replica).await;
                return;
            }
            () = tokio::time::sleep(every) => {}
        }
    }
}
