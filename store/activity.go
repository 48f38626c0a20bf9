package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// BeginIncident records that an incident of kind began at began. An incident of the same kind
// still open is left as it is: the checker reports each begin once, and a restart mid-outage
// must not open a second row for the same outage.
func (db *DB) BeginIncident(ctx context.Context, kind domain.ActivityKind, began time.Time, reason, detail string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var open bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM incidents WHERE kind = ? AND ended_at IS NULL)", kind).Scan(&open); err != nil {
			return err
		}
		if open {
			return nil
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO incidents (kind, began_at, reason, detail) VALUES (?, ?, ?, ?)",
			kind, ms(began), reason, detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: begin %s incident: %w", kind, err)
	}
	return nil
}

// EndIncident closes the open incident of kind at ended, with its last reason and detail (an
// empty one keeps what was recorded). With none open (one that began before this feature, or
// while the process was down) it records the incident from began to ended, so the feed still
// shows it.
func (db *DB) EndIncident(ctx context.Context, kind domain.ActivityKind, began, ended time.Time, reason, detail string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET ended_at = ?,
			reason = CASE WHEN ? <> '' THEN ? ELSE reason END,
			detail = CASE WHEN ? <> '' THEN ? ELSE detail END
			WHERE kind = ? AND ended_at IS NULL`, ms(ended), reason, reason, detail, detail, kind)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO incidents (kind, began_at, ended_at, reason, detail) VALUES (?, ?, ?, ?, ?)",
			kind, ms(began), ms(ended), reason, detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: end %s incident: %w", kind, err)
	}
	return nil
}

// activitySources are the feed's four sources, each as a SELECT of the same columns: kind,
// id, at, ended, key id, label, email, from, to, reason, event, channel, status, detail, by,
// ended by, until. %s is where each takes its filter on at.
var activitySources = map[string]string{
	"verdict": `SELECT 'verdict', e.id, e.at, NULL, e.pair_id, p.label, p.email, e.old_verdict,
		e.new_verdict, e.reason, '', '', '', '', '', '', NULL
		FROM events e JOIN pairs p ON p.id = e.pair_id WHERE 1 %s`,
	"incident": `SELECT kind, id, began_at, ended_at, 0, '', '', '', '', reason, '', '', '', detail, '', '', NULL
		FROM incidents WHERE 1 %s`,
	"alert": `SELECT 'alert', d.id, d.at, NULL, COALESCE(json_extract(d.payload, '$.pair.id'), 0),
		COALESCE(json_extract(d.payload, '$.pair.label'), ''), COALESCE(json_extract(d.payload, '$.pair.email'), ''),
		'', '', d.last_error, d.event, d.channel, d.status, COALESCE(json_extract(d.payload, '$.message'), ''), '', '', NULL
		FROM (SELECT *, COALESCE(sent_at, last_attempt_at, created_at) AS at FROM deliveries WHERE event <> 'test') d
		WHERE json_valid(d.payload) %s`,
	// A mute whose until passed ended then, whether or not the sweep has noticed yet (the
	// first argument is now).
	"mute": `SELECT 'mute', m.id, m.created_at,
		COALESCE(m.ended_at, CASE WHEN m.until <= ? THEN m.until END), m.pair_id, p.label, p.email,
		'', '', '', '', '', '', m.note, m.created_by, m.ended_by, m.until
		FROM mutes m JOIN pairs p ON p.id = m.pair_id WHERE 1 %s`,
}

// ListActivity returns the feed across all keys, newest first, with the number of entries
// that match q: confirmed verdict changes, incidents, mutes (one entry each, at its start,
// with its end) and alert deliveries ("Send test" ones left out). A deleted key's verdict changes go with it; its alerts stay.
func (db *DB) ListActivity(ctx context.Context, q domain.ActivityQuery) ([]domain.Activity, int, error) {
	want := func(k domain.ActivityKind) bool { return len(q.Kinds) == 0 || slices.Contains(q.Kinds, k) }
	var parts []string
	var args []any
	add := func(src, atCol, extra string, extraArgs ...any) {
		var cond strings.Builder
		var a []any
		if !q.Since.IsZero() {
			cond.WriteString(" AND " + atCol + " >= ?")
			a = append(a, ms(q.Since))
		}
		if !q.Until.IsZero() {
			cond.WriteString(" AND " + atCol + " < ?")
			a = append(a, ms(q.Until))
		}
		cond.WriteString(extra)
		parts = append(parts, fmt.Sprintf(activitySources[src], cond.String()))
		if src == "mute" {
			args = append(args, db.now()) // its ended
		}
		args = append(append(args, a...), extraArgs...)
	}
	if want(domain.ActivityVerdict) {
		if q.KeyID != 0 {
			add("verdict", "e.at", " AND e.pair_id = ?", q.KeyID)
		} else {
			add("verdict", "e.at", "")
		}
	}
	var incidentKinds []any
	for _, k := range []domain.ActivityKind{domain.ActivityOutage, domain.ActivitySuspicion, domain.ActivityPause} {
		if want(k) {
			incidentKinds = append(incidentKinds, string(k))
		}
	}
	// Incidents concern every key, so a filter on one key leaves them out.
	if len(incidentKinds) > 0 && q.KeyID == 0 {
		add("incident", "began_at", " AND kind IN (?"+strings.Repeat(", ?", len(incidentKinds)-1)+")", incidentKinds...)
	}
	if want(domain.ActivityMute) {
		if q.KeyID != 0 {
			add("mute", "m.created_at", " AND m.pair_id = ?", q.KeyID)
		} else {
			add("mute", "m.created_at", "")
		}
	}
	if want(domain.ActivityAlert) {
		if q.KeyID != 0 {
			add("alert", "d.at", " AND json_extract(d.payload, '$.pair.id') = ?", q.KeyID)
		} else {
			add("alert", "d.at", "")
		}
	}
	if len(parts) == 0 {
		return nil, 0, nil
	}
	union := strings.Join(parts, " UNION ALL ")
	var total int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM ("+union+")", args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: list activity: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, "SELECT * FROM ("+union+") ORDER BY 3 DESC, 1, 2 DESC LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list activity: %w", err)
	}
	defer rows.Close()
	var out []domain.Activity
	for rows.Next() {
		var a domain.Activity
		var at, ended, until sql.NullInt64
		var kind, from, to, status string
		if err := rows.Scan(&kind, &a.ID, &at, &ended, &a.KeyID, &a.KeyLabel, &a.KeyEmail, &from, &to,
			&a.Reason, &a.Event, &a.Channel, &status, &a.Detail, &a.By, &a.EndedBy, &until); err != nil {
			return nil, 0, fmt.Errorf("store: list activity: %w", err)
		}
		a.Kind, a.At, a.Ended, a.Until = domain.ActivityKind(kind), fromMS(at), fromMS(ended), fromMS(until)
		a.From, a.To, a.Status = domain.Verdict(from), domain.Verdict(to), domain.DeliveryStatus(status)
		out = append(out, a)
	}
	return out, total, rows.Err()
}
