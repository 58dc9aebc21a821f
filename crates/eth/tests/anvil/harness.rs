//! A real anvil for the tests: the pinned binary from the repository's node_modules, on a free
//! loopback port, killed when dropped. Plus helpers to deploy the escrow and a token.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::sol_types::SolCall;
use crosslock_eth::{
    EthSigner, LocalKey, MemoryTxStore, SenderConfig, TestToken, TxIntent, TxSender, TxState,
    contract::{created_address, deploy_escrow},
};

pub struct Anvil {
    child: Child,
    pub url: String,
    pub keys: Vec<String>,
}

impl Anvil {
    pub fn start() -> Anvil {
        let bin = std::env::var_os("ANVIL")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
            });
        let mut child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", "0", "--accounts", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (run `npm ci`): {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut keys = Vec::new();
        let mut in_keys = false;
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            assert!(Instant::now() < deadline, "anvil did not start");
            let line = lines.next().expect("anvil exited").expect("anvil output");
            if line.starts_with("Private Keys") {
                in_keys = true;
            } else if in_keys && line.starts_with('(') {
                keys.push(line.split_whitespace().nth(1).expect("key").to_owned());
            } else if in_keys && line.starts_with("Wallet") {
                in_keys = false;
            }
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break format!("http://{}", addr.trim());
            }
        };
        // Keep draining stdout so anvil never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Anvil { child, url, keys }
    }

    pub fn provider(&self) -> RootProvider {
        RootProvider::new_http(self.url.parse().expect("url"))
    }

    pub fn signer(&self, index: usize) -> EthSigner {
        EthSigner::local(&LocalKey::new(self.keys[index].clone())).expect("anvil key")
    }

    pub async fn sender(
        &self,
        index: usize,
        store: MemoryTxStore,
    ) -> TxSender<RootProvider, MemoryTxStore> {
        TxSender::open(
            self.provider(),
            store,
            self.signer(index),
            SenderConfig::new(31337),
        )
        .await
        .expect("sender")
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `intent` and waits (anvil automines) until it is in a block; panics if it reverted.
pub async fn send_ok(
    provider: &RootProvider,
    sender: &mut TxSender<RootProvider, MemoryTxStore>,
    key: &str,
    intent: TxIntent,
) -> alloy::rpc::types::TransactionReceipt {
    let entry = sender.submit(key, intent).await.expect("submit");
    let receipt = wait_receipt(provider, entry.hash).await;
    assert!(receipt.status(), "{key} reverted");
    receipt
}

pub async fn wait_receipt(
    provider: &RootProvider,
    hash: B256,
) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..100 {
        if let Some(r) = provider
            .get_transaction_receipt(hash)
            .await
            .expect("receipt")
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash}");
}

pub struct Deployed {
    pub escrow: Address,
    pub token: Address,
}

/// Deploys the escrow and a test token from account 0, and mints tokens to accounts 0..3.
pub async fn deploy(anvil: &Anvil) -> Deployed {
    let provider = anvil.provider();
    let mut sender = anvil.sender(0, MemoryTxStore::default()).await;
    let create = |code| TxIntent {
        to: TxKind::Create,
        value: U256::ZERO,
        input: code,
    };
    let entry = sender
        .submit("deploy:escrow", deploy_escrow())
        .await
        .expect("deploy");
    let escrow = wait_receipt(&provider, entry.hash)
        .await
        .contract_address
        .expect("escrow");
    assert_eq!(
        escrow,
        created_address(&entry),
        "address known before mining"
    );
    let token = send_ok(
        &provider,
        &mut sender,
        "deploy:token",
        create(TestToken::BYTECODE.clone()),
    )
    .await
    .contract_address
    .expect("token address");
    for i in 0..3 {
        let to = anvil.signer(i).address();
        let mint = TestToken::mintCall {
            to,
            amount: U256::from(10u128.pow(24)),
        };
        send_ok(
            &provider,
            &mut sender,
            &format!("mint:{i}"),
            TxIntent {
                to: TxKind::Call(token),
                value: U256::ZERO,
                input: mint.abi_encode().into(),
            },
        )
        .await;
    }
    assert!(sender.entries().all(|e| e.state == TxState::Pending));
    Deployed { escrow, token }
}

pub fn sha256(preimage: &B256) -> B256 {
    use sha2::Digest;
    let digest: [u8; 32] = sha2::Sha256::digest(preimage.as_slice()).into();
    B256::from(digest)
}

pub async fn now(provider: &RootProvider) -> u64 {
    provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .expect("block")
        .expect("latest")
        .header
        .timestamp
}
