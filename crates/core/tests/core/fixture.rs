//! Shared builders: one order and one set of terms per direction on regtest, with timeouts that
//! pass every match-time rule, and short constructors for events.

use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, LockId, Network, TxId};
use crosslock_core::finality::{Depth, EthDepth, FinalityPolicy};
use crosslock_core::order::{Direction, MatchParams, Order, Terms};
use crosslock_core::secret::{Hashlock, Secret, SwapId};
use crosslock_core::swap::{self, Event, PresignedClaim, Side, SpendKind, Swap};
use crosslock_core::time::{BtcHeight, Clock, Secs, UnixTime};

pub(crate) const T0: u64 = 1_700_000_000;
pub(crate) const H0: u32 = 1_000;
pub(crate) const QUOTE_TTL: u64 = 1_200;
/// BTC -> ETH: src BTC HTLC 200 blocks out, dst escrow 12 h out.
pub(crate) const BTC_SRC_BLOCKS: u32 = 200;
pub(crate) const ETH_DST_SECS: u64 = 12 * 3_600;
/// ETH -> BTC: src escrow 40 h out, dst HTLC 80 blocks out.
pub(crate) const ETH_SRC_SECS: u64 = 40 * 3_600;
pub(crate) const BTC_DST_BLOCKS: u32 = 80;

pub(crate) fn secret() -> Secret {
    Secret::new([7; 32])
}

pub(crate) fn wrong_secret() -> Secret {
    Secret::new([8; 32])
}

pub(crate) fn key(b: u8) -> BtcPubkey {
    let mut k = [b; 33];
    k[0] = 0x02;
    BtcPubkey::from_bytes(&k).expect("valid prefix")
}

pub(crate) fn clock0() -> Clock {
    Clock {
        btc_tip: BtcHeight(H0),
        eth_time: UnixTime(T0),
        wall: UnixTime(T0),
    }
}

pub(crate) fn btc_amount() -> Amount {
    Amount::Btc(Sats(1_000_000))
}

pub(crate) fn eth_amount() -> Amount {
    Amount::Eth(Wei(Wei::ONE_ETH.0))
}

pub(crate) fn order(dir: Direction) -> Order {
    let (give, take) = match dir {
        Direction::BtcToEth => (btc_amount(), eth_amount()),
        Direction::EthToBtc => (eth_amount(), btc_amount()),
    };
    Order {
        network: Network::Regtest,
        hashlock: Hashlock::from_secret(&secret()),
        give,
        take,
        maker_btc_pubkey: key(1),
        maker_eth_address: EthAddress([0x11; 20]),
        quote_expires: UnixTime(T0 + QUOTE_TTL),
    }
}

pub(crate) fn match_params(dir: Direction) -> MatchParams {
    let (btc_timeout, eth_timeout) = match dir {
        Direction::BtcToEth => (H0 + BTC_SRC_BLOCKS, T0 + ETH_DST_SECS),
        Direction::EthToBtc => (H0 + BTC_DST_BLOCKS, T0 + ETH_SRC_SECS),
    };
    MatchParams {
        resolver_btc_pubkey: key(2),
        resolver_eth_address: EthAddress([0x22; 20]),
        escrow_contract: EthAddress([0x33; 20]),
        chain_id: ChainId(31_337),
        btc_timeout: BtcHeight(btc_timeout),
        eth_timeout: UnixTime(eth_timeout),
        finality: FinalityPolicy::DEFAULT,
    }
}

pub(crate) fn terms(dir: Direction) -> Terms {
    Terms::from_match(&order(dir), &match_params(dir))
}

pub(crate) fn swap_id() -> SwapId {
    SwapId([5; 16])
}

pub(crate) fn created(dir: Direction) -> Event {
    Event::Created {
        id: swap_id(),
        order: order(dir),
        at: clock0(),
    }
}

pub(crate) fn matched(dir: Direction) -> Event {
    Event::Matched {
        terms: terms(dir),
        at: clock0(),
    }
}

/// A swap that is created and matched, with its log.
pub(crate) fn matched_swap(dir: Direction) -> (Swap, Vec<Event>) {
    let log = vec![created(dir), matched(dir)];
    let s = swap::fold(&log).expect("fixture log is valid");
    (s, log)
}

/// The chain a side is on for a direction.
pub(crate) fn side_is_btc(dir: Direction, side: Side) -> bool {
    matches!(
        (dir, side),
        (Direction::BtcToEth, Side::Src) | (Direction::EthToBtc, Side::Dst)
    )
}

pub(crate) fn lock_id(dir: Direction, side: Side, n: u8) -> LockId {
    let tag = if side == Side::Src { 0xa0 } else { 0xb0 } + n;
    if side_is_btc(dir, side) {
        LockId::BtcOutpoint {
            txid: TxId([tag; 32]),
            vout: 0,
        }
    } else {
        LockId::EthEscrow { id: [tag; 32] }
    }
}

pub(crate) fn agreed(dir: Direction, side: Side) -> Amount {
    if side_is_btc(dir, side) {
        btc_amount()
    } else {
        eth_amount()
    }
}

/// A depth on the side's chain: `level` 0 = mempool, 1 = one block, 2 = final for the fixture's
/// amounts, 3 = settled.
pub(crate) fn depth(dir: Direction, side: Side, level: u8) -> Depth {
    if side_is_btc(dir, side) {
        Depth::Btc(match level {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 6,
        })
    } else {
        Depth::Eth(match level {
            0 => EthDepth::Pending,
            1 => EthDepth::Included,
            2 => EthDepth::Safe,
            _ => EthDepth::Finalized,
        })
    }
}

pub(crate) fn lock_seen(
    dir: Direction,
    side: Side,
    n: u8,
    amount: Amount,
    level: u8,
    seen_at: u64,
) -> Event {
    Event::LockSeen {
        side,
        lock: lock_id(dir, side, n),
        amount,
        depth: depth(dir, side, level),
        seen_at: UnixTime(seen_at),
    }
}

pub(crate) fn spend_seen(
    dir: Direction,
    side: Side,
    n: u8,
    tx: u8,
    claim: bool,
    level: u8,
) -> Event {
    Event::SpendSeen {
        side,
        lock: lock_id(dir, side, n),
        tx: TxId([tx; 32]),
        kind: if claim {
            SpendKind::Claim { secret: secret() }
        } else {
            SpendKind::Refund
        },
        depth: depth(dir, side, level),
    }
}

pub(crate) fn reveal(dir: Direction) -> Event {
    Event::SecretRevealed {
        secret: secret(),
        maker_claim: match dir {
            Direction::BtcToEth => None,
            Direction::EthToBtc => Some(PresignedClaim {
                fee_ladder: vec![vec![1, 2, 3]],
            }),
        },
    }
}

pub(crate) fn tick(c: Clock) -> Event {
    Event::Tick { clock: c }
}

/// `c` moved on by `blocks` Bitcoin blocks of `secs_per_block` each.
pub(crate) fn later(c: Clock, blocks: u32, secs_per_block: u64) -> Clock {
    let d = u64::from(blocks) * secs_per_block;
    Clock {
        btc_tip: BtcHeight(c.btc_tip.0 + blocks),
        eth_time: c.eth_time.plus(Secs(d)),
        wall: c.wall.plus(Secs(d)),
    }
}
