-- Single sign-on with OpenID Connect. An SSO identity is the provider's (issuer, subject),
-- the only pair an OpenID provider promises never to reassign; the email it came with is
-- kept for display, and the role the provider's groups gave at the last sign-in (which also
-- becomes the user's role, admins.role). Sessions record how they were authenticated in
-- sessions.auth_method, which migration 41 adds ('sso' for these).

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

-- +goose Down
DROP TABLE sso_identities;
