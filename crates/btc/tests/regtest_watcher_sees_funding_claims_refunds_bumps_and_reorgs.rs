//! On the regtest chain (btc-regtest in-process, or a real bitcoind + Electrum server named by
//! `BTC_RPC_URL` / `ELECTRUM_URL`), through the Electrum adapter: funding, a claim made by someone
//! else (secret extracted), idempotent re-broadcast, an RBF bump, a spend by an unexpected
//! transaction, a refund refused before its height then accepted, a reorg of a claim, a server
//! restart, and the work per block with many HTLCs watched.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

mod common;

use std::str::FromStr;
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use common::{CLAIM, REFUND, dest, pk, sk};
use crosslock_btc::electrum::{
    AdapterError, Broadcast, BroadcastError, ElectrumConfig, ElectrumWatcher,
};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::{self, HtlcUtxo};
use crosslock_btc::types::{BtcHeight, Sats, Secret};
use crosslock_btc::watcher::{ChainEvent, SpendKind, TxStatus};
use crosslock_btc::{claim, refund};
use crosslock_regtest::testing::TestChain;
use serde_json::{Value, json};

/// Generous: CI machines have two cores shared with other builds.
const WAIT: Duration = Duration::from_secs(60);

fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

struct Env {
    chain: TestChain,
    watcher: ElectrumWatcher<u32>,
    coins: Vec<(OutPoint, Amount)>,
}

impl Env {
    /// A chain with `n` mature anyone-can-spend coinbase coins and a connected watcher.
    fn new(n: u32) -> Self {
        let chain = TestChain::from_env_or_start().unwrap();
        let start = chain.height().unwrap();
        let mut env = Env {
            watcher: ElectrumWatcher::new(ElectrumConfig::new(chain.electrum_url.clone())),
            chain,
            coins: vec![],
        };
        env.mine(n + 100);
        for h in start + 1..=start + n {
            let hash = env.rpc("getblockhash", &[json!(h)]);
            let raw = env.rpc("getblock", &[hash, json!(0)]);
            let block: bitcoin::Block = deserialize_hex(raw.as_str().unwrap()).unwrap();
            let cb = &block.txdata[0];
            env.coins
                .push((OutPoint::new(cb.compute_txid(), 0), cb.output[0].value));
        }
        env
    }

