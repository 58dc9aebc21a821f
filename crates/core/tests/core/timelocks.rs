//! Table tests for every timelock rule at its boundaries: one below, at, and one above.

use crosslock_core::chain::Network;
use crosslock_core::order::{Direction, LockTerms, Terms};
use crosslock_core::params::{MAINNET, NetworkParams, REGTEST};
use crosslock_core::time::{BtcHeight, Clock, Secs, UnixTime};
use crosslock_core::timelock::{
    FeeBand, TimelockError, check_windows, escalation, may_maker_reveal, may_resolver_lock_dst,
    must_alert,
};

use crate::fixture::*;

/// Terms for `dir` with the given timeouts, on `network`.
fn with_timeouts(dir: Direction, network: Network, btc_timeout: u32, eth_timeout: u64) -> Terms {
    let mut t = terms(dir);
    t.network = network;
    for leg in [&mut t.src, &mut t.dst] {
        match leg {
            LockTerms::Btc(h) => h.timeout = BtcHeight(btc_timeout),
            LockTerms::Eth(e) => e.timeout = UnixTime(eth_timeout),
        }
    }
    t
}

fn name(r: &Result<(), TimelockError>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(TimelockError::TwoToOne { .. }) => "2:1",
        Err(TimelockError::MarginTooSmall { .. }) => "margin",
        Err(TimelockError::DstTooSoon { .. }) => "dst-too-soon",
        Err(TimelockError::SrcTooLong { .. }) => "src-too-long",
        Err(TimelockError::TooFewDstBlocks { .. }) => "few-blocks",
    }
}

#[test]
fn refund_opens_exactly_at_the_timeout() {
    let c = clock0();
    // (blocks or seconds relative to the timeout, refund open, claim can still win)
    for (delta, refund, claim_btc, claim_eth) in [
        (-1_i64, false, true, true),
        (0, true, true, false),
        (1, true, true, false),
    ] {
        let t = with_timeouts(
            Direction::BtcToEth,
            Network::Regtest,
            u32::try_from(i64::from(H0) - delta).expect("small"),
            u64::try_from(i64::try_from(T0).expect("small") - delta).expect("small"),
        );
        assert_eq!(t.src.refund_open(&c), refund, "btc delta {delta}");
        assert_eq!(t.dst.refund_open(&c), refund, "eth delta {delta}");
        assert_eq!(
            t.src.claim_can_win(&c),
            claim_btc,
            "btc claim delta {delta}"
        );
        assert_eq!(
            t.dst.claim_can_win(&c),
            claim_eth,
            "eth claim delta {delta}"
        );
    }
}

type Rule = fn(&Terms, &Clock, &NetworkParams) -> Result<(), TimelockError>;

/// Check `rule` at the start clock over rows of (BTC timeout, ETH timeout, expected outcome).
fn table(dir: Direction, net: Network, rule: Rule, rows: &[(u32, u64, &str)]) {
    for &(btc, eth, want) in rows {
        let t = with_timeouts(dir, net, btc, eth);
        let got = name(&rule(&t, &clock0(), net.params()));
        assert_eq!(
            got, want,
            "{dir:?} on {net}: btc timeout {btc}, eth timeout {eth}"
        );
    }
}

#[test]
fn two_to_one_rule_at_its_boundary() {
    // Regtest, BTC -> ETH: dst 9 h; src needs 2 x 9 h = 64,800 s at the fast rate of 540 s per
    // block = exactly 120 blocks. The 1 h margin is slack here, so only 2:1 binds.
    let dst = T0 + 9 * 3_600;
    let rows = [
        (H0 + 119, dst, "2:1"),
        (H0 + 120, dst, "ok"),
        (H0 + 121, dst, "ok"),
    ];
    table(Direction::BtcToEth, Network::Regtest, check_windows, &rows);
}

#[test]
fn dst_window_at_match_at_its_boundary() {
    // Regtest min_dst_window is 9 h; src far enough that nothing else binds.
    let min = T0 + REGTEST.min_dst_window.0;
    let src = H0 + 300;
    let rows = [
        (src, min - 1, "dst-too-soon"),
        (src, min, "ok"),
        (src, min + 1, "ok"),
    ];
    table(Direction::BtcToEth, Network::Regtest, check_windows, &rows);
}

#[test]
fn src_window_maximum_at_its_boundary() {
    // ETH -> BTC: the src escrow timeout is in seconds, so the bound is exact.
    let max = T0 + REGTEST.max_src_window.0;
    let dst = H0 + BTC_DST_BLOCKS;
    let rows = [
        (dst, max - 1, "ok"),
        (dst, max, "ok"),
        (dst, max + 1, "src-too-long"),
    ];
    table(Direction::EthToBtc, Network::Regtest, check_windows, &rows);
}

#[test]
fn resolver_lock_margin_at_its_boundary_on_mainnet() {
    // ETH -> BTC on mainnet: dst 54 blocks (shortest 29,160 s >= the 8 h left-at-lock floor;
    // longest 38,880 s). src must exceed 38,880 + 12 h = 82,080 s: the margin is strict.
    let need = 54 * 720 + MAINNET.resolver_lock_margin.0;
    assert_eq!(need, 82_080);
    let (dst, src) = (H0 + 54, T0 + need);
    let rows = [
        (dst, src - 1, "margin"),
        (dst, src, "margin"),
        (dst, src + 1, "ok"),
    ];
    table(
        Direction::EthToBtc,
        Network::Mainnet,
        may_resolver_lock_dst,
        &rows,
    );
}

