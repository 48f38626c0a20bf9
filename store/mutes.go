package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

const muteColumns = "id, COALESCE(pair_id, 0), until, note, created_at, created_by, ended_at, ended_by"

func scanMute(row interface{ Scan(...any) error }) (domain.Mute, error) {
	var m domain.Mute
	var until, created, ended sql.NullInt64
	err := row.Scan(&m.ID, &m.KeyID, &until, &m.Note, &created, &m.CreatedBy, &ended, &m.EndedBy)
	m.Until, m.CreatedAt, m.EndedAt = fromMS(until), fromMS(created), fromMS(ended)
	return m, err
}

// StartMute mutes key m.KeyID from m.CreatedAt, until m.Until (zero: until unmuted). A mute of
// the key still open ends first: at its until when that has passed (returned in expired, for
// the audit trail), else now, by m.CreatedBy (returned in replaced). The key must exist.
func (db *DB) StartMute(ctx context.Context, m domain.Mute) (started domain.Mute, replaced, expired *domain.Mute, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pairs WHERE id = ?)", m.KeyID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return domain.ErrNotFound
		}
		old, err := scanMute(tx.QueryRowContext(ctx, "SELECT "+muteColumns+" FROM mutes WHERE pair_id = ? AND ended_at IS NULL", m.KeyID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case old.Active(m.CreatedAt):
			old.EndedAt, old.EndedBy = m.CreatedAt, m.CreatedBy
			replaced = &old
		default:
			old.EndedAt = old.Until
			expired = &old
		}
		if old.ID != 0 {
			if _, err := tx.ExecContext(ctx, "UPDATE mutes SET ended_at = ?, ended_by = ? WHERE id = ?",
				ms(old.EndedAt), old.EndedBy, old.ID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO mutes (pair_id, until, note, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
			m.KeyID, nullMS(m.Until), m.Note, ms(m.CreatedAt), m.CreatedBy)
		if err != nil {
			return err
		}
		m.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return domain.Mute{}, nil, nil, err
		}
		return domain.Mute{}, nil, nil, fmt.Errorf("store: mute pair %d: %w", m.KeyID, err)
	}
	return m, replaced, expired, nil
}

// EndMute ends key id's mute at, by by. It returns the mute as ended, and ErrNotFound when
// no mute of the key holds at at (one whose until has passed is left to EndExpiredMutes).
func (db *DB) EndMute(ctx context.Context, id int64, at time.Time, by string) (domain.Mute, error) {
	var m domain.Mute
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = scanMute(tx.QueryRowContext(ctx, "SELECT "+muteColumns+" FROM mutes WHERE pair_id = ? AND ended_at IS NULL", id))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !m.Active(at)) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		m.EndedAt, m.EndedBy = at, by
		_, err = tx.ExecContext(ctx, "UPDATE mutes SET ended_at = ?, ended_by = ? WHERE id = ?", ms(at), by, m.ID)
		return err
	})
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return domain.Mute{}, err
		}
		return domain.Mute{}, fmt.Errorf("store: unmute pair %d: %w", id, err)
	}
	return m, nil
}

// EndExpiredMutes ends, at their until, the open mutes whose until is not after now, and
// returns them. Each is returned once, to whichever caller ends it, so that its end is
// recorded once.
func (db *DB) EndExpiredMutes(ctx context.Context, now time.Time) ([]domain.Mute, error) {
	var out []domain.Mute
	err := db.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "UPDATE mutes SET ended_at = until WHERE ended_at IS NULL AND until IS NOT NULL AND until <= ? RETURNING "+muteColumns, ms(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMute(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: end expired mutes: %w", err)
	}
	return out, nil
}

// ActiveMute returns key id's mute holding at now, and false when it has none.
func (db *DB) ActiveMute(ctx context.Context, id int64, now time.Time) (domain.Mute, bool, error) {
	m, err := scanMute(db.r.QueryRowContext(ctx, "SELECT "+muteColumns+` FROM mutes
		WHERE pair_id = ? AND ended_at IS NULL AND (until IS NULL OR until > ?)`, id, ms(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Mute{}, false, nil
	}
	if err != nil {
		return domain.Mute{}, false, fmt.Errorf("store: mute of pair %d: %w", id, err)
	}
	return m, true, nil
}

// ActiveMutes returns every key's mute holding at now, by key id.
func (db *DB) ActiveMutes(ctx context.Context, now time.Time) (map[int64]domain.Mute, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+muteColumns+` FROM mutes
		WHERE pair_id IS NOT NULL AND ended_at IS NULL AND (until IS NULL OR until > ?)`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: mutes: %w", err)
	}
	defer rows.Close()
	out := map[int64]domain.Mute{}
	for rows.Next() {
		m, err := scanMute(rows)
		if err != nil {
			return nil, fmt.Errorf("store: mutes: %w", err)
		}
		out[m.KeyID] = m
	}
	return out, rows.Err()
}
