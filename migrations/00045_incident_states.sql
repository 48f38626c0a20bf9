-- On-call channels (PagerDuty, Opsgenie): the delivery queue learns their names, and the last
-- incident action queued for each channel and dedup key (one per key, one for an outage) is
-- kept, so that a repeat of the same state (revoked, then denied; a bad verdict confirmed
-- again after an undecided spell) does not page twice.
--
-- SQLite cannot change a CHECK constraint, so deliveries is rebuilt (the twelve steps of
-- https://sqlite.org/lang_altertable.html#otheralter; no table references it, so foreign keys
-- need not be turned off). Its AUTOINCREMENT counter is carried over, so that no delivery id,
-- which receivers see, is handed out twice.

-- +goose Up
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    event           TEXT    NOT NULL,           -- verdict.changed, outage.started, ...
    channel         TEXT    NOT NULL CHECK (channel IN ('webhook', 'slack', 'email', 'pagerduty', 'opsgenie')),
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    sent_at         INTEGER,
    group_until     INTEGER,
    grouped_with    INTEGER
);
INSERT INTO deliveries_new (id, created_at, event, channel, payload, status, attempts, next_attempt_at,
    last_attempt_at, last_error, sent_at, group_until, grouped_with)
SELECT id, created_at, event, channel, payload, status, attempts, next_attempt_at,
    last_attempt_at, last_error, sent_at, group_until, grouped_with FROM deliveries;
DELETE FROM sqlite_sequence WHERE name = 'deliveries_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'deliveries_new', seq FROM sqlite_sequence WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_created ON deliveries(created_at);

CREATE TABLE incident_states (
    channel    TEXT    NOT NULL,
    dedup_key  TEXT    NOT NULL,
    action     TEXT    NOT NULL CHECK (action IN ('trigger', 'resolve')),
    updated_at INTEGER NOT NULL, -- Unix milliseconds
    PRIMARY KEY (channel, dedup_key)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE incident_states;
DELETE FROM deliveries WHERE channel IN ('pagerduty', 'opsgenie');
CREATE TABLE deliveries_old (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    channel         TEXT    NOT NULL CHECK (channel IN ('webhook', 'slack', 'email')),
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    sent_at         INTEGER,
    group_until     INTEGER,
    grouped_with    INTEGER
);
INSERT INTO deliveries_old SELECT id, created_at, event, channel, payload, status, attempts, next_attempt_at,
    last_attempt_at, last_error, sent_at, group_until, grouped_with FROM deliveries;
DELETE FROM sqlite_sequence WHERE name = 'deliveries_old';
INSERT INTO sqlite_sequence (name, seq) SELECT 'deliveries_old', seq FROM sqlite_sequence WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_old RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_created ON deliveries(created_at);
