//! What the funding and refund tests share: a real relayer in-process (its own Postgres
//! database and Redis prefix), the regtest chain in-process, anvil with the escrow deployed, and
//! the real `swapctl` binary run with a state file, wallet and key of its own.
//!
//! A relayer that lies is played by rewriting its stored record (the Postgres view and the
//! Redis copy) after it matched a swap; nothing else in the relayer is bypassed.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, RootProvider};
use crosslock_eth::{EthSigner, LocalKey, MemoryTxStore, SenderConfig, TxIntent, TxSender};
use crosslock_proto::public::v1 as pb;
use crosslock_regtest::testing::TestChain;
use crosslock_relayer::config::{AdminEntry, Config, ResolverEntry, Sensitive};
use crosslock_relayer::store::{Store, now_unix};
use crosslock_relayer::{Listeners, run};
use prost::Message;
use serde_json::Value;
use sqlx::Connection;
use tokio::net::TcpListener;

pub const ADMIN_TOKEN: &str = "swapctl-funding-test-admin-token";
pub const RESOLVER_TOKEN: &str = "swapctl-funding-test-resolver-token";
/// A resolver HTLC key (the generator point: a valid key nobody here signs with).
pub const RESOLVER_BTC: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

/// anvil's development keys (mnemonic "test test ... junk"), accounts 0..2: deployer, maker,
/// resolver.
pub const ANVIL_KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://crosslock:crosslock@127.0.0.1:5432/crosslock".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn unique() -> String {
    hex::encode(crosslock_relayer::random_id().unwrap())
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ---------------------------------------------------------------- relayer

/// How the relayer is set up.
#[derive(Default, Clone)]
pub struct RelayerOpts {
    /// The escrow it matches against.
    pub escrow: Option<String>,
    /// Watch this Electrum server (the relayer then keeps the Bitcoin head itself).
    pub electrum_url: Option<String>,
    /// Watch the escrow on this Ethereum node (the relayer then keeps the Ethereum head).
    pub eth_rpc_url: Option<String>,
    /// Quote this ERC-20 at this many base units per BTC.
    pub token: Option<(String, String)>,
}

/// A relayer on loopback with its own database (dropped by `stop`) and Redis prefix.
pub struct Relayer {
    pub public: String,
    pub admin: String,
    pub resolver: String,
    pub db_url: String,
    db_name: String,
    prefix: String,
    replica: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Relayer {
    pub async fn start(opts: RelayerOpts) -> Relayer {
        let db_name = format!("crosslock_swapctl_{}", unique());
        let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {db_name}"))
            .execute(&mut c)
            .await
            .unwrap();
        let base = database_url().rsplit_once('/').unwrap().0.to_owned();
        let db_url = format!("{base}/{db_name}");
        let prefix = format!("swapctl-funding-{}", unique());
        let replica = format!("replica-{}", unique());
        let mut config = Config {
            database_url: Sensitive(db_url.clone()),
            database_max_connections: 4,
            redis_url: Sensitive(redis_url()),
            redis_prefix: prefix.clone(),
            replica: replica.clone(),
            escrow_contract: opts
                .escrow
                .clone()
                .unwrap_or_else(|| "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".to_owned()),
            resolvers: vec![ResolverEntry {
                name: "r1".to_owned(),
                cert_sha256: None,
                token: Some(Sensitive(RESOLVER_TOKEN.to_owned())),
            }],
            admins: vec![AdminEntry {
                name: "ops".to_owned(),
                token: Sensitive(ADMIN_TOKEN.to_owned()),
            }],
            ..Config::default()
        };
        if let Some(url) = &opts.electrum_url {
            config.chains.electrum_url = url.clone();
            config.chains.btc_poll_ms = 100;
        }
        if let Some(url) = &opts.eth_rpc_url {
            config.chains.eth_rpc_url = Sensitive(url.clone());
            config.chains.eth_chain_id = 31_337;
            config.chains.eth_poll_ms = 100;
        }
        if let Some((token, per_btc)) = &opts.token {
            config
                .quote
                .token_units_per_btc
                .insert(token.clone(), per_btc.clone());
        }
        let l = Listeners {
            public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            resolver: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            metrics: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let public = format!("http://{}", l.public.local_addr().unwrap());
        let admin = format!("http://{}", l.admin.local_addr().unwrap());
        let resolver = format!("http://{}", l.resolver.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            run(config, l, async move {
                let _ = rx.await;
            })
            .await
            .expect("relayer runs");
        });
        let r = Relayer {
            public,
            admin,
            resolver,
            db_url,
            db_name,
            prefix,
            replica,
            stop: Some(tx),
        };
        // Ready once the public API answers.
        for _ in 0..200 {
            if rpc(&r.public).await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        r
    }

    /// Rows in one of the relayer's tables.
    pub async fn count(&self, table: &str) -> i64 {
        let mut c = sqlx::PgConnection::connect(&self.db_url).await.unwrap();
        sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {}.{table}",
            crosslock_relayer::store::SCHEMA
        ))
        .fetch_one(&mut c)
        .await
        .unwrap()
    }

