//! ERC-20 -> BTC: the maker approves and locks test tokens in the escrow, the resolver funds the
//! BTC HTLC, and both claims land as with native ETH.

use crosslock_e2e::Options;

use crate::{MAKER_ETH, SWAP_TIMEOUT, maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_sells_erc20_tokens_for_btc_and_both_claims_land() {
    scenario(
        "erc20->btc",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            // 1,000 tokens of 18 decimals; the stack prices 50,000 tokens per BTC.
            let amount: u128 = 1_000 * 10u128.pow(18);
            s.mint_tokens(MAKER_ETH, amount).await?;
            let token = s.token.clone();
            let t = std::time::Instant::now();
            let id = maker_swap(
                s,
                "eth-to-btc",
                &amount.to_string(),
                &["--token", &token, "--auto-reveal"],
            )?;
            s.wait_state("maker", &id, "Completed", SWAP_TIMEOUT)?;
            eprintln!(
                "erc20->btc swap {id} completed in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            Ok(())
        },
    )
    .await;
}
