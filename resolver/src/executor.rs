//! The executors: turn the core's actions for a swap into signed transactions, written to the
//! Postgres outbox first and broadcast second, on both chains.
//!
//! Owns the order "policy check, sign, persist, broadcast" for lock dst, claim src, claim dst on
//! the maker's behalf, and both refunds, and the re-broadcast and fee escalation of what is in
//! the outbox. It never decides whether an action is due (the core's `apply` does, over the
//! resolver's own copy of the swap's events) and never signs without the signer policy and the
//! lease's fencing token agreeing first. Every action is idempotent by its outbox key, so a
//! restart re-runs everything due and nothing is signed twice.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{FeeRate, ScriptBuf, Transaction};
use crosslock_btc::fund::FundingRequest;
use crosslock_btc::spend::{HtlcUtxo, SignedSpend, min_bump_rate};
use crosslock_btc::wallet::ResolverWallet;
use crosslock_btc::{HtlcParams, claim as btc_claim, refund as btc_refund};
use crosslock_core::amount::{Amount, Sats};
use crosslock_core::chain::LockId;
use crosslock_core::order::{BtcHtlc, EthEscrow, LockTerms, Terms};
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::{Action, Alert, Side, Swap};
use crosslock_core::timelock::{Escalation, FeeBand};
use crosslock_eth::{SendError, SwapParams, TxIntent, TxSender, TxState};
use sqlx::PgPool;
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::db::{self, BtcOutboxRow, DbError, PgTxStore, btc_outbox};
use crate::metrics as m;
use crate::policy::{
    Destination, Identity, Recent, Refusal, SignKind, SignRequest, SignerPolicy, asset_key,
    check_signature,
};

