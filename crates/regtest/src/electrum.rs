//! The Electrum protocol (1.4) server: newline-delimited JSON-RPC over TCP, single and batched
//! requests, header and script-hash subscriptions with notifications.
//!
//! It reads the node and never changes chain state except through `broadcast`. Per block, the
//! work is proportional to the scripts the block touched times the sessions subscribed to them,
//! never to the number of scripts watched.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::{Hash as _, sha256, sha256d};
use bitcoin::{OutPoint, Transaction, Txid};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};

use crate::chain::ScriptHash;
use crate::mempool::MIN_RELAY_FEE_PER_KVB;
use crate::node::{Event, Node};
use crate::views::btc;

/// Longest request line accepted (a batch of raw transactions fits easily).
const MAX_LINE: usize = 16 * 1024 * 1024;
const MAX_HEADERS: u32 = 2016;

pub(crate) async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "electrum connection");
                    tokio::spawn(session(stream, node.clone(), shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "electrum accept failed"),
            },
        }
    }
}

#[derive(Default)]
struct Subs {
    /// The last header sent (or returned by the subscribe call), once subscribed.
    headers: Option<Value>,
    scripts: HashMap<ScriptHash, Option<String>>,
}

async fn session(stream: TcpStream, node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    // Answers are small and the client waits for each: send them at once (no Nagle delay).
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let subs = Arc::new(Mutex::new(Subs::default()));
    let writer = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(line) = rx.recv().await {
            // One write per wake-up: the line with its newline, and whatever else is queued
            // (answers to pipelined requests, notifications). A line and its newline written
            // apart wait ~40 ms for the client's delayed ACK under Nagle.
            out.clear();
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            while let Ok(more) = rx.try_recv() {
                out.extend_from_slice(more.as_bytes());
                out.push(b'\n');
            }
            if write.write_all(&out).await.is_err() {
                break;
            }
        }
    });
    let notifier = tokio::spawn(notify_loop(
        node.clone(),
        node.subscribe(),
        subs.clone(),
        tx.clone(),
    ));
    let mut lines = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let mut limited = (&mut lines).take(u64::try_from(MAX_LINE).unwrap_or(u64::MAX));
        let n = tokio::select! {
            _ = shutdown.changed() => break,
            n = limited.read_until(b'\n', &mut buf) => n,
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') && buf.len() >= MAX_LINE {
            break; // over-long line: drop the client
        }
        let node = node.clone();
        let subs = subs.clone();
        let line = std::mem::take(&mut buf);
        let out = tokio::task::spawn_blocking(move || handle_line(&node, &subs, &line)).await;
        if let Ok(Some(resp)) = out
            && tx.send(resp).is_err()
        {
            break;
        }
    }
    notifier.abort();
    drop(tx);
    let _ = writer.await;
}

fn handle_line(node: &Node, subs: &Mutex<Subs>, line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Some(json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "parse error"}, "id": null}).to_string()),
    };
    let out = match v {
        Value::Array(reqs) => {
            Value::Array(reqs.iter().map(|r| handle_request(node, subs, r)).collect())
        }
        r => handle_request(node, subs, &r),
    };
    Some(out.to_string())
}

fn handle_request(node: &Node, subs: &Mutex<Subs>, req: &Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let params = match req.get("params") {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![],
    };
    match call(node, subs, method, &params) {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
        }
    }
}

type R = Result<Value, (i32, String)>;

fn bad(msg: impl Into<String>) -> (i32, String) {
    (-32602, msg.into())
}

fn internal(e: impl std::fmt::Display) -> (i32, String) {
    (-32603, e.to_string())
}

fn parse_scripthash(p: &[Value]) -> Result<ScriptHash, (i32, String)> {
    let s = p
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing scripthash"))?;
    let mut bytes: [u8; 32] = hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(format!("invalid scripthash {s}")))?;
    // Electrum sends the digest reversed, like a txid.
    bytes.reverse();
    Ok(bytes)
}

fn u32_param(p: &[Value], i: usize, name: &str) -> Result<u32, (i32, String)> {
    p.get(i)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad(format!("invalid {name}")))
}

