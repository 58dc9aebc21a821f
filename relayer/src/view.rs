//! The client-facing view of a swap, derived from the core record: the `crosslock.public.v1.Swap`
//! message, the state name stored in the projection, and the next deadline the sweeper uses.
//!
//! Owns the mapping from core types to API types. It must never expose the secret (only whether
//! it is known) and never decide anything: the core decides, this only describes.

use crosslock_core::amount::Amount;
use crosslock_core::chain::{Asset, LockId};
use crosslock_core::finality::{Depth, EthDepth};
use crosslock_core::order::{Direction, LockTerms};
use crosslock_core::swap::{Side, Swap, SwapState};
use crosslock_core::time::{BTC_FAST_BLOCK_SECS, UnixTime};
use crosslock_proto::public::v1 as pb;

/// How often a swap with a claim or refund under way is ticked, so fee escalation and deadline
/// alerts advance without a per-swap loop: the sweeper picks it up through the deadline index.
pub const ACTIVE_RECHECK_SECS: u64 = 60;

/// The state's name as stored in `swaps.state` (the core's past-tense fact, no payload).
pub fn state_name(s: &SwapState) -> &'static str {
    match s {
        SwapState::Created => "Created",
        SwapState::Matched => "Matched",
        SwapState::SrcLockSeen => "SrcLockSeen",
        SwapState::SrcLocked => "SrcLocked",
        SwapState::DstLockSeen => "DstLockSeen",
        SwapState::DstLocked => "DstLocked",
        SwapState::SecretRevealed => "SecretRevealed",
        SwapState::DstClaimed => "DstClaimed",
        SwapState::SrcClaimed => "SrcClaimed",
        SwapState::Completed => "Completed",
        SwapState::Expired { .. } => "Expired",
        SwapState::DstRefunded => "DstRefunded",
        SwapState::SrcRefunded => "SrcRefunded",
        SwapState::Refunded => "Refunded",
        SwapState::NeedsOperator { .. } => "NeedsOperator",
    }
}

/// Why, for `Expired` and `NeedsOperator`.
pub fn state_reason(s: &SwapState) -> String {
    match s {
        SwapState::Expired { reason } => format!("{reason:?}"),
        SwapState::NeedsOperator { reason } => format!("{reason:?}"),
        _ => String::new(),
    }
}

fn state_pb(s: &SwapState) -> pb::SwapState {
    use pb::SwapState as P;
    match s {
        SwapState::Created => P::Created,
        SwapState::Matched => P::Matched,
        SwapState::SrcLockSeen => P::SrcLockSeen,
        SwapState::SrcLocked => P::SrcLocked,
        SwapState::DstLockSeen => P::DstLockSeen,
        SwapState::DstLocked => P::DstLocked,
        SwapState::SecretRevealed => P::SecretRevealed,
        SwapState::DstClaimed => P::DstClaimed,
        SwapState::SrcClaimed => P::SrcClaimed,
        SwapState::Completed => P::Completed,
        SwapState::Expired { .. } => P::Expired,
        SwapState::DstRefunded => P::DstRefunded,
        SwapState::SrcRefunded => P::SrcRefunded,
        SwapState::Refunded => P::Refunded,
        SwapState::NeedsOperator { .. } => P::NeedsOperator,
    }
}

/// The API form of an asset.
pub fn asset_pb(a: Asset) -> pb::Asset {
    match a {
        Asset::Btc => pb::Asset {
            chain: pb::Chain::Bitcoin.into(),
            token: String::new(),
        },
        Asset::Eth => pb::Asset {
            chain: pb::Chain::Ethereum.into(),
            token: String::new(),
        },
        Asset::Erc20(t) => pb::Asset {
            chain: pb::Chain::Ethereum.into(),
            token: t.checksummed(),
        },
    }
}

/// The API form of a direction.
pub fn direction_pb(d: Direction) -> pb::Direction {
    match d {
        Direction::BtcToEth => pb::Direction::BtcToEth,
        Direction::EthToBtc => pb::Direction::EthToBtc,
    }
}

/// A lock id as the API spells it: `txid:vout` (txid in the usual reversed hex) or `0x` + hex.
pub fn lock_text(l: &LockId) -> String {
    match l {
        LockId::BtcOutpoint { txid, vout } => {
            let mut b = txid.0;
            b.reverse();
            format!("{}:{vout}", hex::encode(b))
        }
        LockId::EthEscrow { id } => format!("0x{}", hex::encode(id)),
    }
}

fn eth_depth_text(d: Depth) -> &'static str {
    match d {
        Depth::Eth(EthDepth::Pending) => "pending",
        Depth::Eth(EthDepth::Included) => "included",
        Depth::Eth(EthDepth::Safe) => "safe",
        Depth::Eth(EthDepth::Finalized) => "finalized",
        Depth::Btc(_) => "",
    }
}

