//! The resolver's configuration: built-in defaults, then the TOML file, then `RESOLVER_*`
//! environment variables and command-line flags (clap reads both, flags win).
//!
//! Owns the shape of every setting and where secrets come from. Secrets (the database URL, keys,
//! descriptors) are read from files named by `*_FILE` settings, or from the environment in
//! development, and are held in [`Sensitive`], whose `Debug` and serialised form are `***`. It
//! must never hold a protocol safety margin: those are per-network code in `crosslock-core`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use crosslock_core::chain::Network;
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// A secret value: never printed, never serialised in clear.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Sensitive {
        Sensitive(s.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Sensitive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Why the configuration could not be built.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file is not valid for this version.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A required setting is missing.
    #[error("missing setting: {0}")]
    Missing(&'static str),
    /// A setting has a value that cannot be right.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// Listening addresses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// gRPC health (plaintext, for the kubelet's probes).
    pub grpc_addr: SocketAddr,
    /// Admin API (kill switch, pause).
    pub admin_addr: SocketAddr,
    /// Prometheus `/metrics`, plain HTTP, on its own port.
    pub metrics_addr: SocketAddr,
    /// SHA-256 (hex) of the operator token the admin API accepts.
    pub admin_token_sha256: Option<Sensitive>,
    /// How long in-flight work may take after SIGTERM before the process exits.
    pub shutdown_grace_secs: u64,
}

impl Default for Server {
    fn default() -> Self {
        // Loopback by default; the deployed TOML binds all interfaces and NetworkPolicies decide.
        Server {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 50053)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            admin_token_sha256: None,
            shutdown_grace_secs: 90,
        }
    }
}

/// The wallet lease: one active resolver per wallet across replicas.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Leader {
    /// A lease not renewed for this long may be taken by a standby.
    pub lease_ttl_secs: u64,
    /// How often the holder renews.
    pub lease_renew_secs: u64,
}

impl Default for Leader {
    fn default() -> Self {
        Leader {
            lease_ttl_secs: 20,
            lease_renew_secs: 5,
        }
    }
}

/// Postgres.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Postgres {
    /// The connection URL; from `RESOLVER_DATABASE_URL_FILE` in deployments.
    pub url: Option<Sensitive>,
    /// Pool size.
    pub max_connections: u32,
    /// Per-statement timeout.
    pub statement_timeout_ms: u64,
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            url: None,
            max_connections: 10,
            statement_timeout_ms: 5_000,
        }
    }
}

/// The Bitcoin side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Bitcoin {
    /// Electrum server, `tcp://host:port` or `ssl://host:port`.
    pub electrum_url: Option<String>,
    /// The hot wallet's descriptors: the external one on the first line, the internal (change)
    /// one on the second. Private keys inside; from `RESOLVER_BTC_DESCRIPTOR_FILE`.
    pub descriptor: Option<Sensitive>,
    /// The key that signs HTLC claims (BTC -> ETH) and refunds (ETH -> BTC): 32 bytes hex.
    pub htlc_key: Option<Sensitive>,
    /// Where the wallet keeps its changeset file (an emptyDir is enough: it is rebuilt by sync).
    pub wallet_dir: Option<PathBuf>,
    /// The fee rate of a first claim, refund or funding far from its deadline (sat/vB).
    pub fee_rate_sat_vb: Option<u64>,
    /// Never pay more than this for a claim, refund or funding (sat/vB); the escalation stops
    /// there and alerts.
    pub max_fee_rate_sat_vb: Option<u64>,
}

/// Which Ethereum signer.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EthSignerKind {
    /// A key file (development).
    #[default]
    Local,
    /// AWS KMS (`kms` feature).
    Kms,
}

/// The Ethereum side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Ethereum {
    /// JSON-RPC endpoint.
    pub rpc_url: Option<String>,
    /// Checked against the node and the network at start.
    pub chain_id: Option<u64>,
    /// The escrow contract (EIP-55).
    pub escrow_contract: Option<String>,
    /// `local` or `kms`.
    pub signer: EthSignerKind,
    /// The local key (hex), from `RESOLVER_ETH_KEY_FILE`.
    pub key: Option<Sensitive>,
    /// The KMS key id or alias.
    pub kms_key_id: Option<String>,
    /// Never offer more than this per gas (gwei).
    pub max_fee_gwei: Option<u64>,
    /// First block the escrow watcher scans when it has no cursor yet: the escrow's deployment
    /// block.
    pub start_block: u64,
}

