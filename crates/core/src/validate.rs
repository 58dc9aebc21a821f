//! Validation at the edge: turn an order as received (strings and numbers) into an [`Order`],
//! and check matched [`Terms`] before a swap may use them.
//!
//! Owns one typed error per bad field, so the API can tell a client exactly what to fix. It
//! must never accept a value it would later have to reject: everything the state machine
//! assumes about an order (32-byte hashlock, compressed keys, checksummed addresses, amounts in
//! bounds, chain id, timeouts) is established here.

use thiserror::Error;

use crate::amount::{Amount, Sats, TokenUnits, Wei};
use crate::chain::{AddressError, Asset, BtcPubkey, ChainId, EthAddress, Network, PubkeyError};
use crate::fees::{MIN_BTC_LOCK, MIN_ETH_LOCK};
use crate::finality::FinalityError;
use crate::order::{LockTerms, Order, Terms};
use crate::secret::{HashError, Hashlock};
use crate::time::{Clock, Secs, UnixTime};
use crate::timelock::{TimelockError, check_windows};

/// An order as a client sends it. Amounts are decimal strings of base units (satoshis, wei,
/// token units) so that no float ever touches them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOrder {
    /// The EVM chain id the client believes it is on.
    pub chain_id: u64,
    /// 64 hex digits, `0x` optional.
    pub hashlock: String,
    /// `BTC`, `ETH`, or an ERC-20 contract address.
    pub give_asset: String,
    /// Base units of `give_asset`.
    pub give_amount: String,
    /// `BTC`, `ETH`, or an ERC-20 contract address.
    pub take_asset: String,
    /// Base units of `take_asset`.
    pub take_amount: String,
    /// 66 hex digits, compressed.
    pub maker_btc_pubkey: String,
    /// `0x` + 40 hex digits, EIP-55 checksummed if mixed case.
    pub maker_eth_address: String,
    /// Unix seconds.
    pub quote_expires: u64,
}

/// Why an asset field is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AssetError {
    /// Neither `BTC`, `ETH` nor an address.
    #[error("unknown asset {0:?}: use BTC, ETH or an ERC-20 contract address")]
    Unknown(String),
    /// Looked like a token address but is not a valid one.
    #[error("bad token address: {0}")]
    Token(AddressError),
}

/// Why an amount field is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    /// Not a plain decimal integer of base units.
    #[error("amount must be a decimal integer of base units")]
    NotInteger,
    /// Zero.
    #[error("amount must not be zero")]
    Zero,
    /// More digits than fit in 128 bits.
    #[error("amount does not fit in 128 bits")]
    OutOfRange,
    /// Above what the asset can hold or the network allows.
    #[error("amount {got} is above the maximum {max}")]
    TooLarge {
        /// Given.
        got: u128,
        /// Allowed.
        max: u128,
    },
    /// So small that a claim or refund at a high fee would be dust or uneconomic.
    #[error("amount {got} is below the minimum {min}")]
    TooSmall {
        /// Given.
        got: u128,
        /// Required.
        min: u128,
    },
}

/// Why the quote expiry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExpiryError {
    /// Already passed.
    #[error("quote expiry {expires:?} is not after now {now:?}")]
    Past {
        /// Given.
        expires: UnixTime,
        /// Now.
        now: UnixTime,
    },
    /// Too far ahead: a long quote is a free option for the maker.
    #[error("quote expiry is more than {max} ahead")]
    TooFar {
        /// Allowed.
        max: Secs,
    },
}

/// Why an order is refused, by field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderError {
    /// The chain id is not this network's.
    #[error("chain id {got} is not {expected} ({network})")]
    ChainId {
        /// This network's.
        expected: u64,
        /// Given.
        got: u64,
        /// This network.
        network: Network,
    },
    /// The hashlock.
    #[error("hashlock: {0}")]
    Hashlock(HashError),
    /// The asset the maker gives.
    #[error("give_asset: {0}")]
    GiveAsset(AssetError),
    /// The asset the maker takes.
    #[error("take_asset: {0}")]
    TakeAsset(AssetError),
    /// Both assets are on one chain; one side must be BTC.
    #[error("one side must be BTC and the other ETH or an ERC-20")]
    SameChain,
    /// The amount the maker gives.
    #[error("give_amount: {0}")]
    GiveAmount(AmountError),
    /// The amount the maker takes.
    #[error("take_amount: {0}")]
    TakeAmount(AmountError),
    /// The maker's Bitcoin key.
    #[error("maker_btc_pubkey: {0}")]
    MakerBtcPubkey(PubkeyError),
    /// The maker's Ethereum address.
    #[error("maker_eth_address: {0}")]
    MakerEthAddress(AddressError),
    /// The quote expiry.
    #[error("quote_expires: {0}")]
    QuoteExpiry(ExpiryError),
}

