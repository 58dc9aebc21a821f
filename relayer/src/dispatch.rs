//! The relayer's own executor: outbox rows addressed to `relayer`, today the maker's
//! pre-signed Bitcoin claim (ETH -> BTC) to broadcast.
//!
//! Persist, then act: a row exists only once the event that made it due is committed, and it
//! is marked delivered only after Electrum accepted the transaction or already had it. A crash
//! in between broadcasts the same bytes again, which the node reports as already known. Each
//! new row of a swap (the core issues one per escalation step) takes the next rung of the
//! maker's fee ladder, up to the top one, and never a rung below one an earlier row reached.
//!
//! Retries are bounded: each refusal by the node is counted on the row in Postgres and the row
//! waits a doubling backoff before the next try. After `max_rejections` refusals of one rung the
//! row moves up the ladder; past the top it is parked, ListStuck shows the swap to an operator,
//! and nothing is broadcast for it until the operator's Retry resets the count. A row whose
//! claim is no longer due (the HTLC's spend is in a block, or the swap stopped needing it) is
//! marked done without a broadcast. An unreachable node is not a refusal: the row is simply
//! tried on the next pass. It must never mark a row delivered whose broadcast failed, and runs
//! on one replica at a time (a lease).

use std::time::Duration;

use crosslock_core::swap::{Action, SecretSource, Swap};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::chains::btc::BtcBroadcaster;
use crate::config::DispatchConfig;
use crate::engine::Engine;
use crate::store::{DueRow, RetryStep, StoreError};
use crate::stored::lock_in;

/// Rows handled per pass.
const BATCH: i64 = 100;

/// The retry rules, from [`DispatchConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Refusals of one rung before moving up (or parking at the top).
    pub max_rejections: u32,
    /// Wait after the first refusal; doubled after each further one.
    pub backoff: Duration,
    /// Longest wait.
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The policy a config describes.
    pub fn from_config(c: &DispatchConfig) -> RetryPolicy {
        RetryPolicy {
            max_rejections: c.max_rejections.max(1),
            backoff: Duration::from_millis(c.backoff_ms),
            backoff_max: Duration::from_millis(c.backoff_max_ms),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy::from_config(&DispatchConfig::default())
    }
}

/// What follows a refusal of a row on `rung` (of `top`, the ladder's highest) that the node had
/// refused `attempts_before` times on that rung already.
pub fn after_refusal(attempts_before: u32, rung: u32, top: u32, p: &RetryPolicy) -> RetryStep {
    let attempts = attempts_before.saturating_add(1);
    if attempts < p.max_rejections {
        let doublings = (attempts - 1).min(20);
        let after = p
            .backoff
            .saturating_mul(1_u32 << doublings)
            .min(p.backoff_max);
        RetryStep::Backoff { attempts, after }
    } else if rung < top {
        RetryStep::NextRung { rung: rung + 1 }
    } else {
        RetryStep::Park { attempts }
    }
}

/// Why a row was not delivered.
#[derive(Debug, Error)]
pub enum DispatchError {
    /// Postgres failed; the row is tried again on the next pass.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Electrum is unreachable; not a refusal, the row is tried again on the next pass.
    #[error("broadcast: {0}")]
    Unreachable(crosslock_btc::electrum::AdapterError),
    /// The row cannot succeed as it is: the node refused the transaction, or the record holds
    /// no usable ladder. Counted on the row (backoff, next rung, then the operator).
    #[error("{0}")]
    Refused(String),
}

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    /// The node took the transaction now.
    Accepted(bitcoin::Txid, u32),
    /// The node had it already.
    AlreadyKnown(bitcoin::Txid, u32),
    /// The claim is no longer due.
    NotDue,
}

