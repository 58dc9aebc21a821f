//! The mempool: which unconfirmed transactions the node accepts, and Core's reject reasons when
//! it does not. Scripts are checked by Core's interpreter through the kernel (all consensus
//! flags) against the outputs spent; finality, BIP68, coinbase maturity, fees, standardness and
//! replacement are the policy rules below, with Core's reason strings and RPC codes.
//!
//! It never touches the chain: it reads the chain index and is told when blocks connect.
//! Insertion order is kept and is always topological (a parent before its children), which the
//! block template relies on.

use std::collections::{BTreeMap, HashMap, HashSet};

use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid, Weight, Wtxid};

use crate::chain::{ChainIndex, ScriptHash, script_hash};
use crate::kernel;

/// Core's `DEFAULT_MIN_RELAY_TX_FEE` (sat per 1000 vbytes).
pub const MIN_RELAY_FEE_PER_KVB: u64 = 1_000;
/// Core's `DEFAULT_INCREMENTAL_RELAY_FEE` (sat per 1000 vbytes), used by replacements.
const INCREMENTAL_RELAY_FEE_PER_KVB: u64 = 1_000;
/// Core's `MAX_STANDARD_TX_WEIGHT`.
const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Core's `MIN_STANDARD_TX_NONWITNESS_SIZE`.
const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Core's `COINBASE_MATURITY`.
pub const COINBASE_MATURITY: u32 = 100;
/// Core's `MAX_REPLACEMENT_CANDIDATES`.
const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// Core's default ancestor/descendant count limit.
const MAX_CHAIN_LENGTH: usize = 25;

const SEQUENCE_DISABLE_FLAG: u32 = 1 << 31;
const SEQUENCE_TYPE_FLAG: u32 = 1 << 22;
const SEQUENCE_MASK: u32 = 0x0000_ffff;
const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// Core's RPC error codes that the mempool produces.
pub mod codes {
    /// `RPC_VERIFY_ERROR` (also `RPC_TRANSACTION_ERROR`): missing inputs, max fee exceeded.
    pub const VERIFY_ERROR: i32 = -25;
    /// `RPC_VERIFY_REJECTED` (`RPC_TRANSACTION_REJECTED`): rejected by policy or consensus.
    pub const VERIFY_REJECTED: i32 = -26;
    /// `RPC_VERIFY_ALREADY_IN_CHAIN` (`RPC_VERIFY_ALREADY_IN_UTXO_SET`).
    pub const ALREADY_IN_CHAIN: i32 = -27;
}

/// A rejected transaction, as Core reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Reject {
    /// The RPC error code `sendrawtransaction` returns.
    pub code: i32,
    /// The short reason `testmempoolaccept` returns as `reject-reason`.
    pub reason: String,
    /// The message `sendrawtransaction` returns (the reason plus details).
    pub message: String,
}

impl Reject {
    fn new(reason: &str, debug: Option<String>) -> Self {
        let message = match debug {
            Some(d) => format!("{reason}, {d}"),
            None => reason.to_owned(),
        };
        Self {
            code: codes::VERIFY_REJECTED,
            reason: reason.to_owned(),
            message,
        }
    }
    fn missing_inputs() -> Self {
        Self {
            code: codes::VERIFY_ERROR,
            reason: "missing-inputs".into(),
            message: "bad-txns-inputs-missingorspent".into(),
        }
    }
    fn already_in_chain() -> Self {
        Self {
            code: codes::ALREADY_IN_CHAIN,
            reason: "txn-already-known".into(),
            message: "Transaction outputs already in utxo set".into(),
        }
    }
}

/// A transaction in the mempool.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The transaction.
    pub tx: Transaction,
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Inputs minus outputs.
    pub fee: Amount,
    /// Virtual size (weight / 4, rounded up).
    pub vsize: u64,
    /// Weight units.
    pub weight: Weight,
    /// Unix time it entered.
    pub time: u64,
    /// Chain height when it entered.
    pub height: u32,
    /// The outputs it spends, in input order.
    pub spent: Vec<TxOut>,
    /// In-mempool parents.
    pub parents: HashSet<Txid>,
    seq: u64,
}

