-- The resolver's own tables, in its own schema (the relayer shares the database, not the
-- tables). Every signed transaction is written here before it is broadcast.

-- One row per swap this resolver took: a projection of its event log.
CREATE TABLE swaps (
    swap_id     BYTEA PRIMARY KEY CHECK (length(swap_id) = 16),
    state       TEXT NOT NULL,
    terminal    BOOLEAN NOT NULL DEFAULT FALSE,
    -- Optimistic concurrency: an append names the version it read.
    version     BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX swaps_open ON swaps (updated_at) WHERE NOT terminal;

-- The resolver's copy of each swap's events, append-only.
CREATE TABLE swap_events (
    swap_id     BYTEA NOT NULL REFERENCES swaps (swap_id),
    seq         BIGINT NOT NULL,
    event       JSONB NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (swap_id, seq)
);

CREATE FUNCTION swap_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'swap_events is append-only';
END $$;
CREATE TRIGGER swap_events_no_update BEFORE UPDATE OR DELETE ON swap_events
    FOR EACH ROW EXECUTE FUNCTION swap_events_append_only();

-- The Ethereum sender's outbox: one row per (address, nonce), the signed envelope included.
CREATE TABLE eth_outbox (
    from_address BYTEA NOT NULL CHECK (length(from_address) = 20),
    nonce        BIGINT NOT NULL,
    key          TEXT NOT NULL,
    entry        JSONB NOT NULL,
    final        BOOLEAN NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (from_address, nonce)
);
-- One idempotency key is one nonce for good.
CREATE UNIQUE INDEX eth_outbox_key ON eth_outbox (from_address, key);
CREATE INDEX eth_outbox_open ON eth_outbox (from_address) WHERE NOT final;

-- The Bitcoin outbox: one row per action key (lock, claim, refund of one swap). `raw` is the
-- current version; `versions` keeps every earlier one, since any of them may be mined.
CREATE TABLE btc_outbox (
    key         TEXT PRIMARY KEY,
    swap_id     BYTEA NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('lock', 'claim', 'refund')),
    -- The HTLC outpoint it spends ("txid:vout"), or NULL for a funding.
    spends      TEXT,
    raw         BYTEA NOT NULL,
    txid        TEXT NOT NULL,
    fee_sat     BIGINT NOT NULL,
    fee_rate_sat_kwu BIGINT NOT NULL,
    -- The escalation checkpoint the current version was signed for.
    escalation  TEXT NOT NULL,
    versions    JSONB NOT NULL DEFAULT '[]',
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'mined', 'final')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX btc_outbox_open ON btc_outbox (updated_at) WHERE state <> 'final';

-- Every signature the signer policy let through, for the per-hour caps.
CREATE TABLE signatures (
    id          BIGSERIAL PRIMARY KEY,
    swap_id     BYTEA NOT NULL,
    action      TEXT NOT NULL,
    asset       TEXT NOT NULL,
    amount      NUMERIC(78, 0) NOT NULL,
    fee         NUMERIC(78, 0) NOT NULL DEFAULT 0,
    signed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX signatures_recent ON signatures (signed_at);

-- One active resolver per wallet. `token` only grows: it fences a stale holder.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
