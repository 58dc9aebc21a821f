//! `watch`, the relayer's part: the real `relayer` binary's resident memory with N swaps in
//! flight. For each count a scratch database gets N matched swaps through the relayer's own
//! engine (half each direction, each its own HTLC); then the binary starts on it with a
//! `btc-regtest` node, its Bitcoin adapter loads every open swap and subscribes each HTLC, and
//! its RSS is read from `/proc` once its `crosslock_btc_watched_htlcs` gauge says all N are
//! watched and again a few seconds later. The per-swap figure is the growth between the
//! smallest and the largest count over the swaps added, so the process's fixed costs (the
//! runtime, pools, TLS and metrics) do not count as per-swap memory.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crosslock_core::order::Terms;
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::Event;
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::{Input, NewSwap, Store};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::pipeline::{match_of, open_heads, order_of};
use crate::watch::Node;

/// Seeding tasks (each creates and matches swaps through the engine).
const SEEDERS: usize = 32;

/// One count: seed, start the relayer, read its memory. Returns the run's JSON.
async fn one(
    relayer: &Path,
    btc_regtest: &Path,
    admin_url: &str,
    redis_url: &str,
    n: usize,
) -> Result<Value> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("failed to connect to DATABASE_URL")?;
    let db = format!(
        "crosslock_bench_rss_{}",
        hex::encode(crosslock_relayer::random_id()?)
    );
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await?;
    let url = crate::pipeline::with_db(admin_url, &db)?;
    let r = measure(relayer, btc_regtest, &url, redis_url, n).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    r
}

