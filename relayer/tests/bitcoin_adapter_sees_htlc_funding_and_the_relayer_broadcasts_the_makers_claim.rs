//! The Bitcoin adapter inside a running relayer, against btc-regtest (in-process) and real
//! Postgres: a swap matched after start is picked up from the update stream, its deposit
//! address and witness script are in the swap record, and funding that address moves the swap
//! to `SrcLockSeen` (mempool) and `SrcLocked` (one confirmation). For ETH -> BTC, the maker's
//! pre-signed claim is broadcast by the relayer's dispatcher once the reveal is committed, and
//! broadcast again harmlessly by a restarted relayer that crashed before marking it done.

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

/// A regtest chain with one spendable coin, and a relayer watching it through Electrum.
struct World {
    chain: TestChain,
    coin: (OutPoint, Amount),
    store: crosslock_relayer::store::Store,
    relayer: Relayer,
    config: crosslock_relayer::config::Config,
    _db: TestDb,
}

impl World {
    async fn start() -> World {
        let chain = tokio::task::spawn_blocking(|| TestChain::from_env_or_start().unwrap())
            .await
            .unwrap();
        let coin = coin(&chain);
        let db = TestDb::new().await;
        let mut config = test_config(&db.url, &redis_url());
        config.chains.electrum_url = chain.electrum_url.clone();
        config.chains.btc_poll_ms = 100;
        let store = db.store().await;
        set_heads(&store, &config.replica, u64::from(chain.height().unwrap())).await;
        let relayer = Relayer::start(config.clone()).await;
        World {
            chain,
            coin,
            store,
            relayer,
            config,
            _db: db,
        }
    }
}

/// A matched order whose BTC keys are real curve points: the maker's claims, the resolver's
/// refunds (key 1 and key 2).
async fn relayer_order(
    relayer: &Relayer,
    direction: pb::Direction,
    amount: &str,
    secret: &Secret,
) -> pb::Swap {
    let parties = Parties {
        maker_btc: pubkey(1),
        resolver_btc: pubkey(2),
        ..Parties::default()
    };
    matched_order(relayer, direction, amount, secret.hashlock().0, &parties)
        .await
        .1
}

/// Pays `sats` from `coin` to the HTLC of `params`, through Core's RPC; returns the outpoint.
fn fund(
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
                script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
            },
        ],
    };
    chain
        .call("sendrawtransaction", &[json!(serialize_hex(&tx))])
        .unwrap();
    OutPoint::new(tx.compute_txid(), 0)
}

fn mine(chain: &TestChain, n: u32) {
    let to = Address::p2wsh(&op_true(), bitcoin::Network::Regtest).to_string();
    chain.mine(n, &to).unwrap();
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
    let World {
        chain,
        coin: (coin, value),
        store,
        relayer,
        _db,
        ..
    } = World::start().await;
    let secret = Secret::new([0x3c; 32]);
    let swap = relayer_order(&relayer, pb::Direction::BtcToEth, "1000000", &secret).await;
    let htlc = swap.bitcoin.clone().expect("bitcoin terms");
    let params = HtlcParams::from_witness_script(&ScriptBuf::from_bytes(htlc.witness_script))
        .expect("the record's witness script is the HTLC");
    assert_eq!(
        htlc.address,
        params.address(bitcoin::Network::Regtest).to_string()
    );

    fund(&chain, coin, value, &params, 1_000_000);
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLockSeen).await;
    mine(&chain, 1);
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLocked).await;
    relayer.stop().await;
}

