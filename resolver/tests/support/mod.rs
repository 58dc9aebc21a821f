//! What the resolver's integration tests share: a fresh Postgres database per test, an anvil
//! with the escrow deployed, the regtest chain with funded wallets, and a resolver built over
//! them that can be dropped and rebuilt over the same database (a simulated kill).
//!
//! The relayer's gRPC stream is not used: the tests feed the resolver the core events the
//! relayer would send (the swap's record), and the chains are real.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, RootProvider};
use bitcoin::bip32::Xpriv;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use crosslock_btc::electrum::{ElectrumConfig, ElectrumWatcher};
use crosslock_btc::wallet::ResolverWallet;
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, Network};
use crosslock_core::finality::FinalityPolicy;
use crosslock_core::order::{MatchParams, Order, Terms};
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::Event;
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_eth::{EthSigner, LocalKey, MemoryTxStore, SenderConfig, TxIntent, TxSender};
use crosslock_regtest::testing::TestChain;
use crosslock_resolver::Resolver;
pub use crosslock_resolver::db;
use crosslock_resolver::db::PgTxStore;
use crosslock_resolver::executor::{BtcFees, BtcSide, CrashPoint, EthSide, Executor, Fence};
use crosslock_resolver::policy::{Identity, SignerPolicy};
use sqlx::PgPool;

/// anvil's well-known development keys (mnemonic "test test ... junk"), accounts 0..2.
pub const ANVIL_KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

pub const E18: u128 = 1_000_000_000_000_000_000;

// ---------------------------------------------------------------- Postgres

/// A database of its own, dropped at the end of the test.
pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            "postgres://crosslock:crosslock@127.0.0.1:5432/crosslock".to_owned()
        });
        let name = format!("resolver_test_{}", hex::encode(rand_bytes::<6>()));
        let pool = PgPool::connect(&admin)
            .await
            .expect("postgres (DATABASE_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create database");
        pool.close().await;
        let base = admin.rsplit_once('/').expect("url has a database").0;
        TestDb {
            url: format!("{base}/{name}"),
            admin,
            name,
        }
    }

    pub async fn pool(&self) -> PgPool {
        db::connect(&self.url, 5, 5_000)
            .await
            .expect("connect and migrate")
    }

    pub async fn drop_db(self) {
        let pool = PgPool::connect(&self.admin).await.expect("postgres");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&pool)
        .await
        .expect("drop database");
    }
}

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

// ---------------------------------------------------------------- anvil

