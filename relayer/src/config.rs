//! The relayer's configuration: defaults, then a TOML file, then `RELAYER_*` environment
//! variables and command-line flags (clap reads both), in that order.
//!
//! Owns the shape of the config and its validation. Protocol safety margins are not here: they
//! are code in `crosslock-core::params`, chosen by `network`. Secrets (database and Redis URLs,
//! tokens) are [`Sensitive`], whose `Debug` and serialised form is `***`; this module must never
//! print or log one.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// A value that must never be printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(pub String);

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

impl Sensitive {
    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Where each listener binds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Public API and gRPC-Web (makers, browsers).
    pub public: SocketAddr,
    /// Resolver API (mTLS).
    pub resolver: SocketAddr,
    /// Admin API; keep it private.
    pub admin: SocketAddr,
    /// Prometheus; keep it private.
    pub metrics: SocketAddr,
}

impl Default for Listen {
    fn default() -> Listen {
        Listen {
            public: SocketAddr::from(([0, 0, 0, 0], 50051)),
            resolver: SocketAddr::from(([0, 0, 0, 0], 50052)),
            admin: SocketAddr::from(([127, 0, 0, 1], 50053)),
            metrics: SocketAddr::from(([127, 0, 0, 1], 9100)),
        }
    }
}

/// TLS for the resolver listener. Client certificates must chain to `client_ca` and be pinned
/// in `resolvers` by fingerprint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM server certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM server key.
    pub key: Option<PathBuf>,
    /// PEM CA that signs resolver client certificates.
    pub client_ca: Option<PathBuf>,
}

/// One resolver allowed to connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverEntry {
    /// Its name in timelines and metrics.
    pub name: String,
    /// SHA-256 of its client certificate (DER), 64 hex digits.
    #[serde(default)]
    pub cert_sha256: Option<String>,
    /// A bearer token, for deployments without mTLS (tests, local devnet).
    #[serde(default)]
    pub token: Option<Sensitive>,
}

/// One operator allowed on the admin listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEntry {
    /// Its name in timelines and the audit log.
    pub name: String,
    /// Bearer token.
    pub token: Sensitive,
}

/// Limits applied to every call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request message, bytes.
    pub max_message_bytes: usize,
    /// Deadline of a unary call (a shorter client `grpc-timeout` wins), seconds.
    pub request_timeout_secs: u64,
    /// Calls per minute per client address on the public listener.
    pub rate_limit_per_minute: u64,
    /// Concurrent streams per connection.
    pub concurrency_per_connection: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 1 << 20,
            request_timeout_secs: 10,
            rate_limit_per_minute: 600,
            concurrency_per_connection: 64,
        }
    }
}

/// Pricing (v1: fixed rates with a spread, until resolvers quote).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuoteConfig {
    /// Wei per whole BTC, decimal.
    pub wei_per_btc: String,
    /// ERC-20 base units per whole BTC, by token address.
    pub token_units_per_btc: BTreeMap<String, String>,
    /// The service's spread, basis points.
    pub spread_bps: u32,
    /// How long a quote is binding, seconds (capped by the network's maximum).
    pub ttl_secs: u64,
    /// The dst window in seconds; default: the network's minimum plus an hour.
    pub dst_window_secs: Option<u64>,
}

impl Default for QuoteConfig {
    fn default() -> QuoteConfig {
        QuoteConfig {
            wei_per_btc: "20000000000000000000".to_owned(),
            token_units_per_btc: BTreeMap::new(),
            spread_bps: 50,
            ttl_secs: 600,
            dst_window_secs: None,
        }
    }
}

/// Chain endpoints. An empty URL leaves that chain unwatched (tests, API-only replicas); the
/// escrow address is the top-level `escrow_contract`, and the Bitcoin network is `network`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chains {
    /// Ethereum JSON-RPC URL; often carries a provider key, so it is never printed.
    pub eth_rpc_url: Sensitive,
    /// The chain id the Ethereum node must report (start is refused otherwise).
    pub eth_chain_id: u64,
    /// First block the escrow watcher scans when it has no cursor (the deployment block).
    pub eth_start_block: u64,
    /// How often the escrow watcher polls once caught up, milliseconds.
    pub eth_poll_ms: u64,
    /// Electrum server, `tcp://host:port`.
    pub electrum_url: String,
    /// How often the Bitcoin adapter polls Electrum, milliseconds.
    pub btc_poll_ms: u64,
}

impl Default for Chains {
    fn default() -> Chains {
        Chains {
            eth_rpc_url: Sensitive(String::new()),
            eth_chain_id: 31_337,
            eth_start_block: 0,
            eth_poll_ms: 2_000,
            electrum_url: String::new(),
            btc_poll_ms: 1_000,
        }
    }
}

