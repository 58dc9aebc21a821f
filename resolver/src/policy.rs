//! Which orders the resolver takes ([`decide`]) and which signatures it lets through
//! ([`check_signature`]): pure functions over the configuration, the order or swap, and a
//! snapshot of inventory and recent signatures.
//!
//! Owns the liquidity rules (pairs, amount bounds, price with spread, inventory floors, exposure)
//! and the signer policy (kill switch, caps, destinations, chain id, and never a refund once the
//! secret is known while the claim can still win). It must never do I/O: the caller gathers the
//! snapshot, asks, and only then signs.

use std::collections::BTreeMap;

use alloy::primitives::U256;
use crosslock_core::amount::Amount;
use crosslock_core::chain::{Asset, EthAddress};
use crosslock_core::order::{LockTerms, Order};
use crosslock_core::swap::Swap;
use thiserror::Error;

use crate::config::{PairConfig, PolicyConfig, SignerLimits};

/// An asset as configured and labelled: `btc`, `eth`, or the token's lowercase `0x` address.
pub fn asset_key(a: &Asset) -> String {
    match a {
        Asset::Btc => "btc".into(),
        Asset::Eth => "eth".into(),
        Asset::Erc20(t) => format!("0x{}", hex::encode(t.0)),
    }
}

/// Why the configuration's policy section is unusable.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("policy setting {field}: {reason}")]
pub struct PolicyConfigError {
    /// Which setting.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn num(field: &str, s: &str) -> Result<u128, PolicyConfigError> {
    s.trim().parse().map_err(|_| PolicyConfigError {
        field: field.to_owned(),
        reason: format!("{s:?} is not a non-negative integer in base units"),
    })
}

fn asset_name(field: &str, s: &str) -> Result<String, PolicyConfigError> {
    let s = s.trim().to_lowercase();
    let ok = s == "btc"
        || s == "eth"
        || (s.len() == 42 && s.starts_with("0x") && s[2..].chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(s)
    } else {
        Err(PolicyConfigError {
            field: field.to_owned(),
            reason: format!("{s:?} is not btc, eth or a token address"),
        })
    }
}

fn amounts(
    field: &str,
    m: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, u128>, PolicyConfigError> {
    m.iter()
        .map(|(k, v)| Ok((asset_name(field, k)?, num(&format!("{field}.{k}"), v)?)))
        .collect()
}

/// One quoted pair, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// What the maker gives.
    pub src: String,
    /// What the maker takes.
    pub dst: String,
    /// Smallest src amount.
    pub min_src: u128,
    /// Largest src amount.
    pub max_src: u128,
    /// dst base units per 10^18 src base units.
    pub price_e18: u128,
    /// Margin in basis points.
    pub spread_bps: u32,
}

/// The order policy, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderPolicy {
    /// The pairs.
    pub pairs: Vec<Pair>,
    /// Floors per asset.
    pub inventory_floor: BTreeMap<String, u128>,
    /// Exposure limits per asset.
    pub max_exposure: BTreeMap<String, u128>,
    /// Open swaps at once; 0 means no limit.
    pub max_open_swaps: u32,
}

impl OrderPolicy {
    /// Parses the `[policy]` section.
    pub fn from_config(c: &PolicyConfig) -> Result<OrderPolicy, PolicyConfigError> {
        let pairs = c
            .pairs
            .iter()
            .enumerate()
            .map(|(i, p): (usize, &PairConfig)| {
                let f = |n: &str| format!("policy.pairs[{i}].{n}");
                let pair = Pair {
                    src: asset_name(&f("src"), &p.src)?,
                    dst: asset_name(&f("dst"), &p.dst)?,
                    min_src: num(&f("min_src"), &p.min_src)?,
                    max_src: num(&f("max_src"), &p.max_src)?,
                    price_e18: num(&f("price_e18"), &p.price_e18)?,
                    spread_bps: p.spread_bps,
                };
                if pair.min_src > pair.max_src || pair.spread_bps >= 10_000 {
                    return Err(PolicyConfigError {
                        field: f("min_src"),
                        reason: "min_src must not exceed max_src and spread must be < 10000 bps"
                            .into(),
                    });
                }
                if (pair.src == "btc") == (pair.dst == "btc") {
                    return Err(PolicyConfigError {
                        field: f("src"),
                        reason: "one side of a pair must be btc".into(),
                    });
                }
                Ok(pair)
            })
            .collect::<Result<_, _>>()?;
        Ok(OrderPolicy {
            pairs,
            inventory_floor: amounts("policy.inventory_floor", &c.inventory_floor)?,
            max_exposure: amounts("policy.max_exposure", &c.max_exposure)?,
            max_open_swaps: c.max_open_swaps,
        })
    }
}