async fn delivered(store: &crosslock_relayer::store::Store) -> Vec<(i64, Option<i64>)> {
    sqlx::query_as(
        "SELECT id, delivered_at FROM relayer.outbox WHERE kind = 'BroadcastMakerClaim' ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

fn in_mempool(chain: &TestChain, txid: &bitcoin::Txid) -> bool {
    let v = chain.call("getrawmempool", &[]).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .any(|t| t.as_str() == Some(&txid.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_makers_presigned_claim_is_broadcast_once_and_again_harmlessly_after_a_restart() {
    use crosslock_core::amount::{Amount as CoreAmount, Wei};
    use crosslock_core::chain::Chain;
    use crosslock_core::finality::{Depth, EthDepth};
    use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;
    use crosslock_relayer::cache::Cache;
    use crosslock_relayer::engine::Engine;

    let World {
        chain,
        coin: (coin, value),
        store,
        relayer,
        config,
        _db,
    } = World::start().await;
    let replica = config.replica.clone();
    // ETH -> BTC: the maker's key claims the BTC HTLC.
    let secret = Secret::new([0x4d; 32]);
    let swap = relayer_order(
        &relayer,
        pb::Direction::EthToBtc,
        "1000000000000000000",
        &secret,
    )
    .await;
    // The src escrow lock, final (the Ethereum leg is the other test file's subject).
    let engine = Engine::new(store.clone(), Cache::disabled(), &replica);
    observe(
        &engine,
        Chain::Ethereum,
        200,
        vec![lock_seen(
            secret.hashlock().0,
            eth_lock(9),
            CoreAmount::Eth(Wei(1_000_000_000_000_000_000)),
            Depth::Eth(EthDepth::Finalized),
        )],
    )
    .await;
    wait_state(&store, &swap.swap_id, pb::SwapState::SrcLocked).await;
    // The resolver funds the dst HTLC on regtest; the relayer's Bitcoin adapter sees it.
    let htlc = swap.bitcoin.clone().unwrap();
    let params =
        HtlcParams::from_witness_script(&ScriptBuf::from_bytes(htlc.witness_script)).unwrap();
    let sats: u64 = htlc.amount.parse().unwrap();
    let outpoint = fund(&chain, coin, value, &params, sats);
    mine(&chain, 1);
    wait_state(&store, &swap.swap_id, pb::SwapState::DstLocked).await;

    // The maker reveals with a two-rung ladder claiming to its own address.
    let utxo = crosslock_btc::spend::HtlcUtxo {
        outpoint,
        amount: crosslock_btc::types::Sats(sats),
        params,
    };
    let dest = ScriptBuf::new_p2wsh(&op_true().wscript_hash());
    let ladder = crosslock_btc::claim::sign_ladder(
        &utxo,
        &dest,
        &[
            bitcoin::FeeRate::from_sat_per_vb_u32(2),
            bitcoin::FeeRate::from_sat_per_vb_u32(10),
        ],
        &SecretKey::from_slice(&[1; 32]).unwrap(),
    )
    .unwrap();
    let claims = ladder.complete_all(&utxo, &secret).unwrap();
    let mut public = SwapServiceClient::new(channel(relayer.url_public()).await);
    public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: swap.swap_id.clone(),
            secret: secret.expose().to_vec(),
            signed_claims: claims.iter().map(bitcoin::consensus::serialize).collect(),
        })
        .await
        .unwrap();

    // The lowest rung goes out once; the row is done only after Electrum took it.
    let claim0 = claims[0].compute_txid();
    let end = Instant::now() + Duration::from_secs(30);
    while !(in_mempool(&chain, &claim0) && delivered(&store).await.iter().all(|r| r.1.is_some())) {
        assert!(
            Instant::now() < end,
            "claim not broadcast: {:?}",
            delivered(&store).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = delivered(&store).await;
    assert_eq!(rows.len(), 1, "{rows:?}");

    // A crash after the broadcast and before the mark: a restarted relayer sends the same
    // bytes again, the node already has them, and the row is marked done.
    relayer.stop().await;
    sqlx::query("UPDATE relayer.outbox SET delivered_at = NULL WHERE id = $1")
        .bind(rows[0].0)
        .execute(store.pool())
        .await
        .unwrap();
    let relayer = Relayer::start(config).await;
    let end = Instant::now() + Duration::from_secs(30);
    while delivered(&store).await[0].1.is_none() {
        assert!(Instant::now() < end, "re-broadcast not marked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(in_mempool(&chain, &claim0));
    assert!(!in_mempool(&chain, &claims[1].compute_txid()));
    relayer.stop().await;
}
