//! What a maker asks for ([`Order`]) and what both chains will enforce once a resolver is
//! matched ([`Terms`]: the Bitcoin HTLC and the Ethereum escrow parameters as plain data).
//!
//! Owns the shape of an order in both directions and the per-lock questions that depend only on
//! the lock's own parameters and a [`Clock`] (has its timeout passed, can a claim still win).
//! It must never build a script or a transaction: that is the adapters' job.

use crate::amount::{Amount, Sats};
use crate::chain::{BtcPubkey, Chain, ChainId, EthAddress, Network};
use crate::finality::FinalityPolicy;
use crate::secret::Hashlock;
use crate::time::{BtcHeight, Clock, UnixTime};

/// Which way the maker swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// The maker sells BTC (src = Bitcoin) for ETH or an ERC-20 (dst = Ethereum).
    BtcToEth,
    /// The maker sells ETH or an ERC-20 (src = Ethereum) for BTC (dst = Bitcoin).
    EthToBtc,
}

impl Direction {
    /// The chain the maker locks on.
    pub const fn src_chain(self) -> Chain {
        match self {
            Direction::BtcToEth => Chain::Bitcoin,
            Direction::EthToBtc => Chain::Ethereum,
        }
    }

    /// The chain the resolver locks on.
    pub const fn dst_chain(self) -> Chain {
        match self {
            Direction::BtcToEth => Chain::Ethereum,
            Direction::EthToBtc => Chain::Bitcoin,
        }
    }
}

/// A maker's order, validated ([`crate::validate::parse_order`]) but not yet matched.
///
/// The maker's keys play the role the direction gives them: in BTC -> ETH the BTC key is the
/// HTLC refund key and the ETH address receives; in ETH -> BTC the BTC key claims and the ETH
/// address is the escrow sender (and so gets any refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Where the swap runs.
    pub network: Network,
    /// `SHA-256(s)`; the maker keeps `s`.
    pub hashlock: Hashlock,
    /// What the maker locks (src).
    pub give: Amount,
    /// What the maker receives (dst).
    pub take: Amount,
    /// The maker's compressed Bitcoin public key.
    pub maker_btc_pubkey: BtcPubkey,
    /// The maker's Ethereum address.
    pub maker_eth_address: EthAddress,
    /// The src lock must be first seen before this wall-clock time; a later lock is never
    /// locked against (no free option).
    pub quote_expires: UnixTime,
}

impl Order {
    /// The direction, from which side is Bitcoin.
    pub const fn direction(&self) -> Direction {
        match self.give {
            Amount::Btc(_) => Direction::BtcToEth,
            Amount::Eth(_) | Amount::Token { .. } => Direction::EthToBtc,
        }
    }
}

/// A P2WSH HTLC (script in `protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BtcHtlc {
    /// `SHA-256(s)`.
    pub hashlock: Hashlock,
    /// Spends with the secret.
    pub claim_pubkey: BtcPubkey,
    /// Spends after `timeout`.
    pub refund_pubkey: BtcPubkey,
    /// Absolute height for `OP_CHECKLOCKTIMEVERIFY`.
    pub timeout: BtcHeight,
    /// Agreed amount of the output.
    pub amount: Sats,
}

/// One swap in the escrow contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthEscrow {
    /// The chain the contract is on; checked against the network.
    pub chain_id: ChainId,
    /// The escrow contract.
    pub contract: EthAddress,
    /// `SHA-256(s)`.
    pub hashlock: Hashlock,
    /// Who locked, and who a refund pays.
    pub sender: EthAddress,
    /// Who a claim pays.
    pub receiver: EthAddress,
    /// Native ETH or an ERC-20 amount.
    pub amount: Amount,
    /// Unix seconds; the contract allows `claim` while `block.timestamp < timeout` and `refund`
    /// once `block.timestamp >= timeout`, so the two windows never overlap.
    pub timeout: UnixTime,
}

/// The parameters of one leg's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockTerms {
    /// A Bitcoin HTLC.
    Btc(BtcHtlc),
    /// An Ethereum escrow.
    Eth(EthEscrow),
}

impl LockTerms {
    /// The chain.
    pub const fn chain(&self) -> Chain {
        match self {
            LockTerms::Btc(_) => Chain::Bitcoin,
            LockTerms::Eth(_) => Chain::Ethereum,
        }
    }

    /// The agreed amount.
    pub const fn amount(&self) -> Amount {
        match self {
            LockTerms::Btc(h) => Amount::Btc(h.amount),
            LockTerms::Eth(e) => e.amount,
        }
    }

