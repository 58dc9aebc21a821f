//! A `bdk_wallet` synced through `bdk_electrum` over a real socket receives coinbase rewards,
//! sees them mature after 100 blocks, spends them, and sees its spend confirm.
#![allow(clippy::unwrap_used)]

mod common;

use bdk_electrum::BdkElectrumClient;
use bdk_electrum::electrum_client;
use bdk_wallet::miniscript::psbt::PsbtExt as _;
use bdk_wallet::{KeychainKind, Wallet};
use bitcoin::bip32::Xpriv;
use bitcoin::{Amount, FeeRate, Network};
use common::*;
use crosslock_regtest::testing::TestChain;

fn sync(wallet: &mut Wallet, client: &BdkElectrumClient<electrum_client::Client>) {
    let request = wallet.start_full_scan().build();
    let update = client.full_scan(request, 10, 5, false).unwrap();
    wallet.apply_update(update).unwrap();
}

#[test]
fn wallet_receives_coinbase_spends_it_and_sees_confirmations() {
    let chain = TestChain::from_env_or_start().unwrap();
    let xprv = Xpriv::new_master(Network::Regtest, &nonce()).unwrap();
    let mut wallet = Wallet::create(
        format!("wpkh({xprv}/84'/1'/0'/0/*)"),
        format!("wpkh({xprv}/84'/1'/0'/1/*)"),
    )
    .network(Network::Regtest)
    .create_wallet_no_persist()
    .unwrap();
    let client = BdkElectrumClient::new(electrum_client::Client::new(&chain.electrum_url).unwrap());

    let address = wallet.reveal_next_address(KeychainKind::External).address;
    let start = chain.height().unwrap();
    chain.mine(2, &address.to_string()).unwrap();
    sync(&mut wallet, &client);
    let balance = wallet.balance();
    assert_eq!(balance.confirmed, Amount::ZERO, "coinbase is immature");
    assert!(balance.immature > Amount::ZERO);
    assert_eq!(wallet.latest_checkpoint().height(), start + 2);

    // 100 more blocks: the first coinbase can be spent in the next block.
    mine(&chain, 100);
    sync(&mut wallet, &client);
    let balance = wallet.balance();
    assert!(balance.confirmed > Amount::ZERO, "{balance:?}");
    let total = balance.confirmed + balance.immature;
    // Half of what is spendable: the subsidy halves every 150 blocks on regtest.
    let amount = balance.confirmed / 2;

    let mut builder = wallet.build_tx();
    builder
        .add_recipient(anyone_address().script_pubkey(), amount)
        .fee_rate(FeeRate::from_sat_per_vb(5).unwrap());
    let mut psbt = builder.finish().unwrap();
    psbt.sign(&xprv, wallet.secp_ctx()).unwrap();
    psbt.finalize_mut(wallet.secp_ctx()).unwrap();
    let fee = psbt.fee().unwrap();
    let tx = psbt.extract_tx().unwrap();
    let txid = client.transaction_broadcast(&tx).unwrap();
    assert_eq!(txid, tx.compute_txid());

    sync(&mut wallet, &client);
    let seen = wallet.get_tx(txid).expect("the wallet sees its spend");
    assert!(!seen.chain_position.is_confirmed());
    assert!(mempool(&chain).contains(&txid.to_string()));

    mine(&chain, 6);
    sync(&mut wallet, &client);
    let tip = wallet.latest_checkpoint().height();
    let confirmed_at = wallet
        .get_tx(txid)
        .unwrap()
        .chain_position
        .confirmation_height_upper_bound()
        .unwrap();
    assert_eq!(tip - confirmed_at + 1, 6, "six confirmations");
    let balance = wallet.balance();
    assert_eq!(balance.confirmed + balance.immature, total - amount - fee);
}
