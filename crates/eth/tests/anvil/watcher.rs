use std::collections::HashMap;

use alloy::primitives::{B256, U256};
use alloy::providers::RootProvider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::anvil::ReorgOptions;
use crosslock_eth::{
    EscrowEvent, Finality, MemoryCursorStore, MemoryTxStore, SwapParams, TxSender, WatchEvent,
    Watcher, WatcherConfig, lock,
};

use crate::harness::{Anvil, Deployed, deploy, now, send_ok, sha256};

struct Maker {
    sender: TxSender<RootProvider, MemoryTxStore>,
    params: SwapParams,
    n: u64,
}

impl Maker {
    async fn new(anvil: &Anvil) -> Maker {
        let provider = anvil.provider();
        let params = SwapParams {
            hashlock: B256::ZERO,
            sender: anvil.signer(1).address(),
            receiver: anvil.signer(2).address(),
            token: None,
            amount: U256::from(1000),
            timeout: now(&provider).await + 86_400,
        };
        Maker {
            sender: anvil.sender(1, MemoryTxStore::default()).await,
            params,
            n: 0,
        }
    }

    /// Locks a fresh swap and returns its id.
    async fn lock(&mut self, provider: &RootProvider, escrow: alloy::primitives::Address) -> B256 {
        self.n += 1;
        let p = SwapParams {
            hashlock: sha256(&B256::from(U256::from(self.n))),
            ..self.params.clone()
        };
        send_ok(
            provider,
            &mut self.sender,
            &format!("lock:{}", self.n),
            lock::lock(escrow, &p),
        )
        .await;
        self.sender.poll().await.unwrap();
        p.id()
    }
}

fn config(d: &Deployed, finality: Finality) -> WatcherConfig {
    let mut c = WatcherConfig::new(d.escrow, 0);
    c.finality = finality;
    c
}

async fn poll_commit(w: &mut Watcher<RootProvider, MemoryCursorStore>) -> Vec<WatchEvent> {
    let mut all = Vec::new();
    loop {
        let batch = w.poll().await.unwrap();
        let caught_up = batch.caught_up();
        all.extend(batch.events.clone());
        w.commit(batch).await.unwrap();
        if caught_up {
            return all;
        }
    }
}

