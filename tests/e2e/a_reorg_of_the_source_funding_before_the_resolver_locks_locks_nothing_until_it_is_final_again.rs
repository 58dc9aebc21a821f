//! The maker's 0.1 BTC funding (six confirmations needed at that size) is mined, then reorged
//! out and dropped before it is final: the resolver locks nothing. `swapctl fund` sends the same
//! recorded transaction again; once it is six deep on the new branch the swap completes.
//! Blocks are mined by the test only, so the reorg is never raced by a timer.

use std::time::Duration;

use crosslock_e2e::{Options, wait_for};
use serde_json::json;

use crate::{SWAP_TIMEOUT, matched_btc_to_eth, scenario, state};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_of_the_source_funding_before_the_resolver_locks_locks_nothing_until_it_is_final_again()
 {
    scenario(
        "reorg before lock",
        Options {
            btc_block_secs: 0,
            ..Options::default()
        },
        async |s: &mut crosslock_e2e::Stack| {
            let (id, _) = matched_btc_to_eth(s, "10000000")?;
            let funded = s.swapctl_ok("maker", &["--json", "fund", &id])?;
            let txid = funded
                .split(|c: char| !c.is_ascii_hexdigit())
                .find(|w| w.len() == 64)
                .ok_or_else(|| anyhow::anyhow!("no txid in {funded}"))?
                .to_owned();
            s.wait_state("maker", &id, "SrcLockSeen", SWAP_TIMEOUT)?;
            // One confirmation, then the block is gone and the funding with it.
            s.mine(1)?;
            std::thread::sleep(Duration::from_secs(3));
            let tip = s
                .btc
                .call("getbestblockhash", &[])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            s.btc
                .call("invalidateblock", &[tip])
                .map_err(|e| anyhow::anyhow!("invalidateblock: {e}"))?;
            s.btc
                .call("dropmempooltx", &[json!(txid)])
                .map_err(|e| anyhow::anyhow!("dropmempooltx: {e}"))?;
            s.mine(2)?;
            wait_for("the swap to move back", Duration::from_secs(30), || {
                (state(&s.status("maker", &id).ok()?) == "Matched").then_some(())
            })?;
            std::thread::sleep(Duration::from_secs(5));
            let now = state(&s.status("maker", &id)?);
            anyhow::ensure!(now == "Matched", "locked against a reorged funding: {now}");
            // The same transaction again, six deep this time.
            s.swapctl_ok("maker", &["fund", &id])?;
            s.wait_state("maker", &id, "SrcLockSeen", SWAP_TIMEOUT)?;
            for _ in 0..6 {
                s.mine(1)?;
                std::thread::sleep(Duration::from_millis(500));
            }
            s.wait_state("maker", &id, "DstLocked", SWAP_TIMEOUT)?;
            s.swapctl_ok("maker", &["reveal", &id])?;
            // The resolver's claim of the BTC needs blocks to settle.
            wait_for("the swap to complete", SWAP_TIMEOUT, || {
                s.mine(1).ok()?;
                (state(&s.status("maker", &id).ok()?) == "Completed").then_some(())
            })?;
            Ok(())
        },
    )
    .await;
}
