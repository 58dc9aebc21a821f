//! The maker funds but the resolver disappears before locking: nothing is locked against the
//! maker's BTC. The operator force-refunds the stuck swap, and once the HTLC's height comes the
//! maker's `swapctl refund` takes the BTC back.

use std::time::Duration;

use crosslock_e2e::{Options, wait_for};

use crate::{SWAP_TIMEOUT, maker_refunds_btc, matched_btc_to_eth, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_force_refunds_a_swap_whose_resolver_never_locks() {
    scenario(
        "resolver never locks",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let (id, v) = matched_btc_to_eth(s, "1000000")?;
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
            maker_refunds_btc(s, &id, &v)?;
            Ok(())
        },
    )
    .await;
}
