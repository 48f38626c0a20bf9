-- Tags: short lower-case words a key is grouped and filtered by ("billing", "env:prod",
-- "zapier"). A key holds a set of them (normalised in keys/validate.go before they get here);
-- they go with the key (ON DELETE CASCADE). key_tags_tag serves the dashboard's ?tag= filter and
-- the list of tags with counts without reading pairs.

-- +goose Up
CREATE TABLE key_tags (
    pair_id INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tag     TEXT    NOT NULL,
    PRIMARY KEY (pair_id, tag)
) WITHOUT ROWID;
CREATE INDEX key_tags_tag ON key_tags(tag, pair_id);

-- +goose Down
DROP TABLE key_tags;
