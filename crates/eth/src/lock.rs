//! The `lock` transaction (and the ERC-20 `approve` that must precede a token lock).
//!
//! Builds intents only; [`crate::TxSender`] signs, persists and sends them. Nothing here checks
//! whether locking is wise: the caller (the core's state machine) has decided that already.

use alloy::primitives::{Address, TxKind, U256};
use alloy::sol_types::SolCall;

use crate::contract::{Escrow, TestToken};
use crate::sender::TxIntent;
use crate::swap::SwapParams;

/// Locks `params.amount` in the escrow at `escrow`. The transaction must come from
/// `params.sender`, which the contract takes as `msg.sender`; for ETH it carries the amount as
/// value, for a token the sender must have approved the escrow first ([`approve`]).
pub fn lock(escrow: Address, params: &SwapParams) -> TxIntent {
    let call = Escrow::lockCall {
        hashlock: params.hashlock,
        receiver: params.receiver,
        token: params.token_address(),
        amount: params.amount,
        timeout: U256::from(params.timeout),
    };
    TxIntent {
        to: TxKind::Call(escrow),
        value: if params.token.is_none() {
            params.amount
        } else {
            U256::ZERO
        },
        input: call.abi_encode().into(),
    }
}

/// ERC-20 `approve(spender, amount)` on `token`. The signature is standard ERC-20, so the test
/// token's binding serves for every token.
pub fn approve(token: Address, spender: Address, amount: U256) -> TxIntent {
    TxIntent {
        to: TxKind::Call(token),
        value: U256::ZERO,
        input: TestToken::approveCall {
            spender,
            value: amount,
        }
        .abi_encode()
        .into(),
    }
}

/// What `who` holds of the ERC-20 at `token` (the standard `balanceOf`), for inventory checks.
pub async fn token_balance<P: alloy::providers::Provider>(
    provider: &P,
    token: Address,
    who: Address,
) -> Result<U256, String> {
    let call = TestToken::balanceOfCall { account: who };
    let out = provider
        .call(
            alloy::rpc::types::TransactionRequest::default()
                .to(token)
                .input(call.abi_encode().into()),
        )
        .await
        .map_err(|e| e.to_string())?;
    TestToken::balanceOfCall::abi_decode_returns(&out).map_err(|e| e.to_string())
}
