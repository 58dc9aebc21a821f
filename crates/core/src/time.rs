//! Points and spans in time on both chains, and the one conversion between them.
//!
//! Owns the height and timestamp newtypes, the [`Clock`] a swap is judged against, and
//! [`convert`], the only place that turns Bitcoin blocks into seconds or back. It must never read
//! a system clock: the caller passes the current heights and times in.

use std::fmt;

/// A Bitcoin block height, as used by `OP_CHECKLOCKTIMEVERIFY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BtcHeight(pub u32);

/// Seconds since the Unix epoch: an Ethereum block timestamp or the service's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

/// An Ethereum block number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthBlock(pub u64);

/// A duration in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Secs(pub u64);

impl Secs {
    /// One minute.
    pub const MINUTE: Secs = Secs(60);
    /// One hour.
    pub const HOUR: Secs = Secs(3_600);
    /// One day.
    pub const DAY: Secs = Secs(86_400);

    /// `n` hours.
    pub const fn hours(n: u64) -> Secs {
        Secs(n * 3_600)
    }

    /// `n` minutes.
    pub const fn minutes(n: u64) -> Secs {
        Secs(n * 60)
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl BtcHeight {
    /// Blocks from `self` up to `later`, zero if `later` is not after `self`.
    pub const fn blocks_until(self, later: BtcHeight) -> u32 {
        later.0.saturating_sub(self.0)
    }
}

impl UnixTime {
    /// Seconds from `self` up to `later`, zero if `later` is not after `self`.
    pub const fn secs_until(self, later: UnixTime) -> Secs {
        Secs(later.0.saturating_sub(self.0))
    }

    /// `self + d`, saturating.
    pub const fn plus(self, d: Secs) -> UnixTime {
        UnixTime(self.0.saturating_add(d.0))
    }
}

/// What the caller knows about "now" on both chains. Every time-dependent rule takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Clock {
    /// Height of the best Bitcoin block seen.
    pub btc_tip: BtcHeight,
    /// Timestamp of the latest Ethereum block seen: what the escrow contract compares against.
    pub eth_time: UnixTime,
    /// The service's wall clock: used only for quote expiry, never for a chain timeout.
    pub wall: UnixTime,
}

/// Nominal Bitcoin block interval, the difficulty target.
pub const BTC_TARGET_BLOCK_SECS: u64 = 600;
/// Blocks can run this fast for days while hashrate grows between retargets (two-week averages
/// near 9 minutes are common), so a Bitcoin deadline is assumed to come at least this soon.
pub const BTC_FAST_BLOCK_SECS: u64 = 540;
/// Blocks can run this slow for days after a hashrate drop, so a Bitcoin deadline is assumed to
/// come at most this late; longer stalls are what the safety margins are for.
pub const BTC_SLOW_BLOCK_SECS: u64 = 720;
/// Ethereum slot time; a missed slot only makes blocks later, never earlier.
pub const ETH_SLOT_SECS: u64 = 12;

const _: () = assert!(BTC_FAST_BLOCK_SECS < BTC_TARGET_BLOCK_SECS);
const _: () = assert!(BTC_TARGET_BLOCK_SECS < BTC_SLOW_BLOCK_SECS);

/// Which bound a conversion must return. The caller picks the one that is safe for its use:
///
/// - `Min` when a shorter span is the danger: "how much time is left before the src timeout,
///   after which the maker can refund" (our claim must land before it).
/// - `Max` when a longer span is the danger: "how late can the dst timeout come", which the src
///   timeout must outlast (otherwise the maker could claim dst after our src claim is impossible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bias {
    /// Return a value the real span is very unlikely to be below.
    Min,
    /// Return a value the real span is very unlikely to be above.
    Max,
}

/// A span measured in one of the three units the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    /// A number of Bitcoin blocks.
    BtcBlocks(u32),
    /// A number of Ethereum blocks (slots).
    EthBlocks(u64),
    /// A number of seconds.
    Secs(Secs),
}

/// The unit to convert a [`Span`] into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Bitcoin blocks.
    BtcBlocks,
    /// Ethereum blocks.
    EthBlocks,
    /// Seconds.
    Secs,
}

