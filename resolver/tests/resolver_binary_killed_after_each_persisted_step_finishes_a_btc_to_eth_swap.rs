//! The real `resolver` binary, as a child process, over anvil + the regtest chain + Postgres.
//! The test plays the relayer by appending the swap's events to the resolver's log (the gRPC
//! stream is not wired yet); the binary, holding the wallet lease, carries out what they make
//! due. After each persisted step (lock, ETH claim for the maker, BTC claim) the process aborts
//! before broadcasting (a failpoint: no destructor, no lease release, as with SIGKILL); a new
//! process with another pod name waits out the lease, takes it with a larger fencing token,
//! broadcasts, and is then SIGKILLed itself. The swap completes with one transaction per step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use bitcoin::bip32::Xpriv;
use crosslock_core::finality::Depth;
use crosslock_core::secret::Secret;
use crosslock_core::swap::{Event, Side};
use support::*;

struct Files {
    dir: tempfile::TempDir,
    metrics_port: u16,
    grpc_port: u16,
}

fn files(w: &World) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let xprv = Xpriv::new_master(bitcoin::Network::Regtest, &[42; 32]).unwrap();
    std::fs::write(
        dir.path().join("descriptor"),
        format!("wpkh({xprv}/84'/1'/0'/0/*)\nwpkh({xprv}/84'/1'/0'/1/*)\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("htlc-key"),
        hex::encode(w.htlc_key.secret_bytes()),
    )
    .unwrap();
    std::fs::write(dir.path().join("eth-key"), ANVIL_KEYS[2]).unwrap();
    std::fs::write(
        dir.path().join("resolver.toml"),
        "network = \"regtest\"\nwallet_name = \"binary\"\n[leader]\nlease_ttl_secs = 4\nlease_renew_secs = 1\n\
         [bitcoin]\nfee_rate_sat_vb = 2\nmax_fee_rate_sat_vb = 60\n",
    )
    .unwrap();
    // Both held until both are chosen, so the two ports differ.
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    Files {
        dir,
        metrics_port: a.local_addr().unwrap().port(),
        grpc_port: b.local_addr().unwrap().port(),
    }
}

/// The pids of the pods this test started.
static PODS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn reaped(pid: u32) {
    PODS.lock().unwrap().retain(|p| *p != pid);
}

/// Kills (by pid) every pod this test started and has not reaped yet, so a failing assertion
/// leaves no resolver behind. A pid is forgotten when its child is reaped: only then could the
/// system reuse it for someone else's process.
struct Reaper;

