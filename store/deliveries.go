package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// NewDelivery is an alert to queue on one channel.
type NewDelivery struct {
	Event   string
	Channel string
	Payload []byte
	// GroupWindow > 0 makes the alert groupable: it is due only at the end of the window, so
	// that alerts of the same channel queued meanwhile can go out with it (see GroupMembers).
	GroupWindow time.Duration
}

// DeliveryAttempt is the outcome of one try at sending a delivery. Err is "" on success; on
// failure Final says the delivery gives up (status failed), otherwise it is tried again at Next.
type DeliveryAttempt struct {
	At    time.Time
	Err   string
	Next  time.Time
	Final bool
}

const deliveryColumns = `id, created_at, event, channel, payload, status, attempts, next_attempt_at,
	last_attempt_at, last_error, sent_at, group_until, grouped_with`

func scanDelivery(row interface{ Scan(...any) error }) (domain.Delivery, error) {
	var d domain.Delivery
	var created, next, last, sent, until, with sql.NullInt64
	err := row.Scan(&d.ID, &created, &d.Event, &d.Channel, &d.Payload, &d.Status, &d.Attempts, &next,
		&last, &d.LastError, &sent, &until, &with)
	d.CreatedAt, d.NextAttemptAt, d.LastAttemptAt, d.SentAt = fromMS(created), fromMS(next), fromMS(last), fromMS(sent)
	d.GroupUntil, d.GroupedWith = fromMS(until), with.Int64
	return d, err
}

func insertDeliveries(ctx context.Context, tx *sql.Tx, now time.Time, ds []NewDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (created_at, event, channel, payload, next_attempt_at,
		group_until) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, d := range ds {
		due, until := now, sql.NullInt64{}
		if d.GroupWindow > 0 {
			due = now.Add(d.GroupWindow)
			until = nullMS(due)
		}
		if _, err := stmt.ExecContext(ctx, ms(now), d.Event, d.Channel, d.Payload, ms(due), until); err != nil {
			return err
		}
	}
	return nil
}

// EnqueueDeliveries queues alerts, due at once or, when groupable, at the end of their
// grouping window; now is the queue's clock.
func (db *DB) EnqueueDeliveries(ctx context.Context, now time.Time, ds []NewDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	if err := db.write(ctx, func(tx *sql.Tx) error { return insertDeliveries(ctx, tx, now, ds) }); err != nil {
		return fmt.Errorf("store: enqueue deliveries: %w", err)
	}
	return nil
}

// RecordDelivery stores a delivery that was already attempted once, such as a test alert sent
// while the admin waits: it goes straight to the log as sent or failed.
func (db *DB) RecordDelivery(ctx context.Context, d NewDelivery, a DeliveryAttempt) (int64, error) {
	status, sent := domain.DeliverySent, nullMS(a.At)
	if a.Err != "" {
		status, sent = domain.DeliveryFailed, sql.NullInt64{}
	}
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (created_at, event, channel, payload, status, attempts,
			next_attempt_at, last_attempt_at, last_error, sent_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`,
			ms(a.At), d.Event, d.Channel, d.Payload, status, ms(a.At), ms(a.At), a.Err, sent)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: record delivery: %w", err)
	}
	return id, nil
}

// DueDeliveries returns up to limit pending deliveries due at now, oldest first.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]domain.Delivery, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	defer rows.Close()
	var out []domain.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: due deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	return out, nil
}

// NextDeliveryAt returns when the earliest pending delivery is due, or the zero time when
// nothing is pending.
func (db *DB) NextDeliveryAt(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'").Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("store: next delivery: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return time.UnixMilli(next.Int64).UTC(), nil
}

// RecordAttempt stores the outcome of one try at sending pending delivery id.
func (db *DB) RecordAttempt(ctx context.Context, id int64, a DeliveryAttempt) error {
	if err := db.write(ctx, func(tx *sql.Tx) error { return recordAttempt(ctx, tx, id, a, 0) }); err != nil {
		return fmt.Errorf("store: record attempt of delivery %d: %w", id, err)
	}
	return nil
}

// RecordGroupAttempt stores the outcome of one try at sending pending delivery leader's
// message, which also carried members: all of them take the outcome, in one transaction, so
// they stay in step (sent together, or retried together at a.Next). A member that is no
// longer pending (an admin retried or it was sent meanwhile) is left as it is; ErrNotFound
// means the leader is not pending.
func (db *DB) RecordGroupAttempt(ctx context.Context, leader int64, members []int64, a DeliveryAttempt) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := recordAttempt(ctx, tx, leader, a, 0); err != nil {
			return err
		}
		for _, id := range members {
			if err := recordAttempt(ctx, tx, id, a, leader); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record attempt of delivery %d and %d grouped with it: %w", leader, len(members), err)
	}
	return nil
}

// recordAttempt writes one try's outcome on pending delivery id; leader, when not 0, is the
// delivery whose message carried it.
func recordAttempt(ctx context.Context, tx *sql.Tx, id int64, a DeliveryAttempt, leader int64) error {
	with := sql.NullInt64{Int64: leader, Valid: leader != 0}
	var res sql.Result
	var err error
	switch {
	case a.Err == "":
		res, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'sent', attempts = attempts + 1,
			last_attempt_at = ?, sent_at = ?, last_error = '', grouped_with = ? WHERE id = ? AND status = 'pending'`,
			ms(a.At), ms(a.At), with, id)
	case a.Final:
		res, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = 'failed', attempts = attempts + 1,
			last_attempt_at = ?, last_error = ?, grouped_with = ? WHERE id = ? AND status = 'pending'`, ms(a.At), a.Err, with, id)
	default:
		res, err = tx.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = ?,
			last_error = ?, next_attempt_at = ?, grouped_with = ? WHERE id = ? AND status = 'pending'`,
			ms(a.At), a.Err, ms(a.Next), with, id)
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// GroupMembers returns, oldest first and at most limit, the other pending groupable
// deliveries that go out in one message with d: those of d's channel and event whose grouping
// window overlaps d's. It returns none when d itself is not groupable.
func (db *DB) GroupMembers(ctx context.Context, d domain.Delivery, limit int) ([]domain.Delivery, error) {
	if d.GroupUntil.IsZero() {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM deliveries
		WHERE status = 'pending' AND channel = ? AND event = ? AND id <> ? AND group_until IS NOT NULL
		AND created_at <= ? AND group_until >= ? ORDER BY created_at, id LIMIT ?`,
		d.Channel, d.Event, d.ID, ms(d.GroupUntil), ms(d.CreatedAt), limit)
	if err != nil {
		return nil, fmt.Errorf("store: group of delivery %d: %w", d.ID, err)
	}
	defer rows.Close()
	var out []domain.Delivery
	for rows.Next() {
		m, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: group of delivery %d: %w", d.ID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: group of delivery %d: %w", d.ID, err)
	}
	return out, nil
}

// RetryDelivery puts a failed (or pending) delivery back in the queue, due at now, with a
// fresh count of attempts.
func (db *DB) RetryDelivery(ctx context.Context, id int64, now time.Time) error {
	err := db.mustAffect(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?
		WHERE id = ? AND status IN ('pending', 'failed')`, ms(now), id)
	if err != nil {
		return fmt.Errorf("store: retry delivery %d: %w", id, err)
	}
	return nil
}