fn call(node: &Node, subs: &Mutex<Subs>, method: &str, p: &[Value]) -> R {
    match method {
        "server.version" => Ok(json!([
            concat!("btc-regtest ", env!("CARGO_PKG_VERSION")),
            "1.4"
        ])),
        "server.banner" => Ok(json!("btc-regtest: Bitcoin Core's kernel on regtest")),
        "server.donation_address" => Ok(json!("")),
        "server.peers.subscribe" => Ok(json!([])),
        "server.ping" => Ok(Value::Null),
        "server.features" => {
            let s = node.lock().map_err(internal)?;
            let genesis = s
                .index
                .block_at(0)
                .map(|b| b.block_hash().to_string())
                .unwrap_or_default();
            Ok(json!({
                "genesis_hash": genesis,
                "hosts": {},
                "protocol_max": "1.4",
                "protocol_min": "1.4",
                "pruning": null,
                "server_version": concat!("btc-regtest ", env!("CARGO_PKG_VERSION")),
                "hash_function": "sha256",
            }))
        }
        "blockchain.headers.subscribe" => {
            let tip = tip_notification(node)?;
            subs.lock().map_err(internal)?.headers = Some(tip.clone());
            Ok(tip)
        }
        "blockchain.block.header" => {
            let height = u32_param(p, 0, "height")?;
            if p.get(1).and_then(Value::as_u64).unwrap_or(0) != 0 {
                return Err(bad("cp_height is not supported"));
            }
            let s = node.lock().map_err(internal)?;
            let b = s
                .index
                .block_at(height)
                .ok_or_else(|| bad(format!("height {height} out of range")))?;
            Ok(json!(serialize_hex(&b.header)))
        }
        "blockchain.block.headers" => {
            let start = u32_param(p, 0, "start_height")?;
            let count = u32_param(p, 1, "count")?.min(MAX_HEADERS);
            if p.get(2).and_then(Value::as_u64).unwrap_or(0) != 0 {
                return Err(bad("cp_height is not supported"));
            }
            let s = node.lock().map_err(internal)?;
            let mut hex_out = String::new();
            let mut n = 0u32;
            for h in start..start.saturating_add(count) {
                let Some(b) = s.index.block_at(h) else { break };
                hex_out.push_str(&serialize_hex(&b.header));
                n += 1;
            }
            Ok(json!({"count": n, "hex": hex_out, "max": MAX_HEADERS}))
        }
        "blockchain.estimatefee" => {
            let rate = crate::rpc::estimate_fee_per_kvb(node).map_err(|e| internal(e.message))?;
            Ok(btc(rate))
        }
        "blockchain.relayfee" => Ok(btc(MIN_RELAY_FEE_PER_KVB)),
        "mempool.get_fee_histogram" => {
            let s = node.lock().map_err(internal)?;
            let mut buckets: std::collections::BTreeMap<u64, u64> =
                std::collections::BTreeMap::new();
            for e in s.mempool.iter() {
                *buckets.entry(e.fee.to_sat() / e.vsize.max(1)).or_default() += e.vsize;
            }
            Ok(json!(
                buckets
                    .iter()
                    .rev()
                    .map(|(r, v)| json!([r, v]))
                    .collect::<Vec<_>>()
            ))
        }
        "blockchain.scripthash.get_history" => Ok(json!(history(node, &parse_scripthash(p)?)?)),
        "blockchain.scripthash.get_mempool" => {
            let sh = parse_scripthash(p)?;
            let h = history(node, &sh)?;
            Ok(json!(
                h.into_iter()
                    .filter(|e| e["height"].as_i64().unwrap_or(0) <= 0)
                    .collect::<Vec<_>>()
            ))
        }
        "blockchain.scripthash.subscribe" => {
            let sh = parse_scripthash(p)?;
            let st = status(node, &sh)?;
            subs.lock()
                .map_err(internal)?
                .scripts
                .insert(sh, st.clone());
            Ok(json!(st))
        }
        "blockchain.scripthash.unsubscribe" => {
            let sh = parse_scripthash(p)?;
            Ok(json!(
                subs.lock().map_err(internal)?.scripts.remove(&sh).is_some()
            ))
        }
        "blockchain.scripthash.get_balance" => {
            let (confirmed, unconfirmed) = balance(node, &parse_scripthash(p)?)?;
            Ok(json!({"confirmed": confirmed, "unconfirmed": unconfirmed}))
        }
        "blockchain.scripthash.listunspent" => Ok(json!(unspent(node, &parse_scripthash(p)?)?)),
        "blockchain.transaction.get" => {
            let txid = p
                .first()
                .and_then(Value::as_str)
                .and_then(|s| Txid::from_str(s).ok())
                .ok_or_else(|| bad("invalid tx_hash"))?;
            let verbose = p.get(1).and_then(Value::as_bool).unwrap_or(false);
            if verbose {
                return crate::rpc::dispatch(
                    node,
                    "getrawtransaction",
                    &[json!(txid.to_string()), json!(true)],
                )
                .map_err(|e| (e.code, e.message));
            }
            let s = node.lock().map_err(internal)?;
            let tx = s
                .mempool
                .get(&txid)
                .map(|e| e.tx.clone())
                .or_else(|| s.index.tx(&txid).map(|(t, _)| t.clone()));
            tx.map(|t| json!(serialize_hex(&t)))
                .ok_or_else(|| bad(format!("transaction {txid} not found")))
        }
        "blockchain.transaction.get_merkle" => {
            let txid = p
                .first()
                .and_then(Value::as_str)
                .and_then(|s| Txid::from_str(s).ok())
                .ok_or_else(|| bad("invalid tx_hash"))?;
            let s = node.lock().map_err(internal)?;
            let (_, pos) = s
                .index
                .tx(&txid)
                .ok_or_else(|| bad(format!("tx {txid} not in a block")))?;
            if let Some(h) = p.get(1).and_then(Value::as_u64)
                && h != u64::from(pos.height)
            {
                return Err(bad(format!("tx {txid} not in block at height {h}")));
            }
            let block = s
                .index
                .block_at(pos.height)
                .ok_or_else(|| internal("missing block"))?;
            let leaves: Vec<sha256d::Hash> = block
                .txdata
                .iter()
                .map(|t| t.compute_txid().to_raw_hash())
                .collect();
            let branch = merkle_branch(leaves, pos.index);
            Ok(json!({
                "block_height": pos.height,
                "merkle": branch.iter().map(|h| bitcoin::TxMerkleNode::from_raw_hash(*h).to_string()).collect::<Vec<_>>(),
                "pos": pos.index,
            }))
        }
        "blockchain.transaction.broadcast" => {
            let raw = p
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| bad("missing raw_tx"))?;
            let tx: Transaction =
                deserialize_hex(raw).map_err(|e| bad(format!("TX decode failed: {e}")))?;
            let txid = tx.compute_txid();
            if node.lock().map_err(internal)?.mempool.get(&txid).is_some() {
                return Ok(json!(txid.to_string()));
            }
            match node.submit_tx(&tx, false).map_err(internal)? {
                Ok(a) => Ok(json!(a.txid.to_string())),
                Err(r) => Err((
                    1,
                    format!(
                        "the transaction was rejected by network rules.\n\n{}\n[{}]",
                        r.message, raw
                    ),
                )),
            }
        }
        _ => Err((-32601, format!("unknown method \"{method}\""))),
    }
}

