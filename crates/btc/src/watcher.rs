//! Turns what an Electrum server says about HTLC scripts into events the swap core understands:
//! funding outputs seen, moved or gone; spends seen (claim with its secret, or refund), moved or
//! gone; and the tip. No I/O: the Electrum adapter feeds it histories and transactions.
//!
//! Owns the last known view of every watched HTLC and the diff between views, so a reorg is an
//! ordinary input (a height that changes or a transaction that disappears). It must never match a
//! spend by txid: spends are found by the outpoint they consume, whoever made them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bitcoin::{BlockHash, OutPoint, ScriptBuf, Transaction, Txid};

use crate::htlc::HtlcParams;
use crate::secret::{self, HtlcSpend, SpendReadError};
use crate::types::{BtcHeight, Sats, Secret, sats};

/// Where a transaction stands: in the mempool, or in a block at a height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxStatus {
    /// In the mempool (Electrum height 0 or -1).
    Mempool,
    /// In the block at this height.
    Confirmed(BtcHeight),
}

impl TxStatus {
    /// From an Electrum history height (`<= 0` means mempool).
    pub fn from_electrum(height: i32) -> Self {
        u32::try_from(height)
            .ok()
            .filter(|h| *h > 0)
            .map_or(TxStatus::Mempool, |h| TxStatus::Confirmed(BtcHeight(h)))
    }

    /// Confirmations at `tip` (0 in the mempool; 1 when in the tip block). A block above the
    /// tip we know is the server's new tip whose header has not reached us yet: 1.
    pub fn confirmations(self, tip: BtcHeight) -> u32 {
        match self {
            TxStatus::Mempool => 0,
            TxStatus::Confirmed(h) => tip.0.saturating_sub(h.0) + 1,
        }
    }
}

/// How a spend of an HTLC was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendKind {
    /// The claim branch; the secret hashes to the hashlock.
    Claim(Secret),
    /// The refund branch.
    Refund,
    /// It spends the outpoint but its witness could not be read (cannot be valid on chain; it
    /// is reported so an operator sees it).
    Unreadable(SpendReadError),
}

/// Something the swap core must hear about, for the HTLC the caller registered as `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent<K> {
    /// The chain tip, after every change of it; `reorg` when the new tip does not extend the
    /// previous one.
    Tip {
        /// Height of the new tip.
        height: BtcHeight,
        /// Its hash.
        hash: BlockHash,
        /// The new tip does not build on the one reported before.
        reorg: bool,
    },
    /// An output paying the HTLC was seen, or its status changed (confirmed, reorged back to the
    /// mempool, re-mined at another height).
    Funding {
        /// The caller's id for the HTLC.
        id: K,
        /// The output.
        outpoint: OutPoint,
        /// Its value.
        amount: Sats,
        /// Mempool or confirmed.
        status: TxStatus,
        /// Confirmations at the tip known when the event was made.
        confirmations: u32,
        /// It was reported deeper before: a reorg moved it back.
        shallower: bool,
    },
    /// A funding output is no longer in the server's history (reorged out and conflicted, or
    /// dropped from the mempool).
    FundingGone {
        /// The caller's id for the HTLC.
        id: K,
        /// The output that went away.
        outpoint: OutPoint,
    },
    /// A transaction spending a funding outpoint was seen, or its status changed.
    Spent {
        /// The caller's id for the HTLC.
        id: K,
        /// The HTLC output spent.
        outpoint: OutPoint,
        /// The spending transaction.
        txid: Txid,
        /// Claim with the secret, or refund.
        kind: SpendKind,
        /// Mempool or confirmed.
        status: TxStatus,
        /// Confirmations at the tip known when the event was made.
        confirmations: u32,
        /// It was reported deeper before: a reorg moved it back.
        shallower: bool,
    },
    /// A spend seen before is no longer in the history (reorged out, replaced or dropped): a
    /// claim to re-broadcast, or a refund race reopened.
    SpendGone {
        /// The caller's id for the HTLC.
        id: K,
        /// The HTLC output that is unspent again (as far as the server knows).
        outpoint: OutPoint,
        /// The spend that went away.
        txid: Txid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SpendSeen {
    txid: Txid,
    status: TxStatus,
    kind: SpendKind,
}

#[derive(Debug)]
struct Watched<K> {
    id: K,
    params: HtlcParams,
    fundings: BTreeMap<OutPoint, (Sats, TxStatus)>,
    spends: BTreeMap<OutPoint, SpendSeen>,
}

impl<K: Clone> Watched<K> {
    fn funding_event(
        &self,
        op: OutPoint,
        tip: BtcHeight,
        shallower: bool,
    ) -> Option<ChainEvent<K>> {
        let (amount, status) = *self.fundings.get(&op)?;
        Some(ChainEvent::Funding {
            id: self.id.clone(),
            outpoint: op,
            amount,
            status,
            confirmations: status.confirmations(tip),
            shallower,
        })
    }

    fn spent_event(&self, op: OutPoint, tip: BtcHeight, shallower: bool) -> Option<ChainEvent<K>> {
        let seen = self.spends.get(&op)?;
        Some(ChainEvent::Spent {
            id: self.id.clone(),
            outpoint: op,
            txid: seen.txid,
            kind: seen.kind.clone(),
            status: seen.status,
            confirmations: seen.status.confirmations(tip),
            shallower,
        })
    }

    /// The confirmed fundings and spends, with their heights, for the depth index.
    fn confirmed(&self) -> Vec<(Item, BtcHeight)> {
        let f = self
            .fundings
            .iter()
            .map(|(op, (_, st))| (Item::Funding(*op), *st));
        let s = self
            .spends
            .iter()
            .map(|(op, x)| (Item::Spend(*op), x.status));
        f.chain(s)
            .filter_map(|(item, st)| match st {
                TxStatus::Confirmed(h) => Some((item, h)),
                TxStatus::Mempool => None,
            })
            .collect()
    }
}

/// What a confirmed entry of the depth index is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Funding(OutPoint),
    Spend(OutPoint),
}

