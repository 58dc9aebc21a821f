//! The Electrum methods a wallet uses, on a real socket: server info, headers with
//! notifications, script-hash history with the protocol's mempool heights (0, and -1 for an
//! unconfirmed parent), status hashes, balance, unspent, merkle proofs, fees and batches; and the
//! shapes of Core's RPC results that scripts read.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bdk_electrum::electrum_client::{self, ElectrumApi as _, Param};
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::{Hash as _, sha256, sha256d};
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut};
use common::*;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

#[test]
fn electrum_methods_and_notifications_follow_protocol_1_4() {
    let chain = TestChain::from_env_or_start().unwrap();
    let client = electrum_client::Client::new(&chain.electrum_url).unwrap();

    let version = client
        .raw_call(
            "server.version",
            [Param::String("test".into()), Param::String("1.4".into())],
        )
        .unwrap();
    assert_eq!(version[1], json!("1.4"));
    let features = client.server_features().unwrap();
    // Sent in display order, as servers do.
    assert_eq!(hex::encode(features.genesis_hash), block_hash_at(&chain, 0));
    client.ping().unwrap();
    assert!(client.raw_call("server.banner", []).unwrap().is_string());
    assert!(
        client
            .raw_call("server.donation_address", [])
            .unwrap()
            .is_string()
    );
    assert!(
        client
            .raw_call("server.peers.subscribe", [])
            .unwrap()
            .is_array()
    );

    let start = chain.height().unwrap();
    mine(&chain, 101);
    let tip = client.block_headers_subscribe().unwrap();
    assert_eq!(tip.height, usize::try_from(start + 101).unwrap());
    mine(&chain, 1);
    let note = TestChain::wait_for(Duration::from_secs(10), || {
        client.ping().unwrap();
        client.block_headers_pop().unwrap()
    })
    .expect("a header notification");
    assert_eq!(note.height, tip.height + 1);
    assert_eq!(
        note.header.block_hash().to_string(),
        block_hash_at(&chain, start + 102)
    );
    let headers = client.block_headers(0, 3).unwrap();
    assert_eq!(headers.headers.len(), 3);
    assert_eq!(client.block_header(1).unwrap(), headers.headers[1]);

    // A confirmed payment, a mempool spend of it, and a mempool grandchild: heights h, 0, -1.
    let witness_script = unique_script();
    let watched = p2wsh_address(&witness_script).script_pubkey();
    let (coin, txout) = coinbase_coin(&chain, start + 1);
    let a = spend_anyone(
        &[coin],
        vec![TxOut {
            value: txout.value - Amount::from_sat(1_000),
            script_pubkey: op_true_spk(),
        }],
    );
    let a_id = send(&chain, &a).unwrap();
    mine(&chain, 1);
    let a_height = chain.height().unwrap();
    let b = spend_anyone(
        &[OutPoint::new(a_id, 0)],
        vec![TxOut {
            value: a.output[0].value - Amount::from_sat(1_000),
            script_pubkey: watched.clone(),
        }],
    );
    let b_id = send(&chain, &b).unwrap();
    let c = spend_anyone_from(&b, &witness_script, &watched, 2_000);
    let c_id = send(&chain, &c).unwrap();

    let history = client.script_get_history(&watched).unwrap();
    let got: Vec<(String, i32)> = history
        .iter()
        .map(|h| (h.tx_hash.to_string(), h.height))
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&(b_id.to_string(), 0)), "{got:?}");
    assert!(got.contains(&(c_id.to_string(), -1)), "{got:?}");
    assert!(
        history.iter().all(|h| h.fee.is_some()),
        "mempool entries carry their fee"
    );
    let mempool_entries = client
        .raw_call(
            "blockchain.scripthash.get_mempool",
            [Param::String(scripthash_hex(&watched))],
        )
        .unwrap();
    assert_eq!(mempool_entries.as_array().unwrap().len(), 2);

    // Status: sha256 of "txid:height:" over the history, in the server's order.
    let concat: String = got.iter().map(|(t, h)| format!("{t}:{h}:")).collect();
    let expected = sha256::Hash::hash(concat.as_bytes()).to_byte_array();
    let status = client.script_subscribe(&watched).unwrap().unwrap();
    assert_eq!(*status, expected);

    let balance = client.script_get_balance(&watched).unwrap();
    assert_eq!(balance.confirmed, 0);
    assert_eq!(
        balance.unconfirmed,
        i64::try_from(c.output[0].value.to_sat()).unwrap()
    );
    let unspent = client.script_list_unspent(&watched).unwrap();
    assert_eq!(unspent.len(), 1);
    assert_eq!((unspent[0].tx_hash, unspent[0].height), (c_id, 0));

    // Confirming both notifies the subscriber and gives B and C real heights.
    mine(&chain, 1);
    TestChain::wait_for(Duration::from_secs(10), || {
        client.ping().unwrap();
        client.script_pop(&watched).unwrap()
    })
    .expect("a status notification");
    let heights: Vec<i32> = client
        .script_get_history(&watched)
        .unwrap()
        .iter()
        .map(|h| h.height)
        .collect();
    let now = i32::try_from(chain.height().unwrap()).unwrap();
    assert_eq!(heights, vec![now, now]);

    // Merkle proof of A against the header's merkle root.
    let proof = client
        .transaction_get_merkle(&a_id, usize::try_from(a_height).unwrap())
        .unwrap();
    let mut node = a_id.to_raw_hash();
    let mut pos = proof.pos;
    for sibling in &proof.merkle {
        let mut s = *sibling;
        s.reverse();
        let sib = sha256d::Hash::from_byte_array(s);
        let (l, r) = if pos % 2 == 0 {
            (node, sib)
        } else {
            (sib, node)
        };
        node = sha256d::Hash::hash(
            &[l.as_byte_array().as_slice(), r.as_byte_array().as_slice()].concat(),
        );
        pos /= 2;
    }
    let header = client
        .block_header(usize::try_from(a_height).unwrap())
        .unwrap();
    assert_eq!(node, header.merkle_root.to_raw_hash());

    assert_eq!(client.transaction_get_raw(&a_id).unwrap(), serialize(&a));
    let verbose = client
        .raw_call(
            "blockchain.transaction.get",
            [Param::String(a_id.to_string()), Param::Bool(true)],
        )
        .unwrap();
    assert_eq!(verbose["txid"], json!(a_id.to_string()));
    assert!(verbose["confirmations"].as_u64().unwrap() >= 2);

    assert!(client.relay_fee().unwrap() > 0.0);
    assert!(client.estimate_fee(6, None).unwrap() != 0.0);
    assert!(
        client
            .raw_call("mempool.get_fee_histogram", [])
            .unwrap()
            .is_array()
    );
    let batch = client
        .batch_script_get_balance([watched.as_script(), op_true_spk().as_script()])
        .unwrap();
    assert_eq!(batch.len(), 2);
}

