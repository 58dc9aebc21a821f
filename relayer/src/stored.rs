//! The on-disk form of swap events: versioned serde types, separate from the in-memory types of
//! `crosslock-core`, with conversions both ways.
//!
//! Owns the JSON that goes into `swap_events.payload` (`{"v":1,"type":...}`). A stored event is
//! never changed once written: a new shape gets a new `v`, and old versions stay readable. This
//! module must never hide a decoding fault: a payload that does not convert back is corruption
//! and is reported as such, never skipped.

use crosslock_core::amount::{Amount, Sats, TokenUnits, Wei};
use crosslock_core::chain::{BtcPubkey, ChainId, EthAddress, LockId, Network, TxId};
use crosslock_core::finality::{Depth, EthDepth, FinalityPolicy};
use crosslock_core::order::{BtcHtlc, EthEscrow, LockTerms, Order, Terms};
use crosslock_core::secret::{Hashlock, Secret, SwapId};
use crosslock_core::swap::{Event, OperatorCommand, PresignedClaim, Side, SpendKind};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The only version written today.
pub const STORED_EVENT_VERSION: u8 = 1;

/// A stored payload that does not decode into a core event.
#[derive(Debug, Error)]
pub enum StoredError {
    /// Not JSON of any known shape.
    #[error("stored event is not valid JSON of a known shape: {0}")]
    Json(#[from] serde_json::Error),
    /// A version this code does not know.
    #[error("stored event version {0} is not supported")]
    Version(u8),
    /// A field does not hold a valid value.
    #[error("stored event field {0} is invalid")]
    Field(&'static str),
}

/// One stored event: the envelope with its version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Format version.
    pub v: u8,
    /// The event.
    #[serde(flatten)]
    pub event: StoredEventV1,
}

/// Version 1 of the event vocabulary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(clippy::large_enum_variant)]
pub enum StoredEventV1 {
    /// `Event::Created`.
    Created {
        /// Hex swap id.
        id: String,
        /// The order.
        order: StoredOrder,
        /// The clock.
        at: StoredClock,
    },
    /// `Event::Matched`.
    Matched {
        /// The terms.
        terms: StoredTerms,
        /// The clock.
        at: StoredClock,
    },
    /// `Event::Tick`.
    Tick {
        /// The clock.
        clock: StoredClock,
    },
    /// `Event::LockSeen`.
    LockSeen {
        /// "src" or "dst".
        side: StoredSide,
        /// The lock.
        lock: StoredLockId,
        /// What it holds.
        amount: StoredAmount,
        /// How deep.
        depth: StoredDepth,
        /// Unix seconds.
        seen_at: u64,
    },
    /// `Event::LockUnconfirmed`.
    LockUnconfirmed {
        /// Leg.
        side: StoredSide,
        /// The lock.
        lock: StoredLockId,
        /// New depth or gone.
        depth: Option<StoredDepth>,
    },
    /// `Event::SpendSeen`.
    SpendSeen {
        /// Leg.
        side: StoredSide,
        /// The lock.
        lock: StoredLockId,
        /// Hex tx id.
        tx: String,
        /// Hex secret for a claim, `None` for a refund.
        claim_secret: Option<String>,
        /// How deep.
        depth: StoredDepth,
    },
    /// `Event::SpendUnconfirmed`.
    SpendUnconfirmed {
        /// Leg.
        side: StoredSide,
        /// The lock.
        lock: StoredLockId,
        /// Hex tx id.
        tx: String,
        /// New depth or gone.
        depth: Option<StoredDepth>,
    },
    /// `Event::SecretRevealed`.
    SecretRevealed {
        /// Hex secret (redacted in timelines).
        secret: String,
        /// Hex raw transactions of the maker's claim ladder.
        maker_claim: Option<Vec<String>>,
    },
    /// `Event::Operator`.
    Operator {
        /// The command.
        command: StoredCommand,
        /// Why, as the operator said (not part of the core event).
        #[serde(default)]
        reason: String,
    },
}

/// Leg.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredSide {
    /// The maker's.
    Src,
    /// The resolver's.
    Dst,
}

