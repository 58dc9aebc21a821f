//! ETH -> BTC happy path: the maker locks ETH in the escrow, the resolver funds the BTC HTLC, the
//! maker reveals with its pre-signed claim ladder, the relayer broadcasts the maker's BTC claim
//! and the resolver claims the ETH with the secret it reads from that claim.

use crosslock_e2e::Options;

use crate::{SWAP_TIMEOUT, maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_sells_eth_for_btc_and_both_claims_land() {
    scenario(
        "eth->btc",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let t = std::time::Instant::now();
            let id = maker_swap(s, "eth-to-btc", "50000000000000000", &["--auto-reveal"])?;
            s.wait_state("maker", &id, "Completed", SWAP_TIMEOUT)?;
            eprintln!(
                "eth->btc swap {id} completed in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let wallet = s.swapctl_ok("maker", &["--json", "wallet", "balance"])?;
            anyhow::ensure!(
                wallet.contains("confirmed") || wallet.contains("balance"),
                "unexpected wallet output {wallet}"
            );
            Ok(())
        },
    )
    .await;
}
