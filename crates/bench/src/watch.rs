//! `watch`: the Bitcoin watcher's cost per new block (time and Electrum round trips) and
//! resident memory with 100, 10,000 and 100,000 HTLCs watched, with `--anvil` the Ethereum
//! watcher's cost per block with as many swaps in flight (see `watch_eth`), and the relayer
//! binary's resident memory with as many swaps in flight (see `watch_relayer`). Each count runs in a fresh child process
//! (this binary, `watch-one`), so freed memory of a larger run never hides in a smaller one,
//! against a `btc-regtest` child process, so the node's memory is not ours. The node is the
//! debug build the tests use: a release build of Bitcoin Core's kernel takes longer than every
//! other part of the bench together, and only the node's side of each call is slower for it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use crosslock_btc::electrum::{ElectrumConfig, ElectrumWatcher};
use crosslock_btc::watcher::ChainEvent;
use crosslock_btc::{BtcHeight, Hashlock, HtlcParams, Secret};
use serde_json::{Value, json};

use crate::jsonrpc::call as rpc;
use crate::out::{Out, cpu_s, rss_kib, summary};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The btc-regtest binary.
    #[arg(long)]
    btc_regtest: PathBuf,
    /// HTLCs in flight, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100,10000,100000")]
    swaps: Vec<usize>,
    /// Blocks mined and measured per run (and as many again that each touch one swap).
    #[arg(long, default_value_t = 10)]
    blocks: u32,
    /// The anvil binary; with it the Ethereum watcher is measured too.
    #[arg(long)]
    anvil: Option<PathBuf>,
    /// The relayer binary whose resident memory is measured (default: the one beside this
    /// binary, if built); needs Postgres and Redis.
    #[arg(long)]
    relayer: Option<PathBuf>,
    /// Skip the relayer binary's memory.
    #[arg(long)]
    no_relayer: bool,
    /// The server and a role with CREATEDB (for the relayer's scratch databases).
    #[arg(long, env = "DATABASE_URL", default_value = "")]
    database_url: String,
    /// Redis (for the relayer).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
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