/// The one conversion between Bitcoin blocks, Ethereum blocks and seconds.
///
/// Blocks to seconds uses [`BTC_FAST_BLOCK_SECS`] for [`Bias::Min`] and [`BTC_SLOW_BLOCK_SECS`] for
/// [`Bias::Max`]; seconds to blocks uses the opposite rate and rounds toward the bound (down for
/// `Min`, up for `Max`). Ethereum uses [`ETH_SLOT_SECS`] both ways with the same rounding. Results
/// saturate instead of overflowing.
pub fn convert(span: Span, to: Unit, bias: Bias) -> Span {
    let secs = match span {
        Span::Secs(s) => s.0,
        Span::BtcBlocks(n) => {
            let per = match bias {
                Bias::Min => BTC_FAST_BLOCK_SECS,
                Bias::Max => BTC_SLOW_BLOCK_SECS,
            };
            u64::from(n).saturating_mul(per)
        }
        Span::EthBlocks(n) => n.saturating_mul(ETH_SLOT_SECS),
    };
    match to {
        Unit::Secs => Span::Secs(Secs(secs)),
        Unit::BtcBlocks => {
            // Fewest blocks in `secs` if they are slow; most if they are fast.
            let blocks = match bias {
                Bias::Min => secs / BTC_SLOW_BLOCK_SECS,
                Bias::Max => secs.div_ceil(BTC_FAST_BLOCK_SECS),
            };
            Span::BtcBlocks(u32::try_from(blocks).unwrap_or(u32::MAX))
        }
        Unit::EthBlocks => Span::EthBlocks(match bias {
            Bias::Min => secs / ETH_SLOT_SECS,
            Bias::Max => secs.div_ceil(ETH_SLOT_SECS),
        }),
    }
}

/// `n` Bitcoin blocks as seconds, through [`convert`].
pub fn btc_blocks_as_secs(n: u32, bias: Bias) -> Secs {
    match convert(Span::BtcBlocks(n), Unit::Secs, bias) {
        Span::Secs(s) => s,
        // `convert` always answers in the unit asked for.
        Span::BtcBlocks(_) | Span::EthBlocks(_) => Secs(0),
    }
}

/// `s` seconds as Bitcoin blocks, through [`convert`].
pub fn secs_as_btc_blocks(s: Secs, bias: Bias) -> u32 {
    match convert(Span::Secs(s), Unit::BtcBlocks, bias) {
        Span::BtcBlocks(n) => n,
        Span::Secs(_) | Span::EthBlocks(_) => 0,
    }
}

/// `s` seconds as Ethereum blocks, through [`convert`].
pub fn secs_as_eth_blocks(s: Secs, bias: Bias) -> u64 {
    match convert(Span::Secs(s), Unit::EthBlocks, bias) {
        Span::EthBlocks(n) => n,
        Span::Secs(_) | Span::BtcBlocks(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_to_secs_uses_the_rate_that_is_safe_for_each_bound() {
        assert_eq!(btc_blocks_as_secs(10, Bias::Min), Secs(5_400));
        assert_eq!(btc_blocks_as_secs(10, Bias::Max), Secs(7_200));
        assert_eq!(btc_blocks_as_secs(0, Bias::Max), Secs(0));
        assert_eq!(
            btc_blocks_as_secs(u32::MAX, Bias::Max).0,
            u64::from(u32::MAX) * 720
        );
    }

    #[test]
    fn secs_to_blocks_rounds_toward_the_bound() {
        // 719 s: not one full slow block, but more than one fast block.
        assert_eq!(secs_as_btc_blocks(Secs(719), Bias::Min), 0);
        assert_eq!(secs_as_btc_blocks(Secs(720), Bias::Min), 1);
        assert_eq!(secs_as_btc_blocks(Secs(721), Bias::Min), 1);
        assert_eq!(secs_as_btc_blocks(Secs(539), Bias::Max), 1);
        assert_eq!(secs_as_btc_blocks(Secs(540), Bias::Max), 1);
        assert_eq!(secs_as_btc_blocks(Secs(541), Bias::Max), 2);
        assert_eq!(secs_as_btc_blocks(Secs(u64::MAX), Bias::Max), u32::MAX);
        assert_eq!(secs_as_eth_blocks(Secs(23), Bias::Min), 1);
        assert_eq!(secs_as_eth_blocks(Secs(24), Bias::Min), 2);
        assert_eq!(secs_as_eth_blocks(Secs(25), Bias::Max), 3);
    }

    #[test]
    fn round_trip_never_crosses_the_bound() {
        for n in [0_u32, 1, 2, 19, 20, 21, 144, 1_000] {
            let lo = btc_blocks_as_secs(n, Bias::Min);
            let hi = btc_blocks_as_secs(n, Bias::Max);
            assert!(lo <= hi);
            assert!(secs_as_btc_blocks(lo, Bias::Max) >= n);
            assert!(secs_as_btc_blocks(hi, Bias::Min) <= n);
        }
    }
}