fn parse_asset(s: &str) -> Result<Asset, AssetError> {
    match s {
        "BTC" => Ok(Asset::Btc),
        "ETH" => Ok(Asset::Eth),
        _ if s.starts_with("0x") || s.starts_with("0X") => EthAddress::parse(s)
            .map(Asset::Erc20)
            .map_err(AssetError::Token),
        _ => Err(AssetError::Unknown(s.to_owned())),
    }
}

fn parse_amount(asset: Asset, s: &str, network: Network) -> Result<Amount, AmountError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotInteger);
    }
    // Only digits remain, so the only way to fail is overflow.
    let n: u128 = s.parse().map_err(|_| AmountError::OutOfRange)?;
    if n == 0 {
        return Err(AmountError::Zero);
    }
    let p = network.params();
    let (min, max) = match asset {
        Asset::Btc => (u128::from(MIN_BTC_LOCK.0), u128::from(p.max_btc.0)),
        Asset::Eth => (MIN_ETH_LOCK.0, p.max_eth.0),
        // No price for tokens in the core: any non-zero amount; the relayer sets pair limits.
        Asset::Erc20(_) => (1, u128::MAX),
    };
    if n > max {
        return Err(AmountError::TooLarge { got: n, max });
    }
    if n < min {
        return Err(AmountError::TooSmall { got: n, min });
    }
    Ok(match asset {
        Asset::Btc => Amount::Btc(Sats(
            u64::try_from(n).map_err(|_| AmountError::TooLarge { got: n, max })?,
        )),
        Asset::Eth => Amount::Eth(Wei(n)),
        Asset::Erc20(token) => Amount::Token {
            token,
            units: TokenUnits(n),
        },
    })
}

/// Parse and check an order for `network` at wall-clock `now`. Errors name the first bad field,
/// in the order the fields are declared.
pub fn parse_order(raw: &RawOrder, network: Network, now: UnixTime) -> Result<Order, OrderError> {
    let p = network.params();
    if raw.chain_id != p.eth_chain_id.0 {
        return Err(OrderError::ChainId {
            expected: p.eth_chain_id.0,
            got: raw.chain_id,
            network,
        });
    }
    let hashlock = Hashlock::from_hex(&raw.hashlock).map_err(OrderError::Hashlock)?;
    let give_asset = parse_asset(&raw.give_asset).map_err(OrderError::GiveAsset)?;
    let take_asset = parse_asset(&raw.take_asset).map_err(OrderError::TakeAsset)?;
    if (give_asset == Asset::Btc) == (take_asset == Asset::Btc) {
        return Err(OrderError::SameChain);
    }
    let give =
        parse_amount(give_asset, &raw.give_amount, network).map_err(OrderError::GiveAmount)?;
    let take =
        parse_amount(take_asset, &raw.take_amount, network).map_err(OrderError::TakeAmount)?;
    let maker_btc_pubkey =
        BtcPubkey::from_hex(&raw.maker_btc_pubkey).map_err(OrderError::MakerBtcPubkey)?;
    let maker_eth_address =
        EthAddress::parse(&raw.maker_eth_address).map_err(OrderError::MakerEthAddress)?;
    let quote_expires = UnixTime(raw.quote_expires);
    if quote_expires <= now {
        return Err(OrderError::QuoteExpiry(ExpiryError::Past {
            expires: quote_expires,
            now,
        }));
    }
    if now.secs_until(quote_expires) > p.max_quote_ttl {
        return Err(OrderError::QuoteExpiry(ExpiryError::TooFar {
            max: p.max_quote_ttl,
        }));
    }
    Ok(Order {
        network,
        hashlock,
        give,
        take,
        maker_btc_pubkey,
        maker_eth_address,
        quote_expires,
    })
}

