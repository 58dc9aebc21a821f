//! A CLTV refund one block early is refused with Core's "non-final" (-26), accepted and mined at
//! its height; a CSV (BIP68) spend likewise with "non-BIP68-final". Scripts are checked by Core's
//! interpreter: a refund whose nLockTime is below the script's CLTV height fails the script.
#![allow(clippy::unwrap_used)]

mod common;

use bitcoin::blockdata::script::Builder;
use bitcoin::opcodes::all::{OP_CHECKSIG, OP_CLTV, OP_CSV, OP_DROP};
use bitcoin::{Amount, OutPoint, Sequence, TxOut, absolute, transaction};
use common::*;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

fn fund(
    chain: &TestChain,
    coinbase_height: u32,
    script: &bitcoin::ScriptBuf,
) -> (OutPoint, Amount) {
    let (coin, txout) = coinbase_coin(chain, coinbase_height);
    let value = txout.value - Amount::from_sat(10_000);
    let tx = spend_anyone(
        &[coin],
        vec![TxOut {
            value,
            script_pubkey: p2wsh_address(script).script_pubkey(),
        }],
    );
    let txid = send(chain, &tx).unwrap();
    mine(chain, 1);
    assert_eq!(confirmations(chain, &txid), Some(1));
    (OutPoint::new(txid, 0), value)
}

#[test]
fn cltv_refund_is_non_final_one_block_early_then_accepted_and_mined() {
    let chain = TestChain::from_env_or_start().unwrap();
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (sk, pk) = key(1);
    let timeout = chain.height().unwrap() + 4;
    let script = Builder::new()
        .push_int(i64::from(timeout))
        .push_opcode(OP_CLTV)
        .push_opcode(OP_DROP)
        .push_key(&pk)
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let (htlc, value) = fund(&chain, start + 1, &script);

    let refund = |lock: u32| {
        let mut tx = bitcoin::Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::from_height(lock).unwrap(),
            input: vec![bitcoin::TxIn {
                previous_output: htlc,
                sequence: Sequence::ENABLE_LOCKTIME_NO_RBF,
                ..Default::default()
            }],
            output: vec![TxOut {
                value: value - Amount::from_sat(1_000),
                script_pubkey: anyone_address().script_pubkey(),
            }],
        };
        sign_p2wsh(&mut tx, 0, &script, value, &sk, &[]);
        tx
    };

    // Mine up to one block before the timeout: the next block would be at `timeout`, which
    // nLockTime = timeout does not allow yet.
    let now = chain.height().unwrap();
    mine(&chain, timeout - 1 - now);
    assert_eq!(chain.height().unwrap(), timeout - 1);
    let early = refund(timeout);
    let err = send(&chain, &early).unwrap_err();
    assert_eq!(err.code(), Some(-26), "{err}");
    assert!(err.to_string().contains("non-final"), "{err}");
    let tma = rpc(
        &chain,
        "testmempoolaccept",
        &[json!([bitcoin::consensus::encode::serialize_hex(&early)])],
    );
    assert_eq!(tma[0]["allowed"], json!(false));
    assert_eq!(tma[0]["reject-reason"], json!("non-final"));

    // A lower nLockTime is final, but Core's interpreter refuses the CLTV in the script.
    let cheat = refund(timeout - 1);
    let err = send(&chain, &cheat).unwrap_err();
    assert_eq!(err.code(), Some(-26), "{err}");
    assert!(
        err.to_string().contains("script-verify-flag-failed"),
        "{err}"
    );

    mine(&chain, 1);
    assert_eq!(chain.height().unwrap(), timeout);
    let txid = send(&chain, &early).unwrap();
    assert!(mempool(&chain).contains(&txid.to_string()));
    mine(&chain, 1);
    assert_eq!(confirmations(&chain, &txid), Some(1));
}

#[test]
fn csv_spend_is_non_bip68_final_one_block_early_then_accepted_and_mined() {
    let chain = TestChain::from_env_or_start().unwrap();
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (sk, pk) = key(2);
    let delay: u16 = 3;
    let script = Builder::new()
        .push_int(i64::from(delay))
        .push_opcode(OP_CSV)
        .push_opcode(OP_DROP)
        .push_key(&pk)
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let (coin, value) = fund(&chain, start + 1, &script);
    let confirmed_at = chain.height().unwrap();

    let mut tx = bitcoin::Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: coin,
            sequence: Sequence::from_height(delay),
            ..Default::default()
        }],
        output: vec![TxOut {
            value: value - Amount::from_sat(1_000),
            script_pubkey: anyone_address().script_pubkey(),
        }],
    };
    sign_p2wsh(&mut tx, 0, &script, value, &sk, &[]);

    // The coin has 1 confirmation; a block at confirmed_at + delay is the first allowed.
    mine(&chain, u32::from(delay) - 2);
    assert_eq!(chain.height().unwrap(), confirmed_at + u32::from(delay) - 2);
    let err = send(&chain, &tx).unwrap_err();
    assert_eq!(err.code(), Some(-26), "{err}");
    assert!(err.to_string().contains("non-BIP68-final"), "{err}");

    mine(&chain, 1);
    let txid = send(&chain, &tx).unwrap();
    mine(&chain, 1);
    assert_eq!(confirmations(&chain, &txid), Some(1));
}
