//! `pipeline`: swaps driven from `Created` to `Completed` through the relayer's own engine and
//! store and the resolver's own store on real Postgres and Redis. Maker and resolver inputs go
//! through `Engine` the way the gRPC handlers call it; chain facts go through
//! `watcher::apply_update` as `Observation`s in `ChainUpdate`s, one serial watcher per chain as
//! in the relayer, each update carrying what the swaps in flight submitted since the last one (a
//! block). The resolver's side is its intake's shape: one task recording each match and secret
//! in a transaction, and each look's chain facts with `resolver::db::append_many`. Postgres transactions are counted
//! from `pg_stat_database`; round trips by a counting proxy on a smaller sample; pgbench runs
//! against the same server for its ceiling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::{BtcPubkey, Chain, EthAddress, LockId, Network, TxId};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::order::{Direction, MatchParams, Order, Terms};
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::{Event, PresignedClaim, Side, SpendKind};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::{Input, NewSwap, Store, now_unix};
use crosslock_relayer::watcher::{ChainUpdate, Observation, apply_update};
use crosslock_resolver::db as rdb;
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::out::{Out, quantile};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Swaps in the timed run (half each direction).
    #[arg(long, default_value_t = 10_000)]
    swaps: usize,
    /// Swaps in flight at once (maker/resolver clients). A chain update carries the facts of
    /// the swaps in flight, so this sets how much each batch amortises.
    #[arg(long, default_value_t = 1_000)]
    concurrency: usize,
    /// Postgres pool size (the relayer's default).
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Most observations per chain update.
    #[arg(long, default_value_t = 1_000)]
    block_max: usize,
    /// Swaps in the round-trip counting run (through the proxy, not timed).
    #[arg(long, default_value_t = 200)]
    count_swaps: usize,
    /// Drive the relayer alone, without the resolver's store.
    #[arg(long)]
    relayer_only: bool,
    /// pgbench run length in seconds (0: skip pgbench).
    #[arg(long, default_value_t = 12)]
    pgbench_secs: u64,
    /// The server and a role with CREATEDB.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Redis.
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
}

/// The steps of one swap, in order; the same eleven for both directions.
const STEPS: [&str; 11] = [
    "create (maker)",
    "match (resolver)",
    "src lock seen (mempool)",
    "src lock final",
    "dst lock seen (1 conf)",
    "dst lock final",
    "secret revealed -> claim action committed",
    "dst claim seen (mempool)",
    "src claim seen (1 conf)",
    "dst claim settled",
    "src claim settled",
];

pub(crate) fn with_db(url: &str, db: &str) -> Result<String> {
    let (base, _) = url
        .rsplit_once('/')
        .context("DATABASE_URL has no database")?;
    let base = base.to_owned();
    Ok(format!("{base}/{db}"))
}

pub(crate) fn rand32() -> Result<[u8; 32]> {
    let mut b = [0_u8; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id()?);
    b[16..].copy_from_slice(&crosslock_relayer::random_id()?);
    Ok(b)
}

struct Job {
    obs: Observation,
    done: oneshot::Sender<()>,
}