/// An operator command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd")]
pub enum StoredCommand {
    /// Re-issue due actions.
    Retry,
    /// Give up the forward path.
    ForceRefund,
    /// A note.
    Annotate {
        /// The note.
        note: String,
    },
    /// Settle `NeedsOperator`.
    Resolve {
        /// Close the swap.
        close: bool,
    },
}

/// The clock.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StoredClock {
    /// Bitcoin tip height.
    pub btc_tip: u32,
    /// Latest Ethereum block time.
    pub eth_time: u64,
    /// Wall clock.
    pub wall: u64,
}

/// An amount: asset (`BTC`, `ETH` or a token address) and base units as a decimal string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAmount {
    /// `BTC`, `ETH` or `0x...`.
    pub asset: String,
    /// Decimal base units.
    pub units: String,
}

/// A lock id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "lowercase")]
pub enum StoredLockId {
    /// An outpoint.
    Btc {
        /// Hex txid (internal byte order).
        txid: String,
        /// Output index.
        vout: u32,
    },
    /// An escrow id.
    Eth {
        /// Hex id.
        id: String,
    },
}

/// A depth.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredDepth {
    /// Confirmations.
    Btc(u32),
    /// Finality tag.
    Eth(StoredEthDepth),
}

/// Ethereum finality tag.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredEthDepth {
    /// Mempool.
    Pending,
    /// In a block.
    Included,
    /// Safe.
    Safe,
    /// Finalized.
    Finalized,
}

/// An order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredOrder {
    /// Network name.
    pub network: String,
    /// Hex hashlock.
    pub hashlock: String,
    /// What the maker gives.
    pub give: StoredAmount,
    /// What the maker takes.
    pub take: StoredAmount,
    /// Hex compressed key.
    pub maker_btc_pubkey: String,
    /// Hex address.
    pub maker_eth_address: String,
    /// Unix seconds.
    pub quote_expires: u64,
}

/// One leg's lock parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "lowercase")]
pub enum StoredLockTerms {
    /// A Bitcoin HTLC.
    Btc {
        /// Hex hashlock.
        hashlock: String,
        /// Hex key.
        claim_pubkey: String,
        /// Hex key.
        refund_pubkey: String,
        /// CLTV height.
        timeout: u32,
        /// Satoshis.
        amount: u64,
    },
    /// An escrow.
    Eth {
        /// EVM chain id.
        chain_id: u64,
        /// Hex address.
        contract: String,
        /// Hex hashlock.
        hashlock: String,
        /// Hex address.
        sender: String,
        /// Hex address.
        receiver: String,
        /// Amount.
        amount: StoredAmount,
        /// Unix seconds.
        timeout: u64,
    },
}

/// Finality bands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredFinality {
    /// Sats.
    pub btc_high_value: u64,
    /// Confirmations.
    pub btc_confs_low: u32,
    /// Confirmations.
    pub btc_confs_high: u32,
    /// Wei, decimal.
    pub eth_high_value: String,
    /// Tag.
    pub eth_low: StoredEthDepth,
    /// Tag.
    pub eth_high: StoredEthDepth,
}

/// Matched terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTerms {
    /// Network name.
    pub network: String,
    /// Hex hashlock.
    pub hashlock: String,
    /// Unix seconds.
    pub quote_expires: u64,
    /// The maker's lock.
    pub src: StoredLockTerms,
    /// The resolver's lock.
    pub dst: StoredLockTerms,
    /// Finality bands.
    pub finality: StoredFinality,
}

// ---- core -> stored ------------------------------------------------------------------------

