//! End-to-end scenarios, one file each, named as the sentence they show. Every scenario starts
//! its own stack (see the harness) from the real binaries, drives the maker with `swapctl` and
//! the operator with `swapctl admin`, and prints its wall time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod a_maker_sells_btc_for_erc20_tokens_and_both_claims_land;
mod a_maker_sells_btc_for_eth_and_both_claims_land;
mod a_maker_sells_erc20_tokens_for_btc_and_both_claims_land;
mod a_maker_sells_eth_for_btc_and_both_claims_land;
mod a_maker_who_never_funds_sees_the_swap_expire;
mod a_maker_who_never_reveals_gets_the_btc_back_after_the_resolver_refunds_its_eth;
mod a_reorg_of_the_source_funding_before_the_resolver_locks_locks_nothing_until_it_is_final_again;
mod a_resolver_declines_an_order_over_its_limits_and_the_relayer_shows_why;
mod a_wrong_amount_locks_nothing_and_the_maker_refunds_it;
mod an_operator_force_refunds_a_swap_whose_resolver_never_locks;
mod the_relayer_killed_mid_swap_finishes_it_after_a_restart;
mod the_resolver_killed_mid_swap_finishes_it_after_a_restart;

use std::time::{Duration, Instant};

use crosslock_e2e::{Options, Stack};
use serde_json::Value;

/// anvil's account 1: the maker's Ethereum address in every scenario.
pub(crate) const MAKER_ETH: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// Starts a stack, runs `body`, prints the wall time, and on failure the daemons' logs.
pub(crate) async fn scenario<F>(name: &str, opts: Options, body: F)
where
    F: AsyncFnOnce(&mut Stack) -> anyhow::Result<()>,
{
    let t0 = Instant::now();
    let mut stack = Stack::start(opts).await.expect("the stack starts");
    let up = t0.elapsed();
    let r = body(&mut stack).await;
    if let Err(e) = &r {
        stack.dump_logs();
        eprintln!("scenario {name} failed: {e:#}");
    }
    eprintln!(
        "scenario {name}: stack up in {:.1} s, whole scenario {:.1} s",
        up.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    stack.stop().await.expect("the stack stops");
    r.expect("the scenario holds");
}

/// The maker's wallet address (the stack gave it one mature coinbase before starting).
pub(crate) fn fund_maker_btc(s: &Stack, maker: &str) -> anyhow::Result<String> {
    let out = s.swapctl_ok(maker, &["--json", "wallet", "address"])?;
    let v: Value = serde_json::from_str(out.trim())?;
    Ok(v["address"].as_str().unwrap_or_default().to_owned())
}

/// The swap id in `swapctl --json swap ...` output (the first line that names one).
pub(crate) fn swap_id(out: &str) -> anyhow::Result<String> {
    // `--no-wait` prints one JSON document; following prints JSON lines.
    let whole = std::iter::once(out.trim());
    for line in whole.chain(out.lines()) {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            for k in [&v["swap_id"], &v["swap"]["swap_id"], &v["data"]["swap_id"]] {
                if let Some(id) = k.as_str() {
                    return Ok(id.to_owned());
                }
            }
        }
    }
    anyhow::bail!("no swap id in swapctl's output: {out}")
}

/// Long enough for a swap on 1-second blocks, short enough to fail fast.
pub(crate) const SWAP_TIMEOUT: Duration = Duration::from_secs(180);
