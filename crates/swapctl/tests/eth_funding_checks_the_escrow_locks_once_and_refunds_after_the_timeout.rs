//! ETH -> BTC swaps funded by the maker's `swapctl` on anvil, with a real relayer and the
//! regtest chain for the Bitcoin leg's clock. Before anything is signed, the escrow lock is
//! checked: a hashlock that is not the maker's and a contract that is not the escrow build are
//! refused, writing and sending nothing. Native ETH and an ERC-20 (approve, then lock) are each
//! locked once across reruns; `refund` is refused before the escrow's timeout with the time to
//! wait, and once anvil's clock passes it the escrow pays the maker back, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use alloy::primitives::U256;
use alloy::providers::Provider;
use support::*;

const E18: u128 = 1_000_000_000_000_000_000;

/// An ETH -> BTC order, matched.
async fn order(maker: &Maker, relayer: &Relayer, resolver: &str, args: &[&str]) -> String {
    let mut a = vec!["eth-to-btc"];
    a.extend_from_slice(args);
    let id = maker.submit(&a).await;
    relayer.accept(&id, resolver).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_funding_checks_the_escrow_locks_once_and_refunds_after_the_timeout() {
    let started = std::time::Instant::now();
    let anvil = Anvil::start().await;
    let escrow = anvil.deploy_escrow().await;
    let token = anvil.deploy_token().await;
    let maker_eth = Anvil::address(1);
    let resolver_eth = Anvil::address(2).to_checksum(None);
    anvil.mint(token, maker_eth, U256::from(10 * E18)).await;
    let chain = chain().await;
    let relayer = Relayer::start(RelayerOpts {
        escrow: Some(escrow.to_checksum(None)),
        // 1,000 tokens per BTC.
        token: Some((token.to_checksum(None), (1_000 * E18).to_string())),
        ..RelayerOpts::default()
    })
    .await;
    relayer.set_head("ethereum", 100).await;
    relayer
        .set_head("bitcoin", u64::from(chain.height().unwrap()))
        .await;
    let maker = Maker::new(&relayer, &chain.electrum_url).with_eth(&anvil.url, ANVIL_KEYS[1]);
    let tenth = (E18 / 10).to_string();
    let eth_args = ["--amount", tenth.as_str()];

    // A record whose hashlock is not SHA-256 of the maker's secret, and one naming a contract
    // that is not the escrow build: refused, with nothing written and no transaction sent.
    let wrong_hashlock = order(&maker, &relayer, &resolver_eth, &eth_args).await;
    relayer
        .tamper(&wrong_hashlock, |s| s.hashlock = vec![7; 32])
        .await;
    let wrong_contract = order(&maker, &relayer, &resolver_eth, &eth_args).await;
    relayer
        .tamper(&wrong_contract, |s| {
            s.ethereum.as_mut().unwrap().contract = token.to_checksum(None);
        })
        .await;
    for (id, want) in [
        (&wrong_hashlock, "hashlock"),
        (&wrong_contract, "not the expected contract"),
    ] {
        let before = std::fs::read(maker.state_file()).unwrap();
        let out = maker.run(&["fund", id]).await;
        eprintln!("{want}: {}", stderr(&out).trim());
        assert!(!out.status.success(), "{want}: locked anyway");
        assert!(stderr(&out).contains(want), "{want}: {}", stderr(&out));
        assert_eq!(std::fs::read(maker.state_file()).unwrap(), before, "{want}");
        assert_eq!(
            anvil.sent_by(maker_eth).await,
            0,
            "{want}: a transaction was sent"
        );
    }

    // Native ETH: locked once, however often the maker reruns.
    let id = order(&maker, &relayer, &resolver_eth, &eth_args).await;
    let before = anvil.balance(maker_eth).await;
    let f = maker.json(&["fund", &id]).await;
    assert_eq!(
        (f["new"].clone(), f["mined"].clone()),
        (true.into(), true.into()),
        "{f}"
    );
    assert_eq!(anvil.sent_by(maker_eth).await, 1);
    assert!(before - anvil.balance(maker_eth).await >= U256::from(E18 / 10));
    for _ in 0..2 {
        let again = maker.json(&["fund", &id]).await;
        assert_eq!(again["new"], false, "{again}");
        assert_eq!(again["escrow_id"], f["escrow_id"]);
    }
    assert_eq!(
        anvil.sent_by(maker_eth).await,
        1,
        "a rerun sent a transaction"
    );
    let entry = maker.entry(&id);
    assert_eq!(entry["funding"]["chain"], "ethereum");
    let timeout = entry["funding"]["params"]["timeout"].as_u64().unwrap();

    // Too early to refund: refused with the wait, nothing sent.
    let early = maker.run(&["refund", &id]).await;
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains(&format!("refunds from {timeout}")),
        "{}",
        stderr(&early)
    );
    assert_eq!(anvil.sent_by(maker_eth).await, 1);

    // An ERC-20: approve, then lock; once.
    let token_text = token.to_checksum(None);
    let tokens = order(
        &maker,
        &relayer,
        &resolver_eth,
        &["--amount", "1000000000000000000", "--token", &token_text],
    )
    .await;
    let t = maker.json(&["fund", &tokens]).await;
    assert_eq!(t["new"], true, "{t}");
    assert_eq!(anvil.sent_by(maker_eth).await, 3, "approve and lock");
    assert_eq!(
        anvil.token_balance(token, maker_eth).await,
        U256::from(9 * E18)
    );
    assert_eq!(maker.json(&["fund", &tokens]).await["new"], false);
    assert_eq!(anvil.sent_by(maker_eth).await, 3);

    // Past the timeout on chain, the escrow refunds both, once each.
    let now = anvil
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    let token_timeout = maker.entry(&tokens)["funding"]["params"]["timeout"]
        .as_u64()
        .unwrap();
    anvil.advance(timeout.max(token_timeout) - now + 1).await;
    let before = anvil.balance(maker_eth).await;
    let r = maker.json(&["refund", &id]).await;
    assert_eq!(r["mined"], true, "{r}");
    assert!(anvil.balance(maker_eth).await > before);
    assert_eq!(maker.json(&["refund", &tokens]).await["mined"], true);
    assert_eq!(
        anvil.token_balance(token, maker_eth).await,
        U256::from(10 * E18)
    );
    let sent = anvil.sent_by(maker_eth).await;
    assert_eq!(sent, 5);
    let again = maker.json(&["refund", &id]).await;
    assert_eq!(again["tx"], r["tx"], "{again}");
    assert_eq!(
        anvil.sent_by(maker_eth).await,
        sent,
        "a second refund was sent"
    );
    eprintln!("wall time {:?}", started.elapsed());
    relayer.stop().await;
}