fn locked_ids(
    events: &[WatchEvent],
    pick: fn(&WatchEvent) -> Option<&crosslock_eth::EscrowLog>,
) -> Vec<B256> {
    events
        .iter()
        .filter_map(pick)
        .filter_map(|l| match &l.event {
            EscrowEvent::Locked { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn seen(e: &WatchEvent) -> Option<&crosslock_eth::EscrowLog> {
    if let WatchEvent::Seen(l) = e {
        Some(l)
    } else {
        None
    }
}
fn removed(e: &WatchEvent) -> Option<&crosslock_eth::EscrowLog> {
    if let WatchEvent::Removed(l) = e {
        Some(l)
    } else {
        None
    }
}
fn confirmed(e: &WatchEvent) -> Option<&crosslock_eth::EscrowLog> {
    if let WatchEvent::Confirmed(l) = e {
        Some(l)
    } else {
        None
    }
}

#[tokio::test]
async fn anvil_reorg_of_depth_1_to_3_rolls_back_what_was_reported() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let d = deploy(&anvil).await;
    let mut maker = Maker::new(&anvil).await;
    let store = MemoryCursorStore::default();
    let mut w = Watcher::open(
        provider.clone(),
        store.clone(),
        config(&d, Finality::Latest { confirmations: 5 }),
    )
    .await
    .unwrap();

    let kept = maker.lock(&provider, d.escrow).await;
    provider.anvil_mine(Some(5), None).await.unwrap();
    let events = poll_commit(&mut w).await;
    assert_eq!(locked_ids(&events, seen), vec![kept]);
    assert_eq!(locked_ids(&events, confirmed), vec![kept]);

    for depth in 1..=3u64 {
        // The lock lands `depth` blocks below the new head, so a reorg of `depth` removes it.
        let doomed = maker.lock(&provider, d.escrow).await;
        provider.anvil_mine(Some(depth - 1), None).await.unwrap();
        let events = poll_commit(&mut w).await;
        assert_eq!(
            locked_ids(&events, seen),
            vec![doomed],
            "depth {depth}: seen"
        );
        assert!(
            !locked_ids(&events, confirmed).contains(&doomed),
            "depth {depth}: not confirmed yet"
        );

        provider
            .anvil_reorg(ReorgOptions {
                depth,
                tx_block_pairs: vec![],
            })
            .await
            .unwrap();
        let events = poll_commit(&mut w).await;
        assert_eq!(
            locked_ids(&events, removed),
            vec![doomed],
            "depth {depth}: rolled back"
        );
        assert!(
            locked_ids(&events, seen).is_empty(),
            "depth {depth}: nothing re-reported"
        );
        assert!(
            w.cursor()
                .unfinal
                .iter()
                .all(|r| r.log.event.id() != doomed),
            "depth {depth}: forgotten"
        );

        // The maker's sender sees its lock reorged out and broadcasts it again; once re-mined,
        // the watcher reports it again, in its new block.
        let resent = maker.sender.poll().await.unwrap();
        assert_eq!(resent.len(), 1, "depth {depth}: lock moved back to pending");
        assert_eq!(resent[0].state, crosslock_eth::TxState::Pending);
        crate::harness::wait_receipt(&provider, resent[0].hash).await;
        let events = poll_commit(&mut w).await;
        assert_eq!(
            locked_ids(&events, seen),
            vec![doomed],
            "depth {depth}: re-mined, re-reported"
        );
    }
}

#[tokio::test]
async fn a_watcher_stopped_for_many_blocks_catches_up_with_each_event_exactly_once() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let d = deploy(&anvil).await;
    let mut maker = Maker::new(&anvil).await;
    let store = MemoryCursorStore::default();
    let mut cfg = config(&d, Finality::Latest { confirmations: 2 });
    cfg.max_range = 97; // many getLogs pages, with boundaries that fall between events
    let mut seen_count: HashMap<B256, usize> = HashMap::new();
    let mut confirmed_count: HashMap<B256, usize> = HashMap::new();
    let mut tally = |events: &[WatchEvent]| {
        for id in locked_ids(events, seen) {
            *seen_count.entry(id).or_default() += 1;
        }
        for id in locked_ids(events, confirmed) {
            *confirmed_count.entry(id).or_default() += 1;
        }
        assert!(locked_ids(events, removed).is_empty());
    };
    let mut expected = Vec::new();

    let mut w = Watcher::open(provider.clone(), store.clone(), cfg.clone())
        .await
        .unwrap();
    for _ in 0..3 {
        expected.push(maker.lock(&provider, d.escrow).await);
    }
    tally(&poll_commit(&mut w).await);
    drop(w);

    // Stopped: 40 locks spread over about 2000 blocks.
    for _ in 0..40 {
        expected.push(maker.lock(&provider, d.escrow).await);
        provider.anvil_mine(Some(50), None).await.unwrap();
    }

    let mut w = Watcher::open(provider.clone(), store.clone(), cfg)
        .await
        .unwrap();
    tally(&poll_commit(&mut w).await);
    assert_eq!(seen_count.len(), expected.len());
    assert!(
        expected.iter().all(|id| seen_count.get(id) == Some(&1)),
        "each event seen exactly once"
    );
    // Every lock is now at least 50 blocks deep: each confirmed, and only once.
    assert!(
        expected
            .iter()
            .all(|id| confirmed_count.get(id) == Some(&1)),
        "each event confirmed exactly once"
    );
}

#[tokio::test]
async fn a_restarted_watcher_resumes_from_its_cursor_and_replays_an_uncommitted_batch() {
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let d = deploy(&anvil).await;
    let mut maker = Maker::new(&anvil).await;
    let store = MemoryCursorStore::default();
    let cfg = config(&d, Finality::Latest { confirmations: 0 });

    let first = maker.lock(&provider, d.escrow).await;
    let mut w = Watcher::open(provider.clone(), store.clone(), cfg.clone())
        .await
        .unwrap();
    assert_eq!(locked_ids(&poll_commit(&mut w).await, seen), vec![first]);
    let committed = w.cursor().clone();

    // A batch is read but the process dies before it is committed.
    let second = maker.lock(&provider, d.escrow).await;
    let lost = w.poll().await.unwrap();
    assert_eq!(locked_ids(&lost.events, seen), vec![second]);
    drop(w);

    let mut w = Watcher::open(provider.clone(), store.clone(), cfg)
        .await
        .unwrap();
    assert_eq!(w.cursor(), &committed, "resumes from the committed cursor");
    let events = poll_commit(&mut w).await;
    assert_eq!(
        locked_ids(&events, seen),
        vec![second],
        "the uncommitted event again, the committed one not"
    );
    assert_eq!(store.current().as_ref(), Some(w.cursor()));
}

#[tokio::test]
async fn confirmations_follow_the_nodes_safe_and_finalized_blocks() {
    // anvil puts `safe` 32 and `finalized` 64 blocks below the head.
    let anvil = Anvil::start();
    let provider = anvil.provider();
    let d = deploy(&anvil).await;
    let mut maker = Maker::new(&anvil).await;
    let id = maker.lock(&provider, d.escrow).await;

    for (finality, depth) in [(Finality::Safe, 32u64), (Finality::Finalized, 64)] {
        let mut w = Watcher::open(
            provider.clone(),
            MemoryCursorStore::default(),
            config(&d, finality),
        )
        .await
        .unwrap();
        let head = |p: &RootProvider| {
            let p = p.clone();
            async move {
                alloy::providers::Provider::get_block_number(&p)
                    .await
                    .unwrap()
            }
        };
        let lock_block = {
            let events = poll_commit(&mut w).await;
            let log = events.iter().find_map(seen).expect("lock seen");
            assert_eq!(log.event.id(), id);
            log.block_number
        };
        let now = head(&provider).await;
        if now < lock_block + depth - 1 {
            provider
                .anvil_mine(Some(lock_block + depth - 1 - now), None)
                .await
                .unwrap();
        }
        assert!(
            locked_ids(&poll_commit(&mut w).await, confirmed).is_empty(),
            "{finality:?}: one block short"
        );
        provider.anvil_mine(Some(1), None).await.unwrap();
        assert_eq!(
            locked_ids(&poll_commit(&mut w).await, confirmed),
            vec![id],
            "{finality:?}"
        );
        assert!(w.cursor().unfinal.iter().all(|r| r.confirmed));
    }
}
