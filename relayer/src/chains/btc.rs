//! The Bitcoin adapter: `crosslock-btc`'s Electrum watcher as a [`ChainSource`], keyed by
//! hashlock.
//!
//! Owns which HTLC scripts are watched: every open matched swap's at start (and again on a slow
//! timer, so a swap matched on another replica while Redis was down is not missed), plus each
//! swap this replica hears matched through the update fan-out, less each it hears end. The Electrum client blocks, so
//! its `poll` runs on `spawn_blocking`; the events it returns go into a buffer that survives a
//! dropped future, and leave it only once the relayer committed them. Electrum reports by
//! status, not by cursor: after a restart, watching a script reports its current state again,
//! which the state machine absorbs. Also owns the idempotent broadcast the dispatcher uses.
//! It must never drop an event it has taken from the watcher before the commit.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bitcoin::Transaction;
use crosslock_btc::electrum::{Broadcast, BroadcastError, ElectrumConfig, ElectrumWatcher};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::inputs::to_core_event;
use crosslock_btc::watcher::ChainEvent;
use crosslock_core::chain::{BtcPubkey, Chain};
use crosslock_core::secret::Hashlock;
use crosslock_core::swap::{Event, Side};
use crosslock_core::time::{BtcHeight, UnixTime};
use crosslock_proto::public::v1 as pb;
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use crate::metrics as m;
use crate::store::{Store, now_unix};
use crate::watcher::{
    ChainSource, ChainUpdate, CommitFuture, Observation, SourceError, SourceFuture,
};

/// How often the open swaps are re-read, in case an update was missed.
const RELOAD_EVERY: Duration = Duration::from_secs(60);
/// Swap records read per query during a reload.
const RELOAD_PAGE: i64 = 1_000;

type Events = Vec<ChainEvent<[u8; 32]>>;

/// What the blocking side owns: the client and the events it produced and nobody committed.
#[derive(Debug)]
struct Inner {
    electrum: ElectrumWatcher<[u8; 32]>,
    buffer: Events,
}

/// A handle for broadcasting through the adapter's connection (the dispatcher's).
#[derive(Debug, Clone)]
pub struct BtcBroadcaster {
    inner: Arc<Mutex<Inner>>,
}

impl BtcBroadcaster {
    /// Broadcast `tx`; "already known" counts as success, so a re-broadcast after a crash is
    /// harmless.
    pub async fn broadcast(&self, tx: Transaction) -> Result<Broadcast, BroadcastError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || lock(&inner).electrum.broadcast(&tx))
            .await
            .unwrap_or_else(|e| {
                Err(BroadcastError::Rejected(format!(
                    "broadcast task failed: {e}"
                )))
            })
    }
}

/// The Electrum watcher as a [`ChainSource`].
#[derive(Debug)]
pub struct BtcSource {
    inner: Arc<Mutex<Inner>>,
    store: Store,
    network: bitcoin::Network,
    updates: broadcast::Receiver<pb::SwapUpdate>,
    watched: HashSet<[u8; 32]>,
    poll_interval: Duration,
    loaded_at: Option<Instant>,
    tip: Option<(u64, Vec<u8>)>,
    /// Events handed out in the last update, kept until its commit.
    in_flight: Events,
    /// The last poll failed (so the next failure is not logged at warn again).
    failing: bool,
    /// HTLCs of swaps that ended, to unwatch at the next poll.
    gone: Vec<HtlcParams>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // A panic in a blocking poll leaves the watcher usable: its state is only caches.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn terminal(v: &pb::Swap) -> bool {
    matches!(
        pb::SwapState::try_from(v.state),
        Ok(pb::SwapState::Completed | pb::SwapState::Expired | pb::SwapState::Refunded)
    )
}

