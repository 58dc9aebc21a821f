//! The maker's BTC -> ETH path with `swapctl swap btc-to-eth` (no `--auto-reveal`) against a
//! real relayer watching the regtest chain and anvil: the maker's wallet funds the HTLC once
//! the swap is matched, the resolver's escrow lock (made here, as the resolver would) becomes
//! final, and the command stops there, saying to reveal. `swapctl reveal` refuses while the
//! relayer's record has the escrow paying someone else, and hands over the secret once it pays
//! the maker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use crosslock_eth::SwapParams;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btc_to_eth_maker_funds_stops_when_both_locks_are_final_and_reveal_hands_over_the_secret() {
    let started = Instant::now();
    let (anvil, escrow, chain, relayer) = watched_chains().await;
    let maker = Maker::new(&relayer, &chain.electrum_url);
    fund_wallet(&chain, &maker, 1).await;
    let maker_eth = Anvil::address(1).to_checksum(None);
    // More than the wallet holds is refused before any order exists.
    let out = maker
        .run(&[
            "swap",
            "btc-to-eth",
            "--amount",
            "6000000000",
            "--eth-address",
            &maker_eth,
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the Bitcoin wallet holds"),
        "{}",
        stderr(&out)
    );
    assert_eq!(relayer.count("swaps").await, 0);

    let mut swap = maker.spawn(&[
        "swap",
        "btc-to-eth",
        "--amount",
        "150000",
        "--eth-address",
        &maker_eth,
        "--json",
    ]);
    let id = swap.swap_id().await;
    relayer
        .accept_when_ready(&id, &Anvil::address(2).to_checksum(None))
        .await;
    swap.until("SrcLockSeen", |l| l.contains("\"state\":\"SrcLockSeen\""))
        .await;
    mine(&chain, 1);
    swap.until("SrcLocked", |l| l.contains("\"state\":\"SrcLocked\""))
        .await;

    // The resolver locks the ETH for the maker, as the record says.
    let e = relayer.view(&id).await.ethereum.unwrap();
    let params = SwapParams {
        hashlock: B256::from_slice(&relayer.view(&id).await.hashlock),
        sender: e.sender.parse().unwrap(),
        receiver: e.receiver.parse().unwrap(),
        token: None,
        amount: e.amount.parse::<U256>().unwrap(),
        timeout: u64::try_from(e.timeout).unwrap(),
    };
    assert_eq!(params.receiver, Anvil::address(1));
    anvil
        .send(2, "lock", crosslock_eth::lock::lock(escrow, &params))
        .await;
    swap.until("DstLockSeen", |l| l.contains("\"state\":\"DstLockSeen\""))
        .await;
    anvil.mine(80).await;
    swap.until("the stop", |l| l.contains("\"type\":\"reveal_needed\""))
        .await;
    drop(swap);
    assert_eq!(relayer.view(&id).await.state, 6, "DstLocked");

    // A record whose escrow pays someone else gets no secret.
    let honest = relayer.view(&id).await;
    relayer
        .tamper(&id, |s| {
            s.ethereum.as_mut().unwrap().receiver = Address::repeat_byte(9).to_checksum(None);
        })
        .await;
    let refused = maker.run(&["reveal", &id]).await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not revealing") && stderr(&refused).contains("receiver"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(relayer.count("secrets").await, 0);
    assert_eq!(maker.entry(&id)["revealed"], false);

    relayer.tamper(&id, |s| *s = honest.clone()).await;
    let r = maker.json(&["reveal", &id]).await;
    assert_eq!(r["state"], "SecretRevealed", "{r}");
    assert_eq!(r["secret_known"], true);
    assert_eq!(relayer.count("secrets").await, 1);
    assert_eq!(maker.entry(&id)["revealed"], true);
    eprintln!("wall time {:?}", started.elapsed());
    relayer.stop().await;
}
