//! The Electrum chain adapter: one connection to an Electrum server that subscribes to the tip
//! and to every watched HTLC script, feeds what changes into the [`Watcher`], broadcasts, and
//! reconnects with backoff when the server goes away.
//!
//! Owns the connection and its subscriptions. Work per new block does not grow with the number of
//! HTLCs watched: the server pushes a status notification only for scripts whose history changed,
//! and only those are fetched again (checking the client's notification queue is an in-memory
//! lookup per script, no I/O). It must never treat "already in the mempool / in the chain" as a
//! failed broadcast, and never lose a subscription silently: after a reconnect every script is
//! subscribed again and any whose status moved is fetched again.
//!
//! Blocking, like electrum-client itself: async callers run it on a blocking thread.

use std::collections::HashMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bdk_electrum::electrum_client::raw_client::RawClient;
use bdk_electrum::electrum_client::{self, ElectrumApi, GetHistoryRes, ScriptStatus};
use bitcoin::hashes::{Hash, sha256};
use bitcoin::{ScriptBuf, Transaction, Txid};
use thiserror::Error;

use crate::htlc::HtlcParams;
use crate::types::BtcHeight;
use crate::watcher::{ChainEvent, TxStatus, Watcher};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ElectrumConfig {
    /// `host:port` or `tcp://host:port` (plain TCP: loopback or a tunnel).
    pub url: String,
    /// Socket read/write timeout.
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
    /// Defaults for `url`: 10 s timeout, backoff from 250 ms to 30 s, depth re-reported up to
    /// [`crate::watcher::DEFAULT_DEPTH_CAP`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
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
    /// Not connected; the next attempt is allowed after `retry_in`.
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

/// Scripts subscribed per request after a (re)connect: one round trip per batch, not per HTLC.
const SUBSCRIBE_BATCH: usize = 200;

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

/// The adapter; `K` is the caller's id for an HTLC (a swap id).
pub struct ElectrumWatcher<K> {
    config: ElectrumConfig,
    client: Option<RawClient<TcpStream>>,
    watcher: Watcher<K>,
    /// Per script: `None` until first fetched, then the last status (`None` = empty history).
    statuses: HashMap<ScriptBuf, Option<Option<ScriptStatus>>>,
    /// Transactions fetched, so a history change fetches only what is new; with the txids each
    /// script's history holds, so unwatching frees them.
    txs: HashMap<Txid, Transaction>,
    script_txs: HashMap<ScriptBuf, Vec<Txid>>,
    backoff: Backoff,
    last_error: String,
    connects: u32,
}

impl<K> std::fmt::Debug for ElectrumWatcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectrumWatcher")
            .field("url", &self.config.url)
            .field("connected", &self.client.is_some())
            .field("scripts", &self.statuses.len())
            .finish()
    }
}

/// The Electrum status of a history: SHA-256 of `txid:height:` for each entry, in order; none
/// for an empty history.
fn status_of(history: &[GetHistoryRes]) -> Option<ScriptStatus> {
    if history.is_empty() {
        return None;
    }
    let text: String = history
        .iter()
        .map(|h| format!("{}:{}:", h.tx_hash, h.height))
        .collect();
    Some(sha256::Hash::hash(text.as_bytes()).to_byte_array().into())
}