/// The network's stored name.
pub fn network_name(n: Network) -> &'static str {
    match n {
        Network::Mainnet => "mainnet",
        Network::Testnet => "testnet",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

/// Parse a network name as stored or configured.
pub fn parse_network(s: &str) -> Option<Network> {
    Network::ALL.into_iter().find(|n| network_name(*n) == s)
}

fn clock_out(c: &Clock) -> StoredClock {
    StoredClock {
        btc_tip: c.btc_tip.0,
        eth_time: c.eth_time.0,
        wall: c.wall.0,
    }
}

/// The asset of an amount in its stored spelling.
pub fn asset_name(a: &Amount) -> String {
    match a {
        Amount::Btc(_) => "BTC".to_owned(),
        Amount::Eth(_) => "ETH".to_owned(),
        Amount::Token { token, .. } => token.checksummed(),
    }
}

/// An amount in its stored form.
pub fn amount_out(a: &Amount) -> StoredAmount {
    StoredAmount {
        asset: asset_name(a),
        units: a.base_units().to_string(),
    }
}

/// A lock id in its stored form.
pub fn lock_out(l: &LockId) -> StoredLockId {
    match l {
        LockId::BtcOutpoint { txid, vout } => StoredLockId::Btc {
            txid: hex::encode(txid.0),
            vout: *vout,
        },
        LockId::EthEscrow { id } => StoredLockId::Eth {
            id: hex::encode(id),
        },
    }
}

/// The key of a lock in the `swap_locks` index: `txid:vout` or the escrow id, in hex.
pub fn lock_key(l: &LockId) -> (&'static str, String) {
    match l {
        LockId::BtcOutpoint { txid, vout } => {
            ("bitcoin", format!("{}:{vout}", hex::encode(txid.0)))
        }
        LockId::EthEscrow { id } => ("ethereum", format!("0x{}", hex::encode(id))),
    }
}

fn eth_depth_out(d: EthDepth) -> StoredEthDepth {
    match d {
        EthDepth::Pending => StoredEthDepth::Pending,
        EthDepth::Included => StoredEthDepth::Included,
        EthDepth::Safe => StoredEthDepth::Safe,
        EthDepth::Finalized => StoredEthDepth::Finalized,
    }
}

fn depth_out(d: &Depth) -> StoredDepth {
    match d {
        Depth::Btc(c) => StoredDepth::Btc(*c),
        Depth::Eth(t) => StoredDepth::Eth(eth_depth_out(*t)),
    }
}

fn side_out(s: Side) -> StoredSide {
    match s {
        Side::Src => StoredSide::Src,
        Side::Dst => StoredSide::Dst,
    }
}

fn order_out(o: &Order) -> StoredOrder {
    StoredOrder {
        network: network_name(o.network).to_owned(),
        hashlock: hex::encode(o.hashlock.0),
        give: amount_out(&o.give),
        take: amount_out(&o.take),
        maker_btc_pubkey: hex::encode(o.maker_btc_pubkey.as_bytes()),
        maker_eth_address: o.maker_eth_address.checksummed(),
        quote_expires: o.quote_expires.0,
    }
}

fn lock_terms_out(l: &LockTerms) -> StoredLockTerms {
    match l {
        LockTerms::Btc(h) => StoredLockTerms::Btc {
            hashlock: hex::encode(h.hashlock.0),
            claim_pubkey: hex::encode(h.claim_pubkey.as_bytes()),
            refund_pubkey: hex::encode(h.refund_pubkey.as_bytes()),
            timeout: h.timeout.0,
            amount: h.amount.0,
        },
        LockTerms::Eth(e) => StoredLockTerms::Eth {
            chain_id: e.chain_id.0,
            contract: e.contract.checksummed(),
            hashlock: hex::encode(e.hashlock.0),
            sender: e.sender.checksummed(),
            receiver: e.receiver.checksummed(),
            amount: amount_out(&e.amount),
            timeout: e.timeout.0,
        },
    }
}

fn terms_out(t: &Terms) -> StoredTerms {
    StoredTerms {
        network: network_name(t.network).to_owned(),
        hashlock: hex::encode(t.hashlock.0),
        quote_expires: t.quote_expires.0,
        src: lock_terms_out(&t.src),
        dst: lock_terms_out(&t.dst),
        finality: StoredFinality {
            btc_high_value: t.finality.btc_high_value.0,
            btc_confs_low: t.finality.btc_confs_low,
            btc_confs_high: t.finality.btc_confs_high,
            eth_high_value: t.finality.eth_high_value.0.to_string(),
            eth_low: eth_depth_out(t.finality.eth_low),
            eth_high: eth_depth_out(t.finality.eth_high),
        },
    }
}

/// The stored form of a core event. `reason` is the operator's words for an operator command.
pub fn event_out(e: &Event, reason: &str) -> StoredEvent {
    let event = match e {
        Event::Created { id, order, at } => StoredEventV1::Created {
            id: hex::encode(id.0),
            order: order_out(order),
            at: clock_out(at),
        },
        Event::Matched { terms, at } => StoredEventV1::Matched {
            terms: terms_out(terms),
            at: clock_out(at),
        },
        Event::Tick { clock } => StoredEventV1::Tick {
            clock: clock_out(clock),
        },
        Event::LockSeen {
            side,
            lock,
            amount,
            depth,
            seen_at,
        } => StoredEventV1::LockSeen {
            side: side_out(*side),
            lock: lock_out(lock),
            amount: amount_out(amount),
            depth: depth_out(depth),
            seen_at: seen_at.0,
        },
        Event::LockUnconfirmed { side, lock, depth } => StoredEventV1::LockUnconfirmed {
            side: side_out(*side),
            lock: lock_out(lock),
            depth: depth.as_ref().map(depth_out),
        },
        Event::SpendSeen {
            side,
            lock,
            tx,
            kind,
            depth,
        } => StoredEventV1::SpendSeen {
            side: side_out(*side),
            lock: lock_out(lock),
            tx: hex::encode(tx.0),
            claim_secret: match kind {
                SpendKind::Claim { secret } => Some(hex::encode(secret.expose())),
                SpendKind::Refund => None,
            },
            depth: depth_out(depth),
        },
        Event::SpendUnconfirmed {
            side,
            lock,
            tx,
            depth,
        } => StoredEventV1::SpendUnconfirmed {
            side: side_out(*side),
            lock: lock_out(lock),
            tx: hex::encode(tx.0),
            depth: depth.as_ref().map(depth_out),
        },
        Event::SecretRevealed {
            secret,
            maker_claim,
        } => StoredEventV1::SecretRevealed {
            secret: hex::encode(secret.expose()),
            maker_claim: maker_claim
                .as_ref()
                .map(|c| c.fee_ladder.iter().map(hex::encode).collect()),
        },
        Event::Operator(cmd) => StoredEventV1::Operator {
            command: match cmd {
                OperatorCommand::Retry => StoredCommand::Retry,
                OperatorCommand::ForceRefund => StoredCommand::ForceRefund,
                OperatorCommand::Annotate { note } => {
                    StoredCommand::Annotate { note: note.clone() }
                }
                OperatorCommand::Resolve { close } => StoredCommand::Resolve { close: *close },
            },
            reason: reason.to_owned(),
        },
    };
    StoredEvent {
        v: STORED_EVENT_VERSION,
        event,
    }
}

impl StoredEvent {
    /// The event's name, for the `kind` column and timelines.
    pub fn kind(&self) -> &'static str {
        match &self.event {
            StoredEventV1::Created { .. } => "Created",
            StoredEventV1::Matched { .. } => "Matched",
            StoredEventV1::Tick { .. } => "Tick",
            StoredEventV1::LockSeen { .. } => "LockSeen",
            StoredEventV1::LockUnconfirmed { .. } => "LockUnconfirmed",
            StoredEventV1::SpendSeen { .. } => "SpendSeen",
            StoredEventV1::SpendUnconfirmed { .. } => "SpendUnconfirmed",
            StoredEventV1::SecretRevealed { .. } => "SecretRevealed",
            StoredEventV1::Operator { .. } => "Operator",
        }
    }

    /// The payload with every secret replaced by `***`, for timelines and logs.
    pub fn redacted_json(&self) -> String {
        let mut e = self.clone();
        match &mut e.event {
            StoredEventV1::SecretRevealed {
                secret,
                maker_claim,
            } => {
                *secret = "***".to_owned();
                if let Some(c) = maker_claim {
                    for t in c.iter_mut() {
                        *t = format!("<{} bytes>", t.len() / 2);
                    }
                }
            }
            StoredEventV1::SpendSeen {
                claim_secret: Some(s),
                ..
            } => *s = "***".to_owned(),
            _ => {}
        }
        serde_json::to_string(&e).unwrap_or_default()
    }
}

