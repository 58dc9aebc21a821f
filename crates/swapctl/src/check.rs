//! What the maker checks in the relayer's record before it locks anything: that the source lock
//! it is about to fund is exactly the one its order asked for, with its own refund key or
//! address and its own secret's hashlock, that the destination lock pays it, and that the
//! timelocks still let the swap finish.
//!
//! Owns turning a `Swap` record plus the maker's state entry into the lock to fund, or a
//! refusal that names the field. Pure: the caller brings the Bitcoin tip and the clock. It must
//! never trust the relayer for anything the maker can compute itself: the HTLC script is rebuilt
//! from its parameters and compared, keys and hashlocks are compared with the state file's.

use alloy::primitives::{Address, B256, U256};
use crosslock_btc::htlc::HtlcParams;
use crosslock_core::amount::{Amount, Sats};
use crosslock_core::chain::{BtcPubkey, EthAddress, Network};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::order::{LockTerms, Terms};
use crosslock_core::params::NetworkParams;
use crosslock_core::secret::Hashlock;
use crosslock_core::time::{BTC_SLOW_BLOCK_SECS, BtcHeight, Clock, Secs, UnixTime};
use crosslock_core::timelock::{TimelockError, check_windows, may_resolver_lock_dst};
use crosslock_eth::SwapParams;
use crosslock_proto::public::v1::{Direction, Swap, SwapState};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::eth::EscrowLock;
use crate::gate;
use crate::state::Entry;

/// Seconds an Ethereum lock needs, at most, to reach `safe` (two epochs) or `finalized`
/// (three epochs: the two the protocol needs plus one missed justification).
const ETH_SAFE_SECS: u64 = 2 * 32 * 12;
const ETH_FINALIZED_SECS: u64 = 3 * 32 * 12;

/// Why the maker will not fund (or reveal for) this swap. Each names what is wrong.
#[derive(Debug, Error)]
pub(crate) enum Refusal {
    /// The record is not the order this state entry made.
    #[error("the relayer's record is for a {got} swap, but this order is {want}")]
    Direction {
        /// The record's direction.
        got: &'static str,
        /// The entry's.
        want: String,
    },
    /// Not matched yet, or past funding.
    #[error("the swap is {0}; a source lock is funded only in Matched")]
    State(&'static str),
    /// The hashlock is not SHA-256 of our secret: a claim would not need our secret.
    #[error(
        "the swap's hashlock {got} is not SHA-256 of this order's secret ({want}); someone else could claim"
    )]
    Hashlock {
        /// In the record.
        got: String,
        /// SHA-256 of the stored secret.
        want: String,
    },
    /// The HTLC's refund key is not ours: we could never get the coins back.
    #[error(
        "the HTLC's refund key {got} is not this order's key {want}; the coins could never be refunded"
    )]
    RefundKey {
        /// In the record.
        got: String,
        /// Ours.
        want: String,
    },
    /// The destination HTLC's claim key is not ours: the BTC would go to someone else.
    #[error("the Bitcoin HTLC's claim key {got} is not this order's key {want}")]
    ClaimKey {
        /// In the record.
        got: String,
        /// Ours.
        want: String,
    },
    /// The HTLC parameters do not make a valid script.
    #[error("the HTLC's parameters are unusable: {0}")]
    Htlc(String),
    /// The relayer's address or script is not the HTLC of its own parameters.
    #[error(
        "the relayer's {what} {got} is not the HTLC rebuilt from the swap's parameters ({want})"
    )]
    Script {
        /// `deposit address` or `witness script`.
        what: &'static str,
        /// In the record.
        got: String,
        /// Rebuilt here.
        want: String,
    },
    /// The lock holds another amount or asset than the order.
    #[error("the {leg} lock is for {got}, but the order {verb} {want}")]
    Amount {
        /// `source` or `destination`.
        leg: &'static str,
        /// In the record.
        got: String,
        /// `pays` or `receives`.
        verb: &'static str,
        /// The order's.
        want: String,
    },
    /// An Ethereum party is not who it must be.
    #[error("the escrow lock's {role} is {got}, expected {want}")]
    Party {
        /// `sender` or `receiver`.
        role: &'static str,
        /// In the record.
        got: String,
        /// Expected.
        want: String,
    },
    /// The escrow is on another chain or at another address than configured.
    #[error("the escrow {what} is {got}, expected {want}")]
    Escrow {
        /// `chain id` or `address`.
        what: &'static str,
        /// In the record.
        got: String,
        /// Expected.
        want: String,
    },
    /// The quote expired: the resolver never locks against a funding made after it.
    #[error(
        "the order had to be funded by {fund_by} (unix), it is {now}: funding now would only lock coins until the refund"
    )]
    Expired {
        /// The record's `fund_by`.
        fund_by: u64,
        /// Now.
        now: u64,
    },
    /// The timelocks break the protocol's rules (too short, too long, or no room for the
    /// resolver to lock once our funding is final).
    #[error("timelocks: {0}")]
    Timelock(TimelockError),
    /// The Bitcoin timeout has been reached already.
    #[error("the HTLC's timeout height {timeout} is not above the chain tip {tip}")]
    TimedOut {
        /// CLTV height.
        timeout: u32,
        /// Tip now.
        tip: u32,
    },
    /// A field is missing or malformed.
    #[error("the relayer's record is incomplete: {0}")]
    Record(String),
}

