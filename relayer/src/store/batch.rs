//! One chain update's inputs in one transaction: the watchers' group commit.
//!
//! A block can carry observations for thousands of swaps. Applying them one transaction each
//! costs a commit and about ten round trips per observation; here the whole update costs about
//! ten round trips and one commit, whatever its size, and the chain cursor moves in the same
//! commit. The rules are [`Store::apply`]'s: each swap's log is folded, each input is planned by
//! the core in the order the chain reported it, and every resulting event, projection, secret,
//! lock and outbox row is written before the commit, none after.
//!
//! Owns the bulk statements. It must never write a swap it has not locked (`FOR UPDATE`, in id
//! order, so two chains' batches cannot deadlock), and it must never commit part of an update:
//! any anomaly (a lock owned by another swap, a lost lease) rolls the whole update back.

use std::collections::BTreeMap;

use crosslock_core::secret::SwapId;
use crosslock_core::swap::{Swap, TransitionError, fold};
use crosslock_core::time::UnixTime;
use prost::Message;
use sqlx::Row;

use super::{
    ADVANCE_CURSOR, Applied, Input, OutboxAction, Store, StoreError, i64_of, new_locks, now_unix,
    plan, stored_action, swap_id_of, u64_of,
};
use crate::stored::{StoredEvent, lock_key};
use crate::view;

/// Where the chain's cursor moves when the update commits, fenced by the watcher's lease.
#[derive(Debug, Clone, Copy)]
pub struct CursorMove<'a> {
    /// `bitcoin` or `ethereum`.
    pub chain: &'a str,
    /// The update's height.
    pub height: u64,
    /// The update's block hash.
    pub hash: &'a [u8],
    /// The update's block time.
    pub head_time: u64,
    /// The watcher lease's token; the cursor moves only while it is live.
    pub fencing: i64,
}

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct BatchApplied {
    /// Every committed transition, in input order (several per swap possible).
    pub applied: Vec<Applied>,
    /// Inputs the core refused: nothing was written for them.
    pub refused: Vec<(SwapId, TransitionError)>,
}

/// The outcome of [`Store::apply_chain_batch`].
#[derive(Debug)]
pub enum BatchOutcome {
    /// Committed, cursor included.
    Committed(BatchApplied),
    /// The lease was lost: nothing was written.
    LeaseLost,
}

struct Current {
    swap: Swap,
    version: u64,
    created_at: i64,
    resolver: Option<String>,
    base_version: u64,
    /// The API record after the batch's last transition of this swap (`None`: untouched); the
    /// projection stores it as is.
    view: Option<crosslock_proto::public::v1::Swap>,
}

#[derive(Default)]
struct Rows {
    ev_swap: Vec<Vec<u8>>,
    ev_seq: Vec<i64>,
    ev_kind: Vec<String>,
    ev_actor: Vec<String>,
    ev_payload: Vec<String>,
    secret_swap: Vec<Vec<u8>>,
    secret: Vec<Vec<u8>>,
    secret_source: Vec<String>,
    lock_chain: Vec<String>,
    lock_id: Vec<String>,
    lock_swap: Vec<Vec<u8>>,
    lock_side: Vec<String>,
    out_swap: Vec<Vec<u8>>,
    out_seq: Vec<i64>,
    out_kind: Vec<String>,
    out_target: Vec<String>,
    out_payload: Vec<String>,
}

