-- Alert grouping: verdict changes confirmed within a short window go out as one message per
-- channel. A groupable delivery is queued due at the end of its window (group_until); when the
-- worker sends one, every other pending delivery of the same channel whose window overlaps is
-- folded into the same message, and all of them are recorded with that one try. Grouping lives
-- in the queue, so a restart during the window loses nothing. Numbered well above the other
-- migrations so that one added meanwhile in another branch cannot take the same number.

-- +goose Up
-- The end of the grouping window, Unix milliseconds; NULL for alerts that are never grouped.
ALTER TABLE deliveries ADD COLUMN group_until INTEGER;
-- The delivery whose message carried this one (its id), when it went out in a group it did not
-- lead; NULL otherwise.
ALTER TABLE deliveries ADD COLUMN grouped_with INTEGER;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN grouped_with;
ALTER TABLE deliveries DROP COLUMN group_until;
