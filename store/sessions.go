package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// Session is a logged-in browser. IDHash is SHA-256 of the random id in the cookie, so the
// database alone cannot be turned into a working cookie.
type Session struct {
	IDHash     []byte
	AdminID    int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ReauthAt   time.Time // when the admin last re-entered their password (for reveals)
	IP         string
	UserAgent  string
	// AuthMethod says how the session was authenticated (domain.AuthPassword, ...).
	AuthMethod string
	// Pending is a correct password still awaiting the admin's second factor: such a session
	// opens only the factor page.
	Pending bool
}

// CreateSession stores a new session; an empty AuthMethod is domain.AuthPassword.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO sessions (id_hash, admin_id, created_at, last_seen_at, ip, user_agent, auth_method, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			s.IDHash, s.AdminID, ms(s.CreatedAt), ms(s.LastSeenAt), s.IP, s.UserAgent, authMethodOr(s.AuthMethod), s.Pending)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionByHash finds a live session row.
func (db *DB) SessionByHash(ctx context.Context, idHash []byte) (Session, error) {
	var s Session
	var created, seen, reauth sql.NullInt64
	err := db.r.QueryRowContext(ctx,
		"SELECT id_hash, admin_id, created_at, last_seen_at, reauth_at, ip, user_agent, auth_method, pending FROM sessions WHERE id_hash = ?", idHash).
		Scan(&s.IDHash, &s.AdminID, &created, &seen, &reauth, &s.IP, &s.UserAgent, &s.AuthMethod, &s.Pending)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, domain.ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	s.CreatedAt, s.LastSeenAt, s.ReauthAt = fromMS(created), fromMS(seen), fromMS(reauth)
	return s, nil
}

func authMethodOr(m string) string {
	if m == "" {
		return domain.AuthPassword
	}
	return m
}

// TouchSession records activity, which pushes back the idle timeout.
func (db *DB) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	return db.updateSession(ctx, "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", ms(at), idHash)
}

// MarkReauthenticated records that the admin re-entered their password in this session.
func (db *DB) MarkReauthenticated(ctx context.Context, idHash []byte, at time.Time) error {
	return db.updateSession(ctx, "UPDATE sessions SET reauth_at = ? WHERE id_hash = ?", ms(at), idHash)
}

func (db *DB) updateSession(ctx context.Context, query string, args ...any) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update session: %w", err)
	}
	return nil
}

// DeleteSession ends one session (logout).
func (db *DB) DeleteSession(ctx context.Context, idHash []byte) error {
	return db.updateSession(ctx, "DELETE FROM sessions WHERE id_hash = ?", idHash)
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or created before createdBefore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) error {
	return db.updateSession(ctx, "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?", ms(idleBefore), ms(createdBefore))
}

// AdminSessions lists an admin's live sessions, newest first.
func (db *DB) AdminSessions(ctx context.Context, adminID int64) ([]Session, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT id_hash, admin_id, created_at, last_seen_at, reauth_at, ip, user_agent, auth_method FROM sessions WHERE admin_id = ? ORDER BY created_at DESC", adminID)
	if err != nil {
		return nil, fmt.Errorf("store: sessions of admin %d: %w", adminID, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		var created, seen, reauth sql.NullInt64
		if err := rows.Scan(&s.IDHash, &s.AdminID, &created, &seen, &reauth, &s.IP, &s.UserAgent, &s.AuthMethod); err != nil {
			return nil, fmt.Errorf("store: sessions of admin %d: %w", adminID, err)
		}
		s.CreatedAt, s.LastSeenAt, s.ReauthAt = fromMS(created), fromMS(seen), fromMS(reauth)
		out = append(out, s)
	}
	return out, rows.Err()
}