/// Handle every due `relayer` row once, and close parked rows the chain has settled since.
/// Returns how many rows were closed.
pub async fn dispatch_once(
    engine: &Engine,
    btc: &BtcBroadcaster,
    policy: &RetryPolicy,
) -> Result<usize, StoreError> {
    let rows = engine.store.due_for("relayer", BATCH).await?;
    let mut done = 0;
    for row in rows {
        let swap_hex = hex::encode(row.swap.0);
        let result = match row.action.kind.as_str() {
            "BroadcastMakerClaim" => broadcast_claim(engine, btc, &row).await,
            other => {
                warn!(swap_id = %swap_hex, kind = other, "no relayer executor for this action");
                continue;
            }
        };
        match result {
            Ok(Done::Accepted(txid, rung)) | Ok(Done::AlreadyKnown(txid, rung)) => {
                let outcome = if matches!(result, Ok(Done::Accepted(..))) {
                    "accepted"
                } else {
                    "already known"
                };
                engine.store.mark_done(row.id, Some(rung), outcome).await?;
                info!(swap_id = %swap_hex, outbox_id = row.id, %txid, rung, outcome, "maker claim broadcast");
                done += 1;
            }
            Ok(Done::NotDue) => {
                engine.store.mark_done(row.id, None, "not due").await?;
                info!(swap_id = %swap_hex, outbox_id = row.id, "maker claim no longer due; row closed without a broadcast");
                done += 1;
            }
            Err(DispatchError::Refused(why)) => {
                refused(engine, &row, &swap_hex, &why, policy).await?;
            }
            Err(e) => {
                warn!(swap_id = %swap_hex, outbox_id = row.id, error = %e, "maker claim not broadcast; will retry");
                crate::metrics::watcher_error("dispatcher");
            }
        }
    }
    done += close_settled_parked(engine).await?;
    Ok(done)
}

async fn refused(
    engine: &Engine,
    row: &DueRow,
    swap_hex: &str,
    why: &str,
    policy: &RetryPolicy,
) -> Result<(), StoreError> {
    let top = top_rung(engine, row).await.unwrap_or(row.rung);
    let rung = row.rung.min(top);
    let step = after_refusal(row.attempts, rung, top, policy);
    // Persist the count before anything else happens to the row.
    if !engine
        .store
        .record_refusal(row.id, row.attempts, rung, &step, why)
        .await?
    {
        return Ok(());
    }
    crate::metrics::claim_refused();
    match step {
        RetryStep::Backoff { attempts, after } => {
            warn!(swap_id = %swap_hex, outbox_id = row.id, rung, attempts, retry_in_ms = after.as_millis(), error = why, "the node refused the maker's claim; will retry");
        }
        RetryStep::NextRung { rung: next } => {
            warn!(swap_id = %swap_hex, outbox_id = row.id, rung, next, error = why, "the node keeps refusing this rung of the maker's claim; moving up the ladder");
        }
        RetryStep::Park { attempts } => {
            warn!(swap_id = %swap_hex, outbox_id = row.id, rung, attempts, error = why, "operator attention: the node refused every rung of the maker's claim; stopped until an operator's Retry");
        }
    }
    Ok(())
}

/// The highest rung of the swap's stored ladder.
async fn top_rung(engine: &Engine, row: &DueRow) -> Option<u32> {
    let loaded = engine.store.load(row.swap).await.ok()?;
    match loaded.swap.secret.map(|s| s.source) {
        Some(SecretSource::Maker {
            maker_claim: Some(c),
        }) => u32::try_from(c.fee_ladder.len().checked_sub(1)?).ok(),
        _ => None,
    }
}

/// Whether the swap still wants the row's claim of the row's lock. The core's level-based rules
/// answer from the record: not once the HTLC's spend is in a block, nor when the swap stopped
/// needing it.
fn claim_due(swap: &Swap, row: &DueRow) -> bool {
    swap.due_actions().iter().any(|a| match a {
        Action::BroadcastMakerClaim { lock, .. } => row
            .action
            .lock
            .as_ref()
            .is_none_or(|l| lock_in(l).is_ok_and(|l| l == *lock)),
        _ => false,
    })
}

