//! The `claim` transaction: pays the receiver and publishes the secret.
//!
//! Builds the intent only. It refuses a preimage that does not open the hashlock, so a wrong
//! secret is caught before any gas is spent or anything is broadcast.

use alloy::primitives::{Address, B256, TxKind, U256};
use alloy::sol_types::SolCall;

use crate::contract::Escrow;
use crate::sender::TxIntent;
use crate::swap::SwapParams;

/// The preimage does not hash to the swap's hashlock.
#[derive(Debug, thiserror::Error)]
#[error("preimage does not open hashlock {hashlock}")]
pub struct WrongPreimage {
    /// The swap's hashlock.
    pub hashlock: B256,
}

/// Claims the swap for its receiver; anyone may send it, strictly before the timeout.
pub fn claim(
    escrow: Address,
    params: &SwapParams,
    preimage: B256,
) -> Result<TxIntent, WrongPreimage> {
    if !params.opens_with(&preimage) {
        return Err(WrongPreimage {
            hashlock: params.hashlock,
        });
    }
    let call = Escrow::claimCall {
        swap: params.to_sol(),
        preimage,
    };
    Ok(TxIntent {
        to: TxKind::Call(escrow),
        value: U256::ZERO,
        input: call.abi_encode().into(),
    })
}