    fn rpc(&self, method: &str, params: &[Value]) -> Value {
        self.chain
            .call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn mine(&self, n: u32) -> Vec<String> {
        let addr = Address::p2wsh(&op_true(), Network::Regtest);
        self.chain.mine(n, &addr.to_string()).unwrap()
    }

    fn height(&self) -> u32 {
        self.chain.height().unwrap()
    }

    /// Sends through Core's RPC, as someone else would.
    fn send_rpc(&self, tx: &Transaction) -> Txid {
        let v = self.rpc("sendrawtransaction", &[json!(serialize_hex(tx))]);
        Txid::from_str(v.as_str().unwrap()).unwrap()
    }

    /// Funds the HTLC of `params` with `amount` from the next coin.
    fn fund(&mut self, params: &HtlcParams, amount: u64) -> HtlcUtxo {
        let (coin, value) = self.coins.pop().unwrap();
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
                    value: Amount::from_sat(amount),
                    script_pubkey: params.script_pubkey(),
                },
                TxOut {
                    value: value - Amount::from_sat(amount + 2_000),
                    script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
                },
            ],
        };
        let txid = self.send_rpc(&tx);
        HtlcUtxo {
            outpoint: OutPoint::new(txid, 0),
            amount: Sats(amount),
            params: *params,
        }
    }

    /// Whether `seen` has an event matching `pred`, else polls until one comes. (A header and a
    /// script status are separate notifications; either may be read first.)
    fn saw_or_until(
        &mut self,
        seen: &[ChainEvent<u32>],
        what: &str,
        pred: impl Fn(&ChainEvent<u32>) -> bool,
    ) {
        if !seen.iter().any(&pred) {
            self.until(what, pred);
        }
    }

    /// Polls until an event matches `pred`; returns every event seen up to it.
    fn until(
        &mut self,
        what: &str,
        pred: impl Fn(&ChainEvent<u32>) -> bool,
    ) -> Vec<ChainEvent<u32>> {
        let end = Instant::now() + WAIT;
        let mut seen = vec![];
        while Instant::now() < end {
            match self.watcher.poll() {
                Ok(ev) => {
                    let hit = ev.iter().any(&pred);
                    seen.extend(ev);
                    if hit {
                        return seen;
                    }
                }
                Err(AdapterError::Disconnected { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; saw {seen:#?}");
    }
}

fn htlc(secret: &Secret, timeout: u32) -> HtlcParams {
    HtlcParams::new(secret.hashlock(), pk(CLAIM), pk(REFUND), BtcHeight(timeout)).unwrap()
}

fn rate(r: u32) -> FeeRate {
    FeeRate::from_sat_per_vb_u32(r)
}

fn is_funding(op: OutPoint, confs: u32) -> impl Fn(&ChainEvent<u32>) -> bool {
    move |e| matches!(e, ChainEvent::Funding { outpoint, confirmations, .. } if *outpoint == op && *confirmations == confs)
}

fn is_spent(txid: Txid, confirmed: bool) -> impl Fn(&ChainEvent<u32>) -> bool {
    move |e| {
        matches!(e, ChainEvent::Spent { txid: t, status, .. }
        if *t == txid && matches!(status, TxStatus::Confirmed(_)) == confirmed)
    }
}

#[test]
fn funding_and_a_claim_by_someone_else_are_seen_and_rebroadcast_is_idempotent() {
    let mut env = Env::new(1);
    let s = Secret::new([0x11; 32]);
    let params = htlc(&s, env.height() + 50);
    env.watcher.watch(1, params).unwrap();
    let u = env.fund(&params, 200_000);
    env.until("funding in mempool", is_funding(u.outpoint, 0));
    env.mine(1);
    let ev = env.until("funding confirmed", is_funding(u.outpoint, 1));
    assert!(ev.iter().any(|e| matches!(
        e,
        ChainEvent::Funding {
            amount: Sats(200_000),
            status: TxStatus::Confirmed(_),
            ..
        }
    )));

    // A reconnect subscribes again; the status the server gives equals the one computed from
    // the history we hold, so nothing is fetched again.
    env.watcher.disconnect();
    let ev = env.watcher.poll().unwrap();
    assert!(ev.is_empty(), "{ev:?}");
    eprintln!(
        "calls after reconnect with 1 script: {}",
        env.watcher.calls_made()
    );
    assert_eq!(
        env.watcher.calls_made(),
        4,
        "version, headers, 1 subscribe, ping"
    );

    // Each new block reports the funding one deeper, up to the depth cap (6 by default).
    env.mine(5);
    env.until("funding 6 deep", is_funding(u.outpoint, 6));

    // The maker claims with its own tool and sends it through Core; the watcher only knows the
    // outpoint, and reads the secret from the witness.
    let c = claim::build(&u, &dest(9), rate(3), &s, &sk(CLAIM)).unwrap();
    let txid = env.send_rpc(&c.tx);
    let ev = env.until("claim in mempool", is_spent(txid, false));
    let kind = ev.iter().find_map(|e| match e {
        ChainEvent::Spent { kind, .. } => Some(kind.clone()),
        _ => None,
    });
    assert_eq!(kind, Some(SpendKind::Claim(s.clone())));

    // Re-broadcasting what the node has is success, in the mempool (an Electrum server may
    // answer with the txid or with Core's "txn-already-in-mempool") and in a block.
    let again = env.watcher.broadcast(&c.tx).unwrap();
    assert!(
        matches!(again, Broadcast::Accepted(t) | Broadcast::AlreadyKnown(t) if t == txid),
        "{again:?}"
    );
    env.mine(1);
    env.until("claim confirmed", is_spent(txid, true));
    let again = env.watcher.broadcast(&c.tx).unwrap();
    assert_eq!(again, Broadcast::AlreadyKnown(txid));
}

#[test]
fn an_rbf_bump_and_an_unexpected_spend_are_seen_by_outpoint() {
    let mut env = Env::new(3);
    let s = Secret::new([0x22; 32]);
    let params = htlc(&s, env.height() + 50);
    env.watcher.watch(2, params).unwrap();
    let u = env.fund(&params, 300_000);
    env.mine(1);
    env.until("funding confirmed", is_funding(u.outpoint, 1));

    let c1 = claim::build(&u, &dest(9), rate(2), &s, &sk(CLAIM)).unwrap();
    assert_eq!(
        env.watcher.broadcast(&c1.tx).unwrap(),
        Broadcast::Accepted(c1.tx.compute_txid())
    );
    env.until("first claim", is_spent(c1.tx.compute_txid(), false));
    let c2 = claim::bump(&c1, &u, &dest(9), spend::min_bump_rate(&c1), &s, &sk(CLAIM)).unwrap();
    assert_eq!(
        env.watcher.broadcast(&c2.tx).unwrap(),
        Broadcast::Accepted(c2.tx.compute_txid())
    );
    let ev = env.until("bumped claim", is_spent(c2.tx.compute_txid(), false));
    let gone = ev.iter().position(
        |e| matches!(e, ChainEvent::SpendGone { txid, .. } if *txid == c1.tx.compute_txid()),
    );
    let seen = ev.iter().position(is_spent(c2.tx.compute_txid(), false));
    assert!(gone.is_some() && gone < seen, "{ev:#?}");
    env.mine(1);
    env.until(
        "bumped claim confirmed",
        is_spent(c2.tx.compute_txid(), true),
    );

    // A second HTLC, claimed by a transaction nobody told us about: two inputs (a coin of its
    // own first), two outputs to strangers, version 1.
    let s2 = Secret::new([0x33; 32]);
    let p2 = htlc(&s2, env.height() + 50);
    env.watcher.watch(3, p2).unwrap();
    let u2 = env.fund(&p2, 150_000);
    env.mine(1);
    env.until("second funding", is_funding(u2.outpoint, 1));
    let (coin, value) = env.coins.pop().unwrap();
    let mut odd = Transaction {
        version: Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![
            TxIn {
                previous_output: coin,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[op_true().as_bytes()]),
            },
            TxIn {
                previous_output: u2.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            },
        ],
        output: vec![
            TxOut {
                value: value - Amount::from_sat(5_000),
                script_pubkey: dest(5),
            },
            TxOut {
                value: Amount::from_sat(140_000),
                script_pubkey: dest(6),
            },
        ],
    };
    // Signed for input 1 by hand (the crate's helpers only sign one-input spends).
    let sighash = bitcoin::sighash::SighashCache::new(&odd)
        .p2wsh_signature_hash(
            1,
            &p2.witness_script(),
            Amount::from_sat(150_000),
            bitcoin::EcdsaSighashType::All,
        )
        .unwrap();
    let sig = bitcoin::secp256k1::Secp256k1::new().sign_ecdsa(
        &bitcoin::secp256k1::Message::from_digest(bitcoin::hashes::Hash::to_byte_array(sighash)),
        &sk(CLAIM),
    );
    let sig = bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: bitcoin::EcdsaSighashType::All,
    };
    odd.input[1].witness = Witness::from_slice(&[
        &sig.to_vec()[..],
        s2.expose(),
        &[1u8][..],
        p2.witness_script().as_bytes(),
    ]);
    let txid = env.send_rpc(&odd);
    let ev = env.until("unexpected spend", is_spent(txid, false));
    assert!(
        ev.iter().any(
            |e| matches!(e, ChainEvent::Spent { id: 3, outpoint, kind: SpendKind::Claim(x), .. }
        if *outpoint == u2.outpoint && *x == s2)
        ),
        "{ev:#?}"
    );
}

#[test]
fn a_refund_is_refused_before_its_height_then_seen_bumped_and_confirmed() {
    let mut env = Env::new(1);
    let s = Secret::new([0x44; 32]);
    let timeout = env.height() + 4;
    let params = htlc(&s, timeout);
    env.watcher.watch(4, params).unwrap();
    let u = env.fund(&params, 100_000);
    env.mine(1);
    env.until("funding confirmed", is_funding(u.outpoint, 1));
    let r = refund::build(&u, &dest(8), rate(2), &sk(REFUND)).unwrap();
    // Tip is timeout - 3: the next block is not past nLockTime.
    while env.height() < timeout {
        match env.watcher.broadcast(&r.tx) {
            Err(BroadcastError::Rejected(msg)) => assert!(msg.contains("non-final"), "{msg}"),
            other => panic!("refund accepted at tip {}: {other:?}", env.height()),
        }
        env.mine(1);
    }
    // Tip == timeout: the next block is at timeout + 1 > nLockTime.
    assert_eq!(refund::earliest_height(&u).0, env.height() + 1);
    assert_eq!(
        env.watcher.broadcast(&r.tx).unwrap(),
        Broadcast::Accepted(r.tx.compute_txid())
    );
    let ev = env.until("refund", is_spent(r.tx.compute_txid(), false));
    assert!(ev.iter().any(|e| matches!(
        e,
        ChainEvent::Spent {
            kind: SpendKind::Refund,
            ..
        }
    )));
    // The refund bumped by RBF: the first one goes, the replacement is seen and confirms.
    let r2 = refund::bump(&r, &u, &dest(8), rate(10), &sk(REFUND)).unwrap();
    assert_eq!(
        env.watcher.broadcast(&r2.tx).unwrap(),
        Broadcast::Accepted(r2.tx.compute_txid())
    );
    let ev = env.until("bumped refund", is_spent(r2.tx.compute_txid(), false));
    assert!(
        ev.iter().any(
            |e| matches!(e, ChainEvent::SpendGone { txid, .. } if *txid == r.tx.compute_txid())
        ),
        "{ev:#?}"
    );
    env.mine(1);
    env.until("refund confirmed", is_spent(r2.tx.compute_txid(), true));
}

#[test]
fn a_reorged_claim_goes_back_to_the_mempool_then_away_and_is_rebroadcast() {
    let mut env = Env::new(1);
    let s = Secret::new([0x55; 32]);
    let params = htlc(&s, env.height() + 50);
    env.watcher.watch(5, params).unwrap();
    let u = env.fund(&params, 120_000);
    env.mine(1);
    env.until("funding confirmed", is_funding(u.outpoint, 1));
    let c = claim::build(&u, &dest(9), rate(2), &s, &sk(CLAIM)).unwrap();
    let txid = c.tx.compute_txid();
    env.watcher.broadcast(&c.tx).unwrap();
    let block = env.mine(1).pop().unwrap();
    env.until("claim confirmed", is_spent(txid, true));

    env.rpc("invalidateblock", &[json!(block)]);
    let ev = env.until("claim back in mempool", is_spent(txid, false));
    env.saw_or_until(&ev, "reorg tip", |e| {
        matches!(e, ChainEvent::Tip { reorg: true, .. })
    });
    assert!(
        ev.iter().any(|e| matches!(
            e,
            ChainEvent::Spent {
                shallower: true,
                ..
            }
        )),
        "{ev:#?}"
    );
    env.rpc("dropmempooltx", &[json!(txid.to_string())]);
    env.until(
        "claim gone",
        |e| matches!(e, ChainEvent::SpendGone { txid: t, .. } if *t == txid),
    );
    // What the service does on SpendGone: broadcast the claim again.
    assert_eq!(
        env.watcher.broadcast(&c.tx).unwrap(),
        Broadcast::Accepted(txid)
    );
    env.mine(1);
    env.until("claim confirmed again", is_spent(txid, true));
}

#[test]
fn work_per_block_does_not_grow_with_the_htlcs_watched() {
    let mut env = Env::new(0);
    let tip = env.height();
    let all: Vec<HtlcParams> = (0..60u8)
        .map(|i| htlc(&Secret::new([i; 32]), tip + 100))
        .collect();
    for (i, p) in (100u32..).zip(&all) {
        env.watcher.watch(i, *p).unwrap();
    }
    assert_eq!(env.watcher.watched(), 60);
    env.watcher.poll().unwrap();
    let subscribed = env.watcher.calls_made();
    // Each block: one poll, which costs one round trip (the ping that flushes notifications),
    // whatever the number of scripts watched; no script changed, so nothing is fetched.
    let mut polls = 0;
    for n in 1..=5 {
        env.mine(1);
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let before = env.watcher.calls_made();
            let ev = env.watcher.poll().unwrap();
            polls += 1;
            assert_eq!(env.watcher.calls_made() - before, 1, "{ev:?}");
            if env.watcher.tip() == Some(BtcHeight(tip + n)) {
                break;
            }
            assert!(polls < 100, "tip never arrived");
        }
    }
    // A reconnect re-subscribes all 60 in one batch; none changed, so none is fetched.
    env.watcher.disconnect();
    let ev = env.watcher.poll().unwrap();
    assert!(ev.is_empty(), "{ev:?}");
    let reconnect = env.watcher.calls_made();
    assert!(
        reconnect <= 5,
        "{reconnect} calls to reconnect with 60 HTLCs"
    );
    for p in &all {
        env.watcher.unwatch(p);
    }
    assert_eq!(env.watcher.watched(), 0);
    eprintln!(
        "60 HTLCs watched: {subscribed} calls to connect and subscribe, then 5 blocks seen in \
         {polls} polls of 1 call each, {reconnect} calls to reconnect"
    );
}

#[test]
fn the_adapter_reconnects_with_backoff_and_catches_up() {
    if std::env::var("BTC_RPC_URL").is_ok() {
        return; // Needs to stop and start the server: in-process only.
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cfg = ElectrumConfig::new(format!("tcp://{addr}"));
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(400);
    let mut w: ElectrumWatcher<u32> = ElectrumWatcher::new(cfg);
    let params = htlc(&Secret::new([0x66; 32]), 500);
    // Nothing listens yet: refused, and the retry delay grows up to the cap.
    let mut delays = vec![];
    for _ in 0..6 {
        match w.watch(6, params) {
            Err(AdapterError::Disconnected { retry_in, .. }) => delays.push(retry_in),
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(450));
    }
    assert!(
        delays.iter().all(|d| *d <= Duration::from_millis(400)),
        "{delays:?}"
    );
    let start = |addr| {
        crosslock_regtest::InProcess::start(crosslock_regtest::Config {
            electrum: addr,
            ..Default::default()
        })
        .unwrap()
    };
    let node = start(addr);
    let rpc = crosslock_regtest::RpcClient::new(&node.rpc_url(), None);
    let mine = |rpc: &crosslock_regtest::RpcClient, n: u32| {
        let a = Address::p2wsh(&op_true(), Network::Regtest).to_string();
        rpc.call("generatetoaddress", &[json!(n), json!(a)])
            .unwrap();
    };
    mine(&rpc, 3);
    let end = Instant::now() + WAIT;
    while w.tip() != Some(BtcHeight(3)) && Instant::now() < end {
        let _ = w.poll();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.tip(), Some(BtcHeight(3)));
    assert_eq!(w.connects(), 1);
    // The server goes away: the adapter notices, backs off, and reconnects to the new one,
    // subscribing again (a fresh chain: the tip moves, reported as a reorg).
    drop(node);
    let end = Instant::now() + WAIT;
    while w.is_connected() && Instant::now() < end {
        let _ = w.poll();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!w.is_connected());
    let node = start(addr);
    let rpc = crosslock_regtest::RpcClient::new(&node.rpc_url(), None);
    mine(&rpc, 7);
    let mut events = vec![];
    let end = Instant::now() + WAIT;
    while w.tip() != Some(BtcHeight(7)) && Instant::now() < end {
        if let Ok(ev) = w.poll() {
            events.extend(ev);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.tip(), Some(BtcHeight(7)), "{events:#?}");
    assert_eq!(w.connects(), 2);
    drop(node);
}

#[test]
fn reorgs_of_depth_2_to_6_move_a_claim_back_to_the_mempool() {
    let mut env = Env::new(5);
    for (i, depth) in (2u32..=6).enumerate() {
        let s = Secret::new([0x60 + u8::try_from(i).unwrap(); 32]);
        let params = htlc(&s, env.height() + 80);
        let id = 60 + u32::try_from(i).unwrap();
        env.watcher.watch(id, params).unwrap();
        let u = env.fund(&params, 110_000);
        env.mine(1);
        env.until("funding confirmed", is_funding(u.outpoint, 1));
        let c = claim::build(&u, &dest(9), rate(2), &s, &sk(CLAIM)).unwrap();
        let txid = c.tx.compute_txid();
        env.watcher.broadcast(&c.tx).unwrap();
        let first = env.mine(depth).remove(0);
        // Re-reported deeper on each block, up to `depth`.
        env.until("claim at depth", |e| {
            matches!(e, ChainEvent::Spent { txid: t, confirmations, .. } if *t == txid && *confirmations == depth)
        });
        // Invalidate the block that holds the claim: `depth` blocks go, the claim returns to
        // the mempool, and the watcher says so as a move back.
        env.rpc("invalidateblock", &[json!(first)]);
        let ev = env.until("claim moved back", |e| {
            matches!(e, ChainEvent::Spent { txid: t, status: TxStatus::Mempool, shallower: true, .. } if *t == txid)
        });
        env.saw_or_until(&ev, "reorg tip", |e| {
            matches!(e, ChainEvent::Tip { reorg: true, .. })
        });
        // Mined again on the new branch.
        env.mine(1);
        env.until("claim confirmed again", is_spent(txid, true));
    }
}
