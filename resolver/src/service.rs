//! The run loop: metrics listener, database, the wallet lease, and the executors while this
//! replica holds the lease; plus [`Resolver`], the entry point every event source (the relayer's
//! stream, the tests) uses to record an event and act on it.
//!
//! Owns the order "append the event, then execute its actions" and leadership: only the lease
//! holder builds executors, and it drops them the moment a renewal fails. It must never act on
//! an event that did not commit.

use std::future::Future;
use std::time::Duration;

use alloy::providers::{Provider, RootProvider};
use crosslock_core::secret::SwapId;
use crosslock_core::swap::{Event, Swap};
use crosslock_eth::{EthSigner, LocalKey, SenderConfig, TxSender};
use sqlx::PgPool;
use thiserror::Error;
use tracing::{info, warn};

use crate::config::{Config, EthSignerKind};
use crate::db::{self, DbError, PgTxStore};
use crate::executor::{BtcFees, BtcSide, CrashPoint, EthSide, ExecError, Executor, Fence};
use crate::follow::{Chains, PgCursorStore};
use crate::intake::{Intake, identity_pair};
use crate::metrics as m;
use crate::policy::SignKind;
use crate::policy::{Identity, SignerPolicy};
use crate::relayer::{ClientTls, Inbound};
use crosslock_btc::wallet::ResolverWallet;

/// Why the service stopped.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// Bad configuration found at start.
    #[error("config: {0}")]
    Config(String),
    /// Postgres.
    #[error(transparent)]
    Db(#[from] DbError),
    /// An executor failed at start.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A listener could not bind.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The Ethereum side could not start.
    #[error("ethereum: {0}")]
    Eth(String),
}

/// One resolver's executors over one database: record an event, then act on what it made due.
pub struct Resolver<P> {
    /// The executors.
    pub exec: Executor<P>,
}

impl<P: Provider + Clone> Resolver<P> {
    /// Appends `event` to the swap's log (one transaction with the projection), then carries out
    /// the actions it made due. Returns the new record. If execution fails, the event stays
    /// committed and its actions are due again at the next [`Resolver::resume`].
    pub async fn ingest(&mut self, id: SwapId, event: &Event) -> Result<Swap, ExecError> {
        let before = if matches!(event, Event::Tick { .. }) {
            db::load_swap(&self.exec.pool, id)
                .await?
                .map(|l| l.swap.state)
        } else {
            None
        };
        let t = db::append(&self.exec.pool, id, event).await?;
        // A tick that changes nothing is routine; everything else is worth a line.
        if before != Some(t.swap.state) || !t.actions.is_empty() {
            info!(swap_id = %id, state = ?t.swap.state, actions = t.actions.len(), "event recorded");
        } else {
            tracing::debug!(swap_id = %id, "clock recorded");
        }
        self.exec.execute(id, &t.swap, &t.actions).await?;
        Ok(t.swap)
    }

    /// Many swaps' events in one transaction ([`db::append_many`]), then, swap by swap, the
    /// actions they issued that are still due on the final record. Events of one swap seen
    /// together (one block) are judged together: a lock made due by the first and taken back by
    /// the next (a second payment to the same HTLC) is never signed. Returns each swap's record after the batch and the number of its
    /// events recorded. An action that fails is logged; it is due again at the next resume.
    pub async fn ingest_many(
        &mut self,
        batch: &[(SwapId, Vec<Event>)],
    ) -> Result<Vec<(SwapId, Swap, usize)>, ExecError> {
        let done = db::append_many(&self.exec.pool, batch).await?;
        let mut out = Vec::with_capacity(done.len());
        for (id, a) in done {
            if a.recorded > 0 {
                let due = a.swap.due_actions();
                let still: Vec<_> = a.actions.into_iter().filter(|x| due.contains(x)).collect();
                if !still.is_empty() || a.recorded > 1 {
                    info!(swap_id = %id, state = ?a.swap.state, actions = still.len(), events = a.recorded, "events recorded");
                }
                if let Err(e) = self.exec.execute(id, &a.swap, &still).await {
                    warn!(swap_id = %id, error = %e, "action failed after recording; due again");
                }
            }
            out.push((id, a.swap, a.recorded));
        }
        Ok(out)
    }

