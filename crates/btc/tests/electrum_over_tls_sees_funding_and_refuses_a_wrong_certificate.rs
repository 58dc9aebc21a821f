//! The Electrum adapter over `ssl://`: a TLS terminator (rustls, a certificate from a CA made
//! in the test) in front of the regtest chain's Electrum server. A watcher that trusts the CA
//! sees a funding through it, and the wallet's electrum-client runs over the same transport. A
//! watcher that trusts another CA, or asks for a name the certificate does not carry, is refused
//! during the handshake with an error that says so.

#![allow(clippy::unwrap_used)] // Helpers outside #[test] fns are test code too.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use common::{CLAIM, REFUND, pk};
use crosslock_btc::electrum::{
    AdapterError, ElectrumConfig, ElectrumWatcher, TlsRoots, wallet_client,
};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::types::{BtcHeight, Sats, Secret};
use crosslock_btc::watcher::{ChainEvent, TxStatus};
use crosslock_regtest::testing::TestChain;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// A CA, and a server certificate it issued for `localhost` (only).
struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki(ca_name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// TLS on a loopback port, forwarding each connection to `backend` in plain TCP.
struct Terminator {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

fn terminator(backend: SocketAddr, pki: &Pki) -> Terminator {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake ends here; the client reports it.
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    Terminator { addr, _rt: rt }
}

fn backend(chain: &TestChain) -> SocketAddr {
    let url: crosslock_btc::electrum::ElectrumUrl = chain.electrum_url.parse().unwrap();
    assert!(!url.tls, "the test terminates TLS itself");
    std::net::ToSocketAddrs::to_socket_addrs(&(url.host.as_str(), url.port))
        .unwrap()
        .next()
        .unwrap()
}

fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

fn mine(chain: &TestChain, n: u32) -> Vec<String> {
    let addr = Address::p2wsh(&op_true(), Network::Regtest);
    chain.mine(n, &addr.to_string()).unwrap()
}

fn watcher(url: String, roots: TlsRoots) -> ElectrumWatcher<u32> {
    let mut cfg = ElectrumConfig::new(url);
    cfg.tls_roots = roots;
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(200);
    ElectrumWatcher::new(cfg)
}

#[test]
fn a_watcher_over_ssl_sees_a_funding_and_the_wallet_client_runs_over_tls() {
    let chain = TestChain::from_env_or_start().unwrap();
    let tls = pki("crosslock test CA");
    let term = terminator(backend(&chain), &tls);
    let start = chain.height().unwrap();
    let hashes = mine(&chain, 101);
    let coinbase_block = hashes.first().unwrap();
    let raw = chain
        .call("getblock", &[json!(coinbase_block), json!(0)])
        .unwrap();
    let block: bitcoin::Block = deserialize_hex(raw.as_str().unwrap()).unwrap();
    let cb = &block.txdata[0];

    let url = format!("ssl://localhost:{}", term.addr.port());
    let mut w = watcher(url.clone(), TlsRoots::Pem(tls.ca_pem.clone()));
    let params = HtlcParams::new(
        Secret::new([0x71; 32]).hashlock(),
        pk(CLAIM),
        pk(REFUND),
        BtcHeight(start + 500),
    )
    .unwrap();
    let ev = w.watch(1, params).unwrap();
    assert!(w.is_connected());
    assert!(
        ev.iter()
            .any(|e| matches!(e, ChainEvent::Tip { height, .. } if height.0 == start + 101)),
        "{ev:?}"
    );

    let fund = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(cb.compute_txid(), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[op_true().as_bytes()]),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(150_000),
                script_pubkey: params.script_pubkey(),
            },
            TxOut {
                value: cb.output[0].value - Amount::from_sat(152_000),
                script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
            },
        ],
    };
    chain
        .call("sendrawtransaction", &[json!(serialize_hex(&fund))])
        .unwrap();
    let op = OutPoint::new(fund.compute_txid(), 0);
    let seen = |w: &mut ElectrumWatcher<u32>, confs: u32| {
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            let ev = w.poll().unwrap();
            if ev.iter().any(|e| {
                matches!(e, ChainEvent::Funding { outpoint, amount: Sats(150_000), confirmations, .. }
                    if *outpoint == op && *confirmations == confs)
            }) {
                return ev;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("funding with {confs} confirmations not seen over {url}");
    };
    seen(&mut w, 0);
    mine(&chain, 1);
    let ev = seen(&mut w, 1);
    assert!(ev.iter().any(|e| matches!(
        e,
        ChainEvent::Funding {
            status: TxStatus::Confirmed(_),
            ..
        }
    )));
    assert_eq!(w.connects(), 1);

    // The wallet's electrum-client over the same TLS transport (what bdk_electrum syncs with).
    let mut cfg = ElectrumConfig::new(format!("ssl://localhost:{}", term.addr.port()));
    cfg.tls_roots = TlsRoots::Pem(tls.ca_pem.clone());
    let client = wallet_client(&cfg).unwrap();
    use bdk_electrum::electrum_client::ElectrumApi as _;
    let tip = client.block_headers_subscribe().unwrap();
    assert_eq!(tip.height, usize::try_from(start + 102).unwrap());
    let history = client.script_get_history(&params.script_pubkey()).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].tx_hash, fund.compute_txid());
}

