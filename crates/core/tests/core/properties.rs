//! Property tests: one per protocol invariant, each over at least 10,000 random input
//! sequences with reorgs, duplicates, late and out-of-order events and operator commands.
//!
//! Inputs are generated as a vector of small numbers that a driver turns into events against
//! the current record, so shrinking yields a short readable sequence.

use proptest::prelude::*;

use crosslock_core::amount::{Amount, Sats, Wei};
use crosslock_core::chain::Network;
use crosslock_core::chain::{Chain, LockId, TxId};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::order::{Direction, LockTerms};
use crosslock_core::swap::{
    self, Action, Event, OperatorCommand, Side, SpendKind, Swap, SwapState,
};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_core::timelock::{may_maker_reveal, may_resolver_lock_dst};
use crosslock_core::validate::{RawOrder, parse_order};

use crate::fixture::*;

const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures are reported with the shrunk input; no persistence file in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn dir_strategy() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::BtcToEth), Just(Direction::EthToBtc)]
}

/// One accepted step of a run.
struct Step {
    event: Event,
    before: Swap,
    after: Swap,
    actions: Vec<Action>,
}

struct Run {
    dir: Direction,
    log: Vec<Event>,
    steps: Vec<Step>,
    last: Swap,
}

fn side_of(bit: u16) -> Side {
    if bit & 1 == 0 { Side::Src } else { Side::Dst }
}

/// Turn one number into an event for the current record. Most choices are plausible progress;
/// the rest are reorgs, duplicates, wrong amounts, late locks, bad secrets and operator input.
fn fuzz_event(dir: Direction, s: &Swap, c: u16, prev: Option<&Event>) -> Event {
    let kind = c % 16;
    let arg = c / 16;
    let clock = s.clock;
    let expires = s.order.quote_expires.0;
    match kind {
        0 | 1 => tick(later(
            clock,
            u32::from(arg % 30),
            540 + u64::from(arg / 30 % 181),
        )),
        2 => {
            let back = u32::from(arg % 3) + 1;
            tick(Clock {
                btc_tip: BtcHeight(clock.btc_tip.0.saturating_sub(back)),
                ..clock
            })
        }
        3 | 4 | 5 | 14 | 15 => {
            let side = if matches!(kind, 5 | 15) {
                Side::Dst
            } else {
                Side::Src
            };
            let n = u8::from(arg.is_multiple_of(6));
            let agreed = agreed(dir, side);
            let amount = if arg.is_multiple_of(7) && kind < 14 {
                match agreed {
                    Amount::Btc(Sats(v)) => Amount::Btc(Sats(v - 1)),
                    Amount::Eth(Wei(v)) => Amount::Eth(Wei(v + 1)),
                    other => other,
                }
            } else {
                agreed
            };
            let level = u8::try_from(arg / 8 % 4).unwrap_or(0);
            let seen_at = if arg.is_multiple_of(13) {
                expires + u64::from(arg % 3)
            } else {
                clock.wall.0
            };
            lock_seen(dir, side, n, amount, level, seen_at)
        }
        6 => {
            let side = side_of(arg);
            let level = arg / 4 % 5;
            Event::LockUnconfirmed {
                side,
                lock: lock_id(dir, side, u8::from(arg % 6 == 1)),
                depth: (level < 4).then(|| depth(dir, side, u8::try_from(level).unwrap_or(0))),
            }
        }
        7 | 8 => {
            let side = side_of(arg);
            let claim = !(arg / 2).is_multiple_of(3);
            let tx = 1 + u8::from((arg / 8).is_multiple_of(2));
            let level = u8::try_from(arg / 16 % 4).unwrap_or(0);
            spend_seen(dir, side, u8::from(arg % 11 == 1), tx, claim, level)
        }
        9 => {
            let side = side_of(arg);
            let level = arg / 8 % 4;
            Event::SpendUnconfirmed {
                side,
                lock: lock_id(dir, side, 0),
                tx: TxId([1 + u8::from((arg / 2).is_multiple_of(2)); 32]),
                depth: (level < 3).then(|| depth(dir, side, u8::try_from(level).unwrap_or(0))),
            }
        }
        10 => {
            if arg.is_multiple_of(9) {
                Event::SecretRevealed {
                    secret: wrong_secret(),
                    maker_claim: None,
                }
            } else {
                reveal(dir)
            }
        }
        11 => Event::Operator(match arg % 5 {
            0 => OperatorCommand::Retry,
            1 => OperatorCommand::ForceRefund,
            2 => OperatorCommand::Resolve { close: false },
            3 => OperatorCommand::Resolve { close: true },
            _ => OperatorCommand::Annotate {
                note: "looked at it".into(),
            },
        }),
        12 => prev.cloned().unwrap_or_else(|| tick(clock)),
        _ => tick(later(clock, u32::from(arg % 150), 600)),
    }
}

