//! The resolver is killed (SIGKILL) once the maker's BTC is locked, before or while it locks
//! ETH; restarted, it resumes from its Postgres log and outbox and the swap completes.

use std::time::Duration;

use crosslock_e2e::{Options, wait_for};

use crate::{MAKER_ETH, SWAP_TIMEOUT, fund_maker_btc, scenario, swap_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_killed_mid_swap_finishes_it_after_a_restart() {
    scenario(
        "resolver killed",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            fund_maker_btc(s, "maker")?;
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
            // Fund, then kill the resolver as soon as the relayer has seen the BTC lock.
            s.wait_state("maker", &id, "Matched", SWAP_TIMEOUT)?;
            s.swapctl_ok("maker", &["fund", &id])?;
            wait_for("the src lock to be seen", Duration::from_secs(60), || {
                let v = s.status("maker", &id).ok()?;
                let st = v["state"].as_str().unwrap_or_default().to_owned();
                (st != "Matched").then_some(())
            })?;
            s.restart_resolver()?;
            s.wait_state("maker", &id, "DstLocked", SWAP_TIMEOUT)?;
            s.swapctl_ok("maker", &["reveal", &id])?;
            s.wait_state("maker", &id, "Completed", SWAP_TIMEOUT)?;
            Ok(())
        },
    )
    .await;
}