fn rec(what: impl Into<String>) -> Refusal {
    Refusal::Record(what.into())
}

/// The source lock to fund, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SrcLock {
    /// BTC -> ETH.
    Btc {
        /// The HTLC, rebuilt here.
        params: HtlcParams,
        /// Exactly this many satoshis.
        amount: Sats,
    },
    /// ETH -> BTC.
    Eth(EscrowLock),
}

/// The entry's hashlock, checked against its secret (a corrupt state file is refused too).
pub(crate) fn our_hashlock(e: &Entry) -> Result<Hashlock, Refusal> {
    let secret = hex::decode(&e.secret.0).map_err(|_| rec("the stored secret is not hex"))?;
    let h: [u8; 32] = Sha256::digest(&secret).into();
    if hex::encode(h) != e.hashlock || secret.len() != 32 {
        return Err(rec("the state file's secret does not match its hashlock"));
    }
    Ok(Hashlock(h))
}

fn our_pubkey(e: &Entry) -> Result<BtcPubkey, Refusal> {
    BtcPubkey::from_hex(&e.btc_pubkey)
        .map_err(|_| rec("the state file's key is not a compressed key"))
}

fn our_address(e: &Entry) -> Result<EthAddress, Refusal> {
    EthAddress::parse(&e.eth_address).map_err(|_| rec("the state file's Ethereum address"))
}

/// The record's direction, checked against the entry's.
fn direction(swap: &Swap, e: &Entry) -> Result<Direction, Refusal> {
    let got = crate::render::direction(swap.direction);
    if got != e.direction {
        return Err(Refusal::Direction {
            got,
            want: e.direction.clone(),
        });
    }
    Direction::try_from(swap.direction).map_err(|_| rec("direction"))
}

/// The core's terms of the record, with a hashlock that must be ours.
fn terms(swap: &Swap, e: &Entry, network: Network) -> Result<Terms, Refusal> {
    let ours = our_hashlock(e)?;
    if swap.hashlock != ours.0 {
        return Err(Refusal::Hashlock {
            got: hex::encode(&swap.hashlock),
            want: hex::encode(ours.0),
        });
    }
    gate::terms(swap, network).map_err(|e| match e {
        gate::GateError::Record(s) => Refusal::Record(s),
        other => Refusal::Record(other.to_string()),
    })
}

/// The Bitcoin HTLC of the record, rebuilt from its parameters and compared with the address
/// and script the relayer gave (when it gave them).
pub(crate) fn htlc(
    swap: &Swap,
    terms: &Terms,
    network: Network,
) -> Result<(HtlcParams, Sats), Refusal> {
    let h = match (&terms.src, &terms.dst) {
        (LockTerms::Btc(h), _) | (_, LockTerms::Btc(h)) => h,
        _ => return Err(rec("bitcoin leg")),
    };
    let params =
        HtlcParams::from_core(terms.hashlock, &h.claim_pubkey, &h.refund_pubkey, h.timeout)
            .map_err(|e| Refusal::Htlc(e.to_string()))?;
    let b = swap.bitcoin.as_ref().ok_or_else(|| rec("bitcoin leg"))?;
    let want = params.address(crate::btc::network(network)).to_string();
    if !b.address.is_empty() && b.address != want {
        return Err(Refusal::Script {
            what: "deposit address",
            got: b.address.clone(),
            want,
        });
    }
    let script = params.witness_script();
    if !b.witness_script.is_empty() && b.witness_script != script.as_bytes() {
        return Err(Refusal::Script {
            what: "witness script",
            got: hex::encode(&b.witness_script),
            want: hex::encode(script.as_bytes()),
        });
    }
    Ok((params, h.amount))
}

