//! The HTLC receives the wrong amount (a whole coinbase instead of the quoted 0.01 BTC): the
//! resolver locks nothing, the relayer shows the swap to the operator, `swapctl fund` adopts the
//! payment already there instead of paying a second time, and after the timeout the maker's
//! `swapctl refund` takes it back.

use std::time::Duration;

use crosslock_e2e::{Options, wait_for};

use crate::{MAKER_ETH, SWAP_TIMEOUT, scenario, swap_id};

fn state(v: &serde_json::Value) -> String {
    let v = if v["state"].is_string() {
        v
    } else {
        &v["swap"]
    };
    v["state"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_amount_locks_nothing_and_the_maker_refunds_it() {
    scenario(
        "wrong amount",
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
            let htlc = v["bitcoin"]["address"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            anyhow::ensure!(!htlc.is_empty(), "no HTLC address in {v}");
            // A coinbase straight to the HTLC: the wrong amount.
            s.mine_to(&htlc, 1)?;
            let stuck = wait_for(
                "the operator to see the swap",
                Duration::from_secs(60),
                || {
                    let t = s.swapctl_ok("maker", &["--json", "admin", "stuck"]).ok()?;
                    t.contains(&id).then_some(t)
                },
            )?;
            anyhow::ensure!(!stuck.is_empty());
            // Funding again finds the payment there and does not pay twice.
            let fund = s.swapctl_ok("maker", &["fund", &id])?;
            anyhow::ensure!(
                fund.contains("already funded"),
                "swapctl paid again: {fund}"
            );
            std::thread::sleep(Duration::from_secs(15));
            let now = state(&s.status("maker", &id)?);
            anyhow::ensure!(
                !now.starts_with("Dst") && now != "Completed",
                "the resolver locked against a wrong amount: {now}"
            );
            // The timeout passes; the maker takes everything back.
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