/// How the resolver follows the chains for its swaps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Follow {
    /// Pause between two looks at both chains (milliseconds).
    pub poll_interval_ms: u64,
    /// Every open swap hears the clock at least this often (seconds), and at every new Bitcoin
    /// block; refunds and fee bumps become due on these ticks.
    pub tick_secs: u64,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            poll_interval_ms: 1_000,
            tick_secs: 15,
        }
    }
}

/// Mutual TLS to the relayer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Our client certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// Its key (PEM).
    pub key_file: Option<PathBuf>,
    /// The CA that signed the relayer's certificate.
    pub relayer_ca_file: Option<PathBuf>,
    /// The name the relayer's certificate carries, when it is not the URL's host.
    pub relayer_name: Option<String>,
}

/// The signer policy's limits. Checked in front of every signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SignerLimits {
    /// Refuse every signature (claims included: decide with the deadlines in view).
    pub kill_switch: bool,
    /// At most this many locks signed per rolling hour.
    pub max_swaps_per_hour: u32,
    /// Largest single lock or claim, per asset (`btc` in sats, `eth` in wei, `0x...` token
    /// units), as decimal strings.
    pub swap_cap: BTreeMap<String, String>,
    /// Largest total locked per rolling hour, per asset.
    pub hourly_cap: BTreeMap<String, String>,
    /// Extra addresses a claim may pay, besides our own wallets (EIP-55 or Bitcoin addresses).
    pub allowlist: Vec<String>,
}

impl Default for SignerLimits {
    fn default() -> Self {
        SignerLimits {
            kill_switch: false,
            max_swaps_per_hour: 500,
            swap_cap: BTreeMap::new(),
            hourly_cap: BTreeMap::new(),
            allowlist: Vec::new(),
        }
    }
}

/// One pair the resolver quotes, with its limits and price.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    /// What the maker gives: `btc`, `eth` or a token address.
    pub src: String,
    /// What the maker takes.
    pub dst: String,
    /// Smallest src amount, base units, decimal.
    pub min_src: String,
    /// Largest src amount, base units, decimal.
    pub max_src: String,
    /// dst base units per 10^18 src base units, before the spread.
    pub price_e18: String,
    /// Our margin, in basis points: the maker must ask for at most price * (1 - spread).
    pub spread_bps: u32,
}

/// What orders the resolver takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The pairs; an order for any other pair is declined.
    pub pairs: Vec<PairConfig>,
    /// Keep at least this much of each asset unlocked (base units, decimal); below it, orders
    /// that need the asset are declined.
    pub inventory_floor: BTreeMap<String, String>,
    /// Most of each asset locked in open swaps at once (base units, decimal).
    pub max_exposure: BTreeMap<String, String>,
    /// Most swaps open at once.
    pub max_open_swaps: u32,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// mainnet, testnet, signet, regtest.
    pub network: String,
    /// This replica's name (the pod name); the lease holder.
    pub instance: String,
    /// The wallet this resolver signs for; one active resolver per wallet.
    pub wallet_name: String,
    /// JSON logs.
    pub log_json: bool,
    /// The relayer's resolver API (mutual TLS).
    pub relayer_url: Option<String>,
    /// Start with new locks paused (claims and refunds never pause).
    pub paused: bool,
    /// Listeners.
    pub server: Server,
    /// The wallet lease.
    pub leader: Leader,
    /// Postgres.
    pub postgres: Postgres,
    /// Bitcoin.
    pub bitcoin: Bitcoin,
    /// Ethereum.
    pub ethereum: Ethereum,
    /// mTLS.
    pub tls: Tls,
    /// Signer limits.
    pub signer: SignerLimits,
    /// Order policy.
    pub policy: PolicyConfig,
    /// How this resolver follows the chains and the clock.
    pub follow: Follow,
    /// Test-only kill point: the process aborts right after persisting this kind of
    /// transaction (`lock`, `claim_src`, `claim_dst`, `refund_dst`, `refund_src`), before
    /// broadcasting it. Never read from the file, never shown.
    #[serde(skip)]
    pub failpoint: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network: "regtest".into(),
            instance: "resolver".into(),
            wallet_name: "default".into(),
            log_json: false,
            relayer_url: None,
            paused: false,
            server: Server::default(),
            leader: Leader::default(),
            postgres: Postgres::default(),
            bitcoin: Bitcoin::default(),
            ethereum: Ethereum::default(),
            tls: Tls::default(),
            signer: SignerLimits::default(),
            policy: PolicyConfig::default(),
            follow: Follow::default(),
            failpoint: None,
        }
    }
}

