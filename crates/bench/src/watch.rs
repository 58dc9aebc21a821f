//! `watch`: the Bitcoin watcher's cost per new block (time and Electrum calls) and resident
//! memory with 100, 10,000 and 100,000 HTLCs watched. Each count runs in a fresh child process
//! (this binary, `watch-one`), so freed memory of a larger run never hides in a smaller one,
//! against a `btc-regtest` child process, so the node's memory is not ours. The node is the
//! debug build the tests use: a release build of Bitcoin Core's kernel takes longer than every
//! other part of the bench together, and only the node's side of each call is slower for it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{Address, Network, ScriptBuf};
use crosslock_btc::electrum::{ElectrumConfig, ElectrumWatcher};
use crosslock_btc::{BtcHeight, Hashlock, HtlcParams, Secret};
use serde_json::{Value, json};

use crate::out::{Out, rss_kib};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The btc-regtest binary.
    #[arg(long)]
    btc_regtest: PathBuf,
    /// HTLCs in flight, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100,10000,100000")]
    swaps: Vec<usize>,
    /// Blocks mined and measured per run.
    #[arg(long, default_value_t = 5)]
    blocks: u32,
}

#[derive(Debug, clap::Args)]
pub(crate) struct OneArgs {
    #[arg(long)]
    btc_regtest: PathBuf,
    #[arg(long)]
    swaps: usize,
    #[arg(long)]
    blocks: u32,
}

