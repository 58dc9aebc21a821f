//! The Electrum chain adapter: one connection to an Electrum server that subscribes to the tip
//! and to every watched HTLC script, feeds what changes into the [`Watcher`], broadcasts, and
//! reconnects with backoff when the server goes away.
//!
//! Owns the connection and its subscriptions. Work per new block does not grow with the number of
//! HTLCs watched: the server pushes a status notification only for scripts whose history changed,
//! the connection queues those by script hash as they arrive, and only those scripts are fetched
//! again (their histories and new transactions in pipelined requests, two round trips for any
//! number of them). Subscribing many scripts is pipelined too, so a reconnect with 100,000 HTLCs
//! costs a few hundred round trips, not 100,000. It must never treat "already in the mempool / in
//! the chain" as a failed broadcast, and never lose a subscription or an event silently: after a
//! reconnect every script is subscribed again and any whose status moved is fetched again, and
//! events found while reconnecting for a broadcast are kept for the next poll.
//!
//! Transports: `tcp://host:port` (or a bare `host:port`) and `ssl://host:port` (TLS, see
//! [`transport`]). Blocking, like the rest of the crate's I/O: async callers run it on a blocking
//! thread.

mod rpc;
pub mod transport;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bdk_electrum::electrum_client::raw_client::RawClient;
use bdk_electrum::electrum_client::{ElectrumApi as _, Param};
use bitcoin::hashes::{Hash, sha256};
use bitcoin::{ScriptBuf, Transaction, Txid};
use thiserror::Error;

use self::rpc::{Conn, HistoryEntry, RpcError, ScriptHash, Status, Tip, script_hash};
pub use self::transport::{ElectrumStream, ElectrumUrl, TlsRoots};
use crate::htlc::HtlcParams;
use crate::types::BtcHeight;
use crate::watcher::{ChainEvent, TxStatus, Watcher};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ElectrumConfig {
    /// `tcp://host:port`, `ssl://host:port` (TLS), or `host:port` (TCP).
    pub url: String,
    /// What an `ssl://` server's certificate must chain to (the system's roots by default).
    pub tls_roots: TlsRoots,
    /// Connect timeout per address, and socket read/write timeout.
    pub timeout: Duration,
    /// First wait before reconnecting; doubles after each failure.
    pub backoff_min: Duration,
    /// Longest wait between reconnect attempts.
    pub backoff_max: Duration,
    /// Confirmations are re-reported on each block up to this depth: the deepest finality the
    /// caller waits for.
    pub depth_cap: u32,
}

impl ElectrumConfig {
    /// Defaults for `url`: the system's TLS roots, 10 s timeout, backoff from 250 ms to 30 s,
    /// depth re-reported up to [`crate::watcher::DEFAULT_DEPTH_CAP`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tls_roots: TlsRoots::System,
            timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            depth_cap: crate::watcher::DEFAULT_DEPTH_CAP,
        }
    }
}

/// Why an adapter call failed.
#[derive(Debug, Error)]
pub enum AdapterError {
    /// Not connected; the next attempt is allowed after `retry_in`. `reason` names what failed:
    /// the address, the connect, or the TLS handshake (a refused certificate says so).
    #[error("electrum server unreachable ({reason}); retrying in {retry_in:?}")]
    Disconnected {
        /// What went wrong last.
        reason: String,
        /// When the next attempt may be made.
        retry_in: Duration,
    },
    /// The server answered something we could not use.
    #[error("electrum: {0}")]
    Protocol(String),
    /// The configuration cannot work (a malformed URL, unusable TLS roots); no connection is
    /// attempted until it changes.
    #[error("electrum config: {0}")]
    Config(String),
}

/// The outcome of a broadcast that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// The server accepted it now.
    Accepted(Txid),
    /// The server already had it, in its mempool or in a block: as good as accepted.
    AlreadyKnown(Txid),
}

