//! Fixtures for the unit tests: a matched swap in either direction on regtest, with keys and
//! addresses that are easy to tell apart (we are key 2 / address 2, the escrow is address 9).

use crosslock_core::amount::Amount;
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, Network};
use crosslock_core::finality::FinalityPolicy;
use crosslock_core::order::{Direction, MatchParams, Order, Terms};
use crosslock_core::secret::SwapId;
use crosslock_core::swap::{Event, Swap, apply, create};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};

pub(crate) const NOW: u64 = 1_800_000_000;

pub(crate) fn pk(b: u8) -> BtcPubkey {
    let mut k = [b; 33];
    k[0] = 2;
    BtcPubkey::from_bytes(&k).expect("prefix")
}

pub(crate) fn addr(b: u8) -> EthAddress {
    EthAddress([b; 20])
}

pub(crate) fn clock() -> Clock {
    Clock {
        btc_tip: BtcHeight(1_000),
        eth_time: UnixTime(NOW),
        wall: UnixTime(NOW),
    }
}

pub(crate) fn order(dir: Direction, give: u128, take: u128) -> Order {
    let (give, take) = match dir {
        Direction::BtcToEth => (
            Amount::Btc(crosslock_core::amount::Sats(
                u64::try_from(give).expect("fits"),
            )),
            Amount::Eth(crosslock_core::amount::Wei(take)),
        ),
        Direction::EthToBtc => (
            Amount::Eth(crosslock_core::amount::Wei(give)),
            Amount::Btc(crosslock_core::amount::Sats(
                u64::try_from(take).expect("fits"),
            )),
        ),
    };
    Order {
        network: Network::Regtest,
        hashlock: crosslock_core::secret::Secret::new([0; 32]).hashlock(),
        give,
        take,
        maker_btc_pubkey: pk(1),
        maker_eth_address: addr(1),
        quote_expires: UnixTime(NOW + 600),
    }
}

/// A matched swap: we are key 2 / address 2, the escrow is address 9.
pub(crate) fn swap(dir: Direction) -> Swap {
    let o = order(dir, 1_000_000, 1_000_000_000);
    let (btc_timeout, eth_timeout) = match dir {
        // src BTC 200 blocks (>= 30 h), dst ETH 10 h.
        Direction::BtcToEth => (BtcHeight(1_200), UnixTime(NOW + 10 * 3600)),
        // src ETH 40 h, dst BTC 80 blocks (<= 16 h).
        Direction::EthToBtc => (BtcHeight(1_080), UnixTime(NOW + 40 * 3600)),
    };
    let m = MatchParams {
        resolver_btc_pubkey: pk(2),
        resolver_eth_address: addr(2),
        escrow_contract: addr(9),
        chain_id: ChainId(31_337),
        btc_timeout,
        eth_timeout,
        finality: FinalityPolicy::DEFAULT,
    };
    let terms = Terms::from_match(&o, &m);
    let s = create(&Event::Created {
        id: SwapId([1; 16]),
        order: o,
        at: clock(),
    })
    .expect("created");
    apply(&s, &Event::Matched { terms, at: clock() })
        .expect("terms valid")
        .swap
}

/// The events that built [`swap`].
pub(crate) fn events(dir: Direction) -> Vec<Event> {
    let s = swap(dir);
    vec![
        Event::Created {
            id: s.id,
            order: s.order.clone(),
            at: clock(),
        },
        Event::Matched {
            terms: s.terms.expect("matched"),
            at: clock(),
        },
    ]
}
