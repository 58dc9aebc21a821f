//! Amount and fee rules: transaction sizes of our HTLC spends, dust floors, minimum lock amounts,
//! and the over/under-payment tolerance.
//!
//! Owns the arithmetic that decides whether a swap is economical and whether a lock carries the
//! amount agreed. It must never estimate a market fee rate: the caps here are fixed upper bounds.

use thiserror::Error;

use crate::amount::{Amount, Sats, Wei};

/// Bytes of the P2WSH HTLC script from `protocol.md`, with the largest height push (4 bytes,
/// heights below 2^31): OP_IF, OP_SIZE, push(0x20), OP_EQUALVERIFY, OP_SHA256, push(32-byte H),
/// OP_EQUALVERIFY, push(33-byte key), OP_ELSE, push(height), OP_CLTV, OP_DROP, push(33-byte key),
/// OP_ENDIF, OP_CHECKSIG.
pub const HTLC_SCRIPT_LEN: u64 = 1 + 1 + 2 + 1 + 1 + 33 + 1 + 34 + 1 + 5 + 1 + 1 + 34 + 1 + 1;
/// Largest DER ECDSA signature plus the sighash byte.
pub const MAX_SIG_LEN: u64 = 73;
/// Claim witness `<sig> <s> 1 <script>`: item count, then each item with its 1-byte length.
pub const CLAIM_WITNESS_LEN: u64 =
    1 + (1 + MAX_SIG_LEN) + (1 + 32) + (1 + 1) + (1 + HTLC_SCRIPT_LEN);
/// Refund witness `<sig> <> <script>`.
pub const REFUND_WITNESS_LEN: u64 = 1 + (1 + MAX_SIG_LEN) + 1 + (1 + HTLC_SCRIPT_LEN);
/// Non-witness bytes of a one-input, one-output spend: version 4, input count 1, outpoint 36,
/// empty scriptSig 1, sequence 4, output count 1, output 43 (P2TR/P2WSH, the largest standard
/// segwit output: value 8, length 1, script 34), locktime 4.
pub const SPEND_BASE_LEN: u64 = 4 + 1 + 36 + 1 + 4 + 1 + 43 + 4;
/// Segwit marker and flag, counted at witness weight.
pub const SEGWIT_MARKER_LEN: u64 = 2;

/// Virtual size of a transaction with `base` non-witness bytes and `witness` witness bytes.
pub const fn vsize(base: u64, witness: u64) -> u64 {
    (base * 4 + SEGWIT_MARKER_LEN + witness).div_ceil(4)
}

/// Virtual size of our HTLC claim: 152 vB.
pub const CLAIM_VSIZE: u64 = vsize(SPEND_BASE_LEN, CLAIM_WITNESS_LEN);
/// Virtual size of our HTLC refund: 144 vB.
pub const REFUND_VSIZE: u64 = vsize(SPEND_BASE_LEN, REFUND_WITNESS_LEN);

const _: () = assert!(HTLC_SCRIPT_LEN == 118);
const _: () = assert!(CLAIM_VSIZE == 152);
const _: () = assert!(REFUND_VSIZE == 144);
const _: () = assert!(CLAIM_VSIZE >= REFUND_VSIZE);

/// Fee rate (sat/vB) a claim or refund must still afford: mempool peaks have reached several
/// hundred sat/vB, and fee escalation never bids above this cap.
pub const HIGH_FEE_RATE_SAT_PER_VB: u64 = 500;
/// Dust limit of the largest standard segwit output (P2TR/P2WSH) at the default relay policy.
pub const DUST_LIMIT: Sats = Sats(330);
/// Smallest BTC HTLC: its claim or refund at [`HIGH_FEE_RATE_SAT_PER_VB`] still leaves an output
/// above dust (76,330 sat).
pub const MIN_BTC_LOCK: Sats = Sats(CLAIM_VSIZE * HIGH_FEE_RATE_SAT_PER_VB + DUST_LIMIT.0);

const _: () = assert!(MIN_BTC_LOCK.0 > REFUND_VSIZE * HIGH_FEE_RATE_SAT_PER_VB + DUST_LIMIT.0);

/// Gas an escrow `claim` or `refund` costs at most, ERC-20 transfer included.
pub const ESCROW_SPEND_GAS: u128 = 80_000;
/// Gas price (wei) a claim must still afford; escalation never bids above it.
pub const HIGH_GAS_PRICE: Wei = Wei(200 * Wei::GWEI.0);
/// Smallest native-ETH escrow: worth at least one claim at [`HIGH_GAS_PRICE`] (0.016 ETH).
pub const MIN_ETH_LOCK: Wei = Wei(ESCROW_SPEND_GAS * HIGH_GAS_PRICE.0);

