//! Finality policy: how deep a lock must be before anyone acts on it, and how deep our own
//! claims and refunds must be before we stop watching them.
//!
//! Owns [`Depth`] (what a watcher reports) and [`FinalityPolicy`] (per amount band). It must
//! never decide from a block hash or a timestamp: watchers report depth, this module judges it.

use thiserror::Error;

use crate::amount::{Amount, Sats, Wei};
use crate::chain::Chain;

/// How final an Ethereum block is, by the tags an execution node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EthDepth {
    /// In the mempool only.
    Pending,
    /// In a block at or below `latest`.
    Included,
    /// At or below the `safe` block.
    Safe,
    /// At or below the `finalized` block.
    Finalized,
}

/// How deep a transaction is, as a watcher reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Depth {
    /// Bitcoin confirmations; 0 means in the mempool.
    Btc(u32),
    /// Ethereum finality tag.
    Eth(EthDepth),
}

impl Depth {
    /// The chain this depth is measured on.
    pub const fn chain(&self) -> Chain {
        match self {
            Depth::Btc(_) => Chain::Bitcoin,
            Depth::Eth(_) => Chain::Ethereum,
        }
    }

    /// In a block (not only in the mempool).
    pub const fn is_confirmed(&self) -> bool {
        match self {
            Depth::Btc(c) => *c >= 1,
            Depth::Eth(d) => !matches!(d, EthDepth::Pending),
        }
    }

    /// Deep enough that we stop tracking our own claim or refund: [`SETTLED_BTC_CONFS`]
    /// confirmations, or `finalized`.
    pub const fn is_settled(&self) -> bool {
        match self {
            Depth::Btc(c) => *c >= SETTLED_BTC_CONFS,
            Depth::Eth(d) => matches!(d, EthDepth::Finalized),
        }
    }
}

/// Our own claims and refunds are re-broadcast if they drop until this deep (LDK's
/// `ANTI_REORG_DELAY`): deeper Bitcoin reorgs have not happened since 2013.
pub const SETTLED_BTC_CONFS: u32 = 6;

/// Depth a lock needs before the other leg may be locked or the secret revealed, by amount band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FinalityPolicy {
    /// BTC locks at or above this need [`Self::btc_confs_high`].
    pub btc_high_value: Sats,
    /// Confirmations for a BTC lock below the threshold.
    pub btc_confs_low: u32,
    /// Confirmations for a BTC lock at or above the threshold.
    pub btc_confs_high: u32,
    /// Native-ETH locks at or above this need [`Self::eth_high`].
    pub eth_high_value: Wei,
    /// Tag for a native-ETH lock below the threshold.
    pub eth_low: EthDepth,
    /// Tag for a native-ETH lock at or above the threshold, and for every ERC-20 lock: the core
    /// knows no token price, so tokens always get the strict band.
    pub eth_high: EthDepth,
}

/// Why a finality policy is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FinalityError {
    /// Zero confirmations would act on a mempool transaction that can be double-spent.
    #[error("bitcoin locks need at least one confirmation")]
    ZeroConfs,
    /// The high band must not be weaker than the low band.
    #[error("the high-value band must be at least as strict as the low-value band")]
    BandsInverted,
    /// Beyond what we track for our own spends; nothing would ever be final enough.
    #[error("more than {SETTLED_BTC_CONFS} confirmations is never needed")]
    TooDeep,
    /// A pending Ethereum lock is not a lock.
    #[error("ethereum locks must be at least included in a block")]
    EthPending,
}

impl FinalityPolicy {
    /// The defaults from `protocol.md`: 1 confirmation below 0.05 BTC and 6 above; `safe`
    /// below 2 ETH and `finalized` above.
    pub const DEFAULT: FinalityPolicy = FinalityPolicy {
        btc_high_value: Sats(5_000_000),
        btc_confs_low: 1,
        btc_confs_high: 6,
        eth_high_value: Wei(2 * Wei::ONE_ETH.0),
        eth_low: EthDepth::Safe,
        eth_high: EthDepth::Finalized,
    };

    /// The depth a lock of `amount` needs.
    pub fn required(&self, amount: &Amount) -> Depth {
        match amount {
            Amount::Btc(s) if *s >= self.btc_high_value => Depth::Btc(self.btc_confs_high),
            Amount::Btc(_) => Depth::Btc(self.btc_confs_low),
            Amount::Eth(w) if *w < self.eth_high_value => Depth::Eth(self.eth_low),
            Amount::Eth(_) | Amount::Token { .. } => Depth::Eth(self.eth_high),
        }
    }

