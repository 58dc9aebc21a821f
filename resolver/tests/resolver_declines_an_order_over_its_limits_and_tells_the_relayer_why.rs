//! The resolver's gRPC client over mutual TLS against a stand-in relayer serving
//! `crosslock.resolver.v1.ResolverService` on a real socket: the relayer offers three orders
//! (one over the pair's maximum, one asking more than our price, one fair); the resolver answers
//! each through `AcceptOrder` per its policy, with the machine-readable reason for a decline.
//! The stand-in requires a client certificate signed by its CA, as the relayer does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crosslock_core::chain::{BtcPubkey, EthAddress, Network};
use crosslock_proto::public::v1 as ppb;
use crosslock_proto::resolver::v1 as rpb;
use crosslock_proto::resolver::v1::resolver_service_server::{
    ResolverService, ResolverServiceServer,
};
use crosslock_resolver::config::{PairConfig, PolicyConfig};
use crosslock_resolver::policy::{Book, Decline, OrderPolicy};
use crosslock_resolver::relayer::{ClientTls, GrpcRelayer, answer_offers, connect};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

type Events = Pin<Box<dyn tokio_stream::Stream<Item = Result<rpb::ResolverEvent, Status>> + Send>>;

struct StandIn {
    offers: Vec<ppb::Swap>,
    answers: Arc<Mutex<Vec<rpb::AcceptOrderRequest>>>,
}

#[tonic::async_trait]
impl ResolverService for StandIn {
    type SubscribeOrdersStream = Events;

    async fn subscribe_orders(
        &self,
        request: Request<rpb::SubscribeOrdersRequest>,
    ) -> Result<Response<Events>, Status> {
        let certs = request.peer_certs().map_or(0, |c| c.len());
        if certs == 0 {
            return Err(Status::unauthenticated("client certificate required"));
        }
        let events: Vec<Result<rpb::ResolverEvent, Status>> = self
            .offers
            .iter()
            .map(|s| {
                Ok(rpb::ResolverEvent {
                    event: Some(rpb::resolver_event::Event::Offer(rpb::OrderOffer {
                        swap: Some(s.clone()),
                        answer_by: 0,
                    })),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }

    async fn accept_order(
        &self,
        request: Request<rpb::AcceptOrderRequest>,
    ) -> Result<Response<rpb::AcceptOrderResponse>, Status> {
        self.answers.lock().unwrap().push(request.into_inner());
        Ok(Response::new(rpb::AcceptOrderResponse { swap: None }))
    }

    async fn report_tx(
        &self,
        _request: Request<rpb::ReportTxRequest>,
    ) -> Result<Response<rpb::ReportTxResponse>, Status> {
        Ok(Response::new(rpb::ReportTxResponse {}))
    }
}

fn offer(id: u8, sats: u64, wei: u128) -> ppb::Swap {
    let mut key = [5u8; 33];
    key[0] = 2;
    ppb::Swap {
        swap_id: hex::encode([id; 16]),
        hashlock: vec![1; 32],
        src_asset: Some(ppb::Asset {
            chain: ppb::Chain::Bitcoin as i32,
            token: String::new(),
        }),
        dst_asset: Some(ppb::Asset {
            chain: ppb::Chain::Ethereum as i32,
            token: String::new(),
        }),
        src_amount: sats.to_string(),
        dst_amount: wei.to_string(),
        maker_btc_pubkey: key.to_vec(),
        maker_eth_address: EthAddress([7; 20]).checksummed(),
        fund_by: 1_900_000_000,
        ..ppb::Swap::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolver_declines_an_order_over_its_limits_and_tells_the_relayer_why() {
    crosslock_resolver::relayer::install_crypto();
    // A CA, the relayer's certificate for "localhost", and ours.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf("localhost");
    let (client_cert, client_key) = leaf("resolver-one");

    let answers = Arc::new(Mutex::new(Vec::new()));
    let standin = StandIn {
        offers: vec![
            offer(1, 6_000_000, 1),                      // over max_src
            offer(2, 1_000_000, 20_000_000_000_000_000), // asks 0.02 ETH, price gives 0.00997
            offer(3, 1_000_000, 9_900_000_000_000_000),  // fair
        ],
        answers: answers.clone(),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&server_cert, &server_key))
        .client_ca_root(Certificate::from_pem(ca.pem()));
    tokio::spawn(
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(ResolverServiceServer::new(standin))
            .serve(([127, 0, 0, 1], port).into()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = connect(
        &format!("https://localhost:{port}"),
        &ClientTls {
            ca_pem: ca.pem(),
            cert_pem: client_cert,
            key_pem: client_key,
            domain: Some("localhost".into()),
        },
    )
    .await
    .expect("mTLS connect");
    let policy = OrderPolicy::from_config(&PolicyConfig {
        pairs: vec![PairConfig {
            src: "btc".into(),
            dst: "eth".into(),
            min_src: "100000".into(),
            max_src: "5000000".into(),
            // 1 sat = 10^10 wei (1 BTC = 1 ETH), less 30 bps.
            price_e18: "10000000000000000000000000000".into(),
            spread_bps: 30,
        }],
        ..PolicyConfig::default()
    })
    .unwrap();
    let mut key = [3u8; 33];
    key[0] = 2;
    let me = (BtcPubkey::from_bytes(&key).unwrap(), EthAddress([2; 20]));
    let mut relayer = GrpcRelayer::new(client);
    let stats = answer_offers(
        &mut relayer,
        Network::Regtest,
        &policy,
        || Book {
            inventory: [("eth".to_owned(), 10u128.pow(21))].into(),
            ..Book::default()
        },
        me,
    )
    .await
    .expect("stream answered");
    assert_eq!(stats.accepted, 1);
    assert_eq!(
        stats.declined.iter().map(|(_, d)| *d).collect::<Vec<_>>(),
        vec![Decline::OverMaxAmount, Decline::Price]
    );
    let got = answers.lock().unwrap().clone();
    for a in &got {
        eprintln!(
            "AcceptOrder swap_id={} accept={} decline_reason={:?} resolver_eth_address={:?}",
            a.swap_id, a.accept, a.decline_reason, a.resolver_eth_address
        );
    }
    assert_eq!(got.len(), 3);
    assert!(!got[0].accept && got[0].decline_reason == "over_max_amount");
    assert!(got[0].resolver_btc_pubkey.is_empty() && got[0].resolver_eth_address.is_empty());
    assert!(!got[1].accept && got[1].decline_reason == "price");
    assert!(got[2].accept && got[2].decline_reason.is_empty());
    assert_eq!(got[2].resolver_btc_pubkey, key.to_vec());
    assert_eq!(
        got[2].resolver_eth_address,
        EthAddress([2; 20]).checksummed()
    );
}
