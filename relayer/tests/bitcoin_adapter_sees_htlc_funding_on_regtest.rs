//! The Bitcoin adapter inside a running relayer, against btc-regtest (in-process) and real
//! Postgres: a swap matched after start is picked up from the update stream, its deposit
//! address and witness script are in the swap record, and funding that address moves the swap
//! to `SrcLockSeen` (mempool) and `SrcLocked` (one confirmation).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{Address, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use common::*;
use crosslock_btc::htlc::HtlcParams;
use crosslock_core::secret::Secret;
use crosslock_proto::public::v1 as pb;
use crosslock_regtest::testing::TestChain;
use serde_json::json;

fn pubkey(n: u8) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
        .serialize()
}

fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// A mature anyone-can-spend coinbase output.
fn coin(chain: &TestChain) -> (OutPoint, Amount) {
    let start = chain.height().unwrap();
    let to = Address::p2wsh(&op_true(), bitcoin::Network::Regtest).to_string();
    chain.mine(101, &to).unwrap();
    let hash = chain.call("getblockhash", &[json!(start + 1)]).unwrap();
    let raw = chain.call("getblock", &[hash, json!(0)]).unwrap();
    let block: bitcoin::Block = deserialize_hex(raw.as_str().unwrap()).unwrap();
    let cb = &block.txdata[0];
    (OutPoint::new(cb.compute_txid(), 0), cb.output[0].value)
}

async fn wait_state(store: &crosslock_relayer::store::Store, id: &str, want: pb::SwapState) {
    let id = crosslock_relayer::api::parse_swap_id("swap_id", id).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let mut now = pb::SwapState::Unspecified;
    while Instant::now() < end {
        now = pb::SwapState::try_from(store.view(id).await.unwrap().state).unwrap();
        if now == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("swap never reached {want:?}, is {now:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn funding_the_deposit_address_moves_the_swap_to_src_locked() {
    let chain = tokio::task::spawn_blocking(|| TestChain::from_env_or_start().unwrap())
        .await
        .unwrap();
    let (coin, value) = coin(&chain);

    let db = TestDb::new().await;
    let mut config = test_config(&db.url, &redis_url());
    config.chains.electrum_url = chain.electrum_url.clone();
    config.chains.btc_poll_ms = 100;
    let replica = config.replica.clone();
    let store = db.store().await;
    set_heads(&store, &replica, u64::from(chain.height().unwrap())).await;
    let relayer = Relayer::start(config).await;

    let secret = Secret::new([0x3c; 32]);
    let parties = Parties {
        maker_btc: pubkey(1),
        resolver_btc: pubkey(2),
        ..Parties::default()
    };
    let (_, swap) = matched_order(
        &relayer,
        pb::Direction::BtcToEth,
        "1000000",
        secret.hashlock().0,
        &parties,
    )
    .await;
    let htlc = swap.bitcoin.clone().expect("bitcoin terms");
    let params = HtlcParams::from_witness_script(&ScriptBuf::from_bytes(htlc.witness_script))
        .expect("the record's witness script is the HTLC");
    assert_eq!(
        htlc.address,
        params.address(bitcoin::Network::Regtest).to_string()
    );

    let fund = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: coin,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[op_true().as_bytes()]),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(1_000_000),
                script_pubkey: params.script_pubkey(),
            },
            TxOut {
                value: value - Amount::from_sat(1_002_000),
                script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
            },
        ],
    };
    chain
        .call("sendrawtransaction", &[json!(serialize_hex(&fund))])
        .unwrap();
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLockSeen).await;
    let to = Address::p2wsh(&op_true(), bitcoin::Network::Regtest).to_string();
    chain.mine(1, &to).unwrap();
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLocked).await;
    relayer.stop().await;
}
