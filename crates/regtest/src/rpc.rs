//! The JSON-RPC server over HTTP with Bitcoin Core's method names, result shapes and error codes
//! for the methods tests and scripts use, plus `dropmempooltx` (ours, not Core's).
//!
//! It only translates: every decision is the node's. It must never be bound to anything but
//! loopback without auth; parameters are positional (named parameters are not supported).

use std::net::SocketAddr;
use std::str::FromStr as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Address, BlockHash, Network, ScriptBuf, Transaction, Txid};
use serde_json::{Value, json};

use crate::mempool::MIN_RELAY_FEE_PER_KVB;
use crate::node::{self, Node};
use crate::views::{self, btc};

/// Core's RPC error codes used here.
mod code {
    pub(super) const MISC: i32 = -1;
    pub(super) const TYPE: i32 = -3;
    pub(super) const INVALID_ADDRESS_OR_KEY: i32 = -5;
    pub(super) const INVALID_PARAMETER: i32 = -8;
    pub(super) const DESERIALIZATION: i32 = -22;
    pub(super) const VERIFY: i32 = -25;
    pub(super) const METHOD_NOT_FOUND: i32 = -32601;
    pub(super) const PARSE: i32 = -32700;
    pub(super) const INVALID_REQUEST: i32 = -32600;
}

/// An RPC error with Core's code and message.
#[derive(Debug)]
pub(crate) struct RpcError {
    pub(crate) code: i32,
    pub(crate) message: String,
}

fn err(code: i32, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}

impl From<node::Error> for RpcError {
    fn from(e: node::Error) -> Self {
        match e {
            node::Error::BlockNotFound => err(code::INVALID_ADDRESS_OR_KEY, "Block not found"),
            node::Error::BadBlockTx(m) => err(code::VERIFY, m),
            node::Error::Kernel(k) => err(code::VERIFY, k.to_string()),
            other => err(code::MISC, other.to_string()),
        }
    }
}

type R = Result<Value, RpcError>;

/// Shared server state: the node and the optional `user:password`.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) node: Arc<Node>,
    pub(crate) auth: Option<String>,
}

pub(crate) fn router(ctx: Ctx) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::post(handle))
        .route("/wallet/{name}", axum::routing::post(handle))
        .with_state(ctx)
}

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx))
        .with_graceful_shutdown(shutdown)
        .await
}

fn authorized(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(expected) = &ctx.auth else {
        return true;
    };
    let Some(given) = headers.get("authorization").and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some(b64) = given.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .is_ok_and(|raw| raw == expected.as_bytes())
}

async fn handle(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&ctx, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Basic realm=\"jsonrpc\"")],
        )
            .into_response();
    }
    let node = ctx.node.clone();
    let out = tokio::task::spawn_blocking(move || handle_body(&node, &body)).await;
    match out {
        Ok((status, v)) => (
            status,
            [("content-type", "application/json")],
            format!("{v}\n"),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn reply(id: Value, r: R) -> (bool, Value) {
    match r {
        Ok(v) => (true, json!({"result": v, "error": null, "id": id})),
        Err(e) => (
            false,
            json!({"result": null, "error": {"code": e.code, "message": e.message}, "id": id}),
        ),
    }
}

fn handle_body(node: &Node, body: &[u8]) -> (StatusCode, Value) {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                reply(Value::Null, Err(err(code::PARSE, "Parse error"))).1,
            );
        }
    };
    match req {
        Value::Array(reqs) => (
            StatusCode::OK,
            Value::Array(reqs.iter().map(|r| handle_one(node, r).1).collect()),
        ),
        r => {
            let (ok, v) = handle_one(node, &r);
            // Core answers a failed JSON-RPC 1.0 call with 500 (404 for an unknown method).
            let status = match (ok, v["error"]["code"].as_i64()) {
                (true, _) => StatusCode::OK,
                (false, Some(c)) if c == i64::from(code::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, v)
        }
    }
}

