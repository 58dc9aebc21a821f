//! A swap's record and the state it is in.
//!
//! Owns [`Swap`] (everything known about one swap, enough to resume it from nothing) and the
//! derivation of its [`SwapState`], a past-tense fact from `protocol.md`. The state is a pure
//! function of the record, so a reorg that removes a fact moves the state back by itself. This
//! module must never decide an action; `rules` does.

use crate::amount::Amount;
use crate::chain::LockId;
use crate::chain::TxId;
use crate::fees::{MismatchKind, check_lock_amount};
use crate::finality::Depth;
use crate::order::{LockTerms, Order, Terms};
use crate::secret::{Secret, SwapId};
use crate::swap::event::{PresignedClaim, Side, SpendKind};
use crate::time::Clock;
use crate::timelock::TimelockError;

/// Where a swap is: the last fact that holds. Terminal: `Completed`, `Refunded`, `Expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwapState {
    /// The order is accepted; no resolver yet.
    Created,
    /// A resolver is matched; the src lock is awaited.
    Matched,
    /// The src lock is seen but not final.
    SrcLockSeen,
    /// The src lock is final.
    SrcLocked,
    /// The dst lock is seen but not final.
    DstLockSeen,
    /// Both locks are final: the maker may reveal.
    DstLocked,
    /// The secret is known; claims are under way.
    SecretRevealed,
    /// dst is claimed (the maker is paid).
    DstClaimed,
    /// src is claimed too; waiting for both claims to settle.
    SrcClaimed,
    /// Both claims settled. Terminal.
    Completed,
    /// Nothing was locked in time, or an operator closed the swap. Terminal.
    Expired {
        /// Why.
        reason: ExpiredReason,
    },
    /// The resolver's dst lock is refunded (src refund pending).
    DstRefunded,
    /// The src lock is refunded to the maker (settling).
    SrcRefunded,
    /// Every lock is refunded and settled. Terminal.
    Refunded,
    /// Something only a person can settle; automatic refunds and claims still run.
    NeedsOperator {
        /// Why.
        reason: OperatorReason,
    },
}

impl SwapState {
    /// `Completed`, `Refunded` or `Expired`.
    pub const fn is_terminal(&self) -> bool {
        matches!(
            self,
            SwapState::Completed | SwapState::Refunded | SwapState::Expired { .. }
        )
    }
}

/// Why a swap expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExpiredReason {
    /// The quote expired before a resolver was matched.
    NeverMatched,
    /// The quote expired before the src lock was seen.
    NeverFunded,
    /// An operator closed the swap and took the rest over by hand.
    ClosedByOperator,
}

/// Why a person must look at a swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorReason {
    /// The src lock holds the wrong amount: no dst lock; refunded at the src timeout.
    SrcAmount(MismatchKind),
    /// The src lock was first seen after the quote expired: no dst lock; refunded.
    LateFunding,
    /// More than one src lock before dst was locked: no dst lock; all refunded.
    DoubleFunding,
    /// The dst lock holds the wrong amount: the maker must not reveal; both refunded.
    DstAmount(MismatchKind),
    /// A dst lock exists without a src lock (src reorged out, or the resolver jumped ahead).
    DstWithoutSrc,
    /// The src lock became final too late to lock dst safely: refunded at the src timeout.
    TooLateToLockDst(TimelockError),
    /// The secret is known but dst is unclaimed at its timeout. Ethereum: the claim can no
    /// longer be mined, so the maker's dst leg is lost unless a person acts (`ForceRefund`
    /// returns dst to the resolver; src then stays the maker's to refund). Bitcoin: the maker
    /// can still claim and we never refund; a person decides when to stop watching.
    DstClaimMissed,
    /// dst was claimed but our src claim can no longer be mined.
    SrcClaimMissed,
    /// The secret is out (a src claim was seen) while no dst lock exists: nothing automatic
    /// is safe; the maker may be owed dst.
    SecretWithoutDst,
    /// dst was claimed and src refunded: the service lost both legs.
    ServiceLostBothLegs,
    /// src was claimed and dst refunded: the maker lost both legs.
    MakerLostBothLegs,
    /// The swap is done but extra locks still hold funds; refunded at their timeouts.
    StrayLocks,
    /// A lock or spend that had reached finality was reorged; `Resolve { close: false }`
    /// resumes once a person has looked.
    DeepReorg,
}

/// A spend of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRecord {
    /// The spending transaction.
    pub tx: TxId,
    /// Claim or refund.
    pub kind: SpendKind,
    /// How deep.
    pub depth: Depth,
}

