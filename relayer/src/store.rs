//! Postgres, the truth: swaps as an append-only event log plus a projection, secrets, the
//! outbox, quotes, chain cursors and leases.
//!
//! Owns every SQL statement of the relayer and the rule that a state change is one transaction:
//! the event is appended, the projection updated under a version check (optimistic concurrency),
//! a newly known secret stored, and one outbox row written per action the core issued. Nothing
//! in this module acts on an action; callers act only after `apply` returned, i.e. after commit.
//! It must never update or delete a `swap_events` row (a trigger refuses it anyway).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crosslock_core::chain::LockId;
use crosslock_core::order::Order;
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::{Action, Event, OperatorCommand, Swap, TransitionError, apply, fold};
use crosslock_core::time::{BtcHeight, Clock, UnixTime};
use crosslock_proto::public::v1 as pb;
use prost::Message;
use serde::{Deserialize, Serialize};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use thiserror::Error;

use crate::stored::{StoredError, StoredEvent, StoredLockId, event_out, lock_key, lock_out};
use crate::view;

mod batch;
pub use batch::{BatchApplied, BatchOutcome, CursorMove};

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored event does not decode: corruption or incompatible code.
    #[error("stored data: {0}")]
    Stored(#[from] StoredError),
    /// A stored log does not replay.
    #[error("swap log does not replay: {0}")]
    Replay(String),
    /// No such swap.
    #[error("no such swap")]
    NotFound,
    /// Another writer changed the swap since it was read; re-read and retry.
    #[error("the swap changed concurrently (expected version {expected})")]
    Conflict {
        /// The version the caller read.
        expected: u64,
    },
    /// The core refused the event; nothing was written.
    #[error("{0}")]
    Transition(#[from] TransitionError),
    /// Another swap already uses this hashlock.
    #[error("a swap with this hashlock already exists")]
    HashlockTaken,
    /// The idempotency key was used with a different request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyMismatch,
    /// A lock id already belongs to another swap.
    #[error("the lock already belongs to another swap")]
    LockTaken,
}

/// The Postgres schema that holds every relayer table.
pub const SCHEMA: &str = "relayer";
/// Longest any one statement may run; well under the default 10 s call deadline.
const STATEMENT_TIMEOUT_MS: &str = "5000";

/// The embedded migrations (no `DATABASE_URL` or macros at build time).
pub fn migrator() -> Migrator {
    Migrator {
        migrations: std::borrow::Cow::Owned(vec![
            Migration::new(
                1,
                "initial".into(),
                MigrationType::Simple,
                include_str!("../migrations/0001_initial.sql").into(),
                false,
            ),
            Migration::new(
                2,
                "adapter cursor".into(),
                MigrationType::Simple,
                include_str!("../migrations/0002_adapter_cursor.sql").into(),
                false,
            ),
            Migration::new(
                3,
                "outbox retries".into(),
                MigrationType::Simple,
                include_str!("../migrations/0003_outbox_retries.sql").into(),
                false,
            ),
        ]),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// Unix seconds now.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn u64_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A swap to create.
#[derive(Debug, Clone)]
pub struct NewSwap {
    /// Fresh random id.
    pub id: SwapId,
    /// The validated order.
    pub order: Order,
    /// The clock at acceptance.
    pub clock: Clock,
    /// The client's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the canonical request, to tell a retry from a reuse of the key.
    pub request_digest: [u8; 32],
}

/// The result of `create_swap`.
#[derive(Debug, Clone)]
pub struct Created {
    /// The swap's API record.
    pub view: pb::Swap,
    /// `false` when an earlier request with the same idempotency key had created it.
    pub fresh: bool,
}

/// An input for one swap.
#[derive(Debug, Clone)]
pub struct Input {
    /// The event.
    pub event: Event,
    /// Who reported it: `chain:bitcoin`, `maker`, `resolver:<name>`, `operator:<name>`, `clock`.
    pub actor: String,
    /// The operator's reason, for operator commands.
    pub reason: String,
    /// Refuse with `Conflict` unless the swap is at this version.
    pub expected_version: Option<u64>,
    /// Tick the swap to this clock first if it is newer than the record's.
    pub clock: Option<Clock>,
    /// For `Matched`: the resolver that took the swap.
    pub resolver: Option<String>,
}

impl Input {
    /// An input with no version check, clock or resolver.
    pub fn new(event: Event, actor: impl Into<String>) -> Input {
        Input {
            event,
            actor: actor.into(),
            reason: String::new(),
            expected_version: None,
            clock: None,
            resolver: None,
        }
    }
}

/// One action written to the outbox.
#[derive(Debug, Clone)]
pub struct OutboxAction {
    /// Outbox row id.
    pub id: i64,
    /// The action.
    pub action: Action,
}

/// The result of a committed transition.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The record before.
    pub before: Swap,
    /// The record after.
    pub swap: Swap,
    /// The log length after.
    pub version: u64,
    /// The API record after.
    pub view: pb::Swap,
    /// The actions issued, with their outbox ids, in order.
    pub actions: Vec<OutboxAction>,
    /// The resolver that holds the swap, if matched.
    pub resolver: Option<String>,
}

/// A swap loaded from the log.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The folded record.
    pub swap: Swap,
    /// The log length.
    pub version: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// The resolver, if matched.
    pub resolver: Option<String>,
}

/// One row of a swap's timeline.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// Position from 1.
    pub seq: u64,
    /// Event name.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// Redacted payload.
    pub detail_json: String,
    /// Unix seconds.
    pub recorded_at: i64,
}