/// The escrow leg of the record as the contract sees it.
pub(crate) fn escrow(terms: &Terms) -> Result<EscrowLock, Refusal> {
    let e = match (&terms.src, &terms.dst) {
        (LockTerms::Eth(e), _) | (_, LockTerms::Eth(e)) => e,
        _ => return Err(rec("ethereum leg")),
    };
    let (token, amount) = match e.amount {
        Amount::Eth(w) => (None, U256::from(w.0)),
        Amount::Token { token, units } => (Some(Address::from(token.0)), U256::from(units.0)),
        Amount::Btc(_) => return Err(rec("ethereum amount")),
    };
    Ok(EscrowLock {
        escrow: Address::from(e.contract.0),
        chain_id: e.chain_id.0,
        params: SwapParams {
            hashlock: B256::from(e.hashlock.0),
            sender: Address::from(e.sender.0),
            receiver: Address::from(e.receiver.0),
            token,
            amount,
            timeout: e.timeout.0,
        },
    })
}

fn amount_text(a: &Amount) -> String {
    match a {
        Amount::Btc(s) => format!("{} sat", s.0),
        Amount::Eth(w) => format!("{} wei", w.0),
        Amount::Token { token, units } => format!("{} units of {}", units.0, token.checksummed()),
    }
}

/// The order's asset on the Ethereum side, from the entry (native ETH when no token).
fn order_token(e: &Entry) -> Result<Option<EthAddress>, Refusal> {
    e.token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| EthAddress::parse(t).map_err(|_| rec("the state file's token address")))
        .transpose()
}

/// The source leg must hold exactly what the order pays, in its asset.
fn check_src_amount(swap: &Swap, e: &Entry, src: &LockTerms) -> Result<(), Refusal> {
    let want = e
        .src_amount
        .clone()
        .unwrap_or_else(|| swap.src_amount.clone());
    let got = src.amount();
    let ok = match (&got, order_token(e)?) {
        (Amount::Btc(s), _) => s.0.to_string() == want,
        (Amount::Eth(w), None) => w.0.to_string() == want,
        (Amount::Token { token, units }, Some(t)) => *token == t && units.0.to_string() == want,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let want = match (&got, order_token(e)?) {
        (Amount::Btc(_), _) => format!("{want} sat"),
        (_, None) => format!("{want} wei"),
        (_, Some(t)) => format!("{want} units of {}", t.checksummed()),
    };
    Err(Refusal::Amount {
        leg: "source",
        got: amount_text(&got),
        verb: "pays",
        want,
    })
}

/// The destination leg must give at least what was quoted, in the asset asked for.
fn check_dst_amount(e: &Entry, dst: &LockTerms) -> Result<(), Refusal> {
    let Some(want) = e.dst_amount.as_deref() else {
        return Ok(());
    };
    let want_v: u128 = want
        .parse()
        .map_err(|_| rec("the state file's dst amount"))?;
    let got = dst.amount();
    let ok = match (&got, order_token(e)?) {
        (Amount::Btc(s), _) => u128::from(s.0) >= want_v,
        (Amount::Eth(w), None) => w.0 >= want_v,
        (Amount::Token { token, units }, Some(t)) => *token == t && units.0 >= want_v,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::Amount {
            leg: "destination",
            got: amount_text(&got),
            verb: "receives",
            want: want.to_owned(),
        })
    }
}

/// The destination lock pays us: our key claims the BTC HTLC, or the escrow pays our address.
/// Checked before funding and again before the secret is revealed.
pub(crate) fn dst_pays_us(swap: &Swap, e: &Entry, network: Network) -> Result<(), Refusal> {
    direction(swap, e)?;
    let t = terms(swap, e, network)?;
    check_dst_amount(e, &t.dst)?;
    match &t.dst {
        LockTerms::Btc(h) => {
            let ours = our_pubkey(e)?;
            if h.claim_pubkey != ours {
                return Err(Refusal::ClaimKey {
                    got: hex::encode(h.claim_pubkey.as_bytes()),
                    want: e.btc_pubkey.clone(),
                });
            }
            htlc(swap, &t, network).map(|_| ())
        }
        LockTerms::Eth(x) => {
            let ours = our_address(e)?;
            if x.receiver != ours {
                return Err(Refusal::Party {
                    role: "receiver",
                    got: x.receiver.checksummed(),
                    want: ours.checksummed(),
                });
            }
            check_chain(x.chain_id.0, network)
        }
    }
}