    /// Re-broadcasts the outboxes and re-runs every due action (after a start or takeover).
    pub async fn resume(&mut self) -> Result<(), ExecError> {
        self.exec.resume().await
    }
}

/// The signer policy and identity from the configuration.
pub fn signer_policy(config: &Config) -> Result<SignerPolicy, ServiceError> {
    SignerPolicy::from_config(&config.signer).map_err(|e| ServiceError::Config(e.to_string()))
}

async fn eth_side(
    config: &Config,
    pool: &PgPool,
) -> Result<Option<EthSide<RootProvider>>, ServiceError> {
    let Some(url) = &config.ethereum.rpc_url else {
        return Ok(None);
    };
    let provider = RootProvider::new_http(
        url.parse()
            .map_err(|e| ServiceError::Config(format!("ethereum.rpc_url: {e}")))?,
    );
    let chain_id = config
        .ethereum
        .chain_id
        .ok_or_else(|| ServiceError::Config("ethereum.chain_id is required".into()))?;
    let escrow = config
        .ethereum
        .escrow_contract
        .as_deref()
        .ok_or_else(|| ServiceError::Config("ethereum.escrow_contract is required".into()))?
        .parse()
        .map_err(|e| ServiceError::Config(format!("ethereum.escrow_contract: {e}")))?;
    let signer = match config.ethereum.signer {
        EthSignerKind::Local => {
            let key =
                config.ethereum.key.as_ref().ok_or_else(|| {
                    ServiceError::Config("RESOLVER_ETH_KEY_FILE is required".into())
                })?;
            EthSigner::local(&LocalKey::new(key.expose()))
                .map_err(|e| ServiceError::Eth(e.to_string()))?
        }
        EthSignerKind::Kms => {
            let id = config.ethereum.kms_key_id.as_deref().ok_or_else(|| {
                ServiceError::Config("RESOLVER_ETH_KMS_KEY_ID is required".into())
            })?;
            EthSigner::aws_kms(id, chain_id)
                .await
                .map_err(|e| ServiceError::Eth(e.to_string()))?
        }
    };
    crosslock_eth::check_code_hash(&provider, escrow)
        .await
        .map_err(|e| ServiceError::Eth(e.to_string()))?;
    info!(address = %signer.address(), "ethereum signer ready");
    let mut sc = SenderConfig::new(chain_id);
    if let Some(g) = config.ethereum.max_fee_gwei {
        sc.max_fee_cap = u128::from(g) * 1_000_000_000;
    }
    let sender = TxSender::open(provider.clone(), PgTxStore::new(pool.clone()), signer, sc)
        .await
        .map_err(|e| ServiceError::Eth(e.to_string()))?;
    Ok(Some(EthSide {
        sender,
        escrow,
        provider,
    }))
}

/// The `bitcoin` crate's name for a network.
pub fn btc_network(n: crosslock_core::chain::Network) -> bitcoin::Network {
    match n {
        crosslock_core::chain::Network::Mainnet => bitcoin::Network::Bitcoin,
        crosslock_core::chain::Network::Testnet => bitcoin::Network::Testnet,
        crosslock_core::chain::Network::Signet => bitcoin::Network::Signet,
        crosslock_core::chain::Network::Regtest => bitcoin::Network::Regtest,
    }
}

