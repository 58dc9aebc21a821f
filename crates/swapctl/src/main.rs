//! `swapctl`: the maker's swap client and the operator's admin tool.
//!
//! Maker commands talk to the relayer's public API and keep the maker's secrets and keys in a
//! local 0600 state file, written before any order leaves the machine. Operator commands talk
//! to the admin API with a token (and TLS client certificate when configured). Every command
//! validates its input before it writes or sends anything, prints a table by default and JSON
//! with `--json`, and exits nonzero with a clear message on any error.

// A command-line tool: printing results to stdout and progress to stderr is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod admin;
mod btc;
mod check;
mod eth;
mod funding;
mod gate;
mod maker;
mod render;
mod rpc;
mod state;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "swapctl",
    version,
    about = "crosslock swap client (maker) and admin tool (operator)"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Settings every command shares; each has a `SWAPCTL_*` variable.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The relayer's public API.
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_RELAYER_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub(crate) relayer_url: String,
    /// The relayer's admin API.
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_ADMIN_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub(crate) admin_url: String,
    /// Operator token for the admin API (prefer --admin-token-file).
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub(crate) admin_token: Option<String>,
    /// File holding the operator token.
    #[arg(long, global = true, env = "SWAPCTL_ADMIN_TOKEN_FILE")]
    pub(crate) admin_token_file: Option<PathBuf>,
    /// CA certificate (PEM) of an https admin URL.
    #[arg(long, global = true, env = "SWAPCTL_ADMIN_CA_FILE")]
    pub(crate) admin_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS to the admin API.
    #[arg(long, global = true, env = "SWAPCTL_ADMIN_CERT_FILE")]
    pub(crate) admin_cert_file: Option<PathBuf>,
    /// Key (PEM) of --admin-cert-file.
    #[arg(long, global = true, env = "SWAPCTL_ADMIN_KEY_FILE")]
    pub(crate) admin_key_file: Option<PathBuf>,
    /// The maker's Electrum server (Bitcoin tip, wallet, funding, refunds), tcp://host:port.
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_ELECTRUM_URL",
        default_value = "tcp://127.0.0.1:50001"
    )]
    pub(crate) electrum_url: String,
    /// Ethereum JSON-RPC URL (ETH funding and refunds).
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_ETH_RPC_URL",
        default_value = "http://127.0.0.1:8545"
    )]
    pub(crate) eth_rpc_url: String,
    /// The maker's Bitcoin wallet key file (JSON with two descriptors, mode 0600); default
    /// `btc-wallet.json` beside the state file. Its wallet data is kept in `<file>.bdk`.
    #[arg(long, global = true, env = "SWAPCTL_BTC_WALLET")]
    pub(crate) btc_wallet: Option<PathBuf>,
    /// File holding the maker's Ethereum private key, hex (mode 0600).
    #[arg(long, global = true, env = "SWAPCTL_ETH_KEY_FILE")]
    pub(crate) eth_key_file: Option<PathBuf>,
    /// Fee rate (sat/vB) for the BTC funding and refunds; Electrum's estimate when absent.
    #[arg(long, global = true, env = "SWAPCTL_BTC_FEE_RATE", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub(crate) btc_fee_rate: Option<u64>,
    /// Fee rates (sat/vB, rising) of the pre-signed claims sent with an eth-to-btc reveal.
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_CLAIM_FEE_RATES",
        default_value = "1,2,5,10,25,50"
    )]
    pub(crate) claim_fee_rates: String,
    /// The escrow contract's address (checked against the relayer's record).
    #[arg(long, global = true, env = "SWAPCTL_ESCROW_ADDRESS")]
    pub(crate) escrow_address: Option<String>,
    /// mainnet, testnet, signet or regtest: picks the protocol's safety parameters.
    #[arg(
        long,
        global = true,
        env = "SWAPCTL_NETWORK",
        default_value = "regtest"
    )]
    pub(crate) network: String,
    /// The maker's state file (secrets and keys; created with mode 0600).
    #[arg(long, global = true, env = "SWAPCTL_STATE_FILE")]
    pub(crate) state_file: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true, env = "SWAPCTL_JSON")]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Price a swap.
    Quote(maker::QuoteArgs),
    /// Start a swap: make a secret, store it, submit the order, then follow it.
    Swap {
        #[command(subcommand)]
        way: maker::SwapWay,
    },
    /// Fund a matched swap's source lock now (once: a recorded funding is only sent again).
    Fund(maker::IdArgs),
    /// Hand the secret to the relayer once both locks are final and time is left (with the
    /// signed claims of the BTC HTLC for eth-to-btc).
    Reveal(maker::RevealArgs),
    /// Take the source lock back once its timeout is reached (refused earlier, with the wait).
    Refund(maker::IdArgs),
    /// The maker's Bitcoin wallet.
    Wallet {
        #[command(subcommand)]
        what: btc::WalletCommand,
    },
    /// Show one swap, or every swap in the state file.
    Status(maker::StatusArgs),
    /// Operator commands over the admin API.
    Admin {
        #[command(subcommand)]
        what: admin::AdminCommand,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Global {
    pub(crate) fn network(&self) -> anyhow::Result<crosslock_core::chain::Network> {
        use crosslock_core::chain::Network as N;
        match self.network.as_str() {
            "mainnet" => Ok(N::Mainnet),
            "testnet" => Ok(N::Testnet),
            "signet" => Ok(N::Signet),
            "regtest" => Ok(N::Regtest),
            _ => anyhow::bail!("--network must be mainnet, testnet, signet or regtest"),
        }
    }

    pub(crate) fn state(&self) -> anyhow::Result<state::StateFile> {
        let path = match &self.state_file {
            Some(p) => p.clone(),
            None => {
                let home = std::env::var_os("HOME")
                    .context("no HOME: pass --state-file or SWAPCTL_STATE_FILE")?;
                PathBuf::from(home).join(".local/share/crosslock/swapctl-state.json")
            }
        };
        Ok(state::StateFile::new(path))
    }

    pub(crate) fn admin_auth(&self) -> anyhow::Result<rpc::AdminAuth> {
        let token = match (&self.admin_token, &self.admin_token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| {
                        format!("failed to read the admin token file {}", f.display())
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if self.admin_cert_file.is_some() != self.admin_key_file.is_some() {
            anyhow::bail!("--admin-cert-file and --admin-key-file go together");
        }
        Ok(rpc::AdminAuth {
            token: token.map(state::Hidden),
            ca_file: self.admin_ca_file.clone(),
            cert_file: self.admin_cert_file.clone(),
            key_file: self.admin_key_file.clone(),
        })
    }
}

/// Print a JSON value (pretty) or a text block.
pub(crate) fn emit(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
        );
    } else {
        print!("{}", text());
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Quote(a) => maker::quote(g, a).await,
        Command::Swap { way } => maker::swap(g, way).await,
        Command::Fund(a) => maker::fund(g, a).await,
        Command::Reveal(a) => maker::reveal(g, a).await,
        Command::Refund(a) => maker::refund(g, a).await,
        Command::Wallet { what } => btc::wallet_command(g, what),
        Command::Status(a) => maker::status(g, a).await,
        Command::Admin { what } => admin::run(g, what).await,
        Command::Completions { shell } => {
            use clap_complete::Shell as S;
            let s = match shell {
                Shell::Bash => S::Bash,
                Shell::Zsh => S::Zsh,
                Shell::Fish => S::Fish,
                Shell::Elvish => S::Elvish,
                Shell::Powershell => S::PowerShell,
            };
            clap_complete::generate(s, &mut Cli::command(), "swapctl", &mut std::io::stdout());
            Ok(())
        }
    }
}
