//! BTC -> ERC-20: the resolver locks test tokens from its inventory (its policy checks its token
//! balance), the maker reveals, and the resolver's claim of the escrow pays the maker the tokens.

use crosslock_e2e::Options;

use crate::{MAKER_ETH, SWAP_TIMEOUT, maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_sells_btc_for_erc20_tokens_and_both_claims_land() {
    scenario(
        "btc->erc20",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let token = s.token.clone();
            let before = s.token_balance(MAKER_ETH).await?;
            let id = maker_swap(
                s,
                "btc-to-eth",
                "1000000",
                &["--token", &token, "--auto-reveal"],
            )?;
            let done = s.wait_state("maker", &id, "Completed", SWAP_TIMEOUT)?;
            let want: u128 = done["dst_amount"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .unwrap_or_default();
            let got = s.token_balance(MAKER_ETH).await? - before;
            anyhow::ensure!(
                want > 0 && got == want,
                "the maker received {got} token units, the swap says {want}"
            );
            Ok(())
        },
    )
    .await;
}