/// What an accepted transaction did.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The accepted transaction's txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Virtual size.
    pub vsize: u64,
    /// Fee paid.
    pub fee: Amount,
    /// Transactions it replaced (with their descendants).
    pub replaced: Vec<Txid>,
}

#[derive(Default)]
pub(crate) struct Mempool {
    entries: HashMap<Txid, Entry>,
    order: BTreeMap<u64, Txid>,
    spends: HashMap<OutPoint, Txid>,
    by_script: HashMap<ScriptHash, HashSet<Txid>>,
    next_seq: u64,
}

/// Core's `GetVirtualTransactionSize`.
pub(crate) fn vsize_of(tx: &Transaction) -> u64 {
    tx.weight().to_wu().div_ceil(4)
}

/// The script hashes a transaction touches: its outputs and the outputs it spends.
pub(crate) fn touched_scripts(tx: &Transaction, spent: &[TxOut]) -> HashSet<ScriptHash> {
    tx.output
        .iter()
        .chain(spent)
        .map(|o| script_hash(&o.script_pubkey))
        .collect()
}

fn fee_for(vsize: u64, per_kvb: u64) -> u64 {
    vsize * per_kvb / 1000
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Mempool {
    pub(crate) fn get(&self, txid: &Txid) -> Option<&Entry> {
        self.entries.get(txid)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in insertion (topological) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.order.values().filter_map(|t| self.entries.get(t))
    }

    pub(crate) fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spends.get(outpoint).copied()
    }

    pub(crate) fn by_script(&self, sh: &ScriptHash) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self
            .by_script
            .get(sh)
            .into_iter()
            .flatten()
            .filter_map(|t| self.entries.get(t))
            .collect();
        v.sort_by_key(|e| e.seq);
        v
    }

    pub(crate) fn children(&self, txid: &Txid) -> Vec<Txid> {
        self.entries
            .values()
            .filter(|e| e.parents.contains(txid))
            .map(|e| e.txid)
            .collect()
    }

    /// `txid` and all its in-mempool descendants.
    pub(crate) fn with_descendants(&self, txid: &Txid) -> Vec<Txid> {
        let mut out = vec![];
        let mut seen = HashSet::new();
        let mut stack = vec![*txid];
        while let Some(t) = stack.pop() {
            if !self.entries.contains_key(&t) || !seen.insert(t) {
                continue;
            }
            out.push(t);
            stack.extend(self.children(&t));
        }
        out
    }

    /// All in-mempool ancestors of a transaction with these `parents`.
    pub(crate) fn ancestors(&self, parents: &HashSet<Txid>) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Txid> = parents.iter().copied().collect();
        while let Some(t) = stack.pop() {
            if seen.insert(t)
                && let Some(e) = self.entries.get(&t)
            {
                stack.extend(e.parents.iter().copied());
            }
        }
        seen
    }

    /// Removes `txid` and its descendants; returns what was removed and the scripts touched.
    pub(crate) fn remove_with_descendants(
        &mut self,
        txid: &Txid,
    ) -> (Vec<Txid>, HashSet<ScriptHash>) {
        let ids = self.with_descendants(txid);
        let mut touched = HashSet::new();
        for t in &ids {
            if let Some(e) = self.remove_one(t) {
                touched.extend(touched_scripts(&e.tx, &e.spent));
            }
        }
        (ids, touched)
    }

    fn remove_one(&mut self, txid: &Txid) -> Option<Entry> {
        let e = self.entries.remove(txid)?;
        self.order.remove(&e.seq);
        for input in &e.tx.input {
            if self.spends.get(&input.previous_output) == Some(txid) {
                self.spends.remove(&input.previous_output);
            }
        }
        for sh in touched_scripts(&e.tx, &e.spent) {
            if let Some(set) = self.by_script.get_mut(&sh) {
                set.remove(txid);
                if set.is_empty() {
                    self.by_script.remove(&sh);
                }
            }
        }
        Some(e)
    }

    /// Updates the pool for a block just connected: drops the block's transactions and anything
    /// that conflicts with them. Returns the scripts touched by the removed conflicts.
    pub(crate) fn remove_for_block(&mut self, block: &bitcoin::Block) -> HashSet<ScriptHash> {
        let mut touched = HashSet::new();
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            if let Some(e) = self.remove_one(&txid) {
                // Its children stay: their parent is now confirmed.
                for c in self.children(&txid) {
                    if let Some(ce) = self.entries.get_mut(&c) {
                        ce.parents.remove(&txid);
                    }
                }
                touched.extend(touched_scripts(&e.tx, &e.spent));
            }
            if tx.is_coinbase() {
                continue;
            }
            for input in &tx.input {
                if let Some(conflict) = self.spends.get(&input.previous_output).copied() {
                    touched.extend(self.remove_with_descendants(&conflict).1);
                }
            }
        }
        touched
    }

    /// Everything, for a rebuild after a reorg.
    pub(crate) fn drain(&mut self) -> Vec<Transaction> {
        let txs = self.iter().map(|e| e.tx.clone()).collect();
        *self = Self {
            next_seq: self.next_seq,
            ..Self::default()
        };
        txs
    }

    /// Runs Core's acceptance rules; inserts the transaction unless `dry_run`.
    pub(crate) fn accept(
        &mut self,
        chain: &ChainIndex,
        tx: &Transaction,
        dry_run: bool,
    ) -> Result<Accepted, Reject> {
        let txid = tx.compute_txid();
        let wtxid = tx.compute_wtxid();
        check_context_free(tx)?;
        check_standard(tx)?;

        let next_height = chain.tip_height() + 1;
        let mtp = chain.mtp_at(chain.tip_height());
        if !is_final(tx, next_height, mtp) {
            return Err(Reject::new("non-final", None));
        }
        if let Some(e) = self.entries.get(&txid) {
            return Err(if e.wtxid == wtxid {
                Reject::new("txn-already-in-mempool", None)
            } else {
                Reject::new("txn-same-nonwitness-data-in-mempool", None)
            });
        }

        // Inputs: from the mempool, or the UTXO set; conflicts are candidates for replacement.
        let mut conflicts = HashSet::new();
        let mut spent = Vec::with_capacity(tx.input.len());
        let mut coin_heights = Vec::with_capacity(tx.input.len());
        let mut parents = HashSet::new();
        for input in &tx.input {
            let op = input.previous_output;
            if let Some(c) = self.spends.get(&op) {
                conflicts.insert(*c);
            }
            if let Some(parent) = self.entries.get(&op.txid) {
                let out = parent
                    .tx
                    .output
                    .get(op.vout as usize)
                    .ok_or_else(Reject::missing_inputs)?;
                spent.push(out.clone());
                coin_heights.push(next_height);
                parents.insert(op.txid);
            } else if let Some(coin) = chain.utxos.get(&op) {
                if coin.coinbase && next_height - coin.height < COINBASE_MATURITY {
                    return Err(Reject::new(
                        "bad-txns-premature-spend-of-coinbase",
                        Some(format!(
                            "tried to spend coinbase at depth {}",
                            next_height - coin.height
                        )),
                    ));
                }
                spent.push(coin.txout.clone());
                coin_heights.push(coin.height);
            } else {
                let known = (0..tx.output.len()).any(|v| {
                    chain
                        .utxos
                        .contains_key(&OutPoint::new(txid, u32::try_from(v).unwrap_or(0)))
                });
                return Err(if known {
                    Reject::already_in_chain()
                } else {
                    Reject::missing_inputs()
                });
            }
        }

        let value_in: u64 = spent.iter().map(|o| o.value.to_sat()).sum();
        let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        if value_in < value_out {
            return Err(Reject::new(
                "bad-txns-in-belowout",
                Some(format!(
                    "value in ({}) < value out ({})",
                    Amount::from_sat(value_in).to_btc(),
                    Amount::from_sat(value_out).to_btc()
                )),
            ));
        }
        if !sequence_locks_ok(tx, chain, &coin_heights, next_height, mtp) {
            return Err(Reject::new("non-BIP68-final", None));
        }

        let fee = value_in - value_out;
        let vsize = vsize_of(tx);
        let min_fee = fee_for(vsize, MIN_RELAY_FEE_PER_KVB);
        if fee < min_fee {
            return Err(Reject::new(
                "min relay fee not met",
                Some(format!("{fee} < {min_fee}")),
            ));
        }
        let ancestors = self.ancestors(&parents);
        if ancestors.len() + 1 > MAX_CHAIN_LENGTH {
            return Err(Reject::new(
                "too-long-mempool-chain",
                Some(format!(
                    "too many unconfirmed ancestors [limit: {MAX_CHAIN_LENGTH}]"
                )),
            ));
        }

        let replaced = self.check_replacement(tx, &txid, &conflicts, &ancestors, fee, vsize)?;

        if let Err(e) = kernel::verify_scripts(tx, &spent) {
            let detail = match e {
                kernel::ScriptError::Invalid(i) => format!("input {i}: script evaluation failed"),
                kernel::ScriptError::Setup(s) => s,
            };
            return Err(Reject::new(
                &format!("mandatory-script-verify-flag-failed ({detail})"),
                None,
            ));
        }

        let accepted = Accepted {
            txid,
            wtxid,
            vsize,
            fee: Amount::from_sat(fee),
            replaced,
        };
        if dry_run {
            return Ok(accepted);
        }
        for r in &accepted.replaced {
            self.remove_one(r);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        for input in &tx.input {
            self.spends.insert(input.previous_output, txid);
        }
        for sh in touched_scripts(tx, &spent) {
            self.by_script.entry(sh).or_default().insert(txid);
        }
        self.order.insert(seq, txid);
        self.entries.insert(
            txid,
            Entry {
                tx: tx.clone(),
                txid,
                wtxid,
                fee: Amount::from_sat(fee),
                vsize,
                weight: tx.weight(),
                time: now(),
                height: chain.tip_height(),
                spent,
                parents,
                seq,
            },
        );
        Ok(accepted)
    }

    /// BIP125-like replacement (Core's full-RBF rules 2-5); returns everything to evict.
    fn check_replacement(
        &self,
        tx: &Transaction,
        txid: &Txid,
        conflicts: &HashSet<Txid>,
        ancestors: &HashSet<Txid>,
        fee: u64,
        vsize: u64,
    ) -> Result<Vec<Txid>, Reject> {
        if conflicts.is_empty() {
            return Ok(vec![]);
        }
        let mut evict: Vec<Txid> = vec![];
        for c in conflicts {
            for d in self.with_descendants(c) {
                if !evict.contains(&d) {
                    evict.push(d);
                }
            }
        }
        if evict.iter().any(|e| ancestors.contains(e)) {
            return Err(Reject::new(
                "bad-txns-spends-conflicting-tx",
                Some(format!("{txid} spends conflicting transaction")),
            ));
        }
        if evict.len() > MAX_REPLACEMENT_CANDIDATES {
            return Err(Reject::new(
                "too many potential replacements",
                Some(format!(
                    "rejecting replacement {txid}; too many potential replacements ({} > {MAX_REPLACEMENT_CANDIDATES})",
                    evict.len()
                )),
            ));
        }
        // Rule 2: no new unconfirmed inputs.
        let conflict_parents: HashSet<Txid> = conflicts
            .iter()
            .filter_map(|c| self.entries.get(c))
            .flat_map(|e| e.tx.input.iter().map(|i| i.previous_output.txid))
            .collect();
        for input in &tx.input {
            let p = input.previous_output.txid;
            if self.entries.contains_key(&p) && !conflict_parents.contains(&p) {
                return Err(Reject::new(
                    "replacement-adds-unconfirmed",
                    Some(format!("replacement {txid} adds unconfirmed input, idx 0")),
                ));
            }
        }
        // Feerate must beat every directly conflicting transaction.
        for c in conflicts {
            if let Some(e) = self.entries.get(c) {
                // fee/vsize > e.fee/e.vsize, compared without division.
                if u128::from(fee) * u128::from(e.vsize)
                    <= u128::from(e.fee.to_sat()) * u128::from(vsize)
                {
                    return Err(Reject::new(
                        "insufficient fee",
                        Some(format!(
                            "rejecting replacement {txid}; new feerate {:.8} BTC/kvB <= old feerate {:.8} BTC/kvB",
                            fee as f64 / vsize as f64 / 1e5,
                            e.fee.to_sat() as f64 / e.vsize as f64 / 1e5
                        )),
                    ));
                }
            }
        }
        let evicted_fees: u64 = evict
            .iter()
            .filter_map(|t| self.entries.get(t))
            .map(|e| e.fee.to_sat())
            .sum();
        if fee < evicted_fees {
            return Err(Reject::new(
                "insufficient fee",
                Some(format!(
                    "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                    Amount::from_sat(fee).to_btc(),
                    Amount::from_sat(evicted_fees).to_btc()
                )),
            ));
        }
        let relay = fee_for(vsize, INCREMENTAL_RELAY_FEE_PER_KVB);
        if fee - evicted_fees < relay {
            return Err(Reject::new(
                "insufficient fee",
                Some(format!(
                    "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                    Amount::from_sat(fee - evicted_fees).to_btc(),
                    Amount::from_sat(relay).to_btc()
                )),
            ));
        }
        Ok(evict)
    }
}

