-- When a pair's key was last replaced. A new key starts over: the pair page's checks, verdict
-- changes and latency, and the dashboard's strip, show only what was learnt about it, not
-- the answers Stax.ai gave about the key it replaced. NULL: never replaced, history from the start.

-- +goose Up
ALTER TABLE pairs ADD COLUMN key_replaced_at INTEGER;

-- +goose Down
ALTER TABLE pairs DROP COLUMN key_replaced_at;
