-- What the checker needs to tell a flapping key and a failing check apart from a steady one.

-- +goose Up
-- flaps: unconfirmed changes that later answers contradicted, since the key last held steady.
-- steady: answers in a row that agreed with the verdict with no change pending; enough of them
-- clear flaps. failing_since: the first undecided check after the last decided one (NULL while
-- checks decide).
ALTER TABLE pairs ADD COLUMN flaps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN steady INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pairs ADD COLUMN failing_since INTEGER;

-- +goose Down
ALTER TABLE pairs DROP COLUMN failing_since;
ALTER TABLE pairs DROP COLUMN steady;
ALTER TABLE pairs DROP COLUMN flaps;