/// What the resolver holds and has at stake, gathered before a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    /// Spendable balance per asset.
    pub inventory: BTreeMap<String, u128>,
    /// Amount per asset we have locked (or will lock) in open swaps.
    pub exposure: BTreeMap<String, u128>,
    /// Open swaps.
    pub open_swaps: u32,
    /// New locks are paused by an operator.
    pub paused: bool,
}

/// Why an order is declined. [`Decline::reason`] is what the relayer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Decline {
    /// An operator paused new locks.
    #[error("paused")]
    Paused,
    /// We do not quote this pair.
    #[error("pair not quoted")]
    Pair,
    /// Below the pair's minimum.
    #[error("amount below the pair's minimum")]
    UnderMinAmount,
    /// Above the pair's maximum.
    #[error("amount above the pair's maximum")]
    OverMaxAmount,
    /// The maker asks for more than our price minus the spread.
    #[error("the maker asks for more than our price")]
    Price,
    /// Locking it would take the balance below its floor.
    #[error("not enough inventory")]
    NoInventory,
    /// Our total locked amount of the asset would exceed its limit.
    #[error("exposure limit")]
    Exposure,
    /// Too many swaps open.
    #[error("too many open swaps")]
    TooManySwaps,
}

impl Decline {
    /// The machine-readable reason sent to the relayer (`[a-z0-9_]{1,64}`).
    pub const fn reason(self) -> &'static str {
        match self {
            Decline::Paused => "paused",
            Decline::Pair => "pair",
            Decline::UnderMinAmount => "under_min_amount",
            Decline::OverMaxAmount => "over_max_amount",
            Decline::Price => "price",
            Decline::NoInventory => "no_inventory",
            Decline::Exposure => "exposure",
            Decline::TooManySwaps => "too_many_swaps",
        }
    }
}

/// Take the order or say why not. The amount we must lock is the order's `take`.
pub fn decide(p: &OrderPolicy, order: &Order, book: &Book) -> Result<(), Decline> {
    if book.paused {
        return Err(Decline::Paused);
    }
    let src = asset_key(&order.give.asset());
    let dst = asset_key(&order.take.asset());
    let pair = p
        .pairs
        .iter()
        .find(|x| x.src == src && x.dst == dst)
        .ok_or(Decline::Pair)?;
    let give = order.give.base_units();
    let take = order.take.base_units();
    if give < pair.min_src {
        return Err(Decline::UnderMinAmount);
    }
    if give > pair.max_src {
        return Err(Decline::OverMaxAmount);
    }
    // take <= give * price / 1e18 * (1 - spread), in 256 bits so nothing overflows.
    let lhs = U256::from(take) * U256::from(10u128.pow(18)) * U256::from(10_000u32);
    let rhs = U256::from(give)
        * U256::from(pair.price_e18)
        * U256::from(10_000u32.saturating_sub(pair.spread_bps));
    if lhs > rhs {
        return Err(Decline::Price);
    }
    if p.max_open_swaps > 0 && book.open_swaps >= p.max_open_swaps {
        return Err(Decline::TooManySwaps);
    }
    let have = book.inventory.get(&dst).copied().unwrap_or(0);
    let floor = p.inventory_floor.get(&dst).copied().unwrap_or(0);
    if have.saturating_sub(take) < floor || have < take {
        return Err(Decline::NoInventory);
    }
    if let Some(max) = p.max_exposure.get(&dst) {
        let at_stake = book.exposure.get(&dst).copied().unwrap_or(0);
        if at_stake.saturating_add(take) > *max {
            return Err(Decline::Exposure);
        }
    }
    Ok(())
}

