//! `watch` for Ethereum: crates/eth's escrow log watcher against a real anvil (the pinned npm
//! binary) holding N swaps in flight, that is N `lock`s on the escrow that nobody claimed or
//! refunded. The watcher catches up over them (every `Locked` seen, then confirmed and pruned
//! at `finalized`), and then each new block's `poll` + `commit` is timed: blocks with no escrow
//! log, and blocks holding one new lock. One count per fresh process, as for Bitcoin.
//!
//! anvil runs with `--no-mining`, so the locks are packed into full blocks by `evm_mine`
//! rather than one block each.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider as _, RootProvider};
use alloy::rpc::types::Filter;
use anyhow::{Context, Result, bail};
use crosslock_eth::{MemoryCursorStore, SwapParams, WatchEvent, Watcher, WatcherConfig};
use serde_json::{Value, json};

use crate::jsonrpc::{call, post};
use crate::out::{rss_kib, summary};

/// Locks sent per JSON-RPC batch and mined per block: 350 x 80,000 gas fits the default 30M
/// block gas limit (a lock uses 48,861).
const LOCKS_PER_BLOCK: usize = 350;
const LOCK_GAS: u64 = 80_000;

#[derive(Debug, clap::Args)]
pub(crate) struct OneArgs {
    /// The anvil binary.
    #[arg(long)]
    anvil: std::path::PathBuf,
    #[arg(long)]
    swaps: usize,
    #[arg(long)]
    blocks: u32,
}

/// An anvil child process on a free loopback port, killed when dropped.
struct Anvil {
    child: std::process::Child,
    addr: String,
}

