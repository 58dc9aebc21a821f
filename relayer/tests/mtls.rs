//! The resolver listener over mutual TLS: a client certificate signed by the configured CA and
//! pinned by fingerprint is a resolver; a CA-signed but unpinned certificate is not; no client
//! certificate does not even complete the handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use crosslock_proto::resolver::v1 as rpb;
use crosslock_proto::resolver::v1::resolver_service_client::ResolverServiceClient;
use crosslock_relayer::config::ResolverEntry;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use sha2::{Digest, Sha256};
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

struct Pki {
    ca_pem: String,
    server: (String, String),
    pinned: (String, String, [u8; 32]),
    unpinned: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let fp: [u8; 32] = Sha256::digest(cert.der()).into();
        (cert.pem(), key.serialize_pem(), fp)
    };
    let server = leaf("localhost");
    let pinned = leaf("resolver-one");
    let unpinned = leaf("resolver-x");
    Pki {
        ca_pem: ca.pem(),
        server: (server.0, server.1),
        pinned,
        unpinned: (unpinned.0, unpinned.1),
    }
}

async fn client(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Result<ResolverServiceClient<tonic::transport::Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((c, k)) = identity {
        tls = tls.identity(Identity::from_pem(c, k));
    }
    let ch = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(ResolverServiceClient::new(ch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolvers_authenticate_by_pinned_client_certificate() {
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("crosslock-mtls-{}", hex16()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |n: &str, s: &str| {
        let p = dir.join(n);
        std::fs::write(&p, s).unwrap();
        p
    };
    let db = TestDb::new().await;
    let mut config = test_config(&db.url, &redis_url());
    config.tls.cert = Some(write("server.pem", &pki.server.0));
    config.tls.key = Some(write("server.key", &pki.server.1));
    config.tls.client_ca = Some(write("ca.pem", &pki.ca_pem));
    config.resolvers = vec![ResolverEntry {
        name: "tls-one".to_owned(),
        cert_sha256: Some(hex::encode(pki.pinned.2)),
        token: None,
    }];
    let relayer = Relayer::start(config).await;
    let req = || rpb::AcceptOrderRequest {
        swap_id: "0".repeat(32),
        accept: false,
        decline_reason: "pair".to_owned(),
        ..Default::default()
    };
    // Pinned certificate: a resolver (the decline needs no swap).
    let mut ok = client(
        relayer.resolver,
        &pki.ca_pem,
        Some((&pki.pinned.0, &pki.pinned.1)),
    )
    .await
    .unwrap();
    ok.accept_order(req()).await.unwrap();
    // Signed by the CA but not pinned: not a resolver.
    let mut other = client(
        relayer.resolver,
        &pki.ca_pem,
        Some((&pki.unpinned.0, &pki.unpinned.1)),
    )
    .await
    .unwrap();
    assert_eq!(
        other.accept_order(req()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // No client certificate: the handshake or the first call fails.
    match client(relayer.resolver, &pki.ca_pem, None).await {
        Err(_) => {}
        Ok(mut c) => assert_ne!(
            c.accept_order(req()).await.map(|_| ()).unwrap_err().code(),
            Code::Ok
        ),
    }
    relayer.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