/// One of the relayer's own outbox rows, due to be tried.
#[derive(Debug, Clone)]
pub struct DueRow {
    /// Outbox row id.
    pub id: i64,
    /// The swap.
    pub swap: SwapId,
    /// The action.
    pub action: StoredAction,
    /// The rung of the maker's ladder this row is on (capped at the top by the dispatcher).
    pub rung: u32,
    /// Refusals by the node on this rung so far.
    pub attempts: u32,
}

/// What follows a refusal of one of the relayer's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryStep {
    /// Try the same rung again, not before `after`.
    Backoff {
        /// Refusals on this rung, this one included.
        attempts: u32,
        /// The wait.
        after: Duration,
    },
    /// Move up to `rung` and try it at once, counting afresh.
    NextRung {
        /// The next rung.
        rung: u32,
    },
    /// Give up: no more tries until an operator's Retry; ListStuck lists the swap.
    Park {
        /// Refusals on the top rung, this one included.
        attempts: u32,
    },
}

/// Longest node answer kept with a refused row.
const MAX_ERROR_CHARS: usize = 500;

/// What an outbox row holds (the secret is never copied here; it lives in `secrets`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAction {
    /// Format version.
    pub v: u8,
    /// Action name.
    pub kind: String,
    /// The lock, for claims and refunds.
    pub lock: Option<StoredLockId>,
    /// Fee band 0..=2.
    pub fee_band: u32,
    /// Fee checkpoint.
    pub fee_checkpoint: u32,
    /// Alert or operator reason, in words.
    pub detail: String,
}

fn band_num(b: crosslock_core::timelock::FeeBand) -> u32 {
    use crosslock_core::timelock::FeeBand;
    match b {
        FeeBand::Normal => 0,
        FeeBand::Urgent => 1,
        FeeBand::Critical => 2,
    }
}

/// The outbox row of an action: (kind, target, payload).
pub fn stored_action(a: &Action) -> (&'static str, &'static str, StoredAction) {
    let mut s = StoredAction {
        v: 1,
        kind: String::new(),
        lock: None,
        fee_band: 0,
        fee_checkpoint: 0,
        detail: String::new(),
    };
    let (kind, target) = match a {
        Action::LockDst { .. } => ("LockDst", "resolver"),
        Action::HandSecretOn { .. } => ("HandSecretOn", "resolver"),
        Action::ClaimDst {
            lock, escalation, ..
        } => {
            s.lock = Some(lock_out(lock));
            s.fee_band = band_num(escalation.band);
            s.fee_checkpoint = escalation.checkpoint;
            ("ClaimDst", "resolver")
        }
        Action::BroadcastMakerClaim {
            lock, escalation, ..
        } => {
            s.lock = Some(lock_out(lock));
            s.fee_band = band_num(escalation.band);
            s.fee_checkpoint = escalation.checkpoint;
            ("BroadcastMakerClaim", "relayer")
        }
        Action::ClaimSrc {
            lock, escalation, ..
        } => {
            s.lock = Some(lock_out(lock));
            s.fee_band = band_num(escalation.band);
            s.fee_checkpoint = escalation.checkpoint;
            ("ClaimSrc", "resolver")
        }
        Action::RefundSrc { lock, escalation } => {
            s.lock = Some(lock_out(lock));
            s.fee_band = band_num(escalation.band);
            s.fee_checkpoint = escalation.checkpoint;
            ("RefundSrc", "resolver")
        }
        Action::RefundDst { lock, escalation } => {
            s.lock = Some(lock_out(lock));
            s.fee_band = band_num(escalation.band);
            s.fee_checkpoint = escalation.checkpoint;
            ("RefundDst", "resolver")
        }
        Action::Alert { alert } => {
            s.detail = format!("{alert:?}");
            ("Alert", "operator")
        }
        Action::NeedsOperator { reason } => {
            s.detail = format!("{reason:?}");
            ("NeedsOperator", "operator")
        }
    };
    s.kind = kind.to_owned();
    (kind, target, s)
}

/// Moves a chain's cursor (`$1` chain, `$2` height, `$3` hash, `$4` head time, `$5` fencing,
/// `$6` now) only while `$5` is the live token of the chain's watcher lease and no newer token
/// wrote it: zero rows affected means the lease is lost.
const ADVANCE_CURSOR: &str =
    "INSERT INTO chain_cursors (chain, height, block_hash, head_time, fencing, updated_at)
     SELECT $1, $2, $3, $4, $5, $6
     WHERE EXISTS (SELECT 1 FROM leases WHERE name = 'watcher:' || $1 AND fencing = $5
                   AND expires_at > now())
     ON CONFLICT (chain) DO UPDATE SET height = $2, block_hash = $3, head_time = $4,
        fencing = $5, updated_at = $6
     WHERE chain_cursors.fencing <= $5";

/// The Postgres store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

fn clock_newer(record: &Clock, now: &Clock) -> bool {
    now.btc_tip != record.btc_tip || now.eth_time > record.eth_time || now.wall > record.wall
}

/// What one input does to a swap, before anything is written.
#[derive(Debug, Clone)]
struct Plan {
    swap: Swap,
    events: Vec<(StoredEvent, String)>,
    actions: Vec<Action>,
}