#[test]
fn rpc_results_have_cores_shapes() {
    let chain = TestChain::from_env_or_start().unwrap();
    mine(&chain, 101);
    let info = rpc(&chain, "getblockchaininfo", &[]);
    assert_eq!(info["chain"], json!("regtest"));
    assert_eq!(info["blocks"], json!(chain.height().unwrap()));
    let best = rpc(&chain, "getbestblockhash", &[]);
    assert_eq!(info["bestblockhash"], best);
    let header = rpc(&chain, "getblockheader", std::slice::from_ref(&best));
    assert_eq!(header["height"], info["blocks"]);
    assert_eq!(header["confirmations"], json!(1));
    assert!(header["previousblockhash"].is_string());
    let block = rpc(&chain, "getblock", &[best.clone(), json!(2)]);
    assert!(block["tx"][0]["vin"][0]["coinbase"].is_string());
    assert!(block["tx"][0]["vout"][0]["value"].as_f64().unwrap() > 0.0);
    let raw = rpc(&chain, "getblock", &[best.clone(), json!(0)]);
    assert!(raw.as_str().unwrap().len() > 160);
    let err = chain.call("getblockhash", &[json!(1_000_000)]).unwrap_err();
    assert_eq!(err.code(), Some(-8));
    let err = chain
        .call("getrawtransaction", &[json!("00".repeat(32))])
        .unwrap_err();
    assert_eq!(err.code(), Some(-5));
    let err = chain
        .call("generatetoaddress", &[json!(1), json!("not-an-address")])
        .unwrap_err();
    assert_eq!(err.code(), Some(-5));

    let (coin, txout) = coinbase_coin(&chain, chain.height().unwrap() - 100);
    let tx = spend_anyone(
        &[coin],
        vec![TxOut {
            value: txout.value - Amount::from_sat(2_000),
            script_pubkey: op_true_spk(),
        }],
    );
    let tma = rpc(
        &chain,
        "testmempoolaccept",
        &[json!([bitcoin::consensus::encode::serialize_hex(&tx)])],
    );
    assert_eq!(tma[0]["allowed"], json!(true));
    assert_eq!(tma[0]["fees"]["base"], json!(0.00002));
    let txid = send(&chain, &tx).unwrap();
    let entry = rpc(&chain, "getmempoolentry", &[json!(txid.to_string())]);
    assert_eq!(entry["fees"]["base"], json!(0.00002));
    assert_eq!(entry["vsize"], tma[0]["vsize"]);
    let verbose_pool = rpc(&chain, "getrawmempool", &[json!(true)]);
    assert!(verbose_pool[txid.to_string()].is_object());
    // Core on a quiet regtest may have no estimate; btc-regtest always answers with a rate.
    let fee = rpc(&chain, "estimatesmartfee", &[json!(6)]);
    assert!(fee["feerate"].is_number() || fee["errors"].is_array());
    let mined = rpc(
        &chain,
        "generateblock",
        &[
            json!(anyone_address().to_string()),
            json!([txid.to_string()]),
        ],
    );
    let block = rpc(&chain, "getblock", &[mined["hash"].clone(), json!(1)]);
    assert_eq!(block["tx"][1], json!(txid.to_string()));
}

fn op_true_spk() -> ScriptBuf {
    anyone_address().script_pubkey()
}

fn scripthash_hex(spk: &ScriptBuf) -> String {
    let mut h = sha256::Hash::hash(spk.as_bytes()).to_byte_array();
    h.reverse();
    hex::encode(h)
}

/// Spends output 0 of `parent` (paying P2WSH `witness_script`) back to `to`.
fn spend_anyone_from(
    parent: &bitcoin::Transaction,
    witness_script: &ScriptBuf,
    to: &ScriptBuf,
    fee: u64,
) -> bitcoin::Transaction {
    let mut tx = spend_anyone(
        &[OutPoint::new(parent.compute_txid(), 0)],
        vec![TxOut {
            value: parent.output[0].value - Amount::from_sat(fee),
            script_pubkey: to.clone(),
        }],
    );
    let mut w = bitcoin::Witness::new();
    w.push(witness_script.as_bytes());
    tx.input[0].witness = w;
    tx
}
