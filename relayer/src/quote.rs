//! Pricing and the timelock windows a quote promises.
//!
//! Owns the v1 price (a configured rate with a spread; resolvers will quote later) and the
//! choice of both windows so that every rule `crosslock-core` checks at matching (2:1, the lock
//! margin, window bounds) holds with an hour to spare. It must never round in the maker's
//! disfavour silently: amounts are integers of base units and the spread is the only discount.

use crosslock_core::chain::Asset;
use crosslock_core::order::Direction;
use crosslock_core::params::NetworkParams;
use crosslock_core::time::{BTC_FAST_BLOCK_SECS, BTC_SLOW_BLOCK_SECS};

use crate::config::QuoteConfig;

/// Slack added to each window beyond what the rules require.
pub const WINDOW_SLACK_SECS: u64 = 3_600;
const SATS_PER_BTC: u128 = 100_000_000;

/// What the maker receives for `src_units` of `src`, in base units of `dst`, or `None` if the
/// pair has no configured rate or the arithmetic overflows.
pub fn price(cfg: &QuoteConfig, src: Asset, dst: Asset, src_units: u128) -> Option<u128> {
    let rate = |a: Asset| -> Option<u128> {
        match a {
            Asset::Eth => cfg.wei_per_btc.parse().ok(),
            Asset::Erc20(t) => cfg
                .token_units_per_btc
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&t.checksummed()))
                .and_then(|(_, v)| v.parse().ok()),
            Asset::Btc => None,
        }
    };
    let gross = match (src, dst) {
        (Asset::Btc, other) => src_units.checked_mul(rate(other)?)? / SATS_PER_BTC,
        (other, Asset::Btc) => {
            let r = rate(other)?;
            if r == 0 {
                return None;
            }
            src_units.checked_mul(SATS_PER_BTC)? / r
        }
        _ => return None,
    };
    gross
        .checked_mul(u128::from(10_000 - cfg.spread_bps.min(9_999)))
        .map(|n| n / 10_000)
}

/// The windows `(src_secs, dst_secs)` for a direction: the dst window from config (default the
/// network minimum plus slack), the src window twice the longest estimate of dst plus the lock
/// margin plus slack.
pub fn windows(p: &NetworkParams, dst_cfg: Option<u64>, dir: Direction) -> (u64, u64) {
    let dst = dst_cfg
        .unwrap_or(p.min_dst_window.0 + WINDOW_SLACK_SECS)
        .max(p.min_dst_window.0 + WINDOW_SLACK_SECS / 2);
    let dst_max = match dir {
        // A Bitcoin dst of `dst` seconds at fast blocks can last this long at slow blocks.
        Direction::EthToBtc => dst.div_ceil(BTC_FAST_BLOCK_SECS) * BTC_SLOW_BLOCK_SECS,
        Direction::BtcToEth => dst,
    };
    let src = 2 * dst_max + p.resolver_lock_margin.0 + WINDOW_SLACK_SECS;
    (src, dst)
}

/// Bitcoin blocks that last at least `secs` even at fast blocks.
pub fn btc_blocks_at_least(secs: u64) -> u32 {
    u32::try_from(secs.div_ceil(BTC_FAST_BLOCK_SECS)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosslock_core::chain::Network;

    #[test]
    fn btc_to_eth_price_applies_the_spread() {
        let cfg = QuoteConfig::default();
        // 0.01 BTC at 20 ETH/BTC = 0.2 ETH, minus 0.5%.
        let got = price(&cfg, Asset::Btc, Asset::Eth, 1_000_000).expect("priced");
        assert_eq!(got, 199_000_000_000_000_000);
        let back = price(&cfg, Asset::Eth, Asset::Btc, 200_000_000_000_000_000).expect("priced");
        assert_eq!(back, 995_000);
    }

    #[test]
    fn windows_keep_the_two_to_one_rule_on_every_network() {
        for n in Network::ALL {
            for dir in [Direction::BtcToEth, Direction::EthToBtc] {
                let p = n.params();
                let (src, dst) = windows(p, None, dir);
                assert!(src >= 2 * dst + p.resolver_lock_margin.0, "{n} {dir:?}");
                assert!(dst >= p.min_dst_window.0);
            }
        }
    }
}
