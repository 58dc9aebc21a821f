//! BTC -> ETH on anvil + the regtest chain + Postgres: the maker funds the BTC HTLC, the
//! resolver locks ETH, claims it for the maker once the secret is revealed, then claims the BTC.
//! One swap runs clean; each other swap kills the resolver right after one persisted step (lock,
//! ETH claim for the maker, BTC claim), restarts a new one over the same database, and must
//! finish with exactly one transaction per step: no double spend, no lost claim.
//!
//! The relayer's stream is not used: the test feeds the core events the relayer would send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::Instant;

use alloy::primitives::U256;
use crosslock_core::finality::Depth;
use crosslock_core::secret::Secret;
use crosslock_core::swap::Side;
use crosslock_resolver::db;
use crosslock_resolver::executor::CrashPoint;
use crosslock_resolver::policy::SignKind;
use support::*;

async fn one_swap(w: &World, crash: Option<SignKind>) {
    let started = Instant::now();
    let secret = Secret::new(rand_bytes::<32>());
    let (id, created, matched, terms) = btc_to_eth(w, &secret).await;
    let kill = |k: SignKind| (crash == Some(k)).then_some(CrashPoint::AfterPersist(k));
    let mut r = w.build(kill(SignKind::LockDst)).await;
    r.ingest(id, &created).await.unwrap();
    r.ingest(id, &matched).await.unwrap();
    let nonce_before = w.anvil.nonce(w.resolver_eth()).await;
    let maker_before = w.anvil.balance(w.maker_eth()).await;

    // The maker funds the BTC HTLC; one confirmation is final for 0.01 BTC.
    let h = btc_terms(&terms.src);
    let (src_lock, outpoint) = maker_funds(w, &h);
    r.ingest(id, &w.tick().await).await.unwrap();
    let wall = w.clock().await.wall.0;
    let (r2, died) = feed(
        w,
        r,
        id,
        &lock_seen(Side::Src, src_lock, sats(1_000_000), Depth::Btc(1), wall),
    )
    .await;
    r = r2;
    assert_eq!(died, crash == Some(SignKind::LockDst));
    let lock = eth_entry(w, &r, &format!("lock:{id}")).await;
    let receipt = wait_receipt(&w.anvil.provider(), lock.hash).await;
    assert!(receipt.status(), "ETH lock succeeded");

    // Rebuild with the next kill point before the next persisted step.
    if crash == Some(SignKind::ClaimDst) {
        drop(r);
        r = w.build(kill(SignKind::ClaimDst)).await;
    }
    let e = eth_terms(&terms.dst);
    let dst_lock = escrow_lock_id(&e);
    r.ingest(id, &lock_seen(Side::Dst, dst_lock, wei(E18), FINAL, wall))
        .await
        .unwrap();
    let (r2, died) = feed(
        w,
        r,
        id,
        &crosslock_core::swap::Event::SecretRevealed {
            secret: secret.clone(),
            maker_claim: None,
        },
    )
    .await;
    r = r2;
    assert_eq!(died, crash == Some(SignKind::ClaimDst));
    let claim = eth_entry(w, &r, &format!("claim_dst:{id}")).await;
    assert!(wait_receipt(&w.anvil.provider(), claim.hash).await.status());
    let maker_after = w.anvil.balance(w.maker_eth()).await;
    assert_eq!(
        maker_after - maker_before,
        U256::from(E18),
        "the maker got exactly 1 ETH"
    );

    if crash == Some(SignKind::ClaimSrc) {
        drop(r);
        r = w.build(kill(SignKind::ClaimSrc)).await;
    }
    let (r2, died) = feed(
        w,
        r,
        id,
        &claim_seen(Side::Dst, dst_lock, claim.hash.0, &secret, INCLUDED),
    )
    .await;
    r = r2;
    assert_eq!(died, crash == Some(SignKind::ClaimSrc));
    let key = format!("claim_src:{id}:{outpoint}");
    let row = btc_row(&r, &key).await;
    assert!(in_mempool(&w.chain, &row.txid), "BTC claim broadcast");
    mine(&w.chain, 6);
    assert_eq!(confirmations(&w.chain, &row.txid), Some(6));
    assert!(row.versions.is_empty(), "signed once");

    r.ingest(id, &w.tick().await).await.unwrap();
    r.ingest(
        id,
        &claim_seen(
            Side::Src,
            src_lock,
            txid_bytes(&row.txid),
            &secret,
            Depth::Btc(6),
        ),
    )
    .await
    .unwrap();
    let s = r
        .ingest(
            id,
            &claim_seen(Side::Dst, dst_lock, claim.hash.0, &secret, FINAL),
        )
        .await
        .unwrap();
    assert_eq!(state(&s), "Completed");

    // No double spend: exactly the lock and the claim left the resolver's ETH address.
    let nonce_after = w.anvil.nonce(w.resolver_eth()).await;
    assert_eq!(
        nonce_after - nonce_before,
        2,
        "two ethereum transactions for this swap"
    );
    // Once the swap is terminal its outbox rows are final: nothing is re-broadcast for it.
    r.resume().await.unwrap();
    let rows = db::btc_outbox::of_swap(&r.exec.pool, id).await.unwrap();
    assert_eq!(rows.len(), 1, "one bitcoin transaction for this swap");
    assert_eq!(rows[0].state, "final");
    eprintln!(
        "btc->eth swap {id} kill={:?}: Completed in {:.1}s (eth nonces {nonce_before}..{nonce_after}, btc claim {})",
        crash.map(SignKind::name),
        started.elapsed().as_secs_f64(),
        row.txid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolver_finishes_btc_to_eth_swaps_after_a_kill_at_each_persisted_step() {
    let w = World::start().await;
    for crash in [
        None,
        Some(SignKind::LockDst),
        Some(SignKind::ClaimDst),
        Some(SignKind::ClaimSrc),
    ] {
        one_swap(&w, crash).await;
    }
    w.drop_all().await;
}
