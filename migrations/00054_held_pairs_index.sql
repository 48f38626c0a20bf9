-- Held candidates: the checker's start reads the pairs whose changed answer was confirmed yet
-- not applied (an upstream-wide suspicion a restart interrupted). Without an index that read
-- scanned the whole table, sealed keys included, before the first check: 50-100 ms at
-- 100,000 keys. Few pairs are ever held, so the partial index is small, and a check whose
-- pair has no candidate before or after leaves it untouched.

-- +goose Up
CREATE INDEX pairs_held ON pairs(candidate_count) WHERE candidate <> '';

-- +goose Down
DROP INDEX pairs_held;
