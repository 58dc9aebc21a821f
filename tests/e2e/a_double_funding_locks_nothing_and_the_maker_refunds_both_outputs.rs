//! The HTLC is paid twice in one block (the maker's exact funding and a coinbase): the resolver
//! locks nothing, the relayer shows the swap to the operator, and after the timeout the maker's
//! `swapctl refund` takes back both outputs. Blocks come only when the test mines them, so both
//! payments land together.

use crosslock_e2e::Options;

use crate::{htlc_address, matched_btc_to_eth, nothing_locked_then_refunded, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_funding_locks_nothing_and_the_maker_refunds_both_outputs() {
    scenario(
        "double funding",
        Options {
            btc_block_secs: 0,
            ..Options::default()
        },
        async |s: &mut crosslock_e2e::Stack| {
            let (id, v) = matched_btc_to_eth(s, "1000000")?;
            let htlc = htlc_address(&v)?;
            s.swapctl_ok("maker", &["fund", &id])?;
            // The block holding the funding also pays the HTLC its coinbase.
            s.mine_to(&htlc, 1)?;
            nothing_locked_then_refunded(s, &id, &v)?;
            Ok(())
        },
    )
    .await;
}