// ---- stored -> core ------------------------------------------------------------------------

fn bytes<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N], StoredError> {
    let v = hex::decode(s).map_err(|_| StoredError::Field(field))?;
    v.try_into().map_err(|_| StoredError::Field(field))
}

fn clock_in(c: &StoredClock) -> Clock {
    Clock {
        btc_tip: BtcHeight(c.btc_tip),
        eth_time: UnixTime(c.eth_time),
        wall: UnixTime(c.wall),
    }
}

fn addr_in(s: &str, field: &'static str) -> Result<EthAddress, StoredError> {
    EthAddress::parse(s).map_err(|_| StoredError::Field(field))
}

fn pubkey_in(s: &str, field: &'static str) -> Result<BtcPubkey, StoredError> {
    BtcPubkey::from_hex(s).map_err(|_| StoredError::Field(field))
}

/// An amount from its stored form.
pub fn amount_in(a: &StoredAmount) -> Result<Amount, StoredError> {
    let n: u128 = a.units.parse().map_err(|_| StoredError::Field("amount"))?;
    Ok(match a.asset.as_str() {
        "BTC" => Amount::Btc(Sats(
            u64::try_from(n).map_err(|_| StoredError::Field("amount"))?,
        )),
        "ETH" => Amount::Eth(Wei(n)),
        t => Amount::Token {
            token: addr_in(t, "asset")?,
            units: TokenUnits(n),
        },
    })
}

