-- Second factors, part two: passkeys (WebAuthn credentials), several per admin, named. A
-- passkey holds only a public key, so nothing here is sealed.

-- +goose Up
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id      INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    credential_id BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    credential    TEXT    NOT NULL,  -- webauthn.Credential as JSON: public key, sign count, flags
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_admin ON passkeys(admin_id);

-- +goose Down
DROP TABLE passkeys;
