//! `db::append_many`, the resolver's one transaction per look at the chains: many swaps' events
//! commit together (one `xmin`), a swap is created by its `Created` in the same transaction, an
//! event the core refuses is skipped without taking the others with it, a tick that is a swap's
//! last event and changes nothing but the clock is not written, and one that changes the state
//! (an expiry) is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use crosslock_core::chain::{EthAddress, LockId, Network, TxId};
use crosslock_core::finality::Depth;
use crosslock_core::order::Order;
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::{Event, Side, SwapState};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_resolver::db;
use support::TestDb;

fn clock(wall: u64) -> Clock {
    Clock {
        btc_tip: BtcHeight(100),
        eth_time: UnixTime(wall),
        wall: UnixTime(wall),
    }
}

const T0: u64 = 1_800_000_000;

fn created(n: u8) -> (SwapId, Event) {
    let id = SwapId([n; 16]);
    let order = Order {
        network: Network::Regtest,
        hashlock: Secret::new([n; 32]).hashlock(),
        give: support::sats(1_000_000),
        take: support::wei(support::E18),
        maker_btc_pubkey: support::core_pubkey(&support::key(1)),
        maker_eth_address: EthAddress([1; 20]),
        quote_expires: UnixTime(T0 + 600),
    };
    (
        id,
        Event::Created {
            id,
            order,
            at: clock(T0),
        },
    )
}

async fn versions(pool: &sqlx::PgPool) -> Vec<(Vec<u8>, i64, String, bool)> {
    sqlx::query_as("SELECT swap_id, version, state, terminal FROM swaps ORDER BY swap_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn one_look_at_the_chains_is_one_transaction_and_an_idle_tick_is_not_written() {
    let tdb = TestDb::create().await;
    let pool = tdb.pool().await;

    // Ten new swaps in one batch: rows and logs in one transaction.
    let batch: Vec<(SwapId, Vec<Event>)> = (1..=10)
        .map(|n| {
            let (id, e) = created(n);
            (id, vec![e])
        })
        .collect();
    let done = db::append_many(&pool, &batch).await.unwrap();
    assert_eq!(done.len(), 10);
    assert!(done.iter().all(|(_, a)| a.recorded == 1));
    let writers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT xmin::text FROM (SELECT xmin FROM swaps UNION ALL
            SELECT xmin FROM swap_events) x",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(writers.len(), 1, "one transaction: {writers:?}");

    // A tick followed by a fact the core refuses (a lock before any terms): the tick is written,
    // the fact is not, and every swap goes on.
    let lock = Event::LockSeen {
        side: Side::Src,
        lock: LockId::BtcOutpoint {
            txid: TxId([7; 32]),
            vout: 0,
        },
        amount: support::sats(1_000_000),
        depth: Depth::Btc(0),
        seen_at: UnixTime(T0 + 1),
    };
    let batch: Vec<(SwapId, Vec<Event>)> = (1..=10)
        .map(|n| {
            (
                SwapId([n; 16]),
                vec![
                    Event::Tick {
                        clock: clock(T0 + 1),
                    },
                    lock.clone(),
                ],
            )
        })
        .collect();
    let done = db::append_many(&pool, &batch).await.unwrap();
    assert!(
        done.iter()
            .all(|(_, a)| a.recorded == 1 && a.swap.src.is_empty())
    );
    assert!(versions(&pool).await.iter().all(|v| v.1 == 2));

    // An idle tick alone: nothing written, the record keeps its clock.
    let idle: Vec<(SwapId, Vec<Event>)> = (1..=10)
        .map(|n| {
            (
                SwapId([n; 16]),
                vec![Event::Tick {
                    clock: clock(T0 + 2),
                }],
            )
        })
        .collect();
    let before = versions(&pool).await;
    let done = db::append_many(&pool, &idle).await.unwrap();
    assert!(
        done.iter()
            .all(|(_, a)| a.recorded == 0 && a.swap.clock == clock(T0 + 1))
    );
    assert_eq!(versions(&pool).await, before, "an idle tick writes nothing");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM swap_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 20);

    // A tick past the quote's expiry changes the state: written, with the projection.
    let late = vec![(
        SwapId([3; 16]),
        vec![Event::Tick {
            clock: clock(T0 + 601),
        }],
    )];
    let done = db::append_many(&pool, &late).await.unwrap();
    assert_eq!(done[0].1.recorded, 1);
    assert!(
        matches!(done[0].1.swap.state, SwapState::Expired { .. }),
        "{:?}",
        done[0].1.swap.state
    );
    let row = versions(&pool)
        .await
        .into_iter()
        .find(|v| v.0 == vec![3; 16])
        .unwrap();
    assert_eq!((row.1, row.3), (3, true));
    assert!(row.2.starts_with("Expired"), "{}", row.2);
    // The log replays to the same record.
    let loaded = db::load_swap(&pool, SwapId([3; 16]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.swap, done[0].1.swap);
    pool.close().await;
    tdb.drop_db().await;
}
