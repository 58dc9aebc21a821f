//! JSON-RPC over HTTP/1.0 to the chains the benchmarks start (btc-regtest's Core-style RPC,
//! anvil): one request or one batch per connection, which each server closes after answering.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// POSTs one JSON-RPC body (a request or a batch); returns the parsed answer.
pub(crate) fn post(addr: &str, body: &Value) -> Result<Value> {
    use std::io::{Read as _, Write as _};
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (_, json_body) = resp.split_once("\r\n\r\n").context("bad HTTP response")?;
    Ok(serde_json::from_str(json_body)?)
}

/// One call; its `error` (when present and not null) is the error.
pub(crate) fn call(addr: &str, method: &str, params: &Value) -> Result<Value> {
    let v = post(
        addr,
        &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    )?;
    match v.get("error") {
        Some(e) if !e.is_null() => bail!("{method}: {e}"),
        _ => Ok(v["result"].clone()),
    }
}