    async fn store(&self) -> Store {
        Store::connect(&self.db_url, 2).await.unwrap()
    }

    /// Records a chain head as that chain's watcher would (for chains this relayer does not
    /// watch itself). Heads only move forward.
    pub async fn set_head(&self, chain: &str, height: u64) {
        let store = self.store().await;
        let token = store
            .acquire_lease(
                &format!("watcher:{chain}"),
                &self.replica,
                Duration::from_secs(30),
            )
            .await
            .unwrap()
            .expect("lease free");
        assert!(
            store
                .advance_cursor(chain, height, &[1; 32], now_unix(), token)
                .await
                .unwrap(),
            "{chain} head {height} refused"
        );
    }

    /// A resolver takes the swap over the resolver API, as the resolver daemon would.
    pub async fn accept(&self, id: &str, resolver_eth: &str) -> pb::Swap {
        self.try_accept(id, resolver_eth)
            .await
            .expect("resolver accepts")
    }

    /// [`Relayer::accept`] once the relayer knows both chain heads (from its own adapters,
    /// which take a moment after start).
    pub async fn accept_when_ready(&self, id: &str, resolver_eth: &str) -> pb::Swap {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.try_accept(id, resolver_eth).await {
                Ok(s) => return s,
                Err(e) => assert!(
                    std::time::Instant::now() < end,
                    "the relayer never matched: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// [`Relayer::accept`], or the relayer's refusal.
    pub async fn try_accept(
        &self,
        id: &str,
        resolver_eth: &str,
    ) -> Result<pb::Swap, tonic::Status> {
        use crosslock_proto::resolver::v1::AcceptOrderRequest;
        use crosslock_proto::resolver::v1::resolver_service_client::ResolverServiceClient;
        let ch = tonic::transport::Endpoint::from_shared(self.resolver.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = ResolverServiceClient::new(ch);
        let mut req = tonic::Request::new(AcceptOrderRequest {
            swap_id: id.to_owned(),
            accept: true,
            decline_reason: String::new(),
            resolver_btc_pubkey: hex::decode(RESOLVER_BTC).unwrap(),
            resolver_eth_address: resolver_eth.to_owned(),
        });
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {RESOLVER_TOKEN}").parse().unwrap(),
        );
        c.accept_order(req).await?;
        Ok(self.view(id).await)
    }

    /// The record as the relayer serves it.
    pub async fn view(&self, id: &str) -> pb::Swap {
        let mut c = pb::swap_service_client::SwapServiceClient::connect(self.public.clone())
            .await
            .unwrap();
        c.get_swap(pb::GetSwapRequest {
            swap_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
    }

    /// Plays a lying relayer: rewrites the record it serves for `id`.
    pub async fn tamper(&self, id: &str, change: impl FnOnce(&mut pb::Swap)) {
        let mut c = sqlx::PgConnection::connect(&self.db_url).await.unwrap();
        let raw: Vec<u8> = sqlx::query_scalar("SELECT view FROM relayer.swaps WHERE id = $1")
            .bind(hex::decode(id).unwrap())
            .fetch_one(&mut c)
            .await
            .unwrap();
        let mut swap = pb::Swap::decode(raw.as_slice()).unwrap();
        change(&mut swap);
        sqlx::query("UPDATE relayer.swaps SET view = $1 WHERE id = $2")
            .bind(swap.encode_to_vec())
            .bind(hex::decode(id).unwrap())
            .execute(&mut c)
            .await
            .unwrap();
        let client = redis::Client::open(redis_url()).unwrap();
        let mut r = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("DEL")
            .arg(format!("{}:swap:{id}", self.prefix))
            .arg(format!("{}:swapv:{id}", self.prefix))
            .query_async(&mut r)
            .await
            .unwrap();
        assert_eq!(self.view(id).await, swap, "the tampered record is served");
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.db_name
        ))
        .execute(&mut c)
        .await;
    }
}

async fn rpc(url: &str) -> Option<()> {
    let mut c = pb::swap_service_client::SwapServiceClient::connect(url.to_owned())
        .await
        .ok()?;
    c.get_quote(pb::GetQuoteRequest {
        direction: pb::Direction::BtcToEth as i32,
        src_asset: Some(pb::Asset {
            chain: pb::Chain::Bitcoin as i32,
            token: String::new(),
        }),
        dst_asset: Some(pb::Asset {
            chain: pb::Chain::Ethereum as i32,
            token: String::new(),
        }),
        src_amount: "100000".to_owned(),
    })
    .await
    .ok()
    .map(|_| ())
}

/// Anvil with the escrow, the regtest chain, and a relayer watching both through its own
/// adapters.
pub async fn watched_chains() -> (Anvil, Address, TestChain, Relayer) {
    let anvil = Anvil::start().await;
    let escrow = anvil.deploy_escrow().await;
    let chain = chain().await;
    let relayer = Relayer::start(RelayerOpts {
        escrow: Some(escrow.to_checksum(None)),
        electrum_url: Some(chain.electrum_url.clone()),
        eth_rpc_url: Some(anvil.url.clone()),
        ..RelayerOpts::default()
    })
    .await;
    (anvil, escrow, chain, relayer)
}

// ---------------------------------------------------------------- the maker's swapctl

/// The maker: a folder with its state file, Bitcoin wallet and Ethereum key, and the settings
/// `swapctl` runs with.
pub struct Maker {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Maker {
    pub fn new(relayer: &Relayer, electrum_url: &str) -> Maker {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            ("SWAPCTL_RELAYER_URL", relayer.public.clone()),
            ("SWAPCTL_ADMIN_URL", relayer.admin.clone()),
            ("SWAPCTL_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
            (
                "SWAPCTL_STATE_FILE",
                dir.path().join("maker/state.json").display().to_string(),
            ),
            ("SWAPCTL_NETWORK", "regtest".to_owned()),
            ("SWAPCTL_ELECTRUM_URL", electrum_url.to_owned()),
            ("SWAPCTL_BTC_FEE_RATE", "2".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Maker { dir, env }
    }

    /// Uses `key` (hex) as the maker's Ethereum key, in a 0600 file, against `rpc_url`.
    pub fn with_eth(mut self, rpc_url: &str, key: &str) -> Maker {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join("eth.key");
        std::fs::write(&path, key).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.env.push((
            "SWAPCTL_ETH_KEY_FILE".to_owned(),
            path.display().to_string(),
        ));
        self.env
            .push(("SWAPCTL_ETH_RPC_URL".to_owned(), rpc_url.to_owned()));
        self
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("maker/state.json")
    }

    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state_file()).unwrap()).unwrap()
    }

    /// The state file's entry of swap `id`.
    pub fn entry(&self, id: &str) -> Value {
        self.state()["swaps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["swap_id"] == id)
            .cloned()
            .unwrap()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_swapctl"));
        cmd.args(args).env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `swapctl args` to completion.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs `swapctl args --json`, which must succeed, and parses its output.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a).await;
        assert!(
            out.status.success(),
            "swapctl {args:?} failed: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("swapctl {args:?} printed no JSON ({e}): {}", stdout(&out)))
    }

    /// Starts `swapctl args` in the background, reading what it prints.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::new(
            self.command(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// Submits an order and returns its swap id (not funded).
    pub async fn submit(&self, args: &[&str]) -> String {
        let mut a = vec!["swap"];
        a.extend_from_slice(args);
        a.push("--no-wait");
        let v = self.json(&a).await;
        v["swap_id"].as_str().unwrap().to_owned()
    }
}

/// A `swapctl` running in the background, its stdout read line by line; killed on drop.
pub struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Running {
    pub fn new(mut child: Child) -> Running {
        use std::io::{BufRead, BufReader};
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The id of the swap a `swap ... --json` submitted: its first line, the `Created` record.
    pub async fn swap_id(&mut self) -> String {
        let line = self.until("the first update", |_| true).await;
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (&v["type"], &v["state"]),
            (&"update".into(), &"Created".into()),
            "{v}"
        );
        v["swap_id"].as_str().unwrap().to_owned()
    }

    /// Reads lines until one matches (returned), failing after 30 s or at the end of output.
    pub async fn until(&mut self, what: &str, hit: impl Fn(&str) -> bool) -> String {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if hit(&line) {
                        return line;
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    assert!(
                        std::time::Instant::now() < end,
                        "no {what} in: {:#?}",
                        self.seen
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    let err = self
                        .child
                        .stderr
                        .take()
                        .map(|mut e| {
                            let mut s = String::new();
                            let _ = std::io::Read::read_to_string(&mut e, &mut s);
                            s
                        })
                        .unwrap_or_default();
                    panic!("swapctl ended before {what}: {:#?}\n{err}", self.seen);
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- Bitcoin

/// The regtest chain, in-process.
pub async fn chain() -> TestChain {
    tokio::task::spawn_blocking(|| TestChain::from_env_or_start().unwrap())
        .await
        .unwrap()
}

/// Mines `n` blocks paying nobody we know.
pub fn mine(chain: &TestChain, n: u32) {
    let a = bitcoin::Address::from_script(
        &crosslock_regtest::anyone_can_spend(),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    chain.mine(n, &a.to_string()).unwrap();
}

/// Gives the maker's wallet `blocks` mature coinbases (and mines 100 more to mature them).
pub async fn fund_wallet(chain: &TestChain, maker: &Maker, blocks: u32) -> String {
    let a = maker.json(&["wallet", "address"]).await["address"]
        .as_str()
        .unwrap()
        .to_owned();
    chain.mine(blocks, &a).unwrap();
    mine(chain, 100);
    a
}

/// A bdk wallet of the test's own (the resolver's, say) with `blocks` mature coinbases.
pub fn btc_wallet(
    chain: &TestChain,
    dir: &Path,
    seed: u8,
    blocks: u32,
) -> crosslock_btc::wallet::ResolverWallet {
    let xprv = bitcoin::bip32::Xpriv::new_master(bitcoin::Network::Regtest, &[seed; 32]).unwrap();
    let mut w = crosslock_btc::wallet::ResolverWallet::open(
        &dir.join(format!("wallet-{seed}")),
        &format!("wpkh({xprv}/84'/1'/0'/0/*)"),
        &format!("wpkh({xprv}/84'/1'/0'/1/*)"),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    let a = w.new_address().unwrap();
    chain.mine(blocks, &a.to_string()).unwrap();
    mine(chain, 100);
    let client = bdk_electrum::electrum_client::Client::new(&chain.electrum_url).unwrap();
    w.sync(&bdk_electrum::BdkElectrumClient::new(client))
        .unwrap();
    w
}

/// The txids in the history of an address, as the Electrum server has them.
pub fn history(electrum_url: &str, address: &str) -> Vec<String> {
    use bdk_electrum::electrum_client::{Client, ElectrumApi};
    let spk = address
        .parse::<bitcoin::Address<_>>()
        .unwrap()
        .assume_checked()
        .script_pubkey();
    Client::new(electrum_url)
        .unwrap()
        .script_get_history(&spk)
        .unwrap()
        .into_iter()
        .map(|h| h.tx_hash.to_string())
        .collect()
}

pub fn mempool(chain: &TestChain) -> Vec<String> {
    chain
        .call("getrawmempool", &[])
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------- anvil

/// An anvil child process on a free port; killed on drop.
pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Anvil {
    pub async fn start() -> Anvil {
        let bin = std::env::var_os("ANVIL").map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
            },
            PathBuf::from,
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--accounts", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let a = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if a.provider().get_chain_id().await.is_ok() {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil did not answer on {}", a.url);
    }

    pub fn provider(&self) -> RootProvider {
        RootProvider::new_http(self.url.parse().unwrap())
    }

    pub fn address(i: usize) -> Address {
        EthSigner::local(&LocalKey::new(ANVIL_KEYS[i]))
            .unwrap()
            .address()
    }

    /// Sends `intent` from account `i` and waits for it to be mined successfully.
    pub async fn send(&self, i: usize, key: &str, intent: TxIntent) -> crosslock_eth::OutboxEntry {
        let mut s = TxSender::open(
            self.provider(),
            MemoryTxStore::default(),
            EthSigner::local(&LocalKey::new(ANVIL_KEYS[i])).unwrap(),
            SenderConfig::new(31_337),
        )
        .await
        .unwrap();
        let entry = s.submit(key, intent).await.unwrap();
        for _ in 0..200 {
            if let Some(r) = self
                .provider()
                .get_transaction_receipt(entry.hash)
                .await
                .unwrap()
            {
                assert!(r.status(), "{key} reverted");
                return entry;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{key} was not mined");
    }

    /// Deploys the escrow from account 0.
    pub async fn deploy_escrow(&self) -> Address {
        let e = self
            .send(0, "deploy:escrow", crosslock_eth::contract::deploy_escrow())
            .await;
        crosslock_eth::contract::created_address(&e)
    }

    /// Deploys the test ERC-20 from account 0.
    pub async fn deploy_token(&self) -> Address {
        let e = self
            .send(
                0,
                "deploy:token",
                TxIntent {
                    to: alloy::primitives::TxKind::Create,
                    value: U256::ZERO,
                    input: crosslock_eth::TestToken::BYTECODE.clone(),
                },
            )
            .await;
        crosslock_eth::contract::created_address(&e)
    }

    /// Mints `amount` of `token` to `to`.
    pub async fn mint(&self, token: Address, to: Address, amount: U256) {
        use alloy::sol_types::SolCall;
        let call = crosslock_eth::TestToken::mintCall { to, amount };
        self.send(
            0,
            &format!("mint:{to}:{amount}"),
            TxIntent {
                to: alloy::primitives::TxKind::Call(token),
                value: U256::ZERO,
                input: call.abi_encode().into(),
            },
        )
        .await;
    }

    pub async fn balance(&self, a: Address) -> U256 {
        self.provider().get_balance(a).await.unwrap()
    }

    pub async fn token_balance(&self, token: Address, a: Address) -> U256 {
        use alloy::sol_types::SolCall;
        let out = self
            .provider()
            .call(
                alloy::rpc::types::TransactionRequest::default()
                    .to(token)
                    .input(
                        crosslock_eth::TestToken::balanceOfCall { account: a }
                            .abi_encode()
                            .into(),
                    ),
            )
            .await
            .unwrap();
        crosslock_eth::TestToken::balanceOfCall::abi_decode_returns(&out).unwrap()
    }

    /// How many transactions `from` has had mined (its nonce).
    pub async fn sent_by(&self, from: Address) -> u64 {
        self.provider().get_transaction_count(from).await.unwrap()
    }

    /// Mines `n` blocks.
    pub async fn mine(&self, n: u64) {
        let _: Value = self
            .provider()
            .raw_request("anvil_mine".into(), (n,))
            .await
            .unwrap();
    }

    /// Moves anvil's clock forward and mines a block.
    pub async fn advance(&self, secs: u64) {
        let p = self.provider();
        let _: Value = p
            .raw_request("evm_increaseTime".into(), (secs,))
            .await
            .unwrap();
        let _: Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
