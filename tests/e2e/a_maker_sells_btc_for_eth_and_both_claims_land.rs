//! BTC -> ETH happy path: the maker funds the HTLC from its wallet, the resolver locks ETH, the
//! maker reveals once both are final, the resolver claims the ETH for the maker and the BTC for
//! itself.

use crosslock_e2e::Options;

use crate::{MAKER_ETH, SWAP_TIMEOUT, maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_sells_btc_for_eth_and_both_claims_land() {
    scenario(
        "btc->eth",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let before = s.eth_balance(MAKER_ETH).await?;
            let t = std::time::Instant::now();
            let id = maker_swap(s, "btc-to-eth", "1000000", &["--auto-reveal"])?;
            let done = s.wait_state("maker", &id, "Completed", SWAP_TIMEOUT)?;
            eprintln!(
                "btc->eth swap {id} completed in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let after = s.eth_balance(MAKER_ETH).await?;
            let want: u128 = done["dst_amount"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .unwrap_or_default();
            anyhow::ensure!(want > 0, "no dst amount in {done}");
            anyhow::ensure!(
                after - before == want,
                "the maker received {} wei, the swap says {want}",
                after - before
            );
            Ok(())
        },
    )
    .await;
}