/// The API record of a swap. `version` is the log length; times are unix seconds.
pub fn swap_pb(s: &Swap, version: u64, created_at: i64, updated_at: i64) -> pb::Swap {
    let o = &s.order;
    let dir = o.direction();
    let mut out = pb::Swap {
        swap_id: hex::encode(s.id.0),
        direction: direction_pb(dir).into(),
        state: state_pb(&s.state).into(),
        version,
        hashlock: o.hashlock.0.to_vec(),
        src_asset: Some(asset_pb(o.give.asset())),
        dst_asset: Some(asset_pb(o.take.asset())),
        src_amount: o.give.base_units().to_string(),
        dst_amount: o.take.base_units().to_string(),
        bitcoin: None,
        ethereum: None,
        fund_by: i64::try_from(o.quote_expires.0).unwrap_or(i64::MAX),
        state_reason: state_reason(&s.state),
        created_at,
        updated_at,
        maker_btc_pubkey: o.maker_btc_pubkey.as_bytes().to_vec(),
        maker_eth_address: o.maker_eth_address.checksummed(),
        secret_known: s.secret.is_some(),
    };
    let (btc_side, eth_side) = match dir {
        Direction::BtcToEth => (Side::Src, Side::Dst),
        Direction::EthToBtc => (Side::Dst, Side::Src),
    };
    if let Some(LockTerms::Btc(h)) = s.lock_terms(btc_side) {
        let main = s.main_lock(btc_side);
        // Terms the core accepted always make a valid HTLC; should one not, the view shows
        // no address rather than a wrong one.
        let htlc = crosslock_btc::htlc::HtlcParams::from_core(
            o.hashlock,
            &h.claim_pubkey,
            &h.refund_pubkey,
            h.timeout,
        )
        .ok();
        out.bitcoin = Some(pb::BitcoinHtlc {
            address: htlc
                .map(|p| p.address(btc_network(o.network)).to_string())
                .unwrap_or_default(),
            witness_script: htlc
                .map(|p| p.witness_script().to_bytes())
                .unwrap_or_default(),
            timeout_height: h.timeout.0,
            amount: h.amount.0.to_string(),
            outpoint: main.map(|l| lock_text(&l.id)).unwrap_or_default(),
            confirmations: match main.map(|l| l.depth) {
                Some(Depth::Btc(c)) => c,
                _ => 0,
            },
            claim_pubkey: h.claim_pubkey.as_bytes().to_vec(),
            refund_pubkey: h.refund_pubkey.as_bytes().to_vec(),
        });
    }
    if let Some(LockTerms::Eth(e)) = s.lock_terms(eth_side) {
        let main = s.main_lock(eth_side);
        out.ethereum = Some(pb::EthereumLock {
            contract: e.contract.checksummed(),
            escrow_id: match main.map(|l| l.id) {
                Some(LockId::EthEscrow { id }) => id.to_vec(),
                _ => Vec::new(),
            },
            token: match e.amount {
                Amount::Token { token, .. } => token.checksummed(),
                Amount::Btc(_) | Amount::Eth(_) => String::new(),
            },
            amount: e.amount.base_units().to_string(),
            sender: e.sender.checksummed(),
            receiver: e.receiver.checksummed(),
            timeout: i64::try_from(e.timeout.0).unwrap_or(i64::MAX),
            lock_tx_hash: Vec::new(),
            chain_id: e.chain_id.0,
            depth: main
                .map(|l| eth_depth_text(l.depth))
                .unwrap_or_default()
                .to_owned(),
        });
    }
    out
}

/// A one-line description of a change, for progress displays.
pub fn describe(before: Option<&Swap>, after: &Swap) -> String {
    let name = state_name(&after.state);
    match before {
        Some(b) if b.state == after.state => format!("{name} (updated)"),
        _ => {
            let reason = state_reason(&after.state);
            if reason.is_empty() {
                name.to_owned()
            } else {
                format!("{name}: {reason}")
            }
        }
    }
}

/// When the swap next needs a tick without any chain event, in unix seconds; `None` when it is
/// terminal. Only the earliest relevant moment counts: the quote expiry before the src lock, the
/// timeouts after, and a short recheck while a claim or refund is under way.
pub fn next_deadline(s: &Swap, now: UnixTime) -> Option<i64> {
    if s.state.is_terminal() || s.closed {
        return None;
    }
    let mut at: Vec<u64> = Vec::new();
    if s.main_lock(Side::Src).is_none() && now < s.order.quote_expires {
        at.push(s.order.quote_expires.0);
    }
    if let Some(t) = &s.terms {
        for lt in [&t.src, &t.dst] {
            match lt {
                LockTerms::Eth(e) => at.push(e.timeout.0),
                LockTerms::Btc(h) => {
                    // The earliest the height can come: fast blocks.
                    let blocks = u64::from(s.clock.btc_tip.blocks_until(h.timeout));
                    at.push(
                        now.0
                            .saturating_add(blocks.saturating_mul(BTC_FAST_BLOCK_SECS)),
                    );
                }
            }
        }
    }
    let active = s.secret.is_some()
        || matches!(
            s.state,
            SwapState::NeedsOperator { .. } | SwapState::DstRefunded | SwapState::SrcRefunded
        );
    if active {
        at.push(now.0.saturating_add(ACTIVE_RECHECK_SECS));
    }
    let next = at.into_iter().filter(|t| *t > now.0).min();
    // Past every timeout with nothing pending: look again later rather than never.
    let next = next.unwrap_or(now.0.saturating_add(ACTIVE_RECHECK_SECS * 10));
    Some(i64::try_from(next).unwrap_or(i64::MAX))
}

/// The `bitcoin` crate's network for ours (address prefixes).
pub fn btc_network(n: crosslock_core::chain::Network) -> bitcoin::Network {
    use crosslock_core::chain::Network;
    match n {
        Network::Mainnet => bitcoin::Network::Bitcoin,
        Network::Testnet => bitcoin::Network::Testnet,
        Network::Signet => bitcoin::Network::Signet,
        Network::Regtest => bitcoin::Network::Regtest,
    }
}
