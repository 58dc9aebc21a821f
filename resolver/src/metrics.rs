//! The resolver's Prometheus metrics, with the names `docs/operations.md` and the alerts use,
//! served on their own port.
//!
//! Owns the metric names and the `/metrics` listener. It must never put a secret, an address or
//! a swap id in a label: labels are bounded sets (asset, chain, reason).

use std::net::SocketAddr;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::policy::Refusal;

/// `crosslock_resolver_inventory{asset}`: spendable balance, whole units.
pub const INVENTORY: &str = "crosslock_resolver_inventory";
/// `crosslock_resolver_inventory_min{asset}`: the configured floor.
pub const INVENTORY_MIN: &str = "crosslock_resolver_inventory_min";
/// `crosslock_resolver_claims_pending`: claims due or broadcast and not final.
pub const CLAIMS_PENDING: &str = "crosslock_resolver_claims_pending";
/// `crosslock_resolver_claim_deadline_seconds{chain}`: time to the most urgent claim's timeout.
pub const CLAIM_DEADLINE: &str = "crosslock_resolver_claim_deadline_seconds";
/// `crosslock_resolver_fee_spent_total{chain}`: fees paid, whole units.
pub const FEE_SPENT: &str = "crosslock_resolver_fee_spent_total";
/// `crosslock_resolver_signer_refusals_total{reason}`.
pub const SIGNER_REFUSALS: &str = "crosslock_resolver_signer_refusals_total";
/// `crosslock_resolver_is_leader`: 1 on the lease holder.
pub const IS_LEADER: &str = "crosslock_resolver_is_leader";
/// `crosslock_resolver_swaps_in_flight`: open swaps of this resolver.
pub const SWAPS_IN_FLIGHT: &str = "crosslock_resolver_swaps_in_flight";
/// `crosslock_resolver_fee_cap_hits_total{chain}`: escalations stopped at the cap (alert).
pub const FEE_CAP_HITS: &str = "crosslock_resolver_fee_cap_hits_total";
/// `crosslock_postgres_errors_total`.
pub const POSTGRES_ERRORS: &str = "crosslock_postgres_errors_total";
/// `crosslock_paused`: 1 while new locks are paused.
pub const PAUSED: &str = "crosslock_paused";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same handle.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}

/// Serves `/metrics` on `addr` until `shutdown` resolves. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let h = handle.clone();
            async move { h.render() }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    Ok(bound)
}

/// Counts a signer refusal.
pub fn signer_refusal(r: Refusal) {
    metrics::counter!(SIGNER_REFUSALS, "reason" => r.reason()).increment(1);
}

/// Adds a fee paid on `chain`, in whole units.
pub fn fee_spent(chain: &'static str, amount: f64) {
    // The `metrics` crate's counters are integers; fees are reported in whole BTC/ETH as the
    // dashboard expects, so this only-increasing value is a float gauge under the counter name.
    metrics::gauge!(FEE_SPENT, "chain" => chain).increment(amount);
}

/// Counts an escalation stopped at the fee cap.
pub fn fee_cap_hit(chain: &'static str) {
    metrics::counter!(FEE_CAP_HITS, "chain" => chain).increment(1);
}

/// What the open swaps say about pending claims: how many, and per chain the seconds left
/// before the most urgent one's lock can be refunded by the other side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimsView {
    /// Claims due (or broadcast and not final).
    pub pending: usize,
    /// Seconds to the nearest deadline on Bitcoin, if any claim is pending there.
    pub bitcoin_deadline: Option<u64>,
    /// Same on Ethereum.
    pub ethereum_deadline: Option<u64>,
}

/// Reads pending claims out of the swaps' due actions (the core decides what is pending).
pub fn claims_view<'a>(
    swaps: impl IntoIterator<Item = &'a crosslock_core::swap::Swap>,
) -> ClaimsView {
    use crosslock_core::chain::Chain;
    use crosslock_core::swap::Action;
    use crosslock_core::time::Bias;
    use crosslock_core::timelock::time_left;
    let mut v = ClaimsView::default();
    for s in swaps {
        let Some(terms) = &s.terms else { continue };
        for a in s.due_actions() {
            let lt = match a {
                Action::ClaimSrc { .. } => &terms.src,
                Action::ClaimDst { .. } | Action::BroadcastMakerClaim { .. } => &terms.dst,
                _ => continue,
            };
            v.pending += 1;
            let left = time_left(lt, &s.clock, Bias::Min).0;
            let slot = match lt.chain() {
                Chain::Bitcoin => &mut v.bitcoin_deadline,
                Chain::Ethereum => &mut v.ethereum_deadline,
            };
            *slot = Some(slot.map_or(left, |d: u64| d.min(left)));
        }
    }
    v
}

/// Publishes a [`ClaimsView`]; a chain without a pending claim gets no deadline series.
pub fn publish_claims(v: &ClaimsView) {
    metrics::gauge!(CLAIMS_PENDING).set(v.pending as f64);
    for (chain, d) in [
        ("bitcoin", v.bitcoin_deadline),
        ("ethereum", v.ethereum_deadline),
    ] {
        // NaN when none (the `metrics` crate cannot drop a series): a stale number would keep
        // the deadline alerts firing, and NaN compares false in every alert expression.
        let g = metrics::gauge!(CLAIM_DEADLINE, "chain" => chain);
        match d {
            Some(secs) => g.set(secs as f64),
            None => g.set(f64::NAN),
        }
    }
}

/// Publishes a balance (whole units) and its floor for `asset`.
pub fn inventory(asset: &str, balance: f64, floor: f64) {
    metrics::gauge!(INVENTORY, "asset" => asset.to_owned()).set(balance);
    metrics::gauge!(INVENTORY_MIN, "asset" => asset.to_owned()).set(floor);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crosslock_core::chain::LockId;
    use crosslock_core::finality::{Depth, EthDepth};
    use crosslock_core::order::Direction;
    use crosslock_core::swap::{Event, Side, fold};
    use crosslock_core::time::UnixTime;

    #[test]
    fn a_revealed_swap_counts_one_pending_claim_with_its_deadline() {
        let mut events = fixtures::events(Direction::BtcToEth);
        let s = fold(&events).expect("valid");
        let terms = s.terms.expect("matched");
        events.push(Event::LockSeen {
            side: Side::Src,
            lock: LockId::BtcOutpoint {
                txid: crosslock_core::chain::TxId([1; 32]),
                vout: 0,
            },
            amount: terms.src.amount(),
            depth: Depth::Btc(6),
            seen_at: UnixTime(fixtures::NOW),
        });
        events.push(Event::LockSeen {
            side: Side::Dst,
            lock: LockId::EthEscrow { id: [2; 32] },
            amount: terms.dst.amount(),
            depth: Depth::Eth(EthDepth::Finalized),
            seen_at: UnixTime(fixtures::NOW),
        });
        assert_eq!(
            claims_view([&fold(&events).expect("valid")]).pending,
            0,
            "no secret yet"
        );
        events.push(Event::SecretRevealed {
            secret: crosslock_core::secret::Secret::new([0; 32]),
            maker_claim: None,
        });
        let v = claims_view([&fold(&events).expect("valid")]);
        assert_eq!(v.pending, 1, "the ETH claim for the maker");
        assert_eq!(
            v.ethereum_deadline,
            Some(10 * 3600),
            "the escrow times out in 10 h"
        );
        assert_eq!(v.bitcoin_deadline, None);
    }
}