/// The fee of a spend of `vsize` at the cap, for the adapters' fee ladders.
pub const fn max_fee(vsize: u64) -> Sats {
    Sats(vsize * HIGH_FEE_RATE_SAT_PER_VB)
}

/// Accepted overpayment of a BTC lock, in basis points of the agreed amount. A wallet that
/// cannot send an exact amount is not stopped, while a larger excess (which the resolver's claim
/// would take) is treated as a mistake and refunded instead.
pub const BTC_OVERPAY_TOLERANCE_BPS: u64 = 100;

/// How a lock's amount differs from the agreed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Error)]
pub enum AmountMismatch {
    /// The lock holds another asset (or another token) than agreed.
    #[error("lock holds {actual} but {expected} was agreed")]
    WrongAsset {
        /// Agreed.
        expected: Amount,
        /// Found.
        actual: Amount,
    },
    /// Less than agreed: the resolver would pay for more than it gets. No tolerance.
    #[error("underpaid: {actual} locked, {expected} agreed")]
    Under {
        /// Agreed.
        expected: Amount,
        /// Found.
        actual: Amount,
    },
    /// More than agreed beyond the tolerance.
    #[error("overpaid: {actual} locked, {expected} agreed")]
    Over {
        /// Agreed.
        expected: Amount,
        /// Found.
        actual: Amount,
    },
}

/// The kind of an [`AmountMismatch`], without the amounts (which the swap record holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MismatchKind {
    /// Another asset.
    WrongAsset,
    /// Underpaid.
    Under,
    /// Overpaid beyond the tolerance.
    Over,
}

impl AmountMismatch {
    /// The kind.
    pub const fn kind(&self) -> MismatchKind {
        match self {
            AmountMismatch::WrongAsset { .. } => MismatchKind::WrongAsset,
            AmountMismatch::Under { .. } => MismatchKind::Under,
            AmountMismatch::Over { .. } => MismatchKind::Over,
        }
    }
}

/// Whether a lock of `actual` may stand for an agreed `expected`. Bitcoin allows an overpayment
/// of [`BTC_OVERPAY_TOLERANCE_BPS`]; Ethereum amounts must be exact because the escrow id commits
/// to the amount and the contract refuses a token that delivers a different amount.
pub fn check_lock_amount(expected: Amount, actual: Amount) -> Result<(), AmountMismatch> {
    if expected.asset() != actual.asset() {
        return Err(AmountMismatch::WrongAsset { expected, actual });
    }
    let (e, a) = (expected.base_units(), actual.base_units());
    if a < e {
        return Err(AmountMismatch::Under { expected, actual });
    }
    let allowed = match expected {
        Amount::Btc(s) => u128::from(s.0 / 10_000 * BTC_OVERPAY_TOLERANCE_BPS),
        Amount::Eth(_) | Amount::Token { .. } => 0,
    };
    if a - e > allowed {
        return Err(AmountMismatch::Over { expected, actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::EthAddress;

    #[test]
    fn spend_sizes_match_the_hand_count() {
        assert_eq!(CLAIM_WITNESS_LEN, 229);
        assert_eq!(REFUND_WITNESS_LEN, 195);
        assert_eq!(SPEND_BASE_LEN, 94);
        assert_eq!(MIN_BTC_LOCK, Sats(76_330));
        assert_eq!(MIN_ETH_LOCK, Wei(16_000_000_000_000_000));
        assert_eq!(max_fee(CLAIM_VSIZE), Sats(76_000));
    }

    #[test]
    fn btc_tolerance_boundaries() {
        let e = Amount::Btc(Sats(1_000_000));
        let ok = |a: u64| check_lock_amount(e, Amount::Btc(Sats(a)));
        assert!(matches!(ok(999_999), Err(AmountMismatch::Under { .. })));
        assert_eq!(ok(1_000_000), Ok(()));
        assert_eq!(ok(1_010_000), Ok(()));
        assert!(matches!(ok(1_010_001), Err(AmountMismatch::Over { .. })));
    }

    #[test]
    fn eth_amounts_are_exact_and_assets_must_match() {
        let e = Amount::Eth(Wei(5));
        assert!(check_lock_amount(e, Amount::Eth(Wei(4))).is_err());
        assert_eq!(check_lock_amount(e, Amount::Eth(Wei(5))), Ok(()));
        assert!(check_lock_amount(e, Amount::Eth(Wei(6))).is_err());
        let token = EthAddress([1; 20]);
        let t = Amount::Token {
            token,
            units: crate::amount::TokenUnits(5),
        };
        assert!(matches!(
            check_lock_amount(e, t),
            Err(AmountMismatch::WrongAsset { .. })
        ));
    }
}
