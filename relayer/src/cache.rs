//! Redis: hot swap records, idempotency keys, rate-limit counters, and pub/sub of swap updates so
//! any replica can stream any swap.
//!
//! Owns every Redis key and channel, all under one prefix. Redis holds nothing that is not also
//! in Postgres (invariant 4): every read here has a Postgres fallback in the caller, every write
//! happens after the Postgres commit, and every failure is logged and absorbed (the service
//! degrades, it does not stop). This module must never be the only place a fact is kept.

use std::time::Duration;

use crosslock_proto::public::v1 as pb;
use prost::Message;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use thiserror::Error;
use tokio::sync::broadcast;
use tracing::{debug, warn};

/// How long a cached record lives; a miss falls back to Postgres. Short, so that a record whose
/// cache update was lost (Redis blipped after the commit) is stale for seconds, not minutes.
const RECORD_TTL_SECS: u64 = 30;
/// How long an idempotency key is remembered in Redis (Postgres keeps it forever).
const IDEMPOTENCY_TTL_SECS: u64 = 86_400;
/// Capacity of the in-process fan-out of updates; a slow watcher that falls behind re-reads.
const FANOUT_CAPACITY: usize = 4_096;

/// A Redis failure. Callers log it and carry on from Postgres.
#[derive(Debug, Error)]
pub enum CacheError {
    /// Connection or command failure.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A swap update as published: the record after the change and a short description.
pub type Update = pb::SwapUpdate;

/// Which process published an update: field 1000 appended to the `SwapUpdate` bytes on the
/// pub/sub channel (reserved for it in swap.proto). Any `SwapUpdate` decoder skips it as an
/// unknown field, so replicas of every version read each other's messages; a replica drops the
/// ones that carry its own mark, which it fanned out locally when it published them.
#[derive(Clone, PartialEq, prost::Message)]
struct Origin {
    #[prost(bytes = "vec", tag = "1000")]
    origin: Vec<u8>,
}

/// A mark for this process's publications: random, or (without randomness) time and pid.
fn new_origin() -> [u8; 16] {
    let mut b = [0_u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b.copy_from_slice(&(nanos ^ (u128::from(std::process::id()) << 96)).to_le_bytes());
    }
    b
}

/// An update as published on the channel: the update, then this process's [`Origin`].
fn envelope(update: &Update, origin: &[u8; 16]) -> Vec<u8> {
    let mut bytes = update.encode_to_vec();
    bytes.extend(
        Origin {
            origin: origin.to_vec(),
        }
        .encode_to_vec(),
    );
    bytes
}

/// The update in a channel message, unless `origin` (this process) published it.
fn foreign(payload: &[u8], origin: &[u8; 16]) -> Option<Update> {
    if Origin::decode(payload).is_ok_and(|o| o.origin == origin) {
        return None;
    }
    Update::decode(payload).ok()
}

/// The Redis side of the relayer.
#[derive(Clone)]
pub struct Cache {
    conn: Option<ConnectionManager>,
    client: Option<redis::Client>,
    prefix: String,
    fanout: broadcast::Sender<Update>,
    origin: [u8; 16],
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Cache {
    /// Connect. A Redis that is down at start is not fatal: the connection manager keeps
    /// retrying, and every operation falls back meanwhile.
    pub async fn connect(url: &str, prefix: &str) -> Result<Cache, CacheError> {
        let client = redis::Client::open(url)?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = match ConnectionManager::new_with_config(client.clone(), cfg).await {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(error = %e, "redis unavailable at start; running degraded from Postgres");
                None
            }
        };
        let (fanout, _) = broadcast::channel(FANOUT_CAPACITY);
        Ok(Cache {
            conn,
            client: Some(client),
            prefix: prefix.to_owned(),
            fanout,
            origin: new_origin(),
        })
    }

    /// A cache that does nothing (no Redis configured).
    pub fn disabled() -> Cache {
        let (fanout, _) = broadcast::channel(FANOUT_CAPACITY);
        Cache {
            conn: None,
            client: None,
            prefix: String::new(),
            fanout,
            origin: new_origin(),
        }
    }

    fn key(&self, parts: &str) -> String {
        format!("{}:{parts}", self.prefix)
    }

    /// The pub/sub channel of swap updates (one channel; messages carry the swap id).
    pub fn channel(&self) -> String {
        self.key("swap-updates")
    }

    /// Local subscribers: every update this replica publishes or receives from Redis.
    pub fn subscribe_local(&self) -> broadcast::Receiver<Update> {
        self.fanout.subscribe()
    }

    /// The cached record of a swap.
    pub async fn get_swap(&self, swap_id: &str) -> Option<pb::Swap> {
        let mut c = self.conn.clone()?;
        let r: Result<Option<Vec<u8>>, _> = c.get(self.key(&format!("swap:{swap_id}"))).await;
        match r {
            Ok(Some(b)) => pb::Swap::decode(b.as_slice()).ok(),
            Ok(None) => None,
            Err(e) => {
                debug!(error = %e, "redis get failed; reading Postgres");
                None
            }
        }
    }