/// A lock id from its stored form.
pub fn lock_in(l: &StoredLockId) -> Result<LockId, StoredError> {
    Ok(match l {
        StoredLockId::Btc { txid, vout } => LockId::BtcOutpoint {
            txid: TxId(bytes(txid, "lock.txid")?),
            vout: *vout,
        },
        StoredLockId::Eth { id } => LockId::EthEscrow {
            id: bytes(id, "lock.id")?,
        },
    })
}

fn eth_depth_in(d: StoredEthDepth) -> EthDepth {
    match d {
        StoredEthDepth::Pending => EthDepth::Pending,
        StoredEthDepth::Included => EthDepth::Included,
        StoredEthDepth::Safe => EthDepth::Safe,
        StoredEthDepth::Finalized => EthDepth::Finalized,
    }
}

fn depth_in(d: &StoredDepth) -> Depth {
    match d {
        StoredDepth::Btc(c) => Depth::Btc(*c),
        StoredDepth::Eth(t) => Depth::Eth(eth_depth_in(*t)),
    }
}

fn side_in(s: StoredSide) -> Side {
    match s {
        StoredSide::Src => Side::Src,
        StoredSide::Dst => Side::Dst,
    }
}

fn hashlock_in(s: &str) -> Result<Hashlock, StoredError> {
    Ok(Hashlock(bytes(s, "hashlock")?))
}

fn secret_in(s: &str) -> Result<Secret, StoredError> {
    Ok(Secret::new(bytes(s, "secret")?))
}

fn network_in(s: &str) -> Result<Network, StoredError> {
    parse_network(s).ok_or(StoredError::Field("network"))
}

fn order_in(o: &StoredOrder) -> Result<Order, StoredError> {
    Ok(Order {
        network: network_in(&o.network)?,
        hashlock: hashlock_in(&o.hashlock)?,
        give: amount_in(&o.give)?,
        take: amount_in(&o.take)?,
        maker_btc_pubkey: pubkey_in(&o.maker_btc_pubkey, "maker_btc_pubkey")?,
        maker_eth_address: addr_in(&o.maker_eth_address, "maker_eth_address")?,
        quote_expires: UnixTime(o.quote_expires),
    })
}

