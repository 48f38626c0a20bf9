-- Incidents: what the checker reports about Stax.ai as a whole, kept so the activity feed can
-- show them beside the keys' verdict changes and the alerts: an outage (Stax.ai down or
-- failing), a suspected upstream-wide change (many keys changing the same way at once, held
-- for a longer confirmation) and a long pause for Stax.ai's rate limit. One row per incident;
-- ended_at is set when it ends. Times are Unix milliseconds (UTC).

-- +goose Up
CREATE TABLE incidents (
    id        INTEGER PRIMARY KEY,
    kind      TEXT    NOT NULL CHECK (kind IN ('outage', 'suspicion', 'pause')),
    began_at  INTEGER NOT NULL,
    ended_at  INTEGER,
    reason    TEXT    NOT NULL DEFAULT '', -- Stax.ai's last reason, scrubbed like every reason
    detail    TEXT    NOT NULL DEFAULT ''  -- e.g. "12 keys valid → revoked", "3 confirmed, 9 cleared"
);
CREATE INDEX incidents_began ON incidents(began_at);
-- The feed pages every key's verdict changes by time.
CREATE INDEX events_at ON events(at);

-- +goose Down
DROP INDEX events_at;
DROP TABLE incidents;
