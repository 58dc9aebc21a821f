//! The mempool's policy with Core's codes and reasons: replacement by fee (and the refusals
//! before it), min relay fee, coinbase maturity, missing inputs, already confirmed; and the
//! non-Core `dropmempooltx` that removes a transaction with its descendants.
#![allow(clippy::unwrap_used)]

mod common;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Amount, OutPoint, TxOut};
use common::*;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

fn pay_back(coin: OutPoint, value: Amount, fee: u64) -> bitcoin::Transaction {
    spend_anyone(
        &[coin],
        vec![TxOut {
            value: value - Amount::from_sat(fee),
            script_pubkey: anyone_address().script_pubkey(),
        }],
    )
}

fn rejected(chain: &TestChain, tx: &bitcoin::Transaction) -> (i64, String) {
    let e = send(chain, tx).unwrap_err();
    (e.code().unwrap(), e.to_string())
}

#[test]
fn replacement_needs_more_fee_and_feerate_and_pays_for_its_bandwidth() {
    let chain = TestChain::from_env_or_start().unwrap();
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (coin, txout) = coinbase_coin(&chain, start + 1);

    let a = pay_back(coin, txout.value, 1_000);
    let a_id = send(&chain, &a).unwrap();

    let same_fee = pay_back(coin, txout.value, 1_000);
    let mut same_fee = same_fee;
    same_fee.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: bitcoin::ScriptBuf::new_op_return([1u8; 4]),
    });
    let (code, msg) = rejected(&chain, &same_fee);
    assert_eq!(code, -26);
    assert!(msg.contains("insufficient fee"), "{msg}");

    let little_more = pay_back(coin, txout.value, 1_050);
    let (code, msg) = rejected(&chain, &little_more);
    assert_eq!(code, -26);
    assert!(msg.contains("insufficient fee"), "{msg}");

    let b = pay_back(coin, txout.value, 5_000);
    let b_id = send(&chain, &b).unwrap();
    let pool = mempool(&chain);
    assert!(pool.contains(&b_id.to_string()) && !pool.contains(&a_id.to_string()));

    mine(&chain, 1);
    assert_eq!(confirmations(&chain, &b_id), Some(1));
    let (code, msg) = rejected(&chain, &b);
    assert_eq!(code, -27, "{msg}");
    let (code, msg) = rejected(&chain, &a);
    assert_eq!(code, -25, "{msg}");
    assert!(msg.contains("bad-txns-inputs-missingorspent"), "{msg}");
    let tma = rpc(&chain, "testmempoolaccept", &[json!([serialize_hex(&a)])]);
    assert_eq!(tma[0]["reject-reason"], json!("missing-inputs"));
}

#[test]
fn low_fee_and_immature_coinbase_are_refused() {
    let chain = TestChain::from_env_or_start().unwrap();
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (coin, txout) = coinbase_coin(&chain, start + 1);
    let (code, msg) = rejected(&chain, &pay_back(coin, txout.value, 10));
    assert_eq!(code, -26);
    assert!(msg.contains("min relay fee not met"), "{msg}");

    let tip = chain.height().unwrap();
    let (young, young_out) = coinbase_coin(&chain, tip);
    let (code, msg) = rejected(&chain, &pay_back(young, young_out.value, 1_000));
    assert_eq!(code, -26);
    assert!(
        msg.contains("bad-txns-premature-spend-of-coinbase"),
        "{msg}"
    );
}

#[test]
fn dropmempooltx_removes_a_transaction_and_its_descendants() {
    let chain = TestChain::from_env_or_start().unwrap();
    if chain.local.is_none() {
        return; // dropmempooltx is btc-regtest's own RPC; bitcoind has no equivalent
    }
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (coin, txout) = coinbase_coin(&chain, start + 1);
    let parent = pay_back(coin, txout.value, 1_000);
    let parent_id = send(&chain, &parent).unwrap();
    let child = pay_back(OutPoint::new(parent_id, 0), parent.output[0].value, 1_000);
    let child_id = send(&chain, &child).unwrap();
    let entry = rpc(&chain, "getmempoolentry", &[json!(child_id.to_string())]);
    assert_eq!(entry["depends"], json!([parent_id.to_string()]));

    let removed = rpc(&chain, "dropmempooltx", &[json!(parent_id.to_string())]);
    assert_eq!(removed.as_array().unwrap().len(), 2);
    assert!(mempool(&chain).is_empty());
    // Nothing stops it coming back.
    send(&chain, &parent).unwrap();
}

#[test]
fn a_block_the_kernel_refuses_fails_the_mining_call_and_changes_nothing() {
    let chain = TestChain::from_env_or_start().unwrap();
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (coin, txout) = coinbase_coin(&chain, start + 1);
    // The witness does not hash to the P2WSH program: only block validation can catch it here,
    // since generateblock takes raw transactions without the mempool.
    let mut bad = pay_back(coin, txout.value, 1_000);
    bad.input[0].witness = bitcoin::Witness::from_slice(&[[0x52u8]]);
    let tip = rpc(&chain, "getbestblockhash", &[]);
    let err = chain
        .call(
            "generateblock",
            &[
                json!(anyone_address().to_string()),
                json!([serialize_hex(&bad)]),
            ],
        )
        .unwrap_err();
    assert_eq!(err.code(), Some(-25), "{err}");
    assert_eq!(rpc(&chain, "getbestblockhash", &[]), tip);
}
