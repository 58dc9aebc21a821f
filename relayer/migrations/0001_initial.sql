-- The relayer's durable state. Postgres is the truth; Redis only caches what is here.

-- One row per swap: the projection of its event log, updated in the same transaction as each
-- append. `version` is the number of events in the log (optimistic concurrency: an update names
-- the version it read).
CREATE TABLE swaps (
    id                BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    hashlock          BYTEA NOT NULL CHECK (octet_length(hashlock) = 32),
    idempotency_key   TEXT NOT NULL,
    request_digest    BYTEA NOT NULL,
    direction         TEXT NOT NULL,
    state             TEXT NOT NULL,
    state_reason      TEXT NOT NULL DEFAULT '',
    terminal          BOOLEAN NOT NULL DEFAULT FALSE,
    version           BIGINT NOT NULL CHECK (version >= 1),
    maker_eth_address BYTEA NOT NULL,
    maker_btc_pubkey  BYTEA NOT NULL,
    resolver          TEXT,
    -- Unix seconds of the next moment the swap needs attention without a chain event: the quote
    -- expiry, then the nearer timeout. NULL when terminal.
    next_deadline     BIGINT,
    -- The record as clients see it (prost-encoded crosslock.public.v1.Swap), so reads never fold
    -- the log.
    view              BYTEA NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT swaps_hashlock_unique UNIQUE (hashlock),
    CONSTRAINT swaps_idempotency_key_unique UNIQUE (idempotency_key)
);

-- Hot paths: the deadline sweep and ListStuck touch only non-terminal swaps.
CREATE INDEX swaps_open_by_deadline ON swaps (next_deadline) WHERE NOT terminal;
CREATE INDEX swaps_needs_operator ON swaps (updated_at) WHERE state = 'NeedsOperator';
CREATE INDEX swaps_unmatched ON swaps (created_at) WHERE state = 'Created';
CREATE INDEX swaps_by_resolver_open ON swaps (resolver) WHERE NOT terminal AND resolver IS NOT NULL;
CREATE INDEX swaps_by_maker_eth ON swaps (maker_eth_address, created_at, id);
CREATE INDEX swaps_by_maker_btc ON swaps (maker_btc_pubkey, created_at, id);

-- The append-only log. `payload` is a versioned stored event (`{"v":1,...}`), independent of the
-- in-memory types of crosslock-core.
CREATE TABLE swap_events (
    swap_id     BYTEA NOT NULL REFERENCES swaps (id),
    seq         BIGINT NOT NULL CHECK (seq >= 1),
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    payload     JSONB NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (swap_id, seq)
);

CREATE FUNCTION swap_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'swap_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER swap_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON swap_events
    FOR EACH ROW EXECUTE FUNCTION swap_events_append_only();

CREATE TRIGGER swap_events_no_truncate
    BEFORE TRUNCATE ON swap_events
    FOR EACH STATEMENT EXECUTE FUNCTION swap_events_append_only();

-- Every lock seen on either chain, so a watcher maps an outpoint or escrow id to its swap with
-- one index lookup. A lock belongs to exactly one swap.
CREATE TABLE swap_locks (
    chain    TEXT NOT NULL,
    lock_id  TEXT NOT NULL,
    swap_id  BYTEA NOT NULL REFERENCES swaps (id),
    side     TEXT NOT NULL,
    PRIMARY KEY (chain, lock_id)
);
CREATE INDEX swap_locks_by_swap ON swap_locks (swap_id);

-- Secrets, written in the same transaction as the event that makes them known, before anyone
-- is told.
CREATE TABLE secrets (
    swap_id     BYTEA PRIMARY KEY REFERENCES swaps (id),
    secret      BYTEA NOT NULL CHECK (octet_length(secret) = 32),
    source      TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);

-- Actions due, written with the event that made them due. Executors mark them done.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    swap_id      BYTEA NOT NULL REFERENCES swaps (id),
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    target       TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (target, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_by_swap ON outbox (swap_id, id);

-- Quotes handed out by GetQuote; an order cites one.
CREATE TABLE quotes (
    id          BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    body        JSONB NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX quotes_by_expiry ON quotes (expires_at);

-- Transactions resolvers reported, idempotent on (swap, chain, tx).
CREATE TABLE reported_txs (
    swap_id     BYTEA NOT NULL REFERENCES swaps (id),
    chain       TEXT NOT NULL,
    tx_id       BYTEA NOT NULL CHECK (octet_length(tx_id) = 32),
    kind        TEXT NOT NULL,
    raw_tx      BYTEA NOT NULL,
    resolver    TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (swap_id, chain, tx_id)
);

-- Per chain: the watcher's cursor and the chain head it last saw.
CREATE TABLE chain_cursors (
    chain        TEXT PRIMARY KEY,
    height       BIGINT NOT NULL,
    block_hash   BYTEA NOT NULL,
    head_time    BIGINT NOT NULL,
    fencing      BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Leases with fencing tokens: one active watcher per chain across replicas. A write by a
-- watcher names its token; a stale token (a newer holder exists) is refused.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    fencing     BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Service-wide switches (Pause/Resume) with their audit trail.
CREATE TABLE service_flags (
    name        TEXT PRIMARY KEY,
    value       BOOLEAN NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE admin_audit (
    id          BIGSERIAL PRIMARY KEY,
    actor       TEXT NOT NULL,
    method      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