/// Waits for one job, then takes whatever else is queued, up to `max`: one block's worth.
/// `None` once every sender is gone.
async fn next_batch<T>(rx: &mut mpsc::UnboundedReceiver<T>, max: usize) -> Option<Vec<T>> {
    let mut jobs = vec![rx.recv().await?];
    while jobs.len() < max {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    Some(jobs)
}

/// How often the pipeline's Bitcoin height moves: a block a second, 600 times mainnet's pace.
const BTC_BLOCK: Duration = Duration::from_secs(1);

/// One chain's watcher: batches whatever is queued into one update and applies it.
async fn watcher(
    engine: Engine,
    chain: Chain,
    token: i64,
    start: u64,
    block_max: usize,
    mut rx: mpsc::UnboundedReceiver<Job>,
    blocks: Arc<AtomicU64>,
) -> Result<()> {
    let mut height = start;
    let mut mined = Instant::now();
    while let Some(jobs) = next_batch(&mut rx, block_max).await {
        // Bitcoin timelocks count blocks: its height moves once per `BTC_BLOCK` (each update is
        // a poll, not a block), so a run with many swaps in flight does not age them by
        // hundreds of blocks. Ethereum's clock is the block time, which is wall time here.
        if chain == Chain::Ethereum || mined.elapsed() >= BTC_BLOCK {
            height += 1;
            mined = Instant::now();
        }
        let u = ChainUpdate {
            height,
            hash: height.to_be_bytes().to_vec(),
            time: now_unix(),
            observations: jobs.iter().map(|j| j.obs.clone()).collect(),
        };
        if !apply_update(&engine, chain, &u, token).await? {
            bail!("lost the {chain:?} watcher lease");
        }
        blocks.fetch_add(1, Ordering::Relaxed);
        for j in jobs {
            let _ = j.done.send(());
        }
    }
    Ok(())
}

/// What reaches the resolver's intake, which is one task in the daemon.
enum ResJob {
    /// An accepted offer: `Created` and `Matched` in one transaction.
    Match {
        id: SwapId,
        created: Box<Event>,
        matched: Box<Event>,
        done: oneshot::Sender<()>,
    },
    /// The relayer's `SecretReleased` (BTC -> ETH): the clock and the secret.
    Secret {
        id: SwapId,
        secret: Secret,
        done: oneshot::Sender<()>,
    },
    /// A fact the resolver's own watchers found; one look's facts go in one transaction.
    Chain {
        id: SwapId,
        event: Box<Event>,
        done: oneshot::Sender<()>,
    },
}

/// The resolver's intake as the daemon runs it (`resolver::intake`): one task; each accepted
/// offer and each released secret its own transaction, and each look at the chains one
/// `append_many` of every swap's facts, with the clock first for a swap whose clock moved and,
/// when the Bitcoin tip moved, the clock for every other open swap.
async fn resolver_intake(
    pool: PgPool,
    store: Store,
    block_max: usize,
    mut rx: mpsc::UnboundedReceiver<ResJob>,
) -> Result<()> {
    use std::collections::HashMap;
    let mut ticked: HashMap<SwapId, Clock> = HashMap::new();
    let mut last_tip = None;
    while let Some(jobs) = next_batch(&mut rx, block_max).await {
        let clock = store.clock().await?;
        let mut chain: Vec<(SwapId, Event)> = Vec::new();
        let mut dones = Vec::new();
        for j in jobs {
            match j {
                ResJob::Match {
                    id,
                    created,
                    matched,
                    done,
                } => {
                    let r = rdb::append_many(&pool, &[(id, vec![*created, *matched])]).await?;
                    if r.first().is_none_or(|(_, a)| a.swap.terms.is_none()) {
                        bail!("the resolver's store refused the match");
                    }
                    ticked.insert(id, r[0].1.swap.clock);
                    let _ = done.send(());
                }
                ResJob::Secret { id, secret, done } => {
                    let mut evs = Vec::new();
                    if ticked.get(&id) != Some(&clock) {
                        evs.push(Event::Tick { clock });
                    }
                    evs.push(Event::SecretRevealed {
                        secret,
                        maker_claim: None,
                    });
                    let r = rdb::append_many(&pool, &[(id, evs)]).await?;
                    if r.first().is_none_or(|(_, a)| a.swap.secret.is_none()) {
                        bail!("the resolver's store refused the secret");
                    }
                    ticked.insert(id, r[0].1.swap.clock);
                    let _ = done.send(());
                }
                ResJob::Chain { id, event, done } => {
                    chain.push((id, *event));
                    dones.push(done);
                }
            }
        }
        if chain.is_empty() && last_tip == Some(clock.btc_tip) {
            continue;
        }
        let mut order: Vec<SwapId> = Vec::new();
        let mut per: HashMap<SwapId, Vec<Event>> = HashMap::new();
        for (id, ev) in chain {
            let evs = per.entry(id).or_insert_with(|| {
                order.push(id);
                Vec::new()
            });
            if evs.is_empty() && ticked.get(&id) != Some(&clock) {
                evs.push(Event::Tick { clock });
            }
            evs.push(ev);
        }
        let mut batch: Vec<(SwapId, Vec<Event>)> = order
            .iter()
            .map(|id| (*id, per.remove(id).unwrap_or_default()))
            .collect();
        if last_tip != Some(clock.btc_tip) {
            last_tip = Some(clock.btc_tip);
            let mut rest: Vec<SwapId> = ticked
                .iter()
                .filter(|(id, c)| **c != clock && !order.contains(id))
                .map(|(id, _)| *id)
                .collect();
            rest.sort();
            batch.extend(rest.into_iter().map(|id| (id, vec![Event::Tick { clock }])));
        }
        for (id, a) in rdb::append_many(&pool, &batch).await? {
            if a.swap.state.is_terminal() {
                ticked.remove(&id);
            } else if a.swap.clock == clock {
                ticked.insert(id, clock);
            }
        }
        for d in dones {
            let _ = d.send(());
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Ctx {
    engine: Engine,
    btc: mpsc::UnboundedSender<Job>,
    eth: mpsc::UnboundedSender<Job>,
    res: Option<mpsc::UnboundedSender<ResJob>>,
}

impl Ctx {
    /// A chain fact: the relayer's watcher of `chain` and (unless relayer-only) the resolver's
    /// intake both record it; returns when both have committed.
    async fn observe(
        &self,
        chain: Chain,
        obs: Observation,
        event: Event,
        id: SwapId,
    ) -> Result<()> {
        let (done, wait) = oneshot::channel();
        let q = if chain == Chain::Bitcoin {
            &self.btc
        } else {
            &self.eth
        };
        q.send(Job { obs, done })
            .map_err(|_| anyhow::anyhow!("watcher stopped"))?;
        let res = match &self.res {
            Some(r) => {
                let (done, wait) = oneshot::channel();
                r.send(ResJob::Chain {
                    id,
                    event: Box::new(event),
                    done,
                })
                .map_err(|_| anyhow::anyhow!("resolver intake stopped"))?;
                Some(wait)
            }
            None => None,
        };
        wait.await.context("watcher failed")?;
        if let Some(w) = res {
            w.await.context("resolver intake failed")?;
        }
        Ok(())
    }

    /// Sends `job` to the resolver's intake (if any) and waits for its commit.
    async fn resolver(&self, job: impl FnOnce(oneshot::Sender<()>) -> ResJob) -> Result<()> {
        if let Some(r) = &self.res {
            let (done, wait) = oneshot::channel();
            r.send(job(done))
                .map_err(|_| anyhow::anyhow!("resolver intake stopped"))?;
            wait.await.context("resolver intake failed")?;
        }
        Ok(())
    }
}

fn lock_of(chain: Chain) -> Result<LockId> {
    Ok(match chain {
        Chain::Bitcoin => LockId::BtcOutpoint {
            txid: TxId(rand32()?),
            vout: 0,
        },
        Chain::Ethereum => LockId::EthEscrow { id: rand32()? },
    })
}

fn depth(chain: Chain, level: u8) -> Depth {
    match chain {
        Chain::Bitcoin => Depth::Btc(match level {
            0 => 0,
            1 => 1,
            _ => 6,
        }),
        Chain::Ethereum => Depth::Eth(match level {
            0 => EthDepth::Pending,
            1 => EthDepth::Included,
            _ => EthDepth::Finalized,
        }),
    }
}

fn side_of(chain: Chain, src: Chain) -> Side {
    if chain == src { Side::Src } else { Side::Dst }
}

/// Keys on the curve (the relayer's Bitcoin adapter watches only HTLCs it can build).
fn pubkey(secret: u8) -> Result<BtcPubkey> {
    let secp = bitcoin::secp256k1::Secp256k1::signing_only();
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[secret; 32])?;
    Ok(BtcPubkey::from_bytes(
        &bitcoin::secp256k1::PublicKey::from_secret_key(&secp, &sk).serialize(),
    )?)
}

/// Swap `n`'s order (even: BTC -> ETH, odd: ETH -> BTC), 0.01 BTC against 1 ETH, binding for an
/// hour, on `secret`'s hashlock.
pub(crate) fn order_of(n: usize, secret: &Secret) -> Result<(Direction, Order)> {
    let dir = if n.is_multiple_of(2) {
        Direction::BtcToEth
    } else {
        Direction::EthToBtc
    };
    let (btc, eth) = (
        Amount::Btc(Sats(1_000_000)),
        Amount::Eth(Wei(Wei::ONE_ETH.0)),
    );
    let (give, take) = match dir {
        Direction::BtcToEth => (btc, eth),
        Direction::EthToBtc => (eth, btc),
    };
    Ok((
        dir,
        Order {
            network: Network::Regtest,
            hashlock: secret.hashlock(),
            give,
            take,
            maker_btc_pubkey: pubkey(2)?,
            maker_eth_address: EthAddress([9; 20]),
            quote_expires: UnixTime(now_unix() + 3_600),
        },
    ))
}

/// The resolver's side of a match at `clock`: timelocks inside the protocol's windows.
pub(crate) fn match_of(dir: Direction, clock: &Clock) -> Result<MatchParams> {
    let p = Network::Regtest.params();
    let (btc_blocks, eth_secs) = match dir {
        Direction::BtcToEth => (200, 12 * 3_600),
        Direction::EthToBtc => (80, 40 * 3_600),
    };
    Ok(MatchParams {
        resolver_btc_pubkey: pubkey(3)?,
        resolver_eth_address: EthAddress([0x22; 20]),
        escrow_contract: EthAddress([0x33; 20]),
        chain_id: p.eth_chain_id,
        btc_timeout: BtcHeight(clock.btc_tip.0 + btc_blocks),
        eth_timeout: UnixTime(clock.eth_time.0.max(clock.wall.0) + eth_secs),
        finality: p.finality,
    })
}

/// Takes both watcher leases and writes each chain's first head (an empty update), as the
/// relayer's watchers do before the API may match; returns each chain's start height and
/// fencing token (Bitcoin first).
pub(crate) async fn open_heads(engine: &Engine) -> Result<[(u64, i64); 2]> {
    let mut out = [(0, 0); 2];
    for (i, (chain, name, h)) in [
        (Chain::Bitcoin, "bitcoin", 1_000_u64),
        (Chain::Ethereum, "ethereum", 100),
    ]
    .into_iter()
    .enumerate()
    {
        let start = engine.store.cursor(name).await?.map_or(h, |c| c.0);
        let token = engine
            .store
            .acquire_lease(
                &format!("watcher:{name}"),
                "bench",
                Duration::from_secs(3_600),
            )
            .await?
            .context("watcher lease held elsewhere")?;
        let u = ChainUpdate {
            height: start,
            hash: start.to_be_bytes().to_vec(),
            time: now_unix(),
            observations: Vec::new(),
        };
        apply_update(engine, chain, &u, token).await?;
        out[i] = (start, token);
    }
    Ok(out)
}

/// One swap, Created to Completed; returns each step's latency in seconds.
async fn one_swap(ctx: &Ctx, n: usize) -> Result<[f64; 11]> {
    let e = &ctx.engine;
    let secret = Secret::new(rand32()?);
    let id = SwapId(crosslock_relayer::random_id()?);
    let mut lat = [0.0; 11];
    let mut step = 0;
    let mut t = Instant::now();
    let mut lap = |lat: &mut [f64; 11]| {
        lat[step] = t.elapsed().as_secs_f64();
        step += 1;
        t = Instant::now();
    };

    // Maker submits (what SubmitOrder does after validation).
    let (dir, order) = order_of(n, &secret)?;
    let (src, dst) = (dir.src_chain(), dir.dst_chain());
    let (give, take) = (order.give, order.take);
    let clock = e.store.clock().await?;
    e.create(&NewSwap {
        id,
        order: order.clone(),
        clock,
        idempotency_key: format!("bench-{}", hex::encode(id.0)),
        request_digest: [1; 32],
    })
    .await?;
    lap(&mut lat);

    // Resolver accepts (what AcceptOrder does: heads, load, clock, one versioned transition).
    if !e.store.heads_known().await? {
        bail!("chain heads unknown");
    }
    let loaded = e.store.load(id).await?;
    let clock: Clock = e.store.clock().await?;
    let p = Network::Regtest.params();
    let m = match_of(dir, &clock)?;
    let terms = Terms::from_match(&order, &m);
    let mut input = Input::new(Event::Matched { terms, at: clock }, "resolver:bench");
    input.expected_version = Some(loaded.version);
    input.resolver = Some("bench".to_owned());
    e.apply(id, &input).await?;
    // The resolver records the match once AcceptOrder returned.
    ctx.resolver(|done| ResJob::Match {
        id,
        created: Box::new(Event::Created {
            id,
            order: order.clone(),
            at: clock,
        }),
        matched: Box::new(Event::Matched { terms, at: clock }),
        done,
    })
    .await?;
    lap(&mut lat);

    let (src_lock, dst_lock) = (lock_of(src)?, lock_of(dst)?);
    let hashlock = secret.hashlock().0;
    for (chain, lock, amount) in [(src, src_lock, give), (dst, dst_lock, take)] {
        for level in [if chain == src { 0 } else { 1 }, 2] {
            let d = if level == 2 {
                p.finality.required(&amount)
            } else {
                depth(chain, level)
            };
            let event = Event::LockSeen {
                side: side_of(chain, src),
                lock,
                amount,
                depth: d,
                seen_at: UnixTime(now_unix()),
            };
            ctx.observe(
                chain,
                Observation::LockSeen {
                    hashlock,
                    lock,
                    amount,
                    depth: d,
                },
                event,
                id,
            )
            .await?;
            lap(&mut lat);
        }
    }

    // Maker reveals (what RevealSecret does); ETH -> BTC comes with the maker's signed claim.
    let clock = e.store.clock().await?;
    let mut input = Input::new(
        Event::SecretRevealed {
            secret: secret.clone(),
            maker_claim: (dir == Direction::EthToBtc).then(|| PresignedClaim {
                fee_ladder: vec![vec![0xab; 200]],
            }),
        },
        "maker",
    );
    input.clock = Some(clock);
    e.apply(id, &input).await?;
    // BTC -> ETH: the relayer hands the secret to the resolver, which records it and with it the
    // claims. ETH -> BTC: the resolver reads it from the maker's claim on chain (next step).
    if dir == Direction::BtcToEth {
        ctx.resolver(|done| ResJob::Secret {
            id,
            secret: secret.clone(),
            done,
        })
        .await?;
    }
    lap(&mut lat);

    let (dst_tx, src_tx) = (TxId(rand32()?), TxId(rand32()?));
    for (chain, lock, tx, level) in [
        (dst, dst_lock, dst_tx, 0),
        (src, src_lock, src_tx, 1),
        (dst, dst_lock, dst_tx, 2),
        (src, src_lock, src_tx, 2),
    ] {
        let kind = SpendKind::Claim {
            secret: secret.clone(),
        };
        let event = Event::SpendSeen {
            side: side_of(chain, src),
            lock,
            tx,
            kind: kind.clone(),
            depth: depth(chain, level),
        };
        ctx.observe(
            chain,
            Observation::SpendSeen {
                lock,
                tx,
                kind,
                depth: depth(chain, level),
            },
            event,
            id,
        )
        .await?;
        lap(&mut lat);
    }
    Ok(lat)
}

struct RunResult {
    resolver_states: Vec<(String, i64)>,
    elapsed: f64,
    latencies: Vec<Vec<f64>>,
    blocks: [u64; 2],
    states: Vec<(String, i64)>,
}

async fn drive(
    url: &str,
    redis: &str,
    pool: u32,
    swaps: usize,
    concurrency: usize,
    block_max: usize,
    with_resolver: bool,
) -> Result<RunResult> {
    let store = Store::connect(url, pool).await?;
    // The resolver's store: its own schema in the same database, as the devnet runs it.
    let (res, res_task, res_pool) = if with_resolver {
        let rpool = rdb::connect(url, 4, 5_000).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(resolver_intake(rpool.clone(), store.clone(), block_max, rx));
        (Some(tx), Some(task), Some(rpool))
    } else {
        (None, None, None)
    };
    let cache = Cache::connect(
        redis,
        &format!("bench-{}", hex::encode(crosslock_relayer::random_id()?)),
    )
    .await?;
    let engine = Engine::new(store.clone(), cache, "bench");
    let heads = open_heads(&engine).await?;
    let starts = [heads[0].0, heads[1].0];
    let tokens = [heads[0].1, heads[1].1];
    let (btc_tx, btc_rx) = mpsc::unbounded_channel();
    let (eth_tx, eth_rx) = mpsc::unbounded_channel();
    let counts = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let wb = tokio::spawn(watcher(
        engine.clone(),
        Chain::Bitcoin,
        tokens[0],
        starts[0],
        block_max,
        btc_rx,
        counts[0].clone(),
    ));
    let we = tokio::spawn(watcher(
        engine.clone(),
        Chain::Ethereum,
        tokens[1],
        starts[1],
        block_max,
        eth_rx,
        counts[1].clone(),
    ));
    let ctx = Ctx {
        engine: engine.clone(),
        btc: btc_tx,
        eth: eth_tx,
        res,
    };
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (ctx, next) = (ctx.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lats = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= swaps {
                    return Ok::<_, anyhow::Error>(lats);
                }
                lats.push(one_swap(&ctx, n).await?);
            }
        }));
    }
    let mut latencies = vec![Vec::with_capacity(swaps); STEPS.len()];
    for t in tasks {
        for l in t.await?? {
            for (i, v) in l.iter().enumerate() {
                latencies[i].push(*v);
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop(ctx);
    wb.await??;
    we.await??;
    if let Some(t) = res_task {
        t.await??;
    }
    for l in &mut latencies {
        l.sort_by(f64::total_cmp);
    }
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM swaps GROUP BY state ORDER BY state")
            .fetch_all(store.pool())
            .await?;
    store.pool().close().await;
    let resolver_states: Vec<(String, i64)> = match res_pool {
        Some(p) => {
            let r =
                sqlx::query_as("SELECT state, count(*) FROM swaps GROUP BY state ORDER BY state")
                    .fetch_all(&p)
                    .await?;
            p.close().await;
            r
        }
        None => Vec::new(),
    };
    Ok(RunResult {
        resolver_states,
        elapsed,
        latencies,
        blocks: [
            counts[0].load(Ordering::Relaxed),
            counts[1].load(Ordering::Relaxed),
        ],
        states,
    })
}

/// Counts client round trips on the Postgres wire: each Sync or simple Query is one (the client
/// waits for ReadyForQuery). A proxy in the path adds latency, so only the sample run uses it.
async fn counting_proxy(upstream: String, count: Arc<AtomicU64>) -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            let (upstream, count) = (upstream.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = Vec::new();
                let mut chunk = vec![0_u8; 64 * 1024];
                let mut startup = true;
                loop {
                    let n = match cr.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sw.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    loop {
                        let head = if startup { 0 } else { 1 };
                        if buf.len() < head + 4 {
                            break;
                        }
                        let len = u32::from_be_bytes([
                            buf[head],
                            buf[head + 1],
                            buf[head + 2],
                            buf[head + 3],
                        ]) as usize;
                        if buf.len() < head + len {
                            break;
                        }
                        if startup {
                            // SSLRequest/GSSENCRequest are followed by another startup packet.
                            let code = buf
                                .get(4..8)
                                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                            startup = matches!(code, Some(80_877_103 | 80_877_104));
                        } else if matches!(buf[0], b'S' | b'Q') {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        buf.drain(..head + len);
                    }
                }
            });
        }
    });
    Ok(port)
}

