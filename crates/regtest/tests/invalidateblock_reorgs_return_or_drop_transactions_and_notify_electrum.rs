//! `invalidateblock` reorgs of depth 1 to 6: a confirmed transaction goes back to the mempool, or
//! disappears when the new chain holds a conflicting spend; Electrum subscribers are told the new
//! status each time. `reconsiderblock` brings the old chain back.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bdk_electrum::electrum_client::{self, ElectrumApi as _};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Amount, ScriptBuf, TxOut};
use common::*;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

/// Waits for a status notification for `script` and returns the history it reports.
fn next_status(client: &electrum_client::Client, script: &ScriptBuf) -> Vec<(String, i32)> {
    TestChain::wait_for(Duration::from_secs(10), || {
        client.ping().unwrap();
        client.script_pop(script).unwrap()
    })
    .unwrap_or_else(|| panic!("no status notification for {script}"));
    client
        .script_get_history(script)
        .unwrap()
        .into_iter()
        .map(|h| (h.tx_hash.to_string(), h.height))
        .collect()
}

#[test]
fn reorgs_of_depth_1_to_6_unconfirm_or_drop_transactions_and_notify_subscribers() {
    let chain = TestChain::from_env_or_start().unwrap();
    let client = electrum_client::Client::new(&chain.electrum_url).unwrap();
    let first = chain.height().unwrap() + 1;
    mine(&chain, 110);

    for depth in 1..=6u32 {
        let conflicted = depth % 2 == 0;
        // A script only this round pays, so its history is ours alone.
        let watched = unique_script();
        let watched_spk = p2wsh_address(&watched).script_pubkey();
        assert_eq!(client.script_subscribe(&watched_spk).unwrap(), None);

        let (coin, txout) = coinbase_coin(&chain, first + depth);
        let pay = |to: &ScriptBuf| {
            spend_anyone(
                &[coin],
                vec![TxOut {
                    value: txout.value - Amount::from_sat(5_000),
                    script_pubkey: to.clone(),
                }],
            )
        };
        let tx = pay(&watched_spk);
        let txid = send(&chain, &tx).unwrap();
        assert_eq!(
            next_status(&client, &watched_spk),
            vec![(txid.to_string(), 0)]
        );

        let hashes = mine(&chain, depth);
        let confirmed_at = chain.height().unwrap() + 1 - depth;
        assert_eq!(
            next_status(&client, &watched_spk),
            vec![(txid.to_string(), i32::try_from(confirmed_at).unwrap())]
        );
        assert_eq!(confirmations(&chain, &txid), Some(u64::from(depth)));

        rpc(&chain, "invalidateblock", &[json!(hashes[0])]);
        assert_eq!(chain.height().unwrap(), confirmed_at - 1, "depth {depth}");
        assert!(
            mempool(&chain).contains(&txid.to_string()),
            "depth {depth}: back in the mempool"
        );
        assert_eq!(
            next_status(&client, &watched_spk),
            vec![(txid.to_string(), 0)],
            "depth {depth}"
        );

        if conflicted {
            // The replacement chain confirms a different spend of the same coin, paying the
            // watched script a different amount (electrum-client cannot parse a null status).
            let mut other = pay(&watched_spk);
            other.output[0].value -= Amount::from_sat(1_000);
            rpc(
                &chain,
                "generateblock",
                &[
                    json!(anyone_address().to_string()),
                    json!([serialize_hex(&other)]),
                ],
            );
            assert!(
                !mempool(&chain).contains(&txid.to_string()),
                "depth {depth}: conflicted tx gone"
            );
            assert_eq!(confirmations(&chain, &txid), None);
            let height = i32::try_from(chain.height().unwrap()).unwrap();
            assert_eq!(
                next_status(&client, &watched_spk),
                vec![(other.compute_txid().to_string(), height)],
                "depth {depth}"
            );
            mine(&chain, depth);
        } else {
            // The old chain comes back and confirms it again.
            rpc(&chain, "reconsiderblock", &[json!(hashes[0])]);
            assert_eq!(chain.height().unwrap(), confirmed_at + depth - 1);
            assert!(mempool(&chain).is_empty());
            assert_eq!(confirmations(&chain, &txid), Some(u64::from(depth)));
            assert_eq!(
                next_status(&client, &watched_spk),
                vec![(txid.to_string(), i32::try_from(confirmed_at).unwrap())]
            );
        }
    }
}