/// One lock seen on a leg, in the order first seen. The first is the swap's lock; any other is
/// a stray to be refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    /// Outpoint or escrow id.
    pub id: LockId,
    /// What it holds.
    pub amount: Amount,
    /// How deep.
    pub depth: Depth,
    /// First seen at or after the quote expiry.
    pub late: bool,
    /// Reorged out of chain and mempool. Kept, not removed, so that a lock keeps its place
    /// (the first is the swap's) and its issued-action flags if it comes back.
    pub gone: bool,
    /// Its spend, if seen.
    pub spend: Option<SpendRecord>,
    /// A claim of it was issued; no refund is issued while that claim can still win.
    pub claim_issued: bool,
    /// A refund of it was issued; no claim is issued after.
    pub refund_issued: bool,
}

impl LockRecord {
    /// The spend is a claim.
    pub fn is_claimed(&self) -> bool {
        matches!(
            self.spend,
            Some(SpendRecord {
                kind: SpendKind::Claim { .. },
                ..
            })
        )
    }

    /// The spend is a refund.
    pub fn is_refunded(&self) -> bool {
        matches!(
            self.spend,
            Some(SpendRecord {
                kind: SpendKind::Refund,
                ..
            })
        )
    }

    /// Gone, or spent and the spend is settled: it holds nothing left to watch.
    pub fn is_closed(&self) -> bool {
        self.gone || self.spend.as_ref().is_some_and(|s| s.depth.is_settled())
    }
}

/// Where the service learned the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The maker's client revealed it (allowed at the time).
    Maker {
        /// The pre-signed BTC claim for ETH -> BTC.
        maker_claim: Option<PresignedClaim>,
    },
    /// Read from a claim on chain.
    Chain,
}

/// The secret once known. Never forgotten, even if the claim that showed it is reorged out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSecret {
    /// The preimage.
    pub secret: Secret,
    /// Where it came from.
    pub source: SecretSource,
}

/// Everything known about one swap: the result of folding its event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// The swap's id.
    pub id: SwapId,
    /// The maker's order.
    pub order: Order,
    /// Fixed at matching.
    pub terms: Option<Terms>,
    /// The latest clock reported.
    pub clock: Clock,
    /// Src locks in the order first seen.
    pub src: Vec<LockRecord>,
    /// Dst locks in the order first seen.
    pub dst: Vec<LockRecord>,
    /// The secret, once known.
    pub secret: Option<KnownSecret>,
    /// `LockDst` was issued.
    pub dst_lock_issued: bool,
    /// We decided not to lock dst because the timelocks no longer allowed it. Sticky.
    pub dst_lock_refused: Option<TimelockError>,
    /// An operator hold (deep reorg) until `Resolve { close: false }`.
    pub hold: Option<OperatorReason>,
    /// `ForceRefund` was given.
    pub abandoned: bool,
    /// `Resolve { close: true }` was given.
    pub closed: bool,
    /// Operator notes.
    pub notes: Vec<String>,
    /// The derived state, kept in step with the facts above.
    pub state: SwapState,
}

impl Swap {
    /// A new swap from its `Created` event.
    pub fn new(id: SwapId, order: Order, at: Clock) -> Swap {
        let mut s = Swap {
            id,
            order,
            terms: None,
            clock: at,
            src: Vec::new(),
            dst: Vec::new(),
            secret: None,
            dst_lock_issued: false,
            dst_lock_refused: None,
            hold: None,
            abandoned: false,
            closed: false,
            notes: Vec::new(),
            state: SwapState::Created,
        };
        s.state = derive(&s);
        s
    }

    /// The actions due now, for display (`swapctl`). To act on them, apply
    /// `Event::Operator(OperatorCommand::Retry)` instead, so that the record notes what was issued.
    pub fn due_actions(&self) -> Vec<crate::swap::Action> {
        crate::swap::rules::due(self)
    }

    /// The locks of one leg.
    pub fn leg(&self, side: Side) -> &[LockRecord] {
        match side {
            Side::Src => &self.src,
            Side::Dst => &self.dst,
        }
    }

    pub(crate) fn leg_mut(&mut self, side: Side) -> &mut Vec<LockRecord> {
        match side {
            Side::Src => &mut self.src,
            Side::Dst => &mut self.dst,
        }
    }

    /// The parameters of one leg, once matched.
    pub fn lock_terms(&self, side: Side) -> Option<&LockTerms> {
        self.terms.as_ref().map(|t| match side {
            Side::Src => &t.src,
            Side::Dst => &t.dst,
        })
    }

    /// The lock the swap uses on a leg: the first seen, unless it was reorged out.
    pub fn main_lock(&self, side: Side) -> Option<&LockRecord> {
        self.leg(side).first().filter(|l| !l.gone)
    }

    /// Whether the lock the swap uses on `side` is final under the swap's finality policy.
    pub fn main_lock_final(&self, side: Side) -> bool {
        match (&self.terms, self.main_lock(side)) {
            (Some(t), Some(l)) => t.finality.is_final(&l.amount, l.depth),
            _ => false,
        }
    }

