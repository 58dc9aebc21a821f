//! The index of the active chain that the kernel does not expose: headers by height, the UTXO
//! set, a transaction index and the per-scripthash history the Electrum server reads.
//!
//! It mirrors the kernel's active chain and must never get ahead of it: blocks are connected
//! here only after the kernel connected them. Connecting a block costs O(block size), whatever the
//! number of watched scripts. Disconnecting is done by rebuilding (reorgs are rare on regtest).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::hashes::{Hash as _, sha256};
use bitcoin::{Block, BlockHash, OutPoint, Script, Transaction, TxOut, Txid};

/// Electrum's script hash: sha256 of the script, stored in digest byte order.
pub type ScriptHash = [u8; 32];

/// The Electrum script hash of `script`.
pub fn script_hash(script: &Script) -> ScriptHash {
    sha256::Hash::hash(script.as_bytes()).to_byte_array()
}

/// An unspent output with what consensus needs to know about it.
#[derive(Debug, Clone)]
pub(crate) struct Coin {
    pub(crate) txout: TxOut,
    pub(crate) height: u32,
    pub(crate) coinbase: bool,
}

/// Where a confirmed transaction sits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxPos {
    pub(crate) height: u32,
    pub(crate) index: usize,
}

#[derive(Default)]
pub(crate) struct ChainIndex {
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) hashes: Vec<BlockHash>,
    heights: HashMap<BlockHash, u32>,
    pub(crate) utxos: HashMap<OutPoint, Coin>,
    txs: HashMap<Txid, TxPos>,
    history: HashMap<ScriptHash, Vec<(u32, Txid)>>,
}

impl ChainIndex {
    pub(crate) fn tip_height(&self) -> u32 {
        u32::try_from(self.blocks.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    pub(crate) fn tip_hash(&self) -> BlockHash {
        self.hashes
            .last()
            .copied()
            .unwrap_or_else(BlockHash::all_zeros)
    }

    pub(crate) fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.heights.get(hash).copied()
    }

    pub(crate) fn block_at(&self, height: u32) -> Option<&Arc<Block>> {
        self.blocks.get(usize::try_from(height).ok()?)
    }

    /// Median time past of the block at `height` (the last 11 blocks up to and including it).
    pub(crate) fn mtp_at(&self, height: u32) -> u32 {
        let end = usize::try_from(height).unwrap_or(0) + 1;
        let start = end.saturating_sub(11);
        let mut times: Vec<u32> = self.blocks[start..end.min(self.blocks.len())]
            .iter()
            .map(|b| b.header.time)
            .collect();
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    pub(crate) fn tx_pos(&self, txid: &Txid) -> Option<TxPos> {
        self.txs.get(txid).copied()
    }

    pub(crate) fn tx(&self, txid: &Txid) -> Option<(&Transaction, TxPos)> {
        let pos = self.tx_pos(txid)?;
        Some((self.block_at(pos.height)?.txdata.get(pos.index)?, pos))
    }

    pub(crate) fn history(&self, sh: &ScriptHash) -> &[(u32, Txid)] {
        self.history.get(sh).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Applies a block the kernel just connected on top of our tip; returns the script hashes it
    /// touched (outputs created and coins spent).
    pub(crate) fn connect(&mut self, block: Arc<Block>) -> HashSet<ScriptHash> {
        let height = u32::try_from(self.blocks.len()).unwrap_or(u32::MAX);
        let hash = block.block_hash();
        let mut touched = HashSet::new();
        for (index, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            let coinbase = tx.is_coinbase();
            let mut mark = |sh: ScriptHash, history: &mut HashMap<ScriptHash, Vec<(u32, Txid)>>| {
                touched.insert(sh);
                let h = history.entry(sh).or_default();
                if h.last() != Some(&(height, txid)) {
                    h.push((height, txid));
                }
            };
            if !coinbase {
                for input in &tx.input {
                    if let Some(coin) = self.utxos.remove(&input.previous_output) {
                        mark(script_hash(&coin.txout.script_pubkey), &mut self.history);
                    }
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                mark(script_hash(&out.script_pubkey), &mut self.history);
                // Provably unspendable outputs never enter the UTXO set (as in Core).
                if out.script_pubkey.is_op_return() {
                    continue;
                }
                let outpoint = OutPoint::new(txid, u32::try_from(vout).unwrap_or(u32::MAX));
                self.utxos.insert(
                    outpoint,
                    Coin {
                        txout: out.clone(),
                        height,
                        coinbase,
                    },
                );
            }
            self.txs.insert(txid, TxPos { height, index });
        }
        self.heights.insert(hash, height);
        self.hashes.push(hash);
        self.blocks.push(block);
        touched
    }
}
