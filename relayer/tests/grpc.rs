//! The gRPC surface over real sockets on loopback: every method, malformed input for every
//! field (a clear INVALID_ARGUMENT and nothing written), authentication and authorisation, the
//! permission table's completeness, reflection, gRPC-Web CORS and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::Chain;
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::secret::Secret;
use crosslock_proto::admin::v1 as apb;
use crosslock_proto::admin::v1::admin_service_client::AdminServiceClient;
use crosslock_proto::public::v1 as pb;
use crosslock_proto::public::v1::swap_service_client::SwapServiceClient;
use crosslock_proto::resolver::v1 as rpb;
use crosslock_proto::resolver::v1::resolver_service_client::ResolverServiceClient;
use crosslock_relayer::cache::Cache;
use crosslock_relayer::engine::Engine;
use crosslock_relayer::store::Store;
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

struct Env {
    _db: TestDb,
    relayer: Relayer,
    store: Store,
    engine: Engine,
    public: SwapServiceClient<Channel>,
    resolver: ResolverServiceClient<Channel>,
    admin: AdminServiceClient<Channel>,
}

async fn env() -> Env {
    env_with(|_| {}).await
}

async fn env_with(tweak: impl FnOnce(&mut crosslock_relayer::config::Config)) -> Env {
    let db = TestDb::new().await;
    let mut config = test_config(&db.url, &redis_url());
    tweak(&mut config);
    let replica = config.replica.clone();
    let prefix = config.redis_prefix.clone();
    let relayer = Relayer::start(config).await;
    let store = db.store().await;
    set_heads(&store, &replica, 1_000).await;
    // The test's watcher is another writer of this replica: same store, same Redis prefix.
    let cache = Cache::connect(&redis_url(), &prefix).await.unwrap();
    let engine = Engine::new(store.clone(), cache, &replica);
    Env {
        public: SwapServiceClient::new(channel(relayer.url_public()).await),
        resolver: ResolverServiceClient::new(channel(relayer.url_resolver()).await),
        admin: AdminServiceClient::new(channel(relayer.url_admin()).await),
        _db: db,
        relayer,
        store,
        engine,
    }
}

fn btc() -> Option<pb::Asset> {
    Some(pb::Asset {
        chain: pb::Chain::Bitcoin.into(),
        token: String::new(),
    })
}

fn eth() -> Option<pb::Asset> {
    Some(pb::Asset {
        chain: pb::Chain::Ethereum.into(),
        token: String::new(),
    })
}

fn quote_req() -> pb::GetQuoteRequest {
    pb::GetQuoteRequest {
        direction: pb::Direction::BtcToEth.into(),
        src_asset: btc(),
        dst_asset: eth(),
        src_amount: "1000000".to_owned(),
    }
}

