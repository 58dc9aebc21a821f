//! A chain for tests: btc-regtest in-process by default, or a real bitcoind + Electrum server when
//! `BTC_RPC_URL` (and `ELECTRUM_URL`, optionally `BTC_RPC_AUTH` as `user:password`) are set.
//! Tests written against this use Core's RPC and Electrum only, so they run on both.
//!
//! Nothing here is used by the node itself.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Config, InProcess, RpcClient, RpcError};

/// A chain to test against, and how to reach it.
pub struct TestChain {
    /// Core-compatible JSON-RPC.
    pub rpc: RpcClient,
    /// Electrum server, `tcp://HOST:PORT`.
    pub electrum_url: String,
    /// The in-process node, when we started one.
    pub local: Option<InProcess>,
}

impl TestChain {
    /// Uses the external chain named by the environment, or starts an in-memory btc-regtest.
    pub fn from_env_or_start() -> Result<Self, crate::Error> {
        if let Ok(url) = std::env::var("BTC_RPC_URL") {
            let electrum_url = std::env::var("ELECTRUM_URL").map_err(|_| {
                crate::Error::Spawn("BTC_RPC_URL is set but ELECTRUM_URL is not".into())
            })?;
            let auth = std::env::var("BTC_RPC_AUTH").ok();
            return Ok(Self {
                rpc: RpcClient::new(&url, auth.as_deref()),
                electrum_url,
                local: None,
            });
        }
        let node = InProcess::start(Config::default())?;
        Ok(Self {
            rpc: RpcClient::new(&node.rpc_url(), None),
            electrum_url: node.electrum_url(),
            local: Some(node),
        })
    }

    /// Calls an RPC method.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        self.rpc.call(method, params)
    }

    /// Current height.
    pub fn height(&self) -> Result<u32, RpcError> {
        let v = self.call("getblockcount", &[])?;
        v.as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| RpcError::Transport(format!("bad height {v}")))
    }

    /// Mines `n` blocks to `address`; returns their hashes.
    pub fn mine(&self, n: u32, address: &str) -> Result<Vec<String>, RpcError> {
        let v = self.call("generatetoaddress", &[json!(n), json!(address)])?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect())
    }

    /// Polls `f` every 50 ms until it returns `Some`, or `timeout` passes.
    pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