/// An anvil child process on a port picked here; killed on drop.
pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Anvil {
    pub async fn start() -> Anvil {
        let bin = std::env::var_os("ANVIL")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
            });
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--accounts",
                "3",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if anvil.provider().get_chain_id().await.is_ok() {
                return anvil;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil did not answer on {}", anvil.url);
    }

    pub fn provider(&self) -> RootProvider {
        RootProvider::new_http(self.url.parse().unwrap())
    }

    pub fn signer(&self, i: usize) -> EthSigner {
        EthSigner::local(&LocalKey::new(ANVIL_KEYS[i])).unwrap()
    }

    pub async fn now(&self) -> u64 {
        self.provider()
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .unwrap()
            .unwrap()
            .header
            .timestamp
    }

    /// Moves anvil's clock forward and mines a block.
    pub async fn advance(&self, secs: u64) {
        let p = self.provider();
        let _: serde_json::Value = p
            .raw_request("evm_increaseTime".into(), (secs,))
            .await
            .unwrap();
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    pub async fn balance(&self, a: Address) -> U256 {
        self.provider().get_balance(a).await.unwrap()
    }

    pub async fn nonce(&self, a: Address) -> u64 {
        self.provider().get_transaction_count(a).await.unwrap()
    }

    /// Deploys the escrow from account 0 and returns its address.
    pub async fn deploy_escrow(&self) -> Address {
        let mut s = self.plain_sender(0).await;
        let entry = s
            .submit("deploy:escrow", crosslock_eth::contract::deploy_escrow())
            .await
            .unwrap();
        wait_receipt(&self.provider(), entry.hash).await;
        crosslock_eth::contract::created_address(&entry)
    }

    /// A sender over an in-memory outbox (the maker's, or the deployer's).
    pub async fn plain_sender(&self, i: usize) -> TxSender<RootProvider, MemoryTxStore> {
        TxSender::open(
            self.provider(),
            MemoryTxStore::default(),
            self.signer(i),
            SenderConfig::new(31_337),
        )
        .await
        .unwrap()
    }

    pub async fn send(
        &self,
        s: &mut TxSender<RootProvider, MemoryTxStore>,
        key: &str,
        intent: TxIntent,
    ) {
        let entry = s.submit(key, intent).await.unwrap();
        let r = wait_receipt(&self.provider(), entry.hash).await;
        assert!(r.status(), "{key} reverted");
    }

    /// Every transaction `from` sent, by scanning the chain (anvil chains are short).
    pub async fn sent_by(&self, from: Address) -> Vec<alloy::rpc::types::Transaction> {
        let p = self.provider();
        let head = p.get_block_number().await.unwrap();
        let mut out = Vec::new();
        for n in 0..=head {
            let b = p
                .get_block_by_number(n.into())
                .full()
                .await
                .unwrap()
                .unwrap();
            for tx in b.transactions.into_transactions() {
                if tx.inner.signer() == from {
                    out.push(tx);
                }
            }
        }
        out
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_receipt(p: &RootProvider, hash: B256) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..200 {
        if let Some(r) = p.get_transaction_receipt(hash).await.unwrap() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash}");
}

// ---------------------------------------------------------------- Bitcoin

/// A bdk wallet over a fresh tprv, in `dir`.
pub fn wallet(dir: &std::path::Path, name: &str, seed: u8) -> ResolverWallet {
    let xprv = Xpriv::new_master(bitcoin::Network::Regtest, &[seed; 32]).unwrap();
    ResolverWallet::open(
        &dir.join(format!("{name}.wallet")),
        &format!("wpkh({xprv}/84'/1'/0'/0/*)"),
        &format!("wpkh({xprv}/84'/1'/0'/1/*)"),
        bitcoin::Network::Regtest,
    )
    .unwrap()
}

pub fn sync(w: &mut ResolverWallet, electrum_url: &str) {
    let client = bdk_electrum::electrum_client::Client::new(electrum_url).unwrap();
    w.sync(&bdk_electrum::BdkElectrumClient::new(client))
        .unwrap();
}

pub fn key(b: u8) -> SecretKey {
    SecretKey::from_slice(&[b; 32]).unwrap()
}

pub fn core_pubkey(k: &SecretKey) -> BtcPubkey {
    BtcPubkey::from_bytes(&k.public_key(&Secp256k1::new()).serialize()).unwrap()
}

/// Mines `n` blocks paying the anyone-can-spend script (no wallet gains from them).
pub fn mine(chain: &TestChain, n: u32) {
    let addr = bitcoin::Address::from_script(
        &crosslock_regtest::anyone_can_spend(),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    chain.mine(n, &addr.to_string()).unwrap();
}

/// Mines one block holding only the coinbase: time passes, the mempool stays.
pub fn mine_empty(chain: &TestChain) {
    let addr = bitcoin::Address::from_script(
        &crosslock_regtest::anyone_can_spend(),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    chain
        .call(
            "generateblock",
            &[serde_json::json!(addr.to_string()), serde_json::json!([])],
        )
        .unwrap();
}

pub fn in_mempool(chain: &TestChain, txid: &str) -> bool {
    chain
        .call("getrawmempool", &[])
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t.as_str() == Some(txid))
}

/// Confirmations of `txid` (0 in the mempool, None unknown).
pub fn confirmations(chain: &TestChain, txid: &str) -> Option<u32> {
    let v = chain
        .call(
            "getrawtransaction",
            &[serde_json::json!(txid), serde_json::json!(true)],
        )
        .ok()?;
    Some(
        v.get("confirmations")
            .and_then(serde_json::Value::as_u64)
            .map_or(0, |c| u32::try_from(c).unwrap()),
    )
}

pub fn send_raw(chain: &TestChain, tx: &bitcoin::Transaction) -> String {
    chain
        .call(
            "sendrawtransaction",
            &[serde_json::json!(
                bitcoin::consensus::encode::serialize_hex(tx)
            )],
        )
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------- the resolver

/// Everything a test's resolver is built from; `build` can be called again after a drop.
pub struct World {
    pub db: TestDb,
    pub anvil: Anvil,
    pub chain: TestChain,
    pub dir: tempfile::TempDir,
    pub escrow: Address,
    pub htlc_key: SecretKey,
    pub maker_btc_key: SecretKey,
    pub policy: SignerPolicy,
}

pub const LEASE: &str = "wallet:test";

impl World {
    pub async fn start() -> World {
        let db = TestDb::create().await;
        let anvil = Anvil::start().await;
        let escrow = anvil.deploy_escrow().await;
        let chain = tokio::task::spawn_blocking(|| TestChain::from_env_or_start().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // Fund the resolver's wallet: 101 blocks to its first address.
        let mut w = wallet(dir.path(), "resolver", 42);
        let a = w.new_address().unwrap();
        chain.mine(101, &a.to_string()).unwrap();
        sync(&mut w, &chain.electrum_url);
        drop(w);
        // And the maker's, then 100 more so both sets of coinbases are mature.
        let mut mw = wallet(dir.path(), "maker", 43);
        let a = mw.new_address().unwrap();
        chain.mine(101, &a.to_string()).unwrap();
        drop(mw);
        mine(&chain, 100);
        World {
            db,
            anvil,
            chain,
            dir,
            escrow,
            htlc_key: key(0x11),
            maker_btc_key: key(0x22),
            policy: SignerPolicy {
                max_swaps_per_hour: 100,
                ..SignerPolicy::default()
            },
        }
    }

    pub fn resolver_eth(&self) -> Address {
        self.anvil.signer(2).address()
    }

    pub fn maker_eth(&self) -> Address {
        self.anvil.signer(1).address()
    }

    /// A resolver over the world's database, holding the lease, with an optional kill point.
    pub async fn build(&self, crash: Option<CrashPoint>) -> Resolver<RootProvider> {
        let pool = self.db.pool().await;
        let token = db::lease::acquire(&pool, LEASE, "test", Duration::from_secs(600))
            .await
            .unwrap()
            .expect("lease");
        let sender = TxSender::open(
            self.anvil.provider(),
            PgTxStore::new(pool.clone()),
            self.anvil.signer(2),
            SenderConfig::new(31_337),
        )
        .await
        .unwrap();
        let eth = EthSide {
            sender,
            escrow: self.escrow,
            provider: self.anvil.provider(),
        };
        let mut wallet = wallet(self.dir.path(), "resolver", 42);
        sync(&mut wallet, &self.chain.electrum_url);
        let payout = wallet.new_address().unwrap().script_pubkey();
        let btc = BtcSide {
            wallet,
            htlc_key: self.htlc_key,
            payout,
            broadcaster: Box::new(ElectrumWatcher::<SwapId>::new(ElectrumConfig::new(
                self.chain.electrum_url.clone(),
            ))),
            fees: BtcFees {
                base: bitcoin::FeeRate::from_sat_per_vb_u32(2),
                max: bitcoin::FeeRate::from_sat_per_vb_u32(60),
            },
            now_unix: || 1_800_000_000,
        };
        let me = Identity {
            eth_address: Some(crosslock_eth::convert::core_address(self.resolver_eth())),
            escrow: Some(crosslock_eth::convert::core_address(self.escrow)),
            chain_id: Some(31_337),
            btc_scripts: vec![btc.payout.to_bytes()],
            btc_htlc_pubkey: Some(btc.htlc_pubkey().serialize()),
        };
        Resolver {
            exec: Executor {
                pool,
                policy: self.policy.clone(),
                me,
                eth: Some(eth),
                btc: Some(btc),
                fence: Fence {
                    name: LEASE.into(),
                    token: Some(token),
                },
                crash,
                reports: None,
            },
        }
    }

    pub async fn clock(&self) -> Clock {
        let t = self.anvil.now().await;
        Clock {
            btc_tip: BtcHeight(self.chain.height().unwrap()),
            eth_time: UnixTime(t),
            wall: UnixTime(t),
        }
    }

    pub async fn tick(&self) -> Event {
        Event::Tick {
            clock: self.clock().await,
        }
    }

    pub async fn drop_all(self) {
        let World {
            db, anvil, chain, ..
        } = self;
        drop(anvil);
        tokio::task::spawn_blocking(move || drop(chain))
            .await
            .unwrap();
        db.drop_db().await;
    }
}

/// A BTC -> ETH order and its terms: the maker gives 0.01 BTC and takes 1 ETH.
pub async fn btc_to_eth(w: &World, secret: &Secret) -> (SwapId, Event, Event, Terms) {
    let clock = w.clock().await;
    let order = Order {
        network: Network::Regtest,
        hashlock: secret.hashlock(),
        give: crosslock_core::amount::Amount::Btc(crosslock_core::amount::Sats(1_000_000)),
        take: crosslock_core::amount::Amount::Eth(crosslock_core::amount::Wei(E18)),
        maker_btc_pubkey: core_pubkey(&w.maker_btc_key),
        maker_eth_address: crosslock_eth::convert::core_address(w.maker_eth()),
        quote_expires: UnixTime(clock.wall.0 + 900),
    };
    let m = MatchParams {
        resolver_btc_pubkey: core_pubkey(&w.htlc_key),
        resolver_eth_address: crosslock_eth::convert::core_address(w.resolver_eth()),
        escrow_contract: crosslock_eth::convert::core_address(w.escrow),
        chain_id: ChainId(31_337),
        btc_timeout: BtcHeight(clock.btc_tip.0 + 150),
        eth_timeout: UnixTime(clock.eth_time.0 + 10 * 3600),
        finality: FinalityPolicy::DEFAULT,
    };
    finish(order, &m, clock)
}

/// An ETH -> BTC order: the maker gives 1 ETH and takes 0.01 BTC.
pub async fn eth_to_btc(w: &World, secret: &Secret) -> (SwapId, Event, Event, Terms) {
    let clock = w.clock().await;
    let order = Order {
        network: Network::Regtest,
        hashlock: secret.hashlock(),
        give: crosslock_core::amount::Amount::Eth(crosslock_core::amount::Wei(E18)),
        take: crosslock_core::amount::Amount::Btc(crosslock_core::amount::Sats(1_000_000)),
        maker_btc_pubkey: core_pubkey(&w.maker_btc_key),
        maker_eth_address: crosslock_eth::convert::core_address(w.maker_eth()),
        quote_expires: UnixTime(clock.wall.0 + 900),
    };
    let m = MatchParams {
        resolver_btc_pubkey: core_pubkey(&w.htlc_key),
        resolver_eth_address: crosslock_eth::convert::core_address(w.resolver_eth()),
        escrow_contract: crosslock_eth::convert::core_address(w.escrow),
        chain_id: ChainId(31_337),
        btc_timeout: BtcHeight(clock.btc_tip.0 + 70),
        eth_timeout: UnixTime(clock.eth_time.0 + 30 * 3600),
        finality: FinalityPolicy::DEFAULT,
    };
    finish(order, &m, clock)
}

fn finish(order: Order, m: &MatchParams, clock: Clock) -> (SwapId, Event, Event, Terms) {
    let id = SwapId(rand_bytes::<16>());
    let terms = Terms::from_match(&order, m);
    (
        id,
        Event::Created {
            id,
            order,
            at: clock,
        },
        Event::Matched { terms, at: clock },
        terms,
    )
}

pub fn eth_addr(a: Address) -> EthAddress {
    crosslock_eth::convert::core_address(a)
}

// ---------------------------------------------------------------- steps shared by the flows

use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::LockId;
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::order::LockTerms;
use crosslock_core::swap::{Side, SpendKind, Swap};
use crosslock_resolver::executor::ExecError;

/// Feeds `event`; if the resolver was set to die right after persisting, checks with
/// `before_restart` that nothing went out, then builds a new resolver over the same database
/// (the restart) and resumes it. Returns the (possibly new) resolver and whether it "died".
pub async fn feed(
    w: &World,
    r: Resolver<RootProvider>,
    id: SwapId,
    event: &Event,
) -> (Resolver<RootProvider>, bool) {
    let mut r = r;
    match r.ingest(id, event).await {
        Ok(_) => (r, false),
        Err(ExecError::SimulatedCrash(what)) => {
            // Persisted but not sent: the outbox has it, the chains do not.
            let pool = r.exec.pool.clone();
            drop(r);
            let entries = PgTxStore::new(pool.clone())
                .all(w.resolver_eth())
                .await
                .unwrap();
            let mut unsent = 0;
            for e in entries
                .iter()
                .filter(|e| e.state == crosslock_eth::TxState::Pending)
            {
                let receipt = w
                    .anvil
                    .provider()
                    .get_transaction_receipt(e.hash)
                    .await
                    .unwrap();
                if receipt.is_none() {
                    unsent += 1;
                }
            }
            for row in db::btc_outbox::open(&pool).await.unwrap() {
                if confirmations(&w.chain, &row.txid).is_none() {
                    unsent += 1;
                }
            }
            assert!(
                unsent >= 1,
                "the killed step left a persisted, unsent transaction"
            );
            eprintln!(
                "  killed after persisting {what} ({unsent} persisted and unsent); restarting over the same database"
            );
            let mut r = w.build(None).await;
            r.resume().await.expect("resume after the kill");
            (r, true)
        }
        Err(e) => panic!("ingest failed: {e}"),
    }
}

pub fn escrow_params(e: &crosslock_core::order::EthEscrow) -> crosslock_eth::SwapParams {
    let Amount::Eth(Wei(w)) = e.amount else {
        panic!("tests lock native ETH")
    };
    crosslock_eth::SwapParams {
        hashlock: crosslock_eth::convert::hashlock(&e.hashlock),
        sender: crosslock_eth::convert::address(&e.sender),
        receiver: crosslock_eth::convert::address(&e.receiver),
        token: None,
        amount: U256::from(w),
        timeout: e.timeout.0,
    }
}

pub fn escrow_lock_id(e: &crosslock_core::order::EthEscrow) -> LockId {
    LockId::EthEscrow {
        id: escrow_params(e).id().0,
    }
}

pub fn htlc_params(h: &crosslock_core::order::BtcHtlc) -> crosslock_btc::HtlcParams {
    crosslock_btc::HtlcParams::new(
        h.hashlock,
        crosslock_btc::types::pubkey(&h.claim_pubkey).unwrap(),
        crosslock_btc::types::pubkey(&h.refund_pubkey).unwrap(),
        h.timeout,
    )
    .unwrap()
}

/// The resolver's Ethereum outbox entry for `key`.
pub async fn eth_entry(
    w: &World,
    r: &Resolver<RootProvider>,
    key: &str,
) -> crosslock_eth::OutboxEntry {
    let all = PgTxStore::new(r.exec.pool.clone())
        .all(w.resolver_eth())
        .await
        .unwrap();
    let mut it = all.into_iter().filter(|e| e.key == key);
    let e = it.next().unwrap_or_else(|| panic!("no outbox entry {key}"));
    assert!(it.next().is_none(), "one entry per key");
    e
}

pub async fn btc_row(r: &Resolver<RootProvider>, key: &str) -> db::BtcOutboxRow {
    db::btc_outbox::get(&r.exec.pool, key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no btc outbox row {key}"))
}

pub fn lock_seen(side: Side, lock: LockId, amount: Amount, depth: Depth, wall: u64) -> Event {
    Event::LockSeen {
        side,
        lock,
        amount,
        depth,
        seen_at: UnixTime(wall),
    }
}

pub fn claim_seen(side: Side, lock: LockId, tx: [u8; 32], secret: &Secret, depth: Depth) -> Event {
    Event::SpendSeen {
        side,
        lock,
        tx: crosslock_core::chain::TxId(tx),
        kind: SpendKind::Claim {
            secret: secret.clone(),
        },
        depth,
    }
}

pub fn refund_seen(side: Side, lock: LockId, tx: [u8; 32], depth: Depth) -> Event {
    Event::SpendSeen {
        side,
        lock,
        tx: crosslock_core::chain::TxId(tx),
        kind: SpendKind::Refund,
        depth,
    }
}

pub fn txid_bytes(txid: &str) -> [u8; 32] {
    use bitcoin::hashes::Hash;
    let t: bitcoin::Txid = txid.parse().unwrap();
    t.to_byte_array()
}

pub const FINAL: Depth = Depth::Eth(EthDepth::Finalized);
pub const INCLUDED: Depth = Depth::Eth(EthDepth::Included);

/// The maker's bdk wallet (funded in `World::start`) pays the BTC src HTLC; returns the lock.
pub fn maker_funds(w: &World, h: &crosslock_core::order::BtcHtlc) -> (LockId, bitcoin::OutPoint) {
    let mut mw = wallet(w.dir.path(), "maker", 43);
    sync(&mut mw, &w.chain.electrum_url);
    let dest = mw.new_address().unwrap().script_pubkey();
    let f = mw
        .fund_htlc(
            &crosslock_btc::fund::FundingRequest {
                htlc: htlc_params(h),
                amount: h.amount,
                fee_rate: bitcoin::FeeRate::from_sat_per_vb_u32(2),
            },
            &dest,
            bitcoin::FeeRate::from_sat_per_vb_u32(60),
            crosslock_core::time::UnixTime(1_800_000_000),
        )
        .unwrap();
    send_raw(&w.chain, &f.tx);
    mine(&w.chain, 1);
    (crosslock_btc::types::lock_id(f.outpoint), f.outpoint)
}

pub fn btc_terms(t: &LockTerms) -> crosslock_core::order::BtcHtlc {
    match t {
        LockTerms::Btc(h) => *h,
        LockTerms::Eth(_) => panic!("expected a BTC leg"),
    }
}

pub fn eth_terms(t: &LockTerms) -> crosslock_core::order::EthEscrow {
    match t {
        LockTerms::Eth(e) => *e,
        LockTerms::Btc(_) => panic!("expected an ETH leg"),
    }
}

pub fn sats(n: u64) -> Amount {
    Amount::Btc(Sats(n))
}

pub fn wei(n: u128) -> Amount {
    Amount::Eth(Wei(n))
}

pub fn state(s: &Swap) -> String {
    format!("{:?}", s.state)
}