impl Config {
    /// The network, parsed.
    pub fn network(&self) -> Result<Network, ConfigError> {
        parse_network(&self.network)
    }

    /// The effective configuration as TOML, secrets as `***`.
    pub fn show(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Checks what `run` needs and what can be checked without I/O.
    pub fn check(&self) -> Result<(), ConfigError> {
        let network = self.network()?;
        if self.postgres.url.is_none() {
            return Err(ConfigError::Missing(
                "postgres.url (RESOLVER_DATABASE_URL or RESOLVER_DATABASE_URL_FILE)",
            ));
        }
        if self.leader.lease_renew_secs == 0
            || self.leader.lease_renew_secs.saturating_mul(2) > self.leader.lease_ttl_secs
        {
            return Err(ConfigError::Invalid {
                name: "leader",
                reason: "lease_renew_secs must be positive and at most half of lease_ttl_secs"
                    .into(),
            });
        }
        if self.follow.poll_interval_ms == 0 || self.follow.tick_secs == 0 {
            return Err(ConfigError::Invalid {
                name: "follow",
                reason: "poll_interval_ms and tick_secs must be positive".into(),
            });
        }
        if let Some(id) = self.ethereum.chain_id {
            let want = network.params().eth_chain_id.0;
            if id != want {
                return Err(ConfigError::Invalid {
                    name: "ethereum.chain_id",
                    reason: format!("{network:?} uses chain {want}, not {id}"),
                });
            }
        }
        Ok(())
    }
}

/// `mainnet`, `testnet`, `signet`, `regtest`.
pub fn parse_network(s: &str) -> Result<Network, ConfigError> {
    match s {
        "mainnet" => Ok(Network::Mainnet),
        "testnet" => Ok(Network::Testnet),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(ConfigError::Invalid {
            name: "network",
            reason: format!("unknown network {other:?}"),
        }),
    }
}

/// The command line. Every flag can also come from its `RESOLVER_*` variable.
#[derive(Debug, Parser)]
#[command(name = "resolver", version, about = "crosslock resolver")]
pub struct Cli {
    /// Overrides for the configuration file's settings.
    #[command(flatten)]
    pub overrides: Overrides,
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the resolver (the default).
    Run,
    /// Print the effective configuration, secrets as ***.
    Config {
        /// What to do with it.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Ask the local gRPC health endpoint; exit 0 when serving (for Docker's HEALTHCHECK).
    Healthcheck,
    /// Make a new hot wallet: writes `btc-descriptor` (external and internal descriptor, one per
    /// line), `btc-htlc-key` and `eth-key` (hex) into DIR with mode 0600, refusing to overwrite,
    /// and prints the first Bitcoin receive address and the Ethereum address to fund.
    Keygen {
        /// Where to write the key files.
        dir: PathBuf,
    },
}

/// `resolver config ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration.
    Show,
}

/// Layered settings: each is `None` unless given as a flag or in the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// The TOML file.
    #[arg(long = "config", env = "RESOLVER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// mainnet, testnet, signet, regtest.
    #[arg(long, env = "RESOLVER_NETWORK", global = true)]
    pub network: Option<String>,
    /// This replica's name.
    #[arg(long, env = "RESOLVER_INSTANCE", global = true)]
    pub instance: Option<String>,
    /// The wallet name the lease is taken for.
    #[arg(long, env = "RESOLVER_WALLET_NAME", global = true)]
    pub wallet_name: Option<String>,
    /// JSON logs.
    #[arg(long, env = "RESOLVER_LOG_JSON", global = true)]
    pub log_json: Option<bool>,
    /// The relayer's resolver API.
    #[arg(long, env = "RESOLVER_RELAYER_URL", global = true)]
    pub relayer_url: Option<String>,
    /// Postgres URL (development; deployments use the _FILE variant).
    #[arg(
        long,
        env = "RESOLVER_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// File holding the Postgres URL.
    #[arg(long, env = "RESOLVER_DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
    /// Electrum server.
    #[arg(long, env = "RESOLVER_BITCOIN_ELECTRUM_URL", global = true)]
    pub bitcoin_electrum_url: Option<String>,
    /// File with the wallet descriptors (external, then internal, one per line).
    #[arg(long, env = "RESOLVER_BTC_DESCRIPTOR_FILE", global = true)]
    pub btc_descriptor_file: Option<PathBuf>,
    /// File with the HTLC signing key (hex).
    #[arg(long, env = "RESOLVER_BTC_HTLC_KEY_FILE", global = true)]
    pub btc_htlc_key_file: Option<PathBuf>,
    /// Where the wallet file lives.
    #[arg(long, env = "RESOLVER_BTC_WALLET_DIR", global = true)]
    pub btc_wallet_dir: Option<PathBuf>,
    /// Ethereum JSON-RPC.
    #[arg(long, env = "RESOLVER_ETHEREUM_RPC_URL", global = true)]
    pub ethereum_rpc_url: Option<String>,
    /// Ethereum chain id.
    #[arg(long, env = "RESOLVER_ETHEREUM_CHAIN_ID", global = true)]
    pub ethereum_chain_id: Option<u64>,
    /// The escrow contract.
    #[arg(long, env = "RESOLVER_ESCROW_CONTRACT", global = true)]
    pub escrow_contract: Option<String>,
    /// `local` or `kms`.
    #[arg(long, env = "RESOLVER_ETH_SIGNER", global = true)]
    pub eth_signer: Option<EthSignerKind>,
    /// File with the local Ethereum key (hex).
    #[arg(long, env = "RESOLVER_ETH_KEY_FILE", global = true)]
    pub eth_key_file: Option<PathBuf>,
    /// KMS key id or alias.
    #[arg(long, env = "RESOLVER_ETH_KMS_KEY_ID", global = true)]
    pub eth_kms_key_id: Option<String>,
    /// The escrow's deployment block, where the watcher starts without a cursor.
    #[arg(long, env = "RESOLVER_ETH_START_BLOCK", global = true)]
    pub eth_start_block: Option<u64>,
    /// Our client certificate for the relayer.
    #[arg(long, env = "RESOLVER_TLS_CERT_FILE", global = true)]
    pub tls_cert_file: Option<PathBuf>,
    /// Its key.
    #[arg(long, env = "RESOLVER_TLS_KEY_FILE", global = true)]
    pub tls_key_file: Option<PathBuf>,
    /// The relayer's CA.
    #[arg(long, env = "RESOLVER_RELAYER_CA_FILE", global = true)]
    pub relayer_ca_file: Option<PathBuf>,
    /// The name on the relayer's certificate, when it is not the URL's host.
    #[arg(long, env = "RESOLVER_RELAYER_TLS_NAME", global = true)]
    pub relayer_tls_name: Option<String>,
    /// File with the SHA-256 (hex) of the operator token for the admin API.
    #[arg(long, env = "RESOLVER_ADMIN_TOKEN_SHA256_FILE", global = true)]
    pub admin_token_sha256_file: Option<PathBuf>,
    /// Metrics listener.
    #[arg(long, env = "RESOLVER_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
    /// Health listener.
    #[arg(long, env = "RESOLVER_GRPC_ADDR", global = true)]
    pub grpc_addr: Option<SocketAddr>,
    /// Refuse every signature.
    #[arg(long, env = "RESOLVER_KILL_SWITCH", global = true)]
    pub kill_switch: Option<bool>,
    /// Test-only: abort right after persisting this kind of transaction.
    #[arg(long, env = "RESOLVER_FAILPOINT", hide = true, global = true)]
    pub failpoint: Option<String>,
}