fn check_chain(got: u64, network: Network) -> Result<(), Refusal> {
    let want = network.params().eth_chain_id.0;
    if got == want {
        Ok(())
    } else {
        Err(Refusal::Escrow {
            what: "chain id",
            got: got.to_string(),
            want: format!("{want} ({network})"),
        })
    }
}

/// The clock once the source lock is final: the depth its amount needs, at slow blocks (the
/// longest it can take), so the resolver's remaining window is measured pessimistically.
fn when_src_final(terms: &Terms, clock: &Clock) -> Clock {
    let (blocks, secs) = match terms.finality.required(&terms.src.amount()) {
        Depth::Btc(n) => (n, u64::from(n) * BTC_SLOW_BLOCK_SECS),
        Depth::Eth(EthDepth::Finalized) => (0, ETH_FINALIZED_SECS),
        Depth::Eth(_) => (0, ETH_SAFE_SECS),
    };
    Clock {
        btc_tip: BtcHeight(clock.btc_tip.0.saturating_add(blocks)),
        eth_time: clock.eth_time.plus(Secs(secs)),
        wall: clock.wall.plus(Secs(secs)),
    }
}

/// The core's timelock rules, as they bind a maker about to fund: the match-time checks
/// (`check_windows`: the source not locked longer than the network allows, the 2:1 rule, the
/// margin) hold now, and once the funding is final the resolver may still lock the destination
/// (`may_resolver_lock_dst`: the margin, and the destination time the rest of the swap needs).
/// A funding that fails these would only lock the maker's coins until the refund.
///
/// The match-time floor on the destination window is left out of the first check: it includes
/// the quote's lifetime, which has partly passed by the time the maker funds, and what the
/// destination still needs is exactly what the second check asks.
pub(crate) fn timelocks(terms: &Terms, clock: &Clock) -> Result<(), TimelockError> {
    let p = terms.network.params();
    let at_funding = NetworkParams {
        min_dst_window: Secs(0),
        ..*p
    };
    check_windows(terms, clock, &at_funding)?;
    may_resolver_lock_dst(terms, &when_src_final(terms, clock), p)
}

/// Everything checked before the maker funds: the record is this order's, matched, with our
/// hashlock and refund party, the amounts of the order, a destination that pays us, and
/// timelocks that let the swap finish. Returns the lock to fund.
pub(crate) fn src_lock(
    swap: &Swap,
    e: &Entry,
    network: Network,
    clock: &Clock,
) -> Result<SrcLock, Refusal> {
    let dir = direction(swap, e)?;
    if SwapState::try_from(swap.state) != Ok(SwapState::Matched) {
        return Err(Refusal::State(crate::render::state(swap.state)));
    }
    let t = terms(swap, e, network)?;
    check_src_amount(swap, e, &t.src)?;
    dst_pays_us(swap, e, network)?;
    let fund_by = u64::try_from(swap.fund_by).unwrap_or(0);
    if clock.wall.0 >= fund_by {
        return Err(Refusal::Expired {
            fund_by,
            now: clock.wall.0,
        });
    }
    let lock = match dir {
        Direction::BtcToEth => {
            let LockTerms::Btc(h) = &t.src else {
                return Err(rec("bitcoin leg"));
            };
            let ours = our_pubkey(e)?;
            if h.refund_pubkey != ours {
                return Err(Refusal::RefundKey {
                    got: hex::encode(h.refund_pubkey.as_bytes()),
                    want: e.btc_pubkey.clone(),
                });
            }
            if clock.btc_tip >= h.timeout {
                return Err(Refusal::TimedOut {
                    timeout: h.timeout.0,
                    tip: clock.btc_tip.0,
                });
            }
            let (params, amount) = htlc(swap, &t, network)?;
            SrcLock::Btc { params, amount }
        }
        _ => {
            let lock = escrow(&t)?;
            check_chain(lock.chain_id, network)?;
            let params = &lock.params;
            let ours = our_address(e)?;
            if params.sender != Address::from(ours.0) {
                return Err(Refusal::Party {
                    role: "sender",
                    got: params.sender.to_checksum(None),
                    want: ours.checksummed(),
                });
            }
            if params.receiver == Address::ZERO || params.receiver == params.sender {
                return Err(Refusal::Party {
                    role: "receiver",
                    got: params.receiver.to_checksum(None),
                    want: "the resolver's address".to_owned(),
                });
            }
            SrcLock::Eth(lock)
        }
    };
    timelocks(&t, clock).map_err(Refusal::Timelock)?;
    Ok(lock)
}

