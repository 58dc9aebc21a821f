-- Where this resolver's escrow watcher stands, per chain: the watcher's JSON cursor (next block,
-- reorg checkpoints, events not final yet). Written only by the holder of the wallet lease,
-- with its fencing token, after the events up to it are in the swaps' logs.
CREATE TABLE chain_cursors (
    chain       TEXT PRIMARY KEY,
    cursor      JSONB NOT NULL,
    lease       TEXT NOT NULL,
    token       BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
