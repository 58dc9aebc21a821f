//! A fee spike on regtest: the resolver's claim of the maker's BTC HTLC sits in the mempool while
//! blocks without it are mined (as if every block were full of better-paying transactions).
//! On each block the core's escalation moves (every 15 blocks, every 3 within 15 of the
//! timeout, every block within 3) and the resolver replaces the claim (RBF) at a higher rate,
//! never above its cap. Two blocks before the timeout the spike ends: the claim confirms
//! before the maker's refund path opens.
//!
//! The relayer's stream is not used: the test feeds the core events the relayer would send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use crosslock_core::finality::Depth;
use crosslock_core::secret::Secret;
use crosslock_core::swap::{Event, Side};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolver_bumps_its_btc_claim_on_schedule_during_a_fee_spike_and_confirms_before_the_deadline()
 {
    let w = World::start().await;
    let secret = Secret::new(rand_bytes::<32>());
    let (id, created, matched, terms) = btc_to_eth(&w, &secret).await;
    let mut r = w.build(None).await;
    r.ingest(id, &created).await.unwrap();
    r.ingest(id, &matched).await.unwrap();
    let h = btc_terms(&terms.src);
    let (src_lock, outpoint) = maker_funds(&w, &h);
    r.ingest(id, &w.tick().await).await.unwrap();
    let wall = w.clock().await.wall.0;
    r.ingest(
        id,
        &lock_seen(Side::Src, src_lock, sats(1_000_000), Depth::Btc(1), wall),
    )
    .await
    .unwrap();
    let e = eth_terms(&terms.dst);
    let dst_lock = escrow_lock_id(&e);
    r.ingest(id, &lock_seen(Side::Dst, dst_lock, wei(E18), FINAL, wall))
        .await
        .unwrap();
    r.ingest(
        id,
        &Event::SecretRevealed {
            secret: secret.clone(),
            maker_claim: None,
        },
    )
    .await
    .unwrap();
    let claim = eth_entry(&w, &r, &format!("claim_dst:{id}")).await;
    assert!(wait_receipt(&w.anvil.provider(), claim.hash).await.status());
    r.ingest(
        id,
        &claim_seen(Side::Dst, dst_lock, claim.hash.0, &secret, INCLUDED),
    )
    .await
    .unwrap();

    let key = format!("claim_src:{id}:{outpoint}");
    let mut row = btc_row(&r, &key).await;
    let timeout = h.timeout.0;
    let mut history = vec![(
        w.chain.height().unwrap(),
        row.escalation.clone(),
        row.fee_rate_sat_kwu,
        row.txid.clone(),
    )];
    // The spike: empty blocks until two are left before the timeout.
    while timeout - w.chain.height().unwrap() > 2 {
        assert!(
            in_mempool(&w.chain, &row.txid),
            "the current claim is in the mempool"
        );
        mine_empty(&w.chain);
        r.ingest(id, &w.tick().await).await.unwrap();
        let next = btc_row(&r, &key).await;
        if next.txid != row.txid {
            assert!(
                next.fee_rate_sat_kwu > row.fee_rate_sat_kwu,
                "rates only rise"
            );
            assert!(next.fee_sat > row.fee_sat, "each replacement pays more");
            history.push((
                w.chain.height().unwrap(),
                next.escalation.clone(),
                next.fee_rate_sat_kwu,
                next.txid.clone(),
            ));
        }
        row = next;
    }
    // The spike ends: the next block takes the mempool.
    mine(&w.chain, 1);
    let confirmed_at = w.chain.height().unwrap();
    assert_eq!(
        confirmations(&w.chain, &row.txid),
        Some(1),
        "the last replacement confirmed"
    );
    assert!(
        confirmed_at < timeout,
        "confirmed at {confirmed_at}, before the timeout {timeout}"
    );
    for (height, esc, rate, txid) in &history {
        eprintln!(
            "height {height:>4} ({:>3} blocks left)  {esc:<12} {:>3} sat/vB  {txid}",
            timeout - height,
            rate / 250
        );
    }
    eprintln!(
        "{} versions; confirmed at height {confirmed_at}, {} blocks before the timeout {timeout}; final fee {} sat",
        history.len(),
        timeout - confirmed_at,
        row.fee_sat
    );
    // The schedule: bumps every 15 blocks far out, every 3 within 15, every block within 3.
    let urgent = history
        .iter()
        .filter(|(_, e, _, _)| e.starts_with("Urgent"))
        .count();
    let normal = history
        .iter()
        .filter(|(_, e, _, _)| e.starts_with("Normal"))
        .count();
    assert!(normal >= 9, "{normal} normal-band versions");
    assert!(urgent >= 4, "{urgent} urgent-band versions");
    assert!(
        history.iter().all(|(_, _, rate, _)| *rate <= 60 * 250),
        "never above the 60 sat/vB cap"
    );
    assert_eq!(
        row.versions.len() + 1,
        history.len(),
        "every version kept in the outbox"
    );
    w.drop_all().await;
}
