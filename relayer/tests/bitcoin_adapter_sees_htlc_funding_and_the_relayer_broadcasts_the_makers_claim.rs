//! The Bitcoin adapter inside a running relayer, against btc-regtest (in-process) and real
//! Postgres: a swap matched after start is picked up from the update stream, its deposit
//! address and witness script are in the swap record, and funding that address moves the swap
//! to `SrcLockSeen` (mempool) and `SrcLocked` (one confirmation). For ETH -> BTC, the maker's
//! pre-signed claim is broadcast by the relayer's dispatcher once the reveal is committed, and
//! broadcast again harmlessly by a restarted relayer that crashed before marking it done.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/regtest.rs"]
mod regtest;

use std::time::{Duration, Instant};

use bitcoin::ScriptBuf;
use common::*;
use crosslock_btc::htlc::HtlcParams;
use crosslock_core::secret::Secret;
use crosslock_proto::public::v1 as pb;
use regtest::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn funding_the_deposit_address_moves_the_swap_to_src_locked() {
    let World {
        chain,
        coin: (coin, value),
        store,
        relayer,
        db: _db,
        ..
    } = World::start().await;
    let secret = Secret::new([0x3c; 32]);
    let swap = relayer_order(&relayer, pb::Direction::BtcToEth, "1000000", &secret).await;
    let htlc = swap.bitcoin.clone().expect("bitcoin terms");
    let params = HtlcParams::from_witness_script(&ScriptBuf::from_bytes(htlc.witness_script))
        .expect("the record's witness script is the HTLC");
    assert_eq!(
        htlc.address,
        params.address(bitcoin::Network::Regtest).to_string()
    );

    fund(&chain, coin, value, &params, 1_000_000);
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLockSeen).await;
    mine(&chain, 1);
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLocked).await;
    relayer.stop().await;
}

async fn delivered(store: &crosslock_relayer::store::Store) -> Vec<(i64, Option<i64>)> {
    sqlx::query_as(
        "SELECT id, delivered_at FROM relayer.outbox WHERE kind = 'BroadcastMakerClaim' ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_makers_presigned_claim_is_broadcast_once_and_again_harmlessly_after_a_restart() {
    use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;

    let w = World::start().await;
    // ETH -> BTC: the maker's key claims the BTC HTLC.
    let secret = Secret::new([0x4d; 32]);
    let (swap, utxo) = eth_to_btc_at_dst_locked(&w, &secret).await;
    let World {
        chain,
        store,
        relayer,
        config,
        db: _db,
        ..
    } = w;

    // The maker reveals with a two-rung ladder claiming to its own address.
    let dest = op_true_dest();
    let ladder = crosslock_btc::claim::sign_ladder(
        &utxo,
        &dest,
        &[
            bitcoin::FeeRate::from_sat_per_vb_u32(2),
            bitcoin::FeeRate::from_sat_per_vb_u32(10),
        ],
        &sk(MAKER_KEY),
    )
    .unwrap();
    let claims = ladder.complete_all(&utxo, &secret).unwrap();
    let mut public = SwapServiceClient::new(channel(relayer.url_public()).await);
    public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: swap.swap_id.clone(),
            secret: secret.expose().to_vec(),
            signed_claims: claims.iter().map(bitcoin::consensus::serialize).collect(),
        })
        .await
        .unwrap();

    // The lowest rung goes out once; the row is done only after Electrum took it.
    let claim0 = claims[0].compute_txid();
    let end = Instant::now() + Duration::from_secs(30);
    while !(in_mempool(&chain, &claim0) && delivered(&store).await.iter().all(|r| r.1.is_some())) {
        assert!(
            Instant::now() < end,
            "claim not broadcast: {:?}",
            delivered(&store).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = delivered(&store).await;
    assert_eq!(rows.len(), 1, "{rows:?}");

    // A crash after the broadcast and before the mark: a restarted relayer sends the same
    // bytes again, the node already has them, and the row is marked done.
    relayer.stop().await;
    sqlx::query("UPDATE relayer.outbox SET delivered_at = NULL WHERE id = $1")
        .bind(rows[0].0)
        .execute(store.pool())
        .await
        .unwrap();
    let relayer = Relayer::start(config).await;
    let end = Instant::now() + Duration::from_secs(30);
    while delivered(&store).await[0].1.is_none() {
        assert!(Instant::now() < end, "re-broadcast not marked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(in_mempool(&chain, &claim0));
    assert!(!in_mempool(&chain, &claims[1].compute_txid()));
    relayer.stop().await;
}