impl Overrides {
    /// Builds the effective configuration: defaults, the TOML file, then these overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(path) => from_file(path)?,
            None => Config::default(),
        };
        set(&mut c.network, self.network.clone());
        set(&mut c.instance, self.instance.clone());
        set(&mut c.wallet_name, self.wallet_name.clone());
        set(&mut c.log_json, self.log_json);
        some(&mut c.relayer_url, self.relayer_url.clone());
        if let Some(p) = &self.database_url_file {
            c.postgres.url = Some(read_secret(p)?);
        }
        if let Some(u) = &self.database_url {
            c.postgres.url = Some(Sensitive::new(u.clone()));
        }
        some(
            &mut c.bitcoin.electrum_url,
            self.bitcoin_electrum_url.clone(),
        );
        if let Some(p) = &self.btc_descriptor_file {
            c.bitcoin.descriptor = Some(read_secret(p)?);
        }
        if let Some(p) = &self.btc_htlc_key_file {
            c.bitcoin.htlc_key = Some(read_secret(p)?);
        }
        some(&mut c.bitcoin.wallet_dir, self.btc_wallet_dir.clone());
        some(&mut c.ethereum.rpc_url, self.ethereum_rpc_url.clone());
        some(&mut c.ethereum.chain_id, self.ethereum_chain_id);
        some(
            &mut c.ethereum.escrow_contract,
            self.escrow_contract.clone(),
        );
        set(&mut c.ethereum.signer, self.eth_signer);
        if let Some(p) = &self.eth_key_file {
            c.ethereum.key = Some(read_secret(p)?);
        }
        some(&mut c.ethereum.kms_key_id, self.eth_kms_key_id.clone());
        set(&mut c.ethereum.start_block, self.eth_start_block);
        some(&mut c.tls.cert_file, self.tls_cert_file.clone());
        some(&mut c.tls.key_file, self.tls_key_file.clone());
        some(&mut c.tls.relayer_ca_file, self.relayer_ca_file.clone());
        some(&mut c.tls.relayer_name, self.relayer_tls_name.clone());
        if let Some(p) = &self.admin_token_sha256_file {
            c.server.admin_token_sha256 = Some(read_secret(p)?);
        }
        set(&mut c.server.metrics_addr, self.metrics_addr);
        set(&mut c.server.grpc_addr, self.grpc_addr);
        set(&mut c.signer.kill_switch, self.kill_switch);
        some(&mut c.failpoint, self.failpoint.clone());
        c.network()?;
        Ok(c)
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn some<T>(slot: &mut Option<T>, v: Option<T>) {
    if v.is_some() {
        *slot = v;
    }
}

