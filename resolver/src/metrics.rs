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
