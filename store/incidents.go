package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Incident is an on-call channel's action on one incident, as notify queues it.
type Incident struct {
	Channel  string
	DedupKey string
	Action   string // "trigger" or "resolve"
}

// EnqueueIncident queues d, the delivery of inc, unless the last action queued for the same
// channel and dedup key was the same: a repeat of a state does not page twice. Recording the
// action and queueing the delivery are one transaction, so neither is done without the other.
// It reports whether d was queued.
func (db *DB) EnqueueIncident(ctx context.Context, now time.Time, inc Incident, d NewDelivery) (bool, error) {
	queued := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO incident_states (channel, dedup_key, action, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (channel, dedup_key) DO UPDATE SET action = excluded.action, updated_at = excluded.updated_at
			WHERE action <> excluded.action`, inc.Channel, inc.DedupKey, inc.Action, ms(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		queued = true
		return insertDeliveries(ctx, tx, now, []NewDelivery{d})
	})
	if err != nil {
		return false, fmt.Errorf("store: enqueue incident: %w", err)
	}
	return queued, nil
}

// OpenIncidentChannels lists the channels whose last action queued for dedupKey was a
// trigger: where that incident is open, as far as staxkeys knows.
func (db *DB) OpenIncidentChannels(ctx context.Context, dedupKey string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT channel FROM incident_states WHERE dedup_key = ? AND action = 'trigger' ORDER BY channel", dedupKey)
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ch string
		if err := rows.Scan(&ch); err != nil {
			return nil, fmt.Errorf("store: open incidents: %w", err)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	return out, nil
}