fn run(dir: Direction, choices: &[u16]) -> Run {
    let (mut s, mut log) = matched_swap(dir);
    let mut steps = Vec::new();
    let mut prev: Option<Event> = None;
    for &c in choices {
        let e = fuzz_event(dir, &s, c, prev.as_ref());
        // A refused event leaves the record as it was and is not logged: that is the contract.
        if let Ok(t) = swap::apply(&s, &e) {
            log.push(e.clone());
            steps.push(Step {
                event: e.clone(),
                before: s.clone(),
                after: t.swap.clone(),
                actions: t.actions,
            });
            s = t.swap;
        }
        prev = Some(e);
    }
    Run {
        dir,
        log,
        steps,
        last: s,
    }
}

fn lock_terms(s: &Swap, side: Side) -> LockTerms {
    *s.lock_terms(side).expect("matched")
}

fn claim_target(a: &Action) -> Option<(Side, LockId)> {
    match a {
        Action::ClaimSrc { lock, .. } => Some((Side::Src, *lock)),
        Action::ClaimDst { lock, .. } | Action::BroadcastMakerClaim { lock, .. } => {
            Some((Side::Dst, *lock))
        }
        _ => None,
    }
}

fn refund_target(a: &Action) -> Option<(Side, LockId)> {
    match a {
        Action::RefundSrc { lock, .. } => Some((Side::Src, *lock)),
        Action::RefundDst { lock, .. } => Some((Side::Dst, *lock)),
        _ => None,
    }
}

/// Invariant: never claim and refund the same lock. No batch holds both; no claim follows a
/// refund; a refund follows a claim only for an Ethereum lock whose claim can no longer be mined
/// (and never for a Bitcoin lock, whose claim path never expires).
fn check_claim_refund(r: &Run) -> Result<(), TestCaseError> {
    let mut claimed: Vec<(Side, LockId)> = Vec::new();
    let mut refunded: Vec<(Side, LockId)> = Vec::new();
    for st in &r.steps {
        for a in &st.actions {
            if let Some(t) = claim_target(a) {
                prop_assert!(!refunded.contains(&t), "claim after refund of {t:?}");
                prop_assert!(
                    !st.actions.iter().any(|b| refund_target(b) == Some(t)),
                    "claim and refund of {t:?} in one batch"
                );
                claimed.push(t);
            }
            if let Some(t) = refund_target(a) {
                if claimed.contains(&t) {
                    let lt = lock_terms(&st.after, t.0);
                    prop_assert_eq!(
                        lt.chain(),
                        Chain::Ethereum,
                        "refund after claim of BTC {:?}",
                        t
                    );
                    prop_assert!(
                        !lt.claim_can_win(&st.after.clock),
                        "refund while claim can win"
                    );
                }
                // Invariant 3: no refund of the swap's own lock while the secret is known and a
                // claim can still be mined.
                let main = st.after.main_lock(t.0).map(|l| l.id) == Some(t.1);
                if main && st.after.secret.is_some() {
                    prop_assert!(!lock_terms(&st.after, t.0).claim_can_win(&st.after.clock));
                }
                refunded.push(t);
            }
        }
    }
    Ok(())
}