    /// Whether a lock of `amount` at `depth` is final. A depth from the other chain is never final.
    pub fn is_final(&self, amount: &Amount, depth: Depth) -> bool {
        match (self.required(amount), depth) {
            (Depth::Btc(need), Depth::Btc(have)) => have >= need,
            (Depth::Eth(need), Depth::Eth(have)) => have >= need,
            _ => false,
        }
    }

    /// Refuse a policy that would act on unconfirmed funds or never act at all.
    pub fn check(&self) -> Result<(), FinalityError> {
        if self.btc_confs_low == 0 {
            return Err(FinalityError::ZeroConfs);
        }
        if self.btc_confs_high < self.btc_confs_low || self.eth_high < self.eth_low {
            return Err(FinalityError::BandsInverted);
        }
        if self.btc_confs_high > SETTLED_BTC_CONFS {
            return Err(FinalityError::TooDeep);
        }
        if self.eth_low == EthDepth::Pending {
            return Err(FinalityError::EthPending);
        }
        Ok(())
    }
}

const _: () = assert!(FinalityPolicy::DEFAULT.btc_confs_low >= 1);
const _: () = assert!(FinalityPolicy::DEFAULT.btc_confs_high <= SETTLED_BTC_CONFS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::TokenUnits;
    use crate::chain::EthAddress;

    #[test]
    fn btc_band_boundaries() {
        let p = FinalityPolicy::DEFAULT;
        let below = Amount::Btc(Sats(4_999_999));
        let at = Amount::Btc(Sats(5_000_000));
        assert_eq!(p.required(&below), Depth::Btc(1));
        assert_eq!(p.required(&at), Depth::Btc(6));
        assert!(!p.is_final(&below, Depth::Btc(0)));
        assert!(p.is_final(&below, Depth::Btc(1)));
        assert!(!p.is_final(&at, Depth::Btc(5)));
        assert!(p.is_final(&at, Depth::Btc(6)));
        assert!(p.is_final(&at, Depth::Btc(7)));
        assert!(!p.is_final(&at, Depth::Eth(EthDepth::Finalized)));
    }

    #[test]
    fn eth_band_boundaries() {
        let p = FinalityPolicy::DEFAULT;
        let below = Amount::Eth(Wei(2 * Wei::ONE_ETH.0 - 1));
        let at = Amount::Eth(Wei(2 * Wei::ONE_ETH.0));
        assert!(!p.is_final(&below, Depth::Eth(EthDepth::Included)));
        assert!(p.is_final(&below, Depth::Eth(EthDepth::Safe)));
        assert!(!p.is_final(&at, Depth::Eth(EthDepth::Safe)));
        assert!(p.is_final(&at, Depth::Eth(EthDepth::Finalized)));
        let token = Amount::Token {
            token: EthAddress([9; 20]),
            units: TokenUnits(1),
        };
        assert_eq!(p.required(&token), Depth::Eth(EthDepth::Finalized));
    }

    #[test]
    fn settled_boundaries() {
        assert!(!Depth::Btc(5).is_settled());
        assert!(Depth::Btc(6).is_settled());
        assert!(Depth::Btc(7).is_settled());
        assert!(!Depth::Eth(EthDepth::Safe).is_settled());
        assert!(Depth::Eth(EthDepth::Finalized).is_settled());
    }

    #[test]
    fn policy_check() {
        assert_eq!(FinalityPolicy::DEFAULT.check(), Ok(()));
        let mut p = FinalityPolicy::DEFAULT;
        p.btc_confs_low = 0;
        assert_eq!(p.check(), Err(FinalityError::ZeroConfs));
        let mut p = FinalityPolicy::DEFAULT;
        p.btc_confs_high = 7;
        assert_eq!(p.check(), Err(FinalityError::TooDeep));
        let mut p = FinalityPolicy::DEFAULT;
        p.eth_high = EthDepth::Included;
        assert_eq!(p.check(), Err(FinalityError::BandsInverted));
        let mut p = FinalityPolicy::DEFAULT;
        p.eth_low = EthDepth::Pending;
        p.eth_high = EthDepth::Pending;
        assert_eq!(p.check(), Err(FinalityError::EthPending));
    }
}
