//! The dispatcher against btc-regtest and real Postgres, with a maker's claim the node refuses
//! (a rung paying no fee: "min relay fee not met"). Such a ladder no longer passes RevealSecret,
//! so the tests write the reveal through the engine, as a record from before that check (or a
//! node stricter than the relayer's policy) would hold it.
//!
//! - A refused rung is retried with backoff, its count kept on the outbox row, and after
//!   `max_rejections` refusals the row moves to the next rung, which the node takes.
//! - When every rung is refused the row is parked: nothing more is broadcast, ListStuck (over the
//!   admin socket) shows the swap with the node's answer, an operator's Retry resets the count and
//!   the dispatcher tries again; once the HTLC is claimed on chain by other means the parked rows
//!   are closed as no longer due.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/regtest.rs"]
mod regtest;

use std::time::{Duration, Instant};

use bitcoin::{FeeRate, Transaction};
use common::*;
use crosslock_btc::claim::sign_ladder;
use crosslock_btc::spend::HtlcUtxo;
use crosslock_core::secret::Secret;
use crosslock_core::swap::{Event, PresignedClaim};
use crosslock_proto::admin::v1 as apb;
use crosslock_proto::admin::v1::admin_service_client::AdminServiceClient;
use crosslock_proto::public::v1 as pb;
use crosslock_relayer::cache::Cache;
use crosslock_relayer::config::Config;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::{Input, Store};
use regtest::*;
use tonic::transport::Channel;

/// Fast retries: two refusals per rung, `backoff_ms` apart.
fn fast(backoff_ms: u64) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.dispatch.interval_ms = 50;
        c.dispatch.max_rejections = 2;
        c.dispatch.backoff_ms = backoff_ms;
        c.dispatch.backoff_max_ms = 2 * backoff_ms;
    }
}

fn rate(sat_vb: u32) -> FeeRate {
    FeeRate::from_sat_per_vb_u32(sat_vb)
}

/// The maker's ladder at `rates`, completed with the secret.
fn ladder(utxo: &HtlcUtxo, secret: &Secret, rates: &[FeeRate]) -> Vec<Transaction> {
    sign_ladder(utxo, &op_true_dest(), rates, &sk(MAKER_KEY))
        .unwrap()
        .complete_all(utxo, secret)
        .unwrap()
}

/// The reveal with `claims`, committed through the engine (the API would refuse a zero-fee rung).
async fn reveal(w: &World, swap: &pb::Swap, secret: &Secret, claims: &[Transaction]) {
    let engine = Engine::new(w.store.clone(), Cache::disabled(), &w.config.replica);
    let id = crosslock_relayer::api::parse_swap_id("swap_id", &swap.swap_id).unwrap();
    let input = Input::new(
        Event::SecretRevealed {
            secret: secret.clone(),
            maker_claim: Some(PresignedClaim {
                fee_ladder: claims.iter().map(bitcoin::consensus::serialize).collect(),
            }),
        },
        "maker",
    );
    engine.apply(id, &input).await.unwrap();
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: i64,
    attempts: i32,
    rung: Option<i32>,
    last_error: Option<String>,
    parked_at: Option<i64>,
    delivered_at: Option<i64>,
    outcome: Option<String>,
}

async fn rows(store: &Store) -> Vec<Row> {
    use sqlx::Row as _;
    sqlx::query(
        "SELECT id, attempts, rung, last_error, parked_at, delivered_at, outcome
         FROM relayer.outbox WHERE kind = 'BroadcastMakerClaim' ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| Row {
        id: r.get("id"),
        attempts: r.get("attempts"),
        rung: r.get("rung"),
        last_error: r.get("last_error"),
        parked_at: r.get("parked_at"),
        delivered_at: r.get("delivered_at"),
        outcome: r.get("outcome"),
    })
    .collect()
}