fn secret() -> Secret {
    let mut b = [0_u8; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    Secret::new(b)
}

fn submit_req(quote_id: &str, s: &Secret) -> pb::SubmitOrderRequest {
    pb::SubmitOrderRequest {
        idempotency_key: format!("idem-{}", hex16()),
        quote_id: quote_id.to_owned(),
        hashlock: s.hashlock().0.to_vec(),
        maker_btc_pubkey: [2_u8; 33].to_vec(),
        maker_eth_address: "0x1111111111111111111111111111111111111111".to_owned(),
        chain_id: 31_337,
    }
}

fn accept_req(swap_id: &str) -> rpb::AcceptOrderRequest {
    rpb::AcceptOrderRequest {
        swap_id: swap_id.to_owned(),
        accept: true,
        decline_reason: String::new(),
        resolver_btc_pubkey: [3_u8; 33].to_vec(),
        resolver_eth_address: "0x2222222222222222222222222222222222222222".to_owned(),
    }
}

impl Env {
    async fn new_swap(&mut self, s: &Secret) -> pb::Swap {
        let q = self
            .public
            .get_quote(quote_req())
            .await
            .unwrap()
            .into_inner();
        self.public
            .submit_order(submit_req(&q.quote_id, s))
            .await
            .unwrap()
            .into_inner()
            .swap
            .unwrap()
    }

    async fn matched_swap(&mut self, s: &Secret) -> pb::Swap {
        let swap = self.new_swap(s).await;
        self.resolver
            .accept_order(bearer(accept_req(&swap.swap_id), R1_TOKEN))
            .await
            .unwrap()
            .into_inner()
            .swap
            .unwrap()
    }

    /// Both locks final: the maker may reveal.
    async fn locked_swap(&mut self, s: &Secret) -> pb::Swap {
        let m = self.matched_swap(s).await;
        observe(
            &self.engine,
            Chain::Bitcoin,
            1_001,
            vec![lock_seen(
                s.hashlock().0,
                btc_lock(s.expose()[0]),
                Amount::Btc(Sats(1_000_000)),
                Depth::Btc(1),
            )],
        )
        .await;
        let dst = Amount::Eth(Wei(m.dst_amount.parse().unwrap()));
        observe(
            &self.engine,
            Chain::Ethereum,
            101,
            vec![lock_seen(
                s.hashlock().0,
                eth_lock(s.expose()[0]),
                dst,
                Depth::Eth(EthDepth::Safe),
            )],
        )
        .await;
        let v = self
            .public
            .get_swap(pb::GetSwapRequest {
                swap_id: m.swap_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.state, i32::from(pb::SwapState::DstLocked), "{v:?}");
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_public_method_works_over_a_socket() {
    let mut e = env().await;
    let q = e.public.get_quote(quote_req()).await.unwrap().into_inner();
    assert_eq!(q.src_amount, "1000000");
    assert_eq!(q.dst_amount, "199000000000000000");
    assert!(q.src_window_secs >= 2 * q.dst_window_secs);
    assert_eq!(q.chain_id, 31_337);

    let s = secret();
    let req = submit_req(&q.quote_id, &s);
    let swap = e
        .public
        .submit_order(req.clone())
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(swap.state, i32::from(pb::SwapState::Created));
    assert_eq!(swap.version, 1);
    // Idempotent retry: the same swap.
    let again = e
        .public
        .submit_order(req.clone())
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(again.swap_id, swap.swap_id);
    // Same key, other body: refused.
    let mut other = req.clone();
    other.hashlock = secret().hashlock().0.to_vec();
    let err = e.public.submit_order(other).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    // Same hashlock, new key: refused.
    let mut dup = submit_req(&q.quote_id, &s);
    dup.idempotency_key = format!("idem-{}", hex16());
    let err = e.public.submit_order(dup).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().starts_with("hashlock"), "{}", err.message());

    let got = e
        .public
        .get_swap(pb::GetSwapRequest {
            swap_id: swap.swap_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.swap_id, swap.swap_id);
    let missing = e
        .public
        .get_swap(pb::GetSwapRequest {
            swap_id: "0".repeat(32),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let list = e
        .public
        .list_swaps(pb::ListSwapsRequest {
            maker: "0x1111111111111111111111111111111111111111".to_owned(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.swaps.len(), 1);
    let by_key = e
        .public
        .list_swaps(pb::ListSwapsRequest {
            maker: format!("02{}", "02".repeat(32)),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_key.swaps.len(), 1);

    // Watch: the current record first, then the match.
    let mut watch = e
        .public
        .watch_swap(pb::WatchSwapRequest {
            swap_id: swap.swap_id.clone(),
            after_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch
            .message()
            .await
            .unwrap()
            .unwrap()
            .swap
            .unwrap()
            .version,
        1
    );

    // Reveal before the locks are final: FAILED_PRECONDITION, nothing stored.
    let early = e
        .public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: swap.swap_id.clone(),
            secret: s.expose().to_vec(),
            signed_claims: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    let secrets: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!(secrets, 0);

    e.resolver
        .accept_order(bearer(accept_req(&swap.swap_id), R1_TOKEN))
        .await
        .unwrap();
    let u = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(u.swap.unwrap().state, i32::from(pb::SwapState::Matched));

    // Drive both locks to final, then reveal: a wrong secret is INVALID_ARGUMENT.
    let s2 = secret();
    let locked = e.locked_swap(&s2).await;
    let wrong = e
        .public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: locked.swap_id.clone(),
            secret: [9; 32].to_vec(),
            signed_claims: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert!(wrong.message().starts_with("secret"));
    let ok = e
        .public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: locked.swap_id.clone(),
            secret: s2.expose().to_vec(),
            signed_claims: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .swap
        .unwrap();
    assert_eq!(ok.state, i32::from(pb::SwapState::SecretRevealed));
    assert!(ok.secret_known);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret FROM secrets")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, s2.expose().to_vec());
    e.relayer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_resolver_method_works_and_one_resolver_wins_an_order() {
    let mut e = env().await;
    let mut stream = e
        .resolver
        .subscribe_orders(bearer(
            rpb::SubscribeOrdersRequest { pairs: vec![] },
            R1_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let s = secret();
    let swap = e.new_swap(&s).await;
    // The offer arrives on the stream.
    let offer = loop {
        let m = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(rpb::resolver_event::Event::Offer(o)) = m.event {
            break o;
        }
    };
    assert_eq!(offer.swap.unwrap().swap_id, swap.swap_id);
    // Two resolvers race: exactly one wins.
    let mut r2 = e.resolver.clone();
    let (a, b) = tokio::join!(
        e.resolver
            .accept_order(bearer(accept_req(&swap.swap_id), R1_TOKEN)),
        r2.accept_order(bearer(accept_req(&swap.swap_id), R2_TOKEN)),
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|x| **x).count(), 1);
    let (winner, loser) = match (a, b) {
        (Ok(_), Err(l)) => (R1_TOKEN, l),
        (Err(l), Ok(_)) => (R2_TOKEN, l),
        _ => unreachable!("exactly one wins"),
    };
    assert_eq!(loser.code(), Code::FailedPrecondition, "{loser:?}");
    // Declining needs a reason.
    let decline = e
        .resolver
        .accept_order(bearer(
            rpb::AcceptOrderRequest {
                swap_id: swap.swap_id.clone(),
                accept: false,
                decline_reason: "no_inventory".into(),
                ..Default::default()
            },
            R1_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(decline.swap.is_none());
    // ReportTx: the owner may, the other resolver may not.
    let report = rpb::ReportTxRequest {
        swap_id: swap.swap_id.clone(),
        chain: pb::Chain::Ethereum.into(),
        kind: rpb::TxKind::Lock.into(),
        tx_id: [5; 32].to_vec(),
        raw_tx: vec![1, 2, 3],
    };
    e.resolver
        .report_tx(bearer(report.clone(), winner))
        .await
        .unwrap();
    e.resolver
        .report_tx(bearer(report.clone(), winner))
        .await
        .unwrap();
    let other = if winner == R1_TOKEN {
        R2_TOKEN
    } else {
        R1_TOKEN
    };
    let denied = e
        .resolver
        .report_tx(bearer(report, other))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM reported_txs")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1, "idempotent on (swap, chain, tx)");

    // The winner's stream gets the LockDst action once src is final, then the secret after reveal.
    let mut mine = e
        .resolver
        .subscribe_orders(bearer(
            rpb::SubscribeOrdersRequest { pairs: vec![] },
            winner,
        ))
        .await
        .unwrap()
        .into_inner();
    observe(
        &e.engine,
        Chain::Bitcoin,
        1_001,
        vec![lock_seen(
            s.hashlock().0,
            btc_lock(1),
            Amount::Btc(Sats(1_000_000)),
            Depth::Btc(1),
        )],
    )
    .await;
    // The watcher in this test runs outside the relayer; a retry through the admin API publishes.
    e.admin
        .retry(bearer(
            apb::RetryRequest {
                swap_id: swap.swap_id.clone(),
                reason: "publish".into(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let action = loop {
        let m = tokio::time::timeout(Duration::from_secs(5), mine.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(rpb::resolver_event::Event::Action(a)) = m.event {
            break a;
        }
    };
    assert_eq!(action.kind, i32::from(rpb::ActionKind::LockDst));
    assert_eq!(action.swap_id, swap.swap_id);
    let view = e
        .public
        .get_swap(pb::GetSwapRequest {
            swap_id: swap.swap_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let dst = Amount::Eth(Wei(view.dst_amount.parse().unwrap()));
    observe(
        &e.engine,
        Chain::Ethereum,
        101,
        vec![lock_seen(
            s.hashlock().0,
            eth_lock(1),
            dst,
            Depth::Eth(EthDepth::Safe),
        )],
    )
    .await;
    e.public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: swap.swap_id.clone(),
            secret: s.expose().to_vec(),
            signed_claims: vec![],
        })
        .await
        .unwrap();
    let released = loop {
        let m = tokio::time::timeout(Duration::from_secs(5), mine.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(rpb::resolver_event::Event::Secret(x)) = m.event {
            break x;
        }
    };
    assert_eq!(released.secret, s.expose().to_vec());
    e.relayer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_admin_method_works() {
    let mut e = env().await;
    let s = secret();
    let swap = e.locked_swap(&s).await;
    e.admin
        .annotate(adm(apb::AnnotateRequest {
            swap_id: swap.swap_id.clone(),
            note: "checked by hand".into(),
        }))
        .await
        .unwrap();
    e.admin
        .retry(adm(apb::RetryRequest {
            swap_id: swap.swap_id.clone(),
            reason: "crash".into(),
        }))
        .await
        .unwrap();
    // Resolve without a hold: the core refuses, FAILED_PRECONDITION.
    let r = e
        .admin
        .resolve(adm(apb::ResolveRequest {
            swap_id: swap.swap_id.clone(),
            close: false,
            reason: "x".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(r.code(), Code::FailedPrecondition);
    // Force refund before any secret is known: allowed (the refund still waits for timeouts).
    e.admin
        .force_refund(adm(apb::ForceRefundRequest {
            swap_id: swap.swap_id.clone(),
            reason: "maker gone".into(),
        }))
        .await
        .unwrap();
    // The maker may no longer reveal.
    let reveal = e
        .public
        .reveal_secret(pb::RevealSecretRequest {
            swap_id: swap.swap_id.clone(),
            secret: s.expose().to_vec(),
            signed_claims: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(reveal.code(), Code::FailedPrecondition);
    let t = e
        .admin
        .get_timeline(adm(apb::GetTimelineRequest {
            swap_id: swap.swap_id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<_> = t.events.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"Created"));
    assert!(
        kinds.contains(&"Matched") && kinds.contains(&"LockSeen") && kinds.contains(&"Operator")
    );
    assert!(
        t.events
            .iter()
            .any(|x| x.actor == "operator:ops" && x.detail_json.contains("maker gone"))
    );
    assert!(
        t.events
            .iter()
            .all(|x| !x.detail_json.contains(&hex::encode(s.expose())))
    );
    let stuck = e
        .admin
        .list_stuck(adm(apb::ListStuckRequest { limit: 10 }))
        .await
        .unwrap()
        .into_inner();
    assert!(stuck.swaps.len() <= 10);
    e.admin
        .pause(adm(apb::PauseRequest {
            reason: "maintenance".into(),
        }))
        .await
        .unwrap();
    let paused = e.public.get_quote(quote_req()).await.unwrap_err();
    assert_eq!(paused.code(), Code::Unavailable);
    e.admin
        .resume(adm(apb::ResumeRequest {
            reason: "done".into(),
        }))
        .await
        .unwrap();
    e.public.get_quote(quote_req()).await.unwrap();
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_audit")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!(audit, 2);
    e.relayer.stop().await;
}

fn adm<T>(m: T) -> tonic::Request<T> {
    bearer(m, ADMIN_TOKEN)
}

fn res1<T>(m: T) -> tonic::Request<T> {
    bearer(m, R1_TOKEN)
}

fn assert_invalid(r: tonic::Status, field: &str) {
    assert_eq!(r.code(), Code::InvalidArgument, "{field}: {r:?}");
    assert!(
        r.message().starts_with(field),
        "message {:?} must name {field}",
        r.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_input_for_each_field_is_invalid_argument_and_writes_nothing() {
    let mut e = env().await;
    let s = secret();
    let swap = e.locked_swap(&s).await;
    let q = e.public.get_quote(quote_req()).await.unwrap().into_inner();
    let before = table_counts(&e.store).await;
    let id = swap.swap_id.clone();
    let bad_ids = ["", "zz", &"A".repeat(32), &"0".repeat(31), &"0".repeat(33)];
    let mut checked = 0;

    // GetQuote
    for (f, m) in [
        (
            "direction",
            pb::GetQuoteRequest {
                direction: 0,
                ..quote_req()
            },
        ),
        (
            "direction",
            pb::GetQuoteRequest {
                direction: 99,
                ..quote_req()
            },
        ),
        (
            "src_asset",
            pb::GetQuoteRequest {
                src_asset: None,
                ..quote_req()
            },
        ),
        (
            "src_asset.chain",
            pb::GetQuoteRequest {
                src_asset: Some(pb::Asset {
                    chain: 7,
                    token: String::new(),
                }),
                ..quote_req()
            },
        ),
        (
            "src_asset",
            pb::GetQuoteRequest {
                src_asset: Some(pb::Asset {
                    chain: 1,
                    token: "0x00".into(),
                }),
                ..quote_req()
            },
        ),
        (
            "src_asset",
            pb::GetQuoteRequest {
                src_asset: eth(),
                ..quote_req()
            },
        ),
        (
            "dst_asset",
            pb::GetQuoteRequest {
                dst_asset: None,
                ..quote_req()
            },
        ),
        (
            "dst_asset.token",
            pb::GetQuoteRequest {
                dst_asset: Some(pb::Asset {
                    chain: 2,
                    token: "0xnot-an-address".into(),
                }),
                ..quote_req()
            },
        ),
        (
            "dst_asset",
            pb::GetQuoteRequest {
                dst_asset: btc(),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: String::new(),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: "-5".into(),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: "1.5".into(),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: "0".into(),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: "9".repeat(40),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: "1".into(),
                ..quote_req()
            },
        ),
        (
            "src_amount",
            pb::GetQuoteRequest {
                src_amount: "100000000000".into(),
                ..quote_req()
            },
        ),
    ] {
        assert_invalid(e.public.get_quote(m).await.unwrap_err(), f);
        checked += 1;
    }

    // SubmitOrder
    let base = submit_req(&q.quote_id, &secret());
    let cases: Vec<(&str, pb::SubmitOrderRequest)> = vec![
        (
            "idempotency_key",
            pb::SubmitOrderRequest {
                idempotency_key: "short".into(),
                ..base.clone()
            },
        ),
        (
            "idempotency_key",
            pb::SubmitOrderRequest {
                idempotency_key: "bad key with spaces!!".into(),
                ..base.clone()
            },
        ),
        (
            "idempotency_key",
            pb::SubmitOrderRequest {
                idempotency_key: "k".repeat(65),
                ..base.clone()
            },
        ),
        (
            "quote_id",
            pb::SubmitOrderRequest {
                quote_id: String::new(),
                ..base.clone()
            },
        ),
        (
            "quote_id",
            pb::SubmitOrderRequest {
                quote_id: "xyz".into(),
                ..base.clone()
            },
        ),
        (
            "hashlock",
            pb::SubmitOrderRequest {
                hashlock: vec![1; 31],
                ..base.clone()
            },
        ),
        (
            "hashlock",
            pb::SubmitOrderRequest {
                hashlock: vec![],
                ..base.clone()
            },
        ),
        (
            "hashlock",
            pb::SubmitOrderRequest {
                hashlock: vec![1; 33],
                ..base.clone()
            },
        ),
        (
            "maker_btc_pubkey",
            pb::SubmitOrderRequest {
                maker_btc_pubkey: vec![4; 33],
                ..base.clone()
            },
        ),
        (
            "maker_btc_pubkey",
            pb::SubmitOrderRequest {
                maker_btc_pubkey: vec![2; 65],
                ..base.clone()
            },
        ),
        (
            "maker_btc_pubkey",
            pb::SubmitOrderRequest {
                maker_btc_pubkey: vec![],
                ..base.clone()
            },
        ),
        (
            "maker_eth_address",
            pb::SubmitOrderRequest {
                maker_eth_address: String::new(),
                ..base.clone()
            },
        ),
        (
            "maker_eth_address",
            pb::SubmitOrderRequest {
                maker_eth_address: "1111111111111111111111111111111111111111".into(),
                ..base.clone()
            },
        ),
        (
            "maker_eth_address",
            pb::SubmitOrderRequest {
                maker_eth_address: format!("0x{}", "0".repeat(40)),
                ..base.clone()
            },
        ),
        (
            "maker_eth_address",
            pb::SubmitOrderRequest {
                maker_eth_address: "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
                ..base.clone()
            },
        ),
        (
            "maker_eth_address",
            pb::SubmitOrderRequest {
                maker_eth_address: "0x1234".into(),
                ..base.clone()
            },
        ),
        (
            "chain_id",
            pb::SubmitOrderRequest {
                chain_id: 1,
                ..base.clone()
            },
        ),
        (
            "chain_id",
            pb::SubmitOrderRequest {
                chain_id: 0,
                ..base.clone()
            },
        ),
    ];
    for (f, m) in cases {
        assert_invalid(e.public.submit_order(m).await.unwrap_err(), f);
        checked += 1;
    }

    // GetSwap, WatchSwap, RevealSecret
    for b in bad_ids {
        assert_invalid(
            e.public
                .get_swap(pb::GetSwapRequest { swap_id: b.into() })
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.public
                .watch_swap(pb::WatchSwapRequest {
                    swap_id: b.into(),
                    after_version: 0,
                })
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.public
                .reveal_secret(pb::RevealSecretRequest {
                    swap_id: b.into(),
                    secret: s.expose().to_vec(),
                    signed_claims: vec![],
                })
                .await
                .unwrap_err(),
            "swap_id",
        );
        checked += 3;
    }
    for (f, m) in [
        (
            "secret",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: vec![],
                signed_claims: vec![],
            },
        ),
        (
            "secret",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: vec![1; 31],
                signed_claims: vec![],
            },
        ),
        (
            "secret",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: vec![1; 600],
                signed_claims: vec![],
            },
        ),
        (
            "secret",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: vec![1; 32],
                signed_claims: vec![],
            },
        ),
        (
            "signed_claims",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: s.expose().to_vec(),
                signed_claims: vec![vec![1]; 9],
            },
        ),
        (
            "signed_claims",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: s.expose().to_vec(),
                signed_claims: vec![vec![]],
            },
        ),
        (
            "signed_claims",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: s.expose().to_vec(),
                signed_claims: vec![vec![1; 100_001]],
            },
        ),
        // A BTC -> ETH reveal carries no claims.
        (
            "signed_claims",
            pb::RevealSecretRequest {
                swap_id: id.clone(),
                secret: s.expose().to_vec(),
                signed_claims: vec![vec![1; 10]],
            },
        ),
    ] {
        assert_invalid(e.public.reveal_secret(m).await.unwrap_err(), f);
        checked += 1;
    }

    // ListSwaps
    let lreq = |maker: &str, size: u32, tok: &str| pb::ListSwapsRequest {
        maker: maker.into(),
        page_size: size,
        page_token: tok.into(),
    };
    let maker = "0x1111111111111111111111111111111111111111";
    for (f, m) in [
        ("maker", lreq("", 0, "")),
        ("maker", lreq("0x12", 0, "")),
        ("maker", lreq("04abcd", 0, "")),
        ("maker", lreq(&format!("04{}", "11".repeat(32)), 0, "")),
        ("page_size", lreq(maker, 101, "")),
        ("page_token", lreq(maker, 0, "garbage")),
        ("page_token", lreq(maker, 0, &"9".repeat(65))),
        ("page_token", lreq(maker, 0, "12.zz")),
    ] {
        assert_invalid(e.public.list_swaps(m).await.unwrap_err(), f);
        checked += 1;
    }

    // ResolverService
    for b in bad_ids {
        assert_invalid(
            e.resolver
                .accept_order(res1(accept_req(b)))
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.resolver
                .report_tx(res1(rpb::ReportTxRequest {
                    swap_id: b.into(),
                    chain: 1,
                    kind: 1,
                    tx_id: vec![1; 32],
                    raw_tx: vec![],
                }))
                .await
                .unwrap_err(),
            "swap_id",
        );
        checked += 2;
    }
    let fresh = e.new_swap(&secret()).await;
    let before = {
        // The fresh swap was written on purpose; count from here.
        let _ = before;
        table_counts(&e.store).await
    };
    for (f, m) in [
        (
            "resolver_btc_pubkey",
            rpb::AcceptOrderRequest {
                resolver_btc_pubkey: vec![1; 33],
                ..accept_req(&fresh.swap_id)
            },
        ),
        (
            "resolver_btc_pubkey",
            rpb::AcceptOrderRequest {
                resolver_btc_pubkey: vec![],
                ..accept_req(&fresh.swap_id)
            },
        ),
        (
            "resolver_eth_address",
            rpb::AcceptOrderRequest {
                resolver_eth_address: "nope".into(),
                ..accept_req(&fresh.swap_id)
            },
        ),
        (
            "resolver_eth_address",
            rpb::AcceptOrderRequest {
                resolver_eth_address: String::new(),
                ..accept_req(&fresh.swap_id)
            },
        ),
        (
            "decline_reason",
            rpb::AcceptOrderRequest {
                accept: false,
                decline_reason: String::new(),
                ..accept_req(&fresh.swap_id)
            },
        ),
        (
            "decline_reason",
            rpb::AcceptOrderRequest {
                accept: false,
                decline_reason: "Has Spaces".into(),
                ..accept_req(&fresh.swap_id)
            },
        ),
    ] {
        assert_invalid(e.resolver.accept_order(res1(m)).await.unwrap_err(), f);
        checked += 1;
    }
    let rt = |chain, kind, tx: Vec<u8>, raw: Vec<u8>| rpb::ReportTxRequest {
        swap_id: id.clone(),
        chain,
        kind,
        tx_id: tx,
        raw_tx: raw,
    };
    for (f, m) in [
        ("chain", rt(0, 1, vec![1; 32], vec![])),
        ("chain", rt(9, 1, vec![1; 32], vec![])),
        ("kind", rt(1, 0, vec![1; 32], vec![])),
        ("kind", rt(1, 9, vec![1; 32], vec![])),
        ("tx_id", rt(1, 1, vec![1; 31], vec![])),
        ("tx_id", rt(1, 1, vec![], vec![])),
        ("raw_tx", rt(1, 1, vec![1; 32], vec![0; 100_001])),
    ] {
        assert_invalid(e.resolver.report_tx(res1(m)).await.unwrap_err(), f);
        checked += 1;
    }
    let pair = |s: Option<pb::Asset>, d: Option<pb::Asset>| rpb::SubscribeOrdersRequest {
        pairs: vec![rpb::Pair {
            src_asset: s,
            dst_asset: d,
        }],
    };
    for (f, m) in [
        ("pairs[0].src_asset", pair(None, eth())),
        (
            "pairs[0].dst_asset.chain",
            pair(
                btc(),
                Some(pb::Asset {
                    chain: 0,
                    token: String::new(),
                }),
            ),
        ),
        ("pairs[0]", pair(eth(), eth())),
        (
            "pairs",
            rpb::SubscribeOrdersRequest {
                pairs: vec![
                    rpb::Pair {
                        src_asset: btc(),
                        dst_asset: eth()
                    };
                    33
                ],
            },
        ),
    ] {
        assert_invalid(e.resolver.subscribe_orders(res1(m)).await.unwrap_err(), f);
        checked += 1;
    }

    // AdminService
    for b in bad_ids {
        assert_invalid(
            e.admin
                .get_timeline(adm(apb::GetTimelineRequest { swap_id: b.into() }))
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.admin
                .retry(adm(apb::RetryRequest {
                    swap_id: b.into(),
                    reason: "r".into(),
                }))
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.admin
                .force_refund(adm(apb::ForceRefundRequest {
                    swap_id: b.into(),
                    reason: "r".into(),
                }))
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.admin
                .annotate(adm(apb::AnnotateRequest {
                    swap_id: b.into(),
                    note: "n".into(),
                }))
                .await
                .unwrap_err(),
            "swap_id",
        );
        assert_invalid(
            e.admin
                .resolve(adm(apb::ResolveRequest {
                    swap_id: b.into(),
                    close: false,
                    reason: "r".into(),
                }))
                .await
                .unwrap_err(),
            "swap_id",
        );
        checked += 5;
    }
    for reason in ["", "   ", &"r".repeat(501), "bad\u{7}bell"] {
        assert_invalid(
            e.admin
                .retry(adm(apb::RetryRequest {
                    swap_id: id.clone(),
                    reason: reason.into(),
                }))
                .await
                .unwrap_err(),
            "reason",
        );
        assert_invalid(
            e.admin
                .force_refund(adm(apb::ForceRefundRequest {
                    swap_id: id.clone(),
                    reason: reason.into(),
                }))
                .await
                .unwrap_err(),
            "reason",
        );
        assert_invalid(
            e.admin
                .resolve(adm(apb::ResolveRequest {
                    swap_id: id.clone(),
                    close: true,
                    reason: reason.into(),
                }))
                .await
                .unwrap_err(),
            "reason",
        );
        assert_invalid(
            e.admin
                .pause(adm(apb::PauseRequest {
                    reason: reason.into(),
                }))
                .await
                .unwrap_err(),
            "reason",
        );
        assert_invalid(
            e.admin
                .resume(adm(apb::ResumeRequest {
                    reason: reason.into(),
                }))
                .await
                .unwrap_err(),
            "reason",
        );
        checked += 5;
    }
    for note in ["", &"n".repeat(1_001)] {
        assert_invalid(
            e.admin
                .annotate(adm(apb::AnnotateRequest {
                    swap_id: id.clone(),
                    note: note.into(),
                }))
                .await
                .unwrap_err(),
            "note",
        );
        checked += 1;
    }
    assert_invalid(
        e.admin
            .list_stuck(adm(apb::ListStuckRequest { limit: 501 }))
            .await
            .unwrap_err(),
        "limit",
    );
    checked += 1;

    assert_eq!(
        table_counts(&e.store).await,
        before,
        "a refused call wrote nothing"
    );
    assert!(checked >= 140, "{checked} malformed calls");
    eprintln!("malformed calls checked: {checked}");
    e.relayer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_and_unauthorized_calls_are_refused() {
    let mut e = env().await;
    let s = secret();
    let swap = e.new_swap(&s).await;
    let before = table_counts(&e.store).await;
    // Resolver methods: no credentials -> UNAUTHENTICATED; a wrong token too; an admin token ->
    // PERMISSION_DENIED.
    let err = e
        .resolver
        .accept_order(accept_req(&swap.swap_id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = e
        .resolver
        .accept_order(bearer(accept_req(&swap.swap_id), "not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = e
        .resolver
        .accept_order(bearer(accept_req(&swap.swap_id), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = e
        .resolver
        .subscribe_orders(rpb::SubscribeOrdersRequest { pairs: vec![] })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let rep = rpb::ReportTxRequest {
        swap_id: swap.swap_id.clone(),
        chain: 1,
        kind: 1,
        tx_id: vec![1; 32],
        raw_tx: vec![],
    };
    assert_eq!(
        e.resolver.report_tx(rep).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Admin methods: none, wrong, and resolver tokens refused.
    let a = apb::PauseRequest { reason: "x".into() };
    assert_eq!(
        e.admin.pause(a.clone()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        e.admin
            .pause(bearer(a.clone(), "nope"))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        e.admin
            .pause(bearer(a.clone(), R1_TOKEN))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let st = apb::ListStuckRequest { limit: 1 };
    assert_eq!(
        e.admin.list_stuck(st).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let fr = apb::ForceRefundRequest {
        swap_id: swap.swap_id.clone(),
        reason: "x".into(),
    };
    assert_eq!(
        e.admin
            .force_refund(bearer(fr, R2_TOKEN))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // A service called on a listener that does not serve it is refused too.
    let mut admin_on_public = AdminServiceClient::new(channel(e.relayer.url_public()).await);
    let err = admin_on_public
        .pause(bearer(a.clone(), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    let mut public_on_resolver = SwapServiceClient::new(channel(e.relayer.url_resolver()).await);
    assert_eq!(
        public_on_resolver
            .get_quote(quote_req())
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
    assert_eq!(table_counts(&e.store).await, before);
    e.relayer.stop().await;
}

#[test]
fn the_permission_table_has_an_entry_for_every_method_in_the_descriptor_sets() {
    let mut methods = Vec::new();
    for set in [
        crosslock_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        let fds = prost_types::FileDescriptorSet::decode(set).unwrap();
        for f in fds.file {
            for s in &f.service {
                for m in &s.method {
                    methods.push(format!("/{}.{}/{}", f.package(), s.name(), m.name()));
                }
            }
        }
    }
    for reflection in ["grpc.reflection.v1", "grpc.reflection.v1alpha"] {
        methods.push(format!(
            "/{reflection}.ServerReflection/ServerReflectionInfo"
        ));
    }
    assert!(methods.len() >= 20, "{methods:?}");
    let missing: Vec<_> = methods
        .iter()
        .filter(|m| crosslock_relayer::auth::permission(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "methods without a permission entry: {missing:?}"
    );
    // And no stale entries for methods that do not exist.
    for (p, roles) in crosslock_relayer::auth::PERMISSIONS {
        assert!(methods.iter().any(|m| m == p), "stale entry {p}");
        assert!(!roles.is_empty(), "{p} allows nobody");
    }
    // Deny by default.
    assert!(crosslock_relayer::auth::permission("/crosslock.public.v1.SwapService/Nope").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reflection_lists_the_services_like_grpcurl() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let e = env().await;
    for (url, expect) in [
        (e.relayer.url_public(), "crosslock.public.v1.SwapService"),
        (e.relayer.url_admin(), "crosslock.admin.v1.AdminService"),
    ] {
        let mut c = ServerReflectionClient::new(channel(url.clone()).await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut resp = c
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let msg = resp.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
            panic!("unexpected {msg:?}");
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.clone()).collect();
        assert!(names.iter().any(|n| n == expect), "{names:?}");
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{names:?}"
        );
        // grpcurl describe: the file defining the service resolves.
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(expect.to_owned())),
        };
        let mut resp = c
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let msg = resp.message().await.unwrap().unwrap();
        assert!(matches!(
            msg.message_response,
            Some(MessageResponse::FileDescriptorResponse(_))
        ));
        eprintln!("{url}: {names:?}");
    }
    e.relayer.stop().await;
}

async fn http_raw(addr: std::net::SocketAddr, req: impl AsRef<[u8]>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_ref()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_web_cors_allows_only_listed_origins_and_metrics_are_exported() {
    let mut e = env().await;
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /crosslock.public.v1.SwapService/GetQuote HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,x-grpc-web\r\nConnection: close\r\n\r\n"
        )
    };
    let ok = http_raw(e.relayer.public, preflight("https://app.example"))
        .await
        .to_lowercase();
    assert!(
        ok.contains("access-control-allow-origin: https://app.example"),
        "{ok}"
    );
    let no = http_raw(e.relayer.public, preflight("https://evil.example"))
        .await
        .to_lowercase();
    assert!(!no.contains("access-control-allow-origin"), "{no}");
    // A gRPC-Web call over HTTP/1.1.
    let body = quote_req().encode_to_vec();
    let mut frame = vec![0_u8];
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&body);
    let mut req = format!(
        "POST /crosslock.public.v1.SwapService/GetQuote HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nOrigin: https://app.example\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        frame.len()
    )
    .into_bytes();
    req.extend_from_slice(&frame);
    let resp = http_raw(e.relayer.public, req).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("grpc-status:0") || resp.contains("grpc-status: 0"),
        "{resp}"
    );

    e.public.get_quote(quote_req()).await.unwrap();
    let _ = e.locked_swap(&secret()).await;
    let m = http_raw(e.relayer.metrics, "GET /metrics HTTP/1.0\r\n\r\n").await;
    for name in [
        "crosslock_api_request_duration_seconds",
        "crosslock_state_transitions_total",
        "crosslock_chain_head_lag_seconds",
    ] {
        assert!(m.contains(name), "metrics lack {name}");
    }
    e.relayer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_messages_and_callers_over_the_rate_limit_are_refused() {
    let mut e = env_with(|c| {
        c.limits.rate_limit_per_minute = 5;
        c.limits.max_message_bytes = 64 * 1024;
    })
    .await;
    let before = table_counts(&e.store).await;
    // A message over the listener's limit is refused before any handler runs.
    let big = rpb::ReportTxRequest {
        swap_id: "0".repeat(32),
        chain: 1,
        kind: 1,
        tx_id: vec![1; 32],
        raw_tx: vec![0; 65 * 1024],
    };
    let err = e.resolver.report_tx(res1(big)).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    // Five quotes a minute from one address, then RESOURCE_EXHAUSTED.
    for _ in 0..5 {
        e.public.get_quote(quote_req()).await.unwrap();
    }
    let err = e.public.get_quote(quote_req()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let quotes: i64 = sqlx::query_scalar("SELECT count(*) FROM quotes")
        .fetch_one(e.store.pool())
        .await
        .unwrap();
    assert_eq!(
        quotes,
        before.iter().find(|(t, _)| t == "quotes").unwrap().1 + 5
    );
    e.relayer.stop().await;
}
