//! One escrow swap's parameters and its id, computed exactly as the contract computes it.
//!
//! The contract stores only a status per id; every call after `lock` passes these parameters
//! back. This module is pure: no I/O.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::SolValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::Escrow;

/// The parameters of one escrow swap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SwapParams {
    /// sha256 of the 32-byte secret.
    pub hashlock: B256,
    /// The account that locked the funds; a refund pays it.
    pub sender: Address,
    /// The account a claim pays.
    pub receiver: Address,
    /// The ERC-20 token, or `None` for native ETH.
    pub token: Option<Address>,
    /// Base units of the token (wei for ETH).
    pub amount: U256,
    /// Unix seconds: claims strictly before, refunds from then on.
    pub timeout: u64,
}

impl SwapParams {
    /// The escrow's id for this swap: keccak256 of the ABI-encoded parameters.
    pub fn id(&self) -> B256 {
        keccak256(self.to_sol().abi_encode())
    }

    /// The token address as the contract sees it (zero for ETH).
    pub fn token_address(&self) -> Address {
        self.token.unwrap_or(Address::ZERO)
    }

    /// Whether sha256(`preimage`) is this swap's hashlock.
    pub fn opens_with(&self, preimage: &B256) -> bool {
        let digest: [u8; 32] = Sha256::digest(preimage.as_slice()).into();
        B256::from(digest) == self.hashlock
    }

    pub(crate) fn to_sol(&self) -> Escrow::Swap {
        Escrow::Swap {
            hashlock: self.hashlock,
            sender: self.sender,
            receiver: self.receiver,
            token: self.token_address(),
            amount: self.amount,
            timeout: U256::from(self.timeout),
        }
    }

    /// Rebuilds the parameters from a `Locked` log. `None` if the timeout does not fit a u64,
    /// which the contract's bound on timeouts rules out.
    pub fn from_locked(event: &Escrow::Locked) -> Option<SwapParams> {
        Some(SwapParams {
            hashlock: event.hashlock,
            sender: event.sender,
            receiver: event.receiver,
            token: (event.token != Address::ZERO).then_some(event.token),
            amount: event.amount,
            timeout: u64::try_from(event.timeout).ok()?,
        })
    }
}
