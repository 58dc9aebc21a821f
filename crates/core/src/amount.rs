//! Amount newtypes in each asset's base unit.
//!
//! Owns [`Sats`], [`Wei`], [`TokenUnits`] and [`Amount`]. Arithmetic is checked or saturating;
//! nothing here converts between assets or knows a price, and nothing may round an amount.
//!
//! `Wei` and `TokenUnits` are `u128`: all ether that exists is about 1.2e26 wei, far below
//! `u128::MAX` (3.4e38), and a token amount above `u128::MAX` is refused at validation rather
//! than carried as a 256-bit number no order needs. The Ethereum adapter widens to `U256`.

use std::fmt;

use crate::chain::{Asset, EthAddress};

/// Satoshis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sats(pub u64);

/// Wei (1e-18 ether).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Wei(pub u128);

/// Base units of an ERC-20 token (the contract's `decimals` is display-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TokenUnits(pub u128);

impl Sats {
    /// One bitcoin.
    pub const ONE_BTC: Sats = Sats(100_000_000);
    /// Largest amount that can exist (21 million BTC).
    pub const MAX_MONEY: Sats = Sats(21_000_000 * 100_000_000);
}

impl Wei {
    /// One gwei.
    pub const GWEI: Wei = Wei(1_000_000_000);
    /// One ether.
    pub const ONE_ETH: Wei = Wei(1_000_000_000_000_000_000);
}

impl fmt::Display for Sats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sat", self.0)
    }
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} wei", self.0)
    }
}

impl fmt::Display for TokenUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} units", self.0)
    }
}

/// An amount of one asset. The asset travels with the number so that a wei amount can never be
/// compared with a token amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Amount {
    /// Bitcoin.
    Btc(Sats),
    /// Native ether.
    Eth(Wei),
    /// An ERC-20 token.
    Token {
        /// The token contract.
        token: EthAddress,
        /// Base units.
        units: TokenUnits,
    },
}

impl Amount {
    /// The asset this amount is of.
    pub const fn asset(&self) -> Asset {
        match self {
            Amount::Btc(_) => Asset::Btc,
            Amount::Eth(_) => Asset::Eth,
            Amount::Token { token, .. } => Asset::Erc20(*token),
        }
    }

    /// The amount in its base unit, widened to `u128` for comparisons within one asset.
    pub fn base_units(&self) -> u128 {
        match self {
            Amount::Btc(s) => u128::from(s.0),
            Amount::Eth(w) => w.0,
            Amount::Token { units, .. } => units.0,
        }
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.base_units() == 0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Btc(s) => s.fmt(f),
            Amount::Eth(w) => w.fmt(f),
            Amount::Token { token, units } => write!(f, "{units} of {token}"),
        }
    }
}
