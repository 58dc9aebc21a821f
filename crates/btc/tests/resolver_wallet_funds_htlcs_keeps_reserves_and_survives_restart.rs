//! The resolver's bdk_wallet on the regtest chain: synced through Electrum it sees its coinbase
//! coins, reserves coins for fee bumps that funding never touches, funds an HTLC that the watcher
//! then sees, refuses an HTLC too small to claim or refund, and reloads the same state (reserved
//! coins included) from its file.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

mod common;

use std::time::{Duration, Instant};

use bdk_electrum::BdkElectrumClient;
use bdk_electrum::electrum_client;
use bitcoin::bip32::Xpriv;
use bitcoin::{Address, FeeRate, Network, ScriptBuf};
use common::{CLAIM, REFUND, dest, pk};
use crosslock_btc::electrum::{Broadcast, ElectrumConfig, ElectrumWatcher};
use crosslock_btc::fund::{FundError, FundingRequest};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::types::{BtcHeight, Sats, Secret, UnixTime};
use crosslock_btc::wallet::{ResolverWallet, WalletError};
use crosslock_btc::watcher::ChainEvent;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

const COIN: u64 = 100_000_000;

fn descriptors() -> (String, String) {
    let xprv = Xpriv::new_master(Network::Regtest, &[7u8; 32]).unwrap();
    (
        format!("wpkh({xprv}/84'/1'/0'/0/*)"),
        format!("wpkh({xprv}/84'/1'/0'/1/*)"),
    )
}

fn open(path: &std::path::Path) -> ResolverWallet {
    let (ext, int) = descriptors();
    ResolverWallet::open(path, &ext, &int, Network::Regtest).unwrap()
}

