//! The gRPC client of the relayer (`crosslock.resolver.v1.ResolverService`) over mutual TLS:
//! subscribe to offers, answer each with the order policy, report our transactions.
//!
//! Owns the connection (rustls through ring, our client certificate, the relayer's CA) and the
//! translation between the wire messages and the core's types. It must never accept an order
//! that does not parse into a valid core order, and never send a key or secret of ours: only
//! public keys and addresses leave this module.

use crosslock_core::amount::{Amount, Sats, TokenUnits, Wei};
use crosslock_core::chain::{BtcPubkey, EthAddress, Network};
use crosslock_core::order::Order;
use crosslock_core::secret::{Hashlock, SwapId};
use crosslock_core::time::UnixTime;
use crosslock_proto::public::v1 as ppb;
use crosslock_proto::resolver::v1 as rpb;
use crosslock_proto::resolver::v1::resolver_service_client::ResolverServiceClient;
use thiserror::Error;
use tokio_stream::StreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tracing::{info, warn};

use crate::orders::{AcceptOrder, RelayerApi, RelayerError, answer_offer};
use crate::policy::{Book, Decline, OrderPolicy};

/// The client's TLS material, PEM.
#[derive(Clone)]
pub struct ClientTls {
    /// The CA that signed the relayer's certificate.
    pub ca_pem: String,
    /// Our certificate.
    pub cert_pem: String,
    /// Its key.
    pub key_pem: String,
    /// The name the relayer's certificate must carry, if not the URL's host.
    pub domain: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("domain", &self.domain)
            .field("key_pem", &"***")
            .finish_non_exhaustive()
    }
}

/// Why talking to the relayer failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Could not connect (TLS, DNS, refused).
    #[error("connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// A call failed.
    #[error("call: {0}")]
    Call(#[from] tonic::Status),
    /// The URL is unusable.
    #[error("relayer url: {0}")]
    Url(String),
}

/// Selects ring as the process's rustls provider. Two providers are linked in (ring for tonic,
/// aws-lc for alloy's HTTPS) and rustls refuses to guess; a second call is harmless.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Connects to the relayer's resolver API over mutual TLS.
pub async fn connect(
    url: &str,
    tls: &ClientTls,
) -> Result<ResolverServiceClient<Channel>, ClientError> {
    install_crypto();
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
    if let Some(d) = &tls.domain {
        config = config.domain_name(d.clone());
    }
    let channel = Endpoint::from_shared(url.to_owned())
        .map_err(|e| ClientError::Url(e.to_string()))?
        .tls_config(config)?
        .connect()
        .await?;
    Ok(ResolverServiceClient::new(channel))
}

/// [`RelayerApi`] over the gRPC client.
#[derive(Debug, Clone)]
pub struct GrpcRelayer {
    /// The client.
    pub client: ResolverServiceClient<Channel>,
}

impl RelayerApi for GrpcRelayer {
    async fn accept_order(&mut self, a: AcceptOrder) -> Result<(), RelayerError> {
        let req = rpb::AcceptOrderRequest {
            swap_id: a.swap_id.to_string(),
            accept: a.accept,
            decline_reason: a.decline_reason,
            resolver_btc_pubkey: a
                .resolver_btc_pubkey
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default(),
            resolver_eth_address: a
                .resolver_eth_address
                .map(|e| e.checksummed())
                .unwrap_or_default(),
        };
        self.client
            .accept_order(req)
            .await
            .map(|_| ())
            .map_err(|s| RelayerError(format!("{}: {}", s.code(), s.message())))
    }
}

/// Why an offer could not be read as an order.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("offer field {0} is invalid")]
pub struct OfferError(pub &'static str);

fn amount(
    asset: Option<&ppb::Asset>,
    units: &str,
    field: &'static str,
) -> Result<Amount, OfferError> {
    let a = asset.ok_or(OfferError(field))?;
    let n: u128 = units.parse().map_err(|_| OfferError(field))?;
    match (ppb::Chain::try_from(a.chain), a.token.as_str()) {
        (Ok(ppb::Chain::Bitcoin), "") => Ok(Amount::Btc(Sats(
            u64::try_from(n).map_err(|_| OfferError(field))?,
        ))),
        (Ok(ppb::Chain::Ethereum), "") => Ok(Amount::Eth(Wei(n))),
        (Ok(ppb::Chain::Ethereum), t) => Ok(Amount::Token {
            token: EthAddress::parse(t).map_err(|_| OfferError(field))?,
            units: TokenUnits(n),
        }),
        _ => Err(OfferError(field)),
    }
}

/// The order an offered swap describes.
pub fn order_from_offer(network: Network, s: &ppb::Swap) -> Result<(SwapId, Order), OfferError> {
    let id: [u8; 16] = hex::decode(&s.swap_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(OfferError("swap_id"))?;
    let hashlock: [u8; 32] = s
        .hashlock
        .as_slice()
        .try_into()
        .map_err(|_| OfferError("hashlock"))?;
    let order = Order {
        network,
        hashlock: Hashlock(hashlock),
        give: amount(s.src_asset.as_ref(), &s.src_amount, "src_amount")?,
        take: amount(s.dst_asset.as_ref(), &s.dst_amount, "dst_amount")?,
        maker_btc_pubkey: BtcPubkey::from_bytes(&s.maker_btc_pubkey)
            .map_err(|_| OfferError("maker_btc_pubkey"))?,
        maker_eth_address: EthAddress::parse(&s.maker_eth_address)
            .map_err(|_| OfferError("maker_eth_address"))?,
        quote_expires: UnixTime(u64::try_from(s.fund_by).map_err(|_| OfferError("fund_by"))?),
    };
    Ok((SwapId(id), order))
}

/// What [`answer_offers`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferStats {
    /// Offers accepted.
    pub accepted: u32,
    /// Offers declined, with their reasons.
    pub declined: Vec<(SwapId, Decline)>,
}

/// Subscribes and answers every offer until the stream ends. `book` gives the current
/// inventory and exposure for each decision. Swap updates, actions and secrets on the stream
/// are logged only: turning them into the resolver's own events is the next step.
pub async fn answer_offers(
    relayer: &mut GrpcRelayer,
    network: Network,
    policy: &OrderPolicy,
    mut book: impl FnMut() -> Book,
    me: (BtcPubkey, EthAddress),
) -> Result<OfferStats, ClientError> {
    let mut stream = relayer
        .client
        .subscribe_orders(rpb::SubscribeOrdersRequest { pairs: Vec::new() })
        .await?
        .into_inner();
    let mut stats = OfferStats::default();
    while let Some(ev) = stream.next().await {
        match ev?.event {
            Some(rpb::resolver_event::Event::Offer(o)) => {
                let Some(swap) = o.swap else { continue };
                let (id, order) = match order_from_offer(network, &swap) {
                    Ok(x) => x,
                    Err(e) => {
                        warn!(swap_id = %swap.swap_id, error = %e, "offer does not parse; ignored");
                        continue;
                    }
                };
                match answer_offer(relayer, policy, &book(), id, &order, me).await {
                    Ok(None) => stats.accepted += 1,
                    Ok(Some(d)) => stats.declined.push((id, d)),
                    Err(e) => warn!(swap_id = %id, error = %e, "could not answer the offer"),
                }
            }
            Some(other) => info!(event = ?std::mem::discriminant(&other), "relayer event"),
            None => {}
        }
    }
    Ok(stats)
}