/// Whether `new` is shallower than `old` (a reorg moved it back), so the core hears an
/// "unconfirmed" rather than a "seen deeper".
fn shallower(old: Option<TxStatus>, new: TxStatus) -> bool {
    match (old, new) {
        (Some(TxStatus::Confirmed(_)), TxStatus::Mempool) => true,
        (Some(TxStatus::Confirmed(a)), TxStatus::Confirmed(b)) => b > a,
        _ => false,
    }
}

/// Confirmations are reported again on each new block up to this depth by default: Core's
/// settled depth for our own spends, and the deepest reorg the tests exercise.
pub const DEFAULT_DEPTH_CAP: u32 = crosslock_core::finality::SETTLED_BTC_CONFS;

/// The view of every watched HTLC, keyed by its output script.
#[derive(Debug)]
pub struct Watcher<K> {
    by_script: HashMap<ScriptBuf, Watched<K>>,
    /// Confirmed fundings and spends by block height, so a new block re-reports the depth of
    /// only what confirmed in the last `depth_cap` blocks, never every swap in flight.
    by_height: BTreeMap<BtcHeight, BTreeSet<(ScriptBuf, Item)>>,
    depth_cap: u32,
    tip: Option<(BtcHeight, BlockHash)>,
}

impl<K> Default for Watcher<K> {
    fn default() -> Self {
        Self {
            by_script: HashMap::new(),
            by_height: BTreeMap::new(),
            depth_cap: DEFAULT_DEPTH_CAP,
            tip: None,
        }
    }
}

impl<K: Clone + Eq> Watcher<K> {
    /// An empty watcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Re-report confirmations on new blocks up to `cap` (set it to the deepest finality the
    /// caller waits for).
    pub fn with_depth_cap(mut self, cap: u32) -> Self {
        self.depth_cap = cap.max(1);
        self
    }

    /// Starts watching the HTLC of `params` as `id`; returns its output script (what to
    /// subscribe to).
    pub fn watch(&mut self, id: K, params: HtlcParams) -> ScriptBuf {
        let spk = params.script_pubkey();
        self.by_script.entry(spk.clone()).or_insert(Watched {
            id,
            params,
            fundings: BTreeMap::new(),
            spends: BTreeMap::new(),
        });
        spk
    }

