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
// ended by, until, standing, tag. %s is where each takes its filter on at. A verdict change of a
// key expected dead, made since it was declared so, has its standing: still accepted or retired.
// A tag's mute has no key, and its tag.
var activitySources = map[string]string{
	"verdict": `SELECT 'verdict', e.id, e.at, NULL, e.pair_id, p.label, p.email, e.old_verdict,
		e.new_verdict, e.reason, '', '', '', '', '', '', NULL,
		CASE WHEN p.expected = 'revoked' AND e.at >= COALESCE(p.expected_at, 0)
			THEN (CASE e.new_verdict WHEN 'valid' THEN 'still_accepted' WHEN 'pending' THEN '' ELSE 'retired' END)
			ELSE '' END, ''
		FROM events e JOIN pairs p ON p.id = e.pair_id WHERE 1 %s`,
	"incident": `SELECT kind, id, began_at, ended_at, 0, '', '', '', '', reason, '', '', '', detail, '', '', NULL, '', ''
		FROM incidents WHERE 1 %s`,
	"alert": `SELECT 'alert', d.id, d.at, NULL, COALESCE(json_extract(d.payload, '$.pair.id'), 0),
		COALESCE(json_extract(d.payload, '$.pair.label'), ''), COALESCE(json_extract(d.payload, '$.pair.email'), ''),
		'', '', d.last_error, d.event, d.channel, d.status, COALESCE(json_extract(d.payload, '$.message'), ''), '', '', NULL, '', ''
		FROM (SELECT *, COALESCE(sent_at, last_attempt_at, created_at) AS at FROM deliveries WHERE event <> 'test') d
		WHERE json_valid(d.payload) %s`,
	// A mute whose until passed ended then, whether or not the sweep has noticed yet (the
	// first argument is now). A tag's mute has no key, and its tag.
	"mute": `SELECT 'mute', m.id, m.created_at,
		COALESCE(m.ended_at, CASE WHEN m.until <= ? THEN m.until END), COALESCE(m.pair_id, 0), COALESCE(p.label, ''), COALESCE(p.email, ''),
		'', '', '', '', '', '', m.note, m.created_by, m.ended_by, m.until, '', COALESCE(m.tag, '')
		FROM mutes m LEFT JOIN pairs p ON p.id = m.pair_id WHERE (p.id IS NOT NULL OR m.tag IS NOT NULL) %s`,
}

// ListActivity returns the feed across all keys, newest first, with the number of entries
// that match q: confirmed verdict changes, incidents, mutes (one entry each, at its start,
// with its end) and alert deliveries ("Send test" ones left out). A deleted key's verdict
// changes go with it; its alerts stay.
func (db *DB) ListActivity(ctx context.Context, q domain.ActivityQuery) ([]domain.Activity, int, error) {
	return db.listActivity(ctx, q, true)
}

// RecentActivity is the newest n entries of the whole feed, without counting it all, for the
// dashboard.
func (db *DB) RecentActivity(ctx context.Context, n int) ([]domain.Activity, error) {
	out, _, err := db.listActivity(ctx, domain.ActivityQuery{Limit: n}, false)
	return out, err
}

func (db *DB) listActivity(ctx context.Context, q domain.ActivityQuery, withTotal bool) ([]domain.Activity, int, error) {
	want := func(k domain.ActivityKind) bool { return len(q.Kinds) == 0 || slices.Contains(q.Kinds, k) }
	var parts, limited []string
	var args, limitedArgs []any
	// add takes a source with its filters: on at (atCol), on the key (keyCol), and extra.
	add := func(src, atCol, keyCol, extra string, extraArgs ...any) {
		var cond strings.Builder
		var a []any
		if src == "mute" {
			a = append(a, db.now()) // its ended
		}
		if !q.Since.IsZero() {
			cond.WriteString(" AND " + atCol + " >= ?")
			a = append(a, ms(q.Since))
		}
		if !q.Until.IsZero() {
			cond.WriteString(" AND " + atCol + " < ?")
			a = append(a, ms(q.Until))
		}
		if q.KeyID != 0 {
			cond.WriteString(" AND " + keyCol + " = ?")
			a = append(a, q.KeyID)
		}
		cond.WriteString(extra)
		part := fmt.Sprintf(activitySources[src], cond.String())
		a = append(a, extraArgs...)
		parts, args = append(parts, part), append(args, a...)
		// A page needs at most offset+limit entries of each source, newest first, which the
		// sources' time indexes give without sorting a whole table.
		limited = append(limited, "SELECT * FROM ("+part+" ORDER BY 3 DESC LIMIT ?)")
		limitedArgs = append(append(limitedArgs, a...), max(q.Offset, 0)+q.Limit)
	}
	if want(domain.ActivityVerdict) {
		add("verdict", "e.at", "e.pair_id", "")
	}
	var incidentKinds []any
	for _, k := range []domain.ActivityKind{domain.ActivityOutage, domain.ActivitySuspicion, domain.ActivityPause} {
		if want(k) {
			incidentKinds = append(incidentKinds, string(k))
		}
	}
	// Incidents concern every key, so a filter on one key leaves them out.
	if len(incidentKinds) > 0 && q.KeyID == 0 {
		add("incident", "began_at", "", " AND kind IN (?"+strings.Repeat(", ?", len(incidentKinds)-1)+")", incidentKinds...)
	}
	if want(domain.ActivityMute) {
		add("mute", "m.created_at", "m.pair_id", "")
	}
	if want(domain.ActivityAlert) {
		add("alert", "d.at", "json_extract(d.payload, '$.pair.id')", "")
	}
	if len(parts) == 0 {
		return nil, 0, nil
	}
	total := -1
	if withTotal {
		if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM ("+strings.Join(parts, " UNION ALL ")+")", args...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("store: list activity: %w", err)
		}
	}
	union, uargs, limit := strings.Join(parts, " UNION ALL "), args, -1
	if q.Limit > 0 {
		union, uargs, limit = strings.Join(limited, " UNION ALL "), limitedArgs, q.Limit
	}
	rows, err := db.r.QueryContext(ctx, "SELECT * FROM ("+union+") ORDER BY 3 DESC, 1, 2 DESC LIMIT ? OFFSET ?",
		append(uargs, limit, max(q.Offset, 0))...)
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
			&a.Reason, &a.Event, &a.Channel, &status, &a.Detail, &a.By, &a.EndedBy, &until, &a.Standing, &a.Tag); err != nil {
			return nil, 0, fmt.Errorf("store: list activity: %w", err)
		}
		a.Kind, a.At, a.Ended, a.Until = domain.ActivityKind(kind), fromMS(at), fromMS(ended), fromMS(until)
		a.From, a.To, a.Status = domain.Verdict(from), domain.Verdict(to), domain.DeliveryStatus(status)
		out = append(out, a)
	}
	return out, total, rows.Err()
}
