-- Bounded retries of the rows the relayer carries out itself (the maker's pre-signed claim).
-- `attempts` counts the node's refusals of the row on its current `rung` of the maker's ladder;
-- the row is not tried again before `next_attempt_at` (backoff, database clock). After too many
-- refusals the dispatcher moves the row up a rung, and past the top it gives up: `parked_at`
-- (unix seconds) is set and the swap is listed by ListStuck until an operator's Retry, which
-- resets `attempts`, `next_attempt_at` and `parked_at`. `last_error` is the node's last answer;
-- `outcome` says how a delivered row ended (accepted, already known, no longer due).
ALTER TABLE outbox
    ADD COLUMN attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    ADD COLUMN rung            INTEGER CHECK (rung >= 0),
    ADD COLUMN last_error      TEXT,
    ADD COLUMN parked_at       BIGINT,
    ADD COLUMN outcome         TEXT;

-- The dispatcher's scan: rows still to try. Parked rows leave it until an operator's Retry.
CREATE INDEX outbox_due ON outbox (target, id) WHERE delivered_at IS NULL AND parked_at IS NULL;
-- ListStuck: the parked rows (few).
CREATE INDEX outbox_parked ON outbox (parked_at) WHERE delivered_at IS NULL AND parked_at IS NOT NULL;