    /// Why the src side may not be locked against, if it may not.
    pub fn src_problem(&self) -> Option<OperatorReason> {
        let terms = self.terms.as_ref()?;
        let main = self.main_lock(Side::Src)?;
        if main.late {
            return Some(OperatorReason::LateFunding);
        }
        if let Err(e) = check_lock_amount(terms.src.amount(), main.amount) {
            return Some(OperatorReason::SrcAmount(e.kind()));
        }
        if self.src.iter().filter(|l| !l.gone).count() > 1 && !self.dst_lock_issued {
            return Some(OperatorReason::DoubleFunding);
        }
        None
    }

    /// Why the dst lock must not be revealed against, if so.
    pub fn dst_problem(&self) -> Option<OperatorReason> {
        let terms = self.terms.as_ref()?;
        let main = self.main_lock(Side::Dst)?;
        check_lock_amount(terms.dst.amount(), main.amount)
            .err()
            .map(|e| OperatorReason::DstAmount(e.kind()))
    }

    /// Locks other than the two the swap uses, still holding funds.
    pub fn open_strays(&self) -> impl Iterator<Item = (Side, &LockRecord)> {
        [Side::Src, Side::Dst].into_iter().flat_map(move |side| {
            self.leg(side)
                .iter()
                .skip(1)
                .filter(|l| !l.is_closed())
                .map(move |l| (side, l))
        })
    }
}

/// The state a record is in.
pub(crate) fn derive(s: &Swap) -> SwapState {
    use SwapState as S;
    if s.closed {
        return S::Expired {
            reason: ExpiredReason::ClosedByOperator,
        };
    }
    let Some(terms) = &s.terms else {
        return if s.clock.wall >= s.order.quote_expires {
            S::Expired {
                reason: ExpiredReason::NeverMatched,
            }
        } else {
            S::Created
        };
    };
    if let Some(reason) = s.hold {
        return S::NeedsOperator { reason };
    }
    let all_closed = s.src.iter().chain(&s.dst).all(LockRecord::is_closed);
    let src = s.main_lock(Side::Src);
    let dst = s.main_lock(Side::Dst);
    let needs = |reason| S::NeedsOperator { reason };

    // Losses first: they are what an operator most needs to see.
    if let (Some(a), Some(b)) = (src, dst) {
        if a.is_refunded() && b.is_claimed() {
            return needs(OperatorReason::ServiceLostBothLegs);
        }
        if a.is_claimed() && b.is_refunded() {
            return needs(OperatorReason::MakerLostBothLegs);
        }
    }
    let problem = s
        .src_problem()
        .or_else(|| s.dst_problem())
        .or_else(|| (src.is_none() && dst.is_some()).then_some(OperatorReason::DstWithoutSrc));
    if let Some(reason) = problem {
        return if all_closed {
            S::Refunded
        } else {
            needs(reason)
        };
    }
    let Some(src) = src else {
        return if s.clock.wall >= terms.quote_expires {
            S::Expired {
                reason: ExpiredReason::NeverFunded,
            }
        } else {
            S::Matched
        };
    };
    let secret_known = s.secret.is_some();
    let dst_claimed = dst.is_some_and(LockRecord::is_claimed);
    let dst_refunded = dst.is_some_and(LockRecord::is_refunded);
    // The secret is known but dst was refunded, or its claim can no longer be mined (Ethereum),
    // or is still unmined past the timeout (Bitcoin, where we never refund while the secret is
    // known): the maker has not been paid.
    let dst_missed = secret_known
        && dst.is_some_and(|d| {
            d.is_refunded()
                || (d.spend.is_none()
                    && (!terms.dst.claim_can_win(&s.clock) || terms.dst.refund_open(&s.clock)))
        });
    let main = if src.is_claimed() && dst.is_some_and(LockRecord::is_closed) && src.is_closed() {
        S::Completed
    } else if src.is_refunded() && src.is_closed() && dst.is_none_or(LockRecord::is_closed) {
        S::Refunded
    } else if src.is_claimed() && dst_claimed {
        S::SrcClaimed
    } else if dst_claimed {
        if !src.is_claimed() && !terms.src.claim_can_win(&s.clock) {
            needs(OperatorReason::SrcClaimMissed)
        } else {
            S::DstClaimed
        }
    } else if dst_missed {
        needs(OperatorReason::DstClaimMissed)
    } else if secret_known && dst.is_none() {
        needs(OperatorReason::SecretWithoutDst)
    } else if src.is_claimed() {
        S::SecretRevealed
    } else if src.is_refunded() {
        S::SrcRefunded
    } else if dst_refunded {
        S::DstRefunded
    } else if secret_known {
        S::SecretRevealed
    } else if dst.is_some() {
        if s.main_lock_final(Side::Dst) {
            S::DstLocked
        } else {
            S::DstLockSeen
        }
    } else if let Some(e) = s.dst_lock_refused {
        needs(OperatorReason::TooLateToLockDst(e))
    } else if s.main_lock_final(Side::Src) {
        S::SrcLocked
    } else {
        S::SrcLockSeen
    };
    if main.is_terminal() && s.open_strays().next().is_some() {
        return needs(OperatorReason::StrayLocks);
    }
    main
}
