//! The maker is matched but never funds: the quote runs out and the swap expires with nothing
//! locked on either chain.

use std::time::Duration;

use crosslock_e2e::Options;

use crate::{maker_swap, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_who_never_funds_sees_the_swap_expire() {
    scenario(
        "never funds",
        Options {
            quote_ttl_secs: 20,
            ..Options::default()
        },
        async |s: &mut crosslock_e2e::Stack| {
            let id = maker_swap(s, "btc-to-eth", "1000000", &["--no-fund", "--no-wait"])?;
            let v = s.wait_state("maker", &id, "Expired", Duration::from_secs(60))?;
            anyhow::ensure!(
                v["bitcoin"]["outpoint"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "nothing was ever locked: {v}"
            );
            Ok(())
        },
    )
    .await;
}