#[test]
fn a_certificate_from_another_ca_or_for_another_name_is_refused_with_a_clear_error() {
    let chain = TestChain::from_env_or_start().unwrap();
    let tls = pki("crosslock test CA");
    let other = pki("someone else's CA");
    let term = terminator(backend(&chain), &tls);
    let port = term.addr.port();
    let params = HtlcParams::new(
        Secret::new([0x72; 32]).hashlock(),
        pk(CLAIM),
        pk(REFUND),
        BtcHeight(1_000),
    )
    .unwrap();

    let refused = |url: String, roots: TlsRoots, why: &str| {
        let mut w = watcher(url.clone(), roots);
        let err = w.watch(2, params).unwrap_err();
        let AdapterError::Disconnected { reason, .. } = &err else {
            panic!("{url}: {err:?}");
        };
        assert!(
            reason.contains("the server's certificate was refused") && reason.contains(why),
            "{url}: {reason}"
        );
        assert!(
            reason.contains(&url),
            "the reason names the server: {reason}"
        );
        assert!(!w.is_connected());
        // The HTLC stays registered, and the next attempt waits for the backoff.
        assert_eq!(w.watched(), 1);
        eprintln!("{err}");
    };
    // Signed by a CA the watcher does not trust.
    refused(
        format!("ssl://localhost:{port}"),
        TlsRoots::Pem(other.ca_pem.clone()),
        "UnknownIssuer",
    );
    // The right CA, but an address the certificate was not issued for.
    refused(
        format!("ssl://127.0.0.1:{port}"),
        TlsRoots::Pem(tls.ca_pem.clone()),
        "NotValidForName",
    );

    // Plain TCP to the TLS port is not mistaken for a server either.
    let mut w = watcher(format!("tcp://127.0.0.1:{port}"), TlsRoots::System);
    assert!(matches!(
        w.watch(3, params),
        Err(AdapterError::Disconnected { .. })
    ));

    // Malformed settings are config errors, not retries.
    let mut w = watcher(format!("https://127.0.0.1:{port}"), TlsRoots::System);
    let e = w.watch(4, params).unwrap_err();
    assert!(
        matches!(&e, AdapterError::Config(m) if m.contains("unsupported scheme")),
        "{e:?}"
    );
    let mut w = watcher(
        format!("ssl://localhost:{port}"),
        TlsRoots::Pem("not a certificate".into()),
    );
    let e = w.watch(5, params).unwrap_err();
    assert!(
        matches!(&e, AdapterError::Config(m) if m.contains("no certificate")),
        "{e:?}"
    );
}
