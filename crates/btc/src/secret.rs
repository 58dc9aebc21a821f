//! Reading an HTLC spend: which branch it took and, for a claim, the secret, from any
//! transaction that spends the HTLC outpoint, whoever built it.
//!
//! Owns the one place a secret is read off the Bitcoin chain. It matches the input by outpoint,
//! never by txid (a third party's claim, a replacement or a malleated copy all count), and it
//! must never hand out a preimage that is not 32 bytes or does not hash to the hashlock.

use bitcoin::hashes::{Hash, sha256};
use bitcoin::{OutPoint, Transaction};
use thiserror::Error;

use crate::htlc::{HtlcParams, SECRET_LEN};
use crate::types::Secret;

/// What a transaction spending the HTLC did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HtlcSpend {
    /// The claim branch, with the secret it revealed.
    Claim {
        /// The input of the transaction that spends the HTLC.
        input: usize,
        /// The revealed secret, checked against the hashlock.
        secret: Secret,
    },
    /// The refund branch.
    Refund {
        /// The input of the transaction that spends the HTLC.
        input: usize,
    },
}

/// Why a transaction could not be read as a spend of the HTLC.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpendReadError {
    /// No input spends the outpoint.
    #[error("transaction does not spend {0}")]
    NotSpending(OutPoint),
    /// The input's last witness item is not this HTLC's witness script.
    #[error("input {0} does not carry this HTLC's witness script")]
    OtherScript(usize),
    /// The witness has neither the claim (4 items) nor the refund (3 items) shape.
    #[error("input {input} has {items} witness items, neither a claim nor a refund")]
    UnknownShape {
        /// The input index.
        input: usize,
        /// Witness items present.
        items: usize,
    },
    /// The claim's preimage is not 32 bytes (the script refuses it, so this cannot be mined).
    #[error("preimage is {0} bytes, not 32")]
    PreimageLength(usize),
    /// The claim's preimage does not hash to the hashlock (cannot be mined either).
    #[error("preimage does not hash to the hashlock")]
    PreimageMismatch,
}

/// Reads the spend of `outpoint` (guarded by `params`) in `tx`.
pub fn read_spend(
    tx: &Transaction,
    outpoint: OutPoint,
    params: &HtlcParams,
) -> Result<HtlcSpend, SpendReadError> {
    let input = tx
        .input
        .iter()
        .position(|i| i.previous_output == outpoint)
        .ok_or(SpendReadError::NotSpending(outpoint))?;
    let w = &tx.input[input].witness;
    let script = params.witness_script();
    if w.last() != Some(script.as_bytes()) {
        return Err(SpendReadError::OtherScript(input));
    }
    match w.len() {
        // <sig> <s> <true> <script>. The branch selector is not checked for minimality: that is
        // policy, not consensus, so a mined claim may carry another true value.
        4 => {
            let pre = w.nth(1).unwrap_or_default();
            let bytes: [u8; SECRET_LEN] = pre
                .try_into()
                .map_err(|_| SpendReadError::PreimageLength(pre.len()))?;
            if sha256::Hash::hash(&bytes).to_byte_array() != params.hashlock().0 {
                return Err(SpendReadError::PreimageMismatch);
            }
            Ok(HtlcSpend::Claim {
                input,
                secret: Secret::new(bytes),
            })
        }
        // <sig> <false> <script>
        3 => Ok(HtlcSpend::Refund { input }),
        items => Err(SpendReadError::UnknownShape { input, items }),
    }
}

/// The secret revealed by `tx` if it claims `outpoint`; `Ok(None)` if it refunds it.
pub fn extract_secret(
    tx: &Transaction,
    outpoint: OutPoint,
    params: &HtlcParams,
) -> Result<Option<Secret>, SpendReadError> {
    Ok(match read_spend(tx, outpoint, params)? {
        HtlcSpend::Claim { secret, .. } => Some(secret),
        HtlcSpend::Refund { .. } => None,
    })
}
