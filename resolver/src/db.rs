//! Postgres: the resolver's schema, its migrations, and every query it runs (runtime queries
//! with binds; no compile-time macros).
//!
//! Owns the `resolver` schema: the swaps projection and append-only event log, the Ethereum and
//! Bitcoin outboxes, the signature log behind the hourly caps, and the wallet lease. Every write
//! here commits before the caller acts on it. It must never broadcast or sign anything, and never
//! update or delete an event.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::Address;
use crosslock_core::secret::SwapId;
use crosslock_core::swap::{Event, Swap, Transition, apply, fold};
use crosslock_eth::{OutboxEntry, StoreError, TxStore};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use thiserror::Error;

use crate::stored;

/// The schema the resolver's tables live in; the relayer's live elsewhere in the same database.
pub const SCHEMA: &str = "resolver";

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "resolver",
        include_str!("../migrations/0001_resolver.sql"),
    ),
    (
        2,
        "chain cursors",
        include_str!("../migrations/0002_chain_cursors.sql"),
    ),
];

/// Why a database operation failed.
#[derive(Debug, Error)]
pub enum DbError {
    /// Postgres refused or could not be reached.
    #[error("postgres: {0}")]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored event does not decode.
    #[error(transparent)]
    Stored(#[from] stored::StoredError),
    /// A stored event log does not replay: corrupt, or written by incompatible code.
    #[error("swap {swap} does not replay: {error}")]
    Replay {
        /// The swap.
        swap: SwapId,
        /// Why.
        error: String,
    },
    /// Another writer appended to the swap first; re-read and retry.
    #[error("swap {0} changed concurrently")]
    Conflict(SwapId),
    /// The core refused the event; nothing was written.
    #[error("event refused: {0}")]
    Refused(#[from] crosslock_core::swap::TransitionError),
    /// A stored row holds a value that cannot be right.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Connects with the resolver's schema first on the search path, creates the schema and runs the
/// migrations (under sqlx's advisory lock, so replicas starting together are safe).
pub async fn connect(
    url: &str,
    max_connections: u32,
    statement_timeout_ms: u64,
) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url)?.options([
        ("search_path", SCHEMA.to_owned()),
        ("statement_timeout", statement_timeout_ms.to_string()),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        .execute(&pool)
        .await?;
    migrator().run(&pool).await?;
    Ok(pool)
}

fn migrator() -> Migrator {
    // `Migrator::new` reads a directory at run time and `migrate!` needs sqlx's macros; the
    // files are compiled in instead, so the binary carries its schema.
    Migrator {
        migrations: Cow::Owned(
            MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(*d),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect(),
        ),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// A swap as loaded: its replayed record and the version the next append must name.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The record.
    pub swap: Swap,
    /// Number of events.
    pub version: i64,
}

/// Loads and replays one swap's log.
pub async fn load_swap(pool: &PgPool, id: SwapId) -> Result<Option<Loaded>, DbError> {
    let rows = sqlx::query("SELECT event FROM swap_events WHERE swap_id = $1 ORDER BY seq")
        .bind(&id.0[..])
        .fetch_all(pool)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let events = rows
        .into_iter()
        .map(|r| stored::decode(r.get::<serde_json::Value, _>(0)))
        .collect::<Result<Vec<Event>, _>>()?;
    let swap = fold(&events).map_err(|e| DbError::Replay {
        swap: id,
        error: e.to_string(),
    })?;
    let version = i64::try_from(events.len()).map_err(|_| DbError::Corrupt("log length".into()))?;
    Ok(Some(Loaded { swap, version }))
}

/// Ids of every swap that is not terminal.
pub async fn open_swaps(pool: &PgPool) -> Result<Vec<SwapId>, DbError> {
    let rows = sqlx::query("SELECT swap_id FROM swaps WHERE NOT terminal ORDER BY created_at")
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|r| {
            let b: Vec<u8> = r.get(0);
            <[u8; 16]>::try_from(b)
                .map(SwapId)
                .map_err(|_| DbError::Corrupt("swap_id".into()))
        })
        .collect()
}

/// Applies `event` to the swap and commits the event and the projection in one transaction.
/// Returns the transition; the caller acts on its actions only after this returned `Ok`.
/// A `Created` event starts a swap; it is a no-op if the swap exists with the same first event.
pub async fn append(pool: &PgPool, id: SwapId, event: &Event) -> Result<Transition, DbError> {
    let loaded = load_swap(pool, id).await?;
    let (transition, version) = match (&loaded, event) {
        (None, Event::Created { .. }) => {
            let swap = crosslock_core::swap::create(event)?;
            (
                Transition {
                    swap,
                    actions: Vec::new(),
                },
                0,
            )
        }
        (Some(l), Event::Created { .. }) => {
            return Ok(Transition {
                swap: l.swap.clone(),
                actions: Vec::new(),
            });
        }
        (None, _) => return Err(crosslock_core::swap::TransitionError::NotCreated.into()),
        (Some(l), e) => (apply(&l.swap, e)?, l.version),
    };
    let state = format!("{:?}", transition.swap.state);
    let terminal = transition.swap.state.is_terminal();
    let mut tx = pool.begin().await?;
    let updated = if version == 0 {
        sqlx::query(
            "INSERT INTO swaps (swap_id, state, terminal, version) VALUES ($1, $2, $3, 1)
             ON CONFLICT (swap_id) DO NOTHING",
        )
        .bind(&id.0[..])
        .bind(&state)
        .bind(terminal)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query(
            "UPDATE swaps SET state = $2, terminal = $3, version = version + 1, updated_at = now()
             WHERE swap_id = $1 AND version = $4",
        )
        .bind(&id.0[..])
        .bind(&state)
        .bind(terminal)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    if updated != 1 {
        return Err(DbError::Conflict(id));
    }
    sqlx::query("INSERT INTO swap_events (swap_id, seq, event) VALUES ($1, $2, $3)")
        .bind(&id.0[..])
        .bind(version + 1)
        .bind(stored::encode(event))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(transition)
}

/// What [`append_many`] did to one swap.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The record after the events that committed.
    pub swap: Swap,
    /// The actions those events issued, in order.
    pub actions: Vec<crosslock_core::swap::Action>,
    /// How many of the swap's events were recorded (refused ones and a trailing idle tick are
    /// not).
    pub recorded: usize,
}

/// Applies many swaps' events in one transaction: one look at the chains, or the clock for
/// every open swap. Each swap's events are applied in order; an event the core refuses is
/// skipped. A `Tick` that would be the swap's last recorded event and changes nothing but the
/// clock (no action, no other field) is not written: the log grows with facts, not with blocks.
/// A tick followed by another event is always written, so every fact is judged on the clock it
/// was recorded with. A swap not recorded yet starts with its `Created` event (the row and
/// the whole log in this one transaction); one whose first event here is not `Created` is left
/// out of the result.
///
/// The swaps are locked in id order (`FOR UPDATE`), so a single [`append`] queues behind the
/// batch and then retries on its version check.
pub async fn append_many(
    pool: &PgPool,
    batch: &[(SwapId, Vec<Event>)],
) -> Result<Vec<(SwapId, Appended)>, DbError> {
    use std::collections::BTreeMap;
    let mut ids: Vec<Vec<u8>> = batch.iter().map(|(id, _)| id.0.to_vec()).collect();
    ids.sort();
    ids.dedup();
    let mut tx = pool.begin().await?;
    let heads = sqlx::query(
        "SELECT swap_id, version FROM swaps WHERE swap_id = ANY($1) ORDER BY swap_id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT swap_id, event FROM swap_events WHERE swap_id = ANY($1) ORDER BY swap_id, seq",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let id_of = |b: Vec<u8>| {
        <[u8; 16]>::try_from(b)
            .map(SwapId)
            .map_err(|_| DbError::Corrupt("swap_id".into()))
    };
    let mut logs: BTreeMap<SwapId, Vec<Event>> = BTreeMap::new();
    for r in rows {
        let id = id_of(r.get(0))?;
        logs.entry(id)
            .or_default()
            .push(stored::decode(r.get::<serde_json::Value, _>(1))?);
    }
    let mut current: BTreeMap<SwapId, (Swap, i64, i64)> = BTreeMap::new();
    for r in heads {
        let id = id_of(r.get(0))?;
        let version: i64 = r.get(1);
        let log = logs.remove(&id).unwrap_or_default();
        if i64::try_from(log.len()).ok() != Some(version) {
            return Err(DbError::Corrupt(format!(
                "swap {id}: log length is not its version"
            )));
        }
        let swap = fold(&log).map_err(|e| DbError::Replay {
            swap: id,
            error: e.to_string(),
        })?;
        current.insert(id, (swap, version, version));
    }

    let (mut ev_swap, mut ev_seq, mut ev_json) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::with_capacity(batch.len());
    for (id, events) in batch {
        let mut skip = 0;
        if !current.contains_key(id)
            && let Some(first @ Event::Created { .. }) = events.first()
        {
            // A new swap: its `Created` is its first event.
            let swap = crosslock_core::swap::create(first)?;
            ev_swap.push(id.0.to_vec());
            ev_seq.push(1);
            ev_json.push(stored::encode(first));
            current.insert(*id, (swap, 1, 0));
            skip = 1;
        }
        let Some((swap, version, _)) = current.get_mut(id) else {
            continue;
        };
        let mut done = Appended {
            swap: swap.clone(),
            actions: Vec::new(),
            recorded: skip,
        };
        for (i, e) in events.iter().enumerate().skip(skip) {
            let t = match apply(&done.swap, e) {
                Ok(t) => t,
                Err(err) => {
                    tracing::debug!(swap_id = %id, error = %err, "event refused by the core; nothing recorded");
                    continue;
                }
            };
            if matches!(e, Event::Tick { .. }) && i + 1 == events.len() && t.actions.is_empty() {
                let mut same = t.swap.clone();
                same.clock = done.swap.clock;
                if same == done.swap {
                    continue;
                }
            }
            *version += 1;
            ev_swap.push(id.0.to_vec());
            ev_seq.push(*version);
            ev_json.push(stored::encode(e));
            done.swap = t.swap;
            done.actions.extend(t.actions);
            done.recorded += 1;
        }
        swap.clone_from(&done.swap);
        out.push((*id, done));
    }
    if !ev_swap.is_empty() {
        let (mut n_id, mut n_state, mut n_terminal, mut n_version) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut u_id, mut u_state, mut u_terminal, mut u_version, mut u_base) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, (swap, version, base)) in &current {
            if *base == 0 {
                n_id.push(id.0.to_vec());
                n_state.push(format!("{:?}", swap.state));
                n_terminal.push(swap.state.is_terminal());
                n_version.push(*version);
            } else if version != base {
                u_id.push(id.0.to_vec());
                u_state.push(format!("{:?}", swap.state));
                u_terminal.push(swap.state.is_terminal());
                u_version.push(*version);
                u_base.push(*base);
            }
        }
        if !n_id.is_empty() {
            // The rows first: the log references them. A swap created meanwhile by another
            // writer makes the batch fail whole, and the caller retries it.
            let inserted = sqlx::query(
                "INSERT INTO swaps (swap_id, state, terminal, version)
                 SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::bool[], $4::int8[])
                 ON CONFLICT (swap_id) DO NOTHING",
            )
            .bind(&n_id)
            .bind(&n_state)
            .bind(&n_terminal)
            .bind(&n_version)
            .execute(&mut *tx)
            .await?;
            if usize::try_from(inserted.rows_affected()).ok() != Some(n_id.len()) {
                let first =
                    <[u8; 16]>::try_from(n_id[0].as_slice()).map_or(SwapId([0; 16]), SwapId);
                return Err(DbError::Conflict(first));
            }
        }
        sqlx::query(
            "INSERT INTO swap_events (swap_id, seq, event)
             SELECT * FROM UNNEST($1::bytea[], $2::int8[], $3::jsonb[])",
        )
        .bind(&ev_swap)
        .bind(&ev_seq)
        .bind(&ev_json)
        .execute(&mut *tx)
        .await?;
        let updated = sqlx::query(
            "UPDATE swaps s SET state = u.state, terminal = u.terminal, version = u.version,
                updated_at = now()
             FROM UNNEST($1::bytea[], $2::text[], $3::bool[], $4::int8[], $5::int8[])
                AS u(swap_id, state, terminal, version, base)
             WHERE s.swap_id = u.swap_id AND s.version = u.base",
        )
        .bind(&u_id)
        .bind(&u_state)
        .bind(&u_terminal)
        .bind(&u_version)
        .bind(&u_base)
        .execute(&mut *tx)
        .await?;
        if usize::try_from(updated.rows_affected()).ok() != Some(u_id.len()) {
            return Err(DbError::Corrupt(
                "a locked swap changed under the batch".into(),
            ));
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// Chain watcher cursors, fenced by the wallet lease.
pub mod cursors {
    use super::*;

    /// The stored cursor of `chain`, as JSON.
    pub async fn load(pool: &PgPool, chain: &str) -> Result<Option<serde_json::Value>, DbError> {
        let row = sqlx::query("SELECT cursor FROM chain_cursors WHERE chain = $1")
            .bind(chain)
            .fetch_optional(pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Saves the cursor of `chain` if the lease `lease` is still held with `token`; `false`
    /// (nothing written) when it is not.
    pub async fn save(
        pool: &PgPool,
        chain: &str,
        cursor: &serde_json::Value,
        lease: &str,
        token: i64,
    ) -> Result<bool, DbError> {
        let n = sqlx::query(
            "INSERT INTO chain_cursors (chain, cursor, lease, token)
             SELECT $1, $2, $3, $4 WHERE EXISTS (
                 SELECT 1 FROM leases WHERE name = $3 AND token = $4 AND expires_at > now())
             ON CONFLICT (chain) DO UPDATE
                 SET cursor = EXCLUDED.cursor, lease = EXCLUDED.lease, token = EXCLUDED.token,
                     updated_at = now()",
        )
        .bind(chain)
        .bind(cursor)
        .bind(lease)
        .bind(token)
        .execute(pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

/// The Ethereum sender's outbox on Postgres.
#[derive(Debug, Clone)]
pub struct PgTxStore {
    pool: PgPool,
}

impl PgTxStore {
    /// Over `pool`.
    pub fn new(pool: PgPool) -> PgTxStore {
        PgTxStore { pool }
    }

    /// Every entry of `from`, final ones included, by nonce (for tests and the admin view).
    pub async fn all(&self, from: Address) -> Result<Vec<OutboxEntry>, DbError> {
        let rows =
            sqlx::query("SELECT entry FROM eth_outbox WHERE from_address = $1 ORDER BY nonce")
                .bind(from.as_slice())
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_value(r.get::<serde_json::Value, _>(0))
                    .map_err(|e| DbError::Corrupt(e.to_string()))
            })
            .collect()
    }
}

impl TxStore for PgTxStore {
    async fn load(&self, from: Address) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT entry FROM eth_outbox WHERE from_address = $1 AND NOT final ORDER BY nonce",
        )
        .bind(from.as_slice())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_value(r.get::<serde_json::Value, _>(0)).map_err(StoreError::new)
            })
            .collect()
    }

    async fn save(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let nonce = i64::try_from(entry.nonce).map_err(StoreError::new)?;
        let json = serde_json::to_value(entry).map_err(StoreError::new)?;
        sqlx::query(
            "INSERT INTO eth_outbox (from_address, nonce, key, entry, final) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (from_address, nonce) DO UPDATE
             SET entry = EXCLUDED.entry, final = EXCLUDED.final, updated_at = now()
             WHERE eth_outbox.key = EXCLUDED.key",
        )
        .bind(entry.from.as_slice())
        .bind(nonce)
        .bind(&entry.key)
        .bind(json)
        .bind(entry.state.is_final())
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;
        Ok(())
    }
}

/// One row of the Bitcoin outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtcOutboxRow {
    /// `lock:<swap>`, `claim:<swap>:<outpoint>`, `refund:<swap>:<outpoint>`.
    pub key: String,
    /// The swap.
    pub swap_id: SwapId,
    /// `lock`, `claim` or `refund`.
    pub kind: String,
    /// The HTLC outpoint spent, for claims and refunds.
    pub spends: Option<String>,
    /// The current signed transaction.
    pub raw: Vec<u8>,
    /// Its txid (display order).
    pub txid: String,
    /// Its fee.
    pub fee_sat: i64,
    /// Its fee rate, sat/kwu.
    pub fee_rate_sat_kwu: i64,
    /// The escalation it was signed for.
    pub escalation: String,
    /// Every earlier version's raw hex; any may still be mined.
    pub versions: Vec<String>,
    /// `pending`, `mined`, `final`.
    pub state: String,
}

/// The Bitcoin outbox.
pub mod btc_outbox {
    use super::*;

    fn row(r: sqlx::postgres::PgRow) -> Result<BtcOutboxRow, DbError> {
        let id: Vec<u8> = r.get("swap_id");
        Ok(BtcOutboxRow {
            key: r.get("key"),
            swap_id: SwapId(
                <[u8; 16]>::try_from(id).map_err(|_| DbError::Corrupt("swap_id".into()))?,
            ),
            kind: r.get("kind"),
            spends: r.get("spends"),
            raw: r.get("raw"),
            txid: r.get("txid"),
            fee_sat: r.get("fee_sat"),
            fee_rate_sat_kwu: r.get("fee_rate_sat_kwu"),
            escalation: r.get("escalation"),
            versions: serde_json::from_value(r.get::<serde_json::Value, _>("versions"))
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            state: r.get("state"),
        })
    }

    const COLUMNS: &str = "key, swap_id, kind, spends, raw, txid, fee_sat, fee_rate_sat_kwu, \
                           escalation, versions, state";

    /// The row for `key`, if any.
    pub async fn get(pool: &PgPool, key: &str) -> Result<Option<BtcOutboxRow>, DbError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM btc_outbox WHERE key = $1"))
            .bind(key)
            .fetch_optional(pool)
            .await?
            .map(row)
            .transpose()
    }

    /// Every row that is not final.
    pub async fn open(pool: &PgPool) -> Result<Vec<BtcOutboxRow>, DbError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM btc_outbox WHERE state <> 'final' ORDER BY created_at"
        ))
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(row)
        .collect()
    }

    /// Every row of a swap.
    pub async fn of_swap(pool: &PgPool, id: SwapId) -> Result<Vec<BtcOutboxRow>, DbError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM btc_outbox WHERE swap_id = $1 ORDER BY created_at"
        ))
        .bind(&id.0[..])
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(row)
        .collect()
    }

    /// Inserts the first version. Returns `false` (and writes nothing) if the key exists:
    /// one key is signed once; later versions go through [`replace`].
    pub async fn insert(pool: &PgPool, r: &BtcOutboxRow) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO btc_outbox (key, swap_id, kind, spends, raw, txid, fee_sat, fee_rate_sat_kwu, escalation)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&r.key)
        .bind(&r.swap_id.0[..])
        .bind(&r.kind)
        .bind(&r.spends)
        .bind(&r.raw)
        .bind(&r.txid)
        .bind(r.fee_sat)
        .bind(r.fee_rate_sat_kwu)
        .bind(&r.escalation)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the current version with `next` (an RBF bump), keeping the old one in
    /// `versions`, only if the row still holds `prev_txid` (a concurrent bump wins; this one
    /// writes nothing).
    pub async fn replace(
        pool: &PgPool,
        prev_txid: &str,
        next: &BtcOutboxRow,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE btc_outbox SET versions = versions || to_jsonb(encode(raw, 'hex')),
                 raw = $3, txid = $4, fee_sat = $5, fee_rate_sat_kwu = $6, escalation = $7,
                 state = 'pending', updated_at = now()
             WHERE key = $1 AND txid = $2",
        )
        .bind(&next.key)
        .bind(prev_txid)
        .bind(&next.raw)
        .bind(&next.txid)
        .bind(next.fee_sat)
        .bind(next.fee_rate_sat_kwu)
        .bind(&next.escalation)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks every row of a terminal swap final: its spends are settled (the core decided so),
    /// so nothing is re-broadcast for it any more. Returns how many rows changed.
    pub async fn finalize_terminal(pool: &PgPool) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE btc_outbox SET state = 'final', updated_at = now()
             WHERE state <> 'final' AND swap_id IN (SELECT swap_id FROM swaps WHERE terminal)",
        )
        .execute(pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Records where the row stands on chain.
    pub async fn set_state(pool: &PgPool, key: &str, state: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE btc_outbox SET state = $2, updated_at = now() WHERE key = $1")
            .bind(key)
            .bind(state)
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// The signature log behind the per-hour caps.
pub mod signatures {
    use super::*;

    /// Records one signature the policy let through.
    pub async fn record(
        pool: &PgPool,
        swap: SwapId,
        action: &str,
        asset: &str,
        amount: u128,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO signatures (swap_id, action, asset, amount) VALUES ($1, $2, $3, $4::numeric)",
        )
        .bind(&swap.0[..])
        .bind(action)
        .bind(asset)
        .bind(amount.to_string())
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Locks signed in the last hour, and their total for `asset`.
    pub async fn last_hour(pool: &PgPool, asset: &str) -> Result<(u32, u128), DbError> {
        let r = sqlx::query(
            "SELECT count(*) FILTER (WHERE action = 'lock'),
                    COALESCE(sum(amount) FILTER (WHERE action = 'lock' AND asset = $1), 0)::text
             FROM signatures WHERE signed_at > now() - interval '1 hour'",
        )
        .bind(asset)
        .fetch_one(pool)
        .await?;
        let count: i64 = r.get(0);
        let total: String = r.get(1);
        Ok((
            u32::try_from(count).unwrap_or(u32::MAX),
            total.parse().map_err(|_| DbError::Corrupt("sum".into()))?,
        ))
    }
}

/// The wallet lease with a fencing token.
pub mod lease {
    use super::*;

    /// Takes or renews the lease `name` for `holder` for `ttl`. Returns the fencing token when
    /// `holder` holds it afterwards; a new holder gets a larger token than any before.
    pub async fn acquire(
        pool: &PgPool,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, DbError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, token, expires_at)
             VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3::double precision / 1000))
             ON CONFLICT (name) DO UPDATE SET
                 token = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.token ELSE leases.token + 1 END,
                 holder = EXCLUDED.holder,
                 expires_at = EXCLUDED.expires_at
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp()
             RETURNING token",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl_ms)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Whether `token` is still the current holder's token and unexpired: checked right before
    /// every signature, so a paused old leader cannot sign after a standby took over.
    pub async fn still_held(pool: &PgPool, name: &str, token: i64) -> Result<bool, DbError> {
        let r = sqlx::query(
            "SELECT 1 FROM leases WHERE name = $1 AND token = $2 AND expires_at > clock_timestamp()",
        )
        .bind(name)
        .bind(token)
        .fetch_optional(pool)
        .await?;
        Ok(r.is_some())
    }

    /// Gives the lease up (on shutdown) so a standby need not wait for it to expire.
    pub async fn release(pool: &PgPool, name: &str, token: i64) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE leases SET expires_at = clock_timestamp() - interval '1 second'
             WHERE name = $1 AND token = $2",
        )
        .bind(name)
        .bind(token)
        .execute(pool)
        .await?;
        Ok(())
    }
}

/// Whether the Ethereum outbox has an entry for `key` (final ones included): a key is signed
/// once for good, even after its entry left the sender's in-memory set.
pub async fn eth_key_exists(pool: &PgPool, key: &str) -> Result<bool, DbError> {
    let r = sqlx::query("SELECT 1 FROM eth_outbox WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await?;
    Ok(r.is_some())
}
