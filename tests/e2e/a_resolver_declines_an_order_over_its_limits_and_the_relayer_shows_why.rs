//! An order above the resolver's largest amount for the pair is declined, not taken: the swap
//! stays unmatched, its timeline says which resolver declined and why, and the relayer counts the
//! decline by reason.

use std::time::Duration;

use crosslock_e2e::{Options, wait_for};

use crate::{maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_declines_an_order_over_its_limits_and_the_relayer_shows_why() {
    scenario(
        "declined",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            // 2 BTC: the resolver's policy takes at most 1 BTC per swap.
            let id = maker_swap(s, "btc-to-eth", "200000000", &["--no-wait"])?;
            wait_for(
                "the decline in the timeline",
                Duration::from_secs(30),
                || {
                    let t = s.swapctl_ok("maker", &["admin", "timeline", &id]).ok()?;
                    t.contains("declined by resolver e2e-resolver: over_max_amount")
                        .then_some(())
                },
            )?;
            let m = s.relayer_metrics()?;
            anyhow::ensure!(
                m.lines()
                    .any(|l| l.starts_with("crosslock_order_declines_total")
                        && l.contains("reason=\"over_max_amount\"")),
                "no decline counted by reason"
            );
            let v = s.status("maker", &id)?;
            let state = if v["state"].is_string() {
                &v["state"]
            } else {
                &v["swap"]["state"]
            };
            anyhow::ensure!(state == "Created", "a declined order was matched: {v}");
            Ok(())
        },
    )
    .await;
}
