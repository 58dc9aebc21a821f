//! The outputs of the state machine: what an executor must do after the new state is persisted.
//!
//! Owns the action vocabulary. Every action is idempotent for its executor (a lock is done once
//! per swap id, a broadcast of the same spend twice is harmless), because an action may be
//! re-issued after a crash or by `Retry`. It must never carry a private key.

use crate::chain::LockId;
use crate::order::LockTerms;
use crate::secret::Secret;
use crate::swap::event::{PresignedClaim, Side};
use crate::swap::state::OperatorReason;
use crate::timelock::Escalation;

/// Something to do, issued by [`crate::swap::apply`] after the event is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// The resolver locks dst with these parameters. At most one dst lock per swap id; the
    /// resolver re-checks [`crate::timelock::may_resolver_lock_dst`] right before signing.
    LockDst {
        /// The dst lock to create.
        terms: LockTerms,
    },
    /// Hand the maker's secret to the resolver.
    HandSecretOn {
        /// The secret.
        secret: Secret,
    },
    /// BTC -> ETH: call the escrow's `claim` for the maker (it pays the maker's address).
    ClaimDst {
        /// The escrow.
        lock: LockId,
        /// The preimage.
        secret: Secret,
        /// Where on the fee schedule; a new value means re-bump.
        escalation: Escalation,
    },
    /// ETH -> BTC: broadcast the maker's pre-signed claim of the BTC dst HTLC, choosing the rung
    /// of the ladder that fits the escalation.
    BroadcastMakerClaim {
        /// The HTLC outpoint.
        lock: LockId,
        /// The maker's ladder.
        claim: PresignedClaim,
        /// Where on the fee schedule.
        escalation: Escalation,
    },
    /// The resolver claims the src lock with the secret.
    ClaimSrc {
        /// The src lock.
        lock: LockId,
        /// The preimage.
        secret: Secret,
        /// Where on the fee schedule.
        escalation: Escalation,
    },
    /// Refund a src lock to the maker: the escrow's `refund` (anyone may call) for ETH; for a
    /// BTC HTLC the maker's client signs it, so the relayer tells the maker.
    RefundSrc {
        /// The lock.
        lock: LockId,
        /// Where on the fee schedule.
        escalation: Escalation,
    },
    /// The resolver refunds its dst lock.
    RefundDst {
        /// The lock.
        lock: LockId,
        /// Where on the fee schedule.
        escalation: Escalation,
    },
    /// Page someone.
    Alert {
        /// What.
        alert: Alert,
    },
    /// The swap entered a state only a person can settle; show it in `swapctl`.
    NeedsOperator {
        /// Why.
        reason: OperatorReason,
    },
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alert {
    /// A claim or refund of ours is still unconfirmed close to its deadline.
    SpendNearDeadline {
        /// Which leg.
        side: Side,
        /// Which lock.
        lock: LockId,
    },
    /// A lock beyond the one the swap uses: it must be refunded.
    StrayLock {
        /// Which leg.
        side: Side,
        /// Which lock.
        lock: LockId,
    },
    /// A lock or spend that had reached finality was reorged.
    DeepReorg {
        /// Which leg.
        side: Side,
        /// Which lock.
        lock: LockId,
    },
    /// A lock or spend was reorged or dropped (shallow); handled automatically.
    Reorged {
        /// Which leg.
        side: Side,
        /// Which lock.
        lock: LockId,
    },
}
