//! The maker funds, the resolver locks, the maker never reveals: once the ETH lock times out the
//! resolver refunds it, and once the BTC HTLC times out (later, by the protocol's 2:1 rule) the
//! maker refunds its BTC with `swapctl refund`, refused before the timeout height.

use crosslock_e2e::Options;

use crate::{SWAP_TIMEOUT, maker_refunds_btc, maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_who_never_reveals_gets_the_btc_back_after_the_resolver_refunds_its_eth() {
    scenario(
        "never reveals",
        Options::default(),
        async |s: &mut crosslock_e2e::Stack| {
            let id = maker_swap(s, "btc-to-eth", "1000000", &[])?;
            let v = s.wait_state("maker", &id, "DstLocked", SWAP_TIMEOUT)?;
            // Too early for the maker's refund: refused, with the height to wait for.
            let early = s.swapctl("maker", &["refund", &id])?;
            anyhow::ensure!(
                !early.status.success(),
                "a refund before the timeout was accepted"
            );
            // The ETH lock times out first: the resolver takes its ETH back.
            let eth_timeout = v["ethereum"]["timeout"].as_i64().unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let ahead = u64::try_from(eth_timeout)?.saturating_sub(now) + 30;
            s.advance_eth(ahead).await?;
            s.wait_state("maker", &id, "DstRefunded", SWAP_TIMEOUT)?;
            // Then the BTC HTLC's height: the maker refunds.
            maker_refunds_btc(s, &id, &v)?;
            Ok(())
        },
    )
    .await;
}
