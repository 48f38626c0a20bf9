-- Mutes: a key's alerts held back, until a time or until someone unmutes it, with a note. A
-- muted key is still checked and shown; it alerts nobody. A mute ends when its until passes
-- (ended_at = until, set by the notifier's sweep, which records it in the audit trail once)
-- or when someone unmutes it (ended_at, ended_by). At most one mute of a key is open at a time.
-- Times are Unix milliseconds (UTC); created_by and ended_by name the actor as the audit trail
-- does.
--
-- Tags do not exist yet. A tag mute will add a nullable tag_id column
-- (ALTER TABLE mutes ADD COLUMN tag_id INTEGER REFERENCES tags(id) ON DELETE CASCADE, which
-- SQLite allows without rebuilding the table); that is why pair_id may be NULL here, and why
-- every query names the pair_id it wants.

-- +goose Up
CREATE TABLE mutes (
    id         INTEGER PRIMARY KEY,
    pair_id    INTEGER REFERENCES pairs(id) ON DELETE CASCADE,
    until      INTEGER,                    -- NULL: until someone unmutes
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL DEFAULT '',
    ended_at   INTEGER,
    ended_by   TEXT    NOT NULL DEFAULT '' -- '' when the until passed
);
CREATE UNIQUE INDEX mutes_open_pair ON mutes(pair_id) WHERE ended_at IS NULL AND pair_id IS NOT NULL;
CREATE INDEX mutes_created ON mutes(created_at);

-- +goose Down
DROP TABLE mutes;
