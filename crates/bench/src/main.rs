//! `crosslock-bench`: the measuring half of `scripts/bench`. Each subcommand prints a table and
//! writes the same figures as JSON, stamped with the core count, the commit and the time.
//!
//! It owns no protocol logic: it drives the project's own crates (the relayer's engine and
//! store, crates/btc's builders and Electrum watcher) and binaries (a whole stack started by the
//! end-to-end harness) and reads what they cost. It must never be linked into a service.

// A benchmark reports on the terminal; that is its whole job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod btc_size;
mod e2e;
mod gas;
mod jsonrpc;
mod out;
mod pipeline;
mod watch;
mod watch_eth;
mod watch_relayer;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "crosslock benchmarks (run through scripts/bench)")]
struct Cli {
    /// Directory the JSON results are written to.
    #[arg(long, env = "BENCH_OUT", default_value = "target/bench")]
    out: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Re-emit the escrow's gas table written by `scripts/contracts gas`.
    Gas {
        /// The JSON `scripts/contracts gas` wrote.
        #[arg(long)]
        input: PathBuf,
    },
    /// Virtual sizes of the funding, claim and refund transactions from crates/btc's builders.
    BtcSize,
    /// Swaps driven through the relayer's engine and store on real Postgres and Redis.
    Pipeline(pipeline::Args),
    /// Watcher cost per block and resident memory with many swaps in flight.
    Watch(watch::Args),
    /// One run of `watch` (started by `watch` itself in a fresh process).
    #[command(hide = true)]
    WatchOne(watch::OneArgs),
    /// One Ethereum run of `watch` (started by `watch` itself in a fresh process).
    #[command(hide = true)]
    WatchEthOne(watch_eth::OneArgs),
    /// Many concurrent swaps through a whole stack of the real binaries.
    E2e(e2e::Args),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let out = out::Out::new(cli.out)?;
    match cli.cmd {
        Cmd::Gas { input } => gas::run(&out, &input),
        Cmd::BtcSize => btc_size::run(&out),
        Cmd::Pipeline(a) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(a.threads)
                .enable_all()
                .build()?;
            rt.block_on(pipeline::run(&out, a))
        }
        Cmd::Watch(a) => watch::run(&out, &a),
        Cmd::WatchOne(a) => watch::run_one(&a),
        Cmd::WatchEthOne(a) => watch_eth::run_one(&a),
        Cmd::E2e(a) => e2e::run(&out, &a),
    }
}
