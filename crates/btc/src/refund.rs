//! The refund: spending an HTLC by the refund key after its timeout (`<sig> <> <script>`), and
//! its RBF replacements.
//!
//! Owns the refund's lock time and sequence: `nLockTime` is the script's timeout height and the
//! sequence `0xFFFFFFFD` (non-final, so nLockTime is enforced and RBF is signalled). It must never
//! decide *whether* to refund: invariant 3 (no refund while the service knows the secret and the
//! claim can still win) is the caller's, checked before this is called.

use bitcoin::secp256k1::SecretKey;
use bitcoin::{FeeRate, ScriptBuf};

use crate::spend::{self, Branch, HtlcUtxo, SignedSpend, SpendError};
use crate::types::BtcHeight;

/// Builds and signs the refund of `utxo` to `dest` at `fee_rate`. It can be mined from
/// [`earliest_height`] on.
pub fn build(
    utxo: &HtlcUtxo,
    dest: &ScriptBuf,
    fee_rate: FeeRate,
    refund_key: &SecretKey,
) -> Result<SignedSpend, SpendError> {
    spend::build(utxo, Branch::Refund, dest, fee_rate, refund_key, None)
}

/// Builds a replacement of `prev` at a higher `fee_rate`, refusing one the network would not
/// accept as a replacement.
pub fn bump(
    prev: &SignedSpend,
    utxo: &HtlcUtxo,
    dest: &ScriptBuf,
    fee_rate: FeeRate,
    refund_key: &SecretKey,
) -> Result<SignedSpend, SpendError> {
    let next = build(utxo, dest, fee_rate, refund_key)?;
    spend::check_replacement(prev.fee, next.fee, next.weight, fee_rate)?;
    Ok(next)
}

/// The first block height that can include the refund. Core's finality check is
/// `nLockTime < block height`, so with nLockTime = T the first block is T + 1; the mempool checks
/// against tip + 1 and so takes the refund once the tip is at T.
pub fn earliest_height(utxo: &HtlcUtxo) -> BtcHeight {
    BtcHeight(utxo.params.timeout().0.saturating_add(1))
}
