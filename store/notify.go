package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ReminderKind names what a reminder is about.
type ReminderKind string

// The kinds of reminder: a key still revoked or denied, and a key due for rotation.
const (
	ReminderVerdict  ReminderKind = "verdict"
	ReminderRotation ReminderKind = "rotation"
)

// Reminder says which period of which anchor a reminder is for. Period counts whole reminder
// periods since Anchor (when the bad verdict began, or when the key was set); a reminder is
// queued once per period.
type Reminder struct {
	KeyID  int64
	Kind   ReminderKind
	Anchor time.Time
	Period int
}

// EnqueueReminder queues ds for r unless a reminder for the same anchor and this period (or a
// later one) was already queued; it reports whether it queued. The check and the queueing are
// one transaction, so a reminder is never queued twice.
func (db *DB) EnqueueReminder(ctx context.Context, now time.Time, r Reminder, ds []NewDelivery) (bool, error) {
	if len(ds) == 0 {
		return false, nil
	}
	queued := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		var anchor int64
		var period int
		err := tx.QueryRowContext(ctx, "SELECT anchor_at, period FROM reminders WHERE pair_id = ? AND kind = ?",
			r.KeyID, r.Kind).Scan(&anchor, &period)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case anchor == ms(r.Anchor) && period >= r.Period:
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO reminders (pair_id, kind, anchor_at, period, queued_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (pair_id, kind) DO UPDATE SET anchor_at = excluded.anchor_at, period = excluded.period,
			queued_at = excluded.queued_at`, r.KeyID, r.Kind, ms(r.Anchor), r.Period, ms(now))
		if err != nil {
			return err
		}
		queued = true
		return insertDeliveries(ctx, tx, now, ds)
	})
	if err != nil {
		return false, fmt.Errorf("store: enqueue reminder for pair %d: %w", r.KeyID, err)
	}
	return queued, nil
}

// PutSettings writes several settings in one transaction, so a form saved at once is stored
// at once.
func (db *DB) PutSettings(ctx context.Context, values map[string][]byte) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		for name, value := range values {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
				name, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put settings: %w", err)
	}
	return nil
}