fn tip_notification(node: &Node) -> R {
    let s = node.lock().map_err(internal)?;
    let h = s.index.tip_height();
    let b = s.index.block_at(h).ok_or_else(|| internal("no tip"))?;
    Ok(json!({"height": h, "hex": serialize_hex(&b.header)}))
}

/// Confirmed history in chain order, then mempool entries (height 0, or -1 when a parent is
/// unconfirmed) in the order they entered.
fn history(node: &Node, sh: &ScriptHash) -> Result<Vec<Value>, (i32, String)> {
    let s = node.lock().map_err(internal)?;
    let mut out: Vec<Value> = s
        .index
        .history(sh)
        .iter()
        .map(|(h, t)| json!({"tx_hash": t.to_string(), "height": h}))
        .collect();
    for e in s.mempool.by_script(sh) {
        let height = if e.parents.is_empty() { 0 } else { -1 };
        out.push(json!({"tx_hash": e.txid.to_string(), "height": height, "fee": e.fee.to_sat()}));
    }
    Ok(out)
}

/// The protocol's status: sha256 of the concatenated "txid:height:" of the history, or null.
fn status(node: &Node, sh: &ScriptHash) -> Result<Option<String>, (i32, String)> {
    let h = history(node, sh)?;
    if h.is_empty() {
        return Ok(None);
    }
    let mut concat = String::new();
    for e in &h {
        concat.push_str(e["tx_hash"].as_str().unwrap_or(""));
        concat.push(':');
        concat.push_str(&e["height"].to_string());
        concat.push(':');
    }
    Ok(Some(hex::encode(
        sha256::Hash::hash(concat.as_bytes()).to_byte_array(),
    )))
}