/// What a signature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignKind {
    /// Fund our dst lock.
    LockDst,
    /// Claim the maker's src lock for us.
    ClaimSrc,
    /// Claim our dst lock for the maker (Ethereum escrow: anyone may call).
    ClaimDst,
    /// Refund our dst lock to us.
    RefundDst,
    /// Refund the maker's Ethereum src lock to the maker (anyone may call).
    RefundSrc,
}

impl SignKind {
    /// Label and signature-log name.
    pub const fn name(self) -> &'static str {
        match self {
            SignKind::LockDst => "lock",
            SignKind::ClaimSrc => "claim_src",
            SignKind::ClaimDst => "claim_dst",
            SignKind::RefundDst => "refund_dst",
            SignKind::RefundSrc => "refund_src",
        }
    }
}

/// Where the value of a transaction goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A call to this contract on this chain (the escrow pays fixed addresses).
    EthCall {
        /// The contract called.
        contract: EthAddress,
        /// The chain id signed for.
        chain_id: u64,
    },
    /// A Bitcoin output script.
    BtcScript(Vec<u8>),
}

/// What the signer knows about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Our Ethereum address.
    pub eth_address: Option<EthAddress>,
    /// The escrow contract we call.
    pub escrow: Option<EthAddress>,
    /// The chain id we sign for.
    pub chain_id: Option<u64>,
    /// Output scripts we may pay: our wallet's addresses and the allowlist.
    pub btc_scripts: Vec<Vec<u8>>,
    /// Our HTLC public key (33 bytes).
    pub btc_htlc_pubkey: Option<[u8; 33]>,
}

/// Recent signatures, for the hourly caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    /// Locks signed in the last hour.
    pub locks: u32,
    /// Total locked of the request's asset in the last hour.
    pub locked: u128,
}

/// The signer limits, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerPolicy {
    /// Refuse everything.
    pub kill_switch: bool,
    /// Locks per hour.
    pub max_swaps_per_hour: u32,
    /// Per-lock cap per asset.
    pub swap_cap: BTreeMap<String, u128>,
    /// Per-hour cap per asset.
    pub hourly_cap: BTreeMap<String, u128>,
}

impl SignerPolicy {
    /// Parses the `[signer]` section.
    pub fn from_config(c: &SignerLimits) -> Result<SignerPolicy, PolicyConfigError> {
        Ok(SignerPolicy {
            kill_switch: c.kill_switch,
            max_swaps_per_hour: c.max_swaps_per_hour,
            swap_cap: amounts("signer.swap_cap", &c.swap_cap)?,
            hourly_cap: amounts("signer.hourly_cap", &c.hourly_cap)?,
        })
    }
}

/// Why a signature is refused. [`Refusal::reason`] is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The kill switch is on.
    #[error("kill switch is on")]
    KillSwitch,
    /// The hourly count or amount cap would be passed.
    #[error("hourly cap reached")]
    HourlyCap,
    /// The amount is above the per-swap cap.
    #[error("amount above the per-swap cap")]
    SwapCap,
    /// A refund while the secret is known and the claim can still win (invariant 3).
    #[error("refund refused: the secret is known and the claim can still win")]
    RefundAfterSecret,
    /// The value would go somewhere that is not ours (or not the escrow).
    #[error("destination not allowed")]
    DestinationNotAllowed,
    /// Signed for another chain than the configured one.
    #[error("chain id mismatch")]
    ChainIdMismatch,
    /// The swap has no terms: nothing to sign for.
    #[error("swap not matched")]
    NotMatched,
}

impl Refusal {
    /// The `reason` label of `crosslock_resolver_signer_refusals_total`.
    pub const fn reason(self) -> &'static str {
        match self {
            Refusal::KillSwitch => "kill_switch",
            Refusal::HourlyCap => "hourly_cap",
            Refusal::SwapCap => "swap_cap",
            Refusal::RefundAfterSecret => "refund_after_secret",
            Refusal::DestinationNotAllowed => "destination_not_allowed",
            Refusal::ChainIdMismatch => "chain_id_mismatch",
            Refusal::NotMatched => "not_matched",
        }
    }

    /// Refusals that mean something asked for a signature it must never get (page someone).
    pub const fn is_unsafe(self) -> bool {
        matches!(
            self,
            Refusal::RefundAfterSecret | Refusal::DestinationNotAllowed | Refusal::ChainIdMismatch
        )
    }
}