/// The HTLC a swap record describes, if its Bitcoin terms are fixed.
pub fn htlc_of(view: &pb::Swap) -> Option<([u8; 32], HtlcParams)> {
    let b = view.bitcoin.as_ref()?;
    let hashlock: [u8; 32] = view.hashlock.as_slice().try_into().ok()?;
    let claim = BtcPubkey::from_bytes(&b.claim_pubkey).ok()?;
    let refund = BtcPubkey::from_bytes(&b.refund_pubkey).ok()?;
    let p = HtlcParams::from_core(
        Hashlock(hashlock),
        &claim,
        &refund,
        BtcHeight(b.timeout_height),
    )
    .ok()?;
    Some((hashlock, p))
}

impl BtcSource {
    /// A source on `electrum_url`; nothing is contacted until the first poll.
    pub fn new(
        electrum_url: &str,
        network: bitcoin::Network,
        store: Store,
        updates: broadcast::Receiver<pb::SwapUpdate>,
        poll_interval: Duration,
    ) -> BtcSource {
        BtcSource {
            inner: Arc::new(Mutex::new(Inner {
                electrum: ElectrumWatcher::new(ElectrumConfig::new(electrum_url)),
                buffer: Vec::new(),
            })),
            store,
            network,
            updates,
            watched: HashSet::new(),
            poll_interval,
            loaded_at: None,
            tip: None,
            in_flight: Vec::new(),
            failing: false,
            gone: Vec::new(),
        }
    }

    /// A broadcaster sharing this source's connection.
    pub fn broadcaster(&self) -> BtcBroadcaster {
        BtcBroadcaster {
            inner: self.inner.clone(),
        }
    }

    /// The network the HTLC addresses are for.
    pub fn network(&self) -> bitcoin::Network {
        self.network
    }

    /// HTLCs to start watching: all open swaps when due, plus those announced since.
    async fn new_htlcs(&mut self) -> Result<Vec<([u8; 32], HtlcParams)>, SourceError> {
        let mut out = Vec::new();
        if self.loaded_at.is_none_or(|t| t.elapsed() >= RELOAD_EVERY) {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .open_matched_views(after, RELOAD_PAGE)
                    .await
                    .map_err(|e| SourceError(e.to_string()))?;
                after = page.last().map(|(id, _)| *id);
                for (_, v) in &page {
                    self.fresh(v, &mut out);
                }
                if page.len() < usize::try_from(RELOAD_PAGE).unwrap_or(usize::MAX) {
                    break;
                }
            }
            self.loaded_at = Some(Instant::now());
        }
        loop {
            match self.updates.try_recv() {
                Ok(u) => {
                    if let Some(v) = &u.swap {
                        if terminal(v) {
                            // Done: stop watching, so what is kept stays proportional to the
                            // swaps in flight. (One that ended on another replica while this
                            // one missed the update is dropped at the next restart.)
                            if let Some((h, p)) = htlc_of(v)
                                && self.watched.remove(&h)
                            {
                                self.gone.push(p);
                            }
                        } else {
                            self.fresh(v, &mut out);
                        }
                    }
                }
                // Missed updates are found by the next reload.
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.loaded_at = None,
                Err(_) => break,
            }
        }
        Ok(out)
    }

    fn fresh(&mut self, v: &pb::Swap, out: &mut Vec<([u8; 32], HtlcParams)>) {
        if let Some((h, p)) = htlc_of(v)
            && self.watched.insert(h)
        {
            out.push((h, p));
        }
    }

    async fn step(&mut self) -> Result<Option<ChainUpdate>, SourceError> {
        tokio::time::sleep(self.poll_interval).await;
        let fresh = self.new_htlcs().await?;
        let gone = std::mem::take(&mut self.gone);
        let inner = self.inner.clone();
        let polled = tokio::task::spawn_blocking(move || {
            let mut g = lock(&inner);
            let mut err = None;
            for p in &gone {
                g.electrum.unwatch(p);
            }
            if !fresh.is_empty() {
                // Pipelined; on failure every HTLC stays registered and is subscribed on
                // reconnect.
                match g.electrum.watch_many(fresh) {
                    Ok(ev) => g.buffer.extend(ev),
                    Err(e) => err = Some(e.to_string()),
                }
            }
            match g.electrum.poll() {
                Ok(ev) => g.buffer.extend(ev),
                Err(e) => err = Some(e.to_string()),
            }
            err
        })
        .await
        .map_err(|e| SourceError(format!("electrum task failed: {e}")))?;
        m::btc_watched(self.watched.len());
        match (&polled, self.failing) {
            // Said once when it starts failing (a wrong certificate, a server gone), then
            // quietly until it recovers.
            (Some(e), false) => warn!(error = %e, "electrum poll failed; retrying"),
            (Some(e), true) => debug!(error = %e, "electrum poll"),
            (None, true) => info!("electrum poll recovered"),
            (None, false) => {}
        }
        self.failing = polled.is_some();
        let mut events = std::mem::take(&mut self.in_flight);
        events.append(&mut lock(&self.inner).buffer);
        let now = UnixTime(now_unix());
        let mut observations = Vec::new();
        for ev in &events {
            if let ChainEvent::Tip { height, hash, .. } = ev {
                self.tip = Some((u64::from(height.0), hash.to_byte_array_vec()));
            } else if let Some(o) = observation(ev, now) {
                observations.push(o);
            }
        }
        if events.is_empty() {
            if polled.is_some() {
                return Err(SourceError("electrum unreachable".to_owned()));
            }
            return Ok(None);
        }
        let Some((height, hash)) = self.tip.clone() else {
            // No tip yet: keep the events for the next step.
            self.in_flight = events;
            return Ok(None);
        };
        self.in_flight = events;
        Ok(Some(ChainUpdate {
            height,
            hash,
            // Electrum headers carry a timestamp, but the watcher does not pass it on; the
            // Bitcoin clock only uses the height.
            time: now.0,
            observations,
        }))
    }
}

