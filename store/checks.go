package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// ErrStale means the pair changed (new key or email) or vanished while it was being checked,
// so the check's answer no longer applies and nothing was written.
var ErrStale = errors.New("store: pair changed during the check")

// CheckRecord is everything one finished check changes, written in one transaction so a crash
// or shutdown never leaves half of it.
type CheckRecord struct {
	Check domain.Check
	// KeyChangedAt is the pair's KeyChangedAt when the check started; if it moved, ErrStale.
	KeyChangedAt time.Time
	// FromVerdict is the verdict the decision started from. If another checker (the CLI's
	// `check` beside the server) changed it meanwhile, ErrStale: two processes must not both
	// record the same change.
	FromVerdict domain.Verdict

	// The pair's state after the check, as the checker decided it.
	Verdict        domain.Verdict
	VerdictAt      time.Time
	VerdictSince   time.Time
	LastValidAt    time.Time
	NextCheckAt    time.Time
	Failures       int
	Candidate      domain.Verdict
	CandidateCount int
	Flaps          int
	Steady         int
	FailingSince   time.Time

	// Event is set when the verdict changed.
	Event *domain.Event
	// Wide marks an Event confirmed as part of an upstream-wide suspicion: its alert is the
	// suspicion's resolution, not one of its own. It is not stored.
	Wide bool
}

const (
	recordKeySQL = `UPDATE pairs SET verdict = ?, verdict_at = ?, verdict_since = ?, last_valid_at = ?,
			last_check_at = ?, last_outcome = ?, last_reason = ?, last_http_status = ?, last_latency_ms = ?,
			next_check_at = ?, failures = ?, candidate = ?, candidate_count = ?,
			flaps = ?, steady = ?, failing_since = ?
			WHERE id = ? AND key_changed_at = ? AND (? = '' OR verdict = ?)`
	recordCheckSQL = "INSERT INTO checks (pair_id, at, outcome, http_status, latency_ms, reason) VALUES (?, ?, ?, ?, ?, ?)"
	recordEventSQL = "INSERT INTO events (pair_id, at, old_verdict, new_verdict, reason) VALUES (?, ?, ?, ?, ?)"
)

// RecordCheck stores a check, the pair's new state and any verdict change.
func (db *DB) RecordCheck(ctx context.Context, rec CheckRecord) error {
	return db.RecordChecks(ctx, []CheckRecord{rec})[0]
}

// RecordChecks stores several checks in one transaction (a group commit: one WAL sync for
// them all), each as RecordCheck would. The result has one error per record: ErrStale (wrapped)
// for a pair that changed meanwhile, whose record alone is skipped; any other failure fails
// every record, since none was stored.
func (db *DB) RecordChecks(ctx context.Context, recs []CheckRecord) []error {
	errs := make([]error, len(recs))
	stmts := make([]*sql.Stmt, 3)
	for i, q := range []string{recordKeySQL, recordCheckSQL, recordEventSQL} {
		s, err := db.prep.stmt(db.w, q)
		if err != nil {
			return fill(errs, fmt.Errorf("store: record checks: %w", err))
		}
		stmts[i] = s
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		upd, chk, ev := tx.StmtContext(ctx, stmts[0]), tx.StmtContext(ctx, stmts[1]), tx.StmtContext(ctx, stmts[2])
		for i, rec := range recs {
			c := rec.Check
			res, err := upd.ExecContext(ctx,
				rec.Verdict, nullMS(rec.VerdictAt), nullMS(rec.VerdictSince), nullMS(rec.LastValidAt),
				ms(c.At), c.Outcome, c.Reason, c.HTTPStatus, c.Latency.Milliseconds(),
				ms(rec.NextCheckAt), rec.Failures, rec.Candidate, rec.CandidateCount,
				rec.Flaps, rec.Steady, nullMS(rec.FailingSince),
				c.KeyID, ms(rec.KeyChangedAt), rec.FromVerdict, rec.FromVerdict)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				errs[i] = fmt.Errorf("store: record check of pair %d: %w", c.KeyID, ErrStale)
				continue
			}
			if _, err := chk.ExecContext(ctx, c.KeyID, ms(c.At), c.Outcome, c.HTTPStatus, c.Latency.Milliseconds(), c.Reason); err != nil {
				return err
			}
			if e := rec.Event; e != nil {
				if _, err := ev.ExecContext(ctx, c.KeyID, ms(e.At), e.Old, e.New, e.Reason); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fill(errs, fmt.Errorf("store: record %d checks: %w", len(recs), err))
	}
	return errs
}

func fill(errs []error, err error) []error {
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// SpreadOverdue spaces the pairs whose next check passed while nothing checked them evenly
// over spread from now, most overdue first, in one statement on ids and times: it never loads
// a pair. Never-checked pairs (next check 0) and pairs awaiting confirmation stay due at once.
// It returns how many pairs moved.
func (db *DB) SpreadOverdue(ctx context.Context, now time.Time, spread time.Duration) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `WITH o AS (
				SELECT id, ROW_NUMBER() OVER (ORDER BY next_check_at, id) - 1 AS i, COUNT(*) OVER () AS n
				FROM pairs WHERE next_check_at > 0 AND next_check_at <= ? AND candidate_count = 0)
			UPDATE pairs SET next_check_at = ? + o.i * ? / o.n FROM o WHERE pairs.id = o.id`,
			ms(now), ms(now), spread.Milliseconds())
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: spread overdue checks: %w", err)
	}
	return n, nil
}

