//! The stored form of a swap's events: versioned, serde-friendly mirrors of
//! `crosslock_core::swap::Event`, kept apart from the in-memory types so that the core can change
//! without silently changing what is on disk.
//!
//! Owns the JSON shape of `resolver.swap_events.event` (version 1). It must never store a derived
//! fact (only what `apply` accepted as input), and it is the one place a secret is written to the
//! database: the column is the resolver's record of what it must claim with.

use crosslock_core::amount::{Amount, Sats, TokenUnits, Wei};
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, LockId, Network, TxId};
use crosslock_core::finality::{Depth, EthDepth, FinalityPolicy};
use crosslock_core::order::{BtcHtlc, EthEscrow, LockTerms, Order, Terms};
use crosslock_core::secret::{Hashlock, Secret, SwapId};
use crosslock_core::swap::{Event, OperatorCommand, PresignedClaim, Side, SpendKind};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version written with every event.
pub const EVENT_VERSION: u32 = 1;

/// A stored event that no longer decodes into a core event.
#[derive(Debug, Error)]
pub enum StoredError {
    /// The JSON does not have the expected shape.
    #[error("stored event is not valid JSON of version {EVENT_VERSION}: {0}")]
    Json(#[from] serde_json::Error),
    /// A field holds bytes the core refuses (a bad key, a zero address).
    #[error("stored event field {0} is invalid")]
    Field(&'static str),
    /// Written by a newer version.
    #[error("stored event version {0} is not supported")]
    Version(u32),
}

fn h<const N: usize>(b: &[u8; N]) -> String {
    hex::encode(b)
}

fn unh<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N], StoredError> {
    hex::decode(s)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or(StoredError::Field(field))
}

/// One stored event with its version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Always [`EVENT_VERSION`] when written by this code.
    pub v: u32,
    /// The event.
    pub e: EventV1,
}

