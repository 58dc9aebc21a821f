//! `relayer`: parse the configuration (defaults, TOML file, `RELAYER_*` env, flags), then run
//! until SIGINT or SIGTERM, or print the effective configuration.

// The binary prints `config show` to stdout on purpose.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use crosslock_relayer::config::{Config, Sensitive};
use crosslock_relayer::{Listeners, run};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "relayer",
    version,
    about = "crosslock relayer: swap coordinator and gRPC API"
)]
struct Cli {
    /// TOML config file (layered over the defaults).
    #[arg(long, short, env = "RELAYER_CONFIG")]
    config: Option<PathBuf>,
    /// mainnet, testnet, signet or regtest.
    #[arg(long, env = "RELAYER_NETWORK")]
    network: Option<String>,
    /// Postgres URL.
    #[arg(long, env = "RELAYER_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Redis URL (empty: no Redis).
    #[arg(long, env = "RELAYER_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Prefix of Redis keys.
    #[arg(long, env = "RELAYER_REDIS_PREFIX")]
    redis_prefix: Option<String>,
    /// This replica's name.
    #[arg(long, env = "RELAYER_REPLICA")]
    replica: Option<String>,
    /// Public listener.
    #[arg(long, env = "RELAYER_LISTEN_PUBLIC")]
    listen_public: Option<SocketAddr>,
    /// Resolver listener.
    #[arg(long, env = "RELAYER_LISTEN_RESOLVER")]
    listen_resolver: Option<SocketAddr>,
    /// Admin listener.
    #[arg(long, env = "RELAYER_LISTEN_ADMIN")]
    listen_admin: Option<SocketAddr>,
    /// Metrics listener.
    #[arg(long, env = "RELAYER_LISTEN_METRICS")]
    listen_metrics: Option<SocketAddr>,
    /// The escrow contract address.
    #[arg(long, env = "RELAYER_ESCROW_CONTRACT")]
    escrow_contract: Option<String>,
    /// Ethereum JSON-RPC URL (empty: Ethereum unwatched).
    #[arg(long, env = "RELAYER_ETHEREUM_RPC_URL", hide_env_values = true)]
    ethereum_rpc_url: Option<String>,
    /// The chain id the Ethereum node must report.
    #[arg(long, env = "RELAYER_ETHEREUM_CHAIN_ID")]
    ethereum_chain_id: Option<u64>,
    /// First block the escrow watcher scans without a cursor.
    #[arg(long, env = "RELAYER_ETHEREUM_START_BLOCK")]
    ethereum_start_block: Option<u64>,
    /// Electrum server, tcp://host:port (empty: Bitcoin unwatched).
    #[arg(long, env = "RELAYER_BITCOIN_ELECTRUM_URL")]
    bitcoin_electrum_url: Option<String>,
    /// JSON logs.
    #[arg(long, env = "RELAYER_LOG_JSON")]
    log_json: Option<bool>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relayer (the default).
    Run,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets as ***.
    Show,
}

fn effective(cli: &Cli) -> anyhow::Result<Config> {
    let mut c = match &cli.config {
        Some(p) => Config::from_file(p).context("failed to load the config file")?,
        None => Config::default(),
    };
    if let Some(v) = &cli.network {
        c.network.clone_from(v);
    }
    if let Some(v) = &cli.database_url {
        c.database_url = Sensitive(v.clone());
    }
    if let Some(v) = &cli.redis_url {
        c.redis_url = Sensitive(v.clone());
    }
    if let Some(v) = &cli.redis_prefix {
        c.redis_prefix.clone_from(v);
    }
    if let Some(v) = &cli.replica {
        c.replica.clone_from(v);
    }
    if let Some(v) = cli.listen_public {
        c.listen.public = v;
    }
    if let Some(v) = cli.listen_resolver {
        c.listen.resolver = v;
    }
    if let Some(v) = cli.listen_admin {
        c.listen.admin = v;
    }
    if let Some(v) = cli.listen_metrics {
        c.listen.metrics = v;
    }
    if let Some(v) = &cli.escrow_contract {
        c.escrow_contract.clone_from(v);
    }
    if let Some(v) = &cli.ethereum_rpc_url {
        c.chains.eth_rpc_url = Sensitive(v.clone());
    }
    if let Some(v) = cli.ethereum_chain_id {
        c.chains.eth_chain_id = v;
    }
    if let Some(v) = cli.ethereum_start_block {
        c.chains.eth_start_block = v;
    }
    if let Some(v) = &cli.bitcoin_electrum_url {
        c.chains.electrum_url.clone_from(v);
    }
    if let Some(v) = cli.log_json {
        c.log_json = v;
    }
    c.validate().context("invalid configuration")?;
    Ok(c)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = effective(&cli)?;
    if let Some(Command::Config {
        what: ConfigCommand::Show,
    }) = &cli.command
    {
        print!("{}", config.show());
        return Ok(());
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let listeners = Listeners::bind(&config)
        .await
        .context("failed to bind the listeners")?;
    run(config, listeners, shutdown_signal())
        .await
        .context("relayer failed")
}