/// What the relayer accepts as the maker's pre-signed claim ladder (ETH -> BTC reveals). Fee
/// rates are sat/vB, measured on each completed claim's real weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LadderConfig {
    /// The cheapest rung must pay at least this rate (Core's default relay floor is 1).
    pub min_rate_sat_vb: u64,
    /// The top rung must pay at least this rate, so the service can outbid a fee rise while the
    /// maker is offline.
    pub min_top_rate_sat_vb: u64,
    /// No rung may pay a larger fee, sat; default the core's cap for a claim (152 vB at
    /// 500 sat/vB), which every BTC lock is sized to afford.
    pub max_fee_sat: u64,
}

impl Default for LadderConfig {
    fn default() -> LadderConfig {
        let p = crate::ladder::default_policy();
        LadderConfig {
            min_rate_sat_vb: p.min_rate.to_sat_per_vb_ceil(),
            min_top_rate_sat_vb: p.min_top_rate.to_sat_per_vb_ceil(),
            max_fee_sat: p.max_fee.0,
        }
    }
}

impl LadderConfig {
    /// The policy `crosslock-btc` checks a ladder with.
    pub fn policy(&self) -> Result<crosslock_btc::claim::LadderPolicy, ConfigError> {
        let rate = |field, v: u64| {
            bitcoin::FeeRate::from_sat_per_vb(v)
                .filter(|_| v >= 1)
                .ok_or_else(|| ConfigError::Invalid {
                    field,
                    why: "must be a rate of at least 1 sat/vB".to_owned(),
                })
        };
        let min_rate = rate("ladder.min_rate_sat_vb", self.min_rate_sat_vb)?;
        let min_top_rate = rate("ladder.min_top_rate_sat_vb", self.min_top_rate_sat_vb)?;
        if min_top_rate < min_rate {
            return Err(ConfigError::Invalid {
                field: "ladder.min_top_rate_sat_vb",
                why: "must not be below ladder.min_rate_sat_vb".to_owned(),
            });
        }
        let top_fee = self
            .min_top_rate_sat_vb
            .saturating_mul(crosslock_core::fees::CLAIM_VSIZE);
        if self.max_fee_sat < top_fee {
            return Err(ConfigError::Invalid {
                field: "ladder.max_fee_sat",
                why: format!("must allow a claim at the top rate ({top_fee} sat)"),
            });
        }
        Ok(crosslock_btc::claim::LadderPolicy {
            min_rate,
            min_top_rate,
            max_fee: crosslock_core::amount::Sats(self.max_fee_sat),
            max_rungs: crate::ladder::MAX_RUNGS,
        })
    }
}

/// How the dispatcher retries the rows it carries out itself (the maker's claim broadcast).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// How often the dispatcher looks for due rows, milliseconds.
    pub interval_ms: u64,
    /// Refusals by the node of one rung before the row moves up the maker's ladder; past the
    /// top rung the swap is handed to an operator (ListStuck) and no longer broadcast.
    pub max_rejections: u32,
    /// Wait after the first refusal, milliseconds; doubled after each further one.
    pub backoff_ms: u64,
    /// Longest wait between two tries of a row, milliseconds.
    pub backoff_max_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> DispatchConfig {
        DispatchConfig {
            interval_ms: 1_000,
            max_rejections: 5,
            backoff_ms: 10_000,
            backoff_max_ms: 600_000,
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `mainnet`, `testnet`, `signet` or `regtest`: picks the protocol's safety parameters.
    pub network: String,
    /// Postgres URL.
    pub database_url: Sensitive,
    /// Pool size.
    pub database_max_connections: u32,
    /// Redis URL; empty runs without Redis (degraded).
    pub redis_url: Sensitive,
    /// Prefix of every Redis key and channel.
    pub redis_prefix: String,
    /// This replica's name (leases, logs).
    pub replica: String,
    /// Listeners.
    pub listen: Listen,
    /// Resolver listener TLS.
    pub tls: Tls,
    /// Resolvers.
    pub resolvers: Vec<ResolverEntry>,
    /// Operators.
    pub admins: Vec<AdminEntry>,
    /// Origins allowed to call the public API through gRPC-Web.
    pub cors_origins: Vec<String>,
    /// Call limits.
    pub limits: Limits,
    /// Pricing.
    pub quote: QuoteConfig,
    /// The escrow contract's address.
    pub escrow_contract: String,
    /// Chain endpoints.
    pub chains: Chains,
    /// The maker's claim ladder policy.
    pub ladder: LadderConfig,
    /// The dispatcher's retries.
    pub dispatch: DispatchConfig,
    /// Seconds a watcher lease lasts without renewal.
    pub lease_ttl_secs: u64,
    /// How often the deadline sweep runs, seconds.
    pub sweep_interval_secs: u64,
    /// JSON logs.
    pub log_json: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            network: "regtest".to_owned(),
            database_url: Sensitive(
                "postgres://crosslock:crosslock@127.0.0.1:5432/crosslock".to_owned(),
            ),
            database_max_connections: 16,
            redis_url: Sensitive("redis://127.0.0.1:6379".to_owned()),
            redis_prefix: "crosslock".to_owned(),
            replica: "relayer-0".to_owned(),
            listen: Listen::default(),
            tls: Tls::default(),
            resolvers: Vec::new(),
            admins: Vec::new(),
            cors_origins: Vec::new(),
            limits: Limits::default(),
            quote: QuoteConfig::default(),
            escrow_contract: String::new(),
            chains: Chains::default(),
            ladder: LadderConfig::default(),
            dispatch: DispatchConfig::default(),
            lease_ttl_secs: 15,
            sweep_interval_secs: 5,
            log_json: false,
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of this shape.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
    /// A value is out of range or malformed.
    #[error("config {field}: {why}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// Why.
        why: String,
    },
}

