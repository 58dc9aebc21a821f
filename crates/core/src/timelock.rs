//! Timelock policy as pure functions: the 2:1 rule, the safety margins, "may the resolver lock
//! dst now", "may the maker reveal now", and the claim fee-escalation schedule.
//!
//! Owns every comparison between a timeout and a [`Clock`]. All Bitcoin block <-> seconds
//! estimates go through [`crate::time::convert`] with the bias that is safe for the use. It must
//! never look at lock depth or amounts: finality and amounts have their own modules.

use thiserror::Error;

use crate::chain::Chain;
use crate::order::{LockTerms, Terms};
use crate::params::{
    BUMP_EVERY_BLOCK_WITHIN, BUMP_EVERY_BLOCKS, BUMP_FAST_EVERY_BLOCKS, BUMP_FAST_WITHIN_BLOCKS,
    CLAIM_ALERT_WITHIN, NetworkParams,
};
use crate::time::{Bias, Clock, Secs, btc_blocks_as_secs, secs_as_btc_blocks, secs_as_eth_blocks};

/// Time left before `lock`'s refund path opens. For a Bitcoin lock the block count is turned
/// into seconds with `bias`; an Ethereum timeout is already in seconds.
pub fn time_left(lock: &LockTerms, clock: &Clock, bias: Bias) -> Secs {
    match lock {
        LockTerms::Btc(h) => btc_blocks_as_secs(clock.btc_tip.blocks_until(h.timeout), bias),
        LockTerms::Eth(e) => clock.eth_time.secs_until(e.timeout),
    }
}

/// Blocks of `chain` that will (at least) be mined before `deadline`'s refund path opens. Used
/// for the fee-escalation schedule of a transaction on `chain` racing that deadline.
pub fn blocks_left(chain: Chain, deadline: &LockTerms, clock: &Clock) -> u32 {
    match (chain, deadline) {
        (Chain::Bitcoin, LockTerms::Btc(h)) => clock.btc_tip.blocks_until(h.timeout),
        (Chain::Bitcoin, LockTerms::Eth(_)) => {
            secs_as_btc_blocks(time_left(deadline, clock, Bias::Min), Bias::Min)
        }
        (Chain::Ethereum, _) => {
            let n = secs_as_eth_blocks(time_left(deadline, clock, Bias::Min), Bias::Min);
            u32::try_from(n).unwrap_or(u32::MAX)
        }
    }
}

/// Why a pair of timeouts, or an action now, is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum TimelockError {
    /// The src timeout does not leave twice the dst window (the 2:1 rule).
    #[error("src window {src} is less than twice the dst window {dst}")]
    TwoToOne {
        /// Conservative (shortest) estimate of the src window.
        src: Secs,
        /// Conservative (longest) estimate of the dst window.
        dst: Secs,
    },
    /// The src timeout is not later than the dst timeout by the network's margin.
    #[error("src time left {src} does not exceed dst time left {dst} plus margin {margin}")]
    MarginTooSmall {
        /// Shortest estimate of the src time left.
        src: Secs,
        /// Longest estimate of the dst time left.
        dst: Secs,
        /// Required margin.
        margin: Secs,
    },
    /// The dst timeout is too close for both locks to finalise and the maker to reveal.
    #[error("dst time left {left} is below the required {min}")]
    DstTooSoon {
        /// Shortest estimate of the dst time left.
        left: Secs,
        /// Required.
        min: Secs,
    },
    /// The src timeout is further away than a maker's funds may be locked.
    #[error("src window {window} exceeds the maximum {max}")]
    SrcTooLong {
        /// Longest estimate of the src window.
        window: Secs,
        /// Allowed.
        max: Secs,
    },
    /// Fewer Bitcoin blocks are left on dst than the reveal needs.
    #[error("{left} blocks left on the bitcoin dst lock, {min} needed to reveal")]
    TooFewDstBlocks {
        /// Blocks left.
        left: u32,
        /// Required.
        min: u32,
    },
}

/// The checks made when a resolver is matched: the 2:1 rule, the lock margin, and window bounds.
pub fn check_windows(terms: &Terms, clock: &Clock, p: &NetworkParams) -> Result<(), TimelockError> {
    let src_min = time_left(&terms.src, clock, Bias::Min);
    let src_max = time_left(&terms.src, clock, Bias::Max);
    let dst_min = time_left(&terms.dst, clock, Bias::Min);
    let dst_max = time_left(&terms.dst, clock, Bias::Max);
    if dst_min < p.min_dst_window {
        return Err(TimelockError::DstTooSoon {
            left: dst_min,
            min: p.min_dst_window,
        });
    }
    if src_max > p.max_src_window {
        return Err(TimelockError::SrcTooLong {
            window: src_max,
            max: p.max_src_window,
        });
    }
    if src_min.0 < dst_max.0.saturating_mul(2) {
        return Err(TimelockError::TwoToOne {
            src: src_min,
            dst: dst_max,
        });
    }
    check_margin(terms, clock, p)
}

