//! A BTC -> ETH swap funded by the maker's `swapctl` on the regtest chain, with a real relayer
//! that watches the chain through Electrum: `swap btc-to-eth` submits, follows the swap, funds
//! it when it is matched and shows the relayer seeing the funding; reruns (`fund`,
//! `swap resume`) never pay the HTLC a second time; `refund` is refused before the HTLC's timeout height with the height
//! to wait for, and once the chain reaches it the coins come back to the maker's wallet, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::{Duration, Instant};

use crosslock_proto::public::v1 as pb;
use serde_json::Value;
use support::*;

const MAKER_ETH: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
const RESOLVER_ETH: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";

async fn wait_state(relayer: &Relayer, id: &str, want: pb::SwapState) -> pb::Swap {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let s = relayer.view(id).await;
        if s.state == want as i32 {
            return s;
        }
        assert!(Instant::now() < end, "never reached {want:?}: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btc_funding_happens_once_across_reruns_and_the_refund_waits_for_the_timeout() {
    let started = Instant::now();
    let chain = chain().await;
    let relayer = Relayer::start(RelayerOpts {
        electrum_url: Some(chain.electrum_url.clone()),
        ..RelayerOpts::default()
    })
    .await;
    relayer.set_head("ethereum", 100).await;
    let maker = Maker::new(&relayer, &chain.electrum_url);
    fund_wallet(&chain, &maker, 2).await;
    // `swap` checks the wallet can pay, submits, follows the swap, funds it once it is
    // matched, and shows the relayer seeing the funding.
    let mut swap = maker.spawn(&[
        "swap",
        "btc-to-eth",
        "--amount",
        "150000",
        "--eth-address",
        MAKER_ETH,
        "--json",
    ]);
    let id = swap.swap_id().await;
    relayer.accept_when_ready(&id, RESOLVER_ETH).await;
    swap.until("SrcLockSeen", |l| l.contains("\"state\":\"SrcLockSeen\""))
        .await;
    let events = json_lines(&swap.seen);
    drop(swap);
    eprintln!("swap printed {} lines", events.len());
    assert!(events.iter().any(|e| e["state"] == "Matched"), "{events:?}");
    let funded: Vec<&Value> = events.iter().filter(|e| e["type"] == "funded").collect();
    assert_eq!(funded.len(), 1, "{events:?}");
    assert_eq!(funded[0]["new"], true);
    let txid = funded[0]["txid"].as_str().unwrap().to_owned();
    let address = funded[0]["address"].as_str().unwrap().to_owned();
    assert_eq!(maker.entry(&id)["funding"]["txid"], txid.as_str());
    mine(&chain, 1);
    let locked = wait_state(&relayer, &id, pb::SwapState::SrcLocked).await;
    assert_eq!(
        locked.bitcoin.as_ref().unwrap().outpoint,
        maker.entry(&id)["funding"]["outpoint"].as_str().unwrap()
    );

    // Reruns send the recorded funding (or nothing) and never pay again.
    let again = maker.json(&["fund", &id]).await;
    assert_eq!(again["new"], false);
    assert_eq!(again["txid"], txid.as_str());
    let mut resume = maker.spawn(&["swap", "resume", &id]);
    resume
        .until("SrcLocked", |l| l.starts_with("[SrcLocked]"))
        .await;
    assert!(
        !resume.seen.iter().any(|l| l.starts_with("funded")),
        "a rerun funded: {:?}",
        resume.seen
    );
    drop(resume);
    assert_eq!(history(&chain.electrum_url, &address), vec![txid.clone()]);

    // Too early: refused with the height to wait for; nothing written or sent.
    let timeout = locked.bitcoin.as_ref().unwrap().timeout_height;
    let before = std::fs::read(maker.state_file()).unwrap();
    let early = maker.run(&["refund", &id]).await;
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains(&format!("refunds from height {timeout}")),
        "{}",
        stderr(&early)
    );
    assert_eq!(std::fs::read(maker.state_file()).unwrap(), before);
    assert!(mempool(&chain).is_empty());

    // At the timeout height the refund goes out, once.
    let tip = chain.height().unwrap();
    mine(&chain, timeout - tip);
    let r = maker.json(&["refund", &id]).await;
    let refunds = r["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{r}");
    assert_eq!(refunds[0]["new"], true);
    let refund_txid = refunds[0]["txid"].as_str().unwrap().to_owned();
    assert_eq!(mempool(&chain), vec![refund_txid.clone()]);
    let rerun = maker.json(&["refund", &id]).await;
    assert_eq!(rerun["refunds"][0]["txid"], refund_txid.as_str());
    assert_eq!(rerun["refunds"][0]["new"], false);
    mine(&chain, 1);
    let payout = maker.entry(&id)["btc_payout_address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        history(&chain.electrum_url, &payout),
        vec![refund_txid.clone()]
    );
    assert_eq!(
        history(&chain.electrum_url, &address),
        vec![txid, refund_txid]
    );
    let done = maker.json(&["refund", &id]).await;
    assert_eq!(done["refunds"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(done["refunds"][0]["mined"], true, "{done}");
    assert!(mempool(&chain).is_empty());
    eprintln!("wall time {:?}", started.elapsed());
    relayer.stop().await;
}