/// An output paying a script: where it is, its value, its height (0 in the mempool) and
/// whether a mempool transaction spends it.
struct Funded {
    outpoint: OutPoint,
    value: u64,
    height: u32,
    confirmed: bool,
    spent_in_mempool: bool,
}

/// Unspent outputs paying `sh`: confirmed (in the UTXO set) and in the mempool.
fn funded(node: &Node, sh: &ScriptHash) -> Result<Vec<Funded>, (i32, String)> {
    let s = node.lock().map_err(internal)?;
    let mut out = vec![];
    let mut seen = std::collections::HashSet::new();
    let confirmed = s
        .index
        .history(sh)
        .iter()
        .filter(|(_, t)| seen.insert(*t))
        .filter_map(|(_, t)| s.index.tx(t).map(|(tx, _)| (tx, true)));
    let pending = s.mempool.by_script(sh).into_iter().map(|e| (&e.tx, false));
    for (tx, is_confirmed) in confirmed.chain(pending) {
        let txid = tx.compute_txid();
        for (vout, o) in tx.output.iter().enumerate() {
            let outpoint = OutPoint::new(txid, u32::try_from(vout).unwrap_or(0));
            if crate::chain::script_hash(&o.script_pubkey) != *sh {
                continue;
            }
            let height = if is_confirmed {
                match s.index.utxos.get(&outpoint) {
                    Some(c) => c.height,
                    None => continue, // spent in a block
                }
            } else {
                0
            };
            let spent_in_mempool = s.mempool.spender_of(&outpoint).is_some();
            out.push(Funded {
                outpoint,
                value: o.value.to_sat(),
                height,
                confirmed: is_confirmed,
                spent_in_mempool,
            });
        }
    }
    Ok(out)
}

/// Outputs paying `sh` that nothing spends yet, not even the mempool.
fn unspent(node: &Node, sh: &ScriptHash) -> Result<Vec<Value>, (i32, String)> {
    Ok(funded(node, sh)?
        .into_iter()
        .filter(|f| !f.spent_in_mempool)
        .map(|f| json!({"tx_hash": f.outpoint.txid.to_string(), "tx_pos": f.outpoint.vout, "height": f.height, "value": f.value}))
        .collect())
}

/// (confirmed, unconfirmed) in satoshis; unconfirmed may be negative (spends in the mempool).
fn balance(node: &Node, sh: &ScriptHash) -> Result<(u64, i64), (i32, String)> {
    let mut confirmed = 0u64;
    let mut unconfirmed = 0i64;
    for f in funded(node, sh)? {
        let v = i64::try_from(f.value).unwrap_or(i64::MAX);
        match (f.confirmed, f.spent_in_mempool) {
            (true, false) => confirmed += f.value,
            (true, true) => {
                confirmed += f.value;
                unconfirmed -= v;
            }
            (false, false) => unconfirmed += v,
            (false, true) => {}
        }
    }
    Ok((confirmed, unconfirmed))
}

