-- The dashboard's strip of recent checks reads (pair_id, at, outcome) for 50 pairs at a time.
-- A covering index answers it from index pages alone, without visiting the checks table (whose
-- rows, with their reasons, are scattered across the file as checks arrive). It also serves
-- every other per-pair, time-ordered read, so it replaces checks_pair_at.

-- +goose Up
CREATE INDEX checks_strip ON checks(pair_id, at, outcome);
DROP INDEX checks_pair_at;

-- +goose Down
CREATE INDEX checks_pair_at ON checks(pair_id, at);
DROP INDEX checks_strip;