impl Anvil {
    fn spawn(bin: &std::path::Path) -> Result<Anvil> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--accounts", "2", "--no-mining"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to start {} (npm ci)", bin.display()))?;
        let anvil = Anvil {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let end = Instant::now() + Duration::from_secs(30);
        while call(&anvil.addr, "eth_chainId", &json!([])).is_err() {
            if Instant::now() > end {
                bail!("anvil did not answer on {}", anvil.addr);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(anvil)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex_u64(v: &Value) -> Result<u64> {
    let s = v.as_str().context("not a hex string")?;
    Ok(u64::from_str_radix(s.trim_start_matches("0x"), 16)?)
}

fn mine(addr: &str, blocks: u64) -> Result<()> {
    call(addr, "anvil_mine", &json!([format!("{blocks:#x}")]))?;
    Ok(())
}

/// Sends `locks` lock calls from `from` (anvil signs them) in batches, mining a block after each
/// batch, until all are in blocks. Returns the next nonce.
fn send_locks(
    addr: &str,
    escrow: Address,
    from: Address,
    receiver: Address,
    first: usize,
    locks: usize,
    mut nonce: u64,
) -> Result<u64> {
    let timeout = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 7 * 86_400;
    let mut i = first;
    while i < first + locks {
        let n = LOCKS_PER_BLOCK.min(first + locks - i);
        let batch: Vec<Value> = (i..i + n)
            .map(|k| {
                let mut h = [0_u8; 32];
                h[..8].copy_from_slice(&(k as u64).to_le_bytes());
                let params = SwapParams {
                    hashlock: B256::from(h),
                    sender: from,
                    receiver,
                    token: None,
                    amount: U256::from(1_000),
                    timeout,
                };
                let intent = crosslock_eth::lock::lock(escrow, &params);
                let tx = json!({
                    "from": from,
                    "to": escrow,
                    "value": format!("{:#x}", intent.value),
                    "data": intent.input,
                    "gas": format!("{LOCK_GAS:#x}"),
                    "nonce": format!("{:#x}", nonce + (k - i) as u64),
                });
                json!({"jsonrpc": "2.0", "id": k, "method": "eth_sendTransaction", "params": [tx]})
            })
            .collect();
        let answers = post(addr, &Value::Array(batch))?;
        for a in answers.as_array().context("batch answer")? {
            if let Some(e) = a.get("error") {
                bail!("eth_sendTransaction: {e}");
            }
        }
        nonce += n as u64;
        i += n;
        mine(addr, 1)?;
    }
    // Whatever did not fit goes into further blocks.
    for _ in 0..100 {
        let mined = hex_u64(&call(
            addr,
            "eth_getTransactionCount",
            &json!([from, "latest"]),
        )?)?;
        if mined == nonce {
            return Ok(nonce);
        }
        mine(addr, 1)?;
    }
    bail!("locks still pending after 100 more blocks")
}

/// One count: prints one JSON line.
pub(crate) fn run_one(a: &OneArgs) -> Result<()> {
    let anvil = Anvil::spawn(&a.anvil)?;
    let addr = anvil.addr.clone();
    let accounts = call(&addr, "eth_accounts", &json!([]))?;
    let account = |i: usize| -> Result<Address> {
        Ok(accounts[i]
            .as_str()
            .context("eth_accounts")?
            .parse::<Address>()?)
    };
    let (from, receiver) = (account(0)?, account(1)?);

    // Deploy the escrow.
    let deploy = crosslock_eth::contract::deploy_escrow();
    let hash = call(
        &addr,
        "eth_sendTransaction",
        &json!([{"from": from, "data": deploy.input, "gas": "0x2dc6c0", "nonce": "0x0"}]),
    )?;
    mine(&addr, 1)?;
    let receipt = call(&addr, "eth_getTransactionReceipt", &json!([hash]))?;
    let escrow: Address = receipt["contractAddress"]
        .as_str()
        .context("no escrow address")?
        .parse()?;
    let start_block = hex_u64(&receipt["blockNumber"])?;

    let t = Instant::now();
    let mut nonce = send_locks(&addr, escrow, from, receiver, 0, a.swaps, 1)?;
    let lock_s = t.elapsed().as_secs_f64();
    // Deep enough below the head that every lock is `finalized` (anvil: 64 blocks down).
    mine(&addr, 70)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let provider = RootProvider::new_http(format!("http://{addr}").parse()?);
        let store = MemoryCursorStore::default();
        let config = WatcherConfig::new(escrow, start_block);
        let rss0 = rss_kib();
        let mut w = Watcher::open(provider, store, config).await?;
        // Catch up: every lock seen, then confirmed at `finalized`, then pruned.
        let t = Instant::now();
        let (mut seen, mut confirmed) = (0_usize, 0_usize);
        loop {
            let batch = w.poll().await?;
            for e in &batch.events {
                match e {
                    WatchEvent::Seen(_) => seen += 1,
                    WatchEvent::Confirmed(_) => confirmed += 1,
                    WatchEvent::Removed(_) => {}
                }
            }
            let done = batch.caught_up() && confirmed == seen;
            w.commit(batch).await?;
            if done {
                break;
            }
        }
        let catch_up_s = t.elapsed().as_secs_f64();
        if seen != a.swaps {
            bail!("the watcher saw {seen} locks, {} were made", a.swaps);
        }
        let rss1 = rss_kib();
        let unfinal_after_catch_up = w.cursor().unfinal.len();

        // Blocks with no escrow log, then blocks holding one new lock each.
        let mut empty = Vec::new();
        let mut touched = Vec::new();
        for _ in 0..a.blocks {
            mine(&addr, 1)?;
            let t = Instant::now();
            let batch = w.poll().await?;
            w.commit(batch).await?;
            empty.push(t.elapsed().as_secs_f64() * 1e3);
        }
        for b in 0..a.blocks as usize {
            nonce = send_locks(&addr, escrow, from, receiver, a.swaps + b, 1, nonce)?;
            let t = Instant::now();
            let batch = w.poll().await?;
            let n = batch
                .events
                .iter()
                .filter(|e| matches!(e, WatchEvent::Seen(_)))
                .count();
            w.commit(batch).await?;
            touched.push(t.elapsed().as_secs_f64() * 1e3);
            if n != 1 {
                bail!("a block with one lock gave {n} Seen events");
            }
        }
        // The node's side alone: the calls one poll of an empty block makes, straight to
        // anvil, so a change with N is told apart from the watcher's own work.
        let provider: RootProvider = RootProvider::new_http(format!("http://{addr}").parse()?);
        let head = provider.get_block_number().await?;
        let filter = Filter::new()
            .address(escrow)
            .from_block(head)
            .to_block(head);
        let mut node = Vec::new();
        for _ in 0..a.blocks.max(10) {
            let t = Instant::now();
            provider.get_block_number().await?;
            provider.get_block_by_number(head.into()).await?;
            provider.get_block_by_number(head.into()).await?;
            provider.get_logs(&filter).await?;
            provider.get_block_by_number(head.into()).await?;
            provider
                .get_block_by_number(BlockNumberOrTag::Finalized)
                .await?;
            provider
                .get_block_by_number(BlockNumberOrTag::Finalized)
                .await?;
            node.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cursor = w.cursor();
        println!(
            "{}",
            json!({
                "swaps": a.swaps,
                "lock_s": lock_s,
                "catch_up_s": catch_up_s,
                "unfinal_after_catch_up": unfinal_after_catch_up,
                "rss_catch_up_delta_kib": rss1.saturating_sub(rss0),
                "blocks": a.blocks,
                "empty": {"what": "blocks with no escrow log", "ms": summary(&empty)},
                "touched": {"what": "blocks holding one new lock each", "ms": summary(&touched)},
                "node_calls": {
                    "what": "the 7 calls of an empty block's poll, made straight to anvil",
                    "ms": summary(&node),
                },
                "cursor_unfinal": cursor.unfinal.len(),
                "cursor_checkpoints": cursor.checkpoints.len(),
            })
        );
        Ok(())
    })
}
