//! The maker's `swapctl fund` against a real relayer that lies about a matched BTC -> ETH swap:
//! a deposit address that is not the HTLC of the swap's parameters, an HTLC whose refund key is
//! not the maker's, a hashlock that is not the maker's secret's, and (a relayer whose Bitcoin
//! head lags the chain) a timeout too close to let the swap finish. Each is refused with a
//! message naming the field, and nothing is written or sent: the state file is byte for byte
//! the same and no coin moves. An honest record funds, and losing the funding record does not
//! make a rerun pay twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use crosslock_btc::htlc::HtlcParams;
use crosslock_core::secret::Hashlock;
use crosslock_core::time::BtcHeight;
use crosslock_proto::public::v1 as pb;
use support::*;

const MAKER_ETH: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
const RESOLVER_ETH: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";

fn key(n: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
}

/// The HTLC the record describes, with `change` applied to its parameters, written back
/// consistently (address and witness script of the changed HTLC).
fn rewrite_htlc(s: &mut pb::Swap, change: impl FnOnce(&mut (Hashlock, PublicKey, PublicKey))) {
    let b = s.bitcoin.as_mut().unwrap();
    let mut p = (
        Hashlock(s.hashlock.clone().try_into().unwrap()),
        PublicKey::from_slice(&b.claim_pubkey).unwrap(),
        PublicKey::from_slice(&b.refund_pubkey).unwrap(),
    );
    change(&mut p);
    let h = HtlcParams::new(p.0, p.1, p.2, BtcHeight(b.timeout_height)).unwrap();
    b.claim_pubkey = p.1.serialize().to_vec();
    b.refund_pubkey = p.2.serialize().to_vec();
    b.address = h.address(bitcoin::Network::Regtest).to_string();
    b.witness_script = h.witness_script().to_bytes();
    s.hashlock = p.0.0.to_vec();
}

async fn order(maker: &Maker, relayer: &Relayer) -> String {
    let id = maker
        .submit(&[
            "btc-to-eth",
            "--amount",
            "100000",
            "--eth-address",
            MAKER_ETH,
        ])
        .await;
    let s = relayer.accept(&id, RESOLVER_ETH).await;
    assert_eq!(s.state, pb::SwapState::Matched as i32);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btc_funding_refuses_a_lying_record_or_a_short_timelock_and_writes_nothing() {
    let started = std::time::Instant::now();
    let chain = chain().await;
    let relayer = Relayer::start(RelayerOpts::default()).await;
    let maker = Maker::new(&relayer, &chain.electrum_url);
    fund_wallet(&chain, &maker, 2).await;
    let tip = u64::from(chain.height().unwrap());

    // A relayer whose Bitcoin head is 100 blocks behind fixes a timeout 100 blocks too early.
    relayer.set_head("ethereum", 100).await;
    relayer.set_head("bitcoin", tip - 100).await;
    let short = order(&maker, &relayer).await;
    relayer.set_head("bitcoin", tip).await;

    let wrong_script = order(&maker, &relayer).await;
    relayer
        .tamper(&wrong_script, |s| {
            let b = s.bitcoin.as_mut().unwrap();
            let other = HtlcParams::new(
                Hashlock(s.hashlock.clone().try_into().unwrap()),
                key(9),
                PublicKey::from_slice(&b.refund_pubkey).unwrap(),
                BtcHeight(b.timeout_height),
            )
            .unwrap();
            b.address = other.address(bitcoin::Network::Regtest).to_string();
            b.witness_script = other.witness_script().to_bytes();
        })
        .await;
    let wrong_refund_key = order(&maker, &relayer).await;
    relayer
        .tamper(&wrong_refund_key, |s| rewrite_htlc(s, |p| p.2 = key(8)))
        .await;
    let wrong_hashlock = order(&maker, &relayer).await;
    relayer
        .tamper(&wrong_hashlock, |s| {
            rewrite_htlc(s, |p| p.0 = Hashlock([7; 32]));
        })
        .await;

    let cases = [
        (&wrong_script, "deposit address"),
        (&wrong_refund_key, "refund key"),
        (&wrong_hashlock, "hashlock"),
        (&short, "timelocks"),
    ];
    for (id, want) in cases {
        let record = relayer.view(id).await;
        let address = record.bitcoin.as_ref().unwrap().address.clone();
        let before = std::fs::read(maker.state_file()).unwrap();
        let out = maker.run(&["fund", id]).await;
        let err = stderr(&out);
        eprintln!("{want}: {}", err.trim());
        assert!(!out.status.success(), "{want}: funded anyway");
        assert!(
            err.contains("refusing to fund") && err.contains(want),
            "{want}: {err}"
        );
        assert!(out.stdout.is_empty());
        assert_eq!(
            std::fs::read(maker.state_file()).unwrap(),
            before,
            "{want}: the state file changed"
        );
        assert!(
            history(&chain.electrum_url, &address).is_empty(),
            "{want}: the relayer's address was paid"
        );
        assert!(mempool(&chain).is_empty(), "{want}: something was sent");
    }

    // The honest record funds; with the funding record lost (a crash right after the
    // broadcast), a rerun finds the payment on chain and records it instead of paying again.
    let good = order(&maker, &relayer).await;
    let f = maker.json(&["fund", &good]).await;
    assert_eq!(f["new"], true, "{f}");
    let address = f["address"].as_str().unwrap().to_owned();
    assert_eq!(address, relayer.view(&good).await.bitcoin.unwrap().address);
    let mut state = maker.state();
    for e in state["swaps"].as_array_mut().unwrap() {
        if e["swap_id"] == good.as_str() {
            e["funding"] = serde_json::Value::Null;
        }
    }
    std::fs::write(maker.state_file(), serde_json::to_vec(&state).unwrap()).unwrap();
    let again = maker.json(&["fund", &good]).await;
    assert_eq!(again["new"], false, "{again}");
    assert_eq!(again["txid"], f["txid"]);
    assert_eq!(history(&chain.electrum_url, &address).len(), 1);
    assert_eq!(maker.entry(&good)["funding"]["txid"], f["txid"]);
    eprintln!("wall time {:?}", started.elapsed());
    relayer.stop().await;
}