fn check_context_free(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(Reject::new("bad-txns-vin-empty", None));
    }
    if tx.output.is_empty() {
        return Err(Reject::new("bad-txns-vout-empty", None));
    }
    let mut seen = HashSet::new();
    if !tx.input.iter().all(|i| seen.insert(i.previous_output)) {
        return Err(Reject::new("bad-txns-inputs-duplicate", None));
    }
    if tx.is_coinbase() {
        return Err(Reject::new("coinbase", None));
    }
    // Core's CheckTransaction as a backstop for what is not spelled out above.
    kernel::check_transaction(tx).map_err(|r| Reject::new("bad-txns-check", Some(r)))
}

fn check_standard(tx: &Transaction) -> Result<(), Reject> {
    let version = tx.version.0;
    if !(1..=3).contains(&version) {
        return Err(Reject::new("version", None));
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err(Reject::new("tx-size", None));
    }
    if bitcoin::consensus::encode::serialize(&strip_witness(tx)).len()
        < MIN_STANDARD_TX_NONWITNESS_SIZE
    {
        return Err(Reject::new("tx-size-small", None));
    }
    for input in &tx.input {
        if input.script_sig.len() > 1650 {
            return Err(Reject::new("scriptsig-size", None));
        }
        if !input.script_sig.is_push_only() {
            return Err(Reject::new("scriptsig-not-pushonly", None));
        }
    }
    let mut op_returns = 0;
    for out in &tx.output {
        let s = &out.script_pubkey;
        if s.is_op_return() {
            op_returns += 1;
            if s.len() > 83 {
                return Err(Reject::new("scriptpubkey", None));
            }
            continue;
        }
        let standard = s.is_p2pkh()
            || s.is_p2sh()
            || s.is_p2wpkh()
            || s.is_p2wsh()
            || s.is_p2tr()
            || s.is_p2pk()
            || s.is_multisig()
            || s.as_bytes() == [0x51, 0x02, 0x4e, 0x73] // P2A anchor
            || s.witness_version().is_some();
        if !standard {
            return Err(Reject::new("scriptpubkey", None));
        }
        if out.value < s.minimal_non_dust() {
            return Err(Reject::new("dust", None));
        }
    }
    if op_returns > 1 {
        return Err(Reject::new("multi-op-return", None));
    }
    Ok(())
}

