//! Helpers shared by the integration tests: Core RPC calls, anyone-can-spend coins, keys.
//! Everything goes through Core's RPC or Electrum, so the tests also run against a real
//! bitcoind + Electrum server (BTC_RPC_URL / BTC_RPC_AUTH / ELECTRUM_URL).
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::str::FromStr as _;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness, absolute, transaction,
};
use crosslock_regtest::testing::TestChain;
use serde_json::{Value, json};

/// The redeem script `OP_TRUE`.
pub fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// Address of P2WSH(OP_TRUE): coins anyone can spend, so tests need no wallet.
pub fn anyone_address() -> Address {
    Address::p2wsh(&op_true(), Network::Regtest)
}

/// A P2WSH address for `witness_script`.
pub fn p2wsh_address(witness_script: &ScriptBuf) -> Address {
    Address::p2wsh(witness_script, Network::Regtest)
}

pub fn rpc(chain: &TestChain, method: &str, params: &[Value]) -> Value {
    chain
        .call(method, params)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

pub fn block_hash_at(chain: &TestChain, height: u32) -> String {
    rpc(chain, "getblockhash", &[json!(height)])
        .as_str()
        .unwrap()
        .to_owned()
}

/// The first output of the coinbase at `height`.
pub fn coinbase_coin(chain: &TestChain, height: u32) -> (OutPoint, TxOut) {
    let hash = block_hash_at(chain, height);
    let block = rpc(chain, "getblock", &[json!(hash), json!(0)]);
    let block: bitcoin::Block = deserialize_hex(block.as_str().unwrap()).unwrap();
    let cb = &block.txdata[0];
    (OutPoint::new(cb.compute_txid(), 0), cb.output[0].clone())
}

/// Spends anyone-can-spend `coins` into `outputs`.
pub fn spend_anyone(coins: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    let mut w = Witness::new();
    w.push(op_true().as_bytes());
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: coins
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: w.clone(),
            })
            .collect(),
        output: outputs,
    }
}

pub fn send(chain: &TestChain, tx: &Transaction) -> Result<Txid, crosslock_regtest::RpcError> {
    let v = chain.call("sendrawtransaction", &[json!(serialize_hex(tx))])?;
    Ok(Txid::from_str(v.as_str().unwrap()).unwrap())
}

pub fn mempool(chain: &TestChain) -> Vec<String> {
    rpc(chain, "getrawmempool", &[])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

pub fn confirmations(chain: &TestChain, txid: &Txid) -> Option<u64> {
    chain
        .call("getrawtransaction", &[json!(txid.to_string()), json!(true)])
        .ok()
        .and_then(|v| v["confirmations"].as_u64())
}

/// A fixed test key.
pub fn key(n: u8) -> (SecretKey, bitcoin::PublicKey) {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[n; 32]).unwrap();
    (sk, bitcoin::PublicKey::new(sk.public_key(&secp)))
}

/// Signs input `index` of `tx`, spending P2WSH `witness_script` worth `value`, and sets the
/// witness to `<sig> extra... <witness_script>`.
pub fn sign_p2wsh(
    tx: &mut Transaction,
    index: usize,
    witness_script: &ScriptBuf,
    value: Amount,
    sk: &SecretKey,
    extra: &[&[u8]],
) {
    let secp = Secp256k1::new();
    let sighash = SighashCache::new(&*tx)
        .p2wsh_signature_hash(index, witness_script, value, EcdsaSighashType::All)
        .unwrap();
    let sig = secp.sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), sk);
    let mut w = Witness::new();
    let mut der = sig.serialize_der().to_vec();
    der.push(EcdsaSighashType::All as u8);
    w.push(der);
    for e in extra {
        w.push(e);
    }
    w.push(witness_script.as_bytes());
    tx.input[index].witness = w;
}

/// Mines `n` blocks to the anyone-can-spend address.
pub fn mine(chain: &TestChain, n: u32) -> Vec<String> {
    chain.mine(n, &anyone_address().to_string()).unwrap()
}

/// A script no earlier run has used (`<nonce> OP_DROP OP_TRUE`), so tests also hold on a
/// persistent external chain. Spend it with the witness `[script]`.
pub fn unique_script() -> ScriptBuf {
    use bitcoin::opcodes::all::{OP_DROP, OP_PUSHNUM_1};
    bitcoin::blockdata::script::Builder::new()
        .push_slice(nonce())
        .push_opcode(OP_DROP)
        .push_opcode(OP_PUSHNUM_1)
        .into_script()
}

/// 16 bytes that differ between calls and runs.
pub fn nonce() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_le_bytes();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&nanos[..8]);
    out[8..].copy_from_slice(
        &(COUNTER.fetch_add(1, Ordering::Relaxed) ^ u64::from(std::process::id())).to_le_bytes(),
    );
    out
}