/// Poll the claim rows until `done` holds (30 s at most).
async fn wait_rows(store: &Store, what: &str, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = rows(store).await;
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < end, "{what}: {r:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// ListStuck (over the admin socket) with at most ten swaps.
async fn stuck(admin: &mut AdminServiceClient<Channel>) -> apb::ListStuckResponse {
    admin
        .list_stuck(bearer(apb::ListStuckRequest { limit: 10 }, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner()
}

async fn assert_not_listed_as_refused(admin: &mut AdminServiceClient<Channel>) {
    let stuck = stuck(admin).await;
    assert!(
        stuck
            .swaps
            .iter()
            .all(|s| !s.reason.contains("refused the maker's claim")),
        "{stuck:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_rung_is_retried_with_backoff_then_the_next_rung_goes_out() {
    let w = World::start_with(fast(500)).await;
    let secret = Secret::new([0x5a; 32]);
    let (swap, utxo) = eth_to_btc_at_dst_locked(&w, &secret).await;
    // Rung 0 pays no fee: the node refuses it. Rung 1 pays 5 sat/vB.
    let claims = ladder(&utxo, &secret, &[rate(0), rate(5)]);
    let started = Instant::now();
    reveal(&w, &swap, &secret, &claims).await;

    // The first refusal is counted on the row, with the node's answer and a backoff.
    let first = wait_rows(&w.store, "first refusal", |r| {
        r.first().is_some_and(|r| r.attempts == 1)
    })
    .await;
    assert_eq!(first[0].rung, Some(0));
    let why = first[0].last_error.clone().unwrap();
    assert!(why.contains("min relay fee not met"), "{why}");
    assert!(first[0].delivered_at.is_none() && first[0].parked_at.is_none());

    // After the second refusal the row moves to rung 1, which the node takes.
    let claim1 = claims[1].compute_txid();
    let done = wait_rows(&w.store, "rung 1 accepted", |r| {
        r.first().is_some_and(|r| r.delivered_at.is_some())
    })
    .await;
    // Two refusals of rung 0, the second 500 ms after the first at the soonest.
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(done[0].rung, Some(1), "{done:#?}");
    let why = done[0].last_error.clone().unwrap_or_default();
    assert!(why.contains("min relay fee not met"), "{why}");
    assert_eq!(done[0].outcome.as_deref(), Some("accepted"));
    assert_eq!(done[0].parked_at, None);
    assert!(in_mempool(&w.chain, &claim1));
    assert!(!in_mempool(&w.chain, &claims[0].compute_txid()));
    mine(&w.chain, 1);
    wait_state(&w.store, &swap.swap_id, pb::SwapState::DstClaimed).await;
    w.relayer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_refused_on_every_rung_is_parked_for_the_operator_until_a_retry() {
    let mut w = World::start_with(fast(150)).await;
    let secret = Secret::new([0x6b; 32]);
    let (swap, utxo) = eth_to_btc_at_dst_locked(&w, &secret).await;
    // Both rungs pay no fee.
    let claims = ladder(&utxo, &secret, &[rate(0), rate(0)]);
    reveal(&w, &swap, &secret, &claims).await;

    // Two refusals on rung 0, two on rung 1 (the top), then the row is parked.
    let parked = wait_rows(&w.store, "parked", |r| {
        r.first().is_some_and(|r| r.parked_at.is_some())
    })
    .await;
    assert_eq!(parked.len(), 1, "{parked:#?}");
    assert_eq!((parked[0].attempts, parked[0].rung), (2, Some(1)));
    assert!(parked[0].delivered_at.is_none());

    // Parked means stopped: nothing about the row changes while the dispatcher keeps running
    // every 50 ms.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(rows(&w.store).await, parked, "a parked row was tried again");

    // The operator sees it, with the node's answer.
    let mut admin = AdminServiceClient::new(channel(w.relayer.url_admin()).await);
    let stuck = stuck(&mut admin).await;
    let listed = stuck
        .swaps
        .iter()
        .find(|s| s.swap.as_ref().is_some_and(|v| v.swap_id == swap.swap_id))
        .expect("ListStuck shows the swap");
    assert!(
        listed
            .reason
            .contains("refused the maker's claim 2 times on rung 1")
            && listed.reason.contains("min relay fee not met"),
        "{}",
        listed.reason
    );
    assert_eq!(stuck.swaps.len(), 1, "each swap once: {stuck:?}");

    // An operator's Retry resets the count. With the dispatcher stopped (a relayer without
    // Electrum serves the admin API), the reset is seen as it was written.
    w.relayer.stop().await;
    let mut quiet = w.config.clone();
    quiet.chains.electrum_url = String::new();
    let relayer = Relayer::start(quiet).await;
    let mut admin = AdminServiceClient::new(channel(relayer.url_admin()).await);
    admin
        .retry(bearer(
            apb::RetryRequest {
                swap_id: swap.swap_id.clone(),
                reason: "node fee policy fixed".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let reset = rows(&w.store).await;
    assert_eq!(reset[0].id, parked[0].id);
    assert_eq!(
        (reset[0].attempts, reset[0].parked_at, reset[0].rung),
        (0, None, Some(1)),
        "{reset:#?}"
    );
    assert!(
        reset
            .iter()
            .all(|r| r.parked_at.is_none() && r.attempts == 0)
    );
    assert_not_listed_as_refused(&mut admin).await;
    relayer.stop().await;

    // The dispatcher tries again from the rung reached; the node still refuses, so the rows
    // are parked again (the Retry's own new row too, starting no lower than rung 1).
    w.relayer = Relayer::start(w.config.clone()).await;
    let again = wait_rows(&w.store, "parked again", |r| {
        r.iter().all(|r| r.parked_at.is_some() && r.attempts == 2)
    })
    .await;
    assert!(again.iter().all(|r| r.rung == Some(1)), "{again:#?}");

    // The HTLC is claimed by other means (the maker's own claim at 5 sat/vB) and mined: the
    // parked rows are closed as no longer due and the swap leaves ListStuck.
    let own = ladder(&utxo, &secret, &[rate(5)]);
    w.chain
        .call(
            "sendrawtransaction",
            &[serde_json::json!(
                bitcoin::consensus::encode::serialize_hex(&own[0])
            )],
        )
        .unwrap();
    mine(&w.chain, 1);
    wait_state(&w.store, &swap.swap_id, pb::SwapState::DstClaimed).await;
    let closed = wait_rows(&w.store, "closed", |r| {
        r.iter().all(|r| r.delivered_at.is_some())
    })
    .await;
    assert!(
        closed
            .iter()
            .all(|r| r.outcome.as_deref() == Some("not due")),
        "{closed:#?}"
    );
    let mut admin = AdminServiceClient::new(channel(w.relayer.url_admin()).await);
    assert_not_listed_as_refused(&mut admin).await;
    w.relayer.stop().await;
}
