//! A small blocking JSON-RPC client for Core-compatible nodes (btc-regtest or bitcoind), for
//! tests and scripts. HTTP/1.1 with one connection per call; no TLS (loopback only).
//!
//! It never retries: a failed call is reported as it happened.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// A failed RPC call.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node answered with a JSON-RPC error (Core's code and message).
    #[error("RPC error {code}: {message}")]
    Rpc {
        /// Core's error code, e.g. -26 for a rejected transaction.
        code: i64,
        /// Core's message, e.g. "non-final".
        message: String,
    },
    /// The connection failed or the answer was not JSON-RPC.
    #[error("RPC transport: {0}")]
    Transport(String),
}

impl RpcError {
    /// Core's error code, if the node answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            Self::Transport(_) => None,
        }
    }
}

/// Blocking JSON-RPC client.
#[derive(Clone)]
pub struct RpcClient {
    host_port: String,
    path: String,
    auth: Option<String>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("host_port", &self.host_port)
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .finish()
    }
}

impl RpcClient {
    /// `url` like `http://127.0.0.1:18443`; `auth` as `user:password`.
    pub fn new(url: &str, auth: Option<&str>) -> Self {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host_port, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Self {
            host_port: host_port.to_owned(),
            path: path.to_owned(),
            auth: auth.map(str::to_owned),
        }
    }

    /// Calls `method` with positional `params`.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        let t = |e: std::io::Error| RpcError::Transport(e.to_string());
        let body =
            json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params}).to_string();
        let mut stream = TcpStream::connect(&self.host_port).map_err(t)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(600)))
            .map_err(t)?;
        let auth = self
            .auth
            .as_ref()
            .map(|a| {
                format!(
                    "Authorization: Basic {}\r\n",
                    base64::engine::general_purpose::STANDARD.encode(a)
                )
            })
            .unwrap_or_default();
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.host_port,
            body.len()
        );
        stream.write_all(req.as_bytes()).map_err(t)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(t)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| RpcError::Transport("no HTTP header".into()))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let mut body = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        if head.starts_with("http/1.1 401") || head.starts_with("http/1.0 401") {
            return Err(RpcError::Transport("401 unauthorized".into()));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            RpcError::Transport(format!(
                "bad JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            return Err(RpcError::Rpc {
                code: e["code"].as_i64().unwrap_or(0),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || body.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[(eol + 4 + size).min(body.len())..];
    }
    out
}