/// Why matched terms are refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TermsError {
    /// The timeouts break the 2:1 rule, a margin, or a bound.
    #[error("timelocks: {0}")]
    Timelock(#[from] TimelockError),
    /// The escrow is on another chain than this network's.
    #[error("escrow chain id {got:?} is not {expected:?}")]
    ChainId {
        /// This network's.
        expected: ChainId,
        /// In the terms.
        got: ChainId,
    },
    /// A leg's hashlock differs from the swap's.
    #[error("a leg's hashlock differs from the swap's")]
    Hashlock,
    /// Both legs on one chain, or a leg whose amount is of another chain's asset.
    #[error("legs must be one bitcoin HTLC and one ethereum escrow with matching assets")]
    Legs,
    /// One party on both ends of a lock: the claim and refund would go to the same key.
    #[error("a lock's claim and refund parties are the same")]
    SameParty,
    /// The finality policy is unsafe.
    #[error("finality: {0}")]
    Finality(#[from] FinalityError),
    /// The quote has already expired.
    #[error("the quote has expired")]
    QuoteExpired,
}

/// Check matched terms at `clock` before the swap may use them.
pub fn check_terms(terms: &Terms, clock: &Clock) -> Result<(), TermsError> {
    let p = terms.network.params();
    if terms.src.chain() == terms.dst.chain() {
        return Err(TermsError::Legs);
    }
    for leg in [&terms.src, &terms.dst] {
        if leg.hashlock() != terms.hashlock {
            return Err(TermsError::Hashlock);
        }
        if leg.amount().asset().chain() != leg.chain() {
            return Err(TermsError::Legs);
        }
        match leg {
            LockTerms::Btc(h) if h.claim_pubkey == h.refund_pubkey => {
                return Err(TermsError::SameParty);
            }
            LockTerms::Eth(e) if e.sender == e.receiver => return Err(TermsError::SameParty),
            LockTerms::Eth(e) if e.chain_id != p.eth_chain_id => {
                return Err(TermsError::ChainId {
                    expected: p.eth_chain_id,
                    got: e.chain_id,
                });
            }
            LockTerms::Btc(_) | LockTerms::Eth(_) => {}
        }
    }
    terms.finality.check()?;
    if clock.wall >= terms.quote_expires {
        return Err(TermsError::QuoteExpired);
    }
    check_windows(terms, clock, p)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::PubkeyError;
    use crate::secret::{HashError, Secret};

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn raw() -> RawOrder {
        RawOrder {
            chain_id: 1,
            hashlock: Hashlock::from_secret(&Secret::new([1; 32])).to_string(),
            give_asset: "BTC".into(),
            give_amount: "1000000".into(),
            take_asset: "ETH".into(),
            take_amount: "1000000000000000000".into(),
            maker_btc_pubkey: format!("02{}", "11".repeat(32)),
            maker_eth_address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
            quote_expires: NOW.0 + 600,
        }
    }

    fn err(f: impl FnOnce(&mut RawOrder)) -> OrderError {
        let mut r = raw();
        f(&mut r);
        parse_order(&r, Network::Mainnet, NOW).expect_err("must be refused")
    }

    #[test]
    fn a_good_order_parses_in_both_directions() {
        let o = parse_order(&raw(), Network::Mainnet, NOW).expect("valid");
        assert_eq!(o.direction(), crate::order::Direction::BtcToEth);
        let mut r = raw();
        std::mem::swap(&mut r.give_asset, &mut r.take_asset);
        std::mem::swap(&mut r.give_amount, &mut r.take_amount);
        r.give_asset = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into();
        let o = parse_order(&r, Network::Mainnet, NOW).expect("valid erc-20 order");
        assert_eq!(o.direction(), crate::order::Direction::EthToBtc);
    }

    #[test]
    fn each_bad_field_has_its_own_error() {
        assert!(matches!(
            err(|r| r.chain_id = 5),
            OrderError::ChainId { got: 5, .. }
        ));
        assert_eq!(
            err(|r| r.hashlock = "ab".into()),
            OrderError::Hashlock(HashError::BadLength(1))
        );
        assert_eq!(
            err(|r| r.hashlock = "zz".into()),
            OrderError::Hashlock(HashError::NotHex)
        );
        assert!(matches!(
            err(|r| r.give_asset = "DOGE".into()),
            OrderError::GiveAsset(AssetError::Unknown(_))
        ));
        assert!(matches!(
            err(|r| r.take_asset = "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into()),
            OrderError::TakeAsset(AssetError::Token(AddressError::BadChecksum))
        ));
        assert_eq!(err(|r| r.take_asset = "BTC".into()), OrderError::SameChain);
        assert_eq!(
            err(|r| r.give_amount = "0".into()),
            OrderError::GiveAmount(AmountError::Zero)
        );
        assert_eq!(
            err(|r| r.give_amount = "1.5".into()),
            OrderError::GiveAmount(AmountError::NotInteger)
        );
        assert_eq!(
            err(|r| r.give_amount = "-1".into()),
            OrderError::GiveAmount(AmountError::NotInteger)
        );
        assert_eq!(
            err(|r| r.give_amount = String::new()),
            OrderError::GiveAmount(AmountError::NotInteger)
        );
        assert!(matches!(
            err(|r| r.give_amount = "76329".into()),
            OrderError::GiveAmount(AmountError::TooSmall { min: 76_330, .. })
        ));
        assert!(matches!(
            err(|r| r.give_amount = "500000001".into()),
            OrderError::GiveAmount(AmountError::TooLarge { .. })
        ));
        assert_eq!(
            err(|r| r.take_amount = "9".repeat(40)),
            OrderError::TakeAmount(AmountError::OutOfRange)
        );
        assert!(matches!(
            err(|r| r.take_amount = "1".into()),
            OrderError::TakeAmount(AmountError::TooSmall { .. })
        ));
        assert_eq!(
            err(|r| r.maker_btc_pubkey = format!("04{}", "11".repeat(32))),
            OrderError::MakerBtcPubkey(PubkeyError::BadPrefix(4))
        );
        assert_eq!(
            err(|r| r.maker_btc_pubkey = "02".into()),
            OrderError::MakerBtcPubkey(PubkeyError::BadLength(1))
        );
        assert_eq!(
            err(|r| r.maker_eth_address = "0x1234".into()),
            OrderError::MakerEthAddress(AddressError::BadLength(4))
        );
    }

    #[test]
    fn quote_expiry_boundaries() {
        let ttl = Network::Mainnet.params().max_quote_ttl.0;
        for (exp, ok) in [
            (NOW.0 - 1, false),
            (NOW.0, false),
            (NOW.0 + 1, true),
            (NOW.0 + ttl, true),
            (NOW.0 + ttl + 1, false),
        ] {
            let mut r = raw();
            r.quote_expires = exp;
            assert_eq!(
                parse_order(&r, Network::Mainnet, NOW).is_ok(),
                ok,
                "expires {exp}"
            );
        }
    }

    #[test]
    fn amount_bounds_at_their_boundaries() {
        let max = Network::Mainnet.params().max_btc.0;
        for (v, ok) in [
            (MIN_BTC_LOCK.0 - 1, false),
            (MIN_BTC_LOCK.0, true),
            (max, true),
            (max + 1, false),
        ] {
            let mut r = raw();
            r.give_amount = v.to_string();
            assert_eq!(
                parse_order(&r, Network::Mainnet, NOW).is_ok(),
                ok,
                "{v} sat"
            );
        }
    }

    fn matched(o: &Order) -> Terms {
        use crate::finality::FinalityPolicy;
        use crate::order::MatchParams;
        use crate::time::BtcHeight;
        Terms::from_match(
            o,
            &MatchParams {
                resolver_btc_pubkey: BtcPubkey::from_hex(&format!("03{}", "22".repeat(32)))
                    .expect("valid"),
                resolver_eth_address: EthAddress([0x22; 20]),
                escrow_contract: EthAddress([0x33; 20]),
                chain_id: ChainId(1),
                btc_timeout: BtcHeight(1_000 + 400),
                eth_timeout: NOW.plus(Secs::hours(20)),
                finality: FinalityPolicy::DEFAULT,
            },
        )
    }

    fn at_now() -> Clock {
        Clock {
            btc_tip: crate::time::BtcHeight(1_000),
            eth_time: NOW,
            wall: NOW,
        }
    }

    #[test]
    fn matched_terms_are_checked() {
        let o = parse_order(&raw(), Network::Mainnet, NOW).expect("valid");
        let t = matched(&o);
        assert_eq!(check_terms(&t, &at_now()), Ok(()));

        let mut bad = t;
        if let LockTerms::Eth(e) = &mut bad.dst {
            e.chain_id = ChainId(5);
        }
        assert!(matches!(
            check_terms(&bad, &at_now()),
            Err(TermsError::ChainId { .. })
        ));

        let mut bad = t;
        if let LockTerms::Eth(e) = &mut bad.dst {
            e.sender = e.receiver;
        }
        assert_eq!(check_terms(&bad, &at_now()), Err(TermsError::SameParty));

        let mut bad = t;
        bad.hashlock = Hashlock([0; 32]);
        assert_eq!(check_terms(&bad, &at_now()), Err(TermsError::Hashlock));

        let mut bad = t;
        bad.finality.btc_confs_low = 0;
        assert!(matches!(
            check_terms(&bad, &at_now()),
            Err(TermsError::Finality(_))
        ));

        let mut bad = t;
        bad.dst = bad.src;
        assert_eq!(check_terms(&bad, &at_now()), Err(TermsError::Legs));

        let late = Clock {
            wall: o.quote_expires,
            ..at_now()
        };
        assert_eq!(check_terms(&t, &late), Err(TermsError::QuoteExpired));

        let mut bad = t;
        if let LockTerms::Btc(h) = &mut bad.src {
            h.timeout = crate::time::BtcHeight(1_000 + 200);
        }
        assert!(matches!(
            check_terms(&bad, &at_now()),
            Err(TermsError::Timelock(_))
        ));
    }
}
