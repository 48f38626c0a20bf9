-- What a pair is expected to be: 'valid' (it should work, the default) or 'revoked' (it was
-- deleted at Stax.ai after a leak or a rotation, and should be dead). The verdict is still
-- Stax.ai's answer; the expectation changes what it means (domain.Key.Standing): a pair
-- expected revoked that Stax.ai still accepts is the worst problem there is, one that Stax.ai
-- refuses is retired. expected_at is when the expectation was last changed (NULL: never), so a
-- key still accepted can be said to be so "since" then. Times are Unix milliseconds (UTC).
--
-- The dashboard's "Problems first" order puts a still-accepted pair before a revoked one and a
-- retired pair among the working ones; its index (pairs_order_status, store keySorts) follows.

-- +goose Up
ALTER TABLE pairs ADD COLUMN expected TEXT NOT NULL DEFAULT 'valid' CHECK (expected IN ('valid', 'revoked'));
ALTER TABLE pairs ADD COLUMN expected_at INTEGER;
DROP INDEX pairs_order_status;
CREATE INDEX pairs_order_status ON pairs(
    (CASE WHEN expected = 'revoked' AND verdict = 'valid' THEN 0
          WHEN expected = 'revoked' THEN (CASE verdict WHEN 'pending' THEN 3 ELSE 4 END)
          ELSE (CASE verdict WHEN 'revoked' THEN 1 WHEN 'denied' THEN 2 WHEN 'pending' THEN 3 ELSE 4 END) END),
    (CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END),
    lower(label));
-- The summary cards count pairs per verdict and expectation off this index alone; it serves a
-- lookup by verdict as the old one did.
DROP INDEX pairs_verdict;
CREATE INDEX pairs_verdict ON pairs(verdict, expected);

-- +goose Down
DROP INDEX pairs_verdict;
CREATE INDEX pairs_verdict ON pairs(verdict);
DROP INDEX pairs_order_status;
CREATE INDEX pairs_order_status ON pairs(
    (CASE verdict WHEN 'revoked' THEN 0 WHEN 'denied' THEN 1 WHEN 'pending' THEN 2 ELSE 3 END),
    (CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END),
    lower(label));
ALTER TABLE pairs DROP COLUMN expected_at;
ALTER TABLE pairs DROP COLUMN expected;