impl Store {
    /// Apply `inputs` (each already routed to its swap; chain observations and ticks only, never
    /// an operator's command) and move the chain's cursor, all in one transaction. An input the
    /// core refuses is reported and skipped; the rest commit together.
    ///
    /// `Err(LockTaken)`: a lock in the update belongs to another swap. Nothing was written; the
    /// caller applies the update one input at a time, which refuses that input alone.
    pub async fn apply_chain_batch(
        &self,
        inputs: &[(SwapId, Input)],
        cursor: CursorMove<'_>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut ids: Vec<Vec<u8>> = inputs.iter().map(|(id, _)| id.0.to_vec()).collect();
        ids.sort();
        ids.dedup();
        let mut tx = self.pool.begin().await?;

        // Lock every swap of the update, in id order, then read their logs in one go.
        let heads = sqlx::query(
            "SELECT id, version, created_at, resolver FROM swaps WHERE id = ANY($1)
             ORDER BY id FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut logs: BTreeMap<[u8; 16], Vec<crosslock_core::swap::Event>> = BTreeMap::new();
        let mut current: BTreeMap<[u8; 16], Current> = BTreeMap::new();
        // Every writer takes the row lock before appending, so with the rows locked the log
        // holds exactly `version` committed events per swap (no join: an index scan only).
        let events = sqlx::query(
            "SELECT swap_id, payload::text AS payload FROM swap_events
             WHERE swap_id = ANY($1) ORDER BY swap_id, seq",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        for r in &events {
            let id = swap_id_of(r, "swap_id")?;
            let p: String = r.try_get("payload")?;
            logs.entry(id.0)
                .or_default()
                .push(StoredEvent::from_json(&p)?.to_core()?);
        }
        for r in &heads {
            let id = swap_id_of(r, "id")?;
            let version = u64_of(r.try_get("version")?);
            let log = logs.remove(&id.0).unwrap_or_default();
            if u64::try_from(log.len()).ok() != Some(version) {
                return Err(StoreError::Replay(format!(
                    "swap {}: {} events for version {version}",
                    hex::encode(id.0),
                    log.len()
                )));
            }
            let swap = fold(&log).map_err(|e| StoreError::Replay(e.to_string()))?;
            current.insert(
                id.0,
                Current {
                    swap,
                    version,
                    created_at: r.try_get("created_at")?,
                    resolver: r.try_get("resolver")?,
                    base_version: version,
                    view: None,
                },
            );
        }

        // Plan every input in order against the record as the inputs before it left it.
        let now = i64_of(now_unix());
        let mut rows = Rows::default();
        let mut done = BatchApplied::default();
        let mut actions_of: Vec<Vec<crosslock_core::swap::Action>> = Vec::new();
        for (id, input) in inputs {
            let Some(cur) = current.get_mut(&id.0) else {
                return Err(StoreError::NotFound);
            };
            let before = cur.swap.clone();
            let p = match plan(&before, input) {
                Ok(p) => p,
                Err(e) => {
                    done.refused.push((*id, e));
                    continue;
                }
            };
            let key = id.0.to_vec();
            for (e, actor) in &p.events {
                cur.version += 1;
                rows.ev_swap.push(key.clone());
                rows.ev_seq.push(i64_of(cur.version));
                rows.ev_kind.push(e.kind().to_owned());
                rows.ev_actor.push(actor.clone());
                rows.ev_payload.push(e.to_json());
            }
            if before.secret.is_none()
                && let Some(k) = &p.swap.secret
            {
                rows.secret_swap.push(key.clone());
                rows.secret.push(k.secret.expose().to_vec());
                rows.secret_source.push(
                    match k.source {
                        crosslock_core::swap::SecretSource::Maker { .. } => "maker",
                        crosslock_core::swap::SecretSource::Chain => "chain",
                    }
                    .to_owned(),
                );
            }
            for (side, lock) in new_locks(&before, &p.swap) {
                let (chain, lock_id) = lock_key(&lock);
                rows.lock_chain.push(chain.to_owned());
                rows.lock_id.push(lock_id);
                rows.lock_swap.push(key.clone());
                rows.lock_side.push(side.to_owned());
            }
            for a in &p.actions {
                let (kind, target, payload) = stored_action(a);
                rows.out_swap.push(key.clone());
                rows.out_seq.push(i64_of(cur.version));
                rows.out_kind.push(kind.to_owned());
                rows.out_target.push(target.to_owned());
                rows.out_payload
                    .push(serde_json::to_string(&payload).unwrap_or_default());
            }
            cur.swap = p.swap.clone();
            let view = view::swap_pb(&p.swap, cur.version, cur.created_at, now);
            cur.view = Some(view.clone());
            done.applied.push(Applied {
                before,
                swap: p.swap,
                version: cur.version,
                view,
                actions: Vec::new(),
                resolver: cur.resolver.clone(),
            });
            actions_of.push(p.actions);
        }

        if !rows.ev_swap.is_empty() {
            sqlx::query(
                "INSERT INTO swap_events (swap_id, seq, kind, actor, payload, recorded_at)
                 SELECT u.swap_id, u.seq, u.kind, u.actor, u.payload::jsonb, $6
                 FROM UNNEST($1::bytea[], $2::int8[], $3::text[], $4::text[], $5::text[])
                    AS u(swap_id, seq, kind, actor, payload)",
            )
            .bind(&rows.ev_swap)
            .bind(&rows.ev_seq)
            .bind(&rows.ev_kind)
            .bind(&rows.ev_actor)
            .bind(&rows.ev_payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            self.write_projections(&mut tx, &current, now).await?;
        }
        if !rows.secret_swap.is_empty() {
            sqlx::query(
                "INSERT INTO secrets (swap_id, secret, source, recorded_at)
                 SELECT u.swap_id, u.secret, u.source, $4
                 FROM UNNEST($1::bytea[], $2::bytea[], $3::text[]) AS u(swap_id, secret, source)
                 ON CONFLICT (swap_id) DO NOTHING",
            )
            .bind(&rows.secret_swap)
            .bind(&rows.secret)
            .bind(&rows.secret_source)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if !rows.lock_chain.is_empty() {
            // A lock already indexed under another swap is refused, as `index_lock` refuses it;
            // the statement counts those owners in the snapshot the insert ran against.
            let foreign: i64 = sqlx::query_scalar(
                "WITH u AS (
                    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[])
                        AS u(chain, lock_id, swap_id, side)),
                 ins AS (
                    INSERT INTO swap_locks (chain, lock_id, swap_id, side)
                    SELECT chain, lock_id, swap_id, side FROM u
                    ON CONFLICT (chain, lock_id) DO NOTHING RETURNING 1)
                 SELECT count(*) FROM swap_locks l JOIN u
                    ON l.chain = u.chain AND l.lock_id = u.lock_id AND l.swap_id <> u.swap_id",
            )
            .bind(&rows.lock_chain)
            .bind(&rows.lock_id)
            .bind(&rows.lock_swap)
            .bind(&rows.lock_side)
            .fetch_one(&mut *tx)
            .await?;
            if foreign > 0 {
                return Err(StoreError::LockTaken);
            }
        }
        if !rows.out_swap.is_empty() {
            let n = i64::try_from(rows.out_swap.len()).unwrap_or(i64::MAX);
            let mut out_ids: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval(pg_get_serial_sequence('outbox', 'id'))
                 FROM generate_series(1, $1)",
            )
            .bind(n)
            .fetch_all(&mut *tx)
            .await?;
            out_ids.sort_unstable();
            sqlx::query(
                "INSERT INTO outbox (id, swap_id, seq, kind, target, payload, created_at)
                 SELECT u.id, u.swap_id, u.seq, u.kind, u.target, u.payload::jsonb, $7
                 FROM UNNEST($1::int8[], $2::bytea[], $3::int8[], $4::text[], $5::text[],
                    $6::text[]) AS u(id, swap_id, seq, kind, target, payload)",
            )
            .bind(&out_ids)
            .bind(&rows.out_swap)
            .bind(&rows.out_seq)
            .bind(&rows.out_kind)
            .bind(&rows.out_target)
            .bind(&rows.out_payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let mut next = out_ids.into_iter();
            for (a, actions) in done.applied.iter_mut().zip(actions_of) {
                for action in actions {
                    let id = next.next().ok_or(StoreError::Replay(
                        "fewer outbox ids than actions".to_owned(),
                    ))?;
                    a.actions.push(OutboxAction { id, action });
                }
            }
        }
        let moved = sqlx::query(ADVANCE_CURSOR)
            .bind(cursor.chain)
            .bind(i64_of(cursor.height))
            .bind(cursor.hash)
            .bind(i64_of(cursor.head_time))
            .bind(cursor.fencing)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(BatchOutcome::LeaseLost);
        }
        tx.commit().await?;
        Ok(BatchOutcome::Committed(done))
    }