    /// Stops watching an HTLC.
    pub fn unwatch(&mut self, script: &ScriptBuf) {
        if let Some(w) = self.by_script.remove(script) {
            self.unindex(script, &w.confirmed());
        }
    }

    /// The scripts being watched.
    pub fn scripts(&self) -> impl Iterator<Item = &ScriptBuf> {
        self.by_script.keys()
    }

    /// The current tip, if one was reported.
    pub fn tip(&self) -> Option<(BtcHeight, BlockHash)> {
        self.tip
    }

    /// A new tip. `prev` is the new tip's parent hash. Besides the tip itself, re-reports the
    /// depth of everything confirmed within the last `depth_cap` blocks.
    pub fn on_tip(
        &mut self,
        height: BtcHeight,
        hash: BlockHash,
        prev: BlockHash,
    ) -> Vec<ChainEvent<K>> {
        let reorg = match self.tip {
            Some((h, old)) if old == hash && h == height => return vec![],
            Some((h, old)) => !(h.0.checked_add(1) == Some(height.0) && old == prev),
            None => false,
        };
        self.tip = Some((height, hash));
        let mut events = vec![ChainEvent::Tip {
            height,
            hash,
            reorg,
        }];
        // Heights whose entries now have 2..=cap confirmations (the tip block's own entries
        // come with their status notification).
        let lo = BtcHeight(height.0.saturating_sub(self.depth_cap.saturating_sub(1)));
        if lo >= height {
            return events;
        }
        for (_, entries) in self.by_height.range(lo..height) {
            for (script, item) in entries {
                let Some(w) = self.by_script.get(script) else {
                    continue;
                };
                let ev = match item {
                    Item::Funding(op) => w.funding_event(*op, height, false),
                    Item::Spend(op) => w.spent_event(*op, height, false),
                };
                events.extend(ev);
            }
        }
        events
    }

    fn unindex(&mut self, script: &ScriptBuf, entries: &[(Item, BtcHeight)]) {
        for (item, h) in entries {
            if let Some(set) = self.by_height.get_mut(h) {
                set.remove(&(script.clone(), item.clone()));
                if set.is_empty() {
                    self.by_height.remove(h);
                }
            }
        }
    }

    fn index(&mut self, script: &ScriptBuf, entries: Vec<(Item, BtcHeight)>) {
        for (item, h) in entries {
            self.by_height
                .entry(h)
                .or_default()
                .insert((script.clone(), item));
        }
    }

