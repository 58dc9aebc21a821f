//! A block of 1,000 transactions (plus the coinbase) is built from the mempool, validated and
//! connected by the kernel. Prints how long the mempool admission and the mining call took.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // the timings on stderr are the point

mod common;

use std::time::Instant;

use bitcoin::{Amount, OutPoint, TxOut};
use common::*;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

const TXS: u32 = 1_000;

#[test]
fn block_of_1000_transactions_is_mined_and_connected() {
    let chain = TestChain::from_env_or_start().unwrap();
    let start = chain.height().unwrap();
    mine(&chain, 101);
    let (coin, txout) = coinbase_coin(&chain, start + 1);
    let each = Amount::from_sat((txout.value.to_sat() - 200_000) / u64::from(TXS));
    let fan = spend_anyone(
        &[coin],
        (0..TXS)
            .map(|_| TxOut {
                value: each,
                script_pubkey: anyone_address().script_pubkey(),
            })
            .collect(),
    );
    let fan_id = send(&chain, &fan).unwrap();
    mine(&chain, 1);

    let t = Instant::now();
    for i in 0..TXS {
        let tx = spend_anyone(
            &[OutPoint::new(fan_id, i)],
            vec![TxOut {
                value: each - Amount::from_sat(500),
                script_pubkey: anyone_address().script_pubkey(),
            }],
        );
        send(&chain, &tx).unwrap();
    }
    let admitted = t.elapsed();
    assert_eq!(mempool(&chain).len(), 1_000);

    let t = Instant::now();
    let hash = mine(&chain, 1).remove(0);
    let mined = t.elapsed();
    let block = rpc(&chain, "getblock", &[json!(hash), json!(1)]);
    assert_eq!(block["nTx"], json!(1_001));
    assert_eq!(block["confirmations"], json!(1));
    assert!(mempool(&chain).is_empty());
    eprintln!(
        "1,000 txs: mempool admission {:.0} ms ({:.2} ms/tx over RPC); generatetoaddress of the \
         1,001-tx block ({} bytes, {} WU) {:.0} ms",
        admitted.as_secs_f64() * 1e3,
        admitted.as_secs_f64() * 1e3 / f64::from(TXS),
        block["size"],
        block["weight"],
        mined.as_secs_f64() * 1e3
    );
}