fn is_connection_error(e: &electrum_client::Error) -> bool {
    use electrum_client::Error as E;
    matches!(
        e,
        E::IOError(_)
            | E::SharedIOError(_)
            | E::AllAttemptsErrored(_)
            | E::CouldntLockReader
            | E::Mpsc
            | E::MissingDomain
    )
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
            config,
            client: None,
            watcher,
            statuses: HashMap::new(),
            txs: HashMap::new(),
            script_txs: HashMap::new(),
            backoff,
            last_error: String::new(),
            connects: 0,
        }
    }

    /// How many times a connection was established (for tests and metrics).
    pub fn connects(&self) -> u32 {
        self.connects
    }

    /// Requests sent on the current connection (0 when disconnected), to show that the work per
    /// block does not grow with the number of scripts watched.
    pub fn calls_made(&self) -> usize {
        self.client
            .as_ref()
            .and_then(|c| c.calls_made().ok())
            .unwrap_or(0)
    }

    /// How many HTLCs are watched.
    pub fn watched(&self) -> usize {
        self.statuses.len()
    }

    /// Whether a connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    /// The last tip seen.
    pub fn tip(&self) -> Option<BtcHeight> {
        self.watcher.tip().map(|t| t.0)
    }

    fn addr(&self) -> &str {
        let u = self.config.url.as_str();
        u.strip_prefix("tcp://").unwrap_or(u)
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

    fn drop_connection(&mut self, e: &electrum_client::Error) -> AdapterError {
        tracing::warn!(error = %e, url = %self.config.url, "electrum connection lost");
        self.client = None;
        self.last_error = e.to_string();
        self.backoff.failed();
        self.disconnected()
    }

    fn fail(&mut self, e: electrum_client::Error) -> AdapterError {
        if is_connection_error(&e) {
            self.drop_connection(&e)
        } else {
            AdapterError::Protocol(e.to_string())
        }
    }

    /// Connects if needed and allowed by the backoff; on a new connection subscribes the tip
    /// and every script and refreshes those whose status moved while we were away.
    fn ensure_connected(&mut self, events: &mut Vec<ChainEvent<K>>) -> Result<(), AdapterError> {
        if self.client.is_some() {
            return Ok(());
        }
        if Instant::now() < self.backoff.next_try {
            return Err(self.disconnected());
        }
        let client = match RawClient::new(self.addr().to_owned(), Some(self.config.timeout), None) {
            Ok(c) => c,
            Err(e) => return Err(self.drop_connection(&e)),
        };
        let header = match client.block_headers_subscribe() {
            Ok(h) => h,
            Err(e) => return Err(self.drop_connection(&e)),
        };
        self.client = Some(client);
        self.connects += 1;
        self.backoff.reset();
        tracing::info!(url = %self.config.url, height = header.height, "electrum connected");
        events.extend(self.on_header(header.height, &header.header));
        let scripts: Vec<ScriptBuf> = self.statuses.keys().cloned().collect();
        for chunk in scripts.chunks(SUBSCRIBE_BATCH) {
            let r = self
                .client()?
                .batch_script_subscribe(chunk.iter().map(|s| s.as_script()));
            let statuses = r.map_err(|e| self.fail(e))?;
            for (script, status) in chunk.iter().zip(statuses) {
                self.on_status(script, status, false, events)?;
            }
        }
        Ok(())
    }

    fn on_header(&mut self, height: usize, header: &bitcoin::block::Header) -> Vec<ChainEvent<K>> {
        let h = BtcHeight(u32::try_from(height).unwrap_or(u32::MAX));
        self.watcher
            .on_tip(h, header.block_hash(), header.prev_blockhash)
    }

    fn client(&self) -> Result<&RawClient<TcpStream>, AdapterError> {
        self.client.as_ref().ok_or_else(|| self.disconnected())
    }

    /// Subscribes `script` and refreshes it if its status differs from the last one seen.
    fn subscribe(
        &mut self,
        script: &ScriptBuf,
        events: &mut Vec<ChainEvent<K>>,
    ) -> Result<(), AdapterError> {
        let r = self.client()?.script_subscribe(script);
        let status = match r {
            Ok(s) => s,
            // A subscription that survived (same connection) is fine.
            Err(electrum_client::Error::AlreadySubscribed(_)) => return Ok(()),
            Err(e) => return Err(self.fail(e)),
        };
        self.on_status(script, status, false, events)
    }

    /// Brings `script` up to date after the server reported `status` for it. On a subscription
    /// (`notified` false) an unchanged status needs no fetch. A notification always fetches:
    /// a status can return to an earlier value (a claim confirmed, then reorged back to the
    /// mempool), so two notifications read in one poll may end on the status we hold.
    fn on_status(
        &mut self,
        script: &ScriptBuf,
        status: Option<ScriptStatus>,
        notified: bool,
        events: &mut Vec<ChainEvent<K>>,
    ) -> Result<(), AdapterError> {
        if !notified && self.statuses.get(script) == Some(&Some(status)) {
            return Ok(());
        }
        let held = if status.is_none() {
            // No status means an empty history: nothing to fetch.
            events.extend(self.watcher.on_history(script, &[]));
            None
        } else {
            self.refresh(script, events)?
        };
        self.statuses.insert(script.clone(), Some(held));
        Ok(())
    }

    /// Fetches the history of `script` (and any transactions not cached) into the watcher, and
    /// returns the status of what was fetched (which may be newer than the status notified).
    fn refresh(
        &mut self,
        script: &ScriptBuf,
        events: &mut Vec<ChainEvent<K>>,
    ) -> Result<Option<ScriptStatus>, AdapterError> {
        let r = self.client()?.script_get_history(script);
        let history = r.map_err(|e| self.fail(e))?;
        let missing: Vec<Txid> = history
            .iter()
            .map(|h| h.tx_hash)
            .filter(|t| !self.txs.contains_key(t))
            .collect();
        if !missing.is_empty() {
            let r = self.client()?.batch_transaction_get(&missing);
            for tx in r.map_err(|e| self.fail(e))? {
                self.txs.insert(tx.compute_txid(), tx);
            }
        }
        self.script_txs
            .insert(script.clone(), history.iter().map(|h| h.tx_hash).collect());
        let view: Vec<(Transaction, TxStatus)> = history
            .iter()
            .filter_map(|h| {
                self.txs
                    .get(&h.tx_hash)
                    .map(|tx| (tx.clone(), TxStatus::from_electrum(h.height)))
            })
            .collect();
        events.extend(self.watcher.on_history(script, &view));
        Ok(status_of(&history))
    }

    /// Starts watching an HTLC; returns what is already known about it. While the server is
    /// unreachable this fails with `Disconnected`, but the HTLC stays registered: it is
    /// subscribed as soon as a connection is made again.
    pub fn watch(&mut self, id: K, params: HtlcParams) -> Result<Vec<ChainEvent<K>>, AdapterError> {
        let script = self.watcher.watch(id, params);
        self.statuses.entry(script.clone()).or_insert(None);
        let mut events = vec![];
        let before = self.connects;
        self.ensure_connected(&mut events)?;
        // A new connection has just subscribed every script, this one included.
        if self.connects == before {
            self.subscribe(&script, &mut events)?;
        }
        Ok(events)
    }

    /// Stops watching an HTLC.
    pub fn unwatch(&mut self, params: &HtlcParams) {
        let script = params.script_pubkey();
        self.watcher.unwatch(&script);
        self.statuses.remove(&script);
        // A transaction in two watched histories is dropped here too; it is fetched again if
        // needed.
        for txid in self.script_txs.remove(&script).unwrap_or_default() {
            self.txs.remove(&txid);
        }
        if let Some(c) = &self.client {
            let _ = c.script_unsubscribe(&script);
        }
    }

    /// Reads what the server pushed since the last call (one round trip to flush the socket)
    /// and returns the events. Call it on a timer; on `Disconnected` call it again after
    /// `retry_in`.
    pub fn poll(&mut self) -> Result<Vec<ChainEvent<K>>, AdapterError> {
        let mut events = vec![];
        self.ensure_connected(&mut events)?;
        let r = self.client()?.ping();
        r.map_err(|e| self.fail(e))?;
        loop {
            let r = self.client()?.block_headers_pop();
            match r.map_err(|e| self.fail(e))? {
                Some(h) => {
                    let ev = self.on_header(h.height, &h.header);
                    events.extend(ev);
                }
                None => break,
            }
        }
        let scripts: Vec<ScriptBuf> = self.statuses.keys().cloned().collect();
        for s in scripts {
            let mut latest = None;
            loop {
                let r = self.client()?.script_pop(&s);
                match r {
                    Ok(Some(st)) => latest = Some(Some(st)),
                    Ok(None) => break,
                    Err(electrum_client::Error::NotSubscribed(_)) => break,
                    Err(e) => return Err(self.fail(e)),
                }
            }
            if let Some(st) = latest {
                self.on_status(&s, st, true, &mut events)?;
            }
        }
        Ok(events)
    }

    /// Broadcasts `tx`. A transaction the node already has counts as success, so re-broadcasting
    /// after a crash or on every block is harmless.
    pub fn broadcast(&mut self, tx: &Transaction) -> Result<Broadcast, BroadcastError> {
        let mut events = vec![];
        self.ensure_connected(&mut events)?;
        let txid = tx.compute_txid();
        let r = self.client()?.transaction_broadcast(tx);
        match r {
            Ok(_) => Ok(Broadcast::Accepted(txid)),
            Err(electrum_client::Error::Protocol(v)) if is_already_known(&v) => {
                Ok(Broadcast::AlreadyKnown(txid))
            }
            Err(electrum_client::Error::Protocol(v)) => {
                Err(BroadcastError::Rejected(v.to_string()))
            }
            Err(e) => Err(self.fail(e).into()),
        }
    }

    /// Drops the connection (for tests of reconnection, and on shutdown).
    pub fn disconnect(&mut self) {
        self.client = None;
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