async fn xacts(admin: &mut PgConnection, db: &str) -> Result<(i64, i64)> {
    let r: (i64, i64) = sqlx::query_as(
        "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(&mut *admin)
    .await?;
    Ok(r)
}

fn host_port(url: &str) -> Result<String> {
    let after = url.split_once('@').map_or(url, |(_, h)| h);
    let after = after
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://");
    Ok(after
        .split('/')
        .next()
        .context("bad DATABASE_URL")?
        .to_owned())
}

fn pgbench(url: &str, clients: u32, threads: usize, secs: u64) -> Result<(f64, String)> {
    let init = std::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", url])
        .output()
        .context("failed to run pgbench -i (is pgbench on PATH?)")?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let args = [
        "-N".to_owned(),
        "-c".to_owned(),
        clients.to_string(),
        "-j".to_owned(),
        threads.to_string(),
        "-T".to_owned(),
        secs.to_string(),
        url.to_owned(),
    ];
    let run = std::process::Command::new("pgbench").args(&args).output()?;
    let text = String::from_utf8_lossy(&run.stdout).to_string();
    if !run.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps ="))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .context("no tps line in pgbench output")?;
    Ok((
        tps,
        format!("pgbench -N -c {clients} -j {threads} -T {secs} (scale 10)"),
    ))
}

pub(crate) async fn run(out: &Out, a: Args) -> Result<()> {
    let mut admin = PgConnection::connect(&a.database_url)
        .await
        .context("failed to connect to DATABASE_URL")?;
    let suffix = hex::encode(crosslock_relayer::random_id()?);
    let db = format!("crosslock_bench_{suffix}");
    let pgb = format!("crosslock_pgbench_{suffix}");
    for d in [&db, &pgb] {
        sqlx::query(&format!("CREATE DATABASE {d}"))
            .execute(&mut admin)
            .await?;
    }
    let url = with_db(&a.database_url, &db)?;
    let result = measure(&mut admin, &a, &db, &url, &pgb).await;
    for d in [&db, &pgb] {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
    let doc = result?;
    out.write("pipeline", doc)
}

async fn measure(
    admin: &mut PgConnection,
    a: &Args,
    db: &str,
    url: &str,
    pgb: &str,
) -> Result<serde_json::Value> {
    {
        let s = Store::connect(url, 2).await?;
        s.migrate().await?;
        s.pool().close().await;
    }
    // Round trips: a small sample through the counting proxy.
    let rt = Arc::new(AtomicU64::new(0));
    let port = counting_proxy(host_port(&a.database_url)?, rt.clone()).await?;
    let proxied = url.replacen(
        &host_port(&a.database_url)?,
        &format!("127.0.0.1:{port}"),
        1,
    );
    let proxied = if proxied.contains('?') {
        format!("{proxied}&sslmode=disable")
    } else {
        format!("{proxied}?sslmode=disable")
    };
    // Warm the pool's connections first so connection setup is not counted per swap.
    let sample = drive(
        &proxied,
        &a.redis_url,
        a.pool,
        a.count_swaps,
        a.concurrency.min(a.count_swaps),
        a.block_max,
        !a.relayer_only,
    )
    .await?;
    #[allow(clippy::cast_precision_loss)]
    let rt_per_swap = rt.load(Ordering::Relaxed) as f64 / a.count_swaps as f64;
    drop(sample);

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = xacts(admin, db).await?;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let r = drive(
        url,
        &a.redis_url,
        a.pool,
        a.swaps,
        a.concurrency,
        a.block_max,
        !a.relayer_only,
    )
    .await?;
    // Backends flush their statistics when they exit (the pool was closed).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = xacts(admin, db).await?;
    let commits = after.0 - before.0;
    let rollbacks = after.1 - before.1;
    let completed = r
        .states
        .iter()
        .filter(|(s, _)| s == "Completed")
        .map(|(_, n)| *n)
        .sum::<i64>()
        // The round-trip sample ran in the same database first.
        - i64::try_from(a.count_swaps).unwrap_or(0);
    let resolver_completed = r
        .resolver_states
        .iter()
        .filter(|(s, _)| s == "Completed")
        .map(|(_, n)| *n)
        .sum::<i64>()
        - if a.relayer_only {
            0
        } else {
            i64::try_from(a.count_swaps).unwrap_or(0)
        };
    #[allow(clippy::cast_precision_loss)]
    let (swaps_f, commits_f) = (a.swaps as f64, commits as f64);
    let swaps_per_s = swaps_f / r.elapsed;
    let transitions_per_s = swaps_f * STEPS.len() as f64 / r.elapsed;
    let xact_per_s = commits_f / r.elapsed;

    let pg = if a.pgbench_secs > 0 {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Some(pgbench(
            &with_db(&a.database_url, pgb)?,
            a.pool,
            threads,
            a.pgbench_secs,
        )?)
    } else {
        None
    };

    println!(
        "pipeline: {} swaps ({} each direction), {} in flight, pool {}, {} tokio threads, blocks: {} BTC / {} ETH",
        a.swaps,
        a.swaps / 2,
        a.concurrency,
        a.pool,
        a.threads,
        r.blocks[0],
        r.blocks[1]
    );
    println!("load average at start: {}", load_before.trim());
    println!("{:<44} {:>10} {:>10}", "step", "p50 ms", "p99 ms");
    let mut steps = Vec::new();
    for (name, l) in STEPS.iter().zip(&r.latencies) {
        let (p50, p99) = (quantile(l, 0.5) * 1e3, quantile(l, 0.99) * 1e3);
        println!("{name:<44} {p50:>10.2} {p99:>10.2}");
        steps.push(json!({"step": name, "p50_ms": p50, "p99_ms": p99}));
    }
    println!(
        "{:<44} {:>10}",
        "swaps completed",
        format!("{completed}/{}", a.swaps)
    );
    if !a.relayer_only {
        println!(
            "{:<44} {:>10}",
            "resolver's records completed",
            format!("{resolver_completed}/{}", a.swaps)
        );
    }
    println!("{:<44} {:>10.1}", "elapsed s", r.elapsed);
    println!(
        "{:<44} {:>10.1}   (goal >= 1000 on 2 cores)",
        "swaps/s", swaps_per_s
    );
    println!("{:<44} {:>10.1}", "state transitions/s", transitions_per_s);
    #[allow(clippy::cast_precision_loss)]
    let xact_per_swap = commits_f / swaps_f;
    println!(
        "{:<44} {:>10.2}   ({rollbacks} rollbacks)",
        "Postgres transactions/swap (pg_stat_database)", xact_per_swap
    );
    println!(
        "{:<44} {:>10.2}   (counted on {} swaps)",
        "Postgres round trips/swap (wire)", rt_per_swap, a.count_swaps
    );
    println!("{:<44} {:>10.1}", "our Postgres transactions/s", xact_per_s);
    let pg_json = if let Some((tps, how)) = &pg {
        println!("{:<44} {:>10.1}   ({how})", "pgbench transactions/s", tps);
        println!("{:<44} {:>10.2}", "ours / pgbench", xact_per_s / tps);
        json!({"tps": tps, "command": how, "ratio_ours_to_pgbench": xact_per_s / tps})
    } else {
        json!(null)
    };
    let p99_reveal = r.latencies.get(6).map_or(0.0, |l| quantile(l, 0.99) * 1e3);
    if completed != i64::try_from(a.swaps).unwrap_or(i64::MAX) {
        println!("WARNING: not every swap completed: {:?}", r.states);
    }
    if !a.relayer_only && resolver_completed != i64::try_from(a.swaps).unwrap_or(i64::MAX) {
        println!(
            "WARNING: not every resolver record completed: {:?}",
            r.resolver_states
        );
    }
    Ok(json!({
        "swaps": a.swaps,
        "concurrency": a.concurrency,
        "pool": a.pool,
        "threads": a.threads,
        "completed": completed,
        "states": r.states.iter().map(|(s, n)| json!({"state": s, "count": n})).collect::<Vec<_>>(),
        "with_resolver": !a.relayer_only,
        "resolver_completed": resolver_completed,
        "resolver_states": r.resolver_states.iter().map(|(s, n)| json!({"state": s, "count": n})).collect::<Vec<_>>(),
        "elapsed_s": r.elapsed,
        "swaps_per_s": swaps_per_s,
        "transitions_per_swap": STEPS.len(),
        "transitions_per_s": transitions_per_s,
        "blocks": {"bitcoin": r.blocks[0], "ethereum": r.blocks[1]},
        "pg_commits": commits,
        "pg_rollbacks": rollbacks,
        "pg_transactions_per_swap": xact_per_swap,
        "pg_round_trips_per_swap": rt_per_swap,
        "round_trip_sample_swaps": a.count_swaps,
        "pg_transactions_per_s": xact_per_s,
        "steps": steps,
        "pgbench": pg_json,
        "goals": {
            "swaps_per_s_ge_1000": swaps_per_s >= 1_000.0,
            "reveal_to_claim_action_p99_ms": p99_reveal,
        },
    }))
}