/// Parses a TOML file over the defaults.
pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    from_toml(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// Parses TOML text over the defaults.
pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
    toml::from_str(text)
}

fn read_secret(path: &Path) -> Result<Sensitive, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| Sensitive::new(s.trim().to_owned()))
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("resolver").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("resolver.toml");
        std::fs::write(
            &file,
            "network = \"testnet\"\ninstance = \"from-file\"\n[leader]\nlease_ttl_secs = 30\n",
        )
        .expect("write");
        let url = dir.path().join("db");
        std::fs::write(&url, "postgres://u:hunter2@db/x\n").expect("write");
        let cli = parse(&[
            "--config",
            file.to_str().expect("utf8"),
            "--instance",
            "from-flag",
            "--database-url-file",
            url.to_str().expect("utf8"),
        ]);
        let c = cli.overrides.load().expect("loads");
        assert_eq!(c.network, "testnet", "file over default");
        assert_eq!(c.instance, "from-flag", "flag over file");
        assert_eq!(c.leader.lease_ttl_secs, 30);
        assert_eq!(c.leader.lease_renew_secs, 5, "default kept");
        assert_eq!(
            c.postgres.url.as_ref().map(Sensitive::expose),
            Some("postgres://u:hunter2@db/x")
        );
        c.check().expect("valid");
    }

    #[test]
    fn secrets_never_show() {
        let c = Config {
            postgres: Postgres {
                url: Some(Sensitive::new("postgres://u:hunter2@db/x")),
                ..Postgres::default()
            },
            ethereum: Ethereum {
                key: Some(Sensitive::new("0xdeadbeef")),
                ..Ethereum::default()
            },
            ..Config::default()
        };
        let shown = c.show();
        let debug = format!("{c:?}");
        for s in [&shown, &debug] {
            assert!(!s.contains("hunter2") && !s.contains("deadbeef"), "{s}");
        }
        assert!(shown.contains("url = \"***\""), "{shown}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(from_toml("netwrok = \"regtest\"").is_err());
        assert!(from_toml("[leader]\nttl = 3").is_err());
        let c = Config {
            network: "moon".into(),
            ..Config::default()
        };
        assert!(c.check().is_err());
        let c = Config {
            postgres: Postgres {
                url: Some(Sensitive::new("x")),
                ..Postgres::default()
            },
            ethereum: Ethereum {
                chain_id: Some(1),
                ..Ethereum::default()
            },
            ..Config::default()
        };
        assert!(
            matches!(
                c.check(),
                Err(ConfigError::Invalid {
                    name: "ethereum.chain_id",
                    ..
                })
            ),
            "regtest is chain 31337"
        );
    }

    #[test]
    fn the_deployed_proposal_parses() {
        let text = "[server]\ngrpc_addr = \"0.0.0.0:50051\"\nadmin_addr = \"0.0.0.0:50053\"\n\
                    metrics_addr = \"0.0.0.0:9090\"\nshutdown_grace_secs = 90\n\
                    [leader]\nlease_ttl_secs = 20\nlease_renew_secs = 5\n\
                    [postgres]\nmax_connections = 10\nstatement_timeout_ms = 5000\n\
                    [signer]\nmax_swaps_per_hour = 500\n";
        let c = from_toml(text).expect("the kustomize proposal is valid");
        assert_eq!(c.signer.max_swaps_per_hour, 500);
    }
}
