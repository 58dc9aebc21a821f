//! The resolver is killed (SIGKILL) once the maker's BTC is locked, before or while it locks
//! ETH; restarted, it resumes from its Postgres log and outbox and the swap completes.

use crate::{Daemon, killed_mid_swap};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_killed_mid_swap_finishes_it_after_a_restart() {
    killed_mid_swap(Daemon::Resolver).await;
}