    /// Cache a record unless a newer version is cached (a compare-and-set in one script).
    pub async fn put_swap(&self, swap: &pb::Swap) {
        let Some(mut c) = self.conn.clone() else {
            return;
        };
        let script = redis::Script::new(
            r"local cur = redis.call('HGET', KEYS[1], 'v')
              if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
              redis.call('HSET', KEYS[1], 'v', ARGV[1])
              redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
              redis.call('EXPIRE', KEYS[1], ARGV[3])
              return 1",
        );
        let r: Result<i64, _> = script
            .key(self.key(&format!("swapv:{}", swap.swap_id)))
            .key(self.key(&format!("swap:{}", swap.swap_id)))
            .arg(swap.version)
            .arg(swap.encode_to_vec())
            .arg(RECORD_TTL_SECS)
            .invoke_async(&mut c)
            .await;
        if let Err(e) = r {
            debug!(error = %e, "redis cache write failed");
        }
    }

    /// Publish an update to every replica (and to this one's local subscribers at once).
    pub async fn publish(&self, update: &Update) {
        // Local first: a watcher on this replica does not depend on Redis.
        let _ = self.fanout.send(update.clone());
        let Some(mut c) = self.conn.clone() else {
            return;
        };
        let r: Result<i64, _> = c
            .publish(self.channel(), envelope(update, &self.origin))
            .await;
        if let Err(e) = r {
            warn!(error = %e, "redis publish failed; remote watchers will catch up by polling");
        }
    }

    /// The swap id an idempotency key maps to, if Redis remembers it.
    pub async fn idempotent_swap(&self, key: &str) -> Option<String> {
        let mut c = self.conn.clone()?;
        c.get(self.key(&format!("idem:{key}"))).await.ok().flatten()
    }

    /// Remember an idempotency key (after the Postgres commit).
    pub async fn remember_idempotency(&self, key: &str, swap_id: &str) {
        let Some(mut c) = self.conn.clone() else {
            return;
        };
        let r: Result<(), _> = c
            .set_ex(
                self.key(&format!("idem:{key}")),
                swap_id,
                IDEMPOTENCY_TTL_SECS,
            )
            .await;
        if let Err(e) = r {
            debug!(error = %e, "redis idempotency write failed");
        }
    }

    /// Count one call of `client` in the current minute; `true` if within `limit`. Fails open
    /// when Redis is down: rate limiting is protection, not correctness.
    pub async fn allow(&self, client: &str, limit: u64) -> bool {
        let Some(mut c) = self.conn.clone() else {
            return true;
        };
        let minute = crate::store::now_unix() / 60;
        let key = self.key(&format!("rl:{client}:{minute}"));
        let r: Result<(u64, i64), _> = redis::pipe()
            .atomic()
            .incr(&key, 1_u64)
            .expire(&key, 120)
            .query_async(&mut c)
            .await;
        match r {
            Ok((n, _)) => n <= limit,
            Err(e) => {
                debug!(error = %e, "redis rate limit failed open");
                true
            }
        }
    }

    /// Run the subscriber that relays updates published by other replicas to local watchers
    /// (this replica's own come back from Redis too, and are dropped: [`Cache::publish`] fanned
    /// them out already). Reconnects forever; returns when `shutdown` fires.
    pub async fn run_subscriber(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        use tokio_stream::StreamExt;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match client.get_async_pubsub().await {
                Ok(mut ps) => {
                    if let Err(e) = ps.subscribe(self.channel()).await {
                        warn!(error = %e, "redis subscribe failed");
                    } else {
                        let mut stream = ps.on_message();
                        loop {
                            tokio::select! {
                                _ = shutdown.changed() => return,
                                m = stream.next() => match m {
                                    Some(msg) => {
                                        if let Some(u) = foreign(msg.get_payload_bytes(), &self.origin) {
                                            let _ = self.fanout.send(u);
                                        }
                                    }
                                    None => break,
                                },
                            }
                        }
                    }
                }
                Err(e) => debug!(error = %e, "redis pubsub connect failed"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn update() -> Update {
        Update {
            swap: Some(pb::Swap {
                swap_id: "00112233445566778899aabbccddeeff".to_owned(),
                version: 7,
                ..pb::Swap::default()
            }),
            event: "source lock seen".to_owned(),
        }
    }

    #[test]
    fn a_replica_drops_its_own_updates_and_keeps_every_other_one() {
        let (me, other) = (new_origin(), new_origin());
        assert_ne!(me, other);
        let mine = envelope(&update(), &me);
        assert_eq!(foreign(&mine, &me), None);
        assert_eq!(foreign(&mine, &other), Some(update()));
        // A replica that publishes bare updates (no origin) is always someone else.
        assert_eq!(foreign(&update().encode_to_vec(), &me), Some(update()));
        // And a bare decoder reads the enveloped bytes as the update itself.
        assert_eq!(Update::decode(mine.as_slice()).unwrap(), update());
    }
}
