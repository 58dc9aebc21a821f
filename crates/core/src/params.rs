//! Protocol safety parameters per network, as code.
//!
//! Owns every margin the timelock rules use. These are not configuration: a deployment picks a
//! [`Network`] and gets its row. Related margins are checked against each other at compile time.
//! Nothing here may be read from a file or the environment.

use crate::amount::{Sats, Wei};
use crate::chain::{ChainId, Network};
use crate::finality::{FinalityPolicy, SETTLED_BTC_CONFS};
use crate::time::{BTC_SLOW_BLOCK_SECS, Secs};

/// The safety parameters of one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkParams {
    /// Which network.
    pub network: Network,
    /// The Ethereum chain id swaps on this network must use.
    pub eth_chain_id: ChainId,
    /// The resolver locks dst only if the src timeout is at least this much later than the dst
    /// timeout (both estimated conservatively).
    pub resolver_lock_margin: Secs,
    /// A BTC dst must have at least this many blocks left when the maker reveals.
    pub reveal_min_dst_btc_blocks: u32,
    /// Any dst must have at least this much time left when the maker reveals.
    pub reveal_min_dst_secs: Secs,
    /// At match time the dst timeout must be at least this far away.
    pub min_dst_window: Secs,
    /// When the resolver locks, the dst timeout must still be this far away, so that both
    /// locks can reach finality and the maker can reveal with the reveal margin left.
    pub min_dst_left_at_lock: Secs,
    /// At match time the src timeout must be at most this far away: a maker's funds are never
    /// locked longer.
    pub max_src_window: Secs,
    /// A quote is valid for at most this long.
    pub max_quote_ttl: Secs,
    /// Largest BTC amount per swap (the resolver's hot-wallet exposure).
    pub max_btc: Sats,
    /// Largest native-ETH amount per swap.
    pub max_eth: Wei,
    /// Default finality bands.
    pub finality: FinalityPolicy,
}

/// Mainnet src must outlast dst by half a day: a night without an operator, a fee spike and a
/// finality stall must all fit between the maker's last chance to claim dst and our src claim.
pub const MAINNET_RESOLVER_LOCK_MARGIN: Secs = Secs::hours(12);
/// Lightning Loop refuses to reveal within 20 blocks of expiry: the claim then has time for a
/// full fee-escalation ladder before the refund path opens.
pub const MAINNET_REVEAL_MIN_DST_BTC_BLOCKS: u32 = 20;
/// An Ethereum claim needs far less than an hour; the hour covers an RPC outage.
pub const MAINNET_REVEAL_MIN_DST_SECS: Secs = Secs::HOUR;
/// Bumps are re-done every this many blocks while the deadline is far (LDK).
pub const BUMP_EVERY_BLOCKS: u32 = 15;
/// Within this many blocks of the deadline, bumps come every [`BUMP_FAST_EVERY_BLOCKS`] (LDK).
pub const BUMP_FAST_WITHIN_BLOCKS: u32 = 15;
/// Re-bump interval near the deadline.
pub const BUMP_FAST_EVERY_BLOCKS: u32 = 3;
/// Within this many blocks of the deadline, every block re-bumps (LDK).
pub const BUMP_EVERY_BLOCK_WITHIN: u32 = 3;
/// An unconfirmed claim this close to its deadline raises an alert even on Ethereum, whose
/// block-based bands are only minutes long.
pub const CLAIM_ALERT_WITHIN: Secs = Secs::HOUR;

/// The mainnet row.
pub const MAINNET: NetworkParams = NetworkParams {
    network: Network::Mainnet,
    eth_chain_id: ChainId(1),
    resolver_lock_margin: MAINNET_RESOLVER_LOCK_MARGIN,
    reveal_min_dst_btc_blocks: MAINNET_REVEAL_MIN_DST_BTC_BLOCKS,
    reveal_min_dst_secs: MAINNET_REVEAL_MIN_DST_SECS,
    min_dst_window: Secs::hours(10),
    min_dst_left_at_lock: Secs::hours(8),
    max_src_window: Secs(7 * Secs::DAY.0),
    max_quote_ttl: Secs::minutes(30),
    max_btc: Sats(5 * Sats::ONE_BTC.0),
    max_eth: Wei(150 * Wei::ONE_ETH.0),
    finality: FinalityPolicy::DEFAULT,
};

