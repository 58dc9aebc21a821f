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
use crate::metrics as m;
use crate::policy::SignKind;
use crate::policy::{Identity, SignerPolicy};
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
        let t = db::append(&self.exec.pool, id, event).await?;
        let span = tracing::info_span!("swap", swap_id = %id);
        let _g = span.enter();
        info!(state = ?t.swap.state, actions = t.actions.len(), "event recorded");
        drop(_g);
        self.exec.execute(id, &t.swap, &t.actions).await?;
        Ok(t.swap)
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

fn btc_network(n: crosslock_core::chain::Network) -> bitcoin::Network {
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
    let client = bdk_electrum::electrum_client::Client::new(url)
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
    let floors = crate::policy::OrderPolicy::from_config(&config.policy)
        .map_err(|e| ServiceError::Config(e.to_string()))?
        .inventory_floor;
    metrics::gauge!(m::PAUSED).set(if config.paused { 1.0 } else { 0.0 });
    // The gRPC client (`relayer::answer_offers`) answers offers, but the relayer's swap updates
    // are not yet turned into this resolver's events; until they are, the run loop does not
    // take orders it could not carry out. It finishes every swap already in its log.
    warn!(
        relayer_url = config.relayer_url.as_deref().unwrap_or(""),
        "not subscribing to the relayer yet; finishing the swaps already recorded"
    );
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
    let mut resolver: Option<Resolver<RootProvider>> = None;
    let mut stop = stop_rx.clone();
    loop {
        match db::lease::acquire(&pool, &lease_name, &config.instance, ttl).await {
            Ok(Some(token)) => {
                metrics::gauge!(m::IS_LEADER).set(1.0);
                if resolver.is_none() {
                    info!(token, "took the wallet lease");
                    let eth = eth_side(&config, &pool).await?;
                    let btc = btc_side(&config)?;
                    let me = identity(&config, eth.as_ref(), btc.as_ref());
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
                        },
                    };
                    if let Err(e) = r.resume().await {
                        if matches!(e, ExecError::SimulatedCrash(_)) {
                            return Err(e.into());
                        }
                        warn!(error = %e, "resume incomplete; retrying next round");
                    }
                    resolver = Some(r);
                } else if let Some(r) = resolver.as_mut() {
                    r.exec.fence.token = Some(token);
                    if let Err(e) = r.exec.poll().await {
                        warn!(error = %e, "outbox follow-up failed");
                    }
                    if let Err(e) = r.resume().await {
                        if matches!(e, ExecError::SimulatedCrash(_)) {
                            return Err(e.into());
                        }
                        warn!(error = %e, "due actions failed; retrying next round");
                    }
                }
            }
            Ok(None) => {
                metrics::gauge!(m::IS_LEADER).set(0.0);
                if resolver.take().is_some() {
                    warn!("lost the wallet lease; standing by");
                }
            }
            Err(e) => {
                metrics::counter!(m::POSTGRES_ERRORS).increment(1);
                warn!(error = %e, "lease renewal failed; not acting until it succeeds");
                resolver = None;
                metrics::gauge!(m::IS_LEADER).set(0.0);
            }
        }
        if let Some(r) = &resolver
            && let Err(e) = observe(r, &floors).await
        {
            warn!(error = %e, "metrics refresh failed");
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            () = tokio::time::sleep(renew) => {}
        }
    }
    if let Some(r) = resolver
        && let Some(token) = r.exec.fence.token
    {
        db::lease::release(&pool, &lease_name, token).await?;
        info!("released the wallet lease");
    }
    metrics::gauge!(m::IS_LEADER).set(0.0);
    Ok(())
}