#[test]
fn the_wallet_funds_an_htlc_from_unreserved_coins_and_reloads_its_state() {
    let chain = TestChain::from_env_or_start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolver.wallet");
    let mut wallet = open(&path);
    let client = BdkElectrumClient::new(electrum_client::Client::new(&chain.electrum_url).unwrap());

    // Five coinbase coins to the wallet, matured by 100 blocks to someone else.
    let addr = wallet.new_address().unwrap();
    chain.mine(5, &addr.to_string()).unwrap();
    let anyone = Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51]), Network::Regtest);
    chain.mine(100, &anyone.to_string()).unwrap();
    wallet.sync(&client).unwrap();
    let b = wallet.balance();
    assert!(b.confirmed.0 >= 5 * COIN, "{b:?}");

    // Reserve one coin's worth for fee bumps.
    let reserved = wallet.reserve_for_fee_bumps(Sats(COIN)).unwrap();
    assert_eq!(reserved.len(), 1);
    let b = wallet.balance();
    assert!(b.reserved.0 >= COIN);

    let s = Secret::new([0x77; 32]);
    let tip = chain.height().unwrap();
    let params = HtlcParams::new(s.hashlock(), pk(CLAIM), pk(REFUND), BtcHeight(tip + 50)).unwrap();
    let rate = FeeRate::from_sat_per_vb_u32(2);
    let max_spend_rate = FeeRate::from_sat_per_vb_u32(500);

    // Too small to claim at 500 sat/vB: refused before any coin is touched.
    let tiny = FundingRequest {
        htlc: params,
        amount: Sats(20_000),
        fee_rate: rate,
    };
    assert!(matches!(
        wallet.fund_htlc(&tiny, &dest(9), max_spend_rate, UnixTime(0)),
        Err(WalletError::Fund(FundError::BelowMinimum { .. }))
    ));
    // More than the unreserved coins hold: refused, although the reserve would cover it.
    let spendable = wallet.balance().confirmed.0;
    let big = FundingRequest {
        htlc: params,
        amount: Sats(spendable + 1),
        fee_rate: rate,
    };
    assert!(
        wallet
            .fund_htlc(&big, &dest(9), max_spend_rate, UnixTime(0))
            .is_err()
    );

    let req = FundingRequest {
        htlc: params,
        amount: Sats(COIN + 12_345),
        fee_rate: rate,
    };
    let funding = wallet
        .fund_htlc(&req, &dest(9), max_spend_rate, UnixTime(1))
        .unwrap();
    assert!(
        funding
            .tx
            .input
            .iter()
            .all(|i| !reserved.contains(&i.previous_output))
    );
    assert_eq!(
        funding.tx.output[funding.outpoint.vout as usize].script_pubkey,
        params.script_pubkey()
    );

    let mut watcher: ElectrumWatcher<u32> =
        ElectrumWatcher::new(ElectrumConfig::new(chain.electrum_url.clone()));
    watcher.watch(1, params).unwrap();
    assert_eq!(
        watcher.broadcast(&funding.tx).unwrap(),
        Broadcast::Accepted(funding.tx.compute_txid())
    );
    let end = Instant::now() + Duration::from_secs(60);
    let mut first = false;
    while !first && Instant::now() < end {
        first = watcher.poll().unwrap().iter().any(
            |e| matches!(e, ChainEvent::Funding { outpoint, .. } if *outpoint == funding.outpoint),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(first, "the first funding was not seen");
    // Stuck at 2 sat/vB: replaced at 25 sat/vB. The HTLC output moves to the new txid; the
    // watcher reports the old outpoint gone and the new one seen.
    let bumped = wallet
        .bump_funding(
            &funding,
            &req,
            FeeRate::from_sat_per_vb_u32(25),
            UnixTime(2),
        )
        .unwrap();
    assert!(bumped.fee > funding.fee);
    let txid = bumped.tx.compute_txid();
    assert_eq!(
        watcher.broadcast(&bumped.tx).unwrap(),
        Broadcast::Accepted(txid)
    );
    let old = funding.outpoint;
    let funding = bumped;
    let end = Instant::now() + Duration::from_secs(60);
    let mut gone = false;
    while !gone && Instant::now() < end {
        gone = watcher
            .poll()
            .unwrap()
            .iter()
            .any(|e| matches!(e, ChainEvent::FundingGone { outpoint, .. } if *outpoint == old));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "the replaced funding was not reported gone");
    chain.mine(1, &anyone.to_string()).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while !seen && Instant::now() < end {
        seen = watcher.poll().unwrap().iter().any(|e| {
            matches!(e, ChainEvent::Funding { outpoint, amount, confirmations: 1, .. }
                if *outpoint == funding.outpoint && *amount == req.amount)
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen, "watcher did not see the funding confirmed");

    wallet.sync(&client).unwrap();
    let after = wallet.balance();
    drop(wallet);

    // The file holds everything: the same balance and the same reserve after a restart.
    let wallet = open(&path);
    assert_eq!(wallet.balance(), after);
    assert_eq!(wallet.reserved(), reserved);
    let confirmed = chain
        .call("getrawtransaction", &[json!(txid.to_string()), json!(true)])
        .unwrap();
    assert_eq!(confirmed["confirmations"], json!(1));
}

#[test]
fn a_funding_bump_may_spend_the_reserve_and_only_a_bump_does() {
    let chain = TestChain::from_env_or_start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = open(&dir.path().join("resolver.wallet"));
    let client = BdkElectrumClient::new(electrum_client::Client::new(&chain.electrum_url).unwrap());
    let addr = wallet.new_address().unwrap();
    chain.mine(2, &addr.to_string()).unwrap();
    let anyone = Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51]), Network::Regtest);
    chain.mine(100, &anyone.to_string()).unwrap();
    wallet.sync(&client).unwrap();
    let reserved = wallet.reserve_for_fee_bumps(Sats(1)).unwrap();
    assert_eq!(reserved.len(), 1);

    // Lock nearly all of the one free coin: the change left cannot pay a much higher rate.
    let free = wallet.balance().confirmed.0;
    let s = Secret::new([0x78; 32]);
    let tip = chain.height().unwrap();
    let params = HtlcParams::new(s.hashlock(), pk(CLAIM), pk(REFUND), BtcHeight(tip + 50)).unwrap();
    let req = FundingRequest {
        htlc: params,
        amount: Sats(free - 3_000),
        fee_rate: FeeRate::from_sat_per_vb_u32(2),
    };
    let max_spend_rate = FeeRate::from_sat_per_vb_u32(500);
    let funding = wallet
        .fund_htlc(&req, &dest(9), max_spend_rate, UnixTime(1))
        .unwrap();
    assert!(
        !funding
            .tx
            .input
            .iter()
            .any(|i| reserved.contains(&i.previous_output))
    );
    let mut watcher: ElectrumWatcher<u32> =
        ElectrumWatcher::new(ElectrumConfig::new(chain.electrum_url.clone()));
    watcher.broadcast(&funding.tx).unwrap();

    let bumped = wallet
        .bump_funding(
            &funding,
            &req,
            FeeRate::from_sat_per_vb_u32(60),
            UnixTime(2),
        )
        .unwrap();
    assert!(
        bumped
            .tx
            .input
            .iter()
            .any(|i| reserved.contains(&i.previous_output))
    );
    assert!(wallet.reserved().is_empty());
    let txid = bumped.tx.compute_txid();
    assert_eq!(
        watcher.broadcast(&bumped.tx).unwrap(),
        Broadcast::Accepted(txid)
    );
    let entry = chain
        .call("getmempoolentry", &[json!(txid.to_string())])
        .unwrap();
    assert!(entry.is_object(), "{entry}");
}
