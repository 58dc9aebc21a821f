-- A chain adapter's own progress (the Ethereum watcher's reorg checkpoints and unfinal events),
-- kept next to the relayer's cursor and written only by the holder of the chain's lease.
ALTER TABLE chain_cursors ADD COLUMN adapter_cursor JSONB;
