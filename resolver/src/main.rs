//! The `resolver` binary: parses the layered configuration and calls [`crosslock_resolver::run`]
//! with a shutdown future that resolves on SIGTERM or Ctrl-C.
//!
//! It owns nothing but the process edge: logging setup, `config show` and the exit code.
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Parser;
use crosslock_resolver::config::{Cli, Command, ConfigAction};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crosslock_resolver::relayer::install_crypto();
    let cli = Cli::parse();
    let config = cli
        .overrides
        .load()
        .context("failed to load the configuration")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Config {
            action: ConfigAction::Show,
        } => {
            print!("{}", config.show());
            Ok(())
        }
        Command::Keygen { dir } => {
            let network = config.network().context("network")?;
            let k = crosslock_resolver::service::keygen(&dir, network)
                .context("could not write the keys")?;
            println!("bitcoin receive address: {}", k.btc_address);
            println!("ethereum address: {}", k.eth_address);
            Ok(())
        }
        Command::Healthcheck => crosslock_resolver::healthcheck(&config)
            .await
            .context("resolver is not healthy"),
        Command::Run => {
            init_logs(config.log_json);
            config.check().context("invalid configuration")?;
            match crosslock_resolver::run(config, shutdown_signal()).await {
                // A test's failpoint: die like a SIGKILL, with nothing cleaned up.
                Err(crosslock_resolver::service::ServiceError::Exec(
                    crosslock_resolver::executor::ExecError::SimulatedCrash(what),
                )) => {
                    tracing::error!(%what, "failpoint reached after persisting; aborting");
                    std::process::abort()
                }
                other => other.context("resolver failed"),
            }
        }
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
