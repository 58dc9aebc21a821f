//! Translates the watcher's [`ChainEvent`]s into the swap core's state-machine inputs.
//!
//! Owns only the mapping (outpoint to lock id, confirmations to depth, "moved back" to the
//! core's `*Unconfirmed` events). It must never decide anything about a swap: which side a lock
//! is and when it was first seen are the caller's facts, passed in.

use crosslock_core::amount::Amount;
use crosslock_core::finality::Depth;
use crosslock_core::swap::{Event, Side, SpendKind as CoreSpendKind};
use crosslock_core::time::UnixTime;

use crate::types::{lock_id, tx_id};
use crate::watcher::{ChainEvent, SpendKind};

/// The core event for `ev` on the leg `side`, or `None` for what the core does not take from a
/// watcher (the tip: the caller folds it into its `Clock`; an unreadable spend: an alert).
pub fn to_core_event<K>(ev: &ChainEvent<K>, side: Side, seen_at: UnixTime) -> Option<Event> {
    Some(match ev {
        ChainEvent::Tip { .. } => return None,
        ChainEvent::Funding {
            outpoint,
            amount,
            confirmations,
            shallower: false,
            ..
        } => Event::LockSeen {
            side,
            lock: lock_id(*outpoint),
            amount: Amount::Btc(*amount),
            depth: Depth::Btc(*confirmations),
            seen_at,
        },
        ChainEvent::Funding {
            outpoint,
            confirmations,
            shallower: true,
            ..
        } => Event::LockUnconfirmed {
            side,
            lock: lock_id(*outpoint),
            depth: Some(Depth::Btc(*confirmations)),
        },
        ChainEvent::FundingGone { outpoint, .. } => Event::LockUnconfirmed {
            side,
            lock: lock_id(*outpoint),
            depth: None,
        },
        ChainEvent::Spent {
            outpoint,
            txid,
            kind,
            confirmations,
            shallower,
            ..
        } => {
            if *shallower {
                Event::SpendUnconfirmed {
                    side,
                    lock: lock_id(*outpoint),
                    tx: tx_id(*txid),
                    depth: Some(Depth::Btc(*confirmations)),
                }
            } else {
                Event::SpendSeen {
                    side,
                    lock: lock_id(*outpoint),
                    tx: tx_id(*txid),
                    kind: match kind {
                        SpendKind::Claim(secret) => CoreSpendKind::Claim {
                            secret: secret.clone(),
                        },
                        SpendKind::Refund => CoreSpendKind::Refund,
                        SpendKind::Unreadable(_) => return None,
                    },
                    depth: Depth::Btc(*confirmations),
                }
            }
        }
        ChainEvent::SpendGone { outpoint, txid, .. } => Event::SpendUnconfirmed {
            side,
            lock: lock_id(*outpoint),
            tx: tx_id(*txid),
            depth: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SpendReadError;
    use crate::types::{Sats, Secret};
    use crate::watcher::TxStatus;
    use bitcoin::hashes::Hash;
    use bitcoin::{OutPoint, Txid};

    #[test]
    fn every_watcher_event_maps_to_the_core_input_it_means() {
        let op = OutPoint::new(Txid::from_byte_array([1; 32]), 0);
        let txid = Txid::from_byte_array([2; 32]);
        let at = UnixTime(5);
        let f = |confirmations, shallower| ChainEvent::Funding {
            id: (),
            outpoint: op,
            amount: Sats(10),
            status: TxStatus::Mempool,
            confirmations,
            shallower,
        };
        assert!(matches!(
            to_core_event(&f(3, false), Side::Src, at),
            Some(Event::LockSeen {
                depth: Depth::Btc(3),
                side: Side::Src,
                ..
            })
        ));
        assert!(matches!(
            to_core_event(&f(0, true), Side::Dst, at),
            Some(Event::LockUnconfirmed {
                depth: Some(Depth::Btc(0)),
                ..
            })
        ));
        let gone = ChainEvent::FundingGone {
            id: (),
            outpoint: op,
        };
        assert!(matches!(
            to_core_event(&gone, Side::Src, at),
            Some(Event::LockUnconfirmed { depth: None, .. })
        ));
        let s = |kind, shallower| ChainEvent::Spent {
            id: (),
            outpoint: op,
            txid,
            kind,
            status: TxStatus::Mempool,
            confirmations: 1,
            shallower,
        };
        let secret = Secret::new([4; 32]);
        assert!(matches!(
            to_core_event(&s(SpendKind::Claim(secret.clone()), false), Side::Dst, at),
            Some(Event::SpendSeen { kind: CoreSpendKind::Claim { secret: x }, .. }) if x == secret
        ));
        assert!(matches!(
            to_core_event(&s(SpendKind::Refund, true), Side::Dst, at),
            Some(Event::SpendUnconfirmed {
                depth: Some(Depth::Btc(1)),
                ..
            })
        ));
        let unreadable = SpendKind::Unreadable(SpendReadError::PreimageMismatch);
        assert_eq!(to_core_event(&s(unreadable, false), Side::Dst, at), None);
        let sg = ChainEvent::SpendGone {
            id: (),
            outpoint: op,
            txid,
        };
        assert!(matches!(
            to_core_event(&sg, Side::Src, at),
            Some(Event::SpendUnconfirmed { depth: None, .. })
        ));
    }
}
