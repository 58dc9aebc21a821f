//! The Electrum protocol on one connection: newline-delimited JSON-RPC requests, many in flight
//! per round trip, and the server's notifications queued as they arrive.
//!
//! Owns the request ids and the notification queues. Pipelining is bounded: at most
//! [`PIPELINE`] requests are written before their answers are read, so neither side can fill
//! its socket buffers while the other waits to write. Notifications are queued in arrival order
//! with the script hash they name, so the adapter handles only the scripts that changed and never
//! walks every script it watches. It never retries: any I/O error ends the connection.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::{Hash as _, sha256};
use bitcoin::{Script, Transaction, Txid};
use serde_json::{Value, json};

use super::transport::ElectrumStream;

/// Requests written before their answers are read. 256 subscriptions are ~30 KB each way,
/// far below any socket buffer, so a server that writes while we write cannot deadlock us.
pub(crate) const PIPELINE: usize = 256;

/// Longest line accepted from the server (a batch answer stays far below it).
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// An Electrum script hash: SHA-256 of the output script, in digest order (the wire shows it
/// reversed, like a txid).
pub(crate) type ScriptHash = [u8; 32];

/// A script's status: SHA-256 of its history as the protocol defines it.
pub(crate) type Status = [u8; 32];

/// The script hash Electrum indexes `script` by.
pub(crate) fn script_hash(script: &Script) -> ScriptHash {
    sha256::Hash::hash(script.as_bytes()).to_byte_array()
}

fn script_hash_hex(sh: &ScriptHash) -> String {
    let mut rev = *sh;
    rev.reverse();
    hex::encode(rev)
}

fn parse_script_hash(v: &Value) -> Option<ScriptHash> {
    let mut sh: ScriptHash = hex::decode(v.as_str()?).ok()?.try_into().ok()?;
    sh.reverse();
    Some(sh)
}

/// `null` (no history) or 32 bytes of hex; `Err` for anything else.
fn parse_status(v: &Value) -> Result<Option<Status>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => hex::decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(Some)
            .ok_or(()),
        _ => Err(()),
    }
}

/// A tip the server announced or returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tip {
    pub(crate) height: u32,
    pub(crate) header: bitcoin::block::Header,
}

fn parse_tip(v: &Value) -> Option<Tip> {
    Some(Tip {
        height: u32::try_from(v.get("height")?.as_u64()?).ok()?,
        header: deserialize_hex(v.get("hex")?.as_str()?).ok()?,
    })
}

/// One entry of a script's history: a transaction and its Electrum height (`<= 0`: mempool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HistoryEntry {
    pub(crate) txid: Txid,
    pub(crate) height: i32,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum RpcError {
    /// The connection broke, timed out or carried something that is not the protocol; it is
    /// unusable.
    Io(std::io::Error),
    /// The server answered with an error object.
    Server(Value),
    /// The server answered something of the wrong shape.
    Invalid(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Io(e) => write!(f, "{e}"),
            RpcError::Server(v) => write!(f, "server error: {v}"),
            RpcError::Invalid(s) => write!(f, "unexpected answer: {s}"),
        }
    }
}

impl From<std::io::Error> for RpcError {
    fn from(e: std::io::Error) -> Self {
        RpcError::Io(e)
    }
}

/// A connection speaking the protocol.
pub(crate) struct Conn {
    io: BufReader<ElectrumStream>,
    next_id: u64,
    /// Round trips made: one per request, or per pipelined group of requests.
    round_trips: usize,
    tips: VecDeque<Tip>,
    statuses: Vec<(ScriptHash, Option<Status>)>,
    line: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(stream: ElectrumStream) -> Self {
        Conn {
            io: BufReader::with_capacity(64 * 1024, stream),
            next_id: 0,
            round_trips: 0,
            tips: VecDeque::new(),
            statuses: Vec::new(),
            line: Vec::new(),
        }
    }

    pub(crate) fn round_trips(&self) -> usize {
        self.round_trips
    }

    /// Tips announced since the last call, oldest first.
    pub(crate) fn take_tips(&mut self) -> VecDeque<Tip> {
        std::mem::take(&mut self.tips)
    }

    /// Script statuses announced since the last call, in arrival order.
    pub(crate) fn take_statuses(&mut self) -> Vec<(ScriptHash, Option<Status>)> {
        std::mem::take(&mut self.statuses)
    }

    /// Sends `requests` (at most [`PIPELINE`] per round trip) and returns each one's result or
    /// error object, in order. Notifications read meanwhile are queued.
    pub(crate) fn batch(
        &mut self,
        requests: &[(&str, Value)],
    ) -> Result<Vec<Result<Value, Value>>, RpcError> {
        let mut out = Vec::with_capacity(requests.len());
        for group in requests.chunks(PIPELINE) {
            self.round_trip(group, &mut out)?;
        }
        Ok(out)
    }

