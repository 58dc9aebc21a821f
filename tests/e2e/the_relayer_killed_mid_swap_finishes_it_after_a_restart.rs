//! The relayer is killed (SIGKILL) mid-swap, after the maker funded; restarted, its watchers
//! catch up from their cursors, the resolver reconnects, and the swap completes.

use crate::{Daemon, killed_mid_swap};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relayer_killed_mid_swap_finishes_it_after_a_restart() {
    killed_mid_swap(Daemon::Relayer).await;
}