/// Why a broadcast failed.
#[derive(Debug, Error)]
pub enum BroadcastError {
    /// The node refused it (non-final, conflict, fee too low, script failure...), with its
    /// message.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The connection failed; broadcasting again later is safe.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Scripts handed to the connection at once when subscribing many: bounds the requests held in
/// memory. The connection pipelines them further, [`rpc::PIPELINE`] per round trip.
const SUBSCRIBE_CHUNK: usize = 4096;

/// Core's messages (and code) for a transaction it already has. Core: "txn-already-in-mempool",
/// "txn-already-known", "Transaction already in block chain" and, since v25,
/// "Transaction outputs already in utxo set", all with RPC_VERIFY_ALREADY_IN_CHAIN = -27 where
/// they come from `sendrawtransaction`.
const ALREADY_KNOWN: [&str; 4] = [
    "txn-already-in-mempool",
    "txn-already-known",
    "Transaction already in block chain",
    "Transaction outputs already in utxo set",
];

/// Whether an Electrum error reports a transaction the node already has.
pub fn is_already_known(err: &serde_json::Value) -> bool {
    let text = err.to_string();
    let code = err.get("code").and_then(serde_json::Value::as_i64);
    code == Some(-27) || ALREADY_KNOWN.iter().any(|m| text.contains(m))
}

struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
    next_try: Instant,
}

impl Backoff {
    fn failed(&mut self) {
        self.next_try = Instant::now() + self.current;
        self.current = (self.current * 2).min(self.max);
    }

    fn reset(&mut self) {
        self.current = self.min;
        self.next_try = Instant::now();
    }
}

/// A watched script: the script itself, and `None` until first fetched, then its last status
/// (`None` inside: an empty history).
struct Watched {
    script: ScriptBuf,
    status: Option<Option<Status>>,
}

/// The adapter; `K` is the caller's id for an HTLC (a swap id).
pub struct ElectrumWatcher<K> {
    config: ElectrumConfig,
    url: Result<ElectrumUrl, String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Conn>,
    watcher: Watcher<K>,
    /// Every watched script, by the hash the server names it by.
    scripts: HashMap<ScriptHash, Watched>,
    /// Transactions fetched, so a history change fetches only what is new; with the txids each
    /// script's history holds, so unwatching frees them.
    txs: HashMap<Txid, Transaction>,
    script_txs: HashMap<ScriptHash, Vec<Txid>>,
    /// Events found outside `poll` (a reconnect made by `broadcast`), returned by the next poll.
    pending: Vec<ChainEvent<K>>,
    backoff: Backoff,
    last_error: String,
    connects: u32,
}

impl<K> std::fmt::Debug for ElectrumWatcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectrumWatcher")
            .field("url", &self.config.url)
            .field("connected", &self.conn.is_some())
            .field("scripts", &self.scripts.len())
            .finish()
    }
}

/// The Electrum status of a history: SHA-256 of `txid:height:` for each entry, in order; none
/// for an empty history.
fn status_of(history: &[HistoryEntry]) -> Option<Status> {
    if history.is_empty() {
        return None;
    }
    let text: String = history
        .iter()
        .map(|h| format!("{}:{}:", h.txid, h.height))
        .collect();
    Some(sha256::Hash::hash(text.as_bytes()).to_byte_array())
}

/// electrum-client's `RawClient` over this module's transports (`ssl://` included), for
/// `bdk_electrum` (the wallet's sync). It has sent `server.version`.
pub fn wallet_client(config: &ElectrumConfig) -> Result<RawClient<ElectrumStream>, AdapterError> {
    let url: ElectrumUrl = config.url.parse().map_err(AdapterError::Config)?;
    let tls = if url.tls {
        Some(transport::tls_config(&config.tls_roots).map_err(AdapterError::Config)?)
    } else {
        None
    };
    let stream = transport::connect(&url, config.timeout, tls.as_ref()).map_err(|reason| {
        AdapterError::Disconnected {
            reason,
            retry_in: Duration::ZERO,
        }
    })?;
    let client = RawClient::from(stream);
    client
        .raw_call(
            "server.version",
            [
                Param::String(concat!("crosslock-btc ", env!("CARGO_PKG_VERSION")).to_owned()),
                Param::String("1.4".to_owned()),
            ],
        )
        .map_err(|e| AdapterError::Protocol(e.to_string()))?;
    Ok(client)
}

impl<K: Clone + Eq> ElectrumWatcher<K> {
    /// An adapter that connects on first use.
    pub fn new(config: ElectrumConfig) -> Self {
        let watcher = Watcher::new().with_depth_cap(config.depth_cap);
        let backoff = Backoff {
            min: config.backoff_min,
            max: config.backoff_max,
            current: config.backoff_min,
            next_try: Instant::now(),
        };
        Self {
            url: config.url.parse(),
            config,
            tls: None,
            conn: None,
            watcher,
            scripts: HashMap::new(),
            txs: HashMap::new(),
            script_txs: HashMap::new(),
            pending: Vec::new(),
            backoff,
            last_error: String::new(),
            connects: 0,
        }
    }

