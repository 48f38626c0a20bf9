-- A pair is unique by (key, email), compared case-insensitively. That was enforced by a
-- fingerprint of the two together, so an email-only edit had to open the sealed key just to
-- recompute it. A unique index on the key's fingerprint and the email says the same without
-- the key. Emails are plain ASCII (keys.CheckEmail), so NOCASE matches the old lower-casing.
--
-- SQLite cannot drop a UNIQUE column, so the table is rebuilt (the twelve steps of
-- https://sqlite.org/lang_altertable.html#otheralter). Foreign keys must be off while the old
-- table is dropped, or checks, events and reminders would cascade away with it, and that
-- pragma is ignored inside a transaction: hence NO TRANSACTION and an explicit one. The writer
-- pool has a single connection, so every statement runs on the same one.

-- +goose NO TRANSACTION
-- +goose Up
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE pairs_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    label            TEXT    NOT NULL DEFAULT '',
    email            TEXT    NOT NULL,
    key_sealed       BLOB    NOT NULL,          -- secret.Keyring.Seal(key, secret.KeyAD(id))
    key_hint         TEXT    NOT NULL DEFAULT '', -- last 4 characters, for display
    key_fingerprint  BLOB    NOT NULL,          -- keyed HMAC of the key alone
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    key_changed_at   INTEGER NOT NULL,

    -- The confirmed verdict: pending until the first decided check.
    verdict          TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (verdict IN ('pending', 'valid', 'revoked', 'denied')),
    verdict_at       INTEGER,                   -- when the verdict was last confirmed
    verdict_since    INTEGER,                   -- when the current verdict began
    last_valid_at    INTEGER,

    -- The last check, decided or not.
    last_check_at     INTEGER,
    last_outcome      TEXT CHECK (last_outcome IN ('valid', 'revoked', 'denied', 'error')),
    last_reason       TEXT    NOT NULL DEFAULT '',
    last_http_status  INTEGER NOT NULL DEFAULT 0,
    last_latency_ms   INTEGER NOT NULL DEFAULT 0,

    -- Scheduler state.
    next_check_at     INTEGER NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0, -- undecided checks in a row, for backoff
    candidate         TEXT    NOT NULL DEFAULT '', -- an unconfirmed new verdict
    candidate_count   INTEGER NOT NULL DEFAULT 0,
    flaps             INTEGER NOT NULL DEFAULT 0,
    steady            INTEGER NOT NULL DEFAULT 0,
    failing_since     INTEGER
);
INSERT INTO pairs_new (id, label, email, key_sealed, key_hint, key_fingerprint, created_at,
    updated_at, key_changed_at, verdict, verdict_at, verdict_since, last_valid_at, last_check_at,
    last_outcome, last_reason, last_http_status, last_latency_ms, next_check_at, failures,
    candidate, candidate_count, flaps, steady, failing_since)
SELECT id, label, email, key_sealed, key_hint, key_fingerprint, created_at,
    updated_at, key_changed_at, verdict, verdict_at, verdict_since, last_valid_at, last_check_at,
    last_outcome, last_reason, last_http_status, last_latency_ms, next_check_at, failures,
    candidate, candidate_count, flaps, steady, failing_since FROM pairs;
-- Ids of deleted pairs are never reused (audit entries name them): carry the counter over.
CREATE TEMP TABLE pairs_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'pairs';
DROP TABLE pairs;
ALTER TABLE pairs_new RENAME TO pairs;
DELETE FROM sqlite_sequence WHERE name = 'pairs';
INSERT INTO sqlite_sequence (name, seq) SELECT 'pairs', seq FROM temp.pairs_seq;
DROP TABLE temp.pairs_seq;

CREATE UNIQUE INDEX pairs_key_email ON pairs(key_fingerprint, email COLLATE NOCASE);
CREATE INDEX pairs_next_check ON pairs(next_check_at);
CREATE INDEX pairs_verdict ON pairs(verdict);
CREATE INDEX pairs_order_status ON pairs(
    (CASE verdict WHEN 'revoked' THEN 0 WHEN 'denied' THEN 1 WHEN 'pending' THEN 2 ELSE 3 END),
    (CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END),
    lower(label));
CREATE INDEX pairs_verdict_order ON pairs(verdict,
    (CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END),
    lower(label));
CREATE INDEX pairs_order_label ON pairs(lower(label), lower(email));
CREATE INDEX pairs_order_email ON pairs(lower(email), lower(label));
CREATE INDEX pairs_order_checked ON pairs(COALESCE(last_check_at, 0));
CREATE INDEX pairs_order_added ON pairs(created_at);
CREATE INDEX pairs_last_outcome ON pairs(last_outcome);
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
-- The pair fingerprint cannot be rebuilt without the master key, so there is no way back.
SELECT * FROM "migration 30 cannot be undone: restore a backup taken before it";
