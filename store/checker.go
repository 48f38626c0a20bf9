package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// This file holds what the background checker needs beyond the pair and check methods.

// KeyCount returns how many pairs exist.
func (db *DB) KeyCount(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM pairs").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count pairs: %w", err)
	}
	return n, nil
}

// KeyIDs returns every pair's id, ascending.
func (db *DB) KeyIDs(ctx context.Context) ([]int64, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id FROM pairs ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: pair ids: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: pair ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pair ids: %w", err)
	}
	return ids, nil
}

// NextKeys returns up to limit pairs in the order they come due (earliest next check first,
// due or not), leaving out the pairs in skip: those already being checked. The scheduler takes
// the due ones and sleeps until the first that is not.
func (db *DB) NextKeys(ctx context.Context, skip []int64, limit int) ([]domain.Key, error) {
	if skip == nil {
		skip = []int64{}
	}
	ids, err := json.Marshal(skip)
	if err != nil {
		return nil, fmt.Errorf("store: next pairs: %w", err)
	}
	stmt, err := db.prep.stmt(db.r, "SELECT "+keyColumns+` FROM pairs
		WHERE id NOT IN (SELECT value FROM json_each(?)) ORDER BY next_check_at, id LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("store: next pairs: %w", err)
	}
	return scanKeys(stmt.QueryContext(ctx, string(ids), limit))
}

// MakeAllDue brings every pair's next check forward to at (pairs due sooner keep their time),
// for "check all now". It returns how many pairs moved.
func (db *DB) MakeAllDue(ctx context.Context, at time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE pairs SET next_check_at = ? WHERE next_check_at > ?", ms(at), ms(at))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: make all pairs due: %w", err)
	}
	return n, nil
}

// TeamCount returns how many distinct team emails (case-folded) the pairs belong to, counting
// no further than upTo: the checker's outage rule asks for faults across a few teams, and no
// more than exist, so it needs to know only whether that few exist. Counted to the end, the
// count walked an index of every email (40-170 ms at 100,000 keys) before the first check.
func (db *DB) TeamCount(ctx context.Context, upTo int) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT DISTINCT lower(email) FROM pairs LIMIT ?)", upTo).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count teams: %w", err)
	}
	return n, nil
}

// PostponeTeam moves every pair of the team email (case-insensitive) that is due before until
// to until, so that one team's rate limit holds back that team's checks and no others. It
// returns how many pairs moved.
func (db *DB) PostponeTeam(ctx context.Context, email string, until time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE pairs SET next_check_at = ? WHERE lower(email) = lower(?) AND next_check_at < ?",
			ms(until), email, ms(until))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: postpone a team's checks: %w", err)
	}
	return n, nil
}

// CrossCheckCandidates returns up to limit pairs, least recently checked first, that hold one
// of the verdicts, are not in skip and belong to none of the teams in skipTeams (case-folded
// emails). The checker asks them when a few answers look like a change at Stax.ai rather than
// at one key: what other keys answer tells the two apart.
func (db *DB) CrossCheckCandidates(ctx context.Context, verdicts []domain.Verdict, skip []int64, skipTeams []string, limit int) ([]int64, error) {
	vs, err := json.Marshal(verdicts)
	if err != nil {
		return nil, fmt.Errorf("store: cross-check candidates: %w", err)
	}
	if skip == nil {
		skip = []int64{}
	}
	ids, err := json.Marshal(skip)
	if err != nil {
		return nil, fmt.Errorf("store: cross-check candidates: %w", err)
	}
	if skipTeams == nil {
		skipTeams = []string{}
	}
	teams, err := json.Marshal(skipTeams)
	if err != nil {
		return nil, fmt.Errorf("store: cross-check candidates: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM pairs
		WHERE verdict IN (SELECT value FROM json_each(?))
		AND id NOT IN (SELECT value FROM json_each(?))
		AND lower(email) NOT IN (SELECT lower(value) FROM json_each(?))
		AND candidate_count = 0
		ORDER BY coalesce(last_check_at, 0), id LIMIT ?`, string(vs), string(ids), string(teams), limit)
	if err != nil {
		return nil, fmt.Errorf("store: cross-check candidates: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: cross-check candidates: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: cross-check candidates: %w", err)
	}
	return out, nil
}

// MakeDue brings the given pairs' next checks forward to at (pairs due sooner keep their time).
func (db *DB) MakeDue(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("store: make pairs due: %w", err)
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE pairs SET next_check_at = ? WHERE next_check_at > ? AND id IN (SELECT value FROM json_each(?))",
			ms(at), ms(at), string(js))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: make pairs due: %w", err)
	}
	return nil
}

// heldKeysWhere selects and orders HeldKeys' pairs.
const heldKeysWhere = "WHERE candidate <> '' AND candidate_count >= ? ORDER BY +id"

// HeldKeys returns the pairs whose changed answer was confirmed at least minCount times yet
// not applied: the members of an upstream-wide suspicion a restart interrupted. It reads them
// through the partial index pairs_held ("+id" keeps SQLite from walking the whole table in id
// order instead, to save sorting the few it finds).
func (db *DB) HeldKeys(ctx context.Context, minCount int) ([]domain.Key, error) {
	ps, err := db.queryKeys(ctx, "SELECT "+keyColumns+" FROM pairs "+heldKeysWhere, minCount)
	if err != nil {
		return nil, fmt.Errorf("store: held pairs: %w", err)
	}
	return ps, nil
}