/// One signature to judge.
#[derive(Debug, Clone)]
pub struct SignRequest<'a> {
    /// The swap, as the resolver's own log has it.
    pub swap: &'a Swap,
    /// What for.
    pub kind: SignKind,
    /// Where the value goes.
    pub destination: Destination,
    /// The amount the transaction moves (the lock, or the HTLC/escrow amount claimed/refunded).
    pub amount: Amount,
}

/// The signer policy. Checked in front of every signature, fee bumps included.
pub fn check_signature(
    p: &SignerPolicy,
    me: &Identity,
    req: &SignRequest<'_>,
    recent: Recent,
) -> Result<(), Refusal> {
    if p.kill_switch {
        return Err(Refusal::KillSwitch);
    }
    let terms = req.swap.terms.as_ref().ok_or(Refusal::NotMatched)?;
    match &req.destination {
        Destination::EthCall { contract, chain_id } => {
            if me.chain_id.is_some_and(|c| c != *chain_id) {
                return Err(Refusal::ChainIdMismatch);
            }
            if me.escrow != Some(*contract) {
                return Err(Refusal::DestinationNotAllowed);
            }
        }
        Destination::BtcScript(s) => {
            // A funding pays the HTLC, which commits to its own keys (checked below); claims
            // and refunds pay one of our scripts.
            if req.kind != SignKind::LockDst && !me.btc_scripts.iter().any(|m| m == s) {
                return Err(Refusal::DestinationNotAllowed);
            }
        }
    }
    // The lock terms the transaction touches must name us where the value comes back to us.
    let ours_eth = |a: &EthAddress| me.eth_address == Some(*a);
    let ours_btc = |k: &[u8; 33]| me.btc_htlc_pubkey.as_ref() == Some(k);
    let named_ok = match (req.kind, &terms.src, &terms.dst) {
        (SignKind::LockDst, _, LockTerms::Eth(e)) => ours_eth(&e.sender),
        (SignKind::LockDst, _, LockTerms::Btc(h)) => ours_btc(h.refund_pubkey.as_bytes()),
        (SignKind::ClaimSrc, LockTerms::Eth(e), _) => ours_eth(&e.receiver),
        (SignKind::ClaimSrc, LockTerms::Btc(h), _) => ours_btc(h.claim_pubkey.as_bytes()),
        (SignKind::RefundDst, _, LockTerms::Eth(e)) => ours_eth(&e.sender),
        (SignKind::RefundDst, _, LockTerms::Btc(h)) => ours_btc(h.refund_pubkey.as_bytes()),
        // Paid by the escrow to the maker: the contract fixes the receiver.
        (SignKind::ClaimDst, _, LockTerms::Eth(_)) => true,
        (SignKind::RefundSrc, LockTerms::Eth(_), _) => true,
        _ => false,
    };
    if !named_ok {
        return Err(Refusal::DestinationNotAllowed);
    }
    // Invariant 3: never refund a lock whose claim we (or the maker) can still win once the
    // secret is known.
    if req.swap.secret.is_some() {
        let lt = match req.kind {
            SignKind::RefundDst => Some(&terms.dst),
            SignKind::RefundSrc => Some(&terms.src),
            _ => None,
        };
        if lt.is_some_and(|lt| lt.claim_can_win(&req.swap.clock)) {
            return Err(Refusal::RefundAfterSecret);
        }
    }
    if req.kind == SignKind::LockDst {
        let asset = asset_key(&req.amount.asset());
        let amount = req.amount.base_units();
        if p.swap_cap.get(&asset).is_some_and(|cap| amount > *cap) {
            return Err(Refusal::SwapCap);
        }
        if recent.locks >= p.max_swaps_per_hour
            || p.hourly_cap
                .get(&asset)
                .is_some_and(|cap| recent.locked.saturating_add(amount) > *cap)
        {
            return Err(Refusal::HourlyCap);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, addr, order, pk, swap};
    use crosslock_core::order::Direction;
    use crosslock_core::time::{BtcHeight, UnixTime};

    fn me() -> Identity {
        Identity {
            eth_address: Some(addr(2)),
            escrow: Some(addr(9)),
            chain_id: Some(31_337),
            btc_scripts: vec![vec![0, 20, 3, 3]],
            btc_htlc_pubkey: Some(*pk(2).as_bytes()),
        }
    }

    fn pair_policy() -> OrderPolicy {
        OrderPolicy::from_config(&PolicyConfig {
            pairs: vec![PairConfig {
                src: "btc".into(),
                dst: "eth".into(),
                min_src: "100000".into(),
                max_src: "10000000".into(),
                // 1 sat = 1000 gwei: 10^18 sats buy 10^30 wei.
                price_e18: "1000000000000000000000000000000".into(),
                spread_bps: 50,
            }],
            inventory_floor: [("eth".to_owned(), "1000000000000000000".to_owned())].into(),
            max_exposure: [("eth".to_owned(), "20000000000000000000".to_owned())].into(),
            max_open_swaps: 10,
        })
        .expect("valid")
    }

    fn book(eth_inventory: u128, eth_exposure: u128, open: u32) -> Book {
        Book {
            inventory: [("eth".to_owned(), eth_inventory)].into(),
            exposure: [("eth".to_owned(), eth_exposure)].into(),
            open_swaps: open,
            paused: false,
        }
    }

    const E18: u128 = 1_000_000_000_000_000_000;

    #[test]
    fn orders_are_taken_or_declined_with_a_reason() {
        let p = pair_policy();
        // give sats, take wei; fair take for 1_000_000 sats is 10^18 wei, minus 0.5% spread.
        type Case = (
            &'static str,
            Direction,
            u128,
            u128,
            Book,
            Result<(), Decline>,
        );
        let cases: &[Case] = &[
            (
                "fair",
                Direction::BtcToEth,
                1_000_000,
                995 * E18 / 1000,
                book(100 * E18, 0, 0),
                Ok(()),
            ),
            (
                "greedy maker",
                Direction::BtcToEth,
                1_000_000,
                996 * E18 / 1000,
                book(100 * E18, 0, 0),
                Err(Decline::Price),
            ),
            (
                "too small",
                Direction::BtcToEth,
                99_999,
                1,
                book(100 * E18, 0, 0),
                Err(Decline::UnderMinAmount),
            ),
            (
                "too big",
                Direction::BtcToEth,
                10_000_001,
                E18,
                book(100 * E18, 0, 0),
                Err(Decline::OverMaxAmount),
            ),
            (
                "unquoted pair",
                Direction::EthToBtc,
                E18,
                1_000,
                book(100 * E18, 0, 0),
                Err(Decline::Pair),
            ),
            (
                "under the floor",
                Direction::BtcToEth,
                1_000_000,
                E18 / 2,
                book(E18 + E18 / 4, 0, 0),
                Err(Decline::NoInventory),
            ),
            (
                "no funds",
                Direction::BtcToEth,
                1_000_000,
                E18 / 2,
                book(E18 / 4, 0, 0),
                Err(Decline::NoInventory),
            ),
            (
                "exposure",
                Direction::BtcToEth,
                1_000_000,
                E18 / 2,
                book(100 * E18, 20 * E18 - E18 / 4, 0),
                Err(Decline::Exposure),
            ),
            (
                "too many swaps",
                Direction::BtcToEth,
                1_000_000,
                E18 / 2,
                book(100 * E18, 0, 10),
                Err(Decline::TooManySwaps),
            ),
            (
                "paused",
                Direction::BtcToEth,
                1_000_000,
                E18 / 2,
                Book {
                    paused: true,
                    ..book(100 * E18, 0, 0)
                },
                Err(Decline::Paused),
            ),
        ];
        for (name, dir, give, take, b, want) in cases {
            let got = decide(&p, &order(*dir, *give, *take), b);
            assert_eq!(&got, want, "{name}");
            if let Err(d) = got {
                let r = d.reason();
                assert!(
                    !r.is_empty()
                        && r.len() <= 64
                        && r.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{name}: reason {r:?} fits the proto's rule"
                );
            }
        }
    }

    #[test]
    fn bad_policy_config_is_refused() {
        let mut c = PolicyConfig {
            pairs: vec![PairConfig {
                src: "btc".into(),
                dst: "eth".into(),
                min_src: "10".into(),
                max_src: "1".into(),
                price_e18: "1".into(),
                spread_bps: 0,
            }],
            ..PolicyConfig::default()
        };
        assert!(OrderPolicy::from_config(&c).is_err(), "min above max");
        c.pairs[0].max_src = "x".into();
        assert!(OrderPolicy::from_config(&c).is_err(), "not a number");
        c.pairs[0].max_src = "100".into();
        c.pairs[0].dst = "doge".into();
        assert!(OrderPolicy::from_config(&c).is_err(), "unknown asset");
        c.pairs[0].dst = "eth".into();
        c.pairs[0].src = "eth".into();
        assert!(OrderPolicy::from_config(&c).is_err(), "no btc side");
    }

    fn with_secret(s: &Swap) -> Swap {
        let mut s = s.clone();
        s.secret = Some(crosslock_core::swap::KnownSecret {
            secret: crosslock_core::secret::Secret::new([0; 32]),
            source: crosslock_core::swap::SecretSource::Chain,
        });
        s
    }

    fn after(s: &Swap, secs: u64, blocks: u32) -> Swap {
        let mut s = s.clone();
        s.clock.eth_time = UnixTime(NOW + secs);
        s.clock.btc_tip = BtcHeight(1_000 + blocks);
        s
    }

    fn escrow_call(chain_id: u64, contract: u8) -> Destination {
        Destination::EthCall {
            contract: addr(contract),
            chain_id,
        }
    }

    #[test]
    fn signer_policy_table() {
        let b2e = swap(Direction::BtcToEth);
        let e2b = swap(Direction::EthToBtc);
        let b2e_secret = with_secret(&b2e);
        let e2b_secret = with_secret(&e2b);
        // Past the 10 h ETH dst timeout: the maker's dst claim can no longer win.
        let b2e_secret_late = after(&b2e_secret, 11 * 3600, 70);
        let b2e_late = after(&b2e, 11 * 3600, 70);
        let e2b_secret_late = after(&e2b_secret, 0, 200);
        let e2b_late = after(&e2b, 0, 200);
        let ours = Destination::BtcScript(vec![0, 20, 3, 3]);
        let theirs = Destination::BtcScript(vec![0, 20, 4, 4]);
        let htlc_script = Destination::BtcScript(vec![0, 32, 1]);
        let eth = |w: u128| Amount::Eth(crosslock_core::amount::Wei(w));
        let btc = |s: u64| Amount::Btc(crosslock_core::amount::Sats(s));
        let base = SignerPolicy {
            kill_switch: false,
            max_swaps_per_hour: 3,
            swap_cap: [("eth".to_owned(), 5 * E18), ("btc".to_owned(), 50_000_000)].into(),
            hourly_cap: [("eth".to_owned(), 10 * E18)].into(),
        };
        let killed = SignerPolicy {
            kill_switch: true,
            ..base.clone()
        };
        let none = Recent::default();
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            &SignerPolicy,
            &Swap,
            SignKind,
            Destination,
            Amount,
            Recent,
            Result<(), Refusal>,
        )> = vec![
            (
                "lock eth dst",
                &base,
                &b2e,
                SignKind::LockDst,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Ok(()),
            ),
            (
                "lock btc dst",
                &base,
                &e2b,
                SignKind::LockDst,
                htlc_script.clone(),
                btc(1_000_000),
                none,
                Ok(()),
            ),
            (
                "kill switch stops claims too",
                &killed,
                &b2e_secret,
                SignKind::ClaimDst,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Err(Refusal::KillSwitch),
            ),
            (
                "wrong chain id",
                &base,
                &b2e,
                SignKind::LockDst,
                escrow_call(1, 9),
                eth(E18),
                none,
                Err(Refusal::ChainIdMismatch),
            ),
            (
                "not the escrow",
                &base,
                &b2e,
                SignKind::LockDst,
                escrow_call(31_337, 8),
                eth(E18),
                none,
                Err(Refusal::DestinationNotAllowed),
            ),
            (
                "claim btc src to us",
                &base,
                &b2e_secret,
                SignKind::ClaimSrc,
                ours.clone(),
                btc(1_000_000),
                none,
                Ok(()),
            ),
            (
                "claim btc src elsewhere",
                &base,
                &b2e_secret,
                SignKind::ClaimSrc,
                theirs.clone(),
                btc(1_000_000),
                none,
                Err(Refusal::DestinationNotAllowed),
            ),
            (
                "claim eth src",
                &base,
                &e2b_secret,
                SignKind::ClaimSrc,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Ok(()),
            ),
            (
                "refund eth dst, secret unknown",
                &base,
                &b2e_late,
                SignKind::RefundDst,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Ok(()),
            ),
            (
                "refund eth dst, secret known, claim can win",
                &base,
                &b2e_secret,
                SignKind::RefundDst,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Err(Refusal::RefundAfterSecret),
            ),
            (
                "refund eth dst, secret known, past timeout",
                &base,
                &b2e_secret_late,
                SignKind::RefundDst,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Ok(()),
            ),
            (
                "refund btc dst, secret known: a BTC claim never expires",
                &base,
                &e2b_secret_late,
                SignKind::RefundDst,
                ours.clone(),
                btc(1_000_000),
                none,
                Err(Refusal::RefundAfterSecret),
            ),
            (
                "refund btc dst to someone else",
                &base,
                &e2b_late,
                SignKind::RefundDst,
                theirs,
                btc(1_000_000),
                none,
                Err(Refusal::DestinationNotAllowed),
            ),
            (
                "refund eth src for the maker, secret known",
                &base,
                &e2b_secret,
                SignKind::RefundSrc,
                escrow_call(31_337, 9),
                eth(E18),
                none,
                Err(Refusal::RefundAfterSecret),
            ),
            (
                "over the swap cap",
                &base,
                &b2e,
                SignKind::LockDst,
                escrow_call(31_337, 9),
                eth(6 * E18),
                none,
                Err(Refusal::SwapCap),
            ),
            (
                "hourly count",
                &base,
                &b2e,
                SignKind::LockDst,
                escrow_call(31_337, 9),
                eth(E18),
                Recent {
                    locks: 3,
                    locked: 0,
                },
                Err(Refusal::HourlyCap),
            ),
            (
                "hourly amount",
                &base,
                &b2e,
                SignKind::LockDst,
                escrow_call(31_337, 9),
                eth(E18),
                Recent {
                    locks: 1,
                    locked: 9 * E18 + 1,
                },
                Err(Refusal::HourlyCap),
            ),
            (
                "caps never stop a claim",
                &base,
                &b2e_secret,
                SignKind::ClaimDst,
                escrow_call(31_337, 9),
                eth(6 * E18),
                Recent {
                    locks: 9,
                    locked: 99 * E18,
                },
                Ok(()),
            ),
        ];
        for (name, p, s, kind, destination, amount, recent, want) in cases {
            let req = SignRequest {
                swap: s,
                kind,
                destination,
                amount,
            };
            assert_eq!(check_signature(p, &me(), &req, recent), want, "{name}");
        }
    }

    #[test]
    fn a_stranger_named_in_the_terms_is_refused() {
        // Terms that name another resolver's key: we must not claim or lock for them.
        let s = swap(Direction::BtcToEth);
        let mut other = me();
        other.btc_htlc_pubkey = Some(*pk(5).as_bytes());
        other.eth_address = Some(addr(5));
        let req = SignRequest {
            swap: &with_secret(&s),
            kind: SignKind::ClaimSrc,
            destination: Destination::BtcScript(vec![0, 20, 3, 3]),
            amount: Amount::Btc(crosslock_core::amount::Sats(1)),
        };
        assert_eq!(
            check_signature(
                &SignerPolicy {
                    max_swaps_per_hour: 9,
                    ..SignerPolicy::default()
                },
                &other,
                &req,
                Recent::default()
            ),
            Err(Refusal::DestinationNotAllowed)
        );
        assert!(Refusal::DestinationNotAllowed.is_unsafe() && !Refusal::HourlyCap.is_unsafe());
    }
}
