//! A relayer watching btc-regtest (in-process, or the chain `TestChain` finds in the
//! environment) through Electrum, with one spendable coin, and the steps that bring a swap's
//! Bitcoin HTLC on chain: funding it from the coin, mining, and an ETH -> BTC swap at
//! `DstLocked` with a real dst HTLC whose claim key the test holds. Needs `mod common;` beside it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{Address, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::HtlcUtxo;
use crosslock_core::secret::Secret;
use crosslock_proto::public::v1 as pb;
use crosslock_regtest::testing::TestChain;
use crosslock_relayer::config::Config;
use crosslock_relayer::store::Store;
use serde_json::json;

use crate::common::{Parties, Relayer, TestDb, matched_order, redis_url, set_heads, test_config};

/// The maker's key in these tests (claims in ETH -> BTC, refunds in BTC -> ETH).
pub const MAKER_KEY: u8 = 1;
/// The resolver's key.
pub const RESOLVER_KEY: u8 = 2;

pub fn sk(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).unwrap()
}

pub fn pubkey(n: u8) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &sk(n)).serialize()
}

pub fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// An anyone-can-spend P2WSH script: where test coins and claims go.
pub fn op_true_dest() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&op_true().wscript_hash())
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

/// A regtest chain with one spendable coin, and a relayer watching it through Electrum.
pub struct World {
    pub chain: TestChain,
    pub coin: (OutPoint, Amount),
    pub store: Store,
    pub relayer: Relayer,
    pub config: Config,
    pub db: TestDb,
}

impl World {
    pub async fn start() -> World {
        World::start_with(|_| {}).await
    }

    /// Start with the test's changes to the relayer's config.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> World {
        let chain = tokio::task::spawn_blocking(|| TestChain::from_env_or_start().unwrap())
            .await
            .unwrap();
        let coin = coin(&chain);
        let db = TestDb::new().await;
        let mut config = test_config(&db.url, &redis_url());
        config.chains.electrum_url = chain.electrum_url.clone();
        config.chains.btc_poll_ms = 100;
        tweak(&mut config);
        let store = db.store().await;
        set_heads(&store, &config.replica, u64::from(chain.height().unwrap())).await;
        let relayer = Relayer::start(config.clone()).await;
        World {
            chain,
            coin,
            store,
            relayer,
            config,
            db,
        }
    }
}

/// A matched order whose BTC keys are real curve points: the maker's ([`MAKER_KEY`]) and the
/// resolver's ([`RESOLVER_KEY`]).
pub async fn relayer_order(
    relayer: &Relayer,
    direction: pb::Direction,
    amount: &str,
    secret: &Secret,
) -> pb::Swap {
    let parties = Parties {
        maker_btc: pubkey(MAKER_KEY),
        resolver_btc: pubkey(RESOLVER_KEY),
        ..Parties::default()
    };
    matched_order(relayer, direction, amount, secret.hashlock().0, &parties)
        .await
        .1
}

/// Pays `sats` from `coin` to the HTLC of `params`, through Core's RPC; returns the outpoint.
pub fn fund(
    chain: &TestChain,
    coin: OutPoint,
    value: Amount,
    params: &HtlcParams,
    sats: u64,
) -> OutPoint {
    let tx = Transaction {
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
                value: Amount::from_sat(sats),
                script_pubkey: params.script_pubkey(),
            },
            TxOut {
                value: value - Amount::from_sat(sats + 2_000),
                script_pubkey: op_true_dest(),
            },
        ],
    };
    chain
        .call("sendrawtransaction", &[json!(serialize_hex(&tx))])
        .unwrap();
    OutPoint::new(tx.compute_txid(), 0)
}

pub fn mine(chain: &TestChain, n: u32) {
    let to = Address::p2wsh(&op_true(), bitcoin::Network::Regtest).to_string();
    chain.mine(n, &to).unwrap();
}

pub async fn wait_state(store: &Store, id: &str, want: pb::SwapState) {
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

pub fn in_mempool(chain: &TestChain, txid: &bitcoin::Txid) -> bool {
    let v = chain.call("getrawmempool", &[]).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .any(|t| t.as_str() == Some(&txid.to_string()))
}

/// An ETH -> BTC swap of one ETH at `DstLocked`: its src escrow lock reported final through
/// the watcher path, its dst HTLC funded from the world's coin on regtest and seen by the
/// relayer's Bitcoin adapter at one confirmation. Returns the swap and the HTLC.
pub async fn eth_to_btc_at_dst_locked(w: &World, secret: &Secret) -> (pb::Swap, HtlcUtxo) {
    use crosslock_relayer::cache::Cache;
    use crosslock_relayer::engine::Engine;

    // The src escrow lock, final (the Ethereum leg is another test file's subject).
    let engine = Engine::new(w.store.clone(), Cache::disabled(), &w.config.replica);
    let parties = Parties {
        maker_btc: pubkey(MAKER_KEY),
        resolver_btc: pubkey(RESOLVER_KEY),
        ..Parties::default()
    };
    let swap =
        crate::common::eth_to_btc_src_locked(&w.relayer, &engine, secret, &parties, 9, 200).await;
    wait_state(&w.store, &swap.swap_id, pb::SwapState::SrcLocked).await;
    // The resolver funds the dst HTLC on regtest; the relayer's Bitcoin adapter sees it.
    let htlc = swap.bitcoin.clone().unwrap();
    let params =
        HtlcParams::from_witness_script(&ScriptBuf::from_bytes(htlc.witness_script)).unwrap();
    let sats: u64 = htlc.amount.parse().unwrap();
    let (coin, value) = w.coin;
    let outpoint = fund(&w.chain, coin, value, &params, sats);
    mine(&w.chain, 1);
    wait_state(&w.store, &swap.swap_id, pb::SwapState::DstLocked).await;
    let utxo = HtlcUtxo {
        outpoint,
        amount: crosslock_btc::types::Sats(sats),
        params,
    };
    (swap, utxo)
}
