//! The inputs of the state machine: everything that can happen to a swap, as an event that is
//! appended to the swap's log before anything acts on it.
//!
//! Owns the event vocabulary only. It must never carry a derived fact: an event is what a
//! watcher, the maker, the clock or an operator reported, so that replaying the log re-derives
//! every decision.

use crate::amount::Amount;
use crate::chain::{LockId, TxId};
use crate::finality::Depth;
use crate::order::{Order, Terms};
use crate::secret::{Secret, SwapId};
use crate::time::{Clock, UnixTime};

/// Which leg of the swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The maker's lock.
    Src,
    /// The resolver's lock.
    Dst,
}

/// How a lock was spent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpendKind {
    /// Through the hashlock path; the secret is read out of the witness or the `Claimed` log,
    /// whoever broadcast it.
    Claim {
        /// The preimage the spend revealed.
        secret: Secret,
    },
    /// Through the timeout path.
    Refund,
}

/// The maker's pre-signed claims of a Bitcoin dst HTLC (ETH -> BTC), one raw transaction per
/// fee rate, cheapest first, so the service can bump while the maker is offline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PresignedClaim {
    /// Raw signed transactions; opaque to the core.
    pub fee_ladder: Vec<Vec<u8>>,
}

/// What an operator can tell a swap (`swapctl`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperatorCommand {
    /// Re-issue every action currently due (after a crash or a lost broadcast). Harmless.
    Retry,
    /// Give up on the forward path: never lock dst or accept a reveal; refund every lock once
    /// its timeout allows. Refused while the maker could still claim dst.
    ForceRefund,
    /// Attach a note to the swap's record.
    Annotate {
        /// Free text, at most [`MAX_NOTE_LEN`] bytes.
        note: String,
    },
    /// Settle a `NeedsOperator` state.
    Resolve {
        /// `false`: the cause of an operator hold is dealt with, resume automatic handling.
        /// `true`: the operator takes the remaining funds over by hand; the swap is closed and
        /// issues no more actions. Refused while a claim of ours is due.
        close: bool,
    },
}

/// Longest note an operator may attach.
pub const MAX_NOTE_LEN: usize = 1_000;

/// One entry of a swap's append-only log.
// Events are built once and appended to a log; boxing the order would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The relayer accepted an order. Always the first event.
    Created {
        /// The swap's id.
        id: SwapId,
        /// The validated order.
        order: Order,
        /// The clock when it was accepted.
        at: Clock,
    },
    /// A resolver was matched and both locks' parameters fixed.
    Matched {
        /// The parameters.
        terms: Terms,
        /// The clock at matching, against which the terms are checked.
        at: Clock,
    },
    /// Time passed: new chain tips or wall clock. Bitcoin's tip may go down in a reorg.
    Tick {
        /// Now.
        clock: Clock,
    },
    /// A lock paying this leg's HTLC or escrow was seen, or seen deeper. Depth only ever
    /// increases through this event (a late report of a shallower depth is ignored); use
    /// [`Event::LockUnconfirmed`] to move it back.
    LockSeen {
        /// Which leg.
        side: Side,
        /// Outpoint or escrow id.
        lock: LockId,
        /// What it holds.
        amount: Amount,
        /// How deep it is.
        depth: Depth,
        /// When the watcher first saw it (wall clock); a lock first seen at or after the quote
        /// expiry is late and never locked against.
        seen_at: UnixTime,
    },
    /// A reorg or mempool eviction: the lock is shallower than reported, or gone (`None`).
    LockUnconfirmed {
        /// Which leg.
        side: Side,
        /// Outpoint or escrow id.
        lock: LockId,
        /// The new depth, or `None` if it is in neither chain nor mempool.
        depth: Option<Depth>,
    },
    /// A spend of a lock was seen, or seen deeper (same monotonic rule as `LockSeen`).
    SpendSeen {
        /// Which leg.
        side: Side,
        /// The lock spent, matched by outpoint or escrow id, never by txid.
        lock: LockId,
        /// The spending transaction.
        tx: TxId,
        /// Claim (with the secret) or refund.
        kind: SpendKind,
        /// How deep it is.
        depth: Depth,
    },
    /// A reorg or eviction of a spend.
    SpendUnconfirmed {
        /// Which leg.
        side: Side,
        /// The lock.
        lock: LockId,
        /// The spending transaction.
        tx: TxId,
        /// The new depth, or `None` if gone.
        depth: Option<Depth>,
    },
    /// The maker's client revealed the secret to the relayer (with its pre-signed claim for a
    /// Bitcoin dst). Refused unless the rules allow a reveal now.
    SecretRevealed {
        /// The preimage.
        secret: Secret,
        /// Required for ETH -> BTC, refused for BTC -> ETH.
        maker_claim: Option<PresignedClaim>,
    },
    /// An operator command.
    Operator(OperatorCommand),
}
