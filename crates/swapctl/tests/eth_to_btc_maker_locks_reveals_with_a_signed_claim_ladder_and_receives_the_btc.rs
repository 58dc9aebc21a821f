//! The maker's whole ETH -> BTC path with `swapctl swap eth-to-btc --auto-reveal`, against a
//! real relayer watching anvil and the regtest chain: the order is submitted, the maker's ETH
//! is locked in the escrow once the swap is matched, and when the resolver's BTC HTLC (funded
//! here, as the resolver would) is final, the maker reveals the secret together with its signed
//! claims of that HTLC. The relayer checks the ladder and broadcasts the cheapest claim, which
//! pays the maker's own wallet address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::time::{Duration, Instant};

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{FeeRate, ScriptBuf};
use crosslock_btc::fund::FundingRequest;
use crosslock_btc::htlc::HtlcParams;
use crosslock_core::amount::Sats;
use crosslock_core::time::UnixTime;
use support::*;

const E18: u128 = 1_000_000_000_000_000_000;

/// A regtest address of nobody here.
fn payout_elsewhere() -> String {
    bitcoin::Address::p2wpkh(
        &bitcoin::CompressedPublicKey::from_slice(&hex::decode(RESOLVER_BTC).unwrap()).unwrap(),
        bitcoin::Network::Regtest,
    )
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_to_btc_maker_locks_reveals_with_a_signed_claim_ladder_and_receives_the_btc() {
    let started = Instant::now();
    let (anvil, _escrow, chain, relayer) = watched_chains().await;
    let maker = Maker::new(&relayer, &chain.electrum_url).with_eth(&anvil.url, ANVIL_KEYS[1]);
    let dir = tempfile::tempdir().unwrap();
    let mut resolver_btc = btc_wallet(&chain, dir.path(), 7, 1);
    // Before any order: refused without a wallet for the BTC, and beyond the ETH held.
    let amount = (E18 / 10).to_string();
    for (args, want) in [
        (
            vec!["--amount", amount.as_str()],
            "the BTC needs somewhere to go",
        ),
        (
            vec![
                "--amount",
                "100000000000000000000000",
                "--btc-payout-address",
                &payout_elsewhere(),
            ],
            "the swap locks",
        ),
    ] {
        let mut a = vec!["swap", "eth-to-btc"];
        a.extend(args);
        let out = maker.run(&a).await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains(want), "{want}: {}", stderr(&out));
    }
    assert_eq!(relayer.count("swaps").await, 0);
    // The maker's wallet exists (for the claim's address) but holds nothing.
    maker.json(&["wallet", "init"]).await;

    let mut swap = maker.spawn(&[
        "swap",
        "eth-to-btc",
        "--amount",
        &amount,
        "--auto-reveal",
        "--json",
    ]);
    let id = swap.swap_id().await;
    relayer
        .accept_when_ready(&id, &Anvil::address(2).to_checksum(None))
        .await;
    let locked = swap
        .until("locked", |l| l.contains("\"type\":\"funded\""))
        .await;
    eprintln!("{locked}");
    swap.until("SrcLockSeen", |l| l.contains("\"state\":\"SrcLockSeen\""))
        .await;
    // The relayer takes an escrow lock as final at `finalized`.
    anvil.mine(80).await;
    swap.until("SrcLocked", |l| l.contains("\"state\":\"SrcLocked\""))
        .await;

    // The resolver funds the BTC HTLC whose claim key is the maker's.
    let record = relayer.view(&id).await;
    let b = record.bitcoin.clone().unwrap();
    let htlc =
        HtlcParams::from_witness_script(&ScriptBuf::from_bytes(b.witness_script.clone())).unwrap();
    assert_eq!(
        hex::encode(htlc.claim_pubkey().serialize()),
        maker.entry(&id)["btc_pubkey"].as_str().unwrap()
    );
    let f = resolver_btc
        .fund_htlc(
            &FundingRequest {
                htlc,
                amount: Sats(b.amount.parse().unwrap()),
                fee_rate: FeeRate::from_sat_per_vb_u32(2),
            },
            &ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_raw_hash(
                bitcoin::hashes::Hash::all_zeros(),
            )),
            FeeRate::from_sat_per_vb_u32(500),
            UnixTime(1_800_000_000),
        )
        .unwrap();
    chain
        .call(
            "sendrawtransaction",
            &[serde_json::json!(serialize_hex(&f.tx))],
        )
        .unwrap();
    swap.until("DstLockSeen", |l| l.contains("\"state\":\"DstLockSeen\""))
        .await;
    mine(&chain, 1);

    // Both locks final: the maker reveals with its claim ladder; the relayer sends a claim.
    let revealed = swap
        .until("the reveal", |l| l.contains("\"type\":\"revealed\""))
        .await;
    eprintln!("{revealed}");
    let payout = maker.entry(&id)["btc_payout_address"]
        .as_str()
        .unwrap()
        .to_owned();
    let end = Instant::now() + Duration::from_secs(30);
    let claim = loop {
        if let Some(t) = history(&chain.electrum_url, &payout).pop() {
            break t;
        }
        assert!(Instant::now() < end, "no claim paid {payout}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        mempool(&chain).contains(&claim),
        "the claim is not in the mempool"
    );
    let htlc_address = htlc.address(bitcoin::Network::Regtest).to_string();
    assert_eq!(
        history(&chain.electrum_url, &htlc_address),
        vec![f.tx.compute_txid().to_string(), claim.clone()]
    );
    mine(&chain, 1);
    swap.until("DstClaimed", |l| l.contains("\"state\":\"DstClaimed\""))
        .await;
    let updates = swap
        .seen
        .iter()
        .filter(|l| l.contains("\"type\":\"update\""))
        .count();
    eprintln!("{updates} updates; wall time {:?}", started.elapsed());
    drop(swap);
    assert_eq!(maker.entry(&id)["revealed"], true);
    relayer.stop().await;
}
