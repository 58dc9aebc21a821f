//! The Ethereum adapter against a real anvil and Postgres: an escrow lock moves an ETH -> BTC
//! swap to `SrcLockSeen`, a reorg that removes it moves the swap back, the lock again and its
//! confirmation move it to `SrcLocked`, a claim on the escrow gives the relayer the secret, and
//! the watcher's own cursor is saved only under the lease. A relayer pointed at an address whose
//! code is not the escrow refuses to start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/anvil.rs"]
mod anvil;
mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use anvil::Anvil;
use common::*;
use crosslock_core::chain::Chain;
use crosslock_core::secret::Secret;
use crosslock_eth::{Finality, SwapParams, TestToken, contract::escrow_creation_code};
use crosslock_proto::public::v1 as pb;
use crosslock_proto::public::v1::SwapState as S;
use crosslock_relayer::cache::Cache;
use crosslock_relayer::chains::eth::{EthSource, EthSourceConfig};
use crosslock_relayer::engine::Engine;
use crosslock_relayer::watcher::{ChainSource, apply_update};
use crosslock_relayer::{Listeners, RunError, run};
use tokio::net::TcpListener;

fn random_secret() -> Secret {
    let mut b = [0_u8; 32];
    b[..16].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    b[16..].copy_from_slice(&crosslock_relayer::random_id().unwrap());
    Secret::new(b)
}

