//! The swap state machine: `apply(swap, event) -> (swap, actions)`, and `fold` to replay a log.
//!
//! A swap is its append-only event log. [`apply`] checks an event against the record, returns
//! the new record and the actions that became due, or a typed [`TransitionError`]; it never
//! panics and never performs I/O. The caller persists the event and the new record in one
//! transaction and only then carries out the actions (persist, then act). [`fold`] replays a
//! log and must give the same record as applying its events one by one.
//!
//! This module must never let an action through that the rules in `rules` did not produce.

mod action;
mod event;
mod rules;
mod state;

pub use action::{Action, Alert};
pub use event::{Event, MAX_NOTE_LEN, OperatorCommand, PresignedClaim, Side, SpendKind};
pub use state::{
    ExpiredReason, KnownSecret, LockRecord, OperatorReason, SecretSource, SpendRecord, Swap,
    SwapState,
};

use thiserror::Error;

use crate::chain::{Chain, LockId, TxId};
use crate::order::{Direction, LockTerms, Terms};
use crate::time::Clock;
use crate::timelock::{TimelockError, may_maker_reveal, may_resolver_lock_dst};
use crate::validate::{TermsError, check_terms};

/// The result of a successful [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The new record.
    pub swap: Swap,
    /// What to do once the event and record are persisted, in order.
    pub actions: Vec<Action>,
}

/// Why the maker's reveal is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RevealRefusal {
    /// A lock is missing or not final yet.
    #[error("the {0:?} lock is not final")]
    NotFinal(Side),
    /// A lock is wrong (amount, lateness, double funding).
    #[error("the swap has a problem: {0:?}")]
    Problem(OperatorReason),
    /// An operator gave the swap up or put it on hold.
    #[error("the swap is abandoned, closed or on hold")]
    Stopped,
    /// A lock is already spent or its refund issued.
    #[error("a lock is already spent or being refunded")]
    Spent,
    /// Too little time left on dst for the claim to confirm, or src already refundable.
    #[error("too late: {0}")]
    Timelock(TimelockError),
}

/// Why an event is refused. The record is unchanged and the event must not be logged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    /// A log must start with `Created`.
    #[error("the first event of a swap must be Created")]
    NotCreated,
    /// `Created` after the start.
    #[error("the swap already exists")]
    AlreadyCreated,
    /// A second `Matched` with different terms.
    #[error("the swap is already matched with other terms")]
    AlreadyMatched,
    /// A chain event, reveal or command that needs terms, before `Matched`.
    #[error("the swap is not matched yet")]
    NotMatched,
    /// The terms do not carry the order's hashlock, amounts, keys or expiry.
    #[error("the terms do not fit the order")]
    TermsDoNotFitOrder,
    /// The terms break a rule.
    #[error("bad terms: {0}")]
    BadTerms(#[from] TermsError),
    /// The lock id, depth or amount is of the other chain than this leg.
    #[error("the {0:?} leg is on another chain")]
    WrongChain(Side),
    /// A spend or unconfirmation of a lock not recorded (report the lock first).
    #[error("unknown {side:?} lock {lock:?}")]
    UnknownLock {
        /// Which leg.
        side: Side,
        /// The lock.
        lock: LockId,
    },
    /// An unconfirmation of a spend not recorded.
    #[error("unknown spend {0:?}")]
    UnknownSpend(TxId),
    /// A lock reported again with another amount: its id commits to its amount.
    #[error("lock {0:?} reported with another amount")]
    LockAmountChanged(LockId),
    /// A secret that does not open the hashlock.
    #[error("the secret does not match the hashlock")]
    BadSecret,
    /// A second spend of a lock whose first spend is confirmed (report the reorg first), or a
    /// spend whose kind changed.
    #[error("conflicting spend of {0:?}")]
    ConflictingSpend(LockId),
    /// ETH -> BTC reveal without the maker's pre-signed BTC claim.
    #[error("an ETH -> BTC reveal must carry the maker's signed claim")]
    MissingMakerClaim,
    /// BTC -> ETH reveal with a BTC claim, which has no use there.
    #[error("a BTC -> ETH reveal carries no BTC claim")]
    UnexpectedMakerClaim,
    /// The reveal came before the rules allow it; the secret is not stored or handed on.
    #[error("reveal refused: {0}")]
    RevealRefused(RevealRefusal),
    /// `ForceRefund` while the maker could still claim dst.
    #[error("cannot force a refund while the maker's dst claim can still be mined")]
    ForceRefundRefused,
    /// `Resolve { close: false }` without a hold.
    #[error("the swap is not on hold")]
    NoHold,
    /// `Resolve { close: true }` outside `NeedsOperator`.
    #[error("only a swap that needs an operator can be closed")]
    NotNeedsOperator,
    /// `Resolve { close: true }` while a claim of ours is due: closing would lose it.
    #[error("cannot close while a claim is due")]
    CloseWouldDropClaim,
    /// A command to a closed swap.
    #[error("the swap is closed")]
    Closed,
    /// A note over [`MAX_NOTE_LEN`].
    #[error("note longer than {MAX_NOTE_LEN} bytes")]
    NoteTooLong,
}