/// Invariant: never lock dst or hand the secret on before the state that allows it.
fn check_gates(r: &Run) -> Result<(), TestCaseError> {
    for st in &r.steps {
        let s = &st.after;
        let terms = s.terms.expect("matched");
        for a in &st.actions {
            match a {
                Action::LockDst { .. } => {
                    let src = s.main_lock(Side::Src).expect("src lock");
                    prop_assert!(s.main_lock_final(Side::Src), "dst lock before src final");
                    prop_assert!(!src.late, "dst lock against a late src lock");
                    prop_assert_eq!(src.amount, agreed(r.dir, Side::Src));
                    prop_assert!(s.dst.is_empty() && s.secret.is_none() && !s.abandoned);
                    prop_assert!(
                        may_resolver_lock_dst(&terms, &s.clock, terms.network.params()).is_ok()
                    );
                }
                Action::HandSecretOn { .. } => {
                    let from_chain = s.src.iter().chain(&s.dst).any(|l| l.is_claimed());
                    let first = st.before.secret.is_none();
                    if first && !from_chain {
                        // The maker's reveal was accepted: check the state it was accepted in.
                        let b = &st.before;
                        let revealed = matches!(st.event, Event::SecretRevealed { .. });
                        prop_assert!(revealed, "secret first known without a reveal");
                        prop_assert!(b.main_lock_final(Side::Src) && b.main_lock_final(Side::Dst));
                        prop_assert!(b.src_problem().is_none() && b.dst_problem().is_none());
                        prop_assert!(
                            may_maker_reveal(&terms, &b.clock, terms.network.params()).is_ok()
                        );
                        prop_assert!(!b.abandoned && b.hold.is_none());
                    }
                }
                Action::ClaimSrc { .. }
                | Action::ClaimDst { .. }
                | Action::BroadcastMakerClaim { .. } => {
                    prop_assert!(s.secret.is_some());
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Invariant: replaying the log gives the same record, from the start or from any stored
/// snapshot, and a repeated observation changes nothing.
fn check_replay(r: &Run, split: usize) -> Result<(), TestCaseError> {
    let full = swap::fold(&r.log).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&full, &r.last);
    let k = split % (r.log.len() + 1);
    if k >= 1 {
        let mut s = swap::fold(&r.log[..k]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for e in &r.log[k..] {
            s = swap::apply(&s, e)
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .swap;
        }
        prop_assert_eq!(&s, &r.last);
    }
    for st in &r.steps {
        if matches!(st.event, Event::Operator(OperatorCommand::Annotate { .. })) {
            continue;
        }
        if let Ok(t) = swap::apply(&st.after, &st.event) {
            prop_assert_eq!(
                &t.swap.state,
                &st.after.state,
                "duplicate {:?} moved the state",
                st.event
            );
        }
    }
    Ok(())
}

/// A cooperative environment for the way-out property: carries out due actions, lets the
/// maker refund, lets time pass and chains settle, and uses operator commands when needed.
fn drain(dir: Direction, mut s: Swap) -> Result<Swap, TestCaseError> {
    let mut tx = 100_u8;
    for _ in 0..40 {
        if s.state.is_terminal() {
            return Ok(s);
        }
        let mut inputs: Vec<Event> = Vec::new();
        let due = swap::apply(&s, &Event::Operator(OperatorCommand::Retry))
            .map(|t| t.actions)
            .unwrap_or_default();
        for a in &due {
            tx = tx.wrapping_add(1);
            let spend = |side, lock, kind| Event::SpendSeen {
                side,
                lock,
                tx: TxId([tx; 32]),
                kind,
                depth: depth(dir, side, 3),
            };
            match a {
                Action::LockDst { .. } => inputs.push(lock_seen(
                    dir,
                    Side::Dst,
                    0,
                    agreed(dir, Side::Dst),
                    3,
                    s.clock.wall.0,
                )),
                Action::ClaimSrc { lock, secret, .. } => inputs.push(spend(
                    Side::Src,
                    *lock,
                    SpendKind::Claim {
                        secret: secret.clone(),
                    },
                )),
                Action::ClaimDst { lock, secret, .. } => inputs.push(spend(
                    Side::Dst,
                    *lock,
                    SpendKind::Claim {
                        secret: secret.clone(),
                    },
                )),
                Action::BroadcastMakerClaim { lock, .. } => inputs.push(spend(
                    Side::Dst,
                    *lock,
                    SpendKind::Claim { secret: secret() },
                )),
                Action::RefundSrc { lock, .. } => {
                    inputs.push(spend(Side::Src, *lock, SpendKind::Refund))
                }
                Action::RefundDst { lock, .. } => {
                    inputs.push(spend(Side::Dst, *lock, SpendKind::Refund))
                }
                _ => {}
            }
        }
        // Chains settle what they hold.
        for side in [Side::Src, Side::Dst] {
            for l in s.leg(side) {
                inputs.push(Event::LockSeen {
                    side,
                    lock: l.id,
                    amount: l.amount,
                    depth: depth(dir, side, 3),
                    seen_at: s.clock.wall.0.into_time(),
                });
                if let Some(sp) = &l.spend {
                    inputs.push(Event::SpendSeen {
                        side,
                        lock: l.id,
                        tx: sp.tx,
                        kind: sp.kind.clone(),
                        depth: depth(dir, side, 3),
                    });
                }
                // The maker refunds its own unspent locks once it may (BTC refunds need its key).
                let lt = lock_terms(&s, side);
                if side == Side::Src
                    && l.spend.is_none()
                    && lt.refund_open(&s.clock)
                    && !l.claim_issued
                {
                    tx = tx.wrapping_add(1);
                    inputs.push(Event::SpendSeen {
                        side,
                        lock: l.id,
                        tx: TxId([tx; 32]),
                        kind: SpendKind::Refund,
                        depth: depth(dir, side, 3),
                    });
                }
            }
        }
        // The maker's client claims dst itself once the secret is out.
        if let Some(d) = s.main_lock(Side::Dst)
            && d.spend.is_none()
            && s.secret.is_some()
            && lock_terms(&s, Side::Dst).claim_can_win(&s.clock)
        {
            tx = tx.wrapping_add(1);
            inputs.push(Event::SpendSeen {
                side: Side::Dst,
                lock: d.id,
                tx: TxId([tx; 32]),
                kind: SpendKind::Claim { secret: secret() },
                depth: depth(dir, Side::Dst, 3),
            });
        }
        // The maker reveals if the rules allow it.
        inputs.push(reveal(dir));
        if let SwapState::NeedsOperator { .. } = s.state {
            inputs.push(Event::Operator(OperatorCommand::Resolve { close: false }));
            if due
                .iter()
                .all(|a| claim_target(a).is_none() && refund_target(a).is_none())
            {
                inputs.push(Event::Operator(OperatorCommand::ForceRefund));
                inputs.push(Event::Operator(OperatorCommand::Resolve { close: true }));
            }
        }
        inputs.push(tick(later(s.clock, 50, 600)));
        for e in &inputs {
            if let Ok(t) = swap::apply(&s, e) {
                s = t.swap;
            }
        }
    }
    prop_assert!(
        s.state.is_terminal(),
        "stuck in {:?}: {:?} {:?} {:?}",
        s.state,
        s.src,
        s.dst,
        s.clock
    );
    Ok(s)
}

trait IntoTime {
    fn into_time(self) -> UnixTime;
}

impl IntoTime for u64 {
    fn into_time(self) -> UnixTime {
        UnixTime(self)
    }
}

/// Every non-terminal state offers an exit right now: an automatic action, an accepted
/// operator command, or a pending chain fact or timeout that a later input will bring.
fn check_exit_now(s: &Swap) -> Result<(), TestCaseError> {
    if s.state.is_terminal() {
        return Ok(());
    }
    let retry = swap::apply(s, &Event::Operator(OperatorCommand::Retry)).map(|t| t.actions);
    let automatic = retry.as_ref().is_ok_and(|a| !a.is_empty());
    let operator = [
        OperatorCommand::ForceRefund,
        OperatorCommand::Resolve { close: false },
        OperatorCommand::Resolve { close: true },
    ]
    .into_iter()
    .any(|c| swap::apply(s, &Event::Operator(c)).is_ok_and(|t| t.swap != *s));
    let waiting = s.src.iter().chain(&s.dst).any(|l| !l.is_closed())
        || matches!(s.state, SwapState::Matched | SwapState::Created);
    prop_assert!(
        automatic || operator || waiting,
        "no exit from {:?}",
        s.state
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_claim_and_refund_the_same_lock(dir in dir_strategy(), choices in prop::collection::vec(any::<u16>(), 1..48)) {
        check_claim_refund(&run(dir, &choices))?;
    }

    #[test]
    fn never_lock_dst_or_hand_the_secret_on_before_it_is_allowed(dir in dir_strategy(), choices in prop::collection::vec(any::<u16>(), 1..48)) {
        check_gates(&run(dir, &choices))?;
    }

    #[test]
    fn replaying_the_event_log_gives_the_same_state(dir in dir_strategy(), choices in prop::collection::vec(any::<u16>(), 1..48), split in any::<usize>()) {
        check_replay(&run(dir, &choices), split)?;
    }

    #[test]
    fn every_state_has_a_way_out(dir in dir_strategy(), choices in prop::collection::vec(any::<u16>(), 1..40)) {
        let r = run(dir, &choices);
        for st in &r.steps {
            check_exit_now(&st.after)?;
        }
        drain(r.dir, r.last)?;
    }

    #[test]
    fn malformed_orders_give_a_typed_error_never_a_panic(
        chain_id in prop_oneof![Just(1_u64), any::<u64>()],
        fields in prop::collection::vec(prop_oneof![
            "[0-9a-fA-FxX]{0,70}",
            "(BTC|ETH|0x[0-9a-fA-F]{40})",
            "[0-9]{0,45}",
            any::<String>(),
        ], 7),
        expires in any::<u64>(),
    ) {
        let raw = RawOrder {
            chain_id,
            hashlock: fields[0].clone(),
            give_asset: fields[1].clone(),
            give_amount: fields[2].clone(),
            take_asset: fields[3].clone(),
            take_amount: fields[4].clone(),
            maker_btc_pubkey: fields[5].clone(),
            maker_eth_address: fields[6].clone(),
            quote_expires: expires,
        };
        // Either a valid order or an error whose message names a field.
        if let Err(e) = parse_order(&raw, Network::Mainnet, UnixTime(T0)) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_service_never_ends_with_both_legs_lost(dir in dir_strategy(), seed in prop::collection::vec(any::<u16>(), 8..16), maker in maker_strategy()) {
        simulate(dir, &seed, maker)?;
    }
}

// ---------------------------------------------------------------------------------------------
// A small world for the both-legs property: two chains that enforce the HTLC rules (with
// one-block reorgs of fresh spends), a maker who tries to take both legs (or follows the
// client), and a service that carries out every action within a few blocks.

#[derive(Debug, Clone, Copy)]
struct Maker {
    /// Follows the client: reveals only when allowed, never claims dst itself late.
    honest: bool,
    /// Blocks after start at which the maker funds src (0..2 is before the quote expires).
    fund_at: u32,
    /// Blocks after start at which the maker tries to reveal to the relayer, if at all.
    reveal_at: Option<u32>,
    /// Blocks after start at which the maker claims dst on chain itself, if at all.
    claim_dst_at: Option<u32>,
    /// Whether the maker funds the wrong amount.
    wrong_amount: bool,
}

fn maker_strategy() -> impl Strategy<Value = Maker> {
    (
        any::<bool>(),
        0_u32..4,
        prop::option::of(0_u32..120),
        prop::option::of(0_u32..160),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(honest, fund_at, reveal_at, claim_dst_at, wrong_amount)| Maker {
                honest,
                fund_at,
                reveal_at,
                claim_dst_at: if honest { None } else { claim_dst_at },
                wrong_amount,
            },
        )
}

#[derive(Debug, Clone)]
struct ChainTx {
    side: Side,
    kind: SpendKind,
    /// Block height at which it gets mined (if still valid).
    mine_at: u32,
    id: u8,
}

#[derive(Debug, Clone, Default)]
struct Leg {
    /// Height the lock was mined at.
    locked_at: Option<u32>,
    /// Height and kind of the spend.
    spent: Option<(u32, SpendKind, u8)>,
    lock_pending_at: Option<u32>,
}

fn sim_depth(dir: Direction, side: Side, mined_at: u32, tip: u32) -> Depth {
    let confs = tip + 1 - mined_at;
    if side_is_btc(dir, side) {
        Depth::Btc(confs)
    } else {
        Depth::Eth(match confs {
            0 => EthDepth::Pending,
            1 => EthDepth::Included,
            2 | 3 => EthDepth::Safe,
            _ => EthDepth::Finalized,
        })
    }
}

fn simulate(dir: Direction, seed: &[u16], maker: Maker) -> Result<(), TestCaseError> {
    let (mut s, _) = matched_swap(dir);
    let terms = s.terms.expect("matched");
    let mut legs = [Leg::default(), Leg::default()];
    let idx = |side: Side| usize::from(side == Side::Dst);
    let mut pending: Vec<ChainTx> = Vec::new();
    let mut clock = s.clock;
    let mut rnd = seed.iter().copied().cycle();
    let mut next_id = 10_u8;
    let start = clock.btc_tip.0;
    let feed = |s: &mut Swap, e: Event, out: &mut Vec<Action>| {
        if let Ok(t) = swap::apply(s, &e) {
            out.extend(t.actions);
            *s = t.swap;
        }
    };
    for _ in 0..160 {
        // Mine 1-3 blocks of 540-720 s each.
        let r = rnd.next().unwrap_or(0);
        let blocks = 1 + u32::from(r % 3);
        for _ in 0..blocks {
            clock.btc_tip = BtcHeight(clock.btc_tip.0 + 1);
            let secs = 540 + u64::from(r / 3 % 181);
            clock.eth_time = UnixTime(clock.eth_time.0 + secs);
            clock.wall = clock.eth_time;
            let tip = clock.btc_tip.0;
            pending.sort_by_key(|t| t.mine_at);
            let (ready, rest): (Vec<ChainTx>, Vec<ChainTx>) =
                pending.drain(..).partition(|t| t.mine_at <= tip);
            pending = rest;
            for t in ready {
                let leg = &mut legs[idx(t.side)];
                let lt = lock_terms(&s, t.side);
                if leg.locked_at.is_none() || leg.spent.is_some() {
                    continue;
                }
                let valid = match (&t.kind, &lt) {
                    (SpendKind::Claim { .. }, LockTerms::Btc(_)) => true,
                    (SpendKind::Claim { .. }, LockTerms::Eth(e)) => clock.eth_time < e.timeout,
                    (SpendKind::Refund, LockTerms::Btc(h)) => tip > h.timeout.0,
                    (SpendKind::Refund, LockTerms::Eth(e)) => clock.eth_time >= e.timeout,
                };
                if valid {
                    leg.spent = Some((tip, t.kind, t.id));
                }
            }
            for side in [Side::Src, Side::Dst] {
                let leg = &mut legs[idx(side)];
                if leg.locked_at.is_none() && leg.lock_pending_at.is_some_and(|h| h <= tip) {
                    leg.locked_at = Some(tip);
                }
            }
        }
        let tip = clock.btc_tip.0;
        let mut actions = Vec::new();
        feed(&mut s, tick(clock), &mut actions);
        // Now and then a one-block reorg drops a spend just mined back to the mempool; it is
        // mined again a block or two later unless a conflicting spend gets in first.
        if r % 7 == 0 {
            for side in [Side::Src, Side::Dst] {
                let leg = &mut legs[idx(side)];
                if let Some((_, kind, id)) = leg.spent.take_if(|(h, _, _)| *h == tip) {
                    pending.push(ChainTx {
                        side,
                        kind,
                        mine_at: tip + 1 + u32::from(r % 2),
                        id,
                    });
                    let gone = Event::SpendUnconfirmed {
                        side,
                        lock: lock_id(dir, side, 0),
                        tx: TxId([id; 32]),
                        depth: None,
                    };
                    feed(&mut s, gone, &mut actions);
                }
            }
        }
        // Watchers report what the chains hold.
        for side in [Side::Src, Side::Dst] {
            let leg = &legs[idx(side)];
            if let Some(h) = leg.locked_at {
                let amount = if side == Side::Src && maker.wrong_amount {
                    match agreed(dir, side) {
                        Amount::Btc(Sats(v)) => Amount::Btc(Sats(v / 2)),
                        Amount::Eth(Wei(v)) => Amount::Eth(Wei(v / 2)),
                        other => other,
                    }
                } else {
                    agreed(dir, side)
                };
                let seen_at = if side == Side::Src {
                    T0 + u64::from(maker.fund_at) * 600
                } else {
                    clock.wall.0
                };
                feed(
                    &mut s,
                    Event::LockSeen {
                        side,
                        lock: lock_id(dir, side, 0),
                        amount,
                        depth: sim_depth(dir, side, h, tip),
                        seen_at: UnixTime(seen_at),
                    },
                    &mut actions,
                );
            }
            if let Some((h, kind, id)) = &leg.spent {
                feed(
                    &mut s,
                    Event::SpendSeen {
                        side,
                        lock: lock_id(dir, side, 0),
                        tx: TxId([*id; 32]),
                        kind: kind.clone(),
                        depth: sim_depth(dir, side, *h, tip),
                    },
                    &mut actions,
                );
            }
        }
        // The maker.
        let since = tip - start;
        if since >= maker.fund_at && legs[0].lock_pending_at.is_none() {
            legs[0].lock_pending_at = Some(tip + 1);
        }
        if maker.reveal_at.is_some_and(|r| since >= r) {
            let allowed = swap::reveal_refusal(&s).is_none();
            if !maker.honest || allowed {
                feed(&mut s, reveal(dir), &mut actions);
            }
        }
        if let Some(at) = maker.claim_dst_at
            && since >= at
            && legs[1].locked_at.is_some()
        {
            next_id = next_id.wrapping_add(1);
            pending.push(ChainTx {
                side: Side::Dst,
                kind: SpendKind::Claim { secret: secret() },
                mine_at: tip + 1,
                id: next_id,
            });
        }
        // The maker refunds src as soon as it can (adversarial or not: it is its right).
        if legs[0].locked_at.is_some()
            && legs[0].spent.is_none()
            && lock_terms(&s, Side::Src).refund_open(&clock)
        {
            next_id = next_id.wrapping_add(1);
            pending.push(ChainTx {
                side: Side::Src,
                kind: SpendKind::Refund,
                mine_at: tip + 1,
                id: next_id,
            });
        }
        // The service carries out each action within 0-2 blocks.
        for a in &actions {
            let delay = u32::from(rnd.next().unwrap_or(0) % 3);
            next_id = next_id.wrapping_add(1);
            let mut push = |side, kind| {
                pending.push(ChainTx {
                    side,
                    kind,
                    mine_at: tip + 1 + delay,
                    id: next_id,
                })
            };
            match a {
                Action::LockDst { .. } if legs[1].lock_pending_at.is_none() => {
                    legs[1].lock_pending_at = Some(tip + 1 + delay);
                }
                Action::ClaimSrc { secret, .. } => push(
                    Side::Src,
                    SpendKind::Claim {
                        secret: secret.clone(),
                    },
                ),
                Action::ClaimDst { secret, .. } => push(
                    Side::Dst,
                    SpendKind::Claim {
                        secret: secret.clone(),
                    },
                ),
                Action::BroadcastMakerClaim { .. } => {
                    push(Side::Dst, SpendKind::Claim { secret: secret() })
                }
                Action::RefundDst { .. } => push(Side::Dst, SpendKind::Refund),
                Action::RefundSrc { .. } => push(Side::Src, SpendKind::Refund),
                _ => {}
            }
        }
        let done = legs
            .iter()
            .all(|l| l.spent.is_some() || l.locked_at.is_none() && l.lock_pending_at.is_none());
        if done && s.state.is_terminal() {
            break;
        }
    }
    let kind = |l: &Leg| {
        l.spent
            .as_ref()
            .map(|(_, k, _)| matches!(k, SpendKind::Claim { .. }))
    };
    let (src, dst) = (kind(&legs[0]), kind(&legs[1]));
    // The service loses both legs if the maker got dst (claimed) and src back (refunded).
    prop_assert!(
        !(dst == Some(true) && src == Some(false)),
        "service lost both legs: {:?}",
        s.state
    );
    if maker.honest {
        prop_assert!(
            !(src == Some(true) && dst == Some(false)),
            "honest maker lost both legs: {:?}",
            s.state
        );
    }
    // Every lock that was made ends spent once the timeouts are long past.
    let _ = terms;
    Ok(())
}
