//! The HTLC receives the wrong amount (a whole coinbase instead of the quoted 0.01 BTC): the
//! resolver locks nothing, the relayer shows the swap to the operator, `swapctl fund` adopts the
//! payment already there instead of paying a second time, and after the timeout the maker's
//! `swapctl refund` takes it back.

use crosslock_e2e::Options;

use crate::{htlc_address, matched_btc_to_eth, nothing_locked_then_refunded, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_amount_locks_nothing_and_the_maker_refunds_it() {
    scenario(
        "wrong amount",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let (id, v) = matched_btc_to_eth(s, "1000000")?;
            let htlc = htlc_address(&v)?;
            // A coinbase straight to the HTLC: the wrong amount.
            s.mine_to(&htlc, 1)?;
            // Funding again finds the payment there and does not pay twice.
            let fund = s.swapctl_ok("maker", &["fund", &id])?;
            anyhow::ensure!(
                fund.contains("already funded"),
                "swapctl paid again: {fund}"
            );
            nothing_locked_then_refunded(s, &id, &v)?;
            Ok(())
        },
    )
    .await;
}
