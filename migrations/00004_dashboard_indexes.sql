-- Indexes for the dashboard at 10,000 pairs and more. Each order the dashboard offers has an
-- index on exactly its ORDER BY expressions (store/pairs.go pairSorts; SQLite matches them
-- term by term), so a page is read from the index instead of sorting every pair; the rowid (id)
-- ends every index and breaks ties. last_outcome answers "last check failed" without a scan.

-- +goose Up
CREATE INDEX pairs_order_status ON pairs(
    (CASE verdict WHEN 'revoked' THEN 0 WHEN 'denied' THEN 1 WHEN 'pending' THEN 2 ELSE 3 END),
    (CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END),
    lower(label));
-- With a verdict filter the status order's first term is constant and left out (ListPairs).
CREATE INDEX pairs_verdict_order ON pairs(verdict,
    (CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END),
    lower(label));
CREATE INDEX pairs_order_label ON pairs(lower(label), lower(email));
CREATE INDEX pairs_order_email ON pairs(lower(email), lower(label));
CREATE INDEX pairs_order_checked ON pairs(COALESCE(last_check_at, 0));
CREATE INDEX pairs_order_added ON pairs(created_at);
CREATE INDEX pairs_last_outcome ON pairs(last_outcome);

-- +goose Down
DROP INDEX pairs_last_outcome;
DROP INDEX pairs_order_added;
DROP INDEX pairs_order_checked;
DROP INDEX pairs_order_email;
DROP INDEX pairs_order_label;
DROP INDEX pairs_verdict_order;
DROP INDEX pairs_order_status;