/// Why replaying a log failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("event {index}: {error}")]
pub struct ReplayError {
    /// Position of the refused event in the log.
    pub index: usize,
    /// Why it was refused.
    pub error: TransitionError,
}

/// Start a swap from its `Created` event.
pub fn create(event: &Event) -> Result<Swap, TransitionError> {
    match event {
        Event::Created { id, order, at } => Ok(Swap::new(*id, order.clone(), *at)),
        _ => Err(TransitionError::NotCreated),
    }
}

/// Replay a log. A stored log holds only events `apply` accepted, so any error means the log is
/// corrupt or was written by incompatible code.
pub fn fold(events: &[Event]) -> Result<Swap, ReplayError> {
    let (first, rest) = events.split_first().ok_or(ReplayError {
        index: 0,
        error: TransitionError::NotCreated,
    })?;
    let mut swap = create(first).map_err(|error| ReplayError { index: 0, error })?;
    for (i, e) in rest.iter().enumerate() {
        swap = apply(&swap, e)
            .map_err(|error| ReplayError {
                index: i + 1,
                error,
            })?
            .swap;
    }
    Ok(swap)
}

impl Swap {
    /// [`apply`] as a method.
    pub fn apply(&self, event: &Event) -> Result<Transition, TransitionError> {
        apply(self, event)
    }
}

fn advance(clock: &mut Clock, to: &Clock) {
    // Bitcoin's tip may go down in a reorg; Ethereum time and the wall clock do not go back.
    clock.btc_tip = to.btc_tip;
    clock.eth_time = clock.eth_time.max(to.eth_time);
    clock.wall = clock.wall.max(to.wall);
}

fn terms_fit_order(s: &Swap, t: &Terms) -> bool {
    let o = &s.order;
    let keys_fit = match (o.direction(), &t.src, &t.dst) {
        (Direction::BtcToEth, LockTerms::Btc(h), LockTerms::Eth(e)) => {
            h.refund_pubkey == o.maker_btc_pubkey && e.receiver == o.maker_eth_address
        }
        (Direction::EthToBtc, LockTerms::Eth(e), LockTerms::Btc(h)) => {
            h.claim_pubkey == o.maker_btc_pubkey && e.sender == o.maker_eth_address
        }
        _ => false,
    };
    keys_fit
        && t.network == o.network
        && t.hashlock == o.hashlock
        && t.quote_expires == o.quote_expires
        && t.src.amount() == o.give
        && t.dst.amount() == o.take
}

fn check_chain(side: Side, lt: &LockTerms, chains: &[Chain]) -> Result<(), TransitionError> {
    if chains.iter().all(|c| *c == lt.chain()) {
        Ok(())
    } else {
        Err(TransitionError::WrongChain(side))
    }
}

fn find(s: &mut Swap, side: Side, lock: LockId) -> Result<&mut LockRecord, TransitionError> {
    s.leg_mut(side)
        .iter_mut()
        .find(|l| l.id == lock)
        .ok_or(TransitionError::UnknownLock { side, lock })
}

