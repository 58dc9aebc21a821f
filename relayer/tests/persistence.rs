//! Postgres and Redis behaviour that must hold across replicas and faults: optimistic
//! concurrency, the append-only log, the unique hashlock, and losing Redis mid-swap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::{BtcPubkey, Chain, EthAddress, Network};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::order::Order;
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::{Event, OperatorCommand};
use crosslock_core::time::{Clock, UnixTime};
use crosslock_proto::public::v1 as pb;
use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::{Input, NewSwap, StoreError, now_unix};

fn order(secret: &Secret) -> Order {
    Order {
        network: Network::Regtest,
        hashlock: secret.hashlock(),
        give: Amount::Btc(Sats(1_000_000)),
        take: Amount::Eth(Wei(190_000_000_000_000_000)),
        maker_btc_pubkey: BtcPubkey::from_bytes(&[2; 33]).unwrap(),
        maker_eth_address: EthAddress([9; 20]),
        quote_expires: UnixTime(now_unix() + 600),
    }
}

fn new_swap(secret: &Secret) -> NewSwap {
    NewSwap {
        id: SwapId(crosslock_relayer::random_id().unwrap()),
        order: order(secret),
        clock: Clock {
            wall: UnixTime(now_unix()),
            ..Clock::default()
        },
        idempotency_key: format!("key-{}", hex16()),
        request_digest: [1; 32],
    }
}

fn random_secret() -> Secret {
    let mut b = [0_u8; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    Secret::new(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transitions_on_one_swap_from_two_replicas_exactly_one_wins() {
    let db = TestDb::new().await;
    // Two replicas: two pools, as two processes would have.
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..20 {
        let s = random_secret();
        let n = new_swap(&s);
        a.create_swap(&n).await.unwrap();
        let loaded = a.load(n.id).await.unwrap();
        assert_eq!(loaded.version, 1);
        // Both replicas act on version 1 at once.
        let mk = |note: &str| {
            let mut i = Input::new(
                Event::Operator(OperatorCommand::Annotate {
                    note: note.to_owned(),
                }),
                "operator:test",
            );
            i.expected_version = Some(1);
            i
        };
        let (ia, ib) = (mk("from a"), mk("from b"));
        let (ra, rb) = tokio::join!(a.apply(n.id, &ia), b.apply(n.id, &ib));
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1, "round {round}: exactly one replica wins");
        for r in [ra, rb] {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::Conflict { .. }), "loser: {e}");
            }
        }
        let after = a.load(n.id).await.unwrap();
        assert_eq!(after.version, 2, "one event appended, not two");
        assert_eq!(after.swap.notes.len(), 1);
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM swap_events WHERE swap_id = $1")
            .bind(n.id.0.to_vec())
            .fetch_one(a.pool())
            .await
            .unwrap();
        assert_eq!(events, 2);
    }
}