// DeliveryByID loads one delivery.
func (db *DB) DeliveryByID(ctx context.Context, id int64) (domain.Delivery, error) {
	d, err := scanDelivery(db.r.QueryRowContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Delivery{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Delivery{}, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	return d, nil
}

// DeliveryQuery filters the delivery log.
type DeliveryQuery struct {
	Status  string // "", or a domain.DeliveryStatus
	Channel string // "", or a channel
	Limit   int
	Offset  int
}

// ListDeliveries returns deliveries matching q, newest first, with the total match count.
func (db *DB) ListDeliveries(ctx context.Context, q DeliveryQuery) ([]domain.Delivery, int, error) {
	var where []string
	var args []any
	switch domain.DeliveryStatus(q.Status) {
	case "":
	case domain.DeliveryPending, domain.DeliverySent, domain.DeliveryFailed:
		where = append(where, "status = ?")
		args = append(args, q.Status)
	default:
		return nil, 0, &domain.ValidationError{Fields: map[string]string{"status": "unknown status"}}
	}
	if q.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, q.Channel)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM deliveries"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: list deliveries: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+deliveryColumns+" FROM deliveries"+cond+" ORDER BY id DESC LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []domain.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list deliveries: %w", err)
	}
	return out, total, nil
}

// CountDeliveries counts deliveries per state.
func (db *DB) CountDeliveries(ctx context.Context) (domain.DeliveryCounts, error) {
	var c domain.DeliveryCounts
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'),
		count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'failed') FROM deliveries`).
		Scan(&c.Pending, &c.Sent, &c.Failed)
	if err != nil {
		return c, fmt.Errorf("store: count deliveries: %w", err)
	}
	return c, nil
}

// CountDeliveriesByChannel counts deliveries per channel and state; a channel with none is absent.
func (db *DB) CountDeliveriesByChannel(ctx context.Context) (map[string]domain.DeliveryCounts, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT channel, count(*) FILTER (WHERE status = 'pending'),
		count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'failed')
		FROM deliveries GROUP BY channel`)
	if err != nil {
		return nil, fmt.Errorf("store: count deliveries by channel: %w", err)
	}
	defer rows.Close()
	out := map[string]domain.DeliveryCounts{}
	for rows.Next() {
		var ch string
		var c domain.DeliveryCounts
		if err := rows.Scan(&ch, &c.Pending, &c.Sent, &c.Failed); err != nil {
			return nil, fmt.Errorf("store: count deliveries by channel: %w", err)
		}
		out[ch] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count deliveries by channel: %w", err)
	}
	return out, nil
}

// PruneDeliveries deletes sent and failed deliveries created before before; pending ones stay.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM deliveries WHERE status <> 'pending' AND created_at < ?", ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune deliveries: %w", err)
	}
	return n, nil
}