fn handle_one(node: &Node, req: &Value) -> (bool, Value) {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return reply(
            id,
            Err(err(code::INVALID_REQUEST, "Method must be a string")),
        );
    };
    let params = match req.get("params") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return reply(
                id,
                Err(err(
                    code::INVALID_PARAMETER,
                    "named parameters are not supported by btc-regtest",
                )),
            );
        }
    };
    tracing::debug!(method, "rpc");
    reply(id, dispatch(node, method, &params))
}

fn param(p: &[Value], i: usize) -> Option<&Value> {
    p.get(i).filter(|v| !v.is_null())
}

fn str_param<'a>(p: &'a [Value], i: usize, name: &str) -> Result<&'a str, RpcError> {
    param(p, i)
        .and_then(Value::as_str)
        .ok_or_else(|| err(code::TYPE, format!("Expected type string for {name}")))
}

fn u64_param(p: &[Value], i: usize, default: Option<u64>, name: &str) -> Result<u64, RpcError> {
    match param(p, i) {
        None => default.ok_or_else(|| err(code::TYPE, format!("Missing required argument {name}"))),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_bool().map(u64::from))
            .ok_or_else(|| err(code::TYPE, format!("Expected type number for {name}"))),
    }
}

fn hash_param(p: &[Value], i: usize) -> Result<BlockHash, RpcError> {
    BlockHash::from_str(str_param(p, i, "blockhash")?).map_err(|_| {
        err(
            code::INVALID_PARAMETER,
            "blockhash must be of length 64 (not valid hex)",
        )
    })
}

fn txid_param(p: &[Value], i: usize) -> Result<Txid, RpcError> {
    Txid::from_str(str_param(p, i, "txid")?).map_err(|_| {
        err(
            code::INVALID_PARAMETER,
            "txid must be of length 64 (not valid hex)",
        )
    })
}