/// Version 1 of the event vocabulary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs, clippy::large_enum_variant)]
pub enum EventV1 {
    Created {
        id: String,
        order: OrderV1,
        at: ClockV1,
    },
    Matched {
        terms: TermsV1,
        at: ClockV1,
    },
    Tick {
        clock: ClockV1,
    },
    LockSeen {
        side: SideV1,
        lock: LockV1,
        amount: AmountV1,
        depth: DepthV1,
        seen_at: u64,
    },
    LockUnconfirmed {
        side: SideV1,
        lock: LockV1,
        depth: Option<DepthV1>,
    },
    SpendSeen {
        side: SideV1,
        lock: LockV1,
        tx: String,
        secret: Option<String>,
        depth: DepthV1,
    },
    SpendUnconfirmed {
        side: SideV1,
        lock: LockV1,
        tx: String,
        depth: Option<DepthV1>,
    },
    SecretRevealed {
        secret: String,
        maker_claim: Option<Vec<String>>,
    },
    Retry,
    ForceRefund,
    Annotate {
        note: String,
    },
    Resolve {
        close: bool,
    },
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideV1 {
    Src,
    Dst,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ClockV1 {
    pub btc_tip: u32,
    pub eth_time: u64,
    pub wall: u64,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "snake_case")]
pub enum LockV1 {
    Btc { txid: String, vout: u32 },
    Eth { id: String },
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "asset", rename_all = "snake_case")]
pub enum AmountV1 {
    Btc { sats: u64 },
    // u128 as a decimal string: JSON numbers lose precision above 2^53.
    Eth { wei: String },
    Token { token: String, units: String },
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EthDepthV1 {
    Pending,
    Included,
    Safe,
    Finalized,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepthV1 {
    Btc(u32),
    Eth(EthDepthV1),
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderV1 {
    pub network: String,
    pub hashlock: String,
    pub give: AmountV1,
    pub take: AmountV1,
    pub maker_btc_pubkey: String,
    pub maker_eth_address: String,
    pub quote_expires: u64,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "snake_case")]
pub enum LockTermsV1 {
    Btc {
        hashlock: String,
        claim_pubkey: String,
        refund_pubkey: String,
        timeout: u32,
        sats: u64,
    },
    Eth {
        chain_id: u64,
        contract: String,
        hashlock: String,
        sender: String,
        receiver: String,
        amount: AmountV1,
        timeout: u64,
    },
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinalityV1 {
    pub btc_high_value: u64,
    pub btc_confs_low: u32,
    pub btc_confs_high: u32,
    pub eth_high_value: String,
    pub eth_low: EthDepthV1,
    pub eth_high: EthDepthV1,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TermsV1 {
    pub network: String,
    pub hashlock: String,
    pub quote_expires: u64,
    pub src: LockTermsV1,
    pub dst: LockTermsV1,
    pub finality: FinalityV1,
}

fn side(s: Side) -> SideV1 {
    match s {
        Side::Src => SideV1::Src,
        Side::Dst => SideV1::Dst,
    }
}

fn side_back(s: SideV1) -> Side {
    match s {
        SideV1::Src => Side::Src,
        SideV1::Dst => Side::Dst,
    }
}

fn clock(c: &Clock) -> ClockV1 {
    ClockV1 {
        btc_tip: c.btc_tip.0,
        eth_time: c.eth_time.0,
        wall: c.wall.0,
    }
}

fn clock_back(c: ClockV1) -> Clock {
    Clock {
        btc_tip: BtcHeight(c.btc_tip),
        eth_time: UnixTime(c.eth_time),
        wall: UnixTime(c.wall),
    }
}

/// A lock id as stored (and as shown in logs and metrics labels).
pub fn lock(l: &LockId) -> LockV1 {
    match l {
        LockId::BtcOutpoint { txid, vout } => LockV1::Btc {
            txid: h(&txid.0),
            vout: *vout,
        },
        LockId::EthEscrow { id } => LockV1::Eth { id: h(id) },
    }
}

fn lock_back(l: &LockV1) -> Result<LockId, StoredError> {
    Ok(match l {
        LockV1::Btc { txid, vout } => LockId::BtcOutpoint {
            txid: TxId(unh(txid, "lock.txid")?),
            vout: *vout,
        },
        LockV1::Eth { id } => LockId::EthEscrow {
            id: unh(id, "lock.id")?,
        },
    })
}

fn amount(a: &Amount) -> AmountV1 {
    match a {
        Amount::Btc(s) => AmountV1::Btc { sats: s.0 },
        Amount::Eth(w) => AmountV1::Eth {
            wei: w.0.to_string(),
        },
        Amount::Token { token, units } => AmountV1::Token {
            token: h(&token.0),
            units: units.0.to_string(),
        },
    }
}

fn u128_back(s: &str, field: &'static str) -> Result<u128, StoredError> {
    s.parse().map_err(|_| StoredError::Field(field))
}

fn amount_back(a: &AmountV1) -> Result<Amount, StoredError> {
    Ok(match a {
        AmountV1::Btc { sats } => Amount::Btc(Sats(*sats)),
        AmountV1::Eth { wei } => Amount::Eth(Wei(u128_back(wei, "amount.wei")?)),
        AmountV1::Token { token, units } => Amount::Token {
            token: EthAddress(unh(token, "amount.token")?),
            units: TokenUnits(u128_back(units, "amount.units")?),
        },
    })
}

fn eth_depth(d: EthDepth) -> EthDepthV1 {
    match d {
        EthDepth::Pending => EthDepthV1::Pending,
        EthDepth::Included => EthDepthV1::Included,
        EthDepth::Safe => EthDepthV1::Safe,
        EthDepth::Finalized => EthDepthV1::Finalized,
    }
}

fn eth_depth_back(d: EthDepthV1) -> EthDepth {
    match d {
        EthDepthV1::Pending => EthDepth::Pending,
        EthDepthV1::Included => EthDepth::Included,
        EthDepthV1::Safe => EthDepth::Safe,
        EthDepthV1::Finalized => EthDepth::Finalized,
    }
}

fn depth(d: &Depth) -> DepthV1 {
    match d {
        Depth::Btc(c) => DepthV1::Btc(*c),
        Depth::Eth(e) => DepthV1::Eth(eth_depth(*e)),
    }
}

fn depth_back(d: DepthV1) -> Depth {
    match d {
        DepthV1::Btc(c) => Depth::Btc(c),
        DepthV1::Eth(e) => Depth::Eth(eth_depth_back(e)),
    }
}

fn network_back(s: &str) -> Result<Network, StoredError> {
    crate::config::parse_network(s).map_err(|_| StoredError::Field("network"))
}

fn pubkey_back(s: &str, field: &'static str) -> Result<BtcPubkey, StoredError> {
    BtcPubkey::from_hex(s).map_err(|_| StoredError::Field(field))
}

fn lock_terms(t: &LockTerms) -> LockTermsV1 {
    match t {
        LockTerms::Btc(b) => LockTermsV1::Btc {
            hashlock: h(&b.hashlock.0),
            claim_pubkey: h(b.claim_pubkey.as_bytes()),
            refund_pubkey: h(b.refund_pubkey.as_bytes()),
            timeout: b.timeout.0,
            sats: b.amount.0,
        },
        LockTerms::Eth(e) => LockTermsV1::Eth {
            chain_id: e.chain_id.0,
            contract: h(&e.contract.0),
            hashlock: h(&e.hashlock.0),
            sender: h(&e.sender.0),
            receiver: h(&e.receiver.0),
            amount: amount(&e.amount),
            timeout: e.timeout.0,
        },
    }
}

fn lock_terms_back(t: &LockTermsV1) -> Result<LockTerms, StoredError> {
    Ok(match t {
        LockTermsV1::Btc {
            hashlock,
            claim_pubkey,
            refund_pubkey,
            timeout,
            sats,
        } => LockTerms::Btc(BtcHtlc {
            hashlock: Hashlock(unh(hashlock, "terms.hashlock")?),
            claim_pubkey: pubkey_back(claim_pubkey, "terms.claim_pubkey")?,
            refund_pubkey: pubkey_back(refund_pubkey, "terms.refund_pubkey")?,
            timeout: BtcHeight(*timeout),
            amount: Sats(*sats),
        }),
        LockTermsV1::Eth {
            chain_id,
            contract,
            hashlock,
            sender,
            receiver,
            amount,
            timeout,
        } => LockTerms::Eth(EthEscrow {
            chain_id: ChainId(*chain_id),
            contract: EthAddress(unh(contract, "terms.contract")?),
            hashlock: Hashlock(unh(hashlock, "terms.hashlock")?),
            sender: EthAddress(unh(sender, "terms.sender")?),
            receiver: EthAddress(unh(receiver, "terms.receiver")?),
            amount: amount_back(amount)?,
            timeout: UnixTime(*timeout),
        }),
    })
}

fn finality(f: &FinalityPolicy) -> FinalityV1 {
    FinalityV1 {
        btc_high_value: f.btc_high_value.0,
        btc_confs_low: f.btc_confs_low,
        btc_confs_high: f.btc_confs_high,
        eth_high_value: f.eth_high_value.0.to_string(),
        eth_low: eth_depth(f.eth_low),
        eth_high: eth_depth(f.eth_high),
    }
}

fn finality_back(f: &FinalityV1) -> Result<FinalityPolicy, StoredError> {
    Ok(FinalityPolicy {
        btc_high_value: Sats(f.btc_high_value),
        btc_confs_low: f.btc_confs_low,
        btc_confs_high: f.btc_confs_high,
        eth_high_value: Wei(u128_back(&f.eth_high_value, "finality.eth_high_value")?),
        eth_low: eth_depth_back(f.eth_low),
        eth_high: eth_depth_back(f.eth_high),
    })
}

/// The stored form of a core event.
pub fn to_stored(e: &Event) -> StoredEvent {
    let e = match e {
        Event::Created { id, order, at } => EventV1::Created {
            id: h(&id.0),
            order: OrderV1 {
                network: order.network.to_string(),
                hashlock: h(&order.hashlock.0),
                give: amount(&order.give),
                take: amount(&order.take),
                maker_btc_pubkey: h(order.maker_btc_pubkey.as_bytes()),
                maker_eth_address: h(&order.maker_eth_address.0),
                quote_expires: order.quote_expires.0,
            },
            at: clock(at),
        },
        Event::Matched { terms, at } => EventV1::Matched {
            terms: TermsV1 {
                network: terms.network.to_string(),
                hashlock: h(&terms.hashlock.0),
                quote_expires: terms.quote_expires.0,
                src: lock_terms(&terms.src),
                dst: lock_terms(&terms.dst),
                finality: finality(&terms.finality),
            },
            at: clock(at),
        },
        Event::Tick { clock: c } => EventV1::Tick { clock: clock(c) },
        Event::LockSeen {
            side: s,
            lock: l,
            amount: a,
            depth: d,
            seen_at,
        } => EventV1::LockSeen {
            side: side(*s),
            lock: lock(l),
            amount: amount(a),
            depth: depth(d),
            seen_at: seen_at.0,
        },
        Event::LockUnconfirmed {
            side: s,
            lock: l,
            depth: d,
        } => EventV1::LockUnconfirmed {
            side: side(*s),
            lock: lock(l),
            depth: d.as_ref().map(depth),
        },
        Event::SpendSeen {
            side: s,
            lock: l,
            tx,
            kind,
            depth: d,
        } => EventV1::SpendSeen {
            side: side(*s),
            lock: lock(l),
            tx: h(&tx.0),
            secret: match kind {
                SpendKind::Claim { secret } => Some(h(secret.expose())),
                SpendKind::Refund => None,
            },
            depth: depth(d),
        },
        Event::SpendUnconfirmed {
            side: s,
            lock: l,
            tx,
            depth: d,
        } => EventV1::SpendUnconfirmed {
            side: side(*s),
            lock: lock(l),
            tx: h(&tx.0),
            depth: d.as_ref().map(depth),
        },
        Event::SecretRevealed {
            secret,
            maker_claim,
        } => EventV1::SecretRevealed {
            secret: h(secret.expose()),
            maker_claim: maker_claim
                .as_ref()
                .map(|c| c.fee_ladder.iter().map(hex::encode).collect()),
        },
        Event::Operator(OperatorCommand::Retry) => EventV1::Retry,
        Event::Operator(OperatorCommand::ForceRefund) => EventV1::ForceRefund,
        Event::Operator(OperatorCommand::Annotate { note }) => {
            EventV1::Annotate { note: note.clone() }
        }
        Event::Operator(OperatorCommand::Resolve { close }) => EventV1::Resolve { close: *close },
    };
    StoredEvent {
        v: EVENT_VERSION,
        e,
    }
}

/// The core event of a stored one.
pub fn from_stored(s: &StoredEvent) -> Result<Event, StoredError> {
    if s.v != EVENT_VERSION {
        return Err(StoredError::Version(s.v));
    }
    Ok(match &s.e {
        EventV1::Created { id, order, at } => Event::Created {
            id: SwapId(unh(id, "id")?),
            order: Order {
                network: network_back(&order.network)?,
                hashlock: Hashlock(unh(&order.hashlock, "order.hashlock")?),
                give: amount_back(&order.give)?,
                take: amount_back(&order.take)?,
                maker_btc_pubkey: pubkey_back(&order.maker_btc_pubkey, "order.maker_btc_pubkey")?,
                maker_eth_address: EthAddress(unh(
                    &order.maker_eth_address,
                    "order.maker_eth_address",
                )?),
                quote_expires: UnixTime(order.quote_expires),
            },
            at: clock_back(*at),
        },
        EventV1::Matched { terms, at } => Event::Matched {
            terms: Terms {
                network: network_back(&terms.network)?,
                hashlock: Hashlock(unh(&terms.hashlock, "terms.hashlock")?),
                quote_expires: UnixTime(terms.quote_expires),
                src: lock_terms_back(&terms.src)?,
                dst: lock_terms_back(&terms.dst)?,
                finality: finality_back(&terms.finality)?,
            },
            at: clock_back(*at),
        },
        EventV1::Tick { clock } => Event::Tick {
            clock: clock_back(*clock),
        },
        EventV1::LockSeen {
            side,
            lock,
            amount,
            depth,
            seen_at,
        } => Event::LockSeen {
            side: side_back(*side),
            lock: lock_back(lock)?,
            amount: amount_back(amount)?,
            depth: depth_back(*depth),
            seen_at: UnixTime(*seen_at),
        },
        EventV1::LockUnconfirmed { side, lock, depth } => Event::LockUnconfirmed {
            side: side_back(*side),
            lock: lock_back(lock)?,
            depth: depth.map(depth_back),
        },
        EventV1::SpendSeen {
            side,
            lock,
            tx,
            secret,
            depth,
        } => Event::SpendSeen {
            side: side_back(*side),
            lock: lock_back(lock)?,
            tx: TxId(unh(tx, "tx")?),
            kind: match secret {
                Some(s) => SpendKind::Claim {
                    secret: Secret::new(unh(s, "secret")?),
                },
                None => SpendKind::Refund,
            },
            depth: depth_back(*depth),
        },
        EventV1::SpendUnconfirmed {
            side,
            lock,
            tx,
            depth,
        } => Event::SpendUnconfirmed {
            side: side_back(*side),
            lock: lock_back(lock)?,
            tx: TxId(unh(tx, "tx")?),
            depth: depth.map(depth_back),
        },
        EventV1::SecretRevealed {
            secret,
            maker_claim,
        } => Event::SecretRevealed {
            secret: Secret::new(unh(secret, "secret")?),
            maker_claim: match maker_claim {
                Some(rungs) => Some(PresignedClaim {
                    fee_ladder: rungs
                        .iter()
                        .map(|r| hex::decode(r).map_err(|_| StoredError::Field("maker_claim")))
                        .collect::<Result<_, _>>()?,
                }),
                None => None,
            },
        },
        EventV1::Retry => Event::Operator(OperatorCommand::Retry),
        EventV1::ForceRefund => Event::Operator(OperatorCommand::ForceRefund),
        EventV1::Annotate { note } => {
            Event::Operator(OperatorCommand::Annotate { note: note.clone() })
        }
        EventV1::Resolve { close } => Event::Operator(OperatorCommand::Resolve { close: *close }),
    })
}

/// A stored event as JSON.
pub fn encode(e: &Event) -> serde_json::Value {
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_value(to_stored(e)).unwrap_or(serde_json::Value::Null)
}

/// A core event from JSON.
pub fn decode(v: serde_json::Value) -> Result<Event, StoredError> {
    from_stored(&serde_json::from_value(v)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crosslock_core::order::Direction;
    use crosslock_core::swap::fold;

    fn later_events(dir: Direction) -> Vec<Event> {
        let s = fixtures::swap(dir);
        let terms = s.terms.expect("matched");
        let (src_amount, dst_amount) = (terms.src.amount(), terms.dst.amount());
        let lock = |side| match (dir, side) {
            (Direction::BtcToEth, Side::Src) | (Direction::EthToBtc, Side::Dst) => {
                LockId::BtcOutpoint {
                    txid: TxId([4; 32]),
                    vout: 1,
                }
            }
            _ => LockId::EthEscrow { id: [5; 32] },
        };
        let depth = |side| match lock(side) {
            LockId::BtcOutpoint { .. } => Depth::Btc(6),
            LockId::EthEscrow { .. } => Depth::Eth(EthDepth::Finalized),
        };
        let secret = Secret::new([0; 32]);
        let maker_claim = (dir == Direction::EthToBtc).then(|| PresignedClaim {
            fee_ladder: vec![vec![1, 2, 3], vec![4, 5]],
        });
        vec![
            Event::Tick {
                clock: Clock {
                    btc_tip: BtcHeight(1_001),
                    eth_time: UnixTime(fixtures::NOW + 60),
                    wall: UnixTime(fixtures::NOW + 60),
                },
            },
            Event::LockSeen {
                side: Side::Src,
                lock: lock(Side::Src),
                amount: src_amount,
                depth: depth(Side::Src),
                seen_at: UnixTime(fixtures::NOW + 60),
            },
            Event::LockSeen {
                side: Side::Dst,
                lock: lock(Side::Dst),
                amount: dst_amount,
                depth: depth(Side::Dst),
                seen_at: UnixTime(fixtures::NOW + 61),
            },
            Event::Operator(OperatorCommand::Annotate {
                note: "checked by hand".into(),
            }),
            Event::SecretRevealed {
                secret: secret.clone(),
                maker_claim,
            },
            Event::SpendSeen {
                side: Side::Dst,
                lock: lock(Side::Dst),
                tx: TxId([6; 32]),
                kind: SpendKind::Claim { secret },
                depth: depth(Side::Dst),
            },
            Event::Operator(OperatorCommand::Retry),
        ]
    }

    #[test]
    fn every_event_round_trips_and_the_log_replays_to_the_same_swap() {
        for dir in [Direction::BtcToEth, Direction::EthToBtc] {
            let mut events = fixtures::events(dir);
            events.extend(later_events(dir));
            let before = fold(&events).expect("valid log");
            let stored: Vec<serde_json::Value> = events.iter().map(encode).collect();
            let back: Vec<Event> = stored
                .into_iter()
                .map(|v| decode(v).expect("decodes"))
                .collect();
            assert_eq!(back, events, "{dir:?}");
            assert_eq!(fold(&back).expect("replays"), before);
        }
    }

    #[test]
    fn unknown_versions_and_bad_fields_are_refused() {
        let mut v = encode(&fixtures::events(Direction::BtcToEth)[0]);
        v["v"] = 2.into();
        assert!(matches!(decode(v), Err(StoredError::Version(2))));
        let mut v = encode(&fixtures::events(Direction::BtcToEth)[0]);
        v["e"]["id"] = "zz".into();
        assert!(matches!(decode(v), Err(StoredError::Field("id"))));
    }
}
