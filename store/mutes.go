package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

const muteColumns = "id, COALESCE(pair_id, 0), COALESCE(tag, ''), until, note, created_at, created_by, ended_at, ended_by"

func scanMute(row interface{ Scan(...any) error }) (domain.Mute, error) {
	var m domain.Mute
	var until, created, ended sql.NullInt64
	err := row.Scan(&m.ID, &m.KeyID, &m.Tag, &until, &m.Note, &created, &m.CreatedBy, &ended, &m.EndedBy)
	m.Until, m.CreatedAt, m.EndedAt = fromMS(until), fromMS(created), fromMS(ended)
	return m, err
}

// StartMute mutes key m.KeyID from m.CreatedAt, until m.Until (zero: until unmuted). A mute of
// the key still open ends first: at its until when that has passed (returned in expired, for
// the audit trail), else now, by m.CreatedBy (returned in replaced). The key must exist.
func (db *DB) StartMute(ctx context.Context, m domain.Mute) (started domain.Mute, replaced, expired *domain.Mute, err error) {
	m.Tag = ""
	started, replaced, expired, err = db.startMute(ctx, m, "pair_id", m.KeyID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		err = fmt.Errorf("store: mute pair %d: %w", m.KeyID, err)
	}
	return started, replaced, expired, err
}

// StartTagMute is StartMute for tag m.Tag (normalised already): it holds for every key that
// carries the tag while it lasts, whether the key had it at the start or got it since. The tag
// need not be on any key yet.
func (db *DB) StartTagMute(ctx context.Context, m domain.Mute) (started domain.Mute, replaced, expired *domain.Mute, err error) {
	m.KeyID = 0
	started, replaced, expired, err = db.startMute(ctx, m, "tag", m.Tag)
	if err != nil {
		err = fmt.Errorf("store: mute tag %q: %w", m.Tag, err)
	}
	return started, replaced, expired, err
}

// startMute starts mute m of the subject column ("pair_id" or "tag") equal to subject.
func (db *DB) startMute(ctx context.Context, m domain.Mute, column string, subject any) (started domain.Mute, replaced, expired *domain.Mute, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		if column == "pair_id" {
			var exists bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pairs WHERE id = ?)", m.KeyID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return domain.ErrNotFound
			}
		}
		old, err := scanMute(tx.QueryRowContext(ctx, "SELECT "+muteColumns+" FROM mutes WHERE "+column+" = ? AND ended_at IS NULL", subject))
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
		res, err := tx.ExecContext(ctx, "INSERT INTO mutes (pair_id, tag, until, note, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
			nullID(m.KeyID), nullText(m.Tag), nullMS(m.Until), m.Note, ms(m.CreatedAt), m.CreatedBy)
		if err != nil {
			return err
		}
		m.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return domain.Mute{}, nil, nil, err
	}
	return m, replaced, expired, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// EndMute ends key id's mute at, by by. It returns the mute as ended, and ErrNotFound when
// no mute of the key holds at at (one whose until has passed is left to EndExpiredMutes).
func (db *DB) EndMute(ctx context.Context, id int64, at time.Time, by string) (domain.Mute, error) {
	m, err := db.endMute(ctx, "pair_id", id, at, by)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return domain.Mute{}, fmt.Errorf("store: unmute pair %d: %w", id, err)
	}
	return m, err
}

// EndTagMute is EndMute for tag's mute.
func (db *DB) EndTagMute(ctx context.Context, tag string, at time.Time, by string) (domain.Mute, error) {
	m, err := db.endMute(ctx, "tag", tag, at, by)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return domain.Mute{}, fmt.Errorf("store: unmute tag %q: %w", tag, err)
	}
	return m, err
}

// endMute ends the open mute of the subject column ("pair_id" or "tag") equal to subject.
func (db *DB) endMute(ctx context.Context, column string, subject any, at time.Time, by string) (domain.Mute, error) {
	var m domain.Mute
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = scanMute(tx.QueryRowContext(ctx, "SELECT "+muteColumns+" FROM mutes WHERE "+column+" = ? AND ended_at IS NULL", subject))
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
		return domain.Mute{}, err
	}
	return m, nil
}

// EndExpiredMutes ends, at their until, the open mutes (of keys and of tags) whose until is not
// after now, and returns them. Each is returned once, to whichever caller ends it, so that its end is
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

// ActiveMute returns the mute holding at now for key id, and false when it has none: its own
// mute, or else the mute of one of its tags (Tag set; the first tag muted).
func (db *DB) ActiveMute(ctx context.Context, id int64, now time.Time) (domain.Mute, bool, error) {
	m, err := scanMute(db.r.QueryRowContext(ctx, "SELECT "+muteColumns+` FROM mutes
		WHERE ended_at IS NULL AND (until IS NULL OR until > ?)
			AND (pair_id = ? OR tag IN (SELECT tag FROM key_tags WHERE pair_id = ?))
		ORDER BY pair_id IS NULL, id LIMIT 1`, ms(now), id, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Mute{}, false, nil
	}
	if err != nil {
		return domain.Mute{}, false, fmt.Errorf("store: mute of pair %d: %w", id, err)
	}
	return m, true, nil
}

// ActiveMutes returns the mute holding at now for every muted key, by key id, as ActiveMute
// would: a key's own mute, else the first muted tag's.
func (db *DB) ActiveMutes(ctx context.Context, now time.Time) (map[int64]domain.Mute, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kt.pair_id, m.id, 0, m.tag, m.until, m.note, m.created_at, m.created_by, m.ended_at, m.ended_by
			FROM mutes m JOIN key_tags kt ON kt.tag = m.tag
			WHERE m.tag IS NOT NULL AND m.ended_at IS NULL AND (m.until IS NULL OR m.until > ?1)
		UNION ALL
		SELECT pair_id, `+muteColumns+` FROM mutes
			WHERE pair_id IS NOT NULL AND ended_at IS NULL AND (until IS NULL OR until > ?1)`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: mutes: %w", err)
	}
	defer rows.Close()
	out := map[int64]domain.Mute{}
	for rows.Next() {
		var key int64
		var m domain.Mute
		var until, created, ended sql.NullInt64
		if err := rows.Scan(&key, &m.ID, &m.KeyID, &m.Tag, &until, &m.Note, &created, &m.CreatedBy, &ended, &m.EndedBy); err != nil {
			return nil, fmt.Errorf("store: mutes: %w", err)
		}
		m.Until, m.CreatedAt, m.EndedAt = fromMS(until), fromMS(created), fromMS(ended)
		if old, ok := out[key]; ok && (old.KeyID != 0 || (m.KeyID == 0 && old.ID < m.ID)) {
			continue // a key's own mute wins, then the first tag mute
		}
		out[key] = m
	}
	return out, rows.Err()
}

// ActiveTagMutes returns the tags' mutes holding at now, by tag.
func (db *DB) ActiveTagMutes(ctx context.Context, now time.Time) ([]domain.Mute, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+muteColumns+` FROM mutes
		WHERE tag IS NOT NULL AND ended_at IS NULL AND (until IS NULL OR until > ?) ORDER BY tag`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: tag mutes: %w", err)
	}
	defer rows.Close()
	out := []domain.Mute{}
	for rows.Next() {
		m, err := scanMute(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tag mutes: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
