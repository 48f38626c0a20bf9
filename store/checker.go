package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// This file holds what the background checker needs beyond the pair and check methods.

// PairCount returns how many pairs exist.
func (db *DB) PairCount(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM pairs").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count pairs: %w", err)
	}
	return n, nil
}

// PairIDs returns every pair's id, ascending.
func (db *DB) PairIDs(ctx context.Context) ([]int64, error) {
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

// NextPairs returns up to limit pairs in the order they come due (earliest next check first,
// due or not), leaving out the pairs in skip: those already being checked. The scheduler takes
// the due ones and sleeps until the first that is not.
func (db *DB) NextPairs(ctx context.Context, skip []int64, limit int) ([]Pair, error) {
	if len(skip) == 0 {
		return db.queryPairs(ctx, "SELECT "+pairColumns+" FROM pairs ORDER BY next_check_at, id LIMIT ?", limit)
	}
	ids, err := json.Marshal(skip)
	if err != nil {
		return nil, fmt.Errorf("store: next pairs: %w", err)
	}
	return db.queryPairs(ctx, "SELECT "+pairColumns+` FROM pairs
		WHERE id NOT IN (SELECT value FROM json_each(?)) ORDER BY next_check_at, id LIMIT ?`, string(ids), limit)
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
