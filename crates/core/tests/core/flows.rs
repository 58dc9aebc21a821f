//! Whole swaps, step by step: the happy path in both directions and each unhappy path that
//! `protocol.md` lists.

use crosslock_core::amount::{Amount, Sats};
use crosslock_core::chain::TxId;
use crosslock_core::finality::Depth;
use crosslock_core::order::Direction;
use crosslock_core::swap::{
    self, Action, Event, ExpiredReason, OperatorCommand, OperatorReason, Side, Swap, SwapState,
    TransitionError,
};
use crosslock_core::time::Clock;

use crate::fixture::*;

/// Apply events in order, keeping the log; panics name the event refused.
struct Flow {
    dir: Direction,
    swap: Swap,
    log: Vec<Event>,
    last: Vec<Action>,
}

impl Flow {
    fn new(dir: Direction) -> Flow {
        let (swap, log) = matched_swap(dir);
        Flow {
            dir,
            swap,
            log,
            last: Vec::new(),
        }
    }

    fn on(&mut self, e: Event) -> &mut Flow {
        let t = swap::apply(&self.swap, &e).unwrap_or_else(|err| panic!("{e:?} refused: {err}"));
        self.swap = t.swap;
        self.last = t.actions;
        self.log.push(e);
        self
    }

    fn refused(&self, e: Event) -> TransitionError {
        swap::apply(&self.swap, &e).expect_err("must be refused")
    }

    fn state(&self) -> SwapState {
        self.swap.state
    }

    fn did(&self, f: impl Fn(&Action) -> bool) -> bool {
        self.last.iter().any(f)
    }

    fn lock(&mut self, side: Side, level: u8) -> &mut Flow {
        let e = lock_seen(
            self.dir,
            side,
            0,
            agreed(self.dir, side),
            level,
            self.swap.clock.wall.0,
        );
        self.on(e)
    }

    fn spend(&mut self, side: Side, claim: bool, level: u8) -> &mut Flow {
        let tx = if claim { 40 } else { 41 };
        let e = spend_seen(self.dir, side, 0, tx, claim, level);
        self.on(e)
    }

    fn advance(&mut self, blocks: u32) -> &mut Flow {
        let c = later(self.swap.clock, blocks, 600);
        self.on(tick(c))
    }

    fn replays(&self) {
        assert_eq!(swap::fold(&self.log).expect("replay"), self.swap);
    }
}

fn is_lock_dst(a: &Action) -> bool {
    matches!(a, Action::LockDst { .. })
}

#[test]
fn btc_to_eth_happy_path() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 0);
    assert_eq!(f.state(), SwapState::SrcLockSeen);
    assert!(!f.did(is_lock_dst), "no dst lock on a mempool src lock");
    f.lock(Side::Src, 2);
    assert_eq!(f.state(), SwapState::SrcLocked);
    assert!(f.did(is_lock_dst));
    f.lock(Side::Dst, 1);
    assert_eq!(f.state(), SwapState::DstLockSeen);
    assert!(matches!(
        f.refused(reveal(f.dir)),
        TransitionError::RevealRefused(_)
    ));
    f.lock(Side::Dst, 2);
    assert_eq!(f.state(), SwapState::DstLocked);
    f.on(reveal(f.dir));
    assert_eq!(f.state(), SwapState::SecretRevealed);
    assert!(f.did(|a| matches!(a, Action::HandSecretOn { .. })));
    assert!(f.did(|a| matches!(a, Action::ClaimDst { .. })));
    assert!(
        !f.did(|a| matches!(a, Action::ClaimSrc { .. })),
        "maker is paid first"
    );
    f.spend(Side::Dst, true, 0);
    assert_eq!(f.state(), SwapState::DstClaimed);
    assert!(f.did(|a| matches!(a, Action::ClaimSrc { .. })));
    f.spend(Side::Src, true, 1);
    assert_eq!(f.state(), SwapState::SrcClaimed);
    f.spend(Side::Dst, true, 3).spend(Side::Src, true, 3);
    assert_eq!(f.state(), SwapState::Completed);
    f.replays();
}