#[tokio::test]
async fn the_audit_trigger_refuses_update_delete_and_truncate_of_events() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let s = random_secret();
    let n = new_swap(&s);
    store.create_swap(&n).await.unwrap();
    let upd = sqlx::query("UPDATE swap_events SET actor = 'mallory' WHERE swap_id = $1")
        .bind(n.id.0.to_vec())
        .execute(store.pool())
        .await;
    let e = upd.expect_err("UPDATE refused");
    assert!(e.to_string().contains("append-only"), "{e}");
    let del = sqlx::query("DELETE FROM swap_events WHERE swap_id = $1")
        .bind(n.id.0.to_vec())
        .execute(store.pool())
        .await;
    assert!(
        del.expect_err("DELETE refused")
            .to_string()
            .contains("append-only")
    );
    let tr = sqlx::query("TRUNCATE swap_events CASCADE")
        .execute(store.pool())
        .await;
    assert!(
        tr.expect_err("TRUNCATE refused")
            .to_string()
            .contains("append-only")
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM swap_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(events, 1, "the log is intact");
    let actor: String = sqlx::query_scalar("SELECT actor FROM swap_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(actor, "maker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_to_submit_the_same_hashlock_exactly_one_succeeds() {
    let db = TestDb::new().await;
    let a = db.store().await;
    let b = db.store().await;
    for round in 0..20 {
        let s = random_secret();
        let (na, nb) = (new_swap(&s), new_swap(&s));
        let (ra, rb) = tokio::join!(a.create_swap(&na), b.create_swap(&nb));
        let ok = [ra.is_ok(), rb.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(ok, 1, "round {round}");
        for r in [ra, rb] {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::HashlockTaken), "{e}");
            }
        }
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM swaps WHERE hashlock = $1")
            .bind(s.hashlock().0.to_vec())
            .fetch_one(a.pool())
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }
    // The loser wrote nothing: one Created event per swap row.
    let (swaps, events): (i64, i64) = (
        sqlx::query_scalar("SELECT count(*) FROM swaps")
            .fetch_one(a.pool())
            .await
            .unwrap(),
        sqlx::query_scalar("SELECT count(*) FROM swap_events")
            .fetch_one(a.pool())
            .await
            .unwrap(),
    );
    assert_eq!((swaps, events), (20, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_lease_has_one_holder_and_a_stale_fencing_token_cannot_write() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let ttl = Duration::from_secs(1);
    let t1 = store
        .acquire_lease("watcher:bitcoin", "a", ttl)
        .await
        .unwrap()
        .expect("a holds");
    assert!(
        store
            .acquire_lease("watcher:bitcoin", "b", ttl)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .advance_cursor("bitcoin", 10, &[1; 32], 1, t1)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let t2 = store
        .acquire_lease("watcher:bitcoin", "b", ttl)
        .await
        .unwrap()
        .expect("b takes over");
    assert!(t2 > t1, "fencing token grows");
    assert!(
        !store
            .advance_cursor("bitcoin", 11, &[2; 32], 2, t1)
            .await
            .unwrap(),
        "stale token refused"
    );
    assert!(
        store
            .advance_cursor("bitcoin", 11, &[2; 32], 2, t2)
            .await
            .unwrap()
    );
    assert_eq!(store.cursor("bitcoin").await.unwrap().unwrap().0, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flushall_mid_swap_loses_nothing() {
    let db = TestDb::new().await;
    let redis = PrivateRedis::start().await;
    let config = test_config(&db.url, &redis.url);
    let replica = config.replica.clone();
    let relayer = Relayer::start(config.clone()).await;
    let store = db.store().await;
    set_heads(&store, &replica, 1_000).await;

    let mut public = SwapServiceClient::new(channel(relayer.url_public()).await);
    let secret = random_secret();
    let (submit, swap) = matched_order(
        &relayer,
        pb::Direction::BtcToEth,
        "1000000",
        secret.hashlock().0,
        &Parties::default(),
    )
    .await;
    let id = crosslock_relayer::api::parse_swap_id("swap_id", &swap.swap_id).unwrap();
    // The src lock, final at one confirmation (below the high-value band).
    let engine = Engine::new(store.clone(), Cache::disabled(), &replica);
    observe(
        &engine,
        Chain::Bitcoin,
        1_001,
        vec![lock_seen(
            secret.hashlock().0,
            btc_lock(7),
            Amount::Btc(Sats(1_000_000)),
            Depth::Btc(1),
        )],
    )
    .await;
    assert!(redis.dbsize().await > 0, "the relayer uses this Redis");

    // Redis loses everything mid-swap.
    redis.flushall().await;
    assert_eq!(redis.dbsize().await, 0);

    // Reads come back from Postgres.
    let got = public
        .get_swap(pb::GetSwapRequest {
            swap_id: swap.swap_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.state, i32::from(pb::SwapState::SrcLocked));
    // The idempotency key survives in Postgres: the retry returns the same swap, no second row.
    let again = public
        .submit_order(submit.clone())
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(again.swap_id, swap.swap_id);
    // A watcher started after the flush still sees the rest of the swap.
    let mut watch = public
        .watch_swap(pb::WatchSwapRequest {
            swap_id: swap.swap_id.clone(),
            after_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(
        first.swap.unwrap().state,
        i32::from(pb::SwapState::SrcLocked)
    );
    let dst_amount = Amount::Eth(Wei(swap.dst_amount.parse().unwrap()));
    observe(
        &engine,
        Chain::Ethereum,
        101,
        vec![lock_seen(
            secret.hashlock().0,
            eth_lock(8),
            dst_amount,
            Depth::Eth(EthDepth::Safe),
        )],
    )
    .await;
    let revealed = public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: swap.swap_id.clone(),
            secret: secret.expose().to_vec(),
            signed_claims: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(revealed.state, i32::from(pb::SwapState::SecretRevealed));
    // The watch stream delivers the later states although Redis was flushed under it.
    let mut states = Vec::new();
    while let Ok(Some(Some(u))) = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .map(Result::ok)
    {
        let st = u.swap.unwrap().state;
        states.push(st);
        if st == i32::from(pb::SwapState::SecretRevealed) {
            break;
        }
    }
    assert_eq!(
        states.last(),
        Some(&i32::from(pb::SwapState::SecretRevealed)),
        "{states:?}"
    );
    // Nothing lost: the full log replays, the secret is in Postgres.
    let loaded = store.load(id).await.unwrap();
    assert!(loaded.swap.secret.is_some());
    assert_eq!(store.secret(id).await.unwrap().unwrap(), secret);
    let swaps: i64 = sqlx::query_scalar("SELECT count(*) FROM swaps")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(swaps, 1);
    relayer.stop().await;
}