fn lock_terms_in(l: &StoredLockTerms) -> Result<LockTerms, StoredError> {
    Ok(match l {
        StoredLockTerms::Btc {
            hashlock,
            claim_pubkey,
            refund_pubkey,
            timeout,
            amount,
        } => LockTerms::Btc(BtcHtlc {
            hashlock: hashlock_in(hashlock)?,
            claim_pubkey: pubkey_in(claim_pubkey, "claim_pubkey")?,
            refund_pubkey: pubkey_in(refund_pubkey, "refund_pubkey")?,
            timeout: BtcHeight(*timeout),
            amount: Sats(*amount),
        }),
        StoredLockTerms::Eth {
            chain_id,
            contract,
            hashlock,
            sender,
            receiver,
            amount,
            timeout,
        } => LockTerms::Eth(EthEscrow {
            chain_id: ChainId(*chain_id),
            contract: addr_in(contract, "contract")?,
            hashlock: hashlock_in(hashlock)?,
            sender: addr_in(sender, "sender")?,
            receiver: addr_in(receiver, "receiver")?,
            amount: amount_in(amount)?,
            timeout: UnixTime(*timeout),
        }),
    })
}

fn terms_in(t: &StoredTerms) -> Result<Terms, StoredError> {
    Ok(Terms {
        network: network_in(&t.network)?,
        hashlock: hashlock_in(&t.hashlock)?,
        quote_expires: UnixTime(t.quote_expires),
        src: lock_terms_in(&t.src)?,
        dst: lock_terms_in(&t.dst)?,
        finality: FinalityPolicy {
            btc_high_value: Sats(t.finality.btc_high_value),
            btc_confs_low: t.finality.btc_confs_low,
            btc_confs_high: t.finality.btc_confs_high,
            eth_high_value: Wei(t
                .finality
                .eth_high_value
                .parse()
                .map_err(|_| StoredError::Field("finality.eth_high_value"))?),
            eth_low: eth_depth_in(t.finality.eth_low),
            eth_high: eth_depth_in(t.finality.eth_high),
        },
    })
}

impl StoredEvent {
    /// Parse a stored payload.
    pub fn from_json(s: &str) -> Result<StoredEvent, StoredError> {
        let e: StoredEvent = serde_json::from_str(s)?;
        if e.v != STORED_EVENT_VERSION {
            return Err(StoredError::Version(e.v));
        }
        Ok(e)
    }