    /// The full current history of `script` (what Electrum's `get_history` returns, with the
    /// transactions themselves), diffed against the last one. Returns the events: fundings seen
    /// or gone, then spends gone, then spends seen (a replacement reads as "gone, then seen").
    pub fn on_history(
        &mut self,
        script: &ScriptBuf,
        history: &[(Transaction, TxStatus)],
    ) -> Vec<ChainEvent<K>> {
        let tip = self.tip.map_or(BtcHeight(0), |t| t.0);
        let Some(w) = self.by_script.get(script) else {
            return vec![];
        };

        // Fundings: outputs that pay the script.
        let mut fundings = BTreeMap::new();
        for (tx, status) in history {
            let txid = tx.compute_txid();
            for (vout, o) in (0u32..).zip(&tx.output) {
                if &o.script_pubkey == script {
                    fundings.insert(OutPoint { txid, vout }, (sats(o.value), *status));
                }
            }
        }
        // Spends: any transaction with an input consuming a funding outpoint we know of (now or
        // before: a spend can outlive the view of its funding for one round).
        let mut spends: BTreeMap<OutPoint, SpendSeen> = BTreeMap::new();
        for (tx, status) in history {
            for input in &tx.input {
                let op = input.previous_output;
                if !fundings.contains_key(&op) && !w.fundings.contains_key(&op) {
                    continue;
                }
                let txid = tx.compute_txid();
                let kind = match w.spends.get(&op) {
                    Some(s) if s.txid == txid => s.kind.clone(),
                    _ => match secret::read_spend(tx, op, &w.params) {
                        Ok(HtlcSpend::Claim { secret, .. }) => SpendKind::Claim(secret),
                        Ok(HtlcSpend::Refund { .. }) => SpendKind::Refund,
                        Err(e) => SpendKind::Unreadable(e),
                    },
                };
                let status = *status;
                spends.insert(op, SpendSeen { txid, status, kind });
            }
        }

        let mut events = vec![];
        let changed_fundings: Vec<(OutPoint, bool)> = fundings
            .iter()
            .filter_map(|(op, new)| {
                let old = w.fundings.get(op);
                (old != Some(new)).then(|| (*op, shallower(old.map(|o| o.1), new.1)))
            })
            .collect();
        for op in w.fundings.keys().filter(|op| !fundings.contains_key(op)) {
            events.push(ChainEvent::FundingGone {
                id: w.id.clone(),
                outpoint: *op,
            });
        }
        for (op, seen) in &w.spends {
            if spends.get(op).is_none_or(|s| s.txid != seen.txid) {
                events.push(ChainEvent::SpendGone {
                    id: w.id.clone(),
                    outpoint: *op,
                    txid: seen.txid,
                });
            }
        }
        let changed_spends: Vec<(OutPoint, bool)> = spends
            .iter()
            .filter_map(|(op, new)| {
                let old = w.spends.get(op).filter(|s| s.txid == new.txid);
                let same = old.is_some_and(|o| o.status == new.status);
                (!same).then(|| (*op, shallower(old.map(|o| o.status), new.status)))
            })
            .collect();

        let old = w.confirmed();
        self.unindex(script, &old);
        let Some(w) = self.by_script.get_mut(script) else {
            return events;
        };
        w.fundings = fundings;
        w.spends = spends;
        // Fundings seen go first, before any "gone" of this round.
        let seen: Vec<_> = changed_fundings
            .into_iter()
            .filter_map(|(op, sh)| w.funding_event(op, tip, sh))
            .collect();
        events.splice(0..0, seen);
        events.extend(
            changed_spends
                .into_iter()
                .filter_map(|(op, sh)| w.spent_event(op, tip, sh)),
        );
        let new = w.confirmed();
        self.index(script, new);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim;
    use crate::refund;
    use crate::spend::HtlcUtxo;
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, FeeRate, Sequence, TxIn, TxOut, Witness, absolute::LockTime};

    fn sk(n: u8) -> SecretKey {
        SecretKey::from_slice(&[n; 32]).unwrap()
    }

    fn pk(n: u8) -> PublicKey {
        PublicKey::from_secret_key(&Secp256k1::new(), &sk(n))
    }

