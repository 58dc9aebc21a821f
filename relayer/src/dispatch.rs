//! The relayer's own executor: outbox rows addressed to `relayer`, today the maker's
//! pre-signed Bitcoin claim (ETH -> BTC) to broadcast.
//!
//! Persist, then act: a row exists only once the event that made it due is committed, and it
//! is marked delivered only after Electrum accepted the transaction or already had it. A crash
//! in between broadcasts the same bytes again, which the node reports as already known. Each
//! new row of a swap (the core issues one per escalation step) takes the next rung of the
//! maker's fee ladder, up to the top one. It must never mark a row delivered whose broadcast
//! failed, and runs on one replica at a time (a lease).

use std::time::Duration;

use crosslock_core::swap::SecretSource;
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::chains::btc::BtcBroadcaster;
use crate::engine::Engine;
use crate::store::StoreError;

/// Rows handled per pass.
const BATCH: i64 = 100;

/// Why a row was not delivered; it stays pending and is tried again.
#[derive(Debug, Error)]
pub enum DispatchError {
    /// Postgres failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The swap's record holds no ladder for a broadcast row (an inconsistency to look at).
    #[error("swap has no pre-signed claim to broadcast")]
    NoLadder,
    /// A rung does not decode as a transaction.
    #[error("pre-signed claim rung {0} does not decode")]
    BadRung(usize),
    /// Electrum refused it or is unreachable.
    #[error("broadcast: {0}")]
    Broadcast(#[from] crosslock_btc::electrum::BroadcastError),
}

/// Handle every pending `relayer` row once. Returns how many were delivered.
pub async fn dispatch_once(engine: &Engine, btc: &BtcBroadcaster) -> Result<usize, StoreError> {
    let rows = engine.store.pending_for("relayer", BATCH).await?;
    let mut done = 0;
    for (row, swap, action, rung) in rows {
        let swap_hex = hex::encode(swap.0);
        let result = match action.kind.as_str() {
            "BroadcastMakerClaim" => broadcast_claim(engine, btc, swap, rung).await,
            other => {
                warn!(swap_id = %swap_hex, kind = other, "no relayer executor for this action");
                continue;
            }
        };
        match result {
            Ok(txid) => {
                engine.store.mark_delivered(&[row]).await?;
                info!(swap_id = %swap_hex, outbox_id = row, %txid, rung, "maker claim broadcast");
                done += 1;
            }
            Err(e) => {
                warn!(swap_id = %swap_hex, outbox_id = row, error = %e, "maker claim not broadcast; will retry");
                crate::metrics::watcher_error("dispatcher");
            }
        }
    }
    Ok(done)
}

async fn broadcast_claim(
    engine: &Engine,
    btc: &BtcBroadcaster,
    swap: crosslock_core::secret::SwapId,
    rung: i64,
) -> Result<bitcoin::Txid, DispatchError> {
    let loaded = engine.store.load(swap).await?;
    let ladder = match loaded.swap.secret.map(|s| s.source) {
        Some(SecretSource::Maker {
            maker_claim: Some(c),
        }) if !c.fee_ladder.is_empty() => c.fee_ladder,
        _ => return Err(DispatchError::NoLadder),
    };
    let top = ladder.len() - 1;
    let i = usize::try_from(rung).unwrap_or(top).min(top);
    let tx: bitcoin::Transaction =
        bitcoin::consensus::deserialize(&ladder[i]).map_err(|_| DispatchError::BadRung(i))?;
    Ok(match btc.broadcast(tx).await? {
        crosslock_btc::electrum::Broadcast::Accepted(t)
        | crosslock_btc::electrum::Broadcast::AlreadyKnown(t) => t,
    })
}

/// Run the dispatcher until shutdown, one replica at a time.
pub async fn run_dispatcher(
    engine: Engine,
    btc: BtcBroadcaster,
    every: Duration,
    lease_ttl: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match engine
            .store
            .acquire_lease("dispatcher", &engine.replica, lease_ttl)
            .await
        {
            Ok(Some(_)) => {
                if let Err(e) = dispatch_once(&engine, &btc).await {
                    warn!(error = %e, "dispatcher pass failed");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "dispatcher lease failed"),
        }
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = engine.store.release_lease("dispatcher", &engine.replica).await;
                return;
            }
            () = tokio::time::sleep(every) => {}
        }
    }
}
