//! The real `swapctl` binary against a real relayer on loopback sockets, with a Postgres
//! database and a Redis key prefix of its own per test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{Maker, Relayer, RelayerOpts};

const RESOLVER_ETH: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";
const MAKER_ETH: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";

/// A relayer on loopback with its own database and Redis prefix, and a maker's swapctl
/// pointed at it (no chains: these commands never reach one).
struct Stack {
    relayer: Relayer,
    maker: Maker,
    admin: String,
}

impl Stack {
    async fn start() -> Stack {
        let relayer = Relayer::start(RelayerOpts::default()).await;
        // This relayer runs without chain adapters: record both heads as its watchers would,
        // since it takes no order before it knows them.
        relayer.set_head("bitcoin", 200).await;
        relayer.set_head("ethereum", 100).await;
        let maker = Maker::new(&relayer, "tcp://127.0.0.1:9");
        let admin = relayer.admin.clone();
        Stack {
            relayer,
            maker,
            admin,
        }
    }

    fn dir(&self) -> &Path {
        self.maker.dir.path()
    }

    fn state_file(&self) -> PathBuf {
        self.maker.state_file()
    }

    /// Run the real binary with this stack's settings and another state file.
    async fn swapctl_with(&self, args: &[&str], state: &Path) -> Output {
        let mut cmd = self.maker.command(args);
        cmd.env("SWAPCTL_STATE_FILE", state);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn swapctl(&self, args: &[&str]) -> Output {
        self.maker.run(args).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        self.maker.json(args).await
    }

    async fn count(&self, table: &str) -> i64 {
        self.relayer.count(table).await
    }

    async fn stop(self) {
        self.relayer.stop().await;
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn submit(s: &Stack) -> Value {
    s.json(&[
        "swap",
        "btc-to-eth",
        "--amount",
        "100000",
        "--eth-address",
        MAKER_ETH,
        "--no-wait",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_prints_a_table_and_json_with_the_documented_keys() {
    let s = Stack::start().await;
    let q = s.json(&["quote", "btc-to-eth", "--amount", "100000"]).await;
    for k in [
        "quote_id",
        "direction",
        "src_asset",
        "dst_asset",
        "src_amount",
        "dst_amount",
        "expires_at",
        "src_window_secs",
        "dst_window_secs",
        "chain_id",
    ] {
        assert!(q.get(k).is_some(), "quote JSON lacks {k}: {q}");
    }
    assert_eq!(q["direction"], "btc-to-eth");
    assert_eq!(q["src_asset"], "btc");
    assert_eq!(q["dst_asset"], "eth");
    assert_eq!(q["src_amount"], "100000");
    let table = s
        .swapctl(&["quote", "eth-to-btc", "--amount", "1000000000000000000"])
        .await;
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("quote") && text.contains("receive"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_stores_the_secret_in_a_0600_file_then_submits_and_status_shows_the_swap() {
    let s = Stack::start().await;
    let swap = submit(&s).await;
    let id = swap["swap_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(swap["state"], "Created");
    assert_eq!(swap["direction"], "btc-to-eth");
    assert_eq!(swap["maker_eth_address"], MAKER_ETH);
    assert_eq!(swap["secret_known"], false);

    let meta = std::fs::metadata(s.state_file()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let file: Value = serde_json::from_slice(&std::fs::read(s.state_file()).unwrap()).unwrap();
    let e = &file["swaps"][0];
    assert_eq!(e["swap_id"], id.as_str());
    let secret = hex::decode(e["secret"].as_str().unwrap()).unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(
        hex::encode(Sha256::digest(&secret)),
        swap["hashlock"].as_str().unwrap()
    );
    assert_eq!(e["btc_pubkey"], swap["maker_btc_pubkey"]);
    assert_eq!(s.count("swaps").await, 1);

    let one = s.json(&["status", &id]).await;
    assert_eq!(one["swap_id"], id.as_str());
    assert_eq!(one["state"], "Created");
    let all = s.json(&["status"]).await;
    assert_eq!(all["swaps"][0]["swap_id"], id.as_str());
    assert_eq!(all["swaps"][0]["relayer"]["state"], "Created");
    assert!(
        all.to_string()
            .find(e["secret"].as_str().unwrap())
            .is_none(),
        "status printed the secret"
    );
    let table = s.swapctl(&["status"]).await;
    assert!(String::from_utf8_lossy(&table.stdout).contains(&id));

    // Revealing before both locks are final is refused locally, and nothing is sent.
    let early = s.swapctl(&["reveal", &id]).await;
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("both locks must be final"),
        "{}",
        stderr(&early)
    );
    assert_eq!(s.count("secrets").await, 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_order_is_submitted_when_the_secret_cannot_be_stored_first() {
    let s = Stack::start().await;
    // Another swapctl holds the state file's lock past the wait: the secret cannot be
    // stored, so the order must not go out.
    let path = s.dir().join("locked/state.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path.with_extension("json.lock"), b"").unwrap();
    let out = s
        .swapctl_with(
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "100000",
                "--eth-address",
                MAKER_ETH,
                "--no-wait",
            ],
            &path,
        )
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nothing was submitted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        s.count("swaps").await,
        0,
        "an order went out without its secret on disk"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_refused_with_a_clear_error_and_nothing_written() {
    let s = Stack::start().await;
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount=-5",
                "--eth-address",
                MAKER_ETH,
            ],
            "invalid --amount",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "1.5",
                "--eth-address",
                MAKER_ETH,
            ],
            "invalid --amount",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "0",
                "--eth-address",
                MAKER_ETH,
            ],
            "invalid --amount",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "1000000000000000000000000000000000000000",
                "--eth-address",
                MAKER_ETH,
            ],
            "invalid --amount",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "100000",
                "--eth-address",
                "0x1234",
            ],
            "invalid --eth-address",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "100000",
                "--eth-address",
                "0xFB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            ],
            "invalid --eth-address",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "100000",
                "--eth-address",
                "0x0000000000000000000000000000000000000000",
            ],
            "zero address",
        ),
        (
            &[
                "swap",
                "eth-to-btc",
                "--amount",
                "100000",
                "--eth-address",
                MAKER_ETH,
                "--token",
                "nope",
            ],
            "invalid --token",
        ),
        (
            &[
                "swap",
                "btc-to-eth",
                "--amount",
                "100000",
                "--eth-address",
                MAKER_ETH,
                "--network",
                "moon",
            ],
            "--network",
        ),
        (&["quote", "sideways", "--amount", "1"], "invalid value"),
        (&["status", "not-an-id"], "invalid swap id"),
        (&["reveal", "ABCDEF"], "invalid swap id"),
        (&["admin", "timeline", "xyz"], "invalid swap id"),
        (
            &["admin", "annotate", "0123456789abcdef0123456789abcdef", ""],
            "the note",
        ),
        (
            &[
                "admin",
                "retry",
                "0123456789abcdef0123456789abcdef",
                "--reason",
                "",
            ],
            "--reason",
        ),
        (&["admin", "stuck", "--limit", "0"], "--limit"),
    ];
    for (args, msg) in cases {
        let out = s.swapctl(args).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&out).contains(msg),
            "{args:?}: expected {msg:?} in {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
    assert!(
        !s.state_file().exists(),
        "a refused command wrote the state file"
    );
    assert!(!s.state_file().parent().unwrap().exists());
    for t in ["swaps", "swap_events", "secrets", "admin_audit"] {
        assert_eq!(s.count(t).await, 0, "{t} written");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_act_on_a_swap_and_a_wrong_token_is_refused() {
    let s = Stack::start().await;
    let swap = submit(&s).await;
    let id = swap["swap_id"].as_str().unwrap().to_owned();

    let note = s
        .json(&["admin", "annotate", &id, "checked by ops, ticket OPS-1"])
        .await;
    assert_eq!(note["swap_id"], id.as_str());
    let tl = s.json(&["admin", "timeline", &id]).await;
    assert_eq!(tl["swap"]["swap_id"], id.as_str());
    let events = tl["events"].as_array().unwrap();
    assert!(events.len() >= 2, "{tl}");
    for e in events {
        for k in ["seq", "kind", "actor", "recorded_at", "detail"] {
            assert!(e.get(k).is_some(), "event lacks {k}: {e}");
        }
    }
    let last = events.last().unwrap();
    assert_eq!(last["actor"], "operator:ops");
    assert!(last.to_string().contains("OPS-1"), "{last}");
    let text = s.swapctl(&["admin", "timeline", &id]).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("SEQ"));

    let stuck = s.json(&["admin", "stuck"]).await;
    assert!(stuck["swaps"].is_array(), "{stuck}");

    // Retry and force-refund either act or are refused with the relayer's reason; both end in
    // the swap's record, never in a crash.
    for cmd in ["retry", "force-refund"] {
        let out = s.swapctl(&["admin", cmd, &id, "--reason", "test"]).await;
        if out.status.success() {
            let v: Value = serde_json::from_slice(
                &s.swapctl(&["admin", "timeline", &id, "--json"])
                    .await
                    .stdout,
            )
            .unwrap();
            assert_eq!(v["swap"]["swap_id"], id.as_str());
        } else {
            assert!(
                stderr(&out).contains("relayer refused"),
                "{cmd}: {}",
                stderr(&out)
            );
        }
        eprintln!(
            "admin {cmd}: exit {:?} {}",
            out.status.code(),
            stderr(&out).trim()
        );
    }

    assert_eq!(
        s.json(&["admin", "pause", "--reason", "maintenance"]).await["paused"],
        true
    );
    let refused = s
        .swapctl(&["quote", "btc-to-eth", "--amount", "100000"])
        .await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Unavailable"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        s.json(&["admin", "resume", "--reason", "done"]).await["paused"],
        false
    );
    assert!(
        s.swapctl(&["quote", "btc-to-eth", "--amount", "100000"])
            .await
            .status
            .success()
    );

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_swapctl"));
    cmd.args(["admin", "stuck"])
        .env_clear()
        .env("SWAPCTL_ADMIN_URL", &s.admin)
        .env("SWAPCTL_ADMIN_TOKEN", "not-the-token-0123456789");
    let bad = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("relayer refused"), "{}", stderr(&bad));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_swapctl"));
    cmd.args(["admin", "stuck"])
        .env_clear()
        .env("SWAPCTL_ADMIN_URL", &s.admin);
    let none = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("need credentials"),
        "{}",
        stderr(&none)
    );
    s.stop().await;
}

#[test]
fn completions_generate_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_swapctl"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("swapctl") && text.contains("force-refund"),
            "{shell}"
        );
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_swapctl"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// A resolver takes the swap, with both chain heads recorded as the relayer's watchers would
/// (this relayer runs without chain adapters): Bitcoin at height 200, Ethereum at wall time.
async fn accept(s: &Stack, id: &str) {
    s.relayer.set_head("bitcoin", 200).await;
    s.relayer.set_head("ethereum", 100).await;
    s.relayer.accept(id, RESOLVER_ETH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_retries_and_force_refunds_a_matched_swap_and_the_timeline_shows_it() {
    let s = Stack::start().await;
    let swap = submit(&s).await;
    let id = swap["swap_id"].as_str().unwrap().to_owned();
    accept(&s, &id).await;
    let matched = s.json(&["status", &id]).await;
    assert_eq!(matched["state"], "Matched", "{matched}");
    // The HTLC the maker would fund names the maker's key as the refund key.
    assert_eq!(
        matched["bitcoin"]["refund_pubkey"],
        swap["maker_btc_pubkey"]
    );
    assert!(matched["bitcoin"]["timeout_height"].as_u64().unwrap() > 0);

    let retry = s
        .swapctl(&[
            "admin",
            "retry",
            &id,
            "--reason",
            "watcher restarted",
            "--json",
        ])
        .await;
    eprintln!(
        "retry: exit {:?} {}",
        retry.status.code(),
        stderr(&retry).trim()
    );
    let refund = s
        .swapctl(&[
            "admin",
            "force-refund",
            &id,
            "--reason",
            "maker asked, OPS-2",
            "--json",
        ])
        .await;
    eprintln!(
        "force-refund: exit {:?} {}",
        refund.status.code(),
        stderr(&refund).trim()
    );
    assert!(refund.status.success(), "{}", stderr(&refund));
    let after: Value = serde_json::from_slice(&refund.stdout).unwrap();
    eprintln!("after force-refund: {}", after["state"]);
    let tl = s.json(&["admin", "timeline", &id]).await;
    let kinds: Vec<&str> = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    eprintln!("timeline: {kinds:?}");
    assert!(
        tl["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "operator:ops"),
        "{tl}"
    );
    assert_eq!(tl["swap"]["state"], after["state"]);
    s.stop().await;
}