    /// How many times a connection was established (for tests and metrics).
    pub fn connects(&self) -> u32 {
        self.connects
    }

    /// Round trips made on the current connection (0 when disconnected): one per request, or
    /// per group of pipelined requests. Shows that the work per block does not grow with the
    /// number of scripts watched.
    pub fn calls_made(&self) -> usize {
        self.conn.as_ref().map_or(0, Conn::round_trips)
    }

    /// How many HTLCs are watched.
    pub fn watched(&self) -> usize {
        self.scripts.len()
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The last tip seen.
    pub fn tip(&self) -> Option<BtcHeight> {
        self.watcher.tip().map(|t| t.0)
    }

    fn disconnected(&self) -> AdapterError {
        AdapterError::Disconnected {
            reason: self.last_error.clone(),
            retry_in: self
                .backoff
                .next_try
                .saturating_duration_since(Instant::now()),
        }
    }

    fn drop_connection(&mut self, reason: String) -> AdapterError {
        tracing::warn!(error = %reason, url = %self.config.url, "electrum connection lost");
        self.conn = None;
        self.last_error = reason;
        self.backoff.failed();
        self.disconnected()
    }

    fn fail(&mut self, e: RpcError) -> AdapterError {
        match e {
            RpcError::Io(e) => self.drop_connection(e.to_string()),
            RpcError::Server(v) => AdapterError::Protocol(v.to_string()),
            RpcError::Invalid(s) => AdapterError::Protocol(s),
        }
    }

    fn conn(&mut self) -> Result<&mut Conn, AdapterError> {
        if self.conn.is_none() {
            return Err(self.disconnected());
        }
        self.conn
            .as_mut()
            .ok_or_else(|| AdapterError::Protocol("no connection".into()))
    }

    /// Connects if needed and allowed by the backoff; on a new connection subscribes the tip
    /// and every script and refreshes those whose status moved while we were away.
    fn ensure_connected(&mut self, events: &mut Vec<ChainEvent<K>>) -> Result<(), AdapterError> {
        if self.conn.is_some() {
            return Ok(());
        }
        if Instant::now() < self.backoff.next_try {
            return Err(self.disconnected());
        }
        let url = self.url.clone().map_err(AdapterError::Config)?;
        if url.tls && self.tls.is_none() {
            let tls =
                transport::tls_config(&self.config.tls_roots).map_err(AdapterError::Config)?;
            self.tls = Some(tls);
        }
        let stream = match transport::connect(&url, self.config.timeout, self.tls.as_ref()) {
            Ok(s) => s,
            Err(reason) => return Err(self.drop_connection(reason)),
        };
        let mut conn = Conn::new(stream);
        let tip = match conn.version().and_then(|()| conn.subscribe_tip()) {
            Ok(t) => t,
            Err(e) => return Err(self.drop_connection(format!("{url}: {e}"))),
        };
        self.conn = Some(conn);
        self.connects += 1;
        self.backoff.reset();
        tracing::info!(url = %self.config.url, height = tip.height, "electrum connected");
        events.extend(self.on_tip(&tip));
        let all: Vec<ScriptHash> = self.scripts.keys().copied().collect();
        self.subscribe(&all, events)
    }

    fn on_tip(&mut self, tip: &Tip) -> Vec<ChainEvent<K>> {
        self.watcher.on_tip(
            BtcHeight(tip.height),
            tip.header.block_hash(),
            tip.header.prev_blockhash,
        )
    }

    /// Subscribes `hashes` (pipelined) and refreshes those whose status differs from the last
    /// one seen.
    fn subscribe(
        &mut self,
        hashes: &[ScriptHash],
        events: &mut Vec<ChainEvent<K>>,
    ) -> Result<(), AdapterError> {
        for chunk in hashes.chunks(SUBSCRIBE_CHUNK) {
            let r = self.conn()?.subscribe(chunk);
            let statuses = r.map_err(|e| self.fail(e))?;
            self.on_statuses(chunk.iter().copied().zip(statuses), false, events)?;
        }
        Ok(())
    }

    /// Brings scripts up to date after the server reported their statuses. On a subscription
    /// (`notified` false) an unchanged status needs no fetch. A notification always fetches:
    /// a status can return to an earlier value (a claim confirmed, then reorged back to the
    /// mempool), so two notifications read in one poll may end on the status we hold.
    fn on_statuses(
        &mut self,
        statuses: impl IntoIterator<Item = (ScriptHash, Option<Status>)>,
        notified: bool,
        events: &mut Vec<ChainEvent<K>>,
    ) -> Result<(), AdapterError> {
        let mut fetch = vec![];
        for (sh, status) in statuses {
            let Some(w) = self.scripts.get_mut(&sh) else {
                continue; // unwatched meanwhile
            };
            if !notified && w.status == Some(status) {
                continue;
            }
            if status.is_some() {
                fetch.push(sh);
                continue;
            }
            // No status means an empty history: nothing to fetch.
            w.status = Some(None);
            let script = w.script.clone();
            events.extend(self.watcher.on_history(&script, &[]));
        }
        self.refresh(&fetch, events)
    }

    /// Fetches the histories of `hashes` and the transactions not cached (two pipelined round
    /// trips for any number of scripts) into the watcher, and records the status of what was
    /// fetched (which may be newer than the status notified).
    fn refresh(
        &mut self,
        hashes: &[ScriptHash],
        events: &mut Vec<ChainEvent<K>>,
    ) -> Result<(), AdapterError> {
        for chunk in hashes.chunks(SUBSCRIBE_CHUNK) {
            let r = self.conn()?.histories(chunk);
            let histories = r.map_err(|e| self.fail(e))?;
            let mut missing: Vec<Txid> = histories
                .iter()
                .flatten()
                .map(|h| h.txid)
                .filter(|t| !self.txs.contains_key(t))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            if !missing.is_empty() {
                let r = self.conn()?.transactions(&missing);
                let txs = r.map_err(|e| self.fail(e))?;
                self.txs.extend(missing.into_iter().zip(txs));
            }
            for (sh, history) in chunk.iter().zip(histories) {
                let Some(w) = self.scripts.get_mut(sh) else {
                    continue;
                };
                w.status = Some(status_of(&history));
                let script = w.script.clone();
                let view: Vec<(Transaction, TxStatus)> = history
                    .iter()
                    .filter_map(|h| {
                        self.txs
                            .get(&h.txid)
                            .map(|tx| (tx.clone(), TxStatus::from_electrum(h.height)))
                    })
                    .collect();
                events.extend(self.watcher.on_history(&script, &view));
                self.script_txs
                    .insert(*sh, history.iter().map(|h| h.txid).collect());
            }
        }
        Ok(())
    }

    /// Starts watching an HTLC; returns what is already known about it (one round trip when
    /// connected). While the server is unreachable this fails with `Disconnected`, but the HTLC
    /// stays registered: it is subscribed as soon as a connection is made again.
    pub fn watch(&mut self, id: K, params: HtlcParams) -> Result<Vec<ChainEvent<K>>, AdapterError> {
        self.watch_many([(id, params)])
    }

    /// Starts watching many HTLCs at once, their subscriptions pipelined: a few hundred per
    /// round trip rather than one. Otherwise as [`Self::watch`]; on failure every one of them
    /// stays registered.
    pub fn watch_many(
        &mut self,
        htlcs: impl IntoIterator<Item = (K, HtlcParams)>,
    ) -> Result<Vec<ChainEvent<K>>, AdapterError> {
        let mut fresh = vec![];
        for (id, params) in htlcs {
            let script = self.watcher.watch(id, params);
            let sh = script_hash(&script);
            match self.scripts.entry(sh) {
                Entry::Vacant(v) => {
                    v.insert(Watched {
                        script,
                        status: None,
                    });
                    fresh.push(sh);
                }
                // Registered while the server was away, or its subscription failed.
                Entry::Occupied(o) if o.get().status.is_none() => fresh.push(sh),
                // Already subscribed on this connection, or subscribed on the next one.
                Entry::Occupied(_) => {}
            }
        }
        let mut events = std::mem::take(&mut self.pending);
        let before = self.connects;
        if let Err(e) = self.ensure_connected(&mut events) {
            self.pending = events;
            return Err(e);
        }
        // A new connection has just subscribed every script, these included.
        if self.connects == before
            && let Err(e) = self.subscribe(&fresh, &mut events)
        {
            self.pending = events;
            return Err(e);
        }
        Ok(events)
    }

    /// Stops watching an HTLC.
    pub fn unwatch(&mut self, params: &HtlcParams) {
        let script = params.script_pubkey();
        let sh = script_hash(&script);
        self.watcher.unwatch(&script);
        self.scripts.remove(&sh);
        // A transaction in two watched histories is dropped here too; it is fetched again if
        // needed.
        for txid in self.script_txs.remove(&sh).unwrap_or_default() {
            self.txs.remove(&txid);
        }
        if let Some(c) = self.conn.as_mut()
            && let Err(RpcError::Io(e)) = c.unsubscribe(&sh)
        {
            self.drop_connection(e.to_string());
        }
    }

    /// Reads what the server pushed since the last call (one round trip to flush the socket),
    /// fetches what changed, and returns the events. Call it on a timer; on `Disconnected` call
    /// it again after `retry_in`.
    pub fn poll(&mut self) -> Result<Vec<ChainEvent<K>>, AdapterError> {
        let mut events = std::mem::take(&mut self.pending);
        let r = self.poll_into(&mut events);
        match r {
            Ok(()) => Ok(events),
            Err(e) => {
                self.pending = events;
                Err(e)
            }
        }
    }

    fn poll_into(&mut self, events: &mut Vec<ChainEvent<K>>) -> Result<(), AdapterError> {
        self.ensure_connected(events)?;
        let r = self.conn()?.ping();
        r.map_err(|e| self.fail(e))?;
        let conn = self.conn()?;
        let tips = conn.take_tips();
        let notes = conn.take_statuses();
        for tip in &tips {
            let ev = self.on_tip(tip);
            events.extend(ev);
        }
        // The latest status of each script notified, in the order first notified.
        let mut latest: HashMap<ScriptHash, Option<Status>> = HashMap::with_capacity(notes.len());
        let mut order = Vec::with_capacity(notes.len());
        for (sh, status) in notes {
            if latest.insert(sh, status).is_none() {
                order.push(sh);
            }
        }
        let statuses: Vec<(ScriptHash, Option<Status>)> = order
            .into_iter()
            .filter_map(|sh| latest.get(&sh).map(|st| (sh, *st)))
            .collect();
        self.on_statuses(statuses, true, events)
    }

    /// Broadcasts `tx`. A transaction the node already has counts as success, so re-broadcasting
    /// after a crash or on every block is harmless.
    pub fn broadcast(&mut self, tx: &Transaction) -> Result<Broadcast, BroadcastError> {
        let mut events = std::mem::take(&mut self.pending);
        let connected = self.ensure_connected(&mut events);
        self.pending = events;
        connected?;
        let txid = tx.compute_txid();
        let r = self.conn()?.broadcast(tx);
        match r {
            Ok(()) => Ok(Broadcast::Accepted(txid)),
            Err(RpcError::Server(v)) if is_already_known(&v) => Ok(Broadcast::AlreadyKnown(txid)),
            Err(RpcError::Server(v)) => Err(BroadcastError::Rejected(v.to_string())),
            Err(e) => Err(self.fail(e).into()),
        }
    }

    /// Drops the connection (for tests of reconnection, and on shutdown).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::is_already_known;
    use serde_json::json;

    #[test]
    fn cores_already_known_answers_are_recognised() {
        for msg in [
            "txn-already-in-mempool",
            "txn-already-known",
            "Transaction already in block chain",
            "the transaction was rejected by network rules.\n\nTransaction outputs already in utxo set\n[0200]",
        ] {
            assert!(
                is_already_known(&json!({"code": 1, "message": msg})),
                "{msg}"
            );
            assert!(is_already_known(&json!(msg)), "{msg}");
        }
        assert!(is_already_known(
            &json!({"code": -27, "message": "whatever"})
        ));
        for msg in [
            "non-final",
            "bad-txns-inputs-missingorspent",
            "insufficient fee",
            "txn-mempool-conflict",
        ] {
            assert!(
                !is_already_known(&json!({"code": -26, "message": msg})),
                "{msg}"
            );
        }
    }
}