trait HashBytes {
    fn to_byte_array_vec(&self) -> Vec<u8>;
}

impl HashBytes for bitcoin::BlockHash {
    fn to_byte_array_vec(&self) -> Vec<u8> {
        use bitcoin::hashes::Hash;
        self.to_byte_array().to_vec()
    }
}

/// One watcher event as a relayer observation (the side is the relayer's to decide, so the
/// core event is built with a placeholder and only its chain facts are kept).
pub fn observation(ev: &ChainEvent<[u8; 32]>, now: UnixTime) -> Option<Observation> {
    let hashlock = match ev {
        ChainEvent::Funding { id, .. } => *id,
        _ => [0; 32],
    };
    Some(match to_core_event(ev, Side::Src, now)? {
        Event::LockSeen {
            lock,
            amount,
            depth,
            ..
        } => Observation::LockSeen {
            hashlock,
            lock,
            amount,
            depth,
        },
        Event::LockUnconfirmed { lock, depth, .. } => Observation::LockUnconfirmed { lock, depth },
        Event::SpendSeen {
            lock,
            tx,
            kind,
            depth,
            ..
        } => Observation::SpendSeen {
            lock,
            tx,
            kind,
            depth,
        },
        Event::SpendUnconfirmed {
            lock, tx, depth, ..
        } => Observation::SpendUnconfirmed { lock, tx, depth },
        other => {
            warn!(event = ?other, "unexpected event from the bitcoin watcher");
            return None;
        }
    })
}

impl ChainSource for BtcSource {
    fn chain(&self) -> Chain {
        Chain::Bitcoin
    }

    fn next(&mut self, _cursor: Option<(u64, Vec<u8>)>) -> SourceFuture<'_> {
        Box::pin(self.step())
    }

    fn commit(&mut self) -> CommitFuture<'_> {
        self.in_flight.clear();
        Box::pin(async { Ok(()) })
    }
}