fn strip_witness(tx: &Transaction) -> Transaction {
    let mut t = tx.clone();
    for i in &mut t.input {
        i.witness.clear();
    }
    t
}

/// Core's `IsFinalTx` at the next block's height and the tip's median time past.
pub(crate) fn is_final(tx: &Transaction, height: u32, mtp: u32) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let cutoff = if lock < LOCKTIME_THRESHOLD {
        height
    } else {
        mtp
    };
    if lock < cutoff {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == u32::MAX)
}

/// Core's BIP68 `CalculateSequenceLocks` + `EvaluateSequenceLocks` for the next block.
fn sequence_locks_ok(
    tx: &Transaction,
    chain: &ChainIndex,
    coin_heights: &[u32],
    next_height: u32,
    mtp: u32,
) -> bool {
    if tx.version.0 < 2 {
        return true;
    }
    let mut min_height: i64 = -1;
    let mut min_time: i64 = -1;
    for (input, &coin_height) in tx.input.iter().zip(coin_heights) {
        let seq = input.sequence.0;
        if seq & SEQUENCE_DISABLE_FLAG != 0 {
            continue;
        }
        if seq & SEQUENCE_TYPE_FLAG != 0 {
            // Time-based: from the MTP of the block before the coin's block.
            let base = coin_height.saturating_sub(1).min(chain.tip_height());
            let coin_time = i64::from(chain.mtp_at(base));
            min_time = min_time.max(coin_time + (i64::from(seq & SEQUENCE_MASK) << 9) - 1);
        } else {
            min_height =
                min_height.max(i64::from(coin_height) + i64::from(seq & SEQUENCE_MASK) - 1);
        }
    }
    min_height < i64::from(next_height) && min_time < i64::from(mtp)
}