/// The merkle branch of leaf `pos`, bottom up (Core's duplicate-last rule for odd levels).
fn merkle_branch(mut level: Vec<sha256d::Hash>, mut pos: usize) -> Vec<sha256d::Hash> {
    let mut branch = vec![];
    while level.len() > 1 {
        if level.len() % 2 == 1
            && let Some(last) = level.last().copied()
        {
            level.push(last);
        }
        branch.push(level[pos ^ 1]);
        level = level
            .chunks(2)
            .map(|pair| {
                let mut buf = [0u8; 64];
                buf[..32].copy_from_slice(pair[0].as_byte_array());
                buf[32..].copy_from_slice(pair[1].as_byte_array());
                sha256d::Hash::hash(&buf)
            })
            .collect();
        pos /= 2;
    }
    branch
}

async fn notify_loop(
    node: Arc<Node>,
    mut events: broadcast::Receiver<Event>,
    subs: Arc<Mutex<Subs>>,
    out: mpsc::UnboundedSender<String>,
) {
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => Event::Reorg,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let node = node.clone();
        let subs = subs.clone();
        let lines = tokio::task::spawn_blocking(move || notifications(&node, &subs, &event)).await;
        for line in lines.unwrap_or_default() {
            if out.send(line).is_err() {
                return;
            }
        }
    }
}

fn notifications(node: &Node, subs: &Mutex<Subs>, event: &Event) -> Vec<String> {
    let Ok(mut subs) = subs.lock() else {
        return vec![];
    };
    let mut lines = vec![];
    // Events queue up behind a slow session; only a tip the client has not seen is sent.
    let header = |lines: &mut Vec<String>, last: &mut Option<Value>| {
        if let (Some(seen), Ok(v)) = (last.as_mut(), tip_notification(node))
            && *seen != v
        {
            seen.clone_from(&v);
            lines.push(
                json!({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "params": [v]})
                    .to_string(),
            );
        }
    };
    let check: Vec<ScriptHash> = match event {
        Event::Tip { .. } => {
            header(&mut lines, &mut subs.headers);
            vec![]
        }
        Event::Scripts(touched) => {
            if touched.len() < subs.scripts.len() {
                touched
                    .iter()
                    .filter(|t| subs.scripts.contains_key(*t))
                    .copied()
                    .collect()
            } else {
                subs.scripts
                    .keys()
                    .filter(|k| touched.contains(*k))
                    .copied()
                    .collect()
            }
        }
        Event::Reorg => {
            header(&mut lines, &mut subs.headers);
            subs.scripts.keys().copied().collect()
        }
    };
    for sh in check {
        let Ok(new) = status(node, &sh) else { continue };
        let Some(old) = subs.scripts.get_mut(&sh) else {
            continue;
        };
        if *old != new {
            old.clone_from(&new);
            let mut rev = sh;
            rev.reverse();
            lines.push(
                json!({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe", "params": [hex::encode(rev), new]})
                    .to_string(),
            );
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash as _;
    use bitcoin::hashes::sha256d;

    use super::merkle_branch;

    /// Folds a branch back into a root, the way a client checks it.
    fn root(leaf: sha256d::Hash, mut pos: usize, branch: &[sha256d::Hash]) -> sha256d::Hash {
        let mut node = leaf;
        for s in branch {
            let (l, r) = if pos.is_multiple_of(2) {
                (node, *s)
            } else {
                (*s, node)
            };
            node = sha256d::Hash::hash(&[l.to_byte_array(), r.to_byte_array()].concat());
            pos /= 2;
        }
        node
    }

    #[test]
    fn merkle_branches_fold_to_the_consensus_root_for_odd_and_even_sizes() {
        for n in 1..=9u8 {
            let leaves: Vec<sha256d::Hash> = (0..n).map(|i| sha256d::Hash::hash(&[i])).collect();
            let expected = bitcoin::merkle_tree::calculate_root(leaves.iter().copied()).unwrap();
            for pos in 0..leaves.len() {
                let branch = merkle_branch(leaves.clone(), pos);
                assert_eq!(root(leaves[pos], pos, &branch), expected, "n={n} pos={pos}");
            }
        }
    }
}
