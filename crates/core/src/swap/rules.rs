//! Which actions a swap's record makes due. The safety rules of the protocol live here, each in
//! one place: when dst may be locked, when claims start, when a refund may be issued.
//!
//! Owns the mapping from a [`Swap`] record to the set of actions due now. It is level-based:
//! `apply` issues only the actions that became due, and `Retry` all of them. It must never
//! issue a refund while a claim of ours on the same lock can still win, or a claim after a
//! refund of it was issued.

use crate::chain::Chain;
use crate::order::{Direction, LockTerms, Terms};
use crate::swap::action::{Action, Alert};
use crate::swap::event::Side;
use crate::swap::state::{LockRecord, SecretSource, Swap};
use crate::time::Bias;
use crate::timelock::{
    Escalation, blocks_left, escalation, may_resolver_lock_dst, must_alert, time_left,
};

/// The actions due for `s` now, in a stable order.
pub(crate) fn due(s: &Swap) -> Vec<Action> {
    let mut out = Vec::new();
    let Some(terms) = &s.terms else {
        return out;
    };
    if s.closed {
        return out;
    }
    if lock_dst_allowed(s, terms) {
        out.push(Action::LockDst { terms: terms.dst });
    }
    claims(s, terms, &mut out);
    refunds(s, terms, &mut out);
    for (side, l) in s.open_strays() {
        out.push(Action::Alert {
            alert: Alert::StrayLock { side, lock: l.id },
        });
    }
    out
}

/// Src final and correct, no dst yet, no hold, and the timelocks allow it.
pub(crate) fn lock_dst_allowed(s: &Swap, terms: &Terms) -> bool {
    let Some(src) = s.main_lock(Side::Src) else {
        return false;
    };
    !s.abandoned
        && s.hold.is_none()
        && s.secret.is_none()
        && s.dst.is_empty()
        && s.dst_lock_refused.is_none()
        && s.src_problem().is_none()
        && s.main_lock_final(Side::Src)
        && src.spend.is_none()
        && !terms.src.refund_open(&s.clock)
        && may_resolver_lock_dst(terms, &s.clock, terms.network.params()).is_ok()
}

/// A claim of `l` may be (re)issued: unspent, or its claim not yet in a block; never after a
/// refund was issued; only while it can still be mined.
fn claimable(l: &LockRecord, lt: &LockTerms, s: &Swap) -> bool {
    let pending = match &l.spend {
        None => true,
        Some(sp) => l.is_claimed() && !sp.depth.is_confirmed(),
    };
    pending && !l.gone && !l.refund_issued && lt.claim_can_win(&s.clock)
}

fn esc(spend_chain: Chain, deadline: &LockTerms, s: &Swap) -> Escalation {
    escalation(blocks_left(spend_chain, deadline, &s.clock))
}

fn alert_if_late(
    side: Side,
    l: &LockRecord,
    e: Escalation,
    deadline: &LockTerms,
    s: &Swap,
    out: &mut Vec<Action>,
) {
    if must_alert(e, time_left(deadline, &s.clock, Bias::Min)) {
        out.push(Action::Alert {
            alert: Alert::SpendNearDeadline { side, lock: l.id },
        });
    }
}

fn claims(s: &Swap, terms: &Terms, out: &mut Vec<Action>) {
    let Some(known) = &s.secret else {
        return;
    };
    let secret = known.secret.clone();
    out.push(Action::HandSecretOn {
        secret: secret.clone(),
    });
    let dir = terms.direction();
    // dst: claimed for the maker, the moment the secret is known.
    if let Some(d) = s.main_lock(Side::Dst)
        && s.dst_problem().is_none()
        && claimable(d, &terms.dst, s)
    {
        let e = esc(terms.dst.chain(), &terms.dst, s);
        match dir {
            Direction::BtcToEth => out.push(Action::ClaimDst {
                lock: d.id,
                secret: secret.clone(),
                escalation: e,
            }),
            Direction::EthToBtc => {
                if let SecretSource::Maker {
                    maker_claim: Some(claim),
                } = &known.source
                {
                    out.push(Action::BroadcastMakerClaim {
                        lock: d.id,
                        claim: claim.clone(),
                        escalation: e,
                    });
                }
            }
        }
        alert_if_late(Side::Dst, d, e, &terms.dst, s, out);
    }
    // src: ours. In BTC -> ETH only once the maker's dst claim is seen, so the maker is paid
    // first; in ETH -> BTC at once, because nobody can beat the maker's BTC claim once we know
    // the secret (we never refund a BTC lock whose secret we know).
    let dst = s.main_lock(Side::Dst);
    let dst_claim_seen = dst.is_some_and(LockRecord::is_claimed);
    let dst_locked = s.main_lock_final(Side::Dst) && s.dst_problem().is_none();
    if let Some(l) = s.main_lock(Side::Src)
        && s.src_problem().is_none()
        && (dst_claim_seen || (dir == Direction::EthToBtc && dst_locked))
        && claimable(l, &terms.src, s)
    {
        let e = esc(terms.src.chain(), &terms.src, s);
        out.push(Action::ClaimSrc {
            lock: l.id,
            secret,
            escalation: e,
        });
        alert_if_late(Side::Src, l, e, &terms.src, s, out);
    }
}

fn refunds(s: &Swap, terms: &Terms, out: &mut Vec<Action>) {
    for side in [Side::Src, Side::Dst] {
        let lt = match side {
            Side::Src => &terms.src,
            Side::Dst => &terms.dst,
        };
        for (i, l) in s.leg(side).iter().enumerate() {
            if !refund_allowed(s, lt, l, i == 0) {
                continue;
            }
            let e = match side {
                // Our dst refund races the maker's src refund: it must land before src times out.
                Side::Dst => esc(lt.chain(), &terms.src, s),
                // The maker's refund races nobody.
                Side::Src => escalation(u32::MAX),
            };
            out.push(match side {
                Side::Src => Action::RefundSrc {
                    lock: l.id,
                    escalation: e,
                },
                Side::Dst => Action::RefundDst {
                    lock: l.id,
                    escalation: e,
                },
            });
            if side == Side::Dst {
                alert_if_late(side, l, e, &terms.src, s, out);
            }
        }
    }
}

/// The refund rule. A stray lock is never claimed, so it is refunded once its timeout allows.
/// The swap's own lock is refunded only when the secret is unknown (or an operator gave up and
/// no claim can be mined any more), and never while a claim we issued can still win.
fn refund_allowed(s: &Swap, lt: &LockTerms, l: &LockRecord, is_main: bool) -> bool {
    let pending = match &l.spend {
        None => true,
        Some(sp) => l.is_refunded() && !sp.depth.is_confirmed(),
    };
    if l.gone || !pending || !lt.refund_open(&s.clock) {
        return false;
    }
    if l.claim_issued && lt.claim_can_win(&s.clock) {
        return false;
    }
    if is_main && s.secret.is_some() && (!s.abandoned || lt.claim_can_win(&s.clock)) {
        return false;
    }
    true
}