#[test]
fn resolver_lock_needs_dst_time_left_at_its_boundary() {
    // BTC -> ETH on mainnet: the dst escrow must have 8 h left; src far away.
    let min = T0 + MAINNET.min_dst_left_at_lock.0;
    let src = H0 + 400;
    let rows = [
        (src, min - 1, "dst-too-soon"),
        (src, min, "ok"),
        (src, min + 1, "ok"),
    ];
    table(
        Direction::BtcToEth,
        Network::Mainnet,
        may_resolver_lock_dst,
        &rows,
    );
}

#[test]
fn resolver_lock_is_judged_at_the_current_clock() {
    // Same terms, later clock: the dst-left floor is eventually hit.
    let t = with_timeouts(
        Direction::BtcToEth,
        Network::Mainnet,
        H0 + 400,
        T0 + 20 * 3_600,
    );
    assert!(may_resolver_lock_dst(&t, &clock0(), &MAINNET).is_ok());
    let late = Clock {
        eth_time: UnixTime(T0 + 12 * 3_600 + 1),
        ..clock0()
    };
    let got = name(&may_resolver_lock_dst(&t, &late, &MAINNET));
    assert_eq!(got, "dst-too-soon");
}

#[test]
fn maker_reveal_needs_20_btc_blocks_on_mainnet() {
    assert_eq!(MAINNET.reveal_min_dst_btc_blocks, 20);
    let src = T0 + 30 * 3_600;
    let rows = [
        (H0 + 19, src, "few-blocks"),
        (H0 + 20, src, "ok"),
        (H0 + 21, src, "ok"),
    ];
    table(
        Direction::EthToBtc,
        Network::Mainnet,
        may_maker_reveal,
        &rows,
    );
}

#[test]
fn maker_reveal_needs_one_hour_on_an_eth_dst_on_mainnet() {
    assert_eq!(MAINNET.reveal_min_dst_secs.0, 3_600);
    let (src, dst) = (H0 + 400, T0 + 3_600);
    let rows = [
        (src, dst - 1, "dst-too-soon"),
        (src, dst, "ok"),
        (src, dst + 1, "ok"),
    ];
    table(
        Direction::BtcToEth,
        Network::Mainnet,
        may_maker_reveal,
        &rows,
    );
}

#[test]
fn maker_reveal_block_floor_on_regtest() {
    // Regtest: 16 blocks and 1 h. 16 blocks at the fast rate is 8,640 s > 3,600 s, so the
    // block floor binds first.
    let src = T0 + 30 * 3_600;
    let rows = [
        (H0 + 15, src, "few-blocks"),
        (H0 + 16, src, "ok"),
        (H0 + 17, src, "ok"),
    ];
    table(
        Direction::EthToBtc,
        Network::Regtest,
        may_maker_reveal,
        &rows,
    );
}

#[test]
fn escalation_bands_at_their_boundaries() {
    // (blocks left, band)
    for (left, band) in [
        (0, FeeBand::Critical),
        (2, FeeBand::Critical),
        (3, FeeBand::Critical),
        (4, FeeBand::Urgent),
        (14, FeeBand::Urgent),
        (15, FeeBand::Urgent),
        (16, FeeBand::Normal),
        (1_000, FeeBand::Normal),
    ] {
        assert_eq!(escalation(left).band, band, "{left} blocks left");
    }
}

#[test]
fn rebumps_follow_the_ldk_schedule() {
    // Count the blocks at which the escalation value changes while the deadline approaches
    // from 60 blocks: every 15 far out, every 3 within 15, every block within 3.
    let mut bumps = Vec::new();
    let mut prev = escalation(60);
    for left in (0..60).rev() {
        let e = escalation(left);
        if e != prev {
            bumps.push(left);
        }
        prev = e;
    }
    assert_eq!(bumps, vec![45, 30, 15, 12, 9, 6, 3, 2, 1, 0]);
}

#[test]
fn alert_fires_in_the_urgent_bands_or_within_an_hour() {
    let far = escalation(100);
    for (secs, want) in [(3_599, true), (3_600, false), (3_601, false)] {
        assert_eq!(must_alert(far, Secs(secs)), want, "{secs} s");
    }
    assert!(must_alert(escalation(15), Secs(100_000)));
    assert!(!must_alert(escalation(16), Secs(100_000)));
}

#[test]
fn quote_expiry_makes_a_lock_late_at_exactly_the_expiry() {
    use crosslock_core::swap::{self, Side};
    let exp = T0 + QUOTE_TTL;
    for (seen_at, late) in [(exp - 1, false), (exp, true), (exp + 1, true)] {
        let (s, _) = matched_swap(Direction::BtcToEth);
        let e = lock_seen(Direction::BtcToEth, Side::Src, 0, btc_amount(), 2, seen_at);
        let t = swap::apply(&s, &e).expect("accepted");
        assert_eq!(t.swap.src[0].late, late, "seen at {seen_at}");
        let locks = t
            .actions
            .iter()
            .any(|a| matches!(a, swap::Action::LockDst { .. }));
        assert_eq!(locks, !late, "seen at {seen_at}");
    }
}
