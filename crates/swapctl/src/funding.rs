//! Funding and refunding the maker's source lock, for both directions: gather the clock from
//! the maker's own chain connections, check the relayer's record ([`crate::check`]), then hand
//! the checked lock to the chain module.
//!
//! Owns the order "check everything, then record, then broadcast", and the rule that a recorded
//! funding is only ever sent again, never replaced. A refusal writes nothing and sends nothing.

use anyhow::{Context, bail};
use crosslock_core::time::UnixTime;
use crosslock_proto::public::v1::{Direction, Swap};
use serde_json::{Value, json};

use crate::check::{self, SrcLock};
use crate::state::{Entry, Funding, StateFile};
use crate::{Global, btc, eth, maker};

/// What funding did, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Funded {
    /// BTC -> ETH.
    Btc(btc::BtcFunded),
    /// ETH -> BTC.
    Eth(eth::EthFunded),
}

impl Funded {
    /// As a JSON object.
    pub(crate) fn json(&self, id: &str) -> Value {
        match self {
            Funded::Btc(b) => json!({
                "swap_id": id,
                "chain": "bitcoin",
                "address": b.address,
                "amount": b.amount.to_string(),
                "txid": b.txid,
                "outpoint": b.outpoint,
                "new": b.new,
            }),
            Funded::Eth(e) => json!({
                "swap_id": id,
                "chain": "ethereum",
                "escrow_id": e.escrow_id.to_string(),
                "tx": e.tx.map(|t| t.to_string()),
                "mined": e.mined,
                "new": e.new,
            }),
        }
    }

    /// One line for people.
    pub(crate) fn text(&self) -> String {
        match self {
            Funded::Btc(b) => format!(
                "{}: {} sat to {} in {} (HTLC output {})",
                if b.new { "funded" } else { "already funded" },
                b.amount,
                b.address,
                b.txid,
                b.outpoint
            ),
            Funded::Eth(e) => format!(
                "{}: escrow lock {}{}",
                if e.new { "locked" } else { "already locked" },
                e.escrow_id,
                match (e.tx, e.mined) {
                    (Some(t), true) => format!(" in {t}"),
                    (Some(t), false) => format!(", sent in {t}, not mined yet"),
                    (None, _) => String::new(),
                }
            ),
        }
    }
}

fn entry(state: &StateFile, id: &str) -> anyhow::Result<Entry> {
    state
        .get(id)
        .with_context(|| format!("swap {id} was not made with this state file"))
}

/// Sends the recorded funding again, if any; no relayer needed.
pub(crate) async fn resume(g: &Global, id: &str) -> anyhow::Result<Option<Funded>> {
    let state = g.state()?;
    let e = entry(&state, id)?;
    Ok(match &e.funding {
        None => None,
        Some(Funding::Bitcoin { .. }) => Some(Funded::Btc(btc::resume_funding(g, &e)?)),
        Some(Funding::Ethereum { .. }) => {
            let lock = eth::recorded(&e).context("the recorded escrow lock is not valid")?;
            Some(Funded::Eth(eth::fund(g, &state, &e, &lock).await?))
        }
    })
}

/// Funds the source lock of `swap` (the relayer's current record), once. A recorded funding is
/// sent again instead; otherwise the record is checked against the state file and the chains,
/// and a refusal leaves the state file and the chains untouched.
pub(crate) async fn fund(g: &Global, swap: &Swap) -> anyhow::Result<Funded> {
    let id = swap.swap_id.as_str();
    if let Some(done) = resume(g, id).await? {
        return Ok(done);
    }
    let state = g.state()?;
    let e = entry(&state, id)?;
    let network = g.network()?;
    let now = UnixTime(maker::now());
    // Both directions have a Bitcoin leg whose time left is counted in blocks.
    let tip = btc::tip(&btc::electrum(g)?)?;
    let eth_time = match Direction::try_from(swap.direction) {
        Ok(Direction::EthToBtc) => Some(UnixTime(
            eth::chain_time(&eth::provider(g)?)
                .await
                .with_context(|| format!("cannot reach the Ethereum node at {}", g.eth_rpc_url))?,
        )),
        _ => None,
    };
    let clock = check::clock(tip, now, eth_time);
    let lock = check::src_lock(swap, &e, network, &clock)
        .map_err(|r| anyhow::anyhow!("refusing to fund swap {id}: {r}"))?;
    match lock {
        SrcLock::Btc { params, amount } => {
            Ok(Funded::Btc(btc::fund(g, &state, &e, &params, amount)?))
        }
        SrcLock::Eth(lock) => Ok(Funded::Eth(eth::fund(g, &state, &e, &lock).await?)),
    }
}