/// Close the parked rows whose claim is no longer due (the chain settled it meanwhile), so that
/// ListStuck stops showing them. Parked rows are few: each one already paged an operator.
async fn close_settled_parked(engine: &Engine) -> Result<usize, StoreError> {
    let mut n = 0;
    for row in engine.store.parked_for("relayer", BATCH).await? {
        let loaded = engine.store.load(row.swap).await?;
        if !claim_due(&loaded.swap, &row) {
            engine.store.mark_done(row.id, None, "not due").await?;
            info!(swap_id = %hex::encode(row.swap.0), outbox_id = row.id, "parked maker claim no longer due; row closed");
            n += 1;
        }
    }
    Ok(n)
}

async fn broadcast_claim(
    engine: &Engine,
    btc: &BtcBroadcaster,
    row: &DueRow,
) -> Result<Done, DispatchError> {
    let loaded = engine.store.load(row.swap).await?;
    if !claim_due(&loaded.swap, row) {
        return Ok(Done::NotDue);
    }
    let ladder = match loaded.swap.secret.map(|s| s.source) {
        Some(SecretSource::Maker {
            maker_claim: Some(c),
        }) if !c.fee_ladder.is_empty() => c.fee_ladder,
        _ => {
            return Err(DispatchError::Refused(
                "the swap has no pre-signed claim to broadcast".to_owned(),
            ));
        }
    };
    let top = ladder.len() - 1;
    let i = usize::try_from(row.rung).unwrap_or(top).min(top);
    let rung = u32::try_from(i).unwrap_or(u32::MAX);
    let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&ladder[i]).map_err(|_| {
        DispatchError::Refused(format!("pre-signed claim rung {i} does not decode"))
    })?;
    match btc.broadcast(tx).await {
        Ok(crosslock_btc::electrum::Broadcast::Accepted(t)) => Ok(Done::Accepted(t, rung)),
        Ok(crosslock_btc::electrum::Broadcast::AlreadyKnown(t)) => Ok(Done::AlreadyKnown(t, rung)),
        Err(crosslock_btc::electrum::BroadcastError::Rejected(why)) => {
            Err(DispatchError::Refused(why))
        }
        Err(crosslock_btc::electrum::BroadcastError::Adapter(e)) => {
            Err(DispatchError::Unreachable(e))
        }
    }
}

/// Run the dispatcher until shutdown, one replica at a time.
pub async fn run_dispatcher(
    engine: Engine,
    btc: BtcBroadcaster,
    every: Duration,
    policy: RetryPolicy,
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
                if let Err(e) = dispatch_once(&engine, &btc, &policy).await {
                    warn!(error = %e, "dispatcher pass failed");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "dispatcher lease failed"),
        }
        if let Ok(n) = engine.store.parked_count().await {
            crate::metrics::claims_parked(n);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy {
            max_rejections: 3,
            backoff: Duration::from_secs(10),
            backoff_max: Duration::from_secs(25),
        }
    }

    #[test]
    fn refusals_back_off_then_climb_the_ladder_then_park_at_the_top() {
        let p = p();
        assert_eq!(
            after_refusal(0, 0, 2, &p),
            RetryStep::Backoff {
                attempts: 1,
                after: Duration::from_secs(10)
            }
        );
        assert_eq!(
            after_refusal(1, 0, 2, &p),
            RetryStep::Backoff {
                attempts: 2,
                after: Duration::from_secs(20)
            }
        );
        assert_eq!(after_refusal(2, 0, 2, &p), RetryStep::NextRung { rung: 1 });
        assert_eq!(after_refusal(2, 1, 2, &p), RetryStep::NextRung { rung: 2 });
        assert_eq!(after_refusal(2, 2, 2, &p), RetryStep::Park { attempts: 3 });
        // A one-rung ladder parks after the last refusal; waits are capped.
        assert_eq!(after_refusal(2, 0, 0, &p), RetryStep::Park { attempts: 3 });
        let long = RetryPolicy {
            max_rejections: 40,
            ..p
        };
        assert_eq!(
            after_refusal(30, 0, 0, &long),
            RetryStep::Backoff {
                attempts: 31,
                after: Duration::from_secs(25)
            }
        );
        // A single allowed refusal moves on at once.
        let one = RetryPolicy {
            max_rejections: 1,
            ..p
        };
        assert_eq!(
            after_refusal(0, 0, 1, &one),
            RetryStep::NextRung { rung: 1 }
        );
    }
}
