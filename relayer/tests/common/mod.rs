//! Test support: a fresh Postgres database per test (dropped afterwards), a Redis key prefix
//! per test, a private Redis server for tests that flush it, and a relayer on loopback.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default,
    unreachable_pub
)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crosslock_core::amount::Amount;
use crosslock_core::chain::{Chain, LockId, TxId};
use crosslock_core::finality::Depth;
use crosslock_proto::public::v1 as pb;
use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;
use crosslock_proto::resolver::v1 as rpb;
use crosslock_proto::resolver::v1::resolver_service_client::ResolverServiceClient;
use crosslock_relayer::config::{AdminEntry, Config, ResolverEntry, Sensitive};
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::Store;
use crosslock_relayer::watcher::{ChainUpdate, Observation, apply_update};
use crosslock_relayer::{Listeners, run};
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
pub const R1_TOKEN: &str = "resolver-one-token-0123";
pub const R2_TOKEN: &str = "resolver-two-token-0123";
pub const ESCROW: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://crosslock:crosslock@127.0.0.1:5432/crosslock".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn hex16() -> String {
    hex::encode(crosslock_relayer::random_id().unwrap())
}

fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{db}")
}

/// A database of its own, dropped when this guard goes.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("crosslock_test_{}", hex16());
        let mut c = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        TestDb {
            url: with_db(&database_url(), &name),
            name,
        }
    }

    pub async fn store(&self) -> Store {
        let s = Store::connect(&self.url, 8).await.unwrap();
        s.migrate().await.unwrap();
        s
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&database_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A Redis server of its own, for tests that FLUSHALL or stop it.
pub struct PrivateRedis {
    pub url: String,
    child: Child,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(c) = redis::Client::open(url.as_str())
                && c.get_multiplexed_async_connection().await.is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        PrivateRedis { url, child }
    }

    pub async fn flushall(&self) {
        let c = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = c.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    }

    pub async fn dbsize(&self) -> i64 {
        let c = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = c.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn test_config(db_url: &str, redis: &str) -> Config {
    let mut c = Config::default();
    c.database_url = Sensitive(db_url.to_owned());
    c.database_max_connections = 8;
    c.redis_url = Sensitive(redis.to_owned());
    c.redis_prefix = format!("test-{}", hex16());
    c.replica = format!("replica-{}", hex16());
    c.escrow_contract = ESCROW.to_owned();
    c.admins = vec![AdminEntry {
        name: "ops".to_owned(),
        token: Sensitive(ADMIN_TOKEN.to_owned()),
    }];
    c.resolvers = vec![
        ResolverEntry {
            name: "r1".to_owned(),
            cert_sha256: None,
            token: Some(Sensitive(R1_TOKEN.to_owned())),
        },
        ResolverEntry {
            name: "r2".to_owned(),
            cert_sha256: None,
            token: Some(Sensitive(R2_TOKEN.to_owned())),
        },
    ];
    c.cors_origins = vec!["https://app.example".to_owned()];
    c.sweep_interval_secs = 1;
    c
}

pub struct Relayer {
    pub public: SocketAddr,
    pub resolver: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relayer {
    pub async fn start(config: Config) -> Relayer {
        let l = Listeners {
            public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            resolver: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            metrics: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let addrs = (
            l.public.local_addr().unwrap(),
            l.resolver.local_addr().unwrap(),
            l.admin.local_addr().unwrap(),
            l.metrics.local_addr().unwrap(),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            run(config, l, async move {
                let _ = rx.await;
            })
            .await
            .expect("relayer runs");
        });
        // Wait until the public port answers gRPC health.
        let r = Relayer {
            public: addrs.0,
            resolver: addrs.1,
            admin: addrs.2,
            metrics: addrs.3,
            stop: Some(tx),
            task: Some(task),
        };
        for _ in 0..100 {
            if let Ok(ch) = tonic::transport::Endpoint::from_shared(r.url_public())
                .unwrap()
                .connect()
                .await
            {
                let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
                if h.check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
                {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        r
    }

    pub fn url_public(&self) -> String {
        format!("http://{}", self.public)
    }
    pub fn url_resolver(&self) -> String {
        format!("http://{}", self.resolver)
    }
    pub fn url_admin(&self) -> String {
        format!("http://{}", self.admin)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            // Open watch and resolver streams must not hold graceful shutdown up.
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("the relayer stops within 5 s")
                .expect("the relayer task ends cleanly");
        }
    }
}

pub async fn channel(url: String) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Attach a bearer token.
pub fn bearer<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Set both chain heads as a watcher would: bitcoin at `btc_height`, ethereum at wall time.
pub async fn set_heads(store: &Store, replica: &str, btc_height: u64) {
    for chain in ["bitcoin", "ethereum"] {
        let token = store
            .acquire_lease(
                &format!("watcher:{chain}"),
                replica,
                Duration::from_secs(30),
            )
            .await
            .unwrap()
            .expect("lease free");
        let now = crosslock_relayer::store::now_unix();
        let height = if chain == "bitcoin" { btc_height } else { 100 };
        assert!(
            store
                .advance_cursor(chain, height, &[1; 32], now, token)
                .await
                .unwrap()
        );
    }
}

/// Feed one chain update through the watcher path.
pub async fn observe(engine: &Engine, chain: Chain, height: u64, obs: Vec<Observation>) {
    let name = match chain {
        Chain::Bitcoin => "watcher:bitcoin",
        Chain::Ethereum => "watcher:ethereum",
    };
    let token = engine
        .store
        .acquire_lease(name, &engine.replica, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("lease");
    let u = ChainUpdate {
        height,
        hash: vec![2; 32],
        time: crosslock_relayer::store::now_unix(),
        observations: obs,
    };
    assert!(apply_update(engine, chain, &u, token).await.unwrap());
}

pub fn btc_lock(n: u8) -> LockId {
    LockId::BtcOutpoint {
        txid: TxId([n; 32]),
        vout: 0,
    }
}

pub fn eth_lock(n: u8) -> LockId {
    LockId::EthEscrow { id: [n; 32] }
}

pub fn lock_seen(hashlock: [u8; 32], lock: LockId, amount: Amount, depth: Depth) -> Observation {
    Observation::LockSeen {
        hashlock,
        lock,
        amount,
        depth,
    }
}

/// Row counts of every table a call could write, to prove a refused call wrote nothing.
pub async fn table_counts(store: &Store) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in [
        "swaps",
        "swap_events",
        "swap_locks",
        "secrets",
        "outbox",
        "quotes",
        "reported_txs",
        "service_flags",
        "admin_audit",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(store.pool())
            .await
            .unwrap();
        out.push((t.to_owned(), n));
    }
    // Updates too: the projection's versions and the outbox deliveries.
    let v: Option<i64> = sqlx::query_scalar("SELECT sum(version)::bigint FROM swaps")
        .fetch_one(store.pool())
        .await
        .unwrap();
    out.push(("swaps.version".to_owned(), v.unwrap_or(0)));
    out
}

/// Who takes part in an order made by [`matched_order`].
pub struct Parties {
    pub maker_eth: String,
    pub resolver_eth: String,
    pub maker_btc: [u8; 33],
    pub resolver_btc: [u8; 33],
}

impl Default for Parties {
    fn default() -> Parties {
        Parties {
            maker_eth: "0x1111111111111111111111111111111111111111".to_owned(),
            resolver_eth: "0x2222222222222222222222222222222222222222".to_owned(),
            maker_btc: [2; 33],
            resolver_btc: [3; 33],
        }
    }
}

/// Quote, submit and accept (as resolver r1) an order between BTC and native ETH, through the
/// relayer's real sockets. Returns the submit request (to replay it) and the matched swap.
pub async fn matched_order(
    relayer: &Relayer,
    direction: pb::Direction,
    src_amount: &str,
    hashlock: [u8; 32],
    parties: &Parties,
) -> (pb::SubmitOrderRequest, pb::Swap) {
    let mut public = SwapServiceClient::new(channel(relayer.url_public()).await);
    let mut resolver = ResolverServiceClient::new(channel(relayer.url_resolver()).await);
    let (src, dst) = if direction == pb::Direction::BtcToEth {
        (pb::Chain::Bitcoin, pb::Chain::Ethereum)
    } else {
        (pb::Chain::Ethereum, pb::Chain::Bitcoin)
    };
    let asset = |chain: pb::Chain| pb::Asset {
        chain: chain.into(),
        token: String::new(),
    };
    let quote = public
        .get_quote(pb::GetQuoteRequest {
            direction: direction.into(),
            src_asset: Some(asset(src)),
            dst_asset: Some(asset(dst)),
            src_amount: src_amount.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let submit = pb::SubmitOrderRequest {
        idempotency_key: format!("idem-{}", hex16()),
        quote_id: quote.quote_id,
        hashlock: hashlock.to_vec(),
        maker_btc_pubkey: parties.maker_btc.to_vec(),
        maker_eth_address: parties.maker_eth.clone(),
        chain_id: 31_337,
    };
    let swap = public
        .submit_order(submit.clone())
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    let matched = resolver
        .accept_order(bearer(
            rpb::AcceptOrderRequest {
                swap_id: swap.swap_id,
                accept: true,
                decline_reason: String::new(),
                resolver_btc_pubkey: parties.resolver_btc.to_vec(),
                resolver_eth_address: parties.resolver_eth.clone(),
            },
            R1_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(matched.state, i32::from(pb::SwapState::Matched));
    (submit, matched)
}

/// An ETH -> BTC order of one ETH between `parties`, matched through the sockets, with its src
/// escrow lock (`eth_lock(lock)`) reported `finalized` through the watcher path at Ethereum
/// height `eth_height`. Returns the matched swap as AcceptOrder answered it.
pub async fn eth_to_btc_src_locked(
    relayer: &Relayer,
    engine: &Engine,
    secret: &crosslock_core::secret::Secret,
    parties: &Parties,
    lock: u8,
    eth_height: u64,
) -> pb::Swap {
    use crosslock_core::amount::Wei;
    use crosslock_core::finality::EthDepth;
    let (_, matched) = matched_order(
        relayer,
        pb::Direction::EthToBtc,
        "1000000000000000000",
        secret.hashlock().0,
        parties,
    )
    .await;
    observe(
        engine,
        Chain::Ethereum,
        eth_height,
        vec![lock_seen(
            secret.hashlock().0,
            eth_lock(lock),
            Amount::Eth(Wei(1_000_000_000_000_000_000)),
            Depth::Eth(EthDepth::Finalized),
        )],
    )
    .await;
    matched
}