    /// The hashlock.
    pub const fn hashlock(&self) -> Hashlock {
        match self {
            LockTerms::Btc(h) => h.hashlock,
            LockTerms::Eth(e) => e.hashlock,
        }
    }

    /// Whether a refund can be mined now. Bitcoin: the next block (tip + 1) is above the CLTV
    /// height, so `tip >= timeout`. Ethereum: the latest block is already at the timeout, so
    /// every later block is too.
    pub fn refund_open(&self, clock: &Clock) -> bool {
        match self {
            LockTerms::Btc(h) => clock.btc_tip >= h.timeout,
            LockTerms::Eth(e) => clock.eth_time >= e.timeout,
        }
    }

    /// Whether a claim could still be mined. A Bitcoin claim path has no timeout, so it can win
    /// until the output is spent; an Ethereum claim only before the timeout.
    pub fn claim_can_win(&self, clock: &Clock) -> bool {
        match self {
            LockTerms::Btc(_) => true,
            LockTerms::Eth(e) => clock.eth_time < e.timeout,
        }
    }
}

/// What matching fixes: the resolver's keys, the contract and both timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchParams {
    /// The resolver's compressed Bitcoin key (claim key in BTC -> ETH, refund key otherwise).
    pub resolver_btc_pubkey: BtcPubkey,
    /// The resolver's Ethereum address (escrow sender in BTC -> ETH, receiver otherwise).
    pub resolver_eth_address: EthAddress,
    /// The escrow contract.
    pub escrow_contract: EthAddress,
    /// The Ethereum chain id.
    pub chain_id: ChainId,
    /// The Bitcoin HTLC's CLTV height (src timeout in BTC -> ETH, dst timeout otherwise).
    pub btc_timeout: BtcHeight,
    /// The escrow's timeout (dst timeout in BTC -> ETH, src timeout otherwise).
    pub eth_timeout: UnixTime,
    /// The finality policy for this swap, fixed here so that replay never depends on config.
    pub finality: FinalityPolicy,
}

/// Everything both chains will enforce for one swap, fixed when a resolver is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Terms {
    /// Where the swap runs.
    pub network: Network,
    /// `SHA-256(s)`, the same on both legs.
    pub hashlock: Hashlock,
    /// The src lock must be first seen before this.
    pub quote_expires: UnixTime,
    /// The maker's lock.
    pub src: LockTerms,
    /// The resolver's lock.
    pub dst: LockTerms,
    /// Finality per amount band for this swap.
    pub finality: FinalityPolicy,
}

impl Terms {
    /// Combine an order and a match into the two locks' parameters. Check the result with
    /// [`crate::validate::check_terms`] before using it.
    pub fn from_match(order: &Order, m: &MatchParams) -> Terms {
        let (src, dst) = match order.direction() {
            Direction::BtcToEth => (
                LockTerms::Btc(BtcHtlc {
                    hashlock: order.hashlock,
                    claim_pubkey: m.resolver_btc_pubkey,
                    refund_pubkey: order.maker_btc_pubkey,
                    timeout: m.btc_timeout,
                    amount: match order.give {
                        Amount::Btc(s) => s,
                        Amount::Eth(_) | Amount::Token { .. } => Sats(0),
                    },
                }),
                LockTerms::Eth(EthEscrow {
                    chain_id: m.chain_id,
                    contract: m.escrow_contract,
                    hashlock: order.hashlock,
                    sender: m.resolver_eth_address,
                    receiver: order.maker_eth_address,
                    amount: order.take,
                    timeout: m.eth_timeout,
                }),
            ),
            Direction::EthToBtc => (
                LockTerms::Eth(EthEscrow {
                    chain_id: m.chain_id,
                    contract: m.escrow_contract,
                    hashlock: order.hashlock,
                    sender: order.maker_eth_address,
                    receiver: m.resolver_eth_address,
                    amount: order.give,
                    timeout: m.eth_timeout,
                }),
                LockTerms::Btc(BtcHtlc {
                    hashlock: order.hashlock,
                    claim_pubkey: order.maker_btc_pubkey,
                    refund_pubkey: m.resolver_btc_pubkey,
                    timeout: m.btc_timeout,
                    amount: match order.take {
                        Amount::Btc(s) => s,
                        Amount::Eth(_) | Amount::Token { .. } => Sats(0),
                    },
                }),
            ),
        };
        Terms {
            network: order.network,
            hashlock: order.hashlock,
            quote_expires: order.quote_expires,
            src,
            dst,
            finality: m.finality,
        }
    }

    /// The direction.
    pub const fn direction(&self) -> Direction {
        match self.src {
            LockTerms::Btc(_) => Direction::BtcToEth,
            LockTerms::Eth(_) => Direction::EthToBtc,
        }
    }
}