/// Why an action could not be carried out. The swap's record is unchanged; the action is
/// re-issued on the next tick or restart.
#[derive(Debug, Error)]
pub enum ExecError {
    /// The signer policy refused.
    #[error("signer policy refused: {0}")]
    Refused(#[from] Refusal),
    /// We no longer hold the wallet lease: another replica signs now.
    #[error("not the lease holder")]
    Fenced,
    /// Postgres failed; nothing was broadcast.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The Ethereum sender failed.
    #[error("ethereum: {0}")]
    Eth(#[from] SendError),
    /// The escrow refuses the preimage (never expected: the core checked it).
    #[error("ethereum claim: {0}")]
    EthClaim(#[from] crosslock_eth::claim::WrongPreimage),
    /// A Bitcoin transaction could not be built or signed.
    #[error("bitcoin: {0}")]
    Btc(String),
    /// The broadcast failed; the transaction is in the outbox and will be sent again.
    #[error("broadcast failed: {0}")]
    Broadcast(String),
    /// This action needs a chain the resolver is not configured for.
    #[error("{0} is not configured")]
    NoChain(&'static str),
    /// A test asked the executor to stop right after persisting (a simulated kill).
    #[error("simulated crash after persisting {0}")]
    SimulatedCrash(String),
}

/// Sends a Bitcoin transaction. A transaction the node already has counts as sent.
pub trait BtcBroadcaster: Send {
    /// Broadcasts `tx`.
    fn broadcast(&mut self, tx: &Transaction) -> Result<(), String>;
}

impl<K: Clone + Ord> BtcBroadcaster for crosslock_btc::electrum::ElectrumWatcher<K>
where
    K: Send,
{
    fn broadcast(&mut self, tx: &Transaction) -> Result<(), String> {
        crosslock_btc::electrum::ElectrumWatcher::broadcast(self, tx)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// How Bitcoin fees are chosen.
#[derive(Debug, Clone, Copy)]
pub struct BtcFees {
    /// The rate for a first claim, refund or funding far from its deadline.
    pub base: FeeRate,
    /// Never more than this; reaching it raises an alert.
    pub max: FeeRate,
}

impl BtcFees {
    /// The rate for `esc`: the base, doubled in the urgent band and quadrupled in the critical
    /// one, and always at least what a replacement of `prev` needs; capped at `max`.
    pub fn rate(&self, esc: Escalation, prev: Option<&SignedSpend>) -> (FeeRate, bool) {
        let base = self.base.to_sat_per_kwu();
        let band = match esc.band {
            FeeBand::Normal => base,
            FeeBand::Urgent => base.saturating_mul(2),
            FeeBand::Critical => base.saturating_mul(4),
        };
        // Each re-bump adds a quarter on top of what the previous version paid.
        let bumped = prev.map_or(0, |p| {
            let r = p.fee_rate.to_sat_per_kwu();
            r.saturating_add(r / 4)
                .max(min_bump_rate(p).to_sat_per_kwu())
        });
        let wanted = band.max(bumped);
        let capped = wanted.min(self.max.to_sat_per_kwu());
        (FeeRate::from_sat_per_kwu(capped), capped < wanted)
    }
}

/// The Ethereum side: the sender over the Postgres outbox.
pub struct EthSide<P> {
    /// Signs, persists, sends, replaces.
    pub sender: TxSender<P, PgTxStore>,
    /// The escrow.
    pub escrow: Address,
    /// The node.
    pub provider: P,
}

/// The Bitcoin side: the hot wallet, the HTLC key, and a broadcaster.
pub struct BtcSide {
    /// Funds HTLCs.
    pub wallet: ResolverWallet,
    /// Signs HTLC claims (BTC -> ETH) and refunds (ETH -> BTC).
    pub htlc_key: SecretKey,
    /// Where claims and refunds pay: one of the wallet's scripts.
    pub payout: ScriptBuf,
    /// Sends transactions.
    pub broadcaster: Box<dyn BtcBroadcaster>,
    /// Fee policy.
    pub fees: BtcFees,
    /// Unix time source for the wallet's records.
    pub now_unix: fn() -> u64,
}

impl BtcSide {
    /// Our HTLC public key.
    pub fn htlc_pubkey(&self) -> PublicKey {
        self.htlc_key.public_key(&Secp256k1::new())
    }
}

/// Where to stop for a simulated kill (tests only use this; `None` in production).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Return right after the named kind (`lock`, `claim_src`, `claim_dst`, `refund_dst`,
    /// `refund_src`) is persisted, before it is broadcast.
    AfterPersist(SignKind),
}

/// The fence every signature is checked against.
#[derive(Debug, Clone)]
pub struct Fence {
    /// The lease name (one per wallet).
    pub name: String,
    /// Our token, while we hold it.
    pub token: Option<i64>,
}

/// The executors for one wallet.
pub struct Executor<P> {
    /// Postgres.
    pub pool: PgPool,
    /// The signer limits.
    pub policy: SignerPolicy,
    /// Who we are.
    pub me: Identity,
    /// Ethereum, if configured.
    pub eth: Option<EthSide<P>>,
    /// Bitcoin, if configured.
    pub btc: Option<BtcSide>,
    /// The lease.
    pub fence: Fence,
    /// A simulated kill point, for tests.
    pub crash: Option<CrashPoint>,
    /// Where persisted transactions are announced for the relayer's `ReportTx` (best effort:
    /// the relayer's watchers see them on chain anyway).
    pub reports: Option<tokio::sync::mpsc::UnboundedSender<TxReport>>,
}

/// A transaction of ours, persisted and about to be broadcast, for the relayer's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxReport {
    /// The swap.
    pub swap: SwapId,
    /// `true` for Bitcoin, `false` for Ethereum.
    pub bitcoin: bool,
    /// What it does.
    pub kind: SignKind,
    /// Txid (Bitcoin, in its usual reversed display order) or transaction hash.
    pub tx_id: [u8; 32],
    /// The signed transaction.
    pub raw: Vec<u8>,
}

fn key(kind: SignKind, id: SwapId) -> String {
    format!("{}:{id}", kind.name())
}

pub(crate) fn swap_params(e: &EthEscrow) -> SwapParams {
    let (token, amount) = match e.amount {
        Amount::Token { token, units } => (
            Some(crosslock_eth::convert::address(&token)),
            crosslock_eth::convert::token_units(units),
        ),
        Amount::Eth(w) => (None, crosslock_eth::convert::wei(w)),
        Amount::Btc(_) => (None, U256::ZERO),
    };
    SwapParams {
        hashlock: crosslock_eth::convert::hashlock(&e.hashlock),
        sender: crosslock_eth::convert::address(&e.sender),
        receiver: crosslock_eth::convert::address(&e.receiver),
        token,
        amount,
        timeout: crosslock_eth::convert::timeout(e.timeout),
    }
}

pub(crate) fn htlc(h: &BtcHtlc) -> Result<HtlcParams, ExecError> {
    let k = |p| crosslock_btc::types::pubkey(p).map_err(|e| ExecError::Btc(e.to_string()));
    HtlcParams::new(
        h.hashlock,
        k(&h.claim_pubkey)?,
        k(&h.refund_pubkey)?,
        h.timeout,
    )
    .map_err(|e| ExecError::Btc(e.to_string()))
}

fn esc_label(e: Escalation) -> String {
    format!("{:?}:{}", e.band, e.checkpoint)
}

impl<P: Provider + Clone> Executor<P> {
    async fn fenced(&self) -> Result<(), ExecError> {
        match self.fence.token {
            Some(t) if db::lease::still_held(&self.pool, &self.fence.name, t).await? => Ok(()),
            _ => Err(ExecError::Fenced),
        }
    }

    async fn allow(
        &self,
        id: SwapId,
        swap: &Swap,
        kind: SignKind,
        destination: Destination,
        amount: Amount,
    ) -> Result<(), ExecError> {
        self.fenced().await?;
        let asset = asset_key(&amount.asset());
        let (locks, locked) = db::signatures::last_hour(&self.pool, &asset).await?;
        let req = SignRequest {
            swap,
            kind,
            destination,
            amount,
        };
        if let Err(r) = check_signature(&self.policy, &self.me, &req, Recent { locks, locked }) {
            m::signer_refusal(r);
            if r.is_unsafe() {
                error!(swap_id = %id, kind = kind.name(), reason = r.reason(), "signer policy refused an unsafe signature");
            } else {
                warn!(swap_id = %id, kind = kind.name(), reason = r.reason(), "signer policy refused");
            }
            return Err(r.into());
        }
        db::signatures::record(&self.pool, id, kind.name(), &asset, amount.base_units()).await?;
        Ok(())
    }

    fn crash_here(&self, kind: SignKind) -> Result<(), ExecError> {
        if self.crash == Some(CrashPoint::AfterPersist(kind)) {
            return Err(ExecError::SimulatedCrash(kind.name().to_owned()));
        }
        Ok(())
    }

    /// Carries out `actions` for swap `id`, whose record (after the event that issued them) is
    /// `swap`. Stops at the first failure; what was not done is due again on the next run.
    pub async fn execute(
        &mut self,
        id: SwapId,
        swap: &Swap,
        actions: &[Action],
    ) -> Result<(), ExecError> {
        let Some(terms) = swap.terms else {
            return Ok(());
        };
        // One failing action (an endpoint down) must not hold back the others: a BTC claim
        // goes out even while Ethereum is unreachable. The first error is returned at the end.
        let mut first_error = None;
        for a in actions {
            let r = self.execute_one(id, swap, &terms, a).await;
            if let Err(e) = r {
                if matches!(e, ExecError::SimulatedCrash(_)) {
                    return Err(e);
                }
                warn!(swap_id = %id, error = %e, "action failed; due again next round");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn execute_one(
        &mut self,
        id: SwapId,
        swap: &Swap,
        terms: &Terms,
        a: &Action,
    ) -> Result<(), ExecError> {
        {
            match a {
                Action::LockDst { terms: dst } => self.lock_dst(id, swap, terms, dst).await?,
                Action::ClaimDst {
                    lock,
                    secret,
                    escalation,
                } => {
                    self.spend(
                        id,
                        swap,
                        Side::Dst,
                        &terms.dst,
                        *lock,
                        Some(secret),
                        *escalation,
                    )
                    .await?;
                }
                Action::ClaimSrc {
                    lock,
                    secret,
                    escalation,
                } => {
                    self.spend(
                        id,
                        swap,
                        Side::Src,
                        &terms.src,
                        *lock,
                        Some(secret),
                        *escalation,
                    )
                    .await?;
                }
                Action::RefundDst { lock, escalation } => {
                    self.spend(id, swap, Side::Dst, &terms.dst, *lock, None, *escalation)
                        .await?;
                }
                Action::RefundSrc { lock, escalation } => {
                    self.spend(id, swap, Side::Src, &terms.src, *lock, None, *escalation)
                        .await?;
                }
                Action::BroadcastMakerClaim { .. } => {
                    // The relayer broadcasts the maker's pre-signed ladder; nothing to sign here.
                    info!(swap_id = %id, "maker's claim of our BTC lock is the relayer's to broadcast");
                }
                Action::HandSecretOn { .. } => {
                    info!(swap_id = %id, "secret known; claims follow");
                }
                Action::Alert { alert } => match alert {
                    Alert::SpendNearDeadline { side, .. } => {
                        warn!(swap_id = %id, ?side, "claim or refund close to its deadline");
                    }
                    other => warn!(swap_id = %id, alert = ?other, "alert"),
                },
                Action::NeedsOperator { reason } => {
                    error!(swap_id = %id, ?reason, "swap needs an operator");
                }
            }
        }
        Ok(())
    }

    async fn lock_dst(
        &mut self,
        id: SwapId,
        swap: &Swap,
        terms: &Terms,
        dst: &LockTerms,
    ) -> Result<(), ExecError> {
        // The core allowed it when the event was applied; re-check time right before signing.
        if let Err(e) = crosslock_core::timelock::may_resolver_lock_dst(
            terms,
            &swap.clock,
            terms.network.params(),
        ) {
            warn!(swap_id = %id, error = %e, "dst lock no longer allowed by the timelocks");
            return Ok(());
        }
        let k = key(SignKind::LockDst, id);
        match dst {
            LockTerms::Eth(e) => {
                let Some(k) = self.eth_allowed(id, swap, SignKind::LockDst, e).await? else {
                    return Ok(());
                };
                let eth = self.eth.as_mut().ok_or(ExecError::NoChain("ethereum"))?;
                let params = swap_params(e);
                if let Some(token) = params.token {
                    let approve = crosslock_eth::lock::approve(token, eth.escrow, params.amount);
                    eth.sender.submit(&format!("approve:{id}"), approve).await?;
                }
                let intent = crosslock_eth::lock::lock(eth.escrow, &params);
                self.send_eth(id, SignKind::LockDst, &k, intent, None).await
            }
            LockTerms::Btc(h) => {
                if let Some(row) = btc_outbox::get(&self.pool, &k).await? {
                    return self.broadcast_btc(&row, false);
                }
                let params = htlc(h)?;
                let dest = Destination::BtcScript(params.script_pubkey().to_bytes());
                self.allow(id, swap, SignKind::LockDst, dest, Amount::Btc(h.amount))
                    .await?;
                let btc = self.btc.as_mut().ok_or(ExecError::NoChain("bitcoin"))?;
                let req = FundingRequest {
                    htlc: params,
                    amount: h.amount,
                    fee_rate: btc.fees.base,
                };
                let funding = btc
                    .wallet
                    .fund_htlc(
                        &req,
                        &btc.payout,
                        btc.fees.max,
                        crosslock_core::time::UnixTime((btc.now_unix)()),
                    )
                    .map_err(|e| ExecError::Btc(e.to_string()))?;
                let row = BtcOutboxRow {
                    key: k.clone(),
                    swap_id: id,
                    kind: "lock".into(),
                    spends: None,
                    raw: bitcoin::consensus::serialize(&funding.tx),
                    txid: funding.tx.compute_txid().to_string(),
                    fee_sat: i64::try_from(funding.fee.0).unwrap_or(i64::MAX),
                    fee_rate_sat_kwu: i64::try_from(btc.fees.base.to_sat_per_kwu())
                        .unwrap_or(i64::MAX),
                    escalation: "lock".into(),
                    versions: Vec::new(),
                    state: "pending".into(),
                };
                btc_outbox::insert(&self.pool, &row).await?;
                m::fee_spent("bitcoin", funding.fee.0 as f64 / 1e8);
                info!(swap_id = %id, txid = %row.txid, "dst HTLC funding persisted");
                self.report_btc(id, SignKind::LockDst, &row);
                self.crash_here(SignKind::LockDst)?;
                self.broadcast_btc(&row, true)
            }
        }
    }

    /// A claim (with `secret`) or a refund (without) of one lock.
    #[allow(clippy::too_many_arguments)]
    async fn spend(
        &mut self,
        id: SwapId,
        swap: &Swap,
        side: Side,
        lt: &LockTerms,
        lock: LockId,
        secret: Option<&Secret>,
        esc: Escalation,
    ) -> Result<(), ExecError> {
        let kind = match (side, secret.is_some()) {
            (Side::Src, true) => SignKind::ClaimSrc,
            (Side::Dst, true) => SignKind::ClaimDst,
            (Side::Src, false) => SignKind::RefundSrc,
            (Side::Dst, false) => SignKind::RefundDst,
        };
        match lt {
            LockTerms::Eth(e) => {
                let Some(k) = self.eth_allowed(id, swap, kind, e).await? else {
                    return Ok(());
                };
                let eth = self.eth.as_ref().ok_or(ExecError::NoChain("ethereum"))?;
                let params = swap_params(e);
                let (intent, deadline) = match secret {
                    Some(s) => (
                        crosslock_eth::claim::claim(
                            eth.escrow,
                            &params,
                            crosslock_eth::convert::preimage(s),
                        )?,
                        // Near the escrow's timeout the sender replaces it every block.
                        Some(crosslock_eth::convert::timeout(e.timeout)),
                    ),
                    None => (crosslock_eth::refund::refund(eth.escrow, &params), None),
                };
                self.send_eth(id, kind, &k, intent, deadline).await
            }
            // The maker's BTC src refund is signed by the maker's client.
            LockTerms::Btc(_) if kind == SignKind::RefundSrc => Ok(()),
            LockTerms::Btc(h) => {
                let amount = swap
                    .leg(side)
                    .iter()
                    .find(|l| l.id == lock)
                    .map_or(Amount::Btc(h.amount), |l| l.amount);
                let Amount::Btc(sats) = amount else {
                    return Err(ExecError::Btc("bitcoin lock with a non-BTC amount".into()));
                };
                self.spend_btc(id, swap, kind, h, lock, sats, secret, esc)
                    .await
            }
        }
    }

    /// For an escrow call: `None` if its outbox key exists (it was re-broadcast instead);
    /// otherwise the signer policy's approval and the key to sign under.
    async fn eth_allowed(
        &mut self,
        id: SwapId,
        swap: &Swap,
        kind: SignKind,
        e: &EthEscrow,
    ) -> Result<Option<String>, ExecError> {
        let k = key(kind, id);
        if db::eth_key_exists(&self.pool, &k).await? {
            self.rebroadcast_eth(&k).await?;
            return Ok(None);
        }
        let eth = self.eth.as_ref().ok_or(ExecError::NoChain("ethereum"))?;
        let dest = Destination::EthCall {
            contract: crosslock_eth::convert::core_address(eth.escrow),
            chain_id: e.chain_id.0,
        };
        self.allow(id, swap, kind, dest, e.amount).await?;
        Ok(Some(k))
    }

    async fn send_eth(
        &mut self,
        id: SwapId,
        kind: SignKind,
        k: &str,
        intent: TxIntent,
        deadline: Option<u64>,
    ) -> Result<(), ExecError> {
        let crash = self.crash == Some(CrashPoint::AfterPersist(kind));
        let eth = self.eth.as_mut().ok_or(ExecError::NoChain("ethereum"))?;
        let entry = eth
            .sender
            .prepare_with_deadline(k, intent, deadline)
            .await?;
        info!(swap_id = %id, kind = kind.name(), nonce = entry.nonce, hash = %entry.hash, "ethereum transaction persisted");
        if let Some(r) = &self.reports {
            let _ = r.send(TxReport {
                swap: id,
                bitcoin: false,
                kind,
                tx_id: entry.hash.0,
                raw: entry.raw.to_vec(),
            });
        }
        if crash {
            return Err(ExecError::SimulatedCrash(kind.name().to_owned()));
        }
        if entry.state == TxState::Pending {
            eth.sender.broadcast(&entry).await?;
            info!(swap_id = %id, kind = kind.name(), nonce = entry.nonce, hash = %entry.hash, "ethereum transaction broadcast");
        }
        Ok(())
    }

    async fn rebroadcast_eth(&mut self, k: &str) -> Result<(), ExecError> {
        let eth = self.eth.as_mut().ok_or(ExecError::NoChain("ethereum"))?;
        if let Some(entry) = eth.sender.entries().find(|e| e.key == k).cloned()
            && entry.state == TxState::Pending
        {
            eth.sender.broadcast(&entry).await?;
            debug!(key = k, nonce = entry.nonce, hash = %entry.hash, "ethereum transaction re-broadcast");
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn spend_btc(
        &mut self,
        id: SwapId,
        swap: &Swap,
        kind: SignKind,
        h: &BtcHtlc,
        lock: LockId,
        amount: Sats,
        secret: Option<&Secret>,
        esc: Escalation,
    ) -> Result<(), ExecError> {
        let outpoint = crosslock_btc::types::outpoint(&lock)
            .ok_or_else(|| ExecError::Btc("bitcoin leg with an escrow id".into()))?;
        let k = format!("{}:{id}:{outpoint}", kind.name());
        let utxo = HtlcUtxo {
            outpoint,
            amount,
            params: htlc(h)?,
        };
        let existing = btc_outbox::get(&self.pool, &k).await?;
        let label = esc_label(esc);
        if let Some(row) = &existing
            && (row.escalation == label || row.state != "pending")
        {
            // Same point on the schedule: re-broadcasting is all there is to do.
            return self.broadcast_btc(row, false);
        }
        let payout = self
            .btc
            .as_ref()
            .ok_or(ExecError::NoChain("bitcoin"))?
            .payout
            .clone();
        self.allow(
            id,
            swap,
            kind,
            Destination::BtcScript(payout.to_bytes()),
            Amount::Btc(amount),
        )
        .await?;
        let btc = self.btc.as_mut().ok_or(ExecError::NoChain("bitcoin"))?;
        let prev = existing.as_ref().map(previous).transpose()?;
        let (rate, capped) = btc.fees.rate(esc, prev.as_ref());
        if capped {
            error!(swap_id = %id, kind = kind.name(), rate = rate.to_sat_per_vb_ceil(), "fee escalation reached the cap");
            m::fee_cap_hit("bitcoin");
        }
        let signed = match (&prev, secret) {
            (None, Some(s)) => btc_claim::build(&utxo, &payout, rate, s, &btc.htlc_key),
            (Some(p), Some(s)) => btc_claim::bump(p, &utxo, &payout, rate, s, &btc.htlc_key),
            (None, None) => btc_refund::build(&utxo, &payout, rate, &btc.htlc_key),
            (Some(p), None) => btc_refund::bump(p, &utxo, &payout, rate, &btc.htlc_key),
        };
        let signed = match (signed, &existing) {
            (Ok(s), _) => s,
            // At the cap a valid replacement may be impossible: keep the version we have on the
            // wire (the alert above is the operator's cue to raise the cap).
            (Err(crosslock_btc::spend::SpendError::BumpTooSmall { .. }), Some(row)) if capped => {
                return self.broadcast_btc(row, false);
            }
            (Err(e), _) => return Err(ExecError::Btc(e.to_string())),
        };
        let row = BtcOutboxRow {
            key: k.clone(),
            swap_id: id,
            kind: if secret.is_some() { "claim" } else { "refund" }.into(),
            spends: Some(outpoint.to_string()),
            raw: bitcoin::consensus::serialize(&signed.tx),
            txid: signed.tx.compute_txid().to_string(),
            fee_sat: i64::try_from(signed.fee.0).unwrap_or(i64::MAX),
            fee_rate_sat_kwu: i64::try_from(rate.to_sat_per_kwu()).unwrap_or(i64::MAX),
            escalation: label,
            versions: Vec::new(),
            state: "pending".into(),
        };
        let written = match &existing {
            None => btc_outbox::insert(&self.pool, &row).await?,
            Some(old) => btc_outbox::replace(&self.pool, &old.txid, &row).await?,
        };
        if !written {
            // Another writer got there first; broadcast what the outbox holds.
            if let Some(current) = btc_outbox::get(&self.pool, &k).await? {
                return self.broadcast_btc(&current, false);
            }
            return Ok(());
        }
        let extra = signed
            .fee
            .0
            .saturating_sub(prev.as_ref().map_or(0, |p| p.fee.0));
        m::fee_spent("bitcoin", extra as f64 / 1e8);
        info!(swap_id = %id, kind = kind.name(), txid = %row.txid, rate_sat_vb = rate.to_sat_per_vb_ceil(), escalation = %row.escalation, bump = prev.is_some(), "bitcoin spend persisted");
        self.report_btc(id, kind, &row);
        self.crash_here(kind)?;
        self.broadcast_btc(&row, true)
    }

    fn report_btc(&self, id: SwapId, kind: SignKind, row: &BtcOutboxRow) {
        let Some(r) = &self.reports else { return };
        let Some(tx_id) = hex::decode(&row.txid)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return;
        };
        let _ = r.send(TxReport {
            swap: id,
            bitcoin: true,
            kind,
            tx_id,
            raw: row.raw.clone(),
        });
    }

    /// Hands an outbox row's transaction to the node. A `fresh` row (signed just now: a first
    /// version or a bump) is logged at info once the node has it, a re-broadcast at debug.
    fn broadcast_btc(&mut self, row: &BtcOutboxRow, fresh: bool) -> Result<(), ExecError> {
        let btc = self.btc.as_mut().ok_or(ExecError::NoChain("bitcoin"))?;
        let tx: Transaction = bitcoin::consensus::deserialize(&row.raw)
            .map_err(|e| ExecError::Btc(format!("outbox row {}: {e}", row.key)))?;
        btc.broadcaster
            .broadcast(&tx)
            .map_err(ExecError::Broadcast)?;
        // The outbox key starts with the signature kind: lock, claim_src, refund_dst, ...
        let kind = row.key.split(':').next().unwrap_or_default();
        if fresh {
            info!(swap_id = %row.swap_id, kind, txid = %row.txid, "bitcoin transaction broadcast");
        } else {
            debug!(swap_id = %row.swap_id, kind, txid = %row.txid, "bitcoin transaction re-broadcast");
        }
        Ok(())
    }

    /// After a start or a takeover: re-broadcast every pending transaction in both outboxes,
    /// then re-run every action due for every open swap. Idempotent.
    pub async fn resume(&mut self) -> Result<(), ExecError> {
        if let Some(eth) = self.eth.as_mut() {
            let sent = eth.sender.resume().await?;
            info!(count = sent.len(), "ethereum outbox re-broadcast");
        }
        if self.btc.is_some() {
            btc_outbox::finalize_terminal(&self.pool).await?;
            for row in btc_outbox::open(&self.pool).await? {
                if row.state == "pending"
                    && let Err(e) = self.broadcast_btc(&row, false)
                {
                    warn!(key = %row.key, error = %e, "re-broadcast failed; will retry");
                }
            }
        }
        for id in db::open_swaps(&self.pool).await? {
            let Some(loaded) = db::load_swap(&self.pool, id).await? else {
                continue;
            };
            let due = loaded.swap.due_actions();
            if let Err(e) = self.execute(id, &loaded.swap, &due).await {
                warn!(swap_id = %id, error = %e, "resumed actions failed; will retry");
                if matches!(e, ExecError::SimulatedCrash(_)) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// One round of follow-up: the Ethereum sender records inclusion, re-broadcasts reorged
    /// transactions and replaces stuck ones (every block near a deadline), within its fee cap.
    pub async fn poll(&mut self) -> Result<(), ExecError> {
        if let Some(eth) = self.eth.as_mut() {
            for e in eth.sender.poll().await? {
                info!(key = %e.key, nonce = e.nonce, state = ?e.state, "ethereum outbox entry changed");
                if let TxState::Mined { hash, .. } = e.state
                    && let Ok(Some(r)) = eth.provider.get_transaction_receipt(hash).await
                {
                    let wei = u128::from(r.gas_used).saturating_mul(r.effective_gas_price);
                    m::fee_spent("ethereum", wei as f64 / 1e18);
                }
            }
        }
        Ok(())
    }
}

fn previous(row: &BtcOutboxRow) -> Result<SignedSpend, ExecError> {
    let tx: Transaction = bitcoin::consensus::deserialize(&row.raw)
        .map_err(|e| ExecError::Btc(format!("outbox row {}: {e}", row.key)))?;
    let branch = if row.kind == "claim" {
        crosslock_btc::spend::Branch::Claim
    } else {
        crosslock_btc::spend::Branch::Refund
    };
    Ok(SignedSpend {
        weight: tx.weight(),
        tx,
        branch,
        fee: Sats(u64::try_from(row.fee_sat).unwrap_or(0)),
        fee_rate: FeeRate::from_sat_per_kwu(u64::try_from(row.fee_rate_sat_kwu).unwrap_or(0)),
    })
}
