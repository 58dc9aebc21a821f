//! Block templates: the coinbase (BIP34 height, subsidy plus fees, witness commitment), the merkle
//! root and a nonce that meets regtest's minimum difficulty.
//!
//! It only builds blocks; it never decides they are valid. Every block goes to the kernel, and a
//! block the kernel refuses fails the mining call.

use bitcoin::block::{Header, Version};
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash as _;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Target, Transaction,
    TxIn, TxMerkleNode, TxOut, Witness, absolute, transaction,
};

/// Regtest's `nSubsidyHalvingInterval`.
const HALVING_INTERVAL: u32 = 150;
/// Regtest's `powLimit` in compact form; regtest never retargets.
const REGTEST_BITS: u32 = 0x207f_ffff;
/// Weight kept free for the coinbase when filling a block (Core reserves 4000).
pub(crate) const COINBASE_RESERVED_WEIGHT: u64 = 4_000;
/// Consensus `MAX_BLOCK_WEIGHT`.
pub(crate) const MAX_BLOCK_WEIGHT: u64 = 4_000_000;

/// The block subsidy at `height` on regtest.
pub(crate) fn subsidy(height: u32) -> Amount {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000) >> halvings)
}

/// Builds and grinds a block on `prev` at `height` with `txs` (already in a valid order).
pub(crate) fn build_block(
    prev: BlockHash,
    height: u32,
    time: u32,
    payout: ScriptBuf,
    txs: Vec<Transaction>,
    fees: Amount,
) -> Block {
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_opcode(bitcoin::opcodes::OP_0)
        .into_script();
    let mut witness = Witness::new();
    witness.push([0u8; 32]);
    let coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness,
        }],
        output: vec![TxOut {
            value: subsidy(height) + fees,
            script_pubkey: payout,
        }],
    };
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase);
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    // The commitment goes into the coinbase, so it comes before the merkle root.
    if let Some(root) = block.witness_root() {
        let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(commitment.as_byte_array());
        block.txdata[0].output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(script),
        });
    }
    if let Some(root) = block.compute_merkle_root() {
        block.header.merkle_root = root;
    }
    let target = Target::from_compact(block.header.bits);
    while !target.is_met_by(block.header.block_hash()) {
        block.header.nonce = block.header.nonce.wrapping_add(1);
    }
    block
}