fn sat_vb(n: u64) -> bitcoin::FeeRate {
    bitcoin::FeeRate::from_sat_per_vb_u32(u32::try_from(n).unwrap_or(u32::MAX))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens the hot wallet, syncs it, and connects the broadcaster, when Bitcoin is configured.
pub fn btc_side(config: &Config) -> Result<Option<BtcSide>, ServiceError> {
    let (Some(url), Some(descriptor)) = (&config.bitcoin.electrum_url, &config.bitcoin.descriptor)
    else {
        return Ok(None);
    };
    let network = config
        .network()
        .map_err(|e| ServiceError::Config(e.to_string()))?;
    let mut lines = descriptor
        .expose()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let (Some(external), Some(internal)) = (lines.next(), lines.next()) else {
        return Err(ServiceError::Config(
            "the descriptor file needs the external and the internal descriptor, one per line"
                .into(),
        ));
    };
    let key = config
        .bitcoin
        .htlc_key
        .as_ref()
        .ok_or_else(|| ServiceError::Config("RESOLVER_BTC_HTLC_KEY_FILE is required".into()))?;
    let htlc_key = hex::decode(key.expose().trim())
        .ok()
        .and_then(|b| bitcoin::secp256k1::SecretKey::from_slice(&b).ok())
        .ok_or_else(|| ServiceError::Config("the HTLC key is not 32 bytes of hex".into()))?;
    let dir = config
        .bitcoin
        .wallet_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("resolver-{}.wallet", config.wallet_name));
    let mut wallet = ResolverWallet::open(&path, external, internal, btc_network(network))
        .map_err(|e| ServiceError::Config(format!("wallet: {e}")))?;
    // Over the watcher's own transport, so `ssl://` servers work for the wallet too.
    let client = crosslock_btc::electrum::wallet_client(
        &crosslock_btc::electrum::ElectrumConfig::new(url.clone()),
    )
    .map_err(|e| ServiceError::Config(format!("electrum: {e}")))?;
    wallet
        .sync(&bdk_electrum::BdkElectrumClient::new(client))
        .map_err(|e| ServiceError::Config(format!("wallet sync: {e}")))?;
    let payout = wallet
        .new_address()
        .map_err(|e| ServiceError::Config(format!("wallet: {e}")))?
        .script_pubkey();
    let watcher: crosslock_btc::electrum::ElectrumWatcher<SwapId> =
        crosslock_btc::electrum::ElectrumWatcher::new(
            crosslock_btc::electrum::ElectrumConfig::new(url.clone()),
        );
    let fees = BtcFees {
        base: sat_vb(config.bitcoin.fee_rate_sat_vb.unwrap_or(2)),
        max: sat_vb(config.bitcoin.max_fee_rate_sat_vb.unwrap_or(500)),
    };
    Ok(Some(BtcSide {
        wallet,
        htlc_key,
        payout,
        broadcaster: Box::new(watcher),
        fees,
        now_unix: unix_now,
    }))
}

fn random_key() -> Result<bitcoin::secp256k1::SecretKey, ServiceError> {
    loop {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)
            .map_err(|e| ServiceError::Io(std::io::Error::other(format!("randomness: {e}"))))?;
        if let Ok(k) = bitcoin::secp256k1::SecretKey::from_slice(&b) {
            return Ok(k);
        }
    }
}

fn write_new(path: &std::path::Path, text: &str) -> Result<(), ServiceError> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| {
        ServiceError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// What `resolver keygen` made: the addresses to fund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeys {
    /// The hot wallet's first receive address.
    pub btc_address: String,
    /// The Ethereum signer's address.
    pub eth_address: String,
}

/// Writes a new hot wallet's key files into `dir` (mode 0600, never overwriting): the wallet's
/// descriptors, the HTLC key and the Ethereum key.
pub fn keygen(
    dir: &std::path::Path,
    network: crosslock_core::chain::Network,
) -> Result<NewKeys, ServiceError> {
    std::fs::create_dir_all(dir)?;
    let net = btc_network(network);
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&random_key()?.secret_bytes());
    let xprv = bitcoin::bip32::Xpriv::new_master(net, &seed)
        .map_err(|e| ServiceError::Config(format!("master key: {e}")))?;
    let coin = u8::from(net != bitcoin::Network::Bitcoin);
    let external = format!("wpkh({xprv}/84'/{coin}'/0'/0/*)");
    let internal = format!("wpkh({xprv}/84'/{coin}'/0'/1/*)");
    let htlc = random_key()?;
    let eth = random_key()?;
    let scratch = std::env::temp_dir().join(format!(
        "resolver-keygen-{}.wallet",
        hex::encode(&random_key()?.secret_bytes()[..8])
    ));
    let btc_address = ResolverWallet::open(&scratch, &external, &internal, net)
        .and_then(|mut w| w.new_address())
        .map_err(|e| ServiceError::Config(format!("wallet: {e}")))?
        .to_string();
    let _ = std::fs::remove_file(&scratch);
    let eth_hex = hex::encode(eth.secret_bytes());
    let eth_address = EthSigner::local(&LocalKey::new(&eth_hex))
        .map_err(|e| ServiceError::Eth(e.to_string()))?
        .address()
        .to_checksum(None);
    write_new(
        &dir.join("btc-descriptor"),
        &format!("{external}\n{internal}\n"),
    )?;
    write_new(
        &dir.join("btc-htlc-key"),
        &format!("{}\n", hex::encode(htlc.secret_bytes())),
    )?;
    write_new(&dir.join("eth-key"), &format!("{eth_hex}\n"))?;
    Ok(NewKeys {
        btc_address,
        eth_address,
    })
}

