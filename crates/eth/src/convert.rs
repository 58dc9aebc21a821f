//! Conversions between `crosslock-core`'s newtypes and the alloy primitives this crate speaks,
//! so callers cross the edge in one place.
//!
//! Pure and total where the types allow; where an on-chain value can exceed a core type (a U256
//! amount above u128), the conversion returns `None` instead of truncating.

use alloy::primitives::{Address, B256, U256};
use crosslock_core::amount::{TokenUnits, Wei};
use crosslock_core::chain::EthAddress;
use crosslock_core::finality::EthDepth;
use crosslock_core::secret::{Hashlock, Secret};
use crosslock_core::time::UnixTime;

use crate::watcher::Finality;

/// A core hashlock as the escrow's `bytes32`.
pub fn hashlock(h: &Hashlock) -> B256 {
    B256::from(h.0)
}

/// The escrow's `bytes32` hashlock as a core hashlock.
pub fn core_hashlock(h: B256) -> Hashlock {
    Hashlock(h.0)
}

/// The secret as the `bytes32` preimage of a claim. The copy is as sensitive as the secret.
pub fn preimage(s: &Secret) -> B256 {
    B256::from(*s.expose())
}

/// A preimage read from a `Claimed` log as a core secret.
pub fn core_secret(preimage: &B256) -> Secret {
    Secret::new(preimage.0)
}

/// A core address as an alloy address.
pub fn address(a: &EthAddress) -> Address {
    Address::from(a.0)
}

/// An alloy address as a core address.
pub fn core_address(a: Address) -> EthAddress {
    EthAddress(a.0.0)
}

/// Wei as the escrow's `uint256` amount.
pub fn wei(w: Wei) -> U256 {
    U256::from(w.0)
}

/// Token base units as the escrow's `uint256` amount.
pub fn token_units(t: TokenUnits) -> U256 {
    U256::from(t.0)
}

/// An on-chain amount as wei; `None` above `u128::MAX`.
pub fn core_wei(amount: U256) -> Option<Wei> {
    u128::try_from(amount).ok().map(Wei)
}

/// An on-chain amount as token units; `None` above `u128::MAX`.
pub fn core_token_units(amount: U256) -> Option<TokenUnits> {
    u128::try_from(amount).ok().map(TokenUnits)
}

/// A core timestamp as the escrow's timeout.
pub fn timeout(t: UnixTime) -> u64 {
    t.0
}

/// The watcher policy for a core finality depth. `Pending` has none: the watcher reports
/// only what is in a block.
pub fn finality(depth: EthDepth) -> Option<Finality> {
    match depth {
        EthDepth::Pending => None,
        EthDepth::Included => Some(Finality::Latest { confirmations: 0 }),
        EthDepth::Safe => Some(Finality::Safe),
        EthDepth::Finalized => Some(Finality::Finalized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_the_hashlock_agrees_with_the_core() {
        let secret = Secret::new([7; 32]);
        let p = preimage(&secret);
        let params = crate::SwapParams {
            hashlock: hashlock(&secret.hashlock()),
            sender: Address::ZERO,
            receiver: Address::ZERO,
            token: None,
            amount: U256::from(1),
            timeout: 1,
        };
        assert!(
            params.opens_with(&p),
            "core sha256 and adapter sha256 agree"
        );
        assert_eq!(core_hashlock(params.hashlock), secret.hashlock());
        assert_eq!(preimage(&core_secret(&p)), p);
        let a = Address::repeat_byte(0xab);
        assert_eq!(address(&core_address(a)), a);
        assert_eq!(core_wei(wei(Wei(u128::MAX))), Some(Wei(u128::MAX)));
        assert_eq!(core_wei(U256::from(u128::MAX) + U256::from(1)), None);
        assert_eq!(finality(EthDepth::Pending), None);
    }
}