#[test]
fn eth_to_btc_happy_path_broadcasts_the_makers_claim() {
    let mut f = Flow::new(Direction::EthToBtc);
    f.lock(Side::Src, 2);
    assert!(f.did(is_lock_dst));
    f.lock(Side::Dst, 2);
    assert_eq!(
        f.refused(Event::SecretRevealed {
            secret: secret(),
            maker_claim: None
        }),
        TransitionError::MissingMakerClaim
    );
    f.on(reveal(f.dir));
    assert!(f.did(|a| matches!(a, Action::BroadcastMakerClaim { .. })));
    // Nobody can beat the maker's BTC claim once we never refund it, so src is claimed at once.
    assert!(f.did(|a| matches!(a, Action::ClaimSrc { .. })));
    f.spend(Side::Dst, true, 3).spend(Side::Src, true, 3);
    assert_eq!(f.state(), SwapState::Completed);
    f.replays();
}

#[test]
fn maker_never_funds_and_the_order_expires() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.advance(1);
    assert_eq!(f.state(), SwapState::Matched);
    f.advance(2);
    assert_eq!(
        f.state(),
        SwapState::Expired {
            reason: ExpiredReason::NeverFunded
        }
    );
    assert!(f.last.is_empty());
}

#[test]
fn late_funding_is_never_locked_against_and_is_refunded() {
    let mut f = Flow::new(Direction::EthToBtc);
    f.advance(3);
    let e = lock_seen(f.dir, Side::Src, 0, eth_amount(), 3, f.swap.clock.wall.0);
    f.on(e);
    assert_eq!(
        f.state(),
        SwapState::NeedsOperator {
            reason: OperatorReason::LateFunding
        }
    );
    assert!(f.did(|a| matches!(
        a,
        Action::NeedsOperator {
            reason: OperatorReason::LateFunding
        }
    )));
    assert!(!f.did(is_lock_dst));
    // After the src timeout the escrow refund (anyone may call it) is issued.
    let c = Clock {
        eth_time: f
            .swap
            .clock
            .eth_time
            .plus(crosslock_core::time::Secs(ETH_SRC_SECS)),
        ..f.swap.clock
    };
    f.on(tick(c));
    assert!(f.did(|a| matches!(a, Action::RefundSrc { .. })));
    f.spend(Side::Src, false, 3);
    assert_eq!(f.state(), SwapState::Refunded);
    f.replays();
}

#[test]
fn wrong_amount_gets_no_dst_lock() {
    for (amount, over) in [(999_999, false), (1_010_001, true)] {
        let mut f = Flow::new(Direction::BtcToEth);
        let e = lock_seen(
            f.dir,
            Side::Src,
            0,
            Amount::Btc(Sats(amount)),
            3,
            f.swap.clock.wall.0,
        );
        f.on(e);
        assert!(!f.did(is_lock_dst));
        let SwapState::NeedsOperator {
            reason: OperatorReason::SrcAmount(kind),
        } = f.state()
        else {
            panic!("unexpected {:?}", f.state());
        };
        assert_eq!(
            kind,
            if over {
                crosslock_core::fees::MismatchKind::Over
            } else {
                crosslock_core::fees::MismatchKind::Under
            }
        );
    }
}

#[test]
fn double_funding_before_the_dst_lock_gets_no_dst_lock_and_both_are_refunded() {
    let mut f = Flow::new(Direction::BtcToEth);
    let w = f.swap.clock.wall.0;
    f.on(lock_seen(f.dir, Side::Src, 0, btc_amount(), 0, w));
    f.on(lock_seen(f.dir, Side::Src, 1, btc_amount(), 0, w));
    f.lock(Side::Src, 2);
    assert!(!f.did(is_lock_dst));
    assert_eq!(
        f.state(),
        SwapState::NeedsOperator {
            reason: OperatorReason::DoubleFunding
        }
    );
    f.advance(BTC_SRC_BLOCKS);
    let refunds = f
        .last
        .iter()
        .filter(|a| matches!(a, Action::RefundSrc { .. }))
        .count();
    assert_eq!(refunds, 2, "every UTXO is refunded: {:?}", f.last);
}