/// Publishes inventory, its floors, and pending claims with their deadlines.
pub async fn observe<P: Provider + Clone>(
    r: &Resolver<P>,
    floors: &std::collections::BTreeMap<String, u128>,
) -> Result<(), ServiceError> {
    let floor = |asset: &str, unit: f64| floors.get(asset).map_or(0.0, |f| *f as f64 / unit);
    if let Some(eth) = &r.exec.eth {
        let wei = eth
            .provider
            .get_balance(eth.sender.address())
            .await
            .map_err(|e| ServiceError::Eth(e.to_string()))?;
        let wei: f64 = wei.to_string().parse().unwrap_or(f64::NAN);
        m::inventory("eth", wei / 1e18, floor("eth", 1e18));
    }
    if let Some(btc) = &r.exec.btc {
        let b = btc.wallet.balance();
        m::inventory("btc", b.confirmed.0 as f64 / 1e8, floor("btc", 1e8));
    }
    let mut swaps = Vec::new();
    for id in db::open_swaps(&r.exec.pool).await? {
        if let Some(l) = db::load_swap(&r.exec.pool, id).await? {
            swaps.push(l.swap);
        }
    }
    metrics::gauge!(m::SWAPS_IN_FLIGHT).set(swaps.len() as f64);
    m::publish_claims(&m::claims_view(&swaps));
    Ok(())
}

/// Who this resolver is, for the signer policy.
pub fn identity<P: Provider>(
    config: &Config,
    eth: Option<&EthSide<P>>,
    btc: Option<&BtcSide>,
) -> Identity {
    Identity {
        eth_address: eth.map(|e| crosslock_eth::convert::core_address(e.sender.address())),
        escrow: eth.map(|e| crosslock_eth::convert::core_address(e.escrow)),
        chain_id: config.ethereum.chain_id,
        btc_scripts: btc.map(|b| vec![b.payout.to_bytes()]).unwrap_or_default(),
        btc_htlc_pubkey: btc.map(|b| b.htlc_pubkey().serialize()),
    }
}

/// Docker's HEALTHCHECK: asks the local `grpc.health.v1.Health` for the whole server (`""`).
pub async fn healthcheck(config: &Config) -> Result<(), ServiceError> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut addr = config.server.grpc_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let unhealthy = |e: String| ServiceError::Io(std::io::Error::other(e));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| unhealthy(e.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| unhealthy(e.to_string()))?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|e| unhealthy(e.to_string()))?
        .into_inner()
        .status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        Err(unhealthy(format!("health status {status}")))
    }
}

/// Serves gRPC health (plaintext, for the kubelet's probes) until `stop`. A standby is
/// healthy too: holding the lease is not part of health.
fn serve_health(addr: std::net::SocketAddr, mut stop: tokio::sync::watch::Receiver<bool>) {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        let r = tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_shutdown(addr, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(%addr, error = %e, "health listener failed");
        }
    });
}

/// What the lease holder runs: the executors and, with a relayer and both chains configured,
/// the intake that feeds them.
struct Leader<P> {
    resolver: Resolver<P>,
    intake: Option<Following<P>>,
}

/// The intake and its relayer link (stopped when dropped).
struct Following<P> {
    intake: Intake<P>,
    inbound: tokio::sync::mpsc::Receiver<Inbound>,
    link: tokio::task::JoinHandle<()>,
}

impl<P> Drop for Following<P> {
    fn drop(&mut self) {
        self.link.abort();
    }
}

fn read_pem(path: Option<&std::path::PathBuf>, what: &str) -> Result<String, ServiceError> {
    let p = path.ok_or_else(|| ServiceError::Config(format!("{what} is required")))?;
    std::fs::read_to_string(p).map_err(|e| ServiceError::Config(format!("{what}: {e}")))
}

