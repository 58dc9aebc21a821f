//! Translates the escrow watcher's [`WatchEvent`]s into the swap core's state-machine inputs.
//!
//! Owns only the mapping: an escrow id to a lock id, `Seen` to `included`, `Confirmed` to the
//! finality the watcher was configured with, `Removed` to the core's `*Unconfirmed` events. It
//! must never decide anything about a swap: which leg the escrow is and when it was first seen
//! are the caller's facts, passed in.

use crosslock_core::amount::Amount;
use crosslock_core::chain::{LockId, TxId};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::swap::{Event, Side, SpendKind};
use crosslock_core::time::UnixTime;

use crate::convert::{core_address, core_secret, core_token_units, core_wei};
use crate::events::{EscrowEvent, EscrowLog};
use crate::watcher::WatchEvent;

/// The lock id of an escrow swap id.
pub fn lock_id(id: alloy::primitives::B256) -> LockId {
    LockId::EthEscrow { id: id.0 }
}

/// What a `Locked` log holds, in the core's units; `None` above what the core can count.
pub fn locked_amount(log: &EscrowLog) -> Option<Amount> {
    let EscrowEvent::Locked { params, .. } = &log.event else {
        return None;
    };
    Some(match params.token {
        None => Amount::Eth(core_wei(params.amount)?),
        Some(token) => Amount::Token {
            token: core_address(token),
            units: core_token_units(params.amount)?,
        },
    })
}

/// The core event for `ev` on the leg `side`. `confirmed` is the depth the watcher's
/// `Confirmed` stands for (its finality setting). `None` for a `Locked` log whose amount the core
/// cannot hold (no swap can have it).
pub fn to_core_event(
    ev: &WatchEvent,
    side: Side,
    confirmed: EthDepth,
    seen_at: UnixTime,
) -> Option<Event> {
    let (log, depth) = match ev {
        WatchEvent::Seen(l) => (l, Some(EthDepth::Included)),
        WatchEvent::Confirmed(l) => (l, Some(confirmed)),
        WatchEvent::Removed(l) => (l, None),
    };
    let lock = lock_id(log.event.id());
    let tx = TxId(log.tx_hash.0);
    Some(match (&log.event, depth) {
        (EscrowEvent::Locked { .. }, Some(d)) => Event::LockSeen {
            side,
            lock,
            amount: locked_amount(log)?,
            depth: Depth::Eth(d),
            seen_at,
        },
        (EscrowEvent::Locked { .. }, None) => Event::LockUnconfirmed {
            side,
            lock,
            depth: None,
        },
        (EscrowEvent::Claimed { preimage, .. }, Some(d)) => Event::SpendSeen {
            side,
            lock,
            tx,
            kind: SpendKind::Claim {
                secret: core_secret(preimage),
            },
            depth: Depth::Eth(d),
        },
        (EscrowEvent::Refunded { .. }, Some(d)) => Event::SpendSeen {
            side,
            lock,
            tx,
            kind: SpendKind::Refund,
            depth: Depth::Eth(d),
        },
        (EscrowEvent::Claimed { .. } | EscrowEvent::Refunded { .. }, None) => {
            Event::SpendUnconfirmed {
                side,
                lock,
                tx,
                depth: None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swap::SwapParams;
    use alloy::primitives::{Address, B256, U256};

    fn log(event: EscrowEvent) -> EscrowLog {
        EscrowLog {
            event,
            block_number: 7,
            block_hash: B256::repeat_byte(1),
            tx_hash: B256::repeat_byte(2),
            log_index: 0,
        }
    }

    fn locked(amount: U256) -> EscrowLog {
        log(EscrowEvent::Locked {
            id: B256::repeat_byte(3),
            params: SwapParams {
                hashlock: B256::repeat_byte(4),
                sender: Address::repeat_byte(5),
                receiver: Address::repeat_byte(6),
                token: None,
                amount,
                timeout: 100,
            },
        })
    }

    #[test]
    fn each_watch_event_maps_to_the_matching_core_event_on_the_given_leg() {
        let seen = to_core_event(
            &WatchEvent::Seen(locked(U256::from(9u8))),
            Side::Dst,
            EthDepth::Finalized,
            UnixTime(5),
        );
        assert!(matches!(
            seen,
            Some(Event::LockSeen { side: Side::Dst, depth: Depth::Eth(EthDepth::Included), amount: Amount::Eth(w), .. }) if w.0 == 9
        ));
        let confirmed = to_core_event(
            &WatchEvent::Confirmed(locked(U256::from(9u8))),
            Side::Src,
            EthDepth::Safe,
            UnixTime(5),
        );
        assert!(matches!(
            confirmed,
            Some(Event::LockSeen {
                side: Side::Src,
                depth: Depth::Eth(EthDepth::Safe),
                ..
            })
        ));
        let gone = to_core_event(
            &WatchEvent::Removed(locked(U256::from(9u8))),
            Side::Src,
            EthDepth::Safe,
            UnixTime(5),
        );
        assert!(matches!(
            gone,
            Some(Event::LockUnconfirmed { depth: None, .. })
        ));
        let claimed = log(EscrowEvent::Claimed {
            id: B256::repeat_byte(3),
            preimage: B256::repeat_byte(8),
        });
        assert!(matches!(
            to_core_event(&WatchEvent::Seen(claimed.clone()), Side::Dst, EthDepth::Finalized, UnixTime(5)),
            Some(Event::SpendSeen { kind: SpendKind::Claim { secret }, .. }) if secret.expose() == &[8; 32]
        ));
        assert!(matches!(
            to_core_event(
                &WatchEvent::Removed(claimed),
                Side::Dst,
                EthDepth::Finalized,
                UnixTime(5)
            ),
            Some(Event::SpendUnconfirmed { depth: None, .. })
        ));
        assert_eq!(
            to_core_event(
                &WatchEvent::Seen(locked(U256::MAX)),
                Side::Src,
                EthDepth::Finalized,
                UnixTime(5)
            ),
            None
        );
    }
}
