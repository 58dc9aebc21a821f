//! ETH -> BTC on anvil + the regtest chain + Postgres: the maker locks ETH in the escrow, the
//! resolver funds the BTC HTLC from its bdk wallet, and once the secret is revealed claims the
//! ETH; the maker claims the BTC with its own key. Kills right after the funding is persisted
//! and right after the ETH claim is persisted; each restart finishes with one funding and one
//! claim.
//!
//! The relayer's stream is not used: the test feeds the core events the relayer would send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::Instant;

use crosslock_core::finality::Depth;
use crosslock_core::secret::Secret;
use crosslock_core::swap::{Event, PresignedClaim, Side};
use crosslock_resolver::executor::CrashPoint;
use crosslock_resolver::policy::SignKind;
use support::*;

async fn one_swap(w: &World, crash: Option<SignKind>) {
    let started = Instant::now();
    let secret = Secret::new(rand_bytes::<32>());
    let (id, created, matched, terms) = eth_to_btc(w, &secret).await;
    let kill = |k: SignKind| (crash == Some(k)).then_some(CrashPoint::AfterPersist(k));
    let mut r = w.build(kill(SignKind::LockDst)).await;
    r.ingest(id, &created).await.unwrap();
    r.ingest(id, &matched).await.unwrap();

    // The maker locks 1 ETH with the resolver as receiver.
    let e = eth_terms(&terms.src);
    let mut maker = w.anvil.plain_sender(1).await;
    w.anvil
        .send(
            &mut maker,
            &format!("lock:{id}"),
            crosslock_eth::lock::lock(w.escrow, &escrow_params(&e)),
        )
        .await;
    let src_lock = escrow_lock_id(&e);
    let wall = w.clock().await.wall.0;
    let (r2, died) = feed(
        w,
        r,
        id,
        &lock_seen(Side::Src, src_lock, wei(E18), FINAL, wall),
    )
    .await;
    r = r2;
    assert_eq!(died, crash == Some(SignKind::LockDst));
    let funding = btc_row(&r, &format!("lock:{id}")).await;
    assert!(in_mempool(&w.chain, &funding.txid), "BTC funding broadcast");
    mine(&w.chain, 1);
    let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&funding.raw).unwrap();
    let h = btc_terms(&terms.dst);
    let outs = crosslock_btc::fund::find_htlc_outputs(&tx, &htlc_params(&h));
    assert_eq!(outs.len(), 1, "one HTLC output of the agreed amount");
    let (outpoint, amount) = outs[0];
    assert_eq!(amount.0, 1_000_000);
    let dst_lock = crosslock_btc::types::lock_id(outpoint);

    if crash == Some(SignKind::ClaimSrc) {
        drop(r);
        r = w.build(kill(SignKind::ClaimSrc)).await;
    }
    r.ingest(id, &w.tick().await).await.unwrap();
    r.ingest(
        id,
        &lock_seen(Side::Dst, dst_lock, sats(1_000_000), Depth::Btc(1), wall),
    )
    .await
    .unwrap();
    let resolver_before = w.anvil.balance(w.resolver_eth()).await;
    // The reveal carries the maker's pre-signed BTC claim (the relayer broadcasts it); the
    // resolver claims the ETH at once.
    let reveal = Event::SecretRevealed {
        secret: secret.clone(),
        maker_claim: Some(PresignedClaim {
            fee_ladder: vec![vec![0]],
        }),
    };
    let (r2, died) = feed(w, r, id, &reveal).await;
    r = r2;
    assert_eq!(died, crash == Some(SignKind::ClaimSrc));
    let claim = eth_entry(w, &r, &format!("claim_src:{id}")).await;
    let receipt = wait_receipt(&w.anvil.provider(), claim.hash).await;
    assert!(receipt.status());
    let gained = w.anvil.balance(w.resolver_eth()).await - resolver_before;
    assert!(
        gained > alloy::primitives::U256::from(E18 * 99 / 100),
        "resolver got the ETH (minus gas)"
    );

    // The maker claims the BTC with its key (what its pre-signed ladder does).
    let utxo = crosslock_btc::spend::HtlcUtxo {
        outpoint,
        amount: crosslock_core::amount::Sats(1_000_000),
        params: htlc_params(&h),
    };
    let dest = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([9; 20]));
    let maker_claim = crosslock_btc::claim::build(
        &utxo,
        &dest,
        bitcoin::FeeRate::from_sat_per_vb_u32(2),
        &secret,
        &w.maker_btc_key,
    )
    .unwrap();
    let maker_txid = send_raw(&w.chain, &maker_claim.tx);
    mine(&w.chain, 6);
    r.ingest(id, &w.tick().await).await.unwrap();
    r.ingest(
        id,
        &claim_seen(
            Side::Dst,
            dst_lock,
            txid_bytes(&maker_txid),
            &secret,
            Depth::Btc(6),
        ),
    )
    .await
    .unwrap();
    let s = r
        .ingest(
            id,
            &claim_seen(Side::Src, src_lock, claim.hash.0, &secret, FINAL),
        )
        .await
        .unwrap();
    assert_eq!(state(&s), "Completed");
    let rows = db::btc_outbox::of_swap(&r.exec.pool, id).await.unwrap();
    assert_eq!(rows.len(), 1, "one funding, never re-signed");
    let on_chain: Vec<_> = w
        .anvil
        .sent_by(w.resolver_eth())
        .await
        .into_iter()
        .filter(|t| t.inner.hash() == &claim.hash)
        .collect();
    assert_eq!(on_chain.len(), 1, "one ETH claim on chain");
    eprintln!(
        "eth->btc swap {id} kill={:?}: Completed in {:.1}s (btc funding {}, eth claim {})",
        crash.map(SignKind::name),
        started.elapsed().as_secs_f64(),
        funding.txid,
        claim.hash
    );
}

use bitcoin::hashes::Hash;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolver_finishes_eth_to_btc_swaps_after_a_kill_at_each_persisted_step() {
    let w = World::start().await;
    for crash in [None, Some(SignKind::LockDst), Some(SignKind::ClaimSrc)] {
        one_swap(&w, crash).await;
    }
    w.drop_all().await;
}
