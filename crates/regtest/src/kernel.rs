//! The boundary to Bitcoin Core's libbitcoinkernel: block validation and connection, and script
//! verification. Everything crossing this module is consensus bytes, so the rest of the crate
//! works with the `bitcoin` crate's types only.
//!
//! The kernel owns consensus: a block is in our chain only if the kernel connected it. This
//! module must never decide validity itself, and never keep chain state of its own beyond what it
//! reads back from the kernel.
//!
//! The kernel (0.3) has no `invalidateblock` and no UTXO lookups, so the node keeps its own block
//! store and rebuilds a fresh kernel from it when the set of valid blocks changes (see `node`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash as _;
use bitcoin::{Block, BlockHash, Transaction, TxOut};
use bitcoinkernel::prelude::*;
use bitcoinkernel::{
    BlockValidationResult, ChainType, ChainstateManager, Context, ContextBuilder, KernelError,
    PrecomputedTransactionData, ScriptPubkey, ValidationMode,
};

/// Errors from the kernel boundary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel could not be set up (context, chainstate manager, directories).
    #[error("kernel setup failed: {0}")]
    Setup(String),
    /// The kernel refused a block; the text is the kernel's validation result.
    #[error("block {hash} rejected by the kernel: {reason}")]
    BlockRejected {
        /// The rejected block.
        hash: BlockHash,
        /// The kernel's validation result and mode.
        reason: String,
    },
    /// A transaction or script could not be handed to the kernel.
    #[error("kernel could not parse data: {0}")]
    Parse(String),
}

fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(e.to_string())
}

type LastCheck = Arc<Mutex<Option<(ValidationMode, BlockValidationResult)>>>;

/// A running libbitcoinkernel chainstate on regtest parameters.
pub(crate) struct Kernel {
    // Field order is drop order: the chainstate manager before its context and directory.
    chainman: ChainstateManager,
    _context: Context,
    last_check: LastCheck,
    _dir: tempfile::TempDir,
}

impl Kernel {
    /// A fresh chainstate (genesis only) in a scratch directory under `parent`.
    pub(crate) fn new(parent: Option<&Path>) -> Result<Self, Error> {
        let dir = match parent {
            Some(p) => tempfile::Builder::new().prefix("kernel-").tempdir_in(p),
            None => tempfile::Builder::new()
                .prefix("btc-regtest-kernel-")
                .tempdir(),
        }
        .map_err(setup)?;
        let last_check: LastCheck = Arc::default();
        let sink = last_check.clone();
        let context = ContextBuilder::new()
            .chain_type(ChainType::Regtest)
            .with_block_checked_validation(
                move |_block, state: bitcoinkernel::BlockValidationStateRef<'_>| {
                    if let Ok(mut slot) = sink.lock() {
                        *slot = Some((state.mode(), state.result()));
                    }
                },
            )
            .build()
            .map_err(setup)?;
        let data = dir.path().join("chainstate");
        let blocks = dir.path().join("blocks");
        let to_str = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| setup("non-UTF-8 path"))
        };
        let chainman = ChainstateManager::builder(&context, &to_str(&data)?, &to_str(&blocks)?)
            .map_err(setup)?
            .block_tree_db_in_memory(true)
            .chainstate_db_in_memory(true)
            .build()
            .map_err(setup)?;
        chainman.import_blocks().map_err(setup)?;
        Ok(Self {
            chainman,
            _context: context,
            last_check,
            _dir: dir,
        })
    }

    /// Validates the block and, if it has the most work, connects it. `Ok` means the kernel
    /// stored it as valid (it may still be on a side branch).
    pub(crate) fn submit(&self, block: &Block) -> Result<(), Error> {
        let hash = block.block_hash();
        let raw = serialize(block);
        let kblock = bitcoinkernel::Block::new(&raw).map_err(|e| Error::Parse(e.to_string()))?;
        if let Ok(mut slot) = self.last_check.lock() {
            *slot = None;
        }
        let result = self.chainman.process_block(&kblock);
        let check = self.last_check.lock().ok().and_then(|s| *s);
        match (result.is_rejected(), check) {
            (false, None | Some((ValidationMode::Valid, _))) => Ok(()),
            (_, Some((mode, res))) => Err(Error::BlockRejected {
                hash,
                reason: format!("{res:?} ({mode:?})"),
            }),
            (true, None) => Err(Error::BlockRejected {
                hash,
                reason: "rejected before validation".into(),
            }),
        }
    }

    /// The kernel's active chain tip: hash and height.
    pub(crate) fn tip(&self) -> (BlockHash, u32) {
        let chain = self.chainman.active_chain();
        let tip = chain.tip();
        let hash = BlockHash::from_byte_array(tip.block_hash().to_bytes());
        (hash, u32::try_from(tip.height()).unwrap_or(0))
    }

    /// The block hash at `height` on the kernel's active chain.
    pub(crate) fn hash_at(&self, height: u32) -> Option<BlockHash> {
        let chain = self.chainman.active_chain();
        let entry = chain.at_height(usize::try_from(height).ok()?)?;
        Some(BlockHash::from_byte_array(entry.block_hash().to_bytes()))
    }
}

/// Why a script check failed.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The input's script did not evaluate to true under the consensus flags.
    #[error("input {0} failed script verification")]
    Invalid(usize),
    /// The kernel refused the inputs (bad flags, mismatched spent outputs, parse error).
    #[error("script verification could not run: {0}")]
    Setup(String),
}

/// Checks every input of `tx` with Core's script interpreter, all consensus flags (P2SH, DERSIG,
/// NULLDUMMY, CLTV, CSV, WITNESS, TAPROOT), against the outputs it spends (in input order).
pub fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), ScriptError> {
    let s = |e: KernelError| ScriptError::Setup(e.to_string());
    let ktx = bitcoinkernel::Transaction::new(&serialize(tx)).map_err(s)?;
    let mut outs = Vec::with_capacity(spent.len());
    let mut scripts = Vec::with_capacity(spent.len());
    for txout in spent {
        let spk = ScriptPubkey::new(txout.script_pubkey.as_bytes()).map_err(s)?;
        let amount = i64::try_from(txout.value.to_sat())
            .map_err(|_| ScriptError::Setup("amount out of range".into()))?;
        outs.push(bitcoinkernel::TxOut::new(&spk, amount));
        scripts.push((spk, amount));
    }
    let txdata = PrecomputedTransactionData::new(&ktx, &outs).map_err(s)?;
    for (i, (spk, amount)) in scripts.iter().enumerate() {
        match bitcoinkernel::verify(
            spk,
            Some(*amount),
            &ktx,
            i,
            Some(bitcoinkernel::VERIFY_ALL),
            &txdata,
        ) {
            Ok(()) => {}
            Err(KernelError::ScriptVerify(bitcoinkernel::ScriptVerifyError::Invalid)) => {
                return Err(ScriptError::Invalid(i));
            }
            Err(e) => return Err(s(e)),
        }
    }
    Ok(())
}

/// Core's context-free `CheckTransaction`, through the kernel.
pub(crate) fn check_transaction(tx: &Transaction) -> Result<(), String> {
    let ktx = bitcoinkernel::Transaction::new(&serialize(tx)).map_err(|e| e.to_string())?;
    match ktx.check() {
        bitcoinkernel::TxCheckResult::Valid => Ok(()),
        bitcoinkernel::TxCheckResult::Invalid(r) => Err(format!("{r:?}")),
    }
}