fn tx_param(p: &[Value], i: usize) -> Result<Transaction, RpcError> {
    deserialize_hex(str_param(p, i, "hexstring")?).map_err(|_| {
        err(
            code::DESERIALIZATION,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })
}

fn address_script(s: &str) -> Result<ScriptBuf, RpcError> {
    Address::from_str(s)
        .ok()
        .and_then(|a| a.require_network(Network::Regtest).ok())
        .map(|a| a.script_pubkey())
        .ok_or_else(|| err(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))
}

/// `generateblock`'s output: an address, `addr(ADDRESS)` or `raw(HEX)`.
fn output_script(s: &str) -> Result<ScriptBuf, RpcError> {
    let s = s.split('#').next().unwrap_or(s);
    if let Some(inner) = s.strip_prefix("addr(").and_then(|r| r.strip_suffix(')')) {
        return address_script(inner);
    }
    if let Some(inner) = s.strip_prefix("raw(").and_then(|r| r.strip_suffix(')')) {
        return hex::decode(inner)
            .map(ScriptBuf::from_bytes)
            .map_err(|_| err(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid descriptor"));
    }
    address_script(s).map_err(|_| {
        err(
            code::INVALID_ADDRESS_OR_KEY,
            "Error: Invalid address or descriptor",
        )
    })
}

/// Max fee rate in sat/kvB from a BTC/kvB parameter (Core's default 0.10).
fn max_feerate(p: &[Value], i: usize) -> u64 {
    let btc_per_kvb = param(p, i).and_then(Value::as_f64).unwrap_or(0.10);
    bitcoin::Amount::from_btc(btc_per_kvb)
        .map(|a| a.to_sat())
        .unwrap_or(10_000_000)
}

fn mempool_entry(e: &crate::mempool::Entry, pool: &crate::mempool::Mempool) -> Value {
    let fee = btc(e.fee.to_sat());
    let desc = pool.with_descendants(&e.txid);
    json!({
        "vsize": e.vsize,
        "weight": e.weight.to_wu(),
        "time": e.time,
        "height": e.height,
        "descendantcount": desc.len(),
        "descendantsize": desc.iter().filter_map(|t| pool.get(t)).map(|d| d.vsize).sum::<u64>(),
        "ancestorcount": pool.ancestors(&e.parents).len() + 1,
        "wtxid": e.wtxid.to_string(),
        "fees": {"base": fee, "modified": fee},
        "depends": e.parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "spentby": pool.children(&e.txid).iter().map(ToString::to_string).collect::<Vec<_>>(),
        "bip125-replaceable": true,
        "unbroadcast": false,
    })
}

pub(crate) fn dispatch(node: &Node, method: &str, p: &[Value]) -> R {
    match method {
        "getblockcount" => Ok(json!(node.tip_height()?)),
        "getbestblockhash" => Ok(json!(node.lock()?.index.tip_hash().to_string())),
        "getblockhash" => {
            let h = u64_param(p, 0, None, "height")?;
            let s = node.lock()?;
            u32::try_from(h)
                .ok()
                .and_then(|h| s.index.block_at(h))
                .map(|b| json!(b.block_hash().to_string()))
                .ok_or_else(|| err(code::INVALID_PARAMETER, "Block height out of range"))
        }
        "getblockchaininfo" => {
            let s = node.lock()?;
            let tip = s.index.tip_height();
            let block = s
                .index
                .block_at(tip)
                .cloned()
                .ok_or_else(|| err(code::MISC, "no tip"))?;
            Ok(json!({
                "chain": "regtest",
                "blocks": tip,
                "headers": tip,
                "bestblockhash": block.block_hash().to_string(),
                "bits": format!("{:08x}", block.header.bits.to_consensus()),
                "target": format!("{:064x}", block.header.target()),
                "difficulty": block.header.difficulty_float(),
                "time": block.header.time,
                "mediantime": s.index.mtp_at(tip),
                "verificationprogress": 1,
                "initialblockdownload": false,
                "chainwork": views::chainwork(tip),
                "size_on_disk": 0,
                "pruned": false,
                "warnings": [],
            }))
        }
        "getblockheader" => {
            let hash = hash_param(p, 0)?;
            let verbose = param(p, 1).and_then(Value::as_bool).unwrap_or(true);
            let (block, height) = node
                .block(&hash)?
                .ok_or_else(|| err(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
            if !verbose {
                return Ok(json!(serialize_hex(&block.header)));
            }
            Ok(views::header(&node.lock()?.index, &block, height))
        }
        "getblock" => {
            let hash = hash_param(p, 0)?;
            let verbosity = match param(p, 1) {
                Some(Value::Bool(b)) => u64::from(*b),
                _ => u64_param(p, 1, Some(1), "verbosity")?,
            };
            let (block, height) = node
                .block(&hash)?
                .ok_or_else(|| err(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
            if verbosity == 0 {
                return Ok(json!(serialize_hex(&*block)));
            }
            Ok(views::block(&node.lock()?.index, &block, height, verbosity))
        }
        "getrawtransaction" => {
            let txid = txid_param(p, 0)?;
            let verbose = match param(p, 1) {
                Some(Value::Bool(b)) => *b,
                Some(v) => v.as_u64().unwrap_or(0) > 0,
                None => false,
            };
            let s = node.lock()?;
            let (tx, block) = if let Some(e) = s.mempool.get(&txid) {
                (e.tx.clone(), None)
            } else if let Some((tx, pos)) = s.index.tx(&txid) {
                (tx.clone(), Some(pos.height))
            } else {
                return Err(err(
                    code::INVALID_ADDRESS_OR_KEY,
                    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
                ));
            };
            if !verbose {
                return Ok(json!(serialize_hex(&tx)));
            }
            let mut v = views::tx(&tx);
            if let Some(h) = block
                && let Some(b) = s.index.block_at(h)
            {
                v["blockhash"] = json!(b.block_hash().to_string());
                v["confirmations"] = json!(s.index.tip_height() - h + 1);
                v["time"] = json!(b.header.time);
                v["blocktime"] = json!(b.header.time);
            }
            Ok(v)
        }
        "decoderawtransaction" => Ok(views::tx(&tx_param(p, 0)?)),
        "sendrawtransaction" => {
            let tx = tx_param(p, 0)?;
            let max = max_feerate(p, 1);
            let txid = tx.compute_txid();
            {
                let s = node.lock()?;
                if s.mempool
                    .get(&txid)
                    .is_some_and(|e| e.wtxid == tx.compute_wtxid())
                {
                    return Ok(json!(txid.to_string()));
                }
            }
            if max > 0
                && let Ok(Ok(a)) = node.submit_tx(&tx, true)
                && a.fee.to_sat() > a.vsize * max / 1000
            {
                return Err(err(
                    code::VERIFY,
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                ));
            }
            match node.submit_tx(&tx, false)? {
                Ok(a) => Ok(json!(a.txid.to_string())),
                Err(r) => Err(err(r.code, r.message)),
            }
        }
        "testmempoolaccept" => {
            let raws = param(p, 0)
                .and_then(Value::as_array)
                .ok_or_else(|| err(code::TYPE, "Expected type array for rawtxs"))?;
            if raws.len() != 1 {
                return Err(err(
                    code::INVALID_PARAMETER,
                    "btc-regtest checks one transaction at a time (packages are not supported)",
                ));
            }
            let tx = tx_param(raws, 0)?;
            let max = max_feerate(p, 1);
            let mut v = json!({"txid": tx.compute_txid().to_string(), "wtxid": tx.compute_wtxid().to_string()});
            match node.submit_tx(&tx, true)? {
                Ok(a) if max > 0 && a.fee.to_sat() > a.vsize * max / 1000 => {
                    v["allowed"] = json!(false);
                    v["reject-reason"] = json!("max-fee-exceeded");
                }
                Ok(a) => {
                    v["allowed"] = json!(true);
                    v["vsize"] = json!(a.vsize);
                    v["fees"] = json!({
                        "base": btc(a.fee.to_sat()),
                        "effective-feerate": btc(a.fee.to_sat() * 1000 / a.vsize.max(1)),
                        "effective-includes": [a.wtxid.to_string()],
                    });
                }
                Err(r) => {
                    v["allowed"] = json!(false);
                    v["reject-reason"] = json!(r.reason);
                    v["reject-details"] = json!(r.message);
                }
            }
            Ok(json!([v]))
        }
        "getrawmempool" => {
            let verbose = param(p, 0).and_then(Value::as_bool).unwrap_or(false);
            let s = node.lock()?;
            if verbose {
                let m: serde_json::Map<String, Value> = s
                    .mempool
                    .iter()
                    .map(|e| (e.txid.to_string(), mempool_entry(e, &s.mempool)))
                    .collect();
                Ok(Value::Object(m))
            } else {
                Ok(json!(
                    s.mempool
                        .iter()
                        .map(|e| e.txid.to_string())
                        .collect::<Vec<_>>()
                ))
            }
        }
        "getmempoolentry" => {
            let txid = txid_param(p, 0)?;
            let s = node.lock()?;
            s.mempool
                .get(&txid)
                .map(|e| mempool_entry(e, &s.mempool))
                .ok_or_else(|| err(code::INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"))
        }
        "getmempoolinfo" => {
            let s = node.lock()?;
            Ok(json!({
                "loaded": true,
                "size": s.mempool.len(),
                "bytes": s.mempool.iter().map(|e| e.vsize).sum::<u64>(),
                "minrelaytxfee": btc(MIN_RELAY_FEE_PER_KVB),
                "mempoolminfee": btc(MIN_RELAY_FEE_PER_KVB),
                "incrementalrelayfee": btc(MIN_RELAY_FEE_PER_KVB),
                "fullrbf": true,
            }))
        }
        "estimatesmartfee" => {
            let blocks = u64_param(p, 0, None, "conf_target")?;
            Ok(
                json!({"feerate": btc(estimate_fee_per_kvb(node)?), "blocks": blocks.clamp(1, 1008)}),
            )
        }
        "getnetworkinfo" => Ok(json!({
            "version": 290_000,
            "subversion": concat!("/btc-regtest:", env!("CARGO_PKG_VERSION"), "/"),
            "protocolversion": 70016,
            "connections": 0,
            "networkactive": true,
            "relayfee": btc(MIN_RELAY_FEE_PER_KVB),
            "incrementalfee": btc(MIN_RELAY_FEE_PER_KVB),
            "warnings": [],
        })),
        "generatetoaddress" => {
            let n = u64_param(p, 0, None, "nblocks")?;
            let script = address_script(str_param(p, 1, "address")?)?;
            let n =
                u32::try_from(n).map_err(|_| err(code::INVALID_PARAMETER, "nblocks too large"))?;
            let hashes = node.generate(n, &script)?;
            Ok(json!(
                hashes.iter().map(ToString::to_string).collect::<Vec<_>>()
            ))
        }
        "generateblock" => {
            let script = output_script(str_param(p, 0, "output")?)?;
            let items = param(p, 1)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut txs = vec![];
            for item in &items {
                let s = item
                    .as_str()
                    .ok_or_else(|| err(code::TYPE, "Expected type string for transactions"))?;
                if let Ok(txid) = Txid::from_str(s) {
                    let tx = node.lock()?.mempool.get(&txid).map(|e| e.tx.clone());
                    txs.push(tx.ok_or_else(|| {
                        err(
                            code::INVALID_ADDRESS_OR_KEY,
                            format!("Transaction {s} not in mempool."),
                        )
                    })?);
                } else {
                    txs.push(deserialize_hex(s).map_err(|_| err(code::DESERIALIZATION, format!("Transaction decode failed for {s}. Make sure the tx has at least one input.")))?);
                }
            }
            let hash = node.generate_block(&script, txs)?;
            Ok(json!({"hash": hash.to_string()}))
        }
        "invalidateblock" => {
            node.invalidate_block(&hash_param(p, 0)?)?;
            Ok(Value::Null)
        }
        "reconsiderblock" => {
            node.reconsider_block(&hash_param(p, 0)?)?;
            Ok(Value::Null)
        }
        "dropmempooltx" => {
            let txid = txid_param(p, 0)?;
            let removed = node.drop_mempool_tx(&txid)?;
            if removed.is_empty() {
                return Err(err(
                    code::INVALID_ADDRESS_OR_KEY,
                    "Transaction not in mempool",
                ));
            }
            Ok(json!(
                removed.iter().map(ToString::to_string).collect::<Vec<_>>()
            ))
        }
        "uptime" => Ok(json!(0)),
        _ => Err(err(code::METHOD_NOT_FOUND, "Method not found")),
    }
}

/// A fee estimate (sat/kvB): the median feerate of the mempool, at least the relay minimum.
/// Core on a quiet regtest usually has no estimate at all; a number is more useful to tests.
pub(crate) fn estimate_fee_per_kvb(node: &Node) -> Result<u64, RpcError> {
    let s = node.lock()?;
    let mut rates: Vec<u64> = s
        .mempool
        .iter()
        .map(|e| e.fee.to_sat() * 1000 / e.vsize.max(1))
        .collect();
    rates.sort_unstable();
    Ok(rates
        .get(rates.len() / 2)
        .copied()
        .unwrap_or(0)
        .max(MIN_RELAY_FEE_PER_KVB))
}

/// The bound address, for logs.
pub(crate) fn describe(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