    /// One `UPDATE` for every swap the batch changed, each naming the version it locked.
    async fn write_projections(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        current: &BTreeMap<[u8; 16], Current>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut id = Vec::new();
        let mut state = Vec::new();
        let mut reason = Vec::new();
        let mut terminal = Vec::new();
        let mut version = Vec::new();
        let mut deadline: Vec<Option<i64>> = Vec::new();
        let mut view_bytes = Vec::new();
        let mut base = Vec::new();
        let wall = UnixTime(now_unix());
        for (k, c, v) in current
            .iter()
            .filter_map(|(k, c)| Some((k, c, c.view.as_ref()?)))
        {
            id.push(k.to_vec());
            state.push(view::state_name(&c.swap.state).to_owned());
            reason.push(view::state_reason(&c.swap.state));
            terminal.push(c.swap.state.is_terminal());
            version.push(i64_of(c.version));
            deadline.push(view::next_deadline(&c.swap, wall));
            view_bytes.push(v.encode_to_vec());
            base.push(i64_of(c.base_version));
        }
        let n = id.len();
        let updated = sqlx::query(
            "UPDATE swaps s SET state = u.state, state_reason = u.reason, terminal = u.terminal,
                version = u.version, next_deadline = u.deadline, view = u.view, updated_at = $9
             FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::bool[], $5::int8[], $6::int8[],
                $7::bytea[], $8::int8[]) AS u(id, state, reason, terminal, version, deadline, view,
                base)
             WHERE s.id = u.id AND s.version = u.base",
        )
        .bind(&id)
        .bind(&state)
        .bind(&reason)
        .bind(&terminal)
        .bind(&version)
        .bind(&deadline)
        .bind(&view_bytes)
        .bind(&base)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if usize::try_from(updated.rows_affected()).unwrap_or(0) != n {
            // Impossible while the rows are locked; refuse rather than commit a torn update.
            return Err(StoreError::Conflict { expected: 0 });
        }
        Ok(())
    }
}
