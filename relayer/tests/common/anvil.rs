//! A real anvil on a free loopback port (the pinned binary from the repository's node_modules,
//! or `$ANVIL`), killed when dropped; transactions are sent from its unlocked dev accounts.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use crosslock_eth::TxIntent;

pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Anvil {
    pub fn start() -> Anvil {
        let bin = std::env::var_os("ANVIL").map_or_else(
            || {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
            },
            PathBuf::from,
        );
        let mut child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", "0", "--accounts", "4"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (run `npm ci`): {e}", bin.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("anvil exited").unwrap();
            if let Some(a) = line.strip_prefix("Listening on ") {
                break format!("http://{}", a.trim());
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Anvil { child, url }
    }

    pub fn provider(&self) -> RootProvider {
        RootProvider::new_http(self.url.parse().unwrap())
    }

    pub async fn accounts(&self) -> Vec<Address> {
        self.provider().get_accounts().await.unwrap()
    }

    /// Send from an unlocked dev account and wait for the receipt; panics on a revert.
    pub async fn send(&self, from: Address, intent: TxIntent) -> TransactionReceipt {
        let p = self.provider();
        let mut tx = TransactionRequest::default()
            .with_from(from)
            .with_value(intent.value)
            .with_input(intent.input);
        tx.to = Some(intent.to);
        let hash: B256 = p
            .raw_request("eth_sendTransaction".into(), (tx,))
            .await
            .unwrap();
        for _ in 0..200 {
            if let Some(r) = p.get_transaction_receipt(hash).await.unwrap() {
                assert!(r.status(), "transaction reverted");
                return r;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no receipt for {hash}");
    }

    pub async fn deploy(&self, from: Address, code: alloy::primitives::Bytes) -> Address {
        self.send(
            from,
            TxIntent {
                to: TxKind::Create,
                value: U256::ZERO,
                input: code,
            },
        )
        .await
        .contract_address
        .unwrap()
    }

    pub async fn mine(&self, blocks: u64) {
        let _: serde_json::Value = self
            .provider()
            .raw_request("anvil_mine".into(), (U256::from(blocks),))
            .await
            .unwrap();
    }

    pub async fn snapshot(&self) -> U256 {
        self.provider()
            .raw_request("evm_snapshot".into(), ())
            .await
            .unwrap()
    }

    pub async fn revert(&self, id: U256) {
        let ok: bool = self
            .provider()
            .raw_request("evm_revert".into(), (id,))
            .await
            .unwrap();
        assert!(ok);
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