/// One watcher step as `run_watcher` does it: next, apply under the lease, commit.
async fn step(engine: &Engine, source: &mut EthSource) -> usize {
    let token = engine
        .store
        .acquire_lease("watcher:ethereum", &engine.replica, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("lease");
    let cursor = engine
        .store
        .cursor("ethereum")
        .await
        .unwrap()
        .map(|(h, hash, _)| (h, hash));
    let Some(u) = source.next(cursor).await.unwrap() else {
        return 0;
    };
    assert!(
        apply_update(engine, Chain::Ethereum, &u, token)
            .await
            .unwrap()
    );
    source.commit().await.unwrap();
    u.observations.len()
}

async fn state(engine: &Engine, id: &str) -> pb::SwapState {
    let id = crosslock_relayer::api::parse_swap_id("swap_id", id).unwrap();
    let v = engine.store.view(id).await.unwrap();
    pb::SwapState::try_from(v.state).unwrap()
}

async fn wait_state(engine: &Engine, source: &mut EthSource, id: &str, want: pb::SwapState) {
    for _ in 0..40 {
        step(engine, source).await;
        if state(engine, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "swap never reached {want:?}, is {:?}",
        state(engine, id).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn escrow_lock_reorg_confirmation_and_claim_reach_the_swap() {
    let anvil = Anvil::start();
    let accts = anvil.accounts().await;
    let (deployer, maker, resolver_addr) = (accts[0], accts[1], accts[2]);
    let escrow = anvil.deploy(deployer, escrow_creation_code()).await;

    let db = TestDb::new().await;
    let mut config = test_config(&db.url, &redis_url());
    config.escrow_contract = escrow.to_checksum(None);
    let replica = config.replica.clone();
    let relayer = Relayer::start(config.clone()).await;
    let store = db.store().await;
    set_heads(&store, &replica, 1_000).await;

    // An ETH -> BTC order, matched.
    let secret = random_secret();
    let parties = Parties {
        maker_eth: maker.to_checksum(None),
        resolver_eth: resolver_addr.to_checksum(None),
        ..Parties::default()
    };
    let (_, swap) = matched_order(
        &relayer,
        pb::Direction::EthToBtc,
        "1000000000000000000",
        secret.hashlock().0,
        &parties,
    )
    .await;
    let sid = swap.swap_id.clone();
    let lock = swap.ethereum.clone().expect("the escrow lock's terms");
    let params = SwapParams {
        hashlock: B256::from(secret.hashlock().0),
        sender: lock.sender.parse().unwrap(),
        receiver: lock.receiver.parse().unwrap(),
        token: None,
        amount: lock.amount.parse().unwrap(),
        timeout: u64::try_from(lock.timeout).unwrap(),
    };

    // Two blocks on top count as final here; production runs at `finalized`.
    let engine = Engine::new(store.clone(), Cache::disabled(), &replica);
    let source_config = EthSourceConfig {
        rpc_url: anvil.url.clone(),
        escrow,
        chain_id: 31_337,
        start_block: 0,
        finality: Finality::Latest { confirmations: 2 },
        poll_interval: Duration::from_millis(50),
    };
    let mut source = EthSource::connect(&source_config, store.clone(), &replica)
        .await
        .unwrap();
    step(&engine, &mut source).await;

    // Seen, then reorged away, then back.
    let before = anvil.snapshot().await;
    anvil
        .send(maker, crosslock_eth::lock::lock(escrow, &params))
        .await;
    wait_state(&engine, &mut source, &sid, S::SrcLockSeen).await;
    let id = crosslock_relayer::api::parse_swap_id("swap_id", &swap.swap_id).unwrap();
    let seen = store.view(id).await.unwrap().ethereum.unwrap();
    assert_eq!(
        seen.escrow_id,
        params.id().0.to_vec(),
        "the lock found by hashlock"
    );
    anvil.revert(before).await;
    anvil.mine(2).await;
    wait_state(&engine, &mut source, &sid, S::Matched).await;

    anvil
        .send(maker, crosslock_eth::lock::lock(escrow, &params))
        .await;
    wait_state(&engine, &mut source, &sid, S::SrcLockSeen).await;
    anvil.mine(2).await;
    wait_state(&engine, &mut source, &sid, S::SrcLocked).await;

    // A restart resumes from the stored cursor: nothing new, nothing replayed twice.
    let mut source = EthSource::connect(&source_config, store.clone(), &replica)
        .await
        .unwrap();
    assert_eq!(step(&engine, &mut source).await, 0);

    // The resolver claims the escrow with the secret: the relayer learns it at once.
    assert!(store.secret(id).await.unwrap().is_none());
    let claim = crosslock_eth::claim::claim(escrow, &params, B256::from(*secret.expose())).unwrap();
    anvil.send(resolver_addr, claim).await;
    for _ in 0..40 {
        step(&engine, &mut source).await;
        if store.secret(id).await.unwrap().is_some() {
            break;
        }
    }
    assert_eq!(
        store.secret(id).await.unwrap().map(|s| *s.expose()),
        Some(*secret.expose()),
        "the secret from the Claimed log is stored"
    );

    // Another replica holds the lease now: our cursor write is refused.
    sqlx::query("UPDATE relayer.leases SET holder = 'other', fencing = fencing + 1")
        .execute(store.pool())
        .await
        .unwrap();
    anvil.mine(1).await;
    let cursor = store
        .cursor("ethereum")
        .await
        .unwrap()
        .map(|(h, x, _)| (h, x));
    assert!(source.next(cursor).await.unwrap().is_some());
    assert!(source.commit().await.is_err(), "fenced out");
    relayer.stop().await;
}

async fn start_against(escrow: Address, anvil: &Anvil) -> Result<(), RunError> {
    let db = TestDb::new().await;
    let mut config = test_config(&db.url, &redis_url());
    config.escrow_contract = escrow.to_checksum(None);
    config.chains.eth_rpc_url = crosslock_relayer::config::Sensitive(anvil.url.clone());
    let l = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        resolver: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        metrics: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let public = l.public.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(config, l, async move {
        let _ = rx.await;
    }));
    // A relayer that starts serves health; stop it shortly after.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = tx.send(());
    let r = task.await.unwrap();
    if r.is_ok() {
        assert!(std::net::TcpStream::connect(public).is_ok() || r.is_ok());
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relayer_refuses_to_start_against_code_that_is_not_the_escrow() {
    let anvil = Anvil::start();
    let deployer = anvil.accounts().await[0];
    let token = anvil.deploy(deployer, TestToken::BYTECODE.clone()).await;
    let escrow = anvil.deploy(deployer, escrow_creation_code()).await;

    let err = start_against(token, &anvil).await.expect_err("refused");
    assert!(
        matches!(&err, RunError::Chains(_)) && err.to_string().contains("code"),
        "{err}"
    );
    let empty = Address::from([0x42; 20]);
    let err = start_against(empty, &anvil)
        .await
        .expect_err("no code refused");
    assert!(matches!(&err, RunError::Chains(_)), "{err}");
    start_against(escrow, &anvil)
        .await
        .expect("the real escrow starts");
    let _ = U256::ZERO;
}