#[test]
fn a_second_lock_after_the_dst_lock_is_a_stray_refunded_at_the_timeout() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 2);
    let w = f.swap.clock.wall.0;
    f.on(lock_seen(f.dir, Side::Src, 1, btc_amount(), 2, w));
    assert!(f.did(|a| matches!(a, Action::Alert { .. })));
    f.lock(Side::Dst, 2).on(reveal(Direction::BtcToEth));
    f.spend(Side::Dst, true, 3).spend(Side::Src, true, 3);
    assert_eq!(
        f.state(),
        SwapState::NeedsOperator {
            reason: OperatorReason::StrayLocks
        }
    );
    f.advance(BTC_SRC_BLOCKS);
    assert!(f.did(|a| matches!(a, Action::RefundSrc { .. })));
    f.on(spend_seen(f.dir, Side::Src, 1, 50, false, 3));
    assert_eq!(f.state(), SwapState::Completed);
}

#[test]
fn resolver_never_locks_and_the_maker_refunds_after_the_src_timeout() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 2);
    f.advance(BTC_SRC_BLOCKS - 1);
    assert!(!f.did(|a| matches!(a, Action::RefundSrc { .. })));
    f.advance(1);
    assert!(f.did(|a| matches!(a, Action::RefundSrc { .. })));
    f.spend(Side::Src, false, 1);
    assert_eq!(f.state(), SwapState::SrcRefunded);
    f.spend(Side::Src, false, 3);
    assert_eq!(f.state(), SwapState::Refunded);
}

#[test]
fn maker_never_reveals_and_both_refund_resolver_first() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 2).lock(Side::Dst, 3);
    // dst (12 h) times out first: at ~72 blocks of 600 s.
    f.advance(73);
    assert!(f.did(|a| matches!(a, Action::RefundDst { .. })));
    assert!(!f.did(|a| matches!(a, Action::RefundSrc { .. })));
    f.spend(Side::Dst, false, 3);
    assert_eq!(f.state(), SwapState::DstRefunded);
    f.advance(BTC_SRC_BLOCKS);
    assert!(f.did(|a| matches!(a, Action::RefundSrc { .. })));
    f.spend(Side::Src, false, 3);
    assert_eq!(f.state(), SwapState::Refunded);
    f.replays();
}

#[test]
fn too_late_to_lock_dst_is_refused_and_refunded() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 0);
    // The src lock only becomes final when too little of the dst window is left.
    f.advance(40);
    f.lock(Side::Src, 2);
    assert!(!f.did(is_lock_dst));
    assert!(matches!(
        f.state(),
        SwapState::NeedsOperator {
            reason: OperatorReason::TooLateToLockDst(_)
        }
    ));
}

#[test]
fn a_claim_reorged_out_is_issued_again() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 2)
        .lock(Side::Dst, 2)
        .on(reveal(Direction::BtcToEth));
    f.spend(Side::Dst, true, 1).spend(Side::Src, true, 1);
    assert_eq!(f.state(), SwapState::SrcClaimed);
    let lock = lock_id(f.dir, Side::Src, 0);
    f.on(Event::SpendUnconfirmed {
        side: Side::Src,
        lock,
        tx: TxId([40; 32]),
        depth: None,
    });
    assert_eq!(f.state(), SwapState::DstClaimed);
    assert!(
        f.did(|a| matches!(a, Action::ClaimSrc { .. })),
        "re-broadcast"
    );
    assert!(f.did(|a| matches!(a, Action::Alert { .. })));
    // A settled claim reorged is a deep reorg: an operator hold, claims still go on.
    f.spend(Side::Src, true, 3);
    f.on(Event::SpendUnconfirmed {
        side: Side::Src,
        lock,
        tx: TxId([40; 32]),
        depth: Some(Depth::Btc(2)),
    });
    assert_eq!(
        f.state(),
        SwapState::NeedsOperator {
            reason: OperatorReason::DeepReorg
        }
    );
    f.on(Event::Operator(OperatorCommand::Resolve { close: false }));
    assert_eq!(f.state(), SwapState::SrcClaimed);
    f.replays();
}