/// The core's transition for `input`: a tick to its clock first if that is newer, then its
/// event. Pure; [`Store::apply`] writes what it returns.
fn plan(record: &Swap, input: &Input) -> Result<Plan, TransitionError> {
    let mut swap = record.clone();
    let mut events: Vec<(StoredEvent, String)> = Vec::new();
    let mut actions: Vec<Action> = Vec::new();
    if let Some(c) = input.clock
        && clock_newer(&swap.clock, &c)
    {
        let tick = Event::Tick { clock: c };
        let t = apply(&swap, &tick)?;
        swap = t.swap;
        actions.extend(t.actions);
        events.push((event_out(&tick, ""), "clock".to_owned()));
    }
    let t = apply(&swap, &input.event)?;
    swap = t.swap;
    actions.extend(t.actions);
    events.push((event_out(&input.event, &input.reason), input.actor.clone()));
    Ok(Plan {
        swap,
        events,
        actions,
    })
}

/// Whether the core would accept `input` on `record` (as [`Store::apply`] would apply it), without
/// writing anything: for callers that must check more than the core does before committing.
pub fn check_input(record: &Swap, input: &Input) -> Result<(), TransitionError> {
    plan(record, input).map(|_| ())
}

impl Store {
    /// Connect with a bounded pool, the relayer's own schema first on the search path (so it
    /// can share a database with the resolver, which has its own), and a statement timeout so
    /// that no call waits on Postgres longer than its gRPC deadline.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)?.options([
            ("search_path", SCHEMA),
            ("statement_timeout", STATEMENT_TIMEOUT_MS),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Store { pool })
    }

    /// Wrap an existing pool.
    pub fn from_pool(pool: PgPool) -> Store {
        Store { pool }
    }

    /// The pool, for tests and health checks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Create the schema and apply pending migrations (under sqlx's advisory lock, so replicas
    /// starting together are safe).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            .execute(&self.pool)
            .await?;
        migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Db(sqlx::Error::Migrate(Box::new(e))))
    }

    /// The clock: chain heads from the watchers' cursors, and the wall clock.
    pub async fn clock(&self) -> Result<Clock, StoreError> {
        let rows = sqlx::query("SELECT chain, height, head_time FROM chain_cursors")
            .fetch_all(&self.pool)
            .await?;
        let mut c = Clock {
            wall: UnixTime(now_unix()),
            ..Clock::default()
        };
        for r in rows {
            let chain: String = r.try_get("chain")?;
            let height: i64 = r.try_get("height")?;
            let time: i64 = r.try_get("head_time")?;
            match chain.as_str() {
                "bitcoin" => c.btc_tip = BtcHeight(u32::try_from(height).unwrap_or(0)),
                "ethereum" => c.eth_time = UnixTime(u64_of(time)),
                _ => {}
            }
        }
        Ok(c)
    }

    /// Whether the chain heads are known (a watcher has run).
    pub async fn heads_known(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chain_cursors")
            .fetch_one(&self.pool)
            .await?;
        Ok(n >= 2)
    }

    /// Create a swap from a validated order: projection row, `Created` event and an offer in the
    /// outbox, in one transaction. Idempotent on the key; the hashlock is unique.
    pub async fn create_swap(&self, new: &NewSwap) -> Result<Created, StoreError> {
        let event = Event::Created {
            id: new.id,
            order: new.order.clone(),
            at: new.clock,
        };
        let swap = crosslock_core::swap::create(&event)?;
        let now = i64_of(now_unix());
        let view = view::swap_pb(&swap, 1, now, now);
        let stored = event_out(&event, "");
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO swaps (id, hashlock, idempotency_key, request_digest, direction, state,
                state_reason, terminal, version, maker_eth_address, maker_btc_pubkey, next_deadline,
                view, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, $12, $13, $13)",
        )
        .bind(new.id.0.to_vec())
        .bind(new.order.hashlock.0.to_vec())
        .bind(&new.idempotency_key)
        .bind(new.request_digest.to_vec())
        .bind(format!("{:?}", new.order.direction()))
        .bind(view::state_name(&swap.state))
        .bind(view::state_reason(&swap.state))
        .bind(swap.state.is_terminal())
        .bind(new.order.maker_eth_address.0.to_vec())
        .bind(new.order.maker_btc_pubkey.as_bytes().to_vec())
        .bind(view::next_deadline(&swap, UnixTime(now_unix())))
        .bind(view.encode_to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            let constraint = match &e {
                sqlx::Error::Database(d) => d.constraint().map(str::to_owned),
                _ => None,
            };
            drop(tx);
            return match constraint.as_deref() {
                Some("swaps_idempotency_key_unique") => self.replay_created(new).await,
                Some("swaps_hashlock_unique") => Err(StoreError::HashlockTaken),
                _ => Err(e.into()),
            };
        }
        insert_event(&mut tx, new.id, 1, &stored, "maker", now).await?;
        sqlx::query(
            "INSERT INTO outbox (swap_id, seq, kind, target, payload, created_at)
             VALUES ($1, 1, 'Offer', 'resolvers', '{\"v\":1,\"kind\":\"Offer\"}'::jsonb, $2)",
        )
        .bind(new.id.0.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Created { view, fresh: true })
    }

    async fn replay_created(&self, new: &NewSwap) -> Result<Created, StoreError> {
        let row = sqlx::query("SELECT request_digest, view FROM swaps WHERE idempotency_key = $1")
            .bind(&new.idempotency_key)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let digest: Vec<u8> = row.try_get("request_digest")?;
        if digest != new.request_digest {
            return Err(StoreError::IdempotencyMismatch);
        }
        Ok(Created {
            view: decode_view(&row)?,
            fresh: false,
        })
    }

    /// The swap created under an idempotency key, if any, with the request digest.
    pub async fn by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, pb::Swap)>, StoreError> {
        let row = sqlx::query("SELECT request_digest, view FROM swaps WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("request_digest")?, decode_view(&r)?))),
            None => Ok(None),
        }
    }

    /// Fold a swap's log.
    pub async fn load(&self, id: SwapId) -> Result<Loaded, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_in(&mut conn, id).await
    }

    /// The API record and version, without folding the log.
    pub async fn view(&self, id: SwapId) -> Result<pb::Swap, StoreError> {
        let row = sqlx::query("SELECT view FROM swaps WHERE id = $1")
            .bind(id.0.to_vec())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_view(&row)
    }

    /// The resolver that took a swap.
    pub async fn resolver_of(&self, id: SwapId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT resolver FROM swaps WHERE id = $1")
            .bind(id.0.to_vec())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get("resolver")?)
    }

    /// Apply one input to a swap in one transaction (see the module doc). Returns only after
    /// commit; the caller may then act on the returned actions.
    pub async fn apply(&self, id: SwapId, input: &Input) -> Result<Applied, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row lock first, so a batch of chain inputs (which locks its swaps up front) and a
        // single writer queue on the row instead of deadlocking on the log's next `seq`.
        let loaded = load_locked(&mut tx, id).await?;
        if let Some(v) = input.expected_version
            && v != loaded.version
        {
            return Err(StoreError::Conflict { expected: v });
        }
        let before = loaded.swap;
        let Plan {
            swap,
            events,
            actions,
        } = plan(&before, input)?;

        let now = i64_of(now_unix());
        let mut seq = loaded.version;
        for (e, actor) in &events {
            seq += 1;
            insert_event(&mut tx, id, seq, e, actor, now).await?;
        }
        let resolver = input.resolver.clone().or(loaded.resolver);
        let view = view::swap_pb(&swap, seq, loaded.created_at, now);
        let updated = sqlx::query(
            "UPDATE swaps SET state = $1, state_reason = $2, terminal = $3, version = $4,
                next_deadline = $5, view = $6, updated_at = $7, resolver = $8
             WHERE id = $9 AND version = $10",
        )
        .bind(view::state_name(&swap.state))
        .bind(view::state_reason(&swap.state))
        .bind(swap.state.is_terminal())
        .bind(i64_of(seq))
        .bind(view::next_deadline(&swap, UnixTime(now_unix())))
        .bind(view.encode_to_vec())
        .bind(now)
        .bind(&resolver)
        .bind(id.0.to_vec())
        .bind(i64_of(loaded.version))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict {
                expected: loaded.version,
            });
        }
        if before.secret.is_none()
            && let Some(k) = &swap.secret
        {
            let source = match k.source {
                crosslock_core::swap::SecretSource::Maker { .. } => "maker",
                crosslock_core::swap::SecretSource::Chain => "chain",
            };
            sqlx::query(
                "INSERT INTO secrets (swap_id, secret, source, recorded_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (swap_id) DO NOTHING",
            )
            .bind(id.0.to_vec())
            .bind(k.secret.expose().to_vec())
            .bind(source)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for (side, lock) in new_locks(&before, &swap) {
            index_lock(&mut tx, id, side, &lock).await?;
        }
        if matches!(input.event, Event::Operator(OperatorCommand::Retry)) {
            // An operator's Retry gives the relayer's own rows a fresh count of tries, parked
            // ones included (the rung reached is kept: the rungs below were refused).
            sqlx::query(
                "UPDATE outbox SET attempts = 0, next_attempt_at = NULL, parked_at = NULL
                 WHERE swap_id = $1 AND target = 'relayer' AND delivered_at IS NULL",
            )
            .bind(id.0.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        let mut out = Vec::with_capacity(actions.len());
        for a in actions {
            let (kind, target, payload) = stored_action(&a);
            let row_id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (swap_id, seq, kind, target, payload, created_at)
                 VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING id",
            )
            .bind(id.0.to_vec())
            .bind(i64_of(seq))
            .bind(kind)
            .bind(target)
            .bind(serde_json::to_string(&payload).unwrap_or_default())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            out.push(OutboxAction {
                id: row_id,
                action: a,
            });
        }
        tx.commit().await?;
        Ok(Applied {
            before,
            swap,
            version: seq,
            view,
            actions: out,
            resolver,
        })
    }

    /// The swap a lock belongs to and its side (`src`/`dst`), by one index lookup.
    pub async fn swap_of_lock(
        &self,
        lock: &LockId,
    ) -> Result<Option<(SwapId, String)>, StoreError> {
        let (chain, key) = lock_key(lock);
        let row =
            sqlx::query("SELECT swap_id, side FROM swap_locks WHERE chain = $1 AND lock_id = $2")
                .bind(chain)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(Some((swap_id_of(&r, "swap_id")?, r.try_get("side")?))),
            None => Ok(None),
        }
    }

    /// The swap with this hashlock (unique index) and its direction.
    pub async fn swap_of_hashlock(
        &self,
        hashlock: &[u8; 32],
    ) -> Result<Option<(SwapId, String)>, StoreError> {
        let row = sqlx::query("SELECT id, direction FROM swaps WHERE hashlock = $1")
            .bind(hashlock.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((swap_id_of(&r, "id")?, r.try_get("direction")?))),
            None => Ok(None),
        }
    }

    /// [`Store::swap_of_hashlock`] for many hashlocks in one query: each found one's swap and
    /// direction.
    pub async fn swaps_of_hashlocks(
        &self,
        hashlocks: &[[u8; 32]],
    ) -> Result<HashMap<[u8; 32], (SwapId, String)>, StoreError> {
        let keys: Vec<Vec<u8>> = hashlocks.iter().map(|h| h.to_vec()).collect();
        let rows =
            sqlx::query("SELECT hashlock, id, direction FROM swaps WHERE hashlock = ANY($1)")
                .bind(&keys)
                .fetch_all(&self.pool)
                .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let h: Vec<u8> = r.try_get("hashlock")?;
            let h: [u8; 32] = h
                .try_into()
                .map_err(|_| StoreError::Stored(StoredError::Field("swaps.hashlock")))?;
            out.insert(h, (swap_id_of(r, "id")?, r.try_get("direction")?));
        }
        Ok(out)
    }

    /// [`Store::swap_of_lock`] for many locks in one query, keyed by [`lock_key`]'s
    /// `(chain, id)`: each indexed one's swap and side.
    pub async fn swaps_of_locks(
        &self,
        locks: &[LockId],
    ) -> Result<HashMap<(&'static str, String), (SwapId, String)>, StoreError> {
        let (mut chains, mut keys) = (Vec::new(), Vec::new());
        for l in locks {
            let (c, k) = lock_key(l);
            chains.push(c.to_owned());
            keys.push(k);
        }
        let rows = sqlx::query(
            "SELECT l.chain, l.lock_id, l.swap_id, l.side FROM swap_locks l
             JOIN UNNEST($1::text[], $2::text[]) AS u(chain, lock_id)
               ON l.chain = u.chain AND l.lock_id = u.lock_id",
        )
        .bind(&chains)
        .bind(&keys)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let chain: String = r.try_get("chain")?;
            let chain = if chain == "bitcoin" {
                "bitcoin"
            } else {
                "ethereum"
            };
            out.insert(
                (chain, r.try_get("lock_id")?),
                (swap_id_of(r, "swap_id")?, r.try_get("side")?),
            );
        }
        Ok(out)
    }

    /// Non-terminal swaps whose next deadline has passed, oldest first (partial index).
    pub async fn due_swaps(&self, now: u64, limit: i64) -> Result<Vec<SwapId>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM swaps WHERE NOT terminal AND next_deadline <= $1
             ORDER BY next_deadline LIMIT $2",
        )
        .bind(i64_of(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| swap_id_of(r, "id")).collect()
    }

    /// Swaps needing an operator, swaps whose maker's claim the dispatcher gave up on (parked
    /// outbox rows), and non-terminal swaps with a deadline within `horizon` seconds; each swap
    /// once, its reasons joined, in that order of urgency.
    pub async fn stuck(
        &self,
        now: u64,
        horizon: u64,
        limit: i64,
    ) -> Result<Vec<(pb::Swap, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "(SELECT view, state_reason, next_deadline, 0 AS part, updated_at AS ord FROM swaps
                WHERE state = 'NeedsOperator' ORDER BY updated_at LIMIT $3)
             UNION ALL
             (SELECT s.view,
                     format('the node refused the maker''s claim %s times on rung %s, the \
                             highest tried; an operator''s Retry tries again. Last answer: %s',
                            o.attempts, o.rung, COALESCE(o.last_error, '')),
                     s.next_deadline, 1 AS part, o.parked_at AS ord
                FROM outbox o JOIN swaps s ON s.id = o.swap_id
                WHERE o.delivered_at IS NULL AND o.parked_at IS NOT NULL
                ORDER BY o.parked_at LIMIT $3)
             UNION ALL
             (SELECT view, state_reason, next_deadline, 2 AS part, next_deadline AS ord FROM swaps
                WHERE NOT terminal AND state <> 'NeedsOperator' AND next_deadline <= $1 + $2
                ORDER BY next_deadline LIMIT $3)
             ORDER BY part, ord",
        )
        .bind(i64_of(now))
        .bind(i64_of(horizon))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(pb::Swap, String, i64)> = Vec::with_capacity(rows.len());
        for r in rows {
            let v = decode_view(&r)?;
            let reason: String = r.try_get("state_reason")?;
            let deadline: Option<i64> = r.try_get("next_deadline")?;
            let reason = if reason.is_empty() {
                "deadline near without progress".to_owned()
            } else {
                reason
            };
            if let Some(seen) = out.iter_mut().find(|(s, _, _)| s.swap_id == v.swap_id) {
                if !seen.1.contains(&reason) {
                    seen.1 = format!("{}; {reason}", seen.1);
                }
                continue;
            }
            let left = deadline.map_or(0, |d| d - i64_of(now));
            out.push((v, reason, left));
        }
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(out)
    }

    /// A maker's swaps, newest first, after the cursor `(created_at, id)`.
    pub async fn list_by_maker(
        &self,
        eth: Option<&[u8]>,
        btc: Option<&[u8]>,
        after: Option<(i64, Vec<u8>)>,
        limit: i64,
    ) -> Result<Vec<(pb::Swap, i64, Vec<u8>)>, StoreError> {
        let (col, key) = match (eth, btc) {
            (Some(e), _) => ("maker_eth_address", e.to_vec()),
            (None, Some(b)) => ("maker_btc_pubkey", b.to_vec()),
            (None, None) => return Ok(Vec::new()),
        };
        let (ts, id) = after.unwrap_or((i64::MAX, vec![0xff; 17]));
        let sql = format!(
            "SELECT view, created_at, id FROM swaps WHERE {col} = $1 AND (created_at, id) < ($2, $3)
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(key)
            .bind(ts)
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((decode_view(r)?, r.try_get("created_at")?, r.try_get("id")?)))
            .collect()
    }

    /// Open offers: unmatched swaps whose quote has not expired.
    pub async fn open_offers(&self, limit: i64) -> Result<Vec<pb::Swap>, StoreError> {
        let rows = sqlx::query(
            "SELECT view FROM swaps WHERE state = 'Created' ORDER BY created_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode_view).collect()
    }

    /// Open swaps of a resolver (partial index).
    pub async fn open_swaps_of(&self, resolver: &str) -> Result<Vec<SwapId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM swaps WHERE resolver = $1 AND NOT terminal")
            .bind(resolver)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| swap_id_of(r, "id")).collect()
    }

    /// The stored secret of a swap.
    pub async fn secret(&self, id: SwapId) -> Result<Option<Secret>, StoreError> {
        let row = sqlx::query("SELECT secret FROM secrets WHERE swap_id = $1")
            .bind(id.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => {
                let b: Vec<u8> = r.try_get("secret")?;
                Ok(Secret::from_slice(&b).ok())
            }
            None => Ok(None),
        }
    }

    /// Undelivered outbox rows of a swap for `target`.
    pub async fn pending_actions(
        &self,
        id: SwapId,
        target: &str,
    ) -> Result<Vec<(i64, StoredAction)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, payload::text AS payload FROM outbox
             WHERE swap_id = $1 AND target = $2 AND delivered_at IS NULL ORDER BY id",
        )
        .bind(id.0.to_vec())
        .bind(target)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let p: String = r.try_get("payload")?;
            let a: StoredAction = serde_json::from_str(&p).map_err(StoredError::Json)?;
            out.push((r.try_get("id")?, a));
        }
        Ok(out)
    }

    /// The oldest rows for `target` that may be tried now, across swaps (partial index
    /// `outbox_due`): undelivered, not parked, and past their backoff (database clock).
    pub async fn due_for(&self, target: &str, limit: i64) -> Result<Vec<DueRow>, StoreError> {
        // A row's rung: its own once it has one; else its position among the swap's rows of
        // the same kind (the core issues one per escalation step), and never below a rung an
        // earlier row of the swap already reached.
        let rows = sqlx::query(
            "SELECT o.id, o.swap_id, o.payload::text AS payload, o.attempts,
                    COALESCE(o.rung, GREATEST(
                        (SELECT count(*) FROM outbox p
                          WHERE p.swap_id = o.swap_id AND p.kind = o.kind AND p.id < o.id),
                        (SELECT max(p.rung) FROM outbox p
                          WHERE p.swap_id = o.swap_id AND p.kind = o.kind AND p.id < o.id)
                    ))::bigint AS rung
             FROM outbox o
             WHERE o.target = $1 AND o.delivered_at IS NULL AND o.parked_at IS NULL
               AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
             ORDER BY o.id LIMIT $2",
        )
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(due_row).collect()
    }

    /// The parked rows for `target` (partial index `outbox_parked`), oldest first.
    pub async fn parked_for(&self, target: &str, limit: i64) -> Result<Vec<DueRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, swap_id, payload::text AS payload, attempts, COALESCE(rung, 0)::bigint AS rung
             FROM outbox WHERE delivered_at IS NULL AND parked_at IS NOT NULL AND target = $1
             ORDER BY parked_at, id LIMIT $2",
        )
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(due_row).collect()
    }

    /// Mark one of the relayer's rows done: how it ended, and the rung it ended on (later rows
    /// of the swap start no lower).
    pub async fn mark_done(
        &self,
        id: i64,
        rung: Option<u32>,
        outcome: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET delivered_at = $2, rung = COALESCE($3, rung), outcome = $4,
                next_attempt_at = NULL
             WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(id)
        .bind(i64_of(now_unix()))
        .bind(rung.and_then(|r| i32::try_from(r).ok()))
        .bind(outcome)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record that the node refused a row on `rung`, and what follows (see [`RetryStep`]). Only
    /// an undelivered row whose count is still `attempts_before` changes, so a pass that lost
    /// the dispatcher lease meanwhile cannot count one refusal twice. `false`: nothing changed.
    pub async fn record_refusal(
        &self,
        id: i64,
        attempts_before: u32,
        rung: u32,
        step: &RetryStep,
        error: &str,
    ) -> Result<bool, StoreError> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let (attempts, rung, wait_ms, park) = match *step {
            RetryStep::Backoff { attempts, after } => (
                attempts,
                rung,
                Some(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)),
                false,
            ),
            RetryStep::NextRung { rung } => (0, rung, None, false),
            RetryStep::Park { attempts } => (attempts, rung, None, true),
        };
        let r = sqlx::query(
            "UPDATE outbox SET attempts = $3, rung = $4, last_error = $5,
                next_attempt_at = CASE WHEN $6::bigint IS NULL THEN NULL
                    ELSE now() + make_interval(secs => $6::double precision / 1000) END,
                parked_at = CASE WHEN $7 THEN $8 ELSE NULL END
             WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL AND parked_at IS NULL",
        )
        .bind(id)
        .bind(i32::try_from(attempts_before).unwrap_or(i32::MAX))
        .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
        .bind(i32::try_from(rung).unwrap_or(i32::MAX))
        .bind(error)
        .bind(wait_ms)
        .bind(park)
        .bind(i64_of(now_unix()))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// How many of the relayer's rows are parked for an operator (partial index
    /// `outbox_parked`).
    pub async fn parked_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND parked_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Mark outbox rows delivered.
    pub async fn mark_delivered(&self, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET delivered_at = $1 WHERE id = ANY($2) AND delivered_at IS NULL",
        )
        .bind(i64_of(now_unix()))
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A swap's timeline, secrets redacted.
    pub async fn timeline(&self, id: SwapId) -> Result<Vec<TimelineRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, actor, payload::text AS payload, recorded_at FROM swap_events
             WHERE swap_id = $1 ORDER BY seq",
        )
        .bind(id.0.to_vec())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let p: String = r.try_get("payload")?;
            let e = StoredEvent::from_json(&p)?;
            out.push(TimelineRow {
                seq: u64_of(r.try_get("seq")?),
                kind: r.try_get("kind")?,
                actor: r.try_get("actor")?,
                detail_json: e.redacted_json(),
                recorded_at: r.try_get("recorded_at")?,
            });
        }
        Ok(out)
    }

    /// Store a quote.
    pub async fn put_quote(
        &self,
        id: [u8; 16],
        body: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO quotes (id, body, expires_at, created_at) VALUES ($1, $2::jsonb, $3, $4)",
        )
        .bind(id.to_vec())
        .bind(body)
        .bind(i64_of(expires_at))
        .bind(i64_of(now_unix()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A stored quote's body and expiry.
    pub async fn quote(&self, id: [u8; 16]) -> Result<Option<(String, u64)>, StoreError> {
        let row = sqlx::query("SELECT body::text AS body, expires_at FROM quotes WHERE id = $1")
            .bind(id.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("body")?, u64_of(r.try_get("expires_at")?)))),
            None => Ok(None),
        }
    }

    /// Record a transaction a resolver reported; idempotent. `false` if it was known.
    pub async fn report_tx(
        &self,
        id: SwapId,
        chain: &str,
        tx_id: &[u8],
        kind: &str,
        raw: &[u8],
        resolver: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO reported_txs (swap_id, chain, tx_id, kind, raw_tx, resolver, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(id.0.to_vec())
        .bind(chain)
        .bind(tx_id)
        .bind(kind)
        .bind(raw)
        .bind(resolver)
        .bind(i64_of(now_unix()))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether new orders are paused.
    pub async fn paused(&self) -> Result<bool, StoreError> {
        let v: Option<bool> =
            sqlx::query_scalar("SELECT value FROM service_flags WHERE name = 'paused'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.unwrap_or(false))
    }

    /// Pause or resume new orders, with an audit row, in one transaction.
    pub async fn set_paused(
        &self,
        paused: bool,
        reason: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = i64_of(now_unix());
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO service_flags (name, value, reason, actor, updated_at)
             VALUES ('paused', $1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET value = $1, reason = $2, actor = $3, updated_at = $4",
        )
        .bind(paused)
        .bind(reason)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO admin_audit (actor, method, detail, recorded_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(actor)
        .bind(if paused { "Pause" } else { "Resume" })
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Count swaps per state, for the gauge. Uses the projection only.
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT state, count(*) AS n FROM swaps WHERE NOT terminal GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    // ---- leases and cursors -----------------------------------------------------------------

    /// Take or renew the lease `name` for `holder`. Returns the fencing token while held; a
    /// new holder gets a larger token than any before it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, fencing, expires_at)
             VALUES ($1, $2, 1, now() + make_interval(secs => $3::double precision / 1000))
             ON CONFLICT (name) DO UPDATE SET
                fencing = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.fencing
                               ELSE leases.fencing + 1 END,
                holder = EXCLUDED.holder,
                expires_at = EXCLUDED.expires_at
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()
             RETURNING fencing",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(token)
    }

    /// Give a lease up (on shutdown), so a standby takes over at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Move a chain's cursor, only while `fencing` is the live token of the chain's lease.
    /// `false` means the lease was lost: the caller must stop.
    pub async fn advance_cursor(
        &self,
        chain: &str,
        height: u64,
        hash: &[u8],
        head_time: u64,
        fencing: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(ADVANCE_CURSOR)
            .bind(chain)
            .bind(i64_of(height))
            .bind(hash)
            .bind(i64_of(head_time))
            .bind(fencing)
            .bind(i64_of(now_unix()))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// One page of the records of open swaps whose terms are fixed (matched and not terminal),
    /// in id order after `after`, for a chain adapter to learn what to watch at start. Read once
    /// per start (and on a slow timer), never per block; a page at a time, so a reload of many
    /// swaps never holds them all in memory.
    pub async fn open_matched_views(
        &self,
        after: Option<SwapId>,
        limit: i64,
    ) -> Result<Vec<(SwapId, pb::Swap)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, view FROM swaps WHERE NOT terminal AND state <> 'Created' AND id > $1
             ORDER BY id LIMIT $2",
        )
        .bind(after.map_or_else(Vec::new, |a| a.0.to_vec()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((swap_id_of(r, "id")?, decode_view(r)?)))
            .collect()
    }

    /// A chain adapter's own cursor (JSON), if one was saved.
    pub async fn adapter_cursor(&self, chain: &str) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT adapter_cursor::text FROM chain_cursors WHERE chain = $1")
                .bind(chain)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.flatten())
    }

    /// Save a chain adapter's cursor, fenced: only while `holder` holds the chain's lease with
    /// the token the relayer's cursor was last written under. `false`: the lease is lost (or
    /// the relayer's cursor was never written), nothing was saved.
    pub async fn save_adapter_cursor(
        &self,
        chain: &str,
        holder: &str,
        json: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE chain_cursors SET adapter_cursor = $3::jsonb, updated_at = $4
             WHERE chain = $1 AND EXISTS (
                SELECT 1 FROM leases WHERE name = 'watcher:' || $1 AND holder = $2
                AND fencing = chain_cursors.fencing AND expires_at > now())",
        )
        .bind(chain)
        .bind(holder)
        .bind(json)
        .bind(i64_of(now_unix()))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A chain's cursor: height, block hash, head time.
    pub async fn cursor(&self, chain: &str) -> Result<Option<(u64, Vec<u8>, u64)>, StoreError> {
        let row =
            sqlx::query("SELECT height, block_hash, head_time FROM chain_cursors WHERE chain = $1")
                .bind(chain)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(Some((
                u64_of(r.try_get("height")?),
                r.try_get("block_hash")?,
                u64_of(r.try_get("head_time")?),
            ))),
            None => Ok(None),
        }
    }
}

