//! Watchers and time: one active watcher per chain across replicas (lease with fencing), the
//! deadline sweep, and the hot-path queries served by indexes, never by a full-table scan.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::{BtcPubkey, Chain, EthAddress, Network};
use crosslock_core::order::Order;
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::time::{Clock, UnixTime};
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::{NewSwap, Store, now_unix};
use crosslock_relayer::watcher::{ChainSource, ChainUpdate, SourceFuture, run_watcher, sweep_once};
use tokio::sync::watch;

/// A chain that grows by one block per call and counts how often it was asked.
struct FakeChain {
    polls: Arc<AtomicU64>,
}

impl ChainSource for FakeChain {
    fn chain(&self) -> Chain {
        Chain::Bitcoin
    }

    fn next(&mut self, cursor: Option<(u64, Vec<u8>)>) -> SourceFuture<'_> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let h = cursor.map_or(100, |(h, _)| h + 1);
            Ok(Some(ChainUpdate {
                height: h,
                hash: h.to_be_bytes().to_vec(),
                time: now_unix(),
                observations: Vec::new(),
            }))
        })
    }
}

fn swap(quote_ttl: u64) -> NewSwap {
    let mut b = [0_u8; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    NewSwap {
        id: SwapId(crosslock_relayer::random_id().unwrap()),
        order: Order {
            network: Network::Regtest,
            hashlock: Secret::new(b).hashlock(),
            give: Amount::Btc(Sats(1_000_000)),
            take: Amount::Eth(Wei(190_000_000_000_000_000)),
            maker_btc_pubkey: BtcPubkey::from_bytes(&[2; 33]).unwrap(),
            maker_eth_address: EthAddress([9; 20]),
            quote_expires: UnixTime(now_unix() + quote_ttl),
        },
        clock: Clock {
            wall: UnixTime(now_unix()),
            ..Clock::default()
        },
        idempotency_key: format!("key-{}", hex16()),
        request_digest: [1; 32],
    }
}

async fn height(store: &Store) -> u64 {
    store.cursor("bitcoin").await.unwrap().map_or(0, |c| c.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_watcher_per_chain_is_active_across_replicas_and_a_standby_takes_over() {
    let db = TestDb::new().await;
    let (sa, sb) = (db.store().await, db.store().await);
    let (pa, pb) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (stop_a, rx_a) = watch::channel(false);
    let (stop_b, rx_b) = watch::channel(false);
    let ttl = Duration::from_secs(3);
    let a = tokio::spawn(run_watcher(
        Engine::new(sa.clone(), Cache::disabled(), "replica-a"),
        Box::new(FakeChain { polls: pa.clone() }),
        ttl,
        rx_a,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = tokio::spawn(run_watcher(
        Engine::new(sb.clone(), Cache::disabled(), "replica-b"),
        Box::new(FakeChain { polls: pb.clone() }),
        ttl,
        rx_b,
    ));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (polls_a, polls_b) = (pa.load(Ordering::SeqCst), pb.load(Ordering::SeqCst));
    assert!(polls_a > 5, "the leader follows the chain: {polls_a}");
    assert_eq!(
        polls_b, 0,
        "the standby never polls while the lease is held"
    );
    let h1 = height(&sa).await;
    assert!(h1 >= 100 + polls_a - 2, "cursor {h1} after {polls_a} polls");
    // The leader stops (releasing its lease); the standby takes over from the same cursor.
    stop_a.send(true).unwrap();
    a.await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(pb.load(Ordering::SeqCst) > 3, "standby took over");
    let h2 = height(&sb).await;
    assert!(h2 > h1, "the cursor continued: {h1} -> {h2}");
    let holder: String =
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'watcher:bitcoin'")
            .fetch_one(sb.pool())
            .await
            .unwrap();
    assert_eq!(holder, "replica-b");
    stop_b.send(true).unwrap();
    b.await.unwrap();
    eprintln!("leader polls {polls_a}, cursor {h1}; after takeover cursor {h2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocks_do_not_touch_swaps_and_the_sweep_expires_an_unfunded_swap() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let engine = Engine::new(store.clone(), Cache::disabled(), "replica-x");
    let mut ids = Vec::new();
    for _ in 0..50 {
        let n = swap(600);
        store.create_swap(&n).await.unwrap();
        ids.push(n.id);
    }
    let short = swap(1);
    store.create_swap(&short).await.unwrap();
    // A block with no observations for our swaps appends nothing to any swap.
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM swap_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    observe(&engine, Chain::Bitcoin, 500, Vec::new()).await;
    observe(&engine, Chain::Bitcoin, 501, Vec::new()).await;
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM swap_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        events_before, events_after,
        "a block costs nothing per swap in flight"
    );
    // Nothing is due yet.
    assert_eq!(sweep_once(&engine, 500).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // Only the swap whose quote expired is due, and the sweep expires it.
    assert_eq!(sweep_once(&engine, 500).await.unwrap(), 1);
    let s = store.load(short.id).await.unwrap();
    assert!(s.swap.state.is_terminal(), "{:?}", s.swap.state);
    let terminal: bool = sqlx::query_scalar("SELECT terminal FROM swaps WHERE id = $1")
        .bind(short.id.0.to_vec())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(terminal);
    for id in ids {
        assert_eq!(store.load(id).await.unwrap().version, 1, "untouched");
    }
    assert_eq!(
        sweep_once(&engine, 500).await.unwrap(),
        0,
        "a terminal swap leaves the sweep"
    );
}

#[tokio::test]
async fn hot_path_queries_are_served_by_indexes() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let hot = [
        "SELECT id FROM swaps WHERE NOT terminal AND next_deadline <= 1 ORDER BY next_deadline LIMIT 500",
        "SELECT id, direction FROM swaps WHERE hashlock = '\\x00'",
        "SELECT swap_id, side FROM swap_locks WHERE chain = 'bitcoin' AND lock_id = 'x'",
        "SELECT view FROM swaps WHERE state = 'Created' ORDER BY created_at DESC LIMIT 100",
        "SELECT id FROM swaps WHERE resolver = 'r1' AND NOT terminal",
        "SELECT view FROM swaps WHERE state = 'NeedsOperator' ORDER BY updated_at LIMIT 100",
        "SELECT view FROM swaps WHERE maker_eth_address = '\\x00' AND (created_at, id) < (1, '\\x00') ORDER BY created_at DESC, id DESC LIMIT 21",
        "SELECT id FROM swaps WHERE idempotency_key = 'k'",
        "SELECT id, payload::text FROM outbox WHERE swap_id = '\\x00' AND target = 'resolver' AND delivered_at IS NULL ORDER BY id",
        "SELECT payload::text FROM swap_events WHERE swap_id = '\\x00' AND seq <= 5 ORDER BY seq",
        // The dispatcher's pass: due rows, then parked ones (and their gauge).
        "SELECT id FROM outbox WHERE target = 'relayer' AND delivered_at IS NULL AND parked_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now()) ORDER BY id LIMIT 100",
        "SELECT id FROM outbox WHERE delivered_at IS NULL AND parked_at IS NOT NULL AND target = 'relayer' ORDER BY parked_at, id LIMIT 100",
        "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND parked_at IS NOT NULL",
    ];
    let mut tx = store.pool().begin().await.unwrap();
    // With sequential scans priced out, a plan still containing one has no index to use.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    for q in hot {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {q}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{q}\n{plan}");
    }
}
