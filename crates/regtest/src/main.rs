//! `btc-regtest`: runs the regtest node and prints its bound addresses as one JSON line.
#![allow(clippy::print_stdout)] // the address line on stdout is this binary's interface

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

/// A Bitcoin regtest chain validated by Bitcoin Core's libbitcoinkernel, with Electrum and
/// JSON-RPC servers.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Keep the chain in this directory; a restart resumes it.
    #[arg(
        long,
        env = "BTC_REGTEST_DATADIR",
        conflicts_with = "in_memory",
        required_unless_present = "in_memory"
    )]
    datadir: Option<PathBuf>,
    /// Keep nothing: the chain starts at genesis every time.
    #[arg(long)]
    in_memory: bool,
    /// Electrum server address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    electrum: SocketAddr,
    /// JSON-RPC server address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    rpc: SocketAddr,
    /// Require this `user:password` on RPC calls.
    #[arg(long, env = "BTC_REGTEST_RPC_AUTH")]
    rpc_auth: Option<String>,
    /// Mine a block every this many seconds.
    #[arg(long)]
    automine: Option<u64>,
    /// Log as JSON.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let config = crosslock_regtest::Config {
        datadir: if args.in_memory {
            None
        } else {
            args.datadir.clone()
        },
        electrum: args.electrum,
        rpc: args.rpc,
        rpc_auth: args.rpc_auth.clone(),
        automine: args.automine.map(Duration::from_secs),
    };
    let running = crosslock_regtest::start(config)
        .await
        .context("failed to start btc-regtest")?;
    println!(
        "{}",
        serde_json::json!({
            "electrum": running.electrum_addr.to_string(),
            "rpc": running.rpc_addr.to_string(),
            "height": running.node.tip_height().context("failed to read the tip")?,
        })
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("failed to install the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
