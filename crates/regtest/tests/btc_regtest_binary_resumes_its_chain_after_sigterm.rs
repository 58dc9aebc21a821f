//! The `btc-regtest` binary prints its addresses, stops cleanly on SIGTERM and, started again on
//! the same data directory, resumes the same chain, including an `invalidateblock`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crosslock_regtest::{ChildNode, RpcClient};
use serde_json::json;

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn start(dir: &Path) -> (ChildNode, RpcClient) {
    let node = ChildNode::spawn(
        Path::new(env!("CARGO_BIN_EXE_btc-regtest")),
        &[
            "--datadir",
            dir.to_str().unwrap(),
            "--rpc",
            "127.0.0.1:0",
            "--electrum",
            "127.0.0.1:0",
        ],
    )
    .unwrap();
    let rpc = RpcClient::new(&format!("http://{}", node.rpc_addr), None);
    (node, rpc)
}

#[test]
fn binary_resumes_its_chain_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (node, rpc) = start(dir.path());
    let hashes = rpc
        .call("generatetoaddress", &[json!(5), json!(ADDRESS)])
        .unwrap();
    rpc.call("invalidateblock", &[hashes[4].clone()]).unwrap();
    let best = rpc.call("getbestblockhash", &[]).unwrap();
    assert_eq!(best, hashes[3]);
    assert!(node.terminate().unwrap().success());

    let (_node, rpc) = start(dir.path());
    assert_eq!(rpc.call("getblockcount", &[]).unwrap(), json!(4));
    assert_eq!(rpc.call("getbestblockhash", &[]).unwrap(), best);
    rpc.call("reconsiderblock", &[hashes[4].clone()]).unwrap();
    assert_eq!(rpc.call("getblockcount", &[]).unwrap(), json!(5));
}

#[test]
fn rpc_auth_is_enforced_when_configured() {
    let node = crosslock_regtest::InProcess::start(crosslock_regtest::Config {
        rpc_auth: Some("alice:secret".into()),
        ..Default::default()
    })
    .unwrap();
    let anonymous = RpcClient::new(&node.rpc_url(), None);
    assert!(anonymous.call("getblockcount", &[]).is_err());
    let wrong = RpcClient::new(&node.rpc_url(), Some("alice:nope"));
    assert!(wrong.call("getblockcount", &[]).is_err());
    let alice = RpcClient::new(&node.rpc_url(), Some("alice:secret"));
    assert_eq!(alice.call("getblockcount", &[]).unwrap(), json!(0));
}