// Reschedule sets when pairs are next due, without touching anything else.
func (db *DB) Reschedule(ctx context.Context, next map[int64]time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "UPDATE pairs SET next_check_at = ? WHERE id = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, at := range next {
			if _, err := stmt.ExecContext(ctx, ms(at), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: reschedule: %w", err)
	}
	return nil
}

// AllKeys returns every pair with its tags, by id.
func (db *DB) AllKeys(ctx context.Context) ([]domain.Key, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+taggedKeyColumns+" FROM pairs ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: query pairs: %w", err)
	}
	defer rows.Close()
	var out []domain.Key
	for rows.Next() {
		p, err := scanTaggedKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: query pairs: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query pairs: %w", err)
	}
	return out, nil
}

func (db *DB) queryKeys(ctx context.Context, query string, args ...any) ([]domain.Key, error) {
	return scanKeys(db.r.QueryContext(ctx, query, args...))
}

// scanKeys reads every pair of a query's rows.
func scanKeys(rows *sql.Rows, err error) ([]domain.Key, error) {
	if err != nil {
		return nil, fmt.Errorf("store: query pairs: %w", err)
	}
	defer rows.Close()
	var out []domain.Key
	for rows.Next() {
		p, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: query pairs: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query pairs: %w", err)
	}
	return out, nil
}

// ListChecks returns a pair's most recent checks, newest first.
func (db *DB) ListChecks(ctx context.Context, pairID int64, limit int) ([]domain.Check, error) {
	return db.ListChecksSince(ctx, pairID, time.Time{}, limit)
}

// ListChecksSince is ListChecks without the checks before since: the pair page passes the
// time its key was replaced, so a new key does not wear the old key's answers.
func (db *DB) ListChecksSince(ctx context.Context, pairID int64, since time.Time, limit int) ([]domain.Check, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, pair_id, at, outcome, http_status, latency_ms, reason
		FROM checks WHERE pair_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?`, pairID, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list checks: %w", err)
	}
	defer rows.Close()
	var out []domain.Check
	for rows.Next() {
		var c domain.Check
		var at sql.NullInt64
		var latency int64
		if err := rows.Scan(&c.ID, &c.KeyID, &at, &c.Outcome, &c.HTTPStatus, &latency, &c.Reason); err != nil {
			return nil, fmt.Errorf("store: list checks: %w", err)
		}
		c.At, c.Latency = fromMS(at), time.Duration(latency)*time.Millisecond
		out = append(out, c)
	}
	return out, rows.Err()
}

// RecentOutcomes returns, for each of the given pairs, the time and outcome of its last n
// checks, oldest first: the data behind each row's strip of recent checks. Each pair is one
// range scan of the covering index checks_strip through a statement prepared once, so the
// cost does not grow with a pair's history.
func (db *DB) RecentOutcomes(ctx context.Context, keyIDs []int64, n int) (map[int64][]domain.Check, error) {
	out := make(map[int64][]domain.Check, len(keyIDs))
	if len(keyIDs) == 0 {
		return out, nil
	}
	stmt, err := db.stripStmt(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: recent outcomes: %w", err)
	}
	for _, id := range keyIDs {
		rows, err := stmt.QueryContext(ctx, id, n)
		if err != nil {
			return nil, fmt.Errorf("store: recent outcomes: %w", err)
		}
		var cs []domain.Check
		for rows.Next() {
			c := domain.Check{KeyID: id}
			var at sql.NullInt64
			if err := rows.Scan(&at, &c.Outcome); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: recent outcomes: %w", err)
			}
			c.At = fromMS(at)
			cs = append(cs, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: recent outcomes: %w", err)
		}
		slices.Reverse(cs)
		out[id] = cs
	}
	return out, nil
}

// stripStmt prepares the strip query once per DB; database/sql re-prepares it on each pooled
// connection as needed. A failed preparation is not kept, so one cancelled request cannot
// break the strips for good.
func (db *DB) stripStmt(ctx context.Context) (*sql.Stmt, error) {
	db.stripMu.Lock()
	defer db.stripMu.Unlock()
	if db.strip != nil {
		return db.strip, nil
	}
	// Checks from before the key was replaced were about the old key: the strip starts over.
	stmt, err := db.r.PrepareContext(ctx, `SELECT at, outcome FROM checks WHERE pair_id = ?1
		AND at >= (SELECT COALESCE(key_replaced_at, 0) FROM pairs WHERE id = ?1) ORDER BY at DESC LIMIT ?2`)
	if err != nil {
		return nil, err
	}
	db.strip = stmt
	return stmt, nil
}

// ListEvents returns a pair's verdict changes, newest first.
func (db *DB) ListEvents(ctx context.Context, pairID int64, limit int) ([]domain.Event, error) {
	return db.ListEventsSince(ctx, pairID, time.Time{}, limit)
}

// ListEventsSince is ListEvents without the changes before since (see ListChecksSince).
func (db *DB) ListEventsSince(ctx context.Context, pairID int64, since time.Time, limit int) ([]domain.Event, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, pair_id, at, old_verdict, new_verdict, reason
		FROM events WHERE pair_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?`, pairID, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	defer rows.Close()
	var out []domain.Event
	for rows.Next() {
		var e domain.Event
		var at sql.NullInt64
		if err := rows.Scan(&e.ID, &e.KeyID, &at, &e.Old, &e.New, &e.Reason); err != nil {
			return nil, fmt.Errorf("store: list events: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneChecks deletes raw checks older than before; verdict events are never pruned.
func (db *DB) PruneChecks(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM checks WHERE at < ?", ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune checks: %w", err)
	}
	return n, nil
}