    fn setup() -> (Watcher<u32>, ScriptBuf, Transaction, HtlcUtxo, Secret) {
        let s = Secret::new([9; 32]);
        let params = HtlcParams::new(s.hashlock(), pk(1), pk(2), BtcHeight(200)).unwrap();
        let mut w = Watcher::new();
        let spk = w.watch(7, params);
        let fund = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([1; 32]), 0),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(80_000),
                script_pubkey: spk.clone(),
            }],
        };
        let utxo = HtlcUtxo {
            outpoint: OutPoint::new(fund.compute_txid(), 0),
            amount: Sats(80_000),
            params,
        };
        (w, spk, fund, utxo, s)
    }

    fn tip(w: &mut Watcher<u32>, h: u32, byte: u8, prev: u8) -> Vec<ChainEvent<u32>> {
        w.on_tip(
            BtcHeight(h),
            BlockHash::from_byte_array([byte; 32]),
            BlockHash::from_byte_array([prev; 32]),
        )
    }

    #[test]
    fn tip_reports_reorgs() {
        let (mut w, ..) = setup();
        assert!(matches!(
            tip(&mut w, 100, 1, 0)[..],
            [ChainEvent::Tip { reorg: false, .. }]
        ));
        assert!(tip(&mut w, 100, 1, 0).is_empty());
        assert!(matches!(
            tip(&mut w, 101, 2, 1)[..],
            [ChainEvent::Tip { reorg: false, .. }]
        ));
        // Same height, other block; and a lower tip.
        assert!(matches!(
            tip(&mut w, 101, 3, 1)[..],
            [ChainEvent::Tip { reorg: true, .. }]
        ));
        assert!(matches!(
            tip(&mut w, 100, 4, 9)[..],
            [ChainEvent::Tip { reorg: true, .. }]
        ));
    }

    #[test]
    fn funding_claim_replacement_and_reorg_are_events() {
        let (mut w, spk, fund, utxo, s) = setup();
        tip(&mut w, 150, 1, 0);
        let op = utxo.outpoint;
        let ev = w.on_history(&spk, &[(fund.clone(), TxStatus::Mempool)]);
        assert_eq!(
            ev,
            vec![ChainEvent::Funding {
                id: 7,
                outpoint: op,
                amount: Sats(80_000),
                status: TxStatus::Mempool,
                confirmations: 0,
                shallower: false,
            }]
        );
        // Same view again: nothing.
        assert!(
            w.on_history(&spk, &[(fund.clone(), TxStatus::Mempool)])
                .is_empty()
        );
        let conf = TxStatus::Confirmed(BtcHeight(149));
        let ev = w.on_history(&spk, &[(fund.clone(), conf)]);
        assert!(matches!(
            ev[..],
            [ChainEvent::Funding {
                confirmations: 2,
                ..
            }]
        ));

        let rate = |r| FeeRate::from_sat_per_vb_u32(r);
        let dest = ScriptBuf::new_op_return([1u8; 4]);
        let dest = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::hash(dest.as_bytes()));
        let c1 = claim::build(&utxo, &dest, rate(2), &s, &sk(1)).unwrap();
        let ev = w.on_history(
            &spk,
            &[(fund.clone(), conf), (c1.tx.clone(), TxStatus::Mempool)],
        );
        assert_eq!(
            ev,
            vec![ChainEvent::Spent {
                id: 7,
                outpoint: op,
                txid: c1.tx.compute_txid(),
                kind: SpendKind::Claim(s.clone()),
                status: TxStatus::Mempool,
                confirmations: 0,
                shallower: false,
            }]
        );
        // A replacement: the old spend goes, then the new one is seen.
        let c2 = claim::bump(&c1, &utxo, &dest, rate(20), &s, &sk(1)).unwrap();
        let ev = w.on_history(
            &spk,
            &[(fund.clone(), conf), (c2.tx.clone(), TxStatus::Mempool)],
        );
        assert!(
            matches!(&ev[..], [ChainEvent::SpendGone { txid, .. }, ChainEvent::Spent { txid: t2, .. }]
            if *txid == c1.tx.compute_txid() && *t2 == c2.tx.compute_txid())
        );
        // Confirmed, then reorged back to the mempool, then gone, then the refund.
        let at = TxStatus::Confirmed(BtcHeight(150));
        let ev = w.on_history(&spk, &[(fund.clone(), conf), (c2.tx.clone(), at)]);
        assert!(matches!(
            ev[..],
            [ChainEvent::Spent {
                confirmations: 1,
                ..
            }]
        ));
        let ev = w.on_history(
            &spk,
            &[(fund.clone(), conf), (c2.tx.clone(), TxStatus::Mempool)],
        );
        assert!(matches!(
            ev[..],
            [ChainEvent::Spent {
                status: TxStatus::Mempool,
                ..
            }]
        ));
        let ev = w.on_history(&spk, &[(fund.clone(), conf)]);
        assert!(matches!(ev[..], [ChainEvent::SpendGone { .. }]));
        let r = refund::build(&utxo, &dest, rate(2), &sk(2)).unwrap();
        let ev = w.on_history(
            &spk,
            &[(fund.clone(), conf), (r.tx.clone(), TxStatus::Mempool)],
        );
        assert!(matches!(
            ev[..],
            [ChainEvent::Spent {
                kind: SpendKind::Refund,
                ..
            }]
        ));
        // The funding reorged out and conflicted: funding and spend both go.
        let ev = w.on_history(&spk, &[]);
        assert_eq!(ev.len(), 2);
        assert!(matches!(ev[0], ChainEvent::FundingGone { .. }));
        assert!(matches!(ev[1], ChainEvent::SpendGone { .. }));
    }

    #[test]
    fn depth_is_reported_again_on_each_block_up_to_the_cap_only() {
        let (mut w, spk, fund, utxo, _) = setup();
        tip(&mut w, 100, 100, 99);
        let at = TxStatus::Confirmed(BtcHeight(100));
        let ev = w.on_history(&spk, &[(fund.clone(), at)]);
        assert!(matches!(
            ev[..],
            [ChainEvent::Funding {
                confirmations: 1,
                ..
            }]
        ));
        let mut depths = vec![];
        for h in 101..=110u8 {
            for e in tip(&mut w, u32::from(h), h, h - 1) {
                if let ChainEvent::Funding {
                    outpoint,
                    confirmations,
                    ..
                } = e
                {
                    assert_eq!(outpoint, utxo.outpoint);
                    depths.push(confirmations);
                }
            }
        }
        assert_eq!(depths, vec![2, 3, 4, 5, 6]);

        // The status notification of a new block can arrive before its header: the funding is
        // one deep at once, and the header that follows makes it two deep on the next block.
        let (mut w, spk, fund, ..) = setup();
        tip(&mut w, 100, 100, 99);
        let ev = w.on_history(&spk, &[(fund, TxStatus::Confirmed(BtcHeight(101)))]);
        assert!(matches!(
            ev[..],
            [ChainEvent::Funding {
                confirmations: 1,
                ..
            }]
        ));
        assert!(matches!(
            tip(&mut w, 101, 101, 100)[..],
            [ChainEvent::Tip { .. }]
        ));
        assert!(matches!(
            tip(&mut w, 102, 102, 101)[..],
            [
                ChainEvent::Tip { .. },
                ChainEvent::Funding {
                    confirmations: 2,
                    ..
                }
            ]
        ));
        // Unwatching drops it from the index.
        w.unwatch(&spk);
        assert!(w.by_height.is_empty());
    }

    #[test]
    fn two_fundings_of_one_htlc_are_two_locks_and_spends_are_told_apart() {
        let (mut w, spk, fund, utxo, _) = setup();
        tip(&mut w, 150, 1, 0);
        // The maker pays the address twice (another amount the second time).
        let mut again = fund.clone();
        again.input[0].previous_output.vout = 5;
        again.output[0].value = Amount::from_sat(30_000);
        let second = OutPoint::new(again.compute_txid(), 0);
        let conf = TxStatus::Confirmed(BtcHeight(150));
        let ev = w.on_history(&spk, &[(fund.clone(), conf), (again.clone(), conf)]);
        let seen: Vec<(OutPoint, Sats)> = ev
            .iter()
            .filter_map(|e| match e {
                ChainEvent::Funding {
                    outpoint, amount, ..
                } => Some((*outpoint, *amount)),
                _ => None,
            })
            .collect();
        assert_eq!(seen.len(), 2);
        assert!(seen.contains(&(utxo.outpoint, Sats(80_000))));
        assert!(seen.contains(&(second, Sats(30_000))));
        // Each is refunded on its own; the spend of the second names the second.
        let dest = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array([4; 32]));
        let u2 = HtlcUtxo {
            outpoint: second,
            amount: Sats(30_000),
            ..utxo
        };
        let r = refund::build(&u2, &dest, FeeRate::from_sat_per_vb_u32(2), &sk(2)).unwrap();
        let ev = w.on_history(
            &spk,
            &[(fund, conf), (again, conf), (r.tx, TxStatus::Mempool)],
        );
        assert!(
            matches!(&ev[..], [ChainEvent::Spent { outpoint, kind: SpendKind::Refund, .. }] if *outpoint == second)
        );
    }

    #[test]
    fn unknown_scripts_are_ignored_and_status_heights_map() {
        let (mut w, _, fund, ..) = setup();
        assert!(
            w.on_history(&ScriptBuf::new(), &[(fund, TxStatus::Mempool)])
                .is_empty()
        );
        assert_eq!(TxStatus::from_electrum(0), TxStatus::Mempool);
        assert_eq!(TxStatus::from_electrum(-1), TxStatus::Mempool);
        assert_eq!(
            TxStatus::from_electrum(5),
            TxStatus::Confirmed(BtcHeight(5))
        );
        assert_eq!(
            TxStatus::Confirmed(BtcHeight(5)).confirmations(BtcHeight(10)),
            6
        );
        assert_eq!(
            TxStatus::Confirmed(BtcHeight(11)).confirmations(BtcHeight(10)),
            1
        );
    }
}