impl Drop for Reaper {
    fn drop(&mut self) {
        let pods = PODS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for pid in pods.iter() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn spawn(w: &World, f: &Files, n: u32, failpoint: Option<&str>) -> Child {
    let p = |name: &str| f.dir.path().join(name);
    let log = std::fs::File::create(p(&format!("pod-{n}.log"))).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_resolver"));
    c.env_clear()
        .env("RUST_LOG", "info")
        .env("RESOLVER_CONFIG", p("resolver.toml"))
        .env("RESOLVER_INSTANCE", format!("pod-{n}"))
        .env("RESOLVER_DATABASE_URL", &w.db.url)
        .env("RESOLVER_ETHEREUM_RPC_URL", &w.anvil.url)
        .env("RESOLVER_ETHEREUM_CHAIN_ID", "31337")
        .env("RESOLVER_ESCROW_CONTRACT", w.escrow.to_string())
        .env("RESOLVER_ETH_SIGNER", "local")
        .env("RESOLVER_ETH_KEY_FILE", p("eth-key"))
        .env("RESOLVER_BITCOIN_ELECTRUM_URL", &w.chain.electrum_url)
        .env("RESOLVER_BTC_DESCRIPTOR_FILE", p("descriptor"))
        .env("RESOLVER_BTC_HTLC_KEY_FILE", p("htlc-key"))
        .env("RESOLVER_BTC_WALLET_DIR", f.dir.path())
        .env(
            "RESOLVER_METRICS_ADDR",
            format!("127.0.0.1:{}", f.metrics_port),
        )
        .env("RESOLVER_GRPC_ADDR", format!("127.0.0.1:{}", f.grpc_port))
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(fp) = failpoint {
        c.env("RESOLVER_FAILPOINT", fp);
    }
    let child = c.spawn().expect("resolver binary");
    PODS.lock().unwrap().push(child.id());
    child
}

fn wait_exit(c: &mut Child, secs: u64) -> std::process::ExitStatus {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            reaped(c.id());
            return s;
        }
        assert!(
            Instant::now() < end,
            "the resolver did not reach its failpoint in {secs}s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigkill(mut c: Child) {
    c.kill().unwrap();
    let s = c.wait().unwrap();
    reaped(c.id());
    assert!(!s.success(), "killed");
}

async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    secs: u64,
    mut f: impl FnMut() -> F,
) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolver_binary_killed_after_each_persisted_step_finishes_a_btc_to_eth_swap() {
    // Dropped at the end of the test, or while unwinding from a failed assertion.
    let _reaper = Reaper;
    let started = Instant::now();
    let w = World::start().await;
    let f = files(&w);
    let pool = w.db.pool().await;
    let secret = Secret::new(rand_bytes::<32>());
    let (id, created, matched, terms) = btc_to_eth(&w, &secret).await;
    db::append(&pool, id, &created).await.unwrap();
    db::append(&pool, id, &matched).await.unwrap();
    let store = db::PgTxStore::new(pool.clone());
    let provider = w.anvil.provider();
    let nonce_before = w.anvil.nonce(w.resolver_eth()).await;
    let maker_before = w.anvil.balance(w.maker_eth()).await;

    let (src_lock, outpoint) = maker_funds(&w, &btc_terms(&terms.src));
    db::append(&pool, id, &w.tick().await).await.unwrap();
    let wall = w.clock().await.wall.0;
    db::append(
        &pool,
        id,
        &lock_seen(Side::Src, src_lock, sats(1_000_000), Depth::Btc(1), wall),
    )
    .await
    .unwrap();

    let entry = |key: String| {
        let store = store.clone();
        let me = w.resolver_eth();
        async move {
            store
                .all(me)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.key == key)
        }
    };

    // 1. Lock: persisted, then the process dies.
    let mut p = spawn(&w, &f, 1, Some("lock"));
    let status = wait_exit(&mut p, 90);
    eprintln!("pod-1 died at the lock failpoint: {status}");
    let lock = entry(format!("lock:{id}"))
        .await
        .expect("lock persisted before the death");
    assert!(
        provider
            .get_transaction_receipt(lock.hash)
            .await
            .unwrap()
            .is_none(),
        "never sent"
    );
    // A new pod takes the lease once it lapses and sends the persisted lock.
    let t = Instant::now();
    let p = spawn(&w, &f, 2, None);
    let receipt = wait_for("the lock", 90, || async {
        provider.get_transaction_receipt(lock.hash).await.unwrap()
    })
    .await;
    assert!(receipt.status());
    eprintln!(
        "pod-2 took over and sent the persisted lock {} in {:.1}s",
        lock.hash,
        t.elapsed().as_secs_f64()
    );
    sigkill(p);