/// Now, as the maker's machine sees it.
pub(crate) fn clock(btc_tip: u32, now: UnixTime, eth_time: Option<UnixTime>) -> Clock {
    // A later Ethereum time only shortens what is left on an escrow, so the later one is used.
    let eth = eth_time.map_or(now, |t| t.max(now));
    Clock {
        btc_tip: BtcHeight(btc_tip),
        eth_time: eth,
        wall: now,
    }
}

/// The core's terms of a record that must be this entry's order, with its hashlock.
pub(crate) fn src_terms(swap: &Swap, e: &Entry, network: Network) -> Result<Terms, Refusal> {
    direction(swap, e)?;
    terms(swap, e, network)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crosslock_core::amount::Wei;
    use crosslock_core::chain::ChainId;
    use crosslock_core::order::{BtcHtlc, EthEscrow};
    use crosslock_core::time::BTC_FAST_BLOCK_SECS;

    const NOW: u64 = 1_800_000_000;
    const TIP: u32 = 1_000;

    fn key(b: u8) -> BtcPubkey {
        let mut k = [b; 33];
        k[0] = 2;
        BtcPubkey::from_bytes(&k).unwrap()
    }

    /// A BTC -> ETH swap on regtest, its source `src_blocks` and its destination `dst_secs`
    /// from now.
    fn terms(src_blocks: u32, dst_secs: u64) -> Terms {
        let hashlock = Hashlock([1; 32]);
        Terms {
            network: Network::Regtest,
            hashlock,
            quote_expires: UnixTime(NOW + 600),
            src: LockTerms::Btc(BtcHtlc {
                hashlock,
                claim_pubkey: key(3),
                refund_pubkey: key(4),
                timeout: BtcHeight(TIP + src_blocks),
                amount: Sats(100_000),
            }),
            dst: LockTerms::Eth(EthEscrow {
                chain_id: ChainId(31_337),
                contract: EthAddress([5; 20]),
                hashlock,
                sender: EthAddress([6; 20]),
                receiver: EthAddress([7; 20]),
                amount: Amount::Eth(Wei(1)),
                timeout: UnixTime(NOW + dst_secs),
            }),
            finality: Network::Regtest.params().finality,
        }
    }

    fn now() -> Clock {
        clock(TIP, UnixTime(NOW), None)
    }

    /// The windows the relayer quotes on regtest: dst 9.5 h, src twice that plus two hours.
    const DST: u64 = 34_200;
    fn src_blocks() -> u32 {
        u32::try_from((2 * DST + 7_200).div_ceil(BTC_FAST_BLOCK_SECS)).unwrap()
    }

    #[test]
    fn the_relayers_regtest_windows_pass_even_after_part_of_the_quote_has_run() {
        assert_eq!(timelocks(&terms(src_blocks(), DST), &now()), Ok(()));
        // Twenty minutes later the match-time floor on the dst window (9 h) has been crossed
        // on the way down, yet the swap can still finish: the maker may fund.
        let t = terms(src_blocks(), DST - 1_200);
        assert!(check_windows(&t, &now(), Network::Regtest.params()).is_ok());
        let later = terms(src_blocks() - 2, 9 * 3_600 - 60);
        assert!(check_windows(&later, &now(), Network::Regtest.params()).is_err());
        assert_eq!(timelocks(&later, &now()), Ok(()));
    }

    #[test]
    fn a_source_too_short_for_the_two_to_one_rule_is_refused() {
        let short = terms(src_blocks() / 2, DST);
        assert!(matches!(
            timelocks(&short, &now()),
            Err(TimelockError::TwoToOne { .. })
        ));
    }

    #[test]
    fn a_destination_too_close_once_the_funding_is_final_is_refused() {
        // 7 h is the least the resolver needs when it locks; one slow block for our funding
        // to be final makes 7 h not enough.
        let t = terms(src_blocks(), 7 * 3_600 + 60);
        assert!(matches!(
            timelocks(&t, &now()),
            Err(TimelockError::DstTooSoon { .. })
        ));
    }

    #[test]
    fn a_source_locked_longer_than_the_network_allows_is_refused() {
        let long = terms(2_000, DST);
        assert!(matches!(
            timelocks(&long, &now()),
            Err(TimelockError::SrcTooLong { .. })
        ));
    }
}
