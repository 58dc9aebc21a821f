//! The one path by which a swap changes: the store commits the transition, then (and only then)
//! the record is cached, the update published, metrics counted and the transition logged.
//!
//! Owns the post-commit side effects. It must never publish, cache or hand on anything before
//! `Store::apply` has returned (persist, then act); a failure after commit is logged and healed
//! by readers falling back to Postgres.

use std::collections::BTreeMap;
use std::sync::Arc;

use crosslock_core::secret::SwapId;
use crosslock_proto::public::v1 as pb;
use tracing::{Instrument, info, info_span, warn};

use crate::cache::Cache;
use crate::metrics as m;
use crate::store::{Applied, BatchOutcome, Created, CursorMove, Input, NewSwap, Store, StoreError};
use crate::view;

/// How many times a watcher or sweeper input is retried after losing an optimistic race.
const CONFLICT_RETRIES: usize = 5;

/// Store plus cache, shared by every task of a replica.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Postgres.
    pub store: Store,
    /// Redis.
    pub cache: Cache,
    /// This replica's name, for leases and logs.
    pub replica: Arc<str>,
}

impl Engine {
    /// A new engine.
    pub fn new(store: Store, cache: Cache, replica: &str) -> Engine {
        Engine {
            store,
            cache,
            replica: Arc::from(replica),
        }
    }

    /// Create a swap, then cache and announce it.
    pub async fn create(&self, new: &NewSwap) -> Result<Created, StoreError> {
        let span = info_span!("swap", swap_id = %hex::encode(new.id.0));
        async {
            let c = self.store.create_swap(new).await?;
            if c.fresh {
                info!(state = "Created", "swap created");
                m::transition("None", "Created");
                self.announce(&c.view, "Created".to_owned()).await;
            }
            self.cache
                .remember_idempotency(
                    &new.idempotency_key,
                    &format!("{}:{}", c.view.swap_id, hex::encode(new.request_digest)),
                )
                .await;
            Ok(c)
        }
        .instrument(span)
        .await
    }

    /// Apply one input; on success the change is committed and announced.
    pub async fn apply(&self, id: SwapId, input: &Input) -> Result<Applied, StoreError> {
        let span = info_span!("swap", swap_id = %hex::encode(id.0));
        async {
            let a = self.store.apply(id, input).await?;
            self.after_commit(&a).await;
            Ok(a)
        }
        .instrument(span)
        .await
    }

    /// Apply an input that does not depend on what the caller read (chain observations, ticks),
    /// retrying when another writer won the race.
    pub async fn apply_retrying(&self, id: SwapId, input: &Input) -> Result<Applied, StoreError> {
        let mut last = None;
        for _ in 0..CONFLICT_RETRIES {
            match self.apply(id, input).await {
                Err(StoreError::Conflict { expected }) => {
                    last = Some(StoreError::Conflict { expected });
                }
                other => return other,
            }
        }
        Err(last.unwrap_or(StoreError::Conflict { expected: 0 }))
    }

    /// Apply one chain update's inputs and move the chain's cursor in one transaction (see
    /// [`Store::apply_chain_batch`]), then announce every committed transition: each swap's in
    /// order, different swaps concurrently (their Redis writes share one pipelined connection).
    pub async fn apply_chain_batch(
        &self,
        inputs: &[(SwapId, Input)],
        cursor: CursorMove<'_>,
    ) -> Result<BatchOutcome, StoreError> {
        let out = self.store.apply_chain_batch(inputs, cursor).await?;
        if let BatchOutcome::Committed(done) = &out {
            let mut by_swap: BTreeMap<[u8; 16], Vec<Applied>> = BTreeMap::new();
            for a in &done.applied {
                by_swap.entry(a.swap.id.0).or_default().push(a.clone());
            }
            let mut tasks = tokio::task::JoinSet::new();
            for (id, list) in by_swap {
                let engine = self.clone();
                let span = info_span!("swap", swap_id = %hex::encode(id));
                tasks.spawn(
                    async move {
                        for a in &list {
                            engine.after_commit(a).await;
                        }
                    }
                    .instrument(span),
                );
            }
            while tasks.join_next().await.is_some() {}
        }
        Ok(out)
    }

    async fn after_commit(&self, a: &Applied) {
        let from = view::state_name(&a.before.state);
        let to = view::state_name(&a.swap.state);
        if a.before.state != a.swap.state {
            info!(from, to, version = a.version, reason = %view::state_reason(&a.swap.state), "swap transition");
            m::transition(from, to);
        }
        for act in &a.actions {
            let (kind, target, payload) = crate::store::stored_action(&act.action);
            match kind {
                "Alert" | "NeedsOperator" => {
                    warn!(action = kind, detail = %payload.detail, "operator attention");
                }
                _ => info!(action = kind, target, outbox_id = act.id, "action issued"),
            }
        }
        self.announce(&a.view, view::describe(Some(&a.before), &a.swap))
            .await;
    }

    async fn announce(&self, swap: &pb::Swap, event: String) {
        self.cache.put_swap(swap).await;
        self.cache
            .publish(&pb::SwapUpdate {
                swap: Some(swap.clone()),
                event,
            })
            .await;
    }

    /// The API record: Redis first, Postgres on a miss (and re-cached).
    pub async fn view(&self, id: SwapId) -> Result<pb::Swap, StoreError> {
        let key = hex::encode(id.0);
        if let Some(s) = self.cache.get_swap(&key).await {
            return Ok(s);
        }
        let s = self.store.view(id).await?;
        self.cache.put_swap(&s).await;
        Ok(s)
    }
}
