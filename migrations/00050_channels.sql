-- Channels: alert destinations reached through the shoutrrr library (Discord, Teams,
-- Telegram, ntfy, Gotify, Matrix, Mattermost, …), any number of them, each named. kind is the
-- URL's service (its scheme without "+https" and the like), shown on the page; url_sealed is
-- the whole URL sealed under the master key (secret.ChannelAD(id)): it carries the service's
-- tokens, so it is never stored or shown in clear. Deliveries name a channel "channel:<id>".
-- Times are Unix milliseconds (UTC).
--
-- The delivery queue learns those names: SQLite cannot change a CHECK constraint, so
-- deliveries is rebuilt as in 00045 (its AUTOINCREMENT counter carried over).

-- +goose Up
CREATE TABLE channels (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    kind       TEXT    NOT NULL,
    url_sealed BLOB    NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    channel         TEXT    NOT NULL CHECK (channel IN ('webhook', 'slack', 'email', 'pagerduty', 'opsgenie') OR channel GLOB 'channel:[1-9]*'),
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

-- +goose Down
CREATE TABLE deliveries_old (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    event           TEXT    NOT NULL,
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
INSERT INTO deliveries_old (id, created_at, event, channel, payload, status, attempts, next_attempt_at,
    last_attempt_at, last_error, sent_at, group_until, grouped_with)
SELECT id, created_at, event, channel, payload, status, attempts, next_attempt_at,
    last_attempt_at, last_error, sent_at, group_until, grouped_with FROM deliveries WHERE channel NOT GLOB 'channel:*';
DELETE FROM sqlite_sequence WHERE name = 'deliveries_old';
INSERT INTO sqlite_sequence (name, seq) SELECT 'deliveries_old', seq FROM sqlite_sequence WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_old RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_created ON deliveries(created_at);
DELETE FROM incident_states WHERE channel GLOB 'channel:*';
DROP TABLE channels;