pub(crate) fn run(out: &Out, a: &Args) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut runs = Vec::new();
    for n in &a.swaps {
        eprintln!("watch: {n} HTLCs in flight ...");
        let o = Command::new(&exe)
            .arg("--out")
            .arg(std::env::temp_dir())
            .args([
                "watch-one",
                "--swaps",
                &n.to_string(),
                "--blocks",
                &a.blocks.to_string(),
            ])
            .arg("--btc-regtest")
            .arg(&a.btc_regtest)
            .output()?;
        if !o.status.success() {
            bail!(
                "watch-one {n} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let line = String::from_utf8_lossy(&o.stdout);
        let v: Value = serde_json::from_str(line.lines().last().unwrap_or_default())
            .with_context(|| format!("watch-one printed {line:?}"))?;
        runs.push(v);
    }
    println!(
        "{:>9} {:>12} {:>14} {:>14} {:>14} {:>12} {:>12}",
        "in flight",
        "subscribe s",
        "RPC calls/blk",
        "ms/block",
        "ms/block max",
        "RSS +KiB",
        "B/swap"
    );
    for r in &runs {
        println!(
            "{:>9} {:>12.2} {:>14.1} {:>14.2} {:>14.2} {:>12} {:>12.0}",
            r["swaps"],
            r["subscribe_s"].as_f64().unwrap_or(0.0),
            r["calls_per_block"].as_f64().unwrap_or(0.0),
            r["ms_per_block"].as_f64().unwrap_or(0.0),
            r["ms_per_block_max"].as_f64().unwrap_or(0.0),
            r["rss_delta_kib"],
            r["rss_bytes_per_swap"].as_f64().unwrap_or(0.0),
        );
    }
    let ms = |r: &Value| r["ms_per_block"].as_f64().unwrap_or(0.0);
    let ratio = match (runs.first(), runs.last()) {
        (Some(a), Some(b)) if ms(a) > 0.0 => ms(b) / ms(a),
        _ => 0.0,
    };
    println!("BTC watcher time per block, largest / smallest run: {ratio:.2}x (goal <= 2x)");
    println!(
        "ETH watcher: filters eth_getLogs by the escrow address and keeps no per-swap state, so \
         its cost per block does not depend on swaps in flight; not measured against anvil here"
    );
    out.write(
        "watch",
        json!({
            "bitcoin": runs,
            "btc_ms_per_block_ratio_largest_to_smallest": ratio,
            "ethereum": {"status": "not_measured", "why": "crates/eth's Watcher keeps no per-swap state (one eth_getLogs filtered by the escrow address per poll); no anvil run in this bench yet"},
        }),
    )
}

/// One count in this process: subscribe, then measure blocks. Prints one JSON line.
pub(crate) fn run_one(a: &OneArgs) -> Result<()> {
    let mut node = Node::spawn(&a.btc_regtest)?;
    let miner = Address::p2wsh(&ScriptBuf::from(vec![0x51]), Network::Regtest).to_string();
    let rpc_addr = node.rpc.clone();
    let mine = || rpc(&rpc_addr, "generatetoaddress", &json!([1, miner]));
    mine()?;

    let secp = Secp256k1::new();
    let claim = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[1; 32])?);
    let refund = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[2; 32])?);
    let rss0 = rss_kib();
    let mut w: ElectrumWatcher<u32> =
        ElectrumWatcher::new(ElectrumConfig::new(format!("tcp://{}", node.electrum)));
    let t = Instant::now();
    for i in 0..a.swaps {
        let mut b = [0_u8; 32];
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let params = HtlcParams::new(
            Hashlock::from_secret(&Secret::new(b)),
            claim,
            refund,
            BtcHeight(500_000),
        )?;
        w.watch(u32::try_from(i)?, params)?;
    }
    let subscribe_s = t.elapsed().as_secs_f64();
    let rss1 = rss_kib();
    let _ = w.poll()?;

    let mut times = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..a.blocks {
        let before = w.tip();
        mine()?;
        // The server pushes the header at once; give it time to arrive so one poll sees it.
        std::thread::sleep(Duration::from_millis(300));
        let c0 = w.calls_made();
        let t = Instant::now();
        let mut polls = 0;
        loop {
            let _ = w.poll()?;
            polls += 1;
            if w.tip() != before || polls > 50 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
        calls.push(w.calls_made() - c0);
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let calls_f: Vec<f64> = calls.iter().map(|c| *c as f64).collect();
    let delta = rss1.saturating_sub(rss0);
    #[allow(clippy::cast_precision_loss)]
    let per_swap = delta as f64 * 1024.0 / a.swaps.max(1) as f64;
    println!(
        "{}",
        json!({
            "swaps": a.swaps,
            "watched": w.watched(),
            "subscribe_s": subscribe_s,
            "subscribe_per_s": a.swaps as f64 / subscribe_s,
            "blocks": a.blocks,
            "ms_per_block": mean(&times),
            "ms_per_block_max": times.iter().copied().fold(0.0, f64::max),
            "calls_per_block": mean(&calls_f),
            "rss_before_kib": rss0,
            "rss_after_kib": rss1,
            "rss_delta_kib": delta,
            "rss_bytes_per_swap": per_swap,
        })
    );
    node.stop();
    Ok(())
}

/// A `btc-regtest` child process; it prints its addresses as one JSON line on start.
struct Node {
    child: std::process::Child,
    electrum: String,
    rpc: String,
}

impl Node {
    fn spawn(bin: &std::path::Path) -> Result<Node> {
        use std::io::BufRead as _;
        let mut child = Command::new(bin)
            .arg("--in-memory")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to start {}", bin.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("no stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("btc-regtest printed {line:?}"))?;
        let addr = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .with_context(|| format!("no {k} in {line:?}"))
        };
        Ok(Node {
            electrum: addr("electrum")?,
            rpc: addr("rpc")?,
            child,
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One JSON-RPC call over HTTP/1.0 (the node closes the connection after the response).
fn rpc(addr: &str, method: &str, params: &Value) -> Result<Value> {
    use std::io::{Read as _, Write as _};
    let body = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (_, json_body) = resp.split_once("\r\n\r\n").context("bad HTTP response")?;
    let v: Value = serde_json::from_str(json_body)?;
    if !v["error"].is_null() {
        bail!("{method}: {}", v["error"]);
    }
    Ok(v["result"].clone())
}
