//! Wiring: connect Postgres and Redis, migrate, and serve the three gRPC listeners, the metrics
//! listener, the watchers and the sweep until shutdown.
//!
//! Owns the listener layout: public (SwapService, gRPC-Web with a CORS allowlist, health,
//! reflection), resolver (ResolverService over mTLS when configured, health), admin
//! (AdminService, health, reflection), metrics. Every gRPC listener goes through the same
//! permission layer, message size limit and per-call deadline. Listeners are passed in, so tests
//! bind `127.0.0.1:0`. It must never start serving before migrations have run.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crosslock_core::chain::EthAddress;
use crosslock_proto::admin::v1::admin_service_server::AdminServiceServer;
use crosslock_proto::public::v1::swap_service_server::SwapServiceServer;
use crosslock_proto::resolver::v1::resolver_service_server::ResolverServiceServer;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{info, warn};

use crate::api::{Ctx, admin::Admin, public::Public, resolver::Resolvers};
use crate::auth::{AuthLayer, Credentials, digest};
use crate::cache::Cache;
use crate::config::{Config, ConfigError};
use crate::engine::Engine;
use crate::store::{Store, StoreError};
use crate::watcher::{ChainSource, run_sweeper, run_watcher};

/// Why the relayer could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum RunError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Postgres.
    #[error("postgres: {0}")]
    Store(#[from] StoreError),
    /// Redis URL unusable.
    #[error("redis: {0}")]
    Cache(#[from] crate::cache::CacheError),
    /// A TLS file could not be read.
    #[error("tls file {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A chain adapter refused to start (wrong chain, escrow code hash mismatch, node down).
    #[error("chain adapter: {0}")]
    Chains(#[from] crate::chains::ChainsError),
    /// A CORS origin is not a valid header value.
    #[error("cors origin {0:?} is invalid")]
    Cors(String),
}

/// The sockets the relayer serves on.
#[derive(Debug)]
pub struct Listeners {
    /// Public API.
    pub public: TcpListener,
    /// Resolver API.
    pub resolver: TcpListener,
    /// Admin API.
    pub admin: TcpListener,
    /// Metrics.
    pub metrics: TcpListener,
}

impl Listeners {
    /// Bind the configured addresses.
    pub async fn bind(c: &Config) -> std::io::Result<Listeners> {
        Ok(Listeners {
            public: TcpListener::bind(c.listen.public).await?,
            resolver: TcpListener::bind(c.listen.resolver).await?,
            admin: TcpListener::bind(c.listen.admin).await?,
            metrics: TcpListener::bind(c.listen.metrics).await?,
        })
    }
}

fn credentials(c: &Config) -> Credentials {
    let mut creds = Credentials::default();
    for r in &c.resolvers {
        if let Some(t) = &r.token {
            creds
                .resolver_tokens
                .insert(digest(t.expose().as_bytes()), r.name.clone());
        }
        if let Some(fp) = &r.cert_sha256
            && let Ok(b) = hex::decode(fp)
            && let Ok(a) = <[u8; 32]>::try_from(b.as_slice())
        {
            creds.resolver_certs.insert(a, r.name.clone());
        }
    }
    for a in &c.admins {
        creds
            .admin_tokens
            .insert(digest(a.token.expose().as_bytes()), a.name.clone());
    }
    creds
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, RunError> {
    std::fs::read(path).map_err(|source| RunError::TlsFile {
        path: path.display().to_string(),
        source,
    })
}

fn cors(c: &Config) -> Result<CorsLayer, RunError> {
    let mut origins = Vec::new();
    for o in &c.cors_origins {
        origins.push(http::HeaderValue::from_str(o).map_err(|_| RunError::Cors(o.clone()))?);
    }
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([http::Method::POST])
        .allow_headers([
            http::header::CONTENT_TYPE,
            http::header::AUTHORIZATION,
            http::HeaderName::from_static("x-grpc-web"),
            http::HeaderName::from_static("x-user-agent"),
            http::HeaderName::from_static("grpc-timeout"),
        ])
        .expose_headers([
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("grpc-status-details-bin"),
        ])
        .max_age(Duration::from_secs(600)))
}

/// Run with no chain adapters (they are added with [`run_with_sources`]).
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_with_sources(config, listeners, Vec::new(), shutdown).await
}

/// Run until `shutdown` completes, with a watcher per configured chain adapter and per extra
/// source passed in.
pub async fn run_with_sources(
    config: Config,
    listeners: Listeners,
    sources: Vec<Box<dyn ChainSource>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    config.validate()?;
    // Two rustls providers are linked in (ring for tonic, aws-lc for alloy's HTTPS RPC) and
    // rustls refuses to guess; a second install (tests start many relayers) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let network = config.network()?;
    let store = Store::connect(
        config.database_url.expose(),
        config.database_max_connections,
    )
    .await?;
    store.migrate().await?;
    let cache = if config.redis_url.expose().is_empty() {
        warn!("no redis configured: running without cache, pub/sub and rate limits");
        Cache::disabled()
    } else {
        Cache::connect(config.redis_url.expose(), &config.redis_prefix).await?
    };
    // Before anything is served: a wrong escrow must stop the relayer, not just its watcher.
    let mut adapters = crate::chains::connect(&config, &store, cache.subscribe_local()).await?;
    adapters.sources.extend(sources);
    let engine = Engine::new(store, cache.clone(), &config.replica);
    let escrow = if config.escrow_contract.is_empty() {
        None
    } else {
        EthAddress::parse(&config.escrow_contract).ok()
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Ctx {
        engine: engine.clone(),
        network,
        quote: Arc::new(config.quote.clone()),
        escrow,
        rate_limit: config.limits.rate_limit_per_minute,
        ladder: config.ladder.policy()?,
        shutdown: stop_rx.clone(),
    };
    info!(
        public = ?listeners.public.local_addr().ok(),
        resolver = ?listeners.resolver.local_addr().ok(),
        admin = ?listeners.admin.local_addr().ok(),
        metrics = ?listeners.metrics.local_addr().ok(),
        "listening"
    );
    let handle = crate::metrics::install();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(cache.run_subscriber(stop_rx.clone()));
    tasks.spawn(crate::metrics::serve(
        listeners.metrics,
        handle,
        stop_rx.clone(),
    ));
    let lease_ttl = Duration::from_secs(config.lease_ttl_secs.max(3));
    tasks.spawn(run_sweeper(
        engine.clone(),
        Duration::from_secs(config.sweep_interval_secs.max(1)),
        lease_ttl,
        stop_rx.clone(),
    ));
    if adapters.sources.is_empty() {
        warn!("no chain adapters wired: swaps will not see chain events");
    }
    for s in adapters.sources {
        tasks.spawn(run_watcher(engine.clone(), s, lease_ttl, stop_rx.clone()));
    }
    if let Some(btc) = adapters.btc {
        tasks.spawn(crate::dispatch::run_dispatcher(
            engine.clone(),
            btc,
            Duration::from_millis(config.dispatch.interval_ms.max(1)),
            crate::dispatch::RetryPolicy::from_config(&config.dispatch),
            lease_ttl,
            stop_rx.clone(),
        ));
    }

    let creds = Arc::new(credentials(&config));
    let limit = config.limits.max_message_bytes;
    let timeout = Duration::from_secs(config.limits.request_timeout_secs);
    let per_conn = config.limits.concurrency_per_connection;
    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<SwapServiceServer<Public>>().await;
    health
        .set_serving::<ResolverServiceServer<Resolvers>>()
        .await;
    health.set_serving::<AdminServiceServer<Admin>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crosslock_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
    };
    let reflection_alpha = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crosslock_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
    };
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let public = Server::builder()
        .accept_http1(true)
        .timeout(timeout)
        .concurrency_limit_per_connection(per_conn)
        .layer(cors(&config)?)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(AuthLayer::new(creds.clone()))
        .add_service(
            SwapServiceServer::new(Public::new(ctx.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(health_svc.clone())
        .add_service(reflection()?)
        .add_service(reflection_alpha()?)
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listeners.public),
            stopped(stop_rx.clone()),
        );

    let mut resolver_builder = Server::builder();
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
        if let Some(ca) = &config.tls.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        resolver_builder = resolver_builder.tls_config(tls)?;
    } else {
        warn!("resolver listener without TLS: resolvers authenticate by token only");
    }
    let resolver = resolver_builder
        .timeout(timeout)
        .concurrency_limit_per_connection(per_conn)
        .layer(AuthLayer::new(creds.clone()))
        .add_service(
            ResolverServiceServer::new(Resolvers::new(ctx.clone()))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(health_svc.clone())
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listeners.resolver),
            stopped(stop_rx.clone()),
        );

    let admin = Server::builder()
        .timeout(timeout)
        .concurrency_limit_per_connection(per_conn)
        .layer(AuthLayer::new(creds))
        .add_service(
            AdminServiceServer::new(Admin::new(ctx))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
        .add_service(health_svc)
        .add_service(reflection()?)
        .add_service(reflection_alpha()?)
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listeners.admin),
            stopped(stop_rx.clone()),
        );

    info!(network = %network, replica = %config.replica, "relayer serving");
    let (a, b, c) = tokio::join!(public, resolver, admin);
    a?;
    b?;
    c?;
    tasks.shutdown().await;
    info!("relayer stopped");
    Ok(())
}
