-- Tag mutes: a mute of a tag holds back the alerts of every key carrying the tag, the keys
-- that get it while the mute lasts too (the tag is matched through key_tags when alerts are
-- decided, not copied to keys). It is a row of mutes with tag set and pair_id NULL, ended as a
-- key's mute is. At most one mute of a tag is open at a time. The tag is the text of
-- key_tags.tag, not a reference: a tag exists while keys carry it, and may be muted before
-- any does.

-- +goose Up
ALTER TABLE mutes ADD COLUMN tag TEXT;
CREATE UNIQUE INDEX mutes_open_tag ON mutes(tag) WHERE ended_at IS NULL AND tag IS NOT NULL;

-- +goose Down
DROP INDEX mutes_open_tag;
ALTER TABLE mutes DROP COLUMN tag;