/// Starts following the relayer and both chains, when all three are configured. Without them
/// the resolver only finishes the swaps already in its log.
async fn start_intake(
    config: &Config,
    r: &mut Resolver<RootProvider>,
    pool: &PgPool,
    lease: &str,
    token: std::sync::Arc<std::sync::atomic::AtomicI64>,
    policy: crate::policy::OrderPolicy,
    reports: tokio::sync::mpsc::UnboundedReceiver<crate::executor::TxReport>,
) -> Option<Following<RootProvider>> {
    let (Some(url), Some(electrum), Some(eth), Some(me)) = (
        config.relayer_url.clone(),
        config.bitcoin.electrum_url.as_deref(),
        r.exec.eth.as_ref(),
        identity_pair(r),
    ) else {
        warn!(
            "relayer, bitcoin or ethereum not configured: taking no orders, finishing the swaps already recorded"
        );
        return None;
    };
    let tls = match (|| -> Result<ClientTls, ServiceError> {
        Ok(ClientTls {
            ca_pem: read_pem(config.tls.relayer_ca_file.as_ref(), "tls.relayer_ca_file")?,
            cert_pem: read_pem(config.tls.cert_file.as_ref(), "tls.cert_file")?,
            key_pem: read_pem(config.tls.key_file.as_ref(), "tls.key_file")?,
            domain: config.tls.relayer_name.clone(),
        })
    })() {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "no client certificate for the relayer: taking no orders");
            return None;
        }
    };
    let network = config.network().ok()?;
    let cursors = PgCursorStore::new(pool.clone(), lease.to_owned(), token);
    let chains = match Chains::open(
        electrum,
        eth.provider.clone(),
        eth.escrow,
        config.ethereum.start_block,
        cursors,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot follow the chains: taking no orders");
            return None;
        }
    };
    let mut intake = match Intake::start(
        r,
        network,
        me,
        policy,
        config.paused,
        chains,
        reports,
        Duration::from_secs(config.follow.tick_secs),
    )
    .await
    {
        Ok(i) => i,
        Err(e) => {
            warn!(error = %e, "cannot start following: taking no orders");
            return None;
        }
    };
    // Read both chains once before any offer can arrive.
    intake.round(r).await;
    let (tx, inbound) = tokio::sync::mpsc::channel(1024);
    let link = tokio::spawn(crate::relayer::link(url, tls, tx));
    Some(Following {
        intake,
        inbound,
        link,
    })
}