fn decode_view(r: &PgRow) -> Result<pb::Swap, StoreError> {
    let b: Vec<u8> = r.try_get("view")?;
    pb::Swap::decode(b.as_slice()).map_err(|_| StoreError::Stored(StoredError::Field("swaps.view")))
}

fn due_row(r: &PgRow) -> Result<DueRow, StoreError> {
    let p: String = r.try_get("payload")?;
    let action: StoredAction = serde_json::from_str(&p).map_err(StoredError::Json)?;
    let attempts: i32 = r.try_get("attempts")?;
    let rung: i64 = r.try_get("rung")?;
    Ok(DueRow {
        id: r.try_get("id")?,
        swap: swap_id_of(r, "swap_id")?,
        action,
        rung: u32::try_from(rung).unwrap_or(0),
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

fn swap_id_of(r: &PgRow, col: &str) -> Result<SwapId, StoreError> {
    let b: Vec<u8> = r.try_get(col)?;
    let a: [u8; 16] = b
        .try_into()
        .map_err(|_| StoreError::Stored(StoredError::Field("swap id")))?;
    Ok(SwapId(a))
}

async fn insert_event(
    tx: &mut Transaction<'_, Postgres>,
    id: SwapId,
    seq: u64,
    e: &StoredEvent,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "INSERT INTO swap_events (swap_id, seq, kind, actor, payload, recorded_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
    )
    .bind(id.0.to_vec())
    .bind(i64_of(seq))
    .bind(e.kind())
    .bind(actor)
    .bind(e.to_json())
    .bind(now)
    .execute(&mut **tx)
    .await;
    match r {
        Ok(_) => Ok(()),
        // Another writer appended this seq first.
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StoreError::Conflict {
            expected: seq.saturating_sub(1),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn load_in(conn: &mut sqlx::PgConnection, id: SwapId) -> Result<Loaded, StoreError> {
    load_with(
        conn,
        id,
        "SELECT version, created_at, resolver FROM swaps WHERE id = $1",
    )
    .await
}

/// [`load_in`] holding the swap's row lock until the transaction ends.
async fn load_locked(conn: &mut sqlx::PgConnection, id: SwapId) -> Result<Loaded, StoreError> {
    load_with(
        conn,
        id,
        "SELECT version, created_at, resolver FROM swaps WHERE id = $1 FOR UPDATE",
    )
    .await
}

async fn load_with(
    conn: &mut sqlx::PgConnection,
    id: SwapId,
    head: &'static str,
) -> Result<Loaded, StoreError> {
    let row = sqlx::query(head)
        .bind(id.0.to_vec())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let version = u64_of(row.try_get("version")?);
    let created_at: i64 = row.try_get("created_at")?;
    let resolver: Option<String> = row.try_get("resolver")?;
    let rows = sqlx::query(
        "SELECT payload::text AS payload FROM swap_events WHERE swap_id = $1 AND seq <= $2
         ORDER BY seq",
    )
    .bind(id.0.to_vec())
    .bind(i64_of(version))
    .fetch_all(&mut *conn)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        let p: String = r.try_get("payload")?;
        events.push(StoredEvent::from_json(&p)?.to_core()?);
    }
    let swap = fold(&events).map_err(|e| StoreError::Replay(e.to_string()))?;
    Ok(Loaded {
        swap,
        version,
        created_at,
        resolver,
    })
}

fn new_locks(before: &Swap, after: &Swap) -> Vec<(&'static str, LockId)> {
    use crosslock_core::swap::Side;
    let mut out = Vec::new();
    for (side, name) in [(Side::Src, "src"), (Side::Dst, "dst")] {
        for l in after.leg(side) {
            if !before.leg(side).iter().any(|b| b.id == l.id) {
                out.push((name, l.id));
            }
        }
    }
    out
}

async fn index_lock(
    tx: &mut Transaction<'_, Postgres>,
    id: SwapId,
    side: &str,
    lock: &LockId,
) -> Result<(), StoreError> {
    let (chain, key) = lock_key(lock);
    let owner: Vec<u8> = sqlx::query_scalar(
        "WITH ins AS (
            INSERT INTO swap_locks (chain, lock_id, swap_id, side) VALUES ($1, $2, $3, $4)
            ON CONFLICT (chain, lock_id) DO NOTHING RETURNING swap_id)
         SELECT swap_id FROM ins
         UNION ALL SELECT swap_id FROM swap_locks WHERE chain = $1 AND lock_id = $2
         LIMIT 1",
    )
    .bind(chain)
    .bind(&key)
    .bind(id.0.to_vec())
    .bind(side)
    .fetch_one(&mut **tx)
    .await?;
    if owner != id.0.to_vec() {
        return Err(StoreError::LockTaken);
    }
    Ok(())
}
