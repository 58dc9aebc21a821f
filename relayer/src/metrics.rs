//! Prometheus metrics, served on their own private listener.
//!
//! Owns the metric names and the exporter. The recorder is process-global (the `metrics`
//! facade), installed once; several relayers in one test process share it. This module must
//! never put a swap id, address or secret into a label: labels are bounded sets.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::debug;

/// Swaps per state (non-terminal), refreshed from the projection.
pub const SWAPS: &str = "crosslock_swaps";
/// Transitions between states.
pub const TRANSITIONS: &str = "crosslock_state_transitions_total";
/// Seconds between now and the newest block's time, per chain.
pub const HEAD_LAG: &str = "crosslock_chain_head_lag_seconds";
/// Watcher errors per chain.
pub const WATCHER_ERRORS: &str = "crosslock_watcher_errors_total";
/// API latency per method.
pub const API_DURATION: &str = "crosslock_api_request_duration_seconds";
/// Swaps in `NeedsOperator`.
pub const NEEDS_OPERATOR: &str = "crosslock_swaps_needs_operator";
/// Refusals by the node of the maker's pre-signed claim (each one counted on its outbox row).
pub const CLAIM_REFUSALS: &str = "crosslock_maker_claim_refusals_total";
/// The maker's claims the dispatcher gave up on (every rung refused), awaiting an operator.
pub const CLAIMS_PARKED: &str = "crosslock_maker_claims_parked";

/// HTLC scripts the Bitcoin adapter subscribes to (one per open matched swap it has seen).
pub const BTC_WATCHED: &str = "crosslock_btc_watched_htlcs";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the global recorder (once per process) and return its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let b = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(API_DURATION.to_owned()),
                    &[
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = b.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); ours still renders its own.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Count a transition.
pub fn transition(from: &'static str, to: &'static str) {
    counter!(TRANSITIONS, "from" => from, "to" => to).increment(1);
}

/// Record a call's latency.
pub fn api_latency(method: &'static str, d: Duration) {
    histogram!(API_DURATION, "method" => method).record(d.as_secs_f64());
}

/// Count a watcher error.
pub fn watcher_error(chain: &'static str) {
    counter!(WATCHER_ERRORS, "chain" => chain).increment(1);
}

/// Count a refusal of the maker's claim by the node.
pub fn claim_refused() {
    counter!(CLAIM_REFUSALS).increment(1);
}

/// Set how many maker claims are parked for an operator.
pub fn claims_parked(n: i64) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(CLAIMS_PARKED).set(n as f64);
}

/// Set the head lag of a chain.
pub fn head_lag(chain: &'static str, secs: f64) {
    gauge!(HEAD_LAG, "chain" => chain).set(secs);
}

/// How many HTLCs the Bitcoin adapter watches.
pub fn btc_watched(n: usize) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(BTC_WATCHED).set(n as f64);
}

/// Set the per-state gauges from a count (states not listed are set to zero).
pub fn swaps_by_state(counts: &[(String, i64)]) {
    const STATES: [&str; 12] = [
        "Created",
        "Matched",
        "SrcLockSeen",
        "SrcLocked",
        "DstLockSeen",
        "DstLocked",
        "SecretRevealed",
        "DstClaimed",
        "SrcClaimed",
        "DstRefunded",
        "SrcRefunded",
        "NeedsOperator",
    ];
    for s in STATES {
        let n = counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
        #[allow(clippy::cast_precision_loss)]
        gauge!(SWAPS, "state" => s).set(n as f64);
        if s == "NeedsOperator" {
            #[allow(clippy::cast_precision_loss)]
            gauge!(NEEDS_OPERATOR).set(n as f64);
        }
    }
}

/// Serve `GET /metrics` (any path, in fact) on `listener` until shutdown. A minimal HTTP/1.0
/// responder: Prometheus needs nothing more, and it keeps a web framework out of the build.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let Ok((mut sock, _)) = accepted else {
            continue;
        };
        let body = handle.render();
        tokio::spawn(async move {
            let mut buf = [0_u8; 1024];
            // Read the request head; its content does not matter.
            let _ = tokio::time::timeout(Duration::from_secs(2), sock.read(&mut buf)).await;
            let resp = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{}",
                body.len(),
                body
            );
            if let Err(e) = sock.write_all(resp.as_bytes()).await {
                debug!(error = %e, "metrics write failed");
            }
        });
    }
}
