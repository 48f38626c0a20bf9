-- Routes: which alerts a channel hears. One row per channel that hears less than everything,
-- named as deliveries name it ("webhook", "slack", "email", "pagerduty", "opsgenie",
-- "channel:<id>"); no row means every event of every key. events is a comma-separated list of
-- event kinds (notify.RouteKinds), '' for all; tags a comma-separated list of tag names, ''
-- for keys of any tag.

-- +goose Up
CREATE TABLE routes (
    channel TEXT PRIMARY KEY,
    events  TEXT NOT NULL DEFAULT '',
    tags    TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE routes;
