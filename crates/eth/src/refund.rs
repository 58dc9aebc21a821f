//! The `refund` transaction: pays the sender back once the timeout has passed.
//!
//! Builds the intent only. Whether a refund may be signed at all (never while the secret is
//! known and the claim can still win) is the caller's policy, not this module's.

use alloy::primitives::{Address, TxKind, U256};
use alloy::sol_types::SolCall;

use crate::contract::Escrow;
use crate::sender::TxIntent;
use crate::swap::SwapParams;

/// Refunds the swap to its sender; anyone may send it, from the timeout on.
pub fn refund(escrow: Address, params: &SwapParams) -> TxIntent {
    let call = Escrow::refundCall {
        swap: params.to_sol(),
    };
    TxIntent {
        to: TxKind::Call(escrow),
        value: U256::ZERO,
        input: call.abi_encode().into(),
    }
}