    fn round_trip(
        &mut self,
        group: &[(&str, Value)],
        out: &mut Vec<Result<Value, Value>>,
    ) -> Result<(), RpcError> {
        let first = self.next_id;
        let mut raw = Vec::with_capacity(group.len() * 128);
        for (method, params) in group {
            let req =
                json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params});
            serde_json::to_writer(&mut raw, &req).map_err(|e| RpcError::Invalid(e.to_string()))?;
            raw.push(b'\n');
            self.next_id += 1;
        }
        let stream = self.io.get_mut();
        stream.write_all(&raw)?;
        stream.flush()?;
        self.round_trips += 1;
        let start = out.len();
        out.resize(start + group.len(), Ok(Value::Null));
        let mut answered = vec![false; group.len()];
        let mut left = group.len();
        while left > 0 {
            let msg = self.read_message()?;
            let id = match msg.get("id") {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            };
            let Some(id) = id else {
                self.on_notification(&msg);
                continue;
            };
            // An id outside this group is a late answer to an abandoned request: ignored.
            let Some(i) = id
                .checked_sub(first)
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < group.len() && !answered[*i])
            else {
                continue;
            };
            answered[i] = true;
            left -= 1;
            out[start + i] = match msg.get("error") {
                Some(e) if !e.is_null() => Err(e.clone()),
                _ => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            };
        }
        Ok(())
    }

    fn read_message(&mut self) -> Result<Value, RpcError> {
        self.line.clear();
        let n = (&mut self.io)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
            .into());
        }
        if self.line.last() != Some(&b'\n') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long or cut short",
            )
            .into());
        }
        serde_json::from_slice(&self.line).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not JSON: {e}")).into()
        })
    }

    fn on_notification(&mut self, msg: &Value) {
        let params = msg.get("params").and_then(Value::as_array);
        let p = |i: usize| params.and_then(|p| p.get(i));
        match msg.get("method").and_then(Value::as_str) {
            Some("blockchain.headers.subscribe") => match p(0).and_then(parse_tip) {
                Some(tip) => self.tips.push_back(tip),
                None => tracing::warn!(%msg, "electrum: unreadable header notification"),
            },
            Some("blockchain.scripthash.subscribe") => {
                match (p(0).and_then(parse_script_hash), p(1).map(parse_status)) {
                    (Some(sh), Some(Ok(status))) => self.statuses.push((sh, status)),
                    _ => tracing::warn!(%msg, "electrum: unreadable script notification"),
                }
            }
            _ => tracing::debug!(%msg, "electrum: message ignored"),
        }
    }

    /// One request; its error object becomes [`RpcError::Server`].
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let mut out = Vec::with_capacity(1);
        self.round_trip(&[(method, params)], &mut out)?;
        out.pop()
            .unwrap_or(Ok(Value::Null))
            .map_err(RpcError::Server)
    }

    /// `server.version`: names us and asks for protocol 1.4.
    pub(crate) fn version(&mut self) -> Result<(), RpcError> {
        self.call(
            "server.version",
            json!([concat!("crosslock-btc ", env!("CARGO_PKG_VERSION")), "1.4"]),
        )
        .map(drop)
    }

    /// `blockchain.headers.subscribe`: the tip now, and a notification on every new one.
    pub(crate) fn subscribe_tip(&mut self) -> Result<Tip, RpcError> {
        let v = self.call("blockchain.headers.subscribe", json!([]))?;
        parse_tip(&v).ok_or_else(|| RpcError::Invalid(format!("tip {v}")))
    }

    /// `blockchain.server.ping`: one round trip, which also reads every notification the server
    /// sent before its answer.
    pub(crate) fn ping(&mut self) -> Result<(), RpcError> {
        self.call("server.ping", json!([])).map(drop)
    }

    /// `method` once per argument, pipelined; each result through `parse` (with its index),
    /// in order. A server error for any of them fails the whole call.
    fn each<T>(
        &mut self,
        method: &str,
        args: impl Iterator<Item = Value>,
        mut parse: impl FnMut(usize, Value) -> Result<T, RpcError>,
    ) -> Result<Vec<T>, RpcError> {
        let reqs: Vec<(&str, Value)> = args.map(|a| (method, json!([a]))).collect();
        self.batch(&reqs)?
            .into_iter()
            .enumerate()
            .map(|(i, r)| parse(i, r.map_err(RpcError::Server)?))
            .collect()
    }

    /// Subscribes every script hash, pipelined; returns their statuses in order.
    pub(crate) fn subscribe(
        &mut self,
        hashes: &[ScriptHash],
    ) -> Result<Vec<Option<Status>>, RpcError> {
        let args = hashes.iter().map(|sh| json!(script_hash_hex(sh)));
        self.each("blockchain.scripthash.subscribe", args, |_, v| {
            parse_status(&v).map_err(|()| RpcError::Invalid(format!("status {v}")))
        })
    }

    /// `blockchain.scripthash.unsubscribe`.
    pub(crate) fn unsubscribe(&mut self, sh: &ScriptHash) -> Result<(), RpcError> {
        self.call(
            "blockchain.scripthash.unsubscribe",
            json!([script_hash_hex(sh)]),
        )
        .map(drop)
    }

    /// The histories of every script hash, pipelined.
    pub(crate) fn histories(
        &mut self,
        hashes: &[ScriptHash],
    ) -> Result<Vec<Vec<HistoryEntry>>, RpcError> {
        let args = hashes.iter().map(|sh| json!(script_hash_hex(sh)));
        self.each("blockchain.scripthash.get_history", args, |_, v| {
            let entries = v
                .as_array()
                .ok_or_else(|| RpcError::Invalid(format!("history {v}")))?;
            entries
                .iter()
                .map(|e| {
                    let txid = e
                        .get("tx_hash")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok());
                    let height = e
                        .get("height")
                        .and_then(Value::as_i64)
                        .and_then(|h| i32::try_from(h).ok());
                    match (txid, height) {
                        (Some(txid), Some(height)) => Ok(HistoryEntry { txid, height }),
                        _ => Err(RpcError::Invalid(format!("history entry {e}"))),
                    }
                })
                .collect()
        })
    }

    /// The transactions, pipelined; each is checked to have the txid asked for.
    pub(crate) fn transactions(&mut self, txids: &[Txid]) -> Result<Vec<Transaction>, RpcError> {
        let args = txids.iter().map(|t| json!(t.to_string()));
        self.each("blockchain.transaction.get", args, |i, v| {
            let txid = txids[i];
            let tx: Transaction = v
                .as_str()
                .and_then(|s| deserialize_hex(s).ok())
                .ok_or_else(|| RpcError::Invalid(format!("transaction {txid}: {v}")))?;
            if tx.compute_txid() != txid {
                return Err(RpcError::Invalid(format!(
                    "asked for {txid}, got {}",
                    tx.compute_txid()
                )));
            }
            Ok(tx)
        })
    }

    /// `blockchain.transaction.broadcast`.
    pub(crate) fn broadcast(&mut self, tx: &Transaction) -> Result<(), RpcError> {
        self.call(
            "blockchain.transaction.broadcast",
            json!([serialize_hex(tx)]),
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// A server that answers from a script: for each request line read, the lines the
    /// closure returns for it.
    fn serve(answer: impl Fn(&Value) -> Vec<String> + Send + 'static) -> TcpStream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            for line in BufReader::new(s).lines() {
                let Ok(line) = line else { return };
                let req: Value = serde_json::from_str(&line).unwrap();
                for out in answer(&req) {
                    if w.write_all(format!("{out}\n").as_bytes()).is_err() {
                        return;
                    }
                }
            }
        });
        TcpStream::connect(addr).unwrap()
    }

    #[test]
    fn answers_out_of_order_and_notifications_between_them_are_sorted_out() {
        let sh = [7u8; 32];
        let status = [9u8; 32];
        // Holds back the answer to every even id and sends it after the next one, with a
        // notification in front of each answer.
        let held = std::sync::Mutex::new(None::<String>);
        let note = json!({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe",
            "params": [script_hash_hex(&sh), hex::encode(status)]})
        .to_string();
        let stream = serve(move |req| {
            let id = req["id"].as_u64().unwrap();
            let ans =
                json!({"jsonrpc": "2.0", "id": id.to_string(), "result": id * 10}).to_string();
            let mut held = held.lock().unwrap();
            if id % 2 == 0 {
                *held = Some(ans);
                vec![note.clone()]
            } else {
                let mut v = vec![ans];
                v.extend(held.take());
                v
            }
        });
        let mut c = Conn::new(ElectrumStream::Tcp(stream));
        let reqs: Vec<(&str, Value)> = (0..600).map(|_| ("x", json!([]))).collect();
        let out = c.batch(&reqs).unwrap();
        let want: Vec<Result<Value, Value>> = (0..600u64).map(|i| Ok(json!(i * 10))).collect();
        assert_eq!(out, want);
        assert_eq!(c.round_trips(), 3, "600 requests in groups of {PIPELINE}");
        let notes = c.take_statuses();
        assert_eq!(notes.len(), 300);
        assert!(notes.iter().all(|n| *n == (sh, Some(status))));
        assert!(c.take_statuses().is_empty());
    }

    #[test]
    fn a_server_error_is_per_request_and_garbage_ends_the_connection() {
        let stream = serve(|req| {
            let id = &req["id"];
            match req["method"].as_str().unwrap() {
                "bad" => vec![
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": 1, "message": "no"}})
                        .to_string(),
                ],
                "garbage" => vec!["{not json".to_owned()],
                _ => vec![json!({"jsonrpc": "2.0", "id": id, "result": null}).to_string()],
            }
        });
        let mut c = Conn::new(ElectrumStream::Tcp(stream));
        let out = c.batch(&[("ok", json!([])), ("bad", json!([]))]).unwrap();
        assert_eq!(out[0], Ok(Value::Null));
        assert_eq!(out[1], Err(json!({"code": 1, "message": "no"})));
        assert!(matches!(c.call("bad", json!([])), Err(RpcError::Server(_))));
        assert!(matches!(c.call("garbage", json!([])), Err(RpcError::Io(_))));
    }

    #[test]
    fn a_closed_connection_is_an_io_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 64];
            let _ = s.read(&mut b);
        });
        let mut c = Conn::new(ElectrumStream::Tcp(TcpStream::connect(addr).unwrap()));
        assert!(matches!(c.ping(), Err(RpcError::Io(_))));
    }
}
