//! The maker never reveals. BTC -> ETH: once the ETH dst timeout passes, the resolver refunds
//! its escrow lock. ETH -> BTC: once the BTC dst timeout passes, the resolver refunds its HTLC
//! with its key, and once the ETH src timeout passes it calls the escrow's refund for the maker
//! (anyone may). Each refund is killed once right after it is persisted; the restarted resolver
//! sends it exactly once.
//!
//! The relayer's stream is not used: the test feeds the core events the relayer would send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use alloy::primitives::U256;
use crosslock_core::finality::Depth;
use crosslock_core::secret::Secret;
use crosslock_core::swap::Side;
use crosslock_resolver::executor::CrashPoint;
use crosslock_resolver::policy::SignKind;
use support::*;

const KILL_REFUND: Option<CrashPoint> = Some(CrashPoint::AfterPersist(SignKind::RefundDst));

async fn btc_to_eth_refund(w: &World) {
    let secret = Secret::new(rand_bytes::<32>());
    let (id, created, matched, terms) = btc_to_eth(w, &secret).await;
    let mut r = w.build(None).await;
    r.ingest(id, &created).await.unwrap();
    r.ingest(id, &matched).await.unwrap();
    let (src_lock, _) = maker_funds(w, &btc_terms(&terms.src));
    r.ingest(id, &w.tick().await).await.unwrap();
    let wall = w.clock().await.wall.0;
    r.ingest(
        id,
        &lock_seen(Side::Src, src_lock, sats(1_000_000), Depth::Btc(1), wall),
    )
    .await
    .unwrap();
    let lock = eth_entry(w, &r, &format!("lock:{id}")).await;
    assert!(wait_receipt(&w.anvil.provider(), lock.hash).await.status());
    let e = eth_terms(&terms.dst);
    let dst_lock = escrow_lock_id(&e);
    r.ingest(id, &lock_seen(Side::Dst, dst_lock, wei(E18), FINAL, wall))
        .await
        .unwrap();

    // No reveal. Ten hours and a minute later the escrow's refund path is open.
    drop(r);
    let r = w.build(KILL_REFUND).await;
    w.anvil.advance(10 * 3600 + 60).await;
    let before = w.anvil.balance(w.resolver_eth()).await;
    let (r, died) = feed(w, r, id, &w.tick().await).await;
    assert!(died, "killed after persisting the refund");
    let refund = eth_entry(w, &r, &format!("refund_dst:{id}")).await;
    assert!(
        wait_receipt(&w.anvil.provider(), refund.hash)
            .await
            .status()
    );
    let back = w.anvil.balance(w.resolver_eth()).await - before;
    assert!(back > U256::from(E18 * 99 / 100), "1 ETH back (minus gas)");
    let mut r = r;
    let s = r
        .ingest(id, &refund_seen(Side::Dst, dst_lock, refund.hash.0, FINAL))
        .await
        .unwrap();
    eprintln!(
        "btc->eth refund {id}: {} after the ETH dst timeout; refund {}",
        state(&s),
        refund.hash
    );
    assert_eq!(
        state(&s),
        "DstRefunded",
        "the maker's BTC refund is the maker's"
    );
}

async fn eth_to_btc_refunds(w: &World) {
    let secret = Secret::new(rand_bytes::<32>());
    let (id, created, matched, terms) = eth_to_btc(w, &secret).await;
    let mut r = w.build(None).await;
    r.ingest(id, &created).await.unwrap();
    r.ingest(id, &matched).await.unwrap();
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
    r.ingest(id, &lock_seen(Side::Src, src_lock, wei(E18), FINAL, wall))
        .await
        .unwrap();
    let funding = btc_row(&r, &format!("lock:{id}")).await;
    mine(&w.chain, 1);
    let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&funding.raw).unwrap();
    let h = btc_terms(&terms.dst);
    let (outpoint, _) = crosslock_btc::fund::find_htlc_outputs(&tx, &htlc_params(&h))[0];
    let dst_lock = crosslock_btc::types::lock_id(outpoint);
    r.ingest(
        id,
        &lock_seen(Side::Dst, dst_lock, sats(1_000_000), Depth::Btc(1), wall),
    )
    .await
    .unwrap();

    // No reveal. Mine to the HTLC's timeout: our refund becomes valid for the next block.
    let tip = w.chain.height().unwrap();
    for _ in tip..h.timeout.0 {
        mine(&w.chain, 1);
    }
    drop(r);
    let r = w.build(KILL_REFUND).await;
    let (mut r, died) = feed(w, r, id, &w.tick().await).await;
    assert!(died, "killed after persisting the BTC refund");
    let key = format!("refund_dst:{id}:{outpoint}");
    let row = btc_row(&r, &key).await;
    assert!(
        in_mempool(&w.chain, &row.txid),
        "refund re-broadcast after the restart"
    );
    mine(&w.chain, 6);
    assert_eq!(confirmations(&w.chain, &row.txid), Some(6));
    r.ingest(id, &w.tick().await).await.unwrap();
    r.ingest(
        id,
        &refund_seen(Side::Dst, dst_lock, txid_bytes(&row.txid), Depth::Btc(6)),
    )
    .await
    .unwrap();

    // Thirty hours on, the maker's ETH is refundable; the resolver sends the refund for it.
    let maker_before = w.anvil.balance(w.maker_eth()).await;
    w.anvil.advance(30 * 3600 + 60).await;
    r.ingest(id, &w.tick().await).await.unwrap();
    let refund = eth_entry(w, &r, &format!("refund_src:{id}")).await;
    assert!(
        wait_receipt(&w.anvil.provider(), refund.hash)
            .await
            .status()
    );
    let maker_after = w.anvil.balance(w.maker_eth()).await;
    assert_eq!(
        maker_after - maker_before,
        U256::from(E18),
        "the maker got its 1 ETH back"
    );
    let s = r
        .ingest(id, &refund_seen(Side::Src, src_lock, refund.hash.0, FINAL))
        .await
        .unwrap();
    eprintln!(
        "eth->btc refunds {id}: {}; btc refund {}, eth refund for the maker {}",
        state(&s),
        row.txid,
        refund.hash
    );
    assert_eq!(state(&s), "Refunded");
    assert_eq!(
        db::btc_outbox::of_swap(&r.exec.pool, id)
            .await
            .unwrap()
            .len(),
        2,
        "one funding, one refund"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolver_refunds_in_both_directions_after_a_kill_before_broadcast() {
    let w = World::start().await;
    btc_to_eth_refund(&w).await;
    eth_to_btc_refunds(&w).await;
    w.drop_all().await;
}
