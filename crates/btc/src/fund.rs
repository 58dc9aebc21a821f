//! The funding transaction: paying an HTLC output from a `bdk_wallet` wallet, finding HTLC
//! outputs in any transaction, and the smallest amount worth locking.
//!
//! Owns what a funding must satisfy: the output pays exactly the HTLC's P2WSH script, and the
//! amount is large enough that both the claim and the refund stay above dust at the highest fee
//! rate the caller plans for (reliability row 12). It must never sign or broadcast: the wallet
//! signs, the caller persists, then broadcasts.

use bdk_wallet::Wallet;
use bdk_wallet::bitcoin::psbt::Psbt;
use bitcoin::{Amount, FeeRate, OutPoint, ScriptBuf, Transaction};
use thiserror::Error;

use crate::htlc::HtlcParams;
use crate::spend::{self, Branch, HtlcUtxo, STANDARD_SIG_MAX_LEN};
use crate::types::{Sats, sats};

/// What to lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingRequest {
    /// The HTLC to pay.
    pub htlc: HtlcParams,
    /// The amount locked in the HTLC output.
    pub amount: Sats,
    /// The funding transaction's fee rate.
    pub fee_rate: FeeRate,
}

/// A signed funding transaction and where its HTLC output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingTx {
    /// Ready to broadcast once persisted.
    pub tx: Transaction,
    /// The HTLC output.
    pub outpoint: OutPoint,
    /// The fee paid.
    pub fee: Sats,
}

/// Why a funding could not be built.
#[derive(Debug, Error)]
pub enum FundError {
    /// The amount would leave a claim or refund output below dust at the planned fee rate.
    #[error(
        "amount {amount} is below the minimum {min} for a claim and refund at the planned fee rate"
    )]
    BelowMinimum {
        /// The amount asked for.
        amount: Sats,
        /// The smallest amount allowed.
        min: Sats,
    },
    /// The wallet could not build the transaction (not enough funds, all reserved, ...).
    #[error("wallet could not build the funding: {0}")]
    Build(#[from] bdk_wallet::error::CreateTxError),
    /// The built transaction does not pay the HTLC as asked (never expected; checked anyway).
    #[error("built transaction has no HTLC output of the requested amount")]
    Missing,
}

/// Outputs of `tx` that pay the HTLC of `params`, with their amounts.
pub fn find_htlc_outputs(tx: &Transaction, params: &HtlcParams) -> Vec<(OutPoint, Sats)> {
    let spk = params.script_pubkey();
    let txid = tx.compute_txid();
    tx.output
        .iter()
        .zip(0u32..)
        .filter(|(o, _)| o.script_pubkey == spk)
        .map(|(o, vout)| (OutPoint { txid, vout }, sats(o.value)))
        .collect()
}

/// The smallest HTLC amount whose claim and refund to `dest` are both above dust at `max_rate`,
/// counting a worst-case standard signature of anyone.
pub fn min_htlc_amount(params: &HtlcParams, dest: &ScriptBuf, max_rate: FeeRate) -> Option<Sats> {
    let probe = HtlcUtxo {
        outpoint: OutPoint::null(),
        amount: Sats(0),
        params: *params,
    };
    let dust = dest.minimal_non_dust().to_sat();
    [Branch::Claim, Branch::Refund]
        .into_iter()
        .map(|b| {
            let w = spend::weight_with(&probe, b, dest, STANDARD_SIG_MAX_LEN);
            spend::fee_for(max_rate, w).map(|f| f.0.checked_add(dust))
        })
        .try_fold(0u64, |m, f| f.flatten().map(|f| m.max(f)))
        .map(Sats)
}

/// Builds the unsigned funding PSBT from `wallet`'s unlocked coins; change goes to the wallet.
/// Refuses an amount whose claim or refund to `dest` would be dust at `max_spend_rate`.
pub fn build_psbt(
    wallet: &mut Wallet,
    req: &FundingRequest,
    dest: &ScriptBuf,
    max_spend_rate: FeeRate,
) -> Result<Psbt, FundError> {
    let min = min_htlc_amount(&req.htlc, dest, max_spend_rate).unwrap_or(Sats(u64::MAX));
    if req.amount < min {
        return Err(FundError::BelowMinimum {
            amount: req.amount,
            min,
        });
    }
    let mut b = wallet.build_tx();
    b.add_recipient(req.htlc.script_pubkey(), Amount::from_sat(req.amount.0))
        .fee_rate(req.fee_rate);
    Ok(b.finish()?)
}

/// The HTLC output of a built funding transaction.
pub(crate) fn locate(tx: &Transaction, req: &FundingRequest) -> Result<OutPoint, FundError> {
    find_htlc_outputs(tx, &req.htlc)
        .into_iter()
        .find(|(_, a)| *a == req.amount)
        .map(|(op, _)| op)
        .ok_or(FundError::Missing)
}