#[cfg(test)]
mod tests {
    use bitcoin::{Sequence, TxIn, absolute, transaction};

    use super::*;

    fn tx(lock: u32, seq: u32) -> Transaction {
        Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::from_consensus(lock),
            input: vec![TxIn {
                sequence: Sequence(seq),
                ..Default::default()
            }],
            output: vec![],
        }
    }

    #[test]
    fn is_final_follows_cores_is_final_tx() {
        // (nLockTime, nSequence, next height, tip MTP, final?)
        let cases = [
            (0, 0, 1, 0, true),
            (100, 0xffff_fffe, 100, 0, false), // a block at 100 cannot hold lock 100
            (100, 0xffff_fffe, 101, 0, true),
            (100, 0xffff_ffff, 50, 0, true), // every input final: lock ignored
            (
                LOCKTIME_THRESHOLD + 10,
                0,
                1,
                LOCKTIME_THRESHOLD + 10,
                false,
            ),
            (LOCKTIME_THRESHOLD + 10, 0, 1, LOCKTIME_THRESHOLD + 11, true),
        ];
        for (lock, seq, height, mtp, expected) in cases {
            assert_eq!(
                is_final(&tx(lock, seq), height, mtp),
                expected,
                "{lock} {seq} {height} {mtp}"
            );
        }
    }

    #[test]
    fn fees_round_down_like_cores_fee_rate() {
        assert_eq!(fee_for(141, MIN_RELAY_FEE_PER_KVB), 141);
        assert_eq!(fee_for(999, 1), 0);
    }
}