/// Runs this binary's hidden subcommand `sub` for one count in a fresh process; returns the
/// JSON line it printed.
fn one(sub: &str, n: usize, blocks: u32, bin_flag: &str, bin: &std::path::Path) -> Result<Value> {
    let o = Command::new(std::env::current_exe()?)
        .arg("--out")
        .arg(std::env::temp_dir())
        .args([
            sub,
            "--swaps",
            &n.to_string(),
            "--blocks",
            &blocks.to_string(),
        ])
        .arg(bin_flag)
        .arg(bin)
        .output()?;
    if !o.status.success() {
        bail!("{sub} {n} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let line = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(line.lines().last().unwrap_or_default())
        .with_context(|| format!("{sub} printed {line:?}"))
}

/// `r[path...]` as a number (0 if missing).
fn num(r: &Value, path: &[&str]) -> f64 {
    path.iter().fold(r, |v, k| &v[*k]).as_f64().unwrap_or(0.0)
}

/// The last run's figure over the first run's.
fn ratio(runs: &[Value], path: &[&str]) -> f64 {
    match (runs.first(), runs.last()) {
        (Some(a), Some(b)) if num(a, path) > 0.0 => num(b, path) / num(a, path),
        _ => 0.0,
    }
}

fn print_btc(runs: &[Value]) {
    println!("Bitcoin: crates/btc ElectrumWatcher on btc-regtest (ms are medians)");
    println!(
        "{:>9} {:>11} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>7}",
        "in flight",
        "subscribe s",
        "watch()/s",
        "watch_many",
        "empty ms",
        "max ms",
        "RTT/blk",
        "touched ms",
        "RTT/blk",
        "RSS +KiB",
        "B/swap"
    );
    for r in runs {
        println!(
            "{:>9.0} {:>11.2} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>9.1} {:>10.2} {:>10.1} {:>9.0} {:>7.0}",
            num(r, &["swaps"]),
            num(r, &["subscribe_s"]),
            num(r, &["watch_one_by_one", "per_s"]),
            num(r, &["watch_many", "per_s"]),
            num(r, &["empty", "ms", "median"]),
            num(r, &["empty", "ms", "max"]),
            num(r, &["empty", "round_trips"]),
            num(r, &["touched", "ms", "median"]),
            num(r, &["touched", "round_trips"]),
            num(r, &["rss_delta_kib"]),
            num(r, &["rss_bytes_per_swap"]),
        );
    }
}

fn print_eth(runs: &[Value]) {
    println!("Ethereum: crates/eth Watcher on anvil, poll + commit (ms are medians)");
    println!(
        "{:>9} {:>8} {:>11} {:>9} {:>9} {:>10} {:>9} {:>8}",
        "in flight",
        "lock s",
        "catch-up s",
        "empty ms",
        "max ms",
        "touched ms",
        "node ms",
        "unfinal"
    );
    for r in runs {
        println!(
            "{:>9.0} {:>8.1} {:>11.2} {:>9.2} {:>9.2} {:>10.2} {:>9.2} {:>8.0}",
            num(r, &["swaps"]),
            num(r, &["lock_s"]),
            num(r, &["catch_up_s"]),
            num(r, &["empty", "ms", "median"]),
            num(r, &["empty", "ms", "max"]),
            num(r, &["touched", "ms", "median"]),
            num(r, &["node_calls", "ms", "median"]),
            num(r, &["unfinal_after_catch_up"]),
        );
    }
}

pub(crate) fn run(out: &Out, a: &Args) -> Result<()> {
    let mut runs = Vec::new();
    let mut eth_runs = Vec::new();
    for n in &a.swaps {
        eprintln!("watch: {n} HTLCs in flight (Bitcoin) ...");
        runs.push(one(
            "watch-one",
            *n,
            a.blocks,
            "--btc-regtest",
            &a.btc_regtest,
        )?);
        if let Some(anvil) = &a.anvil {
            eprintln!("watch: {n} swaps in flight (Ethereum) ...");
            eth_runs.push(one("watch-eth-one", *n, a.blocks, "--anvil", anvil)?);
        }
    }
    print_btc(&runs);
    let btc = json!({
        "runs": runs,
        "empty_median_ratio_largest_to_smallest": ratio(&runs, &["empty", "ms", "median"]),
        "touched_median_ratio_largest_to_smallest": ratio(&runs, &["touched", "ms", "median"]),
    });
    println!(
        "BTC watcher time per block, largest / smallest run (medians): {:.2}x empty blocks, \
         {:.2}x blocks touching one HTLC (goal <= 2x)",
        num(&btc, &["empty_median_ratio_largest_to_smallest"]),
        num(&btc, &["touched_median_ratio_largest_to_smallest"]),
    );
    let mut eth = json!({"status": "not_measured", "why": "no --anvil given"});
    if !eth_runs.is_empty() {
        print_eth(&eth_runs);
        eth = json!({
            "runs": eth_runs,
            "empty_median_ratio_largest_to_smallest": ratio(&eth_runs, &["empty", "ms", "median"]),
            "touched_median_ratio_largest_to_smallest": ratio(&eth_runs, &["touched", "ms", "median"]),
            "node_calls_median_ratio_largest_to_smallest": ratio(&eth_runs, &["node_calls", "ms", "median"]),
        });
        println!(
            "ETH watcher time per block, largest / smallest run (medians): {:.2}x empty blocks, \
             {:.2}x blocks with one lock (goal <= 2x); anvil alone {:.2}x",
            num(&eth, &["empty_median_ratio_largest_to_smallest"]),
            num(&eth, &["touched_median_ratio_largest_to_smallest"]),
            num(&eth, &["node_calls_median_ratio_largest_to_smallest"]),
        );
    }
    let mut relayer =
        json!({"status": "not_measured", "why": "--no-relayer, or no relayer binary"});
    if !a.no_relayer
        && let Some(bin) = a
            .relayer
            .clone()
            .or_else(crate::watch_relayer::default_relayer)
    {
        if a.database_url.is_empty() {
            bail!("the relayer's memory needs DATABASE_URL (or --no-relayer)");
        }
        relayer = crate::watch_relayer::run(
            &bin,
            &a.btc_regtest,
            &a.swaps,
            &a.database_url,
            &a.redis_url,
        )?;
    }
    out.write(
        "watch",
        json!({"bitcoin": btc, "ethereum": eth, "relayer": relayer}),
    )
}

/// HTLCs subscribed one `watch` call at a time before the rest go through `watch_many`: the
/// relayer's path today, timed on a sample so the largest runs stay short.
const ONE_BY_ONE_SAMPLE: usize = 1_000;

fn op_true() -> ScriptBuf {
    ScriptBuf::from(vec![0x51])
}

/// The HTLC of swap `i`: its own hashlock, the same keys and timeout for all.
fn htlc(i: usize, claim: PublicKey, refund: PublicKey) -> Result<HtlcParams> {
    let mut b = [0_u8; 32];
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Ok(HtlcParams::new(
        Hashlock::from_secret(&Secret::new(b)),
        claim,
        refund,
        BtcHeight(500_000),
    )?)
}

/// Polls until `done` holds for an event, up to 50 polls 20 ms apart; returns the time spent in
/// the polls (not the sleeps between them) in ms and the round trips they made.
fn poll_until(
    w: &mut ElectrumWatcher<u32>,
    mut done: impl FnMut(&ElectrumWatcher<u32>, &[ChainEvent<u32>]) -> bool,
) -> Result<(f64, usize)> {
    let c0 = w.calls_made();
    let mut spent = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        let ev = w.poll()?;
        spent += t.elapsed();
        if done(w, &ev) {
            return Ok((spent.as_secs_f64() * 1e3, w.calls_made() - c0));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the event waited for did not come in 50 polls")
}

/// One count in this process: subscribe, then measure blocks. Prints one JSON line.
pub(crate) fn run_one(a: &OneArgs) -> Result<()> {
    let mut node = Node::spawn(&a.btc_regtest)?;
    let miner = Address::p2wsh(&op_true(), Network::Regtest).to_string();
    let rpc_addr = node.rpc.clone();
    let mine = |n: u32| rpc(&rpc_addr, "generatetoaddress", &json!([n, miner]));
    // Coins for the blocks that touch a watched HTLC: anyone-can-spend coinbases, matured.
    let mut coins = Vec::new();
    for hash in mine(a.blocks)?.as_array().context("generatetoaddress")? {
        let raw = rpc(&rpc_addr, "getblock", &json!([hash, 0]))?;
        let block: bitcoin::Block = deserialize_hex(raw.as_str().context("getblock")?)?;
        let cb = &block.txdata[0];
        coins.push((OutPoint::new(cb.compute_txid(), 0), cb.output[0].value));
    }
    mine(100)?;

    let secp = Secp256k1::new();
    let claim = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[1; 32])?);
    let refund = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[2; 32])?);
    let rss0 = rss_kib();
    let mut w: ElectrumWatcher<u32> =
        ElectrumWatcher::new(ElectrumConfig::new(format!("tcp://{}", node.electrum)));
    let one = a.swaps.min(ONE_BY_ONE_SAMPLE);
    let t = Instant::now();
    for i in 0..one {
        w.watch(u32::try_from(i)?, htlc(i, claim, refund)?)?;
    }
    let one_s = t.elapsed().as_secs_f64();
    let rest: Vec<(u32, HtlcParams)> = (one..a.swaps)
        .map(|i| Ok((u32::try_from(i)?, htlc(i, claim, refund)?)))
        .collect::<Result<_>>()?;
    let node_pid = node.child.id().to_string();
    let cpu0 = (cpu_s("self"), cpu_s(&node_pid));
    let t = Instant::now();
    w.watch_many(rest)?;
    let many_s = t.elapsed().as_secs_f64();
    let many_cpu = (cpu_s("self") - cpu0.0, cpu_s(&node_pid) - cpu0.1);
    let subscribe_s = one_s + many_s;
    let rss1 = rss_kib();
    let _ = w.poll()?;

    // Blocks that touch no watched HTLC: the fixed cost of a block.
    let mut times = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..a.blocks {
        let before = w.tip();
        mine(1)?;
        // The server pushes the header at once; give it time to arrive so one poll sees it.
        std::thread::sleep(Duration::from_millis(300));
        let (ms, c) = poll_until(&mut w, |w, _| w.tip() != before)?;
        times.push(ms);
        calls.push(c);
    }
    // Blocks that confirm the funding of one watched HTLC each, spread over the ones watched:
    // the same block plus one script's history fetched.
    let mut touched_times = Vec::new();
    let mut touched_calls = Vec::new();
    for (b, (coin, value)) in coins.iter().enumerate() {
        let i = b * a.swaps / coins.len().max(1);
        let params = htlc(i, claim, refund)?;
        let fund = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: *coin,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[op_true().as_bytes()]),
            }],
            output: vec![
                TxOut {
                    value: Amount::from_sat(150_000),
                    script_pubkey: params.script_pubkey(),
                },
                TxOut {
                    value: *value - Amount::from_sat(152_000),
                    script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
                },
            ],
        };
        rpc(
            &rpc_addr,
            "sendrawtransaction",
            &json!([serialize_hex(&fund)]),
        )?;
        let op = OutPoint::new(fund.compute_txid(), 0);
        let funded = move |confs: u32| {
            move |_: &ElectrumWatcher<u32>, ev: &[ChainEvent<u32>]| {
                ev.iter().any(|e| {
                    matches!(e, ChainEvent::Funding { outpoint, confirmations, .. }
                        if *outpoint == op && *confirmations == confs)
                })
            }
        };
        std::thread::sleep(Duration::from_millis(300));
        poll_until(&mut w, funded(0))?;
        mine(1)?;
        std::thread::sleep(Duration::from_millis(300));
        let (ms, c) = poll_until(&mut w, funded(1))?;
        touched_times.push(ms);
        touched_calls.push(c);
    }

    #[allow(clippy::cast_precision_loss)]
    let mean_calls = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    let delta = rss1.saturating_sub(rss0);
    #[allow(clippy::cast_precision_loss)]
    let per_swap = delta as f64 * 1024.0 / a.swaps.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    println!(
        "{}",
        json!({
            "swaps": a.swaps,
            "watched": w.watched(),
            "subscribe_s": subscribe_s,
            "watch_one_by_one": {"htlcs": one, "s": one_s, "per_s": rate(one, one_s)},
            "watch_many": {
                "htlcs": a.swaps - one,
                "s": many_s,
                "per_s": rate(a.swaps - one, many_s),
                "cpu_s": {"bench": many_cpu.0, "btc_regtest": many_cpu.1},
            },
            "blocks": a.blocks,
            "empty": {
                "what": "blocks touching no watched HTLC",
                "ms": summary(&times),
                "round_trips": mean_calls(&calls),
            },
            "touched": {
                "what": "blocks confirming one watched HTLC's funding each",
                "ms": summary(&touched_times),
                "round_trips": mean_calls(&touched_calls),
            },
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
pub(crate) struct Node {
    child: std::process::Child,
    pub(crate) electrum: String,
    rpc: String,
}

impl Node {
    pub(crate) fn spawn(bin: &std::path::Path) -> Result<Node> {
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
