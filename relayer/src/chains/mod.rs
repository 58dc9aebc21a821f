//! The chain adapters: Ethereum (the escrow log watcher) and Bitcoin (the Electrum watcher),
//! each a [`crate::watcher::ChainSource`], built from the config at start.
//!
//! Owns the checks that must pass before any chain fact is trusted: the node's chain id and the
//! escrow's runtime code hash. A mismatch refuses start; it is never logged and skipped.

pub mod btc;
pub mod eth;

use thiserror::Error;

use crate::config::Config;
use crate::store::Store;
use crate::watcher::ChainSource;

/// Why the chain adapters could not be built.
#[derive(Debug, Error)]
pub enum ChainsError {
    /// The Ethereum adapter refused to start.
    #[error(transparent)]
    Eth(#[from] eth::EthSourceError),
    /// The config names an RPC endpoint but no usable escrow address.
    #[error("chains.eth_rpc_url is set but escrow_contract is not a valid address")]
    NoEscrow,
    /// The config is unusable for an adapter.
    #[error("chains: {0}")]
    Config(String),
}

/// The adapters built from the config.
// Sources are trait objects without Debug; the lint's default-on workspace setting is kept
// everywhere else.
#[allow(missing_debug_implementations)]
#[derive(Default)]
pub struct Adapters {
    /// One watcher source per configured chain.
    pub sources: Vec<Box<dyn ChainSource>>,
    /// Broadcasting through the Bitcoin adapter's connection, when Bitcoin is configured.
    pub btc: Option<btc::BtcBroadcaster>,
}

/// The adapters the config asks for (an empty endpoint leaves its chain unwatched).
pub async fn connect(
    config: &Config,
    store: &Store,
    updates: tokio::sync::broadcast::Receiver<crosslock_proto::public::v1::SwapUpdate>,
) -> Result<Adapters, ChainsError> {
    let mut out = Adapters::default();
    let c = &config.chains;
    if !c.eth_rpc_url.expose().is_empty() {
        let escrow = crosslock_core::chain::EthAddress::parse(&config.escrow_contract)
            .map_err(|_| ChainsError::NoEscrow)?;
        let source = eth::EthSource::connect(
            &eth::EthSourceConfig {
                rpc_url: c.eth_rpc_url.expose().to_owned(),
                escrow: crosslock_eth::convert::address(&escrow),
                chain_id: c.eth_chain_id,
                start_block: c.eth_start_block,
                finality: crosslock_eth::Finality::Finalized,
                poll_interval: std::time::Duration::from_millis(c.eth_poll_ms.max(100)),
            },
            store.clone(),
            &config.replica,
        )
        .await?;
        out.sources.push(Box::new(source));
    }
    if !c.electrum_url.is_empty() {
        let network = config
            .network()
            .map_err(|e| ChainsError::Config(e.to_string()))?;
        let source = btc::BtcSource::new(
            &c.electrum_url,
            crate::view::btc_network(network),
            store.clone(),
            updates,
            std::time::Duration::from_millis(c.btc_poll_ms.max(50)),
        );
        out.btc = Some(source.broadcaster());
        out.sources.push(Box::new(source));
    }
    Ok(out)
}
