//! Bitcoin Core's JSON shapes for headers, blocks and transactions, shared by the RPC server and
//! Electrum's verbose `blockchain.transaction.get`. Pure functions of their inputs: no locking,
//! no I/O.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Address, Block, Network, Script, Transaction, TxOut};
use serde_json::{Value, json};

use crate::chain::ChainIndex;

/// Satoshis as Core's BTC number.
pub(crate) fn btc(sat: u64) -> Value {
    json!(bitcoin::Amount::from_sat(sat).to_btc())
}

fn script_type(s: &Script) -> &'static str {
    if s.is_p2pkh() {
        "pubkeyhash"
    } else if s.is_p2sh() {
        "scripthash"
    } else if s.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if s.is_p2wsh() {
        "witness_v0_scripthash"
    } else if s.is_p2tr() {
        "witness_v1_taproot"
    } else if s.is_op_return() {
        "nulldata"
    } else if s.as_bytes() == [0x51, 0x02, 0x4e, 0x73] {
        "anchor"
    } else if s.is_p2pk() {
        "pubkey"
    } else if s.is_multisig() {
        "multisig"
    } else if s.witness_version().is_some() {
        "witness_unknown"
    } else {
        "nonstandard"
    }
}

pub(crate) fn script_pubkey(s: &Script) -> Value {
    let mut v = json!({
        "asm": s.to_asm_string(),
        "hex": hex::encode(s.as_bytes()),
        "type": script_type(s),
    });
    if let Ok(a) = Address::from_script(s, Network::Regtest) {
        v["address"] = json!(a.to_string());
    }
    v
}

fn vout(i: usize, o: &TxOut) -> Value {
    json!({"value": btc(o.value.to_sat()), "n": i, "scriptPubKey": script_pubkey(&o.script_pubkey)})
}

/// Core's `decoderawtransaction` / verbose `getrawtransaction` object (without block fields).
pub(crate) fn tx(tx: &Transaction) -> Value {
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|i| {
            let mut v = if tx.is_coinbase() {
                json!({"coinbase": hex::encode(i.script_sig.as_bytes())})
            } else {
                json!({
                    "txid": i.previous_output.txid.to_string(),
                    "vout": i.previous_output.vout,
                    "scriptSig": {"asm": i.script_sig.to_asm_string(), "hex": hex::encode(i.script_sig.as_bytes())},
                })
            };
            if !i.witness.is_empty() {
                v["txinwitness"] = json!(i.witness.iter().map(hex::encode).collect::<Vec<_>>());
            }
            v["sequence"] = json!(i.sequence.0);
            v
        })
        .collect();
    let size = bitcoin::consensus::encode::serialize(tx).len();
    json!({
        "txid": tx.compute_txid().to_string(),
        "hash": tx.compute_wtxid().to_string(),
        "version": tx.version.0,
        "size": size,
        "vsize": crate::mempool::vsize_of(tx),
        "weight": tx.weight().to_wu(),
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": tx.output.iter().enumerate().map(|(i, o)| vout(i, o)).collect::<Vec<_>>(),
        "hex": serialize_hex(tx),
    })
}

/// Core's `getblockheader` (verbose) object; `height` is `None` for blocks off the active chain.
pub(crate) fn header(index: &ChainIndex, block: &Block, height: Option<u32>) -> Value {
    let h = &block.header;
    let tip = index.tip_height();
    let mut v = json!({
        "hash": block.block_hash().to_string(),
        "confirmations": height.map_or(-1, |x| i64::from(tip) - i64::from(x) + 1),
        "version": h.version.to_consensus(),
        "versionHex": format!("{:08x}", h.version.to_consensus()),
        "merkleroot": h.merkle_root.to_string(),
        "time": h.time,
        "nonce": h.nonce,
        "bits": format!("{:08x}", h.bits.to_consensus()),
        "difficulty": h.difficulty_float(),
        "nTx": block.txdata.len(),
    });
    if let Some(height) = height {
        v["height"] = json!(height);
        v["mediantime"] = json!(index.mtp_at(height));
        v["chainwork"] = json!(chainwork(height));
        if let Some(next) = index.block_at(height + 1) {
            v["nextblockhash"] = json!(next.block_hash().to_string());
        }
    }
    if height != Some(0) {
        v["previousblockhash"] = json!(h.prev_blockhash.to_string());
    }
    v
}

/// Total work up to `height`: every regtest block (bits 0x207fffff) is worth 2.
pub(crate) fn chainwork(height: u32) -> String {
    format!("{:064x}", (u64::from(height) + 1) * 2)
}

/// Core's `getblock` at verbosity 1 or 2.
pub(crate) fn block(
    index: &ChainIndex,
    block: &Block,
    height: Option<u32>,
    verbosity: u64,
) -> Value {
    let mut v = header(index, block, height);
    v["size"] = json!(bitcoin::consensus::encode::serialize(block).len());
    let base: usize = 80
        + bitcoin::VarInt::from(block.txdata.len()).size()
        + block
            .txdata
            .iter()
            .map(Transaction::base_size)
            .sum::<usize>();
    v["strippedsize"] = json!(base);
    v["weight"] = json!(block.weight().to_wu());
    v["tx"] = if verbosity >= 2 {
        json!(block.txdata.iter().map(tx).collect::<Vec<_>>())
    } else {
        json!(
            block
                .txdata
                .iter()
                .map(|t| t.compute_txid().to_string())
                .collect::<Vec<_>>()
        )
    };
    v
}
