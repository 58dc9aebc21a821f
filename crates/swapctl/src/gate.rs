//! The maker's reveal gate: the secret leaves this machine only when both locks are final and
//! `crosslock_core::timelock::may_maker_reveal` agrees that the destination claim has time.
//!
//! Owns turning the relayer's record into the core's `Terms` and `Clock`. It must never
//! trust the relayer's word alone for the time left: the timeouts come from the record, but
//! "now" comes from this machine's clock and the Bitcoin tip the maker's own Electrum reports.

use crosslock_core::amount::{Amount, Sats, TokenUnits, Wei};
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, Network};
use crosslock_core::order::{BtcHtlc, EthEscrow, LockTerms, Terms};
use crosslock_core::secret::Hashlock;
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_core::timelock::may_maker_reveal;
use crosslock_proto::public::v1::{Direction, Swap, SwapState};
use thiserror::Error;

/// Why the secret is not revealed now.
#[derive(Debug, Error)]
pub(crate) enum GateError {
    /// The swap has not reached `DstLocked` (both locks final).
    #[error("both locks must be final before the secret is revealed; the swap is {0}")]
    NotFinal(&'static str),
    /// The secret was already handed over.
    #[error("the relayer already knows the secret")]
    AlreadyKnown,
    /// A field the check needs is missing or malformed.
    #[error("the relayer's record is incomplete: {0}")]
    Record(String),
    /// A Bitcoin destination needs the current tip, from the maker's Electrum server.
    #[error(
        "a Bitcoin destination needs the chain tip: pass --electrum-url (SWAPCTL_ELECTRUM_URL)"
    )]
    NeedTip,
    /// Too little time left on the destination for a claim to confirm.
    #[error("too late to reveal safely: {0}; wait for the refund instead")]
    TooLate(crosslock_core::timelock::TimelockError),
}

fn rec(what: &str) -> GateError {
    GateError::Record(what.to_owned())
}

fn amount(units: &str, token: &str, btc: bool) -> Result<Amount, GateError> {
    if btc {
        return units
            .parse::<u64>()
            .map(|v| Amount::Btc(Sats(v)))
            .map_err(|_| rec("bitcoin amount"));
    }
    let v: u128 = units.parse().map_err(|_| rec("ethereum amount"))?;
    if token.is_empty() {
        Ok(Amount::Eth(Wei(v)))
    } else {
        Ok(Amount::Token {
            token: EthAddress::parse(token).map_err(|_| rec("token address"))?,
            units: TokenUnits(v),
        })
    }
}

/// The two locks as the core sees them.
pub(crate) fn terms(swap: &Swap, network: Network) -> Result<Terms, GateError> {
    let hashlock = Hashlock(
        swap.hashlock
            .as_slice()
            .try_into()
            .map_err(|_| rec("hashlock"))?,
    );
    let b = swap.bitcoin.as_ref().ok_or_else(|| rec("bitcoin leg"))?;
    let e = swap.ethereum.as_ref().ok_or_else(|| rec("ethereum leg"))?;
    let btc = LockTerms::Btc(BtcHtlc {
        hashlock,
        claim_pubkey: BtcPubkey::from_bytes(&b.claim_pubkey).map_err(|_| rec("claim key"))?,
        refund_pubkey: BtcPubkey::from_bytes(&b.refund_pubkey).map_err(|_| rec("refund key"))?,
        timeout: BtcHeight(b.timeout_height),
        amount: match amount(&b.amount, "", true)? {
            Amount::Btc(s) => s,
            _ => return Err(rec("bitcoin amount")),
        },
    });
    let timeout = u64::try_from(e.timeout).map_err(|_| rec("ethereum timeout"))?;
    let eth = LockTerms::Eth(EthEscrow {
        chain_id: ChainId(e.chain_id),
        contract: EthAddress::parse(&e.contract).map_err(|_| rec("escrow address"))?,
        hashlock,
        sender: EthAddress::parse(&e.sender).map_err(|_| rec("ethereum sender"))?,
        receiver: EthAddress::parse(&e.receiver).map_err(|_| rec("ethereum receiver"))?,
        amount: amount(&e.amount, &e.token, false)?,
        timeout: UnixTime(timeout),
    });
    let (src, dst) = match Direction::try_from(swap.direction) {
        Ok(Direction::BtcToEth) => (btc, eth),
        Ok(Direction::EthToBtc) => (eth, btc),
        _ => return Err(rec("direction")),
    };
    Ok(Terms {
        network,
        hashlock,
        quote_expires: UnixTime(u64::try_from(swap.fund_by).unwrap_or(0)),
        src,
        dst,
        finality: network.params().finality,
    })
}

/// May the maker reveal now? `btc_tip` is required when the destination is Bitcoin.
pub(crate) fn check(
    swap: &Swap,
    network: Network,
    now: UnixTime,
    btc_tip: Option<u32>,
) -> Result<(), GateError> {
    if swap.secret_known {
        return Err(GateError::AlreadyKnown);
    }
    if SwapState::try_from(swap.state) != Ok(SwapState::DstLocked) {
        return Err(GateError::NotFinal(crate::render::state(swap.state)));
    }
    let t = terms(swap, network)?;
    let tip = match (&t.dst, btc_tip) {
        (LockTerms::Btc(_), None) => return Err(GateError::NeedTip),
        (_, tip) => BtcHeight(tip.unwrap_or(0)),
    };
    // The wall clock stands in for the latest Ethereum block time: it is never behind it by
    // more than a slot, and a later "now" only makes the check stricter.
    let clock = Clock {
        btc_tip: tip,
        eth_time: now,
        wall: now,
    };
    may_maker_reveal(&t, &clock, network.params()).map_err(GateError::TooLate)
}
