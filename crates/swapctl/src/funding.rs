//! Funding the maker's source lock, for both directions: gather the clock from the maker's own
//! chain connections, check the relayer's record ([`crate::check`]), then hand the checked lock
//! to the chain module.
//!
//! Owns the order "check everything, then record, then broadcast", and the rule that a recorded
//! funding is only ever sent again, never replaced. A refusal writes nothing and sends nothing.

use anyhow::Context;
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
