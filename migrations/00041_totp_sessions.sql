-- Second factors, part one: TOTP (RFC 6238) with recovery codes, and sessions that know how
-- they were authenticated and whether they still await a second factor.

-- +goose Up
-- One authenticator app per admin. confirmed_at stays NULL until the admin has typed a code
-- from the app, so a half-finished enrolment never guards (or locks out) a login.
CREATE TABLE totp (
    admin_id      INTEGER PRIMARY KEY REFERENCES admins(id) ON DELETE CASCADE,
    secret_sealed BLOB    NOT NULL,           -- secret.Keyring.Seal(secret, secret.TOTPAD(admin_id))
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0  -- the last time step accepted: no code is used twice
);

-- Ten one-time codes for a lost phone, stored as SHA-256 hashes (each has 80 random bits).
CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id  INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER
);
CREATE UNIQUE INDEX recovery_codes_admin_hash ON recovery_codes(admin_id, code_hash);

-- How the session was authenticated (password, password+totp, password+recovery,
-- password+passkey, passkey, sso), and whether it is only half signed in: a correct
-- password of an admin with a second factor, which only the factor page accepts.
ALTER TABLE sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN pending;
ALTER TABLE sessions DROP COLUMN auth_method;
DROP TABLE recovery_codes;
DROP TABLE totp;
