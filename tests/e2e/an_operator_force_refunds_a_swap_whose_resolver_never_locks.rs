//! The maker funds but the resolver disappears before locking: nothing is locked against the
//! maker's BTC. The operator force-refunds the stuck swap, and once the HTLC's height comes the
//! maker's `swapctl refund` takes the BTC back.

use std::time::Duration;

use crosslock_e2e::{Options, wait_for};

use crate::{MAKER_ETH, SWAP_TIMEOUT, scenario, swap_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_force_refunds_a_swap_whose_resolver_never_locks() {
    scenario(
        "resolver never locks",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let out = s.swapctl_ok(
                "maker",
                &[
                    "--json",
                    "swap",
                    "btc-to-eth",
                    "--amount",
                    "1000000",
                    "--eth-address",
                    MAKER_ETH,
                    "--no-wait",
                ],
            )?;
            let id = swap_id(&out)?;
            let v = s.wait_state("maker", &id, "Matched", SWAP_TIMEOUT)?;
            s.kill_resolver();
            s.swapctl_ok("maker", &["fund", &id])?;
            s.wait_state("maker", &id, "SrcLocked", SWAP_TIMEOUT)?;
            s.swapctl_ok(
                "maker",
                &["admin", "force-refund", &id, "--reason", "resolver gone"],
            )?;
            wait_for(
                "the force-refund in the timeline",
                Duration::from_secs(30),
                || {
                    let t = s.swapctl_ok("maker", &["admin", "timeline", &id]).ok()?;
                    t.contains("resolver gone").then_some(())
                },
            )?;
            let timeout = v["bitcoin"]["timeout_height"].as_u64().unwrap_or_default();
            let h = s.btc_height()?;
            s.mine(u32::try_from(timeout.saturating_sub(h) + 1)?)?;
            s.swapctl_ok("maker", &["refund", &id])?;
            s.wait_state("maker", &id, "Refunded", SWAP_TIMEOUT)?;
            Ok(())
        },
    )
    .await;
}
