//! A chain update is one transaction: every observation it carries and the cursor commit
//! together (one `xmin` on every row it wrote), a refused observation is skipped, a lock that
//! belongs to another swap falls back to one observation at a time and is refused alone, and a
//! watcher whose lease is gone writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::{BtcPubkey, Chain, EthAddress, Network};
use crosslock_core::finality::Depth;
use crosslock_core::order::{MatchParams, Order, Terms};
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::Event;
use crosslock_core::time::{BtcHeight, UnixTime};
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::{Input, NewSwap, now_unix};
use crosslock_relayer::watcher::{ChainUpdate, apply_update};

fn secret(n: u8) -> Secret {
    let mut b = [n; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    Secret::new(b)
}

/// A matched BTC -> ETH swap of 0.01 BTC on `s`'s hashlock.
async fn matched(engine: &Engine, s: &Secret) -> SwapId {
    let order = Order {
        network: Network::Regtest,
        hashlock: s.hashlock(),
        give: Amount::Btc(Sats(1_000_000)),
        take: Amount::Eth(Wei(190_000_000_000_000_000)),
        maker_btc_pubkey: BtcPubkey::from_bytes(&[2; 33]).unwrap(),
        maker_eth_address: EthAddress([9; 20]),
        quote_expires: UnixTime(now_unix() + 600),
    };
    let clock = engine.store.clock().await.unwrap();
    let id = SwapId(crosslock_relayer::random_id().unwrap());
    engine
        .create(&NewSwap {
            id,
            order: order.clone(),
            clock,
            idempotency_key: format!("key-{}", hex16()),
            request_digest: [1; 32],
        })
        .await
        .unwrap();
    let p = Network::Regtest.params();
    let m = MatchParams {
        resolver_btc_pubkey: BtcPubkey::from_bytes(&[3; 33]).unwrap(),
        resolver_eth_address: EthAddress([0x22; 20]),
        escrow_contract: EthAddress([0x33; 20]),
        chain_id: p.eth_chain_id,
        btc_timeout: BtcHeight(clock.btc_tip.0 + 200),
        eth_timeout: UnixTime(clock.eth_time.0.max(clock.wall.0) + 12 * 3_600),
        finality: p.finality,
    };
    let input = Input::new(
        Event::Matched {
            terms: Terms::from_match(&order, &m),
            at: clock,
        },
        "resolver:test",
    );
    engine.apply(id, &input).await.unwrap();
    id
}

/// Swap `i`'s own lock: outpoint `[100 + i; 32]:0`.
fn lock_no(i: usize) -> u8 {
    100 + u8::try_from(i).unwrap()
}

async fn version(engine: &Engine, id: SwapId) -> u64 {
    engine.store.load(id).await.unwrap().version
}

/// Distinct transaction ids among the rows an update wrote: events past `seq`, and the cursor.
async fn writers(engine: &Engine, min_seq: i64) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT xmin::text FROM (
            SELECT xmin FROM swap_events WHERE seq > $1
            UNION ALL SELECT xmin FROM chain_cursors WHERE chain = 'bitcoin') x",
    )
    .bind(min_seq)
    .fetch_all(engine.store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_commits_as_one_transaction_and_a_foreign_lock_costs_only_its_own_observation() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let engine = Engine::new(store.clone(), Cache::disabled(), "t");
    set_heads(&store, "t", 1_000).await;
    let secrets: Vec<Secret> = (0..40).map(secret).collect();
    let mut ids = Vec::new();
    for s in &secrets {
        ids.push(matched(&engine, s).await);
    }
    let before: Vec<u64> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(version(&engine, *id).await);
        }
        v
    };
    let seen = |i: usize, lock: u8, sats: u64| {
        lock_seen(
            secrets[i].hashlock().0,
            btc_lock(lock),
            Amount::Btc(Sats(sats)),
            Depth::Btc(0),
        )
    };

    // One block: a lock for each of the 40 swaps, and swap 0's lock again with another amount
    // (the core refuses it: a lock's id commits to its amount).
    let mut obs: Vec<_> = (0..40).map(|i| seen(i, lock_no(i), 1_000_000)).collect();
    obs.push(seen(0, 100, 999_999));
    let max_seq: i64 = sqlx::query_scalar("SELECT max(seq) FROM swap_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    observe(&engine, Chain::Bitcoin, 1_001, obs).await;
    let w = writers(&engine, max_seq).await;
    assert_eq!(
        w.len(),
        1,
        "every row of the block from one transaction: {w:?}"
    );
    for (i, id) in ids.iter().enumerate() {
        let v = version(&engine, *id).await;
        // A tick to the block's clock, then the lock.
        assert_eq!(v, before[i] + 2, "swap {i}");
        let locks: i64 = sqlx::query_scalar("SELECT count(*) FROM swap_locks WHERE swap_id = $1")
            .bind(id.0.to_vec())
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(locks, 1, "swap {i}");
    }
    assert_eq!(store.cursor("bitcoin").await.unwrap().unwrap().0, 1_001);

    // The next block: swap 1 reports swap 0's outpoint as its own (the lock index refuses it),
    // swaps 2..40 their locks one confirmation deep. The whole block falls back to one
    // observation at a time; only swap 1's is refused.
    let v1 = version(&engine, ids[1]).await;
    let mut obs = vec![seen(1, 100, 1_000_000)];
    obs.extend((2..40).map(|i| {
        lock_seen(
            secrets[i].hashlock().0,
            btc_lock(lock_no(i)),
            Amount::Btc(Sats(1_000_000)),
            Depth::Btc(1),
        )
    }));
    observe(&engine, Chain::Bitcoin, 1_002, obs).await;
    assert_eq!(
        version(&engine, ids[1]).await,
        v1,
        "the foreign lock wrote nothing"
    );
    let owner: Vec<u8> = sqlx::query_scalar(
        "SELECT swap_id FROM swap_locks WHERE lock_id = $1 AND chain = 'bitcoin'",
    )
    .bind(format!("{}:0", hex::encode([100_u8; 32])))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(owner, ids[0].0.to_vec(), "the lock stays with its swap");
    for (i, id) in ids.iter().enumerate().skip(2) {
        let l = engine.store.load(*id).await.unwrap();
        let depth = l.swap.src.first().map(|x| x.depth);
        assert_eq!(depth, Some(Depth::Btc(1)), "swap {i} got its confirmation");
    }
    assert_eq!(store.cursor("bitcoin").await.unwrap().unwrap().0, 1_002);

    // A watcher whose lease another replica took writes nothing, not even the observations.
    let stale = store
        .acquire_lease("watcher:bitcoin", "t", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    sqlx::query("UPDATE leases SET expires_at = now() WHERE name = 'watcher:bitcoin'")
        .execute(store.pool())
        .await
        .unwrap();
    store
        .acquire_lease("watcher:bitcoin", "other", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the other replica takes the lease");
    let counts = table_counts(&store).await;
    let u = ChainUpdate {
        height: 1_003,
        hash: vec![3; 32],
        time: now_unix(),
        observations: (2..40)
            .map(|i| {
                lock_seen(
                    secrets[i].hashlock().0,
                    btc_lock(lock_no(i)),
                    Amount::Btc(Sats(1_000_000)),
                    Depth::Btc(6),
                )
            })
            .collect(),
    };
    assert!(
        !apply_update(&engine, Chain::Bitcoin, &u, stale)
            .await
            .unwrap()
    );
    assert_eq!(table_counts(&store).await, counts, "nothing written");
    assert_eq!(store.cursor("bitcoin").await.unwrap().unwrap().0, 1_002);
}