fn check_margin(terms: &Terms, clock: &Clock, p: &NetworkParams) -> Result<(), TimelockError> {
    let src = time_left(&terms.src, clock, Bias::Min);
    let dst = time_left(&terms.dst, clock, Bias::Max);
    if src.0 <= dst.0.saturating_add(p.resolver_lock_margin.0) {
        return Err(TimelockError::MarginTooSmall {
            src,
            dst,
            margin: p.resolver_lock_margin,
        });
    }
    Ok(())
}

/// May the resolver lock dst now? The caller must also know the src lock is final and correct
/// (the state machine checks that); this checks time only: src must outlast dst by the margin,
/// and dst must leave room for both locks to finalise and the maker to reveal.
pub fn may_resolver_lock_dst(
    terms: &Terms,
    clock: &Clock,
    p: &NetworkParams,
) -> Result<(), TimelockError> {
    let dst_min = time_left(&terms.dst, clock, Bias::Min);
    if dst_min < p.min_dst_left_at_lock {
        return Err(TimelockError::DstTooSoon {
            left: dst_min,
            min: p.min_dst_left_at_lock,
        });
    }
    check_margin(terms, clock, p)
}

/// May the maker reveal `s` now? Both locks must be final (the state machine checks that); this
/// checks that the dst claim has time to confirm: enough blocks on a Bitcoin dst and enough
/// seconds on either.
pub fn may_maker_reveal(
    terms: &Terms,
    clock: &Clock,
    p: &NetworkParams,
) -> Result<(), TimelockError> {
    if let LockTerms::Btc(h) = &terms.dst {
        let left = clock.btc_tip.blocks_until(h.timeout);
        if left < p.reveal_min_dst_btc_blocks {
            return Err(TimelockError::TooFewDstBlocks {
                left,
                min: p.reveal_min_dst_btc_blocks,
            });
        }
    }
    let left = time_left(&terms.dst, clock, Bias::Min);
    if left < p.reveal_min_dst_secs {
        return Err(TimelockError::DstTooSoon {
            left,
            min: p.reveal_min_dst_secs,
        });
    }
    Ok(())
}

/// How hard to push a pending claim or refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FeeBand {
    /// More than [`BUMP_FAST_WITHIN_BLOCKS`] left: re-bump every [`BUMP_EVERY_BLOCKS`].
    Normal,
    /// Within [`BUMP_FAST_WITHIN_BLOCKS`]: re-bump every [`BUMP_FAST_EVERY_BLOCKS`]; alert.
    Urgent,
    /// Within [`BUMP_EVERY_BLOCK_WITHIN`]: re-bump every block, up to the fee cap; alert.
    Critical,
}

/// Where a pending spend is on the escalation schedule. Two values differ exactly when a
/// re-bump is due, so an executor re-bumps whenever it receives a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Escalation {
    /// The band.
    pub band: FeeBand,
    /// Changes once per re-bump interval of the band.
    pub checkpoint: u32,
}

/// The LDK schedule: re-bump every 15 blocks, every 3 within 15 of the deadline, every block
/// within 3. `blocks_left` is on the chain of the pending transaction ([`blocks_left`]).
pub const fn escalation(blocks_left: u32) -> Escalation {
    if blocks_left <= BUMP_EVERY_BLOCK_WITHIN {
        Escalation {
            band: FeeBand::Critical,
            checkpoint: blocks_left,
        }
    } else if blocks_left <= BUMP_FAST_WITHIN_BLOCKS {
        Escalation {
            band: FeeBand::Urgent,
            checkpoint: blocks_left.div_ceil(BUMP_FAST_EVERY_BLOCKS),
        }
    } else {
        Escalation {
            band: FeeBand::Normal,
            checkpoint: blocks_left.div_ceil(BUMP_EVERY_BLOCKS),
        }
    }
}

/// Must an alert fire for a pending claim with this much left? Yes in the urgent bands, and
/// whenever less than [`CLAIM_ALERT_WITHIN`] is left.
pub fn must_alert(esc: Escalation, time_left: Secs) -> bool {
    esc.band != FeeBand::Normal || time_left < CLAIM_ALERT_WITHIN
}
