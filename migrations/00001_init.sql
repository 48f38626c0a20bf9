-- Times are Unix milliseconds (UTC). Secrets are stored only sealed (AES-256-GCM) or hashed.

-- +goose Up
CREATE TABLE admins (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash       TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);

-- A session row exists while the session is valid; deleting it logs the browser out even if
-- someone kept a copy of the cookie. Only a hash of the session id is stored.
CREATE TABLE sessions (
    id_hash      BLOB    PRIMARY KEY,
    admin_id     INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    reauth_at    INTEGER NOT NULL DEFAULT 0,
    ip           TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX sessions_admin ON sessions(admin_id);

-- One registered (team email, API key) pair and what the checker knows of it.
CREATE TABLE pairs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    label            TEXT    NOT NULL DEFAULT '',
    email            TEXT    NOT NULL,
    key_sealed       BLOB    NOT NULL,          -- secret.Keyring.Seal(key, "pair:<id>")
    key_hint         TEXT    NOT NULL DEFAULT '', -- last 4 characters, for display
    pair_fingerprint BLOB    NOT NULL UNIQUE,   -- HMAC of (lower(email), key): duplicate detection
    key_fingerprint  BLOB    NOT NULL,          -- HMAC of the key alone: same key under two emails
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
    candidate_count   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pairs_key_fingerprint ON pairs(key_fingerprint);
CREATE INDEX pairs_next_check ON pairs(next_check_at);
CREATE INDEX pairs_verdict ON pairs(verdict);

-- Every check, pruned after STAXKEYS_HISTORY_DAYS.
CREATE TABLE checks (
    id          INTEGER PRIMARY KEY,
    pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('valid', 'revoked', 'denied', 'error')),
    http_status INTEGER NOT NULL DEFAULT 0,
    latency_ms  INTEGER NOT NULL DEFAULT 0,
    reason      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX checks_pair_at ON checks(pair_id, at);
CREATE INDEX checks_at ON checks(at);

-- Confirmed verdict changes, kept for as long as the pair exists.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    old_verdict TEXT    NOT NULL,
    new_verdict TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_pair_at ON events(pair_id, at);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE settings;
DROP TABLE events;
DROP TABLE checks;
DROP TABLE pairs;
DROP TABLE sessions;
DROP TABLE admins;
