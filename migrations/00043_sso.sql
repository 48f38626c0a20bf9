-- Single sign-on with OpenID Connect. An SSO identity is the provider's (issuer, subject),
-- the only pair an OpenID provider promises never to reassign; the email it came with is
-- kept for display. The role SSO computed at the identity's last sign-in is kept here rather
-- than on admins, so that the roles work on admins and this one do not collide.

-- +goose Up
CREATE TABLE sso_identities (
    issuer        TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    admin_id      INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;
CREATE INDEX sso_identities_admin ON sso_identities(admin_id);

-- How a session was authenticated: 'password' or 'sso'.
ALTER TABLE sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password';

-- +goose Down
ALTER TABLE sessions DROP COLUMN auth_method;
DROP TABLE sso_identities;
