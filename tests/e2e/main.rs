//! End-to-end scenarios, one file each, named as the sentence they show. Every scenario starts
//! its own stack (see the harness) from the real binaries, drives the maker with `swapctl` and
//! the operator with `swapctl admin`, and prints its wall time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod a_double_funding_locks_nothing_and_the_maker_refunds_both_outputs;
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

/// Submits a BTC -> ETH order of `sats` for the maker without following it, waits until a
/// resolver is matched, and returns the swap id and its record.
pub(crate) fn matched_btc_to_eth(s: &Stack, sats: &str) -> anyhow::Result<(String, Value)> {
    let id = maker_swap(s, "btc-to-eth", sats, &["--no-wait"])?;
    let v = s.wait_state("maker", &id, "Matched", SWAP_TIMEOUT)?;
    Ok((id, v))
}

/// Runs `swapctl --json swap WAY --amount AMOUNT` for the maker (who receives on
/// [`MAKER_ETH`]) with the `extra` flags, and returns the swap's id.
pub(crate) fn maker_swap(
    s: &Stack,
    way: &str,
    amount: &str,
    extra: &[&str],
) -> anyhow::Result<String> {
    let mut args = vec![
        "--json",
        "swap",
        way,
        "--amount",
        amount,
        "--eth-address",
        MAKER_ETH,
    ];
    args.extend_from_slice(extra);
    swap_id(&s.swapctl_ok("maker", &args)?)
}

/// The BTC HTLC's address in a swap's record.
pub(crate) fn htlc_address(v: &Value) -> anyhow::Result<String> {
    v["bitcoin"]["address"]
        .as_str()
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no HTLC address in {v}"))
}

/// The state in a `swapctl status --json` record.
pub(crate) fn state(v: &Value) -> String {
    let v = if v["state"].is_string() {
        v
    } else {
        &v["swap"]
    };
    v["state"].as_str().unwrap_or_default().to_owned()
}

/// Mines past the BTC HTLC's timeout height (from the swap's record `v`), then the maker's
/// `swapctl refund` takes the BTC back and the swap ends `Refunded`.
pub(crate) fn maker_refunds_btc(s: &Stack, id: &str, v: &Value) -> anyhow::Result<()> {
    let timeout = v["bitcoin"]["timeout_height"].as_u64().unwrap_or_default();
    let h = s.btc_height()?;
    s.mine(u32::try_from(timeout.saturating_sub(h) + 1)?)?;
    s.swapctl_ok("maker", &["refund", id])?;
    crosslock_e2e::wait_for("the swap to be refunded", SWAP_TIMEOUT, || {
        if !s.automines() {
            s.mine(1).ok()?;
        }
        (state(&s.status("maker", id).ok()?) == "Refunded").then_some(())
    })
    .map_err(|e| {
        e.context(format!(
            "last record {}",
            s.status("maker", id).unwrap_or_default()
        ))
    })
}

/// A funding problem (wrong amount, double funding): the operator sees the swap among the stuck
/// ones, no dst lock appears, and after the timeout the maker takes every output back.
pub(crate) fn nothing_locked_then_refunded(s: &Stack, id: &str, v: &Value) -> anyhow::Result<()> {
    crosslock_e2e::wait_for(
        "the operator to see the swap",
        std::time::Duration::from_secs(60),
        || {
            let t = s.swapctl_ok("maker", &["--json", "admin", "stuck"]).ok()?;
            t.contains(id).then_some(())
        },
    )?;
    std::thread::sleep(std::time::Duration::from_secs(10));
    let now = state(&s.status("maker", id)?);
    anyhow::ensure!(
        !now.starts_with("Dst") && now != "Completed",
        "the resolver locked against a bad funding: {now}"
    );
    maker_refunds_btc(s, id, v)
}

/// Which daemon a scenario kills.
pub(crate) enum Daemon {
    Relayer,
    Resolver,
}

/// A BTC -> ETH swap during which `who` is killed (SIGKILL) as soon as the maker's lock is seen,
/// and restarted; the swap must still complete.
pub(crate) async fn killed_mid_swap(who: Daemon) {
    let name = match who {
        Daemon::Relayer => "relayer killed",
        Daemon::Resolver => "resolver killed",
    };
    scenario(name, Options::default(), async |s: &mut Stack| {
        let (id, _) = matched_btc_to_eth(s, "1000000")?;
        s.swapctl_ok("maker", &["fund", &id])?;
        crosslock_e2e::wait_for("the src lock to be seen", SWAP_TIMEOUT, || {
            (state(&s.status("maker", &id).ok()?) != "Matched").then_some(())
        })?;
        match who {
            Daemon::Relayer => s.restart_relayer()?,
            Daemon::Resolver => s.restart_resolver()?,
        }
        s.wait_state("maker", &id, "DstLocked", SWAP_TIMEOUT)?;
        s.swapctl_ok("maker", &["reveal", &id])?;
        s.wait_state("maker", &id, "Completed", SWAP_TIMEOUT)?;
        Ok(())
    })
    .await;
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
