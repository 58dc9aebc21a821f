//! RevealSecret for an ETH -> BTC swap over the relayer's real public socket, with real
//! Postgres: the maker's pre-signed claim ladder is checked against the swap's dst HTLC (the
//! outpoint and value the watcher reported, the script of the matched terms) before anything is
//! written. A valid ladder is accepted and stored as sent; a tampered rung, a rung signed by
//! another key, a ladder for another outpoint or another amount, an empty ladder, bytes that are
//! no transaction, rungs paying different scripts, a top rung below the fee policy and a
//! non-standard destination are each refused with INVALID_ARGUMENT naming `signed_claims`, and
//! every table (and every swap's version) is as it was. Before both locks are final the reveal
//! is refused as before, with FAILED_PRECONDITION, and nothing is written either.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/regtest.rs"]
mod regtest;

use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::{Amount as BtcAmount, FeeRate, OutPoint, ScriptBuf, Transaction};
use common::*;
use crosslock_btc::claim::{ClaimLadder, sign_ladder};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::HtlcUtxo;
use crosslock_btc::types::Sats;
use crosslock_core::amount::Amount;
use crosslock_core::chain::{Chain, LockId, TxId};
use crosslock_core::finality::Depth;
use crosslock_core::secret::Secret;
use crosslock_core::swap::SecretSource;
use crosslock_proto::public::v1 as pb;
use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::Store;
use regtest::{MAKER_KEY, RESOLVER_KEY, pubkey, sk};
use tonic::Code;
use tonic::transport::Channel;

fn rate(sat_vb: u32) -> FeeRate {
    FeeRate::from_sat_per_vb_u32(sat_vb)
}

/// A P2WSH destination of the maker's (any standard script will do).
fn maker_dest(n: u8) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x51, n]).wscript_hash())
}

fn raw(txs: &[Transaction]) -> Vec<Vec<u8>> {
    txs.iter().map(bitcoin::consensus::serialize).collect()
}

/// Sign a ladder for `signed_for` (which may differ from the real HTLC) and complete it with the
/// real HTLC's witness script, as a confused or malicious client might.
fn ladder_for(
    signed_for: &HtlcUtxo,
    real: &HtlcUtxo,
    dest: &ScriptBuf,
    rates: &[FeeRate],
    key: &SecretKey,
    secret: &Secret,
) -> Vec<Vec<u8>> {
    let ladder: ClaimLadder = sign_ladder(signed_for, dest, rates, key).unwrap();
    let done: Vec<Transaction> = ladder
        .rungs
        .iter()
        .map(|r| r.complete(real, secret).unwrap())
        .collect();
    raw(&done)
}

struct World {
    relayer: Relayer,
    store: Store,
    public: SwapServiceClient<Channel>,
    swap: pb::Swap,
    secret: Secret,
    utxo: HtlcUtxo,
    _db: TestDb,
}