async fn seed(url: &str, n: usize) -> Result<f64> {
    let store = Store::connect(url, u32::try_from(SEEDERS)?).await?;
    store.migrate().await?;
    let engine = Engine::new(store.clone(), Cache::disabled(), "bench-seed");
    open_heads(&engine).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SEEDERS {
        let (engine, next) = (engine.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let secret = Secret::new(crate::pipeline::rand32()?);
                let (dir, order) = order_of(i, &secret)?;
                let id = SwapId(crosslock_relayer::random_id()?);
                let clock = engine.store.clock().await?;
                engine
                    .create(&NewSwap {
                        id,
                        order: order.clone(),
                        clock,
                        idempotency_key: format!("rss-{}", hex::encode(id.0)),
                        request_digest: [1; 32],
                    })
                    .await?;
                let terms = Terms::from_match(&order, &match_of(dir, &clock)?);
                let mut input = Input::new(Event::Matched { terms, at: clock }, "resolver:bench");
                input.resolver = Some("bench".to_owned());
                engine.apply(id, &input).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    // Hand the chains to the binary: its watchers take the leases at once.
    for name in ["watcher:bitcoin", "watcher:ethereum"] {
        store.release_lease(name, "bench").await?;
    }
    store.pool().close().await;
    Ok(secs)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The value of an unlabelled gauge on a Prometheus page.
fn gauge(metrics_port: u16, name: &str) -> Option<f64> {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    c.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut page = String::new();
    c.read_to_string(&mut page).ok()?;
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `VmRSS` and `VmHWM` of a process, KiB.
fn rss_of(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn measure(
    relayer: &Path,
    btc_regtest: &Path,
    url: &str,
    redis_url: &str,
    n: usize,
) -> Result<Value> {
    let seed_s = seed(url, n).await?;
    let node = Node::spawn(btc_regtest)?;
    let dir = tempfile::tempdir()?;
    let metrics = free_port()?;
    let config = format!(
        r#"network = "regtest"
database_url = "{url}"
redis_url = "{redis_url}"
redis_prefix = "bench-rss-{prefix}"
replica = "bench-rss"

[listen]
public = "127.0.0.1:{public}"
resolver = "127.0.0.1:{resolver}"
admin = "127.0.0.1:{admin}"
metrics = "127.0.0.1:{metrics}"

[chains]
electrum_url = "tcp://{electrum}"
btc_poll_ms = 300
"#,
        prefix = hex::encode(crosslock_relayer::random_id()?),
        public = free_port()?,
        resolver = free_port()?,
        admin = free_port()?,
        electrum = node.electrum,
    );
    let path = dir.path().join("relayer.toml");
    std::fs::write(&path, config)?;
    let log = std::fs::File::create(dir.path().join("relayer.log"))?;
    let started = Instant::now();
    let child = Killed(
        Command::new(relayer)
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("failed to start {}", relayer.display()))?,
    );
    let pid = child.0.id();
    #[allow(clippy::cast_precision_loss)]
    let want = n as f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if gauge(metrics, "crosslock_btc_watched_htlcs") == Some(want) {
            break;
        }
        if Instant::now() > deadline {
            let tail = std::fs::read_to_string(dir.path().join("relayer.log")).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            bail!(
                "the relayer did not watch {n} HTLCs within 600 s; its log ends: {}",
                tail.join(" | ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let watched_s = started.elapsed().as_secs_f64();
    let (rss_watched, _) = rss_of(pid)?;
    // Then settled: a few polls and a sweep later.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = rss_of(pid)?;
    drop(child);
    drop(node);
    Ok(json!({
        "swaps": n,
        "seed_s": seed_s,
        "start_to_all_watched_s": watched_s,
        "rss_when_all_watched_kib": rss_watched,
        "rss_kib": rss,
        "peak_rss_kib": hwm,
    }))
}

/// Every count, smallest first. Prints a table; returns the runs and the per-swap figure.
pub(crate) fn run(
    relayer: &Path,
    btc_regtest: &Path,
    counts: &[usize],
    database_url: &str,
    redis_url: &str,
) -> Result<Value> {
    let rt = tokio::runtime::Runtime::new()?;
    let mut counts = counts.to_vec();
    counts.sort_unstable();
    let mut runs = Vec::new();
    for n in &counts {
        eprintln!("watch: the relayer binary with {n} swaps in flight ...");
        runs.push(rt.block_on(one(relayer, btc_regtest, database_url, redis_url, *n))?);
    }
    let num = |r: &Value, k: &str| r[k].as_f64().unwrap_or(0.0);
    println!("The relayer binary: resident memory with N matched swaps in flight");
    println!(
        "{:>9} {:>8} {:>14} {:>10} {:>11} {:>9}",
        "in flight", "seed s", "all watched s", "RSS KiB", "peak KiB", "KiB/swap"
    );
    for r in &runs {
        println!(
            "{:>9.0} {:>8.1} {:>14.1} {:>10.0} {:>11.0} {:>9.2}",
            num(r, "swaps"),
            num(r, "seed_s"),
            num(r, "start_to_all_watched_s"),
            num(r, "rss_kib"),
            num(r, "peak_rss_kib"),
            num(r, "rss_kib") / num(r, "swaps").max(1.0),
        );
    }
    let per_swap = match (runs.first(), runs.last()) {
        (Some(a), Some(b)) if num(b, "swaps") > num(a, "swaps") => {
            (num(b, "rss_kib") - num(a, "rss_kib")) * 1024.0 / (num(b, "swaps") - num(a, "swaps"))
        }
        _ => 0.0,
    };
    let peak_per_swap = match (runs.first(), runs.last()) {
        (Some(a), Some(b)) if num(b, "swaps") > num(a, "swaps") => {
            (num(b, "peak_rss_kib") - num(a, "peak_rss_kib")) * 1024.0
                / (num(b, "swaps") - num(a, "swaps"))
        }
        _ => 0.0,
    };
    println!(
        "relayer RSS per swap in flight (largest run over smallest): {per_swap:.0} B settled, \
         {peak_per_swap:.0} B at peak (goal <= 2048 B)"
    );
    Ok(json!({
        "runs": runs,
        "bytes_per_swap": per_swap,
        "peak_bytes_per_swap": peak_per_swap,
    }))
}

/// The release-built relayer beside this binary, if there is one.
pub(crate) fn default_relayer() -> Option<PathBuf> {
    let p = std::env::current_exe().ok()?.parent()?.join("relayer");
    p.exists().then_some(p)
}