impl Config {
    /// Defaults overlaid with a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The effective config as TOML, secrets shown as `***`.
    pub fn show(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// The network.
    pub fn network(&self) -> Result<crosslock_core::chain::Network, ConfigError> {
        crate::stored::parse_network(&self.network).ok_or_else(|| ConfigError::Invalid {
            field: "network",
            why: format!(
                "{:?} is not mainnet, testnet, signet or regtest",
                self.network
            ),
        })
    }

    /// Check everything that can be checked without connecting anywhere.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.network()?;
        let bad = |field, why: &str| {
            Err(ConfigError::Invalid {
                field,
                why: why.to_owned(),
            })
        };
        if self
            .quote
            .wei_per_btc
            .parse::<u128>()
            .map_or(true, |n| n == 0)
        {
            return bad("quote.wei_per_btc", "must be a positive integer of wei");
        }
        if self.quote.spread_bps >= 10_000 {
            return bad("quote.spread_bps", "must be below 10000");
        }
        if !self.escrow_contract.is_empty()
            && crosslock_core::chain::EthAddress::parse(&self.escrow_contract).is_err()
        {
            return bad("escrow_contract", "must be a checksummed 0x address");
        }
        for r in &self.resolvers {
            if let Some(fp) = &r.cert_sha256
                && hex::decode(fp).map_or(true, |b| b.len() != 32)
            {
                return bad("resolvers.cert_sha256", "must be 64 hex digits");
            }
        }
        if self.limits.request_timeout_secs == 0 || self.limits.max_message_bytes < 1024 {
            return bad(
                "limits",
                "timeout must be positive and messages at least 1 KiB",
            );
        }
        self.ladder.policy()?;
        let d = &self.dispatch;
        if d.interval_ms == 0 || d.max_rejections == 0 {
            return bad(
                "dispatch",
                "interval_ms and max_rejections must be positive",
            );
        }
        if d.backoff_ms == 0 || d.backoff_max_ms < d.backoff_ms {
            return bad(
                "dispatch.backoff_max_ms",
                "backoff_ms must be positive and backoff_max_ms at least backoff_ms",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_never_prints_secrets() {
        let mut c = Config {
            database_url: Sensitive("postgres://u:hunter2@h/db".into()),
            ..Config::default()
        };
        c.admins.push(AdminEntry {
            name: "ops".into(),
            token: Sensitive("tok-123".into()),
        });
        let s = c.show();
        assert!(!s.contains("hunter2") && !s.contains("tok-123"), "{s}");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn file_overrides_defaults_and_unknown_keys_are_refused() {
        let c: Config =
            toml::from_str("network = \"testnet\"\n[limits]\nrequest_timeout_secs = 3\n")
                .expect("parses");
        assert_eq!(c.network, "testnet");
        assert_eq!(c.limits.request_timeout_secs, 3);
        assert_eq!(c.limits.max_message_bytes, 1 << 20);
        assert!(toml::from_str::<Config>("netwrk = \"x\"").is_err());
    }

    #[test]
    fn ladder_and_dispatch_defaults_are_valid_and_bad_values_are_refused() {
        let c = Config::default();
        c.validate().expect("defaults are valid");
        let p = c.ladder.policy().expect("default policy");
        assert_eq!(p, crate::ladder::default_policy());
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(bad(|c| c.ladder.min_rate_sat_vb = 0));
        assert!(bad(|c| c.ladder.min_top_rate_sat_vb = 0));
        assert!(bad(|c| c.ladder.max_fee_sat = 100));
        assert!(bad(|c| c.dispatch.max_rejections = 0));
        assert!(bad(|c| c.dispatch.interval_ms = 0));
        assert!(bad(|c| c.dispatch.backoff_max_ms = 1));
        let mut c = Config::default();
        c.ladder.min_rate_sat_vb = 20;
        assert!(c.validate().is_err(), "top below the floor");
    }
}