/// Why the maker may not reveal now, if so.
pub fn reveal_refusal(s: &Swap) -> Option<RevealRefusal> {
    let terms = s.terms.as_ref()?;
    if s.abandoned || s.closed || s.hold.is_some() {
        return Some(RevealRefusal::Stopped);
    }
    if let Some(p) = s.src_problem().or_else(|| s.dst_problem()) {
        return Some(RevealRefusal::Problem(p));
    }
    for side in [Side::Src, Side::Dst] {
        if !s.main_lock_final(side) {
            return Some(RevealRefusal::NotFinal(side));
        }
        if s.main_lock(side)
            .is_some_and(|l| l.spend.is_some() || l.refund_issued)
        {
            return Some(RevealRefusal::Spent);
        }
    }
    if terms.src.refund_open(&s.clock) {
        return Some(RevealRefusal::Timelock(TimelockError::DstTooSoon {
            left: crate::time::Secs(0),
            min: terms.network.params().reveal_min_dst_secs,
        }));
    }
    may_maker_reveal(terms, &s.clock, terms.network.params())
        .err()
        .map(RevealRefusal::Timelock)
}

/// Record the decision not to lock dst once src is final and correct but time has run out.
fn note_lock_refusal(s: &mut Swap) {
    let Some(terms) = s.terms else { return };
    let undecided = s.dst.is_empty()
        && !s.dst_lock_issued
        && s.dst_lock_refused.is_none()
        && !s.abandoned
        && s.hold.is_none()
        && s.secret.is_none()
        && s.src_problem().is_none()
        && s.main_lock_final(Side::Src);
    if undecided && let Err(e) = may_resolver_lock_dst(&terms, &s.clock, terms.network.params()) {
        s.dst_lock_refused = Some(e);
    }
}

fn mark_issued(s: &mut Swap, actions: &[Action]) {
    for a in actions {
        let (side, lock, claim) = match a {
            Action::LockDst { .. } => {
                s.dst_lock_issued = true;
                continue;
            }
            Action::ClaimSrc { lock, .. } => (Side::Src, lock, true),
            Action::ClaimDst { lock, .. } | Action::BroadcastMakerClaim { lock, .. } => {
                (Side::Dst, lock, true)
            }
            Action::RefundSrc { lock, .. } => (Side::Src, lock, false),
            Action::RefundDst { lock, .. } => (Side::Dst, lock, false),
            Action::HandSecretOn { .. } | Action::Alert { .. } | Action::NeedsOperator { .. } => {
                continue;
            }
        };
        if let Some(l) = s.leg_mut(side).iter_mut().find(|l| l.id == *lock) {
            if claim {
                l.claim_issued = true;
            } else {
                l.refund_issued = true;
            }
        }
    }
}

