//! Postgres only: one active resolver per wallet. A standby cannot take a live lease, takes it
//! once it lapses with a larger fencing token, and from then on the old leader's token no longer
//! passes the check made before every signature. Also: the event log refuses UPDATE and DELETE,
//! and two writers appending to one swap from the same version cannot both win.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use crosslock_core::swap::Event;
use crosslock_core::time::{Clock, UnixTime};
use crosslock_resolver::db;
use support::TestDb;

#[tokio::test]
async fn resolver_standby_takes_the_lease_and_the_old_leader_is_fenced() {
    let tdb = TestDb::create().await;
    let pool = tdb.pool().await;
    let ttl = Duration::from_millis(800);
    let a = db::lease::acquire(&pool, "wallet:w", "a", ttl)
        .await
        .unwrap()
        .expect("a leads");
    assert_eq!(
        db::lease::acquire(&pool, "wallet:w", "b", ttl)
            .await
            .unwrap(),
        None,
        "b waits"
    );
    assert_eq!(
        db::lease::acquire(&pool, "wallet:w", "a", ttl)
            .await
            .unwrap(),
        Some(a),
        "renewal keeps the token"
    );
    assert!(db::lease::still_held(&pool, "wallet:w", a).await.unwrap());
    // a stalls (a GC pause, a partition) past the TTL.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        !db::lease::still_held(&pool, "wallet:w", a).await.unwrap(),
        "expired"
    );
    let b = db::lease::acquire(&pool, "wallet:w", "b", ttl)
        .await
        .unwrap()
        .expect("b takes over");
    assert!(b > a, "fencing token grows: {a} -> {b}");
    assert!(
        !db::lease::still_held(&pool, "wallet:w", a).await.unwrap(),
        "a is fenced"
    );
    assert_eq!(
        db::lease::acquire(&pool, "wallet:w", "a", ttl)
            .await
            .unwrap(),
        None,
        "a cannot renew"
    );
    // b shuts down cleanly: the lease is free at once.
    db::lease::release(&pool, "wallet:w", b).await.unwrap();
    let a2 = db::lease::acquire(&pool, "wallet:w", "a", ttl)
        .await
        .unwrap()
        .expect("free after release");
    assert!(a2 > b);
    pool.close().await;
    tdb.drop_db().await;
}

#[tokio::test]
async fn the_event_log_is_append_only_and_concurrent_appends_do_not_both_win() {
    let tdb = TestDb::create().await;
    let pool = tdb.pool().await;
    let secret = crosslock_core::secret::Secret::new([3; 32]);
    let id = crosslock_core::secret::SwapId([9; 16]);
    let clock = Clock {
        btc_tip: crosslock_core::time::BtcHeight(100),
        eth_time: UnixTime(1_800_000_000),
        wall: UnixTime(1_800_000_000),
    };
    let order = crosslock_core::order::Order {
        network: crosslock_core::chain::Network::Regtest,
        hashlock: secret.hashlock(),
        give: support::sats(1_000_000),
        take: support::wei(support::E18),
        maker_btc_pubkey: support::core_pubkey(&support::key(1)),
        maker_eth_address: crosslock_core::chain::EthAddress([1; 20]),
        quote_expires: UnixTime(1_800_000_600),
    };
    db::append(
        &pool,
        id,
        &Event::Created {
            id,
            order,
            at: clock,
        },
    )
    .await
    .unwrap();
    let err = sqlx::query("UPDATE swap_events SET seq = seq + 10")
        .execute(&pool)
        .await
        .expect_err("UPDATE refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(
        sqlx::query("DELETE FROM swap_events")
            .execute(&pool)
            .await
            .is_err(),
        "DELETE refused"
    );
    // Two replicas append a tick each at once: both from version 1.
    let t1 = Event::Tick {
        clock: Clock {
            wall: UnixTime(1_800_000_001),
            ..clock
        },
    };
    let t2 = Event::Tick {
        clock: Clock {
            wall: UnixTime(1_800_000_002),
            ..clock
        },
    };
    let (r1, r2) = tokio::join!(db::append(&pool, id, &t1), db::append(&pool, id, &t2));
    let wins = [r1.is_ok(), r2.is_ok()].iter().filter(|x| **x).count();
    let loaded = db::load_swap(&pool, id).await.unwrap().unwrap();
    assert_eq!(
        usize::try_from(loaded.version).unwrap(),
        1 + wins,
        "every win is one event, nothing lost or doubled"
    );
    for r in [r1, r2] {
        if let Err(e) = r {
            assert!(
                matches!(e, db::DbError::Conflict(_) | db::DbError::Sql(_)),
                "{e}"
            );
        }
    }
    pool.close().await;
    tdb.drop_db().await;
}
