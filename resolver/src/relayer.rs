//! The gRPC client of the relayer (`crosslock.resolver.v1.ResolverService`) over mutual TLS:
//! subscribe to offers, answer each with the order policy, report our transactions.
//!
//! Owns the connection (rustls through ring, our client certificate, the relayer's CA) and the
//! translation between the wire messages and the core's types. It must never accept an order
//! that does not parse into a valid core order, and never send a key or secret of ours: only
//! public keys and addresses leave this module.

use crosslock_core::amount::{Amount, Sats, TokenUnits, Wei};
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, Network};
use crosslock_core::order::{LockTerms, MatchParams, Order, Terms};
use crosslock_core::secret::{Hashlock, SwapId};
use crosslock_core::time::{BtcHeight, UnixTime};
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
    /// The matched swap the last accepted `AcceptOrder` returned.
    pub matched: Option<ppb::Swap>,
}

impl GrpcRelayer {
    /// A relayer client over `client`.
    pub fn new(client: ResolverServiceClient<Channel>) -> GrpcRelayer {
        GrpcRelayer {
            client,
            matched: None,
        }
    }

    /// `ReportTx` for one of our transactions.
    pub async fn report(&mut self, r: &crate::executor::TxReport) -> Result<(), ClientError> {
        use crate::policy::SignKind;
        let kind = match r.kind {
            SignKind::LockDst => rpb::TxKind::Lock,
            SignKind::ClaimSrc | SignKind::ClaimDst => rpb::TxKind::Claim,
            SignKind::RefundDst | SignKind::RefundSrc => rpb::TxKind::Refund,
        };
        let chain = if r.bitcoin {
            ppb::Chain::Bitcoin
        } else {
            ppb::Chain::Ethereum
        };
        self.client
            .report_tx(rpb::ReportTxRequest {
                swap_id: r.swap.to_string(),
                chain: chain as i32,
                kind: kind as i32,
                tx_id: r.tx_id.to_vec(),
                raw_tx: r.raw.clone(),
            })
            .await?;
        Ok(())
    }
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
        let r = self
            .client
            .accept_order(req)
            .await
            .map_err(|s| RelayerError(format!("{:?}: {}", s.code(), s.message())))?;
        self.matched = r.into_inner().swap;
        Ok(())
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

/// The terms of a swap the relayer matched to us, rebuilt from the order and the timeouts in its
/// record with our own keys and finality policy, then compared with every parameter the record
/// shows. A record that disagrees (another key, another escrow, another receiver) is refused:
/// we never lock against terms we did not derive ourselves.
pub fn terms_from_view(
    network: Network,
    view: &ppb::Swap,
    me: (BtcPubkey, EthAddress),
    escrow: EthAddress,
) -> Result<(SwapId, Order, Terms), OfferError> {
    let (id, order) = order_from_offer(network, view)?;
    let b = view.bitcoin.as_ref().ok_or(OfferError("bitcoin"))?;
    let e = view.ethereum.as_ref().ok_or(OfferError("ethereum"))?;
    let contract = EthAddress::parse(&e.contract).map_err(|_| OfferError("ethereum.contract"))?;
    if contract != escrow {
        return Err(OfferError("ethereum.contract"));
    }
    let params = network.params();
    if e.chain_id != params.eth_chain_id.0 {
        return Err(OfferError("ethereum.chain_id"));
    }
    let m = MatchParams {
        resolver_btc_pubkey: me.0,
        resolver_eth_address: me.1,
        escrow_contract: escrow,
        chain_id: ChainId(e.chain_id),
        btc_timeout: BtcHeight(b.timeout_height),
        eth_timeout: UnixTime(
            u64::try_from(e.timeout).map_err(|_| OfferError("ethereum.timeout"))?,
        ),
        finality: params.finality,
    };
    let terms = Terms::from_match(&order, &m);
    let (htlc, escrow_terms) = match (&terms.src, &terms.dst) {
        (LockTerms::Btc(h), LockTerms::Eth(x)) | (LockTerms::Eth(x), LockTerms::Btc(h)) => (h, x),
        _ => return Err(OfferError("direction")),
    };
    if b.claim_pubkey != htlc.claim_pubkey.as_bytes()
        || b.refund_pubkey != htlc.refund_pubkey.as_bytes()
    {
        return Err(OfferError("bitcoin.keys"));
    }
    if b.amount != htlc.amount.0.to_string() {
        return Err(OfferError("bitcoin.amount"));
    }
    let same = |s: &str, a: &EthAddress| EthAddress::parse(s).is_ok_and(|x| x == *a);
    if !same(&e.sender, &escrow_terms.sender) || !same(&e.receiver, &escrow_terms.receiver) {
        return Err(OfferError("ethereum.parties"));
    }
    if e.amount != escrow_terms.amount.base_units().to_string() {
        return Err(OfferError("ethereum.amount"));
    }
    Ok((id, order, terms))
}

/// What the relayer link hands the run loop.
#[derive(Debug)]
pub enum Inbound {
    /// A new subscription is up; calls go through this client.
    Connected(GrpcRelayer),
    /// Something on the subscription.
    Event(rpb::resolver_event::Event),
    /// The subscription ended; the link reconnects by itself.
    Disconnected(String),
}

/// Keeps a subscription to the relayer open until `tx` closes: connects over mutual TLS,
/// subscribes, forwards every event, and reconnects with a backoff of 1 s doubling to 30 s. On
/// each reconnect the relayer replays the record of every open swap of ours first.
pub async fn link(url: String, tls: ClientTls, tx: tokio::sync::mpsc::Sender<Inbound>) {
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        let ended = match connect(&url, &tls).await {
            Ok(mut client) => match client
                .subscribe_orders(rpb::SubscribeOrdersRequest { pairs: Vec::new() })
                .await
            {
                Ok(stream) => {
                    info!(%url, "subscribed to the relayer");
                    backoff = std::time::Duration::from_secs(1);
                    if tx
                        .send(Inbound::Connected(GrpcRelayer::new(client)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut stream = stream.into_inner();
                    loop {
                        match stream.next().await {
                            Some(Ok(rpb::ResolverEvent { event: Some(ev) })) => {
                                if tx.send(Inbound::Event(ev)).await.is_err() {
                                    return;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(s)) => break format!("{}: {}", s.code(), s.message()),
                            None => break "stream ended".to_owned(),
                        }
                    }
                }
                Err(s) => format!("subscribe: {}: {}", s.code(), s.message()),
            },
            Err(e) => e.to_string(),
        };
        warn!(%url, reason = %ended, retry_in_s = backoff.as_secs(), "relayer link down");
        if tx.send(Inbound::Disconnected(ended)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
    }
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
