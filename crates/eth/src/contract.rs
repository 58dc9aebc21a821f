//! The escrow's Rust bindings, generated from the committed artifact, and the start-up check
//! that the deployed contract is byte for byte the one this code was written against.
//!
//! The artifact is produced by `scripts/contracts build`; a test there fails when it is stale.
//! This module never sends transactions.

use std::sync::LazyLock;

use alloy::primitives::{Address, B256, keccak256};
use alloy::providers::Provider;
use alloy::sol;

sol!(
    #[allow(missing_docs, unreachable_pub)]
    #[derive(Debug, PartialEq, Eq)]
    Escrow,
    "../../contracts/artifacts/Escrow.json"
);

sol!(
    #[allow(missing_docs, unreachable_pub)]
    #[derive(Debug, PartialEq, Eq)]
    TestToken,
    "../../contracts/artifacts/TestToken.json"
);

const ESCROW_ARTIFACT: &str = include_str!("../../../contracts/artifacts/Escrow.json");

static CODE_HASH: LazyLock<B256> = LazyLock::new(|| {
    // The artifact is compiled in and checked by a unit test, so a bad one never ships.
    #[allow(clippy::expect_used)]
    let value: serde_json::Value =
        serde_json::from_str(ESCROW_ARTIFACT).expect("committed Escrow artifact is JSON");
    #[allow(clippy::expect_used)]
    value["deployedCodeHash"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("committed Escrow artifact has deployedCodeHash")
});

/// keccak256 of the escrow's runtime code, as recorded in the committed artifact.
pub fn expected_code_hash() -> B256 {
    *CODE_HASH
}

/// The escrow's creation code, for deploying it (tests, devnets).
pub fn escrow_creation_code() -> alloy::primitives::Bytes {
    Escrow::BYTECODE.clone()
}

/// The transaction that deploys the escrow. The contract has no constructor arguments and no
/// owner, so whoever deploys it gains nothing over anyone else.
pub fn deploy_escrow() -> crate::TxIntent {
    crate::TxIntent {
        to: alloy::primitives::TxKind::Create,
        value: alloy::primitives::U256::ZERO,
        input: escrow_creation_code(),
    }
}

/// Where a contract created by the outbox entry lands (`CREATE`: sender and nonce), known before
/// it is mined.
pub fn created_address(entry: &crate::OutboxEntry) -> Address {
    entry.from.create(entry.nonce)
}

/// Why the deployed escrow was refused.
#[derive(Debug, thiserror::Error)]
pub enum CodeHashError {
    /// The node could not be asked for the code.
    #[error("failed to read the code at {address}: {source}")]
    Rpc {
        /// The escrow address that was configured.
        address: Address,
        /// The transport error.
        #[source]
        source: alloy::transports::TransportError,
    },
    /// No contract at all at that address (wrong address or wrong chain).
    #[error("no contract at {address}")]
    NoCode {
        /// The escrow address that was configured.
        address: Address,
    },
    /// A contract, but not this escrow: a different build, or a different contract.
    #[error("contract at {address} has code hash {found}, expected {expected}")]
    Mismatch {
        /// The escrow address that was configured.
        address: Address,
        /// keccak256 of the runtime code found there.
        found: B256,
        /// keccak256 of the runtime code in the committed artifact.
        expected: B256,
    },
}

/// Refuses to start against an escrow whose runtime code is not the committed build: a contract
/// that hashed with keccak instead of sha256, or paid someone else, would lose both legs.
pub async fn check_code_hash<P: Provider>(
    provider: &P,
    address: Address,
) -> Result<(), CodeHashError> {
    let code = provider
        .get_code_at(address)
        .await
        .map_err(|source| CodeHashError::Rpc { address, source })?;
    if code.is_empty() {
        return Err(CodeHashError::NoCode { address });
    }
    let found = keccak256(&code);
    let expected = expected_code_hash();
    if found != expected {
        return Err(CodeHashError::Mismatch {
            address,
            found,
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_code_hash_matches_its_runtime_code() {
        assert_eq!(keccak256(&Escrow::DEPLOYED_BYTECODE), expected_code_hash());
    }
}
