-- Roles: every person who may log in (still stored in admins) and every API token gets one of
-- viewer, editor or admin (domain.Role). Everyone who existed before was an admin, so existing
-- rows become admins; a read-only token was a viewer, any other token could do what an admin's
-- API calls could. The role is the truth from now on; read_only stays, kept equal to
-- role = 'viewer', only so that an older binary reading this database sees no wider token.

-- +goose Up
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
    CHECK (role IN ('viewer', 'editor', 'admin'));
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
    CHECK (role IN ('viewer', 'editor', 'admin'));
UPDATE api_tokens SET role = 'viewer' WHERE read_only <> 0;

-- +goose Down
-- Without the column every user would be an admin again: refuse while anyone is not one (the
-- CHECK fails), rather than widen their access. Editor tokens go back as read-only, the
-- narrower of the two old kinds.
CREATE TEMP TABLE roles_down_guard (non_admins INTEGER CHECK (non_admins = 0));
INSERT INTO roles_down_guard SELECT count(*) FROM admins WHERE role <> 'admin';
DROP TABLE temp.roles_down_guard;
UPDATE api_tokens SET read_only = 1 WHERE role <> 'admin';
ALTER TABLE api_tokens DROP COLUMN role;
ALTER TABLE admins DROP COLUMN role;