/// Runs the resolver until `shutdown` resolves: metrics, database, the lease, and the executors
/// while this replica holds the lease.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    if let Some(handle) = m::install() {
        let mut rx = stop_rx.clone();
        let bound = m::serve(config.server.metrics_addr, handle, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await?;
        info!(%bound, "metrics listening");
    }
    serve_health(config.server.grpc_addr, stop_rx.clone());
    let url = config
        .postgres
        .url
        .as_ref()
        .ok_or_else(|| ServiceError::Config("postgres.url is required".into()))?;
    let pool = db::connect(
        url.expose(),
        config.postgres.max_connections,
        config.postgres.statement_timeout_ms,
    )
    .await?;
    let policy = signer_policy(&config)?;
    let order_policy = crate::policy::OrderPolicy::from_config(&config.policy)
        .map_err(|e| ServiceError::Config(e.to_string()))?;
    let floors = order_policy.inventory_floor.clone();
    metrics::gauge!(m::PAUSED).set(if config.paused { 1.0 } else { 0.0 });
    let failpoint = config
        .failpoint
        .as_deref()
        .map(|f| {
            [
                SignKind::LockDst,
                SignKind::ClaimSrc,
                SignKind::ClaimDst,
                SignKind::RefundDst,
                SignKind::RefundSrc,
            ]
            .into_iter()
            .find(|k| k.name() == f)
            .map(CrashPoint::AfterPersist)
            .ok_or_else(|| ServiceError::Config(format!("unknown failpoint {f:?}")))
        })
        .transpose()?;
    let lease_name = format!("wallet:{}", config.wallet_name);
    let ttl = Duration::from_secs(config.leader.lease_ttl_secs);
    let renew = Duration::from_secs(config.leader.lease_renew_secs);
    let poll_every = Duration::from_millis(config.follow.poll_interval_ms);
    let token_cell = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut leader: Option<Leader<RootProvider>> = None;
    let mut next_renew = tokio::time::Instant::now();
    let mut stop = stop_rx.clone();
    loop {
        if tokio::time::Instant::now() >= next_renew {
            next_renew = tokio::time::Instant::now() + renew;
            match db::lease::acquire(&pool, &lease_name, &config.instance, ttl).await {
                Ok(Some(token)) => {
                    metrics::gauge!(m::IS_LEADER).set(1.0);
                    token_cell.store(token, std::sync::atomic::Ordering::SeqCst);
                    if let Some(l) = leader.as_mut() {
                        l.resolver.exec.fence.token = Some(token);
                        if let Err(e) = l.resolver.exec.poll().await {
                            warn!(error = %e, "outbox follow-up failed");
                        }
                        if let Err(e) = l.resolver.resume().await {
                            if matches!(e, ExecError::SimulatedCrash(_)) {
                                return Err(e.into());
                            }
                            warn!(error = %e, "due actions failed; retrying next round");
                        }
                    } else {
                        info!(token, "took the wallet lease");
                        let eth = eth_side(&config, &pool).await?;
                        let btc = btc_side(&config)?;
                        let me = identity(&config, eth.as_ref(), btc.as_ref());
                        let (report_tx, report_rx) = tokio::sync::mpsc::unbounded_channel();
                        let mut r = Resolver {
                            exec: Executor {
                                pool: pool.clone(),
                                policy: policy.clone(),
                                me,
                                eth,
                                btc,
                                fence: Fence {
                                    name: lease_name.clone(),
                                    token: Some(token),
                                },
                                crash: failpoint,
                                reports: Some(report_tx),
                            },
                        };
                        if let Err(e) = r.resume().await {
                            if matches!(e, ExecError::SimulatedCrash(_)) {
                                return Err(e.into());
                            }
                            warn!(error = %e, "resume incomplete; retrying next round");
                        }
                        let intake = start_intake(
                            &config,
                            &mut r,
                            &pool,
                            &lease_name,
                            token_cell.clone(),
                            order_policy.clone(),
                            report_rx,
                        )
                        .await;
                        leader = Some(Leader {
                            resolver: r,
                            intake,
                        });
                    }
                }
                Ok(None) => {
                    metrics::gauge!(m::IS_LEADER).set(0.0);
                    if leader.take().is_some() {
                        warn!("lost the wallet lease; standing by");
                    }
                }
                Err(e) => {
                    metrics::counter!(m::POSTGRES_ERRORS).increment(1);
                    warn!(error = %e, "lease renewal failed; not acting until it succeeds");
                    leader = None;
                    metrics::gauge!(m::IS_LEADER).set(0.0);
                }
            }
            if let Some(l) = &leader
                && let Err(e) = observe(&l.resolver, &floors).await
            {
                warn!(error = %e, "metrics refresh failed");
            }
        }
        if let Some(l) = leader.as_mut()
            && let Some(f) = l.intake.as_mut()
        {
            f.intake.round(&mut l.resolver).await;
        }
        let wait = if leader.as_ref().is_some_and(|l| l.intake.is_some()) {
            poll_every
        } else {
            renew
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let inbound = async {
                match leader.as_mut().and_then(|l| l.intake.as_mut()) {
                    Some(f) => f.inbound.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                msg = inbound => {
                    if let Some(l) = leader.as_mut()
                        && let Some(f) = l.intake.as_mut()
                        && let Some(msg) = msg
                    {
                        f.intake.on_inbound(&mut l.resolver, msg).await;
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if *stop.borrow() {
            break;
        }
    }
    let resolver = leader.map(|l| l.resolver);
    if let Some(r) = resolver
        && let Some(token) = r.exec.fence.token
    {
        db::lease::release(&pool, &lease_name, token).await?;
        info!("released the wallet lease");
    }
    metrics::gauge!(m::IS_LEADER).set(0.0);
    Ok(())
}