    // 2. The secret: the ETH claim for the maker is persisted, then the process dies.
    let dst_lock = escrow_lock_id(&eth_terms(&terms.dst));
    db::append(
        &pool,
        id,
        &lock_seen(Side::Dst, dst_lock, wei(E18), FINAL, wall),
    )
    .await
    .unwrap();
    db::append(
        &pool,
        id,
        &Event::SecretRevealed {
            secret: secret.clone(),
            maker_claim: None,
        },
    )
    .await
    .unwrap();
    let mut p = spawn(&w, &f, 3, Some("claim_dst"));
    let status = wait_exit(&mut p, 90);
    let claim = entry(format!("claim_dst:{id}"))
        .await
        .expect("claim persisted");
    assert!(
        provider
            .get_transaction_receipt(claim.hash)
            .await
            .unwrap()
            .is_none(),
        "never sent"
    );
    eprintln!("pod-3 died at the claim_dst failpoint: {status}");
    let t = Instant::now();
    let p = spawn(&w, &f, 4, None);
    let receipt = wait_for("the ETH claim", 90, || async {
        provider.get_transaction_receipt(claim.hash).await.unwrap()
    })
    .await;
    assert!(receipt.status());
    assert_eq!(
        w.anvil.balance(w.maker_eth()).await - maker_before,
        U256::from(E18),
        "maker paid once"
    );
    eprintln!(
        "pod-4 sent the persisted ETH claim {} in {:.1}s",
        claim.hash,
        t.elapsed().as_secs_f64()
    );
    // While pod-4 leads, its metrics port answers.
    let metrics = wait_for("metrics", 30, || async {
        let m = scrape(f.metrics_port);
        m.contains("crosslock_resolver_is_leader 1").then_some(m)
    })
    .await;
    for name in [
        "crosslock_resolver_is_leader",
        "crosslock_resolver_inventory{asset=\"eth\"}",
        "crosslock_resolver_inventory{asset=\"btc\"}",
        "crosslock_resolver_swaps_in_flight",
        "crosslock_resolver_claims_pending",
    ] {
        assert!(metrics.contains(name), "{name} in:\n{metrics}");
    }
    eprintln!(
        "metrics of pod-4:\n{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("crosslock_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Docker's HEALTHCHECK command against the running pod, then against none.
    let health = |quiet: bool| {
        Command::new(env!("CARGO_BIN_EXE_resolver"))
            .arg("healthcheck")
            .env_clear()
            .env("RESOLVER_GRPC_ADDR", format!("127.0.0.1:{}", f.grpc_port))
            .stderr(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .status()
            .unwrap()
    };
    assert!(
        health(false).success(),
        "resolver healthcheck while pod-4 runs"
    );
    sigkill(p);
    assert!(!health(true).success(), "no pod, no health");

    // 3. The maker's ETH claim is seen: the BTC claim is persisted, then the process dies.
    db::append(
        &pool,
        id,
        &claim_seen(Side::Dst, dst_lock, claim.hash.0, &secret, INCLUDED),
    )
    .await
    .unwrap();
    let mut p = spawn(&w, &f, 5, Some("claim_src"));
    let status = wait_exit(&mut p, 90);
    let key = format!("claim_src:{id}:{outpoint}");
    let row = db::btc_outbox::get(&pool, &key)
        .await
        .unwrap()
        .expect("BTC claim persisted");
    assert!(confirmations(&w.chain, &row.txid).is_none(), "never sent");
    eprintln!("pod-5 died at the claim_src failpoint: {status}");
    let t = Instant::now();
    let p = spawn(&w, &f, 6, None);
    wait_for("the BTC claim", 90, || async {
        in_mempool(&w.chain, &row.txid).then_some(())
    })
    .await;
    eprintln!(
        "pod-6 sent the persisted BTC claim {} in {:.1}s",
        row.txid,
        t.elapsed().as_secs_f64()
    );
    mine(&w.chain, 6);
    db::append(&pool, id, &w.tick().await).await.unwrap();
    db::append(
        &pool,
        id,
        &claim_seen(
            Side::Src,
            src_lock,
            txid_bytes(&row.txid),
            &secret,
            Depth::Btc(6),
        ),
    )
    .await
    .unwrap();
    let t = db::append(
        &pool,
        id,
        &claim_seen(Side::Dst, dst_lock, claim.hash.0, &secret, FINAL),
    )
    .await
    .unwrap();
    assert_eq!(state(&t.swap), "Completed");
    // A graceful stop releases the lease.
    let status = Command::new("kill")
        .args(["-TERM", &p.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut p = p;
    let exit = wait_exit(&mut p, 30);
    assert!(exit.success(), "SIGTERM: clean exit, {exit}");

    // Exactly one lock and one claim left the resolver's ETH address; one BTC claim, signed once.
    assert_eq!(w.anvil.nonce(w.resolver_eth()).await - nonce_before, 2);
    let rows = db::btc_outbox::of_swap(&pool, id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].versions.is_empty());
    assert_eq!(confirmations(&w.chain, &row.txid), Some(6));
    let tokens: i64 = sqlx::query_scalar("SELECT token FROM leases WHERE name = 'wallet:binary'")
        .fetch_one(&pool)
        .await
        .unwrap();
    eprintln!(
        "swap {id} Completed across 6 processes (3 failpoint aborts, 2 SIGKILLs, 1 SIGTERM); lease token now {tokens}; {:.1}s in all",
        started.elapsed().as_secs_f64()
    );
    pool.close().await;
    w.drop_all().await;
}
