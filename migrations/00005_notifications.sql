-- Alerts: every alert is queued here, one row per channel, before anything is sent, so that an
-- alert survives a restart and a failing receiver is retried with backoff. The payload is the
-- alert as JSON and never holds a key: only a pair's id, label and email, verdicts, a reason
-- and times. Times are Unix milliseconds (UTC).

-- +goose Up
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    event           TEXT    NOT NULL,           -- verdict.changed, outage.started, ...
    channel         TEXT    NOT NULL CHECK (channel IN ('webhook', 'slack', 'email')),
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    sent_at         INTEGER
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_created ON deliveries(created_at);

-- The reminders already queued: per pair and kind, the period last reminded of, counted in
-- whole reminder periods since the anchor (when the bad verdict began, or when the key was
-- set). A reminder thus goes out once per period however often the pair is checked.
CREATE TABLE reminders (
    pair_id   INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL CHECK (kind IN ('verdict', 'rotation')),
    anchor_at INTEGER NOT NULL,
    period    INTEGER NOT NULL,
    queued_at INTEGER NOT NULL,
    PRIMARY KEY (pair_id, kind)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE reminders;
DROP TABLE deliveries;