    /// The payload as JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The core event.
    pub fn to_core(&self) -> Result<Event, StoredError> {
        Ok(match &self.event {
            StoredEventV1::Created { id, order, at } => Event::Created {
                id: SwapId(bytes(id, "id")?),
                order: order_in(order)?,
                at: clock_in(at),
            },
            StoredEventV1::Matched { terms, at } => Event::Matched {
                terms: terms_in(terms)?,
                at: clock_in(at),
            },
            StoredEventV1::Tick { clock } => Event::Tick {
                clock: clock_in(clock),
            },
            StoredEventV1::LockSeen {
                side,
                lock,
                amount,
                depth,
                seen_at,
            } => Event::LockSeen {
                side: side_in(*side),
                lock: lock_in(lock)?,
                amount: amount_in(amount)?,
                depth: depth_in(depth),
                seen_at: UnixTime(*seen_at),
            },
            StoredEventV1::LockUnconfirmed { side, lock, depth } => Event::LockUnconfirmed {
                side: side_in(*side),
                lock: lock_in(lock)?,
                depth: depth.as_ref().map(depth_in),
            },
            StoredEventV1::SpendSeen {
                side,
                lock,
                tx,
                claim_secret,
                depth,
            } => Event::SpendSeen {
                side: side_in(*side),
                lock: lock_in(lock)?,
                tx: TxId(bytes(tx, "tx")?),
                kind: match claim_secret {
                    Some(s) => SpendKind::Claim {
                        secret: secret_in(s)?,
                    },
                    None => SpendKind::Refund,
                },
                depth: depth_in(depth),
            },
            StoredEventV1::SpendUnconfirmed {
                side,
                lock,
                tx,
                depth,
            } => Event::SpendUnconfirmed {
                side: side_in(*side),
                lock: lock_in(lock)?,
                tx: TxId(bytes(tx, "tx")?),
                depth: depth.as_ref().map(depth_in),
            },
            StoredEventV1::SecretRevealed {
                secret,
                maker_claim,
            } => Event::SecretRevealed {
                secret: secret_in(secret)?,
                maker_claim: match maker_claim {
                    Some(ladder) => Some(PresignedClaim {
                        fee_ladder: ladder
                            .iter()
                            .map(|t| hex::decode(t).map_err(|_| StoredError::Field("maker_claim")))
                            .collect::<Result<_, _>>()?,
                    }),
                    None => None,
                },
            },
            StoredEventV1::Operator { command, .. } => Event::Operator(match command {
                StoredCommand::Retry => OperatorCommand::Retry,
                StoredCommand::ForceRefund => OperatorCommand::ForceRefund,
                StoredCommand::Annotate { note } => {
                    OperatorCommand::Annotate { note: note.clone() }
                }
                StoredCommand::Resolve { close } => OperatorCommand::Resolve { close: *close },
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        Order {
            network: Network::Regtest,
            hashlock: Secret::new([7; 32]).hashlock(),
            give: Amount::Btc(Sats(1_000_000)),
            take: Amount::Eth(Wei(10_u128.pow(17))),
            maker_btc_pubkey: BtcPubkey::from_bytes(&[2; 33]).expect("key"),
            maker_eth_address: EthAddress([9; 20]),
            quote_expires: UnixTime(1_000),
        }
    }

    #[test]
    fn every_event_round_trips() {
        let lock = LockId::BtcOutpoint {
            txid: TxId([1; 32]),
            vout: 3,
        };
        let events = vec![
            Event::Created {
                id: SwapId([5; 16]),
                order: order(),
                at: Clock::default(),
            },
            Event::LockSeen {
                side: Side::Src,
                lock,
                amount: Amount::Btc(Sats(5)),
                depth: Depth::Btc(2),
                seen_at: UnixTime(9),
            },
            Event::SpendSeen {
                side: Side::Dst,
                lock: LockId::EthEscrow { id: [4; 32] },
                tx: TxId([2; 32]),
                kind: SpendKind::Claim {
                    secret: Secret::new([7; 32]),
                },
                depth: Depth::Eth(EthDepth::Safe),
            },
            Event::SecretRevealed {
                secret: Secret::new([7; 32]),
                maker_claim: Some(PresignedClaim {
                    fee_ladder: vec![vec![1, 2, 3]],
                }),
            },
            Event::Operator(OperatorCommand::Annotate { note: "hi".into() }),
            Event::LockUnconfirmed {
                side: Side::Src,
                lock,
                depth: None,
            },
        ];
        for e in events {
            let s = event_out(&e, "").to_json();
            let back = StoredEvent::from_json(&s)
                .expect("parses")
                .to_core()
                .expect("core");
            assert_eq!(back, e, "{s}");
        }
    }

    #[test]
    fn redaction_hides_secrets() {
        let e = event_out(
            &Event::SecretRevealed {
                secret: Secret::new([0xab; 32]),
                maker_claim: None,
            },
            "",
        );
        assert!(!e.redacted_json().contains("abab"));
    }

    #[test]
    fn unknown_version_is_refused() {
        assert!(matches!(
            StoredEvent::from_json(
                r#"{"v":9,"type":"Tick","clock":{"btc_tip":1,"eth_time":1,"wall":1}}"#
            ),
            Err(StoredError::Version(9))
        ));
    }
}