/// Testnet: same shape, shorter margins so a swap finishes in an afternoon.
pub const TESTNET: NetworkParams = NetworkParams {
    network: Network::Testnet,
    eth_chain_id: ChainId(11_155_111),
    resolver_lock_margin: Secs::hours(4),
    ..MAINNET
};

/// Signet: as testnet (Sepolia on the Ethereum side).
pub const SIGNET: NetworkParams = NetworkParams {
    network: Network::Signet,
    ..TESTNET
};

/// Regtest with anvil: blocks are mined on demand, so margins are short but keep every
/// relation the compile-time checks require.
pub const REGTEST: NetworkParams = NetworkParams {
    network: Network::Regtest,
    eth_chain_id: ChainId(31_337),
    resolver_lock_margin: Secs::HOUR,
    reveal_min_dst_btc_blocks: 16,
    reveal_min_dst_secs: Secs::HOUR,
    min_dst_window: Secs::hours(9),
    min_dst_left_at_lock: Secs::hours(7),
    max_src_window: Secs(7 * Secs::DAY.0),
    max_quote_ttl: Secs::minutes(30),
    max_btc: Sats(50 * Sats::ONE_BTC.0),
    max_eth: Wei(1_000 * Wei::ONE_ETH.0),
    finality: FinalityPolicy::DEFAULT,
};

impl Network {
    /// This network's safety parameters.
    pub const fn params(self) -> &'static NetworkParams {
        match self {
            Network::Mainnet => &MAINNET,
            Network::Testnet => &TESTNET,
            Network::Signet => &SIGNET,
            Network::Regtest => &REGTEST,
        }
    }
}

/// The relations every row must satisfy, checked at compile time.
// `u64::from` is not const; these widenings are lossless.
#[allow(clippy::cast_lossless)]
const fn row_is_consistent(p: &NetworkParams) -> bool {
    // The reveal cut-off starts the claim before the every-3-blocks band, so a full ladder fits.
    p.reveal_min_dst_btc_blocks > BUMP_FAST_WITHIN_BLOCKS
        // After the resolver locks, the src lock's finality (6 slow blocks at most), the dst
        // lock's, the maker's reveal and the reveal margin must all fit before the dst timeout.
        && p.min_dst_left_at_lock.0
            > p.reveal_min_dst_secs.0
                + (p.reveal_min_dst_btc_blocks as u64) * BTC_SLOW_BLOCK_SECS
                + 2 * (SETTLED_BTC_CONFS as u64) * BTC_SLOW_BLOCK_SECS
        // At match time the quote may still run and the src lock needs finality before the
        // resolver can lock with `min_dst_left_at_lock` to spare.
        && p.min_dst_window.0
            >= p.min_dst_left_at_lock.0
                + p.max_quote_ttl.0
                + (SETTLED_BTC_CONFS as u64) * BTC_SLOW_BLOCK_SECS
        && p.max_src_window.0 > 2 * p.min_dst_window.0 + p.resolver_lock_margin.0
        && p.resolver_lock_margin.0 > 0
}

const _: () = assert!(MAINNET_RESOLVER_LOCK_MARGIN.0 >= 12 * 3_600);
const _: () = assert!(MAINNET_REVEAL_MIN_DST_BTC_BLOCKS >= 20);
const _: () = assert!(MAINNET_REVEAL_MIN_DST_SECS.0 >= 3_600);
const _: () = assert!(BUMP_EVERY_BLOCK_WITHIN < BUMP_FAST_WITHIN_BLOCKS);
const _: () = assert!(BUMP_FAST_EVERY_BLOCKS <= BUMP_FAST_WITHIN_BLOCKS);
const _: () = assert!(BUMP_FAST_EVERY_BLOCKS < BUMP_EVERY_BLOCKS);
const _: () = assert!(row_is_consistent(&MAINNET));
const _: () = assert!(row_is_consistent(&TESTNET));
const _: () = assert!(row_is_consistent(&SIGNET));
const _: () = assert!(row_is_consistent(&REGTEST));