/// What a refund did, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refunded {
    /// Every HTLC output refunded (empty: nothing left on the HTLC).
    Btc(Vec<btc::BtcRefunded>),
    /// The escrow refund.
    Eth(eth::EthRefunded),
}

impl Refunded {
    /// As a JSON object.
    pub(crate) fn json(&self, id: &str) -> Value {
        match self {
            Refunded::Btc(r) => json!({
                "swap_id": id,
                "chain": "bitcoin",
                "refunds": r.iter().map(|x| json!({
                    "outpoint": x.outpoint,
                    "txid": x.txid,
                    "amount": x.amount.to_string(),
                    "new": x.new,
                    "mined": x.mined,
                })).collect::<Vec<_>>(),
            }),
            Refunded::Eth(r) => json!({
                "swap_id": id,
                "chain": "ethereum",
                "tx": r.tx.map(|t| t.to_string()),
                "mined": r.mined,
            }),
        }
    }

    /// Lines for people.
    pub(crate) fn text(&self) -> String {
        match self {
            Refunded::Btc(r) if r.is_empty() => {
                "nothing to refund: the HTLC holds no unspent output\n".to_owned()
            }
            Refunded::Btc(r) => r
                .iter()
                .map(|x| {
                    format!(
                        "refund of {} sat ({}) {} in {}\n",
                        x.amount,
                        x.outpoint,
                        match (x.new, x.mined) {
                            (true, _) => "sent",
                            (false, false) => "waiting in the mempool",
                            (false, true) => "mined",
                        },
                        x.txid
                    )
                })
                .collect(),
            Refunded::Eth(r) => match (r.tx, r.mined) {
                (Some(t), true) => format!("refunded by the escrow in {t}\n"),
                (Some(t), false) => format!("refund sent in {t}, not mined yet\n"),
                (None, _) => "the escrow has refunded this lock already\n".to_owned(),
            },
        }
    }
}

/// Refunds the maker's source lock once its timeout is reached. The lock comes from the
/// recorded funding, or (funded some other way) from the relayer's record, checked to be ours.
pub(crate) async fn refund(
    g: &Global,
    id: &str,
    from_relayer: Option<&Swap>,
) -> anyhow::Result<Refunded> {
    let state = g.state()?;
    let e = entry(&state, id)?;
    let network = g.network()?;
    match e.direction.as_str() {
        "btc-to-eth" => {
            let params = match btc::recorded_params(&e)? {
                Some(p) => p,
                None => {
                    let s = from_relayer.context(
                        "no funding is recorded for this swap; the relayer's record is needed",
                    )?;
                    let p = relayer_htlc(s, &e, network)?;
                    if p.refund_pubkey().serialize().to_vec() != hex::decode(&e.btc_pubkey)? {
                        bail!("the HTLC's refund key is not this order's key");
                    }
                    p
                }
            };
            Ok(Refunded::Btc(btc::refund(g, &state, &e, &params)?))
        }
        "eth-to-btc" => {
            let lock = match eth::recorded(&e) {
                Some(r) => r,
                None => {
                    let s = from_relayer.context(
                        "no funding is recorded for this swap; the relayer's record is needed",
                    )?;
                    let t = check::src_terms(s, &e, network)?;
                    check::escrow(&t)?
                }
            };
            Ok(Refunded::Eth(eth::refund(g, &state, &e, &lock).await?))
        }
        other => bail!("unknown direction {other:?} in the state file"),
    }
}

fn relayer_htlc(
    s: &Swap,
    e: &Entry,
    network: crosslock_core::chain::Network,
) -> anyhow::Result<crosslock_btc::HtlcParams> {
    let t = check::src_terms(s, e, network)?;
    Ok(check::htlc(s, &t, network)
        .map_err(|r| anyhow::anyhow!("{r}"))?
        .0)
}