#[test]
fn src_lock_reorged_out_moves_the_swap_back() {
    let mut f = Flow::new(Direction::EthToBtc);
    f.lock(Side::Src, 2);
    assert_eq!(f.state(), SwapState::SrcLocked);
    f.on(Event::LockUnconfirmed {
        side: Side::Src,
        lock: lock_id(f.dir, Side::Src, 0),
        depth: Some(depth(f.dir, Side::Src, 1)),
    });
    assert_eq!(f.state(), SwapState::SrcLockSeen);
    f.lock(Side::Src, 2);
    assert_eq!(f.state(), SwapState::SrcLocked);
}

#[test]
fn the_secret_from_a_dst_claim_on_chain_starts_the_src_claim() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 2).lock(Side::Dst, 2);
    f.spend(Side::Dst, true, 0);
    assert!(f.swap.secret.is_some());
    assert!(f.did(|a| matches!(a, Action::ClaimSrc { .. })));
}

#[test]
fn refused_inputs_are_typed_errors() {
    let mut f = Flow::new(Direction::BtcToEth);
    assert_eq!(f.refused(created(f.dir)), TransitionError::AlreadyCreated);
    assert!(matches!(
        f.refused(spend_seen(f.dir, Side::Src, 0, 1, true, 1)),
        TransitionError::UnknownLock { .. }
    ));
    f.lock(Side::Src, 2);
    assert!(matches!(
        f.refused(Event::SpendSeen {
            side: Side::Src,
            lock: lock_id(f.dir, Side::Src, 0),
            tx: TxId([1; 32]),
            kind: crosslock_core::swap::SpendKind::Claim {
                secret: wrong_secret()
            },
            depth: Depth::Btc(1),
        }),
        TransitionError::BadSecret
    ));
    assert!(matches!(
        f.refused(lock_seen(f.dir, Side::Dst, 0, btc_amount(), 1, 0)),
        TransitionError::WrongChain(Side::Dst)
    ));
    assert_eq!(
        f.refused(Event::Operator(OperatorCommand::Resolve { close: true })),
        TransitionError::NotNeedsOperator
    );
    assert_eq!(
        f.refused(Event::Operator(OperatorCommand::Annotate {
            note: "x".repeat(1_001)
        })),
        TransitionError::NoteTooLong
    );
    let mut other = terms(f.dir);
    other.quote_expires = other.quote_expires.plus(crosslock_core::time::Secs(1));
    assert_eq!(
        f.refused(Event::Matched {
            terms: other,
            at: clock0()
        }),
        TransitionError::AlreadyMatched
    );
    assert_eq!(
        swap::create(&tick(clock0())),
        Err(TransitionError::NotCreated)
    );
}

#[test]
fn force_refund_is_refused_while_the_maker_can_still_claim_dst() {
    let mut f = Flow::new(Direction::BtcToEth);
    f.lock(Side::Src, 2)
        .lock(Side::Dst, 2)
        .on(reveal(Direction::BtcToEth));
    assert_eq!(
        f.refused(Event::Operator(OperatorCommand::ForceRefund)),
        TransitionError::ForceRefundRefused
    );
    // Past the dst timeout with no claim: a person decides; ForceRefund returns dst.
    f.advance(80);
    assert_eq!(
        f.state(),
        SwapState::NeedsOperator {
            reason: OperatorReason::DstClaimMissed
        }
    );
    assert!(!f.did(|a| matches!(a, Action::RefundDst { .. })));
    f.on(Event::Operator(OperatorCommand::ForceRefund));
    assert!(f.did(|a| matches!(a, Action::RefundDst { .. })));
    assert!(!f.did(|a| matches!(a, Action::ClaimSrc { .. })));
}