/// Apply one event. On success the caller appends the event to the log, stores the new record,
/// and then carries out the actions. On error nothing changes and the event is not logged.
pub fn apply(swap: &Swap, event: &Event) -> Result<Transition, TransitionError> {
    let mut n = swap.clone();
    let mut alerts = Vec::new();
    let mut retry = false;
    match event {
        Event::Created { .. } => return Err(TransitionError::AlreadyCreated),
        Event::Matched { terms, at } => {
            if let Some(t) = &n.terms {
                return if t == terms {
                    Ok(Transition {
                        swap: n,
                        actions: Vec::new(),
                    })
                } else {
                    Err(TransitionError::AlreadyMatched)
                };
            }
            if !terms_fit_order(&n, terms) {
                return Err(TransitionError::TermsDoNotFitOrder);
            }
            advance(&mut n.clock, at);
            check_terms(terms, &n.clock)?;
            n.terms = Some(*terms);
        }
        Event::Tick { clock } => advance(&mut n.clock, clock),
        Event::LockSeen {
            side,
            lock,
            amount,
            depth,
            seen_at,
        } => {
            let terms = n.terms.ok_or(TransitionError::NotMatched)?;
            let lt = n.lock_terms(*side).ok_or(TransitionError::NotMatched)?;
            check_chain(
                *side,
                lt,
                &[lock.chain(), depth.chain(), amount.asset().chain()],
            )?;
            n.clock.wall = n.clock.wall.max(*seen_at);
            let leg = n.leg_mut(*side);
            if let Some(l) = leg.iter_mut().find(|l| l.id == *lock) {
                if l.amount != *amount {
                    return Err(TransitionError::LockAmountChanged(*lock));
                }
                l.depth = if l.gone { *depth } else { l.depth.max(*depth) };
                l.gone = false;
            } else {
                leg.push(LockRecord {
                    id: *lock,
                    amount: *amount,
                    depth: *depth,
                    late: *seen_at >= terms.quote_expires,
                    gone: false,
                    spend: None,
                    claim_issued: false,
                    refund_issued: false,
                });
            }
        }
        Event::LockUnconfirmed { side, lock, depth } => {
            let lt = *n.lock_terms(*side).ok_or(TransitionError::NotMatched)?;
            if let Some(d) = depth {
                check_chain(*side, &lt, &[d.chain()])?;
            }
            let l = find(&mut n, *side, *lock)?;
            let was_settled = !l.gone && l.depth.is_settled();
            match depth {
                Some(d) if *d >= l.depth || l.gone => {}
                Some(d) => l.depth = *d,
                None => {
                    // The spend went with it.
                    l.gone = true;
                    l.spend = None;
                }
            }
            alerts.push(reorg_alert(&mut n, *side, *lock, was_settled));
        }
        Event::SpendSeen {
            side,
            lock,
            tx,
            kind,
            depth,
        } => {
            let terms = n.terms.ok_or(TransitionError::NotMatched)?;
            let lt = *n.lock_terms(*side).ok_or(TransitionError::NotMatched)?;
            check_chain(*side, &lt, &[lock.chain(), depth.chain()])?;
            if let SpendKind::Claim { secret } = kind
                && !terms.hashlock.opens_with(secret)
            {
                return Err(TransitionError::BadSecret);
            }
            let l = find(&mut n, *side, *lock)?;
            if l.gone {
                // Out of order: the lock must be reported back first.
                return Err(TransitionError::UnknownLock {
                    side: *side,
                    lock: *lock,
                });
            }
            match &mut l.spend {
                Some(sp) if sp.tx == *tx => {
                    if sp.kind != *kind {
                        return Err(TransitionError::ConflictingSpend(*lock));
                    }
                    sp.depth = sp.depth.max(*depth);
                }
                Some(sp) if sp.depth.is_confirmed() => {
                    return Err(TransitionError::ConflictingSpend(*lock));
                }
                _ => {
                    l.spend = Some(SpendRecord {
                        tx: *tx,
                        kind: kind.clone(),
                        depth: *depth,
                    });
                }
            }
            if let SpendKind::Claim { secret } = kind
                && n.secret.is_none()
            {
                n.secret = Some(KnownSecret {
                    secret: secret.clone(),
                    source: SecretSource::Chain,
                });
            }
        }
        Event::SpendUnconfirmed {
            side,
            lock,
            tx,
            depth,
        } => {
            let lt = *n.lock_terms(*side).ok_or(TransitionError::NotMatched)?;
            if let Some(d) = depth {
                check_chain(*side, &lt, &[d.chain()])?;
            }
            let l = find(&mut n, *side, *lock)?;
            let sp = l
                .spend
                .as_mut()
                .filter(|sp| sp.tx == *tx)
                .ok_or(TransitionError::UnknownSpend(*tx))?;
            let was_settled = sp.depth.is_settled();
            match depth {
                Some(d) if *d >= sp.depth => {}
                Some(d) => sp.depth = *d,
                None => l.spend = None,
            }
            alerts.push(reorg_alert(&mut n, *side, *lock, was_settled));
        }
        Event::SecretRevealed {
            secret,
            maker_claim,
        } => {
            let terms = n.terms.ok_or(TransitionError::NotMatched)?;
            if !terms.hashlock.opens_with(secret) {
                return Err(TransitionError::BadSecret);
            }
            match (terms.direction(), maker_claim) {
                (Direction::EthToBtc, None) => return Err(TransitionError::MissingMakerClaim),
                (Direction::EthToBtc, Some(c)) if c.fee_ladder.is_empty() => {
                    return Err(TransitionError::MissingMakerClaim);
                }
                (Direction::BtcToEth, Some(_)) => {
                    return Err(TransitionError::UnexpectedMakerClaim);
                }
                _ => {}
            }
            if n.secret.is_some() {
                // A repeated reveal is harmless; the first one stands.
                return Ok(Transition {
                    swap: n,
                    actions: Vec::new(),
                });
            }
            if let Some(r) = reveal_refusal(&n) {
                return Err(TransitionError::RevealRefused(r));
            }
            n.secret = Some(KnownSecret {
                secret: secret.clone(),
                source: SecretSource::Maker {
                    maker_claim: maker_claim.clone(),
                },
            });
        }
        Event::Operator(cmd) => {
            if n.terms.is_none() && !matches!(cmd, OperatorCommand::Annotate { .. }) {
                return Err(TransitionError::NotMatched);
            }
            match cmd {
                OperatorCommand::Retry => retry = true,
                OperatorCommand::Annotate { note } => {
                    if note.len() > MAX_NOTE_LEN {
                        return Err(TransitionError::NoteTooLong);
                    }
                    n.notes.push(note.clone());
                }
                OperatorCommand::ForceRefund => {
                    if n.closed {
                        return Err(TransitionError::Closed);
                    }
                    if maker_can_still_claim_dst(&n) {
                        return Err(TransitionError::ForceRefundRefused);
                    }
                    n.abandoned = true;
                }
                OperatorCommand::Resolve { close: false } => {
                    if n.hold.is_none() {
                        return Err(TransitionError::NoHold);
                    }
                    n.hold = None;
                }
                OperatorCommand::Resolve { close: true } => {
                    if n.closed {
                        return Err(TransitionError::Closed);
                    }
                    if !matches!(n.state, SwapState::NeedsOperator { .. }) {
                        return Err(TransitionError::NotNeedsOperator);
                    }
                    if rules::due(&n).iter().any(is_claim) {
                        return Err(TransitionError::CloseWouldDropClaim);
                    }
                    n.closed = true;
                }
            }
        }
    }
    note_lock_refusal(&mut n);
    let before = rules::due(swap);
    let now_due = rules::due(&n);
    let mut actions: Vec<Action> = if retry {
        now_due
    } else {
        now_due
            .into_iter()
            .filter(|a| !before.contains(a))
            .collect()
    };
    mark_issued(&mut n, &actions);
    actions.extend(alerts);
    n.state = state::derive(&n);
    if n.state != swap.state
        && let SwapState::NeedsOperator { reason } = n.state
    {
        actions.push(Action::NeedsOperator { reason });
    }
    Ok(Transition { swap: n, actions })
}

fn is_claim(a: &Action) -> bool {
    matches!(
        a,
        Action::ClaimSrc { .. } | Action::ClaimDst { .. } | Action::BroadcastMakerClaim { .. }
    )
}

/// The secret is known and the maker's dst claim could still be mined: refunding dst now
/// could take the maker's funds.
fn maker_can_still_claim_dst(s: &Swap) -> bool {
    let (Some(terms), Some(d)) = (&s.terms, s.main_lock(Side::Dst)) else {
        return false;
    };
    s.secret.is_some() && !d.is_claimed() && terms.dst.claim_can_win(&s.clock)
}

fn reorg_alert(s: &mut Swap, side: Side, lock: LockId, was_settled: bool) -> Action {
    if was_settled {
        s.hold = Some(OperatorReason::DeepReorg);
        Action::Alert {
            alert: Alert::DeepReorg { side, lock },
        }
    } else {
        Action::Alert {
            alert: Alert::Reorged { side, lock },
        }
    }
}