/// An ETH -> BTC swap whose keys are real curve points, matched through the sockets, with its
/// src escrow lock final and (unless `dst` is false) its BTC dst HTLC seen at six
/// confirmations.
async fn world(dst: bool) -> World {
    let db = TestDb::new().await;
    let config = test_config(&db.url, &redis_url());
    let replica = config.replica.clone();
    let relayer = Relayer::start(config).await;
    let store = db.store().await;
    set_heads(&store, &replica, 1_000).await;
    let engine = Engine::new(store.clone(), Cache::disabled(), &replica);
    let mut b = [0_u8; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    let secret = Secret::new(b);
    let parties = Parties {
        maker_btc: pubkey(MAKER_KEY),
        resolver_btc: pubkey(RESOLVER_KEY),
        ..Parties::default()
    };
    let matched = eth_to_btc_src_locked(&relayer, &engine, &secret, &parties, 7, 101).await;
    let htlc = matched.bitcoin.clone().expect("bitcoin terms");
    let params =
        HtlcParams::from_witness_script(&ScriptBuf::from_bytes(htlc.witness_script)).unwrap();
    let sats: u64 = htlc.amount.parse().unwrap();
    let lock = LockId::BtcOutpoint {
        txid: TxId([0x5e; 32]),
        vout: 1,
    };
    if dst {
        observe(
            &engine,
            Chain::Bitcoin,
            1_001,
            vec![lock_seen(
                secret.hashlock().0,
                lock,
                Amount::Btc(crosslock_core::amount::Sats(sats)),
                Depth::Btc(6),
            )],
        )
        .await;
    }
    let swap = store
        .view(crosslock_relayer::api::parse_swap_id("swap_id", &matched.swap_id).unwrap())
        .await
        .unwrap();
    let want = if dst {
        pb::SwapState::DstLocked
    } else {
        pb::SwapState::SrcLocked
    };
    assert_eq!(swap.state, i32::from(want), "{swap:?}");
    let utxo = HtlcUtxo {
        outpoint: crosslock_btc::types::outpoint(&lock).unwrap(),
        amount: Sats(sats),
        params,
    };
    World {
        public: SwapServiceClient::new(channel(relayer.url_public()).await),
        relayer,
        store,
        swap,
        secret,
        utxo,
        _db: db,
    }
}

impl World {
    fn reveal(&self, claims: Vec<Vec<u8>>) -> pb::RevealSecretRequest {
        pb::RevealSecretRequest {
            swap_id: self.swap.swap_id.clone(),
            secret: self.secret.expose().to_vec(),
            signed_claims: claims,
        }
    }

    /// A good ladder at `rates` to `dest`.
    fn good(&self, dest: &ScriptBuf, rates: &[FeeRate]) -> Vec<Vec<u8>> {
        ladder_for(
            &self.utxo,
            &self.utxo,
            dest,
            rates,
            &sk(MAKER_KEY),
            &self.secret,
        )
    }

    /// The call is refused with `code`, its message starting with `field` and containing
    /// `says`, and no table changed.
    async fn refused(&mut self, what: &str, claims: Vec<Vec<u8>>, code: Code, says: &str) {
        let before = table_counts(&self.store).await;
        let e = self
            .public
            .reveal_secret(self.reveal(claims))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{what}: {e:?}");
        if code == Code::InvalidArgument {
            assert!(
                e.message().starts_with("signed_claims"),
                "{what}: message {:?} must name signed_claims",
                e.message()
            );
        }
        assert!(
            e.message().contains(says),
            "{what}: message {:?} must say {says:?}",
            e.message()
        );
        assert_eq!(
            table_counts(&self.store).await,
            before,
            "{what} wrote something"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_ladder_is_refused_field_by_field_and_a_good_one_is_stored_as_sent() {
    let mut w = world(true).await;
    let dest = maker_dest(9);
    let rates = [rate(2), rate(10)];
    let good = w.good(&dest, &rates);

    // A rung changed after signing: one satoshi less to the maker.
    let mut tx: Transaction = bitcoin::consensus::deserialize(&good[1]).unwrap();
    tx.output[0].value -= BtcAmount::from_sat(1);
    let tampered = vec![good[0].clone(), bitcoin::consensus::serialize(&tx)];
    w.refused(
        "tampered rung",
        tampered,
        Code::InvalidArgument,
        "rung 1: signature",
    )
    .await;

    // Signed by a key that is not the HTLC's claim key.
    let other_key = HtlcUtxo {
        params: HtlcParams::new(
            w.utxo.params.hashlock(),
            PublicKey::from_slice(&pubkey(7)).unwrap(),
            w.utxo.params.refund_pubkey(),
            w.utxo.params.timeout(),
        )
        .unwrap(),
        ..w.utxo
    };
    let wrong_key = ladder_for(&other_key, &w.utxo, &dest, &rates, &sk(7), &w.secret);
    w.refused(
        "wrong key",
        wrong_key,
        Code::InvalidArgument,
        "rung 0: signature",
    )
    .await;

    // A ladder for another outpoint (the same transaction, output 0).
    let elsewhere = HtlcUtxo {
        outpoint: OutPoint {
            vout: 0,
            ..w.utxo.outpoint
        },
        ..w.utxo
    };
    let wrong_outpoint = ladder_for(
        &elsewhere,
        &elsewhere,
        &dest,
        &rates,
        &sk(MAKER_KEY),
        &w.secret,
    );
    w.refused(
        "wrong outpoint",
        wrong_outpoint,
        Code::InvalidArgument,
        "rung 0: does not spend the HTLC outpoint",
    )
    .await;

    // Signed for another amount than the HTLC holds: the signature commits to it.
    let smaller = HtlcUtxo {
        amount: Sats(w.utxo.amount.0 - 5_000),
        ..w.utxo
    };
    let wrong_amount = ladder_for(&smaller, &w.utxo, &dest, &rates, &sk(MAKER_KEY), &w.secret);
    w.refused(
        "wrong amount",
        wrong_amount,
        Code::InvalidArgument,
        "rung 0",
    )
    .await;
    // And for more than it holds: the output exceeds the HTLC.
    let larger = HtlcUtxo {
        amount: Sats(w.utxo.amount.0 + 5_000),
        ..w.utxo
    };
    let too_much = ladder_for(&larger, &w.utxo, &dest, &rates, &sk(MAKER_KEY), &w.secret);
    w.refused(
        "amount too large",
        too_much,
        Code::InvalidArgument,
        "rung 0",
    )
    .await;

    // No ladder at all: an ETH -> BTC reveal must carry one.
    w.refused(
        "empty ladder",
        vec![],
        Code::InvalidArgument,
        "signed claims",
    )
    .await;

    // Bytes that are no transaction.
    w.refused(
        "garbage",
        vec![good[0].clone(), vec![0xde, 0xad, 0xbe, 0xef]],
        Code::InvalidArgument,
        "rung 1: does not decode",
    )
    .await;

    // Rungs paying different scripts: the destination is the first rung's, in every rung.
    let other_dest = w.good(&maker_dest(8), &rates);
    w.refused(
        "mixed destinations",
        vec![good[0].clone(), other_dest[1].clone()],
        Code::InvalidArgument,
        "rung 1: output does not pay the maker's address",
    )
    .await;

    // A top rung too cheap to outbid a fee rise (the default policy wants 10 sat/vB).
    let cheap = w.good(&dest, &[rate(1), rate(3)]);
    w.refused(
        "cheap top rung",
        cheap,
        Code::InvalidArgument,
        "rung 1: fee rate",
    )
    .await;

    // A destination no node would relay a payment to.
    let bare = w.good(&ScriptBuf::from_bytes(vec![0x51]), &rates);
    w.refused(
        "non-standard destination",
        bare,
        Code::InvalidArgument,
        "standard address",
    )
    .await;

    // The good ladder: accepted, and stored exactly as sent with the secret.
    let version = w.swap.version;
    let r = w
        .public
        .reveal_secret(w.reveal(good.clone()))
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(r.state, i32::from(pb::SwapState::SecretRevealed), "{r:?}");
    assert!(r.version > version);
    let id = crosslock_relayer::api::parse_swap_id("swap_id", &w.swap.swap_id).unwrap();
    let loaded = w.store.load(id).await.unwrap();
    match loaded.swap.secret.map(|k| k.source) {
        Some(SecretSource::Maker {
            maker_claim: Some(c),
        }) => assert_eq!(c.fee_ladder, good),
        other => panic!("ladder not stored: {other:?}"),
    }
    assert_eq!(w.store.secret(id).await.unwrap(), Some(w.secret.clone()));
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE swap_id = $1 AND kind = 'BroadcastMakerClaim'",
    )
    .bind(id.0.to_vec())
    .fetch_one(w.store.pool())
    .await
    .unwrap();
    assert_eq!(rows, 1, "one broadcast row for the dispatcher");
    w.relayer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn before_the_dst_lock_is_final_a_reveal_with_a_ladder_is_refused_as_before() {
    let mut w = world(false).await;
    let dest = maker_dest(9);
    let good = w.good(&dest, &[rate(2), rate(10)]);
    w.refused(
        "dst not locked",
        good,
        Code::FailedPrecondition,
        "not final",
    )
    .await;
    w.relayer.stop().await;
}
